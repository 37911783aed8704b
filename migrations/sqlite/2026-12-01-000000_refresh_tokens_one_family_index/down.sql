CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
