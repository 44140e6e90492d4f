//! Parsers for the texts of replies a client has to read: pure functions on bytes.

use bytes::Bytes;

use super::ReplyError;
use crate::time::Timestamp;

/// Reads the pathname of a 257 reply (PWD, MKD): the text between the first `"` and the
/// closing one, with each `""` inside read as one `"` (RFC 959 Appendix II).
///
/// Call it with the reply text (e.g. [`Reply::text`](super::Reply::text)). Text before the
/// first quote is allowed (`there is rubbish all over "/path"`), and so is any text after the
/// closing quote. Errors: [`ReplyError::PathMissing`] if there is no quote or the path is empty,
/// [`ReplyError::PathUnterminated`] if the closing quote is missing, and
/// [`ReplyError::ControlByte`] for a byte below 0x20 inside the quotes (a CR there could later
/// be sent in a command).
pub fn parse_257(text: &[u8]) -> Result<Bytes, ReplyError> {
    let open = text
        .iter()
        .position(|&b| b == b'"')
        .ok_or(ReplyError::PathMissing)?;
    let quoted = text.get(open + 1..).unwrap_or_default();
    let mut path = Vec::with_capacity(quoted.len());
    let mut bytes = quoted.iter().copied().peekable();
    loop {
        match bytes.next() {
            None => return Err(ReplyError::PathUnterminated),
            Some(b'"') if bytes.peek() == Some(&b'"') => {
                bytes.next();
                path.push(b'"');
            }
            Some(b'"') => break,
            Some(b) if b < 0x20 => return Err(ReplyError::ControlByte),
            Some(b) => path.push(b),
        }
    }
    if path.is_empty() {
        return Err(ReplyError::PathMissing);
    }
    Ok(Bytes::from(path))
}

/// Reads the size of a `213` SIZE reply: decimal digits, spaces around them allowed
/// (RFC 3659 §4.2 `213 SP 1*DIGIT`).
///
/// Errors: [`ReplyError::Size`] for anything but digits (no sign, no separators) and
/// [`ReplyError::SizeOverflow`] past `u64::MAX`. For servers that decorate the number, see
/// [`parse_size_lenient`].
pub fn parse_size(text: &[u8]) -> Result<u64, ReplyError> {
    parse_decimal(text.trim_ascii())
}

/// Reads the size of a `213` SIZE reply from the digits at the end of its text.
///
/// Copes with servers that add words before the number, such as `file: 213, Size =51`
/// (curl test 337), by reading the last run of digits, trailing spaces ignored. Errors as
/// [`parse_size`]; text that does not end in a digit is [`ReplyError::Size`].
pub fn parse_size_lenient(text: &[u8]) -> Result<u64, ReplyError> {
    let text = text.trim_ascii_end();
    let start = text
        .iter()
        .rposition(|b| !b.is_ascii_digit())
        .map_or(0, |i| i + 1);
    parse_decimal(text.get(start..).unwrap_or_default())
}

/// Reads the time of a `213` MDTM reply: an RFC 3659 `time-val` in UTC, spaces around it
/// allowed.
///
/// Errors: [`ReplyError::Time`] when the text is not `YYYYMMDDHHMMSS[.fraction]` or names no
/// real instant (e.g. `2003040a102659`, curl test 1684).
pub fn parse_mdtm(text: &[u8]) -> Result<Timestamp, ReplyError> {
    Ok(Timestamp::parse_time_val(text.trim_ascii())?)
}

/// Reads the transfer size a `150` reply may announce as `(N bytes)`, as curl does.
///
/// Call it with the text of a 150 reply to RETR, e.g.
/// `Opening BINARY mode data connection for file (1234 bytes).` gives `Some(1234)`. Returns
/// `None` when the text holds no `(` digits ` bytes` group or the number overflows `u64`: the
/// size is only a hint.
pub fn parse_size_hint(text: &[u8]) -> Option<u64> {
    let mut rest = text;
    while let Some(open) = rest.iter().position(|&b| b == b'(') {
        rest = rest.get(open + 1..).unwrap_or_default();
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let (number, tail) = rest.split_at(digits);
        if digits > 0
            && tail
                .get(..6)
                .is_some_and(|t| t.eq_ignore_ascii_case(b" bytes"))
        {
            return parse_decimal(number).ok();
        }
    }
    None
}

/// Reads the file name from the `125`/`150` reply to STOU: the text `FILE: name`
/// (RFC 1123 §4.1.2.9).
///
/// `FILE:` may be in any case, and spaces before it and after the colon are skipped; the rest
/// of the line is the name. Errors: [`ReplyError::FileNameMissing`] if the text has no such
/// form or the name is empty, and [`ReplyError::ControlByte`] for a byte below 0x20 in the name.
pub fn parse_stou_name(text: &[u8]) -> Result<Bytes, ReplyError> {
    let text = text.trim_ascii_start();
    let rest = match text.split_at_checked(5) {
        Some((head, rest)) if head.eq_ignore_ascii_case(b"FILE:") => rest,
        _ => return Err(ReplyError::FileNameMissing),
    };
    let name = rest.trim_ascii_start();
    let name = name.split(|&b| b == b'\n').next().unwrap_or_default();
    if name.is_empty() {
        return Err(ReplyError::FileNameMissing);
    }
    if name.iter().any(|&b| b < 0x20) {
        return Err(ReplyError::ControlByte);
    }
    Ok(Bytes::copy_from_slice(name))
}

