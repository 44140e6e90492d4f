//! What a [`ClientSession`](crate::client::ClientSession) asks of its adapter, what the adapter
//! tells it back, and the results of operations.

use std::fmt;
use std::net::SocketAddr;

use bytes::Bytes;

use crate::addr::AddrError;
use crate::listing::Entry;
use crate::reply::{Features, Reply, ReplyError};
use crate::time::Timestamp;

use super::ClientError;

/// Names one queued operation; its [`ClientOutput::Completed`] carries the same id. Ids are
/// unique within a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId(pub(crate) u64);

/// Names one data channel (a connection to the server's passive port, or a listener for an
/// active-mode connection, and the transfer on it). Ids are unique within a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DataId(pub(crate) u64);

impl fmt::Display for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "op#{}", self.0)
    }
}

impl fmt::Display for DataId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "data#{}", self.0)
    }
}

/// One thing the adapter must do or learn, from
/// [`ClientSession::poll_output`](crate::client::ClientSession::poll_output).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientOutput {
    /// Write these bytes to the control connection, in order.
    Send(Bytes),
    /// Act on a data channel.
    Data(DataIntent),
    /// Start TLS (as the TLS client) on the control connection, after writing every
    /// [`Send`](ClientOutput::Send) before this output. Report the outcome with
    /// [`ClientEvent::TlsEstablished`] or [`ClientEvent::TlsFailed`]. Read nothing from the
    /// control connection as plaintext from here on.
    StartTls,
    /// The login finished: operations now run.
    LoggedIn(Box<LoginInfo>),
    /// A queued operation finished, with its result. Every operation gets exactly one.
    Completed(OpId, Result<Outcome, OpError>),
    /// A reply that answers no command (RFC 959 §5.4 spontaneous replies, e.g. pyftpdlib's
    /// `421 Passive data channel timed out.` when idle is fatal instead).
    Unsolicited(Reply),
    /// The session ended with this error; [`Close`](ClientOutput::Close) follows.
    Error(ClientError),
    /// Close the control connection after writing every preceding send. Nothing follows.
    Close,
}

/// What the login learned about the server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoginInfo {
    /// The 220 greeting (or the 230 of a server that logs in by itself).
    pub greeting: Reply,
    /// The features from FEAT (empty if the server has none or refused FEAT).
    pub features: Features,
    /// Whether the control connection is protected by TLS.
    pub tls: bool,
    /// Whether data connections use TLS (PROT P was accepted).
    pub data_tls: bool,
}

/// Whether and how a data connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DataProtection {
    /// Cleartext (PROT C, or no TLS at all).
    Clear,
    /// TLS, with the FTP client as the TLS client whichever side connected (RFC 4217). Resume
    /// the control connection's TLS session (servers such as vsftpd and proftpd refuse data
    /// connections that do not), using its most recent session ticket.
    Tls,
}

/// Which way a transfer moves bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Server to client: RETR, LIST, NLST, MLSD. Read the data connection to its end.
    Download,
    /// Client to server: STOR, APPE, STOU. Write the whole source, then close the connection
    /// (and with TLS send close_notify): the end of the file is the end of the connection.
    Upload,
}

/// A data-channel action for the adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DataIntent {
    /// Passive mode: open a TCP connection to `addr`. Report [`ClientEvent::DataConnected`] as
    /// soon as TCP is up (before any TLS handshake: servers such as vsftpd only start TLS once
    /// they have the transfer command) or [`ClientEvent::DataFailed`]. When `protection` is
    /// [`DataProtection::Tls`], run the TLS handshake after that, before moving bytes; a failed
    /// handshake is a [`ClientEvent::TransferFailed`].
    Connect {
        /// The data channel.
        id: DataId,
        /// Where to connect: the control connection's peer address with the port the server
        /// gave, unless the configuration trusts the address in 227 replies.
        addr: SocketAddr,
        /// TLS on the data connection.
        protection: DataProtection,
    },
    /// Active mode: bind a listener on the control connection's local IP address, any port,
    /// and report [`ClientEvent::Listening`] (or [`ClientEvent::DataFailed`]). Ask
    /// [`ClientSession::handle_data_accept`](crate::client::ClientSession::handle_data_accept)
    /// about each connection it accepts.
    Listen {
        /// The data channel.
        id: DataId,
    },
    /// Move the bytes of operation `op` over channel `id` (once it is connected or accepted).
    /// Report [`ClientEvent::TransferDone`] at the end (a download: end of data reached and
    /// written; an upload: all written and the connection closed) or
    /// [`ClientEvent::TransferFailed`]. Close the data connection (and listener) at the end.
    Transfer {
        /// The data channel.
        id: DataId,
        /// The operation: for RETR, STOR, APPE and STOU the adapter's file for it.
        op: OpId,
        /// Which way the bytes go.
        direction: Direction,
        /// A listing (LIST, NLST, MLSD): pass the bytes read to
        /// [`ClientSession::handle_listing_data`](crate::client::ClientSession::handle_listing_data)
        /// instead of a file, and the session parses them.
        listing: bool,
    },
    /// Stop the transfer on this channel at once and close its connection and listener;
    /// report nothing more for it (reports that race with this are ignored).
    Abort {
        /// The data channel.
        id: DataId,
    },
    /// Close this channel's connection or listener, if any; report nothing more for it.
    Close {
        /// The data channel.
        id: DataId,
    },
}

