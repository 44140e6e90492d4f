//! Unix `ls -l` lines: the LIST format servers send most, and the NLST name lines.

use std::fmt::Write as _;

use bytes::{BufMut, Bytes, BytesMut};

use super::{
    name_is_listable, parse_digits, parse_grouped_u64, Entry, EntryKind, ListingError, Src, Tokens,
};
use crate::time::{days_in_month, Civil, Timestamp};

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// How far back a date still counts as recent and shows a time of day (vsftpd uses 182 days;
/// GNU ls half a Gregorian year).
const RECENT_SECS: i64 = 182 * 86_400;

/// How far past `now` a year-less date may lie and still belong to `now`'s year: absorbs the
/// difference between the server's local time and the caller's clock.
const FUTURE_SLACK_SECS: i64 = 86_400;

/// Writes one `ls -l` style LIST line for `entry`, ending in CRLF.
///
/// The layout is `drwxr-xr-x    2 owner    group        4096 Nov 29 09:34 name`. The date shows
/// `Mon DD HH:MM` when the modification time lies in the 182 days up to `now` and `Mon DD  YYYY`
/// otherwise (future dates included, as ls and vsftpd do); a missing time prints as the epoch.
/// Missing fields get defaults: owner and group `ftp`, one link, size 0, permissions `0o644`
/// for files, `0o755` for directories and `0o777` for links. Owner and group bytes that are
/// blank or control characters print as `_` so the columns stay parseable. Symlinks show
/// `name -> target` (the target is left out if it contains CR or LF). Other kinds whose
/// [`EntryKind::Other`] value is `OS.unix=chr-M/N`, `blk-M/N`, `fifo`, `socket` or `door` get
/// the matching type letter (and `M, N` in the size column for devices).
///
/// The name is written raw. Errors with [`ListingError::UnlistableName`], writing nothing, if
/// the name is empty or contains CR or LF: such an entry should be left out of the listing.
pub fn format_list_line(
    entry: &Entry,
    now: Timestamp,
    out: &mut BytesMut,
) -> Result<(), ListingError> {
    if !name_is_listable(&entry.name) {
        return Err(ListingError::UnlistableName);
    }
    let other = match &entry.kind {
        EntryKind::Other(v) => parse_unix_other(v),
        _ => None,
    };
    let (type_char, default_mode) = match (&entry.kind, &other) {
        (EntryKind::Dir | EntryKind::CurrentDir | EntryKind::ParentDir, _) => (b'd', 0o755),
        (EntryKind::Symlink { .. }, _) => (b'l', 0o777),
        (_, Some(o)) => (o.type_char, 0o644),
        _ => (b'-', 0o644),
    };
    out.reserve(64 + entry.name.len());
    out.put_u8(type_char);
    put_mode(entry.permissions.unwrap_or(default_mode), out);
    let _ = write!(out, " {:>4} ", entry.links.unwrap_or(1));
    put_column(entry.owner.as_deref(), out);
    out.put_u8(b' ');
    put_column(entry.group.as_deref(), out);
    match other.and_then(|o| o.device) {
        Some((major, minor)) => {
            // Devices are rare: a short-lived string keeps the padding code simple.
            let _ = write!(out, " {:>8}", format!("{major}, {minor}"));
        }
        None => {
            let _ = write!(out, " {:>8}", entry.size.unwrap_or(0));
        }
    }
    let t = entry.modified.unwrap_or(Timestamp::UNIX_EPOCH);
    let c = t.to_civil();
    let month = MONTHS
        .get(usize::from(c.month.saturating_sub(1)))
        .copied()
        .unwrap_or(b"Jan");
    out.put_u8(b' ');
    out.put_slice(month);
    let age = now.unix_seconds().saturating_sub(t.unix_seconds());
    if (0..=RECENT_SECS).contains(&age) {
        let _ = write!(out, " {:>2} {:02}:{:02} ", c.day, c.hour, c.minute);
    } else {
        let _ = write!(out, " {:>2}  {:04} ", c.day, c.year);
    }
    out.put_slice(&entry.name);
    if let EntryKind::Symlink {
        target: Some(target),
    } = &entry.kind
    {
        if !target.iter().any(|&b| b == b'\r' || b == b'\n') {
            out.put_slice(b" -> ");
            out.put_slice(target);
        }
    }
    out.put_slice(b"\r\n");
    Ok(())
}

