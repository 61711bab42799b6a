//! Event streams on real sockets: the head, the first block, events intact and in order, many
//! clients, disconnects, closing, keep-alives, `retry`, `Last-Event-ID`, wildcard paths,
//! HTTP/1.0, graceful shutdown.

mod net;

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use net::{Conn, Stream, TIMEOUT, data_of, event, get, message, wait_until};
use ssehub::{Client, Event, OwnedItem, SendError, Server};

const SHORT: Duration = Duration::from_millis(300);

/// A server whose `on_connect` hands every client out through a channel.
fn server_with_clients() -> (Server, mpsc::Receiver<Client>) {
    let (tx, rx) = mpsc::channel();
    let server = Server::builder()
        .workers(2)
        .on_connect(move |client, _req| {
            let _ = tx.send(client);
        })
        .bind("127.0.0.1:0")
        .expect("bind");
    (server, rx)
}

#[test]
fn stream_head_and_first_ok_chunk() {
    let server = Server::builder().workers(2).keep_alive(None).bind("127.0.0.1:0").unwrap();
    let mut conn = Conn::connect(server.local_addr());
    conn.send(&get("/sse", ""));
    let head = conn.read_head();
    assert_eq!(head.status_line, "HTTP/1.1 200 OK");
    assert_eq!(head.header("content-type"), Some("text/event-stream"));
    assert_eq!(head.header("cache-control"), Some("no-cache, no-transform"));
    assert_eq!(head.header("x-accel-buffering"), Some("no"));
    assert_eq!(head.header("transfer-encoding"), Some("chunked"));
    assert_eq!(head.count("content-length"), 0, "a stream has no length: {head:?}");
    // The first chunk, byte for byte: the `:ok` comment block in chunk framing.
    let first = conn.take(b"5\r\n:ok\n\n\r\n".len(), Instant::now() + TIMEOUT).unwrap();
    assert_eq!(first, b"5\r\n:ok\n\n\r\n");
    // Nothing else follows on its own.
    let (rest, _) = conn.read_to_end(SHORT);
    assert!(rest.is_empty(), "unexpected bytes {rest:?}");
    server.shutdown();
}

#[test]
fn configured_headers_and_other_target_forms() {
    let server = Server::builder()
        .workers(2)
        .header("X-Served-By", "ssehub-test")
        .header("X-Bad", "a\r\nSet-Cookie: injected")
        .on_connect(|client, req| client.send(req.path.clone()).unwrap())
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.local_addr();
    for target in ["/sse", "http://example.com/sse?x=1", "/s%73e", "///sse"] {
        let mut stream = Stream::open(addr, target, "");
        assert_eq!(stream.head.header("x-served-by"), Some("ssehub-test"), "{target}");
        assert_eq!(stream.head.count("set-cookie"), 0, "a header value cannot split the head");
        assert_eq!(stream.head.count("x-bad"), 0);
        let items = stream.items(1);
        assert_eq!(items.len(), 1, "{target}");
    }
    server.shutdown();
}

#[test]
fn events_arrive_in_order_and_intact() {
    let server = Server::builder()
        .workers(2)
        .on_connect(|client, _req| {
            let events = [
                Event::new("line one\nline two"),
                Event::new("crlf one\r\ncrlf two\r\ncrlf three"),
                Event::new("cr one\rcr two"),
                Event::new("typed").event("update").id("7"),
                Event::new("with retry").retry(2500),
                Event::new(""),
                Event::comment_only("ignored by clients"),
                Event::new("trailing break\n"),
                Event::new("  leading spaces and: colons: kept"),
                Event::new("ünïcödé ✓ 𝄞"),
                Event::new("id reset").id(""),
                Event::new("last").event("done"),
            ];
            for ev in events {
                client.send(ev).expect("send in on_connect");
            }
        })
        .bind("127.0.0.1:0")
        .unwrap();
    let mut stream = Stream::open(server.local_addr(), "/sse", "");
    let items = stream.items(12);
    let expected = vec![
        message("line one\nline two"),
        message("crlf one\ncrlf two\ncrlf three"),
        message("cr one\ncr two"),
        event("update", "typed", "7"),
        OwnedItem::Retry(2500),
        event("message", "with retry", "7"),
        event("message", "", "7"),
        event("message", "trailing break\n", "7"),
        event("message", "  leading spaces and: colons: kept", "7"),
        event("message", "ünïcödé ✓ 𝄞", "7"),
        message("id reset"),
        event("done", "last", ""),
    ];
    assert_eq!(items, expected);
    // One event is one chunk: the first chunk is `:ok`, then one per event sent.
    assert_eq!(stream.chunks[0], b":ok\n\n");
    assert_eq!(stream.chunks[1], b"data: line one\ndata: line two\n\n");
    assert_eq!(stream.chunks[4], b"event: update\nid: 7\ndata: typed\n\n");
    server.shutdown();
}

