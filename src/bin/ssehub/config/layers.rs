//! The layers merged: each flag takes its value from the first of the command line, the
//! environment (`SSEHUB_*`), the config file, its default. What the environment and the file say
//! becomes command-line arguments (`--key=value`) appended to the real ones, so clap parses the
//! whole once more and judges how the flags go together as it always does; a refusal then is
//! traced back to the setting (file and line, or variable) that caused it.

use std::ffi::OsString;

use super::error::{ConfigError, Place, Problem, Refusal};
use super::spec::{Kind, Spec, Specs, clap_message, flags_in};

/// One flag's value from a file or the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    /// The flag's clap id.
    pub id: String,
    /// Its key (the long name).
    pub key: String,
    pub value: Value,
    pub place: Place,
}

/// A setting's value, as strings for clap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Switch(bool),
    One(String),
    Many(Vec<String>),
    Count(u8),
}

impl Setting {
    /// The command-line arguments that say what this setting says (none for a switch that is
    /// off, an empty list or a zero count: the flag's default).
    pub fn argv(&self, specs: &Specs) -> Vec<OsString> {
        match specs.by_id(&self.id) {
            Some(spec) => value_argv(spec, &self.value),
            None => Vec::new(),
        }
    }
}

/// The command-line arguments that give flag `spec` the value `value`.
pub fn value_argv(spec: &Spec, value: &Value) -> Vec<OsString> {
    let flag = format!("--{}", spec.key);
    match (value, spec.kind) {
        (Value::Switch(on), Kind::Switch { given }) if *on == given => vec![flag.into()],
        (Value::Switch(_), _) => Vec::new(),
        (Value::One(v), _) => vec![format!("{flag}={v}").into()],
        (Value::Many(vs), _) => vs.iter().map(|v| format!("{flag}={v}").into()).collect(),
        (Value::Count(n), _) => (0..*n).map(|_| flag.clone().into()).collect(),
    }
}

/// The settings that stand: `env`'s for flags not on the command line (`on_cli`, ids), then
/// `file`'s for flags in neither. A setting that conflicts with a flag given in a higher layer
/// gives way to it (`SSEHUB_PUBLISH_TOKEN` over the file's `publish-token-file`); conflicts within
/// one layer are left for clap to refuse.
pub fn merge(specs: &Specs, on_cli: &[String], env: Vec<Setting>, file: Vec<Setting>) -> Vec<Setting> {
    let mut taken: Vec<String> = on_cli.to_vec();
    let mut active: Vec<String> = on_cli.to_vec();
    let mut chosen = Vec::new();
    for layer in [env, file] {
        let mut this_layer = Vec::new();
        for setting in layer {
            let overridden = taken.contains(&setting.id);
            let excluded = active.iter().any(|higher| specs.conflict(higher, &setting.id));
            if !overridden && !excluded {
                this_layer.push(setting);
            }
        }
        for setting in &this_layer {
            taken.push(setting.id.clone());
            if !setting.argv(specs).is_empty() {
                active.push(setting.id.clone());
            }
        }
        chosen.extend(this_layer);
    }
    chosen
}

/// The command-line arguments of `settings`.
pub fn argv(specs: &Specs, settings: &[Setting]) -> Vec<OsString> {
    settings.iter().flat_map(|s| s.argv(specs)).collect()
}

/// `parse`s the real command line with `settings`' arguments appended. A clap refusal that one
/// of the settings causes (it conflicts with another flag, or needs one that is not given) names
/// that setting's place and key; one the command line alone causes stays clap's.
pub fn parse_with<T>(
    specs: &Specs,
    settings: &[Setting],
    parse: impl Fn(&[OsString]) -> Result<T, clap::Error>,
) -> Result<T, Refusal> {
    let e = match parse(&argv(specs, settings)) {
        Ok(parsed) => return Ok(parsed),
        Err(e) => e,
    };
    match blame(specs, settings, &e, &parse) {
        Some(s) => {
            Err(ConfigError::new(s.place.clone(), Some(&s.key), Problem::Together, clap_message(&e)).into())
        }
        None => Err(Refusal::Clap(e)),
    }
}

