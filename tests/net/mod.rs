//! Raw-socket helpers for the `server_*` integration tests: connect to a server on 127.0.0.1,
//! write request bytes as they are, read a response head, a `Content-Length` body, or an event
//! stream (chunked or close-delimited) decoded with `ssehub::Decoder`.
//!
//! Every read is bounded: sockets have a read timeout and every loop has a deadline, so a
//! misbehaving server fails a test instead of hanging it.

#![allow(dead_code)]

pub mod h2;
pub mod tls;

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use ssehub::{Decoder, OwnedItem};

/// The longest any single wait in these tests may take.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// `GET path HTTP/1.1` with a Host header and `extra` header lines (each ending in `\r\n`).
pub fn get(path: &str, extra: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n{extra}\r\n").into_bytes()
}

/// Sends `POST path_and_query` with `body` (and a bearer `token`) on `conn`; returns the status
/// and the body of the answer.
pub fn post(conn: &mut Conn, path_and_query: &str, token: Option<&str>, body: &[u8]) -> (u16, String) {
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let head =
        format!("POST {path_and_query} HTTP/1.1\r\nHost: h\r\n{auth}Content-Length: {}\r\n\r\n", body.len());
    conn.send(&[head.as_bytes(), body].concat());
    let (head, body) = conn.read_response();
    (head.status, String::from_utf8(body).unwrap())
}

/// [`post`] with extra header lines (each ending in `\r\n`); the whole response head too.
pub fn post_with(
    conn: &mut Conn,
    path_and_query: &str,
    token: Option<&str>,
    headers: &str,
    body: &[u8],
) -> (Head, String) {
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let head = format!(
        "POST {path_and_query} HTTP/1.1\r\nHost: h\r\n{auth}{headers}Content-Length: {}\r\n\r\n",
        body.len()
    );
    conn.send(&[head.as_bytes(), body].concat());
    let (head, body) = conn.read_response();
    (head, String::from_utf8(body).unwrap())
}

