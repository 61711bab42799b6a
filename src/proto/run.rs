//! [`Run`]: a worker's recent frames laid end to end once, so that a connection writes several
//! queued events as one slice.
//!
//! A connection's queue holds one [`Frame`] per event, each its own allocation, and writing `k`
//! of them takes a vectored write of `k` slices. The kernel copies every slice on its own (a
//! user-copy with its checks per slice), which at high rates is most of a write's cost: with a
//! 13 ms window at 4,000 events/s each write carries some 50 events of ~90 bytes. Every
//! connection of a worker queues the same frames in the same order, so the worker lays the
//! chunked bytes of the frames it is handed end to end in one buffer, once per frame, and a
//! queue whose frames follow one another in that buffer writes them as one slice of it: the
//! same bytes, fewer and longer slices. (Encode once, fan out bytes: one copy per worker per
//! event, none per connection.)
//!
//! The run holds a reference to each of its frames, so no frame it knows can be freed and its
//! address reused by another while it is listed: a queue's frame is recognised by its address.
//! The run is bounded ([`Run::CAPACITY`] bytes); when the next frame does not fit, it starts
//! again empty, and frames it no longer lists go out in slices of their own, as before.
//!
//! ```
//! use ssehub::proto::run::Run;
//! use ssehub::{Event, Frame};
//!
//! let (a, b) = (Frame::event(&Event::new("a")).unwrap(), Frame::event(&Event::new("b")).unwrap());
//! let mut run = Run::new();
//! run.push(&a);
//! run.push(&b);
//! let at = run.find(&a).unwrap();
//! assert_eq!(run.next_is(at, &b), true);
//! assert_eq!(run.bytes(at..at + 2), b"9\r\ndata: a\n\n\r\n9\r\ndata: b\n\n\r\n");
//! ```

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Range;

use crate::frame::Frame;

/// A worker's recent frames and their chunked bytes, end to end. See the [module docs](self).
#[derive(Debug, Default)]
pub struct Run {
    frames: Vec<Frame>,
    /// Where each frame's bytes start in `bytes`; one more entry, the end.
    starts: Vec<usize>,
    bytes: Vec<u8>,
    /// A frame's index, by the address of its bytes.
    index: HashMap<usize, usize, BuildHasherDefault<AddressHasher>>,
}

impl Run {
    /// The most bytes a run holds before it starts again.
    pub const CAPACITY: usize = 256 << 10;
    /// Frames longer than this are not listed: written alone they already make a long slice.
    pub const LONGEST: usize = 4 << 10;

    /// An empty run.
    pub fn new() -> Run {
        Run::default()
    }

    /// Lists `frame` after the others (starting again when it does not fit).
    pub fn push(&mut self, frame: &Frame) {
        let bytes = frame.chunked();
        if bytes.len() > Run::LONGEST {
            return;
        }
        if self.bytes.len() + bytes.len() > Run::CAPACITY || self.index.contains_key(&address(frame)) {
            self.clear();
        }
        if self.bytes.capacity() == 0 {
            // Once, whole: slices into the buffer never see it move.
            self.bytes.reserve_exact(Run::CAPACITY);
            self.starts.push(0);
        }
        self.index.insert(address(frame), self.frames.len());
        self.frames.push(frame.clone());
        self.bytes.extend_from_slice(bytes);
        self.starts.push(self.bytes.len());
    }

    /// Forgets every frame (keeping the buffer).
    pub fn clear(&mut self) {
        self.frames.clear();
        self.index.clear();
        self.bytes.clear();
        self.starts.clear();
        if self.bytes.capacity() > 0 {
            self.starts.push(0);
        }
    }

    /// Frames listed.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether no frame is listed.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Where `frame` is in the run, if it is listed.
    pub fn find(&self, frame: &Frame) -> Option<usize> {
        self.index.get(&address(frame)).copied()
    }

    /// Whether `frame` is the one listed right after the `at`-th.
    pub fn next_is(&self, at: usize, frame: &Frame) -> bool {
        self.frames.get(at + 1).is_some_and(|f| address(f) == address(frame))
    }

    /// The chunked bytes of frames `frames` (indices), end to end.
    pub fn bytes(&self, frames: Range<usize>) -> &[u8] {
        &self.bytes[self.starts[frames.start]..self.starts[frames.end]]
    }
}

fn address(frame: &Frame) -> usize {
    frame.chunked().as_ptr() as usize
}

/// Hashes an address: allocations are at least 8-byte aligned, and a multiply spreads the rest.
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = ((n as u64) >> 3).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;

    fn ev(s: &str) -> Frame {
        Frame::event(&Event::new(s)).unwrap()
    }

    #[test]
    fn frames_are_found_in_order_and_their_bytes_lie_end_to_end() {
        let frames: Vec<Frame> = (0..5).map(|n| ev(&n.to_string())).collect();
        let mut run = Run::new();
        for f in &frames {
            run.push(f);
        }
        assert_eq!(run.len(), 5);
        for (n, f) in frames.iter().enumerate() {
            assert_eq!(run.find(f), Some(n));
            assert_eq!(run.bytes(n..n + 1), f.chunked());
            assert_eq!(run.next_is(n, &frames[(n + 1) % 5]), n < 4);
        }
        let all: Vec<u8> = frames.iter().flat_map(|f| f.chunked().to_vec()).collect();
        assert_eq!(run.bytes(0..5), all);
    }

    #[test]
    fn equal_bytes_elsewhere_are_not_the_same_frame() {
        let a = ev("a");
        let mut run = Run::new();
        run.push(&a);
        assert_eq!(run.find(&a.own_copy()), None, "found by address, not by content");
        assert_eq!(run.find(&ev("a")), None);
    }

    #[test]
    fn a_full_run_starts_again_and_long_frames_are_not_listed() {
        let mut run = Run::new();
        let long = Frame::event(&Event::new("x".repeat(Run::LONGEST))).unwrap();
        run.push(&long);
        assert!(run.is_empty());
        let frames: Vec<Frame> = (0..Run::CAPACITY / 1000 + 1).map(|_| ev(&"y".repeat(990))).collect();
        for f in &frames {
            run.push(f);
        }
        let last = frames.last().unwrap();
        assert!(run.len() < frames.len(), "started again");
        assert_eq!(run.find(&frames[0]), None);
        let at = run.find(last).unwrap();
        assert_eq!(run.bytes(at..at + 1), last.chunked());
        assert!(run.bytes.capacity() == Run::CAPACITY, "the buffer never grew");
    }

    #[test]
    fn a_frame_pushed_again_starts_the_run_again() {
        // A frame listed twice would have two places; the run keeps one.
        let (a, b) = (ev("a"), ev("b"));
        let mut run = Run::new();
        run.push(&a);
        run.push(&b);
        run.push(&a);
        assert_eq!((run.len(), run.find(&a), run.find(&b)), (1, Some(0), None));
    }
}
