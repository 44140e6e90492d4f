//! The client state machine: one [`ClientSession`] per control connection. Login and the
//! single-command operations live here; data transfers are in `transfer.rs`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use crate::command::{Alias, Command, TypeCode};
use crate::listing::parse_mlst_line;
use crate::reply::{
    parse_257, parse_mdtm, parse_size, parse_size_lenient, Features, Reply, ReplyDecoder,
    ReplyError,
};
use crate::server::canonical_ip;
use crate::time::Timestamp;

use super::config::{ClientConfig, ClientTls};
use super::listing::ListKind;
use super::transfer::{Stage, TInput, Transfer, TransferKind};
use super::types::*;
use super::ClientError;

/// Where the login stands: the command whose reply is awaited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LoginStep {
    Greeting,
    Host,
    Auth,
    /// Waiting for the adapter's TLS handshake result.
    Handshake,
    User,
    Pass,
    Acct,
    Pbsz,
    Prot,
    Feat,
    Utf8,
    Type,
}

/// A command whose one final reply completes the operation.
#[derive(Debug)]
pub(crate) enum Simple {
    Cwd,
    Cdup,
    Pwd,
    Mkd,
    Rmd,
    Dele,
    /// RNFR then RNTO; `Some(to)` while RNFR is out.
    Rename(Option<Bytes>),
    Size,
    Mdtm,
    Mfmt,
    Site,
    Stat,
    Noop,
    Raw,
    Mlst,
    /// ABOR with no transfer of ours in progress.
    Abor,
    Quit,
}

#[derive(Debug)]
pub(crate) enum Op {
    Simple(Simple, Command),
    Transfer(Box<Transfer>),
}

/// The operation being served.
#[derive(Debug)]
pub(crate) struct Current {
    pub(crate) id: OpId,
    pub(crate) op: Op,
}

/// One FTP control connection's client state, driven by bytes, events and time.
///
/// See the [module docs](crate::client) for the contract and a drive loop.
#[derive(Debug)]
pub struct ClientSession {
    pub(crate) config: Arc<ClientConfig>,
    pub(crate) peer: SocketAddr,
    decoder: ReplyDecoder,
    inbuf: BytesMut,
    pub(crate) out: VecDeque<ClientOutput>,
    next_id: u64,
    closed: bool,
    error: Option<ClientError>,
    tls_control: bool,
    pub(crate) data_tls: bool,
    login: Option<LoginStep>,
    greeting: Option<Reply>,
    features: Features,
    queue: VecDeque<(OpId, Op)>,
    pub(crate) current: Option<Current>,
    quitting: bool,
    reply_deadline: Option<Instant>,
    pub(crate) epsv_broken: bool,
}

impl ClientSession {
    /// Starts a session on a control connection to `peer` (the server's address, which data
    /// connections also go to). The session waits for the greeting, then logs in; queue
    /// operations at once or after [`ClientOutput::LoggedIn`].
    ///
    /// Errs with [`ClientError::InvalidArgument`] when a credential or the HOST name cannot be
    /// sent (CR, LF or NUL: curl tests 2114-2116).
    pub fn new(config: ClientConfig, peer: SocketAddr, now: Instant) -> Result<Self, ClientError> {
        for cmd in [
            Command::User(config.user.clone()),
            Command::Pass(config.pass.clone()),
        ]
        .into_iter()
        .chain(config.account.clone().map(Command::Acct))
        .chain(config.host.clone().map(Command::Host))
        {
            cmd.encode(&mut BytesMut::new())
                .map_err(ClientError::InvalidArgument)?;
        }
        let implicit = config.tls == ClientTls::Implicit;
        Ok(ClientSession {
            decoder: ReplyDecoder::new(config.replies),
            inbuf: BytesMut::new(),
            out: VecDeque::new(),
            next_id: 1,
            closed: false,
            error: None,
            tls_control: implicit,
            data_tls: false,
            login: Some(LoginStep::Greeting),
            greeting: None,
            features: Features::new(),
            queue: VecDeque::new(),
            current: None,
            quitting: false,
            reply_deadline: now.checked_add(config.reply_timeout),
            epsv_broken: false,
            peer,
            config: Arc::new(config),
        })
    }

    // ----- the driving API -----

