//! HPACK, the header compression of HTTP/2 (RFC 7541).
//!
//! HTTP/1.1 repeats the same header fields, as text, on every request. HPACK sends each field as
//! either an *index* into a table of fields both ends know, or a *literal* (name and value,
//! optionally Huffman-coded), which can also be added to the table for next time. The tables are
//! a fixed [static table](STATIC_TABLE) of 61 common fields and, per direction of a connection,
//! a [dynamic table](DynamicTable) of recent fields with a bounded size. Because both ends must
//! update their dynamic tables identically, every header block is decoded in order, whole, on
//! the connection that received it; a decoding error loses the context and ends the connection
//! (`COMPRESSION_ERROR`).
//!
//! ## Where it sits
//! ```text
//! HEADERS + CONTINUATION fragments ─► (joined) ─► Decoder::decode ─► Field { name, value } ─► request
//! response fields ─► Encoder::encode ─► header block ─► frame::encode_headers
//! ```
//!
//! ## Pieces
//! * [`integer`]: the prefix-coded integers (§5.1), with overflow protection;
//! * [`huffman`]: the static Huffman code (§5.2, Appendix B);
//! * [`table`](DynamicTable): the static table and the dynamic table with its size accounting
//!   (§2.3, §4);
//! * [`Decoder`]: all five representations (§6), with [`Limits`] on string length, header list
//!   size and field count;
//! * [`Encoder`]: the representation choice for responses.
//!
//! The tests next to each piece include every example of RFC 7541 Appendix C, decoded and
//! encoded byte for byte.

mod decoder;
mod encoder;
pub mod huffman;
pub mod integer;
#[cfg(test)]
mod rfc7541_examples;
mod table;

pub use decoder::{DecodeError, Decoder, Field, HeaderList, Limits};
pub use encoder::{DEFAULT_CAP, Encoder, Huffman, Indexing};
pub use huffman::HuffmanError;
pub(crate) use table::static_name;
pub use table::{DynamicTable, STATIC_TABLE, entry_size};
