//! The Redis Streams backplane's IO shell: two threads per node (one publishes, one reads),
//! their Redis connections, the timeouts and the reconnecting, nothing else. Every decision is
//! a call into [`crate::backplane`]: the keys and the publish script, decoding replies
//! (`reply`), merging reads (`merge`), planning joins (`join`), the backoff (`backoff`).
//!
//! ```text
//! worker: POST /publish ─► Job ─► publish thread ─► EVALSHA (a batch per call) ─► Command::Answer ─► worker
//! Broadcaster::publish ──► Job ─►       〃        ─► reply channel ─► caller (blocks ≤ 5 s)
//! worker: new stream the local logs cannot answer ─► Join ─► read thread, a batch at a time:
//!   join::admit ─► pipeline of tops (follow) ─► join::plan each ─► pipeline 1 ─► Plan::read
//!   ─► pipeline 2 ─► Ranges::finish ─► Command::Joined ─► worker
//! read thread: XREAD BLOCK ─► reply::streams_of ─► merge ─► Hub::publish (entry id) ─► workers
//! ```
//!
//! Neither thread ever blocks a worker: workers hand over a job and defer the connection
//! ([`crate::proto::Conn::defer`]); the answer comes back through the worker's mailbox. The
//! threads hold a [`Fanout`] (the hub and the mailboxes), not the server's whole state.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redis::Value;

use super::commands::Command;
use super::handle::{Join, JoinError, JoinFor, PublishError, Receipt, Unavailable, WAIT};
use super::slots::ConnId;
use super::{Fanout, RedisConfig, ServerError};
use crate::backplane::backoff::Backoff;
use crate::backplane::join::{self, Cursors, Limits, Read};
use crate::backplane::keys::PublishBatch;
use crate::backplane::merge::{Batch, merge};
use crate::backplane::reply::{BadReply, Fields, Publish, publish_of, streams_of};
use crate::backplane::{Keys, StreamId, keys};
use crate::event::Event;
use crate::http::Framing;
use crate::hub::idempotency::IdempotencyKey;
use crate::hub::subscription::Subscription;
use crate::hub::{Published, Resume, Target};
use crate::proto::Frame;

/// Longest one Redis command may take before the connection counts as lost.
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one `XREAD` blocks: joins wait at most this long for the read thread.
const BLOCK: Duration = Duration::from_millis(25);
/// Entries one `XREAD` takes per stream.
const READ_COUNT: usize = 512;
/// Publishes sent to Redis in one script call, at most (the script's cost per call is paid
/// once per batch; a batch this size runs a few milliseconds in Redis at most).
const BATCH: usize = 512;
/// Joins answered together, at most: three round trips for the batch, and a bound on the
/// replies held at once (each join's replay is bounded by the client's queue).
const JOIN_BATCH: usize = 64;
/// A followed channel without local subscribers is dropped after this long.
const FOLLOW_GRACE: Duration = Duration::from_secs(10);

/// Where the answer to a publish goes.
enum Reply {
    /// An HTTP publish: the worker answers the deferred connection.
    Http { id: ConnId, framing: Framing },
    /// A [`super::Broadcaster`] call waiting on a channel.
    Wait(SyncSender<Result<Receipt, PublishError>>),
}

struct Job {
    target: Target,
    event: Event,
    /// Publish at most once under it, across every node (the script remembers it in Redis).
    key: Option<IdempotencyKey>,
    reply: Reply,
}

/// The node's handle on its backplane threads.
pub(crate) struct Backplane {
    jobs: Sender<Job>,
    joins: Sender<Join>,
    stop: Arc<AtomicBool>,
    /// Whether the read thread is connected (the `ssehub_backplane_up` gauge).
    pub(crate) up: Arc<AtomicBool>,
    /// Times a thread had to reconnect.
    pub(crate) reconnects: Arc<AtomicU64>,
    /// Entries skipped because this hub cannot have written them.
    pub(crate) skipped: Arc<AtomicU64>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    setup: Mutex<Option<Setup>>,
}

/// What the threads start with (connected in [`Backplane::connect`], before the server binds).
struct Setup {
    link: Link,
    publish_conn: redis::Connection,
    sha: String,
    read_conn: redis::Connection,
    all_cursor: StreamId,
    job_rx: Receiver<Job>,
    join_rx: Receiver<Join>,
}

