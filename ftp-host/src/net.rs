//! Socket set-up shared by the adapters (with `socket2`, no runtime): the control listener,
//! passive listeners in a port range, and active data connections that leave from the address
//! the client reached the server on. Every socket is returned non-blocking, ready to be handed
//! to a runtime.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::ops::RangeInclusive;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// Binds a control-connection listener on `addr` (port 0 picks a free port). An IPv6 address
/// listens for IPv6 only, so separate IPv4 and IPv6 listeners can share a port.
pub fn bind_control(addr: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(socket.into())
}

/// Sets up an accepted control connection (any socket: `SockRef::from(&s)` for a std, tokio,
/// async-io or mio stream): urgent data inline, and no Nagle delay for replies.
///
/// Clients send ABOR, or Telnet IP and Synch before it, as TCP urgent data (Python's
/// `ftplib.FTP.abort` sends the whole `ABOR\r\n` with `MSG_OOB`). Without `SO_OOBINLINE`
/// the kernel takes the urgent byte out of the stream, so the line loses its `\n`, ABOR is
/// never seen and the session stays out of step with the client. Inline, the byte is an
/// ordinary one and the core's line decoder handles it (IP and DM are stripped there).
pub fn setup_control(socket: socket2::SockRef<'_>) -> io::Result<()> {
    socket.set_out_of_band_inline(true)?;
    socket.set_tcp_nodelay(true)
}

/// Reads what `socket` holds now, without waiting: 0 when nothing is there (or on end of
/// stream or an error, which the next ordinary read reports). For a runtime that takes a
/// short read for a drained socket, to call after each control read.
///
/// With urgent data inline, Linux ends a read at the urgent mark: `ABOR\r` arrives, and the
/// `\n` after the mark waits for the next read. A runtime with edge-triggered readiness that
/// clears readiness on a short read (tokio does) would not read again until the client sends
/// more, which it will not before the ABOR is answered.
pub fn read_waiting(socket: socket2::SockRef<'_>, buf: &mut [u8]) -> usize {
    use std::io::Read;
    (&*socket).read(buf).unwrap_or(0)
}

/// Binds a passive data listener on `ip` at a port of `ports`, starting at a random port and
/// skipping ports in use (a random start makes the next port hard to guess, against port
/// stealing). `None` when every port is taken. The listener has a backlog of one: the session
/// wants exactly one connection on it.
pub fn bind_passive(ip: IpAddr, ports: &RangeInclusive<u16>) -> Option<TcpListener> {
    let (low, high) = (*ports.start(), *ports.end());
    if low > high {
        return None;
    }
    let span = u32::from(high - low) + 1;
    let start = random_u32() % span;
    for i in 0..span {
        let port = low + ((start + i) % span) as u16;
        let addr = SocketAddr::new(ip, port);
        let socket =
            Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).ok()?;
        // SO_REUSEADDR: a port whose last data connection the server closed first waits in
        // TIME_WAIT for a minute; without it, a busy server runs through its whole range
        // (thousands of failed binds per EPSV) and then answers 425. A port another socket
        // listens on stays refused.
        #[cfg(unix)]
        let reuse = socket.set_reuse_address(true).is_ok();
        #[cfg(not(unix))]
        let reuse = true;
        if !reuse || socket.set_nonblocking(true).is_err() || socket.bind(&addr.into()).is_err() {
            continue;
        }
        if socket.listen(1).is_ok() {
            return Some(socket.into());
        }
    }
    None
}

fn random_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u8(0);
    h.finish() as u32
}

/// Starts a non-blocking connect to `addr` from `local` (the control connection's local
/// address, when the families match, so the client sees the data connection come from the
/// host it contacted). The connection is in progress when this returns: wait until the socket
/// is writable, then call [`finish_connect`].
pub fn start_connect(local: Option<IpAddr>, addr: SocketAddr) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    if let Some(local) = local.filter(|l| l.is_ipv4() == addr.is_ipv4()) {
        // Best effort: without it the kernel picks the source address, which still works
        // for clients that do not check.
        let _ = socket.bind(&SocketAddr::new(local, 0).into());
    }
    match socket.connect(&SockAddr::from(addr)) {
        Ok(()) => {}
        Err(e) if in_progress(&e) => {}
        Err(e) => return Err(e),
    }
    let _ = socket.set_tcp_nodelay(true);
    Ok(socket.into())
}

fn in_progress(e: &io::Error) -> bool {
    #[cfg(unix)]
    if e.raw_os_error() == Some(libc::EINPROGRESS) {
        return true;
    }
    e.kind() == io::ErrorKind::WouldBlock
}

/// Completes a connect begun with [`start_connect`] once the socket is writable: `Ok` when
/// the connection is up, the connect's error otherwise. Takes any socket (`SockRef::from(&s)`
/// for a std, tokio, async-io or mio stream).
pub fn finish_connect(socket: socket2::SockRef<'_>) -> io::Result<()> {
    match connect_state(socket)? {
        true => Ok(()),
        // Writable but not connected: the connect failed without an error to report.
        false => Err(io::ErrorKind::NotConnected.into()),
    }
}

