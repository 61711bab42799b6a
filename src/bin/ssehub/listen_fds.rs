//! systemd socket activation for `ssehub serve` (the `sd_listen_fds(3)` protocol): a supervisor
//! that owns the port binds it, starts us with the listening sockets as descriptors 3, 4, ...
//! and says so in the environment:
//!
//! - `LISTEN_PID`: the process they are for (ours, or they are not for us: a parent's);
//! - `LISTEN_FDS`: how many there are, from descriptor 3 on;
//! - `LISTEN_FDNAMES`: optional, their names (`FileDescriptorName=` in a `.socket` unit),
//!   separated by colons; used in messages.
//!
//! When they are for us, `serve` listens on those sockets and does not bind `--addr`. The
//! three variables are removed either way (as `sd_listen_fds(1)` does), so that no process we
//! might start would take the sockets for its own. Every descriptor must be a listening TCP
//! socket (IPv4 or IPv6); anything else is a one-line error naming it.

use std::net::TcpListener;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use socket2::{Domain, Socket, Type};

/// The first descriptor passed (`SD_LISTEN_FDS_START`).
const FIRST: RawFd = 3;
/// More than any real unit passes; a larger count is taken for a mistake.
const MAX_FDS: usize = 1024;

/// A listening socket the supervisor passed.
pub struct Inherited {
    pub listener: TcpListener,
    /// `fd 3`, or `fd 3 (web)` with a name from `LISTEN_FDNAMES`.
    pub label: String,
}

/// The sockets passed to this process, if any (`Ok(None)`: no socket activation, bind
/// `--addr`). Must run before any thread starts: it changes the environment.
pub fn take() -> Result<Option<Vec<Inherited>>, String> {
    let pid = std::env::var("LISTEN_PID").ok();
    let fds = std::env::var("LISTEN_FDS").ok();
    let names = std::env::var("LISTEN_FDNAMES").ok();
    forget_environment();
    let (Some(pid), Some(fds)) = (pid, fds) else { return Ok(None) };
    if pid.trim().parse::<u32>().ok() != Some(std::process::id()) {
        return Ok(None); // meant for another process (the one that started us)
    }
    let count: usize = fds
        .trim()
        .parse()
        .ok()
        .filter(|&n| n <= MAX_FDS)
        .ok_or_else(|| format!("LISTEN_FDS={fds} is not a number of descriptors (0 to {MAX_FDS})"))?;
    if count == 0 {
        return Ok(None);
    }
    let names: Vec<&str> = names.as_deref().map(|n| n.split(':').collect()).unwrap_or_default();
    let mut listeners = Vec::with_capacity(count);
    for n in 0..count {
        let fd = FIRST + n as RawFd;
        let label = match names.get(n) {
            Some(name) if !name.is_empty() => format!("fd {fd} ({name})"),
            _ => format!("fd {fd}"),
        };
        let socket = adopt_fd(fd)
            .ok_or_else(|| format!("LISTEN_FDS={count}, but {label} is not open (socket activation)"))?;
        let listener = tcp_listener(socket).map_err(|why| format!("{label} from LISTEN_FDS {why}"))?;
        listeners.push(Inherited { listener, label });
    }
    Ok(Some(listeners))
}

/// Checks that `socket` listens for TCP, and makes it a listener (closed on exec).
fn tcp_listener(socket: Socket) -> Result<TcpListener, String> {
    let tcp = matches!(socket.domain(), Ok(Domain::IPV4 | Domain::IPV6))
        && matches!(socket.r#type(), Ok(Type::STREAM));
    if !tcp {
        return Err("is not a TCP socket (ssehub serves TCP: ListenStream=PORT or ADDR:PORT)".into());
    }
    if !socket.is_listener().unwrap_or(false) {
        return Err("is a TCP socket that does not listen (Accept=no is needed)".into());
    }
    socket.set_cloexec(true).map_err(|e| format!("cannot be set close-on-exec: {e}"))?;
    Ok(socket.into())
}

/// Takes ownership of descriptor `fd` if it is open.
fn adopt_fd(fd: RawFd) -> Option<Socket> {
    // SAFETY: `fcntl(F_GETFD)` only reads the descriptor's flags (and tells an open one from a
    // closed one). An open `fd` from 3 to 3 + LISTEN_FDS, with LISTEN_PID our pid, was passed to
    // this process by the socket activation protocol for it to own; it is taken here once, at
    // start, before anything else in the process could have opened or claimed it.
    unsafe {
        if libc::fcntl(fd, libc::F_GETFD) == -1 {
            return None;
        }
        Some(Socket::from(OwnedFd::from_raw_fd(fd)))
    }
}

/// Removes the three variables from our environment.
fn forget_environment() {
    for name in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        // SAFETY: called at the start of `serve`, before the process has started any thread,
        // so no other thread can be reading the environment.
        unsafe { std::env::remove_var(name) };
    }
}
