//! The FTP server: a [`Server`] builder, the [`Storage`] and [`Authenticator`] traits with
//! their default implementations [`FsStorage`] and [`UserList`], and FTPS set-up.
//!
//! Each control connection runs in its own task (in a `tracing` span named `ftp` with the
//! peer address) around a [`ServerSession`](ftp_proto::server::ServerSession), which makes
//! every protocol decision; this module only moves bytes, answers the session's requests,
//! runs data connections, TLS and timers.
//!
//! ```no_run
//! use std::sync::Arc;
//! use ftp_proto::server::ServerConfig;
//! use ftp_tokio::server::{FsStorage, Server, UserList};
//!
//! # async fn run() -> Result<(), ftp_tokio::Error> {
//! let mut config = ServerConfig::default();
//! config.anonymous = true;
//! let users = UserList::new().user("alice", "secret").anonymous();
//! let server = Server::new(FsStorage::new("/srv/ftp")?, users)
//!     .listen("127.0.0.1:2121".parse().unwrap())
//!     .config(Arc::new(config))
//!     .bind()
//!     .await?;
//! let shutdown = server.shutdown_handle();
//! tokio::spawn(async move {
//!     // ... later: stop accepting, let transfers finish for up to the grace period.
//!     shutdown.shutdown();
//! });
//! server.run().await
//! # }
//! ```

mod conn;
mod data;

pub use ftp_host::auth::{Authenticator, Credentials, Grant, Permissions, User, UserList};
pub use ftp_host::bans::{BanPolicy, Bans};
pub use ftp_host::events::{Observer, Observers};
pub use ftp_host::setup::Settings;
pub use ftp_host::storage::{FsStorage, Storage};
pub use ftp_host::tls::{
    data_config, server_config as tls_config, server_config_from_pem as tls_config_from_pem,
    server_config_from_pem_files as tls_config_from_pem_files,
};
pub use ftp_host::transfer::TRANSFER_CHUNK as TRANSFER_BUFFER;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ftp_host::limits::{Admission, Slot};
use ftp_host::proxy::ProxyProtocol;
use ftp_proto::server::refusal_reply;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::{debug, info, warn, Instrument};

use crate::Error;
use conn::Shared;

/// Builds a server: listen addresses, the core's policy, storage, authentication, TLS and
/// connection limits. Call [`bind`](Self::bind), then [`BoundServer::run`].
pub struct Server<S, A> {
    settings: Settings<S, A>,
}

impl<S: Storage, A: Authenticator> Server<S, A> {
    /// A server over `storage` that checks logins with `auth`, with the core's default policy
    /// ([`ServerConfig::default`](ftp_proto::server::ServerConfig)), no TLS, the
    /// connection limits of [`Settings::new`](ftp_host::setup::Settings::new), and 30 s for transfers to finish at shutdown.
    pub fn new(storage: S, auth: A) -> Self {
        Server::from_settings(Settings::new(storage, auth))
    }

    /// A server from settings made elsewhere (a command line, a configuration file).
    pub fn from_settings(settings: Settings<S, A>) -> Self {
        Server { settings }
    }

    ftp_host::server_builder_methods!(settings);
    ftp_host::server_builder_tls_method!(settings);

    /// Binds every listen address. Errs if one cannot be bound, if none was given, if the
    /// config wants TLS and no TLS configuration was set, or if the PROXY protocol is on with
    /// no trusted proxy.
    pub async fn bind(self) -> Result<BoundServer<S, A>, Error> {
        let p = self.settings.prepare()?;
        let listeners = p
            .listeners
            .into_iter()
            .map(TcpListener::from_std)
            .collect::<Result<Vec<_>, _>>()?;
        let (shutdown_tx, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            config: p.config,
            storage: p.storage,
            auth: p.auth,
            data_tls: p.data_tls.map(tokio_rustls::TlsAcceptor::from),
            tls: p.tls.map(tokio_rustls::TlsAcceptor::from),
            implicit_tls: p.implicit_tls,
            hooks: p.hooks,
        });
        Ok(BoundServer {
            listeners,
            local_addrs: p.local_addrs,
            shared,
            shutdown: shutdown_tx,
            admission: p.admission,
            grace: p.grace,
            proxy_protocol: p.proxy_protocol,
        })
    }
}

