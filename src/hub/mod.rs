//! Channels, event ids and `Last-Event-ID` replay, as pure state.
//!
//! ```text
//! publish(target, Event) ─► Hub: seq += 1, id assigned, encode once ─► Frame ─► replay logs
//!                                                                    └─► every worker's mailbox
//! new stream (channels, Last-Event-ID) ─► Hub::resume ─► retained frames after that id + seam seq
//!            (more retained than its queue holds) ─► Hub::replay, batch by batch, as it drains
//! worker: Publish(seq, frame) ─► fanout::Member::accepts(seq) ─► connection queue
//! ```
//!
//! # Ids
//! Every publish gets the next hub-wide sequence number. An event without an id is given an id
//! made from that number (unless id assignment is off: see [`ids`]), unique across restarts; an
//! event with an id keeps the application's. Ids are per channel monotonic because they are
//! hub-wide monotonic, which is also what lets a client subscribed to several channels resume
//! all of them from one `Last-Event-ID`.
//!
//! # Resuming without gap or duplicate
//! [`Hub::resume`] runs under the same lock as [`Hub::publish`], and the server posts each
//! publish to the workers while holding it, so every worker sees publishes in sequence order.
//! `resume` returns the retained frames after the client's id *and* the sequence number they
//! reach; the worker then delivers only live frames with a larger number ([`fanout::Member`]).
//! A publish that raced the resume is therefore in exactly one of the two.
//!
//! # Replay within the client's bounds
//! A resume hands out at most a byte budget (what the client's queue may hold). When more is
//! retained (a stream of many channels, say), the stream takes no live events yet
//! ([`Then::More`]): as its queue drains, the worker asks [`Hub::replay`] for the next batch
//! after the last one delivered, and only the batch that reaches the newest publish switches the
//! stream to live, with the seam drawn there. Live publishes in the meantime are in the logs, so
//! they come as replay. Should the logs evict events before a slow reader's replay reaches them,
//! the next batch starts with a [`GAP_EVENT`] whose data is the id of the last event delivered,
//! and goes on from where the logs are complete: the client knows exactly where it lost track.
//!
//! # A missed stretch is never silent
//! When the `Last-Event-ID` is unknown (older than what is retained, from an earlier
//! incarnation of the hub, from the future, or made up), or events after it were evicted from one
//! of the client's channels, the client first receives an event of type [`GAP_EVENT`] whose data
//! is the id it sent, then the retained events of its channels from where all of their logs are
//! complete (an event older than another log's newest eviction is left out: after it, the
//! replay would have a silent hole). An EventSource sees it with
//! `addEventListener('gap', ...)`.
//!
//! # Channels
//! A stream subscribes to named channels (by default [`DEFAULT_CHANNEL`]); a publish goes to one
//! channel, several (a client in more than one of them gets the event once), or all streams.
//! Names are 1 to [`MAX_CHANNEL_NAME`] bytes of UTF-8 without control characters; the hub's own
//! log of publishes to all is kept apart ([`logs`]), out of reach of any name.

pub mod fanout;
pub(crate) mod follow;
pub mod idempotency;
pub mod ids;
pub mod local;
pub mod log;
pub mod logs;
pub mod presence;
pub mod publish;
pub mod subscription;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::EncodeError;
use crate::event::Event;
use crate::http::Request;
use crate::http::answer::Refusal;
use crate::proto::Frame;
use follow::Follows;
use idempotency::{Fingerprint, IdempotencyKey, Remembered, Seen};
use ids::{IdClass, IdScheme};
pub use log::{Entry, Log, Retention};
use logs::{LogKey, Logs};

/// The channel of streams that name none, and of publishes that name none.
pub const DEFAULT_CHANNEL: &str = "default";

/// The event type that tells a resuming client it missed events.
pub const GAP_EVENT: &str = "gap";

/// Where a publish goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Every stream, whatever its channels.
    All,
    /// The streams subscribed to any of these channels (sorted, without duplicates).
    Channels(Arc<[Arc<str>]>),
}

impl Target {
    /// The streams of these channels.
    pub fn channels<I: IntoIterator<Item = S>, S: AsRef<str>>(channels: I) -> Target {
        let mut list: Vec<Arc<str>> = channels.into_iter().map(|c| Arc::from(c.as_ref())).collect();
        list.sort();
        list.dedup();
        Target::Channels(list.into())
    }
}

