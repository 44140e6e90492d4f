//! Reply encoding: the server side of the wire format.

use bytes::{BufMut, BytesMut};

use super::ReplyCode;

const IAC: u8 = 0xFF;

/// Writes `code` and `text` as one reply; the rules are documented on [`super::Reply::write`].
pub(super) fn write(code: ReplyCode, text: &[u8], out: &mut BytesMut) {
    let digits = code.digits();
    let breaks = text.iter().filter(|&&b| b == b'\n').count();
    // Each line adds a code or padding (4 bytes) and CRLF; doubled IACs may still grow it.
    out.reserve(
        text.len()
            .saturating_add(breaks.saturating_add(1).saturating_mul(6)),
    );
    if breaks == 0 {
        out.put_slice(&digits);
        out.put_u8(b' ');
        write_text(out, text);
        out.put_slice(b"\r\n");
        return;
    }
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        let line = match line.strip_suffix(b"\r") {
            Some(stripped) if i < breaks => stripped,
            _ => line,
        };
        if i == 0 {
            out.put_slice(&digits);
            out.put_u8(b'-');
        } else if i == breaks {
            out.put_slice(&digits);
            out.put_u8(b' ');
        } else if line.first().is_some_and(u8::is_ascii_digit) {
            out.put_u8(b' ');
        }
        write_text(out, line);
        out.put_slice(b"\r\n");
    }
}

/// Writes the text of one line: CR, LF and NUL become a space, 0xFF is doubled.
pub(super) fn write_text(out: &mut BytesMut, text: &[u8]) {
    let mut rest = text;
    while let Some(pos) = rest
        .iter()
        .position(|&b| matches!(b, b'\r' | b'\n' | 0 | IAC))
    {
        let (clean, tail) = rest.split_at(pos);
        out.put_slice(clean);
        match tail.first() {
            Some(&IAC) => out.put_slice(&[IAC, IAC]),
            _ => out.put_u8(b' '),
        }
        rest = tail.get(1..).unwrap_or_default();
    }
    out.put_slice(rest);
}

#[cfg(test)]
mod tests {
    use super::super::Reply;
    use super::*;

    fn enc(code: u16, text: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        Reply::new(ReplyCode::new(code).unwrap(), text.to_vec()).encode(&mut out);
        out.to_vec()
    }

    #[test]
    fn framing_cannot_be_broken() {
        let table: &[(u16, &[u8], &[u8])] = &[
            (200, b"", b"200 \r\n"),
            (200, b"OK", b"200 OK\r\n"),
            (200, b"a\rb\0c", b"200 a b c\r\n"),
            (200, b"trailing CR\r", b"200 trailing CR \r\n"),
            (200, b"a\xffb", b"200 a\xff\xffb\r\n"),
            (250, b"one\r\ntwo", b"250-one\r\n250 two\r\n"),
            (250, b"one\n", b"250-one\r\n250 \r\n"),
            (250, b"one\ntwo\r", b"250-one\r\n250 two \r\n"),
            (
                123,
                b"First line\nSecond line\n234 A line beginning with numbers\nThe last line",
                b"123-First line\r\nSecond line\r\n 234 A line beginning with numbers\r\n123 The last line\r\n",
            ),
            (
                550,
                b"x\n550 injected\n550-also\n\n9",
                b"550-x\r\n 550 injected\r\n 550-also\r\n\r\n550 9\r\n",
            ),
            (226, b"\r\n\r\n", b"226-\r\n\r\n226 \r\n"),
        ];
        for &(code, text, wire) in table {
            assert_eq!(enc(code, text), wire, "{:?}", String::from_utf8_lossy(text));
        }
    }
}
