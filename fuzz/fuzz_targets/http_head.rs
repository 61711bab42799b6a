//! The request-head decision never panics, refuses only with its documented statuses, and does
//! not depend on how the bytes arrived.
//!
//! The whole input is the bytes received on a connection. It is parsed with the default
//! [`Limits`] and with small limits derived from the first and last input bytes
//! (`max_head_bytes = 2 * (first ^ last)`, `max_headers = second-to-last % 8`,
//! `max_body_bytes = last % 32`). For each, the target checks:
//!
//! * `Ok(None)` only while the input is at most `max_head_bytes` long (nothing is buffered
//!   without bound);
//! * a refusal is 400, 411, 413, 431 or 505, and its serialized response is a well-formed
//!   `HTTP/1.1 <status> ` response whose `Content-Length` matches its body;
//! * a complete head has `head_len <= data.len()` and `<= max_head_bytes`, an empty body,
//!   `body_len <= max_body_bytes`, at most `max_headers` fields, exactly one `Host` on
//!   HTTP/1.1, no `Transfer-Encoding`, and a path that is `*` (asterisk-form) or starts with `/`;
//! * determinism and prefix stability: parsing again gives the same answer; parsing
//!   `data[..head_len]` gives the same head; every strict prefix of the head (all of them for
//!   short heads, a sample for long ones) gives `Ok(None)`: a valid request is never refused
//!   because it arrived in pieces;
//! * smaller limits never accept more: if the small limits give a complete head, the default ones
//!   give the same head, and if they need more bytes, so do the default ones;
//! * the query helpers (`query_params`, `query_param`, `last_event_id`, `keep_alive`, `header`,
//!   `header_bytes`, `bearer_token`, `expects_continue`) do not panic; `query_values` agrees
//!   with `query_params` wherever the values are UTF-8 and refuses only values the lossy
//!   decoding had to repair; `requested_channels` never lets through an empty name or one with a
//!   control character;
//! * [`route`] with several configurations (`/sse` and `/a/*/b`, no CORS, an origin list, any
//!   origin with credentials, a `*` pattern; with and without metrics and publish paths, some of
//!   them overlapping the stream pattern): `Publish` exactly on the publish path, then `Metrics`
//!   exactly for `GET`/`HEAD` on the metrics path, then `Fallback` exactly when the path is `*` or
//!   does not match; otherwise `OPTIONS` gets 204 (or 403 for a refused origin), `GET` a stream
//!   (or 400 and close with a body, or 403 for a refused origin), anything else 405 with `Allow`;
//!   every response and stream head it leads to serializes well-formed (no header can split it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ssehub::http::request::{Head, Limits, Version, parse_head};
use ssehub::http::response::write_stream_head;
use ssehub::http::route::route;
use ssehub::http::{Cors, Decision, Framing, PathPattern, Response, RouteConfig};

/// Statuses `parse_head` may refuse with (the table in `src/http/request.rs`).
const PARSE_STATUSES: [u16; 5] = [400, 411, 413, 431, 505];

fn small_limits(input: &[u8]) -> Limits {
    let first = input.first().copied().unwrap_or(0);
    let last = input.last().copied().unwrap_or(0);
    let before_last = if input.len() >= 2 { input[input.len() - 2] } else { 0 };
    Limits {
        max_head_bytes: 2 * usize::from(first ^ last),
        max_headers: usize::from(before_last % 8),
        max_body_bytes: usize::from(last % 32),
    }
}

