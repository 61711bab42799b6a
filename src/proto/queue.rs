//! [`Frame`]: encoded bytes shared by every connection that sends them, and [`OutQueue`], one
//! connection's bounded queue of frames.
//!
//! Encode once, fan out bytes: a broadcast encodes its event a single time into a `Frame`
//! (an `Arc<[u8]>`, so queueing it on a connection is a reference-count increment, not a copy).
//! The frame holds the HTTP/1.1 chunk framing around the event block; connections that stream
//! close-delimited (HTTP/1.0) take the block without it. A connection writes the whole front of
//! its queue with one vectored write.
//!
//! Two bounds hold what may wait: each queue's own (a client that does not read is dropped past
//! it), and a [`QueuePool`] shared by the queues of one worker thread, so that many slow clients
//! together cannot take much more than the pool allows either: once it is full, a queue holding
//! more than an even share of it takes nothing more (its client is dropped), while one holding
//! less goes on (a client that reads is not punished for those that do not). The pool thus holds
//! at most about twice its limit: what the queues over their share hold is within the limit,
//! and each of the others holds at most its share.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::EncodeError;
use crate::event::Event;
use crate::frame::encode::{encode, encode_comment, encoded_len};

/// Immutable encoded bytes, cheap to clone.
///
/// An event frame is `<hex length>\r\n<block>\r\n`: [`Frame::chunked`] is all of it, and
/// [`Frame::block`] the event block alone. A raw frame (a response) is the same in both views.
/// A frame may be of any length: both views are exact (see the fields).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    bytes: Arc<[u8]>,
    // The block is `bytes[head..bytes.len() - tail]`. Only the framing's lengths are stored,
    // never the block's: those fit a byte whatever the block's length, where a `u32` offset
    // would wrap past 4 GiB and cut the block short. (Two bytes also keep the struct at three
    // words, the fat pointer and its padding.)
    /// The chunk-size line before the block (`1a\r\n`), at most [`MAX_CHUNK_HEAD`] bytes; 0 for
    /// a raw frame.
    head: u8,
    /// The CRLF after the block: 2, or 0 for a raw frame.
    tail: u8,
}

/// The longest chunk-size line: the hex digits of the largest `usize`, then CRLF.
const MAX_CHUNK_HEAD: usize = 2 * size_of::<usize>() + 2;
const _: () = assert!(MAX_CHUNK_HEAD <= u8::MAX as usize);

impl Frame {
    /// Encodes `event` once, inside HTTP/1.1 chunk framing.
    ///
    /// ```
    /// let f = ssehub::proto::Frame::event(&ssehub::Event::new("hi")).unwrap();
    /// assert_eq!(f.block(), b"data: hi\n\n");
    /// assert_eq!(f.chunked(), b"a\r\ndata: hi\n\n\r\n");
    /// ```
    pub fn event(event: &Event) -> Result<Frame, EncodeError> {
        event.validate()?;
        let len = encoded_len(event);
        let mut buf = chunk_start(len);
        encode(event, &mut buf)?;
        Ok(Frame::finish_chunk(buf, len))
    }

    /// A comment-only frame (`:text`), such as the first `:ok` or a keep-alive.
    pub fn comment(text: &str) -> Frame {
        let mut block = Vec::new();
        encode_comment(text, &mut block);
        Frame::block_bytes(&block)
    }

    /// A frame around an already encoded event block (or several).
    ///
    /// An empty block makes an empty frame, which queues write nothing: as a chunk it would be
    /// `0\r\n\r\n`, the end of the response body.
    pub fn block_bytes(block: &[u8]) -> Frame {
        if block.is_empty() {
            return Frame::raw(Vec::new());
        }
        let mut buf = chunk_start(block.len());
        buf.extend_from_slice(block);
        Frame::finish_chunk(buf, block.len())
    }

    /// Bytes sent as they are on every connection (a response head or body).
    pub fn raw(bytes: Vec<u8>) -> Frame {
        Frame { bytes: bytes.into(), head: 0, tail: 0 }
    }

    /// `buf` is a chunk-size line (from [`chunk_start`]) then a block of `block_len` bytes.
    fn finish_chunk(mut buf: Vec<u8>, block_len: usize) -> Frame {
        let head = buf.len() - block_len;
        debug_assert!(head <= MAX_CHUNK_HEAD);
        buf.extend_from_slice(b"\r\n");
        // At most MAX_CHUNK_HEAD, which fits a byte (asserted at compile time): no truncation.
        Frame { bytes: buf.into(), head: head as u8, tail: 2 }
    }

    /// The bytes for a chunked (HTTP/1.1) stream.
    pub fn chunked(&self) -> &[u8] {
        &self.bytes
    }

    /// The bytes for a close-delimited (HTTP/1.0) stream.
    pub fn block(&self) -> &[u8] {
        &self.bytes[usize::from(self.head)..self.bytes.len() - usize::from(self.tail)]
    }

