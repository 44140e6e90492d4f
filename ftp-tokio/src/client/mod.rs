//! The FTP client: a [`Client`] handle with an async method per operation of the core's
//! [`ClientSession`], plain FTP, explicit FTPS (AUTH TLS) and implicit FTPS with rustls.
//!
//! [`Client::connect`] opens the control connection and spawns a task that drives the
//! session by the core's contract; the session logs in from the configuration, and every
//! protocol decision (EPSV or PASV, PORT or EPRT, REST, ABOR, which address to trust, what a
//! reply means) is the core's. The task runs data connections: passive connects, active
//! listeners on the control connection's local address, TLS data connections that resume the
//! control connection's TLS session, and a data idle timeout.
//!
//! The operations that need no runtime types (`cwd`, `list`, `size`, `rename`...) come from
//! the [`Operations`] trait, shared with the other adapters' clients; import it (it is in
//! this module) to call them.
//!
//! ```no_run
//! use ftp_tokio::client::{Client, Config, Operations};
//!
//! # async fn run() -> Result<(), ftp_tokio::client::Error> {
//! let client = Client::connect("127.0.0.1:2121".parse().unwrap(), Config::new("alice", "secret")).await?;
//! for entry in client.list(Some("/")).await? {
//!     println!("{}", String::from_utf8_lossy(&entry.name));
//! }
//! let mut file = tokio::fs::File::create("copy.bin").await.unwrap();
//! client.retr_to("/file.bin", &mut file).await?;
//! client.stor("/upload.bin", &b"hello"[..]).await?;
//! client.quit().await
//! # }
//! ```
//!
//! Operations may be called concurrently (the methods take `&self`): the session runs them
//! one at a time, in order.

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

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use ftp_host::client::ops::{self, stored_unique, transferred};
use ftp_host::client::Start;
use ftp_proto::client::{ClientSession, ClientTls, LoginInfo, Outcome};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use driver::{Driver, Pipe, Request};
use tls::Stream;

/// A logged-in FTP client. Cheap to share by reference: every method takes `&self`, and
/// operations run in the order they are called.
///
/// Dropping it lets queued operations finish, then sends QUIT.
#[derive(Debug)]
pub struct Client {
    requests: mpsc::Sender<Request>,
    info: LoginInfo,
    peer: SocketAddr,
}

impl Client {
    /// Connects to `addr` and logs in as `config` says (plain FTP, explicit or implicit FTPS
    /// by `config.session.tls`). Returns once logged in.
    pub async fn connect(addr: SocketAddr, config: Config) -> Result<Client, Error> {
        config.check()?;
        let tls_mode = config.session.tls;
        let name = config.server_name_for(addr);
        let tcp = match tokio::time::timeout(config.connect_timeout, TcpStream::connect(addr)).await
        {
            Err(_) => return Err(Error::ConnectTimeout),
            Ok(Err(e)) => return Err(Error::Connect(e)),
            Ok(Ok(tcp)) => tcp,
        };
        let _ = tcp.set_nodelay(true);
        let control = match (&config.tls, tls_mode) {
            (Some(tls_config), ClientTls::Implicit) => {
                let handshake = tls::connect(tls_config, &name, tcp);
                match tokio::time::timeout(config.connect_timeout, handshake).await {
                    Err(_) => return Err(Error::ConnectTimeout),
                    Ok(Err(e)) => return Err(Error::from_tls(e)),
                    Ok(Ok(s)) => s,
                }
            }
            _ => Stream::Plain(tcp),
        };
        let session = ClientSession::new(config.session, addr, Instant::now())?;
        let (req_tx, req_rx) = mpsc::channel(16);
        let (login_tx, login_rx) = oneshot::channel();
        let driver = Driver::new(
            session,
            control,
            config.tls,
            name,
            config.connect_timeout,
            config.data_idle_timeout,
            req_rx,
            login_tx,
        )
        .map_err(Error::Connect)?;
        let span = tracing::info_span!("ftp_client", peer = %addr);
        tokio::spawn(driver.run().instrument(span));
        let info = login_rx.await.map_err(|_| Error::Closed)??;
        Ok(Client {
            requests: req_tx,
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
    async fn start(
        &self,
        start: Start,
        pipe: Option<Pipe>,
    ) -> Result<oneshot::Receiver<Result<Outcome, Error>>, Error> {
        let (done, rx) = oneshot::channel();
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
        let (ours, theirs) = tokio::io::duplex(TRANSFER_BUFFER);
        let rx = self
            .start(ops::retr(p, offset), Some(Pipe::Download(theirs)))
            .await?;
        Ok(RetrStream::new(ours, rx))
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
        mut dst: W,
    ) -> Result<u64, Error> {
        let mut stream = self.retr_from(path, offset).await?;
        let n = tokio::io::copy(&mut stream, &mut dst)
            .await
            .map_err(stream::into_error)?;
        dst.flush().await.map_err(Error::Local)?;
        Ok(n)
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
        transferred(self.upload(ops::stor(p, offset), src).await?)
    }

    /// APPE: appends all of `src` to `path`.
    pub async fn appe<R: AsyncRead + Unpin>(
        &self,
        path: impl AsRef<[u8]>,
        src: R,
    ) -> Result<u64, Error> {
        let p = bytes(path);
        transferred(self.upload(ops::appe(p), src).await?)
    }

    /// STOU: stores `src` under a name the server chooses; returns the name when given.
    pub async fn stou<R: AsyncRead + Unpin>(&self, src: R) -> Result<Option<Bytes>, Error> {
        stored_unique(self.upload(ops::stou(), src).await?)
    }

    async fn upload<R: AsyncRead + Unpin>(&self, start: Start, src: R) -> Result<Outcome, Error> {
        let (ours, theirs) = tokio::io::duplex(TRANSFER_BUFFER);
        let complete = Arc::new(AtomicBool::new(false));
        let source = data::UploadSource {
            pipe: theirs,
            complete: complete.clone(),
        };
        let rx = self.start(start, Some(Pipe::Upload(source))).await?;
        stream::feed_upload(src, ours, complete, rx).await
    }

    /// QUIT, after every operation queued before it; the connection then closes.
    pub async fn quit(self) -> Result<(), Error> {
        self.run(ops::quit()).await.map(|_| ())
    }
}

impl Operations for Client {
    fn run<T: Send + 'static>(
        &self,
        op: Op<T>,
    ) -> impl std::future::Future<Output = Result<T, Error>> + Send {
        let (start, finish) = op.into_parts();
        async move {
            let outcome = self
                .start(start, None)
                .await?
                .await
                .map_err(|_| Error::Closed)??;
            finish(outcome)
        }
    }
}

fn bytes(b: impl AsRef<[u8]>) -> Bytes {
    Bytes::copy_from_slice(b.as_ref())
}
