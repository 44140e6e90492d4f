//! Property tests for listing lines: format then parse gives the entry back, and the parsers
//! never panic on arbitrary bytes.

use bytes::{Bytes, BytesMut};
use ftp_proto::listing::{
    format_list_line, format_mlst_line, format_mlsx_line, format_nlst_line, parse_list_line,
    parse_list_line_shared, parse_mlst_line, parse_mlsx_line, Entry, EntryKind, Fact, FactSet,
};
use ftp_proto::time::Timestamp;
use proptest::prelude::*;

/// Seconds from 0000-01-01 to 9999-12-31T23:59:59, the range a [`Timestamp`] can hold.
const MIN_SECS: i64 = -62_167_219_200;
const MAX_SECS: i64 = 253_402_300_799;
const RECENT_SECS: i64 = 182 * 86_400;

fn timestamp() -> impl Strategy<Value = Timestamp> {
    (MIN_SECS..=MAX_SECS, 0u32..1_000_000_000)
        .prop_map(|(s, n)| Timestamp::from_unix(s, n).expect("in range"))
}

/// Names as LIST can carry them back: no CR/LF, no `>` (so no ` -> ` inside), not `.`/`..`,
/// with spaces (leading and trailing too) and UTF-8.
fn list_name() -> impl Strategy<Value = Bytes> {
    "[ a-zA-Z0-9._,;=()\\[\\]-éü漢字🦀]{1,24}"
        .prop_filter("dot names are read as cdir/pdir", |s| s != "." && s != "..")
        .prop_map(Bytes::from)
}

/// Owner and group names: tokens as ls prints them.
fn column() -> impl Strategy<Value = Bytes> {
    "[a-z_][a-z0-9_-]{0,11}".prop_map(Bytes::from)
}

/// Bytes an MLSx fact value can hold (no blanks, no `;`, no control bytes), UTF-8 included.
fn fact_value() -> impl Strategy<Value = Bytes> {
    "[!-:<-~é漢]{0,12}".prop_map(Bytes::from)
}

fn list_kind() -> impl Strategy<Value = EntryKind> {
    prop_oneof![
        Just(EntryKind::File),
        Just(EntryKind::Dir),
        "[ a-zA-Z0-9/._>-]{1,20}".prop_map(|t| EntryKind::Symlink {
            target: Some(Bytes::from(t))
        }),
        Just(EntryKind::Symlink { target: None }),
    ]
}

fn list_entry() -> impl Strategy<Value = Entry> {
    (
        list_name(),
        list_kind(),
        any::<u64>(),
        0u32..=0o7777,
        timestamp(),
        proptest::option::of(column()),
        proptest::option::of(column()),
        proptest::option::of(0u64..100_000),
    )
        .prop_map(|(name, kind, size, mode, t, owner, group, links)| {
            let mut e = Entry::new(name, kind)
                .with_size(size)
                .with_permissions(mode)
                .with_modified(t);
            e.owner = owner;
            e.group = group;
            e.links = links;
            e
        })
}

/// A `now` near the entry's time half of the time, so both date forms get exercised.
fn list_case() -> impl Strategy<Value = (Entry, Timestamp)> {
    (
        list_entry(),
        any::<bool>(),
        0i64..=2 * RECENT_SECS,
        timestamp(),
    )
        .prop_map(|(e, near, back, far)| {
            let t = e.modified.expect("set above");
            let now = if near {
                Timestamp::from_unix((t.unix_seconds() + back - RECENT_SECS / 4).min(MAX_SECS), 0)
                    .expect("in range")
            } else {
                far
            };
            (e, now)
        })
}

fn mlsx_kind() -> impl Strategy<Value = EntryKind> {
    prop_oneof![
        Just(EntryKind::File),
        Just(EntryKind::Dir),
        Just(EntryKind::CurrentDir),
        Just(EntryKind::ParentDir),
        Just(EntryKind::Unknown),
        Just(EntryKind::Symlink { target: None }),
        fact_value().prop_map(|t| EntryKind::Symlink { target: Some(t) }),
        (0u32..300, 0u32..300, prop_oneof![Just("chr"), Just("blk")]).prop_map(|(a, b, k)| {
            EntryKind::Other(Bytes::from(format!("OS.unix={k}-{a}/{b}")))
        }),
        Just(EntryKind::Other(Bytes::from_static(b"OS.unix=fifo"))),
        Just(EntryKind::Other(Bytes::from_static(b"X.weird=thing"))),
    ]
}

