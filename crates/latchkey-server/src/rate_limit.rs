//! Per-credential rate limits: requests per minute, counted in fixed one-minute windows
//! per replica, announced with the `RateLimit-*` headers of the IETF draft
//! (draft-ietf-httpapi-ratelimit-headers) and enforced with 429 + `Retry-After`.
//!
//! The count covers token grants and API calls of the credential alike. These are the
//! replica's own counts; with Redis configured, [`crate::cluster_limits`] counts once
//! for the cluster and falls back to these while Redis does not answer.
//!
//! [`AddressRateLimiter`] limits a public endpoint, which has no credential to count
//! against, per client address. [`TakenEmailBudget`] limits how often an organization's
//! admins may learn that an email address already has an account.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, Utc};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// The per-credential limit's window.
pub const WINDOW_SECS: i64 = 60;

/// Where a credential stands in its current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateStatus {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the window ends and the count starts over.
    pub reset_secs: u64,
}

impl RateStatus {
    /// Writes `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` and
    /// `RateLimit-Policy`.
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        headers.insert("ratelimit-limit", HeaderValue::from(self.limit));
        headers.insert("ratelimit-remaining", HeaderValue::from(self.remaining));
        headers.insert("ratelimit-reset", HeaderValue::from(self.reset_secs));
        if let Ok(policy) = HeaderValue::from_str(&format!("{};w={WINDOW_SECS}", self.limit)) {
            headers.insert("ratelimit-policy", policy);
        }
    }
}

/// The request count of each limited credential in its current window.
#[derive(Debug, Default)]
pub struct CredentialRateLimiter {
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

impl CredentialRateLimiter {
    /// Counts one request of `client_id` against `limit` per minute: `Ok` with what is
    /// left, or `Err` with when to retry when the window is used up (the refused
    /// request is not counted).
    pub fn check(
        &self,
        client_id: &str,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<RateStatus, RateStatus> {
        let window = now.timestamp().div_euclid(WINDOW_SECS);
        let reset_secs = u64::try_from((window + 1) * WINDOW_SECS - now.timestamp()).unwrap_or(1);
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = windows.entry(client_id.to_owned()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        if entry.1 >= limit {
            return Err(RateStatus {
                limit,
                remaining: 0,
                reset_secs,
            });
        }
        entry.1 += 1;
        Ok(RateStatus {
            limit,
            remaining: limit - entry.1,
            reset_secs,
        })
    }

    /// Forgets windows that have ended.
    pub fn prune(&self, now: DateTime<Utc>) {
        let window = now.timestamp().div_euclid(WINDOW_SECS);
        self.windows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, (start, _)| *start == window);
    }
}

/// Requests per client address ([`crate::origin::Origin::client_key`]): a burst, then
/// a steady rate.
#[derive(Debug)]
pub struct AddressRateLimiter {
    burst: NonZeroU32,
    limiter: DefaultKeyedRateLimiter<Option<IpAddr>>,
}

/// Beyond this many addresses the limiter forgets those back at a full burst.
const MAX_TRACKED_ADDRESSES: usize = 10_000;

impl AddressRateLimiter {
    pub fn new(burst: NonZeroU32, per_second: NonZeroU32) -> Self {
        AddressRateLimiter {
            burst,
            limiter: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
        }
    }

