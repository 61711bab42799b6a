//! JSON Web Tokens (RFC 7519) in, [`Grant`]s out: [`Verifier::verify`].
//!
//! A token is a compact JWS (RFC 7515 §7.1): `base64url(header) . base64url(payload) .
//! base64url(signature)`. [`Verifier::verify`] takes it apart in this order, and the first step
//! that fails is the refusal:
//!
//! | step | refusal |
//! |---|---|
//! | at most [`MAX_TOKEN_LEN`] bytes, checked before anything is decoded | `too_large` |
//! | three non-empty base64url parts (header and payload decoded); the header a JSON object with a string `alg`, no `crit` | `malformed` |
//! | the key: the configured one, or the JWKS key named by the header's `kid` | `unknown_key` |
//! | the header's `alg` is exactly the algorithm pinned for that key | `wrong_alg` |
//! | the signature verifies (HMAC by `ring`, public keys by `jsonwebtoken` on `ring`) | `bad_signature` |
//! | the payload is a JSON object whose claims have the right types ([`Claims`](crate::auth::Claims)) | `malformed` |
//! | `exp` present (unless [`JwtConfig::require_exp`] is off) | `missing_exp` |
//! | `now < exp + leeway` | `expired` |
//! | `nbf <= now + leeway` | `not_yet_valid` |
//! | `iss` is the expected issuer, if one is configured | `wrong_issuer` |
//! | `aud` holds the expected audience, if one is configured; absent, if none is (RFC 7519 §4.1.3) | `wrong_audience` |
//!
//! # The algorithm is the configuration's, never the token's
//! Each key has one algorithm, fixed when the [`Verifier`] is built: by [`KeyConfig`] for a
//! secret or a PEM public key, by the key's `alg` member in a JWKS (or its type when it has
//! none). The header's `alg` must name it exactly, so `none` is always refused, and so is the
//! classic confusion of an HS256 token signed with the text of an RSA public key: the key is
//! RS256's and HS256 is not RS256. Secrets are only ever HMAC keys and public keys only ever
//! signature keys, by construction.
//!
//! # Time is passed in
//! `verify` takes `now` (seconds since the Unix epoch) and reads no clock, so every rule is
//! testable forever with fixed tokens. `exp` and `nbf` are checked here, not by `jsonwebtoken`
//! (whose own checks read the system clock, and whose 9.x line treats a claim of the wrong type
//! as absent, GHSA-h395-gr6q-cpjc): `jsonwebtoken` only checks the signature. The leeway,
//! [`DEFAULT_LEEWAY`] seconds unless configured, allows for clocks that disagree a little
//! between the issuer and this server; [`Grant::expires`] includes it, so a stream ends exactly
//! when `verify` would start refusing its token.
//!
//! # Keys
//! - HS256 / HS384 / HS512: a secret of at least the hash's size (32, 48, 64 bytes; RFC 7518
//!   §3.2), refused otherwise.
//! - RS256/384/512, PS256/384/512 (RSA of 2048 bits or more), ES256 (P-256), ES384 (P-384),
//!   EdDSA (Ed25519): a PEM public key (`PUBLIC KEY`, or `RSA PUBLIC KEY` for RSA). A private
//!   key is refused: the verifier needs only the public half.
//! - A JWKS (RFC 7517 §5): keys with `"use"` other than `"sig"`, of an unknown `kty`, or with
//!   an `alg` this module does not verify (`RSA-OAEP`, `ES512`, ...) are passed over; a key
//!   without `alg` gets RS256 (RSA), ES256 / ES384 (EC, by curve) or EdDSA (OKP); `oct` keys
//!   need an `alg`. A token picks its key by `kid`; without one, only a set of one key will do.
//!
//! Key material is given as bytes ([`KeyConfig`]), so building a verifier reads no file;
//! [`read_key_file`] is the one function here that does.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken as jwt;
use serde_json::{Map, Value};

use super::claims::ClaimsRef;
use super::grant::Grant;
use super::json::{self, Members, Read, Text};
use super::refusal::{BadToken, Refusal};

/// Longest token accepted, in bytes (the request head limit is 8 KiB too).
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Default allowance for clock disagreement in `exp` and `nbf` checks, in seconds.
///
/// Small on purpose: the clocks compared are two servers' (the issuer's and this one), which
/// NTP keeps within milliseconds; five seconds absorbs a sloppy one, and is all the life a
/// leeway adds to an expired token.
pub const DEFAULT_LEEWAY: u64 = 5;

/// Largest key file [`read_key_file`] reads, in bytes.
pub const MAX_KEY_FILE: u64 = 1 << 20;

/// Most keys in a JWKS.
pub const MAX_JWKS_KEYS: usize = 64;

/// A JWS signature algorithm (RFC 7518 §3.1, RFC 8037 §3.1): the ones [`Verifier`] checks.
#[allow(clippy::upper_case_acronyms)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// HMAC with SHA-256.
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA with P-256 and SHA-256.
    ES256,
    /// ECDSA with P-384 and SHA-384.
    ES384,
    /// EdDSA with Ed25519.
    EdDSA,
}

/// The kind of key an algorithm takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Hmac,
    Rsa,
    Ec,
    Ed,
}

impl Algorithm {
    /// Every algorithm, in declaration order.
    pub const ALL: [Algorithm; 12] = [
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];

    /// The `alg` value that names it (`"HS256"`, ..., `"EdDSA"`).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// Whether it takes a shared secret (HS256/384/512) rather than a public key.
    pub fn is_hmac(self) -> bool {
        self.family() == Family::Hmac
    }

    fn family(self) -> Family {
        match self {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => Family::Hmac,
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => Family::Rsa,
            Algorithm::ES256 | Algorithm::ES384 => Family::Ec,
            Algorithm::EdDSA => Family::Ed,
        }
    }

    /// The shortest secret an HMAC algorithm accepts: its hash's output size (RFC 7518 §3.2).
    fn min_secret(self) -> usize {
        match self {
            Algorithm::HS384 => 48,
            Algorithm::HS512 => 64,
            _ => 32,
        }
    }