    /// Feeds bytes read from the control connection (after TLS decryption). Replies are
    /// framed and dispatched in order. Errs only when the session has closed.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<(), ClientError> {
        if self.closed {
            return Err(ClientError::Closed);
        }
        if self.login == Some(LoginStep::Handshake) {
            // The adapter should be running the TLS handshake: any byte here is plaintext the
            // server sent after its 234.
            self.fail(ClientError::PipelinedAfterAuth);
            return Ok(());
        }
        self.inbuf.extend_from_slice(data);
        self.decode_replies(now, false);
        Ok(())
    }

    /// Feeds what the adapter did or learned: a TLS result, the end of the control connection,
    /// a data-channel outcome. Errs when the event names a data channel this session never
    /// opened, does not fit the state, or the session has closed. Reports about channels that
    /// were already closed or aborted are ignored.
    pub fn handle_event(&mut self, now: Instant, event: ClientEvent) -> Result<(), ClientError> {
        if self.closed {
            return match event {
                ClientEvent::ControlEof => Ok(()),
                _ => Err(ClientError::Closed),
            };
        }
        match event {
            ClientEvent::TlsEstablished => {
                if self.login != Some(LoginStep::Handshake) {
                    return Err(ClientError::UnexpectedEvent("TlsEstablished"));
                }
                self.tls_control = true;
                self.login_send(now, LoginStep::User);
            }
            ClientEvent::TlsFailed => {
                if self.login != Some(LoginStep::Handshake) {
                    return Err(ClientError::UnexpectedEvent("TlsFailed"));
                }
                self.fail(ClientError::TlsFailed);
            }
            ClientEvent::ControlEof => {
                self.decode_replies(now, true);
                if !self.closed {
                    self.fail(ClientError::ConnectionClosed);
                }
            }
            ClientEvent::Listening { id, addr } => {
                self.data_event(now, id, TInput::Listening(addr))?
            }
            ClientEvent::DataConnected { id } => self.data_event(now, id, TInput::Connected)?,
            ClientEvent::DataFailed { id } => self.data_event(now, id, TInput::ConnectFailed)?,
            ClientEvent::TransferDone { id, bytes } => {
                self.data_event(now, id, TInput::DataDone(bytes))?
            }
            ClientEvent::TransferFailed { id, error } => {
                self.data_event(now, id, TInput::DataFailed(error))?
            }
        }
        Ok(())
    }

    /// Reports a connection accepted on the active-mode listener of channel `id` from `peer`,
    /// and says whether to use it. Only a connection from the control connection's peer IP is
    /// used (RFC 2577); others are rejected while the listener keeps waiting.
    pub fn handle_data_accept(
        &mut self,
        now: Instant,
        id: DataId,
        peer: SocketAddr,
    ) -> Result<Accept, ClientError> {
        if self.closed {
            return Err(ClientError::Closed);
        }
        self.check_data_id(id)?;
        let _ = now;
        let protection = self.protection();
        let control_ip = canonical_ip(self.peer.ip());
        let Some(Current {
            op: Op::Transfer(t),
            ..
        }) = self.current.as_mut()
        else {
            return Ok(Accept::Reject);
        };
        if t.data != Some(id) || !t.active || t.connected || canonical_ip(peer.ip()) != control_ip {
            return Ok(Accept::Reject);
        }
        if !matches!(
            t.stage,
            Stage::Port | Stage::Rest | Stage::Command | Stage::Finishing
        ) {
            return Ok(Accept::Reject);
        }
        t.connected = true;
        Ok(Accept::Use { protection })
    }

    /// Feeds listing bytes read from the data connection of channel `id`, for a
    /// [`DataIntent::Transfer`] with `listing: true`. Bytes for a channel that was aborted are
    /// ignored.
    pub fn handle_listing_data(
        &mut self,
        now: Instant,
        id: DataId,
        data: &[u8],
    ) -> Result<(), ClientError> {
        if self.closed {
            return Err(ClientError::Closed);
        }
        self.check_data_id(id)?;
        let _ = now;
        if let Some(Current {
            op: Op::Transfer(t),
            ..
        }) = self.current.as_mut()
        {
            if t.data == Some(id) {
                if let Some(l) = t.listing.as_mut() {
                    l.feed(data);
                }
            }
        }
        Ok(())
    }

    /// Fires the timers whose deadline is at or before `now`. Harmless when none is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        if self.reply_timer_running() && self.reply_deadline.is_some_and(|d| d <= now) {
            self.fail(ClientError::Timeout);
            return;
        }
        if let Some(Current {
            op: Op::Transfer(t),
            ..
        }) = &self.current
        {
            if t.deadline().is_some_and(|d| d <= now) {
                self.transfer_input(now, TInput::Timeout);
            }
        }
    }

    /// The next thing for the adapter to do, or `None` when there is nothing left. Call it
    /// until `None` after every call that takes `now`.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<ClientOutput> {
        self.out.pop_front()
    }

    /// The earliest instant at which [`handle_timeout`](Self::handle_timeout) has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        let reply = self.reply_deadline.filter(|_| self.reply_timer_running());
        let data = match &self.current {
            Some(Current {
                op: Op::Transfer(t),
                ..
            }) => t.deadline(),
            _ => None,
        };
        match (reply, data) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether the adapter should read more from the control connection now: false during the
    /// control connection's TLS handshake, while outputs wait to be drained, and after close.
    pub fn wants_read(&self) -> bool {
        !self.closed
            && self.login != Some(LoginStep::Handshake)
            && self.out.len() < self.config.max_queued_ops.saturating_add(64)
    }

    /// Whether the session has ended ([`ClientOutput::Close`] was emitted).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The error that ended the session, if one did.
    pub fn error(&self) -> Option<&ClientError> {
        self.error.as_ref()
    }

    /// Whether the login has finished.
    pub fn is_logged_in(&self) -> bool {
        self.login.is_none() && !self.closed
    }

    /// The features the server listed in FEAT (empty before the login finishes).
    pub fn features(&self) -> &Features {
        &self.features
    }

    /// Whether the control connection is protected by TLS.
    pub fn is_tls(&self) -> bool {
        self.tls_control
    }

    /// Whether EPSV failed on this session, so that passive transfers use PASV.
    pub fn is_epsv_disabled(&self) -> bool {
        self.epsv_broken
    }

    // ----- operations -----

    /// CWD: change the directory. Success is any 2xx (servers answer 200 or 250).
    pub fn cwd(&mut self, now: Instant, path: impl Into<Bytes>) -> Result<OpId, ClientError> {
        let path = path.into();
        self.simple(
            now,
            Simple::Cwd,
            Command::Cwd {
                path,
                alias: Alias::Standard,
            },
        )
    }

    /// CDUP: change to the parent directory.
    pub fn cdup(&mut self, now: Instant) -> Result<OpId, ClientError> {
        self.simple(
            now,
            Simple::Cdup,
            Command::Cdup {
                alias: Alias::Standard,
            },
        )
    }

    /// PWD: completes with [`Outcome::Path`], read from the 257 reply (`""` unescaped; an
    /// unterminated or control-byte path is [`OpError::BadReply`]).
    pub fn pwd(&mut self, now: Instant) -> Result<OpId, ClientError> {
        self.simple(
            now,
            Simple::Pwd,
            Command::Pwd {
                alias: Alias::Standard,
            },
        )
    }

    /// MKD: completes with [`Outcome::Created`].
    pub fn mkdir(&mut self, now: Instant, path: impl Into<Bytes>) -> Result<OpId, ClientError> {
        let path = path.into();
        self.simple(
            now,
            Simple::Mkd,
            Command::Mkd {
                path,
                alias: Alias::Standard,
            },
        )
    }

    /// RMD: remove a directory.
    pub fn rmdir(&mut self, now: Instant, path: impl Into<Bytes>) -> Result<OpId, ClientError> {
        let path = path.into();
        self.simple(
            now,
            Simple::Rmd,
            Command::Rmd {
                path,
                alias: Alias::Standard,
            },
        )
    }

    /// DELE: delete a file.
    pub fn delete(&mut self, now: Instant, path: impl Into<Bytes>) -> Result<OpId, ClientError> {
        self.simple(now, Simple::Dele, Command::Dele(path.into()))
    }

    /// RNFR then RNTO: rename `from` to `to`.
    pub fn rename(
        &mut self,
        now: Instant,
        from: impl Into<Bytes>,
        to: impl Into<Bytes>,
    ) -> Result<OpId, ClientError> {
        let to = to.into();
        validate(&Command::Rnto(to.clone()))?;
        self.simple(now, Simple::Rename(Some(to)), Command::Rnfr(from.into()))
    }

    /// SIZE: completes with [`Outcome::Size`] (in bytes under TYPE I).
    pub fn size(&mut self, now: Instant, path: impl Into<Bytes>) -> Result<OpId, ClientError> {
        self.simple(now, Simple::Size, Command::Size(path.into()))
    }

    /// MDTM: completes with [`Outcome::Modified`].
    pub fn mdtm(&mut self, now: Instant, path: impl Into<Bytes>) -> Result<OpId, ClientError> {
        self.simple(now, Simple::Mdtm, Command::Mdtm(path.into()))
    }

    /// MFMT: set the modification time of `path`.
    pub fn mfmt(
        &mut self,
        now: Instant,
        path: impl Into<Bytes>,
        time: Timestamp,
    ) -> Result<OpId, ClientError> {
        let path = path.into();
        self.simple(now, Simple::Mfmt, Command::Mfmt { time, path })
    }

    /// SITE with this argument (e.g. `CHMOD 644 file`).
    pub fn site(&mut self, now: Instant, arg: impl Into<Bytes>) -> Result<OpId, ClientError> {
        self.simple(now, Simple::Site, Command::Site(arg.into()))
    }

    /// STAT, of the server or of a path; completes with [`Outcome::Done`] holding the reply.
    pub fn stat(&mut self, now: Instant, path: Option<Bytes>) -> Result<OpId, ClientError> {
        self.simple(now, Simple::Stat, Command::Stat(path))
    }

    /// NOOP.
    pub fn noop(&mut self, now: Instant) -> Result<OpId, ClientError> {
        self.simple(now, Simple::Noop, Command::Noop)
    }

    /// Any command that neither moves data nor changes login, TLS or transfer state (those
    /// are refused with [`ClientError::NotRaw`]). Completes with the final reply: any 2xx or
    /// 3xx as [`Outcome::Done`], 4xx/5xx as [`OpError::Rejected`].
    pub fn raw(&mut self, now: Instant, command: Command) -> Result<OpId, ClientError> {
        use Command::*;
        if matches!(
            command,
            User(_)
                | Pass(_)
                | Acct(_)
                | Rein
                | Quit
                | Port(_)
                | Pasv
                | Retr(_)
                | Stor(_)
                | Stou(_)
                | Appe(_)
                | Rest(_)
                | Rnfr(_)
                | Abor
                | List(_)
                | Nlst(_)
                | Auth(_)
                | Pbsz(_)
                | Prot(_)
                | Ccc
                | Eprt(_)
                | Epsv(_)
                | Mlsd(_)
                | Lprt(_)
                | Lpsv
                | Type(_)
                | Mode(_)
                | Stru(_)
                | Adat(_)
                | Mic(_)
                | Conf(_)
                | Enc(_)
                | Rang { .. }
        ) {
            return Err(ClientError::NotRaw(command.verb().to_owned()));
        }
        self.simple(now, Simple::Raw, command)
    }

    /// MLST: completes with [`Outcome::Entry`].
    pub fn mlst(&mut self, now: Instant, path: Option<Bytes>) -> Result<OpId, ClientError> {
        self.simple(now, Simple::Mlst, Command::Mlst(path))
    }

    /// LIST: completes with [`Outcome::Listing`]. `wall_clock` dates the Unix lines that show
    /// a time of day instead of a year (the core reads no clock); `None` leaves them undated.
    pub fn list(
        &mut self,
        now: Instant,
        path: Option<Bytes>,
        wall_clock: Option<Timestamp>,
    ) -> Result<OpId, ClientError> {
        self.transfer(now, TransferKind::List(path, ListKind::List(wall_clock)))
    }

    /// NLST: completes with [`Outcome::Names`].
    pub fn nlst(&mut self, now: Instant, path: Option<Bytes>) -> Result<OpId, ClientError> {
        self.transfer(now, TransferKind::List(path, ListKind::Names))
    }

    /// MLSD: completes with [`Outcome::Listing`].
    pub fn mlsd(&mut self, now: Instant, path: Option<Bytes>) -> Result<OpId, ClientError> {
        self.transfer(now, TransferKind::List(path, ListKind::Mlsd))
    }

    /// RETR from byte `offset` (REST is sent first when it is not 0): the adapter writes the
    /// bytes to its file for this [`OpId`]. Completes with [`Outcome::Transferred`].
    pub fn retr(
        &mut self,
        now: Instant,
        path: impl Into<Bytes>,
        offset: u64,
    ) -> Result<OpId, ClientError> {
        self.transfer(now, TransferKind::Retr(path.into(), offset))
    }

    /// STOR from byte `offset` of the adapter's file (REST is sent first when it is not 0, and
    /// the server keeps the first `offset` bytes). Completes with [`Outcome::Transferred`].
    pub fn stor(
        &mut self,
        now: Instant,
        path: impl Into<Bytes>,
        offset: u64,
    ) -> Result<OpId, ClientError> {
        self.transfer(now, TransferKind::Stor(path.into(), offset))
    }

    /// APPE: append the adapter's file to `path`.
    pub fn appe(&mut self, now: Instant, path: impl Into<Bytes>) -> Result<OpId, ClientError> {
        self.transfer(now, TransferKind::Appe(path.into()))
    }

    /// STOU: store under a name the server chooses; completes with
    /// [`Outcome::StoredUnique`].
    pub fn stou(&mut self, now: Instant) -> Result<OpId, ClientError> {
        self.transfer(now, TransferKind::Stou)
    }

    /// Stops the transfer in progress: ABOR goes out at once (in-band, never as TCP urgent
    /// data, which TLS cannot carry), the data connection is aborted, the transfer completes
    /// with [`OpError::Aborted`] and this operation with [`Outcome::Aborted`] once the server
    /// has answered (426 then 226, 226 alone, or 225). A transfer still setting up its data
    /// connection is dropped without ABOR. With no transfer in progress, ABOR is queued like
    /// any command.
    pub fn abort(&mut self, now: Instant) -> Result<OpId, ClientError> {
        if self.closed || self.quitting {
            return Err(ClientError::Closed);
        }
        if matches!(
            self.current,
            Some(Current {
                op: Op::Transfer(_),
                ..
            })
        ) {
            let id = self.next_op();
            self.transfer_input(now, TInput::Abort(id));
            return Ok(id);
        }
        self.simple(now, Simple::Abor, Command::Abor)
    }

    /// QUIT, after every operation queued before it; no operation may be queued after. The
    /// session closes on the reply.
    pub fn quit(&mut self, now: Instant) -> Result<OpId, ClientError> {
        let id = self.simple(now, Simple::Quit, Command::Quit)?;
        self.quitting = true;
        Ok(id)
    }

    // ----- internals: queue -----

    fn next_op(&mut self) -> OpId {
        let id = OpId(self.next_id);
        self.next_id += 1;
        id
    }

    pub(crate) fn next_data(&mut self) -> DataId {
        let id = DataId(self.next_id);
        self.next_id += 1;
        id
    }

    pub(crate) fn check_data_id(&self, id: DataId) -> Result<(), ClientError> {
        if id.0 == 0 || id.0 >= self.next_id {
            return Err(ClientError::UnknownData(id));
        }
        Ok(())
    }

    fn simple(&mut self, now: Instant, kind: Simple, cmd: Command) -> Result<OpId, ClientError> {
        validate(&cmd)?;
        self.enqueue(now, Op::Simple(kind, cmd))
    }

    fn transfer(&mut self, now: Instant, kind: TransferKind) -> Result<OpId, ClientError> {
        validate(&kind.command())?;
        let t = Transfer::new(kind, &self.config);
        self.enqueue(now, Op::Transfer(Box::new(t)))
    }

    fn enqueue(&mut self, now: Instant, op: Op) -> Result<OpId, ClientError> {
        if self.closed || self.quitting {
            return Err(ClientError::Closed);
        }
        if self.queue.len() >= self.config.max_queued_ops {
            return Err(ClientError::QueueFull);
        }
        let id = self.next_op();
        self.queue.push_back((id, op));
        self.start_next(now);
        Ok(id)
    }

    /// Starts queued operations while none is running.
    pub(crate) fn start_next(&mut self, now: Instant) {
        while !self.closed && self.login.is_none() && self.current.is_none() {
            let Some((id, op)) = self.queue.pop_front() else {
                return;
            };
            match op {
                Op::Simple(kind, cmd) => {
                    self.send(now, &cmd);
                    self.current = Some(Current {
                        id,
                        op: Op::Simple(kind, cmd),
                    });
                }
                Op::Transfer(t) => {
                    self.current = Some(Current {
                        id,
                        op: Op::Transfer(t),
                    });
                    self.transfer_input(now, TInput::Start);
                }
            }
        }
    }

    /// Finishes the running operation.
    pub(crate) fn complete(&mut self, now: Instant, result: Result<Outcome, OpError>) {
        if let Some(cur) = self.current.take() {
            self.out.push_back(ClientOutput::Completed(cur.id, result));
        }
        self.start_next(now);
    }

    // ----- internals: wire -----

    pub(crate) fn send(&mut self, now: Instant, cmd: &Command) {
        let mut buf = BytesMut::new();
        if cmd.encode(&mut buf).is_ok() {
            self.out.push_back(ClientOutput::Send(buf.freeze()));
        }
        self.reply_deadline = now.checked_add(self.config.reply_timeout);
    }

    pub(crate) fn rearm_reply_timer(&mut self, now: Instant) {
        self.reply_deadline = now.checked_add(self.config.reply_timeout);
    }

    pub(crate) fn protection(&self) -> DataProtection {
        if self.data_tls {
            DataProtection::Tls
        } else {
            DataProtection::Clear
        }
    }

    fn decode_replies(&mut self, now: Instant, eof: bool) {
        while !self.closed && self.login != Some(LoginStep::Handshake) {
            let r = if eof {
                self.decoder.decode_eof(&mut self.inbuf)
            } else {
                self.decoder.decode(&mut self.inbuf)
            };
            match r {
                Ok(Some(reply)) => self.on_reply(now, reply),
                Ok(None) => break,
                Err(e) => {
                    self.fail(ClientError::Protocol(e));
                    break;
                }
            }
        }
    }

    /// Whether a command is out and its reply not yet in.
    fn awaiting_reply(&self) -> bool {
        match (&self.login, &self.current) {
            (Some(LoginStep::Handshake), _) => false,
            (Some(_), _) => true,
            (
                None,
                Some(Current {
                    op: Op::Simple(..), ..
                }),
            ) => true,
            (
                None,
                Some(Current {
                    op: Op::Transfer(t),
                    ..
                }),
            ) => t.awaiting_reply(),
            (None, None) => false,
        }
    }

    fn reply_timer_running(&self) -> bool {
        if !self.awaiting_reply() {
            return false;
        }
        match &self.current {
            Some(Current {
                op: Op::Transfer(t),
                ..
            }) => !t.data_moving(),
            _ => true,
        }
    }

    fn on_reply(&mut self, now: Instant, reply: Reply) {
        if reply.code().as_u16() == 421 {
            // 421 answers any command, or none: the server is closing (curl test 1120).
            return self.fail(ClientError::ServiceClosing(reply));
        }
        if !self.awaiting_reply() {
            self.out.push_back(ClientOutput::Unsolicited(reply));
            return;
        }
        self.rearm_reply_timer(now);
        if let Some(step) = self.login {
            return self.login_reply(now, step, reply);
        }
        match self.current.as_mut().map(|c| &mut c.op) {
            Some(Op::Simple(..)) => self.simple_reply(now, reply),
            Some(Op::Transfer(_)) => self.transfer_input(now, TInput::Reply(reply)),
            None => self.out.push_back(ClientOutput::Unsolicited(reply)),
        }
    }

    /// Ends the session with `e`: every unfinished operation fails with it.
    pub(crate) fn fail(&mut self, e: ClientError) {
        if self.closed {
            return;
        }
        if let Some(cur) = self.current.take() {
            if let Op::Transfer(t) = &cur.op {
                if let Some(id) = t.data {
                    self.out
                        .push_back(ClientOutput::Data(DataIntent::Abort { id }));
                }
                if let Some(a) = t.abort_op {
                    self.out
                        .push_back(ClientOutput::Completed(a, Err(OpError::Session(e.clone()))));
                }
            }
            self.out.push_back(ClientOutput::Completed(
                cur.id,
                Err(OpError::Session(e.clone())),
            ));
        }
        while let Some((id, _)) = self.queue.pop_front() {
            self.out.push_back(ClientOutput::Completed(
                id,
                Err(OpError::Session(e.clone())),
            ));
        }
        self.out.push_back(ClientOutput::Error(e.clone()));
        self.out.push_back(ClientOutput::Close);
        self.error = Some(e);
        self.closed = true;
        self.login = None;
    }

    /// Closes after QUIT.
    fn close_quietly(&mut self) {
        while let Some((id, _)) = self.queue.pop_front() {
            self.out.push_back(ClientOutput::Completed(
                id,
                Err(OpError::Session(ClientError::Closed)),
            ));
        }
        self.out.push_back(ClientOutput::Close);
        self.closed = true;
    }

    // ----- internals: login -----

    fn login_send(&mut self, now: Instant, step: LoginStep) {
        let c = Arc::clone(&self.config);
        let cmd = match step {
            LoginStep::Greeting | LoginStep::Handshake => return,
            LoginStep::Host => Command::Host(c.host.clone().unwrap_or_default()),
            LoginStep::Auth => Command::Auth(Bytes::from_static(b"TLS")),
            LoginStep::User => Command::User(c.user.clone()),
            LoginStep::Pass => Command::Pass(c.pass.clone()),
            LoginStep::Acct => Command::Acct(c.account.clone().unwrap_or_default()),
            LoginStep::Pbsz => Command::Pbsz(0),
            LoginStep::Prot => Command::Prot(crate::command::ProtLevel::Private),
            LoginStep::Feat => Command::Feat,
            LoginStep::Utf8 => Command::Opts {
                name: Bytes::from_static(b"UTF8"),
                options: Some(Bytes::from_static(b"ON")),
            },
            LoginStep::Type => Command::Type(TypeCode::Image),
        };
        self.login = Some(step);
        self.send(now, &cmd);
    }

    /// The step after the greeting (or HOST): AUTH when TLS is wanted, else USER.
    fn after_host(&mut self, now: Instant) {
        let wants_auth = matches!(
            self.config.tls,
            ClientTls::Opportunistic | ClientTls::Required
        );
        if wants_auth && !self.tls_control {
            self.login_send(now, LoginStep::Auth);
        } else {
            self.login_send(now, LoginStep::User);
        }
    }

    /// The steps after a successful login.
    fn after_login(&mut self, now: Instant) {
        if self.tls_control && self.config.protect_data {
            self.login_send(now, LoginStep::Pbsz);
        } else {
            self.login_send(now, LoginStep::Feat);
        }
    }

    fn after_feat(&mut self, now: Instant) {
        if self.config.utf8 && self.features.has("UTF8") {
            self.login_send(now, LoginStep::Utf8);
        } else {
            self.after_utf8(now);
        }
    }

    fn after_utf8(&mut self, now: Instant) {
        if self.config.binary {
            self.login_send(now, LoginStep::Type);
        } else {
            self.login_done(now);
        }
    }

    fn login_done(&mut self, now: Instant) {
        self.login = None;
        let info = LoginInfo {
            greeting: self.greeting.clone().unwrap_or_else(|| {
                Reply::new(crate::reply::ReplyCode::SERVICE_READY, Bytes::new())
            }),
            features: self.features.clone(),
            tls: self.tls_control,
            data_tls: self.data_tls,
        };
        self.out.push_back(ClientOutput::LoggedIn(Box::new(info)));
        self.start_next(now);
    }

    fn login_reply(&mut self, now: Instant, step: LoginStep, reply: Reply) {
        let code = reply.code();
        if code.is_positive_preliminary() {
            // 120 "ready in nnn minutes" before 220, or a stray mark: wait for the final one.
            return;
        }
        let required = self.config.tls == ClientTls::Required;
        let ok = code.is_positive_completion();
        match step {
            LoginStep::Greeting => {
                if code.as_u16() == 230 {
                    if required && !self.tls_control {
                        return self.fail(ClientError::TlsBypassed(reply));
                    }
                    self.greeting = Some(reply);
                    return self.after_login(now);
                }
                if !ok {
                    return self.fail(if code.is_negative() {
                        ClientError::Refused(reply)
                    } else {
                        ClientError::UnexpectedReply(reply)
                    });
                }
                self.greeting = Some(reply);
                if self.config.host.is_some() {
                    self.login_send(now, LoginStep::Host);
                } else {
                    self.after_host(now);
                }
            }
            // A server without HOST support answers 500/502: carry on (RFC 7151 §3).
            LoginStep::Host => self.after_host(now),
            LoginStep::Auth => {
                if code.as_u16() == 234 {
                    if !self.inbuf.is_empty() || self.decoder.is_mid_reply() {
                        return self.fail(ClientError::PipelinedAfterAuth);
                    }
                    self.login = Some(LoginStep::Handshake);
                    self.out.push_back(ClientOutput::StartTls);
                } else if required {
                    self.fail(ClientError::TlsRefused(reply));
                } else {
                    self.login_send(now, LoginStep::User);
                }
            }
            LoginStep::Handshake => {}
            LoginStep::User | LoginStep::Pass | LoginStep::Acct => {
                if ok {
                    if required && !self.tls_control {
                        return self.fail(ClientError::TlsBypassed(reply));
                    }
                    return self.after_login(now);
                }
                match (step, code.as_u16()) {
                    (LoginStep::User, 331) => self.login_send(now, LoginStep::Pass),
                    (LoginStep::User | LoginStep::Pass, 332) if self.config.account.is_some() => {
                        self.login_send(now, LoginStep::Acct)
                    }
                    _ => self.fail(ClientError::LoginFailed(reply)),
                }
            }
            LoginStep::Pbsz | LoginStep::Prot => {
                if !ok {
                    if required {
                        return self.fail(ClientError::TlsRefused(reply));
                    }
                    return self.login_send(now, LoginStep::Feat);
                }
                if step == LoginStep::Pbsz {
                    self.login_send(now, LoginStep::Prot);
                } else {
                    self.data_tls = true;
                    self.login_send(now, LoginStep::Feat);
                }
            }
            LoginStep::Feat => {
                // A single-line 211, 500 or 502 all mean no features (RFC 2389).
                self.features = Features::parse(&reply);
                self.after_feat(now);
            }
            LoginStep::Utf8 => self.after_utf8(now),
            LoginStep::Type => self.login_done(now),
        }
    }

    // ----- internals: single-command operations -----

    fn simple_reply(&mut self, now: Instant, reply: Reply) {
        let code = reply.code();
        if code.is_positive_preliminary() {
            return;
        }
        let Some(Current {
            op: Op::Simple(kind, _),
            ..
        }) = self.current.as_mut()
        else {
            return;
        };
        if let Simple::Rename(to) = kind {
            if let Some(to) = to.take() {
                if code.is_positive_intermediate() {
                    let cmd = Command::Rnto(to);
                    self.send(now, &cmd);
                    return;
                }
                let err = if code.is_negative() {
                    OpError::Rejected(reply)
                } else {
                    OpError::UnexpectedReply(reply)
                };
                return self.complete(now, Err(err));
            }
        }
        let is_quit = matches!(kind, Simple::Quit);
        let result = if code.is_negative() {
            Err(OpError::Rejected(reply))
        } else if code.is_positive_intermediate() {
            match kind {
                Simple::Raw => Ok(Outcome::Done(reply)),
                _ => Err(OpError::UnexpectedReply(reply)),
            }
        } else {
            simple_success(kind, reply)
        };
        self.complete(now, result);
        if is_quit {
            self.close_quietly();
        }
    }
}

