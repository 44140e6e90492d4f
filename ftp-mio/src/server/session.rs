//! One control connection in the loop: its socket, its [`ServerConn`] (which keeps the
//! bookkeeping), its pending output and its data tasks.

use std::cell::Cell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use ftp_host::auth::Authenticator;
use ftp_host::limits::Slot;
use ftp_host::server::{Action, Report, ServerConn};
use ftp_host::storage::Storage;
use ftp_host::transfer::{FileSide, TransferOutcome};
use ftp_proto::server::{DataId, ServerConfig, ServerSession};
use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};

use super::data::{DataSock, DataTask, Receiving, Sending, SendingFile, Task, Work};
use super::pool::{Pipe, Pool, Work as PoolWork};
use crate::sock::{ReadResult, Sock};
use ftp_host::net::connect_state;

/// Control output kept before reads stop (the client is not reading its replies).
const OUT_LIMIT: usize = 64 * 1024;

pub(crate) type Conn<S, A> = ServerConn<S, A, DataSock, Task>;

/// What every connection of one server shares.
pub(crate) struct Shared<S, A> {
    pub(crate) config: Arc<ServerConfig>,
    pub(crate) storage: Arc<S>,
    pub(crate) auth: Arc<A>,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
    /// For data connections: no TLS 1.3 tickets ([`ftp_host::tls::data_config`]).
    #[cfg(feature = "tls")]
    pub(crate) data_tls: Option<Arc<rustls::ServerConfig>>,
    pub(crate) implicit_tls: bool,
    /// Observers and the default rate limit, for every session.
    pub(crate) hooks: ftp_host::events::Hooks,
    /// The PROXY protocol on the control listeners, when on.
    pub(crate) proxy_protocol: Option<Arc<ftp_host::proxy::ProxyProtocol>>,
}

/// What the loop lends a session while it runs.
pub(crate) struct Ctx<'a, S: Storage, A> {
    pub(crate) registry: &'a Registry,
    pub(crate) tokens: &'a mut HashMap<Token, (u64, Option<DataId>)>,
    pub(crate) next_token: &'a mut usize,
    pub(crate) pool: &'a Pool<S, A>,
    pub(crate) shared: &'a Shared<S, A>,
    pub(crate) buf: &'a mut [u8],
}

impl<S: Storage, A> Ctx<'_, S, A> {
    fn token(&mut self, key: u64, id: Option<DataId>) -> Token {
        let t = Token(*self.next_token);
        *self.next_token += 1;
        self.tokens.insert(t, (key, id));
        t
    }
}

use ftp_host::net::CCC_GRACE;

/// Something that must finish before the session's next action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Blocker {
    /// Start TLS once the replies before it are written.
    StartTls,
    /// The control connection's TLS handshake, until this deadline.
    Handshake(Instant),
    /// CCC: once the replies before it are written, wait for the client's close_notify.
    StopTls,
    /// CCC: the client may close TLS first until this deadline (lftp and Python's ftplib do,
    /// and take a close_notify that comes with the `200` for the end of the connection);
    /// then the server sends its own (curl waits for it).
    CccWait(Instant),
    /// CCC: the server's close_notify is queued; flush it, then cleartext.
    CccAnswer,
    /// CCC: the server closed first; take the client's answering close_notify if one comes
    /// before cleartext, until this deadline.
    CccSent(Instant),
    /// Close once the replies before it are written.
    Close,
}

pub(crate) struct Session<S: Storage, A> {
    key: u64,
    token: Token,
    control: Option<Sock>,
    conn: Option<Conn<S, A>>,
    peer: SocketAddr,
    local: SocketAddr,
    out: Vec<u8>,
    /// Implicit TLS: the handshake before the session starts, until this deadline.
    implicit: Option<Instant>,
    blocker: Option<Blocker>,
    /// The client has not read its replies since then.
    write_stalled: Option<Instant>,
    tasks: HashMap<DataId, DataTask>,
    /// Data tokens this session registered, removed at its end.
    data_tokens: Vec<Token>,
    /// The deadline this session is filed under in the loop's timers.
    pub(crate) filed: Option<Instant>,
    pub(crate) closed: bool,
    _slot: Slot,
}

