//! The runtime-neutral host layer of the ftp workspace: everything an adapter of
//! [`ftp_proto`] needs that is not I/O on a particular runtime.
//!
//! `ftp-proto` makes every protocol decision without I/O; an adapter (`ftp-tokio`,
//! `ftp-futures`, `ftp-mio`) owns sockets, timers and TLS I/O. Between the two sits what every
//! adapter would otherwise write again, and what must not drift between three copies because
//! much of it is security-relevant:
//!
//! - [`storage`]: the blocking [`Storage`](storage::Storage) trait a server serves files from,
//!   [`FsStorage`](storage::FsStorage) (path mapping under a root, symlink escape refusal,
//!   FIFO and device refusal, STOU naming) and the mapping of I/O errors to FTP failures;
//! - [`auth`]: the [`Authenticator`](auth::Authenticator) trait, the
//!   [`User`](auth::User) a login yields (home, permissions) and
//!   [`UserList`](auth::UserList) (plaintext or argon2id passwords);
//! - `users_file` (feature `users-file`): a [`UserList`](auth::UserList) from a TOML users
//!   file;
//! - [`tls`]: rustls configurations (ring provider) for the server's control and data
//!   connections and for clients;
//! - [`bans`]: bans across connections after repeated failed logins, with a store trait a
//!   cluster can share;
//! - [`events`]: the [`Observer`](events::Observer) of logins, transfers and file changes,
//!   and the `--on-upload` command runner; [`xferlog`]: the wu-ftpd/vsftpd transfer log;
//!   `metrics` (feature `metrics`): Prometheus counters and their HTTP page;
//!   [`ratelimit`]: the token bucket that paces rate-limited transfers;
//! - [`limits`]: connection admission (total and per client address, banned addresses);
//! - [`setup`]: a server's [`Settings`](setup::Settings), the checks and socket set-up of
//!   `bind`, and the builder methods every adapter's `Server` has;
//! - [`net`]: socket set-up with `socket2`: control listeners, passive listeners in a port
//!   range, active connects bound to the control connection's address;
//! - [`proxy`]: the PROXY protocol on control connections: trusted proxies, the header
//!   deadline, the client address it gives;
//! - [`server::ServerConn`]: the bookkeeping of a server connection's drive loop (requests
//!   out, handles opened, data channels, transfers and their progress) as a plain struct that
//!   an adapter feeds and polls;
//! - [`client`]: the same for the client, plus typed operations and errors.
//!
//! Nothing here spawns a task, reads a clock for protocol purposes or blocks on a socket; the
//! blocking calls (storage, authentication) are handed to the adapter to run on its own pool.

pub mod auth;
pub mod bans;
pub mod client;
mod error;
pub mod events;
pub mod limits;
#[cfg(feature = "metrics")]
pub mod metrics;
pub mod net;
pub mod proxy;
pub mod ratelimit;
pub mod server;
pub mod setup;
pub mod storage;
pub mod tables;
#[cfg(feature = "tls")]
pub mod tls;
pub mod transfer;
#[cfg(feature = "users-file")]
pub mod users_file;
pub mod xferlog;

pub use error::Error;
pub use ftp_proto;
#[cfg(feature = "tls")]
pub use rustls;
