//! The TLS glue (`ssehub::proto::tls::Tls`) under arbitrary bytes from the network, as the
//! worker would feed it: split into arbitrary reads, with writes of plaintext and of records,
//! and the socket ending — interleaved with the steps of a real rustls client, so that garbage
//! also arrives mid-handshake and after it, inside a live session.
//!
//! It must never panic, whatever arrives (a rustls failure is a value); a connection that
//! failed stays failed and only offers its alert; `received` appends plaintext and never
//! shrinks the caller's buffer; what `write_to` writes is whole TLS records (content type
//! 20..=24, version 3.x, and the length the header says).
#![no_main]

use std::io::{Read, Write};
use std::sync::{Arc, OnceLock};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use ssehub::proto::tls::{Tls, TlsConfig};

#[derive(Arbitrary, Debug)]
enum Op {
    /// Bytes read from the socket.
    Received(Vec<u8>),
    /// The HTTP layer writes this much plaintext.
    Plaintext(u16),
    /// The worker writes the records that wait.
    Flush,
    /// The socket ended.
    Eof,
    /// The server ends the session.
    Close,
    /// A real client takes a step: what it has to send reaches the server (cut after `cut`
    /// bytes, when given), and what the server wrote reaches the client.
    Client { cut: Option<u16>, request: bool },
}

/// One certificate for the whole run (making one is slow), and a client configuration that
/// trusts it.
fn configs() -> &'static (TlsConfig, Arc<rustls::ClientConfig>) {
    static CONFIG: OnceLock<(TlsConfig, Arc<rustls::ClientConfig>)> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let server =
            TlsConfig::from_pem(c.cert.pem().as_bytes(), c.signing_key.serialize_pem().as_bytes()).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(c.cert.der().clone()).unwrap();
        let client =
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
        (server, Arc::new(client))
    })
}

/// Checks that `out` is a run of whole TLS records.
fn records(out: &[u8]) {
    let mut rest = out;
    while !rest.is_empty() {
        assert!(rest.len() >= 5, "a partial record header: {rest:?}");
        let (kind, major, len) = (rest[0], rest[1], usize::from(u16::from_be_bytes([rest[3], rest[4]])));
        assert!((20..=24).contains(&kind), "content type {kind}");
        assert_eq!(major, 3, "version 3.x");
        assert!(rest.len() >= 5 + len, "a record cut short");
        rest = &rest[5 + len..];
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let (server_config, client_config) = configs();
    let Ok(mut tls) = Tls::new(server_config) else { return };
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut client = rustls::ClientConnection::new(client_config.clone(), name).unwrap();
    let mut client_ok = true;
    let mut plain = Vec::new();
    let mut failed = false;
    for op in ops.iter().take(64) {
        match op {
            Op::Received(bytes) => {
                if failed {
                    continue; // the worker closes a failed connection: it reads no more
                }
                let before = plain.len();
                let result = tls.received(bytes, &mut plain);
                assert!(plain.len() >= before, "received shrank the plaintext");
                failed = result.is_err();
            }
            Op::Plaintext(n) => {
                let data = vec![b'x'; usize::from(*n) % 40_000];
                let _ = std::io::Write::write(&mut tls.plaintext(), &data);
            }
            Op::Flush => {
                let mut out = Vec::new();
                tls.write_to(&mut out).expect("a Vec never fails");
                records(&out);
            }
            Op::Eof => {
                let _ = tls.eof();
            }
            Op::Close => tls.close(),
            Op::Client { cut, request } => {
                if !client_ok || failed {
                    continue;
                }
                if *request && !client.is_handshaking() {
                    let _ = client.writer().write_all(b"GET /sse HTTP/1.1\r\nHost: h\r\n\r\n");
                }
                let mut to_server = Vec::new();
                while client.wants_write() {
                    if client.write_tls(&mut to_server).is_err() {
                        break;
                    }
                }
                if let Some(cut) = cut {
                    to_server.truncate(usize::from(*cut));
                }
                let before = plain.len();
                failed = tls.received(&to_server, &mut plain).is_err();
                assert!(plain.len() >= before);
                let mut to_client = Vec::new();
                tls.write_to(&mut to_client).expect("a Vec never fails");
                records(&to_client);
                client_ok = client.read_tls(&mut to_client.as_slice()).is_ok()
                    && client.process_new_packets().is_ok();
                let mut sink = [0u8; 4096];
                while let Ok(n) = client.reader().read(&mut sink) {
                    if n == 0 {
                        break;
                    }
                }
            }
        }
    }
});
