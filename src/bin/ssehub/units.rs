//! Durations, sizes and rates as people type them on a command line, as `wrk`, `oha` and `k6`
//! take them: `15s`, `500ms`, `1m30s`, `1MiB`, `64k`. Each flag's parser is one of the functions
//! here, handed to clap as its `value_parser`, so a bad value is refused while the arguments are
//! read, with clap's one-line `invalid value '1XB' for '--max-queue-bytes <SIZE>': ...` and exit
//! status 2.
//!
//! # Durations
//! One or more `<number><unit>` parts, summed (`1m30s`, `1h 15m`); the number may have a
//! decimal fraction (`1.5s`, `.5s`). Units, in any letter case: `ns`, `us` (or `µs`), `ms`, `s`,
//! `m` (minutes), `h`. A bare number (`15`, `0.2`) is in the flag's own unit: seconds for most
//! flags, milliseconds for `--retry` and `--coalesce-ms`, as before units were accepted. A
//! duration is at most 10⁹ seconds (about 31 years): past that, adding it to a clock overflows.
//!
//! # Sizes
//! A number and an optional unit; decimal units are powers of 1000, binary ones powers of 1024,
//! the letters in any case and the `B` optional: `k`/`KB` = 1000, `KiB` = 1024, `M`/`MB` = 10⁶,
//! `MiB` = 2²⁰, `G`/`GB` = 10⁹, `GiB` = 2³⁰, `T`/`TB` = 10¹², `TiB` = 2⁴⁰. A bare number is bytes.
//! A fraction is accepted where the result is a whole number of bytes (`1.5k` = 1500; `0.5B` is
//! refused). `b` means bytes here, never bits.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// The longest duration accepted: adding more to an `Instant` can overflow.
const MAX_SECONDS: u64 = 1_000_000_000;
/// The most digits a number may have: more cannot be meant, and could overflow the arithmetic.
const MAX_DIGITS: usize = 30;

const DURATION_FORMS: &str = "expected a duration such as 15s, 500ms or 1m30s";
const DURATION_UNITS: &str = "ns, us, ms, s, m, h";
const SIZE_UNITS: &str = "B, k/KB, KiB, M/MB, MiB, G/GB, GiB, T/TB, TiB";

/// What a bare number means for a duration flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bare {
    Seconds,
    Millis,
}

impl Bare {
    fn nanos(self) -> u128 {
        match self {
            Bare::Seconds => 1_000_000_000,
            Bare::Millis => 1_000_000,
        }
    }
}

/// A number as written: its integer digits and its fraction digits (either may be empty, not
/// both).
struct Number<'a> {
    int: &'a str,
    frac: &'a str,
}

impl Number<'_> {
    /// `self × unit`, truncated to a whole number, and whether it was exact.
    fn times(&self, unit: u128) -> Option<(u128, bool)> {
        let int: u128 = if self.int.is_empty() { 0 } else { self.int.parse().ok()? };
        let whole = int.checked_mul(unit)?;
        if self.frac.is_empty() {
            return Some((whole, true));
        }
        let scale = 10u128.checked_pow(u32::try_from(self.frac.len()).ok()?)?;
        let frac = self.frac.parse::<u128>().ok()?.checked_mul(unit)?;
        Some((whole.checked_add(frac / scale)?, frac % scale == 0))
    }
}

/// Splits a number off the front of `s`: digits, optionally `.` and more digits.
fn number(s: &str) -> Result<(Number<'_>, &str), String> {
    let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
    let n = digits(s);
    let (int, rest) = s.split_at(n);
    let (frac, rest) = match rest.strip_prefix('.') {
        Some(after) => after.split_at(digits(after)),
        None => ("", rest),
    };
    if int.is_empty() && frac.is_empty() {
        return Err(String::new());
    }
    if int.len() + frac.len() > MAX_DIGITS {
        return Err("too many digits".into());
    }
    Ok((Number { int, frac }, rest))
}

