//! The access log: one [`log`] record when an event stream ends, on the target
//! [`TARGET`] (`ssehub::access`), level `info`.
//!
//! ```text
//! start_stream ─► Opened (client address, path, version, start) in the stream's slot
//! Conn / h2 stream ─► counts events and bytes as its queue is written, notes why it ends
//! finalize ─► record: the Opened facts + the tally + the channels ─► log::info!(target: "ssehub::access")
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

/// What is known of a stream when it starts, kept (boxed, only while the access log is on) in
/// its slot until it ends.
#[derive(Debug)]
pub(crate) struct Opened {
    client: Option<SocketAddr>,
    path: Box<str>,
    http: Version,
    tls: bool,
    started: Instant,
    /// An HTTP/2 stream's tally, taken when its connection reports it closed (the connection
    /// forgets it then).
    pub(crate) tally: Option<StreamTally>,
}

impl Opened {
    /// The facts of a stream starting at `now`, or `None` when the access log is off.
    pub(crate) fn new(
        client: impl FnOnce() -> Option<SocketAddr>,
        req: &Request,
        tls: bool,
        now: Instant,
    ) -> Option<Box<Opened>> {
        if !log::log_enabled!(target: TARGET, log::Level::Info) {
            return None;
        }
        Some(Box::new(Opened {
            client: client(),
            path: req.path.as_str().into(),
            http: req.version,
            tls,
            started: now,
            tally: None,
        }))
    }
}

/// Logs the end of the stream `opened` describes.
pub(crate) fn log_end(opened: &Opened, channels: &[Arc<str>], tally: Option<StreamTally>, now: Instant) {
    let tally = tally.unwrap_or(StreamTally { sent: Default::default(), reason: None });
    // No cause seen on the connection: its socket closed or failed under it.
    let reason = tally.reason.unwrap_or(EndReason::ClientLeft);
    let duration_ms =
        u64::try_from(now.saturating_duration_since(opened.started).as_millis()).unwrap_or(u64::MAX);
    let client = Client(opened.client);
    let channels = JsonList(channels).to_string();
    let http = version(opened.http);
    log::info!(
        target: TARGET,
        client:% = client,
        path = &*opened.path,
        channels = channels.as_str(),
        http = http,
        tls = opened.tls,
        duration_ms = duration_ms,
        events = tally.sent.events,
        bytes = tally.sent.bytes,
        reason = reason.as_str();
        "stream ended: client={client} path={:?} channels={channels} http={http}{} duration_ms={duration_ms} \
         events={} bytes={} reason={reason}",
        &*opened.path,
        if opened.tls { " tls" } else { "" },
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
}
