//! The decision seam: a [`Policy`] says whether a request may open a stream on its channels,
//! and what it may publish to. The server asks it, and answers its [`Refusal`]s; it never reads a
//! token itself.
//!
//! ```text
//! stream request ─► channels (the `subscribe` hook, or `?channel=`) ─► Policy::stream(req, channels, now)
//!                       ─► Ok(Access { subject, expires }) ─► the stream (ended at `expires`)
//!                       └► Err(Refusal) ─► 401 / 403, a JSON reason, no stream
//! POST /publish, GET /channels ─► Policy::publisher(req, now) ─► Ok(Patterns it may publish to) │ Err
//! ```
//!
//! [`JwtPolicy`] (feature `jwt`) is the ready-made one: JWTs from a header, a cookie or the
//! query ([`token_from`](crate::auth::token_from)), channels declared public readable without one. An application with
//! its own rules implements the trait; the server treats both alike (the `verify` and
//! `subscribe` hooks run before it, as they always did).
//!
//! Time is passed in (`now`, whole seconds since the Unix epoch): a policy reads no clock.
//!
//! ```
//! use std::sync::Arc;
//! use ssehub::auth::{Access, Patterns, Policy, Refusal};
//! use ssehub::http::Request;
//!
//! /// Streams on `lobby` for anyone; nothing else, and no publishing.
//! struct LobbyOnly;
//!
//! impl Policy for LobbyOnly {
//!     fn stream(&self, _: &Request, channels: &[Arc<str>], _now: u64) -> Result<Access, Refusal> {
//!         match channels.iter().find(|c| &***c != "lobby") {
//!             None => Ok(Access::default()),
//!             Some(c) => Err(Refusal::Forbidden { channel: c.to_string() }),
//!         }
//!     }
//!
//!     fn publisher(&self, _: &Request, _now: u64) -> Result<Patterns, Refusal> {
//!         Err(Refusal::NoToken)
//!     }
//! }
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::pattern::Patterns;
use super::refusal::Refusal;
use crate::http::Request;

/// What an allowed stream is: who opened it, and until when it may run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Access {
    /// Who: a token's `sub`. Presence lists it ([`crate::hub::presence`]); `None` for an
    /// anonymous stream.
    pub subject: Option<Arc<str>>,
    /// When the access ends, in seconds since the Unix epoch: the stream is ended then (the
    /// client reconnects, with a fresh token, and resumes by `Last-Event-ID`). `None`: never.
    pub expires: Option<u64>,
}

impl Access {
    /// When the stream ends, on the monotonic clock: `expires` read against one reading of the
    /// two clocks (`since_epoch` the wall clock's time since the Unix epoch at `now`). At once
    /// if `expires` is past; `None` without `expires`, or one too far ahead to be an `Instant`.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use ssehub::auth::Access;
    ///
    /// let now = Instant::now();
    /// let at = |expires| Access { expires: Some(expires), ..Access::default() }
    ///     .ends_at(Duration::from_millis(100_250), now);
    /// assert_eq!(at(160), Some(now + Duration::from_millis(59_750)));
    /// assert_eq!(at(100), Some(now), "past: at once");
    /// assert_eq!(Access::default().ends_at(Duration::ZERO, now), None);
    /// ```
    pub fn ends_at(&self, since_epoch: Duration, now: Instant) -> Option<Instant> {
        let left = Duration::from_secs(self.expires?).saturating_sub(since_epoch);
        now.checked_add(left)
    }
}

/// Who may read and write which channels. See the [module docs](self).
///
/// Called on a worker thread for every new stream and every publish or presence request: keep
/// it fast, and never block in it.
pub trait Policy: Send + Sync {
    /// Whether `req` may open a stream on `channels` (already chosen and checked: 1 to 32 valid
    /// names) at `now`, seconds since the Unix epoch.
    fn stream(&self, req: &Request, channels: &[Arc<str>], now: u64) -> Result<Access, Refusal>;

