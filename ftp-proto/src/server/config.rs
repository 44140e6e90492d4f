//! Server policy: every limit, timeout and security choice of a [`ServerSession`], in one value
//! that many sessions share.
//!
//! [`ServerSession`]: crate::server::ServerSession

use std::fmt;
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

/// When the session asks for TLS on the control and data connections (RFC 4217).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TlsMode {
    /// No TLS: AUTH is answered 502 and FEAT does not list it.
    #[default]
    Disabled,
    /// Explicit FTPS: AUTH TLS is offered and optional.
    Explicit,
    /// Explicit FTPS, and USER/PASS are refused (530) until AUTH TLS has completed.
    ExplicitRequired,
    /// Implicit FTPS: the adapter runs TLS from the first byte; the session starts secured.
    Implicit,
}

/// Which address a PASV (227) or LPSV (228) reply advertises.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum PassiveAddress {
    /// The local address of the control connection (what the client connected to).
    #[default]
    ControlLocal,
    /// A fixed public address for clients behind NAT, given to every client.
    Masquerade(IpAddr),
    /// A public address, except for clients on a private, loopback or link-local address, who
    /// get the control connection's local address (vsftpd, proftpd and FileZilla Server do this
    /// so that LAN clients are not sent to the router).
    MasqueradeExceptLocal(IpAddr),
    /// The application decides from the client's address and the control connection's local
    /// address.
    Custom(Arc<dyn Fn(IpAddr, IpAddr) -> IpAddr + Send + Sync>),
}

impl fmt::Debug for PassiveAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PassiveAddress::ControlLocal => f.write_str("ControlLocal"),
            PassiveAddress::Masquerade(ip) => write!(f, "Masquerade({ip})"),
            PassiveAddress::MasqueradeExceptLocal(ip) => write!(f, "MasqueradeExceptLocal({ip})"),
            PassiveAddress::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

impl PassiveAddress {
    /// The address to advertise to `peer` on a control connection whose local end is `local`.
    pub fn advertise(&self, peer: IpAddr, local: IpAddr) -> IpAddr {
        match self {
            PassiveAddress::ControlLocal => local,
            PassiveAddress::Masquerade(ip) => *ip,
            PassiveAddress::MasqueradeExceptLocal(ip) => {
                if is_local_network(peer) {
                    local
                } else {
                    *ip
                }
            }
            PassiveAddress::Custom(f) => f(peer, local),
        }
    }
}

