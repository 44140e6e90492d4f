//! Data-connection host-port encodings: PORT/PASV (RFC 959), EPRT/EPSV (RFC 2428) and
//! LPRT/LPSV (RFC 1639), parsed from and written to bytes in both directions.
//!
//! Command arguments (`PORT`, `EPRT`, `LPRT`, `EPSV`) are parsed strictly: the peer controls
//! them and a lax parser is how bounce attacks and out-of-bounds reads start. Reply texts
//! (227, 228, 229) are scanned leniently because servers format them in many ways
//! (RFC 1123 §4.1.2.6), but every number is still range-checked.
//!
//! Port 0 is rejected everywhere: it never names a reachable data port.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use bytes::BytesMut;

/// Which address grammar an unsupported network family was found in.
///
/// The two grammars answer an unknown family with different reply codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Grammar {
    /// EPRT/EPSV (RFC 2428): unknown protocol numbers are answered with 522.
    Extended,
    /// LPRT/LPSV (RFC 1639): unknown address families are answered with 521.
    Long,
}

/// Why a host-port argument or reply text did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum AddrError {
    /// The text does not follow the grammar (wrong field count, junk, bad delimiter...).
    #[error("malformed host-port specification")]
    Syntax,
    /// A number is too large for its field (a byte over 255, a port over 65535).
    #[error("number out of range in host-port specification")]
    Range,
    /// The port is 0, which no data connection can use.
    #[error("port 0 is not a usable data port")]
    PortZero,
    /// The network protocol or address family is well-formed but not IPv4 or IPv6.
    #[error("network protocol not supported")]
    UnsupportedFamily(Grammar),
}

impl AddrError {
    /// The FTP reply code a server answers this error with.
    ///
    /// 501 for syntax and range errors, 522 for an unknown EPRT/EPSV protocol (the reply text
    /// must then end with ` (1,2)`, RFC 2428), 521 for an unknown LPRT family (RFC 1639).
    /// Client-side reply-text errors have no reply to send; they report 501 too.
    pub fn reply_code(&self) -> u16 {
        match self {
            AddrError::UnsupportedFamily(Grammar::Extended) => 522,
            AddrError::UnsupportedFamily(Grammar::Long) => 521,
            AddrError::Syntax | AddrError::Range | AddrError::PortZero => 501,
        }
    }
}

/// Parses a `PORT` argument `h1,h2,h3,h4,p1,p2` into an IPv4 socket address.
///
/// Each field is 1 to 3 decimal digits with a value of at most 255; no signs, spaces or extra
/// fields. Errs with [`AddrError::Syntax`], [`AddrError::Range`] or [`AddrError::PortZero`].
pub fn parse_port(arg: &[u8]) -> Result<SocketAddrV4, AddrError> {
    let mut f = [0u8; 6];
    let n = byte_fields(arg, &mut f)?;
    if n != f.len() {
        return Err(AddrError::Syntax);
    }
    v4_from_fields(f)
}

/// Writes the `PORT` argument `h1,h2,h3,h4,p1,p2` for `addr` (no verb, no line end).
pub fn encode_port(addr: &SocketAddrV4, out: &mut BytesMut) {
    let [p1, p2] = addr.port().to_be_bytes();
    let [a, b, c, d] = addr.ip().octets();
    put_byte_list(out, &[a, b, c, d, p1, p2]);
}

/// Finds the address in the text of a 227 reply to PASV.
///
/// Pass the final reply line (with or without the `227 ` code): the first run of exactly six
/// comma-separated numbers, each 1-3 digits and at most 255, is taken, wherever it is
/// (`(…)`, `=…`, after `Mode.`, a trailing `.`). Runs that are out of range are skipped; if
/// none fits, errs with [`AddrError::Range`] (if some run had six fields) or
/// [`AddrError::Syntax`]. A port of 0 errs with [`AddrError::PortZero`].
pub fn parse_pasv_reply(text: &[u8]) -> Result<SocketAddrV4, AddrError> {
    let mut err = AddrError::Syntax;
    for span in number_spans(text) {
        let mut f = [0u8; 6];
        match byte_fields(span, &mut f) {
            Ok(6) => return v4_from_fields(f),
            Ok(_) => {}
            Err(e) => {
                if e == AddrError::Range && span.iter().filter(|&&b| b == b',').count() == 5 {
                    err = AddrError::Range;
                }
            }
        }
    }
    Err(err)
}

