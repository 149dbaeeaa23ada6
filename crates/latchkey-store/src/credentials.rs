//! Credentials, their secrets, where they were used, their limits, the organization
//! policies that govern them, and the sweeps that find the ones to remind, expire or
//! disable.

use chrono::{DateTime, Utc};
use sqlx::{Any, Transaction};

use crate::rows::{
    CredentialPolicy, CredentialRow, CredentialUsage, NewCredential, NewSecret, SecretRow,
};
use crate::{Change, Store, StoreError, map_unique, millis};

/// What came of a roll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Roll {
    Rolled,
    /// The credential was deleted.
    Gone,
    /// It already has as many working secrets as the limit allows.
    TooManySecrets,
}

/// Who disables a credential, and why.
#[derive(Debug, Clone, Copy)]
pub struct Disabling<'a> {
    /// `None`: Latchkey itself (the idle policy).
    pub user_id: Option<i64>,
    pub reason: Option<&'a str>,
    /// Replaces who disabled an already disabled credential (an admin taking it over).
    pub overrides: bool,
}

const CREDENTIAL_COLUMNS: [&str; 23] = [
    "client_id",
    "user_id",
    "name",
    "scopes",
    "created_at",
    "expires_at",
    "last_used_at",
    "deleted_at",
    "workspace_ids",
    "disabled_at",
    "last_grant_at",
    "last_grant_address",
    "last_grant_user_agent",
    "last_call_at",
    "last_call_address",
    "last_call_user_agent",
    "allowed_networks",
    "rate_limit_per_minute",
    "expiry_reminded_at",
    "idle_warned_at",
    "enabled_at",
    "disabled_by_user_id",
    "disabled_reason",
];

