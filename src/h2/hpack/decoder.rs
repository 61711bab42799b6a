//! The HPACK decoder: a whole header block → header fields (RFC 7541 §3, §6).
//!
//! A header block is a sequence of *representations*, each telling the decoder one field and
//! whether to remember it. The first octet's high bits say which:
//!
//! ```text
//! 1xxxxxxx  indexed field: index (7-bit prefix) into the tables          §6.1
//! 01xxxxxx  literal, then add it to the dynamic table: name index (6)    §6.2.1
//! 0000xxxx  literal, not added: name index (4)                           §6.2.2
//! 0001xxxx  literal, never to be indexed (by any intermediary): index (4) §6.2.3
//! 001xxxxx  dynamic table size update: new maximum (5)                   §6.3
//! ```
//!
//! A literal's name index 0 means the name follows as a string literal; the value always does.
//! A string literal is a length (7-bit prefix) whose top bit says "Huffman-coded", then the
//! octets. Size updates are only allowed at the start of a block, and not above the
//! `SETTINGS_HEADER_TABLE_SIZE` we advertised.
//!
//! In the data flow the decoder sits after frame decoding: the connection joins a `HEADERS`
//! fragment and its `CONTINUATION`s into one block, and this turns it into fields for the
//! request layer. Decoding is all or nothing per block and must happen for every block in
//! order, even for streams that are being refused, or the dynamic table goes out of step.
//!
//! ## Bounds
//! Three [`Limits`] keep a peer from making us hold or hand out too much. A string longer than
//! `max_string_len` is a decoding error (RFC 7541 §7.4 asks for such a limit), like any other
//! malformed input: the HPACK context is lost, the connection ends with `COMPRESSION_ERROR`.
//! A header list over `max_header_list_size` (counted as RFC 9113 §6.5.2 does: name + value +
//! 32 per field) or with more than `max_fields` fields is different: the block is still decoded
//! to its end, so the table stays in step, but no more fields are handed out, and the error
//! ([`DecodeError::connection_error`] is `None`) lets the connection answer `431` or reset only
//! that stream.

use core::fmt;

use super::huffman::{self, HuffmanError};
use super::integer::{self, IntegerError};
use super::table::{self, DynamicTable, entry_size};
use crate::h2::ErrorCode;

/// Bounds on what one header block may make the decoder hold and hand out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The longest string literal (name or value), in octets after Huffman decoding (default
    /// 16 KiB). Fields sent as indices are the tables' and were bounded when they went in.
    pub max_string_len: usize,
    /// The largest header list: the sum over fields of name + value + 32 octets (default
    /// 16 KiB, what a server would advertise as `SETTINGS_MAX_HEADER_LIST_SIZE`).
    pub max_header_list_size: usize,
    /// The most fields in one header list (default 128).
    pub max_fields: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_string_len: 16 * 1024, max_header_list_size: 16 * 1024, max_fields: 128 }
    }
}

/// An owned header list: (name, value) pairs, in order.
pub type HeaderList = Vec<(Vec<u8>, Vec<u8>)>;

/// One decoded header field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field<'a> {
    /// The name, as sent (HTTP/2 requires lowercase; checking that is the request layer's job).
    pub name: &'a [u8],
    /// The value.
    pub value: &'a [u8],
    /// Sent as "never indexed" (RFC 7541 §6.2.3): a proxy must forward it the same way.
    pub never_indexed: bool,
}

/// Why a header block could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The block ends inside a representation.
    Truncated,
    /// An integer is above 2^32 - 1 or encoded with too many octets.
    IntegerOverflow,
    /// An index is 0 or past the end of the tables.
    InvalidIndex(u64),
    /// A name or value is longer than [`Limits::max_string_len`].
    StringTooLong {
        /// The limit.
        limit: usize,
    },
    /// A Huffman-coded string is malformed (bad padding, or `EOS` inside).
    Huffman(HuffmanError),
    /// A dynamic table size update comes after a field in the block.
    SizeUpdateNotAtStart,
    /// A dynamic table size update asks for more than our `SETTINGS_HEADER_TABLE_SIZE`.
    SizeUpdateTooLarge {
        /// The size asked for.
        size: u64,
        /// Our setting.
        max: usize,
    },
    /// We lowered `SETTINGS_HEADER_TABLE_SIZE` and the block does not start with the size update
    /// that must follow (RFC 7541 §4.2).
    SizeUpdateMissing,
    /// The header list exceeds [`Limits::max_header_list_size`]; the table is intact.
    HeaderListTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The header list has more than [`Limits::max_fields`] fields; the table is intact.
    TooManyFields {
        /// The limit.
        limit: usize,
    },
}

