//! Presence on real sockets: `GET /channels[/NAME]` counts and lists subjects exactly as
//! streams come and go, only for holders of a token that may publish there; join and leave
//! events on `$presence/NAME`, once each, a reconnect within the debounce neither; and across
//! two `ssehub serve` nodes on a real `redis-server`, counts exact, a killed node uncounted
//! within seconds and its subjects' leaves once (more in `presence_cluster.rs`).
#![cfg(feature = "jwt")]

mod net;
mod redis_server;
mod serve_child;
mod tokens;

use std::time::Duration;

use net::{Conn, Stream, TIMEOUT, get, wait_until};
use ssehub::auth::{Algorithm, JwtConfig, JwtPolicy, Patterns, Verifier};
use ssehub::{OwnedItem, Server};
use tokens::{SECRET, exp, mint};

fn reader(sub: &str) -> String {
    mint(serde_json::json!({"sub": sub, "exp": exp(), "ssehub": {"subscribe": ["room-*"]}}))
}

fn writer() -> String {
    mint(serde_json::json!({"sub": "app", "exp": exp(), "ssehub": {"publish": ["room-*"]}}))
}

fn bearer(token: &str) -> String {
    format!("Authorization: Bearer {token}\r\n")
}

/// `GET path` with `extra` headers: the status and the body.
fn ask(addr: std::net::SocketAddr, path: &str, extra: &str) -> (u16, String) {
    let mut conn = Conn::connect(addr);
    conn.send(&get(path, extra));
    let (head, body) = conn.read_response();
    (head.status, String::from_utf8(body).unwrap())
}

fn presence(addr: std::net::SocketAddr, channel: &str) -> serde_json::Value {
    let (status, body) = ask(addr, &format!("/channels/{channel}"), &bearer(&writer()));
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn subscribers(addr: std::net::SocketAddr, channel: &str) -> u64 {
    presence(addr, channel)["subscribers"].as_u64().unwrap()
}

fn events(items: &[OwnedItem]) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| match i {
            OwnedItem::Event { event_type, data, .. } => Some(format!("{event_type} {data}")),
            _ => None,
        })
        .collect()
}

