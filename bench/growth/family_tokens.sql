-- The seeded families' ids and head tokens, as session functions (pg_temp) for seed.sql and
-- rotate.sql, which include this file. bench/loadgen/src/seeded.rs builds the same values, and
-- its tests check them against jwtd's own parser.
--
-- PostgreSQL has sha256() but no HMAC without pgcrypto, so the tag's HMAC-SHA256 is built from
-- its definition: the caller passes the key's two pads (the 32-byte tag key, zero-padded to 64
-- bytes, XOR 0x36 and XOR 0x5c), which `jwtd_loadgen::seeded::tag_pads` makes from the tag key.

-- base64url without padding, as jwtd writes token bodies and family ids. encode(…, 'base64')
-- breaks its output into lines of 76 characters: the newlines go first.
CREATE FUNCTION pg_temp.base64url(bytes bytea) RETURNS text IMMUTABLE LANGUAGE sql AS
$$ SELECT translate(rtrim(replace(encode(bytes, 'base64'), E'\n', ''), '='), '+/', '-_') $$;

-- Family f's 16 id bytes: its `id` is their base64url (22 characters).
CREATE FUNCTION pg_temp.bench_family_id(f bigint) RETURNS bytea STABLE LANGUAGE sql AS
$$ SELECT substring(sha256(convert_to('bench-family-' || f, 'UTF8')) FROM 1 FOR 16) $$;

-- A family token from its first 56 bytes (family id, generation, secret): those, then the first
-- 16 bytes of their HMAC-SHA256 under the tag key whose pads are ipad and opad.
CREATE FUNCTION pg_temp.family_token(signed bytea, ipad bytea, opad bytea) RETURNS text STABLE
LANGUAGE sql AS
$$ SELECT 'jwtd_rt_' || pg_temp.base64url(signed || substring(sha256(opad || sha256(ipad || signed)) FROM 1 FOR 16)) $$;

-- Family f's head at generation gens: its secret is SHA-256('bench-seed-<f>-<gens>').
CREATE FUNCTION pg_temp.bench_head_token(f bigint, gens bigint, ipad bytea, opad bytea) RETURNS text
STABLE LANGUAGE sql AS
$$ SELECT pg_temp.family_token(pg_temp.bench_family_id(f) || int8send(gens)
                               || sha256(convert_to('bench-seed-' || f || '-' || gens, 'UTF8')), ipad, opad) $$;