#[test]
fn sends_from_another_thread_keep_their_order() {
    let (server, clients) = server_with_clients();
    let mut stream = Stream::open(server.local_addr(), "/sse", "");
    let client = clients.recv_timeout(TIMEOUT).expect("on_connect");
    assert!(client.is_connected());
    let sender = std::thread::spawn(move || {
        for i in 0..500 {
            client.send(Event::new(format!("n{i}")).id(i.to_string())).unwrap();
        }
        client
    });
    let items = stream.items(500);
    let expected: Vec<_> = (0..500).map(|i| event("message", &format!("n{i}"), &i.to_string())).collect();
    assert_eq!(items, expected);
    let _client = sender.join().unwrap();
    server.shutdown();
}

#[test]
fn invalid_events_are_refused_and_the_stream_goes_on() {
    let (server, clients) = server_with_clients();
    let mut stream = Stream::open(server.local_addr(), "/sse", "");
    let client = clients.recv_timeout(TIMEOUT).unwrap();
    assert!(matches!(client.send(Event::new("x").id("1\ndata: injected")), Err(SendError::Invalid(_))));
    assert!(matches!(client.send(Event::new("x").event("a\rb")), Err(SendError::Invalid(_))));
    assert!(server.broadcaster().send(Event::new("x").id("a\0b")).is_err());
    client.send("fine").unwrap();
    assert_eq!(stream.items(1), vec![message("fine")]);
    server.shutdown();
}

#[test]
fn broadcast_reaches_200_clients_in_order() {
    const CLIENTS: usize = 200;
    const EVENTS: usize = 50;
    let server = Server::builder().workers(2).bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    let mut streams: Vec<Stream> = (0..CLIENTS).map(|_| Stream::open(addr, "/sse", "")).collect();
    let all = server.broadcaster();
    assert!(wait_until(TIMEOUT, || all.client_count() == CLIENTS), "{} clients", all.client_count());
    for i in 0..EVENTS {
        let n = all.send(Event::new(format!("b{i}")).event("tick").id(i.to_string())).unwrap();
        assert_eq!(n, CLIENTS);
    }
    let expected: Vec<_> = (0..EVENTS).map(|i| event("tick", &format!("b{i}"), &i.to_string())).collect();
    for (k, stream) in streams.iter_mut().enumerate() {
        assert_eq!(stream.items(EVENTS), expected, "client {k}");
    }
    assert_eq!(server.stats().slow_dropped, 0);
    drop(streams);
    assert!(wait_until(TIMEOUT, || all.client_count() == 0), "{} clients left", all.client_count());
    server.shutdown();
}

