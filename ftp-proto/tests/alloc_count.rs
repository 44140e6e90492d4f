//! How many heap allocations the wire layer costs per operation once warmed up.
//!
//! A counting `#[global_allocator]` wraps `std::alloc::System`. It lives in the dev-only crate
//! `tests/alloc-counter` because the workspace sets `unsafe_code = "forbid"` for every target
//! (tests included), an `#![allow(unsafe_code)]` here cannot relax a forbid (E0453), and
//! `unsafe impl GlobalAlloc` is unavoidable; that crate holds the one impl, so the forbid stays
//! in force everywhere else.
//!
//! The counter counts the calling thread's allocations, and everything is measured from the
//! one `#[test]` below, in sequence. Run it with `cargo test -p ftp-proto --test alloc_count -- --nocapture` to see the
//! table. Each case is run `WARMUP` times, then `ROUNDS` times under the counter, and the
//! steady-state count per operation must equal the expected one exactly: a new allocation on a
//! hot path fails the test, and so does one that went away (update the table then).

use bytes::{Bytes, BytesMut};
use ftp_alloc_counter::{snapshot, CountingAlloc, Snapshot};
use ftp_proto::addr;
use ftp_proto::command::Command;
use ftp_proto::line::LineDecoder;
use ftp_proto::listing::{self, Entry, EntryKind, FactSet};
use ftp_proto::reply::{self, Features, Reply, ReplyCode, ReplyDecoder, ReplyDecoderConfig};
use ftp_proto::time::Timestamp;
use std::hint::black_box;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

const WARMUP: usize = 3;
const ROUNDS: usize = 50;

/// A pipelined client session, as curl, lftp and FileZilla send it: each command line and the
/// allocations `LineDecoder::decode` + `Command::decode` may cost for it after warm-up.
const COMMANDS: &[(&[u8], usize)] = &[
    (b"AUTH TLS", 0),
    (b"PBSZ 0", 0),
    (b"PROT P", 0),
    (b"USER anonymous", 0),
    (b"PASS guest@example.com", 0),
    (b"SYST", 0),
    (b"FEAT", 0),
    (b"OPTS UTF8 ON", 0),
    (b"CLNT curl/8.5.0", 0),
    (b"PWD", 0),
    (b"CWD /pub/releases", 0),
    (b"TYPE I", 0),
    (b"EPSV", 0),
    (b"PASV", 0),
    (b"SIZE linux-6.1.tar.xz", 0),
    (b"MDTM linux-6.1.tar.xz", 0),
    (b"REST 1048576", 0),
    (b"RETR linux-6.1.tar.xz", 0),
    (b"PORT 127,0,0,1,195,80", 0),
    (b"EPRT |2|::1|50001|", 0),
    (b"EPRT |1|192.0.2.7|50002|", 0),
    (b"MLSD", 0),
    (b"LIST -la", 0),
    (b"NLST", 0),
    (b"STOR upload with spaces.bin", 0),
    (b"MFMT 20261129093400 upload with spaces.bin", 0),
    (b"RNFR a.txt", 0),
    (b"RNTO b.txt", 0),
    (b"DELE b.txt", 0),
    (b"MKD new dir", 0),
    (b"SITE CHMOD 644 upload with spaces.bin", 0),
    (b"noop", 0),
    (b"XYZZY plugh", 0),
    // An unknown verb not in upper case is upper-cased into a new buffer.
    (b"xyzzy plugh", 1),
    // RFC 2640 §3.1: a CR in a pathname travels as CR NUL; unescaping copies the argument into
    // a `Vec` one byte too long, so `Bytes::from(vec)` adds a shared header (2).
    (b"DELE odd\r\0name", 2),
    // Telnet IP + DM (the Synch before an urgent ABOR): the line is rebuilt in the decoder's
    // scratch buffer, which is reused once warm.
    (b"\xff\xf4\xff\xf2ABOR", 0),
    (b"QUIT", 0),
];

