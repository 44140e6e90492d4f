//! The [`Storage`] trait a server serves files from, and [`FsStorage`], its file-system
//! implementation rooted at a directory.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use ftp_proto::listing::{Entry, EntryKind};
use ftp_proto::path::VirtualPath;
use ftp_proto::server::{Failure, WriteMode};
use ftp_proto::time::Timestamp;
use tokio::fs::{self, File, OpenOptions};
use tokio::io::{AsyncRead, AsyncSeekExt, AsyncWrite};

/// Where a server's files live. Every path is a [`VirtualPath`]: rooted, normalized and never
/// above `/`; the implementation maps it under its own root.
///
/// Each method answers one [`StorageRequest`](ftp_proto::server::StorageRequest); a
/// [`Failure`] becomes the FTP reply the core chooses for it. Methods run in their own tokio
/// task, so a slow one never blocks the control connection.
pub trait Storage: Send + Sync + 'static {
    /// A file open for reading (RETR).
    type Reader: AsyncRead + Unpin + Send + 'static;
    /// A file open for writing (STOR, APPE, STOU). The server flushes it before reporting the
    /// upload complete, so `poll_flush` must return only when the data is written.
    type Writer: AsyncWrite + Unpin + Send + 'static;

    /// Metadata of one path, with the last component as the entry's name.
    fn stat(&self, path: &VirtualPath) -> impl Future<Output = Result<Entry, Failure>> + Send;

    /// The entries of a directory (without `.` and `..`); for a file, the file's own entry.
    fn list(&self, path: &VirtualPath) -> impl Future<Output = Result<Vec<Entry>, Failure>> + Send;

    /// Opens a file for reading from `offset`; returns the reader and the number of bytes it
    /// will yield, when known.
    fn open_read(
        &self,
        path: &VirtualPath,
        offset: u64,
    ) -> impl Future<Output = Result<(Self::Reader, Option<u64>), Failure>> + Send;

    /// Opens a file for writing. For [`WriteMode::CreateUnique`] `path` is the directory and
    /// the returned path names the file created; otherwise the returned path is `None`.
    fn open_write(
        &self,
        path: &VirtualPath,
        mode: WriteMode,
    ) -> impl Future<Output = Result<(Self::Writer, Option<VirtualPath>), Failure>> + Send;

    /// Creates a directory.
    fn make_dir(&self, path: &VirtualPath) -> impl Future<Output = Result<(), Failure>> + Send;

    /// Removes an empty directory.
    fn remove_dir(&self, path: &VirtualPath) -> impl Future<Output = Result<(), Failure>> + Send;

    /// Deletes a file.
    fn delete(&self, path: &VirtualPath) -> impl Future<Output = Result<(), Failure>> + Send;

    /// Renames `from` to `to`.
    fn rename(
        &self,
        from: &VirtualPath,
        to: &VirtualPath,
    ) -> impl Future<Output = Result<(), Failure>> + Send;

    /// Sets a file's modification time.
    fn set_modified(
        &self,
        path: &VirtualPath,
        time: Timestamp,
    ) -> impl Future<Output = Result<(), Failure>> + Send;

    /// Sets a file's permission bits (at most `0o7777`).
    fn chmod(
        &self,
        path: &VirtualPath,
        mode: u32,
    ) -> impl Future<Output = Result<(), Failure>> + Send;
}

/// Most names [`FsStorage`] tries for STOU before it gives up (pyftpdlib CVE-2007-6740).
const UNIQUE_ATTEMPTS: u32 = 16;

/// A [`Storage`] over a directory of the local file system.
///
/// # Symbolic links
///
/// A symbolic link is followed only if its target, fully resolved, lies inside the root: a
/// link that leads out of the root behaves as if it did not exist (550 on access) and is left
/// out of listings. Every directory on the way to a path is resolved the same way, so a
/// linked directory pointing outside cannot be entered, listed or written through. Deleting
/// or renaming a link acts on the link itself, never on its target. The checks resolve the
/// path before each operation; a local user who can change links inside the root while a
/// client works can still race them (time-of-check to time-of-use), so do not give untrusted
/// local users write access to a served tree that must not leak.
#[derive(Debug, Clone)]
pub struct FsStorage {
    /// The root, canonical (no links, absolute).
    root: PathBuf,
}