    /// An EC algorithm's curve: its JWK `crv` name and the DER of its OID.
    fn curve(self) -> Option<(&'static str, &'static [u8])> {
        match self {
            // 1.2.840.10045.3.1.7 (prime256v1) and 1.3.132.0.34 (secp384r1).
            Algorithm::ES256 => {
                Some(("P-256", &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]))
            }
            Algorithm::ES384 => Some(("P-384", &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22])),
            _ => None,
        }
    }

    fn to_jwt(self) -> jwt::Algorithm {
        match self {
            Algorithm::HS256 => jwt::Algorithm::HS256,
            Algorithm::HS384 => jwt::Algorithm::HS384,
            Algorithm::HS512 => jwt::Algorithm::HS512,
            Algorithm::RS256 => jwt::Algorithm::RS256,
            Algorithm::RS384 => jwt::Algorithm::RS384,
            Algorithm::RS512 => jwt::Algorithm::RS512,
            Algorithm::PS256 => jwt::Algorithm::PS256,
            Algorithm::PS384 => jwt::Algorithm::PS384,
            Algorithm::PS512 => jwt::Algorithm::PS512,
            Algorithm::ES256 => jwt::Algorithm::ES256,
            Algorithm::ES384 => jwt::Algorithm::ES384,
            Algorithm::EdDSA => jwt::Algorithm::EdDSA,
        }
    }
}

impl FromStr for Algorithm {
    type Err = AuthConfigError;

    /// The algorithm an `alg` value names, exactly (RFC 7515 §4.1.1: case-sensitive).
    fn from_str(name: &str) -> Result<Algorithm, AuthConfigError> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| AuthConfigError::UnknownAlgorithm(name.chars().take(32).collect()))
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where the verification keys come from, as bytes already read.
#[derive(Clone, PartialEq, Eq)]
pub enum KeyConfig {
    /// A shared secret for an HMAC algorithm.
    Secret {
        /// HS256, HS384 or HS512.
        algorithm: Algorithm,
        /// The secret, as is (no base64 decoding).
        secret: Vec<u8>,
    },
    /// A PEM public key for a signature algorithm.
    PublicKeyPem {
        /// Any algorithm but the HMAC ones.
        algorithm: Algorithm,
        /// The PEM text.
        pem: Vec<u8>,
    },
    /// A JWKS document (`{"keys":[...]}`); each key's algorithm is its own.
    Jwks {
        /// The JSON text.
        json: Vec<u8>,
    },
}

impl fmt::Debug for KeyConfig {
    /// Never shows a secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyConfig::Secret { algorithm, secret } => {
                write!(f, "Secret {{ algorithm: {algorithm}, secret: <{} bytes> }}", secret.len())
            }
            KeyConfig::PublicKeyPem { algorithm, pem } => {
                write!(f, "PublicKeyPem {{ algorithm: {algorithm}, pem: <{} bytes> }}", pem.len())
            }
            KeyConfig::Jwks { json } => write!(f, "Jwks {{ json: <{} bytes> }}", json.len()),
        }
    }
}

/// What a [`Verifier`] checks.
///
/// ```
/// use ssehub::auth::{Algorithm, JwtConfig};
///
/// let config = JwtConfig::hmac(Algorithm::HS256, "a secret of at least thirty-two bytes")
///     .audience("ssehub")
///     .issuer("https://id.example")
///     .leeway(2);
/// assert_eq!(config.audience.as_deref(), Some("ssehub"));
/// assert!(format!("{config:?}").contains("<37 bytes>"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwtConfig {
    /// The keys and their algorithms.
    pub key: KeyConfig,
    /// Allowance for clock disagreement in `exp` / `nbf`, seconds. Default [`DEFAULT_LEEWAY`].
    pub leeway: u64,
    /// The audience that must be in `aud`; `None` (the default) accepts only tokens without `aud`.
    pub audience: Option<String>,
    /// The issuer that `iss` must be; `None` (the default) does not check `iss`.
    pub issuer: Option<String>,
    /// Whether a token without `exp` is refused. Default `true`: a token that never expires
    /// would open streams that never end.
    pub require_exp: bool,
}

impl JwtConfig {
    /// A configuration with the defaults.
    pub fn new(key: KeyConfig) -> JwtConfig {
        JwtConfig { key, leeway: DEFAULT_LEEWAY, audience: None, issuer: None, require_exp: true }
    }

    /// HMAC tokens checked with `secret`.
    pub fn hmac(algorithm: Algorithm, secret: impl Into<Vec<u8>>) -> JwtConfig {
        JwtConfig::new(KeyConfig::Secret { algorithm, secret: secret.into() })
    }

    /// Tokens signed by the private half of a PEM public key.
    pub fn public_key_pem(algorithm: Algorithm, pem: impl Into<Vec<u8>>) -> JwtConfig {
        JwtConfig::new(KeyConfig::PublicKeyPem { algorithm, pem: pem.into() })
    }

    /// Tokens signed by a key of a JWKS document.
    pub fn jwks(json: impl Into<Vec<u8>>) -> JwtConfig {
        JwtConfig::new(KeyConfig::Jwks { json: json.into() })
    }

    /// Sets the expected audience.
    pub fn audience(mut self, audience: impl Into<String>) -> JwtConfig {
        self.audience = Some(audience.into());
        self
    }

    /// Sets the expected issuer.
    pub fn issuer(mut self, issuer: impl Into<String>) -> JwtConfig {
        self.issuer = Some(issuer.into());
        self
    }

    /// Sets the leeway, in seconds.
    pub fn leeway(mut self, seconds: u64) -> JwtConfig {
        self.leeway = seconds;
        self
    }

    /// Sets whether `exp` is required.
    pub fn require_exp(mut self, required: bool) -> JwtConfig {
        self.require_exp = required;
        self
    }
}

/// Why a [`JwtConfig`] cannot make a [`Verifier`], or a key file cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthConfigError {
    /// An algorithm name this module does not know (or verifies no token with, like `none`).
    UnknownAlgorithm(String),
    /// An HMAC secret shorter than its hash.
    WeakSecret {
        /// The algorithm.
        algorithm: Algorithm,
        /// The shortest secret it takes, in bytes.
        min_bytes: usize,
    },
    /// A secret for a signature algorithm, or a public key for an HMAC one.
    WrongKeyKind(Algorithm),
    /// A PEM private key where the public key is wanted.
    PrivateKey,
    /// A PEM public key that is unreadable or not of the algorithm's kind or curve.
    BadPem(String),
    /// A JWKS document that is not `{"keys":[...]}` with at most [`MAX_JWKS_KEYS`] keys.
    BadJwks(String),
    /// A key of a JWKS that claims a usable algorithm but cannot be used with it.
    BadJwk {
        /// The key's `kid`, if any.
        kid: Option<String>,
        /// What is wrong.
        reason: String,
    },
    /// Two keys of a JWKS with the same `kid`.
    DuplicateKid(String),
    /// A JWKS without any key this module can verify with.
    NoUsableKey,
    /// A key file that could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// The error, as text.
        error: String,
    },
    /// A key file over [`MAX_KEY_FILE`] bytes.
    FileTooLarge(PathBuf),
    /// A cookie name that is not an HTTP token (see [`crate::auth::source::is_cookie_name`]).
    BadCookieName(String),
}

