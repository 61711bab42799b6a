//! The one place where the core's outcomes become HTTP answers.
//!
//! The hub, the publish rules and the backplane decide in types: a refusal is a value that says
//! what was wrong ([`crate::hub::ChannelError`], [`crate::hub::publish::PublishRefusal`], the
//! backplane's `JoinRefusal`, ...) and which status it deserves. None of them builds a
//! [`Response`]; this module does, the same way for all of them: the status, the refusal's own
//! headers (`WWW-Authenticate`, `Allow`, `Retry-After`), and a one-line text body
//! `<status> <reason>: <what was wrong>`, unless the refusal has a body of its own: an
//! authorization refusal ([`crate::auth::Refusal`]) answers with its short JSON reason,
//! `{"error":"no_token"}`, for clients to read.
//!
//! ```
//! use ssehub::http::answer;
//! use ssehub::hub::ChannelError;
//! let r = answer::refusal(&ChannelError::ControlCharacter);
//! assert_eq!(r.status, 400);
//! assert_eq!(r.body, b"400 Bad Request: channel names may not hold control characters\n");
//! ```

use std::fmt;

use crate::http::response::Response;

/// A typed refusal: the status it is answered with, and the headers that go with it.
pub trait Refusal: fmt::Display {
    /// The HTTP status.
    fn status(&self) -> u16;

    /// Headers the answer carries besides the body's (a challenge, `Allow`, `Retry-After`).
    fn headers(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    /// A body of its own, with its `Content-Type`, instead of the text line.
    fn body(&self) -> Option<(&'static str, String)> {
        None
    }
}

/// The answer to `refusal`.
pub fn refusal(refusal: &dyn Refusal) -> Response {
    let mut response = match refusal.body() {
        Some((content_type, body)) => {
            Response::new(refusal.status()).header("Content-Type", content_type).body(body)
        }
        None => Response::error(refusal.status(), &refusal.to_string()),
    };
    for (name, value) in refusal.headers() {
        response = response.header(name, value);
    }
    response
}

/// A stream that holds only a `retry` (and a comment saying why, if any) and ends: what an
/// `EventSource` is told to come back after `retry_ms`, keeping its `Last-Event-ID`. (A
/// non-`200` answer would make it give up for good: the WHATWG `EventSource` reconnects after
/// a stream ends, never after an error status.)
///
/// ```
/// let r = ssehub::http::answer::come_back(Some("the backplane is unavailable"), 1500);
/// assert_eq!(r.status, 200);
/// assert_eq!(r.body, b": the backplane is unavailable\nretry: 1500\n\n");
/// ```
pub fn come_back(why: Option<&str>, retry_ms: u64) -> Response {
    let mut body = String::new();
    if let Some(why) = why {
        // One comment line: an EventSource skips it; a person reading the stream sees why.
        body.push_str(": ");
        body.extend(why.chars().map(|c| if c.is_control() { ' ' } else { c }));
        body.push('\n');
    }
    body.push_str(&format!("retry: {retry_ms}\n\n"));
    Response::new(200)
        .header("Content-Type", "text/event-stream")
        .header("Cache-Control", "no-store")
        .body(body)
}

/// The answer to a stream request that `refusal` turns away. A refusal for a while (`503`,
/// with its `Retry-After` in seconds) to a client that reads event streams (`Accept:
/// text/event-stream`, as every `EventSource` sends) is [`come_back`] after that long plus
/// `spread_ms` (so that clients refused together do not all return together); any other
/// is [`refusal`].
///
/// ```
/// use ssehub::http::answer::{self, Refusal};
/// struct Busy;
/// impl std::fmt::Display for Busy {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("busy") }
/// }
/// impl Refusal for Busy {
///     fn status(&self) -> u16 { 503 }
///     fn headers(&self) -> Vec<(&'static str, String)> { vec![("Retry-After", "2".into())] }
/// }
/// let browser = answer::stream_refusal(&Busy, true, 300);
/// assert_eq!((browser.status, &browser.body[..]), (200, &b": 503 busy\nretry: 2300\n\n"[..]));
/// assert_eq!(answer::stream_refusal(&Busy, false, 300).status, 503);
/// ```
pub fn stream_refusal(refusal: &dyn Refusal, event_stream_client: bool, spread_ms: u64) -> Response {
    if !(event_stream_client && refusal.status() == 503) {
        return self::refusal(refusal);
    }
    let after_secs: u64 = refusal
        .headers()
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("retry-after"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(1);
    let retry_ms = after_secs.min(3600).saturating_mul(1000).saturating_add(spread_ms);
    come_back(Some(&format!("503 {refusal}")), retry_ms)
}

/// The answer to an accepted publish: `201` with `{"id":"<id>"}`.
///
/// ```
/// assert_eq!(ssehub::http::answer::published("a\"b").body, b"{\"id\":\"a\\\"b\"}");
/// ```
pub fn published(id: &str) -> Response {
    // `{"id":` + the quoted id + `}`: one allocation unless the id needs escapes.
    let mut body = String::with_capacity(id.len() + 9);
    body.push_str("{\"id\":");
    crate::http::json::push_string(&mut body, id);
    body.push('}');
    Response::new(201).header("Content-Type", "application/json").body(body)
}

/// The answer to a keyed publish: as [`published`], with `Idempotent-Replayed: true` when
/// the key had published it before (nothing went out this time).
///
/// ```
/// let r = ssehub::http::answer::receipt("7", true);
/// assert_eq!((r.status, r.body.as_slice()), (201, &b"{\"id\":\"7\"}"[..]));
/// assert!(r.headers.contains(&("Idempotent-Replayed".into(), "true".into())));
/// ```
pub fn receipt(id: &str, replayed: bool) -> Response {
    let response = published(id);
    if replayed { response.header("Idempotent-Replayed", "true") } else { response }
}

/// `401` or `403` with `WWW-Authenticate: Bearer ...` (RFC 6750 §3) and the JSON reason.
///
/// ```
/// use ssehub::auth::Refusal;
/// use ssehub::http::answer;
/// let r = answer::refusal(&Refusal::Forbidden { channel: "room-9".into() });
/// assert_eq!((r.status, r.body.as_slice()), (403, &br#"{"error":"forbidden","channel":"room-9"}"#[..]));
/// assert!(r.headers.contains(&("WWW-Authenticate".into(), r#"Bearer error="insufficient_scope""#.into())));
/// assert!(r.headers.contains(&("Content-Type".into(), "application/json".into())));
/// ```
impl Refusal for crate::auth::Refusal {
    fn status(&self) -> u16 {
        crate::auth::Refusal::status(self)
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        vec![("WWW-Authenticate", self.www_authenticate().to_owned())]
    }

    fn body(&self) -> Option<(&'static str, String)> {
        Some(("application/json", self.json()))
    }
}

impl Refusal for crate::error::EncodeError {
    fn status(&self) -> u16 {
        400
    }
}
