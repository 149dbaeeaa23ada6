//! Workspace content: projects, batches, scenes and their files, calibrations, IMU data
//! and inputs.
//!
//! Idempotency lives in unique constraints: a batch is unique per (project, key), a
//! scene's uuid is the `internalId` the client sends, an input is unique per (scene,
//! batch). Creating the same thing twice finds the first one instead of failing.
//! Lists of ids are bound as one placeholder each, in chunks, because the `Any` driver
//! has no array binds.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use crate::{Store, StoreError, map_unique, millis};

/// Ids bound per `IN (…)` list; far below both backends' bind limits.
const CHUNK: usize = 500;

fn time(millis: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(millis).unwrap_or_default()
}

/// `$start, $start+1, …` for `count` binds.
fn placeholders(start: usize, count: usize) -> String {
    (start..start + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

const PROJECT_COLUMNS: &str =
    "id, organization_id, workspace_id, project, title, description, status, created_at";

#[derive(Debug, Clone, FromRow)]
pub struct ProjectRow {
    pub id: i64,
    pub organization_id: i64,
    pub workspace_id: String,
    /// The key clients put in paths; unique per organization.
    pub project: String,
    pub title: String,
    pub description: String,
    pub status: String,
    created_at: i64,
}

impl ProjectRow {
    pub fn created_at(&self) -> DateTime<Utc> {
        time(self.created_at)
    }
}

#[derive(Debug, Clone)]
pub struct NewProject {
    pub organization_id: i64,
    pub workspace_id: String,
    pub project: String,
    pub title: String,
    pub description: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
}

const BATCH_COLUMNS: &str = "id, project_id, batch, title, status, created_at, updated_at";

#[derive(Debug, Clone, FromRow)]
pub struct BatchRow {
    pub id: i64,
    pub project_id: i64,
    pub batch: String,
    pub title: String,
    /// `open` when created, `ready` once published.
    pub status: String,
    created_at: i64,
    updated_at: i64,
}

impl BatchRow {
    pub fn created_at(&self) -> DateTime<Utc> {
        time(self.created_at)
    }

    pub fn updated_at(&self) -> DateTime<Utc> {
        time(self.updated_at)
    }
}

const CALIBRATION_COLUMNS: &str = "id, workspace_id, external_id, calibration, created_at";

#[derive(Debug, Clone, FromRow)]
pub struct CalibrationRow {
    pub id: String,
    pub workspace_id: String,
    pub external_id: String,
    /// The calibration JSON as the client sent it.
    pub calibration: String,
    created_at: i64,
}

impl CalibrationRow {
    pub fn created_at(&self) -> DateTime<Utc> {
        time(self.created_at)
    }
}

#[derive(Debug, Clone)]
pub struct NewCalibration {
    pub id: String,
    pub workspace_id: String,
    pub external_id: String,
    pub calibration: String,
    pub created_at: DateTime<Utc>,
}

const SCENE_COLUMNS: &str = "s.uuid, s.workspace_id, w.organization_id, s.external_id, \
     s.scene_type, s.status, s.calibration_id, s.project_id, s.batch_id, s.metadata, s.body, \
     s.created_at, s.error_message";

/// A scene, with the organization of its workspace for the permission decision.
#[derive(Debug, Clone, FromRow)]
pub struct SceneRow {
    pub uuid: String,
    pub workspace_id: String,
    pub organization_id: i64,
    pub external_id: String,
    /// snake_case: `cameras`, `lidars_and_cameras`, …
    pub scene_type: String,
    pub status: String,
    pub calibration_id: Option<String>,
    pub project_id: Option<i64>,
    pub batch_id: Option<i64>,
    /// Flat JSON object.
    pub metadata: String,
    /// The creation body as JSON.
    pub body: String,
    created_at: i64,
    pub error_message: Option<String>,
}

impl SceneRow {
    pub fn created_at(&self) -> DateTime<Utc> {
        time(self.created_at)
    }
}

#[derive(Debug, Clone)]
pub struct NewScene {
    pub uuid: String,
    pub workspace_id: String,
    pub external_id: String,
    pub scene_type: String,
    pub status: String,
    pub calibration_id: Option<String>,
    pub project_id: Option<i64>,
    pub batch_id: Option<i64>,
    pub metadata: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

const SCENE_FILE_COLUMNS: &str = "id, scene_uuid, resource_id, object_key, uploaded_at, size";

#[derive(Debug, Clone, FromRow)]
pub struct SceneFileRow {
    pub id: i64,
    pub scene_uuid: String,
    /// The client's name for the file.
    pub resource_id: String,
    /// Where the file's bytes are; each upload through this service writes a new key.
    pub object_key: String,
    uploaded_at: Option<i64>,
    pub size: Option<i64>,
}

impl SceneFileRow {
    pub fn uploaded_at(&self) -> Option<DateTime<Utc>> {
        self.uploaded_at.map(time)
    }
}

#[derive(Debug, Clone)]
pub struct NewSceneFile {
    pub resource_id: String,
    pub object_key: String,
    /// The digest of the signed upload URL's token when uploads go through this
    /// service; `None` when the object store signs the URLs itself.
    pub upload_token: Option<String>,
}

/// What a signed upload URL's token opens: the file, until when, and its scene's status.
#[derive(Debug, Clone)]
pub struct UploadTarget {
    pub file: SceneFileRow,
    pub expires_at: DateTime<Utc>,
    pub scene_status: String,
}

#[derive(Debug, Clone, FromRow)]
pub struct ImuRow {
    pub scene_uuid: String,
    pub workspace_id: String,
    pub resource_id: String,
    pub object_key: String,
    pub samples: i64,
}

#[derive(Debug, Clone)]
pub struct NewImu {
    pub scene_uuid: String,
    pub workspace_id: String,
    pub resource_id: String,
    pub object_key: String,
    pub samples: i64,
    pub created_at: DateTime<Utc>,
}

const INPUT_COLUMNS: &str = "i.id, i.uuid, i.scene_uuid, s.external_id AS scene_external_id, \
     s.workspace_id, w.organization_id, i.request_uid, i.created_at";
const INPUT_FROM: &str = "FROM inputs i JOIN scenes s ON s.uuid = i.scene_uuid \
     JOIN workspaces w ON w.id = s.workspace_id";

/// An input: a scene placed in a project's batch.
#[derive(Debug, Clone, FromRow)]
pub struct InputRow {
    /// The cursor of `v2/inputs/query`.
    pub id: i64,
    pub uuid: String,
    pub scene_uuid: String,
    pub scene_external_id: String,
    pub workspace_id: String,
    pub organization_id: i64,
    /// `project:batch`.
    pub request_uid: String,
    created_at: i64,
}

impl InputRow {
    pub fn created_at(&self) -> DateTime<Utc> {
        time(self.created_at)
    }
}

#[derive(Debug, Clone)]
pub struct NewInput {
    pub uuid: String,
    pub scene_uuid: String,
    pub project_id: i64,
    pub batch_id: i64,
    pub request_uid: String,
    pub created_at: DateTime<Utc>,
}

/// What `v2/inputs/query` filters by; every present filter must match.
#[derive(Debug, Clone, Default)]
pub struct InputQuery {
    /// Only inputs of scenes in these workspaces (the ones the caller may read).
    pub workspace_ids: Vec<String>,
    pub project_id: Option<i64>,
    pub batch_id: Option<i64>,
    pub scene_uuids: Option<Vec<String>>,
    pub external_ids: Option<Vec<String>>,
    /// Inputs after this cursor.
    pub after_id: i64,
    pub limit: i64,
}

impl Store {
    // --- projects and batches ----------------------------------------------------------

    /// Fails with [`StoreError::Conflict`] when the organization has the key already.
    pub async fn create_project(&self, new: &NewProject) -> Result<ProjectRow, StoreError> {
        sqlx::query_as::<_, ProjectRow>(&format!(
            "INSERT INTO projects \
             (organization_id, workspace_id, project, title, description, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {PROJECT_COLUMNS}"
        ))
        .bind(new.organization_id)
        .bind(&new.workspace_id)
        .bind(&new.project)
        .bind(&new.title)
        .bind(&new.description)
        .bind(&new.status)
        .bind(millis(new.created_at))
        .fetch_one(&self.pool)
        .await
        .map_err(map_unique)
    }

    /// Every project with this key, one per organization at most.
    pub async fn projects_by_key(&self, project: &str) -> Result<Vec<ProjectRow>, StoreError> {
        Ok(sqlx::query_as::<_, ProjectRow>(&format!(
            "SELECT {PROJECT_COLUMNS} FROM projects WHERE project = $1 ORDER BY id"
        ))
        .bind(project)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Every project, or those of one organization, oldest first.
    pub async fn projects(
        &self,
        organization_id: Option<i64>,
    ) -> Result<Vec<ProjectRow>, StoreError> {
        let query = match organization_id {
            Some(_) => format!(
                "SELECT {PROJECT_COLUMNS} FROM projects WHERE organization_id = $1 ORDER BY id"
            ),
            None => format!("SELECT {PROJECT_COLUMNS} FROM projects ORDER BY id"),
        };
        let mut query = sqlx::query_as::<_, ProjectRow>(&query);
        if let Some(id) = organization_id {
            query = query.bind(id);
        }
        Ok(query.fetch_all(&self.pool).await?)
    }

    pub async fn project_by_id(&self, id: i64) -> Result<Option<ProjectRow>, StoreError> {
        Ok(sqlx::query_as::<_, ProjectRow>(&format!(
            "SELECT {PROJECT_COLUMNS} FROM projects WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn batches(&self, project_id: i64) -> Result<Vec<BatchRow>, StoreError> {
        Ok(sqlx::query_as::<_, BatchRow>(&format!(
            "SELECT {BATCH_COLUMNS} FROM batches WHERE project_id = $1 ORDER BY id"
        ))
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn batch(
        &self,
        project_id: i64,
        batch: &str,
    ) -> Result<Option<BatchRow>, StoreError> {
        Ok(sqlx::query_as::<_, BatchRow>(&format!(
            "SELECT {BATCH_COLUMNS} FROM batches WHERE project_id = $1 AND batch = $2"
        ))
        .bind(project_id)
        .bind(batch)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn batch_by_id(&self, id: i64) -> Result<Option<BatchRow>, StoreError> {
        Ok(sqlx::query_as::<_, BatchRow>(&format!(
            "SELECT {BATCH_COLUMNS} FROM batches WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The newest `open` batch of a project: where scenes go when no batch is named.
    pub async fn latest_open_batch(&self, project_id: i64) -> Result<Option<BatchRow>, StoreError> {
        Ok(sqlx::query_as::<_, BatchRow>(&format!(
            "SELECT {BATCH_COLUMNS} FROM batches WHERE project_id = $1 AND status = 'open' \
             ORDER BY id DESC LIMIT 1"
        ))
        .bind(project_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Creates an `open` batch unless it exists; answers the batch either way, and
    /// whether this call created it. With `publish_previous`, the project's other open
    /// batches become `ready` in the same transaction.
    pub async fn create_batch(
        &self,
        project_id: i64,
        batch: &str,
        publish_previous: bool,
        at: DateTime<Utc>,
    ) -> Result<(BatchRow, bool), StoreError> {
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO batches (project_id, batch, title, status, created_at, updated_at) \
             VALUES ($1, $2, $2, 'open', $3, $3) ON CONFLICT (project_id, batch) DO NOTHING",
        )
        .bind(project_id)
        .bind(batch)
        .bind(millis(at))
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if inserted && publish_previous {
            sqlx::query(
                "UPDATE batches SET status = 'ready', updated_at = $1 \
                 WHERE project_id = $2 AND batch <> $3 AND status = 'open'",
            )
            .bind(millis(at))
            .bind(project_id)
            .bind(batch)
            .execute(&mut *tx)
            .await?;
        }
        let row = sqlx::query_as::<_, BatchRow>(&format!(
            "SELECT {BATCH_COLUMNS} FROM batches WHERE project_id = $1 AND batch = $2"
        ))
        .bind(project_id)
        .bind(batch)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((row, inserted))
    }

    /// Moves an `open` batch to `ready`; a batch in any other state is left as it is.
    pub async fn publish_batch(&self, id: i64, at: DateTime<Utc>) -> Result<BatchRow, StoreError> {
        sqlx::query("UPDATE batches SET status = 'ready', updated_at = $1 WHERE id = $2 AND status = 'open'")
            .bind(millis(at))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(sqlx::query_as::<_, BatchRow>(&format!(
            "SELECT {BATCH_COLUMNS} FROM batches WHERE id = $1"
        ))
        .bind(id)
        .fetch_one(&self.pool)
        .await?)
    }

    // --- scene ids -------------------------------------------------------------------

    /// Records a scene id handed out to a workspace.
    pub async fn reserve_scene_id(
        &self,
        uuid: &str,
        workspace_id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO scene_ids (uuid, workspace_id, created_at) VALUES ($1, $2, $3)")
            .bind(uuid)
            .bind(workspace_id)
            .bind(millis(at))
            .execute(&self.pool)
            .await
            .map_err(map_unique)?;
        Ok(())
    }

    /// The workspace a scene id was handed out to.
    pub async fn scene_id_workspace(&self, uuid: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_as::<_, (String,)>("SELECT workspace_id FROM scene_ids WHERE uuid = $1")
                .bind(uuid)
                .fetch_optional(&self.pool)
                .await?
                .map(|(id,)| id),
        )
    }

    // --- calibrations ----------------------------------------------------------------

    pub async fn create_calibration(
        &self,
        new: &NewCalibration,
    ) -> Result<CalibrationRow, StoreError> {
        sqlx::query_as::<_, CalibrationRow>(&format!(
            "INSERT INTO calibrations (id, workspace_id, external_id, calibration, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {CALIBRATION_COLUMNS}"
        ))
        .bind(&new.id)
        .bind(&new.workspace_id)
        .bind(&new.external_id)
        .bind(&new.calibration)
        .bind(millis(new.created_at))
        .fetch_one(&self.pool)
        .await
        .map_err(map_unique)
    }

    pub async fn calibration(&self, id: &str) -> Result<Option<CalibrationRow>, StoreError> {
        Ok(sqlx::query_as::<_, CalibrationRow>(&format!(
            "SELECT {CALIBRATION_COLUMNS} FROM calibrations WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The calibrations of these workspaces, optionally with one external id, oldest
    /// first.
    pub async fn calibrations(
        &self,
        workspace_ids: &[String],
        external_id: Option<&str>,
    ) -> Result<Vec<CalibrationRow>, StoreError> {
        let mut rows = Vec::new();
        for chunk in workspace_ids.chunks(CHUNK) {
            let mut sql = format!(
                "SELECT {CALIBRATION_COLUMNS} FROM calibrations WHERE workspace_id IN ({})",
                placeholders(1, chunk.len())
            );
            if external_id.is_some() {
                sql.push_str(&format!(" AND external_id = ${}", chunk.len() + 1));
            }
            let mut query = sqlx::query_as::<_, CalibrationRow>(&sql);
            for id in chunk {
                query = query.bind(id);
            }
            if let Some(external_id) = external_id {
                query = query.bind(external_id);
            }
            rows.extend(query.fetch_all(&self.pool).await?);
        }
        rows.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(rows)
    }

    // --- scenes ----------------------------------------------------------------------

    /// Creates a scene with the files it waits for and, when it goes into a batch, its
    /// input, in one transaction. Fails with [`StoreError::Conflict`] when the uuid is
    /// taken.
    pub async fn create_scene(
        &self,
        new: &NewScene,
        files: &[NewSceneFile],
        upload_tokens_expire: DateTime<Utc>,
        input: Option<&NewInput>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO scenes (uuid, workspace_id, external_id, scene_type, status, \
             calibration_id, project_id, batch_id, metadata, body, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&new.uuid)
        .bind(&new.workspace_id)
        .bind(&new.external_id)
        .bind(&new.scene_type)
        .bind(&new.status)
        .bind(&new.calibration_id)
        .bind(new.project_id)
        .bind(new.batch_id)
        .bind(&new.metadata)
        .bind(&new.body)
        .bind(millis(new.created_at))
        .execute(&mut *tx)
        .await
        .map_err(map_unique)?;
        for file in files {
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO scene_files (scene_uuid, resource_id, object_key) \
                 VALUES ($1, $2, $3) RETURNING id",
            )
            .bind(&new.uuid)
            .bind(&file.resource_id)
            .bind(&file.object_key)
            .fetch_one(&mut *tx)
            .await
            .map_err(map_unique)?;
            if let Some(digest) = &file.upload_token {
                sqlx::query(
                    "INSERT INTO upload_tokens (token_digest, file_id, expires_at) \
                     VALUES ($1, $2, $3)",
                )
                .bind(digest)
                .bind(id)
                .bind(millis(upload_tokens_expire))
                .execute(&mut *tx)
                .await
                .map_err(map_unique)?;
            }
        }
        if let Some(input) = input {
            insert_input(&mut tx, input).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn scene(&self, uuid: &str) -> Result<Option<SceneRow>, StoreError> {
        Ok(sqlx::query_as::<_, SceneRow>(&format!(
            "SELECT {SCENE_COLUMNS} FROM scenes s JOIN workspaces w ON w.id = s.workspace_id \
             WHERE s.uuid = $1"
        ))
        .bind(uuid)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The scenes with these uuids (missing ones are simply absent).
    pub async fn scenes_by_uuids(&self, uuids: &[String]) -> Result<Vec<SceneRow>, StoreError> {
        self.scenes_where("s.uuid", uuids).await
    }

    /// The scenes with these external ids, in any workspace.
    pub async fn scenes_by_external_ids(
        &self,
        external_ids: &[String],
    ) -> Result<Vec<SceneRow>, StoreError> {
        self.scenes_where("s.external_id", external_ids).await
    }

    async fn scenes_where(
        &self,
        column: &str,
        values: &[String],
    ) -> Result<Vec<SceneRow>, StoreError> {
        let mut rows = Vec::new();
        for chunk in values.chunks(CHUNK) {
            let sql = format!(
                "SELECT {SCENE_COLUMNS} FROM scenes s JOIN workspaces w ON w.id = s.workspace_id \
                 WHERE {column} IN ({}) ORDER BY s.created_at, s.uuid",
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query_as::<_, SceneRow>(&sql);
            for value in chunk {
                query = query.bind(value);
            }
            rows.extend(query.fetch_all(&self.pool).await?);
        }
        Ok(rows)
    }

    pub async fn scene_files(&self, scene_uuid: &str) -> Result<Vec<SceneFileRow>, StoreError> {
        Ok(sqlx::query_as::<_, SceneFileRow>(&format!(
            "SELECT {SCENE_FILE_COLUMNS} FROM scene_files WHERE scene_uuid = $1 ORDER BY id"
        ))
        .bind(scene_uuid)
        .fetch_all(&self.pool)
        .await?)
    }

    /// More upload tokens for files of a scene (a repeated create): `(file id, token
    /// digest)` pairs. The tokens handed out before keep working until they expire.
    pub async fn add_upload_tokens(
        &self,
        tokens: &[(i64, String)],
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for (id, digest) in tokens {
            sqlx::query(
                "INSERT INTO upload_tokens (token_digest, file_id, expires_at) VALUES ($1, $2, $3)",
            )
            .bind(digest)
            .bind(id)
            .bind(millis(expires_at))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The file an upload token is for, the token's expiry and the scene's status.
    pub async fn upload_target(
        &self,
        token_digest: &str,
    ) -> Result<Option<UploadTarget>, StoreError> {
        let Some((file_id, expires_at)) = sqlx::query_as::<_, (i64, i64)>(
            "SELECT file_id, expires_at FROM upload_tokens WHERE token_digest = $1",
        )
        .bind(token_digest)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let file = self.scene_file(file_id).await?;
        let (scene_status,): (String,) =
            sqlx::query_as("SELECT status FROM scenes WHERE uuid = $1")
                .bind(&file.scene_uuid)
                .fetch_one(&self.pool)
                .await?;
        Ok(Some(UploadTarget {
            file,
            expires_at: time(expires_at),
            scene_status,
        }))
    }

    pub async fn scene_file(&self, id: i64) -> Result<SceneFileRow, StoreError> {
        Ok(sqlx::query_as::<_, SceneFileRow>(&format!(
            "SELECT {SCENE_FILE_COLUMNS} FROM scene_files WHERE id = $1"
        ))
        .bind(id)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Points a file at a newly written object, if the file still points at
    /// `previous_key` and its scene still waits for files; `false` otherwise (another
    /// upload of the file finished first, or the scene was committed).
    pub async fn replace_uploaded_file(
        &self,
        id: i64,
        previous_key: &str,
        object_key: &str,
        size: i64,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE scene_files SET object_key = $1, size = $2, uploaded_at = $3 \
             WHERE id = $4 AND object_key = $5 AND EXISTS (SELECT 1 FROM scenes s \
             WHERE s.uuid = scene_files.scene_uuid AND s.status = 'pending')",
        )
        .bind(object_key)
        .bind(size)
        .bind(millis(at))
        .bind(id)
        .bind(previous_key)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Commits a pending scene: records each file's size as the object store reported
    /// it (`(file id, object key, size)`; a file that another upload pointed elsewhere
    /// meanwhile keeps that upload's size) and makes the scene `created`, in one
    /// transaction; `false` when the scene was no longer pending.
    pub async fn commit_scene(
        &self,
        uuid: &str,
        sizes: &[(i64, String, i64)],
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let moved = sqlx::query(
            "UPDATE scenes SET status = 'created' WHERE uuid = $1 AND status = 'pending'",
        )
        .bind(uuid)
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() != 1 {
            return Ok(false);
        }
        for (id, object_key, size) in sizes {
            sqlx::query(
                "UPDATE scene_files SET size = $1, uploaded_at = COALESCE(uploaded_at, $2) \
                 WHERE id = $3 AND object_key = $4",
            )
            .bind(size)
            .bind(millis(at))
            .bind(id)
            .bind(object_key)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Marks scenes invalidated with `status` (`invalidated:…`), in one transaction.
    pub async fn invalidate_scenes(
        &self,
        uuids: &[String],
        status: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for uuid in uuids {
            sqlx::query("UPDATE scenes SET status = $1, invalidated_at = $2 WHERE uuid = $3")
                .bind(status)
                .bind(millis(at))
                .bind(uuid)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    // --- IMU -------------------------------------------------------------------------

    /// Records a scene's IMU data (written to the object store by the caller); a retry
    /// replaces the earlier record.
    pub async fn put_imu(&self, new: &NewImu) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO imu (scene_uuid, workspace_id, resource_id, object_key, samples, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (scene_uuid) DO UPDATE \
             SET resource_id = excluded.resource_id, object_key = excluded.object_key, \
             samples = excluded.samples, created_at = excluded.created_at",
        )
        .bind(&new.scene_uuid)
        .bind(&new.workspace_id)
        .bind(&new.resource_id)
        .bind(&new.object_key)
        .bind(new.samples)
        .bind(millis(new.created_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn imu(&self, scene_uuid: &str) -> Result<Option<ImuRow>, StoreError> {
        Ok(sqlx::query_as::<_, ImuRow>(
            "SELECT scene_uuid, workspace_id, resource_id, object_key, samples FROM imu \
             WHERE scene_uuid = $1",
        )
        .bind(scene_uuid)
        .fetch_optional(&self.pool)
        .await?)
    }

    // --- inputs ----------------------------------------------------------------------

    /// Creates the input unless the scene is in that batch already; answers the input
    /// either way.
    pub async fn create_input(&self, new: &NewInput) -> Result<InputRow, StoreError> {
        let mut tx = self.begin_write().await?;
        insert_input(&mut tx, new).await?;
        let row = sqlx::query_as::<_, InputRow>(&format!(
            "SELECT {INPUT_COLUMNS} {INPUT_FROM} WHERE i.scene_uuid = $1 AND i.batch_id = $2"
        ))
        .bind(&new.scene_uuid)
        .bind(new.batch_id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// The input of a scene in a batch.
    pub async fn input_of(
        &self,
        scene_uuid: &str,
        batch_id: i64,
    ) -> Result<Option<InputRow>, StoreError> {
        Ok(sqlx::query_as::<_, InputRow>(&format!(
            "SELECT {INPUT_COLUMNS} {INPUT_FROM} WHERE i.scene_uuid = $1 AND i.batch_id = $2"
        ))
        .bind(scene_uuid)
        .bind(batch_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// One page of inputs matching `query`, in cursor order.
    pub async fn query_inputs(&self, query: &InputQuery) -> Result<Vec<InputRow>, StoreError> {
        if query.workspace_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = format!("SELECT {INPUT_COLUMNS} {INPUT_FROM} WHERE i.id > $1");
        let mut next = 2;
        let mut add_list = |sql: &mut String, column: &str, count: usize| {
            sql.push_str(&format!(" AND {column} IN ({})", placeholders(next, count)));
            next += count;
        };
        add_list(&mut sql, "s.workspace_id", query.workspace_ids.len());
        if let Some(uuids) = &query.scene_uuids {
            add_list(&mut sql, "i.scene_uuid", uuids.len());
        }
        if let Some(ids) = &query.external_ids {
            add_list(&mut sql, "s.external_id", ids.len());
        }
        if query.project_id.is_some() {
            sql.push_str(&format!(" AND i.project_id = ${next}"));
            next += 1;
        }
        if query.batch_id.is_some() {
            sql.push_str(&format!(" AND i.batch_id = ${next}"));
            next += 1;
        }
        sql.push_str(&format!(" ORDER BY i.id LIMIT ${next}"));
        let mut q = sqlx::query_as::<_, InputRow>(&sql).bind(query.after_id);
        for id in &query.workspace_ids {
            q = q.bind(id);
        }
        for list in [&query.scene_uuids, &query.external_ids]
            .into_iter()
            .flatten()
        {
            for value in list {
                q = q.bind(value);
            }
        }
        if let Some(id) = query.project_id {
            q = q.bind(id);
        }
        if let Some(id) = query.batch_id {
            q = q.bind(id);
        }
        Ok(q.bind(query.limit).fetch_all(&self.pool).await?)
    }
}

async fn insert_input(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    new: &NewInput,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO inputs (uuid, scene_uuid, project_id, batch_id, request_uid, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (scene_uuid, batch_id) DO NOTHING",
    )
    .bind(&new.uuid)
    .bind(&new.scene_uuid)
    .bind(new.project_id)
    .bind(new.batch_id)
    .bind(&new.request_uid)
    .bind(millis(new.created_at))
    .execute(&mut **tx)
    .await
    .map_err(map_unique)?;
    Ok(())
}

/// Reads for the pages that browse a workspace: newest first, bounded.
impl Store {
    /// The projects whose home is this workspace, oldest first.
    pub async fn workspace_projects(
        &self,
        workspace_id: &str,
    ) -> Result<Vec<ProjectRow>, StoreError> {
        Ok(sqlx::query_as::<_, ProjectRow>(&format!(
            "SELECT {PROJECT_COLUMNS} FROM projects WHERE workspace_id = $1 ORDER BY id"
        ))
        .bind(workspace_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The project with this key in this workspace.
    pub async fn workspace_project(
        &self,
        workspace_id: &str,
        project: &str,
    ) -> Result<Option<ProjectRow>, StoreError> {
        Ok(sqlx::query_as::<_, ProjectRow>(&format!(
            "SELECT {PROJECT_COLUMNS} FROM projects WHERE workspace_id = $1 AND project = $2"
        ))
        .bind(workspace_id)
        .bind(project)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The newest `limit` scenes of a workspace.
    pub async fn recent_workspace_scenes(
        &self,
        workspace_id: &str,
        limit: i64,
    ) -> Result<Vec<SceneRow>, StoreError> {
        Ok(sqlx::query_as::<_, SceneRow>(&format!(
            "SELECT {SCENE_COLUMNS} FROM scenes s JOIN workspaces w ON w.id = s.workspace_id \
             WHERE s.workspace_id = $1 ORDER BY s.created_at DESC, s.uuid LIMIT $2"
        ))
        .bind(workspace_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The newest `limit` scenes placed in a project's batches.
    pub async fn recent_project_scenes(
        &self,
        project_id: i64,
        limit: i64,
    ) -> Result<Vec<SceneRow>, StoreError> {
        Ok(sqlx::query_as::<_, SceneRow>(&format!(
            "SELECT {SCENE_COLUMNS} FROM scenes s JOIN workspaces w ON w.id = s.workspace_id \
             WHERE s.project_id = $1 ORDER BY s.created_at DESC, s.uuid LIMIT $2"
        ))
        .bind(project_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// How many scenes each batch of a project holds: `(batch id, count)`; batches
    /// without scenes are absent.
    pub async fn batch_scene_counts(&self, project_id: i64) -> Result<Vec<(i64, i64)>, StoreError> {
        Ok(sqlx::query_as::<_, (i64, i64)>(
            "SELECT batch_id, COUNT(*) FROM scenes \
             WHERE project_id = $1 AND batch_id IS NOT NULL GROUP BY batch_id",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?)
    }
}
