-- The client model of browser sign-in: how a client authenticates (a secret, or none for a
-- public client: a single-page, mobile or command-line app), what kind of app it is, where
-- sign-in may send its users back to, which web origins may call jwtd from a browser, and
-- whether it is one of the operator's own apps. Existing clients keep what they were:
-- confidential web clients with a secret and no redirect URIs.
ALTER TABLE clients
    -- `client_secret_basic` (which accepts `client_secret_post` too) or `none`.
    ADD COLUMN token_endpoint_auth_method TEXT NOT NULL DEFAULT 'client_secret_basic',
    ADD COLUMN application_type TEXT NOT NULL DEFAULT 'web' CHECK (application_type IN ('web', 'native')),
    -- Space-separated, as the other lists (a valid URI has no space); matched exactly.
    ADD COLUMN redirect_uris TEXT NOT NULL DEFAULT '',
    -- Space-separated origins (`https://app.example`), for CORS.
    ADD COLUMN web_origins TEXT NOT NULL DEFAULT '',
    ADD COLUMN first_party BOOLEAN NOT NULL DEFAULT FALSE,
    -- A public client has no secret at all.
    ALTER COLUMN secret_hash DROP NOT NULL,
    ADD CONSTRAINT clients_public_without_secret
        CHECK (token_endpoint_auth_method <> 'none' OR secret_hash IS NULL);
