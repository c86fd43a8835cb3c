DROP TABLE storage_probe;
ALTER TABLE sessions DROP COLUMN reissued_counter;
