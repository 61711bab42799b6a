//! The results of an `ssehub bench` run, as a table for people or one JSON object for scripts.

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// A quantile reported: its label in the table, its key in JSON, its value.
type Quantile = (&'static str, &'static str, f64);

const SETUP_QUANTILES: &[Quantile] = &[("p50", "p50", 0.5), ("p99", "p99", 0.99)];
const LATENCY_QUANTILES: &[Quantile] = &[
    ("p50", "p50", 0.5),
    ("p90", "p90", 0.9),
    ("p95", "p95", 0.95),
    ("p99", "p99", 0.99),
    ("p99.9", "p99_9", 0.999),
];
/// The share of the expected events that must arrive for `--expect-rate` to be met (as
/// bench/run.sh's `passes` asks).
pub const MET_RATIO: f64 = 0.995;
/// Bars of the latency histogram, and the width of the longest.
const HISTOGRAM_BARS: usize = 10;
const HISTOGRAM_WIDTH: usize = 40;

/// Everything a run measured, merged over the workers.
pub struct Summary {
    pub url: String,
    /// Streams asked for: `--connections`, times `--streams-per-connection` with `--h2`.
    pub requested: usize,
    /// `--h2`: the TCP connections, and the streams on each; the counts of `connections`,
    /// set-up, fairness and memory growth are then per stream.
    pub h2: Option<(usize, usize)>,
    pub threads: usize,
    pub warmup: Duration,
    /// The measured window as it was (shorter than `--duration` when stopped early).
    pub window: Duration,
    /// Why the window closed before `--duration` was over.
    pub stopped_early: Option<&'static str>,
    pub established: u64,
    /// Reason and count, most frequent first.
    pub failures: Vec<(String, u64)>,
    pub closes: Vec<(String, u64)>,
    /// Connect start → response head accepted, µs.
    pub setup: Histogram<u64>,
    /// Delivery latency in the window, µs.
    pub latency: Histogram<u64>,
    pub events: u64,
    pub unstamped: u64,
    pub bytes: u64,
    /// Fewest and most events one established connection received in the window.
    pub fairness: Option<(u64, u64)>,
    pub server: Option<Server>,
    /// Connections open when the window opened.
    pub open_at_window: u64,
    /// `--expect-rate`: events a second the server publishes to every stream.
    pub expect_rate: Option<f64>,
    /// Window events with a numeric ID, and the IDs skipped between them (lost events).
    pub numbered: u64,
    pub id_gaps: u64,
    /// `--churn`, the connections it closed, and the window's attempts and established streams.
    pub churn: f64,
    pub churned: u64,
    pub window_attempts: u64,
    pub window_established: u64,
    /// The initial fill: streams established on their first attempt, and the time from the
    /// first connection attempt to the last of them established.
    pub fill: Option<(u64, Duration)>,
    /// `--handshakes`: every connection was closed once set up; `window_established` counts
    /// the set-ups in the window.
    pub handshakes: bool,
    /// Over TLS: what the handshakes agreed (`TLSv1.3 TLS13_AES_256_GCM_SHA384 X25519
    /// http/1.1`) and for how many streams, most frequent first.
    pub agreed: Vec<(String, u64)>,
    /// The load generator's own CPU seconds (user + system, all threads) in the window.
    pub loadgen_cpu_seconds: Option<f64>,
    /// The whole machine's busy CPU seconds (all CPUs) in the window, and the part of it spent
    /// in soft interrupts (charged to no process; see `procfs::machine_busy_ticks`).
    pub machine_cpu_seconds: Option<f64>,
    pub softirq_cpu_seconds: Option<f64>,
}

