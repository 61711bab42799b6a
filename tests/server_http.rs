//! Plain HTTP on real sockets: the fallback handler, `HEAD`, `405`, CORS, the accept check,
//! pipelining and keep-alive, request bodies, the header timeout, refused input.

mod net;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use net::{Conn, Stream, TIMEOUT, get, message};

use ssehub::{Cors, Response, Server, ServerBuilder};

/// A builder for these tests: two workers, and a short shutdown grace, since a server holds a
/// connection it answered and closed for up to 2 s (see `a_closed_connection_is_released_at_eof`).
fn builder() -> ServerBuilder {
    Server::builder().workers(2).configure(|c| c.shutdown_grace = Duration::from_millis(300))
}

fn page_server() -> Server {
    builder()
        .on_connect(|client, _| client.send("streaming").unwrap())
        .fallback(|req| match req.path.as_str() {
            "/" => Response::html("<h1>home</h1>").header("X-Page", "home"),
            "/echo" => Response::text(
                200,
                format!("{} {} [{}]", req.method, req.target, String::from_utf8_lossy(&req.body)),
            ),
            "/teapot" => Response::text(418, "short and stout").header("X-Custom", "yes"),
            _ => Response::not_found(),
        })
        .bind("127.0.0.1:0")
        .unwrap()
}

#[test]
fn default_fallback_is_404() {
    let server = builder().bind("127.0.0.1:0").unwrap();
    let mut conn = Conn::connect(server.local_addr());
    conn.send(&get("/nothing/here", ""));
    let (head, body) = conn.read_response();
    assert_eq!(head.status_line, "HTTP/1.1 404 Not Found");
    assert_eq!(head.content_length(), Some(body.len()));
    assert!(String::from_utf8_lossy(&body).starts_with("404 Not Found"), "{body:?}");
    assert!(!head.closes(), "404 keeps the connection: {head:?}");
    // The same connection still serves the stream.
    conn.send(&get("/sse", ""));
    let head = conn.read_head();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-type"), Some("text/event-stream"));
    server.shutdown();
}

#[test]
fn custom_fallback_next_to_the_stream() {
    let server = page_server();
    let addr = server.local_addr();
    let mut conn = Conn::connect(addr);
    conn.send(&get("/", ""));
    let (head, body) = conn.read_response();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(head.header("x-page"), Some("home"));
    assert_eq!(body, b"<h1>home</h1>");

    conn.send(&get("/teapot", ""));
    let (head, body) = conn.read_response();
    assert_eq!(head.status, 418);
    assert_eq!(head.header("x-custom"), Some("yes"));
    assert_eq!(body, b"short and stout");

    let mut stream = Stream::open(addr, "/sse", "");
    assert_eq!(stream.items(1), vec![message("streaming")]);
    server.shutdown();
}

#[test]
fn head_gets_the_length_without_a_body() {
    let server = page_server();
    let mut conn = Conn::connect(server.local_addr());
    conn.send(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
    let head = conn.read_head();
    assert_eq!(head.status, 200);
    assert_eq!(head.content_length(), Some("<h1>home</h1>".len()));
    // No body: the very next bytes are the answer to the next request.
    conn.send(&get("/teapot", ""));
    let (head, body) = conn.read_response();
    assert_eq!((head.status, body.as_slice()), (418, &b"short and stout"[..]));
    // HEAD of the default 404 as well.
    conn.send(b"HEAD /missing HTTP/1.1\r\nHost: t\r\n\r\n");
    let head = conn.read_head();
    assert_eq!(head.status, 404);
    assert!(head.content_length().unwrap() > 0);
    let (rest, _) = conn.read_to_end(Duration::from_millis(200));
    assert!(rest.is_empty(), "HEAD got body bytes: {rest:?}");
    server.shutdown();
}

#[test]
fn other_methods_on_the_stream_path_get_405() {
    let server = page_server();
    let mut conn = Conn::connect(server.local_addr());
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        conn.send(format!("{method} /sse HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello").as_bytes());
        let (head, _) = conn.read_response();
        assert_eq!(head.status, 405, "{method}");
        assert_eq!(head.header("allow"), Some("GET, OPTIONS"), "{method}");
    }
    // HEAD on the stream path: 405 too, without a body.
    conn.send(b"HEAD /sse HTTP/1.1\r\nHost: t\r\n\r\n");
    let head = conn.read_head();
    assert_eq!(head.status, 405);
    // The connection is still in sync.
    conn.send(&get("/", ""));
    assert_eq!(conn.read_response().1, b"<h1>home</h1>");
    server.shutdown();
}

