//! RFC 3659 machine listings: MLSD data lines, MLST control-channel entries, the fact set of
//! `OPTS MLST` and of the FEAT `MLST` line.

use std::fmt::Write as _;

use bytes::{BufMut, Bytes, BytesMut};

use super::{Entry, EntryKind, ListingError, Src, MAX_EXTRA_FACTS};
use crate::time::Timestamp;

/// An MLSx fact this module can format from an [`Entry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fact {
    /// `type`: file, dir, cdir, pdir or an `OS.` type.
    Type,
    /// `size`: octets.
    Size,
    /// `modify`: last modification `time-val`.
    Modify,
    /// `create`: creation `time-val`.
    Create,
    /// `perm`: what the user may do.
    Perm,
    /// `unique`: object identity.
    Unique,
    /// `unix.mode`: octal permission bits (proftpd, pyftpdlib).
    UnixMode,
    /// `unix.ownername`: owner name (proftpd; its `unix.owner` is the numeric uid).
    UnixOwnerName,
    /// `unix.groupname`: group name (proftpd; its `unix.group` is the numeric gid).
    UnixGroupName,
    /// `unix.nlink`: hard link count (proftpd).
    UnixNlink,
}

impl Fact {
    /// Every fact, in the order the formatter writes them.
    pub const ALL: [Fact; 10] = [
        Fact::Type,
        Fact::Size,
        Fact::Modify,
        Fact::Create,
        Fact::Perm,
        Fact::Unique,
        Fact::UnixMode,
        Fact::UnixOwnerName,
        Fact::UnixGroupName,
        Fact::UnixNlink,
    ];

