//! The server state machine: one [`ServerSession`] per control connection.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::addr::{self, EpsvArg};
use crate::command::{
    split_list_arg, Command, CommandError, ProtLevel, SiteCommand, Structure, TransferMode,
    TypeCode,
};
use crate::line::{Line, LineConfig, LineDecoder, LineError};
use crate::listing::{self, FactSet};
use crate::path::VirtualPath;
use crate::reply::ReplyCode;

use super::config::{canonical_ip, ServerConfig, TlsMode};
use super::types::*;
use super::{is_anonymous_user, SessionError};

mod commands;
mod transfer;

/// A command waiting for the application's answer, and what the answer will complete.
#[derive(Debug)]
enum Pending {
    Login,
    /// The failed-login delay: the 530 (or 421) goes out at `until`. `user` is the name
    /// tried, for the notice of a close.
    LoginDelay {
        until: Instant,
        close: bool,
        user: Bytes,
    },
    Cwd(VirtualPath),
    Mkd(VirtualPath),
    /// RMD, DELE, RNTO, MFMT, SITE CHMOD: success is one fixed reply.
    Simple {
        code: u16,
        text: &'static str,
    },
    Mfmt {
        path: VirtualPath,
        time: crate::time::Timestamp,
    },
    Size,
    Mdtm,
    Mlst(VirtualPath),
    Rnfr(VirtualPath),
    StatPath,
    /// PASV/EPSV/LPSV: the reply needs the bound port.
    Listen(PassiveForm),
    /// A Stat made before opening a transfer, so that a command the RFCs refuse is refused
    /// before any 150 and without the storage's cooperation: on `Metadata` that passes
    /// `check`, `next` goes out as the transfer's open request.
    Vet {
        check: Vet,
        next: StorageRequest,
    },
    /// RETR/STOR/APPE/STOU/LIST/NLST/MLSD: on `Opened` the transfer starts.
    Open {
        direction: Direction,
        unique: bool,
        listing: bool,
    },
}

