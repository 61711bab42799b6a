//! One load-generator thread: a mio event loop that opens its share of the connections at a
//! bounded pace, reads every socket until `WouldBlock` (mio's readiness is edge-triggered) into
//! its one read buffer, and counts what [`Stream`] decodes.
//!
//! ```text
//! connect (paced, ≤ max in flight) ─► write request ─► read ─► Stream::feed ─► count + latency
//!     ▲                                                                     │
//!     └──────── reopen ◄── churn: close R connections a second (window) ◄───┘
//! ```
//! The run's clock lives in [`Clock`]: the main thread opens the measured window once the
//! warm-up is over and every connection has been established or has failed, and closes it
//! after `--duration`. Each read is stamped once, so every event it completes falls in the same
//! phase (warm-up, window, after) and gets the same receive time.
//!
//! With churn (`--churn R`), from the window's start the worker closes established connections
//! round-robin at its share of R a second and reopens each at once, so the same number stays
//! open; a connection that fails or that the server closes is reopened too (after a short
//! pause), so churn measures a server that keeps N streams while streams come and go.
//!
//! With `--handshakes` (`Plan::cycle`) every connection is closed as soon as its response head
//! has been accepted and reopened at once, so that N connections are always being set up: the
//! streams established in the window are the set-ups (full TLS handshakes over `https`) the
//! server completed.
//!
//! Over `https` a [`Session`] sits between the socket and the [`Stream`]: the worker reads the
//! socket into its read buffer as for plain HTTP, the session decrypts it into a second buffer,
//! and the stream is fed from that; the request goes out through the session once the
//! handshake is done.
//!
//! With `--h2` (`Plan::h2`) a connection carries M streams: its request is the HTTP/2 opening
//! ([`h2::opening`]), an [`h2::Client`] takes the place of the [`Stream`] (`on_ready_h2`), and
//! the counts are kept per stream (`Slot::streams`) by the same [`Tally`] methods as HTTP/1.1's.
//! Pacing, `--max-connecting`, the head deadline (until every stream is answered), churn and
//! `--handshakes` work on whole connections.

use std::collections::{HashMap, VecDeque};
use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use super::h2::{self, Happened};
use super::stream::{Stop, Stream, timestamp_ns};
use super::tls::{self, Session};

/// Clock value meaning "not decided yet".
const NOT_YET: u64 = u64::MAX;
/// How often a worker publishes its latency histogram for the progress line.
const PUBLISH_EVERY: Duration = Duration::from_millis(500);
/// The longest a worker sleeps in `poll` (it then looks at the clock again).
const MAX_SLEEP: Duration = Duration::from_millis(50);
/// With churn, how long a connection that failed or was closed by the server waits before it
/// is reopened (so that a server refusing connections is not hammered in a tight loop).
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Histograms record microseconds from 1 µs to one hour, to 3 significant figures.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// The run's shared clock: the measured window, in nanoseconds after `base`.
pub struct Clock {
    pub base: Instant,
    window_start: AtomicU64,
    window_end: AtomicU64,
}

impl Clock {
    pub fn new() -> Clock {
        Clock {
            base: Instant::now(),
            window_start: AtomicU64::new(NOT_YET),
            window_end: AtomicU64::new(NOT_YET),
        }
    }

    /// Opens the measured window at `start` for `duration` (the end is stored first, so a
    /// worker that sees the start also sees the end).
    pub fn open_window(&self, start: Instant, duration: Duration) {
        let start = self.nanos(start);
        self.window_end.store(start.saturating_add(duration.as_nanos() as u64), Relaxed);
        self.window_start.store(start, Relaxed);
    }

    /// Closes the window now (an interrupted run); opens a zero-length one if none was open.
    pub fn close_window_now(&self) {
        let now = self.nanos(Instant::now());
        if self.window_start.load(Relaxed) == NOT_YET {
            self.window_end.store(now, Relaxed);
            self.window_start.store(now, Relaxed);
        } else {
            self.window_end.fetch_min(now, Relaxed);
        }
    }

    /// The window, once open.
    pub fn window(&self) -> Option<(Instant, Instant)> {
        let start = self.window_start.load(Relaxed);
        let end = self.window_end.load(Relaxed);
        (start != NOT_YET && end != NOT_YET)
            .then(|| (self.base + Duration::from_nanos(start), self.base + Duration::from_nanos(end)))
    }

