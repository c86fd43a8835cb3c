CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
-- Emails are stored trimmed and lower-cased; the index on lower() keeps the
-- rule even for rows written by hand.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- A session is one refresh-token family. Refresh tokens are derived with an
-- HMAC under refresh_secret (encrypted under the key-encryption key), so the
-- table holds nothing that can be presented as a token.
CREATE TABLE sessions (
    id                  TEXT PRIMARY KEY,
    user_id             TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    refresh_secret      BLOB NOT NULL,
    refresh_counter     INTEGER NOT NULL DEFAULT 0,
    rotated_at          INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL,
    idle_expires_at     INTEGER NOT NULL,
    absolute_expires_at INTEGER NOT NULL,
    revoked_at          INTEGER,
    revoked_reason      TEXT,
    user_agent          TEXT NOT NULL DEFAULT '',
    ip                  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);

CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    alg          TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('next', 'active', 'retired', 'revoked', 'removed')),
    public_jwk   TEXT NOT NULL,
    private_key  BLOB,
    created_at   INTEGER NOT NULL,
    activates_at INTEGER NOT NULL,
    retires_at   INTEGER,
    remove_at    INTEGER,
    removed_at   INTEGER,
    revoked_at   INTEGER
);
-- Exactly one signing key per algorithm, whatever the number of replicas.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (alg) WHERE state = 'active';

CREATE TABLE audit_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    type       TEXT NOT NULL,
    user_id    TEXT,
    session_id TEXT,
    ip         TEXT,
    detail     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_at_idx ON audit_events (at);
CREATE INDEX audit_events_type_idx ON audit_events (type);

-- Failed sign-ins per account and per client address, shared by replicas.
CREATE TABLE signin_throttle (
    key             TEXT PRIMARY KEY,
    failures        INTEGER NOT NULL,
    last_failure_at INTEGER NOT NULL,
    blocked_until   INTEGER NOT NULL
);
