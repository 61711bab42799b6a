//! [`Frame`]: encoded bytes shared by every connection that sends them.
//!
//! Encode once, fan out bytes: a publish encodes its event a single time into a `Frame` (an
//! `Arc<[u8]>`), and every connection that sends it queues a reference to the same bytes, the
//! replay logs keep one too. The frame holds the HTTP/1.1 chunk framing around the event block,
//! so a chunked stream writes it as it is and a close-delimited (HTTP/1.0) one writes the block
//! inside: two views of one allocation, never a copy per connection.

use std::sync::Arc;

use crate::error::EncodeError;
use crate::event::Event;
use crate::frame::encode::{encode_comment, encode_validated, encoded_len};

/// Immutable encoded bytes, cheap to clone.
///
/// An event frame is `<hex length>\r\n<block>\r\n`: [`Frame::chunked`] is all of it, and
/// [`Frame::block`] the event block alone. A raw frame (a response) is the same in both views.
/// A frame may be of any length: both views are exact (see the fields).
#[derive(Clone, Debug)]
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
    /// The block dispatches an event at the client (it has `data`): what a stream's access log
    /// counts as an event sent. (A byte of the padding: the struct stays three words.)
    event: bool,
}

/// Frames are equal when their bytes and framing are; whether one counts as an event is a
/// note about where it came from, not part of what is sent.
impl PartialEq for Frame {
    fn eq(&self, other: &Frame) -> bool {
        self.bytes == other.bytes && self.head == other.head && self.tail == other.tail
    }
}

impl Eq for Frame {}

/// The longest chunk-size line: the hex digits of the largest `usize`, then CRLF.
const MAX_CHUNK_HEAD: usize = 2 * size_of::<usize>() + 2;
const _: () = assert!(MAX_CHUNK_HEAD <= u8::MAX as usize);

impl Frame {
    /// Encodes `event` once, inside HTTP/1.1 chunk framing.
    ///
    /// ```
    /// let f = ssehub::Frame::event(&ssehub::Event::new("hi")).unwrap();
    /// assert_eq!(f.block(), b"data: hi\n\n");
    /// assert_eq!(f.chunked(), b"a\r\ndata: hi\n\n\r\n");
    /// ```
    pub fn event(event: &Event) -> Result<Frame, EncodeError> {
        event.validate()?;
        Ok(Frame::event_validated(event))
    }

    /// Encodes `event`, which the caller has validated already (once per publish: see
    /// [`Event::validate`]).
    pub(crate) fn event_validated(event: &Event) -> Frame {
        let len = encoded_len(event);
        let mut buf = chunk_start(len);
        encode_validated(event, &mut buf);
        let mut frame = Frame::finish_chunk(buf, len);
        frame.event = event.data.is_some();
        frame
    }

    /// A comment-only frame (`:text`), such as the first `:ok` or a keep-alive.
    pub fn comment(text: &str) -> Frame {
        let mut block = Vec::new();
        encode_comment(text, &mut block);
        let mut frame = Frame::block_bytes(&block);
        frame.event = false;
        frame
    }

    /// A frame around an already encoded event block (or several; it counts as one event sent).
    ///
    /// An empty block makes an empty frame, which queues write nothing: as a chunk it would be
    /// `0\r\n\r\n`, the end of the response body.
    pub fn block_bytes(block: &[u8]) -> Frame {
        if block.is_empty() {
            return Frame::raw(Vec::new());
        }
        let mut buf = chunk_start(block.len());
        buf.extend_from_slice(block);
        let mut frame = Frame::finish_chunk(buf, block.len());
        frame.event = true;
        frame
    }

    /// Bytes sent as they are on every connection (a response head or body).
    pub fn raw(bytes: Vec<u8>) -> Frame {
        Frame { bytes: bytes.into(), head: 0, tail: 0, event: false }
    }

    /// `buf` is a chunk-size line (from [`chunk_start`]) then a block of `block_len` bytes.
    fn finish_chunk(mut buf: Vec<u8>, block_len: usize) -> Frame {
        let head = buf.len() - block_len;
        debug_assert!(head <= MAX_CHUNK_HEAD);
        buf.extend_from_slice(b"\r\n");
        // At most MAX_CHUNK_HEAD, which fits a byte (asserted at compile time): no truncation.
        Frame { bytes: buf.into(), head: head as u8, tail: 2, event: false }
    }

    /// Whether the frame dispatches an event at the client: an event with `data` (or a block
    /// given to [`Frame::block_bytes`]), not a comment, a `retry`-only block or a raw answer.
    ///
    /// ```
    /// use ssehub::{Event, Frame};
    /// assert!(Frame::event(&Event::new("hi")).unwrap().is_event());
    /// assert!(!Frame::comment("ok").is_event());
    /// assert!(!Frame::event(&Event::default().retry(1000)).unwrap().is_event());
    /// ```
    pub fn is_event(&self) -> bool {
        self.event
    }

    /// The bytes for a chunked (HTTP/1.1) stream.
    pub fn chunked(&self) -> &[u8] {
        &self.bytes
    }

    /// The bytes for a close-delimited (HTTP/1.0) stream.
    pub fn block(&self) -> &[u8] {
        &self.bytes[usize::from(self.head)..self.bytes.len() - usize::from(self.tail)]
    }

    /// The bytes for a chunked (`true`) or close-delimited (`false`) stream.
    pub(crate) fn view(&self, chunked: bool) -> &[u8] {
        if chunked { self.chunked() } else { self.block() }
    }

    /// The same frame in an allocation of its own, for another worker thread.
    ///
    /// Every queue that holds a frame increments its reference count and every write that sends
    /// it decrements it: thousands of times per event on each worker. Workers sharing one count
    /// would bounce its cache line between their cores on each of them, so each worker gets its
    /// own copy: one allocation per worker per event, still none per connection.
    pub(crate) fn own_copy(&self) -> Frame {
        Frame { bytes: Arc::from(&*self.bytes), ..*self }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_copy_is_the_same_frame_in_other_bytes() {
        let f = Frame::event(&Event::new("hi").id("7")).unwrap();
        let c = f.own_copy();
        assert_eq!(c, f);
        assert_eq!((c.block(), c.is_event()), (f.block(), true));
        assert!(!std::ptr::eq(c.chunked().as_ptr(), f.chunked().as_ptr()), "a count of its own");
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
    fn invalid_event_makes_no_frame() {
        assert_eq!(Frame::event(&Event::new("x").id("a\nb")), Err(EncodeError::NewlineInId));
    }
}
