//! Virtual paths: the rooted, normalized file names a session shows to its client.
//!
//! A [`VirtualPath`] always starts with `/`, has no `.` or `..` or empty components and no
//! trailing `/` (except the root itself), and holds bytes, not text: FTP file names may be
//! non-UTF-8. Client input is resolved against the current directory with
//! [`VirtualPath::resolve`]; `..` at the root stays at the root, so no input can name anything
//! outside the virtual tree.
//!
//! Only `/` separates components. A backslash is an ordinary byte of a name, as on Unix; an
//! adapter for a platform where it separates names must not pass it through unchecked, which
//! [`VirtualPath::to_relative_path`] takes care of.

use std::fmt;
use std::path::{Component, PathBuf};

use bytes::Bytes;

/// The longest virtual path, in bytes, that [`VirtualPath::resolve`] builds or accepts.
pub const MAX_PATH_LEN: usize = 4096;

/// Why a path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The input contains a NUL byte, which no file system name can hold.
    #[error("path contains a NUL byte")]
    Nul,
    /// The input or the resolved path is longer than [`MAX_PATH_LEN`] bytes.
    #[error("path longer than {MAX_PATH_LEN} bytes")]
    TooLong,
    /// A name given to [`VirtualPath::join`] is empty, `.`, `..` or contains `/`.
    #[error("not a single file name")]
    InvalidName,
    /// A component cannot be represented as a relative path on this platform (not UTF-8
    /// where names must be text, or read as a drive, root or parent there).
    #[error("path cannot be mapped onto this platform's file names")]
    NotPortable,
}

impl PathError {
    /// The FTP reply code for this error: 501 for a malformed argument, 553 ("file name not
    /// allowed") for a name this platform cannot store.
    pub fn reply_code(&self) -> u16 {
        match self {
            PathError::Nul | PathError::TooLong | PathError::InvalidName => 501,
            PathError::NotPortable => 553,
        }
    }
}

/// A rooted, normalized path in the session's virtual file tree.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VirtualPath {
    /// `/` or `/a/b`: the normalized form, checked by every constructor.
    bytes: Bytes,
}

impl Default for VirtualPath {
    fn default() -> Self {
        VirtualPath::root()
    }
}

impl VirtualPath {
    /// The root directory `/`.
    pub fn root() -> Self {
        VirtualPath {
            bytes: Bytes::from_static(b"/"),
        }
    }

    /// Resolves a client path against `self` as the current directory.
    ///
    /// `input` is absolute when it starts with `/`, otherwise relative to `self`. Empty, `.`
    /// and repeated-slash components are dropped and `..` removes the previous component,
    /// never going above `/`. An empty input gives `self`.
    ///
    /// Errs with [`PathError::Nul`] if `input` holds a NUL byte and with
    /// [`PathError::TooLong`] if `input` or the result exceeds [`MAX_PATH_LEN`] bytes.
    pub fn resolve(&self, input: &[u8]) -> Result<VirtualPath, PathError> {
        if input.contains(&0) {
            return Err(PathError::Nul);
        }
        if input.len() > MAX_PATH_LEN {
            return Err(PathError::TooLong);
        }
        let absolute = input.first() == Some(&b'/');
        // Built as "" for the root and "/a/b" otherwise; "/" is put back at the end.
        let mut out: Vec<u8> = Vec::with_capacity(input.len().saturating_add(if absolute {
            1
        } else {
            self.bytes.len() + 1
        }));
        if !absolute && !self.is_root() {
            out.extend_from_slice(&self.bytes);
        }
        for part in input.split(|&b| b == b'/') {
            match part {
                b"" | b"." => {}
                b".." => {
                    let cut = out.iter().rposition(|&b| b == b'/').unwrap_or(0);
                    out.truncate(cut);
                }
                name => {
                    out.push(b'/');
                    out.extend_from_slice(name);
                }
            }
        }
        if out.is_empty() {
            return Ok(VirtualPath::root());
        }
        if out.len() > MAX_PATH_LEN {
            return Err(PathError::TooLong);
        }
        Ok(VirtualPath {
            bytes: Bytes::from(out),
        })
    }

