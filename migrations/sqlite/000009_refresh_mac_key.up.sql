-- The server-wide key of the refresh tokens' MAC, sealed under the
-- key-encryption key (label "refresh-mac-key:<id>"). The first replica that
-- needs it creates it; the others read it. Only key 1 exists until
-- rotation is built; tokens carry the key id so that it can be added.
CREATE TABLE refresh_mac_keys (
    id         INTEGER PRIMARY KEY,
    sealed_key BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
