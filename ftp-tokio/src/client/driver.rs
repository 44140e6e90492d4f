//! The task that drives one [`ClientSession`] by the core's contract: it feeds control bytes,
//! data-channel outcomes and the passing of time, drains `poll_output` in order after each,
//! carries every output out, and arms one timer from `poll_timeout`. Operations arrive from
//! the [`Client`](super::Client) handle as [`Request`]s; results go back on oneshots.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ftp_proto::client::{
    Accept, ClientError, ClientEvent, ClientOutput, ClientSession, DataError, DataId, DataIntent,
    DataProtection, Direction, LoginInfo, OpError, OpId, Outcome,
};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::data::{self, DataTls, Event, Job, UploadSource};
use super::tls::{self, Stream};
use super::Error;

/// Starts an operation on the session.
pub(crate) type Start =
    Box<dyn FnOnce(&mut ClientSession, Instant) -> Result<OpId, ClientError> + Send>;

/// Where an operation's bytes come from or go to.
#[derive(Debug)]
pub(crate) enum Pipe {
    None,
    Download(DuplexStream),
    Upload(UploadSource),
}

/// One operation asked for by the [`Client`](super::Client).
pub(crate) struct Request {
    pub(crate) start: Start,
    pub(crate) pipe: Pipe,
    pub(crate) done: oneshot::Sender<Result<Outcome, Error>>,
}

/// A queued operation waiting for its completion.
struct Pending {
    done: oneshot::Sender<Result<Outcome, Error>>,
    pipe: Pipe,
}

/// A data channel's state in the adapter.
#[derive(Default)]
struct Channel {
    /// The connected (or accepted) data connection, before its transfer starts.
    tcp: Option<TcpStream>,
    protection: Option<DataProtection>,
    /// The transfer the session asked for before the connection was up.
    waiting: Option<(OpId, Direction, bool)>,
    /// The connect, accept or transfer task.
    task: Option<JoinHandle<()>>,
    /// The active-mode listener's accept task.
    listener: Option<JoinHandle<()>>,
}

impl Drop for Channel {
    fn drop(&mut self) {
        for t in [self.task.take(), self.listener.take()]
            .into_iter()
            .flatten()
        {
            t.abort();
        }
    }
}

