//! Directory listings: one [`Entry`] model that servers format into LIST, NLST and MLSx lines and
//! clients parse those lines back into.
//!
//! - Server side: [`format_list_line`] (`ls -l` style), [`format_nlst_line`] (names only),
//!   [`format_mlsx_line`] / [`format_mlst_line`] (RFC 3659 machine listings), with the fact
//!   selection of `OPTS MLST` and the FEAT `MLST` line kept in a [`FactSet`].
//! - Client side: [`parse_list_line`] (auto-detects Unix `ls -l` and DOS/IIS lines) and
//!   [`parse_mlsx_line`] / [`parse_mlst_line`].
//!
//! Names, owners and fact values are bytes: FTP file names may be in any encoding. A name that
//! contains CR or LF cannot be put on a listing line without breaking the line structure (and
//! escaping it would be ambiguous), so the formatters refuse such entries with
//! [`ListingError::UnlistableName`]; a server should leave them out of the listing.
//!
//! The core never reads a clock: the LIST formatter takes `now` to choose between the
//! `Mon DD HH:MM` and `Mon DD  YYYY` date forms, and the LIST parser takes `now` to give a year to
//! dates that show only a time of day. LIST dates carry no time zone (servers usually print local
//! time); they are read as if they were UTC.
//!
//! Every parser here works in one pass over the line, never panics and allocates only for the
//! parts it returns (and not even then with the `*_shared` variants, which slice the caller's
//! [`Bytes`]).

mod dos;
mod mlsx;
mod unix;

pub use mlsx::{
    format_mlst_line, format_mlsx_line, parse_mlst_line, parse_mlsx_line, parse_mlsx_line_shared,
    Fact, FactSet,
};
pub use unix::{format_list_line, format_nlst_line};

use crate::time::Timestamp;
use bytes::Bytes;

/// Most unknown facts one MLSx line may carry in [`Entry::extra`]; more is an error.
pub const MAX_EXTRA_FACTS: usize = 32;

/// What kind of object a listing entry names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EntryKind {
    /// A regular file (`-` in LIST, `type=file` in MLSx).
    File,
    /// A directory (`d` in LIST, `type=dir` in MLSx).
    Dir,
    /// A symbolic link, with its target when the listing shows it (`l` and `name -> target` in
    /// LIST, `type=OS.unix=slink:target` in MLSx).
    Symlink {
        /// The link target as listed, if known.
        target: Option<Bytes>,
    },
    /// The listed directory itself (`type=cdir`; `.` in LIST).
    CurrentDir,
    /// The parent of the listed directory (`type=pdir`; `..` in LIST).
    ParentDir,
    /// Any other type, held as its MLSx `type` value, e.g. `OS.unix=chr-4/1`, `OS.unix=fifo`.
    ///
    /// LIST device files, FIFOs, sockets and doors parse into this form too, so both listing
    /// styles describe them the same way.
    Other(Bytes),
    /// The listing did not say (an MLSx line without a `type` fact).
    Unknown,
}

impl EntryKind {
    /// Whether this is a directory of any flavour ([`Dir`](Self::Dir),
    /// [`CurrentDir`](Self::CurrentDir) or [`ParentDir`](Self::ParentDir)).
    pub fn is_dir(&self) -> bool {
        matches!(self, Self::Dir | Self::CurrentDir | Self::ParentDir)
    }
}

/// One entry of a directory listing: what a server formats from and a client parses into.
///
/// Build one with [`Entry::new`] and the `with_*` methods (or by setting the public fields);
/// every field except the name and kind is optional because listings differ in what they show.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Entry {
    /// The name as listed (bytes; may be non-UTF-8, may contain spaces).
    pub name: Bytes,
    /// File, directory, link...
    pub kind: EntryKind,
    /// Size in octets.
    pub size: Option<u64>,
    /// Last modification time.
    pub modified: Option<Timestamp>,
    /// Creation time (MLSx `create` fact only).
    pub created: Option<Timestamp>,
    /// Unix permission bits (`mode & 0o7777`: rwx for owner, group and others, setuid, setgid,
    /// sticky). The formatters ignore file-type bits above these.
    pub permissions: Option<u32>,
    /// Owner name.
    pub owner: Option<Bytes>,
    /// Group name.
    pub group: Option<Bytes>,
    /// Hard link count.
    pub links: Option<u64>,
    /// The MLSx `unique` fact: an id shared by all names of the same object.
    pub unique: Option<Bytes>,
    /// The MLSx `perm` fact: what the logged-in user may do (`a c d e f l m p r w`).
    pub perm: Option<Bytes>,
    /// MLSx facts this module has no field for, as `(name, value)` in the order listed.
    ///
    /// Parsers fill it; the MLSx formatter does not write it, since `OPTS MLST` can only
    /// enable the facts a [`FactSet`] names.
    pub extra: Vec<(Bytes, Bytes)>,
}

