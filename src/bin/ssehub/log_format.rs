//! How a `log` record becomes a line on stderr, and which records are wanted.
//!
//! * [`Format::Human`]: `ssehub: <message>` (`ssehub: warning: ...`, `ssehub: error: ...`), as
//!   the command has always written; the message says everything.
//! * [`Format::Json`]: one JSON object a line: `ts` (RFC 3339, UTC, milliseconds), `level`,
//!   `target`, `msg`, then the record's key-values as fields (numbers and booleans as such,
//!   everything else as strings; `channels`, which the library gives as JSON array text, as an
//!   array). A key-value named like one of the four first fields is written `kv_<name>`.
//! * [`Filter`]: a level for everything, and levels for targets (`RUST_LOG`'s
//!   `info,ssehub::access=off` form; the longest matching target prefix wins).

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use log::kv::{self, VisitSource, VisitValue};
use log::{Level, LevelFilter, Record};

/// `--log-format`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `ssehub: <message>` lines.
    #[default]
    Human,
    /// One JSON object a line.
    Json,
}

/// `--log-level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl From<LogLevel> for LevelFilter {
    fn from(l: LogLevel) -> LevelFilter {
        match l {
            LogLevel::Error => LevelFilter::Error,
            LogLevel::Warn => LevelFilter::Warn,
            LogLevel::Info => LevelFilter::Info,
            LogLevel::Debug => LevelFilter::Debug,
            LogLevel::Trace => LevelFilter::Trace,
        }
    }
}

/// Which records are written: a level for every target, and levels for some.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    default: LevelFilter,
    /// Target prefixes and their levels.
    targets: Vec<(String, LevelFilter)>,
}

impl Filter {
    /// One level for everything.
    pub fn level(level: LevelFilter) -> Filter {
        Filter { default: level, targets: Vec::new() }
    }

    /// Reads `RUST_LOG`'s form: comma-separated directives, each a level (`error`, `warn`,
    /// `info`, `debug`, `trace`, `off`; any case) or `TARGET=LEVEL`. The last bare level is the
    /// default (else `info`).
    pub fn parse(spec: &str) -> Result<Filter, String> {
        let mut filter = Filter::level(LevelFilter::Info);
        for directive in spec.split(',').map(str::trim).filter(|d| !d.is_empty()) {
            match directive.split_once('=') {
                None => filter.default = level_named(directive)?,
                Some((target, level)) => {
                    let target = target.trim();
                    if target.is_empty() {
                        return Err(format!("{directive:?} names no target (TARGET=LEVEL)"));
                    }
                    filter.targets.push((target.to_owned(), level_named(level.trim())?));
                }
            }
        }
        Ok(filter)
    }

    /// The level for `target`: that of the longest target prefix named (at a `::` boundary),
    /// else the default.
    pub fn level_for(&self, target: &str) -> LevelFilter {
        self.targets
            .iter()
            .filter(|(prefix, _)| {
                target
                    .strip_prefix(prefix.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
            })
            .max_by_key(|(prefix, _)| prefix.len())
            .map_or(self.default, |(_, level)| *level)
    }

    /// The most verbose level anything may be written at.
    pub fn max(&self) -> LevelFilter {
        self.targets.iter().map(|(_, l)| *l).fold(self.default, std::cmp::max)
    }
}

fn level_named(name: &str) -> Result<LevelFilter, String> {
    name.parse::<LevelFilter>()
        .map_err(|_| format!("unknown level {name:?} (error, warn, info, debug, trace or off)"))
}

/// `record` as a line (with its newline) in `format`, stamped `now` (JSON only).
pub fn line(format: Format, record: &Record<'_>, now: SystemTime) -> Vec<u8> {
    match format {
        Format::Human => human(record),
        Format::Json => json(record, now),
    }
}

fn human(record: &Record<'_>) -> Vec<u8> {
    let level = match record.level() {
        Level::Error => "error: ",
        Level::Warn => "warning: ",
        _ => "",
    };
    format!("ssehub: {level}{}\n", record.args()).into_bytes()
}

/// Fields every JSON line has; a key-value of the same name is renamed `kv_<name>`.
const RESERVED: [&str; 4] = ["ts", "level", "target", "msg"];
/// Key-values given as JSON text (the library's lists), written as the JSON they are.
const JSON_VALUED: [&str; 1] = ["channels"];

fn json(record: &Record<'_>, now: SystemTime) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"ts\":");
    string(&mut out, &rfc3339(now));
    out.extend_from_slice(b",\"level\":");
    string(&mut out, &record.level().as_str().to_ascii_lowercase());
    out.extend_from_slice(b",\"target\":");
    string(&mut out, record.target());
    out.extend_from_slice(b",\"msg\":");
    string(&mut out, &record.args().to_string());
    let _ = record.key_values().visit(&mut Fields { out: &mut out });
    out.extend_from_slice(b"}\n");
    out
}

/// Appends `s` as a JSON string.
fn string(out: &mut Vec<u8>, s: &str) {
    // Serializing a str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

struct Fields<'a> {
    out: &'a mut Vec<u8>,
}

impl<'kvs> VisitSource<'kvs> for Fields<'_> {
    fn visit_pair(&mut self, key: kv::Key<'kvs>, value: kv::Value<'kvs>) -> Result<(), kv::Error> {
        let key = key.as_str();
        self.out.push(b',');
        if RESERVED.contains(&key) {
            string(self.out, &format!("kv_{key}"));
        } else {
            string(self.out, key);
        }
        self.out.push(b':');
        if JSON_VALUED.contains(&key) {
            let text = value.to_string();
            if let Ok(list @ serde_json::Value::Array(_)) = serde_json::from_str::<serde_json::Value>(&text) {
                let _ = serde_json::to_writer(&mut *self.out, &list);
                return Ok(());
            }
        }
        if value.visit(&mut JsonValue { out: self.out }).is_err() {
            string(self.out, &value.to_string());
        }
        Ok(())
    }
}

