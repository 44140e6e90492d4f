//! The streaming TYPE A (ASCII) line-ending transform of the data connection.
//!
//! On the wire a TYPE A line ends in CRLF (RFC 959 §3.1.1.1); locally it ends in LF.
//!
//! - [`ToNetwork`] reads local text, where LF ends a line: every LF goes out as CRLF, except
//!   that a CR already directly before the LF is not doubled (a file with CRLF endings is sent
//!   unchanged instead of as CR CR LF). A CR elsewhere passes through unchanged; the RFC 854
//!   `CR NUL` form of a bare CR is not produced, as no FTP peer expects it.
//! - [`FromNetwork`] turns every CRLF into LF and keeps any other CR.
//!
//! Both take input in chunks of any size and give the same output as for the whole input at
//! once: a CR at the end of a chunk is held until the next chunk shows whether LF follows.
//! Call `finish` at the end of the stream to flush it. For text without CR,
//! `FromNetwork(ToNetwork(x)) == x`.

use bytes::BufMut;

const CR: u8 = b'\r';
const LF: u8 = b'\n';

/// Local text to TYPE A network form: LF becomes CRLF.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToNetwork {
    /// Whether the last byte written was a CR (possibly in an earlier chunk).
    after_cr: bool,
}

impl ToNetwork {
    /// A transformer at the start of a stream.
    pub fn new() -> Self {
        ToNetwork::default()
    }

    /// Appends the network form of `input` to `out` (at most `2 * input.len()` bytes).
    pub fn transform<B: BufMut>(&mut self, input: &[u8], out: &mut B) {
        let mut rest = input;
        while let Some(pos) = rest.iter().position(|&b| b == LF) {
            let (run, tail) = rest.split_at(pos);
            out.put_slice(run);
            let cr_before = match run.last() {
                Some(&b) => b == CR,
                None => self.after_cr,
            };
            if cr_before {
                out.put_u8(LF);
            } else {
                out.put_slice(b"\r\n");
            }
            self.after_cr = false;
            rest = tail.get(1..).unwrap_or_default();
        }
        if let Some(&last) = rest.last() {
            self.after_cr = last == CR;
        }
        out.put_slice(rest);
    }

    /// Ends the stream. Nothing is held back in this direction, so nothing is written; it
    /// exists so both directions are driven the same way.
    pub fn finish<B: BufMut>(&mut self, out: &mut B) {
        let _ = out;
        self.after_cr = false;
    }
}

/// TYPE A network form to local text: CRLF becomes LF.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FromNetwork {
    /// A CR seen at the end of the previous chunk and not written yet.
    held_cr: bool,
}

impl FromNetwork {
    /// A transformer at the start of a stream.
    pub fn new() -> Self {
        FromNetwork::default()
    }

    /// Appends the local form of `input` to `out` (at most `input.len() + 1` bytes).
    ///
    /// A CR that ends `input` is held back until the next call or [`finish`](Self::finish).
    pub fn transform<B: BufMut>(&mut self, input: &[u8], out: &mut B) {
        let mut rest = input;
        if rest.is_empty() {
            return;
        }
        if self.held_cr {
            self.held_cr = false;
            if rest.first() == Some(&LF) {
                out.put_u8(LF);
                rest = rest.get(1..).unwrap_or_default();
            } else {
                out.put_u8(CR);
            }
        }
        while let Some(pos) = rest.iter().position(|&b| b == CR) {
            let (run, tail) = rest.split_at(pos);
            out.put_slice(run);
            match tail.get(1) {
                Some(&LF) => {
                    out.put_u8(LF);
                    rest = tail.get(2..).unwrap_or_default();
                }
                Some(_) => {
                    out.put_u8(CR);
                    rest = tail.get(1..).unwrap_or_default();
                }
                None => {
                    self.held_cr = true;
                    return;
                }
            }
        }
        out.put_slice(rest);
    }

    /// Ends the stream, writing a CR held back from the last chunk.
    pub fn finish<B: BufMut>(&mut self, out: &mut B) {
        if std::mem::take(&mut self.held_cr) {
            out.put_u8(CR);
        }
    }

