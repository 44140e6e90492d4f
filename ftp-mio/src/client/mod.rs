//! The blocking FTP client: a [`Client`] with a plain method per operation, plain FTP,
//! explicit FTPS (AUTH TLS) and implicit FTPS with rustls.
//!
//! Every method runs the connection's drive loop in the calling thread until its operation
//! completes: no background thread, no runtime. The loop serves the control connection and
//! the data connection together on a private `mio::Poll`, and every wait has a deadline: the
//! connect timeout ([`Config::connect_timeout`]) for the TCP connect and the TLS handshakes,
//! the session's reply timeout for each reply, the data idle timeout
//! ([`Config::data_idle_timeout`]) for transfers. Every protocol decision (EPSV or PASV with
//! the fallback, PORT or EPRT, REST, ABOR, which address to trust) is the core's.
//!
//! The operations come from [`Operations`], shared with the async adapters' clients: `Client`
//! implements it (each future it returns is already complete when returned), and its
//! inherent methods of the same names (`cwd`, `list`, `size`...) call them and return the
//! result directly.
//!
//! ```no_run
//! use ftp_mio::client::{Client, Config};
//!
//! # fn run() -> Result<(), ftp_mio::client::Error> {
//! let client = Client::connect("127.0.0.1:2121".parse().unwrap(), Config::new("alice", "secret"))?;
//! for entry in client.list(Some("/"))? {
//!     println!("{}", String::from_utf8_lossy(&entry.name));
//! }
//! let mut file = std::fs::File::create("copy.bin").unwrap();
//! client.retr_to("/file.bin", &mut file)?;
//! client.stor("/upload.bin", &b"hello"[..])?;
//! client.quit()
//! # }
//! ```

mod driver;

pub use ftp_host::client::{Config, Error, Op, Operations};
#[cfg(feature = "tls")]
pub use ftp_host::tls::{
    client_config as tls_config, client_config_from_pem as tls_config_from_pem,
    client_config_with_system_roots as system_tls_config,
    insecure_client_config as insecure_tls_config,
    insecure_client_config_with as insecure_tls_config_with,
};

use std::cell::RefCell;
use std::future::Future;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::pin::pin;
use std::task::{Context, Poll as TaskPoll, Waker};
use std::time::Instant;

use bytes::Bytes;
use ftp_host::client::ops::{self, stored_unique, transferred};
use ftp_host::client::{ClientConn, Start};
use ftp_proto::client::{ClientSession, ClientTls, LoginInfo, Outcome};
use ftp_proto::command::Command;
use ftp_proto::listing::Entry;
use ftp_proto::reply::Reply;
use ftp_proto::time::Timestamp;
use mio::{Interest, Poll};

use crate::sock::Sock;
use driver::{Inner, Io, Pipe, Setup};

/// A logged-in FTP client whose methods block until their operation completes.
///
/// Operations run one at a time: the methods take `&self`, but the client is not `Sync` (it
/// is `Send`: it may move to another thread between calls), and
/// calling it again from inside a running operation (from the `Write` of
/// [`retr_to`](Self::retr_to), say) fails with [`Error::Local`].
///
/// Dropping it sends QUIT without waiting for the reply; [`quit`](Self::quit) waits.
pub struct Client {
    inner: RefCell<Inner>,
    info: LoginInfo,
    peer: SocketAddr,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("peer", &self.peer)
            .field("tls", &self.info.tls)
            .finish()
    }
}

#[cfg(not(feature = "tls"))]
fn no_tls() -> Error {
    Error::Tls(io::Error::new(
        io::ErrorKind::Unsupported,
        "TLS was asked for but ftp-mio was built without its `tls` feature",
    ))
}