/// Everything the driver owns.
pub(crate) struct Driver {
    pub(crate) session: ClientSession,
    pub(crate) control: Option<Stream>,
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
    pub(crate) name: ServerName<'static>,
    pub(crate) local_ip: IpAddr,
    pub(crate) connect_timeout: Duration,
    pub(crate) idle: Duration,
    pub(crate) requests: mpsc::Receiver<Request>,
    pub(crate) login: Option<oneshot::Sender<Result<LoginInfo, Error>>>,
    events_tx: mpsc::Sender<Event>,
    events_rx: mpsc::Receiver<Event>,
    pending: HashMap<OpId, Pending>,
    channels: HashMap<DataId, Channel>,
    requests_open: bool,
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
        let local_ip = control.tcp().local_addr()?.ip();
        let (events_tx, events_rx) = mpsc::channel(64);
        Ok(Driver {
            session,
            control: Some(control),
            tls,
            name,
            local_ip,
            connect_timeout,
            idle,
            requests,
            login: Some(login),
            events_tx,
            events_rx,
            pending: HashMap::new(),
            channels: HashMap::new(),
            requests_open: true,
        })
    }

    /// Runs the session until it closes.
    pub(crate) async fn run(mut self) {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            while let Some(out) = self.session.poll_output() {
                self.apply(out).await;
            }
            if self.session.is_closed() {
                break;
            }
            let deadline = self.session.poll_timeout();
            let sleep = tokio::time::sleep_until(
                deadline.map_or_else(far_future, tokio::time::Instant::from_std),
            );
            let reading = self.session.wants_read() && self.control.is_some();
            tokio::select! {
                r = read_control(self.control.as_mut(), &mut buf), if reading => {
                    let now = Instant::now();
                    let r = match r {
                        Ok(0) | Err(_) => self.session.handle_event(now, ClientEvent::ControlEof),
                        Ok(n) => self.session.handle_input(now, buf.get(..n).unwrap_or_default()),
                    };
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "control input refused");
                    }
                }
                Some(ev) = self.events_rx.recv() => self.on_event(ev),
                req = self.requests.recv(), if self.requests_open => self.on_request(req),
                _ = sleep, if deadline.is_some() => self.session.handle_timeout(Instant::now()),
            }
        }
        self.finish();
    }

    fn on_request(&mut self, req: Option<Request>) {
        let now = Instant::now();
        let Some(req) = req else {
            // The Client handle is gone: finish what is queued, then QUIT.
            self.requests_open = false;
            if self.session.quit(now).is_err() {
                self.session_closed_by_us();
            }
            return;
        };
        match (req.start)(&mut self.session, now) {
            Ok(id) => {
                self.pending.insert(
                    id,
                    Pending {
                        done: req.done,
                        pipe: req.pipe,
                    },
                );
            }
            Err(e) => {
                let _ = req.done.send(Err(Error::Session(e)));
            }
        }
    }

    /// The session refused QUIT because it is already closed: nothing more to do.
    fn session_closed_by_us(&mut self) {
        self.control = None;
    }

    fn on_event(&mut self, ev: Event) {
        let now = Instant::now();
        let r = match ev {
            Event::Connected(id, r) => {
                let Some(ch) = self.channels.get_mut(&id) else {
                    return;
                };
                ch.task = None;
                match r {
                    Ok(tcp) => {
                        ch.tcp = Some(tcp);
                        let r = self
                            .session
                            .handle_event(now, ClientEvent::DataConnected { id });
                        self.start_waiting(id);
                        r
                    }
                    Err(e) => {
                        tracing::debug!(%id, error = %e, "data connect failed");
                        self.channels.remove(&id);
                        self.session
                            .handle_event(now, ClientEvent::DataFailed { id })
                    }
                }
            }
            Event::Accepted(id, tcp, peer) => {
                if !self.channels.contains_key(&id) {
                    return;
                }
                match self.session.handle_data_accept(now, id, peer) {
                    Ok(Accept::Use { protection }) => {
                        if let Some(ch) = self.channels.get_mut(&id) {
                            if let Some(l) = ch.listener.take() {
                                l.abort();
                            }
                            ch.tcp = Some(tcp);
                            ch.protection = Some(protection);
                        }
                        self.start_waiting(id);
                        Ok(())
                    }
                    Ok(Accept::Reject) => {
                        tracing::debug!(%id, %peer, "data connection rejected");
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            Event::Listing(id, bytes) => {
                if !self.channels.contains_key(&id) {
                    return;
                }
                self.session.handle_listing_data(now, id, &bytes)
            }
            Event::Done(id, bytes) => {
                if self.channels.remove(&id).is_none() {
                    return;
                }
                self.session
                    .handle_event(now, ClientEvent::TransferDone { id, bytes })
            }
            Event::Failed(id, error) => {
                if self.channels.remove(&id).is_none() {
                    return;
                }
                self.session
                    .handle_event(now, ClientEvent::TransferFailed { id, error })
            }
        };
        if let Err(e) = r {
            tracing::debug!(error = %e, "data event refused");
        }
    }

    /// Carries out one output of the session.
    async fn apply(&mut self, out: ClientOutput) {
        match out {
            ClientOutput::Send(bytes) => {
                let ok = match self.control.as_mut() {
                    Some(c) => c.write_all(&bytes).await.is_ok() && c.flush().await.is_ok(),
                    None => false,
                };
                if !ok {
                    self.control = None;
                    let _ = self
                        .session
                        .handle_event(Instant::now(), ClientEvent::ControlEof);
                }
            }
            ClientOutput::StartTls => self.start_tls().await,
            ClientOutput::Data(intent) => self.data_intent(intent),
            ClientOutput::LoggedIn(info) => {
                if let Some(tx) = self.login.take() {
                    let _ = tx.send(Ok(*info));
                }
            }
            ClientOutput::Completed(id, result) => {
                if let Some(p) = self.pending.remove(&id) {
                    let _ = p.done.send(result.map_err(Error::from));
                }
            }
            ClientOutput::Unsolicited(reply) => {
                tracing::info!(code = %reply.code(), "unsolicited reply");
            }
            ClientOutput::Error(e) => {
                tracing::debug!(error = %e, "session ended");
                if let Some(tx) = self.login.take() {
                    let _ = tx.send(Err(Error::Session(e)));
                }
            }
            ClientOutput::Close => {
                if let Some(mut c) = self.control.take() {
                    let _ = c.shutdown().await;
                }
            }
            _ => {}
        }
    }

    async fn start_tls(&mut self) {
        let now = Instant::now();
        let event = match (self.control.take(), self.tls.clone()) {
            (Some(Stream::Plain(tcp)), Some(config)) => {
                let handshake = tls::connect(&config, &self.name, tcp);
                match tokio::time::timeout(self.connect_timeout, handshake).await {
                    Ok(Ok(s)) => {
                        self.control = Some(s);
                        ClientEvent::TlsEstablished
                    }
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "control TLS handshake failed");
                        ClientEvent::TlsFailed
                    }
                    Err(_) => ClientEvent::TlsFailed,
                }
            }
            (other, _) => {
                self.control = other;
                ClientEvent::TlsFailed
            }
        };
        let _ = self.session.handle_event(now, event);
    }

    fn data_intent(&mut self, intent: DataIntent) {
        let now = Instant::now();
        match intent {
            DataIntent::Connect {
                id,
                addr,
                protection,
            } => {
                let task = tokio::spawn(data::connect(
                    id,
                    addr,
                    self.connect_timeout,
                    self.events_tx.clone(),
                ));
                let mut ch = Channel::default();
                ch.protection = Some(protection);
                ch.task = Some(task);
                self.channels.insert(id, ch);
            }
            DataIntent::Listen { id } => {
                let bound = std::net::TcpListener::bind(SocketAddr::new(self.local_ip, 0))
                    .and_then(|l| {
                        l.set_nonblocking(true)?;
                        TcpListener::from_std(l)
                    })
                    .and_then(|l| Ok((l.local_addr()?, l)));
                match bound {
                    Ok((addr, listener)) => {
                        let task =
                            tokio::spawn(data::accept_loop(id, listener, self.events_tx.clone()));
                        let mut ch = Channel::default();
                        ch.listener = Some(task);
                        self.channels.insert(id, ch);
                        let _ = self
                            .session
                            .handle_event(now, ClientEvent::Listening { id, addr });
                    }
                    Err(e) => {
                        tracing::debug!(%id, error = %e, "cannot listen for the data connection");
                        let _ = self
                            .session
                            .handle_event(now, ClientEvent::DataFailed { id });
                    }
                }
            }
            DataIntent::Transfer {
                id,
                op,
                direction,
                listing,
            } => {
                let ch = self.channels.entry(id).or_default();
                ch.waiting = Some((op, direction, listing));
                self.start_waiting(id);
            }
            DataIntent::Abort { id } | DataIntent::Close { id } => {
                // Dropping the channel aborts its tasks, which drops its sockets.
                self.channels.remove(&id);
            }
            _ => {}
        }
    }

    /// Starts the transfer of channel `id` once both its connection and the session's
    /// Transfer intent are there.
    fn start_waiting(&mut self, id: DataId) {
        let Some(ch) = self.channels.get_mut(&id) else {
            return;
        };
        if ch.tcp.is_none() || ch.waiting.is_none() {
            return;
        }
        let (Some(tcp), Some((op, direction, listing))) = (ch.tcp.take(), ch.waiting.take()) else {
            return;
        };
        let job = if listing {
            Some(Job::Listing)
        } else {
            match (
                direction,
                self.pending
                    .get_mut(&op)
                    .map(|p| std::mem::replace(&mut p.pipe, Pipe::None)),
            ) {
                (Direction::Download, Some(Pipe::Download(p))) => Some(Job::Download(p)),
                (Direction::Upload, Some(Pipe::Upload(s))) => Some(Job::Upload(s)),
                _ => None,
            }
        };
        let Some(job) = job else {
            tracing::warn!(%id, %op, "no source or sink for this transfer");
            let _ = self.events_tx.try_send(Event::Failed(id, DataError::Local));
            return;
        };
        let tls = match ch.protection {
            Some(DataProtection::Tls) => self.tls.clone().map(|config| DataTls {
                config,
                name: self.name.clone(),
            }),
            _ => None,
        };
        if ch.protection == Some(DataProtection::Tls) && tls.is_none() {
            let _ = self.events_tx.try_send(Event::Failed(id, DataError::Tls));
            return;
        }
        ch.task = Some(tokio::spawn(data::transfer(
            id,
            tcp,
            tls,
            job,
            self.idle,
            self.events_tx.clone(),
        )));
    }

    /// The session is over: every operation still waiting learns it.
    fn finish(&mut self) {
        self.channels.clear();
        let error = self.session.error().cloned();
        for (_, p) in self.pending.drain() {
            let e = match &error {
                Some(e) => Error::Session(e.clone()),
                None => Error::Op(OpError::Session(ClientError::Closed)),
            };
            let _ = p.done.send(Err(e));
        }
        if let Some(tx) = self.login.take() {
            let _ = tx.send(Err(Error::Session(
                error.unwrap_or(ClientError::ConnectionClosed),
            )));
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
