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
//! ```no_run
//! use ftp_tokio::client::{Client, Config};
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
mod error;
mod stream;
mod tls;

pub use data::TRANSFER_BUFFER;
pub use error::Error;
pub use stream::RetrStream;
pub use tls::{insecure_tls_config, insecure_tls_config_with, tls_config, tls_config_from_pem};

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use ftp_proto::client::{ClientConfig, ClientSession, ClientTls, LoginInfo, OpId, Outcome};
use ftp_proto::command::Command;
use ftp_proto::listing::Entry;
use ftp_proto::reply::Reply;
use ftp_proto::time::Timestamp;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use driver::{Driver, Pipe, Request};
use tls::Stream;

/// How to connect: the core's [`ClientConfig`] (credentials, TLS policy, passive or active,
/// reply timeout...) plus what the adapter needs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The session's configuration. Its `tls` field selects plain FTP, explicit FTPS
    /// (`Required` or `Opportunistic`) or implicit FTPS (`Implicit`).
    pub session: ClientConfig,
    /// The rustls configuration for FTPS; required when `session.tls` asks for TLS. One
    /// configuration (with its session store) serves the control and data connections, which
    /// is how data connections resume the control connection's TLS session.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The name the server's certificate is checked against (and TLS sessions are stored
    /// under); by default the server's IP address.
    pub server_name: Option<ServerName<'static>>,
    /// Time allowed for the TCP connect of the control and data connections, and for the
    /// control connection's TLS handshake. 30 s by default.
    pub connect_timeout: Duration,
    /// A data transfer fails when no byte moves for this long. 60 s by default.
    pub data_idle_timeout: Duration,
}

impl Config {
    /// A configuration for this user and password, plain FTP, passive mode, defaults
    /// elsewhere.
    pub fn new(user: impl Into<Bytes>, pass: impl Into<Bytes>) -> Config {
        Config::from_session(ClientConfig::new(user, pass))
    }

    /// Anonymous login.
    pub fn anonymous() -> Config {
        Config::from_session(ClientConfig::anonymous())
    }

