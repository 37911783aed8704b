-- The rebuild of up.sql the other way (see there for why enforcement is off). Public clients
-- have no secret, which the older schema cannot hold: they stay, as confidential clients whose
-- secret hash nothing matches (an operator can rotate a secret for one).
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

CREATE TABLE clients_rebuilt (
    id                      TEXT PRIMARY KEY,
    name                    TEXT NOT NULL,
    -- SHA-256 of the generated 256-bit secret; the secret itself is shown once and never stored.
    secret_hash             BLOB NOT NULL,
    scopes                  TEXT NOT NULL,
    audiences               TEXT NOT NULL,
    grant_types             TEXT NOT NULL,
    refresh_cookie          BOOLEAN NOT NULL DEFAULT 0,
    disabled                BOOLEAN NOT NULL DEFAULT 0,
    created_at              BIGINT NOT NULL,
    updated_at              BIGINT NOT NULL,
    introspection_audiences TEXT NOT NULL DEFAULT ''
);
INSERT INTO clients_rebuilt (id, name, secret_hash, scopes, audiences, grant_types, refresh_cookie,
                             disabled, created_at, updated_at, introspection_audiences)
    SELECT id, name, coalesce(secret_hash, zeroblob(32)), scopes, audiences, grant_types,
           refresh_cookie, disabled, created_at, updated_at, introspection_audiences
    FROM clients;
DROP TABLE clients;
ALTER TABLE clients_rebuilt RENAME TO clients;

COMMIT;
PRAGMA foreign_keys = ON;
