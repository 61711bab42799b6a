//! Authorization: who may read and write which channels.
//!
//! ```text
//! Request ─► token_from (Authorization: Bearer │ cookie │ ?access_token=) ─► token text
//! token text ─► Verifier::verify(token, now) ─► Grant { subscribe, publish, expires, subject } │ Refusal
//! Grant + channels asked for ─► may_subscribe / may_publish / authorize_stream ─► Ok │ Refusal
//! Refusal ─► status() 401 │ 403, reason() "expired", json() {"error":"expired"}
//! ```
//!
//! Patterns, grants, refusals and token sources build without any cargo feature (they are the
//! vocabulary of every authorization decision); verifying JWTs ([`jwt`],
//! [`claims`]) needs the `jwt` feature (on by default).
//!
//! Everything here is pure: text and values in, values out. The time is an argument, key files
//! are read by the caller ([`read_key_file`]) and handed over as bytes, and the hub never sees a
//! token, only the decision.
//!
//! - A **token** is a JWT (RFC 7519) signed with a secret (HS256/384/512) or a private key whose
//!   public half the server has (RS256, ES256, EdDSA, ... from a PEM file or a JWKS). The
//!   algorithm is pinned by configuration, never taken from the token. See [`jwt`].
//! - A **grant** is what a good token allows: channel [patterns](pattern) to subscribe to and to
//!   publish to, from the token's `{"ssehub": {"subscribe": [...], "publish": [...]}}` claim,
//!   and when it ends. See [`grant`].
//! - A **refusal** is every "no", typed: no token or a bad one (401), or a good token without the
//!   channel (403), each with a short stable reason. See [`refusal`].
//! - **Public channels** are patterns that anyone may read without a token
//!   ([`authorize_stream`]).
//!
//! ```
//! use ssehub::auth::{Algorithm, JwtConfig, Patterns, Refusal, Verifier, authorize_stream};
//!
//! let verifier = Verifier::from_config(JwtConfig::hmac(Algorithm::HS256, [7u8; 32]))?;
//! let public = Patterns::parse(["news"])?;
//! let now = 1_800_000_000;
//! // Anyone may read `news`; `room-1` needs a token that grants it.
//! assert_eq!(authorize_stream(&["news"], &public, None, |t| verifier.verify(t, now)), Ok(None));
//! let refusal = authorize_stream(&["news", "room-1"], &public, None, |t| verifier.verify(t, now)).unwrap_err();
//! assert_eq!((refusal.status(), refusal.json()), (401, r#"{"error":"no_token"}"#.to_owned()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[cfg(feature = "jwt")]
pub mod cache;
#[cfg(feature = "jwt")]
pub mod claims;
pub mod grant;
#[cfg(feature = "jwt")]
mod json;
#[cfg(feature = "jwt")]
pub mod jwt;
pub mod pattern;
pub mod policy;
pub mod refusal;
pub mod source;

#[cfg(feature = "jwt")]
pub use claims::Claims;
pub use grant::{Grant, authorize_stream};
#[cfg(feature = "jwt")]
pub use jwt::{
    Algorithm, AuthConfigError, DEFAULT_LEEWAY, JwtConfig, KeyConfig, MAX_TOKEN_LEN, Verifier, read_key_file,
};
pub use pattern::{ChannelPattern, MAX_PATTERN_LEN, MAX_PATTERNS, PatternError, Patterns};
#[cfg(feature = "jwt")]
pub use policy::JwtPolicy;
pub use policy::{Access, Policy};
pub use refusal::{BadToken, Refusal, RefusalKind};
pub use source::{DEFAULT_COOKIE, QUERY_PARAM, bearer, token_from};
