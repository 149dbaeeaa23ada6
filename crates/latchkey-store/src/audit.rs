//! The audit log: append one event, read events back newest first.
//!
//! Append-only by construction: this module has no function that updates or deletes an
//! event, and nothing else in the crate touches `audit_events`. Reads are filtered by
//! who may see what ([`AuditVisibility`]) before any other filter, so a query can never
//! widen what its caller sees.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use crate::{Store, StoreError, millis};

/// The page size when a query names none.
pub const AUDIT_DEFAULT_LIMIT: i64 = 100;
/// The largest page a query may ask for.
pub const AUDIT_MAX_LIMIT: i64 = 1000;

const AUDIT_COLUMNS: &str = "id, occurred_at, action, outcome, actor_user_id, actor_email, \
     actor_client_id, subject_user_id, organization_id, target, method, path, status, \
     source_address, user_agent, request_id, detail";

/// One event to append. Every field but the first three may be unknown.
#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    pub occurred_at: DateTime<Utc>,
    /// What happened: an API operation id (`delete_credential`), `sign_in`, ….
    pub action: String,
    /// `success`, `denied` or `failure`.
    pub outcome: String,
    pub actor_user_id: Option<i64>,
    pub actor_email: Option<String>,
    /// The credential, when the actor called with an access token.
    pub actor_client_id: Option<String>,
    /// Whose thing it was, when not the actor's own.
    pub subject_user_id: Option<i64>,
    pub organization_id: Option<i64>,
    pub target: Option<String>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub status: Option<i64>,
    pub source_address: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    /// A JSON object as text.
    pub detail: Option<String>,
}

/// One stored event.
#[derive(Debug, Clone, FromRow)]
pub struct AuditEventRow {
    pub id: i64,
    occurred_at: i64,
    pub action: String,
    pub outcome: String,
    pub actor_user_id: Option<i64>,
    pub actor_email: Option<String>,
    pub actor_client_id: Option<String>,
    pub subject_user_id: Option<i64>,
    pub organization_id: Option<i64>,
    pub target: Option<String>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub status: Option<i64>,
    pub source_address: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    /// A JSON object as text.
    pub detail: Option<String>,
}

impl AuditEventRow {
    pub fn occurred_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.occurred_at).unwrap_or_default()
    }
}

/// Which events a reader may see at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditVisibility {
    /// The platform operator: every event.
    All,
    /// An organization admin: the events of that organization.
    Organization(i64),
    /// A person: the events where they are the actor or the subject.
    User(i64),
}

/// A read of the log: visibility, filters, a cursor and a page size.
#[derive(Debug, Clone)]
pub struct AuditQuery {
    pub visibility: AuditVisibility,
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub actor_user_id: Option<i64>,
    pub target: Option<String>,
    /// Events at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Events before this instant.
    pub until: Option<DateTime<Utc>>,
    /// Events with a smaller id (older): the cursor of the next page.
    pub before_id: Option<i64>,
    /// Events with a larger id (newer): what happened since an event already seen.
    pub after_id: Option<i64>,
    /// Clamped to `1..=AUDIT_MAX_LIMIT`.
    pub limit: i64,
}

impl AuditQuery {
    /// Everything `visibility` allows, the first page of the default size.
    pub fn new(visibility: AuditVisibility) -> AuditQuery {
        AuditQuery {
            visibility,
            action: None,
            outcome: None,
            actor_user_id: None,
            target: None,
            since: None,
            until: None,
            before_id: None,
            after_id: None,
            limit: AUDIT_DEFAULT_LIMIT,
        }
    }
}

/// A page of events, newest first, and whether older ones match too.
#[derive(Debug, Clone)]
pub struct AuditPage {
    pub events: Vec<AuditEventRow>,
    pub more: bool,
}

/// One bound value of the dynamic query.
enum Bind {
    Int(i64),
    Text(String),
}

impl Store {
    /// Appends one event and answers its id.
    pub async fn append_audit_event(&self, event: &NewAuditEvent) -> Result<i64, StoreError> {
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO audit_events (occurred_at, action, outcome, actor_user_id, \
             actor_email, actor_client_id, subject_user_id, organization_id, target, method, \
             path, status, source_address, user_agent, request_id, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
             RETURNING id",
        )
        .bind(millis(event.occurred_at))
        .bind(&event.action)
        .bind(&event.outcome)
        .bind(event.actor_user_id)
        .bind(&event.actor_email)
        .bind(&event.actor_client_id)
        .bind(event.subject_user_id)
        .bind(event.organization_id)
        .bind(&event.target)
        .bind(&event.method)
        .bind(&event.path)
        .bind(event.status)
        .bind(&event.source_address)
        .bind(&event.user_agent)
        .bind(&event.request_id)
        .bind(&event.detail)
        .fetch_one(&self.pool)
        .await?;
        Ok(id)
    }

    /// The events `query` selects, newest first.
    pub async fn audit_events(&self, query: &AuditQuery) -> Result<AuditPage, StoreError> {
        let mut conditions: Vec<String> = Vec::new();
        let mut binds: Vec<Bind> = Vec::new();
        let mut condition = |binds: &mut Vec<Bind>, sql: &str, value: Bind| {
            binds.push(value);
            conditions.push(sql.replace('?', &format!("${}", binds.len())));
        };
        match query.visibility {
            AuditVisibility::All => {}
            AuditVisibility::Organization(id) => {
                condition(&mut binds, "organization_id = ?", Bind::Int(id));
            }
            AuditVisibility::User(id) => {
                // One placeholder used twice: both backends allow `$n` to repeat.
                condition(
                    &mut binds,
                    "(actor_user_id = ? OR subject_user_id = ?)",
                    Bind::Int(id),
                );
            }
        }
        if let Some(action) = &query.action {
            condition(&mut binds, "action = ?", Bind::Text(action.clone()));
        }
        if let Some(outcome) = &query.outcome {
            condition(&mut binds, "outcome = ?", Bind::Text(outcome.clone()));
        }
        if let Some(actor) = query.actor_user_id {
            condition(&mut binds, "actor_user_id = ?", Bind::Int(actor));
        }
        if let Some(target) = &query.target {
            condition(&mut binds, "target = ?", Bind::Text(target.clone()));
        }
        if let Some(since) = query.since {
            condition(&mut binds, "occurred_at >= ?", Bind::Int(millis(since)));
        }
        if let Some(until) = query.until {
            condition(&mut binds, "occurred_at < ?", Bind::Int(millis(until)));
        }
        if let Some(before) = query.before_id {
            condition(&mut binds, "id < ?", Bind::Int(before));
        }
        if let Some(after) = query.after_id {
            condition(&mut binds, "id > ?", Bind::Int(after));
        }
        let limit = query.limit.clamp(1, AUDIT_MAX_LIMIT);
        let mut sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_events");
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        // One more than asked for tells whether another page follows.
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", limit + 1));
        let mut statement = sqlx::query_as::<_, AuditEventRow>(&sql);
        for bind in binds {
            statement = match bind {
                Bind::Int(value) => statement.bind(value),
                Bind::Text(value) => statement.bind(value),
            };
        }
        let mut events = statement.fetch_all(&self.pool).await?;
        let more = events.len() as i64 > limit;
        events.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(AuditPage { events, more })
    }
}
