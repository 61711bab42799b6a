//! The server's counters in the Prometheus text exposition format (version 0.0.4).
//!
//! Served at [`super::ServerBuilder::metrics_path`] by the workers themselves (on the public
//! port, or on a listener of its own: [`super::ServerBuilder::metrics_addr`]), and available as
//! [`super::Server::metrics`]. Counters end in `_total`; per-worker series carry a `worker`
//! label, refusals a `reason`. Besides ssehub's own series: the standard `process_*` ones (see
//! `process.rs`), `ssehub_build_info`, and `ssehub_publish_to_write_seconds`, a histogram of the
//! time from a publish to the end of the write pass that sent it to a worker's streams (one
//! observation per publish and worker: the coalescing window, the fan-out and the writes).

use std::fmt::Write;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use super::{Rejection, Shared, WorkerCounters};

/// A latency histogram with fixed buckets (seconds), counted with relaxed atomics.
#[derive(Debug, Default)]
pub(crate) struct Histogram {
    /// Observations at most `BUCKETS[i]` (not cumulative; the text format's are).
    counts: [AtomicU64; BUCKETS.len()],
    /// Observations past the last bucket.
    over: AtomicU64,
    sum_micros: AtomicU64,
}

/// The bucket bounds, in seconds: from half a millisecond to five seconds.
const BUCKETS: [f64; 13] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

impl Histogram {
    /// Counts one observation.
    pub(crate) fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        match BUCKETS.iter().position(|&b| secs <= b) {
            Some(i) => self.counts[i].fetch_add(1, Relaxed),
            None => self.over.fetch_add(1, Relaxed),
        };
        self.sum_micros.fetch_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX), Relaxed);
    }

    /// Appends the series `name` in the text format.
    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} histogram\n");
        let mut cumulative = 0;
        for (bound, count) in BUCKETS.iter().zip(&self.counts) {
            cumulative += count.load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        cumulative += self.over.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
        let _ = writeln!(out, "{name}_sum {}", self.sum_micros.load(Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {cumulative}");
    }
}

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
    let name = "ssehub_connections_rejected_total";
    let _ =
        write!(out, "# HELP {name} Requests and connections refused, by reason.\n# TYPE {name} counter\n");
    for why in Rejection::ALL {
        let _ =
            writeln!(out, "{name}{{reason=\"{}\"}} {}", why.label(), s.rejected[why as usize].load(Relaxed));
    }
    let name = "ssehub_streams_refused_total";
    let _ = write!(
        out,
        "# HELP {name} Streams the authorization policy refused, by reason.\n# TYPE {name} counter\n"
    );
    for kind in crate::auth::RefusalKind::ALL {
        let _ = writeln!(
            out,
            "{name}{{reason=\"{}\"}} {}",
            kind.label(),
            s.streams_refused[kind as usize].load(Relaxed)
        );
    }
    metric_line(
        &mut out,
        "ssehub_streams_expired_total",
        "counter",
        "Streams ended because their access (a token) expired.",
        s.streams_expired.load(Relaxed),
    );
    s.publish_latency.render(
        &mut out,
        "ssehub_publish_to_write_seconds",
        "Time from a publish to the end of the write pass that sent it, per publish and worker.",
    );
    let _ = write!(
        out,
        "# HELP ssehub_build_info The running build.\n# TYPE ssehub_build_info gauge\n\
         ssehub_build_info{{version=\"{}\"}} 1\n",
        env!("CARGO_PKG_VERSION")
    );
    process_metrics(&mut out);
    #[cfg(feature = "tls")]
    if shared.tls.is_some() {
        tls_metrics(&mut out, &s.tls);
    }
    if shared.config.http2 {
        h2_metrics(&mut out, s);
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

/// HTTP/2: open connections, refusals by reason.
fn h2_metrics(out: &mut String, s: &super::Counters) {
    let name = "ssehub_h2_connections";
    let _ = write!(
        out,
        "# HELP {name} Open HTTP/2 connections.\n# TYPE {name} gauge\n{name} {}\n",
        s.h2_connections.load(Relaxed)
    );
    let name = "ssehub_h2_refusals_total";
    let _ = write!(
        out,
        "# HELP {name} HTTP/2 streams reset and connections ended by the server, by reason.\n\
         # TYPE {name} counter\n"
    );
    for (why, count) in crate::h2::conn::Refusal::ALL.iter().zip(&s.h2_refusals) {
        let _ = writeln!(out, "{name}{{reason=\"{}\"}} {}", why.as_str(), count.load(Relaxed));
    }
}

fn metric_line(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n");
}

/// TLS: handshakes, failures by reason, open connections by version and by ALPN protocol.
#[cfg(feature = "tls")]
fn tls_metrics(out: &mut String, t: &super::tls::TlsCounters) {
    let _ = write!(
        out,
        "# HELP ssehub_tls_handshakes_total TLS handshakes completed.\n\
         # TYPE ssehub_tls_handshakes_total counter\nssehub_tls_handshakes_total {}\n",
        t.handshakes.load(Relaxed)
    );
    let name = "ssehub_tls_handshake_failures_total";
    let _ = write!(out, "# HELP {name} TLS connections that failed, by reason.\n# TYPE {name} counter\n");
    for (reason, count) in super::tls::FAILURES.iter().zip(&t.failures) {
        let _ = writeln!(out, "{name}{{reason=\"{reason}\"}} {}", count.load(Relaxed));
    }
    let name = "ssehub_tls_connections";
    let _ = write!(out, "# HELP {name} Open TLS connections, by protocol version.\n# TYPE {name} gauge\n");
    let _ = writeln!(out, "{name}{{version=\"TLSv1.3\"}} {}", t.open_13.load(Relaxed));
    let _ = writeln!(out, "{name}{{version=\"TLSv1.2\"}} {}", t.open_12.load(Relaxed));
    let name = "ssehub_tls_alpn_connections";
    let _ = write!(out, "# HELP {name} Open TLS connections, by ALPN protocol.\n# TYPE {name} gauge\n");
    let _ = writeln!(out, "{name}{{protocol=\"http/1.1\"}} {}", t.alpn_http11.load(Relaxed));
    let _ = writeln!(out, "{name}{{protocol=\"h2\"}} {}", t.alpn_h2.load(Relaxed));
}

/// The standard `process_*` series, those `/proc` can give.
fn process_metrics(out: &mut String) {
    let p = super::process::read();
    let mut series = |name: &str, kind: &str, help: &str, value: Option<f64>| {
        if let Some(v) = value {
            let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n");
        }
    };
    series(
        "process_cpu_seconds_total",
        "counter",
        "User and system CPU time spent, in seconds.",
        p.cpu_seconds,
    );
    series(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        p.resident_bytes.map(|b| b as f64),
    );
    series(
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size in bytes.",
        p.virtual_bytes.map(|b| b as f64),
    );
    series("process_open_fds", "gauge", "Open file descriptors.", p.open_fds.map(|n| n as f64));
    series(
        "process_max_fds",
        "gauge",
        "The most file descriptors the process may open.",
        p.max_fds.map(|n| n as f64),
    );
    series(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since the UNIX epoch, in seconds.",
        p.start_time_seconds,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_is_cumulative_in_the_text_format() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(300));
        h.observe(Duration::from_millis(12));
        h.observe(Duration::from_secs(9));
        let mut out = String::new();
        h.render(&mut out, "x", "help");
        assert!(out.contains("x_bucket{le=\"0.0005\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"0.01\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"0.015\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"5\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"+Inf\"} 3\nx_sum 9.0123\nx_count 3\n"), "{out}");
    }
}
