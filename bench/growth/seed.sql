-- Seeds a migrated jwtd database in bulk for the growth measurements (issue 21): the refresh
-- families numbered :from up to :to (exclusive), so a database grows size by size, each one row
-- whose head is a family token of generation :gens (one row per family: no refresh_tokens rows),
-- over one user per five families and 1000 clients; with each user's sign-in session (the
-- families' `session_id`) and consent, and a used jti per ten families. Run with
--   psql URL -v from=0 -v to=100000 -v gens=4 -v now=$(date +%s) \
--        -v password_hash="$(…an argon2id PHC string…)" \
--        -v tag_ipad=HEX -v tag_opad=HEX -f bench/growth/seed.sql
-- where the pads are those of the tag key of the master key jwtd runs with (family_tokens.sql).
-- The conventions `jwtd-loadgen --scenario seeded` relies on (bench/loadgen/src/seeded.rs):
-- family f's id is base64url(the first 16 bytes of SHA-256('bench-family-<f>')); it belongs to
-- client 'bench-client-<f % 1000>', whose secret is 'bench-secret-<f % 1000>' (stored as its
-- SHA-256, as jwtd stores generated secrets); its head token is the family token of that id,
-- generation :gens and secret SHA-256('bench-seed-<f>-<gens>'), tagged with the master key's tag
-- key. User u is 'u<u>@bench.example' with the password whose hash is :password_hash. :from and
-- :to are multiples of 10.
\set ON_ERROR_STOP on
\ir family_tokens.sql
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
-- Family f's user is f / 5 (five families each), so a size's users are exactly the new ones. The
-- head's parent was used five minutes ago, by the load generator.
INSERT INTO refresh_families (id, user_id, client_id, scope, created_at, expires_at, created_user_agent,
                              auth_time, session_id, head_hash, generation, head_expires_at, rotated_at,
                              rotated_user_agent)
SELECT pg_temp.base64url(pg_temp.bench_family_id(f)), 'bench-user-' || (f / 5), 'bench-client-' || (f % 1000),
       'read', :now, :now + 30 * 86400, 'jwtd-loadgen', :now, 'bench-session-' || (f / 5),
       sha256(convert_to(pg_temp.bench_head_token(f, :gens, decode(:'tag_ipad', 'hex'), decode(:'tag_opad', 'hex')),
                         'UTF8')),
       :gens, :now + 14 * 86400, :now - 300, 'jwtd-loadgen'
FROM generate_series(:from, :to - 1) AS f;
-- Proof and assertion jtis live only for their proof's window: these stand for the ones a live
-- system holds, and expire after the measurement.
INSERT INTO used_jtis (kind, owner, jti, expires_at)
SELECT 'dpop', 'bench-key-' || (j % 1000), 'bench-jti-' || j, :now + 86400
FROM generate_series(:from / 10, :to / 10 - 1) AS j;
COMMIT;
