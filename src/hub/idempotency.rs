//! Publishing at most once per `Idempotency-Key`, as pure state.
//!
//! A publisher that gets no answer (a `503` after Redis lost the connection, a timeout, a reset
//! socket) cannot know whether its event went out; retrying blindly may publish it twice. With a
//! key the retry is safe: the hub remembers, for a window (default 10 minutes), which id each key
//! published, and a publish under a key it remembers publishes nothing and answers the first id.
//!
//! ```text
//! POST /publish  Idempotency-Key: 7f3c…   ─► Remembered::seen(key, fingerprint, now)
//!     New        ─► Hub::publish ─► Remembered::remember(key, fingerprint, id, now) ─► 201 {"id"}
//!     Replay(id) ─► nothing published                  ─► 201 {"id"} + Idempotent-Replayed: true
//!     Conflict   ─► the key named a different publish  ─► 422
//! ```
//!
//! A key is 1 to [`MAX_KEY_LEN`] bytes of visible ASCII (a UUID, say), global to the hub: two
//! publishers sharing a hub should not share keys. The same key with a different request (other
//! channels, data or type) is a [`Seen::Conflict`], refused rather than silently answered with
//! another event's id (as Stripe and the IETF's `Idempotency-Key` draft do).
//!
//! Memory is bounded: at most a capacity of keys (default 100,000) are remembered; past it the
//! oldest key is forgotten early (and counted), so a retry that late may publish again. All keys
//! live for the same window, so insertion order is expiry order and a queue suffices.
//!
//! With a Redis backplane the same rule runs in the publish script, on every node at once
//! (`{ns}:idem:<key>`, expiring after the window): see [`crate::backplane::keys`].

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::event::Event;
use crate::hub::Target;

/// The longest key, in bytes.
pub const MAX_KEY_LEN: usize = 255;

/// How long a key is remembered by default.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(600);

/// How many keys are remembered at most by default.
pub const DEFAULT_CAPACITY: usize = 100_000;

/// A valid idempotency key.
///
/// ```
/// use ssehub::hub::idempotency::{IdempotencyKey, KeyError};
/// assert!(IdempotencyKey::new("0f8fad5b-d9cb-469f-a165-70867728950e").is_ok());
/// assert_eq!(IdempotencyKey::new("").unwrap_err(), KeyError::Empty);
/// assert_eq!(IdempotencyKey::new("a b").unwrap_err(), KeyError::NotVisibleAscii);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(Arc<str>);

impl IdempotencyKey {
    /// Checks `key`: 1 to [`MAX_KEY_LEN`] bytes, each visible ASCII (`!` to `~`).
    pub fn new(key: &str) -> Result<IdempotencyKey, KeyError> {
        if key.is_empty() {
            return Err(KeyError::Empty);
        }
        if key.len() > MAX_KEY_LEN {
            return Err(KeyError::TooLong);
        }
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(KeyError::NotVisibleAscii);
        }
        Ok(IdempotencyKey(key.into()))
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a key is not valid (`400`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// No characters.
    Empty,
    /// More than [`MAX_KEY_LEN`] bytes.
    TooLong,
    /// A space, a control character or a byte past ASCII.
    NotVisibleAscii,
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::Empty => f.write_str("the Idempotency-Key is empty"),
            KeyError::TooLong => write!(f, "the Idempotency-Key is longer than {MAX_KEY_LEN} bytes"),
            KeyError::NotVisibleAscii => f.write_str("the Idempotency-Key must be visible ASCII"),
        }
    }
}

impl std::error::Error for KeyError {}

/// What identifies a publish for [`Seen::Conflict`]: where it goes and what it says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fingerprint(u64);

impl Fingerprint {
    /// The fingerprint of publishing `event` to `target` (its id left out: the hub assigns
    /// one). Stable within a process, which is all a node's memory needs; the Redis script
    /// takes its own, the same on every node.
    pub fn of(target: &Target, event: &Event) -> Fingerprint {
        // SipHash with fixed keys: deterministic, and a collision would need a crafted pair of
        // requests from one publisher against itself.
        let mut h = std::hash::DefaultHasher::new();
        match target {
            Target::All => 0u8.hash(&mut h),
            Target::Channels(list) => {
                1u8.hash(&mut h);
                list.hash(&mut h);
            }
        }
        (&event.data, &event.event, &event.retry, &event.comment).hash(&mut h);
        Fingerprint(h.finish())
    }
}

/// What a key has done before.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// Not within the window: publish, then [`Remembered::remember`].
    New,
    /// The same publish went out with this id: publish nothing, answer it.
    Replay(Arc<str>),
    /// The key published something else (with this id): refuse.
    Conflict(Arc<str>),
}

/// The keys of the last window, bounded. See the [module docs](self).
#[derive(Debug)]
pub struct Remembered {
    window: Duration,
    capacity: usize,
    keys: HashMap<IdempotencyKey, (Fingerprint, Arc<str>)>,
    /// Keys in insertion (so expiry) order, with their expiry.
    order: VecDeque<(IdempotencyKey, Instant)>,
    forgotten_early: u64,
}

impl Default for Remembered {
    fn default() -> Remembered {
        Remembered::new(DEFAULT_WINDOW, DEFAULT_CAPACITY)
    }
}

impl Remembered {
    /// Remembers keys for `window`, at most `capacity` of them (0: none, keys are ignored).
    pub fn new(window: Duration, capacity: usize) -> Remembered {
        Remembered { window, capacity, keys: HashMap::new(), order: VecDeque::new(), forgotten_early: 0 }
    }

