//! `serve`'s flags as a config file sees them, read from the clap definitions: each flag's key
//! (its long name), the shape of its value (a switch, one value, a list, a count), its default,
//! help, environment variable and whether it holds a secret; which flags exclude each other; and
//! the check of one value by the flag's own value parser.
//!
//! Nothing here names a flag: a flag added to `serve::Args` is a key the moment it is defined.

use std::ffi::OsString;

use clap::error::ErrorKind;
use clap::{Arg, ArgAction, Command, ValueHint};

/// The id of the flag that names the config file (`--config`): the one flag that is no key.
pub const CONFIG_ID: &str = "config";
/// What every environment variable's name starts with.
pub const ENV_PREFIX: &str = "SSEHUB_";

/// The shape of a flag's value, and so of its key's TOML value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A flag without a value (`--no-http2`): `true` or `false`. `given` is the value the flag
    /// stands for when it is on the command line (`true` for clap's `SetTrue`).
    Switch { given: bool },
    /// One value (`--addr ADDR`): a string or a number.
    One,
    /// A repeatable flag (`--channel NAME`, more than once): an array of strings or numbers.
    Many,
    /// A counted flag (`-v -v`): a whole number.
    Count,
}

/// One of `serve`'s flags.
#[derive(Clone, Debug)]
pub struct Spec {
    /// clap's id (`cors_origins`): what `ArgMatches` knows it by.
    pub id: String,
    /// The long name (`cors-origin`): the key in a file.
    pub key: String,
    pub kind: Kind,
    /// Its help text (the long one when there is one), without styling.
    pub help: String,
    /// Its default values as clap holds them (strings); empty when it has none.
    pub defaults: Vec<String>,
    /// The name of its value in `--help` (`ADDR`), for a commented-out example.
    pub value_name: String,
    /// Whether its value is secret (shown as `***`).
    pub secret: bool,
    pub hidden: bool,
}

impl Spec {
    /// Its environment variable: `SSEHUB_` and the key in capitals, `-` as `_`.
    pub fn env_var(&self) -> String {
        env_var(&self.key)
    }
}

/// The environment variable of key `key`.
pub fn env_var(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.to_ascii_uppercase().replace('-', "_"))
}

/// `serve`'s flags: the built subcommand and what each of its flags is as a key.
pub struct Specs {
    /// The `serve` subcommand, built (global flags propagated, help flags added).
    pub cmd: Command,
    /// Every flag but help, version and `--config`, in `--help` order.
    pub all: Vec<Spec>,
}

impl Specs {
    /// The flags of `root`'s subcommand `sub`; `None` when `root` has no such subcommand.
    pub fn of(root: &Command, sub: &str) -> Option<Specs> {
        let mut root = root.clone();
        root.build();
        let cmd = root.find_subcommand(sub)?.clone();
        let mut args: Vec<&Arg> = cmd.get_arguments().collect();
        args.sort_by_key(|a| a.get_display_order());
        let all = args.into_iter().filter_map(spec).collect();
        Some(Specs { cmd, all })
    }

    /// The flag whose key is `key`.
    pub fn find(&self, key: &str) -> Option<&Spec> {
        self.all.iter().find(|s| s.key == key)
    }

    /// The flag whose id is `id`.
    pub fn by_id(&self, id: &str) -> Option<&Spec> {
        self.all.iter().find(|s| s.id == id)
    }

    /// The key nearest to a key that is none (a typo, `_` for `-`), to suggest it.
    pub fn nearest(&self, key: &str) -> Option<&str> {
        let wanted = key.to_ascii_lowercase().replace('_', "-");
        self.all
            .iter()
            .map(|s| (edit_distance(&wanted, &s.key), s.key.as_str()))
            .filter(|&(d, k)| d <= 2.max(k.len() / 5))
            .min_by_key(|&(d, _)| d)
            .map(|(_, k)| k)
    }

    /// Checks `value` for flag `spec` with the flag's own value parser: `Err` holds the reason
    /// (clap's, without the flag's name, which the caller gives as the key).
    pub fn check_value(&self, spec: &Spec, value: &str) -> Result<(), String> {
        let argv = [OsString::from("serve"), OsString::from(format!("--{}={value}", spec.key))];
        match self.cmd.clone().try_get_matches_from(argv) {
            Ok(_) => Ok(()),
            // Only the value is judged here; how flags go together is judged once they are all in.
            Err(e)
                if matches!(e.kind(), ErrorKind::MissingRequiredArgument | ErrorKind::ArgumentConflict) =>
            {
                Ok(())
            }
            Err(e) => Err(match std::error::Error::source(&e) {
                Some(why) if spec.secret => {
                    format!("invalid value: {}", why.to_string().replace(value, "***"))
                }
                Some(why) => format!("invalid value {value:?}: {why}"),
                None if spec.secret => clap_message(&e).replace(value, "***"),
                None => clap_message(&e),
            }),
        }
    }

