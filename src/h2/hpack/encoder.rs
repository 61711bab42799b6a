//! The HPACK encoder: header fields → a header block (RFC 7541 §6), for our responses.
//!
//! Any encoding the decoder understands is correct; an encoder only chooses. This one chooses
//! simply, per field:
//!
//! 1. a field that one of the tables holds whole is sent as its index (one octet for `:status:
//!    200` from the static table, or for `content-type: text/event-stream` from the dynamic
//!    table once a first response on the connection added it);
//! 2. otherwise a literal, naming the field by index when a table holds the name, and
//!    * *never indexed* for credentials (`authorization`, `cookie`, `set-cookie`, ...), so that
//!      no intermediary compresses them either (RFC 7541 §7.1.3),
//!    * *without indexing* for fields whose values change from one response to the next
//!      (`date`, `content-length`, `etag`, ...) and for fields too large for a quarter of the
//!      table: adding them would only evict fields that repeat,
//!    * *with incremental indexing* for the rest: the next response on the connection sends
//!      them as one index;
//! 3. a string is Huffman-coded when that is shorter.
//!
//! The dynamic table is at most the peer's `SETTINGS_HEADER_TABLE_SIZE` and at most our own cap
//! ([`DEFAULT_CAP`], 4 KiB, whatever a peer allows), and every change of its maximum is announced
//! with a size update at the start of the next block: the smallest maximum since the last block
//! first, then the current one, as RFC 7541 §4.2 requires.
//!
//! In the data flow the encoder comes before `frame::encode_headers`, which frames the block.

use super::huffman;
use super::integer;
use super::table::{self, DynamicTable, Found, entry_size};

/// The most dynamic table an [`Encoder`] keeps, whatever the peer allows: 4,096 octets.
pub const DEFAULT_CAP: usize = 4096;

/// How a literal field is to be remembered (RFC 7541 §6.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Indexing {
    /// Added to the dynamic table (both ends'); later blocks can send it as an index.
    Incremental,
    /// Not added.
    No,
    /// Not added, here or by any intermediary that re-encodes it (for credentials).
    Never,
}

/// When to Huffman-code a string literal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Huffman {
    /// When that is shorter than the raw octets.
    Shorter,
    /// Never.
    Never,
    /// Always.
    Always,
}

/// The encoding context of one connection's outgoing header blocks.
///
/// ```
/// use ssehub::h2::hpack::{Decoder, Encoder};
///
/// let head = [(&b":status"[..], &b"200"[..]), (b"content-type", b"text/event-stream")];
/// let mut encoder = Encoder::new(4096);
/// let mut first = Vec::new();
/// encoder.encode(head, &mut first);
/// let mut second = Vec::new();
/// encoder.encode(head, &mut second);
/// assert_eq!(second, [0x88, 0xbe], "both fields are indices now");
///
/// let mut decoder = Decoder::new(4096);
/// assert_eq!(decoder.decode_to_vec(&first)?, decoder.decode_to_vec(&second)?);
/// # Ok::<(), ssehub::h2::hpack::DecodeError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Encoder {
    table: DynamicTable,
    /// The most table we keep, whatever the peer allows.
    cap: usize,
    /// Size updates owed at the start of the next block: the smallest maximum since the last
    /// block, and the current maximum.
    pending: Option<(usize, usize)>,
}

impl Encoder {
    /// An encoder for a peer whose `SETTINGS_HEADER_TABLE_SIZE` is `max_table_size` (4,096
    /// until its `SETTINGS` says otherwise), keeping at most [`DEFAULT_CAP`] octets of table.
    pub fn new(max_table_size: usize) -> Encoder {
        Encoder::with_cap(max_table_size, DEFAULT_CAP)
    }

    /// An encoder keeping at most `cap` octets of table (0: never index anything).
    pub fn with_cap(max_table_size: usize, cap: usize) -> Encoder {
        let size = max_table_size.min(cap);
        // The peer's decoder starts at its own setting: tell it when we use less.
        let pending = (size < max_table_size).then_some((size, size));
        Encoder { table: DynamicTable::new(size), cap, pending }
    }

