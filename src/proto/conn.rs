//! One connection's protocol state, without the socket.
//!
//! ```text
//!            bytes ──► Head ──(request complete)──► the driver decides:
//!                       ▲                            ├─ respond(keep-alive) ──► Head (next, pipelined)
//!                       └────────────────────────────┤─ respond(close) ───────► Closing
//!                                                    ├─ start_stream ─────────► Streaming
//!                                                    └─ defer ──► Waiting ──► any of the above
//!                                                                 (or, past its deadline, 503)
//!  Streaming ──(close, shutdown, overflow)──► Closing ──(queue written)──► Closed
//! ```
//!
//! The driver feeds what it reads to [`Conn::received`], takes requests from
//! [`Conn::poll_request`], answers with [`Conn::respond`] or [`Conn::start_stream`], queues
//! events with [`Conn::push`], and writes with [`Conn::write_to`] whenever the socket is writable
//! and [`Conn::wants_write`]. Time is a value (`now`) passed in; the connection keeps its
//! deadline and [`Conn::timed_out`] tells the driver when it has passed.
//!
//! Requests are answered in the order received, including pipelined ones: answers go into the
//! same FIFO queue as the stream. Once a connection streams, or is closing, what the client sends
//! is read and dropped: an EventSource never sends anything after its request, and dropping it
//! (rather than buffering) keeps a misbehaving client from growing our memory.

use std::io::{self, IoSlice, Write};
use std::time::{Duration, Instant};

use crate::http::request::{Limits, Request, parse_head};
use crate::http::response::{LAST_CHUNK, Response};
use crate::proto::queue::{Frame, OutQueue, Overflow, QueuePool};

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
    /// Writing what is queued, then closing; input is ignored.
    Closing,
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
}

/// The interim answer to `Expect: 100-continue`.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// How many slices one vectored write gathers (Linux allows 1024; 64 covers any real backlog).
const MAX_IOVECS: usize = 64;

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
    settings: Settings,
    /// When the current request head must be complete, or the idle wait ends.
    deadline: Option<Instant>,
    /// A request was answered (so the connection is a kept-alive one).
    answered: bool,
    /// The pending request's `Expect: 100-continue` was reported (it is reported once).
    expect_reported: bool,
}

impl Conn {
    /// A connection accepted at `now`; its first request head is due `header_timeout` later.
    pub fn new(settings: Settings, now: Instant) -> Conn {
        Conn::in_pool(settings, QueuePool::new(usize::MAX), now)
    }

    /// Like [`Conn::new`], its queue counted in `pool` with the other connections of a worker
    /// (see [`QueuePool`]).
    pub fn in_pool(settings: Settings, pool: QueuePool, now: Instant) -> Conn {
        Conn {
            phase: Phase::Head,
            inbuf: Vec::new(),
            consumed: 0,
            out: OutQueue::in_pool(settings.max_queue_bytes, pool),
            settings,
            deadline: Some(now + settings.header_timeout),
            answered: false,
            expect_reported: false,
        }
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
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
            Phase::Streaming | Phase::Closing => true,
            // The next pipelined request stays in the kernel until this one is answered.
            Phase::Waiting | Phase::Closed => false,
        }
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
    /// A connection waiting for a request has nothing more to do. (Streams are closed by the
    /// driver: an EventSource never half-closes.)
    pub fn peer_closed(&mut self) {
        if self.phase == Phase::Head {
            self.close();
        }
    }

