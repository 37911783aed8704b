DROP INDEX clients_workload_issuer;
ALTER TABLE clients DROP COLUMN workload_max_lifetime;
ALTER TABLE clients DROP COLUMN workload_jwks_uri;
ALTER TABLE clients DROP COLUMN workload_audience;
ALTER TABLE clients DROP COLUMN workload_subject;
ALTER TABLE clients DROP COLUMN workload_issuer;