    /// Applies the peer's new `SETTINGS_HEADER_TABLE_SIZE`; the next block announces the change.
    pub fn set_max_table_size(&mut self, max_table_size: usize) {
        let size = max_table_size.min(self.cap);
        if size == self.table.max_size() {
            return;
        }
        self.table.set_max_size(size);
        self.pending = Some(match self.pending {
            Some((smallest, _)) => (smallest.min(size), size),
            None => (size, size),
        });
    }

    /// The dynamic table.
    pub fn table(&self) -> &DynamicTable {
        &self.table
    }

    /// Appends one header block for `fields` to `out`, choosing each field's representation as
    /// the module doc describes.
    pub fn encode<'a, I>(&mut self, fields: I, out: &mut Vec<u8>)
    where
        I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
    {
        self.begin_block(out);
        for (name, value) in fields {
            let indexing = self.indexing_for(name, value);
            self.field(name, value, indexing, Huffman::Shorter, out);
        }
    }

    /// Appends one header block with the caller's choice of indexing per field and of
    /// Huffman coding. A field the tables hold whole is still sent as an index, unless it is
    /// [`Indexing::Never`].
    pub fn encode_with<'a, I>(&mut self, fields: I, huffman: Huffman, out: &mut Vec<u8>)
    where
        I: IntoIterator<Item = (&'a [u8], &'a [u8], Indexing)>,
    {
        self.begin_block(out);
        for (name, value, indexing) in fields {
            self.field(name, value, indexing, huffman, out);
        }
    }

    /// The owed size updates (RFC 7541 §6.3: `001` and a 5-bit prefix).
    fn begin_block(&mut self, out: &mut Vec<u8>) {
        if let Some((smallest, current)) = self.pending.take() {
            if smallest < current {
                integer::encode(smallest as u64, 5, 0x20, out);
            }
            integer::encode(current as u64, 5, 0x20, out);
        }
    }

    fn indexing_for(&self, name: &[u8], value: &[u8]) -> Indexing {
        const SENSITIVE: [&[u8]; 4] = [b"authorization", b"proxy-authorization", b"cookie", b"set-cookie"];
        const VOLATILE: [&[u8]; 7] =
            [b"date", b"content-length", b"etag", b"last-modified", b"age", b"expires", b"content-range"];
        if SENSITIVE.contains(&name) {
            Indexing::Never
        } else if VOLATILE.contains(&name) || entry_size(name, value) > self.table.max_size() / 4 {
            Indexing::No
        } else {
            Indexing::Incremental
        }
    }

    fn field(&mut self, name: &[u8], value: &[u8], indexing: Indexing, huffman: Huffman, out: &mut Vec<u8>) {
        let found = table::find(&self.table, name, value);
        let name_index = match found {
            Found::Field(index) if indexing != Indexing::Never => {
                // §6.1: 1xxxxxxx.
                integer::encode(index as u64, 7, 0x80, out);
                return;
            }
            Found::Field(index) | Found::Name(index) => index,
            Found::None => 0,
        };
        // §6.2.1 01xxxxxx, §6.2.2 0000xxxx, §6.2.3 0001xxxx.
        let (prefix_bits, pattern) = match indexing {
            Indexing::Incremental => (6, 0x40),
            Indexing::No => (4, 0x00),
            Indexing::Never => (4, 0x10),
        };
        integer::encode(name_index as u64, prefix_bits, pattern, out);
        if name_index == 0 {
            string(name, huffman, out);
        }
        string(value, huffman, out);
        if indexing == Indexing::Incremental {
            self.table.insert(name, value);
        }
    }
}

