//! [`CountedStream`]: a stream served by someone else's I/O (the `ssehub-axum` adapter, a task
//! of the application's) counted by a [`Server`](super::Server) as it counts its own.
//!
//! ```text
//! Broadcaster::subscribe ─► Subscription (the frames)
//! Broadcaster::count_stream(channels, subject) ─► CountedStream ─┬─► counters.streams + 1   (client_count, ssehub_streams, Stats::streams)
//!                                                                └─► Presence::join          (GET /channels/NAME, join events)
//! drop(CountedStream) ─► counters.streams − 1, Presence::leave      (leave events)
//! ```
//!
//! The server counts a stream of its own from its `200` to its connection's close; a stream it
//! does not serve has no connection it could watch, so the count is a value the serving code
//! holds for as long as the stream lives: a guard, which gives the count back when it is
//! dropped, whichever way the stream ends (the client gone, the body never polled, a panic).
//! A stream on no worker is not in `ssehub_worker_streams`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::Shared;
use crate::auth::Refusal;

/// One open stream, counted in [`Broadcaster::client_count`](super::Broadcaster::client_count),
/// the `ssehub_streams` gauge, [`Stats::streams`](super::Stats) and presence (its channels'
/// `subscribers`, its subject's `sub`, `join` / `leave` events) until it is dropped. Made by
/// [`Broadcaster::count_stream`](super::Broadcaster::count_stream).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = ssehub::Server::builder().bind("127.0.0.1:0")?;
/// let hub = server.broadcaster();
/// let channels = ["news".into()];
/// let sub = hub.subscribe(&channels, None, 1 << 20);
/// let counted = hub.count_stream(sub.channels(), None);
/// assert_eq!(hub.client_count(), 1);
/// drop((counted, sub)); // the stream is gone
/// assert_eq!(hub.client_count(), 0);
/// # server.shutdown(); Ok(()) }
/// ```
pub struct CountedStream {
    shared: Arc<Shared>,
    channels: Arc<[Arc<str>]>,
    subject: Option<Arc<str>>,
    /// Its end was counted ([`CountedStream::slow_client`], [`CountedStream::expired`]).
    ended: AtomicBool,
}

impl CountedStream {
    pub(super) fn new(
        shared: Arc<Shared>,
        channels: &[Arc<str>],
        subject: Option<Arc<str>>,
    ) -> CountedStream {
        let channels: Arc<[Arc<str>]> = channels.into();
        shared.presence.join(&channels, subject.as_ref());
        shared.counters.streams.fetch_add(1, Ordering::Relaxed);
        CountedStream { shared, channels, subject, ended: AtomicBool::new(false) }
    }

    /// The stream was cut off for not reading fast enough (`ssehub_slow_clients_dropped_total`,
    /// as the server counts its own). Counts once, whichever end is told first.
    pub fn slow_client(&self) {
        if !self.ended.swap(true, Ordering::Relaxed) {
            Shared::count(&self.shared.counters.slow_dropped);
        }
    }

    /// The stream ended because its access (a token) expired (`ssehub_streams_expired_total`).
    /// Counts once, whichever end is told first.
    pub fn expired(&self) {
        if !self.ended.swap(true, Ordering::Relaxed) {
            Shared::count(&self.shared.counters.streams_expired);
        }
    }

    /// The channels it is counted on.
    pub fn channels(&self) -> &[Arc<str>] {
        &self.channels
    }

    /// The subject it is counted for in presence (a token's `sub`), if any.
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }
}

impl Drop for CountedStream {
    fn drop(&mut self) {
        self.shared.counters.streams.fetch_sub(1, Ordering::Relaxed);
        self.shared.presence.leave(&self.channels, self.subject.as_ref());
    }
}

impl fmt::Debug for CountedStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CountedStream")
            .field("channels", &self.channels)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Counts a stream the policy refused: `ssehub_streams_refused_total{reason}`, and in