/// Reads the result of a single-command operation out of its 2xx reply.
fn simple_success(kind: &Simple, reply: Reply) -> Result<Outcome, OpError> {
    let bad = |reply: Reply, error: ReplyError| Err(OpError::BadReply { reply, error });
    match kind {
        Simple::Pwd => match parse_257(reply.text()) {
            Ok(p) => Ok(Outcome::Path(p)),
            Err(e) => bad(reply, e),
        },
        Simple::Mkd => Ok(Outcome::Created(parse_257(reply.text()).ok())),
        Simple::Size => {
            match parse_size(reply.last_line()).or_else(|_| parse_size_lenient(reply.last_line())) {
                Ok(n) => Ok(Outcome::Size(n)),
                Err(e) => bad(reply, e),
            }
        }
        Simple::Mdtm => match parse_mdtm(reply.last_line()) {
            Ok(t) => Ok(Outcome::Modified(t)),
            Err(e) => bad(reply, e),
        },
        Simple::Mlst => {
            // The entry is the middle line that starts with a space (RFC 3659 §7.2).
            let count = reply.line_count();
            let entry = reply
                .lines()
                .skip(1)
                .take(count.saturating_sub(2))
                .find(|l| l.starts_with(b" "))
                .map(parse_mlst_line);
            match entry {
                Some(Ok(e)) => Ok(Outcome::Entry(Box::new(e))),
                _ => bad(reply, ReplyError::Syntax),
            }
        }
        Simple::Abor => Ok(Outcome::Aborted(Some(reply))),
        _ => Ok(Outcome::Done(reply)),
    }
}

/// Checks that a command can be sent (no CR/LF/NUL injection, required arguments present).
fn validate(cmd: &Command) -> Result<(), ClientError> {
    cmd.encode(&mut BytesMut::new())
        .map_err(ClientError::InvalidArgument)
}
