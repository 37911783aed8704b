-- PostgreSQL's refresh_tokens get free space per page for HOT updates (see the PostgreSQL
-- migration of the same name); SQLite has no such setting. Kept so both backends list the same
-- migrations.
SELECT 1;