/// Where a connect begun with [`start_connect`] stands, for a poller that may ask before the
/// socket is writable: `Ok(true)` when connected, `Ok(false)` while still in progress, the
/// connect's error when it failed.
pub fn connect_state(socket: socket2::SockRef<'_>) -> io::Result<bool> {
    if let Some(e) = socket.take_error()? {
        return Err(e);
    }
    match socket.peer_addr() {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
        Err(e) => Err(e),
    }
}

/// After CCC (RFC 4217 §6) the server has sent its close_notify, and the client answers with
/// its own (a TLS record) before its first cleartext command, or (curl) goes straight to
/// cleartext. Whether `first`, the first byte the client sent since, starts a TLS record: an
/// alert (21), or under TLS 1.3 an encrypted record (23). A command starts with a letter.
pub fn starts_tls_record(first: u8) -> bool {
    matches!(first, 21 | 23)
}

/// The length of a whole TLS record (header included) from its 5-byte header, so exactly
/// that record is taken from the socket and nothing of the cleartext after it.
pub fn tls_record_len(header: &[u8; 5]) -> usize {
    5 + usize::from(u16::from_be_bytes([header[3], header[4]]))
}

/// How long a server waits after `200` to CCC for the client's close_notify before it sends
/// its own. RFC 4217 §6 has both sides close TLS, but clients differ on who goes first: lftp
/// and Python's ftplib close first and take a close_notify that arrives with the `200` for
/// the end of the connection; curl waits for the server's.
pub const CCC_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

#[cfg(test)]
mod tests {
    #[test]
    fn tls_records_after_ccc_are_told_from_commands() {
        assert!(super::starts_tls_record(21));
        assert!(super::starts_tls_record(23));
        for cmd in [b'N', b'P', b'Q', b'u', b'\r'] {
            assert!(!super::starts_tls_record(cmd));
        }
        assert_eq!(super::tls_record_len(&[23, 3, 3, 0x01, 0x02]), 5 + 0x0102);
    }

    use super::*;

    #[test]
    fn passive_ports_stay_in_range_and_run_out() {
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        // The only port of the range is taken.
        assert!(bind_passive(ip, &(port..=port)).is_none());
        drop(held);
        let l = bind_passive(ip, &(port..=port)).unwrap();
        assert_eq!(l.local_addr().unwrap().port(), port);
        #[allow(clippy::reversed_empty_ranges)]
        let empty = 10..=9;
        assert!(bind_passive(ip, &empty).is_none());
    }

    #[test]
    fn a_passive_port_is_taken_again_while_its_last_connection_is_in_time_wait() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let range = port..=port;
        let l = bind_passive(ip, &range).unwrap();
        let client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        l.set_nonblocking(false).unwrap();
        let (data, _) = l.accept().unwrap();
        drop(l);
        // The server closes first (the end of a listing): its side goes to TIME_WAIT.
        drop(data);
        let mut buf = [0u8; 1];
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        assert_eq!(std::io::Read::read(&mut &client, &mut buf).unwrap(), 0);
        drop(client);
        let again = bind_passive(ip, &range).expect("the port in TIME_WAIT is refused");
        assert_eq!(again.local_addr().unwrap().port(), port);
    }

    #[test]
    fn passive_ports_fill_the_range_from_a_random_start() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        // A range of free ports: find 4 consecutive ones by probing.
        let base = (20000..60000)
            .step_by(97)
            .find(|b| (*b..*b + 4).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok()))
            .expect("4 free consecutive ports");
        let range = base..=base + 3;
        let held: Vec<_> = (0..4).map(|_| bind_passive(ip, &range).unwrap()).collect();
        let mut ports: Vec<u16> = held
            .iter()
            .map(|l| l.local_addr().unwrap().port())
            .collect();
        ports.sort_unstable();
        assert_eq!(ports, (base..=base + 3).collect::<Vec<_>>());
        assert!(bind_passive(ip, &range).is_none());
        drop(held);
        // The first port tried is not always the same one (port stealing gets harder).
        let firsts: std::collections::HashSet<u16> = (0..12)
            .map(|_| {
                bind_passive(ip, &range)
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port()
            })
            .collect();
        assert!(firsts.len() > 1, "always {firsts:?}");
    }

    #[test]
    fn control_sockets_take_urgent_data_inline() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        setup_control(socket2::SockRef::from(&s)).unwrap();
        let r = socket2::SockRef::from(&s);
        assert!(r.out_of_band_inline().unwrap());
        assert!(r.tcp_nodelay().unwrap());
        s.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(read_waiting(r, &mut buf), 0);
        // The urgent byte stays in the stream, after the ones before it.
        let c2 = socket2::SockRef::from(&c);
        c2.send_out_of_band(b"AB").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let mut got = Vec::new();
        for _ in 0..4 {
            let n = read_waiting(socket2::SockRef::from(&s), &mut buf);
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"AB");
    }

    #[test]
    fn connect_binds_the_local_address_and_reports_refusal() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let local: IpAddr = "127.0.0.2".parse().unwrap();
        let s = start_connect(Some(local), addr).unwrap();
        let (_, peer) = l.accept().unwrap();
        assert_eq!(peer.ip(), local);
        s.set_nonblocking(false).unwrap();
        finish_connect(socket2::SockRef::from(&s)).unwrap();
        drop(l);
        let refused = start_connect(None, addr).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(finish_connect(socket2::SockRef::from(&refused)).is_err());
    }
}
