//! Why a request is refused: [`Refusal`], with its HTTP status and a short stable reason.
//!
//! Every "no" that [`auth`](crate::auth) gives is one of these values, so the server answers
//! all of them one way:
//!
//! | refusal | status | `reason()` |
//! |---|---|---|
//! | [`Refusal::NoToken`] | 401 | `no_token` |
//! | [`Refusal::BadToken`] | 401 | the [`BadToken`] kind: `too_large`, `malformed`, `wrong_alg`, `unknown_key`, `bad_signature`, `expired`, `not_yet_valid`, `missing_exp`, `wrong_audience`, `wrong_issuer` |
//! | [`Refusal::Forbidden`] | 403 | `forbidden` |
//!
//! The reason strings are part of the interface: clients read them from the JSON body
//! ([`Refusal::json`]) and metrics use them as labels, so they never change meaning.

use std::fmt;

/// What is wrong with a token that was presented: the kind of a [`Refusal::BadToken`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BadToken {
    /// Longer than [`MAX_TOKEN_LEN`](crate::auth::jwt::MAX_TOKEN_LEN); refused before any decoding.
    TooLarge,
    /// Not a compact JWS of three base64url parts with a JSON object header and payload, a
    /// header with `crit`, or a claim of the wrong type (`exp` as a string, `ssehub` not an
    /// object, a bad or too long channel pattern, more patterns than allowed).
    Malformed,
    /// The header's `alg` is not the algorithm the configuration pins for the key (`none`, an
    /// HS algorithm against a public key, RS256 against an ES256 key, ...).
    WrongAlg,
    /// The header's `kid` names no key of the JWKS (or names none, and the set has several).
    UnknownKey,
    /// The signature does not verify with the configured key.
    Signature,
    /// `exp` is past (beyond the leeway).
    Expired,
    /// `nbf` is still ahead (beyond the leeway).
    NotYetValid,
    /// No `exp`, and the configuration requires one.
    MissingExp,
    /// The expected audience is not in `aud`, or the token names an audience and none is expected.
    WrongAudience,
    /// `iss` is not the expected issuer.
    WrongIssuer,
}

impl BadToken {
    /// The stable machine-readable reason, e.g. `"expired"`.
    pub fn reason(self) -> &'static str {
        match self {
            BadToken::TooLarge => "too_large",
            BadToken::Malformed => "malformed",
            BadToken::WrongAlg => "wrong_alg",
            BadToken::UnknownKey => "unknown_key",
            BadToken::Signature => "bad_signature",
            BadToken::Expired => "expired",
            BadToken::NotYetValid => "not_yet_valid",
            BadToken::MissingExp => "missing_exp",
            BadToken::WrongAudience => "wrong_audience",
            BadToken::WrongIssuer => "wrong_issuer",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            BadToken::TooLarge => "the token is too large",
            BadToken::Malformed => "the token is malformed",
            BadToken::WrongAlg => "the token's algorithm is not the configured one",
            BadToken::UnknownKey => "the token names no known key",
            BadToken::Signature => "the token's signature does not verify",
            BadToken::Expired => "the token has expired",
            BadToken::NotYetValid => "the token is not valid yet",
            BadToken::MissingExp => "the token has no expiry",
            BadToken::WrongAudience => "the token is for another audience",
            BadToken::WrongIssuer => "the token is from another issuer",
        }
    }
}

/// Why a request is not authorized.
///
/// ```
/// use ssehub::auth::{BadToken, Refusal};
///
/// let r = Refusal::BadToken(BadToken::Expired);
/// assert_eq!((r.status(), r.reason()), (401, "expired"));
/// assert_eq!(r.json(), r#"{"error":"expired"}"#);
///
/// let r = Refusal::Forbidden { channel: "room-9".into() };
/// assert_eq!((r.status(), r.reason()), (403, "forbidden"));
/// assert_eq!(r.json(), r#"{"error":"forbidden","channel":"room-9"}"#);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// A token is needed and none was presented.
    NoToken,
    /// The token presented is not acceptable.
    BadToken(BadToken),
    /// The token is good but does not grant this channel.
    Forbidden {
        /// The first channel asked for that the grant does not cover.
        channel: String,
    },
}

