-- "Every token issued through this client before `not_before` is revoked", whatever its
-- subject: set when a client is deleted, so its users' access tokens stop at resource servers
-- too (their refresh families go with the client row). Published in the revocation feed.
CREATE TABLE client_revocations (
    client_id  TEXT PRIMARY KEY,
    not_before BIGINT NOT NULL
);

-- When a key was retired before the tokens it signed expired (an emergency rotation, or an
-- operator retiring it by hand): the revocation feed lists it, so verifiers stop trusting it
-- at their next poll instead of when their cached JWKS expires.
ALTER TABLE signing_keys ADD COLUMN revoked_at BIGINT;

-- Introspection permission (RFC 7662 §4): audiences whose tokens this client, a resource
-- server, may introspect although they were issued to other clients. Space-separated; empty =
-- only its own tokens.
ALTER TABLE clients ADD COLUMN introspection_audiences TEXT NOT NULL DEFAULT '';
