-- Refresh tokens rotate (RFC 9700 §4.14): each one is redeemed once, and a second
-- redemption revokes every token of its grant. A grant is everything descended from one
-- client-credentials grant; tokens name it in their `gid` claim.
-- Times are milliseconds since the Unix epoch.

-- One row per redeemed refresh token; the primary key makes concurrent redemptions of
-- one token race for a single insert, which exactly one wins.
CREATE TABLE spent_refresh_tokens (
    jti TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    -- When the token expires anyway; the row can go then.
    expires_at BIGINT NOT NULL,
    spent_at BIGINT NOT NULL
);
CREATE INDEX spent_refresh_tokens_expires_at ON spent_refresh_tokens (expires_at);

-- Revoked grants, polled by every replica like `revoked_tokens`.
CREATE TABLE revoked_grants (
    grant_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    -- When the grant's last token expires anyway; the row can go then.
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT NOT NULL
);
CREATE INDEX revoked_grants_revoked_at ON revoked_grants (revoked_at);
