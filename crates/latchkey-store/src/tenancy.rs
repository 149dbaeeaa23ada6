//! Organizations, workspaces, memberships and one-time password links.

use chrono::{DateTime, Utc};

use crate::rows::{MemberRow, NewWorkspace, OrganizationRow, UserRow, WorkspaceRow};
use crate::{Change, Store, StoreError, USER_COLUMNS, map_unique, millis};

const WORKSPACE_COLUMNS: &str = "id, organization_id, name, external_id, created_at";

impl Store {
    /// Fails with [`StoreError::Conflict`] when the name is taken.
    pub async fn create_organization(
        &self,
        name: &str,
        at: DateTime<Utc>,
    ) -> Result<OrganizationRow, StoreError> {
        sqlx::query_as::<_, OrganizationRow>(
            "INSERT INTO organizations (name, created_at) VALUES ($1, $2) \
             RETURNING id, name, created_at",
        )
        .bind(name)
        .bind(millis(at))
        .fetch_one(&self.pool)
        .await
        .map_err(map_unique)
    }

    pub async fn organization(&self, id: i64) -> Result<Option<OrganizationRow>, StoreError> {
        Ok(sqlx::query_as::<_, OrganizationRow>(
            "SELECT id, name, created_at FROM organizations WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn organizations(&self) -> Result<Vec<OrganizationRow>, StoreError> {
        Ok(sqlx::query_as::<_, OrganizationRow>(
            "SELECT id, name, created_at FROM organizations ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn users_of_organization(
        &self,
        organization_id: i64,
    ) -> Result<Vec<UserRow>, StoreError> {
        Ok(sqlx::query_as::<_, UserRow>(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE organization_id = $1 ORDER BY id"
        ))
        .bind(organization_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Fails with [`StoreError::Conflict`] when the id is taken.
    pub async fn create_workspace(&self, new: &NewWorkspace) -> Result<WorkspaceRow, StoreError> {
        sqlx::query_as::<_, WorkspaceRow>(&format!(
            "INSERT INTO workspaces (id, organization_id, name, external_id, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {WORKSPACE_COLUMNS}"
        ))
        .bind(&new.id)
        .bind(new.organization_id)
        .bind(&new.name)
        .bind(&new.external_id)
        .bind(millis(new.created_at))
        .fetch_one(&self.pool)
        .await
        .map_err(map_unique)
    }

    pub async fn workspace(&self, id: &str) -> Result<Option<WorkspaceRow>, StoreError> {
        Ok(sqlx::query_as::<_, WorkspaceRow>(&format!(
            "SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Every workspace, or those of one organization, oldest first.
    pub async fn workspaces(
        &self,
        organization_id: Option<i64>,
    ) -> Result<Vec<WorkspaceRow>, StoreError> {
        let query = match organization_id {
            Some(_) => format!(
                "SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE organization_id = $1 \
                 ORDER BY created_at, id"
            ),
            None => format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces ORDER BY created_at, id"),
        };
        let mut query = sqlx::query_as::<_, WorkspaceRow>(&query);
        if let Some(id) = organization_id {
            query = query.bind(id);
        }
        Ok(query.fetch_all(&self.pool).await?)
    }

    /// The user's role in each workspace they are a member of: `(workspace id, role)`.
    pub async fn workspace_roles(&self, user_id: i64) -> Result<Vec<(String, String)>, StoreError> {
        Ok(sqlx::query_as::<_, (String, String)>(
            "SELECT workspace_id, role FROM workspace_members WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn workspace_members(
        &self,
        workspace_id: &str,
    ) -> Result<Vec<MemberRow>, StoreError> {
        Ok(sqlx::query_as::<_, MemberRow>(
            "SELECT m.workspace_id, m.user_id, u.email, u.name, m.role \
             FROM workspace_members m JOIN users u ON u.id = m.user_id \
             WHERE m.workspace_id = $1 ORDER BY u.email",
        )
        .bind(workspace_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Adds a member or changes their role, and tells every replica.
    pub async fn set_workspace_member(
        &self,
        workspace_id: &str,
        user_id: i64,
        role: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO workspace_members (workspace_id, user_id, role) VALUES ($1, $2, $3) \
             ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = excluded.role",
        )
        .bind(workspace_id)
        .bind(user_id)
        .bind(role)
        .execute(&mut *tx)
        .await?;
        self.record_change(&mut tx, Change::User(user_id), at)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes a member and tells every replica. `false` when the user was not a member.
    pub async fn remove_workspace_member(
        &self,
        workspace_id: &str,
        user_id: i64,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let result =
            sqlx::query("DELETE FROM workspace_members WHERE workspace_id = $1 AND user_id = $2")
                .bind(workspace_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        if result.rows_affected() != 1 {
            return Ok(false);
        }
        self.record_change(&mut tx, Change::User(user_id), at)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn create_password_link(
        &self,
        token_digest: &str,
        user_id: i64,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO password_links (token_digest, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(token_digest)
        .bind(user_id)
        .bind(millis(at))
        .bind(millis(expires_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The user a valid, unused link is for.
    pub async fn password_link_user(
        &self,
        token_digest: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<UserRow>, StoreError> {
        Ok(sqlx::query_as::<_, UserRow>(&format!(
            "SELECT {} FROM users u JOIN password_links l ON l.user_id = u.id \
             WHERE l.token_digest = $1 AND l.used_at IS NULL AND l.expires_at > $2",
            USER_COLUMNS
                .split(", ")
                .map(|c| format!("u.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .bind(token_digest)
        .bind(millis(now))
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Uses a link once: sets the password of its user and ends every session of
    /// theirs, so whoever signed in with the old password is signed out. `false` when
    /// the link is unknown, used or expired (nothing changes then).
    pub async fn use_password_link(
        &self,
        token_digest: &str,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let claimed: Option<(i64,)> = sqlx::query_as(
            "UPDATE password_links SET used_at = $1 \
             WHERE token_digest = $2 AND used_at IS NULL AND expires_at > $1 RETURNING user_id",
        )
        .bind(millis(now))
        .bind(token_digest)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((user_id,)) = claimed else {
            return Ok(false);
        };
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        self.record_change(&mut tx, Change::User(user_id), now)
            .await?;
        tx.commit().await?;
        Ok(true)
    }
}
