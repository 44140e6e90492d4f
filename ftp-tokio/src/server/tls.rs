//! TLS for the control and data connections (rustls with the ring provider), and the stream
//! type that is either plain TCP or TLS.

use std::io;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpStream;

use crate::stream::MaybeTls;
use crate::Error;

/// Builds a rustls server configuration for FTPS from a certificate chain and a private key.
///
/// It uses the ring provider with rustls' safe defaults (TLS 1.2 and 1.3), offers ALPN `ftp`
/// (a client that offers only other protocols is refused: ALPACA, CVE-2021-3618), keeps a
/// session cache and issues stateless tickets so data connections can resume the control
/// connection's session.
pub fn tls_config(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<rustls::ServerConfig>, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"ftp".to_vec()];
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(1024);
    config.ticketer = rustls::crypto::ring::Ticketer::new()?;
    config.send_tls13_tickets = 4;
    Ok(Arc::new(config))
}

/// Like [`tls_config`], from PEM text: a certificate chain and a private key (PKCS#8, PKCS#1
/// or SEC1).
pub fn tls_config_from_pem(
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<rustls::ServerConfig>, Error> {
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Pem(format!("certificate: {e}")))?;
    if certs.is_empty() {
        return Err(Error::Pem("no certificate found".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| Error::Pem(format!("private key: {e}")))?;
    tls_config(certs, key)
}

/// Like [`tls_config_from_pem`], reading the two PEM files.
pub fn tls_config_from_pem_files(
    cert: impl AsRef<std::path::Path>,
    key: impl AsRef<std::path::Path>,
) -> Result<Arc<rustls::ServerConfig>, Error> {
    let cert = std::fs::read(cert)?;
    let key = std::fs::read(key)?;
    tls_config_from_pem(&cert, &key)
}

/// A server-side connection that is plain TCP or TLS over TCP.
pub(crate) type Stream = MaybeTls<tokio_rustls::server::TlsStream<TcpStream>>;

/// Runs the TLS server handshake on `tcp`; returns the stream and whether the session was
/// resumed.
pub(crate) async fn accept(
    acceptor: &tokio_rustls::TlsAcceptor,
    tcp: TcpStream,
) -> io::Result<(Stream, bool)> {
    let tls = acceptor.accept(tcp).await?;
    let resumed = tls.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
    Ok((Stream::Tls(Box::new(tls)), resumed))
}
