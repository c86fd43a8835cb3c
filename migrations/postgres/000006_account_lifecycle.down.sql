DROP TABLE IF EXISTS mail_outbox;
DROP TABLE IF EXISTS account_requests;
DROP TABLE IF EXISTS account_tokens;
ALTER TABLE users DROP COLUMN email_verified_at;
