//! [`ClientConn`]: the bookkeeping of a client's drive loop, written once for every adapter.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use bytes::Bytes;
use ftp_proto::client::{
    Accept, ClientError, ClientEvent, ClientOutput, ClientSession, DataError, DataId, DataIntent,
    DataProtection, Direction, LoginInfo, OpError, OpId, Outcome,
};

use super::{Error, Start};

/// What a transfer moves, with the caller's side of it (`P`, the adapter's pipe type).
#[derive(Debug)]
pub enum ClientJob<P> {
    /// A listing: report the bytes read with [`ClientReport::Listing`]; the session parses
    /// them.
    Listing,
    /// A download into the caller's pipe.
    Download(P),
    /// An upload from the caller's pipe.
    Upload(P),
}

/// What the adapter must do next, from [`ClientConn::poll_action`]. `P` is the adapter's
/// pipe to the caller, `D` its completion sender, `St` its data connection type.
#[derive(Debug)]
pub enum ClientAction<P, D, St> {
    /// Write these bytes to the control connection.
    Send(Bytes),
    /// Flush the control connection.
    Flush,
    /// Start TLS as the client on the control connection, then call
    /// [`ClientConn::tls_result`].
    StartTls,
    /// Passive mode: connect to `addr` and report [`ClientReport::Connected`].
    Connect {
        /// The data channel.
        id: DataId,
        /// The server's data address.
        addr: SocketAddr,
    },
    /// Active mode: accept on this listener (non-blocking, bound on the control connection's
    /// local address) and report each connection with [`ClientReport::Accepted`].
    Accept {
        /// The data channel.
        id: DataId,
        /// The listener.
        listener: std::net::TcpListener,
    },
    /// Run the transfer on `stream` (TLS as the client first if `tls`, resuming the control
    /// connection's session), then report [`ClientReport::Done`] or [`ClientReport::Failed`].
    Transfer {
        /// The data channel.
        id: DataId,
        /// The data connection.
        stream: St,
        /// Run TLS on it first.
        tls: bool,
        /// What to move.
        job: ClientJob<P>,
    },
    /// An operation ended: send `result` to the caller waiting on `done`.
    Complete {
        /// The caller's completion sender.
        done: D,
        /// The operation's result.
        result: Result<Outcome, Error>,
    },
    /// The login ended (once per connection).
    LoggedIn(Result<LoginInfo, Error>),
    /// Close the control connection; the session is over.
    Close,
}

/// What an adapter's data tasks report, fed with [`ClientConn::report`].
#[derive(Debug)]
pub enum ClientReport<St> {
    /// A passive-mode connect ended.
    Connected(DataId, io::Result<St>),
    /// The active-mode listener accepted a connection from this address.
    Accepted(DataId, St, SocketAddr),
    /// Listing bytes read from the data connection.
    Listing(DataId, Bytes),
    /// The transfer ended well after moving this many bytes.
    Done(DataId, u64),
    /// The transfer failed.
    Failed(DataId, DataError),
}

struct Pending<P, D> {
    done: D,
    pipe: Option<P>,
}

struct Channel<St, T> {
    stream: Option<St>,
    protection: Option<DataProtection>,
    /// The transfer the session asked for before the connection was up.
    waiting: Option<(OpId, Direction, bool)>,
    /// The connect, accept (active mode: the listener) or transfer task.
    task: Option<T>,
}

impl<St, T> Default for Channel<St, T> {
    fn default() -> Self {
        Channel {
            stream: None,
            protection: None,
            waiting: None,
            task: None,
        }
    }
}

/// The bookkeeping of one client connection: pending operations with their pipes and
/// completion senders, data channels with their connections and tasks, and the pairing of a
/// data connection with the transfer the session asked for (in either order).
pub struct ClientConn<P, D, St, T> {
    session: ClientSession,
    local_ip: IpAddr,
    pending: HashMap<OpId, Pending<P, D>>,
    channels: HashMap<DataId, Channel<St, T>>,
    actions: VecDeque<ClientAction<P, D, St>>,
    login_reported: bool,
    /// Why the control connection's TLS handshake failed, for the login's error.
    tls_error: Option<io::Error>,
    closed: bool,
}

