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
//! | with a [`Policy`] (JWTs): a bearer that is not the shared token and the policy refuses | `401`, JSON reason (`{"error":"expired"}`) |
//! | with a [`Policy`]: a channel outside the token's `publish` patterns (a subscribe-only token publishes nowhere) | `403`, `{"error":"forbidden","channel":...}` |
//! | a method other than `POST` | `405`, `Allow: POST` |
//! | a body that is not UTF-8 | `400` |
//! | an `event` with CR or LF, a bad channel list | `400` |
//! | a body over the request body limit | `413` (from the request parser) |
//! | an `Idempotency-Key` that is empty, over 255 bytes or not visible ASCII | `400` |
//! | an `Idempotency-Key` seen within its window with a different publish | `422` (from the hub) |
//!
//! An `Idempotency-Key` seen within its window with the same publish publishes nothing and is
//! answered `201` with the first id and `Idempotent-Replayed: true` ([`crate::hub::idempotency`]).
//!
//! No `channel` parameter publishes to [`DEFAULT_CHANNEL`](crate::hub::DEFAULT_CHANNEL).
//!
//! Who may publish is a [`Publishers`] value: the shared token, when one is set, allows every
//! channel; otherwise a [`Policy`] (the JWT one reads the `publish` claims) says which channels
//! the request may publish to, and every channel asked for must be one of them.

use std::sync::Arc;

use subtle::ConstantTimeEq;

use crate::auth::{Patterns, Policy, Refusal as AuthRefusal};
use crate::error::EncodeError;
use crate::event::Event;
use crate::http::Request;
use crate::http::answer::Refusal;

use crate::hub::idempotency::{IdempotencyKey, KeyError};
use crate::hub::{ChannelError, Target, requested_channels};

/// What a valid publish request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishRequest {
    /// Where it goes.
    pub target: Target,
    /// The event (no id: the hub assigns it). Its fields are not checked here: the hub's
    /// encoding does that, once ([`crate::Frame::event`]), and refuses it as
    /// [`PublishRefusal::Event`] would.
    pub event: Event,
    /// The `Idempotency-Key` it carried, if any (see [`crate::hub::idempotency`]).
    pub key: Option<IdempotencyKey>,
}

/// Who may publish: the shared token, a policy, both or neither (then nobody).
#[derive(Clone, Copy, Default)]
pub struct Publishers<'a> {
    /// The shared bearer token (`--publish-token`): it may publish to every channel.
    pub token: Option<&'a str>,
    /// Decides for other bearers, per channel ([`Policy::publisher`]).
    pub policy: Option<&'a dyn Policy>,
    /// Seconds since the Unix epoch (tokens' times are on it).
    pub now: u64,
}

impl std::fmt::Debug for Publishers<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publishers")
            .field("token", &self.token.map(|_| "<redacted>"))
            .field("policy", &self.policy.is_some())
            .field("now", &self.now)
            .finish()
    }
}

/// Why a publish request is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// The policy refused the bearer (`401`) or a channel (`403`), answered with its JSON reason.
    Auth(AuthRefusal),
    /// The policy failed (it panicked): `500`.
    PolicyFailed,
    /// A bad `Idempotency-Key`: `400`.
    IdempotencyKey(KeyError),
    /// A channel only the server writes: the presence companion channels `$presence/NAME`
    /// ([`crate::hub::presence::PRESENCE_PREFIX`]), whose join and leave events subscribers
    /// trust to come from the hub: `403`, whatever the token.
    Reserved {
        /// The channel asked for.
        channel: String,
    },
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
            PublishRefusal::Auth(r) => r.fmt(f),
            PublishRefusal::PolicyFailed => f.write_str("the authorization policy failed"),
            PublishRefusal::IdempotencyKey(e) => e.fmt(f),
            PublishRefusal::Reserved { channel } => {
                write!(f, "channel {channel:?} carries presence events: only the server publishes there")
            }
        }
    }
}

impl std::error::Error for PublishRefusal {}

impl Refusal for PublishRefusal {
    fn status(&self) -> u16 {
        match self {
            PublishRefusal::Unauthorized => 401,
            PublishRefusal::Method => 405,
            PublishRefusal::Auth(r) => r.status(),
            PublishRefusal::PolicyFailed => 500,
            PublishRefusal::Reserved { .. } => 403,
            _ => 400,
        }
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            PublishRefusal::Unauthorized => vec![("WWW-Authenticate", "Bearer".into())],
            PublishRefusal::Method => vec![("Allow", "POST".into())],
            PublishRefusal::Auth(r) => r.headers(),
            _ => Vec::new(),
        }
    }

    fn body(&self) -> Option<(&'static str, String)> {
        match self {
            PublishRefusal::Auth(r) => r.body(),
            _ => None,
        }
    }
}

