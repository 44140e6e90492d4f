//! The server role: [`ServerSession`], one per control connection, does all of FTP's
//! server-side logic and policy; the adapter moves bytes, answers requests and runs data
//! connections.
//!
//! # The contract
//!
//! - Feed control-connection bytes with [`ServerSession::handle_input`], the adapter's outcomes
//!   with [`ServerSession::handle_event`] and [`ServerSession::handle_data_accept`], running
//!   transfers' byte counts with [`ServerSession::handle_data_progress`], and the passing of
//!   time with [`ServerSession::handle_timeout`]. Time is always an argument: the session
//!   never reads a clock.
//! - After every `handle_*` call, drain [`ServerSession::poll_output`] until it returns `None`,
//!   carrying out each output in order, then arm one timer at
//!   [`ServerSession::poll_timeout`].
//! - `handle_*` calls may come in the middle of a drain, between two `poll_output` calls: an
//!   answer given as soon as its [`Request`] is polled, an event that arrived meanwhile. What
//!   such a call produces is queued after every output not yet polled, so the outputs still
//!   come out once each, in the order the session produced them; keep draining to `None`.
//!   (The one thing a call removes is what can no longer be sent:
//!   [`ServerSession::handle_control_closed`] drops the replies not yet polled.)
//! - Read from the control connection only while [`ServerSession::wants_read`] is true: that is
//!   the back-pressure that keeps the pipelined-command queue and the reply queue bounded.
//! - Every [`Request`] is answered exactly once with [`ServerEvent::Answer`] and the same id.
//! - A file or listing handle opened for a request ([`Answer::Opened`]) ends in the
//!   [`DataIntent::Transfer`] that names it or in [`ServerOutput::Release`]; report a running
//!   transfer's byte count with [`ServerSession::handle_data_progress`] at least whenever the
//!   timer fires, before [`ServerSession::handle_timeout`].
//! - [`ServerOutput::Notice`] is for logs and metrics only ([`Notice`]: refusals the core made
//!   on its own, aborted transfers and their causes): an adapter may ignore it.
//!
//! # A drive loop
//!
//! ```
//! use std::net::SocketAddr;
//! use std::sync::Arc;
//! use std::time::Instant;
//! use ftp_proto::server::{Answer, Request, ServerConfig, ServerEvent, ServerOutput, ServerSession};
//!
//! let peer: SocketAddr = "127.0.0.1:50000".parse().unwrap();
//! let local: SocketAddr = "127.0.0.1:2121".parse().unwrap();
//! let now = Instant::now(); // the adapter reads the clock, not the session
//! let mut session = ServerSession::new(Arc::new(ServerConfig::default()), peer, local, now);
//! let mut wire = Vec::new();
//! let mut inputs: Vec<&[u8]> = vec![b"USER alice\r\n", b"PASS secret\r\n", b"QUIT\r\n"];
//! inputs.reverse();
//! loop {
//!     let mut events = Vec::new();
//!     while let Some(out) = session.poll_output() {
//!         match out {
//!             ServerOutput::Send(bytes) => wire.extend_from_slice(&bytes),
//!             ServerOutput::Request(id, Request::Login { .. }) => {
//!                 events.push(ServerEvent::Answer(id, Answer::LoggedIn { read_only: false }))
//!             }
//!             ServerOutput::Close => break,
//!             other => unimplemented!("{other:?}"),
//!         }
//!     }
//!     for e in events {
//!         session.handle_event(now, e).unwrap();
//!     }
//!     if session.is_closed() {
//!         break;
//!     }
//!     if let Some(bytes) = inputs.pop() {
//!         session.handle_input(now, bytes).unwrap();
//!     }
//! }
//! let text = String::from_utf8(wire).unwrap();
//! assert!(text.starts_with("220 "));
//! assert!(text.contains("331 ") && text.contains("230 ") && text.ends_with("221 Goodbye.\r\n"));
//! ```

mod config;
mod session;
mod types;

pub use config::{canonical_ip, is_local_network, PassiveAddress, ServerConfig, TlsMode};
pub use session::ServerSession;
pub use types::{
    AbortCause, Accept, ActiveRefusal, Answer, DataId, DataIntent, Direction, Failure, ListFormat,
    LoginRefusal, Notice, PassiveRefusal, Permissions, Request, RequestId, ServerEvent,
    ServerOutput, StorageRequest, TransferError, WriteMode,
};

/// Whether `user` is one of the names FTP servers reserve for anonymous access: `anonymous` or
/// `ftp`, in any case (RFC 1635). The session asks the authenticator with
/// [`Request::Login`]'s `anonymous` set from this (and from
/// [`ServerConfig::anonymous`]); other code that needs the rule calls this rather than
/// repeating it.
pub fn is_anonymous_user(user: &[u8]) -> bool {
    user.eq_ignore_ascii_case(b"anonymous") || user.eq_ignore_ascii_case(b"ftp")
}

/// Why a connection is turned away before a session starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The server is at its connection limit.
    TooManyConnections,
    /// The client's address is at its per-address connection limit.
    TooManyFromAddress,
    /// The server is shutting down.
    ShuttingDown,
    /// The client's address is banned for a while (too many failed logins).
    Banned,
}

/// The bytes to write on a connection that is refused without a session (a 421 reply), so
/// that adapters carry no protocol text of their own. Close the connection after writing them.
pub fn refusal_reply(reason: Refusal) -> bytes::Bytes {
    let text: &[u8] = match reason {
        Refusal::TooManyConnections => b"Too many connections; try again later.",
        Refusal::TooManyFromAddress => b"Too many connections from your address.",
        Refusal::ShuttingDown => b"Server shutting down.",
        Refusal::Banned => b"Too many failed logins from your address; try again later.",
    };
    let mut out = bytes::BytesMut::new();
    crate::reply::Reply::write(
        crate::reply::ReplyCode::SERVICE_NOT_AVAILABLE,
        text,
        &mut out,
    );
    out.freeze()
}

/// The caller broke the driving contract; the peer's mistakes are FTP replies, never errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The session has closed; it takes no more input.
    #[error("the session is closed")]
    Closed,
    /// An answer for a request this session is not waiting on.
    #[error("no request {0} is waiting for an answer")]
    UnknownRequest(RequestId),
    /// An answer whose kind does not fit its request (e.g. `Entries` for a `Stat`).
    #[error("the answer to {0} does not fit its request")]
    WrongAnswer(RequestId),
    /// An event for a data channel this session does not have.
    #[error("no data channel {0}")]
    UnknownData(DataId),
    /// An event that does not fit the session's state.
    #[error("unexpected event {0}")]
    UnexpectedEvent(&'static str),
}