/// The server's counters over the window (`--server-pid`, summed over its processes).
pub struct Server {
    pub pids: Vec<u32>,
    /// CPU seconds (user + system) spent in the window; `None` when no window opened.
    pub cpu_seconds: Option<f64>,
    /// Resident memory before the first connection, at the end of the window, and at its peak.
    pub rss_before_kib: Option<u64>,
    pub rss_kib: Option<u64>,
    pub peak_rss_kib: Option<u64>,
    /// The server was gone (or a zombie) at the end of the window.
    pub exited: bool,
}

impl Summary {
    fn failed(&self) -> u64 {
        self.failures.iter().map(|(_, n)| n).sum()
    }

    fn closed(&self) -> u64 {
        self.closes.iter().map(|(_, n)| n).sum()
    }

    fn per_second(&self, n: u64) -> f64 {
        match self.window.as_secs_f64() {
            secs if secs > 0.0 => n as f64 / secs,
            _ => 0.0,
        }
    }

    /// Events the server published to the connections open in the window (`--expect-rate`).
    fn expected_events(&self) -> Option<f64> {
        let rate = self.expect_rate?;
        (self.churn == 0.0).then_some(rate * self.window.as_secs_f64() * self.open_at_window as f64)
    }

    /// Why `--expect-rate` was not met: less than [`MET_RATIO`] of the expected events arrived
    /// (judged without churn only: with churn the expected count is unknown), or numbered events
    /// were skipped. `None` when it was met, or not asked for.
    pub fn unmet(&self) -> Option<String> {
        self.expect_rate?;
        let mut why = Vec::new();
        if let Some(expected) = self.expected_events() {
            let ratio = self.events as f64 / expected.max(1.0);
            if ratio < MET_RATIO {
                why.push(format!(
                    "{:.2}% of the {} expected events arrived (at least {:.1}% needed)",
                    ratio * 100.0,
                    group(expected.round() as u64),
                    MET_RATIO * 100.0
                ));
            }
        }
        if self.id_gaps > 0 {
            why.push(format!("{} numbered events were skipped", group(self.id_gaps)));
        }
        (!why.is_empty()).then(|| why.join("; "))
    }

    /// Streams established per second in the initial fill.
    fn fill_rate(&self) -> Option<f64> {
        let (n, span) = self.fill?;
        (span > Duration::ZERO).then(|| n as f64 / span.as_secs_f64())
    }

    /// CPU seconds the machine spent in the window on anything but the server and the load
    /// generator (other processes, and kernel work such as interrupts charged to no process).
    fn other_cpu_seconds(&self) -> Option<f64> {
        let server = self.server.as_ref().and_then(|s| s.cpu_seconds).unwrap_or(0.0);
        Some((self.machine_cpu_seconds? - self.loadgen_cpu_seconds? - server).max(0.0))
    }

    fn cpu_us_per_event(&self) -> Option<f64> {
        let cpu = self.server.as_ref()?.cpu_seconds?;
        (self.events > 0 && !self.handshakes).then(|| cpu * 1e6 / self.events as f64)
    }

    /// `--handshakes`: the server's CPU time per set-up in the window, µs.
    fn cpu_us_per_setup(&self, cpu: Option<f64>) -> Option<f64> {
        let cpu = cpu?;
        (self.handshakes && self.window_established > 0).then(|| cpu * 1e6 / self.window_established as f64)
    }

    /// The server's resident memory growth from before the first connection to the end of the
    /// window, per established connection (per open one with churn), in bytes.
    fn rss_growth_per_connection(&self) -> Option<f64> {
        let server = self.server.as_ref()?;
        if self.handshakes {
            return None; // no connection stays open
        }
        let growth = server.rss_kib?.saturating_sub(server.rss_before_kib?);
        // With churn, `established` counts every reopened stream: divide by those open instead.
        let open = if self.churn > 0.0 { self.open_at_window } else { self.established };
        (open > 0).then(|| growth as f64 * 1024.0 / open as f64)
    }

