//! The outboxes of lifecycle events: webhook endpoints and their deliveries, in-app
//! notifications, and emails waiting to be sent.
//!
//! A due delivery or email is claimed with one `UPDATE … WHERE status = 'pending' AND
//! next_attempt_at <= now AND (not locked)`: on PostgreSQL a second replica's update of
//! the same row waits for the first and then finds the lock taken; SQLite serialises
//! writers. Either way exactly one replica sends it, and a replica that dies while
//! sending leaves a lock that expires.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use crate::{Store, StoreError, millis};

fn time(millis: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(millis).unwrap_or_default()
}

const ENDPOINT_COLUMNS: &str =
    "id, organization_id, url, signing_secret, event_types, created_by, created_at";
const DELIVERY_COLUMNS: &str = "id, endpoint_id, event_id, event_type, payload, status, \
     attempts, next_attempt_at, last_response_status, last_error, created_at, delivered_at";
const NOTIFICATION_COLUMNS: &str =
    "id, user_id, kind, client_id, title, body, created_at, dismissed_at";
const EMAIL_COLUMNS: &str = "id, recipient, subject, body, attempts";

#[derive(Debug, Clone, FromRow)]
pub struct WebhookEndpointRow {
    pub id: String,
    pub organization_id: i64,
    pub url: String,
    /// Encrypted with the key-encryption key (`v1:…`); the plain `whsec_…` only in rows
    /// written before encryption, until the next start encrypts them.
    pub signing_secret: String,
    /// Space-separated event types; `None`: every type.
    pub event_types: Option<String>,
    pub created_by: Option<i64>,
    created_at: i64,
}

impl WebhookEndpointRow {
    pub fn created_at(&self) -> DateTime<Utc> {
        time(self.created_at)
    }
}

#[derive(Debug, Clone)]
pub struct NewWebhookEndpoint {
    pub id: String,
    pub organization_id: i64,
    pub url: String,
    /// Already encrypted with the key-encryption key.
    pub signing_secret: String,
    pub event_types: Option<String>,
    pub created_by: i64,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, FromRow)]
pub struct WebhookDeliveryRow {
    pub id: String,
    pub endpoint_id: String,
    pub event_id: String,
    pub event_type: String,
    pub payload: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    next_attempt_at: i64,
    pub last_response_status: Option<i64>,
    pub last_error: Option<String>,
    created_at: i64,
    delivered_at: Option<i64>,
}

impl WebhookDeliveryRow {
    pub fn next_attempt_at(&self) -> DateTime<Utc> {
        time(self.next_attempt_at)
    }

    pub fn created_at(&self) -> DateTime<Utc> {
        time(self.created_at)
    }

    pub fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.delivered_at.map(time)
    }
}

#[derive(Debug, Clone)]
pub struct NewWebhookDelivery {
    pub id: String,
    pub endpoint_id: String,
    pub event_id: String,
    pub event_type: String,
    pub payload: String,
    pub created_at: DateTime<Utc>,
}

/// What one delivery attempt came to.
#[derive(Debug, Clone)]
pub struct DeliveryOutcome {
    /// `pending` (to be retried at `next_attempt_at`), `delivered` or `failed`.
    pub status: &'static str,
    pub next_attempt_at: DateTime<Utc>,
    pub response_status: Option<u16>,
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, FromRow)]
pub struct NotificationRow {
    pub id: String,
    pub user_id: i64,
    pub kind: String,
    pub client_id: Option<String>,
    pub title: String,
    pub body: String,
    created_at: i64,
    dismissed_at: Option<i64>,
}

impl NotificationRow {
    pub fn created_at(&self) -> DateTime<Utc> {
        time(self.created_at)
    }

    pub fn dismissed_at(&self) -> Option<DateTime<Utc>> {
        self.dismissed_at.map(time)
    }
}

#[derive(Debug, Clone)]
pub struct NewNotification {
    pub id: String,
    pub user_id: i64,
    pub kind: String,
    pub client_id: Option<String>,
    pub title: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

/// A claimed email: what the sender needs.
#[derive(Debug, Clone, FromRow)]
pub struct EmailRow {
    pub id: String,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    /// Attempts so far, this one included.
    pub attempts: i64,
}

#[derive(Debug, Clone)]
pub struct NewEmail {
    pub id: String,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

impl Store {
    // --- webhook endpoints ---------------------------------------------------------

    pub async fn create_webhook_endpoint(
        &self,
        new: &NewWebhookEndpoint,
    ) -> Result<WebhookEndpointRow, StoreError> {
        Ok(sqlx::query_as::<_, WebhookEndpointRow>(&format!(
            "INSERT INTO webhook_endpoints \
             (id, organization_id, url, signing_secret, event_types, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {ENDPOINT_COLUMNS}"
        ))
        .bind(&new.id)
        .bind(new.organization_id)
        .bind(&new.url)
        .bind(&new.signing_secret)
        .bind(&new.event_types)
        .bind(new.created_by)
        .bind(millis(new.created_at))
        .fetch_one(&self.pool)
        .await?)
    }

