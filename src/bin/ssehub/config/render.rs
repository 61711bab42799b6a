//! Config files written: `config example` (every flag at its default, its help as the comment)
//! and `config check`'s effective configuration (each setting where it came from, secrets as
//! `***`). Both are TOML the loader reads back.

use std::fmt::Write as _;

use toml_writer::ToTomlValue as _;

use super::layers::{Setting, Value, value_argv};
use super::spec::{Kind, Spec, Specs};

/// The comment width.
const WIDTH: usize = 100;

/// `ssehub config example`: every flag of `serve` at its default, its help as a comment; a flag
/// without a default is commented out, its value's name in its place.
pub fn example(specs: &Specs) -> String {
    let mut out = String::new();
    comment(
        &mut out,
        "A configuration file for `ssehub serve --config FILE` (or SSEHUB_CONFIG=FILE), as `ssehub \
         config example` prints it: every flag of `ssehub serve`, at its default. The keys are the \
         long flag names. A flag on the command line beats its SSEHUB_* environment variable (the \
         name in capitals, `-` as `_`: SSEHUB_MAX_CONNECTIONS), which beats this file. Flags \
         without a default are commented out. Check a file with `ssehub config check FILE`.",
    );
    for spec in specs.all.iter().filter(|s| !s.hidden) {
        out.push('\n');
        comment(&mut out, &spec.help);
        match default(spec) {
            Some(value) => {
                // A default that needs another flag (`redis-namespace`, only with `redis`) would
                // make the file a mistake without it.
                let needs = specs.needs(value_argv(spec, &value));
                let hash = if needs.is_empty() { "" } else { "# " };
                let _ = writeln!(out, "{hash}{} = {}{}", spec.key, toml(&value, false), needs_note(&needs));
            }
            None => {
                let placeholder = match spec.kind {
                    Kind::Many => format!("[{}]", spec.value_name.to_toml_value()),
                    _ => spec.value_name.to_toml_value(),
                };
                let _ = writeln!(out, "# {} = {placeholder}", spec.key);
            }
        }
    }
    out
}

/// `ssehub config check`: the value of every flag (`settings` over the defaults), each not at its
/// default followed by where it came from; those with no value commented out.
pub fn effective(specs: &Specs, settings: &[Setting], from: &str) -> String {
    let mut out = String::new();
    comment(
        &mut out,
        &format!(
            "The effective configuration of `ssehub serve` from {from}, the SSEHUB_* environment \
             and the defaults (`ssehub config check`); secrets shown as \"***\"."
        ),
    );
    for spec in specs.all.iter() {
        let set = settings.iter().find(|s| s.id == spec.id);
        match (set, default(spec)) {
            (Some(s), _) => {
                let _ = writeln!(out, "{} = {}  # {}", spec.key, toml(&s.value, spec.secret), s.place);
            }
            (None, Some(value)) => {
                let needs = specs.needs(value_argv(spec, &value));
                let missing: Vec<String> =
                    needs.into_iter().filter(|k| !settings.iter().any(|s| &s.key == k)).collect();
                let hash = if missing.is_empty() { "" } else { "# " };
                let _ = writeln!(
                    out,
                    "{hash}{} = {}{}",
                    spec.key,
                    toml(&value, spec.secret),
                    needs_note(&missing)
                );
            }
            (None, None) => {
                let _ = writeln!(out, "# {} is not set", spec.key);
            }
        }
    }
    out
}

/// "  # only with KEY" for a default that needs other flags.
fn needs_note(needs: &[String]) -> String {
    match needs {
        [] => String::new(),
        keys => format!("  # only with {}", keys.join(", ")),
    }
}

/// The default of `spec` as a value; `None` when it has none.
fn default(spec: &Spec) -> Option<Value> {
    let first = spec.defaults.first();
    match spec.kind {
        Kind::Switch { given } => Some(Value::Switch(first.map_or(!given, |d| d == "true"))),
        Kind::Count => Some(Value::Count(first.and_then(|d| d.parse().ok()).unwrap_or(0))),
        Kind::One => first.map(|d| Value::One(d.clone())),
        Kind::Many if spec.defaults.is_empty() => None,
        Kind::Many => Some(Value::Many(spec.defaults.clone())),
    }
}

/// `value` as TOML: a whole number bare, any other text quoted; `***` for a secret, and the
/// password of a URL hidden in any case.
fn toml(value: &Value, secret: bool) -> String {
    let text = |s: &str| match s.parse::<i64>() {
        Ok(n) if n.to_string() == s && !secret => s.to_owned(),
        _ if secret => "***".to_toml_value(),
        _ => hide_url_password(s).to_toml_value(),
    };
    match value {
        Value::Switch(on) => on.to_string(),
        Value::Count(n) => n.to_string(),
        Value::One(s) => text(s),
        Value::Many(items) => format!("[{}]", items.iter().map(|s| text(s)).collect::<Vec<_>>().join(", ")),
    }
}

