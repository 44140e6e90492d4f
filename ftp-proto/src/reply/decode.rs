//! Incremental reply decoding: the client side of the wire format.

use bytes::{Buf, Bytes, BytesMut};

use super::{Reply, ReplyCode, ReplyError};

const IAC: u8 = 0xFF;
/// Telnet WILL, WONT, DO and DONT: each is followed by one option byte.
const NEGOTIATION: std::ops::RangeInclusive<u8> = 251..=254;
/// Telnet two-byte commands (SE, NOP, DM, BRK, IP, AO, AYT, EC, EL, GA, SB).
const COMMAND: std::ops::RangeInclusive<u8> = 240..=250;
/// Scratch buffers bigger than this are freed after use rather than kept for the next reply.
const KEEP_CAPACITY: usize = 16 * 1024;

/// How the decoder finds the last line of a multi-line reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TerminatorPolicy {
    /// RFC 959: only a line starting with the opening line's code followed by SP or the end of
    /// the line ends the reply. Lines that are not a reply start are an error, empty ones
    /// included, and so is a line inside a multi-line reply that starts with another code
    /// followed by SP or the end of the line ([`ReplyError::MismatchedEnd`]): RFC 959 has
    /// servers pad text lines that begin with digits, so such a line is a server closing the
    /// reply with the wrong code (glftpd sends `553-` ... `150 ...`), and reading on (as Python
    /// ftplib does) would wait for a last line that never comes.
    #[default]
    Strict,
    /// curl and lftp: any line starting with a reply code followed by SP or the end of the line
    /// ends the reply, and that line's code becomes the reply's code (glftpd sends `553-` ...
    /// `150 ...`). Empty lines between replies are skipped.
    Lenient,
}

/// Limits and policy for a [`ReplyDecoder`].
///
/// Build it from [`ReplyDecoderConfig::default`] and change the fields you need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplyDecoderConfig {
    /// How a multi-line reply ends; [`TerminatorPolicy::Strict`] by default.
    pub policy: TerminatorPolicy,
    /// Most bytes in one line, counting a CR before the LF but not the LF; 64 KiB by default
    /// (curl test 1003 sends a 17,000-byte line).
    pub max_line_len: usize,
    /// Most lines in one reply; 10,000 by default, since `STAT path` answers with a whole
    /// directory listing as one multi-line reply.
    pub max_lines: usize,
    /// Most bytes of text in one reply (lines joined by LF); 1 MiB by default.
    pub max_reply_len: usize,
}

impl Default for ReplyDecoderConfig {
    fn default() -> Self {
        ReplyDecoderConfig {
            policy: TerminatorPolicy::Strict,
            max_line_len: 64 * 1024,
            max_lines: 10_000,
            max_reply_len: 1024 * 1024,
        }
    }
}

impl ReplyDecoderConfig {
    /// The default limits with [`TerminatorPolicy::Lenient`].
    pub fn lenient() -> Self {
        ReplyDecoderConfig {
            policy: TerminatorPolicy::Lenient,
            ..ReplyDecoderConfig::default()
        }
    }
}

/// Where the Telnet parser stands at the scan position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Telnet {
    Data,
    Iac,
    Option,
}

/// What a complete line means for the reply being read.
enum Step {
    /// An empty line between replies, skipped in lenient mode.
    Skip,
    /// A whole single-line reply; its text is `line[start..end]`.
    Single(ReplyCode, usize, usize),
    /// The first line of a multi-line reply.
    Open(ReplyCode, usize, usize),
    /// An intermediate line, kept whole.
    Middle(usize),
    /// The last line of a multi-line reply.
    Close(ReplyCode, usize, usize),
}