    /// The endpoints of one organization, oldest first.
    pub async fn webhook_endpoints(
        &self,
        organization_id: i64,
    ) -> Result<Vec<WebhookEndpointRow>, StoreError> {
        Ok(sqlx::query_as::<_, WebhookEndpointRow>(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE organization_id = $1 \
             ORDER BY created_at, id"
        ))
        .bind(organization_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The endpoint `id` if it belongs to `organization_id`.
    pub async fn webhook_endpoint(
        &self,
        organization_id: i64,
        id: &str,
    ) -> Result<Option<WebhookEndpointRow>, StoreError> {
        Ok(sqlx::query_as::<_, WebhookEndpointRow>(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints \
             WHERE id = $1 AND organization_id = $2"
        ))
        .bind(id)
        .bind(organization_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The endpoint `id`, whatever its organization; for the delivery worker.
    pub async fn webhook_endpoint_by_id(
        &self,
        id: &str,
    ) -> Result<Option<WebhookEndpointRow>, StoreError> {
        Ok(sqlx::query_as::<_, WebhookEndpointRow>(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Every endpoint's id and stored signing secret, whatever its organization; for
    /// checking and encrypting them at start.
    pub async fn webhook_signing_secrets(&self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT id, signing_secret FROM webhook_endpoints ORDER BY id")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Replaces an endpoint's stored signing secret with `new` if it still is `old`;
    /// `false` when another replica already did.
    pub async fn replace_webhook_signing_secret(
        &self,
        id: &str,
        old: &str,
        new: &str,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE webhook_endpoints SET signing_secret = $1 WHERE id = $2 AND signing_secret = $3",
        )
        .bind(new)
        .bind(id)
        .bind(old)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    /// Deletes the endpoint and its deliveries; `false` when there was none in this
    /// organization.
    pub async fn delete_webhook_endpoint(
        &self,
        organization_id: i64,
        id: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        // Deleted explicitly rather than through the foreign key's cascade, which SQLite
        // honours only with `foreign_keys` on for the connection.
        sqlx::query(
            "DELETE FROM webhook_deliveries WHERE endpoint_id IN \
             (SELECT id FROM webhook_endpoints WHERE id = $1 AND organization_id = $2)",
        )
        .bind(id)
        .bind(organization_id)
        .execute(&mut *tx)
        .await?;
        let deleted =
            sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1 AND organization_id = $2")
                .bind(id)
                .bind(organization_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        tx.commit().await?;
        Ok(deleted > 0)
    }

    // --- webhook deliveries --------------------------------------------------------

    /// Queues deliveries, due at once.
    pub async fn queue_webhook_deliveries(
        &self,
        deliveries: &[NewWebhookDelivery],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for new in deliveries {
            sqlx::query(
                "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, \
                 payload, status, attempts, next_attempt_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6)",
            )
            .bind(&new.id)
            .bind(&new.endpoint_id)
            .bind(&new.event_id)
            .bind(&new.event_type)
            .bind(&new.payload)
            .bind(millis(new.created_at))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Claims one due delivery for this replica until `locked_until`, counting the
    /// attempt; `None` when nothing is due or another replica won the row.
    pub async fn claim_webhook_delivery(
        &self,
        now: DateTime<Utc>,
        locked_until: DateTime<Utc>,
    ) -> Result<Option<WebhookDeliveryRow>, StoreError> {
        Ok(sqlx::query_as::<_, WebhookDeliveryRow>(&format!(
            "UPDATE webhook_deliveries SET locked_until = $2, attempts = attempts + 1 \
             WHERE id = (SELECT id FROM webhook_deliveries WHERE status = 'pending' \
                 AND next_attempt_at <= $1 AND (locked_until IS NULL OR locked_until <= $1) \
                 ORDER BY next_attempt_at, id LIMIT 1) \
             AND status = 'pending' AND next_attempt_at <= $1 \
             AND (locked_until IS NULL OR locked_until <= $1) \
             RETURNING {DELIVERY_COLUMNS}"
        ))
        .bind(millis(now))
        .bind(millis(locked_until))
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Records the outcome of the attempt this replica claimed, and releases the row.
    pub async fn finish_webhook_delivery(
        &self,
        id: &str,
        outcome: &DeliveryOutcome,
    ) -> Result<(), StoreError> {
        let delivered_at = (outcome.status == "delivered").then(|| millis(outcome.at));
        sqlx::query(
            "UPDATE webhook_deliveries SET status = $2, next_attempt_at = $3, \
             last_response_status = $4, last_error = $5, \
             delivered_at = COALESCE($6, delivered_at), locked_until = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(outcome.status)
        .bind(millis(outcome.next_attempt_at))
        .bind(outcome.response_status.map(i64::from))
        .bind(&outcome.error)
        .bind(delivered_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The endpoint's most recent deliveries, newest first.
    pub async fn webhook_deliveries(
        &self,
        endpoint_id: &str,
        limit: i64,
    ) -> Result<Vec<WebhookDeliveryRow>, StoreError> {
        Ok(sqlx::query_as::<_, WebhookDeliveryRow>(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE endpoint_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT $2"
        ))
        .bind(endpoint_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Queues the delivery `id` of the endpoint again, due `now`, whatever its status;
    /// `None` when the endpoint has no such delivery.
    pub async fn requeue_webhook_delivery(
        &self,
        endpoint_id: &str,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<WebhookDeliveryRow>, StoreError> {
        Ok(sqlx::query_as::<_, WebhookDeliveryRow>(&format!(
            "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $3, \
             locked_until = NULL WHERE id = $2 AND endpoint_id = $1 \
             RETURNING {DELIVERY_COLUMNS}"
        ))
        .bind(endpoint_id)
        .bind(id)
        .bind(millis(now))
        .fetch_optional(&self.pool)
        .await?)
    }

    // --- notifications -------------------------------------------------------------

    pub async fn create_notification(&self, new: &NewNotification) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO notifications \
             (id, user_id, kind, client_id, title, body, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&new.id)
        .bind(new.user_id)
        .bind(&new.kind)
        .bind(&new.client_id)
        .bind(&new.title)
        .bind(&new.body)
        .bind(millis(new.created_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A user's notifications: undismissed first, each group newest first.
    pub async fn notifications_of_user(
        &self,
        user_id: i64,
        limit: i64,
    ) -> Result<Vec<NotificationRow>, StoreError> {
        Ok(sqlx::query_as::<_, NotificationRow>(&format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE user_id = $1 \
             ORDER BY CASE WHEN dismissed_at IS NULL THEN 0 ELSE 1 END, created_at DESC, id DESC \
             LIMIT $2"
        ))
        .bind(user_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Dismisses one of the user's notifications (again: no change); `false` when the
    /// user has no such notification.
    pub async fn dismiss_notification(
        &self,
        user_id: i64,
        id: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let changed = sqlx::query(
            "UPDATE notifications SET dismissed_at = COALESCE(dismissed_at, $3) \
             WHERE id = $1 AND user_id = $2",
        )
        .bind(id)
        .bind(user_id)
        .bind(millis(at))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(changed > 0)
    }

    // --- email outbox --------------------------------------------------------------

    /// Webhook deliveries and emails waiting to be sent (or retried).
    pub async fn outbox_depth(&self) -> Result<(i64, i64), StoreError> {
        let deliveries: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'")
                .fetch_one(&self.pool)
                .await?;
        let emails: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM email_outbox WHERE status = 'pending'")
                .fetch_one(&self.pool)
                .await?;
        Ok((deliveries, emails))
    }

    pub async fn queue_email(&self, new: &NewEmail) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO email_outbox \
             (id, recipient, subject, body, status, attempts, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)",
        )
        .bind(&new.id)
        .bind(&new.recipient)
        .bind(&new.subject)
        .bind(&new.body)
        .bind(millis(new.created_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Claims one due email, as [`Store::claim_webhook_delivery`] does a delivery.
    pub async fn claim_email(
        &self,
        now: DateTime<Utc>,
        locked_until: DateTime<Utc>,
    ) -> Result<Option<EmailRow>, StoreError> {
        Ok(sqlx::query_as::<_, EmailRow>(&format!(
            "UPDATE email_outbox SET locked_until = $2, attempts = attempts + 1 \
             WHERE id = (SELECT id FROM email_outbox WHERE status = 'pending' \
                 AND next_attempt_at <= $1 AND (locked_until IS NULL OR locked_until <= $1) \
                 ORDER BY next_attempt_at, id LIMIT 1) \
             AND status = 'pending' AND next_attempt_at <= $1 \
             AND (locked_until IS NULL OR locked_until <= $1) \
             RETURNING {EMAIL_COLUMNS}"
        ))
        .bind(millis(now))
        .bind(millis(locked_until))
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Records the outcome of sending a claimed email: `sent`, `failed`, or `pending`
    /// again at `next_attempt_at`.
    pub async fn finish_email(
        &self,
        id: &str,
        status: &'static str,
        next_attempt_at: DateTime<Utc>,
        error: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sent_at = (status == "sent").then(|| millis(at));
        sqlx::query(
            "UPDATE email_outbox SET status = $2, next_attempt_at = $3, last_error = $4, \
             sent_at = COALESCE($5, sent_at), locked_until = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(status)
        .bind(millis(next_attempt_at))
        .bind(error)
        .bind(sent_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
