//! Token buckets: how often a peer may make the connection work for nothing.
//!
//! Some frames cost the server work and give the peer nothing it could not get otherwise: a
//! stream opened and at once reset (the "rapid reset" attack, CVE-2023-44487), a `PING` or
//! `SETTINGS` that must be acknowledged, a `PRIORITY` or an empty `DATA` frame. Each of those
//! takes a token from a bucket that refills at a steady rate up to its size; a peer that empties
//! it is told `ENHANCE_YOUR_CALM` and the connection ends. A client that behaves never comes
//! close: browsers send a handful of such frames per connection.

use std::time::Instant;

/// A token bucket: `size` tokens at most, `per_sec` more each second. Time is passed in.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Budget {
    /// Tokens left, in thousandths (so that slow refill rates lose nothing to rounding).
    milli: u64,
    size_milli: u64,
    per_sec: u64,
    last: Instant,
}

impl Budget {
    /// A full bucket at `now`.
    pub(crate) fn new(size: u32, per_sec: u32, now: Instant) -> Budget {
        let size_milli = u64::from(size) * 1000;
        Budget { milli: size_milli, size_milli, per_sec: u64::from(per_sec), last: now }
    }

    /// Takes one token at `now`; `false` when none is left.
    pub(crate) fn take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.milli < 1000 {
            return false;
        }
        self.milli -= 1000;
        true
    }

    /// Gives back `tokens` (work the peer is owed an answer for, such as a `WINDOW_UPDATE` for
    /// data we sent), up to the bucket's size.
    pub(crate) fn credit(&mut self, tokens: u32) {
        self.milli = (self.milli + u64::from(tokens) * 1000).min(self.size_milli);
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last);
        // Thousandths of a token: per_sec tokens a second is per_sec thousandths a millisecond.
        let add = (elapsed.as_micros() as u64).saturating_mul(self.per_sec) / 1000;
        if add > 0 {
            self.milli = (self.milli + add).min(self.size_milli);
            self.last = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_empties_then_refills_at_its_rate() {
        let t0 = Instant::now();
        let mut b = Budget::new(3, 10, t0);
        assert!(b.take(t0) && b.take(t0) && b.take(t0));
        assert!(!b.take(t0), "empty");
        assert!(!b.take(t0 + Duration::from_millis(50)), "half a token");
        assert!(b.take(t0 + Duration::from_millis(100)), "one token after 1/10 s");
        assert!(!b.take(t0 + Duration::from_millis(100)));
        let later = t0 + Duration::from_secs(60);
        assert!(b.take(later) && b.take(later) && b.take(later));
        assert!(!b.take(later), "never more than its size");
    }

    #[test]
    fn many_small_steps_refill_as_one_long_one() {
        let t0 = Instant::now();
        let mut b = Budget::new(2, 1000, t0);
        assert!(b.take(t0) && b.take(t0));
        let mut now = t0;
        let mut got = 0;
        for _ in 0..1000 {
            now += Duration::from_micros(100); // a tenth of a token each
            if b.take(now) {
                got += 1;
            }
        }
        assert!((99..=101).contains(&got), "{got} tokens in 100 ms at 1000/s");
    }

    #[test]
    fn credit_gives_tokens_back_up_to_the_size() {
        let t0 = Instant::now();
        let mut b = Budget::new(2, 0, t0);
        assert!(b.take(t0) && b.take(t0) && !b.take(t0));
        b.credit(5);
        assert!(b.take(t0) && b.take(t0) && !b.take(t0));
    }
}
