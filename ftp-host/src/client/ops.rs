//! Typed client operations: what to start on the session and how to read its [`Outcome`].

use std::future::Future;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use ftp_proto::client::{ClientError, ClientSession, OpId, Outcome};
use ftp_proto::command::Command;
use ftp_proto::listing::Entry;
use ftp_proto::reply::Reply;
use ftp_proto::time::Timestamp;

use super::Error;

/// Starts an operation on the session; returns its id.
pub type Start = Box<dyn FnOnce(&mut ClientSession, Instant) -> Result<OpId, ClientError> + Send>;

/// Reads an operation's [`Outcome`] as the type its method returns.
pub type Finish<T> = fn(Outcome) -> Result<T, Error>;

/// One operation: how to start it on the session and how to turn its outcome into `T`.
pub struct Op<T> {
    start: Start,
    finish: Finish<T>,
}

impl<T> std::fmt::Debug for Op<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Op")
    }
}

impl<T> Op<T> {
    /// An operation from its parts.
    pub fn new(
        start: impl FnOnce(&mut ClientSession, Instant) -> Result<OpId, ClientError> + Send + 'static,
        finish: Finish<T>,
    ) -> Op<T> {
        Op {
            start: Box::new(start),
            finish,
        }
    }

    /// The start function, for the driver, and the outcome reader, for the caller.
    pub fn into_parts(self) -> (Start, Finish<T>) {
        (self.start, self.finish)
    }
}

fn bytes(b: impl AsRef<[u8]>) -> Bytes {
    Bytes::copy_from_slice(b.as_ref())
}

fn reply(o: Outcome) -> Result<Reply, Error> {
    match o {
        Outcome::Done(r) => Ok(r),
        _ => Err(Error::UnexpectedOutcome),
    }
}

/// The outcome of any operation, unchanged.
pub fn outcome(o: Outcome) -> Result<Outcome, Error> {
    Ok(o)
}

/// The byte count of a finished transfer (RETR, STOR, APPE, STOU).
pub fn transferred(o: Outcome) -> Result<u64, Error> {
    match o {
        Outcome::Transferred { bytes, .. } | Outcome::StoredUnique { bytes, .. } => Ok(bytes),
        _ => Err(Error::UnexpectedOutcome),
    }
}

/// The name a STOU stored under, when the server gave it.
pub fn stored_unique(o: Outcome) -> Result<Option<Bytes>, Error> {
    match o {
        Outcome::StoredUnique { name, .. } => Ok(name),
        _ => Err(Error::UnexpectedOutcome),
    }
}

/// RETR from `offset` (REST first when it is not 0): the start of a download.
pub fn retr(path: impl AsRef<[u8]>, offset: u64) -> Start {
    let p = bytes(path);
    Box::new(move |s, now| s.retr(now, p, offset))
}

/// STOR with REST `offset` (none when 0): the start of an upload.
pub fn stor(path: impl AsRef<[u8]>, offset: u64) -> Start {
    let p = bytes(path);
    Box::new(move |s, now| s.stor(now, p, offset))
}

/// APPE: the start of an append.
pub fn appe(path: impl AsRef<[u8]>) -> Start {
    let p = bytes(path);
    Box::new(move |s, now| s.appe(now, p))
}

/// STOU: the start of an upload under a name the server chooses.
pub fn stou() -> Start {
    Box::new(|s, now| s.stou(now))
}

/// QUIT, after every operation queued before it.
pub fn quit() -> Op<()> {
    Op::new(|s, now| s.quit(now), |_| Ok(()))
}

impl Op<Reply> {
    fn done(
        start: impl FnOnce(&mut ClientSession, Instant) -> Result<OpId, ClientError> + Send + 'static,
    ) -> Op<Reply> {
        Op::new(start, reply)
    }
}

/// The operations of an FTP client, written once for every adapter: an adapter implements
/// [`run`](Self::run) and gets the rest. Operations run one at a time in the order they are
/// called; the methods take `&self`, so they may be called from several tasks.
pub trait Operations {
    /// Runs `op` on the session to its completion.
    fn run<T: Send + 'static>(&self, op: Op<T>) -> impl Future<Output = Result<T, Error>> + Send;

    /// CWD: changes the working directory.
    fn cwd(&self, path: impl AsRef<[u8]>) -> impl Future<Output = Result<Reply, Error>> + Send {
        let p = bytes(path);
        self.run(Op::done(move |s, now| s.cwd(now, p)))
    }

    /// CDUP: changes to the parent directory.
    fn cdup(&self) -> impl Future<Output = Result<Reply, Error>> + Send {
        self.run(Op::done(|s, now| s.cdup(now)))
    }

    /// PWD: the working directory.
    fn pwd(&self) -> impl Future<Output = Result<Bytes, Error>> + Send {
        self.run(Op::new(
            |s, now| s.pwd(now),
            |o| match o {
                Outcome::Path(p) => Ok(p),
                _ => Err(Error::UnexpectedOutcome),
            },
        ))
    }

    /// MKD: creates a directory; returns its name when the server gave it.
    fn mkdir(
        &self,
        path: impl AsRef<[u8]>,
    ) -> impl Future<Output = Result<Option<Bytes>, Error>> + Send {
        let p = bytes(path);
        self.run(Op::new(
            move |s, now| s.mkdir(now, p),
            |o| match o {
                Outcome::Created(p) => Ok(p),
                _ => Err(Error::UnexpectedOutcome),
            },
        ))
    }