    /// The human-readable report.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let w = &mut out;
        let _ = writeln!(w, "ssehub bench {}", self.url);
        let streams = match self.h2 {
            Some((n, m)) => format!("HTTP/2: {n} connections × {m} streams = {} streams", self.requested),
            None => format!("{} connections", self.requested),
        };
        let _ = writeln!(
            w,
            "  {streams}, {} thread{}, {:.1} s warm-up, {:.2} s measured{}",
            self.threads,
            if self.threads == 1 { "" } else { "s" },
            self.warmup.as_secs_f64(),
            self.window.as_secs_f64(),
            self.stopped_early.map_or(String::new(), |why| format!(" (stopped early: {why})")),
        );
        let _ = writeln!(w);
        let row = |w: &mut String, label: &str, text: String| {
            let _ = writeln!(w, "  {label:<16}{text}");
        };
        let label = if self.h2.is_some() { "streams" } else { "connections" };
        row(w, label, format!("{} established, {} failed", self.established, self.failed()));
        for (reason, n) in &self.failures {
            row(w, "  failed", format!("{n:>8}  {reason}"));
        }
        for (i, (agreed, n)) in self.agreed.iter().enumerate() {
            row(w, if i == 0 { "tls" } else { "" }, format!("{n:>8}  {agreed}"));
        }
        row(w, "set-up time", quantiles_text(&self.setup, SETUP_QUANTILES).unwrap_or_else(|| "-".into()));
        if self.handshakes {
            row(
                w,
                "set-ups",
                format!(
                    "{} in the window = {}/s (connect, {}request, response head, close){}",
                    group(self.window_established),
                    group(self.per_second(self.window_established).round() as u64),
                    if self.agreed.is_empty() { "" } else { "full TLS handshake, " },
                    match self.h2 {
                        Some((_, m)) => format!("; HTTP/2: each a stream, {m} a connection"),
                        None => String::new(),
                    },
                ),
            );
        }
        if let (Some((n, span)), Some(rate)) = (self.fill, self.fill_rate()) {
            row(
                w,
                "set-up rate",
                format!(
                    "{} streams in {:.3} s = {}/s (first attempt to last head)",
                    group(n),
                    span.as_secs_f64(),
                    group(rate.round() as u64)
                ),
            );
        }
        if self.churn > 0.0 {
            row(
                w,
                "churn",
                format!(
                    "{} closed ({}/s), {} reopened ({}/s) of {} attempts{}",
                    group(self.churned),
                    group(self.per_second(self.churned).round() as u64),
                    group(self.window_established),
                    group(self.per_second(self.window_established).round() as u64),
                    group(self.window_attempts),
                    match self.h2 {
                        Some(_) => " (connections closed and attempted, streams reopened)",
                        None => "",
                    },
                ),
            );
        }
        row(w, "closed in run", self.closed().to_string());
        for (reason, n) in &self.closes {
            row(w, "  closed", format!("{n:>8}  {reason}"));
        }
        row(
            w,
            "events",
            format!("{}   {}/s", group(self.events), group(self.per_second(self.events).round() as u64)),
        );
        if self.unstamped > 0 {
            row(w, "  no timestamp", group(self.unstamped));
        }
        row(w, "bytes", format!("{}   {}/s", bytes(self.bytes as f64), bytes(self.per_second(self.bytes))));
        row(
            w,
            "latency",
            quantiles_text(&self.latency, LATENCY_QUANTILES)
                .unwrap_or_else(|| "- (no event carried a timestamp)".into()),
        );
        for (i, line) in histogram_lines(&self.latency).iter().enumerate() {
            let _ = writeln!(w, "  {:<16}{line}", if i == 0 { "  histogram" } else { "" });
        }
        if let Some(expected) = self.expected_events() {
            row(
                w,
                "delivered",
                format!(
                    "{:.2}% of {} expected ({} open × {} ev/s × {:.2} s)",
                    self.events as f64 * 100.0 / expected.max(1.0),
                    group(expected.round() as u64),
                    group(self.open_at_window),
                    self.expect_rate.unwrap_or(0.0),
                    self.window.as_secs_f64()
                ),
            );
        }
        if self.numbered > 0 {
            row(
                w,
                "lost (IDs)",
                format!("{} skipped IDs in {} numbered events", group(self.id_gaps), group(self.numbered)),
            );
        }
        row(
            w,
            if self.h2.is_some() { "per stream" } else { "per connection" },
            match self.fairness {
                Some((fewest, most)) => format!("fewest {}   most {} events", group(fewest), group(most)),
                None => "-".to_owned(),
            },
        );
        if let Some(server) = &self.server {
            let per = match (self.cpu_us_per_event(), self.cpu_us_per_setup(server.cpu_seconds)) {
                (Some(per), _) => format!("   {per:.2} µs/event"),
                (None, Some(per)) => format!("   {per:.1} µs/set-up"),
                (None, None) => String::new(),
            };
            let cpu = match server.cpu_seconds {
                Some(cpu) => {
                    format!("{cpu:.2} s ({:.0}% of a core){per}", cpu * 100.0 / self.window.as_secs_f64())
                }
                None => "-".to_owned(),
            };
            let exited = if server.exited { ", exited by the end" } else { "" };
            let pids = server.pids.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
            let pids = match server.pids.len() {
                1 => format!("pid {pids}"),
                _ => format!("pids {pids}, summed"),
            };
            row(w, "server cpu", format!("{cpu}   ({pids}{exited})"));
            let kib = |k: Option<u64>| k.map_or("-".to_owned(), |k| bytes(k as f64 * 1024.0));
            let mut mem = format!("RSS {}   peak {}", kib(server.rss_kib), kib(server.peak_rss_kib));
            if let Some(growth) = self.rss_growth_per_connection() {
                let per = if self.h2.is_some() { "stream" } else { "connection" };
                let _ = write!(mem, "   growth {} per {per}", bytes(growth));
            }
            row(w, "server memory", mem);
        }
        let share = |cpu: f64| {
            format!("{cpu:.2} s ({:.0}% of a core)", cpu * 100.0 / self.window.as_secs_f64().max(1e-9))
        };
        if let Some(cpu) = self.loadgen_cpu_seconds {
            row(w, "load gen cpu", share(cpu));
        }
        if let Some(cpu) = self.other_cpu_seconds() {
            let softirq = match self.softirq_cpu_seconds {
                Some(s) => format!("   of which softirq {s:.2} s"),
                None => String::new(),
            };
            row(w, "other cpu", format!("{}{softirq}", share(cpu)));
        }
        out
    }

    /// The machine-readable report: one JSON object.
    pub fn json(&self) -> Value {
        let reasons = |list: &[(String, u64)]| {
            Value::Object(list.iter().map(|(r, n)| (r.clone(), json!(n))).collect::<serde_json::Map<_, _>>())
        };
        let quantiles = |h: &Histogram<u64>, qs: &[Quantile]| {
            if h.is_empty() {
                return Value::Null;
            }
            let mut obj = serde_json::Map::new();
            obj.insert("samples".into(), json!(h.len()));
            for &(_, key, q) in qs {
                obj.insert(key.into(), json!(h.value_at_quantile(q)));
            }
            obj.insert("max".into(), json!(h.max()));
            obj.insert("mean".into(), json!(round(h.mean(), 10.0)));
            Value::Object(obj)
        };
        let server = self.server.as_ref().map(|s| {
            json!({
                "pid": s.pids.first(),
                "pids": s.pids,
                "exited": s.exited,
                "cpu_s": s.cpu_seconds.map(|c| round(c, 1e3)),
                "cpu_us_per_event": self.cpu_us_per_event().map(|c| round(c, 1e3)),
                "rss_bytes": s.rss_kib.map(|k| k * 1024),
                "peak_rss_bytes": s.peak_rss_kib.map(|k| k * 1024),
                "rss_before_bytes": s.rss_before_kib.map(|k| k * 1024),
                "rss_growth_per_connection_bytes": self.rss_growth_per_connection().map(f64::round),
            })
        });
        json!({
            "url": self.url,
            "protocol": if self.h2.is_some() { "h2" } else { "http/1.1" },
            "h2": self.h2.map(|(n, m)| json!({
                "connections": n,
                "streams_per_connection": m,
                "streams": self.requested,
                "rss_growth_per_connection_bytes": self.rss_growth_per_connection().map(|g| (g * m as f64).round()),
            })),
            "threads": self.threads,
            "warmup_s": round(self.warmup.as_secs_f64(), 1e6),
            "window_s": round(self.window.as_secs_f64(), 1e6),
            "stopped_early": self.stopped_early,
            "connections": {
                "requested": self.requested,
                "established": self.established,
                "failed": self.failed(),
                "failed_reasons": reasons(&self.failures),
                "closed": self.closed(),
                "closed_reasons": reasons(&self.closes),
            },
            "setup_us": quantiles(&self.setup, SETUP_QUANTILES),
            "events": self.events,
            "events_per_sec": round(self.per_second(self.events), 10.0),
            "events_without_timestamp": self.unstamped,
            "bytes": self.bytes,
            "bytes_per_sec": round(self.per_second(self.bytes), 10.0),
            "latency_us": quantiles(&self.latency, LATENCY_QUANTILES),
            "per_connection_events": self.fairness.map(|(fewest, most)| json!({"fewest": fewest, "most": most})),
            "server": server,
            "open_at_window": self.open_at_window,
            "expected": self.expected_events().map(|e| json!({
                "rate": self.expect_rate,
                "events": e.round(),
                "per_connection": self.expect_rate.map(|r| round(r * self.window.as_secs_f64(), 10.0)),
                "delivered_ratio": round(self.events as f64 / e.max(1.0), 1e5),
            })),
            "numbered_events": self.numbered,
            "skipped_ids": self.id_gaps,
            "churn": (self.churn > 0.0).then(|| json!({
                "rate": self.churn,
                "closed": self.churned,
                "closed_per_sec": round(self.per_second(self.churned), 10.0),
                "attempts": self.window_attempts,
                "established": self.window_established,
                "established_per_sec": round(self.per_second(self.window_established), 10.0),
            })),
            "tls": (!self.agreed.is_empty()).then(|| reasons(&self.agreed)),
            "handshakes": self.handshakes.then(|| json!({
                "count": self.window_established,
                "per_sec": round(self.per_second(self.window_established), 10.0),
                "server_cpu_us_per_handshake": self
                    .cpu_us_per_setup(self.server.as_ref().and_then(|s| s.cpu_seconds))
                    .map(|c| round(c, 1e3)),
                "loadgen_cpu_us_per_handshake": self.cpu_us_per_setup(self.loadgen_cpu_seconds).map(|c| round(c, 1e3)),
            })),
            "fill": self.fill.map(|(n, span)| json!({
                "established": n,
                "span_s": round(span.as_secs_f64(), 1e6),
                "streams_per_sec": self.fill_rate().map(|r| round(r, 10.0)),
            })),
            "loadgen_cpu_s": self.loadgen_cpu_seconds.map(|c| round(c, 1e3)),
            "machine_cpu_s": self.machine_cpu_seconds.map(|c| round(c, 1e3)),
            "other_cpu_s": self.other_cpu_seconds().map(|c| round(c, 1e3)),
            "softirq_cpu_s": self.softirq_cpu_seconds.map(|c| round(c, 1e3)),
        })
    }
}

