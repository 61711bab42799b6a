//! One worker thread: a `mio::Poll` over its connections, in the style of mio's `tcp_server`
//! example. It moves bytes and nothing else: every decision is a call into a pure module.
//!
//! ```text
//! poll ─► readable: read until WouldBlock ─► Conn::received ─► requests (dispatch.rs)
//!      ─► writable: Conn::write_to (vectored) ─► replay batches as the queue drains
//!      ─► waker: the mailbox (commands.rs: sends, publishes, answers, adopted sockets)
//!      ─► timers: the earliest of every Conn::poll_timeout (deadlines.rs), the write pass
//!                 (Coalescer), the accept retry, the shutdown grace
//! ```
//!
//! Sockets are registered once for read and write readiness (edge-triggered, so an idle
//! writable socket costs nothing); each readiness drains the socket until `WouldBlock`. After
//! anything happens to a connection the worker *settles* it: drops it when its `Conn` is
//! closed, sends the FIN it asks for, and files its next deadline.

use std::io::{self, Read};
use std::net::Shutdown;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

use super::commands::Command;
use super::deadlines::Deadlines;
use super::descriptors::{self, Spare};
use super::handle::ClientInner;
use super::slots::Key;
use super::slots::Slots;
use super::{Rejection, Shared, WorkerCounters};
use crate::h2::conn as h2;
use crate::http::{Framing, Request, Response};
use crate::hub::DEFAULT_CHANNEL;
use crate::hub::fanout::{Member, Subscriptions};
use crate::proto::coalesce::Coalescer;
use crate::proto::conn::{Settings, Timeout};
use crate::proto::run::Run;
use crate::proto::{Conn, Endpoint, Frame, Protocol, QueuePool};

pub(crate) const WAKER: Token = Token(0);
/// The first public listener; listener `n` is `Token(LISTENER.0 + n)`, far above any slot's.
const LISTENER: Token = Token(usize::MAX / 2);
/// The metrics listener ([`super::Config::metrics_addr`]).
const ADMIN_LISTENER: Token = Token(2);
const FIRST_CONN: usize = 3;
/// Connections the metrics listener holds at once, at most (then `503`).
const MAX_ADMIN: usize = 64;

/// How long accepting pauses after `accept` fails (out of descriptors, say).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// How long a connection closed after an error answer keeps reading (and dropping) input.
const LINGER: Duration = Duration::from_secs(2);

/// One entry of the worker's slot table: a socket with the HTTP/1.1 request or stream it
/// carries, or one stream of an HTTP/2 socket. An HTTP/2 stream has a slot of its own so that
/// handles ([`ConnId`](super::slots::ConnId)), subscriptions and fan-out address it exactly as
/// they address an HTTP/1.1 stream; only its bytes go through its socket's slot.
pub(crate) struct Live {
    pub(super) link: Link,
    /// The application's handle, while the connection streams.
    pub(super) client: Option<Arc<ClientInner>>,
    /// Channels and the last publish delivered, while the connection streams.
    pub(super) member: Option<Member>,
    /// A stream request waiting for the backplane's read thread (see `Command::Joined`).
    pub(super) pending: Option<Box<PendingStream>>,
    /// The stream's facts for its access log line, while it streams and the log is on.
    pub(super) access: Option<Box<super::access::Opened>>,
    /// The deadline filed for the socket in the worker's heap.
    filed: Option<Instant>,
    /// Accepted on the metrics listener: answers metrics, nothing else, and is not counted
    /// against the connection limit.
    pub(super) admin: bool,
}

/// What a slot holds.
// The socket is boxed: inline it would make every slot its size (232 bytes), HTTP/2 streams'
// too, which need a key and an id; boxed, a stream's slot is some 200 bytes smaller, for one
// allocation per connection (not per event).
pub(crate) enum Link {
    /// A socket, and (HTTP/1.1) its request or stream.
    Socket(Box<Socket>),
    /// Stream `id` of the HTTP/2 socket in slot `parent`.
    Stream { parent: Key, id: u32 },
}

/// A socket and the protocol state over it.
pub(crate) struct Socket {
    pub(super) sock: TcpStream,
    pub(super) proto: Protocol,
    /// The TLS layer between the socket and `proto`, on a TLS listener.
    #[cfg(feature = "tls")]
    pub(super) tls: Option<Box<crate::proto::tls::Tls>>,
    /// HTTP/2: the slots of the streams that have one, by stream id.
    pub(super) streams: Vec<super::slots::Child>,
    /// The access log's facts its streams share (client, path, ...), once the first starts.
    pub(super) access: Option<Arc<super::access::Facts>>,
}

/// What starting a deferred stream needs once the backplane has answered.
pub(super) struct PendingStream {
    pub(super) req: Request,
    pub(super) headers: Vec<(String, String)>,
    pub(super) access: crate::auth::Access,
}

