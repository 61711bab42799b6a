//! `ssehub serve`'s configuration from a TOML file (`--config FILE`, or `SSEHUB_CONFIG`) and
//! `SSEHUB_*` environment variables besides its flags; and `ssehub config check FILE` /
//! `ssehub config example`.
//!
//! The file says what the flags say, by the same names: its keys are `serve`'s long flag names
//! (`addr = "0.0.0.0:8080"`, `max-connections = 16384`, `channel = ["a", "b"]`, `no-http2 =
//! true`); a variable is `SSEHUB_` and the name in capitals, `-` as `_`
//! (`SSEHUB_MAX_CONNECTIONS=16384`). Each flag takes its value from the first of: the command
//! line, the environment, the file, its default.
//!
//! Nothing here names one of `serve`'s flags. The keys are found by walking the clap definitions
//! ([`spec`]), each value is judged by its flag's own value parser, and the layers are merged by
//! writing out the command line they stand for and letting clap parse it all once more
//! ([`layers`]), so a flag added to `serve::Args` is a key and a variable at once:
//!
//! ```text
//! argv ───────── clap ──▶ which flags the command line gives
//! SSEHUB_* ──── env::settings ───┐
//! FILE ──────── file::settings ──┴─▶ layers::merge ─▶ argv + --key=value … ── clap ──▶ Args
//! ```
//!
//! A refusal is one line that names the file, its line and the key (or the variable); `main`
//! prints it and exits with status 2, as clap does for a bad flag.

mod env;
mod error;
mod file;
mod layers;
mod render;
mod spec;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::error::ErrorKind;
use clap::parser::ValueSource;

pub use env::Env;
pub use error::{ConfigError, Refusal};
use spec::{CONFIG_ID, Specs};

/// The subcommand whose flags a config file holds.
const SERVE: &str = "serve";

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand, Debug)]
enum Action {
    /// Check FILE (with the SSEHUB_* environment) as `serve --config FILE` would read it, and
    /// print the effective configuration, secrets as "***"; exit status 2 and a one-line message
    /// naming the file, line and key when something is wrong.
    Check {
        /// The config file.
        file: PathBuf,
    },
    /// Print a config file with every `serve` flag at its default, its help as the comment.
    Example,
}

/// Parses the command line `argv` of `C` (the `ssehub` command) with, for `serve`, the config
/// file and the environment `env` beneath its flags.
pub fn parse<C: clap::Parser>(argv: Vec<OsString>, env: Env<'_>) -> Result<C, Refusal> {
    let root = C::command();
    let matches = match root.clone().try_get_matches_from(&argv) {
        Ok(m) => m,
        // A flag that needs another the file may give (`--redis-namespace`, `redis` in the file):
        // clap judges that again once the file is in.
        Err(e) if e.kind() == ErrorKind::MissingRequiredArgument => {
            match root.clone().ignore_errors(true).try_get_matches_from(&argv) {
                Ok(m) if m.subcommand_name() == Some(SERVE) => m,
                _ => return Err(Refusal::Clap(e)),
            }
        }
        Err(e) => return Err(Refusal::Clap(e)),
    };
    let (Some((SERVE, cli)), Some(specs)) = (matches.subcommand(), Specs::of(&root, SERVE)) else {
        return C::from_arg_matches(&matches).map_err(Refusal::Clap);
    };
    let on_cli: Vec<String> = specs
        .all
        .iter()
        .filter(|s| cli.value_source(&s.id) == Some(ValueSource::CommandLine))
        .map(|s| s.id.clone())
        .collect();
    let given = cli.try_get_raw(CONFIG_ID).ok().flatten().and_then(|mut v| v.next()).map(PathBuf::from);
    let path = given.or_else(|| {
        let var = env(&spec::env_var(CONFIG_ID))?;
        (!var.is_empty()).then(|| PathBuf::from(var))
    });
    let settings = load(&specs, &on_cli, path.as_deref(), env)?;
    layers::parse_with(&specs, &settings, |extra| {
        C::try_parse_from(argv.iter().cloned().chain(extra.iter().cloned()))
    })
}

/// The settings from `path` (if any) and `env` that stand beneath the flags `on_cli`.
fn load(
    specs: &Specs,
    on_cli: &[String],
    path: Option<&Path>,
    env: Env<'_>,
) -> Result<Vec<layers::Setting>, ConfigError> {
    let from_file = match path {
        Some(path) => file::settings(specs, path, &file::read(path)?)?,
        None => Vec::new(),
    };
    let from_env = env::settings(specs, env)?;
    Ok(layers::merge(specs, on_cli, from_env, from_file))
}

