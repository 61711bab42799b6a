//! Nodes sharing channels through Redis Streams, on real sockets and a real `redis-server`
//! (see `redis_server/mod.rs`): delivery across nodes in order, a client moving between nodes
//! with `Last-Event-ID`, events on several channels delivered once, trim points announced as
//! gaps, Redis lost and back, and Redis unreachable at start.

#![cfg(feature = "redis")]

mod net;
mod redis_server;

use std::process::Command;
use std::time::{Duration, Instant};

use net::{Conn, Stream, TIMEOUT, data_of, ids_of, post, wait_until};
use redis_server::RedisServer;
use ssehub::backplane::StreamId;
use ssehub::hub::Retention;
use ssehub::{OwnedItem, RedisConfig, Server, ServerBuilder, ServerError};

const TOKEN: &str = "t0ken";

fn builder(redis: &RedisServer) -> ServerBuilder {
    Server::builder()
        .workers(2)
        .keep_alive(Some(Duration::from_millis(200)))
        .publish_endpoint("/publish", TOKEN)
        .redis(RedisConfig::new(&redis.url()))
}

fn node(redis: &RedisServer) -> Server {
    builder(redis).bind("127.0.0.1:0").expect("a node")
}

/// Publishes `data` through `server`'s endpoint; returns the id it was given.
fn publish(server: &Server, query: &str, data: &str) -> String {
    let mut conn = Conn::connect(server.local_addr());
    let (status, body) = post(&mut conn, &format!("/publish{query}"), Some(TOKEN), data.as_bytes());
    assert_eq!(status, 201, "{body}");
    let id = body.strip_prefix("{\"id\":\"").and_then(|b| b.strip_suffix("\"}")).expect("{\"id\":...}");
    assert!(id.parse::<StreamId>().is_ok(), "a stream entry id: {id}");
    id.to_owned()
}

/// A stream on `node` at `path` that resumes after `last` (`Last-Event-ID`).
fn resume(node: &Server, path: &str, last: &str) -> Stream {
    Stream::open(node.local_addr(), path, &format!("Last-Event-ID: {last}\r\n"))
}

/// Reads each stream a while longer: nothing more may come (no duplicate, nothing stray).
fn assert_nothing_more(streams: &mut [&mut Stream]) {
    for s in streams {
        s.read_for(Duration::from_millis(200));
        assert!(s.items_within(1, Duration::from_millis(10)).is_empty(), "nothing more, no duplicate");
    }
}

/// The data of each event, prefixed with its type when that is not `message`.
fn typed(items: &[OwnedItem]) -> Vec<String> {
    items
        .iter()
        .filter_map(|item| match item {
            OwnedItem::Event { event_type, data, .. } if event_type == "message" => Some(data.clone()),
            OwnedItem::Event { event_type, data, .. } => Some(format!("{event_type}:{data}")),
            OwnedItem::Retry(_) => None,
        })
        .collect()
}

fn with_redis(test: impl FnOnce(&mut RedisServer)) {
    test(&mut RedisServer::start());
}

/// Two nodes on one Redis, shut down after the test.
fn with_two_nodes(test: impl FnOnce(&mut RedisServer, &Server, &Server)) {
    with_redis(|redis| {
        let (a, b) = (node(redis), node(redis));
        test(redis, &a, &b);
        a.shutdown();
        b.shutdown();
    });
}

#[test]
#[cfg_attr(not(has_redis_server), ignore = "needs redis-server (apt-get install redis-server)")]
fn a_publish_to_one_node_reaches_the_clients_of_every_node_in_order() {
    with_two_nodes(|_, a, b| {
        let mut on_a = Stream::open(a.local_addr(), "/sse?channel=room", "");
        let mut on_b = Stream::open(b.local_addr(), "/sse?channel=room", "");
        let mut elsewhere = Stream::open(b.local_addr(), "/sse?channel=other", "");
        let mut ids = Vec::new();
        for n in 0..20 {
            ids.push(publish(a, "?channel=room&event=greet", &format!("hello {n}\nline 2")));
        }
        let sorted = {
            let mut s: Vec<StreamId> = ids.iter().map(|i| i.parse().unwrap()).collect();
            s.sort();
            s.dedup();
            s.iter().map(|i| i.to_string()).collect::<Vec<_>>()
        };
        assert_eq!(sorted, ids, "ids increase in publish order");
        for stream in [&mut on_a, &mut on_b] {
            let items = stream.items_within(20, TIMEOUT);
            assert_eq!(ids_of(&items), ids);
            assert!(items.iter().enumerate().all(|(n, item)| *item
                == OwnedItem::Event {
                    event_type: "greet".into(),
                    data: format!("hello {n}\nline 2"),
                    last_event_id: ids[n].clone(),
                }));
        }
        assert_nothing_more(&mut [&mut elsewhere]); // another channel
    });
}

