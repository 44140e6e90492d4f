use super::*;

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn complete(buf: &[u8]) -> (Header, Version, usize) {
    match parse(buf) {
        Ok(Status::Complete {
            header,
            version,
            len,
        }) => (header, version, len),
        other => panic!("{other:?} for {buf:?}"),
    }
}

/// Feeds `bytes` to a decoder the way a reader would, at most `chunk` bytes a read, and checks
/// it never asks for a byte past the header.
fn decode(bytes: &[u8], chunk: usize) -> Result<(Header, usize), ProxyError> {
    let mut d = Decoder::new();
    let mut at = 0;
    loop {
        // A reader whose read failed (would block) asks for the space again.
        let _ = d.space();
        let space = d.space();
        assert!(!space.is_empty());
        let n = space.len().min(chunk).min(bytes.len() - at);
        space[..n].copy_from_slice(&bytes[at..at + n]);
        at += n;
        if let Some((h, _)) = d.filled(n)? {
            return Ok((h, at));
        }
    }
}

#[test]
fn v1_tcp4_tcp6_unknown() {
    let line = b"PROXY TCP4 127.0.0.2 127.0.0.1 40000 2121\r\nUSER x\r\n";
    let (h, v, len) = complete(line);
    assert_eq!(v, Version::V1);
    assert_eq!(len, line.len() - 8);
    assert_eq!(
        h,
        Header::Tcp {
            source: sa("127.0.0.2:40000"),
            destination: sa("127.0.0.1:2121")
        }
    );
    let (h, _, _) = complete(b"PROXY TCP6 ::1 ::2 0 65535\r\n");
    assert_eq!(
        h,
        Header::Tcp {
            source: sa("[::1]:0"),
            destination: sa("[::2]:65535")
        }
    );
    assert_eq!(complete(b"PROXY UNKNOWN\r\n").0, Header::Unknown);
    assert_eq!(
        complete(b"PROXY UNKNOWN ff:: 1.2.3.4 1 2\r\n").0,
        Header::Unknown
    );
}

#[test]
fn v1_malformed() {
    for bad in [
        &b"PROXY TCP4 127.0.0.1 127.0.0.1 1 2 3\r\n"[..],
        b"PROXY TCP4 127.0.0.1 127.0.0.1 1\r\n",
        b"PROXY TCP4 ::1 ::1 1 2\r\n",
        b"PROXY TCP6 127.0.0.1 127.0.0.1 1 2\r\n",
        b"PROXY TCP4 127.0.0.1  127.0.0.1 1 2\r\n",
        b"PROXY TCP4 127.0.0.1 127.0.0.1 01 2\r\n",
        b"PROXY TCP4 127.0.0.1 127.0.0.1 1 65536\r\n",
        b"PROXY TCP4 127.0.0.1 127.0.0.1 +1 2\r\n",
        b"PROXY TCP4 127.0.0.01 127.0.0.1 1 2\r\n",
        b"PROXY TCP5 127.0.0.1 127.0.0.1 1 2\r\n",
        b"PROXY tcp4 127.0.0.1 127.0.0.1 1 2\r\n",
        b"PROXY TCP4 127.0.0.1 127.0.0.1 1 2 \r\n",
        b"PROXY TCP4 127.0.0.1 127.0.0.1 1 2\n",
        b"PROXY TCP4 127.0.0.1 127.0.0.1 1\r2\r\n",
        b"PROXY \xff\r\n",
    ] {
        assert!(
            matches!(parse(bad), Err(ProxyError::V1Malformed(_))),
            "{:?}: {:?}",
            String::from_utf8_lossy(bad),
            parse(bad)
        );
    }
    assert_eq!(parse(b"PROXY_"), Err(ProxyError::NotProxy));
    assert_eq!(parse(b"USER anonymous\r\n"), Err(ProxyError::NotProxy));
    assert_eq!(parse(b"GET / HTTP/1.1\r\n"), Err(ProxyError::NotProxy));
}

#[test]
fn v1_oversize_and_truncated() {
    // 107 bytes with the CRLF is the most.
    let mut max = b"PROXY UNKNOWN ".to_vec();
    max.resize(V1_MAX - 2, b'x');
    max.extend(b"\r\n");
    assert_eq!(complete(&max).2, V1_MAX);
    let mut over = b"PROXY UNKNOWN ".to_vec();
    over.resize(V1_MAX - 1, b'x');
    over.extend(b"\r\n");
    assert_eq!(parse(&over), Err(ProxyError::V1TooLong));
    assert_eq!(decode(&over, 1000), Err(ProxyError::V1TooLong));
    // Truncated: more is needed; the stream ending there is an error.
    let line = b"PROXY TCP4 127.0.0.2 127.0.0.1 40000 2121\r\n";
    for cut in 0..line.len() {
        assert!(
            matches!(parse(&line[..cut]), Ok(Status::Incomplete { need }) if need >= 1),
            "{cut}"
        );
        let e = decode(&line[..cut], 1000).unwrap_err();
        let want = if cut == 0 {
            ProxyError::NotProxy
        } else {
            ProxyError::Truncated
        };
        assert_eq!(e, want, "{cut}");
    }
}

