//! DOS/IIS LIST lines: `01-05-21  12:34PM       <DIR>          dirname`.

use super::{parse_digits, parse_grouped_u64, Entry, EntryKind, ListingError, Src, Tokens};
use crate::time::{Civil, Timestamp};

/// Whether the first token is a DOS date (`MM-DD-YY`, `MM-DD-YYYY`, `YYYY-MM-DD`, `/` also
/// accepted as separator).
pub(crate) fn looks_like(l: &[u8]) -> bool {
    Tokens::new(l, 0)
        .next()
        .and_then(|(s, e)| parse_date(&l[s..e]))
        .is_some()
}

/// Reads a DOS date into (year, month, day); two-digit years below 70 are 20xx (IIS and
/// Windows use that pivot).
fn parse_date(tok: &[u8]) -> Option<(i32, u8, u8)> {
    let mut parts = tok.split(|&b| b == b'-' || b == b'/');
    let a = parts.next()?;
    let b = parts.next()?;
    let c = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    let (year, month, day) = if a.len() == 4 {
        (
            parse_digits(a, 4)?,
            parse_digits(b, 2)?,
            parse_digits(c, 2)?,
        )
    } else {
        let y = match c.len() {
            2 => {
                let y = parse_digits(c, 2)?;
                if y < 70 {
                    2000 + y
                } else {
                    1900 + y
                }
            }
            4 => parse_digits(c, 4)?,
            _ => return None,
        };
        (y, parse_digits(a, 2)?, parse_digits(b, 2)?)
    };
    ((1..=12).contains(&month) && (1..=31).contains(&day)).then_some((
        year as i32,
        month as u8,
        day as u8,
    ))
}

/// Reads `HH:MM`, `HH:MMAM`/`PM` (the marker possibly in the next token) into 24-hour time.
/// Returns the time and whether the next token was consumed as the marker.
fn parse_time(tok: &[u8], next: Option<&[u8]>) -> Option<((u8, u8), bool)> {
    let colon = tok.iter().position(|&b| b == b':')?;
    let hour = parse_digits(&tok[..colon], 2)?;
    let rest = &tok[colon + 1..];
    let minute = parse_digits(rest.get(..2)?, 2)?;
    let marker = |m: &[u8]| -> Option<bool> {
        if m.eq_ignore_ascii_case(b"AM") {
            Some(false)
        } else if m.eq_ignore_ascii_case(b"PM") {
            Some(true)
        } else {
            None
        }
    };
    let (pm, consumed) = match &rest[2..] {
        [] => match next.and_then(marker) {
            Some(pm) => (Some(pm), true),
            None => (None, false),
        },
        m => (Some(marker(m)?), false),
    };
    let hour = match pm {
        None if hour < 24 => hour,
        Some(pm) if (1..=12).contains(&hour) => (hour % 12) + if pm { 12 } else { 0 },
        _ => return None,
    };
    (minute < 60).then_some(((hour as u8, minute as u8), consumed))
}

