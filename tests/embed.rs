//! Serving where the application already lives, on real sockets: a listener handed in
//! (`listen_on`, `listen_on_all`), and one connection handed off with the bytes already read
//! from it (`Server::adopt`): streams, replay, the fallback, keep-alive, the connection limit,
//! the head limit, a stopped server.

mod net;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use net::{Conn, Stream, TIMEOUT, data_of, get, wait_until};
use ssehub::{AdoptError, Event, Response, Server};

fn loopback() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0")
}

/// The application's side of a hand-off: an accept loop of its own on `listener`. A client
/// connects and sends `request`; the application reads its first `split` bytes (exactly),
/// and returns its socket with them. The rest of the request stays in the socket.
fn accept_and_read(listener: &TcpListener, request: &[u8], split: usize) -> (Conn, TcpStream, Vec<u8>) {
    let mut client = Conn::connect(listener.local_addr().unwrap());
    client.send(request);
    let (mut stream, _) = listener.accept().expect("accept");
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut already_read = vec![0; split];
    stream.read_exact(&mut already_read).expect("read the first bytes");
    (client, stream, already_read)
}

fn stream_from(mut conn: Conn) -> Stream {
    let head = conn.read_head();
    assert_eq!(head.status, 200, "stream head: {head:?}");
    assert_eq!(head.header("content-type"), Some("text/event-stream"), "{head:?}");
    Stream::from_head(conn, head)
}

#[test]
fn listen_on_serves_a_stream() {
    let listener = loopback();
    let addr = listener.local_addr().unwrap();
    let server = Server::builder().workers(2).listen_on(listener).expect("listen_on");
    assert_eq!(server.local_addr(), addr);
    assert_eq!(server.local_addrs(), &[addr]);
    let mut stream = Stream::open(addr, "/sse", "");
    assert!(wait_until(TIMEOUT, || server.stats().streams == 1));
    server.broadcaster().send("over a listener handed in").unwrap();
    let items = stream.items(1);
    assert_eq!(data_of(&items), ["over a listener handed in"]);
    server.shutdown();
}

#[test]
fn one_server_accepts_on_several_listeners() {
    let (a, b) = (loopback(), loopback());
    let addrs: Vec<SocketAddr> = [&a, &b].iter().map(|l| l.local_addr().unwrap()).collect();
    let server = Server::builder()
        .workers(2)
        .fallback(|_| Response::text(200, "page"))
        .listen_on_all([a, b])
        .expect("listen_on_all");
    assert_eq!(server.local_addrs(), &addrs[..]);
    assert_eq!(server.local_addr(), addrs[0]);
    let mut streams: Vec<Stream> = addrs.iter().map(|&addr| Stream::open(addr, "/sse", "")).collect();
    assert!(wait_until(TIMEOUT, || server.stats().streams == 2));
    server.broadcaster().send("to both ports").unwrap();
    for stream in &mut streams {
        assert_eq!(data_of(&stream.items(1)), ["to both ports"]);
    }
    // The fallback answers on the second listener too.
    let mut conn = Conn::connect(addrs[1]);
    conn.send(&get("/", ""));
    let (head, body) = conn.read_response();
    assert_eq!((head.status, body.as_slice()), (200, &b"page"[..]));
    server.shutdown();
}

#[test]
fn listen_on_all_with_no_listener_is_an_error() {
    let err = Server::builder().listen_on_all(Vec::new()).expect_err("no listener");
    assert!(matches!(err, ssehub::ServerError::Io(_)), "{err:?}");
    assert!(err.to_string().contains("no listener"), "{err}");
}

#[test]
fn adopt_answers_a_head_split_between_already_read_and_the_socket() {
    let server = Server::builder()
        .workers(2)
        .keep_alive(None)
        .on_connect(|client, request| {
            client.send(format!("hello {}", request.path)).unwrap();
        })
        .bind("127.0.0.1:0")
        .unwrap();
    // Three events retained for replay, before the client comes.
    let hub = server.broadcaster();
    let ids: Vec<String> = (1..=3)
        .map(|n| {
            hub.publish_to(&ssehub::Target::All, Event::new(format!("e{n}"))).unwrap().id.unwrap().to_string()
        })
        .collect();
    let app = loopback();
    let request = get("/sse", &format!("Last-Event-ID: {}\r\n", ids[0]));
    // Part of the request line only: the server reads the rest from the socket.
    let (client, stream, already_read) = accept_and_read(&app, &request, 9);
    assert_eq!(already_read, b"GET /sse ");
    server.adopt(stream, &already_read).expect("adopt");
    let mut stream = stream_from(client);
    let items = stream.items(3);
    // The replay after the id sent (the socket's half of the head held it), then on_connect.
    assert_eq!(data_of(&items), ["e2", "e3", "hello /sse"]);
    assert!(wait_until(TIMEOUT, || server.stats().streams == 1));
    hub.send("live").unwrap();
    assert_eq!(data_of(&stream.items(1)), ["live"]);
    server.shutdown();
}

