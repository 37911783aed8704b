-- Consent and logout: what each person granted each third-party app, where an app may send
-- people after logout, and the back-channel logout notices still to deliver.

-- Post-logout redirect URIs (space-separated, matched exactly; RP-Initiated Logout 1.0) and the
-- back-channel logout URI (OpenID Connect Back-Channel Logout 1.0), if the client has one.
ALTER TABLE clients ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT;

-- What a person allowed an app to have (the scopes granted, space-separated), remembered until
-- their administrator revokes it.
CREATE TABLE consents (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
CREATE INDEX consents_client ON consents (client_id);

-- Live sessions, counted for the metrics at each scrape.
CREATE INDEX sessions_live ON sessions (expires_at) WHERE ended_at IS NULL;

-- Back-channel logout notices not delivered yet: one per client and login (`sid` = the refresh
-- family) of an ended session. The logout token is signed when it is sent, never stored.
-- `next_attempt_at` is both the retry schedule and the claim: an instance that takes a row moves
-- it into the future first, so two instances never send the same notice at once.
CREATE TABLE logout_deliveries (
    id              TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL,
    sid             TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX logout_deliveries_due ON logout_deliveries (next_attempt_at);
