//! Encoder: [`Event`] → event-stream bytes, appended to a caller's buffer.
//!
//! This is the first step of the outgoing data flow (`app ─► Event ─► encode ─► Frame ─► queues`).
//! It is a pure function: no I/O, no allocation beyond growing the caller's `Vec`. Rule tags
//! (`L1`, `F2`, ...) refer to `docs/event-stream-rules.md` in the repository.
//!
//! # What is written
//! One block per event, fields in this order, then one blank line:
//!
//! ```text
//! :<comment line>          one per line of `comment`
//! event: <type>
//! id: <id>
//! retry: <decimal milliseconds>
//! data: <line>             one per line of `data`
//! <blank line>
//! ```
//!
//! * `data` and `comment` are split at CRLF, lone LF and lone CR (the three line endings of rule
//!   L1), so every line of text arrives as one line: nothing is truncated at a lone CR and no
//!   CRLF doubles into two breaks. A client rebuilds `data` with LF between the lines (rule F2).
//! * A field is written `name: value` (one space, which the client strips, rule P3), so a value's
//!   own leading space survives; an empty value is written `name:`.
//! * A value that would change meaning (a line break in `event` or `id`, NUL in `id`) is an
//!   [`EncodeError`]; the buffer is then left exactly as it was.
//!
//! ```
//! let mut out = Vec::new();
//! ssehub::encode(&ssehub::Event::new("a\r\nb"), &mut out).unwrap();
//! assert_eq!(out, b"data: a\ndata: b\n\n");
//! assert_eq!(ssehub::encoded_len(&ssehub::Event::new("a\r\nb")), out.len());
//! ```

use crate::error::EncodeError;
use crate::event::Event;

/// Appends the encoding of `event` to `out`.
///
/// On error nothing is appended.
pub fn encode(event: &Event, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    event.validate()?;
    encode_validated(event, out);
    Ok(())
}

/// [`encode`] of an event the caller has validated already (a publish is checked once).
pub(crate) fn encode_validated(event: &Event, out: &mut Vec<u8>) {
    debug_assert!(event.validate().is_ok());
    out.reserve(block_len(event));
    write_block(event, out);
}

/// The exact number of bytes [`encode`] appends for `event` (when it is valid).
pub fn encoded_len(event: &Event) -> usize {
    block_len(event)
}

/// Appends a comment-only block (`:text` lines and a blank line), such as a keep-alive.
///
/// Comments need no validation: line breaks in `text` become several comment lines.
///
/// ```
/// let mut out = Vec::new();
/// ssehub::encode_comment("ok", &mut out);
/// assert_eq!(out, b":ok\n\n");
/// ```
pub fn encode_comment(text: &str, out: &mut Vec<u8>) {
    for_each_line(text.as_bytes(), |line| {
        out.push(b':');
        out.extend_from_slice(line);
        out.push(b'\n');
    });
    out.push(b'\n');
}

/// Where the block writer puts bytes: a real buffer, or a counter for [`encoded_len`].
trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

struct Counter(usize);

impl Sink for Counter {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }
}

fn block_len(event: &Event) -> usize {
    let mut c = Counter(0);
    write_block(event, &mut c);
    c.0
}

#[inline]
fn write_block<S: Sink>(event: &Event, out: &mut S) {
    if let Some(comment) = &event.comment {
        for_each_line(comment.as_bytes(), |line| {
            out.put(b":");
            out.put(line);
            out.put(b"\n");
        });
    }
    if let Some(t) = &event.event {
        field(out, b"event", t.as_bytes());
    }
    if let Some(id) = &event.id {
        field(out, b"id", id.as_bytes());
    }
    if let Some(ms) = event.retry {
        let mut digits = [0u8; 20];
        field(out, b"retry", decimal(ms, &mut digits));
    }
    if let Some(data) = &event.data {
        for_each_line(data.as_bytes(), |line| field(out, b"data", line));
    }
    out.put(b"\n");
}

#[inline]
fn field<S: Sink>(out: &mut S, name: &[u8], value: &[u8]) {
    out.put(name);
    if value.is_empty() {
        out.put(b":\n");
    } else {
        out.put(b": ");
        out.put(value);
        out.put(b"\n");
    }
}

