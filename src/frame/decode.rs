//! Push decoder: event-stream bytes → dispatched events and reconnection-time changes.
//!
//! The client side of the data flow (`socket ─► decode ─► Item`), used by `ssehub decode` and
//! the load generator. It implements "parsing an event stream" and "interpreting an event
//! stream" of the WHATWG HTML standard (server-sent events); rule tags such as `L2` or `F3` refer
//! to `docs/event-stream-rules.md` in the repository and appear in the tests.
//!
//! # How to use it
//! Feed byte chunks exactly as they were read, split anywhere; the decoder calls back with each
//! [`Item`] as soon as it is complete. Items borrow the decoder's buffers (or the chunk itself,
//! for an event of one `data` line wholly inside it), so decoding allocates nothing per line or
//! per event once the buffers have grown to the stream's largest event.
//!
//! ```
//! use ssehub::{Decoder, Item};
//!
//! let mut dec = Decoder::new();
//! let mut got = Vec::new();
//! for chunk in [&b"retry: 500\r\nid: 7\r\ndata: a\r"[..], b"\ndata: b\r\n\r\n"] {
//!     dec.feed(chunk, |item| got.push(item.to_owned())).unwrap();
//! }
//! assert_eq!(got, [
//!     ssehub::OwnedItem::Retry(500),
//!     ssehub::OwnedItem::Event { event_type: "message".into(), data: "a\nb".into(), last_event_id: "7".into() },
//! ]);
//! ```
//!
//! # The rules, and the choices where the standard leaves one
//! * Text is UTF-8; invalid sequences become U+FFFD, one per maximal invalid subpart, as the
//!   WHATWG "UTF-8 decode" does (D1). Line endings are ASCII bytes that never occur inside a
//!   multi-byte sequence, so the decoder splits lines on bytes first and decodes complete lines
//!   only: a sequence split across chunks is rebuilt before it is decoded. (The complete lines
//!   of a chunk are checked as one text; only when that text is not valid UTF-8 is each line
//!   decoded on its own, with its replacements.)
//! * One BOM at the very start of the stream is skipped (D2), even when its three bytes arrive in
//!   separate chunks.
//! * Lines end in CRLF, LF or CR (L1); a CR ending one chunk and an LF starting the next are one
//!   line ending (L2). At the end of the stream ([`Decoder::finish`]) an unterminated line and an
//!   undispatched event are discarded (L3).
//! * `retry` with a value of ASCII digits that does not fit in a `u64` (more than
//!   18,446,744,073,709,551,615 ms, half a billion years) is ignored, like any other value that
//!   is not "that integer": the standard's integer cannot be represented, and a stand-in such as
//!   the largest `u64` would turn a malformed field into "never reconnect". So is any other
//!   non-digit value (F4).
//!
//! # Bounds
//! With a limit of `max` bytes ([`Decoder::max_size`]; default [`DEFAULT_MAX_SIZE`], 1 MiB):
//! * a line longer than `max` bytes as received, or an `event` or `id` value whose decoded text
//!   (where each invalid byte sequence became a 3-byte U+FFFD) is longer than `max`, is
//!   [`DecodeError::LineTooLong`];
//! * an event whose data (its `data` values joined by LF, as dispatched) would be longer than
//!   `max` is [`DecodeError::EventTooLarge`], found before the data is stored.
//!
//! After an error the decoder returns the same error for every call. Its five buffers (the
//! partial line, data, event type, id and last event ID) grow by doubling but never past the
//! limit (data: `max + 1`, for its final LF), so the decoder's heap stays at most
//! `5 * max + 1` bytes whatever the input ([`Decoder::buffered_capacity`]).

use crate::error::DecodeError;

/// The default bound on one line and on one event's data: 1 MiB.
pub const DEFAULT_MAX_SIZE: usize = 1 << 20;

const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// One thing the stream told the client, borrowed from the decoder's buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item<'a> {
    /// An event was dispatched (a blank line ended a block that had data).
    Event(MessageEvent<'a>),
    /// A `retry` field set the reconnection time, in milliseconds.
    Retry(u64),
}

/// A dispatched event, as a browser's `MessageEvent` would show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageEvent<'a> {
    /// The event type; `message` when the block had no (or an empty) `event` field.
    pub event_type: &'a str,
    /// The data lines joined by LF.
    pub data: &'a str,
    /// The last event ID at the time of dispatch (empty when none was ever set).
    pub last_event_id: &'a str,
}

/// An [`Item`] that owns its text, for collecting items past the next `feed`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnedItem {
    /// See [`Item::Event`].
    Event {
        /// See [`MessageEvent::event_type`].
        event_type: String,
        /// See [`MessageEvent::data`].
        data: String,
        /// See [`MessageEvent::last_event_id`].
        last_event_id: String,
    },
    /// See [`Item::Retry`].
    Retry(u64),
}

impl Item<'_> {
    /// Copies the item out of the decoder's buffers.
    pub fn to_owned(&self) -> OwnedItem {
        match *self {
            Item::Event(e) => OwnedItem::Event {
                event_type: e.event_type.to_owned(),
                data: e.data.to_owned(),
                last_event_id: e.last_event_id.to_owned(),
            },
            Item::Retry(ms) => OwnedItem::Retry(ms),
        }
    }
}

/// An incremental event-stream decoder. See the [module documentation](self).
#[derive(Clone, Debug)]
pub struct Decoder {
    /// The start of a line whose ending has not arrived yet.
    line: Vec<u8>,
    /// The data buffer: each `data` value followed by LF (F2).
    data: String,
    /// The event type buffer (F1).
    event_type: String,
    /// The last-event-ID buffer (F3), when `id_changed`; otherwise the buffer's value is
    /// `last_event_id` and this holds nothing of use (only its capacity is reused).
    id_buf: String,
    /// The last event ID, set from the buffer at each blank line (E1).
    last_event_id: String,
    /// An `id` field was applied since the last blank line, so the last-event-ID buffer is
    /// `id_buf` (a blank line swaps the two strings instead of copying one to the other).
    id_changed: bool,
    max: usize,
    /// How many BOM bytes have matched at the start of the stream; `None` once decided.
    bom: Option<u8>,
    /// The previous chunk ended in CR: an LF first in the next chunk belongs to it (L2).
    skip_lf: bool,
    error: Option<DecodeError>,
}

impl Default for Decoder {
    fn default() -> Decoder {
        Decoder::new()
    }
}

impl Decoder {
    /// A decoder with the default size limit, [`DEFAULT_MAX_SIZE`].
    pub fn new() -> Decoder {
        Decoder::with_max_size(DEFAULT_MAX_SIZE)
    }

    /// A decoder that refuses lines, and event data, longer than `max` bytes (`usize::MAX`: no
    /// limit but memory).
    pub fn with_max_size(max: usize) -> Decoder {
        Decoder {
            line: Vec::new(),
            data: String::new(),
            event_type: String::new(),
            id_buf: String::new(),
            last_event_id: String::new(),
            id_changed: false,
            max,
            bom: Some(0),
            skip_lf: false,
            error: None,
        }
    }

    /// The size limit in bytes.
    pub fn max_size(&self) -> usize {
        self.max
    }

    /// The last event ID: what an EventSource sends as `Last-Event-ID` when it reconnects.
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// Bytes of heap the decoder holds (the capacity of its buffers).
    pub fn buffered_capacity(&self) -> usize {
        self.line.capacity()
            + self.data.capacity()
            + self.event_type.capacity()
            + self.id_buf.capacity()
            + self.last_event_id.capacity()
    }

    /// Decodes `chunk`, calling `on_item` for each item completed by it, in stream order.
    ///
    /// Returns an error (and calls back no further) when the input passes the size limit.
    pub fn feed<F: FnMut(Item<'_>)>(&mut self, chunk: &[u8], mut on_item: F) -> Result<(), DecodeError> {
        if let Some(err) = self.error {
            return Err(err);
        }
        let result = self.feed_inner(chunk, &mut on_item);
        if let Err(err) = result {
            self.error = Some(err);
        }
        result
    }

    /// Decodes a whole stream at once and returns its items; the decoder is [finished](Self::finish)
    /// afterwards.
    pub fn decode_all(&mut self, stream: &[u8]) -> Result<Vec<OwnedItem>, DecodeError> {
        let mut items = Vec::new();
        self.feed(stream, |item| items.push(item.to_owned()))?;
        self.finish();
        Ok(items)
    }

    /// Ends the current stream: an unterminated line and an undispatched event are discarded (L3).
    ///
    /// The decoder is ready for a new stream (whose BOM is skipped again); the last event ID
    /// is kept, as an EventSource keeps it across reconnections. Returns whether anything was
    /// discarded.
    pub fn finish(&mut self) -> bool {
        let discarded = !self.line.is_empty()
            || !self.data.is_empty()
            || !self.event_type.is_empty()
            || (self.id_changed && self.id_buf != self.last_event_id)
            || self.bom.is_some_and(|matched| matched > 0);
        self.line.clear();
        self.data.clear();
        self.event_type.clear();
        self.id_changed = false; // the buffer is the last event ID again
        self.bom = Some(0);
        self.skip_lf = false;
        discarded
    }

    fn feed_inner<F: FnMut(Item<'_>)>(
        &mut self,
        mut chunk: &[u8],
        on_item: &mut F,
    ) -> Result<(), DecodeError> {
        if let Some(matched) = self.bom {
            let mut m = matched as usize;
            while m < 3 {
                match chunk.first() {
                    None => {
                        self.bom = Some(m as u8);
                        return Ok(());
                    }
                    Some(&b) if b == BOM[m] => {
                        m += 1;
                        chunk = &chunk[1..];
                    }
                    Some(_) => break,
                }
            }
            self.bom = None;
            if m < 3 {
                // Not a BOM after all: the bytes that looked like one are text (they hold no
                // line ending, so they only start the first line).
                self.push_bytes(&BOM[..m], on_item)?;
            }
        }
        self.push_bytes(chunk, on_item)
    }

