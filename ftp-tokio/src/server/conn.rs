//! One control connection: the tokio glue around [`ServerConn`], which keeps the bookkeeping.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use ftp_host::auth::Authenticator;
use ftp_host::proxy::ProxyProtocol;
use ftp_host::server::{Action, Report, ServerConn};
use ftp_host::storage::Storage;
use ftp_host::transfer::AtOnce;
use ftp_proto::server::{ServerConfig, ServerSession};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, Instrument};

use super::data;
use crate::stream::MaybeTls;

/// A server-side connection that is plain TCP or TLS over TCP.
pub(crate) type Stream = MaybeTls<tokio_rustls::server::TlsStream<TcpStream>>;

/// What every connection of one server shares.
pub(crate) struct Shared<S, A> {
    pub(crate) config: Arc<ServerConfig>,
    pub(crate) storage: Arc<S>,
    pub(crate) auth: Arc<A>,
    pub(crate) tls: Option<tokio_rustls::TlsAcceptor>,
    /// For data connections: no TLS 1.3 tickets ([`ftp_host::tls::data_config`]).
    pub(crate) data_tls: Option<tokio_rustls::TlsAcceptor>,
    pub(crate) implicit_tls: bool,
    /// Observers and the default rate limit, for every session.
    pub(crate) hooks: ftp_host::events::Hooks,
}

