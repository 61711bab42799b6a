//! HTTP/2 frames (RFC 9113 §4 and §6): bytes ⇄ [`Frame`] values.
//!
//! Everything on an HTTP/2 connection after the preface is a frame: a 9-byte [`Head`] (payload
//! length, type, flags, stream id), then the payload. This module turns a buffer of received
//! octets into frames and frames back into octets, and enforces every rule that can be checked
//! by looking at one frame alone: the maximum frame size we advertised, which types belong on
//! stream 0 and which on a stream, fixed payload lengths, padding that fits, valid `SETTINGS`
//! values. Rules that need memory of earlier frames (stream states, windows, "`CONTINUATION`
//! must follow `HEADERS`") belong to the connection layer that consumes these frames.
//!
//! ## Decoding
//! [`decode`] is a push parser over the caller's buffer, like `httparse`: it returns `Ok(None)`
//! until a whole frame is there, then the frame (borrowing its payload from the buffer) and the
//! number of octets it used; the caller drops those and calls again. An oversized frame is
//! refused as soon as its header is in, so a peer cannot make us buffer more than our limit.
//!
//! ```
//! use ssehub::h2::frame::{self, Frame, Ping};
//!
//! let wire = [0, 0, 8, 0x6, 0x0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];
//! assert_eq!(frame::decode(&wire[..10], 16_384)?, None, "need more bytes");
//! let (ping, used) = frame::decode(&wire, 16_384)?.expect("a whole frame");
//! assert_eq!(ping, Frame::Ping(Ping { ack: false, data: [1, 2, 3, 4, 5, 6, 7, 8] }));
//! assert_eq!(used, 17);
//! # Ok::<(), ssehub::h2::frame::FrameError>(())
//! ```
//!
//! ## Encoding
//! The `encode_*` functions append a frame to a caller's `Vec<u8>`; [`Frame::encode`] writes
//! any decoded frame back. [`data_header`] returns only the 9 octets of a `DATA` frame, so that
//! one event's bytes, encoded once, can be sent on every stream behind its own header
//! (encode once, fan out).
//!
//! ```
//! use ssehub::h2::frame;
//!
//! let event = b"data: tick\n\n";
//! let head = frame::data_header(5, event.len() as u32, false);
//! assert_eq!(head, [0, 0, 12, 0x0, 0x0, 0, 0, 0, 5]);
//! // then write `head` and `event` with one vectored write
//! ```

mod decode;
mod encode;
mod error;
mod head;
mod settings;

pub use decode::decode;
pub use encode::{
    data_header, encode_data, encode_goaway, encode_headers, encode_ping, encode_ping_ack, encode_rst_stream,
    encode_settings, encode_settings_ack, encode_window_update,
};
pub use error::{FrameError, Violation};
pub use head::{FrameType, HEAD_LEN, Head, flags};
pub use settings::{Setting, Settings, SettingsIter, SettingsValues};

/// Identifiers of the `SETTINGS` parameters (RFC 9113 §6.5.2).
pub mod setting_id {
    pub use super::settings::{
        ENABLE_PUSH, HEADER_TABLE_SIZE, INITIAL_WINDOW_SIZE, MAX_CONCURRENT_STREAMS, MAX_FRAME_SIZE,
        MAX_HEADER_LIST_SIZE,
    };
}

use crate::h2::ErrorCode;

