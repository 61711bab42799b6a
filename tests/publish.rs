//! The HTTP publish endpoint, on real sockets.

mod net;

use net::{Conn, Stream, TIMEOUT, data_of, post, post_with, wait_until};
use ssehub::{OwnedItem, Server};

#[test]
fn publish_reaches_the_channel_with_a_hub_assigned_id() {
    let server =
        Server::builder().workers(2).publish_endpoint("/publish", "t0ken").bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    let hub = server.broadcaster();
    let mut news = Stream::open(addr, "/sse?channel=news", "");
    let mut other = Stream::open(addr, "/sse", "");
    assert!(wait_until(TIMEOUT, || hub.client_count() == 2));
    let mut conn = Conn::connect(addr);
    let id_of = |body: &str| -> u64 {
        let id = body.strip_prefix("{\"id\":\"").and_then(|b| b.strip_suffix("\"}"));
        id.and_then(|id| id.parse().ok()).unwrap_or_else(|| panic!("not an id: {body}"))
    };
    let (status, body) =
        post(&mut conn, "/publish?channel=news&event=headline", Some("t0ken"), b"line 1\nline 2");
    assert_eq!(status, 201, "{body}");
    let first = id_of(&body);
    let (status, body) = post(&mut conn, "/publish", Some("t0ken"), "to the default channel ✓".as_bytes());
    assert_eq!(status, 201, "keep-alive: same connection");
    assert_eq!(id_of(&body), first + 1, "the hub numbers publishes");
    assert_eq!(
        news.items(1),
        [OwnedItem::Event {
            event_type: "headline".into(),
            data: "line 1\nline 2".into(),
            last_event_id: first.to_string()
        }]
    );
    assert_eq!(data_of(&other.items(1)), ["to the default channel ✓"]);
    server.shutdown();
}

#[test]
fn publish_refusals() {
    let server = Server::builder()
        .publish_endpoint("/publish", "t0ken")
        .configure(|c| c.limits.max_body_bytes = 1024)
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.local_addr();
    let cases: [(&str, Option<&str>, &[u8], u16); 6] = [
        ("/publish", None, b"x", 401),
        ("/publish", Some("wrong"), b"x", 401),
        ("/publish", Some("t0ken"), b"\xff\xfe", 400),
        ("/publish?event=a%0Ab", Some("t0ken"), b"x", 400),
        ("/publish?channel=", Some("t0ken"), b"x", 400),
        ("/publish", Some("t0ken"), &[b'x'; 2048], 413),
    ];
    for (path, token, body, expected) in cases {
        let mut conn = Conn::connect(addr);
        assert_eq!(post(&mut conn, path, token, body).0, expected, "{path} {token:?}");
    }
    let mut conn = Conn::connect(addr);
    conn.send(b"GET /publish HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer t0ken\r\n\r\n");
    let head = conn.read_head();
    assert_eq!((head.status, head.header("allow")), (405, Some("POST")));
    assert_eq!(server.broadcaster().client_count(), 0);
    server.shutdown();
}

#[test]
fn without_a_token_there_is_no_endpoint() {
    let server = Server::builder().bind("127.0.0.1:0").unwrap();
    let mut conn = Conn::connect(server.local_addr());
    assert_eq!(post(&mut conn, "/publish", Some("anything"), b"x").0, 404);
    server.shutdown();
}

#[test]
fn expect_100_continue_is_answered_before_the_body() {
    let server = Server::builder()
        .publish_endpoint("/publish", "t0ken")
        .configure(|c| c.limits.max_body_bytes = 1024)
        .fallback(|req| ssehub::Response::text(200, format!("got {} bytes", req.body.len())))
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.local_addr();
    let head = |path: &str, auth: &str, len: usize| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: h\r\n{auth}Expect: 100-continue\r\nContent-Length: {len}\r\n\r\n"
        )
    };
    // The right token: `100 Continue` at once (a client waits for it), then the body, then 201.
    let mut conn = Conn::connect(addr);
    conn.send(head("/publish", "Authorization: bearer t0ken\r\n", 5).as_bytes());
    let interim = conn.read_head();
    assert_eq!(interim.status, 100, "{interim:?}");
    conn.send(b"hello");
    let (final_head, body) = conn.read_response();
    assert_eq!(final_head.status, 201, "{body:?}");
    // A wrong token, or a body over the limit: the final answer at once, without the body, and
    // the connection closes (the body is never read as a request).
    for (auth, len, status) in [
        ("Authorization: Bearer nope\r\n", 5, 401),
        ("", 5, 401),
        ("Authorization: Bearer t0ken\r\n", 4096, 413),
    ] {
        let mut conn = Conn::connect(addr);
        conn.send(head("/publish", auth, len).as_bytes());
        let answer = conn.read_head();
        assert_eq!(answer.status, status, "{auth:?} {len}");
        assert!(answer.closes());
        assert!(conn.closes_within(TIMEOUT));
    }
    // The fallback takes bodies: `100 Continue` too.
    let mut conn = Conn::connect(addr);
    conn.send(head("/upload", "", 3).as_bytes());
    assert_eq!(conn.read_head().status, 100);
    conn.send(b"abc");
    let (h, body) = conn.read_response();
    assert_eq!((h.status, String::from_utf8(body).unwrap().as_str()), (200, "got 3 bytes"));
    // The stream path takes none: 400 at once.
    let mut conn = Conn::connect(addr);
    conn.send(head("/sse", "", 3).replace("POST", "GET").as_bytes());
    assert_eq!(conn.read_head().status, 400);
    server.shutdown();
}