#[test]
#[cfg_attr(not(has_redis_server), ignore = "needs redis-server (apt-get install redis-server)")]
fn a_client_that_moves_to_another_node_gets_exactly_what_it_missed() {
    with_two_nodes(|_, a, b| {
        let mut first = Stream::open(a.local_addr(), "/sse?channel=c", "");
        let ids: Vec<String> = (1..=5).map(|n| publish(a, "?channel=c", &n.to_string())).collect();
        assert_eq!(data_of(&first.items_within(5, TIMEOUT)), ["1", "2", "3", "4", "5"]);
        drop(first); // node A's client leaves after event 5...
        let more: Vec<String> = (6..=8).map(|n| publish(a, "?channel=c", &n.to_string())).collect();

        // ...and comes back to node B, which does not read channel c yet: Redis answers.
        let mut moved = resume(b, "/sse?channel=c", &ids[4]);
        assert_eq!(data_of(&moved.items_within(3, TIMEOUT)), ["6", "7", "8"]);
        let live = publish(b, "?channel=c", "9");
        assert_eq!(moved.items_within(1, TIMEOUT), [net::event("message", "9", &live)], "then live, once");

        // B now follows c, but only since event 8: an older id is still answered from Redis.
        let mut older = resume(b, "/sse?channel=c", &ids[2]);
        assert_eq!(data_of(&older.items_within(6, TIMEOUT)), ["4", "5", "6", "7", "8", "9"]);
        // From an id B delivered itself, its own log answers; the seam is exact either way.
        let mut recent = resume(b, "/sse?channel=c", &live);
        let mut stale = resume(a, "/sse?channel=c", &more[2]);
        let last = publish(a, "?channel=c", "10");
        let ten = net::event("message", "10", &last);
        for s in [&mut moved, &mut older, &mut recent] {
            assert_eq!(s.items_within(1, TIMEOUT), std::slice::from_ref(&ten));
        }
        assert_eq!(data_of(&stale.items_within(2, TIMEOUT)), ["9", "10"]);
        assert_nothing_more(&mut [&mut moved, &mut older, &mut recent, &mut stale]);
    });
}

#[test]
#[cfg_attr(not(has_redis_server), ignore = "needs redis-server (apt-get install redis-server)")]
fn many_resumes_at_once_on_channels_a_node_does_not_follow_each_get_exactly_what_they_missed() {
    // What a drain elsewhere sends to a node: hundreds of clients at once, each resuming on
    // channels this node does not read yet (answered in batches, several joins to a pipeline).
    with_two_nodes(|_, a, b| {
        const CHANNELS: usize = 30;
        const CLIENTS: usize = 150;
        let mut ids: Vec<Vec<String>> = vec![Vec::new(); CHANNELS];
        for round in 0..3 {
            for (c, list) in ids.iter_mut().enumerate() {
                list.push(publish(a, &format!("?channel=c{c}"), &format!("{c}.{round}")));
            }
        }
        // Client n reads channel n % CHANNELS (five clients a channel) and saw its first event.
        let mut conns: Vec<Conn> = (0..CLIENTS)
            .map(|n| {
                let c = n % CHANNELS;
                let mut conn = Conn::connect(b.local_addr());
                conn.send(&net::get(
                    &format!("/sse?channel=c{c}"),
                    &format!("Last-Event-ID: {}\r\n", ids[c][0]),
                ));
                conn
            })
            .collect();
        let mut streams: Vec<Stream> = conns
            .drain(..)
            .map(|mut conn| {
                let head = conn.read_head();
                assert_eq!(head.status, 200, "{head:?}");
                Stream::from_head(conn, head)
            })
            .collect();
        for (n, stream) in streams.iter_mut().enumerate() {
            let c = n % CHANNELS;
            let missed = [format!("{c}.1"), format!("{c}.2")];
            assert_eq!(data_of(&stream.items_within(2, TIMEOUT)), missed, "client {n}");
        }
        // Then live, once each: the seam between replay and live reading is exact for all.
        let live: Vec<String> =
            (0..CHANNELS).map(|c| publish(a, &format!("?channel=c{c}"), "live")).collect();
        for (n, stream) in streams.iter_mut().enumerate() {
            let c = n % CHANNELS;
            assert_eq!(
                stream.items_within(1, TIMEOUT),
                [net::event("message", "live", &live[c])],
                "client {n}"
            );
        }
        let mut refs: Vec<&mut Stream> = streams.iter_mut().step_by(15).collect();
        assert_nothing_more(&mut refs);
    });
}

