//! One HTTP/2 stream as the server sees it: what the client has sent, what we answer, its
//! flow-control windows and its queue.
//!
//! RFC 9113 §5.1 names the states by which side has ended: a request that ends with its
//! headers (every `GET`, every `EventSource`) leaves the stream *half-closed (remote)* at once;
//! a `POST` is *open* until its last `DATA`. The answer then runs on our side: a response (its
//! `HEADERS`, and its body queued) or an event stream, until our `END_STREAM` (or a
//! `RST_STREAM` from either side) closes it. A stream is kept only while open or half-closed;
//! closed streams are forgotten, and ids at or below the highest seen are then known closed.

use std::num::NonZeroU64;
use std::time::{Duration, Instant};

use crate::http::request::Request;
use crate::proto::queue::{OutQueue, QueuePool};
use crate::proto::stream_end::{EndReason, Sent, StreamTally};

/// Our side of a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Local {
    /// The request is still arriving, or was handed out and has no answer yet.
    Unanswered,
    /// Its answer comes later (from a backplane); past the instant, `503`.
    Waiting(Instant),
    /// Sending an event stream.
    Streaming,
    /// Our last frame waits in the queue: `END_STREAM` goes with the queue's last bytes.
    Ending,
}

/// How many streams a connection's list of streams grows by when full (not doubling: the
/// list lives as long as the connection, and a doubled one would leave up to half of it unused).
pub(crate) const STREAMS_STEP: usize = 4;

/// Pushes `item` onto a list of a connection's streams, growing it by [`STREAMS_STEP`] when
/// full (this list, and the worker's list of a socket's streams).
pub(crate) fn push_stepped<T>(list: &mut Vec<T>, item: T) {
    if list.len() == list.capacity() {
        list.reserve_exact(STREAMS_STEP);
    }
    list.push(item);
}

/// An instant of a connection's life, kept as the nanoseconds since the connection was
/// accepted (plus one, so that `Option<Tick>` needs no more room): eight bytes where an
/// `Instant` takes sixteen, in a struct every stream has one of. Exact to the nanosecond for
/// 584 years; an instant before the connection counts as its start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tick(NonZeroU64);

impl Tick {
    /// `at`, on the clock of a connection accepted at `epoch`.
    pub(crate) fn of(at: Instant, epoch: Instant) -> Tick {
        let nanos = u64::try_from(at.saturating_duration_since(epoch).as_nanos()).unwrap_or(u64::MAX);
        Tick(NonZeroU64::new(nanos.saturating_add(1)).unwrap_or(NonZeroU64::MAX))
    }

    /// The instant again.
    pub(crate) fn at(self, epoch: Instant) -> Instant {
        let since = Duration::from_nanos(self.0.get() - 1);
        // Past what an `Instant` holds is never (a far end of a token, say).
        epoch.checked_add(since).unwrap_or_else(|| epoch + Duration::from_secs(u64::from(u32::MAX)))
    }
}

/// A stream's window from the `i64` sum it was worked out in: within `i32` by the rules on
/// [`Stream::send_window`], clamped should a bug ever break them.
pub(crate) fn window(sum: i64) -> i32 {
    i32::try_from(sum.clamp(i64::from(i32::MIN), i64::from(i32::MAX))).unwrap_or_default()
}

/// A request being received: its head, and its body as far as it came.
#[derive(Debug)]
pub(crate) struct Incoming {
    pub(crate) request: Request,
    pub(crate) content_length: Option<usize>,
}

