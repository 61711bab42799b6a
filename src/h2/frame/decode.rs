//! The frame decoder: a buffer of received octets → one [`Frame`] and the octets it used.
//!
//! This is the first step of the incoming data flow (`bytes ─► decode ─► Frame ─► connection`).
//! It holds no state: the caller keeps unconsumed input and calls again with more, so a frame
//! split across reads anywhere decodes the same as a whole one. Each per-frame rule of RFC 9113
//! is checked here, in the order the RFC states them for the type, and reported as a
//! [`FrameError`] that says whether the connection or only the stream is lost.
//!
//! Padding (`DATA`, `HEADERS`, `PUSH_PROMISE`) is a pad length octet before the content and that
//! many octets after it; the content handed out excludes both. The padding octets themselves
//! are not checked (RFC 9113 §6.1 lets a receiver ignore their value).

use super::error::{FrameError, Violation};
use super::head::{FrameType, HEAD_LEN, Head, flags, read_u31};
use super::settings::Settings;
use super::{Continuation, Data, Frame, GoAway, Headers, Ping, Priority, PushPromise, RstStream};
use super::{StreamDependency, Unknown, WindowUpdate};
use crate::h2::ErrorCode;

/// Decodes the frame at the start of `buf`.
///
/// * `Ok(None)`: `buf` holds less than one whole frame; call again with more octets.
/// * `Ok(Some((frame, used)))`: a frame, borrowing from `buf`, which took `used` octets
///   (`used <= buf.len()`).
/// * `Err(FrameError)`: the frame breaks a rule; the error says what the connection must do.
///
/// `max_frame_size` is the `SETTINGS_MAX_FRAME_SIZE` we advertised: a longer payload is refused
/// (a connection error, `FRAME_SIZE_ERROR`) as soon as the 9-byte header is in.
///
/// ```
/// use ssehub::h2::ErrorCode;
/// use ssehub::h2::frame::{self, FrameError, FrameType, Violation};
///
/// // A PING must carry exactly 8 octets.
/// let bad = [0, 0, 4, 0x6, 0, 0, 0, 0, 0, 1, 2, 3, 4];
/// let err = frame::decode(&bad, 16_384).unwrap_err();
/// assert_eq!(err, FrameError::Connection(Violation::BadLength { kind: FrameType::Ping, len: 4 }));
/// assert_eq!(err.code(), ErrorCode::FrameSizeError);
/// ```
pub fn decode(buf: &[u8], max_frame_size: u32) -> Result<Option<(Frame<'_>, usize)>, FrameError> {
    let Some(head_bytes) = buf.first_chunk::<HEAD_LEN>() else {
        return Ok(None);
    };
    let head = Head::parse(head_bytes);
    if head.len > max_frame_size {
        return Err(FrameError::Connection(Violation::TooLarge { len: head.len, max: max_frame_size }));
    }
    // `len` is at most 2^24 - 1, so this cannot overflow.
    let used = HEAD_LEN + head.len as usize;
    let Some(payload) = buf.get(HEAD_LEN..used) else {
        return Ok(None);
    };
    parse(head, payload).map(|frame| Some((frame, used)))
}

