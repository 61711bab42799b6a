//! Presence: who is subscribed to which channel, on this node and across a cluster.
//!
//! ```text
//! stream starts ─► Local::join(channels, subject)     stream ends ─► Local::leave(channels, subject)
//! Local ─► heartbeat text (every second, to Redis, with an expiry) ─► other nodes' Cluster::update
//! Cluster::view(local) ─► per channel: subscribers (every node, exact), subjects (the `sub` claims)
//! ```
//!
//! A node's counts are exact (a stream counts from its start to its end); a cluster's are the
//! sum of every live node's last heartbeat, so another node's change shows within a heartbeat,
//! and a node that dies stops counting when its heartbeat expires. The heartbeat is plain text,
//! one line per channel: the channel, a tab, the count, then for each subject a tab and the
//! subject percent-encoded with its count (`alice=2`). Channel names hold no control
//! characters ([`super::validate_channels`]), so tabs and newlines separate safely.
//!
//! **Join and leave events** (opt-in) go to the companion channel `$presence/NAME`
//! ([`PRESENCE_PREFIX`]): `event: join` / `event: leave` with data `{"sub":"alice"}`, once per
//! cluster: when a subject's first stream on `NAME` on any node starts and when its last one on
//! every node ends. A leave is held back for a debounce ([`Debounce`]): a subject that
//! reconnects within it (a token renewed, a network change, another node) makes neither a leave
//! nor a join. Anonymous streams make no events.
//!
//! On one node (no Redis) the node is the cluster: [`Debounce`]'s joins and leaves are the
//! events. With Redis they are the node's *holds* starting and ending ([`holds`]): a script in
//! Redis counts, per channel and subject, the nodes holding it, and publishes `join` when that
//! goes from 0 to 1 and `leave` when it goes back to 0, once, into `$presence/NAME`'s stream,
//! which every node's reader delivers like any publish. A node that dies (its liveness not
//! renewed) has its holds removed by whichever node's call comes first, a debounce after its
//! liveness ends, each leave that makes published once.
//!
//! Everything here is pure: time is passed in, and no operation panics on any input (a
//! heartbeat from another node is parsed leniently: a bad line is skipped).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

pub mod holds;

/// Bytes escaped in a subject in a heartbeat: controls, `%`, `=`, space, tab (a control).
const SUBJECT: &AsciiSet = &CONTROLS.add(b'%').add(b'=').add(b' ');

/// One channel's subscribers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChannelPresence {
    /// Streams on the channel (anonymous ones too).
    pub subscribers: u64,
    /// Streams per subject (a token's `sub`); anonymous streams are not listed.
    pub subjects: BTreeMap<Arc<str>, u64>,
}

impl ChannelPresence {
    fn add(&mut self, other: &ChannelPresence) {
        self.subscribers += other.subscribers;
        for (s, n) in &other.subjects {
            *self.subjects.entry(s.clone()).or_default() += n;
        }
    }
}

/// This node's streams, by channel.
#[derive(Clone, Debug, Default)]
pub struct Local {
    channels: HashMap<Arc<str>, ChannelPresence>,
}

impl Local {
    /// A stream on `channels` started (opened by `subject`, if known); the channels that are
    /// the subject's first stream here (for [`Debounce::joined`]).
    pub fn join(&mut self, channels: &[Arc<str>], subject: Option<&Arc<str>>) -> Vec<Arc<str>> {
        let mut first = Vec::new();
        for c in channels {
            let p = self.channels.entry(c.clone()).or_default();
            p.subscribers += 1;
            if let Some(s) = subject {
                let n = p.subjects.entry(s.clone()).or_default();
                *n += 1;
                if *n == 1 {
                    first.push(c.clone());
                }
            }
        }
        first
    }