fn mlsx_entry() -> impl Strategy<Value = Entry> {
    use proptest::option::of;
    (
        // Any bytes but CR and LF, empty allowed.
        proptest::collection::vec(
            any::<u8>().prop_filter("no CR/LF", |b| *b != b'\r' && *b != b'\n'),
            0..24,
        ),
        mlsx_kind(),
        (
            of(any::<u64>()),
            of(timestamp()),
            of(timestamp()),
            of(0u32..=0o7777),
        ),
        (
            of(fact_value()),
            of(fact_value()),
            of(fact_value()),
            of(fact_value()),
        ),
        of(any::<u64>()),
    )
        .prop_map(
            |(
                name,
                kind,
                (size, modified, created, permissions),
                (owner, group, unique, perm),
                links,
            )| {
                let mut e = Entry::new(name, kind);
                e.size = size;
                e.modified = modified;
                e.created = created;
                e.permissions = permissions;
                e.owner = owner;
                e.group = group;
                e.unique = unique;
                e.perm = perm;
                e.links = links;
                e
            },
        )
}

fn fact_set() -> impl Strategy<Value = FactSet> {
    proptest::collection::vec(any::<bool>(), Fact::ALL.len()).prop_map(|bits| {
        Fact::ALL
            .into_iter()
            .zip(bits)
            .filter(|(_, on)| *on)
            .fold(FactSet::EMPTY, |s, (f, _)| s.with(f))
    })
}

