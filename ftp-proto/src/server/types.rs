//! What a [`ServerSession`](crate::server::ServerSession) asks of its adapter and what the
//! adapter tells it back.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;

use bytes::{Bytes, BytesMut};

use crate::listing::{Entry, FactSet};
use crate::path::VirtualPath;
use crate::time::Timestamp;

/// Names one request; the answer carries the same id. Ids are unique within a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub(crate) u64);

/// Names one data channel (a passive listener or an active connection, and the transfer on it).
/// Ids are unique within a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DataId(pub(crate) u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "req#{}", self.0)
    }
}

impl fmt::Display for DataId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "data#{}", self.0)
    }
}

/// One thing the adapter must do, from [`ServerSession::poll_output`](crate::server::ServerSession::poll_output).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ServerOutput {
    /// Write these bytes to the control connection, in order.
    Send(Bytes),
    /// Ask the application; answer with [`ServerEvent::Answer`] carrying the same id.
    Request(RequestId, Request),
    /// Act on the data channel.
    Data(DataIntent),
    /// Drop the handle opened for request `0` (its [`Answer::Opened`] or
    /// [`Answer::OpenedUnique`]): no transfer will use it, because the data connection failed
    /// or timed out, the client aborted, or the session is closing before the transfer started.
    /// Every opened handle the session accepted ends in exactly one such `Release` or exactly
    /// one [`DataIntent::Transfer`] naming it as `source`, never both and never neither; the
    /// `Release` comes before [`Close`](ServerOutput::Close) when the session closes.
    Release(RequestId),
    /// Start TLS (as the TLS server) on the control connection, after writing every
    /// [`Send`](ServerOutput::Send) that came before this output. Report the outcome with
    /// [`ServerEvent::TlsEstablished`] or [`ServerEvent::TlsFailed`].
    StartTls,
    /// Shut TLS down on the control connection (CCC) after the preceding sends, keeping the TCP
    /// connection; later bytes are cleartext.
    StopTls,
    /// Close the control connection after writing every preceding send. Nothing follows.
    Close,
    /// Something the session decided on its own that an operator may want in the logs: a
    /// refusal made by the core's security rules or an aborted transfer, with its cause. It
    /// comes next to the reply that carries the decision to the client.
    ///
    /// For logs and metrics only: an adapter may ignore it, and nothing the session does
    /// depends on it. Notices never carry a password.
    Notice(Notice),
}

/// What a [`ServerOutput::Notice`] reports. The core refuses some things without asking the
/// application (a bounce PORT, an anonymous login when anonymous access is off, ...): without
/// a notice the adapter would see only reply bytes and could not log who was refused or why.
///
/// Aborts are notices rather than a reason inside [`DataIntent::Abort`]: the intent says what
/// the adapter must do and stays the same whatever the cause, an adapter that does not log
/// keeps matching it unchanged, and a truncated TLS upload ends the transfer (451) without any
/// `Abort` intent, so only a notice can report all the causes alike.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice {
    /// A PORT, EPRT or LPRT was refused (501) by the bounce rules (RFC 2577): no connection
    /// was attempted.
    ActiveRefused {
        /// The address the client asked the server to connect to.
        target: SocketAddr,
        /// Which rule refused it.
        reason: ActiveRefusal,
    },
    /// A connection to a passive listener was refused
    /// ([`Accept::Reject`] from
    /// [`handle_data_accept`](crate::server::ServerSession::handle_data_accept)); the listener
    /// keeps waiting for the client.
    PassiveRefused {
        /// Where the refused connection came from.
        from: SocketAddr,
        /// Why it was refused.
        reason: PassiveRefusal,
    },
    /// A login the core refused itself, without a [`Request::Login`] (530), or the control
    /// connection closed after too many failed logins (421).
    LoginRefused {
        /// The USER argument (client bytes: escape before logging). Empty when the client
        /// sent PASS without USER.
        user: Bytes,
        /// Why.
        reason: LoginRefusal,
    },
    /// A transfer ended before completing, or an upload was refused at its end.
    TransferAborted {
        /// The transfer's data channel.
        id: DataId,
        /// Which way it was moving bytes.
        direction: Direction,
        /// Why.
        cause: AbortCause,
    },
}

