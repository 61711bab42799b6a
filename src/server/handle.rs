//! Handles the application holds: [`Client`] (one stream) and [`Broadcaster`] (all of them).
//!
//! Both are cheap to clone and usable from any thread. They never touch a socket: they encode
//! an event once into a [`Frame`] and post a command to the worker that owns the connection(s),
//! waking its poll with a [`mio::Waker`] only when that worker is about to sleep (one wake-up
//! carries any number of commands; a worker that is awake looks before it sleeps: `inbox.rs`).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::commands::Command;
use super::counted::CountedStream;
use super::slots::ConnId;

use crate::error::EncodeError;
use crate::event::Event;
use crate::http::answer::Refusal;
use crate::hub::idempotency::IdempotencyKey;
use crate::hub::subscription::{Slot, Start, Subscription};
use crate::hub::{Published, Target};
use crate::proto::Frame;
use crate::server::Shared;

/// Longest a connection waits for the backplane: a publish's answer, or a stream's start
/// (past it the read thread answers the stream [`Unavailable::TimedOut`] itself).
pub(crate) const WAIT: Duration = Duration::from_secs(5);

/// Longest a worker keeps a stream request waiting for the read thread before answering
/// `503` itself: past [`WAIT`] by more than one Redis command may take, so that the read
/// thread's answer (which an `EventSource` is told as a `retry`) normally comes first.
pub(crate) const DEFER_STREAM: Duration = Duration::from_secs(8);

/// A new stream the local logs could not answer.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) struct Join {
    pub(crate) to: JoinFor,
    pub(crate) channels: Vec<Arc<str>>,
    pub(crate) last_event_id: Option<String>,
    pub(crate) deadline: Instant,
}

/// Who waits for a [`Join`]'s answer.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) enum JoinFor {
    /// A worker's connection (answered with `Command::Joined`).
    Conn(ConnId),
    /// A [`Subscription`] (started by the read thread itself, under the hub's lock).
    Outside(Arc<Slot>),
}

/// Why a stream the backplane had to start was not.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
#[derive(Debug)]
pub(crate) enum JoinError {
    /// The backplane refused it (this node reads too many channels).
    #[cfg(feature = "redis")]
    Refused(crate::backplane::JoinRefusal),
    /// Redis could not answer.
    Unavailable(Unavailable),
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            #[cfg(feature = "redis")]
            JoinError::Refused(r) => r.fmt(f),
            JoinError::Unavailable(u) => u.fmt(f),
        }
    }
}

impl Refusal for JoinError {
    fn status(&self) -> u16 {
        503
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            #[cfg(feature = "redis")]
            JoinError::Refused(r) => Refusal::headers(r),
            JoinError::Unavailable(u) => u.headers(),
        }
    }
}

/// Why a [`Client::send`] did not queue the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The client is gone (disconnected, closed, or dropped for not reading).
    Disconnected,
    /// The event cannot be encoded.
    Invalid(EncodeError),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Disconnected => f.write_str("client disconnected"),
            SendError::Invalid(e) => write!(f, "invalid event: {e}"),
        }
    }
}

impl std::error::Error for SendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SendError::Invalid(e) => Some(e),
            SendError::Disconnected => None,
        }
    }
}

impl From<EncodeError> for SendError {
    fn from(e: EncodeError) -> SendError {
        SendError::Invalid(e)
    }
}

/// Why a [`Broadcaster`] publish was not accepted.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum PublishError {
    /// The event cannot be encoded.
    Invalid(EncodeError),
    /// The backplane did not take it. With a backplane an `Err` may still mean Redis took it
    /// just before the connection failed (publish with a key, [`Broadcaster::publish_once`],
    /// to retry safely).
    Unavailable(Unavailable),
    /// The idempotency key published a different event within its window: `422`.
    KeyReused,
}

/// What a keyed publish ([`Broadcaster::publish_once`], `POST /publish` with an
/// `Idempotency-Key`) did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The event's id: the one it went out with, also when this publish was a replay.
    pub id: Arc<str>,
    /// The key had published this event before: nothing went out this time.
    pub replayed: bool,
}

