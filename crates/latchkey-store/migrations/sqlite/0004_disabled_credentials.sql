-- Disable / enable without deleting: a disabled credential is refused like a deleted
-- one until its owner enables it again. Milliseconds since the Unix epoch; NULL: enabled.
ALTER TABLE credentials ADD COLUMN disabled_at BIGINT;
