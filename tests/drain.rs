//! The graceful drain end to end: two `ssehub serve` processes sharing one real `redis-server`
//! (see `redis_server/mod.rs`), 2,000 streams on node A, events published through node B all
//! along; SIGTERM to A. Every stream on A is told a short `retry`, then ended with its final
//! chunk, the ends spread over `--drain-secs`; every client then reconnects to B after its
//! `retry` with `Last-Event-ID` and gets, in all, every event published exactly once and in
//! order; A exits 0 within `--drain-secs` + 1 s.
//!
//! The clients are one thread's `mio` loop (raw sockets, a small chunk decoder, the crate's
//! own `ssehub::Decoder`), not 2,000 threads.

#![cfg(feature = "redis")]

mod net;
mod redis_server;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use redis_server::RedisServer;
use ssehub::{Decoder, OwnedItem};

const CLIENTS: usize = 2_000;
/// Clients on B from the start, as a cluster's other node has: B follows the channel before
/// the drain, so that the resumes find its own logs complete (a node that follows nothing yet
/// asks Redis for each, and 2,000 at once may wait past the 5 s bound there).
const RESIDENTS: usize = 20;
const DRAIN: Duration = Duration::from_secs(2);
const TOKEN: &str = "drain-t0ken";
/// Between two publishes.
const PACE: Duration = Duration::from_millis(50);

/// `ssehub serve` on `redis`; the child and its address.
fn node(redis: &RedisServer) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ssehub"))
        .args(["serve", "--addr", "127.0.0.1:0", "--no-clock", "--workers", "2"])
        .args(["--redis", &redis.url(), "--drain-secs", &DRAIN.as_secs().to_string()])
        .args(["--max-connections", "5000", "--keep-alive", "5s"])
        .env("SSEHUB_PUBLISH_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .spawn()
        .expect("ssehub serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.split("http://").nth(1).and_then(|r| r.split('/').next()).expect(&line);
    (child, addr.parse().unwrap())
}

/// Raises this process's soft limit on open files (the clients' sockets) to its hard one.
fn raise_open_files() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit read and write one rlimit struct we own.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
    }
    assert!(
        limit.rlim_cur >= (CLIENTS + 500) as u64,
        "need {} open files, may have {}",
        CLIENTS + 500,
        limit.rlim_cur
    );
}

/// Publishes through `addr`'s endpoint every [`PACE`] until `stop`; the ids given, in order.
fn publisher(addr: SocketAddr, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        let mut conn = net::Conn::connect(addr);
        let mut ids = Vec::new();
        while !stop.load(Ordering::Acquire) {
            let (status, body) =
                net::post(&mut conn, "/publish", Some(TOKEN), ids.len().to_string().as_bytes());
            assert_eq!(status, 201, "{body}");
            let id = body.strip_prefix("{\"id\":\"").and_then(|b| b.strip_suffix("\"}")).expect(&body);
            ids.push(id.to_owned());
            std::thread::sleep(PACE);
        }
        ids
    })
}

