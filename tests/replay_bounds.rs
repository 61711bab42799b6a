//! Replay within the bounds, on real sockets: a resuming stream's replay is held to its queue
//! bound (fed in batches as the socket drains), never copied wholesale into its queue; all the
//! clients together are held to the total queue bound; and a client that does read gets its
//! whole replay, in order, then the live stream.
//!
//! The attack these guard against: clients that never read, each asking for every retained event
//! of 32 channels, used to queue the whole history per connection (4.8 MB each with 32 channels
//! × 1,024 events of 200 B), under the lock publishing needs.

mod net;

use std::net::SocketAddr;
use std::time::Duration;

use net::{Conn, Stream, TIMEOUT, wait_until};
use ssehub::hub::Target;
use ssehub::{Event, OwnedItem, Server};

const CHANNELS: usize = 32;
const PER_CHANNEL: usize = 1024;

/// `/sse?channel=r0&...&channel=r31`.
fn every_channel() -> String {
    let list: Vec<String> = (0..CHANNELS).map(|c| format!("channel=r{c}")).collect();
    format!("/sse?{}", list.join("&"))
}

/// Fills 32 channels with `per_channel` events of 200 bytes each (the replay a resuming client
/// asks for).
fn fill(server: &Server, per_channel: usize) {
    let hub = server.broadcaster();
    for n in 0..per_channel {
        for c in 0..CHANNELS {
            let data = format!("{n:06} {}", "x".repeat(193));
            hub.publish(&format!("r{c}"), Event::new(data)).unwrap();
        }
    }
}

/// A client that asks for everything retained and never reads: a small receive buffer, so the
/// kernel holds little on its behalf either.
fn non_reader(addr: SocketAddr) -> socket2::Socket {
    non_reader_of(addr, &every_channel(), "Last-Event-ID: x\r\n")
}

/// A client of `path` that never reads.
fn non_reader_of(addr: SocketAddr, path: &str, extra: &str) -> socket2::Socket {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&addr.into()).unwrap();
    let request = net::get(path, extra);
    assert_eq!(sock.send(&request).unwrap(), request.len());
    sock
}

/// The tests of this file measure memory and compete for the cores: one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn alone() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

fn queued(server: &Server) -> usize {
    server.stats().workers.iter().map(|w| w.queued_bytes).sum()
}

#[test]
fn non_reading_clients_asking_for_every_channel_queue_a_bounded_replay() {
    let _alone = alone();
    const CLIENTS: usize = 100;
    let server = Server::builder().workers(2).keep_alive(None).bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    fill(&server, PER_CHANNEL);
    let rss_before = net::rss();
    let clients: Vec<socket2::Socket> = (0..CLIENTS).map(|_| non_reader(addr)).collect();
    let all_in = wait_until(Duration::from_secs(30), || server.stats().streams == CLIENTS);
    assert!(all_in, "{:?}", server.stats());
    // Let the workers write what the sockets take (the kernel holds a few MB of each, whatever
    // the client's receive buffer), until nothing moves.
    let written = || server.stats().workers.iter().map(|w| w.bytes).sum::<u64>();
    let mut last = written();
    while {
        std::thread::sleep(Duration::from_millis(200));
        let now = written();
        std::mem::replace(&mut last, now) != now
    } {}
    let queued = queued(&server);
    let grown = net::rss().saturating_sub(rss_before);
    // Each stream holds at most its queue bound (1 MiB) of replay, or one batch (64 KiB) once
    // the first is written: against the whole 7.3 MB history each would have queued before.
    let bound = CLIENTS * ((1 << 20) + 2048);
    println!(
        "{CLIENTS} non-reading clients asking for {} KiB each: {} KiB queued in all ({} per client), \
         RSS +{} KiB, {} MiB taken by the kernel",
        CHANNELS * PER_CHANNEL * EVENT_BYTES / 1024,
        queued / 1024,
        queued / CLIENTS,
        grown / 1024,
        last >> 20
    );
    assert!(queued <= bound, "{queued} bytes queued for {CLIENTS} clients (bound {bound})");
    assert!(grown < 64 << 20, "RSS grew by {grown} bytes");
    // The hub is not held up: a publish goes through, and a reader of one channel gets it.
    let mut reader = Stream::open(addr, "/sse?channel=live", "");
    assert!(wait_until(TIMEOUT, || server.stats().streams == CLIENTS + 1));
    server.broadcaster().publish("live", Event::new("still flowing")).unwrap();
    assert_eq!(net::data_of(&reader.items(1)), ["still flowing"]);
    drop(clients);
    server.shutdown();
}

/// The size of one encoded event of [`fill`], chunk framing included.
const EVENT_BYTES: usize = 223;