    /// The normalized path as bytes: `/` or `/a/b`.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The normalized path as shared bytes.
    pub fn to_bytes(&self) -> Bytes {
        self.bytes.clone()
    }

    /// Whether this is the root `/`.
    pub fn is_root(&self) -> bool {
        self.bytes.len() == 1
    }

    /// The components from the root down; none for the root.
    ///
    /// Each is a plain name: never empty, `.` or `..`, and free of `/` and NUL, so joining
    /// them one by one under a directory on a Unix file system cannot leave that directory
    /// (symbolic links aside; those are the adapter's business).
    pub fn components(&self) -> Components<'_> {
        Components {
            rest: self.bytes.get(1..).unwrap_or_default(),
        }
    }

    /// The number of components (0 for the root).
    pub fn depth(&self) -> usize {
        self.components().count()
    }

    /// The containing directory; `None` for the root.
    pub fn parent(&self) -> Option<VirtualPath> {
        if self.is_root() {
            return None;
        }
        let cut = self.bytes.iter().rposition(|&b| b == b'/').unwrap_or(0);
        if cut == 0 {
            Some(VirtualPath::root())
        } else {
            Some(VirtualPath {
                bytes: self.bytes.slice(..cut),
            })
        }
    }

    /// The last component; `None` for the root.
    pub fn file_name(&self) -> Option<&[u8]> {
        self.components().next_back()
    }

    /// Appends one file name.
    ///
    /// Errs with [`PathError::InvalidName`] if `name` is empty, `.`, `..` or contains `/`,
    /// with [`PathError::Nul`] if it contains NUL and with [`PathError::TooLong`] if the
    /// result exceeds [`MAX_PATH_LEN`]. Use [`resolve`](Self::resolve) for client input.
    pub fn join(&self, name: &[u8]) -> Result<VirtualPath, PathError> {
        if name.contains(&0) {
            return Err(PathError::Nul);
        }
        if matches!(name, b"" | b"." | b"..") || name.contains(&b'/') {
            return Err(PathError::InvalidName);
        }
        let base = if self.is_root() {
            &[][..]
        } else {
            self.as_bytes()
        };
        let len = base
            .len()
            .checked_add(1)
            .and_then(|l| l.checked_add(name.len()))
            .filter(|&l| l <= MAX_PATH_LEN)
            .ok_or(PathError::TooLong)?;
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(base);
        out.push(b'/');
        out.extend_from_slice(name);
        Ok(VirtualPath {
            bytes: Bytes::from(out),
        })
    }

    /// Whether `self` is `base` or lies below it (compared by whole components).
    pub fn starts_with(&self, base: &VirtualPath) -> bool {
        if base.is_root() {
            return true;
        }
        match self.bytes.strip_prefix(base.as_bytes()) {
            Some(rest) => rest.is_empty() || rest.first() == Some(&b'/'),
            None => false,
        }
    }

    /// This path as a relative native path, to join under a storage root directory.
    ///
    /// The result holds only normal components (the root gives an empty path), so
    /// `root.join(result)` stays under `root`. Each component is checked with the platform's
    /// own path parser: on Windows a name like `a\..\b` or `C:` errs instead of escaping.
    ///
    /// Errs with [`PathError::NotPortable`] for such a component, or a non-UTF-8 one on a
    /// platform whose file names are text.
    pub fn to_relative_path(&self) -> Result<PathBuf, PathError> {
        let mut path = PathBuf::new();
        for name in self.components() {
            let native = std::path::Path::new(native_name(name)?);
            let mut parts = native.components();
            match (parts.next(), parts.next()) {
                (Some(Component::Normal(_)), None) => path.push(native),
                _ => return Err(PathError::NotPortable),
            }
        }
        Ok(path)
    }
}