/// Why a PORT, EPRT or LPRT was refused ([`Notice::ActiveRefused`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ActiveRefusal {
    /// The address is not the client's (FTP bounce), and
    /// [`ServerConfig::allow_foreign_active`](crate::server::ServerConfig::allow_foreign_active)
    /// is off.
    ForeignAddress,
    /// The port is below 1024, and
    /// [`ServerConfig::allow_privileged_active_ports`](crate::server::ServerConfig::allow_privileged_active_ports)
    /// is off.
    PrivilegedPort,
}

/// Why a passive data connection was refused ([`Notice::PassiveRefused`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PassiveRefusal {
    /// It came from a host other than the client (port stealing, RFC 2577), and
    /// [`ServerConfig::allow_foreign_passive`](crate::server::ServerConfig::allow_foreign_passive)
    /// is off.
    ForeignHost,
    /// The channel was not waiting for a connection: the client's own connection came already
    /// (this one may be a thief on the same host) or the listener was not announced yet.
    NotWaiting,
}

/// Why the core refused a login itself ([`Notice::LoginRefused`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoginRefusal {
    /// An anonymous name while
    /// [`ServerConfig::anonymous`](crate::server::ServerConfig::anonymous) is off.
    AnonymousDisabled,
    /// USER or PASS on a cleartext control connection while TLS is required
    /// ([`TlsMode::ExplicitRequired`](crate::server::TlsMode::ExplicitRequired)).
    TlsRequired,
    /// The session closed after
    /// [`ServerConfig::max_login_failures`](crate::server::ServerConfig::max_login_failures)
    /// failed logins; `user` is the last one tried.
    TooManyFailures,
}

/// Why a transfer was aborted ([`Notice::TransferAborted`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AbortCause {
    /// The client sent ABOR (426, then 226).
    ClientAbort,
    /// No progress for [`ServerConfig::data_timeout`](crate::server::ServerConfig::data_timeout)
    /// (426).
    DataTimeout,
    /// The session ended under it: the control connection closed, its TLS failed, or the
    /// session was closed for a limit.
    SessionClosed,
    /// A TLS upload's data stream ended without `close_notify` and the upload was refused
    /// (451; see [`ServerEvent::TransferTruncated`]). `bytes` is what the adapter reported
    /// as written.
    TruncatedTlsUpload {
        /// Bytes received before the cut.
        bytes: u64,
    },
}

/// A question for the application: authentication or storage. Paths are virtual: rooted,
/// normalized and never above `/`; map them under the user's root with
/// [`VirtualPath::relative_components`](crate::path::VirtualPath).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Request {
    /// Check a user name and password (and the ACCT and HOST values, when the client sent them).
    /// Answer [`Answer::LoggedIn`] or [`Answer::Failed`]. The password is never logged by the core.
    Login {
        /// The USER argument.
        user: Bytes,
        /// Whether the core treats this login as anonymous: the name passes
        /// [`is_anonymous_user`](crate::server::is_anonymous_user) and
        /// [`ServerConfig::anonymous`](crate::server::ServerConfig::anonymous) is on (when it
        /// is off, such logins are refused before any request is made). The password is then
        /// only the client's e-mail address by convention. Decide from this flag, not from
        /// `user`, so that the anonymous rule lives in one place.
        anonymous: bool,
        /// The PASS argument.
        pass: Bytes,
        /// The ACCT argument, if any.
        account: Option<Bytes>,
        /// The HOST argument (RFC 7151), if any.
        host: Option<Bytes>,
    },
    /// A file-system operation; see [`StorageRequest`] for each answer.
    Storage(StorageRequest),
}

