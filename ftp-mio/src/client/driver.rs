//! The client's drive loop: [`ClientConn`] bookkeeping around one private `mio::Poll`, run
//! in the calling thread until the operation at hand completes. The control connection and
//! the data connection are served together, so a transfer's final reply and its data may
//! come in either order, and every wait has a deadline (the session's reply timeout, the
//! connect timeout, the data idle timeout).

use ftp_host::net::connect_state;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ftp_host::client::{ClientAction, ClientConn, ClientJob, ClientReport, Error, Start};
use ftp_proto::client::{DataError, DataId, LoginInfo, Outcome};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

use crate::sock::{ReadResult, Sock};

/// The control connection's token; data connections get the following ones.
const CONTROL: Token = Token(0);

/// Size of the buffer a transfer moves data through.
const BUFFER: usize = ftp_host::transfer::TRANSFER_CHUNK;

/// Control output kept before reads stop (the server is not reading).
const OUT_LIMIT: usize = 64 * 1024;

/// A data connection with its poller token.
#[derive(Debug)]
pub(crate) struct DataSock {
    sock: Sock,
    token: Token,
}

/// The caller's side of a transfer, as the session's bookkeeping sees it (the sink or
/// source itself is passed to the loop by the running operation).
#[derive(Debug)]
pub(crate) enum Pipe {
    Download,
    Upload,
}

