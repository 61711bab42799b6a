//! Frame encoders: values → octets, appended to a caller's `Vec<u8>`.
//!
//! This is the last step of the outgoing data flow before TLS or the socket. The functions write
//! what a server sends: `DATA` (or only its 9-byte header, for payloads shared between streams),
//! `HEADERS` split into `CONTINUATION` frames when the peer's maximum frame size requires it,
//! `SETTINGS` and its `ACK`, `PING`, `GOAWAY`, `RST_STREAM` and `WINDOW_UPDATE`.
//! [`Frame::encode`] writes any decoded frame back, so that `decode(encode(f)) == f`.
//!
//! Encoders take our own values, never peer data. A value the wire cannot carry (a length
//! above 2^24 - 1, a stream id or increment above 2^31 - 1) is a bug in the caller and panics,
//! like an index out of bounds, rather than being silently truncated into a different frame.

use super::head::{FrameType, HEAD_LEN, Head, flags};
use super::settings::Setting;
use super::{Frame, StreamDependency};
use crate::h2::{ErrorCode, MAX_FRAME_SIZE_LIMIT, MAX_STREAM_ID, MAX_WINDOW_SIZE};

/// The 9-octet header of a `DATA` frame whose `len` payload octets the caller sends after it.
///
/// This is how one event, encoded once into shared bytes, goes to many streams: each stream gets
/// its own header and a reference to the same payload (no copy, no padding).
///
/// # Panics
/// If `len` is above 2^24 - 1 or `stream_id` above 2^31 - 1.
pub fn data_header(stream_id: u32, len: u32, end_stream: bool) -> [u8; HEAD_LEN] {
    let flags = if end_stream { flags::END_STREAM } else { 0 };
    Head { len, kind: FrameType::Data, flags, stream_id }.encode()
}

/// Appends a `DATA` frame (no padding).
///
/// # Panics
/// If `data` is longer than 2^24 - 1 octets or `stream_id` above 2^31 - 1.
pub fn encode_data(stream_id: u32, data: &[u8], end_stream: bool, out: &mut Vec<u8>) {
    out.extend_from_slice(&data_header(stream_id, payload_len(data.len()), end_stream));
    out.extend_from_slice(data);
}

/// Appends a header block as one `HEADERS` frame, followed by as many `CONTINUATION` frames as
/// needed to keep every payload within `max_frame_size` (the peer's `SETTINGS_MAX_FRAME_SIZE`).
///
/// `END_HEADERS` goes on the last of them; `END_STREAM`, when asked for, on the `HEADERS`
/// frame (RFC 9113 §8.1). No padding, no priority.
///
/// ```
/// use ssehub::h2::frame::{self, Frame};
///
/// let mut wire = Vec::new();
/// frame::encode_headers(1, b"abcde", true, 2, &mut wire); // a tiny frame size, to show the split
/// let mut rest = &wire[..];
/// let mut fragments = Vec::new();
/// while let Some((frame, used)) = frame::decode(rest, 16_384)? {
///     match frame {
///         Frame::Headers(h) => fragments.push((h.fragment.to_vec(), h.end_headers)),
///         Frame::Continuation(c) => fragments.push((c.fragment.to_vec(), c.end_headers)),
///         other => panic!("{other:?}"),
///     }
///     rest = &rest[used..];
/// }
/// assert_eq!(fragments, [(b"ab".to_vec(), false), (b"cd".to_vec(), false), (b"e".to_vec(), true)]);
/// # Ok::<(), ssehub::h2::frame::FrameError>(())
/// ```
///
/// # Panics
/// If `stream_id` is above 2^31 - 1.
pub fn encode_headers(
    stream_id: u32,
    block: &[u8],
    end_stream: bool,
    max_frame_size: u32,
    out: &mut Vec<u8>,
) {
    // A size of 0 could never carry the block; a peer's value is at least 16,384 anyway.
    let max = max_frame_size.clamp(1, MAX_FRAME_SIZE_LIMIT) as usize;
    let mut chunks = block.chunks(max);
    let first = chunks.next().unwrap_or_default();
    let mut rest = chunks.peekable();
    let mut flags = if end_stream { flags::END_STREAM } else { 0 };
    if rest.peek().is_none() {
        flags |= flags::END_HEADERS;
    }
    out.reserve(block.len() + HEAD_LEN * (1 + block.len() / max));
    put(out, Head { len: payload_len(first.len()), kind: FrameType::Headers, flags, stream_id }, first);
    while let Some(chunk) = rest.next() {
        let flags = if rest.peek().is_none() { flags::END_HEADERS } else { 0 };
        put(
            out,
            Head { len: payload_len(chunk.len()), kind: FrameType::Continuation, flags, stream_id },
            chunk,
        );
    }
}

