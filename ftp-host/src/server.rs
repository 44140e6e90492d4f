//! [`ServerConn`]: the bookkeeping of one server control connection's drive loop, written
//! once for every adapter.
//!
//! The adapter owns the sockets, the timer, TLS and its tasks; `ServerConn` owns the
//! [`ServerSession`] and everything between it and the I/O: which requests are out, the file
//! handles opened for transfers, the data channels and their connections, the transfers and
//! their progress. The adapter's loop is:
//!
//! 1. drain [`poll_action`](ServerConn::poll_action) and carry out each [`Action`] (write,
//!    flush, run a blocking [`Job`], accept, connect, secure, transfer, TLS on the control
//!    connection, close), handing spawned tasks to [`set_task`](ServerConn::set_task);
//! 2. wait for control input (only while [`wants_read`](ServerConn::wants_read)), a
//!    [`Report`] from its tasks, the deadline of [`poll_timeout`](ServerConn::poll_timeout)
//!    or shutdown, and feed it with the matching `handle_*`/[`report`](ServerConn::report).
//!
//! Tasks are kept by `ServerConn` per data channel (type `T`, e.g. a handle that aborts its
//! task when dropped) and dropped when the core closes or aborts the channel, so an adapter
//! keeps no table of its own.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use ftp_proto::path::VirtualPath;
use ftp_proto::server::{
    AbortCause, Accept, ActiveRefusal, Answer, DataId, DataIntent, Direction, Failure,
    LoginRefusal, Notice, PassiveRefusal, Request, RequestId, ServerEvent, ServerOutput,
    ServerSession, SessionError, StorageRequest, TransferError,
};
use ftp_proto::time::Timestamp;

use crate::auth::{Authenticator, Credentials, User};
use crate::events::{Event, Hooks, Observer, TransferKind, TransferRecord};
use crate::net;
use crate::storage::Storage;
use crate::transfer::{
    Downloader, FileSide, ListingReader, Progress, Source, TransferOutcome, Uploader, READY_LISTING,
};

/// A storage request out whose success an observer hears of, or that opens what a transfer
/// will move (and so names it in the transfer's record).
enum Asked {
    Open(TransferKind, VirtualPath),
    Delete(VirtualPath),
    Rename(VirtualPath, VirtualPath),
    MakeDir(VirtualPath),
}

/// A running transfer, for its record when it ends.
struct Running {
    kind: TransferKind,
    path: VirtualPath,
    started: Instant,
    ascii: bool,
}

/// An open file or formatted listing, kept under the id of the request that opened it until
/// its transfer starts or the core releases it.
enum Handle<S: Storage> {
    Read(S::Reader),
    Write(S::Writer),
    Listing(ListingReader),
}

/// One data channel: the adapter's task working on it, and its connection once it is up.
struct Channel<St, T> {
    task: Option<T>,
    stream: Option<St>,
}

/// What the adapter must do next, from [`ServerConn::poll_action`].
pub enum Action<S: Storage, A, St> {
    /// Write these bytes to the control connection.
    Send(Bytes),
    /// Flush the control connection: the replies written so far are all there is for now.
    Flush,
    /// Run this login or storage job on a blocking pool, then report its result with
    /// [`Report::Done`].
    Run(Job<S, A>),
    /// Accept connections on this passive listener (non-blocking, bound already) and report
    /// each with [`Report::Accepted`]; keep going until the channel's task is dropped.
    Accept {
        /// The data channel.
        id: DataId,
        /// The listener.
        listener: std::net::TcpListener,
    },
    /// Connect to the client (active mode) from `local` with [`net::start_connect`], run TLS
    /// as the server if `tls`, then report [`Report::Ready`] or [`Report::Failed`].
    Connect {
        /// The data channel.
        id: DataId,
        /// The client's address (it passed the core's bounce checks).
        addr: SocketAddr,
        /// The control connection's local address, to connect from.
        local: IpAddr,
        /// Run TLS on the connection.
        tls: bool,
    },
    /// An accepted passive connection the core wants: run TLS as the server if `tls`, then
    /// report [`Report::Ready`] or [`Report::Failed`].
    Secure {
        /// The data channel.
        id: DataId,
        /// The accepted connection.
        stream: St,
        /// Run TLS on it.
        tls: bool,
    },
    /// Move the data: the file side runs on a blocking thread (see [`FileSide`]), the network
    /// side on `stream`; add each network chunk to `progress`; report
    /// [`Report::Transfer`] at the end, after closing the connection.
    Transfer {
        /// The data channel.
        id: DataId,
        /// The data connection.
        stream: St,
        /// What to read or write.
        file: FileSide<S>,
        /// The transfer's byte counter, read when the data-idle deadline comes.
        progress: Progress,
    },
    /// Start TLS as the server on the control connection (after flushing), then call
    /// [`ServerConn::tls_result`].
    StartTls,
    /// Send close_notify on the control connection and go on in cleartext (CCC).
    StopTls,
    /// Flush and close the control connection; the loop ends.
    Close,
}

