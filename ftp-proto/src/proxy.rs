//! The PROXY protocol (HAProxy, versions 1 and 2): the header a load balancer sends before the
//! client's bytes, telling the server who the client is; and [`Cidr`] blocks, to say which
//! senders are trusted with it.
//!
//! [`parse`] reads a header from the start of a buffer. It never asks for a byte past the
//! header: [`Status::Incomplete`] says how many more bytes may be read without reaching into
//! the protocol that follows (version 1 ends at the first CRLF; version 2 has a fixed 16-byte
//! prefix that gives the length of the rest). [`Decoder`] holds the bytes between reads.
//!
//! Bounded: a version 1 header is at most [`V1_MAX`] bytes, a version 2 header at most
//! [`V2_MAX`]; a longer one is an error as soon as the length is known. No input panics.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// The longest version 1 header, CRLF included (the specification's limit).
pub const V1_MAX: usize = 107;

/// The longest version 2 header this parser accepts: the 16-byte prefix and up to 2032 bytes
/// of addresses and TLVs (HAProxy sends a few dozen; the wire format allows 65535).
pub const V2_MAX: usize = 2048;

/// The 12 bytes every version 2 header starts with.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

const V1_PREFIX: &[u8] = b"PROXY ";
/// "PROXY UNKNOWN\r\n": no version 1 header is shorter, no version 2 one is.
const MIN_HEADER: usize = 15;

/// What a PROXY header says about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// A proxied TCP connection (version 1 `TCP4`/`TCP6`, version 2 `PROXY` over `STREAM`
    /// with `INET`/`INET6`): the client's address and the address it connected to.
    Tcp {
        /// The client's address.
        source: SocketAddr,
        /// The address the client connected to (the proxy's).
        destination: SocketAddr,
    },
    /// A proxied connection whose addresses are not given or not TCP/IP (version 1
    /// `UNKNOWN`, version 2 `PROXY` with family `UNSPEC` or `UNIX` or a protocol other than
    /// `STREAM`): the receiver uses the connection's own addresses.
    Unknown,
    /// A connection the proxy made itself (version 2 `LOCAL`, such as a health check): the
    /// receiver uses the connection's own addresses.
    Local,
}

/// The protocol version of a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// The text format.
    V1,
    /// The binary format.
    V2,
}

/// The result of [`parse`] on a buffer that does not (yet) hold a whole header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// A whole header: what it says, its version and its length in bytes (the protocol that
    /// follows starts there).
    Complete {
        /// What the header says.
        header: Header,
        /// Its version.
        version: Version,
        /// Its length in bytes.
        len: usize,
    },
    /// A valid beginning: at least `need` more bytes are needed, and exactly `need` more can
    /// be read without reading past the header (`need` is at least 1).
    Incomplete {
        /// How many bytes to read next.
        need: usize,
    },
}

/// Why bytes are not a PROXY header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The bytes start with neither the version 1 nor the version 2 signature.
    #[error("not a PROXY protocol header")]
    NotProxy,
    /// A version 1 header with no CRLF within [`V1_MAX`] bytes.
    #[error("PROXY v1 header longer than 107 bytes")]
    V1TooLong,
    /// A version 1 header that does not follow the grammar (the field that is wrong).
    #[error("malformed PROXY v1 header: bad {0}")]
    V1Malformed(&'static str),
    /// The stream ended inside a header.
    #[error("stream ended inside a PROXY header")]
    Truncated,
    /// A version 2 header longer than [`V2_MAX`].
    #[error("PROXY v2 header of {0} bytes, over the limit")]
    V2TooLong(usize),
    /// A version 2 header whose version nibble is not 2.
    #[error("PROXY v2 header with version {0}")]
    V2Version(u8),
    /// A version 2 command other than `LOCAL` (0) and `PROXY` (1).
    #[error("PROXY v2 header with command {0}")]
    V2Command(u8),
    /// A version 2 address family or transport protocol the specification does not define.
    #[error("PROXY v2 header with address family/protocol {0:#04x}")]
    V2Family(u8),
    /// A version 2 header whose length is too short for its address family.
    #[error("PROXY v2 header too short for its addresses ({0} bytes)")]
    V2Short(usize),
}

