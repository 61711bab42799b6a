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
//!   patterns](crate::auth::pattern), each at most [`MAX_PATTERNS`](crate::auth::MAX_PATTERNS) long. A missing `ssehub`
//!   claim, or a missing list, grants no channel; a present one of the wrong shape is malformed.
//! - Other claims (`iat`, `jti`, an issuer's own) and unknown members of `ssehub` are ignored.
//!   A claim named twice counts with its last value (RFC 7519 §4 allows that reading).
//!
//! Which of these are checked, and against what, is [`Verifier`](crate::auth::Verifier)'s job;
//! this module only reads them. What a good token allows is a [`Grant`](crate::auth::Grant).

use serde::de::MapAccess;

use super::json::{self, Members, OneOrMany, Read, Seconds, Text};
use super::pattern::Patterns;
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
        let claims = ClaimsRef::read(payload)?;
        let owned = |Text(text): Text| text.into_owned();
        Ok(Claims {
            subject: claims.subject,
            issuer: claims.issuer.map(owned),
            audience: claims.audience.map(|list| list.into_iter().map(owned).collect()),
            expires: claims.expires,
            not_before: claims.not_before,
            subscribe: claims.subscribe,
            publish: claims.publish,
        })
    }
}

/// [`Claims`] as the verifier reads them: what it only compares (`iss`, `aud`) borrowed from
/// the payload, not copied.
#[derive(Debug)]
pub(crate) struct ClaimsRef<'a> {
    pub(crate) subject: Option<String>,
    pub(crate) issuer: Option<Text<'a>>,
    pub(crate) audience: Option<Vec<Text<'a>>>,
    pub(crate) expires: Option<u64>,
    pub(crate) not_before: Option<u64>,
    pub(crate) subscribe: Patterns,
    pub(crate) publish: Patterns,
}

impl<'a> ClaimsRef<'a> {
    /// Reads the claims from a payload's JSON text: [`Claims::parse`], borrowing.
    pub(crate) fn read(payload: &'a [u8]) -> Result<ClaimsRef<'a>, BadToken> {
        let read: Payload = json::object(payload)?;
        let (subscribe, publish) = match Read::take(read.ours)? {
            None => (None, None),
            Some(ours) => (Read::take(ours.subscribe)?, Read::take(ours.publish)?),
        };
        Ok(ClaimsRef {
            subject: Read::take(read.sub)?,
            issuer: Read::take(read.iss)?,
            audience: Read::take(read.aud)?.map(|OneOrMany(list)| list),
            expires: Read::take(read.exp)?.map(|Seconds(secs)| secs),
            not_before: Read::take(read.nbf)?.map(|Seconds(secs)| secs),
            subscribe: subscribe.unwrap_or_default(),
            publish: publish.unwrap_or_default(),
        })
    }
}

/// The members of a payload that are read, as read (the last of each name).
#[derive(Default)]
struct Payload<'a> {
    sub: Option<Read<String>>,
    iss: Option<Read<Text<'a>>>,
    aud: Option<Read<OneOrMany<'a>>>,
    exp: Option<Read<Seconds>>,
    nbf: Option<Read<Seconds>>,
    ours: Option<Read<Ours>>,
}

impl<'de> Members<'de> for Payload<'de> {
    fn member<A: MapAccess<'de>>(&mut self, name: &str, map: &mut A) -> Result<(), A::Error> {
        match name {
            "sub" => self.sub = Some(map.next_value()?),
            "iss" => self.iss = Some(map.next_value()?),
            "aud" => self.aud = Some(map.next_value()?),
            "exp" => self.exp = Some(map.next_value()?),
            "nbf" => self.nbf = Some(map.next_value()?),
            "ssehub" => self.ours = Some(map.next_value()?),
            _ => json::skip(map)?,
        }
        Ok(())
    }
}

/// The `ssehub` claim, as read.
#[derive(Default)]
struct Ours {
    subscribe: Option<Read<Patterns>>,
    publish: Option<Read<Patterns>>,
}

impl<'de> Members<'de> for Ours {
    fn member<A: MapAccess<'de>>(&mut self, name: &str, map: &mut A) -> Result<(), A::Error> {
        match name {
            "subscribe" => self.subscribe = Some(map.next_value()?),
            "publish" => self.publish = Some(map.next_value()?),
            _ => json::skip(map)?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::MAX_PATTERNS;

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
        // An earlier value is only checked to be JSON, as a map of the object would have it.
        assert_eq!(claims(r#"{"exp":"x","exp":2}"#).unwrap().expires, Some(2));
        assert_eq!(claims(r#"{"exp":2,"exp":"x"}"#), Err(BadToken::Malformed));
        let c = claims(r#"{"ssehub":5,"ssehub":{"publish":null,"publish":["a"]},"sub":"u"}"#).unwrap();
        assert_eq!((c.publish, c.subject.as_deref()), (Patterns::parse(["a"]).unwrap(), Some("u")));
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
