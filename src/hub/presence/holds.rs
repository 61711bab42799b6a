//! Holds: what one node claims in Redis about who is on which channel, so that join and leave
//! events are decided once for the whole cluster.
//!
//! ```text
//! Local ─► Debounce::poll ─► this node's holds start / end ─► Holds ─► Holds::next (a Sync)
//!   ─► the presence script in Redis (per node: a set of holds; per hold: how many nodes hold it)
//!   ─► 0 → 1 nodes: `join`, 1 → 0: `leave`, XADDed once into `$presence/NAME`'s stream
//! ```
//!
//! A node *holds* `(channel, subject)` while the subject has a stream on the channel there, and
//! for the debounce after its last one ends ([`super::Debounce`]: what it reports as a join
//! starts a hold, a leave ends one). Redis keeps each node's holds in a set and, per hold, the
//! number of nodes holding it; the presence script changes both atomically and publishes a
//! `join` when that number goes from 0 to 1 and a `leave` when it goes from 1 to 0, through the
//! same code as a publish, so each is in Redis once and every node's reader delivers it to its
//! own `$presence/NAME` subscribers. A subject on two nodes is one join; leaving one of them is
//! no leave; a reconnect to another node within the debounce is neither (the new node's hold
//! starts before the old one's ends).
//!
//! This type is the node's side: the holds it has ([`Holds::apply`]) and the ones Redis is
//! known to have for it (`acked`), so that each script call carries only the difference
//! ([`Sync::Delta`]). Adding a hold twice or removing a missing one does nothing in the script,
//! but after a call that may or may not have run (a lost connection), or after the node was
//! counted dead and its holds were reaped, the node does not know what Redis has: it sends all
//! its holds at once ([`Sync::Replace`]), and the script makes the set exactly that.
//!
//! A hold is stored as one string, its *member*: the channel, a tab, then the event's data
//! (`room-1\t{"sub":"alice"}`). Channel names hold no control characters and the data is JSON
//! with control characters escaped, so the first tab separates them; the script reads the
//! channel and the data from it without a JSON encoder of its own.

use std::collections::BTreeSet;

use super::{Change, PresenceEvent};

/// The Redis member of `event`'s hold: `CHANNEL\tDATA` (see the [module docs](self)).
pub fn member(event: &PresenceEvent) -> String {
    format!("{}\t{}", event.channel, event.data())
}

/// One call of the presence script: what to change in this node's set of holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sync {
    /// Add (`true`) or remove (`false`) each member.
    Delta(Vec<(bool, String)>),
    /// Make the set exactly these members.
    Replace(Vec<String>),
}

impl Sync {
    /// Whether the call changes nothing (it still renews the node's liveness and reaps).
    pub fn is_empty(&self) -> bool {
        matches!(self, Sync::Delta(d) if d.is_empty())
    }
}

/// This node's holds, and what Redis is known to hold for it.
#[derive(Clone, Debug, Default)]
pub struct Holds {
    held: BTreeSet<String>,
    /// What Redis has, or `None` when unknown (at start, after a failed call, after a reap).
    acked: Option<BTreeSet<String>>,
}

impl Holds {
    /// Starts or ends holds: a [`Change::Join`] from the debounce starts one, a
    /// [`Change::Leave`] ends it.
    pub fn apply(&mut self, events: &[PresenceEvent]) {
        for e in events {
            let m = member(e);
            match e.change {
                Change::Join => self.held.insert(m),
                Change::Leave => self.held.remove(&m),
            };
        }
    }

    /// How many holds this node has.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Whether this node holds nothing.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// The next call: a [`Sync::Replace`] when Redis's side is unknown, else a [`Sync::Delta`]
    /// of at most `max` changes (empty when in step: the call a node makes anyway, once a
    /// heartbeat).
    pub fn next(&self, max: usize) -> Sync {
        let Some(acked) = &self.acked else {
            return Sync::Replace(self.held.iter().cloned().collect());
        };
        let adds = self.held.difference(acked).map(|m| (true, m.clone()));
        let removes = acked.difference(&self.held).map(|m| (false, m.clone()));
        Sync::Delta(adds.chain(removes).take(max).collect())
    }