impl<S: Storage, A, St> fmt::Debug for Action<S, A, St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Send(b) => write!(f, "Send({} bytes)", b.len()),
            Action::Flush => f.write_str("Flush"),
            Action::Run(j) => write!(f, "Run({})", j.id),
            Action::Accept { id, .. } => write!(f, "Accept({id})"),
            Action::Connect { id, addr, tls, .. } => write!(f, "Connect({id}, {addr}, tls={tls})"),
            Action::Secure { id, tls, .. } => write!(f, "Secure({id}, tls={tls})"),
            Action::Transfer { id, file, .. } => write!(f, "Transfer({id}, {file:?})"),
            Action::StartTls => f.write_str("StartTls"),
            Action::StopTls => f.write_str("StopTls"),
            Action::Close => f.write_str("Close"),
        }
    }
}

/// A login or storage request, to run on a blocking pool with [`run`](Job::run).
pub struct Job<S, A> {
    id: RequestId,
    work: Work,
    storage: Arc<S>,
    auth: Arc<A>,
}

enum Work {
    Login(Credentials),
    Storage(StorageRequest),
}

/// The result of a [`Job`], to hand back with [`Report::Done`].
pub struct Done<S: Storage> {
    id: RequestId,
    answer: Answer,
    handle: Option<Handle<S>>,
    /// For a successful login: the user and the storage of its session.
    login: Option<(User, Arc<S>)>,
}

impl<S: Storage, A: Authenticator> Job<S, A> {
    /// The request this job answers.
    pub fn id(&self) -> RequestId {
        self.id
    }

    /// Runs the request against the authenticator or the storage. Blocking.
    ///
    /// A storage or authenticator that panics gets the request a failure answer (a refused
    /// login, or "Requested action not taken") instead of no answer at all, which would
    /// leave the session waiting for ever; the worker thread that ran it survives.
    pub fn run(self) -> Done<S> {
        let id = self.id;
        let login = matches!(self.work, Work::Login(_));
        let (storage, auth, work) = (self.storage, self.auth, self.work);
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || match work {
            Work::Login(creds) => {
                let login = auth
                    .login(&creds)
                    .and_then(|user| Ok((storage.for_user(&user)?, user)));
                match login {
                    Ok((storage, user)) => (
                        Answer::LoggedInWith(user.permissions),
                        None,
                        Some((user, storage)),
                    ),
                    Err(f) => (Answer::Failed(f), None, None),
                }
            }
            Work::Storage(req) => {
                let (answer, handle) = storage_request(&*storage, req);
                (answer, handle, None)
            }
        }));
        let (answer, handle, login) = ran.unwrap_or_else(|_| {
            tracing::error!(%id, "the storage or authenticator panicked");
            let failure = if login {
                Failure::LoginRefused
            } else {
                Failure::Other("Requested action not taken.".into())
            };
            (Answer::Failed(failure), None, None)
        });
        Done {
            id,
            answer,
            handle,
            login,
        }
    }
}

