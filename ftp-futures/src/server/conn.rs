//! One control connection: the futures glue around [`ServerConn`], which keeps the
//! bookkeeping.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use async_channel::{Receiver, Sender, WeakSender};
use async_io::Timer;
use ftp_host::auth::Authenticator;
use ftp_host::proxy::ProxyProtocol;
use ftp_host::server::{Action, Report, ServerConn};
use ftp_host::storage::Storage;
use ftp_host::transfer::AtOnce;
use ftp_proto::server::{ServerConfig, ServerSession};
use futures_io::AsyncRead;
use futures_lite::{AsyncWriteExt, FutureExt, StreamExt};
use futures_rustls::TlsAcceptor;
use tracing::{debug, Instrument};

use super::data;
use crate::rt::{self, Task};
use crate::stream::{accept_each, secure, timeout, Stream, Tcp};

/// What every connection of one server shares.
pub(crate) struct Shared<S, A> {
    pub(crate) config: Arc<ServerConfig>,
    pub(crate) storage: Arc<S>,
    pub(crate) auth: Arc<A>,
    pub(crate) tls: Option<TlsAcceptor>,
    /// For data connections: no TLS 1.3 tickets ([`ftp_host::tls::data_config`]).
    pub(crate) data_tls: Option<TlsAcceptor>,
    pub(crate) implicit_tls: bool,
    /// Observers and the default rate limit, for every session.
    pub(crate) hooks: ftp_host::events::Hooks,
}

type Conn<S, A> = ServerConn<S, A, Stream, Task<()>>;
type Tx<S> = Sender<Report<S, Stream>>;
/// The reports of the tasks and jobs beside the loop (the receiver pinned to be polled as a
/// stream). The loop keeps only a weak sender: the channel closes when the last task or job
/// lets its sender go (finished, or cancelled by the conn), the receiver hears it, and the
/// loop lets the channel go, so an idle session holds none.
type Chan<S> = (
    WeakSender<Report<S, Stream>>,
    Pin<Box<Receiver<Report<S, Stream>>>>,
);

/// What the control loop wakes up for.
enum Wake<S: Storage> {
    Report(Report<S, Stream>),
    /// Every sender of the report channel is gone.
    Quiet,
    Timer,
    Shutdown,
    /// Bytes read into the TLS buffer.
    Read(io::Result<usize>),
    /// A plain connection has bytes to read (into the stack).
    Readable(io::Result<()>),
}

/// The most one control read takes.
const READ_BUF: usize = 8192;

/// Runs the TLS server handshake on `tcp`.
pub(crate) async fn accept_tls(acceptor: &TlsAcceptor, tcp: Tcp) -> io::Result<Stream> {
    Ok(Stream::Tls(Box::new(acceptor.accept(tcp).await?.into())))
}

/// Reads the PROXY header of a connection accepted from `proxy` (nothing past it) within the
/// header deadline: the client's address, or `None` when the connection is to be closed (the
/// host has logged why).
pub(crate) async fn read_proxy_header(
    protocol: &ProxyProtocol,
    tcp: &mut Tcp,
    proxy: SocketAddr,
) -> Option<SocketAddr> {
    use futures_lite::AsyncReadExt;
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
    match timeout(protocol.timeout, read).await {
        Ok(client) => client,
        Err(_) => {
            header.timed_out();
            None
        }
    }
}

