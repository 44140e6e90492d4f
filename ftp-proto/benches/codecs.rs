//! Criterion benches for the wire layer's hot paths: command framing + decoding (and encoding),
//! reply decoding (single-line, multi-line, a whole session) and encoding, listing parsing and
//! formatting (LIST and MLSD lines).
//!
//! Run with `cargo bench -p ftp-proto --bench codecs`; BENCHMARKS.md has the figures and the
//! exact command behind them. Allocation counts for the same paths are in
//! `tests/alloc_count.rs`.

#![allow(missing_docs)] // criterion_group! generates an undocumented function

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ftp_proto::command::Command;
use ftp_proto::line::LineDecoder;
use ftp_proto::listing::{self, Entry, EntryKind, FactSet};
use ftp_proto::reply::{Reply, ReplyCode, ReplyDecoder, ReplyDecoderConfig};
use ftp_proto::time::Timestamp;
use std::hint::black_box;

/// A realistic client session's commands, as curl and lftp send them (16 lines).
const SESSION: &[u8] = b"USER anonymous\r\nPASS guest@example.com\r\nPWD\r\nCWD /pub/releases\r\nEPSV\r\nTYPE I\r\nSIZE linux-6.1.tar.xz\r\nREST 1048576\r\nRETR linux-6.1.tar.xz\r\nPORT 127,0,0,1,195,80\r\nEPRT |2|::1|50001|\r\nMLSD\r\nLIST -la\r\nSTOR upload with spaces.bin\r\nMDTM linux-6.1.tar.xz\r\nQUIT\r\n";
const SESSION_LINES: u64 = 16;

const SINGLE_REPLY: &[u8] = b"226 Transfer complete.\r\n";
const FEAT_REPLY: &[u8] = b"211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n MLST size*;modify*;type*;\r\n REST STREAM\r\n SIZE\r\n UTF8\r\n211 End\r\n";

/// 2026-11-30T08:53:20Z, the `now` of the LIST parser and formatter.
fn now() -> Timestamp {
    Timestamp::from_unix(1_796_000_000, 0).expect("valid time")
}

fn commands(c: &mut Criterion) {
    let mut g = c.benchmark_group("command");
    g.throughput(Throughput::Elements(SESSION_LINES));
    g.bench_function("frame+decode session (16 lines)", |b| {
        let mut dec = LineDecoder::default();
        b.iter(|| {
            assert_eq!(dec.feed(black_box(SESSION)), SESSION.len());
            let mut n = 0;
            while let Ok(Some(line)) = dec.decode() {
                if Command::decode(line.into_bytes()).is_ok() {
                    n += 1;
                }
            }
            assert_eq!(n, SESSION_LINES);
            black_box(n)
        })
    });
    g.throughput(Throughput::Elements(1));
    for line in [
        &b"RETR linux-6.1.tar.xz"[..],
        b"PORT 127,0,0,1,195,80",
        b"EPRT |2|::1|50001|",
        b"MFMT 20261129093400 upload.bin",
        b"NOOP",
    ] {
        let bytes = Bytes::copy_from_slice(line);
        assert!(Command::decode(bytes.clone()).is_ok());
        g.bench_with_input(
            BenchmarkId::new("decode", String::from_utf8_lossy(line)),
            &bytes,
            |b, l| b.iter(|| black_box(Command::decode(black_box(l.clone())))),
        );
    }
    let retr = Command::Retr(Bytes::from_static(b"linux-6.1.tar.xz"));
    g.bench_function("encode RETR", |b| {
        let mut out = BytesMut::with_capacity(256);
        b.iter(|| {
            out.clear();
            black_box(&retr).encode(&mut out).expect("encodable");
            black_box(out.len())
        })
    });
    g.finish();
}

/// Decodes `wire` from a reused read buffer on every iteration; `replies` is how many it holds.
fn bench_reply_decode(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    wire: &[u8],
    replies: usize,
) {
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_function(name, |b| {
        let mut dec = ReplyDecoder::new(ReplyDecoderConfig::default());
        let mut buf = BytesMut::with_capacity(wire.len());
        b.iter(|| {
            buf.extend_from_slice(black_box(wire));
            let mut n = 0;
            while let Ok(Some(r)) = dec.decode(&mut buf) {
                black_box(&r);
                n += 1;
            }
            assert_eq!(n, replies);
            black_box(n)
        })
    });
}

