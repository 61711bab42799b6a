//! `ssehub serve`: the guide's demo and the benchmark server.
//!
//! * `GET /` — a page that says what the demo does and whose `EventSource` shows each event
//!   live, the clock as local time. The page opens its stream with `lastEventId` set to the
//!   clock's event before the newest, so the hub's replay hands it the newest at once.
//! * `POST /publish` — with a publish token (`--publish-token-file FILE`, `SSEHUB_PUBLISH_TOKEN`
//!   or `--publish-token TOKEN`): publish the body as an event (see README).
//! * With a JWT key (`--jwt-secret`, `--jwt-key FILE --jwt-alg ALG`, `--jwks FILE`): every
//!   stream needs a token (`Authorization: Bearer`, the `ssehub_token` cookie or
//!   `?access_token=`) granting its channels, unless they are public (`--public-channel`);
//!   `POST /publish` takes tokens with `publish` claims (see README, Authorization).
//! * `GET /metrics` — the server's counters in the Prometheus text format (`--metrics-path`).
//! * `GET <path>` (default `/sse`) — the stream: by default the time in milliseconds since the
//!   UNIX epoch once a second; with `--rate R`, R events a second whose data is the decimal
//!   nanoseconds since the epoch at publishing, a space, and `x` padding to `--size` bytes (the
//!   data `ssehub bench` measures latency from).
//!
//! Every event gets an id and is kept for replay (`--replay`): a client that reconnects with
//! `Last-Event-ID` gets what it missed. With `--channel NAME` the events go to that channel only,
//! and the page at `/?channel=NAME` listens there.
//!
//! With `--redis redis://HOST:PORT` the node shares its channels with every node on the same Redis
//! (and `--redis-namespace`): publishes go through Redis Streams and reach every node's clients,
//! and event ids are stream entry ids, so a client may resume on any node. An unreachable Redis
//! at start is an error (exit status 1).
//!
//! Under systemd socket activation (`LISTEN_FDS`, see `listen_fds.rs`) it serves on the sockets
//! passed instead of binding `--addr`.
//!
//! `GET /healthz` and `GET /readyz` are the health probes (`--healthz-path`, `--readyz-path`,
//! `--no-probes`; README, Deployment).
//!
//! SIGTERM drains: the node stops accepting, `/readyz` says 503, and the streams end evenly over
//! `--drain-secs` (default 10 s), each told a short `retry` first, so that clients move to other
//! nodes gradually; then exit status 0. SIGINT, or a second SIGTERM, stops at once: streams end
//! with their last chunk, exit status 0.

use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ssehub::hub::{Retention, Target};
use ssehub::{Cors, Event, Response, Server};

use crate::units;

