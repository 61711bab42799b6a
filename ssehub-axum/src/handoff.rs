//! Hand-off in front of axum: an [`axum::serve::Listener`] that gives ssehub's own server
//! every connection whose first request is one the server answers (its stream path, by
//! default `/sse`), and axum every other connection.
//!
//! ```text
//! TcpListener::accept ─► a task per connection reads its first request head (bounded in size,
//!     time, and in how many wait at once)
//!     ─► sort(head): the server's own routing decision (ssehub::Server::serves)
//!         ├─ stream path ─► Adopter::adopt(socket, bytes read): ssehub's worker owns it
//!         └─ anything else, a bad or slow head, HTTP/2 ─► axum, the bytes read replayed first
//! ```
//!
//! Why: a stream served by [`SseHub::handler`](crate::SseHub::handler) lives in a hyper
//! connection, ~19 KB of buffers and task per stream whatever the handler does (see the crate's
//! README); a stream handed off costs what it costs in `ssehub serve`, about 0.6 KB, and is
//! written by ssehub's workers (no per-stream task, no per-event wake-up). What it gives up:
//! the stream passes through none of the application's tower middleware (authorization is
//! ssehub's: `verify`, a JWT [`Policy`](ssehub::auth::Policy) on the server), and it is plain
//! HTTP/1.1 (an application behind its own TLS keeps [`SseHub::handler`](crate::SseHub::handler)).
//! A connection that asked for something else first stays with axum for its whole life, so
//! keep the handler on the same path too: a page whose keep-alive connection is reused for its
//! `EventSource` is served there, by the same hub.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use ssehub_axum::{SseHub, handoff::HandOff};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // The server's workers, with no listener of their own: the hand-off feeds them.
//! let server = ssehub::Server::builder().adopt_only()?;
//! let hub = SseHub::builder().attach(server.broadcaster());
//! let app = Router::new()
//!     .route("/", get(|| async { "hello" }))
//!     .route("/sse", hub.handler()); // a reused keep-alive connection's streams
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(HandOff::new(listener, server.adopter()), app.into_make_service()).await?;
//! # Ok(()) }
//! ```

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use ssehub::http::request::parse_head;
use ssehub::{AdoptError, Adopter, Limits, Request};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// Longest a connection may take to send its first request head, by default.
pub const DEFAULT_HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Most connections whose first head is awaited at once, by default; past it, accepting waits.
pub const DEFAULT_MAX_PENDING: usize = 1024;

/// What a connection's first bytes make of it ([`sort`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The head is not complete yet: read more.
    NeedMore,
    /// ssehub's server answers the request: hand the socket and the bytes over.
    Adopt,
    /// axum's: a request for the application, a bad or oversized head, HTTP/2's preface.
    Keep,
}

/// Sorts a connection by the bytes read from it so far (sans-IO: the decision alone).
///
/// `serves` is the server's routing decision ([`Adopter::serves`]). A head that does not parse
/// is the application's to answer, as is one past `limits.max_head_bytes`.
///
/// ```
/// use ssehub_axum::handoff::{Verdict, sort};
/// let limits = ssehub::Limits::default();
/// let sse = |r: &ssehub::Request| r.path == "/sse";
/// assert_eq!(sort(b"GET /sse HTTP/1.1\r\nHost: a\r\n", &limits, sse), Verdict::NeedMore);
/// assert_eq!(sort(b"GET /sse?channel=a HTTP/1.1\r\nHost: a\r\n\r\n", &limits, sse), Verdict::Adopt);
/// assert_eq!(sort(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", &limits, sse), Verdict::Keep);
/// assert_eq!(sort(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", &limits, sse), Verdict::Keep);
/// ```
pub fn sort(read: &[u8], limits: &Limits, serves: impl FnOnce(&Request) -> bool) -> Verdict {
    match parse_head(read, limits) {
        Ok(Some(head)) if serves(&head.request) => Verdict::Adopt,
        Ok(Some(_)) | Err(_) => Verdict::Keep,
        Ok(None) if read.len() >= limits.max_head_bytes => Verdict::Keep,
        Ok(None) => Verdict::NeedMore,
    }
}

