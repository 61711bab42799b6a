//! The HTTP version a socket speaks, and one request's answer on it, as the driver sees them.
//!
//! A socket carries either one HTTP/1.1 [`Conn`] (one request at a time, then perhaps an event
//! stream) or one HTTP/2 [`Connection`] (many streams at once). The driver reads and writes the
//! socket through [`Protocol`], which hides which one it is; it answers a request through an
//! [`Endpoint`]: the `Conn` itself, or one stream of the HTTP/2 connection. Routing, channels,
//! replay and fan-out are written once, against these two.
//!
//! ```text
//! socket ─► Protocol::received ─► Conn (requests one by one) | h2 Connection (streams' requests)
//! answer ─► Endpoint::respond / start_stream / push ─► Conn | h2 Connection, stream n
//! socket ◄─ Protocol::write_to ◄─ the queue (HTTP/1.1) | frames cut from every stream (HTTP/2)
//! ```
//!
//! A connection begins as HTTP/1.1; the HTTP/2 preface as its first bytes
//! ([`Input::Http2`](super::Input::Http2)), or `h2` agreed by TLS ALPN, makes it HTTP/2
//! ([`Protocol::upgrade`]).

use std::io::{self, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::h2::ErrorCode;
use crate::h2::conn::{self as h2, Connection};
use crate::http::request::{Request, Version};
use crate::http::response::{Framing, Response, write_stream_head};
use crate::proto::conn::Phase;
use crate::proto::run::Run;
use crate::proto::stream_end::EndReason;
use crate::proto::{Conn, Frame, Overflow, QueuePool};

/// What a socket speaks. See the [module docs](self).
#[derive(Debug)]
pub enum Protocol {
    /// HTTP/1.0 or HTTP/1.1, one request at a time.
    Http1(Conn),
    /// HTTP/2: streams multiplexed on the connection.
    Http2(Box<Connection>),
}

impl Protocol {
    /// Turns an HTTP/1.1 connection that has just read the preface (or agreed on `h2` by
    /// ALPN) into HTTP/2, which takes the input read so far.
    pub fn upgrade(&mut self, config: Arc<h2::Config>, pool: QueuePool, now: Instant) {
        if let Protocol::Http1(conn) = self {
            let input = conn.take_input();
            let mut h2 = Box::new(Connection::new(config, pool, now));
            h2.received(&input);
            *self = Protocol::Http2(h2);
        }
    }

    /// The HTTP/1.1 connection, if it is one.
    pub fn http1(&mut self) -> Option<&mut Conn> {
        match self {
            Protocol::Http1(c) => Some(c),
            Protocol::Http2(_) => None,
        }
    }

    /// The HTTP/2 connection, if it is one.
    pub fn http2(&mut self) -> Option<&mut Connection> {
        match self {
            Protocol::Http1(_) => None,
            Protocol::Http2(c) => Some(c),
        }
    }

    /// Whether the driver should read from the socket now.
    pub fn wants_read(&self) -> bool {
        match self {
            Protocol::Http1(c) => c.wants_read(),
            Protocol::Http2(c) => c.wants_read(),
        }
    }

    /// The socket says it has something to read.
    pub fn readable(&mut self) {
        match self {
            Protocol::Http1(c) => c.readable(),
            Protocol::Http2(c) => c.readable(),
        }
    }

    /// A read found nothing more.
    pub fn read_would_block(&mut self) {
        match self {
            Protocol::Http1(c) => c.read_would_block(),
            Protocol::Http2(c) => c.read_would_block(),
        }
    }

    /// Whether reading must resume without waiting for readiness.
    pub fn resume_read(&self) -> bool {
        match self {
            Protocol::Http1(c) => c.resume_read(),
            Protocol::Http2(c) => c.resume_read(),
        }
    }

    /// Takes bytes read from the socket.
    pub fn received(&mut self, bytes: &[u8], now: Instant) {
        match self {
            Protocol::Http1(c) => c.received(bytes, now),
            Protocol::Http2(c) => c.received(bytes),
        }
    }

    /// Whether input just received may hold requests to answer before reading on (their
    /// answers bound what is read).
    pub fn has_requests(&self) -> bool {
        match self {
            Protocol::Http1(c) => c.phase() == Phase::Head,
            Protocol::Http2(c) => c.has_events(),
        }
    }

    /// The peer closed its sending side.
    pub fn peer_closed(&mut self) {
        match self {
            Protocol::Http1(c) => c.peer_closed(),
            Protocol::Http2(c) => c.peer_closed(),
        }
    }

    /// The server is going away: streams end gracefully (HTTP/2: `GOAWAY`).
    pub fn shutdown(&mut self, now: Instant) {
        match self {
            Protocol::Http1(c) => c.shutdown(now),
            Protocol::Http2(c) => c.shutdown(now),
        }
    }

    /// Notes why its streams end, unless a cause was seen already (see [`EndReason`]).
    pub fn note_end(&mut self, why: EndReason) {
        match self {
            Protocol::Http1(c) => c.note_end(why),
            Protocol::Http2(c) => c.note_end(why),
        }
    }

    /// Closes now, dropping what is queued.
    pub fn abort(&mut self) {
        match self {
            Protocol::Http1(c) => c.abort(),
            Protocol::Http2(c) => c.abort(),
        }
    }

    /// Whether there is something to write.
    pub fn wants_write(&self) -> bool {
        match self {
            Protocol::Http1(c) => c.wants_write(),
            Protocol::Http2(c) => c.wants_write(),
        }
    }

    /// Writes what is queued until it is all written or `w` would block.
    pub fn write_to<W: Write>(&mut self, w: &mut W, now: Instant) -> io::Result<usize> {
        self.write_to_in(w, now, None)
    }

    /// As [`Protocol::write_to`], an HTTP/1.1 connection's frames that follow one another in
    /// `run` going out as one slice of it (HTTP/2 frames its own `DATA`).
    pub fn write_to_in<W: Write>(&mut self, w: &mut W, now: Instant, run: Option<&Run>) -> io::Result<usize> {
        match self {
            Protocol::Http1(c) => c.write_to_in(w, now, run),
            Protocol::Http2(c) => c.write_to(w, now),
        }
    }

    /// Whether the FIN is due now (reported once).
    pub fn poll_fin(&mut self) -> bool {
        match self {
            Protocol::Http1(c) => c.poll_fin(),
            Protocol::Http2(c) => c.poll_fin(),
        }
    }

    /// The earliest deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Protocol::Http1(c) => c.poll_timeout(),
            Protocol::Http2(c) => c.poll_timeout(),
        }
    }

    /// Whether the connection is over (the driver drops its socket).
    pub fn is_closed(&self) -> bool {
        match self {
            Protocol::Http1(c) => c.phase() == Phase::Closed,
            Protocol::Http2(c) => c.phase() == h2::Phase::Closed,
        }
    }

    /// Whether the connection only drains input after a closing answer (so a read error
    /// there is no fault of the peer's).
    pub fn is_lingering(&self) -> bool {
        match self {
            Protocol::Http1(c) => c.phase() == Phase::Lingering,
            Protocol::Http2(c) => c.phase() == h2::Phase::Lingering,
        }
    }
}

