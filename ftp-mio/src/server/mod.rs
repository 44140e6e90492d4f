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
//! What may block runs off the loop: logins and storage calls on a small fixed pool of worker
//! threads ([`Server::workers`]), and the file side of each running transfer on a thread of
//! its own, with at most four chunks in flight between it and its socket (a transfer never
//! waits for a free thread, which the core's data-idle deadline would take for a stall).
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

pub use ftp_host::auth::{Authenticator, Credentials, Grant, Permissions, User, UserList};
pub use ftp_host::bans::{BanPolicy, Bans};
pub use ftp_host::events::{Observer, Observers};
pub use ftp_host::setup::Settings;
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
#[cfg(not(feature = "tls"))]
use ftp_proto::server::TlsMode;
use mio::{Interest, Poll, Token, Waker};

use crate::Error;
use event_loop::{EventLoop, WAKER};
use pool::{Notifier, Pool};
use session::Shared;

/// Builds a server: listen addresses, the core's policy, storage, authentication, TLS,
/// connection limits and worker threads. Call [`bind`](Self::bind), then
/// [`BoundServer::run`].
pub struct Server<S, A> {
    settings: Settings<S, A>,
    workers: usize,
}

impl<S, A> std::fmt::Debug for Server<S, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listen", &self.settings.listen)
            .field("max_connections", &self.settings.max_connections)
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

impl<S: Storage, A: Authenticator> Server<S, A> {
    /// A server over `storage` that checks logins with `auth`, with the core's default policy
    /// ([`ServerConfig::default`](ftp_proto::server::ServerConfig)), no TLS, the connection
    /// limits of [`Settings::new`](ftp_host::setup::Settings::new), 30 s for transfers to finish at shutdown, and 4
    /// worker threads.
    pub fn new(storage: S, auth: A) -> Self {
        Server::from_settings(Settings::new(storage, auth))
    }

    /// A server from settings made elsewhere (a command line, a configuration file).
    pub fn from_settings(settings: Settings<S, A>) -> Self {
        Server {
            settings,
            workers: 4,
        }
    }

    ftp_host::server_builder_methods!(settings);
    #[cfg(feature = "tls")]
    ftp_host::server_builder_tls_method!(settings);

    /// Worker threads for logins and storage calls (at least 1; 4 by default). The file side
    /// of each running transfer has a thread of its own.
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n.max(1);
        self
    }

    /// Binds every listen address. Errs if one cannot be bound, if none was given, if the
    /// config wants TLS and no TLS configuration was set (or the crate was built without its
    /// `tls` feature), or if the PROXY protocol is on with no trusted proxy.
    pub fn bind(self) -> Result<BoundServer<S, A>, Error> {
        #[cfg(not(feature = "tls"))]
        if self.settings.config.tls != TlsMode::Disabled {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "the server configuration enables TLS but ftp-mio was built without its `tls` feature",
            )));
        }
        let p = self.settings.prepare()?;
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let mut listeners = Vec::new();
        for (i, l) in p.listeners.into_iter().enumerate() {
            let mut l = mio::net::TcpListener::from_std(l);
            poll.registry()
                .register(&mut l, Token(i + 1), Interest::READABLE)?;
            listeners.push(l);
        }
        let shared = Shared {
            config: p.config,
            storage: p.storage,
            auth: p.auth,
            #[cfg(feature = "tls")]
            data_tls: p.data_tls,
            #[cfg(feature = "tls")]
            tls: p.tls,
            implicit_tls: p.implicit_tls,
            hooks: p.hooks,
            proxy_protocol: p.proxy_protocol,
        };
        Ok(BoundServer {
            poll,
            waker,
            listeners,
            local_addrs: p.local_addrs,
            shared,
            stop: Arc::new(AtomicBool::new(false)),
            admission: p.admission,
            grace: p.grace,
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