    /// A stream that [joined](Local::join) with the same arguments ended; the channels where
    /// it was the subject's last stream here. An unmatched leave is ignored (counts never go
    /// below zero).
    pub fn leave(&mut self, channels: &[Arc<str>], subject: Option<&Arc<str>>) -> Vec<Arc<str>> {
        let mut last = Vec::new();
        for c in channels {
            let Some(p) = self.channels.get_mut(c) else { continue };
            p.subscribers = p.subscribers.saturating_sub(1);
            if let Some(s) = subject
                && let Some(n) = p.subjects.get_mut(s)
            {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    p.subjects.remove(s);
                    last.push(c.clone());
                }
            }
            if p.subscribers == 0 {
                self.channels.remove(c);
            }
        }
        last
    }

    /// One channel here.
    pub fn channel(&self, name: &str) -> Option<&ChannelPresence> {
        self.channels.get(name)
    }

    /// How many streams `subject` has on `channel` here.
    pub fn streams_of(&self, channel: &str, subject: &str) -> u64 {
        self.channels.get(channel).and_then(|p| p.subjects.get(subject)).copied().unwrap_or(0)
    }

    /// The heartbeat text (see the [module docs](self)), channels in name order.
    pub fn heartbeat(&self) -> String {
        let mut names: Vec<_> = self.channels.keys().collect();
        names.sort();
        let mut out = String::new();
        for name in names {
            let p = &self.channels[name];
            let _ = write!(out, "{name}\t{}", p.subscribers);
            for (s, n) in &p.subjects {
                let _ = write!(out, "\t{}={n}", utf8_percent_encode(s, SUBJECT));
            }
            out.push('\n');
        }
        out
    }
}

/// Parses another node's [heartbeat](Local::heartbeat); bad lines are skipped.
pub fn parse_heartbeat(text: &str) -> HashMap<Arc<str>, ChannelPresence> {
    let mut channels = HashMap::new();
    for line in text.lines() {
        let mut fields = line.split('\t');
        let (Some(name), Some(count)) = (fields.next(), fields.next()) else { continue };
        let Ok(subscribers) = count.parse::<u64>() else { continue };
        if name.is_empty() {
            continue;
        }
        let mut p = ChannelPresence { subscribers, subjects: BTreeMap::new() };
        for field in fields {
            let Some((s, n)) = field.rsplit_once('=') else { continue };
            let (Ok(s), Ok(n)) = (percent_decode_str(s).decode_utf8(), n.parse::<u64>()) else { continue };
            *p.subjects.entry(Arc::from(s.as_ref())).or_default() += n;
        }
        channels.insert(Arc::from(name), p);
    }
    channels
}

/// The other nodes' last heartbeats, each until it expires.
#[derive(Clone, Debug, Default)]
pub struct Cluster {
    nodes: HashMap<String, (HashMap<Arc<str>, ChannelPresence>, Instant)>,
}

impl Cluster {
    /// Replaces the other nodes' view with `heartbeats` (node, text), each valid until
    /// `expires`: what one read of every live node's heartbeat gives.
    pub fn replace(&mut self, heartbeats: impl IntoIterator<Item = (String, String)>, expires: Instant) {
        self.nodes =
            heartbeats.into_iter().map(|(node, text)| (node, (parse_heartbeat(&text), expires))).collect();
    }

    /// Forgets every heartbeat past its expiry at `now` (a node that stopped sending, or a
    /// Redis that stopped answering).
    pub fn expire(&mut self, now: Instant) {
        self.nodes.retain(|_, (_, until)| *until > now);
    }

    /// One channel across this node (`local`) and the others' live heartbeats at `now`.
    pub fn channel(&self, local: &Local, name: &str, now: Instant) -> ChannelPresence {
        let mut sum = local.channel(name).cloned().unwrap_or_default();
        for (channels, until) in self.nodes.values() {
            if let (true, Some(p)) = (*until > now, channels.get(name)) {
                sum.add(p);
            }
        }
        sum
    }

    /// Every channel with subscribers, across this node and the others, by name.
    pub fn channels(&self, local: &Local, now: Instant) -> BTreeMap<Arc<str>, ChannelPresence> {
        let mut all: BTreeMap<Arc<str>, ChannelPresence> = BTreeMap::new();
        for (name, p) in &local.channels {
            all.entry(name.clone()).or_default().add(p);
        }
        for (channels, until) in self.nodes.values() {
            if *until <= now {
                continue;
            }
            for (name, p) in channels {
                all.entry(name.clone()).or_default().add(p);
            }
        }
        all
    }
}

/// The prefix of a channel's companion channel of join and leave events: `$presence/room-1`.
pub const PRESENCE_PREFIX: &str = "$presence/";

/// How long a leave is held back by default (a reconnect within it is neither a leave nor a
/// join).
pub const DEBOUNCE: Duration = Duration::from_secs(3);

/// Whether a presence event says a subject came or went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// The subject's first stream on the channel.
    Join,
    /// The subject's last stream on the channel ended (a debounce ago).
    Leave,
}

impl Change {
    /// The event type: `join` or `leave`.
    pub fn name(self) -> &'static str {
        match self {
            Change::Join => "join",
            Change::Leave => "leave",
        }
    }
}

