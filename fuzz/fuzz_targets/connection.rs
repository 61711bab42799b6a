//! The sans-IO connection state machine against a model, driven by an arbitrary sequence of
//! operations.
//!
//! The operations are what the mio driver does (`src/server/worker.rs`): bytes received (raw, or
//! well-formed requests pipelined several at a time), polling requests and answering each one
//! (a fallback response with a body of up to 4 KiB, an error response, a stream with a few
//! first frames, or `defer`: the answer comes later, from the backplane), resolving a deferred
//! request with any of those answers (only while the connection is `Waiting`, as the driver
//! does; a `defer` is also tried where it must do nothing), pushing frames of arbitrary size,
//! finishing the stream, closing, aborting, the peer half-closing, writing to a socket that takes
//! at most `k` bytes and then would block (or is interrupted, or fails, or returns `Ok(0)`), the
//! socket reported readable or read dry, a server shutdown, and advancing a virtual clock (by
//! some milliseconds, or exactly to the connection's next deadline) followed by
//! `handle_timeout`. Settings are small: a queue bound of 64..=8192 bytes, every timer (header,
//! idle, keep-alive, send, linger) a few milliseconds, small request limits. Some frames and
//! answers are sized from the room the queue bound leaves (`room + delta`), so the edges of the
//! bound are hit exactly.
//!
//! The model predicts every answer and, after every operation, the target asserts:
//!
//! * the phase, `queued_bytes()` (exactly the bytes queued and not yet written), `wants_write()`
//!   (`queued > 0` and not `Closed`), `wants_read()` (in `Head`: `queued < max_queue_bytes`;
//!   `Streaming`/`Closing`/`Lingering`: true; `Waiting`/`Closed`: false), `resume_read()` (not
//!   read dry since the last readiness, and `wants_read`) and `poll_timeout()` all equal the
//!   model's. The model's deadlines: `Head` the header or idle deadline, `Waiting` the deferred
//!   one, `Streaming` the last thing queued + keep-alive, `Lingering` the linger's end, and in any
//!   phase with bytes queued, the last write that made progress (or the queue filling) + send
//!   timeout, whichever comes first;
//! * `handle_timeout(now)` does exactly what is due, and nothing early: drops a stalled queue
//!   (`Stalled`), answers `408` to a begun or never-sent request (`RequestTimeout`) or closes an
//!   idle one (`Idle`), answers `503` to a deferred one (`NoAnswer`), queues a keep-alive comment
//!   on a silent stream (`KeepAlive`, or `Stalled` when it does not fit), ends a linger
//!   (`Lingered`);
//! * an answer that closes lingers once written: `Lingering`, with one FIN asked for
//!   (`poll_fin`), unless the peer closed or the server shut down; streams never linger;
//! * what `poll_request` returns equals sequential `parse_head` over the unconsumed input
//!   (with the body), and it yields a request or a refusal only while `queued < max_queue_bytes`
//!   and never while `Waiting`;
//! * `Waiting`: `defer` moves only `Head` there, with its deadline `now + wait`; what was
//!   received before, and what arrives meanwhile (the driver does not read then, but `received`
//!   keeps it), stays for the next request without moving the deadline; push, `finish_stream`
//!   and the peer closing do nothing; an answer ends it (`respond` returns to `Head` first, so
//!   keep-alive takes the next pipelined request; `start_stream` streams), or the deadline does:
//!   `time_out` queues a `503` with `Retry-After: 1` and closes;
//! * `Closed` and `Lingering` imply nothing queued; `Closing` implies something queued (it will be
//!   written and then become `Lingering` or `Closed`);
//! * the bytes the writers receive are exactly the concatenation, in order, of what was queued,
//!   though the writes take the frames that a worker's run lists (`proto::run`; two pushed
//!   frames of three here) as slices of it
//!   (responses, stream heads, frames in their chunked or bare view, the last chunk; a 408 or a
//!   503 is checked by its status line and length, then, once written, by its `Content-Length`,
//!   `Connection: close`, and for the 503 `Retry-After: 1`); nothing is written once `Closed`;
//!   `write_to` returns `Ok(n)` with `n` the bytes taken, and only when the queue is empty or the
//!   socket would block; it fails only when the socket failed, and then the connection is
//!   `Closed`;
//! * a stream push is refused exactly when the queue is non-empty and `queued + frame > max`
//!   (`would_overflow` agrees), and a refusal drops the queue and closes;
//! * the queue bound, as the code guarantees it (see [`Model::check_bounds`]);
//! * a chunked stream body holds no zero-size chunk before the one `finish_stream` queues.
#![no_main]

use std::io::{self, IoSlice, Write};
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use ssehub::Event;
use ssehub::h2::PREFACE;
use ssehub::http::request::{Limits, parse_head};
use ssehub::http::response::{Framing, LAST_CHUNK, Response, write_stream_head};
use ssehub::proto::Frame;
use ssehub::proto::conn::{Conn, Input, Phase, Settings, Timeout};
use ssehub::proto::run::Run;

/// Whether `Frame::block_bytes(b"")` may be pushed: an empty block makes an empty frame, which
/// queues nothing (it used to end a chunked body with `0\r\n\r\n`, or hand `writev` an empty
/// slice whose `Ok(0)` aborted the connection: artifacts `empty-block-chunked`, `empty-block-bare`).
const ALLOW_EMPTY_BLOCKS: bool = true;

