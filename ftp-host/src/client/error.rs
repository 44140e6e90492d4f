//! The client's error type: every failure names the server's reply when there was one.

use std::io;

use ftp_proto::client::{ClientError, OpError};
use ftp_proto::reply::Reply;

/// Why a client call failed (the same type for every adapter's client).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The TCP connection to the server could not be made.
    #[error("cannot connect: {0}")]
    Connect(#[source] io::Error),
    /// The TCP connect (or an implicit-TLS handshake) took longer than the adapter's connect
    /// timeout.
    #[error("timed out connecting to the server")]
    ConnectTimeout,
    /// The control connection's TLS handshake (implicit FTPS, or after AUTH TLS) failed for
    /// a reason other than the server's certificate.
    #[error("TLS handshake failed: {0}")]
    Tls(#[source] io::Error),
    /// The server's certificate was rejected during the control connection's TLS handshake
    /// (not signed by a trusted authority, not for the server's name, expired...). Nothing
    /// was sent over the connection, credentials included.
    #[cfg(feature = "tls")]
    #[error("the server's TLS certificate is not trusted: {}", certificate_message(.0))]
    Certificate(rustls::CertificateError),
    /// TLS was asked for (explicit or implicit) but no rustls configuration was given.
    #[error("TLS requested but no TLS configuration was given")]
    TlsNotConfigured,
    /// The session ended, or refused the call: a refused login, a lost connection, a reply
    /// timeout, an invalid argument...
    #[error("{}", session_message(.0))]
    Session(ClientError),
    /// The operation failed; the session goes on.
    #[error("{}", op_message(.0))]
    Op(OpError),
    /// Reading the upload source or writing the download target failed.
    #[error("local I/O error: {0}")]
    Local(#[source] io::Error),
    /// The connection's task is gone (the session closed before this call).
    #[error("the connection is closed")]
    Closed,
    /// The operation succeeded with an outcome this call cannot use (a core bug).
    #[error("unexpected outcome from the session")]
    UnexpectedOutcome,
}

impl Error {
    /// The server's reply behind this error, if there is one.
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            Error::Session(e) => session_reply(e),
            Error::Op(e) => op_reply(e),
            _ => None,
        }
    }
}

impl Error {
    /// The error for a failed TLS handshake on the control connection: [`Error::Certificate`]
    /// when rustls rejected the server's certificate (the TLS streams of the adapters wrap
    /// rustls' error in the `io::Error`), [`Error::Tls`] otherwise.
    pub fn from_tls(e: io::Error) -> Error {
        #[cfg(feature = "tls")]
        if let Some(rustls::Error::InvalidCertificate(c)) = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Error::Certificate(c.clone());
        }
        Error::Tls(e)
    }
}

/// What is wrong with the certificate, in words; rustls' own text where it has some.
#[cfg(feature = "tls")]
fn certificate_message(e: &rustls::CertificateError) -> String {
    use rustls::CertificateError as C;
    match e {
        C::UnknownIssuer => {
            "it is not signed by a trusted certificate authority (self-signed, or a private CA \
             that is not in the trust store)"
                .to_owned()
        }
        C::NotValidForName => "it is not valid for the server's name".to_owned(),
        C::Expired => "it has expired".to_owned(),
        C::NotValidYet => "it is not valid yet".to_owned(),
        C::Revoked => "it has been revoked".to_owned(),
        C::BadSignature => "its signature is invalid".to_owned(),
        C::BadEncoding => "it cannot be decoded".to_owned(),
        other => other.to_string(),
    }
}

impl From<ClientError> for Error {
    fn from(e: ClientError) -> Self {
        Error::Session(e)
    }
}

impl From<OpError> for Error {
    fn from(e: OpError) -> Self {
        match e {
            OpError::Session(e) => Error::Session(e),
            e => Error::Op(e),
        }
    }
}

fn session_reply(e: &ClientError) -> Option<&Reply> {
    match e {
        ClientError::ServiceClosing(r)
        | ClientError::Refused(r)
        | ClientError::LoginFailed(r)
        | ClientError::TlsRefused(r)
        | ClientError::TlsBypassed(r)
        | ClientError::UnexpectedReply(r) => Some(r),
        _ => None,
    }
}

fn op_reply(e: &OpError) -> Option<&Reply> {
    match e {
        OpError::Rejected(r) | OpError::UnexpectedReply(r) => Some(r),
        OpError::BadReply { reply, .. } | OpError::BadAddress { reply, .. } => Some(reply),
        OpError::Transfer { reply, .. } => reply.as_ref(),
        OpError::Session(e) => session_reply(e),
        _ => None,
    }
}

/// `text`, then the server's reply quoted when there is one.
fn with_reply(text: String, reply: Option<&Reply>) -> String {
    match reply {
        Some(r) => format!(
            "{text} (server replied \"{} {}\")",
            r.code(),
            String::from_utf8_lossy(r.last_line()).trim_end()
        ),
        None => text,
    }
}

fn session_message(e: &ClientError) -> String {
    let text = match e {
        ClientError::LoginFailed(_) => "login failed".to_owned(),
        ClientError::Refused(_) => "the server refused the connection".to_owned(),
        ClientError::ServiceClosing(_) => "the server closed the connection".to_owned(),
        ClientError::TlsRefused(_) => "the server refused TLS".to_owned(),
        ClientError::UnexpectedReply(_) => "unexpected reply".to_owned(),
        e => e.to_string(),
    };
    with_reply(text, session_reply(e))
}

fn op_message(e: &OpError) -> String {
    let text = match e {
        OpError::Rejected(_) => "the server refused the operation".to_owned(),
        OpError::UnexpectedReply(_) => "unexpected reply".to_owned(),
        OpError::BadReply { error, .. } => format!("unreadable reply: {error}"),
        OpError::BadAddress { error, .. } => format!("unreadable passive reply: {error}"),
        OpError::Transfer { error, .. } => format!("the data transfer failed: {error:?}"),
        e => e.to_string(),
    };
    with_reply(text, op_reply(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ftp_proto::reply::ReplyCode;

    #[test]
    fn message_names_the_reply() {
        let code = ReplyCode::from_digits(b"550").unwrap();
        let e = Error::from(OpError::Rejected(Reply::new(code, "No such file")));
        assert_eq!(
            e.to_string(),
            "the server refused the operation (server replied \"550 No such file\")"
        );
        assert_eq!(e.reply().map(|r| r.code()), Some(code));
    }

    #[cfg(feature = "tls")]
    #[test]
    fn a_rejected_certificate_is_told_apart() {
        let wrapped = |e: rustls::Error| io::Error::new(io::ErrorKind::InvalidData, e);
        let e = Error::from_tls(wrapped(rustls::CertificateError::UnknownIssuer.into()));
        assert!(matches!(
            e,
            Error::Certificate(rustls::CertificateError::UnknownIssuer)
        ));
        assert!(
            e.to_string().starts_with(
                "the server's TLS certificate is not trusted: it is not signed by a trusted"
            ),
            "{e}"
        );
        let e = Error::from_tls(wrapped(rustls::Error::HandshakeNotComplete));
        assert!(matches!(e, Error::Tls(_)), "{e}");
        let e = Error::from_tls(io::ErrorKind::UnexpectedEof.into());
        assert!(matches!(e, Error::Tls(_)), "{e}");
    }
}
