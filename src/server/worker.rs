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
use super::slots::Slots;
use super::{Rejection, Shared, WorkerCounters};
use crate::http::{Framing, Request, Response};
use crate::hub::DEFAULT_CHANNEL;
use crate::hub::fanout::{Member, Subscriptions};
use crate::proto::coalesce::Coalescer;
use crate::proto::conn::{Settings, Timeout};
use crate::proto::{Conn, Frame, Phase, QueuePool};

pub(crate) const WAKER: Token = Token(0);
const LISTENER: Token = Token(1);
/// The metrics listener ([`super::Config::metrics_addr`]).
const ADMIN_LISTENER: Token = Token(2);
const FIRST_CONN: usize = 3;
/// Connections the metrics listener holds at once, at most (then `503`).
const MAX_ADMIN: usize = 64;

/// How long accepting pauses after `accept` fails (out of descriptors, say).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// How long a connection closed after an error answer keeps reading (and dropping) input.
const LINGER: Duration = Duration::from_secs(2);

/// One connection of the worker.
pub(crate) struct Live {
    pub(super) sock: TcpStream,
    pub(super) conn: Conn,
    /// The application's handle, while the connection streams.
    pub(super) client: Option<Arc<ClientInner>>,
    /// Channels and the last publish delivered, while the connection streams.
    pub(super) member: Option<Member>,
    /// A stream request waiting for the backplane's read thread (see `Command::Joined`).
    pub(super) pending: Option<Box<PendingStream>>,
    /// The deadline filed for the connection in the worker's heap.
    filed: Option<Instant>,
    /// Accepted on the metrics listener: answers metrics, nothing else, and is not counted
    /// against the connection limit.
    pub(super) admin: bool,
    /// The TLS layer between the socket and `conn`, on a TLS listener.
    #[cfg(feature = "tls")]
    pub(super) tls: Option<Box<crate::proto::tls::Tls>>,
}

/// What starting a deferred stream needs once the backplane has answered.
pub(super) struct PendingStream {
    pub(super) req: Request,
    pub(super) headers: Vec<(String, String)>,
    pub(super) access: crate::auth::Access,
}

impl Live {
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