/// The setting behind clap's refusal `e`: one that clap names, else the first whose absence
/// makes the refusal go.
fn blame<'s, T>(
    specs: &Specs,
    settings: &'s [Setting],
    e: &clap::Error,
    parse: &impl Fn(&[OsString]) -> Result<T, clap::Error>,
) -> Option<&'s Setting> {
    use clap::error::ContextKind;
    for kind in [ContextKind::InvalidArg, ContextKind::PriorArg] {
        let Some(named) = e.get(kind) else { continue };
        for flag in flags_in(&named.to_string()) {
            if let Some(s) = settings.iter().find(|s| s.key == flag) {
                return Some(s);
            }
        }
    }
    let why = clap_message(e);
    (0..settings.len()).find_map(|i| {
        let mut rest = settings.to_vec();
        rest.remove(i);
        let gone = match parse(&argv(specs, &rest)) {
            Ok(_) => true,
            Err(other) => clap_message(&other) != why,
        };
        gone.then_some(&settings[i])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::root;

    fn specs() -> Specs {
        Specs::of(&root(), "serve").unwrap()
    }

    fn set(id: &str, value: Value, place: Place) -> Setting {
        let key = specs().by_id(id).unwrap().key.clone();
        Setting { id: id.into(), key, value, place }
    }

    fn file(line: usize) -> Place {
        Place::File { path: "c.toml".into(), line: Some(line) }
    }

    #[test]
    fn the_command_line_beats_the_environment_beats_the_file() {
        let s = specs();
        let env = vec![
            set("path", Value::One("/env".into()), Place::Env("SSEHUB_PATH".into())),
            set("metrics_path", Value::One("/m-env".into()), Place::Env("SSEHUB_METRICS_PATH".into())),
        ];
        let from_file = vec![
            set("addr", Value::One("127.0.0.1:1".into()), file(1)),
            set("path", Value::One("/file".into()), file(2)),
            set("metrics_path", Value::One("/m-file".into()), file(3)),
        ];
        let on_cli = vec!["metrics_path".to_owned()];
        let chosen = merge(&s, &on_cli, env, from_file);
        let ids: Vec<(&str, &Place)> = chosen.iter().map(|c| (c.id.as_str(), &c.place)).collect();
        assert_eq!(ids, [("path", &Place::Env("SSEHUB_PATH".into())), ("addr", &file(1))]);
        assert_eq!(argv(&s, &chosen), ["--path=/env", "--addr=127.0.0.1:1"]);
    }

    #[test]
    fn a_setting_gives_way_to_a_conflicting_flag_from_a_higher_layer() {
        let s = specs();
        let env =
            vec![set("publish_token", Value::One("t".into()), Place::Env("SSEHUB_PUBLISH_TOKEN".into()))];
        let from_file = vec![
            set("publish_token_file", Value::One("/tok".into()), file(1)),
            set("tls_cert", Value::One("c.pem".into()), file(2)),
        ];
        let chosen = merge(&s, &["tls_self_signed".to_owned()], env, from_file);
        assert_eq!(chosen.len(), 1);
        assert_eq!(chosen[0].id, "publish_token");
        // A switch that is off excludes nothing.
        let env =
            vec![set("tls_self_signed", Value::Switch(false), Place::Env("SSEHUB_TLS_SELF_SIGNED".into()))];
        let chosen = merge(&s, &[], env, vec![set("tls_cert", Value::One("c.pem".into()), file(2))]);
        assert_eq!(chosen.len(), 2);
    }

    #[test]
    fn a_switch_count_and_list_become_arguments() {
        let s = specs();
        let on = set("no_http2", Value::Switch(true), file(1));
        assert_eq!(on.argv(&s), ["--no-http2"]);
        assert!(set("no_http2", Value::Switch(false), file(1)).argv(&s).is_empty());
        let many = set("channels", Value::Many(vec!["a".into(), "b=c".into()]), file(1));
        assert_eq!(many.argv(&s), ["--channel=a", "--channel=b=c"]);
        assert_eq!(Setting { value: Value::Count(2), ..on }.argv(&s), ["--no-http2", "--no-http2"]);
    }

    fn parse(s: &Specs, settings: &[Setting], cli: &[&str]) -> Result<(), Refusal> {
        parse_with(s, settings, |extra| {
            let argv = ["ssehub", "serve"].iter().chain(cli).map(OsString::from).chain(extra.iter().cloned());
            root().try_get_matches_from(argv).map(drop)
        })
    }

    #[test]
    fn refusals_name_the_setting_that_caused_them() {
        let s = specs();
        let both = [
            set("tls_self_signed", Value::Switch(true), file(4)),
            set("tls_cert", Value::One("c.pem".into()), file(7)),
            set("tls_key", Value::One("k.pem".into()), file(8)),
        ];
        let Err(Refusal::Config(e)) = parse(&s, &both, &[]) else { panic!("accepted") };
        assert_eq!(e.problem, Problem::Together);
        assert!(e.to_string().starts_with("c.toml:"), "{e}");
        assert!(e.message.contains("cannot be used with"), "{e}");
        // Needs --redis, given nowhere: found by taking settings away.
        let needs = [set("redis_namespace", Value::One("ns".into()), file(9))];
        let Err(Refusal::Config(e)) = parse(&s, &needs, &[]) else { panic!("accepted") };
        assert!(e.to_string().starts_with("c.toml:9: redis-namespace: "), "{e}");
        assert!(e.message.contains("--redis <URL>"), "{e}");
        // The file gives what a flag needs.
        let redis = [set("redis", Value::One("redis://127.0.0.1:1".into()), file(2))];
        assert!(parse(&s, &redis, &["--redis-namespace", "ns"]).is_ok());
        // The command line's own mistakes stay clap's.
        assert!(matches!(parse(&s, &[], &["--redis-namespace", "ns"]), Err(Refusal::Clap(_))));
    }
}
