//! Property tests for commands: encode then decode is the identity, decode never panics,
//! and every decode error carries a 5xx reply code.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use bytes::{Bytes, BytesMut};
use ftp_proto::addr::EpsvArg;
use ftp_proto::command::{Alias, Command, FormCode, ProtLevel, Structure, TransferMode, TypeCode};
use ftp_proto::time::Timestamp;
use proptest::prelude::*;

/// Argument bytes that survive a line: anything but NUL and LF (CR and 0xFF get escaped).
fn arg() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(
        any::<u8>().prop_filter("no NUL/LF", |&b| b != 0 && b != b'\n'),
        1..24,
    )
    .prop_map(Bytes::from)
}

fn opt_arg() -> impl Strategy<Value = Option<Bytes>> {
    proptest::option::of(arg())
}

/// A word without spaces (OPTS names, MFF facts).
fn word() -> impl Strategy<Value = Bytes> {
    "[A-Za-z0-9;=.*]{1,12}".prop_map(Bytes::from)
}

fn alias() -> impl Strategy<Value = Alias> {
    prop_oneof![Just(Alias::Standard), Just(Alias::X)]
}

fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), 1..=u16::MAX)
            .prop_map(|(ip, p)| SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), p))),
        (any::<[u8; 16]>(), 1..=u16::MAX).prop_map(|(ip, p)| SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::from(ip),
            p,
            0,
            0
        ))),
    ]
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    (-62_167_219_200i64..=253_402_300_799, 0u32..1_000_000_000)
        .prop_map(|(s, n)| Timestamp::from_unix(s, n).unwrap())
}

fn host() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        // RFC 1123 §2.1: a name is never all-numeric (that would read as an address).
        "[a-z]([a-z0-9-]{0,8}[a-z0-9])?(\\.[a-z][a-z0-9]{0,9}){0,3}",
        any::<[u8; 4]>().prop_map(|ip| Ipv4Addr::from(ip).to_string()),
        any::<[u8; 16]>().prop_map(|ip| format!("[{}]", Ipv6Addr::from(ip))),
    ]
    .prop_map(Bytes::from)
}

fn type_code() -> impl Strategy<Value = TypeCode> {
    let form = proptest::option::of(prop_oneof![
        Just(FormCode::NonPrint),
        Just(FormCode::Telnet),
        Just(FormCode::Asa)
    ]);
    prop_oneof![
        form.clone().prop_map(TypeCode::Ascii),
        form.prop_map(TypeCode::Ebcdic),
        Just(TypeCode::Image),
        (1u8..=255).prop_map(TypeCode::Local),
    ]
}

fn command() -> impl Strategy<Value = Command> {
    use Command::*;
    let no_arg = prop_oneof![
        alias().prop_map(|alias| Cdup { alias }),
        alias().prop_map(|alias| Pwd { alias }),
        Just(Rein),
        Just(Quit),
        Just(Pasv),
        Just(Abor),
        Just(Syst),
        Just(Noop),
        Just(Ccc),
        Just(Feat),
        Just(Lpsv),
    ];
    let required = prop_oneof![
        arg().prop_map(User),
        arg().prop_map(Pass),
        arg().prop_map(Acct),
        arg().prop_map(Smnt),
        arg().prop_map(Retr),
        arg().prop_map(Stor),
        arg().prop_map(Appe),
        arg().prop_map(Rnfr),
        arg().prop_map(Rnto),
        arg().prop_map(Dele),
        arg().prop_map(Site),
        arg().prop_map(Auth),
        arg().prop_map(Adat),
        arg().prop_map(Mic),
        arg().prop_map(Conf),
        arg().prop_map(Enc),
        arg().prop_map(Mdtm),
        arg().prop_map(Size),
        arg().prop_map(Clnt),
        arg().prop_map(Pret),
        arg().prop_map(Hash),
        (arg(), alias()).prop_map(|(path, alias)| Cwd { path, alias }),
        (arg(), alias()).prop_map(|(path, alias)| Rmd { path, alias }),
        (arg(), alias()).prop_map(|(path, alias)| Mkd { path, alias }),
    ];
    let optional = prop_oneof![
        opt_arg().prop_map(Stou),
        opt_arg().prop_map(List),
        opt_arg().prop_map(Nlst),
        opt_arg().prop_map(Stat),
        opt_arg().prop_map(Help),
        opt_arg().prop_map(Mlst),
        opt_arg().prop_map(Mlsd),
        opt_arg().prop_map(Avbl),
        proptest::option::of("[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8}){0,2}".prop_map(Bytes::from))
            .prop_map(Lang),
    ];
    let typed = prop_oneof![
        socket_addr().prop_map(|a| match a {
            SocketAddr::V4(a) => Port(a),
            a => Eprt(a),
        }),
        socket_addr().prop_map(Eprt),
        socket_addr().prop_map(Lprt),
        prop_oneof![
            Just(EpsvArg::Default),
            Just(EpsvArg::Ipv4),
            Just(EpsvArg::Ipv6),
            Just(EpsvArg::All)
        ]
        .prop_map(Epsv),
        type_code().prop_map(Type),
        prop_oneof![
            Just(Structure::File),
            Just(Structure::Record),
            Just(Structure::Page)
        ]
        .prop_map(Stru),
        prop_oneof![
            Just(TransferMode::Stream),
            Just(TransferMode::Block),
            Just(TransferMode::Compressed),
            Just(TransferMode::Deflate)
        ]
        .prop_map(Mode),
        prop_oneof![
            Just(ProtLevel::Clear),
            Just(ProtLevel::Safe),
            Just(ProtLevel::Confidential),
            Just(ProtLevel::Private)
        ]
        .prop_map(Prot),
        any::<u64>().prop_map(Rest),
        any::<u64>().prop_map(Pbsz),
        (any::<u64>(), proptest::option::of(any::<u64>()))
            .prop_map(|(size, record)| Allo { size, record }),
        (any::<u64>(), any::<u64>()).prop_map(|(start, end)| Rang { start, end }),
        (timestamp(), arg()).prop_map(|(time, path)| Mfmt { time, path }),
        (timestamp(), arg()).prop_map(|(time, path)| Mfct { time, path }),
        (word(), arg()).prop_map(|(facts, path)| Mff { facts, path }),
        (word(), opt_arg()).prop_map(|(name, options)| Opts { name, options }),
        host().prop_map(Host),
        ("[A-Z][A-Z0-9]{4,9}", opt_arg()).prop_map(|(verb, arg)| Unknown {
            verb: Bytes::from(verb),
            arg
        }),
    ];
    prop_oneof![no_arg, required, optional, typed]
}

