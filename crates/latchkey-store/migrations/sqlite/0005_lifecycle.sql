-- The credential lifecycle: several secrets per credential (rolling), where and how a
-- credential was last used, per-credential limits, expiry reminders, organization
-- policies and the append-only audit log. Times are milliseconds since the Unix epoch.

-- Each secret of a credential, with its own expiry: rolling adds one and sets the old
-- one to expire after the overlap. Only SHA-256 digests are stored; `prefix` is the
-- first characters of the secret, shown so a person can tell their secrets apart.
CREATE TABLE credential_secrets (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES credentials (client_id) ON DELETE CASCADE,
    digest TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    last_used_at BIGINT
);
CREATE INDEX credential_secrets_client_id ON credential_secrets (client_id);
INSERT INTO credential_secrets (id, client_id, digest, prefix, created_at)
    SELECT 'sec_' || client_id, client_id, secret_digest, 'lksk_', created_at FROM credentials;
ALTER TABLE credentials DROP COLUMN secret_digest;

-- The last token grant and the last API call: when, from which address, which client.
ALTER TABLE credentials ADD COLUMN last_grant_at BIGINT;
ALTER TABLE credentials ADD COLUMN last_grant_address TEXT;
ALTER TABLE credentials ADD COLUMN last_grant_user_agent TEXT;
ALTER TABLE credentials ADD COLUMN last_call_at BIGINT;
ALTER TABLE credentials ADD COLUMN last_call_address TEXT;
ALTER TABLE credentials ADD COLUMN last_call_user_agent TEXT;

-- Limits: space-separated addresses / CIDR ranges (NULL: anywhere) and requests per
-- minute (NULL: no limit of its own).
ALTER TABLE credentials ADD COLUMN allowed_networks TEXT;
ALTER TABLE credentials ADD COLUMN rate_limit_per_minute BIGINT;

-- When the owner was reminded of the coming expiry / told of the coming idle
-- disabling, and when the expiry was announced, so each is sent once.
ALTER TABLE credentials ADD COLUMN expiry_reminded_at BIGINT;
ALTER TABLE credentials ADD COLUMN expiry_announced_at BIGINT;
ALTER TABLE credentials ADD COLUMN idle_warned_at BIGINT;
-- Credentials that expired before this migration are not announced as news.
UPDATE credentials SET expiry_announced_at = expires_at
    WHERE expires_at IS NOT NULL AND expires_at <= CAST(strftime('%s', 'now') AS INTEGER) * 1000;
-- When it was last enabled again: the idle policy counts unused days from here too.
ALTER TABLE credentials ADD COLUMN enabled_at BIGINT;

-- How many days before an expiry its owner wants to be reminded.
ALTER TABLE users ADD COLUMN expiry_reminder_days BIGINT NOT NULL DEFAULT 7;

-- Organization policies (NULL: none): the lifetime a new credential gets by default,
-- the longest it may have, and after how many unused days a credential is disabled.
ALTER TABLE organizations ADD COLUMN default_credential_lifetime_days BIGINT;
ALTER TABLE organizations ADD COLUMN max_credential_lifetime_days BIGINT;
ALTER TABLE organizations ADD COLUMN idle_disable_days BIGINT;

-- Append-only: nothing updates or deletes these rows. No foreign keys, so the record
-- outlives the users and credentials it names.
CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
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
