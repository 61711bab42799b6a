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
    let ids: Vec<u64> = ids_of(&got).iter().map(|id| id.parse().unwrap()).collect();
    assert_eq!(ids, [ids[0], ids[0] + 1, ids[0] + 2], "the hub numbers events");
    let last_id = ids[2].to_string();
    drop(first);
    assert!(wait_until(TIMEOUT, || hub.client_count() == 0));

    for n in 4..=8 {
        hub.send(Event::new(format!("e{n}"))).unwrap();
    }
    let mut again = Stream::open(addr, "/sse", &format!("Last-Event-ID: {last_id}\r\n"));
    let missed = again.items(5);
    assert_eq!(data_of(&missed), ["e4", "e5", "e6", "e7", "e8"]);
    let want: Vec<String> = (3..8).map(|k| (ids[0] + k).to_string()).collect();
    assert_eq!(ids_of(&missed), want);
    assert!(wait_until(TIMEOUT, || hub.client_count() == 1));
    hub.send("e9").unwrap();
    assert_eq!(data_of(&again.items(1)), ["e9"], "then the live stream, nothing repeated");
    server.shutdown();
}

#[test]
fn polyfill_query_parameter_resumes_too() {
    let server = Server::builder().bind("127.0.0.1:0").unwrap();
    let hub = server.broadcaster();
    let ids: Vec<String> = (1..=4)
        .map(|n| hub.publish_to(&Target::All, Event::new(format!("e{n}"))).unwrap().id.unwrap().to_string())
        .collect();
    let mut s = Stream::open(server.local_addr(), &format!("/sse?lastEventId={}", ids[1]), "");
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
    let mut paths =
        vec!["/sse?channel=".to_owned(), format!("/sse?{many}"), format!("/sse?channel={}", "x".repeat(300))];
    // Control characters (the hub's own log was once named "\0all"), and bytes that are not
    // UTF-8 once decoded (%fe and %ff would both have become U+FFFD, one channel).
    for bad in ["%00all", "a%0Ab", "%7F", "%C2%85", "%fe", "%ff", "ok&channel=%e2%82"] {
        paths.push(format!("/sse?channel={bad}"));
    }
    for path in paths {
        let mut conn = net::Conn::connect(addr);
        conn.send(&net::get(&path, ""));
        assert_eq!(conn.read_head().status, 400, "{path}");
    }
    server.shutdown();
}

#[test]
fn a_subscriber_named_like_the_internal_log_wipes_nothing() {
    // The attack: `?channel=%00all` used to reach the log of publishes to every stream
    // (and a publish there leaked into every channel's replay). Now the name is refused, and
    // resuming clients still get every publish to all.
    let server = Server::builder().publish_endpoint("/publish", "t").bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    let hub = server.broadcaster();
    let first = hub.publish_to(&Target::All, Event::new("to all 1")).unwrap().id.unwrap();
    hub.publish_to(&Target::All, Event::new("to all 2")).unwrap();
    let mut conn = net::Conn::connect(addr);
    conn.send(&net::get("/sse?channel=%00all", ""));
    assert_eq!(conn.read_head().status, 400);
    let mut conn = net::Conn::connect(addr);
    assert_eq!(net::post(&mut conn, "/publish?channel=%00all", Some("t"), b"leak").0, 400);
    let mut s = Stream::open(addr, "/sse?channel=room", &format!("Last-Event-ID: {first}\r\n"));
    hub.publish("room", Event::new("live")).unwrap();
    assert_eq!(data_of(&s.items(2)), ["to all 2", "live"]);
    server.shutdown();
}

#[test]
fn ids_never_repeat_across_restarts_and_an_old_id_gets_a_gap() {
    // Publish 10, restart, publish 20, resume with the 10th's id: it must not look like one of
    // the new ids (then new 1-10 would be skipped silently).
    let old = Server::builder().bind("127.0.0.1:0").unwrap();
    let hub = old.broadcaster();
    let old_ids: Vec<String> = (1..=10)
        .map(|n| {
            hub.publish_to(&Target::All, Event::new(format!("old {n}"))).unwrap().id.unwrap().to_string()
        })
        .collect();
    old.shutdown();
    std::thread::sleep(Duration::from_millis(2)); // a restart takes longer than a millisecond
    let new = Server::builder().bind("127.0.0.1:0").unwrap();
    let hub = new.broadcaster();
    let new_ids: Vec<String> = (1..=20)
        .map(|n| {
            hub.publish_to(&Target::All, Event::new(format!("new {n}"))).unwrap().id.unwrap().to_string()
        })
        .collect();
    assert!(old_ids.iter().all(|id| !new_ids.contains(id)), "{old_ids:?} {new_ids:?}");
    let number = |id: &String| id.parse::<u64>().unwrap();
    assert!(number(&new_ids[0]) > number(&old_ids[9]), "a later incarnation numbers above");
    let mut s = Stream::open(new.local_addr(), "/sse", &format!("Last-Event-ID: {}\r\n", old_ids[9]));
    let items = s.items(21);
    assert_eq!(items[0], net::event("gap", &old_ids[9], ""), "the client learns it cannot resume exactly");
    let want: Vec<String> = (1..=20).map(|n| format!("new {n}")).collect();
    assert_eq!(data_of(&items[1..]), want, "then everything retained");
    // An id from the future (a made-up one, or a clock set back) is a gap too.
    let future = (number(&new_ids[19]) + 5).to_string();
    let mut s = Stream::open(new.local_addr(), "/sse", &format!("Last-Event-ID: {future}\r\n"));
    assert_eq!(s.items(1), [net::event("gap", &future, "")]);
    new.shutdown();
}
