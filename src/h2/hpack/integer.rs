//! HPACK's prefix-coded integers (RFC 7541 §5.1).
//!
//! An integer starts in the low `N` bits of an octet whose high bits say what kind of
//! representation this is (`N` is 4 to 7 in header blocks). A value below `2^N - 1` fits there;
//! otherwise the prefix is all ones and the rest follows in 7-bit groups, least significant
//! first, each octet's top bit saying whether another one follows:
//!
//! ```text
//!   0   1   2   3   4   5   6   7          1337 with N = 5:
//! +---+---+---+---+---+---+---+---+        0x1f            31, the prefix is full
//! | ? | ? | ? | 1   1   1   1   1 |        0x9a  (1)0011010  1306 % 128 = 26, more follows
//! +---+---+---+-------------------+        0x0a  (0)0001010  1306 / 128 = 10, the last
//! | 1 |    Value-(2^N-1) LSB      |
//! +---+---------------------------+
//!                ...
//! +---+---------------------------+
//! | 0 |    Value-(2^N-1) MSB      |
//! +---+---------------------------+
//! ```
//!
//! A peer can make such an integer as long as it likes (even with continuation octets that add
//! nothing), so the decoder accepts at most five continuation octets and values up to
//! 2^32 - 1; anything else is refused rather than wrapped (RFC 7541 §5.1: "integer encodings
//! that exceed implementation limits ... MUST be treated as decoding errors").

use core::fmt;

/// The largest integer the decoder accepts.
pub const MAX: u64 = u32::MAX as u64;

/// Continuation octets after a full prefix: five carry 35 bits, enough for any value up to [`MAX`].
const MAX_CONTINUATIONS: usize = 5;

/// Why an integer could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntegerError {
    /// The input ended inside the integer.
    Truncated,
    /// The value exceeds 2^32 - 1, or takes more than five continuation octets.
    Overflow,
}

impl fmt::Display for IntegerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IntegerError::Truncated => "header block ends inside an integer",
            IntegerError::Overflow => "integer larger than 2^32 - 1 or encoded too long",
        })
    }
}

impl std::error::Error for IntegerError {}

/// Appends `value` with a `prefix_bits`-bit prefix (1..=8); `high` supplies the first octet's
/// bits above the prefix (the representation's pattern).
///
/// ```
/// use ssehub::h2::hpack::integer;
///
/// let mut out = Vec::new();
/// integer::encode(1337, 5, 0, &mut out); // RFC 7541 C.1.2
/// assert_eq!(out, [0x1f, 0x9a, 0x0a]);
/// let mut input = &out[..];
/// assert_eq!(integer::decode(&mut input, 5), Ok(1337));
/// assert!(input.is_empty());
/// ```
pub fn encode(value: u64, prefix_bits: u8, high: u8, out: &mut Vec<u8>) {
    let max_prefix = prefix_max(prefix_bits);
    let high = high & !(max_prefix as u8);
    if value < max_prefix {
        out.push(high | value as u8);
        return;
    }
    out.push(high | max_prefix as u8);
    let mut rest = value - max_prefix;
    while rest >= 0x80 {
        out.push(0x80 | (rest & 0x7f) as u8);
        rest >>= 7;
    }
    out.push(rest as u8);
}

/// Reads an integer with a `prefix_bits`-bit prefix (1..=8) from the front of `input` and
/// advances `input` past it. The first octet's bits above the prefix are ignored.
pub fn decode(input: &mut &[u8], prefix_bits: u8) -> Result<u64, IntegerError> {
    let max_prefix = prefix_max(prefix_bits);
    let Some((&first, mut rest)) = input.split_first() else {
        return Err(IntegerError::Truncated);
    };
    let mut value = u64::from(first) & max_prefix;
    if value == max_prefix {
        let mut shift = 0;
        let mut continuations = 0;
        loop {
            let Some((&octet, after)) = rest.split_first() else {
                return Err(IntegerError::Truncated);
            };
            rest = after;
            continuations += 1;
            if continuations > MAX_CONTINUATIONS {
                return Err(IntegerError::Overflow);
            }
            // At most 5 groups of 7 bits: 35 bits, so neither the shift nor the sum overflows u64.
            value += u64::from(octet & 0x7f) << shift;
            if value > MAX {
                return Err(IntegerError::Overflow);
            }
            shift += 7;
            if octet & 0x80 == 0 {
                break;
            }
        }
    }
    *input = rest;
    Ok(value)
}

