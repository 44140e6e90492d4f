//! What every adapter's server builder holds ([`Settings`]), the checks and socket set-up of
//! its `bind` ([`Settings::prepare`]), and the builder methods themselves
//! ([`server_builder_methods!`](crate::server_builder_methods)), written once.

use std::net::{SocketAddr, TcpListener};
use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Duration;

use ftp_proto::server::{ServerConfig, TlsMode};

use crate::bans::{Banning, Bans};
use crate::events::{Hooks, Observers};
use crate::limits::Admission;
use crate::proxy::ProxyProtocol;
use crate::Error;

/// The default of [`Settings::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// The default of [`Settings::max_per_ip`]: high, because many users can share one address
/// (behind a NAT or a proxy); the total limit still bounds the server.
pub const DEFAULT_MAX_PER_IP: usize = 1024;

/// A server's settings before it is bound: listen addresses, the core's policy, storage,
/// authentication, TLS, connection limits and the shutdown grace period.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Settings<S, A> {
    /// Addresses to listen on.
    pub listen: Vec<SocketAddr>,
    /// The core's policy.
    pub config: Arc<ServerConfig>,
    /// Where files live.
    pub storage: S,
    /// Who may log in.
    pub auth: A,
    /// FTPS certificate and settings; needed when `config.tls` is not `Disabled`.
    #[cfg(feature = "tls")]
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Most control connections at once.
    pub max_connections: usize,
    /// Most control connections at once from one client address.
    pub max_per_ip: usize,
    /// How long a shutdown lets running transfers finish.
    pub grace: Duration,
    /// The PROXY protocol on every control listener (`None`: off): each connection must come
    /// from a trusted proxy and start with a header, whose client address is then the
    /// session's peer.
    pub proxy_protocol: Option<ProxyProtocol>,
    /// Addresses banned after failed logins are refused (421) at accept; set with
    /// [`with_bans`](Self::with_bans), which also counts the failures.
    pub bans: Option<Bans>,
    /// Told every session's events (logins, transfers, file changes).
    pub observers: Observers,
    /// Bytes per second for each session's transfers, both directions, unless the user has a
    /// [`max_rate`](crate::auth::User::max_rate) of its own (`None`: unlimited).
    pub max_rate: Option<NonZeroU64>,
}

/// A server's settings after [`Settings::prepare`]: bound non-blocking listeners, shared
/// state and the TLS configurations for control and data connections.
#[derive(Debug)]
#[non_exhaustive]
pub struct Prepared<S, A> {
    /// The control listeners, bound and non-blocking, in the order given.
    pub listeners: Vec<TcpListener>,
    /// Their addresses (with the real port for port 0).
    pub local_addrs: Vec<SocketAddr>,
    /// The core's policy.
    pub config: Arc<ServerConfig>,
    /// Where files live, shared by every connection.
    pub storage: Arc<S>,
    /// Who may log in, shared by every connection.
    pub auth: Arc<A>,
    /// TLS for control connections.
    #[cfg(feature = "tls")]
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// TLS for data connections ([`crate::tls::data_config`] of `tls`).
    #[cfg(feature = "tls")]
    pub data_tls: Option<Arc<rustls::ServerConfig>>,
    /// Every connection starts with TLS.
    pub implicit_tls: bool,
    /// Connection admission.
    pub admission: Admission,
    /// The shutdown grace period.
    pub grace: Duration,
    /// The PROXY protocol, when on: read the header before admission and the greeting.
    pub proxy_protocol: Option<Arc<ProxyProtocol>>,
    /// What each connection's `ServerConn` gets with
    /// [`with_hooks`](crate::server::ServerConn::with_hooks).
    pub hooks: Hooks,
}