impl DecodeError {
    /// The connection error this calls for: `COMPRESSION_ERROR` when the HPACK context is lost,
    /// `None` when only this header list is refused (too large, too many fields) and the
    /// connection can go on, answering the request with `431` or resetting its stream.
    pub fn connection_error(&self) -> Option<ErrorCode> {
        match self {
            DecodeError::HeaderListTooLarge { .. } | DecodeError::TooManyFields { .. } => None,
            _ => Some(ErrorCode::CompressionError),
        }
    }
}

impl From<IntegerError> for DecodeError {
    fn from(e: IntegerError) -> DecodeError {
        match e {
            IntegerError::Truncated => DecodeError::Truncated,
            IntegerError::Overflow => DecodeError::IntegerOverflow,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str("header block ends inside a field"),
            DecodeError::IntegerOverflow => {
                f.write_str("header block integer larger than 2^32 - 1 or encoded too long")
            }
            DecodeError::InvalidIndex(index) => write!(f, "header table index {index} does not exist"),
            DecodeError::StringTooLong { limit } => {
                write!(f, "header name or value longer than {limit} octets")
            }
            DecodeError::Huffman(e) => write!(f, "{e}"),
            DecodeError::SizeUpdateNotAtStart => {
                f.write_str("dynamic table size update after a header field")
            }
            DecodeError::SizeUpdateTooLarge { size, max } => {
                write!(f, "dynamic table size update to {size} exceeds the advertised {max}")
            }
            DecodeError::SizeUpdateMissing => {
                f.write_str("header block does not start with the required dynamic table size update")
            }
            DecodeError::HeaderListTooLarge { limit } => write!(f, "header list larger than {limit} octets"),
            DecodeError::TooManyFields { limit } => write!(f, "header list with more than {limit} fields"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// The decoding context of one connection's incoming header blocks.
///
/// ```
/// use ssehub::h2::hpack::Decoder;
///
/// // RFC 7541 C.3.1, then C.3.2, which refers to the entry C.3.1 added (index 62).
/// let mut decoder = Decoder::new(4096);
/// let first = b"\x82\x86\x84\x41\x0fwww.example.com";
/// let fields = decoder.decode_to_vec(first)?;
/// assert_eq!(fields[3], (b":authority".to_vec(), b"www.example.com".to_vec()));
///
/// let second = b"\x82\x86\x84\xbe\x58\x08no-cache";
/// let mut names = Vec::new();
/// decoder.decode(second, |field| names.push(String::from_utf8_lossy(field.name).into_owned()))?;
/// assert_eq!(names, [":method", ":scheme", ":path", ":authority", "cache-control"]);
/// assert_eq!(decoder.table().size(), 110);
/// # Ok::<(), ssehub::h2::hpack::DecodeError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Decoder {
    table: DynamicTable,
    /// Our acknowledged `SETTINGS_HEADER_TABLE_SIZE`: the most a size update may ask for.
    max_table_size: usize,
    /// The setting went below the table's maximum: the next block must start with an update.
    update_required: bool,
    limits: Limits,
    /// Huffman-decoded names and values (and copied names of new entries), reused.
    name_buf: Vec<u8>,
    value_buf: Vec<u8>,
}

impl Decoder {
    /// A decoder for a connection on which we advertise `SETTINGS_HEADER_TABLE_SIZE` =
    /// `max_table_size` (4,096 unless we change it), with the default [`Limits`].
    pub fn new(max_table_size: usize) -> Decoder {
        Decoder::with_limits(max_table_size, Limits::default())
    }

    /// A decoder with these limits.
    pub fn with_limits(max_table_size: usize, limits: Limits) -> Decoder {
        Decoder {
            table: DynamicTable::new(max_table_size),
            max_table_size,
            update_required: false,
            limits,
            name_buf: Vec::new(),
            value_buf: Vec::new(),
        }
    }

    /// Applies a new `SETTINGS_HEADER_TABLE_SIZE` of ours, once the peer has acknowledged it
    /// (blocks it sent before the acknowledgement were encoded under the old value). If it is
    /// below the table's current maximum, the peer's next block must start with a size update.
    pub fn set_max_table_size(&mut self, max_table_size: usize) {
        self.max_table_size = max_table_size;
        if max_table_size < self.table.max_size() {
            self.update_required = true;
        }
    }

    /// The dynamic table.
    pub fn table(&self) -> &DynamicTable {
        &self.table
    }

    /// The limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Octets held by the decoder's scratch buffers (not the table). Each buffer grows to the
    /// longest string it has held: at most [`Limits::max_string_len`], or a name copied from the
    /// tables (at most the table size).
    pub fn buffer_capacity(&self) -> usize {
        self.name_buf.capacity() + self.value_buf.capacity()
    }

    /// Decodes one whole header block, calling `emit` for each field in order.
    ///
    /// On `Err`, fields already emitted belong to a refused list and must be dropped. After an
    /// error with a [`connection_error`](DecodeError::connection_error) the context is lost and
    /// the decoder must not be used again.
    pub fn decode<F: FnMut(Field<'_>)>(&mut self, block: &[u8], mut emit: F) -> Result<(), DecodeError> {
        let Decoder { table, max_table_size, update_required, limits, name_buf, value_buf } = self;
        let mut input = block;
        let mut list = List { size: 0, count: 0, refused: None };
        let mut at_start = true;
        while let Some(&first) = input.first() {
            if first & 0xe0 == 0x20 {
                // 001xxxxx: dynamic table size update (§6.3).
                if !at_start {
                    return Err(DecodeError::SizeUpdateNotAtStart);
                }
                let size = integer::decode(&mut input, 5)?;
                match usize::try_from(size) {
                    Ok(size) if size <= *max_table_size => table.set_max_size(size),
                    _ => return Err(DecodeError::SizeUpdateTooLarge { size, max: *max_table_size }),
                }
                *update_required = false;
                continue;
            }
            if *update_required {
                return Err(DecodeError::SizeUpdateMissing);
            }
            at_start = false;
            if first & 0x80 != 0 {
                // 1xxxxxxx: indexed field (§6.1).
                let index = integer::decode(&mut input, 7)?;
                let (name, value) = lookup(table, index)?;
                list.add(Field { name, value, never_indexed: false }, limits, &mut emit);
            } else if first & 0x40 != 0 {
                // 01xxxxxx: literal with incremental indexing (§6.2.1). The name is copied out
                // of the table first: adding the entry may evict the one it came from.
                let index = integer::decode(&mut input, 6)?;
                let name = if index == 0 {
                    read_string(&mut input, name_buf, limits.max_string_len)?
                } else {
                    let (name, _) = lookup(table, index)?;
                    name_buf.clear();
                    name_buf.reserve_exact(name.len());
                    name_buf.extend_from_slice(name);
                    &name_buf[..]
                };
                let value = read_string(&mut input, value_buf, limits.max_string_len)?;
                table.insert(name, value);
                list.add(Field { name, value, never_indexed: false }, limits, &mut emit);
            } else {
                // 0000xxxx without indexing (§6.2.2), 0001xxxx never indexed (§6.2.3).
                let never_indexed = first & 0x10 != 0;
                let index = integer::decode(&mut input, 4)?;
                let name = if index == 0 {
                    read_string(&mut input, name_buf, limits.max_string_len)?
                } else {
                    lookup(table, index)?.0
                };
                let value = read_string(&mut input, value_buf, limits.max_string_len)?;
                list.add(Field { name, value, never_indexed }, limits, &mut emit);
            }
        }
        if *update_required {
            return Err(DecodeError::SizeUpdateMissing);
        }
        match list.refused {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Decodes one whole header block into owned (name, value) pairs.
    pub fn decode_to_vec(&mut self, block: &[u8]) -> Result<HeaderList, DecodeError> {
        // A request's usual count (pseudo-fields, host, user agent, credentials, length...):
        // one allocation instead of growing 0, 4, 8, 16.
        let mut fields = Vec::with_capacity(16);
        self.decode(block, |f| fields.push((f.name.to_vec(), f.value.to_vec())))?;
        Ok(fields)
    }
}

/// The bounds of one header list as it is decoded.
struct List {
    /// name + value + 32 per field so far.
    size: usize,
    count: usize,
    /// Set at the first field past a bound; no field is emitted after it.
    refused: Option<DecodeError>,
}

impl List {
    fn add<F: FnMut(Field<'_>)>(&mut self, field: Field<'_>, limits: &Limits, emit: &mut F) {
        self.count += 1;
        self.size = self.size.saturating_add(entry_size(field.name, field.value));
        if self.refused.is_some() {
            return;
        }
        if self.count > limits.max_fields {
            self.refused = Some(DecodeError::TooManyFields { limit: limits.max_fields });
        } else if self.size > limits.max_header_list_size {
            self.refused = Some(DecodeError::HeaderListTooLarge { limit: limits.max_header_list_size });
        } else {
            emit(field);
        }
    }
}

fn lookup(table: &DynamicTable, index: u64) -> Result<(&[u8], &[u8]), DecodeError> {
    usize::try_from(index).ok().and_then(|i| table::field(table, i)).ok_or(DecodeError::InvalidIndex(index))
}

/// Reads a string literal (§5.2) from the front of `input`: raw octets are borrowed from the
/// block, Huffman-coded ones decoded into `buf`.
fn read_string<'x, 'b: 'x, 's: 'x>(
    input: &mut &'b [u8],
    buf: &'s mut Vec<u8>,
    limit: usize,
) -> Result<&'x [u8], DecodeError> {
    let huffman = input.first().is_some_and(|b| b & 0x80 != 0);
    let len = integer::decode(input, 7)?;
    let Some((raw, rest)) = usize::try_from(len).ok().and_then(|len| input.split_at_checked(len)) else {
        return Err(DecodeError::Truncated);
    };
    *input = rest;
    if !huffman {
        if raw.len() > limit {
            return Err(DecodeError::StringTooLong { limit });
        }
        return Ok(raw);
    }
    buf.clear();
    huffman::decode(raw, buf, limit).map_err(|e| match e {
        HuffmanError::TooLong { limit } => DecodeError::StringTooLong { limit },
        other => DecodeError::Huffman(other),
    })?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::super::rfc7541_examples::*;
    use super::*;

    fn fields(list: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        list.iter().map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec())).collect()
    }

    fn table_of(decoder: &Decoder) -> Vec<(String, String)> {
        decoder
            .table()
            .iter()
            .map(|(n, v)| (String::from_utf8_lossy(n).into_owned(), String::from_utf8_lossy(v).into_owned()))
            .collect()
    }

    fn entries(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    #[test]
    fn c_2_1_literal_with_indexing() {
        let mut d = Decoder::new(4096);
        let block = hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
        assert_eq!(d.decode_to_vec(&block).unwrap(), fields(&[("custom-key", "custom-header")]));
        assert_eq!(table_of(&d), entries(&[("custom-key", "custom-header")]));
        assert_eq!(d.table().size(), 55);
    }

    #[test]
    fn c_2_2_literal_without_indexing() {
        let mut d = Decoder::new(4096);
        let block = hex("040c 2f73 616d 706c 652f 7061 7468");
        assert_eq!(d.decode_to_vec(&block).unwrap(), fields(&[(":path", "/sample/path")]));
        assert!(d.table().is_empty());
    }

    #[test]
    fn c_2_3_literal_never_indexed() {
        let mut d = Decoder::new(4096);
        let block = hex("1008 7061 7373 776f 7264 0673 6563 7265 74");
        let mut got = Vec::new();
        d.decode(&block, |f| got.push((f.name.to_vec(), f.value.to_vec(), f.never_indexed))).unwrap();
        assert_eq!(got, [(b"password".to_vec(), b"secret".to_vec(), true)]);
        assert!(d.table().is_empty());
    }

    #[test]
    fn c_2_4_indexed_field() {
        let mut d = Decoder::new(4096);
        assert_eq!(d.decode_to_vec(&hex("82")).unwrap(), fields(&[(":method", "GET")]));
        assert!(d.table().is_empty());
    }

    fn decode_sequence(
        max_table_size: usize,
        blocks: [&str; 3],
        lists: &[&[(&str, &str)]; 3],
        tables: &[(&[(&str, &str)], usize); 3],
    ) {
        let mut d = Decoder::new(max_table_size);
        for i in 0..3 {
            assert_eq!(d.decode_to_vec(&hex(blocks[i])).unwrap(), fields(lists[i]), "block {}", i + 1);
            assert_eq!(table_of(&d), entries(tables[i].0), "table after block {}", i + 1);
            assert_eq!(d.table().size(), tables[i].1, "table size after block {}", i + 1);
        }
    }

    #[test]
    fn c_3_requests_without_huffman() {
        decode_sequence(4096, C3, &REQUESTS, &REQUEST_TABLES);
    }

    #[test]
    fn c_4_requests_with_huffman() {
        decode_sequence(4096, C4, &REQUESTS, &REQUEST_TABLES);
    }

    #[test]
    fn c_5_responses_without_huffman_evict() {
        decode_sequence(256, C5, &RESPONSES, &RESPONSE_TABLES);
    }

    #[test]
    fn c_6_responses_with_huffman_evict() {
        decode_sequence(256, C6, &RESPONSES, &RESPONSE_TABLES);
    }

    #[test]
    fn every_strict_prefix_of_a_block_is_refused_and_nothing_more_is_emitted() {
        // Cutting a block inside a representation is an error; cutting it between two
        // representations is a shorter, valid block.
        let block = hex(C6[0]);
        let boundaries = [0, 4, 11, 35, block.len()];
        for n in 0..block.len() {
            let mut d = Decoder::new(256);
            let result = d.decode_to_vec(&block[..n]);
            if boundaries.contains(&n) {
                assert!(result.is_ok(), "prefix {n} ends between fields");
            } else {
                assert!(result.unwrap_err().connection_error().is_some(), "prefix {n}");
            }
        }
    }

    #[test]
    fn index_0_and_unknown_indices_are_errors() {
        let mut d = Decoder::new(4096);
        assert_eq!(d.decode_to_vec(&[0x80]), Err(DecodeError::InvalidIndex(0)));
        assert_eq!(d.decode_to_vec(&[0xbe]), Err(DecodeError::InvalidIndex(62)));
        assert_eq!(
            d.decode_to_vec(&[0x7f, 0x00, 0x00]),
            Err(DecodeError::InvalidIndex(63)),
            "literal name index"
        );
        assert_eq!(
            d.decode_to_vec(&[0x0f, 0x80, 0xff, 0xff, 0xff, 0x0f]),
            Err(DecodeError::InvalidIndex(0xffff_ff8f))
        );
        assert_eq!(DecodeError::InvalidIndex(0).connection_error(), Some(ErrorCode::CompressionError));
    }

    #[test]
    fn integer_overflow_is_an_error() {
        let mut d = Decoder::new(4096);
        assert_eq!(d.decode_to_vec(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]), Err(DecodeError::IntegerOverflow));
        assert_eq!(
            d.decode_to_vec(&[0x00, 0x7f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]),
            Err(DecodeError::IntegerOverflow)
        );
    }

    #[test]
    fn a_string_longer_than_the_block_is_truncated() {
        let mut d = Decoder::new(4096);
        assert_eq!(d.decode_to_vec(&[0x00, 0x05, b'a', b'b']), Err(DecodeError::Truncated));
        assert_eq!(d.decode_to_vec(&[0x00, 0x7f, 0xff, 0xff, 0xff, 0x0f]), Err(DecodeError::Truncated));
        assert_eq!(d.decode_to_vec(&[0x00]), Err(DecodeError::Truncated));
        assert_eq!(d.decode_to_vec(&[0x00, 0x01, b'a']), Err(DecodeError::Truncated), "no value");
    }

    #[test]
    fn bad_huffman_strings_are_errors() {
        let mut d = Decoder::new(4096);
        // Name "0" Huffman-coded with a whole octet of padding.
        assert_eq!(
            d.decode_to_vec(&[0x00, 0x82, 0x07, 0xff, 0x00]),
            Err(DecodeError::Huffman(HuffmanError::InvalidPadding))
        );
        // A value that is EOS.
        assert_eq!(
            d.decode_to_vec(&[0x04, 0x84, 0xff, 0xff, 0xff, 0xff]),
            Err(DecodeError::Huffman(HuffmanError::Eos))
        );
    }

    #[test]
    fn strings_longer_than_the_limit_are_errors_raw_or_huffman() {
        let limits = Limits { max_string_len: 4, ..Limits::default() };
        let mut d = Decoder::with_limits(4096, limits);
        assert_eq!(d.decode_to_vec(b"\x04\x04abcd").unwrap(), fields(&[(":path", "abcd")]));
        assert_eq!(d.decode_to_vec(b"\x04\x05abcde"), Err(DecodeError::StringTooLong { limit: 4 }));
        assert_eq!(d.decode_to_vec(b"\x00\x05abcde\x00"), Err(DecodeError::StringTooLong { limit: 4 }));
        // Five octets Huffman-coded into four: the decoded length counts.
        let mut five = Vec::new();
        huffman::encode(b"00000", &mut five);
        let mut block = vec![0x04, 0x80 | five.len() as u8];
        block.extend_from_slice(&five);
        assert_eq!(d.decode_to_vec(&block), Err(DecodeError::StringTooLong { limit: 4 }));
        assert!(d.buffer_capacity() <= 8);
    }

    #[test]
    fn size_updates_at_the_start_are_applied() {
        let mut d = Decoder::new(4096);
        d.decode_to_vec(&hex(C3[0])).unwrap();
        assert_eq!(d.table().len(), 1);
        // Two updates (0, then 100) and a field.
        assert_eq!(d.decode_to_vec(&[0x20, 0x3f, 0x45, 0x82]).unwrap(), fields(&[(":method", "GET")]));
        assert!(d.table().is_empty(), "the update to 0 emptied it");
        assert_eq!(d.table().max_size(), 100);
        // An update alone is a valid block.
        assert_eq!(d.decode_to_vec(&[0x3f, 0xe1, 0x1f]).unwrap(), []);
        assert_eq!(d.table().max_size(), 4096);
    }

    #[test]
    fn a_size_update_after_a_field_is_an_error() {
        let mut d = Decoder::new(4096);
        assert_eq!(d.decode_to_vec(&[0x82, 0x20]), Err(DecodeError::SizeUpdateNotAtStart));
    }

    #[test]
    fn a_size_update_above_our_setting_is_an_error() {
        let mut d = Decoder::new(4096);
        assert_eq!(
            d.decode_to_vec(&[0x3f, 0xe2, 0x1f]),
            Err(DecodeError::SizeUpdateTooLarge { size: 4097, max: 4096 })
        );
        let mut d = Decoder::new(0);
        assert_eq!(d.decode_to_vec(&[0x21]), Err(DecodeError::SizeUpdateTooLarge { size: 1, max: 0 }));
    }

    #[test]
    fn after_we_lower_the_setting_the_next_block_must_start_with_an_update() {
        let mut d = Decoder::new(4096);
        d.decode_to_vec(&hex(C3[0])).unwrap();
        d.set_max_table_size(1000);
        assert_eq!(d.decode_to_vec(&[0x82]), Err(DecodeError::SizeUpdateMissing));
        let mut d = Decoder::new(4096);
        d.set_max_table_size(1000);
        assert_eq!(d.decode_to_vec(&[]), Err(DecodeError::SizeUpdateMissing));
        assert_eq!(
            d.decode_to_vec(&[0x3f, 0xe2, 0x1f]),
            Err(DecodeError::SizeUpdateTooLarge { size: 4097, max: 1000 })
        );
        // An update to the new value (or less) satisfies it.
        let mut d = Decoder::new(4096);
        d.set_max_table_size(1000);
        assert!(d.decode_to_vec(&[0x3f, 0xc9, 0x07, 0x82]).is_ok());
        assert_eq!(d.table().max_size(), 1000);
        assert!(d.decode_to_vec(&[0x82]).is_ok(), "only the first block needs it");
        // Raising the setting needs no update.
        d.set_max_table_size(8192);
        assert!(d.decode_to_vec(&[0x82]).is_ok());
        assert_eq!(d.decode_to_vec(&[0x3f, 0xe1, 0x3f]).unwrap(), [], "8192 may now be asked for");
    }

    #[test]
    fn a_literal_may_name_an_entry_that_its_insertion_evicts() {
        // Table of 60: one entry "aaaa: b" (37). A literal with incremental indexing named by
        // index 62 (that entry) with a value long enough to evict it.
        let mut d = Decoder::new(60);
        d.decode_to_vec(b"\x40\x04aaaa\x01b").unwrap();
        assert_eq!(
            d.decode_to_vec(b"\x7e\x14twenty-octets-value!").unwrap(),
            fields(&[("aaaa", "twenty-octets-value!")])
        );
        assert_eq!(table_of(&d), entries(&[("aaaa", "twenty-octets-value!")]));
    }

    #[test]
    fn the_header_list_size_bound_refuses_the_list_but_keeps_the_table() {
        // C.3.1's list is 4 fields: 42 + 43 + 38 + 57 = 180 octets as RFC 9113 counts them.
        let limits = Limits { max_header_list_size: 179, ..Limits::default() };
        let mut d = Decoder::with_limits(4096, limits);
        let mut emitted = 0;
        let result = d.decode(&hex(C3[0]), |_| emitted += 1);
        assert_eq!(result, Err(DecodeError::HeaderListTooLarge { limit: 179 }));
        assert_eq!(result.unwrap_err().connection_error(), None);
        assert_eq!(emitted, 3, "fields past the bound are not handed out");
        assert_eq!(d.table().size(), 57, "the entry was still added");
        // The next block, which refers to that entry, decodes.
        let mut d2 = Decoder::with_limits(4096, Limits { max_header_list_size: 180, ..limits });
        assert!(d2.decode_to_vec(&hex(C3[0])).is_ok(), "exactly the bound is fine");
        assert_eq!(d.decode_to_vec(&[0xbe]).unwrap(), fields(&[(":authority", "www.example.com")]));
    }

    #[test]
    fn the_field_count_bound_refuses_the_list_but_keeps_the_table() {
        let limits = Limits { max_fields: 2, ..Limits::default() };
        let mut d = Decoder::with_limits(4096, limits);
        let mut emitted = 0;
        assert_eq!(d.decode(&hex(C3[0]), |_| emitted += 1), Err(DecodeError::TooManyFields { limit: 2 }));
        assert_eq!(emitted, 2);
        assert_eq!(d.table().len(), 1);
        assert_eq!(d.decode_to_vec(&[0x82, 0x84]).unwrap().len(), 2);
    }

    #[test]
    fn errors_read_as_one_line() {
        assert_eq!(
            DecodeError::SizeUpdateTooLarge { size: 9, max: 0 }.to_string(),
            "dynamic table size update to 9 exceeds the advertised 0"
        );
        assert_eq!(
            DecodeError::Huffman(HuffmanError::Eos).to_string(),
            "Huffman-coded string contains the EOS symbol"
        );
    }
}
