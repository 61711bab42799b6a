//! TLS between the socket and the HTTP connection, as a state machine over bytes.
//!
//! ```text
//! socket bytes ─► Tls::received ─► plaintext ─► Conn::received          (requests)
//! Conn::write_to(Tls::plaintext()) ─► TLS records ─► Tls::write_to(socket) (answers, events)
//! ```
//!
//! rustls does no IO of its own ([`rustls::ServerConnection`] takes and gives bytes), so this
//! layer is pure too: the worker reads the socket and hands the bytes here, and writes what this
//! gives back. [`Conn`](super::Conn) above it does not know whether it is encrypted. The
//! decisions made here:
//!
//! - **Plain HTTP to the TLS port.** A TLS connection begins with a handshake record (content
//!   type 22); one that begins with an ASCII capital letter is an HTTP request sent to the wrong
//!   port, and is answered in plain text with a `400` saying to use `https://` (as nginx does),
//!   instead of an alert its client cannot read ([`TlsFailure::PlainHttp`]).
//! - **Bounded buffers.** rustls buffers the records it has not written yet; that buffer is held
//!   to [`TLS_BUFFER`] bytes, and the connection's own queue bound is lowered by as much, so that
//!   a slow TLS reader holds no more than a plain one before it is cut off.
//! - **Failures** are typed, with a short stable reason for the metrics ([`TlsFailure::reason`]).
//!   After one, [`Tls::write_to`] still sends the alert rustls queued.
//! - **Encode once** still holds: the shared frames are plaintext; each connection encrypts its
//!   own copy as it writes them (a copy TLS cannot avoid).
//!
//! The server's certificate sits behind a resolver that can be swapped while connections are
//! open ([`TlsConfig::reload`]): new handshakes get the new certificate, open ones keep theirs.

use std::fmt;
use std::io::{self, IoSlice, Read, Write};
use std::sync::{Arc, RwLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ProtocolVersion, ServerConfig, ServerConnection};

/// The most TLS record bytes a connection buffers unsent (then it takes no more plaintext until
/// the socket takes some): one full record and its overhead.
pub const TLS_BUFFER: usize = 17 * 1024;

/// A TLS server configuration: certificate and key, protocol versions (TLS 1.3 and 1.2), ALPN.
/// Cheap to clone (shared).
#[derive(Clone)]
pub struct TlsConfig {
    config: Arc<ServerConfig>,
    resolver: Arc<Rotating>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig").field("alpn", &self.config.alpn_protocols).finish_non_exhaustive()
    }
}

/// Why a certificate and key cannot be used.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate file holds no certificate.
    NoCertificate,
    /// The certificate file is not PEM, or a certificate in it is malformed.
    BadCertificate(rustls::pki_types::pem::Error),
    /// The key file holds no private key, or it is malformed.
    BadKey(rustls::pki_types::pem::Error),
    /// rustls refused the key (an unsupported type), or the key does not belong to the
    /// certificate, or the configuration.
    Rustls(rustls::Error),
    /// A file could not be read.
    Io(io::Error),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::NoCertificate => f.write_str("the certificate file holds no PEM certificate"),
            TlsError::BadCertificate(e) => {
                write!(f, "the certificate file is not a PEM certificate chain: {e}")
            }
            TlsError::BadKey(e) => write!(f, "the key file holds no usable PEM private key: {e}"),
            TlsError::Rustls(e) => write!(f, "the certificate and key cannot be used: {e}"),
            TlsError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::BadCertificate(e) | TlsError::BadKey(e) => Some(e),
            TlsError::Rustls(e) => Some(e),
            TlsError::Io(e) => Some(e),
            TlsError::NoCertificate => None,
        }
    }
}

