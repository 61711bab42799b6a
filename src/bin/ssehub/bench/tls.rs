//! TLS for `ssehub bench https://...`: the client configuration, and one connection's session
//! between the socket and [`Stream`](super::stream::Stream).
//!
//! ```text
//! socket bytes ─► Session::received (rustls: records ─► plaintext) ─► Stream::feed
//! request (written once, sent when the handshake is done) ─► Session::write_to(socket)
//! ```
//! rustls with the ring provider (the server's), TLS 1.3 and 1.2, ALPN `http/1.1` (`h2` with
//! `--h2`). Every
//! connection makes a full handshake: session resumption is off, so set-up and `--handshakes`
//! figures are those of new clients. Trust comes from `--cacert FILE` (PEM certificates: a CA,
//! or a self-signed server certificate), else from the system's bundle (`SSL_CERT_FILE`, or
//! the usual paths); `--insecure` trusts any certificate and skips the handshake's signature
//! check too (the load generator then spends nothing on verification).

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::Resumption;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Where the system keeps its trusted certificates, when `SSL_CERT_FILE` does not say (Debian
/// and Ubuntu, Fedora and RHEL, Alpine and macOS).
const SYSTEM_BUNDLES: &[&str] =
    &["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"];

/// Which server certificates a run accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trust {
    /// Those that chain to a certificate in this PEM file (`--cacert`).
    File(PathBuf),
    /// Those that chain to the system's trusted certificates.
    System,
    /// Any (`--insecure`).
    Insecure,
}

/// What every TLS connection of a run shares: the configuration and the server's name.
#[derive(Clone)]
pub struct Client {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl Client {
    /// The configuration for `host` (a DNS name or an IP address, checked against the
    /// certificate unless `--insecure`). `Err` is a one-line reason.
    pub fn new(host: &str, trust: &Trust) -> Result<Client, String> {
        let name = ServerName::try_from(host.to_owned()).map_err(|_| {
            format!("{host:?} cannot be checked against a certificate (not a DNS name or IP address)")
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS configuration: {e}"))?;
        let mut config = match trust {
            Trust::Insecure => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(TrustAnything(provider)))
                .with_no_client_auth(),
            Trust::File(path) => builder
                .with_root_certificates(roots_from(path).map_err(|e| format!("--cacert {e}"))?)
                .with_no_client_auth(),
            Trust::System => builder.with_root_certificates(system_roots()?).with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config.resumption = Resumption::disabled();
        Ok(Client { config: Arc::new(config), name })
    }

    /// The same client offering these ALPN protocols instead of `http/1.1` (`--h2`: `h2`).
    pub fn with_alpn(mut self, protocols: &[&[u8]]) -> Client {
        let mut config = (*self.config).clone();
        config.alpn_protocols = protocols.iter().map(|p| p.to_vec()).collect();
        self.config = Arc::new(config);
        self
    }

    /// A new session that sends `request` once its handshake is done.
    pub fn session(&self, request: &[u8]) -> Result<Session, String> {
        let mut conn = ClientConnection::new(Arc::clone(&self.config), self.name.clone())
            .map_err(|e| format!("TLS: {e}"))?;
        // Buffered by rustls until the handshake completes (no early data is configured).
        conn.writer().write_all(request).map_err(|e| format!("TLS: {e}"))?;
        Ok(Session { conn })
    }
}

/// The certificates of a PEM file, as trust anchors; `Err` names the file and what is wrong.
fn roots_from(path: &Path) -> Result<RootCertStore, String> {
    let shown = path.display();
    let pem = std::fs::read(path).map_err(|e| format!("{shown}: {e}"))?;
    let mut roots = RootCertStore::empty();
    let mut found = 0;
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| format!("{shown}: not a PEM certificate file: {e}"))?;
        found += 1;
        roots.add(cert).map_err(|e| format!("{shown}: certificate {found} cannot be trusted: {e}"))?;
    }
    if found == 0 {
        return Err(format!("{shown}: holds no PEM certificate"));
    }
    Ok(roots)
}

/// The system's trusted certificates: `SSL_CERT_FILE`, else the first bundle that exists.
fn system_roots() -> Result<RootCertStore, String> {
    let path = system_bundle(std::env::var_os("SSL_CERT_FILE").map(PathBuf::from), |p| p.is_file())
        .ok_or_else(|| {
            "no trusted certificates: pass --cacert FILE (the CA, or the server's own certificate), \
             set SSL_CERT_FILE, or --insecure"
                .to_owned()
        })?;
    // Bundles hold certificates some parsers refuse; those are skipped, as other clients do.
    let pem = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut roots = RootCertStore::empty();
    let (added, _) =
        roots.add_parsable_certificates(CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok));
    match added {
        0 => {
            Err(format!("{}: holds no usable certificate; pass --cacert FILE or --insecure", path.display()))
        }
        _ => Ok(roots),
    }
}

