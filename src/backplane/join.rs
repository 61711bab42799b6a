//! Joining a new stream to the read thread, as pure steps: which channels to follow, what to
//! read from Redis, and the replay that comes of it. The read thread (`src/server/backplane.rs`)
//! only sends the reads, pipelined, and hands over the result.
//!
//! ```text
//! plan(channels, Last-Event-ID, cursors, keys, limits) ─► Err(JoinRefusal)   (nothing read)
//!   └► Plan: first round trip   ─► XREVRANGE <new channel> + - COUNT 1 ..., GET last-id,
//!                                  HGET trimmed <stream> ...
//!      Plan::read(replies) ─► Ranges: second round trip ─► XRANGE <stream> (<last> <cursor> ...
//!                                                       or XREVRANGE <stream> <cursor> - ...
//!         Ranges::finish(replies) ─► Replay: gap?, frames, Live | End, channels to follow
//! ```
//!
//! So one join costs at most two round trips whatever its channels (none when it needs no
//! read: followed channels and no `Last-Event-ID`).
//!
//! # Rules
//! * **Channel bound.** A join that would make the node follow more than
//!   [`Limits::max_channels`] channels is refused ([`JoinRefusal::TooManyChannels`]: `503` with
//!   `Retry-After: 10`) before anything is read. Channels followed already cost nothing.
//! * **Cursors.** A channel not followed yet is followed from its newest entry (`0-0` when its
//!   stream is empty or missing): what comes after arrives by the next read, so the replay reads
//!   up to there and the seam has no gap and no duplicate. A followed stream (the stream of
//!   publishes to all is always one) replays up to its cursor. Entries past the cursor are left
//!   to the live read.
//! * **Where the replay starts** ([`ReplayFrom`]). No `Last-Event-ID`: no replay. An id that is
//!   not an entry id, or one past the newest id given out (`{ns}:last-id`: made up, or from
//!   before Redis lost its data), or any id when none was given out, is unknown: the `gap` event,
//!   then the newest [`Limits::retention`] entries of each stream. A known id: the entries after
//!   it, with the `gap` event first when a stream was trimmed past it ([`missed`]). Nothing can
//!   follow the largest id, so it reads no range (Redis refuses `(` before it).
//! * **Replay.** The streams' entries merge into id order, each once ([`merge`]); an entry
//!   this hub cannot have written ([`keys::event`]) is skipped and counted.
//! * **Budget.** The replay holds at most [`Limits::max_queue_bytes`] (the first frame always):
//!   past it, it stops and the stream ends after it ([`Then::End`]); the client resumes from the
//!   last id it received. (A backplane replay cannot go on in batches.)
//!
//! [`merge`]: super::merge::merge

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use redis::Value;

use super::keys::{self, Keys};
use super::merge::{Batch, merge};
use super::reply::{BadReply, entries_of, id_of};
use super::{ReplayFrom, StreamId, missed};
use crate::hub::{Then, gap_frame};
use crate::proto::Frame;

/// Why the backplane does not take a new stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinRefusal {
    /// The stream's channels would make this node read more than `max` channels from Redis
    /// (it reads `following` already): see [`RedisConfig::max_channels`].
    ///
    /// [`RedisConfig::max_channels`]: crate::RedisConfig::max_channels
    TooManyChannels {
        /// Channels this node reads now.
        following: usize,
        /// The most it may read.
        max: usize,
    },
}

impl JoinRefusal {
    /// The HTTP status to answer with: `503`, the refusal is temporary.
    pub fn status(&self) -> u16 {
        match self {
            JoinRefusal::TooManyChannels { .. } => 503,
        }
    }

    /// Seconds after which the client may try again (the `Retry-After` header).
    ///
    /// ```
    /// use ssehub::backplane::JoinRefusal;
    /// let full = JoinRefusal::TooManyChannels { following: 4096, max: 4096 };
    /// assert_eq!((full.status(), full.retry_after()), (503, 10));
    /// assert_eq!(full.to_string(), "this node reads 4096 channels already (at most 4096)");
    /// ```
    pub fn retry_after(&self) -> u32 {
        match self {
            // Channels are dropped some seconds after their last stream ends.
            JoinRefusal::TooManyChannels { .. } => 10,
        }
    }
}

