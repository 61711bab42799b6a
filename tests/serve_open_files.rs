//! `ssehub serve` under a low open-files limit: every client gets an answer.
//!
//! With a soft limit of 256 and 400 clients, 154 clients once got no answer at all (no `503`) and
//! `/metrics` hung: the server ran out of descriptors before its connection limit. Now `serve`
//! raises its soft limit to the hard one, and when even that is too low, holds itself to what
//! the descriptors allow, says so in one line, and answers the rest `503`.

mod net;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use net::{Conn, Stop, TIMEOUT};

const CLIENTS: usize = 400;

/// `ssehub serve` on a free port under `ulimit` settings; its address and stderr.
struct Serve {
    child: Child,
    addr: SocketAddr,
}

impl Serve {
    fn start(ulimit: &str) -> Serve {
        let bin = env!("CARGO_BIN_EXE_ssehub");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit {ulimit} && exec '{bin}' serve --addr 127.0.0.1:0 --no-clock --workers 2"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sh");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line.split("http://").nth(1).and_then(|r| r.split('/').next()).expect(&line);
        Serve { child, addr: url.parse().unwrap() }
    }

    /// Stops the server; returns what it wrote on stderr.
    fn stop(mut self) -> String {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let mut err = String::new();
        self.child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "exit {status:?}, stderr: {err}");
        err
    }
}

/// Opens `CLIENTS` streams; returns how many streamed and how many were told `503`. Every one
/// must get one of the two (none may hang).
fn crowd(addr: SocketAddr) -> (usize, usize, Vec<Conn>) {
    let mut conns: Vec<Conn> = (0..CLIENTS)
        .map(|_| {
            let mut c = Conn::connect(addr);
            c.send(&net::get("/sse", ""));
            c
        })
        .collect();
    let (mut streaming, mut refused) = (0, 0);
    let deadline = Instant::now() + TIMEOUT * 2;
    for c in &mut conns {
        let head = c.try_read_head(deadline).unwrap_or_else(|stop| panic!("no answer: {stop:?}"));
        match head.status {
            200 => streaming += 1,
            503 => refused += 1,
            other => panic!("status {other}"),
        }
    }
    (streaming, refused, conns)
}

/// `/metrics` answers (200 or, when full, 503) rather than hanging.
fn metrics_answer(addr: SocketAddr) -> u16 {
    let mut c = Conn::connect(addr);
    c.send(&net::get("/metrics", ""));
    match c.try_read_head(Instant::now() + TIMEOUT) {
        Ok(head) => head.status,
        Err(Stop::Timeout) => panic!("/metrics hangs"),
        Err(Stop::Eof) => panic!("/metrics closed without an answer"),
    }
}

#[test]
fn a_soft_limit_below_the_connection_limit_is_raised_to_the_hard_one() {
    let serve = Serve::start("-Sn 256 && ulimit -Hn 4096");
    let (streaming, refused, conns) = crowd(serve.addr);
    assert_eq!((streaming, refused), (CLIENTS, 0));
    assert_eq!(metrics_answer(serve.addr), 200);
    drop(conns);
    // 4,096 files still hold fewer than the default 16,384 connections: said so, with the
    // limit the raised descriptors allow.
    let err = serve.stop();
    assert!(err.contains("at most 40") && err.contains("4096 files"), "{err}");
}

#[test]
fn a_hard_limit_below_it_caps_the_connections_and_everyone_is_answered() {
    let serve = Serve::start("-n 256");
    let (streaming, refused, conns) = crowd(serve.addr);
    assert!(streaming > 100 && streaming < 256, "{streaming} streams");
    assert_eq!(streaming + refused, CLIENTS);
    assert_eq!(metrics_answer(serve.addr), 503, "full: told so, not left hanging");
    drop(conns);
    // Once the crowd has left, the metrics answer again.
    let ok = net::wait_until(TIMEOUT, || metrics_answer(serve.addr) == 200);
    let err = serve.stop();
    assert!(ok);
    let line =
        err.lines().find(|l| l.contains("at most")).unwrap_or_else(|| panic!("no word of the cap: {err}"));
    assert!(
        line.contains(&format!("at most {streaming} connections")) && line.contains("256 files"),
        "{line}"
    );
}
