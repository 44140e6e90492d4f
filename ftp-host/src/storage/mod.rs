//! The [`Storage`] trait a server serves files from, [`FsStorage`] over a local directory,
//! and the mapping of I/O errors to the [`Failure`]s the core turns into replies.
//!
//! The trait is blocking on purpose: a file system is blocking by nature, and a blocking
//! trait serves all three adapters alike (tokio and futures run each call on their blocking
//! pool, the mio server on its worker threads). A back-end that is asynchronous at heart (an
//! object store client) blocks on a runtime of its own inside its methods.

mod either;
mod fs;
#[cfg(feature = "s3")]
mod s3;

pub use either::{Either, EitherStorage};
pub use fs::{FsStorage, FsWriter};
#[cfg(feature = "s3")]
pub use s3::{S3Error, S3Reader, S3Storage, S3Writer, PART_SIZE};

use std::io::{self, Read, Write};
use std::sync::Arc;

use ftp_proto::listing::Entry;
use ftp_proto::path::VirtualPath;
use ftp_proto::server::{Failure, TransferError, WriteMode};
use ftp_proto::time::Timestamp;

use crate::auth::User;

/// The entries of a directory as [`Storage::list`] produces them: an iterator that the
/// transfer drains as it sends, so that only the entries on their way are in memory.
pub struct Listing {
    entries: Box<dyn Iterator<Item = io::Result<Entry>> + Send>,
}

impl Listing {
    /// A listing produced lazily by `entries`; an `Err` item ends the listing and fails its
    /// transfer.
    pub fn new(entries: impl Iterator<Item = io::Result<Entry>> + Send + 'static) -> Listing {
        Listing {
            entries: Box::new(entries),
        }
    }
}

impl From<Vec<Entry>> for Listing {
    fn from(entries: Vec<Entry>) -> Listing {
        Listing::new(entries.into_iter().map(Ok))
    }
}

impl Iterator for Listing {
    type Item = io::Result<Entry>;

    fn next(&mut self) -> Option<io::Result<Entry>> {
        self.entries.next()
    }
}

impl std::fmt::Debug for Listing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Listing(..)")
    }
}

/// Where a server's files live. Every path is a [`VirtualPath`]: rooted, normalized and never
/// above `/`; the implementation maps it under its own root.
///
/// Each method answers one [`StorageRequest`](ftp_proto::server::StorageRequest) and may
/// block: adapters call it on a blocking pool, never on the thread that serves control
/// connections. A [`Failure`] becomes the FTP reply the core chooses for it;
/// [`Failure::Unsupported`] says the back-end cannot do this at all (502).
pub trait Storage: Send + Sync + 'static {
    /// A file open for reading (RETR).
    type Reader: Read + Send + 'static;
    /// A file open for writing (STOR, APPE, STOU). The upload is reported complete only after
    /// [`finish_write`](Self::finish_write) returns `Ok`.
    type Writer: Write + Send + 'static;

    /// The storage a session of `user` works on, asked once per successful login (on the
    /// blocking pool, like every method) and used for every request of that session until it
    /// logs in again. A storage that decides per user returns an instance that knows the user
    /// (its home, its [`permissions`](User::permissions), its name); an `Err` refuses the login
    /// (530). The default shares this storage with every user, whoever logs in.
    ///
    /// The permissions themselves are enforced by the core before any request reaches the
    /// storage: a storage needs to check only what is finer than they are.
    fn for_user(self: &Arc<Self>, user: &User) -> Result<Arc<Self>, Failure> {
        let _ = user;
        Ok(self.clone())
    }

    /// Metadata of one path, with the last component as the entry's name.
    fn stat(&self, path: &VirtualPath) -> Result<Entry, Failure>;

    /// The entries of a directory (without `.` and `..`), or for a file the file's own entry.
    ///
    /// The [`Listing`] is drained one entry at a time (its first 64 KiB of lines by the
    /// storage job that opened it, the rest on the transfer's blocking thread), so
    /// that a directory of a million entries is listed in bounded memory: produce entries
    /// lazily when the directory can be large (a `Vec` converts with [`Listing::from`]). An
    /// error met after the first entry fails the transfer (451).
    fn list(&self, path: &VirtualPath) -> Result<Listing, Failure>;

    /// Opens a file for reading from `offset`; returns the reader and the number of bytes it
    /// will yield, when known.
    fn open_read(
        &self,
        path: &VirtualPath,
        offset: u64,
    ) -> Result<(Self::Reader, Option<u64>), Failure>;

    /// The open file behind a reader of [`open_read`](Self::open_read), for hosts that can
    /// send it without reading it (`sendfile(2)` for plain TYPE I downloads on Linux; see
    /// [`FileSide::zero_copy`](crate::transfer::FileSide::zero_copy)). Give the file only when
    /// what it holds from its current position to its end is exactly what the reader would
    /// yield. The default keeps the reader, and the download is read and sent chunk by chunk.
    fn reader_into_file(reader: Self::Reader) -> Result<std::fs::File, Self::Reader> {
        Err(reader)
    }

    /// The local file behind a writer of [`open_write`](Self::open_write), for hosts that can
    /// move received bytes into it without reading them (`splice(2)` for plain TYPE I uploads
    /// on Linux; see [`FileSide::zero_copy`](crate::transfer::FileSide::zero_copy)).
    /// Give it only when bytes written to the [`FsWriter`] are exactly what this storage would
    /// store; [`finish_write`](Self::finish_write) is still called on the writer at the end.
    /// The default has none, and uploads are received chunk by chunk.
    fn fs_writer(writer: &mut Self::Writer) -> Option<&mut FsWriter> {
        let _ = writer;
        None
    }

    /// Opens a file for writing. For [`WriteMode::CreateUnique`] `path` is the directory and
    /// the returned path names the file created; otherwise the returned path is `None`.
    fn open_write(
        &self,
        path: &VirtualPath,
        mode: WriteMode,
    ) -> Result<(Self::Writer, Option<VirtualPath>), Failure>;

    /// Completes an upload whose bytes were all written: flushes them (and, for a back-end
    /// that stages uploads, makes the file visible). The default flushes the writer. A writer
    /// dropped without this call is an upload that failed.
    fn finish_write(&self, mut writer: Self::Writer) -> io::Result<()> {
        writer.flush()
    }

    /// Where `path` lives in the storage's own terms (a file system path), for hooks that act
    /// on a stored file after its upload (`--on-upload`). The default: nowhere.
    fn real_path(&self, path: &VirtualPath) -> Option<std::path::PathBuf> {
        let _ = path;
        None
    }

    /// Creates a directory.
    fn make_dir(&self, path: &VirtualPath) -> Result<(), Failure>;

    /// Removes an empty directory.
    fn remove_dir(&self, path: &VirtualPath) -> Result<(), Failure>;

    /// Deletes a file.
    fn delete(&self, path: &VirtualPath) -> Result<(), Failure>;

    /// Renames `from` to `to`.
    fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), Failure>;

    /// Sets a file's modification time (MFMT).
    fn set_modified(&self, path: &VirtualPath, time: Timestamp) -> Result<(), Failure>;

    /// Sets a file's permission bits (SITE CHMOD; at most `0o7777`).
    fn chmod(&self, path: &VirtualPath, mode: u32) -> Result<(), Failure>;
}

