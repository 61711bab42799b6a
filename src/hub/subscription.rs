//! [`Subscription`]: a stream served by someone else's I/O (an async runtime, a test, a thread),
//! fed by the same hub as the server's own streams.
//!
//! ```text
//! subscribe(channels, Last-Event-ID, bound) ─► Hub::resume ─► gap + replay queued, seam drawn
//! Hub::publish ─► Subscribers::deliver (under the hub's lock, in sequence order)
//!                   ─► Member::accepts(seq) ─► the subscription's bounded queue ─► Waker::wake
//! the application's task ─► Subscription::poll_frame(cx) ─► Frame (shared bytes) ─► its socket
//! ```
//!
//! Nothing here does I/O or knows of a runtime: a subscription is a bounded queue of
//! [`Frame`]s and a [`std::task::Waker`], which the hub wakes when it queues a frame (once per
//! drain: a task that has not polled again is not woken twice). Any executor, or a thread with a
//! [`std::task::Wake`] of its own, can drive it. The `ssehub-axum` crate is one such driver.
//!
//! The rules are the server's own, from the same code:
//!
//! - the channels and the `Last-Event-ID` replay are [`Hub::resume`]'s, with its [`GAP_EVENT`]
//!   when the client missed events, and the seam drawn by sequence number
//!   ([`Member::accepts`](super::fanout::Member::accepts)): no publish is lost or doubled between
//!   the replay and the live events;
//! - a replay larger than the bound goes in batches ([`Hub::replay`]) as the queue drains;
//! - the queue is bounded ([`Subscription::limit`]): a publish that would pass the bound ends the
//!   subscription with [`Ended::SlowClient`] rather than skipping the event. The client is cut off
//!   and, reconnecting with its `Last-Event-ID`, gets what it missed by replay (or a gap event):
//!   a stream never silently loses an event.
//!
//! Frames are queued by reference (a [`Frame`] clone is a reference count): every subscriber and
//! every server connection holds the same bytes.
//!
//! Dropping the [`Subscription`] unsubscribes it. A [`Server`](crate::Server) counts a stream it
//! does not serve (in `client_count`, its metrics and presence) only while the serving code holds
//! a [`CountedStream`](crate::CountedStream) for it ([`Broadcaster::count_stream`](crate::Broadcaster::count_stream)).
//!
//! ```
//! use std::task::{Context, Poll, Waker};
//! use ssehub::hub::{Target, local::LocalHub};
//!
//! let hub = LocalHub::new(ssehub::Retention::default());
//! hub.publish_to(&Target::channels(["a"]), ssehub::Event::new("one"))?;
//! let mut sub = hub.subscribe(&["a".into()], Some("0"), 1 << 20);
//! hub.publish_to(&Target::channels(["a"]), ssehub::Event::new("two"))?;
//! let mut cx = Context::from_waker(Waker::noop());
//! let mut got = Vec::new();
//! while let Poll::Ready(Some(Ok(frame))) = sub.poll_frame(&mut cx) {
//!     got.push(String::from_utf8(frame.block().to_vec()).unwrap());
//! }
//! assert_eq!(got.len(), 3); // a gap ("0" is no id of this hub), "one" replayed, "two" live
//! assert!(got[0].starts_with("event: gap\n"));
//! # Ok::<(), ssehub::EncodeError>(())
//! ```

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

#[allow(unused_imports)] // for the docs
use super::GAP_EVENT;
use super::fanout::{Member, Replaying};
use super::{Hub, Resume, Target, Then};
use crate::proto::{Frame, Overflow};

/// Why a subscription ended early.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ended {
    /// The client did not read fast enough: a publish would have passed its queue's bound. The
    /// client reconnects and resumes from its `Last-Event-ID`.
    SlowClient(Overflow),
    /// The hub could not start the subscription (a backplane that did not answer): what a
    /// server answers `503` with.
    Unavailable(String),
}

impl fmt::Display for Ended {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ended::SlowClient(o) => {
                write!(
                    f,
                    "slow client: {} bytes queued, a publish would pass the bound of {}",
                    o.queued, o.limit
                )
            }
            Ended::Unavailable(why) => write!(f, "subscription unavailable: {why}"),
        }
    }
}

