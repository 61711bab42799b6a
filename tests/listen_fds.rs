//! `ssehub serve` under systemd socket activation, for real: the test plays the supervisor. It
//! binds a listener, starts the binary with that socket as descriptor 3 and `LISTEN_FDS=1`,
//! `LISTEN_PID` its pid (a shell's `$$` that `exec`s it keeps the pid), and reads a stream
//! through the socket it never bound itself. Something that is not a listening TCP socket at
//! descriptor 3 is a one-line error.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

mod net;

use net::Stream;

/// Starts `ssehub serve ARGS` with `fds` as descriptors 3, 4, ... and the socket activation
/// variables for it (`LISTEN_PID` set by the shell to its own pid, which `exec` hands on).
fn activated(fds: &[RawFd], count: &str, names: Option<&str>, args: &[&str]) -> Child {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(r#"LISTEN_PID=$$ exec "$0" serve "$@""#)
        .arg(env!("CARGO_BIN_EXE_ssehub"))
        .args(args)
        .env("LISTEN_FDS", count)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(names) = names {
        command.env("LISTEN_FDNAMES", names);
    }
    let fds = fds.to_vec();
    // SAFETY: between fork and exec only async-signal-safe calls on descriptors (fcntl, dup2,
    // close), and no allocation: `fds` was copied before the fork.
    unsafe {
        command.pre_exec(move || {
            let fail = || Err(std::io::Error::last_os_error());
            // Out of the way first (above 100), so that no dup2 overwrites a later source.
            let mut high = [0; 8];
            for (i, &fd) in fds.iter().enumerate() {
                high[i] = libc::fcntl(fd, libc::F_DUPFD, 100);
                if high[i] == -1 {
                    return fail();
                }
            }
            for (i, &fd) in high[..fds.len()].iter().enumerate() {
                // dup2 leaves the copy open across exec (no FD_CLOEXEC).
                if libc::dup2(fd, 3 + i as RawFd) == -1 || libc::close(fd) == -1 {
                    return fail();
                }
            }
            Ok(())
        });
    }
    command.spawn().expect("start ssehub")
}

/// The address on the first stdout line (`ssehub listening on http://ADDR/ ...`).
fn listening_on(child: &mut Child) -> SocketAddr {
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    let addr = line.split("http://").nth(1).and_then(|r| r.split('/').next());
    addr.unwrap_or_else(|| panic!("no address in {line:?}")).parse().unwrap()
}

fn stop(mut child: Child) -> String {
    Command::new("kill").args(["-s", "TERM", &child.id().to_string()]).status().unwrap();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(child.wait().unwrap().success(), "{err}");
    err
}

#[test]
fn serves_on_the_socket_it_was_given() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // --addr names a port that is taken (by this test): bound, it would fail to start.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().unwrap().to_string();
    let mut child = activated(&[listener.as_raw_fd()], "1", Some("web"), &["--addr", &taken]);
    drop(listener); // the child has its own copy, at descriptor 3
    assert_eq!(listening_on(&mut child), addr);
    let mut stream = Stream::open(addr, "/sse", "");
    // The demo clock: one event a second, with an id.
    let items = stream.items_within(1, Duration::from_secs(5));
    assert_eq!(items.len(), 1, "no clock event through the inherited socket");
    let err = stop(child);
    assert!(err.contains("socket activation: serving on fd 3 (web)"), "{err}");
}

#[test]
fn two_sockets_one_server() {
    let (a, b) = (TcpListener::bind("127.0.0.1:0").unwrap(), TcpListener::bind("127.0.0.1:0").unwrap());
    let (addr_a, addr_b) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let mut child = activated(&[a.as_raw_fd(), b.as_raw_fd()], "2", None, &["--addr", "127.0.0.1:0"]);
    drop((a, b));
    assert_eq!(listening_on(&mut child), addr_a);
    for addr in [addr_a, addr_b] {
        let mut stream = Stream::open(addr, "/sse", "");
        assert_eq!(stream.items_within(1, Duration::from_secs(5)).len(), 1, "{addr}");
    }
    let err = stop(child);
    assert!(err.contains("serving on fd 3, fd 4"), "{err}");
}

#[test]
fn a_descriptor_that_is_not_a_listening_tcp_socket_is_an_error() {
    let file = std::fs::File::open("/dev/null").unwrap();
    let child = activated(&[file.as_raw_fd()], "1", None, &[]);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("fd 3 from LISTEN_FDS is not a TCP socket"), "{err}");

    // A TCP socket, connected rather than listening (`Accept=yes` passes those).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let conn = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let out = activated(&[conn.as_raw_fd()], "1", None, &[]).wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("fd 3 from LISTEN_FDS is a TCP socket that does not listen"), "{err}");

    // More descriptors announced than passed: fd 4 is not open in the child.
    let out = activated(&[listener.as_raw_fd()], "2", None, &[]).wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("LISTEN_FDS=2, but fd 4 is not open"), "{err}");

    let out = activated(&[file.as_raw_fd()], "many", None, &[]).wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("LISTEN_FDS=many is not a number"), "{err}");
}

#[test]
fn variables_for_another_process_are_ignored() {
    // LISTEN_PID names someone else (our parent, say): --addr is bound as usual.
    let mut child = Command::new(env!("CARGO_BIN_EXE_ssehub"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env("LISTEN_FDS", "1")
        .env("LISTEN_PID", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = listening_on(&mut child);
    let mut stream = Stream::open(addr, "/sse", "");
    assert_eq!(stream.items_within(1, Duration::from_secs(5)).len(), 1);
    let err = stop(child);
    assert!(!err.contains("socket activation"), "{err}");
}
