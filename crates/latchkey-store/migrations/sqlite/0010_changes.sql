-- The change feed: one row per change that every replica must apply to what it keeps in
-- memory (its credential and access caches, its revocation list), written in the same
-- transaction as the change. Replicas read it by sequence (`seq > last seen`), never by
-- time, so a replica's clock cannot hide a change. `kind` is `credential` (key: client
-- id), `user` (key: user id), `token` (key: jti) or `grant` (key: grant id).
-- Times are milliseconds since the Unix epoch.
CREATE TABLE changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    -- Only to delete old rows; nothing reads the feed by time.
    created_at BIGINT NOT NULL
);
CREATE INDEX changes_created_at ON changes (created_at);
