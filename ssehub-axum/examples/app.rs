//! An axum application with its own routes, and ssehub's streams on `/sse`.
//!
//! ```text
//! cargo run -p ssehub-axum --example app [-- ADDR] [--handoff] [--redis URL] [--tick-ms MS]
//!     [--max-queue-bytes N] [--stream-ms MS] [--retry-ms MS]
//! ```
//!
//! - `GET /`        a page whose `EventSource('/sse')` shows the events (`/?channel=a`: of `a`)
//! - `GET /hello`   the application's own route
//! - `POST /publish?channel=NAME&event=TYPE`  publishes the body (to `default` without a channel);
//!   answers `201 {"id":"..."}`
//! - `GET /sse?channel=...`  the stream: replay by `Last-Event-ID` (with a `gap` event when
//!   events were missed), keep-alive comments, a slow client cut off
//! - a tick on `default` every `--tick-ms` (1000; 0: none), `tick N`, each with its id
//! - `--stream-ms`: every stream ends after that long (the client resumes by `Last-Event-ID`);
//!   `--retry-ms`: the reconnection delay the streams ask for
//! - `--rate R [--size N]`: instead of the tick, R events a second of N bytes (the nanoseconds
//!   since the epoch first), as `ssehub serve --rate`, for `ssehub bench`
//!
//! With `--redis URL` the hub is an `ssehub::Server`'s on the loopback address, sharing Redis
//! (and so every channel) with the `ssehub serve --redis URL` nodes.
//!
//! With `--handoff` a connection whose first request is for `/sse` goes to ssehub's own workers
//! ([`ssehub_axum::handoff::HandOff`]: about 0.6 KB a stream instead of hyper's ~19 KB), every
//! other connection to axum (the `/sse` route serves a reused keep-alive connection's stream,
//! from the same hub). The bounds above apply to both.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use serde::Deserialize;
use ssehub_axum::SseHub;
use ssehub_axum::handoff::HandOff;

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>ssehub in axum</title>
<h1>ssehub in an axum application</h1>
<p>Events <span id="count">0</span>, last id <code id="last"></code>,
  connections <span id="opens">0</span>, ticks missing <span id="holes">0</span>,
  ticks twice <span id="dups">0</span>, gap events <span id="gaps">0</span></p>
<ol id="events"></ol>
<script>
  const $ = (id) => document.getElementById(id);
  const bump = (id) => { $(id).textContent = Number($(id).textContent) + 1; };
  let lastTick = 0;
  // The page's own query (`/?channel=a`) is the stream's.
  const es = new EventSource('/sse' + location.search);
  es.onopen = () => bump('opens');
  es.onmessage = (e) => {
    bump('count');
    $('last').textContent = e.lastEventId;
    const tick = /^tick (\d+)$/.exec(e.data);
    if (tick) {
      const n = Number(tick[1]);
      if (lastTick && n <= lastTick) bump('dups');
      else if (lastTick && n > lastTick + 1) $('holes').textContent = Number($('holes').textContent) + n - lastTick - 1;
      lastTick = Math.max(lastTick, n);
    }
    const li = document.createElement('li');
    li.textContent = e.data.length > 80 ? e.data.slice(0, 80) + '…' : e.data;
    $('events').prepend(li);
    while ($('events').children.length > 20) $('events').lastChild.remove();
  };
  es.addEventListener('gap', () => bump('gaps'));
</script>
"#;

#[derive(Deserialize)]
struct PublishQuery {
    channel: Option<String>,
    event: Option<String>,
}

async fn publish(
    State(hub): State<SseHub>,
    Query(q): Query<PublishQuery>,
    body: String,
) -> impl IntoResponse {
    let mut event = ssehub::Event::new(body);
    if let Some(t) = q.event {
        event = event.event(t);
    }
    let channel = q.channel.unwrap_or_else(|| ssehub::hub::DEFAULT_CHANNEL.to_owned());
    if ssehub::hub::validate_channels(vec![channel.clone()]).is_err() {
        return (StatusCode::BAD_REQUEST, "bad channel name\n".to_owned());
    }
    match hub.publish(&channel, event).await {
        Ok(p) => (StatusCode::CREATED, format!("{{\"id\":\"{}\"}}", p.id.as_deref().unwrap_or_default())),
        Err(e) => (
            StatusCode::from_u16(ssehub::http::answer::Refusal::status(&e))
                .unwrap_or(StatusCode::BAD_REQUEST),
            format!("{e}\n"),
        ),
    }
}

struct Args {
    addr: String,
    redis: Option<String>,
    tick: Duration,
    max_queue_bytes: Option<usize>,
    stream_for: Option<Duration>,
    retry: Option<u64>,
    /// `--rate R --size N`: R events a second instead of the tick, as `ssehub serve --rate`
    /// (data: the nanoseconds since the epoch, padded to N bytes), for `ssehub bench`.
    rate: Option<(f64, usize)>,
    handoff: bool,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        addr: "127.0.0.1:3000".into(),
        redis: None,
        tick: Duration::from_secs(1),
        max_queue_bytes: None,
        stream_for: None,
        retry: None,
        rate: None,
        handoff: false,
    };
    let mut size = 64;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--redis" => a.redis = Some(value("--redis")?),
            "--handoff" => a.handoff = true,
            "--tick-ms" => {
                a.tick =
                    Duration::from_millis(value("--tick-ms")?.parse().map_err(|e| format!("--tick-ms: {e}"))?)
            }
            "--max-queue-bytes" => {
                a.max_queue_bytes =
                    Some(value("--max-queue-bytes")?.parse().map_err(|e| format!("--max-queue-bytes: {e}"))?)
            }
            "--stream-ms" => {
                let ms = value("--stream-ms")?.parse().map_err(|e| format!("--stream-ms: {e}"))?;
                a.stream_for = Some(Duration::from_millis(ms));
            }
            "--retry-ms" => {
                a.retry = Some(value("--retry-ms")?.parse().map_err(|e| format!("--retry-ms: {e}"))?)
            }
            "--rate" => {
                let r: f64 = value("--rate")?.parse().map_err(|e| format!("--rate: {e}"))?;
                a.rate = Some((r, size));
            }
            "--size" => {
                size = value("--size")?.parse().map_err(|e| format!("--size: {e}"))?;
                a.rate = a.rate.map(|(r, _)| (r, size));
            }
            s if !s.starts_with('-') => a.addr = s.to_owned(),
            s => return Err(format!("unknown option {s}")),
        }
    }
    Ok(a)
}

