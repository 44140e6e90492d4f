//! Control-channel framing and command decoding, fed arbitrary bytes in several chunkings.
//!
//! The input is the raw byte stream a client sends. It goes through [`LineDecoder`] whole, one
//! byte at a time and in pseudo-random chunks (with `discard_buffered` calls at some chunk
//! boundaries, as a server does after `AUTH TLS`), and each run is compared with a reference
//! model of the framing rules written from the `line` module docs. Every framed line then goes
//! through [`Command::decode`].
//!
//! Invariants:
//! - framing: every run yields exactly the lines, `TooLong` errors, urgent flags and Telnet
//!   answers of the model, whatever the chunking; the buffer never exceeds `max_buffered`;
//!   no line exceeds `max_line_len`; each overlong line gives one error and no line; what stays
//!   buffered is the raw partial line (or nothing while an overlong line is dropped); the
//!   Telnet answers never exceed 1536 bytes, and none are queued when answering is off;
//! - `encode_line` then framing gives back any line without LF;
//! - commands: a decode error maps to 500/501/504/521/522; the verb is case-insensitive; a
//!   decoded command always encodes, to one wire line that frames and decodes back to the same
//!   command (and re-encodes to the same bytes); SITE and LIST arguments split consistently.
#![no_main]

use bytes::{Bytes, BytesMut};
use ftp_proto::command::{split_list_arg, Command, SiteCommand};
use ftp_proto::line::{encode_line, LineConfig, LineDecoder, LineError};
use libfuzzer_sys::fuzz_target;

const IAC: u8 = 255;
const DONT: u8 = 254;
const DO: u8 = 253;
const WONT: u8 = 252;
const WILL: u8 = 251;
const IP: u8 = 244;
const DM: u8 = 242;

/// What framing produced, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Line(Vec<u8>, bool),
    TooLong,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    Data,
    Iac,
    Opt(u8),
}

/// Reference framer: splits raw lines first, then interprets each whole line.
struct Model {
    max: usize,
    answer: bool,
    raw: Vec<u8>,
    state: St,
    last_is_terminator_cr: bool,
    reported: bool,
    events: Vec<Ev>,
    answers: Vec<u8>,
    refused_do: [bool; 256],
    refused_will: [bool; 256],
}

impl Model {
    fn new(max: usize, answer: bool) -> Self {
        Model {
            max,
            answer,
            raw: Vec::new(),
            state: St::Data,
            last_is_terminator_cr: false,
            reported: false,
            events: Vec::new(),
            answers: Vec::new(),
            refused_do: [false; 256],
            refused_will: [false; 256],
        }
    }

    fn push(&mut self, b: u8) {
        let st = self.state;
        if let St::Opt(verb) = st {
            let set = match verb {
                DO => Some((&mut self.refused_do, WONT)),
                WILL => Some((&mut self.refused_will, DONT)),
                _ => None,
            };
            if let (true, Some((set, reply))) = (self.answer, set) {
                if !set[usize::from(b)] {
                    set[usize::from(b)] = true;
                    self.answers.extend_from_slice(&[IAC, reply, b]);
                }
            }
        }
        self.state = match (st, b) {
            (St::Data, IAC) => St::Iac,
            (St::Iac, WILL | WONT | DO | DONT) => St::Opt(b),
            _ => St::Data,
        };
        if b == b'\n' && !matches!(st, St::Opt(_)) {
            if !self.reported {
                let (content, urgent) = interpret(&self.raw);
                self.events.push(Ev::Line(content, urgent));
            }
            self.reset_line();
            return;
        }
        self.raw.push(b);
        self.last_is_terminator_cr = b == b'\r' && !matches!(st, St::Opt(_));
        // Without its terminator (LF, or CR LF with a CR that is no option byte) a line may
        // have `max` bytes: one more is fine only if it is a CR that an LF may still follow.
        let len = self.raw.len();
        let over = len > self.max + 1 || (len == self.max + 1 && !self.last_is_terminator_cr);
        if over && !self.reported {
            self.reported = true;
            self.events.push(Ev::TooLong);
        }
    }

    fn reset_line(&mut self) {
        self.raw.clear();
        self.state = St::Data;
        self.last_is_terminator_cr = false;
        self.reported = false;
    }

