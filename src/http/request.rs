//! Request heads: bytes → [`Request`], with [`httparse`] doing the tokenising.
//!
//! [`parse_head`] is a push-style check over the bytes received so far: `Ok(None)` means "need
//! more bytes" (not an error), `Ok(Some(head))` a complete, validated head, and `Err` a status
//! to answer with before closing the connection. Nothing here panics on any input; the fuzz
//! target `http_head` holds it to that.
//!
//! What is refused, and with which status:
//!
//! | input | status |
//! |---|---|
//! | head larger than [`Limits::max_head_bytes`], more headers than [`Limits::max_headers`] | 431 |
//! | malformed request line or header (bare LF inside a line, bad token, bad header name) | 400 |
//! | a version other than HTTP/1.0 or HTTP/1.1 (the HTTP/2 preface included, when the connection does not take HTTP/2: see [`crate::proto::Input::Http2`]) | 505 |
//! | a target that is not origin-, absolute- or asterisk-form; bad percent-encoding; non-UTF-8 path | 400 |
//! | HTTP/1.1 without exactly one `Host` | 400 |
//! | several `Content-Length` values that disagree, or one that is not a decimal number | 400 |
//! | `Transfer-Encoding` (request bodies must have a `Content-Length`) | 411 |
//! | a `Content-Length` above [`Limits::max_body_bytes`] | 413 |

use std::borrow::Cow;

use crate::http::response::Response;

/// The HTTP version of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0: responses are close-delimited unless the client asked for keep-alive.
    Http10,
    /// HTTP/1.1.
    Http11,
    /// HTTP/2 (one stream of a connection; see [`crate::h2`]).
    Http2,
}

/// Bounds on what a request may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest request head (request line and headers) in bytes. Default 8 KiB.
    pub max_head_bytes: usize,
    /// Most header fields in one head. Default 64.
    pub max_headers: usize,
    /// Largest request body (fallback requests only; the stream path takes none). Default 1 MiB.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_head_bytes: 8 * 1024, max_headers: 64, max_body_bytes: 1 << 20 }
    }
}

/// A parsed request: what callbacks see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The method, as sent (`GET`, `POST`, ...).
    pub method: String,
    /// The request target exactly as sent (`/sse?x=1`, `http://host/sse`, `*`).
    pub target: String,
    /// The percent-decoded path, without query (`*` for an asterisk-form target).
    pub path: String,
    /// The raw query string after `?`, empty when there is none.
    pub query: String,
    /// The HTTP version.
    pub version: Version,
    /// Header fields in the order received; names as sent, values as raw bytes.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body (only fallback requests carry one; at most [`Limits::max_body_bytes`]).
    pub body: Vec<u8>,
}

/// A complete request head and where the body starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// The request, with an empty body.
    pub request: Request,
    /// Bytes the head took in the input.
    pub head_len: usize,
    /// Bytes of body that follow the head (from `Content-Length`).
    pub body_len: usize,
}