#[test]
fn options_without_cors_answers_allow() {
    let server = page_server();
    let mut conn = Conn::connect(server.local_addr());
    conn.send(b"OPTIONS /sse HTTP/1.1\r\nHost: t\r\n\r\n");
    let (head, body) = conn.read_response();
    assert_eq!(head.status, 204);
    assert_eq!(head.header("allow"), Some("GET, OPTIONS"));
    assert!(body.is_empty());
    assert_eq!(head.count("access-control-allow-origin"), 0);
    server.shutdown();
}

#[test]
fn cors_preflight_stream_and_refusal() {
    let server = builder().cors(Cors::origins(["https://a.example"])).bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr();

    let mut conn = Conn::connect(addr);
    conn.send(
        b"OPTIONS /sse HTTP/1.1\r\nHost: t\r\nOrigin: https://a.example\r\n\
          Access-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: last-event-id\r\n\r\n",
    );
    let head = conn.read_head();
    assert_eq!(head.status, 204, "{head:?}");
    assert_eq!(head.header("access-control-allow-origin"), Some("https://a.example"));
    assert!(head.header("access-control-allow-methods").unwrap().contains("GET"));
    assert_eq!(head.header("access-control-allow-headers"), Some("last-event-id"));
    assert_eq!(head.count("content-length"), 0, "204 has no length");

    // The stream from the allowed origin (case-insensitively).
    let mut ok = Stream::open(addr, "/sse", "Origin: https://A.example\r\n");
    assert_eq!(ok.head.header("access-control-allow-origin"), Some("https://A.example"));
    assert_eq!(ok.head.header("vary"), Some("Origin"));
    assert_eq!(ok.head.count("access-control-allow-credentials"), 0);
    server.broadcaster().send("x").unwrap();
    assert_eq!(net::data_of(&ok.items(1)), ["x"]);

    // Another origin: refused, on the stream and in preflight.
    for request in [
        get("/sse", "Origin: https://b.example\r\n"),
        b"OPTIONS /sse HTTP/1.1\r\nHost: t\r\nOrigin: https://b.example\r\nAccess-Control-Request-Method: GET\r\n\r\n"
            .to_vec(),
    ] {
        let mut conn = Conn::connect(addr);
        conn.send(&request);
        let (head, _) = conn.read_response();
        assert_eq!(head.status, 403, "{head:?}");
        assert_eq!(head.count("access-control-allow-origin"), 0);
    }
    // No Origin at all (same-origin): streams.
    let plain = Stream::open(addr, "/sse", "");
    assert_eq!(plain.head.count("access-control-allow-origin"), 0);
    server.shutdown();
}

#[test]
fn cors_any_with_credentials_echoes_the_origin() {
    let server = builder().cors(Cors::any().credentials(true)).bind("127.0.0.1:0").unwrap();
    let stream = Stream::open(server.local_addr(), "/sse", "Origin: https://anyone.example\r\n");
    assert_eq!(stream.head.header("access-control-allow-origin"), Some("https://anyone.example"));
    assert_eq!(stream.head.header("access-control-allow-credentials"), Some("true"));
    server.shutdown();

    let server = builder().cors(Cors::any()).bind("127.0.0.1:0").unwrap();
    let stream = Stream::open(server.local_addr(), "/sse", "Origin: https://anyone.example\r\n");
    assert_eq!(stream.head.header("access-control-allow-origin"), Some("*"));
    assert_eq!(stream.head.count("access-control-allow-credentials"), 0);
    server.shutdown();
}