struct JsonValue<'a> {
    out: &'a mut Vec<u8>,
}

impl<'v> VisitValue<'v> for JsonValue<'_> {
    fn visit_any(&mut self, value: kv::Value<'_>) -> Result<(), kv::Error> {
        string(self.out, &value.to_string());
        Ok(())
    }

    fn visit_null(&mut self) -> Result<(), kv::Error> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn visit_u64(&mut self, value: u64) -> Result<(), kv::Error> {
        self.out.extend_from_slice(value.to_string().as_bytes());
        Ok(())
    }

    fn visit_i64(&mut self, value: i64) -> Result<(), kv::Error> {
        self.out.extend_from_slice(value.to_string().as_bytes());
        Ok(())
    }

    fn visit_u128(&mut self, value: u128) -> Result<(), kv::Error> {
        self.out.extend_from_slice(value.to_string().as_bytes());
        Ok(())
    }

    fn visit_i128(&mut self, value: i128) -> Result<(), kv::Error> {
        self.out.extend_from_slice(value.to_string().as_bytes());
        Ok(())
    }

    fn visit_f64(&mut self, value: f64) -> Result<(), kv::Error> {
        match serde_json::Number::from_f64(value) {
            Some(n) => self.out.extend_from_slice(n.to_string().as_bytes()),
            // JSON has no NaN or infinity.
            None => string(self.out, &value.to_string()),
        }
        Ok(())
    }

    fn visit_bool(&mut self, value: bool) -> Result<(), kv::Error> {
        self.out.extend_from_slice(if value { b"true" } else { b"false" });
        Ok(())
    }

    fn visit_str(&mut self, value: &str) -> Result<(), kv::Error> {
        string(self.out, value);
        Ok(())
    }

    fn visit_char(&mut self, value: char) -> Result<(), kv::Error> {
        string(self.out, value.encode_utf8(&mut [0; 4]));
        Ok(())
    }
}

