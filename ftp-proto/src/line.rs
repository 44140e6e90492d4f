//! Control-channel framing: raw socket bytes in, command (or reply) lines out.
//!
//! [`LineDecoder`] implements the rules of conformance.md §2.2-2.4:
//!
//! - A line ends at LF. One CR directly before the LF belongs to the terminator; any other CR,
//!   including a CR alone, is line content. An empty line is a line of length 0.
//! - Telnet (RFC 854, as RFC 959 uses it) is interpreted before framing: `IAC IAC` is one literal
//!   `0xFF`; `IAC IP` and `IAC DM` are removed and mark the line [urgent](Line::is_urgent);
//!   `IAC DO x` is refused with `IAC WONT x` and `IAC WILL x` with `IAC DONT x`, each option at
//!   most once per connection, so the answers stay bounded; `IAC DONT x` and `IAC WONT x` are not
//!   answered, because RFC 854 forbids acknowledging a request for the mode a party is already in
//!   (we never enable an option); every other `IAC` command (NOP, GA, AYT, SB, SE...) is removed.
//!   An `IAC` followed by a byte that is no Telnet command (below 240) is kept as the two literal
//!   bytes, as proftpd does, so that a client that forgets to double `0xFF` in a Latin-1 file name
//!   still reaches the right file.
//! - A line longer than the configured maximum yields one [`LineError::TooLong`] and is dropped
//!   up to and including its LF without being buffered; framing resumes after it. An overlong
//!   line is never cut into several lines (CVE-2008-4242).
//! - NUL and other control bytes are passed through: the command decoder decides about them.
//!
//! The decoder owns its input buffer so that the bytes not yet framed can be inspected and
//! dropped when the connection switches to TLS (CVE-2011-1575): see
//! [`LineDecoder::buffered`] and [`LineDecoder::discard_buffered`].

use bytes::{Buf, BufMut, Bytes, BytesMut};

const CR: u8 = b'\r';
const LF: u8 = b'\n';
/// Telnet "interpret as command".
const IAC: u8 = 255;
const DONT: u8 = 254;
const DO: u8 = 253;
const WONT: u8 = 252;
const WILL: u8 = 251;
/// Telnet "interrupt process".
const IP: u8 = 244;
/// Telnet "data mark", the end of a Synch.
const DM: u8 = 242;
/// The lowest Telnet command byte (SE); an `IAC` before anything lower is not a command.
const FIRST_COMMAND: u8 = 240;

/// The default maximum line length in bytes, as vsftpd enforces for commands.
pub const DEFAULT_MAX_LINE_LEN: usize = 4096;

/// The line buffer's first size: most command lines fit, and the buffer is reused from line
/// to line.
const FIRST_BUFFER: usize = 256;

/// The default cap on bytes held by a [`LineDecoder`] (pipelined lines plus a partial one).
pub const DEFAULT_MAX_BUFFERED: usize = 16 * 1024;

/// Why the decoder rejected input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    /// A line had more than `max` bytes before its terminator; it was dropped.
    ///
    /// Framing resumes after the dropped line's LF, so the session can answer and go on.
    #[error("line longer than {max} bytes")]
    TooLong {
        /// The configured maximum line length.
        max: usize,
    },
}

impl LineError {
    /// The FTP reply code a server answers this error with: 500 for an overlong line.
    pub fn reply_code(&self) -> u16 {
        match self {
            LineError::TooLong { .. } => 500,
        }
    }
}

/// Limits and options of a [`LineDecoder`].
///
/// Build it from [`LineConfig::default`] and the setters, e.g.
/// `LineConfig::default().max_line_len(65536)` for a client reading replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LineConfig {
    /// The maximum bytes of a line, counted on the wire before Telnet unescaping and without
    /// the CRLF or LF terminator. Default [`DEFAULT_MAX_LINE_LEN`].
    pub max_line_len: usize,
    /// The most bytes [`LineDecoder::feed`] keeps buffered. Raised to `max_line_len + 2` if
    /// lower, so that a full buffer always holds either a line or an overlong line.
    /// Default [`DEFAULT_MAX_BUFFERED`].
    pub max_buffered: usize,
    /// Whether to queue refusals of Telnet option requests (default `true`). A client may turn
    /// this off: RFC 1123 §4.1.2.12 has user-FTP never negotiate.
    pub answer_telnet: bool,
}

