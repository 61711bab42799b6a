//! Tokens made by an independent implementation (PyJWT, `tests/fixtures/jwt/make.py`), accepted
//! and refused by `ssehub::auth`, as a table; then what the good ones grant.
//!
//! Every test passes the same `now` (2027-01-15), and the fixtures' times are fixed relative to
//! it, so the table holds forever.
#![cfg(feature = "jwt")]

use std::collections::BTreeMap;
use std::path::PathBuf;

use ssehub::auth::{
    Algorithm, AuthConfigError, BadToken, DEFAULT_COOKIE, JwtConfig, Patterns, Refusal, Verifier,
    authorize_stream, read_key_file, token_from,
};
use ssehub::http::request::{Limits, parse_head};

/// The `now` the fixtures were made for (`NOW` in make.py).
const NOW: u64 = 1_800_000_000;
/// `EXP_FAR` in make.py.
const EXP_FAR: u64 = 4_102_444_800;
const AUD: &str = "ssehub";
const ISS: &str = "https://id.example.test";

fn fixture(name: &str) -> Vec<u8> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jwt");
    read_key_file(&dir.join(name)).unwrap_or_else(|e| panic!("{e} (run tests/fixtures/jwt/make.py)"))
}

/// A secret file's bytes without the final newline.
fn secret(name: &str) -> Vec<u8> {
    let mut bytes = fixture(name);
    while bytes.last() == Some(&b'\n') {
        bytes.pop();
    }
    bytes
}

fn tokens() -> BTreeMap<String, String> {
    serde_json::from_slice(&fixture("tokens.json")).unwrap()
}

/// The verifier configurations of the table.
#[derive(Clone, Copy, Debug)]
enum Config {
    Hs256,
    Hs384,
    Hs512,
    Rs256,
    Es256,
    EdDsa,
    Jwks,
}

fn verifier(config: Config) -> Verifier {
    let base = match config {
        Config::Hs256 => JwtConfig::hmac(Algorithm::HS256, secret("hs256.secret")),
        Config::Hs384 => JwtConfig::hmac(Algorithm::HS384, secret("hs384.secret")),
        Config::Hs512 => JwtConfig::hmac(Algorithm::HS512, secret("hs512.secret")),
        Config::Rs256 => JwtConfig::public_key_pem(Algorithm::RS256, fixture("rsa.pub.pem")),
        Config::Es256 => JwtConfig::public_key_pem(Algorithm::ES256, fixture("p256.pub.pem")),
        Config::EdDsa => JwtConfig::public_key_pem(Algorithm::EdDSA, fixture("ed25519.pub.pem")),
        Config::Jwks => JwtConfig::jwks(fixture("jwks.json")),
    };
    Verifier::from_config(base.audience(AUD).issuer(ISS)).unwrap()
}

/// What a case expects: accepted, or refused with this kind.
type Expect = Result<(), BadToken>;
const OK: Expect = Ok(());

use BadToken::*;
use Config::*;