/// Why a backplane did not take a publish.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Unavailable {
    /// The server is shutting down.
    ShutDown,
    /// Redis did not answer within the wait (5 s).
    TimedOut,
    /// Redis could not be reached, or the connection failed or refused the command.
    Redis(Arc<dyn std::error::Error + Send + Sync>),
    /// Redis answered with something the publish script cannot have returned.
    BadReply,
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unavailable::ShutDown => f.write_str("the backplane is shutting down"),
            Unavailable::TimedOut => f.write_str("the backplane did not answer in time"),
            Unavailable::Redis(e) => write!(f, "the backplane is unavailable: Redis: {e}"),
            Unavailable::BadReply => f.write_str("the backplane is unavailable: unexpected reply from Redis"),
        }
    }
}

/// `503` with `Retry-After: 1`: Redis should be back, or the server another node, soon.
impl Refusal for Unavailable {
    fn status(&self) -> u16 {
        503
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        vec![("Retry-After", "1".into())]
    }
}

impl std::error::Error for Unavailable {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Unavailable::Redis(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishError::Invalid(e) => write!(f, "invalid event: {e}"),
            PublishError::Unavailable(why) => why.fmt(f),
            PublishError::KeyReused => {
                f.write_str("the Idempotency-Key was used for a different publish within its window")
            }
        }
    }
}

impl std::error::Error for PublishError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PublishError::Invalid(e) => Some(e),
            PublishError::Unavailable(why) => Some(why),
            PublishError::KeyReused => None,
        }
    }
}

impl Refusal for PublishError {
    fn status(&self) -> u16 {
        match self {
            PublishError::Invalid(e) => e.status(),
            PublishError::Unavailable(why) => why.status(),
            PublishError::KeyReused => 422,
        }
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            PublishError::Invalid(e) => e.headers(),
            PublishError::Unavailable(why) => why.headers(),
            PublishError::KeyReused => Vec::new(),
        }
    }
}

impl From<EncodeError> for PublishError {
    fn from(e: EncodeError) -> PublishError {
        PublishError::Invalid(e)
    }
}

pub(crate) struct ClientInner {
    pub(crate) id: u64,
    pub(crate) conn: ConnId,
    pub(crate) closed: AtomicBool,
    pub(crate) shared: Arc<Shared>,
}

/// One connected event-stream client.
///
/// ```no_run
/// # fn demo(client: ssehub::Client) -> Result<(), ssehub::SendError> {
/// client.send("plain data")?;
/// client.send(ssehub::Event::new("{\"x\":1}").event("update").id("7"))?;
/// client.close(); // what is queued is still written; then `send` answers Err(Disconnected)
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<ClientInner>,
}

impl Client {
    /// A number unique to this client for the life of the server.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// Whether the stream is still open, as far as the server knows.
    pub fn is_connected(&self) -> bool {
        !self.inner.closed.load(Ordering::Acquire)
    }

    /// Queues an event for this client.
    ///
    /// `Ok` means the event was handed to the client's worker; `Err(Disconnected)` that the
    /// client is known to be gone. The event is encoded here, on the caller's thread.
    pub fn send(&self, event: impl Into<Event>) -> Result<(), SendError> {
        let frame = Frame::event(&event.into())?;
        self.send_frame(frame)
    }

    /// Queues an already encoded frame (see [`Frame::event`]) for this client.
    pub fn send_frame(&self, frame: Frame) -> Result<(), SendError> {
        if !self.is_connected() {
            return Err(SendError::Disconnected);
        }
        let i = &self.inner;
        i.shared.mailboxes[i.conn.worker]
            .post(Command::Send(i.conn.key, frame))
            .map_err(|_| SendError::Disconnected)
    }

    /// Ends the stream gracefully (what is queued is still written).
    pub fn close(&self) {
        let i = &self.inner;
        if self.is_connected() {
            let _ = i.shared.mailboxes[i.conn.worker].post(Command::Close(i.conn.key));
        }
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("id", &self.id()).field("connected", &self.is_connected()).finish()
    }
}