/// Waits (in a thread of its own, so that the time is exact) for child `pid` to exit: when, and
/// its exit status (`-1` when it was killed by a signal, or `pid` is 0). It reaps the child.
fn exit_of(pid: u32) -> std::thread::JoinHandle<(Instant, i32)> {
    std::thread::spawn(move || {
        if pid == 0 {
            return (Instant::now(), -1);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut status = 0;
        // SAFETY: waitpid writes one int we own; the pid is a child of ours.
        while unsafe { libc::waitpid(pid as libc::pid_t, &mut status, libc::WNOHANG) } == 0 {
            assert!(Instant::now() < deadline, "A did not exit");
            std::thread::sleep(Duration::from_millis(2));
        }
        let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { -1 };
        (Instant::now(), code)
    })
}

/// An HTTP/1.1 chunked body, undone as it comes.
#[derive(Default)]
struct Dechunk {
    /// Bytes left in the current chunk's data (`None`: a size line is next).
    left: Option<usize>,
    /// Bytes of an unfinished line (a size line, or the CRLF after data).
    line: Vec<u8>,
    /// The CRLF after a chunk's data is still due.
    crlf: bool,
    /// The last chunk came.
    done: bool,
}

impl Dechunk {
    /// Feeds `bytes`; the data goes to `out`.
    fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<u8>) {
        while !bytes.is_empty() && !self.done {
            if let Some(left) = self.left {
                let n = left.min(bytes.len());
                out.extend_from_slice(&bytes[..n]);
                bytes = &bytes[n..];
                self.left = (left > n).then_some(left - n);
                self.crlf = self.left.is_none();
                continue;
            }
            let Some(at) = bytes.iter().position(|&b| b == b'\n') else {
                self.line.extend_from_slice(bytes);
                return;
            };
            self.line.extend_from_slice(&bytes[..at]);
            bytes = &bytes[at + 1..];
            let line = std::mem::take(&mut self.line);
            let line = std::str::from_utf8(&line).unwrap().trim_end_matches('\r');
            if std::mem::take(&mut self.crlf) {
                assert!(line.is_empty(), "CRLF after chunk data, not {line:?}");
                continue;
            }
            let size = usize::from_str_radix(line, 16).unwrap_or_else(|_| panic!("chunk size {line:?}"));
            if size == 0 {
                self.done = true;
            } else {
                self.left = Some(size);
            }
        }
    }
}

/// Where a client is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum On {
    A,
    B,
}

/// One client: an `EventSource` in miniature.
struct Client {
    sock: Option<TcpStream>,
    on: On,
    request: Vec<u8>,
    head: Option<u16>,
    inbuf: Vec<u8>,
    chunks: Dechunk,
    decoder: Decoder,
    ids: Vec<String>,
    retry: Option<u64>,
    /// How its stream on A ended: when, told `retry` first, with the last chunk.
    ended_on_a: Option<(Instant, Option<u64>, bool)>,
}

impl Client {
    fn new(on: On, addr: SocketAddr, last_id: Option<&str>) -> Client {
        let resume = last_id.map(|id| format!("Last-Event-ID: {id}\r\n")).unwrap_or_default();
        Client {
            sock: Some(TcpStream::connect(addr).expect("connect")),
            on,
            request: format!("GET /sse HTTP/1.1\r\nHost: h\r\nAccept: text/event-stream\r\n{resume}\r\n")
                .into_bytes(),
            head: None,
            inbuf: Vec::new(),
            chunks: Dechunk::default(),
            decoder: Decoder::new(),
            ids: Vec::new(),
            retry: None,
            ended_on_a: None,
        }
    }

    /// Writes the request if it is still due.
    fn write(&mut self) {
        let Some(sock) = self.sock.as_mut() else { return };
        while !self.request.is_empty() {
            match sock.write(&self.request) {
                Ok(n) => drop(self.request.drain(..n)),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::NotConnected => return, // connecting still
                Err(e) => panic!("write: {e}"),
            }
        }
    }