/// A data channel's task; dropping it (when the core closes the channel) aborts the task.
pub(crate) struct Task(JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

type Conn<S, A> = ServerConn<S, A, Stream, Task>;
type Tx<S> = mpsc::UnboundedSender<Report<S, Stream>>;
/// The reports of the tasks and jobs beside the loop. The loop keeps only a weak sender: the
/// channel closes when the last task or job lets its sender go (finished, or dropped by the
/// conn), the receiver hears it, and the loop lets the channel go, so an idle session holds
/// none. Waiting for the loop to see its own sender as the last one would not do: a task the
/// conn drops (a passive listener after its transfer) goes later, and wakes nobody.
type Chan<S> = (
    mpsc::WeakUnboundedSender<Report<S, Stream>>,
    mpsc::UnboundedReceiver<Report<S, Stream>>,
);

/// The most one control read takes.
const READ_BUF: usize = 8192;

/// A control connection ready to be read: a plain one is read (into the stack) by the caller,
/// a TLS one has been read into the buffer, grown to [`READ_BUF`] on first use.
enum Ready {
    Plain,
    Tls(usize),
}

async fn ready(control: &mut Stream, tls_buf: &mut Vec<u8>) -> io::Result<Ready> {
    match control {
        MaybeTls::Plain(tcp) => tcp.readable().await.map(|()| Ready::Plain),
        tls => {
            if tls_buf.is_empty() {
                tls_buf.resize(READ_BUF, 0);
            }
            tls.read(tls_buf).await.map(Ready::Tls)
        }
    }
}

/// The next report of a task beside the loop, `None` once every sender is gone; never, while
/// there is no channel.
async fn recv<S: Storage>(chan: &mut Option<Chan<S>>) -> Option<Report<S, Stream>> {
    match chan {
        Some((_, rx)) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Runs the TLS server handshake on `tcp`; returns the stream and whether the session was
/// resumed.
pub(crate) async fn accept_tls(
    acceptor: &tokio_rustls::TlsAcceptor,
    tcp: TcpStream,
) -> io::Result<(Stream, bool)> {
    let tls = acceptor.accept(tcp).await?;
    let resumed = tls.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
    Ok((Stream::Tls(Box::new(tls)), resumed))
}

/// Reads the PROXY header of a connection accepted from `proxy` (nothing past it) within the
/// header deadline: the client's address, or `None` when the connection is to be closed (the
/// host has logged why).
pub(crate) async fn read_proxy_header(
    protocol: &ProxyProtocol,
    tcp: &mut TcpStream,
    proxy: SocketAddr,
) -> Option<SocketAddr> {
    let mut header = protocol.start(proxy, Instant::now()).ok()?;
    let read = async {
        loop {
            let n = match tcp.read(header.space()).await {
                Ok(n) => n,
                Err(e) => {
                    debug!(%proxy, "reading the PROXY header: {e}");
                    return None;
                }
            };
            match header.filled(n) {
                Ok(Some(client)) => return Some(client),
                Ok(None) => {}
                Err(_) => return None,
            }
        }
    };
    match tokio::time::timeout(protocol.timeout, read).await {
        Ok(client) => client,
        Err(_) => {
            header.timed_out();
            None
        }
    }
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
        match serve_inner(shared, tcp, peer, shutdown).await {
            Err(e) => debug!("connection ended: {e}"),
            Ok(()) => debug!("connection closed"),
        }
    }
    .instrument(span)
    .await
}

async fn serve_inner<S: Storage, A: Authenticator>(
    shared: Arc<Shared<S, A>>,
    tcp: TcpStream,
    peer: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    if let Err(e) = ftp_host::net::setup_control(socket2::SockRef::from(&tcp)) {
        debug!("control socket options: {e}");
    }
    let local = tcp.local_addr()?;
    let mut control = match (&shared.tls, shared.implicit_tls) {
        (Some(acceptor), true) => {
            let limit = shared.config.data_timeout;
            Box::pin(tokio::time::timeout(limit, accept_tls(acceptor, tcp)))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??
                .0
        }
        _ => Stream::Plain(tcp),
    };
    debug!(%local, "connected");
    let session = ServerSession::new(shared.config.clone(), peer, local, Instant::now());
    let mut conn: Conn<S, A> = ServerConn::new(
        session,
        shared.storage.clone(),
        shared.auth.clone(),
        local,
        peer,
    )
    .with_hooks(shared.hooks.clone());
    // Both made on demand and let go when idle: an idle session holds neither a channel (tokio
    // allocates a block of slots with each) nor a read buffer (a plain connection reads into
    // the stack once readable).
    let mut chan: Option<Chan<S>> = None;
    let mut tls_buf = Vec::new();
    let mut shutting_down = *shutdown.borrow();
    if shutting_down {
        conn.handle_shutdown(Instant::now());
    }
    loop {
        while let Some(action) = conn.poll_action() {
            match action {
                Action::Send(bytes) => write(&shared, &mut control, &bytes).await?,
                Action::Flush => flush(&shared, &mut control).await?,
                Action::Close => {
                    // Bounded: a client that stops reading must not hold the connection.
                    let limit = shared.config.idle_timeout;
                    let _ = tokio::time::timeout(limit, control.shutdown()).await;
                    return Ok(());
                }
                Action::StartTls => {
                    let ok = Box::pin(start_tls(&shared, &mut control)).await;
                    conn.tls_result(Instant::now(), ok);
                }
                Action::StopTls => {
                    if let Stream::Tls(tls) = control {
                        // Rare and large: boxed, so that every session's future stays small.
                        control = Box::pin(stop_tls(&shared, tls)).await?;
                    }
                }
                other => {
                    let tx = sender(&mut chan, &mut conn);
                    act(&shared, &mut conn, &tx, other)
                }
            }
        }
        let deadline = conn.poll_timeout();
        tokio::select! {
            r = ready(&mut control, &mut tls_buf), if conn.wants_read() => {
                let mut stack = [0u8; READ_BUF];
                let (buf, mut n) = match (r, &control) {
                    (Ok(Ready::Plain), MaybeTls::Plain(tcp)) => match tcp.try_read(&mut stack) {
                        Ok(n) => (&mut stack[..], n),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                        Err(_) => (&mut stack[..], 0),
                    },
                    (Ok(Ready::Tls(n)), _) => (&mut tls_buf[..], n),
                    _ => (&mut stack[..], 0),
                };
                if let (MaybeTls::Plain(tcp), Some(rest)) = (&control, buf.get_mut(n..)) {
                    if n > 0 {
                        n += ftp_host::net::read_waiting(socket2::SockRef::from(tcp), rest);
                    }
                }
                if n == 0 {
                    // The client went away: the session aborts what runs on the data side.
                    conn.handle_control_closed(Instant::now());
                    while conn.poll_action().is_some() {}
                    return Ok(());
                }
                if conn.handle_input(Instant::now(), buf.get(..n).unwrap_or_default()).is_err() {
                    return Ok(());
                }
            }
            report = recv(&mut chan) => match report {
                Some(report) => conn.report(Instant::now(), report),
                // Nothing runs beside the loop any more: let the channel go.
                None => chan = None,
            },
            _ = sleep_until(deadline), if deadline.is_some() => conn.handle_timeout(Instant::now()),
            r = shutdown.changed(), if !shutting_down => {
                shutting_down = r.is_err() || *shutdown.borrow();
                if shutting_down {
                    conn.handle_shutdown(Instant::now());
                }
            }
        }
    }
}

/// A sender for a new task or job: the channel's while anything beside the loop still holds
/// one; otherwise a new channel, once the reports left in the closed one are handed over.
fn sender<S: Storage, A: Authenticator>(
    chan: &mut Option<Chan<S>>,
    conn: &mut Conn<S, A>,
) -> Tx<S> {
    if let Some(tx) = chan.as_ref().and_then(|(weak, _)| weak.upgrade()) {
        return tx;
    }
    if let Some((_, mut rx)) = chan.take() {
        while let Ok(report) = rx.try_recv() {
            conn.report(Instant::now(), report);
        }
    }
    let (tx, rx) = mpsc::unbounded_channel();
    *chan = Some((tx.downgrade(), rx));
    tx
}

/// Starts the tasks of the actions that run beside the control loop.
fn act<S: Storage, A: Authenticator>(
    shared: &Arc<Shared<S, A>>,
    conn: &mut Conn<S, A>,
    tx: &Tx<S>,
    action: Action<S, A, Stream>,
) {
    let tx = tx.clone();
    let limit = shared.config.data_timeout;
    match action {
        Action::Run(job) => {
            // Not a channel task: a login or storage call runs to its end; its answer is
            // dropped if the connection is gone by then.
            tokio::task::spawn_blocking(move || {
                let _ = tx.send(Report::Done(job.run()));
            });
        }
        Action::Accept { id, listener } => {
            let task = spawn(async move {
                let Ok(listener) = TcpListener::from_std(listener) else {
                    let _ = tx.send(Report::Failed { id });
                    return;
                };
                while let Ok((tcp, peer)) = listener.accept().await {
                    let report = Report::Accepted {
                        id,
                        stream: Stream::Plain(tcp),
                        peer,
                    };
                    if tx.send(report).is_err() {
                        break;
                    }
                }
            });
            conn.set_task(id, task);
        }
        Action::Connect {
            id,
            addr,
            local,
            tls,
        } => {
            let acceptor = shared.data_tls.clone().filter(|_| tls);
            let task = spawn(async move {
                let made = async {
                    let tcp = tokio::time::timeout(limit, data::connect(local, addr))
                        .await
                        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
                    data::secure(tcp, acceptor.as_ref(), limit).await
                };
                let report = match made.await {
                    Ok((stream, tls_resumed)) => Report::Ready {
                        id,
                        stream,
                        tls_resumed,
                    },
                    Err(e) => {
                        debug!(%addr, "active data connection failed: {e}");
                        Report::Failed { id }
                    }
                };
                let _ = tx.send(report);
            });
            conn.set_task(id, task);
        }
        // A plain connection needs no handshake: it is ready now, with no task to spawn (a
        // spawn wakes another worker, a cost every short session's listing would pay).
        Action::Secure {
            id,
            stream: Stream::Plain(tcp),
            tls: false,
        } => {
            let _ = tcp.set_nodelay(true);
            let ready = Report::Ready {
                id,
                stream: Stream::Plain(tcp),
                tls_resumed: None,
            };
            conn.report(Instant::now(), ready);
        }
        Action::Secure { id, stream, tls } => {
            let acceptor = shared.data_tls.clone().filter(|_| tls);
            let task = spawn(async move {
                let report = match stream {
                    Stream::Plain(tcp) => {
                        let _ = tcp.set_nodelay(true);
                        match data::secure(tcp, acceptor.as_ref(), limit).await {
                            Ok((stream, tls_resumed)) => Report::Ready {
                                id,
                                stream,
                                tls_resumed,
                            },
                            Err(_) => Report::Failed { id },
                        }
                    }
                    _ => Report::Failed { id },
                };
                let _ = tx.send(report);
            });
            conn.set_task(id, task);
        }
        Action::Transfer {
            id,
            stream,
            file,
            progress,
        } => {
            // A listing in memory over a plain connection mostly goes out from here at once:
            // no task to spawn, no worker to wake.
            let (stream, file) = match stream {
                Stream::Plain(tcp) => {
                    match file.send_at_once(socket2::SockRef::from(&tcp), &progress) {
                        AtOnce::Done(outcome) => {
                            drop(tcp);
                            conn.report(Instant::now(), Report::Transfer { id, outcome });
                            return;
                        }
                        AtOnce::Rest { rest, sent } => {
                            let task = spawn(async move {
                                let stream = Stream::Plain(tcp);
                                let outcome = data::send_rest(stream, rest, sent, &progress).await;
                                let _ = tx.send(Report::Transfer { id, outcome });
                            });
                            conn.set_task(id, task);
                            return;
                        }
                        AtOnce::Not(file) => (Stream::Plain(tcp), file),
                    }
                }
                other => (other, file),
            };
            let task = spawn(async move {
                let outcome = data::transfer(stream, file, progress).await;
                debug!(?outcome, "transfer ended");
                let _ = tx.send(Report::Transfer { id, outcome });
            });
            conn.set_task(id, task);
        }
        other => debug!("action {other:?} is handled by the control loop"),
    }
}

fn spawn<F>(f: F) -> Task
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    Task(tokio::spawn(f.in_current_span()))
}

async fn write<S, A>(shared: &Shared<S, A>, c: &mut Stream, bytes: &[u8]) -> io::Result<()> {
    tokio::time::timeout(shared.config.idle_timeout, c.write_all(bytes))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "control write timed out"))?
}