fn replies(c: &mut Criterion) {
    let mut stream = Vec::new();
    stream.extend_from_slice(
        b"220 FTP server ready.\r\n331 Password required.\r\n230 Login successful.\r\n",
    );
    stream.extend_from_slice(FEAT_REPLY);
    stream.extend_from_slice(b"229 Entering Extended Passive Mode (|||50001|)\r\n150 Opening BINARY mode data connection (1234 bytes).\r\n226 Transfer complete.\r\n");
    let mut g = c.benchmark_group("reply");
    bench_reply_decode(&mut g, "decode single-line", SINGLE_REPLY, 1);
    bench_reply_decode(&mut g, "decode multi-line FEAT (9 lines)", FEAT_REPLY, 1);
    bench_reply_decode(&mut g, "decode session (7 replies)", &stream, 7);

    g.throughput(Throughput::Elements(1));
    let single = Reply::new(ReplyCode::CLOSING_DATA_CONNECTION, "Transfer complete.");
    let feat = Reply::new(
        ReplyCode::SYSTEM_STATUS,
        "Features:\n EPRT\n EPSV\n MDTM\n MLST size*;modify*;type*;\n REST STREAM\n SIZE\n UTF8\nEnd",
    );
    for (name, reply) in [
        ("encode single-line", &single),
        ("encode multi-line FEAT", &feat),
    ] {
        g.bench_function(name, |b| {
            let mut out = BytesMut::with_capacity(4096);
            b.iter(|| {
                out.clear();
                black_box(reply).encode(&mut out);
                black_box(out.len())
            })
        });
    }
    g.finish();
}

fn listings(c: &mut Criterion) {
    let unix: &[&[u8]] = &[
        b"-rw-r--r--    1 1000     1000       123456 Nov 29 09:34 linux-6.1.tar.xz",
        b"drwxr-xr-x    2 ftp      ftp          4096 Jan 05  2021 pub",
        b"lrwxrwxrwx    1 root     root            7 Mar 14 12:00 latest -> 6.1.0",
    ];
    let unix_shared: Vec<Bytes> = unix.iter().map(|l| Bytes::copy_from_slice(l)).collect();
    let dos: &[u8] = b"01-05-21  12:34PM                 1234 report final.txt";
    let mlsx: &[u8] =
        b"type=file;size=123456;modify=20261129093400;perm=adfrw;unique=803g1a; linux-6.1.tar.xz";
    let mlsx_shared = Bytes::from_static(mlsx);
    let now = Some(now());
    for l in unix {
        assert!(matches!(listing::parse_list_line(l, now), Ok(Some(_))));
    }
    assert!(matches!(listing::parse_list_line(dos, now), Ok(Some(_))));
    assert!(listing::parse_mlsx_line(mlsx).is_ok());

    let mut g = c.benchmark_group("listing");
    g.throughput(Throughput::Elements(3));
    g.bench_function("parse unix x3 (copying)", |b| {
        b.iter(|| {
            for l in unix {
                black_box(listing::parse_list_line(black_box(l), now).ok());
            }
        })
    });
    g.bench_function("parse unix x3 (shared)", |b| {
        b.iter(|| {
            for l in &unix_shared {
                black_box(listing::parse_list_line_shared(black_box(l), now).ok());
            }
        })
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse dos", |b| {
        b.iter(|| black_box(listing::parse_list_line(black_box(dos), now).ok()))
    });
    g.bench_function("parse mlsx (copying)", |b| {
        b.iter(|| black_box(listing::parse_mlsx_line(black_box(mlsx)).ok()))
    });
    g.bench_function("parse mlsx (shared)", |b| {
        b.iter(|| black_box(listing::parse_mlsx_line_shared(black_box(&mlsx_shared)).ok()))
    });

    let entry = Entry::new(Bytes::from_static(b"linux-6.1.tar.xz"), EntryKind::File)
        .with_size(123_456)
        .with_modified(Timestamp::from_unix(1_795_900_000, 0).expect("valid time"))
        .with_permissions(0o644)
        .with_owner(Bytes::from_static(b"ftp"))
        .with_group(Bytes::from_static(b"ftp"))
        .with_links(1)
        .with_perm(Bytes::from_static(b"adfrw"))
        .with_unique(Bytes::from_static(b"803g1a"));
    let now = self::now();
    g.bench_function("format LIST line", |b| {
        let mut out = BytesMut::with_capacity(4096);
        b.iter(|| {
            out.clear();
            listing::format_list_line(black_box(&entry), now, &mut out).expect("listable");
            black_box(out.len())
        })
    });
    g.bench_function("format MLSD line (default facts)", |b| {
        let mut out = BytesMut::with_capacity(4096);
        b.iter(|| {
            out.clear();
            listing::format_mlsx_line(black_box(&entry), FactSet::DEFAULT, &mut out)
                .expect("listable");
            black_box(out.len())
        })
    });
    g.bench_function("format MLSD line (all facts)", |b| {
        let mut out = BytesMut::with_capacity(4096);
        b.iter(|| {
            out.clear();
            listing::format_mlsx_line(black_box(&entry), FactSet::ALL, &mut out).expect("listable");
            black_box(out.len())
        })
    });
    g.finish();
}

criterion_group!(benches, commands, replies, listings);
criterion_main!(benches);
