-- The credential lookup that AK/SK authentication runs on every request
-- (PgCredentialStore::find); not part of the workloads' reference, reported
-- on its own so its share of each request is visible.
SELECT access_key, secret_ciphertext, nonce, key_id, projects FROM credentials WHERE access_key = :ak AND revoked_at IS NULL;