impl Entry {
    /// Makes an entry with a name and kind and every optional field empty.
    pub fn new(name: impl Into<Bytes>, kind: EntryKind) -> Self {
        Entry {
            name: name.into(),
            kind,
            size: None,
            modified: None,
            created: None,
            permissions: None,
            owner: None,
            group: None,
            links: None,
            unique: None,
            perm: None,
            extra: Vec::new(),
        }
    }

    /// Sets the size in octets.
    pub fn with_size(mut self, size: u64) -> Self {
        self.size = Some(size);
        self
    }

    /// Sets the modification time.
    pub fn with_modified(mut self, t: Timestamp) -> Self {
        self.modified = Some(t);
        self
    }

    /// Sets the creation time.
    pub fn with_created(mut self, t: Timestamp) -> Self {
        self.created = Some(t);
        self
    }

    /// Sets the Unix permission bits (masked to `0o7777`).
    pub fn with_permissions(mut self, mode: u32) -> Self {
        self.permissions = Some(mode & 0o7777);
        self
    }

    /// Sets the owner name.
    pub fn with_owner(mut self, owner: impl Into<Bytes>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// Sets the group name.
    pub fn with_group(mut self, group: impl Into<Bytes>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// Sets the hard link count.
    pub fn with_links(mut self, links: u64) -> Self {
        self.links = Some(links);
        self
    }

    /// Sets the MLSx `unique` fact.
    pub fn with_unique(mut self, unique: impl Into<Bytes>) -> Self {
        self.unique = Some(unique.into());
        self
    }

    /// Sets the MLSx `perm` fact (letters from `acdeflmprw`).
    pub fn with_perm(mut self, perm: impl Into<Bytes>) -> Self {
        self.perm = Some(perm.into());
        self
    }
}

/// Why a listing line could not be parsed or an entry could not be formatted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ListingError {
    /// The line is neither a Unix `ls -l` line nor a DOS/IIS line.
    #[error("listing line is in no known format")]
    UnknownFormat,
    /// The Unix type-and-permission column (`drwxr-xr-x`) is malformed.
    #[error("malformed permission column")]
    Permissions,
    /// No date column where one was expected, or a date that names no real day.
    #[error("malformed or missing date")]
    Date,
    /// The size column is missing, not a number, or too large for 64 bits.
    #[error("malformed or missing size")]
    Size,
    /// The line ends before the name.
    #[error("listing line has no name")]
    MissingName,
    /// An MLSx fact without `=` or with an empty name, or a line without the space before the
    /// name.
    #[error("malformed MLSx fact")]
    Fact,
    /// An MLSx line with more than [`MAX_EXTRA_FACTS`] unknown facts.
    #[error("too many MLSx facts")]
    TooManyFacts,
    /// An `OPTS MLST` fact list containing a space or other byte a fact list cannot hold.
    #[error("malformed MLST fact list")]
    FactList,
    /// The entry's name is empty or contains CR or LF, so no listing line can carry it.
    #[error("name cannot appear on a listing line")]
    UnlistableName,
}

impl ListingError {
    /// The FTP reply code a server answers with when this error comes from its side.
    ///
    /// `OPTS MLST` syntax gives 501; an unlistable name is a local problem (451). Parse errors
    /// of listing lines arise in clients and map to 501 only nominally.
    pub fn reply_code(&self) -> u16 {
        match self {
            ListingError::UnlistableName => 451,
            _ => 501,
        }
    }
}

/// Parses one LIST line, auto-detecting Unix `ls -l` and DOS/IIS styles.
///
/// `line` may end with CRLF or LF. `now` gives a year to Unix dates that show a time of day
/// instead (`Jan  5 12:34`): the latest such date not more than a day after `now` (the day
/// absorbs time-zone differences). Without `now` such dates leave [`Entry::modified`] empty.
///
/// Returns `Ok(None)` for lines that are well-formed but name no entry (`total 12`, blank
/// lines), `Ok(Some(entry))` for an entry, and an error for anything else. `.` and `..`
/// directories come back as [`EntryKind::CurrentDir`] and [`EntryKind::ParentDir`].
pub fn parse_list_line(line: &[u8], now: Option<Timestamp>) -> Result<Option<Entry>, ListingError> {
    parse_list(
        Src {
            line: strip_eol(line),
            shared: None,
        },
        now,
    )
}

/// Like [`parse_list_line`], but the returned names slice `line` instead of copying it.
pub fn parse_list_line_shared(
    line: &Bytes,
    now: Option<Timestamp>,
) -> Result<Option<Entry>, ListingError> {
    parse_list(
        Src {
            line: strip_eol(line),
            shared: Some(line),
        },
        now,
    )
}

fn parse_list(src: Src<'_>, now: Option<Timestamp>) -> Result<Option<Entry>, ListingError> {
    let l = src.line;
    if l.iter().all(|&b| b == b' ' || b == b'\t') || is_total_line(l) {
        return Ok(None);
    }
    if unix::looks_like(l) {
        return unix::parse(src, now).map(Some);
    }
    if dos::looks_like(l) {
        return dos::parse(src).map(Some);
    }
    Err(ListingError::UnknownFormat)
}

/// `total 12` (GNU ls, vsftpd) or `total 1,234`.
fn is_total_line(l: &[u8]) -> bool {
    match l.get(..6) {
        Some(head) if head.eq_ignore_ascii_case(b"total ") => l[6..]
            .iter()
            .all(|&b| b.is_ascii_digit() || b == b',' || b == b' ' || b == b'\t'),
        _ => false,
    }
}

/// The line being parsed, and the shared buffer it lies in when the caller gave one (so names
/// can be sliced instead of copied). Offsets are the same in both.
#[derive(Clone, Copy)]
pub(crate) struct Src<'a> {
    pub(crate) line: &'a [u8],
    pub(crate) shared: Option<&'a Bytes>,
}