/// Parses the PROXY header at the start of `buf`; bytes after it are left alone. Rejects a
/// buffer as soon as its start cannot begin a header.
pub fn parse(buf: &[u8]) -> Result<Status, ProxyError> {
    let n = buf.len().min(V2_SIGNATURE.len());
    if buf[..n] == V2_SIGNATURE[..n] && !buf.is_empty() {
        return parse_v2(buf);
    }
    let n = buf.len().min(V1_PREFIX.len());
    if buf[..n] == V1_PREFIX[..n] {
        return parse_v1(buf);
    }
    Err(ProxyError::NotProxy)
}

fn parse_v1(buf: &[u8]) -> Result<Status, ProxyError> {
    let scan = &buf[..buf.len().min(V1_MAX)];
    let Some(cr) = scan.windows(2).position(|w| w == b"\r\n") else {
        // A lone '\n' can never end a version 1 header.
        if scan.contains(&b'\n') {
            return Err(ProxyError::V1Malformed("line ending"));
        }
        if buf.len() >= V1_MAX {
            return Err(ProxyError::V1TooLong);
        }
        let need = match buf.len() {
            n if n < MIN_HEADER => MIN_HEADER - n,
            // After a CR the header may end with the next byte; otherwise the earliest end
            // is a CRLF two bytes on.
            _ if buf.last() == Some(&b'\r') => 1,
            n => 2.min(V1_MAX - n),
        };
        return Ok(Status::Incomplete { need });
    };
    let line = &buf[V1_PREFIX.len()..cr];
    if line.iter().any(|&b| b == b'\r' || b == b'\n') {
        return Err(ProxyError::V1Malformed("line ending"));
    }
    let header = v1_fields(line)?;
    Ok(Status::Complete {
        header,
        version: Version::V1,
        len: cr + 2,
    })
}

/// The fields after "PROXY ", without the CRLF.
fn v1_fields(line: &[u8]) -> Result<Header, ProxyError> {
    if line == b"UNKNOWN" || line.starts_with(b"UNKNOWN ") {
        // The rest, if any, is to be ignored.
        return Ok(Header::Unknown);
    }
    let text = std::str::from_utf8(line).map_err(|_| ProxyError::V1Malformed("protocol"))?;
    let mut fields = text.split(' ');
    let v6 = match fields.next() {
        Some("TCP4") => false,
        Some("TCP6") => true,
        _ => return Err(ProxyError::V1Malformed("protocol")),
    };
    let mut next = |what| fields.next().ok_or(ProxyError::V1Malformed(what));
    let (src, dst) = (next("source address")?, next("destination address")?);
    let (sport, dport) = (next("source port")?, next("destination port")?);
    if fields.next().is_some() {
        return Err(ProxyError::V1Malformed("field count"));
    }
    let ip = |s: &str, what| -> Result<IpAddr, ProxyError> {
        let bad = ProxyError::V1Malformed(what);
        if v6 {
            Ipv6Addr::from_str(s).map(IpAddr::V6).map_err(|_| bad)
        } else {
            Ipv4Addr::from_str(s).map(IpAddr::V4).map_err(|_| bad)
        }
    };
    let source = SocketAddr::new(ip(src, "source address")?, port(sport, "source port")?);
    let destination = SocketAddr::new(
        ip(dst, "destination address")?,
        port(dport, "destination port")?,
    );
    Ok(Header::Tcp {
        source,
        destination,
    })
}

/// A decimal port, 0 to 65535, without a sign or leading zeros.
fn port(s: &str, what: &'static str) -> Result<u16, ProxyError> {
    let ok = !s.is_empty()
        && s.len() <= 5
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'));
    ok.then(|| s.parse().ok())
        .flatten()
        .ok_or(ProxyError::V1Malformed(what))
}