impl Live {
    /// A slot's content before any request: no stream, nothing pending.
    pub(super) fn new(link: Link, admin: bool) -> Live {
        Live { link, client: None, member: None, pending: None, access: None, filed: None, admin }
    }

    /// The socket, when this slot holds one.
    pub(super) fn socket(&mut self) -> Option<&mut Socket> {
        match &mut self.link {
            Link::Socket(s) => Some(s),
            Link::Stream { .. } => None,
        }
    }
}

impl Socket {
    /// Where the request of this socket (`id` `None`) or of its HTTP/2 stream `id` is answered.
    pub(super) fn endpoint(&mut self, id: Option<u32>) -> Option<Endpoint<'_>> {
        match (&mut self.proto, id) {
            (Protocol::Http1(c), None) => Some(Endpoint::Http1(c)),
            (Protocol::Http2(c), Some(id)) => Some(Endpoint::Http2(c, id)),
            _ => None,
        }
    }

    /// Makes the socket speak HTTP/2 from here (the preface read, or `h2` agreed by ALPN), and
    /// counts it in the gauge that [`Worker::finalize`] gives back.
    pub(super) fn switch_to_http2(
        &mut self,
        config: &Arc<h2::Config>,
        pool: &QueuePool,
        counters: &super::Counters,
        now: Instant,
    ) {
        if self.proto.http1().is_some() {
            self.proto.upgrade(config.clone(), pool.clone(), now);
            counters.h2_connections.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Shuts the socket's sending side (after a TLS `close_notify`).
    fn fin(&mut self) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let Some(mut tls) = self.tls.take() {
            let done = super::tls::fin(self, &mut tls);
            self.tls = Some(tls);
            return done;
        }
        self.sock.shutdown(Shutdown::Write)
    }

    /// Writes what is queued; errors close the connection (the protocol sees to it) and count.
    pub(super) fn write(&mut self, now: Instant, with: &Writing<'_>) {
        let Writing { shared, stats, run } = *with;
        #[cfg(feature = "tls")]
        if let Some(mut tls) = self.tls.take() {
            super::tls::write(self, &mut tls, now, shared, stats);
            self.tls = Some(tls);
            return;
        }
        if !self.proto.wants_write() {
            return;
        }
        match self.proto.write_to_in(&mut self.sock, now, Some(run)) {
            Ok(n) => {
                stats.bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(_) => Shared::count(&shared.counters.peer_errors),
        }
    }
}

/// The slot of the socket that carries slot `i`'s bytes, and the HTTP/2 stream id if `i` is
/// a stream.
pub(super) fn carrier(slots: &mut Slots<Live>, i: usize) -> Option<(usize, Option<u32>)> {
    match slots.at(i)?.link {
        Link::Socket(_) => Some((i, None)),
        Link::Stream { parent, id } => slots.get(parent).map(|_| (parent.slot, Some(id))),
    }
}

/// Where the request in slot `key` is answered (its socket's `Conn`, or its HTTP/2 stream).
pub(super) fn endpoint(slots: &mut Slots<Live>, key: Key) -> Option<Endpoint<'_>> {
    slots.get(key)?;
    let (at, id) = carrier(slots, key.slot)?;
    slots.at(at)?.socket()?.endpoint(id)
}

/// What writing a socket uses besides the socket: the counters it adds to, and the worker's
/// recent frames (its writes use them as one slice, see `proto::run`).
#[derive(Clone, Copy)]
pub(super) struct Writing<'a> {
    pub(super) shared: &'a Shared,
    pub(super) stats: &'a WorkerCounters,
    pub(super) run: &'a Run,
}

/// Queues a frame on the stream in slot `i` at `now`, if it streams and (for a publish, `seq`)
/// has not had it; a stream past its queue bound is closed and counted. `true` if queued.
pub(super) fn deliver(
    slots: &mut Slots<Live>,
    i: usize,
    seq: Option<u64>,
    frame: Frame,
    now: Instant,
    with: &Writing<'_>,
) -> bool {
    let (shared, stats) = (with.shared, with.stats);
    let Some(live) = slots.at(i) else { return false };
    match seq {
        Some(seq) if !live.member.as_mut().is_some_and(|m| m.accepts(seq)) => return false,
        None if live.client.is_none() => return false,
        _ => {}
    }
    let Some((at, id)) = carrier(slots, i) else { return false };
    let Some(sock) = slots.at(at).and_then(Live::socket) else { return false };
    stats.events.fetch_add(1, Ordering::Relaxed);
    if sock.endpoint(id).is_some_and(|e| e.would_overflow(&frame)) {
        // Only what the socket cannot take counts against the bound: write before judging.
        sock.write(now, with);
    }
    if sock.endpoint(id).is_some_and(|mut e| e.push(frame, now).is_err()) {
        Shared::count(&shared.counters.slow_dropped);
    }
    true
}

