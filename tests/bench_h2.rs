//! `ssehub bench --h2` against `ssehub serve` on 127.0.0.1: N connections × M HTTP/2 streams
//! over cleartext (prior knowledge) and over TLS (ALPN `h2`, the self-signed certificate), every
//! stream receiving events with none lost; and the refusals (a 404 on every stream, flags that
//! do not go together). A few connections for a second or two each; every child process has a
//! deadline, and nothing is judged on timing.

#![cfg(feature = "cli")]

mod bench_run;

use std::process::Output;

use bench_run::{Serve, json};

/// `ssehub bench ARGS` to its end.
fn bench(args: &[&str]) -> Output {
    bench_run::bench(args, &[])
}

/// What every good run shows: `streams` streams established on `connections` connections,
/// none failed or closed, every stream with events, none skipped, latency measured.
fn assert_all_streams_served(v: &serde_json::Value, connections: u64, per: u64) {
    let streams = connections * per;
    assert_eq!(v["protocol"], "h2", "{v}");
    assert_eq!(v["h2"]["connections"], connections, "{v}");
    assert_eq!(v["h2"]["streams_per_connection"], per, "{v}");
    assert_eq!(v["connections"]["requested"], streams, "{v}");
    assert_eq!(v["connections"]["established"], streams, "{v}");
    assert_eq!(v["connections"]["failed"], 0, "{v}");
    assert_eq!(v["connections"]["closed"], 0, "{v}");
    assert_eq!(v["open_at_window"], streams, "{v}");
    assert!(v["per_connection_events"]["fewest"].as_u64().unwrap() > 0, "every stream got events: {v}");
    assert!(v["latency_us"]["samples"].as_u64().unwrap() > 0, "timestamps decoded: {v}");
    assert!(v["numbered_events"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["skipped_ids"], 0, "{v}");
    assert_eq!(v["setup_us"]["samples"], streams, "a set-up time per stream: {v}");
}

#[test]
fn streams_over_h2c_prior_knowledge() {
    let server = Serve::start(&[]);
    let pid = server.pid().to_string();
    let args = [&server.url[..], "--h2", "-c", "3", "--streams-per-connection", "4", "-d", "2"];
    let out = bench(
        &[&args[..], &["--warmup", "1", "--expect-rate", "20", "--server-pid", &pid, "--json"]].concat(),
    );
    // Loss is judged by the ids (none skipped, below). The rate is timing: on a loaded machine
    // an event per stream can land just past the 2 s window, and 1 of 40 is under the 99.5%
    // that makes `--expect-rate` exit 3; so a shortfall that small is not a failure here.
    let v = json(&out);
    let ratio = v["expected"]["delivered_ratio"].as_f64().unwrap();
    let met = out.status.success() && ratio >= 0.995;
    let late = out.status.code() == Some(3) && ratio >= 0.95;
    assert!(met || late, "{:?} {ratio}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    assert_all_streams_served(&v, 3, 4);
    assert!(v["server"]["cpu_us_per_event"].is_number(), "{v}");
    assert_eq!(v["tls"], serde_json::Value::Null, "{v}");

    // The table says what the numbers count.
    let out = bench(&[&server.url, "--h2", "-c", "2", "-m", "3", "-d", "1", "--warmup", "0", "-t", "2"]);
    assert!(out.status.success(), "{:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("  HTTP/2: 2 connections × 3 streams = 6 streams, 2 threads,"), "{table}");
    assert!(table.contains("  streams         6 established, 0 failed\n"), "{table}");
    assert!(table.contains("  per stream      fewest "), "{table}");
}

/// `--churn` closes whole connections (their streams with them) and reopens them;
/// `--handshakes` sets up connections of M streams over and over.
#[test]
fn churn_and_handshakes_over_h2() {
    let server = Serve::start(&[]);
    let args = [&server.url[..], "--h2", "-c", "4", "-m", "3", "-d", "2", "--warmup", "1"];
    let out = bench(&[&args[..], &["--churn", "4", "--expect-rate", "20", "--json"]].concat());
    assert!(out.status.success(), "{:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    let v = json(&out);
    let churned = v["churn"]["closed"].as_u64().unwrap();
    assert!(churned > 0, "{v}");
    assert!(v["churn"]["established"].as_u64().unwrap() > 0, "streams reopened: {v}");
    assert_eq!(v["connections"]["failed"], 0, "{v}");
    assert_eq!(v["connections"]["closed"], 0, "churn is not a close by the server: {v}");
    assert_eq!(v["skipped_ids"], 0, "{v}");

    let out = bench(&[
        &server.url[..],
        "--h2",
        "-c",
        "2",
        "-m",
        "2",
        "-d",
        "1",
        "--warmup",
        "0",
        "--handshakes",
        "--json",
    ]);
    assert!(out.status.success(), "{:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    let v = json(&out);
    assert!(v["handshakes"]["count"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["connections"]["failed"], 0, "{v}");
}

#[cfg(feature = "tls")]
#[test]
fn streams_over_tls_with_alpn_h2() {
    let server = Serve::start(&["--tls-self-signed"]);
    assert!(server.url.starts_with("https://"), "{}", server.url);
    let args = [&server.url[..], "--h2", "-c", "2", "-m", "5", "-d", "2", "--warmup", "1", "-k"];
    let out = bench(&[&args[..], &["--expect-rate", "20", "--json"]].concat());
    assert!(out.status.success(), "{:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    let v = json(&out);
    assert_all_streams_served(&v, 2, 5);
    let agreed = v["tls"].as_object().expect("the TLS parameters are reported");
    assert_eq!(agreed.values().map(|n| n.as_u64().unwrap()).sum::<u64>(), 10, "one per stream: {v}");
    assert!(agreed.keys().all(|k| k.starts_with("TLSv1.3 ") && k.ends_with(" h2")), "ALPN h2: {v}");
}

#[test]
fn refusals_are_counted_per_stream_and_bad_flags_are_one_line_errors() {
    let server = Serve::start(&[]);
    let nowhere = server.url.replace("/sse", "/nowhere");
    let out = bench(&[&nowhere, "--h2", "-c", "2", "-m", "2", "-d", "1", "--warmup", "0"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("ssehub: no stream succeeded (4 attempted: 4 × status 404)"), "{stderr}");

    // An HTTP/1.1-only peer: what answers the preface is named.
    let h1 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = h1.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut sock, _) = h1.accept().unwrap();
        let mut preface = [0u8; 24];
        sock.read_exact(&mut preface).unwrap();
        sock.write_all(b"HTTP/1.1 505 HTTP Version Not Supported\r\nContent-Length: 0\r\n\r\n").unwrap();
    });
    let out =
        bench(&[&format!("http://{addr}/sse"), "--h2", "-c", "1", "-m", "2", "-d", "1", "--warmup", "0"]);
    peer.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("2 × the server answered in HTTP/1.x (HTTP/1.1 505"), "{stderr}");

    for (args, expected) in [
        (&["--streams-per-connection", "3"][..], "the following required arguments were not provided"),
        (&["--h2", "-m", "0"][..], "must be at least 1"),
        (
            &["--h2", "-H", "Connection: close"][..],
            "-H Connection: a connection-specific header cannot be sent over HTTP/2",
        ),
    ] {
        let out = bench(&[&[&server.url[..]][..], args, &["-d", "1", "--warmup", "0"]].concat());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}