impl<P, D, St, T> ClientConn<P, D, St, T> {
    /// Wraps a new session whose control connection leaves from `local_ip` (active-mode
    /// listeners bind there).
    pub fn new(session: ClientSession, local_ip: IpAddr) -> Self {
        ClientConn {
            session,
            local_ip,
            pending: HashMap::new(),
            channels: HashMap::new(),
            actions: VecDeque::new(),
            login_reported: false,
            tls_error: None,
            closed: false,
        }
    }

    /// Whether to read from the control connection now.
    pub fn wants_read(&self) -> bool {
        self.session.wants_read()
    }

    /// The next deadline for [`handle_timeout`](Self::handle_timeout).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.session.poll_timeout()
    }

    /// Whether the session is over: the loop ends once the actions are drained.
    pub fn is_closed(&self) -> bool {
        self.closed || self.session.is_closed()
    }

    /// Starts an operation; `pipe` is its data source or sink, `done` where its result goes.
    pub fn start(&mut self, now: Instant, start: Start, pipe: Option<P>, done: D) {
        match start(&mut self.session, now) {
            Ok(id) => {
                self.pending.insert(id, Pending { done, pipe });
            }
            Err(e) => self.actions.push_back(ClientAction::Complete {
                done,
                result: Err(Error::Session(e)),
            }),
        }
    }

    /// The caller is gone: finish what is queued, then QUIT.
    pub fn quit(&mut self, now: Instant) {
        if self.session.quit(now).is_err() {
            // Already closed: nothing more to say.
            self.closed = true;
        }
    }

    /// Feeds bytes read from the control connection.
    pub fn handle_input(&mut self, now: Instant, input: &[u8]) {
        if let Err(e) = self.session.handle_input(now, input) {
            tracing::debug!(error = %e, "control input refused");
        }
    }

    /// The control connection ended (end of stream or error).
    pub fn handle_control_eof(&mut self, now: Instant) {
        self.event(now, ClientEvent::ControlEof);
    }

    /// The timer fired.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.session.handle_timeout(now);
    }

    /// The control connection's TLS handshake ended.
    pub fn tls_result(&mut self, now: Instant, ok: bool) {
        let e = if ok {
            ClientEvent::TlsEstablished
        } else {
            ClientEvent::TlsFailed
        };
        self.event(now, e);
    }

    /// Keeps the task working on channel `id` (dropped, which should stop it, when the
    /// channel closes).
    pub fn set_task(&mut self, id: DataId, task: T) {
        if let Some(c) = self.channels.get_mut(&id) {
            c.task = Some(task);
        }
    }

    /// The control connection's TLS handshake failed with `error`: like
    /// `tls_result(now, false)`, and the login fails with [`Error::from_tls`] of `error` (a
    /// rejected certificate is [`Error::Certificate`]) rather than the session's bare
    /// "TLS failed".
    pub fn tls_failed(&mut self, now: Instant, error: io::Error) {
        self.tls_error = Some(error);
        self.event(now, ClientEvent::TlsFailed);
    }

    /// The error a login that ended with `e` fails with.
    fn login_error(&mut self, e: ClientError) -> Error {
        match (e, self.tls_error.take()) {
            (ClientError::TlsFailed, Some(io)) => Error::from_tls(io),
            (e, _) => Error::Session(e),
        }
    }

    fn event(&mut self, now: Instant, e: ClientEvent) {
        if let Err(err) = self.session.handle_event(now, e) {
            tracing::debug!(error = %err, "event refused by the session");
        }
    }

    /// Feeds what a data task reports.
    pub fn report(&mut self, now: Instant, report: ClientReport<St>) {
        match report {
            ClientReport::Connected(id, r) => {
                let Some(ch) = self.channels.get_mut(&id) else {
                    return;
                };
                ch.task = None;
                match r {
                    Ok(stream) => {
                        ch.stream = Some(stream);
                        self.event(now, ClientEvent::DataConnected { id });
                        self.start_waiting(now, id);
                    }
                    Err(e) => {
                        tracing::debug!(%id, error = %e, "data connect failed");
                        self.channels.remove(&id);
                        self.event(now, ClientEvent::DataFailed { id });
                    }
                }
            }
            ClientReport::Accepted(id, stream, peer) => {
                if !self.channels.contains_key(&id) {
                    return;
                }
                match self.session.handle_data_accept(now, id, peer) {
                    Ok(Accept::Use { protection }) => {
                        if let Some(ch) = self.channels.get_mut(&id) {
                            // The connection is here: the listener's task ends (dropping it
                            // closes the listener), so nobody else can connect.
                            ch.task = None;
                            ch.stream = Some(stream);
                            ch.protection = Some(protection);
                        }
                        self.start_waiting(now, id);
                    }
                    Ok(Accept::Reject) => tracing::debug!(%id, %peer, "data connection rejected"),
                    Err(e) => tracing::debug!(error = %e, "accept refused"),
                }
            }
            ClientReport::Listing(id, bytes) => {
                if self.channels.contains_key(&id) {
                    if let Err(e) = self.session.handle_listing_data(now, id, &bytes) {
                        tracing::debug!(error = %e, "listing data refused");
                    }
                }
            }
            ClientReport::Done(id, bytes) => {
                if self.channels.remove(&id).is_some() {
                    self.event(now, ClientEvent::TransferDone { id, bytes });
                }
            }
            ClientReport::Failed(id, error) => {
                if self.channels.remove(&id).is_some() {
                    self.event(now, ClientEvent::TransferFailed { id, error });
                }
            }
        }
    }

    /// Starts the transfer of channel `id` once both its connection and the session's
    /// Transfer intent are there.
    fn start_waiting(&mut self, now: Instant, id: DataId) {
        let Some(ch) = self.channels.get_mut(&id) else {
            return;
        };
        if ch.stream.is_none() || ch.waiting.is_none() {
            return;
        }
        let (Some(stream), Some((op, direction, listing))) = (ch.stream.take(), ch.waiting.take())
        else {
            return;
        };
        let tls = ch.protection == Some(DataProtection::Tls);
        let job = if listing {
            Some(ClientJob::Listing)
        } else {
            match (
                direction,
                self.pending.get_mut(&op).and_then(|p| p.pipe.take()),
            ) {
                (Direction::Download, Some(p)) => Some(ClientJob::Download(p)),
                (Direction::Upload, Some(p)) => Some(ClientJob::Upload(p)),
                _ => None,
            }
        };
        match job {
            Some(job) => self.actions.push_back(ClientAction::Transfer {
                id,
                stream,
                tls,
                job,
            }),
            None => {
                tracing::warn!(%id, %op, "no source or sink for this transfer");
                self.channels.remove(&id);
                self.event(
                    now,
                    ClientEvent::TransferFailed {
                        id,
                        error: DataError::Local,
                    },
                );
            }
        }
    }

    /// The next thing to do, or `None` until the next input.
    pub fn poll_action(&mut self) -> Option<ClientAction<P, D, St>> {
        loop {
            if let Some(a) = self.actions.pop_front() {
                return Some(a);
            }
            let out = self.session.poll_output()?;
            if let Some(a) = self.output(out) {
                return Some(a);
            }
        }
    }

    fn output(&mut self, out: ClientOutput) -> Option<ClientAction<P, D, St>> {
        let now = Instant::now();
        match out {
            ClientOutput::Send(bytes) => {
                self.actions.push_back(ClientAction::Flush);
                Some(ClientAction::Send(bytes))
            }
            ClientOutput::StartTls => Some(ClientAction::StartTls),
            ClientOutput::Data(intent) => self.data(now, intent),
            ClientOutput::LoggedIn(info) => {
                self.login_reported = true;
                Some(ClientAction::LoggedIn(Ok(*info)))
            }
            ClientOutput::Completed(id, result) => {
                let p = self.pending.remove(&id)?;
                Some(ClientAction::Complete {
                    done: p.done,
                    result: result.map_err(Error::from),
                })
            }
            ClientOutput::Unsolicited(reply) => {
                tracing::info!(code = %reply.code(), "unsolicited reply");
                None
            }
            ClientOutput::Error(e) => {
                tracing::debug!(error = %e, "session ended");
                if !self.login_reported {
                    self.login_reported = true;
                    return Some(ClientAction::LoggedIn(Err(self.login_error(e))));
                }
                None
            }
            ClientOutput::Close => {
                self.closed = true;
                self.channels.clear();
                Some(ClientAction::Close)
            }
            _ => None,
        }
    }

    fn data(&mut self, now: Instant, intent: DataIntent) -> Option<ClientAction<P, D, St>> {
        match intent {
            DataIntent::Connect {
                id,
                addr,
                protection,
            } => {
                self.channels.insert(
                    id,
                    Channel {
                        protection: Some(protection),
                        ..Channel::default()
                    },
                );
                Some(ClientAction::Connect { id, addr })
            }
            DataIntent::Listen { id } => {
                let bound = std::net::TcpListener::bind(SocketAddr::new(self.local_ip, 0))
                    .and_then(|l| {
                        l.set_nonblocking(true)?;
                        Ok((l.local_addr()?, l))
                    });
                match bound {
                    Ok((addr, listener)) => {
                        self.channels.insert(id, Channel::default());
                        self.event(now, ClientEvent::Listening { id, addr });
                        Some(ClientAction::Accept { id, listener })
                    }
                    Err(e) => {
                        tracing::debug!(%id, error = %e, "cannot listen for the data connection");
                        self.event(now, ClientEvent::DataFailed { id });
                        None
                    }
                }
            }
            DataIntent::Transfer {
                id,
                op,
                direction,
                listing,
            } => {
                let ch = self.channels.entry(id).or_default();
                ch.waiting = Some((op, direction, listing));
                self.start_waiting(now, id);
                None
            }
            DataIntent::Abort { id } | DataIntent::Close { id } => {
                // Dropping the channel drops its tasks, which stops them and their sockets.
                self.channels.remove(&id);
                None
            }
            _ => None,
        }
    }

    /// The session is over: every operation still waiting, and a login still waiting, learn
    /// why. Drain [`poll_action`](Self::poll_action) afterwards.
    pub fn finish(&mut self) {
        // Outputs the session still holds (the completion of QUIT, say) come first: an
        // operation that did complete must not be failed below.
        while let Some(out) = self.session.poll_output() {
            // `output` may queue a follow-up (the Flush after a Send): the action it returns
            // goes before it.
            let at = self.actions.len();
            if let Some(a) = self.output(out) {
                self.actions.insert(at, a);
            }
        }
        self.channels.clear();
        let error = self.session.error().cloned();
        for (_, p) in self.pending.drain() {
            let e = match &error {
                Some(e) => Error::Session(e.clone()),
                None => Error::Op(OpError::Session(ClientError::Closed)),
            };
            self.actions.push_back(ClientAction::Complete {
                done: p.done,
                result: Err(e),
            });
        }
        if !self.login_reported {
            self.login_reported = true;
            let e = self.login_error(error.unwrap_or(ClientError::ConnectionClosed));
            self.actions.push_back(ClientAction::LoggedIn(Err(e)));
        }
    }
}