/// How to (re)connect.
#[derive(Clone)]
struct Link {
    client: redis::Client,
    keys: Keys,
    retention: usize,
    /// How long Redis remembers an idempotency key.
    idempotency_window: Duration,
    connect_timeout: Duration,
    max_channels: usize,
}

impl Link {
    fn connect(&self) -> redis::RedisResult<redis::Connection> {
        let conn = self.client.get_connection_with_timeout(self.connect_timeout)?;
        conn.set_read_timeout(Some(IO_TIMEOUT))?;
        conn.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(conn)
    }

    fn connect_publisher(&self) -> redis::RedisResult<(redis::Connection, String)> {
        let mut conn = self.connect()?;
        let sha: String = redis::cmd("SCRIPT").arg("LOAD").arg(keys::PUBLISH_SCRIPT).query(&mut conn)?;
        Ok((conn, sha))
    }
}

impl Backplane {
    /// Connects both threads' connections (so that an unreachable Redis is an error at start).
    pub(crate) fn connect(
        config: &RedisConfig,
        retention: usize,
        idempotency_window: Duration,
    ) -> Result<Backplane, ServerError> {
        let fail =
            |e: redis::RedisError| ServerError::Backplane { url: config.redacted_url(), source: Box::new(e) };
        let client = redis::Client::open(config.url.as_str()).map_err(fail)?;
        let link = Link {
            client,
            keys: Keys::new(&config.namespace),
            retention: retention.max(1),
            idempotency_window,
            connect_timeout: config.connect_timeout,
            max_channels: config.max_channels,
        };
        let (publish_conn, sha) = link.connect_publisher().map_err(fail)?;
        let mut read_conn = link.connect().map_err(fail)?;
        let all_cursor = top(&mut read_conn, &link.keys.all()).map_err(fail)?;
        let (jobs, job_rx) = mpsc::channel();
        let (joins, join_rx) = mpsc::channel();
        Ok(Backplane {
            jobs,
            joins,
            stop: Arc::new(AtomicBool::new(false)),
            up: Arc::new(AtomicBool::new(true)),
            reconnects: Arc::new(AtomicU64::new(0)),
            skipped: Arc::new(AtomicU64::new(0)),
            threads: Mutex::new(Vec::new()),
            setup: Mutex::new(Some(Setup {
                link,
                publish_conn,
                sha,
                read_conn,
                all_cursor,
                job_rx,
                join_rx,
            })),
        })
    }

    /// Starts the threads (once the workers' mailboxes exist).
    pub(crate) fn start(&self, fanout: Fanout) -> std::io::Result<()> {
        let Some(setup) = self.setup.lock().unwrap_or_else(|p| p.into_inner()).take() else { return Ok(()) };
        let publisher = Publisher {
            fanout: fanout.clone(),
            link: setup.link.clone(),
            conn: Some(setup.publish_conn),
            sha: setup.sha,
            backoff: Backoff::default(),
            stop: self.stop.clone(),
            reconnects: self.reconnects.clone(),
        };
        let reader = Reader {
            fanout,
            link: setup.link,
            conn: Some(setup.read_conn),
            cursors: Cursors { all: setup.all_cursor, channels: HashMap::new() },
            backoff: Backoff::default(),
            stop: self.stop.clone(),
            up: self.up.clone(),
            reconnects: self.reconnects.clone(),
            skipped: self.skipped.clone(),
            more: true,
        };
        let job_rx = setup.job_rx;
        let join_rx = setup.join_rx;
        let mut threads = self.threads.lock().unwrap_or_else(|p| p.into_inner());
        threads.push(
            std::thread::Builder::new().name("ssehub-publish".into()).spawn(move || publisher.run(job_rx))?,
        );
        threads
            .push(std::thread::Builder::new().name("ssehub-read".into()).spawn(move || reader.run(join_rx))?);
        Ok(())
    }

    /// Asks the threads to stop (they finish their current Redis call first).
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    /// Waits for the threads to stop.
    pub(crate) fn wait(&self) {
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        for t in threads {
            let _ = t.join();
        }
    }

    /// Hands a job to the publish thread; `false` if it is gone.
    fn submit(&self, job: Job) -> bool {
        self.jobs.send(job).is_ok()
    }

    /// Hands an HTTP publish to the publish thread; `false` if it is gone (the caller answers
    /// `503` itself).
    pub(crate) fn publish_http(
        &self,
        id: ConnId,
        target: Target,
        event: Event,
        key: Option<IdempotencyKey>,
        framing: Framing,
    ) -> bool {
        let reply = Reply::Http { id, framing };
        self.submit(Job { target, event, key, reply })
    }

