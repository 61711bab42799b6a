//! The mio shell: listens, runs one event loop per worker thread, and calls the application.
//!
//! ```text
//!                 ┌─ worker 0: listener + mio::Poll ─┐   accepted sockets go round-robin
//! TCP ─► accept ──┤─ worker 1: mio::Poll             ├─► to the workers (Command::Adopt)
//!                 └─ ...                             ┘
//! each worker: read ─► proto::Conn ─► http::route ─► callbacks ─► Conn queues ─► writev
//! Client / Broadcaster (any thread) ─► Frame (encoded once) ─► worker mailboxes + Waker
//! ```
//!
//! The listeners are `bind`'s, or those handed in (`listen_on`, `listen_on_all`), or none
//! (`adopt_only`); [`Server::adopt`] hands a socket the application accepted to a worker the
//! same way (`Command::Handoff`, see `adopt.rs`).
//!
//! Everything protocol-shaped lives in [`crate::http`] and [`crate::proto`]; this module owns
//! sockets, readiness, timers and threads, nothing else.
//!
//! ```no_run
//! use ssehub::{Event, Response, Server};
//!
//! let server = Server::builder()
//!     .path("/sse")
//!     .on_connect(|client, request| {
//!         println!("client {} from {}", client.id(), request.path);
//!         let _ = client.send(Event::new("welcome"));
//!     })
//!     .fallback(|_request| Response::html("<script>new EventSource('/sse')</script>"))
//!     .bind("127.0.0.1:8080")?;
//! server.broadcaster().send("to everyone")?;
//! server.wait()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod access;
mod adopt;
#[cfg(feature = "redis")]
mod backplane;
#[cfg(not(feature = "redis"))]
#[path = "backplane_off.rs"]
mod backplane;
mod commands;
mod counted;
mod deadlines;
mod descriptors;
mod dispatch;
mod drain;
mod handle;
mod health;
mod inbox;
mod metrics;
mod presence;
mod process;
mod slots;
mod startup;
#[cfg(feature = "tls")]
mod tls;
mod worker;

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

pub use adopt::{AdoptError, Adopter};
use commands::{Command, Mailbox};
pub use counted::CountedStream;
pub use handle::{Broadcaster, Client, PublishError, Receipt, SendError, Unavailable};

use crate::auth::{Policy, RefusalKind};
use crate::http::request::{Limits, Request};
use crate::http::response::Response;
use crate::http::route::{Cors, PathPattern, RouteConfig};
use crate::hub::idempotency::IdempotencyKey;
use crate::hub::ids::IdScheme;
use crate::hub::{Hub, Once, OnceError, Published, Retention, Target};
use crate::proto::QueuePool;

/// Server settings. Every bound has a default; see each field.
///
/// Start from [`Config::default`] and change fields (new fields may come: the struct cannot be
/// built literally), then [`Server::with_config`]; or change them in place with
/// [`ServerBuilder::configure`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// Where streams are served, and with what CORS.
    pub route: RouteConfig,
    /// Request size bounds (head 8 KiB, 64 headers, body 1 MiB).
    pub limits: Limits,
    /// Worker threads; default: the number of CPUs.
    pub workers: usize,
    /// Time to receive a complete request head; default 10 s, then `408`.
    pub header_timeout: Duration,
    /// Time a keep-alive fallback connection may sit idle between requests; default 60 s.
    pub idle_timeout: Duration,
    /// Interval of the keep-alive comment on streams; default 15 s, `None` for none.
    pub keep_alive: Option<Duration>,
    /// Bytes that may wait for one slow client before it is disconnected; default 1 MiB.
    pub max_queue_bytes: usize,
    /// Bytes that may wait for all clients together (split evenly between the workers); past
    /// it, a client holding more than an even share is disconnected as slow when the next event
    /// would be queued for it (those holding less go on, so the total may pass this by up to as
    /// much again). Default 256 MiB.
    pub max_total_queue_bytes: usize,
    /// A stream whose queued data makes no progress for this long is closed as dead or stuck;
    /// also the stream sockets' `TCP_USER_TIMEOUT`, so that a peer that vanished without a FIN
    /// (its data never acknowledged) is found. Default 45 s (three keep-alive intervals).
    pub send_timeout: Duration,
    /// Open connections at most (streams and others); past it `503`. Default 16,384. When the
    /// process may open fewer files than that (its soft `RLIMIT_NOFILE`, less the descriptors
    /// open at start and a reserve of 64 plus 4 per worker), the server holds itself to what
    /// they allow instead: [`Server::connection_limit`] says how many.
    pub max_connections: usize,
    /// A `retry` (ms) sent at the start of every stream; default none.
    pub initial_retry: Option<u64>,
    /// Extra headers on every stream head.
    pub headers: Vec<(String, String)>,
    /// How long a graceful shutdown waits for queued data to be written; default 2 s.
    pub shutdown_grace: Duration,
    /// History kept per channel for `Last-Event-ID` replay (1,024 events, 1 MiB).
    pub retention: Retention,
    /// Give events without an id their sequence number as id; default on (replay needs ids).
    pub assign_ids: bool,
    /// The widest write-coalescing window: a worker starts a write pass at most once per window,
    /// so events published in quick succession reach each client in one vectored write. Events
    /// further apart than the window are written at once. The window a worker uses is 3 × its
    /// recent pass time, up to this bound (see [`crate::proto::coalesce`]): a worker with few
    /// clients waits microseconds, a busy one up to the bound. Default 13 ms; zero writes every
    /// event at once. (Most of a write's cost is the kernel's, so fewer writes is what makes
    /// high event rates cheap: see BENCHMARKS.md.)
    pub coalesce: Duration,
    /// The bearer token of the publish endpoint (see [`ServerBuilder::publish_endpoint`]).
    pub publish_token: Option<String>,
    /// Publish join and leave events on `$presence/NAME` (see [`ServerBuilder::presence_events`]).
    pub presence_events: bool,
    /// Share channels with other nodes through Redis Streams (see [`crate::backplane`]);
    /// default none (this node alone).
    pub redis: Option<RedisConfig>,
    /// Serve the metrics on a listener of their own at this address (at the metrics path, or
    /// `/metrics`), and not on the public one; its connections (64 at most) answer nothing else
    /// and are not counted against [`Config::max_connections`], so an operator can read them
    /// when the public port is full. Default none.
    pub metrics_addr: Option<SocketAddr>,
    /// Serve HTTPS: TLS 1.3 and 1.2 on the listener (see [`crate::proto::tls`]). Default none.
    #[cfg(feature = "tls")]
    pub tls: Option<crate::proto::tls::TlsConfig>,
    /// TLS handshakes under way at once, at most (split between the workers); a connection
    /// past it is closed before its handshake. Default 1,024. The header timeout bounds each
    /// handshake's time.
    #[cfg(feature = "tls")]
    pub max_tls_handshakes: usize,
    /// Speak HTTP/2 (see [`crate::h2`]): on the plain port to clients that open with its
    /// preface (prior knowledge: `curl --http2-prior-knowledge`, h2load, proxies), and over TLS
    /// to those that ask for `h2` by ALPN (browsers). Default on; off, the preface gets `505`
    /// and ALPN offers `http/1.1` alone.
    pub http2: bool,
    /// HTTP/2's `SETTINGS_MAX_CONCURRENT_STREAMS`: streams (event streams and requests) one
    /// HTTP/2 connection may have open at once; more are refused with `REFUSED_STREAM`.
    /// Default 100, the browsers' own cap. Streams count against no other limit than this one
    /// and the queue bounds: a connection is one of [`Config::max_connections`] however many
    /// streams it carries.
    pub max_concurrent_streams: u32,
    /// How long a publish's `Idempotency-Key` is remembered (see [`crate::hub::idempotency`]):
    /// a publish under the same key within it publishes nothing and answers the first id.
    /// Default 10 minutes. With a backplane the keys live in Redis for this long.
    pub idempotency_window: Duration,
    /// Idempotency keys this node remembers at most (without a backplane; Redis holds its own);
    /// past it the oldest is forgotten early. Default 100,000; 0 remembers none.
    pub max_idempotency_keys: usize,
    /// Where the liveness probe is answered (see [`ServerBuilder::healthz_path`]); default
    /// `/healthz`, `None` for none.
    pub healthz_path: Option<String>,
    /// Where the readiness probe is answered (see [`ServerBuilder::readyz_path`]); default
    /// `/readyz`, `None` for none.
    pub readyz_path: Option<String>,
    /// A worker whose event loop has not come round for this long counts as stuck: the
    /// liveness probe answers `503`. Default 10 s (an idle loop comes round every second).
    pub stall_timeout: Duration,
}

