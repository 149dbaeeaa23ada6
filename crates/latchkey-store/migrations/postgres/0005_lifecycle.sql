-- The append-only audit log.

-- Append-only: nothing updates or deletes these rows. No foreign keys, so the record
-- outlives the users and credentials it names.
CREATE TABLE audit_events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at BIGINT NOT NULL,
    action TEXT NOT NULL,
    outcome TEXT NOT NULL,
    actor_user_id BIGINT,
    actor_email TEXT,
    actor_client_id TEXT,
    subject_user_id BIGINT,
    organization_id BIGINT,
    target TEXT,
    method TEXT,
    path TEXT,
    status BIGINT,
    source_address TEXT,
    user_agent TEXT,
    request_id TEXT,
    detail TEXT
);
CREATE INDEX audit_events_actor ON audit_events (actor_user_id, id);
CREATE INDEX audit_events_subject ON audit_events (subject_user_id, id);
CREATE INDEX audit_events_organization ON audit_events (organization_id, id);
