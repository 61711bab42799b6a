//! The generational slot table a worker keeps its connections in.
//!
//! A connection lives in a slot; its mio token is the slot's index. Other threads (a
//! [`Client`](super::Client) handle, the backplane's answer to a deferred request) name a
//! connection by its [`ConnId`]: the worker, the slot, and the slot's generation when the
//! connection was put there. A slot reused by a later connection has a new generation, so a stale
//! id never reaches the wrong client.
//!
//! Free slots are reused lowest first, so that the table's tail empties when a crowd leaves and
//! its memory can be given back ([`Slots::remove`] shrinks it).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A slot and the generation of what was put in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub(crate) slot: usize,
    pub(crate) generation: u32,
}

/// A connection anywhere in the server: its worker and its key there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ConnId {
    pub(crate) worker: usize,
    pub(crate) key: Key,
}

/// An HTTP/2 stream of a socket and its slot, in the socket's list of them: twelve bytes where
/// `(u32, Key)` takes twenty-four (the list holds one per stream for the connection's life; a
/// slot's index fits 32 bits, as the worker's open files do many times over).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Child {
    /// The stream id.
    pub(crate) id: u32,
    slot: u32,
    generation: u32,
}

impl Child {
    /// Stream `id` in the slot `key` names.
    pub(crate) fn new(id: u32, key: Key) -> Child {
        // Never past 32 bits (see above); if it were, the child would name no slot.
        let slot = u32::try_from(key.slot).unwrap_or(u32::MAX);
        Child { id, slot, generation: key.generation }
    }

    /// The stream's slot.
    pub(crate) fn key(self) -> Key {
        Key { slot: self.slot as usize, generation: self.generation }
    }
}

#[derive(Debug)]
struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

/// Values in slots, addressed by index (tokens) or by [`Key`]. See the [module docs](self).
#[derive(Debug)]
pub(crate) struct Slots<T> {
    slots: Vec<Slot<T>>,
    /// Free slots below the table's end, lowest first.
    free: BinaryHeap<Reverse<usize>>,
    next_generation: u32,
}

impl<T> Slots<T> {
    pub(crate) fn new() -> Slots<T> {
        Slots { slots: Vec::new(), free: BinaryHeap::new(), next_generation: 0 }
    }

    /// Puts `value` in the lowest free slot.
    pub(crate) fn insert(&mut self, value: T) -> Key {
        let slot = loop {
            match self.free.pop() {
                Some(Reverse(i)) if i < self.slots.len() => break i,
                Some(_) => continue, // beyond a table that has since shrunk
                None => {
                    self.slots.push(Slot { generation: 0, value: None });
                    break self.slots.len() - 1;
                }
            }
        };
        // Generations come from one counter, not per slot, so a slot dropped with the tail and
        // made again never repeats a generation a stale id may still hold.
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1);
        self.slots[slot] = Slot { generation, value: Some(value) };
        Key { slot, generation }
    }

    /// The value in slot `slot`, whatever its generation.
    pub(crate) fn at(&mut self, slot: usize) -> Option<&mut T> {
        self.slots.get_mut(slot)?.value.as_mut()
    }

    /// The key of what is in slot `slot`.
    pub(crate) fn key_at(&self, slot: usize) -> Option<Key> {
        let s = self.slots.get(slot)?;
        s.value.as_ref().map(|_| Key { slot, generation: s.generation })
    }

    /// The value `key` names, if it is still there.
    pub(crate) fn get(&mut self, key: Key) -> Option<&mut T> {
        let s = self.slots.get_mut(key.slot)?;
        if s.generation != key.generation {
            return None;
        }
        s.value.as_mut()
    }

    /// Takes the value out of slot `slot`, freeing the slot; when it ends the table, the table
    /// shrinks, and gives its memory back once most of it is unused.
    pub(crate) fn remove(&mut self, slot: usize) -> Option<T> {
        let value = self.slots.get_mut(slot)?.value.take()?;
        if slot + 1 < self.slots.len() {
            self.free.push(Reverse(slot));
            return Some(value);
        }
        while self.slots.last().is_some_and(|s| s.value.is_none()) {
            self.slots.pop();
        }
        if self.slots.capacity() > 64 && self.slots.len() < self.slots.capacity() / 4 {
            self.slots.shrink_to(self.slots.len() * 2);
            self.free.retain(|&Reverse(f)| f < self.slots.len());
            self.free.shrink_to_fit();
        }
        Some(value)
    }

    /// One past the highest slot in use.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no slot holds anything.
    pub(crate) fn is_empty(&self) -> bool {
        self.slots.iter().all(|s| s.value.is_none())
    }

    /// Every value, by slot.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (usize, &mut T)> {
        self.slots.iter_mut().enumerate().filter_map(|(i, s)| s.value.as_mut().map(|v| (i, v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_names_its_slot_in_twelve_bytes() {
        let key = Key { slot: 70_000, generation: 9 };
        let child = Child::new(5, key);
        assert_eq!((child.id, child.key()), (5, key));
        assert_eq!(std::mem::size_of::<Child>(), 12);
    }

    #[test]
    fn a_stale_key_never_reaches_the_next_value_in_its_slot() {
        let mut s = Slots::new();
        let a = s.insert("a");
        assert_eq!(s.get(a), Some(&mut "a"));
        s.remove(a.slot);
        let b = s.insert("b");
        assert_eq!(b.slot, a.slot, "the slot is reused");
        assert_eq!(s.get(a), None, "the old key is stale");
        assert_eq!(s.get(b), Some(&mut "b"));
        assert_eq!(s.key_at(b.slot), Some(b));
    }

    #[test]
    fn lowest_free_slot_first_and_the_tail_is_given_back() {
        let mut s = Slots::new();
        let keys: Vec<Key> = (0..1000).map(|i| s.insert(i)).collect();
        for k in &keys[10..] {
            s.remove(k.slot);
        }
        assert_eq!(s.len(), 10, "the emptied tail is dropped");
        assert!(s.slots.capacity() < 1000, "and its memory given back");
        s.remove(keys[3].slot);
        assert_eq!(s.insert(99).slot, 3, "the lowest free slot");
        let later = s.insert(100);
        assert_eq!(later.slot, 10);
        assert!(keys.iter().all(|k| k.generation != later.generation), "generations never repeat");
        assert_eq!(s.iter_mut().count(), 11);
        assert!(!s.is_empty());
    }
}
