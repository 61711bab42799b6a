//! The `ssehub` command: `serve` (the event-stream server), `bench` (a load generator for event
//! streams), `decode` (event stream → JSON lines), `config` (check or write a config file for
//! `serve --config`).
//!
//! Exit status: 0 on success; 2 for bad arguments (clap's usage errors, one line on stderr) and
//! for a bad config file or `SSEHUB_*` variable (one line naming the file, line and key); 1
//! when the command could not do its job (a message on stderr); `bench` exits 3 when the run
//! completed but `--expect-rate` was not met (see `bench::EXPECTATION_NOT_MET`).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod config;
mod decode;
mod jwt;
mod listen_fds;
mod log_format;
mod logger;
mod serve;
mod tls;
mod units;

#[derive(Parser)]
#[command(name = "ssehub", version, about = "A Server-Sent Events server and toolkit")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once at start-up; boxing buys nothing
enum Command {
    /// Serve event streams (the demo clock at /sse, a page at /), or benchmark data with --rate.
    Serve(serve::Args),
    /// Load an SSE server: hold N event streams open, measure events/s, latency and fairness.
    Bench(bench::Args),
    /// Decode an event stream (a URL, a FILE or standard input) into one JSON object per line.
    Decode(decode::Args),
    /// Check a config file for `serve --config` (`config check FILE`), or print one with every
    /// default (`config example`).
    Config(config::Args),
}

/// Why a command failed: the one-line message for stderr, and the exit status.
#[derive(Debug)]
pub struct Failure {
    pub status: u8,
    pub message: String,
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure { status: 1, message }
    }
}