/// Maps an I/O error of a storage operation to the failure the client is told about.
pub fn io_failure(e: &io::Error) -> Failure {
    use io::ErrorKind as K;
    match e.kind() {
        K::NotFound => Failure::NotFound,
        K::PermissionDenied | K::ReadOnlyFilesystem => Failure::PermissionDenied,
        K::AlreadyExists => Failure::AlreadyExists,
        K::NotADirectory => Failure::NotADirectory,
        K::IsADirectory => Failure::IsADirectory,
        K::DirectoryNotEmpty => Failure::NotEmpty,
        K::StorageFull | K::FileTooLarge | K::QuotaExceeded => Failure::NoSpace,
        K::InvalidInput | K::InvalidFilename => Failure::InvalidName,
        K::Interrupted | K::WouldBlock | K::TimedOut | K::ResourceBusy => Failure::Transient,
        K::Unsupported => Failure::Unsupported,
        _ => Failure::Other("Requested action not taken.".into()),
    }
}

/// Maps an error of the local side of a transfer (reading or writing the file) to the
/// transfer error the core turns into 451, 452 or 552.
pub fn io_transfer_error(e: &io::Error) -> TransferError {
    match e.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::FileTooLarge | io::ErrorKind::QuotaExceeded => {
            TransferError::NoSpace
        }
        _ => TransferError::Local,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_map_to_the_reply_the_client_needs() {
        let f = |k| io_failure(&io::Error::from(k));
        assert_eq!(f(io::ErrorKind::NotFound), Failure::NotFound);
        assert_eq!(
            f(io::ErrorKind::PermissionDenied),
            Failure::PermissionDenied
        );
        assert_eq!(f(io::ErrorKind::StorageFull), Failure::NoSpace);
        assert_eq!(f(io::ErrorKind::DirectoryNotEmpty), Failure::NotEmpty);
        assert_eq!(f(io::ErrorKind::Unsupported), Failure::Unsupported);
        assert_eq!(f(io::ErrorKind::AlreadyExists), Failure::AlreadyExists);
        assert_eq!(f(io::ErrorKind::NotADirectory), Failure::NotADirectory);
        assert_eq!(f(io::ErrorKind::IsADirectory), Failure::IsADirectory);
        assert_eq!(f(io::ErrorKind::InvalidInput), Failure::InvalidName);
        assert_eq!(f(io::ErrorKind::TimedOut), Failure::Transient);
        assert!(matches!(f(io::ErrorKind::BrokenPipe), Failure::Other(_)));
        let t = |k| io_transfer_error(&io::Error::from(k));
        assert_eq!(t(io::ErrorKind::StorageFull), TransferError::NoSpace);
        assert_eq!(t(io::ErrorKind::QuotaExceeded), TransferError::NoSpace);
        assert_eq!(t(io::ErrorKind::BrokenPipe), TransferError::Local);
    }
}
