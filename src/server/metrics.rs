//! The server's counters in the Prometheus text exposition format (version 0.0.4).
//!
//! Served at [`super::ServerBuilder::metrics_path`] by the workers themselves, and available as
//! [`super::Server::metrics`]. Counters end in `_total`; per-worker series carry a `worker` label.

use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;

use super::{Shared, WorkerCounters};

/// A per-worker series: name, type, help, and how to read it.
type Series = (&'static str, &'static str, &'static str, fn(&WorkerCounters) -> u64);

/// Renders every metric of `shared`.
pub(crate) fn render(shared: &Shared) -> String {
    let s = &shared.counters;
    let (published, followed) = {
        let hub = shared.lock_hub();
        (hub.seq(), hub.follows().len())
    };
    let mut out = String::with_capacity(2048);
    let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n");
    };
    metric("ssehub_streams", "gauge", "Open event streams.", s.streams.load(Relaxed) as u64);
    metric(
        "ssehub_connections",
        "gauge",
        "Open connections of any kind.",
        s.connections.load(Relaxed) as u64,
    );
    metric("ssehub_connections_accepted_total", "counter", "Connections accepted.", s.accepted.load(Relaxed));
    metric(
        "ssehub_connections_rejected_total",
        "counter",
        "Requests refused: bad requests, limits, accept check, CORS, methods.",
        s.rejected.load(Relaxed),
    );
    metric(
        "ssehub_slow_clients_dropped_total",
        "counter",
        "Streams closed because their queue passed max_queue_bytes.",
        s.slow_dropped.load(Relaxed),
    );
    metric(
        "ssehub_peer_errors_total",
        "counter",
        "Connections closed by a socket error (reset, or no acknowledgement for send_timeout).",
        s.peer_errors.load(Relaxed),
    );
    metric(
        "ssehub_callback_panics_total",
        "counter",
        "Application callbacks that panicked.",
        s.callback_panics.load(Relaxed),
    );
    metric(
        "ssehub_published_total",
        "counter",
        "Events published (sequence number of the latest).",
        published,
    );
    if let Some(backplane) = &shared.backplane {
        let (up, reconnects, skipped) = backplane.figures();
        metric(
            "ssehub_backplane_up",
            "gauge",
            "Whether the Redis read connection is up (1) or not (0).",
            up.into(),
        );
        metric(
            "ssehub_backplane_reconnects_total",
            "counter",
            "Times a Redis connection was lost and made again.",
            reconnects,
        );
        metric(
            "ssehub_backplane_skipped_entries_total",
            "counter",
            "Stream entries skipped because this hub cannot have written them.",
            skipped,
        );
        metric("ssehub_backplane_channels", "gauge", "Channels this node reads from Redis.", followed as u64);
    }
    let per_worker: [Series; 5] = [
        ("ssehub_worker_up", "gauge", "Whether the worker's event loop runs (1) or stopped (0).", |w| {
            w.running.load(Relaxed).into()
        }),
        ("ssehub_worker_streams", "gauge", "Open event streams per worker.", |w| {
            w.streams.load(Relaxed) as u64
        }),
        ("ssehub_events_written_total", "counter", "Event frames queued to streams, per worker.", |w| {
            w.events.load(Relaxed)
        }),
        ("ssehub_bytes_written_total", "counter", "Bytes written to sockets, per worker.", |w| {
            w.bytes.load(Relaxed)
        }),
        ("ssehub_queued_bytes", "gauge", "Bytes waiting in connection queues, per worker.", |w| {
            w.pool.used() as u64
        }),
    ];
    for (name, kind, help, get) in per_worker {
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
        for (i, w) in s.workers.iter().enumerate() {
            let _ = writeln!(out, "{name}{{worker=\"{i}\"}} {}", get(w));
        }
    }
    out
}
