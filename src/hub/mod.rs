//! Channels, event ids and `Last-Event-ID` replay, as pure state.
//!
//! ```text
//! publish(target, Event) ─► Hub: seq += 1, id assigned, encode once ─► Frame ─► channel logs
//!                                                                    └─► every worker's mailbox
//! new stream (channels, Last-Event-ID) ─► Hub::resume ─► retained frames after that id + seam seq
//! worker: Publish(seq, frame) ─► fanout::Member::accepts(seq) ─► connection queue
//! ```
//!
//! # Ids
//! Every publish gets the next hub-wide sequence number. An event without an id is given that
//! number as its id (unless id assignment is off); an event with an id keeps the application's.
//! Ids are per channel monotonic because they are hub-wide monotonic, which is also what lets a
//! client subscribed to several channels resume all of them from one `Last-Event-ID`.
//!
//! # Resuming without gap or duplicate
//! [`Hub::resume`] runs under the same lock as [`Hub::publish`], and the server posts each
//! publish to the workers while holding it, so every worker sees publishes in sequence order.
//! `resume` returns the retained frames after the client's id *and* the sequence number they
//! reach; the worker then delivers only live frames with a larger number ([`fanout::Member`]).
//! A publish that raced the resume is therefore in exactly one of the two.
//!
//! # A missed stretch is never silent
//! When the `Last-Event-ID` is unknown (older than what is retained, from before a restart, or
//! made up), or events after it were evicted from one of the client's channels, the client first
//! receives an event of type [`GAP_EVENT`] whose data is the id it sent, then every retained event
//! of its channels. An EventSource sees it with `addEventListener('gap', ...)`.
//!
//! # Channels
//! A stream subscribes to named channels (by default [`DEFAULT_CHANNEL`]); a publish goes to one
//! channel, several (a client in more than one of them gets the event once), or all streams.

pub mod fanout;
pub mod follow;
pub mod log;
pub mod publish;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::EncodeError;
use crate::event::Event;
use crate::http::{Request, Response};
use crate::proto::Frame;
pub use follow::Follows;
pub use log::{Entry, Log, Retention};

/// The channel of streams that name none, and of publishes that name none.
pub const DEFAULT_CHANNEL: &str = "default";

/// The event type that tells a resuming client it missed events.
pub const GAP_EVENT: &str = "gap";

/// The log of publishes to every stream, replayed to every resuming client.
const ALL: &str = "\0all";

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

/// What a new stream gets before the live events.
#[derive(Clone, Debug, Default)]
pub struct Resume {
    /// Live publishes with a sequence number up to this one are already covered.
    pub seq: u64,
    /// A [`GAP_EVENT`] frame when the client missed events, sent first.
    pub gap: Option<Frame>,
    /// The retained events after the client's id, in publish order.
    pub frames: Vec<Frame>,
}

/// Sequence numbers, ids and the per-channel replay logs. See the [module docs](self).
#[derive(Debug)]
pub struct Hub {
    seq: u64,
    logs: HashMap<Arc<str>, Log>,
    retention: Retention,
    assign_ids: bool,
    follows: Follows,
}

impl Hub {
    /// A hub keeping `retention` per channel; `assign_ids` gives id-less events their number.
    pub fn new(retention: Retention, assign_ids: bool) -> Hub {
        Hub { seq: 0, logs: HashMap::new(), retention, assign_ids, follows: Follows::default() }
    }

    /// The sequence number of the latest publish.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The retention bounds.
    pub fn retention(&self) -> &Retention {
        &self.retention
    }

    /// The log of `channel`, if it ever had an event retained.
    pub fn log(&self, channel: &str) -> Option<&Log> {
        self.logs.get(channel)
    }

