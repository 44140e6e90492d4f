//! The server's single event loop: one `mio::Poll` for the control listeners, every control
//! connection, passive listener and data connection, the workers' notices (through a
//! `mio::Waker`) and one ordered set of deadlines.

use std::collections::{BTreeSet, HashMap};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ftp_host::auth::Authenticator;
use ftp_host::limits::Admission;
use ftp_host::proxy::HeaderRead;
use ftp_host::server::Report;
use ftp_host::storage::Storage;
use ftp_proto::server::{refusal_reply, DataId};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

use super::pool::{Notice, Pool};
use super::session::{Ctx, Session, Shared};

/// The waker's token; the control listeners take the next ones.
pub(crate) const WAKER: Token = Token(0);

pub(crate) struct EventLoop<S: Storage, A> {
    pub(crate) poll: Poll,
    pub(crate) listeners: Vec<Option<TcpListener>>,
    pub(crate) shared: Shared<S, A>,
    pub(crate) admission: Admission,
    pub(crate) grace: Duration,
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) pool: Pool<S, A>,
    pub(crate) notices: mpsc::Receiver<Notice<S>>,
    sessions: HashMap<u64, Session<S, A>>,
    /// Which session (and data channel) each token belongs to.
    tokens: HashMap<Token, (u64, Option<DataId>)>,
    next_token: usize,
    next_key: u64,
    /// Every session's next deadline, ordered.
    timers: BTreeSet<(Instant, u64)>,
    /// A failed accept (out of descriptors) is retried then.
    accept_retry: Option<Instant>,
    dirty: Vec<u64>,
    buf: Vec<u8>,
    /// Connections still sending their PROXY header, by token (not yet admitted).
    pending: HashMap<Token, Pending>,
    /// Their deadlines, ordered.
    pending_timers: BTreeSet<(Instant, Token)>,
}

/// A connection from a trusted proxy whose header is not complete yet.
struct Pending {
    tcp: TcpStream,
    header: HeaderRead,
}

