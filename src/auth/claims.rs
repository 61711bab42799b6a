//! The claims of a token payload that ssehub reads: [`Claims`] (feature `jwt`).
//!
//! The claims this module reads (RFC 7519 §4.1 and ssehub's own):
//!
//! ```json
//! {"sub": "user-42", "exp": 1767225600, "nbf": 1767222000, "iss": "https://id.example",
//!  "aud": "ssehub", "ssehub": {"subscribe": ["news", "user/42/*"], "publish": ["user/42/*"]}}
//! ```
//!
//! - `exp`, `nbf`: NumericDate, a JSON number of seconds since the Unix epoch (a fraction is
//!   rounded up, a negative number is 0). Any other JSON type is [`BadToken::Malformed`], never
//!   "absent": a string `exp` does not make a token immortal.
//! - `sub`, `iss`: strings; `aud`: a string or an array of strings (§4.1.3).
//! - `ssehub`: an object with optional `subscribe` and `publish` arrays of [channel
//!   patterns](crate::auth::pattern), each at most [`MAX_PATTERNS`] long. A missing `ssehub`
//!   claim, or a missing list, grants no channel; a present one of the wrong shape is malformed.
//! - Other claims (`iat`, `jti`, an issuer's own) and unknown members of `ssehub` are ignored.
//!   A claim named twice counts with its last value (RFC 7519 §4 allows that reading).
//!
//! Which of these are checked, and against what, is [`Verifier`](crate::auth::Verifier)'s job;
//! this module only reads them. What a good token allows is a [`Grant`](crate::auth::Grant).

use serde_json::{Map, Value};

use super::pattern::{MAX_PATTERNS, Patterns};
use super::refusal::BadToken;

/// The claims of a token payload that ssehub reads (see the [module docs](self)).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Claims {
    /// `sub`.
    pub subject: Option<String>,
    /// `iss`.
    pub issuer: Option<String>,
    /// `aud`, a single string read as a list of one.
    pub audience: Option<Vec<String>>,
    /// `exp`, whole seconds (rounded up).
    pub expires: Option<u64>,
    /// `nbf`, whole seconds (rounded up).
    pub not_before: Option<u64>,
    /// `ssehub.subscribe`.
    pub subscribe: Patterns,
    /// `ssehub.publish`.
    pub publish: Patterns,
}

impl Claims {
    /// Reads the claims from a payload's JSON text (already base64url-decoded).
    ///
    /// ```
    /// use ssehub::auth::{BadToken, Claims};
    ///
    /// let c = Claims::parse(br#"{"sub":"u1","exp":1.5,"ssehub":{"subscribe":["room-*"]}}"#)?;
    /// assert_eq!((c.subject.as_deref(), c.expires), (Some("u1"), Some(2)));
    /// assert!(c.subscribe.matches("room-1") && c.publish.is_empty());
    /// assert_eq!(Claims::parse(br#"{"exp":"never"}"#), Err(BadToken::Malformed));
    /// # Ok::<(), BadToken>(())
    /// ```
    pub fn parse(payload: &[u8]) -> Result<Claims, BadToken> {
        let value: Value = serde_json::from_slice(payload).map_err(|_| BadToken::Malformed)?;
        let claims = value.as_object().ok_or(BadToken::Malformed)?;
        let (subscribe, publish) = match claims.get("ssehub") {
            None => (Patterns::default(), Patterns::default()),
            Some(Value::Object(ours)) => (patterns(ours, "subscribe")?, patterns(ours, "publish")?),
            Some(_) => return Err(BadToken::Malformed),
        };
        Ok(Claims {
            subject: string(claims, "sub")?,
            issuer: string(claims, "iss")?,
            audience: audience(claims)?,
            expires: numeric_date(claims, "exp")?,
            not_before: numeric_date(claims, "nbf")?,
            subscribe,
            publish,
        })
    }
}

fn string(claims: &Map<String, Value>, name: &str) -> Result<Option<String>, BadToken> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(BadToken::Malformed),
    }
}

fn audience(claims: &Map<String, Value>) -> Result<Option<Vec<String>>, BadToken> {
    match claims.get("aud") {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or(BadToken::Malformed))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(BadToken::Malformed),
    }
}

/// A NumericDate as whole seconds, rounded up: `now < exp` and `now >= nbf` read the same for
/// a whole-second `now` with `exp` or `nbf` rounded up.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<u64>, BadToken> {
    let Some(value) = claims.get(name) else { return Ok(None) };
    let Value::Number(n) = value else { return Err(BadToken::Malformed) };
    if let Some(secs) = n.as_u64() {
        return Ok(Some(secs));
    }
    match n.as_f64() {
        // `as` saturates: 1e300 is u64::MAX, a negative number is 0.
        Some(secs) if secs.is_finite() => Ok(Some(secs.ceil() as u64)),
        _ => Err(BadToken::Malformed),
    }
}