/// `rate` events a second to every stream, each one's data the nanoseconds since the epoch
/// then `x`s up to `size` bytes (what `ssehub bench` reads latency from).
async fn publish_at(hub: SseHub, rate: f64, size: usize) {
    let start = tokio::time::Instant::now();
    let mut sent = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    loop {
        tick.tick().await;
        let due = (start.elapsed().as_secs_f64() * rate) as u64;
        while sent < due {
            let ns = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            let mut data = format!("{} ", ns.as_nanos());
            while data.len() < size {
                data.push('x');
            }
            let _ = hub.send(ssehub::Event::new(data)).await;
            sent += 1;
        }
    }
}

/// The `ssehub::Server` whose hub the application shares: with `--redis`, its backplane; with
/// `--handoff`, also the workers that serve the streams handed to them, with the same bounds as
/// the handler's.
fn server_for(args: &Args) -> Result<ssehub::Server, ssehub::ServerError> {
    let mut builder = ssehub::Server::builder();
    if let Some(url) = &args.redis {
        builder = builder.redis(ssehub::RedisConfig::new(url));
    }
    if !args.handoff {
        // Its hub and backplane alone; no stream is served there.
        return builder.workers(1).bind("127.0.0.1:0");
    }
    if let Some(ms) = args.retry {
        builder = builder.initial_retry(ms);
    }
    if let Some(n) = args.max_queue_bytes {
        builder = builder.configure(|c| c.max_queue_bytes = n);
    }
    if let Some(every) = args.stream_for {
        // The server has no bound on a stream's life: the application ends its streams itself.
        let streams: Arc<Mutex<Vec<(Instant, ssehub::Client)>>> = Arc::default();
        let registry = streams.clone();
        builder = builder.on_connect(move |client, _| {
            registry.lock().unwrap_or_else(|p| p.into_inner()).push((Instant::now(), client));
        });
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(Duration::from_millis(20));
                streams.lock().unwrap_or_else(|p| p.into_inner()).retain(|(opened, client)| {
                    let open = opened.elapsed() < every && client.is_connected();
                    if !open {
                        client.close();
                    }
                    open
                });
            }
        });
    }
    builder.adopt_only()
}

#[tokio::main]
async fn main() {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("app: {e}");
            std::process::exit(2);
        }
    };
    let mut builder = SseHub::builder().max_duration(args.stream_for);
    if let Some(ms) = args.retry {
        builder = builder.initial_retry(ms);
    }
    if let Some(n) = args.max_queue_bytes {
        builder = builder.max_queue_bytes(n);
    }
    // Kept for as long as the application runs: its hub is the one the streams use.
    let mut server = None;
    let hub = if args.redis.is_none() && !args.handoff {
        builder.local(ssehub::Retention::default())
    } else {
        let s = server_for(&args).unwrap_or_else(|e| {
            eprintln!("app: {e}");
            std::process::exit(1);
        });
        let hub = builder.attach(s.broadcaster());
        server = Some(s);
        hub
    };
    if let Some((rate, size)) = args.rate {
        tokio::spawn(publish_at(hub.clone(), rate, size));
    } else if !args.tick.is_zero() {
        let ticker = hub.clone();
        let every = args.tick;
        tokio::spawn(async move {
            let mut n = 0u64;
            let mut interval = tokio::time::interval(every);
            loop {
                interval.tick().await;
                n += 1;
                if let Err(e) = ticker.publish(ssehub::hub::DEFAULT_CHANNEL, format!("tick {n}")).await {
                    eprintln!("app: tick {n} not published: {e}");
                }
            }
        });
    }
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/hello", get(|| async { "hello from axum\n" }))
        .route("/publish", post(publish))
        .route("/sse", hub.handler())
        .with_state(hub);
    let listener = match tokio::net::TcpListener::bind(&args.addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("app: cannot listen on {}: {e}", args.addr);
            std::process::exit(1);
        }
    };
    println!("listening on http://{}", listener.local_addr().map_or(args.addr.clone(), |a| a.to_string()));
    // `into_make_service`: the router is made ready once, and each connection holds a clone of
    // it (a reference count). Served as a bare `Router`, axum rebuilds the router's route maps
    // for every connection (`Router::with_state` per accepted socket), ~3.5 KB that every
    // event stream would keep for its whole life.
    let served = match server.as_ref().filter(|_| args.handoff) {
        Some(server) => axum::serve(HandOff::new(listener, server.adopter()), app.into_make_service()).await,
        None => axum::serve(listener, app.into_make_service()).await,
    };
    if let Err(e) = served {
        eprintln!("app: {e}");
        std::process::exit(1);
    }
}
