-- An account an administrator disabled (see the Postgres migration).
ALTER TABLE users ADD COLUMN disabled_at INTEGER;
