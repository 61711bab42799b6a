//! ssehub's hub inside an axum application: one route serves event streams with ssehub's
//! channels, `Last-Event-ID` replay (and its `gap` event), authorization, keep-alive, bounded
//! per-client queues and, when configured, the Redis backplane; the application keeps its own
//! routes, its middleware, and axum's TLS and HTTP/2.
//!
//! ```text
//! GET /sse?channel=a ─► axum (the app's middleware) ─► SseHub::stream
//!    ─► ssehub::Request ─► verify / channels / Policy (ssehub's own rules) ─► refusal, or
//!    ─► Subscription (replay + gap, then live) ─► SseBody ─► hyper ─► the client
//! SseHub::publish ─► the hub: numbered, encoded once, retained ─► every Subscription
//!                   (with Redis: through the backplane, to every node)
//! ```
//!
//! The hub is either one of its own ([`SseHubBuilder::local`]: publishing, retention, replay in
//! process) or an [`ssehub::Server`]'s ([`SseHubBuilder::attach`]): then the application's
//! streams share that server's hub, its Redis backplane included, with the server's own clients
//! and with every other node on the same Redis. A server kept only for its backplane can listen
//! on the loopback address alone.
//!
//! The core crate has no async runtime: a [`Subscription`](ssehub::hub::subscription) is a
//! bounded queue of shared frames and a `std::task::Waker`. This crate is the tokio/hyper side:
//! each event's bytes go to every client as the same allocation ([`bytes::Bytes::from_owner`]).
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use ssehub_axum::SseHub;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let hub = SseHub::builder().local(ssehub::Retention::default());
//! let app = Router::new()
//!     .route("/", get(|| async { "hello" }))
//!     .route("/sse", hub.handler());
//! let ticker = hub.clone();
//! tokio::spawn(async move {
//!     loop {
//!         let _ = ticker.send(ssehub::Event::new("tick")).await;
//!         tokio::time::sleep(std::time::Duration::from_secs(1)).await;
//!     }
//! });
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! // `into_make_service`: the router made ready once, not once per connection.
//! axum::serve(listener, app.into_make_service()).await?;
//! # Ok(()) }
//! ```

pub mod body;
#[cfg(feature = "handoff")]
pub mod handoff;
pub mod request;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use bytes::Bytes;
use ssehub::auth::{Access, Policy};
use ssehub::hub::local::LocalHub;
use ssehub::hub::subscription::{Ended, Subscription};
use ssehub::hub::{Target, requested_channels, validate_channels};
use ssehub::{Broadcaster, Event, PublishError, Published, Retention};

pub use body::SseBody;

/// Longest a stream waits for the backplane to start it before answering `503`.
const READY_WAIT: Duration = Duration::from_secs(5);

type Verify = dyn Fn(&ssehub::Request) -> Result<(), ssehub::Response> + Send + Sync;
type Subscribe = dyn Fn(&ssehub::Request) -> Result<Vec<String>, ssehub::Response> + Send + Sync;

enum Source {
    Local(LocalHub),
    Server(Broadcaster),
}

struct Inner {
    source: Source,
    keep_alive: Option<Duration>,
    max_queue_bytes: usize,
    max_duration: Option<Duration>,
    first: Bytes,
    verify: Option<Box<Verify>>,
    subscribe: Option<Box<Subscribe>>,
    policy: Option<Box<dyn Policy>>,
}

/// Streams and publishes through one hub. Cheap to clone (keep one in your state). See the
/// [crate docs](crate).
#[derive(Clone)]
pub struct SseHub {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SseHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.inner.source {
            Source::Local(_) => "local",
            Source::Server(_) => "server",
        };
        f.debug_struct("SseHub")
            .field("hub", &kind)
            .field("keep_alive", &self.inner.keep_alive)
            .field("max_queue_bytes", &self.inner.max_queue_bytes)
            .finish_non_exhaustive()
    }
}

/// Settings for an [`SseHub`]; every one has the server's default.
pub struct SseHubBuilder {
    keep_alive: Option<Duration>,
    max_queue_bytes: usize,
    max_duration: Option<Duration>,
    retry: Option<u64>,
    verify: Option<Box<Verify>>,
    subscribe: Option<Box<Subscribe>>,
    policy: Option<Box<dyn Policy>>,
}

impl std::fmt::Debug for SseHubBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseHubBuilder")
            .field("keep_alive", &self.keep_alive)
            .field("max_queue_bytes", &self.max_queue_bytes)
            .field("retry", &self.retry)
            .field("verify", &self.verify.is_some())
            .field("subscribe", &self.subscribe.is_some())
            .field("policy", &self.policy.is_some())
            .finish()
    }
}

