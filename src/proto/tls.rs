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
//! - **Bounded buffers.** The records not written yet are held to [`TLS_BUFFER`] bytes, and the
//!   connection's own queue bound is lowered by as much, so that a slow TLS reader holds no more
//!   than a plain one before it is cut off.
//! - **No buffer on an idle connection.** rustls runs unbuffered
//!   ([`UnbufferedServerConnection`]): the bytes received and the records to send are in two
//!   `Vec`s of ours, freed whenever they empty, so an idle stream costs rustls's session state
//!   alone (about 3.4 KiB of heap; the buffered `ServerConnection` also kept a 4 KiB receive
//!   buffer for good: `tests/tls_memory.rs`, BENCHMARKS.md).
//! - **Failures** are typed, with a short stable reason for the metrics ([`TlsFailure::reason`]).
//!   After one, [`Tls::write_to`] still sends the alert rustls queued.
//! - **Encode once** still holds: the shared frames are plaintext; each connection encrypts its
//!   own copy as it writes them (a copy TLS cannot avoid).
//!
//! The server's certificate sits behind a resolver that can be swapped while connections are
//! open ([`TlsConfig::reload`]): new handshakes get the new certificate, open ones keep theirs.

use std::fmt;
use std::io::{self, IoSlice, Write};
use std::sync::{Arc, RwLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::UnbufferedServerConnection;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncryptError, InsufficientSizeError, UnbufferedStatus,
};
use rustls::{ProtocolVersion, ServerConfig};

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

/// The most received bytes a connection holds unprocessed: a handshake message rustls joins
/// from several records (rustls's own limit, 64 KiB) and a record after it. Past it the peer is
/// failed (`protocol`).
const MAX_INCOMING: usize = 0xffff + 5 + 16 * 1024 + 2048;

/// One connection's TLS state. See the [module docs](self).
///
/// The buffers are ours, not rustls's: it runs in its unbuffered mode
/// ([`UnbufferedServerConnection`]), and both of ours are freed whenever they are empty, so that
/// an idle stream holds no buffer at all (rustls's buffered `ServerConnection` keeps a 4 KiB
/// receive buffer for good after the first read).
pub struct Tls {
    conn: UnbufferedServerConnection,
    /// Received bytes not yet taken by rustls (a record the socket cut, or a handshake message
    /// still arriving); unallocated when there are none.
    incoming: Vec<u8>,
    /// Records for the socket, from `sent` on; unallocated once all are written.
    outgoing: Vec<u8>,
    sent: usize,
    /// The failure that ended the session: it is the answer to whatever arrives after.
    failed: Option<rustls::Error>,
    /// Nothing has been received yet (the first byte tells TLS from plain HTTP).
    fresh: bool,
    /// The handshake was seen to complete (reported once, by [`Tls::handshake_done`]).
    reported: bool,
    /// We ended the session ([`Tls::close`]): what arrives after is dropped unread (rustls
    /// may not answer it with an alert of its own after ours).
    closed: bool,
    /// The peer's `close_notify` came: nothing more is read.
    peer_closed: bool,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls").field("handshaking", &self.conn.is_handshaking()).finish_non_exhaustive()
    }
}

/// Where [`Tls::process`] stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// rustls waits for more bytes (the handshake is under way, or nothing is left to read).
    Blocked,
    /// Application data may be written; how many plaintext bytes were (see [`Tls::process`]).
    Written(usize),
    /// The session is closed both ways.
    Closed,
}

impl Tls {
    /// A connection just accepted, on `config`.
    pub fn new(config: &TlsConfig) -> Result<Tls, TlsError> {
        let conn = UnbufferedServerConnection::new(config.config.clone()).map_err(TlsError::Rustls)?;
        Ok(Tls {
            conn,
            incoming: Vec::new(),
            outgoing: Vec::new(),
            sent: 0,
            failed: None,
            fresh: true,
            reported: false,
            closed: false,
            peer_closed: false,
        })
    }

