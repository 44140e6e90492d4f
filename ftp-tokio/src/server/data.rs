//! The network side of data connections: connects, TLS and the byte loops. The file side
//! runs on tokio's blocking pool ([`ftp_host::transfer`]); a plain TYPE I download on Linux
//! runs there whole, with `sendfile(2)` ([`ftp_host::transfer::SendFile`]).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::BytesMut;
use ftp_host::storage::Storage;
use ftp_host::transfer::{
    download_outcome, upload_outcome, Chunk, FileSide, NetEnd, Progress, TransferOutcome, ZeroCopy,
};
use ftp_proto::server::TransferError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::conn::Stream;

/// Chunks in flight between the network and the file side of one transfer: enough to keep
/// both busy, little enough to bound memory per transfer.
const CHUNKS_IN_FLIGHT: usize = 4;

/// Connects to the client from `local` (the control connection's address).
pub(crate) async fn connect(local: IpAddr, addr: SocketAddr) -> io::Result<TcpStream> {
    let tcp = TcpStream::from_std(ftp_host::net::start_connect(Some(local), addr)?)?;
    tcp.writable().await?;
    ftp_host::net::finish_connect(socket2::SockRef::from(&tcp))?;
    Ok(tcp)
}

/// Runs TLS as the server on a data connection when an acceptor is given; returns the stream
/// and whether the session was resumed.
pub(crate) async fn secure(
    tcp: TcpStream,
    acceptor: Option<&tokio_rustls::TlsAcceptor>,
    limit: Duration,
) -> io::Result<(Stream, Option<bool>)> {
    match acceptor {
        Some(a) => {
            let (s, resumed) = tokio::time::timeout(limit, super::conn::accept_tls(a, tcp))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake"))??;
            Ok((s, Some(resumed)))
        }
        None => Ok((Stream::Plain(tcp), None)),
    }
}

/// Moves the data of one transfer and closes the connection (with close_notify under TLS).
pub(crate) async fn transfer<S: Storage>(
    stream: Stream,
    file: FileSide<S>,
    progress: Progress,
) -> TransferOutcome {
    let mut stream = stream;
    let file = match file.ready() {
        Ok(lines) => return send_rest(stream, lines, 0, &progress).await,
        Err(file) => file,
    };
    let file = match file.zero_copy(matches!(stream, Stream::Plain(_))) {
        Ok(zero) => return on_blocking_thread(stream, zero, progress).await,
        Err(file) => file,
    };
    match file {
        FileSide::Download(d) => {
            let (tx, rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
            let file = tokio::task::spawn_blocking(move || d.run(|b| tx.blocking_send(b).is_ok()));
            let net = send(&mut stream, rx, &progress).await;
            let file = file.await.unwrap_or(Err(TransferError::Local));
            close_download(stream, download_outcome(file, net)).await
        }
        FileSide::Upload(u) => {
            let (tx, mut rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
            let file = tokio::task::spawn_blocking(move || u.run(|| rx.blocking_recv()));
            let (net, bytes) = receive(stream, tx, &progress).await;
            let file = file.await.unwrap_or(Err(TransferError::Local));
            upload_outcome(net, file, bytes)
        }
    }
}

/// Writes what is left of a download that was all in memory, `sent` bytes of it gone already
/// ([`FileSide::send_at_once`](ftp_host::transfer::FileSide::send_at_once)), then closes
/// the connection as after any download.
pub(crate) async fn send_rest(
    mut stream: Stream,
    rest: bytes::Bytes,
    sent: u64,
    progress: &Progress,
) -> TransferOutcome {
    let net = match stream.write_all(&rest).await {
        Ok(()) => {
            progress.add(rest.len());
            Ok(sent + rest.len() as u64)
        }
        Err(_) => Err(TransferError::ConnectionLost),
    };
    close_download(stream, download_outcome(Ok(()), net)).await
}

/// Ends a download: only a whole file is closed like one (close_notify under TLS); otherwise
/// the connection is dropped.
async fn close_download(mut stream: Stream, outcome: TransferOutcome) -> TransferOutcome {
    match outcome {
        TransferOutcome::Done(n) => match stream.shutdown().await {
            Ok(()) => TransferOutcome::Done(n),
            Err(_) => TransferOutcome::Failed(TransferError::ConnectionLost),
        },
        failed => failed,
    }
}

/// A zero-copy transfer: the connection leaves the reactor for a blocking thread, which runs
/// the whole transfer (`sendfile(2)` or `splice(2)`). The guard, dropped with this future when
/// the conn drops the task, stops that thread and shuts the connection down.
async fn on_blocking_thread<S: Storage>(
    stream: Stream,
    zero: ZeroCopy<S>,
    progress: Progress,
) -> TransferOutcome {
    let tcp = match stream {
        Stream::Plain(tcp) => tcp.into_std(),
        _ => return TransferOutcome::Failed(TransferError::ConnectionLost),
    };
    let Ok(tcp) = tcp else {
        return TransferOutcome::Failed(TransferError::ConnectionLost);
    };
    let (job, _guard) = zero.start(tcp, progress);
    tokio::task::spawn_blocking(move || job.run())
        .await
        .unwrap_or(TransferOutcome::Failed(TransferError::Local))
}

async fn send(
    stream: &mut Stream,
    mut rx: mpsc::Receiver<bytes::Bytes>,
    progress: &Progress,
) -> Result<u64, TransferError> {
    let mut total = 0u64;
    while let Some(chunk) = rx.recv().await {
        stream
            .write_all(&chunk)
            .await
            .map_err(|_| TransferError::ConnectionLost)?;
        total += chunk.len() as u64;
        progress.add(chunk.len());
    }
    Ok(total)
}

async fn receive(
    mut stream: Stream,
    tx: mpsc::Sender<Chunk>,
    progress: &Progress,
) -> (NetEnd, u64) {
    let tls = stream.is_tls();
    let mut total = 0u64;
    let mut buf = BytesMut::new();
    let end = loop {
        buf.reserve(ftp_host::transfer::TRANSFER_CHUNK);
        let n = match stream.read_buf(&mut buf).await {
            Ok(0) => break NetEnd::Eof,
            Ok(n) => n,
            Err(e) => break NetEnd::from_read_error(&e, tls),
        };
        total += n as u64;
        progress.add(n);
        if tx.send(Chunk::Data(buf.split().freeze())).await.is_err() {
            // The file side failed; its error is the verdict.
            break NetEnd::Eof;
        }
    };
    if end.is_clean() {
        let _ = tx.send(Chunk::End).await;
    }
    drop(tx);
    let _ = stream.shutdown().await;
    (end, total)
}
