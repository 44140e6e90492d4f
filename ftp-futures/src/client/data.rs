//! Data connections of the client: the streaming of bytes between a data connection and the
//! caller's channel. Each transfer runs as a task that reports to the driver; none makes a
//! protocol decision.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_channel::Sender;
use bytes::{Buf, Bytes};
use ftp_host::client::{ClientJob, ClientReport};
use ftp_host::transfer::NetEnd;
use ftp_proto::client::{DataError, DataId};
use futures_io::{AsyncRead, AsyncWrite};
use futures_lite::AsyncReadExt;

use super::driver::Pipe;
use super::tls::Tls;
use crate::stream::{timeout, Stream, Tcp};

/// The bytes in flight between a transfer and the caller (the capacity of the channel
/// between them), moved in chunks of a quarter of it.
pub const TRANSFER_BUFFER: usize = ftp_host::transfer::TRANSFER_CHUNK;

/// Chunks in the channel between a transfer and the caller.
pub(crate) const PIPE_CHUNKS: usize = 4;

/// Size of one chunk.
pub(crate) const CHUNK: usize = TRANSFER_BUFFER / PIPE_CHUNKS;

type Reports = Sender<ClientReport<Tcp>>;

/// Runs one transfer on a connected data connection (TLS first when `tls` is given) and
/// reports its end.
pub(crate) async fn transfer(
    id: DataId,
    tcp: Tcp,
    tls: Option<Tls>,
    job: ClientJob<Pipe>,
    idle: Duration,
    tx: Reports,
) {
    let r = run(id, tcp, tls, job, idle, &tx).await;
    let _ = tx
        .send(match r {
            Ok(n) => ClientReport::Done(id, n),
            Err(e) => ClientReport::Failed(id, e),
        })
        .await;
}

async fn run(
    id: DataId,
    tcp: Tcp,
    tls: Option<Tls>,
    job: ClientJob<Pipe>,
    idle: Duration,
    tx: &Reports,
) -> Result<u64, DataError> {
    let stream = match tls {
        None => Stream::Plain(tcp),
        Some(tls) => timeout(idle, tls.connect(tcp))
            .await
            .map_err(|_| DataError::TimedOut)?
            .map_err(|e| {
                tracing::debug!(%id, error = %e, "data TLS handshake failed");
                DataError::Tls
            })?,
    };
    match job {
        ClientJob::Listing => download(id, stream, None, idle, tx).await,
        ClientJob::Download(Pipe::Download(p)) => download(id, stream, Some(p), idle, tx).await,
        ClientJob::Upload(Pipe::Upload(src)) => upload(stream, src, idle).await,
        _ => Err(DataError::Local),
    }
}

/// Reads the data connection to its end into `pipe`, or to the driver as listing bytes; the
/// caller sees the end of the data when `pipe` is dropped.
///
/// Under TLS, an end of stream without close_notify is taken as the end of the data, as most
/// FTP peers do; the server's final reply still has to confirm the transfer.
async fn download(
    id: DataId,
    mut src: Stream,
    pipe: Option<Sender<Bytes>>,
    idle: Duration,
    tx: &Reports,
) -> Result<u64, DataError> {
    let tls = src.is_tls();
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let read = timeout(idle, src.read(&mut buf))
            .await
            .map_err(|_| DataError::TimedOut)?;
        let chunk = match read {
            Ok(0) => return Ok(total),
            Ok(n) => Bytes::copy_from_slice(buf.get(..n).unwrap_or_default()),
            Err(e) => match NetEnd::from_read_error(&e, tls) {
                NetEnd::TlsEofWithoutCloseNotify => return Ok(total),
                _ => return Err(DataError::ConnectionLost),
            },
        };
        total += chunk.len() as u64;
        let delivered = match &pipe {
            Some(p) => p.send(chunk).await.is_ok(),
            None => tx.send(ClientReport::Listing(id, chunk)).await.is_ok(),
        };
        if !delivered {
            return Err(DataError::Local);
        }
    }
}

/// Writes the caller's chunks to the data connection until [`Chunk::End`], then closes it
/// (under TLS with close_notify) and waits for the server's own close. A channel that ends
/// without [`Chunk::End`] is a source that failed or was dropped: the connection is reset
/// (SO_LINGER 0), so the server never takes a failed upload for the whole file.
///
/// The connection is read all along: under TLS 1.3 servers send session tickets on data
/// connections (the ones later data connections resume), and closing a socket with unread
/// bytes would reset the connection, so the server could lose the end of the upload (vsftpd
/// does).
///
/// [`Chunk::End`]: ftp_host::transfer::Chunk::End
async fn upload(
    mut dst: Stream,
    src: async_channel::Receiver<ftp_host::transfer::Chunk>,
    idle: Duration,
) -> Result<u64, DataError> {
    use ftp_host::transfer::Chunk;
    let mut drain = Drain::default();
    let mut total = 0u64;
    let written = async {
        loop {
            let mut chunk = match src.recv().await {
                Ok(Chunk::Data(chunk)) => chunk,
                Ok(Chunk::End) => break,
                Err(_) => return Err(DataError::Local),
            };
            while !chunk.is_empty() {
                let w = drain.around(&mut dst, |d, cx| d.poll_write(cx, &chunk));
                match timeout(idle, w).await {
                    Err(_) => return Err(DataError::TimedOut),
                    Ok(Err(_) | Ok(0)) => return Err(DataError::ConnectionLost),
                    Ok(Ok(w)) => {
                        chunk.advance(w);
                        total += w as u64;
                    }
                }
            }
        }
        let close = drain.around(&mut dst, |d, cx| d.poll_close(cx));
        match timeout(idle, close).await {
            Err(_) => return Err(DataError::TimedOut),
            Ok(Err(_)) => return Err(DataError::ConnectionLost),
            Ok(Ok(())) => {}
        }
        // Wait for the server to close its side (its close_notify under TLS).
        let closed = poll_fn(|cx| match drain.poll(&mut dst, cx) {
            true => Poll::Ready(()),
            false => Poll::Pending,
        });
        timeout(idle, closed).await.map_err(|_| DataError::TimedOut)
    }
    .await;
    if written.is_err() {
        if let Some(tcp) = dst.tcp() {
            let _ = socket2::SockRef::from(tcp).set_linger(Some(Duration::ZERO));
        }
    }
    written.map(|()| total)
}

/// Reads and discards whatever the server sends on an upload's data connection.
#[derive(Debug, Default)]
struct Drain {
    closed: bool,
}

impl Drain {
    /// Reads all that is available; true once the server has closed its side.
    fn poll(&mut self, stream: &mut Stream, cx: &mut Context<'_>) -> bool {
        let mut scratch = [0u8; 512];
        while !self.closed {
            match Pin::new(&mut *stream).poll_read(cx, &mut scratch) {
                Poll::Ready(Ok(0) | Err(_)) => self.closed = true,
                Poll::Ready(Ok(_)) => {}
                Poll::Pending => break,
            }
        }
        self.closed
    }

    /// `op` on the stream, draining it while `op` is pending.
    fn around<'a, T>(
        &'a mut self,
        stream: &'a mut Stream,
        mut op: impl FnMut(Pin<&mut Stream>, &mut Context<'_>) -> Poll<T> + 'a,
    ) -> impl Future<Output = T> + 'a {
        poll_fn(move |cx| {
            self.poll(stream, cx);
            op(Pin::new(&mut *stream), cx)
        })
    }
}