/// Interprets a whole payload according to its header.
fn parse(head: Head, payload: &[u8]) -> Result<Frame<'_>, FrameError> {
    let stream_id = head.stream_id;
    Ok(match head.kind {
        FrameType::Data => {
            on_a_stream(head)?;
            let (data, pad_len) = unpad(head, payload, 0)?;
            Frame::Data(Data { stream_id, end_stream: head.has(flags::END_STREAM), data, pad_len })
        }
        FrameType::Headers => {
            on_a_stream(head)?;
            let with_priority = head.has(flags::PRIORITY);
            let (rest, pad_len) = unpad(head, payload, if with_priority { 5 } else { 0 })?;
            let (priority, fragment) = match rest.split_first_chunk::<5>() {
                Some((fields, fragment)) if with_priority => {
                    let dependency = dependency(*fields);
                    // A stream error here would skip the header block and leave HPACK out of
                    // step with the peer, so this is a connection error (RFC 9113 §5.4 allows it).
                    if dependency.stream_id == stream_id {
                        return Err(FrameError::Connection(Violation::SelfDependency { stream_id }));
                    }
                    (Some(dependency), fragment)
                }
                _ => (None, rest),
            };
            Frame::Headers(Headers {
                stream_id,
                end_stream: head.has(flags::END_STREAM),
                end_headers: head.has(flags::END_HEADERS),
                priority,
                pad_len,
                fragment,
            })
        }
        FrameType::Priority => {
            on_a_stream(head)?;
            let stream_error =
                |violation| FrameError::Stream { stream_id, frame_len: HEAD_LEN + payload.len(), violation };
            // RFC 9113 §6.3: a wrong length here is only a stream error.
            let Ok(fields) = <[u8; 5]>::try_from(payload) else {
                return Err(stream_error(Violation::BadLength { kind: head.kind, len: head.len }));
            };
            let dependency = dependency(fields);
            if dependency.stream_id == stream_id {
                return Err(stream_error(Violation::SelfDependency { stream_id }));
            }
            Frame::Priority(Priority { stream_id, dependency })
        }
        FrameType::RstStream => {
            on_a_stream(head)?;
            let code = fixed::<4>(head, payload)?;
            Frame::RstStream(RstStream { stream_id, code: ErrorCode::from(u32::from_be_bytes(code)) })
        }
        FrameType::Settings => {
            on_the_connection(head)?;
            let ack = head.has(flags::ACK);
            if (ack && !payload.is_empty()) || payload.len() % 6 != 0 {
                return Err(bad_length(head));
            }
            Frame::Settings(Settings::parse(ack, payload).map_err(FrameError::Connection)?)
        }
        FrameType::PushPromise => {
            on_a_stream(head)?;
            let (rest, pad_len) = unpad(head, payload, 4)?;
            let Some((promised, fragment)) = rest.split_first_chunk::<4>() else {
                return Err(bad_length(head));
            };
            Frame::PushPromise(PushPromise {
                stream_id,
                promised_stream_id: read_u31(*promised),
                end_headers: head.has(flags::END_HEADERS),
                pad_len,
                fragment,
            })
        }
        FrameType::Ping => {
            on_the_connection(head)?;
            Frame::Ping(Ping { ack: head.has(flags::ACK), data: fixed::<8>(head, payload)? })
        }
        FrameType::GoAway => {
            on_the_connection(head)?;
            let Some((fields, debug_data)) = payload.split_first_chunk::<8>() else {
                return Err(bad_length(head));
            };
            let [a, b, c, d, e, f, g, h] = *fields;
            Frame::GoAway(GoAway {
                last_stream_id: read_u31([a, b, c, d]),
                code: ErrorCode::from(u32::from_be_bytes([e, f, g, h])),
                debug_data,
            })
        }
        FrameType::WindowUpdate => {
            // Any stream id, 0 included. A wrong length is a connection error even on a
            // stream (RFC 9113 §6.9).
            let increment = read_u31(fixed::<4>(head, payload)?);
            Frame::WindowUpdate(WindowUpdate { stream_id, increment })
        }
        FrameType::Continuation => {
            on_a_stream(head)?;
            Frame::Continuation(Continuation {
                stream_id,
                end_headers: head.has(flags::END_HEADERS),
                fragment: payload,
            })
        }
        FrameType::Unknown(kind) => Frame::Unknown(Unknown { kind, flags: head.flags, stream_id, payload }),
    })
}

/// The frame type belongs to a stream: stream 0 is a connection error (`PROTOCOL_ERROR`).
fn on_a_stream(head: Head) -> Result<(), FrameError> {
    if head.stream_id == 0 {
        return Err(FrameError::Connection(Violation::StreamIdRequired(head.kind)));
    }
    Ok(())
}

/// The frame type belongs to the connection: another stream is a connection error.
fn on_the_connection(head: Head) -> Result<(), FrameError> {
    if head.stream_id != 0 {
        return Err(FrameError::Connection(Violation::StreamIdForbidden(head.kind)));
    }
    Ok(())
}

fn bad_length(head: Head) -> FrameError {
    FrameError::Connection(Violation::BadLength { kind: head.kind, len: head.len })
}

/// A payload of exactly `N` octets, or a connection error (`FRAME_SIZE_ERROR`).
fn fixed<const N: usize>(head: Head, payload: &[u8]) -> Result<[u8; N], FrameError> {
    <[u8; N]>::try_from(payload).map_err(|_| bad_length(head))
}

