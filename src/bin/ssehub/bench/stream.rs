//! One event-stream response's protocol, without the socket: response head → body framing →
//! event-stream decoder → each event's data.
//!
//! ```text
//! bytes ─► Response: head (httparse; 200 + text/event-stream?)
//!       ─► body: chunked | Content-Length | to EOF ─► payload
//!       ─► Stream: ssehub::Decoder ─► on_event(data, last event id)
//! ```
//! A bench worker reads the socket into its one buffer and hands every read to
//! [`Stream::feed`]. Only a head split across reads is copied (into a per-connection buffer,
//! freed once the head is complete); body bytes are framed and decoded in place, and the event
//! callback gets the data borrowed from the decoder, so nothing is allocated per event.
//! `ssehub decode URL` uses [`Response`] alone, with a decoder of its own that shows every item.

use std::borrow::Cow;
use std::fmt;

use ssehub::{DecodeError, Decoder, Item};

use super::dechunk::{ChunkError, Dechunker};

/// The largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// The most header fields a response head may have.
const MAX_HEADERS: usize = 64;

/// Why a connection was not accepted as an event stream (it counts as failed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    Status(u16),
    NoContentType,
    ContentType(String),
    Encoding(String),
    BadHead(httparse::Error),
    HeadTooLarge,
    ClosedBeforeHead,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Status(code) => write!(f, "status {code}"),
            Refusal::NoContentType => f.write_str("no content type"),
            Refusal::ContentType(ct) => write!(f, "content type {ct}"),
            Refusal::Encoding(enc) => write!(f, "unsupported encoding {enc}"),
            Refusal::BadHead(e) => write!(f, "bad response head: {e}"),
            Refusal::HeadTooLarge => write!(f, "response head over {} KiB", MAX_HEAD / 1024),
            Refusal::ClosedBeforeHead => f.write_str("closed before the response head"),
        }
    }
}

/// Why an established stream ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The server closed the connection.
    Eof,
    /// The chunked body ended with its last chunk.
    LastChunk,
    /// The `Content-Length` body was complete.
    LengthReached,
    Chunking(ChunkError),
    Decode(DecodeError),
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            End::Eof => f.write_str("closed by the server"),
            End::LastChunk => f.write_str("body ended (last chunk)"),
            End::LengthReached => f.write_str("body ended (Content-Length reached)"),
            End::Chunking(e) => write!(f, "{e}"),
            End::Decode(e) => write!(f, "decode error: {e}"),
        }
    }
}

/// Why [`Stream::feed`] stopped: the connection is over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    Refused(Refusal),
    Ended(End),
}

#[derive(Clone, Debug)]
enum Body {
    /// Close-delimited: the body runs to EOF.
    ToEof,
    /// This many bytes of `Content-Length` to go.
    Length(u64),
    Chunked(Dechunker),
}

#[derive(Clone, Debug)]
enum Phase {
    /// The head bytes so far when a head was split across reads; empty otherwise.
    Head(Vec<u8>),
    Body(Body),
}

/// An event-stream response, head and body framing: hands out the payload; see the
/// [module documentation](self).
#[derive(Clone, Debug)]
pub struct Response {
    phase: Phase,
}

impl Default for Response {
    fn default() -> Response {
        Response::new()
    }
}

impl Response {
    pub fn new() -> Response {
        Response { phase: Phase::Head(Vec::new()) }
    }

    /// Whether the response head has been accepted.
    pub fn established(&self) -> bool {
        matches!(self.phase, Phase::Body(_))
    }

    /// Takes the next bytes read from the socket, calling `on_payload` with each run of the body
    /// they hold (never empty), and stopping at its first error. `Err` when the response is over
    /// (refused, or the body ended).
    pub fn feed<F>(&mut self, bytes: &[u8], on_payload: &mut F) -> Result<(), Stop>
    where
        F: FnMut(&[u8]) -> Result<(), DecodeError>,
    {
        let Phase::Head(head) = &mut self.phase else {
            return self.feed_body(bytes, on_payload);
        };
        if head.is_empty() {
            // The usual case: the whole head in one read, parsed where it lies.
            match parse_head(bytes).map_err(Stop::Refused)? {
                Some((len, body)) => {
                    self.phase = Phase::Body(body);
                    self.feed_body(&bytes[len..], on_payload)
                }
                None if bytes.len() > MAX_HEAD => Err(Stop::Refused(Refusal::HeadTooLarge)),
                None => {
                    head.extend_from_slice(bytes);
                    Ok(())
                }
            }
        } else {
            head.extend_from_slice(bytes);
            match parse_head(head).map_err(Stop::Refused)? {
                Some((len, body)) => {
                    let head = std::mem::take(head);
                    self.phase = Phase::Body(body);
                    self.feed_body(&head[len..], on_payload)
                }
                None if head.len() > MAX_HEAD => Err(Stop::Refused(Refusal::HeadTooLarge)),
                None => Ok(()),
            }
        }
    }