impl fmt::Display for AuthConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthConfigError::UnknownAlgorithm(name) => write!(
                f,
                "unknown JWT algorithm {name:?} (one of HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA)"
            ),
            AuthConfigError::WeakSecret { algorithm, min_bytes } => {
                write!(f, "a {algorithm} secret must be at least {min_bytes} bytes")
            }
            AuthConfigError::WrongKeyKind(algorithm) if algorithm.is_hmac() => {
                write!(f, "{algorithm} takes a shared secret, not a public key")
            }
            AuthConfigError::WrongKeyKind(algorithm) => {
                write!(f, "{algorithm} takes a public key, not a secret")
            }
            AuthConfigError::PrivateKey => f.write_str("a private key was given: give the public key"),
            AuthConfigError::BadPem(reason) => write!(f, "bad PEM public key: {reason}"),
            AuthConfigError::BadJwks(reason) => write!(f, "bad JWKS: {reason}"),
            AuthConfigError::BadJwk { kid: Some(kid), reason } => write!(f, "bad JWKS key {kid:?}: {reason}"),
            AuthConfigError::BadJwk { kid: None, reason } => write!(f, "bad JWKS key: {reason}"),
            AuthConfigError::DuplicateKid(kid) => write!(f, "two JWKS keys have kid {kid:?}"),
            AuthConfigError::NoUsableKey => {
                f.write_str("the JWKS has no signature key of a supported algorithm")
            }
            AuthConfigError::Read { path, error } => write!(f, "cannot read {}: {error}", path.display()),
            AuthConfigError::FileTooLarge(path) => {
                write!(f, "{} is larger than {MAX_KEY_FILE} bytes: not a key file", path.display())
            }
            AuthConfigError::BadCookieName(name) => write!(
                f,
                "{name:?} is not a cookie name (letters, digits and !#$%&'*+-.^_`|~, no spaces or separators)"
            ),
        }
    }
}

impl std::error::Error for AuthConfigError {}

/// Reads a key file (secret, PEM or JWKS) of at most [`MAX_KEY_FILE`] bytes.
pub fn read_key_file(path: &Path) -> Result<Vec<u8>, AuthConfigError> {
    use std::io::Read as _;
    let read_error =
        |e: std::io::Error| AuthConfigError::Read { path: path.to_owned(), error: e.to_string() };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_KEY_FILE + 1).read_to_end(&mut bytes))
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_KEY_FILE {
        return Err(AuthConfigError::FileTooLarge(path.to_owned()));
    }
    Ok(bytes)
}

/// One verification key and the one algorithm it verifies.
#[derive(Clone)]
struct Key {
    kid: Option<String>,
    algorithm: Algorithm,
    key: Verifying,
}

/// What checks a signature.
#[derive(Clone)]
enum Verifying {
    /// A secret, as `ring`'s HMAC key: its inner and outer pads hashed once, here, not per token
    /// (`jsonwebtoken` signs the message again and compares base64 text).
    Hmac(ring::hmac::Key),
    /// A public key.
    Public(jwt::DecodingKey),
}

/// Checks tokens against a [`JwtConfig`]: [`Verifier::verify`].
///
/// ```
/// use ssehub::auth::{Algorithm, BadToken, JwtConfig, Refusal, Verifier};
///
/// let verifier = Verifier::from_config(JwtConfig::hmac(Algorithm::HS256, [7u8; 32]))?;
/// assert_eq!(verifier.verify("not.a.token", 1_700_000_000), Err(Refusal::BadToken(BadToken::Malformed)));
/// # Ok::<(), ssehub::auth::AuthConfigError>(())
/// ```
#[derive(Clone)]
pub struct Verifier {
    /// One key for a secret or a PEM key; the usable keys of a JWKS.
    keys: Vec<Key>,
    jwks: bool,
    leeway: u64,
    audience: Option<String>,
    issuer: Option<String>,
    require_exp: bool,
}

impl fmt::Debug for Verifier {
    /// Shows the algorithms and key ids, never key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<String> = self
            .keys
            .iter()
            .map(|k| match &k.kid {
                Some(kid) => format!("{} ({kid:?})", k.algorithm),
                None => k.algorithm.to_string(),
            })
            .collect();
        f.debug_struct("Verifier")
            .field("keys", &keys)
            .field("leeway", &self.leeway)
            .field("audience", &self.audience)
            .field("issuer", &self.issuer)
            .field("require_exp", &self.require_exp)
            .finish()
    }
}

impl Verifier {
    /// Builds a verifier, checking every key now so that a bad one stops the start, not the
    /// first request.
    pub fn from_config(config: JwtConfig) -> Result<Verifier, AuthConfigError> {
        let (keys, jwks) = match &config.key {
            KeyConfig::Secret { algorithm, secret } => (vec![secret_key(*algorithm, secret)?], false),
            KeyConfig::PublicKeyPem { algorithm, pem } => (vec![pem_key(*algorithm, pem)?], false),
            KeyConfig::Jwks { json } => (jwks_keys(json)?, true),
        };
        Ok(Verifier {
            keys,
            jwks,
            leeway: config.leeway,
            audience: config.audience,
            issuer: config.issuer,
            require_exp: config.require_exp,
        })
    }

    /// The leeway, in seconds.
    pub fn leeway(&self) -> u64 {
        self.leeway
    }

