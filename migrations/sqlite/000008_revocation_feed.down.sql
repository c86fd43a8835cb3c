DROP TABLE IF EXISTS revocation_feed;
DROP TABLE IF EXISTS revocation_events;
