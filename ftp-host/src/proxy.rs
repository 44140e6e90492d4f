//! The PROXY protocol on control connections, for servers behind a layer-4 load balancer
//! (HAProxy `send-proxy`/`send-proxy-v2`, AWS NLB): which senders are trusted with a header,
//! how long one may take, and the client address it gives, which then stands for the
//! connection's peer everywhere (admission, the core's port-stealing and bounce checks, logs).
//!
//! The adapter's part is I/O only: after accepting a control connection from `proxy`, call
//! [`ProxyProtocol::start`], read into [`HeaderRead::space`] and report each read to
//! [`HeaderRead::filled`] until it gives the client's address, within
//! [`ProxyProtocol::timeout`] (on expiry, [`HeaderRead::timed_out`]); then admit the
//! connection under the client's address and send the greeting. Any error closes the
//! connection without a reply. Reads never take a byte past the header (the parser is
//! [`ftp_proto::proxy`]), so the FTP bytes after it stay in the socket.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ftp_proto::proxy::{Cidr, Decoder, Header, ProxyError, Version};

/// The default of [`ProxyProtocol::timeout`].
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// The PROXY protocol settings of a control listener: every connection must start with a
/// header (version 1 or 2) and come from an address in [`from`](Self::from).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxyProtocol {
    /// The proxies' address blocks; a connection from anywhere else is closed unread.
    pub from: Vec<Cidr>,
    /// How long a trusted connection may take to send its whole header before it is closed
    /// (it holds no admission slot meanwhile, the deadline bounds what it holds).
    pub timeout: Duration,
}

/// Why a connection was closed before its session started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyRefused {
    /// The connection does not come from a trusted proxy.
    #[error("not from a trusted proxy")]
    Untrusted,
    /// The header is missing, malformed, too long or truncated.
    #[error("{0}")]
    Header(#[from] ProxyError),
    /// The whole header did not arrive within [`ProxyProtocol::timeout`].
    #[error("no PROXY header within the deadline")]
    TimedOut,
}

impl ProxyRefused {
    /// The reason as a short `snake_case` word, for logs.
    pub fn reason(&self) -> &'static str {
        match self {
            ProxyRefused::Untrusted => "untrusted",
            ProxyRefused::Header(ProxyError::NotProxy) => "no_header",
            ProxyRefused::Header(ProxyError::Truncated) => "truncated",
            ProxyRefused::Header(_) => "malformed",
            ProxyRefused::TimedOut => "timed_out",
        }
    }
}

impl ProxyProtocol {
    /// Headers from these blocks, with [`DEFAULT_HEADER_TIMEOUT`].
    pub fn new(from: impl IntoIterator<Item = Cidr>) -> ProxyProtocol {
        ProxyProtocol {
            from: from.into_iter().collect(),
            timeout: DEFAULT_HEADER_TIMEOUT,
        }
    }

    /// Whether `ip` may send a header.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.from.iter().any(|c| c.contains(ip))
    }

    /// Starts reading the header of a control connection accepted from `proxy` at `now`;
    /// refuses (and logs) a connection from an address not in [`from`](Self::from).
    pub fn start(&self, proxy: SocketAddr, now: Instant) -> Result<HeaderRead, ProxyRefused> {
        if !self.trusts(proxy.ip()) {
            return Err(refused(proxy, ProxyRefused::Untrusted));
        }
        Ok(HeaderRead {
            decoder: Decoder::new(),
            proxy,
            deadline: now + self.timeout,
        })
    }
}

/// One connection's header as it arrives, from [`ProxyProtocol::start`].
#[derive(Debug)]
pub struct HeaderRead {
    decoder: Decoder,
    proxy: SocketAddr,
    deadline: Instant,
}

impl HeaderRead {
    /// Where to read next: never more bytes than the rest of the header.
    pub fn space(&mut self) -> &mut [u8] {
        self.decoder.space()
    }

    /// Takes a read of `n` bytes into [`space`](Self::space) (0: end of stream): the
    /// client's address once the header is whole, `None` while more is needed, or the
    /// refusal, logged. A header without addresses (version 2 `LOCAL`, version 1 `UNKNOWN`,
    /// as a health check sends) gives the proxy's own address.
    pub fn filled(&mut self, n: usize) -> Result<Option<SocketAddr>, ProxyRefused> {
        match self.decoder.filled(n) {
            Ok(None) => Ok(None),
            Ok(Some((header, version))) => {
                let client = match header {
                    Header::Tcp { source, .. } => source,
                    Header::Unknown | Header::Local => self.proxy,
                };
                let v = match version {
                    Version::V1 => 1,
                    _ => 2,
                };
                tracing::debug!(peer = %client, proxy = %self.proxy, version = v, "PROXY header");
                Ok(Some(client))
            }
            Err(e) => Err(refused(self.proxy, e.into())),
        }
    }

    /// When the header must be whole.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The refusal for a header that missed its deadline, logged.
    pub fn timed_out(&self) -> ProxyRefused {
        refused(self.proxy, ProxyRefused::TimedOut)
    }

    /// The address the connection came from (the proxy's).
    pub fn proxy(&self) -> SocketAddr {
        self.proxy
    }
}

fn refused(from: SocketAddr, e: ProxyRefused) -> ProxyRefused {
    tracing::warn!(%from, reason = e.reason(), "connection refused: {e}");
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(r: &mut HeaderRead, bytes: &[u8]) -> Result<Option<SocketAddr>, ProxyRefused> {
        let mut at = 0;
        loop {
            let space = r.space();
            let n = space.len().min(bytes.len() - at);
            space[..n].copy_from_slice(&bytes[at..at + n]);
            at += n;
            if let Some(c) = r.filled(n)? {
                return Ok(Some(c));
            }
            if n == 0 {
                return Ok(None);
            }
        }
    }

    #[test]
    fn trusted_sources_only_and_the_client_address() {
        let p = ProxyProtocol::new(["127.0.0.1/32".parse().unwrap()]);
        let now = Instant::now();
        let proxy: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        assert_eq!(
            p.start("127.0.0.2:5000".parse().unwrap(), now).unwrap_err(),
            ProxyRefused::Untrusted
        );
        let mut r = p.start(proxy, now).unwrap();
        assert_eq!(r.deadline(), now + DEFAULT_HEADER_TIMEOUT);
        let got = feed(&mut r, b"PROXY TCP4 127.0.0.2 127.0.0.1 40000 21\r\nUSER");
        assert_eq!(got, Ok(Some("127.0.0.2:40000".parse().unwrap())));
        let mut r = p.start(proxy, now).unwrap();
        let local = ftp_proto::proxy::Header::Local.encode_v2();
        assert_eq!(feed(&mut r, &local), Ok(Some(proxy)));
        let mut r = p.start(proxy, now).unwrap();
        assert_eq!(
            feed(&mut r, b"USER anonymous\r\n").unwrap_err().reason(),
            "no_header"
        );
        let mut r = p.start(proxy, now).unwrap();
        assert_eq!(
            feed(&mut r, b"PROXY TCP4 1.2.3.4").unwrap_err(),
            ProxyRefused::Header(ProxyError::Truncated)
        );
        assert_eq!(r.timed_out(), ProxyRefused::TimedOut);
    }
}