    /// Publishes and waits until Redis has the event (at most [`WAIT`]).
    pub(crate) fn publish_wait(&self, target: Target, event: Event) -> Result<Published, PublishError> {
        let receipt = self.publish_wait_keyed(target, event.clone(), None)?;
        // Validated (by the call above); the entry id Redis gave it is digits and a dash.
        let frame = Frame::event_validated(&event.id(&*receipt.id));
        Ok(Published { seq: 0, id: Some(receipt.id), frame })
    }

    /// Publishes (at most once per `key`, across every node) and waits until Redis has the
    /// event (at most [`WAIT`]).
    pub(crate) fn publish_wait_keyed(
        &self,
        target: Target,
        event: Event,
        key: Option<IdempotencyKey>,
    ) -> Result<Receipt, PublishError> {
        event.validate()?;
        let (tx, rx) = mpsc::sync_channel(1);
        if !self.submit(Job { target, event, key, reply: Reply::Wait(tx) }) {
            return Err(PublishError::Unavailable(Unavailable::ShutDown));
        }
        match rx.recv_timeout(WAIT) {
            Ok(result) => result,
            Err(_) => Err(PublishError::Unavailable(Unavailable::TimedOut)),
        }
    }

    /// Publishes every event without waiting a round trip for each: all are handed to the
    /// publish thread at once, which sends them [`BATCH`] to a script call; then waits for
    /// the answers, each at most [`WAIT`] after the one before.
    pub(crate) fn publish_wait_many(
        &self,
        batch: Vec<(Target, Event)>,
    ) -> Vec<Result<Receipt, PublishError>> {
        let waiting: Vec<Result<Receiver<_>, PublishError>> = batch
            .into_iter()
            .map(|(target, event)| {
                event.validate()?;
                let (tx, rx) = mpsc::sync_channel(1);
                match self.submit(Job { target, event, key: None, reply: Reply::Wait(tx) }) {
                    true => Ok(rx),
                    false => Err(PublishError::Unavailable(Unavailable::ShutDown)),
                }
            })
            .collect();
        waiting
            .into_iter()
            .map(|rx| match rx?.recv_timeout(WAIT) {
                Ok(result) => result,
                Err(_) => Err(PublishError::Unavailable(Unavailable::TimedOut)),
            })
            .collect()
    }

    /// Whether the read connection is up, reconnections, skipped entries (for the metrics).
    pub(crate) fn figures(&self) -> (bool, u64, u64) {
        (
            self.up.load(Ordering::Relaxed),
            self.reconnects.load(Ordering::Relaxed),
            self.skipped.load(Ordering::Relaxed),
        )
    }

    /// Hands a new stream to the read thread; `false` if the thread is gone.
    pub(crate) fn join(&self, join: Join) -> bool {
        self.joins.send(join).is_ok()
    }
}

/// Not connected to Redis (waiting out the reconnect backoff).
#[derive(Debug)]
struct NotConnected;

impl std::fmt::Display for NotConnected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not connected (reconnecting)")
    }
}

impl std::error::Error for NotConnected {}

struct Publisher {
    fanout: Fanout,
    link: Link,
    conn: Option<redis::Connection>,
    sha: String,
    backoff: Backoff,
    stop: Arc<AtomicBool>,
    reconnects: Arc<AtomicU64>,
}

