//! When a worker writes: the write-coalescing window, as a pure rule.
//!
//! Most of a write's cost is the kernel's (a system call, TCP and loopback work per write, not
//! per byte: see BENCHMARKS.md), so a burst of events is cheapest when each client gets all of it
//! in one vectored write. A worker therefore starts a write pass at most once per window: when
//! something is queued less than a window after the last pass began, the pass waits for the
//! window's end, and whatever arrives meanwhile goes out with it. Events further apart than the
//! window are written at once: at low rates nothing waits.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use ssehub::proto::coalesce::Coalescer;
//!
//! let t = Instant::now();
//! let ms = |n| t + Duration::from_millis(n);
//! let mut c = Coalescer::new(Duration::from_millis(10), t);
//! assert!(!c.queued(ms(3)), "3 ms after the last pass: wait");
//! assert_eq!(c.poll_timeout(), Some(ms(10)));
//! assert!(!c.queued(ms(5)), "already waiting");
//! assert!(c.handle_timeout(ms(10)), "the window is over: write now");
//! c.flushed(ms(10));
//! assert!(c.queued(ms(25)), "a window after the last pass: at once");
//! ```

use std::time::{Duration, Instant};

/// The coalescing rule of one worker. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct Coalescer {
    window: Duration,
    /// When the last write pass began.
    last_pass: Instant,
    /// When the pass that waits is due.
    due: Option<Instant>,
}

impl Coalescer {
    /// A rule with `window` (zero: every event is written at once), as if a pass had run at
    /// `now`.
    pub fn new(window: Duration, now: Instant) -> Coalescer {
        Coalescer { window, last_pass: now, due: None }
    }

    /// Something was queued at `now`: `true` if the pass should run now (then report it with
    /// [`Coalescer::flushed`]); `false` if it waits for [`Coalescer::poll_timeout`].
    pub fn queued(&mut self, now: Instant) -> bool {
        if self.due.is_some() {
            return false;
        }
        let due = self.last_pass + self.window;
        if now >= due {
            return true;
        }
        self.due = Some(due);
        false
    }

    /// When the waiting pass is due, if one waits.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.due
    }

    /// `true` if the waiting pass is due at `now` (run it, then [`Coalescer::flushed`]).
    pub fn handle_timeout(&mut self, now: Instant) -> bool {
        self.due.is_some_and(|d| now >= d)
    }

    /// A write pass ran at `now`.
    pub fn flushed(&mut self, now: Instant) {
        self.last_pass = now;
        self.due = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_goes_out_in_one_pass_per_window() {
        let t = Instant::now();
        let ms = |n| t + Duration::from_millis(n);
        let mut c = Coalescer::new(Duration::from_millis(13), t);
        let mut passes = Vec::new();
        // An event every millisecond for 50 ms: a pass at 13, 26, 39 (and the wait for 52).
        for n in 1..=50 {
            if c.handle_timeout(ms(n)) || c.queued(ms(n)) {
                passes.push(n);
                c.flushed(ms(n));
            }
        }
        assert_eq!(passes, [13, 26, 39]);
        assert_eq!(c.poll_timeout(), Some(ms(52)));
    }

    #[test]
    fn events_further_apart_than_the_window_wait_for_nothing() {
        let t = Instant::now();
        let ms = |n| t + Duration::from_millis(n);
        let mut c = Coalescer::new(Duration::from_millis(13), t);
        for n in [100, 200, 300] {
            assert!(c.queued(ms(n)), "{n}");
            c.flushed(ms(n));
        }
        assert_eq!(c.poll_timeout(), None);
        assert!(!c.handle_timeout(ms(1000)), "nothing waits, nothing is due");
    }

    #[test]
    fn a_zero_window_writes_every_event_at_once() {
        let t = Instant::now();
        let mut c = Coalescer::new(Duration::ZERO, t);
        assert!(c.queued(t));
        c.flushed(t);
        assert!(c.queued(t));
    }
}