const PAGE: &str = include_str!("page.html");
/// The largest `--rate` event: past this every client's queue would overflow on each event anyway.
const MAX_RATE_EVENT_SIZE: usize = 64 << 20;
/// The environment variable that may hold the publish token (out of `ps`'s sight).
const TOKEN_VARIABLE: &str = "SSEHUB_PUBLISH_TOKEN";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Read settings from this TOML file (or the one SSEHUB_CONFIG names): its keys are these
    /// flags' long names (`addr = ":8080"`, `channel = ["a", "b"]`, `no-http2 = true`). Each
    /// flag is also a SSEHUB_* environment variable (SSEHUB_MAX_CONNECTIONS). Precedence: the
    /// file < the environment < the command line. See `ssehub config example`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on: HOST:PORT, [IPv6]:PORT, :PORT (every IPv4 interface, 0.0.0.0;
    /// `[::]:PORT` for IPv6 too) or PORT (localhost, 127.0.0.1). Not used under systemd socket
    /// activation (LISTEN_FDS and LISTEN_PID set for this process): then it serves on the
    /// sockets passed (descriptors 3, 4, ...).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR", value_parser = units::listen_addr)]
    pub addr: String,
    /// The stream path (one `*` is a wildcard).
    #[arg(long, default_value = "/sse")]
    pub path: String,
    /// Broadcast this many events per second (benchmark data) instead of the clock.
    #[arg(long, value_name = "PER_SECOND", allow_negative_numbers = true, value_parser = units::positive)]
    pub rate: Option<f64>,
    /// Data size of each `--rate` event (64, 1KiB; a bare number is bytes).
    #[arg(long, default_value = "64", value_name = "SIZE", allow_hyphen_values = true)]
    #[arg(value_parser = units::bytes)]
    pub size: usize,
    /// Worker threads (default: one per CPU).
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = units::count)]
    pub workers: Option<usize>,
    /// Time between keep-alive comments (15s, 500ms; a bare number is seconds); 0 turns them off.
    #[arg(long, default_value = "15s", value_name = "DURATION", allow_hyphen_values = true)]
    #[arg(value_parser = units::seconds)]
    pub keep_alive: Duration,
    /// Send `retry: MS` at the start of every stream (3s, 3000ms; a bare number is milliseconds).
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true, value_parser = units::whole_millis)]
    pub retry: Option<u64>,
    /// Allow cross-origin streams from this origin (repeatable; `*` for any).
    #[arg(long = "cors-origin")]
    pub cors_origins: Vec<String>,
    /// Queued for one client before it is dropped as too slow (1MiB, 64k; a bare number is bytes).
    #[arg(long, default_value = "1MiB", value_name = "SIZE", allow_hyphen_values = true)]
    #[arg(value_parser = units::bytes_nonzero)]
    pub max_queue_bytes: usize,
    /// Queued for all clients together; past it, clients still behind are dropped (256MiB; a
    /// bare number is bytes).
    #[arg(long, default_value = "256MiB", value_name = "SIZE", allow_hyphen_values = true)]
    #[arg(value_parser = units::bytes_nonzero)]
    pub max_total_queue_bytes: usize,
    /// Time a stream's queued data may make no progress before the stream is closed (also its
    /// TCP_USER_TIMEOUT, which finds peers that vanished without a FIN); 45s, 2m; a bare number
    /// is seconds.
    #[arg(long, default_value = "45s", value_name = "DURATION", allow_hyphen_values = true)]
    #[arg(value_parser = units::seconds_nonzero)]
    pub send_timeout: Duration,
    /// Most open connections; past it new ones get 503.
    #[arg(long, default_value_t = 16_384, value_name = "N", allow_negative_numbers = true)]
    #[arg(value_parser = units::count)]
    pub max_connections: usize,
    /// Speak HTTP/1.1 only: the HTTP/2 preface gets 505 and TLS offers no h2 by ALPN.
    #[arg(long)]
    pub no_http2: bool,
    /// HTTP/2 streams one connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS).
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub max_concurrent_streams: u32,
    /// Time a client has to send its request head, then 408 (10s, 500ms; a bare number is seconds).
    #[arg(long, default_value = "10s", value_name = "DURATION", allow_hyphen_values = true)]
    #[arg(value_parser = units::seconds_nonzero)]
    pub header_timeout: Duration,
    /// Time a keep-alive connection off the stream path may idle between requests (60s, 2m; a
    /// bare number is seconds).
    #[arg(long, default_value = "60s", value_name = "DURATION", allow_hyphen_values = true)]
    #[arg(value_parser = units::seconds_nonzero)]
    pub idle_timeout: Duration,
    /// Largest request head, then 431 (8KiB; a bare number is bytes; at least 16).
    #[arg(long, default_value = "8KiB", value_name = "SIZE", allow_hyphen_values = true)]
    #[arg(value_parser = units::bytes)]
    pub max_head_bytes: usize,
    /// Most header fields in a request head (then 431).
    #[arg(long, default_value_t = 64, value_name = "N", allow_negative_numbers = true)]
    #[arg(value_parser = units::count)]
    pub max_headers: usize,
    /// Events kept per channel for Last-Event-ID replay; 0 keeps none.
    #[arg(long, default_value_t = 1024, value_name = "N", allow_negative_numbers = true)]
    #[arg(value_parser = units::whole)]
    pub replay: usize,
    /// Encoded bytes kept per channel for replay (1MiB; a bare number is bytes).
    #[arg(long, default_value = "1MiB", value_name = "SIZE", allow_hyphen_values = true)]
    #[arg(value_parser = units::bytes)]
    pub replay_bytes: usize,
    /// Encoded bytes kept for replay across all channels together, the oldest go first (64MiB; a
    /// bare number is bytes).
    #[arg(long, default_value = "64MiB", value_name = "SIZE", allow_hyphen_values = true)]
    #[arg(value_parser = units::bytes)]
    pub replay_total_bytes: usize,
    /// Longest an event is kept for replay (5m, 1h; a bare number is seconds; default: no age
    /// bound).
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true, value_parser = units::seconds)]
    pub replay_age: Option<Duration>,
    /// The widest write-coalescing window: a worker writes at most once per window, so a burst
    /// of events reaches each client in one write; a worker narrows it to 3 × its recent
    /// write-pass time (13ms, 2ms; a bare number is milliseconds; 0 writes every event at once).
    #[arg(long, default_value = "13ms", value_name = "DURATION", allow_hyphen_values = true)]
    #[arg(value_parser = units::millis)]
    pub coalesce_ms: Duration,
    /// Enable `POST <publish-path>` for publishing over HTTP with `Authorization: Bearer TOKEN`.
    /// Other users of the machine see a process's arguments (`ps`): prefer --publish-token-file
    /// or the SSEHUB_PUBLISH_TOKEN environment variable.
    #[arg(long, value_name = "TOKEN", conflicts_with = "publish_token_file")]
    pub publish_token: Option<String>,
    /// Enable `POST <publish-path>` with the token in this file (its first line, surrounding
    /// whitespace trimmed). Without either flag, the SSEHUB_PUBLISH_TOKEN environment variable
    /// is used when set.
    #[arg(long, value_name = "FILE")]
    pub publish_token_file: Option<PathBuf>,
    /// The publish endpoint's path.
    #[arg(long, default_value = "/publish")]
    pub publish_path: String,
    /// How long a publish's `Idempotency-Key` is remembered: a retry with the same key within
    /// it publishes nothing and gets the first id (10m; a bare number is seconds).
    #[arg(long, default_value = "10m", value_name = "DURATION", allow_hyphen_values = true)]
    #[arg(value_parser = units::seconds_nonzero)]
    pub idempotency_window: Duration,
    /// Idempotency keys remembered at most on this node without --redis (Redis keeps its own);
    /// past it the oldest is forgotten early. 0 remembers none.
    #[arg(long, default_value_t = 100_000, value_name = "N", allow_negative_numbers = true)]
    #[arg(value_parser = units::whole)]
    pub max_idempotency_keys: usize,
    /// Where the server answers with its metrics (Prometheus text format).
    #[arg(long, default_value = "/metrics")]
    pub metrics_path: String,
    /// Serve no metrics.
    #[arg(long)]
    pub no_metrics: bool,
    /// Publish the clock (or --rate) events to this channel instead of to every stream
    /// (repeatable; clients pick channels with `?channel=NAME`).
    #[arg(long = "channel")]
    pub channels: Vec<String>,
    /// Publish no clock events: only `POST <publish-path>` (and other nodes) publish.
    #[arg(long, conflicts_with = "rate")]
    pub no_clock: bool,
    /// Share channels with other nodes through this Redis (`redis://HOST:PORT[/DB]`).
    #[arg(long, value_name = "URL")]
    pub redis: Option<String>,
    /// The prefix of the Redis keys: nodes that share channels use the same one.
    #[arg(long, default_value = "ssehub", requires = "redis")]
    pub redis_namespace: String,
    /// Most channels this node reads from Redis at once; a stream needing more gets 503.
    #[arg(long, default_value_t = 4096, requires = "redis", value_name = "N", allow_negative_numbers = true)]
    #[arg(value_parser = units::count)]
    pub redis_max_channels: usize,
    /// Serve HTTPS with this PEM certificate chain (the server's certificate first); SIGHUP
    /// reads it and --tls-key again.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert (RSA, ECDSA or Ed25519).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve HTTPS with a certificate made at start for localhost, 127.0.0.1 and ::1 (its SHA-256
    /// fingerprint is printed): to try HTTPS in one command.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    pub tls_self_signed: bool,
    /// Serve the metrics on a listener of their own at ADDR (and not on the public port).
    #[arg(long, value_name = "ADDR", value_parser = units::listen_addr)]
    pub metrics_addr: Option<String>,
    /// Publish `event: join` / `event: leave` (data `{"sub":...}`) on `$presence/NAME` when a
    /// token's subject comes to or leaves channel NAME (a leave held back 3 s: a reconnect is
    /// neither); with --redis, once for the whole cluster.
    #[arg(long)]
    pub presence_events: bool,
    #[command(flatten)]
    pub auth: crate::jwt::JwtArgs,
    /// Where the liveness probe is answered: 200 while every worker's event loop runs, else 503
    /// (on the --metrics-addr listener too).
    #[arg(long, default_value = "/healthz", value_name = "PATH")]
    pub healthz_path: String,
    /// Where the readiness probe is answered: 503 while draining or while Redis is
    /// unreachable, else 200 (on the --metrics-addr listener too).
    #[arg(long, default_value = "/readyz", value_name = "PATH")]
    pub readyz_path: String,
    /// Answer neither probe (--healthz-path, --readyz-path).
    #[arg(long)]
    pub no_probes: bool,
    /// On SIGTERM, end the streams evenly over this long (each told `retry` 0.5-1.5 s first),
    /// so that clients move to other nodes gradually, then exit (10s, 500ms; a bare number is
    /// seconds; 0 ends all at once). A second SIGTERM, or SIGINT, stops at once.
    #[arg(long, default_value = "10", value_name = "SECONDS", allow_hyphen_values = true)]
    #[arg(value_parser = units::seconds)]
    pub drain_secs: Duration,
    /// How log lines on stderr look: `human` (`ssehub: ...`) or `json` (one object a line:
    /// ts, level, target, msg and fields; see README, Logs).
    #[arg(long, value_enum, default_value_t = crate::log_format::Format::Human, value_name = "FORMAT")]
    pub log_format: crate::log_format::Format,
    /// The least severe level logged (error, warn, info, debug, trace) [default: info, or
    /// RUST_LOG's; this flag wins over RUST_LOG, which also takes TARGET=LEVEL lists].
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub log_level: Option<crate::log_format::LogLevel>,
}

