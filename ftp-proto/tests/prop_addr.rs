//! Property tests for the host-port encodings: formatters and parsers are inverse, parsers
//! never panic and only fail with the reply codes they document.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use bytes::BytesMut;
use ftp_proto::addr::{self, AddrError, EpsvArg};
use proptest::prelude::*;

fn v4_addr() -> impl Strategy<Value = SocketAddrV4> {
    (any::<[u8; 4]>(), 1..=u16::MAX)
        .prop_map(|(ip, port)| SocketAddrV4::new(Ipv4Addr::from(ip), port))
}

fn any_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        v4_addr().prop_map(SocketAddr::V4),
        (any::<[u8; 16]>(), 1..=u16::MAX).prop_map(|(ip, port)| SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::from(ip),
            port,
            0,
            0
        ))),
    ]
}

fn written(f: impl FnOnce(&mut BytesMut)) -> Vec<u8> {
    let mut out = BytesMut::new();
    f(&mut out);
    out.to_vec()
}

/// Text a server might put before the numbers: no digits or commas, so it cannot start a run.
fn prose() -> impl Strategy<Value = String> {
    "[A-Za-z ().=:;!-]{0,40}"
}

fn check_code(e: AddrError) {
    assert!(matches!(e.reply_code(), 501 | 521 | 522), "{e:?}");
}

proptest! {
    #[test]
    fn port_round_trip(a in v4_addr()) {
        let text = written(|o| addr::encode_port(&a, o));
        prop_assert_eq!(addr::parse_port(&text), Ok(a));
    }

    #[test]
    fn pasv_reply_round_trip(a in v4_addr(), before in prose(), after in prose()) {
        let text = written(|o| addr::encode_pasv_reply(&a, o));
        prop_assert_eq!(addr::parse_pasv_reply(&text), Ok(a));
        let mut wrapped = format!("227 {before}").into_bytes();
        wrapped.extend_from_slice(&written(|o| addr::encode_port(&a, o)));
        wrapped.extend_from_slice(after.as_bytes());
        prop_assert_eq!(addr::parse_pasv_reply(&wrapped), Ok(a));
    }

    #[test]
    fn port_fields_over_255_rejected(mut f in any::<[u16; 6]>(), i in 0usize..6) {
        f[i] = f[i].max(256);
        let text = f.iter().map(u16::to_string).collect::<Vec<_>>().join(",");
        prop_assert!(addr::parse_port(text.as_bytes()).is_err());
        let reply = format!("227 ({text})");
        prop_assert!(addr::parse_pasv_reply(reply.as_bytes()).is_err());
    }

    #[test]
    fn eprt_round_trip(a in any_addr(), d in 33u8..=126) {
        let text = written(|o| addr::encode_eprt(&a, o));
        prop_assert_eq!(addr::parse_eprt(&text), Ok(a));
        // Any delimiter that cannot occur inside the fields works the same.
        if !d.is_ascii_hexdigit() && d != b':' && d != b'.' {
            let swapped: Vec<u8> = text.iter().map(|&c| if c == b'|' { d } else { c }).collect();
            prop_assert_eq!(addr::parse_eprt(&swapped), Ok(a));
        }
    }

    #[test]
    fn epsv_reply_round_trip(port in 1..=u16::MAX, d in 33u8..=126, before in prose()) {
        let text = written(|o| addr::encode_epsv_reply(port, o));
        prop_assert_eq!(addr::parse_epsv_reply(&text), Ok(port));
        if !d.is_ascii_digit() && d != b')' {
            let ds = d as char;
            let text = format!("229 {before} ({ds}{ds}{ds}{port}{ds})");
            prop_assert_eq!(addr::parse_epsv_reply(text.as_bytes()), Ok(port));
        }
    }

    #[test]
    fn lprt_and_lpsv_round_trip(a in any_addr()) {
        let text = written(|o| addr::encode_lprt(&a, o));
        prop_assert_eq!(addr::parse_lprt(&text), Ok(a));
        let reply = written(|o| addr::encode_lpsv_reply(&a, o));
        prop_assert_eq!(addr::parse_lpsv_reply(&reply), Ok(a));
    }

    #[test]
    fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        for r in [
            addr::parse_port(&bytes).map(SocketAddr::V4),
            addr::parse_pasv_reply(&bytes).map(SocketAddr::V4),
            addr::parse_eprt(&bytes),
            addr::parse_lprt(&bytes),
            addr::parse_lpsv_reply(&bytes),
        ] {
            if let Err(e) = r {
                check_code(e);
            }
        }
        if let Err(e) = addr::parse_epsv_reply(&bytes) {
            check_code(e);
        }
        if let Err(e) = EpsvArg::parse(Some(&bytes)) {
            check_code(e);
        }
    }

    #[test]
    fn number_soup_never_panics(bytes in proptest::collection::vec(
        prop_oneof![Just(b','), Just(b'|'), Just(b'('), Just(b')'), (b'0'..=b'9')], 0..80)) {
        if let Ok(a) = addr::parse_lprt(&bytes) {
            prop_assert_eq!(addr::parse_lprt(&written(|o| addr::encode_lprt(&a, o))), Ok(a));
        }
        if let Ok(a) = addr::parse_pasv_reply(&bytes) {
            prop_assert_ne!(a.port(), 0);
        }
        if let Ok(p) = addr::parse_epsv_reply(&bytes) {
            prop_assert_ne!(p, 0);
        }
        let _ = addr::parse_lpsv_reply(&bytes);
        let _ = addr::parse_port(&bytes);
    }
}