/// `p50 1.20 ms   p99 3.40 ms   max 5.60 ms`; `None` for an empty histogram.
fn quantiles_text(h: &Histogram<u64>, qs: &[Quantile]) -> Option<String> {
    if h.is_empty() {
        return None;
    }
    let mut text = String::new();
    for &(label, _, q) in qs {
        let _ = write!(text, "{label} {}   ", us(h.value_at_quantile(q)));
    }
    let _ = write!(text, "max {}", us(h.max()));
    Some(text)
}

/// The latency histogram as text bars, as `oha` draws one: each line a bucket's upper bound, its
/// count, and a bar scaled to the fullest bucket. Buckets are spaced evenly on a log scale from
/// the lowest to the highest latency, since latencies spread over orders of magnitude (linear
/// buckets would put nearly everything in the first bar). Empty for no samples.
fn histogram_lines(h: &Histogram<u64>) -> Vec<String> {
    if h.is_empty() {
        return Vec::new();
    }
    let (low, high) = (h.min().max(1), h.max().max(1));
    let bars = if h.equivalent(low, high) { 1 } else { HISTOGRAM_BARS };
    let span = (high as f64 / low as f64).ln();
    let bound = |i: usize| match i + 1 == bars {
        true => high,
        false => (low as f64 * (span * (i + 1) as f64 / bars as f64).exp()).round() as u64,
    };
    let bounds: Vec<u64> = (0..bars).map(bound).collect();
    let mut counts = vec![0u64; bars];
    for v in h.iter_recorded() {
        let value = v.value_iterated_to().min(high);
        let i = bounds.iter().position(|&b| value <= b).unwrap_or(bars - 1);
        counts[i] += v.count_since_last_iteration();
    }
    let fullest = counts.iter().copied().max().unwrap_or(0).max(1);
    let count_width = counts.iter().map(|&c| group(c).len()).max().unwrap_or(1);
    let labels: Vec<String> = bounds.iter().map(|&b| us(b)).collect();
    let label_width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    labels
        .iter()
        .zip(&counts)
        .map(|(label, &count)| {
            let len = (count as f64 * HISTOGRAM_WIDTH as f64 / fullest as f64).ceil() as usize;
            let pad = label_width - label.chars().count();
            format!("≤ {}{label} [{:>count_width$}] {}", " ".repeat(pad), group(count), "■".repeat(len))
                .trim_end()
                .to_owned()
        })
        .collect()
}

