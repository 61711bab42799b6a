//! Where the library's log lines go in the `ssehub` command: standard error, one line each, in
//! the format and at the levels chosen (see [`crate::log_format`]). The library never prints; it
//! logs through the `log` facade, and the command chooses this.
//!
//! Lines are written by a thread of their own, through a bounded queue: an event loop that
//! logs a stream's end never waits for stderr (a terminal that scrolls slowly, a pipe nobody
//! reads). When the queue is full, lines are dropped and counted, and the next line written
//! says how many were lost. [`flush`] waits (a little) for the queue to empty: before exit.

use std::io::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant, SystemTime};

use log::{LevelFilter, Log, Metadata, Record};

use crate::log_format::{self, Filter, Format};

/// Lines that may wait for stderr.
const QUEUE_LINES: usize = 16 * 1024;
/// The longest [`flush`] waits for the queue to be written.
const FLUSH_WAIT: Duration = Duration::from_secs(2);

/// What is logged, and how.
#[derive(Clone, Debug)]
pub struct Config {
    pub format: Format,
    pub filter: Filter,
}

impl Config {
    /// `--log-format` and `--log-level` (which wins), else `RUST_LOG` (`rust_log`), else `info`.
    pub fn new(format: Format, level: Option<LevelFilter>, rust_log: Option<&str>) -> Result<Config, String> {
        let filter = match (level, rust_log) {
            (Some(level), _) => Filter::level(level),
            (None, Some(spec)) => Filter::parse(spec).map_err(|e| format!("RUST_LOG: {e}"))?,
            (None, None) => Filter::level(LevelFilter::Info),
        };
        Ok(Config { format, filter })
    }

    /// From `RUST_LOG` alone (the commands without log flags).
    pub fn from_env(format: Format, level: Option<LevelFilter>) -> Result<Config, String> {
        let rust_log = std::env::var("RUST_LOG").ok();
        Config::new(format, level, rust_log.as_deref())
    }
}

struct Stderr {
    config: Config,
    lines: SyncSender<Vec<u8>>,
    /// Lines queued and not yet written.
    pending: AtomicUsize,
    dropped: AtomicU64,
}

impl Log for Stderr {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.config.filter.level_for(metadata.target())
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = log_format::line(self.config.format, record, SystemTime::now());
        self.pending.fetch_add(1, Ordering::SeqCst);
        match self.lines.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.pending.fetch_sub(1, Ordering::SeqCst);
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn flush(&self) {
        let deadline = Instant::now() + FLUSH_WAIT;
        while self.pending.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = std::io::stderr().lock().write_all(&self.dropped_notice());
    }
}

/// Writes the queued lines; says how many were dropped before each line after a loss.
fn write_lines(logger: &'static Stderr, lines: Receiver<Vec<u8>>) {
    for line in lines {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(&logger.dropped_notice());
        // A closed stderr is no reason to stop serving.
        let _ = err.write_all(&line);
        drop(err);
        logger.pending.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Stderr {
    /// The line that says how many lines were dropped since the last one did (empty if none).
    fn dropped_notice(&self) -> Vec<u8> {
        match self.dropped.swap(0, Ordering::Relaxed) {
            0 => Vec::new(),
            n => log_format::line(
                self.config.format,
                &Record::builder()
                    .level(log::Level::Warn)
                    .target("ssehub::log")
                    .args(format_args!("{n} log lines dropped: stderr was not read fast enough"))
                    .build(),
                SystemTime::now(),
            ),
        }
    }
}

/// Installs the logger (once; a later call changes nothing).
pub fn install(config: Config) {
    let (tx, rx) = sync_channel(QUEUE_LINES);
    let max = config.filter.max();
    let logger: &'static Stderr = Box::leak(Box::new(Stderr {
        config,
        lines: tx,
        pending: AtomicUsize::new(0),
        dropped: AtomicU64::new(0),
    }));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(max);
        let spawned =
            std::thread::Builder::new().name("ssehub-log".into()).spawn(move || write_lines(logger, rx));
        if spawned.is_err() {
            // No thread: nothing will be written; say so once, directly.
            eprintln!("ssehub: warning: cannot start the log writer; logging is off");
            log::set_max_level(LevelFilter::Off);
        }
    }
}

/// Waits (up to 2 s) until the lines logged so far are written.
pub fn flush() {
    log::logger().flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_wins_over_rust_log_which_wins_over_the_default() {
        let level = |c: Config| c.filter.level_for("ssehub::access");
        assert_eq!(level(Config::new(Format::Json, None, None).unwrap()), LevelFilter::Info);
        assert_eq!(
            level(Config::new(Format::Json, None, Some("ssehub::access=off")).unwrap()),
            LevelFilter::Off
        );
        let flag = Config::new(Format::Json, Some(LevelFilter::Warn), Some("trace")).unwrap();
        assert_eq!(level(flag), LevelFilter::Warn);
        let flag_over_a_bad_variable = Config::new(Format::Human, Some(LevelFilter::Error), Some("loud"));
        assert!(flag_over_a_bad_variable.is_ok(), "RUST_LOG is not read when the flag is given");
        let bad = Config::new(Format::Human, None, Some("loud")).unwrap_err();
        assert!(bad.starts_with("RUST_LOG: unknown level \"loud\""), "{bad}");
    }
}
