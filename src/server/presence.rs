//! Presence's shell: the node's counts under a lock (a stream's start and end), one thread that
//! publishes join and leave events once debounced and, with Redis, sends this node's heartbeat
//! and reads every other node's, and the answers to `GET /channels[/NAME]`. The decisions are
//! [`crate::hub::presence`]'s.
//!
//! ```text
//! start_stream ─► Presence::join ─┐                    ┌─► Debounce::poll ─┬─► Shared::publish($presence/NAME)  (no Redis)
//! close ────────► Presence::leave ┴─► Local (counts) ──┤  (every 100 ms,   └─► Holds ─► EVALSHA presence script (Redis):
//!                                                      │   events on)           counts holders, XADDs join / leave once
//!                                                      └─► heartbeat ─► Redis SET PX + ZADD ─► others' ─► Cluster
//! GET /channels/NAME ─► hub::publish::publisher (may publish there?) ─► Cluster::channel(Local) ─► 200 JSON
//! ```
//!
//! With Redis and events on, the thread calls the presence script whenever its holds change
//! (at most [`MAX_CHANGES`] a call) and once a heartbeat anyway (renewing its liveness and
//! reaping dead nodes' holds). A failed call is not retried as is: the next one replaces the
//! node's whole set, since the failed one may have run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use super::Shared;
use crate::event::Event;
use crate::http::answer::{self, Refusal};
use crate::http::{Request, Response};
use crate::hub::presence::holds::Holds;
use crate::hub::presence::{Cluster, DEBOUNCE, Debounce, Local, PresenceEvent, channel_json, channels_json};
use crate::hub::{Target, publish, validate_channels};

/// How often the thread wakes (events are published at most this late).
const TICK: Duration = Duration::from_millis(100);
/// How often a node sends its heartbeat.
#[cfg(feature = "redis")]
const BEAT: Duration = Duration::from_secs(1);
/// How long a heartbeat counts: a node that stops sending stops counting after this.
#[cfg(feature = "redis")]
const BEAT_TTL: Duration = Duration::from_secs(3);
/// Most hold changes in one presence script call (the rest go in the next, a tick later).
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
const MAX_CHANGES: usize = 1024;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// This node's presence.
pub(crate) struct Presence {
    state: Mutex<State>,
    /// Whether join and leave events are published.
    events: bool,
    stop: AtomicBool,
    /// The presence thread, if started (joined at shutdown, so that a node that stops says so
    /// in Redis before it exits).
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

struct State {
    local: Local,
    cluster: Cluster,
    debounce: Debounce,
}

impl Presence {
    pub(crate) fn new(events: bool) -> Presence {
        Presence {
            state: Mutex::new(State {
                local: Local::default(),
                cluster: Cluster::default(),
                debounce: Debounce::new(DEBOUNCE),
            }),
            events,
            stop: AtomicBool::new(false),
            thread: Mutex::new(None),
        }
    }

    /// A stream started.
    pub(crate) fn join(&self, channels: &[Arc<str>], subject: Option<&Arc<str>>) {
        let mut s = lock(&self.state);
        let first = s.local.join(channels, subject);
        if let (true, Some(subject)) = (self.events, subject) {
            s.debounce.joined(first, subject);
        }
    }

    /// A stream ended.
    pub(crate) fn leave(&self, channels: &[Arc<str>], subject: Option<&Arc<str>>) {
        let mut s = lock(&self.state);
        let last = s.local.leave(channels, subject);
        if let (true, Some(subject)) = (self.events, subject) {
            s.debounce.left(last, subject, Instant::now());
        }
    }

    /// This node's presence on `channel`.
    #[cfg(test)]
    pub(crate) fn local_channel(&self, channel: &str) -> Option<crate::hub::presence::ChannelPresence> {
        lock(&self.state).local.channel(channel).cloned()
    }

