//! One HTTP/2 stream as the server sees it: what the client has sent, what we answer, its
//! flow-control windows and its queue.
//!
//! RFC 9113 §5.1 names the states by which side has ended: a request that ends with its
//! headers (every `GET`, every `EventSource`) leaves the stream *half-closed (remote)* at once;
//! a `POST` is *open* until its last `DATA`. The answer then runs on our side: a response (its
//! `HEADERS`, and its body queued) or an event stream, until our `END_STREAM` (or a
//! `RST_STREAM` from either side) closes it. A stream is kept only while open or half-closed;
//! closed streams are forgotten, and ids at or below the highest seen are then known closed.

use std::time::Instant;

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
    /// `SETTINGS_INITIAL_WINDOW_SIZE` below what was in flight.
    pub(crate) send_window: i64,
    /// What the client may still send on it.
    pub(crate) recv_window: i64,
    /// Received octets not yet given back with a `WINDOW_UPDATE`.
    pub(crate) recv_unacked: u32,
    /// The body (response, or events) waiting for window.
    pub(crate) out: OutQueue,
    /// When something was last queued (keep-alives are due `keep_alive` later).
    pub(crate) last_queued: Instant,
    /// Since when data has waited with no window to send it (a stream that stays so for
    /// `send_timeout` is reset).
    pub(crate) blocked_since: Option<Instant>,
    /// The request, until its last frame arrives and it is handed out.
    pub(crate) incoming: Option<Box<Incoming>>,
    /// The request was handed out ([`super::Event::Request`]): its end is reported too.
    pub(crate) delivered: bool,
    /// When the event stream ends by itself (its authorization expires), if ever.
    pub(crate) ends_at: Option<Instant>,
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
        now: Instant,
    ) -> Stream {
        Stream {
            id,
            remote_closed: false,
            local: Local::Unanswered,
            send_window,
            recv_window,
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
