//! A TLS client for the tests: rustls over a blocking socket, trusting exactly one certificate.

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use super::TIMEOUT;

/// A TLS connection to `addr` (as `localhost`) that trusts exactly the certificate `der`.
pub fn connect(addr: SocketAddr, der: &[u8]) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der.to_vec().into()).unwrap();
    let config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(TIMEOUT)).unwrap();
    rustls::StreamOwned::new(rustls::ClientConnection::new(Arc::new(config), name).unwrap(), sock)
}
