//! The health probes on real sockets: `/healthz` and `/readyz` answered on the public port and
//! the metrics listener, their paths set or turned off, other methods refused; `/readyz` turning
//! `503` while a real `redis-server` (see `redis_server/mod.rs`) is stopped and `200` again once
//! it is back, `/healthz` staying `200` throughout; and `/readyz` turning `503` during a drain
//! on a connection that was open before.

mod net;
#[cfg(feature = "redis")]
mod redis_server;

use std::time::Duration;

use net::{Conn, Stream, wait_until};
use ssehub::{OwnedItem, Server};

/// `GET path` on `conn` (kept alive): the status and the body.
fn probe(conn: &mut Conn, path: &str) -> (u16, String) {
    conn.send(format!("GET {path} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes());
    let (head, body) = conn.read_response();
    (head.status, String::from_utf8(body).unwrap())
}

/// The same on a new connection to `addr`.
fn probe_at(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    probe(&mut Conn::connect(addr), path)
}

#[test]
fn both_probes_answer_on_by_default_with_short_json() {
    let server = Server::builder().workers(2).bind("127.0.0.1:0").unwrap();
    let mut conn = Conn::connect(server.local_addr());
    assert_eq!(probe(&mut conn, "/healthz"), (200, r#"{"status":"ok","workers":2}"#.into()));
    assert_eq!(probe(&mut conn, "/readyz"), (200, r#"{"status":"ready"}"#.into()));
    conn.send(b"HEAD /healthz HTTP/1.1\r\nHost: h\r\n\r\n");
    let head = conn.read_head();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-type"), Some("application/json"));
    assert_eq!(head.header("cache-control"), Some("no-store"));
    conn.send(b"POST /readyz HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
    let (head, _) = conn.read_response();
    assert_eq!((head.status, head.header("allow")), (405, Some("GET, HEAD")));
    // The query is no part of the path.
    assert_eq!(probe(&mut conn, "/healthz?verbose=1").0, 200);
    server.shutdown();
}

#[test]
fn the_paths_can_be_moved_or_turned_off_and_the_metrics_listener_answers_them_too() {
    let server = Server::builder()
        .healthz_path("/livez")
        .readyz_path(None)
        .metrics_addr("127.0.0.1:0".parse().unwrap())
        .bind("127.0.0.1:0")
        .unwrap();
    let public = server.local_addr();
    assert_eq!(probe_at(public, "/livez").0, 200);
    assert_eq!(probe_at(public, "/healthz").0, 404);
    assert_eq!(probe_at(public, "/readyz").0, 404);
    let admin = server.metrics_addr().unwrap();
    assert_eq!(probe_at(admin, "/livez").0, 200);
    assert_eq!(probe_at(admin, "/metrics").0, 200);
    assert_eq!(probe_at(admin, "/other").0, 404);
    server.shutdown();
}

#[test]
fn a_drain_turns_readyz_503_on_a_connection_open_before_and_healthz_stays_200() {
    let server = Server::builder().workers(1).bind("127.0.0.1:0").unwrap();
    let mut conn = Conn::connect(server.local_addr());
    assert_eq!(probe(&mut conn, "/readyz").0, 200);
    let mut stream = Stream::open(server.local_addr(), "/sse", "");
    let handle = server.shutdown_handle();
    handle.drain(Duration::from_secs(3));
    assert!(handle.is_draining());
    assert_eq!(probe(&mut conn, "/readyz"), (503, r#"{"status":"draining"}"#.into()));
    assert_eq!(probe(&mut conn, "/healthz").0, 200);
    // A stream asked for on that connection gets a retry and its end, not a 503.
    conn.send(&net::get("/sse", ""));
    let head = conn.read_head();
    assert_eq!(head.status, 200);
    let mut turned = Stream::from_head(conn, head);
    let items = turned.items(2);
    assert!(matches!(items.as_slice(), [OwnedItem::Retry(ms)] if (500..1500).contains(ms)), "{items:?}");
    // The open stream: its retry hint, then its end, within the window.
    let items = stream.items(1);
    assert!(matches!(items.as_slice(), [OwnedItem::Retry(ms)] if (500..1500).contains(ms)), "{items:?}");
    assert_eq!(stream.read_to_end(), Some(true), "the final chunk");
    // No new connection is taken.
    assert!(wait_until(Duration::from_secs(2), || std::net::TcpStream::connect(server.local_addr()).is_err()));
    server.wait().unwrap();
}

#[cfg(feature = "redis")]
#[test]
#[cfg_attr(not(has_redis_server), ignore = "needs redis-server (apt-get install redis-server)")]
fn readyz_is_503_while_redis_is_stopped_and_200_once_it_is_back_while_healthz_stays_200() {
    use redis_server::RedisServer;
    let mut redis = RedisServer::start();
    let server = Server::builder()
        .workers(2)
        .redis(ssehub::RedisConfig::new(&redis.url()))
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.local_addr();
    let mut conn = Conn::connect(addr);
    assert_eq!(probe(&mut conn, "/readyz"), (200, r#"{"status":"ready"}"#.into()));
    assert_eq!(probe(&mut conn, "/healthz").0, 200);
    redis.stop();
    let mut health = Vec::new();
    let down = wait_until(Duration::from_secs(10), || {
        health.push(probe(&mut conn, "/healthz").0);
        probe(&mut conn, "/readyz") == (503, r#"{"status":"backplane_down"}"#.into())
    });
    assert!(down, "readyz turns 503 once Redis is gone");
    // Still down a moment later, on a new connection too.
    assert_eq!(probe_at(addr, "/readyz").0, 503);
    redis.run();
    let back = wait_until(Duration::from_secs(15), || {
        health.push(probe(&mut conn, "/healthz").0);
        probe(&mut conn, "/readyz").0 == 200
    });
    assert!(back, "readyz turns 200 once Redis is back");
    health.push(probe(&mut conn, "/healthz").0);
    assert!(health.iter().all(|&s| s == 200), "healthz stays 200 throughout: {health:?}");
    server.shutdown();
}
