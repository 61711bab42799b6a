//! HTTP/2 wire codec: frames (RFC 9113) and header compression (HPACK, RFC 7541).
//!
//! HTTP/2 carries the same requests and responses as HTTP/1.1, but as binary *frames* on one
//! connection shared by many *streams* (one stream per request/response exchange). Every frame
//! starts with the same 9-byte header (length, type, flags, stream id); header fields travel
//! compressed with HPACK in `HEADERS` (and `CONTINUATION`) frames, bodies in `DATA` frames, and
//! the rest (`SETTINGS`, `PING`, `WINDOW_UPDATE`, `RST_STREAM`, `GOAWAY`, ...) manages the
//! connection and its streams. A client opens with the 24-byte [`PREFACE`] then a `SETTINGS`
//! frame; the server's first frame is its own `SETTINGS`.
//!
//! This module is the *codec* only, pure like the rest of the crate: bytes and values in, bytes and
//! values out, no sockets, no clocks, no threads, no state beyond what the protocol defines
//! (the HPACK dynamic tables). Stream states, flow-control windows and the decision what to
//! answer belong to the connection layer above it.
//!
//! ## The data flow
//! ```text
//! in:  bytes ─► frame::decode(buf, max_frame_size) ─► Frame<'_> ─► connection (streams, windows)
//!               HEADERS + CONTINUATION fragments ─► (caller joins them) ─► hpack::Decoder ─► fields
//! out: fields ─► hpack::Encoder ─► header block ─► frame::encode_headers (HEADERS + CONTINUATION)
//!      shared event bytes ─► frame::data_header(stream, len, end) ─► 9 bytes, then the bytes by reference
//! ```
//!
//! ## In a few lines
//! ```
//! use ssehub::h2::{frame, hpack};
//!
//! // A response head, compressed and framed...
//! let mut block = Vec::new();
//! let mut encoder = hpack::Encoder::new(ssehub::h2::DEFAULT_HEADER_TABLE_SIZE);
//! encoder.encode([(&b":status"[..], &b"200"[..]), (b"content-type", b"text/event-stream")], &mut block);
//! let mut wire = Vec::new();
//! frame::encode_headers(1, &block, false, ssehub::h2::DEFAULT_MAX_FRAME_SIZE, &mut wire);
//!
//! // ...read back on the other side.
//! let (parsed, used) = frame::decode(&wire, ssehub::h2::DEFAULT_MAX_FRAME_SIZE)?.expect("a whole frame");
//! assert_eq!(used, wire.len());
//! let frame::Frame::Headers(headers) = parsed else { panic!("not HEADERS") };
//! let mut decoder = hpack::Decoder::new(ssehub::h2::DEFAULT_HEADER_TABLE_SIZE);
//! let fields = decoder.decode_to_vec(headers.fragment)?;
//! assert_eq!(fields[1], (b"content-type".to_vec(), b"text/event-stream".to_vec()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod conn;
mod error_code;
pub mod frame;
pub mod hpack;

pub use error_code::ErrorCode;

/// The connection preface a client sends first (RFC 9113 §3.4), before its `SETTINGS` frame.
///
/// It reads as an HTTP/1.x request (`PRI * HTTP/2.0`) so that an HTTP/1.1 server that sees it
/// fails fast instead of waiting for a body.
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The initial `SETTINGS_HEADER_TABLE_SIZE`: 4,096 octets of HPACK dynamic table (RFC 9113 §6.5.2).
pub const DEFAULT_HEADER_TABLE_SIZE: usize = 4096;

/// The initial `SETTINGS_INITIAL_WINDOW_SIZE`: 65,535 octets of flow-control window (RFC 9113 §6.5.2).
pub const DEFAULT_INITIAL_WINDOW_SIZE: u32 = 65_535;

/// The initial `SETTINGS_MAX_FRAME_SIZE`: 16,384 octets of frame payload (RFC 9113 §6.5.2).
///
/// This is also the smallest value an endpoint may advertise.
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;

/// The largest `SETTINGS_MAX_FRAME_SIZE` an endpoint may advertise: 2^24 - 1, the most the
/// frame header's 24-bit length can say.
pub const MAX_FRAME_SIZE_LIMIT: u32 = (1 << 24) - 1;

/// The largest flow-control window, and the largest `SETTINGS_INITIAL_WINDOW_SIZE`: 2^31 - 1.
pub const MAX_WINDOW_SIZE: u32 = (1 << 31) - 1;

/// The largest stream identifier: stream ids are 31 bits (the 32nd, reserved, is ignored).
pub const MAX_STREAM_ID: u32 = (1 << 31) - 1;