/// Polls `cond` every few milliseconds until it holds or `within` passes; returns the last value.
pub fn wait_until(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A response head.
#[derive(Clone, Debug)]
pub struct Head {
    /// The status line, as sent.
    pub status_line: String,
    /// The status code.
    pub status: u16,
    /// The header fields, in order.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first header named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// How many header fields are named `name`.
    pub fn count(&self, name: &str) -> usize {
        self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).count()
    }

    /// `Content-Length`, parsed.
    pub fn content_length(&self) -> Option<usize> {
        self.header("content-length").map(|v| v.trim().parse().expect("numeric Content-Length"))
    }

    /// Whether the response is chunked.
    pub fn is_chunked(&self) -> bool {
        self.header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    }

    /// Whether the server says it closes the connection.
    pub fn closes(&self) -> bool {
        self.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// A client connection with a buffer of bytes read but not yet consumed.
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
    eof: bool,
}

/// Why a bounded read stopped early.
#[derive(Debug, PartialEq, Eq)]
pub enum Stop {
    /// The peer closed (or reset) the connection.
    Eof,
    /// The deadline passed.
    Timeout,
}

impl Conn {
    /// Connects to `addr` with read and write timeouts of [`TIMEOUT`].
    pub fn connect(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect_timeout(&addr, TIMEOUT).expect("connect");
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Conn { stream, buf: Vec::new(), eof: false }
    }

    /// Writes `bytes` as they are.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write request");
    }

    /// Bytes read but not consumed yet.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Reads once more into the buffer, waiting at most until `deadline`.
    /// Returns the number of bytes read (0 at EOF), or `Err(Stop::Timeout)`.
    fn fill(&mut self, deadline: Instant) -> Result<usize, Stop> {
        if self.eof {
            return Err(Stop::Eof);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Stop::Timeout);
        }
        self.stream.set_read_timeout(Some(left.max(Duration::from_millis(1)))).unwrap();
        let mut tmp = [0u8; 64 * 1024];
        match self.stream.read(&mut tmp) {
            Ok(0) => {
                self.eof = true;
                Err(Stop::Eof)
            }
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                Ok(n)
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Err(Stop::Timeout),
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(0),
            // A reset counts as the end of the connection.
            Err(_) => {
                self.eof = true;
                Err(Stop::Eof)
            }
        }
    }

    /// Takes `n` buffered bytes, reading more as needed.
    pub fn take(&mut self, n: usize, deadline: Instant) -> Result<Vec<u8>, Stop> {
        while self.buf.len() < n {
            self.fill(deadline)?;
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// Takes bytes up to and including the first `delim`.
    pub fn take_until(&mut self, delim: &[u8], deadline: Instant) -> Result<Vec<u8>, Stop> {
        let mut from = 0;
        loop {
            if let Some(i) = find(&self.buf[from..], delim) {
                let end = from + i + delim.len();
                return Ok(self.buf.drain(..end).collect());
            }
            from = self.buf.len().saturating_sub(delim.len() - 1);
            self.fill(deadline)?;
        }
    }

    /// Reads a response head, panicking when none arrives within [`TIMEOUT`].
    pub fn read_head(&mut self) -> Head {
        self.try_read_head(Instant::now() + TIMEOUT).expect("a response head")
    }

    /// Reads a response head before `deadline`.
    pub fn try_read_head(&mut self, deadline: Instant) -> Result<Head, Stop> {
        let raw = self.take_until(b"\r\n\r\n", deadline)?;
        let text = String::from_utf8(raw).expect("UTF-8 head");
        let mut lines = text.trim_end_matches("\r\n").split("\r\n");
        let status_line = lines.next().unwrap().to_owned();
        let mut parts = status_line.splitn(3, ' ');
        assert_eq!(parts.next(), Some("HTTP/1.1"), "status line {status_line:?}");
        let status = parts.next().and_then(|s| s.parse().ok()).expect("status code");
        let headers = lines
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap_or_else(|| panic!("header line {l:?}"));
                (n.to_owned(), v.trim().to_owned())
            })
            .collect();
        Ok(Head { status_line, status, headers })
    }

    /// Reads a `Content-Length` body (empty when there is none).
    pub fn read_body(&mut self, head: &Head) -> Vec<u8> {
        let n = head.content_length().unwrap_or(0);
        self.take(n, Instant::now() + TIMEOUT).expect("the response body")
    }

    /// Reads a head and its `Content-Length` body.
    pub fn read_response(&mut self) -> (Head, Vec<u8>) {
        let head = self.read_head();
        let body = self.read_body(&head);
        (head, body)
    }

    /// Reads until the peer closes or `within` passes; returns what was read and why it stopped.
    pub fn read_to_end(&mut self, within: Duration) -> (Vec<u8>, Stop) {
        let deadline = Instant::now() + within;
        let stop = loop {
            if let Err(stop) = self.fill(deadline) {
                break stop;
            }
        };
        (std::mem::take(&mut self.buf), stop)
    }

    /// Whether the peer closes the connection within `within` (any further bytes are dropped).
    pub fn closes_within(&mut self, within: Duration) -> bool {
        self.read_to_end(within).1 == Stop::Eof
    }

    /// Reads one chunk of a chunked body: `Some(data)`, or `None` for the last chunk (`0\r\n\r\n`,
    /// whose trailer section must be empty).
    pub fn read_chunk(&mut self, deadline: Instant) -> Result<Option<Vec<u8>>, Stop> {
        let line = self.take_until(b"\r\n", deadline)?;
        let line = std::str::from_utf8(&line[..line.len() - 2]).expect("chunk size line");
        let size = usize::from_str_radix(line.split(';').next().unwrap().trim(), 16)
            .unwrap_or_else(|_| panic!("chunk size {line:?}"));
        if size == 0 {
            let end = self.take(2, deadline)?;
            assert_eq!(end, b"\r\n", "the last chunk has no trailers");
            return Ok(None);
        }
        let mut data = self.take(size + 2, deadline)?;
        assert_eq!(&data[size..], b"\r\n", "chunk data ends in CRLF");
        data.truncate(size);
        Ok(Some(data))
    }

    /// Shuts down the write side.
    pub fn half_close(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// An event stream being read: the response head, then items decoded from the body.
pub struct Stream {
    pub conn: Conn,
    pub head: Head,
    chunked: bool,
    decoder: Decoder,
    items: VecDeque<OwnedItem>,
    /// Every body byte received (chunk framing removed), in order.
    pub body: Vec<u8>,
    /// The raw chunks received (chunked streams only).
    pub chunks: Vec<Vec<u8>>,
    /// How the body ended: the last chunk (`Some(true)`), EOF without it (`Some(false)`).
    pub ended: Option<bool>,
}

impl Stream {
    /// Connects, sends `GET path` (HTTP/1.1, with `extra` header lines) and reads a `200` head.
    pub fn open(addr: SocketAddr, path: &str, extra: &str) -> Stream {
        Stream::open_raw(addr, &get(path, extra))
    }

    /// Connects, sends `request` and reads the head, which must be `200 text/event-stream`.
    pub fn open_raw(addr: SocketAddr, request: &[u8]) -> Stream {
        let mut conn = Conn::connect(addr);
        conn.send(request);
        let head = conn.read_head();
        assert_eq!(head.status, 200, "stream head: {head:?}");
        assert_eq!(head.header("content-type"), Some("text/event-stream"), "{head:?}");
        Stream::from_head(conn, head)
    }

    /// A stream whose head was already read.
    pub fn from_head(conn: Conn, head: Head) -> Stream {
        let chunked = head.is_chunked();
        let mut stream = Stream {
            conn,
            head,
            chunked,
            decoder: Decoder::new(),
            items: VecDeque::new(),
            body: Vec::new(),
            chunks: Vec::new(),
            ended: None,
        };
        // Bytes read together with the head belong to the body.
        if !chunked && !stream.conn.buf.is_empty() {
            let rest = std::mem::take(&mut stream.conn.buf);
            stream.feed(&rest);
        }
        stream
    }

    fn feed(&mut self, bytes: &[u8]) {
        self.body.extend_from_slice(bytes);
        let items = &mut self.items;
        self.decoder.feed(bytes, |item| items.push_back(item.to_owned())).expect("decodable stream");
    }

    /// Reads more of the body; `Err` when the stream ended or the deadline passed.
    fn pump(&mut self, deadline: Instant) -> Result<(), Stop> {
        if self.ended.is_some() {
            return Err(Stop::Eof);
        }
        if self.chunked {
            match self.conn.read_chunk(deadline) {
                Ok(Some(data)) => {
                    self.feed(&data);
                    self.chunks.push(data);
                    Ok(())
                }
                Ok(None) => {
                    self.ended = Some(true);
                    Err(Stop::Eof)
                }
                Err(Stop::Eof) => {
                    self.ended = Some(false);
                    Err(Stop::Eof)
                }
                Err(Stop::Timeout) => Err(Stop::Timeout),
            }
        } else {
            match self.conn.fill(deadline) {
                Ok(_) => {
                    let rest = std::mem::take(&mut self.conn.buf);
                    self.feed(&rest);
                    Ok(())
                }
                Err(Stop::Eof) => {
                    self.ended = Some(false);
                    Err(Stop::Eof)
                }
                Err(e) => Err(e),
            }
        }
    }

    /// The next `n` items, or what arrived before the stream ended or [`TIMEOUT`] passed.
    pub fn items(&mut self, n: usize) -> Vec<OwnedItem> {
        self.items_within(n, TIMEOUT)
    }

    /// The next `n` items, or what arrived before the stream ended or `within` passed.
    pub fn items_within(&mut self, n: usize, within: Duration) -> Vec<OwnedItem> {
        let deadline = Instant::now() + within;
        while self.items.len() < n {
            if self.pump(deadline).is_err() {
                break;
            }
        }
        let k = n.min(self.items.len());
        self.items.drain(..k).collect()
    }

    /// The next raw chunk (chunked streams), `None` at the last chunk, EOF or timeout.
    pub fn next_chunk(&mut self, within: Duration) -> Option<Vec<u8>> {
        assert!(self.chunked);
        let before = self.chunks.len();
        if self.pump(Instant::now() + within).is_ok() && self.chunks.len() > before {
            return self.chunks.last().cloned();
        }
        None
    }

    /// Reads for `within` (or until the stream ends), collecting items and raw bytes.
    pub fn read_for(&mut self, within: Duration) {
        let deadline = Instant::now() + within;
        while self.pump(deadline).is_ok() {}
    }

    /// Reads until the body ends (or [`TIMEOUT`]); returns `ended`.
    pub fn read_to_end(&mut self) -> Option<bool> {
        let deadline = Instant::now() + TIMEOUT;
        while self.pump(deadline).is_ok() {}
        self.ended
    }

    /// Whether the socket closes after the body ended, within `within`.
    pub fn closes_within(&mut self, within: Duration) -> bool {
        self.conn.closes_within(within)
    }
}

/// An `OwnedItem::Event`.
pub fn event(event_type: &str, data: &str, last_event_id: &str) -> OwnedItem {
    OwnedItem::Event {
        event_type: event_type.to_owned(),
        data: data.to_owned(),
        last_event_id: last_event_id.to_owned(),
    }
}

/// A `message` event with no last event ID.
pub fn message(data: &str) -> OwnedItem {
    event("message", data, "")
}

/// The data of each event among `items` (ids and types left aside: the server may number
/// broadcasts itself).
pub fn data_of(items: &[OwnedItem]) -> Vec<String> {
    items
        .iter()
        .filter_map(|item| match item {
            OwnedItem::Event { data, .. } => Some(data.clone()),
            OwnedItem::Retry(_) => None,
        })
        .collect()
}

/// The last event ID of each event among `items`.
pub fn ids_of(items: &[OwnedItem]) -> Vec<String> {
    items
        .iter()
        .filter_map(|item| match item {
            OwnedItem::Event { last_event_id, .. } => Some(last_event_id.clone()),
            OwnedItem::Retry(_) => None,
        })
        .collect()
}

/// Open file descriptors of this process (entries of `/proc/self/fd`, not counting the one
/// used to list them).
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd").count().saturating_sub(1)
}

/// Resident memory of this process, in bytes (`VmRSS` of `/proc/self/status`).
pub fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS");
    line.split_whitespace().nth(1).and_then(|kb| kb.parse::<usize>().ok()).expect("VmRSS in kB") * 1024
}