/// A join or leave to publish on [`PRESENCE_PREFIX`] + `channel`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresenceEvent {
    /// The channel (not the companion one).
    pub channel: Arc<str>,
    /// Which.
    pub change: Change,
    /// Who.
    pub subject: Arc<str>,
}

impl PresenceEvent {
    /// Where it is published: `$presence/NAME`.
    pub fn companion(&self) -> String {
        format!("{PRESENCE_PREFIX}{}", self.channel)
    }

    /// Its data: `{"sub":"alice"}`.
    pub fn data(&self) -> String {
        let mut out = String::from("{\"sub\":");
        crate::http::json::push_string(&mut out, &self.subject);
        out.push('}');
        out
    }
}

/// Turns first streams and last streams into join and leave events, a leave held back for the
/// debounce. Companion channels themselves make no events.
#[derive(Clone, Debug)]
pub struct Debounce {
    wait: Duration,
    leaving: HashMap<(Arc<str>, Arc<str>), Instant>,
    ready: Vec<PresenceEvent>,
}

impl Debounce {
    /// Leaves held back for `wait`.
    pub fn new(wait: Duration) -> Debounce {
        Debounce { wait, leaving: HashMap::new(), ready: Vec::new() }
    }

    /// `subject`'s first stream on `channels` started at `now`: a join, unless its leave is
    /// still held back (then neither).
    pub fn joined(&mut self, channels: Vec<Arc<str>>, subject: &Arc<str>) {
        for c in channels {
            if c.starts_with(PRESENCE_PREFIX) {
                continue;
            }
            if self.leaving.remove(&(c.clone(), subject.clone())).is_none() {
                self.ready.push(PresenceEvent { channel: c, change: Change::Join, subject: subject.clone() });
            }
        }
    }

    /// `subject`'s last stream on `channels` ended at `now`: a leave, once the debounce passes.
    pub fn left(&mut self, channels: Vec<Arc<str>>, subject: &Arc<str>, now: Instant) {
        for c in channels {
            if !c.starts_with(PRESENCE_PREFIX) {
                self.leaving.insert((c, subject.clone()), now + self.wait);
            }
        }
    }

    /// The events due at `now`, in order: joins as they came, then leaves whose debounce passed.
    pub fn poll(&mut self, now: Instant) -> Vec<PresenceEvent> {
        let mut out = std::mem::take(&mut self.ready);
        let mut due: Vec<_> =
            self.leaving.iter().filter(|(_, at)| **at <= now).map(|(k, at)| (*at, k.clone())).collect();
        due.sort();
        for (_, (channel, subject)) in due {
            self.leaving.remove(&(channel.clone(), subject.clone()));
            out.push(PresenceEvent { channel, change: Change::Leave, subject });
        }
        out
    }
}

/// The JSON answer for one channel: `{"channel":NAME,"subscribers":N,"sub":[...]}`.
pub fn channel_json(name: &str, p: &ChannelPresence) -> String {
    let mut out = String::from("{\"channel\":");
    crate::http::json::push_string(&mut out, name);
    let _ = write!(out, ",\"subscribers\":{},\"sub\":[", p.subscribers);
    for (i, s) in p.subjects.keys().enumerate() {
        if i > 0 {
            out.push(',');
        }
        crate::http::json::push_string(&mut out, s);
    }
    out.push_str("]}");
    out
}

