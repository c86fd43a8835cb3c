ALTER TABLE sessions DROP COLUMN reissued_counter;
