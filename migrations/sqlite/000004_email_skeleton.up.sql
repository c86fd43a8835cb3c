-- The confusable skeleton (Unicode TR 39) of the email, computed by the
-- issuer (issuer.EmailSkeleton): a unique index on it refuses an address
-- that renders like an existing one, even when two sign-ups race. Rows
-- that predate it are filled in by the store after migrating; a row whose
-- skeleton collides with an older one's stays NULL, and
-- "signet check-emails" reports it.
ALTER TABLE users ADD COLUMN email_skeleton TEXT;
CREATE UNIQUE INDEX users_email_skeleton_key ON users (email_skeleton);