impl TlsConfig {
    /// A configuration from a PEM certificate chain (the server's certificate first) and a PEM
    /// private key (PKCS#8, PKCS#1 RSA or SEC1 EC: RSA, ECDSA or Ed25519).
    ///
    /// ALPN offers `h2` then `http/1.1` (see [`TlsConfig::without_h2`]).
    pub fn from_pem(chain: &[u8], key: &[u8]) -> Result<TlsConfig, TlsError> {
        let certified = certified_key(chain, key)?;
        let resolver = Arc::new(Rotating(RwLock::new(Arc::new(certified))));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(TlsError::Rustls)?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsConfig { config: Arc::new(config), resolver })
    }

    /// The same configuration (and certificate: a reload of either reloads both) with ALPN
    /// offering `http/1.1` alone, for a server with HTTP/2 off.
    pub fn without_h2(&self) -> TlsConfig {
        let mut config = (*self.config).clone();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        TlsConfig { config: Arc::new(config), resolver: self.resolver.clone() }
    }

    /// Whether ALPN offers `h2`.
    pub fn offers_h2(&self) -> bool {
        self.config.alpn_protocols.iter().any(|p| p == b"h2")
    }

    /// Reads [`TlsConfig::from_pem`]'s two files.
    pub fn from_pem_files(
        chain: impl AsRef<std::path::Path>,
        key: impl AsRef<std::path::Path>,
    ) -> Result<TlsConfig, TlsError> {
        let (chain, key) = read_pair(chain.as_ref(), key.as_ref())?;
        TlsConfig::from_pem(&chain, &key)
    }

    /// Replaces the certificate and key: handshakes from now on use the new ones, connections
    /// already open keep theirs. On an error nothing changes.
    pub fn reload(&self, chain: &[u8], key: &[u8]) -> Result<(), TlsError> {
        let certified = certified_key(chain, key)?;
        *self.resolver.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(certified);
        Ok(())
    }

    /// [`TlsConfig::reload`] from files.
    pub fn reload_files(
        &self,
        chain: impl AsRef<std::path::Path>,
        key: impl AsRef<std::path::Path>,
    ) -> Result<(), TlsError> {
        let (chain, key) = read_pair(chain.as_ref(), key.as_ref())?;
        self.reload(&chain, &key)
    }

    /// The DER of the certificate handshakes use now (its first, the server's own).
    pub fn certificate_der(&self) -> Vec<u8> {
        let key = self.resolver.0.read().unwrap_or_else(|p| p.into_inner()).clone();
        key.cert.first().map(|c| c.as_ref().to_vec()).unwrap_or_default()
    }
}

fn read_pair(chain: &std::path::Path, key: &std::path::Path) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
    let read = |p: &std::path::Path| {
        std::fs::read(p).map_err(|e| TlsError::Io(io::Error::new(e.kind(), format!("{}: {e}", p.display()))))
    };
    Ok((read(chain)?, read(key)?))
}

/// A certificate and its signing key, checked to belong together.
fn certified_key(chain: &[u8], key: &[u8]) -> Result<CertifiedKey, TlsError> {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(chain).collect::<Result<_, _>>().map_err(TlsError::BadCertificate)?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    let key = PrivateKeyDer::from_pem_slice(key).map_err(TlsError::BadKey)?;
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider.key_provider.load_private_key(key).map_err(TlsError::Rustls)?;
    let certified = CertifiedKey::new(certs, signing);
    certified.keys_match().map_err(TlsError::Rustls)?;
    Ok(certified)
}

/// The certificate resolver: one certificate, replaceable.
#[derive(Debug)]
struct Rotating(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Rotating {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().unwrap_or_else(|p| p.into_inner()).clone())
    }
}

/// Why a TLS connection failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsFailure {
    /// Plain HTTP came to the TLS port (see the [module docs](self)).
    PlainHttp,
    /// The peer broke the protocol (bytes that are not TLS, a bad message, a record too large),
    /// or offered nothing we support; an alert is queued.
    Protocol(rustls::Error),
    /// The peer closed without finishing the handshake.
    Eof,
}