impl Publisher {
    fn run(mut self, jobs: Receiver<Job>) {
        // Checked between batches too: a busy publisher (say `serve --rate`) never times out.
        while !self.stop.load(Ordering::Acquire) {
            let first = match jobs.recv_timeout(Duration::from_millis(200)) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            let mut batch = vec![first];
            while batch.len() < BATCH {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            let results = self.publish(&batch);
            for (job, result) in batch.into_iter().zip(results) {
                self.answer(job.reply, result);
            }
        }
    }

    /// One result per job: the entry id, or why Redis did not take it.
    fn publish(&mut self, batch: &[Job]) -> Vec<Result<Receipt, PublishError>> {
        let unavailable =
            |e: Unavailable| batch.iter().map(|_| Err(PublishError::Unavailable(e.clone()))).collect();
        let now = Instant::now();
        if self.conn.is_none() && self.backoff.ready(now) {
            match self.link.connect_publisher() {
                Ok((conn, sha)) => {
                    self.conn = Some(conn);
                    self.sha = sha;
                    self.backoff.succeeded();
                    self.reconnects.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    self.backoff.failed(now);
                    return unavailable(Unavailable::Redis(Arc::new(e)));
                }
            }
        }
        let Some(conn) = self.conn.as_mut() else {
            return unavailable(Unavailable::Redis(Arc::new(NotConnected)));
        };
        let keys = &self.link.keys;
        let mut script =
            PublishBatch::new(keys, self.link.retention, self.link.idempotency_window.as_millis());
        for job in batch {
            let streams: Vec<String> = match &job.target {
                Target::All => vec![keys.all()],
                Target::Channels(list) => list.iter().map(|c| keys.channel(c)).collect(),
            };
            script.push(keys, streams, &job.event, job.key.as_ref().map(|k| k.as_str()));
        }
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(&self.sha).arg(script.keys.len()).arg(&script.keys).arg(&script.args);
        match cmd.query::<Vec<Value>>(conn) {
            Ok(replies) if replies.len() == script.events => replies
                .iter()
                .map(|reply| match publish_of(reply) {
                    Ok(Publish::Published(id)) => Ok(Receipt { id: id.to_string().into(), replayed: false }),
                    Ok(Publish::Replayed(id)) => Ok(Receipt { id: id.to_string().into(), replayed: true }),
                    Ok(Publish::KeyReused) => Err(PublishError::KeyReused),
                    Err(_) => Err(PublishError::Unavailable(Unavailable::BadReply)),
                })
                .collect(),
            Ok(_) => unavailable(Unavailable::BadReply),
            Err(e) => {
                // Whatever the cause, start from a fresh connection (and a freshly loaded script).
                self.conn = None;
                self.backoff.failed(now);
                unavailable(Unavailable::Redis(Arc::new(e)))
            }
        }
    }

    fn answer(&self, reply: Reply, result: Result<Receipt, PublishError>) {
        match reply {
            Reply::Wait(tx) => {
                let _ = tx.try_send(result);
            }
            Reply::Http { id, framing } => {
                self.fanout.post(id.worker, Command::Published { key: id.key, result, framing });
            }
        }
    }
}

struct Reader {
    fanout: Fanout,
    link: Link,
    conn: Option<redis::Connection>,
    /// The last entry delivered, per followed stream.
    cursors: Cursors,
    backoff: Backoff,
    stop: Arc<AtomicBool>,
    up: Arc<AtomicBool>,
    reconnects: Arc<AtomicU64>,
    skipped: Arc<AtomicU64>,
    /// The last read hit `COUNT` in some stream: read again without waiting.
    more: bool,
}

impl Reader {
    fn run(mut self, joins: Receiver<Join>) {
        let mut pending: Vec<Join> = Vec::new();
        let mut next_sweep = Instant::now() + FOLLOW_GRACE;
        while !self.stop.load(Ordering::Acquire) {
            let now = Instant::now();
            if self.conn.is_none() && !self.reconnect(now) {
                std::thread::sleep(Duration::from_millis(50));
                // Joins wait for the connection, but not past their deadline.
                pending.extend(joins.try_iter());
                self.expire(&mut pending, Instant::now());
                continue;
            }
            pending.extend(joins.try_iter());
            let result = self.answer_joins(&mut pending).and_then(|()| self.read());
            if let Err(e) = result {
                if !self.stop.load(Ordering::Acquire) {
                    log::warn!("lost the Redis connection ({e}); reconnecting");
                }
                self.conn = None;
                self.up.store(false, Ordering::Relaxed);
                self.backoff.failed(Instant::now());
            }
            if now >= next_sweep {
                next_sweep = now + Duration::from_secs(1);
                let dropped = self.fanout.lock_hub().drop_idle(now, FOLLOW_GRACE);
                for channel in dropped {
                    self.cursors.channels.remove(&channel);
                }
            }
        }
    }

    fn reconnect(&mut self, now: Instant) -> bool {
        if !self.backoff.ready(now) {
            return false;
        }
        match self.link.connect() {
            Ok(conn) => {
                self.conn = Some(conn);
                self.backoff.succeeded();
                self.up.store(true, Ordering::Relaxed);
                self.reconnects.fetch_add(1, Ordering::Relaxed);
                log::info!("reconnected to Redis; reading on from the last entries delivered");
                true
            }
            Err(_) => {
                self.backoff.failed(now);
                false
            }
        }
    }

