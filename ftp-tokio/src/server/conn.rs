//! One control connection: the drive loop around a [`ServerSession`].

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use ftp_proto::listing::Entry;
use ftp_proto::server::{
    Accept, Answer, DataId, DataIntent, Direction, Failure, ListFormat, Request, RequestId,
    ServerConfig, ServerEvent, ServerOutput, ServerSession, StorageRequest, TransferError,
};
use ftp_proto::time::Timestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, warn, Instrument};

use super::auth::{Authenticator, Credentials};
use super::data;
use super::storage::Storage;
use super::tls::{self, Stream};

/// What every connection of one server shares.
pub(crate) struct Shared<S, A> {
    pub(crate) config: Arc<ServerConfig>,
    pub(crate) storage: Arc<S>,
    pub(crate) auth: Arc<A>,
    pub(crate) tls: Option<tokio_rustls::TlsAcceptor>,
    /// The same TLS settings without TLS 1.3 session tickets: a client that only writes
    /// (an upload) never reads them, and closing a socket with unread data makes the kernel
    /// reset the connection, which can cut off the end of the upload.
    pub(crate) data_tls: Option<tokio_rustls::TlsAcceptor>,
    pub(crate) implicit_tls: bool,
    pub(crate) strict_tls_eof: bool,
}

/// An open file or formatted listing, kept under the id of the request that opened it.
enum Handle<S: Storage> {
    Read(S::Reader),
    Write(S::Writer),
    Listing(Bytes),
}

/// What the tasks of one connection report to its loop.
enum Msg<S: Storage> {
    /// The answer to a login or storage request.
    Answer(RequestId, Answer),
    /// An open answered with a handle.
    Opened(RequestId, Handle<S>, Answer),
    /// The passive listener accepted a connection.
    Accepted(DataId, TcpStream, SocketAddr),
    /// A data connection is up (after TLS, if any).
    Ready(DataId, Stream, Option<bool>),
    /// A data-channel outcome: failed to connect, transfer done or failed.
    Data(DataId, ServerEvent),
}

#[derive(Default)]
struct Channel {
    task: Option<JoinHandle<()>>,
    stream: Option<Stream>,
    transferring: bool,
}

