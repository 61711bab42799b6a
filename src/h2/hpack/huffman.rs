//! The static Huffman code of HPACK (RFC 7541 §5.2 and Appendix B).
//!
//! HPACK may send any string literal Huffman-coded: each octet becomes a code of 5 to 30 bits
//! (common header characters get the short ones), the codes are packed most significant bit
//! first, and the last octet is filled up with the high bits of the `EOS` symbol, which are all
//! ones. A decoder MUST refuse (RFC 7541 §5.2):
//!
//! * padding longer than 7 bits (a whole octet of padding could have been left out),
//! * padding that is not all ones (not a prefix of `EOS`),
//! * the `EOS` symbol itself inside the string.
//!
//! The code is *canonical*: codes of one length are consecutive numbers, and each length's
//! first code follows from the counts of shorter lengths. So the table below (the RFC's, code
//! and length per symbol) is all the decoder needs: at compile time `CANONICAL` derives per
//! length the first code and where its symbols start, and checks that the transcribed table is
//! canonical and complete, so a mistyped entry fails the build. Decoding then takes, for each
//! symbol, a 30-bit window of input and tries lengths from 5 up until the window's top bits fall
//! in that length's range (2 to 4 tries for the usual header characters).
//!
//! In the data flow this sits under the HPACK [`Decoder`](super::Decoder) and
//! [`Encoder`](super::Encoder), which decide per string whether to use it.
//!
//! ```
//! use ssehub::h2::hpack::huffman;
//!
//! let mut coded = Vec::new();
//! huffman::encode(b"no-cache", &mut coded);
//! assert_eq!(coded, [0xa8, 0xeb, 0x10, 0x64, 0x9c, 0xbf]); // RFC 7541 C.4.2
//! assert_eq!(huffman::encoded_len(b"no-cache"), 6);
//!
//! let mut text = Vec::new();
//! huffman::decode(&coded, &mut text, 100)?;
//! assert_eq!(text, b"no-cache");
//! # Ok::<(), huffman::HuffmanError>(())
//! ```

use core::fmt;

/// Why a Huffman-coded string was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HuffmanError {
    /// The last octet's padding is longer than 7 bits or not all ones (RFC 7541 §5.2).
    InvalidPadding,
    /// The string contains the `EOS` symbol (RFC 7541 §5.2).
    Eos,
    /// The decoded string would be longer than the caller's limit.
    TooLong {
        /// The limit in octets.
        limit: usize,
    },
}

impl fmt::Display for HuffmanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HuffmanError::InvalidPadding => f.write_str("Huffman padding longer than 7 bits or not all ones"),
            HuffmanError::Eos => f.write_str("Huffman-coded string contains the EOS symbol"),
            HuffmanError::TooLong { limit } => write!(f, "Huffman-decoded string longer than {limit} octets"),
        }
    }
}

impl std::error::Error for HuffmanError {}

