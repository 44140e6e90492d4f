//! Client session: a script of server reply lines, operations, adapter events and the passing
//! of time.
//!
//! The input is a line-oriented script (split on `\n`, one trailing `\r` dropped), so that the
//! seeds in `seeds/client_session/` are real server replies and mutations stay reply-shaped:
//!
//! - the first line configures the session, words in any order: `pasv` (PASV only), `active`,
//!   `auto` / `required` / `implicit` (TLS), `lenient`, `acct`, `trust` (trust 227 addresses),
//!   `noprot`, `ascii`, `reply=N` / `data=N` / `settle=N` (timeouts in seconds);
//! - `> op [arg]`: an operation (`cwd`, `cdup`, `pwd`, `mkd`, `rmd`, `dele`, `rename`, `size`,
//!   `mdtm`, `mfmt`, `site`, `stat`, `noop`, `mlst`, `list`, `nlst`, `mlsd`, `retr N`,
//!   `stor N`, `appe`, `stou`, `abor`, `quit`);
//! - `@event`: an adapter event: `conn`, `fail`, `done BYTES`, `lost`, `listen PORT` on the
//!   newest data channel; `accept [n]` (from the server's address) and `foreign [n]` (from
//!   another host) on the `n`th newest; `tls`, `notls`, `eof` (end of the control connection);
//! - `=text`: one listing line (CRLF added) on the newest channel's data connection;
//! - `+N` / `+Nms`: the clock moves N seconds / milliseconds; `+t` moves it exactly to the
//!   session's next deadline, `+t-` to one millisecond before it;
//! - `%N`: later server bytes are fed in chunks of N bytes (0: whole);
//! - `<text`: server bytes without a line end; `~bytes`: a reply built from the bytes (code
//!   from a table, one to four lines, continuation style, text), for inputs the fuzzer made up;
//! - `#...`: a comment; any other line: a server line, sent with CRLF.
//!
//! Invariants: no panic; every queued operation completes exactly once (at the latest when the
//! control connection ends); nothing follows `Close`; `handle_*` errs only with the documented
//! errors; each drain is bounded; a passive connection goes to the control connection's peer
//! unless 227 addresses are trusted, and never to an unspecified address; an active-mode
//! connection from another host is never used. Time: `handle_timeout` before the next
//! deadline does nothing (no output, same deadline); at or after it, it acts (some output) and
//! leaves no timer due; after any call, no timer is already due (a suspended timer does not
//! resume with a stale deadline); after a command is sent, a deadline at most `reply_timeout`
//! away is armed; and at the end, with the server silent, firing each deadline in turn ends
//! every operation or leaves nothing waiting on a reply.
#![no_main]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ftp_proto::client::{
    Accept, ClientConfig, ClientError, ClientEvent, ClientOutput, ClientSession, ClientTls,
    DataError, DataId, DataIntent, DataMode, OpId,
};
use ftp_proto::time::Timestamp;
use libfuzzer_sys::fuzz_target;

const SERVER: [u8; 4] = [10, 0, 0, 1];

/// Reply codes for `~` lines: the ones a client meets, and a few it should not.
const CODES: &[&str] = &[
    "110", "120", "125", "150", "200", "202", "211", "212", "213", "214", "215", "220", "221",
    "225", "226", "227", "228", "229", "230", "232", "234", "250", "257", "331", "332", "350",
    "421", "425", "426", "450", "451", "452", "500", "501", "502", "503", "504", "522", "530",
    "532", "534", "550", "551", "552", "553", "600", "099", "2x0",
];

struct Run {
    s: ClientSession,
    now: Instant,
    reply_timeout: Duration,
    trust: bool,
    chunk: usize,
    ops: HashMap<OpId, u32>,
    data: Vec<DataId>,
    closed: bool,
}

/// The first word of `s` parsed as a number, or 0.
fn num(s: &[u8]) -> u64 {
    let w = s
        .split(|b| *b == b' ')
        .find(|w| !w.is_empty())
        .unwrap_or(b"");
    std::str::from_utf8(w)
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(0)
}

/// Splits `line` into its first word and the rest.
fn word(line: &[u8]) -> (&[u8], &[u8]) {
    let line = line.trim_ascii_start();
    match line.iter().position(|b| *b == b' ') {
        Some(i) => (&line[..i], line[i + 1..].trim_ascii_start()),
        None => (line, b""),
    }
}