/// Writes the 227 reply text `Entering Passive Mode (h1,h2,h3,h4,p1,p2).` for `addr`.
///
/// This is the form NAT connection-tracking helpers look for; the caller adds `227 ` and CRLF.
pub fn encode_pasv_reply(addr: &SocketAddrV4, out: &mut BytesMut) {
    out.extend_from_slice(b"Entering Passive Mode (");
    encode_port(addr, out);
    out.extend_from_slice(b").");
}

/// Parses an `EPRT` argument `<d><proto><d><addr><d><port><d>` into a socket address.
///
/// `<d>` is any byte 33-126 (the same at all four places). Protocol `1` takes a dotted quad,
/// `2` an IPv6 text address; a `%scope` suffix on an IPv6 address is stripped (as vsftpd
/// does: the scope names an interface of the sender, meaningless to the receiver). Other
/// protocol numbers err with [`AddrError::UnsupportedFamily`] (522); the port must be
/// 1-65535.
pub fn parse_eprt(arg: &[u8]) -> Result<SocketAddr, AddrError> {
    let (&d, rest) = arg.split_first().ok_or(AddrError::Syntax)?;
    if !(33..=126).contains(&d) {
        return Err(AddrError::Syntax);
    }
    let mut parts = rest.split(|&b| b == d);
    let (Some(proto), Some(host), Some(port), Some(end), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(AddrError::Syntax);
    };
    if !end.is_empty() {
        return Err(AddrError::Syntax);
    }
    match proto {
        b"1" => {
            let ip = parse_ip::<Ipv4Addr>(host)?;
            Ok(SocketAddr::V4(SocketAddrV4::new(ip, port_field(port)?)))
        }
        b"2" => {
            let mut pieces = host.splitn(2, |&b| b == b'%');
            let bare = pieces.next().unwrap_or_default();
            if pieces.next().is_some_and(<[u8]>::is_empty) {
                return Err(AddrError::Syntax);
            }
            let ip = parse_ip::<Ipv6Addr>(bare)?;
            Ok(SocketAddr::V6(SocketAddrV6::new(
                ip,
                port_field(port)?,
                0,
                0,
            )))
        }
        p if !p.is_empty() && p.iter().all(u8::is_ascii_digit) => {
            Err(AddrError::UnsupportedFamily(Grammar::Extended))
        }
        _ => Err(AddrError::Syntax),
    }
}

/// Writes the `EPRT` argument for `addr` with `|` delimiters: `|1|a.b.c.d|port|` or
/// `|2|ipv6|port|` (an IPv6 scope id is not sent).
pub fn encode_eprt(addr: &SocketAddr, out: &mut BytesMut) {
    match addr {
        SocketAddr::V4(a) => {
            out.extend_from_slice(b"|1|");
            let _ = write!(out, "{}", a.ip());
        }
        SocketAddr::V6(a) => {
            out.extend_from_slice(b"|2|");
            let _ = write!(out, "{}", a.ip());
        }
    }
    out.extend_from_slice(b"|");
    put_u64(out, u64::from(addr.port()));
    out.extend_from_slice(b"|");
}