    /// Writes what is queued; errors close the connection (the `Conn` sees to it) and count.
    pub(super) fn write(&mut self, now: Instant, shared: &Shared, stats: &WorkerCounters) {
        #[cfg(feature = "tls")]
        if let Some(mut tls) = self.tls.take() {
            super::tls::write(self, &mut tls, now, shared, stats);
            self.tls = Some(tls);
            return;
        }
        if !self.conn.wants_write() {
            return;
        }
        match self.conn.write_to(&mut self.sock, now) {
            Ok(n) => {
                stats.bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(_) => Shared::count(&shared.counters.peer_errors),
        }
    }
}

pub(crate) struct Worker {
    pub(super) index: usize,
    poll: Poll,
    listener: Option<TcpListener>,
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
    deadlines: Deadlines,
    pub(super) subs: Subscriptions,
    /// The bytes queued by all of this worker's connections, and their bound.
    pool: QueuePool,
    settings: Arc<Settings>,
    /// The same for TLS connections: their queue bound less what rustls buffers.
    #[cfg(feature = "tls")]
    tls_settings: Arc<Settings>,
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
}

impl Worker {
    pub(crate) fn new(
        index: usize,
        poll: Poll,
        mut listener: Option<TcpListener>,
        mut admin_listener: Option<TcpListener>,
        shared: Arc<Shared>,
    ) -> io::Result<Worker> {
        if let Some(l) = listener.as_mut() {
            poll.registry().register(l, LISTENER, Interest::READABLE)?;
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
        #[cfg(feature = "tls")]
        let max_handshakes = (config.max_tls_handshakes / config.workers.max(1)).max(1);
        let now = Instant::now();
        let pool = shared.counters.workers[index].pool.clone();
        let coalescer = Coalescer::new(config.coalesce, now);
        Ok(Worker {
            index,
            poll,
            listener,
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
            deadlines: Deadlines::default(),
            subs: Subscriptions::default(),
            pool,
            settings,
            #[cfg(feature = "tls")]
            tls_settings,
            #[cfg(feature = "tls")]
            max_handshakes,
            #[cfg(feature = "tls")]
            plain_buf: Vec::new(),
            default_channels: Arc::new([Arc::from(DEFAULT_CHANNEL)]),
            first_frames,
            accept_retry: None,
            spare: Spare::new(),
            shutdown_deadline: None,
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
            ]
            .into_iter()
            .flatten()
            .min();
            if let Err(e) = self.poll.poll(&mut events, wake_at.map(|t| t.saturating_duration_since(now))) {
                if e.kind() != io::ErrorKind::Interrupted {
                    break Err(e);
                }
            }
            let now = Instant::now();
            for event in events.iter() {
                match event.token() {
                    WAKER => {}
                    LISTENER => self.accept(now),
                    ADMIN_LISTENER => self.accept_admin(now),
                    Token(t) => {
                        let i = t - FIRST_CONN;
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            if let Some(live) = self.slots.at(i) {
                                live.conn.readable();
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
            if self.accept_retry.is_some_and(|t| now >= t) {
                self.accept_retry = None;
                self.spare.refill();
                self.accept(now);
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

    /// Drops every connection and takes no more commands (sockets posted to it are closed).
    fn stop(&mut self) {
        self.shared.counters.workers[self.index].running.store(false, Ordering::Relaxed);
        for i in 0..self.slots.len() {
            self.finalize(i);
        }
        for command in self.shared.mailboxes[self.index].close() {
            if let Command::Adopt(_) = command {
                self.shared.counters.connections.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    fn accept(&mut self, now: Instant) {
        if self.accept_retry.is_some() || self.shutdown_deadline.is_some() {
            return;
        }
        let shared = self.shared.clone();
        let stats = &shared.counters;
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
                    self.hand_out(sock, now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if descriptors::exhausted(&e) && self.answer_with_spare(stats) => {}
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
                    self.insert(sock, true, now);
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
        self.adopt(sock, now);
    }

    /// Out of descriptors: frees the spare one to accept a waiting client and tell it `503`
    /// (see [`descriptors`]); `false` when there was no spare or no client.
    fn answer_with_spare(&mut self, stats: &super::Counters) -> bool {
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

    pub(super) fn adopt(&mut self, sock: TcpStream, now: Instant) {
        if self.shutdown_deadline.is_some() {
            self.shared.counters.connections.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        self.insert(sock, false, now);
    }

    /// Puts a connection in a slot (the lowest free one) and registers it under that slot's
    /// token.
    fn insert(&mut self, sock: TcpStream, admin: bool, now: Instant) {
        #[cfg(feature = "tls")]
        let tls = match (&self.shared.tls, admin) {
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
        let live = Live {
            sock,
            conn,
            client: None,
            member: None,
            pending: None,
            filed: None,
            admin,
            #[cfg(feature = "tls")]
            tls,
        };
        let key = self.slots.insert(live);
        let live = self.slots.get(key).expect("just inserted");
        let token = Token(FIRST_CONN + key.slot);
        if self
            .poll
            .registry()
            .register(&mut live.sock, token, Interest::READABLE | Interest::WRITABLE)
            .is_err()
        {
            self.slots.remove(key.slot);
            self.forget(admin);
            return;
        }
        // Data may have arrived before registration; edge-triggered readiness would not repeat it.
        self.serve(key.slot, now);
    }

    /// Does everything connection `i` can do now: reads what it sent (answering requests as they
    /// complete), writes what is queued, and goes on while the written queue lets more requests
    /// through or reading must resume by itself; then settles it.
    pub(super) fn serve(&mut self, i: usize, now: Instant) {
        loop {
            self.read_some(i, now);
            self.pump(i, now);
            match self.slots.at(i) {
                Some(live) if live.conn.resume_read() => continue,
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
        while let Some(live) = self.slots.at(i) {
            if !live.conn.wants_read() {
                break;
            }
            match live.sock.read(&mut buf) {
                Ok(0) => {
                    #[cfg(feature = "tls")]
                    if let Some(mut tls) = live.tls.take() {
                        super::tls::eof(live, &mut tls, &self.shared, now);
                        live.tls = Some(tls);
                        break;
                    }
                    live.conn.peer_closed();
                    break;
                }
                Ok(n) => {
                    #[cfg(feature = "tls")]
                    if let Some(mut tls) = live.tls.take() {
                        let worker = &self.shared.counters.workers[self.index];
                        if super::tls::received(
                            live,
                            &mut tls,
                            &buf[..n],
                            &mut plain,
                            &self.shared,
                            worker,
                            now,
                        ) {
                            live.tls = Some(tls);
                        } else {
                            super::tls::forget(&tls, &self.shared, worker);
                        }
                    } else {
                        live.conn.received(&buf[..n], now);
                    }
                    #[cfg(not(feature = "tls"))]
                    live.conn.received(&buf[..n], now);
                    if live.conn.phase() == Phase::Head {
                        self.pump(i, now);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    live.conn.read_would_block();
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    if live.conn.phase() != Phase::Lingering {
                        Shared::count(&self.shared.counters.peer_errors);
                    }
                    live.conn.abort();
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
    fn pump(&mut self, i: usize, now: Instant) {
        loop {
            let took = self.take_requests(i, now);
            self.write_out(i, now);
            if !took {
                return;
            }
        }
    }

    /// Writes what is queued on connection `i` (taking the next replay batch whenever a
    /// replaying stream's queue empties).
    fn write_out(&mut self, i: usize, now: Instant) {
        let shared = self.shared.clone();
        let stats = &shared.counters.workers[self.index];
        while let Some(live) = self.slots.at(i) {
            live.write(now, &shared, stats);
            if live.conn.poll_fin() && live.fin().is_err() {
                live.conn.abort();
            }
            if !super::dispatch::refill(live, &shared, now) {
                break;
            }
        }
    }

    /// Drops a connection that is done, or files its next deadline.
    pub(super) fn settle(&mut self, i: usize, _now: Instant) {
        let Some(key) = self.slots.key_at(i) else { return };
        let Some(live) = self.slots.get(key) else { return };
        if live.conn.phase() == Phase::Closed {
            self.finalize(i);
            return;
        }
        let next = live.conn.poll_timeout();
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
            #[cfg(feature = "tls")]
            if live.tls.as_ref().is_some_and(|t| t.is_handshaking())
                && live.conn.poll_timeout().is_some_and(|d| d <= now)
            {
                // The head timeout bounds the handshake too: no 408 can reach a client that has
                // no TLS session yet.
                self.shared.counters.tls.failed("timeout");
                live.conn.abort();
                self.serve(key.slot, now);
                continue;
            }
            match live.conn.handle_timeout(now) {
                Some(Timeout::KeepAlive) => {
                    self.shared.counters.workers[self.index].events.fetch_add(1, Ordering::Relaxed);
                }
                Some(Timeout::Stalled) if streaming => Shared::count(&self.shared.counters.slow_dropped),
                Some(Timeout::Stalled) => Shared::count(&self.shared.counters.peer_errors),
                Some(Timeout::RequestTimeout) => self.shared.reject(Rejection::Timeout),
                Some(Timeout::Ended) => Shared::count(&self.shared.counters.streams_expired),
                Some(Timeout::NoAnswer) => self.shared.reject(Rejection::Unavailable),
                _ => {}
            }
            self.serve(key.slot, now);
        }
    }

    /// Takes connection `i` out of the worker: deregisters and closes its socket, gives back its
    /// subscriptions, and tells the application a stream ended.
    pub(super) fn finalize(&mut self, i: usize) {
        let Some(mut live) = self.slots.remove(i) else { return };
        #[cfg(feature = "tls")]
        if let Some(mut tls) = live.tls.take() {
            // A session that was made ends with its close_notify; one that never was, quietly.
            if !tls.is_handshaking() {
                super::tls::close(&mut live, &mut tls);
            }
            super::tls::forget(&tls, &self.shared, &self.shared.counters.workers[self.index]);
        }
        let _ = self.poll.registry().deregister(&mut live.sock);
        drop(live.sock);
        self.forget(live.admin);
        let stats = &self.shared.counters;
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
                self.serve(i, now);
            }
        } else {
            let mut dirty = std::mem::take(&mut self.dirty);
            for i in dirty.drain(..) {
                self.serve(i, now);
            }
            self.dirty = dirty;
        }
        if !self.published_at.is_empty() {
            let done = Instant::now();
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
        for mut listener in [self.listener.take(), self.admin_listener.take()].into_iter().flatten() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        for (_, live) in self.slots.iter_mut() {
            live.conn.shutdown(now);
        }
        self.flush_everyone = true;
    }
}

/// Answers a connection over the limit with `503` and closes it.
fn refuse(mut sock: TcpStream, stats: &super::Counters) {
    Shared::count(&stats.rejected[Rejection::Limit as usize]);
    let mut out = Vec::new();
    Response::unavailable("too many connections", 1).write_to(&mut out, Framing::CLOSE);
    // Best effort on a fresh socket, whose send buffer is empty.
    let _ = io::Write::write(&mut sock, &out);
    let _ = sock.shutdown(Shutdown::Write);
}
