//! The runtime-neutral parts of a data transfer: progress counting, TYPE A conversion, the
//! blocking file side of downloads and uploads, and the verdict on how the network side ended.
//!
//! An adapter moves bytes between a data socket and a channel; the file side runs on a
//! blocking thread with [`Downloader::run`] or [`Uploader::run`], which apply the line-ending
//! conversion and finish the upload through the storage. How the pieces fit:
//!
//! ```text
//! download: Downloader::run (blocking) --chunks--> adapter channel --> socket (async)
//! upload:   socket (async) --chunks--> adapter channel --> Uploader::run (blocking)
//!           then upload_outcome(network end, file result, bytes) -> TransferOutcome
//! zero-copy download (plain TYPE I file, Linux; FileSide::zero_copy):
//!           SendFile::start(socket taken from the reactor) -> (SendJob, SendGuard)
//!           SendJob::run (blocking): sendfile(2) file -> socket -> TransferOutcome
//! zero-copy upload (plain TYPE I into a local file, Linux; FileSide::zero_copy too):
//!           ReceiveFile::start(socket taken from the reactor) -> (ReceiveJob, SendGuard)
//!           ReceiveJob::run (blocking): splice(2) socket -> pipe -> file, finish_write
//! ```
//!
//! The zero-copy path: the adapter takes the data connection out of its reactor (it is not
//! touched asynchronously again) and hands it with the file to a [`SendJob`] on a blocking
//! thread. The job makes the socket blocking, with a send timeout of [`SEND_WAIT`], and calls
//! `sendfile(2)` for at most [`SENDFILE_CHUNK`] bytes at a time: each call returns at least every
//! [`SEND_WAIT`] while the client does not read, so progress is counted as the bytes leave
//! and the core's data-idle deadline works as on the buffered path. The adapter keeps the
//! [`SendGuard`] in the transfer's task; when the task is dropped (ABOR, data-idle timeout,
//! the session closing), the guard raises the job's stop flag and shuts the socket down, which
//! wakes a `sendfile` blocked on a full socket at once (EPIPE): the job ends without sending
//! more. TLS, TYPE A, listings, storages that do not expose a file
//! ([`Storage::reader_into_file`]) and other systems keep the buffered path.
//!
//! Uploads mirror it: a [`ReceiveJob`] makes the socket blocking with a receive timeout of
//! [`SEND_WAIT`] and moves the bytes with `splice(2)` from the socket into a pipe and from
//! the pipe into the storage's file ([`Storage::fs_writer`]), so they never reach user
//! space. The same [`SendGuard`] stops it: a receive woken by the shutdown sees end of
//! stream, and the raised stop flag makes that a lost connection, never a finished file.
//! A clean end of stream finishes the upload through [`Storage::finish_write`] as the
//! buffered path does; a file the kernel cannot splice into (opened for appending, or on a
//! file system without splice support) is written through a buffer from the first byte.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use ftp_proto::ascii::{FromNetwork, ToNetwork};
use ftp_proto::server::{ListFormat, TransferError};
use ftp_proto::time::Timestamp;

use crate::ratelimit::{pace, RateLimit};
use crate::storage::{io_transfer_error, Listing, Storage};

/// Most bytes of a listing its storage job formats ahead ([`ListingReader::prefill`]): a
/// directory whose listing fits is sent from memory ([`FileSide::ready`]).
pub const READY_LISTING: usize = 64 * 1024;

/// Size of the chunks a transfer moves data in.
pub const TRANSFER_CHUNK: usize = 256 * 1024;

/// A transfer's running byte count over the data connection: the data task adds to it, the
/// control loop reads it when the session's data-idle deadline comes (a relaxed atomic, so
/// counting costs nothing measurable).
#[derive(Debug, Clone, Default)]
pub struct Progress(Arc<AtomicU64>);

impl Progress {
    /// A counter at zero.
    pub fn new() -> Progress {
        Progress::default()
    }

    /// Counts `n` more bytes moved.
    pub fn add(&self, n: usize) {
        self.0.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Bytes moved so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// How the network side of an upload ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetEnd {
    /// A clean end of stream (TCP FIN; under TLS, after close_notify).
    Eof,
    /// Under TLS, the TCP stream ended without close_notify: the file may be truncated by
    /// anyone on the path. The core decides what that is worth.
    TlsEofWithoutCloseNotify,
    /// The connection broke (reset, timeout, TLS error).
    Lost,
}

impl NetEnd {
    /// Classifies a read error of a data connection (`tls`: whether TLS runs on it). rustls
    /// reports a TCP end of stream without close_notify as `UnexpectedEof`.
    pub fn from_read_error(e: &io::Error, tls: bool) -> NetEnd {
        if tls && e.kind() == io::ErrorKind::UnexpectedEof {
            NetEnd::TlsEofWithoutCloseNotify
        } else {
            NetEnd::Lost
        }
    }
}

/// What an adapter reports when a transfer's task ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferOutcome {
    /// Every byte moved (and, for an upload, is in the storage); `u64` bytes over the network.
    Done(u64),
    /// An upload whose TLS stream ended without close_notify, after this many bytes; the file
    /// side finished. The core's policy decides between 226 and 451.
    Truncated(u64),
    /// The transfer failed.
    Failed(TransferError),
}

impl NetEnd {
    /// Whether the file side may be finished: the stream ended, with or without
    /// close_notify (the core judges the latter). A lost connection never finishes a file.
    pub fn is_clean(self) -> bool {
        self != NetEnd::Lost
    }
}

/// The verdict on a download from how its file side (reading) and its network side (sending,
/// `Ok` with the bytes sent) ended. A file-side failure wins: the client must not take a
/// short file for a whole one, whatever the network did.
pub fn download_outcome(
    file: Result<(), TransferError>,
    net: Result<u64, TransferError>,
) -> TransferOutcome {
    match (file, net) {
        (Err(e), _) if e != TransferError::ConnectionLost => TransferOutcome::Failed(e),
        (_, Err(e)) | (Err(e), _) => TransferOutcome::Failed(e),
        (Ok(()), Ok(n)) => TransferOutcome::Done(n),
    }
}

/// The verdict on an upload from how its network side ended, how its file side ended and the
/// bytes received. A file-side failure wins (the data is not stored, whatever the network
/// did); then a broken connection; then a TLS stream without close_notify.
pub fn upload_outcome(net: NetEnd, file: Result<(), TransferError>, bytes: u64) -> TransferOutcome {
    match (file, net) {
        (Err(e), _) => TransferOutcome::Failed(e),
        (Ok(()), NetEnd::Lost) => TransferOutcome::Failed(TransferError::ConnectionLost),
        (Ok(()), NetEnd::TlsEofWithoutCloseNotify) => TransferOutcome::Truncated(bytes),
        (Ok(()), NetEnd::Eof) => TransferOutcome::Done(bytes),
    }
}

/// TYPE A line-ending conversion for one direction of a transfer, or none for TYPE I.
#[derive(Debug)]
pub enum Recode {
    /// TYPE I: bytes pass unchanged.
    None,
    /// TYPE A download: local line endings to CRLF.
    ToNetwork(ToNetwork, BytesMut),
    /// TYPE A upload: CRLF to local line endings.
    FromNetwork(FromNetwork, BytesMut),
}