    /// Redis ran `sync`: its side is now known.
    pub fn done(&mut self, sync: &Sync) {
        match sync {
            Sync::Replace(all) => self.acked = Some(all.iter().cloned().collect()),
            Sync::Delta(changes) => {
                if let Some(acked) = &mut self.acked {
                    for (add, m) in changes {
                        match add {
                            true => acked.insert(m.clone()),
                            false => acked.remove(m),
                        };
                    }
                }
            }
        }
    }

    /// Redis's side is unknown: a call failed (it may have run), or the script said this node
    /// had been counted dead. The next call replaces.
    pub fn forget(&mut self) {
        self.acked = None;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn ev(channel: &str, change: Change, subject: &str) -> PresenceEvent {
        PresenceEvent { channel: Arc::from(channel), change, subject: Arc::from(subject) }
    }

    #[test]
    fn a_member_is_the_channel_a_tab_and_the_data() {
        assert_eq!(member(&ev("room-1", Change::Join, "alice")), "room-1\t{\"sub\":\"alice\"}");
        // Control characters in a subject are escaped: the first tab is the separator.
        let m = member(&ev("r", Change::Leave, "a\tb\"\n"));
        assert_eq!(m, "r\t{\"sub\":\"a\\tb\\\"\\n\"}");
        assert_eq!(m.matches('\t').count(), 1);
    }

    #[test]
    fn the_first_call_replaces_then_only_differences_go() {
        let mut h = Holds::default();
        assert_eq!(h.next(10), Sync::Replace(vec![]), "unknown at start, even when empty");
        h.apply(&[ev("a", Change::Join, "alice")]);
        let first = h.next(10);
        assert_eq!(first, Sync::Replace(vec!["a\t{\"sub\":\"alice\"}".into()]));
        h.done(&first);
        assert!(h.next(10).is_empty(), "in step");
        h.apply(&[
            ev("a", Change::Join, "bob"),
            ev("a", Change::Leave, "alice"),
            ev("b", Change::Join, "bob"),
        ]);
        let delta = h.next(10);
        assert_eq!(
            delta,
            Sync::Delta(vec![
                (true, "a\t{\"sub\":\"bob\"}".into()),
                (true, "b\t{\"sub\":\"bob\"}".into()),
                (false, "a\t{\"sub\":\"alice\"}".into()),
            ])
        );
        h.done(&delta);
        assert!(h.next(10).is_empty());
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn a_delta_is_bounded_and_the_rest_follows() {
        let mut h = Holds::default();
        h.done(&h.next(1));
        let joins: Vec<_> = (0..5).map(|i| ev(&format!("c{i}"), Change::Join, "s")).collect();
        h.apply(&joins);
        let mut calls = 0;
        loop {
            let s = h.next(2);
            if s.is_empty() {
                break;
            }
            assert!(matches!(&s, Sync::Delta(d) if d.len() <= 2));
            h.done(&s);
            calls += 1;
        }
        assert_eq!(calls, 3);
    }

    #[test]
    fn a_hold_that_comes_and_goes_between_calls_is_no_change() {
        let mut h = Holds::default();
        h.done(&h.next(10));
        h.apply(&[ev("a", Change::Join, "x"), ev("a", Change::Leave, "x")]);
        assert!(h.next(10).is_empty());
    }

    #[test]
    fn after_a_failure_or_a_reap_everything_is_sent_again() {
        let mut h = Holds::default();
        h.apply(&[ev("a", Change::Join, "x"), ev("b", Change::Join, "y")]);
        h.done(&h.next(10));
        h.apply(&[ev("a", Change::Leave, "x")]);
        // The call carrying the removal may or may not have run: replace, never guess.
        h.forget();
        assert_eq!(h.next(10), Sync::Replace(vec!["b\t{\"sub\":\"y\"}".into()]));
        // A delta acknowledged while unknown does not make the state known.
        h.done(&Sync::Delta(vec![]));
        assert!(matches!(h.next(10), Sync::Replace(_)));
    }
}
