//! Property tests of the codec: encode → decode round trips, chunking never changes what is
//! decoded, the decoder agrees with the naive reference decoder of `support`, and a small size
//! limit keeps it from panicking or holding much memory. Rule tags refer to
//! `docs/event-stream-rules.md`.

mod support;

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::Index;
use ssehub::{DecodeError, Decoder, Event, OwnedItem, encode, encoded_len};

/// What feeding some chunks to a decoder produced.
#[derive(Debug)]
struct Decoded {
    items: Vec<OwnedItem>,
    /// `Ok`, or the first error (feeding stops there).
    result: Result<(), DecodeError>,
    /// The largest `buffered_capacity()` seen after a feed.
    peak_capacity: usize,
}

/// Feeds `chunks` in order until the first error, then finishes the stream.
fn decode_chunks(mut dec: Decoder, chunks: &[&[u8]]) -> Decoded {
    let mut items = Vec::new();
    let mut result = Ok(());
    let mut peak_capacity = 0;
    for chunk in chunks {
        result = dec.feed(chunk, |item| items.push(item.to_owned()));
        peak_capacity = peak_capacity.max(dec.buffered_capacity());
        if result.is_err() {
            break;
        }
    }
    if result.is_ok() {
        dec.finish();
    }
    Decoded { items, result, peak_capacity }
}

/// Cuts `bytes` at the points `cuts` pick (empty chunks included).
fn cut<'a>(bytes: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
    points.sort_unstable();
    let mut chunks = Vec::new();
    let mut start = 0;
    for p in points {
        chunks.push(&bytes[start..p]);
        start = p;
    }
    chunks.push(&bytes[start..]);
    chunks
}

/// Text for `data` and comments: any characters, with CR, LF and CRLF frequent.
fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => any::<char>().prop_map(String::from),
        2 => "[a-z :]{1,4}",
        1 => Just("\r".to_owned()),
        1 => Just("\n".to_owned()),
        1 => Just("\r\n".to_owned()),
    ];
    vec(piece, 0..8).prop_map(|pieces| pieces.concat())
}

/// Text for `event` and `id`: any characters but CR, LF and NUL, spaces frequent.
fn field_text() -> impl Strategy<Value = String> {
    let c = prop_oneof![3 => any::<char>(), 1 => Just(' '), 2 => proptest::char::range('a', 'z')];
    vec(c.prop_filter("no CR, LF or NUL", |c| !matches!(c, '\r' | '\n' | '\0')), 0..6)
        .prop_map(String::from_iter)
}

fn event() -> impl Strategy<Value = Event> {
    (
        option::of(text()),
        option::of(field_text()),
        option::of(field_text()),
        option::of(any::<u64>()),
        option::of(text()),
    )
        .prop_map(|(comment, event, id, retry, data)| Event { comment, event, id, retry, data })
}

/// Pieces of the event-stream syntax, and bytes that are not UTF-8 or start a BOM.
const TOKENS: &[&[u8]] = &[
    b"data",
    b"data:",
    b"event",
    b"id",
    b"retry",
    b":",
    b" ",
    b"\r",
    b"\n",
    b"\r\n",
    b"\xEF\xBB\xBF",
    b"\0",
];
const ODD_BYTES: &[u8] = &[0x80, 0x82, 0xBB, 0xBF, 0xC0, 0xC3, 0xE2, 0xED, 0xEF, 0xF0, 0x9F, 0xF4, 0xFF];
const NAMES: &[&[u8]] =
    &[b"data", b"data", b"data", b"event", b"id", b"retry", b"", b"Data", b"x", b"\xEF\xBB\xBF", b"\xEF\xBB"];
const SEPARATORS: &[&[u8]] = &[b":", b": ", b": ", b":  ", b""];
const ENDINGS: &[&[u8]] = &[b"\n", b"\r", b"\r\n", b"\n\n", b"\r\r", b"\r\n\r\n", b""];

/// Bytes made mostly of event-stream syntax, digits and invalid UTF-8, in no particular order.
fn soup(pieces: usize) -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        5 => proptest::sample::select(TOKENS).prop_map(<[u8]>::to_vec),
        2 => "[0-9]{1,3}".prop_map(String::into_bytes),
        2 => proptest::sample::select(ODD_BYTES).prop_map(|b| vec![b]),
        1 => any::<char>().prop_map(|c| c.to_string().into_bytes()),
        1 => any::<u8>().prop_map(|b| vec![b]),
    ];
    vec(piece, 0..pieces).prop_map(|pieces| pieces.concat())
}

