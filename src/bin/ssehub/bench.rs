//! `ssehub bench URL`: a load generator for event streams (a `wrk` for SSE) that works against
//! any SSE server speaking HTTP/1.1, plain (`http://`) or over TLS (`https://`, rustls: see
//! [`tls`]), or HTTP/2 with `--h2` (h2c prior knowledge, or ALPN `h2`; see [`h2`]): then each
//! of the `--connections` carries `--streams-per-connection` streams, and every count of the
//! report that is "per connection" over HTTP/1.1 is per stream.
//!
//! It opens `--connections` streams to URL at a bounded pace, lets them warm up, then measures
//! for `--duration`: events and bytes per second, delivery latency (for events whose data starts
//! with the nanoseconds since the UNIX epoch at publishing, as `ssehub serve --rate` sends),
//! how evenly the connections were served, and, with `--server-pid`, the server's CPU time and
//! memory.
//!
//! ```text
//! main thread: args ─► workers ─► open window (warm-up over, all connected) ─► close ─► report
//! worker (×T): mio loop ─► connect, GET ─► read ─► head ─► de-chunk ─► Decoder ─► count
//!      --h2:            connect, opening ─► read ─► frames ─► DATA(stream) ─► Decoder ─► count
//! ```
//! The measured window opens once the warm-up is over *and* every connection has been
//! established or has failed, so connection set-up never counts against throughput.
//!
//! Besides the steady state it measures connection set-up (how fast the first `--connections`
//! streams were established, and each one's set-up time) and, with `--churn R`, a server whose
//! streams come and go: R established connections a second are closed and reopened during the
//! window, the others keep streaming. `--handshakes` measures set-up alone: each connection is
//! closed once its response head has arrived and another opened at once, and the report counts
//! the set-ups (full TLS handshakes over `https`) per second and the server's CPU time for each.
//! `--expect-rate R` (the events a second the server
//! publishes) adds how much of what was published arrived; `ssehub serve` numbers its events,
//! so skipped IDs are counted as lost whatever the option.
//!
//! The report goes to standard output (a table with a latency histogram, or `--json`), and the
//! exit status says whether the run did its job: 1 when no connection succeeded, 3 when
//! `--expect-rate` was not met ([`report::Summary::unmet`]: less than 99.5% of the expected
//! events arrived, or numbered events were skipped), with the reason on stderr.

mod dechunk;
mod h2;
mod procfs;
mod report;
pub mod stream;
mod tls;
pub mod url;
mod worker;

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::thread;
use std::time::{Duration, Instant};

use crate::{Failure, units};
use report::{Server, Summary};
use url::Url;
use worker::{Clock, Live, Plan};

/// A worker thread and its live counters.
type Worker = (thread::JoinHandle<std::io::Result<worker::Report>>, Arc<Live>);

