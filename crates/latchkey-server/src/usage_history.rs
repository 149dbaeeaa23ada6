//! Usage history: per credential and hour, how many token grants, API calls and
//! refusals (by reason) there were. Counted in memory on the token path, the bearer
//! check and, for calls and their missing permissions, by [`count_calls`] once the
//! handler answered; added to the database when last-use is flushed (`directory::UsageTracker`),
//! read back for `GET /v1/credentials/{clientId}/usage` and the credential's page.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, TimeZone, Utc};
use latchkey_store::{Store, StoreError, UsageCount};
use latchkey_types::ErrorBody;

use crate::state::AppState;

const HOUR_MILLIS: i64 = 3_600_000;
/// How far back the history goes.
pub const HISTORY_DAYS: i64 = 30;

/// The start of the first hour of the history shown at `now`.
pub fn history_start(now: DateTime<Utc>) -> DateTime<Utc> {
    let start = hour_of(now - chrono::Duration::days(HISTORY_DAYS)) + HOUR_MILLIS;
    Utc.timestamp_millis_opt(start).single().unwrap_or(now)
}

/// Why a use of a credential was refused, once its secret or token was proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalReason {
    Expired,
    Disabled,
    AddressNotAllowed,
    RateLimited,
    /// The token lacked a scope, role or workspace the call needed.
    MissingPermission,
}

impl RefusalReason {
    pub const ALL: [RefusalReason; 5] = [
        RefusalReason::Expired,
        RefusalReason::Disabled,
        RefusalReason::AddressNotAllowed,
        RefusalReason::RateLimited,
        RefusalReason::MissingPermission,
    ];

    /// The counter's name in the database.
    fn kind(self) -> &'static str {
        match self {
            RefusalReason::Expired => "refused_expired",
            RefusalReason::Disabled => "refused_disabled",
            RefusalReason::AddressNotAllowed => "refused_address_not_allowed",
            RefusalReason::RateLimited => "refused_rate_limited",
            RefusalReason::MissingPermission => "refused_missing_permission",
        }
    }
}

/// What one counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UsageEvent {
    Grant,
    Call,
    Refused(RefusalReason),
}

impl UsageEvent {
    fn kind(self) -> &'static str {
        match self {
            UsageEvent::Grant => "grant",
            UsageEvent::Call => "call",
            UsageEvent::Refused(refusal) => refusal.kind(),
        }
    }

    fn parse(kind: &str) -> Option<UsageEvent> {
        match kind {
            "grant" => Some(UsageEvent::Grant),
            "call" => Some(UsageEvent::Call),
            _ => RefusalReason::ALL
                .into_iter()
                .find(|r| r.kind() == kind)
                .map(UsageEvent::Refused),
        }
    }
}

/// One hour of a credential's use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageHour {
    pub grants: i64,
    pub calls: i64,
    /// In the order of [`RefusalReason::ALL`].
    pub refused: [i64; 5],
}

impl UsageHour {
    fn add(&mut self, event: UsageEvent, count: i64) {
        match event {
            UsageEvent::Grant => self.grants += count,
            UsageEvent::Call => self.calls += count,
            UsageEvent::Refused(refusal) => {
                if let Some(at) = RefusalReason::ALL.iter().position(|r| *r == refusal) {
                    self.refused[at] += count;
                }
            }
        }
    }

    pub fn refused_for(&self, reason: RefusalReason) -> i64 {
        RefusalReason::ALL
            .iter()
            .position(|r| *r == reason)
            .map_or(0, |at| self.refused[at])
    }
}

/// Counts not yet added to the database, by credential, hour and event.
#[derive(Debug, Default)]
pub struct UsageCounters {
    pending: Mutex<HashMap<(String, i64, UsageEvent), i64>>,
}

fn hour_of(at: DateTime<Utc>) -> i64 {
    let millis = at.timestamp_millis();
    millis - millis.rem_euclid(HOUR_MILLIS)
}

impl UsageCounters {
    pub fn count(&self, client_id: &str, at: DateTime<Utc>, event: UsageEvent) {
        *self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((client_id.to_owned(), hour_of(at), event))
            .or_default() += 1;
    }