#[test]
fn verify_rejects_with_a_custom_response() {
    let (tx, rx) = mpsc::channel();
    let server = builder()
        .verify(|req| match req.header("authorization") {
            Some("Bearer good") => Ok(()),
            _ => Err(Response::error(401, "who are you").header("WWW-Authenticate", "Bearer realm=\"sse\"")),
        })
        .on_connect(move |client, _| {
            let _ = tx.send(client.id());
            client.send("authorized").unwrap();
        })
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.local_addr();

    let mut conn = Conn::connect(addr);
    conn.send(&get("/sse", "Authorization: Bearer bad\r\n"));
    let (head, body) = conn.read_response();
    assert_eq!(head.status_line, "HTTP/1.1 401 Unauthorized");
    assert_eq!(head.header("www-authenticate"), Some("Bearer realm=\"sse\""));
    assert_eq!(body, b"401 Unauthorized: who are you\n");
    assert!(rx.try_recv().is_err(), "no on_connect for a refused client");
    assert_eq!(server.broadcaster().client_count(), 0);

    // Retrying on the same connection with the right credentials streams.
    conn.send(&get("/sse", "Authorization: Bearer good\r\n"));
    let head = conn.read_head();
    assert_eq!(head.status, 200);
    let mut stream = Stream::from_head(conn, head);
    assert_eq!(stream.items(1), vec![message("authorized")]);
    rx.recv_timeout(TIMEOUT).unwrap();
    assert!(server.stats().rejected >= 1);
    server.shutdown();
}

