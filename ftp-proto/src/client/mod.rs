//! The client role: [`ClientSession`], one per control connection, does all of FTP's
//! client-side logic and policy; the adapter moves bytes, runs data connections and keeps the
//! files.
//!
//! # The contract
//!
//! - Queue operations with the methods of [`ClientSession`] ([`cwd`](ClientSession::cwd),
//!   [`retr`](ClientSession::retr), [`list`](ClientSession::list)...). Each returns an
//!   [`OpId`] and later completes exactly once with [`ClientOutput::Completed`], carrying a
//!   typed [`Outcome`] or an [`OpError`] (with the server's reply when there is one).
//!   Operations run one at a time, in order, after the login; [`abort`](ClientSession::abort)
//!   jumps the queue to stop the transfer in progress.
//! - Feed control-connection bytes with [`ClientSession::handle_input`], the adapter's outcomes
//!   with [`ClientSession::handle_event`], [`ClientSession::handle_data_accept`] and
//!   [`ClientSession::handle_listing_data`], and the passing of time with
//!   [`ClientSession::handle_timeout`]. Time is always an argument: the session never reads a
//!   clock.
//! - After every call that takes `now`, drain [`ClientSession::poll_output`] until it returns
//!   `None`, carrying out each output in order, then arm one timer at
//!   [`ClientSession::poll_timeout`].
//! - Those calls (`handle_*`, and queueing operations) may come in the middle of a drain,
//!   between two `poll_output` calls, e.g. a data event that arrived while the adapter was
//!   carrying out an output. What such a call produces is queued after every output not yet
//!   polled, so the outputs still come out once each, in the order the session produced them;
//!   keep draining to `None`.
//! - Read from the control connection only while [`ClientSession::wants_read`] is true.
//!
//! # Data connections
//!
//! Data bytes never pass through the session, except listings. For RETR, STOR, APPE and STOU
//! the adapter keeps a file per [`OpId`] and streams it when [`DataIntent::Transfer`] names
//! that operation. For LIST, NLST and MLSD the intent has `listing: true`: pass the bytes read
//! to [`ClientSession::handle_listing_data`]; the session splits and parses them (Unix and DOS
//! LIST lines, MLSD facts) within [`ClientConfig::max_listing_entries`] and
//! [`ClientConfig::max_listing_line`], and completes the operation with
//! [`Outcome::Listing`] or [`Outcome::Names`].
//!
//! A transfer completes only when both the server's final reply and the adapter's
//! [`ClientEvent::TransferDone`] have arrived, in either order.
//!
//! # A drive loop
//!
//! ```
//! use std::time::Instant;
//! use ftp_proto::client::{ClientConfig, ClientOutput, ClientSession, Outcome};
//!
//! let now = Instant::now(); // the adapter reads the clock, not the session
//! let peer = "192.0.2.1:21".parse().unwrap();
//! let mut session = ClientSession::new(ClientConfig::new("alice", "secret"), peer, now).unwrap();
//! let pwd = session.pwd(now).unwrap();
//! // What a server would answer, in one read for brevity.
//! let server: &[u8] = b"220 Hi\r\n331 Password\r\n230 Welcome\r\n211 No features\r\n\
//!                       200 Binary\r\n257 \"/home/alice\" is the cwd\r\n";
//! let mut sent = Vec::new();
//! let mut result = None;
//! for chunk in server.split_inclusive(|&b| b == b'\n') {
//!     session.handle_input(now, chunk).unwrap();
//!     while let Some(out) = session.poll_output() {
//!         match out {
//!             ClientOutput::Send(bytes) => sent.extend_from_slice(&bytes),
//!             ClientOutput::Completed(id, r) if id == pwd => result = Some(r),
//!             _ => {}
//!         }
//!     }
//! }
//! assert_eq!(result, Some(Ok(Outcome::Path("/home/alice".into()))));
//! assert_eq!(sent, b"USER alice\r\nPASS secret\r\nFEAT\r\nTYPE I\r\nPWD\r\n");
//! ```

mod config;
mod listing;
mod login;
mod ops;
mod session;
mod transfer;
mod types;

pub use config::{ClientConfig, ClientTls, DataMode};
pub use session::ClientSession;
pub use types::{
    Accept, ClientEvent, ClientOutput, DataError, DataId, DataIntent, DataProtection, Direction,
    Listing, LoginInfo, OpError, OpId, Outcome,
};

use crate::command::CommandError;
use crate::reply::{Reply, ReplyError};

/// Why the session ended, or how the caller broke the driving contract.
///
/// The first group are the caller's mistakes, returned as `Err` by the method called; the
/// session goes on. The rest end the session: they come out as [`ClientOutput::Error`] (and in
/// [`OpError::Session`] for each unfinished operation), followed by [`ClientOutput::Close`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The session has closed (or QUIT is queued); it takes no more operations or input.
    #[error("the session is closed")]
    Closed,
    /// [`ClientConfig::max_queued_ops`] operations are already waiting.
    #[error("too many queued operations")]
    QueueFull,
    /// An argument that cannot be sent: CR, LF or NUL in a path or credential (command
    /// injection), or an empty one.
    #[error("invalid argument: {0}")]
    InvalidArgument(CommandError),
    /// A raw command that would break the session's state (data, transfer, login or TLS
    /// commands); use the operation methods.
    #[error("{0} cannot be sent as a raw command")]
    NotRaw(String),
    /// An event for a data channel this session never opened.
    #[error("no data channel {0}")]
    UnknownData(DataId),
    /// An event that does not fit the session's state.
    #[error("unexpected event {0}")]
    UnexpectedEvent(&'static str),
    /// The server sent 421: it is closing the connection (at the greeting, or at any time).
    #[error("server closing the connection: {}", reply_text(.0))]
    ServiceClosing(Reply),
    /// The greeting was a refusal (4xx/5xx other than 421).
    #[error("server refused the connection: {}", .0.code())]
    Refused(Reply),
    /// USER, PASS or ACCT was refused (or ACCT was asked for and none is configured).
    #[error("login failed: {}", .0.code())]
    LoginFailed(Reply),
    /// TLS is required and the server refused AUTH TLS, PBSZ or PROT.
    #[error("TLS required but refused by the server: {}", .0.code())]
    TlsRefused(Reply),
    /// TLS is required and the server logged the session in without it (a 230 greeting):
    /// curl CVE-2021-22946.
    #[error("TLS required but the server logged in without it")]
    TlsBypassed(Reply),
    /// Bytes followed the 234 reply to AUTH before the TLS handshake: they would be read as
    /// if protected (curl CVE-2021-22947).
    #[error("server sent bytes after 234 before the TLS handshake")]
    PipelinedAfterAuth,
    /// The control connection's TLS handshake failed.
    #[error("TLS handshake failed")]
    TlsFailed,
    /// The reply stream is broken: NUL, a line that is no reply, a cap exceeded, or the
    /// connection closed mid-reply.
    #[error("bad reply stream: {0}")]
    Protocol(ReplyError),
    /// A reply the login sequence cannot use (e.g. 3xx to the greeting).
    #[error("unexpected reply {}", .0.code())]
    UnexpectedReply(Reply),
    /// No reply within [`ClientConfig::reply_timeout`].
    #[error("timed out waiting for a reply")]
    Timeout,
    /// The server closed the control connection.
    #[error("the control connection closed")]
    ConnectionClosed,
}

fn reply_text(r: &Reply) -> String {
    format!("{} {}", r.code(), String::from_utf8_lossy(r.last_line()))
}
