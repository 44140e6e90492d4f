//! The server state machine: one [`ServerSession`] per control connection.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};

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
use super::SessionError;

/// A command waiting for the application's answer, and what the answer will complete.
#[derive(Debug)]
enum Pending {
    Login,
    /// The failed-login delay: the 530 (or 421) goes out at `until`.
    LoginDelay {
        until: Instant,
        close: bool,
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
    /// RETR/STOR/APPE/STOU/LIST/NLST/MLSD: on `Opened` the transfer starts.
    Open {
        direction: Direction,
        unique: bool,
        listing: bool,
    },
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
    /// 150 sent; waiting for the data connection (accept or connect).
    Connecting {
        deadline: Instant,
    },
    Running,
}

#[derive(Debug)]
struct Transfer {
    data: DataId,
    source: RequestId,
    direction: Direction,
    ascii: bool,
    stage: Stage,
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
/// See the [module docs](crate::server) for the drive loop and the contract.
#[derive(Debug)]
pub struct ServerSession {
    config: Arc<ServerConfig>,
    peer: SocketAddr,
    local: SocketAddr,
    lines: LineDecoder,
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
    read_only: bool,
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
    idle_deadline: Option<Instant>,
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
            read_only: false,
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
            idle_deadline: None,
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
    pub fn handle_input(&mut self, now: Instant, mut data: &[u8]) -> Result<(), SessionError> {
        if self.closed {
            return Err(SessionError::Closed);
        }
        while !data.is_empty() {
            let taken = self.lines.feed(data);
            data = data.get(taken..).unwrap_or_default();
            let mut progressed = taken > 0;
            loop {
                match self.lines.decode() {
                    Ok(Some(line)) => self.queue.push_back(Ok(line)),
                    Ok(None) => break,
                    Err(e) => self.queue.push_back(Err(e)),
                }
                progressed = true;
                if self.queue.len() > self.config.max_pending_commands {
                    self.reply(
                        421,
                        b"Too many commands waiting; closing control connection.",
                    );
                    self.close();
                    return Ok(());
                }
            }
            if let Some(telnet) = self.lines.take_telnet_replies() {
                self.flush_send();
                self.push_out(ServerOutput::Send(telnet));
            }
            if !progressed {
                break;
            }
        }
        self.process(now);
        Ok(())
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
            }
            ServerEvent::DataReady { id, tls_resumed } => {
                self.on_data_ready(now, id, tls_resumed)?
            }
            ServerEvent::DataFailed { id } => {
                self.expect_data(id)?;
                self.data = None;
                if self.transfer.as_ref().is_some_and(|t| t.data == id) {
                    self.transfer = None;
                    self.reply(425, b"Can't open data connection.");
                    self.after_transfer(now);
                }
            }
            ServerEvent::TransferDone { id, bytes } => {
                self.take_transfer(id)?;
                let text = format!("Transfer complete ({bytes} bytes).");
                self.reply(226, text.as_bytes());
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

    /// Reports a connection accepted on the passive listener of channel `id` from `peer`, and
    /// says whether to use it. A connection from a host other than the client is rejected
    /// (port stealing, RFC 2577) while the listener keeps waiting for the real client.
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
        if !matches!(data.channel, Channel::Listening) {
            return Ok(Accept::Reject);
        }
        if !self.config.allow_foreign_passive
            && canonical_ip(peer.ip()) != canonical_ip(self.peer.ip())
        {
            return Ok(Accept::Reject);
        }
        let _ = now;
        Ok(Accept::Use {
            tls: self.tls.private,
        })
    }

    /// Fires the timers whose deadline is at or before `now`. Harmless when none is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        if let Some((_, Pending::LoginDelay { until, close })) = &self.pending {
            if *until <= now {
                let close = *close;
                self.pending = None;
                if close {
                    self.reply(421, b"Too many failed logins; closing control connection.");
                    self.close();
                    return;
                }
                self.reply(530, b"Login incorrect.");
            }
        }
        if let Some(Transfer {
            stage: Stage::Connecting { deadline },
            data,
            ..
        }) = &self.transfer
        {
            if *deadline <= now {
                let id = *data;
                self.transfer = None;
                self.data = None;
                self.push_out(ServerOutput::Data(DataIntent::Close { id }));
                self.reply(425, b"Can't open data connection: timed out.");
                self.after_transfer(now);
            }
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

    /// The next thing for the adapter to do, or `None` when there is nothing left. Call it
    /// until `None` after every `handle_*` call.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<ServerOutput> {
        if self.out.is_empty() {
            self.flush_send();
        }
        let out = self.out.pop_front()?;
        if let ServerOutput::Send(b) = &out {
            self.queued_bytes = self.queued_bytes.saturating_sub(b.len());
        }
        Some(out)
    }