    /// Looks for a complete request in the input (none while a deferred answer is awaited).
    pub fn poll_request(&mut self, limits: &Limits, now: Instant) -> Input {
        let input = &self.inbuf[self.consumed..];
        if self.phase != Phase::Head || input.is_empty() || !self.wants_read() {
            return Input::NeedMore;
        }
        match parse_head(input, limits) {
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
                self.respond(&response, &[], false, false, now);
                Input::Refused(status)
            }
        }
    }

    /// Tells a client that waits (see [`Input::Expect`]) to send its request body.
    pub fn continue_body(&mut self) {
        if self.phase == Phase::Head {
            self.out.push_unbounded(Frame::raw(CONTINUE.to_vec()));
        }
    }

    /// Holds the request just taken for an answer that comes from elsewhere (see
    /// [`Phase::Waiting`]), until [`Conn::respond`] or [`Conn::start_stream`], or until `wait`
    /// has passed: then [`Conn::time_out`] answers `503`.
    pub fn defer(&mut self, wait: Duration, now: Instant) {
        if self.phase == Phase::Head {
            self.phase = Phase::Waiting;
            self.deadline = Some(now + wait);
        }
    }

    /// Queues an answer to the last request; with `keep_alive` false the connection closes once
    /// it is written. A kept-alive connection then waits `idle_timeout` for its next request
    /// (`header_timeout` if that request has already begun to arrive).
    pub fn respond(
        &mut self,
        response: &Response,
        extra: &[(String, String)],
        keep_alive: bool,
        head_only: bool,
        now: Instant,
    ) {
        if self.phase == Phase::Waiting {
            self.phase = Phase::Head;
        }
        let mut bytes = Vec::with_capacity(128 + response.body.len());
        response.write_to(&mut bytes, extra, keep_alive, head_only);
        self.out.push_unbounded(Frame::raw(bytes));
        self.answered = true;
        if keep_alive {
            let started = self.inbuf.len() > self.consumed;
            let wait = if started { self.settings.header_timeout } else { self.settings.idle_timeout };
            self.deadline = Some(now + wait);
        } else {
            self.close();
        }
    }

    /// Whether the request-head or idle deadline has passed at `now`.
    pub fn timed_out(&self, now: Instant) -> bool {
        matches!(self.phase, Phase::Head | Phase::Waiting) && self.deadline.is_some_and(|d| now >= d)
    }

    /// Times the connection out: `408 Request Timeout` when a request had begun, a plain close
    /// when it was idle between requests.
    pub fn time_out(&mut self, now: Instant) {
        if self.phase == Phase::Waiting {
            let busy = Response::unavailable("the backplane did not answer in time", 1);
            self.respond(&busy, &[], false, false, now);
            return;
        }
        if self.phase != Phase::Head {
            return;
        }
        // A request begun, or a connection that never sent one, is told why it is closed; one
        // that went quiet after its requests were answered is simply closed (idling is no error).
        if self.inbuf.len() > self.consumed || !self.answered {
            self.respond(&Response::error(408, "request head not received in time"), &[], false, false, now);
        } else {
            self.close();
        }
    }

    /// Turns the connection into an event stream: `head` is the response head, `first` the
    /// frames sent at once (the `:ok` comment, an initial `retry`, a replay).
    pub fn start_stream(&mut self, head: Vec<u8>, chunked: bool, first: &[Frame]) {
        self.out.push_unbounded(Frame::raw(head));
        self.out.set_chunked(chunked);
        for frame in first {
            self.out.push_unbounded(frame.clone());
        }
        self.phase = Phase::Streaming;
        self.inbuf = Vec::new();
        self.consumed = 0;
        self.deadline = None;
    }

    /// Queues the next part of a stream's replay (see [`crate::hub::Hub::replay`]), sized by the
    /// driver to [`Conn::replay_room`].
    pub fn push_replay(&mut self, frames: Vec<Frame>) {
        if self.phase == Phase::Streaming {
            for frame in frames {
                self.out.push_unbounded(frame);
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

    /// Whether queueing `frame` now would pass the bound (so the driver should write first).
    pub fn would_overflow(&self, frame: &Frame) -> bool {
        self.out.would_overflow(frame)
    }

    /// Queues an event frame on a stream.
    ///
    /// Past the queue bound the frame is refused, the queue dropped and the connection closed:
    /// a client that does not read must not grow our memory or hold up anyone else.
    pub fn push(&mut self, frame: Frame) -> Result<(), Overflow> {
        if self.phase != Phase::Streaming {
            return Ok(());
        }
        self.out.push(frame).inspect_err(|_| {
            self.out.clear();
            self.phase = Phase::Closed;
        })
    }

    /// Ends a stream gracefully: the last chunk (for chunked streams) after what is queued.
    pub fn finish_stream(&mut self) {
        if self.phase == Phase::Streaming {
            if self.out.is_chunked() {
                self.out.push_unbounded(Frame::raw(LAST_CHUNK.to_vec()));
            }
            self.close();
        }
    }

    /// Closes once what is queued is written.
    pub fn close(&mut self) {
        self.inbuf = Vec::new();
        self.consumed = 0;
        self.phase = if self.out.is_empty() { Phase::Closed } else { Phase::Closing };
    }

    /// Closes now, dropping what is queued.
    pub fn abort(&mut self) {
        self.out.clear();
        self.inbuf = Vec::new();
        self.consumed = 0;
        self.phase = Phase::Closed;
    }

    /// Whether there is something to write.
    pub fn wants_write(&self) -> bool {
        !self.out.is_empty() && self.phase != Phase::Closed
    }

    /// Writes what is queued with vectored writes until it is all written or `w` would block.
    ///
    /// Returns the bytes written. An error other than `WouldBlock` closes the connection.
    pub fn write_to<W: Write>(&mut self, w: &mut W) -> io::Result<usize> {
        let mut total = 0;
        while !self.out.is_empty() {
            let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
            let n = self.out.io_slices(&mut slices);
            match w.write_vectored(&slices[..n]) {
                Ok(0) => {
                    self.abort();
                    return Err(io::ErrorKind::WriteZero.into());
                }
                Ok(written) => {
                    total += written;
                    self.out.advance(written);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(total),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.abort();
                    return Err(e);
                }
            }
        }
        if self.phase == Phase::Closing {
            self.phase = Phase::Closed;
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;

    /// A writer that takes at most `cap` bytes per call and then would block once.
    struct Trickle {
        out: Vec<u8>,
        cap: usize,
        blocked: bool,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.blocked {
                self.blocked = false;
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.blocked = true;
            let n = buf.len().min(self.cap);
            self.out.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn settings(max_queue_bytes: usize) -> Settings {
        Settings {
            max_queue_bytes,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }

    fn flush_all(c: &mut Conn, w: &mut Trickle) {
        for _ in 0..10_000 {
            if !c.wants_write() {
                return;
            }
            c.write_to(w).unwrap();
        }
        panic!("never drained");
    }

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
        assert!(!c.timed_out(t + Duration::from_secs(4)));
        c.respond(&Response::new(201), &[], true, false, t + Duration::from_secs(1));
        assert_eq!(c.phase(), Phase::Head);
        let Input::Request(next) = c.poll_request(&l, t) else { panic!("the pipelined request") };
        assert_eq!(next.path, "/next");
        c.defer(Duration::from_secs(5), t);
        c.start_stream(b"HEAD\r\n\r\n".to_vec(), true, &[]);
        assert_eq!(c.phase(), Phase::Streaming, "a deferred stream starts as any other");
    }

    #[test]
    fn a_deferred_request_past_its_wait_is_answered_503_and_closed() {
        let t = Instant::now();
        let mut c = Conn::new(settings(1 << 20), t);
        c.received(b"GET /sse HTTP/1.1\r\nHost: h\r\n\r\n", t);
        assert!(matches!(c.poll_request(&Limits::default(), t), Input::Request(_)));
        c.defer(Duration::from_secs(5), t);
        assert!(c.timed_out(t + Duration::from_secs(5)));
        c.time_out(t + Duration::from_secs(5));
        assert_eq!(c.phase(), Phase::Closing);
        let mut w = Trickle { out: Vec::new(), cap: 1 << 20, blocked: false };
        flush_all(&mut c, &mut w);
        let text = String::from_utf8(w.out).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 503 Service Unavailable\r\n") && text.contains("Retry-After: 1\r\n"),
            "{text}"
        );
        assert_eq!(c.phase(), Phase::Closed);
    }

    #[test]
    fn defer_only_holds_a_connection_reading_requests() {
        let t = Instant::now();
        let mut c = Conn::new(settings(1 << 20), t);
        c.start_stream(Vec::new(), true, &[]);
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
        assert_eq!(c.phase(), Phase::Closed);
    }

    #[test]
    fn stream_writes_in_order_through_partial_writes() {
        let mut c = Conn::new(settings(1 << 20), Instant::now());
        c.start_stream(b"HEAD\r\n\r\n".to_vec(), true, &[Frame::comment("ok")]);
        for i in 0..50 {
            c.push(Frame::event(&Event::new(i.to_string())).unwrap()).unwrap();
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
        c.start_stream(Vec::new(), false, &[]);
        let frame = Frame::event(&Event::new("x".repeat(30))).unwrap();
        for _ in 0..2 {
            c.push(frame.clone()).unwrap();
        }
        assert!(c.push(frame.clone()).is_err());
        assert_eq!(c.phase(), Phase::Closed);
        assert_eq!(c.queued_bytes(), 0);
        assert!(!c.wants_write());
    }

    #[test]
    fn header_deadline() {
        let t0 = Instant::now();
        let mut c = Conn::new(settings(1 << 20), t0);
        c.received(b"GET / HT", t0 + Duration::from_secs(1));
        assert!(!c.timed_out(t0 + Duration::from_secs(10)), "the head's first byte starts the clock");
        assert!(c.timed_out(t0 + Duration::from_secs(11)));
        c.time_out(t0 + Duration::from_secs(11));
        assert_eq!(c.phase(), Phase::Closing, "408 queued");
    }

    #[test]
    fn silent_connection_gets_408_at_the_header_timeout() {
        let t0 = Instant::now();
        let mut c = Conn::new(settings(1 << 20), t0);
        assert!(c.timed_out(t0 + Duration::from_secs(10)));
        c.time_out(t0 + Duration::from_secs(10));
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
        c.respond(&Response::text(200, "ok"), &[], true, false, s(1));
        let mut w = Trickle { out: Vec::new(), cap: 1000, blocked: false };
        flush_all(&mut c, &mut w);
        assert!(!c.timed_out(s(60)), "idle for up to idle_timeout");
        c.received(b"GET / HT", s(30));
        assert!(c.timed_out(s(40)), "a started head is due header_timeout after its first byte");
        c.time_out(s(40));
        assert_eq!(c.phase(), Phase::Closing);
    }

    #[test]
    fn idle_keep_alive_timeout_closes_quietly() {
        let t0 = Instant::now();
        let mut c = Conn::new(settings(1 << 20), t0);
        c.received(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", t0);
        assert!(matches!(c.poll_request(&Limits::default(), Instant::now()), Input::Request(_)));
        c.respond(&Response::text(200, "ok"), &[], true, false, t0);
        let mut w = Trickle { out: Vec::new(), cap: 1000, blocked: false };
        flush_all(&mut c, &mut w);
        let answered = w.out.len();
        c.time_out(t0 + Duration::from_secs(61));
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
        c.respond(&big, &[], true, false, Instant::now());
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
        c.continue_body();
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
        c.respond(&Response::error(401, "no"), &[], false, false, t);
        assert_eq!(c.phase(), Phase::Closing, "a refused body is never read: close");
    }

    #[test]
    fn replay_room_waits_for_an_empty_queue() {
        let pool = QueuePool::new(300);
        let mut c = Conn::in_pool(settings(1000), pool.clone(), Instant::now());
        assert_eq!(c.replay_room(), 0, "not streaming");
        c.start_stream(b"HEAD".to_vec(), false, &[]);
        assert_eq!(c.replay_room(), 0, "the head is queued");
        let mut w = Trickle { out: Vec::new(), cap: 1000, blocked: false };
        flush_all(&mut c, &mut w);
        assert_eq!(c.replay_room(), 300, "the pool's room is the smaller");
        c.push_replay(vec![Frame::raw(vec![b'x'; 250])]);
        assert_eq!((c.queued_bytes(), pool.used(), c.replay_room()), (250, 250, 0));
    }

    #[test]
    fn input_while_streaming_is_dropped() {
        let mut c = Conn::new(settings(1 << 20), Instant::now());
        c.start_stream(Vec::new(), true, &[]);
        c.received(b"GET /x HTTP/1.1\r\n\r\n", Instant::now());
        assert_eq!(c.poll_request(&Limits::default(), Instant::now()), Input::NeedMore);
    }
}