    /// Takes bytes read from the socket; appends the plaintext they carried to `plaintext`.
    ///
    /// After [`Tls::close`], bytes are dropped: the session is over (a lingering connection
    /// reads only to see the peer leave).
    pub fn received(&mut self, bytes: &[u8], plaintext: &mut Vec<u8>) -> Result<Received, TlsFailure> {
        if let Some(e) = &self.failed {
            return Err(TlsFailure::Protocol(e.clone()));
        }
        if self.closed || self.peer_closed {
            return Ok(Received::Open);
        }
        if std::mem::take(&mut self.fresh) && bytes.first().is_some_and(u8::is_ascii_uppercase) {
            return Err(TlsFailure::PlainHttp);
        }
        self.incoming.extend_from_slice(bytes);
        let result = self.process(Some(plaintext), None, false);
        if result.is_ok() && self.incoming.len() > MAX_INCOMING {
            return Err(self.fail(rustls::Error::InvalidMessage(rustls::InvalidMessage::MessageTooLarge)));
        }
        match result {
            Err(e) => Err(self.fail(e)),
            Ok(_) if self.peer_closed => {
                self.incoming = Vec::new();
                Ok(Received::Closed)
            }
            Ok(_) => Ok(Received::Open),
        }
    }

    /// The session failed on `e`: whatever alert rustls queued is made ready for
    /// [`Tls::write_to`], and nothing more is read.
    fn fail(&mut self, e: rustls::Error) -> TlsFailure {
        self.failed = Some(e.clone());
        // rustls hands over what it queued (the alert), a message a call, before it looks at
        // the bytes received again: it is not called once they are all taken (it would fail on
        // them a second time). The bytes stay as rustls left them until then: it keeps offsets
        // into them across calls.
        for _ in 0..8 {
            if !self.conn.wants_write() {
                break;
            }
            let UnbufferedStatus { mut discard, state } = self.conn.process_tls_records(&mut self.incoming);
            match state {
                Ok(ConnectionState::EncodeTlsData(mut encode)) => {
                    encode_into(&mut self.outgoing, &mut encode)
                }
                // Plaintext not taken yet, ahead of the alert: dropped.
                Ok(ConnectionState::ReadTraffic(mut records)) => {
                    while let Some(Ok(record)) = records.next_record() {
                        discard += record.discard;
                    }
                }
                _ => break,
            }
            self.incoming.drain(..discard.min(self.incoming.len()));
        }
        self.incoming = Vec::new();
        TlsFailure::Protocol(e)
    }