    /// One `XREAD` over every followed stream (waiting up to [`BLOCK`] when there is nothing new);
    /// what it returns is delivered in id order.
    fn read(&mut self) -> redis::RedisResult<()> {
        let Some(conn) = self.conn.as_mut() else { return Ok(()) };
        // Stream 0 is the stream of publishes to all, then the channels.
        let mut names: Vec<Option<Arc<str>>> = vec![None];
        let mut keys = vec![self.link.keys.all()];
        let mut from = vec![self.cursors.all.to_string()];
        for (channel, cursor) in &self.cursors.channels {
            names.push(Some(channel.clone()));
            keys.push(self.link.keys.channel(channel));
            from.push(cursor.to_string());
        }
        let xread = |block: Option<Duration>| {
            let mut cmd = redis::cmd("XREAD");
            cmd.arg("COUNT").arg(READ_COUNT);
            if let Some(t) = block {
                cmd.arg("BLOCK").arg(t.as_millis() as u64);
            }
            cmd.arg("STREAMS").arg(&keys).arg(&from);
            cmd
        };
        // After a full batch more is waiting: read on. Otherwise everything was read: wait.
        let mut reply = if self.more { xread(None).query(conn)? } else { Value::Nil };
        if matches!(reply, Value::Nil) {
            // A blocking read woken by one stream answers with that stream alone, so its
            // answer only means "look again": the read that counts is the non-blocking one
            // after it, which sees a publish's entries in all of its streams or in none (one
            // command, one script: both atomic).
            let woken: Value = xread(Some(BLOCK)).query(conn)?;
            if matches!(woken, Value::Nil) {
                return Ok(());
            }
            reply = xread(None).query(conn)?;
        }
        let mut batches: Vec<Batch<Fields>> =
            keys.iter().map(|_| Batch { entries: Vec::new(), full: false }).collect();
        let index: HashMap<&str, usize> = keys.iter().enumerate().map(|(i, k)| (k.as_str(), i)).collect();
        for (key, entries) in streams_of(&reply)? {
            if let Some(&i) = index.get(key.as_str()) {
                batches[i].full = entries.len() >= READ_COUNT;
                batches[i].entries = entries;
            }
        }
        self.more = batches.iter().any(|b| b.full);
        let merged = merge(batches);
        for (i, cursor) in merged.cursors.iter().enumerate() {
            match (cursor, &names[i]) {
                (Some(id), None) => self.cursors.all = *id,
                (Some(id), Some(channel)) => {
                    self.cursors.channels.insert(channel.clone(), *id);
                }
                (None, _) => {}
            }
        }
        if merged.deliveries.is_empty() {
            return Ok(());
        }
        let now = Instant::now();
        let mut hub = self.fanout.lock_hub();
        for d in merged.deliveries {
            let Some(event) = keys::entry_event(d.id, &d.item) else {
                self.skipped.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let target = if d.streams.contains(&0) {
                Target::All
            } else {
                Target::Channels(d.streams.iter().filter_map(|&i| names[i].clone()).collect())
            };
            if let Ok(published) = hub.publish(&target, event, now) {
                self.fanout.post_published(&published, &target);
            }
        }
        Ok(())
    }

    /// Starts the streams waiting for this thread: follows their channels, reads what they
    /// missed, and hands each its replay and seam, [`JOIN_BATCH`] joins at a time (three round
    /// trips a batch: [`join::admit`]). A join past its deadline is refused ([`Reader::expire`]).
    /// When the connection is lost, the joins not answered yet wait for the reconnection (up to
    /// their deadlines).
    fn answer_joins(&mut self, pending: &mut Vec<Join>) -> redis::RedisResult<()> {
        self.expire(pending, Instant::now());
        let mut joins: Vec<Join> = std::mem::take(pending);
        while !joins.is_empty() {
            let rest = joins.split_off(joins.len().min(JOIN_BATCH));
            match self.answer_batch(&joins) {
                Ok(()) => {}
                Err(e) if is_connection_fault(&e) => {
                    pending.extend(joins);
                    pending.extend(rest);
                    return Err(e);
                }
                // One command refused (or a reply of the wrong shape): answered one at a time,
                // so that only the join it belongs to is refused.
                Err(_) => {
                    for join in &joins {
                        if let Err(e) = self.answer_join(join) {
                            let refusal = JoinError::Unavailable(Unavailable::Redis(Arc::new(e.clone())));
                            self.post_joined(join, Err(refusal));
                            if is_connection_fault(&e) {
                                pending.extend(rest);
                                return Err(e);
                            }
                        }
                    }
                }
            }
            joins = rest;
        }
        Ok(())
    }

    /// Answers the joins past their deadline [`Unavailable::TimedOut`] (their streams are told
    /// to come back later), and keeps the others.
    fn expire(&self, pending: &mut Vec<Join>, now: Instant) {
        pending.retain(|join| {
            let waiting = join.deadline > now;
            if !waiting {
                self.post_joined(join, Err(JoinError::Unavailable(Unavailable::TimedOut)));
            }
            waiting
        });
    }

    /// Answers a batch of joins in three round trips: the new channels' tops (after which
    /// every channel of the batch is followed), every join's first reads pipelined together,
    /// then every join's ranges. On `Err` no join of the batch has been answered (the channels
    /// it followed stay followed, from cursors that are right).
    fn answer_batch(&mut self, joins: &[Join]) -> redis::RedisResult<()> {
        if self.conn.is_none() {
            return Ok(());
        }
        let admitted =
            join::admit(joins.iter().map(|j| &j.channels[..]), &self.cursors, self.link.max_channels);
        let replies = self.send(&admitted.reads(&self.link.keys))?;
        let tops = replies.iter().map(join::top_of).collect::<Result<Vec<_>, _>>()?;
        if !admitted.new.is_empty() {
            let now = Instant::now();
            let mut hub = self.fanout.lock_hub();
            for (channel, top) in admitted.new.iter().zip(tops) {
                hub.follow(channel.clone(), now);
                self.cursors.channels.insert(channel.clone(), top);
            }
        }
        let limits = self.limits();
        let (mut plans, mut refused) = (Vec::with_capacity(joins.len()), Vec::new());
        for (join, refusal) in joins.iter().zip(admitted.refused) {
            let last = join.last_event_id.as_deref();
            match refusal
                .map_or_else(|| join::plan(&join.channels, last, &self.cursors, &self.link.keys, limits), Err)
            {
                Ok(plan) => plans.push((join, plan)),
                Err(refusal) => refused.push((join, refusal)),
            }
        }
        let ranges = self.round(plans, join::Plan::reads, join::Plan::read)?;
        let replays = self.round(ranges, join::Ranges::reads, join::Ranges::finish)?;
        // Answered only now, every read done: an `Err` above leaves the whole batch unanswered.
        for (join, refusal) in refused {
            self.post_joined(join, Err(JoinError::Refused(refusal)));
        }
        for (join, replay) in replays {
            self.start(join, replay);
        }
        Ok(())
    }

    /// One round trip for a batch: every step's reads in one pipeline, then each step given
    /// its own replies, in order.
    fn round<'j, T, U>(
        &mut self,
        steps: Vec<(&'j Join, T)>,
        reads: impl Fn(&T) -> &[Read],
        next: impl Fn(T, &[Value]) -> Result<U, BadReply>,
    ) -> redis::RedisResult<Vec<(&'j Join, U)>> {
        let all: Vec<Read> = steps.iter().flat_map(|(_, step)| reads(step).iter().cloned()).collect();
        let replies = self.send(&all)?;
        let mut at = 0;
        let mut done = Vec::with_capacity(steps.len());
        for (join, step) in steps {
            let n = reads(&step).len();
            done.push((join, next(step, &replies[at..at + n])?));
            at += n;
        }
        Ok(done)
    }

    /// Sends `reads` in one pipeline on the connection (see [`send`]).
    fn send(&mut self, reads: &[Read]) -> redis::RedisResult<Vec<Value>> {
        match self.conn.as_mut() {
            Some(conn) => send(conn, reads),
            None => Err(redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::NotConnected))),
        }
    }

