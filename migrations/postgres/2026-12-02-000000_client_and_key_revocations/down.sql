ALTER TABLE clients DROP COLUMN introspection_audiences;
ALTER TABLE signing_keys DROP COLUMN revoked_at;
DROP TABLE client_revocations;
