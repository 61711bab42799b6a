//! Streams served by the adapter for an `ssehub::Server`'s hub are counted as the server's own:
//! `client_count`, `Stats`, `ssehub_streams`, presence (`GET /channels/NAME` with the token's
//! `sub`), for as long as the body lives, whichever way it ends.

mod support;

use std::net::SocketAddr;

use axum::Router;
use ssehub::auth::{Algorithm, JwtConfig, JwtPolicy, Patterns, Verifier};
use ssehub::{Event, Server};
use ssehub_axum::SseHub;
use support::{PATIENCE, Reader, eventually, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &[u8] = b"a test secret of thirty-two bytes";
const PUBLISH_TOKEN: &str = "publisher-secret";

fn token(sub: &str) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let claims = serde_json::json!({"sub": sub, "exp": now + 600, "ssehub": {"subscribe": ["room-*"]}});
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET);
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap()
}

/// A server with presence on `/channels` (read with the publish token), and an axum app whose
/// `/sse` shares its hub, under the JWT policy (`news` public).
async fn setup() -> (Server, SseHub, SocketAddr) {
    let server = Server::builder()
        .workers(1)
        .presence("/channels")
        .publish_endpoint("/publish", PUBLISH_TOKEN)
        .bind("127.0.0.1:0")
        .unwrap();
    let verifier = Verifier::from_config(JwtConfig::hmac(Algorithm::HS256, SECRET)).unwrap();
    let policy = JwtPolicy::new(verifier).public(Patterns::parse(["news"]).unwrap());
    let hub = SseHub::builder().policy(policy).attach(server.broadcaster());
    let addr = serve(Router::new().route("/sse", hub.handler())).await;
    (server, hub, addr)
}

/// The server's `GET /channels/NAME`, as JSON.
async fn presence(server: SocketAddr, channel: &str) -> serde_json::Value {
    let mut sock = tokio::net::TcpStream::connect(server).await.unwrap();
    let req = format!(
        "GET /channels/{channel} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {PUBLISH_TOKEN}\r\nConnection: close\r\n\r\n"
    );
    sock.write_all(req.as_bytes()).await.unwrap();
    let mut text = String::new();
    tokio::time::timeout(PATIENCE, sock.read_to_string(&mut text)).await.unwrap().unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{text}");
    serde_json::from_str(body).unwrap()
}

fn shutdown(server: Server) -> tokio::task::JoinHandle<()> {
    tokio::task::spawn_blocking(move || server.shutdown())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adapter_streams_count_while_open_and_presence_names_their_subjects() {
    let (server, hub, addr) = setup().await;
    let b = server.broadcaster();
    let alice = format!("Authorization: Bearer {}", token("alice"));
    let bob = format!("Authorization: Bearer {}", token("bob"));
    let mut a1 = Reader::open(addr, "/sse?channel=room-1", &[&alice]).await;
    let a2 = Reader::open(addr, "/sse?channel=room-1&channel=room-2", &[&alice]).await;
    let b1 = Reader::open(addr, "/sse?channel=room-1", &[&bob]).await;
    let anonymous = Reader::open(addr, "/sse?channel=news", &[]).await;
    assert!([a1.status, a2.status, b1.status, anonymous.status].iter().all(|s| *s == 200));
    eventually("four streams counted", || b.client_count() == 4).await;
    assert_eq!(server.stats().streams, 4);
    assert!(server.metrics().lines().any(|l| l == "ssehub_streams 4"), "{}", server.metrics());
    let room = presence(server.local_addr(), "room-1").await;
    assert_eq!(room["subscribers"], 3, "{room}");
    assert_eq!(room["sub"], serde_json::json!(["alice", "bob"]), "{room}");
    assert_eq!(presence(server.local_addr(), "news").await["subscribers"], 1);
    // Counting takes nothing from the stream itself.
    hub.publish("room-1", Event::new("hi")).await.unwrap();
    a1.until(1).await;
    // Bob leaves; alice still has a stream on room-1 after one of hers goes.
    drop(b1);
    eventually("bob's stream given back", || b.client_count() == 3).await;
    drop(a1);
    eventually("one of alice's given back", || b.client_count() == 2).await;
    let room = presence(server.local_addr(), "room-1").await;
    assert_eq!((room["subscribers"].as_u64(), &room["sub"]), (Some(1), &serde_json::json!(["alice"])));
    drop((a2, anonymous));
    eventually("every stream given back", || b.client_count() == 0).await;
    assert_eq!(server.stats().streams, 0);
    assert_eq!(presence(server.local_addr(), "room-2").await["subscribers"], 0);
    shutdown(server).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_counts_no_stream_and_is_counted_as_the_servers_are() {
    let (server, _hub, addr) = setup().await;
    let refused = Reader::open(addr, "/sse?channel=room-1", &[]).await;
    assert_eq!(refused.status, 401);
    let stats = server.stats();
    assert_eq!(stats.streams, 0);
    assert!(stats.streams_refused.contains(&("no_token", 1)), "{:?}", stats.streams_refused);
    shutdown(server).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_never_polled_gives_its_count_back_when_dropped() {
    let (server, hub, _addr) = setup().await;
    let req = axum::http::Request::get("/sse?channel=news").body(axum::body::Body::empty()).unwrap();
    let response = hub.stream(req).await;
    assert_eq!(response.status(), 200);
    assert_eq!(server.broadcaster().client_count(), 1);
    drop(response);
    assert_eq!(server.broadcaster().client_count(), 0);
    assert_eq!(presence(server.local_addr(), "news").await["subscribers"], 0);
    shutdown(server).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_mid_stream_is_given_back_after_its_last_read() {
    let (server, hub, addr) = setup().await;
    let b = server.broadcaster();
    let mut readers = Vec::new();
    for _ in 0..8 {
        readers.push(Reader::open(addr, "/sse?channel=news", &[]).await);
    }
    eventually("eight streams counted", || b.client_count() == 8).await;
    hub.publish("news", Event::new("one")).await.unwrap();
    for r in &mut readers {
        r.until(1).await;
    }
    // Gone without a word (the socket closed while its stream was open), then a publish.
    readers.truncate(3);
    hub.publish("news", Event::new("two")).await.unwrap();
    eventually("five gone", || b.client_count() == 3).await;
    drop(readers);
    eventually("all gone", || b.client_count() == 0).await;
    shutdown(server).await.unwrap();
}
