//! A deliberately naive reference decoder for the event stream, to check `ssehub::Decoder`
//! against: the whole stream at once, the rules of `docs/event-stream-rules.md` applied
//! literally, no chunks, no limits, no cleverness.

use ssehub::OwnedItem;

/// Decodes a complete stream (which ends after its last byte) into its items.
pub fn decode(stream: &[u8]) -> Vec<OwnedItem> {
    // D2: one BOM at the very start is skipped. D1: the rest is UTF-8, U+FFFD for invalid bytes.
    let stream = stream.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(stream);
    let text = String::from_utf8_lossy(stream);

    // L1: lines end at CRLF, LF or CR. L3: a last line without an ending is dropped.
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                lines.push(std::mem::take(&mut line));
            }
            '\n' => lines.push(std::mem::take(&mut line)),
            c => line.push(c),
        }
    }

    let mut items = Vec::new();
    let mut data = String::new();
    let mut event_type = String::new();
    let mut id_buffer = String::new();
    for line in &lines {
        // P1: an empty line dispatches.
        if line.is_empty() {
            if data.is_empty() {
                event_type.clear(); // E2
                continue;
            }
            data.pop(); // E3: remove the one trailing LF
            items.push(OwnedItem::Event {
                event_type: if event_type.is_empty() { "message".to_string() } else { event_type.clone() },
                data: data.clone(),
                // E1: the last event ID is the ID buffer, which is never reset.
                last_event_id: id_buffer.clone(),
            });
            data.clear(); // E4
            event_type.clear();
            continue;
        }
        // P2: a comment.
        if line.starts_with(':') {
            continue;
        }
        // P3, P4: name and value.
        let (name, value) = match line.find(':') {
            Some(i) => {
                let value = &line[i + 1..];
                (&line[..i], value.strip_prefix(' ').unwrap_or(value))
            }
            None => (line.as_str(), ""),
        };
        // P5: case-sensitive; unknown names, and ignored values (F3, F4), fall through.
        match name {
            "event" => event_type = value.to_string(), // F1
            "data" => {
                // F2
                data.push_str(value);
                data.push('\n');
            }
            "id" if !value.contains('\0') => id_buffer = value.to_string(), // F3
            "retry" if !value.is_empty() && value.chars().all(|c| c.is_ascii_digit()) => {
                // F4; a number past u64::MAX is ignored, as the decoder documents.
                if let Ok(ms) = value.parse::<u64>() {
                    items.push(OwnedItem::Retry(ms));
                }
            }
            _ => {}
        }
    }
    items
}
