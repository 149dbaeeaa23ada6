//! Following the change feed (`latchkey_store::Change`): what other replicas changed,
//! applied to this replica's memory — credentials and users dropped from the caches,
//! tokens and grants added to the revocation list.
//!
//! [`follow`] reads the feed whenever [`listen`] hears a PostgreSQL notification, and
//! every `revocation_poll_interval` regardless, so a lost notification (or SQLite,
//! which has none) costs at most one interval. Rows are read by sequence number, never
//! by time: a replica whose clock is off cannot hide its changes from the others.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use latchkey_store::{ChangeRow, FeedChange, Store, StoreError};
use tokio::sync::Notify;

use crate::state::AppState;

/// How long a missing sequence number is waited for before it is given up.
///
/// PostgreSQL assigns a sequence number when a transaction inserts its row, and the row
/// becomes visible when that transaction commits, so rows can appear out of order: 11
/// may be read while 10 is still uncommitted. Moving the cursor past 10 then would lose
/// it for good. So the cursor only moves past numbers it has read, and every poll reads
/// again from the lowest missing one, skipping rows already applied. A number also goes
/// missing for good when its transaction rolled back; it is given up after this wait.
/// The feed's row is the last statement of each transaction, so a committing one takes
/// milliseconds from number to commit; ten seconds is far beyond that, and a missed
/// change would still be caught by the cache's lifetime.
const GAP_WAIT: Duration = Duration::from_secs(10);

/// How many sequence numbers before the newest a starting replica reads again: a
/// transaction that took its number before the start may commit after it.
const START_WINDOW: i64 = 1000;

/// After this long without a successful read (the database was down), the next read
/// also drops every cached credential and user and reloads the revocation list: the
/// feed's rows are kept for [`FEED_RETENTION`] only.
const RESYNC_AFTER: Duration = Duration::from_secs(600);

/// How long feed rows are kept; every replica reads them within a poll interval.
pub const FEED_RETENTION: chrono::Duration = chrono::Duration::days(1);

/// Where this replica stands in the feed.
#[derive(Debug)]
struct Cursor {
    /// Every number up to here was applied or given up.
    floor: i64,
    /// Numbers above `floor` already applied.
    applied: BTreeSet<i64>,
    /// Numbers above `floor` not yet seen, with when they were first missed.
    missing: BTreeMap<i64, Instant>,
    /// The highest number classified as applied or missing.
    scanned: i64,
}

impl Cursor {
    fn new(floor: i64) -> Cursor {
        Cursor {
            floor,
            applied: BTreeSet::new(),
            missing: BTreeMap::new(),
            scanned: floor,
        }
    }

    /// Takes a read's rows and answers those not applied before; then moves the floor
    /// over what is applied or waited for long enough.
    fn take(&mut self, rows: Vec<ChangeRow>, now: Instant) -> Vec<ChangeRow> {
        let fresh: Vec<ChangeRow> = rows
            .into_iter()
            .filter(|row| row.seq > self.floor && self.applied.insert(row.seq))
            .collect();
        for row in &fresh {
            self.missing.remove(&row.seq);
        }
        if let Some(&top) = self.applied.last()
            && top > self.scanned
        {
            for seq in self.scanned + 1..top {
                if !self.applied.contains(&seq) {
                    self.missing.insert(seq, now);
                }
            }
            self.scanned = top;
        }
        loop {
            let next = self.floor + 1;
            if self.applied.remove(&next) {
                self.floor = next;
            } else if self
                .missing
                .get(&next)
                .is_some_and(|since| now.duration_since(*since) >= GAP_WAIT)
            {
                self.missing.remove(&next);
                tracing::debug!(
                    change.seq = next,
                    "gave up waiting for a change: its transaction rolled back"
                );
                self.floor = next;
            } else {
                break;
            }
        }
        fresh
    }
}

/// This replica's reader of the change feed.
#[derive(Debug)]
pub struct ChangeFeed {
    cursor: Mutex<Cursor>,
    /// The newest number when this replica started: rows up to it were made before it
    /// followed the feed, so how late they arrive says nothing about propagation.
    started_after: i64,
    last_read: Mutex<Instant>,
    wake: Notify,
}

impl ChangeFeed {
    /// A reader that starts a little before the feed's newest row; call before the
    /// revocation list is loaded, so no revocation falls between the two.
    pub async fn start(store: &Store) -> Result<ChangeFeed, StoreError> {
        let latest = store.latest_change().await?;
        Ok(ChangeFeed {
            cursor: Mutex::new(Cursor::new((latest - START_WINDOW).max(0))),
            started_after: latest,
            last_read: Mutex::new(Instant::now()),
            wake: Notify::new(),
        })
    }