#[test]
fn disconnect_is_detected() {
    let (tx, clients) = mpsc::channel();
    let (gone_tx, gone) = mpsc::channel();
    let server = Server::builder()
        .workers(2)
        .on_connect(move |client, _| {
            let _ = tx.send(client);
        })
        .on_disconnect(move |client| {
            let _ = gone_tx.send((client.id(), client.is_connected()));
        })
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.local_addr();
    let mut stay = Stream::open(addr, "/sse", "");
    let staying = clients.recv_timeout(TIMEOUT).unwrap();
    let leave = Stream::open(addr, "/sse", "");
    let leaving = clients.recv_timeout(TIMEOUT).unwrap();
    assert_ne!(staying.id(), leaving.id());
    let all = server.broadcaster();
    assert!(wait_until(TIMEOUT, || all.client_count() == 2));

    drop(leave);
    let mut result = Ok(());
    let detected = wait_until(TIMEOUT, || {
        result = leaving.send("anyone there?");
        result.is_err()
    });
    assert!(detected, "send kept succeeding after the client left");
    assert_eq!(result, Err(SendError::Disconnected));
    assert!(!leaving.is_connected());
    let (id, connected) = gone.recv_timeout(TIMEOUT).expect("on_disconnect");
    assert_eq!(id, leaving.id());
    assert!(!connected, "the client is already marked gone in on_disconnect");
    assert!(wait_until(TIMEOUT, || all.client_count() == 1), "{} clients", all.client_count());

    // The other client is untouched.
    assert!(staying.is_connected());
    staying.send("still here").unwrap();
    assert_eq!(stay.items(1), vec![message("still here")]);
    assert!(gone.try_recv().is_err());
    server.shutdown();
}

#[test]
fn close_ends_the_stream_with_the_last_chunk() {
    let (tx, gone) = mpsc::channel();
    let server = Server::builder()
        .workers(2)
        .on_connect(|client, _| {
            client.send("before close").unwrap();
            client.close();
        })
        .on_disconnect(move |client| {
            let _ = tx.send(client.id());
        })
        .bind("127.0.0.1:0")
        .unwrap();
    let mut stream = Stream::open(server.local_addr(), "/sse", "");
    assert_eq!(stream.read_to_end(), Some(true), "the body ends with 0\\r\\n\\r\\n");
    assert_eq!(stream.items(10), vec![message("before close")]);
    assert_eq!(stream.chunks, vec![b":ok\n\n".to_vec(), b"data: before close\n\n".to_vec()]);
    assert!(stream.closes_within(TIMEOUT), "the server closes the connection after the last chunk");
    gone.recv_timeout(TIMEOUT).expect("on_disconnect after close");
    assert!(wait_until(TIMEOUT, || server.broadcaster().client_count() == 0));
    server.shutdown();
}

#[test]
fn close_from_outside_and_send_afterwards() {
    let (server, clients) = server_with_clients();
    let mut stream = Stream::open(server.local_addr(), "/sse", "");
    let client = clients.recv_timeout(TIMEOUT).unwrap();
    client.send("one").unwrap();
    client.close();
    assert_eq!(stream.read_to_end(), Some(true));
    assert_eq!(stream.items(10), vec![message("one")]);
    assert!(wait_until(TIMEOUT, || !client.is_connected()));
    assert_eq!(client.send("late"), Err(SendError::Disconnected));
    client.close(); // a second close is harmless
    server.shutdown();
}

/// The raw body's comment lines, other than the first `:ok`.
fn keepalive_lines(body: &[u8]) -> usize {
    let text = String::from_utf8_lossy(body);
    text.split('\n').filter(|l| l.starts_with(':') && *l != ":ok").count()
}

#[test]
fn keep_alive_comments_reach_an_idle_stream() {
    // How many, and when, is the connection's rule, tested on a virtual clock
    // (src/proto/conn.rs, `keep_alives_come_each_interval_of_silence_and_events_put_them_off`);
    // here: the worker files the deadline, and the comment reaches the client.
    let server =
        Server::builder().workers(2).keep_alive(Some(Duration::from_millis(50))).bind("127.0.0.1:0").unwrap();
    let mut stream = Stream::open(server.local_addr(), "/sse", "");
    let all = server.broadcaster();
    assert!(wait_until(TIMEOUT, || all.client_count() == 1));
    let deadline = std::time::Instant::now() + TIMEOUT;
    while keepalive_lines(&stream.body) == 0 && std::time::Instant::now() < deadline {
        stream.read_for(Duration::from_millis(20));
    }
    assert!(keepalive_lines(&stream.body) >= 1, "no keep-alive comment: {:?}", stream.body);
    all.send("after").unwrap();
    assert_eq!(data_of(&stream.items(1)), ["after"], "the stream goes on");
    server.shutdown();
}

