//! Reply decoding: arbitrary server bytes, in several chunkings, in both terminator policies.
//!
//! The input is the raw byte stream a server sends. It goes through [`ReplyDecoder`] whole, one
//! byte at a time and in pseudo-random chunks, with small and with default limits, and each run
//! is compared with a reference model written from the `reply` module docs (line splitting with
//! Telnet, RFC 959 strict or curl-style lenient terminators, the three caps). Strict refuses a
//! multi-line reply closed by a line with another code (`ReplyError::MismatchedEnd`, since
//! commit `5b94978`) before the line counts against `max_lines`.
//!
//! Invariants:
//! - every run yields exactly the model's replies and error, whatever the chunking; errors are
//!   sticky; `decode_eof` reports an unfinished reply exactly when bytes or lines are pending;
//! - after `Ok(None)` the caller's buffer holds at most `max_line_len` bytes and the decoder at
//!   most `max_reply_len` bytes of text;
//! - every decoded reply re-encodes to bytes that decode to one reply: the same code and the
//!   text with only the changes `Reply::write` documents (CR and NUL to space, a space before
//!   a middle line that starts with a digit);
//! - the reply-text parsers (257, SIZE, MDTM, 150 size hint, STOU name, FEAT) never panic and
//!   what they read survives a round trip through the form a server writes.
#![no_main]

use bytes::BytesMut;
use ftp_proto::reply::{
    parse_257, parse_mdtm, parse_size, parse_size_hint, parse_size_lenient, parse_stou_name,
    Features, Reply, ReplyCode, ReplyDecoder, ReplyDecoderConfig, ReplyError, TerminatorPolicy,
};
use libfuzzer_sys::fuzz_target;

const IAC: u8 = 0xFF;

/// The model's view of a decode: replies, then the error if one happened, else whether bytes
/// or lines of an unfinished reply are pending.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    replies: Vec<(u16, Vec<u8>)>,
    error: Option<ReplyError>,
    pending: bool,
}

/// One step of Telnet interpretation: the data byte it yields (if any) and the bytes it spans.
struct Unit {
    data: Option<u8>,
    last: usize,
}

/// Splits `raw` into Telnet units: data bytes, `IAC IAC` (a 0xFF data byte), `IAC x` for a
/// command x (dropped), `IAC verb option` (dropped), and `IAC b` for b below 240 (the IAC is
/// dropped, b is data). A trailing incomplete sequence yields no unit.
fn units(raw: &[u8]) -> Vec<Unit> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        if b != IAC {
            out.push(Unit {
                data: Some(b),
                last: i,
            });
            i += 1;
            continue;
        }
        match raw.get(i + 1).copied() {
            None => break,
            Some(IAC) => {
                out.push(Unit {
                    data: Some(IAC),
                    last: i + 1,
                });
                i += 2;
            }
            Some(251..=254) => {
                if i + 2 >= raw.len() {
                    break;
                }
                out.push(Unit {
                    data: None,
                    last: i + 2,
                });
                i += 3;
            }
            Some(240..=250) => {
                out.push(Unit {
                    data: None,
                    last: i + 1,
                });
                i += 2;
            }
            Some(c) => {
                out.push(Unit {
                    data: Some(c),
                    last: i + 1,
                });
                i += 2;
            }
        }
    }
    out
}

enum RawLine {
    /// A complete line: its data bytes (line end removed) and the bytes it used, LF included.
    Line(Vec<u8>, usize),
    /// No line end yet.
    Partial,
}

/// Finds the first line of `raw` and checks it against the NUL rule and the length cap.
fn next_line(raw: &[u8], max: usize) -> Result<RawLine, ReplyError> {
    let mut data = Vec::new();
    for u in units(raw) {
        if u.data == Some(b'\n') {
            if u.last > max {
                return Err(ReplyError::LineTooLong { max });
            }
            if data.last() == Some(&b'\r') {
                data.pop();
            }
            return Ok(RawLine::Line(data, u.last + 1));
        }
        if u.last >= max {
            return Err(ReplyError::LineTooLong { max });
        }
        if u.data == Some(0) {
            return Err(ReplyError::Nul);
        }
        data.extend(u.data);
    }
    if raw.len() > max {
        return Err(ReplyError::LineTooLong { max });
    }
    Ok(RawLine::Partial)
}