impl Channel {
    fn with_task(task: JoinHandle<()>) -> Channel {
        Channel {
            task: Some(task),
            stream: None,
            transferring: false,
        }
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// How a drive loop iteration ended.
enum Flow {
    Continue,
    Close,
}

pub(crate) struct Connection<S: Storage, A> {
    shared: Arc<Shared<S, A>>,
    session: ServerSession,
    control: Option<Stream>,
    local: SocketAddr,
    tx: mpsc::UnboundedSender<Msg<S>>,
    rx: mpsc::UnboundedReceiver<Msg<S>>,
    channels: HashMap<DataId, Channel>,
    handles: HashMap<RequestId, Handle<S>>,
    /// Events produced while carrying out outputs, fed to the session after the drain.
    events: VecDeque<ServerEvent>,
}

/// Serves one control connection to its end.
pub(crate) async fn serve<S: Storage, A: Authenticator>(
    shared: Arc<Shared<S, A>>,
    tcp: TcpStream,
    peer: SocketAddr,
    shutdown: watch::Receiver<bool>,
) {
    let span = tracing::info_span!("ftp", %peer);
    async move {
        if let Err(e) = serve_inner(shared, tcp, peer, shutdown).await {
            debug!("connection ended: {e}");
        } else {
            debug!("connection closed");
        }
    }
    .instrument(span)
    .await
}

async fn serve_inner<S: Storage, A: Authenticator>(
    shared: Arc<Shared<S, A>>,
    tcp: TcpStream,
    peer: SocketAddr,
    shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    let _ = tcp.set_nodelay(true);
    let local = tcp.local_addr()?;
    let control = match (&shared.tls, shared.implicit_tls) {
        (Some(acceptor), true) => {
            let (s, _) =
                tokio::time::timeout(shared.config.data_timeout, tls::accept(acceptor, tcp))
                    .await
                    .map_err(|_| {
                        io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out")
                    })??;
            s
        }
        _ => Stream::Plain(tcp),
    };
    debug!(%local, "connected");
    let session = ServerSession::new(shared.config.clone(), peer, local, Instant::now());
    let (tx, rx) = mpsc::unbounded_channel();
    let mut conn = Connection {
        shared,
        session,
        control: Some(control),
        local,
        tx,
        rx,
        channels: HashMap::new(),
        handles: HashMap::new(),
        events: VecDeque::new(),
    };
    conn.run(shutdown).await
}

impl<S: Storage, A: Authenticator> Connection<S, A> {
    async fn run(&mut self, mut shutdown: watch::Receiver<bool>) -> io::Result<()> {
        let mut buf = vec![0u8; 8192];
        let mut shutting_down = *shutdown.borrow();
        if shutting_down {
            self.session.handle_shutdown(Instant::now());
        }
        loop {
            if let Flow::Close = self.drain().await? {
                return Ok(());
            }
            let deadline = self.session.poll_timeout();
            let wants_read = self.session.wants_read();
            let control = self
                .control
                .as_mut()
                .ok_or_else(|| io::Error::other("control connection gone"))?;
            tokio::select! {
                r = control.read(&mut buf), if wants_read => {
                    let n = r?;
                    if n == 0 {
                        // The client went away: the session aborts what runs on the data side.
                        self.session.handle_control_closed(Instant::now());
                        self.drain().await?;
                        return Ok(());
                    }
                    let input = buf.get(..n).unwrap_or_default();
                    if self.session.handle_input(Instant::now(), input).is_err() {
                        return Ok(());
                    }
                }
                Some(msg) = self.rx.recv() => self.on_msg(msg),
                _ = sleep_until(deadline), if deadline.is_some() => {
                    self.session.handle_timeout(Instant::now());
                }
                r = shutdown.changed(), if !shutting_down => {
                    shutting_down = r.is_err() || *shutdown.borrow();
                    if shutting_down {
                        self.session.handle_shutdown(Instant::now());
                    }
                }
            }
        }
    }

    /// Carries out every output in order, feeding back the events that result, until the
    /// session has nothing more to say.
    async fn drain(&mut self) -> io::Result<Flow> {
        loop {
            let mut wrote = false;
            while let Some(out) = self.session.poll_output() {
                match out {
                    ServerOutput::Send(bytes) => {
                        self.write(&bytes).await?;
                        wrote = true;
                    }
                    ServerOutput::Request(id, req) => self.request(id, req),
                    ServerOutput::Data(intent) => self.data(intent),
                    ServerOutput::StartTls => {
                        self.flush().await?;
                        wrote = false;
                        self.start_tls().await;
                    }
                    ServerOutput::StopTls => {
                        self.flush().await?;
                        wrote = false;
                        self.stop_tls().await?;
                    }
                    ServerOutput::Close => {
                        if let Some(mut c) = self.control.take() {
                            let _ = c.flush().await;
                            let _ = c.shutdown().await;
                        }
                        return Ok(Flow::Close);
                    }
                    other => warn!("unhandled output {other:?}"),
                }
            }
            if wrote {
                self.flush().await?;
            }
            if self.events.is_empty() {
                return Ok(Flow::Continue);
            }
            while let Some(e) = self.events.pop_front() {
                self.event(e);
            }
        }
    }

    fn event(&mut self, e: ServerEvent) {
        if let Err(err) = self.session.handle_event(Instant::now(), e) {
            debug!("event refused by the session: {err}");
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let limit = self.shared.config.idle_timeout;
        let c = self
            .control
            .as_mut()
            .ok_or_else(|| io::Error::other("control connection gone"))?;
        tokio::time::timeout(limit, c.write_all(bytes))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "control write timed out"))?
    }

    async fn flush(&mut self) -> io::Result<()> {
        let limit = self.shared.config.idle_timeout;
        let c = self
            .control
            .as_mut()
            .ok_or_else(|| io::Error::other("control connection gone"))?;
        tokio::time::timeout(limit, c.flush())
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "control write timed out"))?
    }

    async fn start_tls(&mut self) {
        let (Some(acceptor), Some(Stream::Plain(tcp))) =
            (self.shared.tls.clone(), self.control.take())
        else {
            self.events.push_back(ServerEvent::TlsFailed);
            return;
        };
        let limit = self.shared.config.data_timeout;
        match tokio::time::timeout(limit, tls::accept(&acceptor, tcp)).await {
            Ok(Ok((stream, _))) => {
                self.control = Some(stream);
                self.events.push_back(ServerEvent::TlsEstablished);
            }
            _ => {
                debug!("control TLS handshake failed");
                self.events.push_back(ServerEvent::TlsFailed);
            }
        }
    }

    async fn stop_tls(&mut self) -> io::Result<()> {
        if let Some(Stream::Tls(mut tls)) = self.control.take() {
            tls.get_mut().1.send_close_notify();
            tls.flush().await?;
            let (tcp, _) = tls.into_inner();
            self.control = Some(Stream::Plain(tcp));
        }
        Ok(())
    }

    fn spawn<F>(&self, f: F) -> JoinHandle<()>
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        tokio::spawn(f.in_current_span())
    }

    fn request(&mut self, id: RequestId, req: Request) {
        let tx = self.tx.clone();
        match req {
            Request::Login {
                user,
                pass,
                account,
                host,
            } => {
                let auth = self.shared.auth.clone();
                self.spawn(async move {
                    let creds = Credentials {
                        user,
                        pass,
                        account,
                        host,
                    };
                    let answer = match auth.login(creds).await {
                        Ok(grant) => Answer::LoggedIn {
                            read_only: grant.read_only,
                        },
                        Err(f) => Answer::Failed(f),
                    };
                    let _ = tx.send(Msg::Answer(id, answer));
                });
            }
            Request::Storage(req) => {
                let storage = self.shared.storage.clone();
                self.spawn(async move {
                    let _ = tx.send(storage_request(&*storage, id, req).await);
                });
            }
            other => {
                warn!("unhandled request {other:?}");
                self.events.push_back(ServerEvent::Answer(
                    id,
                    Answer::Failed(Failure::Other("Not supported.".into())),
                ));
            }
        }
    }

    fn data(&mut self, intent: DataIntent) {
        match intent {
            DataIntent::Listen { id, ip, ports } => match data::bind_passive(ip, &ports) {
                Some(listener) => {
                    let addr = match listener.local_addr() {
                        Ok(a) => a,
                        Err(_) => {
                            self.events.push_back(ServerEvent::ListenFailed { id });
                            return;
                        }
                    };
                    let tx = self.tx.clone();
                    let task = self.spawn(async move {
                        while let Ok((stream, peer)) = listener.accept().await {
                            if tx.send(Msg::Accepted(id, stream, peer)).is_err() {
                                break;
                            }
                        }
                    });
                    debug!(%addr, "passive listener");
                    self.channels.insert(id, Channel::with_task(task));
                    self.events.push_back(ServerEvent::Listening { id, addr });
                }
                None => {
                    warn!(?ports, "no passive port free");
                    self.events.push_back(ServerEvent::ListenFailed { id });
                }
            },
            DataIntent::Connect { id, addr, tls } => {
                let tx = self.tx.clone();
                let local = self.local.ip();
                let acceptor = self.shared.data_tls.clone().filter(|_| tls);
                let limit = self.shared.config.data_timeout;
                let task = self.spawn(async move {
                    let made = tokio::time::timeout(limit, async {
                        let tcp = data::connect(local, addr).await?;
                        secure(tcp, acceptor.as_ref()).await
                    })
                    .await;
                    let msg = match made {
                        Ok(Ok((stream, resumed))) => Msg::Ready(id, stream, resumed),
                        _ => {
                            debug!(%addr, "active data connection failed");
                            Msg::Data(id, ServerEvent::DataFailed { id })
                        }
                    };
                    let _ = tx.send(msg);
                });
                self.channels.insert(id, Channel::with_task(task));
            }
            DataIntent::Transfer {
                id,
                source,
                direction,
                ascii,
            } => self.transfer(id, source, direction, ascii),
            DataIntent::Abort { id } | DataIntent::Close { id } => {
                self.channels.remove(&id);
                self.handles.clear();
            }
            other => warn!("unhandled data intent {other:?}"),
        }
    }

    fn transfer(&mut self, id: DataId, source: RequestId, direction: Direction, ascii: bool) {
        let handle = self.handles.remove(&source);
        self.handles.clear();
        let channel = self.channels.entry(id).or_default();
        let (Some(stream), Some(handle)) = (channel.stream.take(), handle) else {
            self.events.push_back(ServerEvent::TransferFailed {
                id,
                error: TransferError::Local,
            });
            self.channels.remove(&id);
            return;
        };
        let tx = self.tx.clone();
        let strict = self.shared.strict_tls_eof;
        let task = tokio::spawn(
            async move {
                let result = match (handle, direction) {
                    (Handle::Read(r), Direction::Send) => data::send(r, stream, ascii).await,
                    (Handle::Listing(b), Direction::Send) => {
                        data::send(&b[..], stream, false).await
                    }
                    (Handle::Write(w), Direction::Receive) => {
                        data::receive(stream, w, ascii, strict).await
                    }
                    _ => Err(TransferError::Local),
                };
                let event = match result {
                    Ok(bytes) => {
                        debug!(bytes, "transfer done");
                        ServerEvent::TransferDone { id, bytes }
                    }
                    Err(error) => {
                        debug!(?error, "transfer failed");
                        ServerEvent::TransferFailed { id, error }
                    }
                };
                let _ = tx.send(Msg::Data(id, event));
            }
            .in_current_span(),
        );
        if let Some(c) = self.channels.get_mut(&id) {
            c.task = Some(task);
            c.transferring = true;
        }
    }

    fn on_msg(&mut self, msg: Msg<S>) {
        let now = Instant::now();
        match msg {
            Msg::Answer(id, answer) => self.event(ServerEvent::Answer(id, answer)),
            Msg::Opened(id, handle, answer) => {
                self.handles.insert(id, handle);
                if let Err(e) = self
                    .session
                    .handle_event(now, ServerEvent::Answer(id, answer))
                {
                    debug!("open answer refused: {e}");
                    self.handles.remove(&id);
                }
            }
            Msg::Accepted(id, stream, peer) => {
                if !self.channels.contains_key(&id) {
                    return;
                }
                match self.session.handle_data_accept(now, id, peer) {
                    Ok(Accept::Use { tls }) => {
                        let _ = stream.set_nodelay(true);
                        let acceptor = self.shared.data_tls.clone().filter(|_| tls);
                        let tx = self.tx.clone();
                        let limit = self.shared.config.data_timeout;
                        // The listener task ends here: the channel's task becomes the handshake.
                        let task = self.spawn(async move {
                            let msg = match tokio::time::timeout(
                                limit,
                                secure(stream, acceptor.as_ref()),
                            )
                            .await
                            {
                                Ok(Ok((stream, resumed))) => Msg::Ready(id, stream, resumed),
                                _ => Msg::Data(id, ServerEvent::DataFailed { id }),
                            };
                            let _ = tx.send(msg);
                        });
                        if let Some(c) = self.channels.get_mut(&id) {
                            if let Some(old) = c.task.replace(task) {
                                old.abort();
                            }
                        }
                    }
                    Ok(Accept::Reject) => debug!(%peer, "data connection rejected"),
                    Err(e) => debug!("accept refused: {e}"),
                }
            }
            Msg::Ready(id, stream, resumed) => {
                let Some(c) = self.channels.get_mut(&id) else {
                    return;
                };
                c.stream = Some(stream);
                c.task = None;
                self.event(ServerEvent::DataReady {
                    id,
                    tls_resumed: resumed,
                });
            }
            Msg::Data(id, event) => {
                if self.channels.remove(&id).is_some() {
                    self.event(event);
                }
            }
        }
    }
}