/// Checks a serialized response: status line, a head without bare CR/LF or NUL (so no header
/// split it), `Content-Length` equal to the body (none and no body for 204).
fn check_serialized(bytes: &[u8], status: u16, what: &str) {
    let prefix = format!("HTTP/1.1 {status} ");
    assert!(bytes.starts_with(prefix.as_bytes()), "{what}: starts with {prefix:?}: {:?}", show(bytes));
    let end = find(bytes, b"\r\n\r\n").unwrap_or_else(|| panic!("{what}: no end of head: {:?}", show(bytes)));
    let head = &bytes[..end + 2];
    let body = &bytes[end + 4..];
    let mut content_length = None;
    for line in head.split(|&b| b == b'\n') {
        if line.is_empty() {
            continue;
        }
        assert!(line.ends_with(b"\r"), "{what}: line without CRLF in {:?}", show(bytes));
        let line = &line[..line.len() - 1];
        assert!(!line.iter().any(|&b| b == b'\r' || b == 0), "{what}: bare CR or NUL in {:?}", show(bytes));
        if let Some(v) = line.strip_prefix(b"Content-Length: ") {
            assert!(content_length.is_none(), "{what}: two Content-Length in {:?}", show(bytes));
            content_length = Some(std::str::from_utf8(v).unwrap().parse::<usize>().unwrap());
        }
    }
    // The head lines after the status line are `name: value` with a token name.
    for line in head.split(|&b| b == b'\n').skip(1).filter(|l| !l.is_empty()) {
        let colon = line.iter().position(|&b| b == b':').unwrap_or_else(|| {
            panic!("{what}: header line without a colon in {:?}", show(bytes));
        });
        let name = std::str::from_utf8(&line[..colon]).expect("header name is ASCII");
        assert!(ssehub::http::response::is_token(name), "{what}: bad header name {name:?}");
    }
    if status == 204 {
        assert_eq!(content_length, None, "{what}: 204 with Content-Length");
        assert!(body.is_empty(), "{what}: 204 with a body");
    } else {
        assert_eq!(content_length, Some(body.len()), "{what}: Content-Length vs body in {:?}", show(bytes));
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn check_refusal(response: &Response, allowed: &[u16], what: &str) {
    assert!(allowed.contains(&response.status), "{what}: status {} not in {allowed:?}", response.status);
    for keep_alive in [false, true] {
        let mut out = Vec::new();
        response.write_to(&mut out, Framing { keep_alive, head_only: false });
        check_serialized(&out, response.status, what);
        if !keep_alive {
            let end = find(&out, b"\r\n\r\n").unwrap();
            assert!(find(&out[..end + 4], b"\r\nConnection: close\r\n").is_some(), "{what}: close");
        }
    }
}

/// Strict prefixes of a head of `head_len` bytes to try: all of them for short heads.
fn prefixes(head_len: usize, input: &[u8]) -> Vec<usize> {
    if head_len <= 300 {
        return (0..head_len).collect();
    }
    let mut v: Vec<usize> = vec![0, 1, head_len / 2, head_len - 1, head_len - 2, head_len - 3, head_len - 4];
    // A few positions picked by the input, so the fuzzer can steer them.
    for (i, &b) in input.iter().take(24).enumerate() {
        v.push((usize::from(b) * 131 + i * 977) % head_len);
    }
    v
}

fn check_head(input: &[u8], limits: &Limits, head: &Head, what: &str) {
    let r = &head.request;
    assert!(head.head_len <= input.len(), "{what}: head_len {} > {}", head.head_len, input.len());
    assert!(head.head_len <= limits.max_head_bytes, "{what}: head_len past the limit");
    assert!(head.head_len > 0);
    assert!(input[..head.head_len].ends_with(b"\n"), "{what}: a head ends with a line break");
    assert!(r.body.is_empty(), "{what}: parse_head fills no body");
    assert!(head.body_len <= limits.max_body_bytes, "{what}: body_len past the limit");
    assert!(r.headers.len() <= limits.max_headers, "{what}: more headers than the limit");
    let count = |name: &str| r.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).count();
    if r.version == Version::Http11 {
        assert_eq!(count("host"), 1, "{what}: HTTP/1.1 with {} Host fields", count("host"));
    }
    assert_eq!(count("transfer-encoding"), 0, "{what}: Transfer-Encoding accepted");
    if r.target == "*" {
        assert_eq!((r.path.as_str(), r.query.as_str()), ("*", ""));
    } else {
        assert!(r.path.starts_with('/'), "{what}: path {:?} of target {:?}", r.path, r.target);
    }
    if !r.query.is_empty() {
        assert!(
            r.target.ends_with(&format!("?{}", r.query)),
            "{what}: query {:?} of {:?}",
            r.query,
            r.target
        );
    }
    assert!(!r.method.is_empty());

    // Determinism and prefix stability.
    assert_eq!(parse_head(input, limits), Ok(Some(head.clone())), "{what}: not deterministic");
    assert_eq!(
        parse_head(&input[..head.head_len], limits),
        Ok(Some(head.clone())),
        "{what}: the head alone parses differently"
    );
    for n in prefixes(head.head_len, input) {
        let p = parse_head(&input[..n], limits);
        assert!(
            p == Ok(None),
            "{what}: strict prefix of {n} bytes (head {}) gives {:?}: {:?}",
            head.head_len,
            p.as_ref().map(|h| h.as_ref().map(|h| h.head_len)).map_err(|r| r.status),
            show(&input[..n])
        );
    }

    // The helpers must not panic.
    let lossy = r.query_params();
    let _ = r.query_param("lastEventId");
    let _ = r.bearer_token();
    let _ = r.expects_continue();
    // Strict decoding agrees with the lossy one where the values are UTF-8, and fails only
    // where one holds bytes the lossy decoding had to replace; channel lists it lets through
    // hold no control character (no name reaches the hub's own log).
    for name in ["channel", "event"] {
        let wanted: Vec<&String> = lossy.iter().filter(|(k, _)| k == name).map(|(_, v)| v).collect();
        match r.query_values(name) {
            Ok(values) => assert_eq!(values.iter().collect::<Vec<_>>(), wanted, "{what}: {name}"),
            Err(_) => assert!(wanted.iter().any(|v| v.contains('\u{fffd}')), "{what}: {name} refused"),
        }
    }
    if let Ok(channels) = ssehub::hub::requested_channels(r) {
        assert!(channels.iter().all(|c| !c.is_empty() && !c.chars().any(char::is_control)), "{what}");
    }
    let _ = r.last_event_id();
    let _ = r.keep_alive();
    let _ = r.header("host");
    let _ = r.header("origin");
    let _ = r.header_bytes("last-event-id");
}

fn configs() -> Vec<RouteConfig> {
    let cfg = |p: &str, cors: Option<Cors>, metrics: Option<&str>, publish: Option<&str>| RouteConfig {
        pattern: PathPattern::new(p),
        cors,
        metrics: metrics.map(Into::into),
        publish: publish.map(Into::into),
        presence: publish.map(|_| "/channels".into()),
    };
    vec![
        cfg("/sse", None, None, None),
        cfg(
            "/sse",
            Some(Cors::origins(["https://a.example", "http://localhost:3000"])),
            Some("/metrics"),
            None,
        ),
        cfg("/a/*/b", None, None, Some("/publish")),
        cfg("/a/*/b", Some(Cors::any().credentials(true)), Some("/a/m/b"), Some("/publish")),
        cfg("/sse", Some(Cors::any()), Some("/sse"), Some("/sse")),
        cfg("*", Some(Cors::origins(["https://a.example"]).credentials(true)), Some("/metrics"), None),
    ]
}

fn check_route(input: &[u8], head: &Head) {
    let mut req = head.request.clone();
    // The body as the connection would deliver it, when it has all arrived.
    let end = head.head_len + head.body_len;
    if input.len() >= end {
        req.body = input[head.head_len..end].to_vec();
    }
    for cfg in configs() {
        let what = format!("route {:?}", cfg);
        let decision = route(&req, &cfg);
        // The publish path, then the metrics path (GET and HEAD), then the stream pattern.
        let publish = cfg.publish.as_deref() == Some(req.path.as_str());
        let metrics = !publish
            && cfg.metrics.as_deref() == Some(req.path.as_str())
            && matches!(req.method.as_str(), "GET" | "HEAD");
        assert_eq!(decision == Decision::Publish, publish, "{what}: {decision:?}");
        assert_eq!(decision == Decision::Metrics, metrics, "{what}: {decision:?}");
        let on_path = !publish && !metrics && req.path != "*" && cfg.pattern.matches(&req.path);
        let origin_checked = cfg.cors.is_some() && req.header("origin").is_some();
        match &decision {
            Decision::Publish | Decision::Metrics | Decision::Presence { .. } => {}
            Decision::Fallback => assert!(!on_path, "{what}: fallback on the stream path"),
            Decision::Stream { headers } => {
                assert!(on_path && req.method == "GET" && req.body.is_empty(), "{what}: {decision:?}");
                assert_eq!(headers.is_empty(), !origin_checked, "{what}: CORS headers {headers:?}");
                for chunked in [false, true] {
                    for keep_alive in [false, true] {
                        let mut out = Vec::new();
                        write_stream_head(&mut out, chunked, keep_alive, headers);
                        // A stream head has no Content-Length: only the status and the form.
                        assert!(out.starts_with(b"HTTP/1.1 200 "), "{what}");
                        assert!(out.ends_with(b"\r\n\r\n"), "{what}");
                        assert_eq!(find(&out, b"\r\n\r\n"), Some(out.len() - 4), "{what}: head split");
                    }
                }
            }
            Decision::Respond { response, close } => {
                assert!(on_path, "{what}: {decision:?} off the stream path");
                let status = response.status;
                match req.method.as_str() {
                    "OPTIONS" => {
                        assert!(status == 204 || (status == 403 && origin_checked), "{what}: {status}");
                        assert!(!close);
                    }
                    "GET" => {
                        if status == 400 {
                            assert!(*close && !req.body.is_empty(), "{what}: 400");
                        } else {
                            assert!(status == 403 && origin_checked && !close, "{what}: {status}");
                        }
                    }
                    _ => {
                        assert_eq!(status, 405, "{what}");
                        assert!(!close);
                        assert!(response.headers.iter().any(|(n, _)| n == "Allow"), "{what}: Allow");
                    }
                }
                check_refusal(response, &[204, 400, 403, 405], &what);
                let mut out = Vec::new();
                response.write_to(&mut out, Framing { keep_alive: true, head_only: true });
                assert!(out.starts_with(format!("HTTP/1.1 {status} ").as_bytes()));
            }
        }
    }
}

fuzz_target!(|input: &[u8]| {
    let default = Limits::default();
    let small = small_limits(input);
    let mut results = Vec::new();
    for (limits, name) in [(default, "default limits"), (small, "small limits")] {
        let result = parse_head(input, &limits);
        match &result {
            Ok(None) => assert!(input.len() <= limits.max_head_bytes, "{name}: Ok(None) past the limit"),
            Ok(Some(head)) => {
                check_head(input, &limits, head, name);
                check_route(input, head);
            }
            Err(response) => {
                check_refusal(response, &PARSE_STATUSES, name);
                assert_eq!(parse_head(input, &limits), result, "{name}: not deterministic");
            }
        }
        results.push(result);
    }
    let (big, little) = (&results[0], &results[1]);
    match little {
        Ok(Some(_)) => assert_eq!(big, little, "smaller limits accept a head the default ones do not"),
        Ok(None) => assert_eq!(big, &Ok(None), "smaller limits wait where the default ones decide"),
        Err(_) => {}
    }
});