#[derive(Arbitrary, Debug)]
struct Plan {
    max_queue: u16,
    header_timeout_ms: u8,
    idle_timeout_ms: u8,
    /// 0: no keep-alive comments.
    keep_alive_ms: u8,
    send_timeout_ms: u8,
    linger_ms: u8,
    max_head: u16,
    max_headers: u8,
    max_body: u16,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// Bytes read from the socket.
    Received(Vec<u8>),
    /// `1 + count % 4` copies of a canned request, in one read.
    Requests {
        which: u8,
        count: u8,
    },
    /// Takes every complete request and answers it with `answers[i % len]` (404 when empty),
    /// until none is complete, or one is refused, or one is deferred (`Waiting` takes no more).
    PollRequests(Vec<Answer>),
    Push(FrameSpec),
    FinishStream,
    Close,
    Abort,
    PeerClosed,
    Write(WriterSpec),
    /// Advances the clock by this many milliseconds, then `handle_timeout`.
    Tick(u16),
    // Added last, like `Answer::Defer` (the committed seeds were re-encoded for the new
    // variant counts: see fuzz/README.md).
    /// The backplane's answer to a deferred request: given only while `Waiting`, as the driver
    /// does (`Worker::waiting`). A `Defer` answer is also tried in `Streaming`, `Closing` and
    /// `Closed`, where it must do nothing, and in `Waiting`, where it must not move the deadline.
    Resolve(Answer),
    /// Advances the clock exactly to the connection's next deadline (if any), then
    /// `handle_timeout`.
    ToDeadline,
    /// The socket reported readiness (`readable`), or was read dry (`read_would_block`).
    Readable,
    ReadDry,
    /// The server shuts down.
    Shutdown,
    /// `end_stream_at(now + ms)` (a stream whose token expires): only a stream takes it.
    EndStreamAt(u16),
}

#[derive(Arbitrary, Debug, Clone)]
enum Answer {
    Fallback {
        body: u16,
        keep_alive: bool,
        head_only: bool,
    },
    /// A 200 whose bytes are `room + delta` (at least the smallest response), where `room` is
    /// what the queue bound leaves: answers at the edge of `wants_read`.
    Fit {
        delta: i8,
        keep_alive: bool,
    },
    Refuse {
        status: u8,
        keep_alive: bool,
    },
    Stream {
        chunked: bool,
        keep_alive: bool,
        first: Vec<FrameSpec>,
    },
    /// `defer(wait_ms)`: the answer comes from elsewhere (`Op::Resolve`), or, past the wait, is
    /// a 503.
    Defer {
        wait_ms: u16,
    },
}