/// `SSL_CERT_FILE` when set (even if missing, so that a wrong setting shows), else the first of
/// [`SYSTEM_BUNDLES`] that `exists`.
fn system_bundle(env: Option<PathBuf>, exists: impl Fn(&Path) -> bool) -> Option<PathBuf> {
    env.filter(|p| !p.as_os_str().is_empty())
        .or_else(|| SYSTEM_BUNDLES.iter().map(PathBuf::from).find(|p| exists(p)))
}

/// `--insecure`: accepts any certificate and any handshake signature.
#[derive(Debug)]
struct TrustAnything(Arc<CryptoProvider>);

impl ServerCertVerifier for TrustAnything {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// One connection's TLS session.
pub struct Session {
    conn: ClientConnection,
}

/// What [`Session::received`] found besides the plaintext.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    Open,
    /// The server ended the session (`close_notify`): no more plaintext will come.
    Closed,
}

impl Session {
    /// Takes bytes read from the socket; appends the plaintext they complete to `plaintext`.
    /// `Err` is the reason the session failed (a bad certificate, a protocol error).
    pub fn received(&mut self, mut bytes: &[u8], plaintext: &mut Vec<u8>) -> Result<Received, String> {
        let tls_error = |e: rustls::Error| format!("TLS: {e}");
        while !bytes.is_empty() {
            match self.conn.read_tls(&mut bytes) {
                // After close_notify rustls takes nothing more.
                Ok(0) => return Ok(Received::Closed),
                Ok(_) => {}
                Err(e) => return Err(format!("TLS: {e}")),
            }
            let state = self.conn.process_new_packets().map_err(tls_error)?;
            let ready = state.plaintext_bytes_to_read();
            let closed = state.peer_has_closed();
            if ready > 0 {
                let start = plaintext.len();
                plaintext.resize(start + ready, 0);
                self.conn.reader().read_exact(&mut plaintext[start..]).map_err(|e| format!("TLS: {e}"))?;
            }
            if closed {
                return Ok(Received::Closed);
            }
        }
        Ok(Received::Open)
    }