impl Request {
    /// The first header named `name` (ASCII case-insensitive) whose value is UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_bytes(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Whether the client reads event streams: an `Accept` field naming `text/event-stream`
    /// (every `EventSource` sends `Accept: text/event-stream`). Such a client gives up for good
    /// on an error status, so a temporary refusal is better told as a `retry`
    /// ([`crate::http::answer::stream_refusal`]).
    pub fn accepts_event_stream(&self) -> bool {
        self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("accept")).any(|(_, v)| {
            v.split(|&b| b == b',').any(|range| {
                let media = range.split(|&b| b == b';').next().unwrap_or_default();
                media.trim_ascii().eq_ignore_ascii_case(b"text/event-stream")
            })
        })
    }

    /// The raw value of the first header named `name` (ASCII case-insensitive).
    pub fn header_bytes(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_slice())
    }

    /// The credentials of an `Authorization: Bearer <token>` header: the scheme matched in any
    /// case (RFC 9110 §11.1), one or more spaces, then the token (surrounding whitespace
    /// dropped). `None` without such a header or with an empty token.
    ///
    /// ```
    /// # use ssehub::http::request::{parse_head, Limits};
    /// let head = parse_head(b"GET / HTTP/1.1\r\nHost: h\r\nAuthorization: bearer  abc\r\n\r\n", &Limits::default());
    /// assert_eq!(head.unwrap().unwrap().request.bearer_token(), Some(&b"abc"[..]));
    /// ```
    pub fn bearer_token(&self) -> Option<&[u8]> {
        let value = self.header_bytes("authorization")?.trim_ascii();
        let (scheme, rest) = value.split_at(value.iter().position(|&b| b == b' ')?);
        let token = rest.trim_ascii();
        (scheme.eq_ignore_ascii_case(b"bearer") && !token.is_empty()).then_some(token)
    }

    /// The query parameters, percent-decoded (`+` as space; a `%` not followed by two hex digits
    /// is kept as written), bytes that are not UTF-8 replaced by U+FFFD.
    ///
    /// Names that must not collapse (two different byte strings decoding to the same text) are
    /// read with [`Request::query_values`] instead.
    pub fn query_params(&self) -> Vec<(String, String)> {
        self.query_pairs()
            .map(|(k, v)| {
                (String::from_utf8_lossy(&k).into_owned(), String::from_utf8_lossy(&v).into_owned())
            })
            .collect()
    }

    /// The first query parameter named `name`, percent-decoded as [`Request::query_params`] does.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_params().into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// Every value of the query parameter `name`, in order, percent-decoded; `Err` if one of
    /// them is not UTF-8 once decoded (so `%fe` and `%ff` never both become U+FFFD).
    ///
    /// ```
    /// # use ssehub::http::request::{parse_head, Limits};
    /// let head = parse_head(b"GET /?c=a%20b&x=1&c=%E2%82%AC HTTP/1.1\r\nHost: h\r\n\r\n", &Limits::default());
    /// let req = head.unwrap().unwrap().request;
    /// assert_eq!(req.query_values("c").unwrap(), ["a b", "\u{20ac}"]);
    /// let head = parse_head(b"GET /?c=%fe HTTP/1.1\r\nHost: h\r\n\r\n", &Limits::default());
    /// assert!(head.unwrap().unwrap().request.query_values("c").is_err());
    /// ```
    pub fn query_values(&self, name: &str) -> Result<Vec<String>, NotUtf8> {
        self.query_pairs()
            .filter(|(k, _)| **k == *name.as_bytes())
            .map(|(_, v)| String::from_utf8(v.into_owned()).map_err(|_| NotUtf8))
            .collect()
    }

    /// The query's `name=value` pairs, decoded to bytes.
    fn query_pairs(&self) -> impl Iterator<Item = (Cow<'_, [u8]>, Cow<'_, [u8]>)> {
        self.query.split('&').filter(|p| !p.is_empty()).map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(k), form_decode(v))
        })
    }

    /// The client's last event ID: the `Last-Event-ID` header, else the `lastEventId` query
    /// parameter that EventSource polyfills send.
    pub fn last_event_id(&self) -> Option<String> {
        match self.header_bytes("last-event-id") {
            Some(v) => Some(String::from_utf8_lossy(v).into_owned()),
            None => self.query_param("lastEventId"),
        }
    }

    /// Whether the client waits for `100 Continue` before sending its body (`Expect:
    /// 100-continue` on HTTP/1.1; HTTP/1.0 clients must not wait, RFC 9110 §10.1.1).
    pub fn expects_continue(&self) -> bool {
        self.version == Version::Http11
            && self
                .header_bytes("expect")
                .is_some_and(|v| v.trim_ascii().eq_ignore_ascii_case(b"100-continue"))
    }

    /// Whether the client wants the connection kept open after the response.
    pub fn keep_alive(&self) -> bool {
        let tokens = |want: &str| {
            self.headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
                .flat_map(|(_, v)| v.split(|&b| b == b','))
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(want.as_bytes()))
        };
        match self.version {
            Version::Http11 => !tokens("close"),
            Version::Http10 => tokens("keep-alive"),
            // The connection outlives every request; `Connection` is not even allowed.
            Version::Http2 => true,
        }
    }
}