impl TlsFailure {
    /// A short stable name (for metrics): `plain_http`, `incompatible`, `protocol`, `alert`,
    /// `eof`.
    pub fn reason(&self) -> &'static str {
        match self {
            TlsFailure::PlainHttp => "plain_http",
            TlsFailure::Protocol(
                rustls::Error::PeerIncompatible(_) | rustls::Error::NoApplicationProtocol,
            ) => "incompatible",
            TlsFailure::Protocol(rustls::Error::AlertReceived(_)) => "alert",
            TlsFailure::Protocol(_) => "protocol",
            TlsFailure::Eof => "eof",
        }
    }
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsFailure::PlainHttp => f.write_str("plain HTTP sent to the TLS port"),
            TlsFailure::Protocol(e) => write!(f, "TLS: {e}"),
            TlsFailure::Eof => f.write_str("the peer closed during the TLS handshake"),
        }
    }
}

impl std::error::Error for TlsFailure {}

/// What [`Tls::received`] found, besides the plaintext it appended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// More may come.
    Open,
    /// The peer closed the TLS session (`close_notify`): no more plaintext will come.
    Closed,
}

/// One connection's TLS state. See the [module docs](self).
pub struct Tls {
    conn: ServerConnection,
    /// Nothing has been received yet (the first byte tells TLS from plain HTTP).
    fresh: bool,
    /// The handshake was seen to complete (reported once, by [`Tls::handshake_done`]).
    reported: bool,
    /// We ended the session ([`Tls::close`]): what arrives after is dropped unread (rustls
    /// may not answer it with an alert of its own after ours).
    closed: bool,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls").field("handshaking", &self.conn.is_handshaking()).finish_non_exhaustive()
    }
}

impl Tls {
    /// A connection just accepted, on `config`.
    pub fn new(config: &TlsConfig) -> Result<Tls, TlsError> {
        let mut conn = ServerConnection::new(config.config.clone()).map_err(TlsError::Rustls)?;
        conn.set_buffer_limit(Some(TLS_BUFFER));
        Ok(Tls { conn, fresh: true, reported: false, closed: false })
    }

    /// Takes bytes read from the socket; appends the plaintext they carried to `plaintext`.
    ///
    /// After [`Tls::close`], bytes are dropped: the session is over (a lingering connection
    /// reads only to see the peer leave).
    pub fn received(&mut self, mut bytes: &[u8], plaintext: &mut Vec<u8>) -> Result<Received, TlsFailure> {
        if self.closed {
            return Ok(Received::Open);
        }
        if std::mem::take(&mut self.fresh) && bytes.first().is_some_and(u8::is_ascii_uppercase) {
            return Err(TlsFailure::PlainHttp);
        }
        while !bytes.is_empty() {
            match self.conn.read_tls(&mut bytes) {
                Ok(0) => break, // after close_notify, nothing more is read
                Ok(_) => {}
                // The plaintext buffer is full: drain it below, then read on.
                Err(_) => {}
            }
            self.conn.process_new_packets().map_err(TlsFailure::Protocol)?;
            if self.drain(plaintext)? == Received::Closed {
                return Ok(Received::Closed);
            }
        }
        Ok(Received::Open)
    }

    /// The socket ended (read returned 0): a closed session, or (during the handshake) a
    /// failure.
    pub fn eof(&mut self) -> Result<(), TlsFailure> {
        if self.conn.is_handshaking() { Err(TlsFailure::Eof) } else { Ok(()) }
    }