/// `t` in RFC 3339, UTC, to the millisecond: `2026-12-02T01:35:06.123Z`. (Before the epoch:
/// the epoch.)
pub fn rfc3339(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    let mut s = String::with_capacity(24);
    let _ = write!(
        s,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_millis()
    );
    s
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis)
    }

    #[test]
    fn rfc3339_in_utc_to_the_millisecond() {
        assert_eq!(rfc3339(at(0, 0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(at(951_782_400, 7)), "2000-02-29T00:00:00.007Z", "a leap day");
        assert_eq!(rfc3339(at(1_796_175_306, 123)), "2026-12-02T01:35:06.123Z");
        assert_eq!(rfc3339(at(4_102_444_799, 999)), "2099-12-31T23:59:59.999Z");
        assert_eq!(rfc3339(UNIX_EPOCH - Duration::from_secs(5)), "1970-01-01T00:00:00.000Z");
    }

    /// Every day for 1,000 years agrees with a day-by-day count.
    #[test]
    fn civil_dates_agree_with_counting_days() {
        let (mut y, mut m, mut d) = (1970, 1, 1);
        for days in 0..365_250 {
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let len =
                [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m as usize - 1];
            d += 1;
            if d > len {
                (d, m) = (1, m + 1);
                if m > 12 {
                    (m, y) = (1, y + 1);
                }
            }
        }
    }

    fn parse(line: &[u8]) -> serde_json::Map<String, serde_json::Value> {
        assert_eq!(line.last(), Some(&b'\n'), "one line");
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1, "one line");
        match serde_json::from_slice(line) {
            Ok(serde_json::Value::Object(map)) => map,
            other => panic!("{other:?}: {}", String::from_utf8_lossy(line)),
        }
    }

    #[test]
    fn a_json_line_parses_back_with_its_fields_typed() {
        let path = "/a \"b\"\\\n\t\u{1}é";
        let channels = r#"["x","y\"z"]"#;
        let line = line(
            Format::Json,
            &Record::builder()
                .level(Level::Warn)
                .target("ssehub::access")
                .args(format_args!("said \"hi\"\nthen {}", "more"))
                .key_values(&[
                    ("path", kv::Value::from(path)),
                    ("events", kv::Value::from(3u64)),
                    ("delta", kv::Value::from(-2i64)),
                    ("ratio", kv::Value::from(0.5f64)),
                    ("nan", kv::Value::from(f64::NAN)),
                    ("tls", kv::Value::from(true)),
                    ("channels", kv::Value::from(channels)),
                    ("msg", kv::Value::from("clash")),
                    ("client", kv::Value::from_display(&"127.0.0.1:1")),
                ])
                .build(),
            at(1_796_175_306, 123),
        );
        let map = parse(&line);
        assert_eq!(map["ts"], "2026-12-02T01:35:06.123Z");
        assert_eq!(map["level"], "warn");
        assert_eq!(map["target"], "ssehub::access");
        assert_eq!(map["msg"], "said \"hi\"\nthen more");
        assert_eq!(map["path"], path, "escapes round-trip");
        assert_eq!(map["events"], 3);
        assert_eq!(map["delta"], -2);
        assert_eq!(map["ratio"], 0.5);
        assert_eq!(map["nan"], "NaN");
        assert_eq!(map["tls"], true);
        assert_eq!(map["channels"], serde_json::json!(["x", "y\"z"]));
        assert_eq!(map["kv_msg"], "clash");
        assert_eq!(map["client"], "127.0.0.1:1");
    }

    #[test]
    fn channels_that_are_not_a_json_list_stay_a_string() {
        let line = line(
            Format::Json,
            &Record::builder().args(format_args!("m")).key_values(&[("channels", "not [json")]).build(),
            at(0, 0),
        );
        assert_eq!(parse(&line)["channels"], "not [json");
    }

    #[test]
    fn human_lines_are_the_commands_own() {
        let rec = |level| {
            let text = line(
                Format::Human,
                &Record::builder().level(level).args(format_args!("went {}", "away")).build(),
                SystemTime::now(),
            );
            String::from_utf8(text).unwrap()
        };
        assert_eq!(rec(Level::Info), "ssehub: went away\n");
        assert_eq!(rec(Level::Warn), "ssehub: warning: went away\n");
        assert_eq!(rec(Level::Error), "ssehub: error: went away\n");
    }

    #[test]
    fn filters_by_level_and_target_prefix() {
        let f = Filter::parse("warn, ssehub::access=info,ssehub=error,rustls=OFF").unwrap();
        assert_eq!(f.level_for("ssehub::access"), LevelFilter::Info);
        assert_eq!(f.level_for("ssehub::server"), LevelFilter::Error);
        assert_eq!(f.level_for("ssehub"), LevelFilter::Error);
        assert_eq!(f.level_for("ssehubx"), LevelFilter::Warn, "a prefix ends at ::");
        assert_eq!(f.level_for("rustls::conn"), LevelFilter::Off);
        assert_eq!(f.level_for("other"), LevelFilter::Warn);
        assert_eq!(f.max(), LevelFilter::Info);
        assert_eq!(Filter::parse("").unwrap(), Filter::level(LevelFilter::Info));
        assert_eq!(Filter::parse("debug").unwrap().level_for("x"), LevelFilter::Debug);
        let e = Filter::parse("info,ssehub=loud").unwrap_err();
        assert!(e.contains("unknown level \"loud\""), "{e}");
        assert!(Filter::parse("=info").is_err());
        assert!(Filter::parse("verbose").is_err());
    }
}