fn code(line: &[u8]) -> Option<u16> {
    match line {
        [a @ b'1'..=b'6', b @ b'0'..=b'9', c @ b'0'..=b'9', ..] => {
            Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => None,
    }
}

/// The reference decoder: the whole input at once.
fn model(data: &[u8], cfg: &ReplyDecoderConfig) -> Outcome {
    let lenient = cfg.policy == TerminatorPolicy::Lenient;
    let mut replies = Vec::new();
    // The open multi-line reply: its code, text and line count.
    let mut open: Option<(u16, Vec<u8>, usize)> = None;
    let mut rest = data;
    let fail = |replies, e| Outcome {
        replies,
        error: Some(e),
        pending: false,
    };
    loop {
        let (line, used) = match next_line(rest, cfg.max_line_len) {
            Err(e) => return fail(replies, e),
            Ok(RawLine::Partial) => {
                return Outcome {
                    replies,
                    error: None,
                    pending: !rest.is_empty() || open.is_some(),
                }
            }
            Ok(RawLine::Line(line, used)) => (line, used),
        };
        rest = &rest[used..];
        let after_code = line.get(3).copied();
        match open.take() {
            None => {
                if line.is_empty() && lenient {
                    continue;
                }
                let Some(c) = code(&line) else {
                    return fail(replies, ReplyError::Syntax);
                };
                if !matches!(after_code, None | Some(b' ' | b'-')) {
                    return fail(replies, ReplyError::Syntax);
                }
                let text = line.get(4..).unwrap_or_default().to_vec();
                if cfg.max_lines < 1 {
                    return fail(replies, ReplyError::TooManyLines { max: cfg.max_lines });
                }
                if text.len() > cfg.max_reply_len {
                    return fail(
                        replies,
                        ReplyError::ReplyTooLong {
                            max: cfg.max_reply_len,
                        },
                    );
                }
                if after_code == Some(b'-') {
                    open = Some((c, text, 1));
                } else {
                    replies.push((c, text));
                }
            }
            Some((first, mut text, lines)) => {
                // Strict: a middle line that looks like a last line but has another code is
                // the server closing with the wrong code (RFC 959 pads text lines that start
                // with digits). The decoder classifies the line before counting it, so this
                // wins over the line cap.
                if !lenient && matches!(after_code, None | Some(b' ')) {
                    if let Some(close) = code(&line).filter(|&c| c != first) {
                        let rc = |c| ReplyCode::new(c).expect("a code the model parsed");
                        return fail(
                            replies,
                            ReplyError::MismatchedEnd {
                                open: rc(first),
                                close: rc(close),
                            },
                        );
                    }
                }
                let lines = lines + 1;
                if lines > cfg.max_lines {
                    return fail(replies, ReplyError::TooManyLines { max: cfg.max_lines });
                }
                let closing = code(&line).filter(|&c| {
                    matches!(after_code, None | Some(b' ')) && (c == first || lenient)
                });
                let part = match closing {
                    Some(_) => line.get(4..).unwrap_or_default(),
                    None => &line[..],
                };
                if text.len() + 1 + part.len() > cfg.max_reply_len {
                    return fail(
                        replies,
                        ReplyError::ReplyTooLong {
                            max: cfg.max_reply_len,
                        },
                    );
                }
                text.push(b'\n');
                text.extend_from_slice(part);
                match closing {
                    Some(c) => replies.push((c, text)),
                    None => open = Some((first, text, lines)),
                }
            }
        }
    }
}

struct Rng(u64);

impl Rng {
    fn new(data: &[u8], salt: u64) -> Self {
        let mut h = 0xcbf2_9ce4_8422_2325u64 ^ salt;
        for &b in data {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        Rng(h | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[derive(Clone, Copy)]
enum Split {
    Whole,
    Bytewise,
    Random(u64),
}

/// Runs the real decoder over `data` cut as `split` says; returns its outcome and replies.
fn run(cfg: &ReplyDecoderConfig, data: &[u8], split: Split) -> (Outcome, Vec<Reply>) {
    let mut dec = ReplyDecoder::new(*cfg);
    let mut buf = BytesMut::new();
    let mut replies = Vec::new();
    let mut rng = match split {
        Split::Random(salt) => Some(Rng::new(data, salt)),
        _ => None,
    };
    let mut rest = data;
    let mut error = None;
    while !rest.is_empty() && error.is_none() {
        let take = match split {
            Split::Whole => rest.len(),
            Split::Bytewise => 1,
            Split::Random(_) => rng.as_mut().map_or(1, |r| 1 + (r.next() % 48) as usize),
        };
        let (chunk, tail) = rest.split_at(take.min(rest.len()));
        rest = tail;
        buf.extend_from_slice(chunk);
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(r)) => replies.push(r),
                Ok(None) => {
                    assert!(buf.len() <= cfg.max_line_len, "partial line over the cap");
                    assert!(dec.buffered_len() <= cfg.max_reply_len);
                    assert_eq!(dec.error(), None);
                    break;
                }
                Err(e) => {
                    assert_eq!(e.reply_code(), 421);
                    assert_eq!(dec.error(), Some(&e));
                    assert_eq!(dec.decode(&mut buf), Err(e.clone()), "error is not sticky");
                    error = Some(e);
                    break;
                }
            }
        }
    }
    let pending = match &error {
        Some(e) => {
            assert_eq!(dec.decode_eof(&mut buf), Err(e.clone()));
            false
        }
        None => {
            let mid = dec.is_mid_reply();
            match dec.decode_eof(&mut buf) {
                Ok(None) => {
                    assert!(buf.is_empty() && !mid);
                    false
                }
                Err(ReplyError::UnexpectedEof) => {
                    assert!(!buf.is_empty() || mid);
                    assert_eq!(dec.decode(&mut buf), Err(ReplyError::UnexpectedEof));
                    true
                }
                other => panic!("decode_eof after Ok(None) gave {other:?}"),
            }
        }
    };
    let outcome = Outcome {
        replies: replies
            .iter()
            .map(|r| (r.code().as_u16(), r.text().to_vec()))
            .collect(),
        error,
        pending,
    };
    (outcome, replies)
}

fn config(policy: TerminatorPolicy, small: bool) -> ReplyDecoderConfig {
    let mut cfg = match policy {
        TerminatorPolicy::Lenient => ReplyDecoderConfig::lenient(),
        _ => ReplyDecoderConfig::default(),
    };
    assert_eq!(cfg.policy, policy);
    if small {
        cfg.max_line_len = 80;
        cfg.max_lines = 6;
        cfg.max_reply_len = 200;
    }
    cfg
}

fuzz_target!(|data: &[u8]| {
    for policy in [TerminatorPolicy::Strict, TerminatorPolicy::Lenient] {
        let small = config(policy, true);
        let want = model(data, &small);
        for split in [Split::Whole, Split::Bytewise, Split::Random(1)] {
            assert_eq!(run(&small, data, split).0, want, "small caps, {policy:?}");
        }

        let big = config(policy, false);
        let want = model(data, &big);
        let (got, replies) = run(&big, data, Split::Whole);
        assert_eq!(got, want, "default caps, {policy:?}");
        assert_eq!(run(&big, data, Split::Random(2)).0, want);
        for r in &replies {
            check_reply(r, &big);
        }
    }
});

/// The text `Reply::write` actually sends for `text`, as a decoder reads it back.
fn normalized(text: &[u8]) -> Vec<u8> {
    let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    let last = lines.len() - 1;
    let mut out = Vec::with_capacity(text.len() + 8);
    for (i, line) in lines.iter().enumerate() {
        let mut line = *line;
        if i < last {
            line = line.strip_suffix(b"\r").unwrap_or(line);
        }
        if i > 0 {
            out.push(b'\n');
            if i < last && line.first().is_some_and(u8::is_ascii_digit) {
                out.push(b' ');
            }
        }
        out.extend(
            line.iter()
                .map(|&b| if b == b'\r' || b == 0 { b' ' } else { b }),
        );
    }
    out
}

fn decode_one(wire: &[u8], cfg: &ReplyDecoderConfig) -> Reply {
    let mut dec = ReplyDecoder::new(*cfg);
    let mut buf = BytesMut::from(wire);
    let r = dec
        .decode(&mut buf)
        .expect("our reply decodes")
        .expect("a whole reply");
    assert_eq!(dec.decode_eof(&mut buf), Ok(None), "bytes after our reply");
    r
}

fn check_reply(r: &Reply, cfg: &ReplyDecoderConfig) {
    let text = r.text();
    assert!(!text.contains(&0));
    assert_eq!(r.line_count(), r.lines().count());
    assert_eq!(r.is_multiline(), r.line_count() > 1);
    assert_eq!(Reply::from_lines(r.code(), r.lines()), *r);
    assert_eq!(ReplyCode::from_digits(&r.code().digits()), Some(r.code()));

    let mut wire = BytesMut::new();
    r.encode(&mut wire);
    let mut direct = BytesMut::new();
    Reply::write(r.code(), text, &mut direct);
    assert_eq!(wire, direct);
    let back = decode_one(&wire, cfg);
    assert_eq!(back.code(), r.code());
    assert_eq!(back.text()[..], normalized(text)[..], "re-encoded {wire:?}");

    // 257 "path": a path read back from a server-style quote of itself.
    if let Ok(path) = parse_257(text) {
        assert!(!path.is_empty() && path.iter().all(|&b| b >= 0x20));
        let mut quoted = vec![b'"'];
        for &b in path.iter() {
            quoted.push(b);
            if b == b'"' {
                quoted.push(b'"');
            }
        }
        quoted.extend_from_slice(b"\" is the current directory");
        assert_eq!(parse_257(&quoted), Ok(path));
    }
    if let Ok(n) = parse_size(text) {
        assert_eq!(parse_size_lenient(text), Ok(n));
        assert_eq!(parse_size(n.to_string().as_bytes()), Ok(n));
    }
    if let Ok(n) = parse_size_lenient(text) {
        assert_eq!(parse_size_lenient(format!("Size = {n}").as_bytes()), Ok(n));
    }
    if let Ok(t) = parse_mdtm(text) {
        assert_eq!(
            parse_mdtm(t.time_val_precise().to_string().as_bytes()),
            Ok(t)
        );
    }
    if let Some(n) = parse_size_hint(text) {
        let hint = format!("Opening BINARY mode data connection for f ({n} bytes).");
        assert_eq!(parse_size_hint(hint.as_bytes()), Some(n));
    }
    if let Ok(name) = parse_stou_name(text) {
        assert!(!name.is_empty() && name.iter().all(|&b| b >= 0x20));
        let mut line = b"FILE: ".to_vec();
        line.extend_from_slice(&name);
        assert_eq!(parse_stou_name(&line), Ok(name));
    }

    let features = Features::parse(r);
    for f in &features {
        assert!(!f.name().is_empty());
        assert!(!f.name().iter().any(u8::is_ascii_lowercase));
        assert!(features.has(f.name()));
    }
    let has_cr = features
        .iter()
        .any(|f| f.name().contains(&b'\r') || f.params().contains(&b'\r'));
    if !has_cr {
        let mut out = BytesMut::new();
        features.encode(&mut out);
        let strict = config(TerminatorPolicy::Strict, false);
        assert_eq!(Features::parse(&decode_one(&out, &strict)), features);
    }
}