impl Default for LineConfig {
    fn default() -> Self {
        LineConfig {
            max_line_len: DEFAULT_MAX_LINE_LEN,
            max_buffered: DEFAULT_MAX_BUFFERED,
            answer_telnet: true,
        }
    }
}

impl LineConfig {
    /// Returns the config with the maximum line length set to `len` bytes.
    pub fn max_line_len(mut self, len: usize) -> Self {
        self.max_line_len = len;
        self
    }

    /// Returns the config with the buffer cap set to `len` bytes.
    pub fn max_buffered(mut self, len: usize) -> Self {
        self.max_buffered = len;
        self
    }

    /// Returns the config with Telnet answering turned on or off.
    pub fn answer_telnet(mut self, answer: bool) -> Self {
        self.answer_telnet = answer;
        self
    }
}

/// One framed line, without its terminator and with Telnet sequences interpreted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Line {
    bytes: Bytes,
    urgent: bool,
}

impl Line {
    /// Builds a line from its content and its urgent flag (mostly useful in tests).
    pub fn new(bytes: Bytes, urgent: bool) -> Self {
        Line { bytes, urgent }
    }

    /// The line content.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The line content as shared bytes (cheap to clone or slice).
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Takes the line content.
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// Whether a Telnet IP or DM (the Synch of RFC 959 §4.1.3) arrived within this line.
    ///
    /// A server may then treat an ABOR, STAT or QUIT on this line as urgent.
    pub fn is_urgent(&self) -> bool {
        self.urgent
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Telnet {
    /// Ordinary data.
    Data,
    /// After an `IAC`.
    Iac,
    /// After `IAC` and an option verb (DO, DONT, WILL, WONT); holds the verb.
    Opt(u8),
}

/// An incremental control-channel line decoder with Telnet handling and a length cap.
///
/// Drive it like this: [`feed`](Self::feed) received bytes, then call
/// [`decode`](Self::decode) until it returns `Ok(None)`, sending
/// [`take_telnet_replies`](Self::take_telnet_replies) to the peer when there are any; feed the
/// bytes `feed` did not accept and repeat. Every byte is scanned once, however the input is
/// split; a line with no Telnet sequence is handed out as a slice of the input buffer, without
/// copying or allocating.
#[derive(Debug)]
pub struct LineDecoder {
    config: LineConfig,
    /// Raw bytes not framed yet. `buf[..scanned]` belongs to the current line (or is being
    /// dropped when `discarding`).
    buf: BytesMut,
    scanned: usize,
    telnet: Telnet,
    /// Where in `buf` the pending `IAC` sequence started.
    iac_at: usize,
    /// Whether the current line differs from its raw bytes; its content is then in `clean`.
    dirty: bool,
    clean: BytesMut,
    urgent: bool,
    /// Whether the current line is overlong and being dropped up to its LF.
    discarding: bool,
    replies: BytesMut,
    /// Options already refused, as bit sets: answered `DO x` and answered `WILL x`.
    refused_do: [u64; 4],
    refused_will: [u64; 4],
}

impl Default for LineDecoder {
    fn default() -> Self {
        LineDecoder::new(LineConfig::default())
    }
}

impl LineDecoder {
    /// Creates a decoder with the given limits.
    pub fn new(mut config: LineConfig) -> Self {
        let floor = config.max_line_len.saturating_add(2);
        config.max_buffered = config.max_buffered.max(floor);
        LineDecoder {
            config,
            buf: BytesMut::new(),
            scanned: 0,
            telnet: Telnet::Data,
            iac_at: 0,
            dirty: false,
            clean: BytesMut::new(),
            urgent: false,
            discarding: false,
            replies: BytesMut::new(),
            refused_do: [0; 4],
            refused_will: [0; 4],
        }
    }

    /// The limits this decoder runs with (`max_buffered` after raising it to its floor).
    pub fn config(&self) -> &LineConfig {
        &self.config
    }

    /// Appends received bytes; returns how many were taken (at most [`free_space`](Self::free_space)).
    ///
    /// Call [`decode`](Self::decode) until `Ok(None)` afterwards; that frees space for the rest.
    pub fn feed(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free_space());
        if let Some(taken) = data.get(..n) {
            if self.buf.capacity() == 0 {
                // One allocation that usually serves the whole connection: room for a typical
                // command line, not the longest one (it grows for those), since every idle
                // session keeps it.
                let first = FIRST_BUFFER.max(n);
                self.buf.reserve(first.min(self.config.max_buffered));
            }
            self.buf.extend_from_slice(taken);
        }
        n
    }

    /// How many more bytes [`feed`](Self::feed) accepts now.
    pub fn free_space(&self) -> usize {
        self.config.max_buffered.saturating_sub(self.buf.len())
    }

    /// Whether the caller should read more from the socket (there is room to feed).
    pub fn wants_read(&self) -> bool {
        self.free_space() > 0
    }

    /// Frames the next line from the buffered bytes.
    ///
    /// Returns `Ok(Some(line))` for each complete line, `Ok(None)` when more input is needed,
    /// and `Err(LineError::TooLong)` once per overlong line; keep calling after an error, the
    /// decoder has already resynchronised. Telnet answers found while scanning are queued for
    /// [`take_telnet_replies`](Self::take_telnet_replies).
    pub fn decode(&mut self) -> Result<Option<Line>, LineError> {
        let max = self.config.max_line_len;
        loop {
            self.skip_plain_run(max);
            let i = self.scanned;
            let Some(&b) = self.buf.get(i) else { break };
            // `i < buf.len()`, so this cannot overflow.
            self.scanned = i + 1;
            let in_opt = matches!(self.telnet, Telnet::Opt(_));
            let ends_line = b == LF && !in_opt;
            // The byte at index `max` may still be the CR of a CRLF terminator.
            let may_be_cr_of_crlf = i == max && b == CR && !in_opt;
            if !ends_line && !self.discarding && i >= max && !may_be_cr_of_crlf {
                self.start_discarding();
                // The byte may open or close a Telnet sequence: keep that state right.
                self.step(b, i);
                self.drop_scanned();
                return Err(LineError::TooLong { max });
            }
            if let Some(line) = self.step(b, i) {
                return Ok(Some(line));
            }
        }
        if self.discarding {
            self.drop_scanned();
        }
        Ok(None)
    }

    /// The raw bytes received but not yet returned as lines (exactly as fed).
    ///
    /// A server checks this after the line carrying `AUTH TLS`: anything here was pipelined in
    /// plaintext and must be dropped with [`discard_buffered`](Self::discard_buffered).
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Drops every buffered byte and any partial line or Telnet sequence; returns how many
    /// bytes were dropped.
    ///
    /// Options already refused stay refused, and queued Telnet answers stay queued.
    pub fn discard_buffered(&mut self) -> usize {
        let n = self.buf.len();
        self.buf.clear();
        self.scanned = 0;
        self.telnet = Telnet::Data;
        self.iac_at = 0;
        self.dirty = false;
        self.clean.clear();
        self.urgent = false;
        self.discarding = false;
        n
    }

    /// Takes the queued Telnet answers (`IAC WONT x`, `IAC DONT x`) to send to the peer.
    ///
    /// Returns `None` when nothing is queued. The queue never exceeds 1536 bytes: each option
    /// is refused at most once in each direction.
    pub fn take_telnet_replies(&mut self) -> Option<Bytes> {
        if self.replies.is_empty() {
            None
        } else {
            Some(self.replies.split().freeze())
        }
    }

    /// Skips ordinary data bytes in bulk (copying them when the line is dirty).
    fn skip_plain_run(&mut self, max: usize) {
        if self.telnet != Telnet::Data {
            return;
        }
        let start = self.scanned;
        let rest = self.buf.get(start..).unwrap_or_default();
        // Bytes before index `max` cannot make the line overlong.
        let limit = if self.discarding {
            rest.len()
        } else {
            rest.len().min(max.saturating_sub(start))
        };
        let window = rest.get(..limit).unwrap_or(rest);
        let run = window
            .iter()
            .position(|&b| b == LF || b == IAC)
            .unwrap_or(window.len());
        if self.dirty && !self.discarding {
            self.clean
                .extend_from_slice(window.get(..run).unwrap_or(window));
        }
        self.scanned = start + run;
    }

    /// Runs one raw byte at index `i` through the Telnet and framing state machines.
    fn step(&mut self, b: u8, i: usize) -> Option<Line> {
        match self.telnet {
            Telnet::Data => {
                if b == LF {
                    return self.end_line(i);
                }
                if b == IAC {
                    self.telnet = Telnet::Iac;
                    self.iac_at = i;
                } else {
                    self.literal(b);
                }
            }
            Telnet::Iac => {
                self.telnet = Telnet::Data;
                match b {
                    IAC => {
                        self.make_dirty();
                        self.literal(IAC);
                    }
                    WILL | WONT | DO | DONT => {
                        self.make_dirty();
                        self.telnet = Telnet::Opt(b);
                    }
                    IP | DM => {
                        self.make_dirty();
                        if !self.discarding {
                            self.urgent = true;
                        }
                    }
                    FIRST_COMMAND.. => self.make_dirty(),
                    _ => {
                        self.literal(IAC);
                        if b == LF {
                            return self.end_line(i);
                        }
                        self.literal(b);
                    }
                }
            }
            Telnet::Opt(verb) => {
                self.telnet = Telnet::Data;
                self.answer(verb, b);
            }
        }
        None
    }

    /// Keeps a content byte. Clean lines are sliced out of `buf` later, so nothing to do.
    fn literal(&mut self, b: u8) {
        if self.dirty && !self.discarding {
            self.clean.put_u8(b);
        }
    }

    /// Switches the current line to copy mode at the pending `IAC`.
    fn make_dirty(&mut self) {
        if self.dirty || self.discarding {
            return;
        }
        self.clean.clear();
        self.clean
            .extend_from_slice(self.buf.get(..self.iac_at).unwrap_or_default());
        self.dirty = true;
    }

    /// Handles the terminating LF at index `i`.
    fn end_line(&mut self, i: usize) -> Option<Line> {
        let consumed = i + 1;
        if self.discarding {
            self.buf.advance(consumed);
            self.scanned = 0;
            self.discarding = false;
            self.urgent = false;
            return None;
        }
        let bytes = if self.dirty {
            if self.clean.last() == Some(&CR) {
                self.clean.truncate(self.clean.len() - 1);
            }
            self.dirty = false;
            self.buf.advance(consumed);
            self.clean.split().freeze()
        } else {
            let end = match i.checked_sub(1) {
                Some(before) if self.buf.get(before) == Some(&CR) => before,
                _ => i,
            };
            let line = self.buf.split_to(end).freeze();
            self.buf.advance(consumed - end);
            line
        };
        self.scanned = 0;
        let urgent = std::mem::take(&mut self.urgent);
        Some(Line { bytes, urgent })
    }

    fn start_discarding(&mut self) {
        self.discarding = true;
        self.dirty = false;
        self.clean.clear();
        self.urgent = false;
    }

    /// Forgets the scanned bytes of a line being dropped, so an endless line costs no memory.
    fn drop_scanned(&mut self) {
        self.buf.advance(self.scanned);
        self.scanned = 0;
    }

    fn answer(&mut self, verb: u8, option: u8) {
        if !self.config.answer_telnet {
            return;
        }
        let (set, reply) = match verb {
            DO => (&mut self.refused_do, WONT),
            WILL => (&mut self.refused_will, DONT),
            _ => return,
        };
        let bit = 1u64 << (option & 63);
        if let Some(word) = set.get_mut(usize::from(option >> 6)) {
            if *word & bit == 0 {
                *word |= bit;
                self.replies.put_slice(&[IAC, reply, option]);
            }
        }
    }
}

/// Appends `data` with every `0xFF` doubled to `IAC IAC`, as RFC 959 and RFC 3659 §2.2 require
/// for bytes sent on the control connection.
pub fn escape_iac(data: &[u8], out: &mut BytesMut) {
    out.reserve(data.len());
    let mut rest = data;
    while let Some(pos) = rest.iter().position(|&b| b == IAC) {
        let (run, tail) = rest.split_at(pos + 1);
        out.put_slice(run);
        out.put_u8(IAC);
        rest = tail;
    }
    out.put_slice(rest);
}

/// Appends `line` as one control-channel line: `0xFF` doubled, then CRLF.
///
/// The caller must not pass a line containing LF: it would be read as two lines.
/// [`LineDecoder`] gives back exactly `line` for any other input.
pub fn encode_line(line: &[u8], out: &mut BytesMut) {
    escape_iac(line, out);
    out.put_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Out {
        Line(Vec<u8>, bool),
        TooLong,
    }

    /// Feeds `chunks` in order, decoding after each; returns what came out, the Telnet answers
    /// and what stayed buffered.
    fn run(config: LineConfig, chunks: &[&[u8]]) -> (Vec<Out>, Vec<u8>, Vec<u8>) {
        let mut dec = LineDecoder::new(config);
        let mut out = Vec::new();
        let mut replies = Vec::new();
        for chunk in chunks {
            let mut rest: &[u8] = chunk;
            loop {
                let n = dec.feed(rest);
                rest = &rest[n..];
                loop {
                    match dec.decode() {
                        Ok(Some(line)) => {
                            assert!(line.as_bytes().len() <= dec.config().max_line_len);
                            out.push(Out::Line(line.as_bytes().to_vec(), line.is_urgent()))
                        }
                        Ok(None) => break,
                        Err(e) => {
                            assert_eq!(e.reply_code(), 500);
                            out.push(Out::TooLong)
                        }
                    }
                }
                if let Some(r) = dec.take_telnet_replies() {
                    replies.extend_from_slice(&r);
                }
                assert!(dec.buffered().len() <= dec.config().max_buffered);
                if rest.is_empty() {
                    break;
                }
            }
        }
        (out, replies, dec.buffered().to_vec())
    }

    fn l(bytes: &[u8]) -> Out {
        Out::Line(bytes.to_vec(), false)
    }

    fn urgent(bytes: &[u8]) -> Out {
        Out::Line(bytes.to_vec(), true)
    }

    const MAX: usize = 16;

    /// (input, lines, Telnet answers) with a 16-byte line cap; every input ends on a line end.
    #[allow(clippy::type_complexity)]
    fn vectors() -> Vec<(&'static [u8], Vec<Out>, &'static [u8])> {
        vec![
            (b"USER a\r\n", vec![l(b"USER a")], b""),
            (b"USER a\n", vec![l(b"USER a")], b""),
            (b"\r\n", vec![l(b"")], b""),
            (b"\n", vec![l(b"")], b""),
            (b"\r\r\n", vec![l(b"\r")], b""),
            (b"A\rB\r\n", vec![l(b"A\rB")], b""),
            (b"MKD foo\r\0\nb\r\n", vec![l(b"MKD foo\r\0"), l(b"b")], b""),
            (b"NUL\0\x01\r\n", vec![l(b"NUL\0\x01")], b""),
            (
                b"USER a\r\nPASS b\r\nPWD\r\n",
                vec![l(b"USER a"), l(b"PASS b"), l(b"PWD")],
                b"",
            ),
            (b"STOR a\xff\xffb\r\n", vec![l(b"STOR a\xffb")], b""),
            (b"\xff\xff\xff\xff\r\n", vec![l(b"\xff\xff")], b""),
            (b"\xff\xf4\xff\xf2ABOR\r\n", vec![urgent(b"ABOR")], b""),
            (b"\xff\xf4\r\nNOOP\r\n", vec![urgent(b""), l(b"NOOP")], b""),
            (b"NO\xff\xfd\x01OP\r\n", vec![l(b"NOOP")], b"\xff\xfc\x01"),
            (b"NO\xff\xfb\x03OP\r\n", vec![l(b"NOOP")], b"\xff\xfe\x03"),
            // DONT and WONT are not answered, and each option is refused once only.
            (
                b"\xff\xfe\x01\xff\xfc\x01\xff\xfd\x01\xff\xfd\x01A\n",
                vec![l(b"A")],
                b"\xff\xfc\x01",
            ),
            // The option byte is never a line end.
            (b"A\xff\xfd\nB\r\n", vec![l(b"AB")], b"\xff\xfc\n"),
            (b"A\xff\xfd\r\n", vec![l(b"A")], b"\xff\xfc\r"),
            (b"A\xff\xf1\xf9\xf6B\r\n", vec![l(b"A\xf9\xf6B")], b""),
            (b"A\xff\xf1\xff\xf9\xff\xf6B\r\n", vec![l(b"AB")], b""),
            // IAC before a non-command byte: both kept, the byte keeps its meaning.
            (b"A\xffB\r\n", vec![l(b"A\xffB")], b""),
            (b"A\xff\r\n", vec![l(b"A\xff")], b""),
            (b"A\xff\n", vec![l(b"A\xff")], b""),
            // A CR before a removed sequence is still the terminator's CR.
            (b"A\r\xff\xf1\n", vec![l(b"A")], b""),
            // Exactly at the cap, with CRLF and with LF.
            (b"0123456789abcdef\r\n", vec![l(b"0123456789abcdef")], b""),
            (b"0123456789abcdef\n", vec![l(b"0123456789abcdef")], b""),
            (
                b"0123456789abcdef\rX\nOK\n",
                vec![Out::TooLong, l(b"OK")],
                b"",
            ),
            (
                b"0123456789abcdefg\r\nNOOP\r\n",
                vec![Out::TooLong, l(b"NOOP")],
                b"",
            ),
            (
                b"0123456789abcdef0123456789abcdef0123456789\nA\n",
                vec![Out::TooLong, l(b"A")],
                b"",
            ),
            // The cap counts wire bytes: doubled 0xFF count twice.
            (
                b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\r\n",
                vec![l(&[0xff; 8])],
                b"",
            ),
            (
                b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\n",
                vec![Out::TooLong],
                b"",
            ),
            // Telnet is still answered inside a dropped line, and the option byte LF does
            // not end it.
            (
                b"0123456789abcdefgh\xff\xfd\nij\nA\n",
                vec![Out::TooLong, l(b"A")],
                b"\xff\xfc\n",
            ),
            // Urgency inside a dropped line does not leak to the next one.
            (
                b"\xff\xf40123456789abcdefgh\nA\n",
                vec![Out::TooLong, l(b"A")],
                b"",
            ),
        ]
    }

    fn config() -> LineConfig {
        LineConfig::default().max_line_len(MAX)
    }

    #[test]
    fn vectors_whole_bytewise_and_every_split() {
        for (input, want, want_replies) in vectors() {
            let whole = run(config(), &[input]);
            assert_eq!(whole.0, want, "whole {input:?}");
            assert_eq!(whole.1, want_replies, "replies {input:?}");
            assert!(whole.2.is_empty(), "leftover {input:?}");

            let bytes: Vec<&[u8]> = input.chunks(1).collect();
            assert_eq!(run(config(), &bytes), whole, "bytewise {input:?}");

            for cut in 0..=input.len() {
                let (a, b) = input.split_at(cut);
                assert_eq!(run(config(), &[a, b]), whole, "split at {cut} {input:?}");
            }
        }
    }

    #[test]
    fn vectors_with_trailing_partial_line() {
        for (input, want, _) in vectors() {
            let mut data = input.to_vec();
            data.extend_from_slice(b"RETR x\r");
            let (out, _, left) = run(config(), &[&data]);
            assert_eq!(out, want, "{input:?}");
            assert_eq!(left, b"RETR x\r", "{input:?}");
        }
    }

    #[test]
    fn encode_table_both_ways() {
        let table: &[(&[u8], &[u8])] = &[
            (b"USER a", b"USER a\r\n"),
            (b"", b"\r\n"),
            (b"STOR \xff", b"STOR \xff\xff\r\n"),
            (b"\xff\xff", b"\xff\xff\xff\xff\r\n"),
            (b"a\r", b"a\r\r\n"),
        ];
        for &(line, wire) in table {
            let mut out = BytesMut::new();
            encode_line(line, &mut out);
            assert_eq!(&out[..], wire);
            let (got, replies, left) = run(config(), &[wire]);
            assert_eq!(got, vec![l(line)]);
            assert!(replies.is_empty() && left.is_empty());
        }
    }

    #[test]
    fn endless_line_stays_bounded_and_resyncs() {
        let mut dec = LineDecoder::new(LineConfig::default().max_line_len(100).max_buffered(0));
        assert_eq!(dec.config().max_buffered, 102);
        let junk = [b'x'; 1000];
        let mut errors = 0;
        for _ in 0..1000 {
            let mut rest: &[u8] = &junk;
            while !rest.is_empty() {
                let n = dec.feed(rest);
                assert!(n > 0);
                rest = &rest[n..];
                loop {
                    match dec.decode() {
                        Ok(None) => break,
                        Ok(Some(line)) => panic!("unexpected line {line:?}"),
                        Err(_) => errors += 1,
                    }
                }
                assert!(dec.buffered().len() <= 102);
            }
        }
        assert_eq!(errors, 1);
        dec.feed(b"\nQUIT\r\n");
        assert_eq!(
            dec.decode(),
            Ok(Some(Line::new(Bytes::from_static(b"QUIT"), false)))
        );
        assert_eq!(dec.decode(), Ok(None));
    }

    #[test]
    fn auth_tls_pipelining_is_visible_and_discardable() {
        let mut dec = LineDecoder::default();
        dec.feed(b"AUTH TLS\r\nUSER evil\r\nPA");
        let line = dec.decode().unwrap().unwrap();
        assert_eq!(line.as_bytes(), b"AUTH TLS");
        assert_eq!(dec.buffered(), b"USER evil\r\nPA");
        assert_eq!(dec.discard_buffered(), 13);
        assert_eq!(dec.buffered(), b"");
        assert_eq!(dec.decode(), Ok(None));
    }

    #[test]
    fn buffered_stays_raw_for_a_partial_dirty_line() {
        let mut dec = LineDecoder::default();
        dec.feed(b"A\xff\xff\xff\xf1B");
        assert_eq!(dec.decode(), Ok(None));
        assert_eq!(dec.buffered(), b"A\xff\xff\xff\xf1B");
        dec.discard_buffered();
        dec.feed(b"C\n");
        assert_eq!(dec.decode().unwrap().unwrap().as_bytes(), b"C");
    }

    #[test]
    fn full_buffer_of_pipelined_lines_drains() {
        let mut dec = LineDecoder::new(LineConfig::default().max_line_len(8).max_buffered(10));
        let input = b"NOOP\r\n".repeat(10);
        let mut rest: &[u8] = &input;
        let mut lines = 0;
        while !rest.is_empty() {
            let n = dec.feed(rest);
            rest = &rest[n..];
            while let Some(line) = dec.decode().unwrap() {
                assert_eq!(line.as_bytes(), b"NOOP");
                lines += 1;
            }
        }
        assert_eq!(lines, 10);
    }

    #[test]
    fn telnet_answers_are_bounded() {
        let mut input = Vec::new();
        for _ in 0..3 {
            for opt in 0..=255u8 {
                input.extend_from_slice(&[IAC, DO, opt, IAC, WILL, opt]);
            }
        }
        input.push(b'\n');
        let (out, replies, _) = run(
            LineConfig::default()
                .max_line_len(1 << 20)
                .max_buffered(1 << 21),
            &[&input],
        );
        assert_eq!(out, vec![l(b"")]);
        assert_eq!(replies.len(), 256 * 2 * 3);
        let (_, none, _) = run(
            LineConfig::default()
                .max_line_len(1 << 20)
                .answer_telnet(false),
            &[&input],
        );
        assert!(none.is_empty());
    }

    #[test]
    fn clean_lines_share_the_input_buffer() {
        let mut dec = LineDecoder::default();
        dec.feed(b"USER a\r\nPASS b\r\n");
        let a = dec.decode().unwrap().unwrap();
        let b = dec.decode().unwrap().unwrap();
        // Both lines are views into one allocation: PASS follows USER's CRLF.
        let gap = b.as_bytes().as_ptr() as usize - a.as_bytes().as_ptr() as usize;
        assert_eq!(gap, 8);
    }
}