/// Publishes events: to every stream, or to channels. Encodes each event once, numbers it,
/// keeps it for `Last-Event-ID` replay, and hands the same bytes to every worker.
///
/// ```no_run
/// # fn demo(server: &ssehub::Server) -> Result<(), ssehub::PublishError> {
/// let hub = server.broadcaster();
/// hub.send(ssehub::Event::new("to everyone"))?;
/// let published = hub.publish("room-1", ssehub::Event::new("to room-1 only"))?;
/// println!("its id: {:?}", published.id);
/// std::thread::spawn(move || loop {
///     let _ = hub.send(ssehub::Event::new("tick").event("clock"));
///     std::thread::sleep(std::time::Duration::from_secs(1));
/// });
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Broadcaster {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for Broadcaster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broadcaster").field("clients", &self.client_count()).finish_non_exhaustive()
    }
}

impl Broadcaster {
    /// Sends `event` to every stream, whatever its channels; returns how many streams are open
    /// (on this node).
    pub fn send(&self, event: impl Into<Event>) -> Result<usize, PublishError> {
        self.publish_to(&Target::All, event)?;
        Ok(self.client_count())
    }

    /// Sends `event` to the streams subscribed to `channel`.
    pub fn publish(&self, channel: &str, event: impl Into<Event>) -> Result<Published, PublishError> {
        self.publish_to(&Target::channels([channel]), event)
    }

    /// Sends `event` to `target`: all streams, or those of some channels (each stream once).
    ///
    /// The event gets the next sequence number, and that number as its id when it has none
    /// (see [`crate::hub`]); it is retained for replay per [`crate::hub::Retention`].
    ///
    /// With a Redis backplane ([`crate::ServerBuilder::redis`]) the call returns once Redis has
    /// the event (at most 5 s): its id is the stream entry id (an id set on `event` is
    /// replaced), `seq` is 0, and every node's clients, this one's included, get it from Redis.
    /// Since it waits for Redis, call it from a thread of your own, not from a callback
    /// (`on_connect`, `verify`...), which would hold up a worker and all its connections.
    pub fn publish_to(&self, target: &Target, event: impl Into<Event>) -> Result<Published, PublishError> {
        self.shared.publish(target, event.into())
    }

    /// [`Broadcaster::publish_to`] at most once per `key`: within the key's window (default 10
    /// minutes, [`crate::Config::idempotency_window`]) a publish under a key seen before with
    /// the same target and event publishes nothing and returns the first id
    /// ([`Receipt::replayed`]); with a different event it is [`PublishError::KeyReused`]. So a
    /// caller that got an error (say Redis lost the connection after taking the event) retries
    /// with the same key and publishes once. With a backplane the key holds across every node.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use ssehub::{Event, Server, Target};
    /// use ssehub::hub::idempotency::IdempotencyKey;
    /// let server = Server::builder().bind("127.0.0.1:0")?;
    /// let hub = server.broadcaster();
    /// let key = IdempotencyKey::new("order-42-shipped")?;
    /// let first = hub.publish_once(&Target::channels(["orders"]), Event::new("shipped"), &key)?;
    /// let again = hub.publish_once(&Target::channels(["orders"]), Event::new("shipped"), &key)?;
    /// assert_eq!((again.id, again.replayed), (first.id, true));
    /// # server.shutdown(); Ok(()) }
    /// ```
    pub fn publish_once(
        &self,
        target: &Target,
        event: impl Into<Event>,
        key: &IdempotencyKey,
    ) -> Result<Receipt, PublishError> {
        self.shared.publish_keyed(target, event.into(), Some(key))
    }