fn parse_v2(buf: &[u8]) -> Result<Status, ProxyError> {
    if buf.len() < 16 {
        // The prefix so far is the signature's; the 16-byte prefix follows.
        return Ok(Status::Incomplete {
            need: 16 - buf.len(),
        });
    }
    let ver_cmd = buf[12];
    if ver_cmd >> 4 != 2 {
        return Err(ProxyError::V2Version(ver_cmd >> 4));
    }
    let fam = buf[13];
    let body = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    let len = 16 + body;
    if len > V2_MAX {
        return Err(ProxyError::V2TooLong(len));
    }
    let command = ver_cmd & 0x0f;
    if command > 1 {
        return Err(ProxyError::V2Command(command));
    }
    // Families: 0 UNSPEC, 1 INET, 2 INET6, 3 UNIX; protocols: 0 UNSPEC, 1 STREAM, 2 DGRAM.
    let (family, protocol) = (fam >> 4, fam & 0x0f);
    if family > 3 || protocol > 2 {
        return Err(ProxyError::V2Family(fam));
    }
    if buf.len() < len {
        return Ok(Status::Incomplete {
            need: len - buf.len(),
        });
    }
    let complete = |header| Status::Complete {
        header,
        version: Version::V2,
        len,
    };
    if command == 0 {
        // LOCAL: whatever follows is to be ignored.
        return Ok(complete(Header::Local));
    }
    let addrs = &buf[16..len];
    let need = match family {
        1 => 12,
        2 => 36,
        3 => 216,
        _ => 0,
    };
    if addrs.len() < need {
        return Err(ProxyError::V2Short(body));
    }
    if protocol != 1 || !(family == 1 || family == 2) {
        return Ok(complete(Header::Unknown));
    }
    let port_at = |i: usize| u16::from_be_bytes([addrs[i], addrs[i + 1]]);
    let (source, destination) = if family == 1 {
        let ip = |i: usize| IpAddr::from([addrs[i], addrs[i + 1], addrs[i + 2], addrs[i + 3]]);
        (
            SocketAddr::new(ip(0), port_at(8)),
            SocketAddr::new(ip(4), port_at(10)),
        )
    } else {
        let ip = |i: usize| {
            let mut b = [0u8; 16];
            b.copy_from_slice(&addrs[i..i + 16]);
            IpAddr::from(b)
        };
        (
            SocketAddr::new(ip(0), port_at(32)),
            SocketAddr::new(ip(16), port_at(34)),
        )
    };
    Ok(complete(Header::Tcp {
        source,
        destination,
    }))
}

impl Header {
    /// The version 1 text of this header (`Local` has none in version 1 and is written as
    /// `UNKNOWN`, as is `Unknown`; a `Tcp` header with one IPv4 and one IPv6 address is
    /// written as `TCP6` with the IPv4 one mapped).
    pub fn encode_v1(&self) -> Vec<u8> {
        match *self {
            Header::Tcp {
                source,
                destination,
            } => {
                let (s, d) = (source.ip(), destination.ip());
                let text = match (s, d) {
                    (IpAddr::V4(s), IpAddr::V4(d)) => format!("TCP4 {s} {d}"),
                    _ => format!("TCP6 {} {}", v6(s), v6(d)),
                };
                format!("PROXY {text} {} {}\r\n", source.port(), destination.port()).into_bytes()
            }
            Header::Unknown | Header::Local => b"PROXY UNKNOWN\r\n".to_vec(),
        }
    }

    /// The version 2 bytes of this header, with no TLVs (mixed families as in
    /// [`encode_v1`](Self::encode_v1)).
    pub fn encode_v2(&self) -> Vec<u8> {
        let mut out = V2_SIGNATURE.to_vec();
        match *self {
            Header::Tcp {
                source,
                destination,
            } => {
                let addrs: Vec<u8> = match (source.ip(), destination.ip()) {
                    (IpAddr::V4(s), IpAddr::V4(d)) => {
                        out.extend([0x21, 0x11]);
                        [s.octets(), d.octets()].concat()
                    }
                    (s, d) => {
                        out.extend([0x21, 0x21]);
                        [v6(s).octets(), v6(d).octets()].concat()
                    }
                };
                let len = addrs.len() + 4;
                out.extend((len as u16).to_be_bytes());
                out.extend(addrs);
                out.extend(source.port().to_be_bytes());
                out.extend(destination.port().to_be_bytes());
            }
            Header::Unknown => out.extend([0x21, 0x00, 0, 0]),
            Header::Local => out.extend([0x20, 0x00, 0, 0]),
        }
        out
    }
}

