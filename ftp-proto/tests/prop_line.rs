//! Property tests for control-channel framing (`ftp_proto::line`).

use bytes::BytesMut;
use ftp_proto::line::{encode_line, Line, LineConfig, LineDecoder, LineError};
use proptest::prelude::*;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Out {
    Line(Vec<u8>, bool),
    TooLong,
}

/// Splits `data` at the given cut points (taken modulo the length).
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

/// Feeds every chunk, decoding until `Ok(None)` each time; checks the bounds on the way.
fn run(config: LineConfig, chunks: &[Vec<u8>]) -> (Vec<Out>, Vec<u8>, Vec<u8>) {
    let mut dec = LineDecoder::new(config);
    let max = dec.config().max_line_len;
    let cap = dec.config().max_buffered;
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
                        assert!(line.as_bytes().len() <= max);
                        out.push(Out::Line(line.as_bytes().to_vec(), line.is_urgent()));
                    }
                    Ok(None) => break,
                    Err(LineError::TooLong { max: m }) => {
                        assert_eq!(m, max);
                        out.push(Out::TooLong);
                    }
                    Err(e) => panic!("unexpected error {e}"),
                }
            }
            assert!(dec.buffered().len() <= cap);
            if let Some(r) = dec.take_telnet_replies() {
                replies.extend_from_slice(&r);
            }
            if rest.is_empty() {
                break;
            }
            // With the buffer full, decoding must have made room.
            assert!(dec.wants_read());
        }
    }
    (out, replies, dec.buffered().to_vec())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Data(u8),
    Term,
    Urgent,
}

/// A two-pass reference: Telnet tokens first (each tagged with the raw byte index that
/// produced it), then lines. Returns (outputs, Telnet answers, expected leftover).
fn reference(input: &[u8], max: usize) -> (Vec<Out>, Vec<u8>, Vec<u8>) {
    // Pass 1: Telnet.
    let mut toks: Vec<(usize, Tok)> = Vec::new();
    let mut replies = Vec::new();
    let mut seen_do = [false; 256];
    let mut seen_will = [false; 256];
    let mut state: Option<u8> = None; // None: data; Some(255): after IAC; Some(v): after IAC v
    for (i, &b) in input.iter().enumerate() {
        match state {
            None => match b {
                b'\n' => toks.push((i, Tok::Term)),
                255 => state = Some(255),
                _ => toks.push((i, Tok::Data(b))),
            },
            Some(255) => {
                state = None;
                match b {
                    255 => toks.push((i, Tok::Data(255))),
                    251..=254 => state = Some(b),
                    244 | 242 => toks.push((i, Tok::Urgent)),
                    240..=250 => {}
                    _ => {
                        toks.push((i, Tok::Data(255)));
                        toks.push((i, if b == b'\n' { Tok::Term } else { Tok::Data(b) }));
                    }
                }
            }
            Some(verb) => {
                state = None;
                let (seen, reply) = match verb {
                    253 => (&mut seen_do, 252),
                    251 => (&mut seen_will, 254),
                    _ => continue,
                };
                if !seen[usize::from(b)] {
                    seen[usize::from(b)] = true;
                    replies.extend_from_slice(&[255, reply, b]);
                }
            }
        }
    }
    // Pass 2: lines. A line's raw length runs from its first raw byte to its LF.
    let mut outs = Vec::new();
    let mut line_start = 0usize;
    let mut cur: Vec<(usize, Tok)> = Vec::new();
    let overlong = |raw_len: usize, cur: &[(usize, Tok)], start: usize| -> bool {
        // The byte at relative index `max` may only be a data CR (the CR of CRLF).
        let last_is_data_cr = matches!(
            cur.last(),
            Some(&(i, Tok::Data(b'\r'))) if i + 1 == start + raw_len
        );
        raw_len > max + 1 || (raw_len == max + 1 && !last_is_data_cr)
    };
    for &(i, t) in &toks {
        if t != Tok::Term {
            cur.push((i, t));
            continue;
        }
        let raw_len = i - line_start;
        if overlong(raw_len, &cur, line_start) {
            outs.push(Out::TooLong);
        } else {
            let mut data: Vec<u8> = cur
                .iter()
                .filter_map(|&(_, t)| match t {
                    Tok::Data(b) => Some(b),
                    _ => None,
                })
                .collect();
            if data.last() == Some(&b'\r') {
                data.pop();
            }
            let urgent = cur.iter().any(|&(_, t)| t == Tok::Urgent);
            outs.push(Out::Line(data, urgent));
        }
        cur.clear();
        line_start = i + 1;
    }
    // The unterminated tail: overlong once its bytes show it, else still buffered.
    let tail = &input[line_start..];
    let tail_overlong = tail.len() > max + 1
        || (tail.len() == max + 1 && {
            // Overlong unless the byte at index `max` is a data CR that may precede LF.
            !matches!(cur.last(), Some(&(i, Tok::Data(b'\r'))) if i + 1 == input.len())
        });
    let leftover = if tail_overlong {
        outs.push(Out::TooLong);
        Vec::new()
    } else {
        tail.to_vec()
    };
    (outs, replies, leftover)
}

fn edgy_bytes(max_len: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            4 => Just(b'a'),
            3 => Just(b'\n'),
            3 => Just(b'\r'),
            4 => Just(255u8),
            1 => Just(253u8),
            1 => Just(251u8),
            1 => Just(254u8),
            1 => Just(244u8),
            1 => Just(242u8),
            1 => Just(241u8),
            1 => Just(0u8),
            2 => any::<u8>(),
        ],
        0..max_len,
    )
}