/// Turns control-channel bytes into [`Reply`] values, keeping its place between reads.
///
/// Call [`decode`](ReplyDecoder::decode) with the same buffer after each read, appending new
/// bytes at its end; it removes the bytes of each reply it returns and leaves the rest. Each byte
/// is scanned once, however the bytes are split across reads. Lines end in CRLF or a bare LF;
/// Telnet `IAC IAC` becomes one 0xFF byte and other Telnet commands are dropped.
///
/// Memory is bounded: the caller's buffer holds at most one partial line of
/// [`max_line_len`](ReplyDecoderConfig::max_line_len) bytes after `decode` returns `Ok(None)`,
/// and the decoder holds at most [`max_reply_len`](ReplyDecoderConfig::max_reply_len) bytes of
/// a multi-line reply. Errors are sticky: after one, every call returns it again, because the
/// place where the next reply starts is unknown and the session is over.
#[derive(Debug, Clone)]
pub struct ReplyDecoder {
    config: ReplyDecoderConfig,
    /// Bytes of the buffer's first (partial) line already scanned.
    scanned: usize,
    telnet: Telnet,
    line_has_iac: bool,
    /// The code of the opening line while inside a multi-line reply.
    open: Option<ReplyCode>,
    lines: usize,
    text: Vec<u8>,
    /// The current line with Telnet commands removed, for lines that held any.
    scratch: Vec<u8>,
    error: Option<ReplyError>,
}

impl Default for ReplyDecoder {
    fn default() -> Self {
        ReplyDecoder::new(ReplyDecoderConfig::default())
    }
}

impl ReplyDecoder {
    /// Makes a decoder with the given limits and policy.
    pub fn new(config: ReplyDecoderConfig) -> Self {
        ReplyDecoder {
            config,
            scanned: 0,
            telnet: Telnet::Data,
            line_has_iac: false,
            open: None,
            lines: 0,
            text: Vec::new(),
            scratch: Vec::new(),
            error: None,
        }
    }

    /// The configuration this decoder was made with.
    pub fn config(&self) -> &ReplyDecoderConfig {
        &self.config
    }

