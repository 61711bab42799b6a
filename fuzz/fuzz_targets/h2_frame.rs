//! The HTTP/2 frame decoder (`ssehub::h2::frame::decode`) on arbitrary received bytes.
//!
//! Input layout: `[limit, stream ..]`. `limit` picks our `SETTINGS_MAX_FRAME_SIZE`: an even
//! value means the default 16,384, an odd one means `limit` itself (1..=255), small enough that
//! oversized frames are common. The stream is decoded as a connection would: frame after frame,
//! stepping over stream errors, stopping at the first connection error or when more bytes are
//! needed. For every step the target checks:
//!
//! * a frame used at most the bytes there were, and its payload is within the limit;
//! * a frame re-encodes (`Frame::encode`) to exactly as many bytes as it used, and those decode
//!   to the same frame (nothing the decoder accepts is lost or changed in its value);
//! * every strict prefix of a frame is "need more", or (once the 9-byte header is in) the same
//!   oversize error: a frame split across reads anywhere decodes the same;
//! * a stream error's `frame_len` is within the bytes there were, and the frame's own length;
//! * "need more" is only ever said about fewer bytes than the next frame's header announces;
//!
//! and then that the whole stream, taken as a header block and framed by `encode_headers` at
//! the limit, decodes to `HEADERS` + `CONTINUATION` frames that join back to it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ssehub::h2::frame::{self, Frame, FrameError, HEAD_LEN, Violation};

fuzz_target!(|data: &[u8]| {
    let Some((&limit, stream)) = data.split_first() else { return };
    let max = if limit % 2 == 0 { ssehub::h2::DEFAULT_MAX_FRAME_SIZE } else { u32::from(limit) };

    let mut rest = stream;
    loop {
        match frame::decode(rest, max) {
            Ok(None) => {
                if let Some(head) = rest.first_chunk::<HEAD_LEN>() {
                    let len = frame::Head::parse(head).len as usize;
                    assert!(len <= max as usize, "an oversized frame must be refused, not awaited");
                    assert!(rest.len() < HEAD_LEN + len, "need more with a whole frame there");
                }
                break;
            }
            Ok(Some((frame, used))) => {
                assert!(used <= rest.len() && used >= HEAD_LEN);
                assert!(used - HEAD_LEN <= max as usize);
                check_prefixes(&rest[..used], max, None);
                let mut again = Vec::new();
                frame.encode(&mut again);
                assert_eq!(again.len(), used, "{frame:?}");
                assert_eq!(frame.encoded_len(), used);
                assert_eq!(frame::decode(&again, max), Ok(Some((frame, used))));
                // The same frame with a larger limit is the same frame.
                assert_eq!(
                    frame::decode(&rest[..used], ssehub::h2::MAX_FRAME_SIZE_LIMIT),
                    Ok(Some((frame, used)))
                );
                rest = &rest[used..];
            }
            Err(FrameError::Stream { frame_len, violation, stream_id }) => {
                assert!(frame_len <= rest.len() && frame_len >= HEAD_LEN);
                let head = frame::Head::parse(rest.first_chunk::<HEAD_LEN>().expect("a header"));
                assert_eq!(frame_len, HEAD_LEN + head.len as usize);
                assert_eq!(stream_id, head.stream_id);
                assert_ne!(stream_id, 0, "stream errors are about streams");
                check_prefixes(&rest[..frame_len], max, None);
                let _ = violation.to_string();
                rest = &rest[frame_len..];
            }
            Err(e @ FrameError::Connection(violation)) => {
                let _ = e.to_string();
                if let Violation::TooLarge { len, max: m } = violation {
                    assert!(len > m && m == max);
                    check_prefixes(&rest[..HEAD_LEN], max, Some(e));
                } else {
                    let head = frame::Head::parse(rest.first_chunk::<HEAD_LEN>().expect("a header"));
                    let frame_len = HEAD_LEN + head.len as usize;
                    assert!(frame_len <= rest.len(), "judged before the whole frame was in");
                    assert_eq!(frame::decode(&rest[..frame_len], max), Err(e));
                    check_prefixes(&rest[..frame_len], max, None);
                }
                break;
            }
        }
    }

    // The input as a header block, framed at the limit.
    let mut wire = Vec::new();
    frame::encode_headers(1, stream, limit & 1 == 1, max, &mut wire);
    let mut joined = Vec::new();
    let mut rest = &wire[..];
    let mut first = true;
    let mut ended = false;
    while let Some((f, used)) = frame::decode(rest, max).expect("our own frames are valid") {
        assert!(!ended);
        match f {
            Frame::Headers(h) if first => {
                joined.extend_from_slice(h.fragment);
                ended = h.end_headers;
                assert_eq!(h.end_stream, limit & 1 == 1);
            }
            Frame::Continuation(c) if !first => {
                joined.extend_from_slice(c.fragment);
                ended = c.end_headers;
            }
            other => panic!("unexpected {other:?}"),
        }
        first = false;
        rest = &rest[used..];
    }
    assert!(ended && rest.is_empty());
    assert_eq!(joined, stream);
});

/// Every strict prefix of `frame` is "need more" — or, for an oversized frame once its header
/// is in, `oversize`. Short frames are checked at every length, long ones at a sample.
fn check_prefixes(frame: &[u8], max: u32, oversize: Option<FrameError>) {
    let check = |n: usize| {
        let expected = if n >= HEAD_LEN { oversize.map_or(Ok(None), Err) } else { Ok(None) };
        assert_eq!(frame::decode(&frame[..n], max), expected, "prefix {n} of {}", frame.len());
    };
    if frame.len() <= 64 {
        (0..frame.len()).for_each(check);
    } else {
        [0, 1, HEAD_LEN - 1, HEAD_LEN, HEAD_LEN + 1, frame.len() / 2, frame.len() - 1]
            .into_iter()
            .for_each(check);
    }
}