impl Recode {
    /// The conversion for a download (`ascii`: TYPE A).
    pub fn download(ascii: bool) -> Recode {
        if ascii {
            Recode::ToNetwork(ToNetwork::new(), BytesMut::new())
        } else {
            Recode::None
        }
    }

    /// The conversion for an upload (`ascii`: TYPE A).
    pub fn upload(ascii: bool) -> Recode {
        if ascii {
            Recode::FromNetwork(FromNetwork::new(), BytesMut::new())
        } else {
            Recode::None
        }
    }

    /// Converts one chunk; the result borrows either the input or an internal buffer.
    pub fn apply<'a>(&'a mut self, chunk: &'a [u8]) -> &'a [u8] {
        match self {
            Recode::None => chunk,
            Recode::ToNetwork(t, buf) => {
                buf.clear();
                t.transform(chunk, buf);
                buf
            }
            Recode::FromNetwork(t, buf) => {
                buf.clear();
                t.transform(chunk, buf);
                buf
            }
        }
    }

    /// What the conversion still holds at the end of the data (a CR whose LF never came).
    /// Send or write it after the last chunk.
    pub fn finish(&mut self) -> &[u8] {
        match self {
            Recode::None => &[],
            Recode::ToNetwork(t, buf) => {
                buf.clear();
                t.finish(buf);
                buf
            }
            Recode::FromNetwork(t, buf) => {
                buf.clear();
                t.finish(buf);
                buf
            }
        }
    }
}

/// The file side of a download, run on a blocking thread.
pub struct Downloader<R> {
    pub(crate) reader: R,
    pub(crate) ascii: bool,
    /// The session's rate limit (bytes per second), applied by [`run`](Self::run).
    pub(crate) rate: Option<NonZeroU64>,
}

impl<R> Downloader<R> {
    /// The open file and whether TYPE A conversion applies ([`Recode::download`]), for a host
    /// that runs the file side a chunk at a time instead of [`run`](Self::run).
    pub fn into_parts(self) -> (R, bool) {
        (self.reader, self.ascii)
    }
}

impl<R: Read> Downloader<R> {
    /// Reads the file to its end in chunks of [`TRANSFER_CHUNK`], converted for TYPE A, and
    /// hands each to `send`; stops early when `send` returns `false` (the network side is
    /// gone). Under a rate limit the chunks are smaller ([`RateLimit::slice`]) and each waits
    /// its turn before it is handed over, so the network side sends no faster. Blocking.
    pub fn run(mut self, mut send: impl FnMut(Bytes) -> bool) -> Result<(), TransferError> {
        let mut recode = Recode::download(self.ascii);
        let mut limit = self.rate.map(RateLimit::new);
        let size = limit
            .as_ref()
            .map_or(TRANSFER_CHUNK, |l| l.slice(TRANSFER_CHUNK));
        let mut buf = vec![0u8; size];
        loop {
            let n = match self.reader.read(&mut buf) {
                Ok(0) => {
                    let tail = recode.finish();
                    if !tail.is_empty() && !send(Bytes::copy_from_slice(tail)) {
                        return Err(TransferError::ConnectionLost);
                    }
                    return Ok(());
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_transfer_error(&e)),
            };
            let out = recode.apply(buf.get(..n).unwrap_or_default());
            pace(limit.as_mut(), out.len());
            if !send(Bytes::copy_from_slice(out)) {
                return Err(TransferError::ConnectionLost);
            }
        }
    }
}

/// What the network side of an upload hands to its [`Uploader`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// Bytes received.
    Data(Bytes),
    /// The network side ended cleanly: finish the file. Never sent for a broken connection, so
    /// an aborted upload is never reported to the storage as complete.
    End,
}

/// The file side of an upload, run on a blocking thread.
pub struct Uploader<S: Storage> {
    pub(crate) storage: Arc<S>,
    pub(crate) writer: S::Writer,
    pub(crate) ascii: bool,
    /// The session's rate limit (bytes per second), applied by [`run`](Self::run).
    pub(crate) rate: Option<NonZeroU64>,
    /// Under a rate limit, the transfer's counter the core's data-idle deadline reads: bytes
    /// count as they are written, since the network side, its queue full, reads in bursts far
    /// apart at a low rate and would be taken for stalled.
    pub(crate) progress: Option<Progress>,
}

impl<S: Storage> Uploader<S> {
    /// The storage, the open file and whether TYPE A conversion applies ([`Recode::upload`]),
    /// for a host that runs the file side a chunk at a time instead of [`run`](Self::run).
    /// Call [`Storage::finish_write`] only after the network side ended cleanly
    /// ([`NetEnd::is_clean`]); drop the writer otherwise.
    pub fn into_parts(self) -> (Arc<S>, S::Writer, bool) {
        (self.storage, self.writer, self.ascii)
    }

    /// Writes every chunk `recv` yields (converted for TYPE A) until it yields
    /// [`Chunk::End`], then completes the upload with [`Storage::finish_write`]. When `recv`
    /// yields `None` first (the network side was aborted or failed), or anything fails, the
    /// writer is dropped without being finished and the upload fails. Under a rate limit each
    /// slice of a chunk waits its turn before it is written; the network side, whose chunks
    /// then queue up, stops reading and TCP slows the client down. Blocking.
    pub fn run(mut self, mut recv: impl FnMut() -> Option<Chunk>) -> Result<(), TransferError> {
        let mut recode = Recode::upload(self.ascii);
        let mut limit = self.rate.map(RateLimit::new);
        let size = limit
            .as_ref()
            .map_or(usize::MAX, |l| l.slice(TRANSFER_CHUNK));
        loop {
            let chunk = match recv() {
                Some(Chunk::Data(chunk)) => chunk,
                Some(Chunk::End) => break,
                None => return Err(TransferError::ConnectionLost),
            };
            for slice in chunk.chunks(size) {
                pace(limit.as_mut(), slice.len());
                let out = recode.apply(slice);
                self.writer
                    .write_all(out)
                    .map_err(|e| io_transfer_error(&e))?;
                if let Some(p) = &self.progress {
                    p.add(slice.len());
                }
            }
        }
        let tail = recode.finish();
        self.writer
            .write_all(tail)
            .map_err(|e| io_transfer_error(&e))?;
        self.storage
            .finish_write(self.writer)
            .map_err(|e| io_transfer_error(&e))
    }
}

/// What a download reads: a file of the storage, or a listing formatted as it is read.
pub enum Source<R> {
    /// A file opened by [`Storage::open_read`].
    File(R),
    /// A LIST, NLST or MLSD listing.
    Listing(ListingReader),
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Source::File(r) => r.read(buf),
            Source::Listing(l) => l.read(buf),
        }
    }
}

/// A [`Listing`] formatted a few entries at a time as the transfer reads it, so that memory
/// stays bounded by one read's worth of lines whatever the directory's size.
pub struct ListingReader {
    entries: Listing,
    format: ListFormat,
    now: Timestamp,
    lines: BytesMut,
    /// The entries have all been formatted into `lines` (or failed).
    ended: bool,
    /// An error met by [`prefill`](Self::prefill), returned once the lines before it are read.
    failed: Option<io::Error>,
}

