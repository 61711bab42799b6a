//! One HTTP/2 connection's protocol state (RFC 9113), without the socket and without a clock.
//!
//! Where the [`frame`] and [`hpack`] codecs stop, this layer
//! begins: the connection preface and `SETTINGS` exchange, the stream states, flow control in
//! both directions, header blocks joined across `CONTINUATION` frames, the errors RFC 9113
//! names for each broken rule, and the bounds that keep a hostile peer from making the server
//! work or hold memory for nothing. It is the HTTP/2 sibling of [`crate::proto::Conn`], driven
//! the same way, and gives the driver the same [`Request`] values: routing, CORS, channels,
//! replay and the application's callbacks never see the difference.
//!
//! ```text
//! bytes ─► received ─► poll_event ─► Event::Request { stream, request }  ─► the driver decides:
//!                          │            respond / start_stream / defer, then push, finish_stream
//!                          └──────► Event::Closed { stream }: that stream is over
//! write_to ◄─ control frames and HEADERS, then DATA cut from the streams' queues by the windows
//! poll_timeout / handle_timeout(now): keep-alives, deferred answers, stalls, idle, linger
//! ```
//!
//! # Streams and the answers
//! A request is handed out once whole: its headers, and its body when it has one (`POST
//! /publish`). The driver answers on the stream as it would on an HTTP/1.1 connection: a
//! [`Response`] (its `HEADERS`, then its body in `DATA`, `END_STREAM` at the end), or an event
//! stream ([`Connection::start_stream`], then [`Connection::push`] per event). Event bytes are
//! queued by reference: the shared [`Frame`] an event was encoded into once becomes a `DATA`
//! payload behind a 9-byte header of this stream's, and all the streams of one connection
//! leave in one vectored write.
//!
//! # Flow control
//! Each stream, and the connection, may send only what the peer's windows allow (RFC 9113
//! §6.9). What has no window waits in the stream's queue, bounded like an HTTP/1.1
//! connection's queue ([`Settings::max_queue_bytes`]): an event that would pass the bound
//! resets that stream (`CANCEL`), and data that finds no window for `send_timeout` resets its
//! stream too, as a client that stops reading is dropped on HTTP/1.1. What the peer sends us is
//! given back with `WINDOW_UPDATE` as it is taken (request bodies are bounded by
//! [`Limits::max_body_bytes`] instead).
//!
//! # Bounds against hostile peers
//! | attack | bound | answer |
//! |---|---|---|
//! | streams opened and reset at once (rapid reset, CVE-2023-44487) | [`Config::max_resets`] per second, bursts of twice that | `GOAWAY` `ENHANCE_YOUR_CALM` |
//! | more streams than `SETTINGS_MAX_CONCURRENT_STREAMS` | [`Config::max_concurrent_streams`] | `RST_STREAM` `REFUSED_STREAM` (and counted as resets) |
//! | a header block without end (`CONTINUATION` flood) | [`Config::max_header_block`] octets, 64 frames, `header_timeout` | `GOAWAY` `ENHANCE_YOUR_CALM` |
//! | a header list that decompresses large (HPACK bomb) | [`Config::max_header_list_size`], string length, field count | `431` on that stream |
//! | many streams each holding an unfinished request body | [`Config::max_bodies_held`] octets for all of a connection's bodies | `RST_STREAM` `REFUSED_STREAM` on the stream that would pass it |
//! | `PING`, `SETTINGS`, `PRIORITY`, empty `DATA`, unknown frames, stray `RST_STREAM` | [`Config::max_control`] per second, bursts of ten times that | `GOAWAY` `ENHANCE_YOUR_CALM` |
//! | `WINDOW_UPDATE` flood | the same bucket, credited one token per `DATA` frame we send | `GOAWAY` `ENHANCE_YOUR_CALM` |
//! | windows pushed past 2^31 - 1 | RFC 9113 §6.9.1 | `FLOW_CONTROL_ERROR` |
//! | a peer that sends but never reads | the output backlog: past `max_queue_bytes` no more frames are read | then `send_timeout` drops it |
//! | a zero window held forever | `send_timeout` per stream | `RST_STREAM` `CANCEL` |
//! | stream ids reused or going down | RFC 9113 §5.1.1 | `GOAWAY` `PROTOCOL_ERROR` |
//!
//! Each refusal is reported as [`Event::Refused`] with its [`Refusal`], which the server counts
//! in `/metrics` by reason.
//!
//! # Time
//! As with HTTP/1.1, time is passed in; [`Connection::poll_timeout`] gives the earliest
//! deadline and [`Connection::handle_timeout`] does what is due: the preface and a header block
//! must come within `header_timeout`; a connection with no stream closes (`GOAWAY`
//! `NO_ERROR`) after `idle_timeout`; a stream with nothing queued for `keep_alive` gets a
//! keep-alive comment; a deferred answer that does not come in time is a `503`; output that
//! makes no progress for `send_timeout` ends the connection; after a closing `GOAWAY` the
//! connection lingers for `linger`, as HTTP/1.1 does after a closing answer.