    /// Numbers, encodes and retains an event.
    pub fn publish(
        &mut self,
        target: &Target,
        mut event: Event,
        now: Instant,
    ) -> Result<Published, EncodeError> {
        event.validate()?;
        let seq = self.seq + 1;
        if event.id.is_none() && self.assign_ids {
            event.id = Some(seq.to_string());
        }
        let frame = Frame::event(&event)?;
        self.seq = seq;
        let id: Option<Arc<str>> = event.id.map(Arc::from);
        let entry = Entry { seq, id: id.clone(), frame: frame.clone(), at: now };
        let retention = self.retention;
        match target {
            Target::All => self.logs.entry(ALL.into()).or_default().push(entry, &retention),
            Target::Channels(list) => {
                for channel in list.iter() {
                    self.logs.entry(channel.clone()).or_default().push(entry.clone(), &retention);
                }
            }
        }
        Ok(Published { seq, id, frame })
    }

    /// What a stream subscribed to `channels` gets before the live events, given the
    /// `Last-Event-ID` it sent (if any). See the [module docs](self).
    pub fn resume(&mut self, channels: &[Arc<str>], last_event_id: Option<&str>, now: Instant) -> Resume {
        let Some(last) = last_event_id else {
            return Resume { seq: self.seq, ..Resume::default() };
        };
        let found = self.lookup(channels, last, now);
        let gap = (found.at.is_none() || found.lost).then(|| gap_frame(last));
        Resume { seq: self.seq, gap, frames: found.frames }
    }

    /// Like [`Hub::resume`] on a node that follows channels from a backplane, when the logs can
    /// answer alone: every channel followed, and the id (if any) found where the logs are
    /// complete, with nothing evicted after it. `None` means the backplane must answer.
    pub fn resume_followed(
        &mut self,
        channels: &[Arc<str>],
        last_event_id: Option<&str>,
        now: Instant,
    ) -> Option<Resume> {
        if channels.iter().any(|c| self.follows.get(c).is_none()) {
            return None;
        }
        let Some(last) = last_event_id else {
            return Some(Resume { seq: self.seq, ..Resume::default() });
        };
        let found = self.lookup(channels, last, now);
        let at = found.at?;
        let complete = channels.iter().all(|c| self.follows.get(c).is_some_and(|f| f.since <= at));
        (complete && !found.lost).then_some(Resume { seq: self.seq, gap: None, frames: found.frames })
    }

    /// Finds `last` in the logs of `channels` (and of publishes to all), and what follows it.
    fn lookup(&mut self, channels: &[Arc<str>], last: &str, now: Instant) -> Lookup {
        let retention = self.retention;
        let names: Vec<&str> = channels.iter().map(|c| &**c).chain([ALL]).collect();
        for name in &names {
            if let Some(log) = self.logs.get_mut(*name) {
                log.trim(&retention, Some(now));
            }
        }
        let logs: Vec<&Log> = names.iter().filter_map(|name| self.logs.get(*name)).collect();
        let at = logs.iter().find_map(|log| log.find(last));
        let lost = at.is_some_and(|seq| logs.iter().any(|log| log.lost_after(seq)));
        let mut entries: Vec<&Entry> = logs.iter().flat_map(|log| log.after(at.unwrap_or(0))).collect();
        entries.sort_by_key(|e| e.seq);
        entries.dedup_by_key(|e| e.seq);
        Lookup { at, lost, frames: entries.into_iter().map(|e| e.frame.clone()).collect() }
    }

    /// Starts following `channel` from a backplane (see [`follow`]): its log is complete from
    /// now on. `false` if it was followed already.
    pub fn follow(&mut self, channel: Arc<str>, now: Instant) -> bool {
        let new = self.follows.follow(channel.clone(), self.seq, now);
        if new {
            // Whatever was logged before belongs to an earlier, ended follow: it has a hole.
            self.logs.remove(&channel);
        }
        new
    }

    /// Counts a new local stream on `channels` (see [`Follows::subscribe`]).
    pub fn subscribe(&mut self, channels: &[Arc<str>]) {
        self.follows.subscribe(channels);
    }

    /// Counts a local stream on `channels` going away (see [`Follows::unsubscribe`]).
    pub fn unsubscribe(&mut self, channels: &[Arc<str>], now: Instant) {
        self.follows.unsubscribe(channels, now);
    }

    /// Stops following the channels unused for `grace`, dropping their logs; returns them.
    pub fn drop_idle(&mut self, now: Instant, grace: Duration) -> Vec<Arc<str>> {
        let dropped = self.follows.drop_idle(now, grace);
        for name in &dropped {
            self.logs.remove(name);
        }
        dropped
    }

