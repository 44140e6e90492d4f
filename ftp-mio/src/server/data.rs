//! The network side of the server's data connections, as state machines the loop steps
//! whenever their socket or their file side moves: passive listeners, active connects, TLS
//! handshakes and the byte loops of transfers.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use ftp_host::transfer::{
    upload_outcome, Chunk, NetEnd, Progress, SendGuard, TransferOutcome, TRANSFER_CHUNK,
};
use ftp_proto::server::TransferError;
use mio::net::TcpListener;
use mio::Token;

use super::pool::{LoopEnd, Pipe, TryPop};
use crate::sock::{ReadResult, Sock};

/// A data connection with the poller token it is registered under.
#[derive(Debug)]
pub(crate) struct DataSock {
    pub(crate) sock: Sock,
    pub(crate) token: Token,
}

/// Kept by `ServerConn` for a data channel; dropping it (the core closed or aborted the
/// channel) makes the loop drop the channel's task.
pub(crate) struct Task(pub(crate) Rc<Cell<bool>>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

/// One data channel's task in the loop.
pub(crate) struct DataTask {
    pub(crate) alive: Rc<Cell<bool>>,
    pub(crate) work: Work,
}

pub(crate) enum Work {
    /// A passive listener.
    Accepting(TcpListener, Token),
    /// An active-mode connect in progress; then TLS if `tls`.
    Connecting {
        sock: Option<DataSock>,
        deadline: Instant,
        tls: bool,
    },
    /// The server side of a TLS handshake on a data connection.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    Securing {
        sock: Option<DataSock>,
        deadline: Instant,
    },
    /// A download or a listing.
    Sending(Box<Sending>),
    /// A zero-copy download: its connection left the loop for a transfer thread.
    SendingFile(SendingFile),
    /// An upload.
    Receiving(Box<Receiving>),
}

impl Work {
    /// The connection the task owns, if any.
    pub(crate) fn sock_mut(&mut self) -> Option<&mut DataSock> {
        match self {
            Work::Accepting(..) | Work::SendingFile(_) => None,
            Work::Connecting { sock, .. } | Work::Securing { sock, .. } => sock.as_mut(),
            Work::Sending(s) => Some(&mut s.sock),
            Work::Receiving(r) => Some(&mut r.sock),
        }
    }

    /// Its token (the listener's or the connection's).
    pub(crate) fn token(&self) -> Option<Token> {
        match self {
            Work::Accepting(_, t) => Some(*t),
            Work::Connecting { sock, .. } | Work::Securing { sock, .. } => {
                sock.as_ref().map(|s| s.token)
            }
            Work::Sending(s) => Some(s.sock.token),
            Work::Receiving(r) => Some(r.sock.token),
            Work::SendingFile(_) => None,
        }
    }

    /// The deadline of a connect or handshake.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self {
            Work::Connecting { deadline, .. } | Work::Securing { deadline, .. } => Some(*deadline),
            _ => None,
        }
    }
}

/// A download: file chunks from a worker, or bytes all in memory (a listing).
pub(crate) struct Sending {
    pub(crate) sock: DataSock,
    /// The worker's chunks; `None` when the bytes were all in memory ([`Sending::ready`]).
    pub(crate) pipe: Option<LoopEnd<Bytes>>,
    /// The chunk being written, and how much of it is written.
    pub(crate) chunk: Option<(Bytes, usize)>,
    /// How the file side ended, once it has.
    pub(crate) file: Option<Result<(), TransferError>>,
    pub(crate) closing: bool,
    pub(crate) total: u64,
    pub(crate) progress: Progress,
}

impl Sending {
    pub(crate) fn download(sock: DataSock, pipe: Arc<Pipe<Bytes>>, progress: Progress) -> Sending {
        Sending {
            sock,
            pipe: Some(LoopEnd(pipe)),
            chunk: None,
            file: None,
            closing: false,
            total: 0,
            progress,
        }
    }