    /// Adds the pending counts to the database; on failure they are kept for the next
    /// attempt.
    pub async fn flush(&self, store: &Store) -> Result<(), StoreError> {
        let taken =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        if taken.is_empty() {
            return Ok(());
        }
        let rows: Vec<UsageCount> = taken
            .iter()
            .map(|((client_id, hour, event), count)| UsageCount {
                client_id: client_id.clone(),
                hour: *hour,
                kind: event.kind().to_owned(),
                count: *count,
            })
            .collect();
        if let Err(error) = store.add_usage_counts(&rows).await {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            for (key, count) in taken {
                *pending.entry(key).or_default() += count;
            }
            return Err(error);
        }
        Ok(())
    }

    /// The hours of `client_id` from `since` on that saw any use, oldest first: the
    /// database's counts plus this replica's pending ones.
    pub async fn history(
        &self,
        store: &Store,
        client_id: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, UsageHour)>, StoreError> {
        let mut hours: HashMap<i64, UsageHour> = HashMap::new();
        for row in store.usage_counts(client_id, since).await? {
            if let Some(event) = UsageEvent::parse(&row.kind) {
                hours.entry(row.hour).or_default().add(event, row.count);
            }
        }
        let first = hour_of(since);
        for ((id, hour, event), count) in self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            if id == client_id && *hour >= first {
                hours.entry(*hour).or_default().add(*event, *count);
            }
        }
        let mut history: Vec<(DateTime<Utc>, UsageHour)> = hours
            .into_iter()
            .filter_map(|(hour, usage)| {
                Utc.timestamp_millis_opt(hour)
                    .single()
                    .map(|at| (at, usage))
            })
            .collect();
        history.sort_by_key(|(at, _)| *at);
        Ok(history)
    }
}

/// The credential behind a bearer token that passed the bearer check (and its limits),
/// noted so that [`count_calls`] knows whose call it was.
#[derive(Debug, Clone, Default)]
pub struct CallerNote(Arc<Mutex<Option<String>>>);

impl CallerNote {
    pub fn set(&self, client_id: &str) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(client_id.to_owned());
    }
}

/// The refusals of the permission decision that say the token lacked something.
const MISSING_PERMISSION_CODES: [&str; 4] = [
    "missing_scope",
    "missing_role",
    "workspace_not_allowed",
    "credential_wider_than_token",
];

/// Counts a call with a credential's token once the handler answered: as refused for a
/// missing permission when the permission decision said so (only the handler knows),
/// as a call otherwise.
pub async fn count_calls(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let note = CallerNote::default();
    request.extensions_mut().insert(note.clone());
    let response = next.run(request).await;
    let Some(client_id) = note.0.lock().unwrap_or_else(PoisonError::into_inner).take() else {
        return response;
    };
    let refused = response.status() == StatusCode::FORBIDDEN
        && response
            .extensions()
            .get::<ErrorBody>()
            .is_some_and(|body| MISSING_PERMISSION_CODES.contains(&body.error.as_str()));
    let event = if refused {
        UsageEvent::Refused(RefusalReason::MissingPermission)
    } else {
        UsageEvent::Call
    };
    state.usage.counters.count(&client_id, state.now(), event);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_fall_into_the_hour_they_happened_in() {
        let at = Utc
            .with_ymd_and_hms(2026, 3, 1, 10, 59, 59)
            .single()
            .expect("time");
        let next = Utc
            .with_ymd_and_hms(2026, 3, 1, 11, 0, 0)
            .single()
            .expect("time");
        assert_eq!(hour_of(at), hour_of(next) - HOUR_MILLIS);
        assert_eq!(hour_of(next), next.timestamp_millis());
    }

    #[test]
    fn every_counter_name_reads_back_as_itself() {
        let mut events = vec![UsageEvent::Grant, UsageEvent::Call];
        events.extend(RefusalReason::ALL.map(UsageEvent::Refused));
        for event in events {
            assert_eq!(UsageEvent::parse(event.kind()), Some(event));
        }
        assert_eq!(UsageEvent::parse("refused_unknown"), None);
    }
}