    /// Writes what rustls has to send (handshake messages, the request, alerts) until it is all
    /// written or `w` would block.
    pub fn write_to<W: Write>(&mut self, w: &mut W) -> io::Result<()> {
        while self.conn.wants_write() {
            match self.conn.write_tls(w) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Queues more plaintext (after the request: HTTP/2 acknowledgements and window updates);
    /// [`Session::write_to`] sends it.
    pub fn send(&mut self, plaintext: &[u8]) -> Result<(), String> {
        self.conn.writer().write_all(plaintext).map_err(|e| format!("TLS: {e}"))
    }

    /// The ALPN protocol the handshake agreed, once it is done.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.conn.alpn_protocol()
    }

    /// What the handshake agreed: `TLSv1.3 TLS13_AES_256_GCM_SHA384 X25519 h1` (the last is
    /// the ALPN protocol, `http/1.1`, or `no ALPN`).
    pub fn agreed(&self) -> String {
        let version = match self.conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_owned(),
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_owned(),
            Some(v) => format!("{v:?}"),
            None => "?".to_owned(),
        };
        let suite =
            self.conn.negotiated_cipher_suite().map_or("?".to_owned(), |s| format!("{:?}", s.suite()));
        let group =
            self.conn.negotiated_key_exchange_group().map_or("?".to_owned(), |g| format!("{:?}", g.name()));
        let alpn = self
            .conn
            .alpn_protocol()
            .map_or("no ALPN".to_owned(), |p| String::from_utf8_lossy(p).into_owned());
        format!("{version} {suite} {group} {alpn}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_bundle_is_ssl_cert_file_or_the_first_that_exists() {
        let env = Some(PathBuf::from("/tmp/mine.pem"));
        assert_eq!(system_bundle(env, |_| false), Some(PathBuf::from("/tmp/mine.pem")));
        assert_eq!(system_bundle(Some(PathBuf::new()), |_| false), None);
        assert_eq!(system_bundle(None, |_| false), None);
        let found = system_bundle(None, |p| p.ends_with("ca-bundle.crt"));
        assert_eq!(found, Some(PathBuf::from("/etc/pki/tls/certs/ca-bundle.crt")));
    }

    #[test]
    fn cacert_files_are_checked() {
        let dir = std::env::temp_dir().join(format!("ssehub-bench-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let good = dir.join("good.pem");
        std::fs::write(&good, cert.cert.pem()).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        let broken = dir.join("broken.pem");
        std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n").unwrap();

        assert_eq!(roots_from(&good).unwrap().len(), 1);
        assert!(roots_from(&empty).unwrap_err().ends_with("empty.pem: holds no PEM certificate"));
        assert!(roots_from(&broken).unwrap_err().contains("broken.pem: not a PEM certificate file"));
        assert!(roots_from(&dir.join("missing.pem")).unwrap_err().contains("missing.pem: "));
        let e = Client::new("localhost", &Trust::File(empty.clone())).err().unwrap();
        assert!(e.starts_with("--cacert "), "{e}");
        assert!(Client::new("localhost", &Trust::File(good)).is_ok());
        assert!(Client::new("127.0.0.1", &Trust::Insecure).is_ok());
        assert!(Client::new("::1", &Trust::Insecure).is_ok());
        let e = Client::new("bad host!", &Trust::Insecure).err().unwrap();
        assert!(e.contains("cannot be checked against a certificate"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A handshake and a request against a rustls server in memory, through `Session` alone.
    #[test]
    fn a_session_sends_the_request_after_the_handshake_and_reads_the_answer() {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let dir = std::env::temp_dir().join(format!("ssehub-bench-tls-s-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, cert.cert.pem()).unwrap();
        let client = Client::new("localhost", &Trust::File(ca)).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();

        let key = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
        let mut server_config =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![cert.cert.der().clone()], key)
                .unwrap();
        server_config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let mut server = rustls::ServerConnection::new(Arc::new(server_config)).unwrap();
        let mut session = client.session(b"GET / HTTP/1.1\r\n\r\n").unwrap();

        let (mut request, mut plaintext) = (Vec::new(), Vec::new());
        for _ in 0..10 {
            let mut wire = Vec::new();
            session.write_to(&mut wire).unwrap();
            let mut rest = &wire[..];
            while !rest.is_empty() {
                server.read_tls(&mut rest).unwrap();
                server.process_new_packets().unwrap();
            }
            let _ = server.reader().read_to_end(&mut request);
            if request.ends_with(b"\r\n\r\n") && plaintext.is_empty() {
                server.writer().write_all(b"HTTP/1.1 200 OK\r\n\r\n").unwrap();
                server.send_close_notify();
            }
            let mut back = Vec::new();
            while server.wants_write() {
                server.write_tls(&mut back).unwrap();
            }
            if session.received(&back, &mut plaintext).unwrap() == Received::Closed {
                break;
            }
        }
        assert_eq!(request, b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(plaintext, b"HTTP/1.1 200 OK\r\n\r\n");
        let agreed = session.agreed();
        assert!(agreed.starts_with("TLSv1.3 TLS13_") && agreed.ends_with(" http/1.1"), "{agreed}");
        assert_eq!(session.received(b"\x17\x03\x03\x00\x01x", &mut plaintext), Ok(Received::Closed));
        let mut other = client.session(b"").unwrap();
        let e = other.received(b"HTTP/1.1 200 OK\r\n\r\n", &mut plaintext).unwrap_err();
        assert!(e.starts_with("TLS: "), "{e}");
    }
}
