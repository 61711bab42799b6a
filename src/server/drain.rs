//! The graceful drain: a node leaving a cluster hands its clients over to the other nodes a
//! few at a time, so that none is lost and no node is hit by every reconnection at once.
//!
//! ```text
//! ShutdownHandle::drain(over) ─► draining flag (/readyz 503) ─► Command::Drain to every worker
//! worker: stop accepting (the listener closes), HTTP/2 connections get GOAWAY, every stream
//!         gets `retry: 500..1500` ─► Schedule: stream k of n ends at start + over·(k+1)/n
//!         (HTTP/1.1: final chunk and FIN; HTTP/2: END_STREAM) ─► after the last (at once
//!         if there was none), whatever remains is shut down ─► the worker exits once its
//!         connections are gone (at most min(shutdown grace, 0.75 s) later)
//! ```
//!
//! Streams still open keep getting every event published meanwhile (the backplane runs until
//! the workers are done); a stream that ends has its client reconnect, after its short `retry`,
//! to another node (this one no longer accepts) with `Last-Event-ID`, and resume there from
//! Redis without gap or duplicate. A stream request that still reaches a draining node (on a
//! connection open before) is answered `200` with nothing but a `retry` and the end of the
//! stream ([`turn_away`]): an `EventSource` reconnects after a non-`200` never, after an ended
//! stream always.
//!
//! The schedule and the hint are pure ([`Schedule`], [`retry_hint`]); the `impl Worker` below
//! carries them out.

use std::time::{Duration, Instant};

use super::slots::Key;
use super::worker::{Worker, Writing, deliver};
use crate::http::response::Response;
use crate::proto::stream_end::EndReason;
use crate::proto::{Endpoint, Frame};

/// The longest the end of a drain waits for the last queued data (with
/// [`Config::shutdown_grace`](super::Config::shutdown_grace), whichever is shorter): short
/// enough that with the backplane's threads stopping after it (up to 0.2 s) the process is
/// done within a second of the window.
pub(crate) const TAIL: Duration = Duration::from_millis(750);

/// When each of `total` streams ends: stream `k` (from 0) at `start + over·(k+1)/total`, evenly
/// over the window, the last at its end; all at `start` when `over` is zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Schedule {
    start: Instant,
    over: Duration,
    total: usize,
}

impl Schedule {
    pub(crate) fn new(start: Instant, over: Duration, total: usize) -> Schedule {
        Schedule { start, over, total }
    }

    /// How many streams the schedule has.
    pub(crate) fn total(&self) -> usize {
        self.total
    }

    /// The end of the window.
    pub(crate) fn ends(&self) -> Instant {
        self.start + self.over
    }

    /// When stream `k` ends.
    pub(crate) fn end_at(&self, k: usize) -> Instant {
        let over = self.over.as_nanos();
        let at = over * (k as u128 + 1) / (self.total.max(1) as u128);
        self.start + Duration::from_nanos(u64::try_from(at.min(over)).unwrap_or(u64::MAX))
    }

    /// How many streams are due to have ended by `now` (the `k` with `end_at(k) <= now`).
    pub(crate) fn due(&self, now: Instant) -> usize {
        if now < self.start || self.total == 0 {
            return 0;
        }
        let over = self.over.as_nanos();
        if over == 0 || now >= self.ends() {
            return self.total;
        }
        // end_at(k) <= start + e  ⟺  ⌊over·(k+1)/n⌋ <= e  ⟺  over·(k+1) < n·(e+1).
        let elapsed = now.duration_since(self.start).as_nanos();
        let n = self.total as u128;
        let due = (n * (elapsed + 1) - 1) / over;
        usize::try_from(due).unwrap_or(usize::MAX).min(self.total)
    }

    /// When the next stream ends once `ended` have: `None` when all have.
    pub(crate) fn next_at(&self, ended: usize) -> Option<Instant> {
        (ended < self.total).then(|| self.end_at(ended))
    }
}

