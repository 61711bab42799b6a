//! Hand-off: a socket some other accept loop took, with the bytes it already read from it,
//! becomes one of the server's connections ([`Server::adopt`]).
//!
//! ```text
//! app's accept loop ─► reads a head ─► "/sse? not mine" ─► Server::adopt(stream, already_read)
//!     ─► counted against the connection limit (past it: 503, as at accept)
//!     ─► Command::Handoff to the next worker in turn (mailbox + waker)
//!     ─► the worker registers it and feeds `already_read` to its Conn as the first read
//!     ─► answered exactly as a request read from the socket: route, CORS, verify, stream
//! ```
//!
//! From then on the server owns the connection: keep-alive, pipelined requests, the stream's
//! queue and timers, HTTP/2 when `already_read` is its preface. An adopted socket is always
//! plain (HTTP/1.1, or HTTP/2 by prior knowledge): whoever read its bytes read them as
//! plaintext, so a server with TLS serves its own listeners over TLS and adopted sockets
//! without it.

use std::fmt;
use std::io;
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::commands::Command;
use super::worker::{Live, Worker};
use super::{Rejection, Server, Shared};
use crate::http::{Framing, Request, Response};

/// Why [`Server::adopt`] did not take a socket.
#[derive(Debug)]
#[non_exhaustive]
pub enum AdoptError {
    /// The server is shutting down or has stopped: the socket comes back (blocking again, as
    /// it came), for the application to answer or close.
    Stopped(TcpStream),
    /// The socket could not be made non-blocking (it is closed).
    Io(io::Error),
}

impl fmt::Display for AdoptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdoptError::Stopped(_) => f.write_str("the server has stopped: it adopts no more connections"),
            AdoptError::Io(e) => write!(f, "cannot adopt the connection: {e}"),
        }
    }
}

impl std::error::Error for AdoptError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AdoptError::Io(e) => Some(e),
            AdoptError::Stopped(_) => None,
        }
    }
}

/// A handle that hands connections to a [`Server`] from any thread (see [`Server::adopt`]):
/// for an application whose accept loop runs apart from where it keeps the server.
#[derive(Clone)]
pub struct Adopter {
    shared: Arc<Shared>,
}

impl fmt::Debug for Adopter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Adopter").finish_non_exhaustive()
    }
}

impl Adopter {
    /// As [`Server::adopt`].
    pub fn adopt(&self, stream: TcpStream, already_read: &[u8]) -> Result<(), AdoptError> {
        adopt(&self.shared, stream, already_read)
    }

    /// As [`Server::serves`].
    pub fn serves(&self, request: &Request) -> bool {
        serves(&self.shared, request)
    }
}

impl Server {
    /// Takes over a connection that an accept loop of the application's own accepted, and
    /// from which it read `already_read` (a request head, possibly more, possibly less):
    /// the server answers that request exactly as if it had read those bytes itself (a stream
    /// on the stream path, with CORS, `verify`, channels and `Last-Event-ID` replay; the
    /// fallback elsewhere; a refusal for a bad request), and owns the connection from then on
    /// (keep-alive, further requests, closing).
    ///
    /// - It counts against [`Config::max_connections`](super::Config::max_connections) like an
    ///   accepted socket: past the limit it is answered `503` and closed (still `Ok`: the
    ///   server answered it).
    /// - `already_read` is bounded as a read request is: a head not complete within
    ///   [`Limits::max_head_bytes`](crate::Limits::max_head_bytes) gets `431`, and more bytes
    ///   than one request can hold (`max_head_bytes + max_body_bytes`) get `431` too.
    /// - The socket is served as plain HTTP/1.1 (or HTTP/2 when `already_read` starts with its
    ///   preface), on a TLS server too: whoever read those bytes read plaintext.
    /// - `Err(AdoptError::Stopped(stream))` once the server is shutting down: the socket comes
    ///   back. (One adopted at the very moment a shutdown begins is closed unanswered, as a
    ///   socket accepted then is.)
    ///
    /// See `examples/handoff.rs` for a whole application with its own routes.
    ///
    /// ```no_run
    /// use std::io::Read;
    /// let server = ssehub::Server::builder().bind("127.0.0.1:0")?;
    /// let listener = std::net::TcpListener::bind("127.0.0.1:8080")?;
    /// for stream in listener.incoming() {
    ///     let mut stream = stream?;
    ///     let mut head = vec![0; 8192];
    ///     let n = stream.read(&mut head)?; // (a real server reads until the blank line)
    ///     if head[..n].starts_with(b"GET /sse") {
    ///         server.adopt(stream, &head[..n])?;
    ///     }
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn adopt(&self, stream: TcpStream, already_read: &[u8]) -> Result<(), AdoptError> {
        adopt(&self.shared, stream, already_read)
    }