/// A string literal (§5.2): `H` and a 7-bit-prefix length, then the octets.
fn string(s: &[u8], huffman: Huffman, out: &mut Vec<u8>) {
    let coded_len = huffman::encoded_len(s);
    let use_huffman = match huffman {
        Huffman::Shorter => coded_len < s.len(),
        Huffman::Never => false,
        Huffman::Always => true,
    };
    if use_huffman {
        integer::encode(coded_len as u64, 7, 0x80, out);
        huffman::encode(s, out);
    } else {
        integer::encode(s.len() as u64, 7, 0x00, out);
        out.extend_from_slice(s);
    }
}

#[cfg(test)]
mod tests {
    use super::super::decoder::{Decoder, Field};
    use super::super::rfc7541_examples::{C3, C4, C5, C6, REQUESTS, RESPONSES, hex};
    use super::*;

    /// Encodes the lists as the RFC does (every literal with incremental indexing) and compares
    /// each block with the RFC's.
    fn encode_sequence(
        max_table_size: usize,
        lists: &[&[(&str, &str)]; 3],
        huffman: Huffman,
        expected: [&str; 3],
    ) {
        let mut e = Encoder::new(max_table_size);
        for i in 0..3 {
            let mut out = Vec::new();
            e.encode_with(
                lists[i].iter().map(|(n, v)| (n.as_bytes(), v.as_bytes(), Indexing::Incremental)),
                huffman,
                &mut out,
            );
            assert_eq!(out, hex(expected[i]), "block {}", i + 1);
        }
    }

