//! HTTPS on the server's own event loop, driven by a real TLS client (rustls) over real sockets:
//! streams and answers over TLS, plain HTTP sent to the TLS port, garbage, a handshake that
//! never comes, a reader too slow, and certificate rotation under open streams.

#![cfg(feature = "tls")]

mod net;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use net::{TIMEOUT, wait_until};
use ssehub::proto::tls::TlsConfig;
use ssehub::{Decoder, Event, OwnedItem, Server};

/// A certificate for localhost: (chain PEM, key PEM, certificate DER).
fn certificate() -> (String, String, Vec<u8>) {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    (c.cert.pem(), c.signing_key.serialize_pem(), c.cert.der().to_vec())
}

fn server(chain: &str, key: &str) -> Server {
    Server::builder()
        .workers(2)
        .keep_alive(None)
        .tls(TlsConfig::from_pem(chain.as_bytes(), key.as_bytes()).unwrap())
        .configure(|c| c.header_timeout = Duration::from_millis(500))
        .metrics_addr("127.0.0.1:0".parse().unwrap())
        .bind("127.0.0.1:0")
        .unwrap()
}

/// A TLS client trusting `trusted` (DER), connected to `addr` as "localhost".
struct Client {
    tls: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    decoder: Decoder,
    items: Vec<OwnedItem>,
}

impl Client {
    fn connect(addr: SocketAddr, trusted: &[u8]) -> Client {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(trusted.to_vec().into()).unwrap();
        let mut config =
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        let sock = TcpStream::connect(addr).unwrap();
        sock.set_read_timeout(Some(TIMEOUT)).unwrap();
        Client { tls: rustls::StreamOwned::new(conn, sock), decoder: Decoder::new(), items: Vec::new() }
    }

    /// Sends `request` and reads until the end of the response head; returns the head.
    fn request(&mut self, request: &[u8]) -> String {
        self.tls.write_all(request).unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            self.tls.read_exact(&mut byte).expect("a response head");
            head.push(byte[0]);
        }
        String::from_utf8(head).unwrap()
    }

    /// Reads stream chunks until `n` items have been decoded.
    fn items(&mut self, n: usize) -> Vec<OwnedItem> {
        let deadline = Instant::now() + TIMEOUT;
        let mut buf = [0u8; 16 * 1024];
        while self.items.len() < n && Instant::now() < deadline {
            let got = self.tls.read(&mut buf).expect("stream bytes");
            assert!(got > 0, "the stream ended");
            // The chunk framing: strip the size lines (each chunk here holds whole events).
            let text = String::from_utf8_lossy(&buf[..got]).into_owned();
            let body: String = text
                .split("\r\n")
                .filter(|part| !part.is_empty() && !part.bytes().all(|b| b.is_ascii_hexdigit()))
                .collect();
            let items = &mut self.items;
            self.decoder.feed(body.as_bytes(), |item| items.push(item.to_owned())).unwrap();
        }
        self.items.drain(..n.min(self.items.len())).collect()
    }

    fn peer_certificate(&self) -> Vec<u8> {
        self.tls.conn.peer_certificates().unwrap()[0].as_ref().to_vec()
    }
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").into_bytes()
}

fn metrics(server: &Server) -> String {
    let mut conn = net::Conn::connect(server.metrics_addr().unwrap());
    conn.send(&get("/metrics"));
    String::from_utf8(conn.read_response().1).unwrap()
}