impl std::error::Error for Ended {}

/// One subscription's state, shared by the hub (which fills it) and its reader.
#[derive(Debug)]
pub(crate) struct Slot {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    frames: VecDeque<Frame>,
    queued: usize,
    limit: usize,
    member: Member,
    /// Waiting for a backplane to start it (see [`Subscription::poll_ready`]).
    pending: bool,
    /// Counted as a subscriber of followed channels ([`Hub::subscribe`]): to give back.
    counted: bool,
    /// The [`Subscription`] was dropped (and unregistered).
    gone: bool,
    /// After the queued frames: the end (`Ok`: a graceful one).
    end: Option<Result<(), Ended>>,
    waker: Option<Waker>,
}

impl State {
    fn wake(&mut self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    /// Queues `frame` within the bound; past it, ends the subscription.
    fn push(&mut self, frame: &Frame) {
        let len = frame.block().len();
        if !self.frames.is_empty() && self.queued + len > self.limit {
            let overflow = Overflow { queued: self.queued, limit: self.limit };
            // Cut off at once: what is queued would only delay the end the client must see.
            self.frames = VecDeque::new();
            self.queued = 0;
            self.end = Some(Err(Ended::SlowClient(overflow)));
        } else if len > 0 {
            self.queued += len;
            self.frames.push_back(frame.clone());
        }
        self.wake();
    }

    /// Queues a replay's frames whatever the bound (each batch is sized to it).
    fn push_replay(&mut self, frames: impl IntoIterator<Item = Frame>) {
        for frame in frames {
            let len = frame.block().len();
            if len > 0 {
                self.queued += len;
                self.frames.push_back(frame);
            }
        }
        self.wake();
    }

    /// Takes up what a resume (or a backplane's join) decided.
    fn start(&mut self, resume: Resume, last_event_id: Option<&str>) {
        self.pending = false;
        self.member.last_seq = resume.seq;
        match resume.then {
            Then::Live => {}
            Then::More => {
                let last_id = resume.last_id.clone().or_else(|| last_event_id.map(Arc::from));
                self.member.replay = Some(Box::new(Replaying { last_id }));
            }
            Then::End => self.end = Some(Ok(())),
        }
        self.push_replay(resume.gap.into_iter().chain(resume.frames));
    }
}

/// The subscriptions of one hub, by channel (kept inside [`Hub`], delivered to by
/// [`Hub::publish`]).
#[derive(Debug, Default)]
pub(crate) struct Subscribers {
    next: u64,
    slots: HashMap<u64, Arc<Slot>>,
    by_channel: HashMap<Arc<str>, Vec<u64>>,
}

impl Subscribers {
    /// Hands publish `seq` to the subscriptions it targets, each once. One it cuts off leaves
    /// the registry at once (it takes nothing more, and holds no queue), though its reader may
    /// learn of it only when it next polls (a server that cannot write to the client).
    pub(crate) fn deliver(&mut self, seq: u64, frame: &Frame, target: &Target) {
        if self.slots.is_empty() {
            return;
        }
        let mut cut = Vec::new();
        let mut give = |id: u64, slot: &Slot| {
            let mut s = lock(&slot.state);
            if s.end.is_none() && !s.pending && s.member.accepts(seq) {
                s.push(frame);
                if s.end.is_some() {
                    cut.push(id);
                }
            }
        };
        match target {
            Target::All => self.slots.iter().for_each(|(&id, s)| give(id, s)),
            Target::Channels(list) => {
                for channel in list.iter() {
                    for &id in self.by_channel.get(channel).map_or(&[][..], Vec::as_slice) {
                        if let Some(slot) = self.slots.get(&id) {
                            give(id, slot);
                        }
                    }
                }
            }
        }
        for id in cut {
            let channels = self.slots.get(&id).map(|s| lock(&s.state).member.channels.clone());
            if let Some(channels) = channels {
                self.remove(id, &channels);
            }
        }
    }

    /// How many subscriptions are registered (open, and not cut off).
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    fn insert(&mut self, slot: Arc<Slot>, channels: &[Arc<str>]) -> u64 {
        self.next += 1;
        let id = self.next;
        self.slots.insert(id, slot);
        for c in channels {
            self.by_channel.entry(c.clone()).or_default().push(id);
        }
        id
    }

