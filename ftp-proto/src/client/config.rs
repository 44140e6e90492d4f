//! Client policy: credentials, TLS, data-connection choices, limits and timeouts of a
//! [`ClientSession`](crate::client::ClientSession).

use std::time::Duration;

use bytes::Bytes;

use crate::reply::ReplyDecoderConfig;

/// TLS on the control and data connections (RFC 4217).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ClientTls {
    /// No TLS: no AUTH is sent.
    #[default]
    Disabled,
    /// Explicit FTPS when the server offers it: AUTH TLS is tried, and a refusal continues in
    /// cleartext. This protects against passive eavesdroppers only.
    Opportunistic,
    /// Explicit FTPS, required: a refused AUTH TLS, PBSZ or PROT, or a server that logs in
    /// before TLS (a 230 greeting), ends the session with an error (curl CVE-2021-22946).
    Required,
    /// Implicit FTPS: the adapter runs TLS from the first byte (port 990); no AUTH is sent.
    Implicit,
}

/// How data connections are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DataMode {
    /// Passive: EPSV first, PASV after an EPSV failure (remembered for the session).
    #[default]
    Passive,
    /// Passive with PASV only (never EPSV).
    PassiveNoEpsv,
    /// Active: the client listens and sends PORT (IPv4) or EPRT (IPv6).
    Active,
}

/// Configuration of a client session. Build with [`ClientConfig::new`] and adjust the public
/// fields; every limit has a default.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The USER argument.
    pub user: Bytes,
    /// The PASS argument (never logged by the core).
    pub pass: Bytes,
    /// The ACCT argument, sent when the server asks with 332.
    pub account: Option<Bytes>,
    /// The HOST argument (RFC 7151), sent before AUTH and USER when set.
    pub host: Option<Bytes>,
    /// TLS policy.
    pub tls: ClientTls,
    /// With TLS, protect data connections too (PBSZ 0, PROT P); otherwise PROT C is left in
    /// force. On by default.
    pub protect_data: bool,
    /// Send `OPTS UTF8 ON` when FEAT lists UTF8. On by default.
    pub utf8: bool,
    /// Send `TYPE I` after login, so that transfers and SIZE are in bytes. On by default.
    pub binary: bool,
    /// Passive (EPSV, then PASV) or active.
    pub data_mode: DataMode,
    /// Connect to the address inside 227 replies instead of the control connection's peer.
    /// Off by default: a hostile server could make the client connect anywhere (curl
    /// CVE-2020-8284, Python CVE-2021-4189). An address of 0.0.0.0 is never trusted.
    pub trust_pasv_address: bool,
    /// Reply framing policy and caps (strict multi-line by default).
    pub replies: ReplyDecoderConfig,
    /// Time to wait for a reply before the session fails with
    /// [`ClientError::Timeout`](crate::client::ClientError::Timeout). Suspended while a data
    /// transfer is moving bytes.
    pub reply_timeout: Duration,
    /// Time to wait for a data connection to connect, or an active listener to be bound.
    pub data_timeout: Duration,
    /// After ABOR, when the first reply is a 2xx that could be either the transfer's final
    /// reply or the ABOR reply, how long to wait for a second reply before taking it as both.
    pub abort_settle: Duration,
    /// Operations that may wait in the queue; more are refused with
    /// [`ClientError::QueueFull`](crate::client::ClientError::QueueFull).
    pub max_queued_ops: usize,
    /// Most entries one listing may hold; more fail the operation with
    /// [`OpError::ListingTooLarge`](crate::client::OpError::ListingTooLarge).
    pub max_listing_entries: usize,
    /// Longest listing line in bytes; a longer one fails the listing the same way.
    pub max_listing_line: usize,
}

impl ClientConfig {
    /// A configuration for this user and password with every other field at its default.
    pub fn new(user: impl Into<Bytes>, pass: impl Into<Bytes>) -> Self {
        ClientConfig {
            user: user.into(),
            pass: pass.into(),
            account: None,
            host: None,
            tls: ClientTls::Disabled,
            protect_data: true,
            utf8: true,
            binary: true,
            data_mode: DataMode::Passive,
            trust_pasv_address: false,
            replies: ReplyDecoderConfig::default(),
            reply_timeout: Duration::from_secs(60),
            data_timeout: Duration::from_secs(30),
            abort_settle: Duration::from_secs(1),
            max_queued_ops: 64,
            max_listing_entries: 100_000,
            max_listing_line: 8192,
        }
    }

    /// Anonymous login (`anonymous`, with an e-mail-like password).
    pub fn anonymous() -> Self {
        ClientConfig::new("anonymous", "anonymous@")
    }
}
