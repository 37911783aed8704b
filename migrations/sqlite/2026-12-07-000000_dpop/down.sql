CREATE TABLE client_assertion_jtis (
    client_id  TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX client_assertion_jtis_expiry ON client_assertion_jtis (expires_at);
INSERT INTO client_assertion_jtis (client_id, jti, expires_at)
    SELECT owner, jti, expires_at FROM used_jtis WHERE kind = 'client_assertion';
DROP TABLE used_jtis;
ALTER TABLE authorization_codes DROP COLUMN dpop_jkt;
ALTER TABLE refresh_families DROP COLUMN dpop_jkt;
ALTER TABLE clients DROP COLUMN dpop_nonce;
ALTER TABLE clients DROP COLUMN dpop;