fn v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// Holds the bytes of a header as they arrive, for a reader that must not take a byte past
/// it: read into [`space`](Self::space) (exactly that many bytes, or fewer), then report the
/// count to [`filled`](Self::filled). At most [`V2_MAX`] bytes are held.
#[derive(Debug, Clone)]
pub struct Decoder {
    /// The header's bytes so far (`len` of them), then the space of the last `space` call.
    buf: Vec<u8>,
    len: usize,
    need: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    /// A decoder waiting for the first bytes.
    pub fn new() -> Decoder {
        Decoder {
            buf: Vec::with_capacity(64),
            len: 0,
            need: MIN_HEADER,
        }
    }

    /// Where to read the next bytes: as many as may be read without passing the header's
    /// end (never empty before the header is complete).
    pub fn space(&mut self) -> &mut [u8] {
        // The same space again when a read into the last one failed.
        self.buf.resize(self.len + self.need, 0);
        &mut self.buf[self.len..]
    }

    /// Takes the first `n` bytes of the last [`space`](Self::space) (more than its length
    /// counts as its length): the header when it is complete, `None` when more is needed, or
    /// the error. `n` of 0 (end of stream) before the header is complete is `NotProxy` when
    /// nothing came, [`ProxyError::Truncated`] otherwise.
    pub fn filled(&mut self, n: usize) -> Result<Option<(Header, Version)>, ProxyError> {
        self.buf.resize(self.len + self.need, 0);
        self.len += n.min(self.need);
        self.buf.truncate(self.len);
        if n == 0 {
            return Err(match self.buf.is_empty() {
                true => ProxyError::NotProxy,
                false => ProxyError::Truncated,
            });
        }
        match parse(&self.buf)? {
            Status::Complete {
                header, version, ..
            } => {
                self.need = 0;
                Ok(Some((header, version)))
            }
            Status::Incomplete { need } => {
                self.need = need;
                Ok(None)
            }
        }
    }
}

/// An address block such as `10.0.0.0/8` or `fd00::/8`; a bare address is a block of one.
/// IPv4-mapped IPv6 addresses are matched as their IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// Why text is not a [`Cidr`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CidrError {
    /// The part before `/` is not an IP address.
    #[error("not an IP address")]
    Address,
    /// The prefix length is not a number up to 32 (IPv4) or 128 (IPv6).
    #[error("bad prefix length")]
    Prefix,
}

impl Cidr {
    /// The block of addresses whose first `prefix` bits are those of `addr` (bits after the
    /// prefix are ignored). Errs when `prefix` is over 32 for IPv4 or 128 for IPv6. An
    /// IPv4-mapped block (`::ffff:10.0.0.0/104`) is the IPv4 block it maps (`10.0.0.0/8`) and
    /// needs a prefix of at least 96.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Cidr, CidrError> {
        let (addr, prefix) = match (addr, crate::server::canonical_ip(addr)) {
            (IpAddr::V6(_), v4 @ IpAddr::V4(_)) => {
                (v4, prefix.checked_sub(96).ok_or(CidrError::Prefix)?)
            }
            _ => (addr, prefix),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(CidrError::Prefix);
        }
        Ok(Cidr {
            addr: mask(addr, prefix),
            prefix,
        })
    }

    /// The block's first address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is in the block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = crate::server::canonical_ip(ip);
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.prefix) == self.addr
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((u32::from(v4) & m).into())
        }
        IpAddr::V6(v6) => {
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((u128::from(v6) & m).into())
        }
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let (ip, prefix) = match s.split_once('/') {
            Some((ip, p)) => (ip, Some(p)),
            None => (s, None),
        };
        let addr = IpAddr::from_str(ip).map_err(|_| CidrError::Address)?;
        let prefix = match prefix {
            None => {
                if addr.is_ipv4() {
                    32
                } else {
                    128
                }
            }
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse().map_err(|_| CidrError::Prefix)?
            }
            Some(_) => return Err(CidrError::Prefix),
        };
        Cidr::new(addr, prefix)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr(), self.prefix)
    }
}

#[cfg(test)]
mod tests;
