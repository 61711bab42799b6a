//! The HTTP publish endpoint's rules, as a pure function: request → what to publish, or the
//! status that refuses it.
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

use crate::event::Event;
use crate::http::{Request, Response};
use crate::hub::{DEFAULT_CHANNEL, Target, validate_channels};

/// What a valid publish request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishRequest {
    /// Where it goes.
    pub target: Target,
    /// The event (no id: the hub assigns it).
    pub event: Event,
}

/// Checks a request to the publish endpoint against `token`.
pub fn check(req: &Request, token: &str) -> Result<PublishRequest, Response> {
    authorize(req, token)?;
    if req.method != "POST" {
        return Err(Response::error(405, "publish with POST").header("Allow", "POST"));
    }
    let data =
        std::str::from_utf8(&req.body).map_err(|_| Response::error(400, "the body must be UTF-8 text"))?;
    let not_utf8 = |_| Response::error(400, "channel and event names must be UTF-8");
    let channels = req.query_values("channel").map_err(not_utf8)?;
    let channels =
        validate_channels(if channels.is_empty() { vec![DEFAULT_CHANNEL.to_owned()] } else { channels })?;
    let mut event = Event::new(data);
    if let Some(t) = req.query_values("event").map_err(not_utf8)?.into_iter().next() {
        event = event.event(t);
    }
    event.validate().map_err(|e| Response::error(400, &e.to_string()))?;
    Ok(PublishRequest { target: Target::Channels(channels.into()), event })
}

/// The token check alone, answerable from the request head before its body arrives (for
/// `Expect: 100-continue`): `401` with `WWW-Authenticate: Bearer` unless the request carries
/// `Authorization: Bearer <token>` (the scheme in any case, RFC 9110 §11.1), compared in
/// constant time.
pub fn authorize(req: &Request, token: &str) -> Result<(), Response> {
    let presented = req.bearer_token().unwrap_or_default();
    if presented.is_empty() || !bool::from(presented.ct_eq(token.as_bytes())) {
        return Err(
            Response::error(401, "a valid bearer token is required").header("WWW-Authenticate", "Bearer")
        );
    }
    Ok(())
}

/// The JSON answer to an accepted publish: `{"id":"<id>"}`.
pub fn created(id: &str) -> Response {
    let mut body = String::from("{\"id\":");
    crate::http::json::push_string(&mut body, id);
    body.push('}');
    Response::new(201).header("Content-Type", "application/json").body(body)
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
        check(&request(raw), "s3cret").map_or_else(|r| r.status, |_| 201)
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

    #[test]
    fn created_is_json() {
        assert_eq!(created("7").body, b"{\"id\":\"7\"}");
        assert_eq!(created("a\"b").body, b"{\"id\":\"a\\\"b\"}");
        assert_eq!(created("\n").body, b"{\"id\":\"\\n\"}");
    }
}
