//! The client's connection settings, shared by every adapter.

use std::net::SocketAddr;
#[cfg(feature = "tls")]
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ftp_proto::client::{ClientConfig, ClientTls};
use rustls_pki_types::ServerName;

use super::Error;

/// How to connect: the core's [`ClientConfig`] (credentials, TLS policy, passive or active,
/// reply timeout...) plus what the adapter needs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The session's configuration. Its `tls` field selects plain FTP, explicit FTPS
    /// (`Required` or `Opportunistic`) or implicit FTPS (`Implicit`).
    pub session: ClientConfig,
    /// The rustls configuration for FTPS; required when `session.tls` asks for TLS. One
    /// configuration (with its session store) serves the control and data connections, which
    /// is how data connections resume the control connection's TLS session.
    #[cfg(feature = "tls")]
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The name the server's certificate is checked against (and TLS sessions are stored
    /// under); by default the server's IP address.
    pub server_name: Option<ServerName<'static>>,
    /// Time allowed for the TCP connect of the control and data connections, and for the
    /// control connection's TLS handshake. 30 s by default.
    pub connect_timeout: Duration,
    /// A data transfer fails when no byte moves for this long. 60 s by default.
    pub data_idle_timeout: Duration,
}

impl Config {
    /// A configuration for this user and password, plain FTP, passive mode, defaults
    /// elsewhere.
    pub fn new(user: impl Into<Bytes>, pass: impl Into<Bytes>) -> Config {
        Config::from_session(ClientConfig::new(user, pass))
    }

    /// Anonymous login.
    pub fn anonymous() -> Config {
        Config::from_session(ClientConfig::anonymous())
    }

    /// Wraps a session configuration, with the adapter's defaults.
    pub fn from_session(session: ClientConfig) -> Config {
        Config {
            session,
            #[cfg(feature = "tls")]
            tls: None,
            server_name: None,
            connect_timeout: Duration::from_secs(30),
            data_idle_timeout: Duration::from_secs(60),
        }
    }

    /// Explicit FTPS with `tls`: AUTH TLS before the login, data connections protected (PROT
    /// P), all required (`Required`, unless the session already says `Opportunistic`).
    #[cfg(feature = "tls")]
    pub fn explicit_tls(mut self, tls: Arc<rustls::ClientConfig>) -> Config {
        if self.session.tls != ClientTls::Opportunistic {
            self.session.tls = ClientTls::Required;
        }
        self.tls = Some(tls);
        self
    }

    /// Implicit FTPS with `tls`: TLS from the first byte (usually port 990).
    #[cfg(feature = "tls")]
    pub fn implicit_tls(mut self, tls: Arc<rustls::ClientConfig>) -> Config {
        self.session.tls = ClientTls::Implicit;
        self.tls = Some(tls);
        self
    }

    /// Errs with [`Error::TlsNotConfigured`] when the session asks for TLS and no rustls
    /// configuration is set.
    pub fn check(&self) -> Result<(), Error> {
        #[cfg(feature = "tls")]
        let configured = self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        let configured = false;
        if self.session.tls != ClientTls::Disabled && !configured {
            return Err(Error::TlsNotConfigured);
        }
        Ok(())
    }

    /// The name to check the certificate of the server at `addr` against: the configured one,
    /// or the address itself.
    pub fn server_name_for(&self, addr: SocketAddr) -> ServerName<'static> {
        self.server_name
            .clone()
            .unwrap_or_else(|| ServerName::IpAddress(addr.ip().into()))
    }
}
