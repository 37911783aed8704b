-- The client model of browser sign-in: how a client authenticates (a secret, or none for a
-- public client: a single-page, mobile or command-line app), what kind of app it is, where
-- sign-in may send its users back to, which web origins may call jwtd from a browser, and
-- whether it is one of the operator's own apps. Existing clients keep what they were:
-- confidential web clients with a secret and no redirect URIs.
--
-- SQLite cannot drop NOT NULL from `secret_hash` in place, so the table is rebuilt (the
-- procedure of https://www.sqlite.org/lang_altertable.html#otheralter). `refresh_families`
-- references `clients` ON DELETE CASCADE: dropping the old table with foreign keys enforced
-- would delete every refresh family (and their tokens). Enforcement is therefore off for the
-- rebuild, which SQLite allows only outside a transaction (metadata.toml runs this file
-- outside diesel's), and the rebuild is one transaction of its own. Nothing but the table's
-- primary key indexes `clients`; no trigger or view names it. The new table takes the old
-- one's name, so the references of `refresh_families` (and of any later table) reach it
-- unchanged.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

CREATE TABLE clients_rebuilt (
    id                         TEXT PRIMARY KEY,
    name                       TEXT NOT NULL,
    -- SHA-256 of the generated 256-bit secret; the secret itself is shown once and never
    -- stored. NULL for a public client, which has none.
    secret_hash                BLOB,
    scopes                     TEXT NOT NULL,
    audiences                  TEXT NOT NULL,
    grant_types                TEXT NOT NULL,
    refresh_cookie             BOOLEAN NOT NULL DEFAULT 0,
    disabled                   BOOLEAN NOT NULL DEFAULT 0,
    created_at                 BIGINT NOT NULL,
    updated_at                 BIGINT NOT NULL,
    introspection_audiences    TEXT NOT NULL DEFAULT '',
    -- `client_secret_basic` (which accepts `client_secret_post` too) or `none`.
    token_endpoint_auth_method TEXT NOT NULL DEFAULT 'client_secret_basic',
    application_type           TEXT NOT NULL DEFAULT 'web' CHECK (application_type IN ('web', 'native')),
    -- Space-separated, as the other lists (a valid URI has no space); matched exactly.
    redirect_uris              TEXT NOT NULL DEFAULT '',
    -- Space-separated origins (`https://app.example`), for CORS.
    web_origins                TEXT NOT NULL DEFAULT '',
    first_party                BOOLEAN NOT NULL DEFAULT 0,
    CONSTRAINT clients_public_without_secret
        CHECK (token_endpoint_auth_method <> 'none' OR secret_hash IS NULL)
);
INSERT INTO clients_rebuilt (id, name, secret_hash, scopes, audiences, grant_types, refresh_cookie,
                             disabled, created_at, updated_at, introspection_audiences)
    SELECT id, name, secret_hash, scopes, audiences, grant_types, refresh_cookie,
           disabled, created_at, updated_at, introspection_audiences
    FROM clients;
DROP TABLE clients;
ALTER TABLE clients_rebuilt RENAME TO clients;

COMMIT;
PRAGMA foreign_keys = ON;
