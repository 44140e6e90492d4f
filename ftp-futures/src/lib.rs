//! The futures adapter for [`ftp_proto`]: an FTP/FTPS server and client over `futures-io`,
//! on smol (the default `smol` feature) or async-std (the `async-std` feature).
//!
//! [`server`] runs an FTP/FTPS server: one task per control connection drives a
//! [`ServerConn`](ftp_host::server::ServerConn) (the bookkeeping shared with the other
//! adapters) around the core's [`ServerSession`](ftp_proto::server::ServerSession), which
//! makes every protocol decision. Storage and logins go through the blocking
//! [`server::Storage`] and [`server::Authenticator`] traits, run on the `blocking` pool; TLS is
//! futures-rustls with the ring provider.
//!
//! [`client`] is the FTP/FTPS client: a [`client::Client`] with an async method per
//! operation, the same methods as `ftp-tokio`'s client (most of them from the shared
//! [`client::Operations`] trait).
//!
//! # Runtimes
//!
//! Sockets and timers come from `async-io` and work under either runtime; the runtime only
//! spawns the tasks (one per control connection, one per data connection) and provides
//! [`block_on`]. With both features on, async-std is used.
//!
//! The API is the same as `ftp-tokio`'s: moving between them changes imports (and the
//! `AsyncRead`/`AsyncWrite` traits of transfer sources and sinks), not code.

pub mod client;
mod rt;
pub mod server;
mod stream;

pub use ftp_host::Error;
pub use ftp_proto;
pub use rt::block_on;
