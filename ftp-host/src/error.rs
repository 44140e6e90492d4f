//! Set-up errors shared by the adapters' servers.

use std::io;

/// Why a server could not be set up or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A socket or file operation failed (binding a listen address, reading a PEM file...).
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// rustls refused the certificate or key.
    #[cfg(feature = "tls")]
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// A PEM file holds no usable certificate or key.
    #[error("PEM: {0}")]
    Pem(String),
    /// The configuration asks for TLS but no TLS configuration was given (or the crate was
    /// built without its `tls` feature).
    #[error("the server configuration enables TLS but no certificate was given")]
    TlsNotConfigured,
    /// No listen address was given.
    #[error("no listen address")]
    NoListenAddress,
    /// The PROXY protocol is on and no proxy address block was given to trust it from.
    #[error("the PROXY protocol needs at least one trusted proxy address block")]
    ProxyWithoutSources,
}
