-- Account lifecycle: confirmed addresses, emailed one-time tokens, queued
-- account requests and the mail outbox.

-- NULL until the address is confirmed. Accounts made before confirmation
-- existed are taken as confirmed: their owners signed up under the old rules
-- and must not be locked out by an upgrade.
ALTER TABLE users ADD COLUMN email_verified_at INTEGER;
UPDATE users SET email_verified_at = created_at;

-- Single-use tokens sent by mail. Only the SHA-256 of a token is stored; a
-- user has at most one live token per purpose (a newer one replaces it).
CREATE TABLE account_tokens (
    token_hash BLOB PRIMARY KEY,
    purpose    TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX account_tokens_user_idx ON account_tokens (user_id, purpose);

-- Requests whose answer must not depend on whether an address has an
-- account (private sign-up, password reset, verification resend): the
-- request only writes a row here, and the outbox worker resolves it.
CREATE TABLE account_requests (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    email         TEXT NOT NULL,
    password_hash TEXT NOT NULL DEFAULT '',
    ip            TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    claimed_until INTEGER NOT NULL DEFAULT 0,
    attempts      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX account_requests_created_idx ON account_requests (created_at);

-- Mail waiting for delivery, written in the transaction that made the token
-- it carries. body is sealed under the key-encryption key; it is cleared once
-- sent, and the row is kept a while to count mail per recipient.
CREATE TABLE mail_outbox (
    id              TEXT PRIMARY KEY,
    user_id         TEXT REFERENCES users (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    body            BLOB,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    claimed_until   INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    sent_at         INTEGER,
    last_error      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX mail_outbox_pending_idx ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL;
CREATE INDEX mail_outbox_recipient_idx ON mail_outbox (recipient, created_at);
CREATE INDEX mail_outbox_user_idx ON mail_outbox (user_id);
