//! Faults on the wire: a client that resets while the server writes to it, a client that
//! half-closes, and thousands of clients coming and going. Each time the server must release
//! the connection (its counters, its descriptor, one `on_disconnect`) and go on serving.
//!
//! (A stream client that never reads is in `server_robust.rs`; running out of descriptors is in
//! `server_emfile.rs`, alone in its own process.)

mod net;

use std::os::fd::AsRawFd;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard, mpsc};
use std::time::{Duration, Instant};

use net::{Conn, Stop, Stream, TIMEOUT, data_of, get, wait_until};
use ssehub::{Client, SendError, Server, ServerBuilder};

/// The churn test counts this process's descriptors, so it runs alone: it takes this lock for
/// writing, every other test for reading.
static FDS: RwLock<()> = RwLock::new(());

fn shared_fds() -> RwLockReadGuard<'static, ()> {
    FDS.read().unwrap_or_else(|p| p.into_inner())
}

fn exclusive_fds() -> RwLockWriteGuard<'static, ()> {
    FDS.write().unwrap_or_else(|p| p.into_inner())
}

/// Counts of `on_connect` and `on_disconnect` calls.
#[derive(Default)]
struct Calls {
    connects: AtomicUsize,
    disconnects: AtomicUsize,
}

/// Two workers, no keep-alive comments, a short shutdown grace; streams are greeted with
/// `hello`, and the callbacks are counted in `calls`.
fn builder(calls: &Arc<Calls>) -> ServerBuilder {
    let (on_connect, on_disconnect) = (calls.clone(), calls.clone());
    Server::builder()
        .workers(2)
        .keep_alive(None)
        .configure(|c| c.shutdown_grace = Duration::from_millis(300))
        .on_connect(move |client, _| {
            on_connect.connects.fetch_add(1, Relaxed);
            let _ = client.send("hello");
        })
        .on_disconnect(move |_| {
            on_disconnect.disconnects.fetch_add(1, Relaxed);
        })
}

/// A new connection still gets a stream, and the stream its first event.
fn assert_healthy(server: &Server) {
    let mut stream = Stream::open(server.local_addr(), "/sse", "");
    assert_eq!(data_of(&stream.items(1)), ["hello"], "a new stream");
}

/// Waits until the server counts `connections` connections and `streams` streams.
fn assert_counts(server: &Server, connections: usize, streams: usize) {
    let settled = wait_until(TIMEOUT, || {
        server.stats().connections == connections && server.stats().streams == streams
    });
    assert!(settled, "expected {connections} connections and {streams} streams: {:?}", server.stats());
}

/// Bytes waiting in the receive buffer of `conn`'s socket.
fn unread_bytes(conn: &Conn) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int to the pointer, on a descriptor `conn` owns.
    let rc = unsafe { libc::ioctl(conn.stream.as_raw_fd(), libc::FIONREAD, &mut n) };
    assert_eq!(rc, 0, "ioctl(FIONREAD)");
    usize::try_from(n).unwrap()
}

