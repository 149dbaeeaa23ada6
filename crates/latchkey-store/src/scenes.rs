//! Scenes: their ids, the scenes themselves with their files and upload tokens, commit
//! and invalidation, and IMU data. A scene's uuid is the `internalId` the client sends,
//! so creating the same scene twice finds the first one.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use crate::content::{CHUNK, NewInput, insert_input, placeholders, time};
use crate::{Store, StoreError, map_unique, millis};

pub(crate) const SCENE_COLUMNS: &str = "s.uuid, s.workspace_id, w.organization_id, s.external_id, \
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

impl Store {
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
}