    /// The channels followed from a backplane.
    pub fn follows(&self) -> &Follows {
        &self.follows
    }
}

/// What [`Hub::lookup`] found.
struct Lookup {
    /// The sequence number of the id, if retained.
    at: Option<u64>,
    /// Events after it were evicted from one of the logs.
    lost: bool,
    /// The retained events after it (after nothing when not found), in publish order.
    frames: Vec<Frame>,
}

/// Most channels one stream may subscribe to.
pub const MAX_CHANNELS_PER_STREAM: usize = 32;
/// Longest channel name, in bytes.
pub const MAX_CHANNEL_NAME: usize = 256;

/// The channels a request asks for: its `channel` query parameters (repeatable), or
/// [`DEFAULT_CHANNEL`] when it names none.
///
/// More than [`MAX_CHANNELS_PER_STREAM`] channels, an empty name or one longer than
/// [`MAX_CHANNEL_NAME`] is a `400`.
///
/// ```
/// # use ssehub::http::request::{parse_head, Limits};
/// let head = parse_head(b"GET /sse?channel=a&channel=b%20c HTTP/1.1\r\nHost: h\r\n\r\n", &Limits::default());
/// let channels = ssehub::hub::requested_channels(&head.unwrap().unwrap().request).unwrap();
/// let want: [std::sync::Arc<str>; 2] = ["a".into(), "b c".into()];
/// assert_eq!(channels, want);
/// ```
pub fn requested_channels(req: &Request) -> Result<Vec<Arc<str>>, Response> {
    let names: Vec<String> =
        req.query_params().into_iter().filter(|(k, _)| k == "channel").map(|(_, v)| v).collect();
    validate_channels(if names.is_empty() { vec![DEFAULT_CHANNEL.to_owned()] } else { names })
}

