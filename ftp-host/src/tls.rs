//! rustls configurations (ring provider) for FTPS: the server's control and data connections,
//! and clients (verifying against the system's trust store and private CAs, or for tests only,
//! accepting any certificate).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::Error;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// After CCC: feeds one whole TLS record the client sent (see
/// [`net::starts_tls_record`](crate::net::starts_tls_record) and
/// [`net::tls_record_len`](crate::net::tls_record_len)) to the control connection's TLS
/// session; `Ok(true)` once the client's close_notify is in, so the bytes after it are
/// cleartext commands. An adapter takes exactly one record off the socket per call, so that
/// no cleartext is swallowed by the TLS layer.
pub fn ccc_feed_record(
    session: &mut rustls::ServerConnection,
    record: &[u8],
) -> std::io::Result<bool> {
    session.read_tls(&mut &record[..])?;
    let state = session
        .process_new_packets()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    Ok(state.peer_has_closed())
}

/// Builds a rustls server configuration for FTPS from a certificate chain and a private key.
///
/// It uses the ring provider with rustls' safe defaults (TLS 1.2 and 1.3), offers ALPN `ftp`
/// (a client that offers only other protocols is refused: ALPACA, CVE-2021-3618), keeps a
/// session cache and issues stateless tickets so data connections can resume the control
/// connection's session.
pub fn server_config(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<rustls::ServerConfig>, Error> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"ftp".to_vec()];
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(1024);
    config.ticketer = rustls::crypto::ring::Ticketer::new()?;
    config.send_tls13_tickets = 4;
    // Clients that ask for tickets (RFC 9149 `ticket_request`) get what they ask for, within
    // this bound: see `data_config` for why that matters on data connections.
    config.max_tls13_tickets = MAX_TICKETS_ON_REQUEST;
    Ok(Arc::new(config))
}

/// Like [`server_config`], from PEM text: a certificate chain and a private key (PKCS#8,
/// PKCS#1 or SEC1).
pub fn server_config_from_pem(
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
    server_config(certs, key)
}

/// Like [`server_config_from_pem`], reading the two PEM files.
pub fn server_config_from_pem_files(
    cert: impl AsRef<std::path::Path>,
    key: impl AsRef<std::path::Path>,
) -> Result<Arc<rustls::ServerConfig>, Error> {
    let cert = std::fs::read(cert)?;
    let key = std::fs::read(key)?;
    server_config_from_pem(&cert, &key)
}

/// The configuration for a server's TLS data connections, derived from the control one: the
/// same certificate, session cache and ticketer (so data connections can resume the control
/// connection's session), and TLS 1.3 session tickets only for clients that ask for them
/// with RFC 9149's `ticket_request` extension (as [`client_config`]'s do).
///
/// A TLS 1.3 ticket resumes one connection only, so a client that resumes every data
/// connection needs a new ticket from each: the control connection's few run out after as
/// many data connections, and a server that requires session reuse refuses the next one.
/// But tickets are not sent unasked: a client that only writes (an upload) and never reads
/// would close its socket with the tickets unread, which makes the kernel reset the
/// connection and can cut off the end of the upload. A client that asks for tickets says it
/// will read them.
pub fn data_config(control: &Arc<rustls::ServerConfig>) -> Arc<rustls::ServerConfig> {
    let mut data = rustls::ServerConfig::clone(control);
    data.send_tls13_tickets = 0;
    data.max_tls13_tickets = MAX_TICKETS_ON_REQUEST;
    Arc::new(data)
}

/// The most TLS 1.3 tickets a server sends a client that asks for them (RFC 9149).
const MAX_TICKETS_ON_REQUEST: usize = 4;

/// What the client configurations made here ask servers for (RFC 9149): four tickets on the
/// control connection's full handshake, and two on each resumed data connection, which uses
/// one. The spare keeps the supply from running dry when a data connection ends before its
/// tickets were read (an aborted transfer); the session store keeps at most eight per server.
const TICKET_REQUEST: rustls::client::TicketRequest = rustls::client::TicketRequest {
    new_session_count: 4,
    resumption_count: 2,
};

/// A rustls client configuration for FTPS that trusts the certificates in `roots`.
///
/// It uses the ring provider with rustls' safe defaults (TLS 1.2 and 1.3) and offers ALPN
/// `ftp`. Its in-memory session store is shared by every connection made with it, which is
/// how data connections resume the control connection's TLS session (servers such as vsftpd
/// and proftpd refuse data connections that do not): use one configuration per client, and the
/// same server name for control and data connections.
///
/// A TLS 1.3 ticket resumes one connection, so the configuration asks servers for new tickets
/// on every connection (RFC 9149 `ticket_request`; [`data_config`] honours it). A connection
/// made with it must therefore be read until the server closes it, uploads included (the
/// adapters' clients do): closing a socket with unread tickets resets the connection.
pub fn client_config(roots: RootCertStore) -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?;
    Ok(finish_client(
        builder.with_root_certificates(roots).with_no_client_auth(),
    ))
}