#[derive(Arbitrary, Debug, Clone)]
enum FrameSpec {
    Event {
        comment: Option<String>,
        event: Option<String>,
        id: Option<String>,
        data: Option<String>,
    },
    Comment(String),
    Block(Vec<u8>),
    /// An event whose data is `n % 8192` bytes.
    Sized(u16),
    /// A comment block whose bytes on the wire are `room + delta` (clamped to at least 1), where
    /// `room` is what the queue bound leaves: frames at the edge of the bound.
    Fit(i8),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum WriterSpec {
    /// Takes at most this many bytes, then would block.
    Budget(u16),
    /// Takes everything.
    Unlimited,
    /// Interrupted once, then takes at most this many bytes.
    Interrupted(u16),
    /// Takes at most this many bytes, then fails (connection reset).
    FailAfter(u16),
    /// Returns `Ok(0)`: the peer is gone.
    Zero,
}

const CANNED: &[&[u8]] = &[
    b"GET /sse HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET / HTTP/1.0\r\n\r\n",
    b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
    b"GET /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET / HTTP/2.0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"GET /sse HTTP/1.1\r\nHost: h\r\nLast-Event-ID: 3\r\n\r\n",
    b"GET /sse HTTP/1.1\r\nHo",
    b"POST /p HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
    b"body",
    // The HTTP/2 preface, whole and in halves: only as a connection's first bytes is it HTTP/2.
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    b"PRI * HTTP/2.0\r\n",
    b"\r\nSM\r\n\r\n",
    // Not HTTP/1 at all (h2spec's invalid preface): HTTP/2's to refuse.
    b"INVALID CONNECTION PREFACE\r\n\r\n",
];

/// The model's reading of a first line that cannot be HTTP/1 (see `Input::Http2`): three
/// non-empty words, the third not `HTTP/`-something (nor, before the line ends, able to become it).
fn not_http1(input: &[u8]) -> bool {
    let end = input.iter().position(|&b| b == b'\n');
    let mut line = &input[..end.unwrap_or(input.len())];
    if end.is_some() && line.last() == Some(&b'\r') {
        line = &line[..line.len() - 1];
    }
    let words: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    if words.len() != 3 || words.iter().any(|w| w.is_empty()) {
        return false;
    }
    let version = words[2].to_ascii_uppercase();
    if end.is_some() {
        !version.starts_with(b"HTTP/")
    } else {
        !b"HTTP/".starts_with(&version[..version.len().min(5)])
    }
}

/// What `continue_body` queues.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// A socket: takes at most `budget` bytes, then would block or fails.
struct Sink {
    out: Vec<u8>,
    budget: usize,
    interrupt: bool,
    fail: bool,
    zero: bool,
    /// The socket reported a failure (an error or `Ok(0)` for a non-empty write).
    failed: bool,
    blocked: bool,
    calls: usize,
}

impl Sink {
    fn new(spec: WriterSpec) -> Sink {
        let mut s = Sink {
            out: Vec::new(),
            budget: usize::MAX,
            interrupt: false,
            fail: false,
            zero: false,
            failed: false,
            blocked: false,
            calls: 0,
        };
        match spec {
            WriterSpec::Budget(k) => s.budget = usize::from(k),
            WriterSpec::Unlimited => {}
            WriterSpec::Interrupted(k) => {
                s.interrupt = true;
                s.budget = usize::from(k);
            }
            WriterSpec::FailAfter(k) => {
                s.budget = usize::from(k);
                s.fail = true;
            }
            WriterSpec::Zero => s.zero = true,
        }
        s
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.calls += 1;
        assert!(self.calls < 100_000, "write_to keeps writing");
        if self.interrupt {
            self.interrupt = false;
            return Err(io::ErrorKind::Interrupted.into());
        }
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            // What writev(2) on a socket answers for nothing to write.
            return Ok(0);
        }
        if self.zero {
            self.failed = true;
            return Ok(0);
        }
        if self.budget == 0 {
            if self.fail {
                self.failed = true;
                return Err(io::ErrorKind::ConnectionReset.into());
            }
            self.blocked = true;
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let mut n = 0;
        for b in bufs {
            let take = b.len().min(self.budget - n);
            self.out.extend_from_slice(&b[..take]);
            n += take;
        }
        self.budget -= n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The bytes `Frame::block_bytes` puts on the wire for a block of `n` bytes.
fn wire_len(n: usize, chunked: bool) -> usize {
    if chunked && n > 0 { format!("{n:x}").len() + 2 + n + 2 } else { n }
}

/// A comment block of `n >= 1` bytes.
fn comment_block(n: usize) -> Vec<u8> {
    match n {
        0 | 1 => b"\n".to_vec(),
        2 => b"\n\n".to_vec(),
        _ => [&b":"[..], &vec![b'x'; n - 3], b"\n\n"].concat(),
    }
}

/// Clamps `room + delta` to at least 1.
fn fit(room: usize, delta: i8) -> usize {
    (room as i64 + i64::from(delta)).max(1) as usize
}

/// Builds the frame `spec` describes; `room` is what the queue bound leaves, `chunked` the
/// stream's framing (for `Fit`).
fn build_frame(spec: &FrameSpec, room: usize, chunked: bool) -> Option<Frame> {
    let frame = match spec {
        FrameSpec::Event { comment, event, id, data } => Frame::event(&Event {
            comment: comment.clone(),
            event: event.clone(),
            id: id.clone(),
            retry: None,
            data: data.clone(),
        })
        .ok()?,
        FrameSpec::Comment(text) => Frame::comment(text),
        FrameSpec::Block(bytes) => {
            let bytes = &bytes[..bytes.len().min(8192)];
            if bytes.is_empty() && !ALLOW_EMPTY_BLOCKS {
                return None;
            }
            Frame::block_bytes(bytes)
        }
        FrameSpec::Sized(n) => Frame::event(&Event::new("x".repeat(usize::from(*n) % 8192))).ok()?,
        FrameSpec::Fit(delta) => {
            let want = fit(room, *delta).min(16 << 10);
            // The largest block whose wire length is at most `want` (the hex length can skip).
            let n = (1..=want).rev().find(|&n| wire_len(n, chunked) <= want).unwrap_or(1);
            Frame::block_bytes(&comment_block(n))
        }
    };
    // The chunked view is the block inside one HTTP/1.1 chunk; an empty block is no chunk at
    // all (a zero-size chunk would end the body).
    let block = frame.block();
    let mut chunk = Vec::new();
    if !block.is_empty() {
        chunk = format!("{:x}\r\n", block.len()).into_bytes();
        chunk.extend_from_slice(block);
        chunk.extend_from_slice(b"\r\n");
    }
    assert_eq!(frame.chunked(), chunk.as_slice(), "chunk framing of {spec:?}");
    Some(frame)
}

fn view(frame: &Frame, chunked: bool) -> &[u8] {
    if chunked { frame.chunked() } else { frame.block() }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

struct Model {
    settings: Settings,
    limits: Limits,
    now: Instant,
    phase: Phase,
    /// Received request bytes not yet taken by a request.
    input: Vec<u8>,
    /// Everything queued so far, in order: what was written, then what is queued.
    expected: Vec<u8>,
    /// Ranges of `expected` known only by their length (the rest of a 408 or 503 whose text the
    /// library chooses).
    wild: Vec<(usize, usize)>,
    /// Everything the writers took.
    written: Vec<u8>,
    deadline: Option<Instant>,
    answered: bool,
    chunked: bool,
    /// Where a chunked stream's body starts in `expected`, and where its last chunk is.
    stream_body: Option<usize>,
    last_chunk_at: Option<usize>,
    /// Where 408 and 503 answers are in `expected`, with their status.
    timeouts: Vec<(usize, usize, u16)>,
    // What the queue bound allows (see `check_bounds`).
    largest_answer: usize,
    largest_unit: usize,
    stream_level: usize,
    closing_level: usize,
    tail: usize,
    /// The pending request's `Expect: 100-continue` was reported.
    expect_reported: bool,
    /// The input was found to be HTTP/1 (so the preface no longer means HTTP/2).
    began: bool,
    /// The last write that made progress, or when the queue went from empty to not.
    progress: Instant,
    /// When something was last queued.
    last_queued: Instant,
    /// An answer that closes: linger once written.
    linger: bool,
    /// A FIN is due, not yet asked for.
    fin: bool,
    /// Read dry since the last readiness.
    drained: bool,
}

impl Model {
    fn max(&self) -> usize {
        self.settings.max_queue_bytes
    }

    fn pending(&self) -> usize {
        self.expected.len() - self.written.len()
    }

    fn queue(&mut self, bytes: &[u8]) {
        if self.pending() == 0 {
            self.progress = self.now;
        }
        self.last_queued = self.now;
        self.expected.extend_from_slice(bytes);
    }

    fn drop_queue(&mut self) {
        let w = self.written.len();
        self.expected.truncate(w);
        for r in &mut self.wild {
            r.1 = r.1.min(w);
        }
        self.wild.retain(|r| r.0 < r.1);
    }

    fn close(&mut self) {
        self.input.clear();
        self.deadline = None;
        let before = self.phase;
        self.phase = if self.pending() > 0 { Phase::Closing } else { Phase::Closed };
        if self.phase == Phase::Closing && before != Phase::Closing {
            self.closing_level = self.pending();
        }
    }

    fn abort(&mut self) {
        self.drop_queue();
        self.input.clear();
        self.deadline = None;
        self.linger = false;
        self.phase = Phase::Closed;
    }

    /// After a write: a closing connection whose queue is written lingers (an answer that
    /// closes) or is closed.
    fn settle_closing(&mut self) {
        if self.phase == Phase::Closing && self.pending() == 0 {
            if self.linger {
                self.phase = Phase::Lingering;
                self.deadline = Some(self.now + self.settings.linger);
                self.fin = true;
            } else {
                self.phase = Phase::Closed;
            }
        }
    }

    fn peer_closed(&mut self) {
        self.linger = false;
        match self.phase {
            Phase::Head => self.close(),
            Phase::Streaming | Phase::Waiting | Phase::Lingering => self.abort(),
            Phase::Closing | Phase::Closed => {}
        }
    }

    fn wants_read(&self) -> bool {
        match self.phase {
            Phase::Head => self.pending() < self.max(),
            Phase::Streaming | Phase::Closing | Phase::Lingering => true,
            Phase::Waiting | Phase::Closed => false,
        }
    }

    fn finish_stream(&mut self) {
        if self.phase != Phase::Streaming {
            return;
        }
        if self.chunked {
            self.last_chunk_at = Some(self.expected.len());
            self.queue(LAST_CHUNK);
            self.tail = self.tail.max(LAST_CHUNK.len());
            // The last chunk comes on top of the stream's level.
            self.closing_level = self.pending();
            self.input.clear();
            self.deadline = None;
            self.phase = Phase::Closing;
        } else {
            self.close();
        }
    }

    /// The earliest deadline, as the connection must report it.
    fn poll_timeout(&self) -> Option<Instant> {
        let stall = (self.pending() > 0).then(|| self.progress + self.settings.send_timeout);
        let own = match self.phase {
            Phase::Head | Phase::Waiting | Phase::Lingering => self.deadline,
            Phase::Streaming => match (self.settings.keep_alive.map(|k| self.last_queued + k), self.deadline)
            {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            Phase::Closing | Phase::Closed => None,
        };
        match (stall, own) {
            _ if self.phase == Phase::Closed => None,
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Bytes read: request input in `Head`, and in `Waiting` too (kept for the request after the
    /// deferred one, with the deferred deadline still the one that counts); dropped otherwise.
    fn received(&mut self, bytes: &[u8]) {
        if !matches!(self.phase, Phase::Head | Phase::Waiting) || bytes.is_empty() {
            return;
        }
        if self.input.is_empty() && self.phase == Phase::Head {
            // A new request head starts: the header timeout applies, not the idle one.
            self.deadline = Some(self.now + self.settings.header_timeout);
        }
        self.input.extend_from_slice(bytes);
    }

    /// Holds the request just taken; anywhere but `Head`, nothing happens.
    fn defer(&mut self, wait: Duration) {
        if self.phase == Phase::Head {
            self.phase = Phase::Waiting;
            self.deadline = Some(self.now + wait);
        }
    }

    /// Queues the answer `time_out` chose (`status`, `len` bytes whose text the library
    /// chooses: only the status line is known) and closes.
    fn timeout_answer(&mut self, status: u16, len: usize) {
        let line = format!("HTTP/1.1 {status} ");
        assert!(len > line.len(), "{status} of {len} bytes");
        let start = self.expected.len();
        self.queue(line.as_bytes());
        self.queue(&vec![0; len - line.len()]);
        self.wild.push((start + line.len(), start + len));
        self.timeouts.push((start, start + len, status));
        self.tail = self.tail.max(len);
        self.answered = true;
        self.input.clear();
        self.deadline = None;
        self.linger = true;
        self.phase = Phase::Closing;
        self.closing_level = self.pending();
    }

    /// Queues an answer to a request (or a refusal) and settles the connection; a deferred
    /// request is answered from `Head`, so a keep-alive answer lets the next one be taken.
    fn answer(&mut self, bytes: &[u8], keep_alive: bool) {
        if !matches!(self.phase, Phase::Head | Phase::Waiting) {
            return;
        }
        self.phase = Phase::Head;
        self.queue(bytes);
        self.largest_answer = self.largest_answer.max(bytes.len());
        self.largest_unit = self.largest_unit.max(bytes.len());
        self.answered = true;
        if keep_alive {
            let wait =
                if self.input.is_empty() { self.settings.idle_timeout } else { self.settings.header_timeout };
            self.deadline = Some(self.now + wait);
        } else {
            self.linger = true;
            self.close();
        }
    }

    /// What `poll_request` must return; takes the request from the model's input.
    fn poll(&mut self) -> Input {
        if self.phase != Phase::Head || self.input.is_empty() || self.pending() >= self.max() {
            return Input::NeedMore;
        }
        if !self.began {
            if self.input.starts_with(PREFACE) || not_http1(&self.input) {
                return Input::Http2;
            }
            if PREFACE.starts_with(&self.input) {
                return Input::NeedMore;
            }
        }
        let parsed = parse_head(&self.input, &self.limits);
        self.began |= !matches!(parsed, Ok(None));
        match parsed {
            Ok(None) => Input::NeedMore,
            Ok(Some(head)) => {
                let total = head.head_len + head.body_len;
                if self.input.len() < total {
                    if head.body_len > 0 && !self.expect_reported && head.request.expects_continue() {
                        self.expect_reported = true;
                        return Input::Expect(head.request);
                    }
                    return Input::NeedMore;
                }
                self.expect_reported = false;
                let mut request = head.request;
                request.body = self.input[head.head_len..total].to_vec();
                self.input.drain(..total);
                Input::Request(request)
            }
            Err(response) => {
                let mut bytes = Vec::new();
                response.write_to(&mut bytes, Framing::CLOSE);
                self.answer(&bytes, false);
                Input::Refused(response.status)
            }
        }
    }

    /// Compares bytes a writer took with what was queued.
    fn took(&mut self, bytes: &[u8]) {
        let start = self.written.len();
        assert!(
            start + bytes.len() <= self.expected.len(),
            "written {} bytes past the {} queued",
            start + bytes.len() - self.expected.len(),
            self.pending()
        );
        for (i, &b) in bytes.iter().enumerate() {
            let at = start + i;
            if self.wild.iter().any(|&(s, e)| s <= at && at < e) {
                continue;
            }
            if self.expected[at] != b {
                let from = at.saturating_sub(40);
                panic!(
                    "written byte {at} is {:?}, queued {:?}\nwritten  ...{:?}\nexpected ...{:?}",
                    b as char,
                    self.expected[at] as char,
                    String::from_utf8_lossy(&[&self.written[from.min(start)..], &bytes[..=i]].concat()),
                    String::from_utf8_lossy(&self.expected[from..=at]),
                );
            }
        }
        self.written.extend_from_slice(bytes);
    }

    /// The queue bound as the code guarantees it.
    ///
    /// * `Head`: a request (or refusal) is produced only while `queued < max`, and one answer is
    ///   queued for it, so `queued <= max - 1 + largest answer` (0 before any answer).
    /// * `Waiting`: the deferred request was taken while `queued < max`, and nothing is queued
    ///   until it is answered, so `queued < max`.
    /// * `Streaming`: `start_stream` queues the head and first frames unbounded on top of the
    ///   pipelined answers (`< max`); after it, a push is accepted only onto an empty queue or
    ///   when the result stays `<= max`. So `queued <= max(max, level after start_stream,
    ///   largest frame pushed)`.
    /// * `Closing`: nothing more is queued once closing, except what took it there: the last
    ///   chunk (`finish_stream`) or the 408 (`time_out`, which is queued whatever the queue
    ///   holds). So the level never grows, and every level is at most
    ///   `max + largest single unit (answer, stream start, frame) + tail (408 or last chunk)`.
    fn check_bounds(&self, queued: usize) {
        let max = self.max();
        let headline = max + self.largest_unit + self.tail;
        assert!(
            queued <= headline,
            "queued {queued} > max {max} + unit {} + tail {}",
            self.largest_unit,
            self.tail
        );
        match self.phase {
            Phase::Head => {
                let bound = if self.largest_answer == 0 { 0 } else { max - 1 + self.largest_answer };
                assert!(
                    queued <= bound,
                    "Head: queued {queued} > {max} - 1 + answer {}",
                    self.largest_answer
                );
            }
            Phase::Waiting => assert!(queued < max, "Waiting: queued {queued} >= {max}"),
            Phase::Streaming => {
                let bound = max.max(self.stream_level);
                assert!(queued <= bound, "Streaming: queued {queued} > {bound}");
            }
            Phase::Closing => {
                assert!(
                    queued <= self.closing_level,
                    "Closing: queued grew to {queued} > {}",
                    self.closing_level
                );
            }
            Phase::Closed | Phase::Lingering => {
                assert_eq!(queued, 0, "{:?} with {queued} bytes queued", self.phase)
            }
        }
    }

    fn check(&self, conn: &Conn) {
        assert_eq!(conn.phase(), self.phase, "phase");
        let queued = conn.queued_bytes();
        assert_eq!(queued, self.pending(), "queued_bytes vs the bytes queued and not written");
        assert_eq!(conn.wants_write(), queued > 0 && self.phase != Phase::Closed, "wants_write");
        let wants_read = self.wants_read();
        assert_eq!(conn.wants_read(), wants_read, "wants_read with {queued} queued");
        assert_eq!(conn.resume_read(), !self.drained && wants_read, "resume_read");
        if self.phase == Phase::Head && queued >= self.max() {
            assert!(!conn.wants_read(), "reads while the queue is full");
        }
        match self.phase {
            Phase::Closed => assert!(queued == 0 && !conn.wants_write(), "Closed with something queued"),
            Phase::Closing => assert!(queued > 0 && conn.wants_write(), "Closing with nothing to write"),
            _ => {}
        }
        assert_eq!(conn.poll_timeout(), self.poll_timeout(), "poll_timeout in {:?}", self.phase);
        self.check_bounds(queued);
    }

    /// Checks a chunked stream body: chunk framing, and a zero-size chunk only where
    /// `finish_stream` put the last one.
    fn check_chunks(&self) {
        let Some(start) = self.stream_body else { return };
        let w = &self.written;
        let mut i = start;
        while i < w.len() {
            let Some(nl) = find(&w[i..], b"\r\n") else { break };
            let size_line = std::str::from_utf8(&w[i..i + nl]).expect("chunk size line is ASCII");
            let size = usize::from_str_radix(size_line, 16).expect("chunk size is hex");
            if size == 0 {
                assert_eq!(Some(i), self.last_chunk_at, "a zero-size chunk ends the stream body at {i}");
                break;
            }
            i += nl + 2 + size;
            if i + 2 > w.len() {
                break;
            }
            assert_eq!(&w[i..i + 2], b"\r\n", "chunk data ends with CRLF");
            i += 2;
        }
    }
}

fn run_write(conn: &mut Conn, model: &mut Model, spec: WriterSpec, run: &Run) {
    let before = model.phase;
    let queued_before = model.pending();
    let mut sink = Sink::new(spec);
    let result = conn.write_to_in(&mut sink, model.now, Some(run));
    if before == Phase::Closed {
        assert!(sink.out.is_empty(), "{} bytes written after Closed", sink.out.len());
    }
    model.took(&sink.out);
    if !sink.out.is_empty() {
        model.progress = model.now;
    }
    match result {
        Ok(n) => {
            assert_eq!(n, sink.out.len(), "write_to's count vs the bytes written");
            assert!(!sink.failed, "write_to hid a failed write");
            assert!(
                model.pending() == 0 || sink.blocked,
                "write_to returned with {} queued and the socket not blocked",
                model.pending()
            );
            model.settle_closing();
        }
        Err(e) => {
            assert!(
                sink.failed,
                "write_to failed ({e}) on a socket that did not fail ({} queued, {} written, phase {before:?})",
                queued_before,
                sink.out.len()
            );
            model.abort();
        }
    }
    assert_eq!(conn.poll_fin(), std::mem::take(&mut model.fin), "poll_fin after a write");
}

/// `handle_timeout(now)`, and what the model says it must have done.
fn handle_timeout(conn: &mut Conn, model: &mut Model) {
    let now = model.now;
    let before = conn.queued_bytes();
    let got = conn.handle_timeout(now);
    let due = |d: Option<Instant>| d.is_some_and(|d| now >= d);
    let stalled = model.pending() > 0 && now >= model.progress + model.settings.send_timeout;
    let expected = match model.phase {
        Phase::Closed => None,
        _ if stalled => {
            model.abort();
            Some(Timeout::Stalled)
        }
        Phase::Head if due(model.deadline) => {
            // The answer's length the model takes from the queue (its text is the library's).
            let len = conn.queued_bytes().saturating_sub(before);
            if !model.input.is_empty() || !model.answered {
                model.timeout_answer(408, len);
                Some(Timeout::RequestTimeout)
            } else {
                model.close();
                Some(Timeout::Idle)
            }
        }
        Phase::Waiting if due(model.deadline) => {
            let len = conn.queued_bytes().saturating_sub(before);
            // The backplane did not answer in time: a 503, then close.
            model.phase = Phase::Head;
            model.timeout_answer(503, len);
            Some(Timeout::NoAnswer)
        }
        Phase::Streaming if due(model.deadline) => {
            model.finish_stream();
            Some(Timeout::Ended)
        }
        Phase::Streaming if due(model.settings.keep_alive.map(|k| model.last_queued + k)) => {
            let comment = Frame::comment("");
            let bytes = view(&comment, model.chunked).to_vec();
            let queued = model.pending();
            if queued > 0 && queued + bytes.len() > model.max() {
                model.abort();
                Some(Timeout::Stalled)
            } else {
                model.queue(&bytes);
                model.largest_unit = model.largest_unit.max(bytes.len());
                model.stream_level = model.stream_level.max(bytes.len());
                Some(Timeout::KeepAlive)
            }
        }
        Phase::Lingering if due(model.deadline) => {
            model.phase = Phase::Closed;
            Some(Timeout::Lingered)
        }
        _ => None,
    };
    assert_eq!(got, expected, "handle_timeout at {:?} in {:?}", now, model.phase);
    // Nothing more is due at the same instant (another call does nothing), unless a new
    // deadline was set at `now` itself (a zero wait).
    if conn.poll_timeout().is_some_and(|d| d > now) {
        assert_eq!(conn.handle_timeout(now), None, "a second call at the same instant");
    }
}

/// A 408 or 503 that `time_out` queued, as written: one whole response that closes (the 503
/// telling the client when to retry).
fn check_timeout_answer(answer: &[u8], status: u16) {
    let text = String::from_utf8_lossy(answer);
    let head_len =
        find(answer, b"\r\n\r\n").unwrap_or_else(|| panic!("{status}: no end of head: {text:?}")) + 4;
    let head = std::str::from_utf8(&answer[..head_len]).expect("an ASCII head");
    assert!(head.contains("\r\nConnection: close\r\n"), "{status} closes: {text:?}");
    let length = head
        .split("\r\n")
        .find_map(|h| h.strip_prefix("Content-Length: "))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or_else(|| panic!("{status}: no Content-Length: {text:?}"));
    assert_eq!(head_len + length, answer.len(), "{status}: Content-Length vs the body: {text:?}");
    if status == 503 {
        assert!(head.contains("\r\nRetry-After: 1\r\n"), "503 says when to retry: {text:?}");
    }
}

fn answer(conn: &mut Conn, model: &mut Model, answer: &Answer) {
    let now = model.now;
    match answer {
        Answer::Fallback { body, keep_alive, head_only } => {
            let response = Response::text(200, "x".repeat(usize::from(*body) % 4097));
            let framing = Framing { keep_alive: *keep_alive, head_only: *head_only };
            let mut bytes = Vec::new();
            response.write_to(&mut bytes, framing);
            conn.respond(&response, framing, now);
            model.answer(&bytes, *keep_alive);
        }
        Answer::Fit { delta, keep_alive } => {
            let want = fit(model.max().saturating_sub(model.pending()), *delta);
            let len = |body: usize| {
                let mut bytes = Vec::new();
                Response::text(200, "x".repeat(body))
                    .write_to(&mut bytes, Framing { keep_alive: *keep_alive, head_only: false });
                bytes.len()
            };
            let overhead = len(0);
            let mut body = want.saturating_sub(overhead);
            // The Content-Length digits grow with the body: step back until it fits.
            while body > 0 && len(body) > want {
                body -= 1;
            }
            let response = Response::text(200, "x".repeat(body));
            let framing = Framing { keep_alive: *keep_alive, head_only: false };
            let mut bytes = Vec::new();
            response.write_to(&mut bytes, framing);
            conn.respond(&response, framing, now);
            model.answer(&bytes, *keep_alive);
        }
        Answer::Refuse { status, keep_alive } => {
            let status = [400, 403, 404, 405, 500, 503][usize::from(*status) % 6];
            let response = Response::error(status, "refused");
            let framing = Framing { keep_alive: *keep_alive, head_only: false };
            let mut bytes = Vec::new();
            response.write_to(&mut bytes, framing);
            conn.respond(&response, framing, now);
            model.answer(&bytes, *keep_alive);
        }
        Answer::Stream { chunked, keep_alive, first } => {
            let mut head = Vec::new();
            write_stream_head(&mut head, *chunked, *keep_alive, &[]);
            let mut frames = Vec::new();
            let mut level = model.pending() + head.len();
            for spec in first.iter().take(8) {
                if let Some(f) = build_frame(spec, model.max().saturating_sub(level), *chunked) {
                    level += view(&f, *chunked).len();
                    frames.push(f);
                }
            }
            // From `Waiting` as from `Head`: the deferred request's answer is a stream.
            conn.start_stream(head.clone(), *chunked, &frames, now);
            if !matches!(model.phase, Phase::Head | Phase::Waiting) {
                return;
            }
            let level_before = model.pending();
            model.queue(&head);
            model.chunked = *chunked;
            if *chunked {
                model.stream_body = Some(model.expected.len());
            }
            for f in &frames {
                let bytes = view(f, *chunked).to_vec();
                model.queue(&bytes);
            }
            model.largest_unit = model.largest_unit.max(model.pending() - level_before);
            model.stream_level = model.pending();
            model.phase = Phase::Streaming;
            model.input.clear();
            model.deadline = None;
            model.last_queued = now;
        }
        Answer::Defer { wait_ms } => {
            let wait = Duration::from_millis(u64::from(*wait_ms));
            conn.defer(wait, now);
            model.defer(wait);
        }
    }
}

fuzz_target!(|plan: Plan| {
    let ms = |n: u8| Duration::from_millis(1 + 4 * u64::from(n));
    let settings = Settings {
        max_queue_bytes: 64 + usize::from(plan.max_queue) % 8129,
        header_timeout: ms(plan.header_timeout_ms),
        idle_timeout: ms(plan.idle_timeout_ms),
        keep_alive: (plan.keep_alive_ms > 0).then(|| ms(plan.keep_alive_ms)),
        send_timeout: ms(plan.send_timeout_ms),
        linger: ms(plan.linger_ms),
    };
    let limits = Limits {
        max_head_bytes: 32 + usize::from(plan.max_head) % 1024,
        max_headers: usize::from(plan.max_headers % 16),
        max_body_bytes: usize::from(plan.max_body) % 2048,
    };
    let t0 = Instant::now();
    let mut conn = Conn::new(settings, t0);
    // The worker's recent frames: two pushed frames of three are listed (by their length, so
    // that the input format stays the seeds'), and the writes go through it.
    let mut run = Run::new();
    let mut model = Model {
        settings,
        limits,
        now: t0,
        phase: Phase::Head,
        input: Vec::new(),
        expected: Vec::new(),
        wild: Vec::new(),
        written: Vec::new(),
        deadline: Some(t0 + settings.header_timeout),
        answered: false,
        chunked: false,
        stream_body: None,
        last_chunk_at: None,
        timeouts: Vec::new(),
        largest_answer: 0,
        largest_unit: 0,
        stream_level: 0,
        closing_level: 0,
        tail: 0,
        expect_reported: false,
        began: false,
        progress: t0,
        last_queued: t0,
        linger: false,
        fin: false,
        drained: false,
    };
    model.check(&conn);

    for op in &plan.ops {
        match op {
            Op::Received(bytes) => {
                conn.received(bytes, model.now);
                model.received(bytes);
            }
            Op::Requests { which, count } => {
                let bytes = CANNED[usize::from(*which) % CANNED.len()].repeat(1 + usize::from(count % 4));
                conn.received(&bytes, model.now);
                model.received(&bytes);
            }
            Op::PollRequests(answers) => {
                let default = Answer::Fallback { body: 9, keep_alive: true, head_only: false };
                let mut i = 0;
                loop {
                    let queued = conn.queued_bytes();
                    let predicted = model.poll();
                    let got = conn.poll_request(&limits, model.now);
                    assert_eq!(got, predicted, "poll_request");
                    match got {
                        // Also what a deferred request leaves: `Waiting` takes no more.
                        Input::NeedMore => break,
                        // The HTTP/2 side takes the input from here: the model is done.
                        Input::Http2 => {
                            assert_eq!(conn.take_input(), model.input, "the input handed over");
                            return;
                        }
                        Input::Refused(_) => {
                            assert!(queued < model.max(), "a refusal queued with {queued} queued");
                            break;
                        }
                        // A refusal answers at once and closes; anything else lets the body come.
                        Input::Expect(_) => {
                            assert!(queued < model.max(), "an expectation reported with {queued} queued");
                            let a = if answers.is_empty() { &default } else { &answers[i % answers.len()] };
                            if let Answer::Refuse { status, .. } = a {
                                let refusal = Answer::Refuse { status: *status, keep_alive: false };
                                answer(&mut conn, &mut model, &refusal);
                            } else {
                                conn.continue_body(model.now);
                                model.queue(CONTINUE);
                                model.largest_answer = model.largest_answer.max(CONTINUE.len());
                                model.largest_unit = model.largest_unit.max(CONTINUE.len());
                            }
                            i += 1;
                        }
                        Input::Request(_) => {
                            assert!(queued < model.max(), "a request taken with {queued} queued");
                            let a = if answers.is_empty() { &default } else { &answers[i % answers.len()] };
                            answer(&mut conn, &mut model, a);
                            i += 1;
                        }
                    }
                    model.check(&conn);
                }
            }
            Op::Resolve(a) => match (conn.phase(), a) {
                (Phase::Waiting, _) => answer(&mut conn, &mut model, a),
                // No request is taken and unanswered: a stray defer must do nothing.
                (
                    Phase::Streaming | Phase::Closing | Phase::Lingering | Phase::Closed,
                    Answer::Defer { .. },
                ) => answer(&mut conn, &mut model, a),
                _ => {}
            },
            Op::Push(spec) => {
                let room = model.max().saturating_sub(model.pending());
                let Some(frame) = build_frame(spec, room, model.chunked) else { continue };
                let bytes = view(&frame, model.chunked).to_vec();
                if frame.chunked().len() % 3 != 0 {
                    run.push(&frame);
                }
                if model.phase == Phase::Streaming {
                    let queued = model.pending();
                    let overflow = queued > 0 && queued + bytes.len() > model.max();
                    assert_eq!(conn.would_overflow(&frame), overflow, "would_overflow");
                    match conn.push(frame, model.now) {
                        Ok(()) => {
                            assert!(!overflow, "a push past the bound was accepted");
                            model.queue(&bytes);
                            model.largest_unit = model.largest_unit.max(bytes.len());
                            model.stream_level = model.stream_level.max(bytes.len());
                        }
                        Err(e) => {
                            assert!(overflow, "a push within the bound was refused");
                            assert_eq!((e.queued, e.limit), (queued, model.max()), "Overflow fields");
                            model.abort();
                        }
                    }
                } else {
                    assert_eq!(conn.push(frame, model.now), Ok(()), "a push outside a stream is ignored");
                }
            }
            Op::FinishStream => {
                conn.finish_stream(model.now);
                model.finish_stream();
            }
            Op::EndStreamAt(ms) => {
                let at = model.now + Duration::from_millis(u64::from(*ms));
                conn.end_stream_at(at);
                if model.phase == Phase::Streaming {
                    model.deadline = Some(at);
                }
            }
            Op::Close => {
                conn.close();
                model.close();
            }
            Op::Abort => {
                conn.abort();
                model.abort();
            }
            Op::PeerClosed => {
                conn.peer_closed();
                model.peer_closed();
            }
            Op::Shutdown => {
                conn.shutdown(model.now);
                model.linger = false;
                match model.phase {
                    Phase::Streaming => model.finish_stream(),
                    Phase::Head | Phase::Waiting => model.close(),
                    Phase::Lingering => model.abort(),
                    Phase::Closing | Phase::Closed => {}
                }
            }
            Op::Readable => {
                conn.readable();
                model.drained = false;
            }
            Op::ReadDry => {
                conn.read_would_block();
                model.drained = true;
            }
            Op::Write(spec) => run_write(&mut conn, &mut model, *spec, &run),
            Op::Tick(ms) => {
                model.now += Duration::from_millis(u64::from(*ms));
                handle_timeout(&mut conn, &mut model);
            }
            Op::ToDeadline => {
                if let Some(due) = model.poll_timeout() {
                    model.now = model.now.max(due);
                }
                handle_timeout(&mut conn, &mut model);
            }
        }
        model.check(&conn);
    }

    // Drain: whatever is queued goes out; a closing connection then is closed.
    run_write(&mut conn, &mut model, WriterSpec::Unlimited, &run);
    model.check(&conn);
    assert_eq!(model.pending(), 0, "an unlimited socket took everything");
    assert_eq!(model.written.len(), model.expected.len());
    assert_ne!(conn.phase(), Phase::Closing, "closing with everything written");
    if conn.phase() == Phase::Lingering {
        // The linger ends at its deadline, whatever else happens.
        model.now = model.now.max(conn.poll_timeout().expect("a lingering deadline"));
        assert_eq!(conn.handle_timeout(model.now), Some(Timeout::Lingered));
    }
    for &(start, end, status) in &model.timeouts {
        if end <= model.written.len() {
            check_timeout_answer(&model.written[start..end], status);
        }
    }
    model.check_chunks();
});