fn main() -> ExitCode {
    // `serve`'s flags over its SSEHUB_* variables over its config file (see `config`).
    let cli = match config::parse::<Cli>(std::env::args_os().collect(), &|name| std::env::var_os(name)) {
        Ok(cli) => cli,
        Err(config::Refusal::Clap(e)) => e.exit(),
        Err(config::Refusal::Config(e)) => {
            eprintln!("ssehub: {e}");
            return ExitCode::from(2);
        }
        // Parsing alone never runs serve's checks (serve runs them itself, after logging is on).
        Err(config::Refusal::Serve(why)) => {
            eprintln!("ssehub: {why}");
            return ExitCode::from(1);
        }
    };
    let logging = match &cli.command {
        Command::Serve(args) => logger::Config::from_env(args.log_format, args.log_level.map(Into::into)),
        _ => logger::Config::from_env(log_format::Format::Human, None),
    };
    let result = match logging {
        Err(message) => Err(Failure { status: 2, message }),
        Ok(logging) => {
            logger::install(logging);
            match cli.command {
                Command::Serve(args) => serve::run(args).map_err(Failure::from),
                Command::Bench(args) => bench::run(args),
                Command::Decode(args) => decode::run(args).map_err(|e| Failure::from(e.to_string())),
                Command::Config(args) => config::run(args, <Cli as clap::CommandFactory>::command()),
            }
        }
    };
    // What was logged comes first (the streams' last access lines, say), the failure last.
    logger::flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure { status, message }) => {
            eprintln!("ssehub: {message}");
            ExitCode::from(status)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("ssehub").chain(args.iter().copied()))
    }

    /// The one-line message clap gives for a refused value.
    fn refusal(args: &[&str]) -> String {
        match parse(args) {
            Ok(_) => panic!("{args:?} was accepted"),
            Err(e) => {
                assert_eq!(e.exit_code(), 2, "{args:?}: {e}");
                e.to_string().lines().next().unwrap_or("").to_owned()
            }
        }
    }

    fn serve(args: &[&str]) -> serve::Args {
        let all: Vec<&str> = std::iter::once("serve").chain(args.iter().copied()).collect();
        match parse(&all) {
            Ok(Cli { command: Command::Serve(a) }) => a,
            Ok(_) => unreachable!(),
            Err(e) => panic!("{args:?}: {e}"),
        }
    }

    fn bench(args: &[&str]) -> bench::Args {
        let all: Vec<&str> = ["bench", "http://h/sse"].into_iter().chain(args.iter().copied()).collect();
        match parse(&all) {
            Ok(Cli { command: Command::Bench(a) }) => a,
            Ok(_) => unreachable!(),
            Err(e) => panic!("{args:?}: {e}"),
        }
    }

    #[test]
    fn decode_takes_any_max_size_a_usize_holds() {
        let max = usize::MAX.to_string();
        let Cli { command: Command::Decode(args) } = parse(&["decode", "--max-size", &max]).unwrap() else {
            panic!("not decode")
        };
        assert_eq!(args.max_size, usize::MAX);
        let past = format!("{}0", usize::MAX);
        assert!(parse(&["decode", "--max-size", &past]).is_err());
        let Cli { command: Command::Decode(args) } = parse(&["decode", "--max-size", "1k"]).unwrap() else {
            panic!("not decode")
        };
        assert_eq!(args.max_size, 1000);
    }

    #[test]
    fn serve_defaults_are_todays() {
        let a = serve(&[]);
        assert_eq!(a.addr, "127.0.0.1:8080");
        assert_eq!(a.keep_alive, Duration::from_secs(15));
        assert_eq!(a.max_queue_bytes, 1 << 20);
        assert_eq!(a.max_total_queue_bytes, 256 << 20);
        assert_eq!(a.send_timeout, Duration::from_secs(45));
        assert_eq!(a.header_timeout, Duration::from_secs(10));
        assert_eq!(a.idle_timeout, Duration::from_secs(60));
        assert_eq!(a.max_head_bytes, 8192);
        assert_eq!(a.replay_bytes, 1 << 20);
        assert_eq!(a.replay_total_bytes, 64 << 20);
        assert_eq!(a.replay_age, None);
        assert_eq!(a.coalesce_ms, Duration::from_millis(13));
        assert_eq!(a.size, 64);
        assert_eq!(a.retry, None);
    }

    use std::time::Duration;

    #[test]
    fn serve_takes_units_and_bare_numbers_keep_their_meaning() {
        let a = serve(&[
            "--keep-alive",
            "500ms",
            "--retry",
            "3s",
            "--max-queue-bytes",
            "64KiB",
            "--send-timeout",
            "2m",
            "--header-timeout",
            "0.5",
            "--idle-timeout",
            "1m30s",
            "--replay-age",
            "5m",
            "--coalesce-ms",
            "2ms",
            "--replay-bytes",
            "1MB",
            "--replay-total-bytes",
            "0",
            "--max-total-queue-bytes",
            "1GiB",
            "--max-head-bytes",
            "16k",
            "--size",
            "1KiB",
            "--addr",
            ":8080",
        ]);
        assert_eq!(a.keep_alive, Duration::from_millis(500));
        assert_eq!(a.retry, Some(3000));
        assert_eq!(a.max_queue_bytes, 65536);
        assert_eq!(a.send_timeout, Duration::from_secs(120));
        assert_eq!(a.header_timeout, Duration::from_millis(500));
        assert_eq!(a.idle_timeout, Duration::from_secs(90));
        assert_eq!(a.replay_age, Some(Duration::from_secs(300)));
        assert_eq!(a.coalesce_ms, Duration::from_millis(2));
        assert_eq!((a.replay_bytes, a.replay_total_bytes), (1_000_000, 0));
        assert_eq!(a.max_total_queue_bytes, 1 << 30);
        assert_eq!((a.max_head_bytes, a.size), (16_000, 1024));
        assert_eq!(a.addr, "0.0.0.0:8080");
        let a = serve(&["--keep-alive", "0", "--retry", "3000", "--coalesce-ms", "13", "--addr", "8081"]);
        assert_eq!(a.keep_alive, Duration::ZERO);
        assert_eq!(a.retry, Some(3000));
        assert_eq!(a.coalesce_ms, Duration::from_millis(13));
        assert_eq!(a.addr, "127.0.0.1:8081");
        let a = serve(&["--coalesce-ms", "0", "--keep-alive", "0.2", "--rate", "1e3"]);
        assert_eq!(a.coalesce_ms, Duration::ZERO);
        assert_eq!(a.keep_alive, Duration::from_millis(200));
        assert_eq!(a.rate, Some(1000.0));
        let a = serve(&["--rate=0.5", "--max-queue-bytes=1MiB"]);
        assert_eq!((a.rate, a.max_queue_bytes), (Some(0.5), 1 << 20));
    }

    #[test]
    fn serve_refuses_bad_values_in_one_line() {
        let r = refusal(&["serve", "--rate", "-5"]);
        assert_eq!(r, "error: invalid value '-5' for '--rate <PER_SECOND>': must be a positive number");
        let r = refusal(&["serve", "--max-queue-bytes", "1XB"]);
        assert!(
            r.starts_with("error: invalid value '1XB' for '--max-queue-bytes <SIZE>': unknown unit"),
            "{r}"
        );
        let r = refusal(&["serve", "--keep-alive", "-5s"]);
        assert_eq!(r, "error: invalid value '-5s' for '--keep-alive <DURATION>': must not be negative");
        let r = refusal(&["serve", "--keep-alive", "15x"]);
        assert!(r.contains("unknown unit \"x\""), "{r}");
        let r = refusal(&["serve", "--send-timeout", "0"]);
        assert_eq!(r, "error: invalid value '0' for '--send-timeout <DURATION>': must be more than 0");
        let r = refusal(&["serve", "--header-timeout", "0s"]);
        assert!(r.ends_with("must be more than 0"), "{r}");
        let r = refusal(&["serve", "--retry", "1.5"]);
        assert!(r.ends_with("not a whole number of milliseconds: \"1.5\""), "{r}");
        let r = refusal(&["serve", "--replay-age", "NaN"]);
        assert!(r.contains("not a number"), "{r}");
        let r = refusal(&["serve", "--idle-timeout", "99999999999"]);
        assert!(r.contains("too long"), "{r}");
        let r = refusal(&["serve", "--max-queue-bytes", "0"]);
        assert!(r.ends_with("must be at least 1 byte"), "{r}");
        let r = refusal(&["serve", "--workers", "-1"]);
        assert!(r.ends_with("must not be negative"), "{r}");
        let r = refusal(&["serve", "--addr", "70000"]);
        assert!(r.ends_with("port 70000 is past 65535"), "{r}");
        let r = refusal(&["serve", "--publish-token", "a", "--publish-token-file", "f"]);
        assert!(r.contains("cannot be used with"), "{r}");
    }

    #[test]
    fn bench_takes_units() {
        let a = bench(&[
            "-d",
            "1m",
            "--warmup",
            "500ms",
            "--connect-timeout",
            "3",
            "-H",
            "Authorization: Bearer x",
        ]);
        assert_eq!(a.duration, Duration::from_secs(60));
        assert_eq!(a.warmup, Duration::from_millis(500));
        assert_eq!(a.connect_timeout, Duration::from_secs(3));
        assert_eq!(a.headers.iter().map(|h| h.to_string()).collect::<Vec<_>>(), ["Authorization: Bearer x"]);
        let a = bench(&[]);
        assert_eq!((a.duration, a.warmup), (Duration::from_secs(10), Duration::from_secs(2)));
        let a = bench(&["--duration", "20", "--warmup", "0", "-H", "A: 1", "-H", "Last-Event-ID: 7"]);
        assert_eq!((a.duration, a.warmup), (Duration::from_secs(20), Duration::ZERO));
        assert_eq!(a.headers.len(), 2);
        let r = refusal(&["bench", "http://h/", "-d", "0"]);
        assert!(r.ends_with("must be more than 0"), "{r}");
        let r = refusal(&["bench", "http://h/", "--expect-rate", "-5"]);
        assert!(r.ends_with("must be a positive number"), "{r}");
        let r = refusal(&["bench", "http://h/", "-c", "0"]);
        assert!(r.ends_with("must be at least 1"), "{r}");
        let r = refusal(&["bench", "http://h/", "-H", "no colon"]);
        assert!(r.contains("Name: value"), "{r}");
    }
}
