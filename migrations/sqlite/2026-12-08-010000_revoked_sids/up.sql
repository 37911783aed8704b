-- Logins (refresh families) that ended with their row: a deleted client's families go with it
-- (ON DELETE CASCADE), so the revocation feed, which lists revoked families by their rows,
-- could not list them. Their ids are kept here, with when they ended, for as long as a token of
-- theirs could still be valid: tokens exchanged from them (RFC 8693) carry the family as `sid`
-- and another client's id, so only the `sid` lets a resource server refuse them.
CREATE TABLE revoked_sids (
    sid        TEXT PRIMARY KEY,
    revoked_at BIGINT NOT NULL
);
CREATE INDEX revoked_sids_revoked_at ON revoked_sids (revoked_at);
