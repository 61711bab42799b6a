//! One worker thread: a `mio::Poll` over its connections, in the style of mio's `tcp_server`
//! example. Sockets are registered once for read and write readiness (edge-triggered, so an
//! idle writable socket costs nothing); each readiness drains the socket until `WouldBlock`.
//!
//! The loop, each turn: wait for readiness or the next timer; read what is readable and feed it
//! to the connection's [`Conn`]; run the mailbox (sends, broadcasts, adopted sockets); write
//! what is queued; on the housekeeping tick, time out slow request heads and send keep-alives.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Read};
use std::net::Shutdown;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

use super::descriptors::{self, Spare};
use super::handle::{ClientInner, Command, Join, WAIT, unavailable};
use super::{Client, Shared, WorkerStats};
use crate::http::request::{Request, Version};
use crate::http::response::{Response, write_stream_head};
use crate::http::route::{Decision, route};
use crate::hub::fanout::{Member, Replaying, Subscriptions};
use crate::hub::{DEFAULT_CHANNEL, Resume, Target, Then, publish, requested_channels, validate_channels};
use crate::proto::conn::Settings;
use crate::proto::{Conn, Frame, Input, Phase, QueuePool};

pub(crate) const WAKER: Token = Token(0);
const LISTENER: Token = Token(1);
const FIRST_CONN: usize = 2;

/// How often timeouts are checked.
const TICK: Duration = Duration::from_millis(250);
/// How long a connection closed after an error answer keeps reading (and dropping) input, so
/// that unread input does not turn the close into a reset that destroys the answer in flight.
const LINGER: Duration = Duration::from_secs(2);
/// How long accepting pauses after `accept` fails (out of descriptors, say).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Most replay bytes taken from the hub at once (under its lock) once a stream's first replay
/// is written, per stream.
pub(crate) const REPLAY_BATCH: usize = 64 * 1024;

struct Live {
    sock: TcpStream,
    conn: Conn,
    /// The application's handle, while the connection streams.
    client: Option<Arc<ClientInner>>,
    /// Channels and the last publish delivered, while the connection streams.
    member: Option<Member>,
    /// Something was queued since the last keep-alive tick (so no keep-alive is needed).
    active: bool,
    /// Closing after an answer: input is dropped until EOF or this instant.
    linger: Option<Instant>,
    /// The peer closed its side (or the socket failed): nothing to linger for.
    peer_eof: bool,
    /// Reading stopped because answers fill the queue; writing resumes it.
    read_paused: bool,
    /// The last time the queue was empty or a write made progress (for `send_timeout`).
    progress: Instant,
    /// A stream request waiting for the backplane's read thread (see `Command::Joined`).
    pending: Option<Box<PendingStream>>,
}

/// What starting a deferred stream needs once the backplane has answered.
struct PendingStream {
    req: Request,
    headers: Vec<(String, String)>,
}

struct Slot {
    generation: u32,
    live: Option<Live>,
}

pub(crate) struct Worker {
    index: usize,
    poll: Poll,
    listener: Option<TcpListener>,
    slots: Vec<Slot>,
    /// Free slots below the table's end, lowest first.
    free: BinaryHeap<Reverse<usize>>,
    next_generation: u32,
    shared: Arc<Shared>,
    read_buf: Vec<u8>,
    commands: Vec<Command>,
    dirty: Vec<usize>,
    /// Every stream may have something new queued (a publish to all, a shutdown).
    flush_all_pending: bool,
    /// When the last write pass started, and when the next one is due (see `maybe_flush`).
    last_flush: Instant,
    next_flush: Option<Instant>,
    subs: Subscriptions,
    /// The bytes queued by all of this worker's connections, and their bound.
    pool: QueuePool,
    default_channels: Arc<[Arc<str>]>,
    first_frames: Vec<Frame>,
    keepalive_frame: Frame,
    next_keepalive: Option<Instant>,
    next_tick: Instant,
    accept_paused: bool,
    /// A descriptor held back for answering waiting clients when the table is full.
    spare: Spare,
    shutdown_deadline: Option<Instant>,
}

