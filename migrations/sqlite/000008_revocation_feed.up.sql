-- Revocation events for the verifiers' feed (see the Postgres migration).
-- AUTOINCREMENT: a cursor never meets a reused seq after pruning.
CREATE TABLE revocation_events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL CHECK (kind IN ('sid', 'sub')),
    subject    TEXT NOT NULL,
    revoked_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX revocation_events_expires_idx ON revocation_events (expires_at);

CREATE TABLE revocation_feed (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    salt BLOB NOT NULL
);