impl SseHub {
    /// The settings, then [`SseHubBuilder::local`] or [`SseHubBuilder::attach`].
    pub fn builder() -> SseHubBuilder {
        let defaults = ssehub::Config::default();
        SseHubBuilder {
            keep_alive: defaults.keep_alive,
            max_queue_bytes: defaults.max_queue_bytes,
            max_duration: None,
            retry: None,
            verify: None,
            subscribe: None,
            policy: None,
        }
    }

    /// The route that serves streams: `.route("/sse", hub.handler())`. Only `GET`s; the
    /// application's layers (CORS, compression off, auth...) apply as to any route.
    pub fn handler<S: Clone + Send + Sync + 'static>(&self) -> MethodRouter<S> {
        let hub = self.clone();
        axum::routing::get(move |req: Request| {
            let hub = hub.clone();
            async move { hub.stream(req).await }
        })
    }

    /// Answers a stream request: the application's `verify`, the channels (its `subscribe`
    /// hook, or ssehub's `?channel=` rules), the [`Policy`], then `200` and the stream
    /// (replay first, with a `gap` event if the client missed events), or the refusal.
    pub async fn stream(&self, req: Request) -> Response {
        let (parts, _body) = req.into_parts();
        let head = request::to_ssehub(&parts);
        let (channels, access) = match self.check(&head) {
            Ok(ok) => ok,
            Err(answer) => return request::to_axum(answer),
        };
        let last_event_id = head.last_event_id();
        let mut sub = self.subscribe(&channels, last_event_id.as_deref());
        let ready = std::future::poll_fn(|cx| sub.poll_ready(cx));
        match tokio::time::timeout(READY_WAIT, ready).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return unavailable(&e.to_string()),
            Err(_) => return unavailable("the backplane did not answer in time"),
        }
        let now = std::time::Instant::now();
        let expires = access.ends_at(since_epoch(), now);
        let (ends, expiry) = match (expires, self.inner.max_duration.and_then(|d| now.checked_add(d))) {
            (Some(a), Some(b)) => (Some(a.min(b)), a <= b),
            (a, b) => (a.or(b), a.is_some()),
        };
        let ends = ends.map(tokio::time::Instant::from_std);
        let mut body = SseBody::new(self.inner.first.clone(), sub, self.inner.keep_alive, ends);
        if let Source::Server(b) = &self.inner.source {
            // Counted as the server's own streams are, for as long as the body lives.
            let counted = b.count_stream(body.subscription().channels(), access.subject);
            body = body.counted(counted, expiry);
        }
        let mut response = axum::body::Body::new(body).into_response();
        for (name, value) in ssehub::http::response::STREAM_HEADERS {
            response.headers_mut().insert(name, HeaderValue::from_static(value));
        }
        response
    }

    /// A subscription of this hub (for a body of your own; [`SseHub::stream`] makes one).
    pub fn subscribe(&self, channels: &[Arc<str>], last_event_id: Option<&str>) -> Subscription {
        let limit = self.inner.max_queue_bytes;
        match &self.inner.source {
            Source::Local(hub) => hub.subscribe(channels, last_event_id, limit),
            Source::Server(b) => b.subscribe(channels, last_event_id, limit),
        }
    }

    /// Sends `event` to every stream.
    pub async fn send(&self, event: impl Into<Event>) -> Result<Published, PublishError> {
        self.publish_to(Target::All, event).await
    }

    /// Sends `event` to the streams of `channel`.
    pub async fn publish(&self, channel: &str, event: impl Into<Event>) -> Result<Published, PublishError> {
        self.publish_to(Target::channels([channel]), event).await
    }

    /// Sends `event` to `target`: numbered, encoded once, retained for replay. With a Redis
    /// backplane it completes once Redis has it (on a blocking thread: Redis may take up to
    /// 5 s), and every node's streams get it.
    pub async fn publish_to(
        &self,
        target: Target,
        event: impl Into<Event>,
    ) -> Result<Published, PublishError> {
        let event = event.into();
        match &self.inner.source {
            Source::Local(hub) => Ok(hub.publish_to(&target, event)?),
            Source::Server(b) => {
                let b = b.clone();
                tokio::task::spawn_blocking(move || b.publish_to(&target, event))
                    .await
                    .unwrap_or(Err(PublishError::Unavailable(ssehub::Unavailable::ShutDown)))
            }
        }
    }

    /// The checks before a stream, as the server makes them.
    fn check(&self, head: &ssehub::Request) -> Result<(Vec<Arc<str>>, Access), ssehub::Response> {
        let i = &self.inner;
        if let Some(verify) = &i.verify {
            verify(head)?;
        }
        let channels = match &i.subscribe {
            Some(subscribe) => validate_channels(subscribe(head)?),
            None => requested_channels(head),
        }
        .map_err(|e| ssehub::http::answer::refusal(&e))?;
        let Some(policy) = &i.policy else { return Ok((channels, Access::default())) };
        match policy.stream(head, &channels, since_epoch().as_secs()) {
            Ok(access) => Ok((channels, access)),
            Err(refusal) => {
                if let Source::Server(b) = &i.source {
                    b.stream_refused(&refusal);
                }
                Err(ssehub::http::answer::refusal(&refusal))
            }
        }
    }
}