impl<S: Storage, A: Authenticator> Session<S, A> {
    /// A session for an accepted control connection (registered already under `token`).
    pub(crate) fn new(
        key: u64,
        token: Token,
        tcp: TcpStream,
        peer: SocketAddr,
        slot: Slot,
        shared: &Shared<S, A>,
        now: Instant,
    ) -> std::io::Result<Session<S, A>> {
        let local = tcp.local_addr()?;
        #[allow(unused_mut)]
        let mut control = Sock::new(tcp);
        let mut s = Session {
            key,
            token,
            control: None,
            conn: None,
            peer,
            local,
            out: Vec::new(),
            implicit: None,
            blocker: None,
            write_stalled: None,
            tasks: HashMap::new(),
            data_tokens: Vec::new(),
            filed: None,
            closed: false,
            _slot: slot,
        };
        if shared.implicit_tls {
            #[cfg(feature = "tls")]
            if let Some(tls) = shared.tls.clone() {
                let c = rustls::ServerConnection::new(tls).map_err(std::io::Error::other)?;
                control.start_tls(rustls::Connection::Server(c));
                s.implicit = Some(crate::later(now, shared.config.data_timeout));
            }
        } else {
            s.start_session(shared, now);
        }
        s.control = Some(control);
        Ok(s)
    }

    fn start_session(&mut self, shared: &Shared<S, A>, now: Instant) {
        let session = ServerSession::new(shared.config.clone(), self.peer, self.local, now);
        let conn = ServerConn::new(
            session,
            shared.storage.clone(),
            shared.auth.clone(),
            self.local,
            self.peer,
        )
        .with_hooks(shared.hooks.clone());
        self.conn = Some(conn);
    }

    /// The server is shutting down.
    pub(crate) fn shutdown(&mut self, now: Instant) {
        match self.conn.as_mut() {
            Some(c) => c.handle_shutdown(now),
            // Still in the implicit-TLS handshake: nothing to say yet.
            None => self.closed = true,
        }
    }

    /// Records a poller event for the control connection or a data connection.
    pub(crate) fn ready(&mut self, id: Option<DataId>, event: &mio::event::Event) {
        match id {
            None => {
                if let Some(c) = self.control.as_mut() {
                    c.ready(event);
                }
            }
            Some(id) => {
                if let Some(s) = self.tasks.get_mut(&id).and_then(|t| t.work.sock_mut()) {
                    s.sock.ready(event);
                }
            }
        }
    }

    /// A job this session ran finished.
    pub(crate) fn report(&mut self, now: Instant, report: Report<S, DataSock>) {
        if let Some(c) = self.conn.as_mut() {
            c.report(now, report);
        }
    }

    /// The file side of a transfer ended.
    pub(crate) fn file_done(
        &mut self,
        id: DataId,
        r: Result<(), ftp_proto::server::TransferError>,
    ) {
        match self.tasks.get_mut(&id).map(|t| &mut t.work) {
            Some(Work::Sending(s)) => s.file_done(r),
            Some(Work::Receiving(rx)) => rx.file_done(r),
            Some(Work::SendingFile(f)) => f.file_done(r),
            _ => {}
        }
    }

    /// The earliest deadline of this session.
    pub(crate) fn deadline(&self, idle: std::time::Duration) -> Option<Instant> {
        let mut d = self.conn.as_ref().and_then(|c| c.poll_timeout());
        let mut add = |x: Option<Instant>| {
            if let Some(x) = x {
                d = Some(d.map_or(x, |d| d.min(x)));
            }
        };
        add(self.implicit);
        add(self.write_stalled.map(|t| crate::later(t, idle)));
        if let Some(Blocker::Handshake(t) | Blocker::CccWait(t) | Blocker::CccSent(t)) =
            self.blocker
        {
            add(Some(t));
        }
        for t in self.tasks.values() {
            add(t.work.deadline());
        }
        d
    }

