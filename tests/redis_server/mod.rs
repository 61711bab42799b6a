//! A Redis server of the test's own: `redis-server` (Debian package `redis-server`) started on a
//! free loopback port with its data in a temporary directory, stopped and started again at will,
//! killed when dropped.
//!
//! The tests that need one are ignored where the build found no working `redis-server`
//! (`build.rs`, `cfg(has_redis_server)`); one that runs (found, or `--include-ignored`) and cannot
//! start it fails, saying why.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `redis-server` that `build.rs` found and ran, else the one on `PATH` now.
const PROGRAM: &str = match option_env!("SSEHUB_REDIS_SERVER") {
    Some(program) => program,
    None => "redis-server",
};

pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    /// Extra `redis-server` arguments (`--requirepass`, say).
    args: Vec<String>,
}

impl RedisServer {
    /// Starts one; panics, saying why, if it cannot.
    pub fn start() -> RedisServer {
        RedisServer::start_with(&[])
    }

    /// [`RedisServer::start`] with extra `redis-server` arguments.
    pub fn start_with(args: &[&str]) -> RedisServer {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("ssehub-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let args = args.iter().map(|a| a.to_string()).collect();
        let mut server = RedisServer { child: None, port, dir, args };
        server.run();
        server
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server process (again) on the same port and data directory.
    pub fn run(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new(PROGRAM)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .args(&self.args)
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {PROGRAM}: {e} (apt-get install redis-server)"));
        // Held by `self` at once, so that a panic below still kills it (`Drop`).
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        // Up once it answers at all (with a password set, PING answers -NOAUTH).
        while self.command("PING").is_none_or(|r| r.is_empty()) {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("{PROGRAM} exited at start ({status}) on port {}", self.port);
            }
            assert!(Instant::now() < deadline, "{PROGRAM} did not come up on port {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Shuts the server down (its data is kept: append-only file) and waits for it to exit.
    pub fn stop(&mut self) {
        let _ = self.command("SHUTDOWN");
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    /// Sends one inline command and returns the first line of the reply.
    pub fn command(&self, line: &str) -> Option<String> {
        let mut conn = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        conn.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        conn.write_all(format!("{line}\r\n").as_bytes()).ok()?;
        let mut reply = Vec::new();
        let mut byte = [0u8; 1];
        while !reply.ends_with(b"\r\n") {
            match conn.read(&mut byte) {
                Ok(1) => reply.push(byte[0]),
                _ => break,
            }
        }
        Some(String::from_utf8_lossy(&reply).trim_end().to_owned())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