/// `2^N - 1` for an `N`-bit prefix, `N` clamped to 1..=8.
fn prefix_max(prefix_bits: u8) -> u64 {
    (1u64 << prefix_bits.clamp(1, 8)) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(value: u64, prefix_bits: u8) -> Vec<u8> {
        let mut out = Vec::new();
        encode(value, prefix_bits, 0, &mut out);
        out
    }

    fn decoded(bytes: &[u8], prefix_bits: u8) -> Result<(u64, usize), IntegerError> {
        let mut input = bytes;
        decode(&mut input, prefix_bits).map(|v| (v, bytes.len() - input.len()))
    }

    #[test]
    fn rfc_7541_c_1_examples() {
        // C.1.1: 10 with a 5-bit prefix.
        assert_eq!(encoded(10, 5), [0b0000_1010]);
        assert_eq!(decoded(&[0b1110_1010], 5), Ok((10, 1)), "the high bits are not part of it");
        // C.1.2: 1337 with a 5-bit prefix.
        assert_eq!(encoded(1337, 5), [0b0001_1111, 0b1001_1010, 0b0000_1010]);
        assert_eq!(decoded(&[0x1f, 0x9a, 0x0a], 5), Ok((1337, 3)));
        // C.1.3: 42 starting at an octet boundary (8-bit prefix).
        assert_eq!(encoded(42, 8), [0b0010_1010]);
        assert_eq!(decoded(&[42], 8), Ok((42, 1)));
    }

    #[test]
    fn values_around_each_prefix_boundary() {
        for n in 1..=8u8 {
            let max = (1u64 << n) - 1;
            assert_eq!(encoded(max - 1, n).len(), 1, "2^{n} - 2 fits the prefix");
            assert_eq!(encoded(max, n), [max as u8, 0], "2^{n} - 1 needs one zero continuation");
            assert_eq!(encoded(max + 127, n), [max as u8, 127]);
            assert_eq!(encoded(max + 128, n), [max as u8, 0x80, 1]);
            for v in [0, max - 1, max, max + 1, max + 127, max + 128, 1 << 20, MAX] {
                let bytes = encoded(v, n);
                assert_eq!(decoded(&bytes, n), Ok((v, bytes.len())), "{v} with {n} bits");
            }
        }
    }

    #[test]
    fn high_bits_are_kept_on_encode() {
        let mut out = Vec::new();
        encode(3, 6, 0x40, &mut out);
        assert_eq!(out, [0x43]);
        out.clear();
        encode(100, 7, 0x80, &mut out);
        assert_eq!(out, [0x80 | 100]);
        out.clear();
        encode(200, 7, 0x80, &mut out);
        assert_eq!(out, [0xff, 200 - 127]);
        assert_eq!(decoded(&out, 7), Ok((200, 2)));
    }

    #[test]
    fn the_largest_value_is_2_pow_32_minus_1() {
        let bytes = encoded(MAX, 5);
        assert_eq!(bytes.len(), 6, "prefix and five continuations");
        assert_eq!(decoded(&bytes, 5), Ok((MAX, 6)));
        assert_eq!(decoded(&encoded(MAX + 1, 5), 5), Err(IntegerError::Overflow));
        assert_eq!(decoded(&encoded(u64::MAX, 1), 1), Err(IntegerError::Overflow));
    }

    #[test]
    fn more_than_five_continuations_is_an_overflow_even_if_they_add_nothing() {
        assert_eq!(decoded(&[0x1f, 0x80, 0x80, 0x80, 0x80, 0x00], 5), Ok((31, 6)));
        assert_eq!(decoded(&[0x1f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00], 5), Err(IntegerError::Overflow));
        assert_eq!(decoded(&[0xff; 100], 8), Err(IntegerError::Overflow));
    }

    #[test]
    fn input_ending_inside_an_integer_is_truncated_and_not_consumed() {
        assert_eq!(decoded(&[], 5), Err(IntegerError::Truncated));
        assert_eq!(decoded(&[0x1f], 5), Err(IntegerError::Truncated));
        assert_eq!(decoded(&[0x1f, 0x9a], 5), Err(IntegerError::Truncated));
        let mut input = &[0x1f, 0x9a][..];
        assert!(decode(&mut input, 5).is_err());
        assert_eq!(input.len(), 2);
    }
}