/// What a publish produced: the frame every subscriber gets, and its place in the order.
#[derive(Clone, Debug)]
pub struct Published {
    /// The hub-wide sequence number.
    pub seq: u64,
    /// The event's id (assigned or the application's).
    pub id: Option<Arc<str>>,
    /// The encoded event.
    pub frame: Frame,
}

/// What [`Hub::publish_once`] did.
#[derive(Clone, Debug)]
pub enum Once {
    /// The key is new: the event went out.
    Published(Published),
    /// The key published this before, with this id: nothing went out.
    Replayed(Arc<str>),
}

/// Why [`Hub::publish_once`] published nothing and has no id to give.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OnceError {
    /// The event cannot be encoded.
    Invalid(EncodeError),
    /// The key published a different event (other channels, data or type) within the window.
    KeyReused,
}

impl Published {
    /// The id a publisher is answered with: the event's, or its sequence number when it has
    /// none (id assignment off).
    pub fn id_or_seq(&self) -> Arc<str> {
        self.id.clone().unwrap_or_else(|| self.seq.to_string().into())
    }
}

/// What a stream does once the frames of a [`Resume`] or a [`Batch`] are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Then {
    /// Take live publishes numbered after the resume's `seq`.
    #[default]
    Live,
    /// More is retained than the budget allowed: ask [`Hub::replay`] after `seq` once the queue
    /// has room, taking no live publishes until a batch says [`Then::Live`].
    More,
    /// End the stream: the replay was cut at the budget and cannot be continued here (a
    /// backplane's); the client reconnects and resumes from the last id it received.
    End,
}

/// What a new stream gets before the live events.
#[derive(Clone, Debug, Default)]
pub struct Resume {
    /// With [`Then::Live`]: live publishes numbered up to this one are covered. With
    /// [`Then::More`]: the replay delivered everything up to it.
    pub seq: u64,
    /// A [`GAP_EVENT`] frame when the client missed events, sent first.
    pub gap: Option<Frame>,
    /// The retained events after the client's id, in publish order (at most the budget).
    pub frames: Vec<Frame>,
    /// What follows the frames.
    pub then: Then,
    /// The id of the last event in `frames` that has one (what the client's `lastEventId` is
    /// once it read them).
    pub last_id: Option<Arc<str>>,
}

/// The next part of a replay (see [`Hub::replay`]).
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// As in [`Resume::seq`].
    pub seq: u64,
    /// The next retained events, in publish order (at most the budget), after a [`GAP_EVENT`]
    /// when events the replay had not reached yet were evicted.
    pub frames: Vec<Frame>,
    /// [`Then::Live`] or [`Then::More`].
    pub then: Then,
    /// As in [`Resume::last_id`].
    pub last_id: Option<Arc<str>>,
}

/// Sequence numbers, ids and the replay logs. See the [module docs](self).
#[derive(Debug)]
pub struct Hub {
    seq: u64,
    ids: Option<IdScheme>,
    logs: Logs,
    retention: Retention,
    follows: Follows,
    remembered: Remembered,
    /// Streams served by someone else's I/O ([`subscription`]), delivered to by `publish`.
    outside: subscription::Subscribers,
}

impl Hub {
    /// A hub keeping `retention`, giving id-less events ids by `ids` (`None`: they stay id-less).
    pub fn new(retention: Retention, ids: Option<IdScheme>) -> Hub {
        Hub {
            seq: 0,
            ids,
            logs: Logs::default(),
            retention,
            follows: Follows::default(),
            remembered: Remembered::default(),
            outside: subscription::Subscribers::default(),
        }
    }

    /// The sequence number of the latest publish.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The retention bounds.
    pub fn retention(&self) -> &Retention {
        &self.retention
    }

    /// The replay logs.
    pub fn logs(&self) -> &Logs {
        &self.logs
    }

    /// The log of `channel`, if it has one.
    pub fn log(&self, channel: &str) -> Option<&Log> {
        self.logs.channel(channel)
    }