/// One open (or half-closed) stream.
#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) id: u32,
    /// The client's `END_STREAM` came: it sends nothing more (half-closed (remote)).
    pub(crate) remote_closed: bool,
    pub(crate) local: Local,
    /// What we may still send on it (RFC 9113 §6.9); negative after the peer lowered
    /// `SETTINGS_INITIAL_WINDOW_SIZE` below what was in flight. Four bytes are enough: a window
    /// never passes 2^31 - 1 (a change that would is refused before it is kept), and never goes
    /// below -(2^31 - 1) (we send only into a positive window, and a lower initial window
    /// takes off at most what it was). Sums are done in `i64` (see [`window`]).
    pub(crate) send_window: i32,
    /// What the client may still send on it.
    pub(crate) recv_window: i32,
    /// Received octets not yet given back with a `WINDOW_UPDATE`.
    pub(crate) recv_unacked: u32,
    /// The body (response, or events) waiting for window.
    pub(crate) out: OutQueue,
    /// When something was last queued (keep-alives are due `keep_alive` later).
    pub(crate) last_queued: Tick,
    /// Since when data has waited with no window to send it (a stream that stays so for
    /// `send_timeout` is reset).
    pub(crate) blocked_since: Option<Tick>,
    /// The request, until its last frame arrives and it is handed out.
    pub(crate) incoming: Option<Box<Incoming>>,
    /// The request was handed out ([`super::Event::Request`]): its end is reported too.
    pub(crate) delivered: bool,
    /// When the event stream ends by itself (its authorization expires), if ever.
    pub(crate) ends_at: Option<Tick>,
    /// Frame bytes sent on it besides its queue's: `HEADERS`, and each `DATA` frame's header.
    pub(crate) framing: u64,
    /// Why it ends: the first cause seen.
    pub(crate) end: Option<EndReason>,
}

impl Stream {
    pub(crate) fn new(
        id: u32,
        send_window: i64,
        recv_window: i64,
        limit: usize,
        pool: QueuePool,
        now: Tick,
    ) -> Stream {
        Stream {
            id,
            remote_closed: false,
            local: Local::Unanswered,
            send_window: window(send_window),
            recv_window: window(recv_window),
            recv_unacked: 0,
            out: OutQueue::in_pool(limit, pool),
            last_queued: now,
            blocked_since: None,
            incoming: None,
            delivered: false,
            ends_at: None,
            framing: 0,
            end: None,
        }
    }

    /// What it has sent, and why it ends (or `connection`'s reason, when it ends with it).
    pub(crate) fn tally(&self, connection: Option<EndReason>) -> StreamTally {
        let sent = self.out.sent();
        StreamTally {
            sent: Sent { events: sent.events, bytes: sent.bytes + self.framing },
            reason: self.end.or(connection),
        }
    }

    /// Whether it has something to frame: bytes, or the `END_STREAM` after them.
    pub(crate) fn has_output(&self) -> bool {
        !self.out.is_empty() || self.local == Local::Ending
    }

    /// Whether the answer has begun (its `HEADERS` are queued).
    pub(crate) fn answered(&self) -> bool {
        matches!(self.local, Local::Streaming | Local::Ending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every stream of a connection is one of these in its list (BENCHMARKS.md, HTTP/2 memory
    /// per stream): 192 bytes, of which its queue takes 112 (24 of them its front frame, held
    /// inline so that a queue of one frame allocates nothing).
    #[test]
    fn a_stream_is_small() {
        let size = std::mem::size_of::<Stream>();
        assert!(size <= 192, "a stream is {size} bytes");
        assert_eq!(std::mem::size_of::<Option<Tick>>(), 8);
    }

    #[test]
    fn ticks_keep_the_instant_to_the_nanosecond_and_start_at_the_connection() {
        let epoch = Instant::now();
        for d in [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_millis(1500),
            Duration::from_secs(86_400 * 400),
        ] {
            assert_eq!(Tick::of(epoch + d, epoch).at(epoch), epoch + d);
        }
        let later = epoch + Duration::from_secs(5);
        assert_eq!(Tick::of(epoch, later).at(later), later, "before the connection: its start");
        assert!(Tick::of(epoch + Duration::from_secs(1), epoch) != Tick::of(epoch, epoch));
    }

    #[test]
    fn windows_fit_four_bytes_and_a_broken_sum_is_clamped() {
        let max = i64::from(crate::h2::MAX_WINDOW_SIZE);
        assert_eq!(i64::from(window(max)), max);
        assert_eq!(i64::from(window(-max)), -max);
        assert_eq!(window(max + 1), i32::MAX);
        assert_eq!(window(i64::MIN), i32::MIN);
    }
}
