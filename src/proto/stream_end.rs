//! What one event stream sent, and why it ended: the facts of its access log line.
//!
//! The connection state machines keep them as they go ([`crate::proto::Conn`] for HTTP/1.1,
//! [`crate::h2::conn::Connection`] per HTTP/2 stream): the events and bytes are counted where
//! the queue hands bytes to the socket ([`crate::proto::OutQueue`]), and the reason is the first
//! cause the connection saw (a slow client cut off, then its socket closing, stays a slow
//! client). The server logs them when the stream is gone (see `ssehub::server::access`).
//!
//! ```
//! use ssehub::proto::EndReason;
//! assert_eq!(EndReason::SlowClient.as_str(), "slow_client");
//! assert_eq!(EndReason::ALL.iter().filter(|r| r.as_str() == "client_left").count(), 1);
//! ```

use std::fmt;

/// Why an event stream ended. New reasons may come (the enum is `#[non_exhaustive]`); each has
/// a stable name ([`EndReason::as_str`]), the `reason` field of the access log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EndReason {
    /// The client closed the connection or the stream (FIN, reset, an HTTP/2 `RST_STREAM`), or
    /// its socket failed.
    ClientLeft,
    /// The client did not read fast enough: its queue passed the bound
    /// (`Config::max_queue_bytes`, or its share of `max_total_queue_bytes`) and it was cut off.
    SlowClient,
    /// Queued data made no progress for `Config::send_timeout` (or the kernel's
    /// `TCP_USER_TIMEOUT`, the same time): the client is gone or stuck.
    SendTimeout,
    /// The server shut down: the stream ended with its last chunk (HTTP/2: `GOAWAY`).
    Shutdown,
    /// The token the stream was opened with expired: the stream ended gracefully, and the
    /// client reconnects with a fresh one.
    AuthExpired,
    /// The server ended the stream: the application closed it (`Client::close`), or its replay
    /// could not be continued on this node (the client resumes by reconnecting).
    Closed,
    /// The client broke the HTTP/2 protocol on the connection or the stream (`GOAWAY` or
    /// `RST_STREAM` with an error).
    ProtocolError,
    /// The server gave up on the stream (an application callback panicked).
    Error,
}

impl EndReason {
    /// Every reason, in a fixed order.
    pub const ALL: [EndReason; 8] = [
        EndReason::ClientLeft,
        EndReason::SlowClient,
        EndReason::SendTimeout,
        EndReason::Shutdown,
        EndReason::AuthExpired,
        EndReason::Closed,
        EndReason::ProtocolError,
        EndReason::Error,
    ];

    /// The reason's name in logs: `client_left`, `slow_client`, `send_timeout`, `shutdown`,
    /// `auth_expired`, `closed`, `protocol_error`, `error`.
    pub fn as_str(&self) -> &'static str {
        match self {
            EndReason::ClientLeft => "client_left",
            EndReason::SlowClient => "slow_client",
            EndReason::SendTimeout => "send_timeout",
            EndReason::Shutdown => "shutdown",
            EndReason::AuthExpired => "auth_expired",
            EndReason::Closed => "closed",
            EndReason::ProtocolError => "protocol_error",
            EndReason::Error => "error",
        }
    }

    /// Keeps the first cause: `slot` takes `self` only if it holds none yet.
    pub(crate) fn note(self, slot: &mut Option<EndReason>) {
        if slot.is_none() {
            *slot = Some(self);
        }
    }
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a queue has handed to the socket: whole event frames and bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sent {
    /// Event frames written whole (see [`crate::Frame::is_event`]); it stops at `u32::MAX`.
    pub events: u32,
    /// Bytes written.
    pub bytes: u64,
}

/// One ended (or ending) event stream's tally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamTally {
    /// Events and bytes sent on the stream (HTTP/1.1: the response as written, head and chunk
    /// framing included; HTTP/2: its `HEADERS` and `DATA` frames), before any TLS.
    pub sent: Sent,
    /// Why it ended; `None` while it streams, or when nothing on the connection has said (the
    /// server then reports [`EndReason::ClientLeft`]: the socket went away).
    pub reason: Option<EndReason>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_cause_is_kept_and_names_are_unique() {
        let mut slot = None;
        EndReason::SlowClient.note(&mut slot);
        EndReason::ClientLeft.note(&mut slot);
        assert_eq!(slot, Some(EndReason::SlowClient));
        let mut names: Vec<_> = EndReason::ALL.iter().map(|r| r.to_string()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), EndReason::ALL.len());
    }
}