/// File-system operations a session asks for.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StorageRequest {
    /// Metadata of one path (CWD checks it is a directory; SIZE, MDTM, MLST, STAT path and
    /// RNFR use it; MLSD of a path checks it is a directory and RETR after REST checks the
    /// offset against the size, both before opening anything). Answer [`Answer::Metadata`].
    Stat {
        /// The path.
        path: VirtualPath,
    },
    /// The entries of a directory, for STAT with a path over the control connection. Answer
    /// [`Answer::Entries`]; keep it short (the reply is bounded by the output limit).
    ReadDir {
        /// The directory.
        path: VirtualPath,
    },
    /// Open a listing for a LIST, NLST or MLSD transfer. Answer [`Answer::Opened`]; the
    /// matching [`DataIntent::Transfer`] then carries this request's id, and the adapter writes
    /// the entries with the formatter named by `format`. A file may be listed as its own
    /// entry: MLSD of a named path comes here only after a [`Stat`](Self::Stat) showed a
    /// directory, and MLSD of the current directory may be answered
    /// [`Failure::NotADirectory`] (501) if it is no directory.
    OpenList {
        /// The directory (or file) to list.
        path: VirtualPath,
        /// How to format each entry.
        format: ListFormat,
    },
    /// Open a file for reading from `offset` (REST). Answer [`Answer::Opened`] with `size`
    /// the number of bytes the handle will yield from `offset` (the file's size minus
    /// `offset`), or `None` when unknown.
    OpenRead {
        /// The file.
        path: VirtualPath,
        /// Byte offset to start from. When it is not 0, a [`Stat`](Self::Stat) of the file
        /// came first and the session refused (554) an offset past the file's size, so the
        /// storage sees only offsets up to the end; it need not check them again (the file may
        /// have shrunk since, which then reads as 0 bytes).
        offset: u64,
    },
    /// Open a file for writing. Answer [`Answer::Opened`], or for
    /// [`WriteMode::CreateUnique`] [`Answer::OpenedUnique`] with the name chosen.
    OpenWrite {
        /// The file (for [`WriteMode::CreateUnique`], the directory to create it in).
        path: VirtualPath,
        /// Truncate, append, write at an offset or create under a new unique name.
        mode: WriteMode,
    },
    /// Create a directory (MKD). Answer [`Answer::Done`].
    MakeDir {
        /// The new directory.
        path: VirtualPath,
    },
    /// Remove an empty directory (RMD). Answer [`Answer::Done`].
    RemoveDir {
        /// The directory.
        path: VirtualPath,
    },
    /// Delete a file (DELE). Answer [`Answer::Done`].
    Delete {
        /// The file.
        path: VirtualPath,
    },
    /// Rename (RNFR + RNTO). Answer [`Answer::Done`].
    Rename {
        /// Existing path.
        from: VirtualPath,
        /// New path.
        to: VirtualPath,
    },
    /// Set the modification time (MFMT). Answer [`Answer::Done`].
    SetModified {
        /// The file.
        path: VirtualPath,
        /// New modification time (UTC).
        time: Timestamp,
    },
    /// Change permission bits (SITE CHMOD). Answer [`Answer::Done`].
    Chmod {
        /// The file.
        path: VirtualPath,
        /// Mode bits, at most 0o7777.
        mode: u32,
    },
}

/// How an upload writes its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteMode {
    /// STOR: create or truncate.
    Truncate,
    /// STOR after REST: keep the first `offset` bytes and write from there.
    AtOffset(u64),
    /// APPE: create or append.
    Append,
    /// STOU: create a new file under a name that does not exist yet in the directory. Bound
    /// the attempts (pyftpdlib CVE-2007-6740) and answer [`Answer::Failed`] when exhausted.
    CreateUnique,
}

/// How the adapter formats the entries of a listing transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ListFormat {
    /// LIST: `ls -l` lines ([`crate::listing::format_list_line`]).
    List,
    /// NLST: names only ([`crate::listing::format_nlst_line`]).
    Names,
    /// MLSD: facts ([`crate::listing::format_mlsx_line`]) with these facts enabled.
    Mlsd(FactSet),
}

impl ListFormat {
    /// Writes the data-connection bytes of a listing: one CRLF-terminated line per entry, in
    /// this format. `now` is the wall-clock time (LIST shows the time of day for recent
    /// entries and the year for older ones). An entry whose name holds CR or LF cannot be
    /// listed without breaking the lines and is left out.
    pub fn format(&self, entries: &[Entry], now: Timestamp, out: &mut BytesMut) {
        for e in entries {
            let _ = match self {
                ListFormat::List => crate::listing::format_list_line(e, now, out),
                ListFormat::Names => crate::listing::format_nlst_line(e, out),
                ListFormat::Mlsd(facts) => crate::listing::format_mlsx_line(e, *facts, out),
            };
        }
    }
}

