-- Timestamps are Unix seconds (BIGINT) and flags are BOOLEAN on both backends, so one
-- diesel schema serves PostgreSQL and SQLite alike.

CREATE TABLE signing_keys (
    kid                TEXT PRIMARY KEY,
    alg                TEXT NOT NULL,
    state              TEXT NOT NULL CHECK (state IN ('next', 'current', 'previous', 'retired')),
    public_jwk         TEXT NOT NULL,
    -- AES-256-GCM under the master key; NULL once the key is retired and its private half destroyed.
    private_key_sealed BYTEA,
    created_at         BIGINT NOT NULL,
    published_at       BIGINT NOT NULL,
    activated_at       BIGINT,
    deactivated_at     BIGINT,
    -- Latest `exp` of any token this key signed: a previous key retires only after it passed.
    last_exp           BIGINT,
    retired_at         BIGINT
);
-- At most one current signing key, whatever the number of instances racing to create it.
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys (state) WHERE state = 'current';

CREATE TABLE clients (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    -- SHA-256 of the generated 256-bit secret; the secret itself is shown once and never stored.
    secret_hash    BYTEA NOT NULL,
    scopes         TEXT NOT NULL,
    audiences      TEXT NOT NULL,
    grant_types    TEXT NOT NULL,
    refresh_cookie BOOLEAN NOT NULL DEFAULT FALSE,
    disabled       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    -- NFKC-normalised and lower-cased before it is stored, so uniqueness is case-insensitive.
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    claims        TEXT NOT NULL DEFAULT '{}',
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE refresh_families (
    id                 TEXT PRIMARY KEY,
    user_id            TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id          TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scope              TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    -- Absolute lifetime: rotation never extends it.
    expires_at         BIGINT NOT NULL,
    created_ip         TEXT,
    created_user_agent TEXT,
    revoked_at         BIGINT,
    revoked_reason     TEXT
);
CREATE INDEX refresh_families_user ON refresh_families (user_id);

CREATE TABLE refresh_tokens (
    -- SHA-256 of the opaque token; the token itself is never stored.
    token_hash         BYTEA PRIMARY KEY,
    family_id          TEXT NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    generation         BIGINT NOT NULL,
    issued_at          BIGINT NOT NULL,
    expires_at         BIGINT NOT NULL,
    ip                 TEXT,
    user_agent         TEXT,
    rotated_at         BIGINT,
    rotated_ip         TEXT,
    rotated_user_agent TEXT,
    -- One token per generation keeps a family single-headed.
    UNIQUE (family_id, generation)
);

CREATE TABLE audit_events (
    id         BIGSERIAL PRIMARY KEY,
    at         BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    actor      TEXT,
    subject    TEXT,
    ip         TEXT,
    detail     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_kind_at ON audit_events (kind, at);
CREATE INDEX audit_events_subject ON audit_events (subject);