/// Writes one NLST line: the name and CRLF.
///
/// Errors with [`ListingError::UnlistableName`], writing nothing, if the name is empty or
/// contains CR or LF.
pub fn format_nlst_line(entry: &Entry, out: &mut BytesMut) -> Result<(), ListingError> {
    if !name_is_listable(&entry.name) {
        return Err(ListingError::UnlistableName);
    }
    out.reserve(entry.name.len() + 2);
    out.put_slice(&entry.name);
    out.put_slice(b"\r\n");
    Ok(())
}

/// The nine `rwx` columns with setuid, setgid and sticky folded in as `s/S` and `t/T`.
fn put_mode(mode: u32, out: &mut BytesMut) {
    let special = [
        (0o4000, b's', b'S'),
        (0o2000, b's', b'S'),
        (0o1000, b't', b'T'),
    ];
    for (i, (bit, with_x, without_x)) in special.into_iter().enumerate() {
        let shift = 6 - 3 * i as u32;
        let rwx = (mode >> shift) & 7;
        out.put_u8(if rwx & 4 != 0 { b'r' } else { b'-' });
        out.put_u8(if rwx & 2 != 0 { b'w' } else { b'-' });
        out.put_u8(match (rwx & 1 != 0, mode & bit != 0) {
            (true, true) => with_x,
            (false, true) => without_x,
            (true, false) => b'x',
            (false, false) => b'-',
        });
    }
}

/// An owner or group column, left-aligned in 8 bytes, `ftp` when missing or empty.
fn put_column(value: Option<&[u8]>, out: &mut BytesMut) {
    let value = value.filter(|v| !v.is_empty()).unwrap_or(b"ftp");
    for &b in value {
        out.put_u8(if b <= b' ' || b == 0x7f { b'_' } else { b });
    }
    for _ in value.len()..8 {
        out.put_u8(b' ');
    }
}

/// The LIST rendering of an [`EntryKind::Other`] value.
struct UnixOther {
    type_char: u8,
    device: Option<(u32, u32)>,
}

/// Reads `OS.unix=chr-M/N`, `OS.unix=blk-M/N`, `OS.unix=fifo`, `OS.unix=socket`,
/// `OS.unix=door` (case-insensitive) into a LIST type letter.
fn parse_unix_other(v: &[u8]) -> Option<UnixOther> {
    let prefix = v.get(..8)?;
    if !prefix.eq_ignore_ascii_case(b"OS.unix=") {
        return None;
    }
    let kind = &v[8..];
    let simple = |name: &[u8], c: u8| kind.eq_ignore_ascii_case(name).then_some(c);
    if let Some(c) = simple(b"fifo", b'p')
        .or_else(|| simple(b"socket", b's'))
        .or_else(|| simple(b"door", b'D'))
    {
        return Some(UnixOther {
            type_char: c,
            device: None,
        });
    }
    let head = kind.get(..3)?;
    let type_char = if head.eq_ignore_ascii_case(b"chr") {
        b'c'
    } else if head.eq_ignore_ascii_case(b"blk") {
        b'b'
    } else {
        return None;
    };
    let device = match &kind[3..] {
        [] => None,
        [b'-', nums @ ..] => {
            let slash = nums.iter().position(|&b| b == b'/')?;
            Some((
                parse_digits(&nums[..slash], 9)?,
                parse_digits(&nums[slash + 1..], 9)?,
            ))
        }
        _ => return None,
    };
    Some(UnixOther { type_char, device })
}

/// Whether the line starts with a type letter and nine permission letters.
pub(crate) fn looks_like(l: &[u8]) -> bool {
    match l.get(..10) {
        Some([t, perms @ ..]) => {
            b"-dlcbpsD".contains(t) && perms.iter().all(|b| b"rwxsStTl-".contains(b))
        }
        _ => false,
    }
}

