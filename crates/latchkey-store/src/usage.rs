//! Hourly usage counters of credentials: how many token grants, API calls and refusals
//! (by reason) each hour saw. The server counts in memory and adds its counts here in
//! one transaction, so several replicas add up instead of overwriting each other.

use chrono::{DateTime, Utc};

use crate::{Store, StoreError, millis};

/// One counter of one credential in one hour.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UsageCount {
    pub client_id: String,
    /// The hour's start, in Unix milliseconds.
    pub hour: i64,
    /// `grant`, `call` or `refused_<reason>`: the server's names.
    pub kind: String,
    pub count: i64,
}

impl Store {
    /// Adds `counts` to the stored ones.
    pub async fn add_usage_counts(&self, counts: &[UsageCount]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for c in counts {
            sqlx::query(
                "INSERT INTO credential_usage_hours (client_id, hour, kind, count) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (client_id, hour, kind) \
                 DO UPDATE SET count = credential_usage_hours.count + excluded.count",
            )
            .bind(&c.client_id)
            .bind(c.hour)
            .bind(&c.kind)
            .bind(c.count)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The counters of `client_id` from the hour of `since` on, oldest first.
    pub async fn usage_counts(
        &self,
        client_id: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<UsageCount>, StoreError> {
        Ok(sqlx::query_as::<_, UsageCount>(
            "SELECT client_id, hour, kind, count FROM credential_usage_hours \
             WHERE client_id = $1 AND hour >= $2 ORDER BY hour, kind",
        )
        .bind(client_id)
        .bind(millis(since))
        .fetch_all(&self.pool)
        .await?)
    }
}
