//! The 9-byte frame header every HTTP/2 frame starts with (RFC 9113 §4.1).
//!
//! ```text
//! +-----------------------------------------------+
//! |                 Length (24)                   |
//! +---------------+---------------+---------------+
//! |   Type (8)    |   Flags (8)   |
//! +-+-------------+---------------+-------------------------------+
//! |R|                 Stream Identifier (31)                      |
//! +=+=============================================================+
//! |                   Frame Payload (Length octets)             ...
//! +---------------------------------------------------------------+
//! ```
//!
//! `Length` counts the payload only, not these 9 octets. The reserved bit `R` has no meaning:
//! it is ignored on receipt and sent as 0. This file only reads and writes the header; what the
//! payload means, and which lengths and stream ids a type allows, is [`decode`](super::decode)'s
//! business.

use crate::h2::{MAX_FRAME_SIZE_LIMIT, MAX_STREAM_ID};

/// Octets in a frame header.
pub const HEAD_LEN: usize = 9;

/// The type of a frame (RFC 9113 §6), with unknown types preserved.
///
/// Unknown types are legal: RFC 9113 §4.1 says an endpoint MUST ignore and discard them
/// (extensions use them), so they decode to [`Frame::Unknown`](super::Frame::Unknown).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameType {
    /// `DATA` (0x0): a stream's body octets.
    Data,
    /// `HEADERS` (0x1): opens a stream and carries a header block (fragment).
    Headers,
    /// `PRIORITY` (0x2): the deprecated priority scheme of RFC 7540.
    Priority,
    /// `RST_STREAM` (0x3): ends a stream at once.
    RstStream,
    /// `SETTINGS` (0x4): the sender's configuration, or the acknowledgement of the peer's.
    Settings,
    /// `PUSH_PROMISE` (0x5): a server announces a pushed stream (never sent by clients).
    PushPromise,
    /// `PING` (0x6): a round-trip probe that the peer echoes back.
    Ping,
    /// `GOAWAY` (0x7): the connection is ending.
    GoAway,
    /// `WINDOW_UPDATE` (0x8): more flow-control credit.
    WindowUpdate,
    /// `CONTINUATION` (0x9): the rest of a header block that did not fit one frame.
    Continuation,
    /// A type this implementation does not know.
    Unknown(u8),
}

impl From<u8> for FrameType {
    fn from(byte: u8) -> FrameType {
        match byte {
            0x0 => FrameType::Data,
            0x1 => FrameType::Headers,
            0x2 => FrameType::Priority,
            0x3 => FrameType::RstStream,
            0x4 => FrameType::Settings,
            0x5 => FrameType::PushPromise,
            0x6 => FrameType::Ping,
            0x7 => FrameType::GoAway,
            0x8 => FrameType::WindowUpdate,
            0x9 => FrameType::Continuation,
            other => FrameType::Unknown(other),
        }
    }
}

impl From<FrameType> for u8 {
    fn from(kind: FrameType) -> u8 {
        match kind {
            FrameType::Data => 0x0,
            FrameType::Headers => 0x1,
            FrameType::Priority => 0x2,
            FrameType::RstStream => 0x3,
            FrameType::Settings => 0x4,
            FrameType::PushPromise => 0x5,
            FrameType::Ping => 0x6,
            FrameType::GoAway => 0x7,
            FrameType::WindowUpdate => 0x8,
            FrameType::Continuation => 0x9,
            FrameType::Unknown(other) => other,
        }
    }
}

impl core::fmt::Display for FrameType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            FrameType::Data => "DATA",
            FrameType::Headers => "HEADERS",
            FrameType::Priority => "PRIORITY",
            FrameType::RstStream => "RST_STREAM",
            FrameType::Settings => "SETTINGS",
            FrameType::PushPromise => "PUSH_PROMISE",
            FrameType::Ping => "PING",
            FrameType::GoAway => "GOAWAY",
            FrameType::WindowUpdate => "WINDOW_UPDATE",
            FrameType::Continuation => "CONTINUATION",
            FrameType::Unknown(kind) => return write!(f, "frame type {kind:#x}"),
        })
    }
}

