-- The registry: resource servers (RFC 8707 resource indicators, the aud of
-- the tokens minted for them) and OAuth clients, user roles, and the ids of
-- client assertions already spent (RFC 7523 replay protection).

-- scopes and role_scopes are JSON: a list of scope names, and an object
-- mapping a role to the scopes it grants at this resource.
CREATE TABLE resources (
    uri         TEXT PRIMARY KEY,
    name        TEXT NOT NULL DEFAULT '',
    scopes      TEXT NOT NULL DEFAULT '[]',
    role_scopes TEXT NOT NULL DEFAULT '{}',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- A client's metadata (grants, allowed resources and scopes, redirect
-- URIs, its public keys) is one JSON document: it is read whole and only
-- by id. secret_hash is the SHA-256 of a generated secret, set only for a
-- client allowed client_secret_basic.
CREATE TABLE clients (
    id          TEXT PRIMARY KEY,
    metadata    TEXT NOT NULL,
    secret_hash BYTEA,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE user_roles (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, role)
);

-- A client assertion's jti is kept until the assertion expires, so it is
-- accepted once.
CREATE TABLE client_assertions (
    client_id  TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX client_assertions_expires_idx ON client_assertions (expires_at);
