//! `HandOff` over real sockets: an axum app on 127.0.0.1:0 served through the hand-off, its
//! `/sse` connections adopted by an `ssehub::Server`'s workers, everything else axum's.

mod support;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use ssehub::Event;
use ssehub_axum::SseHub;
use ssehub_axum::handoff::HandOff;
use support::{PATIENCE, Reader, eventually};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The server, its hub in the app, and the app served through the hand-off.
async fn start() -> (ssehub::Server, SseHub, std::net::SocketAddr) {
    let server = ssehub::Server::builder().workers(1).adopt_only().unwrap();
    let hub = SseHub::builder().attach(server.broadcaster());
    let app = Router::new().route("/hello", get(|| async { "hello" })).route("/sse", hub.handler());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handoff = HandOff::new(listener, server.adopter()).head_timeout(PATIENCE);
    tokio::spawn(async move { axum::serve(handoff, app.into_make_service()).await.unwrap() });
    (server, hub, addr)
}

/// Sends `GET /hello` on `sock` (kept alive) and reads its whole response.
async fn hello_on(sock: &mut TcpStream) -> String {
    sock.write_all(b"GET /hello HTTP/1.1\r\nHost: test\r\n\r\n").await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.ends_with(b"hello") {
        let n = tokio::time::timeout(PATIENCE, sock.read(&mut buf)).await.expect("an answer").unwrap();
        assert_ne!(n, 0, "closed: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(got).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_request_for_the_stream_goes_to_the_server_and_the_rest_stays_with_axum() {
    let (server, hub, addr) = start().await;
    // Adopted: the server accepted it (its workers count what they own).
    let mut adopted = Reader::open(addr, "/sse?channel=a", &[]).await;
    assert_eq!(adopted.status, 200, "{}", adopted.head);
    eventually("one stream adopted", || server.stats().accepted == 1 && server.stats().streams == 1).await;

    // The application's own route, on a connection of its own: axum's.
    let mut sock = TcpStream::connect(addr).await.unwrap();
    assert!(hello_on(&mut sock).await.starts_with("HTTP/1.1 200"));
    // The same connection kept alive, then asking for the stream: axum's for its whole life,
    // so the handler serves it, from the same hub.
    let mut kept = Reader::open_on(sock, "/sse?channel=a", &[]).await;
    assert_eq!(kept.status, 200, "{}", kept.head);
    eventually("the handler's stream counted", || server.stats().streams == 2).await;
    assert_eq!(server.stats().accepted, 1, "the kept-alive connection was not adopted");

    hub.publish("a", Event::new("to both")).await.unwrap();
    assert_eq!(adopted.until(1).await[0].data, "to both");
    assert_eq!(kept.until(1).await[0].data, "to both");
    assert_eq!(adopted.events[0].id, kept.events[0].id, "one event, one id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_in_pieces_is_sorted_once_whole_and_its_bytes_reach_whoever_answers() {
    let (server, hub, addr) = start().await;
    let id = hub.publish("a", Event::new("missed")).await.unwrap().id.unwrap();
    hub.publish("a", Event::new("after it")).await.unwrap();
    // Adopted with every byte read before the verdict: Last-Event-ID, in the second piece,
    // replays what came after it.
    let mut sock = TcpStream::connect(addr).await.unwrap();
    sock.write_all(b"GET /sse?channel=a HTTP/1.0\r\nHost: t\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    sock.write_all(format!("Last-Event-ID: {id}\r\n\r\n").as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    while !String::from_utf8_lossy(&got).contains("data: after it") {
        let n = tokio::time::timeout(PATIENCE, sock.read(&mut buf)).await.expect("the replay").unwrap();
        assert_ne!(n, 0, "closed: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    assert!(!String::from_utf8_lossy(&got).contains("data: missed"), "replayed from after the id");
    eventually("adopted", || server.stats().accepted == 1).await;

    // axum's, in pieces too: the bytes read for sorting are replayed to hyper first.
    let mut sock = TcpStream::connect(addr).await.unwrap();
    sock.write_all(b"GET /hel").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    sock.write_all(b"lo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(PATIENCE, sock.read_to_string(&mut answer)).await.expect("an answer").unwrap();
    assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("hello"), "{answer}");
    assert_eq!(server.stats().accepted, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bytes_and_early_ends_are_axums_to_answer() {
    let (server, _hub, addr) = start().await;
    // Not HTTP/1 at all: axum (hyper) answers or closes; nothing reaches the server.
    let mut sock = TcpStream::connect(addr).await.unwrap();
    sock.write_all(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n").await.unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(PATIENCE, sock.read_to_end(&mut rest)).await.expect("closed").ok();
    // A peer that leaves halfway through its head.
    let mut sock = TcpStream::connect(addr).await.unwrap();
    sock.write_all(b"GET /sse HTTP/1.1\r\n").await.unwrap();
    sock.shutdown().await.unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(PATIENCE, sock.read_to_end(&mut rest)).await.expect("closed").ok();
    // The hand-off still serves.
    let mut sock = TcpStream::connect(addr).await.unwrap();
    assert!(hello_on(&mut sock).await.starts_with("HTTP/1.1 200"));
    assert_eq!(server.stats().accepted, 0);
}
