//! TLS for the client's control and data connections: rustls client configurations (ring
//! provider) and the stream type that is plain TCP or TLS.

use crate::stream::MaybeTls;
use std::io;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;

/// A rustls client configuration for FTPS that trusts the certificates in `roots`.
///
/// It uses the ring provider with rustls' safe defaults (TLS 1.2 and 1.3) and offers ALPN
/// `ftp`. Its in-memory session store is shared by every connection made with it, which is
/// how data connections resume the control connection's TLS session (servers such as vsftpd
/// and proftpd refuse data connections that do not): use one configuration per
/// [`Client`](super::Client), and the same server name for control and data connections.
pub fn tls_config(roots: RootCertStore) -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?;
    Ok(finish(
        builder.with_root_certificates(roots).with_no_client_auth(),
    ))
}

/// Like [`tls_config`], trusting the PEM certificates in `pem` (e.g. a test server's
/// self-signed certificate).
pub fn tls_config_from_pem(pem: &[u8]) -> Result<Arc<rustls::ClientConfig>, crate::Error> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| crate::Error::Pem(format!("certificate: {e}")))?;
        roots.add(cert)?;
    }
    if roots.is_empty() {
        return Err(crate::Error::Pem("no certificate found".into()));
    }
    Ok(tls_config(roots)?)
}

/// A rustls client configuration that accepts ANY server certificate, for tests only.
///
/// It still checks the handshake signatures, but not who signed the certificate nor which
/// names it is for: anyone on the path can impersonate the server. Never use it outside
/// tests and local experiments (the example client's `--insecure`).
pub fn insecure_tls_config() -> Arc<rustls::ClientConfig> {
    insecure_tls_config_with(rustls::DEFAULT_VERSIONS)
}

/// Like [`insecure_tls_config`] (for tests only), limited to these TLS versions (e.g.
/// `&[&rustls::version::TLS12]`).
pub fn insecure_tls_config_with(
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ClientConfig> {
    let provider = provider();
    let verifier = Arc::new(AcceptAnyCertificate(provider.clone()));
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .expect("the ring provider supports TLS 1.2 and 1.3");
    finish(
        builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth(),
    )
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn finish(mut config: rustls::ClientConfig) -> Arc<rustls::ClientConfig> {
    config.alpn_protocols = vec![b"ftp".to_vec()];
    config.resumption = rustls::client::Resumption::store(Arc::new(TracingStore(
        rustls::client::ClientSessionMemoryCache::new(64),
    )));
    // The default resumption store (in memory, shared by all connections of this config)
    // keeps TLS 1.3 tickets and TLS 1.2 sessions per server name.
    Arc::new(config)
}

/// The certificate verifier of [`insecure_tls_config`]: any certificate is accepted, the
/// handshake signatures are still verified with the provider's algorithms.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
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
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A client connection that is plain TCP or TLS over TCP.
pub(crate) type Stream = MaybeTls<tokio_rustls::client::TlsStream<TcpStream>>;

impl Stream {
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref().0,
        }
    }
}

/// Runs the TLS client handshake on `tcp` for `name`.
pub(crate) async fn connect(
    config: &Arc<rustls::ClientConfig>,
    name: &ServerName<'static>,
    tcp: TcpStream,
) -> io::Result<Stream> {
    let connector = tokio_rustls::TlsConnector::from(config.clone());
    let tls = connector.connect(name.clone(), tcp).await?;
    tracing::debug!(
        resumed = tls.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
        version = ?tls.get_ref().1.protocol_version(),
        "TLS established"
    );
    Ok(Stream::Tls(Box::new(tls)))
}

/// The session store of the configurations made here: rustls' in-memory cache, with a trace
/// of what the data connections take and bring.
#[derive(Debug)]
struct TracingStore(rustls::client::ClientSessionMemoryCache);

impl rustls::client::ClientSessionStore for TracingStore {
    fn set_kx_hint(&self, name: ServerName<'static>, group: rustls::NamedGroup) {
        self.0.set_kx_hint(name, group)
    }
    fn kx_hint(&self, name: &ServerName<'_>) -> Option<rustls::NamedGroup> {
        self.0.kx_hint(name)
    }
    fn set_tls12_session(
        &self,
        name: ServerName<'static>,
        value: rustls::client::Tls12ClientSessionValue,
    ) {
        tracing::trace!("TLS 1.2 session stored");
        self.0.set_tls12_session(name, value)
    }
    fn tls12_session(
        &self,
        name: &ServerName<'_>,
    ) -> Option<rustls::client::Tls12ClientSessionValue> {
        self.0.tls12_session(name)
    }
    fn remove_tls12_session(&self, name: &ServerName<'static>) {
        self.0.remove_tls12_session(name)
    }
    fn insert_tls13_ticket(
        &self,
        name: ServerName<'static>,
        value: rustls::client::Tls13ClientSessionValue,
    ) {
        tracing::trace!("TLS 1.3 ticket stored");
        self.0.insert_tls13_ticket(name, value)
    }
    fn take_tls13_ticket(
        &self,
        name: &ServerName<'static>,
    ) -> Option<rustls::client::Tls13ClientSessionValue> {
        let t = self.0.take_tls13_ticket(name);
        tracing::trace!(found = t.is_some(), "TLS 1.3 ticket taken");
        t
    }
}