/// A server's replies to such a session and what `ReplyDecoder::decode` may cost for each.
const REPLIES: &[(&[u8], usize)] = &[
    (b"220 FTP server ready.\r\n", 0),
    (b"331 Please specify the password.\r\n", 0),
    // A banner: every multi-line reply copies its joined text out of the decoder (1).
    (
        b"230-Welcome to the mirror.\r\n230-Be nice.\r\n230 Login successful.\r\n",
        1,
    ),
    (b"215 UNIX Type: L8\r\n", 0),
    (
        b"211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n MLST size*;modify*;type*;\r\n REST STREAM\r\n SIZE\r\n UTF8\r\n211 End\r\n",
        1,
    ),
    (b"200 Always in UTF8 mode.\r\n", 0),
    (b"257 \"/pub/releases\" is the current directory\r\n", 0),
    (b"250 Directory successfully changed.\r\n", 0),
    (b"200 Switching to Binary mode.\r\n", 0),
    (b"229 Entering Extended Passive Mode (|||50001|)\r\n", 0),
    (b"227 Entering Passive Mode (192,0,2,7,195,81).\r\n", 0),
    (b"213 123456\r\n", 0),
    (b"213 20261129093400\r\n", 0),
    (b"350 Restart position accepted (1048576).\r\n", 0),
    (
        b"150 Opening BINARY mode data connection for linux-6.1.tar.xz (123456 bytes).\r\n",
        0,
    ),
    (b"226 Transfer complete.\r\n", 0),
    // Bare LF line end (some servers).
    (b"250 Rename successful.\n", 0),
    // A single-line reply holding IAC IAC (a Latin-1 0xFF in a name) is copied once (1).
    (b"550 caf\xff\xff: No such file.\r\n", 1),
    (b"221 Goodbye.\r\n", 0),
];

/// What one operation cost over the measured rounds.
struct Row {
    what: String,
    expected: usize,
    measured: Snapshot,
}

impl Row {
    fn per_op(&self) -> f64 {
        self.measured.total() as f64 / ROUNDS as f64
    }
}

fn show(line: &[u8]) -> String {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    line.escape_ascii().to_string()
}

fn wire(lines: &[(&[u8], usize)], terminator: &[u8]) -> Vec<u8> {
    let mut w = Vec::new();
    for (line, _) in lines {
        w.extend_from_slice(line);
        w.extend_from_slice(terminator);
    }
    w
}

/// Framing + command decoding of the pipelined session, fed in one read per round.
fn commands(rows: &mut Vec<Row>, cold: &mut Vec<(String, Snapshot)>) {
    let session = wire(COMMANDS, b"\r\n");
    let mut per_cmd = vec![Snapshot::default(); COMMANDS.len()];
    let mut feed = Snapshot::default();

    // Cold: what a brand-new connection pays for its first command.
    let mut dec = LineDecoder::default();
    let t0 = snapshot();
    assert_eq!(dec.feed(b"USER anonymous\r\n"), 16);
    let t1 = snapshot();
    let line = dec.decode().expect("framing").expect("a line");
    let cmd = black_box(Command::decode(line.into_bytes()));
    assert!(cmd.is_ok());
    drop(cmd);
    let t2 = snapshot();
    cold.push(("LineDecoder: first feed (the line buffer)".into(), t1 - t0));
    cold.push(("LineDecoder + Command: first line".into(), t2 - t1));

    for round in 0..WARMUP + ROUNDS {
        let measured = round >= WARMUP;
        let t = snapshot();
        assert_eq!(dec.feed(black_box(&session)), session.len());
        if measured {
            feed = feed + (snapshot() - t);
        }
        for (i, (line, _)) in COMMANDS.iter().enumerate() {
            let t = snapshot();
            let framed = dec.decode().expect("framing").expect("a line");
            let cmd = black_box(Command::decode(black_box(framed).into_bytes()));
            let ok = cmd.is_ok();
            drop(cmd);
            let cost = snapshot() - t;
            assert!(ok, "{:?} did not decode", show(line));
            if measured {
                per_cmd[i] = per_cmd[i] + cost;
            }
        }
        assert_eq!(dec.decode(), Ok(None));
    }

    rows.push(Row {
        what: format!(
            "LineDecoder::feed ({} bytes, {} lines)",
            session.len(),
            COMMANDS.len()
        ),
        expected: 0,
        measured: feed,
    });
    for ((line, expected), measured) in COMMANDS.iter().zip(per_cmd) {
        rows.push(Row {
            what: format!("command {:?}", show(line)),
            expected: *expected,
            measured,
        });
    }
}

