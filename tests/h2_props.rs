//! Property tests of the HTTP/2 codec (`ssehub::h2`):
//!
//! * HPACK: any sequence of header lists, encoded block after block through one encoder and
//!   decoded through one decoder (so through their dynamic tables, with table size changes
//!   between blocks), decodes to itself, and both tables stay equal;
//! * Huffman and prefix integers round-trip;
//! * frames: any frame value encodes and decodes back to itself, every strict prefix of its
//!   encoding is "need more", and any bytes the decoder accepts re-encode to a frame that
//!   decodes the same;
//! * no input makes either decoder panic or hand out more than its bounds.

use proptest::collection::vec;
use proptest::prelude::*;
use ssehub::h2::frame::{
    self, Continuation, Data, Frame, GoAway, Headers, Ping, Priority, PushPromise, RstStream, Setting,
    StreamDependency, Unknown, WindowUpdate,
};
use ssehub::h2::hpack::{self, Decoder, Encoder, Huffman, Indexing, Limits, huffman, integer};
use ssehub::h2::{ErrorCode, MAX_FRAME_SIZE_LIMIT};

// ---------------------------------------------------------------------------------------------
// HPACK

const NAMES: [&[u8]; 9] = [
    b":status",
    b"content-type",
    b"cache-control",
    b"set-cookie",
    b"date",
    b"x-custom",
    b"access-control-allow-origin",
    b"authorization",
    b"",
];

const VALUES: [&[u8]; 6] = [b"200", b"404", b"text/event-stream", b"no-cache", b"*", b""];

/// Names: mostly ones the static table knows or that repeat, sometimes anything.
fn name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![4 => prop::sample::select(&NAMES[..]).prop_map(<[u8]>::to_vec), 1 => vec(any::<u8>(), 0..24)]
}

/// Values: often repeated ones (so that fields are found in the tables), sometimes anything,
/// sometimes large enough to evict or to be refused from the table.
fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::sample::select(&VALUES[..]).prop_map(<[u8]>::to_vec),
        2 => vec(any::<u8>(), 0..40),
        1 => vec(any::<u8>(), 200..1500),
    ]
}

fn indexing() -> impl Strategy<Value = Option<Indexing>> {
    prop::option::of(prop::sample::select(&[Indexing::Incremental, Indexing::No, Indexing::Never][..]))
}

/// One block to send: the fields (each with an explicit indexing, or `None` for the encoder's
/// own choice), the Huffman mode, and a table size to switch to before it.
type Block = (Vec<(Vec<u8>, Vec<u8>, Option<Indexing>)>, Huffman, Option<usize>);

fn block() -> impl Strategy<Value = Block> {
    (
        vec((name(), value(), indexing()), 0..12),
        prop::sample::select(&[Huffman::Shorter, Huffman::Never, Huffman::Always][..]),
        prop::option::weighted(0.2, prop::sample::select(&[0usize, 64, 256, 1000, 4096, 8192][..])),
    )
}

