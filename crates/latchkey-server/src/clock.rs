//! The service's one clock, injectable so tests move time instead of sleeping.
//!
//! Every time the service compares against (token expiry, credential expiry, sessions,
//! revocations) comes from [`crate::Config::clock`] through `AppState::now`. Durations
//! measured for caches and throttles use `Instant` instead: they bound staleness, not
//! validity, and are not part of what a test moves.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};

/// Wall-clock time, or a manual time that a test sets and moves forward.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// `None`: the system clock.
    manual: Option<Arc<Mutex<DateTime<Utc>>>>,
}

impl Clock {
    /// The system clock: what a real server uses.
    pub fn system() -> Clock {
        Clock::default()
    }

    /// A clock that stands at `start` until [`Clock::advance`] or [`Clock::set`] moves
    /// it. Clones share the time, so a test keeps one and hands a clone to the config.
    pub fn manual(start: DateTime<Utc>) -> Clock {
        Clock {
            manual: Some(Arc::new(Mutex::new(start))),
        }
    }

    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        match &self.manual {
            None => Utc::now(),
            Some(time) => *time.lock().unwrap_or_else(PoisonError::into_inner),
        }
    }

    /// Moves a manual clock forward (or back, with a negative duration). The system
    /// clock cannot be moved; calling this on it is a bug in the test.
    ///
    /// # Panics
    /// On the system clock.
    pub fn advance(&self, by: Duration) {
        let time = self
            .manual
            .as_ref()
            .expect("only a manual clock can be moved");
        *time.lock().unwrap_or_else(PoisonError::into_inner) += by;
    }

    /// Sets a manual clock to `to`.
    ///
    /// # Panics
    /// On the system clock.
    pub fn set(&self, to: DateTime<Utc>) {
        let time = self
            .manual
            .as_ref()
            .expect("only a manual clock can be moved");
        *time.lock().unwrap_or_else(PoisonError::into_inner) = to;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_clones_share_it() {
        let start = Utc::now();
        let clock = Clock::manual(start);
        let shared = clock.clone();
        assert_eq!(clock.now(), start);
        shared.advance(Duration::hours(2));
        assert_eq!(clock.now(), start + Duration::hours(2));
        clock.set(start);
        assert_eq!(shared.now(), start);
    }
}
