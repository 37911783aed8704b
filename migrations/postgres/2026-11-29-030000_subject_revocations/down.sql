DROP INDEX refresh_families_revoked;
DROP TABLE subject_revocations;
