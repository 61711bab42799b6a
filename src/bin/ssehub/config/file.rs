//! A config file read: TOML parsed with the byte span of every key and value (toml's own parser,
//! `toml::de::DeTable`, without serde: the keys are not known until run time, so there is no
//! struct to derive), each top-level key matched to a flag, each value turned into the flag's
//! argument strings and judged by the flag's own value parser. Every refusal names the file, the
//! line and the key.

use std::io::Read;
use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::error::{ConfigError, Place, Problem};
use super::layers::{Setting, Value};
use super::spec::{CONFIG_ID, Kind, Spec, Specs};

/// The largest config file read: a page of settings is a few KiB; past this it is no config.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// The text of the file at `path`: at most [`MAX_FILE_BYTES`], UTF-8.
pub fn read(path: &Path) -> Result<String, ConfigError> {
    let refuse = |why: String| ConfigError::new(place(path, None), None, Problem::Read, why);
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| refuse(format!("cannot read the config file: {e}")))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(refuse(format!("the config file is larger than {} KiB", MAX_FILE_BYTES >> 10)));
    }
    String::from_utf8(bytes).map_err(|e| {
        let line = line_of(e.as_bytes(), e.utf8_error().valid_up_to());
        ConfigError::new(place(path, Some(line)), None, Problem::Read, "the config file is not UTF-8 text")
    })
}

/// The settings the file at `path`, whose text is `text`, makes.
pub fn settings(specs: &Specs, path: &Path, text: &str) -> Result<Vec<Setting>, ConfigError> {
    let table = DeTable::parse(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text.as_bytes(), s.start));
        let what = e.message().lines().next().unwrap_or("").trim_end();
        ConfigError::new(place(path, line), None, Problem::Syntax, format!("not valid TOML: {what}"))
    })?;
    // In the file's order, so the first mistake reported is the first in the file.
    let mut entries: Vec<_> = table.get_ref().iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    let mut out = Vec::new();
    for (key, value) in entries {
        let line = line_of(text.as_bytes(), key.span().start);
        let key = key.get_ref().as_ref();
        let Some(spec) = specs.find(key) else {
            let why = unknown(specs, key, value.get_ref());
            return Err(ConfigError::new(place(path, Some(line)), Some(key), Problem::UnknownKey, why));
        };
        let refuse = |item: &Spanned<DeValue<'_>>, problem, why: String| {
            let at = place(path, Some(line_of(text.as_bytes(), item.span().start)));
            ConfigError::new(at, Some(key), problem, why)
        };
        let value = value_of(specs, spec, value, &refuse)?;
        out.push(Setting {
            id: spec.id.clone(),
            key: spec.key.clone(),
            value,
            place: place(path, Some(line)),
        });
    }
    Ok(out)
}

/// Why `key` (with `value`) is no key.
fn unknown(specs: &Specs, key: &str, value: &DeValue<'_>) -> String {
    match key {
        CONFIG_ID => "a config file cannot name another; give it with --config or SSEHUB_CONFIG".to_owned(),
        _ if value.is_table() => {
            format!("unknown key: serve has no --{key}, and the file has no [tables]: keys go at the top")
        }
        _ => match specs.nearest(key) {
            Some(near) => format!("unknown key: serve has no --{key} (did you mean `{near}`?)"),
            None => format!("unknown key: serve has no --{key}"),
        },
    }
}

/// What `refuse` makes of a mistake in a value: the (part of the) value at fault, the kind of
/// mistake and why.
type Refuse<'a> = dyn Fn(&Spanned<DeValue<'_>>, Problem, String) -> ConfigError + 'a;