    fn nanos(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.base).as_nanos() as u64
    }

    fn phase(&self, t: Instant) -> Phase {
        let t = self.nanos(t);
        let start = self.window_start.load(Relaxed);
        if start == NOT_YET || t < start {
            Phase::Warmup
        } else if t < self.window_end.load(Relaxed) {
            Phase::Window
        } else {
            Phase::After
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Warmup,
    Window,
    After,
}

/// What a worker does.
pub struct Plan {
    pub addr: SocketAddr,
    pub request: Arc<[u8]>,
    pub connections: usize,
    /// Connection attempts started per second by this worker.
    pub connect_rate: f64,
    /// Most of this worker's connections connecting or awaiting their head at once.
    pub max_connecting: usize,
    /// Time from the connect to the response head before a connection counts as timed out.
    pub connect_timeout: Duration,
    pub read_buffer: usize,
    /// Established connections closed and reopened per second during the window (0: none).
    pub churn: f64,
    /// `--handshakes`: close every connection once its head is accepted, and reopen it at once.
    pub cycle: bool,
    /// `https`: every connection's TLS client.
    pub tls: Option<tls::Client>,
    /// `--h2`: the streams each connection opens (`request` is then their [`h2::opening`]);
    /// `None` for HTTP/1.1, one stream a connection.
    pub h2: Option<usize>,
}

/// A worker's live counters, read by the main thread for the progress line and for deciding
/// when the window opens.
pub struct Live {
    /// Connections whose response head was accepted (ever).
    pub established: AtomicU64,
    /// Connections that failed before their head was accepted.
    pub failed: AtomicU64,
    /// Established connections that have since closed (churned ones included).
    pub closed: AtomicU64,
    /// Connections closed on purpose by churn.
    pub churned: AtomicU64,
    /// Events received so far, warm-up included.
    pub events: AtomicU64,
    /// Latency of the current phase (warm-up, then window), refreshed every [`PUBLISH_EVERY`].
    pub latency: Mutex<Histogram<u64>>,
}

impl Live {
    pub fn new() -> Live {
        Live {
            established: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            closed: AtomicU64::new(0),
            churned: AtomicU64::new(0),
            events: AtomicU64::new(0),
            latency: Mutex::new(histogram()),
        }
    }
}

/// A worker's results.
pub struct Report {
    pub established: u64,
    /// Failure reason → count.
    pub failures: HashMap<String, u64>,
    /// Close reason → count, for established connections that the server closed (or that broke)
    /// during the run; closes made by churn are counted in `churned` instead.
    pub closes: HashMap<String, u64>,
    /// Connect start → response head accepted, µs.
    pub setup: Histogram<u64>,
    /// Delivery latency of the window's timestamped events, µs.
    pub latency: Histogram<u64>,
    pub window_events: u64,
    /// Events in the window whose data held no timestamp.
    pub window_unstamped: u64,
    /// Bytes read in the window (framing included).
    pub window_bytes: u64,
    /// Events received in the window by each established connection; empty with churn (a slot
    /// then stands for many short connections).
    pub per_connection: Vec<u64>,
    /// Events in the window whose last event ID was a number (`ssehub serve` numbers them).
    pub window_numbered: u64,
    /// Event IDs skipped in the window: for numbered events, the sum over each connection of
    /// `id - previous id - 1` wherever that is positive (events the server never delivered).
    pub window_id_gaps: u64,
    /// Connections closed on purpose by churn (all in the window).
    pub churned: u64,
    /// Connection attempts started, and streams established, in the window.
    pub window_attempts: u64,
    pub window_established: u64,
    /// The initial fill: when this worker's first connection attempt started, when the last of
    /// its first connections was established, and how many of them were.
    pub first_attempt: Option<Instant>,
    pub fill_done: Option<Instant>,
    pub fill_established: u64,
    /// Over TLS: what the handshakes agreed (version, cipher suite, key exchange, ALPN) → the
    /// streams established with it.
    pub agreed: HashMap<String, u64>,
}

struct Conn {
    sock: TcpStream,
    started: Instant,
    connected: bool,
    /// Plain HTTP: the bytes of the request written so far.
    written: usize,
    /// Over TLS: the session (which sends the request itself).
    session: Option<Session>,
    stream: Stream,
    /// The last numeric event ID received, to count skipped IDs.
    last_id: Option<u64>,
    /// `--h2`: the connection's HTTP/2 client (and `stream` is unused).
    h2: Option<Box<h2::Client>>,
}

/// Where one HTTP/2 stream is, for the counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum StreamState {
    /// Awaiting its response head.
    #[default]
    Pending,
    Open,
    /// Refused or ended (already counted).
    Done,
}