    fn limits(&self) -> Limits {
        Limits {
            max_channels: self.link.max_channels,
            retention: self.link.retention,
            max_queue_bytes: self.fanout.max_queue_bytes,
        }
    }

    fn post_joined(&self, join: &Join, resume: Result<Resume, JoinError>) {
        let channels = join.channels.clone();
        match &join.to {
            JoinFor::Conn(id) => {
                self.fanout.post(id.worker, Command::Joined { key: id.key, channels, resume })
            }
            // Only refusals come here: a subscription's replay is handed over in `start`.
            JoinFor::Outside(slot) => {
                let resume = resume.map_err(|e| e.to_string());
                let _ = Subscription::start_pending(slot, resume, join.last_event_id.as_deref());
            }
        }
    }

    /// Plans one join, sends its reads (at most two pipelines), and hands the stream its replay.
    fn answer_join(&mut self, join: &Join) -> redis::RedisResult<()> {
        let limits = self.limits();
        let Some(conn) = self.conn.as_mut() else { return Ok(()) };
        let channels = &join.channels;
        let plan =
            match join::plan(channels, join.last_event_id.as_deref(), &self.cursors, &self.link.keys, limits)
            {
                Ok(plan) => plan,
                Err(refusal) => {
                    self.post_joined(join, Err(JoinError::Refused(refusal)));
                    return Ok(());
                }
            };
        let replies = send(conn, plan.reads())?;
        let ranges = plan.read(&replies)?;
        let replies = send(conn, ranges.reads())?;
        let replay = ranges.finish(&replies)?;
        self.start(join, replay);
        Ok(())
    }