#[test]
fn adopt_with_the_whole_head_and_nothing_left_in_the_socket() {
    let server = Server::builder().workers(1).bind("127.0.0.1:0").unwrap();
    let app = loopback();
    let request = get("/sse", "");
    let (mut client, stream, already_read) = accept_and_read(&app, &request, request.len());
    // The client has nothing more to say: its FIN must not end the request unanswered.
    client.half_close();
    server.adopt(stream, &already_read).expect("adopt");
    let head = client.read_head();
    assert_eq!(head.status, 200, "{head:?}");
    server.shutdown();
}

#[test]
fn a_server_with_no_listener_serves_what_it_adopts() {
    let server = Server::builder().workers(2).adopt_only().expect("adopt_only");
    assert!(server.local_addrs().is_empty());
    let app = loopback();
    let request = get("/sse", "");
    let (client, stream, already_read) = accept_and_read(&app, &request, 20);
    server.adopt(stream, &already_read).unwrap();
    let mut stream = stream_from(client);
    assert!(wait_until(TIMEOUT, || server.stats().streams == 1));
    server.broadcaster().send("adopted only").unwrap();
    assert_eq!(data_of(&stream.items(1)), ["adopted only"]);
    server.shutdown();
}

#[test]
fn adopt_of_another_path_goes_to_the_fallback_and_keeps_the_connection() {
    let server = Server::builder()
        .workers(2)
        .fallback(|request| Response::text(200, format!("fallback for {}", request.path)))
        .bind("127.0.0.1:0")
        .unwrap();
    let app = loopback();
    let request = get("/page", "");
    let (mut client, stream, already_read) = accept_and_read(&app, &request, request.len() - 3);
    server.adopt(stream, &already_read).expect("adopt");
    let (head, body) = client.read_response();
    assert_eq!(head.status, 200, "{head:?}");
    assert_eq!(String::from_utf8(body).unwrap(), "fallback for /page");
    assert!(!head.closes(), "kept alive: {head:?}");
    // The server owns the connection now: the next request on it is its own.
    client.send(&get("/other", ""));
    let (head, body) = client.read_response();
    assert_eq!((head.status, String::from_utf8(body).unwrap().as_str()), (200, "fallback for /other"));
    // And a stream after that, on the same socket.
    client.send(&get("/sse", ""));
    let mut stream = stream_from(client);
    assert!(wait_until(TIMEOUT, || server.stats().streams == 1));
    server.broadcaster().send("kept").unwrap();
    assert_eq!(data_of(&stream.items(1)), ["kept"]);
    server.shutdown();
}

#[test]
fn adopt_past_the_connection_limit_is_refused_with_503() {
    let server =
        Server::builder().workers(1).configure(|c| c.max_connections = 1).bind("127.0.0.1:0").unwrap();
    assert_eq!(server.connection_limit(), 1);
    let _first = Stream::open(server.local_addr(), "/sse", "");
    assert!(wait_until(TIMEOUT, || server.stats().connections == 1));
    let app = loopback();
    let request = get("/sse", "");
    let (mut client, stream, already_read) = accept_and_read(&app, &request, request.len());
    server.adopt(stream, &already_read).expect("answered, if refused");
    let head = client.read_head();
    assert_eq!(head.status, 503, "{head:?}");
    assert!(client.closes_within(TIMEOUT));
    let stats = server.stats();
    assert_eq!(stats.connections, 1);
    assert!(stats.rejected_by_reason.contains(&("connection_limit", 1)), "{stats:?}");
    server.shutdown();
}

#[test]
fn adopted_connections_count_and_are_uncounted() {
    let server =
        Server::builder().workers(2).fallback(|_| Response::text(200, "x")).bind("127.0.0.1:0").unwrap();
    let app = loopback();
    let request = get("/", "Connection: close\r\n");
    let (mut client, stream, already_read) = accept_and_read(&app, &request, 4);
    server.adopt(stream, &already_read).unwrap();
    let (head, _) = client.read_response();
    assert_eq!(head.status, 200);
    assert!(client.closes_within(TIMEOUT));
    drop(client);
    assert!(wait_until(TIMEOUT, || server.stats().connections == 0), "{:?}", server.stats());
    assert_eq!(server.stats().accepted, 1);
    server.shutdown();
}

#[test]
fn already_read_past_the_head_limit_is_refused_with_431() {
    let server = Server::builder()
        .workers(1)
        .configure(|c| {
            c.limits.max_head_bytes = 1024;
            c.limits.max_body_bytes = 1024;
        })
        .bind("127.0.0.1:0")
        .unwrap();
    let app = loopback();
    // A head with no end within the limit: refused as one read from the socket is.
    let long = [&b"GET /sse HTTP/1.1\r\nX-Long: "[..], &[b'a'; 1500]].concat();
    let (mut client, stream, already_read) = accept_and_read(&app, &long, long.len());
    server.adopt(stream, &already_read).unwrap();
    assert_eq!(client.read_head().status, 431);
    // More than any one request can hold (head and body limits together), whatever it is.
    let (mut client, stream, _) = accept_and_read(&app, b"G", 1);
    server.adopt(stream, &vec![b'x'; 4096]).unwrap();
    assert_eq!(client.read_head().status, 431);
    assert!(client.closes_within(TIMEOUT));
    let stats = server.stats();
    assert!(stats.rejected_by_reason.contains(&("malformed", 2)), "{stats:?}");
    server.shutdown();
}

