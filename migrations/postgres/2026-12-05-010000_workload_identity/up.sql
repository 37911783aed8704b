-- Workload identity federation: a client that authenticates with a token its platform issued
-- (a Kubernetes service-account token, a CI system's OIDC token). It names the issuer it trusts,
-- the subjects of that issuer that are the client (exact, or a prefix ending in `*`), the
-- audience the token must carry (NULL: jwtd's issuer), where the issuer's keys are (NULL: its
-- discovery document) and the longest token lifetime it accepts.
ALTER TABLE clients ADD COLUMN workload_issuer TEXT;
ALTER TABLE clients ADD COLUMN workload_subject TEXT;
ALTER TABLE clients ADD COLUMN workload_audience TEXT;
ALTER TABLE clients ADD COLUMN workload_jwks_uri TEXT;
ALTER TABLE clients ADD COLUMN workload_max_lifetime BIGINT;
CREATE INDEX clients_workload_issuer ON clients (workload_issuer) WHERE workload_issuer IS NOT NULL;
