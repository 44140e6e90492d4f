//! The connection type of both roles (plain TCP or TLS over TCP, one type since
//! futures-rustls has a unified client/server TLS stream), and the small socket and timer
//! helpers the server and the client share.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_io::{Async, Timer};
use futures_io::{AsyncRead, AsyncWrite};

/// A TCP connection registered with async-io.
pub(crate) type Tcp = Async<TcpStream>;

/// TLS over [`Tcp`], as the client or the server.
pub(crate) type Tls = futures_rustls::TlsStream<Tcp>;

/// A control or data connection: plain TCP, or TLS over TCP.
#[derive(Debug)]
pub(crate) enum Stream {
    Plain(Tcp),
    Tls(Box<Tls>),
    /// Taken for a TLS handshake that failed: reads end, writes fail.
    Closed,
}

impl Stream {
    pub(crate) fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }

    /// Whether the TLS session resumed an earlier one (`None` without TLS).
    pub(crate) fn tls_resumed(&self) -> Option<bool> {
        match self {
            Stream::Tls(s) => {
                Some(s.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed))
            }
            _ => None,
        }
    }

    /// Drops TLS without a word (after close_notify was sent): the TCP connection goes on in
    /// cleartext.
    pub(crate) fn into_plain(self) -> Stream {
        match self {
            Stream::Tls(tls) => Stream::Plain(match *tls {
                Tls::Client(c) => c.into_inner().0,
                Tls::Server(s) => s.into_inner().0,
            }),
            other => other,
        }
    }

    /// What every I/O call goes to; `None` once closed.
    fn io(&mut self) -> Option<Pin<&mut dyn Io>> {
        match self {
            Stream::Plain(s) => Some(Pin::new(s)),
            Stream::Tls(s) => Some(Pin::new(&mut **s)),
            Stream::Closed => None,
        }
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin {}
impl<T: AsyncRead + AsyncWrite + Unpin> Io for T {}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .io()
            .map_or(Poll::Ready(Ok(0)), |io| io.poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().io() {
            Some(io) => io.poll_write(cx, buf),
            None => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut()
            .io()
            .map_or(Poll::Ready(Ok(())), |io| io.poll_flush(cx))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut()
            .io()
            .map_or(Poll::Ready(Ok(())), |io| io.poll_close(cx))
    }
}

/// `f`, or a [`io::ErrorKind::TimedOut`] error once `limit` has passed.
pub(crate) async fn timeout<F: Future>(limit: Duration, f: F) -> io::Result<F::Output> {
    futures_lite::future::or(async { Ok(f.await) }, async {
        Timer::after(limit).await;
        Err(io::ErrorKind::TimedOut.into())
    })
    .await
}

/// Accepts connections on `listener` and hands each to `report` until it says stop or the
/// task is dropped. Failures to accept (out of file descriptors) back off and go on.
pub(crate) async fn accept_each<F, Fut>(listener: Async<TcpListener>, mut report: F)
where
    F: FnMut(Tcp, SocketAddr) -> Fut,
    Fut: Future<Output = bool>,
{
    loop {
        match listener.accept().await {
            Ok((tcp, peer)) => {
                if !report(tcp, peer).await {
                    return;
                }
            }
            Err(e) => {
                tracing::debug!("accept failed: {e}");
                Timer::after(Duration::from_millis(100)).await;
            }
        }
    }
}
