-- Seeds a migrated jwtd database in bulk for the growth measurements (issue 21): :families
-- refresh families over one user per five families and 1000 clients, each family :gens
-- generations deep (the older ones used, the newest its unused head), one sign-in session per
-- user, and a used jti per ten families. Run with
--   psql URL -v families=100000 -v gens=4 -v now=$(date +%s) -f bench/growth/seed.sql
-- Each family's head token is 'jwtd_rt_' + base64url(SHA-256('bench-seed-<family>-<gens>')), so
-- a load generator can rotate seeded families without the database telling it their tokens.
\set ON_ERROR_STOP on
BEGIN;
INSERT INTO clients (id, name, scopes, audiences, grant_types, created_at, updated_at)
SELECT 'bench-client-' || c, 'bench client ' || c, 'read', '', 'password refresh_token', :now, :now
FROM generate_series(0, 999) AS c;
INSERT INTO users (id, email, password_hash, created_at, updated_at)
SELECT 'bench-user-' || u, 'u' || u || '@bench.example', '$argon2id$v=19$m=19456,t=2,p=1$unused', :now, :now
FROM generate_series(0, :families / 5 - 1) AS u;
INSERT INTO sessions (id, secret_hash, user_id, auth_time, created_at, last_seen_at, expires_at)
SELECT 'bench-session-' || u, sha256(('bench-session-' || u)::bytea), 'bench-user-' || u,
       :now, :now, :now, :now + 86400
FROM generate_series(0, :families / 5 - 1) AS u;
INSERT INTO refresh_families (id, user_id, client_id, scope, created_at, expires_at, created_user_agent, auth_time)
SELECT 'bench-family-' || f, 'bench-user-' || (f % (:families / 5)), 'bench-client-' || (f % 1000), 'read',
       :now, :now + 30 * 86400, 'jwtd-loadgen', :now
FROM generate_series(0, :families - 1) AS f;
INSERT INTO refresh_tokens (token_hash, family_id, generation, issued_at, expires_at, user_agent, rotated_at)
SELECT sha256(convert_to('jwtd_rt_' || translate(rtrim(encode(sha256(
           convert_to('bench-seed-' || f || '-' || g, 'UTF8')), 'base64'), '='), '+/', '-_'), 'UTF8')),
       'bench-family-' || f, g, :now - (:gens - g) * 900, :now + 14 * 86400, 'jwtd-loadgen',
       CASE WHEN g < :gens THEN :now - (:gens - g) * 900 + 600 END
FROM generate_series(0, :families - 1) AS f, generate_series(1, :gens) AS g;
INSERT INTO used_jtis (kind, owner, jti, expires_at)
SELECT 'dpop', 'bench-key-' || (j % 1000), 'bench-jti-' || j, :now + 65
FROM generate_series(0, :families / 10 - 1) AS j;
COMMIT;
ANALYZE;