impl fmt::Display for JoinRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinRefusal::TooManyChannels { following, max } => {
                write!(f, "this node reads {following} channels already (at most {max})")
            }
        }
    }
}

impl std::error::Error for JoinRefusal {}

impl crate::http::answer::Refusal for JoinRefusal {
    fn status(&self) -> u16 {
        JoinRefusal::status(self)
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        vec![("Retry-After", self.retry_after().to_string())]
    }
}

/// What the read thread follows: per stream, the last entry it delivered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Cursors {
    /// The stream of publishes to all.
    pub(crate) all: StreamId,
    /// Each followed channel's stream.
    pub(crate) channels: HashMap<Arc<str>, StreamId>,
}

/// The bounds a join is planned within.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Channels the node may read from Redis (`RedisConfig::max_channels`).
    pub(crate) max_channels: usize,
    /// Entries each stream retains: the most a replay reads of one.
    pub(crate) retention: usize,
    /// The bound on a client's queue: a replay holds at most this many bytes.
    pub(crate) max_queue_bytes: usize,
}

/// One read a join needs, as the shell sends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Read {
    /// The stream's newest entry: `XREVRANGE key + - COUNT 1`.
    Top { key: String },
    /// The newest id given out: `GET key`.
    LastId { key: String },
    /// A stream's trim point: `HGET hash stream`.
    Trimmed { hash: String, stream: String },
    /// The entries after `after`, up to `upto`: `XRANGE key (after upto COUNT count`.
    After { key: String, after: StreamId, upto: StreamId, count: usize },
    /// The newest entries up to `upto`, newest first: `XREVRANGE key upto - COUNT count`.
    Newest { key: String, upto: StreamId, count: usize },
}

/// The id of a stream's newest entry from its [`Read::Top`] reply (`0-0`: none).
pub(crate) fn top_of(reply: &Value) -> Result<StreamId, BadReply> {
    Ok(entries_of(reply)?.first().map_or(StreamId::ZERO, |(id, _)| *id))
}

/// A batch of joins admitted together: which are refused, and the channels the rest make the
/// node follow (each once, in the joins' order). See [`admit`].
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Admitted {
    /// Per join, in order: `Some` when it is refused.
    pub(crate) refused: Vec<Option<JoinRefusal>>,
    /// The channels to follow before the admitted joins are planned: read their tops
    /// ([`Admitted::reads`]), then follow each from its top.
    pub(crate) new: Vec<Arc<str>>,
}

impl Admitted {
    /// The first round of a batch: each new channel's newest entry ([`Read::Top`]).
    pub(crate) fn reads(&self, keys: &Keys) -> Vec<Read> {
        self.new.iter().map(|c| Read::Top { key: keys.channel(c) }).collect()
    }
}

/// Admits a batch of joins (each one's channels) under the channel bound, in order, as if each
/// were planned after the ones before it had followed their channels: a join that would take
/// the node past [`Limits::max_channels`] is refused, and the others still count.
///
/// The read thread then follows [`Admitted::new`] from their tops in one round trip, after
/// which every admitted join's channels are followed and its [`plan`] reads no top: all joins
/// of a batch replay a new channel up to the same cursor, the one reading goes on from. So a
/// batch of any size costs three round trips (tops, then each plan's reads pipelined together,
/// then their ranges) where one join at a time costs two each.
pub(crate) fn admit<'a>(
    joins: impl IntoIterator<Item = &'a [Arc<str>]>,
    cursors: &Cursors,
    max_channels: usize,
) -> Admitted {
    let mut admitted = Admitted::default();
    for channels in joins {
        let following = cursors.channels.len() + admitted.new.len();
        let mut new: Vec<&Arc<str>> = Vec::new();
        for channel in channels {
            if !cursors.channels.contains_key(channel)
                && !admitted.new.contains(channel)
                && !new.contains(&channel)
            {
                new.push(channel);
            }
        }
        if following + new.len() > max_channels {
            admitted.refused.push(Some(JoinRefusal::TooManyChannels { following, max: max_channels }));
        } else {
            admitted.new.extend(new.into_iter().cloned());
            admitted.refused.push(None);
        }
    }
    admitted
}

