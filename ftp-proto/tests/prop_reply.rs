//! Property tests for reply encoding and decoding.

use bytes::BytesMut;
use ftp_proto::reply::{
    Reply, ReplyCode, ReplyDecoder, ReplyDecoderConfig, ReplyError, TerminatorPolicy,
};
use proptest::prelude::*;

fn code() -> impl Strategy<Value = ReplyCode> {
    (100u16..=699).prop_map(|n| ReplyCode::new(n).unwrap())
}

fn policy() -> impl Strategy<Value = TerminatorPolicy> {
    prop_oneof![
        Just(TerminatorPolicy::Strict),
        Just(TerminatorPolicy::Lenient)
    ]
}

/// Bytes biased towards the ones that matter to framing.
fn wire_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        4 => any::<u8>(),
        2 => prop::sample::select(&b"\r\n \0-0123456789"[..]),
        1 => prop::sample::select(&[0xFFu8, 0xFB, 0xFD, 0xF4][..]),
    ]
}

/// Any text, including CR, LF, NUL and 0xFF.
fn any_text() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(wire_byte(), 0..60)
}

/// Text of one line that the encoder passes through unchanged.
fn clean_line() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(wire_byte(), 0..30).prop_map(|v| {
        v.into_iter()
            .filter(|b| !matches!(b, b'\r' | b'\n' | 0))
            .collect()
    })
}

/// The text a decoder gives back for `text` after encoding, per the rules on `Reply::write`.
fn normalise(text: &[u8]) -> Vec<u8> {
    let segments: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    let last = segments.len() - 1;
    let mut out = Vec::new();
    for (i, seg) in segments.iter().enumerate() {
        let seg = match seg.strip_suffix(b"\r") {
            Some(s) if i < last => s,
            _ => seg,
        };
        if i > 0 {
            out.push(b'\n');
        }
        if i > 0 && i < last && seg.first().is_some_and(u8::is_ascii_digit) {
            out.push(b' ');
        }
        out.extend(
            seg.iter()
                .map(|&b| if b == b'\r' || b == 0 { b' ' } else { b }),
        );
    }
    out
}

/// Splits `data` at the given cut sizes (cycled), the rest in one last chunk.
fn chunks(data: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = data;
    let mut i = 0;
    while !rest.is_empty() {
        let n = if cuts.is_empty() {
            rest.len()
        } else {
            cuts[i % cuts.len()].clamp(1, rest.len())
        };
        let (head, tail) = rest.split_at(n);
        out.push(head.to_vec());
        rest = tail;
        i += 1;
    }
    out
}

struct Run {
    replies: Vec<Reply>,
    error: Option<ReplyError>,
    leftover: Vec<u8>,
}

/// Feeds the chunks, draining after each, and checks the memory caps after every call.
fn run(cfg: ReplyDecoderConfig, chunks: &[Vec<u8>]) -> Run {
    let mut dec = ReplyDecoder::new(cfg);
    let mut buf = BytesMut::new();
    let mut replies = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            let r = dec.decode(&mut buf);
            assert!(dec.buffered_len() <= cfg.max_reply_len);
            match r {
                Ok(Some(reply)) => {
                    assert!(reply.line_count() <= cfg.max_lines);
                    assert!(reply.text().len() <= cfg.max_reply_len);
                    assert!(!reply.text().contains(&0));
                    replies.push(reply);
                }
                Ok(None) => {
                    assert!(buf.len() <= cfg.max_line_len, "partial line over the cap");
                    assert!(!buf.contains(&b'\n') || buf.contains(&0xFF));
                    break;
                }
                Err(e) => {
                    assert_eq!(dec.decode(&mut buf).as_ref(), Err(&e), "sticky");
                    return Run {
                        replies,
                        error: Some(e),
                        leftover: buf.to_vec(),
                    };
                }
            }
        }
    }
    Run {
        replies,
        error: None,
        leftover: buf.to_vec(),
    }
}

fn config(policy: TerminatorPolicy) -> ReplyDecoderConfig {
    let mut cfg = ReplyDecoderConfig::default();
    cfg.policy = policy;
    cfg
}

