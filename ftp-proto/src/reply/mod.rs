//! Replies: codes, the reply value and its encoding (server side), an incremental decoder and
//! parsers for the reply texts a client needs to read (client side).
//!
//! A [`Reply`] is a [`ReplyCode`] and a text. The text of a multi-line reply holds its lines
//! joined by LF, without the code prefixes, so `Reply::new(code, "a\nb")` and a decoded
//! `DDD-a` / `DDD b` are the same value. [`Reply::encode`] writes the wire form and makes sure no
//! text can break the framing; [`ReplyDecoder`] turns control-channel bytes back into replies.
//!
//! Parsers for reply texts: [`parse_257`] (PWD/MKD), [`parse_size`] and [`parse_size_lenient`]
//! (SIZE), [`parse_mdtm`] (MDTM), [`parse_size_hint`] (the `(N bytes)` of a 150),
//! [`parse_stou_name`] (the `FILE: name` of STOU) and [`Features`] (FEAT).

mod code;
mod decode;
mod encode;
mod feat;
mod parse;

pub use code::{ReplyClass, ReplyCode};
pub use decode::{ReplyDecoder, ReplyDecoderConfig, TerminatorPolicy};
pub use feat::{Feature, Features};
pub use parse::{
    parse_257, parse_mdtm, parse_size, parse_size_hint, parse_size_lenient, parse_stou_name,
};

use bytes::{Bytes, BytesMut};

use crate::time::TimeError;

/// Why reply bytes or a reply text could not be read.
///
/// The decoder errors (`Nul` to `UnexpectedEof`) mean the control connection is out of step and
/// the session is over; the others concern one reply's text and leave the session usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// A NUL byte in a reply line (curl test 2108).
    #[error("NUL byte in a reply line")]
    Nul,
    /// A first line that is not a code (100-699) followed by SP, `-` or the end of the line.
    #[error("reply line does not start with a reply code")]
    Syntax,
    /// A line longer than the configured cap.
    #[error("reply line longer than {max} bytes")]
    LineTooLong {
        /// The cap, [`ReplyDecoderConfig::max_line_len`].
        max: usize,
    },
    /// A multi-line reply with more lines than the configured cap.
    #[error("reply has more than {max} lines")]
    TooManyLines {
        /// The cap, [`ReplyDecoderConfig::max_lines`].
        max: usize,
    },
    /// A reply whose text is longer than the configured cap.
    #[error("reply text longer than {max} bytes")]
    ReplyTooLong {
        /// The cap, [`ReplyDecoderConfig::max_reply_len`].
        max: usize,
    },
    /// In [`TerminatorPolicy::Strict`] mode, a line
    /// inside a multi-line reply that has the form of a last line (a code, then SP or the end
    /// of the line) but another code than the first line, as glftpd sends (`553-` ... then
    /// `150 ...`). RFC 959 §4.2 has servers pad such text lines, so the line is either a wrong
    /// terminator or unpadded text, and the reply's code and where the next reply starts
    /// depend on the guess; the reply is refused as soon as the line arrives rather than read
    /// on until a last line that may never come.
    /// [`TerminatorPolicy::Lenient`] reads it as the
    /// last line instead.
    #[error("multi-line {open} reply ended by a line with code {close}")]
    MismatchedEnd {
        /// The code of the reply's first line.
        open: ReplyCode,
        /// The code of the line that looked like its last line.
        close: ReplyCode,
    },
    /// The connection closed with part of a reply buffered.
    #[error("connection closed in the middle of a reply")]
    UnexpectedEof,
    /// No quoted pathname in a 257 reply, or an empty one (`""`).
    #[error("no quoted pathname in the reply")]
    PathMissing,
    /// A quoted pathname without its closing quote (curl CVE-2017-1000254).
    #[error("quoted pathname is not terminated")]
    PathUnterminated,
    /// A control byte (below 0x20) inside a pathname or file name (curl tests 3217/3218).
    #[error("control byte in a pathname")]
    ControlByte,
    /// A SIZE reply whose text is not a decimal number.
    #[error("SIZE reply is not a decimal number")]
    Size,
    /// A SIZE reply whose number does not fit in 64 bits.
    #[error("SIZE reply does not fit in 64 bits")]
    SizeOverflow,
    /// An MDTM reply whose text is not a valid `time-val`.
    #[error("MDTM reply: {0}")]
    Time(#[from] TimeError),
    /// A STOU preliminary reply without a `FILE: name` text (RFC 1123 §4.1.2.9).
    #[error("no FILE: name in the reply")]
    FileNameMissing,
}

impl ReplyError {
    /// The reply code a server relaying this peer's reply (a proxy) would answer with.
    ///
    /// Returns 421 for the decoder errors, after which the control connection is unusable,
    /// and 451 (local error in processing) for a reply text that could not be read.
    pub fn reply_code(&self) -> u16 {
        match self {
            ReplyError::Nul
            | ReplyError::Syntax
            | ReplyError::LineTooLong { .. }
            | ReplyError::TooManyLines { .. }
            | ReplyError::ReplyTooLong { .. }
            | ReplyError::MismatchedEnd { .. }
            | ReplyError::UnexpectedEof => 421,
            _ => 451,
        }
    }
}

