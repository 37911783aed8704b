DROP INDEX refresh_tokens_family;
DROP INDEX refresh_families_expires;
DROP TABLE login_failures;