/// What `serve` checks before it binds anything, and what it read to check it: the settings
/// that must go together, and the files it reads (the publish token file, the JWT key or JWKS,
/// the TLS certificate and key). `config check` runs it too, so that a file it passes is one
/// `serve` starts with.
pub struct Checked {
    publish_token: Option<String>,
    policy: Option<ssehub::auth::JwtPolicy>,
    target: Target,
    metrics_addr: Option<std::net::SocketAddr>,
    tls: Option<(ssehub::proto::tls::TlsConfig, crate::tls::Source)>,
}

/// See [`Checked`]: `Err` is the one-line reason `serve` would stop with (exit status 1).
pub fn check(args: &Args) -> Result<Checked, String> {
    if args.size > MAX_RATE_EVENT_SIZE {
        return Err(format!("--size must be at most 64MiB, not {}", args.size));
    }
    if args.max_head_bytes < 16 {
        return Err(format!("--max-head-bytes must be at least 16, not {}", args.max_head_bytes));
    }
    let publish_token = publish_token(args)?;
    let policy = crate::jwt::policy(&args.auth)?;
    let target = if args.channels.is_empty() {
        Target::All
    } else {
        ssehub::hub::validate_channels(args.channels.clone())
            .map_err(|_| "--channel names must be 1 to 256 bytes")?;
        Target::channels(&args.channels)
    };
    if args.redis.is_some() && (args.redis_namespace.is_empty() || args.redis_namespace.contains(['{', '}']))
    {
        return Err("--redis-namespace must be non-empty, without braces".into());
    }
    for (flag, path) in [("--healthz-path", &args.healthz_path), ("--readyz-path", &args.readyz_path)] {
        if !path.starts_with('/') {
            return Err(format!("{flag} must start with /, not {path:?}"));
        }
    }
    let metrics_addr = match &args.metrics_addr {
        None => None,
        Some(addr) => Some(
            std::net::ToSocketAddrs::to_socket_addrs(addr.as_str())
                .ok()
                .and_then(|mut a| a.next())
                .ok_or_else(|| format!("--metrics-addr {addr} is not an address"))?,
        ),
    };
    let tls = crate::tls::configure(args.tls_cert.as_ref(), args.tls_key.as_ref(), args.tls_self_signed)?;
    Ok(Checked { publish_token, policy, target, metrics_addr, tls })
}

