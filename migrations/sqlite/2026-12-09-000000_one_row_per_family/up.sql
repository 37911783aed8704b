-- One row per refresh family (issue 21). A family token (tokens::refresh) carries its family and
-- generation and an HMAC tag, so the family row alone holds what a refresh decides on: the
-- SHA-256 of the newest token (the head), its generation and expiry, and the last rotation
-- (when, from where: what a replay's audit event and the grace window read). A rotation is one
-- update of this row and inserts nothing; refresh_tokens keeps only the row tokens of families
-- started before, and empties as they end. NULL head_hash: such a family.
ALTER TABLE refresh_families ADD COLUMN head_hash BLOB;
ALTER TABLE refresh_families ADD COLUMN generation BIGINT;
ALTER TABLE refresh_families ADD COLUMN head_expires_at BIGINT;
ALTER TABLE refresh_families ADD COLUMN rotated_at BIGINT;
ALTER TABLE refresh_families ADD COLUMN rotated_ip TEXT;
ALTER TABLE refresh_families ADD COLUMN rotated_user_agent TEXT;