    /// [`Specs::check_value`] for each of `texts`, the values of a repeatable flag: one parse
    /// for them all, then one each only to find the first refused (a list may be long). `Err`
    /// holds its index and the reason.
    pub fn check_values(&self, spec: &Spec, texts: &[String]) -> Result<(), (usize, String)> {
        let flags = texts.iter().map(|t| OsString::from(format!("--{}={t}", spec.key)));
        match self.cmd.clone().try_get_matches_from(std::iter::once(OsString::from("serve")).chain(flags)) {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(e.kind(), ErrorKind::MissingRequiredArgument | ErrorKind::ArgumentConflict) =>
            {
                Ok(())
            }
            Err(_) => {
                for (i, text) in texts.iter().enumerate() {
                    self.check_value(spec, text).map_err(|why| (i, why))?;
                }
                Ok(())
            }
        }
    }

    /// The keys of the flags that flag `spec` needs besides itself (`redis-namespace` needs
    /// `redis`) when it is given as `argv`; empty when it stands alone.
    pub fn needs(&self, argv: Vec<OsString>) -> Vec<String> {
        let argv = std::iter::once(OsString::from("serve")).chain(argv);
        match self.cmd.clone().try_get_matches_from(argv) {
            Err(e) if e.kind() == ErrorKind::MissingRequiredArgument => {
                let named =
                    e.get(clap::error::ContextKind::InvalidArg).map(|v| v.to_string()).unwrap_or_default();
                flags_in(&named).into_iter().map(str::to_owned).collect()
            }
            _ => Vec::new(),
        }
    }

    /// Whether flags `a` and `b` may not be given together (`conflicts_with` either way, one
    /// group of which only one may be given, or an exclusive flag).
    pub fn conflict(&self, a: &str, b: &str) -> bool {
        let (Some(x), Some(y)) = (self.arg(a), self.arg(b)) else { return false };
        let names = |arg: &Arg, other: &Arg| {
            self.cmd.get_arg_conflicts_with(arg).iter().any(|c| c.get_id() == other.get_id())
        };
        let one_of_group = self.cmd.get_groups().any(|g| {
            let mut members = g.get_args();
            let both = members.any(|m| m == x.get_id()) && g.get_args().any(|m| m == y.get_id());
            both && !g.clone().is_multiple()
        });
        a != b && (x.is_exclusive_set() || y.is_exclusive_set() || names(x, y) || names(y, x) || one_of_group)
    }

    fn arg(&self, id: &str) -> Option<&Arg> {
        self.cmd.get_arguments().find(|a| a.get_id() == id)
    }
}

/// What `arg` is as a key; `None` for help, version, positionals and `--config`.
fn spec(arg: &Arg) -> Option<Spec> {
    let key = arg.get_long()?.to_owned();
    if arg.is_positional() || arg.get_id() == CONFIG_ID {
        return None;
    }
    let kind = match arg.get_action() {
        ArgAction::SetTrue => Kind::Switch { given: true },
        ArgAction::SetFalse => Kind::Switch { given: false },
        ArgAction::Count => Kind::Count,
        ArgAction::Append => Kind::Many,
        ArgAction::Set if arg.get_num_args().is_some_and(|n| n.max_values() > 1) => Kind::Many,
        ArgAction::Set => Kind::One,
        _ => return None,
    };
    let help = arg.get_long_help().or(arg.get_help()).map(|h| h.to_string()).unwrap_or_default();
    let defaults = arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
    let value_name = match arg.get_value_names() {
        Some([name, ..]) => name.to_string(),
        _ => arg.get_id().as_str().to_ascii_uppercase(),
    };
    let secret = kind == Kind::One || kind == Kind::Many;
    let secret = secret && is_secret_name(&key) && !names_a_path(arg, &value_name);
    Some(Spec {
        id: arg.get_id().to_string(),
        key,
        kind,
        help,
        defaults,
        value_name,
        secret,
        hidden: arg.is_hide_set(),
    })
}

/// Whether a flag of this name holds secret material: a token, secret, password, credential or
/// private key (`--publish-token`, `--jwt-secret`): one of the name's words is one of those
/// (so `--max-idempotency-keys`, a count, is none).
fn is_secret_name(key: &str) -> bool {
    key.split('-').any(|w| ["token", "secret", "password", "passwd", "credential", "key"].contains(&w))
}

/// Whether a flag takes the path of a file rather than its contents (`--jwt-secret-file`,
/// `--tls-key FILE`): the path is no secret.
fn names_a_path(arg: &Arg, value_name: &str) -> bool {
    matches!(value_name, "FILE" | "PATH" | "DIR")
        || matches!(arg.get_value_hint(), ValueHint::FilePath | ValueHint::AnyPath | ValueHint::DirPath)
        || ["-file", "-path", "-dir"].iter().any(|end| arg.get_long().is_some_and(|l| l.ends_with(end)))
}

/// clap's message for `e` on one line, without its `error: ` and its usage and tips.
pub fn clap_message(e: &clap::Error) -> String {
    let text = e.to_string();
    let mut lines = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        lines.push(line.strip_prefix("error: ").unwrap_or(line));
    }
    lines.join(" ")
}