#[test]
fn initial_retry_comes_first() {
    let server = Server::builder()
        .workers(2)
        .initial_retry(1500)
        .on_connect(|client, _| client.send("hello").unwrap())
        .bind("127.0.0.1:0")
        .unwrap();
    let mut stream = Stream::open(server.local_addr(), "/sse", "");
    assert_eq!(stream.items(2), vec![OwnedItem::Retry(1500), message("hello")]);
    assert_eq!(stream.chunks[0], b":ok\n\n");
    assert_eq!(stream.chunks[1], b"retry: 1500\n\n");
    server.shutdown();
}

#[test]
fn last_event_id_from_header_then_query() {
    let (tx, rx) = mpsc::channel();
    let server = Server::builder()
        .workers(2)
        .on_connect(move |_client, request| {
            let _ = tx.send(request.last_event_id());
        })
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.local_addr();
    let _a = Stream::open(addr, "/sse", "Last-Event-ID: 42\r\n");
    assert_eq!(rx.recv_timeout(TIMEOUT).unwrap().as_deref(), Some("42"));
    let _b = Stream::open(addr, "/sse?lastEventId=seven%207", "");
    assert_eq!(rx.recv_timeout(TIMEOUT).unwrap().as_deref(), Some("seven 7"));
    let _c = Stream::open(addr, "/sse?lastEventId=q", "last-event-id: h\r\n");
    assert_eq!(rx.recv_timeout(TIMEOUT).unwrap().as_deref(), Some("h"), "the header wins");
    let _d = Stream::open(addr, "/sse", "");
    assert_eq!(rx.recv_timeout(TIMEOUT).unwrap(), None);
    server.shutdown();
}

#[test]
fn wildcard_path_and_query_parameters() {
    let (tx, rx) = mpsc::channel();
    let server = Server::builder()
        .workers(2)
        // Connections the server closed linger up to 2 s, and shutdown waits for them.
        .configure(|c| c.shutdown_grace = SHORT)
        .path("/events/*")
        .on_connect(move |client, request| {
            let _ = tx.send((request.path.clone(), request.query_param("y"), request.query_param("room")));
            client.send(format!("welcome to {}", request.path)).unwrap();
        })
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.local_addr();

    let mut a = Stream::open(addr, "/events/room1", "");
    assert_eq!(rx.recv_timeout(TIMEOUT).unwrap(), ("/events/room1".to_owned(), None, None));
    assert_eq!(a.items(1), vec![message("welcome to /events/room1")]);

    let mut b = Stream::open(addr, "//events/x?y=1&room=a+b%21", "");
    let (path, y, room) = rx.recv_timeout(TIMEOUT).unwrap();
    assert_eq!((y.as_deref(), room.as_deref()), (Some("1"), Some("a b!")));
    assert!(path == "//events/x" || path == "/events/x", "{path}");
    assert_eq!(b.items(1).len(), 1);

    let _c = Stream::open(addr, "/events/deep/er", "");
    assert!(rx.recv_timeout(TIMEOUT).is_ok());

    for other in ["/other", "/events", "/event/x"] {
        let mut conn = Conn::connect(addr);
        conn.send(&get(other, ""));
        let (head, _) = conn.read_response();
        assert_eq!(head.status, 404, "{other}");
    }
    assert!(rx.try_recv().is_err(), "no stream for the other paths");
    server.shutdown();
}