    /// Checks `token` at time `now` (seconds since the Unix epoch) and returns what it grants
    /// (see the [module docs](self) for the order of the checks). Reads no clock; never panics.
    pub fn verify(&self, token: &str, now: u64) -> Result<Grant, Refusal> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(BadToken::TooLarge.into());
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(BadToken::Malformed.into());
        };
        if [header, payload, signature].iter().any(|p| p.is_empty()) || !signature.bytes().all(is_base64url) {
            return Err(BadToken::Malformed.into());
        }
        // Decoding checks the header's and the payload's alphabet (base64url, no padding), so
        // only the signature's is looked at first; one buffer holds both.
        let mut json = Vec::with_capacity(decoded_len(header.len()) + decoded_len(payload.len()));
        URL_SAFE_NO_PAD.decode_vec(header, &mut json).map_err(|_| BadToken::Malformed)?;
        let header_len = json.len();
        URL_SAFE_NO_PAD.decode_vec(payload, &mut json).map_err(|_| BadToken::Malformed)?;
        let (header, payload) = json.split_at(header_len);
        let key = {
            let header: Header = json::object(header)?;
            if header.crit {
                // RFC 7515 §4.1.11: extensions we do not understand must not be ignored.
                return Err(BadToken::Malformed.into());
            }
            let Text(alg) = Read::take(header.alg)?.ok_or(BadToken::Malformed)?;
            let kid = Read::take(header.kid)?;
            let key = self.key_for(kid.as_ref().map(|Text(kid)| kid.as_ref()))?;
            if alg != key.algorithm.name() {
                return Err(BadToken::WrongAlg.into());
            }
            key
        };
        let signed = &token[..token.len() - signature.len() - 1];
        if !key.verifies(signed.as_bytes(), signature)? {
            return Err(BadToken::Signature.into());
        }
        let claims = ClaimsRef::read(payload)?;
        self.check(&claims, now)?;
        Ok(Grant {
            subject: claims.subject,
            subscribe: claims.subscribe,
            publish: claims.publish,
            expires: claims.expires.map(|exp| exp.saturating_add(self.leeway)),
        })
    }

    /// The key a token's `kid` selects.
    fn key_for(&self, kid: Option<&str>) -> Result<&Key, BadToken> {
        match (self.jwks, kid) {
            (false, _) => self.keys.first().ok_or(BadToken::UnknownKey),
            (true, Some(kid)) => {
                self.keys.iter().find(|k| k.kid.as_deref() == Some(kid)).ok_or(BadToken::UnknownKey)
            }
            (true, None) if self.keys.len() == 1 => Ok(&self.keys[0]),
            (true, None) => Err(BadToken::UnknownKey),
        }
    }

    /// The claim checks, after the signature.
    fn check(&self, claims: &ClaimsRef, now: u64) -> Result<(), BadToken> {
        match claims.expires {
            None if self.require_exp => return Err(BadToken::MissingExp),
            Some(exp) if now >= exp.saturating_add(self.leeway) => return Err(BadToken::Expired),
            _ => {}
        }
        if claims.not_before.is_some_and(|nbf| now.saturating_add(self.leeway) < nbf) {
            return Err(BadToken::NotYetValid);
        }
        if let Some(issuer) = &self.issuer {
            if claims.issuer.as_ref().map(|Text(iss)| iss.as_ref()) != Some(issuer.as_str()) {
                return Err(BadToken::WrongIssuer);
            }
        }
        let audience_ok = match (&self.audience, &claims.audience) {
            (None, None) => true,
            (None, Some(_)) => false,
            (Some(want), Some(listed)) => listed.iter().any(|Text(aud)| aud == want),
            (Some(_), None) => false,
        };
        if !audience_ok {
            return Err(BadToken::WrongAudience);
        }
        Ok(())
    }
}

impl Key {
    /// Whether `signature` (base64url) signs `signed`; `Err` for a public-key signature that is
    /// not base64url.
    fn verifies(&self, signed: &[u8], signature: &str) -> Result<bool, BadToken> {
        match &self.key {
            Verifying::Hmac(key) => {
                // HS512's 64 bytes at most; longer, or not base64url, cannot be one of ours (a
                // bad signature, as when `jsonwebtoken` compared the text).
                let mut tag = [0u8; 96];
                let Ok(len) = URL_SAFE_NO_PAD.decode_slice(signature, &mut tag) else { return Ok(false) };
                // Constant time: the comparison says nothing of how much of a forgery was right.
                Ok(ring::hmac::verify(key, signed, &tag[..len]).is_ok())
            }
            Verifying::Public(key) => {
                match jwt::crypto::verify(signature, signed, key, self.algorithm.to_jwt()) {
                    Ok(verified) => Ok(verified),
                    Err(e) if matches!(e.kind(), jwt::errors::ErrorKind::Base64(_)) => {
                        Err(BadToken::Malformed)
                    }
                    Err(_) => Ok(false),
                }
            }
        }
    }
}

/// The members of a token's header that are read, as read (the last of each name).
#[derive(Default)]
struct Header<'a> {
    alg: Option<Read<Text<'a>>>,
    kid: Option<Read<Text<'a>>>,
    crit: bool,
}

impl<'de> Members<'de> for Header<'de> {
    fn member<A: serde::de::MapAccess<'de>>(&mut self, name: &str, map: &mut A) -> Result<(), A::Error> {
        match name {
            "alg" => self.alg = Some(map.next_value()?),
            "kid" => self.kid = Some(map.next_value()?),
            "crit" => {
                self.crit = true;
                json::skip(map)?;
            }
            _ => json::skip(map)?,
        }
        Ok(())
    }
}

/// The most bytes `len` base64 characters (unpadded) decode to.
fn decoded_len(len: usize) -> usize {
    len / 4 * 3 + 2
}

fn is_base64url(b: u8) -> bool {
    BASE64URL[usize::from(b)]
}

/// The base64url alphabet (RFC 4648 §5), as a table: every byte of a signature is looked up,
/// and a lookup is cheaper than the comparisons.
static BASE64URL: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
        b += 1;
    }
    table
};

fn secret_key(algorithm: Algorithm, secret: &[u8]) -> Result<Key, AuthConfigError> {
    // The HMAC algorithms only: a public-key algorithm with a secret is the wrong kind of key.
    let hmac = match algorithm {
        Algorithm::HS256 => ring::hmac::HMAC_SHA256,
        Algorithm::HS384 => ring::hmac::HMAC_SHA384,
        Algorithm::HS512 => ring::hmac::HMAC_SHA512,
        _ => return Err(AuthConfigError::WrongKeyKind(algorithm)),
    };
    if secret.len() < algorithm.min_secret() {
        return Err(AuthConfigError::WeakSecret { algorithm, min_bytes: algorithm.min_secret() });
    }
    Ok(Key { kid: None, algorithm, key: Verifying::Hmac(ring::hmac::Key::new(hmac, secret)) })
}