    /// Counts one request of `address`; `Err` with when to retry once its burst is
    /// used up (the refused request is not counted).
    pub fn check(&self, address: Option<IpAddr>) -> Result<(), RateStatus> {
        if self.limiter.len() > MAX_TRACKED_ADDRESSES {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(&address).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            RateStatus {
                limit: self.burst.get(),
                remaining: 0,
                reset_secs: wait.as_secs() + 1,
            }
        })
    }
}

/// How many "this email already has an account" answers an organization gets per
/// hour. Adding a person must say when the address is taken, which tells an admin
/// that an account exists somewhere on the service; the budget keeps that from
/// becoming a way to list another tenant's people.
pub const TAKEN_EMAILS_PER_HOUR: usize = 10;

/// The taken-email answers of each organization in the last hour. Once the budget is
/// used up, every addition to that organization waits, whether or not its address is
/// taken: refusing only the taken ones would answer the question anyway.
#[derive(Debug, Default)]
pub struct TakenEmailBudget {
    answers: Mutex<HashMap<i64, VecDeque<DateTime<Utc>>>>,
}

impl TakenEmailBudget {
    /// `Err` with when to retry while `organization_id` has used its budget.
    pub fn check(&self, organization_id: i64, now: DateTime<Utc>) -> Result<(), RateStatus> {
        let mut answers = self.answers.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(times) = answers.get_mut(&organization_id) else {
            return Ok(());
        };
        let hour_ago = now - chrono::Duration::hours(1);
        while times.front().is_some_and(|time| *time <= hour_ago) {
            times.pop_front();
        }
        match times.front() {
            Some(oldest) if times.len() >= TAKEN_EMAILS_PER_HOUR => Err(RateStatus {
                limit: u32::try_from(TAKEN_EMAILS_PER_HOUR).unwrap_or(u32::MAX),
                remaining: 0,
                reset_secs: u64::try_from((*oldest - hour_ago).num_seconds()).unwrap_or(0) + 1,
            }),
            _ => Ok(()),
        }
    }

    /// Counts one taken-email answer given to `organization_id`.
    pub fn spend(&self, organization_id: i64, now: DateTime<Utc>) {
        let mut answers = self.answers.lock().unwrap_or_else(PoisonError::into_inner);
        let hour_ago = now - chrono::Duration::hours(1);
        answers.retain(|_, times| times.back().is_some_and(|time| *time > hour_ago));
        answers.entry(organization_id).or_default().push_back(now);
    }
}

/// Filled by the bearer check when the caller's credential has a rate limit, so the
/// answer carries its `RateLimit-*` headers.
#[derive(Debug, Clone, Default)]
pub struct RateNote(Arc<Mutex<Option<RateStatus>>>);

impl RateNote {
    pub fn set(&self, status: RateStatus) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(status);
    }
}

/// Adds the `RateLimit-*` headers a handler's bearer check noted.
pub async fn rate_limit_headers(mut request: Request, next: Next) -> Response {
    let note = RateNote::default();
    request.extensions_mut().insert(note.clone());
    let mut response = next.run(request).await;
    let status = *note.0.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(status) = status {
        status.write_headers(response.headers_mut());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap_or_default()
    }

    #[test]
    fn the_taken_email_budget_holds_every_addition_once_used_up_and_refills_in_an_hour() {
        let budget = TakenEmailBudget::default();
        let start = at(1_800_000_000);
        for minute in 0..TAKEN_EMAILS_PER_HOUR {
            let now = start + chrono::Duration::minutes(i64::try_from(minute).unwrap_or(0));
            assert_eq!(budget.check(7, now), Ok(()));
            budget.spend(7, now);
        }
        let later = start + chrono::Duration::minutes(30);
        let refused = budget.check(7, later).err();
        assert_eq!(refused.map(|status| status.reset_secs), Some(30 * 60 + 1));
        assert_eq!(
            budget.check(8, later),
            Ok(()),
            "another organization has its own"
        );
        let after_an_hour = start + chrono::Duration::minutes(60);
        assert_eq!(
            budget.check(7, after_an_hour),
            Ok(()),
            "the first answer aged out"
        );
    }

    #[test]
    fn a_window_allows_the_limit_then_refuses_until_it_ends() {
        let limiter = CredentialRateLimiter::default();
        // 1_800_000_000 is a multiple of 60: the start of a window.
        let start = at(1_800_000_000);
        assert_eq!(
            limiter.check("a", 2, start),
            Ok(RateStatus {
                limit: 2,
                remaining: 1,
                reset_secs: 60
            })
        );
        assert!(limiter.check("a", 2, at(start.timestamp() + 10)).is_ok());
        assert_eq!(
            limiter.check("a", 2, at(start.timestamp() + 15)),
            Err(RateStatus {
                limit: 2,
                remaining: 0,
                reset_secs: 45
            })
        );
        assert!(limiter.check("b", 2, at(start.timestamp() + 15)).is_ok());
        assert!(limiter.check("a", 2, at(start.timestamp() + 60)).is_ok());
    }
}