#[test]
fn http10_stream_is_close_delimited() {
    let (server, clients) = server_with_clients();
    let mut conn = Conn::connect(server.local_addr());
    conn.send(b"GET /sse HTTP/1.0\r\n\r\n");
    let head = conn.read_head();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-type"), Some("text/event-stream"));
    assert!(head.closes(), "Connection: close: {head:?}");
    assert!(!head.is_chunked(), "{head:?}");
    assert_eq!(head.count("transfer-encoding"), 0);
    let client = clients.recv_timeout(TIMEOUT).unwrap();
    client.send(Event::new("a\nb").id("1")).unwrap();
    client.send("c").unwrap();
    client.close();
    let mut stream = Stream::from_head(conn, head);
    assert_eq!(stream.read_to_end(), Some(false), "the body ends at EOF, without a last chunk");
    assert_eq!(stream.body, b":ok\n\nid: 1\ndata: a\ndata: b\n\ndata: c\n\n");
    assert_eq!(stream.items(2), vec![event("message", "a\nb", "1"), event("message", "c", "1")]);
    server.shutdown();
}

#[test]
fn graceful_shutdown_ends_streams() {
    let (server, clients) = server_with_clients();
    let addr = server.local_addr();
    let mut streams: Vec<Stream> = (0..4).map(|_| Stream::open(addr, "/sse", "")).collect();
    for _ in 0..4 {
        clients.recv_timeout(TIMEOUT).unwrap().send("bye soon").unwrap();
    }
    // An idle keep-alive connection too, after a fallback answer.
    let mut idle = Conn::connect(addr);
    idle.send(&get("/page", ""));
    assert_eq!(idle.read_response().0.status, 404);

    let started = Instant::now();
    let (done_tx, done) = mpsc::channel();
    let stopper = std::thread::spawn(move || {
        server.shutdown();
        let _ = done_tx.send(());
    });
    for stream in &mut streams {
        assert_eq!(stream.read_to_end(), Some(true), "0\\r\\n\\r\\n at shutdown");
        assert_eq!(stream.items(5), vec![message("bye soon")]);
        assert!(stream.closes_within(TIMEOUT));
    }
    assert!(idle.closes_within(TIMEOUT), "idle connections are closed too");
    done.recv_timeout(TIMEOUT).expect("shutdown returns");
    stopper.join().unwrap();
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    // Nobody listens any more.
    let refused = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1));
    if let Ok(mut s) = refused {
        // A connection may still be completed by the kernel backlog; it must not be served.
        s.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        std::io::Write::write_all(&mut s, &get("/sse", "")).ok();
        let mut buf = [0u8; 64];
        let n = std::io::Read::read(&mut s, &mut buf).unwrap_or(0);
        assert_eq!(n, 0, "served after shutdown: {:?}", String::from_utf8_lossy(&buf[..n]));
    }
}

#[test]
fn on_connect_never_runs_after_on_disconnect() {
    // A client that sends its request and resets the connection at once: the server may find
    // out while writing the head, before or after on_connect, but on_disconnect must come last.
    let log = Arc::new(Mutex::new(Vec::new()));
    let (l1, l2) = (log.clone(), log.clone());
    let server = Server::builder()
        .workers(2)
        .on_connect(move |client, _| l1.lock().unwrap().push(("connect", client.id())))
        .on_disconnect(move |client| l2.lock().unwrap().push(("disconnect", client.id())))
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.local_addr();
    for _ in 0..20 {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.connect_timeout(&addr.into(), TIMEOUT).unwrap();
        s.set_linger(Some(Duration::ZERO)).unwrap();
        s.send(&get("/sse", "")).unwrap();
        drop(s); // RST
    }
    let settled = wait_until(TIMEOUT, || {
        server.stats().accepted == 20 && server.stats().connections == 0 && server.stats().streams == 0
    });
    assert!(settled, "{:?}", server.stats());
    let log = log.lock().unwrap().clone();
    let connects = log.iter().filter(|(w, _)| *w == "connect").count();
    assert_eq!(connects, log.len() - connects, "one on_disconnect per on_connect: {log:?}");
    for (i, (what, id)) in log.iter().enumerate() {
        if *what == "disconnect" {
            assert!(
                log[..i].contains(&("connect", *id)),
                "client {id}: on_disconnect ran before on_connect: {log:?}"
            );
        }
    }
    server.shutdown();
}