/// Decodes the type letter and the permission bits of a `drwxr-sr-t` column.
fn parse_mode(tok: &[u8]) -> Result<(u8, u32), ListingError> {
    let (t, perms) = match tok {
        [t, perms @ ..] if perms.len() == 9 => (*t, perms),
        // ACL, extended-attribute and SELinux markers after the permissions.
        [t, perms @ .., b'+' | b'@' | b'.'] if perms.len() == 9 => (*t, perms),
        _ => return Err(ListingError::Permissions),
    };
    let mut mode = 0u32;
    for (i, triple) in perms.chunks_exact(3).enumerate() {
        let shift = 6 - 3 * i as u32;
        let special = [0o4000, 0o2000, 0o1000][i];
        match triple[0] {
            b'r' => mode |= 4 << shift,
            b'-' => {}
            _ => return Err(ListingError::Permissions),
        }
        match triple[1] {
            b'w' => mode |= 2 << shift,
            b'-' => {}
            _ => return Err(ListingError::Permissions),
        }
        match (triple[2], i) {
            (b'x', _) => mode |= 1 << shift,
            (b'-', _) => {}
            (b's', 0 | 1) | (b't', 2) => mode |= (1 << shift) | special,
            (b'S', 0 | 1) | (b'T', 2) => mode |= special,
            // Old System V ls: mandatory locking shown as `l` in the group column.
            (b'l', 1) => mode |= special,
            _ => return Err(ListingError::Permissions),
        }
    }
    Ok((t, mode))
}

fn parse_month(tok: &[u8]) -> Option<u8> {
    if tok.len() != 3 {
        return None;
    }
    let i = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(tok))?;
    Some(i as u8 + 1)
}

/// What follows the day column: a time of day or a year.
enum TimeOrYear {
    Time(u8, u8),
    Year(i32),
}

fn parse_time_or_year(tok: &[u8]) -> Option<TimeOrYear> {
    if tok.len() == 4 && tok.iter().all(u8::is_ascii_digit) {
        return Some(TimeOrYear::Year(parse_digits(tok, 4)? as i32));
    }
    let colon = tok.iter().position(|&b| b == b':')?;
    let hour = parse_digits(&tok[..colon], 2)?;
    let rest = &tok[colon + 1..];
    // Minutes, optionally followed by `:SS`, which we drop.
    let minute = parse_digits(rest.get(..2)?, 2)?;
    match &rest[2..] {
        [] => {}
        [b':', s @ ..] if parse_digits(s, 2).is_some_and(|s| s <= 60) => {}
        _ => return None,
    }
    (hour < 24 && minute < 60).then_some(TimeOrYear::Time(hour as u8, minute as u8))
}

/// `YYYY-MM-DD` as printed by `ls --time-style=long-iso`.
fn parse_iso_date(tok: &[u8]) -> Option<(i32, u8, u8)> {
    match tok {
        [y @ .., b'-', m1, m2, b'-', d1, d2] if y.len() == 4 => Some((
            parse_digits(y, 4)? as i32,
            parse_digits(&[*m1, *m2], 2)? as u8,
            parse_digits(&[*d1, *d2], 2)? as u8,
        )),
        _ => None,
    }
}

/// Where the date columns were found, as token indexes, and what they hold.
struct DateAt {
    /// Index of the first date token.
    first: usize,
    /// Index of the last date token (the name follows it).
    last: usize,
    month: u8,
    day: u8,
    year: Option<i32>,
    time: (u8, u8),
}

fn find_date(l: &[u8], t: &[(usize, usize)]) -> Option<DateAt> {
    // The month cannot come first: at least a size precedes it. Prefer a date with the
    // permissions, an owner and a size before it, so that an owner named like a month with a
    // numeric group (`jan 20 4096 Nov 29 09:34`) is not read as the date; fall back to an
    // earlier date for the rare listings without owner columns.
    find_date_from(l, t, 3).or_else(|| find_date_from(l, t, 1))
}

