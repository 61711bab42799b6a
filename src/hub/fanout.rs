//! The worker side of channels: which streams a publish reaches, each at most once.
//!
//! Each worker keeps a `Subscriptions` index from channel name to the streams (by slot) that
//! subscribed, and each stream a [`Member`] that remembers the last sequence number it was given.
//! A worker receives publishes in sequence order, so `seq > last` both drops duplicates (a stream
//! in two targeted channels) and draws the seam after a replay ([`super::Hub::resume`]). While a
//! replay goes on in batches ([`super::Then::More`]), the stream takes no live publish at all:
//! they reach it through the replay, and the batch that catches up draws the seam.

use std::collections::HashMap;
use std::sync::Arc;

/// One stream's subscription state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// The channels it subscribed to.
    pub channels: Arc<[Arc<str>]>,
    /// The last sequence number delivered (or covered by its replay).
    pub last_seq: u64,
    /// While a replay in batches is under way (live publishes wait in the logs): the id of the
    /// last event it delivered. Boxed: most streams never replay in batches.
    pub replay: Option<Box<Replaying>>,
    /// Who opened it (a token's `sub`, see [`crate::auth::Access`]), for presence.
    pub subject: Option<Arc<str>>,
}

/// A replay in batches under way (see [`super::Hub::replay`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Replaying {
    /// The id of the last event sent (the client's `lastEventId`), if any.
    pub last_id: Option<Arc<str>>,
}

impl Member {
    /// A member whose replay (or subscription time) covered publishes up to `seq`.
    pub fn new(channels: Arc<[Arc<str>]>, seq: u64) -> Member {
        Member { channels, last_seq: seq, replay: None, subject: None }
    }

    /// Whether the publish numbered `seq` is new to this stream; if so it is now delivered.
    #[inline]
    pub fn accepts(&mut self, seq: u64) -> bool {
        if seq > self.last_seq && self.replay.is_none() {
            self.last_seq = seq;
            true
        } else {
            false
        }
    }
}

/// Channel name → the slots of the streams subscribed to it.
#[derive(Debug, Default)]
pub(crate) struct Subscriptions {
    members: HashMap<Arc<str>, Vec<usize>>,
}

impl Subscriptions {
    /// Adds slot `key` to each of `channels`.
    pub(crate) fn join(&mut self, key: usize, channels: &[Arc<str>]) {
        for channel in channels {
            self.members.entry(channel.clone()).or_default().push(key);
        }
    }

    /// Removes slot `key` from each of `channels`.
    pub(crate) fn leave(&mut self, key: usize, channels: &[Arc<str>]) {
        for channel in channels {
            if let Some(list) = self.members.get_mut(channel) {
                if let Some(pos) = list.iter().position(|&k| k == key) {
                    list.swap_remove(pos);
                }
                if list.is_empty() {
                    self.members.remove(channel);
                }
            }
        }
    }

    /// The slots subscribed to `channel`.
    pub(crate) fn members(&self, channel: &str) -> &[usize] {
        self.members.get(channel).map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(names: &[&str]) -> Arc<[Arc<str>]> {
        names.iter().map(|n| Arc::from(*n)).collect()
    }

    #[test]
    fn member_takes_each_sequence_number_once() {
        let mut m = Member::new(ch(&["a"]), 5);
        assert!(!m.accepts(5));
        assert!(m.accepts(6));
        assert!(!m.accepts(6));
        assert!(m.accepts(9));
    }

    #[test]
    fn a_replaying_member_takes_nothing_live() {
        let mut m = Member::new(ch(&["a"]), 5);
        m.replay = Some(Box::default());
        assert!(!m.accepts(9));
        assert_eq!(m.last_seq, 5, "the replay goes on from where it was");
        (m.replay, m.last_seq) = (None, 9);
        assert!(!m.accepts(9));
        assert!(m.accepts(10));
    }

    #[test]
    fn join_and_leave() {
        let mut s = Subscriptions::default();
        s.join(1, &ch(&["a", "b"]));
        s.join(2, &ch(&["a"]));
        assert_eq!(s.members("a"), [1, 2]);
        s.leave(1, &ch(&["a", "b"]));
        assert_eq!(s.members("a"), [2]);
        assert!(s.members("b").is_empty());
        assert_eq!(s.members.len(), 1);
    }
}