    /// Fires the deadlines that passed.
    pub(crate) fn fire(&mut self, now: Instant, idle: std::time::Duration) {
        if self.implicit.is_some_and(|t| t <= now) {
            tracing::debug!(peer = %self.peer, "implicit TLS handshake timed out");
            self.closed = true;
            return;
        }
        if self
            .write_stalled
            .is_some_and(|t| crate::later(t, idle) <= now)
        {
            tracing::debug!(peer = %self.peer, "control write timed out");
            self.closed = true;
            return;
        }
        if let Some(Blocker::Handshake(t)) = self.blocker {
            if t <= now {
                self.tls_done(now, false);
            }
        }
        let mut failed = Vec::new();
        for (id, t) in &mut self.tasks {
            if t.work.deadline().is_some_and(|d| d <= now) {
                t.alive.set(false);
                failed.push(*id);
            }
        }
        if let Some(c) = self.conn.as_mut() {
            for id in failed {
                c.report(now, Report::Failed { id });
            }
            if c.poll_timeout().is_some_and(|d| d <= now) {
                c.handle_timeout(now);
            }
        }
    }

    fn tls_done(&mut self, now: Instant, ok: bool) {
        self.blocker = None;
        if !ok {
            // The connection is unusable; the session closes it.
            self.control = None;
            self.out.clear();
        }
        if let Some(c) = self.conn.as_mut() {
            c.tls_result(now, ok);
        }
    }

    /// Moves everything as far as it goes without waiting, within a budget so that one busy
    /// session does not starve the others: true if it stopped with work left (drive it again
    /// on the next turn of the loop).
    pub(crate) fn drive(&mut self, ctx: &mut Ctx<'_, S, A>) -> bool {
        for _ in 0..8 {
            let mut moved = self.drive_tasks(ctx);
            moved |= self.control_io(ctx);
            if self.closed {
                return false;
            }
            moved |= self.drain_actions(ctx);
            self.prune(ctx);
            if self.closed || !moved {
                return false;
            }
        }
        true
    }

    /// Drops everything: sockets, tasks (their pipes close, so workers stop), tokens.
    pub(crate) fn close(&mut self, ctx: &mut Ctx<'_, S, A>) {
        self.closed = true;
        if let Some(c) = self.conn.as_mut() {
            if !c.session().is_closed() {
                c.handle_control_closed(Instant::now());
                while c.poll_action().is_some() {}
            }
        }
        self.conn = None;
        self.tasks.clear();
        if let Some(mut c) = self.control.take() {
            let _ = ctx.registry.deregister(&mut c.tcp);
        }
        ctx.tokens.remove(&self.token);
        for t in self.data_tokens.drain(..) {
            ctx.tokens.remove(&t);
        }
    }

    fn prune(&mut self, ctx: &mut Ctx<'_, S, A>) {
        let data_tokens = &mut self.data_tokens;
        self.tasks.retain(|_, t| {
            if t.alive.get() {
                return true;
            }
            if let Some(token) = t.work.token() {
                ctx.tokens.remove(&token);
                data_tokens.retain(|x| *x != token);
            }
            false
        });
    }

    fn add_task(&mut self, id: DataId, work: Work) {
        let alive = Rc::new(Cell::new(true));
        if let Some(c) = self.conn.as_mut() {
            c.set_task(id, Task(alive.clone()));
        }
        self.tasks.insert(id, DataTask { alive, work });
    }

    fn register(
        &mut self,
        ctx: &mut Ctx<'_, S, A>,
        id: DataId,
        source: &mut impl mio::event::Source,
    ) -> std::io::Result<Token> {
        let token = ctx.token(self.key, Some(id));
        if let Err(e) =
            ctx.registry
                .register(source, token, Interest::READABLE | Interest::WRITABLE)
        {
            ctx.tokens.remove(&token);
            return Err(e);
        }
        self.data_tokens.push(token);
        Ok(token)
    }

    /// Takes a data connection out of the loop for good (deregistered, token freed).
    fn release(&mut self, ctx: &mut Ctx<'_, S, A>, mut s: DataSock) -> std::net::TcpStream {
        let _ = ctx.registry.deregister(&mut s.sock.tcp);
        ctx.tokens.remove(&s.token);
        self.data_tokens.retain(|t| *t != s.token);
        std::net::TcpStream::from(s.sock.tcp)
    }

