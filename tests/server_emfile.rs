//! Running out of file descriptors. Alone in this file, so in a process of its own: it lowers
//! the process's `RLIMIT_NOFILE`, which would break any test running beside it.
//!
//! While `accept` fails with `EMFILE`, the worker answers waiting clients `503` with a spare
//! descriptor it keeps for that, and otherwise pauses accepting and retries on its timer
//! (src/server/worker.rs, `accept`; src/server/descriptors.rs): it must not spin, the streams it
//! has must go on, no client may be left without an answer, and once descriptors are free again
//! it must accept again. (The limit is lowered after the server started: at start it would have
//! capped its connection limit to what the descriptors allow, and never run out.)

mod net;

use std::fs::File;
use std::io::ErrorKind;
use std::net::TcpStream;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use net::{Stream, TIMEOUT, data_of};
use ssehub::Server;

/// Restores the descriptor limit it was made from when dropped (also when a test fails).
struct Limit(libc::rlimit);

impl Limit {
    /// Lowers the soft limit to `soft`.
    fn lower_to(soft: u64) -> Limit {
        let mut old = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit and setrlimit read and write one rlimit.
        unsafe {
            assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut old), 0, "getrlimit");
            let new = libc::rlimit { rlim_cur: soft.min(old.rlim_cur), rlim_max: old.rlim_max };
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &new), 0, "setrlimit");
        }
        Limit(old)
    }
}

impl Drop for Limit {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe {
            libc::setrlimit(libc::RLIMIT_NOFILE, &self.0);
        }
    }
}

/// This process's CPU time (user + system), read from `/proc/self/stat` through a file opened
/// beforehand: there may be no descriptor left to open it with when it is needed.
struct CpuClock {
    stat: File,
    tick: f64,
}

impl CpuClock {
    fn new() -> CpuClock {
        // SAFETY: sysconf has no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        assert!(ticks > 0);
        CpuClock { stat: File::open("/proc/self/stat").unwrap(), tick: 1.0 / ticks as f64 }
    }

    fn now(&self) -> Duration {
        let mut buf = [0u8; 4096];
        let n = self.stat.read_at(&mut buf, 0).expect("read /proc/self/stat");
        let text = std::str::from_utf8(&buf[..n]).unwrap();
        // Fields after the command name (which is in parentheses and may hold spaces):
        // state is field 3, utime field 14, stime field 15.
        let rest = &text[text.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        Duration::from_secs_f64(ticks as f64 * self.tick)
    }
}

#[test]
fn out_of_descriptors_the_server_waits_keeps_streaming_and_recovers() {
    const SPARE: usize = 40;
    const STREAMS: usize = 3;
    let clock = CpuClock::new();
    let server = Server::builder()
        .workers(2)
        .keep_alive(None)
        // The connections that take the last descriptors send nothing; they must keep them.
        .configure(|c| {
            c.header_timeout = Duration::from_secs(60);
            c.shutdown_grace = Duration::from_millis(300);
        })
        .on_connect(|client, _| {
            let _ = client.send("hello");
        })
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.local_addr();
    let all = server.broadcaster();
    let limit = Limit::lower_to((net::open_fds() + SPARE) as u64);
    let mut streams: Vec<Stream> = (0..STREAMS).map(|_| Stream::open(addr, "/sse", "")).collect();
    for stream in &mut streams {
        assert_eq!(data_of(&stream.items(1)), ["hello"]);
    }

    // A few descriptors held back, then connections until `socket` itself fails: each takes
    // one descriptor here and one in the server, so the server runs out too.
    let mut reserve: Vec<File> = (0..4).map(|_| File::open("/dev/null").unwrap()).collect();
    let mut extra: Vec<TcpStream> = Vec::new();
    let fill = |extra: &mut Vec<TcpStream>| {
        for _ in 0..SPARE * 2 {
            match TcpStream::connect(addr) {
                Ok(sock) => extra.push(sock),
                Err(e) if e.raw_os_error() == Some(libc::EMFILE) => return,
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => panic!("refused: {e}"),
                Err(_) => return,
            }
        }
        panic!("{} connections and no EMFILE: is the limit in force?", extra.len());
    };
    fill(&mut extra);
    std::thread::sleep(Duration::from_millis(200));
    // Each freed descriptor goes to one more client, whose connection waits in the backlog:
    // the server's `accept` has no descriptor left for it. The fill above may have taken the
    // descriptor the server's spare was lent to (this thread's connects race the worker for
    // it), and a spare is taken back only when a descriptor is free at the worker's accept
    // retry (every 100 ms): so each freed descriptor is left free for longer than that before
    // this thread connects. Then either the worker has its spare back (taking the freed one,
    // and this connect fails) or it still had one (and answers this connect with it).
    while let Some(file) = reserve.pop() {
        drop(file);
        std::thread::sleep(Duration::from_millis(250));
        if let Ok(sock) = TcpStream::connect(addr) {
            extra.push(sock);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(File::open("/dev/null").is_err(), "descriptors left after filling the table");
    // Clients the server had no descriptor for were told 503 with its spare one. (Not all of
    // them: this test's own connects race the worker for the descriptor the spare frees, and
    // once one wins, the spare is gone until descriptors come back. A process of its own, as
    // `serve` is, has no such rival; tests/serve_open_files.rs shows every client answered.)
    let told = net::wait_until(TIMEOUT, || server.stats().rejected > 0);
    assert!(told, "no client was answered 503 while out of descriptors: {:?}", server.stats());

    // One second out of descriptors, with events going out: not a spin, and the streams go on.
    let cpu_before = clock.now();
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < Duration::from_secs(1) {
        all.send(format!("event {n}")).unwrap();
        n += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    let cpu = clock.now() - cpu_before;
    let wall = started.elapsed();
    for stream in &mut streams {
        let got = data_of(&stream.items(n));
        let want: Vec<String> = (0..n).map(|i| format!("event {i}")).collect();
        assert_eq!(got, want, "a stream during the exhaustion");
    }
    assert!(cpu < Duration::from_millis(500), "{cpu:?} of CPU in {wall:?} out of descriptors: a busy loop?");

    // Descriptors back: the pending connections are accepted (and closed), new ones stream.
    drop(extra);
    let mut fresh = Stream::open(addr, "/sse", "");
    assert_eq!(data_of(&fresh.items(1)), ["hello"]);
    all.send("recovered").unwrap();
    for stream in streams.iter_mut().chain([&mut fresh]) {
        assert_eq!(data_of(&stream.items(1)), ["recovered"]);
    }
    let settled = net::wait_until(TIMEOUT, || server.stats().connections == STREAMS + 1);
    assert!(settled, "the extra connections are still counted: {:?}", server.stats());
    drop(limit);
    server.shutdown();
}