#[test]
#[cfg_attr(not(has_redis_server), ignore = "needs redis-server (apt-get install redis-server)")]
fn a_node_that_stops_mid_stream_loses_nothing_for_its_clients() {
    with_redis(|redis| {
        let (a, b) = (node(redis), node(redis));
        let mut on_a = Stream::open(a.local_addr(), "/sse?channel=k", "");
        let first = publish(&b, "?channel=k", "before");
        assert_eq!(ids_of(&on_a.items_within(1, TIMEOUT)), std::slice::from_ref(&first));
        a.shutdown(); // the stream ends with the node
        assert!(on_a.closes_within(TIMEOUT));
        let missed = publish(&b, "?channel=k", "while away");
        let mut back = resume(&b, "/sse?channel=k", &first);
        assert_eq!(back.items_within(1, TIMEOUT), [net::event("message", "while away", &missed)]);
        b.shutdown();
    });
}

#[test]
#[cfg_attr(not(has_redis_server), ignore = "needs redis-server (apt-get install redis-server)")]
fn an_event_for_several_channels_reaches_a_client_of_several_once() {
    with_two_nodes(|_, a, b| {
        let mut both = Stream::open(b.local_addr(), "/sse?channel=x&channel=y", "");
        let x = publish(a, "?channel=x", "x only");
        let xy = publish(a, "?channel=x&channel=y", "both");
        let y = publish(a, "?channel=y", "y only");
        let items = both.items_within(3, TIMEOUT);
        assert_eq!(data_of(&items), ["x only", "both", "y only"]);
        assert_eq!(ids_of(&items), [x.clone(), xy.clone(), y.clone()]);
        // One Last-Event-ID resumes both channels, on the other node too.
        let mut again = resume(a, "/sse?channel=y&channel=x", &x);
        assert_eq!(ids_of(&again.items_within(2, TIMEOUT)), [xy, y]);
        assert_nothing_more(&mut [&mut both, &mut again]);
    });
}

#[test]
#[cfg_attr(not(has_redis_server), ignore = "needs redis-server (apt-get install redis-server)")]
fn a_broadcaster_publishes_through_redis() {
    with_two_nodes(|_, a, b| {
        let mut on_b = Stream::open(b.local_addr(), "/sse", "");
        let mut on_a = Stream::open(a.local_addr(), "/sse?channel=news", "");
        let hub = a.broadcaster();
        let to_all = hub.send(ssehub::Event::new("to every stream").event("all")).unwrap();
        assert_eq!(to_all, 1, "streams open on this node");
        let published = hub.publish("news", ssehub::Event::new("news only").id("ignored")).unwrap();
        let id = published.id.as_deref().unwrap();
        assert!(id.parse::<StreamId>().is_ok(), "the entry id replaces the event's: {id}");
        assert_eq!(typed(&on_b.items_within(1, TIMEOUT)), ["all:to every stream"]);
        let items = on_a.items_within(2, TIMEOUT);
        assert_eq!(typed(&items), ["all:to every stream", "news only"]);
        assert_eq!(ids_of(&items)[1], id);
    });
}

