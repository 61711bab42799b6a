//! An axum app on 127.0.0.1:0 and a raw-socket event-stream reader for the adapter's tests.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use ssehub::{Decoder, OwnedItem};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest any wait in these tests lasts (a bound, not a timing assertion).
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Serves `app` on a port the OS picks; the server runs until the test's runtime ends.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// One event as the client sees it: `type:data` for a type other than `message`, and its id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Got {
    pub data: String,
    pub id: String,
}

/// An event-stream client over HTTP/1.0 (so that the body is the bare stream, close-delimited).
pub struct Reader {
    pub sock: TcpStream,
    pub status: u16,
    pub head: String,
    dec: Decoder,
    pub events: Vec<Got>,
    pub closed: bool,
    pub bytes: usize,
}

impl Reader {
    /// `GET path` with `headers` (`Name: value` lines); reads the response head.
    pub async fn open(addr: SocketAddr, path: &str, headers: &[&str]) -> Reader {
        let sock = TcpStream::connect(addr).await.unwrap();
        Reader::open_on(sock, path, headers).await
    }

    pub async fn open_on(mut sock: TcpStream, path: &str, headers: &[&str]) -> Reader {
        let mut req = format!("GET {path} HTTP/1.0\r\nHost: test\r\n");
        for h in headers {
            req.push_str(h);
            req.push_str("\r\n");
        }
        req.push_str("\r\n");
        sock.write_all(req.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            let n =
                tokio::time::timeout(PATIENCE, sock.read(&mut byte)).await.expect("a response head").unwrap();
            assert_eq!(n, 1, "closed before the head ended: {}", String::from_utf8_lossy(&head));
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap();
        let status = head[9..12].parse().unwrap();
        Reader { sock, status, head, dec: Decoder::new(), events: Vec::new(), closed: false, bytes: 0 }
    }

    /// Reads once (waiting at most `PATIENCE`); `false` once the server closed the stream.
    pub async fn read_some(&mut self) -> bool {
        let mut buf = vec![0u8; 64 * 1024];
        let n = match tokio::time::timeout(PATIENCE, self.sock.read(&mut buf)).await {
            Ok(Ok(n)) => n,
            Ok(Err(_)) => 0,
            Err(_) => panic!("nothing read in {PATIENCE:?}; events so far: {:?}", self.events),
        };
        if n == 0 {
            self.closed = true;
            return false;
        }
        self.bytes += n;
        let events = &mut self.events;
        self.dec
            .feed(&buf[..n], |item| {
                if let OwnedItem::Event { data, event_type, last_event_id, .. } = item.to_owned() {
                    let data = if event_type == "message" { data } else { format!("{event_type}:{data}") };
                    events.push(Got { data, id: last_event_id });
                }
            })
            .unwrap();
        true
    }

    /// Reads until `n` events came in all (panics if the stream ends first).
    pub async fn until(&mut self, n: usize) -> &[Got] {
        while self.events.len() < n {
            assert!(self.read_some().await, "the stream ended after {:?}", self.events);
        }
        &self.events
    }

    /// The data of the events read.
    pub fn data(&self) -> Vec<&str> {
        self.events.iter().map(|e| e.data.as_str()).collect()
    }
}

/// Waits (at most `PATIENCE`) until `f` holds.
pub async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = tokio::time::Instant::now();
    while !f() {
        assert!(start.elapsed() < PATIENCE, "{what}: not within {PATIENCE:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
