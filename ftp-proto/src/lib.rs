//! Sans-IO FTP protocol core.
//!
//! This crate turns control-channel bytes into commands and replies and back, with no sockets,
//! no files, no clock reads and no async. The wire layer is in these modules:
//!
//! - [`line`](mod@line): control-channel framing (CRLF or bare LF, Telnet IAC, a line-length cap);
//! - [`command`]: every FTP command, decoded from a line and encoded to bytes;
//! - [`reply`]: reply codes, reply encoding and incremental decoding, reply-body parsers;
//! - [`addr`]: PORT/PASV, EPRT/EPSV and LPRT/LPSV host-port encodings;
//! - [`listing`]: LIST and MLSx lines, formatted and parsed;
//! - [`path`]: virtual, rooted and normalized paths;
//! - [`proxy`]: the PROXY protocol header (versions 1 and 2) and address blocks;
//! - [`ascii`]: the streaming TYPE A line-ending transform;
//! - [`time`]: UTC timestamps and the RFC 3659 `time-val`;
//! - [`server`]: the server session state machine;
//! - [`client`]: the client session state machine.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod addr;
pub mod ascii;
pub mod client;
pub mod command;
pub mod line;
pub mod listing;
pub mod path;
pub mod proxy;
pub mod reply;
pub mod server;
pub mod time;