/// One FTP reply: a code and a text of one or more lines.
///
/// The text holds the lines joined by LF, without the `DDD-`/`DDD ` prefixes of the first and
/// last line; intermediate lines are kept as sent (with any padding space). A text without LF is
/// a single-line reply.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reply {
    code: ReplyCode,
    text: Bytes,
}

impl Reply {
    /// Makes a reply from a code and its text; each LF in `text` starts a new line.
    pub fn new(code: ReplyCode, text: impl Into<Bytes>) -> Reply {
        Reply {
            code,
            text: text.into(),
        }
    }

    /// Makes a reply from its lines (a single line makes a single-line reply).
    ///
    /// An empty list gives a single-line reply with empty text.
    pub fn from_lines<I, L>(code: ReplyCode, lines: I) -> Reply
    where
        I: IntoIterator<Item = L>,
        L: AsRef<[u8]>,
    {
        let mut text = Vec::new();
        for (i, line) in lines.into_iter().enumerate() {
            if i > 0 {
                text.push(b'\n');
            }
            text.extend_from_slice(line.as_ref());
        }
        Reply {
            code,
            text: Bytes::from(text),
        }
    }

    /// The reply code.
    pub fn code(&self) -> ReplyCode {
        self.code
    }

    /// The whole text: the lines joined by LF.
    pub fn text(&self) -> &Bytes {
        &self.text
    }

    /// Takes the text out of the reply.
    pub fn into_text(self) -> Bytes {
        self.text
    }

    /// The lines of the text, first to last (at least one, possibly empty).
    pub fn lines(&self) -> impl DoubleEndedIterator<Item = &[u8]> + '_ {
        self.text.split(|&b| b == b'\n')
    }

    /// The text of the first line (after `DDD ` or `DDD-`).
    pub fn first_line(&self) -> &[u8] {
        self.lines().next().unwrap_or_default()
    }

    /// The text of the last line (after `DDD `); the whole text for a single-line reply.
    pub fn last_line(&self) -> &[u8] {
        self.lines().next_back().unwrap_or_default()
    }

    /// The number of lines, at least 1.
    pub fn line_count(&self) -> usize {
        self.text.iter().filter(|&&b| b == b'\n').count() + 1
    }

    /// True if the reply goes on the wire as more than one line.
    pub fn is_multiline(&self) -> bool {
        self.text.contains(&b'\n')
    }

    /// Writes the reply in wire form to `out`; see [`Reply::write`] for the rules.
    pub fn encode(&self, out: &mut BytesMut) {
        Reply::write(self.code, &self.text, out);
    }

    /// Writes a reply with this code and text to `out` without building a [`Reply`].
    ///
    /// A text without LF becomes `DDD text\r\n`; an empty text becomes `DDD \r\n` (with the
    /// space, since curl only ends a reply at `DDD `). A text with LFs becomes a multi-line
    /// reply `DDD-first\r\n`, the middle lines, `DDD last\r\n`, with a CR right before an LF
    /// taken as part of the line end. So that nothing can break the framing:
    /// - a middle line that begins with a digit gets one leading space, so no client takes it
    ///   for the terminator (RFC 959 §4.2);
    /// - any other CR, and any NUL, is replaced by a space;
    /// - 0xFF is doubled (Telnet `IAC IAC`).
    pub fn write(code: ReplyCode, text: &[u8], out: &mut BytesMut) {
        encode::write(code, text, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_accessors() {
        let r = Reply::new(ReplyCode::SYSTEM_STATUS, "Features:\n UTF8\nEnd");
        assert_eq!(r.line_count(), 3);
        assert!(r.is_multiline());
        assert_eq!(r.first_line(), b"Features:");
        assert_eq!(r.last_line(), b"End");
        assert_eq!(
            r.lines().collect::<Vec<_>>(),
            [&b"Features:"[..], b" UTF8", b"End"]
        );
        assert_eq!(
            r,
            Reply::from_lines(ReplyCode::SYSTEM_STATUS, ["Features:", " UTF8", "End"])
        );

        let s = Reply::new(ReplyCode::COMMAND_OKAY, "");
        assert_eq!(s.line_count(), 1);
        assert!(!s.is_multiline());
        assert_eq!(s.first_line(), b"");
        assert_eq!(s, Reply::from_lines(ReplyCode::COMMAND_OKAY, [""; 0]));
    }

    #[test]
    fn error_reply_codes() {
        assert_eq!(ReplyError::Nul.reply_code(), 421);
        assert_eq!(ReplyError::LineTooLong { max: 1 }.reply_code(), 421);
        let mismatched = ReplyError::MismatchedEnd {
            open: ReplyCode::new(553).unwrap(),
            close: ReplyCode::new(150).unwrap(),
        };
        assert_eq!(mismatched.reply_code(), 421, "the decoder is out of step");
        assert_eq!(ReplyError::PathUnterminated.reply_code(), 451);
        assert_eq!(ReplyError::Time(TimeError::Syntax).reply_code(), 451);
    }
}