#[test]
fn adopt_after_shutdown_gives_the_socket_back() {
    let server = Server::builder().workers(1).bind("127.0.0.1:0").unwrap();
    server.shutdown_handle().shutdown();
    let app = loopback();
    let request = get("/sse", "");
    let (mut client, stream, already_read) = accept_and_read(&app, &request, request.len());
    let err = server.adopt(stream, &already_read).expect_err("stopped");
    assert!(err.to_string().contains("stopped"), "{err}");
    let AdoptError::Stopped(mut stream) = err else { panic!("not Stopped: {err:?}") };
    // The application still holds the connection and can answer it itself.
    stream.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n").unwrap();
    assert_eq!(client.read_head().status, 503);
    // After the workers are gone, from another thread's handle, the same.
    let adopter = server.adopter();
    server.shutdown();
    let (_client, stream, already_read) = accept_and_read(&app, &request, request.len());
    assert!(matches!(adopter.adopt(stream, &already_read), Err(AdoptError::Stopped(_))));
}

#[test]
fn adopt_on_a_slow_reader_drops_it_as_any_stream() {
    // The adopted stream has the same bounded queue: a client that reads nothing is dropped,
    // counted as slow, while another stream carries on.
    let server =
        Server::builder().workers(1).configure(|c| c.max_queue_bytes = 64 << 10).bind("127.0.0.1:0").unwrap();
    let app = loopback();
    let request = get("/sse", "");
    let (slow, stream, already_read) = accept_and_read(&app, &request, 5);
    slow.stream.set_nonblocking(false).unwrap();
    server.adopt(stream, &already_read).unwrap();
    let mut fast = Stream::open(server.local_addr(), "/sse", "");
    assert!(wait_until(TIMEOUT, || server.stats().streams == 2));
    let hub = server.broadcaster();
    let payload = "x".repeat(16 << 10);
    let mut sent = 0;
    assert!(
        wait_until(Duration::from_secs(20), || {
            hub.send(payload.as_str()).unwrap();
            sent += 1;
            // The fast client keeps up.
            assert_eq!(fast.items(1).len(), 1);
            server.stats().slow_dropped >= 1
        }),
        "the slow adopted stream was never dropped after {sent} events"
    );
    assert!(wait_until(TIMEOUT, || server.stats().streams == 1));
    hub.send("still here").unwrap();
    assert_eq!(data_of(&fast.items(1)), ["still here"]);
    drop(slow);
    server.shutdown();
}

#[test]
fn adopt_speaks_http2_when_already_read_is_its_preface() {
    let server = Server::builder().workers(1).bind("127.0.0.1:0").unwrap();
    let app = loopback();
    let mut h2 = net::h2::H2::connect(app.local_addr().unwrap());
    let (mut stream, _) = app.accept().unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    // The preface only: the client's SETTINGS stay in the socket.
    let mut preface = vec![0; ssehub::h2::PREFACE.len()];
    stream.read_exact(&mut preface).unwrap();
    server.adopt(stream, &preface).unwrap();
    h2.get(1, "/sse");
    assert!(wait_until(TIMEOUT, || server.stats().streams == 1));
    server.broadcaster().send("over h2").unwrap();
    assert_eq!(data_of(&h2.items(1, 1)), ["over h2"]);
    server.shutdown();
}

#[cfg(feature = "tls")]
#[test]
fn a_tls_server_serves_adopted_sockets_plain_and_its_listener_over_tls() {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let tls = ssehub::proto::tls::TlsConfig::from_pem(
        c.cert.pem().as_bytes(),
        c.signing_key.serialize_pem().as_bytes(),
    )
    .unwrap();
    // Handed in, the listener gets TLS (and the metrics listener is bound) as with `bind`.
    let server = Server::builder()
        .workers(1)
        .tls(tls)
        .metrics_addr("127.0.0.1:0".parse().unwrap())
        .listen_on(loopback())
        .unwrap();
    let metrics = server.metrics_addr().expect("a metrics listener");
    let mut conn = Conn::connect(metrics);
    conn.send(&get("/metrics", ""));
    let (head, body) = conn.read_response();
    assert_eq!(head.status, 200);
    assert!(String::from_utf8(body).unwrap().contains("ssehub_connections"), "metrics");
    // Plain HTTP on its own listener: told to use https.
    let mut plain = Conn::connect(server.local_addr());
    plain.send(&get("/sse", ""));
    assert_eq!(plain.read_head().status, 400);
    // An adopted socket: the application read plaintext from it, so it is served plain.
    let app = loopback();
    let request = get("/sse", "");
    let (client, stream, already_read) = accept_and_read(&app, &request, 10);
    server.adopt(stream, &already_read).unwrap();
    let mut stream = stream_from(client);
    assert!(wait_until(TIMEOUT, || server.stats().streams == 1));
    server.broadcaster().send("plain, adopted").unwrap();
    assert_eq!(data_of(&stream.items(1)), ["plain, adopted"]);
    server.shutdown();
}