mod answer;
mod budget;
mod input;
mod output;
mod request;
mod stream;
pub(crate) use stream::push_stepped;

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::Arc;
use std::time::Instant;

use self::budget::Budget;
use self::output::Output;
use self::stream::{Local, Stream};
use crate::h2::frame::{self, Setting};
use crate::h2::{DEFAULT_INITIAL_WINDOW_SIZE, DEFAULT_MAX_FRAME_SIZE, ErrorCode, hpack};
use crate::http::request::{Limits, Request};
use crate::http::response::Response;
use crate::proto::conn::Settings;
use crate::proto::stream_end::{EndReason, StreamTally};
use crate::proto::{Frame, QueuePool};

/// An HTTP/2 connection's bounds (and the HTTP/1.1 ones it shares: queue, timeouts, body).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`: streams a client may have open at once (default 100,
    /// the browsers' own cap). More are refused with `REFUSED_STREAM`.
    pub max_concurrent_streams: u32,
    /// `SETTINGS_MAX_HEADER_LIST_SIZE`, and the decoded size past which a request gets `431`
    /// (default 16 KiB).
    pub max_header_list_size: u32,
    /// The most octets of one encoded header block (`HEADERS` and its `CONTINUATION`s; default
    /// 64 KiB). Past it the connection ends with `ENHANCE_YOUR_CALM`.
    pub max_header_block: usize,
    /// Streams the client may reset (or have refused) per second, on average; bursts of twice
    /// as many (default 100).
    pub max_resets: u32,
    /// Frames that ask for work and carry nothing (see the module docs) per second, on
    /// average; bursts of ten times as many (default 100).
    pub max_control: u32,
    /// Request body octets that all of a connection's streams may hold at once before their
    /// bodies end (default 4 MiB; the server sets four times [`Limits::max_body_bytes`]). The DATA frame that
    /// would pass it refuses its stream (`RST_STREAM` `REFUSED_STREAM`: the request was not
    /// processed, the client may send it again): without it one connection could hold
    /// `max_concurrent_streams` × `max_body_bytes` (100 MiB by default).
    pub max_bodies_held: usize,
    /// The request limits HTTP/1.1 uses: field count and body size.
    pub limits: Limits,
    /// The queue bound and timeouts HTTP/1.1 uses.
    pub settings: Settings,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_concurrent_streams: 100,
            max_header_list_size: 16 * 1024,
            max_header_block: 64 * 1024,
            max_resets: 100,
            max_control: 100,
            max_bodies_held: 4 << 20,
            limits: Limits::default(),
            settings: Settings::default(),
        }
    }
}

/// The most frames one header block may span.
const MAX_BLOCK_FRAMES: usize = 64;

/// What the connection has for the driver.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// A whole request on `stream`: answer it with [`Connection::respond`],
    /// [`Connection::start_stream`] or [`Connection::defer`].
    Request {
        /// The stream (odd, increasing).
        stream: u32,
        /// The request, as HTTP/1.1 would have given it (version [`crate::http::Version::Http2`]).
        request: Request,
    },
    /// A stream whose request was handed out is over: its answer is sent, or either side reset
    /// it, or the connection is ending. Nothing more can be sent on it.
    Closed {
        /// The stream.
        stream: u32,
    },
    /// Something the peer did was refused (see [`Refusal`]).
    Refused(Refusal),
}