/// Why a value that does not start with a number was refused (`what` names the expected form).
fn not_a_number(s: &str, what: &str) -> String {
    let t = s.trim_start_matches(['+', ' ']);
    if s.is_empty() {
        format!("empty: {what}")
    } else if s.starts_with('-') {
        "must not be negative".into()
    } else if ["nan", "inf", "infinity"].iter().any(|w| t.eq_ignore_ascii_case(w)) {
        format!("not a number: {what}")
    } else {
        format!("{what}, not {s:?}")
    }
}

/// Parses a duration (see the [module documentation](self)); a bare number is in `bare` units.
pub fn duration(s: &str, bare: Bare) -> Result<Duration, String> {
    let s = s.trim();
    let mut rest = s;
    let mut nanos: u128 = 0;
    let mut parts = 0;
    while !rest.is_empty() {
        let (n, after) = match number(rest) {
            Ok(split) => split,
            Err(e) if !e.is_empty() => return Err(e),
            Err(_) if parts == 0 => return Err(not_a_number(s, DURATION_FORMS)),
            Err(_) => return Err(format!("{DURATION_FORMS}, not {s:?}")),
        };
        let after = after.trim_start();
        let unit_len = after.bytes().take_while(|b| !b.is_ascii_digit() && *b != b'.' && *b != b' ').count();
        let (unit, after) = after.split_at(unit_len);
        let per = match unit.to_ascii_lowercase().as_str() {
            "" if parts == 0 && after.is_empty() => bare.nanos(),
            "" => return Err(format!("every number needs its unit ({DURATION_UNITS}), not {s:?}")),
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(format!("unknown unit {unit:?} (use {DURATION_UNITS})")),
        };
        let (part, _) = n.times(per).ok_or_else(too_long)?;
        nanos = nanos.checked_add(part).ok_or_else(too_long)?;
        parts += 1;
        rest = after.trim_start();
    }
    if parts == 0 {
        return Err(not_a_number(s, DURATION_FORMS));
    }
    if nanos > u128::from(MAX_SECONDS) * 1_000_000_000 {
        return Err(too_long());
    }
    Ok(Duration::from_nanos(u64::try_from(nanos).map_err(|_| too_long())?))
}

fn too_long() -> String {
    format!("too long: at most {MAX_SECONDS}s (about 31 years)")
}

/// Parses a size in bytes (see the [module documentation](self)).
pub fn size(s: &str) -> Result<usize, String> {
    const FORMS: &str = "expected a size such as 65536, 64KiB or 1MB";
    let s = s.trim();
    let (n, unit) = match number(s) {
        Ok(split) => split,
        Err(e) if !e.is_empty() => return Err(e),
        Err(_) => return Err(not_a_number(s, FORMS)),
    };
    let unit = unit.trim_start();
    let lower = unit.to_ascii_lowercase();
    let per: u128 = match lower.strip_suffix('b').unwrap_or(&lower) {
        "" => 1,
        "k" => 1_000,
        "ki" => 1 << 10,
        "m" => 1_000_000,
        "mi" => 1 << 20,
        "g" => 1_000_000_000,
        "gi" => 1 << 30,
        "t" => 1_000_000_000_000,
        "ti" => 1 << 40,
        _ => return Err(format!("unknown unit {unit:?} (use {SIZE_UNITS})")),
    };
    let too_large = || format!("too large: at most {} bytes", usize::MAX);
    let (bytes, exact) = n.times(per).ok_or_else(too_large)?;
    if !exact {
        return Err(format!("not a whole number of bytes: {s:?}"));
    }
    usize::try_from(bytes).map_err(|_| too_large())
}

// The flags' parsers, as clap's `value_parser`s.

/// A duration, a bare number in seconds; zero allowed.
pub fn seconds(s: &str) -> Result<Duration, String> {
    duration(s, Bare::Seconds)
}

/// A duration more than zero, a bare number in seconds.
pub fn seconds_nonzero(s: &str) -> Result<Duration, String> {
    nonzero(seconds(s)?)
}

