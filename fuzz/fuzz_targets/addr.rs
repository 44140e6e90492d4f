//! Host-port parsers: PORT, EPRT, LPRT and EPSV arguments, 227, 228 and 229 reply texts.
//!
//! The input is one argument or reply text. Invariants:
//! - no parser accepts port 0, and IPv6 results carry no scope id or flow label;
//! - whatever parses re-encodes to text that parses to the same value, also with the reply
//!   code and the usual reply wordings around it;
//! - a valid PORT (LPRT) argument is also found by the 227 (228) reply scanner;
//! - `Command::decode` of `PORT`/`EPRT`/`LPRT`/`EPSV` + the input agrees with the parser
//!   (when the input holds no byte the command layer treats specially);
//! - errors map to 501, or to 522 (EPRT/EPSV) and 521 (LPRT) for unknown families.
#![no_main]

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use ftp_proto::addr::{self, AddrError, EpsvArg, Grammar};
use ftp_proto::command::Command;
use libfuzzer_sys::fuzz_target;

fn enc(f: impl FnOnce(&mut BytesMut)) -> Vec<u8> {
    let mut out = BytesMut::new();
    f(&mut out);
    out.to_vec()
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn check_sockaddr(a: &SocketAddr) {
    assert_ne!(a.port(), 0);
    if let SocketAddr::V6(v6) = a {
        assert_eq!(v6.scope_id(), 0);
        assert_eq!(v6.flowinfo(), 0);
    }
}

fn code_of(e: AddrError, unsupported: u16) -> u16 {
    match e {
        AddrError::UnsupportedFamily(_) => unsupported,
        _ => 501,
    }
}

/// `Command::decode` of `verb SP data`, when the command layer passes `data` through as is.
fn command(verb: &[u8], data: &[u8]) -> Option<Result<Command, ftp_proto::command::CommandError>> {
    if data.is_empty() || data.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0) {
        return None;
    }
    Some(Command::decode(Bytes::from(cat(&[verb, b" ", data]))))
}