/// The exit status of a run that completed but did not meet `--expect-rate` (1 is for a run that
/// could not be done, or in which no connection succeeded).
pub const EXPECTATION_NOT_MET: u8 = 3;
/// The one read buffer of each worker.
const READ_BUFFER: usize = 256 * 1024;
/// How far ahead of "now" the main thread opens the measured window.
const WINDOW_LEAD: Duration = Duration::from_millis(10);
/// Open files needed besides the connections (standard streams, epoll, signal pipe...).
const SPARE_FILES: u64 = 32;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The event stream: http://host[:port][/path][?query], or https://... (TLS: checked against
    /// the system's trusted certificates, --cacert, or not at all with --insecure).
    pub url: String,
    /// TCP connections to open and keep open. Over HTTP/1.1 each carries one stream; with --h2,
    /// each carries --streams-per-connection streams (and the report counts streams).
    #[arg(short, long, default_value_t = 100, value_name = "N", allow_negative_numbers = true)]
    #[arg(value_parser = units::count)]
    pub connections: usize,
    /// Time to measure, after the warm-up (10s, 1m, 1m30s; a bare number is seconds).
    #[arg(short, long, default_value = "10s", value_name = "DURATION", allow_hyphen_values = true)]
    #[arg(value_parser = units::seconds_nonzero)]
    pub duration: Duration,
    /// Time to run before measuring; events then are not counted (2s, 500ms; a bare number is
    /// seconds).
    #[arg(long, default_value = "2s", value_name = "DURATION", allow_hyphen_values = true)]
    #[arg(value_parser = units::seconds)]
    pub warmup: Duration,
    /// Connection attempts started per second.
    #[arg(long, default_value_t = 2000.0, value_name = "PER_SECOND", allow_negative_numbers = true)]
    #[arg(value_parser = units::positive)]
    pub connect_rate: f64,
    /// Most connections connecting or awaiting their response head at once.
    #[arg(long, default_value_t = 256, value_name = "N", allow_negative_numbers = true)]
    #[arg(value_parser = units::count)]
    pub max_connecting: usize,
    /// Time a connection has to connect and get its response head (10s; a bare number is
    /// seconds).
    #[arg(long, default_value = "10s", value_name = "DURATION", allow_hyphen_values = true)]
    #[arg(value_parser = units::seconds_nonzero)]
    pub connect_timeout: Duration,
    /// Threads, each with its own event loop and an equal share of the connections.
    #[arg(short, long, default_value_t = 1, value_name = "N", allow_negative_numbers = true)]
    #[arg(value_parser = units::count)]
    pub threads: usize,
    /// A request header sent on every stream request, as 'Name: value' (repeatable; e.g.
    /// 'Authorization: Bearer TOKEN', 'Last-Event-ID: 42'); replaces a default header of the same
    /// name.
    #[arg(short = 'H', long = "header", value_name = "HEADER", value_parser = url::Header::parse)]
    pub headers: Vec<url::Header>,
    /// With https: trust the certificates in this PEM file (the CA that signed the server's
    /// certificate, or a self-signed certificate itself) instead of the system's.
    #[arg(long, value_name = "FILE", conflicts_with = "insecure")]
    pub cacert: Option<PathBuf>,
    /// With https: accept any server certificate unchecked (and skip the handshake's signature
    /// check, so that the load generator spends nothing on verification).
    #[arg(short = 'k', long)]
    pub insecure: bool,
    /// Measure connection set-up alone: close each connection as soon as its response head has
    /// arrived and open another at once, keeping --connections being set up; report set-ups a
    /// second (full TLS handshakes with https: no session is resumed) and the server's CPU time
    /// per set-up.
    #[arg(long, conflicts_with_all = ["churn", "expect_rate"])]
    pub handshakes: bool,
    /// The server's process ID: report its CPU time and memory (Linux /proc). Repeat it for a
    /// server of several processes (nginx's master and workers): their figures are summed.
    #[arg(long, value_name = "PID")]
    pub server_pid: Vec<u32>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Churn: close this many established connections a second during the window, and reopen
    /// each at once (and reopen any that fails or is closed by the server), keeping
    /// `--connections` open.
    #[arg(long, default_value_t = 0.0, value_name = "PER_SECOND", allow_negative_numbers = true)]
    #[arg(value_parser = units::non_negative)]
    pub churn: f64,
    /// The events a second the server publishes to every stream: report the share delivered,
    /// and exit with status 3 unless it was met: at least 99.5% of the expected events arrived
    /// (not judged with --churn) and no numbered event was skipped.
    #[arg(long, value_name = "PER_SECOND", allow_negative_numbers = true, value_parser = units::positive)]
    pub expect_rate: Option<f64>,
    /// Speak HTTP/2 instead of HTTP/1.1: with prior knowledge over http:// (h2c, as curl
    /// --http2-prior-knowledge does), with ALPN h2 over https://. Every connection opens
    /// --streams-per-connection streams at once; the report's connection counts, set-up times,
    /// fairness and memory growth are then per stream (--churn and --connect-rate still count
    /// connections; --handshakes counts the streams set up).
    #[arg(long)]
    pub h2: bool,
    /// With --h2: the streams (one GET each) on every connection, so that a run holds
    /// --connections x this many streams.
    #[arg(short = 'm', long, default_value_t = 1, value_name = "M", requires = "h2")]
    #[arg(allow_negative_numbers = true, value_parser = units::count)]
    pub streams_per_connection: usize,
}

