//! Why a frame was refused, and what the connection must do about it.
//!
//! RFC 9113 §5.4 has two kinds of error. A *connection error* ends the whole connection: the
//! endpoint sends `GOAWAY` with an error code and closes. A *stream error* ends one stream:
//! `RST_STREAM` with a code, and every other stream goes on. [`FrameError`] says which one a
//! rule calls for; [`Violation`] says which rule was broken, and fixes the code.
//!
//! A stream error leaves the connection in a known state only if the offending frame can be
//! stepped over, so [`FrameError::Stream`] carries the frame's whole length. The decoder never
//! makes a stream error of a frame that carries a header block: skipping one would leave the
//! HPACK context out of step with the peer's, so such frames are connection errors (RFC 9113
//! §5.4 lets any stream error be treated as a connection error).

use core::fmt;

use super::head::FrameType;
use crate::h2::ErrorCode;

/// A frame that breaks a rule of RFC 9113, with the error the connection must signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// End the connection: send `GOAWAY` with [`FrameError::code`] and close.
    Connection(Violation),
    /// Reset one stream: send `RST_STREAM` with [`FrameError::code`] on `stream_id`, drop the
    /// first `frame_len` octets of the input (the whole offending frame) and go on decoding.
    Stream {
        /// The stream to reset.
        stream_id: u32,
        /// Octets to drop: the frame header and payload.
        frame_len: usize,
        /// The rule the frame broke.
        violation: Violation,
    },
}

impl FrameError {
    /// The rule the frame broke.
    pub fn violation(&self) -> Violation {
        match *self {
            FrameError::Connection(violation) | FrameError::Stream { violation, .. } => violation,
        }
    }

    /// The error code to send in `GOAWAY` or `RST_STREAM`.
    pub fn code(&self) -> ErrorCode {
        self.violation().code()
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Connection(v) => write!(f, "connection error {}: {v}", v.code()),
            FrameError::Stream { stream_id, violation, .. } => {
                write!(f, "stream error {} on stream {stream_id}: {violation}", violation.code())
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// A rule of RFC 9113 that a frame broke. Each rule has one error code ([`Violation::code`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    /// The payload is longer than the `SETTINGS_MAX_FRAME_SIZE` we advertised (§4.2).
    TooLarge {
        /// The frame's payload length.
        len: u32,
        /// Our limit.
        max: u32,
    },
    /// A frame that belongs to a stream arrived on stream 0 (§6.1-§6.4, §6.6, §6.10).
    StreamIdRequired(FrameType),
    /// A frame that belongs to the connection arrived on a stream (§6.5, §6.7, §6.8).
    StreamIdForbidden(FrameType),
    /// The payload length is wrong for the type: too short for its fixed fields, not the fixed
    /// size, or (`SETTINGS`) not a multiple of 6 or non-empty with `ACK` (§4.2, §6).
    BadLength {
        /// The frame type.
        kind: FrameType,
        /// The frame's payload length.
        len: u32,
    },
    /// The pad length is more than the payload has room for (§6.1, §6.2, §6.6).
    PaddingTooLong {
        /// The frame type.
        kind: FrameType,
        /// The pad length octet.
        pad_len: u8,
        /// The frame's payload length.
        len: u32,
    },
    /// A stream was made to depend on itself (§5.3.1).
    SelfDependency {
        /// The stream.
        stream_id: u32,
    },
    /// `SETTINGS_ENABLE_PUSH` was neither 0 nor 1 (§6.5.2).
    InvalidEnablePush(u32),
    /// `SETTINGS_INITIAL_WINDOW_SIZE` was above 2^31 - 1 (§6.5.2).
    InitialWindowTooLarge(u32),
    /// `SETTINGS_MAX_FRAME_SIZE` was outside 2^14 ..= 2^24 - 1 (§6.5.2).
    InvalidMaxFrameSize(u32),
}

impl Violation {
    /// The error code RFC 9113 gives this rule.
    pub fn code(&self) -> ErrorCode {
        match self {
            Violation::TooLarge { .. } | Violation::BadLength { .. } => ErrorCode::FrameSizeError,
            Violation::InitialWindowTooLarge(_) => ErrorCode::FlowControlError,
            Violation::StreamIdRequired(_)
            | Violation::StreamIdForbidden(_)
            | Violation::PaddingTooLong { .. }
            | Violation::SelfDependency { .. }
            | Violation::InvalidEnablePush(_)
            | Violation::InvalidMaxFrameSize(_) => ErrorCode::ProtocolError,
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::TooLarge { len, max } => {
                write!(f, "frame payload of {len} octets exceeds the maximum frame size of {max}")
            }
            Violation::StreamIdRequired(kind) => write!(f, "{kind} frame on stream 0"),
            Violation::StreamIdForbidden(kind) => write!(f, "{kind} frame on a stream other than 0"),
            Violation::BadLength { kind, len } => write!(f, "{kind} frame with invalid length {len}"),
            Violation::PaddingTooLong { kind, pad_len, len } => {
                write!(f, "{kind} frame with {pad_len} octets of padding in a {len}-octet payload")
            }
            Violation::SelfDependency { stream_id } => write!(f, "stream {stream_id} depends on itself"),
            Violation::InvalidEnablePush(value) => {
                write!(f, "SETTINGS_ENABLE_PUSH of {value} (must be 0 or 1)")
            }
            Violation::InitialWindowTooLarge(value) => {
                write!(f, "SETTINGS_INITIAL_WINDOW_SIZE of {value} exceeds 2^31 - 1")
            }
            Violation::InvalidMaxFrameSize(value) => {
                write!(f, "SETTINGS_MAX_FRAME_SIZE of {value} is outside 16384..=16777215")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_code_and_the_rule() {
        let e = FrameError::Connection(Violation::BadLength { kind: FrameType::Ping, len: 7 });
        assert_eq!(e.to_string(), "connection error FRAME_SIZE_ERROR: PING frame with invalid length 7");
        let e = FrameError::Stream {
            stream_id: 3,
            frame_len: 14,
            violation: Violation::SelfDependency { stream_id: 3 },
        };
        assert_eq!(e.code(), ErrorCode::ProtocolError);
        assert_eq!(e.to_string(), "stream error PROTOCOL_ERROR on stream 3: stream 3 depends on itself");
    }

    #[test]
    fn the_initial_window_rule_is_a_flow_control_error() {
        assert_eq!(Violation::InitialWindowTooLarge(1 << 31).code(), ErrorCode::FlowControlError);
        assert_eq!(Violation::InvalidMaxFrameSize(0).code(), ErrorCode::ProtocolError);
        assert_eq!(Violation::TooLarge { len: 1, max: 0 }.code(), ErrorCode::FrameSizeError);
    }
}