fn find_date_from(l: &[u8], t: &[(usize, usize)], start: usize) -> Option<DateAt> {
    let tok = |i: usize| t.get(i).map(|&(s, e)| &l[s..e]);
    for i in start..t.len() {
        let cur = tok(i)?;
        if let Some((year, month, day)) = parse_iso_date(cur) {
            if let Some(TimeOrYear::Time(h, m)) = tok(i + 1).and_then(parse_time_or_year) {
                return Some(DateAt {
                    first: i,
                    last: i + 1,
                    month,
                    day,
                    year: Some(year),
                    time: (h, m),
                });
            }
        }
        let Some(month) = parse_month(cur) else {
            continue;
        };
        let Some(day) = tok(i + 1).and_then(|d| parse_digits(d, 2)) else {
            continue;
        };
        let Some(toy) = tok(i + 2).and_then(parse_time_or_year) else {
            continue;
        };
        if !(1..=31).contains(&day) {
            continue;
        }
        let (year, time) = match toy {
            TimeOrYear::Year(y) => (Some(y), (0, 0)),
            TimeOrYear::Time(h, m) => (None, (h, m)),
        };
        return Some(DateAt {
            first: i,
            last: i + 2,
            month,
            day: day as u8,
            year,
            time,
        });
    }
    None
}

/// Gives a year-less date the latest year that puts it no more than a day after `now`.
fn resolve_year(month: u8, day: u8, (hour, minute): (u8, u8), now: Timestamp) -> Option<Timestamp> {
    let limit = now.unix_seconds().saturating_add(FUTURE_SLACK_SECS);
    let this_year = now.to_civil().year;
    // Three years cover New Year's Eve slack and 29 February (valid in at most one of them
    // for a recent date, as leap years are four apart).
    (this_year.saturating_sub(1)..=this_year.saturating_add(1))
        .rev()
        .filter_map(|year| {
            Timestamp::from_civil(Civil {
                year,
                month,
                day,
                hour,
                minute,
                second: 0,
            })
        })
        .find(|t| t.unix_seconds() <= limit)
}