    /// Points a connection's token at channel `id` again (it was with `ServerConn`).
    fn adopt(&mut self, ctx: &mut Ctx<'_, S, A>, id: DataId, s: &mut DataSock) {
        ctx.tokens.insert(s.token, (self.key, Some(id)));
        // Events were not watched while the connection waited.
        s.sock.readable = true;
        s.sock.writable = true;
    }

    /// Carries out the session's actions until it has none or must wait.
    fn drain_actions(&mut self, ctx: &mut Ctx<'_, S, A>) -> bool {
        let mut moved = false;
        let now = Instant::now();
        // Replies wait in the session while the client does not read them: no more than the
        // core's output limit is taken from it (each drain can serve many pipelined commands).
        let limit = ctx.shared.config.max_queued_output;
        while self.blocker.is_none() && !self.closed && self.out.len() < limit {
            let Some(conn) = self.conn.as_mut() else {
                break;
            };
            let Some(action) = conn.poll_action() else {
                break;
            };
            moved = true;
            match action {
                Action::Send(b) => self.out.extend_from_slice(&b),
                Action::Flush => {
                    self.write_out();
                }
                Action::Run(job) => ctx.pool.submit(PoolWork::Job(self.key, job)),
                Action::Accept { id, listener } => {
                    let mut listener = TcpListener::from_std(listener);
                    match self.register(ctx, id, &mut listener) {
                        Ok(token) => self.add_task(id, Work::Accepting(listener, token)),
                        Err(e) => {
                            tracing::warn!("cannot watch a passive listener: {e}");
                            self.report(now, Report::Failed { id });
                        }
                    }
                }
                Action::Connect {
                    id,
                    addr,
                    local,
                    tls,
                } => {
                    let made = ftp_host::net::start_connect(Some(local), addr)
                        .map(TcpStream::from_std)
                        .and_then(|mut tcp| Ok((self.register(ctx, id, &mut tcp)?, tcp)));
                    match made {
                        Ok((token, tcp)) => {
                            let work = Work::Connecting {
                                sock: Some(DataSock {
                                    sock: Sock::new(tcp),
                                    token,
                                }),
                                deadline: crate::later(now, ctx.shared.config.data_timeout),
                                tls,
                            };
                            self.add_task(id, work);
                        }
                        Err(e) => {
                            tracing::debug!(%addr, "active data connection failed: {e}");
                            self.report(now, Report::Failed { id });
                        }
                    }
                }
                Action::Secure {
                    id,
                    mut stream,
                    tls,
                } => {
                    self.adopt(ctx, id, &mut stream);
                    self.secure(ctx, now, id, stream, tls);
                }
                Action::Transfer {
                    id,
                    mut stream,
                    file,
                    progress,
                } => {
                    let file = match file.ready() {
                        Ok(lines) => {
                            self.adopt(ctx, id, &mut stream);
                            let sending = Sending::ready(stream, lines, progress);
                            self.add_task(id, Work::Sending(Box::new(sending)));
                            continue;
                        }
                        Err(file) => file,
                    };
                    let file = match file.zero_copy(!stream.sock.is_tls()) {
                        Ok(zero) => {
                            let tcp = self.release(ctx, stream);
                            let (job, guard) = zero.start(tcp, progress.clone());
                            ctx.pool.submit(PoolWork::ZeroCopy(self.key, id, job));
                            self.add_task(id, Work::SendingFile(SendingFile::new(guard, progress)));
                            continue;
                        }
                        Err(file) => file,
                    };
                    self.adopt(ctx, id, &mut stream);
                    let work = match file {
                        FileSide::Download(d) => {
                            let pipe = Pipe::new();
                            ctx.pool
                                .submit(PoolWork::Download(self.key, id, d, pipe.clone()));
                            Work::Sending(Box::new(Sending::download(stream, pipe, progress)))
                        }
                        FileSide::Upload(u) => {
                            let pipe = Pipe::new();
                            ctx.pool
                                .submit(PoolWork::Upload(self.key, id, u, pipe.clone()));
                            Work::Receiving(Box::new(Receiving::new(stream, pipe, progress)))
                        }
                    };
                    self.add_task(id, work);
                }
                Action::StartTls => self.blocker = Some(Blocker::StartTls),
                Action::StopTls => self.blocker = Some(Blocker::StopTls),
                Action::Close => self.blocker = Some(Blocker::Close),
            }
        }
        moved
    }