fn small_config(policy: TerminatorPolicy) -> ReplyDecoderConfig {
    let mut cfg = config(policy);
    cfg.max_line_len = 24;
    cfg.max_lines = 4;
    cfg.max_reply_len = 48;
    cfg
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Replies whose lines the encoder leaves alone come back identical.
    #[test]
    fn clean_replies_round_trip(
        code in code(),
        first in clean_line(),
        middle in prop::collection::vec(clean_line(), 0..5),
        last in prop::option::of(clean_line()),
        policy in policy(),
        cuts in prop::collection::vec(1usize..8, 0..4),
    ) {
        let mut lines = vec![first];
        if let Some(last) = last {
            // Middle lines starting with a digit are padded by the encoder, so avoid them here.
            lines.extend(middle.into_iter().map(|mut l| {
                if l.first().is_some_and(u8::is_ascii_digit) { l.insert(0, b'x'); }
                l
            }));
            lines.push(last);
        }
        let reply = Reply::from_lines(code, &lines);
        let mut wire = BytesMut::new();
        reply.encode(&mut wire);
        let out = run(config(policy), &chunks(&wire, &cuts));
        prop_assert_eq!(out.error, None);
        prop_assert_eq!(out.replies, vec![reply]);
        prop_assert!(out.leftover.is_empty());
    }

    /// Any text survives encoding in its documented normal form, and never breaks framing:
    /// several replies in a row come back as exactly as many replies.
    #[test]
    fn any_text_round_trips_normalised(
        replies in prop::collection::vec((code(), any_text()), 1..4),
        policy in policy(),
        cuts in prop::collection::vec(1usize..16, 0..4),
        trailing in prop::collection::vec(wire_byte().prop_filter("no LF", |b| *b != b'\n'), 0..8),
    ) {
        let mut wire = BytesMut::new();
        let mut want = Vec::new();
        for (code, text) in &replies {
            Reply::write(*code, text, &mut wire);
            want.push(Reply::new(*code, normalise(text)));
        }
        // A partial line, not starting with a NUL-free valid code is fine: it is never complete.
        let trailing: Vec<u8> = trailing.into_iter().filter(|&b| b != 0).collect();
        wire.extend_from_slice(&trailing);
        let out = run(config(policy), &chunks(&wire, &cuts));
        prop_assert_eq!(out.error, None);
        prop_assert_eq!(out.replies, want);
        prop_assert_eq!(out.leftover, trailing);
    }

    /// Arbitrary bytes: no panic, chunking changes nothing, caps hold (checked in `run`).
    #[test]
    fn chunked_equals_whole(
        data in prop::collection::vec(wire_byte(), 0..200),
        policy in policy(),
        small in any::<bool>(),
        cuts in prop::collection::vec(1usize..10, 1..6),
    ) {
        let cfg = if small { small_config(policy) } else { config(policy) };
        let whole = run(cfg, std::slice::from_ref(&data));
        let split = run(cfg, &chunks(&data, &cuts));
        let bytewise = run(cfg, &chunks(&data, &[1]));
        prop_assert_eq!(&whole.replies, &split.replies);
        prop_assert_eq!(&whole.error, &split.error);
        prop_assert_eq!(&whole.replies, &bytewise.replies);
        prop_assert_eq!(&whole.error, &bytewise.error);
        if whole.error.is_none() {
            prop_assert_eq!(&whole.leftover, &split.leftover);
        }
    }

    /// Reply-shaped noise: lines built from codes, separators and text, so replies do complete.
    #[test]
    fn reply_shaped_noise(
        lines in prop::collection::vec(
            (prop::sample::select(&["", "200", "200-", "200 ", "550 ", "550-", " 200 ", "999 ", "12"][..]),
             clean_line(),
             prop::sample::select(&["\r\n", "\n", "\r", ""][..])),
            0..12),
        policy in policy(),
        small in any::<bool>(),
        cuts in prop::collection::vec(1usize..10, 1..6),
    ) {
        let mut data = Vec::new();
        for (head, text, end) in &lines {
            data.extend_from_slice(head.as_bytes());
            data.extend_from_slice(text);
            data.extend_from_slice(end.as_bytes());
        }
        let cfg = if small { small_config(policy) } else { config(policy) };
        let whole = run(cfg, std::slice::from_ref(&data));
        let split = run(cfg, &chunks(&data, &cuts));
        prop_assert_eq!(&whole.replies, &split.replies);
        prop_assert_eq!(&whole.error, &split.error);
        // Whatever was decoded encodes and decodes to itself in normal form.
        for r in &whole.replies {
            let mut wire = BytesMut::new();
            r.encode(&mut wire);
            let again = run(config(policy), &[wire.to_vec()]);
            prop_assert_eq!(again.error, None);
            prop_assert_eq!(again.replies, vec![Reply::new(r.code(), normalise(r.text()))]);
        }
    }
}
