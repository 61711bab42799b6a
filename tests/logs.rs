//! `ssehub serve`'s logs on stderr: JSON lines that parse and carry the access log's fields, the
//! reasons streams end for (a client that left, a slow client cut off, a token that expired),
//! start-up lines, levels and `RUST_LOG`, and no secret anywhere.

mod net;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use net::{Conn, Stream, TIMEOUT, data_of, post, wait_until};
use serde_json::{Value, json};

/// `ssehub serve` on a free port, its stderr lines collected as they come.
struct Serve {
    child: Child,
    addr: SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
    /// Kept open: a closed stdout would fail the server's next line (the TLS fingerprint).
    _stdout: BufReader<std::process::ChildStdout>,
}

impl Serve {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ssehub"))
            .args(["serve", "--addr", "127.0.0.1:0", "--workers", "1"])
            .args(args)
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the ssehub binary");
        let mut line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut line).unwrap();
        let addr = line.split("://").nth(1).and_then(|r| r.split('/').next()).expect(&line);
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (sink, stderr) = (lines.clone(), child.stderr.take().unwrap());
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Serve { child, addr: addr.parse().unwrap(), lines, reader: Some(reader), _stdout: stdout }
    }

    /// Every stderr line so far that is a JSON object (each one must be).
    fn json_lines(&self) -> Vec<Value> {
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .map(|l| match serde_json::from_str::<Value>(l) {
                Ok(v @ Value::Object(_)) => v,
                _ => panic!("not a JSON object line: {l:?}"),
            })
            .collect()
    }

    /// Waits (at most `within`) for an access line whose fields include `want`'s.
    fn access_line(&self, want: &Value, within: Duration) -> Value {
        let mut found = None;
        let ok = wait_until(within, || {
            found = self.json_lines().into_iter().find(|l| {
                l["target"] == "ssehub::access"
                    && want.as_object().unwrap().iter().all(|(k, v)| l.get(k) == Some(v))
            });
            found.is_some()
        });
        assert!(ok, "no access line with {want} in {:#?}", self.lines.lock().unwrap());
        found.unwrap()
    }

    /// SIGTERM, then every stderr line; the exit must be clean.
    fn stop(mut self) -> Vec<String> {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let status = self.child.wait().unwrap();
        self.reader.take().unwrap().join().unwrap();
        let lines = std::mem::take(&mut *self.lines.lock().unwrap());
        assert!(status.success(), "exit {status:?}: {lines:#?}");
        lines
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const JWT_SECRET: &str = "a-jwt-secret-of-at-least-32-bytes-0123456789";
const PUBLISH_TOKEN: &str = "publish-token-s3cr3t-9f8e7d";

/// An HS256 token granting `news`, expiring `ttl` from now.
fn token(ttl: Duration) -> String {
    let exp = (SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + ttl).as_secs();
    let claims = json!({"sub": "alice", "exp": exp, "ssehub": {"subscribe": ["news"]}});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

/// The fields every JSON line has, and those of every access line, with their types.
fn check_access_fields(line: &Value) {
    let ts = line["ts"].as_str().expect("ts");
    assert!(ts.len() == 24 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T', "RFC 3339 UTC: {ts}");
    assert_eq!(line["level"], "info");
    assert!(line["msg"].as_str().is_some_and(|m| m.starts_with("stream ended: ")), "{line}");
    let client: SocketAddr = line["client"].as_str().expect("client").parse().expect("IP:PORT");
    assert!(client.ip().is_loopback(), "{line}");
    assert!(line["path"].is_string(), "{line}");
    assert!(line["channels"].as_array().is_some_and(|c| c.iter().all(Value::is_string)), "{line}");
    assert!(line["http"].is_string() && line["tls"].is_boolean(), "{line}");
    for n in ["duration_ms", "events", "bytes"] {
        assert!(line[n].is_u64(), "{n}: {line}");
    }
    assert!(line["reason"].is_string(), "{line}");
}

#[test]
fn a_stream_that_ends_is_logged_with_every_field_and_no_secret() {
    let serve = Serve::start(
        &["--no-clock", "--log-format", "json", "--jwt-secret", JWT_SECRET, "--publish-token", PUBLISH_TOKEN],
        &[],
    );
    // The token in the query (as an EventSource must pass it), which is never to be logged.
    let long = token(Duration::from_secs(3600));
    let mut stream = Stream::open(serve.addr, &format!("/sse?channel=news&access_token={long}"), "");
    let mut publisher = Conn::connect(serve.addr);
    assert!(wait_until(TIMEOUT, || {
        post(&mut publisher, "/publish?channel=news", Some(PUBLISH_TOKEN), b"probe").0 == 201
            && data_of(&stream.items(1)) == ["probe"]
    }));
    for data in ["one", "two"] {
        assert_eq!(
            post(&mut publisher, "/publish?channel=news", Some(PUBLISH_TOKEN), data.as_bytes()).0,
            201
        );
    }
    assert_eq!(data_of(&stream.items(2)), ["one", "two"]);
    drop(stream);
    let left = serve.access_line(&json!({"reason": "client_left"}), TIMEOUT);
    check_access_fields(&left);
    assert_eq!(left["path"], "/sse");
    assert_eq!(left["channels"], json!(["news"]));
    assert_eq!((&left["http"], &left["tls"]), (&json!("HTTP/1.1"), &json!(false)));
    assert_eq!(left["events"], 3, "probe, one, two: {left}");
    assert!(left["bytes"].as_u64().unwrap() > 100, "the head and three events: {left}");

    // A token that expires in a second or two ends its stream as such.
    let short = token(Duration::from_secs(2));
    let mut expiring = Stream::open(serve.addr, &format!("/sse?channel=news&access_token={short}"), "");
    let expired = serve.access_line(&json!({"reason": "auth_expired"}), Duration::from_secs(10));
    check_access_fields(&expired);
    assert!(expiring.closes_within(TIMEOUT), "the stream ended with its token");

    let startup =
        serve.json_lines().into_iter().find(|l| l["target"] == "ssehub::server" && l.get("addr").is_some());
    let startup = startup.expect("a start-up line with the address");
    assert_eq!(startup["addr"], serve.addr.to_string());
    assert_eq!((&startup["tls"], &startup["http2"]), (&json!(false), &json!(true)));
    let features = serve.json_lines().into_iter().find(|l| l.get("jwt").is_some()).expect("a features line");
    assert_eq!((&features["jwt"], &features["publish_token"]), (&json!(true), &json!(true)));

    let all = serve.stop().join("\n");
    for secret in [long.as_str(), short.as_str(), JWT_SECRET, PUBLISH_TOKEN, "access_token"] {
        assert!(!all.contains(secret), "{secret:?} is in the log:\n{all}");
    }
}

#[test]
fn a_client_that_does_not_read_is_cut_off_and_logged_as_slow() {
    // Benchmark events of 16 KiB, a thousand a second: a client that never reads passes a
    // 64 KiB queue (and what the kernels buffer) within a second or so.
    let serve = Serve::start(
        &["--rate", "1000", "--size", "16KiB", "--max-queue-bytes", "64KiB", "--log-format", "json"],
        &[],
    );
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&serve.addr.into()).unwrap();
    let request = net::get("/sse", "");
    assert_eq!(sock.send(&request).unwrap(), request.len());
    let slow = serve.access_line(&json!({"reason": "slow_client"}), Duration::from_secs(20));
    check_access_fields(&slow);
    assert_eq!(slow["channels"], json!(["default"]));
    drop(sock);
    serve.stop();
}

#[test]
fn levels_and_rust_log_choose_the_lines_and_human_is_the_default() {
    let listening = |lines: &[String]| lines.iter().any(|l| l.starts_with("ssehub: listening on http://"));
    let lines = Serve::start(&["--no-clock"], &[]).stop();
    assert!(listening(&lines), "human lines by default: {lines:#?}");
    let lines = Serve::start(&["--no-clock"], &[("RUST_LOG", "warn")]).stop();
    assert!(!listening(&lines), "RUST_LOG=warn: {lines:#?}");
    let lines = Serve::start(&["--no-clock", "--log-level", "info"], &[("RUST_LOG", "warn")]).stop();
    assert!(listening(&lines), "--log-level wins: {lines:#?}");
    let lines = Serve::start(&["--no-clock"], &[("RUST_LOG", "warn,ssehub::server=info")]).stop();
    assert!(listening(&lines), "a target's own level: {lines:#?}");

    let out = Command::new(env!("CARGO_BIN_EXE_ssehub"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env("RUST_LOG", "ssehub=loud")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("ssehub: RUST_LOG: unknown level \"loud\""), "{err}");
    let out =
        Command::new(env!("CARGO_BIN_EXE_ssehub")).args(["serve", "--log-format", "xml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// The access line of an HTTP/2 stream (prior knowledge, on the plain port).
#[test]
fn an_http2_stream_is_logged_too() {
    let serve = Serve::start(&["--no-clock", "--log-format", "json"], &[]);
    let started = Instant::now();
    let mut h2 = net::h2::H2::connect(serve.addr);
    h2.get(1, "/sse?channel=room");
    assert_eq!(h2.head(1)[0], (":status".to_owned(), "200".to_owned()));
    // How a browser leaves an HTTP/2 stream: RST_STREAM, the connection staying open.
    h2.cancel(1);
    let line = serve.access_line(&json!({"http": "HTTP/2", "reason": "client_left"}), TIMEOUT);
    check_access_fields(&line);
    assert_eq!(line["channels"], json!(["room"]));
    assert!(line["duration_ms"].as_u64().unwrap() <= started.elapsed().as_millis() as u64);
    drop(h2);
    serve.stop();
}

/// The streams of one HTTP/2 connection share its facts (client, path) in the server, yet
/// each gets its own line, with its own channels and tally, when the connection goes.
#[test]
fn each_stream_of_an_http2_connection_that_goes_gets_its_line() {
    let serve = Serve::start(&["--no-clock", "--log-format", "json"], &[]);
    let mut h2 = net::h2::H2::connect(serve.addr);
    h2.get(1, "/sse?channel=room");
    h2.get(3, "/sse?channel=news");
    assert_eq!(h2.head(1)[0], (":status".to_owned(), "200".to_owned()));
    assert_eq!(h2.head(3)[0], (":status".to_owned(), "200".to_owned()));
    drop(h2);
    let room = serve.access_line(&json!({"http": "HTTP/2", "channels": ["room"]}), TIMEOUT);
    let news = serve.access_line(&json!({"http": "HTTP/2", "channels": ["news"]}), TIMEOUT);
    for line in [&room, &news] {
        check_access_fields(line);
        assert_eq!(
            (&line["path"], &line["tls"], &line["reason"]),
            (&json!("/sse"), &json!(false), &json!("client_left"))
        );
        assert!(line["bytes"].as_u64().unwrap() > 9, "its HEADERS at least: {line}");
    }
    assert_eq!(room["client"], news["client"], "one connection, one client");
    serve.stop();
}

/// Over TLS, a stream open when the server is stopped: `tls` true, reason `shutdown`.
#[test]
fn a_tls_stream_ended_by_the_shutdown_says_so() {
    use std::io::{Read, Write};
    let dir = std::env::temp_dir().join(format!("ssehub-logs-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.join("c.crt"), dir.join("c.key"));
    std::fs::write(&cert, c.cert.pem()).unwrap();
    std::fs::write(&key, c.signing_key.serialize_pem()).unwrap();
    let (cert_arg, key_arg) = (cert.display().to_string(), key.display().to_string());
    let serve = Serve::start(&["--tls-cert", &cert_arg, "--tls-key", &key_arg, "--log-format", "json"], &[]);
    std::fs::remove_dir_all(&dir).unwrap();

    let mut tls = net::tls::connect(serve.addr, c.cert.der());
    tls.write_all(b"GET /sse HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    // The clock's first event (the demo's once a second).
    let (mut got, mut buf) = (Vec::new(), [0u8; 4096]);
    let deadline = Instant::now() + TIMEOUT;
    while !String::from_utf8_lossy(&got).contains("data: ") && Instant::now() < deadline {
        match tls.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    assert!(
        String::from_utf8_lossy(&got).contains("data: "),
        "{}\n{:#?}",
        String::from_utf8_lossy(&got),
        serve.lines.lock().unwrap()
    );
    let lines = serve.stop();
    let line = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["target"] == "ssehub::access")
        .unwrap_or_else(|| panic!("no access line: {lines:#?}"));
    check_access_fields(&line);
    assert_eq!(
        (&line["tls"], &line["reason"], &line["http"]),
        (&json!(true), &json!("shutdown"), &json!("HTTP/1.1"))
    );
    assert!(line["events"].as_u64().unwrap() >= 1, "{line}");
    drop(tls);
}