/// Checks a request to the publish endpoint against who may publish.
pub fn check(req: &Request, who: &Publishers<'_>) -> Result<PublishRequest, PublishRefusal> {
    let channels = authorize(req, who)?;
    if req.method != "POST" {
        return Err(PublishRefusal::Method);
    }
    let data = std::str::from_utf8(&req.body).map_err(|_| PublishRefusal::BodyNotUtf8)?;
    let mut event = Event::new(data);
    if let Some(t) = req.query_values("event").map_err(|_| PublishRefusal::EventNotUtf8)?.into_iter().next() {
        event = event.event(t);
    }
    let key = idempotency_key(req).map_err(PublishRefusal::IdempotencyKey)?;
    Ok(PublishRequest { target: Target::Channels(channels.into()), event, key })
}

/// The request's `Idempotency-Key`, if it has one: the token itself or, as the IETF draft
/// writes it (a structured-field string), in double quotes.
fn idempotency_key(req: &Request) -> Result<Option<IdempotencyKey>, KeyError> {
    let Some(raw) = req.header_bytes("idempotency-key") else { return Ok(None) };
    let raw = raw.trim_ascii();
    let raw = match raw {
        [b'"', inner @ .., b'"'] => inner,
        _ => raw,
    };
    let text = std::str::from_utf8(raw).map_err(|_| KeyError::NotVisibleAscii)?;
    IdempotencyKey::new(text).map(Some)
}

/// The authorization check alone, answerable from the request head before its body arrives
/// (for `Expect: 100-continue`); the channels asked for if allowed. Allowed with
/// `Authorization: Bearer <the shared token>` (the scheme in any case, RFC 9110 §11.1, compared
/// in constant time); otherwise the policy's patterns must hold every channel. Without a
/// policy, or without any bearer and no policy: [`PublishRefusal::Unauthorized`]. A presence
/// channel is refused to every bearer ([`PublishRefusal::Reserved`]).
pub fn authorize(req: &Request, who: &Publishers<'_>) -> Result<Vec<Arc<str>>, PublishRefusal> {
    let allowed = publisher(req, who)?;
    let channels = requested_channels(req).map_err(PublishRefusal::Channel)?;
    if let Some(c) = channels.iter().find(|c| c.starts_with(crate::hub::presence::PRESENCE_PREFIX)) {
        return Err(PublishRefusal::Reserved { channel: c.to_string() });
    }
    if let Some(patterns) = allowed
        && let Some(c) = channels.iter().find(|c| !patterns.matches(c))
    {
        return Err(PublishRefusal::Auth(AuthRefusal::Forbidden { channel: c.to_string() }));
    }
    Ok(channels)
}