    /// What the decoder should still hold: the raw partial line, unless it is being dropped.
    fn buffered(&self) -> &[u8] {
        if self.reported {
            &[]
        } else {
            &self.raw
        }
    }
}

/// Interprets the Telnet sequences of one complete raw line (terminating LF removed).
fn interpret(raw: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::with_capacity(raw.len());
    let mut urgent = false;
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        if b != IAC {
            out.push(b);
            i += 1;
            continue;
        }
        match raw.get(i + 1).copied() {
            // IAC right before the LF: kept.
            None => {
                out.push(IAC);
                i += 1;
            }
            Some(IAC) => {
                out.push(IAC);
                i += 2;
            }
            Some(WILL..=DONT) => i += 3,
            Some(IP | DM) => {
                urgent = true;
                i += 2;
            }
            Some(240..) => i += 2,
            Some(other) => {
                out.push(IAC);
                out.push(other);
                i += 2;
            }
        }
    }
    if out.last() == Some(&b'\r') {
        out.pop();
    }
    (out, urgent)
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
    /// Random chunks, with `discard_buffered` at some chunk boundaries.
    Random(u64),
}

/// Runs the real decoder and the model side by side over `data`; returns the model's events.
fn frame(config: LineConfig, data: &[u8], split: Split) -> Vec<Ev> {
    let mut dec = LineDecoder::new(config);
    let max = dec.config().max_line_len;
    assert!(dec.config().max_buffered >= max + 2);
    let mut model = Model::new(max, config.answer_telnet);
    let mut events = Vec::new();
    let mut answers = Vec::new();
    let mut rng = match split {
        Split::Random(salt) => Some(Rng::new(data, salt)),
        _ => None,
    };
    let mut rest = data;
    while !rest.is_empty() {
        let take = match split {
            Split::Whole => rest.len(),
            Split::Bytewise => 1,
            Split::Random(_) => rng.as_mut().map_or(1, |r| 1 + (r.next() % 40) as usize),
        };
        let (mut chunk, tail) = rest.split_at(take.min(rest.len()));
        rest = tail;
        for &b in chunk {
            model.push(b);
        }
        let mut stalled = 0;
        while !chunk.is_empty() {
            let n = dec.feed(chunk);
            chunk = &chunk[n..];
            assert!(dec.buffered().len() <= dec.config().max_buffered);
            let mut progressed = n > 0;
            loop {
                match dec.decode() {
                    Ok(Some(line)) => {
                        progressed = true;
                        assert!(line.as_bytes().len() <= max, "line over the cap");
                        events.push(Ev::Line(line.as_bytes().to_vec(), line.is_urgent()));
                    }
                    Ok(None) => break,
                    Err(e) => {
                        progressed = true;
                        assert_eq!(e, LineError::TooLong { max });
                        assert_eq!(e.reply_code(), 500);
                        events.push(Ev::TooLong);
                    }
                }
            }
            if let Some(r) = dec.take_telnet_replies() {
                assert!(!r.is_empty());
                answers.extend_from_slice(&r);
            }
            stalled = if progressed { 0 } else { stalled + 1 };
            assert!(stalled < 2, "decoder neither takes input nor yields lines");
        }
        assert_eq!(dec.buffered(), model.buffered(), "buffered bytes differ");
        assert_eq!(dec.wants_read(), dec.free_space() > 0);
        if let Some(r) = rng.as_mut() {
            if r.next() % 8 == 0 {
                assert_eq!(dec.discard_buffered(), model.buffered().len());
                assert!(dec.buffered().is_empty());
                model.reset_line();
            }
        }
    }
    assert_eq!(events, model.events, "framing differs from the model");
    assert_eq!(
        answers, model.answers,
        "Telnet answers differ from the model"
    );
    assert!(answers.len() <= 1536);
    if !config.answer_telnet {
        assert!(answers.is_empty());
    }
    model.events
}

fuzz_target!(|data: &[u8]| {
    let small = LineConfig::default().max_line_len(48).max_buffered(0);
    let lines = frame(small, data, Split::Whole);
    assert_eq!(frame(small, data, Split::Bytewise), lines);
    frame(small, data, Split::Random(1));

    // The default limits let every line of a fuzz input through to the command decoder.
    let big = LineConfig::default().answer_telnet(false);
    let lines = frame(big, data, Split::Whole);
    frame(big, data, Split::Random(2));

    for ev in lines {
        if let Ev::Line(line, _) = ev {
            check_encode_line(&line);
            check_command(Bytes::from(line));
        }
    }
});