    fn push_bytes<F: FnMut(Item<'_>)>(
        &mut self,
        mut chunk: &[u8],
        on_item: &mut F,
    ) -> Result<(), DecodeError> {
        if chunk.is_empty() {
            return Ok(());
        }
        if self.skip_lf {
            self.skip_lf = false;
            if chunk[0] == b'\n' {
                chunk = &chunk[1..];
            }
        }
        if !self.line.is_empty() {
            // The line begun in an earlier chunk: completed from the line buffer.
            let Some(end) = memchr::memchr2(b'\n', b'\r', chunk) else {
                return self.buffer_rest(chunk);
            };
            if !reserve_bounded(&mut self.line, end, self.max) {
                return Err(DecodeError::LineTooLong { limit: self.max });
            }
            self.line.extend_from_slice(&chunk[..end]);
            let line = std::mem::take(&mut self.line);
            // Raw bytes (`Text` for `[u8]`): nothing becomes pending, all is stored at once.
            let result = self.line_complete(&line[..], &mut Pending::default(), on_item);
            self.line = line;
            self.line.clear();
            result?;
            chunk = self.after_line_ending(chunk, end);
        }
        // Every complete line left in the chunk, decoded as one text when it is valid UTF-8
        // (nearly always): a line ending is ASCII, so the lines of a valid text are valid and
        // each line needs no check of its own.
        let Some(last) = memchr::memrchr2(b'\n', b'\r', chunk) else {
            return self.buffer_rest(chunk);
        };
        let (lines, rest) = chunk.split_at(last + 1);
        match std::str::from_utf8(lines) {
            Ok(text) => self.lines(text, on_item)?,
            Err(_) => self.lines(lines, on_item)?,
        }
        // The last line ending is an LF, or a CR not followed by an LF in this chunk (memrchr2
        // found the last of either): a CR ending the chunk may have its LF in the next (L2).
        if rest.is_empty() && lines[last] == b'\r' {
            self.skip_lf = true;
        }
        self.buffer_rest(rest)
    }

    /// The rest of `chunk` after its line ending at `end` (CR, LF or CRLF); a CR that ends the
    /// chunk may be the first half of a CRLF (L2).
    fn after_line_ending<'c>(&mut self, chunk: &'c [u8], end: usize) -> &'c [u8] {
        let rest = &chunk[end + 1..];
        if chunk[end] != b'\r' {
            return rest;
        }
        match rest.first() {
            Some(b'\n') => &rest[1..],
            Some(_) => rest,
            None => {
                self.skip_lf = true;
                rest
            }
        }
    }

    /// Keeps the start of a line whose ending has not arrived yet.
    fn buffer_rest(&mut self, rest: &[u8]) -> Result<(), DecodeError> {
        if !reserve_bounded(&mut self.line, rest.len(), self.max) {
            return Err(DecodeError::LineTooLong { limit: self.max });
        }
        self.line.extend_from_slice(rest);
        Ok(())
    }

    /// Interprets `text`, whole lines each with its ending (the last ends `text`).
    ///
    /// Values stay in `text` ([`Pending`]) rather than being copied to the buffers while they
    /// can: a one-line event is dispatched straight from the chunk, with its `id` from the
    /// chunk too, and a value is copied only when a second `data` line comes or `text` ends
    /// first (the last event ID once per text, not once per event).
    fn lines<'a, T: Text<'a>, F: FnMut(Item<'_>)>(
        &mut self,
        text: T,
        on_item: &mut F,
    ) -> Result<(), DecodeError> {
        let bytes = text.bytes();
        // Nearly every stream ends its lines in LF alone: then one byte is searched for, not two.
        let ends = LineEnds::new(memchr::memchr(b'\r', bytes).is_none());
        // Nor does an `id` hold NUL (F3) in nearly any: then no id needs looking at for one.
        let mut pending = Pending { nul_free: memchr::memchr(0, bytes).is_none(), ..Pending::default() };
        let result = match text.as_str() {
            Some(text) if ends.lf_only => self.lf_lines(text, ends, &mut pending, on_item),
            _ => self.any_lines(text, ends, &mut pending, on_item),
        };
        // The events dispatched before an error still set the last event ID.
        self.store_last_id(&mut pending);
        result?;
        if let Some(id) = pending.id.take() {
            // An `id` of a block that `text` did not finish: as if copied when it was read.
            self.buffer_id(id)?;
        }
        self.store_pending_data(&mut pending)
    }

    /// [`lines`](Self::lines) for any text, with any line endings.
    fn any_lines<'a, T: Text<'a>, F: FnMut(Item<'_>)>(
        &mut self,
        text: T,
        ends: LineEnds,
        pending: &mut Pending<'a>,
        on_item: &mut F,
    ) -> Result<(), DecodeError> {
        // The lines are cut off the front of `rest`: a cut that a prefix or a line ending made
        // needs no character-boundary check (`strip_prefix`), and only the cut at the end of a
        // line's value does (`split_at`).
        let mut rest = text;
        while let Some(&first) = rest.bytes().first() {
            let found = match first {
                b'\n' | b'\r' => Some(0), // a blank line, as many as events
                _ if ends.lf_only => Some(ends.lf(rest.bytes())),
                b'd' => ends.long(rest.bytes()), // `data`, often long
                _ => ends.short(rest.bytes()),
            };
            let (line, ending) = rest.split_at(found.unwrap_or(rest.bytes().len()));
            if line.bytes().len() > self.max {
                return Err(DecodeError::LineTooLong { limit: self.max });
            }
            self.line_complete(line, pending, on_item)?;
            rest = past_line_ending(ending);
        }
        Ok(())
    }

    /// [`lines`](Self::lines) for valid text whose lines end in LF alone, nearly every
    /// stream's: the same interpretation, with the lines of the typical event (`id`, one `data`
    /// line, the blank line) taken apart here, where the next line is in sight. A blank line
    /// right after an event's first `data` line dispatches that event at once, its data
    /// straight from the text, without becoming pending.
    fn lf_lines<'a, F: FnMut(Item<'_>)>(
        &mut self,
        text: &'a str,
        ends: LineEnds,
        pending: &mut Pending<'a>,
        on_item: &mut F,
    ) -> Result<(), DecodeError> {
        let mut rest = text;
        while let Some(&first) = rest.as_bytes().first() {
            if let Some(after) = rest.strip_prefix('\n') {
                self.dispatch(pending, on_item); // P1
                rest = after;
                continue;
            }
            let found = ends.lf(rest.as_bytes());
            let (line, ending) = rest.split_at(found);
            if line.len() > self.max {
                return Err(DecodeError::LineTooLong { limit: self.max });
            }
            rest = ending.strip_prefix('\n').unwrap_or(ending);
            // The first `data` line of a block and an `id` line, as `line_complete` would
            // interpret them (P3: the value less one leading space); any other line is left to it.
            match first {
                b'd' if self.data.is_empty() && pending.data.is_none() => {
                    if let Some(value) = line.strip_prefix("data:") {
                        let value = value.strip_prefix(' ').unwrap_or(value);
                        match rest.strip_prefix('\n') {
                            Some(after) => {
                                self.dispatch_one_line(value, pending, on_item);
                                rest = after;
                            }
                            None => pending.data = Some(value),
                        }
                        continue;
                    }
                }
                b'i' => {
                    if let Some(value) = line.strip_prefix("id:") {
                        let value = value.strip_prefix(' ').unwrap_or(value);
                        // F3: an id holding NUL is ignored.
                        if pending.nul_free || !value.as_bytes().contains(&0) {
                            pending.id = Some(value);
                        }
                        continue;
                    }
                }
                _ => {}
            }
            self.line_complete(line, pending, on_item)?;
        }
        Ok(())
    }

    /// Sets the last-event-ID buffer to `value` (decoded), to become the last event ID at the
    /// next blank line (E1).
    #[inline]
    fn buffer_id<'a, T: Text<'a>>(&mut self, value: T) -> Result<(), DecodeError> {
        self.id_buf.clear();
        self.id_changed = true;
        if !value.push_to(&mut self.id_buf, 0, self.max) {
            return Err(DecodeError::LineTooLong { limit: self.max });
        }
        Ok(())
    }

    /// Copies the last event ID that the text being read set (see [`Pending::last_id`]).
    #[inline]
    fn store_last_id(&mut self, pending: &mut Pending<'_>) {
        if let Some(id) = pending.last_id.take() {
            self.last_event_id.clear();
            // Within the limit: checked when it became pending, so this cannot refuse.
            let stored = push_text(&mut self.last_event_id, id, 0, self.max);
            debug_assert!(stored, "a pending id is within the limit");
        }
    }

    /// Copies the pending first data value (see [`lines`](Self::lines)) to the data buffer.
    #[inline]
    fn store_pending_data(&mut self, pending: &mut Pending<'_>) -> Result<(), DecodeError> {
        if let Some(value) = pending.data.take() {
            // Within the limit: checked when it became pending, with the data buffer empty.
            if !push_text(&mut self.data, value, 1, self.max.saturating_add(1)) {
                return Err(DecodeError::EventTooLarge { limit: self.max });
            }
            self.data.push('\n');
        }
        Ok(())
    }

    /// Interprets `line` (without its ending).
    #[inline]
    fn line_complete<'a, T: Text<'a>, F: FnMut(Item<'_>)>(
        &mut self,
        line: T,
        pending: &mut Pending<'a>,
        on_item: &mut F,
    ) -> Result<(), DecodeError> {
        // `data:` and `id:` first: the name is what precedes the first colon (P3), so these
        // prefixes are the names `data` and `id` whatever follows.
        let (field, value) = if let Some(value) = line.strip_prefix("data:") {
            (Field::Data, value)
        } else if line.bytes().is_empty() {
            self.dispatch(pending, on_item); // P1
            return Ok(());
        } else if let Some(value) = line.strip_prefix("id:") {
            (Field::Id, value)
        } else {
            match memchr::memchr(b':', line.bytes()) {
                Some(0) => return Ok(()), // P2: a comment
                Some(i) => {
                    let (name, value) = line.split_at(i);
                    (Field::named(name.bytes()), value.strip_prefix(":").unwrap_or(value))
                }
                None => (Field::named(line.bytes()), line.split_at(line.bytes().len()).1), // P4: empty
            }
        };
        // P3: the value follows the colon, less one leading space.
        let value = value.strip_prefix(" ").unwrap_or(value);
        match field {
            Field::Data => {
                if self.data.is_empty() && pending.data.is_none() {
                    if let Some(text) = value.as_str() {
                        // What the data buffer would hold, `text` and LF, within `max + 1`.
                        if text.len() > self.max {
                            return Err(DecodeError::EventTooLarge { limit: self.max });
                        }
                        pending.data = Some(text);
                        return Ok(());
                    }
                }
                self.store_pending_data(pending)?;
                // The dispatched data is the buffer less its final LF (E3): hence `max + 1`,
                // which for a limit of `usize::MAX` stays `usize::MAX` (no buffer gets there).
                if !value.push_to(&mut self.data, 1, self.max.saturating_add(1)) {
                    return Err(DecodeError::EventTooLarge { limit: self.max });
                }
                self.data.push('\n');
            }
            Field::Event => {
                self.event_type.clear();
                if !value.push_to(&mut self.event_type, 0, self.max) {
                    return Err(DecodeError::LineTooLong { limit: self.max });
                }
            }
            // F3: an id holding NUL is ignored.
            Field::Id if pending.nul_free || !value.bytes().contains(&0) => {
                if let Some(id) = value.as_str() {
                    if id.len() > self.max {
                        return Err(DecodeError::LineTooLong { limit: self.max });
                    }
                    pending.id = Some(id);
                    return Ok(());
                }
                // Decoded into the buffer, where it supersedes an earlier pending one.
                pending.id = None;
                self.buffer_id(value)?;
            }
            // F4: only ASCII digits set the reconnection time.
            Field::Retry if !value.bytes().is_empty() && value.bytes().iter().all(u8::is_ascii_digit) => {
                let ms = value
                    .bytes()
                    .iter()
                    .try_fold(0u64, |n, d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')));
                // Past u64::MAX: not an integer we can set (see the module docs): ignored.
                if let Some(ms) = ms {
                    on_item(Item::Retry(ms));
                }
            }
            _ => {} // P5: unknown fields (names are case-sensitive), and the ignored values above
        }
        Ok(())
    }

    /// A blank line: dispatches the event, its data and id `pending` in the chunk or in the
    /// buffers.
    #[inline]
    fn dispatch<F: FnMut(Item<'_>)>(&mut self, pending: &mut Pending<'_>, on_item: &mut F) {
        self.set_last_event_id(pending);
        let data = match pending.data.take() {
            Some(data) => data,
            None if self.data.is_empty() => {
                self.event_type.clear(); // E2
                return;
            }
            None => {
                self.data.pop(); // E3: the one trailing LF
                &self.data
            }
        };
        on_item(Item::Event(MessageEvent {
            event_type: if self.event_type.is_empty() { "message" } else { &self.event_type },
            data,
            last_event_id: pending.last_id.unwrap_or(&self.last_event_id),
        }));
        self.data.clear(); // E4
        self.event_type.clear();
    }

    /// A blank line right after the block's first `data` line, `data` (the data buffer is
    /// empty, and nothing pending): dispatches the event as [`dispatch`](Self::dispatch) would.
    #[inline]
    fn dispatch_one_line<F: FnMut(Item<'_>)>(
        &mut self,
        data: &str,
        pending: &mut Pending<'_>,
        on_item: &mut F,
    ) {
        self.set_last_event_id(pending);
        on_item(Item::Event(MessageEvent {
            event_type: if self.event_type.is_empty() { "message" } else { &self.event_type },
            data,
            last_event_id: pending.last_id.unwrap_or(&self.last_event_id),
        }));
        self.event_type.clear(); // E4
    }

    /// E1: the block's id, if it had one, is the last event ID from now on.
    #[inline]
    fn set_last_event_id(&mut self, pending: &mut Pending<'_>) {
        if let Some(id) = pending.id.take() {
            pending.last_id = Some(id);
            self.id_changed = false; // an id in the buffer came before this one
        } else if self.id_changed {
            // By swapping rather than copying: the buffer's value is `last_event_id` now.
            std::mem::swap(&mut self.last_event_id, &mut self.id_buf);
            self.id_changed = false;
            pending.last_id = None;
        }
    }
}