fn patterns(ours: &Map<String, Value>, name: &str) -> Result<Patterns, BadToken> {
    match ours.get(name) {
        None => Ok(Patterns::default()),
        Some(Value::Array(list)) if list.len() <= MAX_PATTERNS => {
            let texts =
                list.iter().map(|v| v.as_str().ok_or(BadToken::Malformed)).collect::<Result<Vec<_>, _>>()?;
            Patterns::parse(texts).map_err(|_| BadToken::Malformed)
        }
        Some(_) => Err(BadToken::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(json: &str) -> Result<Claims, BadToken> {
        Claims::parse(json.as_bytes())
    }

    #[test]
    fn reads_every_claim() {
        let c = claims(
            r#"{"sub":"u","iss":"i","aud":["a","b"],"exp":20,"nbf":10,"iat":5,"jti":"x",
                "ssehub":{"subscribe":["news","room-*"],"publish":["*"],"future":1}}"#,
        )
        .unwrap();
        assert_eq!(c.subject.as_deref(), Some("u"));
        assert_eq!(c.issuer.as_deref(), Some("i"));
        assert_eq!(c.audience, Some(vec!["a".to_owned(), "b".to_owned()]));
        assert_eq!((c.expires, c.not_before), (Some(20), Some(10)));
        assert_eq!(c.subscribe, Patterns::parse(["news", "room-*"]).unwrap());
        assert_eq!(c.publish, Patterns::all());
    }

    #[test]
    fn absent_claims_are_none_and_no_channels() {
        assert_eq!(claims("{}").unwrap(), Claims::default());
        let c = claims(r#"{"ssehub":{}}"#).unwrap();
        assert!(c.subscribe.is_empty() && c.publish.is_empty());
        assert_eq!(claims(r#"{"aud":"x"}"#).unwrap().audience, Some(vec!["x".to_owned()]));
        assert_eq!(claims(r#"{"aud":[]}"#).unwrap().audience, Some(vec![]));
    }

    #[test]
    fn wrong_types_are_malformed_not_absent() {
        for json in [
            r#"{"exp":"99999999999"}"#,
            r#"{"exp":null}"#,
            r#"{"exp":true}"#,
            r#"{"exp":[1]}"#,
            r#"{"nbf":"99999999999"}"#,
            r#"{"nbf":{}}"#,
            r#"{"sub":5}"#,
            r#"{"iss":null}"#,
            r#"{"aud":5}"#,
            r#"{"aud":["a",5]}"#,
            r#"{"ssehub":null}"#,
            r#"{"ssehub":["news"]}"#,
            r#"{"ssehub":"news"}"#,
            r#"{"ssehub":{"subscribe":"news"}}"#,
            r#"{"ssehub":{"subscribe":[5]}}"#,
            r#"{"ssehub":{"subscribe":[""]}}"#,
            r#"{"ssehub":{"publish":null}}"#,
        ] {
            assert_eq!(claims(json), Err(BadToken::Malformed), "{json}");
        }
    }

    #[test]
    fn not_json_objects_are_malformed() {
        for payload in [&b""[..], b"null", b"[]", b"\"x\"", b"5", b"{", b"{\"a\":1}x", b"\xff{}"] {
            assert_eq!(Claims::parse(payload), Err(BadToken::Malformed), "{payload:?}");
        }
    }

    #[test]
    fn numeric_dates() {
        let exp = |json: &str| claims(json).map(|c| c.expires);
        assert_eq!(exp(r#"{"exp":0}"#), Ok(Some(0)));
        assert_eq!(exp(r#"{"exp":18446744073709551615}"#), Ok(Some(u64::MAX)));
        assert_eq!(exp(r#"{"exp":1e300}"#), Ok(Some(u64::MAX)));
        assert_eq!(exp(r#"{"exp":100.0}"#), Ok(Some(100)));
        assert_eq!(exp(r#"{"exp":100.2}"#), Ok(Some(101)));
        assert_eq!(exp(r#"{"exp":-5}"#), Ok(Some(0)));
        assert_eq!(exp(r#"{"exp":-5.5}"#), Ok(Some(0)));
        assert_eq!(exp(r#"{"exp":1e400}"#), Err(BadToken::Malformed));
    }

    #[test]
    fn duplicate_claims_count_with_the_last_value() {
        assert_eq!(claims(r#"{"exp":1,"exp":2}"#).unwrap().expires, Some(2));
    }

    #[test]
    fn pattern_bounds() {
        let list = |n: usize| format!(r#"{{"ssehub":{{"publish":[{}]}}}}"#, vec![r#""a""#; n].join(","));
        assert_eq!(claims(&list(MAX_PATTERNS)).unwrap().publish.as_slice().len(), MAX_PATTERNS);
        assert_eq!(claims(&list(MAX_PATTERNS + 1)), Err(BadToken::Malformed));
        let long = format!(
            r#"{{"ssehub":{{"subscribe":["{}"]}}}}"#,
            "x".repeat(crate::auth::pattern::MAX_PATTERN_LEN + 1)
        );
        assert_eq!(claims(&long), Err(BadToken::Malformed));
    }
}
