//! `serve`'s authorization flags: a JWT key (`--jwt-secret`, `--jwt-key` with `--jwt-alg`, or
//! `--jwks`) makes every stream need a token unless its channels are public
//! (`--public-channel`), and turns `POST /publish` on for tokens with `publish` claims.

use std::path::PathBuf;

use ssehub::auth::{Algorithm, JwtConfig, JwtPolicy, Patterns, Verifier, read_key_file};

#[derive(clap::Args, Debug, Default)]
pub struct JwtArgs {
    /// Require a JWT signed with this HS256 secret (at least 32 bytes) for every stream whose
    /// channels are not public; `POST /publish` accepts tokens with `publish` claims. Other
    /// users of the machine see a process's arguments (`ps`): prefer --jwt-secret-file.
    #[arg(long, value_name = "SECRET", group = "jwt_key_source")]
    pub jwt_secret: Option<String>,
    /// As --jwt-secret, the secret read from this file (its first line, surrounding whitespace
    /// trimmed).
    #[arg(long, value_name = "FILE", group = "jwt_key_source")]
    pub jwt_secret_file: Option<PathBuf>,
    /// Require JWTs signed with the private half of this PEM public key (see --jwt-alg).
    #[arg(long, value_name = "FILE", group = "jwt_key_source", requires = "jwt_alg")]
    pub jwt_key: Option<PathBuf>,
    /// The algorithm of --jwt-key (RS256, ES256, EdDSA, ...) or of --jwt-secret-file / --jwt-secret
    /// (HS256, HS384, HS512; default HS256). Pinned: a token's own `alg` is never trusted.
    #[arg(long, value_name = "ALG")]
    pub jwt_alg: Option<String>,
    /// Require JWTs signed by a key of this JWKS file (`{"keys": [...]}`), chosen by `kid`.
    #[arg(long, value_name = "FILE", group = "jwt_key_source")]
    pub jwks: Option<PathBuf>,
    /// Also require this `aud` in every token.
    #[arg(long, value_name = "AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Also require this `iss` in every token.
    #[arg(long, value_name = "ISSUER")]
    pub jwt_issuer: Option<String>,
    /// The cookie a browser's EventSource sends the token in (with `withCredentials: true`).
    #[arg(long, value_name = "NAME", default_value = ssehub::auth::DEFAULT_COOKIE)]
    pub jwt_cookie: String,
    /// Channels anyone may read without a token: an exact name, a prefix ending in `*`
    /// (`news-*`), or `*` (repeatable). Only with a JWT key.
    #[arg(long = "public-channel", value_name = "PATTERN")]
    pub public_channels: Vec<String>,
}

impl JwtArgs {
    /// Whether a JWT key is configured.
    pub fn enabled(&self) -> bool {
        self.jwt_secret.is_some()
            || self.jwt_secret_file.is_some()
            || self.jwt_key.is_some()
            || self.jwks.is_some()
    }
}

