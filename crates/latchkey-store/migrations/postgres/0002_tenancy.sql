-- Organizations contain users and workspaces; users hold a role per workspace.

CREATE TABLE organizations (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

-- NULL for the platform operator, who belongs to no organization.
ALTER TABLE users ADD COLUMN organization_id BIGINT REFERENCES organizations (id);
-- 'member' or 'admin'; NULL exactly when organization_id is NULL.
ALTER TABLE users ADD COLUMN organization_role TEXT;
CREATE INDEX users_organization_id ON users (organization_id);

CREATE TABLE workspaces (
    id TEXT PRIMARY KEY,
    organization_id BIGINT NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    external_id TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX workspaces_organization_id ON workspaces (organization_id);

CREATE TABLE workspace_members (
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX workspace_members_user_id ON workspace_members (user_id);

-- Space-separated workspace ids a credential is limited to; NULL means no limit.
ALTER TABLE credentials ADD COLUMN workspace_ids TEXT;

-- One-time links to set a password, for users added without one.
CREATE TABLE password_links (
    token_digest TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