    #[test]
    fn c_2_examples_encode() {
        let mut e = Encoder::new(4096);
        let mut out = Vec::new();
        e.encode_with(
            [(&b"custom-key"[..], &b"custom-header"[..], Indexing::Incremental)],
            Huffman::Never,
            &mut out,
        );
        assert_eq!(out, hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"), "C.2.1");
        assert_eq!(e.table().size(), 55);

        let mut e = Encoder::new(4096);
        out.clear();
        e.encode_with([(&b":path"[..], &b"/sample/path"[..], Indexing::No)], Huffman::Never, &mut out);
        assert_eq!(out, hex("040c 2f73 616d 706c 652f 7061 7468"), "C.2.2");

        out.clear();
        e.encode_with([(&b"password"[..], &b"secret"[..], Indexing::Never)], Huffman::Never, &mut out);
        assert_eq!(out, hex("1008 7061 7373 776f 7264 0673 6563 7265 74"), "C.2.3");

        out.clear();
        e.encode_with([(&b":method"[..], &b"GET"[..], Indexing::Incremental)], Huffman::Never, &mut out);
        assert_eq!(out, hex("82"), "C.2.4");
        assert!(e.table().is_empty());
    }

    #[test]
    fn c_3_requests_without_huffman_encode() {
        encode_sequence(4096, &REQUESTS, Huffman::Never, C3);
    }

    #[test]
    fn c_4_requests_with_huffman_encode() {
        encode_sequence(4096, &REQUESTS, Huffman::Always, C4);
    }

    #[test]
    fn c_5_responses_without_huffman_encode() {
        encode_sequence(256, &RESPONSES, Huffman::Never, C5);
    }

    #[test]
    fn c_6_responses_with_huffman_encode() {
        encode_sequence(256, &RESPONSES, Huffman::Always, C6);
    }

    #[test]
    fn huffman_is_used_only_when_shorter() {
        let mut out = Vec::new();
        string(b"307", Huffman::Shorter, &mut out);
        assert_eq!(out, b"\x03307", "3 octets either way: raw");
        out.clear();
        string(b"no-cache", Huffman::Shorter, &mut out);
        assert_eq!(out, hex("86 a8eb 1064 9cbf"));
        out.clear();
        string(b"\x00\x01", Huffman::Shorter, &mut out);
        assert_eq!(out, b"\x02\x00\x01", "control octets have long codes");
    }

    fn decode_all(decoder: &mut Decoder, block: &[u8]) -> Vec<(Vec<u8>, Vec<u8>, bool)> {
        let mut fields = Vec::new();
        decoder
            .decode(block, |Field { name, value, never_indexed }| {
                fields.push((name.to_vec(), value.to_vec(), never_indexed))
            })
            .unwrap();
        fields
    }

    #[test]
    fn an_event_stream_response_head_is_indices_from_the_second_time() {
        let head: [(&[u8], &[u8]); 4] = [
            (b":status", b"200"),
            (b"content-type", b"text/event-stream"),
            (b"cache-control", b"no-cache"),
            (b"access-control-allow-origin", b"*"),
        ];
        let mut e = Encoder::new(4096);
        let mut d = Decoder::new(4096);
        let mut first = Vec::new();
        e.encode(head, &mut first);
        let mut second = Vec::new();
        e.encode(head, &mut second);
        assert_eq!(second, [0x88, 0xc0, 0xbf, 0xbe]);
        let expected: Vec<_> = head.iter().map(|(n, v)| (n.to_vec(), v.to_vec(), false)).collect();
        assert_eq!(decode_all(&mut d, &first), expected);
        assert_eq!(decode_all(&mut d, &second), expected);
    }

    #[test]
    fn credentials_are_never_indexed_and_volatile_fields_not_indexed() {
        let mut e = Encoder::new(4096);
        let mut out = Vec::new();
        e.encode([(&b"set-cookie"[..], &b"a=b"[..]), (b"date", b"Mon, 21 Oct 2013 20:13:21 GMT")], &mut out);
        assert!(e.table().is_empty());
        assert_eq!(out[0], 0x1f, "never indexed, name index 55 (15 + 40)");
        let mut d = Decoder::new(4096);
        let fields = decode_all(&mut d, &out);
        assert!(fields[0].2 && !fields[1].2);
    }

    #[test]
    fn a_field_larger_than_a_quarter_of_the_table_is_not_indexed() {
        let mut e = Encoder::new(4096);
        let big = vec![b'x'; 1024];
        let mut out = Vec::new();
        e.encode([(&b"x-big"[..], &big[..])], &mut out);
        assert!(e.table().is_empty());
        e.encode([(&b"x-small"[..], &b"1"[..])], &mut out);
        assert_eq!(e.table().len(), 1);
    }

    #[test]
    fn a_table_change_is_announced_smallest_first() {
        let mut e = Encoder::new(4096);
        let mut out = Vec::new();
        e.encode([(&b"x-a"[..], &b"1"[..])], &mut out);
        e.set_max_table_size(0);
        e.set_max_table_size(2048);
        assert!(e.table().is_empty(), "the update to 0 evicted everything");
        out.clear();
        e.encode([(&b":status"[..], &b"200"[..])], &mut out);
        assert_eq!(out, [0x20, 0x3f, 0xe1, 0x0f, 0x88], "update to 0, to 2048, then the field");
        out.clear();
        e.encode([(&b":status"[..], &b"200"[..])], &mut out);
        assert_eq!(out, [0x88], "announced once");
        // An unchanged value is no change.
        e.set_max_table_size(2048);
        out.clear();
        e.encode([(&b":status"[..], &b"200"[..])], &mut out);
        assert_eq!(out, [0x88]);
    }

    #[test]
    fn the_cap_bounds_the_table_and_is_announced() {
        let mut e = Encoder::new(1 << 20);
        assert_eq!(e.table().max_size(), DEFAULT_CAP);
        let mut out = Vec::new();
        e.encode([(&b":status"[..], &b"200"[..])], &mut out);
        assert_eq!(out, [0x3f, 0xe1, 0x1f, 0x88], "an update to 4096 first");
        let mut d = Decoder::new(1 << 20);
        d.decode_to_vec(&out).unwrap();
        assert_eq!(d.table().max_size(), 4096);

        let mut e = Encoder::with_cap(4096, 0);
        out.clear();
        e.encode([(&b"x-a"[..], &b"1"[..])], &mut out);
        assert!(e.table().is_empty());
        assert_eq!(out[0], 0x20, "announces a table of 0");
    }
}
