//! The worker's timers: one heap of connection deadlines, filled from [`Conn::poll_timeout`].
//!
//! Every connection keeps its own deadlines ([`Conn`]); the worker only needs to wake at the
//! earliest of them all. Entries are lazy: a connection's deadline that moves later (a stream
//! whose keep-alive is put off by each event) is not touched in the heap; its entry fires early,
//! the connection finds nothing due, and the worker files the new deadline. Only a deadline that
//! moves *earlier* than the one filed needs a new entry; the connection remembers which instant
//! is filed for it (`filed`), so entries that are no longer it are skipped when they come up.
//!
//! [`Conn`]: crate::proto::Conn
//! [`Conn::poll_timeout`]: crate::proto::Conn::poll_timeout

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use super::slots::Key;

/// Connection deadlines, earliest first. See the [module docs](self).
#[derive(Debug, Default)]
pub(crate) struct Deadlines {
    heap: BinaryHeap<Reverse<(Instant, usize, u32)>>,
}

impl Deadlines {
    /// Files `deadline` for the connection `key` unless what is filed for it (`filed`) comes
    /// first already; `filed` is updated.
    pub(crate) fn file(&mut self, key: Key, deadline: Option<Instant>, filed: &mut Option<Instant>) {
        let Some(at) = deadline else { return };
        if filed.is_some_and(|f| f <= at) {
            return;
        }
        *filed = Some(at);
        self.heap.push(Reverse((at, key.slot, key.generation)));
    }

    /// The earliest entry's instant.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, ..))| *at)
    }

    /// The next entry due at `now`: the connection and the instant it was filed for. The caller
    /// skips it unless that is still the connection's `filed` instant.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Key, Instant)> {
        let &Reverse((at, slot, generation)) = self.heap.peek()?;
        if at > now {
            return None;
        }
        self.heap.pop();
        Some((Key { slot, generation }, at))
    }

    /// Entries in the heap (live and stale).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn only_an_earlier_deadline_makes_a_new_entry_and_stale_ones_are_recognised() {
        let t = Instant::now();
        let ms = |n| t + Duration::from_millis(n);
        let key = Key { slot: 3, generation: 7 };
        let mut d = Deadlines::default();
        let mut filed = None;
        d.file(key, Some(ms(100)), &mut filed);
        d.file(key, Some(ms(150)), &mut filed);
        assert_eq!((d.len(), filed), (1, Some(ms(100))), "a later deadline waits for the entry to fire");
        d.file(key, Some(ms(40)), &mut filed);
        assert_eq!((d.len(), filed), (2, Some(ms(40))));
        assert_eq!(d.next(), Some(ms(40)));
        assert_eq!(d.pop_due(ms(39)), None);
        assert_eq!(d.pop_due(ms(40)), Some((key, ms(40))));
        filed = None; // the worker handled it and found nothing more
        let (_, at) = d.pop_due(ms(100)).unwrap();
        assert_ne!(Some(at), filed, "the entry for 100 is stale: skipped");
        assert_eq!(d.pop_due(ms(1000)), None);
    }
}