const WIDE: Limits =
    Limits { max_string_len: 1 << 16, max_header_list_size: usize::MAX, max_fields: usize::MAX };

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn hpack_round_trips_through_shared_dynamic_tables(blocks in vec(block(), 1..8), cap in prop::sample::select(&[0usize, 300, 4096][..])) {
        let mut encoder = Encoder::with_cap(4096, cap);
        let mut decoder = Decoder::with_limits(4096, WIDE);
        for (fields, huffman, resize) in &blocks {
            if let Some(size) = *resize {
                // The peer's setting, seen by our encoder; and the same setting of theirs,
                // applied by their decoder once acknowledged.
                encoder.set_max_table_size(size);
                decoder.set_max_table_size(size);
            }
            let mut block = Vec::new();
            if fields.iter().all(|(_, _, i)| i.is_none()) {
                encoder.encode(fields.iter().map(|(n, v, _)| (&n[..], &v[..])), &mut block);
            } else {
                let explicit = fields.iter().map(|(n, v, i)| (&n[..], &v[..], i.unwrap_or(Indexing::No)));
                encoder.encode_with(explicit, *huffman, &mut block);
            }
            let mut decoded = Vec::new();
            decoder
                .decode(&block, |f| decoded.push((f.name.to_vec(), f.value.to_vec(), f.never_indexed)))
                .map_err(|e| TestCaseError::fail(format!("{e} decoding {block:02x?}")))?;
            prop_assert_eq!(decoded.len(), fields.len());
            for ((name, value, indexing), (dn, dv, never)) in fields.iter().zip(&decoded) {
                prop_assert_eq!(name, dn);
                prop_assert_eq!(value, dv);
                if *indexing == Some(Indexing::Never) {
                    prop_assert!(*never, "a never-indexed field must arrive as one");
                }
            }
            prop_assert_eq!(encoder.table(), decoder.table(), "the two dynamic tables agree");
            prop_assert!(encoder.table().size() <= encoder.table().max_size());
            prop_assert!(encoder.table().max_size() <= cap);
        }
    }

    #[test]
    fn huffman_round_trips(bytes in vec(any::<u8>(), 0..300)) {
        let mut coded = Vec::new();
        huffman::encode(&bytes, &mut coded);
        prop_assert_eq!(coded.len(), huffman::encoded_len(&bytes));
        let mut decoded = Vec::new();
        prop_assert_eq!(huffman::decode(&coded, &mut decoded, bytes.len()), Ok(()));
        prop_assert_eq!(&decoded, &bytes);
        if !bytes.is_empty() {
            decoded.clear();
            prop_assert!(huffman::decode(&coded, &mut decoded, bytes.len() - 1).is_err(), "the limit holds");
        }
    }

    #[test]
    fn huffman_decoding_of_any_bytes_never_panics_and_what_decodes_re_encodes(bytes in vec(any::<u8>(), 0..64)) {
        let mut decoded = Vec::new();
        if huffman::decode(&bytes, &mut decoded, usize::MAX).is_ok() {
            // The code is a bijection up to the (strictly checked) padding.
            let mut again = Vec::new();
            huffman::encode(&decoded, &mut again);
            prop_assert_eq!(again, bytes);
        }
    }

    #[test]
    fn integers_round_trip(value in 0..=u64::from(u32::MAX), prefix_bits in 1u8..=8, high in any::<u8>(), tail in vec(any::<u8>(), 0..3)) {
        let mut out = Vec::new();
        integer::encode(value, prefix_bits, high, &mut out);
        let mask = ((1u16 << prefix_bits) - 1) as u8;
        prop_assert_eq!(out[0] & !mask, high & !mask, "the pattern bits are kept");
        let len = out.len();
        out.extend_from_slice(&tail);
        let mut input = &out[..];
        prop_assert_eq!(integer::decode(&mut input, prefix_bits), Ok(value));
        prop_assert_eq!(input.len(), out.len() - len);
    }

    #[test]
    fn hpack_decoding_of_any_bytes_stays_within_its_bounds(
        blocks in vec(vec(any::<u8>(), 0..200), 1..4),
        max_string_len in 0usize..64,
        max_header_list_size in 0usize..256,
        max_fields in 0usize..8,
        max_table_size in 0usize..200,
    ) {
        let limits = Limits { max_string_len, max_header_list_size, max_fields };
        let mut decoder = Decoder::with_limits(max_table_size, limits);
        for block in &blocks {
            let (mut count, mut size) = (0, 0);
            let result = decoder.decode(block, |f| {
                count += 1;
                size += hpack::entry_size(f.name, f.value);
                // Literals are bounded by the limit; a field from the tables is one an earlier
                // literal (or the static table, whose longest string is 27 octets) put there.
                let bound = max_string_len.max(27);
                assert!(f.name.len() <= bound && f.value.len() <= bound);
            });
            prop_assert!(count <= max_fields && size <= max_header_list_size);
            prop_assert!(decoder.table().size() <= decoder.table().max_size());
            prop_assert!(decoder.table().max_size() <= max_table_size);
            prop_assert!(decoder.buffer_capacity() <= 2 * max_string_len.max(max_table_size).max(27));
            if let Err(e) = result {
                if e.connection_error().is_some() {
                    break;
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Frames

/// A frame with its variable parts owned, so that a strategy can make one.
#[derive(Clone, Debug)]
enum Owned {
    Data {
        stream_id: u32,
        end_stream: bool,
        data: Vec<u8>,
        pad_len: Option<u8>,
    },
    Headers {
        stream_id: u32,
        end_stream: bool,
        end_headers: bool,
        priority: Option<StreamDependency>,
        pad_len: Option<u8>,
        fragment: Vec<u8>,
    },
    Priority {
        stream_id: u32,
        dependency: StreamDependency,
    },
    RstStream {
        stream_id: u32,
        code: u32,
    },
    Settings {
        ack: bool,
        settings: Vec<Setting>,
    },
    PushPromise {
        stream_id: u32,
        promised: u32,
        end_headers: bool,
        pad_len: Option<u8>,
        fragment: Vec<u8>,
    },
    Ping {
        ack: bool,
        data: [u8; 8],
    },
    GoAway {
        last_stream_id: u32,
        code: u32,
        debug_data: Vec<u8>,
    },
    WindowUpdate {
        stream_id: u32,
        increment: u32,
    },
    Continuation {
        stream_id: u32,
        end_headers: bool,
        fragment: Vec<u8>,
    },
    Unknown {
        kind: u8,
        flags: u8,
        stream_id: u32,
        payload: Vec<u8>,
    },
}

fn stream() -> impl Strategy<Value = u32> {
    1u32..=0x7fff_ffff
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..64)
}

fn setting() -> impl Strategy<Value = Setting> {
    prop_oneof![
        any::<u32>().prop_map(Setting::HeaderTableSize),
        any::<bool>().prop_map(Setting::EnablePush),
        any::<u32>().prop_map(Setting::MaxConcurrentStreams),
        (0..=0x7fff_ffffu32).prop_map(Setting::InitialWindowSize),
        (16_384..=MAX_FRAME_SIZE_LIMIT).prop_map(Setting::MaxFrameSize),
        any::<u32>().prop_map(Setting::MaxHeaderListSize),
        (7u16.., any::<u32>()).prop_map(|(id, value)| Setting::Unknown { id, value }),
    ]
}

fn owned_frame() -> impl Strategy<Value = Owned> {
    let pad = prop::option::of(any::<u8>());
    prop_oneof![
        (stream(), any::<bool>(), bytes(), pad.clone()).prop_map(|(stream_id, end_stream, data, pad_len)| {
            Owned::Data { stream_id, end_stream, data, pad_len }
        }),
        (
            stream(),
            any::<bool>(),
            any::<bool>(),
            prop::option::of((any::<bool>(), 0..=0x7fff_ffffu32, any::<u8>())),
            pad.clone(),
            bytes()
        )
            .prop_filter_map(
                "a stream cannot depend on itself",
                |(stream_id, end_stream, end_headers, p, pad_len, fragment)| {
                    let priority = p.map(|(exclusive, dep, weight)| StreamDependency {
                        exclusive,
                        stream_id: dep,
                        weight,
                    });
                    (priority.map(|p| p.stream_id) != Some(stream_id)).then_some(Owned::Headers {
                        stream_id,
                        end_stream,
                        end_headers,
                        priority,
                        pad_len,
                        fragment,
                    })
                }
            ),
        (stream(), any::<bool>(), 0..=0x7fff_ffffu32, any::<u8>()).prop_filter_map(
            "self dependency",
            |(stream_id, exclusive, dep, weight)| {
                (dep != stream_id).then_some(Owned::Priority {
                    stream_id,
                    dependency: StreamDependency { exclusive, stream_id: dep, weight },
                })
            }
        ),
        (stream(), any::<u32>()).prop_map(|(stream_id, code)| Owned::RstStream { stream_id, code }),
        (any::<bool>(), vec(setting(), 0..8)).prop_map(|(ack, settings)| if ack {
            Owned::Settings { ack, settings: Vec::new() }
        } else {
            Owned::Settings { ack, settings }
        }),
        (stream(), 0..=0x7fff_ffffu32, any::<bool>(), pad, bytes()).prop_map(
            |(stream_id, promised, end_headers, pad_len, fragment)| Owned::PushPromise {
                stream_id,
                promised,
                end_headers,
                pad_len,
                fragment
            }
        ),
        (any::<bool>(), any::<[u8; 8]>()).prop_map(|(ack, data)| Owned::Ping { ack, data }),
        (0..=0x7fff_ffffu32, any::<u32>(), bytes()).prop_map(|(last_stream_id, code, debug_data)| {
            Owned::GoAway { last_stream_id, code, debug_data }
        }),
        (0..=0x7fff_ffffu32, 0..=0x7fff_ffffu32)
            .prop_map(|(stream_id, increment)| Owned::WindowUpdate { stream_id, increment }),
        (stream(), any::<bool>(), bytes()).prop_map(|(stream_id, end_headers, fragment)| {
            Owned::Continuation { stream_id, end_headers, fragment }
        }),
        (10u8.., any::<u8>(), 0..=0x7fff_ffffu32, bytes())
            .prop_map(|(kind, flags, stream_id, payload)| Owned::Unknown { kind, flags, stream_id, payload }),
    ]
}

/// Settings frames can only be had by decoding (their payload is checked on the way in).
fn settings_wire(ack: bool, settings: &[Setting]) -> Vec<u8> {
    let mut wire = Vec::new();
    if ack {
        frame::encode_settings_ack(&mut wire);
    } else {
        frame::encode_settings(settings, &mut wire);
    }
    wire
}

fn borrow<'a>(owned: &'a Owned, settings: &'a [u8]) -> Frame<'a> {
    match owned {
        Owned::Data { stream_id, end_stream, data, pad_len } => {
            Frame::Data(Data { stream_id: *stream_id, end_stream: *end_stream, data, pad_len: *pad_len })
        }
        Owned::Headers { stream_id, end_stream, end_headers, priority, pad_len, fragment } => {
            Frame::Headers(Headers {
                stream_id: *stream_id,
                end_stream: *end_stream,
                end_headers: *end_headers,
                priority: *priority,
                pad_len: *pad_len,
                fragment,
            })
        }
        Owned::Priority { stream_id, dependency } => {
            Frame::Priority(Priority { stream_id: *stream_id, dependency: *dependency })
        }
        Owned::RstStream { stream_id, code } => {
            Frame::RstStream(RstStream { stream_id: *stream_id, code: ErrorCode::from(*code) })
        }
        Owned::Settings { .. } => match frame::decode(settings, 16_384) {
            Ok(Some((f @ Frame::Settings(_), _))) => f,
            other => panic!("settings did not decode: {other:?}"),
        },
        Owned::PushPromise { stream_id, promised, end_headers, pad_len, fragment } => {
            Frame::PushPromise(PushPromise {
                stream_id: *stream_id,
                promised_stream_id: *promised,
                end_headers: *end_headers,
                pad_len: *pad_len,
                fragment,
            })
        }
        Owned::Ping { ack, data } => Frame::Ping(Ping { ack: *ack, data: *data }),
        Owned::GoAway { last_stream_id, code, debug_data } => Frame::GoAway(GoAway {
            last_stream_id: *last_stream_id,
            code: ErrorCode::from(*code),
            debug_data,
        }),
        Owned::WindowUpdate { stream_id, increment } => {
            Frame::WindowUpdate(WindowUpdate { stream_id: *stream_id, increment: *increment })
        }
        Owned::Continuation { stream_id, end_headers, fragment } => {
            Frame::Continuation(Continuation { stream_id: *stream_id, end_headers: *end_headers, fragment })
        }
        Owned::Unknown { kind, flags, stream_id, payload } => {
            Frame::Unknown(Unknown { kind: *kind, flags: *flags, stream_id: *stream_id, payload })
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn frames_round_trip_and_every_prefix_needs_more(owned in owned_frame()) {
        let settings = match &owned {
            Owned::Settings { ack, settings } => settings_wire(*ack, settings),
            _ => Vec::new(),
        };
        let frame = borrow(&owned, &settings);
        let mut wire = Vec::new();
        frame.encode(&mut wire);
        prop_assert_eq!(wire.len(), frame.encoded_len());
        prop_assert_eq!(frame::decode(&wire, MAX_FRAME_SIZE_LIMIT), Ok(Some((frame, wire.len()))));
        for n in 0..wire.len() {
            prop_assert_eq!(frame::decode(&wire[..n], MAX_FRAME_SIZE_LIMIT), Ok(None));
        }
        if let Frame::Settings(s) = frame {
            if let Owned::Settings { settings, .. } = &owned {
                prop_assert_eq!(&s.iter().collect::<Vec<_>>(), settings);
            }
        }
    }

    #[test]
    fn any_bytes_decode_to_an_error_need_more_or_a_frame_that_re_encodes(buf in vec(any::<u8>(), 0..80), max in 0u32..100) {
        match frame::decode(&buf, max) {
            Ok(Some((frame, used))) => {
                prop_assert!(used <= buf.len());
                prop_assert!(used - 9 <= max as usize);
                let mut wire = Vec::new();
                frame.encode(&mut wire);
                prop_assert_eq!(frame::decode(&wire, max), Ok(Some((frame, wire.len()))));
            }
            Ok(None) => prop_assert!(buf.len() < 9 || buf.len() < 9 + ((usize::from(buf[0]) << 16) | (usize::from(buf[1]) << 8) | usize::from(buf[2]))),
            Err(frame::FrameError::Stream { frame_len, .. }) => prop_assert!(frame_len <= buf.len()),
            Err(frame::FrameError::Connection(_)) => {}
        }
    }

    #[test]
    fn a_header_block_split_into_continuations_joins_back(block in vec(any::<u8>(), 0..2000), max in 1u32..600, end_stream in any::<bool>()) {
        let mut wire = Vec::new();
        frame::encode_headers(3, &block, end_stream, max, &mut wire);
        let mut rest = &wire[..];
        let mut joined = Vec::new();
        let mut frames = 0;
        let mut ended = false;
        while let Some((f, used)) = frame::decode(rest, max).map_err(|e| TestCaseError::fail(e.to_string()))? {
            prop_assert!(!ended, "nothing after END_HEADERS");
            match f {
                Frame::Headers(h) if frames == 0 => {
                    prop_assert_eq!(h.end_stream, end_stream);
                    joined.extend_from_slice(h.fragment);
                    ended = h.end_headers;
                }
                Frame::Continuation(c) if frames > 0 => {
                    joined.extend_from_slice(c.fragment);
                    ended = c.end_headers;
                }
                other => return Err(TestCaseError::fail(format!("unexpected {other:?}"))),
            }
            frames += 1;
            rest = &rest[used..];
        }
        prop_assert!(rest.is_empty() && ended);
        prop_assert_eq!(joined, block);
    }
}
