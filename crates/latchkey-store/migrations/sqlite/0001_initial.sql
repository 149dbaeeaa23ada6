-- Times are milliseconds since the Unix epoch (UTC) in both backends, so one query text
-- serves SQLite and PostgreSQL through sqlx's `Any` driver.

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    is_admin BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE sessions (
    token_digest TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);

CREATE TABLE credentials (
    client_id TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    secret_digest TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    last_used_at BIGINT,
    deleted_at BIGINT
);
CREATE INDEX credentials_user_id ON credentials (user_id);

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    private_key_pkcs8 TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE revoked_tokens (
    jti TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT NOT NULL
);
CREATE INDEX revoked_tokens_revoked_at ON revoked_tokens (revoked_at);