/// `ssehub config`: `root` is the `ssehub` command, whose `serve` flags are the keys.
pub fn run(args: Args, root: clap::Command) -> Result<(), crate::Failure> {
    let out = match args.action {
        Action::Example => example(&root),
        Action::Check { file } => {
            check(&root, &file, &|name| std::env::var_os(name)).map_err(|refusal| match refusal {
                Refusal::Config(e) => crate::Failure { status: 2, message: e.to_string() },
                Refusal::Clap(e) => crate::Failure { status: 2, message: spec::clap_message(&e) },
                Refusal::Serve(why) => {
                    crate::Failure { status: 1, message: format!("{}: {why}", file.display()) }
                }
            })?
        }
    };
    print!("{out}");
    Ok(())
}

/// What `config example` prints.
fn example(root: &clap::Command) -> String {
    Specs::of(root, SERVE).map(|specs| render::example(&specs)).unwrap_or_default()
}

/// What `config check FILE` prints: `path` and `env` checked as `serve` would take them (every
/// value, how they go together, and what `serve` checks before it binds: the files it reads,
/// [`crate::serve::check`]), then the effective configuration.
fn check(root: &clap::Command, path: &Path, env: Env<'_>) -> Result<String, Refusal> {
    let Some(specs) = Specs::of(root, SERVE) else { return Ok(String::new()) };
    let settings = load(&specs, &[], Some(path), env)?;
    let bin = root.get_name().to_owned();
    let matches = layers::parse_with(&specs, &settings, |extra| {
        let argv = [OsString::from(&bin), OsString::from(SERVE)].into_iter().chain(extra.iter().cloned());
        root.clone().try_get_matches_from(argv)
    })?;
    if let Some((SERVE, serve)) = matches.subcommand() {
        let args =
            <crate::serve::Args as clap::FromArgMatches>::from_arg_matches(serve).map_err(Refusal::Clap)?;
        crate::serve::check(&args).map_err(Refusal::Serve)?;
    }
    Ok(render::effective(&specs, &settings, &path.display().to_string()))
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use clap::CommandFactory;

    use super::*;
    use crate::{Cli, Command};

    /// The `ssehub` command.
    pub fn root() -> clap::Command {
        Cli::command()
    }

    /// A temporary directory of this test's own.
    struct Dir(PathBuf);

    impl Dir {
        fn new(name: &str) -> Dir {
            let dir = std::env::temp_dir().join(format!("ssehub-config-{name}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            Dir(dir)
        }

        fn file(&self, name: &str, text: &str) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, text).unwrap();
            path
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// `ssehub serve ARGS` with the environment `vars`.
    fn serve(args: &[&str], vars: &[(&str, &str)]) -> Result<crate::serve::Args, Refusal> {
        let map: BTreeMap<String, OsString> =
            vars.iter().map(|(k, v)| (k.to_string(), OsString::from(v))).collect();
        let argv = ["ssehub", "serve"].iter().chain(args).map(OsString::from).collect();
        match parse::<Cli>(argv, &|name| map.get(name).cloned())? {
            Cli { command: Command::Serve(args) } => Ok(args),
            _ => unreachable!(),
        }
    }

    fn refusal(args: &[&str], vars: &[(&str, &str)]) -> String {
        match serve(args, vars) {
            Err(Refusal::Config(e)) => e.to_string(),
            Err(Refusal::Clap(e)) => panic!("clap refused {args:?}: {e}"),
            Err(Refusal::Serve(why)) => panic!("parsing ran serve's checks for {args:?}: {why}"),
            Ok(_) => panic!("{args:?} accepted"),
        }
    }

    #[test]
    fn every_serve_flag_has_its_key_in_the_example_and_the_loader() {
        let specs = Specs::of(&root(), SERVE).unwrap();
        let example = example(&root());
        let mut flags = 0;
        for arg in specs.cmd.get_arguments() {
            let Some(key) = arg.get_long() else { continue };
            if matches!(key, "help" | "version" | CONFIG_ID) {
                continue;
            }
            flags += 1;
            let line = |prefix: &str| format!("\n{prefix}{key} = ");
            let shown = example.contains(&line("")) || example.contains(&line("# "));
            assert!(shown || arg.is_hide_set(), "--{key} is not in the example");
            let spec = specs.find(key).unwrap_or_else(|| panic!("--{key} has no key"));
            let value = match spec.kind {
                spec::Kind::Switch { .. } => "true".to_owned(),
                spec::Kind::Count => "1".to_owned(),
                _ => "\"x\"".to_owned(),
            };
            match file::settings(&specs, Path::new("t.toml"), &format!("{key} = {value}\n")) {
                Ok(s) => assert_eq!(s[0].id, arg.get_id().as_str()),
                Err(e) => assert_ne!(e.problem, error::Problem::UnknownKey, "--{key}: {e}"),
            }
        }
        assert!(flags >= 40, "only {flags} flags");
    }

    #[test]
    fn the_example_reads_back_as_the_defaults() {
        let dir = Dir::new("example");
        let path = dir.file("example.toml", &example(&root()));
        let from_example = serve(&["--config", path.to_str().unwrap()], &[]).unwrap();
        let defaults = serve(&[], &[]).unwrap();
        let debug = |a: &crate::serve::Args| format!("{a:?}").replace(&format!("{:?}", Some(&path)), "None");
        assert_eq!(debug(&from_example), debug(&defaults));
        // Every key that has a default is set in it, so the file did the work.
        let specs = Specs::of(&root(), SERVE).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let settings = file::settings(&specs, &path, &text).unwrap();
        assert!(settings.len() >= 20, "{}", settings.len());
    }

    #[test]
    fn precedence_is_file_then_environment_then_flags() {
        let dir = Dir::new("precedence");
        let path = dir.file(
            "c.toml",
            "addr = \"127.0.0.1:1001\"\npath = \"/file\"\nmetrics-path = \"/file-m\"\nchannel = [\"f\"]\n",
        );
        let config = path.to_str().unwrap();
        let a = serve(&["--config", config], &[]).unwrap();
        assert_eq!(
            (a.addr.as_str(), a.path.as_str(), a.metrics_path.as_str()),
            ("127.0.0.1:1001", "/file", "/file-m")
        );
        assert_eq!(a.channels, ["f"]);
        let env = [("SSEHUB_PATH", "/env"), ("SSEHUB_METRICS_PATH", "/env-m"), ("SSEHUB_CHANNEL", "e1,e2")];
        let a = serve(&["--config", config], &env).unwrap();
        assert_eq!(
            (a.addr.as_str(), a.path.as_str(), a.metrics_path.as_str()),
            ("127.0.0.1:1001", "/env", "/env-m")
        );
        assert_eq!(a.channels, ["e1", "e2"]);
        let a = serve(&["--config", config, "--metrics-path", "/flag-m", "--channel", "c"], &env).unwrap();
        assert_eq!(
            (a.addr.as_str(), a.path.as_str(), a.metrics_path.as_str()),
            ("127.0.0.1:1001", "/env", "/flag-m")
        );
        assert_eq!(a.channels, ["c"]);
        // SSEHUB_CONFIG names the file when --config does not.
        let a = serve(&[], &[("SSEHUB_CONFIG", config)]).unwrap();
        assert_eq!(a.path, "/file");
        let other = dir.file("other.toml", "path = \"/other\"\n");
        let a = serve(&["--config", other.to_str().unwrap()], &[("SSEHUB_CONFIG", config)]).unwrap();
        assert_eq!(a.path, "/other");
        // The environment alone, no file.
        let a = serve(&["--rate", "5"], &[("SSEHUB_SIZE", "1KiB"), ("SSEHUB_NO_HTTP2", "true")]).unwrap();
        assert_eq!((a.rate, a.size, a.no_http2), (Some(5.0), 1024, true));
    }

    #[test]
    fn a_switch_on_in_the_file_is_turned_off_by_the_environment() {
        let dir = Dir::new("switch");
        let path = dir.file("c.toml", "no-http2 = true\nno-metrics = true\n");
        let config = path.to_str().unwrap();
        let a = serve(&["--config", config], &[("SSEHUB_NO_HTTP2", "false")]).unwrap();
        assert!(!a.no_http2 && a.no_metrics);
    }

    #[test]
    fn a_lower_layer_gives_way_to_a_conflicting_higher_one() {
        let dir = Dir::new("conflict");
        let path = dir.file("c.toml", "publish-token-file = \"/run/token\"\n");
        let config = path.to_str().unwrap();
        let a = serve(&["--config", config], &[("SSEHUB_PUBLISH_TOKEN", "t")]).unwrap();
        assert_eq!((a.publish_token.as_deref(), a.publish_token_file), (Some("t"), None));
        let a = serve(&["--publish-token-file", "/x"], &[("SSEHUB_PUBLISH_TOKEN", "t")]).unwrap();
        assert_eq!((a.publish_token, a.publish_token_file), (None, Some("/x".into())));
        // A flag that needs another: the file gives it.
        let redis = dir.file("redis.toml", "redis = \"redis://127.0.0.1:1\"\n");
        let a = serve(&["--config", redis.to_str().unwrap(), "--redis-namespace", "ns"], &[]).unwrap();
        assert_eq!(a.redis_namespace, "ns");
    }

    #[test]
    fn each_kind_of_mistake_says_where() {
        let dir = Dir::new("mistakes");
        let cases = [
            ("unknown", "addr = \":1\"\nlisten = \":2\"\n", ":2: listen: unknown key: serve has no --listen"),
            ("type", "\n\nno-http2 = \"yes\"\n", ":3: no-http2: expected true or false, found a string"),
            ("value", "keep-alive = \"15x\"\n", ":1: keep-alive: invalid value \"15x\": "),
            ("syntax", "addr = \":1\"\npath = /sse\n", ":2: not valid TOML: "),
            (
                "together",
                "tls-self-signed = true\ntls-cert = \"c\"\ntls-key = \"k\"\n",
                ":1: tls-self-signed: the argument '--tls-self-signed' cannot be used with",
            ),
            (
                "needs",
                "\nredis-namespace = \"ns\"\n",
                ":2: redis-namespace: the following required arguments",
            ),
        ];
        for (name, text, want) in cases {
            let path = dir.file(name, text);
            let e = refusal(&["--config", path.to_str().unwrap()], &[]);
            let shown = path.display().to_string();
            assert!(e.starts_with(&shown) && e.contains(want), "{name}: {e}");
            assert!(!e.contains('\n'), "{name}: one line: {e}");
        }
        let missing = dir.0.join("missing.toml");
        let e = refusal(&["--config", missing.to_str().unwrap()], &[]);
        assert!(e.starts_with(&format!("{}: cannot read the config file: ", missing.display())), "{e}");
        let e = refusal(&[], &[("SSEHUB_CONFIG", missing.to_str().unwrap())]);
        assert!(e.contains("cannot read the config file"), "{e}");
        let e = refusal(&[], &[("SSEHUB_KEEP_ALIVE", "-1s")]);
        assert_eq!(e, "SSEHUB_KEEP_ALIVE: invalid value \"-1s\": must not be negative");
    }

    #[test]
    fn other_commands_and_the_command_lines_own_mistakes_stay_clap_s() {
        let argv = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        let none = |_: &str| None;
        assert!(matches!(
            parse::<Cli>(argv(&["ssehub", "decode"]), &none),
            Ok(Cli { command: Command::Decode(_) })
        ));
        let kind = |a: &[&str]| match parse::<Cli>(argv(a), &none) {
            Err(Refusal::Clap(e)) => Some(e.kind()),
            _ => None,
        };
        assert_eq!(kind(&["ssehub", "serve", "--rate", "-1"]), Some(ErrorKind::ValueValidation));
        assert_eq!(kind(&["ssehub", "serve", "--help"]), Some(ErrorKind::DisplayHelp));
        assert_eq!(
            kind(&["ssehub", "serve", "--redis-namespace", "x"]),
            Some(ErrorKind::MissingRequiredArgument)
        );
    }

    #[test]
    fn check_prints_the_effective_configuration_with_secrets_hidden() {
        let dir = Dir::new("check");
        let path = dir.file(
            "c.toml",
            "addr = \"0.0.0.0:9000\"\npublish-token = \"s3cret\"\nredis = \"redis://:pw@r:6379\"\njwt-secret = \"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk\"\n",
        );
        let env = BTreeMap::from([("SSEHUB_MAX_CONNECTIONS".to_owned(), OsString::from("100"))]);
        let out = check(&root(), &path, &|name| env.get(name).cloned()).unwrap();
        let shown = path.display();
        assert!(out.contains(&format!("\naddr = \"0.0.0.0:9000\"  # {shown}:1\n")), "{out}");
        assert!(out.contains(&format!("\npublish-token = \"***\"  # {shown}:2\n")), "{out}");
        assert!(out.contains(&format!("\nredis = \"redis://:***@r:6379\"  # {shown}:3\n")), "{out}");
        assert!(out.contains("\nmax-connections = 100  # SSEHUB_MAX_CONNECTIONS\n"), "{out}");
        assert!(out.contains("\nkeep-alive = \"15s\"\n"), "{out}");
        assert!(!out.contains("s3cret") && !out.contains("pw@") && !out.contains("kkkk"), "{out}");
        // What it prints reads back (only serve's own checks may refuse it: its secrets are `***`,
        // and a 3-byte JWT secret is too short).
        let again = dir.file("again.toml", &out);
        let read_back = check(&root(), &again, &|_| None);
        assert!(
            matches!(read_back, Err(Refusal::Serve(ref why)) if why.contains("--jwt-secret")),
            "{read_back:?}"
        );
        let bad = dir.file("bad.toml", "publish-token = \"a\"\npublish-token-file = \"f\"\n");
        let Err(Refusal::Config(e)) = check(&root(), &bad, &|_| None) else { panic!("accepted") };
        assert!(e.to_string().contains("cannot be used with"), "{e}");
    }
}