impl FsStorage {
    /// Serves the directory `root`. Errs if it does not exist or is not a directory.
    pub fn new(root: impl AsRef<Path>) -> io::Result<FsStorage> {
        let root = std::fs::canonicalize(root.as_ref())?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "storage root is not a directory",
            ));
        }
        Ok(FsStorage { root })
    }

    /// The canonical root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Maps a virtual path to a native one under the root, refusing any path whose
    /// directories (and, with `follow_last`, whose last component) resolve outside the root.
    async fn resolve(&self, path: &VirtualPath, follow_last: bool) -> Result<PathBuf, Failure> {
        let rel = path.to_relative_path().map_err(|_| Failure::InvalidName)?;
        let Some(name) = rel.file_name() else {
            return Ok(self.root.clone());
        };
        let parent = match rel.parent() {
            Some(p) if !p.as_os_str().is_empty() => {
                let parent = fs::canonicalize(self.root.join(p)).await.map_err(failure)?;
                if !parent.starts_with(&self.root) {
                    return Err(Failure::NotFound);
                }
                parent
            }
            _ => self.root.clone(),
        };
        let full = parent.join(name);
        if follow_last {
            if let Ok(meta) = fs::symlink_metadata(&full).await {
                if meta.file_type().is_symlink() {
                    let target = fs::canonicalize(&full).await.map_err(failure)?;
                    if !target.starts_with(&self.root) {
                        return Err(Failure::NotFound);
                    }
                    return Ok(target);
                }
            }
        }
        Ok(full)
    }

    /// Metadata for the entry at `native`, following a link only into the root. `None` for a
    /// link that leads out (or dangles).
    async fn entry(&self, native: &Path, name: &[u8]) -> Result<Option<Entry>, Failure> {
        let meta = fs::symlink_metadata(native).await.map_err(failure)?;
        let meta = if meta.file_type().is_symlink() {
            match fs::canonicalize(native).await {
                Ok(target) if target.starts_with(&self.root) => {
                    fs::metadata(&target).await.map_err(failure)?
                }
                _ => return Ok(None),
            }
        } else {
            meta
        };
        Ok(Some(entry_from_metadata(name, &meta)))
    }
}

fn name_bytes(name: &std::ffi::OsStr) -> bytes::Bytes {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        bytes::Bytes::copy_from_slice(name.as_bytes())
    }
    #[cfg(not(unix))]
    {
        bytes::Bytes::copy_from_slice(name.to_string_lossy().as_bytes())
    }
}

fn entry_from_metadata(name: &[u8], meta: &std::fs::Metadata) -> Entry {
    let kind = if meta.is_dir() {
        EntryKind::Dir
    } else if meta.is_file() {
        EntryKind::File
    } else {
        EntryKind::Other(bytes::Bytes::from_static(b"OS.unix=special"))
    };
    let mut e = Entry::new(bytes::Bytes::copy_from_slice(name), kind).with_size(meta.len());
    if let Some(t) = meta.modified().ok().and_then(Timestamp::from_system_time) {
        e = e.with_modified(t);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        e = e
            .with_permissions(meta.mode() & 0o7777)
            .with_links(meta.nlink())
            .with_owner(meta.uid().to_string())
            .with_group(meta.gid().to_string())
            .with_unique(format!("{:x}U{:x}", meta.dev(), meta.ino()));
    }
    e
}

/// Maps an I/O error to the failure the client is told about.
pub(crate) fn failure(e: io::Error) -> Failure {
    use io::ErrorKind as K;
    match e.kind() {
        K::NotFound => Failure::NotFound,
        K::PermissionDenied | K::ReadOnlyFilesystem => Failure::PermissionDenied,
        K::AlreadyExists => Failure::AlreadyExists,
        K::NotADirectory => Failure::NotADirectory,
        K::IsADirectory => Failure::IsADirectory,
        K::DirectoryNotEmpty => Failure::NotEmpty,
        K::StorageFull | K::FileTooLarge => Failure::NoSpace,
        K::InvalidInput => Failure::InvalidName,
        K::Interrupted | K::WouldBlock | K::TimedOut | K::ResourceBusy => Failure::Transient,
        _ => Failure::Other("Requested action not taken.".into()),
    }
}

