//! The task that drives one client connection: futures glue around [`ClientConn`], which
//! keeps the bookkeeping. Operations arrive from the [`Client`](super::Client) handle as
//! [`Request`]s; results go back on one-shot channels.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use async_channel::{Receiver, Sender};
use async_io::Timer;
use bytes::Bytes;
use ftp_host::client::{ClientAction, ClientConn, ClientReport, Start};
use ftp_host::transfer::Chunk;
use ftp_proto::client::{DataError, LoginInfo, Outcome};
use futures_io::AsyncRead;
use futures_lite::{AsyncWriteExt, FutureExt, StreamExt};
use tracing::Instrument;

use super::data;
use super::tls::Tls;
use super::Error;
use crate::rt::{self, Task};
use crate::stream::{accept_each, timeout, Stream, Tcp};

/// The caller's side of a transfer: the channel a download's bytes go to, or the one an
/// upload's chunks come from (ending with [`Chunk::End`] only when the whole source was
/// read).
#[derive(Debug)]
pub(crate) enum Pipe {
    Download(Sender<Bytes>),
    Upload(Receiver<Chunk>),
}

/// Where an operation's result goes (a one-shot channel).
pub(crate) type Done = Sender<Result<Outcome, Error>>;

/// One operation asked for by the [`Client`](super::Client).
pub(crate) struct Request {
    pub(crate) start: Start,
    pub(crate) pipe: Option<Pipe>,
    pub(crate) done: Done,
}

type Conn = ClientConn<Pipe, Done, Tcp, Task<()>>;
type Report = ClientReport<Tcp>;

/// What the driver wakes up for.
enum Wake {
    Report(Report),
    Request(Option<Request>),
    Timer,
    Read(io::Result<usize>),
}

/// Everything the driver owns.
pub(crate) struct Driver {
    pub(crate) conn: Conn,
    pub(crate) control: Option<Stream>,
    pub(crate) tls: Tls,
    pub(crate) connect_timeout: Duration,
    pub(crate) idle: Duration,
    pub(crate) requests: Pin<Box<Receiver<Request>>>,
    pub(crate) login: Option<Sender<Result<LoginInfo, Error>>>,
    pub(crate) reports: (Sender<Report>, Pin<Box<Receiver<Report>>>),
}

impl Driver {
    /// Runs the session until it closes.
    pub(crate) async fn run(mut self) {
        let mut buf = vec![0u8; 16 * 1024];
        let mut requests_open = true;
        let mut timer = Timer::never();
        loop {
            while let Some(action) = self.conn.poll_action() {
                self.apply(action).await;
            }
            if self.conn.is_closed() {
                break;
            }
            match self.conn.poll_timeout() {
                Some(deadline) => timer.set_at(deadline),
                None => timer = Timer::never(),
            }
            let reading = self.conn.wants_read();
            let wake = poll_fn(|cx| {
                if let Poll::Ready(Some(report)) = self.reports.1.poll_next(cx) {
                    return Poll::Ready(Wake::Report(report));
                }
                if requests_open {
                    if let Poll::Ready(request) = self.requests.poll_next(cx) {
                        return Poll::Ready(Wake::Request(request));
                    }
                }
                if timer.poll(cx).is_ready() {
                    return Poll::Ready(Wake::Timer);
                }
                match self.control.as_mut().filter(|_| reading) {
                    Some(c) => Pin::new(c).poll_read(cx, &mut buf).map(Wake::Read),
                    None => Poll::Pending,
                }
            })
            .await;
            let now = Instant::now();
            match wake {
                Wake::Read(Ok(n)) if n > 0 => self
                    .conn
                    .handle_input(now, buf.get(..n).unwrap_or_default()),
                Wake::Read(_) => self.conn.handle_control_eof(now),
                Wake::Report(report) => self.conn.report(now, report),
                Wake::Request(Some(r)) => self.conn.start(now, r.start, r.pipe, r.done),
                Wake::Request(None) => {
                    requests_open = false;
                    self.conn.quit(now);
                }
                Wake::Timer => self.conn.handle_timeout(now),
            }
        }
        // A request sent while the session was ending is still queued: an async-channel keeps
        // its messages while a sender lives, even with the receiver gone, so its `done` would
        // never be answered or dropped and the caller would wait for ever. Close the queue and
        // fail what is in it (the closed session refuses each operation).
        self.requests.close();
        while let Ok(r) = self.requests.try_recv() {
            self.conn.start(Instant::now(), r.start, r.pipe, r.done);
        }
        self.conn.finish();
        while let Some(action) = self.conn.poll_action() {
            self.apply(action).await;
        }
    }

