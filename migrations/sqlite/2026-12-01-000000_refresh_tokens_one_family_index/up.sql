-- UNIQUE (family_id, generation) already serves every lookup of a family's tokens (family_id is
-- its leading column), the purge and the ON DELETE CASCADE from refresh_families included. The
-- second index on family_id alone only cost every login and every rotation one more b-tree
-- insertion.
DROP INDEX refresh_tokens_family;
