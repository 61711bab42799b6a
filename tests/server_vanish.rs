//! A client that vanishes without a FIN or a reset: its machine lost power, its network went
//! away. Nothing arrives to tell the server, so only writing finds it: the keep-alive comment
//! goes unacknowledged, and after `send_timeout` the kernel's `TCP_USER_TIMEOUT` fails the
//! socket. The server must then release the stream (one `on_disconnect`, its descriptor, its
//! counters) while a live client on the same server keeps its stream.
//!
//! Loopback acknowledges everything, so the test makes the client vanish with a packet filter:
//! an nftables table (named for this process) that drops every packet to or from the client's
//! port. That needs root and the `nft` program (`.ci/packages` installs the `nftables` package):
//! where the build found no usable `nft` (`build.rs`, `cfg(has_nft)`) the test is ignored, with
//! that reason; where it runs, a filter it cannot install is a failure.
//!
//! (It lives alone in its own test binary: the filter is machine-wide for as long as it stands.)

mod net;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use net::{Stream, TIMEOUT, data_of, wait_until};
use ssehub::Server;

/// The `nft` that `build.rs` found and ran, else the one on `PATH` now.
const NFT: &str = match option_env!("SSEHUB_NFT") {
    Some(program) => program,
    None => "nft",
};

/// An nftables table that drops all TCP traffic of one local port while it stands.
struct Blackhole {
    table: String,
}

impl Blackhole {
    /// `Err` says why no filter could be installed (not root, no `nft`, no kernel support).
    fn port(port: u16) -> Result<Blackhole, String> {
        let table = format!("ssehub_vanish_{}", std::process::id());
        let hole = Blackhole { table };
        hole.nft(&["add", "table", "inet", &hole.table])?;
        for hook in ["input", "output"] {
            let chain = format!("{{ type filter hook {hook} priority 0; }}");
            hole.nft(&["add", "chain", "inet", &hole.table, hook, &chain])?;
            for dir in ["sport", "dport"] {
                hole.nft(&["add", "rule", "inet", &hole.table, hook, "tcp", dir, &port.to_string(), "drop"])?;
            }
        }
        Ok(hole)
    }

    fn nft(&self, args: &[&str]) -> Result<(), String> {
        let out = Command::new(NFT).args(args).output().map_err(|e| format!("{NFT}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("nft {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
        }
    }
}

impl Drop for Blackhole {
    fn drop(&mut self) {
        let _ = self.nft(&["delete", "table", "inet", &self.table]);
    }
}

#[test]
#[cfg_attr(not(has_nft), ignore = "needs nft and root (apt-get install nftables; run as root)")]
fn a_client_that_vanishes_without_a_fin_is_found_by_the_keep_alive_and_released() {
    const KEEP_ALIVE: Duration = Duration::from_millis(200);
    const SEND_TIMEOUT: Duration = Duration::from_millis(1500);
    let disconnects = Arc::new(AtomicUsize::new(0));
    let counted = disconnects.clone();
    let server = Server::builder()
        .workers(1)
        .keep_alive(Some(KEEP_ALIVE))
        .configure(|c| c.send_timeout = SEND_TIMEOUT)
        .on_connect(|client, _| {
            let _ = client.send("hello");
        })
        .on_disconnect(move |_| {
            counted.fetch_add(1, Relaxed);
        })
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.local_addr();
    let hub = server.broadcaster();
    let mut live = Stream::open(addr, "/sse", "");
    let mut gone = Stream::open(addr, "/sse", "");
    assert_eq!(data_of(&live.items(1)), ["hello"]);
    assert_eq!(data_of(&gone.items(1)), ["hello"]);
    assert!(wait_until(TIMEOUT, || hub.client_count() == 2));

    let port = gone.conn.stream.local_addr().unwrap().port();
    let hole = Blackhole::port(port).unwrap_or_else(|why| panic!("cannot drop packets here: {why}"));
    let vanished = Instant::now();

    // The gone client's socket stays open on our side: no FIN, no reset ever reaches the server.
    let released = wait_until(SEND_TIMEOUT * 4 + TIMEOUT, || hub.client_count() == 1);
    let took = vanished.elapsed();
    drop(hole);
    assert!(released, "the vanished client is released: {:?}", server.stats());
    assert!(took >= SEND_TIMEOUT / 2, "released after {took:?}: before any timeout could tell");
    assert!(wait_until(TIMEOUT, || disconnects.load(Relaxed) == 1), "one on_disconnect");
    assert!(
        wait_until(TIMEOUT, || server.stats().connections == 1),
        "its descriptor is closed: {:?}",
        server.stats()
    );
    // Found by the kernel's TCP_USER_TIMEOUT (a socket error) or, first, by the worker's own
    // check that the queue made no progress for send_timeout: counted either way.
    let counted = server.stats().peer_errors + server.stats().slow_dropped;
    assert_eq!(counted, 1, "{:?}", server.stats());

    // The live client was never disturbed: it still gets keep-alives and events.
    hub.send("still here").unwrap();
    let items = live.items_within(1, TIMEOUT);
    assert_eq!(data_of(&items), ["still here"]);
    assert!(live.body.windows(3).any(|w| w == b":\n\n"), "keep-alive comments reached it");
    drop(gone);
    server.shutdown();
}