/// One HTTP/2 stream's share of the counts (an HTTP/1.1 slot keeps them in [`Slot`] and
/// [`Conn`]).
#[derive(Clone, Copy, Debug, Default)]
struct StreamCount {
    state: StreamState,
    /// Its head was accepted (on this connection).
    established: bool,
    window_events: u64,
    last_id: Option<u64>,
}

#[derive(Default)]
struct Slot {
    /// `None` once the connection failed or closed.
    conn: Option<Conn>,
    established: bool,
    window_events: u64,
    /// Connection attempts made on this slot: 1 for its first connection. A head deadline
    /// carries the attempt it was set for, so a reopened connection is not timed out by the
    /// deadline of an earlier one.
    attempt: u32,
    /// `--h2`: the connection's streams (empty for HTTP/1.1). `established` then says that
    /// every stream has been answered (accepted or refused), so the connection is set up.
    streams: Vec<StreamCount>,
}

impl Slot {
    /// Closes the established connection on purpose (churn, `--handshakes`), which is not
    /// counted as a close by the server; returns the streams it ends: 1, or over HTTP/2 those
    /// still open.
    fn close_on_purpose(&mut self) -> u64 {
        self.conn = None;
        self.established = false;
        if self.streams.is_empty() {
            return 1;
        }
        let open = self.streams.iter().filter(|s| s.state == StreamState::Open).count();
        for stream in &mut self.streams {
            stream.state = StreamState::Done;
        }
        open as u64
    }
}

/// Counters and histograms the read path updates.
struct Tally {
    events: u64,
    window_events: u64,
    window_unstamped: u64,
    window_bytes: u64,
    window_numbered: u64,
    window_id_gaps: u64,
    window_attempts: u64,
    window_established: u64,
    warmup_latency: Histogram<u64>,
    latency: Histogram<u64>,
    setup: Histogram<u64>,
    in_flight: usize,
    established: u64,
    failed: u64,
    closed: u64,
    churned: u64,
    fill_established: u64,
    fill_done: Option<Instant>,
    failures: HashMap<String, u64>,
    closes: HashMap<String, u64>,
    agreed: HashMap<String, u64>,
}

impl Tally {
    /// The connection in `slot` is over: count it (over HTTP/2, each of its streams not over
    /// yet), and close its socket.
    fn finish(&mut self, slot: &mut Slot, reason: String) {
        slot.conn = None;
        if !slot.streams.is_empty() {
            if !slot.established {
                self.in_flight -= 1;
            }
            for stream in &mut slot.streams {
                match stream.state {
                    StreamState::Pending => self.refused(&reason),
                    StreamState::Open => self.ended(&reason),
                    StreamState::Done => {}
                }
                stream.state = StreamState::Done;
            }
        } else if slot.established {
            self.closed += 1;
            *self.closes.entry(reason).or_default() += 1;
        } else {
            self.in_flight -= 1;
            self.failed += 1;
            *self.failures.entry(reason).or_default() += 1;
        }
    }
}

impl Tally {
    /// A stream failed before its head was accepted.
    fn refused(&mut self, reason: &str) {
        self.failed += 1;
        *self.failures.entry(reason.to_owned()).or_default() += 1;
    }

    /// An established stream ended.
    fn ended(&mut self, reason: &str) {
        self.closed += 1;
        *self.closes.entry(reason.to_owned()).or_default() += 1;
    }

    /// A stream's head was accepted at `received`: its set-up time (from `started`, its
    /// connection's connect), the fill, and what TLS agreed for it.
    fn established(
        &mut self,
        received: Instant,
        started: Instant,
        phase: Phase,
        attempt: u32,
        agreed: Option<String>,
    ) {
        self.established += 1;
        self.setup.saturating_record(received.saturating_duration_since(started).as_micros() as u64);
        if phase == Phase::Window {
            self.window_established += 1;
        }
        if attempt == 1 {
            self.fill_established += 1;
            self.fill_done = Some(received);
        }
        if let Some(agreed) = agreed {
            *self.agreed.entry(agreed).or_default() += 1;
        }
    }

