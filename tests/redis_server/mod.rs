//! A Redis server of the test's own: `redis-server` (Debian package `redis-server`) started on a
//! free loopback port with its data in a temporary directory, stopped and started again at will,
//! killed when dropped.
//!
//! Without `redis-server` the tests that need it say why and pass, except under `CI`, where
//! `.ci/packages` installs it and its absence is a failure.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    /// Extra `redis-server` arguments (`--requirepass`, say).
    args: Vec<String>,
}

impl RedisServer {
    /// Starts one, or says why it cannot (`None`) outside CI.
    pub fn start() -> Option<RedisServer> {
        RedisServer::start_with(&[])
    }

    /// [`RedisServer::start`] with extra `redis-server` arguments.
    pub fn start_with(args: &[&str]) -> Option<RedisServer> {
        let found = Command::new("redis-server").arg("--version").stdout(Stdio::null()).status();
        if !found.is_ok_and(|s| s.success()) {
            assert!(std::env::var_os("CI").is_none(), "CI must have redis-server (.ci/packages installs it)");
            eprintln!("skipped: no redis-server here (apt-get install redis-server)");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("ssehub-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let args = args.iter().map(|a| a.to_string()).collect();
        let mut server = RedisServer { child: None, port, dir, args };
        server.run();
        Some(server)
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server process (again) on the same port and data directory.
    pub fn run(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .args(&self.args)
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        // Up once it answers at all (with a password set, PING answers -NOAUTH).
        while self.command("PING").is_none_or(|r| r.is_empty()) {
            assert!(Instant::now() < deadline, "redis-server did not come up on port {}", self.port);
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