    /// Numbers, encodes and retains an event.
    pub fn publish(
        &mut self,
        target: &Target,
        mut event: Event,
        now: Instant,
    ) -> Result<Published, EncodeError> {
        // Frame::event validates: once per publish, before the number is taken.
        let seq = self.seq + 1;
        if event.id.is_none() {
            event.id = self.ids.map(|ids| ids.id(seq));
        }
        let frame = Frame::event(&event)?;
        self.seq = seq;
        let id: Option<Arc<str>> = event.id.map(Arc::from);
        let entry = Entry { seq, id: id.clone(), frame: frame.clone(), at: now };
        let retention = self.retention;
        match target {
            Target::All => self.logs.push(LogKey::All, entry, &retention),
            Target::Channels(list) => {
                for channel in list.iter() {
                    self.logs.push(LogKey::Channel(channel.clone()), entry.clone(), &retention);
                }
            }
        }
        self.outside.deliver(seq, &frame, target);
        Ok(Published { seq, id, frame })
    }

    /// Sets how long and how many idempotency keys are remembered (see [`idempotency`]).
    pub fn remember_keys(&mut self, window: Duration, capacity: usize) {
        self.remembered = Remembered::new(window, capacity);
    }

    /// The idempotency keys remembered.
    pub fn remembered(&self) -> &Remembered {
        &self.remembered
    }

    /// [`Hub::publish`] at most once per `key` within the window: a key seen before with the
    /// same publish publishes nothing and gives the first id back ([`Once::Replayed`]).
    pub fn publish_once(
        &mut self,
        target: &Target,
        event: Event,
        key: &IdempotencyKey,
        now: Instant,
    ) -> Result<Once, OnceError> {
        let fingerprint = Fingerprint::of(target, &event);
        match self.remembered.seen(key, fingerprint, now) {
            Seen::Replay(id) => Ok(Once::Replayed(id)),
            Seen::Conflict(_) => Err(OnceError::KeyReused),
            Seen::New => {
                let published = self.publish(target, event, now).map_err(OnceError::Invalid)?;
                self.remembered.remember(key.clone(), fingerprint, published.id_or_seq(), now);
                Ok(Once::Published(published))
            }
        }
    }

    /// What a stream subscribed to `channels` gets before the live events, given the
    /// `Last-Event-ID` it sent (if any): at most `budget` bytes of replay (at least one event).
    /// See the [module docs](self).
    pub fn resume(
        &mut self,
        channels: &[Arc<str>],
        last_event_id: Option<&str>,
        budget: usize,
        now: Instant,
    ) -> Resume {
        let Some(last) = last_event_id else {
            return Resume { seq: self.seq, ..Resume::default() };
        };
        self.logs.trim(channels, &self.retention, now);
        let at = self.place(channels, last);
        // After a gap, the replay starts where every log involved is complete again: retained
        // events older than another log's eviction would leave a silent hole after the gap.
        let horizon = self.logs.horizon(channels);
        let gap = at.is_none_or(|seq| horizon > seq);
        let batch = self.collect(channels, at.unwrap_or(0).max(horizon), budget);
        let gap = gap.then(|| gap_frame(last));
        Resume { seq: batch.seq, gap, frames: batch.frames, then: batch.then, last_id: batch.last_id }
    }

    /// The replay after sequence `after` (where the last [`Resume`] or [`Batch`] stopped): at
    /// most `budget` bytes (at least one event). `last_id` is the id of the last event the
    /// stream was sent, echoed by the gap event should the logs have evicted what follows it.
    pub fn replay(
        &mut self,
        channels: &[Arc<str>],
        after: u64,
        last_id: &str,
        budget: usize,
        now: Instant,
    ) -> Batch {
        self.logs.trim(channels, &self.retention, now);
        let horizon = self.logs.horizon(channels);
        let mut batch = self.collect(channels, after.max(horizon), budget);
        if horizon > after {
            batch.frames.insert(0, gap_frame(last_id));
        }
        batch
    }

    /// Like [`Hub::resume`] on a node that follows channels from a backplane, when the logs can
    /// answer alone: every channel followed, and the id (if any) found where the logs are
    /// complete, with nothing evicted after it. `None` means the backplane must answer.
    pub(crate) fn resume_followed(
        &mut self,
        channels: &[Arc<str>],
        last_event_id: Option<&str>,
        budget: usize,
        now: Instant,
    ) -> Option<Resume> {
        if channels.iter().any(|c| self.follows.get(c).is_none()) {
            return None;
        }
        let Some(last) = last_event_id else {
            return Some(Resume { seq: self.seq, ..Resume::default() });
        };
        self.logs.trim(channels, &self.retention, now);
        let at = self.place(channels, last)?;
        let complete = channels.iter().all(|c| self.follows.get(c).is_some_and(|f| f.since <= at));
        if !complete || self.logs.lost_after(channels, at) {
            return None;
        }
        let batch = self.collect(channels, at, budget);
        Some(Resume {
            seq: batch.seq,
            gap: None,
            frames: batch.frames,
            then: batch.then,
            last_id: batch.last_id,
        })
    }