/// Values that [`Decoder::lines`] leaves in the text it reads until it must copy them: text
/// outlives none of the decoder's buffers, so they are stored before `lines` returns.
#[derive(Default)]
struct Pending<'a> {
    /// The value of the block's first `data` line (the data buffer is empty).
    data: Option<&'a str>,
    /// The block's `id` value, the latest (it supersedes `id_buf`).
    id: Option<&'a str>,
    /// The last event ID as a dispatch in this text set it (it supersedes `last_event_id`).
    last_id: Option<&'a str>,
    /// The text holds no NUL byte, so no `id` in it does.
    nul_free: bool,
}

/// Where the lines of one text end: at each LF, or with `lf_only == false` each CR or LF.
///
/// memchr's searcher is chosen once per text, not on every call (on x86-64, `memchr::memchr`
/// looks up the CPU's best routine each time, a cost of the order of a short line's search);
/// with LF alone, a line's first bytes are looked at before it is called ([`Self::lf`]).
#[derive(Clone, Copy)]
struct LineEnds {
    lf_only: bool,
    #[cfg(target_arch = "x86_64")]
    avx2: Option<(memchr::arch::x86_64::avx2::memchr::One, memchr::arch::x86_64::avx2::memchr::Two)>,
}

impl LineEnds {
    #[inline]
    fn new(lf_only: bool) -> LineEnds {
        #[cfg(target_arch = "x86_64")]
        use memchr::arch::x86_64::avx2::memchr::{One, Two};
        LineEnds {
            lf_only,
            #[cfg(target_arch = "x86_64")]
            avx2: One::new(b'\n').zip(Two::new(b'\n', b'\r')),
        }
    }

    /// The end of a line likely longer than a few words, from its start `from`.
    #[inline]
    fn long(self, from: &[u8]) -> Option<usize> {
        #[cfg(target_arch = "x86_64")]
        if let Some((lf, cr_lf)) = self.avx2 {
            return if self.lf_only { lf.find(from) } else { cr_lf.find(from) };
        }
        if self.lf_only { memchr::memchr(b'\n', from) } else { memchr::memchr2(b'\n', b'\r', from) }
    }

    /// The end of a line when lines end in LF alone (`lf_only`): where its LF is, or the length
    /// of `from` when it holds none (a position rather than an `Option`, which the line loop
    /// would only turn back into one).
    ///
    /// Its first 128 bytes are looked at 16 at a time, and only then is memchr called: a block
    /// is compared whole (see [`lf_in_block`]), which for a line of up to a few blocks (an `id`,
    /// the `data` of most events) costs less than memchr's call and set-up.
    #[inline(always)]
    fn lf(self, from: &[u8]) -> usize {
        // All but the last lines of a text have 128 bytes after their start: then the blocks
        // are cut from one array, with no bounds to check.
        if let Some(head) = from.first_chunk::<128>() {
            for (i, block) in head.chunks_exact(16).enumerate() {
                if let Some(end) = block.try_into().ok().and_then(lf_in_block) {
                    return 16 * i + end;
                }
            }
            return self.long(&from[128..]).map_or(from.len(), |i| 128 + i);
        }
        let mut at = 0;
        while let Some(block) = from.get(at..).and_then(<[u8]>::first_chunk::<16>) {
            if let Some(end) = lf_in_block(block) {
                return at + end;
            }
            at += 16;
        }
        self.long(&from[at..]).map_or(from.len(), |i| at + i)
    }

    /// The end of a line likely short (an `id`, an `event`): its first 16 bytes are looked at a
    /// word (8 bytes) at a time, which costs less than a call to memchr; then [`Self::long`].
    #[inline]
    fn short(self, from: &[u8]) -> Option<usize> {
        let mut at = 0;
        while at < 16 {
            let Some(word) = from[at..].first_chunk::<8>() else { break };
            let w = u64::from_le_bytes(*word);
            let hits = if self.lf_only { equal(w, b'\n') } else { equal(w, b'\n') | equal(w, b'\r') };
            if hits != 0 {
                return Some(at + hits.trailing_zeros() as usize / 8);
            }
            at += 8;
        }
        self.long(&from[at..]).map(|i| at + i)
    }
}

/// Where the first LF in `block` is, if any. The fold becomes one SIMD compare and mask (SSE2
/// on x86-64, from safe code); only the block that holds an LF is looked at a word at a time.
#[inline(always)]
fn lf_in_block(block: &[u8; 16]) -> Option<usize> {
    if !block.iter().fold(false, |found, &b| found | (b == b'\n')) {
        return None;
    }
    let (low, high) = block.split_at(8);
    let word = |half: &[u8]| equal(u64::from_le_bytes(half.try_into().unwrap_or_default()), b'\n');
    let (low, high) = (word(low), word(high));
    let i = if low != 0 { low.trailing_zeros() } else { 64 + high.trailing_zeros() };
    Some(i as usize / 8)
}

/// A high bit in each byte of `w` equal to `b`; only the lowest is exact (a borrow can mark the
/// byte above a match), and the lowest is all the decoder needs.
#[inline]
fn equal(w: u64, b: u8) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let t = w ^ (ONES * u64::from(b));
    t.wrapping_sub(ONES) & !t & HIGH
}

/// The fields the decoder acts on (P5: any other name is ignored).
#[derive(Clone, Copy)]
enum Field {
    Data,
    Event,
    Id,
    Retry,
    Other,
}