/// Appends a `SETTINGS` frame with these parameters, in order.
///
/// # Panics
/// If there are more than 2,796,202 parameters (the frame would exceed 2^24 - 1 octets).
pub fn encode_settings(settings: &[Setting], out: &mut Vec<u8>) {
    let len = payload_len(settings.len().saturating_mul(6));
    out.extend_from_slice(&Head { len, kind: FrameType::Settings, flags: 0, stream_id: 0 }.encode());
    for setting in settings {
        out.extend_from_slice(&setting.encode());
    }
}

/// Appends the empty `SETTINGS` frame with `ACK` that acknowledges the peer's settings.
pub fn encode_settings_ack(out: &mut Vec<u8>) {
    out.extend_from_slice(
        &Head { len: 0, kind: FrameType::Settings, flags: flags::ACK, stream_id: 0 }.encode(),
    );
}

/// Appends a `PING` frame (a probe the peer must answer).
pub fn encode_ping(data: [u8; 8], out: &mut Vec<u8>) {
    put(out, Head { len: 8, kind: FrameType::Ping, flags: 0, stream_id: 0 }, &data);
}

/// Appends the `PING` with `ACK` that answers a peer's `PING` carrying `data`.
pub fn encode_ping_ack(data: [u8; 8], out: &mut Vec<u8>) {
    put(out, Head { len: 8, kind: FrameType::Ping, flags: flags::ACK, stream_id: 0 }, &data);
}

/// Appends a `GOAWAY` frame.
///
/// # Panics
/// If `last_stream_id` is above 2^31 - 1 or `debug_data` longer than 2^24 - 9 octets.
pub fn encode_goaway(last_stream_id: u32, code: ErrorCode, debug_data: &[u8], out: &mut Vec<u8>) {
    let len = payload_len(debug_data.len().saturating_add(8));
    out.extend_from_slice(&Head { len, kind: FrameType::GoAway, flags: 0, stream_id: 0 }.encode());
    out.extend_from_slice(&u31(last_stream_id, MAX_STREAM_ID, "last stream id").to_be_bytes());
    out.extend_from_slice(&u32::from(code).to_be_bytes());
    out.extend_from_slice(debug_data);
}

/// Appends an `RST_STREAM` frame.
///
/// # Panics
/// If `stream_id` is above 2^31 - 1.
pub fn encode_rst_stream(stream_id: u32, code: ErrorCode, out: &mut Vec<u8>) {
    put(
        out,
        Head { len: 4, kind: FrameType::RstStream, flags: 0, stream_id },
        &u32::from(code).to_be_bytes(),
    );
}

/// Appends a `WINDOW_UPDATE` frame (`stream_id` 0: the connection's window).
///
/// # Panics
/// If `stream_id` or `increment` is above 2^31 - 1.
pub fn encode_window_update(stream_id: u32, increment: u32, out: &mut Vec<u8>) {
    let increment = u31(increment, MAX_WINDOW_SIZE, "window increment");
    put(out, Head { len: 4, kind: FrameType::WindowUpdate, flags: 0, stream_id }, &increment.to_be_bytes());
}