    /// An event received on a stream (`window_events` and `last_id` are that stream's):
    /// counted, its latency from the timestamp its data starts with, the IDs it skipped.
    fn event(
        &mut self,
        phase: Phase,
        now_ns: u64,
        (window_events, last_id): (&mut u64, &mut Option<u64>),
        data: &str,
        id: &str,
    ) {
        self.events += 1;
        let latency = timestamp_ns(data).map(|sent| now_ns.saturating_sub(sent) / 1000);
        let numbered = id.parse::<u64>().ok();
        if let Some(id) = numbered {
            if phase == Phase::Window {
                self.window_numbered += 1;
                if let Some(prev) = *last_id {
                    self.window_id_gaps += id.saturating_sub(prev).saturating_sub(1);
                }
            }
            *last_id = Some(id);
        }
        match phase {
            Phase::Warmup => {
                if let Some(us) = latency {
                    self.warmup_latency.saturating_record(us);
                }
            }
            Phase::Window => {
                *window_events += 1;
                self.window_events += 1;
                match latency {
                    Some(us) => self.latency.saturating_record(us),
                    None => self.window_unstamped += 1,
                }
            }
            Phase::After => {}
        }
    }
}

/// Runs one worker until the window closes.
pub fn run(plan: Plan, clock: Arc<Clock>, live: Arc<Live>) -> io::Result<Report> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; plan.read_buffer];
    // Over TLS, the plaintext of one read (it holds at most what the read brought).
    let mut plain: Vec<u8> = Vec::with_capacity(if plan.tls.is_some() { plan.read_buffer } else { 0 });
    let mut slots: Vec<Slot> = Vec::with_capacity(plan.connections);
    // Connection attempts in start order, with the time their head is due by and the attempt.
    let mut deadlines: VecDeque<(Instant, usize, u32)> = VecDeque::with_capacity(plan.max_connecting);
    // With churn: slots to reopen now (churned), and after a pause (failed or closed by the server).
    let mut reopen: VecDeque<usize> = VecDeque::new();
    let mut retry: VecDeque<(Instant, usize)> = VecDeque::new();
    let churning = plan.churn > 0.0;
    // Whether a connection that failed or was closed by the server is opened again.
    let reopening = churning || plan.cycle;
    let mut churn_due_from: Option<Instant> = None;
    let mut victim = 0usize;
    let mut first_attempt = None;
    let mut t = Tally {
        events: 0,
        window_events: 0,
        window_unstamped: 0,
        window_bytes: 0,
        window_numbered: 0,
        window_id_gaps: 0,
        window_attempts: 0,
        window_established: 0,
        warmup_latency: histogram(),
        latency: histogram(),
        setup: histogram(),
        in_flight: 0,
        established: 0,
        failed: 0,
        closed: 0,
        churned: 0,
        fill_established: 0,
        fill_done: None,
        failures: HashMap::new(),
        closes: HashMap::new(),
        agreed: HashMap::new(),
    };
    let mut next_publish = Instant::now();

    loop {
        let now = Instant::now();
        let phase = clock.phase(now);
        if phase == Phase::After {
            break;
        }

        // Start the connections that are due, within the cap on those in flight: the first
        // ones at the connect pace, then (with churn) the ones to reopen.
        let due = ((now - clock.base).as_secs_f64() * plan.connect_rate) as usize + 1;
        loop {
            if t.in_flight >= plan.max_connecting {
                break;
            }
            let i = if slots.len() < plan.connections.min(due) {
                slots.push(Slot::default());
                slots.len() - 1
            } else if let Some(i) = reopen.pop_front() {
                i
            } else if retry.front().is_some_and(|&(at, _)| at <= now) {
                retry.pop_front().map_or(0, |(_, i)| i)
            } else {
                break;
            };
            let started = Instant::now();
            first_attempt.get_or_insert(started);
            if phase == Phase::Window {
                t.window_attempts += 1;
            }
            let slot = &mut slots[i];
            slot.attempt += 1;
            slot.established = false;
            t.in_flight += 1;
            let session = match &plan.tls {
                Some(client) => match client.session(&plan.request) {
                    Ok(session) => Some(session),
                    Err(reason) => {
                        t.finish(slot, reason);
                        if reopening {
                            retry.push_back((now + RETRY_PAUSE, i));
                        }
                        continue;
                    }
                },
                None => None,
            };
            match TcpStream::connect(plan.addr).and_then(|mut sock| {
                poll.registry().register(&mut sock, Token(i), Interest::READABLE | Interest::WRITABLE)?;
                Ok(sock)
            }) {
                Ok(sock) => {
                    slot.conn = Some(Conn {
                        sock,
                        started,
                        connected: false,
                        written: 0,
                        session,
                        stream: Stream::new(),
                        last_id: None,
                        h2: plan.h2.map(|m| Box::new(h2::Client::new(m))),
                    });
                    if let Some(m) = plan.h2 {
                        slot.streams.clear();
                        slot.streams.resize(m, StreamCount::default());
                    }
                    deadlines.push_back((started + plan.connect_timeout, i, slot.attempt));
                }
                Err(e) => {
                    t.finish(slot, connect_error(&e));
                    if reopening {
                        retry.push_back((now + RETRY_PAUSE, i));
                    }
                }
            }
        }

        // Connections still without a response head when it was due.
        while let Some(&(deadline, i, attempt)) = deadlines.front() {
            if deadline > now {
                break;
            }
            deadlines.pop_front();
            let slot = &mut slots[i];
            if slot.attempt == attempt && slot.conn.is_some() && !slot.established {
                t.finish(slot, "timeout".to_owned());
                if reopening {
                    retry.push_back((now + RETRY_PAUSE, i));
                }
            }
        }

        // Churn: close established connections round-robin at the churn pace; each is
        // reopened at once (above, on the next turn).
        if churning && phase == Phase::Window {
            let from = *churn_due_from.get_or_insert(now);
            let due = (now.saturating_duration_since(from).as_secs_f64() * plan.churn) as u64;
            let mut scanned = 0;
            while t.churned < due {
                if scanned == slots.len() {
                    // No established connection to close: skip what is due rather than burst later.
                    churn_due_from = Some(now - Duration::from_secs_f64(t.churned as f64 / plan.churn));
                    break;
                }
                let i = victim;
                victim = (victim + 1) % slots.len();
                scanned += 1;
                let slot = &mut slots[i];
                if slot.established && slot.conn.is_some() {
                    t.closed += slot.close_on_purpose();
                    t.churned += 1;
                    reopen.push_back(i);
                }
            }
            if !reopen.is_empty() && t.in_flight < plan.max_connecting {
                continue; // reopen them now
            }
        }

        live.events.store(t.events, Relaxed);
        live.established.store(t.established, Relaxed);
        live.failed.store(t.failed, Relaxed);
        live.closed.store(t.closed, Relaxed);
        live.churned.store(t.churned, Relaxed);
        if now >= next_publish {
            next_publish = now + PUBLISH_EVERY;
            let current = if phase == Phase::Window { &t.latency } else { &t.warmup_latency };
            if let Ok(mut shared) = live.latency.lock() {
                let _ = shared.set_to(current);
            }
        }

        // Sleep until the next thing due: a connect, a head deadline, a churn, the window's end.
        let mut wake = now + MAX_SLEEP;
        if t.in_flight < plan.max_connecting {
            if slots.len() < plan.connections {
                wake = wake.min(clock.base + Duration::from_secs_f64(slots.len() as f64 / plan.connect_rate));
            }
            if let Some(&(at, _)) = retry.front() {
                wake = wake.min(at);
            }
        }
        if let Some(&(deadline, _, _)) = deadlines.front() {
            wake = wake.min(deadline);
        }
        if let Some((start, end)) = clock.window() {
            wake = wake.min(end);
            if churning {
                let from = churn_due_from.unwrap_or(start);
                wake = wake.min(from + Duration::from_secs_f64((t.churned + 1) as f64 / plan.churn));
            }
        }
        match poll.poll(&mut events, Some(wake.saturating_duration_since(now))) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }

        for event in events.iter() {
            let i = event.token().0;
            let slot = &mut slots[i];
            let closing = event.is_read_closed() || event.is_error();
            let bufs = Buffers { read: &mut buf, plain: &mut plain };
            match on_ready(slot, &plan.request, bufs, closing, &clock, &mut t) {
                Err(reason) => {
                    t.finish(slot, reason);
                    if reopening {
                        retry.push_back((Instant::now() + RETRY_PAUSE, i));
                    }
                }
                // --handshakes: this one is set up; close it and start another.
                Ok(()) if plan.cycle && slot.established && slot.conn.is_some() => {
                    t.closed += slot.close_on_purpose();
                    reopen.push_back(i);
                }
                Ok(()) => {}
            }
        }
    }

    // The window is over: whatever is still connecting never made it (with --handshakes they
    // were merely the next set-ups, cut short).
    for slot in slots.iter_mut().filter(|s| s.conn.is_some() && !s.established) {
        // Over HTTP/2, the connection's streams already established were not cut short.
        for stream in slot.streams.iter_mut().filter(|s| s.state == StreamState::Open) {
            stream.state = StreamState::Done;
        }
        match plan.cycle {
            true => slot.conn = None,
            false => t.finish(slot, "not established by the end of the run".to_owned()),
        }
    }
    let per_connection = match (reopening, plan.h2) {
        (true, _) => Vec::new(),
        (false, None) => slots.iter().filter(|s| s.established).map(|s| s.window_events).collect(),
        // Over HTTP/2: per stream.
        (false, Some(_)) => {
            slots.iter().flat_map(|s| &s.streams).filter(|s| s.established).map(|s| s.window_events).collect()
        }
    };
    live.events.store(t.events, Relaxed);
    live.failed.store(t.failed, Relaxed);
    Ok(Report {
        established: t.established,
        failures: t.failures,
        closes: t.closes,
        setup: t.setup,
        latency: t.latency,
        window_events: t.window_events,
        window_unstamped: t.window_unstamped,
        window_bytes: t.window_bytes,
        per_connection,
        window_numbered: t.window_numbered,
        window_id_gaps: t.window_id_gaps,
        churned: t.churned,
        window_attempts: t.window_attempts,
        window_established: t.window_established,
        first_attempt,
        fill_done: t.fill_done,
        fill_established: t.fill_established,
        agreed: t.agreed,
    })
}