/// `s` with the password of a URL in it as `***`: the userinfo's (`redis://user:pw@host`) and a
/// `password=` or `pass=` query parameter's.
pub fn hide_url_password(s: &str) -> String {
    let Some(scheme_end) = s.find("://") else { return s.to_owned() };
    let authority_start = scheme_end + 3;
    let authority_end = s[authority_start..].find(['/', '?', '#']).map_or(s.len(), |i| authority_start + i);
    let mut out = s[..authority_start].to_owned();
    let authority = &s[authority_start..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.find(':') {
                Some(colon) => out.push_str(&format!("{}:***{}", &userinfo[..colon], &authority[at..])),
                None => out.push_str(authority),
            }
        }
        None => out.push_str(authority),
    }
    let rest = &s[authority_end..];
    match rest.find('?') {
        Some(q) => {
            out.push_str(&rest[..=q]);
            let (query, fragment) =
                rest[q + 1..].split_once('#').map_or((&rest[q + 1..], None), |(a, b)| (a, Some(b)));
            let params: Vec<String> = query
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((name, _)) if matches!(name.to_ascii_lowercase().as_str(), "password" | "pass") => {
                        format!("{name}=***")
                    }
                    _ => p.to_owned(),
                })
                .collect();
            out.push_str(&params.join("&"));
            if let Some(fragment) = fragment {
                out.push('#');
                out.push_str(fragment);
            }
        }
        None => out.push_str(rest),
    }
    out
}

/// `text` as `# ` comment lines of at most [`WIDTH`] columns, its paragraphs kept.
fn comment(out: &mut String, text: &str) {
    for (i, paragraph) in text.split("\n\n").enumerate() {
        if i > 0 {
            out.push_str("#\n");
        }
        let mut line = String::from("#");
        for word in paragraph.split_whitespace() {
            if line.len() > 1 && line.len() + 1 + word.len() > WIDTH {
                out.push_str(&line);
                out.push('\n');
                line = String::from("#");
            }
            line.push(' ');
            line.push_str(word);
        }
        out.push_str(&line);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::error::Place;
    use crate::config::tests::root;

    #[test]
    fn passwords_in_urls_are_hidden() {
        assert_eq!(hide_url_password("redis://:s3cret@10.0.0.1:6379/2"), "redis://:***@10.0.0.1:6379/2");
        assert_eq!(hide_url_password("rediss://app:s3cret@h/"), "rediss://app:***@h/");
        assert_eq!(hide_url_password("redis://app@h:1"), "redis://app@h:1");
        assert_eq!(
            hide_url_password("redis+unix:///run/r.sock?db=1&pass=x#f"),
            "redis+unix:///run/r.sock?db=1&pass=***#f"
        );
        assert_eq!(hide_url_password("redis://h:1"), "redis://h:1");
        assert_eq!(hide_url_password("/sse"), "/sse");
    }

    #[test]
    fn values_are_toml() {
        assert_eq!(toml(&Value::One("16384".into()), false), "16384");
        assert_eq!(toml(&Value::One("007".into()), false), "\"007\"");
        for odd in ["a \"b\"\n", "it's", "tab\there", "\\", "ünï"] {
            let written = toml(&Value::One(odd.into()), false);
            let read = toml::de::DeValue::parse(&written).unwrap();
            assert_eq!(read.get_ref().as_str(), Some(odd), "{written}");
        }
        assert_eq!(toml(&Value::One("s3cret".into()), true), "\"***\"");
        assert_eq!(toml(&Value::One("12345".into()), true), "\"***\"");
        assert_eq!(toml(&Value::Many(vec!["a".into(), "1".into()]), false), "[\"a\", 1]");
        assert_eq!(toml(&Value::Switch(true), false), "true");
    }

    #[test]
    fn comments_wrap_and_keep_paragraphs() {
        let mut out = String::new();
        comment(&mut out, &format!("{}\n\nsecond", "word ".repeat(30)));
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines.iter().all(|l| l.len() <= WIDTH && l.starts_with('#')), "{out}");
        assert_eq!(lines[lines.len() - 2..], ["#", "# second"]);
    }

    #[test]
    fn the_effective_configuration_says_where_each_setting_came_from() {
        let specs = Specs::of(&root(), "serve").unwrap();
        let place = Place::File { path: "c.toml".into(), line: Some(2) };
        let settings = [
            Setting { id: "addr".into(), key: "addr".into(), value: Value::One(":9".into()), place },
            Setting {
                id: "publish_token".into(),
                key: "publish-token".into(),
                value: Value::One("s3cret".into()),
                place: Place::Env("SSEHUB_PUBLISH_TOKEN".into()),
            },
        ];
        let out = effective(&specs, &settings, "c.toml");
        assert!(out.contains("\naddr = \":9\"  # c.toml:2\n"), "{out}");
        assert!(out.contains("\npublish-token = \"***\"  # SSEHUB_PUBLISH_TOKEN\n"), "{out}");
        assert!(out.contains("\npath = \"/sse\"\n"), "{out}");
        assert!(out.contains("\n# rate is not set\n"), "{out}");
        assert!(out.contains("\nno-http2 = false\n"), "{out}");
        assert!(!out.contains("s3cret"));
    }
}