    /// The server closed the connection: what that means in the current phase.
    pub fn eof(&self) -> Stop {
        match self.phase {
            Phase::Head(_) => Stop::Refused(Refusal::ClosedBeforeHead),
            Phase::Body(_) => Stop::Ended(End::Eof),
        }
    }

    fn feed_body<F>(&mut self, mut bytes: &[u8], on_payload: &mut F) -> Result<(), Stop>
    where
        F: FnMut(&[u8]) -> Result<(), DecodeError>,
    {
        let decode = |e| Stop::Ended(End::Decode(e));
        match &mut self.phase {
            Phase::Head(_) => unreachable!("feed_body before the head"),
            Phase::Body(Body::ToEof) if bytes.is_empty() => Ok(()),
            Phase::Body(Body::ToEof) => on_payload(bytes).map_err(decode),
            Phase::Body(Body::Length(left)) => {
                let take = usize::try_from(*left).unwrap_or(usize::MAX).min(bytes.len());
                if take > 0 {
                    on_payload(&bytes[..take]).map_err(decode)?;
                }
                *left -= take as u64;
                match *left {
                    0 => Err(Stop::Ended(End::LengthReached)),
                    _ => Ok(()),
                }
            }
            Phase::Body(Body::Chunked(chunks)) => {
                while let Some(payload) =
                    chunks.next(&mut bytes).map_err(|e| Stop::Ended(End::Chunking(e)))?
                {
                    on_payload(payload).map_err(decode)?;
                }
                match chunks.is_done() {
                    true => Err(Stop::Ended(End::LastChunk)),
                    false => Ok(()),
                }
            }
        }
    }
}

/// A benchmark connection's protocol: a [`Response`] whose payload goes through a decoder.
#[derive(Clone, Debug)]
pub struct Stream {
    response: Response,
    decoder: Decoder,
}

impl Default for Stream {
    fn default() -> Stream {
        Stream::new()
    }
}

impl Stream {
    pub fn new() -> Stream {
        Stream { response: Response::new(), decoder: Decoder::new() }
    }

    /// Whether the response head has been accepted.
    pub fn established(&self) -> bool {
        self.response.established()
    }

    /// Takes the next bytes read from the socket, calling `on_event` with the data and the last
    /// event ID of each event they complete. `Err` when the connection is over (refused, or the stream ended).
    pub fn feed<F: FnMut(&str, &str)>(&mut self, bytes: &[u8], on_event: &mut F) -> Result<(), Stop> {
        let decoder = &mut self.decoder;
        self.response.feed(bytes, &mut |payload: &[u8]| {
            decoder.feed(payload, |item| {
                if let Item::Event(ev) = item {
                    on_event(ev.data, ev.last_event_id);
                }
            })
        })
    }

    /// The server closed the connection: what that means in the current phase.
    pub fn eof(&mut self) -> Stop {
        let stop = self.response.eof();
        if stop == Stop::Ended(End::Eof) {
            self.decoder.finish();
        }
        stop
    }
}

/// Parses a response head: `None` while incomplete, else its length and the body framing, or
/// why the response is not an event stream.
fn parse_head(bytes: &[u8]) -> Result<Option<(usize, Body)>, Refusal> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(bytes).map_err(Refusal::BadHead)? {
        httparse::Status::Partial => Ok(None),
        httparse::Status::Complete(len) => Ok(Some((len, body_framing(&resp)?))),
    }
}

