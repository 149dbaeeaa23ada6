//! Workspace content: projects, batches, calibrations and inputs, and what the pages
//! list of a workspace; scenes, their files and IMU data are in `scenes.rs`.
//!
//! Idempotency lives in unique constraints: a batch is unique per (project, key), a
//! scene's uuid is the `internalId` the client sends, an input is unique per (scene,
//! batch). Creating the same thing twice finds the first one instead of failing.
//! Lists of ids are bound as one placeholder each, in chunks, because the `Any` driver
//! has no array binds.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use crate::scenes::{SCENE_COLUMNS, SceneRow};
use crate::{Store, StoreError, map_unique, millis};

/// Ids bound per `IN (…)` list; far below both backends' bind limits.
pub(crate) const CHUNK: usize = 500;

pub(crate) fn time(millis: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(millis).unwrap_or_default()
}

/// `$start, $start+1, …` for `count` binds.
pub(crate) fn placeholders(start: usize, count: usize) -> String {
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

pub(crate) async fn insert_input(
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
