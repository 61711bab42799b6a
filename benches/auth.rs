//! What authorization adds to a new stream: `cargo bench --bench auth`.
//!
//! `JwtPolicy::stream` on a parsed request whose `Authorization: Bearer` holds a token of the
//! usual shape (a `sub`, an `exp`, `aud`, `iss`, three `subscribe` patterns), for HS256, ES256
//! and EdDSA (PyJWT's fixtures, `tests/fixtures/jwt`), beside the request parse every stream
//! pays anyway:
//!
//! - `policy_ALG`: a token seen before (a reconnect), answered from the verified tokens;
//! - `policy_ALG_first_seen`: every stream a token the node has not seen, with the verified
//!   tokens at their default size (what a first connection costs: the lookup that misses, the
//!   whole check, remembering the token and forgetting the oldest): 10,000 tokens of the
//!   fixture's shape, each with its own `jti`, taken in turn, more than the cache holds.
//!
//! BENCHMARKS.md ("Authorization") sets the figures against the set-up rate.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use ssehub::auth::{Algorithm, JwtConfig, JwtPolicy, Policy, Verifier, read_key_file};
use ssehub::http::request::{Limits, Request, parse_head};

/// Tokens taken in turn by the `_first_seen` cases: more than the verified tokens hold (1 MiB,
/// some 3,000 of these), so each is verified again when its turn comes back.
const DISTINCT: usize = 10_000;

/// `NOW` of the fixtures.
const NOW: u64 = 1_800_000_000;

fn fixture(name: &str) -> Vec<u8> {
    read_key_file(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jwt").join(name)).unwrap()
}

fn bench(c: &mut Criterion) {
    let tokens: std::collections::BTreeMap<String, String> =
        serde_json::from_slice(&fixture("tokens.json")).unwrap();
    let secret = String::from_utf8(fixture("hs256.secret")).unwrap();
    let configs = [
        ("hs256", "hs256_good", JwtConfig::hmac(Algorithm::HS256, secret.trim().as_bytes().to_vec())),
        ("es256", "es256_good", JwtConfig::public_key_pem(Algorithm::ES256, fixture("p256.pub.pem"))),
        ("eddsa", "eddsa_good", JwtConfig::public_key_pem(Algorithm::EdDSA, fixture("ed25519.pub.pem"))),
    ];
    let signers = [
        (jsonwebtoken::Algorithm::HS256, jsonwebtoken::EncodingKey::from_secret(secret.trim().as_bytes())),
        (
            jsonwebtoken::Algorithm::ES256,
            jsonwebtoken::EncodingKey::from_ec_pem(&fixture("p256.test-only-private.pem")).unwrap(),
        ),
        (
            jsonwebtoken::Algorithm::EdDSA,
            jsonwebtoken::EncodingKey::from_ed_pem(&fixture("ed25519.test-only-private.pem")).unwrap(),
        ),
    ];
    let channels: [Arc<str>; 1] = ["room-1".into()];
    let mut group = c.benchmark_group("stream");
    for ((name, token, config), (alg, signer)) in configs.into_iter().zip(signers) {
        let config = config.audience("ssehub").issuer("https://id.example.test");
        let policy = JwtPolicy::new(Verifier::from_config(config).unwrap());
        let raw = request(&tokens[token]);
        let req = parse(&raw);
        assert!(policy.stream(&req, &channels, NOW).is_ok(), "{name}");
        // The same token again (a reconnect): answered from the verified tokens.
        group.bench_function(format!("policy_{name}"), |b| {
            b.iter(|| black_box(policy.stream(black_box(&req), &channels, NOW)))
        });
        // A token not seen before, each time.
        let requests: Vec<Request> =
            (0..DISTINCT).map(|i| parse(&request(&mint(&tokens[token], i, alg, &signer)))).collect();
        let fresh = policy.clone().token_cache_bytes(ssehub::auth::cache::DEFAULT_MAX_BYTES);
        assert!(requests.iter().all(|r| fresh.stream(r, &channels, NOW).is_ok()), "{name}: minted tokens");
        let mut turn = 0;
        group.bench_function(format!("policy_{name}_first_seen"), |b| {
            b.iter(|| {
                turn = (turn + 1) % DISTINCT;
                black_box(fresh.stream(black_box(&requests[turn]), &channels, NOW))
            })
        });
        if name == "hs256" {
            group.bench_function("parse_head", |b| {
                b.iter(|| black_box(parse_head(black_box(raw.as_bytes()), &Limits::default())))
            });
        }
    }
    group.finish();
}

/// A stream's request carrying `token`.
fn request(token: &str) -> String {
    format!(
        "GET /sse?channel=room-1 HTTP/1.1\r\nHost: hub.example\r\nAccept: text/event-stream\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
}

fn parse(raw: &str) -> Request {
    parse_head(raw.as_bytes(), &Limits::default()).unwrap().unwrap().request
}

/// `fixture`'s claims with `"jti": n` added, signed again.
fn mint(fixture: &str, n: usize, alg: jsonwebtoken::Algorithm, key: &jsonwebtoken::EncodingKey) -> String {
    use base64::Engine as _;
    let payload = fixture.split('.').nth(1).unwrap();
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap();
    let mut claims: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&payload).unwrap();
    claims.insert("jti".into(), n.into());
    jsonwebtoken::encode(&jsonwebtoken::Header::new(alg), &claims, key).unwrap()
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(std::time::Duration::from_secs(3)).warm_up_time(std::time::Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