    /// Publishes several events, in order, and returns each one's id (or why it was not
    /// taken), in the same order.
    ///
    /// With a Redis backplane this is the way to publish many events from one thread: where
    /// [`Broadcaster::publish_to`] waits a round trip to Redis per event, the batch is handed
    /// over at once and sent 512 events to a script call; the call waits at most 5 s for each
    /// answer after the one before. Without a backplane it takes the hub's lock once for all.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use ssehub::{Event, Server, Target};
    /// let server = Server::builder().bind("127.0.0.1:0")?;
    /// let ticks = Target::channels(["ticks"]);
    /// let batch = (0..3).map(|n| (ticks.clone(), Event::new(n.to_string())));
    /// let receipts = server.broadcaster().publish_batch(batch);
    /// assert_eq!(receipts.len(), 3);
    /// assert!(receipts.iter().all(|r| r.is_ok()));
    /// # server.shutdown(); Ok(()) }
    /// ```
    pub fn publish_batch(
        &self,
        batch: impl IntoIterator<Item = (Target, Event)>,
    ) -> Vec<Result<Receipt, PublishError>> {
        self.shared.publish_batch(batch.into_iter().collect())
    }

    /// A [`Subscription`] to `channels` (checked ones: see [`crate::hub::validate_channels`])
    /// resuming after `last_event_id`, its queue bounded to `limit` bytes, fed by this server's
    /// hub like its own streams (and, with a backplane, by Redis): for an application that
    /// serves the stream with its own I/O (see [`crate::hub::subscription`]).
    ///
    /// Without a backplane the replay is queued at once. With one, when the local logs cannot
    /// answer, the backplane's read thread starts it ([`Subscription::poll_ready`] says when);
    /// should Redis not answer, it ends with [`Ended::Unavailable`](crate::hub::subscription::Ended).
    /// It is not counted in [`Broadcaster::client_count`] and takes no part in presence by
    /// itself: the code that serves it holds a [`Broadcaster::count_stream`] for as long as the
    /// stream is open.
    pub fn subscribe(
        &self,
        channels: &[Arc<str>],
        last_event_id: Option<&str>,
        limit: usize,
    ) -> Subscription {
        let shared = &self.shared;
        let now = Instant::now();
        let budget = limit.max(1);
        let register = |hub: &mut crate::hub::Hub, start, followed| {
            Subscription::register(&shared.hub, hub, channels, last_event_id, limit, start, followed)
        };
        let mut hub = shared.lock_hub();
        let Some(backplane) = &shared.backplane else {
            let resume = hub.resume(channels, last_event_id, budget, now);
            return register(&mut hub, Start::Now(resume), false);
        };
        if let Some(resume) = hub.resume_followed(channels, last_event_id, budget, now) {
            hub.subscribe(channels);
            return register(&mut hub, Start::Now(resume), true);
        }
        let sub = register(&mut hub, Start::Pending, false);
        drop(hub);
        let join = Join {
            to: JoinFor::Outside(sub.slot()),
            channels: channels.to_vec(),
            last_event_id: last_event_id.map(str::to_owned),
            deadline: now + WAIT,
        };
        if !backplane.join(join) {
            let _ = Subscription::start_pending(
                &sub.slot(),
                Err(Unavailable::ShutDown.to_string()),
                last_event_id,
            );
        }
        sub
    }

    /// Open event streams, across all workers, and those served elsewhere
    /// ([`Broadcaster::count_stream`]).
    pub fn client_count(&self) -> usize {
        self.shared.counters.streams.load(Ordering::Relaxed)
    }

    /// Counts a stream this server does not serve (one of a [`Broadcaster::subscribe`],
    /// served by the application's I/O) as it counts its own, until the [`CountedStream`] is
    /// dropped: in [`Broadcaster::client_count`], `ssehub_streams`, and presence on `channels`
    /// for `subject` (a token's `sub`: [`Access::subject`](crate::auth::Access)).
    pub fn count_stream(&self, channels: &[Arc<str>], subject: Option<Arc<str>>) -> CountedStream {
        CountedStream::new(self.shared.clone(), channels, subject)
    }

    /// Counts a stream request the [policy](crate::ServerBuilder::policy) refused, for a
    /// stream served elsewhere (`ssehub_streams_refused_total`, as the server counts its own).
    pub fn stream_refused(&self, refusal: &crate::auth::Refusal) {
        super::counted::refused(&self.shared, refusal);
    }
}