#[test]
fn a_reading_client_gets_a_replay_larger_than_its_queue_in_order_then_live() {
    let _alone = alone();
    const RETAINED: usize = 512; // below the 1,024 a channel keeps: the live events evict nothing
    let server = Server::builder()
        .workers(2)
        .configure(|c| c.max_queue_bytes = 64 * 1024)
        .keep_alive(None)
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.local_addr();
    fill(&server, RETAINED);
    let hub = server.broadcaster();
    // From before everything: a gap (the id is unknown), then all 32 × 512 retained events,
    // 3.6 MB against a 64 KiB queue bound, while more are published.
    let mut stream = Stream::open(addr, &every_channel(), "Last-Event-ID: x\r\n");
    assert_eq!(stream.items(1), [net::event("gap", "x", "")]);
    let publisher = std::thread::spawn(move || {
        for n in 0..200 {
            hub.publish_to(&Target::channels(["r3", "r7"]), Event::new(format!("live {n}"))).unwrap();
        }
        hub
    });
    let total = CHANNELS * RETAINED + 200;
    let items = stream.items_within(total, Duration::from_secs(30));
    let hub = publisher.join().unwrap();
    assert_eq!(items.len(), total, "the whole replay, then the live events");
    let mut ids: Vec<u64> = Vec::new();
    for (k, item) in items.iter().enumerate() {
        let OwnedItem::Event { data, last_event_id, event_type } = item else { panic!("{item:?}") };
        assert_eq!(event_type, "message", "no gap: nothing was evicted");
        if k < CHANNELS * RETAINED {
            assert_eq!(&data[..6], format!("{:06}", k / CHANNELS), "item {k}");
        } else {
            assert_eq!(*data, format!("live {}", k - CHANNELS * RETAINED));
        }
        ids.push(last_event_id.parse().unwrap());
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in publish order, each once");
    hub.publish("r0", Event::new("after")).unwrap();
    assert_eq!(net::data_of(&stream.items(1)), ["after"]);
    assert_eq!(server.stats().slow_dropped, 0);
    server.shutdown();
}

#[test]
fn the_total_queue_bound_cuts_off_clients_that_are_behind_and_spares_those_that_read() {
    let _alone = alone();
    const CLIENTS: usize = 8;
    let server = Server::builder()
        .workers(1)
        .keep_alive(None)
        .configure(|c| c.max_total_queue_bytes = 4 << 20)
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.local_addr();
    // Live clients on r0 that never read, and one that does.
    let clients: Vec<socket2::Socket> =
        (0..CLIENTS).map(|_| non_reader_of(addr, "/sse?channel=r0", "")).collect();
    let mut reader = Stream::open(addr, "/sse?channel=r0", "");
    assert!(wait_until(TIMEOUT, || server.stats().streams == CLIENTS + 1));
    // 16 MB each: past what the kernel takes for a client that does not read, and past the
    // total bound (4 MiB for all: an even share is 455 KiB, 28 of these events), but within
    // each client's own bound (1 MiB) until the total is hit.
    let big = "y".repeat(16 * 1024);
    let hub = server.broadcaster();
    // The reader counts what it has read; the publisher stays at most 16 events (256 KiB, under
    // the even share) ahead of it, however slowly a loaded machine lets it read.
    let read = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let reading = {
        let read = read.clone();
        std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            let mut got = 0;
            while got < 1024 && std::time::Instant::now() < deadline {
                got += reader.items_within(1024 - got, Duration::from_millis(200)).len();
                read.store(got, std::sync::atomic::Ordering::Release);
            }
            (reader, got)
        })
    };
    let publisher = std::thread::spawn(move || {
        // One deadline for all the waits, the reader's: a reader that has given up (its stream
        // dropped, or a machine too slow) must fail the test below, not hold the publisher for
        // 30 s per event still to publish (hours).
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        for n in 0..1024 {
            let ahead = || n - read.load(std::sync::atomic::Ordering::Acquire).min(n);
            while ahead() >= 16 && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_micros(200));
            }
            hub.publish("r0", Event::new(big.as_str())).unwrap();
        }
    });
    publisher.join().unwrap();
    // Held open to the end: the reader keeps its stream.
    let (_reader, got) = reading.join().unwrap();
    assert_eq!(got, 1024, "the reader keeps up and keeps its stream");
    assert!(
        wait_until(TIMEOUT, || server.stats().slow_dropped as usize == CLIENTS),
        "every client behind is dropped once the total is reached: {:?}",
        server.stats()
    );
    assert!(queued(&server) <= 8 << 20, "{} queued", queued(&server));
    drop(clients);
    let mut probe = Conn::connect(addr);
    probe.send(&net::get("/nothing", ""));
    assert_eq!(probe.read_response().0.status, 404, "the server answers");
    server.shutdown();
}