/// A decoded frame, borrowing its variable-length parts from the input buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// `DATA`.
    Data(Data<'a>),
    /// `HEADERS`.
    Headers(Headers<'a>),
    /// `PRIORITY`.
    Priority(Priority),
    /// `RST_STREAM`.
    RstStream(RstStream),
    /// `SETTINGS`.
    Settings(Settings<'a>),
    /// `PUSH_PROMISE`.
    PushPromise(PushPromise<'a>),
    /// `PING`.
    Ping(Ping),
    /// `GOAWAY`.
    GoAway(GoAway<'a>),
    /// `WINDOW_UPDATE`.
    WindowUpdate(WindowUpdate),
    /// `CONTINUATION`.
    Continuation(Continuation<'a>),
    /// A frame of a type this implementation does not know: RFC 9113 §4.1 says to ignore it.
    Unknown(Unknown<'a>),
}

impl Frame<'_> {
    /// The frame's type.
    pub fn kind(&self) -> FrameType {
        match self {
            Frame::Data(_) => FrameType::Data,
            Frame::Headers(_) => FrameType::Headers,
            Frame::Priority(_) => FrameType::Priority,
            Frame::RstStream(_) => FrameType::RstStream,
            Frame::Settings(_) => FrameType::Settings,
            Frame::PushPromise(_) => FrameType::PushPromise,
            Frame::Ping(_) => FrameType::Ping,
            Frame::GoAway(_) => FrameType::GoAway,
            Frame::WindowUpdate(_) => FrameType::WindowUpdate,
            Frame::Continuation(_) => FrameType::Continuation,
            Frame::Unknown(u) => FrameType::Unknown(u.kind),
        }
    }

    /// The stream the frame belongs to (0: the connection).
    pub fn stream_id(&self) -> u32 {
        match self {
            Frame::Data(f) => f.stream_id,
            Frame::Headers(f) => f.stream_id,
            Frame::Priority(f) => f.stream_id,
            Frame::RstStream(f) => f.stream_id,
            Frame::PushPromise(f) => f.stream_id,
            Frame::WindowUpdate(f) => f.stream_id,
            Frame::Continuation(f) => f.stream_id,
            Frame::Unknown(f) => f.stream_id,
            Frame::Settings(_) | Frame::Ping(_) | Frame::GoAway(_) => 0,
        }
    }
}

/// A `DATA` frame (RFC 9113 §6.1): octets of a stream's body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Data<'a> {
    /// The stream (never 0).
    pub stream_id: u32,
    /// `END_STREAM`: the sender's last frame on the stream.
    pub end_stream: bool,
    /// The body octets, padding removed.
    pub data: &'a [u8],
    /// The pad length, when the frame was `PADDED`.
    pub pad_len: Option<u8>,
}

impl Data<'_> {
    /// The octets this frame counts against flow-control windows: the whole payload, pad
    /// length octet and padding included (RFC 9113 §6.1).
    pub fn flow_len(&self) -> u32 {
        let padding = self.pad_len.map_or(0, |p| 1 + u32::from(p));
        // The payload came out of (or goes into) one frame, so it fits 24 bits.
        (self.data.len() as u32).saturating_add(padding)
    }
}

/// The stream dependency and weight of `HEADERS` with `PRIORITY`, and of `PRIORITY` frames.
///
/// RFC 9113 §5.3.2 deprecates this scheme: the fields are parsed (and a stream depending on
/// itself refused, §5.3.1) but carry no meaning for this implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamDependency {
    /// The `E` bit: an exclusive dependency.
    pub exclusive: bool,
    /// The stream depended on (31 bits).
    pub stream_id: u32,
    /// The weight as sent (the weight is this plus one, 1..=256).
    pub weight: u8,
}

/// A `HEADERS` frame (RFC 9113 §6.2): opens a stream and starts a header block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Headers<'a> {
    /// The stream (never 0).
    pub stream_id: u32,
    /// `END_STREAM`: no `DATA` follows on this stream.
    pub end_stream: bool,
    /// `END_HEADERS`: the header block is whole; otherwise `CONTINUATION` frames follow.
    pub end_headers: bool,
    /// The deprecated priority fields, when the `PRIORITY` flag was set.
    pub priority: Option<StreamDependency>,
    /// The pad length, when the frame was `PADDED`.
    pub pad_len: Option<u8>,
    /// The header block fragment (HPACK), padding and priority fields removed.
    pub fragment: &'a [u8],
}

/// A `PRIORITY` frame (RFC 9113 §6.3), deprecated: parsed, to be ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Priority {
    /// The stream (never 0).
    pub stream_id: u32,
    /// Its dependency.
    pub dependency: StreamDependency,
}

/// An `RST_STREAM` frame (RFC 9113 §6.4): the stream ends now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RstStream {
    /// The stream (never 0).
    pub stream_id: u32,
    /// Why.
    pub code: ErrorCode,
}

/// A `PUSH_PROMISE` frame (RFC 9113 §6.6). Parsed so that a server can refuse it: a client
/// cannot push, so a server treats receipt as a connection error (RFC 9113 §8.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PushPromise<'a> {
    /// The stream the promise is made on (never 0).
    pub stream_id: u32,
    /// The stream the sender promises to open (31 bits).
    pub promised_stream_id: u32,
    /// `END_HEADERS`: the header block is whole.
    pub end_headers: bool,
    /// The pad length, when the frame was `PADDED`.
    pub pad_len: Option<u8>,
    /// The header block fragment of the promised request.
    pub fragment: &'a [u8],
}

/// A `PING` frame (RFC 9113 §6.7): eight opaque octets; the receiver of a `PING` without
/// `ACK` answers with the same octets and `ACK`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ping {
    /// `ACK`: this is the answer to our `PING`.
    pub ack: bool,
    /// The opaque data.
    pub data: [u8; 8],
}

/// A `GOAWAY` frame (RFC 9113 §6.8): the sender takes no streams above `last_stream_id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GoAway<'a> {
    /// The highest stream the sender may have acted on (31 bits).
    pub last_stream_id: u32,
    /// Why the connection ends (`NO_ERROR` for a graceful shutdown).
    pub code: ErrorCode,
    /// Opaque diagnostic octets.
    pub debug_data: &'a [u8],
}

/// A `WINDOW_UPDATE` frame (RFC 9113 §6.9): `increment` more octets may be sent on the stream
/// (or, on stream 0, on the connection).
///
/// An increment of 0 is decoded, not refused: RFC 9113 §6.9 makes it a stream error on a
/// stream but a connection error on stream 0, and only the connection layer knows whether the
/// stream is still open, so it decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowUpdate {
    /// The stream, or 0 for the connection.
    pub stream_id: u32,
    /// The credit in octets (31 bits; may be 0, see above).
    pub increment: u32,
}

/// A `CONTINUATION` frame (RFC 9113 §6.10): more of a header block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Continuation<'a> {
    /// The stream (never 0).
    pub stream_id: u32,
    /// `END_HEADERS`: the header block ends here.
    pub end_headers: bool,
    /// The header block fragment.
    pub fragment: &'a [u8],
}

/// A frame of an unknown type, kept whole so that the caller can ignore it (or log it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unknown<'a> {
    /// The type octet.
    pub kind: u8,
    /// The flags octet.
    pub flags: u8,
    /// The stream.
    pub stream_id: u32,
    /// The payload.
    pub payload: &'a [u8],
}