/// Finds the port in the text of a 229 reply to EPSV: `(<d><d><d><port><d>)`.
///
/// `<d>` is any byte 33-126, the same four times; the port must be 1-65535. Each `(` in the
/// text is tried in turn, so a reply that is just `(` or has junk in the parentheses errs
/// ([`AddrError::Syntax`], [`AddrError::Range`] or [`AddrError::PortZero`]).
pub fn parse_epsv_reply(text: &[u8]) -> Result<u16, AddrError> {
    let mut err = AddrError::Syntax;
    let mut rest = text;
    while let Some(open) = rest.iter().position(|&b| b == b'(') {
        let after = rest.get(open + 1..).unwrap_or_default();
        match epsv_body(after) {
            Ok(port) => return Ok(port),
            Err(AddrError::Syntax) => {}
            Err(e) => err = e,
        }
        rest = after;
    }
    Err(err)
}

fn epsv_body(t: &[u8]) -> Result<u16, AddrError> {
    let Some((&d, _)) = t.split_first() else {
        return Err(AddrError::Syntax);
    };
    if !(33..=126).contains(&d) {
        return Err(AddrError::Syntax);
    }
    let Some(rest) = t.strip_prefix(&[d, d, d][..]) else {
        return Err(AddrError::Syntax);
    };
    let end = rest.iter().position(|&b| b == d).ok_or(AddrError::Syntax)?;
    let (port, tail) = rest.split_at(end);
    if tail.get(1) != Some(&b')') {
        return Err(AddrError::Syntax);
    }
    port_field(port)
}

/// Writes the 229 reply text `Entering Extended Passive Mode (|||port|)` (RFC 2428 §3).
pub fn encode_epsv_reply(port: u16, out: &mut BytesMut) {
    out.extend_from_slice(b"Entering Extended Passive Mode (|||");
    put_u64(out, u64::from(port));
    out.extend_from_slice(b"|)");
}

/// The argument of `EPSV` (RFC 2428 §3): which family to listen on, or `ALL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EpsvArg {
    /// No argument: the family of the control connection.
    Default,
    /// `EPSV 1`: IPv4.
    Ipv4,
    /// `EPSV 2`: IPv6.
    Ipv6,
    /// `EPSV ALL`: the client will use only EPSV from now on; PORT, PASV, EPRT must be refused.
    All,
}

impl EpsvArg {
    /// Parses the argument of `EPSV` (`None` when the command had none).
    ///
    /// `ALL` is case-insensitive. Other decimal numbers err with
    /// [`AddrError::UnsupportedFamily`] (522); anything else with [`AddrError::Syntax`].
    pub fn parse(arg: Option<&[u8]>) -> Result<Self, AddrError> {
        match arg {
            None | Some(b"") => Ok(EpsvArg::Default),
            Some(b"1") => Ok(EpsvArg::Ipv4),
            Some(b"2") => Ok(EpsvArg::Ipv6),
            Some(a) if a.eq_ignore_ascii_case(b"ALL") => Ok(EpsvArg::All),
            Some(a) if a.iter().all(u8::is_ascii_digit) => {
                Err(AddrError::UnsupportedFamily(Grammar::Extended))
            }
            Some(_) => Err(AddrError::Syntax),
        }
    }

    /// The argument as sent on the wire: `None` for [`EpsvArg::Default`], else `1`, `2`, `ALL`.
    pub fn token(&self) -> Option<&'static str> {
        match self {
            EpsvArg::Default => None,
            EpsvArg::Ipv4 => Some("1"),
            EpsvArg::Ipv6 => Some("2"),
            EpsvArg::All => Some("ALL"),
        }
    }
}

/// Most fields an LPRT argument can have: af, hal, 16 address bytes, pal, 2 port bytes.
const LPRT_MAX_FIELDS: usize = 21;