fn wall_now() -> Timestamp {
    Timestamp::from_system_time(SystemTime::now()).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn done(r: Result<(), Failure>) -> Answer {
    match r {
        Ok(()) => Answer::Done,
        Err(f) => Answer::Failed(f),
    }
}

/// Most entries read for STAT of a directory (its reply is bounded by the core).
const STAT_ENTRIES: usize = 4096;

fn storage_request<S: Storage>(storage: &S, req: StorageRequest) -> (Answer, Option<Handle<S>>) {
    let answer = match req {
        StorageRequest::Stat { path } => match storage.stat(&path) {
            Ok(e) => Answer::Metadata(Box::new(e)),
            Err(f) => Answer::Failed(f),
        },
        StorageRequest::ReadDir { path } => match storage.list(&path) {
            // STAT's reply is cut to a few hundred lines by the core anyway: read no more of
            // a huge directory than could be shown.
            Ok(listing) => match listing.take(STAT_ENTRIES).collect() {
                Ok(entries) => Answer::Entries {
                    entries,
                    now: wall_now(),
                },
                Err(e) => Answer::Failed(crate::storage::io_failure(&e)),
            },
            Err(f) => Answer::Failed(f),
        },
        StorageRequest::OpenList { path, format } => {
            return match storage.list(&path) {
                Ok(listing) => {
                    let mut reader = ListingReader::new(listing, format, wall_now());
                    reader.prefill(READY_LISTING);
                    (Answer::Opened { size: None }, Some(Handle::Listing(reader)))
                }
                Err(f) => (Answer::Failed(f), None),
            }
        }
        StorageRequest::OpenRead { path, offset } => {
            return match storage.open_read(&path, offset) {
                Ok((r, size)) => (Answer::Opened { size }, Some(Handle::Read(r))),
                Err(f) => (Answer::Failed(f), None),
            }
        }
        StorageRequest::OpenWrite { path, mode } => {
            return match storage.open_write(&path, mode) {
                Ok((w, Some(path))) => (Answer::OpenedUnique { path }, Some(Handle::Write(w))),
                Ok((w, None)) => (Answer::Opened { size: None }, Some(Handle::Write(w))),
                Err(f) => (Answer::Failed(f), None),
            }
        }
        StorageRequest::MakeDir { path } => done(storage.make_dir(&path)),
        StorageRequest::RemoveDir { path } => done(storage.remove_dir(&path)),
        StorageRequest::Delete { path } => done(storage.delete(&path)),
        StorageRequest::Rename { from, to } => done(storage.rename(&from, &to)),
        StorageRequest::SetModified { path, time } => done(storage.set_modified(&path, time)),
        StorageRequest::Chmod { path, mode } => done(storage.chmod(&path, mode)),
        other => {
            tracing::warn!("storage request not known to this host: {other:?}");
            Answer::Failed(Failure::Unsupported)
        }
    };
    (answer, None)
}

/// What an adapter's tasks report back to the loop, fed with [`ServerConn::report`].
pub enum Report<S: Storage, St> {
    /// A [`Job`] finished.
    Done(Done<S>),
    /// The passive listener of channel `id` accepted a connection from `peer`.
    Accepted {
        /// The data channel.
        id: DataId,
        /// The connection.
        stream: St,
        /// Where it comes from.
        peer: SocketAddr,
    },
    /// The data connection of channel `id` is up (after TLS, if any).
    Ready {
        /// The data channel.
        id: DataId,
        /// The connection.
        stream: St,
        /// Whether its TLS session resumed the control connection's (`None` without TLS).
        tls_resumed: Option<bool>,
    },
    /// The connect or the TLS handshake of channel `id` failed.
    Failed {
        /// The data channel.
        id: DataId,
    },
    /// The transfer on channel `id` ended.
    Transfer {
        /// The data channel.
        id: DataId,
        /// How it ended.
        outcome: TransferOutcome,
    },
}

impl<S: Storage, A, St, T> ServerConn<S, A, St, T> {
    fn emit(&self, event: Event) {
        if !self.hooks.observers.is_empty() {
            self.hooks.observers.event(&event);
        }
    }

    fn user_name(&self) -> String {
        self.user
            .as_ref()
            .map(|u| u.name.clone())
            .unwrap_or_default()
    }

    /// The user's session ends (a new login, or the connection's end).
    fn logout(&mut self) {
        if let Some(user) = self.user.take() {
            tracing::info!(peer = %self.peer, user = %user.name.escape_debug(), "logged out");
            self.emit(Event::LoggedOut {
                peer: self.peer,
                user: user.name,
            });
        }
    }

    /// Transfer `id` ended after `bytes`: logs it and tells the observers.
    fn transfer_ended(&mut self, id: DataId, bytes: u64, complete: bool) {
        let Some(t) = self.transfers.remove(&id) else {
            return;
        };
        let duration = t.started.elapsed();
        let real_path = match (t.kind, complete) {
            (TransferKind::Upload, true) => self.storage.real_path(&t.path),
            _ => None,
        };
        let user = self.user_name();
        tracing::info!(
            peer = %self.peer,
            user = %user.escape_debug(),
            kind = %t.kind.as_str(),
            path = %String::from_utf8_lossy(t.path.as_bytes()).escape_debug(),
            bytes,
            secs = format_args!("{:.3}", duration.as_secs_f64()),
            complete,
            "transfer"
        );
        self.ended.push(Event::Transfer(TransferRecord {
            peer: self.peer,
            user,
            anonymous: self.anonymous,
            kind: t.kind,
            path: t.path,
            real_path,
            bytes,
            duration,
            ended: SystemTime::now(),
            complete,
            ascii: t.ascii,
        }));
    }

    /// Every transfer still running ends incomplete (the session is closing).
    fn transfers_cut(&mut self) {
        let ids: Vec<DataId> = self.transfers.keys().copied().collect();
        for id in ids {
            let bytes = self.running.get(&id).map_or(0, Progress::get);
            self.transfer_ended(id, bytes, false);
        }
    }

    /// What a storage answer means for the observers: a delete, rename or new directory
    /// done, the name STOU chose, or a request that failed and opens nothing.
    fn answered(&mut self, id: RequestId, answer: &Answer) {
        match answer {
            Answer::Done => {
                let user = self.user_name();
                let peer = self.peer;
                match self.asked.remove(&id) {
                    Some(Asked::Delete(path)) => self.emit(Event::Deleted { peer, user, path }),
                    Some(Asked::Rename(from, to)) => self.emit(Event::Renamed {
                        peer,
                        user,
                        from,
                        to,
                    }),
                    Some(Asked::MakeDir(path)) => self.emit(Event::MadeDir { peer, user, path }),
                    Some(Asked::Open(..)) | None => {}
                }
            }
            Answer::OpenedUnique { path } => {
                if let Some(Asked::Open(_, named)) = self.asked.get_mut(&id) {
                    *named = path.clone();
                }
            }
            Answer::Opened { .. } => {}
            _ => {
                self.asked.remove(&id);
            }
        }
    }
}

impl<S: Storage, A, St, T> Drop for ServerConn<S, A, St, T> {
    fn drop(&mut self) {
        self.transfers_cut();
        for event in std::mem::take(&mut self.ended) {
            self.emit(event);
        }
        self.logout();
        self.emit(Event::SessionEnded { peer: self.peer });
    }
}

/// The bookkeeping of one control connection: see the [module docs](self).
pub struct ServerConn<S: Storage, A, St, T> {
    session: ServerSession,
    /// The server's storage, which each login's is made from.
    base: Arc<S>,
    /// The storage of the logged-in user's session.
    storage: Arc<S>,
    /// Who is logged in.
    user: Option<User>,
    auth: Arc<A>,
    local: SocketAddr,
    /// The client's address, for the log lines an operator acts on.
    peer: SocketAddr,
    /// The login request out, and the user name it is for.
    login: Option<(RequestId, Bytes)>,
    /// Whether the login out (then: the user logged in) is anonymous.
    anonymous: bool,
    hooks: Hooks,
    /// Storage requests out that observers or transfer records need.
    asked: HashMap<RequestId, Asked>,
    /// The transfers running, for their records.
    transfers: HashMap<DataId, Running>,
    /// Transfers ended whose observers are told once the replies before are flushed.
    ended: Vec<Event>,
    handles: HashMap<RequestId, Handle<S>>,
    channels: HashMap<DataId, Channel<St, T>>,
    running: HashMap<DataId, Progress>,
    /// Actions made while handling a report (Secure), carried out before the session's.
    actions: VecDeque<Action<S, A, St>>,
    /// Events made while turning outputs into actions, fed to the session after the drain.
    events: VecDeque<ServerEvent>,
    unflushed: bool,
}

impl<S: Storage, A: Authenticator, St, T> ServerConn<S, A, St, T> {
    /// Wraps a new session for the control connection from `peer` whose local address is
    /// `local`.
    ///
    /// Logged with `peer`, for every adapter, at WARN: refused logins (the user name, never
    /// the password; `reason=` when the core refused without asking the authenticator), the
    /// close after too many failed logins, PORT/EPRT/LPRT refused by the bounce rules
    /// (`target=`, `reason=`), refused passive data connections (`from=`, `reason=`) and failed
    /// transfers; at INFO: aborted transfers with their `cause=` and failed data connections.
    /// The core's [`Notice`]s are the source of every line about a decision it made itself.
    pub fn new(
        session: ServerSession,
        storage: Arc<S>,
        auth: Arc<A>,
        local: SocketAddr,
        peer: SocketAddr,
    ) -> Self {
        ServerConn {
            session,
            base: storage.clone(),
            storage,
            user: None,
            auth,
            local,
            peer,
            login: None,
            anonymous: false,
            hooks: Hooks::default(),
            asked: HashMap::new(),
            transfers: HashMap::new(),
            ended: Vec::new(),
            handles: HashMap::new(),
            channels: HashMap::new(),
            running: HashMap::new(),
            actions: VecDeque::new(),
            events: VecDeque::new(),
            unflushed: false,
        }
    }

    /// The same conn with the server's [`Hooks`]: its observers are told this session's
    /// [`Event`]s, starting with [`Event::SessionStarted`] now, and its rate limit applies to
    /// the transfers of users without one of their own.
    ///
    /// Logged at INFO, for every adapter, with `peer`: logins (`logged in`, the user),
    /// logouts (`logged out`) and every transfer's end (`transfer`: user, kind, path, bytes,
    /// seconds, complete); never a password.
    pub fn with_hooks(mut self, hooks: Hooks) -> Self {
        self.hooks = hooks;
        self.emit(Event::SessionStarted { peer: self.peer });
        self
    }

    /// The session, to read its state (user, working directory).
    pub fn session(&self) -> &ServerSession {
        &self.session
    }

    /// The user logged in, as the authenticator answered (its home and permissions), if any.
    /// The storage requests of the session go to the storage made for this user
    /// ([`Storage::for_user`]).
    pub fn user(&self) -> Option<&User> {
        self.user.as_ref()
    }

    /// Whether to read from the control connection now.
    pub fn wants_read(&self) -> bool {
        self.session.wants_read()
    }

    /// The next deadline for [`handle_timeout`](Self::handle_timeout).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.session.poll_timeout()
    }

    /// Feeds bytes read from the control connection. An error means the session is over.
    pub fn handle_input(&mut self, now: Instant, input: &[u8]) -> Result<(), SessionError> {
        self.session.handle_input(now, input)
    }

    /// The timer fired: reports every running transfer's progress first (so one that moved
    /// bytes is not taken for stalled), then lets the session fire its timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        for (id, progress) in &self.running {
            self.session.handle_data_progress(now, *id, progress.get());
        }
        self.session.handle_timeout(now);
    }

    /// The server is shutting down.
    pub fn handle_shutdown(&mut self, now: Instant) {
        self.session.handle_shutdown(now);
    }

    /// The control connection closed or failed: running transfers are aborted.
    pub fn handle_control_closed(&mut self, now: Instant) {
        self.session.handle_control_closed(now);
    }

    /// The control connection's TLS handshake (after [`Action::StartTls`]) ended.
    pub fn tls_result(&mut self, now: Instant, ok: bool) {
        let event = if ok {
            ServerEvent::TlsEstablished
        } else {
            ServerEvent::TlsFailed
        };
        self.event(now, event);
    }

    /// Keeps the task working on channel `id` (dropped when the channel closes). A task for a
    /// channel that is already gone is dropped at once.
    pub fn set_task(&mut self, id: DataId, task: T) {
        if let Some(c) = self.channels.get_mut(&id) {
            c.task = Some(task);
        }
    }

    fn event(&mut self, now: Instant, e: ServerEvent) {
        if let Err(err) = self.session.handle_event(now, e) {
            tracing::debug!("event refused by the session: {err}");
        }
    }

    /// Feeds what a task reports.
    pub fn report(&mut self, now: Instant, report: Report<S, St>) {
        match report {
            Report::Done(Done {
                id,
                answer,
                handle,
                login,
            }) => {
                if let Some((_, user)) = self.login.take_if(|(login, _)| *login == id) {
                    if let Some((user, storage)) = login {
                        tracing::info!(
                            peer = %self.peer,
                            user = %user.name.escape_debug(),
                            anonymous = self.anonymous,
                            "logged in"
                        );
                        self.emit(Event::LoggedIn {
                            peer: self.peer,
                            user: user.name.clone(),
                            anonymous: self.anonymous,
                        });
                        self.storage = storage;
                        self.user = Some(user);
                    }
                    if let Answer::Failed(f) = &answer {
                        self.auth.login_failed(self.peer.ip());
                        // Escaped: the name is the client's bytes, and must not forge lines.
                        let user = String::from_utf8_lossy(&user);
                        tracing::warn!(
                            peer = %self.peer,
                            user = %user.escape_debug(),
                            "login refused: {f:?}"
                        );
                        self.emit(Event::LoginFailed {
                            peer: self.peer,
                            user: user.into_owned(),
                        });
                    }
                }
                self.answered(id, &answer);
                if let Some(h) = handle {
                    self.handles.insert(id, h);
                }
                if let Err(e) = self
                    .session
                    .handle_event(now, ServerEvent::Answer(id, answer))
                {
                    // The session no longer wants it (ABOR, control closed): drop the handle.
                    tracing::debug!("answer refused: {e}");
                    self.handles.remove(&id);
                    self.asked.remove(&id);
                }
            }
            Report::Accepted { id, stream, peer } => {
                if !self.channels.contains_key(&id) {
                    return;
                }
                match self.session.handle_data_accept(now, id, peer) {
                    Ok(Accept::Use { tls }) => {
                        // The listener's task ends here: the channel's next task is the
                        // handshake the adapter starts for this action.
                        if let Some(c) = self.channels.get_mut(&id) {
                            c.task = None;
                        }
                        self.actions.push_back(Action::Secure { id, stream, tls });
                    }
                    // Logged from the core's notice, which says why.
                    Ok(Accept::Reject) => {}
                    Err(e) => tracing::debug!("accept refused: {e}"),
                }
            }
            Report::Ready {
                id,
                stream,
                tls_resumed,
            } => {
                let Some(c) = self.channels.get_mut(&id) else {
                    return;
                };
                c.stream = Some(stream);
                c.task = None;
                self.event(now, ServerEvent::DataReady { id, tls_resumed });
            }
            Report::Failed { id } => {
                if self.channels.remove(&id).is_some() {
                    tracing::info!(peer = %self.peer, %id, "data connection failed");
                    self.emit(Event::DataConnectionFailed { peer: self.peer });
                    self.event(now, ServerEvent::DataFailed { id });
                }
            }
            Report::Transfer { id, outcome } => {
                let moved = self.running.remove(&id).map_or(0, |p| p.get());
                if self.channels.remove(&id).is_none() {
                    return;
                }
                match outcome {
                    TransferOutcome::Done(bytes) => self.transfer_ended(id, bytes, true),
                    // A cut TLS upload: 226 only by a policy that accepts it; logged as cut.
                    TransferOutcome::Truncated(bytes) => self.transfer_ended(id, bytes, false),
                    TransferOutcome::Failed(_) => self.transfer_ended(id, moved, false),
                }
                let event = match outcome {
                    TransferOutcome::Done(bytes) => ServerEvent::TransferDone { id, bytes },
                    TransferOutcome::Truncated(bytes) => {
                        // The core decides 451 or 226 (`accept_truncated_tls_uploads`) and
                        // gives a refusal as a notice, logged then.
                        tracing::debug!(
                            peer = %self.peer,
                            %id,
                            bytes,
                            "TLS upload ended without close_notify"
                        );
                        ServerEvent::TransferTruncated { id, bytes }
                    }
                    TransferOutcome::Failed(error) => {
                        tracing::warn!(peer = %self.peer, %id, "transfer failed: {error:?}");
                        ServerEvent::TransferFailed { id, error }
                    }
                };
                self.event(now, event);
            }
        }
    }

    /// The next thing to do, or `None` when there is nothing until the next input. Every
    /// `Send` is followed by a `Flush` before `None`, `StartTls`, `StopTls` or `Close`.
    pub fn poll_action(&mut self) -> Option<Action<S, A, St>> {
        loop {
            if let Some(a) = self.actions.pop_front() {
                return Some(a);
            }
            if let Some(out) = self.session.poll_output() {
                match out {
                    ServerOutput::Send(b) => {
                        self.unflushed = true;
                        return Some(Action::Send(b));
                    }
                    ServerOutput::StartTls | ServerOutput::StopTls | ServerOutput::Close
                        if self.unflushed =>
                    {
                        // Put it back behind a flush: the replies before it must be out.
                        self.unflushed = false;
                        self.actions.push_back(match out {
                            ServerOutput::StartTls => Action::StartTls,
                            ServerOutput::StopTls => Action::StopTls,
                            _ => Action::Close,
                        });
                        return Some(Action::Flush);
                    }
                    ServerOutput::StartTls => return Some(Action::StartTls),
                    ServerOutput::StopTls => return Some(Action::StopTls),
                    ServerOutput::Close => {
                        self.transfers_cut();
                        self.channels.clear();
                        self.handles.clear();
                        self.running.clear();
                        return Some(Action::Close);
                    }
                    ServerOutput::Request(id, req) => {
                        if let Some(a) = self.request(id, req) {
                            return Some(a);
                        }
                    }
                    ServerOutput::Data(intent) => {
                        if let Some(a) = self.data(intent) {
                            return Some(a);
                        }
                    }
                    ServerOutput::Release(source) => {
                        self.asked.remove(&source);
                        self.handles.remove(&source);
                    }
                    ServerOutput::Notice(notice) => self.log_notice(notice),
                    other => tracing::warn!("output not known to this host: {other:?}"),
                }
                continue;
            }
            if !self.events.is_empty() {
                let now = Instant::now();
                while let Some(e) = self.events.pop_front() {
                    self.event(now, e);
                }
                continue;
            }
            if self.unflushed {
                self.unflushed = false;
                return Some(Action::Flush);
            }
            // The replies are written and flushed: a transfer's final reply is out before its
            // observers hear of it (an `--on-upload` command runs after the 226).
            for event in std::mem::take(&mut self.ended) {
                self.emit(event);
            }
            return None;
        }
    }

    /// The operator's line for a decision the core made itself: WARN for a refusal (what
    /// fail2ban and the like watch), INFO for an aborted transfer.
    fn log_notice(&self, notice: Notice) {
        let peer = self.peer;
        match notice {
            Notice::ActiveRefused { target, reason } => {
                let reason = match reason {
                    ActiveRefusal::ForeignAddress => "foreign_address",
                    ActiveRefusal::PrivilegedPort => "privileged_port",
                    _ => "other",
                };
                tracing::warn!(%peer, %target, %reason, "active data connection refused");
            }
            Notice::PassiveRefused { from, reason } => {
                let reason = match reason {
                    PassiveRefusal::ForeignHost => "foreign_host",
                    PassiveRefusal::NotWaiting => "not_waiting",
                    _ => "other",
                };
                tracing::warn!(%peer, %from, %reason, "passive data connection refused");
            }
            Notice::LoginRefused { user, reason } => {
                // Escaped: the name is the client's bytes, and must not forge lines.
                let user = String::from_utf8_lossy(&user);
                let user = user.escape_debug();
                match reason {
                    // A close, not one more attempt: a message of its own, so that a filter
                    // counting `login refused` does not count the last attempt twice.
                    LoginRefusal::TooManyFailures => tracing::warn!(
                        %peer,
                        %user,
                        "closing after too many failed logins"
                    ),
                    reason => {
                        let reason = match reason {
                            LoginRefusal::AnonymousDisabled => "anonymous_disabled",
                            LoginRefusal::TlsRequired => "tls_required",
                            _ => "other",
                        };
                        // The authenticator's refusals read `login refused` too: one filter
                        // catches both.
                        tracing::warn!(%peer, %user, %reason, "login refused");
                        self.auth.login_failed(peer.ip());
                        self.emit(Event::LoginFailed {
                            peer,
                            user: user.to_string(),
                        });
                    }
                }
            }
            Notice::TransferAborted {
                id,
                direction,
                cause,
            } => {
                // Comes before the Abort intent, while the counter is still there; a
                // truncated upload has ended already and its count comes with the cause.
                let running = self.running.get(&id).map(Progress::get);
                let (cause, bytes) = match cause {
                    AbortCause::ClientAbort => ("abor", running),
                    AbortCause::DataTimeout => ("data_timeout", running),
                    AbortCause::SessionClosed => ("session_closed", running),
                    AbortCause::TruncatedTlsUpload { bytes } => {
                        ("tls_truncated_upload", Some(bytes))
                    }
                    _ => ("other", running),
                };
                let direction = match direction {
                    Direction::Send => "download",
                    Direction::Receive => "upload",
                };
                tracing::info!(
                    %peer,
                    %id,
                    %direction,
                    %cause,
                    bytes = bytes.unwrap_or(0),
                    "transfer aborted"
                );
            }
            other => tracing::debug!(%peer, "notice not known to this host: {other:?}"),
        }
    }

    fn request(&mut self, id: RequestId, req: Request) -> Option<Action<S, A, St>> {
        let work = match req {
            Request::Login {
                user,
                pass,
                account,
                host,
                anonymous,
            } => {
                self.login = Some((id, user.clone()));
                // A new login ends the last one's session storage whatever its outcome.
                self.storage = self.base.clone();
                self.logout();
                self.anonymous = anonymous;
                Work::Login(Credentials {
                    user,
                    pass,
                    account,
                    host,
                    anonymous,
                    peer: Some(self.peer),
                })
            }
            Request::Storage(req) => {
                let asked = match &req {
                    StorageRequest::OpenRead { path, .. } => {
                        Some(Asked::Open(TransferKind::Download, path.clone()))
                    }
                    StorageRequest::OpenWrite { path, .. } => {
                        Some(Asked::Open(TransferKind::Upload, path.clone()))
                    }
                    StorageRequest::OpenList { path, .. } => {
                        Some(Asked::Open(TransferKind::Listing, path.clone()))
                    }
                    StorageRequest::Delete { path } => Some(Asked::Delete(path.clone())),
                    StorageRequest::Rename { from, to } => {
                        Some(Asked::Rename(from.clone(), to.clone()))
                    }
                    StorageRequest::MakeDir { path } => Some(Asked::MakeDir(path.clone())),
                    _ => None,
                };
                if let Some(a) = asked {
                    self.asked.insert(id, a);
                }
                Work::Storage(req)
            }
            other => {
                tracing::warn!("request not known to this host: {other:?}");
                self.events.push_back(ServerEvent::Answer(
                    id,
                    Answer::Failed(Failure::Unsupported),
                ));
                return None;
            }
        };
        let storage = match work {
            Work::Login(_) => self.base.clone(),
            Work::Storage(_) => self.storage.clone(),
        };
        Some(Action::Run(Job {
            id,
            work,
            storage,
            auth: self.auth.clone(),
        }))
    }

    fn data(&mut self, intent: DataIntent) -> Option<Action<S, A, St>> {
        match intent {
            DataIntent::Listen { id, ip, ports } => {
                let bound = net::bind_passive(ip, &ports)
                    .and_then(|l| l.local_addr().ok().map(|addr| (l, addr)));
                match bound {
                    Some((listener, addr)) => {
                        tracing::debug!(%addr, "passive listener");
                        self.channels.insert(
                            id,
                            Channel {
                                task: None,
                                stream: None,
                            },
                        );
                        self.events.push_back(ServerEvent::Listening { id, addr });
                        Some(Action::Accept { id, listener })
                    }
                    None => {
                        tracing::warn!(?ports, "no passive port free");
                        self.events.push_back(ServerEvent::ListenFailed { id });
                        None
                    }
                }
            }
            DataIntent::Connect { id, addr, tls } => {
                self.channels.insert(
                    id,
                    Channel {
                        task: None,
                        stream: None,
                    },
                );
                Some(Action::Connect {
                    id,
                    addr,
                    local: self.local.ip(),
                    tls,
                })
            }
            DataIntent::Transfer {
                id,
                source,
                direction,
                ascii,
            } => {
                let handle = self.handles.remove(&source);
                let stream = self.channels.get_mut(&id).and_then(|c| c.stream.take());
                let rate = self
                    .user
                    .as_ref()
                    .and_then(|u| u.max_rate)
                    .or(self.hooks.max_rate);
                let file = match (handle, direction) {
                    // A listing's lines are CRLF already, whatever the TYPE.
                    (Some(Handle::Listing(l)), Direction::Send) => {
                        Some(FileSide::Download(Downloader {
                            reader: Source::Listing(l),
                            ascii: false,
                            rate,
                        }))
                    }
                    (Some(Handle::Read(reader)), Direction::Send) => {
                        Some(FileSide::Download(Downloader {
                            reader: Source::File(reader),
                            ascii,
                            rate,
                        }))
                    }
                    (Some(Handle::Write(writer)), Direction::Receive) => {
                        Some(FileSide::Upload(Uploader {
                            storage: self.storage.clone(),
                            writer,
                            ascii,
                            rate,
                            progress: None,
                        }))
                    }
                    _ => None,
                };
                match (stream, file) {
                    (Some(stream), Some(file)) => {
                        if let Some(Asked::Open(kind, path)) = self.asked.remove(&source) {
                            self.transfers.insert(
                                id,
                                Running {
                                    kind,
                                    path,
                                    started: Instant::now(),
                                    ascii: ascii && kind != TransferKind::Listing,
                                },
                            );
                        }
                        let mut file = file;
                        let progress = Progress::new();
                        self.running.insert(id, progress.clone());
                        // A limited upload counts on its paced file side (see `Uploader`);
                        // the network side gets a counter nobody reads.
                        let progress = match &mut file {
                            FileSide::Upload(u) if u.rate.is_some() => {
                                u.progress = Some(progress);
                                Progress::new()
                            }
                            _ => progress,
                        };
                        Some(Action::Transfer {
                            id,
                            stream,
                            file,
                            progress,
                        })
                    }
                    _ => {
                        tracing::warn!(%id, %source, "transfer without connection or handle");
                        self.channels.remove(&id);
                        self.events.push_back(ServerEvent::TransferFailed {
                            id,
                            error: TransferError::Local,
                        });
                        None
                    }
                }
            }
            DataIntent::Abort { id } => {
                // Logged from the notice that came just before, with its cause.
                let bytes = self.running.get(&id).map_or(0, Progress::get);
                self.transfer_ended(id, bytes, false);
                self.channels.remove(&id);
                self.running.remove(&id);
                None
            }
            DataIntent::Close { id } => {
                let bytes = self.running.get(&id).map_or(0, Progress::get);
                self.transfer_ended(id, bytes, false);
                self.channels.remove(&id);
                self.running.remove(&id);
                None
            }
            other => {
                tracing::warn!("data intent not known to this host: {other:?}");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Credentials, User};

    /// Panics on every call.
    struct Broken;

    impl Authenticator for Broken {
        fn login(&self, _: &Credentials) -> Result<User, Failure> {
            panic!("authenticator bug");
        }
    }

    #[test]
    fn a_panicking_authenticator_still_answers() {
        let addr: SocketAddr = "127.0.0.1:2121".parse().unwrap();
        let session = ServerSession::new(
            Arc::new(ftp_proto::server::ServerConfig::default()),
            "127.0.0.1:40000".parse().unwrap(),
            addr,
            Instant::now(),
        );
        let storage = Arc::new(crate::storage::FsStorage::new(std::env::temp_dir()).unwrap());
        let mut conn: ServerConn<_, _, (), ()> =
            ServerConn::new(session, storage, Arc::new(Broken), addr, addr);
        conn.handle_input(Instant::now(), b"USER a\r\nPASS b\r\n")
            .unwrap();
        let job = std::iter::from_fn(|| conn.poll_action())
            .find_map(|a| match a {
                Action::Run(job) => Some(job),
                _ => None,
            })
            .expect("a login job");
        let done = job.run();
        assert_eq!(done.answer, Answer::Failed(Failure::LoginRefused));
    }
}