/// Checks a complete head (200, `text/event-stream`, no encoding we cannot undo) and says how
/// the body is delimited.
fn body_framing(resp: &httparse::Response<'_, '_>) -> Result<Body, Refusal> {
    let header = |name: &str| {
        resp.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value))
    };
    accept(resp.code.unwrap_or(0), header)?;
    if let Some(te) = header("transfer-encoding") {
        let mut codings = te.split(',').map(str::trim).filter(|c| !c.eq_ignore_ascii_case("identity"));
        return match (codings.next(), codings.next()) {
            (Some(c), None) if c.eq_ignore_ascii_case("chunked") => Ok(Body::Chunked(Dechunker::new())),
            (None, _) => Ok(Body::ToEof),
            _ => Err(Refusal::Encoding(te.chars().take(60).collect())),
        };
    }
    match header("content-length") {
        None => Ok(Body::ToEof),
        Some(len) => match len.trim().parse::<u64>() {
            Ok(n) => Ok(Body::Length(n)),
            Err(_) => Err(Refusal::BadHead(httparse::Error::HeaderValue)),
        },
    }
}

/// Whether a response head (its status, and its header values by lower-case name) opens an
/// event stream: 200, `text/event-stream`, no encoding we cannot undo. HTTP/1.1 and HTTP/2
/// (`super::h2`) judge their heads here alike.
pub fn accept<'a>(code: u16, header: impl Fn(&str) -> Option<Cow<'a, str>>) -> Result<(), Refusal> {
    if code != 200 {
        return Err(Refusal::Status(code));
    }
    let content_type = header("content-type").ok_or(Refusal::NoContentType)?;
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("text/event-stream") {
        return Err(Refusal::ContentType(content_type.chars().take(60).collect()));
    }
    if let Some(enc) = header("content-encoding").filter(|e| !e.trim().eq_ignore_ascii_case("identity")) {
        return Err(Refusal::Encoding(enc.chars().take(60).collect()));
    }
    Ok(())
}