pub fn run(args: Args) -> Result<(), Failure> {
    let url = Url::parse_any(&args.url).map_err(|e| format!("bad URL {}: {e}", args.url))?;
    let tls = tls_client(&url, &args)?;
    let (duration, warmup, connect_timeout) = (args.duration, args.warmup, args.connect_timeout);
    let addr = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", url.host))?
        .next()
        .ok_or_else(|| format!("cannot resolve {}: no address", url.host))?;
    // The server before any of our connections: the baseline of its memory growth.
    for &pid in &args.server_pid {
        procfs::sample(pid).map_err(|e| format!("--server-pid {pid}: cannot read /proc/{pid}: {e}"))?;
    }
    let server_pids = (!args.server_pid.is_empty()).then_some(&args.server_pid[..]);
    let server_before = server_pids.and_then(|pids| procfs::sample_all(pids).ok());
    raise_open_files(args.connections as u64 + SPARE_FILES, args.connections)?;

    let threads = args.threads.min(args.connections);
    let clock = Arc::new(Clock::new());
    // The streams: one per connection over HTTP/1.1.
    let h2 = args.h2.then_some(args.streams_per_connection);
    let streams = args.connections.saturating_mul(h2.unwrap_or(1));
    let request: Arc<[u8]> = match h2 {
        Some(m) => h2::opening(&url, "bench", &args.headers, m)?.into(),
        None => url.request("bench", &args.headers).into(),
    };
    let mut workers: Vec<Worker> = Vec::with_capacity(threads);
    for i in 0..threads {
        let plan = Plan {
            addr,
            request: Arc::clone(&request),
            connections: args.connections / threads + usize::from(i < args.connections % threads),
            connect_rate: args.connect_rate / threads as f64,
            max_connecting: args.max_connecting.div_ceil(threads),
            connect_timeout,
            read_buffer: READ_BUFFER,
            churn: args.churn / threads as f64,
            cycle: args.handshakes,
            tls: tls.clone(),
            h2,
        };
        let live = Arc::new(Live::new());
        let (clock, l) = (Arc::clone(&clock), Arc::clone(&live));
        let handle = thread::Builder::new()
            .name(format!("bench-{i}"))
            .spawn(move || worker::run(plan, clock, l))
            .map_err(|e| format!("cannot start a thread: {e}"))?;
        workers.push((handle, live));
    }

    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal ends the process at once; the first closes the window early.
        let _ = signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&interrupted));
        let _ = signal_hook::flag::register(signal, Arc::clone(&interrupted));
    }

    let mut progress = Progress::new(streams, args.handshakes, &clock);
    let warmup_end = clock.base + warmup;
    let mut server_start = None;
    let mut own_start = None;
    let mut machine_start = None;
    let mut open_at_window = 0;
    let mut worker_stopped = false;
    let mut stopped_early = None;
    loop {
        let now = Instant::now();
        let window = clock.window();
        if interrupted.load(Relaxed) {
            stopped_early = Some("interrupted");
            clock.close_window_now();
            break;
        }
        // A worker ends by itself only once the window is over; earlier, it failed.
        if workers.iter().any(|(h, _)| h.is_finished()) && window.is_none_or(|(_, end)| Instant::now() < end)
        {
            worker_stopped = true;
            clock.close_window_now();
            break;
        }
        match window {
            None => {
                let resolved: u64 =
                    workers.iter().map(|(_, l)| l.established.load(Relaxed) + l.failed.load(Relaxed)).sum();
                if now >= warmup_end && resolved >= streams as u64 {
                    // Opened a little ahead, so that every worker knows of it before it starts:
                    // each read then falls on the right side of the boundary.
                    let start = now + WINDOW_LEAD;
                    clock.open_window(start, duration);
                    open_at_window = workers
                        .iter()
                        .map(|(_, l)| l.established.load(Relaxed).saturating_sub(l.closed.load(Relaxed)))
                        .sum();
                    thread::sleep(start.saturating_duration_since(Instant::now()));
                    server_start = server_pids.and_then(|pids| procfs::sample_all(pids).ok());
                    own_start = procfs::sample(std::process::id()).ok();
                    machine_start = procfs::machine_busy_ticks().ok();
                }
            }
            Some((_, end)) if now >= end => break,
            // Connections are closed on purpose all the time: none open says nothing.
            Some(_) if args.handshakes => {}
            Some(_) => {
                // Every connection has been resolved: with none left open, nothing can happen.
                let open: u64 = workers
                    .iter()
                    .map(|(_, l)| l.established.load(Relaxed).saturating_sub(l.closed.load(Relaxed)))
                    .sum();
                if open == 0 {
                    stopped_early = Some("no connection left open");
                    clock.close_window_now();
                    break;
                }
            }
        }
        progress.tick(now, &workers, &clock);
        thread::sleep(Duration::from_millis(5));
    }
    let server_end = server_pids.map(|pids| (pids.to_vec(), procfs::sample_all(pids)));
    let own_end = procfs::sample(std::process::id()).ok();
    let machine_end = procfs::machine_busy_ticks().ok();
    progress.done();

    let mut summary = Summary {
        url: args.url.clone(),
        requested: streams,
        h2: h2.map(|m| (args.connections, m)),
        threads,
        warmup,
        window: clock.window().map_or(Duration::ZERO, |(start, end)| end.saturating_duration_since(start)),
        stopped_early,
        established: 0,
        failures: Vec::new(),
        closes: Vec::new(),
        setup: worker::histogram(),
        latency: worker::histogram(),
        events: 0,
        unstamped: 0,
        bytes: 0,
        fairness: None,
        server: None,
        open_at_window,
        expect_rate: args.expect_rate,
        numbered: 0,
        id_gaps: 0,
        churn: args.churn,
        churned: 0,
        window_attempts: 0,
        window_established: 0,
        fill: None,
        handshakes: args.handshakes,
        agreed: Vec::new(),
        machine_cpu_seconds: machine_start
            .zip(machine_end)
            .map(|(start, end)| end.0.saturating_sub(start.0) as f64 / procfs::ticks_per_second() as f64),
        softirq_cpu_seconds: machine_start
            .zip(machine_end)
            .map(|(start, end)| end.1.saturating_sub(start.1) as f64 / procfs::ticks_per_second() as f64),
        loadgen_cpu_seconds: own_start.zip(own_end).map(|(start, end)| {
            end.cpu_ticks.saturating_sub(start.cpu_ticks) as f64 / procfs::ticks_per_second() as f64
        }),
    };
    let (mut first_attempt, mut fill_done, mut fill_established) = (None::<Instant>, None::<Instant>, 0);
    let (mut failures, mut closes, mut agreed) = (HashMap::new(), HashMap::new(), HashMap::new());
    for (handle, _) in workers {
        let report = match handle.join() {
            Ok(Ok(report)) => report,
            Ok(Err(e)) => return Err(format!("a worker stopped: {e}").into()),
            Err(_) => return Err(String::from("a worker panicked").into()),
        };
        summary.established += report.established;
        summary.setup.add(&report.setup).map_err(|e| format!("{e:?}"))?;
        summary.latency.add(&report.latency).map_err(|e| format!("{e:?}"))?;
        summary.events += report.window_events;
        summary.unstamped += report.window_unstamped;
        summary.bytes += report.window_bytes;
        summary.numbered += report.window_numbered;
        summary.id_gaps += report.window_id_gaps;
        summary.churned += report.churned;
        summary.window_attempts += report.window_attempts;
        summary.window_established += report.window_established;
        fill_established += report.fill_established;
        if let Some(t) = report.first_attempt {
            first_attempt = Some(first_attempt.map_or(t, |f| f.min(t)));
        }
        if let Some(t) = report.fill_done {
            fill_done = Some(fill_done.map_or(t, |f| f.max(t)));
        }
        for (reason, n) in report.failures {
            *failures.entry(reason).or_insert(0) += n;
        }
        for (reason, n) in report.closes {
            *closes.entry(reason).or_insert(0) += n;
        }
        for (what, n) in report.agreed {
            *agreed.entry(what).or_insert(0) += n;
        }
        for n in report.per_connection {
            let (fewest, most) = summary.fairness.unwrap_or((n, n));
            summary.fairness = Some((fewest.min(n), most.max(n)));
        }
    }
    summary.fill = first_attempt
        .zip(fill_done)
        .map(|(first, done)| (fill_established, done.saturating_duration_since(first)));
    if worker_stopped {
        return Err(String::from("a worker stopped before the end of the run").into());
    }
    summary.failures = by_count(failures);
    summary.closes = by_count(closes);
    summary.agreed = by_count(agreed);
    if let Some((pids, end)) = server_end {
        // A server that went away mid-run still gets its report; only its numbers are missing.
        let end = end.ok();
        let cpu_seconds = server_start.zip(end).map(|(start, end)| {
            end.cpu_ticks.saturating_sub(start.cpu_ticks) as f64 / procfs::ticks_per_second() as f64
        });
        summary.server = Some(Server {
            pids,
            cpu_seconds,
            rss_before_kib: server_before.and_then(|s| s.rss_kib),
            rss_kib: end.and_then(|e| e.rss_kib),
            peak_rss_kib: end.and_then(|e| e.hwm_kib),
            exited: end.is_none_or(|e| !e.alive),
        });
    }

    let mut out = std::io::stdout().lock();
    let written = match args.json {
        true => writeln!(out, "{}", summary.json()),
        false => write!(out, "{}", summary.table()),
    };
    written.and_then(|()| out.flush()).map_err(|e| format!("cannot write the report: {e}"))?;
    drop(out);
    if summary.established == 0 {
        let why = match summary.failures.first() {
            Some((reason, n)) => format!(": {n} × {reason}"),
            None => String::new(),
        };
        let what = if h2.is_some() { "stream" } else { "connection" };
        return Err(format!("no {what} succeeded ({streams} attempted{why})").into());
    }
    match summary.unmet() {
        Some(why) => {
            Err(Failure { status: EXPECTATION_NOT_MET, message: format!("--expect-rate not met: {why}") })
        }
        None => Ok(()),
    }
}