/// Why a storage or login request failed: each maps to the reply the client gets.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// No such file or directory (550).
    NotFound,
    /// Not allowed (550; 530 for a login).
    PermissionDenied,
    /// The path exists already (550; 553 for a name that may not be created).
    AlreadyExists,
    /// A directory was needed (550; a listing answers 501 and closes its data channel).
    NotADirectory,
    /// A file was needed (550).
    IsADirectory,
    /// The directory is not empty (550).
    NotEmpty,
    /// The name is not allowed (553).
    InvalidName,
    /// Out of space (452) or over quota (552).
    NoSpace,
    /// A temporary failure: try again (450).
    Transient,
    /// The login was refused (530).
    LoginRefused,
    /// The storage cannot do this operation at all, e.g. an object store asked to append or to
    /// change permissions: 502, also when opening a transfer. Unlike
    /// [`PermissionDenied`](Failure::PermissionDenied) it tells the client that the command
    /// will not work on this server for any file. (For a login it is a refused login, 530.)
    Unsupported,
    /// Anything else (550), with text for the reply.
    Other(String),
}

/// What a logged-in user may do, checked by the session before it asks the storage: a
/// command that needs a permission the user lacks gets 550 naming it.
///
/// | permission | commands |
/// |---|---|
/// | [`LIST`](Self::LIST) | LIST, NLST, MLSD, MLST, STAT with a path |
/// | [`DOWNLOAD`](Self::DOWNLOAD) | RETR |
/// | [`UPLOAD`](Self::UPLOAD) | STOR (also after REST), STOU, MFMT, SITE CHMOD |
/// | [`APPEND`](Self::APPEND) | APPE |
/// | [`DELETE`](Self::DELETE) | DELE |
/// | [`RENAME`](Self::RENAME) | RNFR (and so RNTO) |
/// | [`MKDIR`](Self::MKDIR) | MKD |
/// | [`RMDIR`](Self::RMDIR) | RMD |
///
/// CWD, CDUP, PWD, SIZE and MDTM need none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Permissions(u8);

impl Permissions {
    /// Nothing at all (the user can only move around and read sizes and times).
    pub const NONE: Permissions = Permissions(0);
    /// Listing directories.
    pub const LIST: Permissions = Permissions(1);
    /// Downloading files.
    pub const DOWNLOAD: Permissions = Permissions(1 << 1);
    /// Uploading (creating or overwriting) files, and changing their time or mode.
    pub const UPLOAD: Permissions = Permissions(1 << 2);
    /// Appending to files.
    pub const APPEND: Permissions = Permissions(1 << 3);
    /// Deleting files.
    pub const DELETE: Permissions = Permissions(1 << 4);
    /// Renaming files and directories.
    pub const RENAME: Permissions = Permissions(1 << 5);
    /// Creating directories.
    pub const MKDIR: Permissions = Permissions(1 << 6);
    /// Removing directories.
    pub const RMDIR: Permissions = Permissions(1 << 7);
    /// Listing and downloading.
    pub const READ_ONLY: Permissions = Permissions(0b11);
    /// Every permission.
    pub const ALL: Permissions = Permissions(0xff);

    /// Every permission with its name, in order.
    pub const NAMED: [(&'static str, Permissions); 8] = [
        ("list", Permissions::LIST),
        ("download", Permissions::DOWNLOAD),
        ("upload", Permissions::UPLOAD),
        ("append", Permissions::APPEND),
        ("delete", Permissions::DELETE),
        ("rename", Permissions::RENAME),
        ("mkdir", Permissions::MKDIR),
        ("rmdir", Permissions::RMDIR),
    ];

    /// The single permission called `name` (`list`, `download`, `upload`, `append`, `delete`,
    /// `rename`, `mkdir`, `rmdir`).
    pub fn from_name(name: &str) -> Option<Permissions> {
        Self::NAMED
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| *p)
    }

    /// Whether every permission of `other` is in `self`.
    pub const fn contains(self, other: Permissions) -> bool {
        self.0 & other.0 == other.0
    }

    /// The permissions of both.
    pub const fn union(self, other: Permissions) -> Permissions {
        Permissions(self.0 | other.0)
    }

    /// The permissions in both.
    pub const fn intersection(self, other: Permissions) -> Permissions {
        Permissions(self.0 & other.0)
    }

    /// Whether any write permission is in `self` (anything beyond list and download).
    pub const fn can_write(self) -> bool {
        self.0 & !Self::READ_ONLY.0 != 0
    }

    /// The names of the permissions in `self`, in order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMED
            .into_iter()
            .filter(move |(_, p)| self.contains(*p))
            .map(|(n, _)| n)
    }
}

