//! One connection's protocol state, without the socket and without a clock.
//!
//! ```text
//!            bytes ──► Head ──(request complete)──► the driver decides:
//!                       ▲                            ├─ respond(keep-alive) ──► Head (next, pipelined)
//!                       └────────────────────────────┤─ respond(close) ───────► Closing
//!                                                    ├─ start_stream ─────────► Streaming
//!                                                    └─ defer ──► Waiting ──► any of the above
//!                                                                 (or, past its deadline, 503)
//!  Streaming ──(finish, shutdown, overflow, no progress)──► Closing ──(queue written)──► Closed
//!  Closing after an answer that closes ──(queue written)──► Lingering ──(peer's FIN, or time)──► Closed
//! ```
//!
//! # Driving it
//! The driver feeds what it reads to [`Conn::received`], takes requests from
//! [`Conn::poll_request`], answers with [`Conn::respond`] or [`Conn::start_stream`], queues
//! events with [`Conn::push`], and writes with [`Conn::write_to`] whenever the socket is writable
//! and [`Conn::wants_write`]. It reads while [`Conn::wants_read`], tells the connection when the
//! socket ran dry ([`Conn::read_would_block`]) or became readable again ([`Conn::readable`]), and
//! so knows when reading must resume by itself ([`Conn::resume_read`]): with edge-triggered
//! readiness nobody else will say. When [`Conn::poll_fin`] says so, it shuts the socket's
//! sending side; at [`Phase::Closed`] it drops the socket.
//!
//! # Time
//! Time is a value passed in (`now`), never read. The connection keeps every deadline it has
//! and tells the driver the earliest with [`Conn::poll_timeout`]; at or after it, the driver
//! calls [`Conn::handle_timeout`], which does what is due and says what it did ([`Timeout`]).
//! Calling it early, or again, does nothing. The deadlines:
//!
//! | phase | deadline | then |
//! |---|---|---|
//! | `Head`, a request begun (or none ever sent) | first byte + `header_timeout` | `408`, close |
//! | `Head`, idle between kept-alive requests | last answer + `idle_timeout` | close quietly |
//! | `Waiting` | the `defer` wait | `503` with `Retry-After: 1`, close |
//! | `Streaming` | last thing queued + `keep_alive` | a keep-alive comment |
//! | `Streaming`, with an end set ([`Conn::end_stream_at`]: its token expires) | that instant | the stream ends gracefully (its last chunk) |
//! | any, with something queued | the last write that made progress (or the queue filling) + `send_timeout` | dropped: the peer is gone or stopped reading |
//! | `Lingering` | the answer written + `linger` | closed |
//!
//! # Input after the request
//! Requests are answered in the order received, including pipelined ones: answers go into the
//! same FIFO queue as the stream. Once a connection streams, or is closing, what the client sends
//! is read and dropped: an EventSource never sends anything after its request, and dropping it
//! (rather than buffering) keeps a misbehaving client from growing our memory. After an answer
//! that closes the connection (an error, a `Connection: close`), the connection lingers: it sends
//! its FIN and keeps reading (and dropping) for a while, so that input still in flight does not
//! make the kernel answer with a reset that would destroy the answer before the client read it.

use std::io::{self, IoSlice, Write};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use crate::h2::PREFACE;
use crate::http::request::{Limits, Request, parse_head};
use crate::http::response::{Framing, LAST_CHUNK, Response};
use crate::proto::queue::{Frame, OutQueue, Overflow, QueuePool};
use crate::proto::run::Run;
use crate::proto::stream_end::{EndReason, StreamTally};

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Reading a request head (and body).
    Head,
    /// A request was taken and its answer comes from elsewhere (a backplane); nothing is read
    /// meanwhile.
    Waiting,
    /// Sending an event stream.
    Streaming,
    /// Writing what is queued, then closing (or lingering); input is dropped.
    Closing,
    /// The answer is written and the FIN sent: input is dropped until the peer closes too, or the
    /// linger time has passed.
    Lingering,
    /// Done: the driver drops the socket.
    Closed,
}

/// What [`Conn::poll_request`] found in the bytes received so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Input {
    /// Nothing complete yet.
    NeedMore,
    /// A complete request (with its body).
    Request(Request),
    /// A request head with `Expect: 100-continue` whose body has not arrived: the client waits
    /// for a word before sending it (RFC 9110 §10.1.1). The driver either lets it come with
    /// [`Conn::continue_body`] (the request then arrives whole, as [`Input::Request`]), or
    /// answers now with a final status and closes ([`Conn::respond`] without keep-alive), so that
    /// a refused body (a wrong token, say) is never read. The request has no body yet.
    Expect(Request),
    /// The input is refused: the answer is queued and the connection is closing.
    Refused(u16),
    /// The connection opened with the HTTP/2 preface (RFC 9113 §3.3, "prior knowledge"), or
    /// with a first line that is not HTTP/1 at all (three words, the last not `HTTP/...`: a
    /// client that means HTTP/2 and got the preface wrong, which the HTTP/2 side answers with
    /// `GOAWAY` `PROTOCOL_ERROR`, RFC 9113 §3.4). The driver hands the input
    /// ([`Conn::take_input`]) to an HTTP/2 connection, or calls [`Conn::no_http2`] when HTTP/2
    /// is off and polls again (then it is read as HTTP/1: `505` for the preface).
    Http2,
}

/// What [`Conn::handle_timeout`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timeout {
    /// A request head did not arrive in time: `408` queued, closing.
    RequestTimeout,
    /// A kept-alive connection idled past `idle_timeout`: closed quietly.
    Idle,
    /// A deferred request's answer did not come in time: `503` queued, closing.
    NoAnswer,
    /// A stream had nothing queued for `keep_alive`: a keep-alive comment is queued.
    KeepAlive,
    /// A stream reached the end set by [`Conn::end_stream_at`]: it ends gracefully (the last
    /// chunk after what is queued), and the client reconnects.
    Ended,
    /// Queued data made no progress for `send_timeout` (or a keep-alive did not fit the queue):
    /// the queue is dropped and the connection closed.
    Stalled,
    /// The linger after a closing answer is over: closed.
    Lingered,
}

/// How many slices one vectored write gathers (Linux allows 1024; 64 covers any real backlog).
const MAX_IOVECS: usize = 64;

/// The interim answer to `Expect: 100-continue`.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The keep-alive comment (`:` and an empty line), encoded once for every stream.
static KEEP_ALIVE: LazyLock<Frame> = LazyLock::new(|| Frame::comment(""));

