//! Authorization on real sockets: the server with a [`JwtPolicy`] refuses streams `401` / `403`
//! with a JSON reason and no stream, lets public channels through, ends a stream at its token's
//! `exp`, authorizes `POST /publish` by the `publish` claims, keeps replay to the channels a
//! stream may read, and counts refusals by reason in the metrics.
//!
//! The table's tokens are PyJWT's (`tests/fixtures/jwt`, made for a fixed `now`, 2027-01-15):
//! the policy under test is the [`JwtPolicy`] itself, asked at that `now` ([`AtFixtureTime`]).
//! Tokens whose times matter on the real clock (expiry) are minted here.
#![cfg(feature = "jwt")]

mod net;
mod serve_child;
mod tokens;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use net::{Conn, Stream, TIMEOUT, data_of, get, post, wait_until};
use serve_child::serve;
use ssehub::auth::{
    Access, Algorithm, JwtConfig, JwtPolicy, Patterns, Policy, Refusal, Verifier, read_key_file,
};
use ssehub::http::Request;
use ssehub::hub::Target;
use ssehub::{Event, Server};
use tokens::{SECRET, mint};

/// `NOW` in make.py.
const NOW: u64 = 1_800_000_000;

fn fixture(name: &str) -> Vec<u8> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jwt");
    read_key_file(&dir.join(name)).unwrap_or_else(|e| panic!("{e} (run tests/fixtures/jwt/make.py)"))
}

fn tokens() -> BTreeMap<String, String> {
    serde_json::from_slice(&fixture("tokens.json")).unwrap()
}

fn hs256_secret() -> Vec<u8> {
    let mut s = fixture("hs256.secret");
    while s.last() == Some(&b'\n') {
        s.pop();
    }
    s
}

/// The JWT policy, asked at the fixtures' `now` instead of the clock's.
struct AtFixtureTime(JwtPolicy);

impl Policy for AtFixtureTime {
    fn stream(&self, req: &Request, channels: &[Arc<str>], _now: u64) -> Result<Access, Refusal> {
        self.0.stream(req, channels, NOW)
    }

    fn publisher(&self, req: &Request, _now: u64) -> Result<Patterns, Refusal> {
        self.0.publisher(req, NOW)
    }
}

fn fixture_policy() -> AtFixtureTime {
    let config = JwtConfig::hmac(Algorithm::HS256, hs256_secret())
        .audience("ssehub")
        .issuer("https://id.example.test");
    let public = Patterns::parse(["lobby", "public-*"]).unwrap();
    AtFixtureTime(JwtPolicy::new(Verifier::from_config(config).unwrap()).public(public))
}

/// Sends `GET path` with `extra` header lines; the status, the content type and the body (for
/// an answer with a length; a stream's first bytes otherwise).
fn ask(addr: std::net::SocketAddr, path: &str, extra: &str) -> (u16, Option<String>, String) {
    let mut conn = Conn::connect(addr);
    conn.send(&get(path, extra));
    let head = conn.try_read_head(Instant::now() + TIMEOUT).expect("an answer");
    let content_type = head.header("content-type").map(str::to_owned);
    if head.content_length().is_some() {
        let body = conn.read_body(&head);
        return (head.status, content_type, String::from_utf8_lossy(&body).into_owned());
    }
    (head.status, content_type, String::new())
}

fn bearer(token: &str) -> String {
    format!("Authorization: Bearer {token}\r\n")
}