    /// Asks the thread to stop.
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    /// Waits for the thread to stop (after [`Presence::stop`]: within a tick, plus its last
    /// Redis calls, each bounded by their timeouts).
    pub(crate) fn wait(&self) {
        let thread = lock(&self.thread).take();
        if let Some(t) = thread
            && t.thread().id() != std::thread::current().id()
        {
            let _ = t.join();
        }
    }
}

/// Starts the presence thread when there is something for it to do (events, or a cluster).
pub(crate) fn start(shared: &Arc<Shared>) -> std::io::Result<()> {
    #[cfg(feature = "redis")]
    let beat = match (&shared.config.redis, shared.config.route.presence.is_some() || shared.presence.events)
    {
        (Some(redis), true) => Some(redis_beat::Heartbeat::new(redis, shared.config.retention.max_events)),
        _ => None,
    };
    #[cfg(not(feature = "redis"))]
    let beat: Option<()> = None;
    if !shared.presence.events && beat.is_none() {
        return Ok(());
    }
    let weak = Arc::downgrade(shared);
    let thread = std::thread::Builder::new().name("ssehub-presence".into()).spawn(move || run(weak, beat))?;
    *lock(&shared.presence.thread) = Some(thread);
    Ok(())
}

#[cfg(feature = "redis")]
type Beat = redis_beat::Heartbeat;
#[cfg(not(feature = "redis"))]
type Beat = ();

#[cfg_attr(not(feature = "redis"), allow(unused_mut, unused_variables))]
fn run(weak: Weak<Shared>, mut beat: Option<Beat>) {
    #[cfg(feature = "redis")]
    let mut next_beat = Instant::now();
    // With Redis, the debounce's joins and leaves are this node's holds; the script decides
    // the events for the cluster.
    let mut holds = beat.as_ref().map(|_| Holds::default());
    loop {
        std::thread::sleep(TICK);
        let Some(shared) = weak.upgrade() else { return };
        let presence = &shared.presence;
        if presence.stop.load(Ordering::Acquire) {
            return;
        }
        let now = Instant::now();
        let events = if presence.events { lock(&presence.state).debounce.poll(now) } else { Vec::new() };
        match &mut holds {
            Some(holds) => holds.apply(&events),
            None => publish_here(&shared, events),
        }
        #[cfg(feature = "redis")]
        if let Some(beat) = &mut beat {
            let due = now >= next_beat;
            if due {
                next_beat = now + BEAT;
                let text = lock(&presence.state).local.heartbeat();
                let others = beat.beat(&text, BEAT_TTL);
                let mut s = lock(&presence.state);
                match others {
                    Some(others) => s.cluster.replace(others, now + BEAT_TTL),
                    None => s.cluster.expire(now),
                }
            }
            if let (true, Some(holds)) = (presence.events, &mut holds) {
                beat.sync(holds, due, BEAT_TTL, DEBOUNCE);
            }
        }
    }
}

/// One node, no Redis: the debounce's joins and leaves are the cluster's.
fn publish_here(shared: &Shared, events: Vec<PresenceEvent>) {
    for e in events {
        let event = Event::new(e.data()).event(e.change.name());
        if let Err(err) = shared.publish(&Target::channels([e.companion()]), event) {
            log::warn!("presence: a {} event on {} was not published: {err}", e.change.name(), e.channel);
        }
    }
}

/// The answer to `GET /channels` (`channel: None`) or `GET /channels/NAME`.
pub(crate) fn answer(shared: &Shared, req: &Request, channel: Option<&str>) -> Response {
    if !matches!(req.method.as_str(), "GET" | "HEAD") {
        return Response::error(405, "presence is read with GET").header("Allow", "GET, HEAD");
    }
    let allowed = match super::dispatch::catch(shared, || publish::publisher(req, &shared.publishers())) {
        None => return Response::error(500, "the authorization policy failed"),
        Some(Err(refusal)) => return answer::refusal(&refusal),
        Some(Ok(allowed)) => allowed,
    };
    let may = |name: &str| allowed.as_ref().is_none_or(|p| p.matches(name));
    let now = Instant::now();
    let s = lock(&shared.presence.state);
    let body = match channel {
        Some(name) => {
            if let Err(e) = validate_channels(vec![name.to_owned()]) {
                return answer::refusal(&e);
            }
            if !may(name) {
                let refusal = crate::auth::Refusal::Forbidden { channel: name.to_owned() };
                return answer::refusal(&refusal as &dyn Refusal);
            }
            channel_json(name, &s.cluster.channel(&s.local, name, now))
        }
        None => {
            let all = s.cluster.channels(&s.local, now);
            channels_json(all.iter().filter(|(n, _)| may(n)).map(|(n, p)| (&**n, p)))
        }
    };
    Response::new(200)
        .header("Content-Type", "application/json")
        .header("Cache-Control", "no-store")
        .body(body)
}

#[cfg(feature = "redis")]
mod redis_beat {
    use std::time::Duration;

