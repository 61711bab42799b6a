//! The HTTP publish endpoint's rules, as a pure function: request → what to publish, or the
//! typed refusal ([`PublishRefusal`]) that says why not (answered by [`crate::http::answer`]).
//!
//! ```text
//! POST /publish?channel=a&channel=b&event=update     Authorization: Bearer TOKEN
//! <body: the event's data, UTF-8>
//! → 201 {"id":"42"}   the hub assigns the id
//! ```
//!
//! | request | answer |
//! |---|---|
//! | no `Authorization: Bearer`, or the wrong token (compared in constant time) | `401` with `WWW-Authenticate: Bearer` |
//! | a method other than `POST` | `405`, `Allow: POST` |
//! | a body that is not UTF-8 | `400` |
//! | an `event` with CR or LF, a bad channel list | `400` |
//! | a body over the request body limit | `413` (from the request parser) |
//!
//! No `channel` parameter publishes to [`DEFAULT_CHANNEL`].

use subtle::ConstantTimeEq;

use crate::error::EncodeError;
use crate::event::Event;
use crate::http::Request;
use crate::http::answer::Refusal;
use crate::hub::{ChannelError, DEFAULT_CHANNEL, Target, validate_channels};

/// What a valid publish request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishRequest {
    /// Where it goes.
    pub target: Target,
    /// The event (no id: the hub assigns it). Its fields are not checked here: the hub's
    /// encoding does that, once ([`crate::Frame::event`]), and refuses it as
    /// [`PublishRefusal::Event`] would.
    pub event: Event,
}

/// Why a publish request is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublishRefusal {
    /// No `Authorization: Bearer`, or not the token: `401` with `WWW-Authenticate: Bearer`.
    Unauthorized,
    /// Not `POST`: `405` with `Allow: POST`.
    Method,
    /// The body is not UTF-8: `400`.
    BodyNotUtf8,
    /// An `event` value that is not UTF-8 once decoded: `400`.
    EventNotUtf8,
    /// A bad channel list: `400`.
    Channel(ChannelError),
    /// The event cannot be encoded (a line break in its type): `400`.
    Event(EncodeError),
}

impl std::fmt::Display for PublishRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PublishRefusal::Unauthorized => f.write_str("a valid bearer token is required"),
            PublishRefusal::Method => f.write_str("publish with POST"),
            PublishRefusal::BodyNotUtf8 => f.write_str("the body must be UTF-8 text"),
            PublishRefusal::EventNotUtf8 => f.write_str("event types must be UTF-8"),
            PublishRefusal::Channel(e) => e.fmt(f),
            PublishRefusal::Event(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for PublishRefusal {}

impl Refusal for PublishRefusal {
    fn status(&self) -> u16 {
        match self {
            PublishRefusal::Unauthorized => 401,
            PublishRefusal::Method => 405,
            _ => 400,
        }
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            PublishRefusal::Unauthorized => vec![("WWW-Authenticate", "Bearer".into())],
            PublishRefusal::Method => vec![("Allow", "POST".into())],
            _ => Vec::new(),
        }
    }
}

/// Checks a request to the publish endpoint against `token`.
pub fn check(req: &Request, token: &str) -> Result<PublishRequest, PublishRefusal> {
    authorize(req, token)?;
    if req.method != "POST" {
        return Err(PublishRefusal::Method);
    }
    let data = std::str::from_utf8(&req.body).map_err(|_| PublishRefusal::BodyNotUtf8)?;
    let channels = req.query_values("channel").map_err(|_| PublishRefusal::Channel(ChannelError::NotUtf8))?;
    let channels =
        validate_channels(if channels.is_empty() { vec![DEFAULT_CHANNEL.to_owned()] } else { channels })
            .map_err(PublishRefusal::Channel)?;
    let mut event = Event::new(data);
    if let Some(t) = req.query_values("event").map_err(|_| PublishRefusal::EventNotUtf8)?.into_iter().next() {
        event = event.event(t);
    }
    Ok(PublishRequest { target: Target::Channels(channels.into()), event })
}