    fn remove(&mut self, id: u64, channels: &[Arc<str>]) {
        self.slots.remove(&id);
        for c in channels {
            if let Some(list) = self.by_channel.get_mut(c) {
                list.retain(|&k| k != id);
                if list.is_empty() {
                    self.by_channel.remove(c);
                }
            }
        }
    }
}

/// A stream of one subscriber: replay first, then live publishes, as shared [`Frame`]s. See
/// the [module docs](self).
///
/// Made by [`LocalHub::subscribe`](super::local::LocalHub::subscribe) or
/// [`Broadcaster::subscribe`](crate::Broadcaster::subscribe).
pub struct Subscription {
    slot: Arc<Slot>,
    hub: Arc<Mutex<Hub>>,
    id: u64,
    channels: Arc<[Arc<str>]>,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = lock(&self.slot.state);
        f.debug_struct("Subscription")
            .field("channels", &self.channels)
            .field("queued", &s.queued)
            .field("limit", &s.limit)
            .field("end", &s.end)
            .finish_non_exhaustive()
    }
}

/// How a new subscription starts.
pub(crate) enum Start {
    /// With this replay and seam (decided under the hub's lock).
    Now(Resume),
    /// Later, when a backplane has answered ([`Subscription::start_pending`]).
    Pending,
}

impl Subscription {
    /// Registers a subscription on `hub` (whose lock the caller holds as `locked`), starting as
    /// `start` says. `counted`: the channels were counted as subscribed ([`Hub::subscribe`]).
    pub(crate) fn register(
        hub: &Arc<Mutex<Hub>>,
        locked: &mut Hub,
        channels: &[Arc<str>],
        last_event_id: Option<&str>,
        limit: usize,
        start: Start,
        counted: bool,
    ) -> Subscription {
        let channels: Arc<[Arc<str>]> = channels.into();
        let mut state = State {
            frames: VecDeque::new(),
            queued: 0,
            limit: limit.max(1),
            member: Member::new(channels.clone(), 0),
            pending: true,
            counted,
            gone: false,
            end: None,
            waker: None,
        };
        if let Start::Now(resume) = start {
            state.start(resume, last_event_id);
        }
        let slot = Arc::new(Slot { state: Mutex::new(state) });
        let id = locked.outside.insert(slot.clone(), &channels);
        Subscription { slot, hub: hub.clone(), id, channels }
    }

    /// Starts a pending subscription with what a backplane found (under the hub's lock), or
    /// ends it with why not. `true` if it started: the caller then counts its channels as
    /// subscribed ([`Hub::subscribe`]); `false` also when the [`Subscription`] is gone.
    pub(crate) fn start_pending(
        slot: &Slot,
        resume: Result<Resume, String>,
        last_event_id: Option<&str>,
    ) -> bool {
        let mut s = lock(&slot.state);
        if s.gone || !s.pending {
            return false;
        }
        match resume {
            Ok(resume) => {
                s.counted = true;
                s.start(resume, last_event_id);
                true
            }
            Err(why) => {
                s.pending = false;
                s.end = Some(Err(Ended::Unavailable(why)));
                s.wake();
                false
            }
        }
    }

    /// The shared state, for whoever will start it ([`Subscription::start_pending`]).
    pub(crate) fn slot(&self) -> Arc<Slot> {
        self.slot.clone()
    }

    /// The channels subscribed to (sorted, without duplicates).
    pub fn channels(&self) -> &[Arc<str>] {
        &self.channels
    }

    /// The queue's bound, in bytes (of the frames' event blocks).
    pub fn limit(&self) -> usize {
        lock(&self.slot.state).limit
    }

    /// Bytes waiting to be read.
    pub fn queued_bytes(&self) -> usize {
        lock(&self.slot.state).queued
    }