    /// A download whose bytes are all in memory (a listing, [`FileSide::ready`]): no worker.
    ///
    /// [`FileSide::ready`]: ftp_host::transfer::FileSide::ready
    pub(crate) fn ready(sock: DataSock, bytes: Bytes, progress: Progress) -> Sending {
        Sending {
            sock,
            pipe: None,
            chunk: Some((bytes, 0)),
            file: Some(Ok(())),
            closing: false,
            total: 0,
            progress,
        }
    }

    /// Moves bytes; `(moved, outcome at the end)`.
    pub(crate) fn step(&mut self) -> (bool, Option<TransferOutcome>) {
        let mut moved = false;
        if !self.closing {
            // At most this many chunks per step: the loop has other connections to serve.
            let mut budget = 8;
            loop {
                if let Some((chunk, off)) = self.chunk.as_mut() {
                    let rest = chunk.get(*off..).unwrap_or_default();
                    if rest.is_empty() {
                        self.chunk = None;
                        continue;
                    }
                    match self.sock.sock.write(rest) {
                        Ok(0) => return (moved, None),
                        Ok(n) => {
                            *off += n;
                            self.total += n as u64;
                            self.progress.add(n);
                            moved = true;
                        }
                        Err(_) => {
                            return (
                                true,
                                Some(TransferOutcome::Failed(TransferError::ConnectionLost)),
                            )
                        }
                    }
                    continue;
                }
                if budget == 0 {
                    return (moved, None);
                }
                budget -= 1;
                let next = match self.pipe.as_ref() {
                    Some(p) => p.0.try_pop(),
                    None => TryPop::Closed,
                };
                match next {
                    TryPop::Item(b) => self.chunk = Some((b, 0)),
                    TryPop::Empty => return (moved, None),
                    TryPop::Closed => match self.file {
                        None => return (moved, None),
                        Some(Ok(())) => {
                            self.closing = true;
                            self.sock.sock.close_notify();
                            moved = true;
                            break;
                        }
                        // A file that failed to read is not closed like a complete one (no
                        // close_notify): the connection is dropped.
                        Some(Err(e)) => return (true, Some(TransferOutcome::Failed(e))),
                    },
                }
            }
        }
        match self.sock.sock.flush() {
            Ok(true) => {
                self.sock.sock.shutdown_write();
                (true, Some(TransferOutcome::Done(self.total)))
            }
            Ok(false) => (moved, None),
            Err(_) => (
                true,
                Some(TransferOutcome::Failed(TransferError::ConnectionLost)),
            ),
        }
    }

    /// The file side ended.
    pub(crate) fn file_done(&mut self, r: Result<(), TransferError>) {
        self.file = Some(r);
    }
}

/// A zero-copy transfer run whole by a transfer thread: a download sent with `sendfile(2)`
/// ([`ftp_host::transfer::SendJob`]) or an upload received with `splice(2)`
/// ([`ftp_host::transfer::ReceiveJob`]); the loop only waits for it to end. Dropping it (the
/// core closed or aborted the channel) drops the guard, which stops the thread and shuts the
/// connection down.
pub(crate) struct SendingFile {
    _guard: SendGuard,
    progress: Progress,
    end: Option<Result<(), TransferError>>,
}

impl SendingFile {
    pub(crate) fn new(guard: SendGuard, progress: Progress) -> SendingFile {
        SendingFile {
            _guard: guard,
            progress,
            end: None,
        }
    }

    /// The transfer thread ended.
    pub(crate) fn file_done(&mut self, r: Result<(), TransferError>) {
        self.end = Some(r);
    }

    /// `(moved, outcome at the end)`: the thread's verdict, once it has one. Every byte it
    /// sent is in `progress`.
    pub(crate) fn step(&mut self) -> (bool, Option<TransferOutcome>) {
        match self.end.take() {
            Some(Ok(())) => (true, Some(TransferOutcome::Done(self.progress.get()))),
            Some(Err(e)) => (true, Some(TransferOutcome::Failed(e))),
            None => (false, None),
        }
    }
}