/// (fixture token, verifier, expected outcome). Every token of tokens.json appears at least once.
const TABLE: &[(&str, Config, Expect)] = &[
    // Good tokens, each algorithm.
    ("hs256_good", Hs256, OK),
    ("hs384_good", Hs384, OK),
    ("hs512_good", Hs512, OK),
    ("rs256_good", Rs256, OK),
    ("es256_good", Es256, OK),
    ("eddsa_good", EdDsa, OK),
    // A JWKS: keys by kid, each with its own algorithm.
    ("rs256_jwks_kid", Jwks, OK),
    ("es256_jwks_kid", Jwks, OK),
    ("eddsa_jwks_kid", Jwks, OK),
    ("es256_jwks_unknown_kid", Jwks, Err(UnknownKey)),
    ("es256_jwks_no_kid", Jwks, Err(UnknownKey)),
    ("rs256_jwks_kid_of_ec_key", Jwks, Err(WrongAlg)),
    // The algorithm is the configuration's.
    ("alg_none", Hs256, Err(Malformed)),
    ("alg_none", Rs256, Err(Malformed)),
    ("alg_none_with_signature", Hs256, Err(WrongAlg)),
    ("alg_none_with_signature", Jwks, Err(UnknownKey)),
    ("hs256_keyed_with_rs_public_pem", Rs256, Err(WrongAlg)),
    ("hs256_good", Rs256, Err(WrongAlg)),
    ("rs256_good", Hs256, Err(WrongAlg)),
    ("hs384_good", Hs256, Err(WrongAlg)),
    ("hs256_good", Hs512, Err(WrongAlg)),
    ("es256_good", EdDsa, Err(WrongAlg)),
    ("eddsa_good", Es256, Err(WrongAlg)),
    // Time, audience, issuer.
    ("hs256_expired", Hs256, Err(Expired)),
    ("hs256_nbf_future", Hs256, Err(NotYetValid)),
    ("hs256_no_exp", Hs256, Err(MissingExp)),
    ("hs256_exp_as_string", Hs256, Err(Malformed)),
    ("hs256_nbf_as_string", Hs256, Err(Malformed)),
    ("hs256_wrong_aud", Hs256, Err(WrongAudience)),
    ("hs256_aud_list", Hs256, OK),
    ("hs256_no_aud", Hs256, Err(WrongAudience)),
    ("hs256_wrong_iss", Hs256, Err(WrongIssuer)),
    // Signatures and encoding.
    ("hs256_tampered_payload", Hs256, Err(Signature)),
    ("rs256_tampered_payload", Rs256, Err(Signature)),
    ("hs256_wrong_key", Hs256, Err(Signature)),
    ("rs256_wrong_key", Rs256, Err(Signature)),
    ("rs256_wrong_key", Jwks, Err(UnknownKey)),
    ("hs256_bad_base64", Hs256, Err(Malformed)),
    ("hs256_padded_base64", Hs256, Err(Malformed)),
    // The ssehub claim.
    ("hs256_no_ssehub_claim", Hs256, OK),
    ("hs256_malformed_ssehub_claim", Hs256, Err(Malformed)),
    ("hs256_ssehub_not_an_object", Hs256, Err(Malformed)),
    ("hs256_most_patterns", Hs256, OK),
    ("hs256_too_many_patterns", Hs256, Err(Malformed)),
    ("hs256_publish_only", Hs256, OK),
];