/// Serves one control connection to its end (call it in a span naming the peer: data tasks
/// run in the current span). `shutdown` is closed when the server shuts down.
pub(crate) async fn serve<S: Storage, A: Authenticator>(
    shared: Arc<Shared<S, A>>,
    tcp: Tcp,
    peer: SocketAddr,
    shutdown: Receiver<()>,
) -> io::Result<()> {
    if let Err(e) = ftp_host::net::setup_control(socket2::SockRef::from(tcp.get_ref())) {
        debug!("control socket options: {e}");
    }
    let local = tcp.get_ref().local_addr()?;
    let (idle, limit) = (shared.config.idle_timeout, shared.config.data_timeout);
    let mut control = match (&shared.tls, shared.implicit_tls) {
        // Rare and large awaits are boxed here and below, so that every session's future
        // stays small (about 2 KiB instead of 6).
        (Some(acceptor), true) => Box::pin(timeout(limit, accept_tls(acceptor, tcp))).await??,
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
    // Made on demand, and let go when nothing runs beside the loop: an idle session holds
    // no channel (its queue keeps a block of slots once used).
    let mut chan: Option<Chan<S>> = None;
    // Pinned to be polled as a stream.
    let mut shutdown = Box::pin(shutdown);
    // Grown on the first read of a TLS connection; a plain one reads into the stack once
    // readable, so that an idle session holds no read buffer.
    let mut tls_buf = Vec::new();
    let mut timer = Timer::never();
    let mut shutting_down = shutdown.is_closed();
    if shutting_down {
        conn.handle_shutdown(Instant::now());
    }
    loop {
        while let Some(action) = conn.poll_action() {
            match action {
                Action::Send(bytes) => timeout(idle, control.write_all(&bytes)).await??,
                Action::Flush => timeout(idle, control.flush()).await??,
                Action::Close => {
                    // Bounded: a client that stops reading must not hold the connection.
                    let _ = timeout(idle, control.close()).await;
                    return Ok(());
                }
                Action::StartTls => {
                    // A failed handshake leaves the connection closed: the session ends.
                    let ok = match &shared.tls {
                        Some(a) => {
                            Box::pin(secure(&mut control, limit, |tcp| accept_tls(a, tcp))).await
                        }
                        None => false,
                    };
                    conn.tls_result(Instant::now(), ok);
                }
                Action::StopTls => {
                    if let Stream::Tls(tls) = &mut control {
                        if let futures_rustls::TlsStream::Server(tls) = &mut **tls {
                            let (tcp, session) = tls.get_mut();
                            let first = Box::pin(timeout(CCC_GRACE, peek(tcp))).await;
                            let answer = match first {
                                // The client closed first (lftp, ftplib): take its
                                // close_notify, then answer with ours, which it waits for.
                                Ok(Some(b)) if ftp_host::net::starts_tls_record(b) => {
                                    let _ =
                                        Box::pin(timeout(idle, peer_close_notify(tcp, session)))
                                            .await;
                                    true
                                }
                                // Cleartext already: a close_notify now would land in the
                                // client's replies.
                                Ok(_) => false,
                                // The client waits for ours (curl).
                                Err(_) => true,
                            };
                            if answer {
                                tls.get_mut().1.send_close_notify();
                                timeout(idle, control.flush()).await??;
                                if first.is_err() {
                                    if let Stream::Tls(tls) = &mut control {
                                        if let futures_rustls::TlsStream::Server(tls) = &mut **tls {
                                            let (tcp, session) = tls.get_mut();
                                            let _ = Box::pin(timeout(
                                                idle,
                                                peer_close_notify(tcp, session),
                                            ))
                                            .await;
                                        }
                                    }
                                }
                            }
                        }
                        control = std::mem::replace(&mut control, Stream::Closed).into_plain();
                    }
                }
                other => {
                    let tx = sender(&mut chan, &mut conn);
                    act(&shared, &mut conn, &tx, other)
                }
            }
        }
        match conn.poll_timeout() {
            Some(deadline) => timer.set_at(deadline),
            None => timer = Timer::never(),
        }
        let reading = conn.wants_read();
        let wake = poll_fn(|cx| {
            let report = chan.as_mut().map(|(_, rx)| rx.poll_next(cx));
            if let Some(Poll::Ready(report)) = report {
                Poll::Ready(report.map_or(Wake::Quiet, Wake::Report))
            } else if timer.poll(cx).is_ready() {
                Poll::Ready(Wake::Timer)
            } else if !shutting_down && shutdown.poll_next(cx).is_ready() {
                Poll::Ready(Wake::Shutdown)
            } else if !reading {
                Poll::Pending
            } else if let Stream::Plain(tcp) = &control {
                tcp.poll_readable(cx).map(Wake::Readable)
            } else {
                if tls_buf.is_empty() {
                    tls_buf.resize(READ_BUF, 0);
                }
                Pin::new(&mut control)
                    .poll_read(cx, &mut tls_buf)
                    .map(Wake::Read)
            }
        })
        .await;
        let mut stack = [0u8; READ_BUF];
        let (wake, buf) = match (wake, &control) {
            (Wake::Readable(Ok(())), Stream::Plain(tcp)) => {
                match std::io::Read::read(&mut tcp.get_ref(), &mut stack) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Ok(n) if n > 0 => {
                        // A read ends at an urgent mark (Telnet IP before ABOR): take the rest.
                        let rest = stack.get_mut(n..).unwrap_or_default();
                        let more = ftp_host::net::read_waiting(
                            socket2::SockRef::from(tcp.get_ref()),
                            rest,
                        );
                        (Wake::Read(Ok(n + more)), &stack[..])
                    }
                    r => (Wake::Read(r), &stack[..]),
                }
            }
            (Wake::Readable(_), _) => (Wake::Read(Ok(0)), &stack[..]),
            (wake, _) => (wake, &tls_buf[..]),
        };
        let now = Instant::now();
        match wake {
            Wake::Report(report) => conn.report(now, report),
            // Nothing runs beside the loop any more: let the channel go.
            Wake::Quiet => chan = None,
            Wake::Timer => conn.handle_timeout(now),
            Wake::Shutdown => {
                shutting_down = true;
                conn.handle_shutdown(now);
            }
            Wake::Read(Ok(n)) if n > 0 => {
                if conn
                    .handle_input(now, buf.get(..n).unwrap_or_default())
                    .is_err()
                {
                    return Ok(());
                }
            }
            Wake::Read(_) | Wake::Readable(_) => {
                // The client went away: the session aborts what runs on the data side.
                conn.handle_control_closed(now);
                while conn.poll_action().is_some() {}
                return Ok(());
            }
        }
    }
}

