DROP TABLE issuer_secrets;
ALTER TABLE signin_throttle DROP COLUMN inflight_until;
ALTER TABLE signin_throttle DROP COLUMN inflight;
