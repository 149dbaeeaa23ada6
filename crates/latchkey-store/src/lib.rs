//! Latchkey's persistence: one [`Store`] over SQLite (the embedded default) and
//! PostgreSQL (`DATABASE_URL=postgres://…`).
//!
//! Both backends run the same query text through sqlx's `Any` driver: placeholders are
//! `$1…`, times are `BIGINT` milliseconds, flags are `BIGINT` 0/1. The backend is
//! chosen once, in [`Store::connect`], which also picks the migration set of that
//! backend and runs it. This is the only crate that knows SQL.

mod audit;
mod changes;
mod content;
mod credentials;
mod events;
mod rows;
mod scenes;
mod tenancy;
mod usage;

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, Executor, Transaction};

pub(crate) const USER_COLUMNS: &str = "id, email, name, password_hash, is_admin, created_at, \
     organization_id, organization_role, expiry_reminder_days";

pub use audit::{
    AUDIT_DEFAULT_LIMIT, AUDIT_MAX_LIMIT, AuditEventRow, AuditPage, AuditQuery, AuditVisibility,
    NewAuditEvent,
};
pub(crate) use changes::Change;
pub use changes::{ChangeListener, ChangeRow, FeedChange};
pub use content::{
    BatchRow, CalibrationRow, InputQuery, InputRow, NewCalibration, NewInput, NewProject,
    ProjectRow,
};
pub use credentials::{CredentialFilter, CredentialMarker, Disabling, Roll};
pub use events::{
    DeliveryOutcome, EmailRow, NewEmail, NewNotification, NewWebhookDelivery, NewWebhookEndpoint,
    NotificationRow, WebhookDeliveryRow, WebhookEndpointRow,
};
pub use rows::{
    CredentialPolicy, CredentialRow, CredentialUsage, MemberRow, NewCredential, NewSecret,
    NewSession, NewUser, NewWorkspace, OrganizationRow, SecretRow, SessionRow, SigningKeyRow, Use,
    UserRow, WorkspaceRow,
};
pub use scenes::{ImuRow, NewImu, NewScene, NewSceneFile, SceneFileRow, SceneRow, UploadTarget};
pub use usage::UsageCount;

/// What a revocation row revokes: one token, or every token of a grant.
#[derive(Debug, Clone, Copy)]
enum Revoked {
    Token,
    Grant,
}

impl Revoked {
    /// Its table and id column.
    fn table(self) -> (&'static str, &'static str) {
        match self {
            Revoked::Token => ("revoked_tokens", "jti"),
            Revoked::Grant => ("revoked_grants", "grant_id"),
        }
    }
}

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// Everything that can go wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write (a duplicate email, say).
    #[error("a record with the same unique key already exists")]
    Conflict,
    #[error("`{0}` is not a supported database URL; use sqlite://… or postgres://…")]
    UnsupportedUrl(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Whether the database could not be reached (down, restarting, no free connection
    /// in time) rather than refusing what was asked: worth retrying shortly.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Database(error) => match error {
                sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::Protocol(_) => true,
                // SQLSTATE class 08 (connection exception) and 57P0x (the server is
                // shutting down, starting up or restarting).
                sqlx::Error::Database(db) => db
                    .code()
                    .is_some_and(|code| code.starts_with("08") || code.starts_with("57P0")),
                _ => false,
            },
            StoreError::Conflict | StoreError::UnsupportedUrl(_) | StoreError::Migration(_) => {
                false
            }
        }
    }
}

pub(crate) fn map_unique(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
        _ => StoreError::Database(error),
    }
}

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a database URL names.
    pub fn of_url(url: &str) -> Result<Backend, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            let scheme = url.split(':').next().unwrap_or_default();
            Err(StoreError::UnsupportedUrl(format!("{scheme}:…")))
        }
    }
}

/// The handle to the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    backend: Backend,
    /// PostgreSQL's URL, for the change feed's listener connection.
    listen_url: Option<DatabaseUrl>,
}

/// A database URL, which may hold a password: its `Debug` prints none of it.
#[derive(Clone)]
pub(crate) struct DatabaseUrl(std::sync::Arc<str>);

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DatabaseUrl(…)")
    }
}

