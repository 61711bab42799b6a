//! Error types of the pure core.
//!
//! Each operation has its own small enum so that a caller can match on exactly what can go wrong
//! there, and every enum has a hand-written [`Display`](core::fmt::Display) fit for a one-line
//! message on stderr.

use core::fmt;

/// Why an [`Event`](crate::Event) cannot be written to an event stream.
///
/// The event-stream format has no escaping: a line break inside `event` or `id` would end the
/// field and start another one, so such values are refused rather than silently changed. A NUL in
/// `id` is refused because every conforming client ignores such an `id` field (rule F3 of
/// `docs/event-stream-rules.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The event type contains CR or LF.
    NewlineInEventType,
    /// The id contains CR or LF.
    NewlineInId,
    /// The id contains U+0000.
    NulInId,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EncodeError::NewlineInEventType => "event type contains a line break (CR or LF)",
            EncodeError::NewlineInId => "event id contains a line break (CR or LF)",
            EncodeError::NulInId => "event id contains a NUL character",
        })
    }
}

impl std::error::Error for EncodeError {}

/// Why a [`Decoder`](crate::Decoder) stopped.
///
/// Both variants mean the peer sent more than the configured bound; the decoder keeps returning
/// the same error afterwards (the stream is not trusted to resynchronise).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// A single line (without its line ending) is longer than the limit.
    LineTooLong {
        /// The configured limit in bytes.
        limit: usize,
    },
    /// The data of one event (its `data` lines joined by LF) is longer than the limit.
    EventTooLarge {
        /// The configured limit in bytes.
        limit: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::LineTooLong { limit } => {
                write!(f, "event-stream line longer than the limit of {limit} bytes")
            }
            DecodeError::EventTooLarge { limit } => {
                write!(f, "event data larger than the limit of {limit} bytes")
            }
        }
    }
}

impl std::error::Error for DecodeError {}