/// A reply from fuzz bytes: code, number of lines, continuation style, text.
fn generated(b: &[u8]) -> Vec<u8> {
    let (b0, b1, text) = match b {
        [b0, b1, text @ ..] => (*b0, *b1, text),
        [b0] => (*b0, 0, &[][..]),
        [] => (0, 0, &[][..]),
    };
    let code = CODES[usize::from(b0) % CODES.len()].as_bytes();
    let lines = usize::from(b1 & 3) + 1;
    let style = (b1 >> 2) & 3;
    let per = text.len().div_ceil(lines).max(1);
    let mut parts: Vec<&[u8]> = text.chunks(per).collect();
    parts.resize(lines, b"");
    let mut out = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == lines;
        match (i, last, style) {
            (_, true, _) => {
                out.extend_from_slice(code);
                out.push(b' ');
            }
            (0, _, _) => {
                out.extend_from_slice(code);
                out.push(b'-');
            }
            (_, _, 0) => {
                out.extend_from_slice(code);
                out.push(b'-');
            }
            (_, _, 1) => out.push(b' '),
            (_, _, 2) => {}
            // Another code in the middle (RFC 959 allows it with a space; strict decoders
            // refuse the same code followed by a space before the end).
            _ => out.extend_from_slice(b"211 "),
        }
        out.extend_from_slice(part);
        out.extend_from_slice(b"\r\n");
    }
    out
}

impl Run {
    /// Drains the session's outputs, checks them, and returns how many there were and whether
    /// one of them was a command.
    fn drain(&mut self) -> (usize, bool) {
        let mut n = 0;
        let mut sent = false;
        while let Some(out) = self.s.poll_output() {
            n += 1;
            assert!(n < 100_000, "unbounded output");
            assert!(!self.closed, "output after Close");
            match out {
                ClientOutput::Send(_) => sent = true,
                ClientOutput::Completed(id, _) => {
                    let c = self.ops.get_mut(&id).expect("completion of an unknown op");
                    *c += 1;
                    assert_eq!(*c, 1, "completed twice");
                }
                ClientOutput::Data(DataIntent::Connect { id, addr, .. }) => {
                    assert!(!addr.ip().is_unspecified(), "connect to {addr}");
                    if !self.trust {
                        assert_eq!(addr.ip(), SocketAddr::from((SERVER, 0)).ip(), "bounced");
                    }
                    assert_ne!(addr.port(), 0, "connect to port 0");
                    self.remember(id);
                }
                ClientOutput::Data(DataIntent::Listen { id }) => self.remember(id),
                ClientOutput::Close => self.closed = true,
                _ => {}
            }
        }
        (n, sent)
    }

    fn remember(&mut self, id: DataId) {
        if self.data.len() < 64 {
            self.data.push(id)
        }
    }

    /// The `n`th newest data channel.
    fn pick(&self, n: u64) -> Option<DataId> {
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        (!self.data.is_empty()).then(|| self.data[self.data.len() - 1 - n % self.data.len()])
    }