pub(crate) fn millis(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

impl Store {
    /// Connects to `url` (`sqlite://path?mode=rwc` or `postgres://…`) and brings the
    /// schema up to date.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        install_default_drivers();
        let backend = Backend::of_url(url)?;
        // While the database is down, a request waits this long for it and is then
        // answered 503, rather than holding its client for the TCP timeout.
        let options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(2));
        let pool = match backend {
            // WAL lets readers proceed while one writer commits; the busy timeout makes a
            // second writer wait instead of failing with SQLITE_BUSY.
            Backend::Sqlite => {
                options
                    .max_connections(8)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; \
                                 PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect(url)
                    .await?
            }
            Backend::Postgres => options.max_connections(16).connect(url).await?,
        };
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        let listen_url = (backend == Backend::Postgres).then(|| DatabaseUrl(url.into()));
        Ok(Store {
            pool,
            backend,
            listen_url,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the database answers; for `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Waits for in-flight queries and closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Begins a transaction that writes; every write transaction starts here.
    ///
    /// On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`) and so waits its
    /// turn on the busy timeout. A plain (deferred) transaction that reads and then
    /// writes cannot wait: when another connection wrote in between, SQLite fails the
    /// write at once with `SQLITE_BUSY` ("database is locked"), which concurrent rolls
    /// met as a 500. PostgreSQL's row locks make writers wait without help.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Any>, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    // --- users ---------------------------------------------------------------------

    /// Fails with [`StoreError::Conflict`] when the email is taken.
    pub async fn create_user(&self, new: &NewUser) -> Result<UserRow, StoreError> {
        sqlx::query_as::<_, UserRow>(&format!(
            "INSERT INTO users \
             (email, name, password_hash, is_admin, created_at, organization_id, organization_role) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {USER_COLUMNS}"
        ))
        .bind(&new.email)
        .bind(&new.name)
        .bind(&new.password_hash)
        .bind(i64::from(new.is_admin))
        .bind(millis(new.created_at))
        .bind(new.organization.map(|(id, _)| id))
        .bind(new.organization.map(|(_, role)| role.to_owned()))
        .fetch_one(&self.pool)
        .await
        .map_err(map_unique)
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRow>, StoreError> {
        Ok(sqlx::query_as::<_, UserRow>(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
        ))
        .bind(email)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn user_by_id(&self, id: i64) -> Result<Option<UserRow>, StoreError> {
        Ok(
            sqlx::query_as::<_, UserRow>(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?,
        )
    }

    pub async fn list_users(&self) -> Result<Vec<UserRow>, StoreError> {
        Ok(
            sqlx::query_as::<_, UserRow>(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY id"))
                .fetch_all(&self.pool)
                .await?,
        )
    }

    pub async fn count_users(&self) -> Result<i64, StoreError> {
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?;
        Ok(count)
    }

    // --- sessions ------------------------------------------------------------------

    pub async fn create_session(&self, new: &NewSession) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (token_digest, user_id, csrf_token, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&new.token_digest)
        .bind(new.user_id)
        .bind(&new.csrf_token)
        .bind(millis(new.created_at))
        .bind(millis(new.expires_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The unexpired session with this token digest, with its user.
    pub async fn session(
        &self,
        token_digest: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(SessionRow, UserRow)>, StoreError> {
        let Some(session) = sqlx::query_as::<_, SessionRow>(
            "SELECT token_digest, user_id, csrf_token, created_at, expires_at FROM sessions \
             WHERE token_digest = $1 AND expires_at > $2",
        )
        .bind(token_digest)
        .bind(millis(now))
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        Ok(self
            .user_by_id(session.user_id)
            .await?
            .map(|user| (session, user)))
    }

    pub async fn delete_session(&self, token_digest: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_digest = $1")
            .bind(token_digest)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(millis(now))
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    /// The connection pool's open connections and how many of them are idle.
    pub fn pool_use(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    // --- signing keys --------------------------------------------------------------

    /// All signing keys, newest first.
    pub async fn signing_keys(&self) -> Result<Vec<SigningKeyRow>, StoreError> {
        Ok(sqlx::query_as::<_, SigningKeyRow>(
            "SELECT kid, private_key_pkcs8, created_at FROM signing_keys \
             ORDER BY created_at DESC, kid",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn insert_signing_key(&self, key: &SigningKeyRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, private_key_pkcs8, created_at) VALUES ($1, $2, $3)",
        )
        .bind(&key.kid)
        .bind(&key.private_key_pkcs8)
        .bind(key.created_at)
        .execute(&self.pool)
        .await
        .map_err(map_unique)?;
        Ok(())
    }

    /// Deletes every key that a newer key, created at or before `successor_before`
    /// (milliseconds), replaced; the number deleted. The newest key always stays.
    pub async fn delete_replaced_signing_keys(
        &self,
        successor_before: i64,
    ) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "DELETE FROM signing_keys WHERE EXISTS (SELECT 1 FROM signing_keys newer \
             WHERE newer.created_at > signing_keys.created_at AND newer.created_at <= $1)",
        )
        .bind(successor_before)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Replaces a key's stored private key with `new` if it still is `old` (encrypting
    /// a plain one); `false` when another replica already did.
    pub async fn replace_signing_key(
        &self,
        kid: &str,
        old: &str,
        new: &str,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE signing_keys SET private_key_pkcs8 = $1 \
             WHERE kid = $2 AND private_key_pkcs8 = $3",
        )
        .bind(new)
        .bind(kid)
        .bind(old)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    // --- revoked tokens ------------------------------------------------------------

    /// Records a revoked token id and tells every replica; revoking twice is not an
    /// error (RFC 7009 §2.2).
    pub async fn revoke_token(
        &self,
        jti: &str,
        client_id: &str,
        expires_at: DateTime<Utc>,
        revoked_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.revoke(Revoked::Token, jti, client_id, expires_at, revoked_at)
            .await
    }

    /// Every revoked token id that has not yet expired at `now`, with its expiry.
    pub async fn revoked_tokens(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        self.unexpired_revocations(Revoked::Token, now).await
    }

    // --- refresh-token grants ------------------------------------------------------

    /// Marks a refresh token redeemed. `false` when it already was: the caller lost a
    /// race or replays a spent token, and either way must not get new tokens.
    pub async fn spend_refresh_token(
        &self,
        jti: &str,
        grant_id: &str,
        client_id: &str,
        expires_at: DateTime<Utc>,
        spent_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "INSERT INTO spent_refresh_tokens (jti, grant_id, client_id, expires_at, spent_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(jti)
        .bind(grant_id)
        .bind(client_id)
        .bind(millis(expires_at))
        .bind(millis(spent_at))
        .execute(&self.pool)
        .await;
        match result.map_err(map_unique) {
            Ok(_) => Ok(true),
            Err(StoreError::Conflict) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// Whether a refresh token was redeemed already.
    pub async fn refresh_token_spent(&self, jti: &str) -> Result<bool, StoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT jti FROM spent_refresh_tokens WHERE jti = $1")
                .bind(jti)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.is_some())
    }

    /// Records a revoked grant and tells every replica; revoking twice is not an error.
    pub async fn revoke_grant(
        &self,
        grant_id: &str,
        client_id: &str,
        expires_at: DateTime<Utc>,
        revoked_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.revoke(Revoked::Grant, grant_id, client_id, expires_at, revoked_at)
            .await
    }

    /// Every revoked grant id whose tokens have not all expired at `now`, with the
    /// expiry of its last token.
    pub async fn revoked_grants(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        self.unexpired_revocations(Revoked::Grant, now).await
    }

    /// Records a revoked token or grant, and the change in the feed when it is new.
    async fn revoke(
        &self,
        revoked: Revoked,
        id: &str,
        client_id: &str,
        expires_at: DateTime<Utc>,
        revoked_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (table, column) = revoked.table();
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(&format!(
            "INSERT INTO {table} ({column}, client_id, expires_at, revoked_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT ({column}) DO NOTHING"
        ))
        .bind(id)
        .bind(client_id)
        .bind(millis(expires_at))
        .bind(millis(revoked_at))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 1 {
            let change = match revoked {
                Revoked::Token => Change::Token(id),
                Revoked::Grant => Change::Grant(id),
            };
            self.record_change(&mut tx, change, revoked_at).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn unexpired_revocations(
        &self,
        revoked: Revoked,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        let (table, column) = revoked.table();
        let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
            "SELECT {column}, expires_at FROM {table} WHERE expires_at > $1"
        ))
        .bind(millis(now))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, exp)| DateTime::from_timestamp_millis(exp).map(|e| (id, e)))
            .collect())
    }

    /// Forgets revoked tokens and grants and spent refresh tokens that have expired
    /// anyway; the number of rows deleted.
    pub async fn delete_expired_revocations(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut deleted = 0;
        for statement in [
            "DELETE FROM revoked_tokens WHERE expires_at <= $1",
            "DELETE FROM revoked_grants WHERE expires_at <= $1",
            "DELETE FROM spent_refresh_tokens WHERE expires_at <= $1",
        ] {
            deleted += sqlx::query(statement)
                .bind(millis(now))
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        Ok(deleted)
    }
}