#[test]
fn pyjwt_tokens_accepted_and_refused() {
    let tokens = tokens();
    let mut failures = Vec::new();
    for &(name, config, expect) in TABLE {
        let token = tokens.get(name).unwrap_or_else(|| panic!("no token {name} in tokens.json"));
        let got = verifier(config).verify(token, NOW).map(|_| ()).map_err(|r| match r {
            Refusal::BadToken(kind) => kind,
            other => panic!("{name}: {other:?} is not a token refusal"),
        });
        if got != expect {
            failures.push(format!("{name} with {config:?}: expected {expect:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases:\n{}", failures.len(), TABLE.len(), failures.join("\n"));
    for name in tokens.keys() {
        assert!(TABLE.iter().any(|(n, ..)| n == name), "token {name} is not in the table");
    }
}

#[test]
fn a_refusal_answers_401_with_its_reason() {
    let expired = verifier(Hs256).verify(&tokens()["hs256_expired"], NOW).unwrap_err();
    assert_eq!((expired.status(), expired.json()), (401, r#"{"error":"expired"}"#.to_owned()));
    assert_eq!(expired.www_authenticate(), r#"Bearer error="invalid_token""#);
}

#[test]
fn a_100_kb_token_is_refused_before_decoding() {
    let huge = String::from_utf8(fixture("huge.jwt")).unwrap();
    let huge = huge.trim_end();
    assert!(huge.len() > 100_000);
    for config in [Hs256, Rs256, Jwks] {
        assert_eq!(verifier(config).verify(huge, NOW), Err(Refusal::BadToken(TooLarge)));
    }
}

#[test]
fn what_a_good_token_grants() {
    let tokens = tokens();
    for (name, config) in
        [("hs256_good", Hs256), ("rs256_good", Rs256), ("es256_jwks_kid", Jwks), ("eddsa_good", EdDsa)]
    {
        let grant = verifier(config).verify(&tokens[name], NOW).unwrap();
        assert_eq!(grant.subject.as_deref(), Some("user-42"), "{name}");
        assert_eq!(grant.expires, Some(EXP_FAR + ssehub::auth::DEFAULT_LEEWAY), "{name}");
        assert_eq!(grant.subscribe, Patterns::parse(["news", "room-*", "user/42/*"]).unwrap());
        assert_eq!(grant.publish, Patterns::parse(["user/42/*"]).unwrap());
        assert_eq!(grant.may_subscribe(&["news", "room-1", "user/42/inbox"]), Ok(()));
        assert_eq!(grant.may_publish(&["user/42/inbox"]), Ok(()));
    }
}

#[test]
fn a_channel_outside_the_claims_is_403() {
    let grant = verifier(Hs256).verify(&tokens()["hs256_good"], NOW).unwrap();
    let refusal = grant.may_subscribe(&["news", "sports"]).unwrap_err();
    assert_eq!(refusal, Refusal::Forbidden { channel: "sports".into() });
    assert_eq!(
        (refusal.status(), refusal.json()),
        (403, r#"{"error":"forbidden","channel":"sports"}"#.to_owned())
    );
    assert_eq!(grant.may_subscribe(&["user/43/inbox"]).unwrap_err().status(), 403);
    assert_eq!(grant.may_subscribe(&["room"]).unwrap_err().status(), 403);
    // Reading is not writing.
    assert_eq!(grant.may_publish(&["news"]).unwrap_err(), Refusal::Forbidden { channel: "news".into() });

    let publisher = verifier(Hs256).verify(&tokens()["hs256_publish_only"], NOW).unwrap();
    assert_eq!(publisher.may_publish(&["room-1"]), Ok(()));
    assert_eq!(publisher.may_subscribe(&["room-1"]).unwrap_err().status(), 403);
}

#[test]
fn no_ssehub_claim_grants_no_channel() {
    let grant = verifier(Hs256).verify(&tokens()["hs256_no_ssehub_claim"], NOW).unwrap();
    assert!(grant.subscribe.is_empty() && grant.publish.is_empty());
    assert_eq!(grant.may_subscribe(&["news"]).unwrap_err().status(), 403);
    assert_eq!(grant.may_publish(&["news"]).unwrap_err().status(), 403);
}

#[test]
fn public_channels_need_no_token() {
    let v = verifier(Hs256);
    let tokens = tokens();
    let public = Patterns::parse(["lobby", "public-*"]).unwrap();
    let stream = |channels: &[&str], token: Option<&str>| {
        authorize_stream(channels, &public, token, |t| v.verify(t, NOW))
    };

    assert_eq!(stream(&["lobby", "public-1"], None), Ok(None));
    // Not even looked at when every channel is public.
    assert_eq!(stream(&["lobby"], Some(&tokens["hs256_expired"])), Ok(None));
    assert_eq!(stream(&["lobby", "room-1"], None), Err(Refusal::NoToken));
    assert_eq!(stream(&["lobby", "room-1"], Some(&tokens["hs256_expired"])), Err(Refusal::BadToken(Expired)));
    let grant = stream(&["lobby", "room-1"], Some(&tokens["hs256_good"])).unwrap().unwrap();
    assert_eq!(grant.expires, Some(EXP_FAR + ssehub::auth::DEFAULT_LEEWAY));
    assert_eq!(
        stream(&["lobby", "sports"], Some(&tokens["hs256_good"])),
        Err(Refusal::Forbidden { channel: "sports".into() })
    );
}

#[test]
fn from_request_to_grant() {
    let tokens = tokens();
    let v = verifier(Rs256);
    for how in ["Authorization: Bearer {}", "Cookie: theme=dark; ssehub_token={}"] {
        let raw = format!(
            "GET /sse?channel=room-1 HTTP/1.1\r\nHost: h\r\n{}\r\n\r\n",
            how.replace("{}", &tokens["rs256_good"])
        );
        let req = parse_head(raw.as_bytes(), &Limits::default()).unwrap().unwrap().request;
        let token = token_from(&req, DEFAULT_COOKIE).unwrap();
        let channels = ssehub::hub::requested_channels(&req).unwrap();
        assert!(v.verify(&token, NOW).unwrap().may_subscribe(&channels).is_ok(), "{how}");
    }
    let raw = format!("GET /sse?access_token={} HTTP/1.1\r\nHost: h\r\n\r\n", tokens["rs256_good"]);
    let req = parse_head(raw.as_bytes(), &Limits::default()).unwrap().unwrap().request;
    assert!(v.verify(&token_from(&req, DEFAULT_COOKIE).unwrap(), NOW).is_ok());
}

#[test]
fn key_files_of_the_wrong_kind_stop_the_start() {
    let build = |config: JwtConfig| Verifier::from_config(config).unwrap_err();
    assert_eq!(
        build(JwtConfig::public_key_pem(Algorithm::RS256, fixture("rsa.test-only-private.pem"))),
        AuthConfigError::PrivateKey
    );
    assert_eq!(
        build(JwtConfig::public_key_pem(Algorithm::HS256, fixture("rsa.pub.pem"))),
        AuthConfigError::WrongKeyKind(Algorithm::HS256)
    );
    assert!(matches!(
        build(JwtConfig::public_key_pem(Algorithm::ES256, fixture("rsa.pub.pem"))),
        AuthConfigError::BadPem(_)
    ));
    assert!(matches!(
        build(JwtConfig::public_key_pem(Algorithm::RS256, fixture("p256.pub.pem"))),
        AuthConfigError::BadPem(_)
    ));
    assert!(matches!(
        build(JwtConfig::public_key_pem(Algorithm::ES384, fixture("p256.pub.pem"))),
        AuthConfigError::BadPem(_)
    ));
    assert!(matches!(
        build(JwtConfig::public_key_pem(Algorithm::EdDSA, fixture("p256.pub.pem"))),
        AuthConfigError::BadPem(_)
    ));
    assert!(matches!(build(JwtConfig::jwks(fixture("rsa.pub.pem"))), AuthConfigError::BadJwks(_)));
    // The messages are one line each, for the CLI.
    let e = build(JwtConfig::hmac(Algorithm::HS512, secret("hs256.secret")));
    assert_eq!(e.to_string(), "a HS512 secret must be at least 64 bytes");
}

#[test]
fn any_signature_bytes_against_public_keys_are_refused_without_a_crash() {
    let tokens = tokens();
    for (name, config) in
        [("rs256_good", Rs256), ("es256_good", Es256), ("eddsa_good", EdDsa), ("es256_jwks_kid", Jwks)]
    {
        let v = verifier(config);
        let signed = tokens[name].rsplit_once('.').unwrap().0;
        for len in [1, 2, 3, 32, 63, 64, 65, 255, 256, 257, 1024] {
            let signature = "A".repeat(len);
            let got = v.verify(&format!("{signed}.{signature}"), NOW).unwrap_err();
            assert!(
                matches!(got, Refusal::BadToken(Signature | Malformed)),
                "{name} with a {len}-character signature: {got:?}"
            );
        }
    }
}

#[test]
fn a_verifier_is_shared_between_threads() {
    fn shared<T: Send + Sync + Clone + 'static>() {}
    shared::<Verifier>();
    let v = std::sync::Arc::new(verifier(Jwks));
    let token = tokens()["eddsa_jwks_kid"].clone();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (v, token) = (v.clone(), token.clone());
            std::thread::spawn(move || v.verify(&token, NOW).is_ok())
        })
        .collect();
    assert!(threads.into_iter().all(|t| t.join().unwrap()));
}