impl<S: Storage, A: Authenticator> EventLoop<S, A> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        poll: Poll,
        listeners: Vec<TcpListener>,
        shared: Shared<S, A>,
        admission: Admission,
        grace: Duration,
        stop: Arc<AtomicBool>,
        pool: Pool<S, A>,
        notices: mpsc::Receiver<Notice<S>>,
    ) -> Self {
        let next_token = listeners.len() + 1;
        EventLoop {
            poll,
            listeners: listeners.into_iter().map(Some).collect(),
            shared,
            admission,
            grace,
            stop,
            pool,
            notices,
            sessions: HashMap::new(),
            tokens: HashMap::new(),
            next_token,
            next_key: 0,
            timers: BTreeSet::new(),
            accept_retry: None,
            dirty: Vec::new(),
            buf: vec![0u8; 8192],
            pending: HashMap::new(),
            pending_timers: BTreeSet::new(),
        }
    }

    /// Serves until shut down and drained (or the grace period is over).
    pub(crate) fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut grace: Option<Instant> = None;
        let idle = self.shared.config.idle_timeout;
        loop {
            let now = Instant::now();
            if grace.is_none() && self.stop.load(Ordering::Acquire) {
                grace = Some(crate::later(now, self.grace));
                self.begin_shutdown(now);
                self.drive_dirty();
            }
            if let Some(g) = grace {
                if self.sessions.is_empty() {
                    break;
                }
                if now >= g {
                    tracing::warn!(
                        left = self.sessions.len(),
                        "grace period over: dropping sessions"
                    );
                    break;
                }
            }
            let mut deadline = self.timers.first().map(|(t, _)| *t);
            let header = self.pending_timers.first().map(|(t, _)| *t);
            for d in [grace, self.accept_retry, header].into_iter().flatten() {
                deadline = Some(deadline.map_or(d, |x| x.min(d)));
            }
            // Sessions that stopped with work left are driven again without waiting.
            let timeout = if self.dirty.is_empty() {
                deadline.map(|d| d.saturating_duration_since(now))
            } else {
                Some(Duration::ZERO)
            };
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            let now = Instant::now();
            for event in events.iter() {
                let token = event.token();
                if token == WAKER {
                    continue;
                }
                if token.0 <= self.listeners.len() {
                    self.accept(token.0 - 1, now);
                    continue;
                }
                if self.pending.contains_key(&token) {
                    self.read_header(token, now);
                    continue;
                }
                let Some(&(key, id)) = self.tokens.get(&token) else {
                    continue;
                };
                if let Some(s) = self.sessions.get_mut(&key) {
                    s.ready(id, event);
                    self.dirty.push(key);
                }
            }
            while let Ok(notice) = self.notices.try_recv() {
                let key = match notice {
                    Notice::Done(key, done) => {
                        if let Some(s) = self.sessions.get_mut(&key) {
                            s.report(now, Report::Done(done));
                        }
                        key
                    }
                    Notice::Moved(key) => key,
                    Notice::File(key, id, r) => {
                        if let Some(s) = self.sessions.get_mut(&key) {
                            s.file_done(id, r);
                        }
                        key
                    }
                };
                self.dirty.push(key);
            }
            while let Some(&(t, key)) = self.timers.first() {
                if t > now {
                    break;
                }
                self.timers.pop_first();
                if let Some(s) = self.sessions.get_mut(&key) {
                    s.filed = None;
                    s.fire(now, idle);
                    self.dirty.push(key);
                }
            }
            while let Some(&(t, token)) = self.pending_timers.first() {
                if t > now {
                    break;
                }
                self.pending_timers.pop_first();
                if let Some(mut p) = self.pending.remove(&token) {
                    p.header.timed_out();
                    let _ = self.poll.registry().deregister(&mut p.tcp);
                }
            }
            if self.accept_retry.is_some_and(|t| t <= now) {
                self.accept_retry = None;
                for i in 0..self.listeners.len() {
                    self.accept(i, now);
                }
            }
            self.drive_dirty();
        }
        let keys: Vec<u64> = self.sessions.keys().copied().collect();
        for key in keys {
            if let Some(mut s) = self.sessions.remove(&key) {
                let mut ctx = self.ctx();
                s.close(&mut ctx);
            }
        }
        Ok(())
    }

    fn ctx(&mut self) -> Ctx<'_, S, A> {
        Ctx {
            registry: self.poll.registry(),
            tokens: &mut self.tokens,
            next_token: &mut self.next_token,
            pool: &self.pool,
            shared: &self.shared,
            buf: &mut self.buf,
        }
    }

    fn drive_dirty(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        let mut again = Vec::new();
        let idle = self.shared.config.idle_timeout;
        for key in dirty.drain(..) {
            let Some(mut s) = self.sessions.remove(&key) else {
                continue;
            };
            let mut ctx = self.ctx();
            if s.drive(&mut ctx) {
                again.push(key);
            }
            if s.closed {
                s.close(&mut ctx);
                if let Some(t) = s.filed.take() {
                    self.timers.remove(&(t, key));
                }
                continue;
            }
            let next = s.deadline(idle);
            if next != s.filed {
                if let Some(t) = s.filed {
                    self.timers.remove(&(t, key));
                }
                if let Some(t) = next {
                    self.timers.insert((t, key));
                }
                s.filed = next;
            }
            self.sessions.insert(key, s);
        }
        self.dirty = again;
        // Sessions sit in the map by value (about 2 KiB each): after a burst has closed, its
        // room is given back.
        ftp_host::tables::shrink_after_burst(&mut self.sessions);
        ftp_host::tables::shrink_after_burst(&mut self.tokens);
    }

    /// Stops accepting and tells every session; connections still sending their PROXY
    /// header are closed.
    fn begin_shutdown(&mut self, now: Instant) {
        for l in &mut self.listeners {
            if let Some(mut l) = l.take() {
                let _ = self.poll.registry().deregister(&mut l);
            }
        }
        for (_, mut p) in self.pending.drain() {
            let _ = self.poll.registry().deregister(&mut p.tcp);
        }
        self.pending_timers.clear();
        for (key, s) in &mut self.sessions {
            s.shutdown(now);
            self.dirty.push(*key);
        }
    }

    /// Accepts every pending connection of listener `i`.
    fn accept(&mut self, i: usize, now: Instant) {
        loop {
            let Some(listener) = self.listeners.get(i).and_then(Option::as_ref) else {
                return;
            };
            let (mut tcp, peer) = match listener.accept() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!("accept failed: {e}");
                    self.accept_retry = Some(now + Duration::from_millis(100));
                    return;
                }
            };
            match self.shared.proxy_protocol.clone() {
                None => self.start_session(tcp, peer, now),
                // Behind a proxy the client is known only from the header, so it is read
                // (within its deadline) before the connection is admitted as the client's.
                Some(proxy) => {
                    let Ok(header) = proxy.start(peer, now) else {
                        continue;
                    };
                    let token = Token(self.next_token);
                    self.next_token += 1;
                    if let Err(e) =
                        self.poll
                            .registry()
                            .register(&mut tcp, token, Interest::READABLE)
                    {
                        tracing::warn!("cannot watch a connection: {e}");
                        continue;
                    }
                    self.pending_timers.insert((header.deadline(), token));
                    self.pending.insert(token, Pending { tcp, header });
                    // Bytes may have arrived with the connection.
                    self.read_header(token, now);
                }
            }
        }
    }

    /// Reads what the pending connection `token` has sent of its PROXY header (never past
    /// it); once it is whole, the connection is admitted as the client's and its session
    /// starts. A refused header closes the connection.
    fn read_header(&mut self, token: Token, now: Instant) {
        let Some(p) = self.pending.get_mut(&token) else {
            return;
        };
        let client = loop {
            let n = match p.tcp.read(p.header.space()) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::debug!(proxy = %p.header.proxy(), "reading the PROXY header: {e}");
                    break None;
                }
            };
            match p.header.filled(n) {
                Ok(Some(client)) => break Some(client),
                Ok(None) => {}
                Err(_) => break None,
            }
        };
        let Some(mut p) = self.pending.remove(&token) else {
            return;
        };
        self.pending_timers.remove(&(p.header.deadline(), token));
        let _ = self.poll.registry().deregister(&mut p.tcp);
        if let Some(client) = client {
            self.start_session(p.tcp, client, now);
        }
    }

    /// Admits the control connection from `peer` (421 when over a limit) and starts its
    /// session.
    fn start_session(&mut self, mut tcp: TcpStream, peer: SocketAddr, now: Instant) {
        let slot = match self.admission.admit(peer.ip()) {
            Ok(slot) => slot,
            Err(reason) => {
                tracing::debug!(%peer, ?reason, "connection limit reached");
                if !self.shared.implicit_tls {
                    let _ = tcp.write(&refusal_reply(reason));
                }
                return;
            }
        };
        if let Err(e) = ftp_host::net::setup_control(socket2::SockRef::from(&tcp)) {
            tracing::debug!(%peer, "control socket options: {e}");
        }
        let key = self.next_key;
        self.next_key += 1;
        let token = Token(self.next_token);
        self.next_token += 1;
        if let Err(e) =
            self.poll
                .registry()
                .register(&mut tcp, token, Interest::READABLE | Interest::WRITABLE)
        {
            tracing::warn!("cannot watch a connection: {e}");
            return;
        }
        match Session::new(key, token, tcp, peer, slot, &self.shared, now) {
            Ok(s) => {
                tracing::debug!(%peer, "connected");
                self.tokens.insert(token, (key, None));
                self.sessions.insert(key, s);
                self.dirty.push(key);
            }
            Err(e) => tracing::debug!(%peer, "connection set-up failed: {e}"),
        }
    }
}
