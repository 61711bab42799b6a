//! `ssehub serve` as a child process on a free port, for the tests that need the binary itself
//! (its flags and defaults): started with the arguments given, its address read from the first
//! line it prints, and killed when the test ends ([`Killed`]).

#![allow(dead_code)]

use std::io::BufRead as _;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

/// `ssehub serve --addr 127.0.0.1:0 --no-clock ARGS`: the child, and its address.
pub fn serve(args: &[&str]) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ssehub"))
        .args(["serve", "--addr", "127.0.0.1:0", "--no-clock"])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    // "ssehub listening on http://127.0.0.1:PORT/ ..."
    let addr = line.split("http://").nth(1).and_then(|r| r.split('/').next()).expect(&line);
    (child, addr.parse().unwrap())
}

/// Kills the child when dropped, however the test ends.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