#[test]
fn counts_subjects_and_who_may_see_them() {
    let verifier = Verifier::from_config(JwtConfig::hmac(Algorithm::HS256, SECRET)).unwrap();
    let policy = JwtPolicy::new(verifier).public(Patterns::parse(["lobby"]).unwrap());
    let server = Server::builder()
        .policy(policy)
        .publish_path("/publish")
        .presence("/channels")
        .presence_events(true)
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.local_addr();
    let mut watcher = Stream::open(addr, "/sse?channel=$presence/room-1", &bearer(&reader("watcher")));
    let a1 = Stream::open(addr, "/sse?channel=room-1", &bearer(&reader("alice")));
    let a2 = Stream::open(addr, "/sse?channel=room-1&channel=room-2", &bearer(&reader("alice")));
    let b = Stream::open(addr, "/sse?channel=room-1", &bearer(&reader("bob")));
    let anon = Stream::open(addr, "/sse?channel=lobby", "");
    assert!(wait_until(TIMEOUT, || server.broadcaster().client_count() == 5));
    assert_eq!(
        presence(addr, "room-1"),
        serde_json::json!({"channel": "room-1", "subscribers": 3, "sub": ["alice", "bob"]})
    );
    assert_eq!(subscribers(addr, "room-2"), 1);
    assert_eq!(subscribers(addr, "room-9"), 0, "no one there: 0, not 404");
    // The list holds the channels the token may publish to: not `lobby`, nor `$presence/...`.
    let (status, body) = ask(addr, "/channels", &bearer(&writer()));
    assert_eq!(status, 200);
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    let names: Vec<_> = list["channels"].as_array().unwrap().iter().map(|c| c["channel"].clone()).collect();
    assert_eq!(names, [serde_json::json!("room-1"), serde_json::json!("room-2")]);
    // Who may not see.
    assert_eq!(ask(addr, "/channels/room-1", "").0, 401);
    assert_eq!(ask(addr, "/channels/room-1", &bearer(&reader("alice"))).0, 403, "subscribe-only");
    assert_eq!(
        ask(addr, "/channels/lobby", &bearer(&writer())),
        (403, r#"{"error":"forbidden","channel":"lobby"}"#.into())
    );
    // Joins came once per subject (alice's second stream is no join).
    let got = events(&watcher.items(2));
    assert_eq!(got, [r#"join {"sub":"alice"}"#, r#"join {"sub":"bob"}"#]);
    drop(a1);
    drop(anon);
    assert!(wait_until(TIMEOUT, || subscribers(addr, "room-1") == 2));
    // Alice reconnects within the debounce: neither a leave nor a join.
    drop(a2);
    assert!(wait_until(TIMEOUT, || subscribers(addr, "room-1") == 1));
    let a3 = Stream::open(addr, "/sse?channel=room-1", &bearer(&reader("alice")));
    drop(b);
    assert!(wait_until(TIMEOUT, || presence(addr, "room-1")["sub"] == serde_json::json!(["alice"])));
    let got = events(&watcher.items_within(1, Duration::from_secs(6)));
    assert_eq!(got, [r#"leave {"sub":"bob"}"#], "bob's leave, a debounce later; none for alice");
    watcher.read_for(Duration::from_millis(300));
    assert!(events(&watcher.items_within(1, Duration::from_millis(10))).is_empty());
    drop(a3);
    server.shutdown();
}

/// `ssehub serve` on `redis` with presence events; its address.
#[cfg(feature = "redis")]
fn node(redis: &redis_server::RedisServer) -> (std::process::Child, std::net::SocketAddr) {
    let secret = std::str::from_utf8(SECRET).unwrap();
    let args = ["--workers", "2", "--presence-events", "--redis", &redis.url(), "--jwt-secret", secret];
    serve_child::serve(&args)
}

#[cfg(feature = "redis")]
#[test]
#[cfg_attr(not(has_redis_server), ignore = "needs redis-server (apt-get install redis-server)")]
fn across_two_nodes_on_redis() {
    let redis = redis_server::RedisServer::start();
    let (mut one, a) = node(&redis);
    let (mut two, b) = node(&redis);
    let mut watcher = Stream::open(a, "/sse?channel=$presence/room-1", &bearer(&reader("watcher")));
    let _a1 = Stream::open(a, "/sse?channel=room-1", &bearer(&reader("alice")));
    let _a2 = Stream::open(a, "/sse?channel=room-1", &bearer(&reader("bob")));
    let carol = Stream::open(b, "/sse?channel=room-1", &bearer(&reader("carol")));
    let _dave = Stream::open(b, "/sse?channel=room-1", &bearer(&reader("dave")));
    let within = Duration::from_secs(5);
    for node in [a, b] {
        assert!(
            wait_until(within, || presence(node, "room-1")
                == serde_json::json!({"channel": "room-1", "subscribers": 4, "sub": ["alice", "bob", "carol", "dave"]})),
            "{:?}",
            presence(node, "room-1")
        );
    }
    // Joins on either node reach a watcher on one, once each.
    let mut got = events(&watcher.items(4));
    got.sort();
    assert_eq!(
        got,
        [
            r#"join {"sub":"alice"}"#,
            r#"join {"sub":"bob"}"#,
            r#"join {"sub":"carol"}"#,
            r#"join {"sub":"dave"}"#
        ]
    );
    // A client leaves node two: counted out everywhere, its leave once.
    drop(carol);
    assert!(wait_until(within, || subscribers(a, "room-1") == 3));
    assert_eq!(events(&watcher.items_within(1, Duration::from_secs(6))), [r#"leave {"sub":"carol"}"#]);
    // Node two is killed (no goodbye): node one stops counting it once its heartbeat expires.
    two.kill().unwrap();
    two.wait().unwrap();
    let killed = std::time::Instant::now();
    assert!(wait_until(Duration::from_secs(6), || subscribers(a, "room-1") == 2));
    assert!(killed.elapsed() < Duration::from_secs(5), "{:?}", killed.elapsed());
    assert_eq!(presence(a, "room-1")["sub"], serde_json::json!(["alice", "bob"]));
    // Dave was only on node two: his leave comes once, a debounce after node two counts as
    // dead (published by node one, the node that reaps it).
    assert_eq!(events(&watcher.items_within(1, Duration::from_secs(10))), [r#"leave {"sub":"dave"}"#]);
    watcher.read_for(Duration::from_millis(1500));
    assert!(events(&watcher.items_within(1, Duration::from_millis(10))).is_empty(), "nothing twice");
    one.kill().unwrap();
    one.wait().unwrap();
}