pub(crate) struct Worker {
    pub(super) index: usize,
    poll: Poll,
    /// The public listeners (on one worker; the others get their sockets from it).
    listeners: Vec<TcpListener>,
    admin_listener: Option<TcpListener>,
    /// Connections open on the metrics listener.
    admin_open: usize,
    pub(super) slots: Slots<Live>,
    pub(super) shared: Arc<Shared>,
    read_buf: Vec<u8>,
    pub(super) commands: Vec<Command>,
    /// Connections with something new queued since the last write pass.
    pub(super) dirty: Vec<usize>,
    /// Every stream may have something new queued (a publish to all, a shutdown).
    pub(super) flush_everyone: bool,
    /// When the publishes queued since the last write pass were published.
    pub(super) published_at: Vec<Instant>,
    pub(super) coalescer: Coalescer,
    /// The frames published to this worker's streams lately, end to end (see `proto::run`).
    pub(super) run: Run,
    deadlines: Deadlines,
    pub(super) subs: Subscriptions,
    /// The bytes queued by all of this worker's connections, and their bound.
    pub(super) pool: QueuePool,
    settings: Arc<Settings>,
    /// The same for TLS connections: their queue bound less what rustls buffers.
    #[cfg(feature = "tls")]
    tls_settings: Arc<Settings>,
    /// HTTP/2 connections' bounds (with `settings`), and those of HTTP/2 over TLS; `None`
    /// when HTTP/2 is off.
    pub(super) h2: Option<(Arc<h2::Config>, Arc<h2::Config>)>,
    /// TLS handshakes this worker may have under way at once.
    #[cfg(feature = "tls")]
    max_handshakes: usize,
    /// Plaintext decrypted from one read.
    #[cfg(feature = "tls")]
    plain_buf: Vec<u8>,
    pub(super) default_channels: Arc<[Arc<str>]>,
    pub(super) first_frames: Vec<Frame>,
    /// Accepting failed: when to try again.
    accept_retry: Option<Instant>,
    /// A descriptor held back for answering waiting clients when the table is full.
    spare: Spare,
    pub(super) shutdown_deadline: Option<Instant>,
    /// A drain under way (see `drain.rs`).
    pub(super) drain: Option<Box<super::drain::Draining>>,
}

impl Worker {
    pub(crate) fn new(
        index: usize,
        poll: Poll,
        mut listeners: Vec<TcpListener>,
        mut admin_listener: Option<TcpListener>,
        shared: Arc<Shared>,
    ) -> io::Result<Worker> {
        for (n, l) in listeners.iter_mut().enumerate() {
            poll.registry().register(l, Token(LISTENER.0 + n), Interest::READABLE)?;
        }
        if let Some(l) = admin_listener.as_mut() {
            poll.registry().register(l, ADMIN_LISTENER, Interest::READABLE)?;
        }
        let config = &shared.config;
        let mut first_frames = vec![Frame::comment("ok")];
        if let Some(ms) = config.initial_retry {
            first_frames
                .push(Frame::event(&crate::Event::default().retry(ms)).expect("retry is always valid"));
        }
        let settings = Arc::new(Settings {
            max_queue_bytes: config.max_queue_bytes,
            header_timeout: config.header_timeout,
            idle_timeout: config.idle_timeout,
            keep_alive: config.keep_alive,
            send_timeout: config.send_timeout,
            linger: LINGER,
        });
        #[cfg(feature = "tls")]
        let tls_settings = Arc::new(Settings {
            max_queue_bytes: settings.max_queue_bytes.saturating_sub(crate::proto::tls::TLS_BUFFER).max(1024),
            ..*settings
        });
        let h2_config = |settings: &Settings| {
            Arc::new(h2::Config {
                max_concurrent_streams: config.max_concurrent_streams,
                // Four bodies at the limit in flight at once; past that, streams are refused.
                max_bodies_held: config.limits.max_body_bytes.saturating_mul(4),
                limits: config.limits,
                settings: *settings,
                ..h2::Config::default()
            })
        };
        #[cfg(feature = "tls")]
        let h2 = config.http2.then(|| (h2_config(&settings), h2_config(&tls_settings)));
        #[cfg(not(feature = "tls"))]
        let h2 = config.http2.then(|| (h2_config(&settings), h2_config(&settings)));
        #[cfg(feature = "tls")]
        let max_handshakes = (config.max_tls_handshakes / config.workers.max(1)).max(1);
        let now = Instant::now();
        let pool = shared.counters.workers[index].pool.clone();
        let coalescer = Coalescer::new(config.coalesce, now);
        Ok(Worker {
            index,
            poll,
            listeners,
            admin_listener,
            admin_open: 0,
            slots: Slots::new(),
            shared,
            read_buf: vec![0; 64 * 1024],
            commands: Vec::new(),
            dirty: Vec::new(),
            flush_everyone: false,
            published_at: Vec::new(),
            coalescer,
            run: Run::new(),
            deadlines: Deadlines::default(),
            subs: Subscriptions::default(),
            pool,
            settings,
            #[cfg(feature = "tls")]
            tls_settings,
            h2,
            #[cfg(feature = "tls")]
            max_handshakes,
            #[cfg(feature = "tls")]
            plain_buf: Vec::new(),
            default_channels: Arc::new([Arc::from(DEFAULT_CHANNEL)]),
            first_frames,
            accept_retry: None,
            spare: Spare::new(),
            shutdown_deadline: None,
            drain: None,
        })
    }