fn pem_key(algorithm: Algorithm, pem: &[u8]) -> Result<Key, AuthConfigError> {
    let from_pem = match algorithm.family() {
        Family::Hmac => return Err(AuthConfigError::WrongKeyKind(algorithm)),
        Family::Rsa => jwt::DecodingKey::from_rsa_pem,
        Family::Ec => jwt::DecodingKey::from_ec_pem,
        Family::Ed => jwt::DecodingKey::from_ed_pem,
    };
    if memchr::memmem::find(pem, b"PRIVATE KEY-----").is_some() {
        return Err(AuthConfigError::PrivateKey);
    }
    let key = from_pem(pem).map_err(|e| AuthConfigError::BadPem(format!("{e} (for {algorithm})")))?;
    if let Some((crv, oid)) = algorithm.curve() {
        // jsonwebtoken takes any EC point; a P-384 key for ES256 would refuse every token.
        let der = pem_body(pem).ok_or_else(|| AuthConfigError::BadPem("no PEM body".into()))?;
        if memchr::memmem::find(&der, oid).is_none() {
            return Err(AuthConfigError::BadPem(format!("{algorithm} needs a {crv} key")));
        }
    }
    Ok(Key { kid: None, algorithm, key: Verifying::Public(key) })
}

/// The DER inside the first PEM block.
fn pem_body(pem: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(pem).ok()?;
    let start = text.find("-----BEGIN ")?;
    let body_start = start + text[start..].find('\n')? + 1;
    let body_end = body_start + text[body_start..].find("-----END ")?;
    let b64: String = text[body_start..body_end].chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD.decode(b64).ok()
}

fn jwks_keys(json: &[u8]) -> Result<Vec<Key>, AuthConfigError> {
    let bad = |reason: &str| AuthConfigError::BadJwks(reason.to_owned());
    let doc: Value = serde_json::from_slice(json).map_err(|e| AuthConfigError::BadJwks(e.to_string()))?;
    let Some(Value::Array(list)) = doc.get("keys") else { return Err(bad("no \"keys\" array")) };
    if list.len() > MAX_JWKS_KEYS {
        return Err(AuthConfigError::BadJwks(format!("more than {MAX_JWKS_KEYS} keys")));
    }
    let mut keys: Vec<Key> = Vec::new();
    for jwk in list {
        let Value::Object(jwk) = jwk else { return Err(bad("a key that is not an object")) };
        let Some(key) = jwk_key(jwk)? else { continue };
        if let Some(kid) = &key.kid {
            if keys.iter().any(|k| k.kid.as_ref() == Some(kid)) {
                return Err(AuthConfigError::DuplicateKid(kid.clone()));
            }
        }
        keys.push(key);
    }
    if keys.is_empty() {
        return Err(AuthConfigError::NoUsableKey);
    }
    Ok(keys)
}

