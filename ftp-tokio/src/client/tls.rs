//! TLS for the client's control and data connections: rustls client configurations (ring
//! provider) and the stream type that is plain TCP or TLS.

use crate::stream::MaybeTls;
use std::io;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

pub use ftp_host::tls::{
    client_config as tls_config, client_config_from_pem as tls_config_from_pem,
    client_config_with_system_roots as system_tls_config,
    insecure_client_config as insecure_tls_config,
    insecure_client_config_with as insecure_tls_config_with,
};

/// A client connection that is plain TCP or TLS over TCP.
pub(crate) type Stream = MaybeTls<tokio_rustls::client::TlsStream<TcpStream>>;

impl Stream {
    /// The TCP connection under the stream; `None` once it is closed.
    pub(crate) fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Stream::Plain(s) => Some(s),
            Stream::Tls(s) => Some(s.get_ref().0),
            Stream::Closed => None,
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