#[test]
fn pipelined_requests_answered_in_order() {
    let server = page_server();
    let mut conn = Conn::connect(server.local_addr());
    let mut batch = get("/", "");
    batch.extend_from_slice(&get("/teapot", ""));
    batch.extend_from_slice(&get("/missing", ""));
    batch.extend_from_slice(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
    batch.extend_from_slice(&get("/echo?x", ""));
    conn.send(&batch);
    let statuses: Vec<(u16, Vec<u8>)> = (0..3)
        .map(|_| {
            let (h, b) = conn.read_response();
            (h.status, b)
        })
        .collect();
    assert_eq!(statuses[0], (200, b"<h1>home</h1>".to_vec()));
    assert_eq!(statuses[1], (418, b"short and stout".to_vec()));
    assert_eq!(statuses[2].0, 404);
    let head = conn.read_head(); // HEAD: no body follows
    assert_eq!((head.status, head.content_length()), (200, Some(13)));
    assert_eq!(conn.read_response().1, b"GET /echo?x []");
    server.shutdown();
}

#[test]
fn many_pipelined_requests_in_one_write() {
    let server = page_server();
    let mut conn = Conn::connect(server.local_addr());
    let mut batch = Vec::new();
    for i in 0..300 {
        batch.extend_from_slice(&get(&format!("/echo?{i}"), ""));
    }
    conn.send(&batch);
    for i in 0..300 {
        let (head, body) = conn.read_response();
        assert_eq!(head.status, 200);
        assert_eq!(body, format!("GET /echo?{i} []").as_bytes());
    }
    server.shutdown();
}

#[test]
fn pipelined_fallback_then_stream() {
    let server = page_server();
    let mut conn = Conn::connect(server.local_addr());
    let mut batch = get("/", "");
    batch.extend_from_slice(&get("/sse", ""));
    conn.send(&batch);
    let (head, body) = conn.read_response();
    assert_eq!((head.status, body.as_slice()), (200, &b"<h1>home</h1>"[..]));
    let head = conn.read_head();
    assert_eq!(head.header("content-type"), Some("text/event-stream"));
    let mut stream = Stream::from_head(conn, head);
    assert_eq!(stream.items(1), vec![message("streaming")]);
    server.shutdown();
}

#[test]
fn keep_alive_then_connection_close() {
    let server = page_server();
    let mut conn = Conn::connect(server.local_addr());
    conn.send(&get("/", ""));
    let (head, _) = conn.read_response();
    assert!(!head.closes());
    std::thread::sleep(Duration::from_millis(50));
    conn.send(&get("/teapot", ""));
    let (head, _) = conn.read_response();
    assert_eq!(head.status, 418);
    conn.send(&get("/", "Connection: close\r\n"));
    let (head, body) = conn.read_response();
    assert_eq!(head.status, 200);
    assert_eq!(body, b"<h1>home</h1>");
    assert!(head.closes(), "{head:?}");
    assert!(conn.closes_within(TIMEOUT), "the server closes after Connection: close");
    server.shutdown();
}

#[test]
fn requests_after_connection_close_are_not_answered() {
    let server = page_server();
    let mut conn = Conn::connect(server.local_addr());
    let mut batch = get("/", "Connection: close\r\n");
    batch.extend_from_slice(&get("/teapot", ""));
    conn.send(&batch);
    let (head, _) = conn.read_response();
    assert!(head.closes());
    let (rest, stop) = conn.read_to_end(TIMEOUT);
    assert_eq!(stop, net::Stop::Eof);
    assert!(rest.is_empty(), "answered after close: {:?}", String::from_utf8_lossy(&rest));
    server.shutdown();
}

#[test]
fn http10_fallback_closes() {
    let server = page_server();
    let mut conn = Conn::connect(server.local_addr());
    conn.send(b"GET / HTTP/1.0\r\n\r\n");
    let (head, body) = conn.read_response();
    assert_eq!((head.status, body.as_slice()), (200, &b"<h1>home</h1>"[..]));
    assert!(head.closes());
    assert!(conn.closes_within(TIMEOUT));
    server.shutdown();
}

#[test]
fn request_body_is_consumed() {
    let server = page_server();
    let mut conn = Conn::connect(server.local_addr());
    let body = "GET /sse HTTP/1.1\r\nHost: t\r\n\r\n"; // looks like a request; is a body
    let mut batch = format!("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{body}", body.len())
        .into_bytes();
    batch.extend_from_slice(&get("/teapot", ""));
    conn.send(&batch);
    let (head, echoed) = conn.read_response();
    assert_eq!(head.status, 200);
    assert_eq!(echoed, format!("POST /echo [{body}]").as_bytes());
    let (head, _) = conn.read_response();
    assert_eq!(head.status, 418, "the next request parses after the body");

    // A body that arrives in pieces, after the head.
    conn.send(b"PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n01234");
    std::thread::sleep(Duration::from_millis(100));
    conn.send(b"56789");
    conn.send(&get("/", ""));
    assert_eq!(conn.read_response().1, b"PUT /echo [0123456789]");
    assert_eq!(conn.read_response().1, b"<h1>home</h1>");
    server.shutdown();
}

#[test]
fn body_on_the_stream_path_is_400_and_close() {
    let server = page_server();
    let mut conn = Conn::connect(server.local_addr());
    conn.send(b"GET /sse HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
    let (head, _) = conn.read_response();
    assert_eq!(head.status, 400);
    assert!(head.closes(), "{head:?}");
    assert!(conn.closes_within(TIMEOUT));
    server.shutdown();
}

#[test]
fn header_timeout_answers_408_and_closes() {
    let server =
        builder().configure(|c| c.header_timeout = Duration::from_millis(300)).bind("127.0.0.1:0").unwrap();
    let started = Instant::now();
    let mut conn = Conn::connect(server.local_addr());
    conn.send(b"GET /sse HTTP/1.1\r\nHost: t\r\n");
    let (head, _) = conn.read_response();
    let waited = started.elapsed();
    assert_eq!(head.status, 408);
    assert!(head.closes());
    assert!(waited >= Duration::from_millis(250), "408 too early: {waited:?}");
    assert!(waited < Duration::from_secs(2), "408 too late: {waited:?}");
    assert!(conn.closes_within(TIMEOUT));

    // A complete head in time streams, and the stream is not timed out later.
    let mut stream = Stream::open(server.local_addr(), "/sse", "");
    stream.read_for(Duration::from_millis(700));
    assert_eq!(stream.ended, None, "the stream outlives the header timeout");
    server.shutdown();
}

#[test]
fn header_timeout_applies_to_the_next_head_on_a_keep_alive_connection() {
    let server =
        builder().configure(|c| c.header_timeout = Duration::from_millis(300)).bind("127.0.0.1:0").unwrap();
    let mut conn = Conn::connect(server.local_addr());
    conn.send(&get("/x", ""));
    assert_eq!(conn.read_response().0.status, 404);
    conn.send(b"GET /x HTTP/1.1\r\nHost: t\r\n"); // half a head, then nothing
    let head = conn.try_read_head(Instant::now() + Duration::from_secs(2));
    assert_eq!(head.map(|h| h.status), Ok(408), "half a head is still pending after 2 s");
    server.shutdown();
}

#[test]
fn refused_heads() {
    let server = page_server();
    let addr = server.local_addr();
    let cases: [(&[u8], u16); 5] = [
        (b"GET / HTTP/1.1\r\n\r\n", 400),             // no Host
        (b"GE(T / HTTP/1.1\r\nHost: t\r\n\r\n", 400), // bad method
        (b"GET / HTTP/3.0\r\nHost: t\r\n\r\n", 505), // a version past HTTP/1.1 (the HTTP/2 preface is HTTP/2: tests/server_h2.rs)
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411), // no chunked bodies
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999\r\n\r\n", 413),            // too large
    ];
    for (request, status) in cases {
        let mut conn = Conn::connect(addr);
        conn.send(request);
        let (head, _) = conn.read_response();
        assert_eq!(head.status, status, "{:?}", String::from_utf8_lossy(request));
        assert!(head.closes());
        assert!(conn.closes_within(TIMEOUT));
    }
    // A head past 8 KiB.
    let mut conn = Conn::connect(addr);
    let mut big = b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 10 * 1024));
    conn.send(&big);
    let (head, _) = conn.read_response();
    assert_eq!(head.status, 431);
    assert!(conn.closes_within(TIMEOUT));
    server.shutdown();
}