/// Appends the Huffman coding of `src` to `dst`, padded with ones to a whole octet.
pub fn encode(src: &[u8], dst: &mut Vec<u8>) {
    dst.reserve(encoded_len(src));
    // Pending bits, right-aligned; fewer than 8 between symbols, so at most 37 after one.
    let mut acc: u64 = 0;
    let mut bits: u32 = 0;
    for &byte in src {
        let (code, len) = CODES[usize::from(byte)];
        acc = (acc << len) | u64::from(code);
        bits += u32::from(len);
        while bits >= 8 {
            bits -= 8;
            dst.push((acc >> bits) as u8);
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        let pad = 8 - bits;
        dst.push(((acc << pad) | ((1 << pad) - 1)) as u8);
    }
}

/// The octets [`encode`] appends for `src`.
pub fn encoded_len(src: &[u8]) -> usize {
    let bits: usize = src.iter().map(|&b| usize::from(CODES[usize::from(b)].1)).sum();
    bits.div_ceil(8)
}

/// Appends the decoding of the Huffman-coded `src` to `dst`, refusing more than `limit` octets
/// of output. On error, `dst` may hold part of the string.
pub fn decode(src: &[u8], dst: &mut Vec<u8>, limit: usize) -> Result<(), HuffmanError> {
    // Decoded octets are at least 5 bits each: reserve for the longest possible output.
    dst.reserve_exact((src.len().saturating_mul(8) / 5).min(limit));
    let mut written = 0usize;
    // Unread bits, right-aligned; `acc` never holds more than `bits` bits.
    let mut acc: u64 = 0;
    let mut bits: u32 = 0;
    let mut input = src.iter();
    loop {
        while bits <= 56 {
            let Some(&byte) = input.next() else { break };
            acc = (acc << 8) | u64::from(byte);
            bits += 8;
        }
        if bits == 0 {
            return Ok(());
        }
        // The next 30 bits; past the end of input, ones (as padding would be).
        let window = if bits >= MAX_LEN {
            (acc >> (bits - MAX_LEN)) as u32
        } else {
            let missing = MAX_LEN - bits;
            ((acc << missing) | ((1 << missing) - 1)) as u32
        };
        let (len, symbol) = CANONICAL.lookup(window);
        if len > bits {
            // What is left is no whole code: it must be padding.
            if bits > 7 || acc != (1 << bits) - 1 {
                return Err(HuffmanError::InvalidPadding);
            }
            return Ok(());
        }
        if symbol == EOS {
            return Err(HuffmanError::Eos);
        }
        if written == limit {
            return Err(HuffmanError::TooLong { limit });
        }
        dst.push(symbol as u8);
        written += 1;
        bits -= len;
        acc &= (1 << bits) - 1;
    }
}

/// The `EOS` symbol, which ends no string: its code's high bits are the padding.
const EOS: u16 = 256;
/// The shortest and longest code lengths in the table.
const MIN_LEN: u32 = 5;
const MAX_LEN: u32 = 30;

/// The table, arranged for canonical decoding (see the module doc). Indexed by code length.
pub(crate) struct Canonical {
    /// The first code of each length.
    first: [u32; 31],
    /// One past the last code of each length (`first` when the length has none).
    limit: [u32; 31],
    /// Where each length's symbols start in `symbols`.
    offset: [u16; 31],
    /// The symbols, ordered by code.
    symbols: [u16; 257],
}

impl Canonical {
    /// The length and symbol of the code at the top of a 30-bit window.
    fn lookup(&self, window: u32) -> (u32, u16) {
        let mut len = MIN_LEN;
        while len <= MAX_LEN {
            let l = len as usize;
            let top = window >> (MAX_LEN - len);
            if top < self.limit[l] {
                // Canonical: `top` is at least `first[l]` since it was not below `limit[l - 1]`.
                let index = usize::from(self.offset[l]) + top.wrapping_sub(self.first[l]) as usize;
                return (len, self.symbols.get(index).copied().unwrap_or(EOS));
            }
            len += 1;
        }
        // Unreachable for a complete code (checked at build time): the all-ones window is EOS.
        (MAX_LEN, EOS)
    }
}

/// Built (and checked) at compile time from [`CODES`].
pub(crate) const CANONICAL: Canonical = canonical();

const fn canonical() -> Canonical {
    let mut count = [0u32; 31];
    let mut s = 0;
    while s < CODES.len() {
        let len = CODES[s].1 as usize;
        assert!(len >= MIN_LEN as usize && len <= MAX_LEN as usize, "code length out of range");
        count[len] += 1;
        s += 1;
    }
    let mut first = [0u32; 31];
    let mut limit = [0u32; 31];
    let mut offset = [0u16; 31];
    let mut code = 0u32;
    let mut index = 0u16;
    let mut len = 1;
    while len <= MAX_LEN as usize {
        first[len] = code;
        limit[len] = code + count[len];
        offset[len] = index;
        index += count[len] as u16;
        code = (code + count[len]) << 1;
        len += 1;
    }
    assert!(limit[MAX_LEN as usize] == 1 << MAX_LEN, "the code is not complete (Kraft sum is not 1)");
    let mut symbols = [u16::MAX; 257];
    let mut s = 0;
    while s < CODES.len() {
        let (code, len) = CODES[s];
        let len = len as usize;
        assert!(code >= first[len] && code < limit[len], "the table is not canonical");
        let slot = offset[len] as usize + (code - first[len]) as usize;
        assert!(symbols[slot] == u16::MAX, "two symbols share a code");
        symbols[slot] = s as u16;
        s += 1;
    }
    Canonical { first, limit, offset, symbols }
}

/// RFC 7541 Appendix B: for each symbol (octets 0..=255, then `EOS`), its code, right-aligned,
/// and its length in bits.
#[rustfmt::skip]
pub(crate) const CODES: [(u32, u8); 257] = [
    (0x1ff8, 13), // (0)
    (0x7fffd8, 23), // (1)
    (0xfffffe2, 28), // (2)
    (0xfffffe3, 28), // (3)
    (0xfffffe4, 28), // (4)
    (0xfffffe5, 28), // (5)
    (0xfffffe6, 28), // (6)
    (0xfffffe7, 28), // (7)
    (0xfffffe8, 28), // (8)
    (0xffffea, 24), // (9)
    (0x3ffffffc, 30), // (10)
    (0xfffffe9, 28), // (11)
    (0xfffffea, 28), // (12)
    (0x3ffffffd, 30), // (13)
    (0xfffffeb, 28), // (14)
    (0xfffffec, 28), // (15)
    (0xfffffed, 28), // (16)
    (0xfffffee, 28), // (17)
    (0xfffffef, 28), // (18)
    (0xffffff0, 28), // (19)
    (0xffffff1, 28), // (20)
    (0xffffff2, 28), // (21)
    (0x3ffffffe, 30), // (22)
    (0xffffff3, 28), // (23)
    (0xffffff4, 28), // (24)
    (0xffffff5, 28), // (25)
    (0xffffff6, 28), // (26)
    (0xffffff7, 28), // (27)
    (0xffffff8, 28), // (28)
    (0xffffff9, 28), // (29)
    (0xffffffa, 28), // (30)
    (0xffffffb, 28), // (31)
    (0x14, 6), // ' ' (32)
    (0x3f8, 10), // '!' (33)
    (0x3f9, 10), // '"' (34)
    (0xffa, 12), // '#' (35)
    (0x1ff9, 13), // '$' (36)
    (0x15, 6), // '%' (37)
    (0xf8, 8), // '&' (38)
    (0x7fa, 11), // '\'' (39)
    (0x3fa, 10), // '(' (40)
    (0x3fb, 10), // ')' (41)
    (0xf9, 8), // '*' (42)
    (0x7fb, 11), // '+' (43)
    (0xfa, 8), // ',' (44)
    (0x16, 6), // '-' (45)
    (0x17, 6), // '.' (46)
    (0x18, 6), // '/' (47)
    (0x0, 5), // '0' (48)
    (0x1, 5), // '1' (49)
    (0x2, 5), // '2' (50)
    (0x19, 6), // '3' (51)
    (0x1a, 6), // '4' (52)
    (0x1b, 6), // '5' (53)
    (0x1c, 6), // '6' (54)
    (0x1d, 6), // '7' (55)
    (0x1e, 6), // '8' (56)
    (0x1f, 6), // '9' (57)
    (0x5c, 7), // ':' (58)
    (0xfb, 8), // ';' (59)
    (0x7ffc, 15), // '<' (60)
    (0x20, 6), // '=' (61)
    (0xffb, 12), // '>' (62)
    (0x3fc, 10), // '?' (63)
    (0x1ffa, 13), // '@' (64)
    (0x21, 6), // 'A' (65)
    (0x5d, 7), // 'B' (66)
    (0x5e, 7), // 'C' (67)
    (0x5f, 7), // 'D' (68)
    (0x60, 7), // 'E' (69)
    (0x61, 7), // 'F' (70)
    (0x62, 7), // 'G' (71)
    (0x63, 7), // 'H' (72)
    (0x64, 7), // 'I' (73)
    (0x65, 7), // 'J' (74)
    (0x66, 7), // 'K' (75)
    (0x67, 7), // 'L' (76)
    (0x68, 7), // 'M' (77)
    (0x69, 7), // 'N' (78)
    (0x6a, 7), // 'O' (79)
    (0x6b, 7), // 'P' (80)
    (0x6c, 7), // 'Q' (81)
    (0x6d, 7), // 'R' (82)
    (0x6e, 7), // 'S' (83)
    (0x6f, 7), // 'T' (84)
    (0x70, 7), // 'U' (85)
    (0x71, 7), // 'V' (86)
    (0x72, 7), // 'W' (87)
    (0xfc, 8), // 'X' (88)
    (0x73, 7), // 'Y' (89)
    (0xfd, 8), // 'Z' (90)
    (0x1ffb, 13), // '[' (91)
    (0x7fff0, 19), // '\\' (92)
    (0x1ffc, 13), // ']' (93)
    (0x3ffc, 14), // '^' (94)
    (0x22, 6), // '_' (95)
    (0x7ffd, 15), // '`' (96)
    (0x3, 5), // 'a' (97)
    (0x23, 6), // 'b' (98)
    (0x4, 5), // 'c' (99)
    (0x24, 6), // 'd' (100)
    (0x5, 5), // 'e' (101)
    (0x25, 6), // 'f' (102)
    (0x26, 6), // 'g' (103)
    (0x27, 6), // 'h' (104)
    (0x6, 5), // 'i' (105)
    (0x74, 7), // 'j' (106)
    (0x75, 7), // 'k' (107)
    (0x28, 6), // 'l' (108)
    (0x29, 6), // 'm' (109)
    (0x2a, 6), // 'n' (110)
    (0x7, 5), // 'o' (111)
    (0x2b, 6), // 'p' (112)
    (0x76, 7), // 'q' (113)
    (0x2c, 6), // 'r' (114)
    (0x8, 5), // 's' (115)
    (0x9, 5), // 't' (116)
    (0x2d, 6), // 'u' (117)
    (0x77, 7), // 'v' (118)
    (0x78, 7), // 'w' (119)
    (0x79, 7), // 'x' (120)
    (0x7a, 7), // 'y' (121)
    (0x7b, 7), // 'z' (122)
    (0x7ffe, 15), // '{' (123)
    (0x7fc, 11), // '|' (124)
    (0x3ffd, 14), // '}' (125)
    (0x1ffd, 13), // '~' (126)
    (0xffffffc, 28), // (127)
    (0xfffe6, 20), // (128)
    (0x3fffd2, 22), // (129)
    (0xfffe7, 20), // (130)
    (0xfffe8, 20), // (131)
    (0x3fffd3, 22), // (132)
    (0x3fffd4, 22), // (133)
    (0x3fffd5, 22), // (134)
    (0x7fffd9, 23), // (135)
    (0x3fffd6, 22), // (136)
    (0x7fffda, 23), // (137)
    (0x7fffdb, 23), // (138)
    (0x7fffdc, 23), // (139)
    (0x7fffdd, 23), // (140)
    (0x7fffde, 23), // (141)
    (0xffffeb, 24), // (142)
    (0x7fffdf, 23), // (143)
    (0xffffec, 24), // (144)
    (0xffffed, 24), // (145)
    (0x3fffd7, 22), // (146)
    (0x7fffe0, 23), // (147)
    (0xffffee, 24), // (148)
    (0x7fffe1, 23), // (149)
    (0x7fffe2, 23), // (150)
    (0x7fffe3, 23), // (151)
    (0x7fffe4, 23), // (152)
    (0x1fffdc, 21), // (153)
    (0x3fffd8, 22), // (154)
    (0x7fffe5, 23), // (155)
    (0x3fffd9, 22), // (156)
    (0x7fffe6, 23), // (157)
    (0x7fffe7, 23), // (158)
    (0xffffef, 24), // (159)
    (0x3fffda, 22), // (160)
    (0x1fffdd, 21), // (161)
    (0xfffe9, 20), // (162)
    (0x3fffdb, 22), // (163)
    (0x3fffdc, 22), // (164)
    (0x7fffe8, 23), // (165)
    (0x7fffe9, 23), // (166)
    (0x1fffde, 21), // (167)
    (0x7fffea, 23), // (168)
    (0x3fffdd, 22), // (169)
    (0x3fffde, 22), // (170)
    (0xfffff0, 24), // (171)
    (0x1fffdf, 21), // (172)
    (0x3fffdf, 22), // (173)
    (0x7fffeb, 23), // (174)
    (0x7fffec, 23), // (175)
    (0x1fffe0, 21), // (176)
    (0x1fffe1, 21), // (177)
    (0x3fffe0, 22), // (178)
    (0x1fffe2, 21), // (179)
    (0x7fffed, 23), // (180)
    (0x3fffe1, 22), // (181)
    (0x7fffee, 23), // (182)
    (0x7fffef, 23), // (183)
    (0xfffea, 20), // (184)
    (0x3fffe2, 22), // (185)
    (0x3fffe3, 22), // (186)
    (0x3fffe4, 22), // (187)
    (0x7ffff0, 23), // (188)
    (0x3fffe5, 22), // (189)
    (0x3fffe6, 22), // (190)
    (0x7ffff1, 23), // (191)
    (0x3ffffe0, 26), // (192)
    (0x3ffffe1, 26), // (193)
    (0xfffeb, 20), // (194)
    (0x7fff1, 19), // (195)
    (0x3fffe7, 22), // (196)
    (0x7ffff2, 23), // (197)
    (0x3fffe8, 22), // (198)
    (0x1ffffec, 25), // (199)
    (0x3ffffe2, 26), // (200)
    (0x3ffffe3, 26), // (201)
    (0x3ffffe4, 26), // (202)
    (0x7ffffde, 27), // (203)
    (0x7ffffdf, 27), // (204)
    (0x3ffffe5, 26), // (205)
    (0xfffff1, 24), // (206)
    (0x1ffffed, 25), // (207)
    (0x7fff2, 19), // (208)
    (0x1fffe3, 21), // (209)
    (0x3ffffe6, 26), // (210)
    (0x7ffffe0, 27), // (211)
    (0x7ffffe1, 27), // (212)
    (0x3ffffe7, 26), // (213)
    (0x7ffffe2, 27), // (214)
    (0xfffff2, 24), // (215)
    (0x1fffe4, 21), // (216)
    (0x1fffe5, 21), // (217)
    (0x3ffffe8, 26), // (218)
    (0x3ffffe9, 26), // (219)
    (0xffffffd, 28), // (220)
    (0x7ffffe3, 27), // (221)
    (0x7ffffe4, 27), // (222)
    (0x7ffffe5, 27), // (223)
    (0xfffec, 20), // (224)
    (0xfffff3, 24), // (225)
    (0xfffed, 20), // (226)
    (0x1fffe6, 21), // (227)
    (0x3fffe9, 22), // (228)
    (0x1fffe7, 21), // (229)
    (0x1fffe8, 21), // (230)
    (0x7ffff3, 23), // (231)
    (0x3fffea, 22), // (232)
    (0x3fffeb, 22), // (233)
    (0x1ffffee, 25), // (234)
    (0x1ffffef, 25), // (235)
    (0xfffff4, 24), // (236)
    (0xfffff5, 24), // (237)
    (0x3ffffea, 26), // (238)
    (0x7ffff4, 23), // (239)
    (0x3ffffeb, 26), // (240)
    (0x7ffffe6, 27), // (241)
    (0x3ffffec, 26), // (242)
    (0x3ffffed, 26), // (243)
    (0x7ffffe7, 27), // (244)
    (0x7ffffe8, 27), // (245)
    (0x7ffffe9, 27), // (246)
    (0x7ffffea, 27), // (247)
    (0x7ffffeb, 27), // (248)
    (0xffffffe, 28), // (249)
    (0x7ffffec, 27), // (250)
    (0x7ffffed, 27), // (251)
    (0x7ffffee, 27), // (252)
    (0x7ffffef, 27), // (253)
    (0x7fffff0, 27), // (254)
    (0x3ffffee, 26), // (255)
    (0x3fffffff, 30), // EOS (256)
];

#[cfg(test)]
mod tests {
    use super::super::rfc7541_examples::hex;
    use super::*;

    fn decoded(src: &[u8]) -> Result<Vec<u8>, HuffmanError> {
        let mut out = Vec::new();
        decode(src, &mut out, usize::MAX).map(|()| out)
    }

    /// Every Huffman-coded string of RFC 7541 Appendix C.4 and C.6.
    const RFC_STRINGS: [(&str, &str); 11] = [
        ("www.example.com", "f1e3 c2e5 f23a 6ba0 ab90 f4ff"),
        ("no-cache", "a8eb 1064 9cbf"),
        ("custom-key", "25a8 49e9 5ba9 7d7f"),
        ("custom-value", "25a8 49e9 5bb8 e8b4 bf"),
        ("302", "6402"),
        ("private", "aec3 771a 4b"),
        ("Mon, 21 Oct 2013 20:13:21 GMT", "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff"),
        ("https://www.example.com", "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3"),
        ("307", "640e ff"),
        ("gzip", "9bd9 ab"),
        (
            "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
            "94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
        ),
    ];

    #[test]
    fn rfc_examples_encode_and_decode() {
        for (text, coded) in RFC_STRINGS {
            let mut out = Vec::new();
            encode(text.as_bytes(), &mut out);
            assert_eq!(out, hex(coded), "encoding {text:?}");
            assert_eq!(encoded_len(text.as_bytes()), out.len());
            assert_eq!(decoded(&hex(coded)).unwrap(), text.as_bytes(), "decoding {text:?}");
        }
    }

    #[test]
    fn every_octet_round_trips_alone_and_together() {
        let all: Vec<u8> = (0..=255).collect();
        for b in &all {
            let mut out = Vec::new();
            encode(&[*b], &mut out);
            assert_eq!(decoded(&out).unwrap(), [*b]);
        }
        let mut out = Vec::new();
        encode(&all, &mut out);
        assert_eq!(decoded(&out).unwrap(), all);
        assert_eq!(decoded(&[]).unwrap(), b"");
    }

    #[test]
    fn the_table_has_the_rfc_extremes() {
        assert_eq!(CODES[usize::from(b'0')], (0x0, 5));
        assert_eq!(CODES[usize::from(b'/')], (0x18, 6));
        assert_eq!(CODES[10], (0x3fff_fffc, 30));
        assert_eq!(CODES[256], (0x3fff_ffff, 30));
    }

    #[test]
    fn padding_of_up_to_7_ones_is_accepted() {
        // '0' is 00000: 3 bits of padding.
        assert_eq!(decoded(&[0b0000_0111]).unwrap(), b"0");
        // 'a' (00011) then '0' (00000), then 6 ones.
        assert_eq!(decoded(&[0b0001_1000, 0b0011_1111]).unwrap(), b"a0");
        // Five '0's are 25 bits: 7 bits of padding.
        assert_eq!(decoded(&[0, 0, 0, 0b0111_1111]).unwrap(), b"00000");
        // 0111111 is '9' (011111), then 1 bit of padding.
        assert_eq!(decoded(&[0b0111_1111]).unwrap(), b"9");
    }

    #[test]
    fn padding_longer_than_7_bits_is_an_error() {
        // A whole octet of ones after a complete string.
        assert_eq!(decoded(&[0b0000_0111, 0xff]), Err(HuffmanError::InvalidPadding));
        assert_eq!(decoded(&[0xff]), Err(HuffmanError::InvalidPadding));
        assert_eq!(decoded(&[0xff, 0xff, 0xff]), Err(HuffmanError::InvalidPadding));
    }

    #[test]
    fn padding_that_is_not_all_ones_is_an_error() {
        // '0' (00000) then 101.
        assert_eq!(decoded(&[0b0000_0101]), Err(HuffmanError::InvalidPadding));
        // '0' then 000: that is no padding, and no whole code either.
        assert_eq!(decoded(&[0b0000_0000]), Err(HuffmanError::InvalidPadding));
    }

    #[test]
    fn eos_in_the_string_is_an_error() {
        // EOS is 30 ones: four octets of ones hold it.
        assert_eq!(decoded(&[0xff, 0xff, 0xff, 0xff]), Err(HuffmanError::Eos));
        // 'a' then EOS then padding.
        let mut bits = String::from("00011");
        bits.push_str(&"1".repeat(30));
        bits.push_str(&"1".repeat(8 - bits.len() % 8));
        let bytes: Vec<u8> =
            (0..bits.len()).step_by(8).map(|i| u8::from_str_radix(&bits[i..i + 8], 2).unwrap()).collect();
        assert_eq!(decoded(&bytes), Err(HuffmanError::Eos));
    }

    #[test]
    fn the_output_limit_holds() {
        let mut coded = Vec::new();
        encode(b"abcdef", &mut coded);
        let mut out = Vec::new();
        assert_eq!(decode(&coded, &mut out, 6), Ok(()));
        out.clear();
        assert_eq!(decode(&coded, &mut out, 5), Err(HuffmanError::TooLong { limit: 5 }));
        assert!(out.len() <= 5);
        out.clear();
        assert_eq!(decode(&coded, &mut out, 0), Err(HuffmanError::TooLong { limit: 0 }));
        assert_eq!(decode(&[], &mut out, 0), Ok(()));
    }

    #[test]
    fn long_codes_decode_across_octet_boundaries() {
        // Octets with 28- and 30-bit codes, many in a row, so windows straddle refills.
        let src: Vec<u8> = [0u8, 1, 2, 10, 13, 22, 127, 220, 249, 255].repeat(20);
        let mut out = Vec::new();
        encode(&src, &mut out);
        assert_eq!(decoded(&out).unwrap(), src);
    }
}
