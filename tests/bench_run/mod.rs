//! Running `ssehub serve` and `ssehub bench` as processes, for the tests of `bench` (over TLS,
//! over HTTP/2): a server on a free port, a bench run to its end under a deadline, its JSON.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The longest one `bench` run may take (it measures for a few seconds).
pub const RUN_DEADLINE: Duration = Duration::from_secs(60);

/// `ssehub serve` on a free port, publishing 20 timestamped, numbered events a second.
pub struct Serve {
    child: Child,
    /// The stream's URL, as the server printed it.
    pub url: String,
    /// Its address.
    pub addr: SocketAddr,
    /// Kept open: a server whose stdout is closed fails on its next line.
    _stdout: BufReader<std::process::ChildStdout>,
}

impl Serve {
    /// Starts one with `extra` arguments (TLS, say).
    pub fn start(extra: &[&str]) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ssehub"))
            .args(["serve", "--addr", "127.0.0.1:0", "--rate", "20", "--size", "64"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        // "ssehub listening on http://127.0.0.1:PORT/ (stream: http://127.0.0.1:PORT/sse)"
        let url = line.split("(stream: ").nth(1).and_then(|r| r.split(')').next()).expect(&line);
        let addr = url.split("://").nth(1).and_then(|r| r.split('/').next()).expect(&line);
        Serve { child, url: url.to_owned(), addr: addr.parse().expect(&line), _stdout: stdout }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `ssehub bench ARGS` with the environment `env` added, to its end (killed past
/// [`RUN_DEADLINE`]).
pub fn bench(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ssehub"));
    cmd.arg("bench").args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    // Read both pipes on threads so that a full pipe cannot stall the run.
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let deadline = Instant::now() + RUN_DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("bench {args:?} still running after {RUN_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output { status, stdout: out.join().unwrap(), stderr: err.join().unwrap() }
}

/// A run's JSON report (`--json`).
pub fn json(out: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{e}: {text}\nstderr: {}", String::from_utf8_lossy(&out.stderr)))
}