/// (token from tokens.json, expected status, expected JSON body) for `GET /sse?channel=room-1`.
const TABLE: &[(&str, u16, &str)] = &[
    ("hs256_good", 200, ""),
    ("hs256_aud_list", 200, ""),
    ("rs256_good", 401, r#"{"error":"wrong_alg"}"#),
    ("alg_none", 401, r#"{"error":"malformed"}"#),
    ("alg_none_with_signature", 401, r#"{"error":"wrong_alg"}"#),
    ("hs256_keyed_with_rs_public_pem", 401, r#"{"error":"bad_signature"}"#),
    ("hs256_expired", 401, r#"{"error":"expired"}"#),
    ("hs256_nbf_future", 401, r#"{"error":"not_yet_valid"}"#),
    ("hs256_wrong_aud", 401, r#"{"error":"wrong_audience"}"#),
    ("hs256_wrong_iss", 401, r#"{"error":"wrong_issuer"}"#),
    ("hs256_tampered_payload", 401, r#"{"error":"bad_signature"}"#),
    ("hs256_wrong_key", 401, r#"{"error":"bad_signature"}"#),
    ("hs256_bad_base64", 401, r#"{"error":"malformed"}"#),
    ("hs256_no_ssehub_claim", 403, r#"{"error":"forbidden","channel":"room-1"}"#),
    ("hs256_publish_only", 403, r#"{"error":"forbidden","channel":"room-1"}"#),
];

#[test]
fn pyjwt_tokens_through_the_server() {
    let server = Server::builder().policy(fixture_policy()).bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    let tokens = tokens();
    let mut failures = Vec::new();
    for &(name, status, body) in TABLE {
        let (got, content_type, got_body) = ask(addr, "/sse?channel=room-1", &bearer(&tokens[name]));
        let want_type = if status == 200 { "text/event-stream" } else { "application/json" };
        if (got, content_type.as_deref(), got_body.as_str()) != (status, Some(want_type), body) {
            failures.push(format!("{name}: expected {status} {body}, got {got} {content_type:?} {got_body}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    server.shutdown();
}

#[test]
fn sources_public_channels_and_forbidden_ones() {
    let server = Server::builder().policy(fixture_policy()).bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    let good = &tokens()["hs256_good"];
    // The three places a token comes from.
    assert_eq!(ask(addr, "/sse?channel=room-1", &format!("Cookie: a=b; ssehub_token={good}\r\n")).0, 200);
    assert_eq!(ask(addr, &format!("/sse?channel=room-1&access_token={good}"), "").0, 200);
    // No token: 401 no_token, with the challenge; a public channel needs none.
    let mut conn = Conn::connect(addr);
    conn.send(&get("/sse?channel=room-1", ""));
    let (head, body) = conn.read_response();
    assert_eq!((head.status, body.as_slice()), (401, br#"{"error":"no_token"}"#.as_slice()));
    assert_eq!(head.header("www-authenticate"), Some("Bearer"));
    assert_eq!(ask(addr, "/sse?channel=lobby&channel=public-2", "").0, 200);
    assert_eq!(
        ask(addr, "/sse?channel=lobby", &bearer("not.a.token")).0,
        200,
        "public: the token is not read"
    );
    assert_eq!(ask(addr, "/sse?channel=lobby&channel=room-1", "").0, 401);
    // A good token without the channel.
    let (status, _, body) = ask(addr, "/sse?channel=room-1&channel=sports", &bearer(good));
    assert_eq!((status, body.as_str()), (403, r#"{"error":"forbidden","channel":"sports"}"#));
    assert_eq!(ask(addr, "/sse", &bearer(good)).0, 403, "no channel: the default one, not granted");
    // A 100 KB token: refused (431 for the head, or 401), never a crash; the server goes on.
    let huge = String::from_utf8(fixture("huge.jwt")).unwrap();
    let (status, ..) = ask(addr, "/sse?channel=room-1", &bearer(huge.trim_end()));
    assert!(status == 431 || status == 401, "{status}");
    assert_eq!(ask(addr, "/sse?channel=room-1", &bearer(good)).0, 200);
    let stats = server.stats();
    let refused: BTreeMap<_, _> = stats.streams_refused.iter().copied().collect();
    assert_eq!(refused["no_token"], 2);
    assert_eq!(refused["forbidden"], 2);
    server.shutdown();
}

#[test]
fn metrics_count_refusals_by_reason() {
    let server =
        Server::builder().policy(fixture_policy()).metrics_path("/metrics").bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    let tokens = tokens();
    ask(addr, "/sse?channel=room-1", "");
    ask(addr, "/sse?channel=room-1", &bearer(&tokens["hs256_expired"]));
    ask(addr, "/sse?channel=room-1", &bearer(&tokens["hs256_expired"]));
    ask(addr, "/sse?channel=room-1", &bearer(&tokens["hs256_tampered_payload"]));
    ask(addr, "/sse?channel=sports", &bearer(&tokens["hs256_good"]));
    let (status, _, metrics) = ask(addr, "/metrics", "");
    assert_eq!(status, 200);
    for line in [
        r#"ssehub_streams_refused_total{reason="no_token"} 1"#,
        r#"ssehub_streams_refused_total{reason="expired"} 2"#,
        r#"ssehub_streams_refused_total{reason="bad_token"} 1"#,
        r#"ssehub_streams_refused_total{reason="forbidden"} 1"#,
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} not in\n{metrics}");
    }
    server.shutdown();
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn clock_policy() -> JwtPolicy {
    let verifier = Verifier::from_config(JwtConfig::hmac(Algorithm::HS256, SECRET).leeway(0)).unwrap();
    JwtPolicy::new(verifier).public(Patterns::parse(["news"]).unwrap())
}

#[test]
fn a_stream_ends_when_its_token_expires() {
    let server = Server::builder().policy(clock_policy()).bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    let exp = unix_now() + 2;
    let token = mint(serde_json::json!({"exp": exp, "ssehub": {"subscribe": ["room-*"]}}));
    let opened = Instant::now();
    let mut stream = Stream::open(addr, "/sse?channel=room-1", &bearer(&token));
    let far = mint(serde_json::json!({"exp": exp + 3600, "ssehub": {"subscribe": ["room-*"]}}));
    let mut lasting = Stream::open(addr, "/sse?channel=room-1", &bearer(&far));
    assert_eq!(stream.read_to_end(), Some(true), "ended with the last chunk, not cut");
    let took = opened.elapsed();
    assert!(took >= Duration::from_millis(900) && took <= Duration::from_millis(3500), "{took:?}");
    assert!(stream.closes_within(TIMEOUT));
    assert_eq!(server.stats().streams_expired, 1);
    lasting.read_for(Duration::from_millis(200));
    assert_eq!(lasting.ended, None, "the other stream goes on");
    server.shutdown();
}

#[test]
fn publishing_by_the_publish_claims() {
    let server =
        Server::builder().policy(clock_policy()).publish_path("/publish").bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    let exp = unix_now() + 3600;
    let writer =
        mint(serde_json::json!({"exp": exp, "ssehub": {"publish": ["room-*"], "subscribe": ["room-*"]}}));
    let reader = mint(serde_json::json!({"exp": exp, "ssehub": {"subscribe": ["*"]}}));
    let mut listener = Stream::open(addr, "/sse?channel=room-1", &bearer(&reader));
    assert!(wait_until(TIMEOUT, || server.broadcaster().client_count() == 1));
    let mut conn = Conn::connect(addr);
    let (status, body) = post(&mut conn, "/publish?channel=room-1", Some(&writer), b"hello");
    assert_eq!(status, 201, "{body}");
    assert!(body.starts_with(r#"{"id":"#), "{body}");
    assert_eq!(data_of(&listener.items(1)), ["hello"]);
    let cases: [(&str, Option<&str>, u16, &str); 5] = [
        ("/publish?channel=lobby", Some(&writer), 403, r#"{"error":"forbidden","channel":"lobby"}"#),
        (
            "/publish?channel=room-1&channel=news",
            Some(&writer),
            403,
            r#"{"error":"forbidden","channel":"news"}"#,
        ),
        ("/publish?channel=room-1", Some(&reader), 403, r#"{"error":"forbidden","channel":"room-1"}"#),
        ("/publish?channel=room-1", None, 401, r#"{"error":"no_token"}"#),
        ("/publish?channel=room-1", Some("x.y.z"), 401, r#"{"error":"malformed"}"#),
    ];
    for (path, token, status, body) in cases {
        let mut conn = Conn::connect(addr);
        assert_eq!(post(&mut conn, path, token, b"x"), (status, body.to_owned()), "{path} {token:?}");
    }
    // The cookie is not read for publishing (a browser would attach it to a forged POST).
    let mut conn = Conn::connect(addr);
    let head = format!(
        "POST /publish?channel=room-1 HTTP/1.1\r\nHost: h\r\nCookie: ssehub_token={writer}\r\nContent-Length: 1\r\n\r\nx"
    );
    conn.send(head.as_bytes());
    assert_eq!(conn.read_response().0.status, 401);
    server.shutdown();
}

#[test]
fn the_shared_publish_token_stays_beside_the_claims() {
    let server = Server::builder()
        .policy(clock_policy())
        .publish_endpoint("/publish", "s3cret")
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.local_addr();
    let writer = mint(serde_json::json!({"exp": unix_now() + 60, "ssehub": {"publish": ["room-*"]}}));
    let mut conn = Conn::connect(addr);
    assert_eq!(post(&mut conn, "/publish?channel=anything", Some("s3cret"), b"x").0, 201);
    assert_eq!(post(&mut conn, "/publish?channel=room-9", Some(&writer), b"x").0, 201);
    assert_eq!(post(&mut conn, "/publish?channel=anything", Some(&writer), b"x").0, 403);
    server.shutdown();
}

#[test]
fn replay_gives_a_resumed_stream_only_what_it_may_read() {
    let server = Server::builder().policy(clock_policy()).bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    let hub = server.broadcaster();
    let first = hub.publish("room-1", Event::new("one")).unwrap();
    let first = first.id.map_or(first.seq.to_string(), |id| id.to_string());
    hub.publish("secret", Event::new("hidden")).unwrap();
    hub.publish_to(&Target::channels(["room-1", "secret"]), Event::new("both")).unwrap();
    hub.publish("room-1", Event::new("three")).unwrap();
    let token = mint(serde_json::json!({"exp": unix_now() + 60, "ssehub": {"subscribe": ["room-*"]}}));
    let resume = format!("{}Last-Event-ID: {first}\r\n", bearer(&token));
    let mut stream = Stream::open(addr, "/sse?channel=room-1", &resume);
    assert_eq!(data_of(&stream.items(2)), ["both", "three"]);
    stream.read_for(Duration::from_millis(100));
    assert_eq!(data_of(&stream.items(1)), Vec::<String>::new(), "nothing of `secret` alone");
    let (status, ..) = ask(addr, "/sse?channel=room-1&channel=secret", &resume);
    assert_eq!(status, 403, "asking for more than the token allows replays nothing");
    server.shutdown();
}

#[test]
fn serve_with_a_jwt_secret() {
    let secret = std::str::from_utf8(SECRET).unwrap();
    let (mut child, addr) = serve(&[
        "--jwt-secret",
        secret,
        "--public-channel",
        "news",
        "--jwt-cookie",
        "session",
        "--cors-origin",
        "https://app.example",
    ]);
    let exp = unix_now() + 60;
    let token = mint(
        serde_json::json!({"sub": "u1", "exp": exp, "ssehub": {"subscribe": ["room-*"], "publish": ["room-*"]}}),
    );
    assert_eq!(ask(addr, "/sse?channel=room-1", "").0, 401);
    assert_eq!(ask(addr, "/sse?channel=news", "").0, 200);
    assert_eq!(
        ask(addr, "/sse?channel=room-1", &format!("Cookie: ssehub_token={token}\r\n")).0,
        401,
        "another cookie"
    );
    let origin = "Origin: https://app.example\r\n";
    let mut conn = Conn::connect(addr);
    conn.send(&get("/sse?channel=room-1", &format!("{origin}Cookie: session={token}\r\n")));
    let head = conn.read_head();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("access-control-allow-origin"), Some("https://app.example"));
    assert_eq!(head.header("access-control-allow-credentials"), Some("true"));
    let mut listener = Stream::from_head(conn, head);
    // A refusal carries the CORS headers too: the page may read why.
    let mut conn = Conn::connect(addr);
    conn.send(&get("/sse?channel=room-1", origin));
    let (head, body) = conn.read_response();
    assert_eq!((head.status, body.as_slice()), (401, br#"{"error":"no_token"}"#.as_slice()));
    assert_eq!(head.header("access-control-allow-origin"), Some("https://app.example"));
    let mut conn = Conn::connect(addr);
    assert_eq!(post(&mut conn, "/publish?channel=room-1", Some(&token), b"hi").0, 201);
    assert_eq!(post(&mut conn, "/publish?channel=news", Some(&token), b"hi").0, 403);
    assert_eq!(data_of(&listener.items(1)), ["hi"]);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn serve_refuses_bad_authorization_flags() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ssehub"))
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(args)
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, err) = run(&["--jwt-secret", "short"]);
    assert!(code != Some(0) && err.contains("at least 32 bytes"), "{code:?} {err}");
    let (code, err) = run(&["--jwt-key", "/nonexistent.pem"]);
    assert!(code != Some(0) && err.contains("--jwt-alg"), "{code:?} {err}");
    let (code, err) = run(&["--jwt-secret", &"x".repeat(32), "--jwks", "f.json"]);
    assert!(code != Some(0) && err.contains("cannot be used with"), "{code:?} {err}");
    let (code, err) = run(&["--public-channel", "news"]);
    assert!(code != Some(0) && err.contains("needs a JWT key"), "{code:?} {err}");
}