impl Field {
    #[inline]
    fn named(name: &[u8]) -> Field {
        match name {
            b"data" => Field::Data,
            b"event" => Field::Event,
            b"id" => Field::Id,
            b"retry" => Field::Retry,
            _ => Field::Other,
        }
    }
}

/// Lines as the decoder reads them: `&str` when the chunk's lines were valid UTF-8 (nothing
/// left to check), raw bytes otherwise (decoded as they are stored, D1). Cuts are made only
/// next to ASCII bytes (line endings, the colon, the space), so they fall on character
/// boundaries of a `&str`.
trait Text<'a>: Copy {
    fn bytes(self) -> &'a [u8];
    /// `self.split_at(mid)`.
    fn split_at(self, mid: usize) -> (Self, Self);
    /// The rest of the text after `prefix`, when it starts with it.
    fn strip_prefix(self, prefix: &str) -> Option<Self>;
    /// The text, when known to be valid UTF-8 without decoding.
    fn as_str(self) -> Option<&'a str>;
    /// Appends the decoded text, as [`push_text`] does.
    fn push_to(self, out: &mut String, spare: usize, cap: usize) -> bool;
}

impl<'a> Text<'a> for &'a str {
    #[inline]
    fn bytes(self) -> &'a [u8] {
        self.as_bytes()
    }
    #[inline]
    fn split_at(self, mid: usize) -> (Self, Self) {
        str::split_at(self, mid)
    }
    #[inline]
    fn strip_prefix(self, prefix: &str) -> Option<Self> {
        str::strip_prefix(self, prefix)
    }
    #[inline]
    fn as_str(self) -> Option<&'a str> {
        Some(self)
    }
    #[inline]
    fn push_to(self, out: &mut String, spare: usize, cap: usize) -> bool {
        push_text(out, self, spare, cap)
    }
}

impl<'a> Text<'a> for &'a [u8] {
    #[inline]
    fn bytes(self) -> &'a [u8] {
        self
    }
    #[inline]
    fn split_at(self, mid: usize) -> (Self, Self) {
        <[u8]>::split_at(self, mid)
    }
    #[inline]
    fn strip_prefix(self, prefix: &str) -> Option<Self> {
        <[u8]>::strip_prefix(self, prefix.as_bytes())
    }
    #[inline]
    fn as_str(self) -> Option<&'a str> {
        None
    }
    #[inline]
    fn push_to(self, out: &mut String, spare: usize, cap: usize) -> bool {
        push_bytes_text(out, self, spare, cap)
    }
}

/// What follows the line ending (CRLF, LF or CR) that starts `ending` (empty: the text's end).
#[inline]
fn past_line_ending<'a, T: Text<'a>>(ending: T) -> T {
    if let Some(rest) = ending.strip_prefix("\n") {
        return rest;
    }
    let rest = ending.strip_prefix("\r").unwrap_or(ending);
    rest.strip_prefix("\n").unwrap_or(rest)
}

/// Appends `text` unless it plus `spare` more bytes would pass `cap` (then `false`).
#[inline]
fn push_text(out: &mut String, text: &str, spare: usize, cap: usize) -> bool {
    if !reserve_bounded_str(out, text.len() + spare, cap) {
        return false;
    }
    out.push_str(text);
    true
}

/// Appends `bytes` decoded as UTF-8, with U+FFFD for each maximal invalid subpart (D1), unless
/// the text plus `spare` more bytes would pass `cap` (then nothing is appended: `false`).
#[inline]
fn push_bytes_text(out: &mut String, bytes: &[u8], spare: usize, cap: usize) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(text) => return push_text(out, text, spare, cap),
        Err(_) => {
            let replacement = char::REPLACEMENT_CHARACTER.len_utf8();
            let len: usize = bytes
                .utf8_chunks()
                .map(|c| c.valid().len() + if c.invalid().is_empty() { 0 } else { replacement })
                .sum();
            if !reserve_bounded_str(out, len + spare, cap) {
                return false;
            }
            for chunk in bytes.utf8_chunks() {
                out.push_str(chunk.valid());
                if !chunk.invalid().is_empty() {
                    out.push(char::REPLACEMENT_CHARACTER);
                }
            }
        }
    }
    true
}

/// How much to reserve so that a buffer of `len` bytes (of `capacity`) takes `extra` more:
/// `None` when the length would pass `cap`. Grows by doubling, as `Vec` does, but never past
/// `cap`, which is what bounds the decoder's memory.
#[inline]
fn bounded_growth(len: usize, capacity: usize, extra: usize, cap: usize) -> Option<usize> {
    // Checked, so that a limit near `usize::MAX` refuses rather than overflows.
    let needed = len.checked_add(extra).filter(|&needed| needed <= cap)?;
    Some(if needed > capacity { capacity.saturating_mul(2).max(needed).min(cap) - len } else { 0 })
}

#[inline]
fn reserve_bounded(buf: &mut Vec<u8>, extra: usize, cap: usize) -> bool {
    bounded_growth(buf.len(), buf.capacity(), extra, cap).map(|n| buf.reserve_exact(n)).is_some()
}

#[inline]
fn reserve_bounded_str(buf: &mut String, extra: usize, cap: usize) -> bool {
    bounded_growth(buf.len(), buf.capacity(), extra, cap).map(|n| buf.reserve_exact(n)).is_some()
}

#[cfg(test)]
mod tests {
    //! Rule tags (`D1`, `L2`, `F4`, ...) refer to `docs/event-stream-rules.md`; `limit_` tests
    //! check the bounds of the module documentation.
    //!
    //! Most tests are rows of a table. [`check`] decodes each row's input fed whole, fed byte by
    //! byte, and split in two at every single point ("shotgun"); every way must give the row's
    //! items and result, and the same `finish` value and last event ID as fed whole.

    use super::*;
    use OwnedItem::Retry;

    /// What decoding one stream, cut into some chunks, produced.
    #[derive(Debug, PartialEq, Eq)]
    struct Outcome {
        items: Vec<OwnedItem>,
        result: Result<(), DecodeError>,
        /// What `finish` returned; `None` after an error.
        discarded: Option<bool>,
        last_event_id: String,
    }

    /// Feeds `chunks` to a fresh decoder limited to `max`, then finishes the stream.
    fn run(max: usize, chunks: &[&[u8]]) -> Outcome {
        let mut dec = Decoder::with_max_size(max);
        let mut items = Vec::new();
        let mut result = Ok(());
        for chunk in chunks {
            let r = dec.feed(chunk, |item| items.push(item.to_owned()));
            match result {
                Ok(()) => result = r,
                // After an error every call returns it again (and an item pushed here would show).
                Err(first) => assert_eq!(r, Err(first), "the error is returned again"),
            }
        }
        let discarded = result.is_ok().then(|| dec.finish());
        Outcome { items, result, discarded, last_event_id: dec.last_event_id().to_owned() }
    }

    /// The items of `chunks` decoded with the default limit, which they must not reach.
    fn items_of(chunks: &[&[u8]]) -> Vec<OwnedItem> {
        let out = run(DEFAULT_MAX_SIZE, chunks);
        assert_eq!(out.result, Ok(()));
        out.items
    }

    /// Checks `input` fed whole, byte by byte, in two chunks split at every point, and by
    /// `decode_all`.
    fn check(max: usize, input: &[u8], items: &[OwnedItem], result: Result<(), DecodeError>) {
        let shown = input.escape_ascii();
        let whole = run(max, &[input]);
        assert_eq!((&whole.items[..], whole.result), (items, result), "fed whole: {shown}");
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(run(max, &bytes), whole, "fed byte by byte: {shown}");
        for i in 0..=input.len() {
            let (a, b) = input.split_at(i);
            assert_eq!(run(max, &[a, b]), whole, "split at {i}: {shown}");
        }
        let all = Decoder::with_max_size(max).decode_all(input);
        assert_eq!(all, result.map(|()| items.to_vec()), "decode_all: {shown}");
    }