/// Where a node's Redis backplane is. See [`crate::backplane`] (with the `redis` feature).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port[/db]`.
    pub url: String,
    /// The prefix of every key (`{ssehub}:...`): nodes that share channels use the same one.
    pub namespace: String,
    /// Longest a connection attempt may take; default 2 s.
    pub connect_timeout: Duration,
    /// Most channels one node reads at once (each is a key of every `XREAD`); a stream that
    /// would need more is refused with `503`. Default 4,096.
    pub max_channels: usize,
}

impl RedisConfig {
    /// The backplane at `url`, namespace `ssehub`.
    pub fn new(url: &str) -> RedisConfig {
        RedisConfig {
            url: url.to_owned(),
            namespace: "ssehub".to_owned(),
            connect_timeout: Duration::from_secs(2),
            max_channels: 4096,
        }
    }

    /// The URL with any password replaced by `***`, fit for messages and logs.
    ///
    /// ```
    /// let c = ssehub::RedisConfig::new("redis://user:s3cret@10.0.0.5:6379/2");
    /// assert_eq!(c.redacted_url(), "redis://user:***@10.0.0.5:6379/2");
    /// assert_eq!(ssehub::RedisConfig::new("redis://h:6379").redacted_url(), "redis://h:6379");
    /// let slash = ssehub::RedisConfig::new("redis://:pa/ss@h:6379");
    /// assert!(!slash.redacted_url().contains("pa/ss"));
    /// ```
    #[cfg(feature = "redis")]
    pub fn redacted_url(&self) -> String {
        crate::redact::redact_url(&self.url)
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            route: RouteConfig {
                pattern: PathPattern::new("/sse"),
                cors: None,
                metrics: None,
                publish: None,
                presence: None,
            },
            limits: Limits::default(),
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            keep_alive: Some(Duration::from_secs(15)),
            max_queue_bytes: 1 << 20,
            max_total_queue_bytes: 256 << 20,
            send_timeout: Duration::from_secs(45),
            max_connections: 16_384,
            initial_retry: None,
            headers: Vec::new(),
            shutdown_grace: Duration::from_secs(2),
            retention: Retention::default(),
            assign_ids: true,
            coalesce: Duration::from_millis(13),
            publish_token: None,
            presence_events: false,
            redis: None,
            metrics_addr: None,
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "tls")]
            max_tls_handshakes: 1024,
            http2: true,
            max_concurrent_streams: 100,
            idempotency_window: crate::hub::idempotency::DEFAULT_WINDOW,
            max_idempotency_keys: crate::hub::idempotency::DEFAULT_CAPACITY,
            healthz_path: Some("/healthz".to_owned()),
            readyz_path: Some("/readyz".to_owned()),
            stall_timeout: Duration::from_secs(10),
        }
    }
}

type OnConnect = dyn Fn(Client, &Request) + Send + Sync;
type Verify = dyn Fn(&Request) -> Result<(), Response> + Send + Sync;
type Fallback = dyn Fn(&Request) -> Response + Send + Sync;
type OnDisconnect = dyn Fn(&Client) + Send + Sync;
type Subscribe = dyn Fn(&Request) -> Result<Vec<String>, Response> + Send + Sync;

struct Callbacks {
    on_connect: Option<Box<OnConnect>>,
    verify: Option<Box<Verify>>,
    subscribe: Option<Box<Subscribe>>,
    /// Who may read and write which channels (after `verify` and `subscribe`).
    policy: Option<Box<dyn Policy>>,
    fallback: Option<Box<Fallback>>,
    on_disconnect: Option<Box<OnDisconnect>>,
}

