//! An HTTP/2 request's header list → the same [`Request`] an HTTP/1.1 head becomes.
//!
//! HTTP/2 sends the request line as pseudo-header fields (`:method`, `:scheme`, `:authority`,
//! `:path`) in front of the ordinary fields, every name in lowercase (RFC 9113 §8.3). This module
//! checks the rules that make a request *malformed* (RFC 9113 §8.1.1, §8.2, §8.3) — each is
//! a stream error `PROTOCOL_ERROR` — and then builds the request that routing, CORS, channels,
//! replay and the application's callbacks already take, so that nothing behaves differently
//! over HTTP/2 except framing:
//!
//! | rule (malformed when broken) | RFC 9113 |
//! |---|---|
//! | names are lowercase tokens; values hold no NUL, CR or LF and no leading or trailing space | §8.2.1 |
//! | no connection-specific field (`connection`, `keep-alive`, `proxy-connection`, `transfer-encoding`, `upgrade`); `te` only `trailers` | §8.2.2 |
//! | pseudo-fields first, each once, only the four of a request | §8.3 |
//! | `:method`, `:scheme` and a non-empty `:path` present (`CONNECT` is not served) | §8.3.1 |
//! | `content-length`, when sent, a number (the body is held to it as it arrives) | §8.1.1 |
//!
//! `:authority` becomes a `host` field when the request has none, and `cookie` fields, which
//! HTTP/2 may split into one field per cookie (§8.2.3), are joined back into one.

use crate::http::request::{Request, Version, parse_content_length, split_target};
use crate::http::response::Response;

/// A request head taken from a header list.
#[derive(Debug)]
pub(crate) struct Head {
    /// The request, with an empty body.
    pub(crate) request: Request,
    /// The `content-length` field's value, if it was sent.
    pub(crate) content_length: Option<usize>,
}

/// Why a header list is not a request we serve.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Malformed (RFC 9113 §8.1.1): reset the stream with `PROTOCOL_ERROR`. The text says which
    /// rule, for logs and tests.
    Malformed(&'static str),
    /// Well-formed, but answered at once with this response (a bad target, say: the same `400`
    /// HTTP/1.1 gets).
    Answer(Response),
}

