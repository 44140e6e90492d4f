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
//! # A server
//!
//! ```no_run
//! use ftp_futures::server::{FsStorage, Server, UserList};
//!
//! fn main() -> Result<(), ftp_futures::Error> {
//!     ftp_futures::block_on(async {
//!         let users = UserList::new().user("alice", "secret");
//!         let server = Server::new(FsStorage::new("/srv/ftp")?, users)
//!             .listen("0.0.0.0:2121".parse().unwrap())
//!             .bind()
//!             .await?;
//!         // `server.shutdown_handle()` stops it from another task or thread.
//!         server.run().await
//!     })
//! }
//! ```
//!
//! # A client
//!
//! ```no_run
//! use ftp_futures::client::{insecure_tls_config, Client, Config, Operations};
//!
//! fn main() -> Result<(), ftp_futures::client::Error> {
//!     ftp_futures::block_on(async {
//!         let addr = "127.0.0.1:2121".parse().unwrap();
//!         // Explicit FTPS (AUTH TLS, PROT P); `Client::connect` for plain FTP.
//!         let tls = insecure_tls_config(); // tests only: use `tls_config` with real roots
//!         let client = Client::connect_tls(addr, Config::new("alice", "secret"), tls).await?;
//!         client.mkdir("/docs").await?;
//!         client.stor("/docs/hello.txt", &b"hello"[..]).await?;
//!         let mut copy = Vec::new();
//!         client.retr_to("/docs/hello.txt", &mut copy).await?;
//!         assert_eq!(copy, b"hello");
//!         client.quit().await
//!     })
//! }
//! ```
//!
//! # Runtimes
//!
//! Sockets and timers come from `async-io` and work under either runtime; the runtime only
//! spawns the tasks (one per control connection, one per data connection) and provides
//! [`block_on`]. The `smol` feature (the default) uses smol's global executor; the
//! `async-std` feature uses async-std's, and wins when both features are on. Storage,
//! logins and the file side of transfers run on the `blocking` crate's thread pool under
//! either. The server and the client can also be driven from another executor (tokio's
//! `block_on`, say): their tasks still run on the selected runtime.
//!
//! The API is the same as `ftp-tokio`'s: moving between them changes imports (and the
//! `AsyncRead`/`AsyncWrite` traits of transfer sources and sinks), not code.

pub mod client;
mod rt;
pub mod server;
mod stream;

pub use ftp_host;
pub use ftp_host::Error;
pub use ftp_proto;
pub use rt::block_on;