/// The TLS client of an `https` URL (`None` for `http`); `--cacert` and `--insecure` are for
/// `https` alone.
fn tls_client(url: &Url, args: &Args) -> Result<Option<tls::Client>, String> {
    let trust = match (&args.cacert, args.insecure) {
        (Some(file), _) => tls::Trust::File(file.clone()),
        (None, true) => tls::Trust::Insecure,
        (None, false) => tls::Trust::System,
    };
    match url.tls {
        true if args.h2 => tls::Client::new(&url.host, &trust).map(|c| Some(c.with_alpn(&[b"h2"]))),
        true => tls::Client::new(&url.host, &trust).map(Some),
        false if args.cacert.is_some() || args.insecure => {
            Err(format!("--cacert and --insecure are for https:// URLs, not {}", args.url))
        }
        false => Ok(None),
    }
}

fn by_count(map: HashMap<String, u64>) -> Vec<(String, u64)> {
    let mut list: Vec<_> = map.into_iter().collect();
    list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    list
}

/// Raises the soft limit on open files to the hard limit, and checks that `needed` fit.
fn raise_open_files(needed: u64, connections: usize) -> Result<(), String> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the rlimit we pass, which lives across the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(format!("cannot read the open-file limit: {}", std::io::Error::last_os_error()));
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
        // SAFETY: setrlimit only reads the rlimit we pass, which lives across the call.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = lim.rlim_max;
        }
    }
    if needed > lim.rlim_cur {
        return Err(format!(
            "--connections {connections} needs about {needed} open files, but the limit is {} (hard limit {}); \
             raise the hard limit (ulimit -Hn) or open fewer connections",
            lim.rlim_cur, lim.rlim_max
        ));
    }
    Ok(())
}

