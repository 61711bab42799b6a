//! Every replay log of a hub, and the bound on their memory together.
//!
//! Each channel has its own [`Log`], bounded by [`Retention`]'s per-channel settings; the
//! publishes to every stream have one more log, kept apart from the channels (no channel name
//! can reach it). Per-channel bounds alone would let a hub of many channels grow without limit
//! (300 channels × 1 MiB is 300 MB), so the store also holds them all to
//! [`Retention::max_total_bytes`]: it counts every log's encoded bytes plus a fixed overhead per
//! channel, and past the bound evicts the hub's oldest entry, whatever its channel, until the
//! total fits again.
//!
//! To find the oldest entry without looking at every log, the store keeps each log in an
//! ordered set under its *eviction key*: the sequence number of its oldest entry, or, for an
//! empty channel log (it still costs its overhead), the last one it evicted. Evicting from a log
//! re-files it under its new key; an empty channel log that must go is dropped entirely.
//!
//! A dropped log no longer remembers what it evicted, so the store keeps the newest sequence
//! number any dropped log had evicted (`forgotten`): a resume from before it cannot rule out a
//! loss in *some* channel and reports a gap. Only the hub-wide bound drops logs, so this errs
//! on the side of telling a client it may have missed something, and only under memory
//! pressure.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use super::log::{Entry, Log, Retention};

/// Bytes counted for a channel log besides its entries: the map slot, the log, its key in the
/// eviction order, and the name (added separately).
pub const LOG_OVERHEAD: usize = 160;

/// Which log: the publishes to every stream, or a channel's.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogKey {
    /// Publishes to every stream.
    All,
    /// One channel's publishes.
    Channel(Arc<str>),
}

/// The logs of a hub. See the [module docs](self).
#[derive(Debug, Default)]
pub struct Logs {
    channels: HashMap<Arc<str>, Log>,
    all: Log,
    /// (eviction key, log): channel logs always, the log of publishes to all while not empty.
    order: BTreeSet<(u64, LogKey)>,
    /// Entry bytes of every log, plus each channel log's overhead.
    bytes: usize,
    /// The newest sequence number evicted by a log that has since been dropped.
    forgotten: u64,
}

impl Logs {
    /// The log of publishes to every stream.
    pub fn all(&self) -> &Log {
        &self.all
    }

    /// A channel's log, if it has one.
    pub fn channel(&self, name: &str) -> Option<&Log> {
        self.channels.get(name)
    }

    /// How many channels have a log.
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    /// Bytes counted against [`Retention::max_total_bytes`].
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The newest sequence number a dropped log had evicted (see the [module docs](self)).
    pub fn forgotten(&self) -> u64 {
        self.forgotten
    }

    /// Appends `entry` to the log of `key` (made if missing), then enforces every bound.
    pub fn push(&mut self, key: LogKey, entry: Entry, retention: &Retention) {
        self.update(&key, true, |log| log.push(entry, retention));
        self.enforce_total(retention.max_total_bytes);
    }

    /// Evicts what the age bound no longer allows from the logs of `channels` and of publishes
    /// to all.
    pub fn trim(&mut self, channels: &[Arc<str>], retention: &Retention, now: Instant) {
        if retention.max_age.is_none() {
            return;
        }
        self.update(&LogKey::All, false, |log| log.trim(retention, Some(now)));
        for channel in channels {
            self.update(&LogKey::Channel(channel.clone()), false, |log| log.trim(retention, Some(now)));
        }
    }

    /// Drops a channel's log (its history has a hole: a backplane node follows it anew).
    pub fn remove(&mut self, channel: &str) {
        if let Some((name, log)) = self.channels.remove_entry(channel) {
            self.order.remove(&(eviction_key(&log, true), LogKey::Channel(name.clone())));
            self.bytes -= log.bytes() + overhead(&name);
        }
    }

    /// The newest sequence number evicted from the logs of `channels` or of publishes to all
    /// (or perhaps from a dropped log): everything after it is retained, so a replay from there
    /// is complete, and a resume from before it has a gap.
    pub fn horizon(&self, channels: &[Arc<str>]) -> u64 {
        let evicted = channels.iter().filter_map(|c| self.channels.get(c)).map(Log::evicted_seq).max();
        self.forgotten.max(self.all.evicted_seq()).max(evicted.unwrap_or(0))
    }

    /// Whether events published after `seq` were evicted from the logs of `channels` or of
    /// publishes to all (or may have been, from a dropped log).
    pub fn lost_after(&self, channels: &[Arc<str>], seq: u64) -> bool {
        self.horizon(channels) > seq
    }

    /// Runs `f` on the log of `key` (making a channel log first if `create`), keeping the byte
    /// count and the eviction order right.
    fn update(&mut self, key: &LogKey, create: bool, f: impl FnOnce(&mut Log)) {
        let (log, is_channel) = match key {
            LogKey::All => (&mut self.all, false),
            LogKey::Channel(name) => {
                if !self.channels.contains_key(name) {
                    if !create {
                        return;
                    }
                    self.channels.insert(name.clone(), Log::default());
                    self.bytes += overhead(name);
                    self.order.insert((0, key.clone()));
                }
                (self.channels.get_mut(name).expect("made above"), true)
            }
        };
        let (before_key, before_bytes) = (filed_key(log, is_channel), log.bytes());
        f(log);
        let (after_key, after_bytes) = (filed_key(log, is_channel), log.bytes());
        self.bytes = self.bytes - before_bytes + after_bytes;
        if before_key != after_key {
            if let Some(k) = before_key {
                self.order.remove(&(k, key.clone()));
            }
            if let Some(k) = after_key {
                self.order.insert((k, key.clone()));
            }
        }
    }

