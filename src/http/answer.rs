//! The one place where the core's outcomes become HTTP answers.
//!
//! The hub, the publish rules and the backplane decide in types: a refusal is a value that says
//! what was wrong ([`crate::hub::ChannelError`], [`crate::hub::publish::PublishRefusal`], the
//! backplane's `JoinRefusal`, ...) and which status it deserves. None of them builds a
//! [`Response`]; this module does, the same way for all of them: the status, the refusal's own
//! headers (`WWW-Authenticate`, `Allow`, `Retry-After`), and a one-line text body
//! `<status> <reason>: <what was wrong>`.
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
}

/// The answer to `refusal`.
pub fn refusal(refusal: &dyn Refusal) -> Response {
    let mut response = Response::error(refusal.status(), &refusal.to_string());
    for (name, value) in refusal.headers() {
        response = response.header(name, value);
    }
    response
}

/// The answer to an accepted publish: `201` with `{"id":"<id>"}`.
///
/// ```
/// assert_eq!(ssehub::http::answer::published("a\"b").body, b"{\"id\":\"a\\\"b\"}");
/// ```
pub fn published(id: &str) -> Response {
    let mut body = String::from("{\"id\":");
    crate::http::json::push_string(&mut body, id);
    body.push('}');
    Response::new(201).header("Content-Type", "application/json").body(body)
}

impl Refusal for crate::error::EncodeError {
    fn status(&self) -> u16 {
        400
    }
}