    /// Runs rustls over the bytes received until it waits for more, and: appends what it
    /// decrypted to `plaintext` (without one, stops where there is plaintext to take); puts the
    /// records it makes in `outgoing`; and once application data may be sent, encrypts `write`
    /// (if given) and says how much of it was taken, then (`close_notify`) a `close_notify`.
    fn process(
        &mut self,
        mut plaintext: Option<&mut Vec<u8>>,
        write: Option<&[u8]>,
        close_notify: bool,
    ) -> Result<Stop, rustls::Error> {
        let stop = loop {
            let UnbufferedStatus { mut discard, state } = self.conn.process_tls_records(&mut self.incoming);
            // What to do next (`None`: go on), or the failure.
            let next: Result<Option<Stop>, rustls::Error> = match state {
                Err(e) => Err(e),
                Ok(ConnectionState::ReadTraffic(mut records)) => match plaintext.as_deref_mut() {
                    Some(plaintext) => loop {
                        match records.next_record() {
                            None => break Ok(None),
                            Some(Ok(record)) => {
                                discard += record.discard;
                                plaintext.extend_from_slice(record.payload);
                            }
                            Some(Err(e)) => break Err(e),
                        }
                    },
                    // Left in rustls for the next `received`.
                    None => Ok(Some(Stop::Blocked)),
                },
                // Early data is never accepted (`max_early_data_size` is 0): dropped if any.
                Ok(ConnectionState::ReadEarlyData(mut records)) => loop {
                    match records.next_record() {
                        None => break Ok(None),
                        Some(Ok(record)) => discard += record.discard,
                        Some(Err(e)) => break Err(e),
                    }
                },
                Ok(ConnectionState::EncodeTlsData(mut encode)) => {
                    encode_into(&mut self.outgoing, &mut encode);
                    Ok(None)
                }
                // What was encoded is in `outgoing`, for `write_to`, ahead of anything after.
                Ok(ConnectionState::TransmitTlsData(transmit)) => {
                    transmit.done();
                    Ok(None)
                }
                Ok(ConnectionState::PeerClosed) => {
                    self.peer_closed = true;
                    Ok(None)
                }
                Ok(ConnectionState::Closed) => {
                    self.peer_closed = true;
                    Ok(Some(Stop::Closed))
                }
                Ok(ConnectionState::WriteTraffic(mut traffic)) => {
                    let mut taken = 0;
                    let mut exhausted = false;
                    if let Some(data) = write.filter(|d| !d.is_empty()) {
                        // A record's overhead is at most 5 + 1 + 16 (TLS 1.3) or 5 + 8 + 16
                        // (TLS 1.2) bytes; `fill` grows the room if rustls needs more.
                        let records = data.len() / (16 * 1024) + 1;
                        let encrypted = fill(&mut self.outgoing, data.len() + 32 * records, |out| {
                            match traffic.encrypt(data, out) {
                                Ok(n) => Ok(n),
                                Err(EncryptError::InsufficientSize(InsufficientSizeError {
                                    required_size,
                                })) => Err(required_size),
                                Err(_) => {
                                    exhausted = true;
                                    Ok(0)
                                }
                            }
                        });
                        if encrypted && !exhausted {
                            taken = data.len();
                        }
                    }
                    if close_notify {
                        let _ = fill(&mut self.outgoing, 64, |out| match traffic.queue_close_notify(out) {
                            Ok(n) => Ok(n),
                            Err(EncryptError::InsufficientSize(InsufficientSizeError { required_size })) => {
                                Err(required_size)
                            }
                            Err(_) => Ok(0),
                        });
                    }
                    if exhausted {
                        // TLS 1.2 keys used up: rustls queued a close_notify instead.
                        Err(rustls::Error::EncryptError)
                    } else {
                        Ok(Some(Stop::Written(taken)))
                    }
                }
                Ok(ConnectionState::BlockedHandshake) => Ok(Some(Stop::Blocked)),
                // A state of a later rustls: nothing is done with it here.
                Ok(_) => Ok(Some(Stop::Blocked)),
            };
            // rustls requires it before it is called again, failure or not.
            self.incoming.drain(..discard.min(self.incoming.len()));
            if let Some(stop) = next? {
                break stop;
            }
        };
        if self.incoming.is_empty() {
            self.incoming = Vec::new();
        }
        Ok(stop)
    }

    /// The socket ended (read returned 0): a closed session, or (during the handshake) a
    /// failure.
    pub fn eof(&mut self) -> Result<(), TlsFailure> {
        if self.conn.is_handshaking() { Err(TlsFailure::Eof) } else { Ok(()) }
    }