impl std::ops::BitOr for Permissions {
    type Output = Permissions;

    fn bitor(self, other: Permissions) -> Permissions {
        self.union(other)
    }
}

/// The application's answer to a [`Request`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Answer {
    /// The login succeeded. `read_only` makes the session refuse every write (550).
    LoggedIn {
        /// Refuse uploads, deletes, renames, mkdir, rmdir, chmod and MFMT.
        read_only: bool,
    },
    /// The login succeeded with these [`Permissions`]: a command the user lacks the
    /// permission for gets 550 without a storage request.
    LoggedInWith(Permissions),
    /// The operation succeeded.
    Done,
    /// Metadata for [`StorageRequest::Stat`] (boxed: an entry is large and answers are moved
    /// through queues).
    Metadata(Box<Entry>),
    /// Directory entries for [`StorageRequest::ReadDir`], with the current wall-clock time
    /// (LIST lines show the time of day for recent files and the year for older ones; the
    /// core reads no clock).
    Entries {
        /// The entries.
        entries: Vec<Entry>,
        /// The current time.
        now: Timestamp,
    },
    /// The file or listing is open; the adapter keeps the handle under this request's id.
    /// `size` is the number of bytes the transfer will send when known, and only shown in the
    /// 150 reply: for [`StorageRequest::OpenRead`] the bytes from its offset to the end, not
    /// the whole file. The REST check does not rely on it (an offset at the end and one past
    /// it both leave 0 bytes): it uses a [`StorageRequest::Stat`] made before the open.
    ///
    /// When [`handle_event`](crate::server::ServerSession::handle_event) accepts this answer
    /// (returns `Ok`), the session decides the handle's end: exactly one
    /// [`DataIntent::Transfer`] with this id as `source` (the transfer takes the handle and
    /// drops it when done) or exactly one [`ServerOutput::Release`] of this id (drop it now).
    /// When it returns `Err` (the session closed meanwhile, or the answer did not fit the
    /// request), the session never names this id again: the adapter drops the handle itself.
    Opened {
        /// Bytes that will be sent, when known (for a download after REST: from the offset).
        size: Option<u64>,
    },
    /// For [`WriteMode::CreateUnique`]: the file is open under this path. The handle ends as
    /// one of [`Answer::Opened`] does.
    OpenedUnique {
        /// The path chosen.
        path: VirtualPath,
    },
    /// The request failed.
    Failed(Failure),
}

/// A data-channel action for the adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DataIntent {
    /// Bind a listener on `ip` at a free port in `ports` (skip ports in use; pick at random to
    /// resist port stealing). Report [`ServerEvent::Listening`] or [`ServerEvent::ListenFailed`].
    /// Report each connection it accepts with
    /// [`ServerSession::handle_data_accept`](crate::server::ServerSession::handle_data_accept).
    Listen {
        /// The data channel.
        id: DataId,
        /// Local address to bind (the control connection's local address).
        ip: IpAddr,
        /// Port range, inclusive.
        ports: RangeInclusive<u16>,
    },
    /// Connect to the client (active mode). The address already passed the bounce checks.
    /// Report [`ServerEvent::DataReady`] or [`ServerEvent::DataFailed`].
    Connect {
        /// The data channel.
        id: DataId,
        /// Where to connect.
        addr: SocketAddr,
        /// Run TLS (as the TLS server) on the connection before reporting it ready.
        tls: bool,
    },
    /// Stream between the data connection and the handle opened by request `source`, which the
    /// transfer now owns (drop it when the transfer ends; no
    /// [`Release`](ServerOutput::Release) follows). Keep a running byte count for
    /// [`handle_data_progress`](crate::server::ServerSession::handle_data_progress): a transfer
    /// that shows no progress for the data timeout is aborted. Report
    /// [`ServerEvent::TransferDone`] (for an upload: only after the data is written to the
    /// file) or [`ServerEvent::TransferFailed`]. Close the data connection at the end.
    Transfer {
        /// The data channel.
        id: DataId,
        /// The request whose [`Answer::Opened`] handle to use.
        source: RequestId,
        /// Which way the bytes go.
        direction: Direction,
        /// TYPE A: convert line endings with [`crate::ascii`].
        ascii: bool,
    },
    /// Stop the transfer on this channel and close the data connection; report nothing. Its
    /// cause (ABOR, data timeout, session end) comes just before, in a
    /// [`Notice::TransferAborted`].
    Abort {
        /// The data channel.
        id: DataId,
    },
    /// Close this channel's listener or connection, if any; report nothing.
    Close {
        /// The data channel.
        id: DataId,
    },
}