    /// Reads what is there; `true` once the stream has ended (EOF).
    fn read(&mut self, buf: &mut [u8]) -> bool {
        loop {
            let Some(sock) = self.sock.as_mut() else { return false };
            match sock.read(buf) {
                Ok(0) => return true,
                Ok(n) => self.received(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
                Err(e) if e.kind() == ErrorKind::NotConnected => return false,
                Err(e) => panic!("read on {:?}: {e}", self.on),
            }
        }
    }

    fn received(&mut self, bytes: &[u8]) {
        let mut body = Vec::new();
        if self.head.is_none() {
            self.inbuf.extend_from_slice(bytes);
            let Some(end) = self.inbuf.windows(4).position(|w| w == b"\r\n\r\n") else { return };
            let head = String::from_utf8_lossy(&self.inbuf[..end]).into_owned();
            let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect(&head);
            assert_eq!(status, 200, "on {:?}: {}", self.on, String::from_utf8_lossy(&self.inbuf));
            assert!(head.to_ascii_lowercase().contains("transfer-encoding: chunked"), "{head}");
            self.head = Some(status);
            let rest = self.inbuf.split_off(end + 4);
            self.inbuf = Vec::new();
            self.chunks.feed(&rest, &mut body);
        } else {
            self.chunks.feed(bytes, &mut body);
        }
        let (ids, retry) = (&mut self.ids, &mut self.retry);
        self.decoder
            .feed(&body, |item| match item.to_owned() {
                OwnedItem::Event { last_event_id, .. } => ids.push(last_event_id),
                OwnedItem::Retry(ms) => *retry = Some(ms),
            })
            .expect("a valid event stream");
    }
}

#[test]
#[cfg_attr(not(has_redis_server), ignore = "needs redis-server (apt-get install redis-server)")]
fn a_drained_node_hands_2000_streams_to_the_other_without_loss_or_duplicate() {
    raise_open_files();
    let redis = RedisServer::start();
    let (mut a, addr_a) = node(&redis);
    let (mut b, addr_b) = node(&redis);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&mut a, addr_a, addr_b)));
    let _ = b.kill();
    let _ = b.wait();
    let _ = a.kill();
    let _ = a.wait();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