    /// Rows `name: input => [items];`, decoded with the default limit.
    macro_rules! cases {
        ($($(#[$attr:meta])* $name:ident: $input:expr => [$($item:expr),* $(,)?];)*) => {$(
            $(#[$attr])*
            #[test]
            fn $name() {
                check(DEFAULT_MAX_SIZE, $input, &[$($item),*], Ok(()));
            }
        )*};
    }

    /// Rows `name: max, input => [items], result;`, decoded with `Decoder::with_max_size(max)`.
    macro_rules! limit_cases {
        (
            $($(#[$attr:meta])* $name:ident: $max:expr, $input:expr => [$($item:expr),* $(,)?], $res:expr;)*
        ) => {$(
            $(#[$attr])*
            #[test]
            fn $name() {
                check($max, $input, &[$($item),*], $res);
            }
        )*};
    }

    fn ev(event_type: &str, data: &str, last_event_id: &str) -> OwnedItem {
        OwnedItem::Event {
            event_type: event_type.to_owned(),
            data: data.to_owned(),
            last_event_id: last_event_id.to_owned(),
        }
    }

    /// An event of type `message`, with no last event ID.
    fn msg(data: &str) -> OwnedItem {
        ev("message", data, "")
    }

    /// An event of type `message` with last event ID `id`.
    fn msg_id(data: &str, id: &str) -> OwnedItem {
        ev("message", data, id)
    }

    const TOO_LONG: Result<(), DecodeError> = Err(DecodeError::LineTooLong { limit: 8 });
    const TOO_LARGE: Result<(), DecodeError> = Err(DecodeError::EventTooLarge { limit: 8 });

    // D1: UTF-8, with U+FFFD for each maximal invalid subpart.
    cases! {
        d1_invalid_byte_becomes_one_replacement: b"data: a\xFFb\n\n" => [msg("a\u{FFFD}b")];
        d1_truncated_sequence_before_lf_is_one_replacement: b"data: \xE2\x82\n\n" => [msg("\u{FFFD}")];
        d1_truncated_sequence_before_cr_is_one_replacement: b"data: \xF0\x9F\x98\r\r" => [msg("\u{FFFD}")];
        d1_one_replacement_per_maximal_subpart:
            b"data: \xE2\x82\xE2\x82\xAC\xF0\x9F\x98x\xC3\n\n" => [msg("\u{FFFD}\u{20AC}\u{FFFD}x\u{FFFD}")];
        d1_lone_continuation_bytes_are_one_replacement_each:
            b"data: \x80\xBF\x80\n\n" => [msg("\u{FFFD}\u{FFFD}\u{FFFD}")];
        d1_overlong_forms_are_replaced_byte_by_byte:
            b"data: \xC0\xAF\xE0\x80\xAF\n\n" => [msg("\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}")];
        d1_surrogates_are_replaced_byte_by_byte:
            b"data: \xED\xA0\x80\n\n" => [msg("\u{FFFD}\u{FFFD}\u{FFFD}")];
        d1_above_u10ffff_is_replaced_byte_by_byte:
            b"data: \xF4\x90\x80\x80\xF5\n\n" => [msg("\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}")];
        d1_multi_byte_chars_split_across_chunks_are_rebuilt:
            "data: é€😀\u{FEFF}\n\n".as_bytes() => [msg("é€😀\u{FEFF}")];
        d1_invalid_bytes_in_event_type_and_id:
            b"event: \xFF\nid: \xC3\ndata\n\n" => [ev("\u{FFFD}", "", "\u{FFFD}")];
        d1_invalid_byte_in_a_field_name_makes_it_unknown: b"dat\xE1: x\n\n" => [];
    }

    // D2: one BOM at the very start is skipped; any other is text.
    cases! {
        d2_leading_bom_is_skipped: b"\xEF\xBB\xBFdata: x\n\n" => [msg("x")];
        d2_bom_alone_is_an_empty_stream: b"\xEF\xBB\xBF" => [];
        d2_bom_then_multi_byte_char: "\u{FEFF}data: é\n\n".as_bytes() => [msg("é")];
        d2_bom_then_line_ending: b"\xEF\xBB\xBF\r\ndata: x\r\n\r\n" => [msg("x")];
        d2_second_bom_in_data_is_text: b"\xEF\xBB\xBFdata: \xEF\xBB\xBFx\n\n" => [msg("\u{FEFF}x")];
        d2_bom_in_data_without_leading_bom_is_text: b"data: \xEF\xBB\xBF\n\n" => [msg("\u{FEFF}")];
        d2_second_bom_at_start_makes_the_field_name_unknown:
            b"\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\ndata: y\n\n" => [msg("y")];
        d2_bom_after_a_line_ending_is_text: b"\n\xEF\xBB\xBFdata: x\n\n" => [];
        d2_bom_at_start_of_a_later_event_is_text: b"data: x\n\n\xEF\xBB\xBFdata: y\n\n" => [msg("x")];
        d2_partial_bom_then_other_bytes_is_text: b"\xEF\xBBdata: x\n\ndata: y\n\n" => [msg("y")];
        d2_one_bom_byte_then_other_bytes_is_text: b"\xEFdata: x\n\ndata: y\n\n" => [msg("y")];
        d2_partial_bom_then_line_ending_is_a_line_of_its_own: b"\xEF\xBB\rdata: x\r\r" => [msg("x")];
        d2_partial_bom_then_other_continuation_byte_is_another_char:
            b"\xEF\xBB\xBEdata: x\n\ndata: y\n\n" => [msg("y")];
    }

    #[test]
    fn d2_bom_split_byte_wise_across_chunks_is_skipped() {
        let chunks: [&[u8]; 6] = [b"\xEF", b"", b"\xBB", b"", b"\xBF", b"data: x\n\n"];
        assert_eq!(items_of(&chunks), [msg("x")]);
        let chunks: [&[u8]; 3] = [b"\xEF", b"\xBB", b"\xBF\xEF\xBB\xBFdata: x\n\n"];
        assert_eq!(items_of(&chunks), []);
    }

    #[test]
    fn d2_partial_bom_is_text_decoded_as_one_replacement() {
        // The bytes of a partial BOM start the first line; nothing can make them reach an item,
        // so look at the line buffer.
        let mut dec = Decoder::new();
        for chunk in [&b"\xEF"[..], b"\xBB", b"x: y"] {
            dec.feed(chunk, |_| panic!("no item")).unwrap();
        }
        let mut text = String::new();
        push_bytes_text(&mut text, &dec.line, 0, usize::MAX);
        assert_eq!(text, "\u{FFFD}x: y");
    }

    #[test]
    fn d2_bom_is_skipped_again_after_finish() {
        let mut dec = Decoder::new();
        let mut got = Vec::new();
        for stream in [&b"\xEF\xBB\xBFdata: a\n\n"[..], b"\xEF\xBB\xBFdata: b\n\n"] {
            dec.feed(stream, |item| got.push(item.to_owned())).unwrap();
            assert!(!dec.finish());
        }
        assert_eq!(got, [msg("a"), msg("b")]);
        let mut dec = Decoder::new();
        assert_eq!(dec.decode_all(b"\xEF\xBB\xBFdata: a\n\n"), Ok(vec![msg("a")]));
        assert_eq!(dec.decode_all(b"\xEF\xBB\xBFdata: b\n\n"), Ok(vec![msg("b")]));
    }

    // L1: CRLF, lone LF and lone CR end a line.
    cases! {
        l1_lf_ends_a_line: b"data: a\ndata: b\n\n" => [msg("a\nb")];
        l1_crlf_ends_a_line: b"data: a\r\ndata: b\r\n\r\n" => [msg("a\nb")];
        l1_lone_cr_ends_a_line: b"data: a\rdata: b\r\r" => [msg("a\nb")];
        l1_mixed_line_endings: b"data: a\rdata: b\ndata: c\r\n\rdata: d\n\r\n" => [msg("a\nb\nc"), msg("d")];
        l1_cr_cr_is_two_line_endings: b"data: a\r\rdata: b\r\r" => [msg("a"), msg("b")];
        l1_lf_cr_is_two_line_endings: b"data: a\n\rdata: b\n\r" => [msg("a"), msg("b")];
        l1_cr_crlf_is_two_line_endings: b"data: a\r\r\ndata: b\n\n" => [msg("a"), msg("b")];
        l1_crlf_lf_is_two_line_endings: b"data: a\r\n\ndata: b\r\n\n" => [msg("a"), msg("b")];
        l1_lone_cr_inside_a_value_ends_the_line: b"data: a\rb\n\n" => [msg("a")];
        l1_other_breaks_are_text:
            b"data: a\x0Bb\x0Cc\xC2\x85d\xE2\x80\xA8e\n\n" => [msg("a\u{B}b\u{C}c\u{85}d\u{2028}e")];
    }

    // L2: CR ending one chunk and LF starting the next are one line ending. `check` splits every
    // row at every point, so each CRLF here is also split between its CR and its LF.
    cases! {
        l2_crlf_split_anywhere_is_one_line_ending:
            b"data: a\r\ndata: b\r\n\r\nid: 1\r\n\r\n" => [msg("a\nb")];
        l2_cr_cr_lf_split_anywhere: b"data: a\r\r\ndata: b\r\n\r\n" => [msg("a"), msg("b")];
    }

    #[test]
    fn l2_cr_at_chunk_end_then_lf_is_one_line_ending() {
        let chunks: [&[u8]; 4] = [b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"];
        assert_eq!(items_of(&chunks), [msg("a\nb")]);
        // Empty chunks in between change nothing.
        let chunks: [&[u8]; 8] = [b"data: a\r", b"", b"\n", b"data: b\r", b"", b"", b"\n\r", b"\n"];
        assert_eq!(items_of(&chunks), [msg("a\nb")]);
    }

    #[test]
    fn l2_only_one_lf_after_a_chunk_ending_in_cr_is_skipped() {
        let chunks: [&[u8]; 2] = [b"data: a\r", b"\n\n"];
        assert_eq!(items_of(&chunks), [msg("a")]);
        let chunks: [&[u8]; 3] = [b"data: a\r", b"\n", b"\n"];
        assert_eq!(items_of(&chunks), [msg("a")]);
    }

    #[test]
    fn l2_cr_at_chunk_end_then_other_bytes() {
        let chunks: [&[u8]; 3] = [b"data: a\r", b"data: b\r", b"\r"];
        assert_eq!(items_of(&chunks), [msg("a\nb")]);
    }

    // L3: at the end of the stream an unterminated line and an undispatched event are discarded.
    cases! {
        l3_unterminated_last_line_is_not_processed: b"data: a\n\ndata: b" => [msg("a")];
        l3_undispatched_event_is_discarded: b"data: a\n\ndata: b\n" => [msg("a")];
        l3_event_ending_in_one_line_ending_is_discarded: b"data: a\r" => [];
        l3_unterminated_retry_is_not_processed: b"retry: 5" => [];
        l3_unterminated_id_line_is_not_processed: b"data: a\n\nid: 1" => [msg("a")];
    }

    #[test]
    fn l3_finish_returns_whether_something_was_discarded() {
        for (stream, discarded) in [
            (&b"data: a\n"[..], true),
            (b"data: a", true),
            (b"event: t\n", true),
            (b"x", true),
            (b"data: a\n\n", false),
            (b"", false),
            (b": comment\n", false),
            (b"retry: 5\n", false),
            (b"\xEF\xBB\xBF", false),
        ] {
            let mut dec = Decoder::new();
            dec.feed(stream, |_| {}).unwrap();
            assert_eq!(dec.finish(), discarded, "{}", stream.escape_ascii());
            assert!(!dec.finish(), "nothing left the second time");
        }
    }

    #[test]
    fn l3_decode_all_discards_the_incomplete_event_and_finishes() {
        let mut dec = Decoder::new();
        assert_eq!(dec.decode_all(b"data: a\n\ndata: b\n"), Ok(vec![msg("a")]));
        // The discarded data does not leak into the next stream.
        assert_eq!(dec.decode_all(b"\ndata: c\n\n"), Ok(vec![msg("c")]));
    }

    #[test]
    fn l3_finish_keeps_the_last_event_id_but_drops_a_pending_one() {
        let mut dec = Decoder::new();
        let mut got = Vec::new();
        dec.feed(b"id: 5\ndata: a\n\nid: 6\ndata: x\n", |item| got.push(item.to_owned())).unwrap();
        assert!(dec.finish());
        assert_eq!(dec.last_event_id(), "5");
        dec.feed(b"\ndata: b\n\n", |item| got.push(item.to_owned())).unwrap();
        assert_eq!(got, [msg_id("a", "5"), msg_id("b", "5")]);
    }

    #[test]
    fn l3_finish_reports_a_discarded_partial_bom() {
        // `EF BB` then the end: not a BOM, so an unterminated line holding U+FFFD (D2, L3).
        let mut dec = Decoder::new();
        dec.feed(b"\xEF\xBB", |_| {}).unwrap();
        assert!(dec.finish());
    }

    #[test]
    fn l3_finish_reports_a_discarded_pending_id() {
        // Had the blank line come, the last event ID would have become "5" (E1); finish()
        // discards that (the id is not applied) but reports that nothing was discarded.
        let mut dec = Decoder::new();
        dec.feed(b"id: 5\n", |_| {}).unwrap();
        assert!(dec.finish());
        assert_eq!(dec.last_event_id(), "");
    }

    // P1-P5: lines.
    cases! {
        p1_blank_line_dispatches: b"data: a\n\n" => [msg("a")];
        p1_blank_lines_without_data_dispatch_nothing: b"\n\n\r\n\r" => [];
        p2_comment_lines_are_ignored: b": hi\ndata: a\n:\n:data: b\n\n" => [msg("a")];
        p2_comments_that_look_like_fields_are_ignored:
            b":retry: 5\n:id: 1\n:event: x\ndata: a\n\n" => [msg("a")];
        p2_comment_line_does_not_dispatch: b"data: a\n:\n" => [];
        p3_one_leading_space_is_stripped: b"data: a\n\n" => [msg("a")];
        p3_no_space_after_colon: b"data:a\n\n" => [msg("a")];
        p3_only_one_space_is_stripped: b"data:  a\n\n" => [msg(" a")];
        p3_value_of_one_space_is_empty: b"data: \n\n" => [msg("")];
        p3_tab_is_not_stripped: b"data:\ta\n\n" => [msg("\ta")];
        p3_trailing_spaces_are_kept: b"data: a \n\n" => [msg("a ")];
        p3_name_ends_at_the_first_colon: b"data: a: b\ndata::c\n\n" => [msg("a: b\n:c")];
        p3_one_space_is_stripped_in_every_field: b"event:  t\nid:  1\ndata:  d\n\n" => [ev(" t", " d", " 1")];
        p3_one_space_is_stripped_before_retry_digits:
            b"retry: 5\nretry:  6\nretry:7\n" => [Retry(5), Retry(7)];
        p4_data_without_colon_appends_an_empty_line: b"data\n\n" => [msg("")];
        p4_two_data_lines_without_colon: b"data\ndata\n\n" => [msg("\n")];
        p4_event_without_colon_sets_an_empty_type: b"event: t\nevent\ndata: a\n\n" => [msg("a")];
        p4_id_without_colon_resets_the_id:
            b"id: 1\ndata: a\n\nid\ndata: b\n\n" => [msg_id("a", "1"), msg("b")];
        p4_retry_without_colon_is_ignored: b"retry\n" => [];
        p5_field_names_are_case_sensitive: b"Data: a\nDATA: b\n\n" => [];
        p5_capitalised_event_id_retry_are_unknown: b"Event: t\nID: 1\nRetry: 5\ndata: a\n\n" => [msg("a")];
        p5_unknown_fields_are_ignored: b"foo: bar\nx\ndata: a\nfoo\n\n" => [msg("a")];
        p5_names_with_spaces_are_unknown: b"data : a\n data: b\ndata\t: c\n\n" => [];
        p5_names_are_matched_whole: b"datax: a\ndat: b\nid1: 1\nretryx: 5\nevents: e\n\n" => [];
        p5_name_with_nul_is_unknown: b"data\0: a\n\n" => [];
    }

    // F1-F4: fields.
    cases! {
        f1_event_sets_the_type: b"event: add\ndata: a\n\n" => [ev("add", "a", "")];
        f1_last_event_field_wins: b"event: a\nevent: b\ndata: x\n\n" => [ev("b", "x", "")];
        f1_event_after_data_in_the_block_counts: b"data: x\nevent: t\n\n" => [ev("t", "x", "")];
        f1_empty_event_type_is_message: b"event:\ndata: x\n\n" => [msg("x")];
        f1_event_type_is_any_text: "event: a b:c€\0\ndata: x\n\n".as_bytes() => [ev("a b:c€\0", "x", "")];
        f2_data_lines_are_joined_with_lf: b"data: a\ndata:\ndata: b\n\n" => [msg("a\n\nb")];
        f2_data_may_hold_nul_and_colons: b"data: \0:x\n\n" => [msg("\0:x")];
        f3_id_sets_the_last_event_id: b"id: 1\ndata: a\n\n" => [msg_id("a", "1")];
        f3_last_id_field_wins: b"id: 1\nid: 2\ndata: a\n\n" => [msg_id("a", "2")];
        f3_id_after_data_in_the_block_counts: b"data: a\nid: 3\n\n" => [msg_id("a", "3")];
        f3_id_with_nul_is_ignored:
            b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\nid: \0\ndata: c\n\n"
                => [msg_id("a", "1"), msg_id("b", "1"), msg_id("c", "1")];
        f3_id_with_nul_does_not_undo_an_earlier_id_field: b"id: 1\nid: \0\ndata: a\n\n" => [msg_id("a", "1")];
        f3_empty_id_resets: b"id: 1\ndata: a\n\nid:\ndata: b\n\n" => [msg_id("a", "1"), msg("b")];
        f3_id_is_any_text: b"id:  x y\xFF\ndata: a\n\n" => [msg_id("a", " x y\u{FFFD}")];
        f4_retry_digits_set_the_reconnection_time: b"retry: 1000\n" => [Retry(1000)];
        f4_retry_comes_at_its_line_before_the_event: b"data: a\nretry: 5\n\n" => [Retry(5), msg("a")];
        f4_retry_zero_and_leading_zeros: b"retry: 0\nretry: 007\n" => [Retry(0), Retry(7)];
        f4_retry_u64_max: b"retry: 18446744073709551615\n" => [Retry(u64::MAX)];
        f4_retry_too_large_is_ignored:
            b"retry: 5\nretry: 18446744073709551616\nretry: 99999999999999999999999\nretry: 000018446744073709551615\n"
                => [Retry(5), Retry(u64::MAX)];
        f4_retry_other_than_digits_is_ignored:
            b"retry: 1a\nretry:\nretry: -1\nretry: +1\nretry: 1.5\nretry: 1 \nretry: \nretry: 1_0\n"
                => [];
        f4_retry_non_ascii_digits_are_ignored: "retry: \u{661}\nretry: \u{FF11}\n".as_bytes() => [];
        f4_retry_alone_dispatches_nothing: b"retry: 5\n\n" => [Retry(5)];
    }

    // E1-E4: dispatch.
    cases! {
        e1_id_is_kept_when_nothing_is_dispatched: b"id: 7\n\ndata: a\n\n" => [msg_id("a", "7")];
        e1_ids_persist_across_events:
            b"id: 1\ndata: a\n\ndata: b\n\n" => [msg_id("a", "1"), msg_id("b", "1")];
        e1_id_of_a_block_without_data_then_a_new_id:
            b"id: 1\n\ndata: a\n\nid: 2\nevent: t\n\ndata: b\n\n" => [msg_id("a", "1"), msg_id("b", "2")];
        e2_blank_line_without_data_resets_the_event_type: b"event: t\n\ndata: a\n\n" => [msg("a")];
        e2_block_without_data_dispatches_nothing: b"event: t\nid: 1\nretry: 5\n\n" => [Retry(5)];
        e3_one_trailing_lf_is_removed: b"data: a\ndata:\n\n" => [msg("a\n")];
        e3_only_one_trailing_lf_is_removed: b"data:\ndata:\n\n" => [msg("\n")];
        e3_empty_data_line_dispatches_an_empty_event: b"data:\n\n" => [msg("")];
        e4_buffers_are_reset_after_dispatch:
            b"event: t\ndata: a\n\ndata: b\n\n" => [ev("t", "a", ""), msg("b")];
        e4_more_blank_lines_dispatch_nothing_more: b"data: a\n\n\n\n\r\n" => [msg("a")];
    }

    #[test]
    fn e1_last_event_id_changes_at_the_blank_line() {
        let mut dec = Decoder::new();
        assert_eq!(dec.last_event_id(), "");
        dec.feed(b"id: 7\n", |_| panic!("no item")).unwrap();
        assert_eq!(dec.last_event_id(), "", "not before the blank line");
        dec.feed(b"\n", |_| panic!("no item")).unwrap();
        assert_eq!(dec.last_event_id(), "7");
        dec.feed(b"id\n\n", |_| panic!("no item")).unwrap();
        assert_eq!(dec.last_event_id(), "");
    }

    // Limits: with `with_max_size(8)`, lines and event data of 8 bytes pass and 9 do not.
    limit_cases! {
        limit_line_of_exactly_max_bytes_is_accepted: 8, b"data:abc\n\n" => [msg("abc")], Ok(());
        limit_line_of_max_plus_one_bytes_is_refused: 8, b"data:abcd\n\n" => [], TOO_LONG;
        limit_unterminated_line_of_exactly_max_bytes_is_accepted: 8, b"data:abc" => [], Ok(());
        limit_unterminated_line_of_max_plus_one_bytes_is_refused: 8, b"data:abcd" => [], TOO_LONG;
        limit_line_endings_are_not_counted: 8, b"data:abc\r\n\r\n" => [msg("abc")], Ok(());
        limit_bom_is_not_counted: 8, b"\xEF\xBB\xBFdata:abc\n\n" => [msg("abc")], Ok(());
        limit_partial_bom_is_counted: 8, b"\xEF\xBBdata:ab\n\n" => [], TOO_LONG;
        limit_comment_line_is_counted: 8, b":abcdefgh\n" => [], TOO_LONG;
        limit_bytes_are_counted_not_chars: 8, "data:éé\n".as_bytes() => [], TOO_LONG;
        limit_items_before_the_error_are_delivered:
            8, b"data:a\n\nretry:1\ndata:abcd\n\ndata:b\n\n" => [msg("a"), Retry(1)], TOO_LONG;
        limit_event_data_of_exactly_max_bytes_is_accepted:
            8, b"data:abc\ndata:abc\ndata:\n\n" => [msg("abc\nabc\n")], Ok(());
        limit_event_data_of_max_plus_one_bytes_is_refused:
            8, b"data:abc\ndata:abc\ndata:a\n\n" => [], TOO_LARGE;
        limit_event_data_is_refused_at_its_data_line: 8, b"data:abc\ndata:abc\ndata:a\n" => [], TOO_LARGE;
        limit_event_data_is_counted_after_decoding: 8, b"data:\xFF\xFF\xFF\n\n" => [], TOO_LARGE;
        limit_zero_allows_only_empty_lines: 0, b"\n\r\n\r" => [], Ok(());
        limit_zero_refuses_any_field: 0, b"data\n\n" => [], Err(DecodeError::LineTooLong { limit: 0 });
    }

    #[test]
    fn limit_line_buffered_across_chunks_is_refused_as_soon_as_it_passes() {
        let mut dec = Decoder::with_max_size(8);
        for chunk in [&b"da"[..], b"ta", b":abc"] {
            assert_eq!(dec.feed(chunk, |_| panic!("no item")), Ok(()));
        }
        assert_eq!(dec.feed(b"d", |_| panic!("no item")), TOO_LONG, "before any line ending");
    }

    #[test]
    fn limit_error_is_returned_again_for_every_call() {
        let mut dec = Decoder::with_max_size(8);
        let mut got = Vec::new();
        assert_eq!(
            dec.feed(b"data:a\n\ndata:abc\ndata:abc\ndata:a\n\n", |item| got.push(item.to_owned())),
            TOO_LARGE
        );
        assert_eq!(got, [msg("a")]);
        for _ in 0..2 {
            assert_eq!(dec.feed(b"data: x\n\n", |_| panic!("no item after an error")), TOO_LARGE);
            assert_eq!(dec.feed(b"", |_| panic!("no item after an error")), TOO_LARGE);
        }
        dec.finish();
        assert_eq!(dec.feed(b"data:b\n\n", |_| panic!("no item after an error")), TOO_LARGE);
        assert_eq!(dec.decode_all(b"data:b\n\n"), TOO_LARGE.map(|()| vec![]));
        // decode_all reports it too.
        assert_eq!(Decoder::with_max_size(8).decode_all(b"data:abcdefgh\n\n"), TOO_LONG.map(|()| vec![]));
    }

    #[test]
    fn limit_default_is_one_mib() {
        assert_eq!(DEFAULT_MAX_SIZE, 1 << 20);
        assert_eq!(Decoder::new().max_size(), DEFAULT_MAX_SIZE);
        assert_eq!(Decoder::default().max_size(), DEFAULT_MAX_SIZE);
        assert_eq!(Decoder::with_max_size(5).max_size(), 5);
        let mut line = b"data:".to_vec();
        line.resize(DEFAULT_MAX_SIZE, b'x');
        line.extend_from_slice(b"\n\n");
        let items = Decoder::new().decode_all(&line).unwrap();
        assert!(matches!(&items[..], [OwnedItem::Event { data, .. }] if data.len() == DEFAULT_MAX_SIZE - 5));
        line.insert(0, b'x');
        assert_eq!(
            Decoder::new().decode_all(&line),
            Err(DecodeError::LineTooLong { limit: DEFAULT_MAX_SIZE })
        );
    }

    #[test]
    fn limit_buffered_capacity_starts_at_zero_and_stops_growing() {
        let mut dec = Decoder::new();
        assert_eq!(dec.buffered_capacity(), 0);
        let block = b"event: update\nid: 12345\ndata: some text\ndata: more text\n\n";
        dec.feed(block, |_| {}).unwrap();
        let first = dec.buffered_capacity();
        assert!(first > 0);
        for _ in 0..1000 {
            // Split so that the line buffer is used too.
            dec.feed(&block[..20], |_| {}).unwrap();
            dec.feed(&block[20..], |_| {}).unwrap();
        }
        let steady = dec.buffered_capacity();
        for _ in 0..1000 {
            dec.feed(&block[..20], |_| {}).unwrap();
            dec.feed(&block[20..], |_| {}).unwrap();
        }
        assert_eq!(dec.buffered_capacity(), steady, "no growth per event");
        assert!(steady <= 4 * block.len(), "{steady}");
    }

    limit_cases! {
        limit_of_usize_max_is_no_limit:
            usize::MAX, b"data:a\ndata:b\nevent:e\nid:1\n\n:c\n" => [ev("e", "a\nb", "1")], Ok(());
        limit_of_usize_max_minus_one_is_no_limit: usize::MAX - 1, b"data:a\n\n" => [msg("a")], Ok(());
    }

    #[test]
    fn limit_of_usize_max_decodes_a_long_stream() {
        let mut dec = Decoder::with_max_size(usize::MAX);
        let line = field_line(b"data:", b'x', 100_000);
        let mut events = 0;
        for _ in 0..4 {
            dec.feed(&line[..50_000], |_| panic!("no item yet")).unwrap();
            dec.feed(&line[50_000..], |_| panic!("no item yet")).unwrap();
            dec.feed(b"\n", |item| {
                events += usize::from(matches!(item, Item::Event(ev) if ev.data.len() == 100_000))
            })
            .unwrap();
        }
        assert_eq!(events, 4);
    }

    #[test]
    fn bounded_growth_near_usize_max_refuses_without_overflow() {
        assert_eq!(bounded_growth(usize::MAX - 1, usize::MAX - 1, 2, usize::MAX), None);
        assert_eq!(bounded_growth(usize::MAX, usize::MAX, 1, usize::MAX), None);
        assert_eq!(bounded_growth(usize::MAX - 2, usize::MAX - 2, 2, usize::MAX), Some(2));
        assert_eq!(bounded_growth(10, usize::MAX / 2 + 1, 1, usize::MAX), Some(0));
        assert_eq!(
            bounded_growth(usize::MAX / 2 + 1, usize::MAX / 2 + 1, 1, usize::MAX),
            Some(usize::MAX / 2)
        );
        // The ordinary doubling, and the cap.
        assert_eq!(bounded_growth(4, 4, 1, 100), Some(4));
        assert_eq!(bounded_growth(4, 4, 1, 6), Some(2));
        assert_eq!(bounded_growth(4, 4, 3, 6), None);
    }

    /// Feeds `chunks` to a decoder limited to `max` and returns the largest capacity seen.
    fn peak_capacity(max: usize, chunks: &[Vec<u8>]) -> usize {
        let mut dec = Decoder::with_max_size(max);
        let mut peak = 0;
        for chunk in chunks {
            let _ = dec.feed(chunk, |_| {});
            peak = peak.max(dec.buffered_capacity());
        }
        peak
    }

    /// `name` then `n` times `byte` then LF.
    fn field_line(name: &[u8], byte: u8, n: usize) -> Vec<u8> {
        let mut line = name.to_vec();
        line.resize(name.len() + n, byte);
        line.push(b'\n');
        line
    }

    #[test]
    fn limit_buffered_capacity_of_ordinary_events_stays_within_five_times_the_limit() {
        let chunks: Vec<Vec<u8>> = (0..64usize)
            .map(|n| {
                [field_line(b"event:", b'e', n % 59), field_line(b"data:", b'd', n % 60), b"\n".to_vec()]
                    .concat()
            })
            .collect();
        assert!(peak_capacity(64, &chunks) <= 5 * 64 + 1);
    }

    #[test]
    fn limit_buffered_capacity_stays_within_five_times_the_limit() {
        // Invalid bytes decode to 3-byte U+FFFDs, so the decoded values are longer than the
        // lines: the decoded-length checks must stop them before any buffer passes the limit.
        let invalid = [
            field_line(b"event:", 0xFF, 58),
            field_line(b"id:", 0xFF, 61),
            b"\n".to_vec(),
            field_line(b"data:", b'a', 40),
            field_line(b"data:", 0xFF, 59),
        ]
        .concat();
        let peak_invalid = peak_capacity(64, &[invalid]);
        // Plain ASCII, the line buffer used across chunks, and amortized growth.
        let ascii = vec![
            [
                field_line(b"event:", b'e', 57),
                field_line(b"event:", b'e', 58),
                field_line(b"id:", b'i', 60),
                b"\n".to_vec(),
                field_line(b"id:", b'i', 61),
                b"\n".to_vec(),
                field_line(b"data:", b'd', 59),
                b"\n".to_vec(),
                [b":".repeat(63), b"\n".to_vec()].concat(),
            ]
            .concat(),
            b":".repeat(63),
            b"\n".to_vec(),
            b":".repeat(64),
            [b"\n".to_vec(), field_line(b"data:", b'd', 59), field_line(b"data:", b'd', 4)].concat(),
            field_line(b"data:", b'd', 59),
        ];
        let peak_ascii = peak_capacity(64, &ascii);
        assert!(
            peak_invalid <= 5 * 64 + 1 && peak_ascii <= 5 * 64 + 1,
            "peak capacity for a limit of 64: {peak_invalid} (invalid UTF-8), {peak_ascii} (ASCII)"
        );
    }

    // The fast paths (the complete lines of a chunk checked as one text, the line loop of
    // LF-only text, a one-line event's data dispatched from the chunk, `data:`/`id:` matched by
    // prefix, the id swapped into place) against a plain transcription of the standard, with
    // chunk boundaries everywhere: every line then goes through the fast path, the line buffer
    // (the slow path) or both.

    /// The standard's algorithm on a whole stream: decode, split lines, interpret. Returns the
    /// items and the last event ID (the pending line and event are discarded, as by `finish`).
    fn reference(stream: &[u8]) -> (Vec<OwnedItem>, String) {
        let text = String::from_utf8_lossy(stream.strip_prefix(&BOM[..]).unwrap_or(stream));
        let (mut items, mut data, mut event_type) = (Vec::new(), String::new(), String::new());
        let (mut id_buf, mut last_event_id) = (String::new(), String::new());
        let mut rest = &text[..];
        while let Some(i) = rest.find(['\r', '\n']) {
            let line = &rest[..i];
            rest = &rest[i + if rest[i..].starts_with("\r\n") { 2 } else { 1 }..];
            if line.is_empty() {
                last_event_id.clone_from(&id_buf);
                if !data.is_empty() {
                    data.pop();
                    let ty = if event_type.is_empty() { "message" } else { &event_type };
                    items.push(ev(ty, &data, &last_event_id));
                }
                data.clear();
                event_type.clear();
                continue;
            }
            let (name, value) = match line.split_once(':') {
                Some(("", _)) => continue,
                Some((name, value)) => (name, value.strip_prefix(' ').unwrap_or(value)),
                None => (line, ""),
            };
            match name {
                "data" => {
                    data.push_str(value);
                    data.push('\n');
                }
                "event" => event_type = value.to_owned(),
                "id" if !value.contains('\0') => id_buf = value.to_owned(),
                "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                    if let Ok(ms) = value.parse() {
                        items.push(Retry(ms));
                    }
                }
                _ => {}
            }
        }
        (items, last_event_id)
    }

    /// `run`'s outcome for `chunks`, as items and last event ID (no error expected).
    fn decoded(chunks: &[&[u8]]) -> (Vec<OwnedItem>, String) {
        let out = run(DEFAULT_MAX_SIZE, chunks);
        assert_eq!(out.result, Ok(()));
        (out.items, out.last_event_id)
    }

    /// Lines of every kind, one-line and many-line events, each line ending, a chunk's worth
    /// of text that is not valid UTF-8, NUL in ids, a BOM.
    const SAMPLE: &[u8] = b"\xEF\xBB\xBFid: 1\ndata: one\n\nid: 2\ndata: a\ndata: b\n\n: c\nevent: t\n\
        data:x\r\n\r\nid:3\rdata: cr\r\rdata\n\nid: 4\0\ndata: nul\n\nretry: 15\nid\ndata:  two\n\n\
        data: \xFF\xE2\x82\nid: \xC3\n\ndata: \xE2\x82\xAC\r\n\ndata: last\r\n\r\n";

    #[test]
    fn fast_paths_match_the_reference_split_at_every_point_and_every_pair_of_points() {
        let expected = reference(SAMPLE);
        assert_eq!(expected.0.len(), 11, "the sample dispatches its events: {:?}", expected.0);
        assert_eq!(decoded(&[SAMPLE]), expected, "fed whole");
        let bytes: Vec<&[u8]> = SAMPLE.chunks(1).collect();
        assert_eq!(decoded(&bytes), expected, "fed byte by byte");
        for i in 0..=SAMPLE.len() {
            for j in i..=SAMPLE.len() {
                let chunks = [&SAMPLE[..i], &SAMPLE[i..j], &SAMPLE[j..]];
                assert_eq!(decoded(&chunks), expected, "split at {i} and {j}");
            }
        }
    }

    #[test]
    fn limit_an_error_mid_chunk_keeps_the_last_event_id_of_the_events_before_it() {
        // The ids of events dispatched from a chunk are copied when it ends, or at an error.
        let mut dec = Decoder::with_max_size(8);
        let mut ids = Vec::new();
        let result = dec.feed(b"id: 1\ndata: a\n\nid: 2\ndata: b\n\nid: 3\ndata: far too long\n\n", |item| {
            if let Item::Event(e) = item {
                ids.push(e.last_event_id.to_owned());
            }
        });
        assert_eq!(result, Err(DecodeError::LineTooLong { limit: 8 }));
        assert_eq!(ids, ["1", "2"]);
        assert_eq!(dec.last_event_id(), "2", "the id of the block that failed was never applied");
    }

    #[test]
    fn fast_paths_match_the_reference_on_random_streams_and_random_chunks() {
        const PIECES: [&[u8]; 24] = [
            b"data:",
            b"data: ",
            b"data",
            b"id: ",
            b"id:",
            b"id",
            b"event: ",
            b"retry: ",
            b":",
            b"\n",
            b"\n",
            b"\n\n",
            b"\r",
            b"\r\n",
            b"x",
            b"7",
            b" ",
            b"\0",
            b"\xC3\xA9",
            b"\xFF",
            b"\xE2\x82",
            b"\xEF\xBB\xBF",
            b"dat",
            b"a",
        ];
        let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
        for _ in 0..3_000 {
            let stream = random_stream(&PIECES, 40, &mut next);
            let expected = reference(&stream);
            assert_eq!(decoded(&[&stream]), expected, "fed whole: {}", stream.escape_ascii());
            let mut chunks = Vec::new();
            let mut rest = &stream[..];
            while !rest.is_empty() {
                let (chunk, tail) = rest.split_at(next(rest.len().min(12) + 1));
                chunks.push(chunk);
                rest = tail;
            }
            assert_eq!(decoded(&chunks), expected, "chunks {chunks:?}");
        }
    }

    /// xorshift64 from `state`: `next(n)` is in `0..n`, the same sequence on every run.
    fn xorshift(mut state: u64) -> impl FnMut(usize) -> usize {
        move |n| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        }
    }

    /// Fewer than `most` of `pieces` end to end, drawn with `next`.
    fn random_stream(pieces: &[&[u8]], most: usize, next: &mut impl FnMut(usize) -> usize) -> Vec<u8> {
        (0..next(most)).flat_map(|_| pieces[next(pieces.len())].to_vec()).collect()
    }

    #[test]
    fn fast_paths_match_the_reference_on_random_lf_only_streams() {
        // Valid text with LF endings alone takes `lf_lines`, with its own reading of `data`,
        // `id` and blank lines: events of one and of more data lines, ids with and without
        // NUL or a space, fields that only look like them, other fields between.
        const PIECES: [&[u8]; 20] = [
            b"data: x\n",
            b"data:y\n",
            b"data\n",
            b"data: \n",
            b"data:  z\n",
            b"id: 1\n",
            b"id:2\n",
            b"id\n",
            b"id: \0\n",
            b"id:  3\n",
            b"idx: 4\n",
            b"datax: 5\n",
            b"event: t\n",
            b"event:\n",
            b"retry: 9\n",
            b": c\n",
            b"\n",
            b"\n",
            b"\n",
            b"\xC3\xA9",
        ];
        let mut next = xorshift(0x2545_F491_4F6C_DD1D);
        for _ in 0..3_000 {
            let stream = random_stream(&PIECES, 30, &mut next);
            let expected = reference(&stream);
            assert_eq!(decoded(&[&stream]), expected, "fed whole: {}", stream.escape_ascii());
            let cut = next(stream.len() + 1);
            assert_eq!(
                decoded(&[&stream[..cut], &stream[cut..]]),
                expected,
                "cut at {cut}: {}",
                stream.escape_ascii()
            );
        }
    }

    #[test]
    fn lf_line_ends_are_found_at_every_offset_of_the_blocks_and_past_them() {
        // Lines end in LF alone: searched 16 bytes at a time for 128 bytes, then by memchr; the
        // text ends at every offset from a block's start too (where a block, or the 128 bytes
        // looked at without bounds checks, no longer fit).
        for len in 0..300 {
            let value: String = (0..len).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
            let stream = format!("id: {len}\ndata: {value}\n\n:{value}\ndata:{value}\ndata\n\n");
            assert_eq!(decoded(&[stream.as_bytes()]), reference(stream.as_bytes()), "{len}");
        }
    }

    #[test]
    fn one_line_event_data_pending_at_the_end_of_a_chunk_is_kept() {
        // The first data line is held in the chunk until the blank line; the chunk ends first.
        for chunks in
            [&[&b"data: a\n"[..], b"\n"][..], &[b"data: a\n", b"data: b\n\n"], &[b"data: a\n", b"", b"\r\n"]]
        {
            let whole = chunks.concat();
            assert_eq!(decoded(chunks), reference(&whole), "{}", whole.escape_ascii());
        }
        assert_eq!(items_of(&[b"data: a\n", b"data: b\n\n"]), [msg("a\nb")]);
    }

    #[test]
    fn limit_one_line_event_data_is_bounded_like_buffered_data() {
        // A one-line event dispatched from the chunk still counts against the limit.
        assert_eq!(run(8, &[b"data:abc\n\n"]).items, [msg("abc")]);
        assert_eq!(
            Decoder::with_max_size(3).decode_all(b"data:abcd\n\n"),
            Err(DecodeError::LineTooLong { limit: 3 })
        );
        let mut dec = Decoder::with_max_size(8);
        assert_eq!(
            dec.feed(b"data:abc\ndata:abc\ndata:a\n\n", |_| {}),
            Err(DecodeError::EventTooLarge { limit: 8 }),
            "the pending first line stored, then the lines that pass the limit"
        );
    }
}