impl<S, A> Settings<S, A> {
    /// Settings over `storage` and `auth` with the core's default policy, no TLS, at most
    /// [`DEFAULT_MAX_CONNECTIONS`] connections and [`DEFAULT_MAX_PER_IP`] per client address,
    /// and 30 s for transfers to finish at shutdown.
    ///
    /// Each connection holds a file descriptor or more: a server that is to reach these
    /// limits needs an open-file limit (`ulimit -n`) above them.
    pub fn new(storage: S, auth: A) -> Self {
        Settings {
            listen: Vec::new(),
            config: Arc::new(ServerConfig::default()),
            storage,
            auth,
            #[cfg(feature = "tls")]
            tls: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_per_ip: DEFAULT_MAX_PER_IP,
            grace: Duration::from_secs(30),
            proxy_protocol: None,
            bans: None,
            observers: Observers::new(),
            max_rate: None,
        }
    }

    /// The same settings with bans across connections: the authenticator is wrapped in
    /// [`Banning`] (failed logins are counted, logins from a banned address refused) and new
    /// connections from a banned address get 421. `None` wraps without banning.
    pub fn with_bans(self, bans: Option<Bans>) -> Settings<S, Banning<A>> {
        Settings {
            listen: self.listen,
            config: self.config,
            storage: self.storage,
            auth: Banning::new(self.auth, bans.clone()),
            #[cfg(feature = "tls")]
            tls: self.tls,
            max_connections: self.max_connections,
            max_per_ip: self.max_per_ip,
            grace: self.grace,
            proxy_protocol: self.proxy_protocol,
            bans,
            observers: self.observers,
            max_rate: self.max_rate,
        }
    }

    /// Checks the settings and binds every listen address. Errs if none was given, if the
    /// config wants TLS and no TLS configuration was set, if the PROXY protocol is on with no
    /// trusted proxy, or if an address cannot be bound.
    pub fn prepare(self) -> Result<Prepared<S, A>, Error> {
        if self.listen.is_empty() {
            return Err(Error::NoListenAddress);
        }
        if self
            .proxy_protocol
            .as_ref()
            .is_some_and(|p| p.from.is_empty())
        {
            return Err(Error::ProxyWithoutSources);
        }
        #[cfg(feature = "tls")]
        let configured = self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        let configured = false;
        if self.config.tls != TlsMode::Disabled && !configured {
            return Err(Error::TlsNotConfigured);
        }
        let mut listeners = Vec::new();
        let mut local_addrs = Vec::new();
        for addr in &self.listen {
            let l = crate::net::bind_control(*addr, 1024)?;
            local_addrs.push(l.local_addr()?);
            listeners.push(l);
        }
        Ok(Prepared {
            listeners,
            local_addrs,
            implicit_tls: self.config.tls == TlsMode::Implicit,
            config: self.config,
            storage: Arc::new(self.storage),
            auth: Arc::new(self.auth),
            #[cfg(feature = "tls")]
            data_tls: self.tls.as_ref().map(crate::tls::data_config),
            #[cfg(feature = "tls")]
            tls: self.tls,
            admission: Admission::new(self.max_connections, self.max_per_ip).with_bans(self.bans),
            grace: self.grace,
            proxy_protocol: self.proxy_protocol.map(Arc::new),
            hooks: Hooks::new(self.observers, self.max_rate),
        })
    }
}