    fn drain(&mut self, plaintext: &mut Vec<u8>) -> Result<Received, TlsFailure> {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match self.conn.reader().read(&mut buf) {
                Ok(0) => return Ok(Received::Closed),
                Ok(n) => plaintext.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Received::Open),
                // EOF without close_notify: treated as a close (the HTTP layer decides).
                Err(_) => return Ok(Received::Closed),
            }
        }
    }

    /// Where the HTTP layer writes its plaintext: into TLS records, up to [`TLS_BUFFER`]
    /// unsent; past it the writer would block, as a full socket does.
    pub fn plaintext(&mut self) -> PlaintextWriter<'_> {
        PlaintextWriter(&mut self.conn)
    }

    /// Whether records wait to be written to the socket.
    pub fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Writes the records that wait, until none is left or `w` would block; the bytes written.
    pub fn write_to<W: Write>(&mut self, w: &mut W) -> io::Result<usize> {
        let mut total = 0;
        while self.conn.wants_write() {
            match self.conn.write_tls(w) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => total += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(total)
    }

    /// Ends the session: a `close_notify` goes out with the next [`Tls::write_to`].
    pub fn close(&mut self) {
        self.closed = true;
        self.conn.send_close_notify();
    }

    /// `true` once, when the handshake has completed.
    pub fn handshake_done(&mut self) -> bool {
        if self.reported || self.conn.is_handshaking() {
            return false;
        }
        self.reported = true;
        true
    }

    /// Whether the handshake is still under way.
    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// The protocol version agreed (`"TLSv1.3"`, `"TLSv1.2"`), once known.
    pub fn version(&self) -> Option<&'static str> {
        match self.conn.protocol_version()? {
            ProtocolVersion::TLSv1_3 => Some("TLSv1.3"),
            ProtocolVersion::TLSv1_2 => Some("TLSv1.2"),
            _ => Some("other"),
        }
    }

    /// The ALPN protocol agreed, if any.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.conn.alpn_protocol()
    }
}

/// The HTTP layer's writer into a TLS connection (see [`Tls::plaintext`]).
pub struct PlaintextWriter<'a>(&'a mut ServerConnection);

impl Write for PlaintextWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self.0.writer().write_vectored(bufs)? {
            // The record buffer is full: as a socket would say.
            0 if bufs.iter().any(|b| !b.is_empty()) => Err(io::ErrorKind::WouldBlock.into()),
            n => Ok(n),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate for localhost, made once per test run.
    fn config() -> TlsConfig {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        TlsConfig::from_pem(cert.cert.pem().as_bytes(), cert.signing_key.serialize_pem().as_bytes()).unwrap()
    }

