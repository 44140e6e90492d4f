//! Listing bytes from the data connection, split into lines and parsed as they arrive.

use bytes::Bytes;

use crate::listing::{parse_list_line, parse_mlsx_line};
use crate::time::Timestamp;

use super::types::{Listing, OpError, Outcome};

/// Which parser the lines go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListKind {
    /// LIST: Unix or DOS lines; `now` dates the Unix lines that show a time of day.
    List(Option<Timestamp>),
    /// NLST: one name per line.
    Names,
    /// MLSD: RFC 3659 fact lines.
    Mlsd,
}

/// A listing being received: a bounded partial line plus what was parsed so far.
#[derive(Debug)]
pub(crate) struct ListingParser {
    kind: ListKind,
    line: Vec<u8>,
    entries: Vec<crate::listing::Entry>,
    names: Vec<Bytes>,
    skipped: usize,
    overflow: bool,
    max_entries: usize,
    max_line: usize,
}

impl ListingParser {
    pub(crate) fn new(kind: ListKind, max_entries: usize, max_line: usize) -> Self {
        ListingParser {
            kind,
            line: Vec::new(),
            entries: Vec::new(),
            names: Vec::new(),
            skipped: 0,
            overflow: false,
            max_entries,
            max_line,
        }
    }

    /// Takes more bytes of the listing; each byte is looked at once.
    pub(crate) fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() && !self.overflow {
            match data.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    let (head, rest) = data.split_at(i);
                    if !self.push_partial(head) {
                        return;
                    }
                    data = rest.get(1..).unwrap_or_default();
                    let line = std::mem::take(&mut self.line);
                    self.parse(&line);
                    self.line = line;
                    self.line.clear();
                }
                None => {
                    self.push_partial(data);
                    return;
                }
            }
        }
    }

    fn push_partial(&mut self, part: &[u8]) -> bool {
        if self.line.len().saturating_add(part.len()) > self.max_line {
            self.overflow = true;
            self.line = Vec::new();
            return false;
        }
        self.line.extend_from_slice(part);
        true
    }

    fn count(&self) -> usize {
        self.entries.len() + self.names.len()
    }

    fn parse(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return;
        }
        if self.count() >= self.max_entries {
            self.overflow = true;
            return;
        }
        match self.kind {
            ListKind::List(now) => match parse_list_line(line, now) {
                Ok(Some(e)) => self.entries.push(e),
                Ok(None) => {}
                Err(_) => self.skipped += 1,
            },
            ListKind::Mlsd => match parse_mlsx_line(line) {
                Ok(e) => self.entries.push(e),
                Err(_) => self.skipped += 1,
            },
            ListKind::Names => self.names.push(Bytes::copy_from_slice(line)),
        }
    }

    /// The result at the end of the data, with a last line that had no line end.
    pub(crate) fn finish(mut self) -> Result<Outcome, OpError> {
        if !self.overflow && !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.parse(&line);
        }
        if self.overflow {
            return Err(OpError::ListingTooLarge);
        }
        Ok(match self.kind {
            ListKind::Names => Outcome::Names(self.names),
            _ => Outcome::Listing(Listing {
                entries: self.entries,
                skipped: self.skipped,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::EntryKind;

    #[test]
    fn lines_split_across_chunks_and_unterminated_last_line() {
        let mut p = ListingParser::new(ListKind::Mlsd, 10, 100);
        for chunk in [
            &b"type=file;size=3; a"[..],
            b"\r\ntype=dir; b\r",
            b"\ntype=file; c",
        ] {
            p.feed(chunk);
        }
        let Ok(Outcome::Listing(l)) = p.finish() else {
            panic!("listing expected")
        };
        let names: Vec<_> = l.entries.iter().map(|e| e.name.clone()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(l.entries[0].size, Some(3));
        assert_eq!(l.entries[1].kind, EntryKind::Dir);
    }

    #[test]
    fn caps_fail_the_listing() {
        let mut p = ListingParser::new(ListKind::Names, 2, 100);
        p.feed(b"a\nb\nc\n");
        assert_eq!(p.finish(), Err(OpError::ListingTooLarge));
        let mut p = ListingParser::new(ListKind::Names, 10, 4);
        p.feed(b"abcdefgh\n");
        assert_eq!(p.finish(), Err(OpError::ListingTooLarge));
    }

    #[test]
    fn list_lines_unix_dos_and_junk() {
        let mut p = ListingParser::new(ListKind::List(None), 10, 200);
        p.feed(b"total 3\r\n-rw-r--r--   1 u g   42 Jan  1  2020 f.txt\r\n");
        p.feed(b"01-02-20  10:00AM       <DIR>          sub\r\nnot a listing\r\n");
        let Ok(Outcome::Listing(l)) = p.finish() else {
            panic!("listing expected")
        };
        assert_eq!(l.entries.len(), 2);
        assert_eq!(&l.entries[0].name[..], b"f.txt");
        assert_eq!(l.entries[0].size, Some(42));
        assert!(l.entries[1].kind.is_dir());
        assert_eq!(l.skipped, 1);
    }
}