    /// The sequence number `last` stands for in the logs of `channels`, if it can be placed: an
    /// id this hub gave out names its number; any other is looked up in the logs.
    fn place(&self, channels: &[Arc<str>], last: &str) -> Option<u64> {
        match self.ids.map(|ids| ids.classify(last, self.seq)) {
            Some(IdClass::Ours(seq)) => Some(seq),
            Some(IdClass::Future) => None,
            Some(IdClass::Other) | None => std::iter::once(self.logs.all())
                .chain(channels.iter().filter_map(|c| self.logs.channel(c)))
                .find_map(|log| log.find(last)),
        }
    }

    /// The retained events of `channels` (and of publishes to all) after `after`, in publish
    /// order, each once, up to `budget` bytes (at least one).
    fn collect(&self, channels: &[Arc<str>], after: u64, budget: usize) -> Batch {
        let logs: Vec<&Log> = std::iter::once(self.logs.all())
            .chain(channels.iter().filter_map(|c| self.logs.channel(c)))
            .collect();
        let mut at: Vec<usize> = logs.iter().map(|log| log.position_after(after)).collect();
        let mut frames = Vec::new();
        let mut bytes = 0;
        let mut reached = after;
        let mut last_id = None;
        loop {
            // The oldest head among the logs (a publish to several channels heads several).
            let next = logs.iter().zip(&at).filter_map(|(log, &i)| log.get(i)).map(|e| e.seq).min();
            let Some(seq) = next else {
                return Batch { seq: self.seq, frames, then: Then::Live, last_id };
            };
            if !frames.is_empty() && bytes >= budget {
                return Batch { seq: reached, frames, then: Then::More, last_id };
            }
            let mut taken: Option<&Entry> = None;
            for (log, i) in logs.iter().zip(at.iter_mut()) {
                if let Some(entry) = log.get(*i).filter(|e| e.seq == seq) {
                    taken.get_or_insert(entry);
                    *i += 1;
                }
            }
            let entry = taken.expect("the head just found");
            bytes += entry.frame.chunked().len();
            frames.push(entry.frame.clone());
            if entry.id.is_some() {
                last_id.clone_from(&entry.id);
            }
            reached = seq;
        }
    }

    /// Starts following `channel` from a backplane (see [`follow`]): its log is complete from
    /// now on. `false` if it was followed already.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn follow(&mut self, channel: Arc<str>, now: Instant) -> bool {
        let new = self.follows.follow(channel.clone(), self.seq, now);
        if new {
            // Whatever was logged before belongs to an earlier, ended follow: it has a hole.
            self.logs.remove(&channel);
        }
        new
    }

    /// Counts a new local stream on `channels` (see [`Follows::subscribe`]).
    pub(crate) fn subscribe(&mut self, channels: &[Arc<str>]) {
        self.follows.subscribe(channels);
    }

    /// Counts a local stream on `channels` going away (see [`Follows::unsubscribe`]).
    pub(crate) fn unsubscribe(&mut self, channels: &[Arc<str>], now: Instant) {
        self.follows.unsubscribe(channels, now);
    }

    /// Stops following the channels unused for `grace`, dropping their logs; returns them.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn drop_idle(&mut self, now: Instant, grace: Duration) -> Vec<Arc<str>> {
        let dropped = self.follows.drop_idle(now, grace);
        for name in &dropped {
            self.logs.remove(name);
        }
        dropped
    }

    /// How many [`subscription::Subscription`]s are open on this hub (and not cut off).
    pub fn subscriptions(&self) -> usize {
        self.outside.len()
    }

    /// The channels followed from a backplane.
    pub(crate) fn follows(&self) -> &Follows {
        &self.follows
    }
}

/// Most channels one stream may subscribe to.
pub const MAX_CHANNELS_PER_STREAM: usize = 32;
/// Longest channel name, in bytes.
pub const MAX_CHANNEL_NAME: usize = 256;

/// Why a channel list is refused (always `400`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChannelError {
    /// More than [`MAX_CHANNELS_PER_STREAM`] channels.
    TooMany,
    /// A name empty or longer than [`MAX_CHANNEL_NAME`] bytes.
    Length,
    /// A name holding a control character.
    ControlCharacter,
    /// A name that is not UTF-8 once percent-decoded.
    NotUtf8,
}