    fn view(&self, chunked: bool) -> &[u8] {
        if chunked { self.chunked() } else { self.block() }
    }
}

/// The chunk-size line of a block of `block_len` bytes: its length in hex, then CRLF.
fn chunk_head(block_len: usize) -> String {
    format!("{block_len:x}\r\n")
}

fn chunk_start(block_len: usize) -> Vec<u8> {
    let head = chunk_head(block_len);
    let mut buf = Vec::with_capacity(head.len() + block_len + 2);
    buf.extend_from_slice(head.as_bytes());
    buf
}

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

#[derive(Debug)]
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
    frames: VecDeque<Frame>,
    /// Bytes of the front frame already written.
    offset: usize,
    queued: usize,
    limit: usize,
    chunked: bool,
    pool: QueuePool,
}

impl OutQueue {
    /// An empty queue bounded to `limit` bytes, in a pool of its own.
    pub fn new(limit: usize) -> OutQueue {
        OutQueue::in_pool(limit, QueuePool::new(usize::MAX))
    }

    /// An empty queue bounded to `limit` bytes, counted in `pool` too.
    pub fn in_pool(limit: usize, pool: QueuePool) -> OutQueue {
        pool.join();
        OutQueue { frames: VecDeque::new(), offset: 0, queued: 0, limit, chunked: false, pool }
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
        let mut n = 0;
        for (i, frame) in self.frames.iter().take(slices.len()).enumerate() {
            let bytes = frame.view(self.chunked);
            slices[i] = IoSlice::new(if i == 0 { &bytes[self.offset..] } else { bytes });
            n += 1;
        }
        n
    }

    /// Drops `written` bytes from the front (after a write took them).
    pub fn advance(&mut self, mut written: usize) {
        let taken = written.min(self.queued);
        self.queued -= taken;
        self.pool.sub(taken);
        while let Some(front) = self.frames.front() {
            let left = front.view(self.chunked).len() - self.offset;
            if written < left {
                self.offset += written;
                return;
            }
            written -= left;
            self.offset = 0;
            self.frames.pop_front();
        }
        // An emptied queue gives its buffer back: idle connections hold no queue memory.
        self.frames = VecDeque::new();
    }

    /// Drops everything queued.
    pub fn clear(&mut self) {
        self.pool.sub(self.queued);
        self.frames = VecDeque::new();
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

    fn drain(q: &mut OutQueue, step: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while !q.is_empty() {
            let mut slices = [IoSlice::new(&[]); 4];
            let n = q.io_slices(&mut slices);
            let mut all: Vec<u8> = slices[..n].iter().flat_map(|s| s.iter().copied()).collect();
            all.truncate(step);
            out.extend_from_slice(&all);
            q.advance(all.len());
        }
        out
    }

    #[test]
    fn chunked_and_bare_views() {
        let f = Frame::event(&Event::new("x").id("1")).unwrap();
        assert_eq!(f.chunked(), b"f\r\nid: 1\ndata: x\n\n\r\n");
        assert_eq!(f.block(), b"id: 1\ndata: x\n\n");
        let r = Frame::raw(b"HTTP".to_vec());
        assert_eq!((r.chunked(), r.block()), (&b"HTTP"[..], &b"HTTP"[..]));
    }

    #[test]
    fn views_are_exact_for_every_length() {
        for len in [1, 9, 15, 16, 17, 255, 256, 4095, 4096, 65_537, 1 << 20] {
            let block: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let f = Frame::block_bytes(&block);
            assert_eq!(f.block(), block, "{len}");
            assert_eq!(f.chunked(), [format!("{len:x}\r\n").as_bytes(), &block, b"\r\n"].concat(), "{len}");
            let r = Frame::raw(block.clone());
            assert_eq!((r.block(), r.chunked()), (&block[..], &block[..]));
        }
    }

    /// A block of 4 GiB or more is framed as exactly as any other: nothing stores its length
    /// but the slice itself. What could go wrong is the chunk-size line, checked here up to the
    /// largest length without allocating it.
    #[test]
    fn chunk_head_of_any_length_fits_the_frame() {
        assert_eq!(chunk_head(0xa), "a\r\n");
        assert_eq!(chunk_head(u32::MAX as usize), "ffffffff\r\n");
        assert_eq!(chunk_head(1 << 32), "100000000\r\n");
        assert_eq!(chunk_head(usize::MAX).len(), MAX_CHUNK_HEAD);
        assert!(size_of::<Frame>() <= 3 * size_of::<usize>(), "a queued frame costs three words");
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
        }
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

    #[test]
    fn invalid_event_makes_no_frame() {
        assert_eq!(Frame::event(&Event::new("x").id("a\nb")), Err(EncodeError::NewlineInId));
    }
}