impl ListingReader {
    /// Formats `entries` with `format`; `now` is the wall-clock time LIST compares dates to.
    pub fn new(entries: Listing, format: ListFormat, now: Timestamp) -> ListingReader {
        ListingReader {
            entries,
            format,
            now,
            lines: BytesMut::new(),
            ended: false,
            failed: None,
        }
    }

    /// Formats entries ahead until `budget` bytes of lines are waiting or the listing ends.
    /// The storage job that opens a listing calls it, on its blocking thread, so that a small
    /// directory reaches the transfer whole ([`FileSide::ready`]) and needs no blocking
    /// thread of its own. An error is kept for the read that reaches it.
    pub fn prefill(&mut self, budget: usize) {
        while !self.ended && self.lines.len() < budget {
            self.format_next();
        }
    }

    fn format_next(&mut self) {
        match self.entries.next() {
            Some(Ok(e)) => self
                .format
                .format(std::slice::from_ref(&e), self.now, &mut self.lines),
            Some(Err(e)) => {
                self.failed = Some(e);
                self.ended = true;
            }
            None => self.ended = true,
        }
    }

    /// The whole listing, when [`prefill`](Self::prefill) reached its end without an error.
    fn into_whole(self) -> Result<Bytes, ListingReader> {
        if self.ended && self.failed.is_none() {
            Ok(self.lines.freeze())
        } else {
            Err(self)
        }
    }
}

impl Read for ListingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while !self.ended && self.lines.len() < buf.len() {
            self.format_next();
        }
        if self.lines.is_empty() {
            if let Some(e) = self.failed.take() {
                return Err(e);
            }
        }
        let n = buf.len().min(self.lines.len());
        if let (Some(to), Some(from)) = (buf.get_mut(..n), self.lines.get(..n)) {
            to.copy_from_slice(from);
        }
        self.lines.advance(n);
        Ok(n)
    }
}

/// The file side of a transfer, as [`ServerConn`](crate::server::ServerConn) hands it to the
/// adapter with the data connection.
pub enum FileSide<S: Storage> {
    /// Send a file or a listing: run the [`Downloader`] on a blocking thread.
    Download(Downloader<Source<S::Reader>>),
    /// Receive a file: run the [`Uploader`] on a blocking thread.
    Upload(Uploader<S>),
}

impl<S: Storage> std::fmt::Debug for FileSide<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileSide::Download(_) => f.write_str("Download"),
            FileSide::Upload(_) => f.write_str("Upload"),
        }
    }
}

impl<S: Storage> FileSide<S> {
    /// The whole download as bytes already in memory: a listing that its storage job
    /// formatted to the end ([`ListingReader::prefill`], up to [`READY_LISTING`] bytes), with
    /// no rate limit. The adapter writes them from the connection's own task, with no blocking
    /// thread: a short session's LIST costs no thread hand-over. Anything else comes back
    /// unchanged.
    pub fn ready(self) -> Result<Bytes, FileSide<S>> {
        match self {
            FileSide::Download(Downloader {
                reader: Source::Listing(l),
                ascii,
                rate: None,
            }) => l.into_whole().map_err(|l| {
                FileSide::Download(Downloader {
                    reader: Source::Listing(l),
                    ascii,
                    rate: None,
                })
            }),
            other => Err(other),
        }
    }

    /// Sends a download that is all in memory ([`ready`](Self::ready)) over the plain data
    /// connection `socket` without waiting: the bytes the socket takes now are written (and
    /// added to `progress`), and when that is all of them its sending side is shut down. So
    /// a short listing, which the socket's buffer always holds, ends in the adapter's
    /// control task with no transfer task at all. Never waits for room in the socket on Unix
    /// (`MSG_DONTWAIT`); elsewhere the socket must be non-blocking, as the adapters' are.
    pub fn send_at_once(self, socket: socket2::SockRef<'_>, progress: &Progress) -> AtOnce<S> {
        let lines = match self.ready() {
            Ok(lines) => lines,
            Err(file) => return AtOnce::Not(file),
        };
        let mut sent = 0;
        while sent < lines.len() {
            let rest = lines.get(sent..).unwrap_or_default();
            match socket.send_with_flags(rest, NO_WAIT) {
                Ok(0) => {
                    return AtOnce::Done(TransferOutcome::Failed(TransferError::ConnectionLost))
                }
                Ok(n) => {
                    sent += n;
                    progress.add(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    return AtOnce::Done(TransferOutcome::Failed(TransferError::ConnectionLost))
                }
            }
        }
        if sent < lines.len() {
            return AtOnce::Rest {
                rest: lines.slice(sent..),
                sent: sent as u64,
            };
        }
        AtOnce::Done(match socket.shutdown(Shutdown::Write) {
            Ok(()) => TransferOutcome::Done(sent as u64),
            Err(_) => TransferOutcome::Failed(TransferError::ConnectionLost),
        })
    }

    /// Takes the zero-copy path when it applies, over a plain data connection (`plain`: no
    /// TLS on it) on Linux: a TYPE I download of a file the storage exposes
    /// ([`Storage::reader_into_file`]) is sent with `sendfile(2)`, a TYPE I upload into a
    /// local file ([`Storage::fs_writer`]) received with `splice(2)`. Anything else (TLS,
    /// TYPE A, a listing, another storage, another system) comes back unchanged for the
    /// buffered path.
    pub fn zero_copy(self, plain: bool) -> Result<ZeroCopy<S>, FileSide<S>> {
        if !plain || !cfg!(target_os = "linux") {
            return Err(self);
        }
        match self {
            // A rate-limited download is paced chunk by chunk on the buffered path.
            FileSide::Download(Downloader {
                reader: Source::File(reader),
                ascii: false,
                rate: None,
            }) => S::reader_into_file(reader)
                .map(|file| ZeroCopy::Send(SendFile { file }))
                .map_err(|reader| {
                    FileSide::Download(Downloader {
                        reader: Source::File(reader),
                        ascii: false,
                        rate: None,
                    })
                }),
            // A rate-limited upload is paced on the buffered path too.
            FileSide::Upload(Uploader {
                storage,
                mut writer,
                ascii: false,
                rate: None,
                progress,
            }) => {
                if S::fs_writer(&mut writer).is_some() {
                    Ok(ZeroCopy::Receive(ReceiveFile { storage, writer }))
                } else {
                    Err(FileSide::Upload(Uploader {
                        storage,
                        writer,
                        ascii: false,
                        rate: None,
                        progress,
                    }))
                }
            }
            other => Err(other),
        }
    }
}

/// `send` flags for [`FileSide::send_at_once`]: return at once rather than wait for room (the
/// socket may be in blocking mode), and no SIGPIPE from a closed connection where the flag
/// exists (elsewhere the adapters' sockets are non-blocking already).
#[cfg(target_os = "linux")]
const NO_WAIT: i32 = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
#[cfg(all(unix, not(target_os = "linux")))]
const NO_WAIT: i32 = libc::MSG_DONTWAIT;
#[cfg(not(unix))]
const NO_WAIT: i32 = 0;

/// What [`FileSide::send_at_once`] did.
pub enum AtOnce<S: Storage> {
    /// All of it was sent and the sending side shut down (or the connection broke): report
    /// this outcome, then drop the connection.
    Done(TransferOutcome),
    /// The socket took `sent` bytes: write `rest`, then shut down as after a download.
    Rest {
        /// What is left to write.
        rest: Bytes,
        /// What was sent already.
        sent: u64,
    },
    /// Not a download in memory: run the transfer as usual.
    Not(FileSide<S>),
}

impl<S: Storage> std::fmt::Debug for AtOnce<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AtOnce::Done(outcome) => write!(f, "Done({outcome:?})"),
            AtOnce::Rest { rest, sent } => write!(f, "Rest({} left, {sent} sent)", rest.len()),
            AtOnce::Not(file) => write!(f, "Not({file:?})"),
        }
    }
}

