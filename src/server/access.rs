//! The access log: one [`log`] record when an event stream ends, on the target
//! [`TARGET`] (`ssehub::access`), level `info`.
//!
//! ```text
//! start_stream ─► Opened (its start, and its connection's Facts: client, path, version, TLS) in the stream's slot
//! Conn / h2 stream ─► counts events and bytes as its queue is written, notes why it ends
//! finalize ─► record: the Opened facts + the connection's tally + the channels ─► log::info!(target: "ssehub::access")
//! ```
//!
//! The record's key-values (the `log` crate's `kv`), which a structured logger turns into
//! fields (the `ssehub` command's `--log-format json` does):
//!
//! | key | value |
//! |---|---|
//! | `client` | the client's address, `IP:PORT` (`-` if the socket no longer knew it) |
//! | `path` | the request path, percent-decoded, *without* the query (which may carry `access_token`) |
//! | `channels` | the stream's channels, as JSON array text (`["default"]`) |
//! | `http` | `HTTP/1.0`, `HTTP/1.1` or `HTTP/2` |
//! | `tls` | whether the connection was TLS |
//! | `duration_ms` | from the stream's start to its end |
//! | `events` | events written whole (data-carrying blocks; not comments or keep-alives) |
//! | `bytes` | bytes written for the stream, before TLS (HTTP/1.x: head and body with chunk framing; HTTP/2: its `HEADERS` and `DATA` frames) |
//! | `reason` | why it ended: [`EndReason::as_str`] (`client_left`, `slow_client`, `send_timeout`, `shutdown`, `auth_expired`, ...) |
//!
//! The message says the same in one line for people. Nothing secret is in either: no query
//! string, no header, no token. Whether the log is enabled is asked once per stream, when it
//! starts (a disabled access log costs nothing more); the counting costs no allocation per
//! event.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::http::request::{Request, Version};
use crate::proto::stream_end::{EndReason, StreamTally};

/// The `log` target of the access records.
pub const TARGET: &str = "ssehub::access";

/// What the streams of one connection share in their lines: the client, the path, the version
/// and whether it is TLS. Kept once per connection ([`Opened::new`] reuses it while the path and
/// version stay the same: every stream of an HTTP/2 connection that opens the stream path), so
/// that a stream's own box holds only its start (see [`Opened`]).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Facts {
    client: Option<SocketAddr>,
    path: Box<str>,
    http: Version,
    tls: bool,
}

impl Facts {
    /// The facts of `req` on the connection whose facts so far are `shared`: those, when the
    /// path, version and TLS are the same; else new ones (the client's address asked for once
    /// per connection), which the connection keeps from now on.
    fn of(
        shared: &mut Option<Arc<Facts>>,
        client: impl FnOnce() -> Option<SocketAddr>,
        req: &Request,
        tls: bool,
    ) -> Arc<Facts> {
        match shared {
            Some(f) if *f.path == *req.path && f.http == req.version && f.tls == tls => f.clone(),
            _ => {
                let client = shared.as_ref().map_or_else(client, |f| f.client);
                let f = Arc::new(Facts { client, path: req.path.as_str().into(), http: req.version, tls });
                *shared = Some(f.clone());
                f
            }
        }
    }
}

/// What is known of a stream when it starts, kept (boxed, only while the access log is on) in
/// its slot until it ends: the connection's shared [`Facts`] and the stream's start. Its tally
/// comes at the end (from the connection: [`log_end`]). Three words: each further HTTP/2 stream
/// costs its 32-byte heap block (a unit test holds the struct to that).
#[derive(Debug)]
pub(crate) struct Opened {
    facts: Arc<Facts>,
    started: Instant,
}

impl Opened {
    /// The facts of a stream starting at `now`, or `None` when the access log is off. `shared`
    /// is its connection's [`Facts`], made here for the first stream (the client's address is
    /// asked for then) and reused by the next ones of the same path and version.
    pub(crate) fn new(
        shared: &mut Option<Arc<Facts>>,
        client: impl FnOnce() -> Option<SocketAddr>,
        req: &Request,
        tls: bool,
        now: Instant,
    ) -> Option<Box<Opened>> {
        if !log::log_enabled!(target: TARGET, log::Level::Info) {
            return None;
        }
        Some(Box::new(Opened { facts: Facts::of(shared, client, req, tls), started: now }))
    }
}

