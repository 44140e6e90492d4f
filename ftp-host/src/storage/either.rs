//! [`EitherStorage`]: one of two storages, chosen at run time (a command line's `--root` or
//! `--storage`), behind one type that a server is generic over.

use std::io::{self, Read, Write};
use std::sync::Arc;

use ftp_proto::listing::Entry;
use ftp_proto::path::VirtualPath;
use ftp_proto::server::{Failure, WriteMode};
use ftp_proto::time::Timestamp;

use super::{Listing, Storage};
use crate::auth::User;

/// A [`Storage`] that is `A` or `B`, each request passed to the one it is.
#[derive(Debug)]
pub enum EitherStorage<A, B> {
    /// The first kind.
    Left(Arc<A>),
    /// The second kind.
    Right(Arc<B>),
}

/// A reader or writer of an [`EitherStorage`]: the one its storage made.
#[derive(Debug)]
pub enum Either<L, R> {
    /// Made by [`EitherStorage::Left`].
    Left(L),
    /// Made by [`EitherStorage::Right`].
    Right(R),
}

impl<L: Read, R: Read> Read for Either<L, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Either::Left(r) => r.read(buf),
            Either::Right(r) => r.read(buf),
        }
    }
}

impl<L: Write, R: Write> Write for Either<L, R> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Either::Left(w) => w.write(buf),
            Either::Right(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Either::Left(w) => w.flush(),
            Either::Right(w) => w.flush(),
        }
    }
}

/// Calls `$method` on whichever storage `$self` is.
macro_rules! each {
    ($self:expr, $s:ident => $call:expr) => {
        match $self {
            EitherStorage::Left($s) => $call,
            EitherStorage::Right($s) => $call,
        }
    };
}

impl<A: Storage, B: Storage> Storage for EitherStorage<A, B> {
    type Reader = Either<A::Reader, B::Reader>;
    type Writer = Either<A::Writer, B::Writer>;

    fn for_user(self: &Arc<Self>, user: &User) -> Result<Arc<Self>, Failure> {
        Ok(Arc::new(match &**self {
            EitherStorage::Left(s) => EitherStorage::Left(s.for_user(user)?),
            EitherStorage::Right(s) => EitherStorage::Right(s.for_user(user)?),
        }))
    }

    fn stat(&self, path: &VirtualPath) -> Result<Entry, Failure> {
        each!(self, s => s.stat(path))
    }

    fn list(&self, path: &VirtualPath) -> Result<Listing, Failure> {
        each!(self, s => s.list(path))
    }

    fn open_read(
        &self,
        path: &VirtualPath,
        offset: u64,
    ) -> Result<(Self::Reader, Option<u64>), Failure> {
        match self {
            EitherStorage::Left(s) => s.open_read(path, offset).map(|(r, n)| (Either::Left(r), n)),
            EitherStorage::Right(s) => s
                .open_read(path, offset)
                .map(|(r, n)| (Either::Right(r), n)),
        }
    }

    fn reader_into_file(reader: Self::Reader) -> Result<std::fs::File, Self::Reader> {
        match reader {
            Either::Left(r) => A::reader_into_file(r).map_err(Either::Left),
            Either::Right(r) => B::reader_into_file(r).map_err(Either::Right),
        }
    }

    fn open_write(
        &self,
        path: &VirtualPath,
        mode: WriteMode,
    ) -> Result<(Self::Writer, Option<VirtualPath>), Failure> {
        match self {
            EitherStorage::Left(s) => s.open_write(path, mode).map(|(w, p)| (Either::Left(w), p)),
            EitherStorage::Right(s) => s.open_write(path, mode).map(|(w, p)| (Either::Right(w), p)),
        }
    }

    fn finish_write(&self, writer: Self::Writer) -> io::Result<()> {
        match (self, writer) {
            (EitherStorage::Left(s), Either::Left(w)) => s.finish_write(w),
            (EitherStorage::Right(s), Either::Right(w)) => s.finish_write(w),
            // A session keeps one storage, so its writers are always of that storage's kind.
            _ => Err(io::Error::other("writer of another storage")),
        }
    }

    fn make_dir(&self, path: &VirtualPath) -> Result<(), Failure> {
        each!(self, s => s.make_dir(path))
    }

    fn remove_dir(&self, path: &VirtualPath) -> Result<(), Failure> {
        each!(self, s => s.remove_dir(path))
    }

    fn delete(&self, path: &VirtualPath) -> Result<(), Failure> {
        each!(self, s => s.delete(path))
    }

    fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), Failure> {
        each!(self, s => s.rename(from, to))
    }

    fn set_modified(&self, path: &VirtualPath, time: Timestamp) -> Result<(), Failure> {
        each!(self, s => s.set_modified(path, time))
    }

    fn chmod(&self, path: &VirtualPath, mode: u32) -> Result<(), Failure> {
        each!(self, s => s.chmod(path, mode))
    }
}
