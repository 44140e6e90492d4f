//! [`FsStorage`]: a [`Storage`] over a directory of the local file system.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use ftp_proto::listing::{Entry, EntryKind};
use ftp_proto::path::VirtualPath;
use ftp_proto::server::{Failure, WriteMode};
use ftp_proto::time::Timestamp;

use super::{io_failure, Listing, Storage};
use crate::auth::User;

/// Listings of directories with fewer entries than this come sorted by name; larger ones
/// stream in directory order.
const SORTED_LISTING: usize = 10_000;

/// Most names [`FsStorage`] tries for STOU before it gives up (pyftpdlib CVE-2007-6740).
pub(super) const UNIQUE_ATTEMPTS: u32 = 16;

fn failure(e: io::Error) -> Failure {
    io_failure(&e)
}

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
///
/// # Users
///
/// [`for_user`](Storage::for_user) gives a user with a [`home`](User::home) a storage rooted
/// at that home (relative to this root, or absolute): the home is the user's `/`, and every
/// rule above, links included, applies to it, so nothing outside it is reachable. A user
/// without a home shares this root.
///
/// # Special files
///
/// FIFOs, sockets and devices are listed (MLSD type `OS.unix=special`) but never opened: opening
/// a FIFO blocks a thread until a writer appears.
///
/// # Listings
///
/// A directory of fewer than 10,000 entries is listed sorted by name. A larger one is listed
/// in the order the file system returns its entries, formatted as it is sent, so that even a
/// directory of millions of entries is listed in bounded memory.
#[derive(Debug, Clone)]
pub struct FsStorage {
    /// The root, canonical (no links, absolute).
    root: PathBuf,
}

