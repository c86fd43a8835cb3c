-- A sign-in attempt reserves its throttle rows before the password check
-- (inflight, leased until inflight_until so that a replica dying mid-check
-- leaves nothing behind for long), so that concurrent guesses cannot all
-- pass a check made before the first failure is counted.
ALTER TABLE signin_throttle ADD COLUMN inflight INTEGER NOT NULL DEFAULT 0;
ALTER TABLE signin_throttle ADD COLUMN inflight_until BIGINT NOT NULL DEFAULT 0;
