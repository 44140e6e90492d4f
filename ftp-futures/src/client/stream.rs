//! The caller's side of a transfer: [`RetrStream`] reads a download as an `AsyncRead`, and
//! [`feed_upload`] copies an `AsyncRead` into an upload while the operation runs.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use async_channel::{Receiver, Sender};
use bytes::{Buf, Bytes};
use ftp_host::transfer::Chunk;
use ftp_proto::client::Outcome;
use futures_io::{AsyncRead, AsyncWrite};
use futures_lite::future::or;
use futures_lite::{AsyncReadExt, AsyncWriteExt, StreamExt};

use super::data::CHUNK;
use super::Error;

/// Where an operation's result arrives (a one-shot channel).
pub(crate) type Done = Receiver<Result<Outcome, Error>>;

/// Waits for an operation's result.
pub(crate) async fn outcome(done: &Done) -> Result<Outcome, Error> {
    done.recv().await.unwrap_or(Err(Error::Closed))
}

/// A download in progress, from [`Client::retr`](super::Client::retr): read it to its end.
///
/// The end of the stream comes only once the server has confirmed the transfer; a transfer
/// that failed (a 4xx/5xx reply, a broken data connection) ends the stream with an
/// [`io::Error`] whose inner error is the [`Error`] (see [`Error`]'s `reply`). Dropping the
/// stream early fails the transfer; call [`Operations::abort`](super::Operations::abort) to
/// stop it cleanly.
#[derive(Debug)]
pub struct RetrStream {
    /// The data as it arrives; `None` once it has ended.
    chunks: Option<Pin<Box<Receiver<Bytes>>>>,
    /// What is left of the chunk being read.
    current: Bytes,
    /// The operation's result, until it has arrived.
    done: Option<Pin<Box<Done>>>,
    outcome: Option<Outcome>,
}

impl RetrStream {
    pub(crate) fn new(chunks: Receiver<Bytes>, done: Done) -> Self {
        RetrStream {
            chunks: Some(Box::pin(chunks)),
            current: Bytes::new(),
            done: Some(Box::pin(done)),
            outcome: None,
        }
    }

    /// The operation's outcome ([`Outcome::Transferred`]), once the stream has ended well.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    /// Reads and discards the rest of the stream, then returns the operation's outcome.
    pub async fn finish(mut self) -> Result<Outcome, Error> {
        while poll_fn(|cx| self.poll_chunk(cx)).await?.is_some() {}
        self.outcome.take().ok_or(Error::Closed)
    }

    /// Writes the rest of the stream into `dst` and flushes it; returns the bytes written.
    pub(crate) async fn copy_to<W: AsyncWrite + Unpin>(mut self, mut dst: W) -> Result<u64, Error> {
        let mut total = 0u64;
        while let Some(chunk) = poll_fn(|cx| self.poll_chunk(cx)).await? {
            dst.write_all(&chunk).await.map_err(Error::Local)?;
            total += chunk.len() as u64;
        }
        dst.flush().await.map_err(Error::Local)?;
        Ok(total)
    }

    /// The next chunk; at the end of the data, the operation's result: `None` when it
    /// succeeded (then [`outcome`](Self::outcome) has it), its error otherwise.
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, Error>> {
        if !self.current.is_empty() {
            return Poll::Ready(Ok(Some(std::mem::take(&mut self.current))));
        }
        if let Some(chunks) = self.chunks.as_mut() {
            match ready!(chunks.poll_next(cx)) {
                Some(chunk) => return Poll::Ready(Ok(Some(chunk))),
                None => self.chunks = None,
            }
        }
        let Some(done) = self.done.as_mut() else {
            return Poll::Ready(Ok(None));
        };
        let result = ready!(done.poll_next(cx)).unwrap_or(Err(Error::Closed));
        self.done = None;
        Poll::Ready(result.map(|outcome| {
            self.outcome = Some(outcome);
            None
        }))
    }
}

impl AsyncRead for RetrStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut chunk = match ready!(this.poll_chunk(cx)) {
            Ok(Some(chunk)) => chunk,
            Ok(None) => return Poll::Ready(Ok(0)),
            Err(e) => return Poll::Ready(Err(io::Error::other(e))),
        };
        let n = buf.len().min(chunk.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        chunk.advance(n);
        this.current = chunk;
        Poll::Ready(Ok(n))
    }
}

/// Copies `src` into an upload's channel, ending it with [`Chunk::End`] only when all of
/// `src` was read; then waits for the operation. When the operation ends first (refused
/// before any byte moved), its result is returned at once.
pub(crate) async fn feed_upload<R: AsyncRead + Unpin>(
    mut src: R,
    pipe: Sender<Chunk>,
    done: Done,
) -> Result<Outcome, Error> {
    let copy = async move {
        let mut buf = vec![0u8; CHUNK];
        loop {
            let chunk = match src.read(&mut buf).await.map_err(Error::Local)? {
                0 => Chunk::End,
                n => Chunk::Data(Bytes::copy_from_slice(buf.get(..n).unwrap_or_default())),
            };
            let end = chunk == Chunk::End;
            // A send that fails means the transfer is over (refused or failed): its result
            // says why.
            if pipe.send(chunk).await.is_err() || end {
                return Ok(());
            }
        }
    };
    enum First {
        Copied(Result<(), Error>),
        Ended(Result<Outcome, Error>),
    }
    let first = or(async { First::Copied(copy.await) }, async {
        First::Ended(outcome(&done).await)
    });
    match first.await {
        First::Ended(result) => result,
        First::Copied(Ok(())) => outcome(&done).await,
        First::Copied(Err(e)) => {
            // The channel ended without `End`, which fails the upload; wait for the session
            // to report it, but return the local cause.
            let _ = done.recv().await;
            Err(e)
        }
    }
}