/// A connection's bounds in time and space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Bytes that may wait to be written. A stream past it is closed; a connection whose
    /// answers pass it stops taking requests until they are written (pipelining backpressure).
    pub max_queue_bytes: usize,
    /// Time from the first byte of a request head (or from accepting) to its end.
    pub header_timeout: Duration,
    /// Time a keep-alive connection may wait, idle, for its next request.
    pub idle_timeout: Duration,
    /// A stream with nothing queued for this long gets a keep-alive comment; `None`: never.
    pub keep_alive: Option<Duration>,
    /// Queued data that makes no progress for this long drops the connection.
    pub send_timeout: Duration,
    /// How long a connection closed after an answer keeps draining input (see the module docs).
    pub linger: Duration,
}

impl Default for Settings {
    /// The server's defaults: 1 MiB, 10 s, 60 s, 15 s, 45 s, 2 s.
    fn default() -> Settings {
        Settings {
            max_queue_bytes: 1 << 20,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            keep_alive: Some(Duration::from_secs(15)),
            send_timeout: Duration::from_secs(45),
            linger: Duration::from_secs(2),
        }
    }
}

/// One connection, without its socket. See the [module docs](self).
#[derive(Debug)]
pub struct Conn {
    phase: Phase,
    /// Unparsed input (request heads and bodies); empty and unallocated while streaming.
    inbuf: Vec<u8>,
    /// Bytes at the front of `inbuf` already taken by requests (dropped at the next read, so
    /// many pipelined requests in one read cost one move, not one each).
    consumed: usize,
    out: OutQueue,
    settings: Arc<Settings>,
    /// `Head`: when the request head must be complete, or the idle wait ends. `Waiting`: when
    /// the deferred answer is due. `Streaming`: when the stream must end, if ever.
    /// `Lingering`: when the linger ends.
    deadline: Option<Instant>,
    /// The last write that made progress, or when the queue went from empty to not.
    progress: Instant,
    /// When something was last queued on the stream (for keep-alives).
    last_queued: Instant,
    /// A request was answered (so the connection is a kept-alive one).
    answered: bool,
    /// The pending request's `Expect: 100-continue` was reported (it is reported once).
    expect_reported: bool,
    /// Input was found to be HTTP/1 (a request, an expectation, a refusal): the HTTP/2
    /// preface can no longer start it.
    began: bool,
    /// Once written, the answer that closes the connection is followed by a linger.
    linger: bool,
    /// The FIN is due (the driver has not been told yet).
    fin: bool,
    /// The socket was read until it would block, and has not been readable since.
    drained: bool,
    /// `None` until the connection streams (its queue's tally counts from the stream's start);
    /// then why the stream ends, the first cause seen. (One byte: the connection stays small.)
    stream_end: Option<Option<EndReason>>,
}

impl Conn {
    /// A connection accepted at `now`; its first request head is due `header_timeout` later.
    pub fn new(settings: Settings, now: Instant) -> Conn {
        Conn::shared(Arc::new(settings), QueuePool::new(usize::MAX), now)
    }