async fn flush<S, A, T: AsyncWriteExt + Unpin>(shared: &Shared<S, A>, c: &mut T) -> io::Result<()> {
    tokio::time::timeout(shared.config.idle_timeout, c.flush())
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "control write timed out"))?
}

/// Ends TLS on the control connection after CCC; returns the plain connection.
async fn stop_tls<S, A>(
    shared: &Shared<S, A>,
    mut tls: Box<tokio_rustls::server::TlsStream<TcpStream>>,
) -> io::Result<Stream> {
    let limit = shared.config.idle_timeout;
    let (tcp, session) = tls.get_mut();
    let first = tokio::time::timeout(CCC_GRACE, peek(tcp)).await;
    let answer = match first {
        // The client closed first (lftp, ftplib): take its close_notify,
        // then answer with ours, which it waits for.
        Ok(Some(b)) if ftp_host::net::starts_tls_record(b) => {
            let _ = tokio::time::timeout(limit, peer_close_notify(tcp, session)).await;
            true
        }
        // Cleartext already: the client dropped TLS without a word, and a
        // close_notify now would land in its replies.
        Ok(_) => false,
        // The client waits for ours (curl): send it, then take the client's
        // answer if it sends one.
        Err(_) => true,
    };
    if answer {
        tls.get_mut().1.send_close_notify();
        flush(shared, &mut tls).await?;
        if first.is_err() {
            let (tcp, session) = tls.get_mut();
            let _ = tokio::time::timeout(limit, peer_close_notify(tcp, session)).await;
        }
    }
    Ok(Stream::Plain(tls.into_inner().0))
}

