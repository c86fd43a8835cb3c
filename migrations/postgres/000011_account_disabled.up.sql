-- An account an administrator disabled (signet users disable): NULL while
-- enabled, otherwise when it was disabled (Unix ms). A disabled account
-- cannot sign in, refresh or start a session.
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
