-- Resource indicators (RFC 8707) and token exchange (RFC 8693).
-- `resources`: the APIs (absolute URIs) a client may ask tokens for with `resource`.
-- `served_resources`: the audiences of the API the client itself serves; only tokens sent to
-- one of them may it exchange. Both space-separated, like the other lists.
ALTER TABLE clients ADD COLUMN resources TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN served_resources TEXT NOT NULL DEFAULT '';
-- The resources a grant named (the authorization request's, or the first token request's):
-- every token of the family is for one of them, never for more.
ALTER TABLE refresh_families ADD COLUMN resources TEXT NOT NULL DEFAULT '';
ALTER TABLE authorization_codes ADD COLUMN resources TEXT NOT NULL DEFAULT '';