    /// Like [`Conn::new`], with settings shared by a worker's connections and the queue
    /// counted in `pool` with theirs (see [`QueuePool`]).
    pub fn shared(settings: Arc<Settings>, pool: QueuePool, now: Instant) -> Conn {
        Conn {
            phase: Phase::Head,
            inbuf: Vec::new(),
            consumed: 0,
            out: OutQueue::in_pool(settings.max_queue_bytes, pool),
            deadline: Some(now + settings.header_timeout),
            settings,
            progress: now,
            last_queued: now,
            answered: false,
            expect_reported: false,
            began: false,
            linger: false,
            fin: false,
            drained: false,
            stream_end: None,
        }
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The connection's settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The stream's tally (events and bytes sent since it began, why it ended), once the
    /// connection has streamed.
    pub fn stream_tally(&self) -> Option<StreamTally> {
        self.stream_end.map(|reason| StreamTally { sent: self.out.sent(), reason })
    }

    /// Notes why the stream ends, unless a cause was seen already (or it never streamed).
    pub fn note_end(&mut self, why: EndReason) {
        if let Some(end) = self.stream_end.as_mut() {
            why.note(end);
        }
    }

    /// Bytes queued for writing.
    pub fn queued_bytes(&self) -> usize {
        self.out.queued_bytes()
    }

    /// Whether the driver should read from the socket now.
    ///
    /// While answers to earlier requests fill the queue, no more requests are read: the
    /// client's unread requests wait in the kernel, and TCP flow control slows it down. Streams
    /// and closing connections are read (and the bytes dropped) to notice the peer leaving.
    pub fn wants_read(&self) -> bool {
        match self.phase {
            Phase::Head => self.out.queued_bytes() < self.settings.max_queue_bytes,
            Phase::Streaming | Phase::Closing | Phase::Lingering => true,
            // The next pipelined request stays in the kernel until this one is answered.
            Phase::Waiting | Phase::Closed => false,
        }
    }

    /// The socket says it has something to read.
    pub fn readable(&mut self) {
        self.drained = false;
    }

    /// A read found nothing more (it would block).
    pub fn read_would_block(&mut self) {
        self.drained = true;
    }

    /// Whether the driver must read now without waiting for readiness: reading stopped while
    /// input may still wait in the socket (the connection did not want it then), and now it
    /// does.
    pub fn resume_read(&self) -> bool {
        !self.drained && self.wants_read()
    }

    /// Takes bytes read from the socket at `now`.
    ///
    /// Input is bounded by [`Conn::poll_request`] (a head past the limit is refused), which takes
    /// nothing while the connection waits: a driver reads only while [`Conn::wants_read`].
    pub fn received(&mut self, bytes: &[u8], now: Instant) {
        // While waiting, input is kept too (a pipelined request read with the deferred one),
        // though a driver that follows `wants_read` reads nothing more then.
        if !matches!(self.phase, Phase::Head | Phase::Waiting) || bytes.is_empty() {
            return;
        }
        if self.consumed > 0 {
            self.inbuf.drain(..self.consumed);
            self.consumed = 0;
        }
        if self.inbuf.is_empty() && self.phase == Phase::Head {
            // A new request head starts: from here the header timeout applies, not the idle one.
            self.deadline = Some(now + self.settings.header_timeout);
        }
        self.inbuf.extend_from_slice(bytes);
    }

    /// The peer closed its sending side (read returned 0).
    ///
    /// A connection waiting for a request, or for its answer, has nothing more to do; a stream's
    /// client left (an EventSource never half-closes); a closing one writes what it has but
    /// need not linger for a peer that sends nothing more.
    pub fn peer_closed(&mut self) {
        self.linger = false;
        if self.phase == Phase::Streaming {
            self.note_end(EndReason::ClientLeft);
        }
        match self.phase {
            Phase::Head => self.close(),
            Phase::Streaming | Phase::Waiting | Phase::Lingering => self.abort(),
            Phase::Closing | Phase::Closed => {}
        }
    }

    /// Looks for a complete request in the input (none while a deferred answer is awaited).
    pub fn poll_request(&mut self, limits: &Limits, now: Instant) -> Input {
        let input = &self.inbuf[self.consumed..];
        if self.phase != Phase::Head || input.is_empty() || !self.wants_read() {
            return Input::NeedMore;
        }
        if !self.began {
            // Only a connection's first bytes can be the preface; later, `PRI` is a 505.
            if input.starts_with(PREFACE) || not_http1(input) {
                return Input::Http2;
            }
            if PREFACE.starts_with(input) {
                return Input::NeedMore;
            }
        }
        let parsed = parse_head(input, limits);
        if !matches!(parsed, Ok(None)) {
            self.began = true;
        }
        let input = &self.inbuf[self.consumed..];
        match parsed {
            Ok(None) => Input::NeedMore,
            Ok(Some(head)) => {
                let total = head.head_len + head.body_len;
                if input.len() < total {
                    if head.body_len > 0 && !self.expect_reported && head.request.expects_continue() {
                        self.expect_reported = true;
                        return Input::Expect(head.request);
                    }
                    return Input::NeedMore;
                }
                self.expect_reported = false;
                let mut request = head.request;
                request.body = input[head.head_len..total].to_vec();
                self.consumed += total;
                if self.consumed == self.inbuf.len() {
                    self.inbuf.clear();
                    self.consumed = 0;
                }
                Input::Request(request)
            }
            Err(response) => {
                let status = response.status;
                self.respond(&response, Framing::CLOSE, now);
                Input::Refused(status)
            }
        }
    }

    /// HTTP/2 is off: the input is read as HTTP/1 whatever it starts with (the preface is then
    /// a `505`, like any other version).
    pub fn no_http2(&mut self) {
        self.began = true;
    }

    /// Gives up the input not yet taken by a request (what follows [`Input::Http2`]) and
    /// closes: the connection's socket now belongs to another protocol.
    pub fn take_input(&mut self) -> Vec<u8> {
        let mut input = std::mem::take(&mut self.inbuf);
        input.drain(..self.consumed);
        self.consumed = 0;
        self.abort();
        input
    }

    /// Tells a client that waits (see [`Input::Expect`]) to send its request body.
    pub fn continue_body(&mut self, now: Instant) {
        if self.phase == Phase::Head {
            self.queue(Frame::raw(CONTINUE.to_vec()), now);
        }
    }

    /// Holds the request just taken for an answer that comes from elsewhere (see
    /// [`Phase::Waiting`]), until [`Conn::respond`] or [`Conn::start_stream`], or until `wait`
    /// has passed: then [`Conn::handle_timeout`] answers `503`.
    pub fn defer(&mut self, wait: Duration, now: Instant) {
        if self.phase == Phase::Head {
            self.phase = Phase::Waiting;
            self.deadline = Some(now + wait);
        }
    }

    /// Queues an answer to the last request. Without keep-alive the connection closes once it is
    /// written (and lingers); a kept-alive one then waits `idle_timeout` for its next request
    /// (`header_timeout` if that request has already begun to arrive).
    pub fn respond(&mut self, response: &Response, framing: Framing, now: Instant) {
        if !matches!(self.phase, Phase::Head | Phase::Waiting) {
            return;
        }
        self.phase = Phase::Head;
        let mut bytes = Vec::with_capacity(128 + response.body.len());
        response.write_to(&mut bytes, framing);
        self.queue(Frame::raw(bytes), now);
        self.answered = true;
        if framing.keep_alive {
            let started = self.inbuf.len() > self.consumed;
            let wait = if started { self.settings.header_timeout } else { self.settings.idle_timeout };
            self.deadline = Some(now + wait);
        } else {
            self.linger = true;
            self.close();
        }
    }

    /// Turns the connection into an event stream: `head` is the response head, `first` the
    /// frames sent at once (the `:ok` comment, an initial `retry`, a replay).
    pub fn start_stream(&mut self, head: Vec<u8>, chunked: bool, first: &[Frame], now: Instant) {
        if !matches!(self.phase, Phase::Head | Phase::Waiting) {
            return;
        }
        self.stream_end = Some(None);
        self.out.reset_sent();
        self.queue(Frame::raw(head), now);
        self.out.set_chunked(chunked);
        for frame in first {
            self.out.push_unbounded(frame.clone());
        }
        self.phase = Phase::Streaming;
        self.inbuf = Vec::new();
        self.consumed = 0;
        self.deadline = None;
    }

    /// Ends the stream at `at` (gracefully, as [`Conn::finish_stream`] does): what a stream
    /// opened with a token that expires then is given (see [`crate::auth::Access::ends_at`]).
    /// An instant already past ends it at the next [`Conn::handle_timeout`]. Only a stream has an
    /// end; a later call moves it.
    pub fn end_stream_at(&mut self, at: Instant) {
        if self.phase == Phase::Streaming {
            self.deadline = Some(at);
        }
    }

    /// Whether queueing `frame` now would pass the bound (so the driver should write first).
    pub fn would_overflow(&self, frame: &Frame) -> bool {
        self.out.would_overflow(frame)
    }

    /// Queues an event frame on a stream at `now`.
    ///
    /// Past the queue bound the frame is refused, the queue dropped and the connection closed:
    /// a client that does not read must not grow our memory or hold up anyone else.
    pub fn push(&mut self, frame: Frame, now: Instant) -> Result<(), Overflow> {
        if self.phase != Phase::Streaming {
            return Ok(());
        }
        if self.out.is_empty() {
            self.progress = now;
        }
        self.last_queued = now;
        self.out.push(frame).inspect_err(|_| {
            self.note_end(EndReason::SlowClient);
            self.abort();
        })
    }

    /// Queues the next part of a stream's replay (see [`crate::hub::Hub::replay`]), sized by the
    /// driver to [`Conn::replay_room`].
    pub fn push_replay(&mut self, frames: Vec<Frame>, now: Instant) {
        if self.phase == Phase::Streaming {
            for frame in frames {
                self.queue(frame, now);
            }
        }
    }

    /// How many replay bytes the stream may take now: nothing until its queue is written out,
    /// then its bound or what its pool has left, whichever is less.
    pub fn replay_room(&self) -> usize {
        if self.phase != Phase::Streaming || !self.out.is_empty() {
            return 0;
        }
        self.out.limit().min(self.out.pool().room())
    }

    /// Ends a stream gracefully: the last chunk (for chunked streams) after what is queued.
    pub fn finish_stream(&mut self, now: Instant) {
        if self.phase == Phase::Streaming {
            // Unless a cause was noted before (shutdown, expiry), the server chose to end it.
            self.note_end(EndReason::Closed);
            if self.out.is_chunked() {
                self.queue(Frame::raw(LAST_CHUNK.to_vec()), now);
            }
            self.close();
        }
    }

    /// The server is going away: streams end gracefully, requests in progress are dropped, and
    /// nothing lingers; what is queued is still written (for as long as the driver lets it).
    pub fn shutdown(&mut self, now: Instant) {
        self.linger = false;
        match self.phase {
            Phase::Streaming => {
                self.note_end(EndReason::Shutdown);
                self.finish_stream(now);
            }
            Phase::Head | Phase::Waiting => self.close(),
            Phase::Lingering => self.abort(),
            Phase::Closing | Phase::Closed => {}
        }
    }

    /// Closes once what is queued is written.
    pub fn close(&mut self) {
        self.inbuf = Vec::new();
        self.consumed = 0;
        self.deadline = None;
        self.phase = Phase::Closing;
        self.settle_closing(None);
    }

    /// Closes now, dropping what is queued.
    pub fn abort(&mut self) {
        self.out.clear();
        self.inbuf = Vec::new();
        self.consumed = 0;
        self.deadline = None;
        self.linger = false;
        self.phase = Phase::Closed;
    }

    /// Whether there is something to write.
    pub fn wants_write(&self) -> bool {
        !self.out.is_empty() && self.phase != Phase::Closed
    }

    /// Writes what is queued (vectored writes) until it is all written or `w` would block.
    ///
    /// Returns the bytes written. An error other than `WouldBlock` closes the connection.
    pub fn write_to<W: Write>(&mut self, w: &mut W, now: Instant) -> io::Result<usize> {
        self.write_to_in(w, now, None)
    }

    /// As [`Conn::write_to`], with the queued frames that follow one another in `run` written
    /// as one slice of it (see [`crate::proto::run`]).
    pub fn write_to_in<W: Write>(&mut self, w: &mut W, now: Instant, run: Option<&Run>) -> io::Result<usize> {
        let mut total = 0;
        while !self.out.is_empty() && self.phase != Phase::Closed {
            let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
            let n = self.out.io_slices_in(&mut slices, run);
            // One slice (an event at a low rate, to most streams) goes by `write`: for a socket
            // that is `send`, a shorter path through the kernel than `writev`'s.
            let result = if n == 1 { w.write(&slices[0]) } else { w.write_vectored(&slices[..n]) };
            match result {
                Ok(0) => {
                    self.note_end(EndReason::ClientLeft);
                    self.abort();
                    return Err(io::ErrorKind::WriteZero.into());
                }
                Ok(written) => {
                    total += written;
                    self.out.advance(written);
                    self.progress = now;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(total),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // A peer that never acknowledged our data for TCP_USER_TIMEOUT (the send
                    // timeout) fails the socket with ETIMEDOUT; any other failure is its leaving.
                    let timed_out = e.kind() == io::ErrorKind::TimedOut;
                    self.note_end(if timed_out { EndReason::SendTimeout } else { EndReason::ClientLeft });
                    self.abort();
                    return Err(e);
                }
            }
        }
        self.settle_closing(Some(now));
        Ok(total)
    }

    /// Whether the driver must now shut the socket's sending side (once: the connection has
    /// begun to linger). Should that fail, the driver calls [`Conn::abort`].
    pub fn poll_fin(&mut self) -> bool {
        std::mem::take(&mut self.fin)
    }

    /// The earliest deadline the connection has (see the [module docs](self)), if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let stall = (!self.out.is_empty()).then(|| self.progress + self.settings.send_timeout);
        let own = match self.phase {
            Phase::Head | Phase::Waiting | Phase::Lingering => self.deadline,
            Phase::Streaming => {
                let keep_alive = self.settings.keep_alive.map(|k| self.last_queued + k);
                match (keep_alive, self.deadline) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
            Phase::Closing | Phase::Closed => None,
        };
        match (stall, own) {
            _ if self.phase == Phase::Closed => None,
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Does what is due at `now` (see [`Conn::poll_timeout`]); `None` if nothing was.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Timeout> {
        if self.phase == Phase::Closed {
            return None;
        }
        if !self.out.is_empty() && now >= self.progress + self.settings.send_timeout {
            self.note_end(EndReason::SendTimeout);
            self.abort();
            return Some(Timeout::Stalled);
        }
        let due = self.deadline.is_some_and(|d| now >= d);
        match self.phase {
            Phase::Head if due => {
                // A request begun, or a connection that never sent one, is told why it is
                // closed; one that went quiet after its requests were answered is simply closed
                // (idling is no error).
                if self.inbuf.len() > self.consumed || !self.answered {
                    let late = Response::error(408, "request head not received in time");
                    self.respond(&late, Framing::CLOSE, now);
                    Some(Timeout::RequestTimeout)
                } else {
                    self.close();
                    Some(Timeout::Idle)
                }
            }
            Phase::Waiting if due => {
                let busy = Response::unavailable("the backplane did not answer in time", 1);
                self.respond(&busy, Framing::CLOSE, now);
                Some(Timeout::NoAnswer)
            }
            Phase::Streaming if due => {
                self.note_end(EndReason::AuthExpired);
                self.finish_stream(now);
                Some(Timeout::Ended)
            }
            Phase::Streaming => {
                let keep_alive = self.settings.keep_alive?;
                if now < self.last_queued + keep_alive {
                    return None;
                }
                match self.push(KEEP_ALIVE.clone(), now) {
                    Ok(()) => Some(Timeout::KeepAlive),
                    Err(_) => Some(Timeout::Stalled),
                }
            }
            Phase::Lingering if due => {
                self.phase = Phase::Closed;
                Some(Timeout::Lingered)
            }
            _ => None,
        }
    }

    /// Queues bytes whatever the bound, noting when the queue began to fill.
    fn queue(&mut self, frame: Frame, now: Instant) {
        if self.out.is_empty() {
            self.progress = now;
        }
        self.last_queued = now;
        self.out.push_unbounded(frame);
    }

    /// A closing connection whose queue is written: lingers (from `now`, when known: after a
    /// write) or is closed.
    fn settle_closing(&mut self, now: Option<Instant>) {
        if self.phase != Phase::Closing || !self.out.is_empty() {
            return;
        }
        match now {
            Some(now) if self.linger => {
                self.phase = Phase::Lingering;
                self.deadline = Some(now + self.settings.linger);
                self.fin = true;
            }
            // Nothing was ever written after the close was decided: nothing to protect.
            _ => self.phase = Phase::Closed,
        }
    }
}

/// Whether the first line of `input` cannot be an HTTP/1 request line: three words, the last of
/// which does not begin with `HTTP/` (any case), or, while the line is still coming, already
/// cannot. A line with another `HTTP/` version is HTTP/1's to refuse (`505`); one with fewer or
/// more words is malformed HTTP/1 (`400`).
fn not_http1(input: &[u8]) -> bool {
    let (line, whole) = match memchr::memchr(b'\n', input) {
        Some(end) => (input[..end].strip_suffix(b"\r").unwrap_or(&input[..end]), true),
        None => (input, false),
    };
    let mut words = line.split(|&b| b == b' ');
    match (words.next(), words.next(), words.next(), words.next()) {
        (Some(m), Some(t), Some(v), None) if !m.is_empty() && !t.is_empty() && !v.is_empty() => {
            let n = v.len().min(5);
            let could_be = v[..n].eq_ignore_ascii_case(&b"HTTP/"[..n]);
            !could_be || (whole && n < 5)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;
    use crate::proto::trickle::Trickle;

    fn settings(max_queue_bytes: usize) -> Settings {
        Settings { max_queue_bytes, ..Settings::default() }
    }

    fn flush_all(c: &mut Conn, w: &mut Trickle) {
        for _ in 0..10_000 {
            if !c.wants_write() {
                return;
            }
            c.write_to(w, Instant::now()).unwrap();
        }
        panic!("never drained");
    }

    fn writer() -> Trickle {
        Trickle { out: Vec::new(), cap: 1 << 20, blocked: false }
    }

    const KEEP: Framing = Framing { keep_alive: true, head_only: false };

    #[test]
    fn pipelined_requests_come_out_one_by_one() {
        let mut c = Conn::new(settings(1 << 20), Instant::now());
        c.received(&b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nPOST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyzGET /c"[..], Instant::now());
        let l = Limits::default();
        let Input::Request(a) = c.poll_request(&l, Instant::now()) else { panic!() };
        assert_eq!(a.path, "/a");
        let Input::Request(b) = c.poll_request(&l, Instant::now()) else { panic!() };
        assert_eq!((b.path.as_str(), b.body.as_slice()), ("/b", &b"xyz"[..]));
        assert_eq!(c.poll_request(&l, Instant::now()), Input::NeedMore);
        c.received(b" HTTP/1.1\r\nHost: h\r\n\r\n", Instant::now());
        let Input::Request(r) = c.poll_request(&l, Instant::now()) else { panic!() };
        assert_eq!(r.path, "/c");
    }

    #[test]
    fn a_deferred_request_holds_the_next_until_answered() {
        let t = Instant::now();
        let l = Limits::default();
        let mut c = Conn::new(settings(1 << 20), t);
        c.received(b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nxGET /next HTTP/1.1\r\n", t);
        let Input::Request(p) = c.poll_request(&l, t) else { panic!() };
        assert_eq!(p.path, "/p");
        c.defer(Duration::from_secs(5), t);
        assert_eq!(c.phase(), Phase::Waiting);
        assert!(!c.wants_read() && !c.wants_write());
        c.received(b"Host: h\r\n\r\n", t);
        assert_eq!(c.poll_request(&l, t), Input::NeedMore, "nothing is taken while waiting");
        assert_eq!(c.poll_timeout(), Some(t + Duration::from_secs(5)));
        c.respond(&Response::new(201), KEEP, t + Duration::from_secs(1));
        assert_eq!(c.phase(), Phase::Head);
        let Input::Request(next) = c.poll_request(&l, t) else { panic!("the pipelined request") };
        assert_eq!(next.path, "/next");
        c.defer(Duration::from_secs(5), t);
        c.start_stream(b"HEAD\r\n\r\n".to_vec(), true, &[], Instant::now());
        assert_eq!(c.phase(), Phase::Streaming, "a deferred stream starts as any other");
    }

    #[test]
    fn a_deferred_request_past_its_wait_is_answered_503_and_closed() {
        let t = Instant::now();
        let mut c = Conn::new(settings(1 << 20), t);
        c.received(b"GET /sse HTTP/1.1\r\nHost: h\r\n\r\n", t);
        assert!(matches!(c.poll_request(&Limits::default(), t), Input::Request(_)));
        c.defer(Duration::from_secs(5), t);
        assert_eq!(c.poll_timeout(), Some(t + Duration::from_secs(5)));
        assert_eq!(c.handle_timeout(t + Duration::from_secs(5)), Some(Timeout::NoAnswer));
        assert_eq!(c.phase(), Phase::Closing);
        let mut w = Trickle { out: Vec::new(), cap: 1 << 20, blocked: false };
        flush_all(&mut c, &mut w);
        let text = String::from_utf8(w.out).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 503 Service Unavailable\r\n") && text.contains("Retry-After: 1\r\n"),
            "{text}"
        );
        assert_eq!(c.phase(), Phase::Lingering);
    }

    #[test]
    fn defer_only_holds_a_connection_reading_requests() {
        let t = Instant::now();
        let mut c = Conn::new(settings(1 << 20), t);
        c.start_stream(Vec::new(), true, &[], Instant::now());
        c.defer(Duration::from_secs(1), t);
        assert_eq!(c.phase(), Phase::Streaming);
    }

    #[test]
    fn refused_input_answers_and_closes() {
        let mut c = Conn::new(settings(1 << 20), Instant::now());
        c.received(b"GET / HTTP/2.0\r\n\r\n", Instant::now());
        assert_eq!(c.poll_request(&Limits::default(), Instant::now()), Input::Refused(505));
        assert_eq!(c.phase(), Phase::Closing);
        let mut w = Trickle { out: Vec::new(), cap: 7, blocked: false };
        flush_all(&mut c, &mut w);
        assert!(w.out.starts_with(b"HTTP/1.1 505 HTTP Version Not Supported\r\n"));
        assert_eq!(c.phase(), Phase::Lingering, "the answer written, the input drained a while");
    }

    #[test]
    fn the_preface_first_is_http2_with_prior_knowledge() {
        let now = Instant::now();
        let limits = Limits::default();
        let mut c = Conn::new(settings(1 << 20), now);
        for b in PREFACE[..23].iter() {
            c.received(&[*b], now);
            assert_eq!(c.poll_request(&limits, now), Input::NeedMore, "a prefix waits");
        }
        c.received(b"\nrest", now);
        assert_eq!(c.poll_request(&limits, now), Input::Http2);
        let mut input = PREFACE.to_vec();
        input.extend_from_slice(b"rest");
        assert_eq!(c.take_input(), input, "the preface and what followed, for the HTTP/2 side");
        assert_eq!(c.phase(), Phase::Closed);
        assert!(!c.wants_write());
    }

    #[test]
    fn a_first_line_that_is_not_http1_goes_to_http2() {
        let now = Instant::now();
        let limits = Limits::default();
        let poll = |input: &[u8]| {
            let mut c = Conn::new(settings(1 << 20), now);
            c.received(input, now);
            c.poll_request(&limits, now)
        };
        // h2spec 3.5/2's invalid preface: the HTTP/2 side answers it with GOAWAY.
        assert_eq!(poll(b"INVALID CONNECTION PREFACE\r\n\r\n"), Input::Http2);
        assert_eq!(poll(b"INVALID CONNECTION P"), Input::Http2, "cannot become HTTP/1 any more");
        assert_eq!(poll(b"GET / HT"), Input::NeedMore, "may still become HTTP/1.1");
        assert_eq!(poll(b"GET / HT\r\n\r\n"), Input::Http2);
        // Still HTTP/1's to refuse: another version, a missing version, binary garbage.
        assert_eq!(poll(b"GET / HTTP/3.0\r\n\r\n"), Input::Refused(505));
        assert_eq!(poll(b"GET / http/1.1\r\n\r\n"), Input::Refused(505));
        assert_eq!(poll(b"GET /sse\r\n\r\n"), Input::Refused(400));
        assert_eq!(poll(b"\x00\x01garbage\r\n\r\n"), Input::Refused(400));
        assert_eq!(poll(b"GET  / HTTP/1.1\r\n\r\n"), Input::Refused(400), "an empty word is HTTP/1's");
        // HTTP/2 off: the preface is HTTP/1, a 505.
        let mut c = Conn::new(settings(1 << 20), now);
        c.received(PREFACE, now);
        assert_eq!(c.poll_request(&limits, now), Input::Http2);
        c.no_http2();
        assert_eq!(c.poll_request(&limits, now), Input::Refused(505));
    }

    #[test]
    fn the_preface_after_a_request_is_505() {
        let now = Instant::now();
        let limits = Limits::default();
        let mut c = Conn::new(settings(1 << 20), now);
        c.received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", now);
        assert!(matches!(c.poll_request(&limits, now), Input::Request(_)));
        c.respond(&Response::new(204), Framing { keep_alive: true, head_only: false }, now);
        c.received(PREFACE, now);
        assert_eq!(c.poll_request(&limits, now), Input::Refused(505));
        let mut c = Conn::new(settings(1 << 20), now);
        c.received(b"PRI * HTTP/1.1\r\n\r\n", now);
        assert_eq!(c.poll_request(&limits, now), Input::Refused(400), "no Host: parsed as HTTP/1.1");
    }

    #[test]
    fn stream_writes_in_order_through_partial_writes() {
        let mut c = Conn::new(settings(1 << 20), Instant::now());
        c.start_stream(b"HEAD\r\n\r\n".to_vec(), true, &[Frame::comment("ok")], Instant::now());
        for i in 0..50 {
            c.push(Frame::event(&Event::new(i.to_string())).unwrap(), Instant::now()).unwrap();
        }
        let mut w = Trickle { out: Vec::new(), cap: 5, blocked: false };
        flush_all(&mut c, &mut w);
        let mut expect = b"HEAD\r\n\r\n5\r\n:ok\n\n\r\n".to_vec();
        for i in 0..50 {
            expect.extend_from_slice(Frame::event(&Event::new(i.to_string())).unwrap().chunked());
        }
        assert_eq!(w.out, expect);
    }

    #[test]
    fn overflow_closes_and_drops_the_queue() {
        let mut c = Conn::new(settings(100), Instant::now());
        c.start_stream(Vec::new(), false, &[], Instant::now());
        let frame = Frame::event(&Event::new("x".repeat(30))).unwrap();
        for _ in 0..2 {
            c.push(frame.clone(), Instant::now()).unwrap();
        }
        assert!(c.push(frame.clone(), Instant::now()).is_err());
        assert_eq!(c.phase(), Phase::Closed);
        assert_eq!(c.queued_bytes(), 0);
        assert!(!c.wants_write());
    }

    #[test]
    fn header_deadline() {
        let t0 = Instant::now();
        let mut c = Conn::new(settings(1 << 20), t0);
        c.received(b"GET / HT", t0 + Duration::from_secs(1));
        assert_eq!(
            c.poll_timeout(),
            Some(t0 + Duration::from_secs(11)),
            "the head's first byte starts the clock"
        );
        assert_eq!(c.handle_timeout(t0 + Duration::from_secs(10)), None, "not yet");
        assert_eq!(c.handle_timeout(t0 + Duration::from_secs(11)), Some(Timeout::RequestTimeout));
        assert_eq!(c.phase(), Phase::Closing, "408 queued");
    }

    #[test]
    fn silent_connection_gets_408_at_the_header_timeout() {
        let t0 = Instant::now();
        let mut c = Conn::new(settings(1 << 20), t0);
        assert_eq!(c.handle_timeout(t0 + Duration::from_secs(10)), Some(Timeout::RequestTimeout));
        let mut w = Trickle { out: Vec::new(), cap: 1000, blocked: false };
        flush_all(&mut c, &mut w);
        assert!(w.out.starts_with(b"HTTP/1.1 408 "));
    }

    #[test]
    fn keep_alive_waits_idle_then_the_next_head_gets_the_header_timeout() {
        let t0 = Instant::now();
        let s = |n| t0 + Duration::from_secs(n);
        let mut c = Conn::new(settings(1 << 20), t0);
        c.received(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", t0);
        assert!(matches!(c.poll_request(&Limits::default(), Instant::now()), Input::Request(_)));
        c.respond(&Response::text(200, "ok"), KEEP, s(1));
        let mut w = Trickle { out: Vec::new(), cap: 1000, blocked: false };
        flush_all(&mut c, &mut w);
        assert_eq!(c.poll_timeout(), Some(s(61)), "idle for up to idle_timeout");
        c.received(b"GET / HT", s(30));
        assert_eq!(
            c.poll_timeout(),
            Some(s(40)),
            "a started head is due header_timeout after its first byte"
        );
        assert_eq!(c.handle_timeout(s(40)), Some(Timeout::RequestTimeout));
        assert_eq!(c.phase(), Phase::Closing);
    }

    #[test]
    fn idle_keep_alive_timeout_closes_quietly() {
        let t0 = Instant::now();
        let mut c = Conn::new(settings(1 << 20), t0);
        c.received(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", t0);
        assert!(matches!(c.poll_request(&Limits::default(), Instant::now()), Input::Request(_)));
        c.respond(&Response::text(200, "ok"), KEEP, t0);
        let mut w = Trickle { out: Vec::new(), cap: 1000, blocked: false };
        flush_all(&mut c, &mut w);
        let answered = w.out.len();
        assert_eq!(c.handle_timeout(t0 + Duration::from_secs(61)), Some(Timeout::Idle));
        assert_eq!(c.phase(), Phase::Closed);
        assert_eq!(w.out.len(), answered, "no 408 for an idle connection");
    }

    #[test]
    fn answers_past_the_queue_bound_stop_reading_until_written() {
        let mut c = Conn::new(settings(1000), Instant::now());
        let one = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
        c.received(&one.repeat(3), Instant::now());
        let big = Response::text(200, "x".repeat(1500));
        assert!(matches!(c.poll_request(&Limits::default(), Instant::now()), Input::Request(_)));
        c.respond(&big, KEEP, Instant::now());
        assert!(!c.wants_read());
        assert_eq!(
            c.poll_request(&Limits::default(), Instant::now()),
            Input::NeedMore,
            "no new request while full"
        );
        let mut w = Trickle { out: Vec::new(), cap: 100_000, blocked: false };
        flush_all(&mut c, &mut w);
        assert!(c.wants_read());
        assert!(matches!(c.poll_request(&Limits::default(), Instant::now()), Input::Request(_)));
    }

    #[test]
    fn expect_continue_is_reported_once_and_answered_before_the_body() {
        let t = Instant::now();
        let mut c = Conn::new(settings(1 << 20), t);
        c.received(b"POST /p HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", t);
        let Input::Expect(head) = c.poll_request(&Limits::default(), t) else { panic!("no Expect") };
        assert!(head.body.is_empty());
        assert_eq!(c.poll_request(&Limits::default(), t), Input::NeedMore, "reported once");
        c.continue_body(t);
        let mut w = Trickle { out: Vec::new(), cap: 1000, blocked: false };
        flush_all(&mut c, &mut w);
        assert_eq!(w.out, b"HTTP/1.1 100 Continue\r\n\r\n");
        c.received(b"abc", t);
        let Input::Request(req) = c.poll_request(&Limits::default(), t) else { panic!("no request") };
        assert_eq!(req.body, b"abc");
        // The next request's Expect is reported again; a body already here needs no word.
        c.received(b"POST /p HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx", t);
        assert!(matches!(c.poll_request(&Limits::default(), t), Input::Request(_)));
        c.received(b"POST /p HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n", t);
        assert!(matches!(c.poll_request(&Limits::default(), t), Input::Expect(_)));
        c.respond(&Response::error(401, "no"), Framing::CLOSE, t);
        assert_eq!(c.phase(), Phase::Closing, "a refused body is never read: close");
    }

    #[test]
    fn replay_room_waits_for_an_empty_queue() {
        let pool = QueuePool::new(300);
        let mut c = Conn::shared(Arc::new(settings(1000)), pool.clone(), Instant::now());
        assert_eq!(c.replay_room(), 0, "not streaming");
        c.start_stream(b"HEAD".to_vec(), false, &[], Instant::now());
        assert_eq!(c.replay_room(), 0, "the head is queued");
        let mut w = Trickle { out: Vec::new(), cap: 1000, blocked: false };
        flush_all(&mut c, &mut w);
        assert_eq!(c.replay_room(), 300, "the pool's room is the smaller");
        c.push_replay(vec![Frame::raw(vec![b'x'; 250])], Instant::now());
        assert_eq!((c.queued_bytes(), pool.used(), c.replay_room()), (250, 250, 0));
    }

    #[test]
    fn input_while_streaming_is_dropped() {
        let mut c = Conn::new(settings(1 << 20), Instant::now());
        c.start_stream(Vec::new(), true, &[], Instant::now());
        c.received(b"GET /x HTTP/1.1\r\n\r\n", Instant::now());
        assert_eq!(c.poll_request(&Limits::default(), Instant::now()), Input::NeedMore);
    }

    /// A virtual clock: `at(n)` is n milliseconds after the start.
    fn clock() -> impl Fn(u64) -> Instant {
        let t0 = Instant::now();
        move |ms| t0 + Duration::from_millis(ms)
    }

    fn streaming(settings: Settings, at: &impl Fn(u64) -> Instant) -> (Conn, Trickle) {
        let mut c = Conn::new(settings, at(0));
        c.start_stream(b"HEAD\r\n\r\n".to_vec(), false, &[Frame::comment("ok")], at(0));
        let mut w = writer();
        flush_all(&mut c, &mut w);
        w.out.clear();
        (c, w)
    }

    #[test]
    fn keep_alives_come_each_interval_of_silence_and_events_put_them_off() {
        let at = clock();
        let s = Settings { keep_alive: Some(Duration::from_millis(100)), ..Settings::default() };
        let (mut c, mut w) = streaming(s, &at);
        assert_eq!(c.poll_timeout(), Some(at(100)));
        assert_eq!(c.handle_timeout(at(99)), None, "early: nothing");
        let mut sent = Vec::new();
        // One second of silence: exactly ten keep-alives, one per interval, none in between.
        let mut now = 0;
        while let Some(due) = c.poll_timeout().filter(|&d| d <= at(1000)) {
            assert_eq!(c.handle_timeout(due), Some(Timeout::KeepAlive));
            flush_all(&mut c, &mut w);
            now = due.duration_since(at(0)).as_millis() as u64;
            sent.push(now);
        }
        assert_eq!(sent, [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
        assert_eq!(w.out, b":\n\n".repeat(10));
        // An event at 1050 puts the next keep-alive off to 1150.
        c.push(Frame::event(&Event::new("x")).unwrap(), at(1050)).unwrap();
        assert_eq!(c.poll_timeout(), Some(at(1150)));
        assert_eq!(
            c.handle_timeout(at(1100)),
            None,
            "no keep-alive 100 ms after the last one: there was an event"
        );
        assert!(now == 1000);
    }

    #[test]
    fn a_stream_with_an_end_ends_there_gracefully_between_keep_alives() {
        let at = clock();
        let s = Settings { keep_alive: Some(Duration::from_millis(100)), ..Settings::default() };
        let mut c = Conn::new(s, at(0));
        c.end_stream_at(at(10));
        assert_eq!(c.poll_timeout(), Some(at(10_000)), "not streaming yet: no end, the head timeout");
        c.start_stream(b"HEAD\r\n\r\n".to_vec(), true, &[Frame::comment("ok")], at(0));
        let mut w = writer();
        flush_all(&mut c, &mut w);
        w.out.clear();
        c.end_stream_at(at(250));
        assert_eq!(c.poll_timeout(), Some(at(100)), "the keep-alive comes first");
        assert_eq!(c.handle_timeout(at(100)), Some(Timeout::KeepAlive));
        assert_eq!(c.handle_timeout(at(200)), Some(Timeout::KeepAlive));
        assert_eq!(c.poll_timeout(), Some(at(250)));
        assert_eq!(c.handle_timeout(at(249)), None);
        assert_eq!(c.handle_timeout(at(250)), Some(Timeout::Ended));
        flush_all(&mut c, &mut w);
        assert_eq!(w.out, b"3\r\n:\n\n\r\n3\r\n:\n\n\r\n0\r\n\r\n", "two keep-alives, then the last chunk");
        assert_eq!((c.phase(), c.poll_fin()), (Phase::Closed, false));
        assert_eq!(c.handle_timeout(at(300)), None);
        // An end already past ends the stream at the next timeout handled.
        let (mut c, _) = streaming(Settings::default(), &at);
        c.end_stream_at(at(0));
        assert_eq!(c.poll_timeout(), Some(at(0)));
        assert_eq!(c.handle_timeout(at(1)), Some(Timeout::Ended));
        assert_eq!(c.phase(), Phase::Closed, "close-delimited, nothing queued: closed at once");
    }

    #[test]
    fn without_keep_alive_an_idle_stream_has_no_deadline() {
        let at = clock();
        let (c, _) = streaming(Settings { keep_alive: None, ..Settings::default() }, &at);
        assert_eq!(c.poll_timeout(), None);
    }

    #[test]
    fn queued_data_that_makes_no_progress_for_the_send_timeout_drops_the_stream() {
        let at = clock();
        let s =
            Settings { keep_alive: None, send_timeout: Duration::from_millis(500), ..Settings::default() };
        let (mut c, _) = streaming(s, &at);
        c.push(Frame::event(&Event::new("x")).unwrap(), at(1000)).unwrap();
        assert_eq!(c.poll_timeout(), Some(at(1500)), "from when the queue began to fill");
        // A write that makes progress (part of it) at 1400 moves the deadline.
        let mut stingy = Trickle { out: Vec::new(), cap: 3, blocked: false };
        c.write_to(&mut stingy, at(1400)).unwrap();
        assert!(c.queued_bytes() > 0);
        assert_eq!(c.poll_timeout(), Some(at(1900)));
        assert_eq!(c.handle_timeout(at(1899)), None);
        assert_eq!(c.handle_timeout(at(1900)), Some(Timeout::Stalled));
        assert_eq!((c.phase(), c.queued_bytes()), (Phase::Closed, 0));
        assert_eq!(c.poll_timeout(), None);
    }

    #[test]
    fn a_closing_answer_nobody_reads_is_dropped_at_the_send_timeout_too() {
        let at = clock();
        let s = Settings { send_timeout: Duration::from_millis(500), ..Settings::default() };
        let mut c = Conn::new(s, at(0));
        c.received(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", at(0));
        assert!(matches!(c.poll_request(&Limits::default(), at(0)), Input::Request(_)));
        c.respond(&Response::text(200, "x".repeat(100)), Framing::CLOSE, at(10));
        assert_eq!((c.phase(), c.poll_timeout()), (Phase::Closing, Some(at(510))));
        assert_eq!(c.handle_timeout(at(510)), Some(Timeout::Stalled));
        assert_eq!(c.phase(), Phase::Closed);
    }

    #[test]
    fn an_answer_that_closes_lingers_after_its_fin_until_the_peer_closes_or_time_is_up() {
        let at = clock();
        let s = Settings { linger: Duration::from_millis(300), ..Settings::default() };
        let mut c = Conn::new(s, at(0));
        c.received(b"GARBAGE\r\n\r\n", at(0));
        assert_eq!(c.poll_request(&Limits::default(), at(0)), Input::Refused(400));
        assert!(!c.poll_fin(), "not before the answer is written");
        let mut w = writer();
        c.write_to(&mut w, at(20)).unwrap();
        assert_eq!(c.phase(), Phase::Lingering);
        assert!(c.poll_fin(), "the FIN, once");
        assert!(!c.poll_fin());
        assert!(c.wants_read(), "input is drained");
        c.received(b"more garbage", at(30));
        assert_eq!(c.poll_timeout(), Some(at(320)));
        assert_eq!(c.handle_timeout(at(320)), Some(Timeout::Lingered));
        assert_eq!(c.phase(), Phase::Closed);
        // A peer that closes ends the linger at once.
        let mut c = Conn::new(s, at(0));
        c.received(b"GARBAGE\r\n\r\n", at(0));
        c.poll_request(&Limits::default(), at(0));
        flush_all(&mut c, &mut w);
        assert_eq!(c.phase(), Phase::Lingering);
        c.peer_closed();
        assert_eq!(c.phase(), Phase::Closed);
    }

    #[test]
    fn streams_a_peer_closed_and_a_shutdown_do_not_linger() {
        let at = clock();
        let (mut c, mut w) = streaming(Settings::default(), &at);
        c.finish_stream(at(5));
        assert_eq!((c.phase(), c.poll_fin()), (Phase::Closed, false), "nothing to write: closed at once");
        // A peer that closed while its answer is queued: written, then closed.
        let mut c = Conn::new(Settings::default(), at(0));
        c.received(b"GET / HTTP/1.0\r\n\r\n", at(0));
        c.poll_request(&Limits::default(), at(0));
        c.respond(&Response::text(200, "bye"), Framing::CLOSE, at(0));
        c.peer_closed();
        flush_all(&mut c, &mut w);
        assert_eq!((c.phase(), c.poll_fin()), (Phase::Closed, false));
        // Shutdown: a lingering one ends now, a stream finishes with its last chunk.
        let mut c = Conn::new(Settings::default(), at(0));
        c.received(b"x\r\n\r\n", at(0));
        c.poll_request(&Limits::default(), at(0));
        flush_all(&mut c, &mut w);
        assert_eq!(c.phase(), Phase::Lingering);
        c.shutdown(at(2));
        assert_eq!(c.phase(), Phase::Closed);
        let mut c = Conn::new(Settings::default(), at(0));
        c.start_stream(b"H".to_vec(), true, &[], at(0));
        c.shutdown(at(1));
        let mut w = writer();
        flush_all(&mut c, &mut w);
        assert_eq!((w.out.as_slice(), c.phase()), (&b"H0\r\n\r\n"[..], Phase::Closed));
    }

    #[test]
    fn reading_resumes_once_the_queue_drains_if_the_socket_was_not_read_dry() {
        let at = clock();
        let mut c = Conn::new(settings(100), at(0));
        assert!(c.resume_read(), "a new socket may hold a request already");
        c.read_would_block();
        assert!(!c.resume_read());
        c.readable();
        c.received(&b"GET / HTTP/1.1\r\nHost: h\r\n\r\n".repeat(3), at(0));
        assert!(matches!(c.poll_request(&Limits::default(), at(0)), Input::Request(_)));
        c.respond(&Response::text(200, "x".repeat(200)), KEEP, at(0));
        // The queue is past its bound: the driver stops reading with input left in the socket.
        assert!(!c.wants_read() && !c.resume_read());
        flush_all(&mut c, &mut writer());
        assert!(c.resume_read(), "it must read again by itself: no readiness will say so");
        c.read_would_block();
        assert!(!c.resume_read());
    }

    #[test]
    fn a_keep_alive_that_does_not_fit_drops_the_stream() {
        let at = clock();
        let s = Settings {
            max_queue_bytes: 10,
            keep_alive: Some(Duration::from_millis(10)),
            ..Settings::default()
        };
        let mut c = Conn::new(s, at(0));
        c.start_stream(Vec::new(), false, &[], at(0));
        c.push(Frame::raw(vec![b'x'; 10]), at(0)).unwrap();
        assert_eq!(c.handle_timeout(at(10)), Some(Timeout::Stalled));
        assert_eq!(c.phase(), Phase::Closed);
    }
}