/// The long flag names in clap's text (`'--tls-cert <FILE>'` → `tls-cert`).
pub fn flags_in(text: &str) -> Vec<&str> {
    text.match_indices("--")
        .map(|(at, _)| {
            let rest = &text[at + 2..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .filter(|name| !name.is_empty())
        .collect()
}

/// The Levenshtein distance between `a` and `b` (short keys: the quadratic table is fine).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != cb)).min(row[j] + 1).min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs() -> Specs {
        Specs::of(&crate::config::tests::root(), "serve").unwrap()
    }

    #[test]
    fn every_serve_flag_is_a_spec_with_its_shape() {
        let s = specs();
        let flags: Vec<&str> = s.cmd.get_arguments().filter_map(|a| a.get_long()).collect();
        for flag in flags {
            match flag {
                "help" | "version" | "config" => assert!(s.find(flag).is_none(), "{flag}"),
                _ => assert!(s.find(flag).is_some(), "--{flag} has no key"),
            }
        }
        assert_eq!(s.find("no-http2").unwrap().kind, Kind::Switch { given: true });
        assert_eq!(s.find("channel").unwrap().kind, Kind::Many);
        assert_eq!(s.find("addr").unwrap().kind, Kind::One);
        assert_eq!(s.find("addr").unwrap().defaults, ["127.0.0.1:8080"]);
        assert_eq!(s.find("max-connections").unwrap().env_var(), "SSEHUB_MAX_CONNECTIONS");
        assert_eq!(s.find("cors-origin").unwrap().id, "cors_origins");
    }

    #[test]
    fn secrets_are_the_tokens_and_secrets_not_the_paths_of_files() {
        let s = specs();
        let secret = |k: &str| s.find(k).unwrap().secret;
        assert!(secret("publish-token") && secret("jwt-secret"));
        assert!(!secret("publish-token-file") && !secret("jwt-secret-file"));
        assert!(!secret("jwt-key") && !secret("tls-key") && !secret("addr") && !secret("redis"));
        assert!(!secret("max-idempotency-keys") && !secret("idempotency-window"));
    }

    #[test]
    fn values_are_judged_by_the_flags_own_parser() {
        let s = specs();
        let check = |k: &str, v: &str| s.check_value(s.find(k).unwrap(), v);
        assert_eq!(check("max-queue-bytes", "64KiB"), Ok(()));
        let e = check("max-queue-bytes", "1XB").unwrap_err();
        assert!(e.starts_with("invalid value \"1XB\": unknown unit"), "{e}");
        assert_eq!(check("rate", "-5"), Err("invalid value \"-5\": must be a positive number".into()));
        assert!(check("max-concurrent-streams", "x").unwrap_err().starts_with("invalid value \"x\""));
        // Requires --redis, which is not judged here.
        assert_eq!(check("redis-namespace", "ns"), Ok(()));
    }

    #[test]
    fn a_list_is_judged_at_once_and_the_first_refused_found() {
        let n = Arg::new("n").long("n").action(ArgAction::Append).value_parser(clap::value_parser!(u8));
        let s = Specs::of(&Command::new("t").subcommand(Command::new("serve").arg(n)), "serve").unwrap();
        let spec = s.find("n").unwrap();
        assert_eq!(spec.kind, Kind::Many);
        let list = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(s.check_values(spec, &list(&["1", "2", "255"])), Ok(()));
        let (at, why) = s.check_values(spec, &list(&["1", "2", "300", "x"])).unwrap_err();
        assert_eq!(at, 2);
        assert!(why.starts_with("invalid value \"300\""), "{why}");
    }

    #[test]
    fn conflicts_come_from_the_definitions_and_groups() {
        let s = specs();
        assert!(s.conflict("publish_token", "publish_token_file"));
        assert!(s.conflict("publish_token_file", "publish_token"));
        assert!(s.conflict("tls_self_signed", "tls_cert"));
        assert!(s.conflict("jwt_secret", "jwks"), "one of the jwt_key_source group");
        assert!(!s.conflict("jwt_secret", "jwt_alg"));
        assert!(!s.conflict("addr", "path"));
    }

    #[test]
    fn flags_are_found_in_clap_text() {
        assert_eq!(flags_in("'--tls-cert <FILE>' with '--tls-self-signed'"), ["tls-cert", "tls-self-signed"]);
        assert!(flags_in("-- x").is_empty());
    }

    #[test]
    fn what_a_flag_needs_is_found() {
        let s = specs();
        assert_eq!(s.needs(vec!["--redis-namespace=x".into()]), ["redis"]);
        assert_eq!(s.needs(vec!["--tls-cert=c".into()]), ["tls-key"]);
        assert!(s.needs(vec!["--addr=:1".into()]).is_empty());
    }

    #[test]
    fn a_near_key_is_suggested() {
        let s = specs();
        assert_eq!(s.nearest("max_connections"), Some("max-connections"));
        assert_eq!(s.nearest("max-conections"), Some("max-connections"));
        assert_eq!(s.nearest("listen"), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