/// Parses an `LPRT` argument `af,hal,h1,...,hN,pal,p1,p2` (RFC 1639) into a socket address.
///
/// Only `4,4,...` (IPv4) and `6,16,...` (IPv6) are accepted, with `pal` 2; the length fields
/// must match the number of fields that follow. An unknown `af` errs with
/// [`AddrError::UnsupportedFamily`] (521); other errors are [`AddrError::Syntax`],
/// [`AddrError::Range`] and [`AddrError::PortZero`].
pub fn parse_lprt(arg: &[u8]) -> Result<SocketAddr, AddrError> {
    let mut f = [0u8; LPRT_MAX_FIELDS];
    let n = byte_fields(arg, &mut f)?;
    let f = f.get(..n).unwrap_or_default();
    let hal = match f {
        [4, 4, ..] => 4,
        [6, 16, ..] => 16,
        [4 | 6, ..] | [] | [_] => return Err(AddrError::Syntax),
        [_, _, ..] => return Err(AddrError::UnsupportedFamily(Grammar::Long)),
    };
    let host = f.get(2..2 + hal).ok_or(AddrError::Syntax)?;
    let [2, p1, p2] = *f.get(2 + hal..).unwrap_or_default() else {
        return Err(AddrError::Syntax);
    };
    let port = u16::from_be_bytes([p1, p2]);
    if port == 0 {
        return Err(AddrError::PortZero);
    }
    if let Ok(a) = <[u8; 4]>::try_from(host) {
        Ok(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(a), port)))
    } else if let Ok(a) = <[u8; 16]>::try_from(host) {
        Ok(SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::from(a),
            port,
            0,
            0,
        )))
    } else {
        Err(AddrError::Syntax)
    }
}

/// Writes the `LPRT` argument for `addr`: `4,4,a,b,c,d,2,p1,p2` or `6,16,...,2,p1,p2`.
pub fn encode_lprt(addr: &SocketAddr, out: &mut BytesMut) {
    let [p1, p2] = addr.port().to_be_bytes();
    match addr {
        SocketAddr::V4(a) => {
            out.extend_from_slice(b"4,4,");
            put_byte_list(out, &a.ip().octets());
        }
        SocketAddr::V6(a) => {
            out.extend_from_slice(b"6,16,");
            put_byte_list(out, &a.ip().octets());
        }
    }
    out.extend_from_slice(b",");
    put_byte_list(out, &[2, p1, p2]);
}

/// Finds the address in the text of a 228 reply to LPSV: `(af,hal,h1,...,pal,p1,p2)`.
///
/// Like [`parse_pasv_reply`], the first run of comma-separated numbers that is a valid LPRT
/// argument is taken, with or without parentheses.
pub fn parse_lpsv_reply(text: &[u8]) -> Result<SocketAddr, AddrError> {
    let mut err = AddrError::Syntax;
    for span in number_spans(text) {
        match parse_lprt(span) {
            Ok(a) => return Ok(a),
            Err(AddrError::PortZero) => return Err(AddrError::PortZero),
            Err(AddrError::Syntax) => {}
            Err(e) => err = e,
        }
    }
    Err(err)
}

/// Writes the 228 reply text `Entering Long Passive Mode (af,hal,...,pal,p1,p2)`.
pub fn encode_lpsv_reply(addr: &SocketAddr, out: &mut BytesMut) {
    out.extend_from_slice(b"Entering Long Passive Mode (");
    encode_lprt(addr, out);
    out.extend_from_slice(b")");
}

/// Parses a strict unsigned decimal: at least one digit, digits only, no overflow.
pub(crate) fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// Appends `n` in decimal without allocating.
pub(crate) fn put_u64(out: &mut BytesMut, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        if let Some(slot) = buf.get_mut(i) {
            *slot = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    out.extend_from_slice(buf.get(i..).unwrap_or_default());
}

fn put_byte_list(out: &mut BytesMut, bytes: &[u8]) {
    for (i, &b) in bytes.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b",");
        }
        put_u64(out, u64::from(b));
    }
}

/// Splits `text` on commas into `out`, each field a decimal byte; returns the field count.
/// More fields than `out` holds is a syntax error.
fn byte_fields(text: &[u8], out: &mut [u8]) -> Result<usize, AddrError> {
    let mut n = 0;
    for part in text.split(|&b| b == b',') {
        let slot = out.get_mut(n).ok_or(AddrError::Syntax)?;
        *slot = byte_field(part)?;
        n += 1;
    }
    Ok(n)
}

