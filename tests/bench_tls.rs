//! `ssehub bench` over HTTPS, against `ssehub serve` over TLS on 127.0.0.1: streams verified
//! with `--cacert`, `--insecure`, `--handshakes`, and the refusals (an untrusted certificate,
//! TLS flags with an `http://` URL). A handful of connections for a second or two each; every
//! child process has a deadline, and nothing is judged on timing.

#![cfg(feature = "tls")]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The longest one `bench` run may take (it measures for a few seconds).
const RUN_DEADLINE: Duration = Duration::from_secs(60);

/// A certificate for localhost and 127.0.0.1 written to `dir`: (certificate path, key path).
fn write_certificate(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let c = rcgen::generate_simple_self_signed(names).unwrap();
    let (cert, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    std::fs::write(&cert, c.cert.pem()).unwrap();
    std::fs::write(&key, c.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ssehub-bench-tls-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `ssehub serve` over TLS on a free port, publishing 20 timestamped events a second.
struct Serve {
    child: Child,
    addr: SocketAddr,
    /// Kept open: a server whose stdout is closed fails on its next line.
    _stdout: BufReader<std::process::ChildStdout>,
}

impl Serve {
    fn start(tls: &[&str]) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ssehub"))
            .args(["serve", "--addr", "127.0.0.1:0", "--rate", "20", "--size", "64"])
            .args(tls)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let addr = line.split("https://").nth(1).and_then(|r| r.split('/').next()).expect(&line);
        Serve { child, addr: addr.parse().unwrap(), _stdout: stdout }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `ssehub bench ARGS` to its end (killed past [`RUN_DEADLINE`]).
fn bench(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ssehub"));
    cmd.arg("bench").args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    // Read both pipes on threads so that a full pipe cannot stall the run.
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let deadline = Instant::now() + RUN_DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("bench {args:?} still running after {RUN_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output { status, stdout: out.join().unwrap(), stderr: err.join().unwrap() }
}

fn json(out: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{e}: {text}\nstderr: {}", String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn streams_over_tls_verified_with_cacert() {
    let dir = scratch("cacert");
    let (cert, key) = write_certificate(&dir, "server");
    let server = Serve::start(&["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()]);
    let url = format!("https://localhost:{}/sse", server.addr.port());
    let pid = server.child.id().to_string();
    let out = bench(
        &[&url, "-c", "6", "-d", "2", "--warmup", "1", "--cacert", cert.to_str().unwrap()]
            .into_iter()
            .chain(["--expect-rate", "20", "--server-pid", &pid, "--json"])
            .collect::<Vec<_>>(),
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    let v = json(&out);
    assert_eq!(v["connections"]["established"], 6, "{v}");
    assert_eq!(v["connections"]["failed"], 0, "{v}");
    assert!(v["events"].as_u64().unwrap() > 0, "{v}");
    assert!(v["latency_us"]["samples"].as_u64().unwrap() > 0, "timestamps decoded through TLS: {v}");
    assert_eq!(v["skipped_ids"], 0, "{v}");
    let agreed = v["tls"].as_object().expect("the TLS parameters are reported");
    assert_eq!(agreed.values().map(|n| n.as_u64().unwrap()).sum::<u64>(), 6, "{v}");
    assert!(agreed.keys().all(|k| k.starts_with("TLSv1.3 ") && k.ends_with(" http/1.1")), "{v}");
    assert!(v["server"]["cpu_us_per_event"].is_number(), "{v}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn insecure_streams_and_handshakes() {
    let server = Serve::start(&["--tls-self-signed"]);
    let url = format!("https://{}/sse", server.addr);
    let out = bench(&[&url, "-c", "4", "-d", "1", "--warmup", "0", "-k"], &[]);
    assert!(out.status.success(), "{:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("4 established, 0 failed"), "{table}");
    assert!(table.contains("  tls                    4  TLSv1.3 "), "{table}");

    let pid = server.child.id().to_string();
    let args = [&url[..], "-c", "3", "-d", "1", "--warmup", "0", "--insecure", "--handshakes"];
    let out = bench(&[&args[..], &["--server-pid", &pid, "--json"]].concat(), &[]);
    assert!(out.status.success(), "{:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    let v = json(&out);
    assert!(v["handshakes"]["count"].as_u64().unwrap() > 0, "{v}");
    assert!(v["handshakes"]["server_cpu_us_per_handshake"].is_number(), "{v}");
    assert_eq!(v["connections"]["failed"], 0, "{v}");
    assert_eq!(v["server"]["rss_growth_per_connection_bytes"], serde_json::Value::Null, "{v}");
}

#[test]
fn an_untrusted_certificate_and_misplaced_flags_are_refused() {
    let dir = scratch("refused");
    let (cert, key) = write_certificate(&dir, "server");
    let (other, _) = write_certificate(&dir, "other");
    let server = Serve::start(&["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()]);
    let url = format!("https://localhost:{}/sse", server.addr.port());

    // No --cacert: the "system" trust is another certificate, which did not sign this one.
    let out = bench(&[&url, "-c", "2", "-d", "1", "--warmup", "0"], &[("SSL_CERT_FILE", &other)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no connection succeeded (2 attempted: 2 × TLS: invalid peer certificate"),
        "{stderr}"
    );

    let out = bench(&[&url, "--cacert", dir.join("missing.pem").to_str().unwrap()], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("ssehub: --cacert ") && stderr.contains("missing.pem"), "{stderr}");

    let plain = format!("http://{}/sse", server.addr);
    let out = bench(&[&plain, "--insecure"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        format!("ssehub: --cacert and --insecure are for https:// URLs, not {plain}")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
