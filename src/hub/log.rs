//! One channel's replay log: the encoded frames of its recent events, bounded by count, bytes and
//! age.
//!
//! Entries are kept in publish order (their sequence numbers increase), so "everything after
//! sequence `s`" is a binary search and a slice walk. The log remembers the highest sequence
//! number it has evicted: a client resuming from before that point has missed events, and is
//! told so instead of being handed a silent gap.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::proto::Frame;

/// How much history the hub keeps for `Last-Event-ID` resumption.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Events kept per channel; default 1,024. `0` keeps nothing (no replay).
    pub max_events: usize,
    /// Encoded bytes kept per channel; default 1 MiB.
    pub max_bytes: usize,
    /// Oldest event kept; default none (only count and bytes bound the log).
    pub max_age: Option<Duration>,
    /// Encoded bytes kept across all channels together (with a small overhead counted per
    /// channel); past it the oldest events of the hub go first, whatever their channel.
    /// Default 64 MiB. See [`super::logs`].
    pub max_total_bytes: usize,
}

impl Default for Retention {
    fn default() -> Retention {
        Retention { max_events: 1024, max_bytes: 1 << 20, max_age: None, max_total_bytes: 64 << 20 }
    }
}

/// One retained event.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The hub-wide sequence number (publish order across all channels).
    pub seq: u64,
    /// The event's id, as the client will send it back in `Last-Event-ID`.
    pub id: Option<Arc<str>>,
    /// The encoded event, exactly as it was sent live.
    pub frame: Frame,
    /// When it was published.
    pub at: Instant,
}

/// A channel's retained events. See the [module docs](self).
#[derive(Debug, Default)]
pub struct Log {
    entries: VecDeque<Entry>,
    bytes: usize,
    evicted_seq: u64,
}

impl Log {
    /// Appends an entry and evicts what the retention no longer allows.
    pub fn push(&mut self, entry: Entry, retention: &Retention) {
        self.bytes += entry.frame.block().len();
        self.entries.push_back(entry);
        self.trim(retention, None);
    }

    /// Evicts entries past the count, byte or (given `now`) age bounds.
    pub fn trim(&mut self, retention: &Retention, now: Option<Instant>) {
        while let Some(front) = self.entries.front() {
            let too_old = match (retention.max_age, now) {
                (Some(age), Some(now)) => now.saturating_duration_since(front.at) > age,
                _ => false,
            };
            if self.entries.len() > retention.max_events || self.bytes > retention.max_bytes || too_old {
                self.bytes -= front.frame.block().len();
                self.evicted_seq = front.seq;
                self.entries.pop_front();
            } else {
                break;
            }
        }
    }

    /// The sequence number of the oldest retained entry.
    pub fn front_seq(&self) -> Option<u64> {
        self.entries.front().map(|e| e.seq)
    }

    /// The sequence number of the newest entry evicted (0 if none was).
    pub fn evicted_seq(&self) -> u64 {
        self.evicted_seq
    }

    /// Evicts the oldest entry, whatever the retention (the hub-wide bound needs room).
    pub fn evict_front(&mut self) {
        if let Some(front) = self.entries.pop_front() {
            self.bytes -= front.frame.block().len();
            self.evicted_seq = front.seq;
        }
    }

    /// The position of the first entry published after sequence `seq`.
    pub fn position_after(&self, seq: u64) -> usize {
        self.entries.partition_point(|e| e.seq <= seq)
    }

    /// The entry at `position` (oldest first).
    pub fn get(&self, position: usize) -> Option<&Entry> {
        self.entries.get(position)
    }

    /// The sequence number of the newest retained entry whose id is `id`.
    pub fn find(&self, id: &str) -> Option<u64> {
        self.entries.iter().rev().find(|e| e.id.as_deref() == Some(id)).map(|e| e.seq)
    }

    /// The retained entries published after sequence `seq`, oldest first.
    pub fn after(&self, seq: u64) -> impl Iterator<Item = &Entry> {
        self.entries.range(self.position_after(seq)..)
    }

    /// Whether events published after `seq` have been evicted (a resume from `seq` has a gap).
    pub fn lost_after(&self, seq: u64) -> bool {
        self.evicted_seq > seq
    }

    /// Retained entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is retained.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Retained encoded bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;

    fn entry(seq: u64, t: Instant) -> Entry {
        let id: Arc<str> = seq.to_string().into();
        Entry { seq, frame: Frame::event(&Event::new("x").id(&*id)).unwrap(), id: Some(id), at: t }
    }

    #[test]
    fn count_bound_evicts_oldest_and_remembers_it() {
        let t = Instant::now();
        let r = Retention { max_events: 3, ..Retention::default() };
        let mut log = Log::default();
        for seq in 1..=5 {
            log.push(entry(seq, t), &r);
        }
        assert_eq!(log.after(0).map(|e| e.seq).collect::<Vec<_>>(), [3, 4, 5]);
        assert!(log.lost_after(1));
        assert!(!log.lost_after(2));
        assert_eq!(log.find("4"), Some(4));
        assert_eq!(log.find("1"), None);
    }

    #[test]
    fn byte_bound() {
        let t = Instant::now();
        let one = entry(1, t).frame.block().len();
        let r = Retention { max_bytes: 2 * one, ..Retention::default() };
        let mut log = Log::default();
        for seq in 1..=4 {
            log.push(entry(seq, t), &r);
        }
        assert_eq!(log.len(), 2);
        assert_eq!(log.bytes(), 2 * one);
    }

    #[test]
    fn age_bound_applies_when_time_is_given() {
        let t = Instant::now();
        let r = Retention { max_age: Some(Duration::from_secs(10)), ..Retention::default() };
        let mut log = Log::default();
        log.push(entry(1, t), &r);
        log.push(entry(2, t + Duration::from_secs(8)), &r);
        log.trim(&r, Some(t + Duration::from_secs(15)));
        assert_eq!(log.after(0).map(|e| e.seq).collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn zero_retention_keeps_nothing() {
        let r = Retention { max_events: 0, ..Retention::default() };
        let mut log = Log::default();
        log.push(entry(1, Instant::now()), &r);
        assert!(log.is_empty());
        assert!(log.lost_after(0));
    }
}
