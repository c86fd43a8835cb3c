-- Revocation events for the verifiers' feed: one row per ended session
-- ('sid') or ended subject ('sub'), written in the transaction that ends
-- it. seq is the feed cursor; rows are inserted under an advisory lock, so
-- seq order is commit order and a reader never skips a row that commits
-- late. A row is live until expires_at, the latest expiry of an access
-- token the session or subject could have been issued (revocation time
-- plus access-token lifetime plus leeway); the janitor deletes it after.
CREATE TABLE revocation_events (
    seq        BIGSERIAL PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('sid', 'sub')),
    subject    TEXT NOT NULL,
    revoked_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX revocation_events_expires_idx ON revocation_events (expires_at);

-- The per-deployment salt of the hashes the feed serves (one row).
CREATE TABLE revocation_feed (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    salt BYTEA NOT NULL
);