impl std::fmt::Display for ChannelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ChannelError::TooMany => "too many channels",
            ChannelError::Length => "channel names must be 1 to 256 bytes",
            ChannelError::ControlCharacter => "channel names may not hold control characters",
            ChannelError::NotUtf8 => "channel names must be UTF-8",
        })
    }
}

impl std::error::Error for ChannelError {}

impl Refusal for ChannelError {
    fn status(&self) -> u16 {
        400
    }
}

/// The channels a request asks for: its `channel` query parameters (repeatable), or
/// [`DEFAULT_CHANNEL`] when it names none; refused as [`validate_channels`] does, or when a
/// name is not UTF-8 once percent-decoded.
///
/// ```
/// # use ssehub::http::request::{parse_head, Limits};
/// let head = parse_head(b"GET /sse?channel=a&channel=b%20c HTTP/1.1\r\nHost: h\r\n\r\n", &Limits::default());
/// let channels = ssehub::hub::requested_channels(&head.unwrap().unwrap().request).unwrap();
/// let want: [std::sync::Arc<str>; 2] = ["a".into(), "b c".into()];
/// assert_eq!(channels, want);
/// ```
pub fn requested_channels(req: &Request) -> Result<Vec<Arc<str>>, ChannelError> {
    let names = req.query_values("channel").map_err(|_| ChannelError::NotUtf8)?;
    validate_channels(if names.is_empty() { vec![DEFAULT_CHANNEL.to_owned()] } else { names })
}

/// Checks a channel list (count; names of 1 to [`MAX_CHANNEL_NAME`] bytes without control
/// characters), sorted and without duplicates.
///
/// ```
/// use ssehub::hub::{ChannelError, validate_channels};
/// assert_eq!(validate_channels(vec!["\0all".to_owned()]), Err(ChannelError::ControlCharacter));
/// ```
pub fn validate_channels(names: Vec<String>) -> Result<Vec<Arc<str>>, ChannelError> {
    if names.len() > MAX_CHANNELS_PER_STREAM {
        return Err(ChannelError::TooMany);
    }
    if names.iter().any(|n| n.is_empty() || n.len() > MAX_CHANNEL_NAME) {
        return Err(ChannelError::Length);
    }
    if names.iter().any(|n| n.chars().any(char::is_control)) {
        return Err(ChannelError::ControlCharacter);
    }
    let mut list: Vec<Arc<str>> = names.into_iter().map(Arc::from).collect();
    list.sort();
    list.dedup();
    Ok(list)
}

/// The [`GAP_EVENT`] telling a client that resumed from `last_event_id` that it missed events.
pub fn gap_frame(last_event_id: &str) -> Frame {
    Frame::event(&Event::new(sanitize(last_event_id)).event(GAP_EVENT)).expect("a valid event")
}