/// Logs the end of the stream `opened` describes.
pub(crate) fn log_end(opened: &Opened, channels: &[Arc<str>], tally: Option<StreamTally>, now: Instant) {
    let tally = tally.unwrap_or(StreamTally { sent: Default::default(), reason: None });
    // No cause seen on the connection: its socket closed or failed under it.
    let reason = tally.reason.unwrap_or(EndReason::ClientLeft);
    let duration_ms =
        u64::try_from(now.saturating_duration_since(opened.started).as_millis()).unwrap_or(u64::MAX);
    let facts = &*opened.facts;
    let client = Client(facts.client);
    let channels = JsonList(channels).to_string();
    let http = version(facts.http);
    log::info!(
        target: TARGET,
        client:% = client,
        path = &*facts.path,
        channels = channels.as_str(),
        http = http,
        tls = facts.tls,
        duration_ms = duration_ms,
        events = tally.sent.events,
        bytes = tally.sent.bytes,
        reason = reason.as_str();
        "stream ended: client={client} path={:?} channels={channels} http={http}{} duration_ms={duration_ms} \
         events={} bytes={} reason={reason}",
        &*facts.path,
        if facts.tls { " tls" } else { "" },
        tally.sent.events,
        tally.sent.bytes,
    );
}

/// The log's name of an HTTP version.
pub(crate) fn version(v: Version) -> &'static str {
    match v {
        Version::Http10 => "HTTP/1.0",
        Version::Http11 => "HTTP/1.1",
        Version::Http2 => "HTTP/2",
    }
}

struct Client(Option<SocketAddr>);

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(addr) => addr.fmt(f),
            None => f.write_str("-"),
        }
    }
}

/// Names as a JSON array of strings.
struct JsonList<'a>(&'a [Arc<str>]);

impl fmt::Display for JsonList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::from("[");
        for (i, name) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            crate::http::json::push_string(&mut out, name);
        }
        out.push(']');
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_are_json_text_and_a_missing_address_a_dash() {
        let names: Vec<Arc<str>> = vec!["a\"b".into(), "news".into()];
        assert_eq!(JsonList(&names).to_string(), r#"["a\"b","news"]"#);
        assert_eq!(JsonList(&[]).to_string(), "[]");
        assert_eq!(Client(None).to_string(), "-");
        assert_eq!(Client(Some("127.0.0.1:9".parse().unwrap())).to_string(), "127.0.0.1:9");
        assert_eq!(version(Version::Http2), "HTTP/2");
    }

    fn request(path: &str) -> Request {
        Request {
            method: "GET".into(),
            target: path.into(),
            path: path.into(),
            query: String::new(),
            version: Version::Http2,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    #[test]
    fn a_connections_streams_share_one_set_of_facts() {
        let mut shared = None;
        let mut asked = 0;
        let mut ask = || {
            asked += 1;
            Some("127.0.0.1:9".parse().unwrap())
        };
        let a = Facts::of(&mut shared, &mut ask, &request("/sse"), true);
        let b = Facts::of(&mut shared, &mut ask, &request("/sse"), true);
        assert!(Arc::ptr_eq(&a, &b), "the second stream of the path takes the first's facts");
        let c = Facts::of(&mut shared, &mut ask, &request("/other"), true);
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!((&*c.path, c.client, c.tls), ("/other", a.client, true));
        assert!(Arc::ptr_eq(shared.as_ref().unwrap(), &c), "the connection keeps the latest");
        let d = Facts::of(&mut shared, &mut ask, &request("/other"), false);
        assert!(!Arc::ptr_eq(&c, &d) && !d.tls);
        assert_eq!(asked, 1, "the client's address is asked for once per connection");
    }

    #[test]
    fn a_streams_own_box_is_three_words() {
        // Each further HTTP/2 stream with the access log on costs this box (a 32-byte heap
        // block with the allocator's header): see BENCHMARKS.md, "memory per stream".
        assert!(std::mem::size_of::<Opened>() <= 24, "{}", std::mem::size_of::<Opened>());
    }
}