/// A line that is often a field: a name, a colon and spaces, a value, and a line ending, each
/// drawn from common and odd choices.
fn line() -> impl Strategy<Value = Vec<u8>> {
    let value = prop_oneof![2 => soup(4), 1 => "[0-9]{1,4}".prop_map(String::into_bytes)];
    let sample = |choices| proptest::sample::select(choices);
    (sample(NAMES), sample(SEPARATORS), value, sample(ENDINGS))
        .prop_map(|(name, separator, value, ending)| [name, separator, &value, ending].concat())
}

/// Byte strings that look like an event stream, more or less.
fn stream(pieces: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(prop_oneof![3 => line(), 1 => soup(3)], 0..pieces).prop_map(|pieces| pieces.concat())
}

/// Like [`stream`], with long runs of one byte, some of them field values, to reach a small
/// limit.
fn long_stream() -> impl Strategy<Value = Vec<u8>> {
    let byte = proptest::sample::select(&[b'a', b' ', b':', b'\r', 0xFF, 0x80, 0xE2][..]);
    let run = (byte.clone(), 1..70usize).prop_map(|(b, n)| vec![b; n]);
    let field = (proptest::sample::select(NAMES), byte, 30..64usize)
        .prop_map(|(name, b, n)| [name, b":", &vec![b; n][..], b"\n"].concat());
    vec(prop_oneof![6 => line(), 1 => run, 2 => field], 0..30).prop_map(|pieces| pieces.concat())
}

const LIMIT: usize = 64;

proptest! {
    /// Valid events survive encode → decode, however the bytes are chunked.
    #[test]
    fn encoded_events_decode_back(events in vec(event(), 0..8), cuts in vec(any::<Index>(), 0..6)) {
        let mut wire = Vec::new();
        let mut expected = Vec::new();
        let mut last_event_id = String::new();
        for ev in &events {
            let before = wire.len();
            encode(ev, &mut wire).unwrap();
            prop_assert_eq!(wire.len() - before, encoded_len(ev), "encoded_len of {:?}", ev);
            if let Some(id) = &ev.id {
                last_event_id.clone_from(id); // F3, E1: ids persist
            }
            if let Some(ms) = ev.retry {
                expected.push(OwnedItem::Retry(ms)); // F4: before the event's data
            }
            if let Some(data) = &ev.data {
                let event_type = match ev.event.as_deref() {
                    None | Some("") => "message",
                    Some(t) => t,
                };
                expected.push(OwnedItem::Event {
                    event_type: event_type.to_owned(),
                    data: data.replace("\r\n", "\n").replace('\r', "\n"),
                    last_event_id: last_event_id.clone(),
                });
            }
        }
        let mut dec = Decoder::new();
        prop_assert_eq!(dec.decode_all(&wire), Ok(expected.clone()));
        prop_assert_eq!(dec.last_event_id(), last_event_id.as_str(), "E1: also after a block without data");
        let split = decode_chunks(Decoder::new(), &cut(&wire, &cuts));
        prop_assert_eq!(split.result, Ok(()));
        prop_assert_eq!(split.items, expected);
    }

    /// Any bytes, chunked anyhow, decode as when fed whole, and as the reference decoder says.
    #[test]
    fn chunking_changes_nothing_and_matches_the_reference(
        bytes in stream(24),
        cuts in vec(any::<Index>(), 0..6),
    ) {
        let whole = decode_chunks(Decoder::new(), &[&bytes]);
        prop_assert_eq!(whole.result, Ok(()));
        let split = decode_chunks(Decoder::new(), &cut(&bytes, &cuts));
        prop_assert_eq!((&split.items, split.result), (&whole.items, whole.result));
        let byte_by_byte: Vec<&[u8]> = bytes.chunks(1).collect();
        let byte_by_byte = decode_chunks(Decoder::new(), &byte_by_byte);
        prop_assert_eq!((&byte_by_byte.items, byte_by_byte.result), (&whole.items, whole.result));
        prop_assert_eq!(whole.items, support::decode(&bytes));
    }

    /// With a small limit, any bytes: no panic, the same items and error whole or chunked, and
    /// the decoder's heap within the documented bound of `5 * limit + 1` bytes after every feed.
    #[test]
    fn small_limit_never_panics_chunking_changes_nothing_and_memory_is_bounded(
        bytes in long_stream(),
        cuts in vec(any::<Index>(), 0..8),
    ) {
        let whole = decode_chunks(Decoder::with_max_size(LIMIT), &[&bytes]);
        let split = decode_chunks(Decoder::with_max_size(LIMIT), &cut(&bytes, &cuts));
        prop_assert_eq!((&split.items, split.result), (&whole.items, whole.result));
        for peak in [whole.peak_capacity, split.peak_capacity] {
            prop_assert!(peak <= 5 * LIMIT + 1, "peak capacity {}", peak);
        }
    }
}
