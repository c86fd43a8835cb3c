-- The OpenID Provider: authorization codes and the issuer's browser
-- sessions (single sign-on). Both are stored as SHA-256 hashes only: the
-- database holds nothing that can be presented as a code or a cookie.

-- A code is single-use and lives for a minute. It is kept a while after
-- that so that a replay is recognised: redeemed_at marks the first
-- redemption, session_id the session it started (revoked on a replay),
-- replayed_at the first replay.
CREATE TABLE authorization_codes (
    code_hash      BYTEA PRIMARY KEY,
    client_id      TEXT NOT NULL,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri   TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    scope          TEXT NOT NULL,
    resource       TEXT NOT NULL,
    nonce          TEXT NOT NULL,
    auth_time      BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    redeemed_at    BIGINT,
    session_id     TEXT,
    replayed_at    BIGINT
);
CREATE INDEX authorization_codes_expires_idx ON authorization_codes (expires_at);

-- A browser session at the issuer's own pages: who signed in and when
-- (auth_time, for max_age and prompt=login). Ended by deleting the row.
CREATE TABLE browser_sessions (
    id_hash    BYTEA PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time  BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX browser_sessions_user_idx ON browser_sessions (user_id);
CREATE INDEX browser_sessions_expires_idx ON browser_sessions (expires_at);