/// Flag bits (RFC 9113 §6). Each is defined only for some frame types; a flag a type does not
/// define is ignored on receipt (RFC 9113 §4.1).
pub mod flags {
    /// `END_STREAM` (DATA, HEADERS): the sender's last frame on this stream.
    pub const END_STREAM: u8 = 0x1;
    /// `ACK` (SETTINGS, PING): an acknowledgement; shares its bit with `END_STREAM`.
    pub const ACK: u8 = 0x1;
    /// `END_HEADERS` (HEADERS, PUSH_PROMISE, CONTINUATION): the header block ends in this frame.
    pub const END_HEADERS: u8 = 0x4;
    /// `PADDED` (DATA, HEADERS, PUSH_PROMISE): a pad length octet leads, padding trails.
    pub const PADDED: u8 = 0x8;
    /// `PRIORITY` (HEADERS): the stream dependency and weight fields are present.
    pub const PRIORITY: u8 = 0x20;
}

/// A decoded frame header.
///
/// ```
/// use ssehub::h2::frame::{FrameType, Head};
///
/// let head = Head { len: 8, kind: FrameType::Ping, flags: 0x1, stream_id: 0 };
/// let bytes = head.encode();
/// assert_eq!(bytes, [0, 0, 8, 6, 1, 0, 0, 0, 0]);
/// assert_eq!(Head::parse(&bytes), head);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// Payload length in octets (24 bits on the wire).
    pub len: u32,
    /// Frame type.
    pub kind: FrameType,
    /// Flag bits, as received (see [`flags`]).
    pub flags: u8,
    /// Stream identifier (31 bits; 0 means the connection itself).
    pub stream_id: u32,
}

impl Head {
    /// Reads a frame header. The reserved bit of the stream id is dropped.
    pub fn parse(bytes: &[u8; HEAD_LEN]) -> Head {
        Head {
            len: u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]),
            kind: FrameType::from(bytes[3]),
            flags: bytes[4],
            stream_id: read_u31([bytes[5], bytes[6], bytes[7], bytes[8]]),
        }
    }

    /// Writes this header.
    ///
    /// # Panics
    /// If `len` is above 2^24 - 1 or `stream_id` above 2^31 - 1: values that cannot be sent,
    /// so the caller has a bug (peer data never reaches here).
    pub fn encode(&self) -> [u8; HEAD_LEN] {
        assert!(self.len <= MAX_FRAME_SIZE_LIMIT, "frame length {} exceeds 2^24 - 1", self.len);
        assert!(self.stream_id <= MAX_STREAM_ID, "stream id {} exceeds 2^31 - 1", self.stream_id);
        let len = self.len.to_be_bytes();
        let id = self.stream_id.to_be_bytes();
        [len[1], len[2], len[3], u8::from(self.kind), self.flags, id[0], id[1], id[2], id[3]]
    }

    /// Whether `flag` (one of [`flags`]) is set.
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// A 31-bit value (stream id, window increment) from four octets, the reserved top bit dropped.
pub(super) fn read_u31(bytes: [u8; 4]) -> u32 {
    u32::from_be_bytes(bytes) & 0x7fff_ffff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields_are_big_endian() {
        let head = Head::parse(&[0x12, 0x34, 0x56, 0x01, 0x25, 0x00, 0x00, 0x01, 0x02]);
        assert_eq!(head, Head { len: 0x123456, kind: FrameType::Headers, flags: 0x25, stream_id: 0x102 });
        assert!(head.has(flags::END_STREAM) && head.has(flags::END_HEADERS) && head.has(flags::PRIORITY));
        assert!(!head.has(flags::PADDED));
    }

    #[test]
    fn the_reserved_bit_is_ignored() {
        let head = Head::parse(&[0, 0, 0, 0, 0, 0x80, 0, 0, 3]);
        assert_eq!(head.stream_id, 3);
        let head = Head::parse(&[0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(head.stream_id, 0x7fff_ffff);
        assert_eq!(head.encode()[5], 0x7f, "sent as 0");
    }

    #[test]
    fn every_type_round_trips() {
        for byte in 0..=255u8 {
            assert_eq!(u8::from(FrameType::from(byte)), byte);
        }
        assert_eq!(FrameType::from(0xa), FrameType::Unknown(0xa));
        assert_eq!(FrameType::GoAway.to_string(), "GOAWAY");
        assert_eq!(FrameType::Unknown(0xfa).to_string(), "frame type 0xfa");
    }

    #[test]
    fn largest_length_and_stream_id_encode() {
        let head = Head { len: (1 << 24) - 1, kind: FrameType::Data, flags: 0, stream_id: (1 << 31) - 1 };
        assert_eq!(Head::parse(&head.encode()), head);
    }

    #[test]
    #[should_panic(expected = "exceeds 2^24 - 1")]
    fn a_length_that_does_not_fit_24_bits_is_a_caller_bug() {
        let _ = Head { len: 1 << 24, kind: FrameType::Data, flags: 0, stream_id: 1 }.encode();
    }
}