/// The policy the flags ask for, if any; an error says which flag is wrong and why.
pub fn policy(args: &JwtArgs) -> Result<Option<JwtPolicy>, String> {
    if !args.enabled() {
        if !args.public_channels.is_empty() {
            return Err("--public-channel needs a JWT key (--jwt-secret, --jwt-key or --jwks)".into());
        }
        return Ok(None);
    }
    let alg = match &args.jwt_alg {
        Some(name) => Some(name.parse::<Algorithm>().map_err(|e| format!("--jwt-alg: {e}"))?),
        None => None,
    };
    let config = if let Some(secret) = &args.jwt_secret {
        if secret.is_empty() {
            return Err("--jwt-secret must not be empty".into());
        }
        JwtConfig::hmac(alg.unwrap_or(Algorithm::HS256), secret.as_bytes().to_vec())
    } else if let Some(path) = &args.jwt_secret_file {
        let bytes = read_key_file(path).map_err(|e| format!("--jwt-secret-file: {e}"))?;
        let text = String::from_utf8_lossy(&bytes);
        let secret = text.lines().next().unwrap_or_default().trim();
        if secret.is_empty() {
            return Err(format!("--jwt-secret-file {}: the first line is empty", path.display()));
        }
        JwtConfig::hmac(alg.unwrap_or(Algorithm::HS256), secret.as_bytes().to_vec())
    } else if let Some(path) = &args.jwt_key {
        let pem = read_key_file(path).map_err(|e| format!("--jwt-key: {e}"))?;
        JwtConfig::public_key_pem(alg.ok_or("--jwt-key needs --jwt-alg")?, pem)
    } else if let Some(path) = &args.jwks {
        if alg.is_some() {
            return Err("--jwt-alg does not go with --jwks (each key names its own `alg`)".into());
        }
        JwtConfig::jwks(read_key_file(path).map_err(|e| format!("--jwks: {e}"))?)
    } else {
        return Ok(None);
    };
    let mut config = config;
    if let Some(aud) = &args.jwt_audience {
        config = config.audience(aud.clone());
    }
    if let Some(iss) = &args.jwt_issuer {
        config = config.issuer(iss.clone());
    }
    let flag = if args.jwt_secret.is_some() {
        "--jwt-secret"
    } else if args.jwt_secret_file.is_some() {
        "--jwt-secret-file"
    } else if args.jwt_key.is_some() {
        "--jwt-key"
    } else {
        "--jwks"
    };
    let verifier = Verifier::from_config(config).map_err(|e| format!("{flag}: {e}"))?;
    let public = Patterns::parse(args.public_channels.iter().map(String::as_str))
        .map_err(|e| format!("--public-channel: {e}"))?;
    JwtPolicy::new(verifier)
        .public(public)
        .cookie(&args.jwt_cookie)
        .map(Some)
        .map_err(|e| format!("--jwt-cookie: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(f: impl FnOnce(&mut JwtArgs)) -> JwtArgs {
        let mut a = JwtArgs { jwt_cookie: ssehub::auth::DEFAULT_COOKIE.into(), ..JwtArgs::default() };
        f(&mut a);
        a
    }

    #[test]
    fn flags_to_policy() {
        assert!(policy(&args(|_| {})).unwrap().is_none());
        let err = policy(&args(|a| a.public_channels = vec!["news".into()])).unwrap_err();
        assert!(err.contains("needs a JWT key"), "{err}");
        let p = policy(&args(|a| {
            a.jwt_secret = Some("x".repeat(32));
            a.public_channels = vec!["news".into(), "room-*".into()];
        }))
        .unwrap()
        .unwrap();
        assert_eq!(p.public_channels(), &Patterns::parse(["news", "room-*"]).unwrap());
        let err = policy(&args(|a| a.jwt_secret = Some("short".into()))).unwrap_err();
        assert!(err.starts_with("--jwt-secret: ") && err.contains("at least 32 bytes"), "{err}");
        let err = policy(&args(|a| {
            a.jwt_secret = Some("x".repeat(32));
            a.jwt_alg = Some("none".into());
        }))
        .unwrap_err();
        assert!(err.starts_with("--jwt-alg: unknown JWT algorithm"), "{err}");
        let err = policy(&args(|a| {
            a.jwt_secret = Some("x".repeat(32));
            a.jwt_cookie = "a b".into();
        }))
        .unwrap_err();
        assert!(err.starts_with("--jwt-cookie: "), "{err}");
        let err = policy(&args(|a| {
            a.jwt_secret = Some("x".repeat(32));
            a.public_channels = vec![String::new()];
        }))
        .unwrap_err();
        assert!(err.starts_with("--public-channel: "), "{err}");
        let err = policy(&args(|a| {
            a.jwt_secret = Some("x".repeat(32));
            a.jwt_alg = Some("RS256".into());
        }))
        .unwrap_err();
        assert!(err.contains("public key, not a secret"), "{err}");
        let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jwt/");
        let ok = policy(&args(|a| {
            a.jwt_key = Some(format!("{fixtures}rsa.pub.pem").into());
            a.jwt_alg = Some("RS256".into());
        }));
        assert!(matches!(ok, Ok(Some(_))), "{ok:?}");
        let ok = policy(&args(|a| a.jwks = Some(format!("{fixtures}jwks.json").into())));
        assert!(matches!(ok, Ok(Some(_))), "{ok:?}");
        let err = policy(&args(|a| a.jwt_key = Some(format!("{fixtures}missing.pem").into()))).unwrap_err();
        assert!(err.starts_with("--jwt-key: cannot read"), "{err}");
    }
}