/// `value`, of the TOML type flag `spec` takes, as the flag's value; each text judged by the
/// flag's value parser.
fn value_of(
    specs: &Specs,
    spec: &Spec,
    value: &Spanned<DeValue<'_>>,
    refuse: &Refuse<'_>,
) -> Result<Value, ConfigError> {
    let judged = |item: &Spanned<DeValue<'_>>, text: String| match specs.check_value(spec, &text) {
        Ok(()) => Ok(text),
        Err(why) => Err(refuse(item, Problem::BadValue, why)),
    };
    match (spec.kind, value.get_ref()) {
        (Kind::Switch { .. }, DeValue::Boolean(b)) => Ok(Value::Switch(*b)),
        (Kind::Switch { .. }, other) => {
            Err(refuse(value, Problem::WrongType, wanted("true or false", other)))
        }
        (Kind::Count, DeValue::Integer(_)) => match scalar(value).ok().and_then(|n| n.parse::<u8>().ok()) {
            Some(n) => Ok(Value::Count(n)),
            None => Err(refuse(value, Problem::BadValue, "must be 0 to 255".into())),
        },
        (Kind::Count, other) => Err(refuse(value, Problem::WrongType, wanted("a whole number", other))),
        (Kind::One, DeValue::Array(_)) => {
            let why = "takes one value, not an array (the flag is not repeatable)".to_owned();
            Err(refuse(value, Problem::WrongType, why))
        }
        (Kind::One, other) => match scalar(value) {
            Ok(text) => Ok(Value::One(judged(value, text)?)),
            Err(()) => Err(refuse(value, Problem::WrongType, wanted("a string or a number", other))),
        },
        (Kind::Many, other) => {
            let items: Vec<&Spanned<DeValue<'_>>> = match other {
                DeValue::Array(items) => items.iter().collect(),
                _ => vec![value],
            };
            let mut texts = Vec::new();
            for item in &items {
                texts.push(scalar(item).map_err(|()| {
                    let why = wanted("a string or a number (or an array of them)", item.get_ref());
                    refuse(item, Problem::WrongType, why)
                })?);
            }
            match specs.check_values(spec, &texts) {
                Ok(()) => Ok(Value::Many(texts)),
                Err((i, why)) => Err(refuse(items[i], Problem::BadValue, why)),
            }
        }
    }
}

fn place(path: &Path, line: Option<usize>) -> Place {
    Place::File { path: path.to_owned(), line }
}

/// A string or a number as the flag's argument text (an integer in decimal, a float as
/// written, `_` removed); `Err` for any other TOML type.
fn scalar(value: &Spanned<DeValue<'_>>) -> Result<String, ()> {
    match value.get_ref() {
        DeValue::String(s) => Ok(s.to_string()),
        DeValue::Integer(i) => match i128::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => Ok(n.to_string()),
            // Past i128: as written, for the flag's parser to refuse with its own reason.
            Err(_) => {
                let prefix = match i.radix() {
                    16 => "0x",
                    8 => "0o",
                    2 => "0b",
                    _ => "",
                };
                Ok(format!("{prefix}{}", i.as_str()))
            }
        },
        DeValue::Float(f) => Ok(f.as_str().replace('_', "")),
        _ => Err(()),
    }
}

/// "expected WHAT, found a TYPE".
fn wanted(what: &str, found: &DeValue<'_>) -> String {
    let kind = found.type_str();
    let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    format!("expected {what}, found {article} {kind}")
}