#[cfg(unix)]
fn native_name(name: &[u8]) -> Result<&std::ffi::OsStr, PathError> {
    use std::os::unix::ffi::OsStrExt;
    Ok(std::ffi::OsStr::from_bytes(name))
}

#[cfg(not(unix))]
fn native_name(name: &[u8]) -> Result<&std::ffi::OsStr, PathError> {
    std::str::from_utf8(name)
        .map(std::ffi::OsStr::new)
        .map_err(|_| PathError::NotPortable)
}

impl fmt::Display for VirtualPath {
    /// Shows the path with invalid UTF-8 replaced; for logs and messages, never for replies
    /// that name a file (those carry the bytes).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&String::from_utf8_lossy(&self.bytes), f)
    }
}

impl fmt::Debug for VirtualPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VirtualPath({:?})", self.bytes)
    }
}

impl AsRef<[u8]> for VirtualPath {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

/// The components of a [`VirtualPath`], made by [`VirtualPath::components`].
#[derive(Debug, Clone)]
pub struct Components<'a> {
    /// What is left, without the leading `/`; empty when done.
    rest: &'a [u8],
}

impl<'a> Iterator for Components<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        match self.rest.iter().position(|&b| b == b'/') {
            Some(pos) => {
                let (name, tail) = self.rest.split_at(pos);
                self.rest = tail.get(1..).unwrap_or_default();
                Some(name)
            }
            None => Some(std::mem::take(&mut self.rest)),
        }
    }
}