    /// A handle for [`Server::adopt`] from other threads.
    pub fn adopter(&self) -> Adopter {
        Adopter { shared: self.shared.clone() }
    }

    /// Whether the server answers `request` with something of its own (a stream on its stream
    /// path, with any refusal there; publishing, presence or metrics where configured) rather
    /// than with its fallback: what an accept loop that keeps every other request hands over.
    /// It is the server's own routing decision, so the two cannot disagree.
    ///
    /// ```
    /// let server = ssehub::Server::builder().path("/events/*").adopt_only()?;
    /// let head = |raw: &str| ssehub::http::request::parse_head(raw.as_bytes(), &Default::default());
    /// let stream = head("GET /events/a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n").unwrap().unwrap();
    /// let page = head("GET /index.html HTTP/1.1\r\nHost: h\r\n\r\n").unwrap().unwrap();
    /// assert!(server.serves(&stream.request));
    /// assert!(!server.serves(&page.request));
    /// # Ok::<(), ssehub::ServerError>(())
    /// ```
    pub fn serves(&self, request: &Request) -> bool {
        serves(&self.shared, request)
    }
}

fn serves(shared: &Shared, request: &Request) -> bool {
    crate::http::route::route(request, &shared.config.route) != crate::http::route::Decision::Fallback
}

fn adopt(shared: &Shared, stream: TcpStream, already_read: &[u8]) -> Result<(), AdoptError> {
    if shared.stopping.load(Ordering::Acquire) {
        return Err(AdoptError::Stopped(stream));
    }
    stream.set_nonblocking(true).map_err(AdoptError::Io)?;
    let _ = stream.set_nodelay(true);
    let sock = mio::net::TcpStream::from_std(stream);
    let counters = &shared.counters;
    Shared::count(&counters.accepted);
    // A compare-and-swap, not a load then an add: adopting threads race each other.
    let counted = counters.connections.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |open| {
        (open < shared.max_connections).then_some(open + 1)
    });
    if counted.is_err() {
        super::worker::refuse(sock, counters);
        return Ok(());
    }
    let limits = &shared.config.limits;
    let already_read = (already_read.len() <= limits.max_head_bytes.saturating_add(limits.max_body_bytes))
        .then(|| already_read.to_vec());
    let mut command = Command::Handoff(sock, already_read);
    let n = shared.mailboxes.len();
    for _ in 0..n {
        let target = shared.next_worker.fetch_add(1, Ordering::Relaxed) % n;
        match shared.mailboxes[target].post(command) {
            Ok(()) => return Ok(()),
            Err(back) => command = back,
        }
    }
    counters.connections.fetch_sub(1, Ordering::Relaxed);
    let Command::Handoff(sock, _) = command else { unreachable!("post gives back what it was given") };
    let stream = TcpStream::from(sock);
    let _ = stream.set_nonblocking(false);
    Err(AdoptError::Stopped(stream))
}

impl Worker {
    /// Feeds an adopted connection's first bytes to its (new) HTTP/1 state, as if read from
    /// the socket; `None`: more than one request can hold, refused as an oversized head is.
    pub(super) fn first_read(&mut self, i: usize, already_read: Option<Vec<u8>>, now: Instant) {
        let Some(sock) = self.slots.at(i).and_then(Live::socket) else { return };
        match already_read {
            Some(bytes) => {
                sock.proto.received(&bytes, now);
                // Answered before reading on, as after any read (the peer may have sent its
                // FIN already: that must not end the request unanswered).
                self.pump(i, now);
            }
            None => {
                if let Some(conn) = sock.proto.http1() {
                    conn.respond(&Response::error(431, "request head too large"), Framing::CLOSE, now);
                    self.shared.reject(Rejection::Malformed);
                }
            }
        }
    }
}
