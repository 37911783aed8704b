-- A rotation marks the presented token used (rotated_at, rotated_ip, rotated_user_agent: no
-- index covers them) and inserts its successor. With full pages that update cannot stay on its
-- page, so PostgreSQL writes a new row version elsewhere and adds it to both indexes (the token
-- hash and the family's generations): more pages dirtied and more WAL per rotation the larger
-- the table (issue 21). Room on every page keeps the update HOT (heap-only). Measured on one
-- million seeded families (bench/growth): 100% of the updates HOT instead of 7%, 3.6 instead of
-- 6.3 pages dirtied and 0.18 instead of 0.26 ms of PostgreSQL time per rotation. It applies to
-- pages written from now on; `VACUUM FULL refresh_tokens` rewrites the existing ones (it locks
-- the table: a maintenance window).
ALTER TABLE refresh_tokens SET (fillfactor = 80);
