-- Rotates :k random seeded heads (bench/growth/seed.sql) with the statement jwtd runs for a
-- refresh on PostgreSQL (store::refresh::rotate_unused, same shape and predicates), so
-- pg_stat_statements and EXPLAIN see jwtd's cost at this database's size without HTTP.
-- psql URL -v families=N -v gens=G -v k=2000 -f bench/growth/rotate.sql
\set ON_ERROR_STOP on
SELECT set_config('bench.families', :'families', false), set_config('bench.gens', :'gens', false),
       set_config('bench.k', :'k', false) \gset
DO $$
DECLARE
  n bigint := current_setting('bench.families')::bigint;
  head int := current_setting('bench.gens')::int;
  now_s bigint := extract(epoch FROM now())::bigint;
  f bigint;
  plain text;
  rows int;
BEGIN
  FOR i IN 1 .. current_setting('bench.k')::int LOOP
    f := floor(random() * n)::bigint;
    plain := 'jwtd_rt_' || translate(rtrim(encode(sha256(convert_to('bench-seed-' || f || '-' || head, 'UTF8')),
             'base64'), '='), '+/', '-_');
    EXECUTE 'WITH won AS (UPDATE refresh_tokens AS t SET rotated_at = $1, rotated_ip = $2, rotated_user_agent = $3 '
      'FROM refresh_families AS f WHERE t.token_hash = $4 AND t.rotated_at IS NULL AND t.expires_at > $1 '
      'AND f.id = t.family_id AND f.client_id = $5 AND f.revoked_at IS NULL AND f.expires_at > $1 '
      'AND (NOT $6 OR f.created_user_agent IS NOT DISTINCT FROM $3) AND (f.dpop_jkt IS NULL OR f.dpop_jkt = $7) '
      'RETURNING f.id, f.user_id, f.client_id, f.scope, f.created_at, f.expires_at, f.created_ip, '
      'f.created_user_agent, f.revoked_at, f.revoked_reason, f.session_id, f.auth_time, f.resources, f.dpop_jkt, '
      't.generation + 1 AS successor_generation, LEAST($8, f.expires_at) AS successor_expires_at), '
      'successor AS (INSERT INTO refresh_tokens (token_hash, family_id, generation, issued_at, expires_at, ip, '
      'user_agent) SELECT $9, id, successor_generation, $1, successor_expires_at, $2, $3 FROM won) '
      'SELECT won.id, u.email FROM won JOIN users AS u ON u.id = won.user_id'
    USING now_s, NULL::text, 'jwtd-loadgen', sha256(convert_to(plain, 'UTF8')), 'bench-client-' || (f % 1000),
          true, NULL::text, now_s + 86400, sha256(convert_to(plain || '-next', 'UTF8'));
    GET DIAGNOSTICS rows = ROW_COUNT;
  END LOOP;
END $$;