/// A duration, a bare number in milliseconds; zero allowed.
pub fn millis(s: &str) -> Result<Duration, String> {
    duration(s, Bare::Millis)
}

/// A whole number of milliseconds (the `retry` field's unit), a bare number in milliseconds.
pub fn whole_millis(s: &str) -> Result<u64, String> {
    let d = millis(s)?;
    if d.subsec_nanos() % 1_000_000 != 0 {
        return Err(format!("not a whole number of milliseconds: {:?}", s.trim()));
    }
    u64::try_from(d.as_millis()).map_err(|_| too_long())
}

fn nonzero(d: Duration) -> Result<Duration, String> {
    match d.is_zero() {
        true => Err("must be more than 0".into()),
        false => Ok(d),
    }
}

/// A size in bytes; zero allowed.
pub fn bytes(s: &str) -> Result<usize, String> {
    size(s)
}

/// A size in bytes, at least 1.
pub fn bytes_nonzero(s: &str) -> Result<usize, String> {
    match bytes(s)? {
        0 => Err("must be at least 1 byte".into()),
        b => Ok(b),
    }
}

/// A positive, finite number (events or connections a second).
pub fn positive(s: &str) -> Result<f64, String> {
    match number_value(s)? {
        v if v > 0.0 => Ok(v),
        _ => Err("must be a positive number".into()),
    }
}

/// A finite number zero or more.
pub fn non_negative(s: &str) -> Result<f64, String> {
    match number_value(s)? {
        v if v >= 0.0 => Ok(v),
        _ => Err("must be a number >= 0".into()),
    }
}

fn number_value(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v < 1e15 => Ok(v),
        Ok(v) if v.is_finite() => Err("too large".into()),
        Ok(_) => Err("must be a finite number".into()),
        Err(_) => Err(format!("not a number: {s:?}")),
    }
}

/// A count (connections, threads, events): a whole number, at least 1.
pub fn count(s: &str) -> Result<usize, String> {
    match whole(s)? {
        0 => Err("must be at least 1".into()),
        n => Ok(n),
    }
}

/// A whole number zero or more.
pub fn whole(s: &str) -> Result<usize, String> {
    let t = s.trim();
    if t.starts_with('-') {
        return Err("must not be negative".into());
    }
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("not a whole number: {s:?}"));
    }
    t.parse().map_err(|_| format!("too large: at most {}", usize::MAX))
}

