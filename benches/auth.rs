//! What authorization adds to a new stream: `cargo bench --bench auth`.
//!
//! `JwtPolicy::stream` (a token seen before, answered from the verified tokens, and one seen for
//! the first time) on a parsed request whose `Authorization: Bearer` holds a token of the
//! usual shape (a `sub`, an `exp`, three `subscribe` patterns), for HS256, ES256 and EdDSA
//! (PyJWT's fixtures, `tests/fixtures/jwt`), beside the request parse every stream pays anyway.
//! BENCHMARKS.md ("Authorization") sets the figures against the set-up rate.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use ssehub::auth::{Algorithm, JwtConfig, JwtPolicy, Policy, Verifier, read_key_file};
use ssehub::http::request::{Limits, parse_head};

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
    let channels: [Arc<str>; 1] = ["room-1".into()];
    let mut group = c.benchmark_group("stream");
    for (name, token, config) in configs {
        let config = config.audience("ssehub").issuer("https://id.example.test");
        let policy = JwtPolicy::new(Verifier::from_config(config).unwrap());
        let raw = format!(
            "GET /sse?channel=room-1 HTTP/1.1\r\nHost: hub.example\r\nAccept: text/event-stream\r\nAuthorization: Bearer {}\r\n\r\n",
            tokens[token]
        );
        let req = parse_head(raw.as_bytes(), &Limits::default()).unwrap().unwrap().request;
        assert!(policy.stream(&req, &channels, NOW).is_ok(), "{name}");
        // The same token again (a reconnect): answered from the verified tokens.
        group.bench_function(format!("policy_{name}"), |b| {
            b.iter(|| black_box(policy.stream(black_box(&req), &channels, NOW)))
        });
        // A token seen for the first time: the whole check, signature included.
        let uncached = policy.clone().token_cache_bytes(0);
        group.bench_function(format!("policy_{name}_first_seen"), |b| {
            b.iter(|| black_box(uncached.stream(black_box(&req), &channels, NOW)))
        });
        if name == "hs256" {
            group.bench_function("parse_head", |b| {
                b.iter(|| black_box(parse_head(black_box(raw.as_bytes()), &Limits::default())))
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(std::time::Duration::from_secs(3)).warm_up_time(std::time::Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