/// The settings every sorting task reads.
#[derive(Clone)]
struct Sorting {
    adopter: Adopter,
    limits: Limits,
    head_timeout: Duration,
}

/// An [`axum::serve::Listener`] that hands ssehub's requests to an [`ssehub::Server`] (see
/// the [module docs](self)); `axum::serve(HandOff::new(listener, server.adopter()), app)`.
pub struct HandOff {
    listener: TcpListener,
    sorting: Arc<Sorting>,
    max_pending: usize,
    pending: JoinSet<Option<(Rewind, SocketAddr)>>,
    /// After an accept error other than a connection's own: a pause before the next accept,
    /// as axum's own listener makes (a process out of file descriptors must not spin).
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl std::fmt::Debug for HandOff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandOff")
            .field("local_addr", &self.listener.local_addr().ok())
            .field("pending", &self.pending.len())
            .field("head_timeout", &self.sorting.head_timeout)
            .finish_non_exhaustive()
    }
}

impl HandOff {
    /// Sorts the connections `listener` accepts: ssehub's to `adopter`'s server, the rest
    /// returned to axum. Head limits [`Limits::default`] (8 KiB), 10 s to send the first head,
    /// at most 1,024 heads awaited at once.
    pub fn new(listener: TcpListener, adopter: Adopter) -> HandOff {
        HandOff {
            listener,
            sorting: Arc::new(Sorting {
                adopter,
                limits: Limits::default(),
                head_timeout: DEFAULT_HEAD_TIMEOUT,
            }),
            max_pending: DEFAULT_MAX_PENDING,
            pending: JoinSet::new(),
            pause: None,
        }
    }

    fn sorting_mut(&mut self) -> &mut Sorting {
        // Before the first accept no task holds a clone: then this copies nothing.
        Arc::make_mut(&mut self.sorting)
    }

    /// Bounds on the first request head (its size: a longer one goes to axum unsorted).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.sorting_mut().limits = limits;
        self
    }

    /// How long a connection may take to send its first head; then it goes to axum with what it
    /// sent, for axum's own timeouts to deal with.
    pub fn head_timeout(mut self, timeout: Duration) -> Self {
        self.sorting_mut().head_timeout = timeout;
        self
    }

    /// Most connections whose first head is awaited at once (at least 1); while that many
    /// wait, no connection is accepted (they queue in the kernel's backlog).
    pub fn max_pending(mut self, n: usize) -> Self {
        self.max_pending = n.max(1);
        self
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<(Rewind, SocketAddr)> {
        loop {
            match self.pending.poll_join_next(cx) {
                Poll::Ready(Some(Ok(Some(kept)))) => return Poll::Ready(kept),
                // Adopted or gone (a sorting task cannot panic; were it to, its socket is closed).
                Poll::Ready(Some(_)) => continue,
                Poll::Ready(None) | Poll::Pending => {}
            }
            if let Some(pause) = &mut self.pause {
                ready!(pause.as_mut().poll(cx));
                self.pause = None;
            }
            if self.pending.len() >= self.max_pending {
                // `poll_join_next` wakes this task when one finishes.
                return Poll::Pending;
            }
            match ready!(self.listener.poll_accept(cx)) {
                Ok((stream, addr)) => {
                    self.pending.spawn(sort_connection(stream, addr, self.sorting.clone()));
                }
                Err(e) if is_connection_error(&e) => {}
                Err(_) => self.pause = Some(Box::pin(tokio::time::sleep(Duration::from_secs(1)))),
            }
        }
    }
}

/// Errors of one connection (it went before it was accepted): the next accept goes on at once.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