/// `--addr`: `host:port` or `[v6]:port` as given; `:PORT` is every IPv4 interface
/// (`0.0.0.0:PORT`) and a bare `PORT` is localhost (`127.0.0.1:PORT`). Port 0 asks the system
/// for a free one. A host name (`localhost:8080`) is resolved when binding.
pub fn listen_addr(s: &str) -> Result<String, String> {
    let port = |p: &str| -> Result<u16, String> {
        match whole(p) {
            Ok(n) => u16::try_from(n).map_err(|_| format!("port {p} is past 65535")),
            Err(_) => Err(format!("expected HOST:PORT, [IPv6]:PORT, :PORT or PORT, not {s:?}")),
        }
    };
    let s = s.trim();
    if let Some(p) = s.strip_prefix(':') {
        return Ok(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port(p)?)).to_string());
    }
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port(s)?)).to_string());
    }
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr.to_string());
    }
    match s.rsplit_once(':') {
        Some((host, p))
            if (!host.is_empty() && !host.contains(':'))
                || (host.starts_with('[') && host.ends_with(']')) =>
        {
            port(p)?;
            Ok(s.to_owned())
        }
        _ => Err(format!("expected HOST:PORT, [IPv6]:PORT, :PORT or PORT, not {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn durations_accepted() {
        let secs = |s: &str| duration(s, Bare::Seconds).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(secs("15"), ms(15_000));
        assert_eq!(secs("0.2"), ms(200));
        assert_eq!(secs(".5"), ms(500));
        assert_eq!(secs("2."), ms(2000));
        assert_eq!(secs("0"), Duration::ZERO);
        assert_eq!(secs("0s"), Duration::ZERO);
        assert_eq!(secs("15s"), ms(15_000));
        assert_eq!(secs("15S"), ms(15_000));
        assert_eq!(secs("500ms"), ms(500));
        assert_eq!(secs("500MS"), ms(500));
        assert_eq!(secs("1.5s"), ms(1500));
        assert_eq!(secs("1m"), ms(60_000));
        assert_eq!(secs("1M"), ms(60_000));
        assert_eq!(secs("2h"), ms(7_200_000));
        assert_eq!(secs("1m30s"), ms(90_000));
        assert_eq!(secs("1h 15m"), ms(4_500_000));
        assert_eq!(secs("1s500ms"), ms(1500));
        assert_eq!(secs(" 15 s "), ms(15_000));
        assert_eq!(secs("250us"), Duration::from_micros(250));
        assert_eq!(secs("250µs"), Duration::from_micros(250));
        assert_eq!(secs("7ns"), Duration::from_nanos(7));
        assert_eq!(secs("1.5ns"), Duration::from_nanos(1)); // below a nanosecond is dropped
        assert_eq!(secs("1000000000"), Duration::from_secs(MAX_SECONDS));
        assert_eq!(secs("0.0000000001"), Duration::ZERO);
        let millis = |s: &str| duration(s, Bare::Millis).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(millis("3000"), ms(3000));
        assert_eq!(millis("13"), ms(13));
        assert_eq!(millis("2.5"), Duration::from_micros(2500));
        assert_eq!(millis("3s"), ms(3000));
        assert_eq!(millis("0"), Duration::ZERO);
    }

    #[test]
    fn durations_refused() {
        let err = |s: &str| duration(s, Bare::Seconds).unwrap_err();
        assert_eq!(err(""), "empty: expected a duration such as 15s, 500ms or 1m30s");
        assert_eq!(err("  "), "empty: expected a duration such as 15s, 500ms or 1m30s");
        assert_eq!(err("-5"), "must not be negative");
        assert_eq!(err("-5s"), "must not be negative");
        assert_eq!(err("NaN"), "not a number: expected a duration such as 15s, 500ms or 1m30s");
        assert_eq!(err("inf"), "not a number: expected a duration such as 15s, 500ms or 1m30s");
        assert_eq!(err("s"), "expected a duration such as 15s, 500ms or 1m30s, not \"s\"");
        assert_eq!(err("."), "expected a duration such as 15s, 500ms or 1m30s, not \".\"");
        assert_eq!(err("5x"), "unknown unit \"x\" (use ns, us, ms, s, m, h)");
        assert_eq!(err("5sec"), "unknown unit \"sec\" (use ns, us, ms, s, m, h)");
        assert_eq!(err("1d"), "unknown unit \"d\" (use ns, us, ms, s, m, h)");
        assert_eq!(err("1m30"), "every number needs its unit (ns, us, ms, s, m, h), not \"1m30\"");
        assert_eq!(err("1 5s"), "every number needs its unit (ns, us, ms, s, m, h), not \"1 5s\"");
        assert_eq!(err("1s-2s"), "unknown unit \"s-\" (use ns, us, ms, s, m, h)");
        assert_eq!(err("1.2.3s"), "every number needs its unit (ns, us, ms, s, m, h), not \"1.2.3s\"");
        assert_eq!(err("1e3"), "unknown unit \"e\" (use ns, us, ms, s, m, h)");
        assert_eq!(err("1000000001"), "too long: at most 1000000000s (about 31 years)");
        assert_eq!(err("99999999999h"), "too long: at most 1000000000s (about 31 years)");
        assert_eq!(err(&"9".repeat(31)), "too many digits");
        assert_eq!(err("+5s"), "expected a duration such as 15s, 500ms or 1m30s, not \"+5s\"");
    }

    #[test]
    fn sizes_accepted() {
        let ok = |s: &str| size(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(ok("0"), 0);
        assert_eq!(ok("65536"), 65536);
        assert_eq!(ok("64b"), 64);
        assert_eq!(ok("64B"), 64);
        assert_eq!(ok("1k"), 1000);
        assert_eq!(ok("1K"), 1000);
        assert_eq!(ok("1kb"), 1000);
        assert_eq!(ok("1KB"), 1000);
        assert_eq!(ok("1Ki"), 1024);
        assert_eq!(ok("1KiB"), 1024);
        assert_eq!(ok("1kib"), 1024);
        assert_eq!(ok("1M"), 1_000_000);
        assert_eq!(ok("1MB"), 1_000_000);
        assert_eq!(ok("1MiB"), 1 << 20);
        assert_eq!(ok("256MiB"), 256 << 20);
        assert_eq!(ok("2G"), 2_000_000_000);
        assert_eq!(ok("2GB"), 2_000_000_000);
        assert_eq!(ok("2GiB"), 2 << 30);
        assert_eq!(ok("1T"), 1_000_000_000_000);
        assert_eq!(ok("1TiB"), 1 << 40);
        assert_eq!(ok("1.5k"), 1500);
        assert_eq!(ok("1.5KiB"), 1536);
        assert_eq!(ok(".5MiB"), 512 << 10);
        assert_eq!(ok(" 1 MiB "), 1 << 20);
        assert_eq!(ok(&usize::MAX.to_string()), usize::MAX);
    }

    #[test]
    fn sizes_refused() {
        let err = |s: &str| size(s).unwrap_err();
        assert_eq!(err(""), "empty: expected a size such as 65536, 64KiB or 1MB");
        assert_eq!(err("-1"), "must not be negative");
        assert_eq!(err("-1k"), "must not be negative");
        assert_eq!(err("nan"), "not a number: expected a size such as 65536, 64KiB or 1MB");
        assert_eq!(err("Infinity"), "not a number: expected a size such as 65536, 64KiB or 1MB");
        assert_eq!(err("MiB"), "expected a size such as 65536, 64KiB or 1MB, not \"MiB\"");
        assert_eq!(err("1XB"), "unknown unit \"XB\" (use B, k/KB, KiB, M/MB, MiB, G/GB, GiB, T/TB, TiB)");
        assert_eq!(err("1bit"), "unknown unit \"bit\" (use B, k/KB, KiB, M/MB, MiB, G/GB, GiB, T/TB, TiB)");
        assert_eq!(err("1k k"), "unknown unit \"k k\" (use B, k/KB, KiB, M/MB, MiB, G/GB, GiB, T/TB, TiB)");
        assert_eq!(err("1e6"), "unknown unit \"e6\" (use B, k/KB, KiB, M/MB, MiB, G/GB, GiB, T/TB, TiB)");
        assert_eq!(err("0.5"), "not a whole number of bytes: \"0.5\"");
        assert_eq!(err("1.0001k"), "not a whole number of bytes: \"1.0001k\"");
        assert!(
            err(&format!("{}0", usize::MAX)).starts_with("too large: at most 18446744073709551615 bytes")
        );
        assert!(err("99999999TiB").starts_with("too large"));
        assert_eq!(err(&"1".repeat(31)), "too many digits");
    }

    #[test]
    fn flag_parsers() {
        assert_eq!(seconds_nonzero("0").unwrap_err(), "must be more than 0");
        assert_eq!(seconds_nonzero("0ms").unwrap_err(), "must be more than 0");
        assert_eq!(seconds_nonzero("1ns").unwrap(), Duration::from_nanos(1));
        assert_eq!(whole_millis("3000").unwrap(), 3000);
        assert_eq!(whole_millis("3s").unwrap(), 3000);
        assert_eq!(whole_millis("3000ms").unwrap(), 3000);
        assert_eq!(whole_millis("0").unwrap(), 0);
        assert_eq!(whole_millis("1.5").unwrap_err(), "not a whole number of milliseconds: \"1.5\"");
        assert_eq!(whole_millis("-3").unwrap_err(), "must not be negative");
        assert_eq!(bytes_nonzero("0").unwrap_err(), "must be at least 1 byte");
        assert_eq!(bytes_nonzero("0KiB").unwrap_err(), "must be at least 1 byte");
        assert_eq!(bytes("0").unwrap(), 0);
        assert_eq!(positive("-5").unwrap_err(), "must be a positive number");
        assert_eq!(positive("0").unwrap_err(), "must be a positive number");
        assert_eq!(positive("NaN").unwrap_err(), "must be a finite number");
        assert_eq!(positive("inf").unwrap_err(), "must be a finite number");
        assert_eq!(positive("1e300").unwrap_err(), "too large");
        assert_eq!(positive("x").unwrap_err(), "not a number: \"x\"");
        assert_eq!(positive("0.5").unwrap(), 0.5);
        assert_eq!(positive("1e3").unwrap(), 1000.0);
        assert_eq!(non_negative("0").unwrap(), 0.0);
        assert_eq!(non_negative("-0.1").unwrap_err(), "must be a number >= 0");
        assert_eq!(count("0").unwrap_err(), "must be at least 1");
        assert_eq!(count("-5").unwrap_err(), "must not be negative");
        assert_eq!(count("1.5").unwrap_err(), "not a whole number: \"1.5\"");
        assert_eq!(count("10k").unwrap_err(), "not a whole number: \"10k\"");
        assert_eq!(count("").unwrap_err(), "not a whole number: \"\"");
        assert_eq!(count("100").unwrap(), 100);
        assert!(count(&format!("{}0", usize::MAX)).unwrap_err().starts_with("too large"));
        assert_eq!(whole("0").unwrap(), 0);
    }

    #[test]
    fn listen_addresses() {
        let ok = |s: &str| listen_addr(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(ok(":8080"), "0.0.0.0:8080");
        assert_eq!(ok("8080"), "127.0.0.1:8080");
        assert_eq!(ok("0"), "127.0.0.1:0");
        assert_eq!(ok(":0"), "0.0.0.0:0");
        assert_eq!(ok("127.0.0.1:8080"), "127.0.0.1:8080");
        assert_eq!(ok("0.0.0.0:80"), "0.0.0.0:80");
        assert_eq!(ok("[::1]:8080"), "[::1]:8080");
        assert_eq!(ok("[::]:8080"), "[::]:8080");
        assert_eq!(ok("localhost:8080"), "localhost:8080");
        assert_eq!(ok("example.com:0"), "example.com:0");
        let err = |s: &str| listen_addr(s).unwrap_err();
        assert_eq!(err("65536"), "port 65536 is past 65535");
        assert_eq!(err(":99999"), "port 99999 is past 65535");
        assert_eq!(err("localhost:70000"), "port 70000 is past 65535");
        assert_eq!(err(":http"), "expected HOST:PORT, [IPv6]:PORT, :PORT or PORT, not \":http\"");
        assert_eq!(err("localhost:"), "expected HOST:PORT, [IPv6]:PORT, :PORT or PORT, not \"localhost:\"");
        assert_eq!(err("localhost"), "expected HOST:PORT, [IPv6]:PORT, :PORT or PORT, not \"localhost\"");
        assert_eq!(err(""), "expected HOST:PORT, [IPv6]:PORT, :PORT or PORT, not \"\"");
        assert_eq!(err("::1"), "expected HOST:PORT, [IPv6]:PORT, :PORT or PORT, not \"::1\"");
        assert_eq!(err("-1"), "expected HOST:PORT, [IPv6]:PORT, :PORT or PORT, not \"-1\"");
        assert_eq!(err(":-1"), "expected HOST:PORT, [IPv6]:PORT, :PORT or PORT, not \":-1\"");
    }
}