/// The 1-based line of byte `at` in `text`.
fn line_of(text: &[u8], at: usize) -> usize {
    1 + text[..at.min(text.len())].iter().filter(|&&b| b == b'\n').count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::root;

    fn load(text: &str) -> Result<Vec<Setting>, ConfigError> {
        settings(&Specs::of(&root(), "serve").unwrap(), Path::new("/etc/ssehub.toml"), text)
    }

    fn refusal(text: &str) -> (Problem, String) {
        let e = load(text).unwrap_err();
        (e.problem, e.to_string())
    }

    #[test]
    fn keys_are_flag_names_with_toml_types() {
        let got = load(
            "# the node\naddr = \"0.0.0.0:8080\"\nmax-connections = 0x10\nchannel = [\"a\", 7]\n\
             no-http2 = true\nrate = 1_000.5\ncors-origin = \"*\"\n",
        )
        .unwrap();
        let values: Vec<(&str, &Value, String)> =
            got.iter().map(|s| (s.key.as_str(), &s.value, s.place.to_string())).collect();
        assert_eq!(
            values,
            [
                ("addr", &Value::One("0.0.0.0:8080".into()), "/etc/ssehub.toml:2".into()),
                ("max-connections", &Value::One("16".into()), "/etc/ssehub.toml:3".into()),
                ("channel", &Value::Many(vec!["a".into(), "7".into()]), "/etc/ssehub.toml:4".into()),
                ("no-http2", &Value::Switch(true), "/etc/ssehub.toml:5".into()),
                ("rate", &Value::One("1000.5".into()), "/etc/ssehub.toml:6".into()),
                ("cors-origin", &Value::Many(vec!["*".into()]), "/etc/ssehub.toml:7".into()),
            ]
        );
        assert_eq!(got[2].id, "channels");
        assert!(load("").unwrap().is_empty());
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line() {
        let (p, e) = refusal("addr = \":1\"\n\nmax_connections = 5\n");
        assert_eq!(p, Problem::UnknownKey);
        assert_eq!(
            e,
            "/etc/ssehub.toml:3: max_connections: unknown key: serve has no --max_connections \
             (did you mean `max-connections`?)"
        );
        let (_, e) = refusal("[serve]\naddr = \":1\"\n");
        assert!(
            e.starts_with("/etc/ssehub.toml:1: serve: unknown key") && e.ends_with("keys go at the top"),
            "{e}"
        );
        let (_, e) = refusal("config = \"other.toml\"\n");
        assert!(e.starts_with("/etc/ssehub.toml:1: config: a config file cannot name another"), "{e}");
        let (_, e) = refusal("jwt.secret = \"x\"\n");
        assert!(e.starts_with("/etc/ssehub.toml:1: jwt: unknown key"), "{e}");
    }

    #[test]
    fn a_wrong_type_is_named_with_its_line() {
        let cases = [
            ("no-http2 = \"true\"", "no-http2: expected true or false, found a string"),
            ("addr = [\"a\", \"b\"]", "addr: takes one value, not an array (the flag is not repeatable)"),
            ("path = { x = 1 }", "path: expected a string or a number, found a table"),
            ("path = true", "path: expected a string or a number, found a boolean"),
            ("path = 1979-05-27", "path: expected a string or a number, found a datetime"),
        ];
        for (line, want) in cases {
            let (p, e) = refusal(&format!("\n{line}\n"));
            assert_eq!((p, e), (Problem::WrongType, format!("/etc/ssehub.toml:2: {want}")));
        }
        let (_, e) = refusal("channel = [\n  \"a\",\n  [\"b\"],\n]\n");
        assert_eq!(
            e,
            "/etc/ssehub.toml:3: channel: expected a string or a number (or an array of them), found an array"
        );
    }

    #[test]
    fn a_bad_value_is_named_with_its_line_and_the_flags_reason() {
        let (p, e) = refusal("\n\nmax-queue-bytes = \"1XB\"\n");
        assert_eq!(p, Problem::BadValue);
        assert!(
            e.starts_with("/etc/ssehub.toml:3: max-queue-bytes: invalid value \"1XB\": unknown unit"),
            "{e}"
        );
        let (_, e) = refusal("rate = -5");
        assert_eq!(e, "/etc/ssehub.toml:1: rate: invalid value \"-5\": must be a positive number");
        let (_, e) = refusal("max-concurrent-streams = 5000000000");
        assert!(
            e.starts_with("/etc/ssehub.toml:1: max-concurrent-streams: invalid value \"5000000000\""),
            "{e}"
        );
        let (_, e) = refusal("addr = 70000");
        assert!(e.ends_with("port 70000 is past 65535"), "{e}");
    }

    #[test]
    fn a_syntax_error_is_named_with_its_line() {
        let (p, e) = refusal("addr = \":1\"\npath = \"/sse\n");
        assert_eq!(p, Problem::Syntax);
        assert!(e.starts_with("/etc/ssehub.toml:2: not valid TOML: "), "{e}");
        let (_, e) = refusal("addr = \":1\"\n\naddr = \":2\"\n");
        assert!(e.starts_with("/etc/ssehub.toml:3: not valid TOML: "), "{e}");
        assert!(!e.contains('\n'), "one line: {e}");
    }

    #[test]
    fn a_missing_big_or_binary_file_is_refused() {
        let e = read(Path::new("/nonexistent/ssehub.toml")).unwrap_err();
        assert_eq!(e.problem, Problem::Read);
        assert!(e.to_string().starts_with("/nonexistent/ssehub.toml: cannot read the config file: "), "{e}");
        let dir = std::env::temp_dir().join(format!("ssehub-config-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let big = dir.join("big.toml");
        std::fs::write(&big, vec![b'#'; MAX_FILE_BYTES as usize + 1]).unwrap();
        assert!(read(&big).unwrap_err().message.contains("larger than 1024 KiB"));
        let binary = dir.join("binary.toml");
        std::fs::write(&binary, b"addr = \":1\"\n\xff\n").unwrap();
        assert_eq!(
            read(&binary).unwrap_err().to_string(),
            format!("{}:2: the config file is not UTF-8 text", binary.display())
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn secrets_stay_out_of_messages() {
        let (_, e) = refusal("publish-token = [\"s3cret\"]");
        assert!(!e.contains("s3cret"), "{e}");
    }
}