    /// Makes [`follow`] read the feed now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Reads the feed's new rows and applies them; the number applied.
    pub async fn read(&self, state: &AppState) -> Result<usize, StoreError> {
        let floor = self
            .cursor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .floor;
        let rows = state.store.changes_after(floor).await?;
        let resync = std::mem::replace(
            &mut *self
                .last_read
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
            Instant::now(),
        )
        .elapsed()
            >= RESYNC_AFTER;
        if resync {
            tracing::warn!("the change feed was not read for a long time; reloading everything");
            state.credentials.clear();
            state.access.clear();
            state.revocations.load(&state.store, state.now()).await?;
        }
        let fresh = self
            .cursor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take(rows, Instant::now());
        let now = state.now();
        for row in &fresh {
            apply(state, &row.change);
            if row.seq > self.started_after {
                // The writer's clock against ours: a writer ahead of us would make the
                // lag negative, which says "at once" as well as anything can.
                let lag = (now - row.created_at).to_std().unwrap_or_default();
                state.metrics.change_propagated(lag);
            }
        }
        Ok(fresh.len())
    }
}

fn apply(state: &AppState, change: &FeedChange) {
    match change {
        FeedChange::Credential(client_id) => state.credentials.invalidate(client_id),
        FeedChange::User(user_id) => {
            state.access.invalidate(*user_id);
            state.credentials.invalidate_user(*user_id);
        }
        FeedChange::Token(jti, Some(expires_at)) => {
            state.revocations.insert(jti.clone(), *expires_at);
        }
        FeedChange::Grant(grant_id, Some(expires_at)) => {
            state
                .revocations
                .insert_grant(grant_id.clone(), *expires_at);
        }
        // A revocation whose row is gone has expired: nothing left to refuse.
        FeedChange::Token(_, None) | FeedChange::Grant(_, None) | FeedChange::Unknown => {}
    }
}

/// Reads the feed when woken and every `revocation_poll_interval`; runs until aborted.
pub async fn follow(state: AppState) {
    let mut tick = tokio::time::interval(state.config.revocation_poll_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = state.feed.wake.notified() => {}
        }
        if let Err(error) = state.feed.read(&state).await {
            tracing::warn!(error = %error, "could not read the change feed");
        }
    }
}

/// How long to wait before connecting the listener again after a failure.
const RECONNECT_WAIT: Duration = Duration::from_secs(1);

/// On PostgreSQL, wakes [`follow`] at each notification of the feed; reconnects after a
/// lost connection (polling covers the time between). Returns at once on SQLite.
pub async fn listen(state: AppState) {
    let mut listener = None;
    loop {
        let current = match &mut listener {
            Some(current) => current,
            None => match state.store.change_listener().await {
                Ok(Some(connected)) => {
                    // Whatever was committed while no one listened.
                    state.feed.wake();
                    listener.insert(connected)
                }
                Ok(None) => return,
                Err(error) => {
                    tracing::warn!(error = %error, "could not listen to the change feed; polling");
                    tokio::time::sleep(RECONNECT_WAIT).await;
                    continue;
                }
            },
        };
        match current.next().await {
            Ok(true) => state.feed.wake(),
            Ok(false) => {
                tracing::warn!("lost the change feed's listener connection; reconnecting");
                state.feed.wake();
            }
            Err(error) => {
                tracing::warn!(error = %error, "could not listen to the change feed; polling");
                tokio::time::sleep(RECONNECT_WAIT).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(seqs: &[i64]) -> Vec<ChangeRow> {
        seqs.iter()
            .map(|&seq| ChangeRow {
                seq,
                change: FeedChange::User(seq),
                created_at: chrono::DateTime::UNIX_EPOCH,
            })
            .collect()
    }

    fn seqs(rows: &[ChangeRow]) -> Vec<i64> {
        rows.iter().map(|row| row.seq).collect()
    }

    #[test]
    fn a_row_committed_after_a_higher_one_is_still_applied_once() {
        let start = Instant::now();
        let mut cursor = Cursor::new(0);
        // 2 committed before 1: the floor waits below 1.
        assert_eq!(seqs(&cursor.take(rows(&[2]), start)), [2]);
        assert_eq!(cursor.floor, 0);
        // The next read returns 2 again (skipped) and now 1.
        assert_eq!(seqs(&cursor.take(rows(&[1, 2]), start)), [1]);
        assert_eq!(cursor.floor, 2);
        assert!(cursor.missing.is_empty() && cursor.applied.is_empty());
    }

    #[test]
    fn a_number_that_never_commits_is_given_up_after_the_wait() {
        let start = Instant::now();
        let mut cursor = Cursor::new(10);
        assert_eq!(seqs(&cursor.take(rows(&[11, 13]), start)), [11, 13]);
        assert_eq!(cursor.floor, 11);
        assert!(cursor.take(rows(&[13]), start + GAP_WAIT / 2).is_empty());
        assert_eq!(cursor.floor, 11);
        assert!(cursor.take(rows(&[13]), start + GAP_WAIT).is_empty());
        assert_eq!(cursor.floor, 13);
    }
}
