-- A sign-in attempt reserves its throttle rows before the password check
-- (inflight, leased until inflight_until so that a replica dying mid-check
-- leaves nothing behind for long), so that concurrent guesses cannot all
-- pass a check made before the first failure is counted.
ALTER TABLE signin_throttle ADD COLUMN inflight INTEGER NOT NULL DEFAULT 0;
ALTER TABLE signin_throttle ADD COLUMN inflight_until INTEGER NOT NULL DEFAULT 0;

-- Secrets the issuer makes for itself, sealed under the key-encryption key
-- (the name is the sealing label): the key of the device tokens that let a
-- device the owner signed in on past the account's sign-in blocks.
CREATE TABLE issuer_secrets (
    name       TEXT PRIMARY KEY,
    sealed     BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