/// One JWKS key: `None` when it is not a signature key of an algorithm verified here.
fn jwk_key(jwk: &Map<String, Value>) -> Result<Option<Key>, AuthConfigError> {
    let kid = match jwk.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(AuthConfigError::BadJwk { kid: None, reason: "kid is not a string".into() }),
    };
    let bad = |reason: String| AuthConfigError::BadJwk { kid: kid.clone(), reason };
    let text = |name: &str| match jwk.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(bad(format!("{name} is not a string"))),
    };
    let required = |name: &str| text(name)?.ok_or_else(|| bad(format!("no {name}")));
    let bytes = |name: &str| {
        URL_SAFE_NO_PAD.decode(required(name)?).map_err(|_| bad(format!("{name} is not base64url")))
    };
    if text("use")?.is_some_and(|u| u != "sig") {
        return Ok(None);
    }
    let kty = required("kty")?;
    let crv = text("crv")?;
    let algorithm = match text("alg")? {
        Some(alg) => match alg.parse::<Algorithm>() {
            Ok(algorithm) => algorithm,
            Err(_) => return Ok(None),
        },
        None => match (kty, crv) {
            ("RSA", _) => Algorithm::RS256,
            ("EC", Some("P-256")) => Algorithm::ES256,
            ("EC", Some("P-384")) => Algorithm::ES384,
            ("OKP", Some("Ed25519")) => Algorithm::EdDSA,
            ("oct", _) => return Err(bad("an oct key needs an alg".into())),
            _ => return Ok(None),
        },
    };
    let key = match (algorithm.family(), kty) {
        (Family::Hmac, "oct") => return secret_key(algorithm, &bytes("k")?).map(|k| Some(Key { kid, ..k })),
        (Family::Rsa, "RSA") => jwt::DecodingKey::from_rsa_raw_components(&bytes("n")?, &bytes("e")?),
        (Family::Ec, "EC") => {
            let (want_crv, _) = algorithm.curve().unwrap_or(("", &[]));
            if crv != Some(want_crv) {
                return Err(bad(format!("{algorithm} needs crv {want_crv}")));
            }
            let (x, y) = (bytes("x")?, bytes("y")?);
            let size = if algorithm == Algorithm::ES256 { 32 } else { 48 };
            if x.len() != size || y.len() != size {
                return Err(bad(format!("x and y of {want_crv} are {size} bytes")));
            }
            jwt::DecodingKey::from_ec_components(required("x")?, required("y")?)
                .map_err(|e| bad(e.to_string()))?
        }
        (Family::Ed, "OKP") => {
            if crv != Some("Ed25519") {
                return Err(bad("EdDSA is verified with crv Ed25519 only".into()));
            }
            if bytes("x")?.len() != 32 {
                return Err(bad("x of Ed25519 is 32 bytes".into()));
            }
            jwt::DecodingKey::from_ed_components(required("x")?).map_err(|e| bad(e.to_string()))?
        }
        _ => return Err(bad(format!("kty {kty:?} cannot be used with {algorithm}"))),
    };
    Ok(Some(Key { kid, algorithm, key: Verifying::Public(key) }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const NOW: u64 = 1_800_000_000;

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// A token with any header and payload text, HMAC-signed with `secret`.
    fn raw_token(header: &str, payload: &str, alg: Algorithm, secret: &[u8]) -> String {
        let signed = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
        let key = jwt::EncodingKey::from_secret(secret);
        let signature = jwt::crypto::sign(signed.as_bytes(), &key, alg.to_jwt()).unwrap();
        format!("{signed}.{signature}")
    }

    fn token(claims: Value) -> String {
        raw_token(r#"{"alg":"HS256","typ":"JWT"}"#, &claims.to_string(), Algorithm::HS256, SECRET)
    }

    fn verifier(config: impl FnOnce(JwtConfig) -> JwtConfig) -> Verifier {
        Verifier::from_config(config(JwtConfig::hmac(Algorithm::HS256, SECRET))).unwrap()
    }

    fn verify(claims: Value) -> Result<Grant, Refusal> {
        verifier(|c| c).verify(&token(claims), NOW)
    }

    fn refused(kind: BadToken) -> Result<Grant, Refusal> {
        Err(Refusal::BadToken(kind))
    }

    #[test]
    fn a_good_token_grants_its_channels() {
        let grant =
            verify(json!({"sub":"u1","exp":NOW + 60,"ssehub":{"subscribe":["room-*"],"publish":["room-1"]}}));
        let grant = grant.unwrap();
        assert_eq!(grant.subject.as_deref(), Some("u1"));
        assert_eq!(grant.expires, Some(NOW + 60 + DEFAULT_LEEWAY));
        assert_eq!(grant.may_subscribe(&["room-7"]), Ok(()));
        assert_eq!(grant.may_publish(&["room-1"]), Ok(()));
        assert!(grant.may_publish(&["room-2"]).is_err());
    }

    #[test]
    fn exp_with_leeway() {
        let at = |exp: u64| verify(json!({ "exp": exp }));
        assert!(at(NOW + 1).is_ok());
        assert!(at(NOW).is_ok(), "within the leeway");
        assert!(at(NOW - DEFAULT_LEEWAY + 1).is_ok());
        assert_eq!(at(NOW - DEFAULT_LEEWAY), refused(BadToken::Expired));
        assert_eq!(at(0), refused(BadToken::Expired));
        let strict = verifier(|c| c.leeway(0));
        assert_eq!(strict.verify(&token(json!({ "exp": NOW })), NOW), refused(BadToken::Expired));
        assert!(strict.verify(&token(json!({ "exp": NOW + 1 })), NOW).is_ok());
        // A grant's end is the first second verify refuses.
        let grant = at(NOW + 10).unwrap();
        let end = grant.expires.unwrap();
        let v = verifier(|c| c);
        assert!(v.verify(&token(json!({ "exp": NOW + 10 })), end - 1).is_ok());
        assert_eq!(v.verify(&token(json!({ "exp": NOW + 10 })), end), refused(BadToken::Expired));
        assert!(verify(json!({ "exp": u64::MAX })).is_ok());
    }

    #[test]
    fn nbf_with_leeway() {
        let at = |nbf: u64| verify(json!({ "exp": NOW + 60, "nbf": nbf }));
        assert!(at(NOW).is_ok());
        assert!(at(NOW + DEFAULT_LEEWAY).is_ok(), "within the leeway");
        assert_eq!(at(NOW + DEFAULT_LEEWAY + 1), refused(BadToken::NotYetValid));
        assert_eq!(verify(json!({"exp":NOW + 60,"nbf":u64::MAX})), refused(BadToken::NotYetValid));
    }

    #[test]
    fn exp_is_required_unless_configured_otherwise() {
        assert_eq!(verify(json!({})), refused(BadToken::MissingExp));
        let lax = verifier(|c| c.require_exp(false));
        assert_eq!(lax.verify(&token(json!({})), NOW).unwrap().expires, None);
    }

    #[test]
    fn time_claims_of_the_wrong_type_are_refused_not_ignored() {
        // The shape of GHSA-h395-gr6q-cpjc: nbf as a string, far ahead.
        let t = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJrcmlzaG5hIiwibmJmIjoiOTk5OTk5OTk5OTkiLCJleHAiOjEwMDAwMDAwMDAwfQ";
        let signed = raw_token(
            r#"{"alg":"HS256"}"#,
            r#"{"nbf":"99999999999","exp":10000000000}"#,
            Algorithm::HS256,
            SECRET,
        );
        assert_eq!(verifier(|c| c).verify(&signed, NOW), refused(BadToken::Malformed));
        assert_eq!(verifier(|c| c).verify(&format!("{t}.AAAA"), NOW), refused(BadToken::Signature));
        assert_eq!(verify(json!({"exp":"never"})), refused(BadToken::Malformed));
        let lax = verifier(|c| c.require_exp(false));
        assert_eq!(lax.verify(&token(json!({"exp":null})), NOW), refused(BadToken::Malformed));
    }

    #[test]
    fn issuer() {
        let v = verifier(|c| c.issuer("https://id.example"));
        let with = |iss: Value| v.verify(&token(json!({"exp":NOW + 60,"iss":iss})), NOW);
        assert!(with(json!("https://id.example")).is_ok());
        assert_eq!(with(json!("https://id.example/")), refused(BadToken::WrongIssuer));
        assert_eq!(v.verify(&token(json!({"exp":NOW + 60})), NOW), refused(BadToken::WrongIssuer));
        assert_eq!(with(json!(["https://id.example"])), refused(BadToken::Malformed));
        // Not configured: any issuer.
        assert!(verify(json!({"exp":NOW + 60,"iss":"anyone"})).is_ok());
    }

    #[test]
    fn audience() {
        let v = verifier(|c| c.audience("ssehub"));
        let with = |aud: Value| v.verify(&token(json!({"exp":NOW + 60,"aud":aud})), NOW);
        assert!(with(json!("ssehub")).is_ok());
        assert!(with(json!(["other", "ssehub"])).is_ok());
        assert_eq!(with(json!("other")), refused(BadToken::WrongAudience));
        assert_eq!(with(json!([])), refused(BadToken::WrongAudience));
        assert_eq!(v.verify(&token(json!({"exp":NOW + 60})), NOW), refused(BadToken::WrongAudience));
        // None expected: a token meant for someone is not for us (RFC 7519 §4.1.3).
        assert_eq!(verify(json!({"exp":NOW + 60,"aud":"ssehub"})), refused(BadToken::WrongAudience));
    }

    #[test]
    fn the_header_alg_must_be_the_pinned_one() {
        let v = verifier(|c| c);
        let claims = json!({"exp":NOW + 60}).to_string();
        for header in [r#"{"alg":"none"}"#, r#"{"alg":"HS384"}"#, r#"{"alg":"hs256"}"#, r#"{"alg":"RS256"}"#]
        {
            let t = raw_token(header, &claims, Algorithm::HS256, SECRET);
            assert_eq!(v.verify(&t, NOW), refused(BadToken::WrongAlg), "{header}");
        }
        // alg none with an empty signature: not even three non-empty parts.
        let none = format!("{}.{}.", b64(br#"{"alg":"none"}"#), b64(claims.as_bytes()));
        assert_eq!(v.verify(&none, NOW), refused(BadToken::Malformed));
    }

    #[test]
    fn malformed_shapes() {
        let v = verifier(|c| c);
        let good = token(json!({"exp":NOW + 60}));
        let (h, rest) = good.split_once('.').unwrap();
        let (p, s) = rest.split_once('.').unwrap();
        for bad in [
            String::new(),
            ".".into(),
            "..".into(),
            "a.b".into(),
            format!("{h}.{p}"),
            format!("{h}.{p}.{s}.{s}"),
            format!("{h}..{s}"),
            format!(".{p}.{s}"),
            format!("{h}.{p}="),
            format!("{h}=.{p}.{s}"),
            format!("{h}.{p}.{s}="),
            format!("{h}.{p}.{s} "),
            format!(" {h}.{p}.{s}"),
            format!("{h}.{p}+.{s}"),
            format!("{}.{p}.{s}", b64(b"[]")),
            format!("{}.{p}.{s}", b64(b"not json")),
            format!("{}.{p}.{s}", b64(br#"{"typ":"JWT"}"#)),
            format!("{}.{p}.{s}", b64(br#"{"alg":256}"#)),
            format!("{}.{p}.{s}", b64(br#"{"alg":"HS256","kid":5}"#)),
        ] {
            assert_eq!(v.verify(&bad, NOW), refused(BadToken::Malformed), "{bad:?}");
        }
        // A signature that is not canonical base64url (the last character's spare bits set).
        let mut odd = good.clone();
        let last = odd.pop().unwrap();
        odd.push(if last == 'B' { 'C' } else { 'B' });
        assert!(matches!(
            v.verify(&odd, NOW),
            Err(Refusal::BadToken(BadToken::Malformed | BadToken::Signature))
        ));
    }

    #[test]
    fn crit_is_refused() {
        let t = raw_token(
            r#"{"alg":"HS256","crit":["exp"],"exp":1}"#,
            r#"{"exp":1900000000}"#,
            Algorithm::HS256,
            SECRET,
        );
        assert_eq!(verifier(|c| c).verify(&t, NOW), refused(BadToken::Malformed));
    }

    #[test]
    fn signature_and_payload_are_bound() {
        let v = verifier(|c| c);
        let good = token(json!({"exp":NOW + 60,"ssehub":{"subscribe":["a"]}}));
        let other = token(json!({"exp":NOW + 60,"ssehub":{"subscribe":["*"]}}));
        let (h, rest) = good.split_once('.').unwrap();
        let (_, s) = rest.split_once('.').unwrap();
        let (_, other_rest) = other.split_once('.').unwrap();
        let (other_p, _) = other_rest.split_once('.').unwrap();
        assert_eq!(v.verify(&format!("{h}.{other_p}.{s}"), NOW), refused(BadToken::Signature));
        let wrong_secret =
            raw_token(r#"{"alg":"HS256"}"#, r#"{"exp":1900000000}"#, Algorithm::HS256, &[1; 32]);
        assert_eq!(v.verify(&wrong_secret, NOW), refused(BadToken::Signature));
        // The payload is only read once the signature holds: a bad one signed is malformed.
        let signed_garbage = raw_token(r#"{"alg":"HS256"}"#, "not json", Algorithm::HS256, SECRET);
        assert_eq!(v.verify(&signed_garbage, NOW), refused(BadToken::Malformed));
    }

    #[test]
    fn length_bound_comes_first() {
        let v = verifier(|c| c);
        assert_eq!(v.verify(&"a".repeat(MAX_TOKEN_LEN + 1), NOW), refused(BadToken::TooLarge));
        assert_eq!(v.verify(&"a".repeat(MAX_TOKEN_LEN), NOW), refused(BadToken::Malformed));
        let padded = token(json!({"exp":NOW + 60,"pad":"x".repeat(MAX_TOKEN_LEN)}));
        assert_eq!(v.verify(&padded, NOW), refused(BadToken::TooLarge));
        let fits = token(json!({"exp":NOW + 60,"pad":"x".repeat(5000)}));
        assert!(fits.len() <= MAX_TOKEN_LEN && v.verify(&fits, NOW).is_ok());
    }

    #[test]
    fn secrets() {
        for (alg, min) in [(Algorithm::HS256, 32), (Algorithm::HS384, 48), (Algorithm::HS512, 64)] {
            assert_eq!(
                Verifier::from_config(JwtConfig::hmac(alg, vec![1; min - 1])).unwrap_err(),
                AuthConfigError::WeakSecret { algorithm: alg, min_bytes: min }
            );
            let v = Verifier::from_config(JwtConfig::hmac(alg, vec![1; min])).unwrap();
            let t = raw_token(&format!(r#"{{"alg":"{alg}"}}"#), r#"{"exp":1900000000}"#, alg, &vec![1; min]);
            assert!(v.verify(&t, NOW).is_ok(), "{alg}");
        }
        assert_eq!(
            Verifier::from_config(JwtConfig::hmac(Algorithm::RS256, SECRET)).unwrap_err(),
            AuthConfigError::WrongKeyKind(Algorithm::RS256)
        );
        assert_eq!(
            Verifier::from_config(JwtConfig::public_key_pem(Algorithm::HS256, "x")).unwrap_err(),
            AuthConfigError::WrongKeyKind(Algorithm::HS256)
        );
        let debug = format!("{:?}", JwtConfig::hmac(Algorithm::HS256, SECRET));
        assert!(!debug.contains("0123456789") && debug.contains("<32 bytes>"), "{debug}");
        assert!(!format!("{:?}", verifier(|c| c)).contains("0123456789"));
    }

    #[test]
    fn pem_config_errors() {
        let pem = |alg, text: &str| Verifier::from_config(JwtConfig::public_key_pem(alg, text)).unwrap_err();
        let private = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n";
        assert_eq!(pem(Algorithm::EdDSA, private), AuthConfigError::PrivateKey);
        assert!(matches!(pem(Algorithm::RS256, "not a pem"), AuthConfigError::BadPem(_)));
        assert!(matches!(pem(Algorithm::ES256, ""), AuthConfigError::BadPem(_)));
    }

    #[test]
    fn jwks_config() {
        let k = b64(&[3; 32]);
        let jwks = |keys: Value| Verifier::from_config(JwtConfig::jwks(json!({ "keys": keys }).to_string()));
        // oct keys verify HS tokens; enc keys and unknown algorithms are passed over.
        let v = jwks(json!([
            {"kty":"oct","kid":"h1","alg":"HS256","k":k},
            {"kty":"RSA","kid":"enc","use":"enc","n":"AQAB","e":"AQAB"},
            {"kty":"EC","kid":"p521","alg":"ES512","crv":"P-521","x":"AA","y":"AA"},
            {"kty":"foo","kid":"what"}
        ]))
        .unwrap();
        assert_eq!(format!("{v:?}").matches("HS256").count(), 1);
        let t =
            raw_token(r#"{"alg":"HS256","kid":"h1"}"#, r#"{"exp":1900000000}"#, Algorithm::HS256, &[3; 32]);
        assert!(v.verify(&t, NOW).is_ok());
        // A set of one key serves tokens without kid; a wrong kid is unknown.
        let t = raw_token(r#"{"alg":"HS256"}"#, r#"{"exp":1900000000}"#, Algorithm::HS256, &[3; 32]);
        assert!(v.verify(&t, NOW).is_ok());
        let t =
            raw_token(r#"{"alg":"HS256","kid":"h2"}"#, r#"{"exp":1900000000}"#, Algorithm::HS256, &[3; 32]);
        assert_eq!(v.verify(&t, NOW), refused(BadToken::UnknownKey));

        let two = jwks(json!([
            {"kty":"oct","kid":"h1","alg":"HS256","k":k},
            {"kty":"oct","kid":"h2","alg":"HS512","k":b64(&[4; 64])}
        ]))
        .unwrap();
        let t =
            raw_token(r#"{"alg":"HS512","kid":"h2"}"#, r#"{"exp":1900000000}"#, Algorithm::HS512, &[4; 64]);
        assert!(two.verify(&t, NOW).is_ok());
        let t = raw_token(r#"{"alg":"HS512"}"#, r#"{"exp":1900000000}"#, Algorithm::HS512, &[4; 64]);
        assert_eq!(two.verify(&t, NOW), refused(BadToken::UnknownKey));
        // The key's alg, not the header's.
        let t =
            raw_token(r#"{"alg":"HS512","kid":"h1"}"#, r#"{"exp":1900000000}"#, Algorithm::HS512, &[3; 32]);
        assert_eq!(two.verify(&t, NOW), refused(BadToken::WrongAlg));

        let err = |keys: Value| jwks(keys).unwrap_err();
        assert_eq!(err(json!([])), AuthConfigError::NoUsableKey);
        assert_eq!(
            err(json!([{"kty":"RSA","use":"enc","n":"AQAB","e":"AQAB"}])),
            AuthConfigError::NoUsableKey
        );
        assert_eq!(
            err(
                json!([{"kty":"oct","kid":"a","alg":"HS256","k":k},{"kty":"oct","kid":"a","alg":"HS256","k":k}])
            ),
            AuthConfigError::DuplicateKid("a".into())
        );
        assert!(matches!(err(json!([{"kty":"oct","kid":"a","k":k}])), AuthConfigError::BadJwk { .. }));
        assert!(matches!(
            err(json!([{"kty":"oct","alg":"HS256","k":b64(&[1; 8])}])),
            AuthConfigError::WeakSecret { .. }
        ));
        assert!(matches!(err(json!([{"kty":"RSA","alg":"HS256","k":k}])), AuthConfigError::BadJwk { .. }));
        assert!(matches!(
            err(json!([{"kty":"EC","alg":"ES256","crv":"P-384","x":"AA","y":"AA"}])),
            AuthConfigError::BadJwk { .. }
        ));
        assert!(matches!(
            err(json!([{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}])),
            AuthConfigError::BadJwk { .. }
        ));
        assert!(matches!(
            err(json!([{"kty":"OKP","crv":"Ed25519","x":"!"}])),
            AuthConfigError::BadJwk { .. }
        ));
        assert!(matches!(err(json!([{"kty":"RSA","alg":"RS256"}])), AuthConfigError::BadJwk { .. }));
        assert!(matches!(err(json!([5])), AuthConfigError::BadJwks(_)));
        assert!(matches!(
            err(json!(vec![json!({"kty":"oct","alg":"HS256","k":k}); MAX_JWKS_KEYS + 1])),
            AuthConfigError::BadJwks(_)
        ));
        assert!(matches!(
            Verifier::from_config(JwtConfig::jwks("{}")).unwrap_err(),
            AuthConfigError::BadJwks(_)
        ));
        assert!(matches!(
            Verifier::from_config(JwtConfig::jwks("nope")).unwrap_err(),
            AuthConfigError::BadJwks(_)
        ));
    }

    #[test]
    fn algorithm_names() {
        for alg in Algorithm::ALL {
            assert_eq!(alg.name().parse::<Algorithm>(), Ok(alg));
            assert_eq!(alg.to_string(), alg.name());
        }
        assert!(matches!("none".parse::<Algorithm>(), Err(AuthConfigError::UnknownAlgorithm(_))));
        assert!("hs256".parse::<Algorithm>().is_err());
    }

    #[test]
    fn read_key_file_bounds() {
        let dir = std::env::temp_dir().join(format!("ssehub-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let small = dir.join("small");
        std::fs::write(&small, b"secret").unwrap();
        assert_eq!(read_key_file(&small).unwrap(), b"secret");
        let big = dir.join("big");
        std::fs::write(&big, vec![b'x'; MAX_KEY_FILE as usize + 1]).unwrap();
        assert_eq!(read_key_file(&big), Err(AuthConfigError::FileTooLarge(big.clone())));
        assert!(matches!(read_key_file(&dir.join("missing")), Err(AuthConfigError::Read { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