/// The JSON answer for a list of channels: `{"channels":[{"channel":...,"subscribers":N,"sub":[...]},...]}`.
pub fn channels_json<'a>(channels: impl IntoIterator<Item = (&'a str, &'a ChannelPresence)>) -> String {
    let mut out = String::from("{\"channels\":[");
    for (i, (name, p)) in channels.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&channel_json(name, p));
    }
    out.push_str("]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ch(names: &[&str]) -> Vec<Arc<str>> {
        names.iter().map(|n| Arc::from(*n)).collect()
    }

    #[test]
    fn local_counts_are_exact_and_never_negative() {
        let mut l = Local::default();
        let alice: Arc<str> = "alice".into();
        l.join(&ch(&["a", "b"]), Some(&alice));
        l.join(&ch(&["a"]), Some(&alice));
        l.join(&ch(&["a"]), None);
        let a = l.channel("a").unwrap();
        assert_eq!((a.subscribers, a.subjects.get("alice")), (3, Some(&2)));
        assert_eq!(l.streams_of("a", "alice"), 2);
        l.leave(&ch(&["a", "b"]), Some(&alice));
        l.leave(&ch(&["a"]), None);
        assert_eq!(l.channel("b"), None, "emptied channels are dropped");
        assert_eq!(l.channel("a").unwrap().subscribers, 1);
        l.leave(&ch(&["a"]), Some(&alice));
        l.leave(&ch(&["a", "zz"]), Some(&alice));
        assert_eq!(l.channel("a"), None);
        assert_eq!(l.heartbeat(), "");
    }

    #[test]
    fn joins_and_leaves_are_debounced() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut l = Local::default();
        let mut d = Debounce::new(Duration::from_millis(100));
        let alice: Arc<str> = "alice".into();
        let first = l.join(&ch(&["room", "$presence/room"]), Some(&alice));
        d.joined(first, &alice);
        d.joined(l.join(&ch(&["room"]), Some(&alice)), &alice);
        let events = d.poll(ms(0));
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(
            (events[0].companion(), events[0].change.name(), events[0].data()),
            ("$presence/room".into(), "join", r#"{"sub":"alice"}"#.into())
        );
        d.left(l.leave(&ch(&["room"]), Some(&alice)), &alice, ms(10));
        assert_eq!(d.poll(ms(20)), [], "one stream left");
        d.left(l.leave(&ch(&["room", "$presence/room"]), Some(&alice)), &alice, ms(30));
        assert_eq!(d.poll(ms(100)), [], "held back");
        // A reconnect within the debounce: neither a leave nor a join.
        d.joined(l.join(&ch(&["room"]), Some(&alice)), &alice);
        assert_eq!(d.poll(ms(200)), []);
        d.left(l.leave(&ch(&["room"]), Some(&alice)), &alice, ms(300));
        assert_eq!(d.poll(ms(399)), []);
        let events = d.poll(ms(400));
        assert_eq!(events.iter().map(|e| e.change).collect::<Vec<_>>(), [Change::Leave]);
        assert_eq!(d.poll(ms(500)), []);
        assert_eq!(l.join(&ch(&["x"]), None), Vec::<Arc<str>>::new(), "anonymous: no events");
    }

    #[test]
    fn heartbeats_round_trip_and_bad_lines_are_skipped() {
        let mut l = Local::default();
        let odd: Arc<str> = "a=b %c\t\u{e9}".into();
        l.join(&ch(&["room 1", "x"]), Some(&odd));
        l.join(&ch(&["room 1"]), None);
        let text = l.heartbeat();
        assert_eq!(text, "room 1\t2\ta%3Db%20%25c%09%C3%A9=1\nx\t1\ta%3Db%20%25c%09%C3%A9=1\n");
        let parsed = parse_heartbeat(&text);
        assert_eq!(parsed[&Arc::from("room 1")], l.channel("room 1").unwrap().clone());
        let junk = "\n\t\nx\ty\nok\t3\tbad\tn=x\tgood=1\n\t5\n%ff\t1\t%ff=1\n";
        let parsed = parse_heartbeat(junk);
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[&Arc::from("ok")].subscribers, 3);
        assert_eq!(parsed[&Arc::from("ok")].subjects.len(), 1);
    }

    #[test]
    fn the_cluster_sums_live_nodes_and_forgets_dead_ones() {
        let t0 = Instant::now();
        let mut l = Local::default();
        let bob: Arc<str> = "bob".into();
        l.join(&ch(&["room"]), Some(&bob));
        let mut c = Cluster::default();
        c.replace(
            [("n2".into(), "room\t2\tbob=1\tcarol=1\n".into()), ("n3".into(), "other\t1\n".into())],
            t0 + Duration::from_secs(3),
        );
        let room = c.channel(&l, "room", t0);
        assert_eq!(room.subscribers, 3);
        assert_eq!(
            room.subjects.iter().map(|(s, n)| (&**s, *n)).collect::<Vec<_>>(),
            [("bob", 2), ("carol", 1)]
        );
        assert_eq!(c.channels(&l, t0).keys().map(|k| &**k).collect::<Vec<_>>(), ["other", "room"]);
        assert_eq!(
            c.channel(&l, "room", t0 + Duration::from_secs(3)).subscribers,
            1,
            "expired: this node alone"
        );
        c.expire(t0 + Duration::from_secs(4));
        assert_eq!(c.channels(&l, t0).len(), 1);
        assert_eq!(
            channel_json("room", &room),
            r#"{"channel":"room","subscribers":3,"sub":["bob","carol"]}"#
        );
        assert_eq!(
            channels_json([("a", &ChannelPresence::default())]),
            r#"{"channels":[{"channel":"a","subscribers":0,"sub":[]}]}"#
        );
    }
}
