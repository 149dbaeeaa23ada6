-- Lifecycle events leave the service through three outboxes: signed webhook deliveries
-- to an organization's endpoints, in-app notifications and emails to a credential's
-- owner. Rows are written when the event happens and worked off by every replica's
-- upkeep loop; `locked_until` lets exactly one replica claim a due row.
-- Times are milliseconds since the Unix epoch.

CREATE TABLE webhook_endpoints (
    -- `wh_` and random characters.
    id TEXT PRIMARY KEY,
    organization_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    -- The HMAC key (`whsec_…`). Kept in plain text: signing needs it, and it grants
    -- nothing but the ability to forge deliveries to this one endpoint.
    signing_secret TEXT NOT NULL,
    -- Space-separated event types (`credential.created …`); NULL: every type.
    event_types TEXT,
    created_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_organization_id ON webhook_endpoints (organization_id);

CREATE TABLE webhook_deliveries (
    -- `whd_` and random characters.
    id TEXT PRIMARY KEY,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    -- `evt_…`: the same for every endpoint that receives the event.
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    -- The JSON body, exactly as signed and sent.
    payload TEXT NOT NULL,
    -- 'pending', 'delivered' or 'failed'.
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    -- Set while one replica is sending it.
    locked_until BIGINT,
    last_response_status BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_endpoint_id ON webhook_deliveries (endpoint_id, created_at);

CREATE TABLE notifications (
    -- `ntf_` and random characters.
    id TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The event type that caused it (`credential.leaked`, …).
    kind TEXT NOT NULL,
    client_id TEXT,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    dismissed_at BIGINT
);
CREATE INDEX notifications_user_id ON notifications (user_id, created_at);

CREATE TABLE email_outbox (
    -- `eml_` and random characters.
    id TEXT PRIMARY KEY,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    -- 'pending', 'sent' or 'failed'.
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    locked_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX email_outbox_due ON email_outbox (status, next_attempt_at);
