//! Data connections: passive listeners in a port range, active connects, and the streaming
//! of file or listing bytes over them.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;

use bytes::BytesMut;
use ftp_proto::ascii::{FromNetwork, ToNetwork};
use ftp_proto::server::TransferError;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use super::tls::Stream;

/// Size of the buffer a transfer moves data through: one per transfer, reused for every chunk.
pub const TRANSFER_BUFFER: usize = 256 * 1024;

/// Binds a listener on `ip` at a port of `ports`, starting at a random port and skipping
/// ports in use. `None` when every port is taken.
pub(crate) fn bind_passive(ip: IpAddr, ports: &RangeInclusive<u16>) -> Option<TcpListener> {
    let (low, high) = (*ports.start(), *ports.end());
    if low > high {
        return None;
    }
    let span = u32::from(high - low) + 1;
    let start = random_u32() % span;
    for i in 0..span {
        let port = low + ((start + i) % span) as u16;
        let addr = SocketAddr::new(ip, port);
        let socket = match if ip.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        } {
            Ok(s) => s,
            Err(_) => return None,
        };
        if socket.bind(addr).is_err() {
            continue;
        }
        if let Ok(listener) = socket.listen(1) {
            return Some(listener);
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

/// Connects to the client from the control connection's local address.
pub(crate) async fn connect(local: IpAddr, addr: SocketAddr) -> io::Result<TcpStream> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // Bind to the address the client reached us on when the families match, so the client
    // sees the data connection come from the same host.
    if local.is_ipv4() == addr.is_ipv4() {
        let _ = socket.bind(SocketAddr::new(local, 0));
    }
    socket.connect(addr).await
}

fn local_error(e: &io::Error) -> TransferError {
    match e.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::FileTooLarge => TransferError::NoSpace,
        _ => TransferError::Local,
    }
}

/// Streams `src` to the data connection, converting to TYPE A if `ascii`, then closes it
/// (with close_notify under TLS). Returns the bytes written to the connection.
pub(crate) async fn send<R: AsyncRead + Unpin>(
    mut src: R,
    mut dst: Stream,
    ascii: bool,
) -> Result<u64, TransferError> {
    let mut buf = vec![0u8; TRANSFER_BUFFER];
    let mut converted = BytesMut::with_capacity(if ascii { 2 * TRANSFER_BUFFER } else { 0 });
    let mut to_net = ToNetwork::new();
    let mut total = 0u64;
    loop {
        let n = src.read(&mut buf).await.map_err(|e| local_error(&e))?;
        if n == 0 {
            break;
        }
        let chunk = buf.get(..n).unwrap_or_default();
        let out: &[u8] = if ascii {
            converted.clear();
            to_net.transform(chunk, &mut converted);
            &converted
        } else {
            chunk
        };
        dst.write_all(out)
            .await
            .map_err(|_| TransferError::ConnectionLost)?;
        total += out.len() as u64;
    }
    dst.shutdown()
        .await
        .map_err(|_| TransferError::ConnectionLost)?;
    Ok(total)
}

/// Streams the data connection into `dst` until the client closes it, converting from TYPE A
/// if `ascii`, then flushes `dst`. Returns the bytes read from the connection.
///
/// Under TLS, an end of stream without close_notify is accepted as the end of the file, as
/// most servers do (vsftpd's default `strict_ssl_read_eof=NO`), unless `strict_tls_eof`.
pub(crate) async fn receive<W: AsyncWrite + Unpin>(
    mut src: Stream,
    mut dst: W,
    ascii: bool,
    strict_tls_eof: bool,
) -> Result<u64, TransferError> {
    let tls = src.is_tls();
    let mut buf = vec![0u8; TRANSFER_BUFFER];
    let mut converted = BytesMut::with_capacity(if ascii { TRANSFER_BUFFER + 1 } else { 0 });
    let mut from_net = FromNetwork::new();
    let mut total = 0u64;
    loop {
        let n = match src.read(&mut buf).await {
            Ok(n) => n,
            Err(e) if tls && !strict_tls_eof && e.kind() == io::ErrorKind::UnexpectedEof => 0,
            Err(_) => return Err(TransferError::ConnectionLost),
        };
        if n == 0 {
            break;
        }
        total += n as u64;
        let chunk = buf.get(..n).unwrap_or_default();
        let out: &[u8] = if ascii {
            converted.clear();
            from_net.transform(chunk, &mut converted);
            &converted
        } else {
            chunk
        };
        dst.write_all(out).await.map_err(|e| local_error(&e))?;
    }
    if ascii {
        converted.clear();
        from_net.finish(&mut converted);
        dst.write_all(&converted)
            .await
            .map_err(|e| local_error(&e))?;
    }
    // The 226 goes out only after the data is handed to the file system.
    dst.flush().await.map_err(|e| local_error(&e))?;
    dst.shutdown().await.map_err(|e| local_error(&e))?;
    let _ = src.shutdown().await;
    Ok(total)
}