#[test]
fn a_client_that_resets_mid_write_is_cleaned_up() {
    const EVENT: usize = 64 << 10;
    let _fds = shared_fds();
    let calls = Arc::new(Calls::default());
    let (tx, clients) = mpsc::channel::<Client>();
    let server = builder(&calls)
        // Room for the whole backlog: the client must go for its reset, not for being slow.
        .configure(|c| c.max_queue_bytes = 64 << 20)
        .on_connect(move |client, req| {
            let _ = client.send("hello");
            if req.query_param("who").as_deref() == Some("victim") {
                let _ = tx.send(client);
            }
        })
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.local_addr();
    let mut watcher = Stream::open(addr, "/sse?who=watcher", "");
    assert_eq!(data_of(&watcher.items(1)), ["hello"]);
    let mut victim = Conn::connect(addr);
    victim.send(&get("/sse?who=victim", ""));
    let client = clients.recv_timeout(TIMEOUT).unwrap();
    assert_counts(&server, 2, 2);

    // 16 MiB for a client that does not read: a few MiB fill the socket buffers on both
    // sides, the rest waits in the server's queue.
    let filler = "x".repeat(EVENT);
    for _ in 0..256 {
        client.send(filler.as_str()).unwrap();
    }
    let mut last = 0;
    let filled = wait_until(TIMEOUT, || {
        std::thread::sleep(Duration::from_millis(20));
        let now = unread_bytes(&victim);
        let stalled = now == last && now > 0;
        last = now;
        stalled
    });
    assert!(filled, "the server never filled the victim's receive buffer ({last} bytes)");
    // The victim resets with all that unread: SO_LINGER 0, then close.
    socket2::SockRef::from(&victim.stream).set_linger(Some(Duration::ZERO)).unwrap();
    drop(victim);
    // Sends racing the reset are taken or refused, never anything else.
    let deadline = Instant::now() + TIMEOUT;
    while client.send(filler.as_str()).is_ok() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(client.send("late"), Err(SendError::Disconnected));
    assert!(!client.is_connected());

    assert_counts(&server, 1, 1);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(calls.disconnects.load(Relaxed), 1, "on_disconnect once, for the victim");
    assert_eq!(server.stats().slow_dropped, 0, "{:?}", server.stats());
    assert_eq!(server.stats().callback_panics, 0, "{:?}", server.stats());

    // The other stream did not notice.
    server.broadcaster().send("after the reset").unwrap();
    assert_eq!(data_of(&watcher.items(1)), ["after the reset"]);
    drop(watcher);
    assert_counts(&server, 0, 0);
    assert_eq!(calls.disconnects.load(Relaxed), 2);
    assert_healthy(&server);
    server.shutdown();
}

#[test]
fn a_stream_client_that_half_closes_is_disconnected() {
    // An EventSource never half-closes, so the server takes EOF on a stream for the client
    // leaving (src/server/worker.rs, `read_some`: `Ok(0)` while streaming aborts the
    // connection): the stream ends at once, without the last chunk, and `on_disconnect` runs.
    let _fds = shared_fds();
    let calls = Arc::new(Calls::default());
    let server = builder(&calls).bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr();

    let mut stream = Stream::open(addr, "/sse", "");
    assert_eq!(data_of(&stream.items(1)), ["hello"]);
    assert_counts(&server, 1, 1);
    stream.conn.half_close();
    assert!(wait_until(TIMEOUT, || calls.disconnects.load(Relaxed) == 1), "no on_disconnect");
    assert_eq!(stream.read_to_end(), Some(false), "EOF without the last chunk");
    assert_counts(&server, 0, 0);
    assert_eq!(server.broadcaster().send("nobody").unwrap(), 0);

    // Half-closed together with the request: the stream opens, then ends the same way.
    let mut conn = Conn::connect(addr);
    conn.send(&get("/sse", ""));
    conn.half_close();
    let (bytes, stop) = conn.read_to_end(TIMEOUT);
    assert_eq!(stop, Stop::Eof);
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text:?}");
    assert!(!text.ends_with("0\r\n\r\n"), "{text:?}");
    assert_counts(&server, 0, 0);
    assert_eq!(calls.connects.load(Relaxed), 2);
    assert!(wait_until(TIMEOUT, || calls.disconnects.load(Relaxed) == 2));

    // Not a stream: a half-closed client still gets the answers to what it sent, then EOF.
    let mut conn = Conn::connect(addr);
    let mut two = get("/a", "");
    two.extend_from_slice(&get("/b", ""));
    conn.send(&two);
    conn.half_close();
    assert_eq!(conn.read_response().0.status, 404);
    assert_eq!(conn.read_response().0.status, 404);
    assert!(conn.closes_within(TIMEOUT));
    // Half a head, then a half-close: closed without an answer.
    let mut conn = Conn::connect(addr);
    conn.send(b"GET /sse HTTP/1.1\r\nHost: t\r\n");
    conn.half_close();
    let (bytes, stop) = conn.read_to_end(TIMEOUT);
    assert_eq!((stop, bytes.len()), (Stop::Eof, 0), "{:?}", String::from_utf8_lossy(&bytes));
    assert_counts(&server, 0, 0);

    assert_healthy(&server);
    server.shutdown();
}

