//! JSON strings (RFC 8259 §7), for the few JSON bodies the library answers with (the publish
//! endpoint's `{"id":"42"}`).
//!
//! Only escaping, no JSON values: the bodies are fixed shapes around a few strings, and a whole
//! JSON library for one string would be the library's heaviest dependency.

/// Appends `s` to `out` as a JSON string, quotes included.
///
/// RFC 8259 §7 requires escaping `"`, `\` and the control characters U+0000 to U+001F; those
/// with a two-character escape (`\b \f \n \r \t`) get it, the others `\u00XX`. Everything else,
/// `/`, DEL and non-ASCII text included, is written as it is: the body is UTF-8.
pub(crate) fn push_string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push('"');
    let mut plain = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0C => "\\f",
            0x00..=0x1F => "",
            _ => continue,
        };
        // `b` is ASCII, so `i` and `i + 1` are char boundaries.
        out.push_str(&s[plain..i]);
        if escape.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xF)]));
        } else {
            out.push_str(escape);
        }
        plain = i + 1;
    }
    out.push_str(&s[plain..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(s: &str) -> String {
        let mut out = String::new();
        push_string(&mut out, s);
        out
    }

    #[test]
    fn plain_text_is_only_quoted() {
        assert_eq!(json(""), r#""""#);
        assert_eq!(json("42"), r#""42""#);
        // `/` may be escaped but need not be; DEL and non-ASCII are not control characters.
        assert_eq!(json("a/b\u{7f}é€😀"), "\"a/b\u{7f}é€😀\"");
    }

    #[test]
    fn quote_and_backslash() {
        assert_eq!(json(r#"a"b"#), r#""a\"b""#);
        assert_eq!(json(r"a\b"), r#""a\\b""#);
        assert_eq!(json(r#"\""#), r#""\\\"""#);
    }

    #[test]
    fn short_escapes() {
        assert_eq!(json("\u{8}\u{c}\n\r\t"), r#""\b\f\n\r\t""#);
    }

    #[test]
    fn every_other_control_character_as_u00xx() {
        for b in 0u8..0x20 {
            if matches!(b, 0x08 | 0x0C | b'\n' | b'\r' | b'\t') {
                continue;
            }
            let got = json(&format!("x{}y", char::from(b)));
            assert_eq!(got, format!("\"x\\u{b:04x}y\""), "U+{b:04X}");
        }
        assert_eq!(json("\0\u{1f}"), r#""\u0000\u001f""#);
    }

    #[test]
    fn escapes_between_multibyte_text() {
        assert_eq!(json("é\"€\n😀"), "\"é\\\"€\\n😀\"");
    }
}