/// Starts the tasks of the actions that run beside the control loop.
/// A sender for a new task or job: the channel's while anything beside the loop still holds
/// one; otherwise a new channel, once the reports left in the closed one are handed over.
fn sender<S: Storage, A: Authenticator>(
    chan: &mut Option<Chan<S>>,
    conn: &mut Conn<S, A>,
) -> Tx<S> {
    if let Some(tx) = chan.as_ref().and_then(|(weak, _)| weak.upgrade()) {
        return tx;
    }
    if let Some((_, rx)) = chan.take() {
        while let Ok(report) = rx.try_recv() {
            conn.report(Instant::now(), report);
        }
    }
    let (tx, rx) = async_channel::unbounded();
    *chan = Some((tx.downgrade(), Box::pin(rx)));
    tx
}

fn act<S: Storage, A: Authenticator>(
    shared: &Shared<S, A>,
    conn: &mut Conn<S, A>,
    tx: &Tx<S>,
    action: Action<S, A, Stream>,
) {
    let tx = tx.clone();
    let limit = shared.config.data_timeout;
    let acceptor = |tls: bool| shared.data_tls.clone().filter(|_| tls);
    let (id, task) = match action {
        Action::Run(job) => {
            // Not a channel task: a login or storage call runs to its end; its answer is
            // dropped if the connection is gone by then.
            blocking::unblock(move || {
                let _ = tx.try_send(Report::Done(job.run()));
            })
            .detach();
            return;
        }
        Action::Accept { id, listener } => (
            id,
            spawn(async move {
                let accepting = accept_each(listener, |tcp, peer| {
                    let stream = Stream::Plain(tcp);
                    let accepted = tx.try_send(Report::Accepted { id, stream, peer });
                    std::future::ready(accepted.is_ok())
                });
                if accepting.await.is_err() {
                    let _ = tx.try_send(Report::Failed { id });
                }
            }),
        ),
        Action::Connect {
            id,
            addr,
            local,
            tls,
        } => {
            let acceptor = acceptor(tls);
            (
                id,
                spawn(async move {
                    let tcp = timeout(limit, data::connect(local, addr)).await;
                    let report = data::ready(id, tcp.and_then(|r| r), acceptor, limit).await;
                    let _ = tx.try_send(report);
                }),
            )
        }
        // A plain connection needs no handshake: it is ready now, with no task to spawn.
        Action::Secure {
            id,
            stream: Stream::Plain(tcp),
            tls: false,
        } => {
            let _ = tcp.get_ref().set_nodelay(true);
            let ready = Report::Ready {
                id,
                stream: Stream::Plain(tcp),
                tls_resumed: None,
            };
            conn.report(Instant::now(), ready);
            return;
        }
        Action::Secure { id, stream, tls } => {
            let acceptor = acceptor(tls);
            (
                id,
                spawn(async move {
                    let tcp = match stream {
                        Stream::Plain(tcp) => Ok(tcp),
                        _ => Err(io::ErrorKind::InvalidInput.into()),
                    };
                    let _ = tx.try_send(data::ready(id, tcp, acceptor, limit).await);
                }),
            )
        }
        Action::Transfer {
            id,
            stream,
            file,
            progress,
        } => {
            // A listing in memory over a plain connection mostly goes out from here at once,
            // with no task to spawn.
            let (stream, file) = match stream {
                Stream::Plain(tcp) => {
                    match file.send_at_once(socket2::SockRef::from(tcp.get_ref()), &progress) {
                        AtOnce::Done(outcome) => {
                            drop(tcp);
                            conn.report(Instant::now(), Report::Transfer { id, outcome });
                            return;
                        }
                        AtOnce::Rest { rest, sent } => {
                            let task = spawn(async move {
                                let stream = Stream::Plain(tcp);
                                let outcome = data::send_rest(stream, rest, sent, &progress).await;
                                let _ = tx.try_send(Report::Transfer { id, outcome });
                            });
                            conn.set_task(id, task);
                            return;
                        }
                        AtOnce::Not(file) => (Stream::Plain(tcp), file),
                    }
                }
                other => (other, file),
            };
            (
                id,
                spawn(async move {
                    let outcome = data::transfer(stream, file, progress).await;
                    debug!(?outcome, "transfer ended");
                    let _ = tx.try_send(Report::Transfer { id, outcome });
                }),
            )
        }
        other => {
            debug!("action {other:?} is handled by the control loop");
            return;
        }
    };
    conn.set_task(id, task);
}

/// Spawns a data channel's task in the connection's span; dropping the handle (when the core
/// closes the channel) cancels it.
fn spawn(f: impl std::future::Future<Output = ()> + Send + 'static) -> Task<()> {
    rt::spawn(f.in_current_span())
}

use ftp_host::net::CCC_GRACE;

/// The first byte waiting on the socket, left there; `None` when the connection ended.
async fn peek(tcp: &Tcp) -> Option<u8> {
    let mut first = [0u8; 1];
    match tcp.peek(&mut first).await {
        Ok(1) => Some(first[0]),
        _ => None,
    }
}

/// Takes the client's close_notify after CCC (RFC 4217 §6) off the socket, one whole TLS
/// record at a time and through the TLS session, so that the cleartext after it is read as
/// commands and not lost inside the TLS layer; returns at once when the client goes
/// straight to cleartext.
async fn peer_close_notify(tcp: &mut Tcp, session: &mut rustls::ServerConnection) {
    use futures_lite::AsyncReadExt;
    loop {
        match peek(tcp).await {
            Some(b) if ftp_host::net::starts_tls_record(b) => {}
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
