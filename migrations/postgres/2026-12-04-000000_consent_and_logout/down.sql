DROP TABLE logout_deliveries;
DROP INDEX sessions_live;
DROP TABLE consents;
ALTER TABLE clients DROP COLUMN backchannel_logout_uri;
ALTER TABLE clients DROP COLUMN post_logout_redirect_uris;