#[test]
#[cfg_attr(not(has_redis_server), ignore = "needs redis-server (apt-get install redis-server)")]
fn resuming_from_before_the_trim_point_or_from_an_unknown_id_announces_a_gap() {
    with_redis(|redis| {
        let retention = Retention { max_events: 3, ..Retention::default() };
        let a = builder(redis).retention(retention).bind("127.0.0.1:0").unwrap();
        let ids: Vec<String> = (1..=6).map(|n| publish(&a, "?channel=g", &n.to_string())).collect();
        let open = |last: &str| resume(&a, "/sse?channel=g", last);
        let mut trimmed = open(&ids[0]);
        let items = trimmed.items_within(4, TIMEOUT);
        assert_eq!(typed(&items), [format!("gap:{}", ids[0]), "4".into(), "5".into(), "6".into()]);
        let mut exact = open(&ids[2]);
        assert_eq!(data_of(&exact.items_within(3, TIMEOUT)), ["4", "5", "6"], "3 was trimmed, but seen");
        let mut unknown = open("42");
        assert_eq!(typed(&unknown.items_within(4, TIMEOUT)), ["gap:42", "4", "5", "6"]);
        // An id past the newest one given out (here the largest there is, which Redis must not
        // be asked to read after) cannot be placed: a gap, as on a single node.
        let largest = "18446744073709551615-18446744073709551615";
        let mut future = open(largest);
        assert_eq!(
            typed(&future.items_within(4, TIMEOUT)),
            [format!("gap:{largest}"), "4".into(), "5".into(), "6".into()]
        );
        let next = publish(&a, "?channel=g", "7");
        assert_eq!(future.items_within(1, TIMEOUT), [net::event("message", "7", &next)]);
        let mut ahead = open(&format!("{}-0", u64::MAX / 2));
        assert_eq!(typed(&ahead.items_within(1, TIMEOUT))[0], format!("gap:{}-0", u64::MAX / 2));
        a.shutdown();
    });
}

#[test]
#[cfg_attr(not(has_redis_server), ignore = "needs redis-server (apt-get install redis-server)")]
fn redis_lost_and_back_publishes_503_meanwhile_and_clients_see_no_gap() {
    with_two_nodes(|redis, a, b| {
        let mut on_b = Stream::open(b.local_addr(), "/sse?channel=r", "");
        let before = publish(a, "?channel=r", "before");
        assert_eq!(ids_of(&on_b.items_within(1, TIMEOUT)), std::slice::from_ref(&before));

        redis.stop();
        let mut conn = Conn::connect(a.local_addr());
        let (status, body) = post(&mut conn, "/publish?channel=r", Some(TOKEN), b"lost");
        assert_eq!(status, 503, "{body}");
        let published = a.broadcaster().publish("r", "lost too");
        assert!(matches!(published, Err(ssehub::PublishError::Unavailable(_))), "{published:?}");
        // The clients stay, kept alive by comments.
        let body_before = on_b.body.len();
        on_b.read_for(Duration::from_millis(600));
        assert!(
            on_b.body[body_before..].windows(3).any(|w| w == b":\n\n"),
            "keep-alives while Redis is down"
        );
        assert!(on_b.items_within(1, Duration::from_millis(10)).is_empty());
        // A new client of a channel the node reads starts from the node's own log; one of a
        // channel it does not read waits for Redis, and is told 503 when that takes too long;
        // an EventSource (`Accept: text/event-stream`), which would give up after a 503, is
        // told to come back instead: a stream of one `retry` that ends.
        let mut joined = Stream::open(b.local_addr(), "/sse?channel=r", "");
        let mut waiting = Conn::connect(b.local_addr());
        waiting.send(&net::get("/sse?channel=new", ""));
        let mut browser = Conn::connect(b.local_addr());
        browser.send(&net::get("/sse?channel=new", "Accept: text/event-stream\r\n"));
        let head = waiting.try_read_head(Instant::now() + Duration::from_secs(8)).expect("an answer");
        assert_eq!((head.status, head.header("retry-after")), (503, Some("1")));
        let head = browser.try_read_head(Instant::now() + Duration::from_secs(8)).expect("an answer");
        assert_eq!((head.status, head.header("content-type")), (200, Some("text/event-stream")));
        let (body, _) = browser.read_to_end(TIMEOUT);
        let body = String::from_utf8_lossy(&body);
        assert!(body.contains(": 503 the backplane did not answer in time\n"), "{body}");
        let retry =
            body.lines().find_map(|l| l.strip_prefix("retry: ")).and_then(|ms| ms.parse::<u64>().ok());
        assert!(retry.is_some_and(|ms| (1500..2500).contains(&ms)), "Retry-After 1 s, spread: {body}");

        redis.run();
        let after = {
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                let mut conn = Conn::connect(a.local_addr());
                match post(&mut conn, "/publish?channel=r", Some(TOKEN), b"after") {
                    (201, body) => break body[7..body.len() - 2].to_owned(),
                    (503, _) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
                    other => panic!("publish after Redis came back: {other:?}"),
                }
            }
        };
        assert_eq!(on_b.items_within(1, Duration::from_secs(10)), [net::event("message", "after", &after)]);
        assert_eq!(joined.items_within(1, TIMEOUT), [net::event("message", "after", &after)]);
        assert_nothing_more(&mut [&mut on_b]);
        // Redis kept the entries: a client resuming from before the outage gets what followed.
        let mut late = resume(b, "/sse?channel=r", &before);
        assert_eq!(ids_of(&late.items_within(1, TIMEOUT)), [after]);
        assert!(wait_until(TIMEOUT, || a.metrics().contains("ssehub_backplane_up 1")));
        assert!(!b.metrics().contains("ssehub_backplane_reconnects_total 0"), "{}", b.metrics());
    });
}