/// Handles readiness of one connection; `Err(reason)` when it is over.
///
/// Reads until `WouldBlock`, with one shortcut that halves the read calls when every event
/// comes on its own: a read that returns less than the buffer has emptied the socket (epoll(7)
/// says so for stream sockets), and any byte that arrives later raises a new edge. Only when the
/// edge also announced the peer's FIN or an error (`closing`) does it read on to learn of it,
/// since no later edge would.
/// A worker's two buffers: what a read brought, and (over TLS) the plaintext it held.
struct Buffers<'a> {
    read: &'a mut [u8],
    plain: &'a mut Vec<u8>,
}

fn on_ready(
    slot: &mut Slot,
    request: &[u8],
    bufs: Buffers<'_>,
    closing: bool,
    clock: &Clock,
    t: &mut Tally,
) -> Result<(), String> {
    let Buffers { read: buf, plain } = bufs;
    let Some(conn) = slot.conn.as_mut() else { return Ok(()) };
    if !conn.connected {
        // A non-blocking connect has finished when the socket has an error or a peer.
        if let Some(e) = conn.sock.take_error().map_err(|e| connect_error(&e))? {
            return Err(connect_error(&e));
        }
        match conn.sock.peer_addr() {
            Ok(_) => conn.connected = true,
            Err(e) if e.kind() == ErrorKind::NotConnected => return Ok(()),
            Err(e) => return Err(connect_error(&e)),
        }
    }
    if conn.h2.is_some() {
        return on_ready_h2(slot, request, Buffers { read: buf, plain }, closing, clock, t);
    }
    match &mut conn.session {
        // Handshake messages, then the request (and, later, alerts or key updates); a full
        // socket leaves the rest for the next writable edge, and the reads go on meanwhile.
        Some(session) => session.write_to(&mut conn.sock).map_err(|e| io_error("write", &e))?,
        None => {
            while conn.written < request.len() {
                match conn.sock.write(&request[conn.written..]) {
                    Ok(n) => conn.written += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(io_error("write", &e)),
                }
            }
        }
    }
    loop {
        let n = match conn.sock.read(buf) {
            Ok(0) => return Err(stop_reason(conn.stream.eof())),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_error("read", &e)),
        };
        let mut tls_closed = false;
        let bytes: &[u8] = match &mut conn.session {
            None => &buf[..n],
            Some(session) => {
                plain.clear();
                let received = session.received(&buf[..n], plain);
                // What the session has to answer (the client's Finished, alerts) goes out
                // even when it failed.
                let wrote = session.write_to(&mut conn.sock);
                tls_closed = received? == tls::Received::Closed;
                wrote.map_err(|e| io_error("write", &e))?;
                &plain[..]
            }
        };
        let received = Instant::now();
        let phase = clock.phase(received);
        let now_ns = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        if phase == Phase::Window {
            t.window_bytes += n as u64;
        }
        let was_established = slot.established;
        let window_events = &mut slot.window_events;
        let mut last_id = conn.last_id;
        let fed = conn.stream.feed(bytes, &mut |data: &str, id: &str| {
            t.event(phase, now_ns, (&mut *window_events, &mut last_id), data, id);
        });
        conn.last_id = last_id;
        if !was_established && conn.stream.established() {
            slot.established = true;
            t.in_flight -= 1;
            t.established(
                received,
                conn.started,
                phase,
                slot.attempt,
                conn.session.as_ref().map(Session::agreed),
            );
        }
        fed.map_err(stop_reason)?;
        if tls_closed {
            // close_notify: the server ended the stream (as a FIN does in plain HTTP).
            return Err(stop_reason(conn.stream.eof()));
        }
        if n < buf.len() && !closing {
            return Ok(());
        }
    }
}