    fn op(&mut self, line: &[u8]) {
        let (name, arg) = word(line);
        let arg_path = if arg.is_empty() {
            bytes::Bytes::from_static(b"f")
        } else {
            bytes::Bytes::copy_from_slice(arg)
        };
        let opt = (!arg.is_empty()).then(|| bytes::Bytes::copy_from_slice(arg));
        let now = self.now;
        let s = &mut self.s;
        let r = match name {
            b"cwd" => s.cwd(now, arg_path),
            b"cdup" => s.cdup(now),
            b"pwd" => s.pwd(now),
            b"mkd" => s.mkdir(now, arg_path),
            b"rmd" => s.rmdir(now, arg_path),
            b"dele" => s.delete(now, arg_path),
            b"rename" => s.rename(now, arg_path, "b"),
            b"size" => s.size(now, arg_path),
            b"mdtm" => s.mdtm(now, arg_path),
            b"mfmt" => s.mfmt(now, arg_path, Timestamp::UNIX_EPOCH),
            b"site" => s.site(now, arg_path),
            b"stat" => s.stat(now, opt),
            b"noop" => s.noop(now),
            b"mlst" => s.mlst(now, opt),
            b"list" => s.list(now, opt, None),
            b"nlst" => s.nlst(now, opt),
            b"mlsd" => s.mlsd(now, opt),
            b"retr" => s.retr(now, "f", num(arg)),
            b"stor" => s.stor(now, "f", num(arg)),
            b"appe" => s.appe(now, arg_path),
            b"stou" => s.stou(now),
            b"abor" => s.abort(now),
            b"quit" => s.quit(now),
            _ => return,
        };
        match r {
            Ok(id) => assert!(self.ops.insert(id, 0).is_none(), "id reused"),
            Err(ClientError::Closed | ClientError::QueueFull | ClientError::InvalidArgument(_)) => {
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
    }

    fn event(&mut self, line: &[u8]) {
        let (name, arg) = word(line);
        let n = num(arg);
        let event = match name {
            b"tls" => ClientEvent::TlsEstablished,
            b"notls" => ClientEvent::TlsFailed,
            b"eof" => ClientEvent::ControlEof,
            b"accept" | b"foreign" => {
                let Some(id) = self.pick(n) else { return };
                let from_server = name == b"accept";
                let ip = if from_server { SERVER } else { [10, 9, 9, 9] };
                let r = self
                    .s
                    .handle_data_accept(self.now, id, SocketAddr::from((ip, 20)));
                assert!(matches!(r, Ok(_) | Err(ClientError::Closed)), "{r:?}");
                if !from_server {
                    assert!(!matches!(r, Ok(Accept::Use { .. })), "foreign host used");
                }
                return;
            }
            _ => {
                let Some(id) = self.pick(0) else { return };
                match name {
                    b"conn" => ClientEvent::DataConnected { id },
                    b"fail" => ClientEvent::DataFailed { id },
                    b"done" => ClientEvent::TransferDone { id, bytes: n },
                    b"lost" => ClientEvent::TransferFailed {
                        id,
                        error: DataError::ConnectionLost,
                    },
                    b"listen" => ClientEvent::Listening {
                        id,
                        addr: SocketAddr::from(([10, 0, 0, 2], u16::try_from(n).unwrap_or(0))),
                    },
                    _ => return,
                }
            }
        };
        let r = self.s.handle_event(self.now, event);
        match r {
            Ok(()) | Err(ClientError::Closed | ClientError::UnexpectedEvent(_)) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }

    fn input(&mut self, bytes: &[u8]) {
        let size = if self.chunk == 0 {
            bytes.len().max(1)
        } else {
            self.chunk
        };
        for part in bytes.chunks(size) {
            match self.s.handle_input(self.now, part) {
                Ok(()) => {}
                Err(ClientError::Closed) => assert!(self.s.is_closed()),
                Err(e) => panic!("unexpected {e:?}"),
            }
            self.drain();
        }
    }

    /// Moves the clock to `to` (never back) and fires the timers, checking that the session
    /// acts exactly when a deadline has passed.
    fn advance(&mut self, to: Instant) {
        let before = self.s.poll_timeout();
        self.now = self.now.max(to);
        self.s.handle_timeout(self.now);
        let (n, _) = self.drain();
        let after = self.s.poll_timeout();
        match before {
            Some(d) if d <= self.now => {
                assert!(n > 0, "a due timer did nothing");
                assert!(after.is_none_or(|t| t > self.now), "a timer still due");
            }
            _ => {
                assert_eq!(n, 0, "handle_timeout acted before any deadline");
                assert_eq!(
                    after, before,
                    "handle_timeout moved a deadline that was not due"
                );
            }
        }
    }

    fn time(&mut self, arg: &[u8]) {
        let next = self.s.poll_timeout();
        let to = match arg {
            b"t" => next.unwrap_or(self.now),
            b"t-" => next
                .and_then(|t| t.checked_sub(Duration::from_millis(1)))
                .unwrap_or(self.now),
            _ => {
                let n = num(arg).min(1 << 40);
                let d = if arg.ends_with(b"ms") {
                    Duration::from_millis(num(&arg[..arg.len() - 2]).min(1 << 40))
                } else {
                    Duration::from_secs(n)
                };
                self.now.checked_add(d).unwrap_or(self.now)
            }
        };
        self.advance(to);
    }

    fn step(&mut self, line: &[u8]) {
        let mut sent = false;
        match line.first() {
            Some(b'>') => self.op(&line[1..]),
            Some(b'@') => self.event(&line[1..]),
            Some(b'=') => {
                if let Some(id) = self.pick(0) {
                    let mut l = line[1..].to_vec();
                    l.extend_from_slice(b"\r\n");
                    let r = self.s.handle_listing_data(self.now, id, &l);
                    assert!(matches!(r, Ok(()) | Err(ClientError::Closed)), "{r:?}");
                }
            }
            Some(b'+') => self.time(&line[1..]),
            Some(b'%') => self.chunk = usize::try_from(num(&line[1..]).min(4096)).unwrap_or(0),
            Some(b'<') => self.input(&line[1..]),
            Some(b'~') => self.input(&generated(&line[1..])),
            Some(b'#') => {}
            _ => {
                let mut l = line.to_vec();
                l.extend_from_slice(b"\r\n");
                self.input(&l);
            }
        }
        let (_, s) = self.drain();
        sent |= s;
        let next = self.s.poll_timeout();
        assert!(
            next.is_none_or(|t| t > self.now),
            "a deadline already passed after a call"
        );
        if sent && !self.s.is_closed() {
            let t = next.expect("a command sent with no reply timer");
            assert!(t <= self.now + self.reply_timeout, "reply timer too far");
        }
    }
}

fn config(line: &[u8]) -> ClientConfig {
    let mut c = ClientConfig::new("u", "p");
    c.max_queued_ops = 8;
    c.max_listing_entries = 16;
    c.max_listing_line = 256;
    c.replies.max_line_len = 512;
    c.replies.max_lines = 16;
    c.replies.max_reply_len = 2048;
    c.reply_timeout = Duration::from_secs(60);
    c.data_timeout = Duration::from_secs(30);
    c.abort_settle = Duration::from_secs(1);
    for w in line.split(|b| *b == b' ') {
        let secs = |w: &[u8], p: &[u8]| Duration::from_secs(num(&w[p.len()..]).clamp(1, 3600));
        match w {
            b"pasv" => c.data_mode = DataMode::PassiveNoEpsv,
            b"active" => c.data_mode = DataMode::Active,
            b"auto" => c.tls = ClientTls::Opportunistic,
            b"required" => c.tls = ClientTls::Required,
            b"implicit" => c.tls = ClientTls::Implicit,
            b"acct" => c.account = Some("acct".into()),
            b"trust" => c.trust_pasv_address = true,
            b"noprot" => c.protect_data = false,
            b"ascii" => c.binary = false,
            b"lenient" => {
                let strict = c.replies;
                c.replies = ftp_proto::reply::ReplyDecoderConfig::lenient();
                c.replies.max_line_len = strict.max_line_len;
                c.replies.max_lines = strict.max_lines;
                c.replies.max_reply_len = strict.max_reply_len;
            }
            _ if w.starts_with(b"reply=") => c.reply_timeout = secs(w, b"reply="),
            _ if w.starts_with(b"data=") => c.data_timeout = secs(w, b"data="),
            _ if w.starts_with(b"settle=") => c.abort_settle = secs(w, b"settle="),
            _ => {}
        }
    }
    c
}

fuzz_target!(|input: &[u8]| {
    let mut lines = input
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let c = config(lines.next().unwrap_or(b""));
    let reply_timeout = c.reply_timeout;
    let trust = c.trust_pasv_address;
    let now = Instant::now();
    let s = ClientSession::new(c, SocketAddr::from((SERVER, 21)), now).unwrap();
    let mut run = Run {
        s,
        now,
        reply_timeout,
        trust,
        chunk: 0,
        ops: HashMap::new(),
        data: Vec::new(),
        closed: false,
    };
    run.drain();
    assert!(run.s.poll_timeout().is_some(), "no timer for the greeting");
    for line in lines.take(512) {
        run.step(line);
    }
    // The server goes silent: firing each deadline in turn must end in a finite number of
    // steps, and leave either a closed session or nothing waiting for the server.
    let mut fired = 0;
    while let Some(t) = run.s.poll_timeout() {
        fired += 1;
        assert!(fired <= 8, "timers keep firing");
        run.advance(t);
    }
    let _ = run.s.handle_event(run.now, ClientEvent::ControlEof);
    run.drain();
    assert!(run.s.is_closed());
    for n in run.ops.values() {
        assert_eq!(*n, 1, "an operation never completed");
    }
});