impl Worker {
    pub(crate) fn new(
        index: usize,
        poll: Poll,
        mut listener: Option<TcpListener>,
        shared: Arc<Shared>,
    ) -> io::Result<Worker> {
        if let Some(l) = listener.as_mut() {
            poll.registry().register(l, LISTENER, Interest::READABLE)?;
        }
        let mut first_frames = vec![Frame::comment("ok")];
        if let Some(ms) = shared.config.initial_retry {
            first_frames
                .push(Frame::event(&crate::Event::default().retry(ms)).expect("retry is always valid"));
        }
        let now = Instant::now();
        let next_keepalive = shared.config.keep_alive.map(|d| now + d);
        let pool = shared.stats.workers[index].pool.clone();
        Ok(Worker {
            index,
            poll,
            listener,
            slots: Vec::new(),
            free: BinaryHeap::new(),
            next_generation: 0,
            shared,
            read_buf: vec![0; 64 * 1024],
            commands: Vec::new(),
            dirty: Vec::new(),
            flush_all_pending: false,
            last_flush: now,
            next_flush: None,
            subs: Subscriptions::default(),
            pool,
            default_channels: Arc::new([Arc::from(DEFAULT_CHANNEL)]),
            first_frames,
            keepalive_frame: Frame::comment(""),
            next_keepalive,
            next_tick: now + TICK,
            accept_paused: false,
            spare: Spare::new(),
            shutdown_deadline: None,
        })
    }