impl FsStorage {
    /// Serves the directory `root`. Errs if it does not exist or is not a directory.
    pub fn new(root: impl AsRef<Path>) -> io::Result<FsStorage> {
        let root = fs::canonicalize(root.as_ref())?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "storage root is not a directory",
            ));
        }
        Ok(FsStorage { root })
    }

    /// The storage for a user whose home is `home` (relative to this root, or absolute): a
    /// new `FsStorage` rooted there. Errs if it does not exist or is not a directory.
    pub fn home(&self, home: &Path) -> io::Result<FsStorage> {
        FsStorage::new(self.root.join(home))
    }

    /// The canonical root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Maps a virtual path to a native one under the root, refusing any path whose
    /// directories (and, with `follow_last`, whose last component) resolve outside the root.
    fn resolve(&self, path: &VirtualPath, follow_last: bool) -> Result<PathBuf, Failure> {
        let rel = path.to_relative_path().map_err(|_| Failure::InvalidName)?;
        let Some(name) = rel.file_name() else {
            return Ok(self.root.clone());
        };
        let parent = match rel.parent() {
            Some(p) if !p.as_os_str().is_empty() => {
                let parent = fs::canonicalize(self.root.join(p)).map_err(failure)?;
                if !parent.starts_with(&self.root) {
                    return Err(Failure::NotFound);
                }
                parent
            }
            _ => self.root.clone(),
        };
        let full = parent.join(name);
        if follow_last {
            if let Ok(meta) = fs::symlink_metadata(&full) {
                if meta.file_type().is_symlink() {
                    let target = fs::canonicalize(&full).map_err(failure)?;
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
    fn entry(
        &self,
        native: &Path,
        name: Bytes,
        ids: &mut IdText,
    ) -> Result<Option<Entry>, Failure> {
        let meta = fs::symlink_metadata(native).map_err(failure)?;
        let meta = if meta.file_type().is_symlink() {
            match fs::canonicalize(native) {
                Ok(target) if target.starts_with(&self.root) => {
                    fs::metadata(&target).map_err(failure)?
                }
                _ => return Ok(None),
            }
        } else {
            meta
        };
        Ok(Some(entry_from_metadata(name, &meta, ids)))
    }
}

fn name_bytes(name: std::ffi::OsString) -> Bytes {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        Bytes::from(name.into_vec())
    }
    #[cfg(not(unix))]
    {
        Bytes::from(name.to_string_lossy().into_owned())
    }
}

/// The owner and group ids last written as text: a directory's entries mostly share them, so a
/// listing formats each once and shares the bytes.
#[derive(Default)]
struct IdText {
    owner: Option<(u32, Bytes)>,
    group: Option<(u32, Bytes)>,
}

impl IdText {
    #[cfg_attr(not(unix), allow(dead_code))]
    fn of(slot: &mut Option<(u32, Bytes)>, id: u32) -> Bytes {
        match slot {
            Some((last, text)) if *last == id => text.clone(),
            _ => {
                let text = Bytes::from(id.to_string());
                *slot = Some((id, text.clone()));
                text
            }
        }
    }
}

fn entry_from_metadata(name: Bytes, meta: &fs::Metadata, ids: &mut IdText) -> Entry {
    let kind = if meta.is_dir() {
        EntryKind::Dir
    } else if meta.is_file() {
        EntryKind::File
    } else {
        EntryKind::Other(Bytes::from_static(b"OS.unix=special"))
    };
    let mut e = Entry::new(name, kind).with_size(meta.len());
    if let Some(t) = meta.modified().ok().and_then(Timestamp::from_system_time) {
        e = e.with_modified(t);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        e = e
            .with_permissions(meta.mode() & 0o7777)
            .with_links(meta.nlink())
            .with_owner(IdText::of(&mut ids.owner, meta.uid()))
            .with_group(IdText::of(&mut ids.group, meta.gid()))
            .with_unique(format!("{:x}U{:x}", meta.dev(), meta.ino()));
    }
    e
}

/// A file of [`FsStorage`] open for an upload.
///
/// An upload that never starts (its data connection failed, 425; ABOR before any data; the
/// control connection dropped) leaves the directory as it was:
/// - an upload that replaces a file (STOR) or resumes one at an offset (REST + STOR) cuts the
///   file only when its first byte is written, or when it finishes with no byte at all, so an
///   existing file keeps its content;
/// - a file the upload created (STOR or APPE of a new name, STOU) is removed again when the
///   writer is dropped before any byte was written and without
///   [`finish_write`](Storage::finish_write).
///
/// An upload cut after some bytes keeps them (a client resumes it with REST + STOR or APPE),
/// and is reported as failed.
#[derive(Debug)]
pub struct FsWriter {
    file: File,
    /// The length to cut the file to before the first write.
    cut_at: Option<u64>,
    /// The file this upload created, while it holds nothing the client sent.
    created: Option<PathBuf>,
}

impl FsWriter {
    fn cut(&mut self) -> io::Result<()> {
        if let Some(len) = self.cut_at.take() {
            self.file.set_len(len)?;
            self.file.seek(io::SeekFrom::Start(len))?;
        }
        Ok(())
    }
}

impl FsWriter {
    /// The file, cut as the upload asks, for bytes moved into it other than by `write`
    /// (`splice(2)`); call [`raw_written`](Self::raw_written) once some landed.
    pub(crate) fn raw_file(&mut self) -> io::Result<&File> {
        self.cut()?;
        Ok(&self.file)
    }

    /// Bytes the client sent are in the file now: it stays even if the upload fails.
    pub(crate) fn raw_written(&mut self) {
        self.created = None;
    }
}

impl Drop for FsWriter {
    fn drop(&mut self) {
        if let Some(path) = self.created.take() {
            // Best effort: the name was ours a moment ago, and a failure leaves an empty file,
            // which is what happened before this cleanup existed.
            let _ = fs::remove_file(path);
        }
    }
}

impl Write for FsWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.cut()?;
        let n = self.file.write(buf)?;
        if n > 0 {
            self.created = None;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// A name for STOU that is hard to guess (so clients cannot race each other for it).
pub(super) fn unique_name(attempt: u32) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(attempt);
    if let Ok(d) = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
        h.write_u128(d.as_nanos());
    }
    format!("ftp{:012x}", h.finish() & 0xffff_ffff_ffff)
}

impl Storage for FsStorage {
    fn for_user(self: &Arc<Self>, user: &User) -> Result<Arc<Self>, Failure> {
        let Some(home) = &user.home else {
            return Ok(self.clone());
        };
        match self.home(home) {
            Ok(storage) => Ok(Arc::new(storage)),
            Err(e) => {
                tracing::error!(
                    user = %user.name.escape_debug(),
                    home = %self.root.join(home).display(),
                    "the user's home cannot be served: {e}"
                );
                Err(Failure::LoginRefused)
            }
        }
    }

    type Reader = File;
    type Writer = FsWriter;

    fn stat(&self, path: &VirtualPath) -> Result<Entry, Failure> {
        let native = self.resolve(path, true)?;
        let meta = fs::metadata(&native).map_err(failure)?;
        let name = Bytes::copy_from_slice(path.file_name().unwrap_or(b"/"));
        Ok(entry_from_metadata(name, &meta, &mut IdText::default()))
    }

    fn list(&self, path: &VirtualPath) -> Result<Listing, Failure> {
        let native = self.resolve(path, true)?;
        let meta = fs::metadata(&native).map_err(failure)?;
        if !meta.is_dir() {
            let name = Bytes::copy_from_slice(path.file_name().unwrap_or_default());
            let entry = entry_from_metadata(name, &meta, &mut IdText::default());
            return Ok(Listing::from(vec![entry]));
        }
        let dir = fs::read_dir(&native).map_err(failure)?;
        let this = self.clone();
        let mut ids = IdText::default();
        let mut entries = dir.filter_map(move |item| {
            let item = match item {
                Ok(item) => item,
                Err(e) => return Some(Err(e)),
            };
            let name = name_bytes(item.file_name());
            // An entry can vanish between readdir and stat, and a link leading out of the
            // root is not listed: leave both out. What is not a link (the directory entry's
            // type says so, mostly without a call) is stat'ed relative to the open directory,
            // without walking its path from the root again.
            match item.file_type() {
                Ok(t) if !t.is_symlink() => match item.metadata() {
                    // Replaced by a link since readdir: checked as links are, below.
                    Ok(meta) if meta.file_type().is_symlink() => this
                        .entry(&item.path(), name, &mut ids)
                        .ok()
                        .flatten()
                        .map(Ok),
                    Ok(meta) => Some(Ok(entry_from_metadata(name, &meta, &mut ids))),
                    Err(_) => None,
                },
                _ => this
                    .entry(&item.path(), name, &mut ids)
                    .ok()
                    .flatten()
                    .map(Ok),
            }
        });
        // People read listings sorted by name, but sorting a huge directory would hold all of
        // it in memory: a directory that ends within SORTED_LISTING entries is sorted, a
        // larger one streams in directory order after the first batch, as `ls -f` does.
        let mut first = Vec::new();
        for e in entries.by_ref().take(SORTED_LISTING) {
            first.push(e.map_err(failure)?);
        }
        if first.len() < SORTED_LISTING {
            // Names are unique within a directory: an unstable sort gives the same order.
            first.sort_unstable_by(|a, b| a.name.cmp(&b.name));
            return Ok(Listing::from(first));
        }
        Ok(Listing::new(first.into_iter().map(Ok).chain(entries)))
    }

    fn open_read(&self, path: &VirtualPath, offset: u64) -> Result<(File, Option<u64>), Failure> {
        let native = self.resolve(path, true)?;
        // Look before opening: opening a FIFO or a device can block a thread indefinitely.
        let meta = fs::metadata(&native).map_err(failure)?;
        if meta.is_dir() {
            return Err(Failure::IsADirectory);
        }
        if !meta.is_file() {
            return Err(Failure::PermissionDenied);
        }
        let mut file = File::open(&native).map_err(failure)?;
        let meta = file.metadata().map_err(failure)?;
        if offset > 0 {
            file.seek(io::SeekFrom::Start(offset)).map_err(failure)?;
        }
        Ok((file, Some(meta.len().saturating_sub(offset))))
    }

    /// The reader is the file itself, positioned at the offset asked for (a regular file:
    /// [`open_read`](Storage::open_read) refuses anything else).
    fn reader_into_file(reader: File) -> Result<File, File> {
        Ok(reader)
    }

    /// The writer is the file (appending or not; a file the kernel cannot splice into is
    /// written through a buffer instead).
    fn fs_writer(writer: &mut FsWriter) -> Option<&mut FsWriter> {
        Some(writer)
    }

    fn open_write(
        &self,
        path: &VirtualPath,
        mode: WriteMode,
    ) -> Result<(FsWriter, Option<VirtualPath>), Failure> {
        if let WriteMode::CreateUnique = mode {
            let dir = self.resolve(path, true)?;
            for attempt in 0..UNIQUE_ATTEMPTS {
                let name = unique_name(attempt);
                match OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(dir.join(&name))
                {
                    Ok(f) => {
                        let w = FsWriter {
                            file: f,
                            cut_at: None,
                            created: Some(dir.join(&name)),
                        };
                        let vpath = path
                            .join(name.as_bytes())
                            .map_err(|_| Failure::InvalidName)?;
                        return Ok((w, Some(vpath)));
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
        let native = self.resolve(path, true)?;
        if let Ok(meta) = fs::metadata(&native) {
            if meta.is_dir() {
                return Err(Failure::IsADirectory);
            }
            if !meta.is_file() {
                return Err(Failure::PermissionDenied);
            }
        }
        let mut opts = OpenOptions::new();
        // Never truncate here: the cut waits for the first byte (see FsWriter).
        opts.write(true);
        let cut_at = match mode {
            WriteMode::Truncate => Some(0),
            // Keep the first `offset` bytes, drop the rest, write from there.
            WriteMode::AtOffset(offset) => Some(offset),
            WriteMode::Append => {
                opts.append(true);
                None
            }
            _ => None,
        };
        // Learn whether this upload creates the file, so that an upload that never starts
        // can take it away again.
        let (file, created) = match opts.clone().create_new(true).open(&native) {
            Ok(file) => (file, Some(native)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                (opts.open(&native).map_err(failure)?, None)
            }
            Err(e) => return Err(failure(e)),
        };
        Ok((
            FsWriter {
                file,
                cut_at,
                created,
            },
            None,
        ))
    }

    fn finish_write(&self, mut writer: FsWriter) -> io::Result<()> {
        // An upload of zero bytes still replaces the file, or creates an empty one.
        writer.cut()?;
        writer.created = None;
        writer.file.flush()
    }

    fn real_path(&self, path: &VirtualPath) -> Option<PathBuf> {
        self.resolve(path, true).ok()
    }

    fn make_dir(&self, path: &VirtualPath) -> Result<(), Failure> {
        let native = self.resolve(path, false)?;
        fs::create_dir(&native).map_err(failure)
    }

    fn remove_dir(&self, path: &VirtualPath) -> Result<(), Failure> {
        let native = self.resolve(path, false)?;
        let meta = fs::symlink_metadata(&native).map_err(failure)?;
        if !meta.is_dir() {
            return Err(Failure::NotADirectory);
        }
        fs::remove_dir(&native).map_err(failure)
    }

    fn delete(&self, path: &VirtualPath) -> Result<(), Failure> {
        let native = self.resolve(path, false)?;
        let meta = fs::symlink_metadata(&native).map_err(failure)?;
        if meta.is_dir() {
            return Err(Failure::IsADirectory);
        }
        fs::remove_file(&native).map_err(failure)
    }

    fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), Failure> {
        let from = self.resolve(from, false)?;
        let to = self.resolve(to, false)?;
        fs::symlink_metadata(&from).map_err(failure)?;
        fs::rename(&from, &to).map_err(failure)
    }

    fn set_modified(&self, path: &VirtualPath, time: Timestamp) -> Result<(), Failure> {
        let native = self.resolve(path, true)?;
        let file = File::options().write(true).open(&native).map_err(failure)?;
        file.set_modified(time.to_system_time()).map_err(failure)
    }

    fn chmod(&self, path: &VirtualPath, mode: u32) -> Result<(), Failure> {
        let native = self.resolve(path, true)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&native, fs::Permissions::from_mode(mode & 0o7777)).map_err(failure)
        }
        #[cfg(not(unix))]
        {
            let _ = (native, mode);
            Err(Failure::Unsupported)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn vp(s: &str) -> VirtualPath {
        VirtualPath::root().resolve(s.as_bytes()).unwrap()
    }

    #[test]
    fn links_out_of_the_root_are_not_followed() {
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
        assert_eq!(s.stat(&vp("out")).unwrap_err(), Failure::NotFound);
        assert_eq!(s.stat(&vp("outdir/secret")).unwrap_err(), Failure::NotFound);
        assert!(s.open_read(&vp("out"), 0).is_err());
        assert!(s
            .open_write(&vp("outdir/new"), WriteMode::Truncate)
            .is_err());
        assert!(!outside.path().join("new").exists());
        assert_eq!(s.stat(&vp("in")).unwrap().size, Some(5));
        let names: Vec<_> = s
            .list(&VirtualPath::root())
            .unwrap()
            .map(|e| e.unwrap().name)
            .collect();
        assert_eq!(names, [&b"in"[..], b"inside"]);
        // Deleting the link removes the link only.
        s.delete(&vp("out")).unwrap();
        assert!(outside.path().join("secret").exists());
    }

    #[test]
    fn write_modes() {
        let root = tempfile::tempdir().unwrap();
        let s = FsStorage::new(root.path()).unwrap();
        let (mut f, _) = s.open_write(&vp("a"), WriteMode::Truncate).unwrap();
        f.write_all(b"hello world").unwrap();
        s.finish_write(f).unwrap();
        let (mut f, _) = s.open_write(&vp("a"), WriteMode::AtOffset(5)).unwrap();
        f.write_all(b"!").unwrap();
        s.finish_write(f).unwrap();
        let (mut f, _) = s.open_write(&vp("a"), WriteMode::Append).unwrap();
        f.write_all(b"?").unwrap();
        s.finish_write(f).unwrap();
        assert_eq!(std::fs::read(root.path().join("a")).unwrap(), b"hello!?");
        let (_w, p) = s
            .open_write(&VirtualPath::root(), WriteMode::CreateUnique)
            .unwrap();
        let p = p.unwrap();
        assert!(s.stat(&p).is_ok());
        assert_eq!(s.remove_dir(&vp("a")), Err(Failure::NotADirectory));
        assert_eq!(
            s.open_write(&VirtualPath::root(), WriteMode::Truncate)
                .unwrap_err(),
            Failure::IsADirectory
        );
    }

    #[test]
    fn an_upload_that_never_starts_leaves_the_file_alone() {
        let root = tempfile::tempdir().unwrap();
        let s = FsStorage::new(root.path()).unwrap();
        std::fs::write(root.path().join("keep"), b"precious").unwrap();
        for mode in [WriteMode::Truncate, WriteMode::AtOffset(3)] {
            let (w, _) = s.open_write(&vp("keep"), mode).unwrap();
            drop(w);
            assert_eq!(
                std::fs::read(root.path().join("keep")).unwrap(),
                b"precious"
            );
        }
        // An empty upload that completes does replace it; one at an offset cuts it there.
        let (w, _) = s.open_write(&vp("keep"), WriteMode::AtOffset(3)).unwrap();
        s.finish_write(w).unwrap();
        assert_eq!(std::fs::read(root.path().join("keep")).unwrap(), b"pre");
        let (w, _) = s.open_write(&vp("keep"), WriteMode::Truncate).unwrap();
        s.finish_write(w).unwrap();
        assert_eq!(std::fs::read(root.path().join("keep")).unwrap(), b"");
    }

    #[test]
    fn an_upload_that_never_starts_creates_nothing() {
        let root = tempfile::tempdir().unwrap();
        let s = FsStorage::new(root.path()).unwrap();
        for mode in [
            WriteMode::Truncate,
            WriteMode::Append,
            WriteMode::AtOffset(0),
        ] {
            let (w, _) = s.open_write(&vp("new"), mode).unwrap();
            assert!(root.path().join("new").exists());
            drop(w);
            assert!(!root.path().join("new").exists(), "{mode:?}");
        }
        let (w, unique) = s
            .open_write(&VirtualPath::root(), WriteMode::CreateUnique)
            .unwrap();
        let unique = unique.unwrap();
        assert!(s.stat(&unique).is_ok());
        drop(w);
        assert_eq!(s.stat(&unique).unwrap_err(), Failure::NotFound);
        // What did start stays: the bytes of a cut upload, and an empty upload that finished.
        let (mut w, _) = s.open_write(&vp("cut"), WriteMode::Truncate).unwrap();
        w.write_all(b"partial").unwrap();
        drop(w);
        assert_eq!(std::fs::read(root.path().join("cut")).unwrap(), b"partial");
        let (w, _) = s.open_write(&vp("empty"), WriteMode::Truncate).unwrap();
        s.finish_write(w).unwrap();
        assert_eq!(std::fs::read(root.path().join("empty")).unwrap(), b"");
        // An existing file is never removed by a dropped writer.
        let (w, _) = s.open_write(&vp("cut"), WriteMode::Append).unwrap();
        drop(w);
        assert_eq!(std::fs::read(root.path().join("cut")).unwrap(), b"partial");
    }

    #[cfg(unix)]
    #[test]
    fn fifos_are_refused_without_blocking() {
        let root = tempfile::tempdir().unwrap();
        let fifo = root.path().join("pipe");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.map(|s| s.success()).unwrap_or(false) {
            panic!("mkfifo (coreutils) is needed for this test");
        }
        let s = FsStorage::new(root.path()).unwrap();
        assert_eq!(
            s.open_read(&vp("pipe"), 0).unwrap_err(),
            Failure::PermissionDenied
        );
        assert_eq!(
            s.open_write(&vp("pipe"), WriteMode::Truncate).unwrap_err(),
            Failure::PermissionDenied
        );
    }
}