#[test]
fn idle_keep_alive_connection_is_closed() {
    let server =
        builder().configure(|c| c.idle_timeout = Duration::from_millis(300)).bind("127.0.0.1:0").unwrap();
    let mut conn = Conn::connect(server.local_addr());
    conn.send(&get("/x", ""));
    assert_eq!(conn.read_response().0.status, 404);
    let started = Instant::now();
    assert!(conn.closes_within(TIMEOUT), "idle connection kept open");
    assert!(started.elapsed() < Duration::from_secs(2));
    server.shutdown();
}

#[test]
fn too_many_connections_get_503() {
    let server = builder().configure(|c| c.max_connections = 2).bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    let a = Stream::open(addr, "/sse", "");
    let _b = Stream::open(addr, "/sse", "");
    let mut conn = Conn::connect(addr);
    let (bytes, _) = conn.read_to_end(TIMEOUT);
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{text:?}");
    assert!(text.contains("Retry-After: 1\r\n"));
    drop(a);
    assert!(net::wait_until(TIMEOUT, || server.stats().connections < 2));
    let _c = Stream::open(addr, "/sse", "");
    server.shutdown();
}

/// Resident memory of this process, in bytes.
fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<usize>().unwrap() * 1024
}

#[test]
fn pipelined_requests_from_a_client_that_never_reads_are_bounded() {
    const BODY: usize = 1 << 20;
    let server =
        builder().fallback(|_| Response::new(200).body(vec![b'x'; BODY])).bind("127.0.0.1:0").unwrap();
    let mut conn = Conn::connect(server.local_addr());
    let before = rss();
    // 28-byte requests, 1 MiB answers: 300 of them would be 300 MiB if all were queued.
    let mut batch = Vec::new();
    for _ in 0..300 {
        batch.extend_from_slice(&get("/big", ""));
    }
    conn.send(&batch);
    let mut peak = 0;
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        peak = peak.max(rss().saturating_sub(before));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(peak < 64 << 20, "server memory grew by {} MiB for one client that does not read", peak >> 20);
    drop(conn);
    server.shutdown();
}

#[test]
fn a_closed_connection_is_released_at_eof() {
    let server = Server::builder().workers(2).bind("127.0.0.1:0").unwrap();
    let mut conn = Conn::connect(server.local_addr());
    conn.send(&get("/x", "Connection: close\r\n"));
    assert!(conn.read_response().0.closes());
    assert!(conn.closes_within(TIMEOUT));
    drop(conn); // both sides are closed now
    let released = net::wait_until(Duration::from_millis(1000), || server.stats().connections == 0);
    assert!(released, "connection still counted 1 s after both sides closed: {:?}", server.stats());
    let started = Instant::now();
    server.shutdown();
    assert!(started.elapsed() < Duration::from_millis(1000), "shutdown took {:?}", started.elapsed());
}

#[test]
fn pipelined_requests_buffered_while_reading_paused_are_answered() {
    // Answers larger than the queue bound pause reading; the requests already read must still
    // be answered once the queue drains, not left to time out.
    let server = Server::builder()
        .configure(|c| {
            c.max_queue_bytes = 1000;
            c.header_timeout = Duration::from_secs(3);
        })
        .fallback(|_| Response::text(200, "x".repeat(1500)))
        .bind("127.0.0.1:0")
        .unwrap();
    let mut conn = Conn::connect(server.local_addr());
    conn.send(&get("/a", "").repeat(3));
    let started = Instant::now();
    for _ in 0..3 {
        let (head, body) = conn.read_response();
        assert_eq!((head.status, body.len()), (200, 1500));
    }
    assert!(started.elapsed() < Duration::from_secs(2), "answered at once, not at the header timeout");
    server.shutdown();
}