    /// RMD: removes a directory.
    fn rmdir(&self, path: impl AsRef<[u8]>) -> impl Future<Output = Result<Reply, Error>> + Send {
        let p = bytes(path);
        self.run(Op::done(move |s, now| s.rmdir(now, p)))
    }

    /// DELE: deletes a file.
    fn delete(&self, path: impl AsRef<[u8]>) -> impl Future<Output = Result<Reply, Error>> + Send {
        let p = bytes(path);
        self.run(Op::done(move |s, now| s.delete(now, p)))
    }

    /// RNFR and RNTO: renames `from` to `to`.
    fn rename(
        &self,
        from: impl AsRef<[u8]>,
        to: impl AsRef<[u8]>,
    ) -> impl Future<Output = Result<Reply, Error>> + Send {
        let (f, t) = (bytes(from), bytes(to));
        self.run(Op::done(move |s, now| s.rename(now, f, t)))
    }

    /// SIZE: the size of a file in bytes.
    fn size(&self, path: impl AsRef<[u8]>) -> impl Future<Output = Result<u64, Error>> + Send {
        let p = bytes(path);
        self.run(Op::new(
            move |s, now| s.size(now, p),
            |o| match o {
                Outcome::Size(n) => Ok(n),
                _ => Err(Error::UnexpectedOutcome),
            },
        ))
    }

    /// MDTM: the modification time of a file.
    fn mdtm(
        &self,
        path: impl AsRef<[u8]>,
    ) -> impl Future<Output = Result<Timestamp, Error>> + Send {
        let p = bytes(path);
        self.run(Op::new(
            move |s, now| s.mdtm(now, p),
            |o| match o {
                Outcome::Modified(t) => Ok(t),
                _ => Err(Error::UnexpectedOutcome),
            },
        ))
    }

    /// MFMT: sets the modification time of a file.
    fn mfmt(
        &self,
        path: impl AsRef<[u8]>,
        time: Timestamp,
    ) -> impl Future<Output = Result<Reply, Error>> + Send {
        let p = bytes(path);
        self.run(Op::done(move |s, now| s.mfmt(now, p, time)))
    }

    /// SITE with this argument (e.g. `CHMOD 644 file`); returns the reply.
    fn site(&self, arg: impl AsRef<[u8]>) -> impl Future<Output = Result<Reply, Error>> + Send {
        let a = bytes(arg);
        self.run(Op::done(move |s, now| s.site(now, a)))
    }

    /// STAT of the server, or of a path; returns the reply.
    fn stat(
        &self,
        path: Option<impl AsRef<[u8]>>,
    ) -> impl Future<Output = Result<Reply, Error>> + Send {
        let p = path.map(bytes);
        self.run(Op::done(move |s, now| s.stat(now, p)))
    }

    /// NOOP.
    fn noop(&self) -> impl Future<Output = Result<Reply, Error>> + Send {
        self.run(Op::done(|s, now| s.noop(now)))
    }

    /// Any command that neither moves data nor changes the session's state (see
    /// [`ClientSession::raw`]); returns the final reply.
    fn raw(&self, command: Command) -> impl Future<Output = Result<Reply, Error>> + Send {
        self.run(Op::done(move |s, now| s.raw(now, command)))
    }

    /// MLST: the facts of one path (or of the working directory).
    fn mlst(
        &self,
        path: Option<impl AsRef<[u8]>>,
    ) -> impl Future<Output = Result<Entry, Error>> + Send {
        let p = path.map(bytes);
        self.run(Op::new(
            move |s, now| s.mlst(now, p),
            |o| match o {
                Outcome::Entry(e) => Ok(*e),
                _ => Err(Error::UnexpectedOutcome),
            },
        ))
    }

    /// LIST, parsed (Unix and DOS formats; lines in no known format are left out).
    fn list(
        &self,
        path: Option<impl AsRef<[u8]>>,
    ) -> impl Future<Output = Result<Vec<Entry>, Error>> + Send {
        let p = path.map(bytes);
        // LIST dates without a year are read relative to today.
        let clock = Timestamp::from_system_time(SystemTime::now());
        self.run(Op::new(move |s, now| s.list(now, p, clock), listing))
    }

    /// NLST: the names in a directory.
    fn nlst(
        &self,
        path: Option<impl AsRef<[u8]>>,
    ) -> impl Future<Output = Result<Vec<Bytes>, Error>> + Send {
        let p = path.map(bytes);
        self.run(Op::new(
            move |s, now| s.nlst(now, p),
            |o| match o {
                Outcome::Names(n) => Ok(n),
                _ => Err(Error::UnexpectedOutcome),
            },
        ))
    }

    /// MLSD: the entries of a directory with their facts (`cdir`/`pdir` entries included).
    fn mlsd(
        &self,
        path: Option<impl AsRef<[u8]>>,
    ) -> impl Future<Output = Result<Vec<Entry>, Error>> + Send {
        let p = path.map(bytes);
        self.run(Op::new(move |s, now| s.mlsd(now, p), listing))
    }

    /// ABOR: stops the transfer in progress (a download being read, an upload), or sends ABOR
    /// when none is. Returns the server's ABOR reply when one was sent.
    fn abort(&self) -> impl Future<Output = Result<Option<Reply>, Error>> + Send {
        self.run(Op::new(
            |s, now| s.abort(now),
            |o| match o {
                Outcome::Aborted(r) => Ok(r),
                _ => Err(Error::UnexpectedOutcome),
            },
        ))
    }
}

fn listing(o: Outcome) -> Result<Vec<Entry>, Error> {
    match o {
        Outcome::Listing(l) => Ok(l.entries),
        _ => Err(Error::UnexpectedOutcome),
    }
}