/// `x` rounded to a multiple of `1 / per`.
fn round(x: f64, per: f64) -> f64 {
    (x * per).round() / per
}

/// A duration in microseconds, in the unit that reads best.
pub fn us(us: u64) -> String {
    match us {
        0..1_000 => format!("{us} µs"),
        1_000..10_000_000 => format!("{:.2} ms", us as f64 / 1e3),
        _ => format!("{:.2} s", us as f64 / 1e6),
    }
}

/// A count with thousands separators: `1,234,567`.
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A byte count in binary units.
fn bytes(n: f64) -> String {
    match n {
        n if n < 1024.0 => format!("{n:.0} B"),
        n if n < 1024.0 * 1024.0 => format!("{:.1} KiB", n / 1024.0),
        n if n < 1024.0 * 1024.0 * 1024.0 => format!("{:.1} MiB", n / (1024.0 * 1024.0)),
        n => format!("{:.2} GiB", n / (1024.0 * 1024.0 * 1024.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> Summary {
        let mut latency = Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for us in 1..=1000 {
            latency.record(us * 10).unwrap();
        }
        let mut setup = latency.clone();
        setup.reset();
        setup.record(250).unwrap();
        Summary {
            url: "http://h/sse".into(),
            requested: 3,
            h2: None,
            threads: 1,
            warmup: Duration::from_secs(1),
            window: Duration::from_secs(2),
            stopped_early: None,
            established: 2,
            failures: vec![("status 503".into(), 1)],
            closes: vec![],
            setup,
            latency,
            events: 1000,
            unstamped: 0,
            bytes: 4096,
            fairness: Some((499, 501)),
            server: Some(Server {
                pids: vec![7],
                cpu_seconds: Some(0.5),
                rss_before_kib: Some(1000),
                rss_kib: Some(1002),
                peak_rss_kib: Some(1010),
                exited: false,
            }),
            open_at_window: 2,
            expect_rate: Some(250.0),
            numbered: 1000,
            id_gaps: 3,
            churn: 0.0,
            churned: 0,
            window_attempts: 0,
            window_established: 0,
            fill: Some((2, Duration::from_millis(4))),
            handshakes: false,
            agreed: vec![],
            loadgen_cpu_seconds: Some(0.25),
            machine_cpu_seconds: Some(1.0),
            softirq_cpu_seconds: Some(0.1),
        }
    }

    #[test]
    fn json_report() {
        let v = summary().json();
        assert_eq!(v["connections"]["failed"], 1);
        assert_eq!(v["connections"]["failed_reasons"]["status 503"], 1);
        assert_eq!(v["events_per_sec"], 500.0);
        assert_eq!(v["bytes_per_sec"], 2048.0);
        assert_eq!(v["latency_us"]["samples"], 1000);
        assert_eq!(v["latency_us"]["p50"], 5003); // 3 significant figures: 5000 µs's bucket
        assert_eq!(v["latency_us"]["max"], 10007);
        assert_eq!(v["latency_us"]["p90"], 9007);
        assert_eq!(v["latency_us"]["p95"], 9503);
        assert_eq!(v["latency_us"]["p99_9"], 9991);
        assert_eq!(v["setup_us"]["p99"], 250);
        assert_eq!(v["per_connection_events"]["fewest"], 499);
        assert_eq!(v["server"]["cpu_us_per_event"], 500.0);
        assert_eq!(v["server"]["rss_growth_per_connection_bytes"], 1024.0);
        assert_eq!(v["stopped_early"], Value::Null);
        assert_eq!(v["expected"]["events"], 1000.0);
        assert_eq!(v["expected"]["delivered_ratio"], 1.0);
        assert_eq!(v["skipped_ids"], 3);
        assert_eq!(v["fill"]["streams_per_sec"], 500.0);
        assert_eq!(v["churn"], Value::Null);
        assert_eq!(v["loadgen_cpu_s"], 0.25);
        assert_eq!(v["other_cpu_s"], 0.25);
    }

    #[test]
    fn table_report() {
        let t = summary().table();
        assert!(t.contains("  connections     2 established, 1 failed\n"), "{t}");
        assert!(t.contains("\n    failed               1  status 503\n"), "{t}");
        assert!(t.contains("  events          1,000   500/s\n"), "{t}");
        assert!(t.contains("  per connection  fewest 499   most 501 events\n"), "{t}");
        assert!(t.contains("  server cpu      0.50 s (25% of a core)   500.00 µs/event   (pid 7)\n"), "{t}");
        assert!(t.contains("growth 1.0 KiB per connection"), "{t}");
        assert!(t.contains("  set-up rate     2 streams in 0.004 s = 500/s"), "{t}");
        assert!(
            t.contains("  delivered       100.00% of 1,000 expected (2 open × 250 ev/s × 2.00 s)\n"),
            "{t}"
        );
        assert!(t.contains("  lost (IDs)      3 skipped IDs in 1,000 numbered events\n"), "{t}");
        assert!(t.contains("  load gen cpu    0.25 s (12% of a core)\n"), "{t}");
        assert!(t.contains("  other cpu       0.25 s (12% of a core)   of which softirq 0.10 s\n"), "{t}");
        assert!(
            t.contains("  latency         p50 5.00 ms   p90 9.01 ms   p95 9.50 ms   p99 9.90 ms   p99.9 9.99 ms   max 10.01 ms\n"),
            "{t}"
        );
    }

    #[test]
    fn handshakes_and_tls_report() {
        let mut s = summary();
        s.handshakes = true;
        s.window_established = 400; // in the 2 s window
        s.agreed = vec![("TLSv1.3 TLS13_AES_256_GCM_SHA384 X25519 http/1.1".into(), 402)];
        let v = s.json();
        assert_eq!(v["handshakes"]["count"], 400);
        assert_eq!(v["handshakes"]["per_sec"], 200.0);
        assert_eq!(v["handshakes"]["server_cpu_us_per_handshake"], 1250.0);
        assert_eq!(v["handshakes"]["loadgen_cpu_us_per_handshake"], 625.0);
        assert_eq!(v["server"]["cpu_us_per_event"], Value::Null, "no per-event cost in this mode");
        assert_eq!(v["tls"]["TLSv1.3 TLS13_AES_256_GCM_SHA384 X25519 http/1.1"], 402);
        let t = s.table();
        assert!(
            t.contains("  tls                  402  TLSv1.3 TLS13_AES_256_GCM_SHA384 X25519 http/1.1\n"),
            "{t}"
        );
        assert!(
            t.contains("  set-ups         400 in the window = 200/s (connect, full TLS handshake, request,"),
            "{t}"
        );
        assert!(t.contains("  server cpu      0.50 s (25% of a core)   1250.0 µs/set-up   (pid 7)\n"), "{t}");
        s.server.as_mut().unwrap().pids = vec![7, 8];
        assert!(s.table().contains("(pids 7, 8, summed)"));
        assert_eq!(s.json()["server"]["pids"], json!([7, 8]));
        assert_eq!(summary().json()["handshakes"], Value::Null);
        assert_eq!(summary().json()["tls"], Value::Null);
    }

    #[test]
    fn latency_histogram() {
        let t = summary().table();
        let bars: Vec<&str> = t.lines().filter(|l| l.contains(" [") && l.contains("] ")).collect();
        assert_eq!(bars.len(), HISTOGRAM_BARS, "{t}");
        // 10 µs .. 10 ms evenly: on a log scale each bucket holds about half of the next.
        assert_eq!(bars[0], "    histogram     ≤    20 µs [  2] ■", "{t}");
        assert_eq!(bars[8], "                  ≤  5.01 ms [250] ■■■■■■■■■■■■■■■■■■■■■", "{t}");
        assert_eq!(bars[9], format!("                  ≤ 10.01 ms [499] {}", "■".repeat(40)), "{t}");
        let counts: u64 = bars
            .iter()
            .map(|b| {
                b.split('[').nth(1).and_then(|r| r.split(']').next()).unwrap().trim().parse::<u64>().unwrap()
            })
            .sum();
        assert_eq!(counts, 1000);
        let mut one = summary().latency;
        one.reset();
        one.record(700).unwrap();
        assert_eq!(histogram_lines(&one), ["≤ 700 µs [1] ■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■"]);
        one.reset();
        assert!(histogram_lines(&one).is_empty());
    }

    #[test]
    fn expect_rate_met_or_not() {
        let mut s = summary();
        s.id_gaps = 0;
        assert_eq!(s.unmet(), None);
        s.events = 995; // of 1,000 expected
        assert_eq!(s.unmet(), None);
        s.events = 994;
        assert_eq!(
            s.unmet().as_deref(),
            Some("99.40% of the 1,000 expected events arrived (at least 99.5% needed)")
        );
        s.id_gaps = 3;
        assert_eq!(
            s.unmet().as_deref(),
            Some(
                "99.40% of the 1,000 expected events arrived (at least 99.5% needed); 3 numbered events were skipped"
            )
        );
        s.churn = 10.0; // no expected count: only skipped ids judge
        assert_eq!(s.unmet().as_deref(), Some("3 numbered events were skipped"));
        s.expect_rate = None;
        assert_eq!(s.unmet(), None);
    }

    #[test]
    fn number_formats() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(us(412), "412 µs");
        assert_eq!(us(2_310), "2.31 ms");
        assert_eq!(us(12_500_000), "12.50 s");
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(1536.0), "1.5 KiB");
    }
}
