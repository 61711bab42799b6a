//! Malformed, unusual and hostile request bytes on real sockets, one test per kind of input.
//!
//! Each test asserts the exact answer the request parser documents (the table at the top of
//! `src/http/request.rs`, and the routing table in `src/http/route.rs`), that an error answer
//! carries `Connection: close` and is followed by the server closing the connection, and that
//! the server still serves a new stream afterwards ([`assert_healthy`]).

mod net;

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use net::{Conn, Head, Stop, Stream, TIMEOUT, data_of, get, wait_until};
use ssehub::{OwnedItem, Response, Server, ServerBuilder};

/// Two workers, no keep-alive comments, a short shutdown grace; every stream is greeted with
/// `hello`, then told how long the `Last-Event-ID` it sent was (when it sent one).
fn builder() -> ServerBuilder {
    Server::builder()
        .workers(2)
        .keep_alive(None)
        .configure(|c| c.shutdown_grace = Duration::from_millis(300))
        .on_connect(|client, req| {
            let _ = client.send("hello");
            if let Some(id) = req.last_event_id() {
                let _ = client.send(format!("last-event-id: {} bytes", id.len()));
            }
        })
}

/// A server with the default fallback (`404` for everything off `/sse`).
fn plain() -> Server {
    builder().bind("127.0.0.1:0").unwrap()
}

/// A server whose fallback answers `200` with what it saw: method, target, decoded path, body.
fn echo() -> Server {
    builder()
        .fallback(|req| {
            let body = String::from_utf8_lossy(&req.body);
            Response::text(200, format!("{} {} {:?} [{body}]", req.method, req.target, req.path))
        })
        .bind("127.0.0.1:0")
        .unwrap()
}

/// A new connection still gets a stream, and the stream its first event.
fn assert_healthy(addr: SocketAddr) {
    let mut stream = Stream::open(addr, "/sse", "");
    assert_eq!(data_of(&stream.items(1)), ["hello"], "a new stream after the bad input");
}

/// Sends `request` on a new connection: the answer must be `status` with `Connection: close`
/// and an error body, and the server must then close the connection without sending more.
fn refused(addr: SocketAddr, request: &[u8], status: u16) -> Head {
    let shown = String::from_utf8_lossy(&request[..request.len().min(80)]).into_owned();
    let mut conn = Conn::connect(addr);
    conn.send(request);
    let (head, body) = conn.read_response();
    assert_eq!(head.status, status, "{shown:?} got {head:?}");
    assert!(head.closes(), "{shown:?}: an error answer closes: {head:?}");
    let body = String::from_utf8_lossy(&body);
    assert!(body.starts_with(&format!("{status} ")), "{shown:?}: error body {body:?}");
    let (rest, stop) = conn.read_to_end(TIMEOUT);
    assert_eq!(stop, Stop::Eof, "{shown:?}: the connection is left open after {status}");
    assert!(rest.is_empty(), "{shown:?}: bytes after the error answer: {rest:?}");
    head
}

/// Sends `request` on `conn` and reads an answer that keeps the connection open.
fn answered(conn: &mut Conn, request: &[u8]) -> (Head, String) {
    conn.send(request);
    let (head, body) = conn.read_response();
    assert!(!head.closes(), "{:?} closes: {head:?}", String::from_utf8_lossy(request));
    (head, String::from_utf8(body).expect("UTF-8 body"))
}

/// Reads a stream head from `conn` (already sent its request) and the greeting after it.
fn streams(conn: Conn, what: &str) -> Stream {
    let mut conn = conn;
    let head = conn.read_head();
    assert_eq!(head.status, 200, "{what}: {head:?}");
    assert_eq!(head.header("content-type"), Some("text/event-stream"), "{what}: {head:?}");
    let mut stream = Stream::from_head(conn, head);
    assert_eq!(data_of(&stream.items(1)), ["hello"], "{what}");
    stream
}

#[test]
fn garbage_bytes_are_400() {
    let server = plain();
    let addr = server.local_addr();
    refused(addr, b"\x00\x01garbage\r\n\r\n", 400);
    refused(addr, b"\xff\xfe\xfd\r\n\r\n", 400);
    assert_healthy(addr);
    assert!(server.stats().rejected >= 2);
    server.shutdown();
}

