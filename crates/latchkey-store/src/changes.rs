//! The change feed: what every replica must apply to what it keeps in memory.
//!
//! Each write that another replica must see at once (a credential deleted, disabled,
//! enabled, rolled or limited; a token or grant revoked; a user's roles or password
//! changed) adds a `changes` row in its own transaction, with a sequence number the
//! database assigns. Replicas read the rows after the last one they applied — by
//! sequence, never by time. On PostgreSQL the same transaction sends a `NOTIFY` on
//! [`CHANGES_CHANNEL`], delivered at commit, so a [`ChangeListener`] wakes the reader at
//! once; reading by sequence stays the fallback when a notification is lost.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgListener;
use sqlx::{Any, Transaction};

use crate::{Backend, Store, StoreError, millis};

/// The `LISTEN`/`NOTIFY` channel of the change feed.
const CHANGES_CHANNEL: &str = "latchkey_changes";

/// A change other replicas must apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change<'a> {
    /// A credential (client id) or one of its secrets changed: drop it from the cache.
    Credential(&'a str),
    /// A user's roles or password changed: drop what is cached of them.
    User(i64),
    /// An access token (jti) was revoked.
    Token(&'a str),
    /// A grant was revoked: every token of it.
    Grant(&'a str),
}

impl Change<'_> {
    fn kind_and_key(self) -> (&'static str, String) {
        match self {
            Change::Credential(client_id) => ("credential", client_id.to_owned()),
            Change::User(id) => ("user", id.to_string()),
            Change::Token(jti) => ("token", jti.to_owned()),
            Change::Grant(grant_id) => ("grant", grant_id.to_owned()),
        }
    }
}

/// One row of the feed, as a reader applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRow {
    pub seq: i64,
    pub change: FeedChange,
    /// When the writing replica made the change, by its clock.
    pub created_at: DateTime<Utc>,
}

/// What a feed row says changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedChange {
    Credential(String),
    User(i64),
    /// A revoked token and when it expires anyway; `None` once the revocation itself
    /// was deleted because the token expired.
    Token(String, Option<DateTime<Utc>>),
    Grant(String, Option<DateTime<Utc>>),
    /// A kind this version does not know (written by a newer one): nothing to apply.
    Unknown,
}

impl Store {
    /// Adds `change` to the feed inside `tx`, the transaction that makes the change, so
    /// the feed holds exactly the committed changes. Written last in each transaction:
    /// on PostgreSQL the sequence number is taken here and becomes visible at commit,
    /// and the shorter that span, the sooner a reader stops waiting for it.
    pub(crate) async fn record_change(
        &self,
        tx: &mut Transaction<'static, Any>,
        change: Change<'_>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (kind, key) = change.kind_and_key();
        sqlx::query("INSERT INTO changes (kind, key, created_at) VALUES ($1, $2, $3)")
            .bind(kind)
            .bind(key)
            .bind(millis(at))
            .execute(&mut **tx)
            .await?;
        if self.backend == Backend::Postgres {
            // Delivered when (and only if) the transaction commits.
            sqlx::query(&format!("NOTIFY {CHANGES_CHANNEL}"))
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// The highest sequence number in the feed; 0 when it is empty.
    pub async fn latest_change(&self) -> Result<i64, StoreError> {
        let (seq,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(seq), 0) FROM changes")
            .fetch_one(&self.pool)
            .await?;
        Ok(seq)
    }

    /// The feed's rows after `after`, in order, with the expiry of revoked tokens and
    /// grants.
    pub async fn changes_after(&self, after: i64) -> Result<Vec<ChangeRow>, StoreError> {
        let rows: Vec<(i64, String, String, Option<i64>, i64)> = sqlx::query_as(
            "SELECT c.seq, c.kind, c.key, COALESCE(t.expires_at, g.expires_at), c.created_at \
             FROM changes c \
             LEFT JOIN revoked_tokens t ON c.kind = 'token' AND t.jti = c.key \
             LEFT JOIN revoked_grants g ON c.kind = 'grant' AND g.grant_id = c.key \
             WHERE c.seq > $1 ORDER BY c.seq",
        )
        .bind(after)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(seq, kind, key, expires_at, created_at)| {
                let expires_at = expires_at.and_then(DateTime::from_timestamp_millis);
                let change = match kind.as_str() {
                    "credential" => FeedChange::Credential(key),
                    "user" => key.parse().map_or(FeedChange::Unknown, FeedChange::User),
                    "token" => FeedChange::Token(key, expires_at),
                    "grant" => FeedChange::Grant(key, expires_at),
                    _ => FeedChange::Unknown,
                };
                ChangeRow {
                    seq,
                    change,
                    created_at: DateTime::from_timestamp_millis(created_at).unwrap_or_default(),
                }
            })
            .collect())
    }

    /// Deletes feed rows written before `before`: every replica has long read them.
    pub async fn delete_changes_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM changes WHERE created_at < $1")
            .bind(millis(before))
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    /// A listener for the feed's notifications; `None` on SQLite, which has none (and
    /// needs none: its one process polls its own file).
    pub async fn change_listener(&self) -> Result<Option<ChangeListener>, StoreError> {
        let Some(url) = &self.listen_url else {
            return Ok(None);
        };
        let mut listener = PgListener::connect(&url.0).await?;
        listener.listen(CHANGES_CHANNEL).await?;
        Ok(Some(ChangeListener(listener)))
    }
}

/// Wakes a reader of the feed when another replica commits a change.
#[derive(Debug)]
pub struct ChangeListener(PgListener);

impl ChangeListener {
    /// Waits for the next notification: `true` for one, `false` when the connection was
    /// lost (notifications sent meanwhile are gone; read the feed). The call after a
    /// loss reconnects and listens again, or fails while the database is unreachable.
    pub async fn next(&mut self) -> Result<bool, StoreError> {
        Ok(self.0.try_recv().await?.is_some())
    }
}