fn run(a: &mut Child, addr_a: SocketAddr, addr_b: SocketAddr) {
    let mut poll = Poll::new().unwrap();
    let mut events = Events::with_capacity(4096);
    let mut buf = vec![0u8; 64 * 1024];
    let mut clients: Vec<Client> = (0..CLIENTS).map(|_| Client::new(On::A, addr_a, None)).collect();
    clients.extend((0..RESIDENTS).map(|_| Client::new(On::B, addr_b, None)));
    for (i, c) in clients.iter_mut().enumerate() {
        poll.registry()
            .register(c.sock.as_mut().unwrap(), Token(i), Interest::READABLE | Interest::WRITABLE)
            .unwrap();
    }
    // Reconnections due: when, which client.
    let mut due: Vec<(Instant, usize)> = Vec::new();
    let mut turn = |poll: &mut Poll,
                    clients: &mut Vec<Client>,
                    due: &mut Vec<(Instant, usize)>,
                    wait: Duration| {
        poll.poll(&mut events, Some(wait)).unwrap();
        let now = Instant::now();
        for event in events.iter() {
            let i = event.token().0;
            let c = &mut clients[i];
            c.write();
            if !(event.is_readable() || event.is_read_closed() || event.is_error()) {
                continue;
            }
            if c.read(&mut buf) {
                let mut sock = c.sock.take().unwrap();
                poll.registry().deregister(&mut sock).unwrap();
                assert_eq!(c.on, On::A, "client {i}: its stream on B ended");
                c.ended_on_a = Some((now, c.retry, c.chunks.done));
                due.push((now + Duration::from_millis(c.retry.unwrap_or(0)), i));
            }
        }
        // Reconnect to B after the retry each was told, resuming after its last event.
        let mut k = 0;
        while k < due.len() {
            if due[k].0 <= now {
                let (_, i) = due.swap_remove(k);
                let old = &clients[i];
                let mut next = Client::new(On::B, addr_b, old.ids.last().map(String::as_str));
                next.ids = old.ids.clone();
                next.ended_on_a = old.ended_on_a;
                poll.registry()
                    .register(next.sock.as_mut().unwrap(), Token(i), Interest::READABLE | Interest::WRITABLE)
                    .unwrap();
                next.write();
                clients[i] = next;
            } else {
                k += 1;
            }
        }
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while clients.iter().any(|c| c.head.is_none()) {
        assert!(
            Instant::now() < deadline,
            "streams opened on A: {}",
            clients.iter().filter(|c| c.head.is_some()).count()
        );
        turn(&mut poll, &mut clients, &mut due, Duration::from_millis(50));
    }
    // Events flow; every client has had some before A is told to go.
    let stop = Arc::new(AtomicBool::new(false));
    let publishing = publisher(addr_b, stop.clone());
    while clients.iter().any(|c| c.ids.len() < 3) {
        assert!(Instant::now() < deadline, "events reach A's clients");
        turn(&mut poll, &mut clients, &mut due, Duration::from_millis(50));
    }
    // SAFETY: kill sends a signal to a child process of ours.
    assert_eq!(unsafe { libc::kill(a.id() as libc::pid_t, libc::SIGTERM) }, 0);
    let sigterm = Instant::now();
    let mut waiter = exit_of(a.id());
    let mut exited: Option<(Instant, i32)> = None;
    let settled = |clients: &Vec<Client>| clients.iter().all(|c| c.on == On::B && c.head.is_some());
    while exited.is_none() || !settled(&clients) {
        assert!(
            Instant::now() < deadline,
            "A exited: {exited:?}; clients on B: {}",
            clients.iter().filter(|c| c.on == On::B && c.head.is_some()).count()
        );
        turn(&mut poll, &mut clients, &mut due, Duration::from_millis(20));
        if exited.is_none() && waiter.is_finished() {
            exited = Some(std::mem::replace(&mut waiter, exit_of(0)).join().unwrap());
        }
    }
    // Events go on a while on B, then stop; every client catches up with the last one.
    let until = Instant::now() + Duration::from_millis(500);
    while Instant::now() < until {
        turn(&mut poll, &mut clients, &mut due, Duration::from_millis(20));
    }
    stop.store(true, Ordering::Release);
    let published = publishing.join().unwrap();
    let last = published.last().unwrap().clone();
    while clients.iter().any(|c| c.ids.last() != Some(&last)) {
        assert!(Instant::now() < deadline, "every client gets the last event");
        turn(&mut poll, &mut clients, &mut due, Duration::from_millis(20));
    }

    let (when, status) = exited.unwrap();
    assert_eq!(status, 0, "A exits 0");
    let took = when - sigterm;
    assert!(took <= DRAIN + Duration::from_secs(1), "A exits within --drain-secs + 1 s: {took:?}");
    // Every event once, in order, for every client: all were streaming before the first.
    let index: HashMap<&str, usize> = published.iter().enumerate().map(|(n, id)| (id.as_str(), n)).collect();
    for (i, c) in clients.iter().enumerate() {
        let got: Vec<usize> = c.ids.iter().map(|id| index[id.as_str()]).collect();
        let want: Vec<usize> = (0..published.len()).collect();
        assert_eq!(got, want, "client {i}: every event once, in order");
    }
    // On A: each stream was told a short retry, then ended with its last chunk, the ends spread
    // over the window (not all at once).
    let ends: Vec<Instant> = clients[..CLIENTS]
        .iter()
        .map(|c| {
            let (at, retry, last_chunk) = c.ended_on_a.expect("ended on A");
            assert!(retry.is_some_and(|ms| (500..1500).contains(&ms)), "a retry hint: {retry:?}");
            assert!(last_chunk, "ended with the final chunk");
            at
        })
        .collect();
    let (first, last) = (ends.iter().min().unwrap(), ends.iter().max().unwrap());
    assert!(*last - *first >= DRAIN / 2, "ends spread over the drain: {:?}", *last - *first);
    eprintln!(
        "{CLIENTS} streams drained: ends over {:?}, A exited {took:?} after SIGTERM, {} events each",
        *last - *first,
        published.len()
    );
}

/// Over HTTP/2 (the library's server, prior knowledge): the drain's `GOAWAY` comes first, then
/// every stream gets its `retry`, goes on getting events, and ends with `END_STREAM` at its
/// turn in the window; the connection closes after the last.
#[test]
fn over_http2_goaway_comes_first_then_each_stream_ends_at_its_turn() {
    use net::h2::{Got, H2};
    let server = ssehub::Server::builder().workers(1).keep_alive(None).bind("127.0.0.1:0").unwrap();
    let mut c = H2::connect(server.local_addr());
    let ids = [1, 3, 5, 7];
    for id in ids {
        c.get(id, "/sse");
        assert_eq!(c.head(id)[0].1, "200");
    }
    assert!(net::wait_until(net::TIMEOUT, || server.stats().streams == 4));
    let handle = server.shutdown_handle();
    handle.drain(Duration::from_secs(1));
    let mut goaway = None;
    let mut decoders: HashMap<u32, (Decoder, Vec<OwnedItem>)> = HashMap::new();
    let mut ends: Vec<(u32, Instant)> = Vec::new();
    let mut published = false;
    while let Some(got) = c.next() {
        match got {
            Got::GoAway { last, code } => {
                assert!(ends.is_empty(), "GOAWAY before any stream ends");
                goaway = Some((last, code));
                // Published during the drain: it reaches every stream still open.
                server.broadcaster().send(ssehub::Event::new("during")).unwrap();
                published = true;
            }
            Got::Data { stream, data, end } => {
                let (decoder, items) = decoders.entry(stream).or_insert_with(|| (Decoder::new(), Vec::new()));
                decoder.feed(&data, |item| items.push(item.to_owned())).unwrap();
                if end {
                    ends.push((stream, Instant::now()));
                }
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(published);
    assert_eq!(goaway, Some((7, ssehub::h2::ErrorCode::NoError)));
    let mut ended: Vec<u32> = ends.iter().map(|(id, _)| *id).collect();
    ended.sort_unstable();
    assert_eq!(ended, ids, "every stream ended with END_STREAM");
    for id in ids {
        let items = &decoders[&id].1;
        assert!(matches!(items.first(), Some(OwnedItem::Retry(ms)) if (500..1500).contains(ms)), "{items:?}");
        assert!(net::data_of(items).contains(&"during".to_owned()), "stream {id}: {items:?}");
    }
    let spread = ends.last().unwrap().1 - ends[0].1;
    assert!(spread >= Duration::from_millis(400), "the ends spread over the second: {spread:?}");
    server.wait().unwrap();
}

/// `ssehub serve` alone: the first SIGTERM drains (the stream gets its `retry` and stays for its
/// turn in a long window), a second one stops at once, exit status 0 both ways; SIGINT first
/// stops at once too.
#[test]
fn a_second_sigterm_or_a_sigint_stops_at_once() {
    for signals in [&[libc::SIGTERM, libc::SIGTERM][..], &[libc::SIGINT][..]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ssehub"))
            .args(["serve", "--addr", "127.0.0.1:0", "--no-clock", "--workers", "1", "--drain-secs", "60"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("ssehub serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr: SocketAddr =
            line.split("http://").nth(1).and_then(|r| r.split('/').next()).expect(&line).parse().unwrap();
        let mut stream = net::Stream::open(addr, "/sse", "");
        let mut probe = net::Conn::connect(addr);
        let kill = |signal| {
            // SAFETY: kill sends a signal to a child process of ours.
            assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
        };
        let sent = Instant::now();
        if signals.len() == 2 {
            kill(signals[0]);
            let items = stream.items(1);
            assert!(matches!(items.as_slice(), [OwnedItem::Retry(_)]), "{items:?}");
            probe.send(&net::get("/readyz", ""));
            assert_eq!(probe.read_response().0.status, 503, "draining");
            assert!(stream.items_within(1, Duration::from_millis(300)).is_empty(), "not ended yet");
        }
        kill(*signals.last().unwrap());
        assert_eq!(stream.read_to_end(), Some(true), "ended with the final chunk");
        let status = child.wait().unwrap();
        assert!(status.success(), "{signals:?}: {status:?}");
        assert!(sent.elapsed() < Duration::from_secs(10), "{signals:?}: at once, not after the 60 s window");
    }
}