/// What the line framer would hand to `decode` for an encoded line: CRLF removed and
/// `IAC IAC` collapsed.
fn frame(encoded: &[u8]) -> Bytes {
    let body = encoded
        .strip_suffix(b"\r\n")
        .expect("encode ends with CRLF");
    assert!(
        !body.contains(&b'\n'),
        "LF inside an encoded line: {body:?}"
    );
    let mut out = Vec::with_capacity(body.len());
    let mut iac = false;
    for &c in body {
        if c == 0xFF && iac {
            iac = false;
            continue;
        }
        iac = c == 0xFF;
        out.push(c);
    }
    Bytes::from(out)
}

fn encoded(c: &Command) -> Vec<u8> {
    let mut out = BytesMut::new();
    c.encode(&mut out).expect("valid command encodes");
    out.to_vec()
}

fn check_decode(line: Bytes) -> Result<(), TestCaseError> {
    match Command::decode(line) {
        Ok(c) => {
            // Whatever decodes can be re-encoded and decodes to the same value.
            let again = Command::decode(frame(&encoded(&c)));
            prop_assert_eq!(again, Ok(c));
        }
        Err(e) => prop_assert!((500..=599).contains(&e.reply_code()), "{:?}", e),
    }
    Ok(())
}

fn known_verb() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(
        &[
            "USER", "pass", "CWD", "XCWD", "CDUP", "PORT", "PASV", "P@SW", "TYPE", "STRU", "MODE",
            "RETR", "STOU", "ALLO", "REST", "MKD", "LIST", "SITE", "STAT", "PBSZ", "PROT", "FEAT",
            "OPTS", "EPRT", "EPSV", "LANG", "MLSD", "HOST", "LPRT", "MFMT", "MFF", "RANG", "xyz",
        ][..],
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn encode_then_decode_is_identity(c in command()) {
        let wire = encoded(&c);
        prop_assert_eq!(Command::decode(frame(&wire)), Ok(c.clone()));
        prop_assert!(wire.starts_with(c.verb().as_bytes()));
    }

    #[test]
    fn decode_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        check_decode(Bytes::from(bytes))?;
    }

    #[test]
    fn decode_known_verb_with_arbitrary_argument(
        verb in known_verb(),
        sep in prop_oneof![Just(""), Just(" "), Just("  ")],
        tail in proptest::collection::vec(
            prop_oneof![any::<u8>(), (b'0'..=b'9'), Just(b' '), Just(b','), Just(b'|'), Just(b'\r'), Just(0u8)],
            0..40,
        ),
    ) {
        let mut line = format!("{verb}{sep}").into_bytes();
        line.extend_from_slice(&tail);
        check_decode(Bytes::from(line))?;
    }
}
