//! The FTP client: a [`Client`] handle with an async method per operation of the core's
//! [`ClientSession`], plain FTP, explicit FTPS (AUTH TLS) and implicit FTPS with rustls.
//!
//! [`Client::connect`] opens the control connection and spawns a task (on the selected
//! runtime) that drives the session through [`ClientConn`], the bookkeeping shared with the
//! other adapters; the session logs in from the configuration, and every protocol decision
//! (EPSV or PASV, PORT or EPRT, REST, ABOR, which address to trust, what a reply means) is the
//! core's. The task runs data connections: passive connects, active listeners on the control
//! connection's local address, TLS data connections that resume the control connection's TLS
//! session, and a data idle timeout.
//!
//! The operations that need no runtime types (`cwd`, `list`, `size`, `rename`...) come from
//! the [`Operations`] trait, shared with the other adapters' clients; import it (it is in
//! this module) to call them.
//!
//! ```no_run
//! use ftp_futures::client::{Client, Config, Operations};
//!
//! # fn main() -> Result<(), ftp_futures::client::Error> {
//! ftp_futures::block_on(async {
//!     let addr = "127.0.0.1:2121".parse().unwrap();
//!     let client = Client::connect(addr, Config::new("alice", "secret")).await?;
//!     for entry in client.list(Some("/")).await? {
//!         println!("{}", String::from_utf8_lossy(&entry.name));
//!     }
//!     let mut copy = Vec::new();
//!     client.retr_to("/file.bin", &mut copy).await?;
//!     client.stor("/upload.bin", &b"hello"[..]).await?;
//!     client.quit().await
//! })
//! # }
//! ```
//!
//! Operations may be called concurrently (the methods take `&self`): the session runs them
//! one at a time, in order.
//!
//! [`ClientConn`]: ftp_host::client::ClientConn

mod data;
mod driver;
mod stream;
mod tls;

pub use data::TRANSFER_BUFFER;
pub use ftp_host::client::{Config, Error, Op, Operations};
pub use stream::RetrStream;
pub use tls::{
    insecure_tls_config, insecure_tls_config_with, system_tls_config, tls_config,
    tls_config_from_pem,
};

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use async_channel::Sender;
use bytes::Bytes;
use ftp_host::client::ops::{self, stored_unique, transferred};
use ftp_host::client::{ClientConn, Start};
use ftp_proto::client::{ClientSession, ClientTls, LoginInfo, Outcome};
use futures_io::{AsyncRead, AsyncWrite};
use tracing::Instrument;

use crate::rt;
use crate::stream::{timeout, Stream, Tcp};
use data::PIPE_CHUNKS;
use driver::{Driver, Pipe, Request};

/// A logged-in FTP client. Cheap to share by reference: every method takes `&self`, and
/// operations run in the order they are called.
///
/// Dropping it lets queued operations finish, then sends QUIT.
#[derive(Debug)]
pub struct Client {
    requests: Sender<Request>,
    info: LoginInfo,
    peer: SocketAddr,
}

impl Client {
    /// Connects to `addr` and logs in as `config` says (plain FTP, explicit or implicit FTPS
    /// by `config.session.tls`). Returns once logged in.
    pub async fn connect(addr: SocketAddr, config: Config) -> Result<Client, Error> {
        config.check()?;
        let mode = config.session.tls;
        let tls = tls::Tls {
            name: config.server_name_for(addr),
            config: config.tls,
        };
        let limit = config.connect_timeout;
        let tcp = timeout(limit, Tcp::connect(addr))
            .await
            .map_err(|_| Error::ConnectTimeout)?
            .map_err(Error::Connect)?;
        let _ = tcp.get_ref().set_nodelay(true);
        let local = tcp.get_ref().local_addr().map_err(Error::Connect)?;
        let control = match mode {
            ClientTls::Implicit => timeout(limit, tls.connect(tcp))
                .await
                .map_err(|_| Error::ConnectTimeout)?
                .map_err(Error::from_tls)?,
            _ => Stream::Plain(tcp),
        };
        let session = ClientSession::new(config.session, addr, Instant::now())?;
        let (requests, requests_rx) = async_channel::bounded(16);
        let (login, login_rx) = async_channel::bounded(1);
        let (reports, reports_rx) = async_channel::bounded(64);
        let driver = Driver {
            conn: ClientConn::new(session, local.ip()),
            control: Some(control),
            tls,
            connect_timeout: limit,
            idle: config.data_idle_timeout,
            requests: Box::pin(requests_rx),
            login: Some(login),
            reports: (reports, Box::pin(reports_rx)),
        };
        let span = tracing::info_span!("ftp_client", peer = %addr);
        rt::spawn(driver.run().instrument(span)).detach();
        let info = login_rx.recv().await.map_err(|_| Error::Closed)??;
        Ok(Client {
            requests,
            info,
            peer: addr,
        })
    }