    /// Evicts the hub's oldest entries (and drops empty channel logs) until the total fits.
    fn enforce_total(&mut self, max: usize) {
        while self.bytes > max {
            let Some((_, key)) = self.order.first().cloned() else { return };
            let drop_log = match &key {
                LogKey::Channel(name) => self.channels.get(name).is_some_and(Log::is_empty),
                LogKey::All => false,
            };
            match key {
                LogKey::Channel(name) if drop_log => {
                    let evicted = self.channels.get(&name).map_or(0, Log::evicted_seq);
                    self.forgotten = self.forgotten.max(evicted);
                    self.remove(&name);
                }
                key => self.update(&key, false, Log::evict_front),
            }
        }
    }
}

/// A log's key in the eviction order: its oldest entry, or (an empty channel log) its last
/// eviction. The log of publishes to all is not filed while empty.
fn filed_key(log: &Log, is_channel: bool) -> Option<u64> {
    match log.front_seq() {
        Some(seq) => Some(seq),
        None if is_channel => Some(log.evicted_seq()),
        None => None,
    }
}

fn eviction_key(log: &Log, is_channel: bool) -> u64 {
    filed_key(log, is_channel).unwrap_or(0)
}

fn overhead(name: &str) -> usize {
    LOG_OVERHEAD + name.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;
    use crate::proto::Frame;

    fn entry(seq: u64, size: usize) -> Entry {
        let frame = Frame::event(&Event::new("x".repeat(size))).unwrap();
        Entry { seq, id: Some(seq.to_string().into()), frame, at: Instant::now() }
    }

    fn key(name: &str) -> LogKey {
        LogKey::Channel(name.into())
    }

    /// The byte count and the eviction order agree with the logs themselves.
    fn check(logs: &Logs) {
        let entries: usize = logs.channels.values().map(Log::bytes).sum::<usize>() + logs.all.bytes();
        let overheads: usize = logs.channels.keys().map(|n| overhead(n)).sum();
        assert_eq!(logs.bytes, entries + overheads);
        assert_eq!(logs.order.len(), logs.channels.len() + usize::from(!logs.all.is_empty()));
        for (name, log) in &logs.channels {
            assert!(logs.order.contains(&(eviction_key(log, true), key(name))));
        }
    }

    #[test]
    fn the_total_bound_evicts_the_oldest_entries_whatever_their_channel() {
        let one = entry(1, 100).frame.block().len();
        let per_channel = Retention { max_total_bytes: usize::MAX, ..Retention::default() };
        let mut logs = Logs::default();
        logs.push(key("a"), entry(1, 100), &per_channel);
        logs.push(key("b"), entry(2, 100), &per_channel);
        logs.push(LogKey::All, entry(3, 100), &per_channel);
        check(&logs);
        // Room for the three logs' overheads and three entries: a fourth evicts the oldest (a's).
        let total = 3 * one + overhead("a") + overhead("b") + overhead("c");
        let bounded = Retention { max_total_bytes: total, ..per_channel };
        logs.push(key("c"), entry(4, 100), &bounded);
        check(&logs);
        assert!(logs.bytes() <= total);
        assert!(logs.channel("a").is_some_and(Log::is_empty), "a's entry went first");
        assert!(logs.lost_after(&[key_name("a")], 0));
        assert!(!logs.lost_after(&[key_name("b")], 1), "b lost nothing");
        assert_eq!(logs.channel("b").unwrap().len(), 1);
        assert_eq!(logs.all().len(), 1);
    }

    fn key_name(name: &str) -> Arc<str> {
        name.into()
    }

    #[test]
    fn many_small_channels_are_bounded_by_their_overhead_and_remembered_as_forgotten() {
        let retention = Retention { max_total_bytes: 10 * (LOG_OVERHEAD + 8), ..Retention::default() };
        let mut logs = Logs::default();
        for seq in 1..=1000u64 {
            logs.push(key(&format!("ch-{seq:04}")), entry(seq, 1), &retention);
            check(&logs);
            assert!(logs.bytes() <= retention.max_total_bytes);
        }
        assert!(logs.channel_count() < 10);
        assert!(logs.forgotten() > 900, "dropped logs are remembered: {}", logs.forgotten());
        assert!(logs.lost_after(&[key_name("never-used")], 1), "a resume from before may have lost");
        assert!(!logs.lost_after(&[key_name("ch-1000")], 1000));
    }

    #[test]
    fn removing_and_trimming_keep_the_books() {
        let retention = Retention {
            max_age: Some(std::time::Duration::from_secs(1)),
            max_total_bytes: usize::MAX,
            ..Retention::default()
        };
        let mut logs = Logs::default();
        logs.push(key("a"), entry(1, 10), &retention);
        logs.push(key("a"), entry(2, 10), &retention);
        logs.push(LogKey::All, entry(3, 10), &retention);
        logs.trim(&[key_name("a")], &retention, Instant::now() + std::time::Duration::from_secs(5));
        check(&logs);
        assert!(logs.channel("a").unwrap().is_empty() && logs.all().is_empty());
        assert!(logs.lost_after(&[key_name("a")], 1));
        logs.remove("a");
        check(&logs);
        assert_eq!(logs.bytes(), 0);
        assert_eq!(logs.forgotten(), 0, "a removal by the hub is not a forgetting");
    }
}