/// The id echoed in a gap event's data; data may hold anything, so only length is bounded.
fn sanitize(id: &str) -> String {
    id.chars().take(256).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::decode::{Decoder, OwnedItem};

    /// Ids `1, 2, 3, ...`.
    const NUMBERED: Option<IdScheme> = Some(IdScheme::with_origin(0));

    #[test]
    fn publish_once_publishes_a_key_once_and_refuses_it_for_another_event() {
        let t0 = Instant::now();
        let mut hub = Hub::new(Retention::default(), NUMBERED);
        let key = IdempotencyKey::new("k").unwrap();
        let a = Target::channels(["a"]);
        let Ok(Once::Published(first)) = hub.publish_once(&a, Event::new("x"), &key, t0) else { panic!() };
        let Ok(Once::Replayed(id)) = hub.publish_once(&a, Event::new("x"), &key, t0) else { panic!() };
        assert_eq!(Some(id), first.id);
        assert_eq!(hub.seq(), 1, "nothing more was numbered");
        assert_eq!(hub.log("a").map(|l| l.len()), Some(1), "nor retained");
        assert_eq!(hub.publish_once(&a, Event::new("y"), &key, t0).unwrap_err(), OnceError::KeyReused);
        let bad = hub.publish_once(&a, Event::new("x").event("a\nb"), &IdempotencyKey::new("j").unwrap(), t0);
        assert!(matches!(bad, Err(OnceError::Invalid(_))));
        assert_eq!(hub.remembered().len(), 1, "a refused publish is not remembered");
    }
    /// A replay budget nothing here reaches.
    const ALL_OF_IT: usize = usize::MAX;

    fn data_of(frames: &[Frame]) -> Vec<String> {
        let mut dec = Decoder::new();
        let mut out = Vec::new();
        for f in frames {
            dec.feed(f.block(), |item| {
                if let OwnedItem::Event { data, event_type, .. } = item.to_owned() {
                    out.push(if event_type == "message" { data } else { format!("{event_type}:{data}") });
                }
            })
            .unwrap();
        }
        out
    }

    fn ch(names: &[&str]) -> Vec<Arc<str>> {
        names.iter().map(|n| Arc::from(*n)).collect()
    }

    #[test]
    fn ids_are_assigned_in_publish_order_unless_given() {
        let mut hub = Hub::new(Retention::default(), NUMBERED);
        let t = Instant::now();
        let a = hub.publish(&Target::All, Event::new("a"), t).unwrap();
        let b = hub.publish(&Target::All, Event::new("b").id("mine"), t).unwrap();
        assert_eq!((a.seq, a.id.as_deref()), (1, Some("1")));
        assert_eq!((b.seq, b.id.as_deref()), (2, Some("mine")));
        assert_eq!(a.frame.block(), b"id: 1\ndata: a\n\n");
        let mut plain = Hub::new(Retention::default(), None);
        assert_eq!(plain.publish(&Target::All, Event::new("c"), t).unwrap().id, None);
    }

    #[test]
    fn resume_replays_the_client_channels_after_its_id() {
        let mut hub = Hub::new(Retention::default(), NUMBERED);
        let t = Instant::now();
        for (n, target) in [("1", "a"), ("2", "b"), ("3", "a"), ("4", "c"), ("5", "a")] {
            hub.publish(&Target::channels([target]), Event::new(n), t).unwrap();
        }
        hub.publish(&Target::All, Event::new("6"), t).unwrap();
        let r = hub.resume(&ch(&["a", "b"]), Some("1"), ALL_OF_IT, t);
        assert_eq!(r.seq, 6);
        assert!(r.gap.is_none());
        assert_eq!(data_of(&r.frames), ["2", "3", "5", "6"]);
        let fresh = hub.resume(&ch(&["a"]), None, ALL_OF_IT, t);
        assert!(fresh.frames.is_empty() && fresh.gap.is_none() && fresh.seq == 6);
    }

    #[test]
    fn multi_channel_publish_is_replayed_once() {
        let mut hub = Hub::new(Retention::default(), NUMBERED);
        let t = Instant::now();
        hub.publish(&Target::channels(["a"]), Event::new("x"), t).unwrap();
        hub.publish(&Target::channels(["a", "b", "a"]), Event::new("both"), t).unwrap();
        assert_eq!(data_of(&hub.resume(&ch(&["a", "b"]), Some("1"), ALL_OF_IT, t).frames), ["both"]);
    }

    #[test]
    fn unknown_or_evicted_ids_announce_a_gap_then_replay_what_is_kept() {
        let mut hub = Hub::new(Retention { max_events: 2, ..Retention::default() }, NUMBERED);
        let t = Instant::now();
        for n in 1..=4 {
            hub.publish(&Target::channels(["a"]), Event::new(n.to_string()), t).unwrap();
        }
        let r = hub.resume(&ch(&["a"]), Some("1"), ALL_OF_IT, t);
        let mut frames = r.gap.into_iter().collect::<Vec<_>>();
        frames.extend(r.frames);
        assert_eq!(data_of(&frames), ["gap:1", "3", "4"]);
        let r = hub.resume(&ch(&["a"]), Some("3"), ALL_OF_IT, t);
        assert!(r.gap.is_none());
        assert_eq!(data_of(&r.frames), ["4"]);
        let r = hub.resume(&ch(&["a"]), Some("nonsense"), ALL_OF_IT, t);
        assert!(r.gap.is_some());
    }

    #[test]
    fn a_gap_in_another_channel_is_reported_too() {
        let mut hub = Hub::new(Retention { max_events: 1, ..Retention::default() }, NUMBERED);
        let t = Instant::now();
        hub.publish(&Target::channels(["a"]), Event::new("a1"), t).unwrap();
        hub.publish(&Target::channels(["b"]), Event::new("b1"), t).unwrap();
        hub.publish(&Target::channels(["b"]), Event::new("b2"), t).unwrap();
        // Resuming from "1" (kept in a): b1 was evicted from b, so the client missed it.
        let r = hub.resume(&ch(&["a", "b"]), Some("1"), ALL_OF_IT, t);
        assert!(r.gap.is_some());
        assert_eq!(data_of(&r.frames), ["b2"]);
    }

    #[test]
    fn a_followed_channel_answers_only_from_where_its_log_is_complete() {
        let mut hub = Hub::new(Retention::default(), None);
        let t = Instant::now();
        let (a, b) = (ch(&["a"]), ch(&["a", "b"]));
        assert!(hub.resume_followed(&a, None, ALL_OF_IT, t).is_none(), "not followed: ask the backplane");
        hub.publish(&Target::channels(["a"]), Event::new("before").id("1-0"), t).unwrap();
        assert!(hub.follow("a".into(), t));
        assert!(!hub.follow("a".into(), t));
        assert!(hub.log("a").is_none(), "a log from before the follow has a hole: dropped");
        hub.publish(&Target::channels(["a"]), Event::new("x").id("2-0"), t).unwrap();
        hub.publish(&Target::channels(["a"]), Event::new("y").id("3-0"), t).unwrap();
        let r = hub.resume_followed(&a, Some("2-0"), ALL_OF_IT, t).unwrap();
        assert_eq!((r.seq, data_of(&r.frames)), (3, vec!["y".to_owned()]));
        assert_eq!(hub.resume_followed(&a, None, ALL_OF_IT, t).unwrap().seq, 3);
        assert!(hub.resume_followed(&a, Some("1-0"), ALL_OF_IT, t).is_none(), "older than the follow");
        assert!(hub.resume_followed(&b, Some("2-0"), ALL_OF_IT, t).is_none(), "b not followed");
        hub.follow("b".into(), t);
        assert!(hub.resume_followed(&b, Some("2-0"), ALL_OF_IT, t).is_none(), "b's log starts after 2-0");
        hub.publish(&Target::channels(["b"]), Event::new("z").id("4-0"), t).unwrap();
        let r = hub.resume_followed(&b, Some("4-0"), ALL_OF_IT, t).unwrap();
        assert!(r.frames.is_empty() && r.gap.is_none());
    }

    #[test]
    fn an_idle_followed_channel_is_dropped_with_its_log() {
        let mut hub = Hub::new(Retention::default(), None);
        let t = Instant::now();
        let a = ch(&["a"]);
        hub.follow("a".into(), t);
        hub.subscribe(&a);
        hub.publish(&Target::channels(["a"]), Event::new("x").id("1-0"), t).unwrap();
        let grace = Duration::from_secs(5);
        assert!(hub.drop_idle(t + grace, grace).is_empty());
        hub.unsubscribe(&a, t + grace);
        assert_eq!(hub.drop_idle(t + grace * 2, grace), a);
        assert!(hub.log("a").is_none() && hub.follows().is_empty());
    }

    #[test]
    fn a_replay_past_the_budget_goes_on_in_batches_to_the_seam() {
        let mut hub = Hub::new(Retention::default(), NUMBERED);
        let t = Instant::now();
        for n in 1..=10 {
            let channel = if n % 2 == 0 { "a" } else { "b" };
            hub.publish(&Target::channels([channel]), Event::new(n.to_string()), t).unwrap();
        }
        let one = hub.log("a").unwrap().get(0).unwrap().frame.chunked().len();
        let (a_b, mut got) = (ch(&["a", "b"]), Vec::new());
        let r = hub.resume(&a_b, Some("2"), 3 * one, t);
        assert!(r.gap.is_none());
        assert_eq!((r.then, r.seq, r.last_id.as_deref()), (Then::More, 5, Some("5")));
        got.extend(r.frames);
        // Publishes meanwhile come through the logs, not live.
        hub.publish(&Target::All, Event::new("11"), t).unwrap();
        let mut seq = r.seq;
        loop {
            let b = hub.replay(&a_b, seq, "", 3 * one, t);
            got.extend(b.frames);
            seq = b.seq;
            if b.then == Then::Live {
                break;
            }
        }
        assert_eq!(seq, 11, "the last batch draws the seam at the newest publish");
        assert_eq!(data_of(&got), ["3", "4", "5", "6", "7", "8", "9", "10", "11"]);
    }

    #[test]
    fn a_batch_behind_an_eviction_starts_with_a_gap_echoing_the_last_id_sent() {
        let mut hub = Hub::new(Retention { max_events: 3, ..Retention::default() }, NUMBERED);
        let t = Instant::now();
        for n in 1..=3 {
            hub.publish(&Target::channels(["a"]), Event::new(n.to_string()), t).unwrap();
        }
        let r = hub.resume(&ch(&["a"]), Some("1"), 1, t);
        assert_eq!((data_of(&r.frames), r.then), (vec!["2".to_owned()], Then::More));
        for n in 4..=7 {
            hub.publish(&Target::channels(["a"]), Event::new(n.to_string()), t).unwrap();
        }
        // 3 and 4 were evicted before the replay reached them.
        let b = hub.replay(&ch(&["a"]), r.seq, "2", usize::MAX, t);
        assert_eq!(data_of(&b.frames), ["gap:2", "5", "6", "7"]);
        assert_eq!(b.then, Then::Live);
    }

    #[test]
    fn after_a_gap_the_replay_starts_where_every_log_is_complete() {
        let mut hub = Hub::new(Retention { max_events: 1, ..Retention::default() }, NUMBERED);
        let t = Instant::now();
        hub.publish(&Target::All, Event::new("1"), t).unwrap();
        hub.publish(&Target::channels(["b"]), Event::new("2"), t).unwrap();
        hub.publish(&Target::channels(["b"]), Event::new("3"), t).unwrap();
        // Retained: 1 (all) and 3 (b); 2 was evicted. "1, 3" after the gap would hide 2's loss.
        let r = hub.resume(&ch(&["b"]), Some("unknown"), ALL_OF_IT, t);
        let mut frames: Vec<Frame> = r.gap.into_iter().collect();
        frames.extend(r.frames);
        assert_eq!(data_of(&frames), ["gap:unknown", "3"]);
    }

    #[test]
    fn no_channel_name_reaches_the_log_of_publishes_to_all() {
        let mut hub = Hub::new(Retention::default(), NUMBERED);
        let t = Instant::now();
        hub.publish(&Target::All, Event::new("to all"), t).unwrap();
        hub.publish(&Target::channels(["\0all"]), Event::new("sneaky"), t).unwrap();
        // A follow of that name (what a subscriber's request used to trigger) drops nothing.
        hub.follow("\0all".into(), t);
        let r = hub.resume(&ch(&["room"]), Some("0"), ALL_OF_IT, t);
        assert_eq!(data_of(&r.frames), ["to all"], "the \\0all channel is a channel like any other");
        assert_eq!(hub.logs().all().len(), 1);
        for bad in ["\0all", "a\nb", "tab\t", "\u{7f}", "\u{85}"] {
            assert_eq!(
                validate_channels(vec![bad.to_owned()]),
                Err(ChannelError::ControlCharacter),
                "{bad:?}"
            );
        }
        assert!(validate_channels(vec!["room/42 ✓".to_owned()]).is_ok());
    }

    #[test]
    fn ids_from_another_incarnation_or_the_future_are_gaps() {
        let mut hub = Hub::new(Retention::default(), Some(IdScheme::with_origin(1_000_000)));
        let t = Instant::now();
        for n in 1..=3 {
            hub.publish(&Target::channels(["a"]), Event::new(n.to_string()), t).unwrap();
        }
        assert_eq!(hub.log("a").unwrap().get(0).unwrap().id.as_deref(), Some("1000001"));
        let exact = hub.resume(&ch(&["a"]), Some("1000002"), ALL_OF_IT, t);
        assert!(exact.gap.is_none());
        assert_eq!(data_of(&exact.frames), ["3"]);
        // An id of this hub's that named an event of another channel still places the client.
        let elsewhere = hub.resume(&ch(&["b"]), Some("1000002"), ALL_OF_IT, t);
        assert!(elsewhere.gap.is_none() && elsewhere.frames.is_empty());
        for other in ["2", "999999", "1000004", "99999999999"] {
            let r = hub.resume(&ch(&["a"]), Some(other), ALL_OF_IT, t);
            assert!(r.gap.is_some(), "{other}");
            assert_eq!(data_of(&r.frames), ["1", "2", "3"]);
        }
    }

    #[test]
    fn invalid_events_consume_no_sequence_number() {
        let mut hub = Hub::new(Retention::default(), NUMBERED);
        let t = Instant::now();
        assert!(hub.publish(&Target::All, Event::new("x").event("a\nb"), t).is_err());
        assert_eq!(hub.seq(), 0);
    }
}