/// What an MLSx line written with `facts` can carry of `e`.
fn visible(e: &Entry, facts: FactSet) -> Entry {
    let mut v = e.clone();
    let keep = |f: Fact| facts.contains(f);
    if !keep(Fact::Type) {
        v.kind = EntryKind::Unknown;
    }
    if !keep(Fact::Size) {
        v.size = None;
    }
    if !keep(Fact::Modify) {
        v.modified = None;
    }
    if !keep(Fact::Create) {
        v.created = None;
    }
    if !keep(Fact::Perm) {
        v.perm = None;
    }
    if !keep(Fact::Unique) {
        v.unique = None;
    }
    if !keep(Fact::UnixMode) {
        v.permissions = None;
    }
    if !keep(Fact::UnixOwnerName) {
        v.owner = None;
    }
    if !keep(Fact::UnixGroupName) {
        v.group = None;
    }
    if !keep(Fact::UnixNlink) {
        v.links = None;
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn list_round_trip((e, now) in list_case()) {
        let mut out = BytesMut::new();
        format_list_line(&e, now, &mut out).unwrap();
        prop_assert!(out.ends_with(b"\r\n"));
        prop_assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
        let p = parse_list_line(&out, Some(now)).unwrap().unwrap();
        prop_assert_eq!(&p.name, &e.name);
        prop_assert_eq!(&p.kind, &e.kind);
        prop_assert_eq!(p.size, e.size);
        prop_assert_eq!(p.permissions, e.permissions);
        prop_assert_eq!(p.links, Some(e.links.unwrap_or(1)));
        prop_assert_eq!(p.owner.clone().unwrap(), e.owner.clone().unwrap_or(Bytes::from_static(b"ftp")));
        prop_assert_eq!(p.group.clone().unwrap(), e.group.clone().unwrap_or(Bytes::from_static(b"ftp")));
        let want = e.modified.unwrap().to_civil();
        let got = p.modified.unwrap().to_civil();
        prop_assert_eq!((got.year, got.month, got.day), (want.year, want.month, want.day));
        let age = now.unix_seconds() - e.modified.unwrap().unix_seconds();
        if (0..=RECENT_SECS).contains(&age) {
            prop_assert_eq!((got.hour, got.minute), (want.hour, want.minute));
        } else {
            prop_assert_eq!((got.hour, got.minute), (0, 0));
        }
        // The zero-copy variant agrees.
        let shared = out.freeze();
        prop_assert_eq!(parse_list_line_shared(&shared, Some(now)).unwrap().unwrap(), p);
    }

    #[test]
    fn nlst_round_trip(name in list_name()) {
        let mut out = BytesMut::new();
        format_nlst_line(&Entry::new(name.clone(), EntryKind::File), &mut out).unwrap();
        prop_assert_eq!(&out[..out.len() - 2], &name[..]);
        prop_assert!(out.ends_with(b"\r\n"));
    }

    #[test]
    fn mlsx_round_trip(e in mlsx_entry(), facts in fact_set()) {
        let want = visible(&e, facts);
        let mut out = BytesMut::new();
        format_mlsx_line(&e, facts, &mut out).unwrap();
        prop_assert_eq!(parse_mlsx_line(&out).unwrap(), want.clone());
        let mut out = BytesMut::new();
        format_mlst_line(&e, facts, &mut out).unwrap();
        prop_assert_eq!(out[0], b' ');
        prop_assert_eq!(parse_mlst_line(&out).unwrap(), want);
    }

    #[test]
    fn mlsx_all_facts_exact(e in mlsx_entry()) {
        let mut out = BytesMut::new();
        format_mlsx_line(&e, FactSet::ALL, &mut out).unwrap();
        prop_assert_eq!(parse_mlsx_line(&out).unwrap(), e);
    }

    #[test]
    fn fact_set_round_trips(enabled in fact_set(), supported in fact_set()) {
        let mut out = BytesMut::new();
        enabled.format_opts(&mut out);
        prop_assert_eq!(FactSet::parse_opts(&out, FactSet::ALL), Ok(enabled));
        prop_assert_eq!(FactSet::parse_opts(&out, supported), Ok(enabled.intersection(supported)));
        let mut out = BytesMut::new();
        enabled.format_feat(supported, &mut out);
        prop_assert_eq!(FactSet::parse_feat(&out), (supported, enabled.intersection(supported)));
    }

    #[test]
    fn parsers_never_panic(line in proptest::collection::vec(any::<u8>(), 0..200), now in proptest::option::of(timestamp())) {
        let _ = parse_list_line(&line, now);
        let _ = parse_mlsx_line(&line);
        let _ = parse_mlst_line(&line);
        let _ = FactSet::parse_opts(&line, FactSet::ALL);
        let _ = FactSet::parse_feat(&line);
    }

    /// Lines that look almost right reach deeper into the parsers than random bytes.
    #[test]
    fn parsers_never_panic_on_damaged_lines(
        (e, now) in list_case(),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut out = BytesMut::new();
        format_list_line(&e, now, &mut out).unwrap();
        format_mlsx_line(&e, FactSet::ALL, &mut out).unwrap();
        let mut line = out.to_vec();
        let i = flip.index(line.len());
        line[i] = byte;
        line.truncate(cut.index(line.len() + 1));
        let _ = parse_list_line(&line, Some(now));
        let _ = parse_list_line(&line, None);
        let _ = parse_mlsx_line(&line);
        for piece in line.split(|&b| b == b'\n') {
            let _ = parse_list_line(piece, Some(now));
            let _ = parse_mlsx_line(piece);
        }
    }
}

#[test]
fn dos_and_unix_samples_from_curl_style_listings() {
    // A mixed directory as curl's wildcard tests serve it (Unix and DOS styles).
    let now = Timestamp::parse_time_val(b"20100401000000").unwrap();
    let unix: &[&[u8]] = &[
        b"drwxr-xr-x    5 ftp      ftp          4096 Oct 10  2009 .\r\n",
        b"drwxr-xr-x    5 ftp      ftp          4096 Oct 10  2009 ..\r\n",
        b"-rw-r--r--    1 ftp      ftp            47 Oct 10  2009 chmod1\r\n",
        b"lrwxrwxrwx    1 ftp      ftp             6 Mar 03 19:41 link -> chmod1\r\n",
    ];
    let kinds: Vec<_> = unix
        .iter()
        .map(|l| parse_list_line(l, Some(now)).unwrap().unwrap().kind)
        .collect();
    assert_eq!(
        kinds,
        [
            EntryKind::CurrentDir,
            EntryKind::ParentDir,
            EntryKind::File,
            EntryKind::Symlink {
                target: Some(Bytes::from_static(b"chmod1"))
            }
        ]
    );
    let dos = parse_list_line(b"04-27-10  05:43PM       <DIR>          chmod\r\n", None)
        .unwrap()
        .unwrap();
    assert_eq!((dos.kind, &dos.name[..]), (EntryKind::Dir, &b"chmod"[..]));
}
