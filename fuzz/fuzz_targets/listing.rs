//! Listing parsers and formatters: LIST (Unix `ls -l`, DOS/IIS), MLSD/MLST lines, and the
//! fact lists of `OPTS MLST` and the FEAT `MLST` line.
//!
//! The input is one listing line. Invariants:
//! - the copying and the zero-copy (`*_shared`) parsers agree;
//! - a LIST entry the parser returns is formattable unless its name holds CR or LF, and
//!   formatting then parsing gives back the same entry up to what `ls -l` cannot carry (the
//!   formatter's documented defaults, `_` for blanks in owner and group, the time of day of an
//!   old date); a second round trip is exact;
//! - a parsed entry gives the same name, kind, size, permissions, owner, group and links
//!   whatever `now` is;
//! - an MLSx entry re-formatted with every fact parses back to exactly the entry, minus the
//!   unknown facts and the values a fact cannot carry; with a smaller fact set, to that entry
//!   with the other facts cleared; MLST lines likewise;
//! - `OPTS MLST` and FEAT fact lists round-trip through their formatters.
#![no_main]

use bytes::{Bytes, BytesMut};
use ftp_proto::listing::{self, Entry, EntryKind, Fact, FactSet, ListingError, MAX_EXTRA_FACTS};
use ftp_proto::time::{Civil, Timestamp};
use libfuzzer_sys::fuzz_target;

/// How far back the LIST formatter still prints a time of day (its documented 182 days).
const RECENT_SECS: i64 = 182 * 86_400;

fn civil(year: i32, month: u8, day: u8, hour: u8, minute: u8) -> Timestamp {
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

fuzz_target!(|data: &[u8]| {
    // A plain day, and a leap day just after New Year's slack matters least.
    let nows = [civil(2023, 11, 14, 22, 13), civil(2024, 2, 29, 12, 0)];
    let shared = Bytes::copy_from_slice(data);

    let mut parsed = Vec::new();
    for now in nows {
        let r = listing::parse_list_line(data, Some(now));
        assert_eq!(listing::parse_list_line_shared(&shared, Some(now)), r);
        if let Ok(Some(e)) = &r {
            check_list_entry(e, now);
        }
        parsed.push(r);
    }
    let no_now = listing::parse_list_line(data, None);
    if let Ok(Some(e)) = &no_now {
        check_list_entry(e, nows[0]);
    }
    parsed.push(no_now);
    let entries: Vec<&Entry> = parsed
        .iter()
        .filter_map(|r| r.as_ref().ok()?.as_ref())
        .collect();
    for pair in entries.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        assert_eq!(a.name, b.name);
        assert_eq!(a.kind, b.kind);
        assert_eq!(a.size, b.size);
        assert_eq!(a.permissions, b.permissions);
        assert_eq!((&a.owner, &a.group, a.links), (&b.owner, &b.group, b.links));
    }
    for r in &parsed {
        match r {
            Ok(None) => assert!(parsed.iter().all(|r| matches!(r, Ok(None)))),
            Err(e) => assert_eq!(e.reply_code(), 501),
            Ok(Some(_)) => {}
        }
    }

    let m = listing::parse_mlsx_line(data);
    assert_eq!(listing::parse_mlsx_line_shared(&shared), m);
    match &m {
        Ok(e) => check_mlsx_entry(e),
        Err(e) => assert!(matches!(e, ListingError::Fact | ListingError::TooManyFacts)),
    }
    if let Ok(e) = listing::parse_mlst_line(data) {
        check_mlsx_entry(&e);
    }

    match FactSet::parse_opts(data, FactSet::ALL) {
        Ok(set) => {
            let mut out = BytesMut::new();
            set.format_opts(&mut out);
            assert_eq!(FactSet::parse_opts(&out, FactSet::ALL), Ok(set));
            let some = FactSet::DEFAULT.without(Fact::Perm);
            assert_eq!(FactSet::parse_opts(data, some), Ok(set.intersection(some)));
        }
        Err(e) => assert_eq!(e, ListingError::FactList),
    }
    let (supported, enabled) = FactSet::parse_feat(data);
    let mut out = BytesMut::new();
    enabled.format_feat(supported, &mut out);
    assert_eq!(
        FactSet::parse_feat(&out),
        (supported, enabled.intersection(supported))
    );
});

