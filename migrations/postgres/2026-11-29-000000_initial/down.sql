DROP TABLE audit_events;
DROP TABLE refresh_tokens;
DROP TABLE refresh_families;
DROP TABLE users;
DROP TABLE clients;
DROP TABLE signing_keys;