    /// Where the HTTP layer writes its plaintext: into TLS records, up to [`TLS_BUFFER`]
    /// unsent; past it the writer would block, as a full socket does. It blocks too until the
    /// handshake is done.
    pub fn plaintext(&mut self) -> PlaintextWriter<'_> {
        PlaintextWriter(self)
    }

    /// Plaintext bytes the record buffer may take now: [`TLS_BUFFER`] less the records unsent.
    fn room(&self) -> usize {
        TLS_BUFFER.saturating_sub(self.outgoing.len() - self.sent)
    }

    /// Encrypts as much of `data` as the record buffer takes; how much that was (0: none).
    fn encrypt(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.failed.is_some() || self.closed {
            return Ok(0);
        }
        let room = self.room();
        let data = &data[..data.len().min(room)];
        match self.process(None, Some(data), false) {
            Ok(Stop::Written(n)) => Ok(n),
            Ok(_) => Ok(0),
            Err(e) => {
                self.fail(e);
                Err(io::Error::new(io::ErrorKind::InvalidData, "TLS failed"))
            }
        }
    }

    /// Whether records wait to be written to the socket.
    pub fn wants_write(&self) -> bool {
        self.sent < self.outgoing.len()
    }

    /// Writes the records that wait, until none is left or `w` would block; the bytes written.
    pub fn write_to<W: Write>(&mut self, w: &mut W) -> io::Result<usize> {
        let mut total = 0;
        while self.sent < self.outgoing.len() {
            match w.write(&self.outgoing[self.sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.sent += n;
                    total += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.sent == self.outgoing.len() {
            // All written: an idle connection holds no buffer.
            self.outgoing = Vec::new();
            self.sent = 0;
        }
        Ok(total)
    }

    /// Ends the session: a `close_notify` goes out with the next [`Tls::write_to`] (once the
    /// handshake is done; before it, the socket's end says enough).
    pub fn close(&mut self) {
        if std::mem::replace(&mut self.closed, true) || self.failed.is_some() {
            return;
        }
        if let Err(e) = self.process(None, None, true) {
            self.fail(e);
        }
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

/// Appends what `write` puts into room at the end of `out`, first `estimate` bytes of it, then
/// as many as `write` says it needs (`Err(required)`), until it fits; whether it did (it always
/// does: rustls says exactly what it needs).
#[must_use]
fn fill(
    out: &mut Vec<u8>,
    estimate: usize,
    mut write: impl FnMut(&mut [u8]) -> Result<usize, usize>,
) -> bool {
    let start = out.len();
    let mut room = estimate;
    for _ in 0..4 {
        out.resize(start + room, 0);
        match write(&mut out[start..]) {
            Ok(n) => {
                out.truncate(start + n.min(room));
                return true;
            }
            Err(required) if required > room => room = required,
            Err(_) => break,
        }
    }
    out.truncate(start);
    false
}

/// Appends the record rustls has ready (a handshake message, an alert) to `out`.
fn encode_into<Data>(out: &mut Vec<u8>, encode: &mut rustls::unbuffered::EncodeTlsData<'_, Data>) {
    let _ = fill(out, 0, |out| match encode.encode(out) {
        Ok(n) => Ok(n),
        Err(EncodeError::InsufficientSize(InsufficientSizeError { required_size })) => Err(required_size),
        Err(EncodeError::AlreadyEncoded) => Ok(0),
    });
}

thread_local! {
    /// Where a vectored write's slices are joined, so that they go out in one record: one a
    /// worker thread, not one a connection.
    static GATHER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The HTTP layer's writer into a TLS connection (see [`Tls::plaintext`]).
pub struct PlaintextWriter<'a>(&'a mut Tls);

impl Write for PlaintextWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let mut nonempty = bufs.iter().filter(|b| !b.is_empty());
        let taken = match (nonempty.next(), nonempty.next()) {
            (None, _) => return Ok(0),
            (Some(one), None) => self.0.encrypt(one)?,
            (Some(_), Some(_)) => GATHER.with(|gather| {
                let mut gather = gather.borrow_mut();
                gather.clear();
                let room = self.0.room();
                for b in bufs {
                    let left = room - gather.len();
                    if left == 0 {
                        break;
                    }
                    gather.extend_from_slice(&b[..b.len().min(left)]);
                }
                let taken = self.0.encrypt(&gather);
                if gather.capacity() > TLS_BUFFER {
                    *gather = Vec::new();
                }
                taken
            })?,
        };
        match taken {
            // The record buffer is full, or the handshake is not done: as a socket would say.
            0 => Err(io::ErrorKind::WouldBlock.into()),
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
    use std::io::Read;

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
        /// Plaintext the client received.
        client_got: Vec<u8>,
    }

    impl Pair {
        fn new() -> Pair {
            Pair::with(false)
        }

        /// A pair whose client offers only `versions`.
        fn with_versions(versions: &[&'static rustls::SupportedProtocolVersion]) -> Pair {
            Pair::make(false, versions)
        }

        /// A pair whose server offers `http/1.1` alone when `http1_only`.
        fn with(http1_only: bool) -> Pair {
            Pair::make(http1_only, rustls::DEFAULT_VERSIONS)
        }

        fn make(http1_only: bool, versions: &[&'static rustls::SupportedProtocolVersion]) -> Pair {
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
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let client = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
            Pair { client, server, got: Vec::new(), client_got: Vec::new() }
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
                let mut rest = to_client.as_slice();
                while !rest.is_empty() {
                    self.client.read_tls(&mut rest).unwrap();
                    self.client.process_new_packets().unwrap();
                    let mut buf = [0u8; 4096];
                    while let Ok(n @ 1..) = self.client.reader().read(&mut buf) {
                        self.client_got.extend_from_slice(&buf[..n]);
                    }
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
        assert_eq!(p.client_got, b"HTTP/1.1 200 OK\r\n\r\n");
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
    fn an_idle_connection_keeps_no_buffer() {
        let mut p = Pair::new();
        p.pump();
        p.client.writer().write_all(b"GET /sse HTTP/1.1\r\n\r\n").unwrap();
        p.pump();
        p.server.plaintext().write_all(b"HTTP/1.1 200 OK\r\n\r\ndata: 1\n\n").unwrap();
        assert!(p.server.outgoing.capacity() > 0, "records wait");
        p.pump();
        assert_eq!((p.server.incoming.capacity(), p.server.outgoing.capacity()), (0, 0));
    }

    #[test]
    fn records_cut_anywhere_by_the_socket_are_joined() {
        let mut p = Pair::new();
        // The handshake and a request, a byte a read.
        for _ in 0..20 {
            let mut to_server = Vec::new();
            while p.client.wants_write() {
                p.client.write_tls(&mut to_server).unwrap();
            }
            for b in &to_server {
                p.server.received(std::slice::from_ref(b), &mut p.got).unwrap();
            }
            let mut to_client = Vec::new();
            p.server.write_to(&mut to_client).unwrap();
            if !to_client.is_empty() {
                p.client.read_tls(&mut to_client.as_slice()).unwrap();
                p.client.process_new_packets().unwrap();
            }
            if !p.client.is_handshaking() && p.got.is_empty() {
                p.client.writer().write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
            }
            if to_server.is_empty() && to_client.is_empty() {
                break;
            }
        }
        assert!(p.server.handshake_done());
        assert_eq!(p.got, b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(p.server.incoming.capacity(), 0);
    }

    #[test]
    fn tls_1_2_carries_plaintext_both_ways() {
        let mut p = Pair::with_versions(&[&rustls::version::TLS12]);
        p.pump();
        assert_eq!(p.server.version(), Some("TLSv1.2"));
        p.client.writer().write_all(b"GET /sse HTTP/1.1\r\n\r\n").unwrap();
        p.pump();
        assert_eq!(p.got, b"GET /sse HTTP/1.1\r\n\r\n");
        // More than a record's worth, in several writes of several slices.
        let mut sent = 0;
        while sent < 40_000 {
            let chunk = [b'a'; 3000];
            let slices = [IoSlice::new(&chunk[..1000]), IoSlice::new(&chunk[1000..])];
            match p.server.plaintext().write_vectored(&slices) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => p.pump(),
                Err(e) => panic!("{e}"),
            }
        }
        p.pump();
        assert_eq!(p.client_got.len(), sent);
    }

    #[test]
    fn our_close_notify_reaches_the_peer() {
        let mut p = Pair::new();
        p.pump();
        p.server.close();
        p.pump();
        let mut buf = [0u8; 16];
        assert_eq!(p.client.reader().read(&mut buf).unwrap(), 0, "a clean end");
    }

    #[test]
    fn a_handshake_message_past_the_bound_fails_and_frees_its_bytes() {
        let mut tls = Tls::new(&config()).unwrap();
        // A ClientHello that says it is 16 MiB long, sent in full-size records.
        let mut first = vec![0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0xff, 0xff, 0xff];
        first.resize(5 + 0x4000, 0);
        let mut err = None;
        for i in 0..8 {
            let record = if i == 0 {
                first.clone()
            } else {
                let mut r = vec![0x16, 0x03, 0x01, 0x40, 0x00];
                r.resize(5 + 0x4000, 0);
                r
            };
            if let Err(e) = tls.received(&record, &mut Vec::new()) {
                err = Some(e);
                break;
            }
        }
        assert_eq!(err.expect("refused").reason(), "protocol");
        assert_eq!(tls.incoming.capacity(), 0);
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
