//! The server under misbehaviour: a client that never reads, callbacks that panic.

mod net;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use net::{Conn, Stop, Stream, TIMEOUT, get, message, wait_until};
use ssehub::{Event, OwnedItem, Response, Server};

const EVENT_BYTES: usize = 16 * 1024;
const EVENTS: usize = 1280; // 20 MiB in all

#[test]
fn slow_client_is_dropped_and_a_reading_client_gets_everything() {
    const WINDOW: usize = 2; // events the broadcaster may run ahead of the reading client

    let (connected_tx, connected) = mpsc::channel();
    let (gone_tx, gone) = mpsc::channel();
    let server = Server::builder()
        .workers(2)
        .keep_alive(None)
        .configure(|c| c.max_queue_bytes = 64 * 1024)
        .on_connect(move |client, req| {
            let _ = connected_tx.send((req.query_param("who").unwrap_or_default(), client.id()));
        })
        .on_disconnect(move |client| {
            let _ = gone_tx.send(client.id());
        })
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.local_addr();

    let mut fast = Stream::open(addr, "/sse?who=fast", "");
    let mut slow = Conn::connect(addr);
    slow.send(&get("/sse?who=slow", ""));
    let mut ids = std::collections::HashMap::new();
    for _ in 0..2 {
        let (who, id) = connected.recv_timeout(TIMEOUT).unwrap();
        ids.insert(who, id);
    }
    let all = server.broadcaster();
    assert!(wait_until(TIMEOUT, || all.client_count() == 2));

    let received = Arc::new(AtomicUsize::new(0));
    let progress = received.clone();
    // The reading client's stream comes back with the result, so that it stays open.
    let reader = std::thread::spawn(move || {
        let result = read_events(&mut fast, &progress);
        (result, fast)
    });

    let filler = "x".repeat(EVENT_BYTES);
    let deadline = Instant::now() + Duration::from_secs(15);
    for i in 0..EVENTS {
        while received.load(Relaxed) + WINDOW < i && Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(50));
        }
        let head = format!("{i}:");
        let data = format!("{head}{}", &filler[head.len()..]);
        all.send(Event::new(data).id(i.to_string())).unwrap();
    }
    let (result, _fast) = reader.join().unwrap();
    assert_eq!(result, Ok(EVENTS), "the reading client gets every event, in order");

    assert!(server.stats().slow_dropped >= 1, "{:?}", server.stats());
    assert_eq!(gone.recv_timeout(TIMEOUT), Ok(ids["slow"]), "on_disconnect for the slow client only");
    assert!(gone.try_recv().is_err());
    assert_eq!(all.client_count(), 1);
    // The slow client finds its connection closed once it reads what was sent before.
    let (_, stop) = slow.read_to_end(TIMEOUT);
    assert_eq!(stop, Stop::Eof);
    server.shutdown();
}

/// Reads the slow-client test's events, checking each, and reports progress.
fn read_events(fast: &mut Stream, progress: &AtomicUsize) -> Result<usize, String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut n = 0;
    while n < EVENTS && Instant::now() < deadline {
        let items = fast.items_within(1, TIMEOUT);
        let Some(OwnedItem::Event { data, last_event_id, .. }) = items.into_iter().next() else {
            return Err(format!("the reading client got {n} events, then nothing"));
        };
        let want = format!("{n}:");
        if last_event_id != n.to_string() || !data.starts_with(&want) || data.len() != EVENT_BYTES {
            return Err(format!(
                "event {n}: id {last_event_id:?}, {} bytes, {:?}...",
                data.len(),
                data.get(..10)
            ));
        }
        n += 1;
        progress.store(n, Relaxed);
    }
    Ok(n)
}

#[test]
fn a_burst_the_socket_can_take_does_not_drop_a_reading_client() {
    // With a 64 KiB bound, a client that never reads is dropped after about 4 MiB here (the
    // kernel's socket buffers take the rest); a 1 MiB burst to a client that reads fits.
    const EVENTS: usize = 256;
    for round in 0..3 {
        let server = Server::builder()
            .workers(2)
            .keep_alive(None)
            .configure(|c| c.max_queue_bytes = 64 * 1024)
            .bind("127.0.0.1:0")
            .unwrap();
        let mut stream = Stream::open(server.local_addr(), "/sse", "");
        let all = server.broadcaster();
        assert!(wait_until(TIMEOUT, || all.client_count() == 1));
        let filler = "x".repeat(4096);
        for i in 0..EVENTS {
            all.send(Event::new(filler.as_str()).id(i.to_string())).unwrap();
        }
        let got = stream.items_within(EVENTS, TIMEOUT).len();
        let dropped = server.stats().slow_dropped;
        assert_eq!((got, dropped), (EVENTS, 0), "round {round}: events received, clients dropped");
        server.shutdown();
    }
}

#[test]
fn panicking_on_connect_closes_that_client_only() {
    let server = Server::builder()
        .workers(2)
        .on_connect(|client, req| {
            if req.query_param("boom").is_some() {
                panic!("on_connect fails on purpose");
            }
            client.send("welcome").unwrap();
        })
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.local_addr();
    let mut boom = Conn::connect(addr);
    boom.send(&get("/sse?boom=1", ""));
    let (bytes, stop) = boom.read_to_end(TIMEOUT);
    assert_eq!(stop, Stop::Eof, "the panicking client's connection is closed");
    assert!(!String::from_utf8_lossy(&bytes).contains("welcome"));
    assert_eq!(server.stats().callback_panics, 1);
    assert!(wait_until(TIMEOUT, || server.broadcaster().client_count() == 0));

    for _ in 0..2 {
        let mut ok = Stream::open(addr, "/sse", "");
        assert_eq!(ok.items(1), vec![message("welcome")]);
    }
    assert_eq!(server.stats().callback_panics, 1);
    server.shutdown();
}

#[test]
fn panicking_fallback_verify_and_on_disconnect_are_contained() {
    let (gone_tx, gone) = mpsc::channel();
    let server = Server::builder()
        .workers(2)
        .fallback(|req| {
            if req.path == "/boom" {
                panic!("fallback fails on purpose");
            }
            Response::text(200, "fine")
        })
        .verify(|req| {
            if req.query_param("boom").is_some() {
                panic!("verify fails on purpose");
            }
            Ok(())
        })
        .on_disconnect(move |client| {
            let _ = gone_tx.send(client.id());
            panic!("on_disconnect fails on purpose");
        })
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.local_addr();
    let mut conn = Conn::connect(addr);
    conn.send(&get("/boom", ""));
    assert_eq!(conn.read_response().0.status, 500);
    conn.send(&get("/sse?boom", ""));
    assert_eq!(conn.read_response().0.status, 500);
    conn.send(&get("/page", ""));
    assert_eq!(conn.read_response().1, b"fine", "the connection goes on after both");

    let stream = Stream::open(addr, "/sse", "");
    assert!(wait_until(TIMEOUT, || server.broadcaster().client_count() == 1));
    drop(stream);
    gone.recv_timeout(TIMEOUT).unwrap();
    assert!(wait_until(TIMEOUT, || server.stats().callback_panics == 3), "{:?}", server.stats());
    assert!(wait_until(TIMEOUT, || server.broadcaster().client_count() == 0));

    let mut again = Stream::open(addr, "/sse", "");
    server.broadcaster().send("still serving").unwrap();
    assert_eq!(net::data_of(&again.items(1)), ["still serving"]);
    server.shutdown();
}
