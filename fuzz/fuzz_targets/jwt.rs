//! Token verification, claims parsing and channel patterns never panic, and agree with a model.
//!
//! The input is fields separated by `0xFF` bytes (never in UTF-8, so text fields stay readable
//! in seeds):
//!
//! 0. settings: byte 0 bit 0 `require_exp`, bit 1 an expected audience (`ssehub`), bit 2 an
//!    expected issuer (`iss`); byte 1 the leeway; bytes 2..10 `now` (little-endian, zero-padded);
//! 1. a token, as is;
//! 2. a header and 3. a payload, which the target signs with the verifier's HS256 secret;
//! 4. channel patterns and 5. channels, one a line.
//!
//! Checks:
//! * `verify` of the raw token does not panic, and refuses anything over `MAX_TOKEN_LEN`;
//! * `verify` of the signed token gives exactly the model's answer: `too_large` past the bound,
//!   `malformed` for a header that is not a JSON object with a string `alg` (or has `crit`, or a
//!   non-string `kid`), `wrong_alg` unless `alg` is `HS256`, `malformed` for claims that
//!   `Claims::parse` refuses, then `missing_exp`, `expired`, `not_yet_valid`, `wrong_issuer`,
//!   `wrong_audience` by the rules restated below; and an accepted token's grant is its claims'
//!   patterns, subject and `exp + leeway`;
//! * `Claims::parse` of the payload does not panic and keeps the pattern bound;
//! * `Patterns::parse` refuses exactly what the model refuses (the 129th pattern, an empty one,
//!   one over 257 bytes, in list order), and `matches`, `Grant::may_subscribe` /
//!   `may_publish` and `authorize_stream` agree with a naive byte-wise matcher.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use ssehub::auth::{
    Algorithm, BadToken, Claims, Grant, JwtConfig, MAX_PATTERN_LEN, MAX_PATTERNS, MAX_TOKEN_LEN,
    PatternError, Patterns, Refusal, Verifier, authorize_stream,
};

const SECRET: &[u8] = b"fuzz-secret-fuzz-secret-fuzz-secret!";

fuzz_target!(|data: &[u8]| {
    let mut fields = data.split(|&b| b == 0xFF);
    let mut next = || fields.next().unwrap_or(&[]);
    let settings = next();
    let token = String::from_utf8_lossy(next()).into_owned();
    let header = String::from_utf8_lossy(next()).into_owned();
    let payload = next().to_vec();
    let patterns = lines(next());
    let channels = lines(next());

    let flags = settings.first().copied().unwrap_or(0);
    let leeway = u64::from(settings.get(1).copied().unwrap_or(0));
    let mut now_bytes = [0u8; 8];
    for (i, b) in settings.iter().skip(2).take(8).enumerate() {
        now_bytes[i] = *b;
    }
    let config = Config {
        require_exp: flags & 1 != 0,
        audience: (flags & 2 != 0).then_some("ssehub"),
        issuer: (flags & 4 != 0).then_some("iss"),
        leeway,
        now: u64::from_le_bytes(now_bytes),
    };
    let verifier = config.verifier();

    // 1. Any text.
    let raw = verifier.verify(&token, config.now);
    if token.len() > MAX_TOKEN_LEN {
        assert_eq!(raw, Err(Refusal::BadToken(BadToken::TooLarge)));
    }

    // 2. A token signed with the right secret: the model decides.
    let signed = sign(&header, &payload);
    let got = verifier.verify(&signed, config.now);
    let want = config.model(&signed, &header, &payload);
    match (&got, &want) {
        (Ok(grant), Ok(claims)) => {
            assert_eq!(grant.subscribe, claims.subscribe);
            assert_eq!(grant.publish, claims.publish);
            assert_eq!(grant.subject, claims.subject);
            assert_eq!(grant.expires, claims.expires.map(|e| e.saturating_add(config.leeway)));
        }
        (Err(Refusal::BadToken(g)), Err(w)) => assert_eq!(g, w, "token {signed:?}"),
        _ => panic!("verify {got:?}, model {want:?}, token {signed:?}"),
    }

    // 3. Claims of any bytes.
    if let Ok(claims) = Claims::parse(&payload) {
        assert!(claims.subscribe.as_slice().len() <= MAX_PATTERNS);
        assert!(claims.publish.as_slice().len() <= MAX_PATTERNS);
    }

    // 4. Patterns against the naive matcher.
    let parsed = Patterns::parse(&patterns);
    assert_eq!(parsed.as_ref().err().copied(), model_pattern_error(&patterns));
    let Ok(parsed) = parsed else { return };
    for channel in &channels {
        assert_eq!(parsed.matches(channel), naive_any(&patterns, channel), "{patterns:?} {channel:?}");
    }
    let first_outside = channels.iter().find(|c| !naive_any(&patterns, c));
    let forbidden = first_outside.map(|c| Refusal::Forbidden { channel: c.clone() });
    let grant = Grant { subscribe: parsed.clone(), publish: parsed.clone(), ..Grant::default() };
    assert_eq!(grant.may_subscribe(&channels).err(), forbidden);
    assert_eq!(grant.may_publish(&channels).err(), forbidden);

    // The same patterns as the public channels, and a grant of the first channel (as a pattern).
    let own: Vec<String> =
        channels.first().filter(|c| Patterns::parse([c.as_str()]).is_ok()).cloned().into_iter().collect();
    let own_grant = Grant { subscribe: Patterns::parse(&own).unwrap_or_default(), ..Grant::default() };
    let decided = authorize_stream(&channels, &parsed, None, |_| Ok(own_grant.clone()));
    let private: Vec<&String> = channels.iter().filter(|c| !naive_any(&patterns, c)).collect();
    if private.is_empty() {
        assert_eq!(decided, Ok(None));
    } else {
        assert_eq!(decided, Err(Refusal::NoToken));
        let with = authorize_stream(&channels, &parsed, Some("t"), |_| Ok(own_grant.clone()));
        match private.iter().find(|c| !naive_any(&own, c)) {
            None => assert_eq!(with, Ok(Some(own_grant.clone()))),
            Some(c) => assert_eq!(with, Err(Refusal::Forbidden { channel: (*c).clone() })),
        }
    }
});

