//! `ssehub serve` over HTTPS, as a user runs it: certificate files, a certificate rotated with
//! SIGHUP under an open stream, a broken file at start or at reload, and `--tls-self-signed`
//! (whose printed fingerprint is the certificate it serves).

#![cfg(feature = "tls")]

mod net;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use net::TIMEOUT;
use net::tls::connect;

/// A certificate for localhost written to `dir`: (cert path, key path, DER).
fn write_certificate(dir: &Path, name: &str) -> (String, String, Vec<u8>) {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    std::fs::write(&cert, c.cert.pem()).unwrap();
    std::fs::write(&key, c.signing_key.serialize_pem()).unwrap();
    (cert.display().to_string(), key.display().to_string(), c.cert.der().to_vec())
}

struct Serve {
    child: Child,
    addr: SocketAddr,
    /// Lines of stdout after the first.
    stdout: BufReader<std::process::ChildStdout>,
}

impl Serve {
    fn start(args: &[&str]) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ssehub"))
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let addr = line.split("https://").nth(1).and_then(|r| r.split('/').next()).expect(&line);
        Serve { child, addr: addr.parse().unwrap(), stdout }
    }

    fn signal(&self, name: &str) {
        Command::new("kill").args(["-s", name, &self.child.id().to_string()]).status().unwrap();
    }

    /// Stops it; returns its stderr.
    fn stop(mut self) -> String {
        self.signal("TERM");
        let mut err = String::new();
        self.child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        assert!(self.child.wait().unwrap().success(), "{err}");
        err
    }
}

/// Reads until `needle` has arrived (or the deadline); returns what was read.
fn read_until(tls: &mut impl Read, needle: &str) -> String {
    let deadline = Instant::now() + TIMEOUT * 2;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains(needle) && Instant::now() < deadline {
        match tls.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn sighup_rotates_the_certificate_under_an_open_stream() {
    let dir = tempdir();
    let (cert, key, der_a) = write_certificate(&dir, "live");
    let serve = Serve::start(&["--tls-cert", &cert, "--tls-key", &key]);
    let mut stream = connect(serve.addr, &der_a);
    stream.write_all(b"GET /sse HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let first = read_until(&mut stream, "data: ");
    assert!(first.contains("text/event-stream"), "{first}");
    // A broken file: SIGHUP keeps the certificate in use, and says why.
    std::fs::write(&cert, "broken").unwrap();
    serve.signal("HUP");
    std::thread::sleep(Duration::from_millis(300));
    let still = connect(serve.addr, &der_a);
    drop(still);
    // The new pair: SIGHUP swaps it in for new handshakes.
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(&key, c.signing_key.serialize_pem()).unwrap();
    std::fs::write(&cert, c.cert.pem()).unwrap();
    serve.signal("HUP");
    let der_b = c.cert.der().to_vec();
    let deadline = Instant::now() + TIMEOUT;
    let mut rotated = None;
    while Instant::now() < deadline {
        let mut fresh = connect(serve.addr, &der_b);
        if fresh.write_all(b"GET /nothing HTTP/1.1\r\nHost: localhost\r\n\r\n").is_ok() {
            let answer = read_until(&mut fresh, "\r\n\r\n");
            if answer.starts_with("HTTP/1.1 404") {
                rotated = Some(fresh.conn.peer_certificates().unwrap()[0].as_ref().to_vec());
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(rotated.as_deref(), Some(&der_b[..]), "new handshakes get the new certificate");
    // The stream opened before both reloads still receives the clock.
    let later = read_until(&mut stream, "data: ");
    assert!(later.contains("data: "), "the open stream goes on: {later:?}");
    let err = serve.stop();
    assert!(err.contains("kept the certificate in use"), "{err}");
    assert!(err.contains("reloaded"), "{err}");
}

#[test]
fn a_self_signed_certificate_with_its_fingerprint() {
    let mut serve = Serve::start(&["--tls-self-signed", "--no-clock"]);
    let mut line = String::new();
    serve.stdout.read_line(&mut line).unwrap();
    let printed = line.trim().strip_prefix("ssehub: TLS certificate SHA-256 ").expect(&line).to_owned();
    // Fetch the certificate it serves (trusting anything, only to look) and hash it.
    let served = served_certificate(serve.addr);
    let digest = ring_sha256(&served);
    assert_eq!(printed, digest, "the fingerprint printed is the certificate served");
    serve.stop();
}

#[test]
fn a_broken_certificate_at_start_is_one_line_and_exit_status_1() {
    let dir = tempdir();
    let bad = dir.join("bad.pem");
    std::fs::write(&bad, "nonsense").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ssehub"))
        .args(["serve", "--addr", "127.0.0.1:0", "--tls-cert"])
        .arg(&bad)
        .arg("--tls-key")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--tls-cert") && err.contains("no PEM certificate"), "{err}");
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ssehub-tls-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The server's certificate, as sent in its handshake (verified by nothing: only looked at).
fn served_certificate(addr: SocketAddr) -> Vec<u8> {
    #[derive(Debug)]
    struct Anything;
    impl rustls::client::danger::ServerCertVerifier for Anything {
        fn verify_server_cert(
            &self,
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &[rustls::pki_types::CertificateDer<'_>],
            _: &rustls::pki_types::ServerName<'_>,
            _: &[u8],
            _: rustls::pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            _: &[u8],
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }
        fn verify_tls13_signature(
            &self,
            _: &[u8],
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            rustls::crypto::ring::default_provider().signature_verification_algorithms.supported_schemes()
        }
    }
    let config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Anything))
            .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let sock = TcpStream::connect(addr).unwrap();
    let mut tls =
        rustls::StreamOwned::new(rustls::ClientConnection::new(Arc::new(config), name).unwrap(), sock);
    tls.write_all(b"GET /nothing HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    read_until(&mut tls, "\r\n\r\n");
    tls.conn.peer_certificates().unwrap()[0].as_ref().to_vec()
}

/// SHA-256 in openssl's colon form, through rustls's own provider (no extra crate).
fn ring_sha256(bytes: &[u8]) -> String {
    let provider = rustls::crypto::ring::default_provider();
    let suite =
        provider.cipher_suites.iter().find(|s| s.suite() == rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
    let hash = suite.unwrap().tls13().unwrap().common.hash_provider;
    hash.hash(bytes).as_ref().iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}