/// An upload: network bytes to the worker's [`Uploader`](ftp_host::transfer::Uploader).
pub(crate) struct Receiving {
    pub(crate) sock: DataSock,
    pub(crate) pipe: LoopEnd<Chunk>,
    buf: Vec<u8>,
    fill: usize,
    /// A chunk the pipe had no room for.
    pending: Option<Chunk>,
    /// How the network side ended, once it has.
    net: Option<NetEnd>,
    closed_pipe: bool,
    file: Option<Result<(), TransferError>>,
    total: u64,
    progress: Progress,
}

impl Receiving {
    pub(crate) fn new(sock: DataSock, pipe: Arc<Pipe<Chunk>>, progress: Progress) -> Receiving {
        Receiving {
            sock,
            pipe: LoopEnd(pipe),
            buf: vec![0u8; TRANSFER_CHUNK],
            fill: 0,
            pending: None,
            net: None,
            closed_pipe: false,
            file: None,
            total: 0,
            progress,
        }
    }

    pub(crate) fn file_done(&mut self, r: Result<(), TransferError>) {
        self.file = Some(r);
    }

    /// Hands `pending` to the worker; false if the pipe is full.
    fn offer(&mut self) -> bool {
        let Some(chunk) = self.pending.take() else {
            return true;
        };
        match self.pipe.0.try_push(chunk) {
            Ok(true) => true,
            Ok(false) => {
                // The file side failed: its error is the verdict; stop reading.
                if self.net.is_none() {
                    self.net = Some(NetEnd::Eof);
                }
                true
            }
            Err(chunk) => {
                self.pending = Some(chunk);
                false
            }
        }
    }

    fn take_buffer(&mut self) -> Option<Chunk> {
        if self.fill == 0 {
            return None;
        }
        let b = Bytes::copy_from_slice(self.buf.get(..self.fill).unwrap_or_default());
        self.fill = 0;
        Some(Chunk::Data(b))
    }

    /// Moves bytes; `(moved, outcome at the end)`.
    pub(crate) fn step(&mut self) -> (bool, Option<TransferOutcome>) {
        let tls = self.sock.sock.is_tls();
        let mut moved = false;
        loop {
            if !self.offer() {
                break;
            }
            if let Some(end) = self.net {
                if !self.closed_pipe {
                    if end.is_clean() && self.pending.is_none() {
                        // The last data chunk went out; now the end marker.
                        self.pending = Some(Chunk::End);
                        self.closed_pipe = true;
                        moved = true;
                        continue;
                    }
                    if end == NetEnd::Lost {
                        // No End: the worker's Uploader fails and never finishes the file.
                        self.pipe.0.close_producer();
                        self.closed_pipe = true;
                    }
                } else {
                    self.pipe.0.close_producer();
                }
                break;
            }
            let space = self.buf.get_mut(self.fill..).unwrap_or_default();
            match self.sock.sock.read(space) {
                Ok(ReadResult::Data(n)) => {
                    self.fill += n;
                    self.total += n as u64;
                    self.progress.add(n);
                    moved = true;
                    if self.fill == self.buf.len() {
                        self.pending = self.take_buffer();
                    }
                }
                Ok(ReadResult::WouldBlock) => {
                    self.pending = self.take_buffer();
                    if self.pending.is_none() {
                        break;
                    }
                }
                Ok(ReadResult::Eof) => {
                    self.net = Some(NetEnd::Eof);
                    self.pending = self.take_buffer();
                    moved = true;
                }
                Err(e) => {
                    let end = NetEnd::from_read_error(&e, tls);
                    self.net = Some(end);
                    if end.is_clean() {
                        self.pending = self.take_buffer();
                    } else {
                        self.fill = 0;
                    }
                    moved = true;
                }
            }
        }
        match (self.net, self.file) {
            (Some(net), Some(file)) if self.pending.is_none() => {
                // Close our side too (with close_notify under TLS), best effort.
                self.sock.sock.close_notify();
                let _ = self.sock.sock.flush();
                self.sock.sock.shutdown_write();
                (true, Some(upload_outcome(net, file, self.total)))
            }
            (None, Some(Err(e))) => (true, Some(TransferOutcome::Failed(e))),
            _ => (moved, None),
        }
    }
}