#[test]
fn bare_lf_line_endings_are_accepted() {
    // httparse 1.10 takes a lone LF as a line terminator, in the request line and in headers
    // (RFC 9112 §2.2 allows a recipient to); so does the server: the request is answered, and
    // the connection stays in sync for the next one.
    let server = plain();
    let addr = server.local_addr();
    let mut conn = Conn::connect(addr);
    let (head, body) = answered(&mut conn, b"GET / HTTP/1.1\nHost: h\n\n");
    assert_eq!(head.status, 404, "{body}");
    let (head, _) = answered(&mut conn, b"GET /missing HTTP/1.1\r\nHost: h\n\r\n");
    assert_eq!(head.status, 404, "mixed line endings");
    conn.send(b"GET /sse HTTP/1.1\nHost: h\n\n");
    streams(conn, "bare-LF stream request");
    // A bare CR is no line ending: inside a header value it is malformed.
    refused(addr, b"GET /sse HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400);
    assert_healthy(addr);
    server.shutdown();
}

#[test]
fn invalid_method_token_is_400() {
    let server = plain();
    let addr = server.local_addr();
    refused(addr, b"G(T / HTTP/1.1\r\nHost: t\r\n\r\n", 400);
    refused(addr, b"G\x7fT / HTTP/1.1\r\nHost: t\r\n\r\n", 400);
    refused(addr, b" GET / HTTP/1.1\r\nHost: t\r\n\r\n", 400);
    assert_healthy(addr);
    server.shutdown();
}

#[test]
fn unknown_http_versions_are_505_and_a_missing_version_is_400() {
    let server = plain();
    let addr = server.local_addr();
    for version in ["HTTP/1.2", "HTTP/3.0", "HTTP/2.0", "HTTP/0.9", "http/1.1"] {
        refused(addr, format!("GET /sse {version}\r\nHost: t\r\n\r\n").as_bytes(), 505);
    }
    // Not an HTTP-version at all (`HTTP/` DIGIT `.` DIGIT): httparse reads `HTTP/1.1`, then
    // finds no line end, so the request line is malformed.
    refused(addr, b"GET /sse HTTP/1.10\r\nHost: t\r\n\r\n", 400);
    // An HTTP/0.9 "simple request" has no version: the request line is malformed.
    refused(addr, b"GET /\r\n", 400);
    refused(addr, b"GET /sse\r\n\r\n", 400);
    assert_healthy(addr);
    server.shutdown();
}

#[test]
fn http2_preface_is_505_with_http2_off() {
    let server = builder().http2(false).bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    refused(addr, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505);
    // The preface followed by an HTTP/2 SETTINGS frame, as a prior-knowledge h2 client sends it.
    let mut h2 = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    h2.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    refused(addr, &h2, 505);
    assert_healthy(addr);
    server.shutdown();
}

#[test]
fn http2_preface_after_a_request_is_505() {
    let server = plain();
    let addr = server.local_addr();
    let mut conn = Conn::connect(addr);
    conn.send(b"GET /nothing HTTP/1.1\r\nHost: t\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    let (head, _) = conn.read_response();
    assert_eq!(head.status, 404);
    let (head, _) = conn.read_response();
    assert_eq!(head.status, 505, "only a connection's first bytes can be the preface");
    server.shutdown();
}

#[test]
fn absolute_form_target_streams() {
    let server = plain();
    let addr = server.local_addr();
    for target in ["http://example.com/sse", "HTTPS://example.com:8443/sse?x=1", "http://example.com//sse"] {
        let mut conn = Conn::connect(addr);
        conn.send(format!("GET {target} HTTP/1.1\r\nHost: example.com\r\n\r\n").as_bytes());
        streams(conn, target);
    }
    // Other schemes and authority-form are not targets this server takes.
    refused(addr, b"GET ftp://example.com/sse HTTP/1.1\r\nHost: t\r\n\r\n", 400);
    refused(addr, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 400);
    assert_healthy(addr);
    server.shutdown();
}

#[test]
fn asterisk_form_goes_to_the_fallback() {
    // `route` sends a `*` target to the fallback whatever the method (src/http/route.rs): the
    // default one answers 404 and keeps the connection.
    let server = plain();
    let addr = server.local_addr();
    let mut conn = Conn::connect(addr);
    let (head, _) = answered(&mut conn, b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(head.status, 404);
    let (head, _) = answered(&mut conn, b"GET * HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(head.status, 404);
    conn.send(&get("/sse", ""));
    streams(conn, "after the asterisk-form requests");
    server.shutdown();

    // A custom fallback sees the target and the path as `*`.
    let server = echo();
    let addr = server.local_addr();
    let mut conn = Conn::connect(addr);
    let (head, body) = answered(&mut conn, b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!((head.status, body.as_str()), (200, "OPTIONS * \"*\" []"));
    let (head, body) = answered(&mut conn, b"GET * HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!((head.status, body.as_str()), (200, "GET * \"*\" []"));
    assert_healthy(addr);
    server.shutdown();
}

#[test]
fn percent_encoded_paths() {
    let server = plain();
    let addr = server.local_addr();
    let mut conn = Conn::connect(addr);
    conn.send(&get("/s%73e", ""));
    streams(conn, "/s%73e");
    let mut conn = Conn::connect(addr);
    conn.send(&get("/%73%53e", ""));
    let head = conn.read_head();
    assert_eq!(head.status, 404, "matching is case-sensitive: /sSe is not /sse");
    refused(addr, &get("/%zz", ""), 400);
    refused(addr, &get("/%ff", ""), 400); // decodes to a byte that is not UTF-8
    refused(addr, &get("/sse%2", ""), 400); // a truncated escape
    refused(addr, b"GET /\xff HTTP/1.1\r\nHost: t\r\n\r\n", 400); // raw, not UTF-8
    assert_healthy(addr);
    server.shutdown();
}

#[test]
fn duplicate_equal_content_length_is_accepted() {
    let server = echo();
    let addr = server.local_addr();
    let mut conn = Conn::connect(addr);
    let (head, body) = answered(
        &mut conn,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert_eq!((head.status, body.as_str()), (200, "POST /echo \"/echo\" [hello]"));
    let (head, body) =
        answered(&mut conn, b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3, 3\r\n\r\nabc");
    assert_eq!((head.status, body.as_str()), (200, "POST /echo \"/echo\" [abc]"));
    // The body was taken as 5 and 3 bytes: the next request parses.
    let (head, body) = answered(&mut conn, &get("/next", ""));
    assert_eq!((head.status, body.as_str()), (200, "GET /next \"/next\" []"));
    assert_healthy(addr);
    server.shutdown();
}

#[test]
fn conflicting_content_length_is_400() {
    let server = echo();
    let addr = server.local_addr();
    refused(
        addr,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        400,
    );
    refused(addr, b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5, 6\r\n\r\nhello!", 400);
    assert_healthy(addr);
    server.shutdown();
}

#[test]
fn non_numeric_content_length_is_400() {
    let server = echo();
    let addr = server.local_addr();
    for value in ["five", "+5", "-1", "0x5", "5 5", "", "99999999999999999999"] {
        let request = format!("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {value}\r\n\r\nhello");
        refused(addr, request.as_bytes(), 400);
    }
    assert_healthy(addr);
    server.shutdown();
}

#[test]
fn transfer_encoding_on_a_fallback_request_is_411() {
    let server = echo();
    let addr = server.local_addr();
    refused(
        addr,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        411,
    );
    // With a Content-Length as well (the request-smuggling shape): still 411.
    refused(
        addr,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\nhello",
        411,
    );
    refused(addr, b"GET /sse HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411);
    assert_healthy(addr);
    server.shutdown();
}

#[test]
fn a_body_on_the_stream_path_is_400() {
    let server = plain();
    let addr = server.local_addr();
    refused(addr, b"GET /sse HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello", 400);
    assert_eq!(server.broadcaster().client_count(), 0);
    // An empty body is no body.
    let mut conn = Conn::connect(addr);
    conn.send(b"GET /sse HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    streams(conn, "Content-Length: 0");
    assert_healthy(addr);
    server.shutdown();
}

#[test]
fn a_request_pipelined_after_a_stream_request_is_ignored() {
    let server = plain();
    let addr = server.local_addr();
    let all = server.broadcaster();

    // In the same write as the stream request.
    let mut conn = Conn::connect(addr);
    let mut both = get("/sse", "");
    both.extend_from_slice(&get("/sse?second", ""));
    both.extend_from_slice(&get("/missing", ""));
    conn.send(&both);
    let mut first = streams(conn, "pipelined stream request");
    // After the stream started.
    let mut second = Stream::open(addr, "/sse", "");
    assert_eq!(data_of(&second.items(1)), ["hello"]);
    second.conn.send(&get("/sse", ""));
    second.conn.send(&get("/missing", ""));
    assert!(wait_until(TIMEOUT, || all.client_count() == 2), "one stream per connection");
    // The rule (input on a stream is dropped) is the connection's, tested without a clock
    // (src/proto/conn.rs, `input_while_streaming_is_dropped`): here, events sent after the
    // extra requests arrive with nothing between them.
    for n in 0..3 {
        all.send(format!("event {n}")).unwrap();
    }
    for stream in [&mut first, &mut second] {
        assert_eq!(data_of(&stream.items(3)), ["event 0", "event 1", "event 2"]);
        assert_eq!(stream.ended, None, "the stream goes on");
        let text = String::from_utf8_lossy(&stream.body);
        assert!(!text.contains("HTTP/1.1"), "the extra requests were answered: {text:?}");
    }
    assert_eq!(all.client_count(), 2);
    assert_eq!(server.stats().connections, 2);
    server.shutdown();
}

#[test]
fn a_flood_after_a_stream_request_is_dropped() {
    const FLOOD: usize = 16 << 20;
    let server = plain();
    let addr = server.local_addr();
    let all = server.broadcaster();
    let mut stream = Stream::open(addr, "/sse", "");
    assert_eq!(data_of(&stream.items(1)), ["hello"]);
    let before = net::rss();
    // 16 MiB of pipelined requests: a server that kept them would grow by as much.
    let mut flood = Vec::with_capacity(64 << 10);
    while flood.len() + 40 < 64 << 10 {
        flood.extend_from_slice(&get("/sse?again", ""));
    }
    let mut sent = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    while sent < FLOOD {
        assert!(Instant::now() < deadline, "the server stopped reading after {sent} bytes");
        stream.conn.stream.write_all(&flood).expect("the server reads (and drops) what follows");
        sent += flood.len();
    }
    all.send("after the flood").unwrap();
    assert_eq!(data_of(&stream.items(1)), ["after the flood"]);
    let grown = net::rss().saturating_sub(before);
    assert!(grown < 8 << 20, "memory grew by {} MiB after a {} MiB flood", grown >> 20, FLOOD >> 20);
    assert_eq!(all.client_count(), 1);
    assert_eq!(server.stats().connections, 1);
    assert_healthy(addr);
    server.shutdown();
}

#[test]
fn non_utf8_header_values_are_accepted() {
    let server = builder()
        .on_connect(|client, req| {
            let _ = client.send(format!("{:?} {:?}", req.header_bytes("x-foo"), req.header("x-foo")));
        })
        .bind("127.0.0.1:0")
        .unwrap();
    let mut conn = Conn::connect(server.local_addr());
    conn.send(b"GET /sse HTTP/1.1\r\nHost: t\r\nX-Foo: \xff\xfe\r\n\r\n");
    let head = conn.read_head();
    assert_eq!(head.status, 200, "{head:?}");
    let mut stream = Stream::from_head(conn, head);
    assert_eq!(data_of(&stream.items(1)), ["Some([255, 254]) None"], "raw bytes kept; not a str");
    let mut next = Stream::open(server.local_addr(), "/sse", "");
    assert_eq!(data_of(&next.items(1)), ["None None"], "a new stream afterwards");
    server.shutdown();
}

#[test]
fn a_7_kb_last_event_id_streams_and_an_8_kib_one_is_431() {
    let server = plain();
    let addr = server.local_addr();
    let id = "i".repeat(7000);
    let request = get("/sse", &format!("Last-Event-ID: {id}\r\n"));
    assert!(request.len() < 8 * 1024);
    let mut stream = Stream::open_raw(addr, &request);
    let items = stream.items(3);
    // The id is unknown (nothing was published), so a gap event comes first, echoing the id
    // cut to 256 characters; the callback sees all of it.
    let gap = OwnedItem::Event {
        event_type: "gap".into(),
        data: id[..256].to_owned(),
        last_event_id: String::new(),
    };
    assert_eq!(items.first(), Some(&gap));
    assert_eq!(data_of(&items[1..]), ["hello", "last-event-id: 7000 bytes"]);

    let id = "i".repeat(8 * 1024 + 1);
    refused(addr, &get("/sse", &format!("Last-Event-ID: {id}\r\n")), 431);
    assert_healthy(addr);
    server.shutdown();
}

#[test]
fn a_header_line_without_a_colon_is_400() {
    let server = plain();
    let addr = server.local_addr();
    refused(addr, b"GET /sse HTTP/1.1\r\nHost: t\r\nNoColonHere\r\n\r\n", 400);
    refused(addr, b"GET /sse HTTP/1.1\r\nHost: t\r\nX Y: z\r\n\r\n", 400);
    refused(addr, b"GET /sse HTTP/1.1\r\nHost: t\r\n: empty name\r\n\r\n", 400);
    // Whitespace between name and colon (RFC 9112 §5.1 requires a 400), and an obsolete
    // line folding (§5.2 allows rejecting it).
    refused(addr, b"GET /sse HTTP/1.1\r\nHost : t\r\n\r\n", 400);
    refused(addr, b"GET /sse HTTP/1.1\r\nHost: t\r\nX-A: a\r\n b\r\n\r\n", 400);
    assert_healthy(addr);
    server.shutdown();
}

/// `GET /sse` padded with an `X-Pad` header to exactly `len` bytes of head.
fn padded_head(len: usize) -> Vec<u8> {
    let bare = get("/sse", "X-Pad: \r\n").len();
    let head = get("/sse", &format!("X-Pad: {}\r\n", "p".repeat(len - bare)));
    assert_eq!(head.len(), len);
    head
}

#[test]
fn a_head_of_exactly_the_limit_streams_and_one_byte_more_is_431() {
    let server = builder().configure(|c| c.limits.max_head_bytes = 1024).bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    let mut conn = Conn::connect(addr);
    conn.send(&padded_head(1024));
    streams(conn, "a 1024-byte head");
    refused(addr, &padded_head(1025), 431);
    // Past the limit before the head is even complete: 431 without waiting for its end.
    let mut partial = padded_head(1100);
    partial.truncate(1030);
    refused(addr, &partial, 431);
    assert_healthy(addr);
    server.shutdown();
}

/// `GET /sse` with `Host` and `fields - 1` more header fields: `fields` fields in all.
fn with_fields(fields: usize) -> Vec<u8> {
    let lines: String = (1..fields).map(|i| format!("X-{i}: v\r\n")).collect();
    get("/sse", &lines)
}

#[test]
fn sixty_five_header_fields_are_431() {
    let server = plain();
    let addr = server.local_addr();
    let mut conn = Conn::connect(addr);
    conn.send(&with_fields(64));
    streams(conn, "64 header fields");
    refused(addr, &with_fields(65), 431);
    assert_healthy(addr);
    server.shutdown();
}

#[test]
fn a_head_sent_one_byte_at_a_time_is_accepted_within_the_header_timeout() {
    let server =
        builder().configure(|c| c.header_timeout = Duration::from_millis(1500)).bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    let request = get("/sse", "");
    let mut conn = Conn::connect(addr);
    for byte in &request {
        conn.send(std::slice::from_ref(byte));
        std::thread::sleep(Duration::from_millis(10));
    }
    streams(conn, "a head sent byte by byte");

    // The timeout runs from the first byte, not from the last one: a trickle slower than it
    // in all is answered 408 mid-head.
    let server2 =
        builder().configure(|c| c.header_timeout = Duration::from_millis(300)).bind("127.0.0.1:0").unwrap();
    let mut conn = Conn::connect(server2.local_addr());
    let started = Instant::now();
    for byte in &request {
        if started.elapsed() > Duration::from_millis(900)
            || conn.stream.write_all(std::slice::from_ref(byte)).is_err()
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    let (head, _) = conn.read_response();
    assert_eq!(head.status, 408);
    assert!(head.closes());
    assert!(conn.closes_within(TIMEOUT));
    server2.shutdown();
    assert_healthy(addr);
    server.shutdown();
}

#[test]
fn a_nul_byte_in_the_path() {
    let server = echo();
    let addr = server.local_addr();
    // A raw NUL is not a target character: 400.
    refused(addr, b"GET /s\x00e HTTP/1.1\r\nHost: t\r\n\r\n", 400);
    refused(addr, b"GET /sse\x00 HTTP/1.1\r\nHost: t\r\n\r\n", 400);
    // An escaped one decodes into the path, which then is not the stream path: the fallback
    // gets it as it is.
    let mut conn = Conn::connect(addr);
    let (head, body) = answered(&mut conn, &get("/sse%00", ""));
    assert_eq!((head.status, body.as_str()), (200, "GET /sse%00 \"/sse\\0\" []"));
    assert_healthy(addr);
    server.shutdown();
}
