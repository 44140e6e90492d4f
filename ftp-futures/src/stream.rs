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

/// A TCP connection registered with async-io. Closing it shuts its write side down (sends
/// FIN), as the end of a data connection needs: async-io's own close only flushes.
#[derive(Debug)]
pub(crate) struct Tcp(Async<TcpStream>);

impl Tcp {
    /// Connects to `addr`.
    pub(crate) async fn connect(addr: SocketAddr) -> io::Result<Tcp> {
        Async::<TcpStream>::connect(addr).await.map(Tcp)
    }

    /// Registers a connection that is non-blocking, connected or connecting.
    pub(crate) fn new(tcp: TcpStream) -> io::Result<Tcp> {
        Async::new(tcp).map(Tcp)
    }

    /// Waits until the connection is writable (a connect in progress has ended).
    pub(crate) async fn writable(&self) -> io::Result<()> {
        self.0.writable().await
    }

    pub(crate) fn get_ref(&self) -> &TcpStream {
        self.0.get_ref()
    }

    /// Ready when bytes (or the end of the stream) can be read without waiting.
    pub(crate) fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_readable(cx)
    }

    /// Waits for incoming bytes and copies the first ones into `buf`, leaving them there.
    pub(crate) async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.peek(buf).await
    }

    /// Takes the connection out of the reactor (it stays non-blocking).
    pub(crate) fn into_std(self) -> io::Result<TcpStream> {
        self.0.into_inner()
    }
}

impl AsyncRead for Tcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Tcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.0.get_ref().shutdown(std::net::Shutdown::Write))
    }
}

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

    /// The TCP connection under it.
    pub(crate) fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Stream::Plain(s) => Some(s.get_ref()),
            Stream::Tls(s) => Some(s.get_ref().0.get_ref()),
            Stream::Closed => None,
        }
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

/// Runs `handshake` (TLS as the client or the server) on a plain `stream`'s TCP connection
/// within `limit` and puts the result in its place; false, with the stream left closed,
/// when that fails.
pub(crate) async fn secure<F>(
    stream: &mut Stream,
    limit: Duration,
    handshake: impl FnOnce(Tcp) -> F,
) -> bool
where
    F: Future<Output = io::Result<Stream>>,
{
    let secured = match std::mem::replace(stream, Stream::Closed) {
        Stream::Plain(tcp) => timeout(limit, handshake(tcp)).await.and_then(|r| r),
        _ => Err(io::Error::other("not a plain connection")),
    };
    match secured {
        Ok(s) => *stream = s,
        Err(e) => tracing::debug!(error = %e, "control TLS handshake failed"),
    }
    stream.is_tls()
}

/// `f`, or a [`io::ErrorKind::TimedOut`] error once `limit` has passed.
pub(crate) async fn timeout<F: Future>(limit: Duration, f: F) -> io::Result<F::Output> {
    futures_lite::future::or(async { Ok(f.await) }, async {
        Timer::after(limit).await;
        Err(io::ErrorKind::TimedOut.into())
    })
    .await
}

/// Accepts connections on `listener` (non-blocking) and hands each to `report` until it says
/// stop or the task is dropped. Failures to accept (out of file descriptors) back off and go
/// on; the error returned is the listener's registration with the reactor.
pub(crate) async fn accept_each<F, Fut>(listener: TcpListener, mut report: F) -> io::Result<()>
where
    F: FnMut(Tcp, SocketAddr) -> Fut,
    Fut: Future<Output = bool>,
{
    let listener = Async::new(listener)?;
    loop {
        match listener.accept().await {
            Ok((tcp, peer)) => {
                if !report(Tcp(tcp), peer).await {
                    return Ok(());
                }
            }
            Err(e) => {
                tracing::debug!("accept failed: {e}");
                Timer::after(Duration::from_millis(100)).await;
            }
        }
    }
}