    use super::super::{RedisConfig, since_epoch};
    use super::MAX_CHANGES;
    use crate::backplane::Keys;
    use crate::backplane::keys::{PresenceCall, presence_script};
    use crate::hub::presence::holds::{Holds, Sync};

    /// This node's heartbeat in Redis: `{ns}:presence:NODE` (its text, with an expiry), and the
    /// set `{ns}:presence:nodes` of nodes by when their heartbeat expires; with events on, its
    /// presence holds too, through the presence script ([`presence_script`]) on the same
    /// connection.
    pub(super) struct Heartbeat {
        client: Option<redis::Client>,
        conn: Option<redis::Connection>,
        node: String,
        prefix: String,
        nodes: String,
        connect_timeout: Duration,
        /// The presence script's SHA-1, once loaded on this connection.
        sha: Option<String>,
        keys: Keys,
        retention: usize,
        /// Whether a presence script call ever ran (then a stop says `gone`).
        synced: bool,
    }

    impl Heartbeat {
        pub(super) fn new(config: &RedisConfig, retention: usize) -> Heartbeat {
            let node = format!("{}-{}", std::process::id(), since_epoch().as_nanos());
            let prefix = format!("{{{}}}:presence:", config.namespace);
            Heartbeat {
                client: redis::Client::open(config.url.as_str()).ok(),
                conn: None,
                nodes: format!("{prefix}nodes"),
                prefix,
                node,
                connect_timeout: config.connect_timeout,
                sha: None,
                keys: Keys::new(&config.namespace),
                retention,
                synced: false,
            }
        }

        fn connection(&mut self) -> redis::RedisResult<&mut redis::Connection> {
            if self.conn.is_none() {
                let Some(client) = &self.client else {
                    return Err(redis::RedisError::from((redis::ErrorKind::InvalidClientConfig, "bad URL")));
                };
                let conn = client.get_connection_with_timeout(self.connect_timeout)?;
                conn.set_read_timeout(Some(Duration::from_secs(2)))?;
                conn.set_write_timeout(Some(Duration::from_secs(2)))?;
                self.sha = None;
                self.conn = Some(conn);
            }
            match self.conn.as_mut() {
                Some(conn) => Ok(conn),
                None => {
                    Err(redis::RedisError::from((redis::ErrorKind::InvalidClientConfig, "not connected")))
                }
            }
        }

        /// Brings Redis's side of `holds` up to date when it changed (or `renew`: once a
        /// heartbeat, to renew this node's liveness and reap dead nodes). A failure is logged
        /// and the next call replaces the whole set.
        pub(super) fn sync(&mut self, holds: &mut Holds, renew: bool, ttl: Duration, grace: Duration) {
            let sync = holds.next(MAX_CHANGES);
            // Disconnected (a call or the heartbeat failed): try again on the heartbeat only.
            if !renew && (sync.is_empty() || self.conn.is_none()) {
                return;
            }
            match self.call(Some(&sync), ttl, grace) {
                Ok(false) => holds.done(&sync),
                Ok(true) => {
                    // Counted dead (or never seen): what Redis holds for this node is unknown.
                    holds.forget();
                    let all = holds.next(MAX_CHANGES);
                    match self.call(Some(&all), ttl, grace) {
                        Ok(_) => holds.done(&all),
                        Err(e) => self.failed(holds, e),
                    }
                }
                Err(e) => self.failed(holds, e),
            }
        }