/// What a [`Pending::Vet`] Stat must show before the transfer is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Vet {
    /// MLSD of a path: a directory (RFC 3659 §7.2.1, otherwise 501 and no data connection).
    Directory,
    /// RETR after REST: the offset is not beyond the end of the file (otherwise 554).
    RestWithin(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PassiveForm {
    Pasv,
    Epsv,
    Lpsv,
}

#[derive(Debug)]
enum Channel {
    /// Waiting for the adapter's `Listening`.
    Binding,
    Listening,
    Active(SocketAddr),
    /// Connected (passive accept reported ready before any transfer asked for it).
    Ready {
        tls_resumed: Option<bool>,
    },
}

#[derive(Debug)]
struct Data {
    id: DataId,
    channel: Channel,
}

#[derive(Debug, PartialEq, Eq)]
enum Stage {
    /// 150 sent; waiting for the data connection (accept or connect). No deadline when the
    /// data timeout is too large to add to the clock.
    Connecting { deadline: Option<Instant> },
    /// The `Transfer` intent is out. `deadline`: when the transfer counts as stalled unless a
    /// progress report moves it; `moved`: the last cumulative byte count reported.
    Running {
        deadline: Option<Instant>,
        moved: u64,
    },
}

impl Stage {
    fn is_running(&self) -> bool {
        matches!(self, Stage::Running { .. })
    }
}

#[derive(Debug)]
struct Transfer {
    data: DataId,
    source: RequestId,
    direction: Direction,
    ascii: bool,
    stage: Stage,
    /// The data connection may run TLS (PROT P, or the adapter reported a TLS session): an
    /// end-of-stream without `close_notify` is then a truncation.
    tls: bool,
}

#[derive(Debug, Default)]
struct Tls {
    /// The control connection is protected.
    control: bool,
    /// PBSZ was accepted (PROT needs it).
    pbsz: bool,
    /// PROT P is in force.
    private: bool,
    /// CCC cleared the control channel: no more PBSZ/PROT.
    cleared: bool,
    /// StartTls was emitted and the handshake result is not in yet.
    handshaking: bool,
}

/// One FTP control connection's server state, driven by bytes, events and time.
///
/// See the [module docs](crate::server) for the drive loop and the contract. `handle_*` may be
/// called between two [`poll_output`](Self::poll_output) calls of a drain: its outputs queue
/// after the ones not yet polled, in order.
#[derive(Debug)]
pub struct ServerSession {
    config: Arc<ServerConfig>,
    peer: SocketAddr,
    local: SocketAddr,
    lines: LineDecoder,
    /// Input the decoder had no room for, framed as commands are served.
    held: BytesMut,
    queue: VecDeque<Result<Line, LineError>>,
    out: VecDeque<ServerOutput>,
    /// Replies not yet moved to `out`, coalesced so one read of many commands is one write.
    send: BytesMut,
    /// Bytes in `out`'s Send items plus `send`.
    queued_bytes: usize,
    next_id: u64,
    closed: bool,
    // login
    user: Option<Bytes>,
    account: Option<Bytes>,
    host: Option<Bytes>,
    logged_in: bool,
    permissions: Permissions,
    failed_logins: u32,
    // state
    cwd: VirtualPath,
    ascii: bool,
    rest: Option<u64>,
    rename_from: Option<VirtualPath>,
    mlst_facts: FactSet,
    epsv_all: bool,
    tls: Tls,
    pending: Option<(RequestId, Pending)>,
    data: Option<Data>,
    transfer: Option<Transfer>,
    quit_after_transfer: bool,
    /// The server is shutting down: 421 and close once the running transfer ends.
    shutdown_after_transfer: bool,
    idle_deadline: Option<Instant>,
    /// When a session that has not logged in is closed; `None` once logged in, or when the
    /// login timeout is too large for the clock.
    login_deadline: Option<Instant>,
    /// The latest time any `handle_*` call passed in, for work resumed from `poll_output`.
    now: Instant,
}

const ALL_FACTS: FactSet = FactSet::ALL;

impl ServerSession {
    /// Starts a session for a new control connection from `peer` accepted on `local`, and
    /// queues the 220 greeting. Drain [`poll_output`](Self::poll_output) next.
    ///
    /// With [`TlsMode::Implicit`] the adapter runs TLS from the first byte, and the session
    /// starts with the control connection protected.
    pub fn new(
        config: Arc<ServerConfig>,
        peer: SocketAddr,
        local: SocketAddr,
        now: Instant,
    ) -> Self {
        let lines = LineDecoder::new(LineConfig::default().max_line_len(config.max_line_len));
        let implicit = config.tls == TlsMode::Implicit;
        let mut s = ServerSession {
            lines,
            held: BytesMut::new(),
            queue: VecDeque::new(),
            out: VecDeque::new(),
            send: BytesMut::new(),
            queued_bytes: 0,
            next_id: 1,
            closed: false,
            user: None,
            account: None,
            host: None,
            logged_in: false,
            permissions: Permissions::ALL,
            failed_logins: 0,
            cwd: VirtualPath::root(),
            ascii: false,
            rest: None,
            rename_from: None,
            mlst_facts: FactSet::DEFAULT,
            epsv_all: false,
            tls: Tls {
                control: implicit,
                ..Tls::default()
            },
            pending: None,
            data: None,
            transfer: None,
            quit_after_transfer: false,
            shutdown_after_transfer: false,
            idle_deadline: None,
            login_deadline: now.checked_add(config.login_timeout),
            now,
            peer,
            local,
            config,
        };
        let greeting = s.config.greeting.clone();
        s.reply(220, greeting.as_bytes());
        s.touch(now);
        s
    }

    /// Feeds bytes read from the control connection. Commands are framed, queued and served
    /// one at a time, in order. Errs only after the session has closed.
    ///
    /// Any number of pipelined commands may come in one call: the session frames up to
    /// [`ServerConfig::max_pending_commands`] of them and keeps the rest as bytes, framing
    /// more as commands are served (also from [`poll_output`](Self::poll_output), as the
    /// caller drains the replies). [`wants_read`](Self::wants_read) is false until it can
    /// take more. Bytes beyond the line decoder's buffer that are fed regardless and pile up
    /// past [`ServerConfig::max_buffered_input`] get 421 and close the session.
    pub fn handle_input(&mut self, now: Instant, mut data: &[u8]) -> Result<(), SessionError> {
        if self.closed {
            return Err(SessionError::Closed);
        }
        if self.held.is_empty() {
            let taken = self.lines.feed(data);
            data = data.get(taken..).unwrap_or_default();
        }
        self.held.extend_from_slice(data);
        self.frame();
        self.process(now);
        if self.held.len() > self.config.max_buffered_input {
            self.reply(
                421,
                b"Too many commands waiting; closing control connection.",
            );
            self.close();
        }
        Ok(())
    }

    /// Bytes of control input received and not served yet: unframed bytes and the commands
    /// waiting in the queue. With an adapter that reads only while
    /// [`wants_read`](Self::wants_read) is true, this stays within the line decoder's buffer
    /// (16 KiB by default) plus one read.
    pub fn buffered_input(&self) -> usize {
        let queued: usize = self
            .queue
            .iter()
            .map(|l| l.as_ref().map_or(0, |l| l.as_bytes().len()))
            .sum();
        self.held.len() + self.lines.buffered().len() + queued
    }

    /// Feeds what the adapter did or learned: an answer, a data-channel outcome, a TLS result.
    /// Errs if the event names a request or data channel this session is not waiting on.
    pub fn handle_event(&mut self, now: Instant, event: ServerEvent) -> Result<(), SessionError> {
        if self.closed {
            return Err(SessionError::Closed);
        }
        match event {
            ServerEvent::Answer(id, answer) => self.on_answer(now, id, answer)?,
            ServerEvent::Listening { id, addr } => self.on_listening(now, id, addr)?,
            ServerEvent::ListenFailed { id } => {
                self.expect_data(id)?;
                self.data = None;
                if let Some((_, Pending::Listen(_))) = self.pending {
                    self.pending = None;
                    self.reply(425, b"Can't open passive connection: no port available.");
                }
                // A listener lost while a transfer waits on it: no connection can come now, so
                // answer at once rather than at the data timeout.
                if self
                    .transfer
                    .as_ref()
                    .is_some_and(|t| t.data == id && !t.stage.is_running())
                {
                    self.end_transfer_early();
                    self.reply(425, b"Can't open data connection.");
                    self.after_transfer(now);
                }
            }
            ServerEvent::DataReady { id, tls_resumed } => {
                self.on_data_ready(now, id, tls_resumed)?
            }
            ServerEvent::DataFailed { id } => {
                self.expect_data(id)?;
                self.data = None;
                if self.transfer.as_ref().is_some_and(|t| t.data == id) {
                    self.end_transfer_early();
                    self.reply(425, b"Can't open data connection.");
                    self.after_transfer(now);
                }
            }
            ServerEvent::TransferDone { id, bytes } => {
                self.take_transfer(id)?;
                self.transfer_complete(bytes);
                self.after_transfer(now);
            }
            ServerEvent::TransferTruncated { id, bytes } => {
                let t = self.take_transfer(id)?;
                if t.direction == Direction::Receive
                    && t.tls
                    && !self.config.accept_truncated_tls_uploads
                {
                    self.notice(Notice::TransferAborted {
                        id,
                        direction: t.direction,
                        cause: AbortCause::TruncatedTlsUpload { bytes },
                    });
                    self.reply(
                        451,
                        b"Upload incomplete: TLS data connection closed without close_notify.",
                    );
                } else {
                    self.transfer_complete(bytes);
                }
                self.after_transfer(now);
            }
            ServerEvent::TransferFailed { id, error } => {
                let t = self.take_transfer(id)?;
                let (code, text): (u16, &[u8]) = match error {
                    TransferError::ConnectionLost => (426, b"Connection closed; transfer aborted."),
                    TransferError::Local => (451, b"Local error in processing; transfer aborted."),
                    TransferError::NoSpace if t.direction == Direction::Receive => {
                        (552, b"Exceeded storage allocation; transfer aborted.")
                    }
                    TransferError::NoSpace => (452, b"Insufficient storage space."),
                };
                self.reply(code, text);
                self.after_transfer(now);
            }
            ServerEvent::TlsEstablished => {
                if !self.tls.handshaking {
                    return Err(SessionError::UnexpectedEvent("TlsEstablished"));
                }
                self.tls.handshaking = false;
                self.tls.control = true;
            }
            ServerEvent::TlsFailed => {
                self.tls.handshaking = false;
                self.close();
            }
        }
        self.process(now);
        Ok(())
    }

    /// Reports that the transfer on data channel `id` has moved `bytes` bytes so far, counted
    /// from its start (a running total: cheap to keep in an atomic that the data task bumps).
    ///
    /// A transfer must show progress: when its [`DataIntent::Transfer`] goes out, the session
    /// sets a deadline of `now` plus [`ServerConfig::data_timeout`], and a report with a count
    /// greater than the last one moves it to `now` plus the timeout again. When the deadline
    /// passes, [`handle_timeout`](Self::handle_timeout) aborts the transfer
    /// ([`DataIntent::Abort`]) and replies 426; the session then goes on as after any failed
    /// transfer. Reports for another or an unknown channel, or without a greater count, change
    /// nothing.
    ///
    /// The adapter need not report on every write. It must report, though, when the
    /// [`poll_timeout`](Self::poll_timeout) timer fires: first the current count of each
    /// running transfer, then `handle_timeout`, so that a transfer that moved bytes since its
    /// last report is not taken for stalled. Nothing is emitted: no drain is needed after this
    /// call alone.
    pub fn handle_data_progress(&mut self, now: Instant, id: DataId, bytes: u64) {
        if self.closed {
            return;
        }
        self.now = self.now.max(now);
        let timeout = self.config.data_timeout;
        if let Some(Transfer {
            data,
            stage: Stage::Running { deadline, moved },
            ..
        }) = &mut self.transfer
        {
            if *data == id && bytes > *moved {
                *moved = bytes;
                *deadline = now.checked_add(timeout);
            }
        }
    }

    /// Reports a connection accepted on the passive listener of channel `id` from `peer`, and
    /// says whether to use it. A connection from a host other than the client is rejected
    /// (port stealing, RFC 2577) while the listener keeps waiting for the real client.
    ///
    /// A rejection also queues a [`Notice::PassiveRefused`] saying why: drain
    /// [`poll_output`](Self::poll_output) afterwards, as after any `handle_*` call.
    pub fn handle_data_accept(
        &mut self,
        now: Instant,
        id: DataId,
        peer: SocketAddr,
    ) -> Result<Accept, SessionError> {
        if self.closed {
            return Err(SessionError::Closed);
        }
        let data = self
            .data
            .as_ref()
            .filter(|d| d.id == id)
            .ok_or(SessionError::UnknownData(id))?;
        let reason = if !matches!(data.channel, Channel::Listening) {
            Some(PassiveRefusal::NotWaiting)
        } else if !self.config.allow_foreign_passive
            && canonical_ip(peer.ip()) != canonical_ip(self.peer.ip())
        {
            Some(PassiveRefusal::ForeignHost)
        } else {
            None
        };
        if let Some(reason) = reason {
            self.notice(Notice::PassiveRefused { from: peer, reason });
            return Ok(Accept::Reject);
        }
        let _ = now;
        Ok(Accept::Use {
            tls: self.tls.private,
        })
    }

    /// Fires the timers whose deadline is at or before `now`. Harmless when none is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.closed || self.login_expired(now) {
            return;
        }
        if let Some((_, Pending::LoginDelay { until, .. })) = &self.pending {
            if *until <= now {
                let Some((_, Pending::LoginDelay { close, user, .. })) = self.pending.take() else {
                    unreachable!("matched just above");
                };
                if close {
                    self.notice(Notice::LoginRefused {
                        user,
                        reason: LoginRefusal::TooManyFailures,
                    });
                    self.reply(421, b"Too many failed logins; closing control connection.");
                    self.close();
                    return;
                }
                self.reply(530, b"Login incorrect.");
            }
        }
        if let Some(Transfer {
            stage: Stage::Connecting {
                deadline: Some(deadline),
            },
            data,
            ..
        }) = &self.transfer
        {
            if *deadline <= now {
                let id = *data;
                self.data = None;
                self.push_out(ServerOutput::Data(DataIntent::Close { id }));
                self.end_transfer_early();
                self.reply(425, b"Can't open data connection: timed out.");
                self.after_transfer(now);
            }
        }
        if let Some(Transfer {
            stage:
                Stage::Running {
                    deadline: Some(deadline),
                    ..
                },
            ..
        }) = &self.transfer
        {
            if *deadline <= now {
                // No byte moved for a whole data timeout (as far as the adapter reported): a
                // peer that stops reading or writing must not hold the session forever.
                self.data = None;
                self.abort_transfer(AbortCause::DataTimeout);
                self.reply(426, b"Data connection timed out; transfer aborted.");
                self.after_transfer(now);
            }
        }
        if self.closed {
            // A QUIT or shutdown waiting for the transfer went ahead.
            return;
        }
        if let Some(deadline) = self.idle_deadline {
            if deadline <= now && self.is_idle() {
                self.reply(421, b"Timeout: closing control connection.");
                self.close();
                return;
            }
        }
        self.process(now);
    }

    /// Starts a graceful shutdown: an idle session gets 421 and closes now; a session with a
    /// transfer running lets it finish (its 226 or error reply goes out), then gets 421 and
    /// closes. Commands that arrive meanwhile are not served. Drain
    /// [`poll_output`](Self::poll_output) afterwards.
    pub fn handle_shutdown(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        self.drop_received_commands();
        if self.transfer.is_some() {
            self.shutdown_after_transfer = true;
            return;
        }
        self.pending = None;
        self.reply(421, b"Server shutting down.");
        self.close();
        self.touch(now);
    }

    /// Reports that the control connection has closed (the client went away or the socket
    /// failed). A running transfer is aborted and the data channel released; the session ends
    /// with [`ServerOutput::Close`] and sends nothing more.
    pub fn handle_control_closed(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        self.send.clear();
        self.out.retain(|o| !matches!(o, ServerOutput::Send(_)));
        self.queued_bytes = 0;
        self.close();
        self.touch(now);
    }

    /// The next thing for the adapter to do, or `None` when there is nothing left. Call it
    /// until `None` after every `handle_*` call.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<ServerOutput> {
        if self.out.is_empty() {
            self.flush_send();
            let input_waits = !self.queue.is_empty() || !self.held.is_empty();
            if self.out.is_empty() && (input_waits || !self.lines.buffered().is_empty()) {
                // Processing paused at the output limit and the caller has drained since:
                // serve the waiting commands now rather than wait for more input.
                self.process(self.now);
                self.flush_send();
            }
        }
        let out = self.out.pop_front()?;
        if let ServerOutput::Send(b) = &out {
            self.queued_bytes = self.queued_bytes.saturating_sub(b.len());
        }
        Some(out)
    }

    /// The earliest instant at which [`handle_timeout`](Self::handle_timeout) has work to do:
    /// a login delay, the login timeout ([`ServerConfig::login_timeout`], until a login
    /// succeeds), the data connection's deadline, a running transfer's stall deadline
    /// (see [`handle_data_progress`](Self::handle_data_progress)) or the idle timeout.
    ///
    /// While a transfer runs, the adapter, when this timer fires, first reports each running
    /// transfer's current byte count with `handle_data_progress` and only then calls
    /// `handle_timeout`, then asks for the timer again: a transfer that moved bytes since its
    /// last report gets a new deadline instead of being aborted.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        let mut t: Option<Instant> = None;
        let mut earliest = |d: Instant| t = Some(t.map_or(d, |x| x.min(d)));
        if let Some((_, Pending::LoginDelay { until, .. })) = &self.pending {
            earliest(*until);
        }
        if let Some(d) = self.login_deadline {
            earliest(d);
        }
        if let Some(Transfer {
            stage:
                Stage::Connecting {
                    deadline: Some(deadline),
                }
                | Stage::Running {
                    deadline: Some(deadline),
                    ..
                },
            ..
        }) = &self.transfer
        {
            earliest(*deadline);
        }
        if let Some(d) = self.idle_deadline {
            if self.is_idle() {
                earliest(d);
            }
        }
        t
    }

    /// Whether the adapter should read more from the control connection now. False while
    /// the command queue is full ([`ServerConfig::max_pending_commands`]) or input waits to
    /// be framed, while replies wait to be drained, during the TLS handshake and after close.
    /// Read at most one fixed-size buffer (8-64 KiB) per call to
    /// [`handle_input`](Self::handle_input) and only while this is true: the input the
    /// session holds then stays bounded by the decoder's buffer plus that read.
    pub fn wants_read(&self) -> bool {
        !self.closed
            && !self.tls.handshaking
            && self.queue.len() < self.pending_cap()
            && self.held.is_empty()
            && self.queued_bytes < self.config.max_queued_output
    }

    /// Whether the session has ended ([`ServerOutput::Close`] was emitted).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The logged-in user's name, if a login succeeded.
    pub fn user(&self) -> Option<&[u8]> {
        self.user.as_deref().filter(|_| self.logged_in)
    }

    /// The current directory.
    pub fn cwd(&self) -> &VirtualPath {
        &self.cwd
    }

    // ----- internals -----

    fn is_idle(&self) -> bool {
        self.pending.is_none() && self.transfer.is_none()
    }

    /// Closes the session with 421 if it has not logged in by its login deadline. Checked
    /// wherever commands could be served, not only when the timer fires, so that input that
    /// arrives late cannot log in past the deadline.
    fn login_expired(&mut self, now: Instant) -> bool {
        if self.closed || self.login_deadline.is_none_or(|d| now < d) {
            return false;
        }
        self.reply(421, b"Login timeout; closing control connection.");
        self.close();
        true
    }

    /// How many framed commands may wait; one at least, or nothing could ever be served.
    fn pending_cap(&self) -> usize {
        self.config.max_pending_commands.max(1)
    }

    /// Frames buffered input into the command queue until the queue is full or no complete
    /// line is left, moving held bytes into the decoder as it makes room. Lines stay unframed
    /// while the queue is full, so the memory pipelining costs is bounded by the bytes, not by
    /// a count of commands.
    fn frame(&mut self) {
        while self.queue.len() < self.pending_cap() {
            match self.lines.decode() {
                Ok(Some(line)) => self.queue.push_back(Ok(line)),
                Err(e) => self.queue.push_back(Err(e)),
                Ok(None) => {
                    let taken = self.lines.feed(&self.held);
                    if taken == 0 {
                        break;
                    }
                    self.held.advance(taken);
                }
            }
        }
        if let Some(telnet) = self.lines.take_telnet_replies() {
            self.push_out(ServerOutput::Send(telnet));
        }
    }

    /// Drops every command received so far, framed or not, keeping only a partial last line
    /// (so that input arriving later still frames where the client's line breaks are).
    fn drop_received_commands(&mut self) {
        loop {
            self.queue.clear();
            self.frame();
            if self.queue.is_empty() {
                break;
            }
        }
    }

    fn touch(&mut self, now: Instant) {
        self.idle_deadline = now.checked_add(self.config.idle_timeout);
    }

    fn next_request(&mut self) -> RequestId {
        let id = RequestId(self.next_id);
        self.next_id += 1;
        id
    }

    fn next_data(&mut self) -> DataId {
        let id = DataId(self.next_id);
        self.next_id += 1;
        id
    }

    fn reply(&mut self, code: u16, text: &[u8]) {
        let code = ReplyCode::new(code).unwrap_or(ReplyCode::LOCAL_ERROR);
        let before = self.send.len();
        crate::reply::Reply::write(code, text, &mut self.send);
        self.queued_bytes += self.send.len() - before;
    }

    fn flush_send(&mut self) {
        if !self.send.is_empty() {
            let bytes = self.send.split().freeze();
            self.out.push_back(ServerOutput::Send(bytes));
        }
    }

    // Every output goes to the back of `out`, and replies wait in `send` only until the next
    // push, which flushes them first: so outputs leave in the order they were made, however
    // `handle_*` and `poll_output` calls interleave.
    fn push_out(&mut self, out: ServerOutput) {
        self.flush_send();
        self.out.push_back(out);
    }

    fn request(&mut self, pending: Pending, request: Request) {
        let id = self.next_request();
        self.pending = Some((id, pending));
        self.push_out(ServerOutput::Request(id, request));
    }

    fn storage(&mut self, pending: Pending, request: StorageRequest) {
        self.request(pending, Request::Storage(request));
    }

    fn close(&mut self) {
        if self.closed {
            return;
        }
        if self.transfer.is_some() {
            self.abort_transfer(AbortCause::SessionClosed);
        } else if let Some(d) = self.data.take() {
            self.push_out(ServerOutput::Data(DataIntent::Close { id: d.id }));
        }
        self.push_out(ServerOutput::Close);
        self.closed = true;
        self.queue.clear();
        self.held = BytesMut::new();
        self.lines.discard_buffered();
        self.pending = None;
    }

    fn expect_data(&self, id: DataId) -> Result<(), SessionError> {
        if self.data.as_ref().is_some_and(|d| d.id == id)
            || self.transfer.as_ref().is_some_and(|t| t.data == id)
        {
            Ok(())
        } else {
            Err(SessionError::UnknownData(id))
        }
    }

    /// Aborts the running (or connecting) transfer: its notice, then the intent.
    fn abort_transfer(&mut self, cause: AbortCause) {
        if let Some(t) = &self.transfer {
            let (id, direction) = (t.data, t.direction);
            self.notice(Notice::TransferAborted {
                id,
                direction,
                cause,
            });
            self.push_out(ServerOutput::Data(DataIntent::Abort { id }));
            self.end_transfer_early();
        }
    }

    // Through `push_out` like any output, so that a notice never overtakes the replies made
    // before it and a log reads in the order the client saw things happen.
    fn notice(&mut self, notice: Notice) {
        self.push_out(ServerOutput::Notice(notice));
    }

    /// Ends the transfer before its normal end. A handle that no `Transfer` intent took yet is
    /// released here, the one place that knows whether it was, so that the adapter never keeps
    /// an open file for a transfer that will not come.
    fn end_transfer_early(&mut self) {
        if let Some(t) = self.transfer.take() {
            if !t.stage.is_running() {
                self.push_out(ServerOutput::Release(t.source));
            }
        }
    }

    fn take_transfer(&mut self, id: DataId) -> Result<Transfer, SessionError> {
        match &self.transfer {
            Some(t) if t.data == id && t.stage.is_running() => {}
            _ => return Err(SessionError::UnknownData(id)),
        }
        self.data = None;
        self.transfer.take().ok_or(SessionError::UnknownData(id))
    }

    fn transfer_complete(&mut self, bytes: u64) {
        let text = format!("Transfer complete ({bytes} bytes).");
        self.reply(226, text.as_bytes());
    }

    fn after_transfer(&mut self, now: Instant) {
        self.touch(now);
        if self.quit_after_transfer {
            self.quit_after_transfer = false;
            self.reply(221, b"Goodbye.");
            self.close();
        } else if self.shutdown_after_transfer {
            self.reply(421, b"Server shutting down.");
            self.close();
        }
    }

    /// Serves queued commands until one has to wait (for an answer, a transfer, a timer or
    /// the caller draining output).
    fn process(&mut self, now: Instant) {
        self.now = self.now.max(now);
        if self.login_expired(self.now) {
            return;
        }
        while !self.closed
            && !self.tls.handshaking
            && self.queued_bytes < self.config.max_queued_output
        {
            self.frame();
            if self.transfer.is_some() {
                // During a transfer only ABOR, STAT and QUIT are served (RFC 959 §4.1.3);
                // other commands wait their turn behind it. One that is not framed yet because
                // the queue is full waits too, as it would in the socket if the adapter had
                // not read it.
                let Some(pos) = self.queue.iter().position(is_transfer_time_command) else {
                    return;
                };
                let Some(Ok(line)) = self.queue.remove(pos) else {
                    return;
                };
                self.serve_during_transfer(now, line);
                continue;
            }
            if self.pending.is_some() {
                return;
            }
            let Some(item) = self.queue.pop_front() else {
                return;
            };
            self.touch(now);
            match item {
                Err(e) => {
                    let code = e.reply_code();
                    self.reply(code, b"Command line too long.");
                }
                Ok(line) => self.serve_line(now, line),
            }
        }
    }

    fn serve_during_transfer(&mut self, now: Instant, line: Line) {
        match Command::decode(line.into_bytes()) {
            Ok(Command::Abor) => {
                if self.transfer.is_some() {
                    self.data = None;
                    self.abort_transfer(AbortCause::ClientAbort);
                    self.reply(426, b"Connection closed; transfer aborted.");
                    self.reply(226, b"Abort successful.");
                }
                self.after_transfer(now);
            }
            Ok(Command::Quit) => self.quit_after_transfer = true,
            Ok(Command::Stat(_)) => self.reply(211, b"Transfer in progress."),
            _ => self.reply(500, b"Command not understood during a transfer."),
        }
    }

    fn serve_line(&mut self, now: Instant, line: Line) {
        let cmd = match Command::decode(line.into_bytes()) {
            Ok(cmd) => cmd,
            Err(e) => {
                self.rename_from = None;
                return self.reply_command_error(&e);
            }
        };
        if !matches!(cmd, Command::Rnto(_)) {
            self.rename_from = None;
        }
        // REST belongs to the transfer that follows it (RFC 959, RFC 3659 §5): it survives the
        // data-channel and representation commands clients send in between, and nothing else,
        // so a stale offset never lands on a later, unrelated upload.
        if !matches!(
            cmd,
            Command::Rest(_)
                | Command::Retr(_)
                | Command::Stor(_)
                | Command::Appe(_)
                | Command::Stou(_)
                | Command::Port(_)
                | Command::Eprt(_)
                | Command::Lprt(_)
                | Command::Pasv
                | Command::Epsv(_)
                | Command::Lpsv
                | Command::Type(_)
                | Command::Mode(_)
                | Command::Stru(_)
                | Command::Noop
                | Command::Pbsz(_)
                | Command::Prot(_)
        ) {
            self.rest = None;
        }
        if !self.logged_in && !allowed_before_login(&cmd) {
            return self.reply(530, b"Please login with USER and PASS.");
        }
        self.serve(now, cmd);
    }

    fn reply_command_error(&mut self, e: &CommandError) {
        // An unknown network family must be answered with the families the server does
        // support, in the form each RFC fixes (RFC 2428 §2 for EPRT/EPSV, a MUST; RFC 1639 §4
        // for LPRT), so the client can retry with one of them.
        if let CommandError::Address {
            source: addr::AddrError::UnsupportedFamily(grammar),
            ..
        } = e
        {
            let text: &[u8] = match grammar {
                addr::Grammar::Long => b"Supported address families are (4, 6)",
                _ => b"Network protocol not supported, use (1,2)",
            };
            return self.reply(e.reply_code(), text);
        }
        let text = e.to_string();
        self.reply(e.reply_code(), text.as_bytes());
    }

    fn resolve(&mut self, path: &[u8]) -> Option<VirtualPath> {
        match self.cwd.resolve(path) {
            Ok(p) => Some(p),
            Err(e) => {
                let text = e.to_string();
                self.reply(e.reply_code(), text.as_bytes());
                None
            }
        }
    }

    /// Resolves the path of something about to be created. A name with control bytes would
    /// come back altered or unparseable in 257 replies and listings (a CR turns into a space,
    /// LIST refuses line breaks, clients reject control bytes in 257), so it gets 553.
    fn resolve_new(&mut self, path: &[u8]) -> Option<VirtualPath> {
        if path.iter().any(|&b| b < 0x20 || b == 0x7f) {
            self.reply(553, b"File name not allowed: control characters.");
            return None;
        }
        self.resolve(path)
    }

    /// Whether the user has `needed`; answers 550 naming it when not.
    fn permitted(&mut self, needed: Permissions) -> bool {
        if self.permissions.contains(needed) {
            return true;
        }
        let name = needed.names().next().unwrap_or("do this");
        let text = if self.permissions.can_write() {
            format!("Permission denied: this user may not {name}.")
        } else {
            format!("Permission denied: read-only session, this user may not {name}.")
        };
        self.reply(550, text.as_bytes());
        false
    }

    fn tls_required_but_missing(&self) -> bool {
        self.config.tls == TlsMode::ExplicitRequired && !self.tls.control
    }
}