    /// The channels `req` may publish to at `now`: `POST /publish` to channels outside them is
    /// [`Refusal::Forbidden`], and `GET /channels` lists only them. (The server's shared
    /// publish token, when one is set, is checked before the policy is asked.)
    fn publisher(&self, req: &Request, now: u64) -> Result<Patterns, Refusal>;
}

#[cfg(feature = "jwt")]
pub use jwt_policy::JwtPolicy;

#[cfg(feature = "jwt")]
mod jwt_policy {
    use std::sync::{Arc, Mutex};

    use super::{Access, Policy};
    use crate::auth::cache::VerifiedTokens;
    use crate::auth::grant::{Grant, authorize_stream};
    use crate::auth::jwt::{AuthConfigError, Verifier};
    use crate::auth::pattern::Patterns;
    use crate::auth::refusal::Refusal;
    use crate::auth::source::{self, DEFAULT_COOKIE, is_cookie_name, token_from};
    use crate::http::Request;
    use crate::hub::presence::PRESENCE_PREFIX;

    /// The ready-made [`Policy`]: JSON Web Tokens checked by a [`Verifier`].
    ///
    /// - **Streams.** A stream whose channels are all public (`public`) needs no token (one it
    ///   carries is not even read). Otherwise the token comes from `Authorization: Bearer`, the
    ///   cookie (default [`DEFAULT_COOKIE`]) or `?access_token=` ([`token_from`]), and every
    ///   channel not public must match one of its `subscribe` patterns. The stream ends when
    ///   the token does (`exp` plus the leeway). The companion channel of presence events
    ///   `$presence/NAME` is granted as `NAME` is.
    /// - **Publishing and presence.** The token's `publish` patterns, from `Authorization:
    ///   Bearer` only: never a cookie, which a browser would attach to a forged cross-site
    ///   `POST`, nor the query.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use ssehub::auth::{Algorithm, JwtConfig, JwtPolicy, Patterns, Policy, Refusal, Verifier};
    /// # use ssehub::http::request::{parse_head, Limits};
    /// # let req = |raw: &[u8]| parse_head(raw, &Limits::default()).unwrap().unwrap().request;
    ///
    /// let verifier = Verifier::from_config(JwtConfig::hmac(Algorithm::HS256, [7u8; 32]))?;
    /// let policy = JwtPolicy::new(verifier).public(Patterns::parse(["news"])?).cookie("session")?;
    /// let anonymous = req(b"GET /sse?channel=news HTTP/1.1\r\nHost: h\r\n\r\n");
    /// let news: [Arc<str>; 1] = ["news".into()];
    /// assert_eq!(policy.stream(&anonymous, &news, 1_800_000_000)?.subject, None);
    /// let room: [Arc<str>; 1] = ["room-1".into()];
    /// assert_eq!(policy.stream(&anonymous, &room, 1_800_000_000), Err(Refusal::NoToken));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[derive(Clone, Debug)]
    pub struct JwtPolicy {
        verifier: Verifier,
        public: Patterns,
        cookie: String,
        /// Tokens verified before (shared by clones: same verifier, same answers).
        verified: Arc<Mutex<VerifiedTokens>>,
    }

    impl JwtPolicy {
        /// Tokens checked by `verifier`; no public channel; the cookie [`DEFAULT_COOKIE`].
        pub fn new(verifier: Verifier) -> JwtPolicy {
            JwtPolicy {
                verifier,
                public: Patterns::default(),
                cookie: DEFAULT_COOKIE.to_owned(),
                verified: Arc::default(),
            }
        }

        /// The channels anyone may read without a token.
        pub fn public(mut self, public: Patterns) -> JwtPolicy {
            self.public = public;
            self
        }

        /// The cookie a token is read from; refused unless a valid cookie name (RFC 6265
        /// §4.1.1: an HTTP token, no separators).
        pub fn cookie(mut self, name: &str) -> Result<JwtPolicy, AuthConfigError> {
            if !is_cookie_name(name) {
                return Err(AuthConfigError::BadCookieName(name.chars().take(64).collect()));
            }
            self.cookie = name.to_owned();
            Ok(self)
        }

