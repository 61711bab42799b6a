//! The pure HTTP/2 connection layer (`ssehub::h2::conn::Connection`) driven by an arbitrary
//! sequence of operations, with a client's view of everything it sent kept beside it.
//!
//! The configuration is small: 3 concurrent streams, a queue bound of 64..=8192 bytes, a header
//! list of 64..=2111 bytes, few resets and control frames per second, every timer a few
//! milliseconds on a virtual clock. The operations are what a client and the driver do:
//!
//! * received bytes: the preface with a `SETTINGS` frame, well-formed frames built with the
//!   codec's encoders (`GET`s and `POST`s HPACK-encoded by one client encoder, split into
//!   `CONTINUATION`s or not, `DATA` with or without padding, `WINDOW_UPDATE`, `SETTINGS` and its
//!   `ACK`, `PING`, `RST_STREAM`, `PRIORITY`, `GOAWAY`, a stray `CONTINUATION`), and raw
//!   arbitrary bytes;
//! * `poll_event` until `None`, answering each `Event::Request` as the input says: `respond`
//!   (a status, a body, `HEAD`-style or not), `start_stream` with a few first frames, `defer`,
//!   or nothing;
//! * `push` of shared frames, `push_replay`, `finish_stream`, `reset_stream` on the streams
//!   handed out (or on any id), `shutdown`, `abort`, `peer_closed`, `readable`,
//!   `read_would_block`;
//! * `write_to` a socket that takes at most `n` bytes and then would block, or fails;
//! * clock steps followed by `handle_timeout(now)`, by some milliseconds or exactly to
//!   `poll_timeout()`.
//!
//! The bytes the client sent are parsed back as the connection parses them (the preface, then
//! frames at our maximum frame size, stepping over stream errors, stopping at a connection
//! error), which gives the client's view: its `SETTINGS` (applied when their `ACK` is read, in
//! order), the `WINDOW_UPDATE`s it sent, the `PING`s, the streams it opened. After every
//! operation the target asserts:
//!
//! * never a panic;
//! * the bytes written are our `SETTINGS` (the configured values) and then a sequence of whole
//!   frames that `frame::decode` accepts (a partial frame may end it); header blocks are
//!   contiguous (`CONTINUATION`s of the same stream) and decode with an HPACK decoder; no
//!   `PUSH_PROMISE`, `PRIORITY`, `CONTINUATION` out of a block, or unknown frame; no payload past
//!   the client's acknowledged `SETTINGS_MAX_FRAME_SIZE`; every `SETTINGS` `ACK` answers a
//!   `SETTINGS` the client sent and every `PING` `ACK` a `PING`;
//! * no `DATA` beyond the client's windows: the connection's (65,535 plus its `WINDOW_UPDATE`s)
//!   and each stream's (the acknowledged `SETTINGS_INITIAL_WINDOW_SIZE` plus its
//!   `WINDOW_UPDATE`s);
//! * `HEADERS` and `DATA` only on streams the client opened, `HEADERS` before `DATA`, and no
//!   frame but `RST_STREAM` on a stream after our `END_STREAM` or `RST_STREAM` on it (an idle
//!   stream we reset included: seed `reset_idle_stream_then_opened`, a bug this target found);
//! * `GOAWAY`'s last stream id never goes up (seed `goaway_last_id_rises`, the other bug it
//!   found), no `HEADERS` above the lowest one sent, and nothing follows a `GOAWAY` with an error;
//! * nothing is written once `phase()` is `Closed`;
//! * after `handle_timeout(now)`, `poll_timeout()` is not due (after `now`), or handling it
//!   again makes progress (a `Timeouts` field, an event, a stream or the phase);
//! * `open_streams() <= max_concurrent_streams`;
//! * the events: requests on odd, increasing ids the client opened, each stream's `Closed` once
//!   and only for a stream handed out; `respond`/`start_stream` refuse a closed stream;
//! * memory: the stream queues (the pool's count) hold at most what the bound lets each open
//!   stream hold (`max_queue_bytes` or one frame) plus what was queued whatever the bound
//!   (answers, first frames, replays), and nothing once no stream is open.
#![no_main]

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{self, IoSlice, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use ssehub::h2::conn::{Config, Connection, Event, Phase, Timeouts};
use ssehub::h2::frame::{self, Frame as WireFrame, FrameError, HEAD_LEN, Setting};
use ssehub::h2::{
    DEFAULT_INITIAL_WINDOW_SIZE, DEFAULT_MAX_FRAME_SIZE, ErrorCode, MAX_FRAME_SIZE_LIMIT, PREFACE, hpack,
};
use ssehub::http::request::Limits;
use ssehub::http::response::Response;
use ssehub::proto::conn::Settings;
use ssehub::proto::{Frame, QueuePool};

const MAX_STREAMS: u32 = 3;

#[derive(Arbitrary, Debug)]
struct Plan {
    max_queue: u16,
    header_list: u16,
    max_resets: u8,
    max_control: u8,
    max_body: u16,
    /// header, idle, keep-alive (0: none), send, linger, in milliseconds.
    timers: [u8; 5],
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum ClientSetting {
    HeaderTableSize(u16),
    InitialWindowSize(u32),
    MaxFrameSize(u32),
    MaxConcurrentStreams(u8),
    EnablePush(bool),
    Unknown(u16, u32),
}

impl ClientSetting {
    fn setting(&self) -> Setting {
        match *self {
            ClientSetting::HeaderTableSize(v) => Setting::HeaderTableSize(u32::from(v)),
            // Small windows mostly, and now and then the largest.
            ClientSetting::InitialWindowSize(v) => Setting::InitialWindowSize(match v % 8 {
                0 => ssehub::h2::MAX_WINDOW_SIZE - (v >> 24),
                1 => DEFAULT_INITIAL_WINDOW_SIZE,
                _ => (v >> 3) % 4096,
            }),
            ClientSetting::MaxFrameSize(v) => Setting::MaxFrameSize(
                DEFAULT_MAX_FRAME_SIZE + v % (MAX_FRAME_SIZE_LIMIT - DEFAULT_MAX_FRAME_SIZE + 1),
            ),
            ClientSetting::MaxConcurrentStreams(v) => Setting::MaxConcurrentStreams(u32::from(v)),
            ClientSetting::EnablePush(v) => Setting::EnablePush(v),
            ClientSetting::Unknown(id, value) => Setting::Unknown { id: id | 0x100, value },
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Answer {
    Respond { status: u8, body: u16, head_only: bool, header: bool },
    Stream { first: u8, len: u16 },
    Defer { ms: u8 },
    Nothing,
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// The preface and a `SETTINGS` frame.
    Preface(Vec<ClientSetting>),
    /// A `GET` (ends the stream) on a new or chosen stream; `split` > 0 cuts the block into
    /// `CONTINUATION`s of that size; `junk` adds a field (a long one when odd).
    Get {
        stream: u8,
        path: u8,
        split: u8,
        junk: u16,
        end: bool,
    },
    /// A `POST` head (the body comes in `Data`), with a `content-length` or not.
    Post {
        stream: u8,
        content_length: Option<u16>,
    },
    Data {
        stream: u8,
        len: u16,
        end: bool,
        pad: Option<u8>,
    },
    WindowUpdate {
        stream: u8,
        inc: u32,
    },
    Settings(Vec<ClientSetting>),
    SettingsAck,
    Ping {
        data: u8,
        ack: bool,
    },
    Rst {
        stream: u8,
        code: u8,
    },
    Priority {
        stream: u8,
        on: u8,
    },
    GoAway {
        last: u8,
        code: u8,
    },
    Continuation {
        stream: u8,
        end: bool,
        len: u8,
    },
    Raw(Vec<u8>),
    Poll(Vec<Answer>),
    Push {
        stream: u8,
        len: u16,
    },
    PushReplay {
        stream: u8,
        n: u8,
        len: u16,
    },
    Finish {
        stream: u8,
    },
    Reset {
        stream: u8,
        code: u8,
    },
    Resolve {
        stream: u8,
        answer: Answer,
    },
    Shutdown,
    Abort,
    PeerClosed,
    Write {
        cap: u16,
        fail: bool,
    },
    Readable,
    ReadWouldBlock,
    Step {
        ms: u8,
    },
    ToDeadline,
}

/// A socket that takes at most `left` bytes, then would block (or fails).
struct Sock<'a> {
    out: &'a mut Vec<u8>,
    left: usize,
    fail: bool,
    calls: usize,
}

impl Write for Sock<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.calls += 1;
        assert!(self.calls < 100_000, "write_to keeps writing");
        if self.left == 0 {
            return Err(
                if self.fail { io::ErrorKind::ConnectionReset } else { io::ErrorKind::WouldBlock }.into()
            );
        }
        let mut n = 0;
        for b in bufs {
            let take = b.len().min(self.left - n);
            self.out.extend_from_slice(&b[..take]);
            n += take;
            if n == self.left {
                break;
            }
        }
        self.left -= n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What the client sent, parsed back as the connection parses it: the client's view.
struct Sent {
    buf: Vec<u8>,
    at: usize,
    preface: bool,
    settings_seen: bool,
    /// A connection error the connection must stop at: nothing after it is read.
    dead: bool,
    /// `SETTINGS` sent and not yet acknowledged, in order.
    pending: VecDeque<Vec<Setting>>,
    pings: Vec<[u8; 8]>,
    conn_incs: i64,
    stream_incs: HashMap<u32, i64>,
    opened: HashSet<u32>,
    max_table: usize,
}

impl Sent {
    fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        while !self.dead {
            let rest = &self.buf[self.at..];
            if !self.preface {
                let n = rest.len().min(PREFACE.len());
                if rest[..n] != PREFACE[..n] {
                    self.dead = true;
                } else if n == PREFACE.len() {
                    self.at += n;
                    self.preface = true;
                    continue;
                }
                return;
            }
            match frame::decode(rest, DEFAULT_MAX_FRAME_SIZE) {
                Ok(None) => return,
                Ok(Some((f, used))) => {
                    if !self.settings_seen {
                        if matches!(f, WireFrame::Settings(s) if !s.ack) {
                            self.settings_seen = true;
                        } else {
                            self.dead = true;
                            return;
                        }
                    }
                    match f {
                        WireFrame::Settings(s) if !s.ack => {
                            let list: Vec<Setting> = s.iter().collect();
                            for st in &list {
                                if let Setting::HeaderTableSize(v) = st {
                                    self.max_table = self.max_table.max(*v as usize);
                                }
                            }
                            self.pending.push_back(list);
                        }
                        WireFrame::Ping(p) if !p.ack => self.pings.push(p.data),
                        WireFrame::WindowUpdate(w) if w.stream_id == 0 => {
                            self.conn_incs += i64::from(w.increment)
                        }
                        WireFrame::WindowUpdate(w) => {
                            *self.stream_incs.entry(w.stream_id).or_default() += i64::from(w.increment)
                        }
                        WireFrame::Headers(h) => {
                            self.opened.insert(h.stream_id);
                        }
                        _ => {}
                    }
                    self.at += used;
                }
                Err(FrameError::Stream { frame_len, .. }) => {
                    // The connection steps over it (or, inside a header block, stops: reading
                    // on is only a wider view).
                    self.at += frame_len;
                }
                Err(FrameError::Connection(_)) => self.dead = true,
            }
        }
    }

    fn compact(&mut self) {
        if self.at > 0 {
            self.buf.drain(..self.at);
            self.at = 0;
        }
    }
}

/// The server's output as the client reads it, and the rules it must keep.
struct Wire {
    buf: Vec<u8>,
    at: usize,
    first: bool,
    block: Option<(u32, Vec<u8>)>,
    dec: hpack::Decoder,
    table: usize,
    /// Acknowledged client settings.
    initial_window: i64,
    max_frame: u32,
    conn_sent: i64,
    stream_sent: HashMap<u32, i64>,
    headers: HashSet<u32>,
    /// Streams we ended (`END_STREAM`) or reset.
    done: HashSet<u32>,
    goaway_last: Option<u32>,
    error_goaway: bool,
    frames: usize,
}

impl Wire {
    fn new() -> Wire {
        let limits =
            hpack::Limits { max_string_len: 1 << 20, max_header_list_size: 1 << 20, max_fields: 1 << 12 };
        Wire {
            buf: Vec::new(),
            at: 0,
            first: false,
            block: None,
            dec: hpack::Decoder::with_limits(4096, limits),
            table: 4096,
            initial_window: i64::from(DEFAULT_INITIAL_WINDOW_SIZE),
            max_frame: DEFAULT_MAX_FRAME_SIZE,
            conn_sent: 0,
            stream_sent: HashMap::new(),
            headers: HashSet::new(),
            done: HashSet::new(),
            goaway_last: None,
            error_goaway: false,
            frames: 0,
        }
    }

    fn read(&mut self, bytes: &[u8], sent: &mut Sent, config: &Config) {
        self.buf.extend_from_slice(bytes);
        if sent.max_table > self.table {
            self.table = sent.max_table;
            self.dec.set_max_table_size(self.table);
        }
        let buf = std::mem::take(&mut self.buf);
        loop {
            let rest = &buf[self.at..];
            let (f, used) = match frame::decode(rest, MAX_FRAME_SIZE_LIMIT) {
                Ok(None) => break,
                Ok(Some(x)) => x,
                Err(e) => panic!("the server wrote a bad frame: {e:?}, at {}", self.at),
            };
            let len = (used - HEAD_LEN) as u32;
            assert!(!self.error_goaway, "a frame after a GOAWAY with an error: {f:?}");
            self.frames += 1;
            if !self.first {
                let WireFrame::Settings(s) = f else { panic!("the first frame is not SETTINGS: {f:?}") };
                assert!(!s.ack);
                let got: Vec<Setting> = s.iter().collect();
                assert_eq!(
                    got,
                    [
                        Setting::MaxConcurrentStreams(config.max_concurrent_streams),
                        Setting::MaxHeaderListSize(config.max_header_list_size),
                        Setting::EnablePush(false)
                    ]
                );
                self.first = true;
                self.at += used;
                continue;
            }
            assert!(
                len <= self.max_frame,
                "payload {len} past the client's max frame {}: {f:?}",
                self.max_frame
            );
            if let Some((id, _)) = &self.block {
                assert!(
                    matches!(f, WireFrame::Continuation(c) if c.stream_id == *id),
                    "a header block interrupted by {f:?}"
                );
            }
            let sid = f.stream_id();
            if sid != 0 && !matches!(f, WireFrame::RstStream(_)) {
                assert!(!self.done.contains(&sid), "{f:?} after our END_STREAM or RST_STREAM");
            }
            match f {
                WireFrame::Settings(s) => {
                    assert!(s.ack, "a second SETTINGS: {s:?}");
                    let list = sent.pending.pop_front().expect("a SETTINGS ACK for no SETTINGS");
                    for st in list {
                        match st {
                            Setting::InitialWindowSize(v) => self.initial_window = i64::from(v),
                            Setting::MaxFrameSize(v) => self.max_frame = v,
                            _ => {}
                        }
                    }
                }
                WireFrame::Ping(p) => {
                    assert!(p.ack, "the server pinged");
                    let i = sent.pings.iter().position(|d| *d == p.data).expect("a PING ACK for no PING");
                    sent.pings.swap_remove(i);
                }
                WireFrame::Headers(h) => {
                    self.check_stream(sid, sent, "HEADERS");
                    assert!(h.priority.is_none() && h.pad_len.is_none());
                    self.headers.insert(sid);
                    if h.end_stream {
                        self.done.insert(sid);
                    }
                    if h.end_headers {
                        self.decode_block(h.fragment);
                    } else {
                        self.block = Some((sid, h.fragment.to_vec()));
                    }
                }
                WireFrame::Continuation(c) => {
                    let (id, mut b) = self.block.take().expect("a CONTINUATION out of a header block");
                    assert_eq!(id, c.stream_id);
                    b.extend_from_slice(c.fragment);
                    if c.end_headers {
                        self.decode_block(&b);
                    } else {
                        self.block = Some((id, b));
                    }
                }
                WireFrame::Data(d) => {
                    self.check_stream(sid, sent, "DATA");
                    assert!(self.headers.contains(&sid), "DATA before HEADERS on {sid}");
                    let n = i64::from(d.flow_len());
                    self.conn_sent += n;
                    assert!(
                        self.conn_sent <= i64::from(DEFAULT_INITIAL_WINDOW_SIZE) + sent.conn_incs,
                        "DATA past the connection window: sent {} of {} + {}",
                        self.conn_sent,
                        DEFAULT_INITIAL_WINDOW_SIZE,
                        sent.conn_incs
                    );
                    let s = self.stream_sent.entry(sid).or_default();
                    *s += n;
                    let incs = sent.stream_incs.get(&sid).copied().unwrap_or(0);
                    assert!(
                        *s <= self.initial_window + incs,
                        "DATA past stream {sid}'s window: sent {} of {} + {incs}",
                        *s,
                        self.initial_window
                    );
                    if d.end_stream {
                        self.done.insert(sid);
                    }
                }
                WireFrame::RstStream(r) => {
                    assert_ne!(r.stream_id, 0);
                    self.done.insert(sid);
                }
                WireFrame::WindowUpdate(w) => {
                    assert!(w.increment > 0);
                    if sid != 0 {
                        self.check_stream(sid, sent, "WINDOW_UPDATE");
                    }
                }
                WireFrame::GoAway(g) => {
                    if let Some(last) = self.goaway_last {
                        assert!(
                            g.last_stream_id <= last,
                            "GOAWAY's last stream id went up: {last} then {}",
                            g.last_stream_id
                        );
                    }
                    // The lowest sent is the promise (streams above it get nothing).
                    self.goaway_last =
                        Some(self.goaway_last.map_or(g.last_stream_id, |l| l.min(g.last_stream_id)));
                    if g.code != ErrorCode::NoError {
                        self.error_goaway = true;
                    }
                }
                other => panic!("the server sent {other:?}"),
            }
            if let (Some(last), WireFrame::Headers(_)) = (self.goaway_last, f) {
                assert!(sid <= last, "HEADERS on {sid} past our GOAWAY's last stream {last}");
            }
            self.at += used;
        }
        self.buf = buf[self.at..].to_vec();
        self.at = 0;
    }

    fn check_stream(&self, sid: u32, sent: &Sent, what: &str) {
        assert!(sid % 2 == 1, "{what} on even stream {sid}");
        assert!(sent.opened.contains(&sid), "{what} on stream {sid}, which the client never opened");
    }

    fn decode_block(&mut self, block: &[u8]) {
        let fields = self.dec.decode_to_vec(block).unwrap_or_else(|e| panic!("a bad header block: {e:?}"));
        assert_eq!(fields.first().map(|(n, _)| n.as_slice()), Some(&b":status"[..]), "{fields:?}");
        assert_eq!(fields.iter().filter(|(n, _)| n.starts_with(b":")).count(), 1, "{fields:?}");
        for (name, _) in &fields[1..] {
            assert!(!name.iter().any(|b| b.is_ascii_uppercase()), "an uppercase field name: {fields:?}");
            let specific: [&[u8]; 5] =
                [b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"];
            assert!(!specific.contains(&name.as_slice()), "a connection-specific field: {fields:?}");
        }
    }
}

/// The driver's side: the streams handed out, and what it queued on them.
#[derive(Default)]
struct Driver {
    /// Handed out and not `Closed`, in order.
    live: Vec<u32>,
    closed: HashSet<u32>,
    last_request: u32,
    /// Per stream answered (until its `Closed`): bytes queued whatever the bound, and the
    /// largest frame pushed within it.
    unbounded: HashMap<u32, usize>,
    largest: HashMap<u32, usize>,
}

struct Run {
    c: Connection,
    config: Arc<Config>,
    pool: QueuePool,
    now: Instant,
    sent: Sent,
    wire: Wire,
    driver: Driver,
    enc: hpack::Encoder,
    /// The highest stream id the client's well-formed requests used.
    client_next: u32,
    closed_seen: bool,
}

fn ms(v: u8) -> Duration {
    Duration::from_millis(u64::from(v))
}

fn code(v: u8) -> ErrorCode {
    ErrorCode::from(u32::from(v % 16))
}

fn event_frame(len: u16) -> Frame {
    let len = usize::from(len % 3000);
    if len % 5 == 0 { Frame::comment("k") } else { Frame::raw(vec![b'e'; len]) }
}

impl Run {
    /// A stream id: mostly one handed out, or the next new one, or a small one of any kind.
    fn pick(&self, sel: u8) -> u32 {
        match sel {
            0..=127 if !self.driver.live.is_empty() => {
                self.driver.live[usize::from(sel) % self.driver.live.len()]
            }
            0..=199 => self.client_next.max(1),
            _ => u32::from(sel - 200),
        }
    }

    fn new_id(&mut self, sel: u8) -> u32 {
        let id = if sel < 200 { self.client_next.max(1) } else { u32::from(sel - 200) };
        if id >= self.client_next {
            self.client_next = (id | 1) + 2;
        }
        id
    }

    fn send(&mut self, bytes: &[u8]) {
        if matches!(self.c.phase(), Phase::Open | Phase::Draining) {
            self.sent.feed(bytes);
            self.sent.compact();
        }
        self.c.received(bytes);
    }

    fn headers(&mut self, id: u32, fields: &[(&[u8], &[u8])], end: bool, split: u8) {
        let mut block = Vec::new();
        self.enc.encode(fields.iter().copied(), &mut block);
        let max = if split == 0 { DEFAULT_MAX_FRAME_SIZE } else { u32::from(split) };
        let mut out = Vec::new();
        frame::encode_headers(id & ssehub::h2::MAX_STREAM_ID, &block, end, max, &mut out);
        self.send(&out);
    }

    fn answer(&mut self, stream: u32, answer: &Answer) {
        let closed = self.driver.closed.contains(&stream);
        match *answer {
            Answer::Respond { status, body, head_only, header } => {
                let status = [200, 204, 304, 404, 500, 413, 503][usize::from(status) % 7];
                let body = vec![b'b'; usize::from(body % 20_000)];
                let mut r = Response::new(status).body(body.clone());
                if header {
                    r = r.header("X-Long", "v".repeat(usize::from(status)));
                    r = r.header("Transfer-Encoding", "chunked");
                }
                let ok = self.c.respond(stream, &r, head_only, self.now);
                assert!(!(ok && closed), "respond took closed stream {stream}");
                if ok {
                    *self.driver.unbounded.entry(stream).or_default() += body.len();
                }
            }
            Answer::Stream { first, len } => {
                let frames: Vec<Frame> =
                    (0..first % 4).map(|i| event_frame(len.wrapping_add(u16::from(i)))).collect();
                let n: usize = frames.iter().map(|f| f.block().len()).sum();
                let ok = self.c.start_stream(stream, &[("X-A".into(), "1".into())], &frames, self.now);
                assert!(!(ok && closed), "start_stream took closed stream {stream}");
                if ok {
                    *self.driver.unbounded.entry(stream).or_default() += n;
                }
            }
            Answer::Defer { ms: wait } => {
                self.c.defer(stream, ms(wait), self.now);
            }
            Answer::Nothing => {}
        }
    }

    fn poll(&mut self, answers: &[Answer]) {
        let mut k = 0;
        let mut guard = 0;
        while let Some(ev) = self.c.poll_event(self.now) {
            guard += 1;
            assert!(guard < 100_000, "poll_event never ends");
            match ev {
                Event::Request { stream, request: _ } => {
                    assert!(stream % 2 == 1 && stream > self.driver.last_request, "request on {stream}");
                    assert!(self.sent.opened.contains(&stream), "a request on {stream}, never opened");
                    self.driver.last_request = stream;
                    self.driver.live.push(stream);
                    if let Some(a) = answers.get(k) {
                        self.answer(stream, a);
                    }
                    k += 1;
                }
                Event::Closed { stream } => {
                    let i = self.driver.live.iter().position(|&s| s == stream);
                    let i =
                        i.unwrap_or_else(|| panic!("Closed for {stream}, not handed out or closed twice"));
                    self.driver.live.remove(i);
                    self.driver.closed.insert(stream);
                    self.driver.unbounded.remove(&stream);
                    self.driver.largest.remove(&stream);
                }
                Event::Refused(r) => {
                    let _ = r.as_str();
                }
            }
        }
    }

    fn write(&mut self, cap: usize, fail: bool) {
        let before = self.c.phase();
        let mut out = Vec::new();
        let mut sock = Sock { out: &mut out, left: cap, fail, calls: 0 };
        let r = self.c.write_to(&mut sock, self.now);
        let calls = sock.calls;
        if before == Phase::Closed {
            assert!(out.is_empty() && calls == 0, "written once Closed");
        }
        match r {
            Ok(n) => assert_eq!(n, out.len()),
            Err(_) => assert_eq!(self.c.phase(), Phase::Closed, "a failed write leaves the connection open"),
        }
        if self.closed_seen {
            assert!(out.is_empty());
        }
        self.wire.read(&out, &mut self.sent, &self.config);
        let _ = self.c.poll_fin();
    }

    fn timeout(&mut self) {
        let did = self.c.handle_timeout(self.now);
        if let Some(t) = self.c.poll_timeout() {
            if t <= self.now {
                let phase = self.c.phase();
                let streams = self.c.open_streams();
                let events = self.c.has_events();
                let again = self.c.handle_timeout(self.now);
                assert!(
                    again != Timeouts::default()
                        || self.c.phase() != phase
                        || self.c.open_streams() != streams
                        || self.c.has_events() != events,
                    "poll_timeout {t:?} is due at {:?} after handle_timeout, and handling it again does nothing \
                     (phase {phase:?}, {streams} streams, first {did:?})",
                    self.now
                );
            }
        }
    }

    fn check(&mut self) {
        if self.c.phase() == Phase::Closed {
            self.closed_seen = true;
            assert_eq!(self.c.poll_timeout(), None);
            assert!(!self.c.wants_write() && !self.c.wants_read());
        }
        assert!(!self.closed_seen || self.c.phase() == Phase::Closed, "left Closed");
        assert!(self.c.open_streams() <= self.config.max_concurrent_streams as usize);
        if self.c.phase() == Phase::Open && self.c.open_streams() == 0 {
            assert!(
                self.c.poll_timeout().is_some(),
                "an open connection with no stream and no idle deadline"
            );
        }
        let used = self.pool.used();
        if self.c.open_streams() == 0 {
            assert_eq!(used, 0, "queued bytes with no stream open");
        }
        // Each open stream: the bound (or one frame) for what was pushed within it, plus the
        // connection's own answers (413, 431, 503 bodies, keep-alives), plus what the driver
        // queued whatever the bound.
        let bound = self.config.settings.max_queue_bytes;
        let own = 1024;
        let mut allowed = self.c.open_streams() * (bound + own);
        allowed += self.driver.unbounded.values().sum::<usize>();
        allowed += self.driver.largest.values().sum::<usize>();
        assert!(used <= allowed, "the stream queues hold {used} bytes, more than {allowed}");
    }
}

fuzz_target!(|plan: Plan| {
    let t = plan.timers;
    let settings = Settings {
        max_queue_bytes: 64 + usize::from(plan.max_queue % 8129),
        header_timeout: ms(1 + t[0] % 50),
        idle_timeout: ms(1 + t[1] % 50),
        keep_alive: if t[2] % 4 == 0 { None } else { Some(ms(t[2] % 50)) },
        send_timeout: ms(1 + t[3] % 50),
        linger: ms(t[4] % 20),
    };
    let config = Arc::new(Config {
        max_concurrent_streams: MAX_STREAMS,
        max_header_list_size: 64 + u32::from(plan.header_list % 2048),
        max_header_block: 256 + usize::from(plan.header_list % 4096),
        max_resets: 1 + u32::from(plan.max_resets % 8),
        max_control: 1 + u32::from(plan.max_control % 32),
        // Two bodies at the limit: a few streams' bodies reach it, and their refusal is driven too.
        max_bodies_held: 2 * usize::from(plan.max_body % 4096),
        limits: Limits {
            max_head_bytes: 8 * 1024,
            max_headers: 16,
            max_body_bytes: usize::from(plan.max_body % 4096),
        },
        settings,
    });
    let pool = QueuePool::new(usize::MAX);
    let t0 = Instant::now();
    let mut run = Run {
        c: Connection::new(config.clone(), pool.clone(), t0),
        config,
        pool,
        now: t0,
        sent: Sent {
            buf: Vec::new(),
            at: 0,
            preface: false,
            settings_seen: false,
            dead: false,
            pending: VecDeque::new(),
            pings: Vec::new(),
            conn_incs: 0,
            stream_incs: HashMap::new(),
            opened: HashSet::new(),
            max_table: 4096,
        },
        wire: Wire::new(),
        driver: Driver::default(),
        enc: hpack::Encoder::new(4096),
        client_next: 1,
        closed_seen: false,
    };
    run.check();
    for op in plan.ops.iter().take(256) {
        match op {
            Op::Preface(list) => {
                let mut v = PREFACE.to_vec();
                let list: Vec<Setting> = list.iter().take(8).map(ClientSetting::setting).collect();
                frame::encode_settings(&list, &mut v);
                run.send(&v);
            }
            Op::Get { stream, path, split, junk, end } => {
                let id = run.new_id(*stream);
                let path = format!("/p{path}");
                let long = "j".repeat(usize::from(*junk % 3000));
                let mut fields: Vec<(&[u8], &[u8])> = vec![
                    (b":method", b"GET"),
                    (b":scheme", b"http"),
                    (b":authority", b"h"),
                    (b":path", path.as_bytes()),
                ];
                if *junk % 2 == 1 {
                    fields.push((b"x-junk", long.as_bytes()));
                }
                run.headers(id, &fields, *end, *split);
            }
            Op::Post { stream, content_length } => {
                let id = run.new_id(*stream);
                let cl = content_length.map(|n| (n % 5000).to_string());
                let mut fields: Vec<(&[u8], &[u8])> = vec![
                    (b":method", b"POST"),
                    (b":scheme", b"http"),
                    (b":authority", b"h"),
                    (b":path", b"/publish"),
                ];
                if let Some(cl) = &cl {
                    fields.push((b"content-length", cl.as_bytes()));
                }
                run.headers(id, &fields, false, 0);
            }
            Op::Data { stream, len, end, pad } => {
                let id = run.pick(*stream);
                let data = vec![b'd'; usize::from(*len % 20_000)];
                let mut out = Vec::new();
                WireFrame::Data(frame::Data { stream_id: id, end_stream: *end, data: &data, pad_len: *pad })
                    .encode(&mut out);
                run.send(&out);
            }
            Op::WindowUpdate { stream, inc } => {
                let id = if *stream == 255 { 0 } else { run.pick(*stream) };
                let inc = match inc % 4 {
                    0 => inc >> 2,
                    _ => (inc >> 2) % 70_000,
                };
                let mut out = Vec::new();
                frame::encode_window_update(id, inc & ssehub::h2::MAX_WINDOW_SIZE, &mut out);
                run.send(&out);
            }
            Op::Settings(list) => {
                let list: Vec<Setting> = list.iter().take(8).map(ClientSetting::setting).collect();
                let mut out = Vec::new();
                frame::encode_settings(&list, &mut out);
                run.send(&out);
            }
            Op::SettingsAck => {
                let mut out = Vec::new();
                frame::encode_settings_ack(&mut out);
                run.send(&out);
            }
            Op::Ping { data, ack } => {
                let mut out = Vec::new();
                if *ack {
                    frame::encode_ping_ack([*data; 8], &mut out);
                } else {
                    frame::encode_ping([*data; 8], &mut out);
                }
                run.send(&out);
            }
            Op::Rst { stream, code: c } => {
                let id = run.pick(*stream);
                let mut out = Vec::new();
                frame::encode_rst_stream(id, code(*c), &mut out);
                run.send(&out);
            }
            Op::Priority { stream, on } => {
                let id = run.pick(*stream);
                let dep =
                    frame::StreamDependency { exclusive: false, stream_id: u32::from(*on % 8), weight: 16 };
                let mut out = Vec::new();
                WireFrame::Priority(frame::Priority { stream_id: id.max(1), dependency: dep })
                    .encode(&mut out);
                run.send(&out);
            }
            Op::GoAway { last, code: c } => {
                let mut out = Vec::new();
                frame::encode_goaway(u32::from(*last), code(*c), b"bye", &mut out);
                run.send(&out);
            }
            Op::Continuation { stream, end, len } => {
                let id = run.pick(*stream).max(1);
                let frag = vec![0x82; usize::from(*len)];
                let mut out = Vec::new();
                WireFrame::Continuation(frame::Continuation {
                    stream_id: id,
                    end_headers: *end,
                    fragment: &frag,
                })
                .encode(&mut out);
                run.send(&out);
            }
            Op::Raw(bytes) => run.send(bytes),
            Op::Poll(answers) => run.poll(answers),
            Op::Push { stream, len } => {
                let id = run.pick(*stream);
                let f = event_frame(*len);
                let n = f.block().len();
                if run.c.push(id, f, run.now).is_ok() {
                    let l = run.driver.largest.entry(id).or_default();
                    *l = (*l).max(n);
                }
            }
            Op::PushReplay { stream, n, len } => {
                let id = run.pick(*stream);
                // Sized past `replay_room` too: the bound is the driver's to keep.
                let _ = run.c.replay_room(id);
                let frames: Vec<Frame> =
                    (0..n % 8).map(|i| event_frame(len.wrapping_mul(u16::from(i) + 1))).collect();
                let total: usize = frames.iter().map(|f| f.block().len()).sum();
                run.c.push_replay(id, frames, run.now);
                *run.driver.unbounded.entry(id).or_default() += total;
            }
            Op::Finish { stream } => {
                let id = run.pick(*stream);
                run.c.finish_stream(id, run.now);
            }
            Op::Reset { stream, code: c } => {
                let id = run.pick(*stream);
                run.c.reset_stream(id, code(*c), run.now);
            }
            Op::Resolve { stream, answer } => {
                let id = run.pick(*stream);
                if run.c.is_waiting(id) || *stream % 2 == 0 {
                    run.answer(id, answer);
                }
            }
            Op::Shutdown => run.c.shutdown(run.now),
            Op::Abort => run.c.abort(),
            Op::PeerClosed => run.c.peer_closed(),
            Op::Write { cap, fail } => run.write(usize::from(*cap), *fail),
            Op::Readable => run.c.readable(),
            Op::ReadWouldBlock => run.c.read_would_block(),
            Op::Step { ms: m } => {
                run.now += ms(*m % 64);
                run.timeout();
            }
            Op::ToDeadline => {
                if let Some(t) = run.c.poll_timeout() {
                    run.now = run.now.max(t);
                }
                run.timeout();
            }
        }
        let _ = (run.c.wants_read(), run.c.resume_read(), run.c.wants_write());
        run.check();
    }
    // Whatever is left goes out, and is checked too.
    for _ in 0..64 {
        if !run.c.wants_write() {
            break;
        }
        run.write(1 << 20, false);
    }
    run.check();
});
