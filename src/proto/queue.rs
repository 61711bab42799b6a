//! [`OutQueue`], one connection's bounded queue of [`Frame`]s (see [`crate::frame::shared`]).
//!
//! Queueing a frame is a reference-count increment, not a copy: every connection's queue holds
//! the same bytes. A connection that streams chunked (HTTP/1.1) writes each frame's chunked view,
//! one that streams close-delimited (HTTP/1.0) its bare block. A connection writes the whole
//! front of its queue with one vectored write.
//!
//! Two bounds hold what may wait: each queue's own (a client that does not read is dropped past
//! it), and a [`QueuePool`] shared by the queues of one worker thread, so that many slow clients
//! together cannot take much more than the pool allows either: once it is full, a queue holding
//! more than an even share of it takes nothing more (its client is dropped), while one holding
//! less goes on (a client that reads is not punished for those that do not). The pool thus holds
//! at most about twice its limit: what the queues over their share hold is within the limit,
//! and each of the others holds at most its share.

use std::io::IoSlice;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub use crate::frame::Frame;
use crate::proto::frame_deque::FrameDeque;
use crate::proto::run::Run;
use crate::proto::stream_end::Sent;

/// A queue push that would pass the connection's bound; the frame was not queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overflow {
    /// Bytes queued when the push was refused.
    pub queued: usize,
    /// The bound.
    pub limit: usize,
}

/// The bytes queued by a group of connections together, and their bound.
///
/// Clones share one count. The count is kept by one thread (a worker's, whose connections share
/// the pool) with plain loads and stores rather than atomic read-modify-writes, which would cost
/// on every queued frame; other threads may read it (the metrics). Queues on different threads
/// must not share a pool: their counts would race (no memory error, only a wrong count).
#[derive(Clone, Debug)]
pub struct QueuePool(Arc<PoolCounts>);

// Aligned to 128 bytes (two cache lines, for the adjacent-line prefetcher): each worker's pool is
// written on every frame queued and written, and pools allocated one after the other would
// otherwise share a line and bounce it between the workers' cores.
#[derive(Debug)]
#[repr(align(128))]
struct PoolCounts {
    used: AtomicUsize,
    /// Queues in the pool.
    queues: AtomicUsize,
    limit: usize,
}

impl QueuePool {
    /// A pool of at most `limit` bytes.
    pub fn new(limit: usize) -> QueuePool {
        QueuePool(Arc::new(PoolCounts { used: AtomicUsize::new(0), queues: AtomicUsize::new(0), limit }))
    }

    /// An even share of the limit among the queues in the pool.
    pub fn share(&self) -> usize {
        self.0.limit / self.0.queues.load(Ordering::Relaxed).max(1)
    }

    /// Bytes queued in all the pool's queues.
    pub fn used(&self) -> usize {
        self.0.used.load(Ordering::Relaxed)
    }

    /// The bound.
    pub fn limit(&self) -> usize {
        self.0.limit
    }

    /// Bytes that may still be queued.
    pub fn room(&self) -> usize {
        self.0.limit.saturating_sub(self.used())
    }

    fn add(&self, n: usize) {
        self.0.used.store(self.used() + n, Ordering::Relaxed);
    }

    fn sub(&self, n: usize) {
        self.0.used.store(self.used().saturating_sub(n), Ordering::Relaxed);
    }