#[test]
#[cfg_attr(not(has_redis_server), ignore = "needs redis-server (apt-get install redis-server)")]
fn publish_endpoint_checks_come_before_redis() {
    with_redis(|redis| {
        let a = builder(redis).configure(|c| c.limits.max_body_bytes = 1024).bind("127.0.0.1:0").unwrap();
        let cases: [(&str, Option<&str>, &[u8], u16); 5] = [
            ("/publish", None, b"x", 401),
            ("/publish", Some("wrong"), b"x", 401),
            ("/publish", Some(TOKEN), b"\xff", 400),
            ("/publish?channel=", Some(TOKEN), b"x", 400),
            ("/publish", Some(TOKEN), &[b'x'; 2048], 413),
        ];
        for (path, token, body, expected) in cases {
            let mut conn = Conn::connect(a.local_addr());
            assert_eq!(post(&mut conn, path, token, body).0, expected, "{path} {token:?}");
        }
        assert_eq!(redis.command("DBSIZE").as_deref(), Some(":0"), "nothing reached Redis");
        // Pipelined publishes on one connection are answered in order.
        let mut conn = Conn::connect(a.local_addr());
        let one = format!(
            "POST /publish HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 1\r\n\r\n"
        );
        conn.send(format!("{one}1{one}2").as_bytes());
        let (h1, b1) = conn.read_response();
        let (h2, b2) = conn.read_response();
        assert_eq!((h1.status, h2.status), (201, 201));
        assert!(b1 < b2, "{b1:?} then {b2:?}");
        a.shutdown();
    });
}

#[test]
fn an_unreachable_redis_is_an_error_at_start() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("redis://127.0.0.1:{port}");
    let started = Instant::now();
    let result = Server::builder().redis(RedisConfig::new(&url)).bind("127.0.0.1:0");
    assert!(matches!(result, Err(ServerError::Backplane { .. })), "{:?}", result.err());
    assert!(started.elapsed() < TIMEOUT);
    let out = Command::new(env!("CARGO_BIN_EXE_ssehub"))
        .args(["serve", "--addr", "127.0.0.1:0", "--redis", &url])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("Redis") && stderr.contains(&url), "{stderr}");
}