impl Frame<'_> {
    /// Appends this frame, exactly as [`decode`](super::decode) would read it back: padding is
    /// written as zero octets of the frame's pad length, flags only as the frame defines them.
    ///
    /// ```
    /// use ssehub::h2::frame::{self, Data, Frame};
    ///
    /// let frame = Frame::Data(Data { stream_id: 1, end_stream: true, data: b"hi", pad_len: Some(3) });
    /// let mut wire = Vec::new();
    /// frame.encode(&mut wire);
    /// assert_eq!(wire.len(), frame.encoded_len());
    /// assert_eq!(frame::decode(&wire, 16_384)?, Some((frame, wire.len())));
    /// # Ok::<(), ssehub::h2::frame::FrameError>(())
    /// ```
    ///
    /// # Panics
    /// If the payload would exceed 2^24 - 1 octets, or a stream id or increment 2^31 - 1.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let len = payload_len(self.encoded_len() - HEAD_LEN);
        let kind = self.kind();
        let stream_id = self.stream_id();
        let set = |on: bool, flag: u8| if on { flag } else { 0 };
        match *self {
            Frame::Data(d) => {
                let flags = set(d.end_stream, flags::END_STREAM) | set(d.pad_len.is_some(), flags::PADDED);
                out.extend_from_slice(&Head { len, kind, flags, stream_id }.encode());
                padded(out, d.pad_len, &[], d.data);
            }
            Frame::Headers(h) => {
                let flags = set(h.end_stream, flags::END_STREAM)
                    | set(h.end_headers, flags::END_HEADERS)
                    | set(h.pad_len.is_some(), flags::PADDED)
                    | set(h.priority.is_some(), flags::PRIORITY);
                out.extend_from_slice(&Head { len, kind, flags, stream_id }.encode());
                let priority = h.priority.map(dependency);
                padded(out, h.pad_len, priority.as_ref().map_or(&[][..], |p| &p[..]), h.fragment);
            }
            Frame::Priority(p) => {
                put(out, Head { len, kind, flags: 0, stream_id }, &dependency(p.dependency))
            }
            Frame::RstStream(r) => encode_rst_stream(r.stream_id, r.code, out),
            Frame::Settings(s) => {
                out.extend_from_slice(
                    &Head { len, kind, flags: set(s.ack, flags::ACK), stream_id: 0 }.encode(),
                );
                out.extend_from_slice(s.payload());
            }
            Frame::PushPromise(p) => {
                let flags = set(p.end_headers, flags::END_HEADERS) | set(p.pad_len.is_some(), flags::PADDED);
                out.extend_from_slice(&Head { len, kind, flags, stream_id }.encode());
                let promised = u31(p.promised_stream_id, MAX_STREAM_ID, "promised stream id").to_be_bytes();
                padded(out, p.pad_len, &promised, p.fragment);
            }
            Frame::Ping(p) => {
                if p.ack {
                    encode_ping_ack(p.data, out);
                } else {
                    encode_ping(p.data, out);
                }
            }
            Frame::GoAway(g) => encode_goaway(g.last_stream_id, g.code, g.debug_data, out),
            Frame::WindowUpdate(w) => encode_window_update(w.stream_id, w.increment, out),
            Frame::Continuation(c) => {
                put(
                    out,
                    Head { len, kind, flags: set(c.end_headers, flags::END_HEADERS), stream_id },
                    c.fragment,
                );
            }
            Frame::Unknown(u) => put(out, Head { len, kind, flags: u.flags, stream_id }, u.payload),
        }
    }

    /// The octets [`Frame::encode`] appends: 9 plus the payload.
    pub fn encoded_len(&self) -> usize {
        let padding = |pad_len: Option<u8>| pad_len.map_or(0, |p| 1 + usize::from(p));
        HEAD_LEN
            + match self {
                Frame::Data(d) => padding(d.pad_len) + d.data.len(),
                Frame::Headers(h) => {
                    padding(h.pad_len) + 5 * usize::from(h.priority.is_some()) + h.fragment.len()
                }
                Frame::Priority(_) => 5,
                Frame::RstStream(_) | Frame::WindowUpdate(_) => 4,
                Frame::Settings(s) => s.payload().len(),
                Frame::PushPromise(p) => padding(p.pad_len) + 4 + p.fragment.len(),
                Frame::Ping(_) => 8,
                Frame::GoAway(g) => 8 + g.debug_data.len(),
                Frame::Continuation(c) => c.fragment.len(),
                Frame::Unknown(u) => u.payload.len(),
            }
    }
}

fn put(out: &mut Vec<u8>, head: Head, payload: &[u8]) {
    out.extend_from_slice(&head.encode());
    out.extend_from_slice(payload);
}