impl axum::serve::Listener for HandOff {
    type Io = Rewind;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Rewind, SocketAddr) {
        poll_fn(|cx| self.poll_next(cx)).await
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// Reads `stream`'s first head and hands it over or gives it back (`Some`: axum's).
async fn sort_connection(
    stream: TcpStream,
    addr: SocketAddr,
    sorting: Arc<Sorting>,
) -> Option<(Rewind, SocketAddr)> {
    let mut buf = vec![0; sorting.limits.max_head_bytes.max(1)];
    let mut len = 0;
    let verdict = tokio::time::timeout(sorting.head_timeout, async {
        loop {
            stream.readable().await.ok()?;
            match stream.try_read(&mut buf[len..]) {
                // The peer finished before a whole head: axum answers (or just closes) it.
                Ok(0) => return Some(Verdict::Keep),
                Ok(n) => len += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(_) => return None,
            }
            // `buf` holds `max_head_bytes`: `sort` keeps a head that fills it, so `NeedMore`
            // always leaves room to read into.
            match sort(&buf[..len], &sorting.limits, |r| sorting.adopter.serves(r)) {
                Verdict::NeedMore => {}
                v => return Some(v),
            }
        }
    })
    .await
    .unwrap_or(Some(Verdict::Keep))?;
    buf.truncate(len);
    let stream = match verdict {
        Verdict::Adopt => {
            let std = stream.into_std().ok()?;
            match sorting.adopter.adopt(std, &buf) {
                Ok(()) => return None,
                // The server is stopping: the application answers what it can.
                Err(AdoptError::Stopped(std)) => {
                    std.set_nonblocking(true).ok()?;
                    TcpStream::from_std(std).ok()?
                }
                Err(_) => return None,
            }
        }
        _ => stream,
    };
    Some((Rewind { head: buf, at: 0, io: stream }, addr))
}

/// A connection axum serves: the bytes the hand-off read from it come first, then the socket.
#[derive(Debug)]
pub struct Rewind {
    head: Vec<u8>,
    at: usize,
    io: TcpStream,
}

impl Rewind {
    /// The socket.
    pub fn get_ref(&self) -> &TcpStream {
        &self.io
    }
}

impl AsyncRead for Rewind {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.at < this.head.len() {
            let n = out.remaining().min(this.head.len() - this.at);
            out.put_slice(&this.head[this.at..this.at + n]);
            this.at += n;
            if this.at == this.head.len() {
                // Replayed: the buffer is not kept for the connection's life.
                this.head = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, out)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sse(r: &Request) -> bool {
        r.path == "/sse"
    }

    #[test]
    fn a_head_is_sorted_once_it_is_whole() {
        let limits = Limits::default();
        let head = b"GET /sse?channel=a HTTP/1.1\r\nHost: h\r\nLast-Event-ID: 7\r\n\r\n";
        for cut in 0..head.len() {
            assert_eq!(sort(&head[..cut], &limits, sse), Verdict::NeedMore, "cut at {cut}");
        }
        assert_eq!(sort(head, &limits, sse), Verdict::Adopt);
        // What follows the head (a pipelined request) does not change the verdict.
        let mut more = head.to_vec();
        more.extend_from_slice(b"GET / HTTP/1.1\r\n");
        assert_eq!(sort(&more, &limits, sse), Verdict::Adopt);
    }

    #[test]
    fn everything_else_is_the_applications() {
        let limits = Limits::default();
        for raw in [
            &b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"[..],
            b"POST /publish HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi",
            b"GET /sse/more HTTP/1.1\r\nHost: h\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            b"GET /sse HTTP/9.9\r\n\r\n",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", // a TLS ClientHello
            b"G\0T /sse HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(sort(raw, &limits, sse), Verdict::Keep, "{:?}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn a_head_past_the_limit_is_the_applications() {
        let limits = Limits { max_head_bytes: 64, ..Limits::default() };
        let mut raw = b"GET /sse HTTP/1.1\r\nX: ".to_vec();
        raw.resize(63, b'a');
        assert_eq!(sort(&raw, &limits, sse), Verdict::NeedMore);
        raw.push(b'a');
        assert_eq!(sort(&raw, &limits, sse), Verdict::Keep);
    }
}
