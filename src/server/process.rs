//! The process's own figures for `/metrics`: the `process_*` series every Prometheus client
//! library exports (CPU seconds, resident and virtual memory, open and allowed descriptors,
//! start time), read from Linux's `/proc`. Elsewhere, or when `/proc` cannot be read, the series
//! are left out rather than reported as zero.
//!
//! The parsing is pure (text in, numbers out) and tested on recorded `/proc` text; reading the
//! files is the only IO.

/// What `/proc` says about this process.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct ProcessFigures {
    pub(crate) cpu_seconds: Option<f64>,
    pub(crate) resident_bytes: Option<u64>,
    pub(crate) virtual_bytes: Option<u64>,
    pub(crate) open_fds: Option<u64>,
    pub(crate) max_fds: Option<u64>,
    pub(crate) start_time_seconds: Option<f64>,
}

/// Clock ticks per second of `/proc/*/stat` (`USER_HZ`): 100 on every Linux architecture's
/// userspace ABI (the kernel converts from its own `HZ`).
const USER_HZ: f64 = 100.0;

/// Reads the figures now.
pub(crate) fn read() -> ProcessFigures {
    let stat = std::fs::read_to_string("/proc/self/stat").ok();
    let status = std::fs::read_to_string("/proc/self/status").ok();
    let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|s| boot_time(&s));
    let (cpu_seconds, start_ticks) = stat.as_deref().map_or((None, None), |s| {
        let fields = stat_fields(s);
        (fields.map(|f| f.cpu_ticks as f64 / USER_HZ), fields.map(|f| f.start_ticks))
    });
    ProcessFigures {
        cpu_seconds,
        resident_bytes: status.as_deref().and_then(|s| status_kib(s, "VmRSS:")).map(|k| k * 1024),
        virtual_bytes: status.as_deref().and_then(|s| status_kib(s, "VmSize:")).map(|k| k * 1024),
        open_fds: std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count() as u64),
        max_fds: super::descriptors::soft_limit().map(|n| n as u64),
        start_time_seconds: boot.zip(start_ticks).map(|(b, t)| b as f64 + t as f64 / USER_HZ),
    }
}

/// The fields of `/proc/self/stat` used here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct StatFields {
    /// utime + stime, in ticks.
    cpu_ticks: u64,
    /// When the process started, in ticks after boot.
    start_ticks: u64,
}

/// Parses `/proc/self/stat`: the command name is in parentheses and may hold spaces (and
/// parentheses), so fields are counted after the last `)`: state is field 3, utime 14, stime 15,
/// starttime 22.
fn stat_fields(stat: &str) -> Option<StatFields> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state).
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(StatFields { cpu_ticks: field(14)? + field(15)?, start_ticks: field(22)? })
}

/// A `kB` figure of `/proc/self/status` (`VmRSS:    1234 kB`).
fn status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// The boot time (`btime`, seconds since the epoch) from `/proc/stat`.
fn boot_time(stat: &str) -> Option<u64> {
    stat.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_a_command_with_spaces_and_parentheses() {
        let stat = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 3 0 98765 \
                    123456789 2000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(stat_fields(stat), Some(StatFields { cpu_ticks: 325, start_ticks: 98765 }));
        assert_eq!(stat_fields("garbage"), None);
        assert_eq!(stat_fields("1 (x) S 1 2"), None, "too few fields");
    }

    #[test]
    fn status_and_boot_time() {
        let status = "Name:\tssehub\nVmSize:\t  12345 kB\nVmRSS:\t    6789 kB\n";
        assert_eq!(status_kib(status, "VmRSS:"), Some(6789));
        assert_eq!(status_kib(status, "VmSize:"), Some(12345));
        assert_eq!(status_kib(status, "VmSwap:"), None);
        assert_eq!(boot_time("cpu  1 2 3\nbtime 1764600000\nprocesses 9\n"), Some(1_764_600_000));
        assert_eq!(boot_time("cpu 1\n"), None);
    }

    #[test]
    fn this_process_has_figures_on_linux() {
        let f = read();
        if cfg!(target_os = "linux") {
            assert!(f.cpu_seconds.is_some() && f.resident_bytes.is_some_and(|r| r > 0));
            assert!(f.open_fds.is_some_and(|n| n > 0) && f.start_time_seconds.is_some());
        }
    }
}