        /// Bytes of verified tokens remembered, so that a stream reconnecting with its token
        /// skips the signature check (see [`crate::auth::cache`]); default 1 MiB, 0 for none.
        pub fn token_cache_bytes(mut self, bytes: usize) -> JwtPolicy {
            self.verified = Arc::new(Mutex::new(VerifiedTokens::new(bytes)));
            self
        }

        /// [`Verifier::verify`], answered from the tokens verified before when it can.
        fn verify(&self, token: &str, now: u64) -> Result<Grant, Refusal> {
            let lock = || self.verified.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(known) = lock().get(token, now) {
                return known;
            }
            let grant = self.verifier.verify(token, now)?;
            lock().insert(token, grant.clone());
            Ok(grant)
        }

        /// The public channels.
        pub fn public_channels(&self) -> &Patterns {
            &self.public
        }

        /// The verifier.
        pub fn verifier(&self) -> &Verifier {
            &self.verifier
        }
    }

    impl Policy for JwtPolicy {
        fn stream(&self, req: &Request, channels: &[Arc<str>], now: u64) -> Result<Access, Refusal> {
            let token = token_from(req, &self.cookie);
            // A companion channel of presence events is readable by whoever may read its channel.
            let channels: Vec<&str> =
                channels.iter().map(|c| c.strip_prefix(PRESENCE_PREFIX).unwrap_or(c)).collect();
            let grant = authorize_stream(&channels, &self.public, token.as_deref(), |t| self.verify(t, now))?;
            Ok(match grant {
                None => Access::default(),
                Some(grant) => Access { subject: grant.subject.map(Arc::from), expires: grant.expires },
            })
        }

        fn publisher(&self, req: &Request, now: u64) -> Result<Patterns, Refusal> {
            let token = source::bearer(req).ok_or(Refusal::NoToken)?;
            Ok(self.verify(token, now)?.publish)
        }
    }
}

#[cfg(all(test, feature = "jwt"))]
mod tests {
    use super::*;
    use crate::auth::jwt::{Algorithm, AuthConfigError, JwtConfig, Verifier};
    use crate::auth::refusal::BadToken;
    use crate::http::request::{Limits, parse_head};
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    const SECRET: [u8; 32] = [9; 32];
    const NOW: u64 = 1_800_000_000;