/// Counters shared by the workers (relaxed atomics: figures, not synchronisation). Read as a
/// [`Stats`] snapshot.
#[derive(Default, Debug)]
pub(crate) struct Counters {
    pub(crate) streams: AtomicUsize,
    pub(crate) connections: AtomicUsize,
    pub(crate) accepted: AtomicU64,
    /// By [`Rejection`], in its order.
    pub(crate) rejected: [AtomicU64; Rejection::ALL.len()],
    pub(crate) slow_dropped: AtomicU64,
    /// Streams the policy refused, by [`RefusalKind`] (in its order).
    pub(crate) streams_refused: [AtomicU64; RefusalKind::ALL.len()],
    /// Streams ended because their access expired.
    pub(crate) streams_expired: AtomicU64,
    pub(crate) peer_errors: AtomicU64,
    pub(crate) callback_panics: AtomicU64,
    pub(crate) workers: Vec<WorkerCounters>,
    /// From a publish to the end of the write pass that sent it, per publish and worker.
    pub(crate) publish_latency: metrics::Histogram,
    #[cfg(feature = "tls")]
    pub(crate) tls: tls::TlsCounters,
    /// Open HTTP/2 connections.
    pub(crate) h2_connections: AtomicUsize,
    /// HTTP/2 refusals, by [`crate::h2::conn::Refusal::ALL`] in its order.
    pub(crate) h2_refusals: [AtomicU64; crate::h2::conn::Refusal::ALL.len()],
}

/// Why a request (or a connection) was refused: the `reason` label of
/// `ssehub_connections_rejected_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// Over the connection limit (`503` at accept).
    Limit,
    /// A malformed or oversized request (`400`, `411`, `413`, `431`, `505`).
    Malformed,
    /// A request head not complete in time (`408`).
    Timeout,
    /// Refused by routing: a method, an origin, a body on the stream path (`405`, `403`, `400`).
    Route,
    /// Refused by the application's accept check or channel choice.
    Verify,
    /// A bad channel list (`400`).
    Channels,
    /// A publish refused (token, method, body, names).
    Publish,
    /// The backplane could not answer (`503`).
    Unavailable,
}

impl Rejection {
    pub(crate) const ALL: [Rejection; 8] = [
        Rejection::Limit,
        Rejection::Malformed,
        Rejection::Timeout,
        Rejection::Route,
        Rejection::Verify,
        Rejection::Channels,
        Rejection::Publish,
        Rejection::Unavailable,
    ];

    /// The metrics label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Rejection::Limit => "connection_limit",
            Rejection::Malformed => "malformed",
            Rejection::Timeout => "timeout",
            Rejection::Route => "route",
            Rejection::Verify => "verify",
            Rejection::Channels => "channels",
            Rejection::Publish => "publish",
            Rejection::Unavailable => "unavailable",
        }
    }
}

/// One worker's counters (written by that worker only).
///
/// Aligned to 128 bytes (two cache lines, for the adjacent-line prefetcher): the workers' counters
/// sit side by side in one `Vec`, and `events` and `bytes` change on every delivery and every
/// write, so sharing a line would bounce it between the workers' cores on each of them.
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct WorkerCounters {
    pub(crate) running: AtomicBool,
    /// When its event loop last came round, in ms since the server started (see [`health`]).
    pub(crate) beat: AtomicU64,
    /// TLS handshakes under way on this worker.
    #[cfg(feature = "tls")]
    pub(crate) tls_handshaking: AtomicUsize,
    pub(crate) streams: AtomicUsize,
    pub(crate) events: AtomicU64,
    pub(crate) bytes: AtomicU64,
    /// The bytes waiting in this worker's connection queues, and their bound.
    pub(crate) pool: QueuePool,
}

impl WorkerCounters {
    fn new(pool: QueuePool) -> WorkerCounters {
        WorkerCounters {
            running: AtomicBool::new(true),
            beat: AtomicU64::new(0),
            #[cfg(feature = "tls")]
            tls_handshaking: AtomicUsize::new(0),
            streams: AtomicUsize::new(0),
            events: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            pool,
        }
    }
}

/// The server's counters at one moment ([`Server::stats`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Open event streams.
    pub streams: usize,
    /// Open connections of any kind.
    pub connections: usize,
    /// Connections accepted.
    pub accepted: u64,
    /// Requests refused (accept check, CORS, method, bad request, limits, timeouts).
    pub rejected: u64,
    /// The same, by reason (the `reason` label of `ssehub_connections_rejected_total`):
    /// `connection_limit`, `malformed`, `timeout`, `route`, `verify`, `channels`, `publish`,
    /// `unavailable`.
    pub rejected_by_reason: Vec<(&'static str, u64)>,
    /// Streams closed because their queue passed its bound (or the total queue bound), or made
    /// no progress for `send_timeout`.
    pub slow_dropped: u64,
    /// Streams the [policy](ServerBuilder::policy) refused, by reason (the `reason` label of
    /// `ssehub_streams_refused_total`): `no_token`, `bad_token`, `expired`, `forbidden`. Also
    /// counted in `rejected` (as `verify`).
    pub streams_refused: Vec<(&'static str, u64)>,
    /// Streams ended when their token expired (`ssehub_streams_expired_total`).
    pub streams_expired: u64,
    /// Connections closed by a socket error: a reset, or a peer that acknowledged nothing for
    /// `send_timeout` (the kernel's `TCP_USER_TIMEOUT`; how a client that vanished without a FIN
    /// is found once a keep-alive comment goes unanswered).
    pub peer_errors: u64,
    /// Application callbacks that panicked.
    pub callback_panics: u64,
    /// Per worker thread, in worker order.
    pub workers: Vec<WorkerStats>,
}

/// One worker's counters at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerStats {
    /// Whether its event loop runs (`false` once it stopped: see [`ServerError::Worker`]).
    pub running: bool,
    /// Open streams on this worker.
    pub streams: usize,
    /// Event frames queued to streams (one per stream per event, keep-alives included).
    pub events: u64,
    /// Bytes written to sockets.
    pub bytes: u64,
    /// Bytes waiting in this worker's connection queues.
    pub queued_bytes: usize,
    /// What they may hold together (this worker's share of [`Config::max_total_queue_bytes`]).
    pub queue_limit: usize,
}

impl Counters {
    fn snapshot(&self) -> Stats {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            streams: self.streams.load(Ordering::Relaxed),
            connections: self.connections.load(Ordering::Relaxed),
            accepted: load(&self.accepted),
            rejected: self.rejected.iter().map(load).sum(),
            rejected_by_reason: Rejection::ALL
                .iter()
                .map(|r| (r.label(), load(&self.rejected[*r as usize])))
                .collect(),
            slow_dropped: load(&self.slow_dropped),
            streams_refused: RefusalKind::ALL
                .iter()
                .map(|k| (k.label(), load(&self.streams_refused[*k as usize])))
                .collect(),
            streams_expired: load(&self.streams_expired),
            peer_errors: load(&self.peer_errors),
            callback_panics: load(&self.callback_panics),
            workers: self
                .workers
                .iter()
                .map(|w| WorkerStats {
                    running: w.running.load(Ordering::Relaxed),
                    streams: w.streams.load(Ordering::Relaxed),
                    events: load(&w.events),
                    bytes: load(&w.bytes),
                    queued_bytes: w.pool.used(),
                    queue_limit: w.pool.limit(),
                })
                .collect(),
        }
    }
}

