//! What an HTTP/2 connection has decided to send, in wire order, and its vectored writes.
//!
//! Frames leave in two steps. Control frames (`SETTINGS`, acknowledgements, `WINDOW_UPDATE`,
//! `RST_STREAM`, `GOAWAY`) and response `HEADERS` are encoded into [`Output::control`] as they
//! are decided; HPACK requires header blocks on the wire in the order they were encoded, and a
//! stream's `HEADERS` must precede its `DATA`, both of which one FIFO buffer gives for free.
//! Stream bodies wait in their streams' queues until the connection *commits* a round: the
//! control bytes first, then `DATA` frames cut from the queues as far as the flow-control
//! windows allow. A committed `DATA` frame is a 9-byte header followed by references to the
//! shared event bytes ([`Piece::Data`]), never a copy: encode once, fan out bytes.
//!
//! Once committed, a frame is on its way: windows are charged and the pieces are written in
//! order, however the socket cuts the writes. A new round is committed only when the last one
//! is written, so what waits here is one round at most.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::ops::Range;

use crate::h2::frame::{HEAD_LEN, data_header};
use crate::proto::Frame;
use crate::proto::queue::OutQueue;

/// How many slices one vectored write gathers.
const MAX_IOVECS: usize = 64;

/// One contiguous part of the committed output.
#[derive(Debug)]
pub(crate) enum Piece {
    /// Control frames and header blocks, encoded.
    Bytes(Vec<u8>),
    /// A `DATA` frame's header.
    Head([u8; HEAD_LEN]),
    /// Part of a queued frame's bytes, as a `DATA` payload.
    Data(Frame, Range<usize>),
}

impl Piece {
    fn bytes(&self) -> &[u8] {
        match self {
            Piece::Bytes(b) => b,
            Piece::Head(h) => h,
            Piece::Data(f, r) => &f.block()[r.clone()],
        }
    }
}

/// The output of one connection.
#[derive(Debug, Default)]
pub(crate) struct Output {
    /// Control frames and header blocks not yet committed.
    pub(crate) control: Vec<u8>,
    /// Committed pieces, in wire order.
    pieces: VecDeque<Piece>,
    /// Bytes of the front piece already written.
    offset: usize,
    /// Bytes committed and not yet written.
    committed: usize,
}

impl Output {
    /// Whether a round is committed and not all written.
    pub(crate) fn has_committed(&self) -> bool {
        !self.pieces.is_empty()
    }

    /// Bytes waiting in the output (control and committed), not counting stream queues.
    pub(crate) fn backlog(&self) -> usize {
        self.control.len() + self.committed
    }

    /// Commits the control bytes (the start of a round).
    pub(crate) fn commit_control(&mut self) {
        if !self.control.is_empty() {
            let bytes = std::mem::take(&mut self.control);
            self.committed += bytes.len();
            self.pieces.push_back(Piece::Bytes(bytes));
        }
    }

    /// Commits one piece.
    #[cfg(test)]
    pub(crate) fn commit(&mut self, piece: Piece) {
        let len = piece.bytes().len();
        if len > 0 {
            self.committed += len;
            self.pieces.push_back(piece);
        }
    }

    /// Commits one `DATA` frame on `stream_id` of at most `max` octets from the front of
    /// `queue` (by reference), with `END_STREAM` when `end` and the queue is then empty.
    /// Returns the octets taken and whether `END_STREAM` went.
    pub(crate) fn commit_data(
        &mut self,
        stream_id: u32,
        queue: &mut OutQueue,
        max: usize,
        end: bool,
    ) -> (usize, bool) {
        let at = self.pieces.len();
        self.pieces.push_back(Piece::Head([0; HEAD_LEN]));
        let pieces = &mut self.pieces;
        let taken = queue.take_front(max, |f, r| pieces.push_back(Piece::Data(f.clone(), r)));
        let end_stream = end && queue.is_empty();
        // At most `max`, which the caller keeps within the peer's frame size (< 2^24).
        self.pieces[at] = Piece::Head(data_header(stream_id, taken as u32, end_stream));
        self.committed += HEAD_LEN + taken;
        (taken, end_stream)
    }

    /// Writes committed pieces with vectored writes until they are all written or `w` would
    /// block; returns the bytes written (`WouldBlock` is not an error here).
    pub(crate) fn write_to<W: Write>(&mut self, w: &mut W) -> io::Result<usize> {
        let mut total = 0;
        while !self.pieces.is_empty() {
            let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
            let mut n = 0;
            for (i, piece) in self.pieces.iter().take(MAX_IOVECS).enumerate() {
                let bytes = piece.bytes();
                slices[i] = IoSlice::new(if i == 0 { &bytes[self.offset..] } else { bytes });
                n += 1;
            }
            match w.write_vectored(&slices[..n]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => {
                    total += written;
                    self.advance(written);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(total)
    }

    fn advance(&mut self, mut written: usize) {
        self.committed -= written.min(self.committed);
        while let Some(front) = self.pieces.front() {
            let left = front.bytes().len() - self.offset;
            if written < left {
                self.offset += written;
                return;
            }
            written -= left;
            self.offset = 0;
            self.pieces.pop_front();
        }
        self.pieces = VecDeque::new();
    }

    /// Drops everything (the connection is gone).
    pub(crate) fn clear(&mut self) {
        *self = Output::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes at most `cap` bytes a call, then blocks once.
    struct Trickle {
        out: Vec<u8>,
        cap: usize,
        blocked: bool,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.write_vectored(&[IoSlice::new(buf)])
        }
        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            if std::mem::take(&mut self.blocked) {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.blocked = true;
            let all: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).take(self.cap).collect();
            self.out.extend_from_slice(&all);
            Ok(all.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn data_frames_reference_the_queued_bytes() {
        let mut q = OutQueue::new(1 << 20);
        q.push(Frame::raw(b"abc".to_vec())).unwrap();
        q.push(Frame::raw(b"defgh".to_vec())).unwrap();
        let mut o = Output::default();
        assert_eq!(o.commit_data(3, &mut q, 5, true), (5, false));
        assert_eq!(o.commit_data(3, &mut q, 5, true), (3, true));
        assert_eq!(o.commit_data(3, &mut q, 5, true), (0, true), "a bare END_STREAM");
        let mut w = Trickle { out: Vec::new(), cap: 1000, blocked: false };
        o.write_to(&mut w).unwrap();
        let mut want = data_header(3, 5, false).to_vec();
        want.extend_from_slice(b"abcde");
        want.extend_from_slice(&data_header(3, 3, true));
        want.extend_from_slice(b"fgh");
        want.extend_from_slice(&data_header(3, 0, true));
        assert_eq!(w.out, want);
    }

    #[test]
    fn pieces_leave_in_order_however_the_writes_are_cut() {
        let frame = Frame::raw(b"0123456789".to_vec());
        for cap in 1..30 {
            let mut o = Output::default();
            o.control.extend_from_slice(b"ctl");
            o.commit_control();
            o.commit(Piece::Head(*b"HEAD_9byt"));
            o.commit(Piece::Data(frame.clone(), 2..7));
            o.commit(Piece::Data(frame.clone(), 0..0));
            assert_eq!(o.backlog(), 3 + 9 + 5);
            let mut w = Trickle { out: Vec::new(), cap, blocked: false };
            while o.has_committed() {
                o.write_to(&mut w).unwrap();
            }
            assert_eq!(w.out, b"ctlHEAD_9byt23456", "cap {cap}");
            assert_eq!(o.backlog(), 0);
        }
    }
}