fn allowed_before_login(cmd: &Command) -> bool {
    matches!(
        cmd,
        Command::User(_)
            | Command::Pass(_)
            | Command::Acct(_)
            | Command::Quit
            | Command::Feat
            | Command::Help(_)
            | Command::Noop
            | Command::Syst
            | Command::Stat(None)
            | Command::Auth(_)
            | Command::Pbsz(_)
            | Command::Prot(_)
            | Command::Ccc
            | Command::Host(_)
            | Command::Clnt(_)
            | Command::Opts { .. }
            | Command::Lang(_)
            | Command::Rein
            | Command::Adat(_)
            | Command::Unknown { .. }
    )
}

/// Whether a queued line is one of the commands served while a transfer runs.
fn is_transfer_time_command(item: &Result<Line, LineError>) -> bool {
    let Ok(line) = item else { return false };
    let b = line.as_bytes();
    let verb = b.split(|&c| c == b' ').next().unwrap_or_default();
    [&b"ABOR"[..], b"STAT", b"QUIT"]
        .iter()
        .any(|v| verb.eq_ignore_ascii_case(v))
}

/// `"path"` with every `"` doubled (RFC 959 Appendix II), then `suffix`.
fn quote_path(path: &[u8], suffix: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len() + suffix.len() + 2);
    out.push(b'"');
    for &b in path {
        out.push(b);
        if b == b'"' {
            out.push(b'"');
        }
    }
    out.push(b'"');
    out.extend_from_slice(suffix);
    out
}
