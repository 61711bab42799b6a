//! The [`Event`] value: what an application sends down an event stream.
//!
//! An event is a block of fields (WHATWG HTML, "server-sent events"): an optional comment, an
//! optional `event` type, an optional `id`, an optional `retry` time and the `data` text. It is a
//! plain value; [`encode`](crate::encode) turns it into bytes, and validation of the fields that
//! the format cannot carry happens there (and in [`Event::validate`]), so that an invalid value is
//! never written half-way.
//!
//! ```
//! use ssehub::Event;
//!
//! let ev = Event::new("line one\nline two").event("update").id("42").retry(3_000);
//! let mut out = Vec::new();
//! ssehub::encode(&ev, &mut out).unwrap();
//! assert_eq!(
//!     out,
//!     b"event: update\nid: 42\nretry: 3000\ndata: line one\ndata: line two\n\n"
//! );
//! ```

use crate::error::EncodeError;

/// One event-stream block: fields an application wants a client to receive.
///
/// The fields are public and each has a builder method of the same name, so both
/// `Event::new("hi").id("1")` and `ev.id = Some("1".into())` read naturally.
///
/// * `data: None` writes no `data` line, so the client dispatches nothing; that is how a block
///   carries only `retry`, only `id` or only a comment. `data: Some("")` is an event with empty
///   data, which the client does dispatch.
/// * The format has a single line-break character on the client side (LF): CR, LF and CRLF in
///   `data` all arrive as LF.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Event {
    /// A comment written before the fields (`: text`); clients ignore it. Line breaks in it
    /// produce several comment lines.
    pub comment: Option<String>,
    /// The event type (`event:`); clients dispatch to `message` when absent or empty.
    pub event: Option<String>,
    /// The event id (`id:`); becomes the client's last event ID. `Some("")` resets it.
    pub id: Option<String>,
    /// The reconnection time in milliseconds (`retry:`).
    pub retry: Option<u64>,
    /// The data text (`data:` lines).
    pub data: Option<String>,
}

impl Event {
    /// An event carrying `data`, of the default type `message`.
    pub fn new(data: impl Into<String>) -> Event {
        Event { data: Some(data.into()), ..Event::default() }
    }

    /// A block holding only a comment, such as a keep-alive (`: ping`).
    pub fn comment_only(text: impl Into<String>) -> Event {
        Event { comment: Some(text.into()), ..Event::default() }
    }

    /// Sets the data text.
    pub fn data(mut self, data: impl Into<String>) -> Event {
        self.data = Some(data.into());
        self
    }

    /// Sets the event type.
    pub fn event(mut self, event_type: impl Into<String>) -> Event {
        self.event = Some(event_type.into());
        self
    }

    /// Sets the event id.
    pub fn id(mut self, id: impl Into<String>) -> Event {
        self.id = Some(id.into());
        self
    }

    /// Sets the reconnection time in milliseconds.
    pub fn retry(mut self, millis: u64) -> Event {
        self.retry = Some(millis);
        self
    }

    /// Sets the comment.
    pub fn comment(mut self, text: impl Into<String>) -> Event {
        self.comment = Some(text.into());
        self
    }

    /// Checks that every field can be written without changing its meaning.
    ///
    /// ```
    /// use ssehub::{EncodeError, Event};
    /// assert_eq!(Event::new("x").id("1\ndata: injected").validate(), Err(EncodeError::NewlineInId));
    /// assert_eq!(Event::new("multi\nline data is fine").validate(), Ok(()));
    /// ```
    pub fn validate(&self) -> Result<(), EncodeError> {
        if let Some(t) = &self.event {
            if memchr::memchr2(b'\r', b'\n', t.as_bytes()).is_some() {
                return Err(EncodeError::NewlineInEventType);
            }
        }
        if let Some(id) = &self.id {
            if memchr::memchr2(b'\r', b'\n', id.as_bytes()).is_some() {
                return Err(EncodeError::NewlineInId);
            }
            if memchr::memchr(0, id.as_bytes()).is_some() {
                return Err(EncodeError::NulInId);
            }
        }
        Ok(())
    }
}

impl From<&str> for Event {
    fn from(data: &str) -> Event {
        Event::new(data)
    }
}

impl From<String> for Event {
    fn from(data: String) -> Event {
        Event::new(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_sets_every_field() {
        let ev = Event::new("d").event("t").id("i").retry(7).comment("c");
        assert_eq!(ev.data.as_deref(), Some("d"));
        assert_eq!(ev.event.as_deref(), Some("t"));
        assert_eq!(ev.id.as_deref(), Some("i"));
        assert_eq!(ev.retry, Some(7));
        assert_eq!(ev.comment.as_deref(), Some("c"));
    }

    #[test]
    fn validate_refuses_line_breaks_in_event_type() {
        for bad in ["a\nb", "a\rb", "a\r\nb", "\n", "x\r"] {
            assert_eq!(Event::new("d").event(bad).validate(), Err(EncodeError::NewlineInEventType));
        }
    }

    #[test]
    fn validate_refuses_line_breaks_and_nul_in_id() {
        assert_eq!(Event::new("d").id("1\n2").validate(), Err(EncodeError::NewlineInId));
        assert_eq!(Event::new("d").id("1\r2").validate(), Err(EncodeError::NewlineInId));
        assert_eq!(Event::new("d").id("1\u{0}2").validate(), Err(EncodeError::NulInId));
    }

    #[test]
    fn validate_accepts_anything_in_data_and_comment() {
        let ev = Event::new("a\r\nb\rc\n\0").comment("x\ny").event("t y").id("");
        assert_eq!(ev.validate(), Ok(()));
    }
}
