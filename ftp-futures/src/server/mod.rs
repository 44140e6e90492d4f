//! The FTP server: a [`Server`] builder, the [`Storage`] and [`Authenticator`] traits with
//! their default implementations [`FsStorage`] and [`UserList`], and FTPS set-up.
//!
//! Each control connection runs in its own task on the selected runtime (in a `tracing` span
//! named `ftp` with the peer address) around a
//! [`ServerConn`](ftp_host::server::ServerConn), which keeps the bookkeeping while the
//! [`ServerSession`](ftp_proto::server::ServerSession) makes every protocol decision; this
//! module only moves bytes, runs the storage and login calls on the `blocking` pool, and runs
//! data connections, TLS (futures-rustls, ring) and timers.
//!
//! ```no_run
//! use std::sync::Arc;
//! use ftp_proto::server::ServerConfig;
//! use ftp_futures::server::{FsStorage, Server, UserList};
//!
//! # fn main() -> Result<(), ftp_futures::Error> {
//! ftp_futures::block_on(async {
//!     let mut config = ServerConfig::default();
//!     config.anonymous = true;
//!     let users = UserList::new().user("alice", "secret").anonymous();
//!     let server = Server::new(FsStorage::new("/srv/ftp")?, users)
//!         .listen("127.0.0.1:2121".parse().unwrap())
//!         .config(Arc::new(config))
//!         .bind()
//!         .await?;
//!     let shutdown = server.shutdown_handle();
//!     std::thread::spawn(move || {
//!         // ... later: stop accepting, let transfers finish for up to the grace period.
//!         shutdown.shutdown();
//!     });
//!     server.run().await
//! })
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

use std::collections::HashMap;
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use async_channel::{Receiver, Sender};
use ftp_host::limits::{Admission, Slot};
use ftp_host::proxy::ProxyProtocol;
use ftp_proto::server::refusal_reply;
use futures_lite::future::or;
use futures_rustls::TlsAcceptor;
use tracing::{debug, info, warn, Instrument};

use crate::stream::{accept_each, timeout, Tcp};
use crate::{rt, Error};
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
        let shared = Arc::new(Shared {
            implicit_tls: p.implicit_tls,
            hooks: p.hooks,
            config: p.config,
            storage: p.storage,
            auth: p.auth,
            data_tls: p.data_tls.map(TlsAcceptor::from),
            tls: p.tls.map(TlsAcceptor::from),
        });
        Ok(BoundServer {
            listeners: p.listeners,
            local_addrs: p.local_addrs,
            shared,
            shutdown: async_channel::bounded(1),
            admission: p.admission,
            grace: p.grace,
            proxy_protocol: p.proxy_protocol,
        })
    }
}

/// Admits a connection from `peer`, or answers 421 (unless the connection is to start with
/// TLS) and refuses it.
fn admit(admission: &Admission, tcp: &Tcp, peer: SocketAddr, implicit_tls: bool) -> Option<Slot> {
    match admission.admit(peer.ip()) {
        Ok(slot) => Some(slot),
        Err(reason) => {
            debug!(%peer, ?reason, "connection limit reached");
            if !implicit_tls {
                let _ = tcp.get_ref().write(&refusal_reply(reason));
            }
            None
        }
    }
}

/// Serves the admitted connection from `peer` in a span naming it; reports its end as `id`.
async fn session<S: Storage, A: Authenticator>(
    shared: Arc<Shared<S, A>>,
    tcp: Tcp,
    peer: SocketAddr,
    stop: Receiver<()>,
    slot: Slot,
    ended: Sender<u64>,
    id: u64,
) {
    let served = async move {
        match conn::serve(shared, tcp, peer, stop).await {
            Err(e) => debug!("connection ended: {e}"),
            Ok(()) => debug!("connection closed"),
        }
    };
    served.instrument(tracing::info_span!("ftp", %peer)).await;
    drop(slot);
    let _ = ended.try_send(id);
}

/// A server whose addresses are bound; [`run`](Self::run) serves until shut down.
pub struct BoundServer<S, A> {
    listeners: Vec<TcpListener>,
    local_addrs: Vec<SocketAddr>,
    shared: Arc<Shared<S, A>>,
    /// Closed to shut down; nothing is ever sent on it.
    shutdown: (Sender<()>, Receiver<()>),
    admission: Admission,
    grace: Duration,
    proxy_protocol: Option<Arc<ProxyProtocol>>,
}

/// Stops a running server: [`shutdown`](Self::shutdown) stops accepting, closes idle sessions
/// with 421, and lets running transfers finish within the grace period.
#[derive(Debug, Clone)]
pub struct ShutdownHandle(Sender<()>);