impl<'a> DoubleEndedIterator for Components<'a> {
    fn next_back(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        match self.rest.iter().rposition(|&b| b == b'/') {
            Some(pos) => {
                let (head, name) = self.rest.split_at(pos);
                self.rest = head;
                name.get(1..)
            }
            None => Some(std::mem::take(&mut self.rest)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &[u8]) -> VirtualPath {
        VirtualPath::root().resolve(s).unwrap()
    }

    /// (cwd, input, resolved). The resolved form is also the encoding: resolving it from any
    /// directory gives itself back.
    const RESOLVE: &[(&[u8], &[u8], &[u8])] = &[
        (b"/", b"", b"/"),
        (b"/", b"/", b"/"),
        (b"/", b"a", b"/a"),
        (b"/", b"/a/b/", b"/a/b"),
        (b"/a", b"", b"/a"),
        (b"/a", b".", b"/a"),
        (b"/a", b"b", b"/a/b"),
        (b"/a", b"./b/./c/", b"/a/b/c"),
        (b"/a", b"//b///c", b"/b/c"),
        (b"/a/b", b"..", b"/a"),
        (b"/a/b", b"../..", b"/"),
        (b"/a/b", b"../../../../etc/passwd", b"/etc/passwd"),
        (b"/", b"..", b"/"),
        (b"/", b"/../a/../../b", b"/b"),
        (b"/a", b"...", b"/a/..."),
        (b"/a", b"..b/.c", b"/a/..b/.c"),
        (b"/", b"a\\..\\b", b"/a\\..\\b"),
        (b"/", b"\xff\xfe/\xe9t\xe9", b"/\xff\xfe/\xe9t\xe9"),
        (b"/", b" trailing ", b"/ trailing "),
        (b"/", b"a\r\nb", b"/a\r\nb"),
    ];

    #[test]
    fn resolve_vectors_both_ways() {
        for &(cwd, input, want) in RESOLVE {
            let cwd = p(cwd);
            let got = cwd.resolve(input).unwrap();
            assert_eq!(got.as_bytes(), want, "{cwd:?} + {input:?}");
            for other in [VirtualPath::root(), p(b"/x/y/z")] {
                assert_eq!(other.resolve(got.as_bytes()).unwrap(), got);
            }
        }
    }

    #[test]
    fn resolve_errors() {
        let root = VirtualPath::root();
        assert_eq!(root.resolve(b"a\0b"), Err(PathError::Nul));
        assert_eq!(PathError::Nul.reply_code(), 501);
        let long = vec![b'a'; MAX_PATH_LEN + 1];
        assert_eq!(root.resolve(&long), Err(PathError::TooLong));
        let ok = vec![b'a'; MAX_PATH_LEN - 1];
        assert_eq!(root.resolve(&ok).unwrap().as_bytes().len(), MAX_PATH_LEN);
        let deep = root.resolve(&ok).unwrap();
        assert_eq!(deep.resolve(b"b"), Err(PathError::TooLong));
        // Long but dotted input that resolves short is fine.
        let dots = b"./".repeat(MAX_PATH_LEN / 2);
        assert_eq!(root.resolve(&dots).unwrap(), root);
    }

    #[test]
    fn accessors() {
        let path = p(b"/a/bc/d");
        assert_eq!(
            path.components().collect::<Vec<_>>(),
            [&b"a"[..], b"bc", b"d"]
        );
        assert_eq!(
            path.components().rev().collect::<Vec<_>>(),
            [&b"d"[..], b"bc", b"a"]
        );
        assert_eq!(path.depth(), 3);
        assert_eq!(path.file_name(), Some(&b"d"[..]));
        assert_eq!(path.parent().unwrap().as_bytes(), b"/a/bc");
        assert_eq!(p(b"/a").parent(), Some(VirtualPath::root()));
        assert_eq!(VirtualPath::root().parent(), None);
        assert_eq!(VirtualPath::root().file_name(), None);
        assert_eq!(VirtualPath::root().components().count(), 0);
        assert!(VirtualPath::root().is_root());
        assert!(!path.is_root());
        assert_eq!(path.to_string(), "/a/bc/d");
        assert_eq!(p(b"/\xffx").to_string(), "/\u{fffd}x");
    }

    #[test]
    fn join_vectors() {
        let root = VirtualPath::root();
        assert_eq!(root.join(b"a").unwrap().as_bytes(), b"/a");
        assert_eq!(p(b"/a").join(b"b c").unwrap().as_bytes(), b"/a/b c");
        for bad in [&b""[..], b".", b"..", b"a/b", b"/"] {
            assert_eq!(root.join(bad), Err(PathError::InvalidName), "{bad:?}");
        }
        assert_eq!(root.join(b"a\0"), Err(PathError::Nul));
        let name = vec![b'n'; MAX_PATH_LEN];
        assert_eq!(root.join(&name), Err(PathError::TooLong));
    }

    #[test]
    fn starts_with_whole_components() {
        let ab = p(b"/a/b");
        assert!(ab.starts_with(&p(b"/a")));
        assert!(ab.starts_with(&ab));
        assert!(ab.starts_with(&VirtualPath::root()));
        assert!(!p(b"/ab").starts_with(&p(b"/a")));
        assert!(!p(b"/a").starts_with(&ab));
    }

    #[test]
    fn relative_native_path() {
        assert_eq!(
            VirtualPath::root().to_relative_path().unwrap(),
            PathBuf::new()
        );
        assert_eq!(
            p(b"/a/b").to_relative_path().unwrap(),
            PathBuf::from("a").join("b")
        );
        let base = PathBuf::from("/srv/ftp");
        for input in [&b"../../etc/passwd"[..], b"/..", b"a/../../.."] {
            let rel = p(input).to_relative_path().unwrap();
            assert!(base.join(rel).starts_with(&base));
        }
        #[cfg(unix)]
        {
            let odd = p(b"/a\\..\\..\\b/\xff");
            let rel = odd.to_relative_path().unwrap();
            assert_eq!(rel.components().count(), 2);
        }
        #[cfg(windows)]
        {
            assert_eq!(
                p(b"/a\\..\\..\\b").to_relative_path(),
                Err(PathError::NotPortable)
            );
            assert_eq!(p(b"/C:").to_relative_path(), Err(PathError::NotPortable));
        }
    }
}
