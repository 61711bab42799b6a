//! HTTP/2 error codes (RFC 9113 §7).
//!
//! An error code is the 32-bit reason carried by `RST_STREAM` (a stream ends abnormally) and by
//! `GOAWAY` (the connection ends). Codes are an open set: RFC 9113 §7 says that unknown or
//! unsupported codes "MUST NOT trigger any special behavior" and may be treated as
//! `INTERNAL_ERROR`, so [`ErrorCode::Other`] keeps a peer's unknown code as it was sent (a log
//! line can still show it) instead of folding it into one of ours.
//!
//! In the data flow this is a value, not an error type: the frame decoder reads codes out of
//! `RST_STREAM` and `GOAWAY`, and every frame error and HPACK failure maps to the code the
//! connection must answer with.

use core::fmt;

/// An HTTP/2 error code (RFC 9113 §7), with unknown codes preserved.
///
/// ```
/// use ssehub::h2::ErrorCode;
///
/// assert_eq!(ErrorCode::from(0x1), ErrorCode::ProtocolError);
/// assert_eq!(u32::from(ErrorCode::FrameSizeError), 0x6);
/// assert_eq!(ErrorCode::from(0xdead), ErrorCode::Other(0xdead));
/// assert_eq!(ErrorCode::ProtocolError.to_string(), "PROTOCOL_ERROR");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// `NO_ERROR` (0x0): not an error; a graceful `GOAWAY`, for example.
    NoError,
    /// `PROTOCOL_ERROR` (0x1): an unspecific protocol error.
    ProtocolError,
    /// `INTERNAL_ERROR` (0x2): an unexpected internal error.
    InternalError,
    /// `FLOW_CONTROL_ERROR` (0x3): the peer violated the flow-control protocol.
    FlowControlError,
    /// `SETTINGS_TIMEOUT` (0x4): a `SETTINGS` frame was not acknowledged in time.
    SettingsTimeout,
    /// `STREAM_CLOSED` (0x5): a frame arrived on a half-closed stream.
    StreamClosed,
    /// `FRAME_SIZE_ERROR` (0x6): a frame had an invalid size.
    FrameSizeError,
    /// `REFUSED_STREAM` (0x7): the stream was refused before any processing.
    RefusedStream,
    /// `CANCEL` (0x8): the stream is no longer needed.
    Cancel,
    /// `COMPRESSION_ERROR` (0x9): the HPACK context cannot be maintained.
    CompressionError,
    /// `CONNECT_ERROR` (0xa): a `CONNECT` tunnel was reset or closed abnormally.
    ConnectError,
    /// `ENHANCE_YOUR_CALM` (0xb): the peer is generating excessive load.
    EnhanceYourCalm,
    /// `INADEQUATE_SECURITY` (0xc): the transport lacks the required security.
    InadequateSecurity,
    /// `HTTP_1_1_REQUIRED` (0xd): the request must be retried over HTTP/1.1.
    Http11Required,
    /// A code this implementation does not know, kept as it was received.
    Other(u32),
}

impl From<u32> for ErrorCode {
    fn from(code: u32) -> ErrorCode {
        match code {
            0x0 => ErrorCode::NoError,
            0x1 => ErrorCode::ProtocolError,
            0x2 => ErrorCode::InternalError,
            0x3 => ErrorCode::FlowControlError,
            0x4 => ErrorCode::SettingsTimeout,
            0x5 => ErrorCode::StreamClosed,
            0x6 => ErrorCode::FrameSizeError,
            0x7 => ErrorCode::RefusedStream,
            0x8 => ErrorCode::Cancel,
            0x9 => ErrorCode::CompressionError,
            0xa => ErrorCode::ConnectError,
            0xb => ErrorCode::EnhanceYourCalm,
            0xc => ErrorCode::InadequateSecurity,
            0xd => ErrorCode::Http11Required,
            other => ErrorCode::Other(other),
        }
    }
}

impl From<ErrorCode> for u32 {
    fn from(code: ErrorCode) -> u32 {
        match code {
            ErrorCode::NoError => 0x0,
            ErrorCode::ProtocolError => 0x1,
            ErrorCode::InternalError => 0x2,
            ErrorCode::FlowControlError => 0x3,
            ErrorCode::SettingsTimeout => 0x4,
            ErrorCode::StreamClosed => 0x5,
            ErrorCode::FrameSizeError => 0x6,
            ErrorCode::RefusedStream => 0x7,
            ErrorCode::Cancel => 0x8,
            ErrorCode::CompressionError => 0x9,
            ErrorCode::ConnectError => 0xa,
            ErrorCode::EnhanceYourCalm => 0xb,
            ErrorCode::InadequateSecurity => 0xc,
            ErrorCode::Http11Required => 0xd,
            ErrorCode::Other(other) => other,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            ErrorCode::NoError => "NO_ERROR",
            ErrorCode::ProtocolError => "PROTOCOL_ERROR",
            ErrorCode::InternalError => "INTERNAL_ERROR",
            ErrorCode::FlowControlError => "FLOW_CONTROL_ERROR",
            ErrorCode::SettingsTimeout => "SETTINGS_TIMEOUT",
            ErrorCode::StreamClosed => "STREAM_CLOSED",
            ErrorCode::FrameSizeError => "FRAME_SIZE_ERROR",
            ErrorCode::RefusedStream => "REFUSED_STREAM",
            ErrorCode::Cancel => "CANCEL",
            ErrorCode::CompressionError => "COMPRESSION_ERROR",
            ErrorCode::ConnectError => "CONNECT_ERROR",
            ErrorCode::EnhanceYourCalm => "ENHANCE_YOUR_CALM",
            ErrorCode::InadequateSecurity => "INADEQUATE_SECURITY",
            ErrorCode::Http11Required => "HTTP_1_1_REQUIRED",
            ErrorCode::Other(code) => return write!(f, "unknown error code {code:#x}"),
        };
        f.write_str(name)
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn every_code_of_rfc_9113_section_7_round_trips() {
        for code in 0..=0xdu32 {
            let known = ErrorCode::from(code);
            assert!(!matches!(known, ErrorCode::Other(_)), "{code:#x} is defined by RFC 9113 §7");
            assert_eq!(u32::from(known), code);
        }
    }

    #[test]
    fn unknown_codes_are_preserved() {
        for code in [0xe, 0xff, 0x1234_5678, u32::MAX] {
            assert_eq!(ErrorCode::from(code), ErrorCode::Other(code));
            assert_eq!(u32::from(ErrorCode::from(code)), code);
        }
        assert_eq!(ErrorCode::Other(0xe).to_string(), "unknown error code 0xe");
    }

    #[test]
    fn names_are_the_rfc_names() {
        assert_eq!(ErrorCode::FlowControlError.to_string(), "FLOW_CONTROL_ERROR");
        assert_eq!(ErrorCode::Http11Required.to_string(), "HTTP_1_1_REQUIRED");
    }
}