/// Parses a line that [`looks_like`] accepted.
pub(crate) fn parse(src: Src<'_>, now: Option<Timestamp>) -> Result<Entry, ListingError> {
    let l = src.line;
    let mut tokens = Tokens::new(l, 0);
    let (ps, pe) = tokens.next().ok_or(ListingError::Permissions)?;
    let (type_char, mode) = parse_mode(&l[ps..pe])?;

    // Links, owner, group (possibly several words), size or device numbers, three date
    // columns and the first word of the name fit in twelve tokens.
    let mut t = [(0usize, 0usize); 12];
    let mut n = 0;
    for (slot, tok) in t.iter_mut().zip(&mut tokens) {
        *slot = tok;
        n += 1;
    }
    let t = &t[..n];
    let date = find_date(l, t).ok_or(ListingError::Date)?;

    // The name starts one space after the last date column, so leading spaces survive.
    let after_date = t[date.last].1;
    if l.get(after_date).is_none() || after_date + 1 >= l.len() {
        return Err(ListingError::MissingName);
    }
    let name_start = after_date + 1;

    let modified = match (date.year, now) {
        (Some(year), _) => Some(
            Timestamp::from_civil(Civil {
                year,
                month: date.month,
                day: date.day,
                hour: date.time.0,
                minute: date.time.1,
                second: 0,
            })
            .ok_or(ListingError::Date)?,
        ),
        (None, Some(now)) => {
            Some(resolve_year(date.month, date.day, date.time, now).ok_or(ListingError::Date)?)
        }
        (None, None) => {
            if date.day > days_in_month(2000, date.month) {
                return Err(ListingError::Date);
            }
            None
        }
    };

    // Size column, or `major, minor` for devices.
    let size_idx = date.first - 1;
    let size_tok = &l[t[size_idx].0..t[size_idx].1];
    let mut device = None;
    let mut fields_end = size_idx;
    let mut size = None;
    if matches!(type_char, b'c' | b'b') {
        let prev = size_idx.checked_sub(1).map(|i| &l[t[i].0..t[i].1]);
        match prev {
            Some([major @ .., b','])
                if parse_digits(major, 9).is_some() && parse_digits(size_tok, 9).is_some() =>
            {
                device = parse_digits(major, 9).zip(parse_digits(size_tok, 9));
                fields_end = size_idx - 1;
            }
            _ => {
                // `4,1` without a space.
                if let Some(comma) = size_tok.iter().position(|&b| b == b',') {
                    device = parse_digits(&size_tok[..comma], 9)
                        .zip(parse_digits(&size_tok[comma + 1..], 9));
                }
            }
        }
        if device.is_none() {
            size = parse_grouped_u64(size_tok);
        }
    } else {
        size = Some(parse_grouped_u64(size_tok).ok_or(ListingError::Size)?);
    }

    // What lies between the permissions and the size: [links] owner [group words...].
    let fields = &t[..fields_end];
    let mut idx = 0;
    let mut links = None;
    if fields.len() >= 2 {
        if let Some(&(s, e)) = fields.first() {
            if let Some(n) = parse_grouped_u64(&l[s..e]) {
                links = Some(n);
                idx = 1;
            }
        }
    }
    let owner = fields.get(idx).map(|&(s, e)| src.take(s, e));
    let group = match (fields.get(idx + 1), fields.last()) {
        (Some(&(s, _)), Some(&(_, e))) => Some(src.take(s, e)),
        _ => None,
    };

    let name_bytes = &l[name_start..];
    let kind = match type_char {
        b'-' => EntryKind::File,
        b'd' if name_bytes == b"." => EntryKind::CurrentDir,
        b'd' if name_bytes == b".." => EntryKind::ParentDir,
        b'd' => EntryKind::Dir,
        b'l' => EntryKind::Symlink { target: None },
        b'c' | b'b' => {
            let kind = if type_char == b'c' { "chr" } else { "blk" };
            EntryKind::Other(match device {
                Some((major, minor)) => Bytes::from(format!("OS.unix={kind}-{major}/{minor}")),
                None if type_char == b'c' => Bytes::from_static(b"OS.unix=chr"),
                None => Bytes::from_static(b"OS.unix=blk"),
            })
        }
        b'p' => EntryKind::Other(Bytes::from_static(b"OS.unix=fifo")),
        b's' => EntryKind::Other(Bytes::from_static(b"OS.unix=socket")),
        _ => EntryKind::Other(Bytes::from_static(b"OS.unix=door")),
    };
    let (name, kind) = match kind {
        EntryKind::Symlink { .. } => match find_arrow(name_bytes) {
            Some(at) => (
                src.take(name_start, name_start + at),
                EntryKind::Symlink {
                    target: Some(src.take(name_start + at + 4, l.len())),
                },
            ),
            None => (
                src.take(name_start, l.len()),
                EntryKind::Symlink { target: None },
            ),
        },
        kind => (src.take(name_start, l.len()), kind),
    };
    if name.is_empty() {
        return Err(ListingError::MissingName);
    }
    Ok(Entry {
        size,
        modified,
        permissions: Some(mode),
        owner,
        group,
        links,
        ..Entry::new(name, kind)
    })
}

fn find_arrow(name: &[u8]) -> Option<usize> {
    name.windows(4).position(|w| w == b" -> ")
}

#[cfg(test)]
mod tests {
    use super::super::parse_list_line;
    use super::*;

    fn ts(year: i32, month: u8, day: u8, hour: u8, minute: u8) -> Timestamp {
        Timestamp::from_civil(Civil {
            year,
            month,
            day,
            hour,
            minute,
            second: 0,
        })
        .unwrap()
    }

    fn now() -> Timestamp {
        ts(2024, 3, 10, 12, 0)
    }

    /// One row: the line as it appears on the wire, whether our formatter produces exactly that
    /// line from the entry (then the row is checked both ways), and the entry.
    struct Row {
        line: &'static [u8],
        ours: bool,
        entry: Entry,
    }

