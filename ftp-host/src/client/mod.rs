//! The runtime-neutral half of an FTP client: [`ClientConn`] (the bookkeeping of the drive
//! loop around a [`ClientSession`](ftp_proto::client::ClientSession)), typed operations
//! ([`Op`], [`Operations`]) and the client [`Error`].
//!
//! An adapter's `Client` implements [`Operations::run`] by sending an [`Op`] to its driver
//! task; every other operation method (`cwd`, `list`, `size`...) comes from the trait, so the
//! clients of all adapters have the same methods, written once.

mod config;
mod conn;
mod error;
pub mod ops;

pub use config::Config;
pub use conn::{ClientAction, ClientConn, ClientJob, ClientReport};
pub use error::Error;
pub use ops::{Op, Operations, Start};