/// Why the connection refused what the peer did (the `reason` label of the server's HTTP/2
/// refusal counter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// A rule of RFC 9113 was broken: `GOAWAY` (or `RST_STREAM`) with `PROTOCOL_ERROR`,
    /// `FRAME_SIZE_ERROR` or `STREAM_CLOSED`.
    Protocol,
    /// A malformed request (RFC 9113 §8.1.1): `RST_STREAM` `PROTOCOL_ERROR`.
    Malformed,
    /// Flow control was broken: `FLOW_CONTROL_ERROR`.
    FlowControl,
    /// A header block could not be decoded: `GOAWAY` `COMPRESSION_ERROR`.
    Compression,
    /// A header list too large once decoded: `431`.
    HeaderListTooLarge,
    /// A header block past its bound (size, frames): `GOAWAY` `ENHANCE_YOUR_CALM`.
    HeaderBlockTooLarge,
    /// More streams than allowed at once: `RST_STREAM` `REFUSED_STREAM`.
    TooManyStreams,
    /// Streams reset faster than [`Config::max_resets`]: `GOAWAY` `ENHANCE_YOUR_CALM`.
    RapidReset,
    /// Work-only frames faster than [`Config::max_control`]: `GOAWAY` `ENHANCE_YOUR_CALM`.
    ControlFlood,
    /// The preface or a header block did not come in time: `GOAWAY` `PROTOCOL_ERROR`.
    Timeout,
    /// A stream's data found no window for `send_timeout`: `RST_STREAM` `CANCEL`.
    StalledStream,
    /// A stream's queue passed its bound: `RST_STREAM` `CANCEL`.
    Overflow,
    /// Request bodies held by the connection would pass [`Config::max_bodies_held`]:
    /// `RST_STREAM` `REFUSED_STREAM`.
    BodiesHeld,
}

impl Refusal {
    /// Every refusal, in a fixed order (for counters).
    pub const ALL: [Refusal; 13] = [
        Refusal::Protocol,
        Refusal::Malformed,
        Refusal::FlowControl,
        Refusal::Compression,
        Refusal::HeaderListTooLarge,
        Refusal::HeaderBlockTooLarge,
        Refusal::TooManyStreams,
        Refusal::RapidReset,
        Refusal::ControlFlood,
        Refusal::Timeout,
        Refusal::StalledStream,
        Refusal::Overflow,
        Refusal::BodiesHeld,
    ];

    /// A short name for logs and metrics labels.
    pub fn as_str(&self) -> &'static str {
        match self {
            Refusal::Protocol => "protocol",
            Refusal::Malformed => "malformed",
            Refusal::FlowControl => "flow_control",
            Refusal::Compression => "compression",
            Refusal::HeaderListTooLarge => "header_list_too_large",
            Refusal::HeaderBlockTooLarge => "header_block_too_large",
            Refusal::TooManyStreams => "too_many_streams",
            Refusal::RapidReset => "rapid_reset",
            Refusal::ControlFlood => "control_flood",
            Refusal::Timeout => "timeout",
            Refusal::StalledStream => "stalled_stream",
            Refusal::Overflow => "overflow",
            Refusal::BodiesHeld => "bodies_held",
        }
    }

    /// The refusal a connection error's code stands for.
    fn of_code(code: ErrorCode) -> Refusal {
        match code {
            ErrorCode::FlowControlError => Refusal::FlowControl,
            ErrorCode::CompressionError => Refusal::Compression,
            _ => Refusal::Protocol,
        }
    }
}

/// Where the connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Exchanging frames.
    Open,
    /// A graceful `GOAWAY` was sent (or received): no new streams; the open ones end, then
    /// the connection closes.
    Draining,
    /// Writing what is queued (a `GOAWAY` with an error, say), then closing.
    Closing,
    /// Written, FIN sent: input is dropped until the peer closes or `linger` has passed.
    Lingering,
    /// Done: the driver drops the socket.
    Closed,
}

