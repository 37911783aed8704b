DROP TABLE revoked_sids;
