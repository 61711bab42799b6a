//! Why a configuration was refused, as one line: where (the file and its line, or the
//! environment variable), which key, and what is wrong with it.

use std::fmt;
use std::path::PathBuf;

/// Where a setting came from, or where a mistake is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// A config file; the line (1-based) when the mistake has one.
    File { path: PathBuf, line: Option<usize> },
    /// An environment variable (`SSEHUB_ADDR`).
    Env(String),
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::File { path, line: Some(line) } => write!(f, "{}:{line}", path.display()),
            Place::File { path, line: None } => write!(f, "{}", path.display()),
            Place::Env(var) => f.write_str(var),
        }
    }
}

/// The kind of mistake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The file could not be read (missing, unreadable, too large, not UTF-8).
    Read,
    /// The file is not TOML.
    Syntax,
    /// A key that is no flag of `serve`.
    UnknownKey,
    /// A value of the wrong TOML type (a string for a switch, an array for a single value...).
    WrongType,
    /// A value its flag's parser refuses.
    BadValue,
    /// Settings that may not go together, or one that needs another (clap's conflicts and
    /// requirements).
    Together,
}

/// A refused configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub place: Place,
    /// The key at fault, when there is one (never for an environment variable, which names it).
    pub key: Option<String>,
    pub problem: Problem,
    pub message: String,
}

impl ConfigError {
    pub fn new(place: Place, key: Option<&str>, problem: Problem, message: impl Into<String>) -> ConfigError {
        let key = match place {
            Place::Env(_) => None,
            Place::File { .. } => key.map(str::to_owned),
        };
        ConfigError { place, key, problem, message: message.into() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(key) => write!(f, "{}: {key}: {}", self.place, self.message),
            None => write!(f, "{}: {}", self.place, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Why the command line with its configuration was refused.
#[derive(Debug)]
pub enum Refusal {
    /// By clap, for the command line alone (or `--help`, `--version`): clap prints it and exits.
    Clap(clap::Error),
    /// For the file or the environment.
    Config(ConfigError),
    /// What `serve` itself would refuse before binding (a TLS certificate it cannot load, a JWT
    /// key, a token file...): `config check` only, whose status for it is `serve`'s, 1.
    Serve(String),
}

impl From<ConfigError> for Refusal {
    fn from(e: ConfigError) -> Refusal {
        Refusal::Config(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_names_file_line_and_key() {
        let file = |line| Place::File { path: "/etc/ssehub.toml".into(), line };
        let e = ConfigError::new(file(Some(3)), Some("addr"), Problem::BadValue, "invalid value \"x\"");
        assert_eq!(e.to_string(), "/etc/ssehub.toml:3: addr: invalid value \"x\"");
        let e = ConfigError::new(file(None), None, Problem::Read, "cannot read it: gone");
        assert_eq!(e.to_string(), "/etc/ssehub.toml: cannot read it: gone");
        let e = ConfigError::new(Place::Env("SSEHUB_ADDR".into()), Some("addr"), Problem::BadValue, "bad");
        assert_eq!(e.to_string(), "SSEHUB_ADDR: bad");
    }
}