fn byte_field(f: &[u8]) -> Result<u8, AddrError> {
    if f.is_empty() || !f.iter().all(u8::is_ascii_digit) {
        return Err(AddrError::Syntax);
    }
    if f.len() > 3 {
        return Err(AddrError::Range);
    }
    parse_u64(f)
        .and_then(|v| u8::try_from(v).ok())
        .ok_or(AddrError::Range)
}

fn port_field(f: &[u8]) -> Result<u16, AddrError> {
    if f.is_empty() || !f.iter().all(u8::is_ascii_digit) {
        return Err(AddrError::Syntax);
    }
    let v = parse_u64(f).ok_or(AddrError::Range)?;
    match u16::try_from(v) {
        Ok(0) => Err(AddrError::PortZero),
        Ok(p) => Ok(p),
        Err(_) => Err(AddrError::Range),
    }
}

fn v4_from_fields(f: [u8; 6]) -> Result<SocketAddrV4, AddrError> {
    let [a, b, c, d, p1, p2] = f;
    let port = u16::from_be_bytes([p1, p2]);
    if port == 0 {
        return Err(AddrError::PortZero);
    }
    Ok(SocketAddrV4::new(Ipv4Addr::new(a, b, c, d), port))
}

fn parse_ip<T: std::str::FromStr>(text: &[u8]) -> Result<T, AddrError> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(AddrError::Syntax)
}