impl ShutdownHandle {
    /// Starts the shutdown; [`BoundServer::run`] returns once it is complete.
    pub fn shutdown(&self) {
        self.0.close();
    }
}

/// What the accept loop of [`BoundServer::run`] waits for.
enum Event {
    Connection(Tcp, SocketAddr),
    Ended(u64),
    Stop,
}

impl<S: Storage, A: Authenticator> BoundServer<S, A> {
    /// The bound addresses, in the order they were given (with the real port for port 0).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// A handle that shuts this server down.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.shutdown.0.clone())
    }

    /// Serves connections until [`ShutdownHandle::shutdown`]; then waits up to the grace
    /// period for sessions to end and drops the rest. Dropping the future stops the server and
    /// drops its sessions (with the `async-std` feature, shortly after the drop: its tasks are
    /// cancelled asynchronously).
    pub async fn run(self) -> Result<(), Error> {
        // The loop that admits connections runs as a task, on the executor beside the
        // sessions it spawns: awaited in place it would run wherever this future is polled,
        // often the thread in `block_on`, and every new connection and every session's end
        // would be a wake-up across threads. Dropping the task cancels it.
        rt::spawn(self.serve().in_current_span()).await
    }

    async fn serve(self) -> Result<(), Error> {
        let (conn_tx, conn_rx) = async_channel::bounded(64);
        let acceptors: Vec<rt::Task<()>> = self
            .listeners
            .into_iter()
            .map(|listener| {
                let tx = conn_tx.clone();
                rt::spawn(async move {
                    let accepting = accept_each(listener, |tcp, peer| {
                        let tx = tx.clone();
                        async move { tx.send((tcp, peer)).await.is_ok() }
                    });
                    if let Err(e) = accepting.await {
                        warn!("cannot accept connections: {e}");
                    }
                })
            })
            .collect();
        drop(conn_tx);
        info!(addrs = ?self.local_addrs, "FTP server listening");
        // Each session's task, removed when it reports its end on `ended`.
        let mut sessions: HashMap<u64, rt::Task<()>> = HashMap::new();
        let (ended_tx, ended) = async_channel::unbounded();
        let stop = self.shutdown.1;
        for id in 0u64.. {
            let next = or(
                async {
                    match conn_rx.recv().await {
                        Ok((tcp, peer)) => Event::Connection(tcp, peer),
                        Err(_) => Event::Stop,
                    }
                },
                or(
                    async { ended.recv().await.map_or(Event::Stop, Event::Ended) },
                    async {
                        let _ = stop.recv().await;
                        Event::Stop
                    },
                ),
            );
            let (tcp, peer) = match next.await {
                Event::Connection(tcp, peer) => (tcp, peer),
                Event::Ended(id) => {
                    if let Some(task) = sessions.remove(&id) {
                        task.detach();
                        ftp_host::tables::shrink_after_burst(&mut sessions);
                    }
                    continue;
                }
                Event::Stop => break,
            };
            let (shared, stop, ended) = (self.shared.clone(), stop.clone(), ended_tx.clone());
            let task = match self.proxy_protocol.clone() {
                None => {
                    let Some(slot) = admit(&self.admission, &tcp, peer, shared.implicit_tls) else {
                        continue;
                    };
                    rt::spawn(session(shared, tcp, peer, stop, slot, ended, id))
                }
                Some(proxy) => {
                    // Behind a proxy the client is known only from the header, so it is read
                    // (within its deadline) before the connection is admitted as the client's.
                    let admission = self.admission.clone();
                    rt::spawn(async move {
                        let mut tcp = tcp;
                        let client = conn::read_proxy_header(&proxy, &mut tcp, peer).await;
                        let slot = client.and_then(|client| {
                            admit(&admission, &tcp, client, shared.implicit_tls)
                                .map(|slot| (client, slot))
                        });
                        match slot {
                            Some((client, slot)) => {
                                session(shared, tcp, client, stop, slot, ended, id).await
                            }
                            None => {
                                let _ = ended.try_send(id);
                            }
                        }
                    })
                }
            };
            sessions.insert(id, task);
        }
        drop(acceptors);
        info!(sessions = sessions.len(), "shutting down");
        let drained = timeout(self.grace, async {
            while !sessions.is_empty() {
                let Ok(id) = ended.recv().await else { break };
                if let Some(task) = sessions.remove(&id) {
                    task.detach();
                }
            }
        })
        .await;
        if drained.is_err() {
            warn!(
                left = sessions.len(),
                "grace period over: dropping sessions"
            );
            for (_, task) in sessions {
                task.cancel().await;
            }
        }
        Ok(())
    }
}