    /// Whether the subscription has started: `Ready(Ok)` once its replay is queued (at once,
    /// unless a backplane must answer first), `Ready(Err)` if it could not start. Until then
    /// `cx`'s waker is woken when it does.
    pub fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Ended>> {
        let mut s = lock(&self.slot.state);
        if !s.pending {
            return Poll::Ready(match &s.end {
                Some(Err(e @ Ended::Unavailable(_))) => Err(e.clone()),
                _ => Ok(()),
            });
        }
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// The next frame: `Ready(Some(Ok(frame)))` (its [`Frame::block`] is what goes on the wire
    /// of an event stream), `Pending` when none waits (`cx`'s waker is woken when one comes),
    /// `Ready(Some(Err(_)))` once if the subscription was cut off, `Ready(None)` when it ended
    /// gracefully.
    pub fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame, Ended>>> {
        loop {
            let mut s = lock(&self.slot.state);
            if let Some(frame) = s.frames.pop_front() {
                s.queued -= frame.block().len();
                if s.frames.is_empty() {
                    // An emptied queue gives its buffer back: idle subscribers hold no memory.
                    s.frames = VecDeque::new();
                }
                return Poll::Ready(Some(Ok(frame)));
            }
            match s.end.take() {
                Some(Err(e)) => {
                    s.end = Some(Ok(()));
                    return Poll::Ready(Some(Err(e)));
                }
                Some(Ok(())) => {
                    s.end = Some(Ok(()));
                    return Poll::Ready(None);
                }
                None => {}
            }
            if s.member.replay.is_none() || s.pending {
                s.waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
            // A replay in batches: the queue is drained, take the next one (the hub's lock
            // first, as the hub takes them when it delivers).
            drop(s);
            self.refill(Instant::now());
        }
    }

    /// Queues the next batch of a replay in batches.
    fn refill(&self, now: Instant) {
        let mut hub = lock(&self.hub);
        let mut s = lock(&self.slot.state);
        let Some(replay) = s.member.replay.as_ref() else { return };
        let last_id = replay.last_id.clone();
        let budget = s.limit;
        let batch = hub.replay(
            &self.channels,
            s.member.last_seq,
            last_id.as_deref().unwrap_or_default(),
            budget,
            now,
        );
        s.member.last_seq = batch.seq;
        if let Some(replay) = s.member.replay.as_mut()
            && batch.last_id.is_some()
        {
            replay.last_id = batch.last_id;
        }
        if batch.then == Then::Live {
            s.member.replay = None;
        }
        s.push_replay(batch.frames);
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut hub = lock(&self.hub);
        hub.outside.remove(self.id, &self.channels);
        let mut s = lock(&self.slot.state);
        s.gone = true;
        if s.counted {
            hub.unsubscribe(&self.channels, Instant::now());
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::super::local::LocalHub;
    use super::*;
    use crate::event::Event;
    use crate::frame::decode::{Decoder, OwnedItem};
    use crate::hub::{Retention, Target};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    /// Counts its wake-ups.
    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn ch(names: &[&str]) -> Vec<Arc<str>> {
        names.iter().map(|n| Arc::from(*n)).collect()
    }

    /// What is queued now, decoded (`type:data` for a type other than `message`), and whether
    /// (and how) it ended.
    fn read(sub: &mut Subscription) -> (Vec<String>, Option<Option<Ended>>) {
        let mut cx = Context::from_waker(Waker::noop());
        let (mut out, mut dec) = (Vec::new(), Decoder::new());
        loop {
            match sub.poll_frame(&mut cx) {
                Poll::Ready(Some(Ok(frame))) => dec
                    .feed(frame.block(), |item| {
                        if let OwnedItem::Event { data, event_type, .. } = item.to_owned() {
                            out.push(if event_type == "message" {
                                data
                            } else {
                                format!("{event_type}:{data}")
                            });
                        }
                    })
                    .unwrap(),
                Poll::Ready(Some(Err(e))) => return (out, Some(Some(e))),
                Poll::Ready(None) => return (out, Some(None)),
                Poll::Pending => return (out, None),
            }
        }
    }

    fn publish(hub: &LocalHub, channel: &str, data: &str) {
        hub.publish_to(&Target::channels([channel]), Event::new(data)).unwrap();
    }

    #[test]
    fn live_events_of_its_channels_each_once_and_a_wake_per_drain() {
        let hub = LocalHub::new(Retention::default());
        let mut sub = hub.subscribe(&ch(&["a", "b"]), None, 1 << 20);
        let count = Arc::new(Count::default());
        let waker = Waker::from(count.clone());
        assert!(sub.poll_frame(&mut Context::from_waker(&waker)).is_pending());
        publish(&hub, "a", "1");
        publish(&hub, "c", "not mine");
        hub.publish_to(&Target::channels(["a", "b"]), Event::new("2")).unwrap();
        hub.send(Event::new("3")).unwrap();
        assert_eq!(count.0.load(Ordering::Relaxed), 1, "woken once until it polls again");
        assert_eq!(read(&mut sub), (vec!["1".into(), "2".into(), "3".into()], None));
        assert_eq!(hub.subscribers(), 1);
        drop(sub);
        assert_eq!(hub.subscribers(), 0);
    }

    #[test]
    fn last_event_id_replays_then_goes_live_and_an_unknown_id_is_a_gap() {
        let hub = LocalHub::new(Retention { max_events: 2, ..Retention::default() });
        for n in ["1", "2", "3"] {
            publish(&hub, "a", n);
        }
        let ids: Vec<Arc<str>> = hub
            .with_hub(|h| (0..2).map(|i| h.log("a").unwrap().get(i).unwrap().id.clone().unwrap()).collect());
        let mut sub = hub.subscribe(&ch(&["a"]), Some(&ids[0]), 1 << 20);
        publish(&hub, "a", "4");
        assert_eq!(read(&mut sub).0, ["3", "4"]);
        let mut lost = hub.subscribe(&ch(&["a"]), Some("nonsense"), 1 << 20);
        assert_eq!(read(&mut lost).0, ["gap:nonsense", "3", "4"]);
    }

    #[test]
    fn a_client_past_its_bound_is_cut_off_while_another_gets_everything() {
        let hub = LocalHub::new(Retention::default());
        let one = Frame::event(&Event::new("x".repeat(100))).unwrap().block().len();
        let mut slow = hub.subscribe(&ch(&["a"]), None, 3 * one);
        let mut fast = hub.subscribe(&ch(&["a"]), None, 3 * one);
        let mut got = 0;
        for _ in 0..10 {
            hub.publish_to(&Target::channels(["a"]), Event::new("x".repeat(100))).unwrap();
            got += read(&mut fast).0.len();
        }
        assert_eq!(got, 10);
        let (events, end) = read(&mut slow);
        assert!(events.is_empty(), "cut off: its queue is dropped, never a hole in the middle");
        assert!(matches!(end, Some(Some(Ended::SlowClient(Overflow { limit, .. }))) if limit == 3 * one));
        assert_eq!(read(&mut slow).1, Some(None), "the error once, then the end");
        assert_eq!(hub.subscribers(), 1, "out of the registry as soon as it was cut off");
        hub.publish_to(&Target::channels(["a"]), Event::new("after")).unwrap();
        assert_eq!(read(&mut fast).0, ["after"]);
    }

    #[test]
    fn a_replay_past_the_bound_goes_in_batches_without_loss() {
        let hub = LocalHub::new(Retention::default());
        for n in 0..50 {
            publish(&hub, "a", &n.to_string());
        }
        let first = hub.with_hub(|h| h.log("a").unwrap().get(0).unwrap().id.clone().unwrap());
        let mut sub = hub.subscribe(&ch(&["a"]), Some(&first), 64);
        let mut got = Vec::new();
        let mut cx = Context::from_waker(Waker::noop());
        let mut n = 0;
        while let Poll::Ready(Some(Ok(frame))) = sub.poll_frame(&mut cx) {
            assert!(sub.queued_bytes() <= 64 + frame.block().len());
            got.push(frame);
            n += 1;
            if n == 10 {
                // Live publishes meanwhile come through the logs, in order.
                publish(&hub, "a", "live");
            }
        }
        let mut dec = Decoder::new();
        let mut data = Vec::new();
        for f in &got {
            dec.feed(f.block(), |i| {
                if let OwnedItem::Event { data: d, .. } = i.to_owned() {
                    data.push(d)
                }
            })
            .unwrap();
        }
        let want: Vec<String> = (1..50).map(|n| n.to_string()).chain(["live".to_owned()]).collect();
        assert_eq!(data, want);
        publish(&hub, "a", "after");
        assert_eq!(read(&mut sub).0, ["after"]);
    }
}
