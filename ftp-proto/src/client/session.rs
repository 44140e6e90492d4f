//! The client state machine: one [`ClientSession`] per control connection. Login and the
//! single-command operations live here; data transfers are in `transfer.rs`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;

use crate::command::Command;
use crate::reply::{Features, Reply, ReplyDecoder};
use crate::server::canonical_ip;

use super::config::{ClientConfig, ClientTls};
use super::login::LoginStep;
use super::ops::{validate, Simple};
use super::transfer::{Stage, TInput, Transfer, TransferKind};
use super::types::*;
use super::ClientError;

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
/// See the [module docs](crate::client) for the contract and a drive loop. `handle_*` (and the
/// operation methods) may be called between two [`poll_output`](Self::poll_output) calls of a
/// drain: their outputs queue after the ones not yet polled, in order.
#[derive(Debug)]
pub struct ClientSession {
    pub(crate) config: Arc<ClientConfig>,
    pub(crate) peer: SocketAddr,
    pub(crate) decoder: ReplyDecoder,
    pub(crate) inbuf: BytesMut,
    /// Outputs in the order they were made. Only ever pushed at the back, so `handle_*` calls
    /// between two `poll_output` calls queue behind what is still unpolled.
    pub(crate) out: VecDeque<ClientOutput>,
    pub(crate) next_id: u64,
    pub(crate) closed: bool,
    pub(crate) error: Option<ClientError>,
    pub(crate) tls_control: bool,
    pub(crate) data_tls: bool,
    pub(crate) login: Option<LoginStep>,
    pub(crate) greeting: Option<Reply>,
    pub(crate) features: Features,
    pub(crate) queue: VecDeque<(OpId, Op)>,
    pub(crate) current: Option<Current>,
    pub(crate) quitting: bool,
    pub(crate) reply_deadline: Option<Instant>,
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
        if data.is_empty() {
            return Ok(());
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

    // ----- internals: queue -----

    pub(crate) fn next_op(&mut self) -> OpId {
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

    pub(crate) fn simple(
        &mut self,
        now: Instant,
        kind: Simple,
        cmd: Command,
    ) -> Result<OpId, ClientError> {
        validate(&cmd)?;
        self.enqueue(now, Op::Simple(kind, cmd))
    }

    pub(crate) fn transfer(
        &mut self,
        now: Instant,
        kind: TransferKind,
    ) -> Result<OpId, ClientError> {
        validate(&kind.command())?;
        let t = Transfer::new(kind, &self.config);
        self.enqueue(now, Op::Transfer(Box::new(t)))
    }

    pub(crate) fn enqueue(&mut self, now: Instant, op: Op) -> Result<OpId, ClientError> {
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

    pub(crate) fn decode_replies(&mut self, now: Instant, eof: bool) {
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
    pub(crate) fn awaiting_reply(&self) -> bool {
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

    pub(crate) fn reply_timer_running(&self) -> bool {
        match &self.current {
            // After the final reply, the end of data is still due: without a data connection
            // (an active-mode server that never connected) nothing else would end the wait.
            Some(Current {
                op: Op::Transfer(t),
                ..
            }) if self.login.is_none() => {
                !t.data_moving() && (t.awaiting_reply() || matches!(t.stage, Stage::Finishing))
            }
            _ => self.awaiting_reply(),
        }
    }

    pub(crate) fn on_reply(&mut self, now: Instant, reply: Reply) {
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
    pub(crate) fn close_quietly(&mut self) {
        while let Some((id, _)) = self.queue.pop_front() {
            self.out.push_back(ClientOutput::Completed(
                id,
                Err(OpError::Session(ClientError::Closed)),
            ));
        }
        self.out.push_back(ClientOutput::Close);
        self.closed = true;
    }
}
