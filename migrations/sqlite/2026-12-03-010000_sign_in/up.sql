-- Browser sign-in: single sign-on sessions, authorization codes, and the link from a refresh
-- family to the session it was started in.

-- A person's single sign-on session in one browser. The cookie holds a 256-bit secret; only its
-- SHA-256 is stored. `id` is the session's public name (admin API, audit, families).
CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    secret_hash  BLOB NOT NULL UNIQUE,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- When the user last proved who they are (OpenID Connect `auth_time`).
    auth_time    BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    -- Absolute end; the idle end is last_seen_at + the configured idle lifetime.
    expires_at   BIGINT NOT NULL,
    ip           TEXT,
    user_agent   TEXT,
    ended_at     BIGINT,
    ended_reason TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Authorization codes (RFC 6749 §4.1): 256-bit, single use, short-lived; only the SHA-256 is
-- stored. `family_id` is set when the code is redeemed, so a second use revokes what it issued.
CREATE TABLE authorization_codes (
    code_hash      BLOB PRIMARY KEY,
    client_id      TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    redirect_uri   TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    nonce          TEXT,
    scope          TEXT NOT NULL,
    session_id     TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    user_id        TEXT NOT NULL,
    auth_time      BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT,
    family_id      TEXT
);
CREATE INDEX authorization_codes_expiry ON authorization_codes (expires_at);

ALTER TABLE refresh_families ADD COLUMN session_id TEXT;
ALTER TABLE refresh_families ADD COLUMN auth_time BIGINT;
CREATE INDEX refresh_families_session ON refresh_families (session_id) WHERE session_id IS NOT NULL;