pub fn run(args: Args) -> Result<(), String> {
    // First, before any thread: it takes the sockets a supervisor passed (and clears LISTEN_*).
    let inherited = crate::listen_fds::take()?;
    let Checked { publish_token, policy, target, metrics_addr, tls } = check(&args)?;
    let about = match args.rate {
        _ if args.no_clock => {
            "the server pushes down it, as a Server-Sent Event, each event published to it (POST to the \
             publish endpoint, or on another node)"
                .to_owned()
        }
        None => "the server pushes the current time down it every second, as a Server-Sent Event".to_owned(),
        Some(rate) => format!(
            "the server pushes {rate} benchmark events a second down it, as Server-Sent Events (the \
             nanoseconds since the epoch, padded to {} bytes)",
            args.size
        ),
    };
    let page = PAGE
        .replace("STREAM_PATH", &html_escape(&args.path.replace('*', "demo")))
        .replace("ABOUT_EVENTS", &html_escape(&about));
    // The clock's last two ids, for the page (see `LastTwo`); kept only when replay can use them.
    let last_two = Arc::new(Mutex::new(LastTwo::default()));
    let keep_ids = args.rate.is_none() && !args.no_clock && args.replay > 0;
    let ids = Arc::clone(&last_two);
    let mut builder = Server::builder()
        .path(&args.path)
        .keep_alive((!args.keep_alive.is_zero()).then_some(args.keep_alive))
        .configure(|c| {
            c.max_queue_bytes = args.max_queue_bytes;
            c.max_total_queue_bytes = args.max_total_queue_bytes;
            c.max_connections = args.max_connections;
            c.http2 = !args.no_http2;
            c.max_concurrent_streams = args.max_concurrent_streams;
            c.header_timeout = args.header_timeout;
            c.idle_timeout = args.idle_timeout;
            c.coalesce = args.coalesce_ms;
            c.idempotency_window = args.idempotency_window;
            c.max_idempotency_keys = args.max_idempotency_keys;
            c.send_timeout = args.send_timeout;
            c.limits.max_head_bytes = args.max_head_bytes;
            c.limits.max_headers = args.max_headers;
            c.retention = Retention {
                max_events: args.replay,
                max_bytes: args.replay_bytes,
                max_age: args.replay_age,
                max_total_bytes: args.replay_total_bytes,
            };
        })
        .fallback(move |req| match (req.method.as_str(), req.path.as_str()) {
            ("GET" | "HEAD", "/" | "/index.html") => {
                let resume = ids.lock().ok().and_then(|ids| ids.older.clone());
                Response::html(page.replace("RESUME_FROM", &html_escape(resume.as_deref().unwrap_or(""))))
                    // Each page names the event its stream resumes after: never reuse an old one.
                    .header("Cache-Control", "no-store")
            }
            _ => Response::not_found(),
        });
    match &publish_token {
        Some(token) => builder = builder.publish_endpoint(&args.publish_path, token),
        // With a JWT key, tokens with `publish` claims may publish.
        None if policy.is_some() => builder = builder.publish_path(&args.publish_path),
        None => {}
    }
    if publish_token.is_some() || policy.is_some() {
        // Presence, for those who may publish: `GET /channels`, `GET /channels/NAME`.
        builder = builder.presence("/channels").presence_events(args.presence_events);
    }
    let credentials = policy.is_some();
    if let Some(policy) = policy {
        builder = builder.policy(policy);
    }
    if let Some(url) = &args.redis {
        let mut redis = ssehub::RedisConfig::new(url);
        redis.namespace = args.redis_namespace.clone();
        redis.max_channels = args.redis_max_channels;
        builder = builder.redis(redis);
    }
    if !args.no_metrics {
        builder = builder.metrics_path(&args.metrics_path);
    }
    if args.no_probes {
        builder = builder.healthz_path(None).readyz_path(None);
    } else {
        builder = builder.healthz_path(args.healthz_path.as_str()).readyz_path(args.readyz_path.as_str());
    }
    if let Some(n) = args.workers {
        builder = builder.workers(n);
    }
    if let Some(ms) = args.retry {
        builder = builder.initial_retry(ms);
    }
    if !args.cors_origins.is_empty() {
        builder = builder.cors(if args.cors_origins.iter().any(|o| o == "*") {
            Cors::any()
        } else {
            // With tokens, a browser's `EventSource(url, {withCredentials: true})` sends the
            // cookie: allowed for the origins named (never for `*`, any site).
            Cors::origins(args.cors_origins.clone()).credentials(credentials)
        });
    }
    if let Some(addr) = metrics_addr {
        builder = builder.metrics_addr(addr);
    }
    let tls_source = match tls {
        Some((config, source)) => {
            builder = builder.tls(config);
            Some(source)
        }
        None => None,
    };
    let files = raise_open_files_limit();
    // Socket activation wins over --addr: the supervisor owns the port.
    let server = match inherited {
        Some(inherited) => {
            let labels: Vec<String> = inherited.iter().map(|i| i.label.clone()).collect();
            eprintln!(
                "ssehub: socket activation: serving on {} (LISTEN_FDS; --addr not used)",
                labels.join(", ")
            );
            builder.listen_on_all(inherited.into_iter().map(|i| i.listener))
        }
        None => builder.bind(args.addr.as_str()),
    }
    .map_err(|e| e.to_string())?;
    if server.connection_limit() < args.max_connections {
        log::warn!(
            "at most {} connections, not --max-connections {}: the process may open only {} files \
             (raise its hard limit, e.g. LimitNOFILE= or ulimit -Hn)",
            server.connection_limit(),
            args.max_connections,
            files.map_or("a few".to_owned(), |n| n.to_string())
        );
    }

    let shutdown = server.shutdown_handle();
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let reload = server.tls().cloned().zip(tls_source);
    let drain_for = args.drain_secs;
    thread::spawn(move || {
        for signal in signals.forever() {
            match (signal, &reload) {
                (SIGHUP, Some((config, source))) => crate::tls::reload(config, source),
                (SIGHUP, None) => {}
                // The first SIGTERM drains (an orchestrator's stop); SIGINT (Ctrl-C) or a
                // second SIGTERM stops at once.
                (SIGTERM, _) if !shutdown.is_draining() => shutdown.drain(drain_for),
                _ => {
                    shutdown.shutdown();
                    return;
                }
            }
        }
    });

    let addr = server.local_addr();
    let scheme = if server.tls().is_some() { "https" } else { "http" };
    println!("ssehub listening on {scheme}://{addr}/ (stream: {scheme}://{addr}{})", args.path);
    for more in &server.local_addrs()[1..] {
        println!("ssehub also listening on {scheme}://{more}/");
    }
    if let Some(tls) = server.tls() {
        println!("ssehub: TLS certificate SHA-256 {}", crate::tls::fingerprint(&tls.certificate_der()));
    }
    if let Some(metrics) = server.metrics_addr() {
        println!("ssehub: metrics on http://{metrics}{}", args.metrics_path);
    }
    let all = server.broadcaster();
    trim_after_crowds(server.broadcaster());
    match args.rate {
        None if args.no_clock => None,
        None => Some(thread::spawn(move || clock(all, target, keep_ids.then_some(last_two)))),
        Some(rate) => Some(thread::spawn(move || paced(all, target, rate, args.size))),
    };
    server.wait().map_err(|e| e.to_string())?;
    Ok(())
}

