//! When a worker writes: the write-coalescing window, as a pure rule.
//!
//! Most of a write's cost is the kernel's (a system call, TCP and loopback work per write, not
//! per byte: see BENCHMARKS.md), so a burst of events is cheapest when each client gets all of it
//! in one vectored write. A worker therefore starts a write pass at most once per window: when
//! something is queued less than a window after the last pass began, the pass waits for the
//! window's end, and whatever arrives meanwhile goes out with it. Events further apart than the
//! window are written at once: at low rates nothing waits.
//!
//! The window is only as wide as it pays to be. Waiting saves writes, and writes cost what a
//! pass costs; so the worker times its passes, and the window is [`WIDEN`] times the recent
//! pass time (a moving average), never wider than the configured window. A pass is timed from
//! the start of the worker's turn that runs it (the `now` given to [`Coalescer::flushed`]), so
//! the reading and queueing done in that turn before the writes count as the pass's too: the
//! window follows the worker's whole busy time. A worker whose passes
//! take microseconds (a few clients) waits microseconds: its events go out nearly at once. One
//! whose passes take milliseconds (a thousand clients at a thousand events a second) waits
//! long enough that it spends at most about a third of its time writing, and widens under
//! load up to the configured bound, where each write carries the most events.
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
//! c.passed(ms(10) + Duration::from_micros(20));
//! assert!(c.window() < Duration::from_millis(10), "a cheap pass narrows the window");
//! assert!(c.queued(ms(25)), "a window after the last pass: at once");
//! ```

use std::time::{Duration, Instant};

/// The window is this many times the recent pass time: a worker under steady load then spends
/// at most about 1 / `WIDEN` of its time in write passes.
pub const WIDEN: u32 = 3;

/// Each pass's time moves the average by 1 / `SMOOTHING` of the difference, so one pass that
/// was preempted does not swing the window.
const SMOOTHING: u32 = 8;

/// The coalescing rule of one worker. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct Coalescer {
    /// The widest window (the configured one).
    widest: Duration,
    /// The moving average of the time a pass takes; the window is `WIDEN` times it, at most
    /// `widest`.
    pass_time: Duration,
    /// When the last write pass began.
    last_pass: Instant,
    /// When the pass that waits is due.
    due: Option<Instant>,
}

impl Coalescer {
    /// A rule whose window is at most `window` (zero: every event is written at once), as if a
    /// pass had run at `now`. It starts at its widest, and narrows as passes are timed.
    pub fn new(window: Duration, now: Instant) -> Coalescer {
        // Rounded up, so that `WIDEN` times it is the widest window exactly, not a nanosecond
        // short of it.
        let pass_time = window.saturating_add(Duration::from_nanos(u64::from(WIDEN - 1))) / WIDEN;
        Coalescer { widest: window, pass_time, last_pass: now, due: None }
    }

    /// The window now (see the [module docs](self)).
    pub fn window(&self) -> Duration {
        self.pass_time.saturating_mul(WIDEN).min(self.widest)
    }

    /// Something was queued at `now`: `true` if the pass should run now (then report it with
    /// [`Coalescer::flushed`]); `false` if it waits for [`Coalescer::poll_timeout`].
    pub fn queued(&mut self, now: Instant) -> bool {
        if self.due.is_some() {
            return false;
        }
        let due = self.last_pass + self.window();
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

    /// A write pass began at `now`.
    pub fn flushed(&mut self, now: Instant) {
        self.last_pass = now;
        self.due = None;
    }

    /// The pass begun at the last [`Coalescer::flushed`] ended at `now`: its time sets the
    /// window of the passes after it.
    pub fn passed(&mut self, now: Instant) {
        let took = now.saturating_duration_since(self.last_pass);
        self.pass_time = if took >= self.pass_time {
            self.pass_time + (took - self.pass_time) / SMOOTHING
        } else {
            self.pass_time - (self.pass_time - took) / SMOOTHING
        };
        // A pass that waits keeps its due time: it was promised by the window it began under.
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

    /// Runs passes of `took` each, `n` times, and returns the window after them.
    fn after_passes(c: &mut Coalescer, start: Instant, took: Duration, n: u32) -> Duration {
        let mut at = start;
        for _ in 0..n {
            c.flushed(at);
            c.passed(at + took);
            at += Duration::from_millis(100);
        }
        c.window()
    }

    #[test]
    fn cheap_passes_narrow_the_window_to_widen_times_their_time() {
        let t = Instant::now();
        let mut c = Coalescer::new(Duration::from_millis(13), t);
        assert_eq!(c.window(), Duration::from_millis(13), "widest until passes are timed");
        let w = after_passes(&mut c, t, Duration::from_micros(50), 200);
        let want = Duration::from_micros(50) * WIDEN;
        assert!(w >= want - Duration::from_micros(1) && w <= want + Duration::from_micros(1), "{w:?}");
        // A client's event a millisecond after such a pass goes out at once.
        c.flushed(t);
        assert!(c.queued(t + Duration::from_millis(1)));
    }

    #[test]
    fn slow_passes_widen_the_window_up_to_the_bound() {
        let t = Instant::now();
        let mut c = Coalescer::new(Duration::from_millis(13), t);
        after_passes(&mut c, t, Duration::from_micros(50), 200);
        let w = after_passes(&mut c, t, Duration::from_millis(2), 200);
        let want = Duration::from_millis(2) * WIDEN;
        assert!(w >= want - Duration::from_micros(10) && w <= want, "{w:?}");
        let w = after_passes(&mut c, t, Duration::from_millis(30), 200);
        assert_eq!(w, Duration::from_millis(13), "never wider than configured");
    }

    #[test]
    fn one_preempted_pass_moves_the_window_by_an_eighth() {
        let t = Instant::now();
        let mut c = Coalescer::new(Duration::from_millis(13), t);
        let w = after_passes(&mut c, t, Duration::from_millis(1), 300);
        let preempted = after_passes(&mut c, t, Duration::from_millis(9), 1);
        // (9 - 1) ms / SMOOTHING moves the pass time by 1 ms, so the window by WIDEN ms.
        let moved = Duration::from_millis(1) * WIDEN;
        assert!(preempted - w <= moved + Duration::from_micros(10), "{w:?} -> {preempted:?}");
    }

    #[test]
    fn a_waiting_pass_keeps_the_due_time_it_was_given() {
        let t = Instant::now();
        let ms = |n| t + Duration::from_millis(n);
        let mut c = Coalescer::new(Duration::from_millis(13), t);
        assert!(!c.queued(ms(1)));
        after_passes(&mut c, ms(200), Duration::from_micros(10), 1);
        c.flushed(ms(300));
        assert!(!c.queued(ms(301)), "the window is still wider than a millisecond");
        assert_eq!(c.poll_timeout(), Some(ms(300) + c.window()));
    }

    #[test]
    fn a_zero_window_writes_every_event_at_once() {
        let t = Instant::now();
        let mut c = Coalescer::new(Duration::ZERO, t);
        assert!(c.queued(t));
        c.flushed(t);
        c.passed(t + Duration::from_millis(5));
        assert_eq!(c.window(), Duration::ZERO);
        assert!(c.queued(t));
    }
}