#[test]
#[cfg_attr(not(has_redis_server), ignore = "needs redis-server (apt-get install redis-server)")]
fn a_password_in_the_url_is_used_and_a_wrong_one_is_an_error_at_start() {
    let redis = RedisServer::start_with(&["--requirepass", "s3cret"]);
    let port = redis.url().rsplit(':').next().unwrap().to_owned();
    let with = |password: &str| {
        Server::builder()
            .publish_endpoint("/publish", TOKEN)
            .redis(RedisConfig::new(&format!("redis://:{password}@127.0.0.1:{port}")))
            .bind("127.0.0.1:0")
    };
    match with("wrong") {
        Err(e @ ServerError::Backplane { .. }) => {
            let why = e.to_string();
            assert!(why.contains("127.0.0.1") && !why.contains("wrong"), "no password shown: {why}");
        }
        other => panic!("a wrong password must stop the start: {:?}", other.err()),
    }
    let a = with("s3cret").expect("the right password");
    let mut stream = Stream::open(a.local_addr(), "/sse?channel=p", "");
    let id = publish(&a, "?channel=p", "authenticated");
    assert_eq!(stream.items_within(1, TIMEOUT), [net::event("message", "authenticated", &id)]);
    a.shutdown();
}

#[test]
#[cfg_attr(not(has_redis_server), ignore = "needs redis-server (apt-get install redis-server)")]
fn a_node_reads_at_most_max_channels() {
    with_redis(|redis| {
        let config = RedisConfig { max_channels: 2, ..RedisConfig::new(&redis.url()) };
        let a = builder(redis).redis(config).bind("127.0.0.1:0").unwrap();
        let _first = Stream::open(a.local_addr(), "/sse?channel=one&channel=two", "");
        let mut third = Conn::connect(a.local_addr());
        third.send(&net::get("/sse?channel=three", ""));
        let head = third.read_head();
        assert_eq!((head.status, head.header("retry-after")), (503, Some("10")), "{head:?}");
        let mut browser = Conn::connect(a.local_addr());
        browser.send(&net::get("/sse?channel=three", "Accept: text/event-stream\r\n"));
        let (head, body) = browser.read_response();
        let body = String::from_utf8_lossy(&body);
        assert_eq!(head.status, 200, "an EventSource is told to come back: {body}");
        assert!(body.contains("retry: 10"), "after Retry-After's 10 s: {body}");
        // Channels the node reads already are still open to new streams.
        let mut again = Stream::open(a.local_addr(), "/sse?channel=two", "");
        let id = publish(&a, "?channel=two", "still served");
        assert_eq!(again.items_within(1, TIMEOUT), [net::event("message", "still served", &id)]);
        a.shutdown();
    });
}

#[test]
#[cfg_attr(not(has_redis_server), ignore = "needs redis-server (apt-get install redis-server)")]
fn answers_to_publishes_and_joins_leave_at_once_whatever_the_coalescing_window() {
    with_redis(|redis| {
        // A window far longer than any read here waits: an answer held for it would time out.
        let a =
            builder(redis).configure(|c| c.coalesce = Duration::from_secs(30)).bind("127.0.0.1:0").unwrap();
        let mut conn = Conn::connect(a.local_addr());
        for n in 0..3 {
            // Kept alive: each answer must come before the next publish can be sent.
            let (status, body) = post(&mut conn, "/publish?channel=w", Some(TOKEN), n.to_string().as_bytes());
            assert_eq!(status, 201, "{body}");
        }
        // A stream the read thread starts (its channel is new to the node) gets its head too.
        let _stream = Stream::open(a.local_addr(), "/sse?channel=fresh", "");
        a.shutdown();
    });
}