#[test]
fn a_stream_over_tls_1_3_with_alpn() {
    let (chain, key, der) = certificate();
    let server = server(&chain, &key);
    let mut c = Client::connect(server.local_addr(), &der);
    let head = c.request(&get("/sse"));
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n") && head.contains("text/event-stream"), "{head}");
    assert_eq!(c.tls.conn.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
    assert_eq!(c.tls.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert!(wait_until(TIMEOUT, || server.broadcaster().client_count() == 1));
    for n in 0..3 {
        server.broadcaster().send(Event::new(format!("over tls {n}"))).unwrap();
    }
    let items = c.items(3);
    assert_eq!(net::data_of(&items), ["over tls 0", "over tls 1", "over tls 2"]);
    let m = metrics(&server);
    assert!(m.contains("ssehub_tls_handshakes_total 1\n"), "{m}");
    assert!(m.contains("ssehub_tls_connections{version=\"TLSv1.3\"} 1\n"), "{m}");
    assert!(m.contains("ssehub_tls_alpn_connections{protocol=\"http/1.1\"} 1\n"), "{m}");
    server.shutdown();
}

#[test]
fn plain_http_to_the_tls_port_is_told_to_use_https() {
    let (chain, key, _) = certificate();
    let server = server(&chain, &key);
    let mut conn = net::Conn::connect(server.local_addr());
    conn.send(&get("/sse"));
    let (head, body) = conn.read_response();
    assert_eq!(head.status, 400);
    assert!(String::from_utf8_lossy(&body).contains("https://"), "{body:?}");
    assert!(conn.closes_within(TIMEOUT));
    assert!(metrics(&server).contains("ssehub_tls_handshake_failures_total{reason=\"plain_http\"} 1\n"));
    server.shutdown();
}

#[test]
fn garbage_and_silence_are_closed_and_the_server_goes_on() {
    let (chain, key, der) = certificate();
    let server = server(&chain, &key);
    let addr = server.local_addr();
    let mut garbage = net::Conn::connect(addr);
    garbage.send(&[0x16, 3, 1, 0, 4, 0xde, 0xad, 0xbe, 0xef]);
    assert!(garbage.closes_within(TIMEOUT), "garbage closes the connection");
    // A connection that never says hello is closed at the header timeout (500 ms here).
    let silent = TcpStream::connect(addr).unwrap();
    silent.set_read_timeout(Some(TIMEOUT)).unwrap();
    let started = Instant::now();
    let mut byte = [0u8; 1];
    assert_eq!((&silent).read(&mut byte).unwrap_or(0), 0, "closed, nothing said");
    assert!(started.elapsed() < TIMEOUT);
    let m = metrics(&server);
    assert!(m.contains("ssehub_tls_handshake_failures_total{reason=\"protocol\"} 1\n"), "{m}");
    assert!(m.contains("ssehub_tls_handshake_failures_total{reason=\"timeout\"} 1\n"), "{m}");
    let mut c = Client::connect(addr, &der);
    assert!(c.request(&get("/nothing")).starts_with("HTTP/1.1 404"), "still serving");
    server.shutdown();
}

#[test]
fn a_new_certificate_for_new_handshakes_and_open_streams_keep_flowing() {
    let (chain_a, key_a, der_a) = certificate();
    let (chain_b, key_b, der_b) = certificate();
    let server = server(&chain_a, &key_a);
    let addr = server.local_addr();
    let mut old = Client::connect(addr, &der_a);
    old.request(&get("/sse"));
    assert!(wait_until(TIMEOUT, || server.broadcaster().client_count() == 1));
    assert!(server.tls().unwrap().reload(b"not pem", b"not pem").is_err(), "a broken one is refused");
    server.tls().unwrap().reload(chain_b.as_bytes(), key_b.as_bytes()).unwrap();
    let mut new = Client::connect(addr, &der_b);
    new.request(&get("/sse"));
    assert_eq!(new.peer_certificate(), der_b, "new handshakes get the new certificate");
    assert_eq!(old.peer_certificate(), der_a);
    assert!(wait_until(TIMEOUT, || server.broadcaster().client_count() == 2));
    server.broadcaster().send("after the rotation").unwrap();
    assert_eq!(net::data_of(&old.items(1)), ["after the rotation"], "the open stream goes on");
    assert_eq!(net::data_of(&new.items(1)), ["after the rotation"]);
    server.shutdown();
}

#[test]
fn a_tls_reader_too_slow_is_cut_off_like_a_plain_one() {
    let (chain, key, der) = certificate();
    let server = Server::builder()
        .workers(1)
        .keep_alive(None)
        .tls(TlsConfig::from_pem(chain.as_bytes(), key.as_bytes()).unwrap())
        .configure(|c| c.max_queue_bytes = 256 * 1024)
        .bind("127.0.0.1:0")
        .unwrap();
    let mut slow = Client::connect(server.local_addr(), &der);
    slow.request(&get("/sse"));
    assert!(wait_until(TIMEOUT, || server.broadcaster().client_count() == 1));
    // 64 MB for a client that reads nothing: past the kernel's buffers, the record buffer and
    // the queue bound.
    let big = "z".repeat(64 * 1024);
    for _ in 0..1024 {
        if server.broadcaster().send(Event::new(big.as_str())).is_err() || server.stats().slow_dropped > 0 {
            break;
        }
    }
    assert!(wait_until(TIMEOUT, || server.stats().slow_dropped == 1), "{:?}", server.stats());
    let queued: usize = server.stats().workers.iter().map(|w| w.queued_bytes).sum();
    assert_eq!(queued, 0, "the dropped client's queue is gone");
    server.shutdown();
}