/// The publishing time an event's data carries: decimal nanoseconds since the UNIX epoch at the
/// very start, followed by a space or the end of the data (`1700000000123456789 xxxx`). `None`
/// for any other data, and for a number that does not fit in a `u64`. Nanoseconds since the
/// epoch have 19 digits (from September 2001 to the year 2286): shorter numbers, such as the
/// milliseconds of `ssehub serve`'s clock, are not taken for timestamps (they would read as
/// decades of latency).
pub fn timestamp_ns(data: &str) -> Option<u64> {
    let bytes = data.as_bytes();
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits < 19 || bytes.get(digits).is_some_and(|&b| b != b' ') {
        return None;
    }
    bytes[..digits].iter().try_fold(0u64, |n, d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `parts`; returns the events' data, whether the head was accepted, and the stop.
    fn run(parts: &[&[u8]]) -> (Vec<String>, bool, Option<Stop>) {
        let mut s = Stream::new();
        let mut got = Vec::new();
        for part in parts {
            if let Err(stop) = s.feed(part, &mut |d: &str, _: &str| got.push(d.to_owned())) {
                return (got, s.established(), Some(stop));
            }
        }
        (got, s.established(), None)
    }

    const CHUNKED: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
        Transfer-Encoding: chunked\r\n\r\n\
        6\r\n: ok\n\n\r\n\
        11\r\ndata: 17 xx\n\ndata\r\n\
        5\r\n: b\n\n\r\n\
        0\r\n\r\n";

    #[test]
    fn chunked_stream_split_at_every_point() {
        for i in 0..=CHUNKED.len() {
            let (got, est, stop) = run(&[&CHUNKED[..i], &CHUNKED[i..]]);
            assert_eq!(got, ["17 xx", "b"], "split at {i}");
            assert!(est);
            assert_eq!(stop, Some(Stop::Ended(End::LastChunk)), "split at {i}");
        }
    }

    #[test]
    fn close_delimited_and_content_length_bodies() {
        let head = b"HTTP/1.0 200 OK\r\ncontent-type: Text/Event-Stream; charset=utf-8\r\n\r\n";
        let (got, est, stop) = run(&[head, b"data: a\n\ndata: b\n"]);
        assert_eq!((got, est, stop), (vec!["a".to_owned()], true, None));

        let head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 10\r\n\r\n";
        let (got, _, stop) = run(&[head, b"data: a\n\nda", b"ta: b\n\n"]);
        assert_eq!((got, stop), (vec!["a".to_owned()], Some(Stop::Ended(End::LengthReached))));
    }

    #[test]
    fn refusals() {
        let refused = |head: &[u8]| run(&[head]).2;
        assert_eq!(
            refused(b"HTTP/1.1 503 Busy\r\nContent-Type: text/event-stream\r\n\r\n"),
            Some(Stop::Refused(Refusal::Status(503)))
        );
        assert_eq!(refused(b"HTTP/1.1 200 OK\r\n\r\n"), Some(Stop::Refused(Refusal::NoContentType)));
        assert_eq!(
            refused(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n"),
            Some(Stop::Refused(Refusal::ContentType("text/html".into())))
        );
        assert_eq!(
            refused(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-streamx\r\n\r\n"),
            Some(Stop::Refused(Refusal::ContentType("text/event-streamx".into())))
        );
        assert_eq!(
            refused(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: gzip\r\n\r\n"),
            Some(Stop::Refused(Refusal::Encoding("gzip".into())))
        );
        assert_eq!(
            refused(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
            ),
            Some(Stop::Refused(Refusal::Encoding("gzip, chunked".into())))
        );
        assert!(matches!(refused(b"HTTP/1.1 2OO OK\r\n\r\n"), Some(Stop::Refused(Refusal::BadHead(_)))));
        let huge = [&b"HTTP/1.1 200 OK\r\nX: "[..], &[b'x'; MAX_HEAD][..]].concat();
        assert_eq!(run(&[&huge[..100], &huge[100..]]).2, Some(Stop::Refused(Refusal::HeadTooLarge)));
        let mut s = Stream::new();
        s.feed(b"HTTP/1.1 200 OK\r\n", &mut |_: &str, _: &str| {}).unwrap();
        assert_eq!(s.eof(), Stop::Refused(Refusal::ClosedBeforeHead));
    }

    #[test]
    fn response_hands_out_the_payload_alone() {
        let mut payload = Vec::new();
        let mut r = Response::new();
        let mut take = |p: &[u8]| {
            assert!(!p.is_empty());
            payload.extend_from_slice(p);
            Ok(())
        };
        assert_eq!(r.feed(&CHUNKED[..40], &mut take), Ok(()));
        assert_eq!(r.feed(&CHUNKED[40..], &mut take), Err(Stop::Ended(End::LastChunk)));
        assert_eq!(payload, b": ok\n\ndata: 17 xx\n\ndata: b\n\n");

        let empty = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 0\r\n\r\n";
        let mut r = Response::new();
        assert_eq!(r.feed(empty, &mut |_: &[u8]| panic!("no payload")), Err(Stop::Ended(End::LengthReached)));

        let mut r = Response::new();
        let head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n";
        let too_long = |_: &[u8]| Err(DecodeError::LineTooLong { limit: 1 });
        assert_eq!(r.feed(head, &mut |_: &[u8]| panic!("no payload")), Ok(()));
        assert_eq!(r.eof(), Stop::Ended(End::Eof));
        assert!(matches!(r.feed(b"x", &mut { too_long }), Err(Stop::Ended(End::Decode(_)))));
    }

    #[test]
    fn eof_after_the_head_ends_the_stream() {
        let mut s = Stream::new();
        s.feed(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: x",
            &mut |_: &str, _: &str| {},
        )
        .unwrap();
        assert!(s.established());
        assert_eq!(s.eof(), Stop::Ended(End::Eof));
    }

    #[test]
    fn timestamps() {
        assert_eq!(timestamp_ns("1700000000123456789 xxxx"), Some(1_700_000_000_123_456_789));
        assert_eq!(timestamp_ns("1700000000123456789"), Some(1_700_000_000_123_456_789));
        assert_eq!(timestamp_ns("1000000000000000000 "), Some(1_000_000_000_000_000_000));
        assert_eq!(timestamp_ns("0"), None);
        assert_eq!(timestamp_ns("42 "), None);
        assert_eq!(timestamp_ns("1796161388001"), None); // serve's clock: milliseconds
        assert_eq!(timestamp_ns("999999999999999999"), None);
        assert_eq!(timestamp_ns("18446744073709551615"), Some(u64::MAX));
        assert_eq!(timestamp_ns("18446744073709551616"), None);
        assert_eq!(timestamp_ns("99999999999999999999999 x"), None);
        assert_eq!(timestamp_ns(""), None);
        assert_eq!(timestamp_ns(" 17"), None);
        assert_eq!(timestamp_ns("17x"), None);
        assert_eq!(timestamp_ns("17\n18"), None);
        assert_eq!(timestamp_ns("-17"), None);
        assert_eq!(timestamp_ns("hello"), None);
    }
}
