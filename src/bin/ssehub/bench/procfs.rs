//! The server's CPU time and memory, for `ssehub bench --server-pid PID` (Linux `/proc`).
//!
//! Sampled at the start and the end of the measured window: the CPU seconds between the two
//! samples (user + system, from `/proc/PID/stat`) over the events delivered in the window give
//! the server's CPU cost per delivered event; `/proc/PID/status` gives its resident memory now
//! (`VmRSS`) and at its peak (`VmHWM`).

use std::fs;
use std::io;

/// One reading of a process's counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Whether the process is still running (not a zombie).
    pub alive: bool,
    /// User plus system CPU time, in clock ticks.
    pub cpu_ticks: u64,
    /// Resident set size, in KiB (`None` for a zombie, which has no memory).
    pub rss_kib: Option<u64>,
    /// Peak resident set size, in KiB.
    pub hwm_kib: Option<u64>,
}

/// Reads the counters of process `pid`.
pub fn sample(pid: u32) -> io::Result<Sample> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let (state, cpu_ticks) = parse_stat(&stat).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidData, format!("cannot parse /proc/{pid}/stat"))
    })?;
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    Ok(Sample {
        alive: !matches!(state, "Z" | "X" | "x"),
        cpu_ticks,
        rss_kib: status_kib(&status, "VmRSS"),
        hwm_kib: status_kib(&status, "VmHWM"),
    })
}

/// The counters of a server of several processes (`--server-pid` repeated: nginx's master and
/// workers), summed: alive while all are, CPU time and memory added up. Memory that processes
/// share (code, shared memory zones) is counted once per process that has it resident, as
/// `VmRSS` does; the growth of a run is mostly private memory, which this counts right.
pub fn sample_all(pids: &[u32]) -> io::Result<Sample> {
    let mut total = Sample { alive: true, cpu_ticks: 0, rss_kib: Some(0), hwm_kib: Some(0) };
    for &pid in pids {
        let s = sample(pid)?;
        total.alive &= s.alive;
        total.cpu_ticks += s.cpu_ticks;
        total.rss_kib = total.rss_kib.zip(s.rss_kib).map(|(a, b)| a + b);
        total.hwm_kib = total.hwm_kib.zip(s.hwm_kib).map(|(a, b)| a + b);
    }
    Ok(total)
}

/// CPU time the whole machine spent busy (every CPU, every state but idle and iowait) since
/// boot, in clock ticks: the first line of `/proc/stat`. Over the window, minus the server's and
/// the load generator's own, it tells whether something else was running during the measurement.
///
/// Also returns the part spent serving soft interrupts: on loopback that is where the receiving
/// side of TCP runs, and the kernel charges a clock tick that lands there to no process, so
/// neither the server's nor the load generator's CPU time includes it.
pub fn machine_busy_ticks() -> io::Result<(u64, u64)> {
    let stat = fs::read_to_string("/proc/stat")?;
    parse_machine_busy(&stat)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "cannot parse /proc/stat"))
}

/// `user nice system idle iowait irq softirq steal ...` → all but idle and iowait (guest time is
/// already counted in user), and softirq.
fn parse_machine_busy(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let fields: Vec<u64> =
        line.split_ascii_whitespace().take(8).map(|f| f.parse().ok()).collect::<Option<_>>()?;
    (fields.len() == 8).then(|| (fields.iter().sum::<u64>() - fields[3] - fields[4], fields[6]))
}

/// Clock ticks per second (`getconf CLK_TCK`): `sysconf(_SC_CLK_TCK)`, or 100 if that fails.
pub fn ticks_per_second() -> u64 {
    // SAFETY: sysconf only reads a system constant; it has no pointer arguments.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|&t| t > 0).unwrap_or(100)
}

/// The state (field 3) and `utime + stime` (fields 14 and 15) of a `/proc/PID/stat` line. The
/// command name (field 2) is in parentheses and may itself hold spaces and parentheses, so
/// fields are counted from the last `)`.
fn parse_stat(stat: &str) -> Option<(&str, u64)> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_comm.split_ascii_whitespace();
    let state = fields.next()?;
    let mut fields = fields.skip(10);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((state, utime + stime))
}

/// The value in KiB of a `Key:   1234 kB` line of `/proc/PID/status`.
fn status_kib(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix(key)?.strip_prefix(':')?;
        value.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_skip_a_tricky_command_name() {
        let stat = "12420 (a b) c)) R 12347 12347 3009 0 -1 4194304 101 0 0 0 31 7 0 0 20 0 1 0 117865";
        assert_eq!(parse_stat(stat), Some(("R", 38)));
        assert_eq!(parse_stat("12420 (cat R 1 2"), None);
        assert_eq!(parse_stat("12420 (cat) R 1 2"), None);
    }

    #[test]
    fn status_values() {
        let status = "Name:\tssehub\nVmHWM:\t    1968 kB\nVmRSS:\t    1700 kB\nThreads:\t3\n";
        assert_eq!(status_kib(status, "VmRSS"), Some(1700));
        assert_eq!(status_kib(status, "VmHWM"), Some(1968));
        assert_eq!(status_kib(status, "VmSwap"), None);
        assert_eq!(status_kib(status, "Threads"), None);
    }

    #[test]
    fn machine_busy_time() {
        let stat = "cpu  100 5 50 1000 20 3 7 2 0 0\ncpu0 50 2 25 500 10 1 3 1 0 0\n";
        assert_eq!(parse_machine_busy(stat), Some((100 + 5 + 50 + 3 + 7 + 2, 7)));
        assert_eq!(parse_machine_busy("cpu0 1 2 3 4 5 6 7 8\n"), None);
        assert!(machine_busy_ticks().is_ok());
    }

    #[test]
    fn reads_this_process() {
        let s = sample(std::process::id()).unwrap();
        assert!(s.alive);
        // Both present: comparing the Options would pass for None >= None (and Some >= None).
        let (Some(rss), Some(hwm)) = (s.rss_kib, s.hwm_kib) else {
            panic!("VmRSS and VmHWM of a live process: {s:?}");
        };
        assert!(rss > 0 && hwm >= rss, "{s:?}");
        assert!(ticks_per_second() > 0);
    }

    #[test]
    fn several_processes_add_up() {
        let me = std::process::id();
        let one = sample(me).unwrap();
        let two = sample_all(&[me, me]).unwrap();
        assert!(two.alive && two.cpu_ticks >= 2 * one.cpu_ticks, "{one:?} {two:?}");
        assert!(two.rss_kib.unwrap() >= one.rss_kib.unwrap() * 3 / 2, "{one:?} {two:?}");
        assert!(sample_all(&[me, u32::MAX]).is_err());
    }

    #[test]
    fn a_zombie_is_dead_and_has_no_memory() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        // Not waited for: once it has exited it stays a zombie until `wait`.
        let mut s = sample(child.id()).unwrap();
        for _ in 0..500 {
            if !s.alive {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            s = sample(child.id()).unwrap();
        }
        child.wait().unwrap();
        assert_eq!((s.alive, s.rss_kib, s.hwm_kib), (false, None, None));
    }
}