/// A transfer the kernel moves whole, from [`FileSide::zero_copy`].
#[derive(Debug)]
pub enum ZeroCopy<S: Storage> {
    /// A download with `sendfile(2)`.
    Send(SendFile),
    /// An upload with `splice(2)`.
    Receive(ReceiveFile<S>),
}

impl<S: Storage> ZeroCopy<S> {
    /// Takes over the data connection: `socket` must be out of the adapter's reactor (it is
    /// made blocking). Returns the job to run on a blocking thread and the guard to keep in
    /// the transfer's task: dropping the guard stops the job promptly and shuts the
    /// connection down. The job adds the bytes it moves to `progress`.
    pub fn start(self, socket: TcpStream, progress: Progress) -> (ZeroCopyJob<S>, SendGuard) {
        match self {
            ZeroCopy::Send(f) => {
                let (job, guard) = f.start(socket, progress);
                (ZeroCopyJob::Send(job), guard)
            }
            ZeroCopy::Receive(f) => {
                let (job, guard) = f.start(socket, progress);
                (ZeroCopyJob::Receive(job), guard)
            }
        }
    }
}

/// The blocking side of a [`ZeroCopy`] transfer.
#[derive(Debug)]
pub enum ZeroCopyJob<S: Storage> {
    /// See [`SendJob`].
    Send(SendJob),
    /// See [`ReceiveJob`].
    Receive(ReceiveJob<S>),
}

impl<S: Storage> ZeroCopyJob<S> {
    /// Runs the whole transfer ([`SendJob::run`], [`ReceiveJob::run`]). Blocking.
    pub fn run(self) -> TransferOutcome {
        match self {
            ZeroCopyJob::Send(job) => job.run(),
            ZeroCopyJob::Receive(job) => job.run(),
        }
    }
}

/// At most this many bytes per `sendfile(2)` call of a zero-copy download.
pub const SENDFILE_CHUNK: usize = 1 << 20;

/// How long one blocking send of a zero-copy download waits for room in the socket before it
/// returns what it sent, so that progress is counted and the stop flag looked at.
pub const SEND_WAIT: Duration = Duration::from_millis(200);

/// A download the kernel copies from the file to the data connection (`sendfile(2)`), from
/// [`FileSide::zero_copy`].
#[derive(Debug)]
pub struct SendFile {
    file: File,
}

impl SendFile {
    /// Takes over the data connection: `socket` must be out of the adapter's reactor (it is
    /// made blocking). Returns the job to run on a blocking thread and the guard to keep in the
    /// transfer's task: dropping the guard stops the job promptly and shuts the connection
    /// down. The job adds the bytes it sends to `progress`.
    pub fn start(self, socket: TcpStream, progress: Progress) -> (SendJob, SendGuard) {
        let stop = Arc::new(AtomicBool::new(false));
        let guard = SendGuard {
            stop: stop.clone(),
            // Without a second descriptor (none left) the stop flag alone ends the job, within
            // SEND_WAIT.
            socket: socket.try_clone().ok(),
        };
        let job = SendJob {
            file: self.file,
            socket,
            progress,
            stop,
        };
        (job, guard)
    }
}

/// The blocking side of a zero-copy download; see [`SendFile::start`].
#[derive(Debug)]
pub struct SendJob {
    file: File,
    socket: TcpStream,
    progress: Progress,
    stop: Arc<AtomicBool>,
}