    fn join(&self) {
        let queues = &self.0.queues;
        queues.store(queues.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    fn leave(&self) {
        let queues = &self.0.queues;
        queues.store(queues.load(Ordering::Relaxed).saturating_sub(1), Ordering::Relaxed);
    }
}

/// The frames waiting to be written to one connection, at most `limit` bytes (and what its
/// [`QueuePool`] has room for).
///
/// An empty queue holds no heap memory: idle connections cost only the struct.
#[derive(Debug)]
pub struct OutQueue {
    frames: FrameDeque,
    /// Bytes of the front frame already written.
    offset: usize,
    queued: usize,
    limit: usize,
    chunked: bool,
    pool: QueuePool,
    /// What has left the queue for the socket, for the access log.
    sent: Sent,
}

impl OutQueue {
    /// An empty queue bounded to `limit` bytes, in a pool of its own.
    pub fn new(limit: usize) -> OutQueue {
        OutQueue::in_pool(limit, QueuePool::new(usize::MAX))
    }

    /// An empty queue bounded to `limit` bytes, counted in `pool` too.
    pub fn in_pool(limit: usize, pool: QueuePool) -> OutQueue {
        pool.join();
        OutQueue {
            frames: FrameDeque::default(),
            offset: 0,
            queued: 0,
            limit,
            chunked: false,
            pool,
            sent: Sent::default(),
        }
    }

    /// From now on, event frames go out chunk-framed (`true`) or bare (`false`).
    pub fn set_chunked(&mut self, chunked: bool) {
        self.chunked = chunked;
    }

    /// Queues `frame`, unless that would pass the bound.
    ///
    /// An empty queue takes any one frame, so an event larger than the bound still reaches a
    /// client that keeps up; the queue thus holds at most `limit` bytes or one frame.
    pub fn push(&mut self, frame: Frame) -> Result<(), Overflow> {
        if self.would_overflow(&frame) {
            return Err(Overflow { queued: self.queued, limit: self.limit });
        }
        self.push_unbounded(frame);
        Ok(())
    }

    /// Whether [`OutQueue::push`] would refuse `frame` now: the queue is not empty, and the frame
    /// passes its bound, or the pool's while this queue holds more than its share of the pool.
    pub fn would_overflow(&self, frame: &Frame) -> bool {
        let len = frame.view(self.chunked).len();
        let after = self.queued + len;
        !self.frames.is_empty()
            && (after > self.limit || (len > self.pool.room() && after > self.pool.share()))
    }

    /// Queues `frame` whatever the bound: the server's own heads, answers and replay batches
    /// (sized to the room left). (The connection stops reading requests while answers fill the
    /// queue, so a client cannot multiply them without reading.)
    pub fn push_unbounded(&mut self, frame: Frame) {
        let len = frame.view(self.chunked).len();
        // An empty slice would make a vectored write return 0, which means a dead socket.
        if len > 0 {
            self.queued += len;
            self.pool.add(len);
            self.frames.push_back(frame);
        }
    }

    /// Whether event frames go out chunk-framed.
    pub fn is_chunked(&self) -> bool {
        self.chunked
    }

    /// Bytes waiting.
    pub fn queued_bytes(&self) -> usize {
        self.queued
    }

    /// The queue's own bound.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Events and bytes that have left the queue (written, or taken into HTTP/2 `DATA`) since
    /// it was made, or since [`OutQueue::reset_sent`].
    pub fn sent(&self) -> Sent {
        self.sent
    }

    /// Counts what is sent from zero again (from the start of a stream on a connection that
    /// answered requests before it).
    pub fn reset_sent(&mut self) {
        self.sent = Sent::default();
    }

    /// The pool the queue counts in.
    pub fn pool(&self) -> &QueuePool {
        &self.pool
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Fills `slices` with the front of the queue; returns how many it filled.
    pub fn io_slices<'a>(&'a self, slices: &mut [IoSlice<'a>]) -> usize {
        self.io_slices_in(slices, None)
    }

    /// As [`OutQueue::io_slices`], but frames that follow one another in `run` (when given, and
    /// the queue is chunked) fill one slice of the run's bytes together: the same bytes in
    /// fewer slices (see [`crate::proto::run`]).
    pub fn io_slices_in<'a>(&'a self, slices: &mut [IoSlice<'a>], run: Option<&'a Run>) -> usize {
        // One frame makes one slice either way: no lookup for it (most writes at low rates).
        let run = run.filter(|r| self.chunked && self.frames.len() > 1 && !r.is_empty());
        let mut n = 0;
        // The run's frames that the last slice holds (when it is the run's), and the bytes of
        // the first of them already written.
        let mut open: Option<(std::ops::Range<usize>, usize)> = None;
        for (i, frame) in self.frames.iter().enumerate() {
            let skip = if i == 0 { self.offset } else { 0 };
            if let (Some(run), Some((frames, first_skip))) = (run, &mut open) {
                if run.next_is(frames.end - 1, frame) {
                    frames.end += 1;
                    slices[n - 1] = IoSlice::new(&run.bytes(frames.clone())[*first_skip..]);
                    continue;
                }
            }
            if n == slices.len() {
                break;
            }
            let at = run.and_then(|r| r.find(frame).map(|at| (r, at)));
            open = at.map(|(_, at)| (at..at + 1, skip));
            let bytes = match at {
                Some((run, at)) => run.bytes(at..at + 1),
                None => frame.view(self.chunked),
            };
            slices[n] = IoSlice::new(&bytes[skip..]);
            n += 1;
        }
        n
    }

    /// Drops `written` bytes from the front (after a write took them).
    pub fn advance(&mut self, mut written: usize) {
        let taken = written.min(self.queued);
        self.queued -= taken;
        self.pool.sub(taken);
        self.sent.bytes += taken as u64;
        while let Some(front) = self.frames.front() {
            let left = front.view(self.chunked).len() - self.offset;
            if written < left {
                self.offset += written;
                return;
            }
            written -= left;
            self.offset = 0;
            self.sent.events = self.sent.events.saturating_add(u32::from(front.is_event()));
            self.frames.pop_front();
        }
    }

    /// Takes up to `max` bytes off the front without copying them: `part` gets each frame they
    /// lie in and the range of its bytes taken (of the view the queue writes). Returns the bytes
    /// taken. This is how an HTTP/2 connection puts queued frames behind `DATA` headers: the
    /// bytes leave the queue (and its bound) once framed, by reference.
    pub fn take_front(&mut self, max: usize, mut part: impl FnMut(&Frame, std::ops::Range<usize>)) -> usize {
        let mut taken = 0;
        while taken < max {
            let Some(front) = self.frames.front() else { break };
            let len = front.view(self.chunked).len();
            let n = (len - self.offset).min(max - taken);
            part(front, self.offset..self.offset + n);
            taken += n;
            if self.offset + n == len {
                self.offset = 0;
                self.sent.events = self.sent.events.saturating_add(u32::from(front.is_event()));
                self.frames.pop_front();
            } else {
                self.offset += n;
            }
        }
        self.queued -= taken;
        self.pool.sub(taken);
        self.sent.bytes += taken as u64;
        taken
    }

    /// Drops everything queued.
    pub fn clear(&mut self) {
        self.pool.sub(self.queued);
        self.frames.clear();
        self.offset = 0;
        self.queued = 0;
    }
}

impl Drop for OutQueue {
    fn drop(&mut self) {
        self.pool.sub(self.queued);
        self.pool.leave();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;

    fn drain(q: &mut OutQueue, step: usize) -> Vec<u8> {
        drain_in(q, step, None).0
    }

    /// Drains `q` `step` bytes at a time, its slices taken with `run`; returns the bytes and
    /// the number of slices.
    fn drain_in(q: &mut OutQueue, step: usize, run: Option<&Run>) -> (Vec<u8>, usize) {
        let mut out = Vec::new();
        let mut count = 0;
        while !q.is_empty() {
            let mut slices = [IoSlice::new(&[]); 4];
            let n = q.io_slices_in(&mut slices, run);
            count += n;
            let mut all: Vec<u8> = slices[..n].iter().flat_map(|s| s.iter().copied()).collect();
            all.truncate(step);
            out.extend_from_slice(&all);
            q.advance(all.len());
        }
        (out, count)
    }

    proptest::proptest! {
        /// Whatever the run lists, the queue writes the same bytes through it, split anywhere,
        /// in no more slices; frames listed one after the other go out as one slice.
        #[test]
        fn a_run_changes_the_slices_not_the_bytes(
            picks in proptest::collection::vec((0usize..12, proptest::bool::ANY), 0..30),
            listed in proptest::collection::vec(proptest::bool::ANY, 12),
            step in 1usize..200,
        ) {
            let frames: Vec<Frame> = (0..12).map(|n| Frame::event(&Event::new(format!("event {n}"))).unwrap()).collect();
            let mut run = Run::new();
            for (f, _) in frames.iter().zip(&listed).filter(|(_, l)| **l) {
                run.push(f);
            }
            let fill = |q: &mut OutQueue| {
                for &(n, raw) in &picks {
                    if raw {
                        q.push_unbounded(Frame::raw(format!("raw {n};").into_bytes()));
                    } else {
                        q.push_unbounded(frames[n].clone());
                    }
                }
            };
            let (mut plain, mut merged) = (OutQueue::new(1 << 20), OutQueue::new(1 << 20));
            plain.set_chunked(true);
            merged.set_chunked(true);
            fill(&mut plain);
            fill(&mut merged);
            let (want, slices) = drain_in(&mut plain, step, None);
            let (got, fewer) = drain_in(&mut merged, step, Some(&run));
            proptest::prop_assert_eq!(got, want);
            proptest::prop_assert!(fewer <= slices);
        }
    }

    #[test]
    fn consecutive_frames_of_the_run_go_out_as_one_slice() {
        let frames: Vec<Frame> = (0..6).map(|n| Frame::event(&Event::new(n.to_string())).unwrap()).collect();
        let mut run = Run::new();
        for f in &frames[..5] {
            run.push(f);
        }
        let mut q = OutQueue::new(1 << 20);
        q.set_chunked(true);
        // 0 1 2, then 4 (3 skipped: another channel's), then 5 (not listed), then 1 again.
        for n in [0, 1, 2, 4, 5, 1] {
            q.push(frames[n].clone()).unwrap();
        }
        let lens = |q: &OutQueue| {
            let mut slices = [IoSlice::new(&[]); 8];
            let n = q.io_slices_in(&mut slices, Some(&run));
            slices[..n].iter().map(|s| s.len()).collect::<Vec<usize>>()
        };
        let one = frames[0].chunked().len();
        assert_eq!(lens(&q), [3 * one, one, one, one]);
        // Written partly, the rest still starts within the run.
        q.advance(one + 2);
        assert_eq!(lens(&q), [2 * one - 2, one, one, one]);
        // Not chunked: the run's bytes are chunked ones, so it is not used.
        let mut bare = OutQueue::new(1 << 20);
        bare.push(frames[0].clone()).unwrap();
        bare.push(frames[1].clone()).unwrap();
        let block = frames[0].block().len();
        assert_eq!(lens(&bare), [block, block]);
    }

    #[test]
    fn partial_writes_resume_where_they_stopped() {
        for step in 1..40 {
            let mut q = OutQueue::new(1 << 20);
            q.set_chunked(true);
            q.push(Frame::raw(b"head;".to_vec())).unwrap();
            q.push(Frame::comment("ok")).unwrap();
            q.push(Frame::event(&Event::new("a")).unwrap()).unwrap();
            assert_eq!(q.queued_bytes(), 5 + 10 + 14);
            assert_eq!(drain(&mut q, step), b"head;5\r\n:ok\n\n\r\n9\r\ndata: a\n\n\r\n");
            assert_eq!(q.queued_bytes(), 0);
            assert_eq!(q.sent(), Sent { events: 1, bytes: 29 }, "the event counted once, whole");
        }
    }

    #[test]
    fn take_front_hands_out_ranges_of_the_frames_in_order() {
        let pool = QueuePool::new(1000);
        let mut q = OutQueue::in_pool(100, pool.clone());
        q.push(Frame::raw(b"abcd".to_vec())).unwrap();
        q.push(Frame::raw(b"efg".to_vec())).unwrap();
        let mut got = Vec::new();
        for max in [3, 3, 10, 10] {
            let mut parts = Vec::new();
            let n = q.take_front(max, |f, r| parts.extend_from_slice(&f.block()[r]));
            assert_eq!(n, parts.len());
            got.push(parts);
        }
        assert_eq!(got, [b"abc".to_vec(), b"def".to_vec(), b"g".to_vec(), Vec::new()]);
        assert!(q.is_empty());
        assert_eq!((q.queued_bytes(), pool.used()), (0, 0));
    }

    #[test]
    fn bound_refuses_without_queueing() {
        let mut q = OutQueue::new(20);
        q.push(Frame::raw(vec![0; 15])).unwrap();
        assert_eq!(q.push(Frame::raw(vec![0; 6])), Err(Overflow { queued: 15, limit: 20 }));
        assert_eq!(q.queued_bytes(), 15);
        q.push(Frame::raw(vec![0; 5])).unwrap();
    }

    #[test]
    fn an_empty_queue_takes_one_frame_larger_than_the_bound() {
        let mut q = OutQueue::new(20);
        q.push(Frame::raw(vec![0; 50])).unwrap();
        assert!(q.would_overflow(&Frame::raw(vec![0; 1])));
        q.advance(50);
        q.push(Frame::raw(vec![0; 50])).unwrap();
    }

    #[test]
    fn empty_blocks_queue_nothing() {
        let mut q = OutQueue::new(20);
        q.set_chunked(true);
        assert_eq!(Frame::block_bytes(b"").chunked(), b"", "never a zero-size chunk");
        q.push(Frame::block_bytes(b"")).unwrap();
        q.push_unbounded(Frame::raw(Vec::new()));
        assert!(q.is_empty());
        assert_eq!(q.queued_bytes(), 0);
    }

    #[test]
    fn the_pool_bounds_queues_together_and_forgets_what_is_written_dropped_or_cleared() {
        let pool = QueuePool::new(30);
        let mut a = OutQueue::in_pool(100, pool.clone());
        let mut b = OutQueue::in_pool(100, pool.clone());
        a.push(Frame::raw(vec![0; 20])).unwrap();
        b.push(Frame::raw(vec![0; 10])).unwrap();
        assert_eq!((pool.used(), pool.share()), (30, 15));
        assert!(a.push(Frame::raw(vec![0; 1])).is_err(), "the pool is full and a holds more than its share");
        b.push(Frame::raw(vec![0; 4])).unwrap(); // b holds less than its share: it goes on
        assert!(b.push(Frame::raw(vec![0; 2])).is_err(), "past its share too");
        let mut c = OutQueue::in_pool(100, pool.clone());
        c.push(Frame::raw(vec![0; 5])).unwrap();
        assert_eq!(pool.used(), 39, "an empty queue still takes one frame");
        a.advance(15);
        assert_eq!(pool.used(), 24);
        b.clear();
        drop(c);
        assert_eq!((pool.used(), pool.share()), (5, 15));
        a.push(Frame::raw(vec![0; 25])).unwrap();
        drop(a);
        assert_eq!(pool.used(), 0);
    }
}
