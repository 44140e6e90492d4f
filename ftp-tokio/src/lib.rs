//! The tokio adapter for [`ftp_proto`]: sockets, files, timers and TLS around the sans-IO core.
//!
//! [`server`] runs an FTP/FTPS server: one task per control connection drives a
//! [`ServerSession`](ftp_proto::server::ServerSession) by the core's contract (feed input,
//! drain `poll_output` in order, arm one timer from `poll_timeout`, read only while
//! `wants_read`), answers its requests through the async [`server::Storage`] and
//! [`server::Authenticator`] traits, and runs passive and active data connections and TLS
//! (rustls with the ring provider). The adapter makes no protocol decision of its own.
//!
//! [`client`] is the FTP/FTPS client: a [`client::Client`] with an async method per
//! operation of the core's [`ClientSession`](ftp_proto::client::ClientSession).
//!
//! Run `cargo run -p ftp-tokio --example server -- --help` for a ready-made server, and
//! `cargo run -p ftp-tokio --example client -- --help` for a command-line client.

pub mod client;
pub mod server;
mod stream;

pub use ftp_host;
pub use ftp_host::Error;
pub use ftp_proto;