/// Maximal runs of digits and commas in `text`, with commas at either end trimmed.
fn number_spans(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    text.split(|&b| !(b.is_ascii_digit() || b == b','))
        .map(|s| {
            let start = s.iter().position(|&b| b != b',').unwrap_or(s.len());
            let end = s.iter().rposition(|&b| b != b',').map_or(start, |e| e + 1);
            s.get(start..end).unwrap_or_default()
        })
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: [u8; 4], port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::from(a), port)
    }

    #[test]
    fn pasv_range_error_only_for_a_run_of_six_fields() {
        // Out of range, but not six fields: the text has no address at all (Syntax).
        assert_eq!(
            parse_pasv_reply(b"Entering Passive Mode (300,1)."),
            Err(AddrError::Syntax)
        );
        // Six fields, one out of range: an address that does not fit (Range).
        assert_eq!(
            parse_pasv_reply(b"Entering Passive Mode (10,0,0,300,4,1)."),
            Err(AddrError::Range)
        );
    }

    fn v6(text: &str, port: u16) -> SocketAddr {
        SocketAddr::V6(SocketAddrV6::new(text.parse().unwrap(), port, 0, 0))
    }

    fn enc(f: impl FnOnce(&mut BytesMut)) -> Vec<u8> {
        let mut out = BytesMut::new();
        f(&mut out);
        out.to_vec()
    }

    const PORT_VECTORS: &[(&str, [u8; 4], u16)] = &[
        ("127,0,0,1,79,15", [127, 0, 0, 1], 20_239),
        ("10,0,0,255,0,1", [10, 0, 0, 255], 1),
        ("0,0,0,0,255,255", [0, 0, 0, 0], 65_535),
        ("192,168,178,39,184,244", [192, 168, 178, 39], 47_348),
    ];

    #[test]
    fn port_vectors_both_ways() {
        for &(text, ip, port) in PORT_VECTORS {
            assert_eq!(parse_port(text.as_bytes()), Ok(v4(ip, port)), "{text}");
            assert_eq!(enc(|o| encode_port(&v4(ip, port), o)), text.as_bytes());
        }
        assert_eq!(
            parse_port(b"127,000,0,01,4,051"),
            Ok(v4([127, 0, 0, 1], 1075))
        );
    }

    #[test]
    fn port_rejects() {
        use AddrError::*;
        for (bad, err) in [
            ("", Syntax),
            ("127,0,0,1,1.1", Syntax),
            ("X,0,0,1,1,1", Syntax),
            ("127,0,0,1,1,1,1", Syntax),
            ("127,0,0,1", Syntax),
            ("1,2,3", Syntax),
            ("256,0,0,1,1,1", Range),
            ("127,0,0,1,256,1", Range),
            ("127,0,0,1,-1,0", Syntax),
            ("127,0,0,1,0,300", Range),
            ("100,200,300,400,1,2", Range),
            ("a,1,2,3,4,5,6", Syntax),
            ("127,0,0,1,0,0", PortZero),
            (" 127,0,0,1,4,1", Syntax),
            ("127,0,0,1,4,1 ", Syntax),
            ("127,0,0,1,4,+1", Syntax),
            ("127,0,0,1,4,0001", Range),
            ("127,,0,1,4,1", Syntax),
            ("127,0,0,1,4,1,", Syntax),
        ] {
            assert_eq!(parse_port(bad.as_bytes()), Err(err), "{bad}");
            assert_eq!(err.reply_code(), 501);
        }
    }

    #[test]
    fn pasv_reply_forms_from_the_wild() {
        let a = v4([127, 0, 0, 1], 4 * 256 + 51);
        for (text, want) in [
            ("227 Entering Passive Mode (127,0,0,1,4,51)", a),
            ("227 Entering Passive Mode (127,0,0,1,4,51).", a),
            ("Entering passive mode (127,0,0,1,4,51).", a),
            ("227 Entering Passive Mode. 127,0,0,1,4,51", a),
            ("227 Entering passive mode. 127,0,0,1,4,51", a),
            (
                "227 Data transfer will passively listen to 127,0,0,1,4,51",
                a,
            ),
            ("227 =127,0,0,1,4,51", a),
            ("227 127,0,0,1,4,51", a),
            ("227 (127,0,0,1,4,51)", a),
            ("227 Entering Passive Mode (127,000,000,001,004,051)", a),
            (
                "227 Entering Passive Mode (192,168,178,39,184,244)",
                v4([192, 168, 178, 39], 47_348),
            ),
            (
                "227 Entering Passive Mode (0,0,0,0,200,10).",
                v4([0, 0, 0, 0], 51_210),
            ),
            ("227 v1.2 ready, 127,0,0,1,4,51", a),
        ] {
            assert_eq!(parse_pasv_reply(text.as_bytes()), Ok(want), "{text}");
        }
    }

    #[test]
    fn pasv_reply_rejects() {
        use AddrError::*;
        for (bad, err) in [
            ("227 Entering Passive Mode (1216,256,2,127,127,127)", Range),
            ("227 Entering Passive Mode (127,0,0,1,256,1)", Range),
            ("227 Entering Passive Mode (127,0,0,1,0,0)", PortZero),
            ("227 Entering Passive Mode (127,0,0,1,4)", Syntax),
            ("227 Entering Passive Mode (127,0,0,1,4,5,6)", Syntax),
            ("227 Entering Passive Mode", Syntax),
            ("", Syntax),
            ("(", Syntax),
        ] {
            assert_eq!(parse_pasv_reply(bad.as_bytes()), Err(err), "{bad}");
        }
    }

    #[test]
    fn pasv_reply_formatter_round_trips() {
        let a = v4([10, 1, 2, 3], 50_001);
        let text = enc(|o| encode_pasv_reply(&a, o));
        assert_eq!(text, b"Entering Passive Mode (10,1,2,3,195,81).");
        assert_eq!(parse_pasv_reply(&text), Ok(a));
    }

    #[test]
    fn eprt_vectors_both_ways() {
        for (text, want) in [
            (
                "|1|132.235.1.2|6275|",
                SocketAddr::V4(v4([132, 235, 1, 2], 6275)),
            ),
            (
                "|2|1080::8:800:200c:417a|5282|",
                v6("1080::8:800:200C:417A", 5282),
            ),
            ("|2|::1|65535|", v6("::1", 65_535)),
            ("|1|0.0.0.0|1|", SocketAddr::V4(v4([0, 0, 0, 0], 1))),
        ] {
            assert_eq!(parse_eprt(text.as_bytes()), Ok(want), "{text}");
            assert_eq!(enc(|o| encode_eprt(&want, o)), text.as_bytes());
        }
    }

    #[test]
    fn eprt_other_delimiters_and_scope() {
        let want = SocketAddr::V4(v4([1, 2, 3, 4], 2000));
        for d in (33u8..=126).filter(|d| !d.is_ascii_digit() && *d != b'.') {
            let mut arg = vec![d, b'1', d];
            arg.extend_from_slice(b"1.2.3.4");
            arg.push(d);
            arg.extend_from_slice(b"2000");
            arg.push(d);
            assert_eq!(parse_eprt(&arg), Ok(want), "{arg:?}");
        }
        assert_eq!(parse_eprt(b"|2|fe80::1%eth0|21|"), Ok(v6("fe80::1", 21)));
        assert_eq!(parse_eprt(b"|2|fe80::1%|21|"), Err(AddrError::Syntax));
    }

    #[test]
    fn eprt_rejects() {
        use AddrError::*;
        let fam = UnsupportedFamily(Grammar::Extended);
        for (bad, err) in [
            ("||||", Syntax),
            ("||", Syntax),
            ("", Syntax),
            ("|1|1.2.3.4|65536|", Range),
            ("|1|1.2.3.4|-1|", Syntax),
            ("|1|1.2.3.4|0|", PortZero),
            ("|1|1.2.3.4.5|2000|", Syntax),
            ("|1|1.2.3.256|2000|", Syntax),
            ("|1|100.200.300.400|0|", Syntax),
            ("|3|1.2.3.4|2000|", fam),
            ("|3|junk|x|", fam),
            (",1,2,3", Syntax),
            ("|1|1.2.3.4|2000", Syntax),
            ("|1|1.2.3.4|2000||", Syntax),
            ("|1|::1|2000|", Syntax),
            ("|2|1.2.3.4|2000|", Syntax),
            ("|x|1.2.3.4|2000|", Syntax),
            ("\x7f1\x7f1.2.3.4\x7f2000\x7f", Syntax),
            (" 1 1.2.3.4 2000 ", Syntax),
            ("|1|1.2.3.4|99999999999999999999999|", Range),
        ] {
            assert_eq!(parse_eprt(bad.as_bytes()), Err(err), "{bad}");
        }
        assert_eq!(fam.reply_code(), 522);
    }

    #[test]
    fn epsv_reply_vectors() {
        for (text, port) in [
            ("229 Entering Extended Passive Mode (|||6446|)", 6446),
            ("229 Entering Extended Passive Mode (|||6446|).", 6446),
            ("229 Extended Passive mode OK (|||1|)", 1),
            ("229 Entering extended passive mode (!!!65535!).", 65_535),
            ("229 odd (text) here (###21#)", 21),
        ] {
            assert_eq!(parse_epsv_reply(text.as_bytes()), Ok(port), "{text}");
        }
        let text = enc(|o| encode_epsv_reply(6446, o));
        assert_eq!(text, b"Entering Extended Passive Mode (|||6446|)");
        assert_eq!(parse_epsv_reply(&text), Ok(6446));
    }

    #[test]
    fn epsv_reply_rejects() {
        use AddrError::*;
        for (bad, err) in [
            ("(", Syntax),
            ("229 (", Syntax),
            ("229 Entering Extended Passive Mode (|||1000000|)", Range),
            ("229 Entering Extended Passive Mode (|||65536|)", Range),
            ("229 Entering Extended Passive Mode (|||0|)", PortZero),
            ("229 Entering Extended Passive Mode (|||6446|", Syntax),
            ("229 Entering Extended Passive Mode (|||6446)", Syntax),
            ("229 Entering Extended Passive Mode (||6446|)", Syntax),
            ("229 Entering Extended Passive Mode (|!|6446|)", Syntax),
            ("229 Entering Extended Passive Mode (||||)", Syntax),
            ("229 Entering Extended Passive Mode (   6446 )", Syntax),
            ("229 Entering Extended Passive Mode |||6446|", Syntax),
        ] {
            assert_eq!(parse_epsv_reply(bad.as_bytes()), Err(err), "{bad}");
        }
    }

    #[test]
    fn epsv_arg_vectors() {
        use EpsvArg::*;
        for (arg, want) in [
            (None, Default),
            (Some("1"), Ipv4),
            (Some("2"), Ipv6),
            (Some("ALL"), All),
        ] {
            assert_eq!(EpsvArg::parse(arg.map(str::as_bytes)), Ok(want));
            assert_eq!(want.token(), arg);
        }
        assert_eq!(EpsvArg::parse(Some(b"aLl")), Ok(All));
        let fam = Err(AddrError::UnsupportedFamily(Grammar::Extended));
        assert_eq!(EpsvArg::parse(Some(b"3")), fam);
        assert_eq!(EpsvArg::parse(Some(b"4")), fam);
        assert_eq!(EpsvArg::parse(Some(b"x")), Err(AddrError::Syntax));
        assert_eq!(EpsvArg::parse(Some(b"1 ")), Err(AddrError::Syntax));
    }

    #[test]
    fn lprt_vectors_both_ways() {
        for (text, want) in [
            (
                "4,4,132,235,1,2,2,24,131",
                SocketAddr::V4(v4([132, 235, 1, 2], 6275)),
            ),
            (
                "6,16,16,128,0,0,0,0,0,0,0,8,8,0,32,12,65,122,2,20,162",
                v6("1080::8:800:200C:417A", 5282),
            ),
        ] {
            assert_eq!(parse_lprt(text.as_bytes()), Ok(want), "{text}");
            assert_eq!(enc(|o| encode_lprt(&want, o)), text.as_bytes());
            let reply = enc(|o| encode_lpsv_reply(&want, o));
            assert_eq!(
                reply,
                format!("Entering Long Passive Mode ({text})").as_bytes()
            );
            assert_eq!(parse_lpsv_reply(&reply), Ok(want));
        }
    }

    #[test]
    fn lprt_rejects() {
        use AddrError::*;
        let fam = UnsupportedFamily(Grammar::Long);
        for (bad, err) in [
            ("", Syntax),
            ("4", Syntax),
            ("4,4", Syntax),
            ("4,4,1,2,3,4,2,1", Syntax),
            ("4,4,1,2,3,4,2,1,1,1", Syntax),
            ("4,4,1,2,3,4,3,1,1,1", Syntax),
            ("4,16,1,2,3,4,2,1,1", Syntax),
            ("6,4,1,2,3,4,2,1,1", Syntax),
            ("4,255,1,2,3,4,2,1,1", Syntax),
            ("4,4,1,2,3,4,255,1,1", Syntax),
            ("4,4,1,2,3,4,2,0,0", PortZero),
            ("4,4,1,2,3,256,2,1,1", Range),
            ("5,4,1,2,3,4,2,1,1", fam),
            ("28,4,1,2,3,4,2,1,1", fam),
            ("4,4,1,2,3,4,2,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1", Syntax),
            ("4,4,1,2,3,x,2,1,1", Syntax),
        ] {
            assert_eq!(parse_lprt(bad.as_bytes()), Err(err), "{bad}");
        }
        assert_eq!(fam.reply_code(), 521);
        assert_eq!(
            parse_lpsv_reply(b"228 Entering Long Passive Mode (4,4,1,2,3,4,2,0,0)"),
            Err(PortZero)
        );
        assert_eq!(parse_lpsv_reply(b"228 nothing"), Err(Syntax));
    }

    #[test]
    fn decimal_helpers() {
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"1a"), None);
        for n in [0, 9, 10, 65_535, u64::MAX] {
            assert_eq!(enc(|o| put_u64(o, n)), n.to_string().as_bytes());
        }
    }
}
