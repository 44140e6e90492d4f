//! The FTP server: a [`Server`] builder whose [`BoundServer::run`] serves every connection
//! from ONE `mio::Poll` loop in the calling thread, with the [`Storage`] and
//! [`Authenticator`] traits (default implementations [`FsStorage`] and [`UserList`]) and
//! FTPS set-up.
//!
//! The loop owns every socket, non-blocking and registered with the poller: the control
//! listeners, each control connection, passive listeners and data connections. Each control
//! connection's [`ServerSession`](ftp_proto::server::ServerSession) makes every protocol
//! decision; `ftp_host`'s `ServerConn` keeps the bookkeeping, and the loop only moves bytes,
//! runs TLS (rustls driven by hand, for the control connection, explicit or implicit, and for
//! data connections) and keeps every session's next deadline in one ordered set.
//!
//! What may block runs on a small fixed pool of worker threads ([`Server::workers`]): logins,
//! storage calls and the file side of transfers, with at most four chunks in flight between
//! a transfer's file side and its socket. Jobs go first and transfers may use all workers
//! but one, so a login never waits behind long transfers; with `n` workers, `n - 1`
//! transfers move at once and more wait for a worker.
//!
//! ```no_run
//! use std::sync::Arc;
//! use ftp_proto::server::ServerConfig;
//! use ftp_mio::server::{FsStorage, Server, UserList};
//!
//! # fn run() -> Result<(), ftp_mio::Error> {
//! let mut config = ServerConfig::default();
//! config.anonymous = true;
//! let users = UserList::new().user("alice", "secret").anonymous();
//! let server = Server::new(FsStorage::new("/srv/ftp")?, users)
//!     .listen("127.0.0.1:2121".parse().unwrap())
//!     .config(Arc::new(config))
//!     .bind()?;
//! let shutdown = server.shutdown_handle();
//! std::thread::spawn(move || {
//!     // ... later: stop accepting, let transfers finish for up to the grace period.
//!     shutdown.shutdown();
//! });
//! server.run()
//! # }
//! ```

mod data;
mod event_loop;
mod pool;
mod session;

pub use ftp_host::auth::{Authenticator, Credentials, Grant, UserList};
pub use ftp_host::storage::{FsStorage, Storage};
#[cfg(feature = "tls")]
pub use ftp_host::tls::{
    data_config, server_config as tls_config, server_config_from_pem as tls_config_from_pem,
    server_config_from_pem_files as tls_config_from_pem_files,
};
pub use ftp_host::transfer::TRANSFER_CHUNK as TRANSFER_BUFFER;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use ftp_host::limits::Admission;
use ftp_proto::server::{ServerConfig, TlsMode};
use mio::{Interest, Poll, Token, Waker};

use crate::Error;
use event_loop::{EventLoop, WAKER};
use pool::{Notifier, Pool};
use session::Shared;

/// Builds a server: listen addresses, the core's policy, storage, authentication, TLS,
/// connection limits and worker threads. Call [`bind`](Self::bind), then
/// [`BoundServer::run`].
pub struct Server<S, A> {
    listen: Vec<SocketAddr>,
    config: Arc<ServerConfig>,
    storage: S,
    auth: A,
    #[cfg(feature = "tls")]
    tls: Option<Arc<rustls::ServerConfig>>,
    max_connections: usize,
    max_per_ip: usize,
    grace: Duration,
    workers: usize,
}

impl<S, A> std::fmt::Debug for Server<S, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listen", &self.listen)
            .field("max_connections", &self.max_connections)
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

impl<S: Storage, A: Authenticator> Server<S, A> {
    /// A server over `storage` that checks logins with `auth`, with the core's default policy
    /// ([`ServerConfig::default`]), no TLS, at most 512 connections and 32 per client
    /// address, 30 s for transfers to finish at shutdown, and 4 worker threads.
    pub fn new(storage: S, auth: A) -> Self {
        Server {
            listen: Vec::new(),
            config: Arc::new(ServerConfig::default()),
            storage,
            auth,
            #[cfg(feature = "tls")]
            tls: None,
            max_connections: 512,
            max_per_ip: 32,
            grace: Duration::from_secs(30),
            workers: 4,
        }
    }

