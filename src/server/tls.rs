//! The worker's side of TLS: moving bytes between a socket, its [`Tls`] state and its
//! [`Protocol`](crate::proto::Protocol) (HTTP/1.1, or HTTP/2 when ALPN agreed on `h2`). What TLS decides is in [`crate::proto::tls`]; this file only
//! carries bytes and counts.
//!
//! ```text
//! socket ─► received(): Tls::received ─► plaintext ─► Protocol::received
//! write(): Tls::write_to(socket) ◄─ Protocol::write_to(Tls::plaintext()) ◄─ the queue
//! ```

use std::io::{self, Write};
use std::net::Shutdown;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::worker::Socket;
use super::{Shared, WorkerCounters};
use crate::http::{Framing, Response};
use crate::proto::tls::{Received, Tls, TlsFailure};

/// Per-server TLS counters (relaxed atomics).
#[derive(Debug, Default)]
pub(crate) struct TlsCounters {
    pub(crate) handshakes: std::sync::atomic::AtomicU64,
    /// By [`FAILURES`], in its order.
    pub(crate) failures: [std::sync::atomic::AtomicU64; FAILURES.len()],
    /// Open TLS connections by version: TLS 1.3, TLS 1.2.
    pub(crate) open_13: std::sync::atomic::AtomicUsize,
    pub(crate) open_12: std::sync::atomic::AtomicUsize,
    /// Open TLS connections that agreed on `http/1.1` by ALPN.
    pub(crate) alpn_http11: std::sync::atomic::AtomicUsize,
    /// Open TLS connections that agreed on `h2` by ALPN.
    pub(crate) alpn_h2: std::sync::atomic::AtomicUsize,
}

/// The reasons a handshake fails (the `reason` label of `ssehub_tls_handshake_failures_total`).
pub(crate) const FAILURES: [&str; 7] =
    ["plain_http", "incompatible", "protocol", "alert", "eof", "timeout", "too_many_handshakes"];

impl TlsCounters {
    pub(crate) fn failed(&self, reason: &str) {
        if let Some(i) = FAILURES.iter().position(|r| *r == reason) {
            self.failures[i].fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Takes bytes read from a TLS connection's socket: decrypts them, feeds the plaintext to the
/// connection, and counts a completed handshake. A failure closes the connection (after its
/// alert), except plain HTTP, which gets a plain `400`: then `false`, and the caller drops the
/// TLS layer (the answer goes out as it is).
pub(super) fn received(
    live: &mut Socket,
    tls: &mut Tls,
    bytes: &[u8],
    plain: &mut Vec<u8>,
    shared: &Shared,
    worker: &WorkerCounters,
    now: Instant,
) -> bool {
    plain.clear();
    let result = tls.received(bytes, plain);
    if tls.handshake_done() {
        worker.tls_handshaking.fetch_sub(1, Ordering::Relaxed);
        let c = &shared.counters.tls;
        c.handshakes.fetch_add(1, Ordering::Relaxed);
        open_gauge(c, tls, 1);
    }
    match result {
        Ok(received) => {
            live.proto.received(plain, now);
            if received == Received::Closed {
                live.proto.peer_closed();
            }
        }
        Err(failure) => return fail(live, tls, &failure, shared, now),
    }
    true
}

/// The socket ended.
pub(super) fn eof(live: &mut Socket, tls: &mut Tls, shared: &Shared, now: Instant) {
    if let Err(failure) = tls.eof() {
        fail(live, tls, &failure, shared, now);
    }
    live.proto.peer_closed();
}

/// `false` for plain HTTP (see [`received`]).
fn fail(live: &mut Socket, tls: &mut Tls, failure: &TlsFailure, shared: &Shared, now: Instant) -> bool {
    shared.counters.tls.failed(failure.reason());
    if let TlsFailure::PlainHttp = failure {
        // The client speaks plain HTTP: it can read a plain answer.
        let wrong = Response::error(400, "this port speaks HTTPS: use an https:// URL");
        if let Some(conn) = live.proto.http1() {
            conn.respond(&wrong, Framing::CLOSE, now);
        }
        return false;
    }
    let _ = tls.write_to(&mut live.sock);
    live.proto.abort();
    true
}

/// Writes what a TLS connection has: its records first, then as much of the connection's queue
/// as the record buffer takes, over again until the socket would block or nothing is left.
pub(super) fn write(live: &mut Socket, tls: &mut Tls, now: Instant, shared: &Shared, stats: &WorkerCounters) {
    let mut written = 0;
    loop {
        match tls.write_to(&mut live.sock) {
            Ok(n) => written += n,
            Err(_) => {
                Shared::count(&shared.counters.peer_errors);
                live.proto.abort();
                break;
            }
        }
        if tls.wants_write() || !live.proto.wants_write() {
            break; // the socket is full, or nothing more to encrypt
        }
        match live.proto.write_to(&mut tls.plaintext(), now) {
            Ok(0) => break,
            Ok(_) => {}
            Err(_) => break, // the connection closed itself
        }
    }
    stats.bytes.fetch_add(written as u64, Ordering::Relaxed);
}

/// Ends the session before the socket's FIN: a `close_notify`, written if the socket takes it.
pub(super) fn close(live: &mut Socket, tls: &mut Tls) {
    tls.close();
    let _ = tls.write_to(&mut live.sock);
}

/// Shuts the sending side after the `close_notify`.
pub(super) fn fin(live: &mut Socket, tls: &mut Tls) -> io::Result<()> {
    close(live, tls);
    live.sock.flush()?;
    live.sock.shutdown(Shutdown::Write)
}

/// The connection is gone: the gauges it was in let it go.
pub(super) fn forget(tls: &Tls, shared: &Shared, worker: &WorkerCounters) {
    if tls.is_handshaking() {
        worker.tls_handshaking.fetch_sub(1, Ordering::Relaxed);
    } else {
        open_gauge(&shared.counters.tls, tls, -1);
    }
}

fn open_gauge(c: &TlsCounters, tls: &Tls, delta: isize) {
    let add = |g: &std::sync::atomic::AtomicUsize| {
        if delta > 0 {
            g.fetch_add(1, Ordering::Relaxed);
        } else {
            g.fetch_sub(1, Ordering::Relaxed);
        }
    };
    match tls.version() {
        Some("TLSv1.3") => add(&c.open_13),
        Some("TLSv1.2") => add(&c.open_12),
        _ => {}
    }
    match tls.alpn() {
        Some(b"http/1.1") => add(&c.alpn_http11),
        Some(b"h2") => add(&c.alpn_h2),
        _ => {}
    }
}