fn cuts() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(any::<usize>(), 0..8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Decoding matches the two-pass reference, whatever the chunking and buffer size.
    #[test]
    fn matches_reference(
        input in edgy_bytes(80),
        cuts in cuts(),
        max in 0usize..12,
        extra in 0usize..8,
    ) {
        let config = LineConfig::default().max_line_len(max).max_buffered(max + 2 + extra);
        let parts = chunked(&input, &cuts);
        let got = run(config, &parts);
        let want = reference(&input, max);
        prop_assert_eq!(got, want);
    }

    /// Encoding lines then decoding them gives them back, whatever the chunking.
    #[test]
    fn encode_decode_identity(
        lines in proptest::collection::vec(
            proptest::collection::vec(any::<u8>().prop_filter("no LF", |&b| b != b'\n'), 0..40),
            0..8,
        ),
        cuts in cuts(),
    ) {
        let mut wire = BytesMut::new();
        for line in &lines {
            encode_line(line, &mut wire);
        }
        let parts = chunked(&wire, &cuts);
        let (out, replies, left) = run(LineConfig::default().max_line_len(80), &parts);
        let want: Vec<Out> = lines.iter().map(|l| Out::Line(l.clone(), false)).collect();
        prop_assert_eq!(out, want);
        prop_assert!(replies.is_empty());
        prop_assert!(left.is_empty());
    }

    /// Arbitrary bytes: no panic, bounded memory, one output per LF at most (plus one
    /// TooLong for an overlong tail).
    #[test]
    fn arbitrary_bytes_are_bounded(input in proptest::collection::vec(any::<u8>(), 0..600), cuts in cuts()) {
        let parts = chunked(&input, &cuts);
        let config = LineConfig::default().max_line_len(32).max_buffered(40);
        let (out, replies, left) = run(config, &parts);
        let lfs = input.iter().filter(|&&b| b == b'\n').count();
        prop_assert!(out.len() <= lfs + 1);
        prop_assert!(replies.len() <= 256 * 2 * 3);
        prop_assert!(left.len() <= 33);
        prop_assert!(input.ends_with(&left));
    }

    /// Plain text lines: exactly one output per line, TooLong exactly for the long ones.
    #[test]
    fn plain_lines_one_output_each(
        lines in proptest::collection::vec(proptest::collection::vec(b'a'..=b'z', 0..40), 0..10),
        crlf in any::<bool>(),
        cuts in cuts(),
    ) {
        let max = 20;
        let mut wire = Vec::new();
        for line in &lines {
            wire.extend_from_slice(line);
            wire.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
        }
        let parts = chunked(&wire, &cuts);
        let (out, _, left) = run(LineConfig::default().max_line_len(max), &parts);
        let want: Vec<Out> = lines
            .iter()
            .map(|l| if l.len() > max { Out::TooLong } else { Out::Line(l.clone(), false) })
            .collect();
        prop_assert_eq!(out, want);
        prop_assert!(left.is_empty());
    }
}

#[test]
fn line_accessors() {
    let line = Line::new(bytes::Bytes::from_static(b"ABOR"), true);
    assert!(line.is_urgent());
    assert_eq!(line.bytes().as_ref(), b"ABOR");
    assert_eq!(line.clone().into_bytes().as_ref(), b"ABOR");
}

/// The Synch prefix BSD ftp(1) sends before ABOR, split across reads at every byte.
#[test]
fn bsd_abort_sequence_every_split() {
    let input = b"\xff\xf4\xff\xf2ABOR\r\n";
    for cut in 0..=input.len() {
        let (a, b) = input.split_at(cut);
        let (out, _, left) = run(LineConfig::default(), &[a.to_vec(), b.to_vec()]);
        assert_eq!(out, vec![Out::Line(b"ABOR".to_vec(), true)]);
        assert!(left.is_empty());
    }
}

/// proftpd bug 3521 / CVE-2010-4221 shapes: an IAC at the cap edge, lines of IACs.
#[test]
fn iac_at_the_edge_and_floods() {
    // 5 + 4089 + 2 = 4096 wire bytes: exactly at the cap, the escaped IAC last.
    let mut input = b"USER ".to_vec();
    input.extend(std::iter::repeat_n(b'A', 4089));
    input.push(255);
    input.extend_from_slice(b"\xff\r\nNOOP\r\n");
    let (out, _, _) = run(LineConfig::default(), &[input]);
    let mut want_user = b"USER ".to_vec();
    want_user.extend(std::iter::repeat_n(b'A', 4089));
    want_user.push(255);
    assert!(
        out == vec![
            Out::Line(want_user, false),
            Out::Line(b"NOOP".to_vec(), false)
        ]
    );

    // One more byte and the same line is overlong, and only that line is lost.
    let mut input = b"USER A".to_vec();
    input.extend(std::iter::repeat_n(b'A', 4089));
    input.extend_from_slice(b"\xff\xff\r\nNOOP\r\n");
    let (out, _, _) = run(LineConfig::default(), &[input]);
    assert_eq!(out, vec![Out::TooLong, Out::Line(b"NOOP".to_vec(), false)]);

    let flood = vec![255u8; 20_000];
    let (out, _, left) = run(LineConfig::default(), &[flood, b"\nQUIT\n".to_vec()]);
    assert_eq!(out, vec![Out::TooLong, Out::Line(b"QUIT".to_vec(), false)]);
    assert!(left.is_empty());
}
