//! Where a request carries its token: [`token_from`].
//!
//! Three places, looked at in this order; the first that holds a non-empty token wins:
//!
//! 1. `Authorization: Bearer <token>` (RFC 6750 §2.1), as [`Request::bearer_token`] reads it
//!    (the one parser of that header, which the publish token's check uses too): the scheme is
//!    case-insensitive (RFC 9110 §11.1), one or more spaces follow it. Another scheme
//!    (`Basic ...`) is not ours and is passed over.
//! 2. A cookie, by default [`DEFAULT_COOKIE`]: every `Cookie` header field is read (HTTP/2 may
//!    split cookies over several) as `; `-separated `name=value` pairs (RFC 6265 §5.4, §4.2.1);
//!    names compare exactly; a value in double quotes is taken without them; the first pair
//!    with the name wins. This is what a browser's `EventSource` can send, since it cannot set
//!    headers.
//! 3. The `access_token` query parameter (RFC 6750 §2.3), percent-decoded. It ends up in access
//!    logs and browser history, so prefer the other two; it is there for clients that can do
//!    nothing else.
//!
//! An empty value counts as no token (a cleared cookie is `name=`). A header value that is not
//! UTF-8 is passed over. Nothing here checks the token: that is
//! [`Verifier::verify`](crate::auth::Verifier::verify).

use std::borrow::Cow;

use crate::http::Request;

/// The cookie read when the configuration names none.
pub const DEFAULT_COOKIE: &str = "ssehub_token";

/// The query parameter read for a token.
pub const QUERY_PARAM: &str = "access_token";

/// The token a request presents, if any (see the [module docs](self) for where and in what
/// order it is looked for).
///
/// ```
/// use ssehub::auth::{DEFAULT_COOKIE, token_from};
/// # use ssehub::http::request::{parse_head, Limits};
/// # let req = |raw: &[u8]| parse_head(raw, &Limits::default()).unwrap().unwrap().request;
///
/// let r = req(b"GET /sse HTTP/1.1\r\nHost: h\r\nAuthorization: bearer abc\r\nCookie: ssehub_token=def\r\n\r\n");
/// assert_eq!(token_from(&r, DEFAULT_COOKIE).as_deref(), Some("abc"));
/// let r = req(b"GET /sse HTTP/1.1\r\nHost: h\r\nCookie: theme=dark; ssehub_token=def\r\n\r\n");
/// assert_eq!(token_from(&r, DEFAULT_COOKIE).as_deref(), Some("def"));
/// let r = req(b"GET /sse?access_token=ghi HTTP/1.1\r\nHost: h\r\n\r\n");
/// assert_eq!(token_from(&r, DEFAULT_COOKIE).as_deref(), Some("ghi"));
/// ```
pub fn token_from<'r>(req: &'r Request, cookie_name: &str) -> Option<Cow<'r, str>> {
    if let Some(token) = bearer(req) {
        return Some(Cow::Borrowed(token));
    }
    if let Some(token) = cookie(req, cookie_name) {
        return Some(Cow::Borrowed(token));
    }
    req.query_params()
        .into_iter()
        .find(|(k, v)| k == QUERY_PARAM && !v.is_empty())
        .map(|(_, v)| Cow::Owned(v))
}

/// Whether `name` may name a cookie (RFC 6265 §4.1.1: an RFC 2616 token, 1 or more visible
/// ASCII characters other than the separators `()<>@,;:\"/[]?={}`).
///
/// ```
/// assert!(ssehub::auth::source::is_cookie_name("ssehub_token"));
/// assert!(!ssehub::auth::source::is_cookie_name("a=b") && !ssehub::auth::source::is_cookie_name(""));
/// ```
pub fn is_cookie_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}

/// The `Authorization: Bearer` token, if it is UTF-8 (a JWT is ASCII).
pub fn bearer(req: &Request) -> Option<&str> {
    req.bearer_token().and_then(|t| std::str::from_utf8(t).ok())
}