    /// Wraps a session configuration, with the adapter's defaults.
    pub fn from_session(session: ClientConfig) -> Config {
        Config {
            session,
            tls: None,
            server_name: None,
            connect_timeout: Duration::from_secs(30),
            data_idle_timeout: Duration::from_secs(60),
        }
    }
}

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
        let tls_mode = config.session.tls;
        let wants_tls = tls_mode != ClientTls::Disabled;
        if wants_tls && config.tls.is_none() {
            return Err(Error::TlsNotConfigured);
        }
        let name = config
            .server_name
            .clone()
            .unwrap_or_else(|| ServerName::IpAddress(addr.ip().into()));
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
                    Ok(Err(e)) => return Err(Error::Tls(e)),
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
        mut config: Config,
        tls: Arc<rustls::ClientConfig>,
    ) -> Result<Client, Error> {
        if config.session.tls != ClientTls::Opportunistic {
            config.session.tls = ClientTls::Required;
        }
        config.tls = Some(tls);
        Client::connect(addr, config).await
    }

    /// Connects with implicit FTPS: TLS from the first byte (usually port 990).
    pub async fn connect_implicit_tls(
        addr: SocketAddr,
        mut config: Config,
        tls: Arc<rustls::ClientConfig>,
    ) -> Result<Client, Error> {
        config.session.tls = ClientTls::Implicit;
        config.tls = Some(tls);
        Client::connect(addr, config).await
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
        start: impl FnOnce(&mut ClientSession, Instant) -> Result<OpId, ftp_proto::client::ClientError>
            + Send
            + 'static,
        pipe: Pipe,
    ) -> Result<oneshot::Receiver<Result<Outcome, Error>>, Error> {
        let (done, rx) = oneshot::channel();
        let req = Request {
            start: Box::new(start),
            pipe,
            done,
        };
        self.requests.send(req).await.map_err(|_| Error::Closed)?;
        Ok(rx)
    }

    /// Runs an operation to its completion.
    async fn run(
        &self,
        start: impl FnOnce(&mut ClientSession, Instant) -> Result<OpId, ftp_proto::client::ClientError>
            + Send
            + 'static,
    ) -> Result<Outcome, Error> {
        self.start(start, Pipe::None)
            .await?
            .await
            .map_err(|_| Error::Closed)?
    }

    async fn run_done(
        &self,
        start: impl FnOnce(&mut ClientSession, Instant) -> Result<OpId, ftp_proto::client::ClientError>
            + Send
            + 'static,
    ) -> Result<Reply, Error> {
        match self.run(start).await? {
            Outcome::Done(r) => Ok(r),
            _ => Err(Error::UnexpectedOutcome),
        }
    }

    /// CWD: changes the working directory.
    pub async fn cwd(&self, path: impl AsRef<[u8]>) -> Result<Reply, Error> {
        let p = bytes(path);
        self.run_done(move |s, now| s.cwd(now, p)).await
    }

    /// CDUP: changes to the parent directory.
    pub async fn cdup(&self) -> Result<Reply, Error> {
        self.run_done(|s, now| s.cdup(now)).await
    }

    /// PWD: the working directory.
    pub async fn pwd(&self) -> Result<Bytes, Error> {
        match self.run(|s, now| s.pwd(now)).await? {
            Outcome::Path(p) => Ok(p),
            _ => Err(Error::UnexpectedOutcome),
        }
    }

    /// MKD: creates a directory; returns its name when the server gave it.
    pub async fn mkdir(&self, path: impl AsRef<[u8]>) -> Result<Option<Bytes>, Error> {
        let p = bytes(path);
        match self.run(move |s, now| s.mkdir(now, p)).await? {
            Outcome::Created(p) => Ok(p),
            _ => Err(Error::UnexpectedOutcome),
        }
    }

    /// RMD: removes a directory.
    pub async fn rmdir(&self, path: impl AsRef<[u8]>) -> Result<Reply, Error> {
        let p = bytes(path);
        self.run_done(move |s, now| s.rmdir(now, p)).await
    }

    /// DELE: deletes a file.
    pub async fn delete(&self, path: impl AsRef<[u8]>) -> Result<Reply, Error> {
        let p = bytes(path);
        self.run_done(move |s, now| s.delete(now, p)).await
    }

    /// RNFR and RNTO: renames `from` to `to`.
    pub async fn rename(
        &self,
        from: impl AsRef<[u8]>,
        to: impl AsRef<[u8]>,
    ) -> Result<Reply, Error> {
        let (f, t) = (bytes(from), bytes(to));
        self.run_done(move |s, now| s.rename(now, f, t)).await
    }

    /// SIZE: the size of a file in bytes.
    pub async fn size(&self, path: impl AsRef<[u8]>) -> Result<u64, Error> {
        let p = bytes(path);
        match self.run(move |s, now| s.size(now, p)).await? {
            Outcome::Size(n) => Ok(n),
            _ => Err(Error::UnexpectedOutcome),
        }
    }

    /// MDTM: the modification time of a file.
    pub async fn mdtm(&self, path: impl AsRef<[u8]>) -> Result<Timestamp, Error> {
        let p = bytes(path);
        match self.run(move |s, now| s.mdtm(now, p)).await? {
            Outcome::Modified(t) => Ok(t),
            _ => Err(Error::UnexpectedOutcome),
        }
    }

    /// MFMT: sets the modification time of a file.
    pub async fn mfmt(&self, path: impl AsRef<[u8]>, time: Timestamp) -> Result<Reply, Error> {
        let p = bytes(path);
        self.run_done(move |s, now| s.mfmt(now, p, time)).await
    }

    /// SITE with this argument (e.g. `CHMOD 644 file`); returns the reply.
    pub async fn site(&self, arg: impl AsRef<[u8]>) -> Result<Reply, Error> {
        let a = bytes(arg);
        self.run_done(move |s, now| s.site(now, a)).await
    }

    /// STAT of the server, or of a path; returns the reply.
    pub async fn stat(&self, path: Option<impl AsRef<[u8]>>) -> Result<Reply, Error> {
        let p = path.map(bytes);
        self.run_done(move |s, now| s.stat(now, p)).await
    }

    /// NOOP.
    pub async fn noop(&self) -> Result<Reply, Error> {
        self.run_done(|s, now| s.noop(now)).await
    }

    /// Any command that neither moves data nor changes the session's state (see
    /// [`ClientSession::raw`]); returns the final reply.
    pub async fn raw(&self, command: Command) -> Result<Reply, Error> {
        self.run_done(move |s, now| s.raw(now, command)).await
    }

    /// MLST: the facts of one path (or of the working directory).
    pub async fn mlst(&self, path: Option<impl AsRef<[u8]>>) -> Result<Entry, Error> {
        let p = path.map(bytes);
        match self.run(move |s, now| s.mlst(now, p)).await? {
            Outcome::Entry(e) => Ok(*e),
            _ => Err(Error::UnexpectedOutcome),
        }
    }

    /// LIST, parsed (Unix and DOS formats; lines in no known format are left out).
    pub async fn list(&self, path: Option<impl AsRef<[u8]>>) -> Result<Vec<Entry>, Error> {
        let p = path.map(bytes);
        let clock = Timestamp::from_system_time(SystemTime::now());
        match self.run(move |s, now| s.list(now, p, clock)).await? {
            Outcome::Listing(l) => Ok(l.entries),
            _ => Err(Error::UnexpectedOutcome),
        }
    }

    /// NLST: the names in a directory.
    pub async fn nlst(&self, path: Option<impl AsRef<[u8]>>) -> Result<Vec<Bytes>, Error> {
        let p = path.map(bytes);
        match self.run(move |s, now| s.nlst(now, p)).await? {
            Outcome::Names(n) => Ok(n),
            _ => Err(Error::UnexpectedOutcome),
        }
    }

    /// MLSD: the entries of a directory with their facts (`cdir`/`pdir` entries included).
    pub async fn mlsd(&self, path: Option<impl AsRef<[u8]>>) -> Result<Vec<Entry>, Error> {
        let p = path.map(bytes);
        match self.run(move |s, now| s.mlsd(now, p)).await? {
            Outcome::Listing(l) => Ok(l.entries),
            _ => Err(Error::UnexpectedOutcome),
        }
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
            .start(move |s, now| s.retr(now, p, offset), Pipe::Download(theirs))
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
        transferred(
            self.upload(move |s, now| s.stor(now, p, offset), src)
                .await?,
        )
    }

    /// APPE: appends all of `src` to `path`.
    pub async fn appe<R: AsyncRead + Unpin>(
        &self,
        path: impl AsRef<[u8]>,
        src: R,
    ) -> Result<u64, Error> {
        let p = bytes(path);
        transferred(self.upload(move |s, now| s.appe(now, p), src).await?)
    }

    /// STOU: stores `src` under a name the server chooses; returns the name when given.
    pub async fn stou<R: AsyncRead + Unpin>(&self, src: R) -> Result<Option<Bytes>, Error> {
        match self.upload(|s, now| s.stou(now), src).await? {
            Outcome::StoredUnique { name, .. } => Ok(name),
            _ => Err(Error::UnexpectedOutcome),
        }
    }

    async fn upload<R: AsyncRead + Unpin>(
        &self,
        start: impl FnOnce(&mut ClientSession, Instant) -> Result<OpId, ftp_proto::client::ClientError>
            + Send
            + 'static,
        src: R,
    ) -> Result<Outcome, Error> {
        let (ours, theirs) = tokio::io::duplex(TRANSFER_BUFFER);
        let complete = Arc::new(AtomicBool::new(false));
        let source = data::UploadSource {
            pipe: theirs,
            complete: complete.clone(),
        };
        let rx = self.start(start, Pipe::Upload(source)).await?;
        stream::feed_upload(src, ours, complete, rx).await
    }

    /// ABOR: stops the transfer in progress (a [`RetrStream`] being read, an upload), or
    /// sends ABOR when none is. Returns the server's ABOR reply when one was sent.
    pub async fn abort(&self) -> Result<Option<Reply>, Error> {
        match self.run(|s, now| s.abort(now)).await? {
            Outcome::Aborted(r) => Ok(r),
            _ => Err(Error::UnexpectedOutcome),
        }
    }

    /// QUIT, after every operation queued before it; the connection then closes.
    pub async fn quit(self) -> Result<(), Error> {
        self.run(|s, now| s.quit(now)).await.map(|_| ())
    }
}

fn bytes(b: impl AsRef<[u8]>) -> Bytes {
    Bytes::copy_from_slice(b.as_ref())
}

fn transferred(o: Outcome) -> Result<u64, Error> {
    match o {
        Outcome::Transferred { bytes, .. } | Outcome::StoredUnique { bytes, .. } => Ok(bytes),
        _ => Err(Error::UnexpectedOutcome),
    }
}