impl SendJob {
    /// Sends the file from its position to its end, then shuts the connection's sending side
    /// down (a complete file ends with FIN; a failed one is only closed). Blocking. Reports
    /// what the buffered path reports: `Done` with the bytes sent, `Failed(Local)` (or
    /// `NoSpace`) when the file cannot be read, `Failed(ConnectionLost)` when the connection
    /// broke or the guard was dropped.
    pub fn run(mut self) -> TransferOutcome {
        let set = self
            .socket
            .set_nonblocking(false)
            .and_then(|()| self.socket.set_write_timeout(Some(SEND_WAIT)));
        if set.is_err() {
            return TransferOutcome::Failed(TransferError::ConnectionLost);
        }
        let mut total = 0u64;
        let sent = self.send(&mut total);
        match sent {
            Ok(()) if self.stopped() => TransferOutcome::Failed(TransferError::ConnectionLost),
            Ok(()) => match self.socket.shutdown(Shutdown::Write) {
                Ok(()) => TransferOutcome::Done(total),
                Err(_) => TransferOutcome::Failed(TransferError::ConnectionLost),
            },
            Err(e) => TransferOutcome::Failed(e),
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn count(&self, total: &mut u64, n: usize) {
        *total += n as u64;
        self.progress.add(n);
    }

    #[cfg(target_os = "linux")]
    fn send(&mut self, total: &mut u64) -> Result<(), TransferError> {
        use rustix::io::Errno;
        loop {
            if self.stopped() {
                return Err(TransferError::ConnectionLost);
            }
            match rustix::fs::sendfile(&self.socket, &self.file, None, SENDFILE_CHUNK) {
                Ok(0) => return Ok(()),
                Ok(n) => self.count(total, n),
                // A send timeout with nothing sent, or a signal.
                Err(Errno::AGAIN | Errno::INTR) => {}
                // This file (or kernel) cannot be sent from: copy it instead.
                Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) if *total == 0 => {
                    return self.copy(total)
                }
                Err(e) => return Err(self.send_error(&io::Error::from(e))),
            }
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn send(&mut self, total: &mut u64) -> Result<(), TransferError> {
        self.copy(total)
    }

    /// The fallback: read and write through a buffer, on the same blocking socket.
    fn copy(&mut self, total: &mut u64) -> Result<(), TransferError> {
        let mut buf = vec![0u8; TRANSFER_CHUNK];
        loop {
            let n = match self.file.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_transfer_error(&e)),
            };
            let mut rest = buf.get(..n).unwrap_or_default();
            while !rest.is_empty() {
                if self.stopped() {
                    return Err(TransferError::ConnectionLost);
                }
                match self.socket.write(rest) {
                    Ok(0) => return Err(TransferError::ConnectionLost),
                    Ok(w) => {
                        self.count(total, w);
                        rest = rest.get(w..).unwrap_or_default();
                    }
                    Err(e) if retry_send(&e) => {}
                    Err(_) => return Err(TransferError::ConnectionLost),
                }
            }
        }
    }

    /// Whose fault a failed `sendfile` is: the connection's (it broke, or the guard shut it
    /// down) or the file's.
    #[cfg(target_os = "linux")]
    fn send_error(&self, e: &io::Error) -> TransferError {
        use io::ErrorKind as K;
        let net = matches!(
            e.kind(),
            K::BrokenPipe
                | K::ConnectionReset
                | K::ConnectionAborted
                | K::NotConnected
                | K::TimedOut
                | K::HostUnreachable
                | K::NetworkUnreachable
                | K::NetworkDown
        );
        if net || self.stopped() {
            TransferError::ConnectionLost
        } else {
            io_transfer_error(e)
        }
    }
}

/// A send to try again: interrupted, or the send timeout passed with nothing sent.
fn retry_send(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The pipe size a zero-copy upload asks for (the most an unprivileged process gets by
/// default); each `splice(2)` moves at most this much.
pub const SPLICE_PIPE: usize = 1 << 20;

/// An upload the kernel moves from the data connection into the file (`splice(2)`), from
/// [`FileSide::zero_copy`].
pub struct ReceiveFile<S: Storage> {
    storage: Arc<S>,
    writer: S::Writer,
}

impl<S: Storage> std::fmt::Debug for ReceiveFile<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReceiveFile")
    }
}

impl<S: Storage> ReceiveFile<S> {
    /// Takes over the data connection, as [`SendFile::start`] does: returns the job to run on
    /// a blocking thread and the guard to keep in the transfer's task. The job adds the bytes
    /// it receives to `progress`.
    pub fn start(self, socket: TcpStream, progress: Progress) -> (ReceiveJob<S>, SendGuard) {
        let stop = Arc::new(AtomicBool::new(false));
        let guard = SendGuard {
            stop: stop.clone(),
            socket: socket.try_clone().ok(),
        };
        let job = ReceiveJob {
            storage: self.storage,
            writer: self.writer,
            socket,
            progress,
            stop,
        };
        (job, guard)
    }
}

/// The blocking side of a zero-copy upload; see [`ReceiveFile::start`].
pub struct ReceiveJob<S: Storage> {
    storage: Arc<S>,
    writer: S::Writer,
    socket: TcpStream,
    progress: Progress,
    stop: Arc<AtomicBool>,
}

impl<S: Storage> std::fmt::Debug for ReceiveJob<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiveJob")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

impl<S: Storage> ReceiveJob<S> {
    /// Receives until the client ends the stream, then finishes the upload
    /// ([`Storage::finish_write`]) and shuts the connection's sending side down. Blocking.
    /// Reports what the buffered path reports: `Done` with the bytes received,
    /// `Failed(NoSpace)` or `Failed(Local)` when the file cannot take them (that wins over
    /// the network), `Failed(ConnectionLost)` when the connection broke or the guard was
    /// dropped; the writer of a failed upload is dropped unfinished.
    pub fn run(mut self) -> TransferOutcome {
        let set = self
            .socket
            .set_nonblocking(false)
            .and_then(|()| self.socket.set_read_timeout(Some(SEND_WAIT)));
        if set.is_err() {
            return TransferOutcome::Failed(TransferError::ConnectionLost);
        }
        let mut total = 0u64;
        if let Err(e) = self.receive(&mut total) {
            return TransferOutcome::Failed(e);
        }
        if self.stopped() {
            return TransferOutcome::Failed(TransferError::ConnectionLost);
        }
        if let Err(e) = self.storage.finish_write(self.writer) {
            return TransferOutcome::Failed(io_transfer_error(&e));
        }
        let _ = self.socket.shutdown(Shutdown::Write);
        TransferOutcome::Done(total)
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn count(&self, total: &mut u64, n: usize) {
        *total += n as u64;
        self.progress.add(n);
    }

    /// Socket -> pipe -> file until end of stream; the buffered copy when no pipe can be
    /// had or the file refuses splicing.
    #[cfg(target_os = "linux")]
    fn receive(&mut self, total: &mut u64) -> Result<(), TransferError> {
        use rustix::io::Errno;
        use rustix::pipe::{splice, SpliceFlags};
        let Ok((pipe_out, pipe_in)) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        else {
            return self.copy(total);
        };
        // Best effort: a bigger pipe means fewer calls; the default (64 KiB) works too.
        let _ = rustix::pipe::fcntl_setpipe_size(&pipe_in, SPLICE_PIPE);
        let size = rustix::pipe::fcntl_getpipe_size(&pipe_in).unwrap_or(1 << 16);
        loop {
            if self.stopped() {
                return Err(TransferError::ConnectionLost);
            }
            let n = match splice(&self.socket, None, &pipe_in, None, size, SpliceFlags::MOVE) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                // The receive timeout with nothing received, or a signal.
                Err(Errno::AGAIN | Errno::INTR) => continue,
                Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) if *total == 0 => {
                    return self.copy(total)
                }
                Err(_) => return Err(TransferError::ConnectionLost),
            };
            self.count(total, n);
            let Some(writer) = S::fs_writer(&mut self.writer) else {
                return Err(TransferError::Local);
            };
            let file = writer.raw_file().map_err(|e| io_transfer_error(&e))?;
            let mut left = n;
            while left > 0 {
                match splice(&pipe_out, None, file, None, left, SpliceFlags::MOVE) {
                    Ok(0) => return Err(TransferError::Local),
                    Ok(m) => left = left.saturating_sub(m),
                    Err(Errno::INTR | Errno::AGAIN) => {}
                    // Appending, or a file system without splice: what is in the pipe goes
                    // through a buffer, and so does the rest.
                    Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) if left == n => {
                        self.unpipe(&pipe_out, left)?;
                        return self.copy(total);
                    }
                    Err(e) => return Err(io_transfer_error(&io::Error::from(e))),
                }
            }
            writer.raw_written();
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn receive(&mut self, total: &mut u64) -> Result<(), TransferError> {
        self.copy(total)
    }

    /// Writes the `left` bytes waiting in the pipe through the writer.
    #[cfg(target_os = "linux")]
    fn unpipe(&mut self, pipe: &rustix::fd::OwnedFd, mut left: usize) -> Result<(), TransferError> {
        let mut buf = vec![0u8; left.min(TRANSFER_CHUNK)];
        while left > 0 {
            let want = left.min(buf.len());
            let n = match rustix::io::read(pipe, buf.get_mut(..want).unwrap_or_default()) {
                Ok(0) => return Err(TransferError::Local),
                Ok(n) => n,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(io_transfer_error(&io::Error::from(e))),
            };
            self.writer
                .write_all(buf.get(..n).unwrap_or_default())
                .map_err(|e| io_transfer_error(&e))?;
            left = left.saturating_sub(n);
        }
        Ok(())
    }

    /// The fallback: read into a buffer and write it to the file, on the same blocking socket.
    fn copy(&mut self, total: &mut u64) -> Result<(), TransferError> {
        let mut buf = vec![0u8; TRANSFER_CHUNK];
        loop {
            if self.stopped() {
                return Err(TransferError::ConnectionLost);
            }
            let n = match self.socket.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if retry_send(&e) => continue,
                Err(_) => return Err(TransferError::ConnectionLost),
            };
            self.count(total, n);
            self.writer
                .write_all(buf.get(..n).unwrap_or_default())
                .map_err(|e| io_transfer_error(&e))?;
        }
    }
}

/// Kept by the transfer's task while a [`SendJob`] or a [`ReceiveJob`] runs: dropping it stops
/// the job and shuts the data connection down at once.
#[derive(Debug)]
pub struct SendGuard {
    stop: Arc<AtomicBool>,
    socket: Option<TcpStream>,
}

