//! Which channels a node reads from a backplane, as pure state.
//!
//! A node that shares channels with other nodes through a backplane (see `crate::backplane`)
//! does not see every publish: it reads only the channels its own streams subscribe to. For
//! each channel it follows it knows
//!
//! - `since`: the hub sequence number at which reading began. Every event of the channel
//!   delivered after it is in the channel's log, so the log answers a `Last-Event-ID` found at
//!   or after `since`; an older id must be looked up in the backplane;
//! - how many local streams subscribe to it. A channel nobody uses for a grace period is dropped,
//!   log and all: if it were kept while unread, its log would have a hole that a later resume
//!   would replay as if nothing had happened.
//!
//! The publishes to every stream (`Target::All`) are always followed, since the hub started.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One followed channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Follow {
    /// The hub sequence number when reading began.
    pub since: u64,
    /// Local streams subscribed to the channel.
    pub subscribers: usize,
    /// When the last subscriber left (while there is none).
    pub idle_since: Option<Instant>,
}

/// The channels a node follows. See the [module docs](self).
#[derive(Debug, Default)]
pub struct Follows {
    map: HashMap<Arc<str>, Follow>,
}

impl Follows {
    /// Starts following `channel` at hub sequence `seq`; `false` if it was followed already.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub fn follow(&mut self, channel: Arc<str>, seq: u64, now: Instant) -> bool {
        if self.map.contains_key(&channel) {
            return false;
        }
        self.map.insert(channel, Follow { since: seq, subscribers: 0, idle_since: Some(now) });
        true
    }

    /// The channel's state, if followed.
    pub fn get(&self, channel: &str) -> Option<&Follow> {
        self.map.get(channel)
    }

    /// Counts a new local stream on `channels` (each must be followed; others are ignored).
    pub fn subscribe(&mut self, channels: &[Arc<str>]) {
        for channel in channels {
            if let Some(f) = self.map.get_mut(channel) {
                f.subscribers += 1;
                f.idle_since = None;
            }
        }
    }

    /// Counts a local stream on `channels` going away.
    pub fn unsubscribe(&mut self, channels: &[Arc<str>], now: Instant) {
        for channel in channels {
            if let Some(f) = self.map.get_mut(channel) {
                f.subscribers = f.subscribers.saturating_sub(1);
                if f.subscribers == 0 {
                    f.idle_since = Some(now);
                }
            }
        }
    }

    /// Stops following the channels without subscribers for at least `grace`; returns them.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub fn drop_idle(&mut self, now: Instant, grace: Duration) -> Vec<Arc<str>> {
        let idle: Vec<Arc<str>> = self
            .map
            .iter()
            .filter(|(_, f)| f.idle_since.is_some_and(|t| now.saturating_duration_since(t) >= grace))
            .map(|(name, _)| name.clone())
            .collect();
        for name in &idle {
            self.map.remove(name);
        }
        idle
    }

    /// How many channels are followed.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no channel is followed.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_is_dropped_only_after_its_last_subscriber_left_for_the_grace() {
        let t = Instant::now();
        let grace = Duration::from_secs(10);
        let a: Arc<str> = "a".into();
        let just_a = [a.clone()];
        let mut f = Follows::default();
        assert!(f.follow(a.clone(), 7, t));
        assert!(!f.follow(a.clone(), 9, t), "already followed: since stays");
        assert_eq!(f.get("a").unwrap().since, 7);
        f.subscribe(&just_a);
        f.subscribe(&just_a);
        assert!(f.drop_idle(t + grace * 2, grace).is_empty(), "subscribed");
        f.unsubscribe(&just_a, t + grace);
        assert!(f.drop_idle(t + grace * 3, grace).is_empty(), "one left");
        f.unsubscribe(&just_a, t + grace * 3);
        assert!(f.drop_idle(t + grace * 3, grace / 2 * 3).is_empty(), "not idle long enough");
        assert_eq!(f.drop_idle(t + grace * 4, grace), [a]);
        assert!(f.is_empty());
    }

    #[test]
    fn a_channel_followed_for_a_join_that_never_came_is_dropped_too() {
        let t = Instant::now();
        let mut f = Follows::default();
        f.follow("b".into(), 0, t);
        assert_eq!(f.drop_idle(t + Duration::from_secs(1), Duration::from_secs(1)).len(), 1);
    }
}
