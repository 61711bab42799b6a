//! The HPACK decoder on arbitrary header blocks, and our encoder on arbitrary header lists.
//!
//! The first input byte chooses:
//!
//! * even: **decode** `[mode, table, string, list, fields, (len, block)*]`, a run of blocks, each
//!   `len` bytes, through one decoder with small limits (a parameter byte of 0xff means the
//!   default: a 4,096-octet table, `Limits::default()`; otherwise a table of `4 * table` octets,
//!   strings of `string` octets, a header list of `8 * list`, `fields % 32` fields). The RFC
//!   7541 Appendix C blocks are seeds of this form. Checks: no panic; never more fields, header
//!   list size or string length than allowed (a field from the tables is at most the longest of
//!   the string limit and the static table's 27 octets); the dynamic table within its maximum
//!   and that within the advertised size; scratch buffers within their bound; decoding stops
//!   at the first error that loses the context.
//! * odd: **round trip**: the rest, read with `arbitrary`, is a sequence of header lists with
//!   table size changes between them, an encoder cap, and per field an indexing choice (or the
//!   encoder's own). Each block our `Encoder` makes decodes, through a `Decoder` with wide
//!   limits, to exactly its list, never-indexed fields arrive as such, and the two dynamic
//!   tables are equal after every block.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use ssehub::h2::hpack::{self, Decoder, Encoder, Huffman, Indexing, Limits};

#[derive(Arbitrary, Debug)]
struct Block {
    /// The peer's new `SETTINGS_HEADER_TABLE_SIZE` before this block.
    resize: Option<u16>,
    /// 0: Huffman when shorter, 1: never, 2: always.
    huffman: u8,
    /// Each field with 0: incremental, 1: without indexing, 2: never indexed, 3+: the
    /// encoder's choice (used for the whole block when every field says so).
    fields: Vec<(Vec<u8>, Vec<u8>, u8)>,
}

#[derive(Arbitrary, Debug)]
struct RoundTrip {
    cap: u16,
    blocks: Vec<Block>,
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode % 2 == 0 {
        decode(rest);
    } else if let Ok(input) = RoundTrip::arbitrary_take_rest(Unstructured::new(rest)) {
        round_trip(input);
    }
});

fn decode(input: &[u8]) {
    let Some((params, mut blocks)) = input.split_first_chunk::<4>() else { return };
    let [table, string, list, fields] = *params;
    let default = Limits::default();
    let max_table_size = if table == 0xff { 4096 } else { 4 * usize::from(table) };
    let limits = Limits {
        max_string_len: if string == 0xff { default.max_string_len } else { usize::from(string) },
        max_header_list_size: if list == 0xff { default.max_header_list_size } else { 8 * usize::from(list) },
        max_fields: if fields == 0xff { default.max_fields } else { usize::from(fields % 32) },
    };
    let mut decoder = Decoder::with_limits(max_table_size, limits);
    let field_bound = limits.max_string_len.max(27);
    while let Some((&len, rest)) = blocks.split_first() {
        let (block, after) = rest.split_at(usize::from(len).min(rest.len()));
        blocks = after;
        let (mut count, mut size) = (0, 0);
        let result = decoder.decode(block, |f| {
            count += 1;
            size += hpack::entry_size(f.name, f.value);
            assert!(f.name.len() <= field_bound && f.value.len() <= field_bound);
        });
        assert!(count <= limits.max_fields, "{count} fields");
        assert!(size <= limits.max_header_list_size, "{size} octets of header list");
        let table = decoder.table();
        assert!(table.size() <= table.max_size() && table.max_size() <= max_table_size);
        assert!(decoder.buffer_capacity() <= 2 * limits.max_string_len.max(max_table_size).max(27));
        match result {
            Ok(()) => {}
            Err(e) => {
                let _ = e.to_string();
                if e.connection_error().is_some() {
                    return;
                }
            }
        }
    }
}

fn round_trip(input: RoundTrip) {
    let cap = usize::from(input.cap);
    let mut encoder = Encoder::with_cap(4096, cap);
    let wide =
        Limits { max_string_len: usize::MAX, max_header_list_size: usize::MAX, max_fields: usize::MAX };
    let mut decoder = Decoder::with_limits(4096, wide);
    for block in &input.blocks {
        if let Some(size) = block.resize {
            encoder.set_max_table_size(usize::from(size));
            decoder.set_max_table_size(usize::from(size));
        }
        let indexing = |choice: u8| match choice {
            0 => Some(Indexing::Incremental),
            1 => Some(Indexing::No),
            2 => Some(Indexing::Never),
            _ => None,
        };
        let mut wire = Vec::new();
        if block.fields.iter().all(|(_, _, c)| indexing(*c).is_none()) {
            encoder.encode(block.fields.iter().map(|(n, v, _)| (&n[..], &v[..])), &mut wire);
        } else {
            let huffman = match block.huffman % 3 {
                0 => Huffman::Shorter,
                1 => Huffman::Never,
                _ => Huffman::Always,
            };
            let fields =
                block.fields.iter().map(|(n, v, c)| (&n[..], &v[..], indexing(*c).unwrap_or(Indexing::No)));
            encoder.encode_with(fields, huffman, &mut wire);
        }
        let mut decoded = Vec::new();
        decoder
            .decode(&wire, |f| decoded.push((f.name.to_vec(), f.value.to_vec(), f.never_indexed)))
            .unwrap_or_else(|e| panic!("{e} decoding our own block {wire:02x?}"));
        assert_eq!(decoded.len(), block.fields.len());
        for ((name, value, choice), (dn, dv, never)) in block.fields.iter().zip(&decoded) {
            assert_eq!((name, value), (dn, dv));
            if indexing(*choice) == Some(Indexing::Never) {
                assert!(*never);
            }
        }
        assert_eq!(encoder.table(), decoder.table());
        assert!(encoder.table().max_size() <= cap);
    }
}