/// Frames `wire` with generous limits; it must hold exactly one line and nothing else.
fn frame_one(wire: &[u8]) -> Bytes {
    let mut dec = LineDecoder::new(LineConfig::default().max_line_len(1 << 16));
    assert_eq!(dec.feed(wire), wire.len());
    let line = dec.decode().expect("frames").expect("one line");
    assert!(!line.is_urgent());
    assert_eq!(dec.decode(), Ok(None));
    assert!(dec.buffered().is_empty());
    assert!(dec.take_telnet_replies().is_none());
    line.into_bytes()
}

fn check_encode_line(line: &[u8]) {
    assert!(!line.contains(&b'\n'));
    let mut wire = BytesMut::new();
    encode_line(line, &mut wire);
    assert_eq!(
        &frame_one(&wire)[..],
        line,
        "encode_line does not frame back"
    );
}

fn check_command(line: Bytes) {
    let decoded = Command::decode(line.clone());

    // Verbs are case-insensitive: flipping the case of the verb changes nothing.
    let verb_end = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
    let mut flipped = line.to_vec();
    for b in &mut flipped[..verb_end] {
        if b.is_ascii_alphabetic() {
            *b ^= 0x20;
        }
    }
    assert_eq!(
        Command::decode(Bytes::from(flipped)),
        decoded,
        "verb case matters"
    );

    let cmd = match decoded {
        Ok(cmd) => cmd,
        Err(e) => {
            assert!(
                matches!(e.reply_code(), 500 | 501 | 504 | 521 | 522),
                "{e:?}"
            );
            return;
        }
    };
    let verb = cmd.verb();
    assert!(!verb.is_empty());
    assert!(verb
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'@'));

    let mut out = BytesMut::new();
    cmd.encode(&mut out)
        .unwrap_or_else(|e| panic!("decoded command {cmd:?} does not encode: {e:?}"));
    assert!(out.starts_with(verb.as_bytes()));
    assert!(out.ends_with(b"\r\n"));
    let body = &out[..out.len() - 2];
    assert!(!body.contains(&b'\n'), "LF inside an encoded command");
    for (i, &b) in body.iter().enumerate() {
        if b == 0 {
            assert_eq!(body.get(i.wrapping_sub(1)), Some(&b'\r'), "bare NUL sent");
        }
        if b == b'\r' {
            assert_eq!(body.get(i + 1), Some(&0), "bare CR sent");
        }
    }
    let back = Command::decode(frame_one(&out)).expect("re-encoded command decodes");
    assert_eq!(back, cmd, "encode/decode round trip");
    let mut again = BytesMut::new();
    back.encode(&mut again).expect("encodes twice");
    assert_eq!(again, out, "encoding is not canonical");

    match &cmd {
        Command::Site(arg) => match SiteCommand::parse(arg) {
            Ok(SiteCommand::Chmod { mode, path }) => {
                assert!(mode <= 0o7777);
                assert!(!path.is_empty());
            }
            Ok(SiteCommand::Utime { path, .. }) => assert!(!path.is_empty()),
            Ok(_) => {}
            Err(e) => assert_eq!(e.reply_code(), 501),
        },
        Command::List(Some(arg)) | Command::Nlst(Some(arg)) | Command::Stat(Some(arg)) => {
            check_list_arg(arg)
        }
        _ => {}
    }
}

fn check_list_arg(arg: &Bytes) {
    let (opts, path) = split_list_arg(arg);
    let head = opts.as_ref().map_or(0, |o| o.len());
    let tail = path.as_ref().map_or(0, |p| p.len());
    assert!(head + tail <= arg.len());
    if let Some(o) = &opts {
        assert!(o.starts_with(b"-"));
        assert!(arg.starts_with(o));
        assert!(!o.ends_with(b" "));
    }
    if let Some(p) = &path {
        assert!(arg.ends_with(p));
        if opts.is_some() {
            assert!(!p.starts_with(b" "));
        }
    }
    // Between the options and the path there are only spaces.
    assert!(arg[head..arg.len() - tail].iter().all(|&b| b == b' '));
    if opts.is_none() {
        assert_eq!(path.as_ref(), Some(arg));
    }
}
