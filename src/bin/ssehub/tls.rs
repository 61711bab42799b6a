//! `serve`'s HTTPS: the certificate and key from files, or one made at start for localhost
//! (`--tls-self-signed`, printing its SHA-256 fingerprint), and reloading the files on SIGHUP.

use std::path::PathBuf;

use ssehub::proto::tls::TlsConfig;

/// Where the certificate came from, so that SIGHUP can read it again.
pub enum Source {
    Files { cert: PathBuf, key: PathBuf },
    SelfSigned,
}

/// The TLS configuration `serve` was asked for, if any.
pub fn configure(
    cert: Option<&PathBuf>,
    key: Option<&PathBuf>,
    self_signed: bool,
) -> Result<Option<(TlsConfig, Source)>, String> {
    match (cert, key, self_signed) {
        (Some(cert), Some(key), false) => {
            let config = TlsConfig::from_pem_files(cert, key).map_err(|e| {
                format!("cannot use --tls-cert {} --tls-key {}: {e}", cert.display(), key.display())
            })?;
            Ok(Some((config, Source::Files { cert: cert.clone(), key: key.clone() })))
        }
        (None, None, true) => {
            let made = rcgen::generate_simple_self_signed(vec![
                "localhost".to_owned(),
                "127.0.0.1".to_owned(),
                "::1".to_owned(),
            ])
            .map_err(|e| format!("cannot make a self-signed certificate: {e}"))?;
            let config =
                TlsConfig::from_pem(made.cert.pem().as_bytes(), made.signing_key.serialize_pem().as_bytes())
                    .map_err(|e| format!("cannot use the self-signed certificate: {e}"))?;
            Ok(Some((config, Source::SelfSigned)))
        }
        (None, None, false) => Ok(None),
        // clap's `requires` and `conflicts_with` make these impossible; said anyway.
        _ => Err("--tls-cert and --tls-key go together, and not with --tls-self-signed".into()),
    }
}

/// The certificate's SHA-256 fingerprint, as `openssl x509 -fingerprint -sha256` prints it.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    digest.as_ref().iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// Reads the files again (SIGHUP): new handshakes get the new certificate; a broken file keeps
/// the old one, and says why.
pub fn reload(config: &TlsConfig, source: &Source) {
    match source {
        Source::Files { cert, key } => match config.reload_files(cert, key) {
            Ok(()) => {
                log::info!("reloaded {} (SHA-256 {})", cert.display(), fingerprint(&config.certificate_der()))
            }
            Err(e) => log::warn!("kept the certificate in use: cannot reload {}: {e}", cert.display()),
        },
        Source::SelfSigned => log::warn!("a self-signed certificate is not reloaded (SIGHUP ignored)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_look_like_openssl_s() {
        let f = fingerprint(b"hello");
        assert_eq!(f.len(), 32 * 3 - 1);
        assert!(f.starts_with("2C:F2:4D:BA:5F:B0:A3:0E"), "{f}");
    }
}
