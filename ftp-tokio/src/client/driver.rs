//! The task that drives one client connection: tokio glue around [`ClientConn`], which keeps
//! the bookkeeping. Operations arrive from the [`Client`](super::Client) handle as
//! [`Request`]s; results go back on oneshots.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ftp_host::client::{ClientAction, ClientConn, ClientJob, ClientReport, Start};
use ftp_proto::client::{ClientSession, DataError, LoginInfo, Outcome};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::data::{self, DataTls, UploadSource};
use super::tls::{self, Stream};
use super::Error;

/// The caller's side of a transfer.
#[derive(Debug)]
pub(crate) enum Pipe {
    Download(DuplexStream),
    Upload(UploadSource),
}

/// Where an operation's result goes.
pub(crate) type Done = oneshot::Sender<Result<Outcome, Error>>;

/// One operation asked for by the [`Client`](super::Client).
pub(crate) struct Request {
    pub(crate) start: Start,
    pub(crate) pipe: Option<Pipe>,
    pub(crate) done: Done,
}

/// A data channel's task; dropping it aborts the task.
pub(crate) struct Task(JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

type Conn = ClientConn<Pipe, Done, TcpStream, Task>;

/// Everything the driver owns.
pub(crate) struct Driver {
    pub(crate) conn: Conn,
    pub(crate) control: Option<Stream>,
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
    pub(crate) name: ServerName<'static>,
    pub(crate) connect_timeout: Duration,
    pub(crate) idle: Duration,
    pub(crate) requests: mpsc::Receiver<Request>,
    pub(crate) login: Option<oneshot::Sender<Result<LoginInfo, Error>>>,
    reports_tx: mpsc::Sender<ClientReport<TcpStream>>,
    reports_rx: mpsc::Receiver<ClientReport<TcpStream>>,
}

impl Driver {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        session: ClientSession,
        control: Stream,
        tls: Option<Arc<rustls::ClientConfig>>,
        name: ServerName<'static>,
        connect_timeout: Duration,
        idle: Duration,
        requests: mpsc::Receiver<Request>,
        login: oneshot::Sender<Result<LoginInfo, Error>>,
    ) -> std::io::Result<Driver> {
        let local_ip = control
            .tcp()
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotConnected))?
            .local_addr()?
            .ip();
        let (reports_tx, reports_rx) = mpsc::channel(64);
        Ok(Driver {
            conn: ClientConn::new(session, local_ip),
            control: Some(control),
            tls,
            name,
            connect_timeout,
            idle,
            requests,
            login: Some(login),
            reports_tx,
            reports_rx,
        })
    }

    /// Runs the session until it closes.
    pub(crate) async fn run(mut self) {
        let mut buf = vec![0u8; 16 * 1024];
        let mut requests_open = true;
        loop {
            while let Some(action) = self.conn.poll_action() {
                self.apply(action).await;
            }
            if self.conn.is_closed() {
                break;
            }
            let deadline = self.conn.poll_timeout();
            let sleep = tokio::time::sleep_until(
                deadline.map_or_else(far_future, tokio::time::Instant::from_std),
            );
            let reading = self.conn.wants_read() && self.control.is_some();
            tokio::select! {
                r = read_control(self.control.as_mut(), &mut buf), if reading => {
                    let now = Instant::now();
                    match r {
                        Ok(0) | Err(_) => self.conn.handle_control_eof(now),
                        Ok(n) => self.conn.handle_input(now, buf.get(..n).unwrap_or_default()),
                    }
                }
                Some(r) = self.reports_rx.recv() => self.conn.report(Instant::now(), r),
                req = self.requests.recv(), if requests_open => match req {
                    Some(r) => self.conn.start(Instant::now(), r.start, r.pipe, r.done),
                    None => {
                        requests_open = false;
                        self.conn.quit(Instant::now());
                    }
                },
                _ = sleep, if deadline.is_some() => self.conn.handle_timeout(Instant::now()),
            }
        }
        self.conn.finish();
        while let Some(action) = self.conn.poll_action() {
            self.apply(action).await;
        }
    }

    /// Carries out one action.
    async fn apply(&mut self, action: ClientAction<Pipe, Done, TcpStream>) {
        match action {
            ClientAction::Send(bytes) => {
                let ok = match self.control.as_mut() {
                    Some(c) => c.write_all(&bytes).await.is_ok(),
                    None => false,
                };
                if !ok {
                    self.control_failed();
                }
            }
            ClientAction::Flush => {
                let ok = match self.control.as_mut() {
                    Some(c) => c.flush().await.is_ok(),
                    None => false,
                };
                if !ok {
                    self.control_failed();
                }
            }
            ClientAction::StartTls => self.start_tls().await,
            ClientAction::LoggedIn(r) => {
                if let Some(tx) = self.login.take() {
                    let _ = tx.send(r);
                }
            }
            ClientAction::Complete { done, result } => {
                let _ = done.send(result);
            }
            ClientAction::Close => {
                if let Some(mut c) = self.control.take() {
                    let _ = c.shutdown().await;
                }
            }
            ClientAction::Connect { id, addr } => {
                let tx = self.reports_tx.clone();
                let limit = self.connect_timeout;
                let task = tokio::spawn(async move {
                    let r = match tokio::time::timeout(limit, TcpStream::connect(addr)).await {
                        Ok(r) => r,
                        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
                    };
                    let _ = tx.send(ClientReport::Connected(id, r)).await;
                });
                self.conn.set_task(id, Task(task));
            }
            ClientAction::Accept { id, listener } => {
                let tx = self.reports_tx.clone();
                let task = tokio::spawn(async move {
                    let Ok(listener) = TcpListener::from_std(listener) else {
                        let _ = tx.send(ClientReport::Failed(id, DataError::Local)).await;
                        return;
                    };
                    accept_loop(listener, |tcp, peer| {
                        let tx = tx.clone();
                        async move { tx.send(ClientReport::Accepted(id, tcp, peer)).await.is_ok() }
                    })
                    .await;
                });
                self.conn.set_task(id, Task(task));
            }
            ClientAction::Transfer {
                id,
                stream,
                tls,
                job,
            } => {
                let data_tls = if tls {
                    match self.tls.clone() {
                        Some(config) => Some(DataTls {
                            config,
                            name: self.name.clone(),
                        }),
                        None => {
                            self.conn
                                .report(Instant::now(), ClientReport::Failed(id, DataError::Tls));
                            return;
                        }
                    }
                } else {
                    None
                };
                let job = match job {
                    ClientJob::Listing => data::Job::Listing,
                    ClientJob::Download(Pipe::Download(p)) => data::Job::Download(p),
                    ClientJob::Upload(Pipe::Upload(s)) => data::Job::Upload(s),
                    _ => {
                        self.conn
                            .report(Instant::now(), ClientReport::Failed(id, DataError::Local));
                        return;
                    }
                };
                let task = tokio::spawn(data::transfer(
                    id,
                    stream,
                    data_tls,
                    job,
                    self.idle,
                    self.reports_tx.clone(),
                ));
                self.conn.set_task(id, Task(task));
            }
        }
    }

    fn control_failed(&mut self) {
        self.control = None;
        self.conn.handle_control_eof(Instant::now());
    }

    async fn start_tls(&mut self) {
        match (self.control.take(), self.tls.clone()) {
            (Some(Stream::Plain(tcp)), Some(config)) => {
                let handshake = tls::connect(&config, &self.name, tcp);
                match tokio::time::timeout(self.connect_timeout, handshake).await {
                    Ok(Ok(s)) => {
                        self.control = Some(s);
                        self.conn.tls_result(Instant::now(), true);
                    }
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "control TLS handshake failed");
                        self.conn.tls_failed(Instant::now(), e);
                    }
                    Err(_) => self.conn.tls_result(Instant::now(), false),
                }
            }
            (other, _) => {
                self.control = other;
                self.conn.tls_result(Instant::now(), false);
            }
        }
    }
}

/// Reports every connection `listener` accepts until `report` says stop or the task is
/// aborted.
async fn accept_loop<F, Fut>(listener: TcpListener, mut report: F)
where
    F: FnMut(TcpStream, SocketAddr) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    loop {
        match listener.accept().await {
            Ok((tcp, peer)) => {
                if !report(tcp, peer).await {
                    return;
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn read_control(control: Option<&mut Stream>, buf: &mut [u8]) -> std::io::Result<usize> {
    match control {
        Some(c) => c.read(buf).await,
        None => std::future::pending().await,
    }
}

fn far_future() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(86400 * 365)
}