    /// Connects with explicit FTPS: AUTH TLS before the login, data connections protected
    /// (PROT P), all required (`Required`, unless `config.session.tls` already says
    /// `Opportunistic`).
    pub async fn connect_tls(
        addr: SocketAddr,
        config: Config,
        tls: Arc<rustls::ClientConfig>,
    ) -> Result<Client, Error> {
        Client::connect(addr, config.explicit_tls(tls)).await
    }

    /// Connects with implicit FTPS: TLS from the first byte (usually port 990).
    pub async fn connect_implicit_tls(
        addr: SocketAddr,
        config: Config,
        tls: Arc<rustls::ClientConfig>,
    ) -> Result<Client, Error> {
        Client::connect(addr, config.implicit_tls(tls)).await
    }

    /// What the login learned: the greeting, the features, whether TLS protects the control
    /// and data connections.
    pub fn login_info(&self) -> &LoginInfo {
        &self.info
    }

    /// The server's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// Queues an operation and returns the receiver of its result.
    async fn start(&self, start: Start, pipe: Option<Pipe>) -> Result<stream::Done, Error> {
        let (done, rx) = async_channel::bounded(1);
        let req = Request { start, pipe, done };
        self.requests.send(req).await.map_err(|_| Error::Closed)?;
        Ok(rx)
    }

    /// RETR: a stream of the file's bytes. See [`RetrStream`] for how it ends.
    pub async fn retr(&self, path: impl AsRef<[u8]>) -> Result<RetrStream, Error> {
        self.retr_from(path, 0).await
    }

    /// RETR from byte `offset` (REST first when it is not 0), to resume a download.
    pub async fn retr_from(
        &self,
        path: impl AsRef<[u8]>,
        offset: u64,
    ) -> Result<RetrStream, Error> {
        let p = bytes(path);
        let (tx, rx) = async_channel::bounded(PIPE_CHUNKS);
        let start: Start = ops::retr(p, offset);
        let done = self.start(start, Some(Pipe::Download(tx))).await?;
        Ok(RetrStream::new(rx, done))
    }

    /// RETR into `dst` (flushed at the end); returns the bytes written.
    pub async fn retr_to<W: AsyncWrite + Unpin>(
        &self,
        path: impl AsRef<[u8]>,
        dst: W,
    ) -> Result<u64, Error> {
        self.retr_from_to(path, 0, dst).await
    }

    /// RETR from byte `offset` into `dst`; returns the bytes written.
    pub async fn retr_from_to<W: AsyncWrite + Unpin>(
        &self,
        path: impl AsRef<[u8]>,
        offset: u64,
        dst: W,
    ) -> Result<u64, Error> {
        self.retr_from(path, offset).await?.copy_to(dst).await
    }

    /// STOR: uploads all of `src` to `path`; returns the bytes sent. An error reading `src`
    /// fails the upload (the server is never told the file is complete).
    pub async fn stor<R: AsyncRead + Unpin>(
        &self,
        path: impl AsRef<[u8]>,
        src: R,
    ) -> Result<u64, Error> {
        self.stor_at(path, 0, src).await
    }

    /// STOR with REST `offset`: the server keeps its first `offset` bytes and `src` (the rest
    /// of the file) is written from there, to resume an upload.
    pub async fn stor_at<R: AsyncRead + Unpin>(
        &self,
        path: impl AsRef<[u8]>,
        offset: u64,
        src: R,
    ) -> Result<u64, Error> {
        let p = bytes(path);
        let start: Start = ops::stor(p, offset);
        transferred(self.upload(start, src).await?)
    }

    /// APPE: appends all of `src` to `path`.
    pub async fn appe<R: AsyncRead + Unpin>(
        &self,
        path: impl AsRef<[u8]>,
        src: R,
    ) -> Result<u64, Error> {
        let p = bytes(path);
        let start: Start = ops::appe(p);
        transferred(self.upload(start, src).await?)
    }

    /// STOU: stores `src` under a name the server chooses; returns the name when given.
    pub async fn stou<R: AsyncRead + Unpin>(&self, src: R) -> Result<Option<Bytes>, Error> {
        let start: Start = ops::stou();
        stored_unique(self.upload(start, src).await?)
    }

    async fn upload<R: AsyncRead + Unpin>(&self, start: Start, src: R) -> Result<Outcome, Error> {
        let (tx, rx) = async_channel::bounded(PIPE_CHUNKS);
        let done = self.start(start, Some(Pipe::Upload(rx))).await?;
        stream::feed_upload(src, tx, done).await
    }

    /// QUIT, after every operation queued before it; the connection then closes.
    pub async fn quit(self) -> Result<(), Error> {
        self.run(ops::quit()).await.map(|_| ())
    }
}

impl Operations for Client {
    fn run<T: Send + 'static>(&self, op: Op<T>) -> impl Future<Output = Result<T, Error>> + Send {
        let (start, finish) = op.into_parts();
        async move { finish(stream::outcome(&self.start(start, None).await?).await?) }
    }
}

fn bytes(b: impl AsRef<[u8]>) -> Bytes {
    Bytes::copy_from_slice(b.as_ref())
}