/// The credential columns, each prefixed with `table.` when given.
fn credential_columns(table: &str) -> String {
    CREDENTIAL_COLUMNS
        .iter()
        .map(|column| {
            if table.is_empty() {
                (*column).to_owned()
            } else {
                format!("{table}.{column}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

const SECRET_COLUMNS: &str = "id, client_id, digest, prefix, created_at, expires_at, last_used_at";

const DAY_MILLIS: i64 = 24 * 3600 * 1000;

/// Whose live credentials to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialFilter {
    User(i64),
    /// Every member's of the organization: its admins' view.
    Organization(i64),
}

impl CredentialFilter {
    /// The SQL condition on `credentials c JOIN users u`, and its one parameter.
    fn condition(self) -> (&'static str, i64) {
        match self {
            CredentialFilter::User(id) => ("c.user_id = $1", id),
            CredentialFilter::Organization(id) => ("u.organization_id = $1", id),
        }
    }
}

impl Store {
    /// Creates the credential with its first secret, in one transaction. Fails with
    /// [`StoreError::Conflict`] when the client id or the secret's digest is taken.
    pub async fn create_credential(
        &self,
        new: &NewCredential,
    ) -> Result<CredentialRow, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query_as::<_, CredentialRow>(&format!(
            "INSERT INTO credentials (client_id, user_id, name, scopes, created_at, expires_at, \
             workspace_ids, allowed_networks, rate_limit_per_minute) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {}",
            credential_columns("")
        ))
        .bind(&new.client_id)
        .bind(new.user_id)
        .bind(&new.name)
        .bind(&new.scopes)
        .bind(millis(new.created_at))
        .bind(new.expires_at.map(millis))
        .bind(&new.workspace_ids)
        .bind(&new.allowed_networks)
        .bind(new.rate_limit_per_minute)
        .fetch_one(&mut *tx)
        .await
        .map_err(map_unique)?;
        insert_secret(&mut tx, &new.client_id, &new.secret).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// The credential with this client id, deleted or not.
    pub async fn credential(&self, client_id: &str) -> Result<Option<CredentialRow>, StoreError> {
        Ok(sqlx::query_as::<_, CredentialRow>(&format!(
            "SELECT {} FROM credentials WHERE client_id = $1",
            credential_columns("")
        ))
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Live (not deleted) credentials, newest first.
    pub async fn credentials(
        &self,
        filter: CredentialFilter,
    ) -> Result<Vec<CredentialRow>, StoreError> {
        let (condition, id) = filter.condition();
        Ok(sqlx::query_as::<_, CredentialRow>(&format!(
            "SELECT {} FROM credentials c JOIN users u ON u.id = c.user_id \
             WHERE {condition} AND c.deleted_at IS NULL \
             ORDER BY c.created_at DESC, c.client_id",
            credential_columns("c")
        ))
        .bind(id)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn count_live_credentials(&self, user_id: i64) -> Result<i64, StoreError> {
        let (count,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM credentials WHERE user_id = $1 AND deleted_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(count)
    }

    /// Every secret of the credential, newest first, expired ones included. Secrets made
    /// in the same millisecond (a roll right after creating) order by their expiry:
    /// the one a roll added has none, or the latest.
    pub async fn credential_secrets(&self, client_id: &str) -> Result<Vec<SecretRow>, StoreError> {
        Ok(sqlx::query_as::<_, SecretRow>(&format!(
            "SELECT {SECRET_COLUMNS} FROM credential_secrets WHERE client_id = $1 \
             ORDER BY created_at DESC, (expires_at IS NULL) DESC, expires_at DESC, id"
        ))
        .bind(client_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Every secret of the live credentials `filter` lists, in one query, each
    /// credential's newest first (the order of [`Store::credential_secrets`]).
    pub async fn secrets_of_credentials(
        &self,
        filter: CredentialFilter,
    ) -> Result<Vec<SecretRow>, StoreError> {
        let (condition, id) = filter.condition();
        let columns = SECRET_COLUMNS
            .split(", ")
            .map(|c| format!("s.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        Ok(sqlx::query_as::<_, SecretRow>(&format!(
            "SELECT {columns} FROM credential_secrets s \
             JOIN credentials c ON c.client_id = s.client_id \
             JOIN users u ON u.id = c.user_id \
             WHERE {condition} AND c.deleted_at IS NULL \
             ORDER BY s.client_id, s.created_at DESC, (s.expires_at IS NULL) DESC, \
             s.expires_at DESC, s.id"
        ))
        .bind(id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The secret with this digest, whichever credential holds it.
    pub async fn secret_by_digest(&self, digest: &str) -> Result<Option<SecretRow>, StoreError> {
        Ok(sqlx::query_as::<_, SecretRow>(&format!(
            "SELECT {SECRET_COLUMNS} FROM credential_secrets WHERE digest = $1"
        ))
        .bind(digest)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Rolls a live credential's secret: adds `new` and makes every other secret expire
    /// at `retire_at` at the latest (a secret already expiring sooner keeps its time).
    /// `false` when the credential is not live.
    pub async fn roll_secret(
        &self,
        client_id: &str,
        new: &NewSecret,
        retire_at: DateTime<Utc>,
        working_limit: Option<i64>,
    ) -> Result<Roll, StoreError> {
        let mut tx = self.begin_write().await?;
        // A write that changes nothing, to take the credential's row lock: on PostgreSQL
        // concurrent rolls of one credential then happen one after the other (each
        // retires the secret the previous one added), and a roll that waited on a
        // deletion sees the credential deleted.
        let live = sqlx::query(
            "UPDATE credentials SET deleted_at = deleted_at \
             WHERE client_id = $1 AND deleted_at IS NULL",
        )
        .bind(client_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if live == 0 {
            return Ok(Roll::Gone);
        }
        // Counted under the row lock, so concurrent rolls cannot each see room for one
        // more.
        if let Some(limit) = working_limit {
            let working: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM credential_secrets \
                 WHERE client_id = $1 AND (expires_at IS NULL OR expires_at > $2)",
            )
            .bind(client_id)
            .bind(millis(new.created_at))
            .fetch_one(&mut *tx)
            .await?;
            if working >= limit {
                return Ok(Roll::TooManySecrets);
            }
        }
        sqlx::query(
            "UPDATE credential_secrets SET expires_at = $1 \
             WHERE client_id = $2 AND (expires_at IS NULL OR expires_at > $1)",
        )
        .bind(millis(retire_at))
        .bind(client_id)
        .execute(&mut *tx)
        .await?;
        insert_secret(&mut tx, client_id, new).await?;
        self.record_change(&mut tx, Change::Credential(client_id), new.created_at)
            .await?;
        tx.commit().await?;
        Ok(Roll::Rolled)
    }

    /// Marks a live credential deleted. `false` when there is no such live credential.
    pub async fn delete_credential(
        &self,
        client_id: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let result = sqlx::query(
            "UPDATE credentials SET deleted_at = $1 WHERE client_id = $2 AND deleted_at IS NULL",
        )
        .bind(millis(at))
        .bind(client_id)
        .execute(&mut *tx)
        .await?;
        self.commit_credential_change(tx, result.rows_affected(), client_id, at)
            .await
    }

    /// Disables a live credential, keeping the time of the first disabling when it
    /// already is. `false` when there is no such live credential.
    pub async fn disable_credential(
        &self,
        client_id: &str,
        at: DateTime<Utc>,
        by: &Disabling<'_>,
    ) -> Result<bool, StoreError> {
        // An owner disabling an already disabled credential must not take over an
        // admin's disabling (which only an admin may lift): only `overrides` replaces
        // who disabled it and why.
        let mut tx = self.begin_write().await?;
        let result = sqlx::query(
            "UPDATE credentials SET \
             disabled_by_user_id = CASE WHEN disabled_at IS NULL OR $3 = 1 THEN $4 \
                 ELSE disabled_by_user_id END, \
             disabled_reason = CASE WHEN disabled_at IS NULL OR $3 = 1 THEN $5 \
                 ELSE disabled_reason END, \
             disabled_at = COALESCE(disabled_at, $1) \
             WHERE client_id = $2 AND deleted_at IS NULL",
        )
        .bind(millis(at))
        .bind(client_id)
        .bind(i64::from(by.overrides))
        .bind(by.user_id)
        .bind(by.reason)
        .execute(&mut *tx)
        .await?;
        self.commit_credential_change(tx, result.rows_affected(), client_id, at)
            .await
    }

    /// Enables a live credential again (a no-op when it is enabled); the idle clock
    /// starts over. `false` when there is no such live credential.
    pub async fn enable_credential(
        &self,
        client_id: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let result = sqlx::query(
            "UPDATE credentials SET disabled_at = NULL, idle_warned_at = NULL, \
             disabled_by_user_id = NULL, disabled_reason = NULL, \
             enabled_at = CASE WHEN disabled_at IS NULL THEN enabled_at ELSE $1 END \
             WHERE client_id = $2 AND deleted_at IS NULL",
        )
        .bind(millis(at))
        .bind(client_id)
        .execute(&mut *tx)
        .await?;
        self.commit_credential_change(tx, result.rows_affected(), client_id, at)
            .await
    }

    /// Replaces a live credential's limits. `false` when there is no such credential.
    pub async fn set_credential_limits(
        &self,
        client_id: &str,
        allowed_networks: Option<&str>,
        rate_limit_per_minute: Option<i64>,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let result = sqlx::query(
            "UPDATE credentials SET allowed_networks = $1, rate_limit_per_minute = $2 \
             WHERE client_id = $3 AND deleted_at IS NULL",
        )
        .bind(allowed_networks)
        .bind(rate_limit_per_minute)
        .bind(client_id)
        .execute(&mut *tx)
        .await?;
        self.commit_credential_change(tx, result.rows_affected(), client_id, at)
            .await
    }

    /// Ends a transaction that updated one credential row (`updated` rows): with a
    /// change in the feed when it did, rolled back when it did not. `true` when it did.
    async fn commit_credential_change(
        &self,
        mut tx: Transaction<'static, Any>,
        updated: u64,
        client_id: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        if updated != 1 {
            return Ok(false);
        }
        self.record_change(&mut tx, Change::Credential(client_id), at)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records where and when credentials were used, in one transaction; a time never
    /// moves backwards. A use also ends an idle warning.
    pub async fn record_usage(&self, uses: &[(String, CredentialUsage)]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for (client_id, usage) in uses {
            for (kind, used) in [("grant", &usage.grant), ("call", &usage.call)] {
                let Some(used) = used else { continue };
                sqlx::query(&format!(
                    "UPDATE credentials SET last_{kind}_at = $1, last_{kind}_address = $2, \
                     last_{kind}_user_agent = $3, idle_warned_at = NULL, \
                     last_used_at = CASE WHEN last_used_at IS NULL OR last_used_at < $1 \
                         THEN $1 ELSE last_used_at END \
                     WHERE client_id = $4 AND (last_{kind}_at IS NULL OR last_{kind}_at < $1)"
                ))
                .bind(millis(used.at))
                .bind(&used.address)
                .bind(&used.user_agent)
                .bind(client_id)
                .execute(&mut *tx)
                .await?;
            }
            for (secret_id, at) in &usage.secrets {
                sqlx::query(
                    "UPDATE credential_secrets SET last_used_at = $1 \
                     WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)",
                )
                .bind(millis(*at))
                .bind(secret_id)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    // --- policies and preferences ----------------------------------------------------

    pub async fn credential_policy(
        &self,
        organization_id: i64,
    ) -> Result<Option<CredentialPolicy>, StoreError> {
        Ok(sqlx::query_as::<_, CredentialPolicy>(
            "SELECT default_credential_lifetime_days, max_credential_lifetime_days, \
             idle_disable_days FROM organizations WHERE id = $1",
        )
        .bind(organization_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// `false` when there is no such organization.
    pub async fn set_credential_policy(
        &self,
        organization_id: i64,
        policy: &CredentialPolicy,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE organizations SET default_credential_lifetime_days = $1, \
             max_credential_lifetime_days = $2, idle_disable_days = $3 WHERE id = $4",
        )
        .bind(policy.default_credential_lifetime_days)
        .bind(policy.max_credential_lifetime_days)
        .bind(policy.idle_disable_days)
        .bind(organization_id)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    pub async fn set_expiry_reminder_days(
        &self,
        user_id: i64,
        days: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET expiry_reminder_days = $1 WHERE id = $2")
            .bind(days)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // --- sweeps ------------------------------------------------------------------------

    /// Live, enabled credentials whose expiry is within their owner's reminder lead
    /// time and who have not been reminded.
    pub async fn credentials_due_reminder(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<CredentialRow>, StoreError> {
        Ok(sqlx::query_as::<_, CredentialRow>(&format!(
            "SELECT {} FROM credentials c JOIN users u ON u.id = c.user_id \
             WHERE c.deleted_at IS NULL AND c.disabled_at IS NULL \
             AND c.expiry_reminded_at IS NULL AND c.expires_at > $1 \
             AND c.expires_at - u.expiry_reminder_days * {DAY_MILLIS} <= $1",
            credential_columns("c")
        ))
        .bind(millis(now))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Live credentials that have expired and whose expiry was not yet announced.
    pub async fn credentials_newly_expired(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<CredentialRow>, StoreError> {
        Ok(sqlx::query_as::<_, CredentialRow>(&format!(
            "SELECT {} FROM credentials WHERE deleted_at IS NULL \
             AND expiry_announced_at IS NULL AND expires_at <= $1",
            credential_columns("")
        ))
        .bind(millis(now))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Live, enabled credentials of organizations with an idle policy, unused (since
    /// created, last used or last enabled again) for at least `idle days - warn_days`,
    /// with the organization's idle days.
    pub async fn idle_credentials(
        &self,
        now: DateTime<Utc>,
        warn_days: i64,
    ) -> Result<Vec<(CredentialRow, i64)>, StoreError> {
        let rows = sqlx::query_as::<_, IdleCredentialRow>(&format!(
            "SELECT {}, o.idle_disable_days AS idle_days FROM credentials c \
             JOIN users u ON u.id = c.user_id JOIN organizations o ON o.id = u.organization_id \
             WHERE c.deleted_at IS NULL AND c.disabled_at IS NULL \
             AND o.idle_disable_days IS NOT NULL \
             AND COALESCE(c.last_used_at, c.created_at) \
                 + (o.idle_disable_days - $2) * {DAY_MILLIS} <= $1 \
             AND (c.enabled_at IS NULL \
                 OR c.enabled_at + (o.idle_disable_days - $2) * {DAY_MILLIS} <= $1)",
            credential_columns("c")
        ))
        .bind(millis(now))
        .bind(warn_days)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| (row.credential, row.idle_days))
            .collect())
    }

    /// Sets a once-only marker (`expiry_reminded_at`, `expiry_announced_at`,
    /// `idle_warned_at`); `true` for the one caller, on any replica, that set it.
    pub async fn mark_credential(
        &self,
        client_id: &str,
        marker: CredentialMarker,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let column = marker.column();
        let result = sqlx::query(&format!(
            "UPDATE credentials SET {column} = $1 WHERE client_id = $2 AND {column} IS NULL"
        ))
        .bind(millis(at))
        .bind(client_id)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }
}

#[derive(sqlx::FromRow)]
struct IdleCredentialRow {
    #[sqlx(flatten)]
    credential: CredentialRow,
    idle_days: i64,
}

/// The once-only notices a credential can receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialMarker {
    ExpiryReminded,
    ExpiryAnnounced,
    IdleWarned,
}

impl CredentialMarker {
    fn column(self) -> &'static str {
        match self {
            CredentialMarker::ExpiryReminded => "expiry_reminded_at",
            CredentialMarker::ExpiryAnnounced => "expiry_announced_at",
            CredentialMarker::IdleWarned => "idle_warned_at",
        }
    }
}

async fn insert_secret(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    client_id: &str,
    secret: &NewSecret,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO credential_secrets (id, client_id, digest, prefix, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&secret.id)
    .bind(client_id)
    .bind(&secret.digest)
    .bind(&secret.prefix)
    .bind(millis(secret.created_at))
    .bind(secret.expires_at.map(millis))
    .execute(&mut **tx)
    .await
    .map_err(map_unique)?;
    Ok(())
}
