//! TLS for the client's control and data connections: rustls client configurations (ring
//! provider) and the handshake.

use std::io;
use std::sync::Arc;

use futures_rustls::TlsConnector;
use rustls::pki_types::ServerName;

use crate::stream::{Stream, Tcp};

pub use ftp_host::tls::{
    client_config as tls_config, client_config_from_pem as tls_config_from_pem,
    client_config_with_system_roots as system_tls_config,
    insecure_client_config as insecure_tls_config,
    insecure_client_config_with as insecure_tls_config_with,
};

/// What the client's handshakes need: one configuration (with its session store, so data
/// connections resume the control connection's session) and the name the server's
/// certificate is checked against.
#[derive(Debug, Clone)]
pub(crate) struct Tls {
    pub(crate) config: Option<Arc<rustls::ClientConfig>>,
    pub(crate) name: ServerName<'static>,
}

impl Tls {
    /// Runs the TLS client handshake on `tcp`.
    pub(crate) async fn connect(&self, tcp: Tcp) -> io::Result<Stream> {
        let Some(config) = &self.config else {
            return Err(io::Error::other("no TLS configuration"));
        };
        let connector = TlsConnector::from(config.clone());
        let tls = connector.connect(self.name.clone(), tcp).await?;
        let (_, state) = tls.get_ref();
        tracing::debug!(
            resumed = state.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
            version = ?state.protocol_version(),
            "TLS established"
        );
        Ok(Stream::Tls(Box::new(tls.into())))
    }
}
