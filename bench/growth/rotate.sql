-- Rotates :k random seeded heads (bench/growth/seed.sql) with the statement jwtd runs for a
-- refresh on PostgreSQL (store::family_heads::RotateHead, same shape, predicates and columns),
-- so pg_stat_statements and EXPLAIN see jwtd's cost at this database's size without HTTP. The
-- presented head is computed as the seed computed it, so nothing is read before the statement;
-- a head rotates once (its successor here is a hash of nothing jwtd could present).
-- psql URL -v families=N -v gens=G -v k=2000 -v tag_ipad=HEX -v tag_opad=HEX -f bench/growth/rotate.sql
\set ON_ERROR_STOP on
\ir family_tokens.sql
SELECT set_config('bench.families', :'families', false), set_config('bench.gens', :'gens', false),
       set_config('bench.k', :'k', false), set_config('bench.tag_ipad', :'tag_ipad', false),
       set_config('bench.tag_opad', :'tag_opad', false) \gset
DO $$
DECLARE
  n bigint := current_setting('bench.families')::bigint;
  head bigint := current_setting('bench.gens')::bigint;
  ipad bytea := decode(current_setting('bench.tag_ipad'), 'hex');
  opad bytea := decode(current_setting('bench.tag_opad'), 'hex');
  now_s bigint := extract(epoch FROM now())::bigint;
  f bigint;
  plain text;
BEGIN
  FOR i IN 1 .. current_setting('bench.k')::int LOOP
    f := floor(random() * n)::bigint;
    plain := pg_temp.bench_head_token(f, head, ipad, opad);
    EXECUTE 'UPDATE refresh_families AS f SET head_hash = $1, generation = $2, '
      'head_expires_at = LEAST($3, f.expires_at), rotated_at = $4, rotated_ip = $5, rotated_user_agent = $6 '
      'FROM users AS u WHERE f.id = $7 AND f.head_hash = $8 AND f.head_expires_at > $4 AND f.client_id = $9 '
      'AND f.revoked_at IS NULL AND f.expires_at > $4 '
      'AND (NOT $10 OR f.created_user_agent IS NOT DISTINCT FROM $6) AND (f.dpop_jkt IS NULL OR f.dpop_jkt = $11) '
      'AND u.id = f.user_id RETURNING f.id, f.user_id, f.client_id, f.scope, f.created_at, f.expires_at, '
      'f.created_ip, f.created_user_agent, f.revoked_at, f.revoked_reason, f.session_id, f.auth_time, '
      'f.resources, f.dpop_jkt, f.head_expires_at AS successor_expires_at, u.email AS user_email, '
      'u.password_hash AS user_password_hash, u.claims AS user_claims, u.disabled AS user_disabled, '
      'u.created_at AS user_created_at, u.updated_at AS user_updated_at'
    USING sha256(convert_to(plain || '-next', 'UTF8')), head + 1, now_s + 86400, now_s, NULL::text,
          'jwtd-loadgen', pg_temp.base64url(pg_temp.bench_family_id(f)), sha256(convert_to(plain, 'UTF8')),
          'bench-client-' || (f % 1000), true, NULL::text;
  END LOOP;
END $$;