/// Reply decoding of the server's side of the session, appended to one read buffer per round.
fn replies(rows: &mut Vec<Row>, cold: &mut Vec<(String, Snapshot)>) {
    let stream: Vec<u8> = REPLIES
        .iter()
        .flat_map(|(r, _)| r.iter().copied())
        .collect();
    let mut per_reply = vec![Snapshot::default(); REPLIES.len()];
    let mut feed = Snapshot::default();
    let mut dec = ReplyDecoder::new(ReplyDecoderConfig::default());
    let mut buf = BytesMut::new();

    let t0 = snapshot();
    buf.extend_from_slice(b"220 FTP server ready.\r\n");
    let r = black_box(dec.decode(&mut buf));
    assert!(matches!(r, Ok(Some(_))));
    drop(r);
    cold.push((
        "ReplyDecoder: first reply (read buffer)".into(),
        snapshot() - t0,
    ));

    for round in 0..WARMUP + ROUNDS {
        let measured = round >= WARMUP;
        let t = snapshot();
        buf.extend_from_slice(black_box(&stream));
        if measured {
            feed = feed + (snapshot() - t);
        }
        for (i, (wire, _)) in REPLIES.iter().enumerate() {
            let t = snapshot();
            let r = black_box(dec.decode(&mut buf));
            let code = match &r {
                Ok(Some(reply)) => Some(reply.code().as_u16()),
                _ => None,
            };
            drop(r);
            let cost = snapshot() - t;
            let want = std::str::from_utf8(&wire[..3])
                .ok()
                .and_then(|d| d.parse().ok());
            assert_eq!(code, want, "{:?}", show(wire));
            if measured {
                per_reply[i] = per_reply[i] + cost;
            }
        }
        assert!(buf.is_empty());
    }

    rows.push(Row {
        what: format!("reply read buffer extend ({} bytes)", stream.len()),
        expected: 0,
        measured: feed,
    });
    for ((wire, expected), measured) in REPLIES.iter().zip(per_reply) {
        let first = wire.split(|&b| b == b'\n').next().unwrap_or_default();
        let lines = wire.iter().filter(|&&b| b == b'\n').count();
        let what = if lines > 1 {
            format!("reply {:?} (+{} lines)", show(first), lines - 1)
        } else {
            format!("reply {:?}", show(wire))
        };
        rows.push(Row {
            what,
            expected: *expected,
            measured,
        });
    }
}

/// Runs `op` for the warm-up and measured rounds and records its steady-state cost.
///
/// The counters are the test thread's own (the harness's threads allocated now and then
/// under load when they were process-wide); the rounds are still measured three times and the
/// smallest count kept, as anything stray can only add: the code under test allocates the
/// same every time.
fn measure(rows: &mut Vec<Row>, what: &str, expected: usize, mut op: impl FnMut()) {
    for _ in 0..WARMUP {
        op();
    }
    let mut measured: Option<Snapshot> = None;
    for _ in 0..3 {
        let t = snapshot();
        for _ in 0..ROUNDS {
            op();
        }
        let this = snapshot() - t;
        if measured.is_none_or(|m| this.total() < m.total()) {
            measured = Some(this);
        }
    }
    let measured = measured.unwrap_or_default();
    rows.push(Row {
        what: what.to_string(),
        expected,
        measured,
    });
}