/// [`on_ready`] for an HTTP/2 connection (connected): writes the opening (`request`) and the
/// client's frames, reads until `WouldBlock` as the HTTP/1.1 path does, and counts what each
/// stream reports. `Err(reason)` when the connection is over; its streams still open or pending
/// are then counted by [`Tally::finish`].
fn on_ready_h2(
    slot: &mut Slot,
    request: &[u8],
    bufs: Buffers<'_>,
    closing: bool,
    clock: &Clock,
    t: &mut Tally,
) -> Result<(), String> {
    let Buffers { read: buf, plain } = bufs;
    let Slot { conn: Some(conn), streams, attempt, established, .. } = slot else { return Ok(()) };
    let Conn { sock, started, written, session, h2: Some(client), .. } = conn else { return Ok(()) };
    send_h2(sock, session, request, written, client)?;
    loop {
        let n = match sock.read(buf) {
            Ok(0) => return Err(client.closed_reason()),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_error("read", &e)),
        };
        let mut tls_closed = false;
        let bytes: &[u8] = match session {
            None => &buf[..n],
            Some(session) => {
                plain.clear();
                let received = session.received(&buf[..n], plain);
                let wrote = session.write_to(sock);
                tls_closed = received? == tls::Received::Closed;
                wrote.map_err(|e| io_error("write", &e))?;
                if !plain.is_empty() && session.alpn() != Some(b"h2") {
                    let alpn = session.alpn().map_or("none".into(), String::from_utf8_lossy);
                    return Err(format!("TLS: the server did not agree to h2 (ALPN: {alpn})"));
                }
                &plain[..]
            }
        };
        let received = Instant::now();
        let phase = clock.phase(received);
        let now_ns = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        if phase == Phase::Window {
            t.window_bytes += n as u64;
        }
        let agreed = session.as_ref().filter(|_| !*established).map(Session::agreed);
        let (started, attempt) = (*started, *attempt);
        let fed = client.feed(bytes, &mut |k, happened| {
            let stream = &mut streams[k];
            match happened {
                Happened::Established => {
                    stream.state = StreamState::Open;
                    stream.established = true;
                    t.established(received, started, phase, attempt, agreed.clone());
                }
                Happened::Event { data, id } => {
                    t.event(phase, now_ns, (&mut stream.window_events, &mut stream.last_id), data, id);
                }
                Happened::Refused(reason) => {
                    stream.state = StreamState::Done;
                    t.refused(reason);
                }
                Happened::Ended(reason) => {
                    stream.state = StreamState::Done;
                    t.ended(reason);
                }
            }
        });
        if !*established && streams.iter().all(|s| s.state != StreamState::Pending) {
            *established = true;
            t.in_flight -= 1;
        }
        // Acknowledgements and window updates go out even when the connection failed (the
        // GOAWAY that says why).
        let sent = send_h2(sock, session, request, written, client);
        fed?;
        sent?;
        if client.finished() {
            return Err("every stream ended".to_owned());
        }
        if tls_closed {
            return Err(client.closed_reason());
        }
        if n < buf.len() && !closing {
            return Ok(());
        }
    }
}