fn has_line_break(b: &[u8]) -> bool {
    b.iter().any(|&c| c == b'\r' || c == b'\n')
}

/// The `OS.unix=chr-M/N` / `blk-M/N` kinds, which show device numbers instead of a size.
fn is_device(kind: &EntryKind) -> bool {
    match kind {
        EntryKind::Other(v) => {
            let v = v.to_ascii_lowercase();
            (v.starts_with(b"os.unix=chr-") || v.starts_with(b"os.unix=blk-")) && v.contains(&b'/')
        }
        _ => false,
    }
}

/// Known ftp-proto issue (reported, see fuzz/README.md): a `c`/`b` entry without device numbers
/// whose group is digits and a comma (`1,`) is formatted as `... 1,        0 ...`, which reads
/// back as device `1, 0` with no group. The format cannot tell them apart; skip such entries.
fn group_reads_as_major(e: &Entry) -> bool {
    let char_or_block = match &e.kind {
        EntryKind::Other(v) => {
            let v = v.to_ascii_lowercase();
            v.starts_with(b"os.unix=chr") || v.starts_with(b"os.unix=blk")
        }
        _ => false,
    };
    let group = column(&e.group);
    let major = match group.strip_suffix(b",") {
        Some(m) => (1..=9).contains(&m.len()) && m.iter().all(u8::is_ascii_digit),
        None => false,
    };
    char_or_block && !is_device(&e.kind) && major
}

/// An owner or group column as the LIST formatter prints it.
fn column(v: &Option<Bytes>) -> Bytes {
    match v {
        Some(v) if !v.is_empty() => v
            .iter()
            .map(|&b| if b <= b' ' || b == 0x7f { b'_' } else { b })
            .collect::<Vec<u8>>()
            .into(),
        _ => Bytes::from_static(b"ftp"),
    }
}

/// What parsing our own LIST line for `e` must give.
fn list_expectation(e: &Entry, now: Timestamp) -> Entry {
    let mut x = e.clone();
    x.kind = match &e.kind {
        EntryKind::Symlink { target: Some(t) } if has_line_break(t) => {
            EntryKind::Symlink { target: None }
        }
        k => k.clone(),
    };
    x.size = if is_device(&e.kind) {
        None
    } else {
        Some(e.size.unwrap_or(0))
    };
    let default_mode = match &e.kind {
        k if k.is_dir() => 0o755,
        EntryKind::Symlink { .. } => 0o777,
        _ => 0o644,
    };
    x.permissions = Some(e.permissions.unwrap_or(default_mode));
    x.owner = Some(column(&e.owner));
    x.group = Some(column(&e.group));
    x.links = Some(e.links.unwrap_or(1));
    let t = e.modified.unwrap_or(Timestamp::UNIX_EPOCH);
    let c = t.to_civil();
    let age = now.unix_seconds() - t.unix_seconds();
    x.modified = Some(if (0..=RECENT_SECS).contains(&age) {
        civil(c.year, c.month, c.day, c.hour, c.minute)
    } else {
        civil(c.year, c.month, c.day, 0, 0)
    });
    x
}

