//! Presence events once per cluster, on a real `redis-server`: the presence script itself
//! (holds counted across nodes, joins and leaves XADDed once, a dead node reaped once however
//! many nodes race to do it), then two `ssehub serve` nodes: a subject on both is one join and
//! one leave, seen by a `$presence/NAME` reader on each node; a move between nodes within the
//! debounce is neither; a subject on a node that is killed, or that stops cleanly, gets
//! exactly one leave; a Redis restart makes no second join; counts stay exact throughout.
#![cfg(all(feature = "jwt", feature = "redis"))]

mod net;
mod redis_server;
mod serve_child;
mod tokens;

use std::time::{Duration, Instant};

use net::{Stream, wait_until};
use redis_server::RedisServer;
use serve_child::Killed;
use ssehub::OwnedItem;
use tokens::{SECRET, exp, mint};

// ---- the script, called as a node calls it ----

/// One node's calls of the presence script, namespace `t`.
struct Node<'a> {
    id: &'a str,
    ttl_ms: u64,
    grace_ms: u64,
}

impl Node<'_> {
    /// `[fresh, events, reaped]`.
    fn call(&self, conn: &mut redis::Connection, mode: &str, members: &[&str]) -> (i64, i64, i64) {
        let script = redis::Script::new(&ssehub::backplane::keys::presence_script());
        let mut inv = script.prepare_invoke();
        inv.key("{t}:presence-live")
            .key("{t}:presence-holders")
            .key(format!("{{t}}:presence-held:{}", self.id));
        inv.arg(self.id).arg(mode).arg(self.ttl_ms).arg(self.grace_ms).arg(100).arg("{t}");
        for m in members {
            inv.arg(*m);
        }
        inv.invoke(conn).unwrap()
    }
}

/// The events in `$presence/room`'s stream: (id, type, data).
fn stored(conn: &mut redis::Connection) -> Vec<(String, String, String)> {
    let entries: Vec<(String, Vec<String>)> =
        redis::cmd("XRANGE").arg("{t}:channel:$presence/room").arg("-").arg("+").query(conn).unwrap();
    entries
        .into_iter()
        .map(|(id, fields)| {
            let field = |name: &str| {
                fields.chunks(2).find(|kv| kv[0] == name).map(|kv| kv[1].clone()).unwrap_or_default()
            };
            (id.clone(), field("event"), field("data"))
        })
        .collect()
}

const ALICE: &str = "room\t{\"sub\":\"alice\"}";
const BOB: &str = "room\t{\"sub\":\"bob\"}";

#[test]
#[cfg_attr(not(has_redis_server), ignore = "needs redis-server (apt-get install redis-server)")]
fn the_script_counts_holders_across_nodes_and_publishes_once() {
    let redis = RedisServer::start();
    let mut conn = redis::Client::open(redis.url()).unwrap().get_connection().unwrap();
    let a = Node { id: "a", ttl_ms: 60_000, grace_ms: 60_000 };
    let b = Node { id: "b", ttl_ms: 60_000, grace_ms: 60_000 };
    // A node never seen: a delta changes nothing and says so; a replace is taken.
    assert_eq!(a.call(&mut conn, "delta", &["+", ALICE]), (1, 0, 0));
    assert!(stored(&mut conn).is_empty());
    assert_eq!(a.call(&mut conn, "replace", &[ALICE]), (0, 1, 0));
    assert_eq!(b.call(&mut conn, "replace", &[]), (0, 0, 0));
    // Alice on b too: no second join; again: nothing (a call sent twice is harmless).
    assert_eq!(b.call(&mut conn, "delta", &["+", ALICE, "+", BOB]), (0, 1, 0));
    assert_eq!(b.call(&mut conn, "delta", &["+", ALICE]), (0, 0, 0));
    // Alice leaves a: no leave; leaves b: one leave; a removal sent again: nothing.
    assert_eq!(a.call(&mut conn, "delta", &["-", ALICE]), (0, 0, 0));
    assert_eq!(b.call(&mut conn, "delta", &["-", ALICE]), (0, 1, 0));
    assert_eq!(b.call(&mut conn, "delta", &["-", ALICE]), (0, 0, 0));
    // A replace drops what is not listed (bob leaves).
    assert_eq!(b.call(&mut conn, "replace", &[ALICE]), (0, 2, 0));
    let got: Vec<_> = stored(&mut conn).into_iter().map(|(_, t, d)| format!("{t} {d}")).collect();
    assert_eq!(
        got,
        [
            r#"join {"sub":"alice"}"#,
            r#"join {"sub":"bob"}"#,
            r#"leave {"sub":"alice"}"#,
            r#"leave {"sub":"bob"}"#,
            r#"join {"sub":"alice"}"#,
        ]
    );
    // Written as a publish writes: the hub's last id is the newest entry's.
    let last: String = redis::cmd("GET").arg("{t}:last-id").query(&mut conn).unwrap();
    assert_eq!(stored(&mut conn).last().unwrap().0, last);
    let holders: i64 = redis::cmd("HGET").arg("{t}:presence-holders").arg(ALICE).query(&mut conn).unwrap();
    assert_eq!(holders, 1);
}

