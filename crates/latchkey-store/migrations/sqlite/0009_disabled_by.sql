-- Who disabled a credential and why. A credential an organization admin disabled stays
-- disabled until an admin enables it; its owner sees who and why. NULL: enabled, or
-- disabled by Latchkey itself (the idle policy).
ALTER TABLE credentials ADD COLUMN disabled_by_user_id BIGINT;
ALTER TABLE credentials ADD COLUMN disabled_reason TEXT;
