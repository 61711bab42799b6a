//! `ssehub bench` over HTTPS, against `ssehub serve` over TLS on 127.0.0.1: streams verified
//! with `--cacert`, `--insecure`, `--handshakes`, and the refusals (an untrusted certificate,
//! TLS flags with an `http://` URL). A handful of connections for a second or two each; every
//! child process has a deadline, and nothing is judged on timing.

#![cfg(feature = "tls")]

mod bench_run;

use std::path::{Path, PathBuf};

use bench_run::{Serve, bench, json};

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

#[test]
fn streams_over_tls_verified_with_cacert() {
    let dir = scratch("cacert");
    let (cert, key) = write_certificate(&dir, "server");
    let server = Serve::start(&["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()]);
    let url = format!("https://localhost:{}/sse", server.addr.port());
    let pid = server.pid().to_string();
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

    let pid = server.pid().to_string();
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
