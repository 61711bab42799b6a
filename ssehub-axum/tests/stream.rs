//! The adapter over real sockets: an axum app on 127.0.0.1:0 with `/sse` from `SseHub`, read
//! by raw HTTP clients.

mod support;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use ssehub::hub::Target;
use ssehub::hub::local::LocalHub;
use ssehub::{Event, Retention};
use ssehub_axum::SseHub;
use support::{Reader, eventually, serve};

fn app(hub: &SseHub) -> Router {
    Router::new().route("/hello", get(|| async { "hello" })).route("/sse", hub.handler())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_the_streams_of_their_channels_beside_the_apps_own_routes() {
    let local = LocalHub::new(Retention::default());
    let hub = SseHub::builder().local_hub(local.clone());
    let addr = serve(app(&hub)).await;
    let mut a = Reader::open(addr, "/sse?channel=a", &[]).await;
    let mut b = Reader::open(addr, "/sse?channel=b&channel=a", &[]).await;
    let mut default = Reader::open(addr, "/sse", &[]).await;
    assert_eq!(a.status, 200);
    assert!(a.head.to_ascii_lowercase().contains("content-type: text/event-stream"), "{}", a.head);
    assert!(a.head.to_ascii_lowercase().contains("cache-control: no-cache"), "{}", a.head);
    eventually("three subscribers", || local.subscribers() == 3).await;
    hub.publish("a", Event::new("to a")).await.unwrap();
    hub.publish("b", Event::new("to b")).await.unwrap();
    hub.publish_to(Target::channels(["a", "b"]), Event::new("to a and b")).await.unwrap();
    hub.publish(ssehub::hub::DEFAULT_CHANNEL, Event::new("to default")).await.unwrap();
    hub.send(Event::new("to all")).await.unwrap();
    assert_eq!(
        a.until(3).await.iter().map(|e| e.data.as_str()).collect::<Vec<_>>(),
        ["to a", "to a and b", "to all"]
    );
    b.until(4).await;
    assert_eq!(b.data(), ["to a", "to b", "to a and b", "to all"], "once each, in order");
    default.until(2).await;
    assert_eq!(default.data(), ["to default", "to all"]);
    assert!(a.events.iter().all(|e| !e.id.is_empty()), "the hub gives every event an id");
    let hello = Reader::open(addr, "/hello", &[]).await;
    assert_eq!(hello.status, 200);
    drop((a, b, default));
    eventually("streams gone, unsubscribed", || local.subscribers() == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_event_id_replays_what_was_missed_and_an_unknown_one_is_a_gap() {
    let local = LocalHub::new(Retention { max_events: 3, ..Retention::default() });
    let hub = SseHub::builder().local_hub(local.clone());
    let addr = serve(app(&hub)).await;
    let mut ids = Vec::new();
    for n in 1..=4 {
        ids.push(hub.publish("room", Event::new(n.to_string())).await.unwrap().id.unwrap());
    }
    // From 2: 3 and 4 were missed, then live.
    let mut r = Reader::open(addr, "/sse?channel=room", &[&format!("Last-Event-ID: {}", ids[1])]).await;
    r.until(2).await;
    hub.publish("room", Event::new("5")).await.unwrap();
    r.until(3).await;
    assert_eq!(r.data(), ["3", "4", "5"]);
    assert_eq!(
        r.events[2].id,
        local.with_hub(|h| h.log("room").unwrap().get(2).unwrap().id.clone().unwrap().to_string())
    );
    // From 1: evicted (3 kept), so a gap first, echoing the id, then what is kept.
    let mut g = Reader::open(addr, "/sse?channel=room", &[&format!("Last-Event-ID: {}", ids[0])]).await;
    g.until(4).await;
    assert_eq!(g.data(), [format!("gap:{}", ids[0]).as_str(), "3", "4", "5"]);
    // The polyfills' query parameter is read as the header is.
    let mut q = Reader::open(addr, &format!("/sse?channel=room&lastEventId={}", ids[3]), &[]).await;
    q.until(1).await;
    assert_eq!(q.data(), ["5"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_cut_off_while_another_gets_everything() {
    let local = LocalHub::new(Retention { max_events: 16, ..Retention::default() });
    let hub = SseHub::builder().max_queue_bytes(64 * 1024).local_hub(local.clone());
    let addr = serve(app(&hub)).await;
    // A small receive buffer, so that the kernel holds little for the client that does not read.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut slow = Reader::open_on(socket.connect(addr).await.unwrap(), "/sse", &[]).await;
    let mut fast = Reader::open(addr, "/sse", &[]).await;
    eventually("two subscribers", || local.subscribers() == 2).await;
    let reading = tokio::spawn(async move {
        while fast.read_some().await {
            if fast.events.last().is_some_and(|e| e.data == "end") {
                break;
            }
        }
        fast
    });
    let payload = "x".repeat(16 * 1024);
    let mut published = 0;
    // Until the slow client's stream is gone (bounded: at most 64 MiB).
    while local.subscribers() == 2 {
        assert!(published < 4096, "the slow client was never cut off");
        hub.send(Event::new(payload.clone())).await.unwrap();
        published += 1;
        // Bursts within the bound: the client that reads keeps up.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    hub.send(Event::new("end")).await.unwrap();
    let fast = reading.await.unwrap();
    assert_eq!(fast.events.len(), published + 1, "the client that reads got every event");
    assert!(fast.events[..published].iter().all(|e| e.data.len() == payload.len()));
    // The slow one, reading now, finds its stream ended, having had less than everything.
    while slow.read_some().await {}
    assert!(slow.closed && slow.events.len() < published, "{} of {published}", slow.events.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_and_channel_refusals_answer_with_their_status() {
    let hub = SseHub::builder()
        .verify(|req| match req.header("x-key") {
            Some("open sesame") => Ok(()),
            _ => Err(ssehub::Response::error(401, "who are you?").header("WWW-Authenticate", "Key")),
        })
        .local(Retention::default());
    let addr = serve(app(&hub)).await;
    let refused = Reader::open(addr, "/sse", &[]).await;
    assert_eq!(refused.status, 401);
    assert!(refused.head.to_ascii_lowercase().contains("www-authenticate: key"), "{}", refused.head);
    let ok = Reader::open(addr, "/sse", &["X-Key: open sesame"]).await;
    assert_eq!(ok.status, 200);
    let bad = Reader::open(addr, "/sse?channel=", &["X-Key: open sesame"]).await;
    assert_eq!(bad.status, 400, "ssehub's channel rules");
    let many: String = (0..33).map(|i| format!("channel=c{i}&")).collect();
    let too_many = Reader::open(addr, &format!("/sse?{many}"), &["X-Key: open sesame"]).await;
    assert_eq!(too_many.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jwt_policy_decides_who_reads_which_channel() {
    use ssehub::auth::{Algorithm, JwtConfig, JwtPolicy, Patterns, Verifier};
    const SECRET: &[u8] = b"a test secret of thirty-two bytes";
    let verifier = Verifier::from_config(JwtConfig::hmac(Algorithm::HS256, SECRET)).unwrap();
    let policy = JwtPolicy::new(verifier).public(Patterns::parse(["news"]).unwrap());
    let hub = SseHub::builder().policy(policy).local(Retention::default());
    let addr = serve(app(&hub)).await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET);
    let claims = serde_json::json!({"exp": now + 600, "ssehub": {"subscribe": ["room-*"]}});
    let token = jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap();
    let bearer = format!("Authorization: Bearer {token}");
    assert_eq!(Reader::open(addr, "/sse?channel=news", &[]).await.status, 200, "public");
    let anonymous = Reader::open(addr, "/sse?channel=room-1", &[]).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(Reader::open(addr, "/sse?channel=lobby", &[&bearer]).await.status, 403);
    let mut room = Reader::open(addr, "/sse?channel=room-1", &[&bearer]).await;
    assert_eq!(room.status, 200);
    tokio::time::sleep(Duration::from_millis(50)).await;
    hub.publish("room-1", Event::new("private")).await.unwrap();
    room.until(1).await;
    assert_eq!(room.data(), ["private"]);
    // The query token (`?access_token=`) is one of the policy's sources too.
    let query = Reader::open(addr, &format!("/sse?channel=room-2&access_token={token}"), &[]).await;
    assert_eq!(query.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_stream_gets_keep_alive_comments() {
    let hub = SseHub::builder().keep_alive(Some(Duration::from_millis(50))).local(Retention::default());
    let addr = serve(app(&hub)).await;
    let mut r = Reader::open(addr, "/sse", &[]).await;
    // `:ok`, then at least two keep-alive comments, and never an event.
    while r.bytes < b":ok\n\n:\n\n:\n\n".len() {
        assert!(r.read_some().await);
    }
    assert!(r.events.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attached_to_a_server_the_app_and_the_servers_own_clients_share_its_hub() {
    let server = ssehub::Server::builder().workers(1).bind("127.0.0.1:0").unwrap();
    let hub = SseHub::builder().attach(server.broadcaster());
    let addr = serve(app(&hub)).await;
    let mut on_app = Reader::open(addr, "/sse?channel=a", &[]).await;
    let mut on_server = Reader::open(server.local_addr(), "/sse?channel=a", &[]).await;
    // The app's stream counts as the server's own.
    eventually("the server's stream and the app's", || server.broadcaster().client_count() == 2).await;
    let first = server.broadcaster().publish("a", Event::new("from the server")).unwrap().id.unwrap();
    hub.publish("a", Event::new("from the app")).await.unwrap();
    on_app.until(2).await;
    on_server.until(2).await;
    assert_eq!(on_app.data(), ["from the server", "from the app"]);
    assert_eq!(on_server.data(), on_app.data());
    // Replay from the server's logs.
    let mut resumed = Reader::open(addr, "/sse?channel=a", &[&format!("Last-Event-ID: {first}")]).await;
    resumed.until(1).await;
    assert_eq!(resumed.data(), ["from the app"]);
    drop((on_app, on_server, resumed));
    tokio::task::spawn_blocking(move || server.shutdown()).await.unwrap();
}
