-- Workspace content: projects and batches, scenes and their files, calibrations, IMU
-- data, and inputs (a scene placed in a project's batch). Scene, input and
-- calibration ids are UUID text; JSON is kept as TEXT; times are milliseconds.

CREATE TABLE projects (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id BIGINT NOT NULL REFERENCES organizations (id),
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    project TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- The key clients put in paths is unique per organization.
    UNIQUE (organization_id, project)
);
CREATE INDEX projects_workspace_id ON projects (workspace_id);

CREATE TABLE batches (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    batch TEXT NOT NULL,
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (project_id, batch)
);

-- Scene ids handed out by `v1/inputs/initialize`; a scene may only be created with one.
CREATE TABLE scene_ids (
    uuid TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL
);

CREATE TABLE calibrations (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    external_id TEXT NOT NULL,
    calibration TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX calibrations_workspace_external ON calibrations (workspace_id, external_id);

CREATE TABLE scenes (
    uuid TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    external_id TEXT NOT NULL,
    scene_type TEXT NOT NULL,
    status TEXT NOT NULL,
    calibration_id TEXT REFERENCES calibrations (id),
    project_id BIGINT REFERENCES projects (id),
    batch_id BIGINT REFERENCES batches (id),
    metadata TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    error_message TEXT,
    invalidated_at BIGINT
);
CREATE INDEX scenes_workspace_external ON scenes (workspace_id, external_id);
CREATE INDEX scenes_external_id ON scenes (external_id);

-- One row per file a scene needs; the upload token is a single-purpose capability.
CREATE TABLE scene_files (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scene_uuid TEXT NOT NULL REFERENCES scenes (uuid) ON DELETE CASCADE,
    resource_id TEXT NOT NULL,
    object_key TEXT NOT NULL,
    token_digest TEXT NOT NULL UNIQUE,
    expires_at BIGINT NOT NULL,
    uploaded_at BIGINT,
    size BIGINT,
    UNIQUE (scene_uuid, resource_id)
);

CREATE TABLE imu (
    scene_uuid TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    resource_id TEXT NOT NULL,
    object_key TEXT NOT NULL,
    samples BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE inputs (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    scene_uuid TEXT NOT NULL REFERENCES scenes (uuid) ON DELETE CASCADE,
    project_id BIGINT NOT NULL REFERENCES projects (id),
    batch_id BIGINT NOT NULL REFERENCES batches (id),
    request_uid TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- A scene is in a batch at most once: creating it again answers the same input.
    UNIQUE (scene_uuid, batch_id)
);
CREATE INDEX inputs_batch_id ON inputs (batch_id);