    /// The earliest instant at which [`handle_timeout`](Self::handle_timeout) has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        let mut t: Option<Instant> = None;
        let mut earliest = |d: Instant| t = Some(t.map_or(d, |x| x.min(d)));
        if let Some((_, Pending::LoginDelay { until, .. })) = &self.pending {
            earliest(*until);
        }
        if let Some(Transfer {
            stage: Stage::Connecting { deadline },
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
    /// enough commands wait, while replies wait to be drained, during the TLS handshake and
    /// after close.
    pub fn wants_read(&self) -> bool {
        !self.closed
            && !self.tls.handshaking
            && self.queue.len() < self.config.max_pending_commands
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
        if let Some(t) = self.transfer.take() {
            self.push_out(ServerOutput::Data(DataIntent::Abort { id: t.data }));
        } else if let Some(d) = self.data.take() {
            self.push_out(ServerOutput::Data(DataIntent::Close { id: d.id }));
        }
        self.push_out(ServerOutput::Close);
        self.closed = true;
        self.queue.clear();
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

    fn take_transfer(&mut self, id: DataId) -> Result<Transfer, SessionError> {
        match &self.transfer {
            Some(t) if t.data == id && t.stage == Stage::Running => {}
            _ => return Err(SessionError::UnknownData(id)),
        }
        self.data = None;
        self.transfer.take().ok_or(SessionError::UnknownData(id))
    }

    fn after_transfer(&mut self, now: Instant) {
        self.touch(now);
        if self.quit_after_transfer {
            self.quit_after_transfer = false;
            self.reply(221, b"Goodbye.");
            self.close();
        }
    }

    /// Serves queued commands until one has to wait (for an answer, a transfer, a timer or
    /// the caller draining output).
    fn process(&mut self, now: Instant) {
        while !self.closed
            && !self.tls.handshaking
            && self.queued_bytes < self.config.max_queued_output
        {
            if self.transfer.is_some() {
                // During a transfer only ABOR, STAT and QUIT are served (RFC 959 §4.1.3);
                // other commands wait their turn behind it.
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
                if let Some(t) = self.transfer.take() {
                    self.data = None;
                    self.push_out(ServerOutput::Data(DataIntent::Abort { id: t.data }));
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
        if !self.logged_in && !allowed_before_login(&cmd) {
            return self.reply(530, b"Please login with USER and PASS.");
        }
        self.serve(now, cmd);
    }

    fn reply_command_error(&mut self, e: &CommandError) {
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

    fn writable(&mut self) -> bool {
        if self.read_only {
            self.reply(550, b"Permission denied: read-only session.");
        }
        !self.read_only
    }

    fn tls_required_but_missing(&self) -> bool {
        self.config.tls == TlsMode::ExplicitRequired && !self.tls.control
    }

    fn serve(&mut self, now: Instant, cmd: Command) {
        match cmd {
            Command::User(user) => {
                if self.tls_required_but_missing() {
                    return self.reply(530, b"TLS required: use AUTH TLS first.");
                }
                if self.logged_in {
                    // USER restarts the login, as RFC 959 allows.
                    self.reset_login();
                }
                self.user = Some(user);
                self.reply(331, b"Password required.");
            }
            Command::Pass(pass) => {
                if self.logged_in {
                    return self.reply(503, b"Already logged in.");
                }
                let Some(user) = self.user.clone() else {
                    return self.reply(503, b"Login with USER first.");
                };
                if self.tls_required_but_missing() {
                    return self.reply(530, b"TLS required: use AUTH TLS first.");
                }
                let anonymous = user.eq_ignore_ascii_case(b"anonymous") || user.eq_ignore_ascii_case(b"ftp");
                if anonymous && !self.config.anonymous {
                    return self.login_failed(now);
                }
                let request = Request::Login { user, pass, account: self.account.clone(), host: self.host.clone() };
                self.request(Pending::Login, request);
            }
            Command::Acct(acct) => {
                if self.logged_in {
                    return self.reply(202, b"ACCT not needed.");
                }
                self.account = Some(acct);
                self.reply(202, b"Account noted.");
            }
            Command::Host(host) => {
                if self.logged_in || self.user.is_some() {
                    return self.reply(503, b"HOST must come before USER.");
                }
                self.host = Some(host);
                self.reply(220, b"Host accepted.");
            }
            Command::Rein => {
                self.reset_login();
                self.host = None;
                if let Some(d) = self.data.take() {
                    self.push_out(ServerOutput::Data(DataIntent::Close { id: d.id }));
                }
                self.reply(220, b"Service ready for new user.");
            }
            Command::Quit => {
                self.reply(221, b"Goodbye.");
                self.close();
            }
            Command::Noop => self.reply(200, b"NOOP ok."),
            Command::Syst => {
                let text = self.config.system.clone();
                self.reply(215, text.as_bytes());
            }
            Command::Feat => {
                let feat = self.feat_text();
                self.reply(211, &feat);
            }
            Command::Help(_) => self.reply(
                214,
                b"The following commands are recognized:\n ABOR ACCT ALLO APPE AUTH CCC CDUP CWD DELE EPRT EPSV FEAT HELP HOST LANG LIST LPRT LPSV MDTM MFMT MKD MLSD MLST MODE NLST NOOP OPTS PASS PASV PBSZ PORT PROT PWD QUIT REIN REST RETR RMD RNFR RNTO SITE SIZE STAT STOR STOU STRU SYST TYPE USER XCUP XCWD XMKD XPWD XRMD\nHelp OK.",
            ),
            Command::Clnt(_) => self.reply(200, b"Noted."),
            Command::Lang(tag) => match tag {
                None => self.reply(200, b"Using EN."),
                Some(t) if t.eq_ignore_ascii_case(b"EN") || t.len() > 3 && t[..3].eq_ignore_ascii_case(b"EN-") => {
                    self.reply(200, b"Using EN.")
                }
                Some(_) => self.reply(504, b"Language not supported."),
            },
            Command::Opts { name, options } => self.opts(&name, options.as_deref()),
            Command::Auth(mech) => self.auth(&mech),
            Command::Pbsz(_) => {
                if !self.tls.control || self.tls.cleared {
                    return self.reply(503, b"PBSZ needs a secure control connection.");
                }
                self.tls.pbsz = true;
                self.reply(200, b"PBSZ=0");
            }
            Command::Prot(level) => {
                if !self.tls.control || self.tls.cleared {
                    return self.reply(503, b"PROT needs a secure control connection.");
                }
                if !self.tls.pbsz {
                    return self.reply(503, b"PBSZ first.");
                }
                match level {
                    ProtLevel::Private => {
                        self.tls.private = true;
                        self.reply(200, b"Protection level set to Private.");
                    }
                    ProtLevel::Clear => {
                        self.tls.private = false;
                        self.reply(200, b"Protection level set to Clear.");
                    }
                    _ => self.reply(536, b"Protection level not supported."),
                }
            }
            Command::Ccc => {
                if !self.tls.control {
                    return self.reply(533, b"Control connection is not protected.");
                }
                self.reply(200, b"Control connection cleared.");
                self.tls.control = false;
                self.tls.cleared = true;
                self.push_out(ServerOutput::StopTls);
            }
            Command::Adat(_) | Command::Mic(_) | Command::Conf(_) | Command::Enc(_) => {
                self.reply(502, b"Command not implemented.")
            }
            Command::Pwd { .. } => {
                let text = quote_path(self.cwd.as_bytes(), b" is the current directory.");
                self.reply(257, &text);
            }
            Command::Cwd { path, .. } => {
                if let Some(p) = self.resolve(&path) {
                    self.storage(Pending::Cwd(p.clone()), StorageRequest::Stat { path: p });
                }
            }
            Command::Cdup { .. } => {
                let p = self.cwd.parent().unwrap_or_else(VirtualPath::root);
                self.storage(Pending::Cwd(p.clone()), StorageRequest::Stat { path: p });
            }
            Command::Smnt(_) => self.reply(502, b"SMNT not implemented."),
            Command::Type(t) => match t {
                TypeCode::Ascii(_) => {
                    self.ascii = true;
                    self.reply(200, b"Type set to A.");
                }
                TypeCode::Image | TypeCode::Local(8) => {
                    self.ascii = false;
                    self.reply(200, b"Type set to I.");
                }
                _ => self.reply(504, b"Type not supported."),
            },
            Command::Stru(s) => match s {
                Structure::File => self.reply(200, b"Structure set to F."),
                _ => self.reply(504, b"Structure not supported."),
            },
            Command::Mode(m) => match m {
                TransferMode::Stream => self.reply(200, b"Mode set to S."),
                _ => self.reply(504, b"Mode not supported."),
            },
            Command::Allo { .. } => self.reply(202, b"ALLO not needed."),
            Command::Rest(offset) => {
                self.rest = Some(offset);
                let text = format!("Restarting at {offset}. Send STOR or RETR.");
                self.reply(350, text.as_bytes());
            }
            Command::Port(addr) => self.active(SocketAddr::V4(addr), false),
            Command::Eprt(addr) => self.active(addr, true),
            Command::Lprt(addr) => self.active(addr, false),
            Command::Pasv => self.passive(PassiveForm::Pasv),
            Command::Lpsv => self.passive(PassiveForm::Lpsv),
            Command::Epsv(arg) => match arg {
                EpsvArg::All => {
                    self.epsv_all = true;
                    self.reply(200, b"EPSV ALL ok.");
                }
                EpsvArg::Ipv4 if !self.local.is_ipv4() && canonical_ip(self.local.ip()).is_ipv6() => {
                    self.reply(522, b"Network protocol not supported, use (2)")
                }
                EpsvArg::Ipv6 if canonical_ip(self.local.ip()).is_ipv4() => {
                    self.reply(522, b"Network protocol not supported, use (1)")
                }
                _ => self.passive(PassiveForm::Epsv),
            },
            Command::Retr(path) => {
                if let Some(p) = self.data_command_path(&path) {
                    let offset = self.rest.take().unwrap_or(0);
                    self.open(Direction::Send, false, false, StorageRequest::OpenRead { path: p, offset });
                }
            }
            Command::Stor(path) => {
                if !self.writable() {
                    return;
                }
                if let Some(p) = self.data_command_path(&path) {
                    let mode = match self.rest.take() {
                        Some(n) if n > 0 => WriteMode::AtOffset(n),
                        _ => WriteMode::Truncate,
                    };
                    self.open(Direction::Receive, false, false, StorageRequest::OpenWrite { path: p, mode });
                }
            }
            Command::Appe(path) => {
                if !self.writable() {
                    return;
                }
                if self.rest.take().is_some_and(|n| n > 0) {
                    return self.reply(550, b"REST is not allowed with APPE.");
                }
                if let Some(p) = self.data_command_path(&path) {
                    self.open(Direction::Receive, false, false, StorageRequest::OpenWrite { path: p, mode: WriteMode::Append });
                }
            }
            Command::Stou(_) => {
                if !self.writable() {
                    return;
                }
                if self.rest.take().is_some_and(|n| n > 0) {
                    return self.reply(550, b"REST is not allowed with STOU.");
                }
                if self.data_ready_check() {
                    let dir = self.cwd.clone();
                    self.open(Direction::Receive, true, false, StorageRequest::OpenWrite { path: dir, mode: WriteMode::CreateUnique });
                }
            }
            Command::List(arg) => self.listing(arg, ListFormat::List),
            Command::Nlst(arg) => self.listing(arg, ListFormat::Names),
            Command::Mlsd(arg) => {
                let facts = self.mlst_facts;
                self.listing(arg, ListFormat::Mlsd(facts))
            }
            Command::Mlst(arg) => {
                let path = match &arg {
                    Some(a) => self.resolve(a),
                    None => Some(self.cwd.clone()),
                };
                if let Some(p) = path {
                    self.storage(Pending::Mlst(p.clone()), StorageRequest::Stat { path: p });
                }
            }
            Command::Stat(None) => {
                let text = format!(
                    "FTP server status:\n Connected to {}\n Logged in: {}\n TYPE: {}, STRU: F, MODE: S\n Data connection: {}\nEnd of status.",
                    self.peer.ip(),
                    if self.logged_in { "yes" } else { "no" },
                    if self.ascii { "ASCII" } else { "BINARY" },
                    if self.data.is_some() { "set up" } else { "none" },
                );
                self.reply(211, text.as_bytes());
            }
            Command::Stat(Some(arg)) => {
                let (_, path) = split_list_arg(&arg);
                let target = match path {
                    Some(p) => self.resolve(&p),
                    None => Some(self.cwd.clone()),
                };
                if let Some(p) = target {
                    self.storage(Pending::StatPath, StorageRequest::ReadDir { path: p });
                }
            }
            Command::Size(path) => {
                if self.ascii {
                    return self.reply(550, b"SIZE not allowed in ASCII mode.");
                }
                if let Some(p) = self.resolve(&path) {
                    self.storage(Pending::Size, StorageRequest::Stat { path: p });
                }
            }
            Command::Mdtm(path) => {
                if let Some(p) = self.resolve(&path) {
                    self.storage(Pending::Mdtm, StorageRequest::Stat { path: p });
                }
            }
            Command::Mfmt { time, path } => {
                if !self.writable() {
                    return;
                }
                if let Some(p) = self.resolve(&path) {
                    self.storage(Pending::Mfmt { path: p.clone(), time }, StorageRequest::SetModified { path: p, time });
                }
            }
            Command::Mkd { path, .. } => {
                if !self.writable() {
                    return;
                }
                if let Some(p) = self.resolve(&path) {
                    self.storage(Pending::Mkd(p.clone()), StorageRequest::MakeDir { path: p });
                }
            }
            Command::Rmd { path, .. } => {
                if !self.writable() {
                    return;
                }
                if let Some(p) = self.resolve(&path) {
                    if p.is_root() {
                        return self.reply(550, b"Can't remove the root directory.");
                    }
                    self.storage(Pending::Simple { code: 250, text: "Directory removed." }, StorageRequest::RemoveDir { path: p });
                }
            }
            Command::Dele(path) => {
                if !self.writable() {
                    return;
                }
                if let Some(p) = self.resolve(&path) {
                    self.storage(Pending::Simple { code: 250, text: "File deleted." }, StorageRequest::Delete { path: p });
                }
            }
            Command::Rnfr(path) => {
                if !self.writable() {
                    return;
                }
                if let Some(p) = self.resolve(&path) {
                    if p.is_root() {
                        return self.reply(550, b"Can't rename the root directory.");
                    }
                    self.storage(Pending::Rnfr(p.clone()), StorageRequest::Stat { path: p });
                }
            }
            Command::Rnto(path) => {
                let Some(from) = self.rename_from.take() else {
                    return self.reply(503, b"RNFR required first.");
                };
                if let Some(to) = self.resolve(&path) {
                    self.storage(Pending::Simple { code: 250, text: "Rename successful." }, StorageRequest::Rename { from, to });
                }
            }
            Command::Site(arg) => match SiteCommand::parse(&arg) {
                Ok(SiteCommand::Chmod { mode, path }) => {
                    if !self.writable() {
                        return;
                    }
                    if let Some(p) = self.resolve(&path) {
                        self.storage(Pending::Simple { code: 200, text: "SITE CHMOD successful." }, StorageRequest::Chmod { path: p, mode });
                    }
                }
                Ok(SiteCommand::Other { name, .. }) if name.eq_ignore_ascii_case(b"HELP") => {
                    self.reply(214, b"SITE commands: CHMOD HELP.")
                }
                Ok(_) => self.reply(502, b"SITE subcommand not implemented."),
                Err(e) => self.reply_command_error(&e),
            },
            Command::Abor => {
                if let Some(d) = self.data.take() {
                    self.push_out(ServerOutput::Data(DataIntent::Close { id: d.id }));
                }
                self.reply(225, b"No transfer to abort.");
            }
            Command::Unknown { .. } => self.reply(500, b"Command not understood."),
            _ => self.reply(502, b"Command not implemented."),
        }
    }

    fn reset_login(&mut self) {
        self.logged_in = false;
        self.read_only = false;
        self.user = None;
        self.account = None;
        self.cwd = VirtualPath::root();
        self.ascii = false;
        self.rest = None;
        self.rename_from = None;
        self.mlst_facts = FactSet::DEFAULT;
    }

    fn login_failed(&mut self, now: Instant) {
        self.failed_logins += 1;
        self.user = None;
        let close = self.failed_logins >= self.config.max_login_failures;
        let until = now
            .checked_add(self.config.failed_login_delay)
            .unwrap_or(now);
        let id = self.next_request();
        self.pending = Some((id, Pending::LoginDelay { until, close }));
    }

    fn feat_text(&self) -> Vec<u8> {
        let mut feats: Vec<&str> = vec![
            "EPRT",
            "EPSV",
            "HOST",
            "LANG EN",
            "MDTM",
            "MFMT",
            "PASV",
            "REST STREAM",
            "SIZE",
            "TVFS",
            "UTF8",
        ];
        if self.config.tls != TlsMode::Disabled {
            feats.extend(["AUTH TLS", "PBSZ", "PROT"]);
        }
        feats.sort_unstable();
        let mut out = b"Features:\n".to_vec();
        for f in feats {
            out.push(b' ');
            out.extend_from_slice(f.as_bytes());
            out.push(b'\n');
        }
        let mut mlst = BytesMut::new();
        self.mlst_facts.format_feat(ALL_FACTS, &mut mlst);
        out.extend_from_slice(b" MLST ");
        out.extend_from_slice(&mlst);
        out.extend_from_slice(b"\nEnd");
        out
    }

    fn opts(&mut self, name: &[u8], options: Option<&[u8]>) {
        if name.eq_ignore_ascii_case(b"UTF8") || name.eq_ignore_ascii_case(b"UTF-8") {
            match options {
                Some(o) if o.eq_ignore_ascii_case(b"ON") || o.eq_ignore_ascii_case(b"OFF") => {
                    self.reply(200, b"Always in UTF8 mode.")
                }
                None => self.reply(200, b"Always in UTF8 mode."),
                Some(_) => self.reply(501, b"Option not understood."),
            }
        } else if name.eq_ignore_ascii_case(b"MLST") {
            match listing::FactSet::parse_opts(options.unwrap_or_default(), ALL_FACTS) {
                Ok(facts) => {
                    self.mlst_facts = facts;
                    let mut text = BytesMut::from(&b"MLST OPTS "[..]);
                    facts.format_opts(&mut text);
                    self.reply(200, &text);
                }
                Err(_) => self.reply(501, b"Invalid MLST options."),
            }
        } else {
            self.reply(501, b"Option not understood.");
        }
    }

    fn auth(&mut self, mech: &[u8]) {
        match self.config.tls {
            TlsMode::Disabled => return self.reply(502, b"TLS not available."),
            TlsMode::Implicit => return self.reply(503, b"Already using TLS."),
            _ => {}
        }
        if self.tls.control {
            return self.reply(503, b"Already using TLS.");
        }
        let ok = [&b"TLS"[..], b"TLS-C", b"SSL", b"TLS-P"]
            .iter()
            .any(|m| mech.eq_ignore_ascii_case(m));
        if !ok {
            return self.reply(504, b"AUTH mechanism not supported; use AUTH TLS.");
        }
        self.reply(234, b"AUTH TLS successful.");
        // Plaintext that arrived after AUTH must never be read as if it came over TLS
        // (CVE-2011-1575): drop both the queued commands and the unframed bytes.
        self.queue.clear();
        self.lines.discard_buffered();
        // RFC 4217 §4.2: the session resets almost as after REIN.
        self.reset_login();
        self.tls.handshaking = true;
        self.push_out(ServerOutput::StartTls);
    }

    fn active(&mut self, addr: SocketAddr, extended: bool) {
        if self.epsv_all {
            return self.reply(503, b"EPSV ALL in effect: use EPSV.");
        }
        if !self.config.active_enabled {
            return self.reply(502, b"Active mode is disabled; use PASV or EPSV.");
        }
        let target = canonical_ip(addr.ip());
        let client = canonical_ip(self.peer.ip());
        if extended && target.is_ipv4() != client.is_ipv4() {
            let text: &[u8] = if client.is_ipv4() {
                b"Network protocol not supported, use (1)"
            } else {
                b"Network protocol not supported, use (2)"
            };
            return self.reply(522, text);
        }
        if !self.config.allow_foreign_active && target != client {
            return self.reply(501, b"Rejected data connection to a foreign address.");
        }
        if !self.config.allow_privileged_active_ports && addr.port() < 1024 {
            return self.reply(501, b"Rejected data connection to a privileged port.");
        }
        self.replace_data(Channel::Active(SocketAddr::new(target, addr.port())));
        self.reply(200, b"Data connection address set.");
    }

    fn replace_data(&mut self, channel: Channel) -> DataId {
        if let Some(old) = self.data.take() {
            self.push_out(ServerOutput::Data(DataIntent::Close { id: old.id }));
        }
        let id = self.next_data();
        self.data = Some(Data { id, channel });
        id
    }

    fn passive(&mut self, form: PassiveForm) {
        if self.epsv_all && form != PassiveForm::Epsv {
            return self.reply(503, b"EPSV ALL in effect: use EPSV.");
        }
        if form == PassiveForm::Pasv {
            let ip = self.advertised_ip();
            if !ip.is_ipv4() {
                return self.reply(425, b"Can't use PASV on an IPv6 connection; use EPSV.");
            }
        }
        let id = self.replace_data(Channel::Binding);
        let ip = self.local.ip();
        let ports = self.config.passive_ports.clone();
        let rid = self.next_request();
        self.pending = Some((rid, Pending::Listen(form)));
        self.push_out(ServerOutput::Data(DataIntent::Listen { id, ip, ports }));
    }

    fn advertised_ip(&self) -> IpAddr {
        let local = canonical_ip(self.local.ip());
        canonical_ip(
            self.config
                .passive_address
                .advertise(canonical_ip(self.peer.ip()), local),
        )
    }

    fn on_listening(
        &mut self,
        now: Instant,
        id: DataId,
        addr: SocketAddr,
    ) -> Result<(), SessionError> {
        match &mut self.data {
            Some(d) if d.id == id && matches!(d.channel, Channel::Binding) => {
                d.channel = Channel::Listening
            }
            _ => return Err(SessionError::UnknownData(id)),
        }
        let _ = now;
        let form = match self.pending {
            Some((_, Pending::Listen(form))) => form,
            _ => return Err(SessionError::UnexpectedEvent("Listening")),
        };
        self.pending = None;
        let port = addr.port();
        let mut text = BytesMut::new();
        match form {
            PassiveForm::Pasv => {
                let IpAddr::V4(ip) = self.advertised_ip() else {
                    self.reply(425, b"Can't use PASV on an IPv6 connection; use EPSV.");
                    return Ok(());
                };
                addr::encode_pasv_reply(&SocketAddrV4::new(ip, port), &mut text);
                self.reply(227, &text);
            }
            PassiveForm::Epsv => {
                addr::encode_epsv_reply(port, &mut text);
                self.reply(229, &text);
            }
            PassiveForm::Lpsv => {
                addr::encode_lpsv_reply(&SocketAddr::new(self.advertised_ip(), port), &mut text);
                self.reply(228, &text);
            }
        }
        Ok(())
    }

    /// Checks the preconditions every data command shares; replies and returns false if one
    /// fails.
    fn data_ready_check(&mut self) -> bool {
        if self
            .data
            .as_ref()
            .is_none_or(|d| matches!(d.channel, Channel::Binding))
        {
            self.reply(425, b"Use PORT, EPRT, PASV or EPSV first.");
            return false;
        }
        if self.config.require_data_tls && !self.tls.private {
            self.reply(521, b"Data connections must be protected: use PROT P.");
            return false;
        }
        true
    }

    fn data_command_path(&mut self, path: &[u8]) -> Option<VirtualPath> {
        let p = self.resolve(path)?;
        self.data_ready_check().then_some(p)
    }

    fn listing(&mut self, arg: Option<Bytes>, format: ListFormat) {
        let path = match &arg {
            Some(a) => {
                let (_, path) = if matches!(format, ListFormat::Mlsd(_)) {
                    (None, Some(a.clone()))
                } else {
                    split_list_arg(a)
                };
                match path {
                    Some(p) => self.resolve(&p),
                    None => Some(self.cwd.clone()),
                }
            }
            None => Some(self.cwd.clone()),
        };
        let Some(path) = path else { return };
        if self.data_ready_check() {
            self.open(
                Direction::Send,
                false,
                true,
                StorageRequest::OpenList { path, format },
            );
        }
    }

    fn open(&mut self, direction: Direction, unique: bool, listing: bool, request: StorageRequest) {
        self.storage(
            Pending::Open {
                direction,
                unique,
                listing,
            },
            request,
        );
    }

    fn on_answer(
        &mut self,
        now: Instant,
        id: RequestId,
        answer: Answer,
    ) -> Result<(), SessionError> {
        let pending = match self.pending.take() {
            Some((pid, p))
                if pid == id && !matches!(p, Pending::LoginDelay { .. } | Pending::Listen(_)) =>
            {
                p
            }
            other => {
                self.pending = other;
                return Err(SessionError::UnknownRequest(id));
            }
        };
        if let Answer::Failed(f) = &answer {
            self.answer_failed(now, pending, f);
            return Ok(());
        }
        match (pending, answer) {
            (Pending::Login, Answer::LoggedIn { read_only }) => {
                self.logged_in = true;
                self.read_only = read_only;
                self.failed_logins = 0;
                self.reply(230, b"Login successful.");
            }
            (Pending::Cwd(p), Answer::Metadata(e)) => {
                if e.kind.is_dir() {
                    self.cwd = p;
                    self.reply(250, b"Directory successfully changed.");
                } else {
                    self.reply(550, b"Not a directory.");
                }
            }
            (Pending::Mkd(p), Answer::Done) => {
                let text = quote_path(p.as_bytes(), b" created.");
                self.reply(257, &text);
            }
            (Pending::Simple { code, text }, Answer::Done) => self.reply(code, text.as_bytes()),
            (Pending::Mfmt { path, time }, Answer::Done) => {
                let mut text = format!("Modify={}; ", time.time_val()).into_bytes();
                text.extend_from_slice(path.as_bytes());
                self.reply(213, &text);
            }
            (Pending::Size, Answer::Metadata(e)) => match (e.kind.is_dir(), e.size) {
                (false, Some(size)) => self.reply(213, size.to_string().as_bytes()),
                _ => self.reply(550, b"Could not get file size."),
            },
            (Pending::Mdtm, Answer::Metadata(e)) => match (e.kind.is_dir(), e.modified) {
                (false, Some(t)) => self.reply(213, t.time_val().to_string().as_bytes()),
                _ => self.reply(550, b"Could not get file modification time."),
            },
            (Pending::Mlst(p), Answer::Metadata(mut e)) => {
                e.name = Bytes::copy_from_slice(p.as_bytes());
                let mut text = BytesMut::from(&b"Listing:\n"[..]);
                if listing::format_mlst_line(&e, self.mlst_facts, &mut text).is_err() {
                    self.reply(550, b"Can't list that name.");
                    return Ok(());
                }
                // format_mlst_line ends its line with CRLF; the reply encoder adds its own.
                while text.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
                    text.truncate(text.len() - 1);
                }
                text.put_slice(b"\nEnd.");
                self.reply(250, &text);
            }
            (Pending::Rnfr(p), Answer::Metadata(_)) => {
                self.rename_from = Some(p);
                self.reply(350, b"Ready for RNTO.");
            }
            (
                Pending::StatPath,
                Answer::Entries {
                    entries,
                    now: now_wall,
                },
            ) => {
                let mut text = BytesMut::from(&b"Status follows:\n"[..]);
                for e in &entries {
                    if listing::format_list_line(e, now_wall, &mut text).is_ok() {
                        while text.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
                            text.truncate(text.len() - 1);
                        }
                        text.put_u8(b'\n');
                    }
                    if text.len() > self.config.max_queued_output / 2 {
                        break;
                    }
                }
                text.put_slice(b"End of status.");
                self.reply(213, &text);
            }
            (
                Pending::Open {
                    direction,
                    unique,
                    listing,
                },
                Answer::Opened { size },
            ) => {
                self.start_transfer(now, id, direction, listing, size, None);
                let _ = unique;
            }
            (
                Pending::Open {
                    direction,
                    unique: true,
                    listing,
                },
                Answer::OpenedUnique { path },
            ) => {
                self.start_transfer(now, id, direction, listing, None, Some(path));
            }
            (p, a) => {
                // An answer of the wrong shape is the application's bug; the client still gets
                // exactly one reply, and the caller learns through the error.
                self.reply(451, b"Local error in processing.");
                let _ = (p, a);
                return Err(SessionError::WrongAnswer(id));
            }
        }
        Ok(())
    }

    fn answer_failed(&mut self, now: Instant, pending: Pending, failure: &Failure) {
        if let Pending::Login = pending {
            return self.login_failed(now);
        }
        let (code, text): (u16, &[u8]) = match failure {
            Failure::NotADirectory if matches!(pending, Pending::Open { listing: true, .. }) => {
                (501, b"Not a directory.")
            }
            Failure::NotFound => (550, b"No such file or directory."),
            Failure::PermissionDenied | Failure::LoginRefused => (550, b"Permission denied."),
            Failure::AlreadyExists => (550, b"File exists."),
            Failure::NotADirectory => (550, b"Not a directory."),
            Failure::IsADirectory => (550, b"Is a directory."),
            Failure::NotEmpty => (550, b"Directory not empty."),
            Failure::InvalidName => (553, b"File name not allowed."),
            Failure::NoSpace => (452, b"Insufficient storage space."),
            Failure::Transient => (450, b"Requested action not taken; try again."),
            Failure::Other(text) => {
                let text = text.clone();
                return self.reply(550, text.as_bytes());
            }
        };
        self.reply(code, text);
    }

    fn start_transfer(
        &mut self,
        now: Instant,
        source: RequestId,
        direction: Direction,
        listing: bool,
        size: Option<u64>,
        unique: Option<VirtualPath>,
    ) {
        let Some(data) = self.data.as_mut() else {
            // The channel vanished while the storage request was out (ABOR, REIN).
            return self.reply(425, b"No data connection.");
        };
        let id = data.id;
        // Listings go out as formatted: MLSD is TYPE L 8 by RFC 3659, and LIST lines already
        // end in CRLF.
        let ascii = self.ascii && !listing;
        let ready = match &data.channel {
            Channel::Ready { tls_resumed } => Some(*tls_resumed),
            _ => None,
        };
        let connect_to = match &data.channel {
            Channel::Active(addr) => Some(*addr),
            _ => None,
        };
        let mode = if ascii { "ASCII" } else { "BINARY" };
        let mut text = match &unique {
            Some(p) => {
                let mut t = b"FILE: ".to_vec();
                t.extend_from_slice(p.file_name().unwrap_or_default());
                t
            }
            None => format!("Opening {mode} mode data connection").into_bytes(),
        };
        if let (Some(size), None) = (size, &unique) {
            text.extend_from_slice(format!(" ({size} bytes)").as_bytes());
        }
        text.push(b'.');
        let deadline = now.checked_add(self.config.data_timeout).unwrap_or(now);
        self.transfer = Some(Transfer {
            data: id,
            source,
            direction,
            ascii,
            stage: Stage::Connecting { deadline },
        });
        if let Some(tls_resumed) = ready {
            self.reply(125, &text);
            self.begin_streaming(id, tls_resumed);
        } else {
            self.reply(150, &text);
            if let Some(addr) = connect_to {
                let tls = self.tls.private;
                self.push_out(ServerOutput::Data(DataIntent::Connect { id, addr, tls }));
            }
        }
    }

    fn on_data_ready(
        &mut self,
        now: Instant,
        id: DataId,
        tls_resumed: Option<bool>,
    ) -> Result<(), SessionError> {
        self.expect_data(id)?;
        let _ = now;
        match &self.transfer {
            Some(t) if t.data == id && matches!(t.stage, Stage::Connecting { .. }) => {
                self.begin_streaming(id, tls_resumed);
            }
            Some(_) => return Err(SessionError::UnexpectedEvent("DataReady")),
            None => {
                if let Some(d) = self.data.as_mut() {
                    d.channel = Channel::Ready { tls_resumed };
                }
            }
        }
        Ok(())
    }

    fn begin_streaming(&mut self, id: DataId, tls_resumed: Option<bool>) {
        if self.tls.private && self.config.require_tls_session_reuse && tls_resumed != Some(true) {
            self.transfer = None;
            self.data = None;
            self.push_out(ServerOutput::Data(DataIntent::Close { id }));
            return self.reply(
                522,
                b"TLS session of data connection not resumed; session reuse required.",
            );
        }
        let Some(t) = self.transfer.as_mut() else {
            return;
        };
        t.stage = Stage::Running;
        let (source, direction, ascii) = (t.source, t.direction, t.ascii);
        self.push_out(ServerOutput::Data(DataIntent::Transfer {
            id,
            source,
            direction,
            ascii,
        }));
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
