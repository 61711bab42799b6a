//! Many nodes sharing channels through Redis Streams: the protocol, as pure functions.
//!
//! ```text
//! POST /publish (any node) ─► publish thread ─► EVALSHA PUBLISH_SCRIPT: one id, XADD to each
//!                                                channel's stream, trimmed ─► 201 {"id": id}
//! Redis streams ─► read thread: XREAD BLOCK over the followed streams ─► merge (id order, once)
//!               ─► Hub::publish with the entry id ─► worker mailboxes ─► encode-once fan-out
//! new stream ─► Hub::resume_followed (local logs) ─► or the read thread: follow, XRANGE, resume
//! ```
//!
//! # Ids
//! An event's id is its stream entry id, `<ms>-<seq>`, given by the publish script (see [`keys`]): the
//! Redis server's clock, strictly increasing across every channel of the hub. A client may
//! therefore reconnect to any node with its `Last-Event-ID` and resume all of its channels from
//! it, and ids order events the same way on every node.
//!
//! # Reading
//! Each node has one read thread (not one per client). It follows the channels its streams
//! subscribe to (plus the stream of publishes to all), keeps a cursor per stream (the last
//! entry id delivered), and loops on `XREAD COUNT n STREAMS ... cursors`, waiting with
//! `BLOCK t` when nothing is new (then reading again without it: see [`merge`]). What a read
//! returns goes through [`merge::merge`] and into the local [`Hub`](crate::hub::Hub), which
//! numbers, logs and fans it out exactly like a local publish.
//!
//! # Joining and resuming
//! A new stream whose channels are all followed, and whose `Last-Event-ID` (if any) is in the
//! local logs where they are complete, starts at once ([`Hub::resume_followed`]). Otherwise the
//! read thread answers it between two reads, in at most two pipelined round trips: it follows
//! the missing channels from their newest entry, reads what the client missed with
//! `XRANGE (last cursor` on each of its streams, and hands the worker that replay (at most what
//! the client's queue may hold) together with the local sequence number it reaches. Entries
//! after the cursors arrive by the next read, so the seam has no gap and no duplicate. A node
//! that would read more than `max_channels` channels refuses the stream ([`JoinRefusal`]).
//!
//! A `Last-Event-ID` older than a stream's trim point ([`missed`]), not an entry id at all
//! ([`ReplayFrom::Unknown`]), or past the newest id given out gets the `gap` event first, as on
//! a single node.
//!
//! These rules are pure steps in `join.rs` (plan the reads, then finish the replay from their
//! replies), each unit-tested without Redis.
//!
//! # Faults
//! A lost connection makes publishes fail (`503`) and pauses reading; both threads reconnect with
//! backoff, and reading resumes from the cursors, so clients see no gap once Redis is back (as
//! long as it kept the entries: use Redis persistence if a restart must not lose them).
//!
//! # Where the code is
//! * [`keys`]: the Redis layout (key names, entry fields, the publish script);
//! * [`reply`]: Redis replies decoded into entries and ids (fuzzed: `fuzz_targets/reply.rs`);
//! * [`merge`]: the streams' parts of one read, into deliveries in id order;
//! * `join.rs`: a join's reads and its replay; `backoff.rs`: the reconnect backoff;
//! * `src/server/backplane.rs`, the IO shell: the Redis connections, the two threads, the
//!   timeouts and the reconnecting, nothing else.
//!
//! [`Hub::resume_followed`]: crate::hub::Hub

pub(crate) mod backoff;
mod id;
pub(crate) mod join;
pub mod keys;
pub mod merge;
// Public for the `reply` fuzz target only: its signatures are the redis crate's `Value`, which
// the crate does not promise to keep (hidden from the docs, not part of the API).
#[doc(hidden)]
pub mod reply;

pub use id::{BadStreamId, StreamId};
pub use join::JoinRefusal;
pub(crate) use keys::Keys;

/// Where a resume starts, from the `Last-Event-ID` a client sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayFrom {
    /// No `Last-Event-ID`: only live events.
    Nothing,
    /// The entries after this id.
    After(StreamId),
    /// Not an entry id (made up, or from before the hub used Redis): a gap, then every entry
    /// retained.
    Unknown,
}

impl ReplayFrom {
    /// Reads a `Last-Event-ID` header value.
    ///
    /// ```
    /// use ssehub::backplane::{ReplayFrom, StreamId};
    /// assert_eq!(ReplayFrom::parse(None), ReplayFrom::Nothing);
    /// assert_eq!(ReplayFrom::parse(Some("5-1")), ReplayFrom::After(StreamId { ms: 5, seq: 1 }));
    /// assert_eq!(ReplayFrom::parse(Some("42")), ReplayFrom::Unknown);
    /// ```
    pub fn parse(last_event_id: Option<&str>) -> ReplayFrom {
        match last_event_id {
            None => ReplayFrom::Nothing,
            Some(id) => id.parse().map_or(ReplayFrom::Unknown, ReplayFrom::After),
        }
    }
}

/// Whether a client resuming after `last` missed entries of a stream whose newest trimmed entry
/// is `trimmed` (from the `trimmed` hash, see [`keys`]).
///
/// ```
/// use ssehub::backplane::{missed, StreamId};
/// let id = |ms| StreamId { ms, seq: 0 };
/// assert!(missed(id(5), Some(id(6))));   // 6 was trimmed, the client had only seen up to 5
/// assert!(!missed(id(6), Some(id(6))));  // it saw 6 before it was trimmed
/// assert!(!missed(id(1), None));         // nothing ever trimmed
/// ```
pub fn missed(last: StreamId, trimmed: Option<StreamId>) -> bool {
    trimmed.is_some_and(|t| t > last)
}