/// A stream a replay reads: its key, and where the replay stops (the cursor reading goes on from).
#[derive(Clone, Debug)]
struct Stream {
    key: String,
    upto: Upto,
}

#[derive(Clone, Copy, Debug)]
enum Upto {
    /// A followed stream's cursor.
    Cursor(StreamId),
    /// A new channel's top, the reply at this index of the first round.
    Top(usize),
}

/// A join planned: the first round of reads. See the [module docs](self).
#[derive(Debug)]
pub(crate) struct Plan {
    reads: Vec<Read>,
    /// Channels to follow, each once, in the join's order (their tops are the first reads).
    new: Vec<Arc<str>>,
    /// The stream of publishes to all, then the join's channels.
    streams: Vec<Stream>,
    from: ReplayFrom,
    /// Where the `GET last-id` reply is, when [`ReplayFrom::After`] must be checked against it.
    last_id_at: Option<usize>,
    /// Where the first `HGET trimmed` reply is (one per stream, in order), when read.
    trimmed_at: Option<usize>,
    last_event_id: Option<String>,
    limits: Limits,
}

/// Plans the join of a stream on `channels` that sent `last_event_id`, given what the read thread
/// follows (`cursors`): refuses it, or says what to read first ([`Plan::reads`]).
pub(crate) fn plan(
    channels: &[Arc<str>],
    last_event_id: Option<&str>,
    cursors: &Cursors,
    keys: &Keys,
    limits: Limits,
) -> Result<Plan, JoinRefusal> {
    let mut new: Vec<Arc<str>> = Vec::new();
    for channel in channels {
        if !cursors.channels.contains_key(channel) && !new.contains(channel) {
            new.push(channel.clone());
        }
    }
    let following = cursors.channels.len();
    if following + new.len() > limits.max_channels {
        return Err(JoinRefusal::TooManyChannels { following, max: limits.max_channels });
    }
    let mut reads: Vec<Read> = new.iter().map(|c| Read::Top { key: keys.channel(c) }).collect();
    let mut streams = vec![Stream { key: keys.all(), upto: Upto::Cursor(cursors.all) }];
    for channel in channels {
        let upto = match cursors.channels.get(channel) {
            Some(&cursor) => Upto::Cursor(cursor),
            None => Upto::Top(new.iter().position(|c| c == channel).unwrap_or_default()),
        };
        streams.push(Stream { key: keys.channel(channel), upto });
    }
    let from = ReplayFrom::parse(last_event_id);
    let (mut last_id_at, mut trimmed_at) = (None, None);
    if let ReplayFrom::After(last) = from {
        last_id_at = Some(reads.len());
        reads.push(Read::LastId { key: keys.last_id() });
        if last != StreamId::MAX {
            // Needed unless the id turns out unknown; asked now, so that it costs no round trip.
            trimmed_at = Some(reads.len());
            let hash = keys.trimmed();
            reads.extend(streams.iter().map(|s| Read::Trimmed { hash: hash.clone(), stream: s.key.clone() }));
        }
    }
    Ok(Plan {
        reads,
        new,
        streams,
        from,
        last_id_at,
        trimmed_at,
        last_event_id: last_event_id.map(str::to_owned),
        limits,
    })
}

/// A stream's part of the second round: where it stops, and its read (if any).
#[derive(Clone, Copy, Debug)]
struct Part {
    upto: StreamId,
    /// The index of its reply, and whether it comes newest first.
    read: Option<(usize, bool)>,
}

/// The second round of a join's reads: the ranges to replay. See the [module docs](self).
#[derive(Debug)]
pub(crate) struct Ranges {
    reads: Vec<Read>,
    parts: Vec<Part>,
    gap: bool,
    follow: Vec<(Arc<str>, StreamId)>,
    last_event_id: Option<String>,
    max_queue_bytes: usize,
}