fn unique_suffix(attempt: u32) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(attempt);
    if let Ok(d) = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
        h.write_u128(d.as_nanos());
    }
    format!("ftp{:012x}", h.finish() & 0xffff_ffff_ffff)
}

impl Storage for FsStorage {
    type Reader = File;
    type Writer = File;

    async fn stat(&self, path: &VirtualPath) -> Result<Entry, Failure> {
        let native = self.resolve(path, true).await?;
        let meta = fs::metadata(&native).await.map_err(failure)?;
        let name = path.file_name().unwrap_or(b"/");
        Ok(entry_from_metadata(name, &meta))
    }

    async fn list(&self, path: &VirtualPath) -> Result<Vec<Entry>, Failure> {
        let native = self.resolve(path, true).await?;
        let meta = fs::metadata(&native).await.map_err(failure)?;
        if !meta.is_dir() {
            let name = path.file_name().unwrap_or_default();
            return Ok(vec![entry_from_metadata(name, &meta)]);
        }
        let mut dir = fs::read_dir(&native).await.map_err(failure)?;
        let mut out = Vec::new();
        while let Some(item) = dir.next_entry().await.map_err(failure)? {
            let name = name_bytes(&item.file_name());
            // An entry can vanish between readdir and stat: leave it out.
            if let Ok(Some(e)) = self.entry(&item.path(), &name).await {
                out.push(e);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn open_read(
        &self,
        path: &VirtualPath,
        offset: u64,
    ) -> Result<(File, Option<u64>), Failure> {
        let native = self.resolve(path, true).await?;
        // Look before opening: opening a FIFO or a device can block a thread indefinitely.
        let meta = tokio::fs::metadata(&native).await.map_err(failure)?;
        if meta.is_dir() {
            return Err(Failure::IsADirectory);
        }
        if !meta.is_file() {
            return Err(Failure::PermissionDenied);
        }
        let mut file = File::open(&native).await.map_err(failure)?;
        let meta = file.metadata().await.map_err(failure)?;
        if offset > 0 {
            file.seek(io::SeekFrom::Start(offset))
                .await
                .map_err(failure)?;
        }
        Ok((file, Some(meta.len().saturating_sub(offset))))
    }

    async fn open_write(
        &self,
        path: &VirtualPath,
        mode: WriteMode,
    ) -> Result<(File, Option<VirtualPath>), Failure> {
        if let WriteMode::CreateUnique = mode {
            let dir = self.resolve(path, true).await?;
            for attempt in 0..UNIQUE_ATTEMPTS {
                let name = unique_suffix(attempt);
                let opened = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(dir.join(&name))
                    .await;
                match opened {
                    Ok(f) => {
                        let vpath = path
                            .join(name.as_bytes())
                            .map_err(|_| Failure::InvalidName)?;
                        return Ok((f, Some(vpath)));
                    }
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                    Err(e) => return Err(failure(e)),
                }
            }
            return Err(Failure::Transient);
        }
        if path.is_root() {
            return Err(Failure::IsADirectory);
        }
        let native = self.resolve(path, true).await?;
        let mut opts = OpenOptions::new();
        opts.write(true).create(true);
        match mode {
            WriteMode::Truncate => {
                opts.truncate(true);
            }
            WriteMode::Append => {
                opts.append(true);
            }
            _ => {}
        }
        let mut file = opts.open(&native).await.map_err(failure)?;
        if let WriteMode::AtOffset(offset) = mode {
            // Keep the first `offset` bytes, drop the rest, write from there.
            file.set_len(offset).await.map_err(failure)?;
            file.seek(io::SeekFrom::Start(offset))
                .await
                .map_err(failure)?;
        }
        Ok((file, None))
    }

    async fn make_dir(&self, path: &VirtualPath) -> Result<(), Failure> {
        let native = self.resolve(path, false).await?;
        fs::create_dir(&native).await.map_err(failure)
    }

    async fn remove_dir(&self, path: &VirtualPath) -> Result<(), Failure> {
        let native = self.resolve(path, false).await?;
        let meta = fs::symlink_metadata(&native).await.map_err(failure)?;
        if !meta.is_dir() {
            return Err(Failure::NotADirectory);
        }
        fs::remove_dir(&native).await.map_err(failure)
    }

    async fn delete(&self, path: &VirtualPath) -> Result<(), Failure> {
        let native = self.resolve(path, false).await?;
        let meta = fs::symlink_metadata(&native).await.map_err(failure)?;
        if meta.is_dir() {
            return Err(Failure::IsADirectory);
        }
        fs::remove_file(&native).await.map_err(failure)
    }

    async fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), Failure> {
        let from = self.resolve(from, false).await?;
        let to = self.resolve(to, false).await?;
        fs::symlink_metadata(&from).await.map_err(failure)?;
        fs::rename(&from, &to).await.map_err(failure)
    }

    async fn set_modified(&self, path: &VirtualPath, time: Timestamp) -> Result<(), Failure> {
        let native = self.resolve(path, true).await?;
        let file = File::options()
            .write(true)
            .open(&native)
            .await
            .map_err(failure)?;
        let file = file.into_std().await;
        tokio::task::spawn_blocking(move || file.set_modified(time.to_system_time()))
            .await
            .map_err(|_| Failure::Transient)?
            .map_err(failure)
    }

    async fn chmod(&self, path: &VirtualPath, mode: u32) -> Result<(), Failure> {
        let native = self.resolve(path, true).await?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&native, std::fs::Permissions::from_mode(mode & 0o7777))
                .await
                .map_err(failure)
        }
        #[cfg(not(unix))]
        {
            let _ = (native, mode);
            Err(Failure::Other("SITE CHMOD is not supported here.".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vp(s: &str) -> VirtualPath {
        VirtualPath::root().resolve(s.as_bytes()).unwrap()
    }

    #[tokio::test]
    async fn links_out_of_the_root_are_not_followed() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"x").unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("inside"), b"hello").unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(outside.path(), root.path().join("outdir")).unwrap();
            std::os::unix::fs::symlink(outside.path().join("secret"), root.path().join("out"))
                .unwrap();
            std::os::unix::fs::symlink(root.path().join("inside"), root.path().join("in")).unwrap();
        }
        let s = FsStorage::new(root.path()).unwrap();
        assert_eq!(s.stat(&vp("out")).await.unwrap_err(), Failure::NotFound);
        assert_eq!(
            s.stat(&vp("outdir/secret")).await.unwrap_err(),
            Failure::NotFound
        );
        assert!(s.open_read(&vp("out"), 0).await.is_err());
        assert!(s
            .open_write(&vp("outdir/new"), WriteMode::Truncate)
            .await
            .is_err());
        assert_eq!(s.stat(&vp("in")).await.unwrap().size, Some(5));
        let names: Vec<_> = s
            .list(&VirtualPath::root())
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, [&b"in"[..], b"inside"]);
        // Deleting the link removes the link only.
        s.delete(&vp("out")).await.unwrap();
        assert!(outside.path().join("secret").exists());
    }

    #[tokio::test]
    async fn write_modes() {
        use tokio::io::AsyncWriteExt;
        let root = tempfile::tempdir().unwrap();
        let s = FsStorage::new(root.path()).unwrap();
        let (mut f, _) = s.open_write(&vp("a"), WriteMode::Truncate).await.unwrap();
        f.write_all(b"hello world").await.unwrap();
        f.flush().await.unwrap();
        let (mut f, _) = s
            .open_write(&vp("a"), WriteMode::AtOffset(5))
            .await
            .unwrap();
        f.write_all(b"!").await.unwrap();
        f.flush().await.unwrap();
        let (mut f, _) = s.open_write(&vp("a"), WriteMode::Append).await.unwrap();
        f.write_all(b"?").await.unwrap();
        f.flush().await.unwrap();
        assert_eq!(std::fs::read(root.path().join("a")).unwrap(), b"hello!?");
        let (_, p) = s
            .open_write(&VirtualPath::root(), WriteMode::CreateUnique)
            .await
            .unwrap();
        let p = p.unwrap();
        assert!(s.stat(&p).await.is_ok());
        assert_eq!(s.remove_dir(&vp("a")).await, Err(Failure::NotADirectory));
    }
}