/// The first non-empty value of cookie `name` in any `Cookie` field.
fn cookie<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    req.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("cookie"))
        .filter_map(|(_, v)| std::str::from_utf8(v).ok())
        .flat_map(|field| field.split(';'))
        .filter_map(|pair| pair.trim_matches([' ', '\t']).split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| {
            let v = v.trim_matches([' ', '\t']);
            v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v)
        })
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::{Limits, parse_head};

    fn token(head: &str) -> Option<String> {
        token_named(head, DEFAULT_COOKIE)
    }

    fn token_named(head: &str, cookie_name: &str) -> Option<String> {
        let raw = format!("GET {head}\r\n\r\n");
        let req = parse_head(raw.as_bytes(), &Limits::default()).unwrap().unwrap().request;
        token_from(&req, cookie_name).map(Cow::into_owned)
    }

    #[test]
    fn bearer_header() {
        assert_eq!(token("/ HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer a.b.c").as_deref(), Some("a.b.c"));
        assert_eq!(token("/ HTTP/1.1\r\nHost: h\r\nAuthorization: BEARER a.b.c").as_deref(), Some("a.b.c"));
        assert_eq!(
            token("/ HTTP/1.1\r\nHost: h\r\nAuthorization: bEaReR   a.b.c  ").as_deref(),
            Some("a.b.c")
        );
        assert_eq!(token("/ HTTP/1.1\r\nHost: h\r\nAuthorization: Basic dXNlcjpwdw=="), None);
        assert_eq!(token("/ HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer"), None);
        assert_eq!(token("/ HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer "), None);
        assert_eq!(token("/ HTTP/1.1\r\nHost: h\r\nAuthorization: Bearera.b.c"), None);
        assert_eq!(token("/ HTTP/1.1\r\nHost: h\r\nAuthorization: Beare a.b.c"), None);
        // The same parser as the publish token's: what one accepts, so does the other.
        let raw =
            b"GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer \xffx\r\nCookie: ssehub_token=c\r\n\r\n";
        let req = parse_head(raw, &Limits::default()).unwrap().unwrap().request;
        assert_eq!(req.bearer_token(), Some(&b"\xffx"[..]));
        assert_eq!(token_from(&req, DEFAULT_COOKIE).as_deref(), Some("c"), "not UTF-8: passed over");
    }

    #[test]
    fn cookie_pairs() {
        let c = |cookies: &str| token(&format!("/ HTTP/1.1\r\nHost: h\r\nCookie: {cookies}"));
        assert_eq!(c("ssehub_token=t1").as_deref(), Some("t1"));
        assert_eq!(c("a=1; ssehub_token=t1; b=2").as_deref(), Some("t1"));
        assert_eq!(c("a=1;ssehub_token=t1").as_deref(), Some("t1"));
        assert_eq!(c("ssehub_token=t1; ssehub_token=t2").as_deref(), Some("t1"));
        assert_eq!(c("ssehub_token=\"t1\"").as_deref(), Some("t1"));
        assert_eq!(c("ssehub_token=a=b").as_deref(), Some("a=b"));
        assert_eq!(c("SSEHUB_TOKEN=t1"), None);
        assert_eq!(c("xssehub_token=t1; ssehub_tokenx=t2"), None);
        assert_eq!(c("ssehub_token"), None);
        assert_eq!(c("ssehub_token="), None);
        // The first pair named so decides, even when it is empty.
        assert_eq!(c("ssehub_token=; ssehub_token=t2"), None);
        assert_eq!(c(";;; ;"), None);
        let named = token_named("/ HTTP/1.1\r\nHost: h\r\nCookie: ssehub_token=t1; jwt=t2", "jwt");
        assert_eq!(named.as_deref(), Some("t2"));
    }

    #[test]
    fn cookie_in_several_fields() {
        let t = token(
            "/ HTTP/1.1\r\nHost: h\r\nCookie: a=1\r\ncookie: ssehub_token=t2\r\nCookie: ssehub_token=t3",
        );
        assert_eq!(t.as_deref(), Some("t2"));
        let raw = b"GET / HTTP/1.1\r\nHost: h\r\nCookie: \xff\r\nCookie: ssehub_token=t2\r\n\r\n";
        let req = parse_head(raw, &Limits::default()).unwrap().unwrap().request;
        assert_eq!(token_from(&req, DEFAULT_COOKIE).as_deref(), Some("t2"));
    }

    #[test]
    fn query_parameter() {
        assert_eq!(token("/sse?access_token=q1 HTTP/1.1\r\nHost: h").as_deref(), Some("q1"));
        assert_eq!(token("/sse?channel=a&access_token=q%2E1 HTTP/1.1\r\nHost: h").as_deref(), Some("q.1"));
        assert_eq!(token("/sse?access_token=&access_token=q2 HTTP/1.1\r\nHost: h").as_deref(), Some("q2"));
        assert_eq!(token("/sse?access_token= HTTP/1.1\r\nHost: h"), None);
        assert_eq!(token("/sse?token=q1 HTTP/1.1\r\nHost: h"), None);
    }

    #[test]
    fn header_then_cookie_then_query() {
        let all =
            "/sse?access_token=q HTTP/1.1\r\nHost: h\r\nCookie: ssehub_token=c\r\nAuthorization: Bearer b";
        assert_eq!(token(all).as_deref(), Some("b"));
        let no_header = "/sse?access_token=q HTTP/1.1\r\nHost: h\r\nCookie: ssehub_token=c";
        assert_eq!(token(no_header).as_deref(), Some("c"));
        let basic = "/sse?access_token=q HTTP/1.1\r\nHost: h\r\nAuthorization: Basic x\r\nCookie: other=c";
        assert_eq!(token(basic).as_deref(), Some("q"));
        assert_eq!(token("/sse HTTP/1.1\r\nHost: h"), None);
    }
}