    #[test]
    fn plain_http_to_the_tls_port_is_recognised() {
        let mut tls = Tls::new(&config()).unwrap();
        let mut plain = Vec::new();
        let err = tls.received(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", &mut plain).unwrap_err();
        assert_eq!(err.reason(), "plain_http");
    }

    #[test]
    fn garbage_is_a_protocol_failure() {
        for garbage in [&[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5][..], &[0u8; 64], &[0xff; 7]] {
            let mut tls = Tls::new(&config()).unwrap();
            let err = tls.received(garbage, &mut Vec::new()).unwrap_err();
            assert_eq!(err.reason(), "protocol", "{err}");
            // Whatever rustls queued (an alert, or nothing that early) goes out without error.
            let mut out = Vec::new();
            tls.write_to(&mut out).unwrap();
            assert!(out.is_empty() || out[0] == 0x15, "an alert record, if anything");
        }
    }

    #[test]
    fn bad_pem_files_are_typed_errors() {
        assert!(matches!(TlsConfig::from_pem(b"", b""), Err(TlsError::NoCertificate)));
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let chain = cert.cert.pem();
        assert!(matches!(TlsConfig::from_pem(chain.as_bytes(), b"nonsense"), Err(TlsError::BadKey(_))));
        let mismatch = TlsConfig::from_pem(chain.as_bytes(), other.signing_key.serialize_pem().as_bytes());
        assert!(matches!(mismatch, Err(TlsError::Rustls(_))), "{mismatch:?}");
    }

    /// A client and the server's `Tls` joined in memory: bytes from one are fed to the other.
    struct Pair {
        client: rustls::ClientConnection,
        server: Tls,
        /// Plaintext the server received.
        got: Vec<u8>,
    }

    impl Pair {
        fn new() -> Pair {
            Pair::with(false)
        }

        /// A pair whose server offers `http/1.1` alone when `http1_only`.
        fn with(http1_only: bool) -> Pair {
            let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
            let mut config =
                TlsConfig::from_pem(cert.cert.pem().as_bytes(), cert.signing_key.serialize_pem().as_bytes())
                    .unwrap();
            assert!(config.offers_h2());
            if http1_only {
                config = config.without_h2();
                assert!(!config.offers_h2());
            }
            let server = Tls::new(&config).unwrap();
            let mut roots = rustls::RootCertStore::empty();
            roots.add(cert.cert.der().clone()).unwrap();
            let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let client = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
            Pair { client, server, got: Vec::new() }
        }

        /// Moves bytes both ways until neither side has anything to send.
        fn pump(&mut self) {
            for _ in 0..20 {
                let mut to_server = Vec::new();
                while self.client.wants_write() {
                    self.client.write_tls(&mut to_server).unwrap();
                }
                if !to_server.is_empty() {
                    self.server.received(&to_server, &mut self.got).unwrap();
                }
                let mut to_client = Vec::new();
                self.server.write_to(&mut to_client).unwrap();
                if !to_client.is_empty() {
                    self.client.read_tls(&mut to_client.as_slice()).unwrap();
                    self.client.process_new_packets().unwrap();
                }
                if to_server.is_empty() && to_client.is_empty() {
                    return;
                }
            }
            panic!("the pair never settles");
        }
    }

    #[test]
    fn a_handshake_then_plaintext_both_ways() {
        let mut p = Pair::new();
        p.pump();
        assert!(p.server.handshake_done(), "the handshake completed");
        assert!(!p.server.handshake_done(), "reported once");
        assert_eq!(p.server.version(), Some("TLSv1.3"));
        assert_eq!(p.server.alpn(), Some(&b"h2"[..]), "h2 first, as the client prefers");
        p.client.writer().write_all(b"GET /sse HTTP/1.1\r\n\r\n").unwrap();
        p.pump();
        assert_eq!(p.got, b"GET /sse HTTP/1.1\r\n\r\n");
        p.server.plaintext().write_all(b"HTTP/1.1 200 OK\r\n\r\n").unwrap();
        p.pump();
        let mut answer = vec![0; 64];
        let n = p.client.reader().read(&mut answer).unwrap();
        assert_eq!(&answer[..n], b"HTTP/1.1 200 OK\r\n\r\n");
    }

    #[test]
    fn without_h2_alpn_agrees_on_http11() {
        let mut p = Pair::with(true);
        p.pump();
        assert!(p.server.handshake_done());
        assert_eq!(p.server.alpn(), Some(&b"http/1.1"[..]));
    }

    #[test]
    fn the_record_buffer_is_bounded_and_refills_as_it_is_written() {
        let mut p = Pair::new();
        p.pump();
        // Nothing is written to the socket: the writer takes at most the buffer's worth.
        let big = vec![b'x'; 1 << 20];
        let mut taken = 0;
        loop {
            match p.server.plaintext().write(&big[taken..]) {
                Ok(n) => taken += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(taken > 0 && taken <= 2 * TLS_BUFFER, "took {taken} bytes unsent");
        let mut out = Vec::new();
        p.server.write_to(&mut out).unwrap();
        assert!(!p.server.wants_write());
        assert!(p.server.plaintext().write(&big[taken..]).unwrap() > 0, "room again once written");
    }

    #[test]
    fn close_notify_ends_the_session() {
        let mut p = Pair::new();
        p.pump();
        p.client.send_close_notify();
        let mut to_server = Vec::new();
        p.client.write_tls(&mut to_server).unwrap();
        assert_eq!(p.server.received(&to_server, &mut Vec::new()).unwrap(), Received::Closed);
        // A peer gone in the middle of the handshake is a failure.
        let mut fresh = Pair::new();
        let mut hello = Vec::new();
        fresh.client.write_tls(&mut hello).unwrap();
        fresh.server.received(&hello, &mut Vec::new()).unwrap();
        assert_eq!(fresh.server.eof().unwrap_err().reason(), "eof");
    }

    #[test]
    fn reload_swaps_the_certificate_and_a_bad_one_keeps_the_old() {
        let c = config();
        let before = c.certificate_der();
        let next = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        assert!(c.reload(b"junk", b"junk").is_err());
        assert_eq!(c.certificate_der(), before);
        c.reload(next.cert.pem().as_bytes(), next.signing_key.serialize_pem().as_bytes()).unwrap();
        assert_eq!(c.certificate_der(), next.cert.der().to_vec());
    }
}
