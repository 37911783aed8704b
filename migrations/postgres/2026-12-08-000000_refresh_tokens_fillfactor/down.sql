ALTER TABLE refresh_tokens RESET (fillfactor);
