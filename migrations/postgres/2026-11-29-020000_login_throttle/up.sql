-- Failed password-grant attempts, per account and per client address, shared by every
-- instance. `subject` is "account:<normalised email>" or "address:<ip>".
CREATE TABLE login_failures (
    subject      TEXT PRIMARY KEY,
    failures     BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    locked_until BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX refresh_families_expires ON refresh_families (expires_at);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
