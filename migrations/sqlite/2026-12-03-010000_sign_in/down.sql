DROP INDEX refresh_families_session;
ALTER TABLE refresh_families DROP COLUMN auth_time;
ALTER TABLE refresh_families DROP COLUMN session_id;
DROP TABLE authorization_codes;
DROP TABLE sessions;