/// The `retry` (ms) a draining stream is sent, from its client's id: 500 to 1,499 ms, spread
/// so that clients ended at the same instant do not all reconnect at the same instant.
pub(crate) fn retry_hint(client_id: u64) -> u64 {
    // SplitMix64's finaliser: consecutive ids land far apart.
    let mut z = client_id.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    500 + z % 1000
}

/// The answer to a stream request on a draining node: a stream that holds only `retry` and
/// ends, so that the client reconnects (elsewhere) soon, keeping its `Last-Event-ID`.
pub(crate) fn turn_away(retry_ms: u64) -> Response {
    crate::http::answer::come_back(None, retry_ms)
}

/// A worker's drain under way.
pub(crate) struct Draining {
    schedule: Schedule,
    /// The streams open when it began, in the order they end.
    streams: Vec<Key>,
    /// How many of them have been ended.
    ended: usize,
}

impl Worker {
    /// Begins the drain (once; not during a shutdown): no more accepting, `GOAWAY` on HTTP/2
    /// connections, a `retry` hint on every stream, and the schedule for their ends.
    pub(super) fn begin_drain(&mut self, start: Instant, over: Duration, now: Instant) {
        if self.drain.is_some() || self.shutdown_deadline.is_some() {
            return;
        }
        self.close_listener();
        let shared = self.shared.clone();
        let stats = &shared.counters.workers[self.index];
        let mut streams = Vec::new();
        for i in 0..self.slots.len() {
            let Some(key) = self.slots.key_at(i) else { continue };
            let Some(live) = self.slots.get(key) else { continue };
            if let Some(h2) = live.socket().and_then(|s| s.proto.http2()) {
                h2.drain(now);
            }
            let Some(client) = live.client.as_ref() else { continue };
            let hint = Frame::event(&crate::Event::default().retry(retry_hint(client.id)))
                .expect("retry is always valid");
            deliver(&mut self.slots, i, None, hint, now, &Writing { shared: &shared, stats, run: &self.run });
            streams.push(key);
        }
        self.drain = Some(Box::new(Draining {
            schedule: Schedule::new(start, over, streams.len()),
            streams,
            ended: 0,
        }));
        self.flush_everyone = true;
        self.flush_pending(now);
        self.drain_step(now);
    }

    /// When the drain next has something to do.
    pub(super) fn drain_timeout(&self) -> Option<Instant> {
        let d = self.drain.as_ref()?;
        Some(d.schedule.next_at(d.ended).unwrap_or_else(|| d.schedule.ends()))
    }

    /// Ends the streams that are due; once the last has (at the end of the window, or at once
    /// when there were none), the shutdown of what remains.
    pub(super) fn drain_step(&mut self, now: Instant) {
        let Some(d) = self.drain.as_mut() else { return };
        if self.shutdown_deadline.is_some() {
            // Shut down meanwhile (a second signal): everything ended at once.
            self.drain = None;
            return;
        }
        let due = d.schedule.due(now);
        let keys: Vec<Key> = d.streams[d.ended.min(due)..due].to_vec();
        d.ended = due.max(d.ended);
        let all_ended = d.ended >= d.schedule.total();
        for key in keys {
            self.end_drained(key, now);
        }
        if all_ended {
            // The last stream ends at the end of the window (at once if there were none): what
            // else is open (idle keep-alive connections, a stream started since) is shut down.
            self.drain = None;
            self.begin_shutdown(now);
            let tail = now + self.shared.config.shutdown_grace.min(TAIL);
            self.shutdown_deadline = self.shutdown_deadline.map(|t| t.min(tail));
            self.flush_pending(now);
        }
    }

