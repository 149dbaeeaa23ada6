-- Signed upload URLs get their own table: a repeated scene create hands out new URLs
-- while the earlier ones keep working until they expire, so a file may have several.
-- SQLite cannot drop a UNIQUE column, so scene_files is rebuilt without the token.
CREATE TABLE upload_tokens_moved AS SELECT token_digest, id AS file_id, expires_at FROM scene_files;

CREATE TABLE scene_files_rebuilt (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    scene_uuid TEXT NOT NULL REFERENCES scenes (uuid) ON DELETE CASCADE,
    resource_id TEXT NOT NULL,
    object_key TEXT NOT NULL,
    uploaded_at BIGINT,
    size BIGINT,
    UNIQUE (scene_uuid, resource_id)
);
INSERT INTO scene_files_rebuilt (id, scene_uuid, resource_id, object_key, uploaded_at, size)
    SELECT id, scene_uuid, resource_id, object_key, uploaded_at, size FROM scene_files;
DROP TABLE scene_files;
ALTER TABLE scene_files_rebuilt RENAME TO scene_files;

CREATE TABLE upload_tokens (
    token_digest TEXT PRIMARY KEY,
    file_id BIGINT NOT NULL REFERENCES scene_files (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL
);
CREATE INDEX upload_tokens_file ON upload_tokens (file_id);
INSERT INTO upload_tokens (token_digest, file_id, expires_at)
    SELECT token_digest, file_id, expires_at FROM upload_tokens_moved;
DROP TABLE upload_tokens_moved;