/// Where one request is answered: an HTTP/1.1 connection, or stream `.1` of an HTTP/2 one.
#[derive(Debug)]
pub enum Endpoint<'a> {
    /// The connection's current request.
    Http1(&'a mut Conn),
    /// A stream of an HTTP/2 connection.
    Http2(&'a mut Connection, u32),
}

impl Endpoint<'_> {
    /// Queues a complete answer. `framing` says whether the HTTP/1.1 connection stays open
    /// (an HTTP/2 stream simply ends) and whether the request was `HEAD`.
    pub fn respond(&mut self, response: &Response, framing: Framing, now: Instant) {
        match self {
            Endpoint::Http1(c) => c.respond(response, framing, now),
            Endpoint::Http2(c, id) => {
                c.respond(*id, response, framing.head_only, now);
            }
        }
    }

    /// Lets a client that waits for `100 Continue` send its body (HTTP/2 requests arrive whole).
    pub fn continue_body(&mut self, now: Instant) {
        if let Endpoint::Http1(c) = self {
            c.continue_body(now);
        }
    }

    /// The answer comes later; past `wait`, `503`.
    pub fn defer(&mut self, wait: Duration, now: Instant) {
        match self {
            Endpoint::Http1(c) => c.defer(wait, now),
            Endpoint::Http2(c, id) => c.defer(*id, wait, now),
        }
    }

    /// Whether the answer is deferred and still awaited.
    pub fn is_waiting(&self) -> bool {
        match self {
            Endpoint::Http1(c) => c.phase() == Phase::Waiting,
            Endpoint::Http2(c, id) => c.is_waiting(*id),
        }
    }

    /// Opens the event stream `req` asked for: the stream head with `headers` added, then
    /// `first` (the `:ok` comment, a replay).
    pub fn start_stream(
        &mut self,
        req: &Request,
        headers: &[(String, String)],
        first: &[Frame],
        now: Instant,
    ) {
        match self {
            Endpoint::Http1(c) => {
                let chunked = req.version == Version::Http11;
                let mut head = Vec::with_capacity(256);
                write_stream_head(&mut head, chunked, req.keep_alive(), headers);
                c.start_stream(head, chunked, first, now);
            }
            Endpoint::Http2(c, id) => {
                c.start_stream(*id, headers, first, now);
            }
        }
    }

    /// Whether queueing `frame` now would pass the bound (so the driver should write first).
    pub fn would_overflow(&self, frame: &Frame) -> bool {
        match self {
            Endpoint::Http1(c) => c.would_overflow(frame),
            Endpoint::Http2(c, id) => c.would_overflow(*id, frame),
        }
    }

    /// Queues an event; past the bound the stream ends (the connection over HTTP/1.1, the
    /// stream with `CANCEL` over HTTP/2) and `Err` says so.
    pub fn push(&mut self, frame: Frame, now: Instant) -> Result<(), Overflow> {
        match self {
            Endpoint::Http1(c) => c.push(frame, now),
            Endpoint::Http2(c, id) => c.push(*id, frame, now),
        }
    }

    /// Queues a replay batch sized by [`Endpoint::replay_room`].
    pub fn push_replay(&mut self, frames: Vec<Frame>, now: Instant) {
        match self {
            Endpoint::Http1(c) => c.push_replay(frames, now),
            Endpoint::Http2(c, id) => c.push_replay(*id, frames, now),
        }
    }

    /// How many replay bytes the stream may take now.
    pub fn replay_room(&self) -> usize {
        match self {
            Endpoint::Http1(c) => c.replay_room(),
            Endpoint::Http2(c, id) => c.replay_room(*id),
        }
    }

    /// Ends the event stream once what is queued is sent.
    pub fn finish_stream(&mut self, now: Instant) {
        match self {
            Endpoint::Http1(c) => c.finish_stream(now),
            Endpoint::Http2(c, id) => c.finish_stream(*id, now),
        }
    }

    /// Ends the event stream at `at` (its authorization expires then), after what is queued.
    pub fn end_stream_at(&mut self, at: Instant) {
        match self {
            Endpoint::Http1(c) => c.end_stream_at(at),
            Endpoint::Http2(c, id) => c.end_stream_at(*id, at),
        }
    }

    /// Gives up on the request or stream at once (the HTTP/1.1 connection closes; the
    /// HTTP/2 stream is reset with `CANCEL`).
    pub fn abort(&mut self, now: Instant) {
        match self {
            Endpoint::Http1(c) => {
                c.note_end(EndReason::Error);
                c.abort();
            }
            Endpoint::Http2(c, id) => c.reset_stream(*id, ErrorCode::Cancel, now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::h2::PREFACE;
    use crate::http::request::Limits;
    use crate::proto::Input;
    use crate::proto::conn::Settings;

    #[test]
    fn the_preface_upgrades_and_the_input_goes_along() {
        let now = Instant::now();
        let mut p = Protocol::Http1(Conn::new(Settings::default(), now));
        p.received(PREFACE, now);
        assert_eq!(p.http1().unwrap().poll_request(&Limits::default(), now), Input::Http2);
        p.upgrade(Arc::new(h2::Config::default()), QueuePool::new(usize::MAX), now);
        let mut out = Vec::new();
        p.write_to(&mut out, now).unwrap();
        // The server's SETTINGS: the preface was taken as such, no GOAWAY.
        assert_eq!(out[3], 0x4, "a SETTINGS frame first");
        assert!(!p.is_closed());
        assert!(p.http2().is_some());
    }

    #[test]
    fn an_http1_endpoint_builds_the_stream_head() {
        let now = Instant::now();
        let mut c = Conn::new(Settings::default(), now);
        c.received(b"GET /sse HTTP/1.1\r\nHost: x\r\n\r\n", now);
        let Input::Request(req) = c.poll_request(&Limits::default(), now) else { panic!("a request") };
        let mut e = Endpoint::Http1(&mut c);
        e.start_stream(&req, &[("X-A".into(), "b".into())], &[Frame::comment("ok")], now);
        let mut out = Vec::new();
        c.write_to(&mut out, now).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("Content-Type: text/event-stream\r\n") && text.contains("X-A: b\r\n"));
        assert!(text.ends_with(":ok\n\n\r\n"), "chunked: {text:?}");
    }
}