/// Runs TLS on the control connection; on failure the connection is left unusable (the
/// session closes it).
async fn start_tls<S, A>(shared: &Shared<S, A>, control: &mut Stream) -> bool {
    let Some(acceptor) = shared.tls.clone() else {
        return false;
    };
    // A failed handshake ends the session, so the connection may be left closed.
    let Stream::Plain(tcp) = std::mem::replace(control, Stream::Closed) else {
        return false;
    };
    match tokio::time::timeout(shared.config.data_timeout, accept_tls(&acceptor, tcp)).await {
        Ok(Ok((stream, _))) => {
            *control = stream;
            true
        }
        _ => {
            debug!("control TLS handshake failed");
            false
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

use ftp_host::net::CCC_GRACE;

/// The first byte waiting on the socket, left there; `None` when the connection ended.
async fn peek(tcp: &TcpStream) -> Option<u8> {
    let mut first = [0u8; 1];
    match tcp.peek(&mut first).await {
        Ok(1) => Some(first[0]),
        _ => None,
    }
}

/// Takes the client's close_notify after CCC (RFC 4217 §6) off the socket, one whole TLS
/// record at a time and through the TLS session, so that the cleartext after it is read as
/// commands and not lost inside the TLS layer; returns at once when the client goes
/// straight to cleartext (curl sends no close_notify).
async fn peer_close_notify(tcp: &mut TcpStream, session: &mut rustls::ServerConnection) {
    loop {
        let mut first = [0u8; 1];
        match tcp.peek(&mut first).await {
            Ok(1) if ftp_host::net::starts_tls_record(first[0]) => {}
            _ => return,
        }
        let mut header = [0u8; 5];
        if tcp.read_exact(&mut header).await.is_err() {
            return;
        }
        let mut record = vec![0u8; ftp_host::net::tls_record_len(&header)];
        record[..5].copy_from_slice(&header);
        if tcp.read_exact(&mut record[5..]).await.is_err() {
            return;
        }
        if !matches!(ftp_host::tls::ccc_feed_record(session, &record), Ok(false)) {
            return;
        }
    }
}
