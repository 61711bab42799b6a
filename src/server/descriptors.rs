//! How many connections the process's file descriptors allow.
//!
//! Every connection holds a descriptor. A process allowed fewer descriptors than
//! [`Config::max_connections`](super::Config::max_connections) would run out before the limit,
//! and then `accept` fails: clients in the listen backlog would get no answer at all, not even the
//! `503` the limit promises. So at start the server caps its connection limit to what is left
//! once the descriptors already open and a reserve (the poll and waker of each worker, the
//! listener, Redis, the application's own files) are set aside. (`ssehub serve` first raises its
//! soft limit to the hard one.)
//!
//! Should `accept` run out anyway (the application opened more files than the reserve), the
//! worker holding the listener keeps one spare descriptor: it closes it, accepts one waiting
//! client, answers `503`, and opens the spare again, so waiting clients are told rather than left
//! hanging.

use std::fs::File;
use std::io;

/// Descriptors set aside besides connections: a fixed part, and a few per worker.
pub(crate) fn reserve(workers: usize) -> usize {
    64 + 4 * workers
}

/// The soft `RLIMIT_NOFILE` of this process, from `/proc/self/limits` (Linux; `None` elsewhere
/// or when it says `unlimited`).
pub(crate) fn soft_limit() -> Option<usize> {
    parse_soft_limit(&std::fs::read_to_string("/proc/self/limits").ok()?)
}

/// Descriptors open now (`/proc/self/fd`; `None` where it cannot be read).
pub(crate) fn open_now() -> Option<usize> {
    std::fs::read_dir("/proc/self/fd").ok().map(Iterator::count)
}

/// The connection limit the descriptors allow: `wanted`, or fewer when `soft` descriptors minus
/// those `open` and the `reserve` cannot hold that many (at least 1): 256 descriptors with 10
/// open and a reserve of 72 allow 174.
pub(crate) fn allowed(wanted: usize, soft: Option<usize>, open: Option<usize>, reserve: usize) -> usize {
    match soft {
        Some(soft) => wanted.min(soft.saturating_sub(open.unwrap_or(0) + reserve).max(1)),
        None => wanted,
    }
}

/// Reads the soft limit from the text of `/proc/self/limits`.
fn parse_soft_limit(limits: &str) -> Option<usize> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..].split_whitespace().next()?.parse().ok()
}

/// Whether an `accept` error means the process (or the system) has no descriptor left.
pub(crate) fn exhausted(e: &io::Error) -> bool {
    // EMFILE and ENFILE: the same numbers on every Linux architecture.
    cfg!(target_os = "linux") && matches!(e.raw_os_error(), Some(23 | 24))
}

/// One descriptor held back for answering clients while the table is full.
#[derive(Debug)]
pub(crate) struct Spare(Option<File>);

impl Spare {
    pub(crate) fn new() -> Spare {
        Spare(File::open("/dev/null").ok())
    }

    /// Takes a spare descriptor again if the last one could not be taken back (another thread
    /// took the freed descriptor first).
    pub(crate) fn refill(&mut self) {
        if self.0.is_none() {
            self.0 = File::open("/dev/null").ok();
        }
    }

    /// Frees the spare descriptor while `f` runs, then takes it again (if it still can).
    /// `false` when there was no spare to free.
    pub(crate) fn lend(&mut self, f: impl FnOnce()) -> bool {
        let Some(file) = self.0.take() else { return false };
        drop(file);
        f();
        self.0 = File::open("/dev/null").ok();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: &str = "Limit                     Soft Limit           Hard Limit           Units     \n\
        Max cpu time              unlimited            unlimited            seconds   \n\
        Max open files            1024                 524288               files     \n\
        Max locked memory         8388608              8388608              bytes     \n";

    #[test]
    fn reads_the_soft_limit() {
        assert_eq!(parse_soft_limit(LIMITS), Some(1024));
        assert_eq!(parse_soft_limit("Max open files  unlimited  unlimited  files"), None);
        assert_eq!(parse_soft_limit(""), None);
    }

    #[test]
    fn caps_the_limit_to_what_is_left() {
        assert_eq!(allowed(16_384, Some(256), Some(10), 72), 174);
        assert_eq!(allowed(100, Some(20_000), Some(10), 72), 100);
        assert_eq!(allowed(100, Some(50), Some(10), 72), 1, "never zero");
        assert_eq!(allowed(100, None, None, 72), 100);
    }

    #[test]
    fn exhaustion_is_emfile_or_enfile() {
        assert!(exhausted(&io::Error::from_raw_os_error(24)));
        assert!(exhausted(&io::Error::from_raw_os_error(23)));
        assert!(!exhausted(&io::Error::from_raw_os_error(103)), "ECONNABORTED is not");
    }
}