    /// Takes the next complete reply off the front of `buf`.
    ///
    /// Returns `Ok(Some(reply))` and removes its bytes; call again, since `buf` may hold more.
    /// Returns `Ok(None)` when `buf` holds no complete reply: complete lines of a multi-line
    /// reply are taken into the decoder and a partial line stays in `buf`. Returns `Err` for a
    /// NUL byte, a line that is not a reply, or a cap exceeded; the error then repeats on every
    /// call (the session is over).
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Reply>, ReplyError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        match self.decode_lines(buf) {
            Ok(r) => Ok(r),
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Like [`decode`](ReplyDecoder::decode), for when the connection has closed.
    ///
    /// Returns `Ok(None)` only when nothing is left; a partial line or an unfinished multi-line
    /// reply is [`ReplyError::UnexpectedEof`].
    pub fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Reply>, ReplyError> {
        match self.decode(buf)? {
            Some(reply) => Ok(Some(reply)),
            None if buf.is_empty() && self.open.is_none() => Ok(None),
            None => Err(self.fail(ReplyError::UnexpectedEof)),
        }
    }

    /// True while the decoder holds the first lines of a multi-line reply.
    ///
    /// A partial line is in the caller's buffer, not here: check that buffer too to know whether
    /// the server sent anything past the last reply (e.g. bytes pipelined after `234`).
    pub fn is_mid_reply(&self) -> bool {
        self.open.is_some()
    }

    /// Bytes of reply text the decoder holds, never more than `max_reply_len`.
    pub fn buffered_len(&self) -> usize {
        self.text.len()
    }

    /// The sticky error, if decoding has failed.
    pub fn error(&self) -> Option<&ReplyError> {
        self.error.as_ref()
    }

    /// Forgets all state, including a sticky error, for use on a fresh buffer.
    pub fn reset(&mut self) {
        *self = ReplyDecoder::new(self.config);
    }

    fn fail(&mut self, e: ReplyError) -> ReplyError {
        self.text = Vec::new();
        self.scratch = Vec::new();
        self.error = Some(e.clone());
        e
    }

    fn decode_lines(&mut self, buf: &mut BytesMut) -> Result<Option<Reply>, ReplyError> {
        loop {
            let Some(eol) = self.find_line_end(buf)? else {
                return Ok(None);
            };
            let has_iac = self.line_has_iac;
            self.scanned = 0;
            self.line_has_iac = false;
            let raw = buf.get(..eol).unwrap_or_default();
            if has_iac {
                self.scratch.clear();
                strip_telnet(raw, &mut self.scratch);
            }
            let line = if has_iac { &self.scratch[..] } else { raw };
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let step = self.classify(line)?;
            match step {
                Step::Skip => buf.advance(eol + 1),
                Step::Single(code, start, end) => {
                    self.count_line()?;
                    self.check_reply_len(end - start)?;
                    let text = if has_iac {
                        let text = Bytes::copy_from_slice(
                            self.scratch.get(start..end).unwrap_or_default(),
                        );
                        buf.advance(eol + 1);
                        text
                    } else {
                        // Sharing the read buffer: no copy and no allocation per reply.
                        buf.split_to(eol + 1).freeze().slice(start..end)
                    };
                    self.finish();
                    return Ok(Some(Reply { code, text }));
                }
                Step::Open(code, start, end) => {
                    self.count_line()?;
                    self.check_reply_len(end - start)?;
                    let part = line_part(buf, &self.scratch, has_iac, start, end);
                    self.text.clear();
                    self.text.extend_from_slice(part);
                    self.open = Some(code);
                    buf.advance(eol + 1);
                }
                Step::Middle(end) => {
                    self.append(buf, has_iac, 0, end)?;
                    buf.advance(eol + 1);
                }
                Step::Close(code, start, end) => {
                    self.append(buf, has_iac, start, end)?;
                    let text = Bytes::copy_from_slice(&self.text);
                    buf.advance(eol + 1);
                    self.finish();
                    return Ok(Some(Reply { code, text }));
                }
            }
        }
    }

    /// Scans new bytes for the LF ending the first line of `buf`; returns its index.
    fn find_line_end(&mut self, buf: &[u8]) -> Result<Option<usize>, ReplyError> {
        let max = self.config.max_line_len;
        let start = self.scanned.min(buf.len());
        for (i, &b) in buf.iter().enumerate().skip(start) {
            // An IAC before a byte that is no Telnet command is dropped and the byte read as data.
            if self.telnet == Telnet::Iac && b < *COMMAND.start() {
                self.telnet = Telnet::Data;
            }
            if self.telnet == Telnet::Data && b == b'\n' {
                self.scanned = i;
                return Ok(Some(i));
            }
            if i >= max {
                return Err(ReplyError::LineTooLong { max });
            }
            self.telnet = match (self.telnet, b) {
                (Telnet::Data, 0) => return Err(ReplyError::Nul),
                (Telnet::Data, IAC) => {
                    self.line_has_iac = true;
                    Telnet::Iac
                }
                (Telnet::Data, _) => Telnet::Data,
                (Telnet::Iac, b) if NEGOTIATION.contains(&b) => Telnet::Option,
                (Telnet::Iac, _) | (Telnet::Option, _) => Telnet::Data,
            };
        }
        self.scanned = buf.len();
        Ok(None)
    }

    /// Decides what a complete line (without its line end) is.
    fn classify(&self, line: &[u8]) -> Result<Step, ReplyError> {
        let code = line.get(..3).and_then(ReplyCode::from_digits);
        let rest = line.len();
        let Some(open) = self.open else {
            if line.is_empty() && self.config.policy == TerminatorPolicy::Lenient {
                return Ok(Step::Skip);
            }
            let code = code.ok_or(ReplyError::Syntax)?;
            return match line.get(3) {
                None => Ok(Step::Single(code, 3, 3)),
                Some(b' ') => Ok(Step::Single(code, 4, rest)),
                Some(b'-') => Ok(Step::Open(code, 4, rest)),
                Some(_) => Err(ReplyError::Syntax),
            };
        };
        match (code, line.get(3)) {
            (Some(code), None | Some(b' '))
                if code == open || self.config.policy == TerminatorPolicy::Lenient =>
            {
                Ok(Step::Close(code, rest.min(4), rest))
            }
            (Some(close), None | Some(b' ')) => Err(ReplyError::MismatchedEnd { open, close }),
            _ => Ok(Step::Middle(rest)),
        }
    }

    fn count_line(&mut self) -> Result<(), ReplyError> {
        self.lines = self.lines.saturating_add(1);
        if self.lines > self.config.max_lines {
            return Err(ReplyError::TooManyLines {
                max: self.config.max_lines,
            });
        }
        Ok(())
    }

    fn check_reply_len(&self, len: usize) -> Result<(), ReplyError> {
        if len > self.config.max_reply_len {
            return Err(ReplyError::ReplyTooLong {
                max: self.config.max_reply_len,
            });
        }
        Ok(())
    }

    /// Adds LF and `line[start..end]` to the multi-line text, within the caps.
    fn append(
        &mut self,
        buf: &[u8],
        has_iac: bool,
        start: usize,
        end: usize,
    ) -> Result<(), ReplyError> {
        self.count_line()?;
        let part = line_part(buf, &self.scratch, has_iac, start, end);
        self.check_reply_len(self.text.len().saturating_add(1).saturating_add(part.len()))?;
        self.text.push(b'\n');
        self.text.extend_from_slice(part);
        Ok(())
    }

    /// Clears the per-reply state once a reply is returned.
    fn finish(&mut self) {
        self.open = None;
        self.lines = 0;
        self.text.clear();
        if self.text.capacity() > KEEP_CAPACITY {
            self.text = Vec::new();
        }
        if self.scratch.capacity() > KEEP_CAPACITY {
            self.scratch = Vec::new();
        }
    }
}

/// The `start..end` part of the current line, from the buffer or from the de-Telneted copy.
fn line_part<'a>(
    buf: &'a [u8],
    scratch: &'a [u8],
    has_iac: bool,
    start: usize,
    end: usize,
) -> &'a [u8] {
    let line = if has_iac { scratch } else { buf };
    line.get(start..end).unwrap_or_default()
}