/// What [`Connection::handle_timeout`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timeouts {
    /// Keep-alive comments queued (one per idle stream).
    pub keep_alives: u32,
    /// Deferred answers that did not come: `503` queued on their streams.
    pub no_answers: u32,
    /// Streams reset because their data found no window for `send_timeout`.
    pub stalled_streams: u32,
    /// Output made no progress for `send_timeout`: the connection is dropped.
    pub stalled: bool,
    /// No stream for `idle_timeout`: `GOAWAY`, closing.
    pub idle: bool,
    /// The preface or a header block came too late: `GOAWAY`, closing.
    pub late: bool,
    /// The linger is over: closed.
    pub lingered: bool,
    /// Event streams ended at their [`Connection::end_stream_at`].
    pub ended: u32,
}

/// The header block being received (a `HEADERS` without `END_HEADERS`, and its `CONTINUATION`s).
#[derive(Debug)]
struct Block {
    stream_id: u32,
    fragments: Vec<u8>,
    end_stream: bool,
    frames: usize,
    since: Instant,
}

/// One HTTP/2 connection. See the [module docs](self).
#[derive(Debug)]
pub struct Connection {
    config: Arc<Config>,
    pool: QueuePool,
    phase: Phase,
    /// Unprocessed input, from `consumed` on.
    input: Vec<u8>,
    consumed: usize,
    /// The 24-octet preface has been read.
    preface: bool,
    /// The peer's first `SETTINGS` has been read (it must be its first frame).
    peer_settings: bool,
    decoder: hpack::Decoder,
    encoder: hpack::Encoder,
    /// The header block of the answer being encoded (kept: one allocation per connection).
    out_block: Vec<u8>,
    /// The peer's `SETTINGS_INITIAL_WINDOW_SIZE` and `SETTINGS_MAX_FRAME_SIZE`.
    peer_initial_window: u32,
    peer_max_frame: u32,
    /// Open and half-closed streams (at most a little over `max_concurrent_streams`).
    streams: Vec<Stream>,
    /// The highest stream id the client has used.
    highest: u32,
    /// The last streams that closed (so a frame on one is told `STREAM_CLOSED`, not
    /// `PROTOCOL_ERROR`).
    recently_closed: VecDeque<u32>,
    block: Option<Block>,
    /// What the connection may still send, and what the peer may.
    send_window: i64,
    recv_window: i64,
    recv_unacked: u32,
    out: Output,
    events: VecDeque<Event>,
    /// The tallies of the streams of the `Event::Closed` in `events`, in the same order.
    closed: VecDeque<(u32, StreamTally)>,
    /// The tally of the stream of the last `Event::Closed` handed out.
    last_closed: Option<(u32, StreamTally)>,
    /// Why the streams that end with the connection end (the first cause seen).
    ending: Option<EndReason>,
    resets: Budget,
    control: Budget,
    /// Where round-robin over the streams starts next.
    rotate: usize,
    accepted: Instant,
    /// The last write that made progress, or when the output went from empty to not.
    progress: Instant,
    /// Since when no stream is open.
    idle_since: Option<Instant>,
    /// `Lingering`: when it ends.
    linger_until: Option<Instant>,
    /// The last stream id of the `GOAWAY` we sent (or queued), if we did: streams above it are
    /// ignored, and a later `GOAWAY` never names a higher one (RFC 9113 §6.8).
    goaway: Option<u32>,
    /// Once written, the closing output is followed by a FIN and a linger.
    linger: bool,
    fin: bool,
    drained: bool,
}