    fn token(claims: &str) -> String {
        let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
        let signed = format!("{}.{}", b64(br#"{"alg":"HS256"}"#), b64(claims.as_bytes()));
        let key = jsonwebtoken::EncodingKey::from_secret(&SECRET);
        let sig =
            jsonwebtoken::crypto::sign(signed.as_bytes(), &key, jsonwebtoken::Algorithm::HS256).unwrap();
        format!("{signed}.{sig}")
    }

    fn req(head: &str) -> Request {
        let raw = format!("{head}\r\n\r\n");
        parse_head(raw.as_bytes(), &Limits::default()).unwrap().unwrap().request
    }

    fn policy() -> JwtPolicy {
        let verifier = Verifier::from_config(JwtConfig::hmac(Algorithm::HS256, SECRET)).unwrap();
        JwtPolicy::new(verifier).public(Patterns::parse(["news"]).unwrap())
    }

    fn ch(names: &[&str]) -> Vec<Arc<str>> {
        names.iter().map(|n| Arc::from(*n)).collect()
    }

    const ALICE: &str =
        r#"{"sub":"alice","exp":1800000060,"ssehub":{"subscribe":["room-*"],"publish":["room-1"]}}"#;

    #[test]
    fn streams_get_the_subject_and_the_end_of_the_token() {
        let t = token(ALICE);
        let p = policy();
        for head in [
            format!("GET /sse HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {t}"),
            format!("GET /sse HTTP/1.1\r\nHost: h\r\nCookie: a=b; ssehub_token={t}"),
            format!("GET /sse?access_token={t} HTTP/1.1\r\nHost: h"),
        ] {
            let access = p.stream(&req(&head), &ch(&["news", "room-7"]), NOW).unwrap();
            assert_eq!(access.subject.as_deref(), Some("alice"), "{head}");
            assert_eq!(access.expires, Some(1_800_000_060 + crate::auth::DEFAULT_LEEWAY));
        }
        let with = |ch_: &[&str]| {
            p.stream(
                &req(&format!("GET /sse HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {t}")),
                &ch(ch_),
                NOW,
            )
        };
        assert_eq!(with(&["lobby"]), Err(Refusal::Forbidden { channel: "lobby".into() }));
        assert!(with(&["$presence/room-1"]).is_ok(), "presence events: as the channel");
        assert_eq!(with(&["$presence/lobby"]), Err(Refusal::Forbidden { channel: "lobby".into() }));
        // Public channels only: anonymous, and a bad token is not looked at.
        let bad = req("GET /sse HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer x.y.z");
        assert_eq!(p.stream(&bad, &ch(&["news"]), NOW), Ok(Access::default()));
        assert_eq!(p.stream(&bad, &ch(&["room-1"]), NOW), Err(Refusal::BadToken(BadToken::Malformed)));
        let none = req("GET /sse HTTP/1.1\r\nHost: h");
        assert_eq!(p.stream(&none, &ch(&["news", "room-1"]), NOW), Err(Refusal::NoToken));
        assert_eq!(p.stream(&none, &ch(&["room-1"]), NOW + 120), Err(Refusal::NoToken));
        let late = req(&format!("GET /sse HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {t}"));
        assert_eq!(p.stream(&late, &ch(&["room-1"]), NOW + 120), Err(Refusal::BadToken(BadToken::Expired)));
    }

    #[test]
    fn publishing_takes_the_bearer_header_only() {
        let t = token(ALICE);
        let p = policy();
        let header = req(&format!("POST /publish HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {t}"));
        assert_eq!(p.publisher(&header, NOW), Ok(Patterns::parse(["room-1"]).unwrap()));
        let cookie = req(&format!("POST /publish HTTP/1.1\r\nHost: h\r\nCookie: ssehub_token={t}"));
        assert_eq!(p.publisher(&cookie, NOW), Err(Refusal::NoToken));
        let query = req(&format!("POST /publish?access_token={t} HTTP/1.1\r\nHost: h"));
        assert_eq!(p.publisher(&query, NOW), Err(Refusal::NoToken));
        let reader = token(r#"{"exp":1800000060,"ssehub":{"subscribe":["*"]}}"#);
        let reader = req(&format!("POST /publish HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {reader}"));
        assert_eq!(p.publisher(&reader, NOW), Ok(Patterns::default()), "subscribe only: publishes nowhere");
    }

    #[test]
    fn cookie_names() {
        assert!(policy().cookie("session_id-2").is_ok());
        for bad in ["", "a b", "a=b", "a;b", "a,b", "\"a\"", "é", "a\tb", "a\u{7f}"] {
            assert!(matches!(policy().cookie(bad), Err(AuthConfigError::BadCookieName(_))), "{bad:?}");
        }
        let t = token(ALICE);
        let p = policy().cookie("jwt").unwrap();
        let r = req(&format!("GET /sse HTTP/1.1\r\nHost: h\r\nCookie: ssehub_token={t}"));
        assert_eq!(p.stream(&r, &ch(&["room-1"]), NOW), Err(Refusal::NoToken), "another cookie");
        let r = req(&format!("GET /sse HTTP/1.1\r\nHost: h\r\nCookie: jwt={t}"));
        assert!(p.stream(&r, &ch(&["room-1"]), NOW).is_ok());
    }

    #[test]
    fn ends_at_saturates() {
        let now = Instant::now();
        let far = Access { expires: Some(u64::MAX), ..Access::default() };
        assert_eq!(far.ends_at(Duration::ZERO, now), None, "too far for an Instant: never");
    }
}