/// What a join comes to.
#[derive(Debug)]
pub(crate) struct Replay {
    /// The `gap` event, sent first, when the client missed events.
    pub(crate) gap: Option<Frame>,
    /// The events the client missed, in id order, within the budget.
    pub(crate) frames: Vec<Frame>,
    /// [`Then::Live`], or [`Then::End`] when the budget cut the replay short.
    pub(crate) then: Then,
    /// Channels to follow from now on, each from this cursor.
    pub(crate) follow: Vec<(Arc<str>, StreamId)>,
    /// Entries left out because this hub cannot have written them.
    pub(crate) skipped: u64,
}

impl Plan {
    /// What to read first, in one pipeline (possibly nothing).
    pub(crate) fn reads(&self) -> &[Read] {
        &self.reads
    }

    /// Takes the replies to [`Plan::reads`], in order, and says what to read next.
    pub(crate) fn read(self, replies: &[Value]) -> Result<Ranges, BadReply> {
        if replies.len() != self.reads.len() {
            return Err(BadReply::new("replies"));
        }
        let tops = replies[..self.new.len()].iter().map(top_of).collect::<Result<Vec<_>, _>>()?;
        let mut from = self.from;
        if let (ReplayFrom::After(last), Some(at)) = (from, self.last_id_at) {
            if id_of(&replies[at])?.is_none_or(|newest| last > newest) {
                from = ReplayFrom::Unknown;
            }
        }
        let mut gap = from == ReplayFrom::Unknown;
        if let (ReplayFrom::After(last), Some(at)) = (from, self.trimmed_at) {
            for reply in &replies[at..at + self.streams.len()] {
                gap |= missed(last, id_of(reply)?);
            }
        }
        let count = self.limits.retention;
        let mut reads = Vec::new();
        let mut parts = Vec::new();
        if from != ReplayFrom::Nothing {
            for Stream { key, upto } in self.streams {
                let upto = match upto {
                    Upto::Cursor(id) => id,
                    Upto::Top(i) => tops.get(i).copied().unwrap_or_default(),
                };
                let read = match from {
                    ReplayFrom::After(last) if last == StreamId::MAX => None,
                    ReplayFrom::After(after) => Some((Read::After { key, after, upto, count }, false)),
                    _ => Some((Read::Newest { key, upto, count }, true)),
                };
                let read = read.map(|(read, newest_first)| {
                    reads.push(read);
                    (reads.len() - 1, newest_first)
                });
                parts.push(Part { upto, read });
            }
        }
        Ok(Ranges {
            reads,
            parts,
            gap,
            follow: self.new.into_iter().zip(tops).collect(),
            last_event_id: self.last_event_id,
            max_queue_bytes: self.limits.max_queue_bytes,
        })
    }
}

impl Ranges {
    /// What to read second, in one pipeline (possibly nothing).
    pub(crate) fn reads(&self) -> &[Read] {
        &self.reads
    }