impl Refusal {
    /// The HTTP status to answer with: 401 without an acceptable token, 403 when the token does
    /// not cover a channel.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::NoToken | Refusal::BadToken(_) => 401,
            Refusal::Forbidden { .. } => 403,
        }
    }

    /// The stable machine-readable reason (see the [module table](self)).
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::NoToken => "no_token",
            Refusal::BadToken(kind) => kind.reason(),
            Refusal::Forbidden { .. } => "forbidden",
        }
    }

    /// The JSON body to answer with: `{"error":"<reason>"}`, plus `"channel"` for a 403.
    pub fn json(&self) -> String {
        match self {
            Refusal::Forbidden { channel } => {
                let mut body = String::from(r#"{"error":"forbidden","channel":"#);
                crate::http::json::push_string(&mut body, channel);
                body.push('}');
                body
            }
            other => format!(r#"{{"error":"{}"}}"#, other.reason()),
        }
    }

    /// The `WWW-Authenticate` value for the answer (RFC 6750 §3): no error code when no token
    /// was presented, `invalid_token` for a bad one, `insufficient_scope` for a 403.
    pub fn www_authenticate(&self) -> &'static str {
        match self {
            Refusal::NoToken => "Bearer",
            Refusal::BadToken(_) => r#"Bearer error="invalid_token""#,
            Refusal::Forbidden { .. } => r#"Bearer error="insufficient_scope""#,
        }
    }
}

/// The four families refusals are counted in (the `reason` label of
/// `ssehub_streams_refused_total`): no token, a bad one, an expired one, a channel not granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefusalKind {
    /// [`Refusal::NoToken`].
    NoToken,
    /// [`Refusal::BadToken`] other than expired.
    BadToken,
    /// [`BadToken::Expired`].
    Expired,
    /// [`Refusal::Forbidden`].
    Forbidden,
}

impl RefusalKind {
    /// Every kind, in declaration order (`kind as usize` indexes it).
    pub const ALL: [RefusalKind; 4] =
        [RefusalKind::NoToken, RefusalKind::BadToken, RefusalKind::Expired, RefusalKind::Forbidden];

    /// The label: `no_token`, `bad_token`, `expired`, `forbidden`.
    pub fn label(self) -> &'static str {
        match self {
            RefusalKind::NoToken => "no_token",
            RefusalKind::BadToken => "bad_token",
            RefusalKind::Expired => "expired",
            RefusalKind::Forbidden => "forbidden",
        }
    }
}

impl Refusal {
    /// The family it is counted in.
    ///
    /// ```
    /// use ssehub::auth::{BadToken, Refusal, RefusalKind};
    /// assert_eq!(Refusal::BadToken(BadToken::Expired).kind(), RefusalKind::Expired);
    /// assert_eq!(Refusal::BadToken(BadToken::Signature).kind().label(), "bad_token");
    /// ```
    pub fn kind(&self) -> RefusalKind {
        match self {
            Refusal::NoToken => RefusalKind::NoToken,
            Refusal::BadToken(BadToken::Expired) => RefusalKind::Expired,
            Refusal::BadToken(_) => RefusalKind::BadToken,
            Refusal::Forbidden { .. } => RefusalKind::Forbidden,
        }
    }
}

impl From<BadToken> for Refusal {
    fn from(kind: BadToken) -> Refusal {
        Refusal::BadToken(kind)
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NoToken => f.write_str("a token is required"),
            Refusal::BadToken(kind) => f.write_str(kind.describe()),
            Refusal::Forbidden { channel } => write!(f, "the token does not grant channel {channel:?}"),
        }
    }
}

impl std::error::Error for Refusal {}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: [BadToken; 10] = [
        BadToken::TooLarge,
        BadToken::Malformed,
        BadToken::WrongAlg,
        BadToken::UnknownKey,
        BadToken::Signature,
        BadToken::Expired,
        BadToken::NotYetValid,
        BadToken::MissingExp,
        BadToken::WrongAudience,
        BadToken::WrongIssuer,
    ];

    #[test]
    fn every_bad_token_is_401_with_a_distinct_snake_case_reason() {
        let mut seen = std::collections::HashSet::new();
        for kind in KINDS {
            let r = Refusal::from(kind);
            assert_eq!(r.status(), 401);
            assert!(r.reason().bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{}", r.reason());
            assert!(seen.insert(r.reason()), "duplicate reason {}", r.reason());
            assert_eq!(r.json(), format!(r#"{{"error":"{}"}}"#, r.reason()));
            assert_eq!(r.www_authenticate(), r#"Bearer error="invalid_token""#);
            assert!(!r.to_string().is_empty());
        }
        assert!(!seen.contains("no_token") && !seen.contains("forbidden"));
    }

    #[test]
    fn no_token_and_forbidden() {
        assert_eq!((Refusal::NoToken.status(), Refusal::NoToken.reason()), (401, "no_token"));
        assert_eq!(Refusal::NoToken.www_authenticate(), "Bearer");
        let r = Refusal::Forbidden { channel: "a\"b\n".into() };
        assert_eq!(r.status(), 403);
        assert_eq!(r.json(), r#"{"error":"forbidden","channel":"a\"b\n"}"#);
        assert_eq!(r.to_string(), r#"the token does not grant channel "a\"b\n""#);
    }
}
