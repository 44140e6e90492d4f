//! The PROXY protocol header parser and `Cidr`, as the servers use them: a `Decoder` fed from
//! a socket in reads of any size.
//!
//! Invariants:
//! - no input panics; a complete header is at most 107 (v1) or `V2_MAX` (v2) bytes;
//! - `Incomplete { need }` asks for at least one byte and never for a byte past the header:
//!   for every proper prefix of a complete header, prefix + need <= the header's length;
//! - the `Decoder`, fed in reads of the size the first input byte picks (asking for space
//!   twice before each read when its top bit is set), takes exactly the header's bytes and
//!   agrees with `parse` (error or header);
//! - a `Tcp` header re-encodes (v1 and v2) to bytes that parse to the same header;
//! - a `Cidr` that parses prints as text that parses to the same block, which contains its
//!   own address.
#![no_main]

use ftp_proto::proxy::{parse, Cidr, Decoder, Header, Status, Version, V1_MAX, V2_MAX};
use libfuzzer_sys::fuzz_target;

fn decode(
    bytes: &[u8],
    chunk: usize,
    retry: bool,
) -> (Result<Option<(Header, Version)>, ()>, usize) {
    let mut d = Decoder::new();
    let mut at = 0;
    loop {
        if retry {
            // A reader whose read would block asks for the same space again.
            let _ = d.space();
        }
        let space = d.space();
        assert!(!space.is_empty());
        let n = space.len().min(chunk).min(bytes.len() - at);
        space[..n].copy_from_slice(&bytes[at..at + n]);
        at += n;
        match d.filled(n) {
            Ok(Some(h)) => return (Ok(Some(h)), at),
            Ok(None) => {}
            Err(_) => return (Err(()), at),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, input)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(first % 32) + 1;
    let parsed = parse(input);
    match parsed {
        Ok(Status::Complete {
            header,
            version,
            len,
        }) => {
            assert!(len <= input.len());
            match version {
                Version::V1 => assert!(len <= V1_MAX),
                Version::V2 => assert!(len <= V2_MAX),
            }
            assert_eq!(parse(&input[..len]), parsed);
            for cut in 0..len {
                match parse(&input[..cut]) {
                    Ok(Status::Incomplete { need }) => assert!(need >= 1 && cut + need <= len),
                    other => panic!("prefix {cut} of a header: {other:?}"),
                }
            }
            let (got, used) = decode(input, chunk, first & 0x80 != 0);
            assert_eq!(got, Ok(Some((header, version))));
            assert_eq!(used, len);
            if let Header::Tcp {
                source,
                destination,
            } = header
            {
                for bytes in [header.encode_v1(), header.encode_v2()] {
                    match parse(&bytes) {
                        Ok(Status::Complete { header: h, len, .. }) => {
                            assert_eq!(len, bytes.len());
                            if source.is_ipv4() == destination.is_ipv4() {
                                assert_eq!(h, header);
                            }
                        }
                        other => panic!("re-encoded {header:?}: {other:?}"),
                    }
                }
            }
        }
        Ok(Status::Incomplete { need }) => {
            assert!(need >= 1 && input.len() + need <= V2_MAX);
            let (got, used) = decode(input, chunk, first & 0x80 != 0);
            assert_eq!(got, Err(()));
            assert_eq!(used, input.len());
        }
        Err(_) => {
            let (got, used) = decode(input, chunk, first & 0x80 != 0);
            assert_eq!(got, Err(()));
            assert!(used <= input.len());
        }
    }
    if let Ok(text) = std::str::from_utf8(input) {
        if let Ok(c) = text.parse::<Cidr>() {
            assert_eq!(c.to_string().parse::<Cidr>(), Ok(c));
            assert!(c.contains(c.addr()));
        }
    }
});
