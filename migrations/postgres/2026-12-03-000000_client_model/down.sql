-- Public clients have no secret, which the older schema cannot hold: they stay, as confidential
-- clients whose secret hash nothing matches (an operator can rotate a secret for one).
UPDATE clients SET secret_hash = '\x0000000000000000000000000000000000000000000000000000000000000000'::BYTEA
    WHERE secret_hash IS NULL;
ALTER TABLE clients
    DROP CONSTRAINT clients_public_without_secret,
    ALTER COLUMN secret_hash SET NOT NULL,
    DROP COLUMN first_party,
    DROP COLUMN web_origins,
    DROP COLUMN redirect_uris,
    DROP COLUMN application_type,
    DROP COLUMN token_endpoint_auth_method;