/// The publish token: `--publish-token`, else the first line of `--publish-token-file`, else
/// `SSEHUB_PUBLISH_TOKEN`; `None` when none is given (no publish endpoint).
fn publish_token(args: &Args) -> Result<Option<String>, String> {
    token_from(
        args.publish_token.as_deref(),
        args.publish_token_file.as_deref(),
        std::env::var_os(TOKEN_VARIABLE),
    )
}

/// [`publish_token`] from its three sources. An empty token is an error wherever it comes from:
/// it would be a mistake, never a wish for an open endpoint.
fn token_from(
    flag: Option<&str>,
    file: Option<&Path>,
    env: Option<OsString>,
) -> Result<Option<String>, String> {
    if let Some(token) = flag {
        return match token.is_empty() {
            true => Err("--publish-token must not be empty".into()),
            false => Ok(Some(token.to_owned())),
        };
    }
    if let Some(path) = file {
        let shown = path.display();
        let mut text = String::new();
        // A token is short: read a little past what one could be, never a whole (or endless) file.
        File::open(path)
            .and_then(|f| f.take(64 * 1024).read_to_string(&mut text))
            .map_err(|e| format!("--publish-token-file {shown}: {e}"))?;
        let token = text.lines().next().unwrap_or("").trim();
        return match token.is_empty() {
            true => {
                Err(format!("--publish-token-file {shown}: the first line is empty; it must hold the token"))
            }
            false => Ok(Some(token.to_owned())),
        };
    }
    let Some(env) = env else { return Ok(None) };
    match env.to_str().map(str::trim) {
        Some("") => Err(format!("{TOKEN_VARIABLE} is set but empty; unset it, or set it to the token")),
        Some(token) => Ok(Some(token.to_owned())),
        None => Err(format!("{TOKEN_VARIABLE} is not valid UTF-8")),
    }
}

