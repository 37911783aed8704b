-- Seeds a migrated jwtd database in bulk for the growth measurements (issue 21): the refresh
-- families numbered :from up to :to (exclusive), so a database grows size by size, each family
-- :gens generations deep (the older ones used, the newest its unused head), over one user per
-- five families and 1000 clients; with each user's sign-in session (the families' `session_id`)
-- and consent, and a used jti per ten families. Run with
--   psql URL -v from=0 -v to=100000 -v gens=4 -v now=$(date +%s) \
--        -v password_hash="$(…an argon2id PHC string…)" -f bench/growth/seed.sql
-- The conventions `jwtd-loadgen --scenario seeded` relies on (bench/loadgen/src/seeded.rs):
-- family f belongs to client 'bench-client-<f % 1000>', whose secret is 'bench-secret-<f % 1000>'
-- (stored as its SHA-256, as jwtd stores generated secrets), and its head token is
-- 'jwtd_rt_' + base64url(SHA-256('bench-seed-<f>-<gens>')). User u is 'u<u>@bench.example' with
-- the password whose hash is :password_hash. :from and :to are multiples of 10.
\set ON_ERROR_STOP on
BEGIN;
INSERT INTO clients (id, name, secret_hash, scopes, audiences, grant_types, created_at, updated_at)
SELECT 'bench-client-' || c, 'bench client ' || c, sha256(convert_to('bench-secret-' || c, 'UTF8')), 'read', '',
       'password refresh_token', :now, :now
FROM generate_series(0, 999) AS c
ON CONFLICT (id) DO NOTHING;
INSERT INTO users (id, email, password_hash, created_at, updated_at)
SELECT 'bench-user-' || u, 'u' || u || '@bench.example', :'password_hash', :now, :now
FROM generate_series(:from / 5, :to / 5 - 1) AS u;
INSERT INTO sessions (id, secret_hash, user_id, auth_time, created_at, last_seen_at, expires_at)
SELECT 'bench-session-' || u, sha256(convert_to('bench-session-' || u, 'UTF8')), 'bench-user-' || u,
       :now, :now, :now, :now + 30 * 86400
FROM generate_series(:from / 5, :to / 5 - 1) AS u;
INSERT INTO consents (user_id, client_id, scope, granted_at, updated_at)
SELECT 'bench-user-' || u, 'bench-client-' || (u % 1000), 'read', :now, :now
FROM generate_series(:from / 5, :to / 5 - 1) AS u;
-- Family f's user is f / 5 (five families each), so a size's users are exactly the new ones.
INSERT INTO refresh_families (id, user_id, client_id, scope, created_at, expires_at, created_user_agent,
                              auth_time, session_id)
SELECT 'bench-family-' || f, 'bench-user-' || (f / 5), 'bench-client-' || (f % 1000), 'read',
       :now, :now + 30 * 86400, 'jwtd-loadgen', :now, 'bench-session-' || (f / 5)
FROM generate_series(:from, :to - 1) AS f;
INSERT INTO refresh_tokens (token_hash, family_id, generation, issued_at, expires_at, user_agent, rotated_at)
SELECT sha256(convert_to('jwtd_rt_' || translate(rtrim(encode(sha256(
           convert_to('bench-seed-' || f || '-' || g, 'UTF8')), 'base64'), '='), '+/', '-_'), 'UTF8')),
       'bench-family-' || f, g, :now - (:gens - g) * 900, :now + 14 * 86400, 'jwtd-loadgen',
       CASE WHEN g < :gens THEN :now - (:gens - g) * 900 + 600 END
FROM generate_series(:from, :to - 1) AS f, generate_series(1, :gens) AS g;
-- Proof and assertion jtis live only for their proof's window: these stand for the ones a live
-- system holds, and expire after the measurement.
INSERT INTO used_jtis (kind, owner, jti, expires_at)
SELECT 'dpop', 'bench-key-' || (j % 1000), 'bench-jti-' || j, :now + 86400
FROM generate_series(:from / 10, :to / 10 - 1) AS j;
COMMIT;
