//! HTTP/2 against a real server over real sockets (prior knowledge on the plain port): event
//! streams multiplexed on one connection, the same routing, publish and callbacks as HTTP/1.1,
//! and the stream bound. (h2spec, curl, nghttp and Chromium drive it in `.ci/e2e-h2`.)

mod net;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use net::h2::{Got, H2};
use net::{Stream, TIMEOUT, data_of, wait_until};
use ssehub::h2::ErrorCode;
use ssehub::{Event, Response, Server, ServerBuilder};

fn builder() -> ServerBuilder {
    Server::builder().workers(2).keep_alive(None).configure(|c| c.shutdown_grace = Duration::from_millis(300))
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

#[test]
fn twenty_event_streams_share_one_connection() {
    let server = builder().bind("127.0.0.1:0").unwrap();
    let mut c = H2::connect(server.local_addr());
    let ids: Vec<u32> = (0..20).map(|i| 1 + 2 * i).collect();
    for &id in &ids {
        c.get(id, "/sse");
    }
    for &id in &ids {
        let head = c.head(id);
        assert_eq!(head[0], (":status".into(), "200".into()), "stream {id}");
        assert_eq!(field(&head, "content-type"), Some("text/event-stream"));
        assert_eq!(field(&head, "cache-control"), Some("no-cache, no-transform"));
        assert!(field(&head, "connection").is_none() && field(&head, "transfer-encoding").is_none());
    }
    assert!(wait_until(TIMEOUT, || server.stats().streams == 20), "20 streams open: {:?}", server.stats());
    let broadcast = server.broadcaster();
    broadcast.send(Event::new("one")).unwrap();
    broadcast.send(Event::new("two")).unwrap();
    for &id in &ids {
        assert_eq!(data_of(&c.items(id, 2)), ["one", "two"], "stream {id}");
    }
    // An HTTP/1.1 client of the same server sees the same stream.
    let mut h1 = Stream::open(server.local_addr(), "/sse", "");
    broadcast.send(Event::new("three")).unwrap();
    assert_eq!(data_of(&h1.items(1)), ["three"]);
    assert_eq!(data_of(&c.items(1, 1)), ["three"]);
    server.shutdown();
}

#[test]
fn a_cancelled_stream_ends_on_the_server_and_the_others_go_on() {
    let gone = Arc::new(AtomicUsize::new(0));
    let g = gone.clone();
    let server = builder()
        .on_disconnect(move |_| {
            g.fetch_add(1, Ordering::SeqCst);
        })
        .bind("127.0.0.1:0")
        .unwrap();
    let mut c = H2::connect(server.local_addr());
    c.get(1, "/sse");
    c.get(3, "/sse");
    c.head(1);
    c.head(3);
    assert!(wait_until(TIMEOUT, || server.stats().streams == 2));
    c.cancel(1);
    assert!(
        wait_until(TIMEOUT, || gone.load(Ordering::SeqCst) == 1),
        "on_disconnect for the cancelled stream"
    );
    assert_eq!(server.stats().streams, 1);
    server.broadcaster().send(Event::new("still")).unwrap();
    assert_eq!(data_of(&c.items(3, 1)), ["still"]);
    drop(c);
    assert!(
        wait_until(TIMEOUT, || gone.load(Ordering::SeqCst) == 2),
        "the connection's end ends its streams"
    );
    assert!(wait_until(TIMEOUT, || server.stats().connections == 0));
    server.shutdown();
}

#[test]
fn requests_route_as_over_http1() {
    let server = builder()
        .publish_endpoint("/publish", "secret")
        .fallback(|req| {
            Response::text(
                200,
                format!("{} {} [{}]", req.method, req.path, String::from_utf8_lossy(&req.body)),
            )
        })
        .bind("127.0.0.1:0")
        .unwrap();
    let mut c = H2::connect(server.local_addr());
    c.request(1, "GET", "/page?x=1", &[], b"");
    assert_eq!(c.response(1), (200, b"GET /page []".to_vec()));
    c.request(3, "PUT", "/echo", &[("content-type", "text/plain")], b"a body");
    assert_eq!(c.response(3), (200, b"PUT /echo [a body]".to_vec()));
    // The stream path takes GET only, as over HTTP/1.1.
    c.request(5, "POST", "/sse", &[], b"x");
    assert_eq!(c.response(5).0, 405);
    // Publishing over HTTP/2 reaches a stream on the same connection.
    c.get(7, "/sse?channel=news");
    c.head(7);
    c.request(9, "POST", "/publish?channel=news", &[("authorization", "Bearer secret")], b"hello");
    let (status, body) = c.response(9);
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    assert_eq!(data_of(&c.items(7, 1)), ["hello"]);
    c.request(11, "POST", "/publish?channel=news", &[("authorization", "Bearer wrong")], b"no");
    assert_eq!(c.response(11).0, 401);
    server.shutdown();
}

#[test]
fn streams_past_the_setting_are_refused_and_the_connection_goes_on() {
    let server = builder().max_concurrent_streams(2).bind("127.0.0.1:0").unwrap();
    let mut c = H2::connect(server.local_addr());
    c.get(1, "/sse");
    c.get(3, "/sse");
    c.get(5, "/sse");
    assert_eq!(c.reset_of(5), Some(ErrorCode::RefusedStream));
    c.cancel(1);
    assert!(wait_until(TIMEOUT, || server.stats().streams == 1));
    c.get(7, "/sse");
    assert_eq!(c.head(7)[0].1, "200", "room again once a stream ended");
    server.shutdown();
}

#[test]
fn shutdown_sends_goaway_and_ends_the_streams() {
    let server = builder().bind("127.0.0.1:0").unwrap();
    let mut c = H2::connect(server.local_addr());
    c.get(1, "/sse");
    c.head(1);
    assert!(wait_until(TIMEOUT, || server.stats().streams == 1));
    let handle = server.shutdown_handle();
    std::thread::spawn(move || handle.shutdown());
    let mut goaway = None;
    let mut ended = false;
    while let Some(got) = c.next() {
        match got {
            Got::GoAway { last, code } => goaway = Some((last, code)),
            Got::Data { stream: 1, end: true, .. } => ended = true,
            _ => {}
        }
    }
    assert_eq!(goaway, Some((1, ErrorCode::NoError)));
    assert!(ended, "the stream ended with END_STREAM");
}

#[test]
fn a_first_line_that_is_not_http1_gets_goaway() {
    // What h2spec 3.5/2 sends: not HTTP/1 (its third word is no HTTP version), so a client that
    // meant HTTP/2 and got the preface wrong: GOAWAY PROTOCOL_ERROR, then the connection closes.
    let server = builder().bind("127.0.0.1:0").unwrap();
    let mut conn = net::Conn::connect(server.local_addr());
    conn.send(b"INVALID CONNECTION PREFACE\r\n\r\n");
    let (bytes, stop) = conn.read_to_end(TIMEOUT);
    assert_eq!(stop, net::Stop::Eof, "closed after the GOAWAY");
    // Our SETTINGS (the server preface goes first), then the GOAWAY.
    let mut at = 0;
    let mut goaway = None;
    while let Some((f, used)) = ssehub::h2::frame::decode(&bytes[at..], 16_384).expect("frames") {
        if let ssehub::h2::frame::Frame::GoAway(g) = f {
            goaway = Some(g.code);
        }
        at += used;
    }
    assert_eq!(at, bytes.len(), "whole frames only");
    assert_eq!(goaway, Some(ErrorCode::ProtocolError));
    // With HTTP/2 off it is HTTP/1's to refuse.
    let off = builder().http2(false).bind("127.0.0.1:0").unwrap();
    let mut conn = net::Conn::connect(off.local_addr());
    conn.send(b"INVALID CONNECTION PREFACE\r\n\r\n");
    assert_eq!(conn.read_response().0.status, 505);
    server.shutdown();
    off.shutdown();
}

/// Streams for `Bearer good` only, each ending a second or two from now (its "token" expires);
/// no publishing.
struct ShortLived;

impl ssehub::auth::Policy for ShortLived {
    fn stream(
        &self,
        req: &ssehub::http::Request,
        _channels: &[Arc<str>],
        now: u64,
    ) -> Result<ssehub::auth::Access, ssehub::auth::Refusal> {
        match req.bearer_token() {
            Some(b"good") => Ok(ssehub::auth::Access { subject: Some("u1".into()), expires: Some(now + 2) }),
            Some(_) => Err(ssehub::auth::Refusal::Forbidden { channel: "default".into() }),
            None => Err(ssehub::auth::Refusal::NoToken),
        }
    }

    fn publisher(
        &self,
        _req: &ssehub::http::Request,
        _now: u64,
    ) -> Result<ssehub::auth::Patterns, ssehub::auth::Refusal> {
        Err(ssehub::auth::Refusal::NoToken)
    }
}

#[test]
fn authorization_holds_over_http2_and_an_expiring_stream_ends() {
    let server = builder().policy(ShortLived).bind("127.0.0.1:0").unwrap();
    let mut c = H2::connect(server.local_addr());
    c.get(1, "/sse");
    let (status, body) = c.response(1);
    assert_eq!(status, 401, "no token: {}", String::from_utf8_lossy(&body));
    c.request(3, "GET", "/sse", &[("authorization", "Bearer other")], b"");
    assert_eq!(c.response(3).0, 403);
    c.request(5, "GET", "/sse", &[("authorization", "Bearer good")], b"");
    assert_eq!(c.head(5)[0].1, "200");
    // The access ends within about two seconds: the stream ends with END_STREAM, the
    // connection stays.
    let started = std::time::Instant::now();
    let mut ended = false;
    while started.elapsed() < Duration::from_secs(4) {
        match c.next() {
            Some(Got::Data { stream: 5, end: true, .. }) => {
                ended = true;
                break;
            }
            Some(_) => {}
            None => break,
        }
    }
    assert!(ended, "the stream ended when its access did");
    c.get(7, "/nothing");
    assert_eq!(c.response(7).0, 404, "the connection goes on");
    server.shutdown();
}
