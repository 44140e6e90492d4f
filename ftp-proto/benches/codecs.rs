//! Criterion benches for the wire layer's hot paths: command framing + decoding, reply
//! decoding and listing parsing. Run with `cargo bench -p ftp-proto --bench codecs`.

#![allow(missing_docs)] // criterion_group! generates an undocumented function

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ftp_proto::command::Command;
use ftp_proto::line::LineDecoder;
use ftp_proto::listing;
use ftp_proto::reply::{ReplyDecoder, ReplyDecoderConfig};
use ftp_proto::time::Timestamp;
use std::hint::black_box;

/// A realistic client session's commands, as curl and lftp send them.
const SESSION: &[u8] = b"USER anonymous\r\nPASS guest@example.com\r\nPWD\r\nCWD /pub/releases\r\nEPSV\r\nTYPE I\r\nSIZE linux-6.1.tar.xz\r\nREST 1048576\r\nRETR linux-6.1.tar.xz\r\nPORT 127,0,0,1,195,80\r\nEPRT |2|::1|50001|\r\nMLSD\r\nLIST -la\r\nSTOR upload with spaces.bin\r\nMDTM linux-6.1.tar.xz\r\nQUIT\r\n";

fn commands(c: &mut Criterion) {
    let mut g = c.benchmark_group("command");
    g.throughput(Throughput::Bytes(SESSION.len() as u64));
    g.bench_function("frame+decode session", |b| {
        let mut dec = LineDecoder::default();
        b.iter(|| {
            dec.feed(black_box(SESSION));
            let mut n = 0;
            while let Ok(Some(line)) = dec.decode() {
                if Command::decode(line.into_bytes()).is_ok() {
                    n += 1;
                }
            }
            black_box(n)
        })
    });
    for line in [
        &b"RETR linux-6.1.tar.xz"[..],
        b"PORT 127,0,0,1,195,80",
        b"NOOP",
    ] {
        let bytes = Bytes::copy_from_slice(line);
        g.bench_with_input(
            BenchmarkId::new("decode", String::from_utf8_lossy(line)),
            &bytes,
            |b, l| b.iter(|| black_box(Command::decode(l.clone()))),
        );
    }
    g.finish();
}

fn replies(c: &mut Criterion) {
    let mut stream = Vec::new();
    stream.extend_from_slice(
        b"220 FTP server ready.\r\n331 Password required.\r\n230 Login successful.\r\n",
    );
    stream.extend_from_slice(b"211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n MLST size*;modify*;type*;\r\n REST STREAM\r\n SIZE\r\n UTF8\r\n211 End\r\n");
    stream.extend_from_slice(b"229 Entering Extended Passive Mode (|||50001|)\r\n150 Opening BINARY mode data connection (1234 bytes).\r\n226 Transfer complete.\r\n");
    let mut g = c.benchmark_group("reply");
    g.throughput(Throughput::Bytes(stream.len() as u64));
    g.bench_function("decode session", |b| {
        let mut dec = ReplyDecoder::new(ReplyDecoderConfig::default());
        let mut buf = BytesMut::with_capacity(stream.len());
        b.iter(|| {
            buf.extend_from_slice(black_box(&stream));
            let mut n = 0;
            while let Ok(Some(r)) = dec.decode(&mut buf) {
                n += r.line_count();
            }
            black_box(n)
        })
    });
    g.finish();
}

fn listings(c: &mut Criterion) {
    let unix: &[&[u8]] = &[
        b"-rw-r--r--    1 1000     1000       123456 Nov 29 09:34 linux-6.1.tar.xz",
        b"drwxr-xr-x    2 ftp      ftp          4096 Jan 05  2021 pub",
        b"lrwxrwxrwx    1 root     root            7 Mar 14 12:00 latest -> 6.1.0",
    ];
    let dos: &[u8] = b"01-05-21  12:34PM                 1234 report final.txt";
    let mlsx: &[u8] =
        b"type=file;size=123456;modify=20261129093400;perm=adfrw;unique=803g1a; linux-6.1.tar.xz";
    let now = Timestamp::from_unix(1_796_000_000, 0);
    let mut g = c.benchmark_group("listing");
    g.bench_function("parse unix x3", |b| {
        b.iter(|| {
            for l in unix {
                black_box(listing::parse_list_line(black_box(l), now).ok());
            }
        })
    });
    g.bench_function("parse dos", |b| {
        b.iter(|| black_box(listing::parse_list_line(black_box(dos), now).ok()))
    });
    g.bench_function("parse mlsx", |b| {
        b.iter(|| black_box(listing::parse_mlsx_line(black_box(mlsx)).ok()))
    });
    g.finish();
}

criterion_group!(benches, commands, replies, listings);
criterion_main!(benches);