/// The id in a `{"id":"..."}` answer.
fn answered_id(body: &str) -> String {
    let id = body.strip_prefix("{\"id\":\"").and_then(|b| b.strip_suffix("\"}"));
    id.unwrap_or_else(|| panic!("not an id: {body}")).to_owned()
}

#[test]
fn a_retry_with_the_same_idempotency_key_publishes_once() {
    let server = Server::builder().publish_endpoint("/publish", "t0ken").bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    let hub = server.broadcaster();
    let mut stream = Stream::open(addr, "/sse?channel=k", "");
    assert!(wait_until(TIMEOUT, || hub.client_count() == 1));
    let mut conn = Conn::connect(addr);
    let key = "Idempotency-Key: 0f8fad5b-d9cb-469f-a165-70867728950e\r\n";
    let (head, body) = post_with(&mut conn, "/publish?channel=k", Some("t0ken"), key, b"once");
    assert_eq!((head.status, head.header("idempotent-replayed")), (201, None), "{body}");
    let first = answered_id(&body);
    // The retry, also in the IETF draft's quoted form: the first id, nothing published.
    for key in [key, "Idempotency-Key: \"0f8fad5b-d9cb-469f-a165-70867728950e\"\r\n"] {
        let (head, body) = post_with(&mut conn, "/publish?channel=k", Some("t0ken"), key, b"once");
        assert_eq!((head.status, head.header("idempotent-replayed")), (201, Some("true")), "{body}");
        assert_eq!(answered_id(&body), first);
    }
    // The same key for another publish is refused, not answered with the first one's id.
    for (path, data) in [("/publish?channel=k", &b"other"[..]), ("/publish?channel=j", b"once")] {
        assert_eq!(post_with(&mut conn, path, Some("t0ken"), key, data).0.status, 422, "{path}");
    }
    // Bad keys.
    let long = format!("Idempotency-Key: {}\r\n", "k".repeat(256));
    for bad in
        ["Idempotency-Key: \r\n", "Idempotency-Key: a b\r\n", long.as_str(), "Idempotency-Key: \"\"\r\n"]
    {
        assert_eq!(
            post_with(&mut conn, "/publish?channel=k", Some("t0ken"), bad, b"x").0.status,
            400,
            "{bad}"
        );
    }
    // Without a key every publish is new.
    let (_, body) = post_with(&mut conn, "/publish?channel=k", Some("t0ken"), "", b"once");
    let second = answered_id(&body);
    assert_ne!(second, first);
    let items = stream.items(2);
    assert_eq!(data_of(&items), ["once", "once"]);
    assert_eq!(net::ids_of(&items), [first, second]);
    stream.read_for(std::time::Duration::from_millis(200));
    assert!(stream.items_within(1, std::time::Duration::from_millis(10)).is_empty(), "published once");
    server.shutdown();
}

#[test]
fn the_library_publishes_once_per_key_and_forgets_keys_after_the_window() {
    use ssehub::Target;
    use ssehub::hub::idempotency::IdempotencyKey;
    use std::time::Duration;
    let window = Duration::from_millis(300);
    let server = Server::builder().configure(|c| c.idempotency_window = window).bind("127.0.0.1:0").unwrap();
    let hub = server.broadcaster();
    let mut stream = Stream::open(server.local_addr(), "/sse?channel=k", "");
    assert!(wait_until(TIMEOUT, || hub.client_count() == 1));
    let key = IdempotencyKey::new("lib-1").unwrap();
    let target = Target::channels(["k"]);
    let first = hub.publish_once(&target, "a", &key).unwrap();
    let again = hub.publish_once(&target, "a", &key).unwrap();
    assert_eq!((&again.id, first.replayed, again.replayed), (&first.id, false, true));
    assert!(matches!(hub.publish_once(&target, "b", &key), Err(ssehub::PublishError::KeyReused)));
    std::thread::sleep(window + Duration::from_millis(100));
    let later = hub.publish_once(&target, "a", &key).unwrap();
    assert!(!later.replayed && later.id != first.id, "a key past its window is new");
    assert_eq!(net::ids_of(&stream.items(2)), [first.id.to_string(), later.id.to_string()]);
    server.shutdown();
}

#[test]
fn a_batch_publish_goes_out_in_order() {
    use ssehub::{Event, Target};
    let server = Server::builder().bind("127.0.0.1:0").unwrap();
    let hub = server.broadcaster();
    let mut stream = Stream::open(server.local_addr(), "/sse?channel=t", "");
    assert!(wait_until(TIMEOUT, || hub.client_count() == 1));
    let t = Target::channels(["t"]);
    let batch =
        [(t.clone(), Event::new("1")), (t.clone(), Event::new("x").event("a\nb")), (t, Event::new("2"))];
    let receipts = hub.publish_batch(batch);
    assert!(matches!(receipts[1], Err(ssehub::PublishError::Invalid(_))));
    let ids: Vec<String> =
        receipts.iter().filter_map(|r| r.as_ref().ok()).map(|r| r.id.to_string()).collect();
    let items = stream.items(2);
    assert_eq!((data_of(&items), net::ids_of(&items)), (vec!["1".to_string(), "2".to_string()], ids));
    server.shutdown();
}