    /// Whether a CR is held back waiting for the next chunk.
    pub fn is_holding(&self) -> bool {
        self.held_cr
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn to_net_chunks(chunks: &[&[u8]]) -> Vec<u8> {
        let mut t = ToNetwork::new();
        let mut out = Vec::new();
        for c in chunks {
            t.transform(c, &mut out);
        }
        t.finish(&mut out);
        out
    }

    fn from_net_chunks(chunks: &[&[u8]]) -> Vec<u8> {
        let mut t = FromNetwork::new();
        let mut out = Vec::new();
        for c in chunks {
            t.transform(c, &mut out);
        }
        t.finish(&mut out);
        out
    }

    /// (local, network) pairs where each direction maps one onto the other.
    const BOTH_WAYS: &[(&[u8], &[u8])] = &[
        (b"", b""),
        (b"abc", b"abc"),
        (b"a\nb\n", b"a\r\nb\r\n"),
        (b"\n", b"\r\n"),
        (b"\n\n\n", b"\r\n\r\n\r\n"),
        (b"a\rb", b"a\rb"),
        (b"\r", b"\r"),
        (b"\r\r", b"\r\r"),
        (b"x\r", b"x\r"),
        (b"\xff\x00\n", b"\xff\x00\r\n"),
    ];

    /// Inputs that only map one way.
    const TO_NET_ONLY: &[(&[u8], &[u8])] = &[
        (b"a\r\nb", b"a\r\nb"),
        (b"\r\n\n", b"\r\n\r\n"),
        (b"\r\r\n", b"\r\r\n"),
    ];
    const FROM_NET_ONLY: &[(&[u8], &[u8])] = &[
        (b"\r\r\n", b"\r\n"),
        (b"a\nb", b"a\nb"),
        (b"\r\n\r", b"\n\r"),
        (b"\r\r\r\n\r", b"\r\r\n\r"),
    ];

    fn check_all_splits(input: &[u8], want: &[u8], f: fn(&[&[u8]]) -> Vec<u8>) {
        assert_eq!(f(&[input]), want, "whole {input:?}");
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(f(&bytes), want, "bytewise {input:?}");
        for cut in 0..=input.len() {
            let (a, b) = input.split_at(cut);
            assert_eq!(f(&[a, b]), want, "split {cut} {input:?}");
        }
    }

    #[test]
    fn vectors() {
        for &(local, net) in BOTH_WAYS {
            check_all_splits(local, net, to_net_chunks);
            check_all_splits(net, local, from_net_chunks);
        }
        for &(local, net) in TO_NET_ONLY {
            check_all_splits(local, net, to_net_chunks);
        }
        for &(net, local) in FROM_NET_ONLY {
            check_all_splits(net, local, from_net_chunks);
        }
    }

    #[test]
    fn held_cr_is_visible_and_flushed() {
        let mut t = FromNetwork::new();
        let mut out = Vec::new();
        t.transform(b"abc\r", &mut out);
        assert!(t.is_holding());
        t.transform(b"", &mut out);
        assert!(t.is_holding());
        assert_eq!(out, b"abc");
        t.finish(&mut out);
        assert!(!t.is_holding());
        assert_eq!(out, b"abc\r");
    }

    /// CVE-2003-0831 shapes: files of only LF, only CR, and CRLF at every chunk edge.
    #[test]
    fn degenerate_files() {
        let lf = vec![LF; 10_000];
        let net = to_net_chunks(&lf.chunks(7).collect::<Vec<_>>());
        assert_eq!(net, b"\r\n".repeat(10_000));
        assert_eq!(from_net_chunks(&net.chunks(3).collect::<Vec<_>>()), lf);
        let cr = vec![CR; 10_000];
        assert_eq!(to_net_chunks(&cr.chunks(9).collect::<Vec<_>>()), cr);
        assert_eq!(from_net_chunks(&cr.chunks(1).collect::<Vec<_>>()), cr);
    }

    fn chunked(data: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
        cuts.sort_unstable();
        let mut parts = Vec::new();
        let mut start = 0;
        for c in cuts {
            parts.push(data[start..c].to_vec());
            start = c;
        }
        parts.push(data[start..].to_vec());
        parts
    }

    fn text() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![Just(CR), Just(LF), Just(b'a'), any::<u8>()],
            0..64,
        )
    }

    proptest! {
        #[test]
        fn chunking_does_not_matter(data in text(), cuts in proptest::collection::vec(any::<usize>(), 0..6)) {
            let parts = chunked(&data, &cuts);
            let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            prop_assert_eq!(to_net_chunks(&refs), to_net_chunks(&[&data]));
            prop_assert_eq!(from_net_chunks(&refs), from_net_chunks(&[&data]));
        }

        #[test]
        fn round_trip_without_cr(data in text(), cuts in proptest::collection::vec(any::<usize>(), 0..6)) {
            let local: Vec<u8> = data.into_iter().filter(|&b| b != CR).collect();
            let net = to_net_chunks(&[&local]);
            prop_assert_eq!(net.iter().filter(|&&b| b == LF).count(), local.iter().filter(|&&b| b == LF).count());
            let parts = chunked(&net, &cuts);
            let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            prop_assert_eq!(from_net_chunks(&refs), local);
        }

        #[test]
        fn network_form_has_no_bare_lf(data in text()) {
            let net = to_net_chunks(&[&data]);
            for (i, &b) in net.iter().enumerate() {
                if b == LF {
                    prop_assert!(i > 0 && net[i - 1] == CR);
                }
            }
        }
    }
}