/// Parses the request head at the start of `buf`.
///
/// `Ok(None)`: incomplete, read more. `Err(response)`: answer it and close the connection.
pub fn parse_head(buf: &[u8], limits: &Limits) -> Result<Option<Head>, Response> {
    let mut headers = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut req = httparse::Request::new(&mut headers);
    let status = req.parse(buf);
    let head_len = match status {
        Ok(httparse::Status::Partial) => {
            return if buf.len() > limits.max_head_bytes {
                Err(Response::error(431, "request head too large"))
            } else {
                Ok(None)
            };
        }
        Ok(httparse::Status::Complete(n)) => n,
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Response::error(431, "too many header fields"));
        }
        Err(httparse::Error::Version) => return Err(Response::error(505, "only HTTP/1.0 and HTTP/1.1")),
        Err(_) => return Err(Response::error(400, "malformed request head")),
    };
    if head_len > limits.max_head_bytes {
        return Err(Response::error(431, "request head too large"));
    }
    // Complete implies these are present.
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(Response::error(400, "malformed request head"));
    };
    let version = if minor == 0 { Version::Http10 } else { Version::Http11 };
    let (path, query) = split_target(target)?;
    let headers: Vec<(String, Vec<u8>)> =
        req.headers.iter().map(|h| (h.name.to_owned(), h.value.to_owned())).collect();

    let count = |name: &str| headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).count();
    if version == Version::Http11 && count("host") != 1 {
        return Err(Response::error(400, "HTTP/1.1 requests need exactly one Host header"));
    }
    if count("transfer-encoding") > 0 {
        return Err(Response::error(411, "request bodies need a Content-Length"));
    }
    let mut body_len: Option<usize> = None;
    for (_, value) in headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("content-length")) {
        let n = parse_content_length(value).ok_or_else(|| Response::error(400, "invalid Content-Length"))?;
        if body_len.is_some_and(|m| m != n) {
            return Err(Response::error(400, "conflicting Content-Length values"));
        }
        body_len = Some(n);
    }
    let body_len = body_len.unwrap_or(0);
    if body_len > limits.max_body_bytes {
        return Err(Response::error(413, "request body too large"));
    }
    let request = Request {
        method: method.to_owned(),
        target: target.to_owned(),
        path,
        query,
        version,
        headers,
        body: Vec::new(),
    };
    Ok(Some(Head { request, head_len, body_len }))
}

/// A `Content-Length` value: a decimal number (a comma-separated list of equal numbers, as
/// RFC 9110 §8.6 allows a recipient to accept, is taken as that number).
pub(crate) fn parse_content_length(value: &[u8]) -> Option<usize> {
    let mut result = None;
    for part in value.split(|&b| b == b',') {
        let part = part.trim_ascii();
        if part.is_empty() || part.len() > 18 || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n = part.iter().fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
        if result.is_some_and(|m| m != n) {
            return None;
        }
        result = Some(n);
    }
    result
}

/// Splits a request target into a decoded path and the raw query.
pub(crate) fn split_target(target: &str) -> Result<(String, String), Response> {
    let bad = || Response::error(400, "invalid request target");
    if target == "*" {
        return Ok(("*".to_owned(), String::new()));
    }
    let origin_form = if target.starts_with('/') {
        target
    } else {
        // absolute-form: scheme "://" authority path-abempty [ "?" query ]
        let (scheme, rest) = target.split_once("://").ok_or_else(bad)?;
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return Err(bad());
        }
        match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => &rest[i..],
            Some(i) => return Ok(("/".to_owned(), rest[i + 1..].to_owned())),
            None => "/",
        }
    };
    let (raw_path, query) = origin_form.split_once('?').unwrap_or((origin_form, ""));
    let path = percent_decode(raw_path.as_bytes()).ok_or_else(bad)?;
    let path = String::from_utf8(path).map_err(|_| bad())?;
    Ok((path, query.to_owned()))
}