    fn rows() -> Vec<Row> {
        let file = |name: &'static [u8]| Entry::new(Bytes::from_static(name), EntryKind::File);
        let dir = |name: &'static [u8]| Entry::new(Bytes::from_static(name), EntryKind::Dir);
        vec![
            // Our own output: recent date, then old date, symlink, setuid/sticky, devices.
            Row {
                line: b"drwxr-xr-x    2 owner    group        4096 Nov 29 09:34 name\r\n",
                ours: true,
                entry: dir(b"name")
                    .with_permissions(0o755)
                    .with_links(2)
                    .with_owner("owner")
                    .with_group("group")
                    .with_size(4096)
                    .with_modified(ts(2023, 11, 29, 9, 34)),
            },
            Row {
                line: b"-rw-r--r--    1 ftp      ftp      18446744073709551615 Jan  5  2021 big file.iso\r\n",
                ours: true,
                entry: file(b"big file.iso")
                    .with_permissions(0o644)
                    .with_links(1)
                    .with_owner("ftp")
                    .with_group("ftp")
                    .with_size(u64::MAX)
                    .with_modified(ts(2021, 1, 5, 0, 0)),
            },
            Row {
                line: b"lrwxrwxrwx    1 root     root            7 Mar 09 23:59 lib -> usr/lib\r\n",
                ours: false,
                entry: Entry::new("lib", EntryKind::Symlink { target: Some(Bytes::from_static(b"usr/lib")) })
                    .with_permissions(0o777)
                    .with_links(1)
                    .with_owner("root")
                    .with_group("root")
                    .with_size(7)
                    .with_modified(ts(2024, 3, 9, 23, 59)),
            },
            Row {
                line: b"lrwxrwxrwx    1 root     root            7 Mar  9 23:59 lib -> usr/lib\r\n",
                ours: true,
                entry: Entry::new("lib", EntryKind::Symlink { target: Some(Bytes::from_static(b"usr/lib")) })
                    .with_permissions(0o777)
                    .with_links(1)
                    .with_owner("root")
                    .with_group("root")
                    .with_size(7)
                    .with_modified(ts(2024, 3, 9, 23, 59)),
            },
            Row {
                line: b"-rwsr-sr-t    3 0        0            123 Mar 11 11:00  leading space\r\n",
                ours: false,
                entry: file(b" leading space")
                    .with_permissions(0o7755)
                    .with_links(3)
                    .with_owner("0")
                    .with_group("0")
                    .with_size(123)
                    // A day in the future is clock slack: still this year.
                    .with_modified(ts(2024, 3, 11, 11, 0)),
            },
            Row {
                line: b"-rwSr-S--T    3 0        0             123 Mar 10  2024  leading space\r\n",
                ours: true,
                entry: file(b" leading space")
                    .with_permissions(0o7640)
                    .with_links(3)
                    .with_owner("0")
                    .with_group("0")
                    .with_size(123)
                    .with_modified(ts(2024, 3, 10, 12, 1)),
            },
            Row {
                line: b"crw-rw----    1 root     tty          4, 1 Jan  1  1970 tty1\r\n",
                ours: true,
                entry: Entry::new("tty1", EntryKind::Other(Bytes::from_static(b"OS.unix=chr-4/1")))
                    .with_permissions(0o660)
                    .with_links(1)
                    .with_owner("root")
                    .with_group("tty")
                    .with_modified(Timestamp::UNIX_EPOCH),
            },
            Row {
                line: b"drwxr-xr-x    2 ftp      ftp             0 Jan  1  1970 ..\r\n",
                ours: false,
                entry: Entry::new("..", EntryKind::ParentDir)
                    .with_permissions(0o755)
                    .with_links(2)
                    .with_owner("ftp")
                    .with_group("ftp")
                    .with_size(0)
                    .with_modified(ts(1970, 1, 1, 0, 0)),
            },
            // vsftpd: numeric ids by default, zero-padded day.
            Row {
                line: b"-rw-r--r--    1 0        0         1048576 Mar 05 10:15 data.bin\r\n",
                ours: false,
                entry: file(b"data.bin")
                    .with_permissions(0o644)
                    .with_links(1)
                    .with_owner("0")
                    .with_group("0")
                    .with_size(1_048_576)
                    .with_modified(ts(2024, 3, 5, 10, 15)),
            },
            // proftpd: name columns wider, year form; UTF-8 name.
            Row {
                line: "-rw-r--r--   1 alice    staff        2048 Dec 24  2019 réveillon été.txt\r\n".as_bytes(),
                ours: false,
                entry: Entry::new(
                    Bytes::from("réveillon été.txt".as_bytes()),
                    EntryKind::File,
                )
                .with_permissions(0o644)
                .with_links(1)
                .with_owner("alice")
                .with_group("staff")
                .with_size(2048)
                .with_modified(ts(2019, 12, 24, 0, 0)),
            },
            // pure-ftpd: ACL marker, recent date that must go to the previous year.
            Row {
                line: b"drwxr-xr-x+   4 1000     1000         4096 Dec 31 23:00 backups\n",
                ours: false,
                entry: dir(b"backups")
                    .with_permissions(0o755)
                    .with_links(4)
                    .with_owner("1000")
                    .with_group("1000")
                    .with_size(4096)
                    .with_modified(ts(2023, 12, 31, 23, 0)),
            },
            // No link count, no group (some embedded servers).
            Row {
                line: b"-rw-------   user 1,234,567 Feb 29 08:00 leap",
                ours: false,
                entry: file(b"leap")
                    .with_permissions(0o600)
                    .with_owner("user")
                    .with_size(1_234_567)
                    .with_modified(ts(2024, 2, 29, 8, 0)),
            },
            // Windows servers faking ls, with a group of two words.
            Row {
                line: b"-rwxrwxrwx 1 owner Domain Users 10 Feb  1 07:00 x",
                ours: false,
                entry: file(b"x")
                    .with_permissions(0o777)
                    .with_links(1)
                    .with_owner("owner")
                    .with_group("Domain Users")
                    .with_size(10)
                    .with_modified(ts(2024, 2, 1, 7, 0)),
            },
            // ls --time-style=long-iso.
            Row {
                line: b"-rw-r--r-- 1 u g 10 2022-07-04 18:30 fireworks",
                ours: false,
                entry: file(b"fireworks")
                    .with_permissions(0o644)
                    .with_links(1)
                    .with_owner("u")
                    .with_group("g")
                    .with_size(10)
                    .with_modified(ts(2022, 7, 4, 18, 30)),
            },
            Row {
                line: b"prw-r--r--    1 u        g               0 Jan  1  1990 pipe\r\n",
                ours: true,
                entry: Entry::new("pipe", EntryKind::Other(Bytes::from_static(b"OS.unix=fifo")))
                    .with_permissions(0o644)
                    .with_links(1)
                    .with_owner("u")
                    .with_group("g")
                    .with_size(0)
                    .with_modified(ts(1990, 1, 1, 0, 0)),
            },
        ]
    }