/// The live line on stderr, once a second: connections open, events/s in the last second
/// (set-ups/s with `--handshakes`), latency p99 so far in the current phase.
struct Progress {
    requested: usize,
    handshakes: bool,
    next: Instant,
    last: (Instant, u64),
    p99: hdrhistogram::Histogram<u64>,
    tty: bool,
    printed: bool,
}

impl Progress {
    fn new(requested: usize, handshakes: bool, clock: &Clock) -> Progress {
        Progress {
            requested,
            handshakes,
            next: clock.base + Duration::from_secs(1),
            last: (clock.base, 0),
            p99: worker::histogram(),
            tty: std::io::stderr().is_terminal(),
            printed: false,
        }
    }

    fn tick(&mut self, now: Instant, workers: &[Worker], clock: &Clock) {
        if now < self.next {
            return;
        }
        while self.next <= now {
            self.next += Duration::from_secs(1);
        }
        let sum = |f: fn(&Live) -> u64| workers.iter().map(|(_, l)| f(l)).sum::<u64>();
        let events = match self.handshakes {
            true => sum(|l| l.established.load(Relaxed)),
            false => sum(|l| l.events.load(Relaxed)),
        };
        let open = sum(|l| l.established.load(Relaxed)).saturating_sub(sum(|l| l.closed.load(Relaxed)));
        let failed = sum(|l| l.failed.load(Relaxed));
        let churned = sum(|l| l.churned.load(Relaxed));
        let (last_t, last_events) = self.last;
        let rate = events.saturating_sub(last_events) as f64
            / now.saturating_duration_since(last_t).as_secs_f64().max(1e-3);
        self.last = (now, events);
        self.p99.reset();
        for (_, l) in workers {
            if let Ok(h) = l.latency.lock() {
                let _ = self.p99.add(&*h);
            }
        }
        let phase = match clock.window() {
            None => format!("warm-up {:>3.0}s", now.saturating_duration_since(clock.base).as_secs_f64()),
            Some((start, end)) => format!(
                "{:>3.0}/{:.0}s",
                now.saturating_duration_since(start).as_secs_f64(),
                end.saturating_duration_since(start).as_secs_f64()
            ),
        };
        let p99 = match self.p99.is_empty() {
            true => "-".to_owned(),
            false => report::us(self.p99.value_at_quantile(0.99)),
        };
        let churn = match churned {
            0 => String::new(),
            n => format!(" churned {n}"),
        };
        let rate = report::group(rate.round() as u64);
        let line = match self.handshakes {
            true => format!("[{phase}] setting up {} failed {failed} | {rate} set-ups/s", self.requested),
            false => format!(
                "[{phase}] open {open}/{} failed {failed}{churn} | {rate} events/s | p99 {p99}",
                self.requested
            ),
        };
        let mut err = std::io::stderr().lock();
        let _ = match self.tty {
            true => write!(err, "\r\x1b[K{line}"),
            false => writeln!(err, "{line}"),
        };
        let _ = err.flush();
        self.printed = true;
    }