/// What every worker shares: settings, callbacks, mailboxes, counters.
pub(crate) struct Shared {
    config: Config,
    /// Where the metrics are answered: on the public port (`config.route.metrics`) or, with
    /// a metrics listener, there.
    metrics_path: Option<String>,
    #[cfg(feature = "tls")]
    tls: Option<crate::proto::tls::TlsConfig>,
    callbacks: Callbacks,
    /// The mailboxes and the hub are shared with the backplane's threads too ([`Fanout`]).
    mailboxes: Arc<[Mailbox]>,
    hub: Arc<Mutex<Hub>>,
    /// The Redis backplane, when channels are shared with other nodes.
    backplane: Option<backplane::Backplane>,
    /// Who is on which channel.
    presence: presence::Presence,
    counters: Counters,
    /// [`Config::max_connections`], or fewer when the descriptors allow fewer.
    max_connections: usize,
    next_client_id: AtomicU64,
    next_worker: AtomicUsize,
    /// A shutdown was asked for: [`Server::adopt`] takes no more sockets.
    stopping: AtomicBool,
    /// The clock of the workers' heartbeats (see [`health`]).
    started: std::time::Instant,
    /// A drain has begun ([`ShutdownHandle::drain`]): the readiness probe says `503`.
    draining: AtomicBool,
}

/// Why the server could not start, or (a worker) stopped.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServerError {
    /// The address to listen on could not be resolved (or named none).
    Resolve(io::Error),
    /// The address could not be bound.
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the system said.
        source: io::Error,
    },
    /// Creating a poll, waker or thread failed.
    Io(io::Error),
    /// The Redis backplane could not be reached or set up.
    Backplane {
        /// Its URL, the password shown as `***`.
        url: String,
        /// What went wrong.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A backplane is configured, but this build has none (cargo feature `redis`).
    NoBackplaneSupport,
    /// A worker's event loop failed (its poll returned an error): its connections were
    /// dropped, and it took no more.
    Worker {
        /// Which worker.
        index: usize,
        /// What the poll said.
        source: io::Error,
    },
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Resolve(e) => write!(f, "cannot resolve the address to listen on: {e}"),
            ServerError::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            ServerError::Io(e) => write!(f, "cannot start the server: {e}"),
            ServerError::Backplane { url, source } => {
                write!(f, "cannot use the Redis backplane: {url}: {source}")
            }
            ServerError::NoBackplaneSupport => {
                f.write_str("this build has no Redis support (cargo feature `redis`)")
            }
            ServerError::Worker { index, source } => {
                write!(f, "worker {index} stopped: its poll failed: {source}")
            }
        }
    }
}

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServerError::Resolve(e) | ServerError::Io(e) => Some(e),
            ServerError::Bind { source, .. } | ServerError::Worker { source, .. } => Some(source),
            ServerError::Backplane { source, .. } => Some(source.as_ref()),
            ServerError::NoBackplaneSupport => None,
        }
    }
}

/// Builds a [`Server`]: settings and callbacks, then [`ServerBuilder::bind`].
pub struct ServerBuilder {
    config: Config,
    callbacks: Callbacks,
}

impl ServerBuilder {
    /// The stream path pattern (default `/sse`; one `*` is a wildcard).
    pub fn path(mut self, pattern: &str) -> Self {
        self.config.route.pattern = PathPattern::new(pattern);
        self
    }

    /// Allows cross-origin streams.
    pub fn cors(mut self, cors: Cors) -> Self {
        self.config.route.cors = Some(cors);
        self
    }