/// Why a data connection failed, as the adapter saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DataError {
    /// The connection broke or was reset.
    ConnectionLost,
    /// The data connection's TLS handshake failed.
    Tls,
    /// Reading or writing the local file failed.
    Local,
    /// No data arrived for too long (the adapter's data idle timeout).
    TimedOut,
}

/// What the adapter reports to a [`ClientSession`](crate::client::ClientSession).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The control connection's TLS handshake (after [`ClientOutput::StartTls`]) succeeded.
    TlsEstablished,
    /// The control connection's TLS handshake failed; the session ends.
    TlsFailed,
    /// The server closed the control connection (read returned end of stream).
    ControlEof,
    /// The active-mode listener of channel `id` is bound at `addr` (its address goes into
    /// PORT or EPRT, so it must be the address the server can reach).
    Listening {
        /// The data channel.
        id: DataId,
        /// The bound address.
        addr: SocketAddr,
    },
    /// The passive-mode TCP connection of channel `id` is up.
    DataConnected {
        /// The data channel.
        id: DataId,
    },
    /// The data connection could not be made (connect refused or timed out, bind failed).
    DataFailed {
        /// The data channel.
        id: DataId,
    },
    /// The transfer on channel `id` ended well: `bytes` moved over the data connection.
    TransferDone {
        /// The data channel.
        id: DataId,
        /// Bytes moved.
        bytes: u64,
    },
    /// The transfer on channel `id` failed.
    TransferFailed {
        /// The data channel.
        id: DataId,
        /// What went wrong.
        error: DataError,
    },
}

/// The answer of
/// [`ClientSession::handle_data_accept`](crate::client::ClientSession::handle_data_accept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    /// Use this connection for the transfer (with TLS first when so protected).
    Use {
        /// TLS on the data connection.
        protection: DataProtection,
    },
    /// Drop this connection and keep listening: it comes from a host other than the server
    /// (RFC 2577 port stealing) or no transfer wants it.
    Reject,
}

/// A parsed directory listing (LIST or MLSD).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Listing {
    /// The entries, in the order listed (MLSD `cdir`/`pdir` and LIST `.`/`..` included).
    pub entries: Vec<Entry>,
    /// Lines that parsed as no known format and were left out.
    pub skipped: usize,
}

/// The result of an operation that succeeded.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Outcome {
    /// The command succeeded; here is the final reply (CWD, CDUP, RMD, DELE, rename, MFMT,
    /// SITE, STAT, NOOP, a raw command, QUIT).
    Done(Reply),
    /// PWD: the current directory from the 257 reply.
    Path(Bytes),
    /// MKD: the new directory from the 257 reply, if the server named one.
    Created(Option<Bytes>),
    /// SIZE: the size in bytes.
    Size(u64),
    /// MDTM: the modification time (UTC).
    Modified(Timestamp),
    /// MLST: the entry.
    Entry(Box<Entry>),
    /// LIST or MLSD: the parsed listing.
    Listing(Listing),
    /// NLST: the names.
    Names(Vec<Bytes>),
    /// RETR, STOR or APPE: the transfer finished and the server confirmed it.
    Transferred {
        /// Bytes moved over the data connection.
        bytes: u64,
        /// The size the server announced in its 150 reply, if any.
        announced: Option<u64>,
    },
    /// STOU: stored under the name the server chose.
    StoredUnique {
        /// Bytes moved.
        bytes: u64,
        /// The name from the `FILE: name` reply, if the server sent one.
        name: Option<Bytes>,
    },
    /// ABOR: the transfer in progress (if any) stopped; the ABOR reply when one was sent.
    Aborted(Option<Reply>),
}

/// Why an operation failed; the session goes on unless the error is
/// [`OpError::Session`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpError {
    /// The server refused with a 4xx or 5xx reply (including 425/426/451 after a 150).
    #[error("refused by the server: {}", .0.code())]
    Rejected(Reply),
    /// A reply that fits no expectation of the command (e.g. 3xx to CWD).
    #[error("unexpected reply {}", .0.code())]
    UnexpectedReply(Reply),
    /// A successful reply whose text could not be read (257 path, SIZE, MDTM, MLST).
    #[error("unreadable reply {}: {error}", .reply.code())]
    BadReply {
        /// The reply.
        reply: Reply,
        /// What was wrong with it.
        error: ReplyError,
    },
    /// A 227 or 229 reply without a usable address (e.g. a number over 255).
    #[error("unreadable passive reply {}: {error}", .reply.code())]
    BadAddress {
        /// The reply.
        reply: Reply,
        /// What was wrong with it.
        error: AddrError,
    },
    /// The data connection could not be made: the connect failed or timed out, the listener
    /// could not be bound, or the server never connected in active mode.
    #[error("the data connection could not be made")]
    DataConnection,
    /// The data transfer failed on the client's side; the server's final reply, when it came.
    #[error("the data transfer failed: {error:?}")]
    Transfer {
        /// What the adapter saw.
        error: DataError,
        /// The server's final reply, if it had sent one.
        reply: Option<Reply>,
    },
    /// The listing was bigger than the configured caps.
    #[error("the listing exceeds the configured limits")]
    ListingTooLarge,
    /// The operation was stopped by an abort.
    #[error("aborted")]
    Aborted,
    /// The session ended before the operation finished.
    #[error("session ended: {0}")]
    Session(ClientError),
}
