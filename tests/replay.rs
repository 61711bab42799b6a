//! Last-Event-ID replay and channels, on real sockets.

mod net;

use std::time::Duration;

use net::{Stream, TIMEOUT, data_of, ids_of, wait_until};
use ssehub::hub::{Retention, Target};
use ssehub::{Event, OwnedItem, Server};

#[test]
fn reconnect_with_last_event_id_gets_exactly_the_missed_events() {
    let server = Server::builder().workers(2).bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    let hub = server.broadcaster();

    let mut first = Stream::open(addr, "/sse", "");
    assert!(wait_until(TIMEOUT, || hub.client_count() == 1));
    for n in 1..=3 {
        hub.send(Event::new(format!("e{n}"))).unwrap();
    }
    let got = first.items(3);
    assert_eq!(data_of(&got), ["e1", "e2", "e3"]);
    let last_id = ids_of(&got).pop().unwrap();
    assert_eq!(last_id, "3", "the hub numbers events");
    drop(first);
    assert!(wait_until(TIMEOUT, || hub.client_count() == 0));

    for n in 4..=8 {
        hub.send(Event::new(format!("e{n}"))).unwrap();
    }
    let mut again = Stream::open(addr, "/sse", &format!("Last-Event-ID: {last_id}\r\n"));
    let missed = again.items(5);
    assert_eq!(data_of(&missed), ["e4", "e5", "e6", "e7", "e8"]);
    assert_eq!(ids_of(&missed), ["4", "5", "6", "7", "8"]);
    assert!(wait_until(TIMEOUT, || hub.client_count() == 1));
    hub.send("e9").unwrap();
    assert_eq!(data_of(&again.items(1)), ["e9"], "then the live stream, nothing repeated");
    server.shutdown();
}

#[test]
fn polyfill_query_parameter_resumes_too() {
    let server = Server::builder().bind("127.0.0.1:0").unwrap();
    let hub = server.broadcaster();
    for n in 1..=4 {
        hub.send(Event::new(format!("e{n}"))).unwrap();
    }
    let mut s = Stream::open(server.local_addr(), "/sse?lastEventId=2", "");
    assert_eq!(data_of(&s.items(2)), ["e3", "e4"]);
    server.shutdown();
}

#[test]
fn resume_while_publishing_has_no_gap_and_no_duplicate() {
    let server = Server::builder()
        .workers(2)
        .retention(Retention { max_events: 10_000, ..Retention::default() })
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.local_addr();
    let hub = server.broadcaster();
    const TOTAL: usize = 2000;
    let mut stream = Stream::open(addr, "/sse", "");
    assert!(wait_until(TIMEOUT, || hub.client_count() == 1));
    let publisher = {
        let hub = hub.clone();
        std::thread::spawn(move || {
            for n in 1..=TOTAL {
                hub.send(Event::new(n.to_string())).unwrap();
                if n % 20 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        })
    };
    // Reconnect every few events while they flow; each connection resumes from the last id seen.
    let mut seen: Vec<usize> = Vec::new();
    let mut last_id = String::new();
    while seen.len() < TOTAL {
        let take = (TOTAL - seen.len()).min(137);
        let items = stream.items_within(take, TIMEOUT);
        assert!(!items.is_empty(), "stalled after {} events", seen.len());
        for item in &items {
            if let OwnedItem::Event { event_type, data, last_event_id } = item {
                assert_eq!(event_type, "message", "no gap within retention");
                seen.push(data.parse().unwrap());
                last_id = last_event_id.clone();
            }
        }
        stream = Stream::open(addr, "/sse", &format!("Last-Event-ID: {last_id}\r\n"));
    }
    publisher.join().unwrap();
    let expected: Vec<usize> = (1..=TOTAL).collect();
    assert_eq!(seen, expected, "in order, no gap, no duplicate");
    server.shutdown();
}

#[test]
fn unknown_id_gets_a_gap_event_then_what_is_retained() {
    let server = Server::builder()
        .retention(Retention { max_events: 3, ..Retention::default() })
        .bind("127.0.0.1:0")
        .unwrap();
    let hub = server.broadcaster();
    for n in 1..=6 {
        hub.send(Event::new(format!("e{n}"))).unwrap();
    }
    let mut s = Stream::open(server.local_addr(), "/sse", "Last-Event-ID: 1\r\n");
    let items = s.items(4);
    assert_eq!(items[0], net::event("gap", "1", ""), "the client learns it missed events");
    assert_eq!(data_of(&items[1..]), ["e4", "e5", "e6"]);
    server.shutdown();
}

#[test]
fn channels_deliver_each_event_once_to_its_subscribers() {
    let server = Server::builder().workers(2).bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    let hub = server.broadcaster();
    let mut a = Stream::open(addr, "/sse?channel=a", "");
    let mut b = Stream::open(addr, "/sse?channel=b", "");
    let mut ab = Stream::open(addr, "/sse?channel=a&channel=b", "");
    let mut plain = Stream::open(addr, "/sse", "");
    assert!(wait_until(TIMEOUT, || hub.client_count() == 4));

    hub.publish("a", "to a").unwrap();
    hub.publish("b", "to b").unwrap();
    hub.publish_to(&Target::channels(["a", "b"]), "to a and b").unwrap();
    hub.publish("default", "to default").unwrap();
    hub.send("to all").unwrap();

    assert_eq!(data_of(&a.items(3)), ["to a", "to a and b", "to all"]);
    assert_eq!(data_of(&b.items(3)), ["to b", "to a and b", "to all"]);
    assert_eq!(data_of(&ab.items(4)), ["to a", "to b", "to a and b", "to all"]);
    assert_eq!(data_of(&plain.items(2)), ["to default", "to all"]);
    server.shutdown();
}

#[test]
fn subscribe_callback_decides_channels_and_can_refuse() {
    let server = Server::builder()
        .subscribe(|req| match req.header("x-room") {
            Some(room) => Ok(vec![format!("room-{room}")]),
            None => Err(ssehub::Response::error(403, "no room")),
        })
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.local_addr();
    let hub = server.broadcaster();
    let mut conn = net::Conn::connect(addr);
    conn.send(&net::get("/sse?channel=room-1", ""));
    assert_eq!(conn.read_head().status, 403);
    let mut s = Stream::open(addr, "/sse", "X-Room: 7\r\n");
    assert!(wait_until(TIMEOUT, || hub.client_count() == 1));
    hub.publish("room-1", "not yours").unwrap();
    hub.publish("room-7", "yours").unwrap();
    assert_eq!(data_of(&s.items(1)), ["yours"]);
    server.shutdown();
}

#[test]
fn bad_channel_requests_are_400() {
    let server = Server::builder().bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    let many: String = (0..40).map(|i| format!("channel=c{i}&")).collect();
    for path in
        ["/sse?channel=".to_owned(), format!("/sse?{many}"), format!("/sse?channel={}", "x".repeat(300))]
    {
        let mut conn = net::Conn::connect(addr);
        conn.send(&net::get(&path, ""));
        assert_eq!(conn.read_head().status, 400, "{path}");
    }
    server.shutdown();
}