/// Admits a connection from `peer`, or answers 421 (unless the connection is to start with
/// TLS) and refuses it.
fn admit(
    admission: &Admission,
    tcp: &TcpStream,
    peer: SocketAddr,
    implicit_tls: bool,
) -> Option<Slot> {
    match admission.admit(peer.ip()) {
        Ok(slot) => Some(slot),
        Err(reason) => {
            debug!(%peer, ?reason, "connection limit reached");
            if !implicit_tls {
                let _ = tcp.try_write(&refusal_reply(reason));
            }
            None
        }
    }
}

/// A server whose addresses are bound; [`run`](Self::run) serves until shut down.
pub struct BoundServer<S, A> {
    listeners: Vec<TcpListener>,
    local_addrs: Vec<SocketAddr>,
    shared: Arc<Shared<S, A>>,
    shutdown: watch::Sender<bool>,
    admission: Admission,
    grace: Duration,
    proxy_protocol: Option<Arc<ProxyProtocol>>,
}

/// Stops a running server: [`shutdown`](Self::shutdown) stops accepting, closes idle sessions
/// with 421, and lets running transfers finish within the grace period.
#[derive(Debug, Clone)]
pub struct ShutdownHandle(watch::Sender<bool>);

impl ShutdownHandle {
    /// Starts the shutdown; [`BoundServer::run`] returns once it is complete.
    pub fn shutdown(&self) {
        self.0.send_replace(true);
    }
}

impl<S: Storage, A: Authenticator> BoundServer<S, A> {
    /// The bound addresses, in the order they were given (with the real port for port 0).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// A handle that shuts this server down.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.shutdown.clone())
    }

    /// Serves connections until [`ShutdownHandle::shutdown`]; then waits up to the grace
    /// period for sessions to end and drops the rest. Dropping the future stops the server and
    /// drops its sessions.
    pub async fn run(self) -> Result<(), Error> {
        // The loop that admits connections runs as a task, on the runtime's workers beside
        // the sessions it spawns: awaited in place it would run wherever this future is
        // polled, often the thread in `block_on`, and every new connection and every
        // session's end would be a wake-up across threads.
        let mut task = AbortOnDrop(tokio::spawn(self.serve().in_current_span()));
        match (&mut task.0).await {
            Ok(r) => r,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Ok(()),
        }
    }

    async fn serve(self) -> Result<(), Error> {
        let (tx, mut rx) = mpsc::channel::<(TcpStream, SocketAddr)>(64);
        let mut acceptors = JoinSet::new();
        for listener in self.listeners {
            let tx = tx.clone();
            acceptors.spawn(async move {
                loop {
                    match listener.accept().await {
                        Ok(conn) => {
                            if tx.send(conn).await.is_err() {
                                break;
                            }
                        }
                        Err(e) => {
                            // Out of file descriptors and the like: back off, keep serving.
                            warn!("accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
            });
        }
        drop(tx);
        info!(addrs = ?self.local_addrs, "FTP server listening");
        let mut sessions = JoinSet::new();
        let mut stop = self.shutdown.subscribe();
        loop {
            tokio::select! {
                conn = rx.recv() => {
                    let Some((mut tcp, peer)) = conn else { break };
                    let shared = self.shared.clone();
                    let stop = self.shutdown.subscribe();
                    let Some(proxy) = self.proxy_protocol.clone() else {
                        let Some(slot) = admit(&self.admission, &tcp, peer, shared.implicit_tls)
                        else {
                            continue;
                        };
                        sessions.spawn(async move {
                            conn::serve(shared, tcp, peer, stop).await;
                            drop(slot);
                        });
                        continue;
                    };
                    // Behind a proxy the client is known only from the header, so it is read
                    // (within its deadline) before the connection is admitted as the client's.
                    let admission = self.admission.clone();
                    sessions.spawn(async move {
                        let Some(client) = conn::read_proxy_header(&proxy, &mut tcp, peer).await
                        else {
                            return;
                        };
                        let Some(slot) = admit(&admission, &tcp, client, shared.implicit_tls)
                        else {
                            return;
                        };
                        conn::serve(shared, tcp, client, stop).await;
                        drop(slot);
                    });
                }
                Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
                _ = stop.changed() => break,
            }
        }
        acceptors.abort_all();
        info!(sessions = sessions.len(), "shutting down");
        let drained = tokio::time::timeout(self.grace, async {
            while sessions.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            warn!(
                left = sessions.len(),
                "grace period over: dropping sessions"
            );
            sessions.abort_all();
            while sessions.join_next().await.is_some() {}
        }
        Ok(())
    }
}

/// Aborts the task when dropped, so that dropping [`BoundServer::run`]'s future stops the
/// server as it did when the loop ran inside it.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