    /// Carries out one action.
    async fn apply(&mut self, action: ClientAction<Pipe, Done, Tcp>) {
        let tx = self.reports.0.clone();
        let (id, task) = match action {
            ClientAction::Send(bytes) => return self.write(Some(bytes)).await,
            ClientAction::Flush => return self.write(None).await,
            ClientAction::StartTls => return self.start_tls().await,
            ClientAction::LoggedIn(r) => {
                if let Some(login) = self.login.take() {
                    let _ = login.try_send(r);
                }
                return;
            }
            ClientAction::Complete { done, result } => {
                let _ = done.try_send(result);
                return;
            }
            ClientAction::Close => {
                if let Some(mut c) = self.control.take() {
                    let _ = c.close().await;
                }
                return;
            }
            ClientAction::Connect { id, addr } => {
                let limit = self.connect_timeout;
                let task = spawn(async move {
                    let r = timeout(limit, Tcp::connect(addr)).await;
                    let _ = tx
                        .send(ClientReport::Connected(id, r.and_then(|r| r)))
                        .await;
                });
                (id, task)
            }
            ClientAction::Accept { id, listener } => {
                let task = spawn(async move {
                    let accepting = accept_each(listener, |tcp, peer| {
                        let tx = tx.clone();
                        async move { tx.send(ClientReport::Accepted(id, tcp, peer)).await.is_ok() }
                    });
                    if accepting.await.is_err() {
                        let _ = tx.send(ClientReport::Failed(id, DataError::Local)).await;
                    }
                });
                (id, task)
            }
            ClientAction::Transfer {
                id,
                stream,
                tls,
                job,
            } => {
                let tls = tls.then(|| self.tls.clone());
                let task = spawn(data::transfer(id, stream, tls, job, self.idle, tx));
                (id, task)
            }
        };
        self.conn.set_task(id, task);
    }

    /// Writes (or, without bytes, flushes) the control connection; a failure ends it.
    async fn write(&mut self, bytes: Option<Bytes>) {
        let ok = match (self.control.as_mut(), bytes) {
            (Some(c), Some(bytes)) => c.write_all(&bytes).await.is_ok(),
            (Some(c), None) => c.flush().await.is_ok(),
            (None, _) => false,
        };
        if !ok {
            self.control = None;
            self.conn.handle_control_eof(Instant::now());
        }
    }

    async fn start_tls(&mut self) {
        let Some(Stream::Plain(tcp)) = self.control.take() else {
            self.conn.tls_result(Instant::now(), false);
            return;
        };
        match timeout(self.connect_timeout, self.tls.connect(tcp)).await {
            Ok(Ok(s)) => {
                self.control = Some(s);
                self.conn.tls_result(Instant::now(), true);
            }
            // The reason goes to the login's error (a rejected certificate says which).
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "control TLS handshake failed");
                self.conn.tls_failed(Instant::now(), e);
            }
            Err(_) => self.conn.tls_result(Instant::now(), false),
        }
    }
}

/// Spawns a data channel's task in the connection's span; dropping the handle (when the core
/// closes the channel) cancels it.
fn spawn(f: impl std::future::Future<Output = ()> + Send + 'static) -> Task<()> {
    rt::spawn(f.in_current_span())
}