    #[test]
    fn vectors_both_ways() {
        for row in rows() {
            let text = String::from_utf8_lossy(row.line);
            let parsed = parse_list_line(row.line, Some(now())).unwrap().unwrap();
            let mut want = row.entry.clone();
            if row.ours {
                let mut out = BytesMut::new();
                format_list_line(&row.entry, now(), &mut out).unwrap();
                assert_eq!(String::from_utf8_lossy(&out), text, "format");
                // The old-date form drops the time of day; fix the expectation accordingly.
                if let Some(t) = want.modified {
                    let c = t.to_civil();
                    let age = now().unix_seconds() - t.unix_seconds();
                    if !(0..=RECENT_SECS).contains(&age) {
                        want.modified = Some(ts(c.year, c.month, c.day, 0, 0));
                    }
                }
            }
            assert_eq!(parsed, want, "parse {text}");
            // Trailing bytes: the parser reads the name to the end of the line, so extra bytes
            // become part of the name (or the link target).
            let mut longer = strip(row.line).to_vec();
            longer.extend_from_slice(b"~");
            let p = parse_list_line(&longer, Some(now())).unwrap().unwrap();
            let end = match &p.kind {
                EntryKind::Symlink { target: Some(t) } => t.clone(),
                _ => p.name.clone(),
            };
            assert_eq!(end.last(), Some(&b'~'), "{text}");
        }
    }

    fn strip(l: &[u8]) -> &[u8] {
        super::super::strip_eol(l)
    }

    #[test]
    fn time_of_day_without_now_leaves_date_empty() {
        let e = parse_list_line(b"-rw-r--r-- 1 a b 5 Jan  5 12:34 f", None)
            .unwrap()
            .unwrap();
        assert_eq!(e.modified, None);
        assert_eq!(e.size, Some(5));
        let e = parse_list_line(b"-rw-r--r-- 1 a b 5 Jan  5  2001 f", None)
            .unwrap()
            .unwrap();
        assert_eq!(e.modified, Some(ts(2001, 1, 5, 0, 0)));
    }