    /// Ends one stream of the drain after what is queued for it: HTTP/1.1 with its final chunk
    /// and the connection's close (no lingering), HTTP/2 with `END_STREAM`.
    fn end_drained(&mut self, key: Key, now: Instant) {
        if self.slots.get(key).is_none_or(|live| live.client.is_none()) {
            return; // gone meanwhile, and the slot taken by another connection
        }
        // The access log's reason is `shutdown`: HTTP/1.1's `Conn::shutdown` notes it itself.
        match self.endpoint(key) {
            Some(Endpoint::Http1(conn)) => conn.shutdown(now),
            Some(Endpoint::Http2(conn, id)) => {
                conn.note_stream_end(id, EndReason::Shutdown);
                conn.finish_stream(id, now)
            }
            None => return,
        }
        self.serve(key.slot, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(over_ms: u64, total: usize) -> (Instant, Schedule) {
        let start = Instant::now();
        (start, Schedule::new(start, Duration::from_millis(over_ms), total))
    }

    #[test]
    fn streams_end_evenly_over_the_window_the_last_at_its_end() {
        let (start, s) = schedule(2_000, 4);
        let at: Vec<Duration> = (0..4).map(|k| s.end_at(k) - start).collect();
        assert_eq!(at, [500, 1_000, 1_500, 2_000].map(Duration::from_millis));
        assert_eq!(s.due(start), 0);
        assert_eq!(s.due(start + Duration::from_millis(499)), 0);
        assert_eq!(s.due(start + Duration::from_millis(500)), 1);
        assert_eq!(s.due(start + Duration::from_millis(1_999)), 3);
        assert_eq!(s.due(start + Duration::from_millis(2_000)), 4);
        assert_eq!(s.due(start + Duration::from_secs(60)), 4);
        assert_eq!(s.next_at(0), Some(start + Duration::from_millis(500)));
        assert_eq!(s.next_at(4), None);
        assert_eq!(s.ends(), start + Duration::from_secs(2));
    }

    #[test]
    fn due_agrees_with_end_at_for_every_stream() {
        // Uneven divisions: every instant a stream ends is the first at which it is due.
        for (over_ns, total) in [(1_000_u64, 3_usize), (7, 10), (10_000_000_000, 2_000), (3, 1), (1, 5)] {
            let start = Instant::now();
            let s = Schedule::new(start, Duration::from_nanos(over_ns), total);
            for k in 0..total {
                let at = s.end_at(k);
                assert!(s.due(at) > k, "{over_ns} ns, {total}: stream {k} due at its end");
                if at > start {
                    assert!(s.due(at - Duration::from_nanos(1)) <= k, "{over_ns} ns, {total}: not before");
                }
            }
            assert!(s.end_at(total - 1) <= s.ends());
        }
    }

    #[test]
    fn a_window_of_zero_ends_everything_at_once_and_none_is_nothing_to_do() {
        let (start, s) = schedule(0, 3);
        assert_eq!(s.due(start), 3);
        assert_eq!(s.end_at(2), start);
        let (start, none) = schedule(1_000, 0);
        assert_eq!(none.due(start), 0);
        assert_eq!(none.next_at(0), None);
        assert_eq!(none.due(start + Duration::from_secs(1)), 0);
    }

    #[test]
    fn the_retry_hint_is_short_and_spread() {
        let hints: Vec<u64> = (0..1_000).map(retry_hint).collect();
        assert!(hints.iter().all(|h| (500..1_500).contains(h)));
        let mut distinct = hints.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert!(distinct.len() > 500, "spread: {} distinct of 1,000", distinct.len());
        assert_eq!(retry_hint(7), retry_hint(7), "a function of the id");
    }

    #[test]
    fn a_stream_asked_for_while_draining_gets_a_retry_and_its_end() {
        let r = turn_away(800);
        assert_eq!(r.status, 200);
        assert!(r.headers.contains(&("Content-Type".into(), "text/event-stream".into())));
        let mut items = Vec::new();
        crate::Decoder::new().feed(&r.body, |item| items.push(item.to_owned())).unwrap();
        assert_eq!(items, vec![crate::OwnedItem::Retry(800)]);
    }
}