/// Which channels `req` may publish to (and see the presence of): `None` for every channel
/// (the shared token), else the policy's patterns.
pub fn publisher(req: &Request, who: &Publishers<'_>) -> Result<Option<Patterns>, PublishRefusal> {
    let presented = req.bearer_token().unwrap_or_default();
    let shared =
        who.token.is_some_and(|t| !presented.is_empty() && bool::from(presented.ct_eq(t.as_bytes())));
    match who.policy {
        _ if shared => Ok(None),
        None => Err(PublishRefusal::Unauthorized),
        Some(policy) => Ok(Some(policy.publisher(req, who.now).map_err(PublishRefusal::Auth)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::{Limits, parse_head};

    const SHARED: Publishers<'static> = Publishers { token: Some("s3cret"), policy: None, now: 0 };

    fn request(raw: &[u8]) -> Request {
        let head = parse_head(raw, &Limits::default()).unwrap().unwrap();
        let mut req = head.request;
        req.body = raw[head.head_len..head.head_len + head.body_len].to_vec();
        req
    }

    fn status(raw: &[u8]) -> u16 {
        match check(&request(raw), &SHARED) {
            // The event's own check is the hub's encoding (once per publish).
            Ok(p) => p.event.validate().map_or(400, |()| 201),
            Err(r) => r.status(),
        }
    }

    #[test]
    fn presence_channels_are_the_servers_alone_whatever_the_token() {
        let raw = |query: &str| {
            format!(
                "POST /publish{query} HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer s3cret\r\nContent-Length: 1\r\n\r\nx"
            )
        };
        for query in ["?channel=$presence/room", "?channel=a&channel=%24presence%2Froom"] {
            let refused = check(&request(raw(query).as_bytes()), &SHARED).unwrap_err();
            assert_eq!(refused, PublishRefusal::Reserved { channel: "$presence/room".into() }, "{query}");
            assert_eq!(refused.status(), 403);
            assert_eq!(
                refused.to_string(),
                "channel \"$presence/room\" carries presence events: only the server publishes there"
            );
        }
        assert_eq!(status(raw("?channel=presence/room").as_bytes()), 201, "only the prefix is reserved");
        assert_eq!(status(raw("?channel=room/$presence/x").as_bytes()), 201);
    }

    #[test]
    fn a_good_request_names_its_channels_and_event_type() {
        let raw = b"POST /publish?channel=a&channel=b&event=up HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer s3cret\r\nContent-Length: 5\r\n\r\nhello";
        let p = check(&request(raw), &SHARED).unwrap();
        assert_eq!(p.target, Target::channels(["a", "b"]));
        assert_eq!(p.event, Event::new("hello").event("up"));
        let raw = b"POST /publish HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer s3cret\r\nContent-Length: 1\r\n\r\nx";
        assert_eq!(
            check(&request(raw), &SHARED).unwrap().target,
            Target::channels([crate::hub::DEFAULT_CHANNEL])
        );
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

    /// Bearer `writer` may publish to `room-*`, `reader` nowhere; any other bearer is bad.
    struct Rooms;

    impl Policy for Rooms {
        fn stream(
            &self,
            _: &Request,
            _: &[std::sync::Arc<str>],
            _: u64,
        ) -> Result<crate::auth::Access, AuthRefusal> {
            Err(AuthRefusal::NoToken)
        }

        fn publisher(&self, req: &Request, _now: u64) -> Result<crate::auth::Patterns, AuthRefusal> {
            match req.bearer_token() {
                None => Err(AuthRefusal::NoToken),
                Some(b"writer") => Ok(crate::auth::Patterns::parse(["room-*"]).unwrap()),
                Some(b"reader") => Ok(crate::auth::Patterns::default()),
                Some(_) => Err(AuthRefusal::BadToken(crate::auth::BadToken::Signature)),
            }
        }
    }

    #[test]
    fn a_policy_decides_per_channel_for_bearers_other_than_the_shared_token() {
        let both = Publishers { token: Some("s3cret"), policy: Some(&Rooms), now: 0 };
        let policy_only = Publishers { token: None, policy: Some(&Rooms), now: 0 };
        let answer = |query: &str, bearer: &str, who: &Publishers<'_>| {
            let raw =
                format!("POST /publish{query} HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {bearer}\r\n\r\n");
            match check(&request(raw.as_bytes()), who) {
                Ok(p) => (201, format!("{:?}", p.target)),
                Err(r) => (r.status(), crate::http::answer::refusal(&r).body.escape_ascii().to_string()),
            }
        };
        assert_eq!(answer("?channel=room-1", "writer", &both).0, 201);
        assert_eq!(answer("?channel=room-1&channel=room-2", "writer", &policy_only).0, 201);
        assert_eq!(answer("?channel=lobby", "s3cret", &both).0, 201, "the shared token: every channel");
        assert_eq!(answer("?channel=lobby", "s3cret", &policy_only).1, r#"{\"error\":\"bad_signature\"}"#);
        let forbidden = answer("?channel=room-1&channel=lobby", "writer", &both);
        assert_eq!(forbidden, (403, r#"{\"error\":\"forbidden\",\"channel\":\"lobby\"}"#.into()));
        assert_eq!(answer("", "writer", &both).0, 403, "no channel: the default one, not granted");
        assert_eq!(answer("?channel=room-1", "reader", &both).0, 403, "subscribe-only: publishes nowhere");
        assert_eq!(answer("?channel=room-1", "nope", &both).0, 401);
        let raw = b"POST /publish?channel=room-1 HTTP/1.1\r\nHost: h\r\n\r\n";
        let r = check(&request(raw), &both).unwrap_err();
        assert_eq!(
            (r.status(), crate::http::answer::refusal(&r).body),
            (401, br#"{"error":"no_token"}"#.to_vec())
        );
        let none = Publishers::default();
        assert_eq!(check(&request(raw), &none).unwrap_err(), PublishRefusal::Unauthorized);
    }
}