impl Src<'_> {
    /// The bytes `start..end` of the line, clamped to it.
    pub(crate) fn take(&self, start: usize, end: usize) -> Bytes {
        let end = end.min(self.line.len());
        let start = start.min(end);
        match self.shared {
            Some(b) => b.slice(start..end),
            None => Bytes::copy_from_slice(self.line.get(start..end).unwrap_or_default()),
        }
    }
}

/// Drops one trailing LF and then one trailing CR.
pub(crate) fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Whether a name can go on a listing line: not empty, no CR, no LF.
pub(crate) fn name_is_listable(name: &[u8]) -> bool {
    !name.is_empty() && !name.iter().any(|&b| b == b'\r' || b == b'\n')
}

/// Parses unsigned decimal digits, allowing `,` thousands separators between digits.
pub(crate) fn parse_grouped_u64(s: &[u8]) -> Option<u64> {
    if s.first().is_none_or(|b| !b.is_ascii_digit()) || s.last() == Some(&b',') {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        match b {
            b'0'..=b'9' => n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?,
            b',' => {}
            _ => return None,
        }
    }
    Some(n)
}

/// Parses 1 to `max` decimal digits.
pub(crate) fn parse_digits(s: &[u8], max: usize) -> Option<u32> {
    if s.is_empty() || s.len() > max || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0u32, |n, &b| n * 10 + u32::from(b - b'0')))
}

/// Splits a line into space- or tab-separated tokens, yielding `(start, end)` offsets.
pub(crate) struct Tokens<'a> {
    line: &'a [u8],
    pos: usize,
}

impl<'a> Tokens<'a> {
    pub(crate) fn new(line: &'a [u8], pos: usize) -> Self {
        Tokens { line, pos }
    }
}

impl Iterator for Tokens<'_> {
    type Item = (usize, usize);

    fn next(&mut self) -> Option<(usize, usize)> {
        let is_space = |b: &u8| *b == b' ' || *b == b'\t';
        let rest = self.line.get(self.pos..)?;
        let start = self.pos + rest.iter().position(|b| !is_space(b))?;
        let len = self.line[start..]
            .iter()
            .position(is_space)
            .unwrap_or(self.line.len() - start);
        self.pos = start + len;
        Some((start, start + len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_total_and_blank_lines() {
        for line in [
            &b"total 12"[..],
            b"total 1,234\r\n",
            b"",
            b"   \r\n",
            b"TOTAL 0",
        ] {
            assert_eq!(parse_list_line(line, None), Ok(None), "{line:?}");
        }
        assert_eq!(
            parse_list_line(b"totally not a listing", None),
            Err(ListingError::UnknownFormat)
        );
        assert_eq!(
            parse_list_line(b"hello world", None),
            Err(ListingError::UnknownFormat)
        );
    }

    #[test]
    fn grouped_numbers() {
        assert_eq!(parse_grouped_u64(b"1,234,567"), Some(1_234_567));
        assert_eq!(parse_grouped_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_grouped_u64(b"18446744073709551616"), None);
        assert_eq!(parse_grouped_u64(b",1"), None);
        assert_eq!(parse_grouped_u64(b"1,"), None);
        assert_eq!(parse_grouped_u64(b""), None);
    }

    #[test]
    fn tokens_split_on_runs_of_blanks() {
        let t: Vec<_> = Tokens::new(b"  ab \t c  d", 0).collect();
        assert_eq!(t, vec![(2, 4), (7, 8), (10, 11)]);
    }

    #[test]
    fn shared_parse_slices_the_buffer() {
        let line = Bytes::from_static(b"-rw-r--r--   1 ftp ftp 5 Jan  5  2021 x y\r\n");
        let e = parse_list_line_shared(&line, None).unwrap().unwrap();
        assert_eq!(&e.name[..], b"x y");
        assert_eq!(e.name.as_ptr(), line[38..].as_ptr());
    }
}