    /// Follows the channels a replay names, and starts the stream from the hub's current
    /// sequence number, so that the next live delivery is its first.
    fn start(&mut self, join: &Join, replay: join::Replay) {
        self.skipped.fetch_add(replay.skipped, Ordering::Relaxed);
        let now = Instant::now();
        let seq = {
            let mut hub = self.fanout.lock_hub();
            for (channel, id) in replay.follow {
                hub.follow(channel.clone(), now);
                self.cursors.channels.insert(channel, id);
            }
            let seq = hub.seq();
            match &join.to {
                JoinFor::Conn(_) => hub.subscribe(&join.channels),
                // Started here, under the lock, so that the next publish finds it live (one whose
                // Subscription is dropped already is not, nor counted).
                JoinFor::Outside(slot) => {
                    let resume = Resume {
                        seq,
                        gap: replay.gap,
                        frames: replay.frames,
                        then: replay.then,
                        last_id: None,
                    };
                    if Subscription::start_pending(slot, Ok(resume), join.last_event_id.as_deref()) {
                        hub.subscribe(&join.channels);
                    }
                    return;
                }
            }
            seq
        };
        let resume = Resume { seq, gap: replay.gap, frames: replay.frames, then: replay.then, last_id: None };
        self.post_joined(join, Ok(resume));
    }
}

/// Sends `reads` in one pipeline (nothing when there are none); one reply each, in order.
fn send(conn: &mut redis::Connection, reads: &[Read]) -> redis::RedisResult<Vec<Value>> {
    if reads.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    for read in reads {
        pipe.add_command(command(read));
    }
    pipe.query(conn)
}

/// The Redis command of a read.
fn command(read: &Read) -> redis::Cmd {
    let mut cmd = redis::cmd(match read {
        Read::Top { .. } | Read::Newest { .. } => "XREVRANGE",
        Read::After { .. } => "XRANGE",
        Read::LastId { .. } => "GET",
        Read::Trimmed { .. } => "HGET",
    });
    match read {
        Read::Top { key } => cmd.arg(key).arg("+").arg("-").arg("COUNT").arg(1),
        Read::Newest { key, upto, count } => {
            cmd.arg(key).arg(upto.to_string()).arg("-").arg("COUNT").arg(*count)
        }
        Read::After { key, after, upto, count } => {
            cmd.arg(key).arg(format!("({after}")).arg(upto.to_string()).arg("COUNT").arg(*count)
        }
        Read::LastId { key } => cmd.arg(key),
        Read::Trimmed { hash, stream } => cmd.arg(hash).arg(stream),
    };
    cmd
}

impl From<BadReply> for redis::RedisError {
    /// A reply of the wrong shape fails its command like a reply `redis` cannot parse.
    fn from(e: BadReply) -> redis::RedisError {
        redis::RedisError::from((redis::ErrorKind::Parse, "unexpected reply", e.what().to_owned()))
    }
}

/// Whether an error means the connection is unusable (rather than one command refused).
fn is_connection_fault(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_unrecoverable_error()
}

/// The id of a stream's newest entry (`0-0` when it is empty or missing).
fn top(conn: &mut redis::Connection, key: &str) -> redis::RedisResult<StreamId> {
    let reply: Value = command(&Read::Top { key: key.to_owned() }).query(conn)?;
    Ok(join::top_of(&reply)?)
}
