//! The adapter on the Redis backplane, against a real `redis-server` of the test's own: a
//! standalone ssehub node (a `Server` with its own hub and backplane threads, serving its own
//! clients and its publish endpoint) and the axum application (its `SseHub` attached to a
//! loopback-only `Server` on the same Redis) share channels both ways, and a client moving from
//! the node to the app resumes by `Last-Event-ID` from Redis.

#![cfg(feature = "redis")]

#[path = "../../tests/redis_server/mod.rs"]
mod redis_server;
mod support;

use axum::Router;
use redis_server::RedisServer;
use ssehub::{Event, RedisConfig, Server};
use ssehub_axum::SseHub;
use support::{PATIENCE, Reader, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "t0ken";

/// `POST /publish?channel=...` on the node; the id it answered.
async fn post(node: std::net::SocketAddr, channel: &str, data: &str) -> String {
    let mut sock = tokio::net::TcpStream::connect(node).await.unwrap();
    let req = format!(
        "POST /publish?channel={channel} HTTP/1.1\r\nHost: n\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{data}",
        data.len()
    );
    sock.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(PATIENCE, sock.read_to_string(&mut out)).await.unwrap().unwrap();
    assert!(out.starts_with("HTTP/1.1 201"), "{out}");
    let body = &out[out.find("\r\n\r\n").unwrap() + 4..];
    body.strip_prefix("{\"id\":\"").and_then(|b| b.strip_suffix("\"}")).expect("{\"id\":...}").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(has_redis_server), ignore = "needs redis-server (apt-get install redis-server)")]
async fn a_standalone_node_and_the_axum_app_share_channels_through_redis() {
    let redis = RedisServer::start();
    let node = Server::builder()
        .workers(1)
        .publish_endpoint("/publish", TOKEN)
        .redis(RedisConfig::new(&redis.url()))
        .bind("127.0.0.1:0")
        .unwrap();
    let backing =
        Server::builder().workers(1).redis(RedisConfig::new(&redis.url())).bind("127.0.0.1:0").unwrap();
    let hub = SseHub::builder().attach(backing.broadcaster());
    let addr = serve(Router::new().route("/sse", hub.handler())).await;

    // Both streams answer 200 only once the backplane follows their channel: live from there.
    let mut on_app = Reader::open(addr, "/sse?channel=room", &[]).await;
    let mut on_node = Reader::open(node.local_addr(), "/sse?channel=room", &[]).await;
    assert_eq!((on_app.status, on_node.status), (200, 200));

    // The node's publish reaches the app's client...
    let first = post(node.local_addr(), "room", "from the node").await;
    on_app.until(1).await;
    assert_eq!((on_app.data(), on_app.events[0].id.as_str()), (vec!["from the node"], first.as_str()));
    // ...and the app's publish the node's client (and the app's own), with Redis's entry id.
    let second = hub.publish("room", Event::new("from the app")).await.unwrap().id.unwrap();
    on_node.until(2).await;
    assert_eq!(on_node.data(), ["from the node", "from the app"]);
    assert_eq!(on_node.events[1].id, *second);
    on_app.until(2).await;
    assert_eq!(on_app.data(), ["from the node", "from the app"]);

    // A client of the node that moves to the app resumes there from Redis: what it missed, once.
    let third = post(node.local_addr(), "room", "while moving").await;
    let mut moved =
        Reader::open(addr, "/sse?channel=other&channel=room", &[&format!("Last-Event-ID: {first}")]).await;
    moved.until(2).await;
    assert_eq!(moved.data(), ["from the app", "while moving"]);
    assert_eq!(moved.events[1].id, third);
    hub.publish("other", Event::new("live on other")).await.unwrap();
    moved.until(3).await;
    assert_eq!(moved.data()[2], "live on other");
    drop((on_app, on_node, moved));
    tokio::task::spawn_blocking(move || {
        node.shutdown();
        backing.shutdown();
    })
    .await
    .unwrap();
}
