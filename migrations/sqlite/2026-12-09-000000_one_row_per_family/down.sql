ALTER TABLE refresh_families DROP COLUMN rotated_user_agent;
ALTER TABLE refresh_families DROP COLUMN rotated_ip;
ALTER TABLE refresh_families DROP COLUMN rotated_at;
ALTER TABLE refresh_families DROP COLUMN head_expires_at;
ALTER TABLE refresh_families DROP COLUMN generation;
ALTER TABLE refresh_families DROP COLUMN head_hash;