/// Runs TLS on a data connection when an acceptor is given.
async fn secure(
    tcp: TcpStream,
    acceptor: Option<&tokio_rustls::TlsAcceptor>,
) -> io::Result<(Stream, Option<bool>)> {
    match acceptor {
        Some(a) => {
            let (s, resumed) = tls::accept(a, tcp).await?;
            Ok((s, Some(resumed)))
        }
        None => Ok((Stream::Plain(tcp), None)),
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

fn wall_now() -> Timestamp {
    Timestamp::from_system_time(SystemTime::now()).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn format_listing(entries: &[Entry], format: &ListFormat) -> Bytes {
    let mut out = BytesMut::new();
    format.format(entries, wall_now(), &mut out);
    out.freeze()
}

fn done(r: Result<(), Failure>) -> Answer {
    match r {
        Ok(()) => Answer::Done,
        Err(f) => Answer::Failed(f),
    }
}

async fn storage_request<S: Storage>(storage: &S, id: RequestId, req: StorageRequest) -> Msg<S> {
    let answer = match req {
        StorageRequest::Stat { path } => match storage.stat(&path).await {
            Ok(e) => Answer::Metadata(Box::new(e)),
            Err(f) => Answer::Failed(f),
        },
        StorageRequest::ReadDir { path } => match storage.list(&path).await {
            Ok(entries) => Answer::Entries {
                entries,
                now: wall_now(),
            },
            Err(f) => Answer::Failed(f),
        },
        StorageRequest::OpenList { path, format } => {
            return match storage.list(&path).await {
                Ok(entries) => {
                    let listing = format_listing(&entries, &format);
                    Msg::Opened(id, Handle::Listing(listing), Answer::Opened { size: None })
                }
                Err(f) => Msg::Answer(id, Answer::Failed(f)),
            }
        }
        StorageRequest::OpenRead { path, offset } => {
            return match storage.open_read(&path, offset).await {
                Ok((r, size)) => Msg::Opened(id, Handle::Read(r), Answer::Opened { size }),
                Err(f) => Msg::Answer(id, Answer::Failed(f)),
            }
        }
        StorageRequest::OpenWrite { path, mode } => {
            return match storage.open_write(&path, mode).await {
                Ok((w, Some(path))) => {
                    Msg::Opened(id, Handle::Write(w), Answer::OpenedUnique { path })
                }
                Ok((w, None)) => Msg::Opened(id, Handle::Write(w), Answer::Opened { size: None }),
                Err(f) => Msg::Answer(id, Answer::Failed(f)),
            }
        }
        StorageRequest::MakeDir { path } => done(storage.make_dir(&path).await),
        StorageRequest::RemoveDir { path } => done(storage.remove_dir(&path).await),
        StorageRequest::Delete { path } => done(storage.delete(&path).await),
        StorageRequest::Rename { from, to } => done(storage.rename(&from, &to).await),
        StorageRequest::SetModified { path, time } => done(storage.set_modified(&path, time).await),
        StorageRequest::Chmod { path, mode } => done(storage.chmod(&path, mode).await),
        other => {
            warn!("unhandled storage request {other:?}");
            Answer::Failed(Failure::Other("Not supported.".into()))
        }
    };
    Msg::Answer(id, answer)
}