    /// Adds a header to every stream head.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.headers.push((name.into(), value.into()));
        self
    }

    /// Sends `retry: millis` at the start of every stream.
    pub fn initial_retry(mut self, millis: u64) -> Self {
        self.config.initial_retry = Some(millis);
        self
    }

    /// The keep-alive comment interval (`None`: no keep-alive comments).
    pub fn keep_alive(mut self, interval: Option<Duration>) -> Self {
        self.config.keep_alive = interval;
        self
    }

    /// The number of worker threads (at least 1).
    pub fn workers(mut self, n: usize) -> Self {
        self.config.workers = n.max(1);
        self
    }

    /// Changes settings in place: `.configure(|c| c.max_queue_bytes = 64 << 10)`.
    pub fn configure(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(&mut self.config);
        self
    }

    /// Called on the worker thread for each new stream, after its head is queued.
    pub fn on_connect(mut self, f: impl Fn(Client, &Request) + Send + Sync + 'static) -> Self {
        self.callbacks.on_connect = Some(Box::new(f));
        self
    }

    /// Decides whether a request may open a stream; `Err(response)` refuses it with that
    /// response (`Response::error(401, "...")`, a `403`, a redirect...).
    pub fn verify(mut self, f: impl Fn(&Request) -> Result<(), Response> + Send + Sync + 'static) -> Self {
        self.callbacks.verify = Some(Box::new(f));
        self
    }

    /// Decides a stream's channels (default: its `channel` query parameters, or the default
    /// channel when it names none, see [`crate::hub::requested_channels`]); `Err(response)`
    /// refuses the stream. Names are checked as [`crate::hub::validate_channels`] does.
    pub fn subscribe(
        mut self,
        f: impl Fn(&Request) -> Result<Vec<String>, Response> + Send + Sync + 'static,
    ) -> Self {
        self.callbacks.subscribe = Some(Box::new(f));
        self
    }

    /// Decides who may read and write which channels: a ready-made
    /// [`JwtPolicy`](crate::auth::JwtPolicy) (feature `jwt`) or the application's own
    /// [`Policy`]. It is asked for every stream once its channels are chosen (after
    /// [`ServerBuilder::verify`] and [`ServerBuilder::subscribe`]); a refusal is answered `401` or
    /// `403` with a JSON reason (`{"error":"no_token"}`) and counted by reason in the metrics, and
    /// a stream it allows ends when its [`Access`](crate::auth::Access) does. With the publish
    /// endpoint on, it also decides which channels a request may publish to.
    ///
    /// ```no_run
    /// use ssehub::auth::{Algorithm, JwtConfig, JwtPolicy, Patterns, Verifier};
    ///
    /// let verifier = Verifier::from_config(JwtConfig::hmac(Algorithm::HS256, std::fs::read("secret")?))?;
    /// let server = ssehub::Server::builder()
    ///     .policy(JwtPolicy::new(verifier).public(Patterns::parse(["news"])?))
    ///     .bind("127.0.0.1:8080")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn policy(mut self, policy: impl Policy + 'static) -> Self {
        self.callbacks.policy = Some(Box::new(policy));
        self
    }

    /// Answers `GET path` (and `HEAD`) with the liveness probe: `200` while every worker's
    /// event loop runs, else `503` (see [`Config::stall_timeout`]); on the metrics listener
    /// too, when there is one. Default `/healthz`; `None` turns it off.
    ///
    /// ```
    /// let server = ssehub::Server::builder()
    ///     .healthz_path("/livez") // and GET /healthz is the application's again
    ///     .readyz_path(None) // no readiness probe
    ///     .bind(("127.0.0.1", 0))?;
    /// # Ok::<(), ssehub::ServerError>(())
    /// ```
    pub fn healthz_path<'a>(mut self, path: impl Into<Option<&'a str>>) -> Self {
        self.config.healthz_path = path.into().map(str::to_owned);
        self
    }

    /// Answers `GET path` (and `HEAD`) with the readiness probe: `503` while the node drains
    /// ([`ShutdownHandle::drain`]) or its Redis backplane is unreachable, else `200`; on the
    /// metrics listener too, when there is one. Default `/readyz`; `None` turns it off.
    pub fn readyz_path<'a>(mut self, path: impl Into<Option<&'a str>>) -> Self {
        self.config.readyz_path = path.into().map(str::to_owned);
        self
    }

    /// Answers `GET path` with the server's metrics in the Prometheus text format
    /// (see [`Server::metrics`]).
    pub fn metrics_path(mut self, path: &str) -> Self {
        self.config.route.metrics = Some(path.to_owned());
        self
    }

    /// Serves HTTPS on the listener with `tls` (a certificate and key: see
    /// [`TlsConfig::from_pem`](crate::proto::tls::TlsConfig::from_pem)). Plain HTTP sent there
    /// gets a `400` saying to use `https://`.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: crate::proto::tls::TlsConfig) -> Self {
        self.config.tls = Some(tls);
        self
    }

    /// Speaks HTTP/2 (on by default) or not (see [`Config::http2`]).
    pub fn http2(mut self, on: bool) -> Self {
        self.config.http2 = on;
        self
    }

    /// HTTP/2's `SETTINGS_MAX_CONCURRENT_STREAMS` (default 100; see
    /// [`Config::max_concurrent_streams`]).
    pub fn max_concurrent_streams(mut self, streams: u32) -> Self {
        self.config.max_concurrent_streams = streams;
        self
    }

    /// Serves the metrics on their own listener at `addr` instead of the public port (see
    /// [`Config::metrics_addr`]); [`Server::metrics_addr`] says where, once bound.
    pub fn metrics_addr(mut self, addr: SocketAddr) -> Self {
        self.config.metrics_addr = Some(addr);
        self
    }

    /// Enables `POST path` for publishing over HTTP with `Authorization: Bearer token` (see
    /// [`crate::hub::publish`]). Without it there is no such endpoint: publishing is never open
    /// by default.
    pub fn publish_endpoint(mut self, path: &str, token: &str) -> Self {
        self.config.route.publish = Some(path.to_owned());
        self.config.publish_token = Some(token.to_owned());
        self
    }

    /// Enables `POST path` for publishing over HTTP with no shared token: the
    /// [policy](ServerBuilder::policy) decides, per channel (with a [`JwtPolicy`](crate::auth::JwtPolicy),
    /// the `publish` claims of the bearer token). Without a policy every publish is refused.
    pub fn publish_path(mut self, path: &str) -> Self {
        self.config.route.publish = Some(path.to_owned());
        self
    }

    /// Answers `GET path` (every channel with subscribers) and `GET path/NAME` (one channel)
    /// with JSON: `{"channel":"room-1","subscribers":2,"sub":["alice","bob"]}` (`sub`: the
    /// subjects of the streams opened with a token). Only for holders of the publish token, or
    /// of a token the [policy](ServerBuilder::policy) lets publish there (`GET path` lists only
    /// those channels). With Redis the counts are every node's (see
    /// [`crate::hub::presence`]).
    pub fn presence(mut self, path: &str) -> Self {
        self.config.route.presence = Some(path.to_owned());
        self
    }

    /// Publishes `event: join` / `event: leave` with `{"sub":"alice"}` on the companion
    /// channel `$presence/NAME` when a subject's first stream on `NAME` starts and its last one
    /// ends (a leave held back a few seconds, so that a reconnect is neither). See
    /// [`crate::hub::presence`].
    pub fn presence_events(mut self, on: bool) -> Self {
        self.config.presence_events = on;
        self
    }

    /// Shares channels with every node that uses the same Redis (and namespace): publishes go
    /// to Redis Streams and come back to every node's clients, with the stream entry ids as
    /// event ids. [`ServerBuilder::bind`] fails when Redis cannot be reached. See
    /// [`crate::backplane`]; needs the `redis` feature (on by default).
    pub fn redis(mut self, config: RedisConfig) -> Self {
        self.config.redis = Some(config);
        self
    }

    /// Keeps `retention` per channel for `Last-Event-ID` replay.
    pub fn retention(mut self, retention: Retention) -> Self {
        self.config.retention = retention;
        self
    }

    /// Answers every request off the stream path (default: `404`).
    pub fn fallback(mut self, f: impl Fn(&Request) -> Response + Send + Sync + 'static) -> Self {
        self.callbacks.fallback = Some(Box::new(f));
        self
    }

    /// Called when a stream ends, whatever the cause.
    pub fn on_disconnect(mut self, f: impl Fn(&Client) + Send + Sync + 'static) -> Self {
        self.callbacks.on_disconnect = Some(Box::new(f));
        self
    }

    /// Binds `addr` (the first address it resolves to) and starts the workers.
    pub fn bind(self, addr: impl ToSocketAddrs) -> Result<Server, ServerError> {
        let addr =
            addr.to_socket_addrs().map_err(ServerError::Resolve)?.next().ok_or_else(|| {
                ServerError::Resolve(io::Error::new(io::ErrorKind::InvalidInput, "no address"))
            })?;
        self.start(|| Ok(vec![listen(addr).map_err(|source| ServerError::Bind { addr, source })?]))
    }

    /// Serves on a listener the caller made (bound, listening): one a supervisor passed in
    /// (systemd socket activation: `ssehub serve` does it for `LISTEN_FDS`), or one bound with
    /// options of the caller's own. Everything else is as [`ServerBuilder::bind`]: the listener
    /// is made non-blocking and joins the event loop; TLS, HTTP/2 and the metrics listener apply.
    ///
    /// ```
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// let server = ssehub::Server::builder().listen_on(listener)?;
    /// assert_eq!(server.local_addr(), addr);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn listen_on(self, listener: std::net::TcpListener) -> Result<Server, ServerError> {
        self.listen_on_all([listener])
    }

    /// Serves on every listener given (at least one), as [`ServerBuilder::listen_on`] does on
    /// one: one server accepts on all of them (IPv4 and IPv6, several ports, each fd systemd
    /// passed). [`Server::local_addr`] is the first one's address; [`Server::local_addrs`]
    /// lists them all.
    pub fn listen_on_all(
        self,
        listeners: impl IntoIterator<Item = std::net::TcpListener>,
    ) -> Result<Server, ServerError> {
        let listeners: Vec<std::net::TcpListener> = listeners.into_iter().collect();
        self.start(move || {
            if listeners.is_empty() {
                let none = io::Error::new(io::ErrorKind::InvalidInput, "no listener given");
                return Err(ServerError::Io(none));
            }
            listeners
                .into_iter()
                .map(|l| {
                    l.set_nonblocking(true).map_err(ServerError::Io)?;
                    Ok(mio::net::TcpListener::from_std(l))
                })
                .collect()
        })
    }

    /// Starts the workers with no listener of their own: connections come only through
    /// [`Server::adopt`], from an accept loop of the application's (see `examples/handoff.rs`).
    /// [`Server::local_addrs`] is then empty (and [`Server::local_addr`] `0.0.0.0:0`); the
    /// metrics listener, if configured, is bound as usual.
    ///
    /// ```
    /// let server = ssehub::Server::builder().adopt_only()?;
    /// assert!(server.local_addrs().is_empty());
    /// # Ok::<(), ssehub::ServerError>(())
    /// ```
    pub fn adopt_only(self) -> Result<Server, ServerError> {
        self.start(|| Ok(Vec::new()))
    }

    /// Starts the workers on the listeners `listen` gives (after the backplane is reached:
    /// a node that cannot reach its backplane must not take clients).
    fn start(
        self,
        listen_fn: impl FnOnce() -> Result<Vec<mio::net::TcpListener>, ServerError>,
    ) -> Result<Server, ServerError> {
        let backplane = match &self.config.redis {
            Some(redis) => Some(backplane::Backplane::connect(
                redis,
                self.config.retention.max_events,
                self.config.idempotency_window,
            )?),
            None => None,
        };
        let listeners = listen_fn()?;
        let local_addrs = listeners
            .iter()
            .map(|l| l.local_addr())
            .collect::<io::Result<Vec<SocketAddr>>>()
            .map_err(ServerError::Io)?;
        let mut config = self.config;
        let (admin_listener, metrics_addr, metrics_path) = match config.metrics_addr {
            Some(addr) => {
                let l = listen(addr).map_err(|source| ServerError::Bind { addr, source })?;
                let bound = l.local_addr().map_err(ServerError::Io)?;
                // The metrics move off the public port.
                let path = config.route.metrics.take().unwrap_or_else(|| "/metrics".to_owned());
                (Some(l), Some(bound), Some(path))
            }
            None => (None, None, config.route.metrics.clone()),
        };

        let n = config.workers.max(1);
        let max_connections = descriptors::allowed(
            config.max_connections,
            descriptors::soft_limit(),
            descriptors::open_now(),
            descriptors::reserve(n),
        );
        let mut polls = Vec::with_capacity(n);
        let mut mailboxes = Vec::with_capacity(n);
        for _ in 0..n {
            let poll = mio::Poll::new().map_err(ServerError::Io)?;
            let waker = mio::Waker::new(poll.registry(), worker::WAKER).map_err(ServerError::Io)?;
            polls.push(poll);
            mailboxes.push(Mailbox::new(waker));
        }
        let ids = config.assign_ids.then(IdScheme::from_clock);
        let mut hub = Hub::new(config.retention, ids);
        hub.remember_keys(config.idempotency_window, config.max_idempotency_keys);
        let hub = Arc::new(Mutex::new(hub));
        let per_worker = (config.max_total_queue_bytes / n).max(1);
        #[cfg(feature = "tls")]
        let tls = match &config.tls {
            // The ALPN offer follows the HTTP/2 setting; the certificate is the same one.
            Some(tls) if !config.http2 && tls.offers_h2() => Some(tls.without_h2()),
            tls => tls.clone(),
        };
        let presence = presence::Presence::new(config.presence_events);
        let shared = Arc::new(Shared {
            presence,
            config,
            metrics_path,
            #[cfg(feature = "tls")]
            tls,
            callbacks: self.callbacks,
            mailboxes: mailboxes.into(),
            hub,
            backplane,
            counters: Counters {
                workers: (0..n).map(|_| WorkerCounters::new(QueuePool::new(per_worker))).collect(),
                ..Counters::default()
            },
            max_connections,
            next_client_id: AtomicU64::new(1),
            next_worker: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
            started: std::time::Instant::now(),
            draining: AtomicBool::new(false),
        });
        if let Some(backplane) = &shared.backplane {
            backplane.start(shared.fanout()).map_err(ServerError::Io)?;
        }
        presence::start(&shared).map_err(ServerError::Io)?;
        let (mut listeners, mut admin_listener) = (listeners, admin_listener);
        let mut threads = Vec::with_capacity(n);
        for (index, poll) in polls.into_iter().enumerate() {
            let mine = std::mem::take(&mut listeners);
            let w = worker::Worker::new(index, poll, mine, admin_listener.take(), shared.clone())
                .map_err(ServerError::Io)?;
            let thread = std::thread::Builder::new()
                .name(format!("ssehub-worker-{index}"))
                .spawn(move || {
                    let result = w.run();
                    if let Err(e) = &result {
                        log::error!("worker {index} stopped: its poll failed: {e}");
                    }
                    result
                })
                .map_err(ServerError::Io)?;
            threads.push(thread);
        }
        startup::log(&shared, &local_addrs, metrics_addr);
        Ok(Server { local_addrs, metrics_addr, shared, threads })
    }
}