/// The HTTP/1.1 connection's side: each cause, and the counts.
#[cfg(test)]
mod conn_tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::event::Event;
    use crate::proto::conn::{Conn, Settings};
    use crate::proto::trickle::Trickle;
    use crate::proto::{Frame, Input};

    fn streaming(settings: Settings, now: Instant) -> Conn {
        let mut c = Conn::new(settings, now);
        c.received(b"GET /sse HTTP/1.1\r\nHost: h\r\n\r\n", now);
        assert!(matches!(c.poll_request(&Default::default(), now), Input::Request(_)));
        assert_eq!(c.stream_tally(), None, "no stream yet");
        c.start_stream(b"HEAD\r\n\r\n".to_vec(), true, &[Frame::comment("ok")], now);
        c
    }

    fn write(c: &mut Conn, cap: usize, now: Instant) -> Vec<u8> {
        let mut w = Trickle { out: Vec::new(), cap, blocked: false };
        let _ = c.write_to(&mut w, now);
        w.out
    }

    #[test]
    fn events_and_bytes_are_what_was_written_whole() {
        let t = Instant::now();
        let mut c = streaming(Settings::default(), t);
        c.push(Frame::event(&Event::new("a")).unwrap(), t).unwrap();
        c.push(Frame::event(&Event::new("b")).unwrap(), t).unwrap();
        // Written up to the middle of the second event: one event sent.
        let head_ok_a = 8 + 10 + 14;
        let out = write(&mut c, head_ok_a + 3, t);
        assert_eq!(out.len(), head_ok_a + 3);
        let tally = c.stream_tally().unwrap();
        assert_eq!(tally, StreamTally { sent: Sent { events: 1, bytes: out.len() as u64 }, reason: None });
        let rest = write(&mut c, 1 << 20, t);
        assert_eq!(
            c.stream_tally().unwrap().sent,
            Sent { events: 2, bytes: (out.len() + rest.len()) as u64 }
        );
        c.peer_closed();
        assert_eq!(c.stream_tally().unwrap().reason, Some(EndReason::ClientLeft));
    }

    #[test]
    fn each_cause_is_noted_and_the_first_one_stays() {
        let t = Instant::now();
        let small = Settings { max_queue_bytes: 100, ..Settings::default() };
        let big = Frame::event(&Event::new("x".repeat(40))).unwrap();

        let mut c = streaming(small, t);
        assert!(c.push(big.clone(), t).is_ok());
        assert!(c.push(big.clone(), t).is_err());
        c.peer_closed();
        assert_eq!(c.stream_tally().unwrap().reason, Some(EndReason::SlowClient), "the first cause");

        let mut c = streaming(Settings::default(), t);
        c.push(big.clone(), t).unwrap();
        c.handle_timeout(t + Settings::default().send_timeout);
        assert_eq!(c.stream_tally().unwrap().reason, Some(EndReason::SendTimeout));

        let mut c = streaming(Settings::default(), t);
        c.shutdown(t);
        c.peer_closed();
        assert_eq!(c.stream_tally().unwrap().reason, Some(EndReason::Shutdown));

        let mut c = streaming(Settings::default(), t);
        c.end_stream_at(t + Duration::from_secs(1));
        c.handle_timeout(t + Duration::from_secs(1));
        assert_eq!(c.stream_tally().unwrap().reason, Some(EndReason::AuthExpired));

        let mut c = streaming(Settings::default(), t);
        c.finish_stream(t);
        assert_eq!(c.stream_tally().unwrap().reason, Some(EndReason::Closed));

        let mut c = streaming(Settings::default(), t);
        c.abort();
        assert_eq!(c.stream_tally().unwrap().reason, None, "gone, no cause seen");
    }

    /// A kept-alive connection that answered before it streamed counts from the stream's head.
    #[test]
    fn the_tally_starts_with_the_stream() {
        let t = Instant::now();
        let mut c = Conn::new(Settings::default(), t);
        c.received(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", t);
        assert!(matches!(c.poll_request(&Default::default(), t), Input::Request(_)));
        c.respond(
            &crate::http::Response::new(204),
            crate::http::Framing { keep_alive: true, head_only: false },
            t,
        );
        let answered = write(&mut c, 1 << 20, t).len();
        assert!(answered > 0);
        c.received(b"GET /sse HTTP/1.1\r\nHost: h\r\n\r\n", t);
        assert!(matches!(c.poll_request(&Default::default(), t), Input::Request(_)));
        c.start_stream(b"HEAD\r\n\r\n".to_vec(), true, &[], t);
        write(&mut c, 1 << 20, t);
        assert_eq!(c.stream_tally().unwrap().sent.bytes, 8);
    }
}