/// `ssehub_connections_rejected_total{reason="verify"}`, as the server counts its own.
pub(super) fn refused(shared: &Shared, refusal: &Refusal) {
    shared.stream_refused(refusal);
    shared.reject(super::Rejection::Verify);
}

#[cfg(test)]
mod tests {
    use super::super::{Server, Stats};
    use crate::auth::{BadToken, Refusal};
    use std::sync::Arc;

    fn ch(names: &[&str]) -> Vec<Arc<str>> {
        names.iter().map(|n| Arc::from(*n)).collect()
    }

    fn server() -> Server {
        Server::builder().workers(1).presence("/channels").bind("127.0.0.1:0").unwrap()
    }

    /// `channel`'s presence on this node: (subscribers, the subjects with their streams).
    fn presence(server: &Server, channel: &str) -> (u64, Vec<(String, u64)>) {
        server.shared.presence.local_channel(channel).map_or((0, Vec::new()), |p| {
            (p.subscribers, p.subjects.iter().map(|(s, n)| (s.to_string(), *n)).collect())
        })
    }

    fn metric(server: &Server, name: &str) -> String {
        let text = server.metrics();
        let line = text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_default();
        line.rsplit(' ').next().unwrap_or_default().to_owned()
    }

    #[test]
    fn a_counted_stream_is_in_the_counts_and_presence_until_it_is_dropped() {
        let server = server();
        let hub = server.broadcaster();
        let alice: Option<Arc<str>> = Some("alice".into());
        let a = hub.count_stream(&ch(&["room", "lobby"]), alice.clone());
        let b = hub.count_stream(&ch(&["room"]), alice);
        let anonymous = hub.count_stream(&ch(&["room"]), None);
        assert_eq!(hub.client_count(), 3);
        assert_eq!(server.stats().streams, 3);
        assert_eq!(metric(&server, "ssehub_streams"), "3");
        assert_eq!(presence(&server, "room"), (3, vec![("alice".into(), 2)]));
        assert_eq!(presence(&server, "lobby"), (1, vec![("alice".into(), 1)]));
        assert_eq!((a.channels().len(), a.subject()), (2, Some("alice")));
        drop(a);
        assert_eq!(hub.client_count(), 2);
        assert_eq!(presence(&server, "room"), (2, vec![("alice".into(), 1)]));
        assert_eq!(presence(&server, "lobby"), (0, vec![]), "its last stream gone");
        drop((b, anonymous));
        let Stats { streams, .. } = server.stats();
        assert_eq!((streams, hub.client_count()), (0, 0));
        assert_eq!(metric(&server, "ssehub_streams"), "0");
        assert_eq!(presence(&server, "room"), (0, vec![]));
        server.shutdown();
    }

    #[test]
    fn an_end_is_counted_once_whichever_is_told_first() {
        let server = server();
        let hub = server.broadcaster();
        let slow = hub.count_stream(&ch(&["a"]), None);
        slow.slow_client();
        slow.expired();
        slow.slow_client();
        let expired = hub.count_stream(&ch(&["a"]), None);
        expired.expired();
        expired.slow_client();
        drop((slow, expired));
        let stats = server.stats();
        assert_eq!((stats.slow_dropped, stats.streams_expired, stats.streams), (1, 1, 0));
        server.shutdown();
    }

    #[test]
    fn a_policy_refusal_is_counted_by_its_kind() {
        let server = server();
        let hub = server.broadcaster();
        hub.stream_refused(&Refusal::NoToken);
        hub.stream_refused(&Refusal::BadToken(BadToken::Expired));
        hub.stream_refused(&Refusal::BadToken(BadToken::Expired));
        let by_kind = server.stats().streams_refused;
        let count = |label: &str| by_kind.iter().find(|(l, _)| *l == label).map(|(_, n)| *n);
        assert_eq!((count("no_token"), count("expired"), count("forbidden")), (Some(1), Some(2), Some(0)));
        assert_eq!(hub.client_count(), 0, "a refusal is no stream");
        server.shutdown();
    }
}