/// Reads `1*DIGIT` as a `u64`, refusing anything else and overflow.
fn parse_decimal(digits: &[u8]) -> Result<u64, ReplyError> {
    if digits.is_empty() {
        return Err(ReplyError::Size);
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        if !b.is_ascii_digit() {
            return Err(ReplyError::Size);
        }
        acc.checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or(ReplyError::SizeOverflow)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::TimeError;

    type Row = (&'static [u8], Result<&'static [u8], ReplyError>);

    #[test]
    fn pathname_257() {
        let table: &[Row] = &[
            (b"\"/home/user\" is current directory", Ok(b"/home/user")),
            (b"\"/\"\"hello\"\"\"", Ok(b"/\"hello\"")),
            (b"\"/\"\"\" created", Ok(b"/\"")),
            (
                b"there is rubbish all over \"/this/is/the/path\"",
                Ok(b"/this/is/the/path"),
            ),
            (b"\"/caf\xc3\xa9 \xff\"", Ok(b"/caf\xc3\xa9 \xff")),
            (b"\"Only one", Err(ReplyError::PathUnterminated)),
            (b"\"", Err(ReplyError::PathUnterminated)),
            (b"\"abc\"\"", Err(ReplyError::PathUnterminated)),
            (b"\"\"", Err(ReplyError::PathMissing)),
            (b"", Err(ReplyError::PathMissing)),
            (b"/no/quotes", Err(ReplyError::PathMissing)),
            (b"\"/\r\"", Err(ReplyError::ControlByte)),
            (b"\"/\x03\"", Err(ReplyError::ControlByte)),
            (b"\"/a\nb\"", Err(ReplyError::ControlByte)),
            (b"\"/a\0\"", Err(ReplyError::ControlByte)),
        ];
        for (text, want) in table {
            let got = parse_257(text);
            assert_eq!(
                got.as_ref().map(|b| &b[..]),
                want.as_ref().map(|b| *b),
                "{text:?}"
            );
        }
    }

    #[test]
    fn sizes() {
        let strict: &[(&[u8], Result<u64, ReplyError>)] = &[
            (b"51", Ok(51)),
            (b" 0 ", Ok(0)),
            (b"18446744073709551615", Ok(u64::MAX)),
            (b"18446744073709551616", Err(ReplyError::SizeOverflow)),
            (b"99999999999999999999999", Err(ReplyError::SizeOverflow)),
            (b"", Err(ReplyError::Size)),
            (b"-1", Err(ReplyError::Size)),
            (b"+1", Err(ReplyError::Size)),
            (b"1 2", Err(ReplyError::Size)),
            (b"1,024", Err(ReplyError::Size)),
            (b"file: 213, Size =51", Err(ReplyError::Size)),
        ];
        for (text, want) in strict {
            assert_eq!(&parse_size(text), want, "{text:?}");
        }
        let lenient: &[(&[u8], Result<u64, ReplyError>)] = &[
            (b"51", Ok(51)),
            (b"file: 213, Size =51", Ok(51)),
            (b"Size =51 ", Ok(51)),
            (b"no number", Err(ReplyError::Size)),
            (b"51 bytes", Err(ReplyError::Size)),
            (b"x99999999999999999999999", Err(ReplyError::SizeOverflow)),
        ];
        for (text, want) in lenient {
            assert_eq!(&parse_size_lenient(text), want, "{text:?}");
        }
    }

    #[test]
    fn mdtm() {
        let t = parse_mdtm(b"20020717210148").unwrap();
        assert_eq!(t.unix_seconds(), 1_026_939_708);
        let t = parse_mdtm(b" 19980308131822.123 ").unwrap();
        assert_eq!(t.subsec_nanos(), 123_000_000);
        assert_eq!(
            parse_mdtm(b"2003040a102659"),
            Err(ReplyError::Time(TimeError::Syntax))
        );
        assert_eq!(
            parse_mdtm(b"20031301000000"),
            Err(ReplyError::Time(TimeError::Range))
        );
        assert!(parse_mdtm(b"").is_err());
    }

    #[test]
    fn size_hints() {
        let table: &[(&[u8], Option<u64>)] = &[
            (
                b"Opening BINARY mode data connection for file (1234 bytes).",
                Some(1234),
            ),
            (b"Opening (in BINARY mode) for f (77 Bytes)", Some(77)),
            (b"Opening data connection (0 bytes)", Some(0)),
            (b"Here comes the directory listing.", None),
            (b"(bytes)", None),
            (b"(12bytes)", None),
            (b"(12 byte", None),
            (b"( 12 bytes)", None),
            (b"(", None),
            (b"(99999999999999999999999 bytes)", None),
        ];
        for (text, want) in table {
            assert_eq!(parse_size_hint(text), *want, "{text:?}");
        }
    }

    #[test]
    fn stou_names() {
        let table: &[Row] = &[
            (b"FILE: pureftpd.5f3a1b", Ok(b"pureftpd.5f3a1b")),
            (b"FILE:name", Ok(b"name")),
            (b"  file:  a b ", Ok(b"a b ")),
            (b"Transfer complete", Err(ReplyError::FileNameMissing)),
            (b"FILE: ", Err(ReplyError::FileNameMissing)),
            (b"FILE", Err(ReplyError::FileNameMissing)),
            (b"FILE: a\rb", Err(ReplyError::ControlByte)),
        ];
        for (text, want) in table {
            let got = parse_stou_name(text);
            assert_eq!(
                got.as_ref().map(|b| &b[..]),
                want.as_ref().map(|b| *b),
                "{text:?}"
            );
        }
    }
}
