//! Data connections of the client: passive connects, active listeners, and the streaming of
//! bytes between a data connection and the caller's pipe. Each runs as a task that reports
//! to the driver through [`Event`]s; none makes a protocol decision.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use ftp_host::client::ClientReport;
use ftp_proto::client::{DataError, DataId};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::timeout;

use super::tls::{self, Stream};

/// Size of the buffer a transfer moves data through, and of the pipe between a transfer
/// and the caller: one per transfer, reused for every chunk.
pub const TRANSFER_BUFFER: usize = ftp_host::transfer::TRANSFER_CHUNK;

/// The source of an upload: the read end of the pipe the caller writes into, and the flag
/// the caller sets before closing it when the whole source was read (an end of pipe without
/// it is a failed upload, never a complete one).
#[derive(Debug)]
pub(crate) struct UploadSource {
    pub(crate) pipe: DuplexStream,
    pub(crate) complete: Arc<AtomicBool>,
}

/// Where a transfer's bytes come from or go to.
#[derive(Debug)]
pub(crate) enum Job {
    /// A download into the caller's pipe.
    Download(DuplexStream),
    /// A listing: the bytes go back to the driver, for the session to parse.
    Listing,
    /// An upload from the caller's pipe.
    Upload(UploadSource),
}

/// How a data connection is protected, with what the TLS client needs.
#[derive(Debug, Clone)]
pub(crate) struct DataTls {
    pub(crate) config: Arc<rustls::ClientConfig>,
    pub(crate) name: ServerName<'static>,
}

/// Runs one transfer on a connected data connection (TLS first when `tls` is set) and
/// reports its end.
pub(crate) async fn transfer(
    id: DataId,
    tcp: TcpStream,
    tls: Option<DataTls>,
    job: Job,
    idle: Duration,
    tx: mpsc::Sender<ClientReport<TcpStream>>,
) {
    let stream = match tls {
        None => Stream::Plain(tcp),
        Some(t) => match timeout(idle, tls::connect(&t.config, &t.name, tcp)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::debug!(%id, error = %e, "data TLS handshake failed");
                let _ = tx.send(ClientReport::Failed(id, DataError::Tls)).await;
                return;
            }
            Err(_) => {
                let _ = tx.send(ClientReport::Failed(id, DataError::TimedOut)).await;
                return;
            }
        },
    };
    let r = match job {
        Job::Download(pipe) => download(id, stream, Some(pipe), idle, &tx).await,
        Job::Listing => download(id, stream, None, idle, &tx).await,
        Job::Upload(src) => upload(stream, src, idle).await,
    };
    let _ = tx
        .send(match r {
            Ok(n) => ClientReport::Done(id, n),
            Err(e) => ClientReport::Failed(id, e),
        })
        .await;
}

/// Reads the data connection to its end into `pipe`, or to the driver as listing bytes.
///
/// Under TLS, an end of stream without close_notify is taken as the end of the data, as most
/// FTP peers do; the server's final reply still has to confirm the transfer.
async fn download(
    id: DataId,
    mut src: Stream,
    mut pipe: Option<DuplexStream>,
    idle: Duration,
    tx: &mpsc::Sender<ClientReport<TcpStream>>,
) -> Result<u64, DataError> {
    let tls = src.is_tls();
    let mut buf = vec![
        0u8;
        if pipe.is_some() {
            TRANSFER_BUFFER
        } else {
            64 * 1024
        }
    ];
    let mut total = 0u64;
    loop {
        let n = match timeout(idle, src.read(&mut buf)).await {
            Err(_) => return Err(DataError::TimedOut),
            Ok(Ok(n)) => n,
            Ok(Err(e)) if tls && e.kind() == io::ErrorKind::UnexpectedEof => 0,
            Ok(Err(_)) => return Err(DataError::ConnectionLost),
        };
        if n == 0 {
            break;
        }
        total += n as u64;
        let chunk = buf.get(..n).unwrap_or_default();
        match pipe.as_mut() {
            Some(p) => p.write_all(chunk).await.map_err(|_| DataError::Local)?,
            None => {
                if tx
                    .send(ClientReport::Listing(id, Bytes::copy_from_slice(chunk)))
                    .await
                    .is_err()
                {
                    return Err(DataError::Local);
                }
            }
        }
    }
    if let Some(p) = pipe.as_mut() {
        p.shutdown().await.map_err(|_| DataError::Local)?;
    }
    Ok(total)
}

/// Writes the caller's source to the data connection, then closes it (under TLS with
/// close_notify) and waits for the server's own close. The connection is read all along:
/// under TLS 1.3 servers send session tickets on data connections (the ones later data
/// connections resume), and closing a socket with unread bytes would reset the connection,
/// so the server could lose the end of the upload (vsftpd does).
async fn upload(mut dst: Stream, mut src: UploadSource, idle: Duration) -> Result<u64, DataError> {
    let mut buf = vec![0u8; TRANSFER_BUFFER];
    let mut drain = Drain::default();
    let mut total = 0u64;
    let written = async {
        loop {
            let n = src
                .pipe
                .read(&mut buf)
                .await
                .map_err(|_| DataError::Local)?;
            if n == 0 {
                break;
            }
            let mut chunk = buf.get(..n).unwrap_or_default();
            while !chunk.is_empty() {
                let w = std::future::poll_fn(|cx| {
                    drain.poll(&mut dst, cx);
                    Pin::new(&mut dst).poll_write(cx, chunk)
                });
                match timeout(idle, w).await {
                    Err(_) => return Err(DataError::TimedOut),
                    Ok(Err(_)) | Ok(Ok(0)) => return Err(DataError::ConnectionLost),
                    Ok(Ok(w)) => {
                        chunk = chunk.get(w..).unwrap_or_default();
                        total += w as u64;
                    }
                }
            }
        }
        if !src.complete.load(Ordering::Acquire) {
            // The caller's source failed or was dropped.
            return Err(DataError::Local);
        }
        let shut = std::future::poll_fn(|cx| {
            drain.poll(&mut dst, cx);
            Pin::new(&mut dst).poll_shutdown(cx)
        });
        match timeout(idle, shut).await {
            Err(_) => return Err(DataError::TimedOut),
            Ok(Err(_)) => return Err(DataError::ConnectionLost),
            Ok(Ok(())) => {}
        }
        // Wait for the server to close its side (its close_notify under TLS).
        let closed = std::future::poll_fn(|cx| {
            if drain.poll(&mut dst, cx) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        });
        timeout(idle, closed).await.map_err(|_| DataError::TimedOut)
    }
    .await;
    if written.is_err() {
        // Never let the server take a failed upload for the whole file: reset the
        // connection instead of closing it cleanly.
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
            let mut rb = ReadBuf::new(&mut scratch);
            match Pin::new(&mut *stream).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) if rb.filled().is_empty() => self.closed = true,
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(_)) => self.closed = true,
                Poll::Pending => break,
            }
        }
        self.closed
    }
}
