//! The environment's layer: `SSEHUB_` and a flag's name in capitals, `-` as `_`
//! (`SSEHUB_MAX_CONNECTIONS=16384`, `SSEHUB_NO_HTTP2=true`). Surrounding whitespace is trimmed
//! and a variable set but empty counts as unset; a repeatable flag takes a comma-separated list
//! (`SSEHUB_CHANNEL=a,b`); a switch takes true/false, 1/0, yes/no or on/off. Variables that name
//! no flag are not this layer's business and are left alone.

use std::ffi::OsString;

use super::error::{ConfigError, Place, Problem};
use super::layers::{Setting, Value};
use super::spec::{Kind, Specs};

/// Looks an environment variable up: the process's (`std::env::var_os`) or, in tests, a map.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<OsString>;

/// The settings the environment makes.
pub fn settings(specs: &Specs, env: Env<'_>) -> Result<Vec<Setting>, ConfigError> {
    let mut out = Vec::new();
    for spec in &specs.all {
        let var = spec.env_var();
        let Some(raw) = env(&var) else { continue };
        let refuse = |problem, why: String| ConfigError::new(Place::Env(var.clone()), None, problem, why);
        let Some(text) = raw.to_str() else {
            return Err(refuse(Problem::BadValue, "is not valid UTF-8".into()));
        };
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let check = |v: &str| specs.check_value(spec, v).map_err(|why| refuse(Problem::BadValue, why));
        let value = match spec.kind {
            Kind::Switch { .. } => match switch(text) {
                Some(on) => Value::Switch(on),
                None => {
                    let why = format!("expected true or false (1/0, yes/no, on/off), not {text:?}");
                    return Err(refuse(Problem::WrongType, why));
                }
            },
            Kind::Count => match text.parse::<u8>() {
                Ok(n) => Value::Count(n),
                Err(_) => return Err(refuse(Problem::WrongType, format!("expected 0 to 255, not {text:?}"))),
            },
            Kind::One => {
                check(text)?;
                Value::One(text.to_owned())
            }
            Kind::Many => {
                let items: Vec<String> =
                    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
                if let Err((_, why)) = specs.check_values(spec, &items) {
                    return Err(refuse(Problem::BadValue, why));
                }
                Value::Many(items)
            }
        };
        out.push(Setting { id: spec.id.clone(), key: spec.key.clone(), value, place: Place::Env(var) });
    }
    Ok(out)
}

/// A switch's value as people write it in the environment.
fn switch(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::tests::root;

    fn load(vars: &[(&str, &str)]) -> Result<Vec<(String, Value)>, ConfigError> {
        let map: BTreeMap<String, OsString> =
            vars.iter().map(|(k, v)| (k.to_string(), OsString::from(v))).collect();
        let specs = Specs::of(&root(), "serve").unwrap();
        let got = settings(&specs, &|name| map.get(name).cloned())?;
        Ok(got.into_iter().map(|s| (s.key, s.value)).collect())
    }

    #[test]
    fn variables_are_the_flags_in_capitals() {
        let got = load(&[
            ("SSEHUB_MAX_CONNECTIONS", " 100\n"),
            ("SSEHUB_NO_HTTP2", "yes"),
            ("SSEHUB_CHANNEL", "a, b,,c"),
            ("SSEHUB_PATH", ""),
            ("SSEHUB_REQUIRE_TOOLS", "redis-server"),
            ("SSEHUB_PUBLISH_TOKEN", "t0k"),
        ])
        .unwrap();
        assert!(got.contains(&("max-connections".into(), Value::One("100".into()))));
        assert!(got.contains(&("no-http2".into(), Value::Switch(true))));
        assert!(got.contains(&("channel".into(), Value::Many(vec!["a".into(), "b".into(), "c".into()]))));
        assert!(got.contains(&("publish-token".into(), Value::One("t0k".into()))));
        assert_eq!(got.len(), 4, "{got:?}");
    }

    #[test]
    fn a_bad_variable_is_named() {
        let e = load(&[("SSEHUB_MAX_QUEUE_BYTES", "1XB")]).unwrap_err();
        assert!(
            e.to_string().starts_with("SSEHUB_MAX_QUEUE_BYTES: invalid value \"1XB\": unknown unit"),
            "{e}"
        );
        let e = load(&[("SSEHUB_NO_HTTP2", "maybe")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "SSEHUB_NO_HTTP2: expected true or false (1/0, yes/no, on/off), not \"maybe\""
        );
        assert_eq!(e.problem, Problem::WrongType);
    }
}