    /// Starts TLS on a data connection, or reports it ready when there is none to run.
    fn secure(
        &mut self,
        ctx: &mut Ctx<'_, S, A>,
        now: Instant,
        id: DataId,
        #[allow(unused_mut)] mut stream: DataSock,
        tls: bool,
    ) {
        if !tls {
            self.report(
                now,
                Report::Ready {
                    id,
                    stream,
                    tls_resumed: None,
                },
            );
            return;
        }
        #[cfg(feature = "tls")]
        if let Some(config) = ctx.shared.data_tls.clone() {
            match rustls::ServerConnection::new(config) {
                Ok(c) => {
                    stream.sock.start_tls(rustls::Connection::Server(c));
                    let work = Work::Securing {
                        sock: Some(stream),
                        deadline: crate::later(now, ctx.shared.config.data_timeout),
                    };
                    self.add_task(id, work);
                    return;
                }
                Err(e) => tracing::warn!("data TLS set-up failed: {e}"),
            }
        }
        let _ = ctx;
        self.report(now, Report::Failed { id });
    }

    /// Steps every data task; true if one moved.
    fn drive_tasks(&mut self, ctx: &mut Ctx<'_, S, A>) -> bool {
        let mut moved = false;
        let mut reports = Vec::new();
        let mut to_secure = Vec::new();
        let ids: Vec<DataId> = self.tasks.keys().copied().collect();
        for id in ids {
            let Some(task) = self.tasks.get_mut(&id) else {
                continue;
            };
            if !task.alive.get() {
                continue;
            }
            match &mut task.work {
                Work::Accepting(listener, _) => loop {
                    match listener.accept() {
                        Ok((tcp, peer)) => {
                            moved = true;
                            reports.push((id, Some((tcp, peer)), None));
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(e) => {
                            tracing::debug!("data accept failed: {e}");
                            break;
                        }
                    }
                },
                Work::Connecting { sock, tls, .. } => {
                    let Some(s) = sock.as_mut() else { continue };
                    if !s.sock.writable {
                        continue;
                    }
                    match connect_state(socket2::SockRef::from(&s.sock.tcp)) {
                        Ok(true) => {
                            moved = true;
                            task.alive.set(false);
                            if let Some(s) = sock.take() {
                                to_secure.push((id, s, *tls));
                            }
                        }
                        Ok(false) => s.sock.writable = false,
                        Err(e) => {
                            tracing::debug!("active data connection failed: {e}");
                            moved = true;
                            task.alive.set(false);
                            sock.take();
                            reports.push((id, None, None));
                        }
                    }
                }
                Work::Securing { sock, .. } => {
                    let Some(s) = sock.as_mut() else { continue };
                    match s.sock.handshake().and_then(|d| Ok(d && s.sock.flush()?)) {
                        Ok(true) => {
                            moved = true;
                            task.alive.set(false);
                            if let Some(s) = sock.take() {
                                reports.push((id, None, Some(Ok(s))));
                            }
                        }
                        Ok(false) => {}
                        Err(e) => {
                            tracing::debug!("data TLS handshake failed: {e}");
                            moved = true;
                            task.alive.set(false);
                            sock.take();
                            reports.push((id, None, None));
                        }
                    }
                }
                Work::Sending(s) => {
                    let (m, end) = s.step();
                    moved |= m;
                    if let Some(outcome) = end {
                        task.alive.set(false);
                        reports.push((id, None, Some(Err(outcome))));
                    }
                }
                Work::SendingFile(f) => {
                    let (m, end) = f.step();
                    moved |= m;
                    if let Some(outcome) = end {
                        task.alive.set(false);
                        reports.push((id, None, Some(Err(outcome))));
                    }
                }
                Work::Receiving(r) => {
                    let (m, end) = r.step();
                    moved |= m;
                    if let Some(outcome) = end {
                        task.alive.set(false);
                        reports.push((id, None, Some(Err(outcome))));
                    }
                }
            }
        }
        let now = Instant::now();
        for (id, s, tls) in to_secure {
            self.secure(ctx, now, id, s, tls);
        }
        for (id, accepted, end) in reports {
            let report = match (accepted, end) {
                (Some((mut tcp, peer)), _) => {
                    let Ok(token) = self.register(ctx, id, &mut tcp) else {
                        continue;
                    };
                    Report::Accepted {
                        id,
                        stream: DataSock {
                            sock: Sock::new(tcp),
                            token,
                        },
                        peer,
                    }
                }
                (None, None) => Report::Failed { id },
                (None, Some(Ok(stream))) => Report::Ready {
                    id,
                    tls_resumed: stream.sock.tls_resumed(),
                    stream,
                },
                (None, Some(Err(outcome))) => {
                    log_outcome(&outcome);
                    Report::Transfer { id, outcome }
                }
            };
            self.report(now, report);
        }
        moved
    }

    /// Writes pending output; false if the connection failed.
    fn write_out(&mut self) -> bool {
        let Some(c) = self.control.as_mut() else {
            self.out.clear();
            return true;
        };
        let mut written = 0;
        let mut ok = true;
        while written < self.out.len() {
            match c.write(self.out.get(written..).unwrap_or_default()) {
                Ok(0) => break,
                Ok(n) => written += n,
                Err(_) => {
                    ok = false;
                    break;
                }
            }
        }
        self.out.drain(..written);
        if ok && c.has_pending_output() && c.flush().is_err() {
            ok = false;
        }
        let pending = !self.out.is_empty() || c.has_pending_output();
        if !pending {
            self.write_stalled = None;
        } else if written > 0 || self.write_stalled.is_none() {
            self.write_stalled = Some(Instant::now());
        }
        ok
    }

    /// One step of leaving TLS after CCC (RFC 4217 §6); true if it moved.
    fn ccc_step(&mut self, now: Instant, idle: std::time::Duration) -> std::io::Result<bool> {
        use crate::sock::CccPeek;
        let Some(c) = self.control.as_mut() else {
            self.blocker = None;
            return Ok(true);
        };
        let before = self.blocker;
        match self.blocker {
            Some(Blocker::CccWait(t)) => match c.ccc_peek()? {
                CccPeek::TlsRecord => {
                    if c.ccc_take_record()? == Some(true) {
                        c.close_notify();
                        self.blocker = Some(Blocker::CccAnswer);
                    }
                }
                // A close_notify now would land in the client's cleartext replies.
                CccPeek::Cleartext => {
                    c.drop_tls();
                    self.blocker = None;
                }
                CccPeek::Nothing if t <= now => {
                    c.close_notify();
                    if c.flush()? {
                        self.blocker = Some(Blocker::CccSent(crate::later(now, idle)));
                    } else {
                        self.blocker = Some(Blocker::CccAnswer);
                    }
                }
                CccPeek::Nothing => {}
            },
            Some(Blocker::CccAnswer) => {
                let sent = c.flush()?;
                if sent {
                    c.drop_tls();
                    self.blocker = None;
                }
            }
            Some(Blocker::CccSent(t)) => match c.ccc_peek()? {
                CccPeek::TlsRecord => {
                    if c.ccc_take_record()? == Some(true) {
                        c.drop_tls();
                        self.blocker = None;
                    }
                }
                CccPeek::Cleartext => {
                    c.drop_tls();
                    self.blocker = None;
                }
                CccPeek::Nothing if t <= now => {
                    c.drop_tls();
                    self.blocker = None;
                }
                CccPeek::Nothing => {}
            },
            _ => {}
        }
        Ok(self.blocker != before)
    }

    /// Control connection I/O: the implicit handshake, writes, blockers, reads.
    fn control_io(&mut self, ctx: &mut Ctx<'_, S, A>) -> bool {
        let now = Instant::now();
        let mut moved = false;
        if self.implicit.is_some() {
            let Some(c) = self.control.as_mut() else {
                self.closed = true;
                return true;
            };
            match c.handshake().and_then(|d| Ok(d && c.flush()?)) {
                Ok(true) => {
                    self.implicit = None;
                    self.start_session(ctx.shared, now);
                    moved = true;
                }
                Ok(false) => return false,
                Err(e) => {
                    tracing::debug!(peer = %self.peer, "implicit TLS handshake failed: {e}");
                    self.closed = true;
                    return true;
                }
            }
        }
        let before = self.out.len();
        if !self.write_out() {
            self.control_lost(now);
            return true;
        }
        moved |= self.out.len() != before;
        let flushed = self.out.is_empty()
            && !self
                .control
                .as_ref()
                .is_some_and(|c| c.has_pending_output());
        match self.blocker {
            Some(Blocker::StartTls) if flushed => {
                moved = true;
                if self.start_control_tls(ctx) {
                    self.blocker = Some(Blocker::Handshake(crate::later(
                        now,
                        ctx.shared.config.data_timeout,
                    )));
                } else {
                    self.tls_done(now, false);
                }
            }
            Some(Blocker::StopTls) if flushed => {
                moved = true;
                self.blocker = Some(Blocker::CccWait(crate::later(now, CCC_GRACE)));
            }
            _ => {}
        }
        if matches!(
            self.blocker,
            Some(Blocker::CccWait(_) | Blocker::CccAnswer | Blocker::CccSent(_))
        ) {
            let idle = ctx.shared.config.idle_timeout;
            match self.ccc_step(now, idle) {
                Ok(m) => moved |= m,
                Err(_) => {
                    self.control_lost(now);
                    return true;
                }
            }
        }
        match self.blocker {
            Some(Blocker::Close) if flushed => {
                if let Some(c) = self.control.as_ref() {
                    c.shutdown_write();
                }
                self.closed = true;
                return true;
            }
            _ => {}
        }
        if let Some(Blocker::Handshake(_)) = self.blocker {
            let r = match self.control.as_mut() {
                Some(c) => c.handshake().and_then(|d| Ok(d && c.flush()?)),
                None => Err(std::io::ErrorKind::NotConnected.into()),
            };
            match r {
                Ok(true) => {
                    self.tls_done(now, true);
                    moved = true;
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::debug!(peer = %self.peer, "control TLS handshake failed: {e}");
                    self.tls_done(now, false);
                    moved = true;
                }
            }
        }
        if self.blocker.is_some() || self.out.len() > OUT_LIMIT {
            return moved;
        }
        // Reads, while the session wants input.
        for _ in 0..16 {
            let Some(conn) = self.conn.as_mut() else {
                break;
            };
            if !conn.wants_read() {
                break;
            }
            let Some(c) = self.control.as_mut() else {
                break;
            };
            match c.read(ctx.buf) {
                Ok(ReadResult::Data(n)) => {
                    moved = true;
                    let input = ctx.buf.get(..n).unwrap_or_default();
                    if conn.handle_input(Instant::now(), input).is_err() {
                        self.closed = true;
                        return true;
                    }
                }
                Ok(ReadResult::WouldBlock) => break,
                Ok(ReadResult::Eof) | Err(_) => {
                    self.control_lost(now);
                    return true;
                }
            }
        }
        moved
    }

    /// The client went away: the session aborts what runs on the data side, and the
    /// connection ends.
    fn control_lost(&mut self, now: Instant) {
        if let Some(c) = self.conn.as_mut() {
            c.handle_control_closed(now);
            while c.poll_action().is_some() {}
        }
        self.closed = true;
    }

    #[cfg(feature = "tls")]
    fn start_control_tls(&mut self, ctx: &Ctx<'_, S, A>) -> bool {
        let (Some(config), Some(c)) = (ctx.shared.tls.clone(), self.control.as_mut()) else {
            return false;
        };
        match rustls::ServerConnection::new(config) {
            Ok(conn) => {
                c.start_tls(rustls::Connection::Server(conn));
                true
            }
            Err(e) => {
                tracing::warn!("control TLS set-up failed: {e}");
                false
            }
        }
    }

    #[cfg(not(feature = "tls"))]
    fn start_control_tls(&mut self, _ctx: &Ctx<'_, S, A>) -> bool {
        false
    }
}

fn log_outcome(outcome: &TransferOutcome) {
    tracing::debug!(?outcome, "transfer ended");
}