/// Whether `ip` is on a network a NAT would not translate: private, loopback, link-local,
/// unique-local or unspecified.
pub fn is_local_network(ip: IpAddr) -> bool {
    match canonical_ip(ip) {
        IpAddr::V4(v4) => {
            v4.is_private() || v4.is_loopback() || v4.is_link_local() || v4.is_unspecified()
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as the IPv4 address it carries, so that a
/// dual-stack socket's peer compares equal to the same client seen over IPv4.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Configuration shared by server sessions. Build with [`ServerConfig::default`] and adjust the
/// public fields; every limit has a default in the range real servers use.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Text of the 220 greeting.
    pub greeting: String,
    /// Longest accepted command line in bytes (vsftpd uses 4096); longer lines get 500.
    pub max_line_len: usize,
    /// Commands that may wait, framed but unprocessed, behind the one being served (pipelining;
    /// at least 1 is used). Past this depth the session stops framing: further input stays as
    /// bytes (the line decoder's own buffer, then up to
    /// [`max_buffered_input`](Self::max_buffered_input)) and is framed as commands are served,
    /// so a client may pipeline any number of commands and gets every reply, in order.
    /// [`wants_read`](crate::server::ServerSession::wants_read) is false while the queue is
    /// full or input is held.
    pub max_pending_commands: usize,
    /// Bytes of control input the session holds beyond its line decoder's buffer (which keeps
    /// up to 16 KiB, or `max_line_len` + 2 if more) while the command queue is full: what one
    /// [`handle_input`](crate::server::ServerSession::handle_input) call brought that did not
    /// fit. An adapter that reads only while
    /// [`wants_read`](crate::server::ServerSession::wants_read) is true, at most one read
    /// buffer at a time, never comes near it; input fed regardless past this bound gets 421
    /// and the connection is closed. Default 1 MiB.
    pub max_buffered_input: usize,
    /// Bytes of replies that may wait for [`poll_output`](crate::server::ServerSession::poll_output);
    /// past this the session stops processing commands until the caller drains.
    pub max_queued_output: usize,
    /// Time without a command (and without a transfer) before 421 and close (RFC 1123: at least
    /// 5 minutes by default).
    pub idle_timeout: Duration,
    /// Time from the connection's start within which the client must log in; past it the
    /// session replies 421 and closes, however busy the client keeps it (commands do not
    /// extend it, unlike the idle timeout). A successful login clears it, and logging out
    /// (REIN, or USER after a login) starts it again. A duration too large to add to the clock
    /// means no limit.
    pub login_timeout: Duration,
    /// Time to wait for a data connection (passive accept or active connect) before 425, and
    /// the longest a running transfer may go without moving a byte (as reported with
    /// [`handle_data_progress`](crate::server::ServerSession::handle_data_progress)) before it
    /// is aborted with 426. A duration too large to add to the clock means no limit.
    pub data_timeout: Duration,
    /// Failed PASS attempts before 421 and close (RFC 2577 suggests 3 to 5).
    pub max_login_failures: u32,
    /// Delay before the 530 that answers a failed PASS (RFC 2577).
    pub failed_login_delay: Duration,
    /// Whether `anonymous` and `ftp` ([`is_anonymous_user`](crate::server::is_anonymous_user))
    /// may log in. When on, their logins reach the authenticator with
    /// [`Request::Login`](crate::server::Request::Login)'s `anonymous` set, and it accepts any
    /// password (by convention an e-mail address); when off, the session refuses them itself.
    pub anonymous: bool,
    /// Passive ports to listen on, inclusive.
    pub passive_ports: RangeInclusive<u16>,
    /// The address advertised in 227/228 replies.
    pub passive_address: PassiveAddress,
    /// Whether PORT/EPRT/LPRT (active mode) are accepted at all.
    pub active_enabled: bool,
    /// Whether an active data connection may target a host other than the client (FXP). Off by
    /// default: the FTP bounce attack (RFC 2577 §3).
    pub allow_foreign_active: bool,
    /// Whether an active data connection may target a port below 1024 (RFC 2577 §3).
    pub allow_privileged_active_ports: bool,
    /// Whether a passive data connection may come from a host other than the client. Off by
    /// default: port stealing (RFC 2577 §8).
    pub allow_foreign_passive: bool,
    /// TLS on the control connection.
    pub tls: TlsMode,
    /// Refuse transfers unless PROT P is in force (answered 521 before any data connection).
    pub require_data_tls: bool,
    /// Refuse a TLS data connection whose session did not resume the control connection's
    /// session (vsftpd `require_ssl_reuse`); answered 522.
    pub require_tls_session_reuse: bool,
    /// Whether an upload whose TLS data connection ended without `close_notify`
    /// ([`ServerEvent::TransferTruncated`](crate::server::ServerEvent::TransferTruncated)) counts
    /// as complete (226). Off by default: such an upload gets 451 and is a failed transfer,
    /// because a TCP FIN is not authenticated and anyone on the path can cut an upload short
    /// that way. vsftpd's `strict_ssl_read_eof` is the same switch, inverted; vsftpd leaves it
    /// off (lenient) because some clients close TLS data connections without `close_notify`,
    /// so turn this on when such clients must be served.
    pub accept_truncated_tls_uploads: bool,
    /// Text of the 215 SYST reply.
    pub system: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            greeting: "FTP server ready.".into(),
            max_line_len: 4096,
            max_pending_commands: 32,
            max_buffered_input: 1024 * 1024,
            max_queued_output: 64 * 1024,
            idle_timeout: Duration::from_secs(300),
            login_timeout: Duration::from_secs(60),
            data_timeout: Duration::from_secs(30),
            max_login_failures: 3,
            failed_login_delay: Duration::from_secs(1),
            anonymous: false,
            passive_ports: 49152..=65534,
            passive_address: PassiveAddress::default(),
            active_enabled: true,
            allow_foreign_active: false,
            allow_privileged_active_ports: false,
            allow_foreign_passive: false,
            tls: TlsMode::Disabled,
            require_data_tls: false,
            require_tls_session_reuse: false,
            accept_truncated_tls_uploads: false,
            system: "UNIX Type: L8".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masquerade_except_local_gives_lan_clients_the_private_address() {
        let public: IpAddr = "203.0.113.7".parse().unwrap();
        let local: IpAddr = "192.168.1.10".parse().unwrap();
        let policy = PassiveAddress::MasqueradeExceptLocal(public);
        assert_eq!(
            policy.advertise("192.168.1.55".parse().unwrap(), local),
            local
        );
        assert_eq!(
            policy.advertise("::ffff:10.0.0.3".parse().unwrap(), local),
            local
        );
        assert_eq!(
            policy.advertise("198.51.100.4".parse().unwrap(), local),
            public
        );
        assert_eq!(
            PassiveAddress::Masquerade(public).advertise("10.0.0.1".parse().unwrap(), local),
            public
        );
    }

    #[test]
    fn mapped_addresses_compare_as_ipv4() {
        assert_eq!(
            canonical_ip("::ffff:127.0.0.1".parse().unwrap()),
            "127.0.0.1".parse::<IpAddr>().unwrap()
        );
        assert!(is_local_network("fd00::1".parse().unwrap()));
        assert!(!is_local_network("2001:db8::1".parse().unwrap()));
    }
}
