//! HPACK, the header compression of HTTP/2 (RFC 7541).
//!
//! This commit has its primitives: [`integer`], the prefix-coded integers (§5.1), and
//! [`huffman`], the static Huffman code (§5.2, Appendix B).

pub mod huffman;
pub mod integer;

pub use huffman::HuffmanError;