/// Pad length octet (when padded), the fixed fields, the content, then zero padding.
fn padded(out: &mut Vec<u8>, pad_len: Option<u8>, fixed: &[u8], content: &[u8]) {
    if let Some(p) = pad_len {
        out.push(p);
    }
    out.extend_from_slice(fixed);
    out.extend_from_slice(content);
    if let Some(p) = pad_len {
        out.resize(out.len() + usize::from(p), 0);
    }
}

fn dependency(d: StreamDependency) -> [u8; 5] {
    let id = u31(d.stream_id, MAX_STREAM_ID, "stream dependency").to_be_bytes();
    let e = if d.exclusive { 0x80 } else { 0 };
    [id[0] | e, id[1], id[2], id[3], d.weight]
}

/// A payload length, which must fit the header's 24 bits.
fn payload_len(len: usize) -> u32 {
    match u32::try_from(len) {
        Ok(len) if len <= MAX_FRAME_SIZE_LIMIT => len,
        _ => panic!("frame payload of {len} octets exceeds 2^24 - 1"),
    }
}

fn u31(value: u32, max: u32, what: &str) -> u32 {
    assert!(value <= max, "{what} {value} exceeds 2^31 - 1");
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::h2::frame::{
        Continuation, Data, GoAway, Headers, Ping, Priority, PushPromise, RstStream, Settings, Unknown,
        WindowUpdate, decode,
    };

    fn round_trip(frame: Frame<'_>) {
        let mut wire = Vec::new();
        frame.encode(&mut wire);
        assert_eq!(wire.len(), frame.encoded_len(), "{frame:?}");
        assert_eq!(decode(&wire, MAX_FRAME_SIZE_LIMIT), Ok(Some((frame, wire.len()))), "{frame:?}");
    }

    #[test]
    fn every_frame_type_round_trips() {
        let mut settings = Vec::new();
        encode_settings(&[Setting::HeaderTableSize(0), Setting::Unknown { id: 9, value: 9 }], &mut settings);
        let Some((Frame::Settings(s), _)) = decode(&settings, 16_384).unwrap() else { panic!() };
        let dependency = StreamDependency { exclusive: true, stream_id: 1, weight: 255 };
        for frame in [
            Frame::Data(Data { stream_id: 1, end_stream: false, data: b"", pad_len: None }),
            Frame::Data(Data {
                stream_id: MAX_STREAM_ID,
                end_stream: true,
                data: b"abc",
                pad_len: Some(255),
            }),
            Frame::Headers(Headers {
                stream_id: 3,
                end_stream: true,
                end_headers: false,
                priority: Some(dependency),
                pad_len: Some(0),
                fragment: b"\x82",
            }),
            Frame::Headers(Headers {
                stream_id: 3,
                end_stream: false,
                end_headers: true,
                priority: None,
                pad_len: None,
                fragment: b"",
            }),
            Frame::Priority(Priority { stream_id: 3, dependency }),
            Frame::RstStream(RstStream { stream_id: 3, code: ErrorCode::Other(0xabc) }),
            Frame::Settings(s),
            Frame::PushPromise(PushPromise {
                stream_id: 1,
                promised_stream_id: 2,
                end_headers: true,
                pad_len: Some(4),
                fragment: b"xyz",
            }),
            Frame::Ping(Ping { ack: false, data: [1; 8] }),
            Frame::Ping(Ping { ack: true, data: [2; 8] }),
            Frame::GoAway(GoAway {
                last_stream_id: MAX_STREAM_ID,
                code: ErrorCode::NoError,
                debug_data: b"bye",
            }),
            Frame::WindowUpdate(WindowUpdate { stream_id: 0, increment: MAX_WINDOW_SIZE }),
            Frame::WindowUpdate(WindowUpdate { stream_id: 9, increment: 0 }),
            Frame::Continuation(Continuation { stream_id: 3, end_headers: true, fragment: b"\x84" }),
            Frame::Unknown(Unknown { kind: 0xee, flags: 0xff, stream_id: 7, payload: b"?" }),
        ] {
            round_trip(frame);
        }
        assert!(matches!(
            decode(&settings, 16_384),
            Ok(Some((Frame::Settings(Settings { ack: false, .. }), 21)))
        ));
    }

    #[test]
    fn data_header_is_the_head_of_encode_data() {
        let mut wire = Vec::new();
        encode_data(7, b"event", true, &mut wire);
        assert_eq!(wire[..9], data_header(7, 5, true));
        assert_eq!(&wire[9..], b"event");
        assert_eq!(data_header(1, 0x01_0203, false), [1, 2, 3, 0, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn control_frames_have_the_rfc_layout() {
        let mut out = Vec::new();
        encode_settings_ack(&mut out);
        assert_eq!(out, [0, 0, 0, 4, 1, 0, 0, 0, 0]);

        out.clear();
        encode_settings(&[Setting::MaxConcurrentStreams(100), Setting::EnablePush(false)], &mut out);
        assert_eq!(out, [0, 0, 12, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100, 0, 2, 0, 0, 0, 0]);

        out.clear();
        encode_ping_ack(*b"12345678", &mut out);
        assert_eq!(out, b"\x00\x00\x08\x06\x01\x00\x00\x00\x0012345678");

        out.clear();
        encode_goaway(5, ErrorCode::ProtocolError, b"x", &mut out);
        assert_eq!(out, [0, 0, 9, 7, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 1, b'x']);

        out.clear();
        encode_rst_stream(3, ErrorCode::RefusedStream, &mut out);
        assert_eq!(out, [0, 0, 4, 3, 0, 0, 0, 0, 3, 0, 0, 0, 7]);

        out.clear();
        encode_window_update(0, 1 << 20, &mut out);
        assert_eq!(out, [0, 0, 4, 8, 0, 0, 0, 0, 0, 0, 0x10, 0, 0]);
    }

    /// Decodes a run of frames whole, collecting them.
    fn decode_all(mut wire: &[u8], max: u32) -> Vec<Frame<'_>> {
        let mut frames = Vec::new();
        while !wire.is_empty() {
            let (frame, used) = decode(wire, max).unwrap().expect("whole frames");
            frames.push(frame);
            wire = &wire[used..];
        }
        frames
    }

    #[test]
    fn a_header_block_that_fits_is_one_headers_frame() {
        let mut wire = Vec::new();
        encode_headers(1, &[0x88; 16_384], false, 16_384, &mut wire);
        let frames = decode_all(&wire, 16_384);
        assert!(
            matches!(&frames[..], [Frame::Headers(h)] if h.end_headers && !h.end_stream && h.fragment.len() == 16_384)
        );

        wire.clear();
        encode_headers(1, b"", true, 16_384, &mut wire);
        assert_eq!(wire, [0, 0, 0, 1, flags::END_STREAM | flags::END_HEADERS, 0, 0, 0, 1]);
    }

    #[test]
    fn a_larger_header_block_is_split_into_continuation_frames() {
        let block: Vec<u8> = (0..40_000u32).map(|i| i as u8).collect();
        let mut wire = Vec::new();
        encode_headers(9, &block, true, 16_384, &mut wire);
        let frames = decode_all(&wire, 16_384);
        assert_eq!(frames.len(), 3);
        let Frame::Headers(h) = frames[0] else { panic!() };
        assert!(h.end_stream && !h.end_headers && h.fragment.len() == 16_384 && h.stream_id == 9);
        let Frame::Continuation(c1) = frames[1] else { panic!() };
        assert!(!c1.end_headers && c1.fragment.len() == 16_384 && c1.stream_id == 9);
        let Frame::Continuation(c2) = frames[2] else { panic!() };
        assert!(c2.end_headers && c2.fragment.len() == 40_000 - 2 * 16_384);
        assert_eq!([h.fragment, c1.fragment, c2.fragment].concat(), block);
    }

    #[test]
    fn a_frame_size_of_0_is_treated_as_1() {
        let mut wire = Vec::new();
        encode_headers(1, b"ab", false, 0, &mut wire);
        assert_eq!(decode_all(&wire, 16_384).len(), 2);
    }

    #[test]
    #[should_panic(expected = "window increment")]
    fn an_increment_above_2_pow_31_minus_1_is_a_caller_bug() {
        encode_window_update(0, 1 << 31, &mut Vec::new());
    }
}