/// `s` fit for HTML text and attribute values.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn since_epoch() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// The ids of the clock's last two events. A page served now opens its stream with
/// `lastEventId` set to the older one, so the hub replays the newest at once (in order with the
/// live events, without gap or duplicate) and the page shows the time without waiting up to a
/// second for the next tick.
#[derive(Default)]
struct LastTwo {
    older: Option<Arc<str>>,
    newest: Option<Arc<str>>,
}

/// The guide's demo: the time in milliseconds, once a second.
fn clock(all: ssehub::Broadcaster, target: Target, ids: Option<Arc<Mutex<LastTwo>>>) {
    loop {
        let published = all.publish_to(&target, Event::new(since_epoch().as_millis().to_string()));
        if let (Ok(published), Some(Ok(mut ids))) = (published, ids.as_ref().map(|ids| ids.lock())) {
            ids.older = std::mem::replace(&mut ids.newest, published.id);
        }
        let ms_into_second = since_epoch().subsec_millis();
        thread::sleep(Duration::from_millis(u64::from(1000 - ms_into_second)));
    }
}

/// Benchmark data at `rate` events a second: nanoseconds since the epoch, padded to `size`.
fn paced(all: ssehub::Broadcaster, target: Target, rate: f64, size: usize) {
    let start = Instant::now();
    let mut sent: u64 = 0;
    let mut data = String::with_capacity(size.max(32));
    loop {
        let due = (start.elapsed().as_secs_f64() * rate) as u64;
        while sent < due {
            data.clear();
            data.push_str(&since_epoch().as_nanos().to_string());
            data.push(' ');
            while data.len() < size {
                data.push('x');
            }
            let _ = all.publish_to(&target, Event::new(data.as_str()));
            sent += 1;
        }
        // Asleep until the next event is due: a thread that woke every millisecond to look
        // would cost the server a thousand context switches a second at any rate.
        let next = Duration::from_secs_f64((sent + 1) as f64 / rate);
        thread::sleep(next.saturating_sub(start.elapsed()));
    }
}