/// Copies a line to `out` with `IAC IAC` made one 0xFF and other Telnet commands removed,
/// following the same rules as the scan in `find_line_end`.
fn strip_telnet(raw: &[u8], out: &mut Vec<u8>) {
    let mut state = Telnet::Data;
    for &b in raw {
        state = match (state, b) {
            (Telnet::Data, IAC) => Telnet::Iac,
            (Telnet::Iac, IAC) => {
                out.push(IAC);
                Telnet::Data
            }
            (Telnet::Iac, b) if NEGOTIATION.contains(&b) => Telnet::Option,
            (Telnet::Iac, b) if COMMAND.contains(&b) => Telnet::Data,
            (Telnet::Data | Telnet::Iac, b) => {
                out.push(b);
                Telnet::Data
            }
            (Telnet::Option, _) => Telnet::Data,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type RunOut = (
        Vec<(u16, Vec<u8>)>,
        Option<ReplyError>,
        BytesMut,
        ReplyDecoder,
    );
    type CapRow = (&'static [u8], Result<&'static [u8], ReplyError>);

    const S: &[TerminatorPolicy] = &[TerminatorPolicy::Strict];
    const L: &[TerminatorPolicy] = &[TerminatorPolicy::Lenient];
    const BOTH: &[TerminatorPolicy] = &[TerminatorPolicy::Strict, TerminatorPolicy::Lenient];

    struct Vector {
        wire: &'static [u8],
        policies: &'static [TerminatorPolicy],
        replies: &'static [(u16, &'static [u8])],
        /// Whether encoding `replies` gives back exactly `wire`.
        canonical: bool,
    }

    const fn v(
        wire: &'static [u8],
        policies: &'static [TerminatorPolicy],
        replies: &'static [(u16, &'static [u8])],
        canonical: bool,
    ) -> Vector {
        Vector {
            wire,
            policies,
            replies,
            canonical,
        }
    }

    const VECTORS: &[Vector] = &[
        v(b"220 Service ready\r\n", BOTH, &[(220, b"Service ready")], true),
        v(b"200 \r\n", BOTH, &[(200, b"")], true),
        // node-ftp / twisted: bare code lines, as a single line and as a terminator.
        v(b"200\r\n", BOTH, &[(200, b"")], false),
        v(b"200-blabla\r\n200-\r\n200\r\n", BOTH, &[(200, b"blabla\n200-\n")], false),
        // RFC 959 §4.2 example.
        v(
            b"123-First line\r\nSecond line\r\n  234 A line beginning with numbers\r\n123 The last line\r\n",
            BOTH,
            &[(123, b"First line\nSecond line\n  234 A line beginning with numbers\nThe last line")],
            true,
        ),
        // Unpadded number line inside a block: a terminator for lenient (an error for strict,
        // see `errors`).
        v(
            b"123-a\r\n234 b\r\n123 c\r\n",
            L,
            &[(234, b"a\nb"), (123, b"c")],
            false,
        ),
        // erlang/otp: a code inside the text is not a terminator.
        v(
            b"230-User usr-230 is logged in\r\n230 OK\r\n",
            BOTH,
            &[(230, b"User usr-230 is logged in\nOK")],
            true,
        ),
        // curl's greeting: several spaces after the code are text.
        v(
            b"220-a\r\n220-b\r\n220    art\r\n",
            BOTH,
            &[(220, b"a\n220-b\n   art")],
            false,
        ),
        // cyberduck: 250- / 550 / 250 (an error for strict, see `errors`).
        v(
            b"250-\r\n550\r\n250 done\r\n",
            L,
            &[(550, b"\n"), (250, b"done")],
            false,
        ),
        // glftpd: mismatched terminator, taken as the end by lenient (strict refuses it, see
        // `strict_mismatched_terminator_is_refused_at_once`).
        v(
            b"553-\r\n553- Directory excluded (precheck).\r\n150 Opening BINARY mode\r\n",
            L,
            &[(150, b"\n553- Directory excluded (precheck).\nOpening BINARY mode")],
            false,
        ),
        // Bare LF line ends, and a CR inside the text.
        v(b"220 hi\n221 bye\n", BOTH, &[(220, b"hi"), (221, b"bye")], false),
        v(b"200 a\rb\r\n", BOTH, &[(200, b"a\rb")], false),
        // Telnet: IAC IAC is 0xFF, other commands are dropped, even around a line end.
        v(b"200 a\xff\xffb\r\n", BOTH, &[(200, b"a\xffb")], true),
        v(b"200 a\xff\xfb\x01b\xff\xf4c\r\n", BOTH, &[(200, b"abc")], false),
        v(b"200 a\xff\xfd\nb\r\n", BOTH, &[(200, b"ab")], false),
        v(b"200 a\xffb\xff\n", BOTH, &[(200, b"ab")], false),
        v(b"211-x\r\n\xff\xff1\r\n211 y\r\n", BOTH, &[(211, b"x\n\xff1\ny")], true),
        // Preliminary and final reply in one read (curl test 126).
        v(
            b"150 Opening BINARY mode data connection for f (5 bytes).\r\n226 Done\r\n",
            BOTH,
            &[
                (150, b"Opening BINARY mode data connection for f (5 bytes)."),
                (226, b"Done"),
            ],
            true,
        ),
        // Lenient mode skips empty lines between replies.
        v(b"\r\n\n220 hi\r\n", L, &[(220, b"hi")], false),
    ];

    fn config(policy: TerminatorPolicy) -> ReplyDecoderConfig {
        ReplyDecoderConfig {
            policy,
            ..ReplyDecoderConfig::default()
        }
    }

    /// Feeds `chunks` in order, draining replies after each; stops at the first error.
    fn run(cfg: ReplyDecoderConfig, chunks: impl IntoIterator<Item = Vec<u8>>) -> RunOut {
        let mut dec = ReplyDecoder::new(cfg);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(&chunk);
            loop {
                match dec.decode(&mut buf) {
                    Ok(Some(r)) => out.push((r.code().as_u16(), r.text().to_vec())),
                    Ok(None) => break,
                    Err(e) => return (out, Some(e), buf, dec),
                }
            }
        }
        (out, None, buf, dec)
    }

    fn owned(replies: &[(u16, &[u8])]) -> Vec<(u16, Vec<u8>)> {
        replies.iter().map(|&(c, t)| (c, t.to_vec())).collect()
    }

    #[test]
    fn vectors_decode_whole_bytewise_and_with_trailing_bytes() {
        for (n, vec) in VECTORS.iter().enumerate() {
            let want = owned(vec.replies);
            for &policy in vec.policies {
                let cfg = config(policy);
                let (got, err, buf, dec) = run(cfg, [vec.wire.to_vec()]);
                assert_eq!((&got, &err), (&want, &None), "vector {n} whole {policy:?}");
                assert!(buf.is_empty() && !dec.is_mid_reply());

                let bytes = vec.wire.iter().map(|&b| vec![b]);
                let (got, err, ..) = run(cfg, bytes);
                assert_eq!(
                    (&got, &err),
                    (&want, &None),
                    "vector {n} bytewise {policy:?}"
                );

                let mut wire = vec.wire.to_vec();
                wire.extend_from_slice(b"221 partial");
                let (got, err, buf, _) = run(cfg, [wire]);
                assert_eq!(
                    (&got, &err),
                    (&want, &None),
                    "vector {n} trailing {policy:?}"
                );
                assert_eq!(&buf[..], b"221 partial");
            }
        }
    }

    #[test]
    fn vectors_encode() {
        for (n, vec) in VECTORS.iter().enumerate().filter(|(_, v)| v.canonical) {
            let mut out = BytesMut::new();
            for &(code, text) in vec.replies {
                Reply::new(ReplyCode::new(code).unwrap(), text).encode(&mut out);
            }
            assert_eq!(&out[..], vec.wire, "vector {n}");
        }
    }

    #[test]
    fn strict_mismatched_terminator_is_refused_at_once() {
        // glftpd's bytes, with nothing after the 150 line: the error must come from these
        // bytes alone, not from a last line or a timeout.
        let wire = b"553-\r\n553- Directory excluded (precheck).\r\n150 Opening BINARY mode\r\n";
        let want = ReplyError::MismatchedEnd {
            open: ReplyCode::new(553).unwrap(),
            close: ReplyCode::new(150).unwrap(),
        };
        for bytewise in [false, true] {
            let chunks: Vec<Vec<u8>> = if bytewise {
                wire.iter().map(|&b| vec![b]).collect()
            } else {
                vec![wire.to_vec()]
            };
            let (got, err, ..) = run(ReplyDecoderConfig::default(), chunks);
            assert!(got.is_empty());
            assert_eq!(err, Some(want.clone()), "bytewise {bytewise}");
        }
        assert_eq!(
            want.to_string(),
            "multi-line 553 reply ended by a line with code 150"
        );
    }

    fn mismatched(open: u16, close: u16) -> ReplyError {
        ReplyError::MismatchedEnd {
            open: ReplyCode::new(open).unwrap(),
            close: ReplyCode::new(close).unwrap(),
        }
    }

    #[test]
    fn errors() {
        let table: &[(&[u8], &[TerminatorPolicy], ReplyError)] = &[
            (b"230 logged\0 in\r\n", BOTH, ReplyError::Nul),
            (b"230-a\r\nb\0\r\n230 c\r\n", BOTH, ReplyError::Nul),
            (b"999 x\r\n", BOTH, ReplyError::Syntax),
            (b"099 x\r\n", BOTH, ReplyError::Syntax),
            (b"1x0 x\r\n", BOTH, ReplyError::Syntax),
            (b"20\r\n", BOTH, ReplyError::Syntax),
            (b"200x\r\n", BOTH, ReplyError::Syntax),
            (b"HTTP/1.1 200 OK\r\n", BOTH, ReplyError::Syntax),
            (b"\r\n220 hi\r\n", S, ReplyError::Syntax),
            (b"220 hi\r\n \r\n", L, ReplyError::Syntax),
            (b"123-a\r\n234 b\r\n123 c\r\n", S, mismatched(123, 234)),
            (b"250-\r\n550\r\n250 done\r\n", S, mismatched(250, 550)),
        ];
        for (wire, policies, want) in table {
            for &policy in *policies {
                for bytewise in [false, true] {
                    let chunks: Vec<Vec<u8>> = if bytewise {
                        wire.iter().map(|&b| vec![b]).collect()
                    } else {
                        vec![wire.to_vec()]
                    };
                    let (_, err, mut buf, mut dec) = run(config(policy), chunks);
                    assert_eq!(err.as_ref(), Some(want), "{wire:?} {policy:?}");
                    // Sticky.
                    buf.extend_from_slice(b"200 OK\r\n");
                    assert_eq!(dec.decode(&mut buf).as_ref(), Err(want));
                    assert_eq!(dec.error(), Some(want));
                }
            }
        }
    }

    #[test]
    fn caps() {
        let cfg = ReplyDecoderConfig {
            max_line_len: 10,
            max_lines: 3,
            max_reply_len: 12,
            ..ReplyDecoderConfig::default()
        };
        let table: &[CapRow] = &[
            // 10 bytes before the LF, the CR counted.
            (b"200 56789\r\n", Ok(b"56789")),
            (b"200 567890\r\n", Err(ReplyError::LineTooLong { max: 10 })),
            (b"200 5678901", Err(ReplyError::LineTooLong { max: 10 })),
            (b"200-a\r\nb\r\n200 c\r\n", Ok(b"a\nb\nc")),
            (
                b"200-a\r\nb\r\nc\r\n200 d\r\n",
                Err(ReplyError::TooManyLines { max: 3 }),
            ),
            (b"200-abcde\r\nfghij\r\n200\r\n", Ok(b"abcde\nfghij\n")),
            (
                b"200-abcde\r\nfghij\r\n200 k\r\n",
                Err(ReplyError::ReplyTooLong { max: 12 }),
            ),
        ];
        for (wire, want) in table {
            for bytewise in [false, true] {
                let chunks: Vec<Vec<u8>> = if bytewise {
                    wire.iter().map(|&b| vec![b]).collect()
                } else {
                    vec![wire.to_vec()]
                };
                let (got, err, buf, dec) = run(cfg, chunks);
                match want {
                    Ok(text) => {
                        assert_eq!(got, [(200, text.to_vec())], "{wire:?}");
                        assert_eq!(err, None);
                    }
                    Err(e) => assert_eq!(err.as_ref(), Some(e), "{wire:?}"),
                }
                assert!(dec.buffered_len() <= 12);
                if err.is_none() {
                    assert!(buf.len() <= 10);
                }
            }
        }
    }

    #[test]
    fn long_line_at_default_cap() {
        let mut wire = b"550 ".to_vec();
        wire.resize(17_000, b'x');
        wire.extend_from_slice(b"\r\n");
        let (got, err, ..) = run(ReplyDecoderConfig::default(), [wire.clone()]);
        assert_eq!(err, None);
        assert_eq!(got[0].1.len(), 16_996);

        let mut big = b"550 ".to_vec();
        big.resize(64 * 1024 + 1, b'x');
        let (_, err, buf, _) = run(ReplyDecoderConfig::default(), [big]);
        assert_eq!(err, Some(ReplyError::LineTooLong { max: 64 * 1024 }));
        assert_eq!(buf.len(), 64 * 1024 + 1);
    }

    #[test]
    fn eof() {
        let mut dec = ReplyDecoder::default();
        let mut buf = BytesMut::from(&b"220 hi\r\n"[..]);
        assert!(dec.decode_eof(&mut buf).unwrap().is_some());
        assert_eq!(dec.decode_eof(&mut buf), Ok(None));

        for partial in [&b"220 hi"[..], b"220-hi\r\n", b"220-hi\r\nmore"] {
            let mut dec = ReplyDecoder::default();
            let mut buf = BytesMut::from(partial);
            assert_eq!(dec.decode_eof(&mut buf), Err(ReplyError::UnexpectedEof));
            assert_eq!(dec.decode(&mut buf), Err(ReplyError::UnexpectedEof));
            dec.reset();
            assert_eq!(dec.error(), None);
        }
    }

    #[test]
    fn single_line_shares_the_read_buffer() {
        let mut buf = BytesMut::from(&b"226 Transfer complete\r\n"[..]);
        let mut dec = ReplyDecoder::default();
        let before = buf.as_ptr() as usize;
        let reply = dec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(reply.text().as_ptr() as usize, before + 4);
    }
}