#[test]
#[cfg_attr(not(has_redis_server), ignore = "needs redis-server (apt-get install redis-server)")]
fn a_dead_node_is_reaped_once_after_the_grace() {
    let redis = RedisServer::start();
    let mut conn = redis::Client::open(redis.url()).unwrap().get_connection().unwrap();
    let dying = Node { id: "dying", ttl_ms: 50, grace_ms: 50 };
    assert_eq!(dying.call(&mut conn, "replace", &[ALICE, BOB]), (0, 2, 0));
    let other = Node { id: "other", ttl_ms: 60_000, grace_ms: 50 };
    // Bob is on another node too: the dying node's share of him is no leave.
    assert_eq!(other.call(&mut conn, "replace", &[BOB]), (0, 0, 0));
    // Within its liveness and grace: not reaped.
    assert_eq!(other.call(&mut conn, "delta", &[]), (0, 0, 0));
    std::thread::sleep(Duration::from_millis(200));
    // Two nodes race to reap it: whichever runs first does, the other finds nothing.
    let third = Node { id: "third", ttl_ms: 60_000, grace_ms: 50 };
    assert_eq!(other.call(&mut conn, "delta", &[]), (0, 1, 1));
    assert_eq!(third.call(&mut conn, "replace", &[]), (0, 0, 0));
    let got: Vec<_> = stored(&mut conn).into_iter().map(|(_, t, d)| format!("{t} {d}")).collect();
    assert_eq!(got, [r#"join {"sub":"alice"}"#, r#"join {"sub":"bob"}"#, r#"leave {"sub":"alice"}"#]);
    // The reaped node comes back: it is told so, and its replace joins again.
    assert_eq!(dying.call(&mut conn, "delta", &["-", BOB]), (1, 0, 0));
    let back = Node { ttl_ms: 60_000, ..dying };
    assert_eq!(back.call(&mut conn, "replace", &[ALICE]), (0, 1, 0));
    // A node that says it is gone is reaped a grace later, by another.
    assert_eq!(back.call(&mut conn, "gone", &[]), (0, 0, 0));
    assert_eq!(other.call(&mut conn, "delta", &[]).2, 0, "within the grace");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(other.call(&mut conn, "delta", &[]), (0, 1, 1));
    let leaves = stored(&mut conn).iter().filter(|(_, t, _)| t == "leave").count();
    assert_eq!(leaves, 2);
}

// ---- two `ssehub serve` nodes ----

fn bearer(sub: &str, claims: serde_json::Value) -> String {
    let token = mint(serde_json::json!({"sub": sub, "exp": exp(), "ssehub": claims}));
    format!("Authorization: Bearer {token}\r\n")
}

fn reader(sub: &str) -> String {
    bearer(sub, serde_json::json!({"subscribe": ["room-*", "$presence/room-*"]}))
}

fn presence(addr: std::net::SocketAddr, channel: &str) -> serde_json::Value {
    let mut conn = net::Conn::connect(addr);
    let writer = bearer("app", serde_json::json!({"publish": ["room-*"]}));
    conn.send(&net::get(&format!("/channels/{channel}"), &writer));
    let (head, body) = conn.read_response();
    assert_eq!(head.status, 200);
    serde_json::from_slice(&body).unwrap()
}

/// `ssehub serve` on `redis` with presence events; its address.
fn node(redis: &RedisServer) -> (std::process::Child, std::net::SocketAddr) {
    let secret = std::str::from_utf8(SECRET).unwrap();
    let args = ["--workers", "1", "--presence-events", "--redis", &redis.url(), "--jwt-secret", secret];
    serve_child::serve(&args)
}

/// The next `n` presence events `stream` receives within `within` (`join {...}`), then any
/// more that arrive in `quiet` after them (to see that nothing comes twice).
fn events(stream: &mut Stream, n: usize, within: Duration, quiet: Duration) -> Vec<String> {
    let mut out = Vec::new();
    let mut deadline = Instant::now() + within;
    let mut settled = false;
    loop {
        if out.len() >= n && !settled {
            settled = true;
            deadline = Instant::now() + quiet;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return out;
        }
        for item in stream.items_within(1, left) {
            if let OwnedItem::Event { event_type, data, .. } = item {
                out.push(format!("{event_type} {data}"));
            }
        }
    }
}

/// The counts both nodes give for `room-1`: subscribers and subjects.
fn counts_are(nodes: [std::net::SocketAddr; 2], subscribers: u64, subs: &[&str]) -> bool {
    let want = serde_json::json!({"channel": "room-1", "subscribers": subscribers, "sub": subs});
    wait_until(Duration::from_secs(5), || nodes.iter().all(|n| presence(*n, "room-1") == want))
}

#[test]
#[cfg_attr(not(has_redis_server), ignore = "needs redis-server (apt-get install redis-server)")]
fn join_and_leave_once_across_two_nodes_and_a_killed_one() {
    let redis = RedisServer::start();
    let (one, a) = node(&redis);
    let _one = Killed(one);
    let (two, b) = node(&redis);
    let mut two = Killed(two);
    let mut watch_a = Stream::open(a, "/sse?channel=$presence/room-1", &reader("watcher"));
    let mut watch_b = Stream::open(b, "/sse?channel=$presence/room-1", &reader("watcher"));
    // Let both readers follow the companion channel before anything happens.
    assert!(counts_are([a, b], 0, &[]));
    std::thread::sleep(Duration::from_millis(300));

    // Alice on node one, then on node two: one join, seen on both nodes.
    let alice_a = Stream::open(a, "/sse?channel=room-1", &reader("alice"));
    assert!(counts_are([a, b], 1, &["alice"]));
    let alice_b = Stream::open(b, "/sse?channel=room-1", &reader("alice"));
    assert!(counts_are([a, b], 2, &["alice"]));
    let joined = [r#"join {"sub":"alice"}"#];
    let second = Duration::from_secs(1);
    assert_eq!(events(&mut watch_a, 1, Duration::from_secs(3), second), joined);
    assert_eq!(events(&mut watch_b, 1, second, Duration::ZERO), joined);

    // She leaves node one: no leave (she is still on node two), even past the debounce.
    drop(alice_a);
    assert!(counts_are([a, b], 1, &["alice"]));
    assert_eq!(events(&mut watch_a, 1, Duration::from_secs(4), Duration::ZERO), Vec::<String>::new());
    assert_eq!(events(&mut watch_b, 1, Duration::from_millis(200), Duration::ZERO), Vec::<String>::new());

    // She leaves node two: one leave, a debounce later, on both.
    drop(alice_b);
    let left = Instant::now();
    assert!(counts_are([a, b], 0, &[]));
    let leave = [r#"leave {"sub":"alice"}"#];
    assert_eq!(events(&mut watch_a, 1, Duration::from_secs(6), second), leave);
    assert!(left.elapsed() >= Duration::from_secs(2), "held back: {:?}", left.elapsed());
    assert_eq!(events(&mut watch_b, 1, second, Duration::ZERO), leave);

    // Bob moves from node one to node two within the debounce: neither a leave nor a join.
    let bob_a = Stream::open(a, "/sse?channel=room-1", &reader("bob"));
    assert_eq!(events(&mut watch_a, 1, Duration::from_secs(3), Duration::ZERO), [r#"join {"sub":"bob"}"#]);
    assert_eq!(events(&mut watch_b, 1, second, Duration::ZERO), [r#"join {"sub":"bob"}"#]);
    drop(bob_a);
    let _bob_b = Stream::open(b, "/sse?channel=room-1", &reader("bob"));
    assert!(counts_are([a, b], 1, &["bob"]));
    assert_eq!(events(&mut watch_a, 1, Duration::from_secs(4), Duration::ZERO), Vec::<String>::new());

    // Bob is now only on node two, which is killed (no goodbye): one leave once it is counted
    // dead, a debounce after its heartbeat expires.
    two.0.kill().unwrap();
    two.0.wait().unwrap();
    let killed = Instant::now();
    assert!(wait_until(Duration::from_secs(6), || presence(a, "room-1")["subscribers"] == 0));
    assert_eq!(events(&mut watch_a, 1, Duration::from_secs(10), second), [r#"leave {"sub":"bob"}"#]);
    assert!(killed.elapsed() < Duration::from_secs(10), "{:?}", killed.elapsed());
    assert_eq!(presence(a, "room-1"), serde_json::json!({"channel": "room-1", "subscribers": 0, "sub": []}));
}

#[test]
#[cfg_attr(not(has_redis_server), ignore = "needs redis-server (apt-get install redis-server)")]
fn holds_survive_a_redis_restart() {
    let mut redis = RedisServer::start();
    let (one, a) = node(&redis);
    let _one = Killed(one);
    let mut watch = Stream::open(a, "/sse?channel=$presence/room-1", &reader("watcher"));
    std::thread::sleep(Duration::from_millis(300));
    let alice = Stream::open(a, "/sse?channel=room-1", &reader("alice"));
    let second = Duration::from_secs(1);
    assert_eq!(events(&mut watch, 1, Duration::from_secs(3), second), [r#"join {"sub":"alice"}"#]);
    // Redis restarts (its data kept, its scripts not): the node reconnects and loads the
    // script again; alice, still there, is no second join.
    redis.stop();
    std::thread::sleep(Duration::from_millis(1500));
    redis.run();
    assert_eq!(events(&mut watch, 1, Duration::from_secs(3), Duration::ZERO), Vec::<String>::new());
    drop(alice);
    assert_eq!(events(&mut watch, 1, Duration::from_secs(8), second), [r#"leave {"sub":"alice"}"#]);
}

/// A library node on `redis` with JWT authorization and presence events.
fn library_node(redis: &RedisServer) -> ssehub::Server {
    use ssehub::auth::{Algorithm, JwtConfig, JwtPolicy, Verifier};
    let verifier = Verifier::from_config(JwtConfig::hmac(Algorithm::HS256, SECRET)).unwrap();
    ssehub::Server::builder()
        .workers(1)
        .policy(JwtPolicy::new(verifier))
        .publish_path("/publish")
        .presence("/channels")
        .presence_events(true)
        .redis(ssehub::RedisConfig::new(&redis.url()))
        .bind("127.0.0.1:0")
        .unwrap()
}

#[test]
#[cfg_attr(not(has_redis_server), ignore = "needs redis-server (apt-get install redis-server)")]
fn a_node_that_stops_cleanly_is_uncounted_within_a_beat_and_its_subjects_leave_once() {
    let redis = RedisServer::start();
    let one = library_node(&redis);
    let two = library_node(&redis);
    let (a, b) = (one.local_addr(), two.local_addr());
    let mut watch = Stream::open(a, "/sse?channel=$presence/room-1", &reader("watcher"));
    std::thread::sleep(Duration::from_millis(300));
    let carol = Stream::open(b, "/sse?channel=room-1", &reader("carol"));
    assert!(counts_are([a, b], 1, &["carol"]));
    let second = Duration::from_secs(1);
    assert_eq!(events(&mut watch, 1, Duration::from_secs(3), second), [r#"join {"sub":"carol"}"#]);
    // Node two stops: it deletes its heartbeat (uncounted at node one's next beat) and marks
    // itself gone;
    // node one removes its holds a debounce later, carol's leave once.
    two.shutdown();
    drop(carol);
    let stopped = Instant::now();
    let mut conn = redis::Client::open(redis.url()).unwrap().get_connection().unwrap();
    let (secs, micros): (u64, u64) = redis::cmd("TIME").query(&mut conn).unwrap();
    let now_ms = secs * 1000 + micros / 1000;
    let gone: Vec<String> = redis::cmd("ZRANGEBYSCORE")
        .arg("{ssehub}:presence-live")
        .arg("-inf")
        .arg(now_ms)
        .query(&mut conn)
        .unwrap();
    assert_eq!(gone.len(), 1, "node two, marked gone as it stopped: {gone:?}");
    assert!(wait_until(Duration::from_secs(2), || presence(a, "room-1")["subscribers"] == 0));
    assert_eq!(events(&mut watch, 1, Duration::from_secs(8), second), [r#"leave {"sub":"carol"}"#]);
    assert!(stopped.elapsed() < Duration::from_secs(7), "{:?}", stopped.elapsed());
    one.shutdown();
}