impl SseHubBuilder {
    /// A comment this often on an idle stream, so that proxies keep it and a vanished client is
    /// found (default 15 s; `None`: never).
    pub fn keep_alive(mut self, every: Option<Duration>) -> Self {
        self.keep_alive = every;
        self
    }

    /// The bound on one client's queue, in bytes (default 1 MiB): a client that falls further
    /// behind is cut off, and resumes by `Last-Event-ID` when it reconnects.
    pub fn max_queue_bytes(mut self, bytes: usize) -> Self {
        self.max_queue_bytes = bytes.max(1);
        self
    }

    /// Ends every stream after `max` (default: never): the client reconnects at once and
    /// resumes by `Last-Event-ID`, with nothing lost (say, to spread long-lived streams over
    /// the instances after a deploy).
    pub fn max_duration(mut self, max: Option<Duration>) -> Self {
        self.max_duration = max;
        self
    }

    /// A `retry:` field (milliseconds) at the start of every stream.
    pub fn initial_retry(mut self, millis: u64) -> Self {
        self.retry = Some(millis);
        self
    }

    /// Checks a stream request first (as [`ssehub::ServerBuilder::verify`]): `Err` is the answer.
    pub fn verify(
        mut self,
        f: impl Fn(&ssehub::Request) -> Result<(), ssehub::Response> + Send + Sync + 'static,
    ) -> Self {
        self.verify = Some(Box::new(f));
        self
    }

    /// Chooses a stream's channels instead of `?channel=` (as
    /// [`ssehub::ServerBuilder::subscribe`]).
    pub fn subscribe(
        mut self,
        f: impl Fn(&ssehub::Request) -> Result<Vec<String>, ssehub::Response> + Send + Sync + 'static,
    ) -> Self {
        self.subscribe = Some(Box::new(f));
        self
    }

    /// Who may read which channels (as [`ssehub::ServerBuilder::policy`]; the JWT one is
    /// [`ssehub::auth::JwtPolicy`]). A stream ends when its access expires.
    pub fn policy(mut self, policy: impl Policy + 'static) -> Self {
        self.policy = Some(Box::new(policy));
        self
    }

    /// With a hub of its own, keeping `retention` for replay.
    pub fn local(self, retention: Retention) -> SseHub {
        self.build(Source::Local(LocalHub::new(retention)))
    }

    /// With a hub of its own (one you hold as well).
    pub fn local_hub(self, hub: LocalHub) -> SseHub {
        self.build(Source::Local(hub))
    }

    /// With the hub of a running [`ssehub::Server`] (its Redis backplane included), through
    /// its [`Broadcaster`].
    pub fn attach(self, broadcaster: Broadcaster) -> SseHub {
        self.build(Source::Server(broadcaster))
    }

    fn build(self, source: Source) -> SseHub {
        let mut first = b":ok\n\n".to_vec();
        if let Some(ms) = self.retry {
            first.extend_from_slice(format!("retry: {ms}\n\n").as_bytes());
        }
        SseHub {
            inner: Arc::new(Inner {
                source,
                keep_alive: self.keep_alive,
                max_queue_bytes: self.max_queue_bytes,
                max_duration: self.max_duration,
                first: Bytes::from(first),
                verify: self.verify,
                subscribe: self.subscribe,
                policy: self.policy,
            }),
        }
    }
}

/// `503` with `Retry-After: 1`, as the server answers when its backplane cannot start a stream.
fn unavailable(why: &str) -> Response {
    let mut r =
        (StatusCode::SERVICE_UNAVAILABLE, format!("503 Service Unavailable: {why}\n")).into_response();
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

fn since_epoch() -> Duration {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default()
}

/// Why a stream ended early (the error its body ends with).
pub type StreamEnded = Ended;

/// The README's example, compiled as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