    /// Runs until shut down (`Ok`) or until the poll fails (`Err`: the worker has dropped its
    /// connections and takes no more; the caller reports it).
    pub(crate) fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let result = loop {
            let now = Instant::now();
            let wake_at = [
                self.deadlines.next(),
                self.coalescer.poll_timeout(),
                self.accept_retry,
                self.shutdown_deadline,
                self.drain_timeout(),
                // The heartbeat the liveness probe reads comes round even when nothing happens.
                Some(now + super::health::HEARTBEAT),
            ]
            .into_iter()
            .flatten()
            .min();
            let mut timeout = wake_at.map(|t| t.saturating_duration_since(now));
            let mailbox = &self.shared.mailboxes[self.index];
            if !mailbox.prepare_sleep() {
                // Posted while this worker was awake, which no signal announces (inbox.rs).
                timeout = Some(Duration::ZERO);
            }
            let polled = self.poll.poll(&mut events, timeout);
            mailbox.awake();
            if let Err(e) = polled {
                if e.kind() != io::ErrorKind::Interrupted {
                    break Err(e);
                }
            }
            let now = Instant::now();
            self.stamp(now);
            for event in events.iter() {
                match event.token() {
                    WAKER => {}
                    ADMIN_LISTENER => self.accept_admin(now),
                    Token(t) if t >= LISTENER.0 => self.accept(t - LISTENER.0, now),
                    Token(t) => {
                        let i = t - FIRST_CONN;
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            if let Some(sock) = self.slots.at(i).and_then(Live::socket) {
                                sock.proto.readable();
                            }
                        }
                        self.serve(i, now);
                    }
                }
            }
            self.run_commands(now);
            if self.coalescer.handle_timeout(now) {
                self.flush_pending(now);
            }
            self.fire_timers(now);
            self.drain_step(now);
            if self.accept_retry.is_some_and(|t| now >= t) {
                self.accept_retry = None;
                self.spare.refill();
                for n in 0..self.listeners.len() {
                    self.accept(n, now);
                }
            }
            if let Some(deadline) = self.shutdown_deadline {
                if now >= deadline || self.slots.is_empty() {
                    break Ok(());
                }
            }
        };
        self.stop();
        result
    }

    /// Stamps the heartbeat the liveness probe reads (see `health.rs`).
    fn stamp(&self, now: Instant) {
        let ms = now.saturating_duration_since(self.shared.started).as_millis();
        let beat = &self.shared.counters.workers[self.index].beat;
        beat.store(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Takes no more connections: the public listeners are closed (connections waiting in their
    /// backlogs are refused, so that their clients try another node); the metrics one stays.
    pub(super) fn close_listener(&mut self) {
        for mut listener in std::mem::take(&mut self.listeners) {
            let _ = self.poll.registry().deregister(&mut listener);
        }
    }

    /// Drops every connection and takes no more commands (sockets posted to it are closed).
    fn stop(&mut self) {
        self.shared.counters.workers[self.index].running.store(false, Ordering::Relaxed);
        for (_, live) in self.slots.iter_mut() {
            if let Some(sock) = live.socket() {
                // Streams still here when the worker stops end with it (the shutdown's grace
                // ran out), unless they had a cause already.
                sock.proto.note_end(crate::proto::EndReason::Shutdown);
            }
        }
        for i in 0..self.slots.len() {
            self.finalize(i);
        }
        for command in self.shared.mailboxes[self.index].close() {
            if let Command::Adopt(_) | Command::Handoff(..) = command {
                self.shared.counters.connections.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    /// Accepts what waits on public listener `n`.
    fn accept(&mut self, n: usize, now: Instant) {
        if self.accept_retry.is_some() || self.shutdown_deadline.is_some() {
            return;
        }
        let shared = self.shared.clone();
        let stats = &shared.counters;
        loop {
            let Some(listener) = self.listeners.get(n) else { return };
            match listener.accept() {
                Ok((sock, _)) => {
                    Shared::count(&stats.accepted);
                    if stats.connections.load(Ordering::Relaxed) >= shared.max_connections {
                        refuse(sock, stats);
                        continue;
                    }
                    stats.connections.fetch_add(1, Ordering::Relaxed);
                    let _ = sock.set_nodelay(true);
                    self.hand_out(sock, now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if descriptors::exhausted(&e) && self.answer_with_spare(n, stats) => {}
                Err(_) => {
                    // ENOBUFS, or out of descriptors with no spare: the pending connections wait
                    // in the backlog and the timer tries again; no busy loop, nothing else stops.
                    self.accept_retry = Some(now + ACCEPT_BACKOFF);
                    break;
                }
            }
        }
    }

    /// Takes the metrics listener's connections (few, and on this worker alone).
    fn accept_admin(&mut self, now: Instant) {
        if self.shutdown_deadline.is_some() {
            return;
        }
        loop {
            let Some(listener) = self.admin_listener.as_ref() else { return };
            match listener.accept() {
                Ok((sock, _)) if self.admin_open >= MAX_ADMIN => refuse(sock, &self.shared.counters),
                Ok((sock, _)) => {
                    let _ = sock.set_nodelay(true);
                    self.admin_open += 1;
                    self.insert(sock, true, None, now);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // WouldBlock, or out of descriptors: the next readiness tries again.
                Err(_) => return,
            }
        }
    }

    /// Gives an accepted socket to the next worker in turn that still runs (this one if it is
    /// its turn, or if every other has stopped).
    fn hand_out(&mut self, sock: TcpStream, now: Instant) {
        let shared = self.shared.clone();
        let n = shared.mailboxes.len();
        let mut sock = sock;
        for _ in 0..n {
            let target = shared.next_worker.fetch_add(1, Ordering::Relaxed) % n;
            if target == self.index {
                break;
            }
            match shared.mailboxes[target].post(Command::Adopt(sock)) {
                Ok(()) => return,
                Err(Command::Adopt(back)) => sock = back,
                Err(_) => unreachable!("post gives back what it was given"),
            }
        }
        self.adopt(sock, None, now);
    }

    /// Out of descriptors: frees the spare one to accept a waiting client and tell it `503`
    /// (see [`descriptors`]); `false` when there was no spare or no client.
    fn answer_with_spare(&mut self, n: usize, stats: &super::Counters) -> bool {
        let Some(listener) = self.listeners.get(n) else { return false };
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

    /// Takes a counted connection: accepted by a listener (`handoff` `None`), or handed off by
    /// the application with the bytes it read (see `adopt.rs`).
    pub(super) fn adopt(&mut self, sock: TcpStream, handoff: Option<Option<Vec<u8>>>, now: Instant) {
        if self.shutdown_deadline.is_some() {
            self.shared.counters.connections.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        self.insert(sock, false, handoff, now);
    }

    /// Puts a connection in a slot (the lowest free one) and registers it under that slot's
    /// token; a handed-off one (plain, whatever the listeners speak) first gets the bytes
    /// already read from it.
    fn insert(&mut self, sock: TcpStream, admin: bool, handoff: Option<Option<Vec<u8>>>, now: Instant) {
        #[cfg(feature = "tls")]
        let tls = match (&self.shared.tls, admin || handoff.is_some()) {
            (Some(config), false) => {
                let worker = &self.shared.counters.workers[self.index];
                if worker.tls_handshaking.load(Ordering::Relaxed) >= self.max_handshakes {
                    // Too many handshakes under way: this one is not started (nothing can be
                    // said to a client before its handshake).
                    self.shared.counters.tls.failed("too_many_handshakes");
                    self.forget(admin);
                    return;
                }
                match crate::proto::tls::Tls::new(config) {
                    Ok(tls) => {
                        worker.tls_handshaking.fetch_add(1, Ordering::Relaxed);
                        Some(Box::new(tls))
                    }
                    Err(_) => {
                        self.forget(admin);
                        return;
                    }
                }
            }
            _ => None,
        };
        #[cfg(feature = "tls")]
        let settings = if tls.is_some() { self.tls_settings.clone() } else { self.settings.clone() };
        #[cfg(not(feature = "tls"))]
        let settings = self.settings.clone();
        let conn = Conn::shared(settings, self.pool.clone(), now);
        let socket = Socket {
            sock,
            proto: Protocol::Http1(conn),
            #[cfg(feature = "tls")]
            tls,
            streams: Vec::new(),
            access: None,
        };
        let live = Live::new(Link::Socket(Box::new(socket)), admin);
        let key = self.slots.insert(live);
        let sock = self.slots.get(key).and_then(Live::socket).expect("just inserted");
        let token = Token(FIRST_CONN + key.slot);
        if self
            .poll
            .registry()
            .register(&mut sock.sock, token, Interest::READABLE | Interest::WRITABLE)
            .is_err()
        {
            self.slots.remove(key.slot);
            self.forget(admin);
            return;
        }
        if let Some(already_read) = handoff {
            self.first_read(key.slot, already_read, now);
        }
        // Data may have arrived before registration; edge-triggered readiness would not repeat it.
        self.serve(key.slot, now);
    }

    /// The socket of slot `i` (itself, or the HTTP/2 connection a stream belongs to).
    pub(super) fn socket(&mut self, i: usize) -> Option<&mut Socket> {
        let (at, _) = carrier(&mut self.slots, i)?;
        self.slots.at(at)?.socket()
    }

    /// Where the request in slot `key` is answered.
    pub(super) fn endpoint(&mut self, key: Key) -> Option<Endpoint<'_>> {
        endpoint(&mut self.slots, key)
    }

    /// Does everything the socket of slot `i` can do now: reads what it sent (answering
    /// requests as they complete), writes what is queued, and goes on while the written queue
    /// lets more requests through or reading must resume by itself; then settles it.
    pub(super) fn serve(&mut self, i: usize, now: Instant) {
        let Some((i, _)) = carrier(&mut self.slots, i) else { return };
        loop {
            self.read_some(i, now);
            self.pump(i, now);
            match self.socket(i) {
                Some(sock) if sock.proto.resume_read() => continue,
                _ => break,
            }
        }
        self.settle(i, now);
    }

    /// Reads until the socket would block, the peer closes, or the connection wants no input;
    /// requests are answered as they complete (so their answers bound what is read).
    fn read_some(&mut self, i: usize, now: Instant) {
        let mut buf = std::mem::take(&mut self.read_buf);
        #[cfg(feature = "tls")]
        let mut plain = std::mem::take(&mut self.plain_buf);
        while let Some(sock) = self.slots.at(i).and_then(Live::socket) {
            // Only after readiness (or while input read earlier may still wait): a socket
            // served for its writable edge alone has nothing to read, and a `recv` that would
            // block costs a system call per write on every stream.
            if !sock.proto.resume_read() {
                break;
            }
            match sock.sock.read(&mut buf) {
                Ok(0) => {
                    // Nothing more will come: reading waits for readiness (which an ended
                    // socket never gives again), so a closing connection that cannot write yet
                    // does not read the end over and over.
                    sock.proto.read_would_block();
                    #[cfg(feature = "tls")]
                    if let Some(mut tls) = sock.tls.take() {
                        super::tls::eof(sock, &mut tls, &self.shared, now);
                        sock.tls = Some(tls);
                        break;
                    }
                    sock.proto.peer_closed();
                    break;
                }
                Ok(n) => {
                    #[cfg(feature = "tls")]
                    if let Some(mut tls) = sock.tls.take() {
                        let worker = &self.shared.counters.workers[self.index];
                        if super::tls::received(
                            sock,
                            &mut tls,
                            &buf[..n],
                            &mut plain,
                            &self.shared,
                            worker,
                            now,
                        ) {
                            if tls.alpn() == Some(b"h2") {
                                if let Some((_, config)) = &self.h2 {
                                    // Agreed by ALPN: HTTP/2 from the first byte after the handshake.
                                    sock.switch_to_http2(config, &self.pool, &self.shared.counters, now);
                                }
                            }
                            sock.tls = Some(tls);
                        } else {
                            super::tls::forget(&tls, &self.shared, worker);
                        }
                    } else {
                        sock.proto.received(&buf[..n], now);
                    }
                    #[cfg(not(feature = "tls"))]
                    sock.proto.received(&buf[..n], now);
                    if sock.proto.has_requests() {
                        self.pump(i, now);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    sock.proto.read_would_block();
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    if !sock.proto.is_lingering() {
                        Shared::count(&self.shared.counters.peer_errors);
                    }
                    if e.kind() == io::ErrorKind::TimedOut {
                        // TCP_USER_TIMEOUT (the send timeout): our data went unacknowledged.
                        sock.proto.note_end(crate::proto::EndReason::SendTimeout);
                    }
                    sock.proto.abort();
                    break;
                }
            }
        }
        self.read_buf = buf;
        #[cfg(feature = "tls")]
        {
            self.plain_buf = plain;
        }
    }

    /// Answers the complete requests in the input and writes, until neither makes progress.
    pub(super) fn pump(&mut self, i: usize, now: Instant) {
        loop {
            let took = self.take_requests(i, now);
            self.write_out(i, now);
            if !took {
                return;
            }
        }
    }

    /// Writes what is queued on socket `i` (taking the next replay batch whenever a replaying
    /// stream's queue empties).
    fn write_out(&mut self, i: usize, now: Instant) {
        // The fields borrowed apart rather than `self.shared` cloned: this runs for every
        // connection of every pass, and a clone's reference count is a cache line that every
        // worker writes.
        loop {
            let Worker { slots, shared, run, index, .. } = self;
            let Some(sock) = slots.at(i).and_then(Live::socket) else { break };
            let stats = &shared.counters.workers[*index];
            sock.write(now, &Writing { shared, stats, run });
            if sock.proto.poll_fin() && sock.fin().is_err() {
                sock.proto.abort();
            }
            if !self.refill(i, now) {
                break;
            }
        }
    }

    /// Drops a socket that is done, or files its next deadline.
    pub(super) fn settle(&mut self, i: usize, _now: Instant) {
        let Some(key) = self.slots.key_at(i) else { return };
        let Some(live) = self.slots.get(key) else { return };
        let Link::Socket(sock) = &live.link else { return };
        if sock.proto.is_closed() {
            self.finalize(i);
            return;
        }
        let next = sock.proto.poll_timeout();
        self.deadlines.file(key, next, &mut live.filed);
    }

    /// Runs the connection deadlines that are due.
    fn fire_timers(&mut self, now: Instant) {
        while let Some((key, at)) = self.deadlines.pop_due(now) {
            let Some(live) = self.slots.get(key) else { continue };
            if live.filed != Some(at) {
                continue; // stale: a later entry, or none, is the connection's deadline now
            }
            live.filed = None;
            let streaming = live.client.is_some();
            let stats = &self.shared.counters;
            let Some(sock) = live.socket() else { continue };
            #[cfg(feature = "tls")]
            if sock.tls.as_ref().is_some_and(|t| t.is_handshaking())
                && sock.proto.poll_timeout().is_some_and(|d| d <= now)
            {
                // The head timeout bounds the handshake too: no 408 can reach a client that has
                // no TLS session yet.
                stats.tls.failed("timeout");
                sock.proto.abort();
                self.serve(key.slot, now);
                continue;
            }
            match &mut sock.proto {
                Protocol::Http1(conn) => match conn.handle_timeout(now) {
                    Some(Timeout::KeepAlive) => {
                        stats.workers[self.index].events.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(Timeout::Stalled) if streaming => Shared::count(&stats.slow_dropped),
                    Some(Timeout::Stalled) => Shared::count(&stats.peer_errors),
                    Some(Timeout::RequestTimeout) => self.shared.reject(Rejection::Timeout),
                    Some(Timeout::Ended) => Shared::count(&stats.streams_expired),
                    Some(Timeout::NoAnswer) => self.shared.reject(Rejection::Unavailable),
                    _ => {}
                },
                Protocol::Http2(conn) => {
                    let did = conn.handle_timeout(now);
                    stats.workers[self.index].events.fetch_add(did.keep_alives.into(), Ordering::Relaxed);
                    for _ in 0..did.no_answers {
                        self.shared.reject(Rejection::Unavailable);
                    }
                    stats.slow_dropped.fetch_add(did.stalled_streams.into(), Ordering::Relaxed);
                    if did.stalled {
                        let open = conn.open_streams() > 0;
                        Shared::count(if open { &stats.slow_dropped } else { &stats.peer_errors });
                    }
                    if did.late {
                        self.shared.reject(Rejection::Timeout);
                    }
                    stats.streams_expired.fetch_add(did.ended.into(), Ordering::Relaxed);
                }
            }
            self.serve(key.slot, now);
        }
    }

    /// Takes slot `i` out of the worker: a socket is deregistered and closed (with the streams
    /// it carries); a stream gives back its subscriptions and tells the application it ended.
    pub(super) fn finalize(&mut self, i: usize) {
        self.finalize_tallied(i, None);
    }

    /// [`Worker::finalize`], for an HTTP/2 stream whose tally its connection gave already (as
    /// it reported the stream closed, or before the socket went): the stream's access line
    /// says what it sent.
    pub(super) fn finalize_tallied(
        &mut self,
        i: usize,
        tally: Option<crate::proto::stream_end::StreamTally>,
    ) {
        let given = tally;
        let Some(mut live) = self.slots.remove(i) else { return };
        let tally = match &mut live.link {
            Link::Socket(sock) => {
                let tally = sock.proto.http1().and_then(|c| c.stream_tally());
                for (id, key) in std::mem::take(&mut sock.streams).into_iter().map(|c| (c.id, c.key())) {
                    if let Some(stream) = self.slots.get(key) {
                        let logged = stream.access.is_some();
                        let tally = sock.proto.http2().filter(|_| logged).and_then(|h2| h2.tally(id));
                        self.finalize_tallied(key.slot, tally);
                    }
                }
                if let Protocol::Http2(_) = sock.proto {
                    self.shared.counters.h2_connections.fetch_sub(1, Ordering::Relaxed);
                }
                #[cfg(feature = "tls")]
                if let Some(mut tls) = sock.tls.take() {
                    // A session that was made ends with its close_notify; one that never was, quietly.
                    if !tls.is_handshaking() {
                        super::tls::close(sock, &mut tls);
                    }
                    super::tls::forget(&tls, &self.shared, &self.shared.counters.workers[self.index]);
                }
                let _ = self.poll.registry().deregister(&mut sock.sock);
                self.forget(live.admin);
                tally
            }
            Link::Stream { parent, id } => {
                let (parent, id) = (*parent, *id);
                let mut tally = given;
                if let Some(sock) = self.slots.get(parent).and_then(Live::socket) {
                    sock.streams.retain(|c| c.id != id);
                    if let Some(h2) = sock.proto.http2() {
                        // Gone from our side (a panicking callback, say): the peer is told.
                        h2.reset_stream(id, crate::h2::ErrorCode::Cancel, Instant::now());
                        tally = tally.or_else(|| h2.tally(id));
                    }
                }
                tally
            }
        };
        drop(live.link);
        let stats = &self.shared.counters;
        if let (Some(opened), Some(member), true) = (&live.access, &live.member, live.client.is_some()) {
            super::access::log_end(opened, &member.channels, tally, Instant::now());
        }
        if let Some(member) = live.member.take() {
            self.subs.leave(i, &member.channels);
            self.shared.presence.leave(&member.channels, member.subject.as_ref());
            if self.shared.backplane.is_some() {
                self.shared.lock_hub().unsubscribe(&member.channels, Instant::now());
            }
        }
        if let Some(inner) = live.client.take() {
            inner.closed.store(true, Ordering::Release);
            stats.streams.fetch_sub(1, Ordering::Relaxed);
            stats.workers[self.index].streams.fetch_sub(1, Ordering::Relaxed);
            if let Some(on_disconnect) = &self.shared.callbacks.on_disconnect {
                let client = super::Client { inner };
                let _ = super::dispatch::catch(&self.shared, || on_disconnect(&client));
            }
        }
    }

    /// Uncounts a connection that is gone.
    fn forget(&mut self, admin: bool) {
        if admin {
            self.admin_open -= 1;
        } else {
            self.shared.counters.connections.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Writes the connections that have something new queued.
    pub(super) fn flush_pending(&mut self, now: Instant) {
        self.coalescer.flushed(now);
        if std::mem::take(&mut self.flush_everyone) {
            self.dirty.clear();
            for i in 0..self.slots.len() {
                if self.slots.at(i).is_some_and(|l| matches!(l.link, Link::Socket(_))) {
                    self.serve(i, now);
                }
            }
        } else {
            let mut dirty = std::mem::take(&mut self.dirty);
            for i in dirty.drain(..) {
                self.serve(i, now);
            }
            self.dirty = dirty;
        }
        let done = Instant::now();
        self.coalescer.passed(done);
        if !self.published_at.is_empty() {
            for at in self.published_at.drain(..) {
                self.shared.counters.publish_latency.observe(done.saturating_duration_since(at));
            }
        }
    }

    pub(super) fn begin_shutdown(&mut self, now: Instant) {
        if self.shutdown_deadline.is_some() {
            return;
        }
        self.shutdown_deadline = Some(now + self.shared.config.shutdown_grace);
        let listeners = std::mem::take(&mut self.listeners).into_iter().chain(self.admin_listener.take());
        for mut listener in listeners {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        for (_, live) in self.slots.iter_mut() {
            if let Some(sock) = live.socket() {
                sock.proto.shutdown(now);
            }
        }
        self.flush_everyone = true;
    }
}

/// Answers a connection over the limit with `503` and closes it.
pub(super) fn refuse(mut sock: TcpStream, stats: &super::Counters) {
    Shared::count(&stats.rejected[Rejection::Limit as usize]);
    let mut out = Vec::new();
    Response::unavailable("too many connections", 1).write_to(&mut out, Framing::CLOSE);
    // Best effort on a fresh socket, whose send buffer is empty.
    let _ = io::Write::write(&mut sock, &out);
    let _ = sock.shutdown(Shutdown::Write);
}

#[cfg(test)]
mod tests {
    /// Every HTTP/2 stream has a slot of its own (and vacant slots take the same room): a slot
    /// stays small, the socket boxed (BENCHMARKS.md, HTTP/2 memory per stream).
    #[test]
    fn a_slot_is_small() {
        let live = std::mem::size_of::<super::Live>();
        eprintln!("Live: {live} bytes, Socket: {}", std::mem::size_of::<super::Socket>());
        assert!(live <= 128, "a slot is {live} bytes");
    }
}