/// Parses a line that [`looks_like`] accepted.
pub(crate) fn parse(src: Src<'_>) -> Result<Entry, ListingError> {
    let l = src.line;
    let mut tokens = Tokens::new(l, 0);
    let tok = |t: Option<(usize, usize)>| t.map(|(s, e)| &l[s..e]);
    let (year, month, day) = tok(tokens.next())
        .and_then(parse_date)
        .ok_or(ListingError::Date)?;
    let time_tok = tokens.next();
    // Peek at the token after the time without losing it.
    let mut peek = Tokens::new(l, time_tok.map_or(l.len(), |t| t.1));
    let next = tok(peek.next());
    let ((hour, minute), consumed) = tok(time_tok)
        .and_then(|t| parse_time(t, next))
        .ok_or(ListingError::Date)?;
    if consumed {
        tokens = peek;
    }
    let modified = Timestamp::from_civil(Civil {
        year,
        month,
        day,
        hour,
        minute,
        second: 0,
    })
    .ok_or(ListingError::Date)?;
    let (s, e) = tokens.next().ok_or(ListingError::Size)?;
    let col = &l[s..e];
    let (kind, size) = if col.eq_ignore_ascii_case(b"<DIR>") {
        (EntryKind::Dir, None)
    } else {
        (
            EntryKind::File,
            Some(parse_grouped_u64(col).ok_or(ListingError::Size)?),
        )
    };
    // IIS pads names with a run of spaces; the name is everything after it.
    let name_start = l[e..]
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .map(|p| e + p)
        .ok_or(ListingError::MissingName)?;
    let name = &l[name_start..];
    let kind = match kind {
        EntryKind::Dir if name == b"." => EntryKind::CurrentDir,
        EntryKind::Dir if name == b".." => EntryKind::ParentDir,
        k => k,
    };
    let mut entry = Entry::new(src.take(name_start, l.len()), kind);
    entry.size = size;
    entry.modified = Some(modified);
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::super::parse_list_line;
    use super::*;

    fn ts(year: i32, month: u8, day: u8, hour: u8, minute: u8) -> Timestamp {
        Timestamp::from_civil(Civil {
            year,
            month,
            day,
            hour,
            minute,
            second: 0,
        })
        .unwrap()
    }

    /// Line, name, kind, size, modification time.
    type Row = (
        &'static [u8],
        &'static str,
        EntryKind,
        Option<u64>,
        Timestamp,
    );

    #[test]
    fn vectors() {
        let table: &[Row] = &[
            (
                b"01-05-21  12:34PM       <DIR>          dirname\r\n",
                "dirname",
                EntryKind::Dir,
                None,
                ts(2021, 1, 5, 12, 34),
            ),
            (
                b"01-05-21  12:34PM                 1234 file.txt\r\n",
                "file.txt",
                EntryKind::File,
                Some(1234),
                ts(2021, 1, 5, 12, 34),
            ),
            (
                b"12-31-99  12:00AM                    0 y2k.log",
                "y2k.log",
                EntryKind::File,
                Some(0),
                ts(1999, 12, 31, 0, 0),
            ),
            (
                b"07-04-2022  09:05AM            1,234,567 with spaces in name.zip",
                "with spaces in name.zip",
                EntryKind::File,
                Some(1_234_567),
                ts(2022, 7, 4, 9, 5),
            ),
            (
                b"07-04-2022  21:05       <DIR>          24h",
                "24h",
                EntryKind::Dir,
                None,
                ts(2022, 7, 4, 21, 5),
            ),
            (
                b"2022-07-04  09:05 PM      <DIR>          iso pm",
                "iso pm",
                EntryKind::Dir,
                None,
                ts(2022, 7, 4, 21, 5),
            ),
            (
                b"10-10-10  10:10am       <dir>          .",
                ".",
                EntryKind::CurrentDir,
                None,
                ts(2010, 10, 10, 10, 10),
            ),
            (
                b"10-10-10  10:10PM       <DIR>          ..",
                "..",
                EntryKind::ParentDir,
                None,
                ts(2010, 10, 10, 22, 10),
            ),
            (
                b"02-29-24  01:00PM                   42 leap",
                "leap",
                EntryKind::File,
                Some(42),
                ts(2024, 2, 29, 13, 0),
            ),
        ];
        for (line, name, kind, size, modified) in table {
            let text = String::from_utf8_lossy(line);
            let e = parse_list_line(line, None).unwrap().unwrap();
            assert_eq!(&e.name[..], name.as_bytes(), "{text}");
            assert_eq!(&e.kind, kind, "{text}");
            assert_eq!(e.size, *size, "{text}");
            assert_eq!(e.modified, Some(*modified), "{text}");
            assert_eq!(e.permissions, None);
            // Trailing bytes become part of the name.
            let mut longer = super::super::strip_eol(line).to_vec();
            longer.push(b'~');
            let e = parse_list_line(&longer, None).unwrap().unwrap();
            assert_eq!(e.name.last(), Some(&b'~'));
        }
    }

    #[test]
    fn rejects() {
        for (line, err) in [
            (&b"02-30-21  12:34PM  1 f"[..], ListingError::Date),
            (b"01-05-21  13:34PM  1 f", ListingError::Date),
            (b"01-05-21  00:34AM  1 f", ListingError::Date),
            (b"01-05-21  12:34PM", ListingError::Size),
            (b"01-05-21  12:34PM  x1 f", ListingError::Size),
            (b"01-05-21  12:34PM  <DIR>   ", ListingError::MissingName),
            (b"01-05-21", ListingError::Date),
        ] {
            assert_eq!(
                parse_list_line(line, None),
                Err(err),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
        assert_eq!(
            parse_list_line(b"13-05-21  12:34PM  1 f", None),
            Err(ListingError::UnknownFormat)
        );
    }
}