/// Decodes `%XX` escapes; `None` for a `%` not followed by two hex digits.
fn percent_decode(s: &[u8]) -> Option<Vec<u8>> {
    let well_formed = s
        .iter()
        .enumerate()
        .filter(|&(_, &b)| b == b'%')
        .all(|(i, _)| s.get(i + 1..i + 3).is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)));
    well_formed.then(|| percent_encoding::percent_decode(s).collect())
}

/// Decodes a query component: `+` is a space, a malformed escape stays as written.
fn form_decode(s: &str) -> Cow<'_, [u8]> {
    if s.contains('+') {
        let spaced = s.replace('+', " ");
        Cow::Owned(percent_encoding::percent_decode(spaced.as_bytes()).collect())
    } else {
        percent_encoding::percent_decode(s.as_bytes()).into()
    }
}

/// A query value that is not UTF-8 once percent-decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotUtf8;

impl std::fmt::Display for NotUtf8 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a query value is not UTF-8 once percent-decoded")
    }
}

impl std::error::Error for NotUtf8 {}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<Option<Head>, u16> {
        parse_head(bytes, &Limits::default()).map_err(|r| r.status)
    }

    fn req(bytes: &[u8]) -> Request {
        parse(bytes).unwrap().unwrap().request
    }

    #[test]
    fn an_event_stream_client_is_known_by_its_accept_field() {
        let accepts = |accept: &str| {
            req(format!("GET /sse HTTP/1.1\r\nHost: h\r\n{accept}\r\n").as_bytes()).accepts_event_stream()
        };
        assert!(accepts("Accept: text/event-stream\r\n"), "what EventSource sends");
        assert!(accepts("accept: Text/Event-Stream;q=0.9\r\n"));
        assert!(accepts("Accept: text/html, text/event-stream\r\n"));
        assert!(accepts("Accept: */*\r\nAccept: text/event-stream\r\n"), "any Accept field");
        assert!(!accepts(""));
        assert!(!accepts("Accept: */*\r\n"), "curl's default");
        assert!(!accepts("Accept: text/event-streamx\r\n"));
    }

    #[test]
    fn complete_get() {
        let head = parse(b"GET /sse?a=1&b=x%20y HTTP/1.1\r\nHost: h\r\nLast-Event-ID: 42\r\n\r\nrest")
            .unwrap()
            .unwrap();
        assert_eq!(head.head_len, 61);
        assert_eq!(head.body_len, 0);
        let r = head.request;
        assert_eq!((r.method.as_str(), r.path.as_str(), r.query.as_str()), ("GET", "/sse", "a=1&b=x%20y"));
        assert_eq!(r.version, Version::Http11);
        assert_eq!(r.query_param("b").as_deref(), Some("x y"));
        assert_eq!(r.last_event_id().as_deref(), Some("42"));
        assert_eq!(r.header("HOST"), Some("h"));
        assert!(r.keep_alive());
    }

    #[test]
    fn partial_head_needs_more() {
        assert_eq!(parse(b"GET /sse HTTP/1.1\r\nHost: h\r\n"), Ok(None));
        assert_eq!(parse(b""), Ok(None));
    }

    #[test]
    fn last_event_id_from_query_for_polyfills() {
        let r = req(b"GET /sse?lastEventId=7 HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(r.last_event_id().as_deref(), Some("7"));
    }

    #[test]
    fn too_large_head_is_431() {
        let mut big = b"GET / HTTP/1.1\r\nHost: h\r\nX: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', 9000));
        assert_eq!(parse(&big), Err(431));
        big.extend_from_slice(b"\r\n\r\n");
        assert_eq!(parse(&big), Err(431));
    }

    #[test]
    fn too_many_headers_is_431() {
        let mut head = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
        for i in 0..70 {
            head.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        assert_eq!(parse(&head), Err(431));
    }

    #[test]
    fn bad_versions_are_505() {
        assert_eq!(parse(b"GET / HTTP/2.0\r\n\r\n"), Err(505));
        assert_eq!(parse(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Err(505));
    }

    #[test]
    fn garbage_is_400() {
        assert_eq!(parse(b"\x00\x01\x02 garbage\r\n\r\n"), Err(400));
        assert_eq!(parse(b"GE(T / HTTP/1.1\r\n\r\n"), Err(400));
    }

    #[test]
    fn host_is_required_once_in_http11() {
        assert_eq!(parse(b"GET / HTTP/1.1\r\n\r\n"), Err(400));
        assert_eq!(parse(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), Err(400));
        assert!(parse(b"GET / HTTP/1.0\r\n\r\n").unwrap().is_some());
    }

    #[test]
    fn content_length_rules() {
        let h = parse(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n").unwrap().unwrap();
        assert_eq!(h.body_len, 5);
        let h = parse(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(h.unwrap().unwrap().body_len, 5);
        assert_eq!(
            parse(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
            Err(400)
        );
        assert_eq!(parse(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 6\r\n\r\n"), Err(400));
        assert_eq!(parse(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n"), Err(400));
        assert_eq!(
            parse(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n"),
            Err(400)
        );
        assert_eq!(parse(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2000000\r\n\r\n"), Err(413));
        assert_eq!(parse(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"), Err(411));
    }

    #[test]
    fn targets() {
        assert_eq!(req(b"GET http://example.com/sse?x=1 HTTP/1.1\r\nHost: h\r\n\r\n").path, "/sse");
        assert_eq!(req(b"GET http://example.com HTTP/1.1\r\nHost: h\r\n\r\n").path, "/");
        assert_eq!(req(b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n").path, "*");
        assert_eq!(req(b"GET /s%73e HTTP/1.1\r\nHost: h\r\n\r\n").path, "/sse");
        assert_eq!(parse(b"GET /a%zz HTTP/1.1\r\nHost: h\r\n\r\n"), Err(400));
        assert_eq!(parse(b"GET /a%ff HTTP/1.1\r\nHost: h\r\n\r\n"), Err(400));
        assert_eq!(parse(b"CONNECT example.com:443 HTTP/1.1\r\nHost: h\r\n\r\n"), Err(400));
        assert_eq!(parse(b"GET ftp://x/ HTTP/1.1\r\nHost: h\r\n\r\n"), Err(400));
    }

    #[test]
    fn keep_alive_defaults_by_version() {
        assert!(!req(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").keep_alive());
        assert!(!req(b"GET / HTTP/1.0\r\n\r\n").keep_alive());
        assert!(req(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive());
    }

    #[test]
    fn query_decoding() {
        let r = req(b"GET /?a=x%20y+z&b=%zz%41&c=%fe&c2=%ff&&d HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(r.query_param("a").as_deref(), Some("x y z"));
        assert_eq!(r.query_param("b").as_deref(), Some("%zzA"), "a bad escape stays, the rest decodes");
        assert_eq!(r.query_param("d").as_deref(), Some(""));
        assert_eq!(r.query_values("c"), Err(NotUtf8));
        assert_eq!(r.query_values("a").unwrap(), ["x y z"]);
        assert_eq!(r.query_values("none").unwrap(), Vec::<String>::new());
        // Lossy for those who ask for it: both become U+FFFD there, never in query_values.
        assert_eq!(r.query_param("c"), r.query_param("c2"));
    }

    #[test]
    fn non_utf8_header_values_are_kept_as_bytes() {
        let r = req(b"GET / HTTP/1.1\r\nHost: h\r\nX: \xff\xfe\r\n\r\n");
        assert_eq!(r.header_bytes("x"), Some(&b"\xff\xfe"[..]));
        assert_eq!(r.header("x"), None);
    }
}