    /// Ends the live line (on a terminal it has no newline yet).
    fn done(&self) {
        if self.tty && self.printed {
            eprintln!();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser, Debug)]
    struct Cmd {
        #[command(flatten)]
        args: Args,
    }

    fn args(argv: &[&str]) -> Result<Args, String> {
        Cmd::try_parse_from(std::iter::once("bench").chain(argv.iter().copied()))
            .map(|c| c.args)
            .map_err(|e| e.to_string())
    }

    fn client(argv: &[&str]) -> Result<Option<tls::Client>, String> {
        let a = args(argv)?;
        let url = Url::parse_any(&a.url).map_err(|e| e.to_string())?;
        tls_client(&url, &a)
    }

    #[test]
    fn tls_flags() {
        let a = args(&["https://h/sse", "--cacert", "ca.pem", "--handshakes"]).unwrap();
        assert_eq!((a.cacert, a.insecure, a.handshakes), (Some(PathBuf::from("ca.pem")), false, true));
        let a = args(&["https://h/sse", "-k", "--server-pid", "7", "--server-pid", "8"]).unwrap();
        assert_eq!((a.insecure, a.server_pid), (true, vec![7, 8]));
        assert!(
            args(&["https://h/", "--cacert", "ca.pem", "--insecure"])
                .unwrap_err()
                .contains("cannot be used with")
        );
        assert!(
            args(&["https://h/", "--handshakes", "--churn", "5"])
                .unwrap_err()
                .contains("cannot be used with")
        );
        assert!(
            args(&["http://h/", "--handshakes", "--expect-rate", "5"])
                .unwrap_err()
                .contains("cannot be used with")
        );
        assert!(args(&["http://h/", "--handshakes"]).is_ok(), "plain set-ups can be measured too");
    }

    #[test]
    fn tls_client_for_https_alone() {
        assert!(client(&["http://h/"]).unwrap().is_none());
        assert!(client(&["https://127.0.0.1:8443/", "-k"]).unwrap().is_some());
        let e = client(&["http://h/", "-k"]).err().unwrap();
        assert_eq!(e, "--cacert and --insecure are for https:// URLs, not http://h/");
        let e = client(&["http://h/", "--cacert", "x.pem"]).err().unwrap();
        assert!(e.starts_with("--cacert and --insecure are for https://"), "{e}");
        let e = client(&["https://h/", "--cacert", "/nonexistent/ca.pem"]).err().unwrap();
        assert!(e.starts_with("--cacert /nonexistent/ca.pem: "), "{e}");
    }
}
