-- "Every token of this subject issued before `not_before` is revoked": set when an operator
-- revokes a user's sessions, disables or deletes a user, or deletes a client. Published in the
-- revocation feed for resource servers.
CREATE TABLE subject_revocations (
    subject    TEXT PRIMARY KEY,
    not_before BIGINT NOT NULL
);
CREATE INDEX refresh_families_revoked ON refresh_families (revoked_at);