/// Checks a channel list (count, name lengths), sorted and without duplicates.
pub fn validate_channels(names: Vec<String>) -> Result<Vec<Arc<str>>, Response> {
    if names.len() > MAX_CHANNELS_PER_STREAM {
        return Err(Response::error(400, "too many channels"));
    }
    if names.iter().any(|n| n.is_empty() || n.len() > MAX_CHANNEL_NAME) {
        return Err(Response::error(400, "channel names must be 1 to 256 bytes"));
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
        let mut hub = Hub::new(Retention::default(), true);
        let t = Instant::now();
        let a = hub.publish(&Target::All, Event::new("a"), t).unwrap();
        let b = hub.publish(&Target::All, Event::new("b").id("mine"), t).unwrap();
        assert_eq!((a.seq, a.id.as_deref()), (1, Some("1")));
        assert_eq!((b.seq, b.id.as_deref()), (2, Some("mine")));
        assert_eq!(a.frame.block(), b"id: 1\ndata: a\n\n");
        let mut plain = Hub::new(Retention::default(), false);
        assert_eq!(plain.publish(&Target::All, Event::new("c"), t).unwrap().id, None);
    }

    #[test]
    fn resume_replays_the_client_channels_after_its_id() {
        let mut hub = Hub::new(Retention::default(), true);
        let t = Instant::now();
        for (n, target) in [("1", "a"), ("2", "b"), ("3", "a"), ("4", "c"), ("5", "a")] {
            hub.publish(&Target::channels([target]), Event::new(n), t).unwrap();
        }
        hub.publish(&Target::All, Event::new("6"), t).unwrap();
        let r = hub.resume(&ch(&["a", "b"]), Some("1"), t);
        assert_eq!(r.seq, 6);
        assert!(r.gap.is_none());
        assert_eq!(data_of(&r.frames), ["2", "3", "5", "6"]);
        let fresh = hub.resume(&ch(&["a"]), None, t);
        assert!(fresh.frames.is_empty() && fresh.gap.is_none() && fresh.seq == 6);
    }

    #[test]
    fn multi_channel_publish_is_replayed_once() {
        let mut hub = Hub::new(Retention::default(), true);
        let t = Instant::now();
        hub.publish(&Target::channels(["a"]), Event::new("x"), t).unwrap();
        hub.publish(&Target::channels(["a", "b", "a"]), Event::new("both"), t).unwrap();
        assert_eq!(data_of(&hub.resume(&ch(&["a", "b"]), Some("1"), t).frames), ["both"]);
    }

    #[test]
    fn unknown_or_evicted_ids_announce_a_gap_then_replay_what_is_kept() {
        let mut hub = Hub::new(Retention { max_events: 2, ..Retention::default() }, true);
        let t = Instant::now();
        for n in 1..=4 {
            hub.publish(&Target::channels(["a"]), Event::new(n.to_string()), t).unwrap();
        }
        let r = hub.resume(&ch(&["a"]), Some("1"), t);
        let mut frames = r.gap.into_iter().collect::<Vec<_>>();
        frames.extend(r.frames);
        assert_eq!(data_of(&frames), ["gap:1", "3", "4"]);
        let r = hub.resume(&ch(&["a"]), Some("3"), t);
        assert!(r.gap.is_none());
        assert_eq!(data_of(&r.frames), ["4"]);
        let r = hub.resume(&ch(&["a"]), Some("nonsense"), t);
        assert!(r.gap.is_some());
    }

    #[test]
    fn a_gap_in_another_channel_is_reported_too() {
        let mut hub = Hub::new(Retention { max_events: 1, ..Retention::default() }, true);
        let t = Instant::now();
        hub.publish(&Target::channels(["a"]), Event::new("a1"), t).unwrap();
        hub.publish(&Target::channels(["b"]), Event::new("b1"), t).unwrap();
        hub.publish(&Target::channels(["b"]), Event::new("b2"), t).unwrap();
        // Resuming from "1" (kept in a): b1 was evicted from b, so the client missed it.
        let r = hub.resume(&ch(&["a", "b"]), Some("1"), t);
        assert!(r.gap.is_some());
        assert_eq!(data_of(&r.frames), ["b2"]);
    }

    #[test]
    fn a_followed_channel_answers_only_from_where_its_log_is_complete() {
        let mut hub = Hub::new(Retention::default(), false);
        let t = Instant::now();
        let (a, b) = (ch(&["a"]), ch(&["a", "b"]));
        assert!(hub.resume_followed(&a, None, t).is_none(), "not followed: ask the backplane");
        hub.publish(&Target::channels(["a"]), Event::new("before").id("1-0"), t).unwrap();
        assert!(hub.follow("a".into(), t));
        assert!(!hub.follow("a".into(), t));
        assert!(hub.log("a").is_none(), "a log from before the follow has a hole: dropped");
        hub.publish(&Target::channels(["a"]), Event::new("x").id("2-0"), t).unwrap();
        hub.publish(&Target::channels(["a"]), Event::new("y").id("3-0"), t).unwrap();
        let r = hub.resume_followed(&a, Some("2-0"), t).unwrap();
        assert_eq!((r.seq, data_of(&r.frames)), (3, vec!["y".to_owned()]));
        assert_eq!(hub.resume_followed(&a, None, t).unwrap().seq, 3);
        assert!(hub.resume_followed(&a, Some("1-0"), t).is_none(), "older than the follow");
        assert!(hub.resume_followed(&b, Some("2-0"), t).is_none(), "b not followed");
        hub.follow("b".into(), t);
        assert!(hub.resume_followed(&b, Some("2-0"), t).is_none(), "b's log starts after 2-0");
        hub.publish(&Target::channels(["b"]), Event::new("z").id("4-0"), t).unwrap();
        let r = hub.resume_followed(&b, Some("4-0"), t).unwrap();
        assert!(r.frames.is_empty() && r.gap.is_none());
    }

    #[test]
    fn an_idle_followed_channel_is_dropped_with_its_log() {
        let mut hub = Hub::new(Retention::default(), false);
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
    fn invalid_events_consume_no_sequence_number() {
        let mut hub = Hub::new(Retention::default(), true);
        let t = Instant::now();
        assert!(hub.publish(&Target::All, Event::new("x").event("a\nb"), t).is_err());
        assert_eq!(hub.seq(), 0);
    }
}