fn listen(addr: SocketAddr) -> io::Result<mio::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    // A deep backlog: thousands of clients reconnecting at once must not see SYN drops.
    socket.listen(4096)?;
    socket.set_nonblocking(true)?;
    Ok(mio::net::TcpListener::from_std(socket.into()))
}

/// A running server.
///
/// Dropping it shuts it down (as [`Server::shutdown`] does) and waits for its threads; to keep
/// it serving, keep it, and block in [`Server::wait`] (a [`ShutdownHandle`] stops it from
/// anywhere).
#[must_use = "a Server shuts down when dropped: keep it, or wait() on it"]
pub struct Server {
    /// Every listener's address, in the order given (empty: [`ServerBuilder::adopt_only`]).
    local_addrs: Vec<SocketAddr>,
    metrics_addr: Option<SocketAddr>,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// A builder with the default [`Config`].
    pub fn builder() -> ServerBuilder {
        Server::with_config(Config::default())
    }

    /// A builder starting from `config` (the builder's methods then change it further).
    ///
    /// ```
    /// let mut config = ssehub::Config::default();
    /// config.max_connections = 1_000;
    /// let server = ssehub::Server::with_config(config).path("/events").bind(("127.0.0.1", 0))?;
    /// assert_eq!(server.connection_limit(), 1_000);
    /// # Ok::<(), ssehub::ServerError>(())
    /// ```
    pub fn with_config(config: Config) -> ServerBuilder {
        ServerBuilder {
            config,
            callbacks: Callbacks {
                on_connect: None,
                verify: None,
                subscribe: None,
                policy: None,
                fallback: None,
                on_disconnect: None,
            },
        }
    }