/// Writes what an HTTP/2 connection has to send: the rest of its opening, then its client's
/// frames (through the TLS session when there is one), until done or the socket is full (the
/// rest then waits for the next writable edge; reading goes on meanwhile).
fn send_h2(
    sock: &mut TcpStream,
    session: &mut Option<Session>,
    opening: &[u8],
    written: &mut usize,
    client: &mut h2::Client,
) -> Result<(), String> {
    let out = client.output();
    if let Some(session) = session {
        // The opening went into the session when it was made.
        if !out.is_empty() {
            session.send(out)?;
            out.clear();
        }
        return session.write_to(sock).map_err(|e| io_error("write", &e));
    }
    while *written < opening.len() || !out.is_empty() {
        let pending = match *written < opening.len() {
            true => &opening[*written..],
            false => &out[..],
        };
        match sock.write(pending) {
            Ok(0) => return Err(io_error("write", &ErrorKind::WriteZero.into())),
            Ok(n) if *written < opening.len() => *written += n,
            Ok(n) => drop(out.drain(..n)),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error("write", &e)),
        }
    }
    Ok(())
}

fn stop_reason(stop: Stop) -> String {
    match stop {
        Stop::Refused(r) => r.to_string(),
        Stop::Ended(e) => e.to_string(),
    }
}

fn connect_error(e: &io::Error) -> String {
    match e.kind() {
        ErrorKind::ConnectionReset => "reset".to_owned(),
        ErrorKind::TimedOut => "timeout".to_owned(),
        kind => format!("connect error: {kind}"),
    }
}