    pub(crate) fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        loop {
            let now = Instant::now();
            let mut wake_at = self.next_tick;
            if let Some(k) = self.next_keepalive {
                wake_at = wake_at.min(k);
            }
            if let Some(f) = self.next_flush {
                wake_at = wake_at.min(f);
            }
            if let Err(e) = self.poll.poll(&mut events, Some(wake_at.saturating_duration_since(now))) {
                if e.kind() != io::ErrorKind::Interrupted {
                    eprintln!("ssehub: worker {}: poll failed: {e}", self.index);
                    break;
                }
            }
            let now = Instant::now();
            for event in events.iter() {
                match event.token() {
                    WAKER => {}
                    LISTENER => self.accept(now),
                    Token(t) => {
                        let i = t - FIRST_CONN;
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            self.read(i, now);
                        }
                        if event.is_writable() {
                            self.flush(i, now);
                        }
                    }
                }
            }
            self.run_commands(now);
            if self.next_flush.is_some_and(|f| now >= f) {
                self.flush_pending(now);
            }
            if now >= self.next_tick {
                self.tick(now);
            }
            if let Some(k) = self.next_keepalive {
                if now >= k {
                    self.keepalive(now);
                }
            }
            if let Some(deadline) = self.shutdown_deadline {
                if now >= deadline || self.slots.iter().all(|s| s.live.is_none()) {
                    break;
                }
            }
        }
        for i in 0..self.slots.len() {
            self.finalize(i);
        }
    }

    fn accept(&mut self, now: Instant) {
        if self.accept_paused || self.shutdown_deadline.is_some() {
            return;
        }
        let shared = self.shared.clone();
        let stats = &shared.stats;
        loop {
            let Some(listener) = self.listener.as_ref() else { return };
            match listener.accept() {
                Ok((sock, _)) => {
                    Shared::count(&stats.accepted);
                    if stats.connections.load(Ordering::Relaxed) >= shared.max_connections {
                        refuse(sock, stats);
                        continue;
                    }
                    stats.connections.fetch_add(1, Ordering::Relaxed);
                    let _ = sock.set_nodelay(true);
                    let n = shared.mailboxes.len();
                    let target = shared.next_worker.fetch_add(1, Ordering::Relaxed) % n;
                    if target == self.index {
                        self.adopt(sock, now);
                    } else {
                        shared.mailboxes[target].post(Command::Adopt(sock));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if descriptors::exhausted(&e) && self.answer_with_spare(stats) => {}
                Err(_) => {
                    // ENOBUFS, or out of descriptors with no spare: the pending connections wait
                    // in the backlog and the tick tries again; no busy loop, nothing else stops.
                    self.accept_paused = true;
                    self.next_tick = self.next_tick.min(now + ACCEPT_BACKOFF);
                    break;
                }
            }
        }
    }

    /// Out of descriptors: frees the spare one to accept a waiting client and tell it `503`
    /// (see [`descriptors`]); `false` when there was no spare or no client.
    fn answer_with_spare(&mut self, stats: &super::Stats) -> bool {
        let Some(listener) = self.listener.as_ref() else { return false };
        let mut answered = false;
        let lent = self.spare.lend(|| {
            if let Ok((sock, _)) = listener.accept() {
                Shared::count(&stats.accepted);
                refuse(sock, stats);
                answered = true;
            }
        });
        lent && answered
    }

    fn adopt(&mut self, mut sock: TcpStream, now: Instant) {
        if self.shutdown_deadline.is_some() {
            self.shared.stats.connections.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        // The lowest free slot, so that the table's tail empties and can be given back.
        let i = loop {
            match self.free.pop() {
                Some(Reverse(i)) if i < self.slots.len() => break i,
                Some(_) => continue, // beyond a table that has since shrunk
                None => {
                    self.slots.push(Slot { generation: 0, live: None });
                    break self.slots.len() - 1;
                }
            }
        };
        // Generations come from one counter, not per slot, so a slot dropped with the tail and
        // made again never repeats a generation a stale `Client` handle may still hold.
        self.slots[i].generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1);
        let token = Token(FIRST_CONN + i);
        if self.poll.registry().register(&mut sock, token, Interest::READABLE | Interest::WRITABLE).is_err() {
            self.shared.stats.connections.fetch_sub(1, Ordering::Relaxed);
            self.release_slot(i);
            return;
        }
        let config = &self.shared.config;
        let settings = Settings {
            max_queue_bytes: config.max_queue_bytes,
            header_timeout: config.header_timeout,
            idle_timeout: config.idle_timeout,
        };
        let conn = Conn::in_pool(settings, self.pool.clone(), now);
        self.slots[i].live = Some(Live {
            sock,
            conn,
            client: None,
            member: None,
            active: false,
            linger: None,
            peer_eof: false,
            read_paused: false,
            progress: now,
            pending: None,
        });
        // Data may have arrived before registration; edge-triggered readiness would not repeat it.
        self.read(i, now);
    }

    /// Reads what connection `i` has sent and acts on it, writing answers as it goes; while
    /// answers fill the queue, reading pauses (see [`Conn::wants_read`]) and resumes here.
    fn read(&mut self, i: usize, now: Instant) {
        loop {
            self.read_some(i, now);
            self.write_out(i, now);
            match self.slots.get_mut(i).and_then(|s| s.live.as_mut()) {
                Some(live) if live.read_paused && live.conn.wants_read() => {
                    live.read_paused = false;
                    // Complete requests may wait in the input already: answer them before
                    // reading more (the socket may have nothing new to say).
                    self.take_requests(i, now);
                }
                _ => return,
            }
        }
    }

    /// Reads until the socket would block, the peer closes, or the connection wants no input.
    fn read_some(&mut self, i: usize, now: Instant) {
        let mut buf = std::mem::take(&mut self.read_buf);
        while let Some(live) = self.slots.get_mut(i).and_then(|s| s.live.as_mut()) {
            if live.linger.is_none() && !live.conn.wants_read() {
                live.read_paused = true;
                break;
            }
            match live.sock.read(&mut buf) {
                Ok(0) => {
                    live.peer_eof = true;
                    if live.conn.phase() == Phase::Streaming {
                        // A stream's client left (EventSource clients never half-close).
                        live.conn.abort();
                    } else {
                        live.conn.peer_closed();
                    }
                    break;
                }
                Ok(n) => {
                    if live.linger.is_none() {
                        live.conn.received(&buf[..n], now);
                        if live.conn.phase() == Phase::Head {
                            self.take_requests(i, now);
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    if live.linger.is_none() {
                        Shared::count(&self.shared.stats.peer_errors);
                    }
                    live.peer_eof = true;
                    live.conn.abort();
                    break;
                }
            }
        }
        self.read_buf = buf;
    }

    fn take_requests(&mut self, i: usize, now: Instant) {
        loop {
            let Some(live) = self.slots.get_mut(i).and_then(|s| s.live.as_mut()) else { return };
            match live.conn.poll_request(&self.shared.config.limits, now) {
                Input::NeedMore => return,
                Input::Refused(_) => {
                    Shared::count(&self.shared.stats.rejected);
                    return;
                }
                Input::Request(request) => self.handle_request(i, request, now),
                Input::Expect(request) => self.handle_expect(i, &request, now),
            }
        }
    }

    /// Answers `Expect: 100-continue`: the body may come unless the request is refused already
    /// (a wrong publish token, a body for the stream path...), which is answered at once.
    fn handle_expect(&mut self, i: usize, req: &Request, now: Instant) {
        let shared = self.shared.clone();
        let config = &shared.config;
        let Some(live) = self.slots.get_mut(i).and_then(|s| s.live.as_mut()) else { return };
        let refusal = match route(req, &config.route) {
            Decision::Publish => {
                publish::authorize(req, config.publish_token.as_deref().unwrap_or_default()).err()
            }
            Decision::Respond { response, .. } => Some(response),
            Decision::Stream { .. } => Some(Response::error(400, "the stream path takes no request body")),
            Decision::Fallback | Decision::Metrics => None,
        };
        match refusal {
            None => live.conn.continue_body(),
            Some(response) => {
                Shared::count(&shared.stats.rejected);
                live.conn.respond(&response, &[], false, req.method == "HEAD", now);
            }
        }
    }

    fn handle_request(&mut self, i: usize, req: Request, now: Instant) {
        let shared = self.shared.clone();
        let config = &shared.config;
        let head_only = req.method == "HEAD";
        let keep_alive = req.version == Version::Http11 && req.keep_alive();
        let Some(live) = self.slots.get_mut(i).and_then(|s| s.live.as_mut()) else { return };
        match route(&req, &config.route) {
            Decision::Fallback => {
                let response = match &shared.callbacks.fallback {
                    Some(f) => {
                        catch(&shared, || f(&req)).unwrap_or_else(|| Response::error(500, "handler failed"))
                    }
                    None => Response::not_found(),
                };
                live.conn.respond(&response, &[], keep_alive, head_only, now);
            }
            Decision::Publish => {
                let token = config.publish_token.as_deref().unwrap_or_default();
                let response = match publish::check(&req, token) {
                    Err(refusal) => {
                        Shared::count(&shared.stats.rejected);
                        refusal
                    }
                    Ok(p) => match &shared.backplane {
                        // Acknowledged once Redis has it: the publish thread answers, later.
                        Some(backplane) => {
                            live.conn.defer(WAIT, now);
                            let at = (self.index, i, self.slots[i].generation);
                            if backplane.publish_http(at, p.target, p.event, (keep_alive, head_only)) {
                                return;
                            }
                            unavailable("shutting down")
                        }
                        None => match shared.publish(&p.target, p.event) {
                            Ok(published) => match &published.id {
                                Some(id) => publish::created(id),
                                None => publish::created(&published.seq.to_string()),
                            },
                            Err(e) => Response::error(400, &e.to_string()),
                        },
                    },
                };
                let live = self.slots[i].live.as_mut().expect("live");
                live.conn.respond(&response, &[], keep_alive, head_only, now);
            }
            Decision::Metrics => {
                let response = Response::new(200)
                    .header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                    .body(super::metrics::render(&shared));
                live.conn.respond(&response, &[], keep_alive, head_only, now);
            }
            Decision::Respond { response, close } => {
                Shared::count(&shared.stats.rejected);
                live.conn.respond(&response, &[], keep_alive && !close, head_only, now);
            }
            Decision::Stream { headers } => match check_stream(&shared, &req) {
                Ok(channels) => self.open_stream(i, req, headers, channels, now),
                Err(response) => {
                    Shared::count(&shared.stats.rejected);
                    live.conn.respond(&response, &[], keep_alive, head_only, now);
                }
            },
        }
    }

    /// Turns connection `i` into a stream on `channels`: head, `:ok`, any replay, then live.
    ///
    /// With a backplane, the local logs answer when they can; otherwise the connection waits
    /// for the read thread, which answers with `Command::Joined`.
    fn open_stream(
        &mut self,
        i: usize,
        req: Request,
        headers: Vec<(String, String)>,
        channels: Vec<Arc<str>>,
        now: Instant,
    ) {
        let shared = self.shared.clone();
        let Some(generation) = self.slots.get(i).map(|s| s.generation) else { return };
        let last_event_id = req.last_event_id();
        // The first replay may fill the stream's queue: a resume of one channel, whose log is
        // bounded alike, comes at once; more goes in batches as the socket drains.
        let budget = shared.config.max_queue_bytes;
        let resume = {
            let mut hub = shared.lock_hub();
            match &shared.backplane {
                None => Some(hub.resume(&channels, last_event_id.as_deref(), budget, now)),
                Some(_) => {
                    let resume = hub.resume_followed(&channels, last_event_id.as_deref(), budget, now);
                    if resume.is_some() {
                        hub.subscribe(&channels);
                    }
                    resume
                }
            }
        };
        if let Some(resume) = resume {
            return self.start_stream(i, &req, headers, channels, resume, now);
        }
        let Some(live) = self.slots.get_mut(i).and_then(|s| s.live.as_mut()) else { return };
        let backplane = shared.backplane.as_ref().expect("a backplane");
        live.conn.defer(WAIT, now);
        let join =
            Join { worker: self.index, slot: i, generation, channels, last_event_id, deadline: now + WAIT };
        if !backplane.join(join) {
            live.conn.respond(&unavailable("shutting down"), &[], false, false, now);
        } else {
            live.pending = Some(Box::new(PendingStream { req, headers }));
        }
    }

    /// Starts the stream on connection `i`, with `resume` (replay and seam) decided.
    fn start_stream(
        &mut self,
        i: usize,
        req: &Request,
        mut headers: Vec<(String, String)>,
        channels: Vec<Arc<str>>,
        resume: Resume,
        now: Instant,
    ) {
        let shared = self.shared.clone();
        let Some(generation) = self.slots.get(i).map(|s| s.generation) else { return };
        let Some(live) = self.slots.get_mut(i).and_then(|s| s.live.as_mut()) else { return };
        let mut first = self.first_frames.clone();
        first.extend(resume.gap);
        first.extend(resume.frames);
        let then = resume.then;
        let chunked = req.version == Version::Http11;
        headers.extend(shared.config.headers.iter().cloned());
        let mut head = Vec::with_capacity(256);
        write_stream_head(&mut head, chunked, req.keep_alive(), &headers);
        live.conn.start_stream(head, chunked, &first);
        // Unacknowledged data past this time fails the socket: a peer that vanished without a
        // FIN is found by the next keep-alive comment instead of after the kernel's ~15 minutes.
        let _ = socket2::SockRef::from(&live.sock).set_tcp_user_timeout(Some(shared.config.send_timeout));
        self.subs.join(i, &channels);
        // Most streams take the default channel: they share one list instead of one each.
        let channels: Arc<[Arc<str>]> =
            if *channels == *self.default_channels { self.default_channels.clone() } else { channels.into() };
        let mut member = Member::new(channels, resume.seq);
        if then == Then::More {
            let last_id = resume.last_id.or_else(|| req.last_event_id().map(Arc::from));
            member.replay = Some(Box::new(Replaying { last_id }));
        }
        live.member = Some(member);
        if then == Then::End {
            live.conn.finish_stream();
        }
        let inner = Arc::new(ClientInner {
            id: shared.next_client_id.fetch_add(1, Ordering::Relaxed),
            slot: i,
            generation,
            worker: self.index,
            closed: AtomicBool::new(false),
            shared: shared.clone(),
        });
        live.client = Some(inner.clone());
        shared.stats.streams.fetch_add(1, Ordering::Relaxed);
        shared.stats.workers[self.index].streams.fetch_add(1, Ordering::Relaxed);
        // The callback runs before the first write, so that a client that is already gone is
        // reported to `on_disconnect` after `on_connect`, never before.
        if let Some(on_connect) = &shared.callbacks.on_connect {
            let client = Client { inner };
            if catch(&shared, || on_connect(client, req)).is_none() {
                if let Some(live) = self.slots.get_mut(i).and_then(|s| s.live.as_mut()) {
                    live.conn.abort();
                }
            }
        }
        self.write_out(i, now);
    }

    /// Writes what is queued on connection `i`, settles it, and resumes reading it if reading
    /// was paused for its queue.
    fn flush(&mut self, i: usize, now: Instant) {
        self.write_out(i, now);
        if let Some(live) = self.slots.get_mut(i).and_then(|s| s.live.as_mut()) {
            if live.read_paused && live.conn.wants_read() {
                live.read_paused = false;
                self.take_requests(i, now);
                self.read(i, now);
            }
        }
    }

    /// Writes what is queued on connection `i` (taking the next replay batch whenever a
    /// replaying stream's queue empties), then settles it.
    fn write_out(&mut self, i: usize, now: Instant) {
        while let Some(live) = self.slots.get_mut(i).and_then(|s| s.live.as_mut()) {
            if live.conn.wants_write() {
                // Errors close the connection inside `write_to`; `settle` sees it.
                match live.conn.write_to(&mut live.sock) {
                    Ok(n) => {
                        self.shared.stats.workers[self.index].bytes.fetch_add(n as u64, Ordering::Relaxed);
                        if n > 0 {
                            live.progress = now;
                        }
                    }
                    Err(_) => Shared::count(&self.shared.stats.peer_errors),
                }
            }
            if !refill(live, &self.shared, now) {
                break;
            }
        }
        self.settle(i, now);
    }

    /// Drops a connection that is done, or starts its lingering close.
    fn settle(&mut self, i: usize, now: Instant) {
        let Some(live) = self.slots.get_mut(i).and_then(|s| s.live.as_mut()) else { return };
        if live.conn.phase() != Phase::Closed {
            return;
        }
        let lingers = live.client.is_none() && !live.peer_eof && self.shutdown_deadline.is_none();
        if lingers && live.linger.is_none() {
            // An answer was written and the connection must close: send FIN, then drain input
            // for a while so the peer reads the answer instead of a reset.
            if live.sock.shutdown(Shutdown::Write).is_ok() {
                live.linger = Some(now + LINGER);
                return;
            }
        }
        if lingers && live.linger.is_some_and(|t| now < t) {
            return;
        }
        self.finalize(i);
    }

    fn finalize(&mut self, i: usize) {
        let Some(mut live) = self.slots.get_mut(i).and_then(|s| s.live.take()) else { return };
        let _ = self.poll.registry().deregister(&mut live.sock);
        drop(live.sock);
        let stats = &self.shared.stats;
        stats.connections.fetch_sub(1, Ordering::Relaxed);
        if let Some(member) = live.member.take() {
            self.subs.leave(i, &member.channels);
            if self.shared.backplane.is_some() {
                self.shared.lock_hub().unsubscribe(&member.channels, Instant::now());
            }
        }
        if let Some(inner) = live.client.take() {
            inner.closed.store(true, Ordering::Release);
            stats.streams.fetch_sub(1, Ordering::Relaxed);
            stats.workers[self.index].streams.fetch_sub(1, Ordering::Relaxed);
            if let Some(on_disconnect) = &self.shared.callbacks.on_disconnect {
                let client = Client { inner };
                let _ = catch(&self.shared, || on_disconnect(&client));
            }
        }
        self.release_slot(i);
    }

    /// Returns slot `i` to the free list, or, when it ends the table, shrinks the table, giving
    /// its memory back once most of it is unused (after a crowd of clients has left).
    fn release_slot(&mut self, i: usize) {
        if i + 1 < self.slots.len() {
            self.free.push(Reverse(i));
            return;
        }
        while self.slots.last().is_some_and(|s| s.live.is_none()) {
            self.slots.pop();
        }
        if self.slots.capacity() > 64 && self.slots.len() < self.slots.capacity() / 4 {
            self.slots.shrink_to(self.slots.len() * 2);
            self.free.retain(|&Reverse(f)| f < self.slots.len());
            self.free.shrink_to_fit();
        }
    }

    fn run_commands(&mut self, now: Instant) {
        let shared = self.shared.clone();
        let stats = &shared.stats.workers[self.index];
        let mut commands = std::mem::take(&mut self.commands);
        shared.mailboxes[self.index].take(&mut commands);
        let mut flush_all = false;
        for command in commands.drain(..) {
            match command {
                Command::Send(i, generation, frame) => {
                    if let Some(live) = self.live_client(i, generation) {
                        deliver(live, frame, &shared, stats);
                        self.dirty.push(i);
                    }
                }
                Command::Close(i, generation) => {
                    if let Some(live) = self.live_client(i, generation) {
                        live.conn.finish_stream();
                        self.dirty.push(i);
                    }
                }
                Command::Publish(seq, frame, Target::All) => {
                    for slot in &mut self.slots {
                        if let Some(live) = slot.live.as_mut() {
                            if live.member.as_mut().is_some_and(|m| m.accepts(seq)) {
                                deliver(live, frame.clone(), &shared, stats);
                            }
                        }
                    }
                    flush_all = true;
                }
                Command::Publish(seq, frame, Target::Channels(channels)) => {
                    for channel in channels.iter() {
                        for &i in self.subs.members(channel) {
                            let Some(live) = self.slots.get_mut(i).and_then(|s| s.live.as_mut()) else {
                                continue;
                            };
                            if live.member.as_mut().is_some_and(|m| m.accepts(seq)) {
                                deliver(live, frame.clone(), &shared, stats);
                                self.dirty.push(i);
                            }
                        }
                    }
                }
                // Answers to requests leave at once: coalescing is for fan-out.
                Command::Answer { slot, generation, response, keep_alive, head_only } => {
                    if let Some(live) = self.waiting(slot, generation) {
                        if live.pending.is_none() {
                            live.conn.respond(&response, &[], keep_alive, head_only, now);
                            self.flush(slot, now);
                        }
                    }
                }
                Command::Joined { slot, generation, channels, resume } => {
                    let pending = self.waiting(slot, generation).and_then(|live| live.pending.take());
                    match (pending, resume) {
                        (Some(p), Ok(resume)) => {
                            self.start_stream(slot, &p.req, p.headers, channels, resume, now);
                            self.flush(slot, now); // reading was paused while it waited
                        }
                        (Some(p), Err(response)) => {
                            let live = self.slots[slot].live.as_mut().expect("waiting");
                            live.conn.respond(&response, &[], false, p.req.method == "HEAD", now);
                            self.flush(slot, now);
                        }
                        // Gone, or answered 503 already: give back the subscription counted for it.
                        (None, Ok(_)) => shared.lock_hub().unsubscribe(&channels, now),
                        (None, Err(_)) => {}
                    }
                }
                Command::Adopt(sock) => self.adopt(sock, now),
                Command::Shutdown => {
                    self.begin_shutdown(now);
                    flush_all = true;
                }
            }
        }
        self.commands = commands;
        self.flush_all_pending |= flush_all;
        self.maybe_flush(now);
    }

    /// Writes the connections that have something new queued, unless the worker wrote less
    /// than the coalescing window ago: then the write waits for the window's end, and every
    /// event that arrives meanwhile goes out in the same vectored write. At low rates (events
    /// further apart than the window) nothing waits.
    fn maybe_flush(&mut self, now: Instant) {
        if !self.flush_all_pending && self.dirty.is_empty() {
            return;
        }
        let due = self.last_flush + self.shared.config.coalesce;
        if now >= due || self.shutdown_deadline.is_some() {
            self.flush_pending(now);
        } else {
            self.next_flush = Some(due);
        }
    }

    fn flush_pending(&mut self, now: Instant) {
        self.last_flush = now;
        self.next_flush = None;
        if std::mem::take(&mut self.flush_all_pending) {
            self.dirty.clear();
            self.flush_all(now);
        } else {
            let mut dirty = std::mem::take(&mut self.dirty);
            for i in dirty.drain(..) {
                self.flush(i, now);
            }
            self.dirty = dirty;
        }
    }

    /// Connection `i`, if it is still the one of that generation.
    fn live(&mut self, i: usize, generation: u32) -> Option<&mut Live> {
        let slot = self.slots.get_mut(i)?;
        if slot.generation != generation {
            return None;
        }
        slot.live.as_mut()
    }

    /// Connection `i` of that generation, if it still waits for a deferred answer.
    fn waiting(&mut self, i: usize, generation: u32) -> Option<&mut Live> {
        self.live(i, generation).filter(|l| l.conn.phase() == Phase::Waiting)
    }

    fn live_client(&mut self, i: usize, generation: u32) -> Option<&mut Live> {
        self.live(i, generation).filter(|l| l.client.is_some())
    }

    fn flush_all(&mut self, now: Instant) {
        for i in 0..self.slots.len() {
            self.flush(i, now);
        }
    }

    /// Sends the keep-alive comment to every stream that has been sent nothing since the last
    /// one: it keeps idle connections open through proxies and finds dead peers (the write
    /// fails), and a stream that carries events needs neither.
    fn keepalive(&mut self, now: Instant) {
        for slot in &mut self.slots {
            if let Some(live) = slot.live.as_mut() {
                if live.client.is_some() && !std::mem::take(&mut live.active) {
                    deliver(
                        live,
                        self.keepalive_frame.clone(),
                        &self.shared,
                        &self.shared.stats.workers[self.index],
                    );
                    live.active = false;
                }
            }
        }
        self.flush_all(now);
        self.next_keepalive = self.shared.config.keep_alive.map(|d| now + d);
    }

    fn tick(&mut self, now: Instant) {
        self.next_tick = now + TICK;
        let send_timeout = self.shared.config.send_timeout;
        for i in 0..self.slots.len() {
            let Some(live) = self.slots.get_mut(i).and_then(|s| s.live.as_mut()) else { continue };
            if live.conn.timed_out(now) {
                live.conn.time_out(now);
            }
            if live.conn.queued_bytes() == 0 {
                live.progress = now;
            } else if live.client.is_some() && now.saturating_duration_since(live.progress) > send_timeout {
                // Nothing written for send_timeout: the peer is gone or has stopped reading.
                live.conn.abort();
                Shared::count(&self.shared.stats.slow_dropped);
            }
            self.flush(i, now);
        }
        if self.accept_paused {
            self.accept_paused = false;
            self.spare.refill();
            self.accept(now);
        }
    }

    fn begin_shutdown(&mut self, now: Instant) {
        if self.shutdown_deadline.is_some() {
            return;
        }
        self.shutdown_deadline = Some(now + self.shared.config.shutdown_grace);
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        for slot in &mut self.slots {
            if let Some(live) = slot.live.as_mut() {
                match live.conn.phase() {
                    Phase::Streaming => live.conn.finish_stream(),
                    _ => live.conn.close(),
                }
                live.linger = live.linger.map(|_| now);
            }
        }
    }
}

/// Queues a frame on a stream; a stream past its queue bound is closed and counted.
fn deliver(live: &mut Live, frame: Frame, shared: &Shared, stats: &WorkerStats) {
    live.active = true;
    stats.events.fetch_add(1, Ordering::Relaxed);
    if live.conn.would_overflow(&frame) {
        // Only what the socket cannot take counts against the bound: write before judging.
        match live.conn.write_to(&mut live.sock) {
            Ok(n) => {
                stats.bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(_) => Shared::count(&shared.stats.peer_errors),
        }
    }
    if live.conn.push(frame).is_err() {
        Shared::count(&shared.stats.slow_dropped);
    }
}

/// Answers a connection over the limit with `503` and closes it.
fn refuse(mut sock: TcpStream, stats: &super::Stats) {
    Shared::count(&stats.rejected);
    let mut out = Vec::new();
    Response::unavailable("too many connections", 1).write_to(&mut out, &[], false, false);
    // Best effort on a fresh socket, whose send buffer is empty.
    let _ = io::Write::write(&mut sock, &out);
    let _ = sock.shutdown(Shutdown::Write);
}

/// Queues the next replay batch on a stream whose replay goes on in batches, once its queue is
/// written out; `true` if something was queued (so there is more to write).
fn refill(live: &mut Live, shared: &Shared, now: Instant) -> bool {
    let Some(member) = live.member.as_mut() else { return false };
    let Some(replay) = member.replay.as_mut() else { return false };
    let room = live.conn.replay_room().min(REPLAY_BATCH);
    if room == 0 {
        return false;
    }
    let last_id = replay.last_id.as_deref().unwrap_or_default();
    let batch = shared.lock_hub().replay(&member.channels, member.last_seq, last_id, room, now);
    member.last_seq = batch.seq;
    if batch.last_id.is_some() {
        replay.last_id = batch.last_id;
    }
    if batch.then == Then::Live {
        member.replay = None;
    }
    let more = !batch.frames.is_empty();
    live.conn.push_replay(batch.frames);
    more
}

/// The accept check and the channel choice for a stream request.
fn check_stream(shared: &Shared, req: &Request) -> Result<Vec<Arc<str>>, Response> {
    if let Some(verify) = &shared.callbacks.verify {
        catch(shared, || verify(req)).unwrap_or_else(|| Err(Response::error(500, "accept check failed")))?;
    }
    match &shared.callbacks.subscribe {
        Some(subscribe) => validate_channels(
            catch(shared, || subscribe(req))
                .unwrap_or_else(|| Err(Response::error(500, "channel choice failed")))?,
        ),
        None => requested_channels(req),
    }
}

/// Runs an application callback; a panic is counted and becomes `None`.
fn catch<T>(shared: &Shared, f: impl FnOnce() -> T) -> Option<T> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => Some(v),
        Err(_) => {
            Shared::count(&shared.stats.callback_panics);
            None
        }
    }
}