fuzz_target!(|data: &[u8]| {
    // PORT h1,h2,h3,h4,p1,p2
    let port = addr::parse_port(data);
    match port {
        Ok(a) => {
            assert_ne!(a.port(), 0);
            assert!(data.iter().all(|&b| b.is_ascii_digit() || b == b','));
            let text = enc(|o| addr::encode_port(&a, o));
            assert_eq!(addr::parse_port(&text), Ok(a));
            // Any valid PORT argument is also a 227 text, bare or in the usual wordings.
            assert_eq!(addr::parse_pasv_reply(data), Ok(a));
            for (head, tail) in [
                (&b"227 Entering Passive Mode ("[..], &b")"[..]),
                (b"227 Entering Passive Mode (", b")."),
                (b"227 Entering Passive Mode. ", b""),
                (b"227 Data transfer will passively listen to ", b""),
                (b"227 =", b""),
                (b"227 ", b""),
            ] {
                assert_eq!(addr::parse_pasv_reply(&cat(&[head, data, tail])), Ok(a));
            }
        }
        Err(e) => assert_eq!(e.reply_code(), 501),
    }
    if let Some(c) = command(b"PORT", data) {
        match (&port, c) {
            (Ok(a), Ok(Command::Port(b))) => assert_eq!(*a, b),
            (Err(e), Err(ce)) => assert_eq!(ce.reply_code(), e.reply_code()),
            (p, c) => panic!("PORT parser {p:?} and command {c:?} disagree"),
        }
    }

    // EPRT |proto|addr|port|
    let eprt = addr::parse_eprt(data);
    match eprt {
        Ok(a) => {
            check_sockaddr(&a);
            let text = enc(|o| addr::encode_eprt(&a, o));
            assert_eq!(addr::parse_eprt(&text), Ok(a));
        }
        Err(e) => {
            assert_eq!(e.reply_code(), code_of(e, 522));
            if let AddrError::UnsupportedFamily(g) = e {
                assert_eq!(g, Grammar::Extended);
            }
        }
    }
    if let Some(c) = command(b"EPRT", data) {
        match (&eprt, c) {
            (Ok(a), Ok(Command::Eprt(b))) => assert_eq!(*a, b),
            (Err(e), Err(ce)) => assert_eq!(ce.reply_code(), e.reply_code()),
            (p, c) => panic!("EPRT parser {p:?} and command {c:?} disagree"),
        }
    }

    // LPRT af,hal,h...,pal,p1,p2
    let lprt = addr::parse_lprt(data);
    match lprt {
        Ok(a) => {
            check_sockaddr(&a);
            assert!(data.iter().all(|&b| b.is_ascii_digit() || b == b','));
            let text = enc(|o| addr::encode_lprt(&a, o));
            assert_eq!(addr::parse_lprt(&text), Ok(a));
            assert_eq!(addr::parse_lpsv_reply(data), Ok(a));
            let reply = cat(&[b"228 Entering Long Passive Mode (", data, b")"]);
            assert_eq!(addr::parse_lpsv_reply(&reply), Ok(a));
        }
        Err(e) => {
            assert_eq!(e.reply_code(), code_of(e, 521));
            if let AddrError::UnsupportedFamily(g) = e {
                assert_eq!(g, Grammar::Long);
            }
        }
    }
    if let Some(c) = command(b"LPRT", data) {
        match (&lprt, c) {
            (Ok(a), Ok(Command::Lprt(b))) => assert_eq!(*a, b),
            (Err(e), Err(ce)) => assert_eq!(ce.reply_code(), e.reply_code()),
            (p, c) => panic!("LPRT parser {p:?} and command {c:?} disagree"),
        }
    }

    // 227 reply text
    match addr::parse_pasv_reply(data) {
        Ok(a) => {
            assert_ne!(a.port(), 0);
            let text = enc(|o| addr::encode_pasv_reply(&a, o));
            assert_eq!(addr::parse_pasv_reply(&text), Ok(a));
            assert_eq!(addr::parse_pasv_reply(&cat(&[b"227 ", &text])), Ok(a));
        }
        Err(e) => {
            assert!(!matches!(e, AddrError::UnsupportedFamily(_)));
            assert!(port.is_err());
        }
    }

    // 229 reply text
    match addr::parse_epsv_reply(data) {
        Ok(p) => {
            assert_ne!(p, 0);
            let text = enc(|o| addr::encode_epsv_reply(p, o));
            assert_eq!(addr::parse_epsv_reply(&text), Ok(p));
            assert_eq!(addr::parse_epsv_reply(&cat(&[b"229 ", &text, b"."])), Ok(p));
            assert!(data.contains(&b'('));
        }
        Err(e) => assert!(!matches!(e, AddrError::UnsupportedFamily(_))),
    }

    // 228 reply text
    match addr::parse_lpsv_reply(data) {
        Ok(a) => {
            check_sockaddr(&a);
            let text = enc(|o| addr::encode_lpsv_reply(&a, o));
            assert_eq!(addr::parse_lpsv_reply(&text), Ok(a));
            assert_eq!(addr::parse_lpsv_reply(&cat(&[b"228 ", &text])), Ok(a));
        }
        Err(_) => assert!(lprt.is_err()),
    }

    // EPSV [1|2|ALL]
    let epsv = EpsvArg::parse(Some(data));
    match epsv {
        Ok(arg) => {
            let token = arg.token();
            assert_eq!(EpsvArg::parse(token.map(str::as_bytes)), Ok(arg));
            assert_eq!(token.is_none(), data.is_empty());
        }
        Err(e) => assert_eq!(e.reply_code(), code_of(e, 522)),
    }
    if let Some(c) = command(b"EPSV", data) {
        match (&epsv, c) {
            (Ok(a), Ok(Command::Epsv(b))) => assert_eq!(*a, b),
            (Err(e), Err(ce)) => assert_eq!(ce.reply_code(), e.reply_code()),
            (p, c) => panic!("EPSV parser {p:?} and command {c:?} disagree"),
        }
    }
});
