//! The network side of data connections: connects, TLS and the byte loops. The file side
//! runs on the `blocking` pool ([`ftp_host::transfer`]), linked to the network side by a
//! bounded channel; a plain TYPE I download on Linux runs there whole, with `sendfile(2)`
//! ([`ftp_host::transfer::SendFile`]).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use async_channel::{Receiver, Sender};
use bytes::Bytes;
use ftp_host::server::Report;
use ftp_host::storage::Storage;
use ftp_host::transfer::{
    download_outcome, upload_outcome, Chunk, FileSide, NetEnd, Progress, TransferOutcome, ZeroCopy,
    TRANSFER_CHUNK,
};
use ftp_proto::server::{DataId, TransferError};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use futures_rustls::TlsAcceptor;

use super::conn::accept_tls;
use crate::stream::{timeout, Stream, Tcp};

/// Chunks in flight between the network and the file side of one transfer: enough to keep
/// both busy, little enough to bound memory per transfer.
const CHUNKS_IN_FLIGHT: usize = 4;

/// Connects to the client from `local` (the control connection's address).
pub(crate) async fn connect(local: IpAddr, addr: SocketAddr) -> io::Result<Tcp> {
    let tcp = Tcp::new(ftp_host::net::start_connect(Some(local), addr)?)?;
    tcp.writable().await?;
    ftp_host::net::finish_connect(socket2::SockRef::from(tcp.get_ref()))?;
    Ok(tcp)
}

/// Makes a data connection ready: TLS as the server when an acceptor is given, within
/// `limit`. Returns what to report to the core.
pub(crate) async fn ready<S: Storage>(
    id: DataId,
    tcp: io::Result<Tcp>,
    acceptor: Option<TlsAcceptor>,
    limit: Duration,
) -> Report<S, Stream> {
    let made = match (tcp, acceptor) {
        (Ok(tcp), Some(a)) => timeout(limit, accept_tls(&a, tcp)).await.and_then(|r| r),
        (tcp, None) => tcp.map(Stream::Plain),
        (Err(e), _) => Err(e),
    };
    match made {
        Ok(stream) => Report::Ready {
            id,
            tls_resumed: stream.tls_resumed(),
            stream,
        },
        Err(e) => {
            tracing::debug!(%id, "data connection failed: {e}");
            Report::Failed { id }
        }
    }
}

/// Moves the data of one transfer and closes the connection (with close_notify under TLS).
pub(crate) async fn transfer<S: Storage>(
    mut stream: Stream,
    file: FileSide<S>,
    progress: Progress,
) -> TransferOutcome {
    let file = match file.ready() {
        Ok(lines) => Ok(lines),
        Err(file) => match file.zero_copy(matches!(stream, Stream::Plain(_))) {
            Ok(zero) => return on_blocking_thread(stream, zero, progress).await,
            Err(file) => Err(file),
        },
    };
    let sent = match file {
        Ok(lines) => return send_rest(stream, lines, 0, &progress).await,
        Err(FileSide::Download(d)) => {
            let (tx, rx) = async_channel::bounded(CHUNKS_IN_FLIGHT);
            let file = blocking::unblock(move || d.run(|b| tx.send_blocking(b).is_ok()));
            let net = send(&mut stream, rx, &progress).await;
            download_outcome(file.await, net)
        }
        Err(FileSide::Upload(u)) => {
            let (tx, rx) = async_channel::bounded(CHUNKS_IN_FLIGHT);
            let file = blocking::unblock(move || u.run(|| rx.recv_blocking().ok()));
            let (net, bytes) = receive(stream, tx, &progress).await;
            return upload_outcome(net, file.await, bytes);
        }
    };
    // Only a whole file is closed like one (close_notify under TLS); otherwise the connection
    // is dropped.
    match sent {
        TransferOutcome::Done(n) if stream.close().await.is_ok() => TransferOutcome::Done(n),
        TransferOutcome::Done(_) => TransferOutcome::Failed(TransferError::ConnectionLost),
        other => other,
    }
}

/// Writes what is left of a download that was all in memory, `sent` bytes of it gone already
/// ([`FileSide::send_at_once`](ftp_host::transfer::FileSide::send_at_once)), then closes
/// the connection as after any download (with close_notify under TLS).
pub(crate) async fn send_rest(
    mut stream: Stream,
    rest: Bytes,
    sent: u64,
    progress: &Progress,
) -> TransferOutcome {
    if stream.write_all(&rest).await.is_err() {
        return TransferOutcome::Failed(TransferError::ConnectionLost);
    }
    progress.add(rest.len());
    match stream.close().await {
        Ok(()) => TransferOutcome::Done(sent + rest.len() as u64),
        Err(_) => TransferOutcome::Failed(TransferError::ConnectionLost),
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
    blocking::unblock(move || job.run()).await
}

/// Writes every chunk until the file side is done.
async fn send(
    stream: &mut Stream,
    rx: Receiver<Bytes>,
    progress: &Progress,
) -> Result<u64, TransferError> {
    let mut total = 0u64;
    while let Ok(chunk) = rx.recv().await {
        let lost = stream.write_all(&chunk).await.is_err();
        if lost {
            return Err(TransferError::ConnectionLost);
        }
        total += chunk.len() as u64;
        progress.add(chunk.len());
    }
    Ok(total)
}

/// Reads the connection to its end into the file side; [`Chunk::End`] only for a clean end.
async fn receive(mut stream: Stream, tx: Sender<Chunk>, progress: &Progress) -> (NetEnd, u64) {
    let tls = stream.is_tls();
    let mut total = 0u64;
    let mut buf = vec![0u8; TRANSFER_CHUNK];
    let end = loop {
        let chunk = match stream.read(&mut buf).await {
            Ok(0) => break NetEnd::Eof,
            Err(e) => break NetEnd::from_read_error(&e, tls),
            Ok(n) => buf.get(..n).unwrap_or_default(),
        };
        total += chunk.len() as u64;
        progress.add(chunk.len());
        let data = Chunk::Data(Bytes::copy_from_slice(chunk));
        if tx.send(data).await.is_err() {
            // The file side failed; its error is the verdict.
            break NetEnd::Eof;
        }
    };
    if end.is_clean() {
        let _ = tx.send(Chunk::End).await;
    }
    drop(tx);
    let _ = stream.close().await;
    (end, total)
}