/// The fields no HTTP/2 message may carry (RFC 9113 §8.2.2).
const CONNECTION_SPECIFIC: [&[u8]; 5] =
    [b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"];

/// Builds the request that a header list describes (see the [module docs](self)).
pub(crate) fn request_of(fields: Vec<(Vec<u8>, Vec<u8>)>) -> Result<Head, Refused> {
    let mut method = None;
    let mut scheme = None;
    let mut authority = None;
    let mut path = None;
    let mut regular = false;
    let mut headers: Vec<(String, Vec<u8>)> = Vec::with_capacity(fields.len());
    let mut cookies: Option<Vec<u8>> = None;
    let mut content_length = None;
    for (name, value) in fields {
        check_value(&value)?;
        if let Some(pseudo) = name.strip_prefix(b":") {
            if regular {
                return Err(Refused::Malformed("a pseudo-header field after a regular one"));
            }
            let slot = match pseudo {
                b"method" => &mut method,
                b"scheme" => &mut scheme,
                b"authority" => &mut authority,
                b"path" => &mut path,
                _ => return Err(Refused::Malformed("a pseudo-header field a request does not have")),
            };
            if slot.replace(value).is_some() {
                return Err(Refused::Malformed("a pseudo-header field twice"));
            }
            continue;
        }
        regular = true;
        if name.is_empty() || !name.iter().all(|&b| is_lower_tchar(b)) {
            return Err(Refused::Malformed("a field name that is not a lowercase token"));
        }
        if CONNECTION_SPECIFIC.contains(&name.as_slice()) {
            return Err(Refused::Malformed("a connection-specific header field"));
        }
        if name == b"te" && value != b"trailers" {
            return Err(Refused::Malformed("te other than \"trailers\""));
        }
        if name == b"content-length" {
            let n = parse_content_length(&value).ok_or(Refused::Malformed("an invalid content-length"))?;
            if content_length.replace(n).is_some_and(|m| m != n) {
                return Err(Refused::Malformed("conflicting content-length values"));
            }
        }
        if name == b"cookie" {
            match &mut cookies {
                Some(all) => {
                    all.extend_from_slice(b"; ");
                    all.extend_from_slice(&value);
                }
                None => cookies = Some(value),
            }
            continue;
        }
        // Checked above: ASCII.
        let name =
            String::from_utf8(name).map_err(|_| Refused::Malformed("a field name that is not a token"))?;
        headers.push((name, value));
    }
    let (Some(method), Some(_scheme), Some(target)) = (method, scheme, path) else {
        return Err(Refused::Malformed("a request without :method, :scheme or :path"));
    };
    if target.is_empty() {
        return Err(Refused::Malformed("an empty :path"));
    }
    let method = String::from_utf8(method).map_err(|_| Refused::Malformed("a method that is not a token"))?;
    if !crate::http::response::is_token(&method) {
        return Err(Refused::Malformed("a method that is not a token"));
    }
    if method == "CONNECT" {
        return Err(Refused::Answer(Response::error(405, "CONNECT is not served")));
    }
    let Ok(target) = String::from_utf8(target) else {
        return Err(Refused::Answer(Response::error(400, "invalid request target")));
    };
    if !(target.starts_with('/') || (target == "*" && method == "OPTIONS")) {
        return Err(Refused::Answer(Response::error(400, "invalid request target")));
    }
    let (path, query) = split_target(&target).map_err(Refused::Answer)?;
    if let Some(cookies) = cookies {
        headers.push(("cookie".to_owned(), cookies));
    }
    if let Some(authority) = authority {
        if !headers.iter().any(|(n, _)| n == "host") {
            headers.insert(0, ("host".to_owned(), authority));
        }
    }
    let request = Request { method, target, path, query, version: Version::Http2, headers, body: Vec::new() };
    Ok(Head { request, content_length })
}

/// Checks a trailer section (fields after the body): the same field rules, and no pseudo-fields.
/// Trailers are then dropped: nothing that ssehub serves reads them.
pub(crate) fn check_trailers(fields: &[(Vec<u8>, Vec<u8>)]) -> Result<(), Refused> {
    for (name, value) in fields {
        check_value(value)?;
        if name.starts_with(b":") {
            return Err(Refused::Malformed("a pseudo-header field in trailers"));
        }
        if name.is_empty() || !name.iter().all(|&b| is_lower_tchar(b)) {
            return Err(Refused::Malformed("a field name that is not a lowercase token"));
        }
    }
    Ok(())
}

/// A value may not hold NUL, CR or LF, nor start or end with a space or tab (RFC 9113 §8.2.1).
fn check_value(value: &[u8]) -> Result<(), Refused> {
    let edge = |b: Option<&u8>| matches!(b, Some(b' ' | b'\t'));
    if value.iter().any(|&b| matches!(b, 0 | b'\r' | b'\n')) || edge(value.first()) || edge(value.last()) {
        return Err(Refused::Malformed("a field value with NUL, CR, LF or surrounding space"));
    }
    Ok(())
}

/// A token character (RFC 9110 §5.6.2) that is not an uppercase letter.
fn is_lower_tchar(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(list: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        list.iter().map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec())).collect()
    }

    const GET: [(&str, &str); 4] =
        [(":method", "GET"), (":scheme", "https"), (":authority", "h:1"), (":path", "/sse?c=a%20b")];

    fn malformed(list: &[(&str, &str)]) -> bool {
        matches!(request_of(fields(list)), Err(Refused::Malformed(_)))
    }

    #[test]
    fn a_get_becomes_the_request_http1_would_give() {
        let mut list = GET.to_vec();
        list.extend([
            ("last-event-id", "7"),
            ("cookie", "a=1"),
            ("accept", "text/event-stream"),
            ("cookie", "b=2"),
        ]);
        let head = request_of(fields(&list)).unwrap();
        let r = head.request;
        assert_eq!(
            (r.method.as_str(), r.target.as_str(), r.path.as_str(), r.query.as_str()),
            ("GET", "/sse?c=a%20b", "/sse", "c=a%20b")
        );
        assert_eq!(r.version, Version::Http2);
        assert_eq!(r.header("host"), Some("h:1"));
        assert_eq!(r.header("Last-Event-ID"), Some("7"));
        assert_eq!(r.header("cookie"), Some("a=1; b=2"), "cookie crumbs joined (RFC 9113 §8.2.3)");
        assert_eq!(r.query_values("c").unwrap(), ["a b"]);
        assert!(r.keep_alive());
        assert_eq!(head.content_length, None);
    }

    #[test]
    fn a_host_field_wins_over_authority() {
        let mut list = GET.to_vec();
        list.push(("host", "other"));
        assert_eq!(request_of(fields(&list)).unwrap().request.header("host"), Some("other"));
    }

    #[test]
    fn malformed_requests() {
        let with = |extra: (&'static str, &'static str)| {
            let mut l = GET.to_vec();
            l.push(extra);
            l
        };
        assert!(malformed(&with(("Accept", "x"))), "uppercase name");
        assert!(malformed(&with(("connection", "keep-alive"))));
        assert!(malformed(&with(("transfer-encoding", "chunked"))));
        assert!(malformed(&with(("upgrade", "h2c"))));
        assert!(malformed(&with(("te", "gzip"))));
        assert!(!malformed(&with(("te", "trailers"))));
        assert!(malformed(&with((":status", "200"))), "a response's pseudo-field");
        assert!(malformed(&with((":foo", "x"))), "unknown pseudo-field");
        assert!(malformed(&with(("x", " padded"))));
        assert!(malformed(&with(("x", "a\rb"))));
        assert!(malformed(&with(("content-length", "x"))));
        let mut after = vec![("accept", "x")];
        after.extend(GET);
        assert!(malformed(&after), "pseudo after regular");
        for (missing, (name, _)) in GET.iter().enumerate() {
            let mut l = GET.to_vec();
            l.remove(missing);
            // :authority is optional.
            assert_eq!(malformed(&l), missing != 2, "without {name}");
        }
        for twice in [0, 1, 3] {
            let mut l = GET.to_vec();
            l.insert(0, GET[twice]);
            assert!(malformed(&l), "{} twice", GET[twice].0);
        }
        assert!(malformed(&[(":method", "GET"), (":scheme", "http"), (":path", "")]));
    }

    #[test]
    fn targets_are_checked_as_http1_checks_them() {
        let answer = |path: &'static str| match request_of(fields(&[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", path),
        ])) {
            Err(Refused::Answer(r)) => r.status,
            Ok(_) => 0,
            Err(e) => panic!("{e:?}"),
        };
        assert_eq!(answer("/%zz"), 400);
        assert_eq!(answer("sse"), 400);
        assert_eq!(answer("*"), 400, "only OPTIONS takes *");
        assert_eq!(answer("/ok"), 0);
        let connect = request_of(fields(&[(":method", "CONNECT"), (":scheme", "http"), (":path", "/")]));
        assert!(matches!(connect, Err(Refused::Answer(r)) if r.status == 405));
    }

    #[test]
    fn content_length_is_read() {
        let mut l = GET.to_vec();
        l.push(("content-length", "12"));
        assert_eq!(request_of(fields(&l)).unwrap().content_length, Some(12));
    }

    #[test]
    fn trailers_take_no_pseudo_fields() {
        assert!(check_trailers(&fields(&[("x-sum", "1")])).is_ok());
        assert!(check_trailers(&fields(&[(":path", "/")])).is_err());
        assert!(check_trailers(&fields(&[("X", "1")])).is_err());
    }
}