impl Client {
    /// Connects to `addr` and logs in as `config` says (plain FTP, explicit or implicit FTPS
    /// by `config.session.tls`). Returns once logged in.
    pub fn connect(addr: SocketAddr, config: Config) -> Result<Client, Error> {
        let tls_mode = config.session.tls;
        #[cfg(not(feature = "tls"))]
        if tls_mode != ClientTls::Disabled {
            return Err(no_tls());
        }
        config.check()?;
        let tcp = std::net::TcpStream::connect_timeout(&addr, config.connect_timeout).map_err(
            |e| match e.kind() {
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Error::ConnectTimeout,
                _ => Error::Connect(e),
            },
        )?;
        tcp.set_nonblocking(true).map_err(Error::Connect)?;
        let local_ip = tcp.local_addr().map_err(Error::Connect)?.ip();
        let mut tcp = mio::net::TcpStream::from_std(tcp);
        #[cfg_attr(not(feature = "tls"), allow(unused_mut))]
        let mut poll = Poll::new().map_err(Error::Connect)?;
        poll.registry()
            .register(
                &mut tcp,
                driver::control_token(),
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(Error::Connect)?;
        #[allow(unused_mut)]
        let mut control = Sock::new(tcp);
        #[cfg(feature = "tls")]
        let name = config.server_name_for(addr);
        #[cfg(feature = "tls")]
        if let (Some(tls), ClientTls::Implicit) = (&config.tls, tls_mode) {
            let conn = rustls::ClientConnection::new(tls.clone(), name.clone())
                .map_err(|e| Error::Tls(io::Error::other(e)))?;
            control.start_tls(rustls::Connection::Client(conn));
            driver::handshake_blocking(
                &mut poll,
                &mut control,
                crate::later(Instant::now(), config.connect_timeout),
            )?;
        }
        let session = ClientSession::new(config.session, addr, Instant::now())?;
        let setup = Setup {
            connect_timeout: config.connect_timeout,
            idle: config.data_idle_timeout,
            #[cfg(feature = "tls")]
            tls: config.tls,
            #[cfg(feature = "tls")]
            name,
        };
        let mut inner = Inner::new(poll, control, ClientConn::new(session, local_ip), setup);
        let info = inner.wait_login()?;
        Ok(Client {
            inner: RefCell::new(inner),
            info,
            peer: addr,
        })
    }

    /// Connects with explicit FTPS: AUTH TLS before the login, data connections protected
    /// (PROT P), all required (`Required`, unless `config.session.tls` already says
    /// `Opportunistic`).
    #[cfg(feature = "tls")]
    pub fn connect_tls(
        addr: SocketAddr,
        config: Config,
        tls: std::sync::Arc<rustls::ClientConfig>,
    ) -> Result<Client, Error> {
        Client::connect(addr, config.explicit_tls(tls))
    }

    /// Connects with implicit FTPS: TLS from the first byte (usually port 990).
    #[cfg(feature = "tls")]
    pub fn connect_implicit_tls(
        addr: SocketAddr,
        config: Config,
        tls: std::sync::Arc<rustls::ClientConfig>,
    ) -> Result<Client, Error> {
        Client::connect(addr, config.implicit_tls(tls))
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

    fn execute(&self, start: Start, pipe: Option<Pipe>, io: Io<'_>) -> Result<Outcome, Error> {
        let mut inner = self.inner.try_borrow_mut().map_err(|_| {
            Error::Local(io::Error::other(
                "the client was called from inside one of its own operations",
            ))
        })?;
        inner.execute(start, pipe, io)
    }

    /// Runs any [`Op`] (e.g. one built with [`Op::new`] for a session call that has no
    /// method here) to its completion.
    pub fn perform<T>(&self, op: Op<T>) -> Result<T, Error> {
        let (start, finish) = op.into_parts();
        finish(self.execute(start, None, Io::None)?)
    }

    /// CWD: changes the working directory.
    pub fn cwd(&self, path: impl AsRef<[u8]>) -> Result<Reply, Error> {
        done(Operations::cwd(self, path))
    }

    /// CDUP: changes to the parent directory.
    pub fn cdup(&self) -> Result<Reply, Error> {
        done(Operations::cdup(self))
    }

    /// PWD: the working directory.
    pub fn pwd(&self) -> Result<Bytes, Error> {
        done(Operations::pwd(self))
    }

    /// MKD: creates a directory; returns its name when the server gave it.
    pub fn mkdir(&self, path: impl AsRef<[u8]>) -> Result<Option<Bytes>, Error> {
        done(Operations::mkdir(self, path))
    }

    /// RMD: removes a directory.
    pub fn rmdir(&self, path: impl AsRef<[u8]>) -> Result<Reply, Error> {
        done(Operations::rmdir(self, path))
    }

    /// DELE: deletes a file.
    pub fn delete(&self, path: impl AsRef<[u8]>) -> Result<Reply, Error> {
        done(Operations::delete(self, path))
    }

    /// RNFR and RNTO: renames `from` to `to`.
    pub fn rename(&self, from: impl AsRef<[u8]>, to: impl AsRef<[u8]>) -> Result<Reply, Error> {
        done(Operations::rename(self, from, to))
    }

    /// SIZE: the size of a file in bytes.
    pub fn size(&self, path: impl AsRef<[u8]>) -> Result<u64, Error> {
        done(Operations::size(self, path))
    }

    /// MDTM: the modification time of a file.
    pub fn mdtm(&self, path: impl AsRef<[u8]>) -> Result<Timestamp, Error> {
        done(Operations::mdtm(self, path))
    }

    /// MFMT: sets the modification time of a file.
    pub fn mfmt(&self, path: impl AsRef<[u8]>, time: Timestamp) -> Result<Reply, Error> {
        done(Operations::mfmt(self, path, time))
    }

    /// SITE with this argument (e.g. `CHMOD 644 file`); returns the reply.
    pub fn site(&self, arg: impl AsRef<[u8]>) -> Result<Reply, Error> {
        done(Operations::site(self, arg))
    }

    /// STAT of the server, or of a path; returns the reply.
    pub fn stat(&self, path: Option<impl AsRef<[u8]>>) -> Result<Reply, Error> {
        done(Operations::stat(self, path))
    }

    /// NOOP.
    pub fn noop(&self) -> Result<Reply, Error> {
        done(Operations::noop(self))
    }

    /// Any command that neither moves data nor changes the session's state (see
    /// [`ClientSession::raw`]); returns the final reply.
    pub fn raw(&self, command: Command) -> Result<Reply, Error> {
        done(Operations::raw(self, command))
    }

    /// MLST: the facts of one path (or of the working directory).
    pub fn mlst(&self, path: Option<impl AsRef<[u8]>>) -> Result<Entry, Error> {
        done(Operations::mlst(self, path))
    }

    /// LIST, parsed (Unix and DOS formats; lines in no known format are left out).
    pub fn list(&self, path: Option<impl AsRef<[u8]>>) -> Result<Vec<Entry>, Error> {
        done(Operations::list(self, path))
    }

    /// NLST: the names in a directory.
    pub fn nlst(&self, path: Option<impl AsRef<[u8]>>) -> Result<Vec<Bytes>, Error> {
        done(Operations::nlst(self, path))
    }

    /// MLSD: the entries of a directory with their facts (`cdir`/`pdir` entries included).
    pub fn mlsd(&self, path: Option<impl AsRef<[u8]>>) -> Result<Vec<Entry>, Error> {
        done(Operations::mlsd(self, path))
    }

    /// ABOR. A blocking client has no transfer running between its calls, so this sends
    /// ABOR and returns the server's reply.
    pub fn abort(&self) -> Result<Option<Reply>, Error> {
        done(Operations::abort(self))
    }

    /// RETR into `dst` (flushed at the end); returns the bytes received.
    pub fn retr_to(&self, path: impl AsRef<[u8]>, dst: impl Write) -> Result<u64, Error> {
        self.retr_from_to(path, 0, dst)
    }

    /// RETR from byte `offset` (REST first when it is not 0) into `dst`, to resume a
    /// download; returns the bytes received.
    pub fn retr_from_to(
        &self,
        path: impl AsRef<[u8]>,
        offset: u64,
        mut dst: impl Write,
    ) -> Result<u64, Error> {
        let p = bytes(path);
        let o = self.execute(
            ops::retr(p, offset),
            Some(Pipe::Download),
            Io::Download(&mut dst),
        )?;
        dst.flush().map_err(Error::Local)?;
        transferred(o)
    }

    /// STOR: uploads all of `src` to `path`; returns the bytes sent. An error reading `src`
    /// fails the upload, and the data connection is reset so that the server never takes it
    /// for the whole file.
    pub fn stor(&self, path: impl AsRef<[u8]>, src: impl Read) -> Result<u64, Error> {
        self.stor_at(path, 0, src)
    }

    /// STOR with REST `offset`: the server keeps its first `offset` bytes and `src` (the rest
    /// of the file) is written from there, to resume an upload.
    pub fn stor_at(
        &self,
        path: impl AsRef<[u8]>,
        offset: u64,
        mut src: impl Read,
    ) -> Result<u64, Error> {
        let p = bytes(path);
        transferred(self.execute(
            ops::stor(p, offset),
            Some(Pipe::Upload),
            Io::Upload(&mut src),
        )?)
    }

    /// APPE: appends all of `src` to `path`; returns the bytes sent.
    pub fn appe(&self, path: impl AsRef<[u8]>, mut src: impl Read) -> Result<u64, Error> {
        let p = bytes(path);
        transferred(self.execute(ops::appe(p), Some(Pipe::Upload), Io::Upload(&mut src))?)
    }

    /// STOU: stores `src` under a name the server chooses; returns the name when given.
    pub fn stou(&self, mut src: impl Read) -> Result<Option<Bytes>, Error> {
        stored_unique(self.execute(ops::stou(), Some(Pipe::Upload), Io::Upload(&mut src))?)
    }

    /// QUIT; returns once the server has answered and the connection is closed.
    pub fn quit(self) -> Result<(), Error> {
        self.perform(ops::quit()).map(|_| ())
    }
}

impl Operations for Client {
    /// Runs `op` to its completion before returning: the future is complete already.
    fn run<T: Send + 'static>(&self, op: Op<T>) -> impl Future<Output = Result<T, Error>> + Send {
        std::future::ready(self.perform(op))
    }
}

#[allow(dead_code)]
fn assert_send() {
    fn send<T: Send>() {}
    send::<Client>();
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Ok(mut inner) = self.inner.try_borrow_mut() {
            inner.quit_now();
        }
    }
}

/// The result of a future of [`Operations`] on [`Client`], which is complete when returned.
fn done<T>(f: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        TaskPoll::Ready(r) => r,
        TaskPoll::Pending => Err(Error::UnexpectedOutcome),
    }
}

fn bytes(b: impl AsRef<[u8]>) -> Bytes {
    Bytes::copy_from_slice(b.as_ref())
}