    #[test]
    fn rejects() {
        for (line, err) in [
            (
                &b"-rw-r--r-- 1 a b 5 Jan  5 12:34"[..],
                ListingError::MissingName,
            ),
            (
                b"-rw-r--r-- 1 a b 5 Jan  5 12:34 ",
                ListingError::MissingName,
            ),
            (b"-rw-r--r-- 1 a b 5 Feb 30  2001 f", ListingError::Date),
            (b"-rw-r--r-- 1 a b 5 Feb 30 10:00 f", ListingError::Date),
            (b"-rw-r--r-- 1 a b 5 Jan 32 10:00 f", ListingError::Date),
            (b"-rw-r--r-- 1 a b 5 Jan  5 24:00 f", ListingError::Date),
            (b"-rw-r--r-- 1 a b x5 Jan  5 10:00 f", ListingError::Size),
            (
                b"-rw-r--r-- 1 a b 18446744073709551616 Jan  5 10:00 f",
                ListingError::Size,
            ),
            (
                b"-rw-r--r--x 1 a b 5 Jan  5 10:00 f",
                ListingError::Permissions,
            ),
            (
                b"-rwtrwxrwx 1 a b 5 Jan  5 10:00 f",
                ListingError::Permissions,
            ),
        ] {
            assert_eq!(
                parse_list_line(line, Some(now())),
                Err(err),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn refuses_names_that_would_break_the_listing() {
        let mut out = BytesMut::new();
        for name in [&b""[..], b"a\r\nb", b"a\nb", b"a\r"] {
            let e = Entry::new(Bytes::copy_from_slice(name), EntryKind::File);
            assert_eq!(
                format_list_line(&e, now(), &mut out),
                Err(ListingError::UnlistableName)
            );
            assert_eq!(
                format_nlst_line(&e, &mut out),
                Err(ListingError::UnlistableName)
            );
        }
        assert!(out.is_empty());
        assert_eq!(ListingError::UnlistableName.reply_code(), 451);
    }

    #[test]
    fn nlst_lines() {
        let mut out = BytesMut::new();
        format_nlst_line(&Entry::new("a b", EntryKind::File), &mut out).unwrap();
        format_nlst_line(
            &Entry::new(Bytes::from_static(b"\xff\xfe"), EntryKind::Dir),
            &mut out,
        )
        .unwrap();
        assert_eq!(&out[..], b"a b\r\n\xff\xfe\r\n");
    }

    #[test]
    fn odd_owner_bytes_keep_columns() {
        let e = Entry::new("f", EntryKind::File)
            .with_owner("a b")
            .with_group("");
        let mut out = BytesMut::new();
        format_list_line(&e, now(), &mut out).unwrap();
        assert_eq!(
            &out[..],
            b"-rw-r--r--    1 a_b      ftp             0 Jan  1  1970 f\r\n"
        );
        let back = parse_list_line(&out, Some(now())).unwrap().unwrap();
        assert_eq!(back.owner.as_deref(), Some(&b"a_b"[..]));
    }

    #[test]
    fn owner_named_like_a_month_is_not_the_date() {
        let e = parse_list_line(b"drwxr-xr-x 2 jan 20 4096 Nov 29 09:34 pub", None)
            .unwrap()
            .unwrap();
        assert_eq!(&e.name[..], b"pub");
        assert_eq!(e.owner.as_deref(), Some(&b"jan"[..]));
        assert_eq!(e.group.as_deref(), Some(&b"20"[..]));
        assert_eq!(e.size, Some(4096));
    }

    #[test]
    fn device_line_keeps_a_group_ending_in_a_comma() {
        let e = parse_list_line(b"crw-rw-rw- 1 root staff, 0 Feb  2  2020 n", None)
            .unwrap()
            .unwrap();
        assert_eq!(e.group.as_deref(), Some(&b"staff,"[..]));
        assert_eq!(e.size, Some(0));
        let e = parse_list_line(b"crw-rw-rw- 1 root tty 4, 1 Feb  2  2020 tty1", None)
            .unwrap()
            .unwrap();
        assert_eq!(e.group.as_deref(), Some(&b"tty"[..]));
        assert_eq!(
            e.kind,
            EntryKind::Other(Bytes::from_static(b"OS.unix=chr-4/1"))
        );
    }
}