        fn failed(&mut self, holds: &mut Holds, e: redis::RedisError) {
            log::warn!("presence: join and leave events not sent to Redis ({e}); trying again");
            holds.forget();
            self.conn = None;
        }

        /// One presence script call (`None`: this node stops); whether the node was fresh.
        fn call(&mut self, sync: Option<&Sync>, ttl: Duration, grace: Duration) -> redis::RedisResult<bool> {
            let call = PresenceCall {
                node: &self.node,
                sync,
                ttl_ms: ttl.as_millis(),
                grace_ms: grace.as_millis(),
                retention: self.retention,
            };
            let (keys, args) = call.layout(&self.keys);
            self.connection()?;
            let sha = match self.sha.clone() {
                Some(sha) => sha,
                None => {
                    let mut load = redis::cmd("SCRIPT");
                    load.arg("LOAD").arg(presence_script());
                    let sha: String = load.query(self.connection()?)?;
                    self.sha = Some(sha.clone());
                    sha
                }
            };
            let conn = self.connection()?;
            let (fresh, _events, _reaped): (i64, i64, i64) =
                redis::cmd("EVALSHA").arg(sha).arg(keys.len()).arg(&keys).arg(&args).query(conn)?;
            self.synced = true;
            Ok(fresh == 1)
        }

        /// Sends `text` (valid for `ttl`); the other live nodes' heartbeats, or `None` when
        /// Redis did not answer (the connection is made again next time).
        pub(super) fn beat(&mut self, text: &str, ttl: Duration) -> Option<Vec<(String, String)>> {
            match self.try_beat(text, ttl) {
                Ok(others) => Some(others),
                Err(e) => {
                    log::warn!("presence: heartbeat failed: {e}");
                    self.conn = None;
                    None
                }
            }
        }

        fn try_beat(&mut self, text: &str, ttl: Duration) -> redis::RedisResult<Vec<(String, String)>> {
            let node = self.node.clone();
            let (prefix, nodes_key) = (self.prefix.clone(), self.nodes.clone());
            let conn = self.connection()?;
            let now = since_epoch().as_millis() as u64;
            let ttl_ms = ttl.as_millis() as u64;
            let key = format!("{prefix}{node}");
            let (nodes,): (Vec<String>,) = redis::pipe()
                .cmd("SET")
                .arg(&key)
                .arg(text)
                .arg("PX")
                .arg(ttl_ms)
                .ignore()
                .cmd("ZADD")
                .arg(&nodes_key)
                .arg(now + ttl_ms)
                .arg(&node)
                .ignore()
                .cmd("ZREMRANGEBYSCORE")
                .arg(&nodes_key)
                .arg("-inf")
                .arg(now)
                .ignore()
                .cmd("ZRANGE")
                .arg(&nodes_key)
                .arg(0)
                .arg(-1)
                .query(conn)?;
            let others: Vec<String> = nodes.into_iter().filter(|n| *n != node).collect();
            if others.is_empty() {
                return Ok(Vec::new());
            }
            let keys: Vec<String> = others.iter().map(|n| format!("{prefix}{n}")).collect();
            let texts: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query(conn)?;
            Ok(others.into_iter().zip(texts).filter_map(|(n, t)| Some((n, t?))).collect())
        }
    }

    impl Drop for Heartbeat {
        fn drop(&mut self) {
            // A node that stops says so: the others stop counting it at once.
            if let Some(conn) = self.conn.as_mut() {
                let key = format!("{}{}", self.prefix, self.node);
                let _: redis::RedisResult<()> = redis::pipe()
                    .cmd("DEL")
                    .arg(&key)
                    .ignore()
                    .cmd("ZREM")
                    .arg(&self.nodes)
                    .arg(&self.node)
                    .ignore()
                    .query(conn);
            }
            // Its presence holds end a debounce from now (clients that move to another node
            // within it make no leave), reaped by the first other node's call.
            if self.synced
                && let Err(e) = self.call(None, Duration::ZERO, super::DEBOUNCE)
            {
                log::warn!("presence: could not mark this node gone ({e}); it is reaped when it expires");
            }
        }
    }
}