#[test]
fn v2_proxy_and_local() {
    let h = Header::Tcp {
        source: sa("127.0.0.2:40000"),
        destination: sa("127.0.0.1:2121"),
    };
    let mut bytes = h.encode_v2();
    assert_eq!(bytes.len(), 28);
    bytes.extend(b"USER x\r\n");
    assert_eq!(complete(&bytes), (h, Version::V2, 28));
    let h6 = Header::Tcp {
        source: sa("[::1]:1"),
        destination: sa("[fe80::1]:2"),
    };
    assert_eq!(complete(&h6.encode_v2()), (h6, Version::V2, 52));
    assert_eq!(complete(&Header::Local.encode_v2()).0, Header::Local);
    assert_eq!(complete(&Header::Unknown.encode_v2()).0, Header::Unknown);
    // LOCAL with an address block: the block is skipped.
    let mut local = h.encode_v2();
    local[12] = 0x20;
    assert_eq!(complete(&local), (Header::Local, Version::V2, 28));
    // TLVs after the addresses are part of the header.
    let mut tlv = h.encode_v2();
    tlv[15] += 7;
    tlv.extend([0x04, 0, 4, b'a', b'b', b'c', b'd']);
    assert_eq!(complete(&tlv), (h, Version::V2, 35));
    // UDP and UNIX are not TCP: Unknown.
    let mut udp = h.encode_v2();
    udp[13] = 0x12;
    assert_eq!(complete(&udp).0, Header::Unknown);
    let mut unix = V2_SIGNATURE.to_vec();
    unix.extend([0x21, 0x31, 0, 216]);
    unix.resize(16 + 216, 0);
    assert_eq!(complete(&unix).0, Header::Unknown);
}

#[test]
fn v2_malformed_truncated_oversize() {
    let good = Header::Tcp {
        source: sa("127.0.0.2:40000"),
        destination: sa("127.0.0.1:2121"),
    }
    .encode_v2();
    let with = |i: usize, b: u8| {
        let mut v = good.clone();
        v[i] = b;
        v
    };
    assert_eq!(parse(&with(12, 0x11)), Err(ProxyError::V2Version(1)));
    assert_eq!(parse(&with(12, 0x22)), Err(ProxyError::V2Command(2)));
    assert_eq!(parse(&with(13, 0x41)), Err(ProxyError::V2Family(0x41)));
    assert_eq!(parse(&with(13, 0x13)), Err(ProxyError::V2Family(0x13)));
    assert_eq!(parse(&with(15, 11)[..27]), Err(ProxyError::V2Short(11)));
    assert_eq!(parse(&with(11, b'X')), Err(ProxyError::NotProxy));
    // Oversize is refused from the 16-byte prefix alone.
    let mut big = good[..16].to_vec();
    big[14..16].copy_from_slice(&0xffffu16.to_be_bytes());
    assert_eq!(parse(&big), Err(ProxyError::V2TooLong(16 + 0xffff)));
    let mut edge = good[..16].to_vec();
    edge[14..16].copy_from_slice(&((V2_MAX - 16) as u16).to_be_bytes());
    assert_eq!(parse(&edge), Ok(Status::Incomplete { need: V2_MAX - 16 }));
    for cut in 0..good.len() {
        assert!(matches!(parse(&good[..cut]), Ok(Status::Incomplete { .. })));
        assert!(decode(&good[..cut], 1000).is_err());
    }
}

#[test]
fn the_decoder_never_reads_past_the_header() {
    let headers = [
        Header::Tcp {
            source: sa("127.0.0.2:40000"),
            destination: sa("127.0.0.1:2121"),
        },
        Header::Tcp {
            source: sa("[::1]:1"),
            destination: sa("[::1]:2"),
        },
        Header::Unknown,
        Header::Local,
    ];
    for h in headers {
        for bytes in [h.encode_v1(), h.encode_v2()] {
            let mut stream = bytes.clone();
            stream.extend(b"USER anonymous\r\n");
            for chunk in [1, 2, 3, 7, 1000] {
                let (got, used) = decode(&stream, chunk).unwrap();
                assert_eq!(used, bytes.len(), "{h:?} {chunk}");
                let want = match h {
                    Header::Local if bytes[0] == b'P' => Header::Unknown,
                    h => h,
                };
                assert_eq!(got, want);
            }
        }
    }
}

#[test]
fn cidr_blocks() {
    let c: Cidr = "10.1.2.3/8".parse().unwrap();
    assert_eq!(c.to_string(), "10.0.0.0/8");
    assert!(c.contains("10.255.0.1".parse().unwrap()));
    assert!(c.contains("::ffff:10.0.0.1".parse().unwrap()));
    assert!(!c.contains("11.0.0.1".parse().unwrap()));
    assert!(!c.contains("::1".parse().unwrap()));
    let one: Cidr = "127.0.0.1".parse().unwrap();
    assert_eq!(one.prefix(), 32);
    assert!(one.contains("127.0.0.1".parse().unwrap()));
    assert!(!one.contains("127.0.0.2".parse().unwrap()));
    let all: Cidr = "0.0.0.0/0".parse().unwrap();
    assert!(all.contains("1.2.3.4".parse().unwrap()));
    let v6: Cidr = "fd00::/8".parse().unwrap();
    assert!(v6.contains("fdff::1".parse().unwrap()));
    assert!(!v6.contains("fe80::1".parse().unwrap()));
    let mapped: Cidr = "::ffff:10.0.0.0/104".parse().unwrap();
    assert_eq!(mapped, c);
    assert_eq!("::1/128".parse::<Cidr>().unwrap().prefix(), 128);
    for (bad, e) in [
        ("10.0.0.0/33", CidrError::Prefix),
        ("::/129", CidrError::Prefix),
        ("10.0.0.0/", CidrError::Prefix),
        ("10.0.0.0/+8", CidrError::Prefix),
        ("10.0.0.0/1000", CidrError::Prefix),
        ("::ffff:10.0.0.0/8", CidrError::Prefix),
        ("10.0.0/8", CidrError::Address),
        ("", CidrError::Address),
        ("localhost", CidrError::Address),
    ] {
        assert_eq!(bad.parse::<Cidr>(), Err(e), "{bad}");
    }
}
