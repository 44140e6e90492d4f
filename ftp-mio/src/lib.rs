//! The mio adapter for [`ftp_proto`], without an async runtime: a blocking FTP/FTPS
//! [`client`] and a single-thread `mio` event-loop [`server`], for embedded Linux, command-line
//! tools and test fixtures.
//!
//! - [`client::Client`] drives a [`ClientSession`](ftp_proto::client::ClientSession) in the
//!   calling thread: each method runs the connection's loop until its operation completes.
//! - [`server::Server`] serves every control connection, passive listener and data connection
//!   of a server from ONE `mio::Poll` loop in the thread that calls
//!   [`BoundServer::run`](server::BoundServer::run); the blocking work (logins, storage calls,
//!   the file side of transfers) runs on a small fixed pool of worker threads.
//!
//! The runtime-neutral parts (storage, authentication, TLS configurations, limits, the
//! bookkeeping around the sessions, typed client operations) come from [`ftp_host`], shared
//! with the other adapters. FTPS (rustls, ring provider) is behind the default feature `tls`;
//! without it the crate builds, and asking for TLS fails with a clear error.

pub mod client;
pub mod server;
mod sock;

pub use ftp_host;
pub use ftp_host::Error;
pub use ftp_proto;

/// `now + d`, or a century from now when `d` is too large to add (the configurations say a
/// duration too large for the clock means no limit): never a panic.
pub(crate) fn later(now: std::time::Instant, d: std::time::Duration) -> std::time::Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(std::time::Duration::from_secs(100 * 365 * 86_400)))
        .unwrap_or(now)
}
