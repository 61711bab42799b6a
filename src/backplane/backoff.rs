//! How long a thread that lost its Redis connection waits before trying again: exponential
//! backoff, from [`BACKOFF_MIN`] doubling up to [`BACKOFF_MAX`], reset by a success.
//!
//! Pure: the caller passes the time in, so every rule is tested without sleeping.

use std::time::{Duration, Instant};

/// The first wait after a failure.
pub(crate) const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// The most the wait doubles to.
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Exponential reconnect backoff.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Backoff {
    next_try: Option<Instant>,
    wait: Duration,
}

impl Backoff {
    /// Whether a try is due at `now` (always, before any failure).
    pub(crate) fn ready(&self, now: Instant) -> bool {
        self.next_try.is_none_or(|t| now >= t)
    }

    /// A try failed at `now`: the next one waits twice as long as the last (within the bounds).
    pub(crate) fn failed(&mut self, now: Instant) {
        self.wait = (self.wait * 2).clamp(BACKOFF_MIN, BACKOFF_MAX);
        self.next_try = Some(now + self.wait);
    }

    /// A try succeeded: the next failure starts from [`BACKOFF_MIN`] again.
    pub(crate) fn succeeded(&mut self) {
        *self = Backoff::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_first_try_is_due_at_once() {
        let t0 = Instant::now();
        assert!(Backoff::default().ready(t0));
    }

    #[test]
    fn a_failure_waits_the_minimum_then_it_is_due() {
        let t0 = Instant::now();
        let mut b = Backoff::default();
        b.failed(t0);
        assert!(!b.ready(t0));
        assert!(!b.ready(t0 + BACKOFF_MIN - ms(1)));
        assert!(b.ready(t0 + BACKOFF_MIN));
    }

    #[test]
    fn each_failure_doubles_the_wait_up_to_the_maximum() {
        let t0 = Instant::now();
        let mut b = Backoff::default();
        let mut waits = Vec::new();
        let mut now = t0;
        for _ in 0..8 {
            b.failed(now);
            let due = (0..=3000).map(ms).find(|&d| b.ready(now + d)).unwrap();
            waits.push(due.as_millis());
            now += due;
        }
        assert_eq!(waits, [100, 200, 400, 800, 1600, 2000, 2000, 2000]);
    }

    #[test]
    fn a_success_starts_over_from_the_minimum() {
        let t0 = Instant::now();
        let mut b = Backoff::default();
        for _ in 0..5 {
            b.failed(t0);
        }
        b.succeeded();
        assert_eq!(b, Backoff::default());
        assert!(b.ready(t0));
        b.failed(t0);
        assert!(b.ready(t0 + BACKOFF_MIN) && !b.ready(t0 + BACKOFF_MIN - ms(1)));
    }

    #[test]
    fn a_failure_counts_from_when_it_happened() {
        // The wait runs from the failure's time, not the previous try's.
        let t0 = Instant::now();
        let mut b = Backoff::default();
        b.failed(t0);
        b.failed(t0 + ms(500));
        assert!(!b.ready(t0 + ms(699)));
        assert!(b.ready(t0 + ms(700)));
    }
}
