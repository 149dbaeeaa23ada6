-- Signed upload URLs get their own table: a repeated scene create hands out new URLs
-- while the earlier ones keep working until they expire, so a file may have several.
CREATE TABLE upload_tokens (
    token_digest TEXT PRIMARY KEY,
    file_id BIGINT NOT NULL REFERENCES scene_files (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL
);
CREATE INDEX upload_tokens_file ON upload_tokens (file_id);
INSERT INTO upload_tokens (token_digest, file_id, expires_at)
    SELECT token_digest, id, expires_at FROM scene_files;
ALTER TABLE scene_files DROP COLUMN token_digest, DROP COLUMN expires_at;