/// A TCP proxy in front of Redis that, once armed, lets the next `EVALSHA` (a publish) through
/// and then cuts that connection instead of passing Redis's reply on: Redis took the event, the
/// node never hears so.
struct CutProxy {
    addr: std::net::SocketAddr,
    armed: std::sync::Arc<std::sync::atomic::AtomicBool>,
    cuts: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl CutProxy {
    fn start(upstream: String) -> CutProxy {
        use std::io::{Read, Write};
        use std::net::{Shutdown, TcpListener, TcpStream};
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let armed = Arc::new(AtomicBool::new(false));
        let cuts = Arc::new(AtomicUsize::new(0));
        let (armed2, cuts2) = (armed.clone(), cuts.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(&upstream) else { return };
                let pending = Arc::new(AtomicBool::new(false));
                let (mut c_in, mut s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (armed, to_cut) = (armed2.clone(), pending.clone());
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 * 1024];
                    while let Ok(n @ 1..) = c_in.read(&mut buf) {
                        if buf[..n].windows(7).any(|w| w == b"EVALSHA") && armed.swap(false, Ordering::SeqCst)
                        {
                            to_cut.store(true, Ordering::SeqCst);
                        }
                        if s_out.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = s_out.shutdown(Shutdown::Both);
                });
                let (mut s_in, mut c_out) = (server, client);
                let cuts = cuts2.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 * 1024];
                    while let Ok(n @ 1..) = s_in.read(&mut buf) {
                        if pending.load(Ordering::SeqCst) {
                            cuts.fetch_add(1, Ordering::SeqCst);
                            break;
                        }
                        if c_out.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = c_out.shutdown(Shutdown::Both);
                    let _ = s_in.shutdown(Shutdown::Both);
                });
            }
        });
        CutProxy { addr, armed, cuts }
    }

    fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }
}