struct Config {
    require_exp: bool,
    audience: Option<&'static str>,
    issuer: Option<&'static str>,
    leeway: u64,
    now: u64,
}

impl Config {
    fn verifier(&self) -> Verifier {
        let mut c =
            JwtConfig::hmac(Algorithm::HS256, SECRET).leeway(self.leeway).require_exp(self.require_exp);
        if let Some(aud) = self.audience {
            c = c.audience(aud);
        }
        if let Some(iss) = self.issuer {
            c = c.issuer(iss);
        }
        Verifier::from_config(c).expect("a valid configuration")
    }

    /// The rules of `Verifier::verify` for a token whose signature is good, restated.
    fn model(&self, token: &str, header: &str, payload: &[u8]) -> Result<Claims, BadToken> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(BadToken::TooLarge);
        }
        // Three non-empty parts (the signature never is) come before the header is read.
        if header.is_empty() || payload.is_empty() {
            return Err(BadToken::Malformed);
        }
        let Ok(Value::Object(h)) = serde_json::from_str::<Value>(header) else {
            return Err(BadToken::Malformed);
        };
        let alg = match h.get("alg") {
            Some(Value::String(a)) => a,
            _ => return Err(BadToken::Malformed),
        };
        if h.contains_key("crit") || h.get("kid").is_some_and(|k| !k.is_string()) {
            return Err(BadToken::Malformed);
        }
        if alg != "HS256" {
            return Err(BadToken::WrongAlg);
        }
        let claims = Claims::parse(payload)?;
        match claims.expires {
            None if self.require_exp => return Err(BadToken::MissingExp),
            Some(exp) if self.now >= exp.saturating_add(self.leeway) => return Err(BadToken::Expired),
            _ => {}
        }
        if claims.not_before.is_some_and(|nbf| self.now.saturating_add(self.leeway) < nbf) {
            return Err(BadToken::NotYetValid);
        }
        if self.issuer.is_some() && claims.issuer.as_deref() != self.issuer {
            return Err(BadToken::WrongIssuer);
        }
        let aud_ok = match (self.audience, &claims.audience) {
            (None, None) => true,
            (Some(want), Some(list)) => list.iter().any(|a| a == want),
            _ => false,
        };
        if !aud_ok {
            return Err(BadToken::WrongAudience);
        }
        Ok(claims)
    }
}

fn sign(header: &str, payload: &[u8]) -> String {
    let signed = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload));
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET);
    let signature =
        jsonwebtoken::crypto::sign(signed.as_bytes(), &key, jsonwebtoken::Algorithm::HS256).unwrap();
    format!("{signed}.{signature}")
}

fn lines(bytes: &[u8]) -> Vec<String> {
    if bytes.is_empty() {
        return Vec::new();
    }
    String::from_utf8_lossy(bytes).split('\n').map(str::to_owned).collect()
}

/// `Patterns::parse`'s refusal, restated: the first offending pattern in list order.
fn model_pattern_error(patterns: &[String]) -> Option<PatternError> {
    for (i, p) in patterns.iter().enumerate() {
        if i == MAX_PATTERNS {
            return Some(PatternError::TooMany);
        }
        if p.is_empty() {
            return Some(PatternError::Empty);
        }
        if p.len() > MAX_PATTERN_LEN {
            return Some(PatternError::TooLong);
        }
    }
    None
}

/// A matcher written the slow, obvious way, over bytes.
fn naive_any(patterns: &[String], channel: &str) -> bool {
    patterns.iter().any(|p| {
        let (p, c) = (p.as_bytes(), channel.as_bytes());
        match p.split_last() {
            Some((b'*', prefix)) => c.len() >= prefix.len() && (0..prefix.len()).all(|i| c[i] == prefix[i]),
            _ => p == c,
        }
    })
}
