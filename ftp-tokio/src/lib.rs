//! The tokio adapter for [`ftp_proto`]: sockets, files, timers and TLS around the sans-IO core.
//!
//! This crate is a placeholder: the adapter is tracked in the project's issues and will drive
//! [`ftp_proto`]'s server and client sessions once they exist.

pub use ftp_proto;