fn check_list_entry(e: &Entry, now: Timestamp) {
    assert!(!e.name.is_empty());
    assert!(e.created.is_none() && e.unique.is_none() && e.perm.is_none());
    assert!(e.extra.is_empty());
    if let Some(p) = e.permissions {
        assert!(p <= 0o7777);
    }
    let mut nlst = BytesMut::new();
    let mut out = BytesMut::new();
    match listing::format_list_line(e, now, &mut out) {
        Ok(()) => {
            assert!(!has_line_break(&e.name));
            listing::format_nlst_line(e, &mut nlst).expect("NLST takes what LIST takes");
            assert_eq!(&nlst[..], &[&e.name[..], b"\r\n"].concat()[..]);
        }
        Err(err) => {
            assert_eq!(err, ListingError::UnlistableName);
            assert!(has_line_break(&e.name));
            assert!(out.is_empty());
            return;
        }
    }
    assert!(out.ends_with(b"\r\n"));
    if group_reads_as_major(e) {
        return;
    }
    let back = listing::parse_list_line(&out, Some(now))
        .unwrap_or_else(|err| panic!("our LIST line {out:?} does not parse: {err:?}"))
        .expect("our LIST line is an entry");
    assert_eq!(back, list_expectation(e, now), "LIST round trip of {out:?}");
    // The second round trip is exact: `back` holds only what a LIST line carries. (The line
    // itself may change once: a date just ahead of `now` prints with its year, and midnight
    // of that day may then fall in the time-of-day window.)
    let mut again = BytesMut::new();
    listing::format_list_line(&back, now, &mut again).expect("formats twice");
    let back2 = listing::parse_list_line(&again, Some(now));
    assert_eq!(back2, Ok(Some(back)), "second LIST round trip of {again:?}");
}

fn safe_value(v: &[u8]) -> bool {
    !v.iter().any(|&b| b <= b' ' || b == b';' || b == 0x7f)
}

/// What parsing our own MLSx line for `e` with `facts` must give.
fn mlsx_expectation(e: &Entry, facts: FactSet) -> Entry {
    let keep = |f: Fact| facts.contains(f);
    let safe = |v: &Option<Bytes>, f: Fact| v.clone().filter(|v| keep(f) && safe_value(v));
    let mut x = Entry::new(e.name.clone(), EntryKind::Unknown);
    if keep(Fact::Type) {
        x.kind = match &e.kind {
            EntryKind::Symlink { target: Some(t) } if !safe_value(t) => {
                EntryKind::Symlink { target: None }
            }
            EntryKind::Other(v) if v.is_empty() || !safe_value(v) => EntryKind::Unknown,
            k => k.clone(),
        };
    }
    x.size = e.size.filter(|_| keep(Fact::Size));
    x.modified = e.modified.filter(|_| keep(Fact::Modify));
    x.created = e.created.filter(|_| keep(Fact::Create));
    x.perm = safe(&e.perm, Fact::Perm);
    x.unique = safe(&e.unique, Fact::Unique);
    x.permissions = e.permissions.filter(|_| keep(Fact::UnixMode));
    x.owner = safe(&e.owner, Fact::UnixOwnerName);
    x.group = safe(&e.group, Fact::UnixGroupName);
    x.links = e.links.filter(|_| keep(Fact::UnixNlink));
    x
}

fn check_mlsx_entry(e: &Entry) {
    assert!(e.extra.len() <= MAX_EXTRA_FACTS);
    if let Some(p) = e.permissions {
        assert!(p <= 0o7777);
    }
    let sets = [
        FactSet::ALL,
        FactSet::DEFAULT,
        FactSet::EMPTY.with(Fact::Type).with(Fact::UnixOwnerName),
    ];
    for facts in sets {
        let mut out = BytesMut::new();
        match listing::format_mlsx_line(e, facts, &mut out) {
            Ok(()) => assert!(!has_line_break(&e.name)),
            Err(err) => {
                assert_eq!(err, ListingError::UnlistableName);
                assert!(has_line_break(&e.name));
                assert!(out.is_empty());
                return;
            }
        }
        let want = mlsx_expectation(e, facts);
        let back = listing::parse_mlsx_line(&out)
            .unwrap_or_else(|err| panic!("our MLSD line {out:?} does not parse: {err:?}"));
        assert_eq!(back, want, "MLSD round trip of {out:?}");

        let mut mlst = BytesMut::new();
        listing::format_mlst_line(e, facts, &mut mlst).expect("MLST takes what MLSD takes");
        assert_eq!(&mlst[1..], &out[..]);
        let back = listing::parse_mlst_line(&mlst)
            .unwrap_or_else(|err| panic!("our MLST line {mlst:?} does not parse: {err:?}"));
        assert_eq!(back, want, "MLST round trip of {mlst:?}");
    }
}
