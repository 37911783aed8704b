-- DPoP (RFC 9449): sender-constrained tokens.
-- `dpop`: off (the DPoP header is ignored, Bearer tokens as before), optional (a valid proof
-- binds the tokens; none gives Bearer) or required (every token request carries a proof).
-- `dpop_nonce`: proofs must carry a nonce jwtd provided (RFC 9449 §8).
ALTER TABLE clients ADD COLUMN dpop TEXT NOT NULL DEFAULT 'optional';
ALTER TABLE clients ADD COLUMN dpop_nonce BOOLEAN NOT NULL DEFAULT FALSE;
-- The key (RFC 7638 thumbprint) a family's refresh tokens are bound to, and the key an
-- authorization request named with dpop_jkt (RFC 9449 §10).
ALTER TABLE refresh_families ADD COLUMN dpop_jkt TEXT;
ALTER TABLE authorization_codes ADD COLUMN dpop_jkt TEXT;

-- One table of identifiers that are good once, across every instance sharing the database:
-- private_key_jwt assertions' jti per client (kind 'client_assertion', owner the client id)
-- and DPoP proofs' jti per key (kind 'dpop', owner the key's thumbprint). Each row lives until
-- what it names could no longer be accepted.
CREATE TABLE used_jtis (
    kind       TEXT NOT NULL,
    owner      TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (kind, owner, jti)
);
CREATE INDEX used_jtis_expiry ON used_jtis (expires_at);
INSERT INTO used_jtis (kind, owner, jti, expires_at)
    SELECT 'client_assertion', client_id, jti, expires_at FROM client_assertion_jtis;
DROP TABLE client_assertion_jtis;