/// Which way a transfer moves bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Server to client: RETR, LIST, NLST, MLSD.
    Send,
    /// Client to server: STOR, APPE, STOU.
    Receive,
}

/// Why a transfer failed, as the adapter saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransferError {
    /// The data connection broke (426).
    ConnectionLost,
    /// Reading or writing the local file failed (451).
    Local,
    /// Out of disk space (452) or over quota (552).
    NoSpace,
}

/// What the adapter reports to a [`ServerSession`](crate::server::ServerSession).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// The answer to request `0`.
    Answer(RequestId, Answer),
    /// The passive listener is bound at `addr`.
    Listening {
        /// The data channel.
        id: DataId,
        /// The bound address (its port goes into 227/229).
        addr: SocketAddr,
    },
    /// No passive listener could be bound (range exhausted): 425.
    ListenFailed {
        /// The data channel.
        id: DataId,
    },
    /// The data connection is up (after the TLS handshake when PROT P). `tls_resumed` says
    /// whether a TLS data connection resumed the control connection's session (`None` without TLS).
    DataReady {
        /// The data channel.
        id: DataId,
        /// Whether the data connection's TLS session resumed the control connection's.
        tls_resumed: Option<bool>,
    },
    /// The data connection could not be made (connect refused, TLS handshake failed): 425.
    DataFailed {
        /// The data channel.
        id: DataId,
    },
    /// The transfer finished; `bytes` were moved.
    TransferDone {
        /// The data channel.
        id: DataId,
        /// Bytes moved over the data connection.
        bytes: u64,
    },
    /// An upload over a TLS data connection ended with a TCP end-of-stream but no TLS
    /// `close_notify`: the stream was cut (by the client, a middlebox, or an attacker's forged
    /// FIN) and the file may be incomplete. Report this instead of
    /// [`TransferDone`](ServerEvent::TransferDone), after writing what arrived. The verdict is
    /// the session's, by
    /// [`ServerConfig::accept_truncated_tls_uploads`](crate::server::ServerConfig::accept_truncated_tls_uploads):
    /// 451 and a failed transfer by default, or 226 exactly as for `TransferDone`. Reported
    /// for a download or a transfer without TLS (which the adapter should not do), it counts as
    /// `TransferDone`.
    TransferTruncated {
        /// The data channel.
        id: DataId,
        /// Bytes moved over the data connection.
        bytes: u64,
    },
    /// The transfer failed.
    TransferFailed {
        /// The data channel.
        id: DataId,
        /// What went wrong.
        error: TransferError,
    },
    /// The control connection's TLS handshake (after [`ServerOutput::StartTls`]) succeeded.
    TlsEstablished,
    /// The control connection's TLS handshake failed; the session closes.
    TlsFailed,
}

/// The answer of [`ServerSession::handle_data_accept`](crate::server::ServerSession::handle_data_accept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    /// Use this connection (run TLS on it first if `tls`), then report [`ServerEvent::DataReady`].
    Use {
        /// Run TLS (as the TLS server) on the connection first.
        tls: bool,
    },
    /// Drop this connection and keep listening (a foreign host, or no transfer wanted it).
    Reject,
}

#[cfg(test)]
mod permission_tests {
    use super::Permissions;

    #[test]
    fn names_sets_and_write_bits() {
        let p = Permissions::from_name("list").unwrap() | Permissions::UPLOAD;
        assert!(p.contains(Permissions::LIST) && !p.contains(Permissions::DOWNLOAD));
        assert_eq!(p.names().collect::<Vec<_>>(), ["list", "upload"]);
        assert!(p.can_write() && !Permissions::READ_ONLY.can_write());
        assert_eq!(Permissions::from_name("chmod"), None);
        assert_eq!(
            Permissions::NAMED
                .iter()
                .fold(Permissions::NONE, |a, (_, p)| a | *p),
            Permissions::ALL
        );
        assert_eq!(p.intersection(Permissions::READ_ONLY), Permissions::LIST);
    }
}