/// The reply-body parsers a client runs, and the server-side encoders into a reused buffer.
fn bodies_and_encoders(rows: &mut Vec<Row>) {
    measure(rows, "parse_pasv_reply (227)", 0, || {
        let r = addr::parse_pasv_reply(black_box(b"Entering Passive Mode (192,0,2,7,195,81)."));
        assert!(black_box(r).is_ok());
    });
    measure(rows, "parse_epsv_reply (229)", 0, || {
        let r = addr::parse_epsv_reply(black_box(b"Entering Extended Passive Mode (|||50001|)"));
        assert!(black_box(r).is_ok());
    });
    measure(rows, "parse_size (213)", 0, || {
        assert!(black_box(reply::parse_size(black_box(b"123456"))).is_ok());
    });
    measure(rows, "parse_mdtm (213)", 0, || {
        assert!(black_box(reply::parse_mdtm(black_box(b"20261129093400"))).is_ok());
    });
    measure(rows, "parse_size_hint (150)", 0, || {
        let t = b"Opening BINARY mode data connection for x (123456 bytes).";
        assert!(black_box(reply::parse_size_hint(black_box(t))).is_some());
    });
    // The pathname is returned as owned `Bytes` (quotes undoubled): a `Vec` plus, as its length
    // is below its capacity, the shared header `Bytes::from(vec)` adds (2).
    measure(rows, "parse_257 (owned pathname)", 2, || {
        let r = reply::parse_257(black_box(b"\"/pub/releases\" is the current directory"));
        assert!(black_box(r).is_ok());
    });
    let feat = Reply::new(
        ReplyCode::SYSTEM_STATUS,
        "Features:\n EPRT\n EPSV\n MDTM\n MLST size*;modify*;type*;\n REST STREAM\n SIZE\n UTF8\nEnd",
    );
    // Not a hot path (once per connection): owned features, see `FEAT_ALLOCS`.
    measure(
        rows,
        "Features::parse (FEAT, 7 features)",
        FEAT_ALLOCS,
        || {
            let f = Features::parse(black_box(&feat));
            assert!(black_box(f).has("MLST"));
        },
    );

    let mut out = BytesMut::with_capacity(4096);
    let single = Reply::new(ReplyCode::CLOSING_DATA_CONNECTION, "Transfer complete.");
    measure(rows, "Reply::encode single-line (reused buffer)", 0, || {
        out.clear();
        black_box(&single).encode(&mut out);
    });
    measure(
        rows,
        "Reply::encode FEAT multi-line (reused buffer)",
        0,
        || {
            out.clear();
            black_box(&feat).encode(&mut out);
        },
    );
    let now = Timestamp::from_unix(1_796_000_000, 0).expect("valid time");
    let modified = Timestamp::from_unix(1_795_900_000, 0).expect("valid time");
    let entry = Entry::new(Bytes::from_static(b"linux-6.1.tar.xz"), EntryKind::File)
        .with_size(123_456)
        .with_modified(modified)
        .with_permissions(0o644)
        .with_owner(Bytes::from_static(b"ftp"))
        .with_group(Bytes::from_static(b"ftp"))
        .with_links(1)
        .with_perm(Bytes::from_static(b"adfrw"))
        .with_unique(Bytes::from_static(b"803g1a"));
    measure(rows, "format_list_line (reused buffer)", 0, || {
        out.clear();
        assert!(listing::format_list_line(black_box(&entry), now, &mut out).is_ok());
    });
    measure(rows, "format_mlsx_line (reused buffer)", 0, || {
        out.clear();
        let r = listing::format_mlsx_line(black_box(&entry), FactSet::DEFAULT, &mut out);
        assert!(r.is_ok());
    });
    let mut cmd_out = BytesMut::with_capacity(256);
    let retr = Command::Retr(Bytes::from_static(b"linux-6.1.tar.xz"));
    measure(rows, "Command::encode RETR (reused buffer)", 0, || {
        cmd_out.clear();
        assert!(black_box(&retr).encode(&mut cmd_out).is_ok());
    });
}

/// Measured: `Features::parse` builds a `Vec<Feature>` that grows as features are pushed, and
/// each `Feature` owns its name (and its params when it has some): 10 allocations + 1 realloc.
const FEAT_ALLOCS: usize = 11;

#[test]
fn allocation_counts() {
    // Reserve every table before measuring, so the bookkeeping itself allocates nothing then.
    let mut rows = Vec::with_capacity(128);
    let mut cold = Vec::with_capacity(8);
    commands(&mut rows, &mut cold);
    replies(&mut rows, &mut cold);
    bodies_and_encoders(&mut rows);

    println!("steady state, after {WARMUP} warm-up rounds, over {ROUNDS} rounds:");
    println!(
        "{:>6} {:>8} {:>8}  operation",
        "allocs", "reallocs", "expected"
    );
    for r in &rows {
        println!(
            "{:>6.2} {:>8.2} {:>8}  {}",
            r.measured.allocs as f64 / ROUNDS as f64,
            r.measured.reallocs as f64 / ROUNDS as f64,
            r.expected,
            r.what
        );
    }
    println!("cold (a fresh decoder, once):");
    for (what, s) in &cold {
        println!("{:>6} {:>8} {:>8}B  {what}", s.allocs, s.reallocs, s.bytes);
    }
    let session_cmds: usize = COMMANDS.iter().map(|(_, n)| n).sum();
    println!(
        "per pipelined session: {} commands, {} allocations expected; {} replies, {} expected",
        COMMANDS.len(),
        session_cmds,
        REPLIES.len(),
        REPLIES.iter().map(|(_, n)| n).sum::<usize>()
    );

    let wrong: Vec<String> = rows
        .iter()
        .filter(|r| r.measured.total() != r.expected * ROUNDS)
        .map(|r| {
            format!(
                "{}: expected {}, measured {}",
                r.what,
                r.expected,
                r.per_op()
            )
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "allocation counts changed:\n{}",
        wrong.join("\n")
    );
}
