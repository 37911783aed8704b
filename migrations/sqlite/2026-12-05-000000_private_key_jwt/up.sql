-- private_key_jwt (RFC 7523 §2.2, OpenID Connect Core §9): a client proves who it is with an
-- assertion signed by its own key. Its public keys are registered inline (`jwks`, a JWK set as
-- JSON) or published by the client at `jwks_uri`, which jwtd fetches.
ALTER TABLE clients ADD COLUMN jwks TEXT;
ALTER TABLE clients ADD COLUMN jwks_uri TEXT;

-- Assertion `jti`s seen, kept until the assertion expires (at most five minutes): an assertion
-- is good once, across every instance sharing the database.
CREATE TABLE client_assertion_jtis (
    client_id  TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX client_assertion_jtis_expiry ON client_assertion_jtis (expires_at);