    /// The window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Keys remembered now.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Keys forgotten before their window ended, to stay within the capacity.
    pub fn forgotten_early(&self) -> u64 {
        self.forgotten_early
    }

    /// What `key` did within the window before `now`.
    pub fn seen(&mut self, key: &IdempotencyKey, fingerprint: Fingerprint, now: Instant) -> Seen {
        self.expire(now);
        match self.keys.get(key) {
            None => Seen::New,
            Some((f, id)) if *f == fingerprint => Seen::Replay(id.clone()),
            Some((_, id)) => Seen::Conflict(id.clone()),
        }
    }

    /// Records that `key` published `id` at `now` (after [`Remembered::seen`] said
    /// [`Seen::New`]).
    pub fn remember(&mut self, key: IdempotencyKey, fingerprint: Fingerprint, id: Arc<str>, now: Instant) {
        if self.capacity == 0 {
            return;
        }
        self.expire(now);
        while self.keys.len() >= self.capacity {
            let Some((oldest, _)) = self.order.pop_front() else { break };
            self.keys.remove(&oldest);
            self.forgotten_early += 1;
        }
        if self.keys.insert(key.clone(), (fingerprint, id)).is_none() {
            self.order.push_back((key, now + self.window));
        }
    }

    fn expire(&mut self, now: Instant) {
        while let Some((_, until)) = self.order.front() {
            if *until > now {
                break;
            }
            if let Some((key, _)) = self.order.pop_front() {
                self.keys.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> IdempotencyKey {
        IdempotencyKey::new(s).unwrap()
    }

    fn print(data: &str) -> Fingerprint {
        Fingerprint::of(&Target::channels(["a"]), &Event::new(data))
    }

    #[test]
    fn keys_are_one_to_255_visible_ascii_bytes() {
        assert!(IdempotencyKey::new(&"k".repeat(MAX_KEY_LEN)).is_ok());
        assert_eq!(IdempotencyKey::new(&"k".repeat(MAX_KEY_LEN + 1)), Err(KeyError::TooLong));
        for bad in ["a\tb", "a\u{7f}", "é", "a\r\nb", " "] {
            assert_eq!(IdempotencyKey::new(bad), Err(KeyError::NotVisibleAscii), "{bad:?}");
        }
        assert_eq!(IdempotencyKey::new(""), Err(KeyError::Empty));
    }

    #[test]
    fn a_key_replays_its_id_within_the_window_and_is_new_after() {
        let t0 = Instant::now();
        let mut r = Remembered::new(Duration::from_secs(10), 8);
        assert_eq!(r.seen(&key("k"), print("x"), t0), Seen::New);
        r.remember(key("k"), print("x"), "7".into(), t0);
        assert_eq!(r.seen(&key("k"), print("x"), t0 + Duration::from_secs(9)), Seen::Replay("7".into()));
        assert_eq!(r.seen(&key("k"), print("x"), t0 + Duration::from_secs(10)), Seen::New);
        assert!(r.is_empty());
    }

    #[test]
    fn the_same_key_for_another_publish_is_a_conflict() {
        let t0 = Instant::now();
        let mut r = Remembered::default();
        r.remember(key("k"), print("x"), "1".into(), t0);
        assert_eq!(r.seen(&key("k"), print("y"), t0), Seen::Conflict("1".into()));
        let elsewhere = Fingerprint::of(&Target::channels(["b"]), &Event::new("x"));
        assert_eq!(r.seen(&key("k"), elsewhere, t0), Seen::Conflict("1".into()));
        let typed = Fingerprint::of(&Target::channels(["a"]), &Event::new("x").event("t"));
        assert_eq!(r.seen(&key("k"), typed, t0), Seen::Conflict("1".into()));
        // The id is not part of it: the hub assigns ids.
        let with_id = Fingerprint::of(&Target::channels(["a"]), &Event::new("x").id("9"));
        assert_eq!(r.seen(&key("k"), with_id, t0), Seen::Replay("1".into()));
        assert_eq!(
            Fingerprint::of(&Target::All, &Event::new("x")),
            Fingerprint::of(&Target::All, &Event::new("x"))
        );
        assert_ne!(Fingerprint::of(&Target::All, &Event::new("x")), print("x"));
    }

    #[test]
    fn past_the_capacity_the_oldest_key_is_forgotten_early() {
        let t0 = Instant::now();
        let mut r = Remembered::new(Duration::from_secs(60), 2);
        for (i, k) in ["a", "b", "c"].into_iter().enumerate() {
            r.remember(key(k), print(k), i.to_string().into(), t0);
        }
        assert_eq!(r.len(), 2);
        assert_eq!(r.forgotten_early(), 1);
        assert_eq!(r.seen(&key("a"), print("a"), t0), Seen::New);
        assert_eq!(r.seen(&key("c"), print("c"), t0), Seen::Replay("2".into()));
    }

    #[test]
    fn capacity_zero_remembers_nothing() {
        let t0 = Instant::now();
        let mut r = Remembered::new(Duration::from_secs(60), 0);
        r.remember(key("a"), print("a"), "1".into(), t0);
        assert_eq!(r.seen(&key("a"), print("a"), t0), Seen::New);
    }

    #[test]
    fn expiry_is_in_insertion_order() {
        let t0 = Instant::now();
        let mut r = Remembered::new(Duration::from_secs(10), 100);
        r.remember(key("a"), print("a"), "1".into(), t0);
        r.remember(key("b"), print("b"), "2".into(), t0 + Duration::from_secs(5));
        assert_eq!(r.seen(&key("b"), print("b"), t0 + Duration::from_secs(12)), Seen::Replay("2".into()));
        assert_eq!(r.len(), 1);
    }
}