impl Connection {
    /// A connection accepted at `now`, before anything was read; its `SETTINGS` are queued.
    pub fn new(config: Arc<Config>, pool: QueuePool, now: Instant) -> Connection {
        let limits = hpack::Limits {
            max_string_len: config.max_header_list_size as usize,
            max_header_list_size: config.max_header_list_size as usize,
            max_fields: config.limits.max_headers,
        };
        let size = config.max_resets.max(1);
        let control = config.max_control.max(1);
        let mut c = Connection {
            pool,
            phase: Phase::Open,
            input: Vec::new(),
            consumed: 0,
            preface: false,
            peer_settings: false,
            decoder: hpack::Decoder::with_limits(crate::h2::DEFAULT_HEADER_TABLE_SIZE, limits),
            encoder: hpack::Encoder::new(crate::h2::DEFAULT_HEADER_TABLE_SIZE),
            out_block: Vec::new(),
            peer_initial_window: DEFAULT_INITIAL_WINDOW_SIZE,
            peer_max_frame: DEFAULT_MAX_FRAME_SIZE,
            streams: Vec::new(),
            highest: 0,
            recently_closed: VecDeque::new(),
            block: None,
            send_window: i64::from(DEFAULT_INITIAL_WINDOW_SIZE),
            recv_window: i64::from(DEFAULT_INITIAL_WINDOW_SIZE),
            recv_unacked: 0,
            out: Output::default(),
            events: VecDeque::new(),
            closed: VecDeque::new(),
            last_closed: None,
            ending: None,
            resets: Budget::new(size.saturating_mul(2), size, now),
            control: Budget::new(control.saturating_mul(10), control, now),
            rotate: 0,
            accepted: now,
            progress: now,
            idle_since: Some(now),
            linger_until: None,
            goaway: None,
            linger: false,
            fin: false,
            drained: false,
            config,
        };
        let settings = [
            Setting::MaxConcurrentStreams(c.config.max_concurrent_streams),
            Setting::MaxHeaderListSize(c.config.max_header_list_size),
            Setting::EnablePush(false),
        ];
        frame::encode_settings(&settings, &mut c.out.control);
        c
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Streams open or half-closed.
    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// Whether the driver should read from the socket now: not while the output backlog is past
    /// the queue bound (a peer that sends without reading is slowed by TCP), not once closed.
    pub fn wants_read(&self) -> bool {
        match self.phase {
            Phase::Open | Phase::Draining => self.out.backlog() < self.config.settings.max_queue_bytes,
            Phase::Closing | Phase::Lingering => true,
            Phase::Closed => false,
        }
    }

    /// The socket says it has something to read.
    pub fn readable(&mut self) {
        self.drained = false;
    }

    /// A read found nothing more.
    pub fn read_would_block(&mut self) {
        self.drained = true;
    }

    /// Whether the driver must read now without waiting for readiness (see
    /// [`crate::proto::Conn::resume_read`]).
    pub fn resume_read(&self) -> bool {
        !self.drained && self.wants_read()
    }

    /// Takes bytes read from the socket (frames are processed by [`Connection::poll_event`]).
    pub fn received(&mut self, bytes: &[u8]) {
        if !matches!(self.phase, Phase::Open | Phase::Draining) || bytes.is_empty() {
            return;
        }
        if self.consumed > 0 {
            self.input.drain(..self.consumed);
            self.consumed = 0;
        }
        self.input.extend_from_slice(bytes);
    }

    /// The peer closed its sending side: streams end; queued output is still written.
    pub fn peer_closed(&mut self) {
        match self.phase {
            Phase::Open | Phase::Draining => {
                EndReason::ClientLeft.note(&mut self.ending);
                self.end_all_streams();
                self.linger = false;
                self.phase = Phase::Closing;
            }
            Phase::Lingering => self.phase = Phase::Closed,
            Phase::Closing | Phase::Closed => self.linger = false,
        }
    }

    /// The next event: processes received frames until one comes or the input runs out (or
    /// the output backlog says to stop reading).
    pub fn poll_event(&mut self, now: Instant) -> Option<Event> {
        while self.events.is_empty()
            && self.wants_read()
            && matches!(self.phase, Phase::Open | Phase::Draining)
        {
            if !self.process_one(now) {
                break;
            }
        }
        let event = self.events.pop_front();
        if let Some(Event::Closed { .. }) = event {
            self.last_closed = self.closed.pop_front();
        }
        event
    }

    /// What stream `stream` has sent, and why it ends (`reason` `None`: nothing said why, as
    /// when the connection just went away): an open stream, one whose [`Event::Closed`] waits,
    /// or the one of the last `Closed` that [`Connection::poll_event`] handed out.
    pub fn tally(&self, stream: u32) -> Option<StreamTally> {
        if let Some(s) = self.streams.iter().find(|s| s.id == stream) {
            return Some(s.tally(self.ending));
        }
        let mut closed = self.last_closed.iter().chain(self.closed.iter());
        closed.find(|(id, _)| *id == stream).map(|&(_, tally)| tally)
    }

    /// Notes why the connection's streams end, unless a cause was seen already: the driver's
    /// word when it drops the connection (a shutdown that ran out of time, say).
    pub fn note_end(&mut self, why: EndReason) {
        why.note(&mut self.ending);
    }

    /// Notes why stream `stream` ends, unless a cause was seen already (a drain ending it on
    /// the server's schedule says [`EndReason::Shutdown`] before [`Connection::finish_stream`]).
    pub fn note_stream_end(&mut self, stream: u32, why: EndReason) {
        if let Some(s) = self.stream(stream) {
            why.note(&mut s.end);
        }
    }

    /// Whether events wait (produced by writes or timeouts, say).
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Ends the connection gracefully at `now`: `GOAWAY` `NO_ERROR` with the last stream taken,
    /// event streams finish, answers still due are sent; then it closes.
    pub fn shutdown(&mut self, now: Instant) {
        if !matches!(self.phase, Phase::Open | Phase::Draining) {
            return;
        }
        if self.goaway.is_none() {
            let last = self.goaway_last();
            frame::encode_goaway(last, ErrorCode::NoError, b"", &mut self.out.control);
        }
        self.phase = Phase::Draining;
        for s in &mut self.streams {
            if s.local == Local::Streaming {
                EndReason::Shutdown.note(&mut s.end);
                s.local = Local::Ending;
            }
        }
        self.settle(now);
    }

    /// Begins a drain at `now`: `GOAWAY` `NO_ERROR` with the last stream taken (the client opens
    /// new streams elsewhere), but the open streams go on until each is ended
    /// ([`Connection::finish_stream`]); the connection closes after the last.
    pub fn drain(&mut self, now: Instant) {
        if self.phase != Phase::Open {
            return;
        }
        if self.goaway.is_none() {
            self.note_output(now);
            let last = self.goaway_last();
            frame::encode_goaway(last, ErrorCode::NoError, b"", &mut self.out.control);
        }
        self.phase = Phase::Draining;
        self.settle(now);
    }

    /// Drops the connection now: nothing more is written.
    pub fn abort(&mut self) {
        self.end_all_streams();
        self.out.clear();
        self.linger = false;
        self.phase = Phase::Closed;
    }

    /// Whether there is something to write.
    pub fn wants_write(&self) -> bool {
        // A closing connection is written even with nothing queued: the write settles it
        // (FIN and linger, or closed).
        self.phase == Phase::Closing
            || self.phase != Phase::Closed
                && (self.out.backlog() > 0 || self.streams.iter().any(|s| s.has_output() && self.can_send(s)))
    }

    /// Writes what can be sent, round after round, until it is all written or `w` would block.
    /// Returns the bytes written; an error other than `WouldBlock` drops the connection.
    pub fn write_to<W: Write>(&mut self, w: &mut W, now: Instant) -> io::Result<usize> {
        let mut total = 0;
        while self.phase != Phase::Closed {
            if !self.out.has_committed() {
                self.commit_round(now);
                if !self.out.has_committed() {
                    break;
                }
            }
            match self.out.write_to(w) {
                Ok(n) => {
                    total += n;
                    if n > 0 {
                        self.progress = now;
                    }
                    if self.out.has_committed() {
                        break; // the socket is full
                    }
                }
                Err(e) => {
                    let timed_out = e.kind() == io::ErrorKind::TimedOut;
                    self.note_end(if timed_out { EndReason::SendTimeout } else { EndReason::ClientLeft });
                    self.abort();
                    return Err(e);
                }
            }
        }
        self.settle_closing(now);
        Ok(total)
    }

    /// Whether the driver must now shut the socket's sending side (once).
    pub fn poll_fin(&mut self) -> bool {
        std::mem::take(&mut self.fin)
    }

    /// The earliest deadline (see the [module docs](self)).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let s = &self.config.settings;
        let mut at: Option<Instant> = None;
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                at = Some(at.map_or(t, |a| a.min(t)));
            }
        };
        match self.phase {
            Phase::Closed => return None,
            Phase::Lingering => return self.linger_until,
            Phase::Closing => {}
            Phase::Open | Phase::Draining => {
                if !self.peer_settings {
                    consider(Some(self.accepted + s.header_timeout));
                }
                consider(self.block.as_ref().map(|b| b.since + s.header_timeout));
                if self.streams.is_empty() && self.phase == Phase::Open {
                    consider(self.idle_since.map(|t| t + s.idle_timeout));
                }
                for st in &self.streams {
                    match st.local {
                        Local::Waiting(t) => consider(Some(t)),
                        Local::Streaming => {
                            consider(s.keep_alive.map(|k| st.last_queued.at(self.accepted) + k));
                            consider(st.ends_at.map(|t| t.at(self.accepted)));
                        }
                        _ => {}
                    }
                    consider(st.blocked_since.map(|t| t.at(self.accepted) + s.send_timeout));
                }
            }
        }
        if self.out.backlog() > 0 {
            consider(Some(self.progress + s.send_timeout));
        }
        at
    }

    /// Does what is due at `now` (see [`Connection::poll_timeout`]).
    pub fn handle_timeout(&mut self, now: Instant) -> Timeouts {
        let mut did = Timeouts::default();
        let s = self.config.settings;
        match self.phase {
            Phase::Closed => return did,
            Phase::Lingering => {
                if self.linger_until.is_some_and(|t| now >= t) {
                    self.phase = Phase::Closed;
                    did.lingered = true;
                }
                return did;
            }
            _ => {}
        }
        if self.out.backlog() > 0 && now >= self.progress + s.send_timeout {
            self.note_end(EndReason::SendTimeout);
            self.abort();
            did.stalled = true;
            return did;
        }
        if self.phase == Phase::Closing {
            return did;
        }
        let late_preface = !self.peer_settings && now >= self.accepted + s.header_timeout;
        let late_block = self.block.as_ref().is_some_and(|b| now >= b.since + s.header_timeout);
        if late_preface || late_block {
            self.events.push_back(Event::Refused(Refusal::Timeout));
            self.go_away(ErrorCode::ProtocolError, b"too slow", now);
            did.late = true;
            return did;
        }
        if self.phase == Phase::Open
            && self.streams.is_empty()
            && self.idle_since.is_some_and(|t| now >= t + s.idle_timeout)
        {
            self.go_away(ErrorCode::NoError, b"idle", now);
            did.idle = true;
            return did;
        }
        let epoch = self.accepted;
        let mut i = 0;
        while i < self.streams.len() {
            let st = &mut self.streams[i];
            let id = st.id;
            if st.blocked_since.is_some_and(|t| now >= t.at(epoch) + s.send_timeout) {
                did.stalled_streams += 1;
                EndReason::SendTimeout.note(&mut st.end);
                self.events.push_back(Event::Refused(Refusal::StalledStream));
                self.reset(id, ErrorCode::Cancel, now);
                continue; // the stream is gone: the next one is at `i` now
            }
            if st.local == Local::Streaming && st.ends_at.is_some_and(|t| now >= t.at(epoch)) {
                did.ended += 1;
                EndReason::AuthExpired.note(&mut st.end);
                st.local = Local::Ending;
                i += 1;
                continue;
            }
            let waited_out = matches!(st.local, Local::Waiting(t) if now >= t);
            let quiet = matches!(st.local, Local::Streaming)
                && s.keep_alive.is_some_and(|k| now >= st.last_queued.at(epoch) + k);
            if waited_out {
                did.no_answers += 1;
                let busy = Response::unavailable("the backplane did not answer in time", 1);
                self.respond(id, &busy, false, now);
            } else if quiet && self.push(id, KEEP_ALIVE.clone(), now).is_ok() {
                did.keep_alives += 1;
            }
            if self.streams.get(i).is_some_and(|st| st.id == id) {
                i += 1;
            }
        }
        did
    }

    // ---- helpers shared by input and answers ----

    /// The stream with `id`, if open or half-closed.
    fn stream(&mut self, id: u32) -> Option<&mut Stream> {
        self.streams.iter_mut().find(|s| s.id == id)
    }

    /// Whether `s` could frame something now (window, or a bare `END_STREAM`).
    fn can_send(&self, s: &Stream) -> bool {
        (s.out.is_empty() && s.local == Local::Ending) || (s.send_window > 0 && self.send_window > 0)
    }

    /// Forgets stream `id` (reporting its end if it was handed out).
    fn remove(&mut self, id: u32) {
        if let Some(i) = self.streams.iter().position(|s| s.id == id) {
            let s = self.streams.swap_remove(i);
            if s.delivered {
                self.events.push_back(Event::Closed { stream: id });
                self.closed.push_back((id, s.tally(self.ending)));
            }
            if self.recently_closed.len() == 32 {
                self.recently_closed.pop_front();
            }
            self.recently_closed.push_back(id);
        }
    }

    /// Resets stream `id` with `code`: `RST_STREAM`, and it is forgotten.
    fn reset(&mut self, id: u32, code: ErrorCode, now: Instant) {
        self.note_output(now);
        frame::encode_rst_stream(id, code, &mut self.out.control);
        self.remove(id);
        self.settle(now);
    }

    /// A connection error: `GOAWAY` with `code`, every stream over, then closing (lingering).
    fn go_away(&mut self, code: ErrorCode, debug: &[u8], now: Instant) {
        if matches!(self.phase, Phase::Closing | Phase::Lingering | Phase::Closed) {
            return;
        }
        self.note_output(now);
        if code != ErrorCode::NoError {
            EndReason::ProtocolError.note(&mut self.ending);
        }
        let last = self.goaway_last();
        frame::encode_goaway(last, code, debug, &mut self.out.control);
        self.end_all_streams();
        self.block = None;
        self.input = Vec::new();
        self.consumed = 0;
        self.linger = true;
        self.phase = Phase::Closing;
    }

    /// The last stream id a `GOAWAY` sent now names: the highest the client used, but never
    /// more than an earlier `GOAWAY` named (streams opened since were ignored).
    fn goaway_last(&mut self) -> u32 {
        let last = self.goaway.map_or(self.highest, |before| before.min(self.highest));
        self.goaway = Some(last);
        last
    }

    /// Every stream ends now (the connection does).
    fn end_all_streams(&mut self) {
        while let Some(s) = self.streams.last() {
            let id = s.id;
            self.remove(id);
        }
    }

    /// Something is about to be queued for output at `now`.
    fn note_output(&mut self, now: Instant) {
        if self.out.backlog() == 0 {
            self.progress = now;
        }
    }

    /// After streams came or went: the idle clock, and a draining connection with no stream
    /// left begins to close.
    fn settle(&mut self, now: Instant) {
        if self.streams.is_empty() {
            if self.idle_since.is_none() {
                self.idle_since = Some(now);
            }
            if self.phase == Phase::Draining {
                self.linger = true;
                self.phase = Phase::Closing;
            }
        } else {
            self.idle_since = None;
        }
    }

    /// A closing connection whose output is written: FIN and linger, or closed.
    fn settle_closing(&mut self, now: Instant) {
        if self.phase != Phase::Closing || self.out.backlog() > 0 {
            return;
        }
        if self.linger {
            self.phase = Phase::Lingering;
            self.linger_until = Some(now + self.config.settings.linger);
            self.fin = true;
        } else {
            self.phase = Phase::Closed;
        }
    }
}

/// The keep-alive comment (`:` and an empty line), encoded once for every stream.
static KEEP_ALIVE: std::sync::LazyLock<Frame> = std::sync::LazyLock::new(|| Frame::comment(""));

#[cfg(test)]
mod tests;