    /// Adds an address to listen on (IPv4 or IPv6; port 0 picks a free port, see
    /// [`BoundServer::local_addrs`]). An IPv6 address listens for IPv6 only.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen.push(addr);
        self
    }

    /// Sets the core's policy: passive ports, masquerade address, limits, timeouts, anonymous
    /// access, TLS mode ([`TlsMode::Implicit`] makes every connection start with TLS).
    pub fn config(mut self, config: Arc<ServerConfig>) -> Self {
        self.config = config;
        self
    }

    /// Sets the TLS certificate and settings for FTPS (see [`tls_config`]). Needed when the
    /// config's [`TlsMode`] is not `Disabled`.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Most control connections at once; more are answered 421 and closed.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }

    /// Most control connections at once from one client address; more get 421.
    pub fn max_connections_per_ip(mut self, n: usize) -> Self {
        self.max_per_ip = n;
        self
    }

    /// How long [`ShutdownHandle::shutdown`] lets running transfers finish before the
    /// remaining connections are dropped.
    pub fn shutdown_timeout(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Worker threads for logins, storage calls and the file side of transfers (at least 2;
    /// 4 by default). One is kept for logins and storage calls, so `n - 1` transfers move at
    /// once.
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n.max(2);
        self
    }

    /// Binds every listen address. Errs if one cannot be bound, if none was given, or if the
    /// config wants TLS and no TLS configuration was set (or the crate was built without its
    /// `tls` feature).
    pub fn bind(self) -> Result<BoundServer<S, A>, Error> {
        if self.listen.is_empty() {
            return Err(Error::NoListenAddress);
        }
        if self.config.tls != TlsMode::Disabled {
            #[cfg(not(feature = "tls"))]
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "the server configuration enables TLS but ftp-mio was built without its `tls` feature",
            )));
            #[cfg(feature = "tls")]
            if self.tls.is_none() {
                return Err(Error::TlsNotConfigured);
            }
        }
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let mut listeners = Vec::new();
        let mut local_addrs = Vec::new();
        for (i, addr) in self.listen.iter().enumerate() {
            let l = ftp_host::net::bind_control(*addr, 1024)?;
            local_addrs.push(l.local_addr()?);
            let mut l = mio::net::TcpListener::from_std(l);
            poll.registry()
                .register(&mut l, Token(i + 1), Interest::READABLE)?;
            listeners.push(l);
        }
        let implicit_tls = self.config.tls == TlsMode::Implicit;
        let shared = Shared {
            config: self.config,
            storage: Arc::new(self.storage),
            auth: Arc::new(self.auth),
            #[cfg(feature = "tls")]
            data_tls: self.tls.as_ref().map(data_config),
            #[cfg(feature = "tls")]
            tls: self.tls,
            implicit_tls,
        };
        Ok(BoundServer {
            poll,
            waker,
            listeners,
            local_addrs,
            shared,
            stop: Arc::new(AtomicBool::new(false)),
            admission: Admission::new(self.max_connections, self.max_per_ip),
            grace: self.grace,
            workers: self.workers,
        })
    }
}

/// A server whose addresses are bound; [`run`](Self::run) serves until shut down.
pub struct BoundServer<S, A> {
    poll: Poll,
    waker: Arc<Waker>,
    listeners: Vec<mio::net::TcpListener>,
    local_addrs: Vec<SocketAddr>,
    shared: Shared<S, A>,
    stop: Arc<AtomicBool>,
    admission: Admission,
    grace: Duration,
    workers: usize,
}

impl<S, A> std::fmt::Debug for BoundServer<S, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundServer")
            .field("local_addrs", &self.local_addrs)
            .finish_non_exhaustive()
    }
}

/// Stops a running server from any thread: [`shutdown`](Self::shutdown) wakes the loop, which
/// stops accepting, closes idle sessions with 421, and lets running transfers finish within
/// the grace period.
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
}

impl ShutdownHandle {
    /// Starts the shutdown; [`BoundServer::run`] returns once it is complete. Harmless when
    /// called again, or before `run`.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Release);
        if let Err(e) = self.waker.wake() {
            tracing::warn!("cannot wake the server loop: {e}");
        }
    }
}

impl<S: Storage, A: Authenticator> BoundServer<S, A> {
    /// The bound addresses, in the order they were given (with the real port for port 0).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// A handle that shuts this server down.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            stop: self.stop.clone(),
            waker: self.waker.clone(),
        }
    }

    /// Serves connections in the calling thread until [`ShutdownHandle::shutdown`]; then
    /// waits up to the grace period for sessions to end, drops the rest, and joins the
    /// worker threads.
    pub fn run(self) -> Result<(), Error> {
        let (tx, rx) = mpsc::channel();
        let notifier = Notifier::new(tx, self.waker.clone());
        let pool = Pool::new(self.workers, notifier)?;
        tracing::info!(addrs = ?self.local_addrs, "FTP server listening");
        let mut lp = EventLoop::new(
            self.poll,
            self.listeners,
            self.shared,
            self.admission,
            self.grace,
            self.stop,
            pool,
            rx,
        );
        let r = lp.run();
        let EventLoop { pool, .. } = lp;
        pool.shutdown();
        Ok(r?)
    }
}
