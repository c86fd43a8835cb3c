-- The counter of the last refresh token handed out again to a client that
-- retried its predecessor after the reuse grace (its reply was lost); 0 when
-- none. Such a token gets no late retry of its own, so two holders of one
-- token are caught at the next rotation.
ALTER TABLE sessions ADD COLUMN reissued_counter BIGINT NOT NULL DEFAULT 0;

-- Written and removed by the readiness check, to find out whether the
-- database can still write (a full disk answers reads but not writes).
CREATE TABLE storage_probe (
    pad BYTEA NOT NULL
);