    /// Takes the replies to [`Ranges::reads`], in order, and makes the replay.
    pub(crate) fn finish(self, replies: &[Value]) -> Result<Replay, BadReply> {
        if replies.len() != self.reads.len() {
            return Err(BadReply::new("replies"));
        }
        let mut batches = Vec::with_capacity(self.parts.len());
        for part in &self.parts {
            let mut entries = match part.read {
                Some((at, newest_first)) => {
                    let mut entries = entries_of(&replies[at])?;
                    if newest_first {
                        entries.reverse();
                    }
                    entries
                }
                None => Vec::new(),
            };
            // Entries past the cursor (Redis returns none) come by the live read.
            entries.retain(|(id, _)| *id <= part.upto);
            batches.push(Batch { entries, full: false });
        }
        let budget = self.max_queue_bytes;
        let (mut frames, mut bytes, mut then, mut skipped) = (Vec::new(), 0, Then::Live, 0);
        for d in merge(batches).deliveries {
            match keys::entry_event(d.id, &d.item).map(|e| Frame::event(&e)) {
                Some(Ok(frame)) => {
                    if !frames.is_empty() && bytes + frame.chunked().len() > budget {
                        then = Then::End;
                        break;
                    }
                    bytes += frame.chunked().len();
                    frames.push(frame);
                }
                _ => skipped += 1,
            }
        }
        let gap = self.gap.then(|| gap_frame(self.last_event_id.as_deref().unwrap_or_default()));
        Ok(Replay { gap, frames, then, follow: self.follow, skipped })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    fn keys() -> Keys {
        Keys::new("t")
    }

    fn key(channel: &str) -> String {
        keys().channel(channel)
    }

    fn all() -> String {
        keys().all()
    }

    fn limits() -> Limits {
        Limits { max_channels: 8, retention: 100, max_queue_bytes: 1 << 20 }
    }

    fn names(list: &[&str]) -> Vec<Arc<str>> {
        list.iter().map(|c| Arc::from(*c)).collect()
    }

    /// Following the stream of publishes to all up to `all`, and these channels.
    fn cursors(all: StreamId, channels: &[(&str, StreamId)]) -> Cursors {
        Cursors { all, channels: channels.iter().map(|(c, id)| (Arc::from(*c), *id)).collect() }
    }

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    /// An `XRANGE`-shaped reply: entries holding `data: <id>`, in the order given.
    fn entries(ids: &[StreamId]) -> Value {
        Value::Array(
            ids.iter()
                .map(|id| {
                    let fields = vec![bulk("data"), bulk(&format!("d{id}"))];
                    Value::Array(vec![bulk(&id.to_string()), Value::Array(fields)])
                })
                .collect(),
        )
    }

    /// The frame of the entry [`entries`] makes with this id.
    fn frame(id: StreamId) -> Vec<u8> {
        Frame::event(&Event::new(format!("d{id}")).id(id.to_string())).unwrap().chunked().to_vec()
    }

    fn frames(replay: &Replay) -> Vec<Vec<u8>> {
        replay.frames.iter().map(|f| f.chunked().to_vec()).collect()
    }

    fn gap(last: &str) -> Option<Vec<u8>> {
        Some(gap_frame(last).chunked().to_vec())
    }

    fn replay_gap(replay: &Replay) -> Option<Vec<u8>> {
        replay.gap.as_ref().map(|f| f.chunked().to_vec())
    }

    /// Plans a join and answers its first round with `first`.
    fn ranges(channels: &[&str], last: Option<&str>, following: &Cursors, first: &[Value]) -> Ranges {
        plan(&names(channels), last, following, &keys(), limits()).unwrap().read(first).unwrap()
    }

    #[test]
    fn a_new_channel_is_followed_from_its_newest_entry() {
        let following = cursors(id(3, 0), &[]);
        let plan = plan(&names(&["a", "b"]), None, &following, &keys(), limits()).unwrap();
        assert_eq!(plan.reads(), [Read::Top { key: key("a") }, Read::Top { key: key("b") }]);
        // XREVRANGE + - COUNT 1 returns the newest entry; an empty or missing stream none.
        let ranges = plan.read(&[entries(&[id(9, 2)]), Value::Array(vec![])]).unwrap();
        assert_eq!(ranges.reads(), [], "no Last-Event-ID: nothing to replay");
        let replay = ranges.finish(&[]).unwrap();
        assert_eq!(replay.follow, [(Arc::from("a"), id(9, 2)), (Arc::from("b"), StreamId::ZERO)]);
        assert!(replay.frames.is_empty() && replay.gap.is_none() && replay.then == Then::Live);
    }

    #[test]
    fn followed_channels_without_a_last_event_id_read_nothing() {
        let following = cursors(id(3, 0), &[("a", id(2, 0))]);
        let plan = plan(&names(&["a"]), None, &following, &keys(), limits()).unwrap();
        assert_eq!(plan.reads(), []);
        let ranges = plan.read(&[]).unwrap();
        assert_eq!(ranges.reads(), []);
        let replay = ranges.finish(&[]).unwrap();
        assert!(replay.follow.is_empty() && replay.frames.is_empty() && replay.gap.is_none());
    }

    #[test]
    fn a_known_id_replays_every_stream_after_it_up_to_its_cursor_in_two_round_trips() {
        let following = cursors(id(8, 0), &[("a", id(7, 0))]);
        let plan = plan(&names(&["a", "b"]), Some("5-0"), &following, &keys(), limits()).unwrap();
        // First: the new channel's top, the newest id given out, every stream's trim point.
        let trimmed = |stream: String| Read::Trimmed { hash: keys().trimmed(), stream };
        assert_eq!(
            plan.reads(),
            [
                Read::Top { key: key("b") },
                Read::LastId { key: keys().last_id() },
                trimmed(all()),
                trimmed(key("a")),
                trimmed(key("b")),
            ]
        );
        let first = [entries(&[id(6, 0)]), bulk("9-0"), Value::Nil, Value::Nil, bulk("4-0")];
        let ranges = plan.read(&first).unwrap();
        // Then: each stream's entries after the id, up to where reading goes on from.
        let after = |key: String, upto| Read::After { key, after: id(5, 0), upto, count: 100 };
        assert_eq!(
            ranges.reads(),
            [after(all(), id(8, 0)), after(key("a"), id(7, 0)), after(key("b"), id(6, 0))]
        );
        // 6-0 went to both channels: one entry in each stream, delivered once, all in id order.
        let second = [entries(&[id(5, 1)]), entries(&[id(6, 0), id(7, 0)]), entries(&[id(5, 2), id(6, 0)])];
        let replay = ranges.finish(&second).unwrap();
        assert_eq!(frames(&replay), [frame(id(5, 1)), frame(id(5, 2)), frame(id(6, 0)), frame(id(7, 0))]);
        assert_eq!(replay.gap, None, "trimmed at 4-0 only: nothing after 5-0 was lost");
        assert_eq!(replay.follow, [(Arc::from("b"), id(6, 0))]);
        assert_eq!((replay.then, replay.skipped), (Then::Live, 0));
    }

    #[test]
    fn an_id_before_a_trim_point_announces_a_gap() {
        let following = cursors(id(8, 0), &[("a", id(7, 0))]);
        let first = |trim_a: &str| [bulk("9-0"), Value::Nil, bulk(trim_a)];
        let lost =
            ranges(&["a"], Some("5-0"), &following, &first("6-0")).finish(&[entries(&[]), entries(&[])]);
        assert_eq!(replay_gap(&lost.unwrap()), gap("5-0"), "6-0 was trimmed: the client had only seen 5-0");
        let seen =
            ranges(&["a"], Some("5-0"), &following, &first("5-0")).finish(&[entries(&[]), entries(&[])]);
        assert_eq!(replay_gap(&seen.unwrap()), None, "5-0 was trimmed after the client saw it");
        let garbage =
            ranges(&["a"], Some("5-0"), &following, &first("soon")).finish(&[entries(&[]), entries(&[])]);
        assert_eq!(replay_gap(&garbage.unwrap()), None, "a trim point that is no id is none");
    }

    #[test]
    fn an_unknown_id_gets_a_gap_then_the_newest_entries_of_every_stream() {
        let following = cursors(id(8, 0), &[("a", id(7, 0))]);
        let plan = plan(&names(&["a"]), Some("42"), &following, &keys(), limits()).unwrap();
        assert_eq!(plan.reads(), [], "not an entry id: nothing to check it against");
        let ranges = plan.read(&[]).unwrap();
        let newest = |key: String, upto| Read::Newest { key, upto, count: 100 };
        assert_eq!(ranges.reads(), [newest(all(), id(8, 0)), newest(key("a"), id(7, 0))]);
        // XREVRANGE answers newest first; the replay is oldest first.
        let replay =
            ranges.finish(&[entries(&[id(8, 0), id(1, 0)]), entries(&[id(7, 0), id(2, 0)])]).unwrap();
        assert_eq!(frames(&replay), [frame(id(1, 0)), frame(id(2, 0)), frame(id(7, 0)), frame(id(8, 0))]);
        assert_eq!(replay_gap(&replay), gap("42"));
    }

    #[test]
    fn an_id_past_the_newest_given_out_is_unknown() {
        let following = cursors(id(8, 0), &[]);
        let newest_read = |ranges: &Ranges| matches!(ranges.reads(), [Read::Newest { .. }]);
        for (newest, known) in
            [(bulk("9-0"), true), (bulk("9-1"), true), (bulk("8-9"), false), (Value::Nil, false)]
        {
            let ranges = ranges(&[], Some("9-0"), &following, &[newest.clone(), Value::Nil]);
            assert_eq!(newest_read(&ranges), !known, "newest given out: {newest:?}");
            let replay = ranges.finish(&[entries(&[])]).unwrap();
            assert_eq!(replay.gap.is_some(), !known, "newest given out: {newest:?}");
        }
    }

    #[test]
    fn the_largest_id_reads_no_range() {
        let largest = "18446744073709551615-18446744073709551615";
        let following = cursors(id(8, 0), &[]);
        let plan = plan(&[], Some(largest), &following, &keys(), limits()).unwrap();
        assert_eq!(
            plan.reads(),
            [Read::LastId { key: keys().last_id() }],
            "no trim points: nothing after it"
        );
        // Past the newest given out, as it will be: unknown, so a gap and the newest entries.
        let ranges = plan.read(&[bulk("9-0")]).unwrap();
        assert!(matches!(ranges.reads(), [Read::Newest { .. }]));
        assert_eq!(replay_gap(&ranges.finish(&[entries(&[])]).unwrap()), gap(largest));
        // Given out (it cannot be, but if it were): nothing can follow it.
        let ranges =
            self::plan(&[], Some(largest), &following, &keys(), limits()).unwrap().read(&[bulk(largest)]);
        let ranges = ranges.unwrap();
        assert_eq!(ranges.reads(), []);
        let replay = ranges.finish(&[]).unwrap();
        assert!(replay.gap.is_none() && replay.frames.is_empty());
    }

    #[test]
    fn more_channels_than_max_channels_are_refused_before_anything_is_read() {
        let following = cursors(id(1, 0), &[("a", id(1, 0)), ("b", id(1, 0))]);
        let limits = Limits { max_channels: 3, ..limits() };
        let refused = plan(&names(&["b", "c", "d"]), None, &following, &keys(), limits).unwrap_err();
        assert_eq!(refused, JoinRefusal::TooManyChannels { following: 2, max: 3 });
        assert_eq!((refused.status(), refused.retry_after()), (503, 10));
        assert_eq!(refused.to_string(), "this node reads 2 channels already (at most 3)");
        assert!(plan(&names(&["a", "b", "c"]), None, &following, &keys(), limits).is_ok(), "up to the bound");
        assert!(
            plan(&names(&["c", "c"]), None, &following, &keys(), limits).is_ok(),
            "a channel counts once"
        );
        let full = cursors(id(1, 0), &[("a", id(1, 0)), ("b", id(1, 0)), ("c", id(1, 0))]);
        assert!(
            plan(&names(&["a", "c"]), None, &full, &keys(), limits).is_ok(),
            "followed ones cost nothing"
        );
    }

    #[test]
    fn a_batch_follows_each_new_channel_once_and_counts_the_bound_across_its_joins() {
        let following = cursors(id(1, 0), &[("a", id(1, 0)), ("b", id(1, 0))]);
        let joins = [names(&["c", "a"]), names(&["d"]), names(&["c", "c"]), names(&[]), names(&["b"])];
        let admitted = admit(joins.iter().map(|j| &j[..]), &following, 3);
        let full = JoinRefusal::TooManyChannels { following: 3, max: 3 };
        assert_eq!(admitted.refused, [None, Some(full), None, None, None], "d would be a fourth");
        assert_eq!(admitted.new, names(&["c"]), "c is read once for both joins");
        assert_eq!(admitted.reads(&keys()), [Read::Top { key: key("c") }]);
        let one = admit([&names(&["e", "f"])[..]], &following, 3);
        let over = JoinRefusal::TooManyChannels { following: 2, max: 3 };
        assert_eq!((one.refused, one.new), (vec![Some(over)], vec![]), "as plan refuses it alone");
    }

    #[test]
    fn once_a_batch_has_followed_its_channels_each_join_reads_no_top() {
        // The batch read c's top (6-0) and follows it from there: a join on c then replays
        // up to 6-0 exactly as if it had read the top itself.
        let before = cursors(id(8, 0), &[]);
        let alone = ranges(&["c"], Some("42"), &before, &[entries(&[id(6, 0)])]);
        let after = cursors(id(8, 0), &[("c", id(6, 0))]);
        let planned = plan(&names(&["c"]), Some("42"), &after, &keys(), limits()).unwrap();
        assert_eq!(planned.reads(), []);
        let batched = planned.read(&[]).unwrap();
        assert_eq!(batched.reads(), alone.reads());
    }

    #[test]
    fn the_replay_stops_at_the_budget_and_then_the_stream_ends() {
        let following = cursors(id(9, 0), &[]);
        let three = [id(1, 0), id(2, 0), id(3, 0)];
        let one = frame(id(1, 0)).len();
        let replay = |max_queue_bytes| {
            let limits = Limits { max_queue_bytes, ..limits() };
            let plan = plan(&[], Some("0-1"), &following, &keys(), limits).unwrap();
            let ranges = plan.read(&[bulk("9-0"), Value::Nil]).unwrap();
            ranges.finish(&[entries(&three)]).unwrap()
        };
        let cut = replay(2 * one + one / 2);
        assert_eq!((frames(&cut), cut.then), (vec![frame(three[0]), frame(three[1])], Then::End));
        let whole = replay(3 * one);
        assert_eq!((whole.frames.len(), whole.then), (3, Then::Live), "exactly the budget fits");
        let tiny = replay(1);
        assert_eq!((frames(&tiny), tiny.then), (vec![frame(three[0])], Then::End), "the first always goes");
    }

    #[test]
    fn unreadable_entries_are_skipped_and_counted() {
        let following = cursors(id(9, 0), &[]);
        let ranges = ranges(&[], Some("0-1"), &following, &[bulk("9-0"), Value::Nil]);
        let entry = |id: &str, k: &str, v: &[u8]| {
            Value::Array(vec![bulk(id), Value::Array(vec![bulk(k), Value::BulkString(v.to_vec())])])
        };
        let reply = Value::Array(vec![
            entry("1-0", "data", b"d1-0"),
            entry("2-0", "other", b"x"),    // no field this hub writes
            entry("3-0", "data", b"\xff"),  // not UTF-8
            entry("4-0", "event", b"a\nb"), // not a valid event
            entry("5-0", "data", b"d5-0"),
        ]);
        let replay = ranges.finish(&[reply]).unwrap();
        assert_eq!(frames(&replay), [frame(id(1, 0)), frame(id(5, 0))]);
        assert_eq!(replay.skipped, 3);
    }

    #[test]
    fn entries_past_a_cursor_are_left_to_the_live_read() {
        let following = cursors(id(5, 0), &[]);
        let ranges = ranges(&[], Some("42"), &following, &[]);
        let replay = ranges.finish(&[entries(&[id(6, 0), id(5, 0), id(4, 0)])]).unwrap();
        assert_eq!(frames(&replay), [frame(id(4, 0)), frame(id(5, 0))]);
    }

    #[test]
    fn replies_of_the_wrong_number_or_shape_are_bad_replies() {
        let following = cursors(id(5, 0), &[]);
        let plan = |last| self::plan(&names(&["a"]), last, &following, &keys(), limits()).unwrap();
        assert_eq!(plan(None).read(&[]).unwrap_err(), BadReply::new("replies"));
        assert_eq!(plan(None).read(&[Value::Nil, Value::Nil]).unwrap_err(), BadReply::new("replies"));
        assert_eq!(plan(None).read(&[Value::Int(1)]).unwrap_err(), BadReply::new("entries"));
        let first = |last_id: Value| [entries(&[]), last_id, Value::Nil, Value::Nil];
        assert_eq!(plan(Some("1-0")).read(&first(Value::Int(1))).unwrap_err(), BadReply::new("id"));
        let ranges = plan(Some("1-0")).read(&first(bulk("9-0"))).unwrap();
        assert_eq!(ranges.reads().len(), 2);
        assert_eq!(ranges.finish(&[entries(&[])]).unwrap_err(), BadReply::new("replies"));
        let ranges = plan(Some("1-0")).read(&first(bulk("9-0"))).unwrap();
        assert_eq!(ranges.finish(&[entries(&[]), Value::Okay]).unwrap_err(), BadReply::new("entries"));
    }
}