/// Like [`client_config`], trusting the PEM certificates in `pem` (e.g. a test server's
/// self-signed certificate).
///
/// Only these certificates are trusted, not the system's: see
/// [`client_config_with_system_roots`] for both.
pub fn client_config_from_pem(pem: &[u8]) -> Result<Arc<rustls::ClientConfig>, Error> {
    let mut roots = RootCertStore::empty();
    add_pem_roots(&mut roots, pem)?;
    Ok(client_config(roots)?)
}

/// The system's trusted root certificates, as [rustls-native-certs] finds them: on Linux and
/// the BSDs the distribution's CA bundle, or only the files named by the `SSL_CERT_FILE` and
/// `SSL_CERT_DIR` environment variables when either is set; the platform's store on macOS and
/// Windows.
///
/// A store that cannot be read in part is used for what could be read (each problem is
/// logged as a warning); an empty store is no error, but then only the CAs added to it
/// ([`add_pem_roots`]) are trusted.
///
/// [rustls-native-certs]: https://docs.rs/rustls-native-certs
pub fn system_roots() -> RootCertStore {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::warn!(error = %e, "reading the system's trusted certificates");
    }
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    if ignored > 0 {
        tracing::warn!(ignored, "unusable certificates in the system's trust store");
    }
    tracing::debug!(added, "system trust store loaded");
    roots
}

/// Adds the PEM certificates in `pem` (a private CA, or a server's self-signed certificate)
/// to `roots`; returns how many. A file with no certificate, or one rustls cannot use, is an
/// error: a CA the caller meant to trust must not be dropped silently.
pub fn add_pem_roots(roots: &mut RootCertStore, pem: &[u8]) -> Result<usize, Error> {
    let mut n = 0;
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| Error::Pem(format!("certificate: {e}")))?;
        roots.add(cert)?;
        n += 1;
    }
    if n == 0 {
        return Err(Error::Pem("no certificate found".into()));
    }
    Ok(n)
}

/// A client configuration like [`client_config`] that trusts the system's roots
/// ([`system_roots`]) and, when `extra_ca_pem` is given, the PEM certificates in it as well
/// (a private CA: added to the system's roots, not replacing them).
pub fn client_config_with_system_roots(
    extra_ca_pem: Option<&[u8]>,
) -> Result<Arc<rustls::ClientConfig>, Error> {
    let mut roots = system_roots();
    if let Some(pem) = extra_ca_pem {
        add_pem_roots(&mut roots, pem)?;
    }
    Ok(client_config(roots)?)
}

/// A rustls client configuration that accepts ANY server certificate, for tests only.
///
/// It still checks the handshake signatures, but not who signed the certificate nor which
/// names it is for: anyone on the path can impersonate the server. Never use it outside
/// tests and local experiments (the example client's `--insecure`).
pub fn insecure_client_config() -> Arc<rustls::ClientConfig> {
    insecure_client_config_with(rustls::DEFAULT_VERSIONS)
}

/// Like [`insecure_client_config`] (for tests only), limited to these TLS versions (e.g.
/// `&[&rustls::version::TLS12]`).
pub fn insecure_client_config_with(
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ClientConfig> {
    let provider = provider();
    let verifier = Arc::new(AcceptAnyCertificate(provider.clone()));
    let builder = match rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
    {
        Ok(b) => b,
        // Only an empty or unknown version list fails; fall back to the safe defaults.
        Err(_) => rustls::ClientConfig::builder_with_provider(self::provider())
            .with_protocol_versions(rustls::DEFAULT_VERSIONS)
            .unwrap_or_else(|_| unreachable!("ring supports the default versions")),
    };
    finish_client(
        builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth(),
    )
}

fn finish_client(mut config: rustls::ClientConfig) -> Arc<rustls::ClientConfig> {
    config.alpn_protocols = vec![b"ftp".to_vec()];
    config.send_ticket_request = Some(TICKET_REQUEST);
    // In memory, shared by all connections of this config: TLS 1.3 tickets and TLS 1.2
    // sessions per server name, so data connections resume the control connection's session.
    config.resumption = rustls::client::Resumption::store(Arc::new(TracingStore(
        rustls::client::ClientSessionMemoryCache::new(64),
    )));
    Arc::new(config)
}

/// The certificate verifier of [`insecure_client_config`]: any certificate is accepted, the
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

/// The session store of the client configurations made here: rustls' in-memory cache, with a
/// trace of what the data connections take and bring.
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
