//! Where the library's log lines go in the `ssehub` command: standard error, one line each,
//! `ssehub: <message>` (warnings and errors say so). The library never prints; it logs through
//! the `log` facade, and the command chooses this.

use std::io::Write;

use log::{Level, LevelFilter, Log, Metadata, Record};

struct Stderr;

impl Log for Stderr {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= Level::Info
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            Level::Error => "error: ",
            Level::Warn => "warning: ",
            _ => "",
        };
        let _ = writeln!(std::io::stderr().lock(), "ssehub: {level}{}", record.args());
    }

    fn flush(&self) {}
}

/// Installs the logger (info and above).
pub fn install() {
    if log::set_logger(&Stderr).is_ok() {
        log::set_max_level(LevelFilter::Info);
    }
}