impl Drop for SendGuard {
    fn drop(&mut self) {
        // Raised before the shutdown, so that a receive the shutdown ends reads as stopped.
        self.stop.store(true, Ordering::SeqCst);
        if let Some(s) = &self.socket {
            // Wakes a send blocked on a full socket (EPIPE), or a receive waiting for data
            // (end of stream). After a complete transfer it changes nothing: the job shut the
            // sending side down already.
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ftp_proto::listing::Entry;
    use ftp_proto::path::VirtualPath;
    use ftp_proto::server::{Failure, WriteMode};
    use ftp_proto::time::Timestamp;

    #[test]
    fn download_verdicts() {
        use TransferOutcome::*;
        assert_eq!(download_outcome(Ok(()), Ok(7)), Done(7));
        // A file that failed to read is a failed transfer, even if the network side ended.
        assert_eq!(
            download_outcome(Err(TransferError::Local), Ok(7)),
            Failed(TransferError::Local)
        );
        assert_eq!(
            download_outcome(
                Err(TransferError::ConnectionLost),
                Err(TransferError::ConnectionLost)
            ),
            Failed(TransferError::ConnectionLost)
        );
        assert_eq!(
            download_outcome(Ok(()), Err(TransferError::ConnectionLost)),
            Failed(TransferError::ConnectionLost)
        );
        assert_eq!(
            download_outcome(Err(TransferError::ConnectionLost), Ok(7)),
            Failed(TransferError::ConnectionLost)
        );
        assert_eq!(
            download_outcome(
                Err(TransferError::Local),
                Err(TransferError::ConnectionLost)
            ),
            Failed(TransferError::Local)
        );
        assert!(NetEnd::Eof.is_clean() && NetEnd::TlsEofWithoutCloseNotify.is_clean());
        assert!(!NetEnd::Lost.is_clean());
    }

    #[test]
    fn upload_verdicts() {
        use TransferOutcome::*;
        assert_eq!(upload_outcome(NetEnd::Eof, Ok(()), 5), Done(5));
        assert_eq!(
            upload_outcome(NetEnd::TlsEofWithoutCloseNotify, Ok(()), 5),
            Truncated(5)
        );
        assert_eq!(
            upload_outcome(NetEnd::Lost, Ok(()), 5),
            Failed(TransferError::ConnectionLost)
        );
        assert_eq!(
            upload_outcome(NetEnd::Eof, Err(TransferError::NoSpace), 5),
            Failed(TransferError::NoSpace)
        );
        let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
        assert_eq!(
            NetEnd::from_read_error(&eof, true),
            NetEnd::TlsEofWithoutCloseNotify
        );
        assert_eq!(NetEnd::from_read_error(&eof, false), NetEnd::Lost);
    }

    #[test]
    fn recode_both_ways() {
        let mut down = Recode::download(true);
        assert_eq!(down.apply(b"a\nb\n"), b"a\r\nb\r\n");
        let mut up = Recode::upload(true);
        let mut got = up.apply(b"a\r\nb\r").to_vec();
        got.extend_from_slice(up.apply(b"\nc\r"));
        got.extend_from_slice(up.finish());
        assert_eq!(got, b"a\nb\nc\r");
        let mut none = Recode::download(false);
        assert_eq!(none.apply(b"a\nb"), b"a\nb");
    }

    #[test]
    fn progress_counts() {
        let p = Progress::new();
        let q = p.clone();
        q.add(5);
        q.add(7);
        assert_eq!(p.get(), 12);
    }

    #[test]
    fn ascii_download_is_converted_to_the_end() {
        let mut got = Vec::new();
        let d = Downloader {
            reader: &b"a\nb"[..],
            ascii: true,
            rate: None,
        };
        d.run(|b| {
            got.extend_from_slice(&b);
            true
        })
        .unwrap();
        assert_eq!(got, b"a\r\nb");
    }

    #[test]
    fn a_listing_is_formatted_as_it_is_read_and_holds_one_read_of_lines() {
        // A listing that would be 100,000 lines; the reader pulls entries only as needed.
        let pulled = Arc::new(AtomicU64::new(0));
        let counter = pulled.clone();
        let entries = (0..100_000u32).map(move |i| {
            counter.fetch_add(1, Ordering::Relaxed);
            Ok(Entry::new(
                Bytes::from(format!("file{i:06}")),
                ftp_proto::listing::EntryKind::File,
            ))
        });
        let now = Timestamp::from_unix(1_700_000_000, 0).unwrap();
        let mut r = ListingReader::new(Listing::new(entries), ListFormat::Names, now);
        let mut buf = [0u8; 64];
        let n = r.read(&mut buf).unwrap();
        assert_eq!(
            &buf[..n],
            b"file000000\r\nfile000001\r\nfile000002\r\nfile000003\r\nfile000004\r\nfile"
        );
        // 64 bytes need 6 lines of 12: no more entries were formatted than that.
        assert_eq!(pulled.load(Ordering::Relaxed), 6);
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).unwrap();
        assert_eq!(n + rest.len(), 100_000 * 12);
        assert!(rest.ends_with(b"file099999\r\n"));
        assert_eq!(pulled.load(Ordering::Relaxed), 100_000);
    }

    #[test]
    fn a_listing_error_fails_the_download() {
        let entries = vec![
            Ok(Entry::new(
                Bytes::from_static(b"a"),
                ftp_proto::listing::EntryKind::File,
            )),
            Err(io::Error::other("disk gone")),
        ];
        let now = Timestamp::from_unix(0, 0).unwrap();
        let d = Downloader {
            reader: Source::<io::Empty>::Listing(ListingReader::new(
                Listing::new(entries.into_iter()),
                ListFormat::Names,
                now,
            )),
            ascii: false,
            rate: None,
        };
        assert_eq!(d.run(|_| true), Err(TransferError::Local));
    }

    fn names(n: u32, fail_at: Option<u32>) -> Listing {
        Listing::new((0..n).map(move |i| {
            if Some(i) == fail_at {
                return Err(io::Error::other("disk gone"));
            }
            Ok(Entry::new(
                Bytes::from(format!("file{i:06}")),
                ftp_proto::listing::EntryKind::File,
            ))
        }))
    }

    fn listing_download(r: ListingReader, rate: Option<NonZeroU64>) -> FileSide<Finished> {
        FileSide::Download(Downloader {
            reader: Source::Listing(r),
            ascii: false,
            rate,
        })
    }

    #[test]
    fn a_listing_prefilled_to_its_end_is_ready_whole() {
        let now = Timestamp::from_unix(0, 0).unwrap();
        let mut r = ListingReader::new(names(3, None), ListFormat::Names, now);
        r.prefill(READY_LISTING);
        let ready = listing_download(r, None).ready().map_err(|_| ()).unwrap();
        assert_eq!(&ready[..], b"file000000\r\nfile000001\r\nfile000002\r\n");
        // Nothing formatted ahead: not ready, even when short.
        let r = ListingReader::new(names(3, None), ListFormat::Names, now);
        assert!(listing_download(r, None).ready().is_err());
        // An empty directory is ready too, as no bytes.
        let mut r = ListingReader::new(names(0, None), ListFormat::Names, now);
        r.prefill(READY_LISTING);
        assert_eq!(
            listing_download(r, None)
                .ready()
                .map_err(|_| ())
                .unwrap()
                .len(),
            0
        );
    }

    #[test]
    fn a_listing_past_the_budget_streams_its_prefix_then_the_rest() {
        let now = Timestamp::from_unix(0, 0).unwrap();
        // 10,000 lines of 12 bytes: about twice the budget.
        let mut r = ListingReader::new(names(10_000, None), ListFormat::Names, now);
        r.prefill(READY_LISTING);
        let FileSide::Download(d) = listing_download(r, None).ready().unwrap_err() else {
            panic!("a download stays a download");
        };
        let mut sent = Vec::new();
        d.run(|b| {
            sent.extend_from_slice(&b);
            true
        })
        .unwrap();
        assert_eq!(sent.len(), 10_000 * 12);
        assert!(sent.starts_with(b"file000000\r\n"));
        assert!(sent.ends_with(b"file009999\r\n"));
    }

    #[test]
    fn a_rate_limited_or_failed_listing_is_never_ready() {
        let now = Timestamp::from_unix(0, 0).unwrap();
        let mut r = ListingReader::new(names(3, None), ListFormat::Names, now);
        r.prefill(READY_LISTING);
        assert!(listing_download(r, NonZeroU64::new(1000)).ready().is_err());
        // An error inside the budget: the lines before it are read, then the error fails
        // the download instead of a short listing passing for a whole one.
        let mut r = ListingReader::new(names(3, Some(2)), ListFormat::Names, now);
        r.prefill(READY_LISTING);
        let FileSide::Download(d) = listing_download(r, None).ready().unwrap_err() else {
            panic!("a download stays a download");
        };
        let mut sent = Vec::new();
        let end = d.run(|b| {
            sent.extend_from_slice(&b);
            true
        });
        assert_eq!(end, Err(TransferError::Local));
        assert_eq!(sent, b"file000000\r\nfile000001\r\n");
        // Files are never ready: they take the zero-copy or buffered path.
        let file = FileSide::<Finished>::Download(Downloader {
            reader: Source::File(io::empty()),
            ascii: false,
            rate: None,
        });
        assert!(file.ready().is_err());
    }

    // Unix only: elsewhere `send_at_once` has no flag that keeps a blocking socket from
    // waiting, and this test gives it one that nobody reads.
    #[cfg(unix)]
    #[test]
    fn a_ready_listing_is_sent_at_once_or_leaves_the_rest() {
        let now = Timestamp::from_unix(0, 0).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let pair = || {
            let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (server, _) = listener.accept().unwrap();
            (client, server)
        };
        // Small: all of it goes, then end of stream.
        let (mut client, server) = pair();
        let mut r = ListingReader::new(names(3, None), ListFormat::Names, now);
        r.prefill(READY_LISTING);
        let progress = Progress::new();
        let sent = listing_download(r, None).send_at_once((&server).into(), &progress);
        assert!(
            matches!(sent, AtOnce::Done(TransferOutcome::Done(36))),
            "{sent:?}"
        );
        assert_eq!(progress.get(), 36);
        let mut got = Vec::new();
        client.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"file000000\r\nfile000001\r\nfile000002\r\n");
        // Larger than the socket takes while the client reads nothing: what was taken is
        // counted, the rest comes back, and nothing waited (the socket is blocking).
        let (mut client, server) = pair();
        let n = 900_000;
        let mut r = ListingReader::new(names(n, None), ListFormat::Names, now);
        r.prefill(usize::MAX);
        let progress = Progress::new();
        let AtOnce::Rest { rest, sent } =
            listing_download(r, None).send_at_once((&server).into(), &progress)
        else {
            panic!("10.8 MB fit in a fresh socket");
        };
        assert!(sent > 0 && sent == progress.get());
        assert_eq!(sent + rest.len() as u64, u64::from(n) * 12);
        assert!(rest.ends_with(b"file899999\r\n"));
        // What arrived plus the rest is the listing, in order.
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            client.read_to_end(&mut got).unwrap();
            got
        });
        let mut server = server;
        server.write_all(&rest).unwrap();
        drop(server);
        let got = reader.join().unwrap();
        assert_eq!(got.len() as u64, u64::from(n) * 12);
        assert!(got.starts_with(b"file000000\r\nfile000001\r\n"));
        assert!(got.ends_with(b"file899998\r\nfile899999\r\n"));
        // A connection the client reset: the transfer failed, nothing is left for later.
        let (client, mut server) = pair();
        socket2::SockRef::from(&client)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(client);
        let mut buf = [0u8; 8];
        assert!(server.read(&mut buf).is_err(), "the reset arrived");
        let mut r = ListingReader::new(names(3, None), ListFormat::Names, now);
        r.prefill(READY_LISTING);
        let lost = listing_download(r, None).send_at_once((&server).into(), &progress);
        assert!(
            matches!(
                lost,
                AtOnce::Done(TransferOutcome::Failed(TransferError::ConnectionLost))
            ),
            "{lost:?}"
        );
        // A file, or a listing not formatted to its end, is not sent here.
        let (_client, server) = pair();
        let r = ListingReader::new(names(3, None), ListFormat::Names, now);
        let not = listing_download(r, None).send_at_once((&server).into(), &progress);
        assert!(matches!(not, AtOnce::Not(_)));
    }

    /// A storage that only records finished uploads.
    #[derive(Default)]
    struct Finished(std::sync::Mutex<Vec<Vec<u8>>>);

    impl Storage for Finished {
        type Reader = std::io::Empty;
        type Writer = Vec<u8>;
        fn stat(&self, _: &VirtualPath) -> Result<Entry, Failure> {
            Err(Failure::Unsupported)
        }
        fn list(&self, _: &VirtualPath) -> Result<Listing, Failure> {
            Err(Failure::Unsupported)
        }
        fn open_read(
            &self,
            _: &VirtualPath,
            _: u64,
        ) -> Result<(Self::Reader, Option<u64>), Failure> {
            Err(Failure::Unsupported)
        }
        fn open_write(
            &self,
            _: &VirtualPath,
            _: WriteMode,
        ) -> Result<(Self::Writer, Option<VirtualPath>), Failure> {
            Ok((Vec::new(), None))
        }
        fn finish_write(&self, writer: Vec<u8>) -> io::Result<()> {
            self.0.lock().unwrap().push(writer);
            Ok(())
        }
        fn make_dir(&self, _: &VirtualPath) -> Result<(), Failure> {
            Err(Failure::Unsupported)
        }
        fn remove_dir(&self, _: &VirtualPath) -> Result<(), Failure> {
            Err(Failure::Unsupported)
        }
        fn delete(&self, _: &VirtualPath) -> Result<(), Failure> {
            Err(Failure::Unsupported)
        }
        fn rename(&self, _: &VirtualPath, _: &VirtualPath) -> Result<(), Failure> {
            Err(Failure::Unsupported)
        }
        fn set_modified(&self, _: &VirtualPath, _: Timestamp) -> Result<(), Failure> {
            Err(Failure::Unsupported)
        }
        fn chmod(&self, _: &VirtualPath, _: u32) -> Result<(), Failure> {
            Err(Failure::Unsupported)
        }
    }

    /// A file of `len` numbered bytes in a fresh FsStorage root, opened at `offset`.
    fn fs_file(len: usize, offset: u64) -> (tempfile::TempDir, Vec<u8>, File) {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.path().join("f.bin"), &data).unwrap();
        let fs = crate::storage::FsStorage::new(dir.path()).unwrap();
        let path = VirtualPath::root().resolve(b"f.bin").unwrap();
        let (file, _) = fs.open_read(&path, offset).unwrap();
        (dir, data, file)
    }

    fn kind<S: Storage>(r: Result<ZeroCopy<S>, FileSide<S>>) -> &'static str {
        match r {
            Ok(ZeroCopy::Send(_)) => "sendfile",
            Ok(ZeroCopy::Receive(_)) => "splice",
            Err(FileSide::Download(Downloader {
                reader: Source::File(_),
                ..
            })) => "file",
            Err(FileSide::Download(_)) => "listing",
            Err(FileSide::Upload(_)) => "upload",
        }
    }

    #[test]
    fn zero_copy_only_for_plain_type_i_files_the_storage_exposes() {
        use crate::storage::FsStorage;
        let file = |ascii| {
            FileSide::<FsStorage>::Download(Downloader {
                reader: Source::File(fs_file(10, 0).2),
                ascii,
                rate: None,
            })
        };
        let expected = if cfg!(target_os = "linux") {
            "sendfile"
        } else {
            "file"
        };
        assert_eq!(kind(file(false).zero_copy(true)), expected);
        // TLS on the data connection, or TYPE A: the buffered path, with the file.
        assert_eq!(kind(file(false).zero_copy(false)), "file");
        assert_eq!(kind(file(true).zero_copy(true)), "file");
        // A rate limit: the buffered path, which paces its chunks.
        let limited = FileSide::<FsStorage>::Download(Downloader {
            reader: Source::File(fs_file(10, 0).2),
            ascii: false,
            rate: std::num::NonZeroU64::new(1000),
        });
        assert_eq!(kind(limited.zero_copy(true)), "file");
        let now = Timestamp::from_unix(0, 0).unwrap();
        let listing = FileSide::<FsStorage>::Download(Downloader {
            reader: Source::Listing(ListingReader::new(
                Listing::from(Vec::new()),
                ListFormat::Names,
                now,
            )),
            ascii: false,
            rate: None,
        });
        assert_eq!(kind(listing.zero_copy(true)), "listing");
        // A storage whose reader is not a file (the trait's default).
        let other = FileSide::<Finished>::Download(Downloader {
            reader: Source::File(io::empty()),
            ascii: false,
            rate: None,
        });
        assert_eq!(kind(other.zero_copy(true)), "file");
        let upload = FileSide::Upload(Uploader {
            storage: Arc::new(Finished::default()),
            writer: Vec::new(),
            ascii: false,
            rate: None,
            progress: None,
        });
        assert_eq!(kind(upload.zero_copy(true)), "upload");
        // Uploads into FsStorage: spliced when plain and TYPE I.
        let dir = tempfile::tempdir().unwrap();
        let fs = Arc::new(FsStorage::new(dir.path()).unwrap());
        let up = |ascii, rate| {
            let path = VirtualPath::root().resolve(b"up.bin").unwrap();
            let (writer, _) = fs.open_write(&path, WriteMode::Truncate).unwrap();
            FileSide::Upload(Uploader {
                storage: fs.clone(),
                writer,
                ascii,
                rate,
                progress: None,
            })
        };
        let expected = if cfg!(target_os = "linux") {
            "splice"
        } else {
            "upload"
        };
        assert_eq!(kind(up(false, None).zero_copy(true)), expected);
        assert_eq!(kind(up(false, None).zero_copy(false)), "upload");
        assert_eq!(kind(up(true, None).zero_copy(true)), "upload");
        // A rate-limited upload is paced on the buffered path.
        assert_eq!(
            kind(up(false, NonZeroU64::new(1000)).zero_copy(true)),
            "upload"
        );
    }

    fn socket_pair() -> (TcpStream, TcpStream) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (server, _) = l.accept().unwrap();
        // As the adapters hand it over: non-blocking, out of their reactor.
        server.set_nonblocking(true).unwrap();
        (server, client)
    }

    #[test]
    fn sendfile_sends_from_the_offset_counts_progress_and_ends_with_fin() {
        let (_dir, data, file) = fs_file(3 * SENDFILE_CHUNK + 17, 1000);
        let (server, mut client) = socket_pair();
        let progress = Progress::new();
        let (job, guard) = SendFile { file }.start(server, progress.clone());
        let t = std::thread::spawn(move || job.run());
        let mut got = Vec::new();
        client.read_to_end(&mut got).unwrap();
        let outcome = t.join().unwrap();
        drop(guard);
        let want = &data[1000..];
        assert_eq!(outcome, TransferOutcome::Done(want.len() as u64));
        assert_eq!(progress.get(), want.len() as u64);
        assert!(got == want, "the bytes differ");
    }

    #[test]
    fn dropping_the_guard_stops_a_send_the_client_does_not_read() {
        let (_dir, _data, file) = fs_file(64 << 20, 0);
        let (server, client) = socket_pair();
        let progress = Progress::new();
        let (job, guard) = SendFile { file }.start(server, progress.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(job.run()));
        // The socket buffers fill, then nothing moves: the job waits, counting what it sent.
        std::thread::sleep(Duration::from_millis(500));
        assert!(rx.try_recv().is_err(), "the job ended with nobody reading");
        let stalled_at = progress.get();
        assert!(stalled_at > 0 && stalled_at < 64 << 20, "{stalled_at}");
        let dropped = std::time::Instant::now();
        drop(guard);
        let outcome = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(
            outcome,
            TransferOutcome::Failed(TransferError::ConnectionLost)
        );
        // Promptly: the shutdown wakes the blocked send (typically well under SEND_WAIT; the
        // bound leaves room for a loaded machine).
        assert!(
            dropped.elapsed() < Duration::from_secs(1),
            "{:?}",
            dropped.elapsed()
        );
        drop(client);
    }

    #[test]
    fn an_upload_is_finished_only_after_its_clean_end() {
        let storage = Arc::new(Finished::default());
        let up = |ascii| Uploader {
            storage: storage.clone(),
            writer: Vec::new(),
            ascii,
            rate: None,
            progress: None,
        };
        let mut chunks = vec![Chunk::Data(Bytes::from_static(b"a\r\nb")), Chunk::End].into_iter();
        up(true).run(|| chunks.next()).unwrap();
        assert_eq!(storage.0.lock().unwrap().as_slice(), [b"a\nb".to_vec()]);
        // The network side went away without an end: the storage never hears of the file.
        let mut cut = vec![Chunk::Data(Bytes::from_static(b"partial"))].into_iter();
        assert_eq!(
            up(false).run(|| cut.next()),
            Err(TransferError::ConnectionLost)
        );
        assert_eq!(storage.0.lock().unwrap().len(), 1);
    }

    #[test]
    fn downloader_stops_when_the_network_side_is_gone() {
        let data = vec![7u8; TRANSFER_CHUNK * 2 + 5];
        let mut got = Vec::new();
        let d = Downloader {
            reader: &data[..],
            ascii: false,
            rate: None,
        };
        d.run(|b| {
            got.extend_from_slice(&b);
            true
        })
        .unwrap();
        assert_eq!(got, data);
        let d = Downloader {
            reader: &data[..],
            ascii: false,
            rate: None,
        };
        assert_eq!(d.run(|_| false), Err(TransferError::ConnectionLost));
    }
}