/// The builder methods of an adapter's `Server`, written once: expands, inside
/// `impl<S, A> Server<S, A> { ... }`, to `listen`, `config`, `max_connections`,
/// `max_connections_per_ip`, `shutdown_timeout`, `observer`, `max_rate` and `proxy_protocol`, each setting the [`Settings`] held in the
/// named field; add `tls` with
/// [`server_builder_tls_method!`](crate::server_builder_tls_method). The adapter adds `new`,
/// `bind` and anything of its own.
#[macro_export]
macro_rules! server_builder_methods {
    ($settings:ident) => {
        /// Adds an address to listen on (IPv4 or IPv6; port 0 picks a free port, see
        /// [`BoundServer::local_addrs`]). An IPv6 address listens for IPv6 only.
        pub fn listen(mut self, addr: ::std::net::SocketAddr) -> Self {
            self.$settings.listen.push(addr);
            self
        }

        /// Sets the core's policy: passive ports, masquerade address, limits, timeouts,
        /// anonymous access, TLS mode (`TlsMode::Implicit` makes every connection start with
        /// TLS).
        pub fn config(
            mut self,
            config: ::std::sync::Arc<$crate::ftp_proto::server::ServerConfig>,
        ) -> Self {
            self.$settings.config = config;
            self
        }

        /// Most control connections at once; more are answered 421 and closed.
        pub fn max_connections(mut self, n: usize) -> Self {
            self.$settings.max_connections = n;
            self
        }

        /// Most control connections at once from one client address; more get 421.
        pub fn max_connections_per_ip(mut self, n: usize) -> Self {
            self.$settings.max_per_ip = n;
            self
        }

        /// How long [`ShutdownHandle::shutdown`] lets running transfers finish before the
        /// remaining connections are dropped.
        pub fn shutdown_timeout(mut self, grace: ::std::time::Duration) -> Self {
            self.$settings.grace = grace;
            self
        }

        /// Adds an observer of every session's events: logins, logouts, transfers, deletes,
        /// renames, new directories (see [`Observer`]($crate::events::Observer)).
        pub fn observer(
            mut self,
            observer: ::std::sync::Arc<dyn $crate::events::Observer>,
        ) -> Self {
            self.$settings.observers.push(observer);
            self
        }

        /// Limits every session's transfers to `bytes_per_second`, both directions, unless
        /// the user has a [`max_rate`]($crate::auth::User::max_rate) of its own.
        pub fn max_rate(mut self, bytes_per_second: ::std::num::NonZeroU64) -> Self {
            self.$settings.max_rate = Some(bytes_per_second);
            self
        }

        /// Turns the PROXY protocol (versions 1 and 2) on for every listen address, trusting
        /// headers from `from` only (see
        /// [`ProxyProtocol`]($crate::proxy::ProxyProtocol)): a connection from elsewhere, or
        /// without a valid header within the deadline, is closed; the header's client address
        /// is the session's peer for limits, checks and logs.
        pub fn proxy_protocol(
            mut self,
            from: impl ::std::iter::IntoIterator<Item = $crate::ftp_proto::proxy::Cidr>,
        ) -> Self {
            self.$settings.proxy_protocol = Some($crate::proxy::ProxyProtocol::new(from));
            self
        }
    };
}

/// The `tls` builder method of an adapter's `Server` (needs ftp-host's `tls` feature); see
/// [`server_builder_methods!`](crate::server_builder_methods).
#[cfg(feature = "tls")]
#[macro_export]
macro_rules! server_builder_tls_method {
    ($settings:ident) => {
        /// Sets the TLS certificate and settings for FTPS (see `tls_config`). Needed when the
        /// config's TLS mode is not `Disabled`.
        pub fn tls(mut self, tls: ::std::sync::Arc<$crate::rustls::ServerConfig>) -> Self {
            self.$settings.tls = Some(tls);
            self
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepare_checks_and_binds() {
        let s = Settings::new((), ());
        assert!(matches!(s.clone().prepare(), Err(Error::NoListenAddress)));
        let mut tls = s.clone();
        tls.listen.push("127.0.0.1:0".parse().unwrap());
        let mut config = ServerConfig::default();
        config.tls = TlsMode::Implicit;
        tls.config = Arc::new(config);
        assert!(matches!(tls.prepare(), Err(Error::TlsNotConfigured)));
        let mut ok = s;
        ok.listen.push("127.0.0.1:0".parse().unwrap());
        let p = ok.prepare().unwrap();
        assert_eq!(p.listeners.len(), 1);
        assert_ne!(p.local_addrs[0].port(), 0);
        assert!(!p.implicit_tls);
        #[cfg(feature = "tls")]
        assert!(p.data_tls.is_none());
        assert!(p.proxy_protocol.is_none());
        let mut proxy = Settings::new((), ());
        proxy.listen.push("127.0.0.1:0".parse().unwrap());
        proxy.proxy_protocol = Some(ProxyProtocol::new([]));
        assert!(matches!(
            proxy.clone().prepare(),
            Err(Error::ProxyWithoutSources)
        ));
        proxy.proxy_protocol = Some(ProxyProtocol::new(["127.0.0.1".parse().unwrap()]));
        assert!(proxy.prepare().unwrap().proxy_protocol.is_some());
    }
}
