//! The HTTP publish endpoint, on real sockets.

mod net;

use net::{Conn, Stream, TIMEOUT, data_of, post, wait_until};
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
    let (status, body) =
        post(&mut conn, "/publish?channel=news&event=headline", Some("t0ken"), b"line 1\nline 2");
    assert_eq!((status, body.as_str()), (201, "{\"id\":\"1\"}"));
    let (status, body) = post(&mut conn, "/publish", Some("t0ken"), "to the default channel ✓".as_bytes());
    assert_eq!((status, body.as_str()), (201, "{\"id\":\"2\"}"), "keep-alive: same connection");
    assert_eq!(
        news.items(1),
        [OwnedItem::Event {
            event_type: "headline".into(),
            data: "line 1\nline 2".into(),
            last_event_id: "1".into()
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