    /// The most connections open at once: [`Config::max_connections`], or fewer when the
    /// process's file descriptors allow fewer (see the `RLIMIT_NOFILE` note on
    /// [`Config::max_connections`]).
    pub fn connection_limit(&self) -> usize {
        self.shared.max_connections
    }

    /// The TLS configuration, when the server serves HTTPS: [`reload`] it to rotate the
    /// certificate without dropping a stream.
    ///
    /// [`reload`]: crate::proto::tls::TlsConfig::reload
    #[cfg(feature = "tls")]
    pub fn tls(&self) -> Option<&crate::proto::tls::TlsConfig> {
        self.shared.tls.as_ref()
    }

    /// Where the metrics listener listens, if there is one ([`Config::metrics_addr`]; with the
    /// real port when bound to port 0).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The address the server listens on (with the real port when bound to port 0); with
    /// several listeners ([`ServerBuilder::listen_on_all`]), the first one's; with none
    /// ([`ServerBuilder::adopt_only`]), `0.0.0.0:0`.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addrs.first().copied().unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Every address the server listens on, in the order its listeners were given.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// A handle that sends to every client.
    pub fn broadcaster(&self) -> Broadcaster {
        Broadcaster { shared: self.shared.clone() }
    }

    /// A handle that can stop the server from any thread (a signal handler's, say).
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle { shared: self.shared.clone() }
    }

    /// The server's counters, now.
    pub fn stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }

    /// The server's metrics in the Prometheus text exposition format.
    pub fn metrics(&self) -> String {
        metrics::render(&self.shared)
    }

    /// Stops accepting, ends every stream gracefully, and waits for the workers to finish (see
    /// [`Server::wait`] to learn whether one had failed).
    pub fn shutdown(self) {
        self.shutdown_handle().shutdown();
        let _ = self.wait();
    }

    fn join(&mut self) -> Result<(), ServerError> {
        let mut failed = None;
        for (index, t) in std::mem::take(&mut self.threads).into_iter().enumerate() {
            if let Ok(Err(source)) = t.join() {
                failed.get_or_insert(ServerError::Worker { index, source });
            }
        }
        if let Some(backplane) = &self.shared.backplane {
            // After a drain it ran until the last stream ended.
            backplane.stop();
            backplane.wait();
        }
        self.shared.presence.stop();
        self.shared.presence.wait();
        failed.map_or(Ok(()), Err)
    }

    /// Blocks until the server stops (after a [`ShutdownHandle::shutdown`]); `Err` if a worker
    /// stopped on its own because its event loop failed (the others go on serving until then).
    pub fn wait(mut self) -> Result<(), ServerError> {
        self.join()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.shutdown_handle().shutdown();
            let _ = self.join();
        }
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("local_addrs", &self.local_addrs)
            .field("workers", &self.shared.mailboxes.len())
            .field("streams", &self.shared.counters.streams.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.callbacks;
        f.debug_struct("ServerBuilder")
            .field("config", &self.config)
            .field("on_connect", &c.on_connect.is_some())
            .field("verify", &c.verify.is_some())
            .field("subscribe", &c.subscribe.is_some())
            .field("policy", &c.policy.is_some())
            .field("fallback", &c.fallback.is_some())
            .field("on_disconnect", &c.on_disconnect.is_some())
            .finish()
    }
}

impl fmt::Debug for ShutdownHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownHandle").finish_non_exhaustive()
    }
}

/// Stops a [`Server`] from any thread.
#[derive(Clone)]
pub struct ShutdownHandle {
    shared: Arc<Shared>,
}

impl ShutdownHandle {
    /// Asks every worker to stop: no new connections, streams ended with their final chunk,
    /// queued data written for at most [`Config::shutdown_grace`].
    pub fn shutdown(&self) {
        self.shared.stopping.store(true, Ordering::Release);
        for mailbox in self.shared.mailboxes.iter() {
            let _ = mailbox.post(Command::Shutdown);
        }
        if let Some(backplane) = &self.shared.backplane {
            backplane.stop();
        }
        self.shared.presence.stop();
    }