/// The sink or source of the operation that is running.
pub(crate) enum Io<'a> {
    None,
    Download(&'a mut dyn Write),
    Upload(&'a mut dyn Read),
}

/// Kept by [`ClientConn`] for a data channel; dropping it (the channel closed) stops the
/// loop's task for that channel.
/// (An atomic flag rather than an `Rc`, so that the client is `Send`; it is never shared
/// between threads.)
pub(crate) struct Task(Arc<AtomicBool>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

/// The loop's side of a [`Task`].
struct Alive(Arc<AtomicBool>);

impl Alive {
    fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
    fn set(&self, v: bool) {
        self.0.store(v, Ordering::Relaxed);
    }
}

type Conn = ClientConn<Pipe, u64, DataSock, Task>;

/// What the loop does for a data channel.
enum Work {
    /// A passive-mode connect in progress.
    Connecting(Option<DataSock>, Instant),
    /// An active-mode listener.
    Accepting(TcpListener, Token),
    /// A transfer.
    Transfer(Box<Transfer>),
}

struct DataTask {
    alive: Alive,
    work: Work,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Handshake,
    Move,
    /// Upload: the source is sent; close_notify and FIN go out.
    Closing,
    /// Upload: waiting for the server to close its side.
    WaitClose,
}

struct Transfer {
    sock: DataSock,
    job: ClientJob<Pipe>,
    phase: Phase,
    total: u64,
    deadline: Instant,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    source_done: bool,
}

/// Everything one client connection owns.
pub(crate) struct Inner {
    poll: Poll,
    events: Events,
    conn: Conn,
    control: Option<Sock>,
    out: Vec<u8>,
    #[cfg(feature = "tls")]
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    #[cfg(feature = "tls")]
    name: rustls::pki_types::ServerName<'static>,
    connect_timeout: Duration,
    idle: Duration,
    tasks: HashMap<DataId, DataTask>,
    tokens: HashMap<Token, DataId>,
    next_token: usize,
    /// StartTls asked for; the handshake begins once `out` is written.
    tls_wanted: bool,
    /// The control connection's TLS handshake is running, until this deadline.
    tls_deadline: Option<Instant>,
    login: Option<Result<LoginInfo, Error>>,
    completed: Vec<(u64, Result<Outcome, Error>)>,
    next_ticket: u64,
    /// The caller's sink or source failed during the running operation.
    local_error: Option<io::Error>,
    finished: bool,
    read_buf: Vec<u8>,
}

/// The settings [`Inner::new`] needs beside the session.
pub(crate) struct Setup {
    pub(crate) connect_timeout: Duration,
    pub(crate) idle: Duration,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    #[cfg(feature = "tls")]
    pub(crate) name: rustls::pki_types::ServerName<'static>,
}

impl Inner {
    /// Wraps a connected control connection (registered with `poll` as [`CONTROL`]).
    pub(crate) fn new(poll: Poll, control: Sock, conn: Conn, setup: Setup) -> Inner {
        Inner {
            poll,
            events: Events::with_capacity(64),
            conn,
            control: Some(control),
            out: Vec::new(),
            #[cfg(feature = "tls")]
            tls: setup.tls,
            #[cfg(feature = "tls")]
            name: setup.name,
            connect_timeout: setup.connect_timeout,
            idle: setup.idle,
            tasks: HashMap::new(),
            tokens: HashMap::new(),
            next_token: 1,
            tls_wanted: false,
            tls_deadline: None,
            login: None,
            completed: Vec::new(),
            next_ticket: 0,
            local_error: None,
            finished: false,
            read_buf: vec![0u8; 16 * 1024],
        }
    }

    /// Runs the loop until the login ends.
    pub(crate) fn wait_login(&mut self) -> Result<LoginInfo, Error> {
        loop {
            self.pump(&mut Io::None);
            if let Some(r) = self.login.take() {
                return r;
            }
            self.wait()?;
        }
    }

    /// Runs one operation to its completion; `io` is its sink or source.
    pub(crate) fn execute(
        &mut self,
        start: Start,
        pipe: Option<Pipe>,
        mut io: Io<'_>,
    ) -> Result<Outcome, Error> {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.local_error = None;
        self.conn.start(Instant::now(), start, pipe, ticket);
        loop {
            self.pump(&mut io);
            if let Some(i) = self.completed.iter().position(|(t, _)| *t == ticket) {
                let (_, result) = self.completed.swap_remove(i);
                // A failed sink or source is the cause the caller needs, whatever the
                // session made of it.
                if let Some(e) = self.local_error.take() {
                    if result.is_err() {
                        return Err(Error::Local(e));
                    }
                }
                return result;
            }
            self.wait()?;
        }
    }

    /// Sends QUIT without waiting for its reply (the client is being dropped).
    pub(crate) fn quit_now(&mut self) {
        if self.finished {
            return;
        }
        self.conn.quit(Instant::now());
        self.pump(&mut Io::None);
    }

    /// Carries out actions and I/O until nothing moves without waiting.
    fn pump(&mut self, io: &mut Io<'_>) {
        loop {
            let mut moved = false;
            let mut drained = false;
            while !self.tls_wanted && self.tls_deadline.is_none() {
                let Some(action) = self.conn.poll_action() else {
                    drained = true;
                    break;
                };
                self.apply(action);
                moved = true;
            }
            // Only once the session's last outputs (its completions) are out: what is still
            // pending then learns that the session is over.
            if drained && self.conn.is_closed() && !self.finished {
                self.finished = true;
                self.conn.finish();
                continue;
            }
            moved |= self.control_write();
            moved |= self.control_tls();
            moved |= self.control_read();
            moved |= self.drive_tasks(io);
            self.prune();
            if !moved {
                return;
            }
        }
    }

    /// Waits for readiness or the next deadline, then fires what is due.
    fn wait(&mut self) -> Result<(), Error> {
        if self.finished && self.tasks.is_empty() && self.conn.poll_timeout().is_none() {
            // Nothing can happen any more: the session is over and its results are out.
            return Err(Error::Closed);
        }
        let now = Instant::now();
        let deadline = self.next_deadline();
        let timeout = deadline.map(|d| d.saturating_duration_since(now));
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::Local(e)),
        }
        for event in self.events.iter() {
            if event.token() == CONTROL {
                if let Some(c) = self.control.as_mut() {
                    c.ready(event);
                }
                continue;
            }
            let Some(id) = self.tokens.get(&event.token()) else {
                continue;
            };
            if let Some(task) = self.tasks.get_mut(id) {
                match &mut task.work {
                    Work::Connecting(Some(s), _) => s.sock.ready(event),
                    Work::Transfer(t) => t.sock.sock.ready(event),
                    _ => {}
                }
            }
        }
        self.fire_timers(Instant::now());
        Ok(())
    }

    fn next_deadline(&self) -> Option<Instant> {
        let mut d = self.conn.poll_timeout();
        let mut add = |x: Instant| d = Some(d.map_or(x, |d| d.min(x)));
        if let Some(t) = self.tls_deadline {
            add(t);
        }
        for task in self.tasks.values() {
            match &task.work {
                Work::Connecting(_, t) => add(*t),
                Work::Transfer(t) => add(t.deadline),
                Work::Accepting(..) => {}
            }
        }
        d
    }

    fn fire_timers(&mut self, now: Instant) {
        if self.conn.poll_timeout().is_some_and(|d| d <= now) {
            self.conn.handle_timeout(now);
        }
        if self.tls_deadline.is_some_and(|d| d <= now) {
            tracing::debug!("control TLS handshake timed out");
            self.tls_deadline = None;
            self.control = None;
            self.conn.tls_result(now, false);
        }
        let mut reports = Vec::new();
        for (id, task) in &mut self.tasks {
            match &mut task.work {
                Work::Connecting(s, t) if *t <= now => {
                    s.take();
                    reports.push(ClientReport::Connected(
                        *id,
                        Err(io::ErrorKind::TimedOut.into()),
                    ));
                }
                Work::Transfer(t) if t.deadline <= now => {
                    if matches!(t.job, ClientJob::Upload(_)) {
                        t.sock.sock.reset_on_close();
                    }
                    reports.push(ClientReport::Failed(*id, DataError::TimedOut));
                    task.alive.set(false);
                }
                _ => {}
            }
        }
        for r in reports {
            self.conn.report(now, r);
        }
        self.prune();
    }

    fn token(&mut self) -> Token {
        let t = Token(self.next_token);
        self.next_token += 1;
        t
    }

    fn add_task(&mut self, id: DataId, work: Work) {
        let alive = Arc::new(AtomicBool::new(true));
        self.conn.set_task(id, Task(alive.clone()));
        let alive = Alive(alive);
        match &work {
            Work::Connecting(Some(s), _) => {
                self.tokens.insert(s.token, id);
            }
            Work::Accepting(_, token) => {
                self.tokens.insert(*token, id);
            }
            Work::Transfer(t) => {
                self.tokens.insert(t.sock.token, id);
            }
            _ => {}
        }
        self.tasks.insert(id, DataTask { alive, work });
    }

    /// Drops the tasks whose channel the session closed.
    fn prune(&mut self) {
        let tokens = &mut self.tokens;
        self.tasks.retain(|_, t| {
            if t.alive.get() {
                return true;
            }
            match &t.work {
                Work::Connecting(Some(s), _) => {
                    tokens.remove(&s.token);
                }
                Work::Accepting(_, token) => {
                    tokens.remove(token);
                }
                Work::Transfer(t) => {
                    tokens.remove(&t.sock.token);
                }
                _ => {}
            }
            false
        });
    }

    fn apply(&mut self, action: ClientAction<Pipe, u64, DataSock>) {
        let now = Instant::now();
        match action {
            ClientAction::Send(bytes) => self.out.extend_from_slice(&bytes),
            ClientAction::Flush => {
                self.control_write();
            }
            ClientAction::StartTls => self.tls_wanted = true,
            ClientAction::LoggedIn(r) => self.login = Some(r),
            ClientAction::Complete { done, result } => self.completed.push((done, result)),
            ClientAction::Close => {
                self.control_write();
                if let Some(c) = self.control.take() {
                    c.shutdown_write();
                }
            }
            ClientAction::Connect { id, addr } => self.connect(now, id, addr),
            ClientAction::Accept { id, listener } => {
                let mut listener = TcpListener::from_std(listener);
                let token = self.token();
                if let Err(e) =
                    self.poll
                        .registry()
                        .register(&mut listener, token, Interest::READABLE)
                {
                    tracing::debug!(%id, error = %e, "cannot watch the data listener");
                    self.conn
                        .report(now, ClientReport::Failed(id, DataError::Local));
                    return;
                }
                self.add_task(id, Work::Accepting(listener, token));
            }
            ClientAction::Transfer {
                id,
                stream,
                tls,
                job,
            } => self.transfer(now, id, stream, tls, job),
        }
    }

    fn connect(&mut self, now: Instant, id: DataId, addr: SocketAddr) {
        let token = self.token();
        let made = TcpStream::connect(addr).and_then(|mut tcp| {
            self.poll.registry().register(
                &mut tcp,
                token,
                Interest::READABLE | Interest::WRITABLE,
            )?;
            Ok(tcp)
        });
        match made {
            Ok(tcp) => {
                let sock = DataSock {
                    sock: Sock::new(tcp),
                    token,
                };
                let deadline = crate::later(now, self.connect_timeout);
                self.add_task(id, Work::Connecting(Some(sock), deadline));
            }
            Err(e) => self.conn.report(now, ClientReport::Connected(id, Err(e))),
        }
    }

    fn transfer(
        &mut self,
        now: Instant,
        id: DataId,
        mut stream: DataSock,
        tls: bool,
        job: ClientJob<Pipe>,
    ) {
        // Events were not watched while the connection waited for its transfer.
        stream.sock.readable = true;
        stream.sock.writable = true;
        #[cfg_attr(not(feature = "tls"), allow(unused_mut))]
        let mut phase = Phase::Move;
        if tls {
            #[cfg(feature = "tls")]
            {
                let made = self.tls.clone().ok_or(DataError::Tls).and_then(|config| {
                    rustls::ClientConnection::new(config, self.name.clone()).map_err(|e| {
                        tracing::debug!(error = %e, "data TLS set-up failed");
                        DataError::Tls
                    })
                });
                match made {
                    Ok(c) => {
                        stream.sock.start_tls(rustls::Connection::Client(c));
                        phase = Phase::Handshake;
                    }
                    Err(e) => {
                        self.conn.report(now, ClientReport::Failed(id, e));
                        return;
                    }
                }
            }
            #[cfg(not(feature = "tls"))]
            {
                self.conn
                    .report(now, ClientReport::Failed(id, DataError::Tls));
                return;
            }
        }
        let size = if matches!(job, ClientJob::Listing) {
            64 * 1024
        } else {
            BUFFER
        };
        let t = Transfer {
            sock: stream,
            job,
            phase,
            total: 0,
            deadline: crate::later(now, self.idle),
            buf: vec![0u8; size],
            pos: 0,
            len: 0,
            source_done: false,
        };
        self.add_task(id, Work::Transfer(Box::new(t)));
    }

    /// Writes pending control output; true if bytes moved.
    fn control_write(&mut self) -> bool {
        let Some(c) = self.control.as_mut() else {
            self.out.clear();
            return false;
        };
        let mut moved = false;
        let mut failed = false;
        let mut written = 0;
        while written < self.out.len() {
            match c.write(self.out.get(written..).unwrap_or_default()) {
                Ok(0) => break,
                Ok(n) => {
                    written += n;
                    moved = true;
                }
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        self.out.drain(..written);
        if !failed && c.has_pending_output() && c.flush().is_err() {
            failed = true;
        }
        if failed {
            self.control_failed();
            return true;
        }
        moved
    }

    fn control_failed(&mut self) {
        self.control = None;
        self.out.clear();
        self.conn.handle_control_eof(Instant::now());
    }

    /// Starts or drives the control connection's TLS handshake; true if it moved.
    fn control_tls(&mut self) -> bool {
        let now = Instant::now();
        if self.tls_wanted {
            if !self.out.is_empty() {
                return false;
            }
            self.tls_wanted = false;
            let started = match self.control.take() {
                Some(mut c) => {
                    let ok = self.start_control_tls(&mut c);
                    self.control = Some(c);
                    ok
                }
                None => false,
            };
            if !started {
                self.conn.tls_result(now, false);
                return true;
            }
            self.tls_deadline = Some(crate::later(now, self.connect_timeout));
        }
        if self.tls_deadline.is_none() {
            return false;
        }
        let r = match self.control.as_mut() {
            Some(c) => c.handshake().and_then(|done| Ok(done && c.flush()?)),
            None => Err(io::ErrorKind::NotConnected.into()),
        };
        match r {
            Ok(false) => false,
            Ok(true) => {
                self.tls_deadline = None;
                self.conn.tls_result(now, true);
                true
            }
            Err(e) => {
                tracing::debug!(error = %e, "control TLS handshake failed");
                self.tls_deadline = None;
                self.control = None;
                self.conn.tls_failed(now, e);
                true
            }
        }
    }

    #[cfg(feature = "tls")]
    fn start_control_tls(&self, c: &mut Sock) -> bool {
        let Some(config) = self.tls.clone() else {
            return false;
        };
        match rustls::ClientConnection::new(config, self.name.clone()) {
            Ok(conn) => {
                c.start_tls(rustls::Connection::Client(conn));
                true
            }
            Err(e) => {
                tracing::debug!(error = %e, "control TLS set-up failed");
                false
            }
        }
    }

    #[cfg(not(feature = "tls"))]
    fn start_control_tls(&self, _c: &mut Sock) -> bool {
        false
    }

    /// Reads the control connection while the session wants input; true if bytes came.
    fn control_read(&mut self) -> bool {
        if self.tls_wanted || self.tls_deadline.is_some() || self.out.len() > OUT_LIMIT {
            return false;
        }
        let mut moved = false;
        while self.conn.wants_read() {
            let Some(c) = self.control.as_mut() else {
                return moved;
            };
            match c.read(&mut self.read_buf) {
                Ok(ReadResult::Data(n)) => {
                    let now = Instant::now();
                    self.conn
                        .handle_input(now, self.read_buf.get(..n).unwrap_or_default());
                    moved = true;
                }
                Ok(ReadResult::WouldBlock) => return moved,
                Ok(ReadResult::Eof) | Err(_) => {
                    self.control = None;
                    self.conn.handle_control_eof(Instant::now());
                    return true;
                }
            }
        }
        moved
    }

    /// Moves every data task as far as it goes; true if one moved.
    fn drive_tasks(&mut self, io: &mut Io<'_>) -> bool {
        let mut reports = Vec::new();
        let mut moved = false;
        let ids: Vec<DataId> = self.tasks.keys().copied().collect();
        for id in ids {
            let Some(task) = self.tasks.get_mut(&id) else {
                continue;
            };
            if !task.alive.get() {
                continue;
            }
            match &mut task.work {
                Work::Connecting(slot, _) => {
                    let Some(s) = slot.as_mut() else { continue };
                    if !s.sock.writable {
                        continue;
                    }
                    match connect_state(socket2::SockRef::from(&s.sock.tcp)) {
                        Ok(true) => {
                            if let Some(s) = slot.take() {
                                reports.push(ClientReport::Connected(id, Ok(s)));
                            }
                            task.alive.set(false);
                            moved = true;
                        }
                        Ok(false) => s.sock.writable = false,
                        Err(e) => {
                            slot.take();
                            reports.push(ClientReport::Connected(id, Err(e)));
                            task.alive.set(false);
                            moved = true;
                        }
                    }
                }
                Work::Accepting(listener, _) => loop {
                    match listener.accept() {
                        Ok((mut tcp, peer)) => {
                            let token = Token(self.next_token);
                            self.next_token += 1;
                            if self
                                .poll
                                .registry()
                                .register(&mut tcp, token, Interest::READABLE | Interest::WRITABLE)
                                .is_err()
                            {
                                continue;
                            }
                            let s = DataSock {
                                sock: Sock::new(tcp),
                                token,
                            };
                            reports.push(ClientReport::Accepted(id, s, peer));
                            moved = true;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => {
                            tracing::debug!(error = %e, "accept failed");
                            break;
                        }
                    }
                },
                Work::Transfer(t) => {
                    let (m, end) = t.step(id, io, &mut self.local_error, &mut reports, self.idle);
                    moved |= m;
                    if let Some(report) = end {
                        reports.push(report);
                        task.alive.set(false);
                    }
                }
            }
        }
        let now = Instant::now();
        for r in reports {
            moved = true;
            self.conn.report(now, r);
        }
        moved
    }
}

impl Transfer {
    /// Moves bytes; returns whether anything moved and, at the end, the report.
    fn step(
        &mut self,
        id: DataId,
        io: &mut Io<'_>,
        local_error: &mut Option<io::Error>,
        reports: &mut Vec<ClientReport<DataSock>>,
        idle: Duration,
    ) -> (bool, Option<ClientReport<DataSock>>) {
        let mut moved = false;
        if self.phase == Phase::Handshake {
            match self.sock.sock.handshake() {
                Ok(true) => {
                    self.phase = Phase::Move;
                    moved = true;
                }
                Ok(false) => return (false, None),
                Err(e) => {
                    tracing::debug!(%id, error = %e, "data TLS handshake failed");
                    return (true, Some(ClientReport::Failed(id, DataError::Tls)));
                }
            }
        }
        let r = match self.job {
            ClientJob::Listing | ClientJob::Download(_) => {
                self.download(id, io, local_error, reports)
            }
            ClientJob::Upload(_) => self.upload(io, local_error),
        };
        let (m, end) = match r {
            Ok((m, done)) => (m, done.then(|| ClientReport::Done(id, self.total))),
            Err(e) => {
                if matches!(self.job, ClientJob::Upload(_)) {
                    // Never let the server take a failed upload for the whole file.
                    self.sock.sock.reset_on_close();
                }
                (true, Some(ClientReport::Failed(id, e)))
            }
        };
        moved |= m;
        if moved {
            self.deadline = crate::later(Instant::now(), idle);
        }
        (moved, end)
    }

    /// Reads to the end of the data; `Ok((moved, ended))`.
    fn download(
        &mut self,
        id: DataId,
        io: &mut Io<'_>,
        local_error: &mut Option<io::Error>,
        reports: &mut Vec<ClientReport<DataSock>>,
    ) -> Result<(bool, bool), DataError> {
        let tls = self.sock.sock.is_tls();
        let mut moved = false;
        // Bounded per call, so one fast connection does not starve the control connection.
        for _ in 0..64 {
            let n = match self.sock.sock.read(&mut self.buf) {
                Ok(ReadResult::Data(n)) => n,
                Ok(ReadResult::WouldBlock) => return Ok((moved, false)),
                Ok(ReadResult::Eof) => return Ok((true, true)),
                // Most FTP peers end TLS data without close_notify; the final reply still
                // has to confirm the transfer.
                Err(e) if tls && e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Ok((true, true))
                }
                Err(_) => return Err(DataError::ConnectionLost),
            };
            moved = true;
            self.total += n as u64;
            let chunk = self.buf.get(..n).unwrap_or_default();
            match (&self.job, &mut *io) {
                (ClientJob::Listing, _) => {
                    reports.push(ClientReport::Listing(id, Bytes::copy_from_slice(chunk)))
                }
                (ClientJob::Download(_), Io::Download(w)) => {
                    if let Err(e) = w.write_all(chunk) {
                        *local_error = Some(e);
                        return Err(DataError::Local);
                    }
                }
                _ => return Err(DataError::Local),
            }
        }
        Ok((moved, false))
    }

    /// Sends the source, then closes and waits for the server's close, reading (and
    /// dropping) whatever the server sends all along: under TLS 1.3 servers send session
    /// tickets, and a socket closed with unread bytes resets the connection.
    fn upload(
        &mut self,
        io: &mut Io<'_>,
        local_error: &mut Option<io::Error>,
    ) -> Result<(bool, bool), DataError> {
        let mut moved = false;
        let mut scratch = [0u8; 512];
        let mut peer_closed = false;
        loop {
            match self.sock.sock.read(&mut scratch) {
                Ok(ReadResult::Data(_)) => moved = true,
                Ok(ReadResult::WouldBlock) => break,
                Ok(ReadResult::Eof) | Err(_) => {
                    peer_closed = true;
                    break;
                }
            }
        }
        if self.phase == Phase::WaitClose {
            return Ok((moved || peer_closed, peer_closed));
        }
        if self.phase == Phase::Move {
            for _ in 0..64 {
                if self.pos == self.len {
                    if self.source_done {
                        self.phase = Phase::Closing;
                        self.sock.sock.close_notify();
                        break;
                    }
                    let Io::Upload(src) = &mut *io else {
                        return Err(DataError::Local);
                    };
                    match read_some(&mut **src, &mut self.buf) {
                        Ok(0) => self.source_done = true,
                        Ok(n) => {
                            self.pos = 0;
                            self.len = n;
                        }
                        Err(e) => {
                            *local_error = Some(e);
                            return Err(DataError::Local);
                        }
                    }
                    moved = true;
                    continue;
                }
                if peer_closed {
                    return Err(DataError::ConnectionLost);
                }
                let chunk = self.buf.get(self.pos..self.len).unwrap_or_default();
                match self.sock.sock.write(chunk) {
                    Ok(0) => return Ok((moved, false)),
                    Ok(n) => {
                        self.pos += n;
                        self.total += n as u64;
                        moved = true;
                    }
                    Err(_) => return Err(DataError::ConnectionLost),
                }
            }
        }
        if self.phase == Phase::Closing {
            match self.sock.sock.flush() {
                Ok(true) => {
                    self.sock.sock.shutdown_write();
                    self.phase = Phase::WaitClose;
                    moved = true;
                    if peer_closed {
                        return Ok((true, true));
                    }
                }
                Ok(false) => {}
                Err(_) => return Err(DataError::ConnectionLost),
            }
        }
        Ok((moved, false))
    }
}

fn read_some(src: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match src.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

#[cfg(feature = "tls")]
/// Runs a TLS handshake on `sock` (registered with `poll` as [`CONTROL`]) until it completes
/// or `deadline` passes: for implicit FTPS, before the session starts.
pub(crate) fn handshake_blocking(
    poll: &mut Poll,
    sock: &mut Sock,
    deadline: Instant,
) -> Result<(), Error> {
    let mut events = Events::with_capacity(4);
    loop {
        match sock.handshake().and_then(|done| Ok(done && sock.flush()?)) {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => return Err(Error::from_tls(e)),
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(Error::ConnectTimeout);
        }
        match poll.poll(&mut events, Some(deadline - now)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::Tls(e)),
        }
        for event in events.iter() {
            sock.ready(event);
        }
    }
}

/// The token the control connection is registered under.
pub(crate) fn control_token() -> Token {
    CONTROL
}
