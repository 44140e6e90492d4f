//! The caller's side of a transfer: [`RetrStream`] reads a download as an `AsyncRead`, and
//! [`feed_upload`] copies an `AsyncRead` into an upload while the operation runs.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use ftp_proto::client::Outcome;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, DuplexStream, ReadBuf};
use tokio::sync::oneshot;

use super::Error;

type Done = oneshot::Receiver<Result<Outcome, Error>>;

/// A download in progress, from [`Client::retr`](super::Client::retr): read it to its end.
///
/// The end of the stream comes only once the server has confirmed the transfer; a transfer
/// that failed (a 4xx/5xx reply, a broken data connection) ends the stream with an
/// [`io::Error`] whose inner error is the [`Error`] (see [`Error`]'s `reply`). Dropping the
/// stream early fails the transfer; call [`Operations::abort`](super::Operations::abort) to stop it
/// cleanly.
#[derive(Debug)]
pub struct RetrStream {
    pipe: DuplexStream,
    done: Option<Done>,
    outcome: Option<Outcome>,
}

impl RetrStream {
    pub(crate) fn new(pipe: DuplexStream, done: Done) -> Self {
        RetrStream {
            pipe,
            done: Some(done),
            outcome: None,
        }
    }

    /// The operation's outcome ([`Outcome::Transferred`]), once the stream has ended well.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    /// Reads and discards the rest of the stream, then returns the operation's outcome.
    pub async fn finish(mut self) -> Result<Outcome, Error> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match self.read(&mut buf).await {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => return Err(into_error(e)),
            }
        }
        self.outcome.take().ok_or(Error::Closed)
    }
}

/// Turns an error from [`RetrStream`] back into the client's [`Error`].
pub(crate) fn into_error(e: io::Error) -> Error {
    if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
        if let Some(inner) = e.into_inner() {
            if let Ok(err) = inner.downcast::<Error>() {
                return *err;
            }
        }
        return Error::Closed;
    }
    Error::Local(e)
}

impl AsyncRead for RetrStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        if this.done.is_some() {
            ready!(Pin::new(&mut this.pipe).poll_read(cx, buf))?;
            if buf.filled().len() > before || buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
        }
        // End of the pipe: the stream ends as the operation did.
        let Some(done) = this.done.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let result = ready!(Pin::new(done).poll(cx));
        this.done = None;
        match result {
            Ok(Ok(outcome)) => {
                this.outcome = Some(outcome);
                Poll::Ready(Ok(()))
            }
            Ok(Err(e)) => Poll::Ready(Err(io::Error::other(e))),
            Err(_) => Poll::Ready(Err(io::Error::other(Error::Closed))),
        }
    }
}

use std::future::Future;

/// Copies `src` into an upload's pipe, marking the upload complete only when all of `src`
/// was read; then waits for the operation. When the operation ends first (refused before
/// any byte moved), its result is returned at once.
pub(crate) async fn feed_upload<R: AsyncRead + Unpin>(
    mut src: R,
    mut pipe: DuplexStream,
    complete: Arc<AtomicBool>,
    mut done: Done,
) -> Result<Outcome, Error> {
    let copy = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = src.read(&mut buf).await.map_err(Error::Local)?;
            if n == 0 {
                break;
            }
            let chunk = buf.get(..n).unwrap_or_default();
            if pipe.write_all(chunk).await.is_err() {
                // The transfer is over (refused or failed); its result says why.
                return Ok(());
            }
        }
        complete.store(true, Ordering::Release);
        let _ = pipe.shutdown().await;
        Ok::<(), Error>(())
    };
    tokio::pin!(copy);
    let mut copying = true;
    loop {
        tokio::select! {
            r = &mut copy, if copying => {
                copying = false;
                if let Err(e) = r {
                    // Dropping the pipe without the complete flag fails the upload; wait for
                    // the session to report it, but return the local cause.
                    let _ = (&mut done).await;
                    return Err(e);
                }
            }
            r = &mut done => return r.unwrap_or(Err(Error::Closed)),
        }
    }
}