#[test]
#[cfg_attr(not(has_redis_server), ignore = "needs redis-server (apt-get install redis-server)")]
fn a_publish_whose_reply_was_lost_is_retried_with_its_key_and_delivered_once() {
    use std::sync::atomic::Ordering;
    with_redis(|redis| {
        let proxy = CutProxy::start(redis.url().trim_start_matches("redis://").to_owned());
        let a = Server::builder()
            .workers(2)
            .publish_endpoint("/publish", TOKEN)
            .redis(RedisConfig::new(&proxy.url()))
            .bind("127.0.0.1:0")
            .expect("a node behind the proxy");
        let b = node(redis);
        let mut on_b = Stream::open(b.local_addr(), "/sse?channel=orders", "");
        let key = "Idempotency-Key: order-42\r\n";
        let publish_a = || {
            let mut conn = Conn::connect(a.local_addr());
            net::post_with(&mut conn, "/publish?channel=orders", Some(TOKEN), key, b"shipped")
        };

        proxy.armed.store(true, Ordering::SeqCst);
        let (head, body) = publish_a();
        assert_eq!(head.status, 503, "the reply was cut: {body}");
        assert_eq!(proxy.cuts.load(Ordering::SeqCst), 1);
        // Redis took it: the subscriber on the other node has it.
        let items = on_b.items_within(1, TIMEOUT);
        assert_eq!(data_of(&items), ["shipped"]);
        let id = ids_of(&items).remove(0);

        // The publisher retries (503 while the node reconnects), and is told the first id.
        let deadline = Instant::now() + Duration::from_secs(15);
        let (head, body) = loop {
            let (head, body) = publish_a();
            if head.status != 503 || Instant::now() > deadline {
                break (head, body);
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!((head.status, head.header("idempotent-replayed")), (201, Some("true")), "{body}");
        assert_eq!(body, format!("{{\"id\":\"{id}\"}}"));
        // On the other node too: the key is the cluster's.
        let mut conn = Conn::connect(b.local_addr());
        let (head, body) = net::post_with(&mut conn, "/publish?channel=orders", Some(TOKEN), key, b"shipped");
        assert_eq!((head.status, body), (201, format!("{{\"id\":\"{id}\"}}")));
        let (head, _) = net::post_with(&mut conn, "/publish?channel=orders", Some(TOKEN), key, b"changed");
        assert_eq!(head.status, 422, "the key named another publish");
        // And through the library.
        let key = ssehub::hub::idempotency::IdempotencyKey::new("order-42").unwrap();
        let receipt = b.broadcaster().publish_once(&ssehub::Target::channels(["orders"]), "shipped", &key);
        assert_eq!(receipt.unwrap(), ssehub::Receipt { id: id.as_str().into(), replayed: true });
        assert_nothing_more(&mut [&mut on_b]);
        // A new key publishes.
        let mut conn = Conn::connect(b.local_addr());
        let (head, _) = net::post_with(
            &mut conn,
            "/publish?channel=orders",
            Some(TOKEN),
            "Idempotency-Key: o-43\r\n",
            b"x",
        );
        assert_eq!(head.status, 201);
        assert_eq!(data_of(&on_b.items_within(1, TIMEOUT)), ["x"]);
        a.shutdown();
        b.shutdown();
    });
}

#[test]
#[cfg_attr(not(has_redis_server), ignore = "needs redis-server (apt-get install redis-server)")]
fn a_batch_publish_is_pipelined_in_order_and_reaches_every_node() {
    with_two_nodes(|_, a, b| {
        let mut on_b = Stream::open(b.local_addr(), "/sse?channel=t", "");
        let t = ssehub::Target::channels(["t"]);
        let mut batch: Vec<_> = (0..500).map(|n| (t.clone(), ssehub::Event::new(n.to_string()))).collect();
        batch.insert(250, (t.clone(), ssehub::Event::new("bad").event("a\nb")));
        let receipts = a.broadcaster().publish_batch(batch);
        assert_eq!(receipts.len(), 501);
        assert!(matches!(receipts[250], Err(ssehub::PublishError::Invalid(_))), "{:?}", receipts[250]);
        let ids: Vec<String> =
            receipts.into_iter().filter_map(|r| r.ok()).map(|r| r.id.to_string()).collect();
        assert_eq!(ids.len(), 500);
        let parsed: Vec<StreamId> = ids.iter().map(|i| i.parse().unwrap()).collect();
        assert!(parsed.windows(2).all(|w| w[0] < w[1]), "ids increase in batch order");
        let items = on_b.items_within(500, TIMEOUT);
        assert_eq!(ids_of(&items), ids);
        assert_eq!(data_of(&items), (0..500).map(|n| n.to_string()).collect::<Vec<_>>());
    });
}

#[test]
#[cfg_attr(not(has_redis_server), ignore = "needs redis-server (apt-get install redis-server)")]
fn a_batch_is_trimmed_exactly_and_publishes_a_key_once_however_often_it_holds_it() {
    use ssehub::hub::idempotency::IdempotencyKey;
    with_redis(|redis| {
        let retention = Retention { max_events: 3, ..Retention::default() };
        let a = builder(redis).retention(retention).bind("127.0.0.1:0").unwrap();
        let t = ssehub::Target::channels(["g"]);
        let receipts =
            a.broadcaster().publish_batch((1..=8).map(|n| (t.clone(), ssehub::Event::new(n.to_string()))));
        let ids: Vec<String> = receipts.into_iter().map(|r| r.unwrap().id.to_string()).collect();
        // Trimmed once, at the end of the batch: the newest trimmed entry is 5's.
        let mut trimmed = resume(&a, "/sse?channel=g", &ids[3]);
        assert_eq!(
            typed(&trimmed.items_within(4, TIMEOUT)),
            [format!("gap:{}", ids[3]), "6".into(), "7".into(), "8".into()]
        );
        let mut exact = resume(&a, "/sse?channel=g", &ids[4]);
        assert_eq!(data_of(&exact.items_within(3, TIMEOUT)), ["6", "7", "8"]);
        // Many callers with one key at once: their publishes share script calls, one goes out.
        let key = IdempotencyKey::new("once").unwrap();
        let hub = a.broadcaster();
        let receipts: Vec<_> = std::thread::scope(|s| {
            let calls: Vec<_> =
                (0..16).map(|_| s.spawn(|| hub.publish_once(&t, "k", &key).unwrap())).collect();
            calls.into_iter().map(|c| c.join().unwrap()).collect()
        });
        assert_eq!(receipts.iter().filter(|r| !r.replayed).count(), 1, "{receipts:?}");
        assert!(receipts.iter().all(|r| r.id == receipts[0].id));
        assert_eq!(data_of(&exact.items_within(1, TIMEOUT)), ["k"]);
        assert_nothing_more(&mut [&mut exact]);
        a.shutdown();
    });
}