/// Calls `f` for each line of `text`, where lines are separated by CRLF, LF or CR.
///
/// Text without a line break is one line (the empty text included); a trailing break yields a
/// trailing empty line, so the line count is always the break count plus one.
#[inline]
pub(crate) fn for_each_line(text: &[u8], mut f: impl FnMut(&[u8])) {
    let mut rest = text;
    while let Some(i) = memchr::memchr2(b'\r', b'\n', rest) {
        f(&rest[..i]);
        let skip = if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') { 2 } else { 1 };
        rest = &rest[i + skip..];
    }
    f(rest);
}

/// Formats `n` in decimal into `buf`, returning the digits.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(ev: &Event) -> String {
        let mut out = Vec::new();
        encode(ev, &mut out).unwrap();
        assert_eq!(out.len(), encoded_len(ev), "encoded_len agrees with encode");
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn f2_single_line_data() {
        assert_eq!(enc(&Event::new("hello")), "data: hello\n\n");
    }

    #[test]
    fn f2_empty_data_is_still_one_data_line() {
        // An empty data line makes the client dispatch an event with empty data (E3).
        assert_eq!(enc(&Event::new("")), "data:\n\n");
    }

    #[test]
    fn l1_data_split_at_lf_crlf_and_lone_cr() {
        assert_eq!(enc(&Event::new("a\nb")), "data: a\ndata: b\n\n");
        assert_eq!(enc(&Event::new("a\r\nb")), "data: a\ndata: b\n\n");
        assert_eq!(enc(&Event::new("a\rb")), "data: a\ndata: b\n\n");
        assert_eq!(enc(&Event::new("a\r\rb")), "data: a\ndata:\ndata: b\n\n");
        assert_eq!(enc(&Event::new("a\n\rb")), "data: a\ndata:\ndata: b\n\n");
    }

    #[test]
    fn l1_leading_and_trailing_breaks_become_empty_lines() {
        assert_eq!(enc(&Event::new("\na\n")), "data:\ndata: a\ndata:\n\n");
        assert_eq!(enc(&Event::new("\r")), "data:\ndata:\n\n");
    }

    #[test]
    fn p3_leading_space_of_a_value_survives() {
        assert_eq!(enc(&Event::new(" x")), "data:  x\n\n");
        assert_eq!(enc(&Event::new("d").event(" t")), "event:  t\ndata: d\n\n");
    }

    #[test]
    fn field_order_is_comment_event_id_retry_data() {
        let ev = Event::new("d").retry(10).id("7").event("e").comment("c");
        assert_eq!(enc(&ev), ":c\nevent: e\nid: 7\nretry: 10\ndata: d\n\n");
    }

    #[test]
    fn retry_is_decimal() {
        assert_eq!(enc(&Event::default().retry(0)), "retry: 0\n\n");
        assert_eq!(enc(&Event::default().retry(u64::MAX)), "retry: 18446744073709551615\n\n");
    }

    #[test]
    fn f3_empty_id_is_written_so_it_resets_the_last_event_id() {
        assert_eq!(enc(&Event::new("d").id("")), "id:\ndata: d\n\n");
    }

    #[test]
    fn block_without_data_writes_no_data_line() {
        assert_eq!(enc(&Event::default().id("5")), "id: 5\n\n");
        assert_eq!(enc(&Event::default()), "\n");
    }

    #[test]
    fn multi_line_comment_becomes_several_comment_lines() {
        assert_eq!(enc(&Event::comment_only("a\r\nb\rc")), ":a\n:b\n:c\n\n");
        let mut out = Vec::new();
        encode_comment("x\ny", &mut out);
        assert_eq!(out, b":x\n:y\n\n");
    }

    #[test]
    fn invalid_fields_are_refused_and_nothing_is_written() {
        let mut out = b"keep".to_vec();
        for ev in
            [Event::new("d").event("a\nid: 1"), Event::new("d").id("1\r\ndata: x"), Event::new("d").id("1\0")]
        {
            assert!(encode(&ev, &mut out).is_err());
            assert_eq!(out, b"keep");
        }
    }

    #[test]
    fn for_each_line_counts_breaks_plus_one() {
        let mut lines = Vec::new();
        for_each_line(b"a\r\n\r\rb\n", |l| lines.push(l.to_vec()));
        assert_eq!(lines, [&b"a"[..], b"", b"", b"b", b""]);
    }
}