/// Raises the soft limit on open files to the hard one (every connection is a file); returns the
/// soft limit in force afterwards.
fn raise_open_files_limit() -> Option<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit read and write one rlimit struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    Some(limit.rlim_cur)
}

/// glibc keeps the pages freed in its per-thread arenas: after a crowd of clients has left
/// (1,024 fewer than at the last peak, checked once a second), hand them back to the system.
/// (Measured in BENCHMARKS.md: 5,956 KiB kept after 19,000 streams closed, 3,908 KiB with this.)
fn trim_after_crowds(hub: ssehub::Broadcaster) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    thread::spawn(move || {
        let mut peak = 0;
        loop {
            thread::sleep(Duration::from_secs(1));
            let now = hub.client_count();
            peak = peak.max(now);
            if peak >= now + 1024 {
                peak = now;
                // SAFETY: malloc_trim only walks glibc's own free lists; it has no preconditions.
                unsafe {
                    libc::malloc_trim(0);
                }
            }
        }
    });
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    drop(hub);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_publish_token_from_flag_file_or_environment() {
        let dir = std::env::temp_dir().join(format!("ssehub-token-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let env = |s: &str| Some(OsString::from(s));
        assert_eq!(token_from(None, None, None), Ok(None));
        assert_eq!(token_from(Some("t0"), None, env("t1")), Ok(Some("t0".into())));
        assert_eq!(token_from(Some(""), None, None), Err("--publish-token must not be empty".into()));
        let good = file("good", "  s3cret \t\r\nsecond line\n");
        assert_eq!(token_from(None, Some(&good), env("t1")), Ok(Some("s3cret".into())));
        assert_eq!(token_from(None, Some(&file("bare", "s3cret")), None), Ok(Some("s3cret".into())));
        let empty = file("empty", "\ns3cret\n");
        let err = token_from(None, Some(&empty), None).unwrap_err();
        assert!(err.ends_with("the first line is empty; it must hold the token"), "{err}");
        let err = token_from(None, Some(&dir.join("missing")), None).unwrap_err();
        assert!(err.starts_with("--publish-token-file ") && err.contains("No such file"), "{err}");
        assert_eq!(token_from(None, None, env(" tok\n")), Ok(Some("tok".into())));
        assert_eq!(
            token_from(None, None, env(" ")),
            Err("SSEHUB_PUBLISH_TOKEN is set but empty; unset it, or set it to the token".into())
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(html_escape("/sse?a=1&b=\"<x>'"), "/sse?a=1&amp;b=&quot;&lt;x&gt;&#39;");
    }
}
