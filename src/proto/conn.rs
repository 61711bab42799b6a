//! One connection's protocol state, without the socket.
//!
//! ```text
//!            bytes ──► Head ──(request complete)──► the driver decides:
//!                       ▲                            ├─ respond(keep-alive) ──► Head (next, pipelined)
//!                       └────────────────────────────┤─ respond(close) ───────► Closing
//!                                                    └─ start_stream ─────────► Streaming
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
use crate::proto::queue::{Frame, OutQueue, Overflow};

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Reading a request head (and body).
    Head,
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
    /// The input is refused: the answer is queued and the connection is closing.
    Refused(u16),
}

/// How many slices one vectored write gathers (Linux allows 1024; 64 covers any real backlog).
const MAX_IOVECS: usize = 64;

/// One connection, without its socket. See the [module docs](self).
#[derive(Debug)]
pub struct Conn {
    phase: Phase,
    /// Unparsed input (request heads and bodies); empty and unallocated while streaming.
    inbuf: Vec<u8>,
    out: OutQueue,
    /// When the current request head must be complete (the header or keep-alive timeout).
    deadline: Option<Instant>,
}

impl Conn {
    /// A new connection; its first request head is due by `deadline`.
    pub fn new(max_queue_bytes: usize, deadline: Option<Instant>) -> Conn {
        Conn { phase: Phase::Head, inbuf: Vec::new(), out: OutQueue::new(max_queue_bytes), deadline }
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Bytes queued for writing.
    pub fn queued_bytes(&self) -> usize {
        self.out.queued_bytes()
    }

    /// Takes bytes read from the socket.
    pub fn received(&mut self, bytes: &[u8]) {
        if self.phase == Phase::Head {
            self.inbuf.extend_from_slice(bytes);
        }
    }

    /// The peer closed its sending side (read returned 0).
    ///
    /// A connection waiting for a request has nothing more to do; a stream keeps going until a
    /// write fails, since a half-closed client may still read (the driver closes it when it
    /// chooses to treat EOF as a disconnect).
    pub fn peer_closed(&mut self) {
        if self.phase == Phase::Head {
            self.close();
        }
    }

    /// Looks for a complete request in the input.
    pub fn poll_request(&mut self, limits: &Limits) -> Input {
        if self.phase != Phase::Head || self.inbuf.is_empty() {
            return Input::NeedMore;
        }
        match parse_head(&self.inbuf, limits) {
            Ok(None) => Input::NeedMore,
            Ok(Some(head)) => {
                let total = head.head_len + head.body_len;
                if self.inbuf.len() < total {
                    return Input::NeedMore;
                }
                let mut request = head.request;
                request.body = self.inbuf[head.head_len..total].to_vec();
                self.inbuf.drain(..total);
                Input::Request(request)
            }
            Err(response) => {
                let status = response.status;
                self.respond(&response, &[], false, false);
                Input::Refused(status)
            }
        }
    }

    /// Queues an answer to the last request; with `keep_alive` false the connection closes once
    /// it is written. `next_deadline` is when the next request head is due (keep-alive).
    pub fn respond(
        &mut self,
        response: &Response,
        extra: &[(String, String)],
        keep_alive: bool,
        head_only: bool,
    ) {
        let mut bytes = Vec::with_capacity(128 + response.body.len());
        response.write_to(&mut bytes, extra, keep_alive, head_only);
        self.out.push_unbounded(Frame::raw(bytes));
        if !keep_alive {
            self.close();
        }
    }

    /// Sets when the next request head is due (`None`: never).
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    /// Whether the deadline for a request head has passed at `now`.
    pub fn timed_out(&self, now: Instant) -> bool {
        self.phase == Phase::Head && self.deadline.is_some_and(|d| now >= d)
    }

    /// Times the connection out: queues `408 Request Timeout` and closes.
    pub fn time_out(&mut self) {
        if self.phase == Phase::Head {
            self.respond(&Response::error(408, "request head not received in time"), &[], false, false);
        }
    }

    /// Turns the connection into an event stream: `head` is the response head, `first` the
    /// frames sent at once (the `:ok` comment, an initial `retry`).
    pub fn start_stream(&mut self, head: Vec<u8>, chunked: bool, first: &[Frame]) {
        self.out.push_unbounded(Frame::raw(head));
        self.out.set_chunked(chunked);
        for frame in first {
            self.out.push_unbounded(frame.clone());
        }
        self.phase = Phase::Streaming;
        self.inbuf = Vec::new();
        self.deadline = None;
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
    pub fn finish_stream(&mut self, chunked: bool) {
        if self.phase == Phase::Streaming {
            if chunked {
                self.out.push_unbounded(Frame::raw(LAST_CHUNK.to_vec()));
            }
            self.close();
        }
    }

    /// Closes once what is queued is written.
    pub fn close(&mut self) {
        self.inbuf = Vec::new();
        self.phase = if self.out.is_empty() { Phase::Closed } else { Phase::Closing };
    }

    /// Closes now, dropping what is queued.
    pub fn abort(&mut self) {
        self.out.clear();
        self.inbuf = Vec::new();
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

/// The default time a client has to send a complete request head: 10 s.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

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
        let mut c = Conn::new(1 << 20, None);
        c.received(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nPOST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyzGET /c");
        let l = Limits::default();
        let Input::Request(a) = c.poll_request(&l) else { panic!() };
        assert_eq!(a.path, "/a");
        let Input::Request(b) = c.poll_request(&l) else { panic!() };
        assert_eq!((b.path.as_str(), b.body.as_slice()), ("/b", &b"xyz"[..]));
        assert_eq!(c.poll_request(&l), Input::NeedMore);
        c.received(b" HTTP/1.1\r\nHost: h\r\n\r\n");
        let Input::Request(r) = c.poll_request(&l) else { panic!() };
        assert_eq!(r.path, "/c");
    }

    #[test]
    fn refused_input_answers_and_closes() {
        let mut c = Conn::new(1 << 20, None);
        c.received(b"GET / HTTP/2.0\r\n\r\n");
        assert_eq!(c.poll_request(&Limits::default()), Input::Refused(505));
        assert_eq!(c.phase(), Phase::Closing);
        let mut w = Trickle { out: Vec::new(), cap: 7, blocked: false };
        flush_all(&mut c, &mut w);
        assert!(w.out.starts_with(b"HTTP/1.1 505 HTTP Version Not Supported\r\n"));
        assert_eq!(c.phase(), Phase::Closed);
    }

    #[test]
    fn stream_writes_in_order_through_partial_writes() {
        let mut c = Conn::new(1 << 20, None);
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
        let mut c = Conn::new(100, None);
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
        let mut c = Conn::new(1 << 20, Some(t0 + Duration::from_secs(10)));
        c.received(b"GET / HT");
        assert!(!c.timed_out(t0 + Duration::from_secs(9)));
        assert!(c.timed_out(t0 + Duration::from_secs(10)));
        c.time_out();
        assert_eq!(c.phase(), Phase::Closing);
    }

    #[test]
    fn input_while_streaming_is_dropped() {
        let mut c = Conn::new(1 << 20, None);
        c.start_stream(Vec::new(), true, &[]);
        c.received(b"GET /x HTTP/1.1\r\n\r\n");
        assert_eq!(c.poll_request(&Limits::default()), Input::NeedMore);
    }
}