    /// The fact name as written on the wire (lower case; readers compare case-insensitively).
    pub fn name(self) -> &'static str {
        match self {
            Fact::Type => "type",
            Fact::Size => "size",
            Fact::Modify => "modify",
            Fact::Create => "create",
            Fact::Perm => "perm",
            Fact::Unique => "unique",
            Fact::UnixMode => "unix.mode",
            Fact::UnixOwnerName => "unix.ownername",
            Fact::UnixGroupName => "unix.groupname",
            Fact::UnixNlink => "unix.nlink",
        }
    }

    /// Looks a fact name up case-insensitively; `None` for names this module does not know.
    pub fn from_name(name: &[u8]) -> Option<Fact> {
        Fact::ALL
            .into_iter()
            .find(|f| f.name().as_bytes().eq_ignore_ascii_case(name))
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of [`Fact`]s: the ones a server supports, or the ones `OPTS MLST` enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FactSet(u16);

impl FactSet {
    /// No facts: MLSx lines carry names only.
    pub const EMPTY: FactSet = FactSet(0);
    /// Every fact this module can format.
    pub const ALL: FactSet = FactSet((1 << Fact::ALL.len()) - 1);
    /// The facts enabled before any `OPTS MLST`: `type`, `size`, `modify`, `perm`, `unique`
    /// (the set RFC 3659 §7.5.10 says servers should support).
    pub const DEFAULT: FactSet = FactSet(
        (1 << Fact::Type as u16)
            | (1 << Fact::Size as u16)
            | (1 << Fact::Modify as u16)
            | (1 << Fact::Perm as u16)
            | (1 << Fact::Unique as u16),
    );

    /// Whether `fact` is in the set.
    pub fn contains(self, fact: Fact) -> bool {
        self.0 & fact.bit() != 0
    }

    /// The set with `fact` added.
    pub fn with(self, fact: Fact) -> FactSet {
        FactSet(self.0 | fact.bit())
    }

    /// The set with `fact` removed.
    pub fn without(self, fact: Fact) -> FactSet {
        FactSet(self.0 & !fact.bit())
    }

    /// The facts in both sets.
    pub fn intersection(self, other: FactSet) -> FactSet {
        FactSet(self.0 & other.0)
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The facts in the set, in [`Fact::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Fact> {
        Fact::ALL.into_iter().filter(move |f| self.contains(*f))
    }

    /// Parses the argument of `OPTS MLST` (`type;size;`, possibly empty) into the facts that
    /// will now be listed: the requested ones that `supported` holds, unknown names dropped.
    ///
    /// The last `;` may be missing and empty items are skipped. Errors with
    /// [`ListingError::FactList`] (reply 501) if the list contains a blank or control byte, as
    /// pyftpdlib answers `opts mlst type ;` with 501.
    pub fn parse_opts(arg: &[u8], supported: FactSet) -> Result<FactSet, ListingError> {
        if arg.iter().any(|&b| b <= b' ' || b == 0x7f) {
            return Err(ListingError::FactList);
        }
        let mut set = FactSet::EMPTY;
        for name in arg.split(|&b| b == b';') {
            if let Some(f) = Fact::from_name(name) {
                set = set.with(f);
            }
        }
        Ok(set.intersection(supported))
    }

    /// Writes the set as a fact list, `type;size;` (empty for no facts): the argument of
    /// `OPTS MLST` and the text after `200 MLST OPTS `.
    pub fn format_opts(self, out: &mut BytesMut) {
        for f in self.iter() {
            out.put_slice(f.name().as_bytes());
            out.put_u8(b';');
        }
    }

    /// Writes the fact list of the FEAT `MLST` line for a server supporting `supported` with
    /// `self` enabled: `type*;size*;unix.mode;` (a `*` marks enabled facts).
    pub fn format_feat(self, supported: FactSet, out: &mut BytesMut) {
        for f in supported.iter() {
            out.put_slice(f.name().as_bytes());
            if self.contains(f) {
                out.put_u8(b'*');
            }
            out.put_u8(b';');
        }
    }

    /// Reads the fact list of a FEAT `MLST` line (the text after `MLST `) into the facts the
    /// server supports and the ones it has enabled, both limited to the facts this module
    /// knows. Never fails: a client just ignores what it does not understand.
    pub fn parse_feat(list: &[u8]) -> (FactSet, FactSet) {
        let mut supported = FactSet::EMPTY;
        let mut enabled = FactSet::EMPTY;
        for item in list.split(|&b| b == b';') {
            let (name, star) = match item.strip_suffix(b"*") {
                Some(name) => (name, true),
                None => (item, false),
            };
            if let Some(f) = Fact::from_name(name.trim_ascii()) {
                supported = supported.with(f);
                if star {
                    enabled = enabled.with(f);
                }
            }
        }
        (supported, enabled)
    }
}

/// Whether `v` can be a fact value: no blank, no `;`, no control byte (bytes above 127 are let
/// through for UTF-8 owner names).
fn value_is_safe(v: &[u8]) -> bool {
    !v.iter().any(|&b| b <= b' ' || b == b';' || b == 0x7f)
}

/// Writes one MLSD line: the enabled facts, one space, the name, CRLF
/// (`type=file;size=123;modify=20021107123456;perm=rw; name`).
///
/// Facts appear in [`Fact::ALL`] order and only when enabled in `facts` and present in the
/// entry; `modify`/`create` carry a fraction when the time has one; `unix.mode` is four octal
/// digits. Values that a fact cannot carry (containing a blank, `;` or a control byte) are left
/// out, and a symlink whose target cannot be carried is typed `OS.unix=symlink` instead of
/// `OS.unix=slink:target`. [`Entry::extra`] is never written.
///
/// Errors with [`ListingError::UnlistableName`], writing nothing, if the name contains CR or LF
/// (an empty name is allowed: MLST without argument may list one).
pub fn format_mlsx_line(
    entry: &Entry,
    facts: FactSet,
    out: &mut BytesMut,
) -> Result<(), ListingError> {
    if entry.name.iter().any(|&b| b == b'\r' || b == b'\n') {
        return Err(ListingError::UnlistableName);
    }
    put_entry(entry, facts, out);
    Ok(())
}

/// Writes one MLST control-channel entry line: a leading space, then the same text as
/// [`format_mlsx_line`] (so an entry without facts starts with two spaces), CRLF.
///
/// Errors like [`format_mlsx_line`].
pub fn format_mlst_line(
    entry: &Entry,
    facts: FactSet,
    out: &mut BytesMut,
) -> Result<(), ListingError> {
    if entry.name.iter().any(|&b| b == b'\r' || b == b'\n') {
        return Err(ListingError::UnlistableName);
    }
    out.put_u8(b' ');
    put_entry(entry, facts, out);
    Ok(())
}

fn put_entry(e: &Entry, facts: FactSet, out: &mut BytesMut) {
    out.reserve(96 + e.name.len());
    let fact = |f: Fact, out: &mut BytesMut| {
        out.put_slice(f.name().as_bytes());
        out.put_u8(b'=');
    };
    if facts.contains(Fact::Type) {
        let value: Option<(&[u8], Option<&[u8]>)> = match &e.kind {
            EntryKind::File => Some((b"file", None)),
            EntryKind::Dir => Some((b"dir", None)),
            EntryKind::CurrentDir => Some((b"cdir", None)),
            EntryKind::ParentDir => Some((b"pdir", None)),
            EntryKind::Symlink { target: Some(t) } if value_is_safe(t) => {
                Some((b"OS.unix=slink:", Some(&t[..])))
            }
            EntryKind::Symlink { .. } => Some((b"OS.unix=symlink", None)),
            EntryKind::Other(v) if !v.is_empty() && value_is_safe(v) => Some((&v[..], None)),
            EntryKind::Other(_) | EntryKind::Unknown => None,
        };
        if let Some((head, tail)) = value {
            fact(Fact::Type, out);
            out.put_slice(head);
            out.put_slice(tail.unwrap_or_default());
            out.put_u8(b';');
        }
    }
    if let (true, Some(size)) = (facts.contains(Fact::Size), e.size) {
        fact(Fact::Size, out);
        let _ = write!(out, "{size};");
    }
    for (f, t) in [(Fact::Modify, e.modified), (Fact::Create, e.created)] {
        if let (true, Some(t)) = (facts.contains(f), t) {
            fact(f, out);
            let _ = write!(out, "{};", t.time_val_precise());
        }
    }
    for (f, v) in [(Fact::Perm, &e.perm), (Fact::Unique, &e.unique)] {
        if let (true, Some(v)) = (facts.contains(f), v) {
            if value_is_safe(v) {
                fact(f, out);
                out.put_slice(v);
                out.put_u8(b';');
            }
        }
    }
    if let (true, Some(mode)) = (facts.contains(Fact::UnixMode), e.permissions) {
        fact(Fact::UnixMode, out);
        let _ = write!(out, "{:04o};", mode & 0o7777);
    }
    for (f, v) in [
        (Fact::UnixOwnerName, &e.owner),
        (Fact::UnixGroupName, &e.group),
    ] {
        if let (true, Some(v)) = (facts.contains(f), v) {
            if value_is_safe(v) {
                fact(f, out);
                out.put_slice(v);
                out.put_u8(b';');
            }
        }
    }
    if let (true, Some(n)) = (facts.contains(Fact::UnixNlink), e.links) {
        fact(Fact::UnixNlink, out);
        let _ = write!(out, "{n};");
    }
    out.put_u8(b' ');
    out.put_slice(&e.name);
    out.put_slice(b"\r\n");
}

/// Parses one MLSD line: `facts SP name`, with or without a trailing CRLF.
///
/// Fact names are case-insensitive; the name is everything after the first space and may hold
/// spaces, `;` and `=`. A line starting with a space has no facts. The last fact's `;` may be
/// missing (some servers and an RFC 3659 example omit it). Recognised facts fill the entry
/// (`type`, `size` and `sizd`, `modify`, `create`, `perm`, `unique`, `unix.mode`,
/// `unix.ownername`, `unix.groupname`, `unix.nlink`); everything else, including recognised
/// facts whose value does not parse, goes to [`Entry::extra`]. When no owner or group name is
/// listed, the numeric `unix.owner`/`unix.uid` and `unix.group`/`unix.gid` fill them.
/// Without a `type` fact the kind is [`EntryKind::Unknown`].
///
/// Errors: [`ListingError::Fact`] for a line without the space before the name or a fact
/// without `=` or name; [`ListingError::TooManyFacts`] past [`MAX_EXTRA_FACTS`] unknown facts.
pub fn parse_mlsx_line(line: &[u8]) -> Result<Entry, ListingError> {
    parse(Src {
        line: super::strip_eol(line),
        shared: None,
    })
}

/// Like [`parse_mlsx_line`], but the returned values slice `line` instead of copying it.
pub fn parse_mlsx_line_shared(line: &Bytes) -> Result<Entry, ListingError> {
    parse(Src {
        line: super::strip_eol(line),
        shared: Some(line),
    })
}

/// Parses one MLST entry line from the control channel: one leading space, then an MLSD line
/// (two leading spaces mean no facts). A line without the leading space is read as an MLSD
/// line.
///
/// Errors like [`parse_mlsx_line`].
pub fn parse_mlst_line(line: &[u8]) -> Result<Entry, ListingError> {
    let line = line.strip_prefix(b" ").unwrap_or(line);
    parse_mlsx_line(line)
}

fn parse(src: Src<'_>) -> Result<Entry, ListingError> {
    let l = src.line;
    let sp = l
        .iter()
        .position(|&b| b == b' ')
        .ok_or(ListingError::Fact)?;
    let mut e = Entry::new(src.take(sp + 1, l.len()), EntryKind::Unknown);
    let mut sizd = None;
    let mut numeric_owner = None;
    let mut numeric_group = None;
    let mut start = 0;
    while start < sp {
        let end = l[start..sp]
            .iter()
            .position(|&b| b == b';')
            .map_or(sp, |p| start + p);
        let seg = &l[start..end];
        let (seg_start, next) = (start, end + 1);
        start = next;
        if seg.is_empty() {
            continue;
        }
        let eq = seg
            .iter()
            .position(|&b| b == b'=')
            .ok_or(ListingError::Fact)?;
        if eq == 0 {
            return Err(ListingError::Fact);
        }
        let name = &seg[..eq];
        let value = &seg[eq + 1..];
        let vs = seg_start + eq + 1;
        let value_bytes = || src.take(vs, end);
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        let known = if is("type") {
            e.kind = parse_type(value, &src, vs, end);
            true
        } else if is("size") {
            set_if(&mut e.size, parse_u64(value))
        } else if is("sizd") {
            set_if(&mut sizd, parse_u64(value))
        } else if is("modify") {
            set_if(&mut e.modified, Timestamp::parse_time_val(value).ok())
        } else if is("create") {
            set_if(&mut e.created, Timestamp::parse_time_val(value).ok())
        } else if is("perm") {
            e.perm = Some(value_bytes());
            true
        } else if is("unique") {
            e.unique = Some(value_bytes());
            true
        } else if is("unix.mode") {
            set_if(&mut e.permissions, parse_mode(value))
        } else if is("unix.ownername") {
            e.owner = Some(value_bytes());
            true
        } else if is("unix.groupname") {
            e.group = Some(value_bytes());
            true
        } else if is("unix.nlink") {
            set_if(&mut e.links, parse_u64(value))
        } else {
            if is("unix.owner") || is("unix.uid") {
                numeric_owner.get_or_insert((vs, end));
            } else if is("unix.group") || is("unix.gid") {
                numeric_group.get_or_insert((vs, end));
            }
            false
        };
        if !known {
            if e.extra.len() >= MAX_EXTRA_FACTS {
                return Err(ListingError::TooManyFacts);
            }
            e.extra
                .push((src.take(seg_start, seg_start + eq), value_bytes()));
        }
    }
    if e.size.is_none() {
        e.size = sizd;
    }
    if let (None, Some((s, end))) = (&e.owner, numeric_owner) {
        e.owner = Some(src.take(s, end));
    }
    if let (None, Some((s, end))) = (&e.group, numeric_group) {
        e.group = Some(src.take(s, end));
    }
    Ok(e)
}

/// Stores `value` if it parsed; reports whether it did.
fn set_if<T>(slot: &mut Option<T>, value: Option<T>) -> bool {
    match value {
        Some(v) => {
            *slot = Some(v);
            true
        }
        None => false,
    }
}

fn parse_u64(v: &[u8]) -> Option<u64> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    v.iter().try_fold(0u64, |n, &b| {
        n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// Octal `unix.mode`; file-type bits some servers include are masked off.
fn parse_mode(v: &[u8]) -> Option<u32> {
    if v.is_empty() || v.len() > 7 || !v.iter().all(|b| (b'0'..=b'7').contains(b)) {
        return None;
    }
    let mode = v.iter().fold(0u32, |n, &b| n * 8 + u32::from(b - b'0'));
    Some(mode & 0o7777)
}

fn parse_type(v: &[u8], src: &Src<'_>, vs: usize, end: usize) -> EntryKind {
    let is = |n: &[u8]| v.eq_ignore_ascii_case(n);
    if is(b"file") {
        EntryKind::File
    } else if is(b"dir") {
        EntryKind::Dir
    } else if is(b"cdir") {
        EntryKind::CurrentDir
    } else if is(b"pdir") {
        EntryKind::ParentDir
    } else if is(b"OS.unix=slink") || is(b"OS.unix=symlink") {
        EntryKind::Symlink { target: None }
    } else if v.len() >= 14 && v[..14].eq_ignore_ascii_case(b"OS.unix=slink:") {
        EntryKind::Symlink {
            target: Some(src.take(vs + 14, end)),
        }
    } else {
        EntryKind::Other(src.take(vs, end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        Timestamp::parse_time_val(s.as_bytes()).unwrap()
    }

    /// Lines our formatter writes (with [`FactSet::ALL`]) and the entries they stand for:
    /// checked both ways.
    fn ours() -> Vec<(&'static [u8], Entry)> {
        vec![
            (
                b"type=file;size=123;modify=20021107123456;perm=rw; name\r\n",
                Entry::new("name", EntryKind::File)
                    .with_size(123)
                    .with_modified(t("20021107123456"))
                    .with_perm("rw"),
            ),
            (
                b"type=cdir;modify=19981107085215;perm=el;unique=keVO1+ZF4; /tmp\r\n",
                Entry::new("/tmp", EntryKind::CurrentDir)
                    .with_modified(t("19981107085215"))
                    .with_perm("el")
                    .with_unique("keVO1+ZF4"),
            ),
            (
                b"type=OS.unix=slink:/foobar;perm=;unique=keVO1+4G4; foobar\r\n",
                Entry::new("foobar", EntryKind::Symlink { target: Some(Bytes::from_static(b"/foobar")) })
                    .with_perm("")
                    .with_unique("keVO1+4G4"),
            ),
            (
                b"type=OS.unix=chr-13/29;perm=; device\r\n",
                Entry::new("device", EntryKind::Other(Bytes::from_static(b"OS.unix=chr-13/29"))).with_perm(""),
            ),
            (
                b"type=file;modify=19990929003355.237;create=19700101000000; file1\r\n",
                Entry::new("file1", EntryKind::File)
                    .with_modified(t("19990929003355.237"))
                    .with_created(Timestamp::UNIX_EPOCH),
            ),
            (
                b"type=file;size=18446744073709551615;unix.mode=4755;unix.ownername=alice;unix.groupname=staff;unix.nlink=3;   leading; a=b \r\n",
                Entry::new("  leading; a=b ", EntryKind::File)
                    .with_size(u64::MAX)
                    .with_permissions(0o4755)
                    .with_owner("alice")
                    .with_group("staff")
                    .with_links(3),
            ),
            (b" no facts\r\n", Entry::new("no facts", EntryKind::Unknown)),
            (
                b"type=OS.unix=symlink; dangling\r\n",
                Entry::new("dangling", EntryKind::Symlink { target: None }),
            ),
            (b"type=dir; \r\n", Entry::new("", EntryKind::Dir)),
            (
                "type=file;unix.mode=0644; τυπος.txt\r\n".as_bytes(),
                Entry::new(Bytes::from("τυπος.txt".as_bytes()), EntryKind::File).with_permissions(0o644),
            ),
        ]
    }

    #[test]
    fn vectors_both_ways() {
        for (line, entry) in ours() {
            let text = String::from_utf8_lossy(line);
            let mut out = BytesMut::new();
            format_mlsx_line(&entry, FactSet::ALL, &mut out).unwrap();
            assert_eq!(String::from_utf8_lossy(&out), text, "format");
            assert_eq!(parse_mlsx_line(line).unwrap(), entry, "parse {text}");
            let shared = Bytes::from_static(line);
            assert_eq!(
                parse_mlsx_line_shared(&shared).unwrap(),
                entry,
                "shared {text}"
            );
            // MLST form: one more leading space.
            let mut out = BytesMut::new();
            format_mlst_line(&entry, FactSet::ALL, &mut out).unwrap();
            assert_eq!(&out[1..], line);
            assert_eq!(out[0], b' ');
            assert_eq!(parse_mlst_line(&out).unwrap(), entry, "mlst {text}");
            // Trailing bytes belong to the name.
            let mut longer = super::super::strip_eol(line).to_vec();
            longer.push(b'~');
            let p = parse_mlsx_line(&longer).unwrap();
            assert_eq!(p.name.last(), Some(&b'~'));
        }
    }

    #[test]
    fn real_world_lines() {
        // proftpd: mixed case, numeric owner beside the name, unknown fact.
        let e = parse_mlsx_line(
            b"modify=20181016153306;perm=fle;size=4096;type=dir;cb=yes;unique=8000000A00000007U2;UNIX.group=208;UNIX.groupname=ftpapp;UNIX.mode=0444;UNIX.owner=17590;UNIX.ownername=xixUvYCt; sub dir\r\n",
        )
        .unwrap();
        assert_eq!(e.kind, EntryKind::Dir);
        assert_eq!(&e.name[..], b"sub dir");
        assert_eq!(e.size, Some(4096));
        assert_eq!(e.permissions, Some(0o444));
        assert_eq!(e.owner.as_deref(), Some(&b"xixUvYCt"[..]));
        assert_eq!(e.group.as_deref(), Some(&b"ftpapp"[..]));
        assert_eq!(e.modified, Some(t("20181016153306")));
        let extra: Vec<_> = e.extra.iter().map(|(n, v)| (&n[..], &v[..])).collect();
        assert_eq!(
            extra,
            [
                (&b"cb"[..], &b"yes"[..]),
                (b"UNIX.group", b"208"),
                (b"UNIX.owner", b"17590")
            ]
        );
        // pyftpdlib: numeric ids only.
        let e = parse_mlsx_line(
            b"type=file;size=5;perm=r;modify=20070730073102;unix.mode=0644;unix.uid=1000;unix.gid=100;unique=801g4804045; a.txt",
        )
        .unwrap();
        assert_eq!(e.owner.as_deref(), Some(&b"1000"[..]));
        assert_eq!(e.group.as_deref(), Some(&b"100"[..]));
        // RFC 3659 §7.7.4: last fact without `;`.
        let e = parse_mlst_line(b" Type=dir;Perm=el;Unique=keVO1+ZF4 test").unwrap();
        assert_eq!(e.kind, EntryKind::Dir);
        assert_eq!(e.unique.as_deref(), Some(&b"keVO1+ZF4"[..]));
        assert_eq!(&e.name[..], b"test");
        // Directory size fact and a bad modify kept raw.
        let e = parse_mlsx_line(b"type=pdir;sizd=4096;modify=yesterday; ..").unwrap();
        assert_eq!(
            (e.kind.clone(), e.size, e.modified),
            (EntryKind::ParentDir, Some(4096), None)
        );
        assert_eq!(
            e.extra,
            vec![(
                Bytes::from_static(b"modify"),
                Bytes::from_static(b"yesterday")
            )]
        );
        // Types are case-insensitive, OS types keep their spelling.
        let e = parse_mlsx_line(b"TYPE=OS.Unix=SLINK:/x; l").unwrap();
        assert_eq!(
            e.kind,
            EntryKind::Symlink {
                target: Some(Bytes::from_static(b"/x"))
            }
        );
        let e = parse_mlsx_line(b"type=OS.unix=blk-11/108; block").unwrap();
        assert_eq!(
            e.kind,
            EntryKind::Other(Bytes::from_static(b"OS.unix=blk-11/108"))
        );
    }

    #[test]
    fn rejects() {
        assert_eq!(
            parse_mlsx_line(b"type=file;name-without-space"),
            Err(ListingError::Fact)
        );
        assert_eq!(parse_mlsx_line(b"typefile; x"), Err(ListingError::Fact));
        assert_eq!(parse_mlsx_line(b"=file; x"), Err(ListingError::Fact));
        let mut many = Vec::new();
        for i in 0..=MAX_EXTRA_FACTS {
            many.extend_from_slice(format!("x.f{i}=1;").as_bytes());
        }
        many.extend_from_slice(b" n");
        assert_eq!(parse_mlsx_line(&many), Err(ListingError::TooManyFacts));
        let mut out = BytesMut::new();
        let e = Entry::new("a\r\nb", EntryKind::File);
        assert_eq!(
            format_mlsx_line(&e, FactSet::ALL, &mut out),
            Err(ListingError::UnlistableName)
        );
        assert_eq!(
            format_mlst_line(&e, FactSet::ALL, &mut out),
            Err(ListingError::UnlistableName)
        );
        assert!(out.is_empty());
    }

    #[test]
    fn unsafe_values_are_left_out() {
        let e = Entry::new(
            "n",
            EntryKind::Symlink {
                target: Some(Bytes::from_static(b"a b")),
            },
        )
        .with_owner("x;y")
        .with_unique("u u")
        .with_perm("r");
        let mut out = BytesMut::new();
        format_mlsx_line(&e, FactSet::ALL, &mut out).unwrap();
        assert_eq!(&out[..], b"type=OS.unix=symlink;perm=r; n\r\n");
    }

    #[test]
    fn fact_selection() {
        let e = Entry::new("f", EntryKind::File)
            .with_size(1)
            .with_modified(Timestamp::UNIX_EPOCH)
            .with_perm("r");
        let mut out = BytesMut::new();
        format_mlsx_line(&e, FactSet::EMPTY.with(Fact::Size), &mut out).unwrap();
        format_mlst_line(&e, FactSet::EMPTY, &mut out).unwrap();
        assert_eq!(&out[..], b"size=1; f\r\n  f\r\n");
    }

    #[test]
    fn opts_and_feat() {
        type Case = (&'static [u8], Result<&'static [u8], ListingError>);
        let cases: &[Case] = &[
            (b"fish;cakes;type;", Ok(b"type;")),
            (b"Type;UNIX.mode;Perm;", Ok(b"type;perm;unix.mode;")),
            (b"size;modify", Ok(b"size;modify;")),
            (b"", Ok(b"")),
            (b";;", Ok(b"")),
            (b"type ;", Err(ListingError::FactList)),
            (b"type;\tsize;", Err(ListingError::FactList)),
        ];
        for (arg, want) in cases {
            let got = FactSet::parse_opts(arg, FactSet::ALL).map(|s| {
                let mut out = BytesMut::new();
                s.format_opts(&mut out);
                out.to_vec()
            });
            assert_eq!(
                got,
                want.map(<[u8]>::to_vec),
                "{}",
                String::from_utf8_lossy(arg)
            );
        }
        assert_eq!(ListingError::FactList.reply_code(), 501);
        // Only supported facts are echoed.
        let supported = FactSet::DEFAULT;
        assert_eq!(
            FactSet::parse_opts(b"type;unix.mode;", supported),
            Ok(FactSet::EMPTY.with(Fact::Type))
        );

        let mut out = BytesMut::new();
        FactSet::DEFAULT.format_feat(FactSet::ALL, &mut out);
        let feat: &[u8] =
            b"type*;size*;modify*;create;perm*;unique*;unix.mode;unix.ownername;unix.groupname;unix.nlink;";
        assert_eq!(&out[..], feat);
        assert_eq!(FactSet::parse_feat(feat), (FactSet::ALL, FactSet::DEFAULT));
        let (supported, enabled) =
            FactSet::parse_feat(b"Type*;Size;Modify*;Perm;Unique;UNIX.mode;UNIX.chgd;X.hidden;");
        assert_eq!(supported, FactSet::DEFAULT.with(Fact::UnixMode));
        assert_eq!(enabled, FactSet::EMPTY.with(Fact::Type).with(Fact::Modify));
        assert_eq!(
            Fact::from_name(b"UNIX.OwnerName"),
            Some(Fact::UnixOwnerName)
        );
        assert_eq!(Fact::from_name(b"sizd"), None);
    }
}