/// The token check alone, answerable from the request head before its body arrives (for
/// `Expect: 100-continue`): refused unless the request carries `Authorization: Bearer <token>`
/// (the scheme in any case, RFC 9110 §11.1), compared in constant time.
pub fn authorize(req: &Request, token: &str) -> Result<(), PublishRefusal> {
    let presented = req.bearer_token().unwrap_or_default();
    if presented.is_empty() || !bool::from(presented.ct_eq(token.as_bytes())) {
        return Err(PublishRefusal::Unauthorized);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::{Limits, parse_head};

    fn request(raw: &[u8]) -> Request {
        let head = parse_head(raw, &Limits::default()).unwrap().unwrap();
        let mut req = head.request;
        req.body = raw[head.head_len..head.head_len + head.body_len].to_vec();
        req
    }

    fn status(raw: &[u8]) -> u16 {
        match check(&request(raw), "s3cret") {
            // The event's own check is the hub's encoding (once per publish).
            Ok(p) => p.event.validate().map_or(400, |()| 201),
            Err(r) => r.status(),
        }
    }

    #[test]
    fn a_good_request_names_its_channels_and_event_type() {
        let raw = b"POST /publish?channel=a&channel=b&event=up HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer s3cret\r\nContent-Length: 5\r\n\r\nhello";
        let p = check(&request(raw), "s3cret").unwrap();
        assert_eq!(p.target, Target::channels(["a", "b"]));
        assert_eq!(p.event, Event::new("hello").event("up"));
        let raw = b"POST /publish HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer s3cret\r\nContent-Length: 1\r\n\r\nx";
        assert_eq!(check(&request(raw), "s3cret").unwrap().target, Target::channels([DEFAULT_CHANNEL]));
    }

    #[test]
    fn tokens() {
        assert_eq!(status(b"POST /publish HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"), 401);
        assert_eq!(status(b"POST /publish HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer s3creT\r\n\r\n"), 401);
        assert_eq!(
            status(b"POST /publish HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer s3cret2\r\n\r\n"),
            401
        );
        assert_eq!(status(b"POST /publish HTTP/1.1\r\nHost: h\r\nAuthorization: Basic s3cret\r\n\r\n"), 401);
        assert_eq!(status(b"POST /publish HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer s3cret\r\n\r\n"), 201);
        // The scheme is case-insensitive, and may be followed by more than one space.
        assert_eq!(status(b"POST /publish HTTP/1.1\r\nHost: h\r\nAuthorization: bearer s3cret\r\n\r\n"), 201);
        assert_eq!(
            status(b"POST /publish HTTP/1.1\r\nHost: h\r\nAuthorization: BEARER  s3cret\r\n\r\n"),
            201
        );
        assert_eq!(status(b"POST /publish HTTP/1.1\r\nHost: h\r\nAuthorization: Bearers3cret\r\n\r\n"), 401);
        assert_eq!(status(b"POST /publish HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer\r\n\r\n"), 401);
    }

    #[test]
    fn names_that_are_not_utf8_or_hold_control_characters_are_refused() {
        let auth = "Authorization: Bearer s3cret\r\n";
        for query in
            ["channel=%fe", "channel=%ff", "event=%fe", "channel=%00all", "channel=a%0Ab", "channel=%7F"]
        {
            let raw = format!("POST /publish?{query} HTTP/1.1\r\nHost: h\r\n{auth}\r\n");
            assert_eq!(status(raw.as_bytes()), 400, "{query}");
        }
    }

    #[test]
    fn refusals() {
        let auth = "Authorization: Bearer s3cret\r\n";
        assert_eq!(status(format!("GET /publish HTTP/1.1\r\nHost: h\r\n{auth}\r\n").as_bytes()), 405);
        let bad_utf8 = [
            format!("POST /publish HTTP/1.1\r\nHost: h\r\n{auth}Content-Length: 2\r\n\r\n").as_bytes(),
            b"\xff\xfe",
        ]
        .concat();
        assert_eq!(status(&bad_utf8), 400);
        assert_eq!(
            status(format!("POST /publish?event=a%0Ab HTTP/1.1\r\nHost: h\r\n{auth}\r\n").as_bytes()),
            400
        );
        assert_eq!(
            status(format!("POST /publish?channel= HTTP/1.1\r\nHost: h\r\n{auth}\r\n").as_bytes()),
            400
        );
    }
}