    /// Drains the node: the readiness probe turns `503`, no new connection is taken, every
    /// stream is sent a short `retry` (0.5 to 1.5 s) and then ended (HTTP/2: after a
    /// `GOAWAY`), evenly over `over`, so that clients reconnect to other nodes a few at a time
    /// and resume there by `Last-Event-ID`; events published meanwhile reach the streams still
    /// open. Then the workers stop, as after
    /// [`ShutdownHandle::shutdown`] (queued data gets at most 0.75 s more, or
    /// [`Config::shutdown_grace`] if shorter), and [`Server::wait`] returns. `over` zero ends
    /// every stream at once. A [`ShutdownHandle::shutdown`] during the drain ends what is left
    /// at once.
    ///
    /// ```no_run
    /// # let server = ssehub::Server::builder().bind("127.0.0.1:8080")?;
    /// server.shutdown_handle().drain(std::time::Duration::from_secs(10));
    /// server.wait()?;
    /// # Ok::<(), ssehub::ServerError>(())
    /// ```
    pub fn drain(&self, over: Duration) {
        if self.shared.draining.swap(true, Ordering::AcqRel) {
            return;
        }
        let start = std::time::Instant::now();
        log::info!(
            "draining: the streams end over {over:?}, then the server stops (a shutdown ends them at once)"
        );
        for mailbox in self.shared.mailboxes.iter() {
            let _ = mailbox.post(Command::Drain { start, over });
        }
    }

    /// Whether a drain has begun.
    pub fn is_draining(&self) -> bool {
        self.shared.draining.load(Ordering::Acquire)
    }
}

impl Shared {
    fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a refusal.
    fn reject(&self, why: Rejection) {
        Shared::count(&self.counters.rejected[why as usize]);
    }

    /// Counts a stream the policy refused, by its kind (`ssehub_streams_refused_total`).
    fn stream_refused(&self, refusal: &crate::auth::Refusal) {
        Shared::count(&self.counters.streams_refused[refusal.kind() as usize]);
    }

    /// Who may publish, now: the shared token and the policy.
    pub(crate) fn publishers(&self) -> crate::hub::publish::Publishers<'_> {
        crate::hub::publish::Publishers {
            token: self.config.publish_token.as_deref(),
            policy: self.callbacks.policy.as_deref(),
            now: since_epoch().as_secs(),
        }
    }

    fn lock_hub(&self) -> MutexGuard<'_, Hub> {
        lock(&self.hub)
    }

    /// Publishes an event: through the backplane when there is one (waiting until Redis has
    /// it), else numbered, encoded and retained here and handed to every worker.
    fn publish(&self, target: &Target, event: crate::Event) -> Result<Published, PublishError> {
        if let Some(backplane) = &self.backplane {
            return backplane.publish_wait(target.clone(), event);
        }
        let mut hub = self.lock_hub();
        let published = hub.publish(target, event, std::time::Instant::now())?;
        post_published(&self.mailboxes, &published, target);
        Ok(published)
    }

    /// [`Shared::publish`] under an idempotency key, if any (see [`Broadcaster::publish_once`]).
    pub(crate) fn publish_keyed(
        &self,
        target: &Target,
        event: crate::Event,
        key: Option<&IdempotencyKey>,
    ) -> Result<Receipt, PublishError> {
        if let Some(backplane) = &self.backplane {
            return backplane.publish_wait_keyed(target.clone(), event, key.cloned());
        }
        let Some(key) = key else {
            let published = self.publish(target, event)?;
            let id = published.id_or_seq();
            return Ok(Receipt { id, replayed: false });
        };
        let mut hub = self.lock_hub();
        match hub.publish_once(target, event, key, std::time::Instant::now()) {
            Ok(Once::Published(published)) => {
                post_published(&self.mailboxes, &published, target);
                let id = published.id_or_seq();
                Ok(Receipt { id, replayed: false })
            }
            Ok(Once::Replayed(id)) => Ok(Receipt { id, replayed: true }),
            Err(OnceError::Invalid(e)) => Err(PublishError::Invalid(e)),
            Err(OnceError::KeyReused) => Err(PublishError::KeyReused),
        }
    }

    /// Publishes each of `batch` in order (see [`Broadcaster::publish_batch`]).
    pub(crate) fn publish_batch(
        &self,
        batch: Vec<(Target, crate::Event)>,
    ) -> Vec<Result<Receipt, PublishError>> {
        if let Some(backplane) = &self.backplane {
            return backplane.publish_wait_many(batch);
        }
        let mut hub = self.lock_hub();
        let now = std::time::Instant::now();
        batch
            .into_iter()
            .map(|(target, event)| {
                let published = hub.publish(&target, event, now)?;
                post_published(&self.mailboxes, &published, &target);
                let id = published.id_or_seq();
                Ok(Receipt { id, replayed: false })
            })
            .collect()
    }

    /// What the backplane's threads get.
    fn fanout(&self) -> Fanout {
        Fanout {
            hub: self.hub.clone(),
            mailboxes: self.mailboxes.clone(),
            max_queue_bytes: self.config.max_queue_bytes,
        }
    }
}

/// What the backplane's threads hold of the server: the hub and the workers' mailboxes (the
/// ones [`Shared`] holds) and the bound on a client's queue. Not the settings, the callbacks or
/// the counters: nothing the workers alone use.
#[derive(Clone)]
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) struct Fanout {
    hub: Arc<Mutex<Hub>>,
    mailboxes: Arc<[Mailbox]>,
    /// [`Config::max_queue_bytes`]: what a replay from Redis may hold.
    pub(crate) max_queue_bytes: usize,
}

#[cfg_attr(not(feature = "redis"), allow(dead_code))]
impl Fanout {
    pub(crate) fn lock_hub(&self) -> MutexGuard<'_, Hub> {
        lock(&self.hub)
    }

    /// Posts `command` to worker `worker` (if there is one: the index comes back from a job).
    pub(crate) fn post(&self, worker: usize, command: Command) {
        if let Some(mailbox) = self.mailboxes.get(worker) {
            let _ = mailbox.post(command);
        }
    }

    /// As [`post_published`].
    pub(crate) fn post_published(&self, published: &Published, target: &Target) {
        post_published(&self.mailboxes, published, target);
    }
}

fn lock(hub: &Mutex<Hub>) -> MutexGuard<'_, Hub> {
    hub.lock().unwrap_or_else(|p| p.into_inner())
}

/// The wall clock's time since the Unix epoch (tokens' times are on it).
pub(crate) fn since_epoch() -> Duration {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default()
}

/// Hands a publish to every worker. Callers hold the hub's lock, so that every worker sees
/// publishes in sequence order.
fn post_published(mailboxes: &[Mailbox], published: &Published, target: &Target) {
    let at = std::time::Instant::now();
    for (n, mailbox) in mailboxes.iter().enumerate() {
        // The first worker shares the hub's frame; the others get copies (see `own_copy`).
        let frame = if n == 0 { published.frame.clone() } else { published.frame.own_copy() };
        let _ = mailbox.post(Command::Publish(published.seq, frame, target.clone(), at));
    }
}
