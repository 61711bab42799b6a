//! The results of an `ssehub bench` run, as a table for people or one JSON object for scripts.

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// A quantile reported: its label in the table, its key in JSON, its value.
type Quantile = (&'static str, &'static str, f64);

const SETUP_QUANTILES: &[Quantile] = &[("p50", "p50", 0.5), ("p99", "p99", 0.99)];
const LATENCY_QUANTILES: &[Quantile] =
    &[("p50", "p50", 0.5), ("p99", "p99", 0.99), ("p99.9", "p99_9", 0.999)];

/// Everything a run measured, merged over the workers.
pub struct Summary {
    pub url: String,
    pub requested: usize,
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
}

/// The server's counters over the window (`--server-pid`).
pub struct Server {
    pub pid: u32,
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

    fn cpu_us_per_event(&self) -> Option<f64> {
        let cpu = self.server.as_ref()?.cpu_seconds?;
        (self.events > 0).then(|| cpu * 1e6 / self.events as f64)
    }

    /// The server's resident memory growth from before the first connection to the end of the
    /// window, per established connection, in bytes.
    fn rss_growth_per_connection(&self) -> Option<f64> {
        let server = self.server.as_ref()?;
        let growth = server.rss_kib?.saturating_sub(server.rss_before_kib?);
        (self.established > 0).then(|| growth as f64 * 1024.0 / self.established as f64)
    }

    /// The human-readable report.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let w = &mut out;
        let _ = writeln!(w, "ssehub bench {}", self.url);
        let _ = writeln!(
            w,
            "  {} connections, {} thread{}, {:.1} s warm-up, {:.2} s measured{}",
            self.requested,
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
        row(w, "connections", format!("{} established, {} failed", self.established, self.failed()));
        for (reason, n) in &self.failures {
            row(w, "  failed", format!("{n:>8}  {reason}"));
        }
        row(w, "set-up time", quantiles_text(&self.setup, SETUP_QUANTILES).unwrap_or_else(|| "-".into()));
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
        row(
            w,
            "per connection",
            match self.fairness {
                Some((fewest, most)) => format!("fewest {}   most {} events", group(fewest), group(most)),
                None => "-".to_owned(),
            },
        );
        if let Some(server) = &self.server {
            let cpu = match (server.cpu_seconds, self.cpu_us_per_event()) {
                (Some(cpu), Some(per)) => format!(
                    "{cpu:.2} s ({:.0}% of a core)   {per:.2} µs/event",
                    cpu * 100.0 / self.window.as_secs_f64()
                ),
                (Some(cpu), None) => format!("{cpu:.2} s"),
                _ => "-".to_owned(),
            };
            let exited = if server.exited { ", exited by the end" } else { "" };
            row(w, "server cpu", format!("{cpu}   (pid {}{exited})", server.pid));
            let kib = |k: Option<u64>| k.map_or("-".to_owned(), |k| bytes(k as f64 * 1024.0));
            let mut mem = format!("RSS {}   peak {}", kib(server.rss_kib), kib(server.peak_rss_kib));
            if let Some(growth) = self.rss_growth_per_connection() {
                let _ = write!(mem, "   growth {} per connection", bytes(growth));
            }
            row(w, "server memory", mem);
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
                "pid": s.pid,
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
                pid: 7,
                cpu_seconds: Some(0.5),
                rss_before_kib: Some(1000),
                rss_kib: Some(1002),
                peak_rss_kib: Some(1010),
                exited: false,
            }),
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
        assert_eq!(v["setup_us"]["p99"], 250);
        assert_eq!(v["per_connection_events"]["fewest"], 499);
        assert_eq!(v["server"]["cpu_us_per_event"], 500.0);
        assert_eq!(v["server"]["rss_growth_per_connection_bytes"], 1024.0);
        assert_eq!(v["stopped_early"], Value::Null);
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