#[test]
fn connection_churn_leaks_nothing() {
    const THREADS: usize = 20;
    const CYCLES: usize = 100;
    let _fds = exclusive_fds();
    let calls = Arc::new(Calls::default());
    let server = builder(&calls).bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    let baseline = net::open_fds();

    let started = Instant::now();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || {
                for c in 0..CYCLES {
                    let mut conn = Conn::connect(addr);
                    match (t + c) % 5 {
                        // A stream, read up to its first event.
                        0 => {
                            conn.send(&get("/sse", ""));
                            let head = conn.read_head();
                            assert_eq!(head.status, 200, "{head:?}");
                            let mut stream = Stream::from_head(conn, head);
                            assert_eq!(data_of(&stream.items(1)), ["hello"]);
                        }
                        // A stream request, gone before the answer is read.
                        1 => conn.send(&get("/sse", "")),
                        // Nothing sent at all.
                        2 => {}
                        // A fallback request, answered.
                        3 => {
                            conn.send(&get("/x", ""));
                            assert_eq!(conn.read_response().0.status, 404);
                        }
                        // Half a request head.
                        _ => conn.send(b"GET /sse HTTP/1.1\r\nHo"),
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("a churn thread failed");
    }
    let churn = started.elapsed();

    let all = (THREADS * CYCLES) as u64;
    assert!(wait_until(TIMEOUT, || server.stats().accepted == all), "{:?}", server.stats());
    assert_counts(&server, 0, 0);
    let connects = calls.connects.load(Relaxed);
    assert!(connects >= THREADS * CYCLES / 5, "{connects} streams opened");
    assert!(
        wait_until(TIMEOUT, || calls.disconnects.load(Relaxed) == connects),
        "{connects} on_connect, {} on_disconnect",
        calls.disconnects.load(Relaxed)
    );
    let mut fds = 0;
    let released = wait_until(TIMEOUT, || {
        fds = net::open_fds();
        fds <= baseline
    });
    assert!(released, "{fds} descriptors open after the churn ({churn:?}), {baseline} before");
    assert_healthy(&server);
    server.shutdown();
}

#[test]
fn a_stream_whose_queue_makes_no_progress_is_closed_after_the_send_timeout() {
    let _fds = shared_fds();
    let calls = Arc::new(Calls::default());
    let server = builder(&calls)
        .configure(|c| {
            c.max_queue_bytes = 64 << 20; // the bound is not what closes it here
            c.send_timeout = Duration::from_millis(600);
        })
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.local_addr();
    let hub = server.broadcaster();
    // A client that reads its head and then stops reading for good.
    let stuck = Stream::open(addr, "/sse", "");
    assert!(wait_until(TIMEOUT, || hub.client_count() == 1));
    let big = "x".repeat(256 * 1024);
    // Before the first send: the send timeout cannot start sooner, however slow the sends are.
    let started = Instant::now();
    for _ in 0..32 {
        hub.send(big.as_str()).unwrap(); // 8 MiB: far more than the socket buffers take
    }
    assert!(wait_until(TIMEOUT, || hub.client_count() == 0), "the stuck stream is closed");
    assert!(started.elapsed() >= Duration::from_millis(500), "not before the send timeout");
    // Either the worker's stall check closes it (counted as a slow client) or, first, the
    // kernel's TCP_USER_TIMEOUT (the same send_timeout) fails the socket under a closed window.
    assert!(server.stats().slow_dropped <= 1);
    drop(stuck);
    assert_healthy(&server);
    server.shutdown();
}