fn io_error(what: &str, e: &io::Error) -> String {
    match e.kind() {
        ErrorKind::ConnectionReset => "reset".to_owned(),
        kind => format!("{what} error: {kind}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A canned server on 127.0.0.1: the first connection gets a 404, the others a chunked
    /// stream of three events (two with timestamps), written a few bytes at a time.
    fn serve(listener: TcpListener, connections: usize) {
        for i in 0..connections {
            let (mut sock, _) = listener.accept().unwrap();
            let mut req = [0u8; 1024];
            let _ = sock.read(&mut req).unwrap();
            assert!(req.starts_with(b"GET /sse HTTP/1.1\r\nHost: "));
            if i == 0 {
                sock.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n").unwrap();
                continue;
            }
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
            let body = format!("data: {now} xx\n\ndata: not a time\n\ndata: {now}\n\n");
            let wire = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n\
                 {:x}\r\n{body}\r\n0\r\n\r\n",
                body.len()
            );
            for piece in wire.as_bytes().chunks(7) {
                sock.write_all(piece).unwrap();
                sock.flush().unwrap();
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    #[test]
    fn counts_events_failures_and_closes_over_real_sockets() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || serve(listener, 4));
        let clock = Arc::new(Clock::new());
        clock.open_window(clock.base, Duration::from_millis(500));
        let plan = Plan {
            addr,
            request: super::super::url::Url::parse(&format!("http://{addr}/sse"))
                .unwrap()
                .request("bench", &[])
                .into(),
            connections: 4,
            connect_rate: 1000.0,
            max_connecting: 1, // one at a time, so the 404 goes to the first
            connect_timeout: Duration::from_secs(5),
            read_buffer: 16,
            churn: 0.0,
            cycle: false,
            tls: None,
            h2: None,
        };
        let live = Arc::new(Live::new());
        let report = run(plan, clock, Arc::clone(&live)).unwrap();
        server.join().unwrap();

        assert_eq!(report.established, 3);
        assert_eq!(report.failures, HashMap::from([("status 404".to_owned(), 1)]));
        assert_eq!(report.closes, HashMap::from([("body ended (last chunk)".to_owned(), 3)]));
        assert_eq!(report.window_events, 9);
        assert_eq!(report.window_unstamped, 3);
        assert_eq!(report.latency.len(), 6);
        assert_eq!(report.setup.len(), 3);
        assert_eq!(report.per_connection, [3, 3, 3]);
        assert!(report.window_bytes > 0);
        assert_eq!(live.events.load(Relaxed), 9);
    }

    #[test]
    fn churn_closes_and_reopens_and_counts_no_loss() {
        let server = ssehub::Server::builder().keep_alive(None).bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr();
        let hub = server.broadcaster();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let publisher = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(Relaxed) {
                    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
                    let _ = hub.send(ssehub::Event::new(format!("{now} x")));
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };
        let clock = Arc::new(Clock::new());
        // Window from 200 ms to 1.2 s: all 8 connections are open by then.
        clock.open_window(clock.base + Duration::from_millis(200), Duration::from_secs(1));
        let plan = Plan {
            addr,
            request: super::super::url::Url::parse(&format!("http://{addr}/sse"))
                .unwrap()
                .request("bench", &[])
                .into(),
            connections: 8,
            connect_rate: 1000.0,
            max_connecting: 8,
            connect_timeout: Duration::from_secs(5),
            read_buffer: 64 * 1024,
            churn: 40.0,
            cycle: false,
            tls: None,
            h2: None,
        };
        let live = Arc::new(Live::new());
        let report = run(plan, clock, Arc::clone(&live)).unwrap();
        stop.store(true, Relaxed);
        publisher.join().unwrap();
        server.shutdown();

        assert!((30..=41).contains(&report.churned), "churned {}", report.churned);
        assert!(report.window_established + 1 >= report.churned, "{} reopened", report.window_established);
        assert_eq!(report.established, 8 + report.window_established);
        assert!(report.failures.is_empty(), "{:?}", report.failures);
        assert!(report.closes.is_empty(), "churn is not counted as a close: {:?}", report.closes);
        assert!(report.per_connection.is_empty(), "no per-connection counts with churn");
        assert_eq!((report.fill_established, report.first_attempt.is_some()), (8, true));
        assert!(report.window_numbered > 0 && report.window_id_gaps == 0, "{}", report.window_id_gaps);
        assert_eq!(live.churned.load(Relaxed), report.churned);
    }
}