/// Removes the pad length octet and the padding of a `PADDED` frame. `fixed` octets of
/// mandatory fields (priority, promised stream id) come before the content and must fit too:
/// too short for them is `FRAME_SIZE_ERROR`, padding that leaves them no room `PROTOCOL_ERROR`.
fn unpad(head: Head, payload: &[u8], fixed: usize) -> Result<(&[u8], Option<u8>), FrameError> {
    if !head.has(flags::PADDED) {
        if payload.len() < fixed {
            return Err(bad_length(head));
        }
        return Ok((payload, None));
    }
    let Some((&pad_len, rest)) = payload.split_first() else {
        return Err(bad_length(head));
    };
    let Some(room) = rest.len().checked_sub(fixed) else {
        return Err(bad_length(head));
    };
    let Some(content) = rest.len().checked_sub(usize::from(pad_len)).filter(|_| usize::from(pad_len) <= room)
    else {
        return Err(FrameError::Connection(Violation::PaddingTooLong {
            kind: head.kind,
            pad_len,
            len: head.len,
        }));
    };
    Ok((rest.get(..content).unwrap_or_default(), Some(pad_len)))
}

fn dependency(fields: [u8; 5]) -> StreamDependency {
    let [a, b, c, d, weight] = fields;
    StreamDependency { exclusive: a & 0x80 != 0, stream_id: read_u31([a, b, c, d]), weight }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::h2::frame::Setting;

    const MAX: u32 = 16_384;

    /// A frame: header fields, then the payload.
    fn frame(kind: u8, flags: u8, stream_id: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = Head { len: payload.len() as u32, kind: FrameType::from(kind), flags, stream_id }
            .encode()
            .to_vec();
        out.extend_from_slice(payload);
        out
    }

    fn decode_whole(buf: &[u8]) -> Result<Frame<'_>, FrameError> {
        match decode(buf, MAX) {
            Ok(Some((frame, used))) => {
                assert_eq!(used, buf.len());
                Ok(frame)
            }
            Ok(None) => panic!("a whole frame was reported incomplete"),
            Err(e) => Err(e),
        }
    }

    fn conn(violation: Violation) -> Result<Frame<'static>, FrameError> {
        Err(FrameError::Connection(violation))
    }

    #[test]
    fn fewer_than_nine_octets_need_more() {
        for n in 0..HEAD_LEN {
            assert_eq!(decode(&[0u8; 9][..n], MAX), Ok(None));
        }
    }

    #[test]
    fn every_strict_prefix_needs_more_and_extra_octets_are_left() {
        let wire = frame(0x0, flags::PADDED | flags::END_STREAM, 1, &[2, b'h', b'i', 0, 0]);
        let whole = decode_whole(&wire).unwrap();
        for n in 0..wire.len() {
            assert_eq!(decode(&wire[..n], MAX), Ok(None), "prefix of {n}");
        }
        let mut longer = wire.clone();
        longer.extend_from_slice(&[0, 0, 8]);
        assert_eq!(decode(&longer, MAX), Ok(Some((whole, wire.len()))));
    }

    /// One of each frame type (and a padded and a split header block), back to back.
    fn a_run_of_frames() -> Vec<u8> {
        use crate::h2::frame::{encode_data, encode_goaway, encode_headers, encode_ping, encode_rst_stream};
        use crate::h2::frame::{encode_settings, encode_settings_ack, encode_window_update};
        let mut wire = Vec::new();
        encode_settings(&[Setting::MaxConcurrentStreams(10), Setting::InitialWindowSize(1 << 20)], &mut wire);
        encode_settings_ack(&mut wire);
        encode_headers(1, &[0x82; 40], false, 16, &mut wire);
        wire.extend(frame(
            0x1,
            flags::PADDED | flags::PRIORITY | flags::END_HEADERS,
            3,
            &[1, 0, 0, 0, 1, 9, 0x84, 0],
        ));
        encode_data(1, b"hello", false, &mut wire);
        wire.extend(frame(0x0, flags::PADDED | flags::END_STREAM, 1, &[2, b'!', 0, 0]));
        wire.extend(frame(0x2, 0, 5, &[0, 0, 0, 3, 7]));
        encode_rst_stream(3, ErrorCode::Cancel, &mut wire);
        wire.extend(frame(0x5, flags::END_HEADERS, 1, &[0, 0, 0, 2, 0x82]));
        encode_ping(*b"pingping", &mut wire);
        encode_window_update(0, 1000, &mut wire);
        wire.extend(frame(0xbb, 0x3, 9, b"extension"));
        encode_goaway(3, ErrorCode::NoError, b"done", &mut wire);
        wire
    }

    /// Feeds `chunks` to a buffer, decoding every whole frame as soon as it is there; each frame
    /// is written back with `Frame::encode` so that runs can be compared.
    fn feed(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut buf = Vec::new();
        let mut frames = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            while let Some((frame, used)) = decode(&buf, MAX).unwrap() {
                let mut out = Vec::new();
                frame.encode(&mut out);
                frames.push(out);
                buf.drain(..used);
            }
        }
        assert!(buf.is_empty());
        frames
    }

    #[test]
    fn a_run_of_frames_decodes_the_same_however_it_is_split() {
        let wire = a_run_of_frames();
        let whole = feed(&[&wire]);
        assert_eq!(whole.len(), 15);
        assert_eq!(whole.concat(), wire, "every frame is written back as it was read");
        let octets: Vec<&[u8]> = wire.chunks(1).collect();
        assert_eq!(feed(&octets), whole, "one octet at a time");
        for split in 0..=wire.len() {
            let (a, b) = wire.split_at(split);
            assert_eq!(feed(&[a, b]), whole, "split at {split}");
        }
    }

    #[test]
    fn frames_above_max_frame_size_are_refused_at_the_header() {
        let head = Head { len: MAX + 1, kind: FrameType::Data, flags: 0, stream_id: 1 }.encode();
        assert_eq!(
            decode(&head, MAX),
            Err(FrameError::Connection(Violation::TooLarge { len: MAX + 1, max: MAX }))
        );
        assert_eq!(decode(&head, MAX).unwrap_err().code(), ErrorCode::FrameSizeError);
        // Exactly the limit is fine.
        let wire = frame(0x0, 0, 1, &vec![7; MAX as usize]);
        assert!(matches!(decode_whole(&wire), Ok(Frame::Data(d)) if d.data.len() == MAX as usize));
        // The same frame header with a larger limit is just incomplete.
        assert_eq!(decode(&head, MAX + 1), Ok(None));
    }

    #[test]
    fn data_with_and_without_padding() {
        let plain = frame(0x0, flags::END_STREAM, 3, b"hello");
        let Frame::Data(d) = decode_whole(&plain).unwrap() else { panic!() };
        assert_eq!(d, Data { stream_id: 3, end_stream: true, data: b"hello", pad_len: None });
        assert_eq!(d.flow_len(), 5);

        let padded = frame(0x0, flags::PADDED, 3, &[3, b'h', b'i', 0, 0, 0]);
        let Frame::Data(d) = decode_whole(&padded).unwrap() else { panic!() };
        assert_eq!(d, Data { stream_id: 3, end_stream: false, data: b"hi", pad_len: Some(3) });
        assert_eq!(d.flow_len(), 6, "flow control counts the pad length octet and the padding");

        // All padding, no data.
        let all_padding = frame(0x0, flags::PADDED, 3, &[2, 0, 0]);
        let Frame::Data(d) = decode_whole(&all_padding).unwrap() else { panic!() };
        assert_eq!((d.data, d.pad_len), (&b""[..], Some(2)));
    }

    #[test]
    fn data_padding_as_long_as_the_payload_is_a_protocol_error() {
        // Pad length 3 with only 3 octets after it is fine; 4 is not.
        let wire = frame(0x0, flags::PADDED, 1, &[4, 0, 0, 0]);
        assert_eq!(
            decode_whole(&wire),
            conn(Violation::PaddingTooLong { kind: FrameType::Data, pad_len: 4, len: 4 })
        );
        assert_eq!(decode_whole(&wire).unwrap_err().code(), ErrorCode::ProtocolError);
        let wire = frame(0x0, flags::PADDED, 1, &[255]);
        assert_eq!(decode_whole(&wire).unwrap_err().code(), ErrorCode::ProtocolError);
    }

    #[test]
    fn padded_without_a_pad_length_octet_is_a_frame_size_error() {
        for kind in [0x0, 0x1, 0x5] {
            let wire = frame(kind, flags::PADDED, 1, &[]);
            assert_eq!(decode_whole(&wire).unwrap_err().code(), ErrorCode::FrameSizeError, "type {kind}");
        }
    }

    #[test]
    fn stream_frames_on_stream_0_are_protocol_errors() {
        for (kind, payload) in [
            (0x0, &[][..]),
            (0x1, &[]),
            (0x2, &[0, 0, 0, 1, 0]),
            (0x3, &[0, 0, 0, 0]),
            (0x5, &[0, 0, 0, 2]),
            (0x9, &[]),
        ] {
            let err = decode_whole(&frame(kind, 0, 0, payload)).unwrap_err();
            assert_eq!(err, FrameError::Connection(Violation::StreamIdRequired(FrameType::from(kind))));
            assert_eq!(err.code(), ErrorCode::ProtocolError);
        }
    }

    #[test]
    fn connection_frames_on_a_stream_are_protocol_errors() {
        for (kind, payload) in [(0x4, &[][..]), (0x6, &[0; 8]), (0x7, &[0; 8])] {
            let err = decode_whole(&frame(kind, 0, 1, payload)).unwrap_err();
            assert_eq!(err, FrameError::Connection(Violation::StreamIdForbidden(FrameType::from(kind))));
            assert_eq!(err.code(), ErrorCode::ProtocolError);
        }
    }

    #[test]
    fn headers_with_priority_and_padding() {
        let mut payload = vec![2]; // pad length
        payload.extend_from_slice(&[0x80, 0, 0, 1, 15]); // exclusive on stream 1, weight 16
        payload.extend_from_slice(b"\x82\x86");
        payload.extend_from_slice(&[0, 0]);
        let wire =
            frame(0x1, flags::PADDED | flags::PRIORITY | flags::END_HEADERS | flags::END_STREAM, 3, &payload);
        assert_eq!(
            decode_whole(&wire),
            Ok(Frame::Headers(Headers {
                stream_id: 3,
                end_stream: true,
                end_headers: true,
                priority: Some(StreamDependency { exclusive: true, stream_id: 1, weight: 15 }),
                pad_len: Some(2),
                fragment: b"\x82\x86",
            }))
        );
    }

    #[test]
    fn headers_too_short_for_priority_fields_is_a_frame_size_error() {
        let wire = frame(0x1, flags::PRIORITY, 1, &[0, 0, 0, 3]);
        assert_eq!(decode_whole(&wire), conn(Violation::BadLength { kind: FrameType::Headers, len: 4 }));
        // Padding that eats into the priority fields.
        let wire = frame(0x1, flags::PRIORITY | flags::PADDED, 1, &[1, 0, 0, 0, 3, 7]);
        assert_eq!(
            decode_whole(&wire),
            conn(Violation::PaddingTooLong { kind: FrameType::Headers, pad_len: 1, len: 6 })
        );
    }

    #[test]
    fn headers_padding_longer_than_the_fragment_room_is_a_protocol_error() {
        let wire = frame(0x1, flags::PADDED | flags::END_HEADERS, 1, &[3, 0x82, 0]);
        assert_eq!(
            decode_whole(&wire),
            conn(Violation::PaddingTooLong { kind: FrameType::Headers, pad_len: 3, len: 3 })
        );
        // Padding may take all the room: an empty fragment.
        let wire = frame(0x1, flags::PADDED | flags::END_HEADERS, 1, &[3, 0, 0, 0]);
        assert!(matches!(decode_whole(&wire), Ok(Frame::Headers(h)) if h.fragment.is_empty()));
    }

    #[test]
    fn headers_depending_on_their_own_stream_end_the_connection() {
        let wire = frame(0x1, flags::PRIORITY | flags::END_HEADERS, 5, &[0, 0, 0, 5, 0, 0x82]);
        assert_eq!(decode_whole(&wire), conn(Violation::SelfDependency { stream_id: 5 }));
    }

    #[test]
    fn priority_frames() {
        let wire = frame(0x2, 0, 5, &[0, 0, 0, 3, 200]);
        assert_eq!(
            decode_whole(&wire),
            Ok(Frame::Priority(Priority {
                stream_id: 5,
                dependency: StreamDependency { exclusive: false, stream_id: 3, weight: 200 }
            }))
        );
    }

    #[test]
    fn a_priority_frame_of_the_wrong_length_is_a_stream_error() {
        for payload in [&[0u8; 4][..], &[0; 6]] {
            let wire = frame(0x2, 0, 7, payload);
            let err = decode_whole(&wire).unwrap_err();
            assert_eq!(
                err,
                FrameError::Stream {
                    stream_id: 7,
                    frame_len: wire.len(),
                    violation: Violation::BadLength { kind: FrameType::Priority, len: payload.len() as u32 },
                }
            );
            assert_eq!(err.code(), ErrorCode::FrameSizeError);
        }
    }

    #[test]
    fn a_priority_frame_depending_on_its_own_stream_is_a_stream_error() {
        let wire = frame(0x2, 0, 7, &[0x80, 0, 0, 7, 0]);
        assert_eq!(
            decode_whole(&wire),
            Err(FrameError::Stream {
                stream_id: 7,
                frame_len: 14,
                violation: Violation::SelfDependency { stream_id: 7 }
            })
        );
    }

    #[test]
    fn rst_stream_carries_a_code_and_must_be_4_octets() {
        let wire = frame(0x3, 0, 1, &[0, 0, 0, 8]);
        assert_eq!(
            decode_whole(&wire),
            Ok(Frame::RstStream(RstStream { stream_id: 1, code: ErrorCode::Cancel }))
        );
        let wire = frame(0x3, 0, 1, &[0, 0, 0x12, 0x34]);
        assert_eq!(
            decode_whole(&wire),
            Ok(Frame::RstStream(RstStream { stream_id: 1, code: ErrorCode::Other(0x1234) }))
        );
        for len in [0, 3, 5] {
            let wire = frame(0x3, 0, 1, &vec![0; len]);
            assert_eq!(
                decode_whole(&wire),
                conn(Violation::BadLength { kind: FrameType::RstStream, len: len as u32 })
            );
        }
    }

    #[test]
    fn settings_frames() {
        let mut payload = Vec::new();
        payload.extend(Setting::MaxConcurrentStreams(100).encode());
        payload.extend(Setting::Unknown { id: 0xf0f0, value: 1 }.encode());
        payload.extend(Setting::InitialWindowSize(0).encode());
        let wire = frame(0x4, 0, 0, &payload);
        let Frame::Settings(s) = decode_whole(&wire).unwrap() else { panic!() };
        assert!(!s.ack);
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            [
                Setting::MaxConcurrentStreams(100),
                Setting::Unknown { id: 0xf0f0, value: 1 },
                Setting::InitialWindowSize(0)
            ]
        );
        let ack = frame(0x4, flags::ACK, 0, &[]);
        let Frame::Settings(ack) = decode_whole(&ack).unwrap() else { panic!() };
        assert!(ack.ack && ack.iter().next().is_none());
    }

    #[test]
    fn settings_length_must_be_a_multiple_of_6() {
        for len in [1, 5, 7, 11] {
            let err = decode_whole(&frame(0x4, 0, 0, &vec![0; len])).unwrap_err();
            assert_eq!(
                err,
                FrameError::Connection(Violation::BadLength { kind: FrameType::Settings, len: len as u32 })
            );
            assert_eq!(err.code(), ErrorCode::FrameSizeError);
        }
    }

    #[test]
    fn settings_ack_with_a_payload_is_a_frame_size_error() {
        let wire = frame(0x4, flags::ACK, 0, &Setting::EnablePush(false).encode());
        assert_eq!(decode_whole(&wire).unwrap_err().code(), ErrorCode::FrameSizeError);
    }

    #[test]
    fn settings_values_are_validated() {
        for (pair, code) in [
            ([0, 2, 0, 0, 0, 2], ErrorCode::ProtocolError),
            ([0, 4, 0x80, 0, 0, 0], ErrorCode::FlowControlError),
            ([0, 5, 0, 0, 0x3f, 0xff], ErrorCode::ProtocolError),
            ([0, 5, 1, 0, 0, 0], ErrorCode::ProtocolError),
        ] {
            let err = decode_whole(&frame(0x4, 0, 0, &pair)).unwrap_err();
            assert!(matches!(err, FrameError::Connection(_)));
            assert_eq!(err.code(), code, "{pair:?}");
        }
    }

    #[test]
    fn push_promise_is_parsed() {
        let wire = frame(0x5, flags::END_HEADERS | flags::PADDED, 1, &[1, 0x80, 0, 0, 2, 0x82, 0]);
        assert_eq!(
            decode_whole(&wire),
            Ok(Frame::PushPromise(PushPromise {
                stream_id: 1,
                promised_stream_id: 2,
                end_headers: true,
                pad_len: Some(1),
                fragment: b"\x82",
            }))
        );
        let short = frame(0x5, 0, 1, &[0, 0, 2]);
        assert_eq!(decode_whole(&short), conn(Violation::BadLength { kind: FrameType::PushPromise, len: 3 }));
        let overpadded = frame(0x5, flags::PADDED, 1, &[2, 0, 0, 0, 2, 0]);
        assert_eq!(decode_whole(&overpadded).unwrap_err().code(), ErrorCode::ProtocolError);
    }

    #[test]
    fn ping_must_be_8_octets() {
        let wire = frame(0x6, flags::ACK, 0, b"abcdefgh");
        assert_eq!(decode_whole(&wire), Ok(Frame::Ping(Ping { ack: true, data: *b"abcdefgh" })));
        for len in [0, 7, 9] {
            let wire = frame(0x6, 0, 0, &vec![0; len]);
            assert_eq!(
                decode_whole(&wire),
                conn(Violation::BadLength { kind: FrameType::Ping, len: len as u32 })
            );
        }
    }

    #[test]
    fn goaway_carries_last_stream_code_and_debug_data() {
        let wire = frame(0x7, 0, 0, &[0x80, 0, 0, 9, 0, 0, 0, 0xb, b'c', b'a', b'l', b'm']);
        assert_eq!(
            decode_whole(&wire),
            Ok(Frame::GoAway(GoAway {
                last_stream_id: 9,
                code: ErrorCode::EnhanceYourCalm,
                debug_data: b"calm"
            }))
        );
        let short = frame(0x7, 0, 0, &[0; 7]);
        assert_eq!(decode_whole(&short), conn(Violation::BadLength { kind: FrameType::GoAway, len: 7 }));
    }

    #[test]
    fn window_update_increment_0_is_returned_as_a_value() {
        for stream_id in [0, 1] {
            let wire = frame(0x8, 0, stream_id, &[0, 0, 0, 0]);
            assert_eq!(
                decode_whole(&wire),
                Ok(Frame::WindowUpdate(WindowUpdate { stream_id, increment: 0 }))
            );
        }
        // The reserved bit of the increment is ignored.
        let wire = frame(0x8, 0, 0, &[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(
            decode_whole(&wire),
            Ok(Frame::WindowUpdate(WindowUpdate { stream_id: 0, increment: 0x7fff_ffff }))
        );
    }

    #[test]
    fn window_update_of_the_wrong_length_is_a_connection_error_even_on_a_stream() {
        for len in [0, 3, 5] {
            let wire = frame(0x8, 0, 3, &vec![0; len]);
            assert_eq!(
                decode_whole(&wire),
                conn(Violation::BadLength { kind: FrameType::WindowUpdate, len: len as u32 })
            );
        }
    }

    #[test]
    fn continuation_frames() {
        let wire = frame(0x9, flags::END_HEADERS | flags::PADDED, 3, b"\x84");
        assert_eq!(
            decode_whole(&wire),
            Ok(Frame::Continuation(Continuation { stream_id: 3, end_headers: true, fragment: b"\x84" })),
            "CONTINUATION has no padding: the PADDED bit means nothing here"
        );
    }

    #[test]
    fn unknown_types_are_returned_whole_for_the_caller_to_ignore() {
        let wire = frame(0xfa, 0xff, 0, b"extension");
        assert_eq!(
            decode_whole(&wire),
            Ok(Frame::Unknown(Unknown { kind: 0xfa, flags: 0xff, stream_id: 0, payload: b"extension" }))
        );
    }

    #[test]
    fn undefined_flags_are_ignored() {
        let wire = frame(0x6, 0xfe, 0, &[0; 8]);
        assert_eq!(decode_whole(&wire), Ok(Frame::Ping(Ping { ack: false, data: [0; 8] })));
    }

    #[test]
    fn the_reserved_bit_of_stream_ids_is_ignored() {
        let mut wire = frame(0x0, 0, 1, b"x");
        wire[5] |= 0x80;
        assert!(matches!(decode_whole(&wire), Ok(Frame::Data(d)) if d.stream_id == 1));
        // Set on stream 0, it is still stream 0.
        let mut wire = frame(0x4, 0, 0, &[]);
        wire[5] |= 0x80;
        assert!(matches!(decode_whole(&wire), Ok(Frame::Settings(_))));
    }
}
