//! Response heads and bodies: [`Response`] → bytes, and the head that opens an event stream.
//!
//! # How a stream is framed
//! HTTP/1.1 clients get `Transfer-Encoding: chunked`, each encoded event block one chunk, and a
//! final `0\r\n\r\n` at a graceful close: the body has a definite end that proxies (nginx with
//! `proxy_http_version 1.1`), curl, browsers and Node's `eventsource` all understand, and the
//! connection's framing stays intact. HTTP/1.0 clients cannot read chunked bodies, so they get a
//! close-delimited body (`Connection: close`, the events written as they are).
//!
//! Header names and values are written as given, except that a field whose name is not an HTTP
//! token or whose value holds CR, LF or NUL is left out: a response can never be split by an
//! application-supplied header.

use crate::http::request::{Request, Version};
use crate::http::status::reason;

/// How an answer goes on the wire: whether the connection stays open after it, and whether it
/// answers a `HEAD` request (the head alone, with the body's `Content-Length`).
///
/// ```
/// use ssehub::http::{Framing, Response};
/// let mut out = Vec::new();
/// Response::text(200, "hi").write_to(&mut out, Framing::CLOSE);
/// assert!(out.ends_with(b"Connection: close\r\n\r\nhi"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Framing {
    /// The connection stays open for the next request (else `Connection: close`).
    pub keep_alive: bool,
    /// Only the head: the request was `HEAD`.
    pub head_only: bool,
}

impl Framing {
    /// A full answer, then the connection closes.
    pub const CLOSE: Framing = Framing { keep_alive: false, head_only: false };

    /// What `req` asked for: kept alive unless HTTP/1.0 or `Connection: close`; head only for
    /// `HEAD`.
    pub fn of(req: &Request) -> Framing {
        Framing {
            keep_alive: req.version == Version::Http11 && req.keep_alive(),
            head_only: req.method == "HEAD",
        }
    }

    /// The same, but the connection closes after it.
    pub fn closing(self) -> Framing {
        Framing { keep_alive: false, ..self }
    }
}

/// A complete response: status, headers and body.
///
/// ```
/// use ssehub::http::Response;
/// let page = Response::html("<h1>hi</h1>").header("X-Frame-Options", "DENY");
/// assert_eq!(page.status, 200);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header fields, written in order after the ones the server sets itself.
    pub headers: Vec<(String, String)>,
    /// The body; its length becomes `Content-Length`.
    pub body: Vec<u8>,
}

impl Response {
    /// A response with `status`, no headers and no body.
    pub fn new(status: u16) -> Response {
        Response { status, headers: Vec::new(), body: Vec::new() }
    }

    /// A `text/plain; charset=utf-8` response.
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response::new(status).header("Content-Type", "text/plain; charset=utf-8").body(body.into())
    }

    /// A `200` `text/html; charset=utf-8` response.
    pub fn html(body: impl Into<String>) -> Response {
        Response::new(200).header("Content-Type", "text/html; charset=utf-8").body(body.into())
    }

    /// A plain-text error response: `"<status> <reason>: <detail>\n"`.
    pub fn error(status: u16, detail: &str) -> Response {
        Response::text(status, format!("{status} {}: {detail}\n", reason(status)))
    }

    /// `404 Not Found`, the default answer to requests off the stream path.
    pub fn not_found() -> Response {
        Response::error(404, "no such resource")
    }

    /// `503 Service Unavailable` with `Retry-After: <seconds>`: try again later.
    pub fn unavailable(detail: &str, retry_after_secs: u32) -> Response {
        Response::error(503, detail).header("Retry-After", retry_after_secs.to_string())
    }

    /// Adds a header field.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Response {
        self.body = body.into();
        self
    }

    /// Appends the response to `out`, framed as `framing` says (`Connection: close` unless it is
    /// kept alive; no body for a `HEAD` request).
    pub fn write_to(&self, out: &mut Vec<u8>, framing: Framing) {
        let Framing { keep_alive, head_only } = framing;
        status_line(self.status, out);
        write_headers(&self.headers, out);
        let bodiless = self.status == 204 || self.status == 304 || (100..200).contains(&self.status);
        if !bodiless {
            out.extend_from_slice(b"Content-Length: ");
            out.extend_from_slice(self.body.len().to_string().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if !keep_alive {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if !bodiless && !head_only {
            out.extend_from_slice(&self.body);
        }
    }
}

/// The fields every event stream's head has, over HTTP/1.1 and HTTP/2 alike: the type, no
/// caching or transformation by intermediaries, and no buffering by nginx.
pub const STREAM_HEADERS: [(&str, &str); 3] = [
    ("Content-Type", "text/event-stream"),
    ("Cache-Control", "no-cache, no-transform"),
    ("X-Accel-Buffering", "no"),
];

/// Appends the head that turns a response into an event stream.
///
/// `chunked` selects the HTTP/1.1 framing (see the module docs); `keep_alive` false (a client
/// that sent `Connection: close`) says the connection ends with the stream; `extra` are CORS
/// and configured headers.
pub fn write_stream_head(out: &mut Vec<u8>, chunked: bool, keep_alive: bool, extra: &[(String, String)]) {
    status_line(200, out);
    for (name, value) in STREAM_HEADERS {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    write_headers(extra, out);
    out.extend_from_slice(if chunked && keep_alive {
        b"Connection: keep-alive\r\n"
    } else {
        b"Connection: close\r\n"
    });
    if chunked {
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// The chunk that ends a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

fn status_line(status: u16, out: &mut Vec<u8>) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason(status).as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn write_headers(headers: &[(String, String)], out: &mut Vec<u8>) {
    for (name, value) in headers {
        if is_token(name) && !value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// Whether `s` is an HTTP token (RFC 9110 §5.6.2), the syntax of a field name.
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(r: &Response, keep_alive: bool, head_only: bool) -> String {
        let mut out = Vec::new();
        r.write_to(&mut out, Framing { keep_alive, head_only });
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn response_with_length_and_close() {
        let r = Response::text(200, "hi");
        assert_eq!(
            written(&r, false, false),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"
        );
        assert!(written(&r, true, true).ends_with("Content-Length: 2\r\n\r\n"));
    }

    #[test]
    fn no_content_has_no_length() {
        assert_eq!(written(&Response::new(204), true, false), "HTTP/1.1 204 No Content\r\n\r\n");
    }

    #[test]
    fn injected_headers_are_left_out() {
        let r = Response::new(200)
            .header("X-A", "ok")
            .header("X-B", "x\r\nSet-Cookie: y")
            .header("Bad Name", "v");
        let s = written(&r, true, false);
        assert!(s.contains("X-A: ok\r\n"));
        assert!(!s.contains("Set-Cookie"));
        assert!(!s.contains("Bad Name"));
    }

    #[test]
    fn stream_heads() {
        let mut out = Vec::new();
        write_stream_head(&mut out, true, true, &[("X-Extra".into(), "1".into())]);
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"));
        assert!(s.contains("Cache-Control: no-cache, no-transform\r\n"));
        assert!(s.contains("X-Accel-Buffering: no\r\n"));
        assert!(s.contains("X-Extra: 1\r\n"));
        assert!(s.ends_with("Transfer-Encoding: chunked\r\n\r\n"));
        let mut out = Vec::new();
        write_stream_head(&mut out, false, false, &[]);
        assert!(String::from_utf8(out).unwrap().ends_with("Connection: close\r\n\r\n"));
        let mut out = Vec::new();
        write_stream_head(&mut out, true, false, &[]);
        assert!(
            String::from_utf8(out)
                .unwrap()
                .ends_with("Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n")
        );
    }
}
