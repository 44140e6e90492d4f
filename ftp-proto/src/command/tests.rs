use super::*;
use std::net::{Ipv6Addr, SocketAddrV6};

fn b(s: &'static [u8]) -> Bytes {
    Bytes::from_static(s)
}

fn t(tv: &str) -> Timestamp {
    Timestamp::parse_time_val(tv.as_bytes()).unwrap()
}

fn enc(c: &Command) -> Result<Vec<u8>, CommandError> {
    let mut out = BytesMut::new();
    c.encode(&mut out).map(|()| out.to_vec())
}

/// What the line framer hands over for a wire line: `IAC IAC` collapsed to one byte.
fn framed(wire: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(wire.len());
    let mut iac = false;
    for &c in wire {
        if c == 0xFF && iac {
            iac = false;
            continue;
        }
        iac = c == 0xFF;
        out.push(c);
    }
    Bytes::from(out)
}

/// Canonical wire lines (without CRLF) and their commands: decode gives the command, encode
/// gives the line back.
fn vectors() -> Vec<(&'static [u8], Command)> {
    use Command::*;
    let x = Alias::X;
    let s = Alias::Standard;
    let v4 = |a: [u8; 4], p| SocketAddrV4::new(Ipv4Addr::from(a), p);
    let v6 =
        |a: &str, p| SocketAddr::V6(SocketAddrV6::new(a.parse::<Ipv6Addr>().unwrap(), p, 0, 0));
    vec![
        (b"USER anonymous", User(b(b"anonymous"))),
        (b"USER  Dolores", User(b(b" Dolores"))),
        (b"PASS secret with spaces ", Pass(b(b"secret with spaces "))),
        (b"PASS p\xc3\xa4ss", Pass(b(b"p\xc3\xa4ss"))),
        (b"ACCT acc", Acct(b(b"acc"))),
        (
            b"CWD /pub",
            Cwd {
                path: b(b"/pub"),
                alias: s,
            },
        ),
        (
            b"XCWD /pub",
            Cwd {
                path: b(b"/pub"),
                alias: x,
            },
        ),
        (b"CDUP", Cdup { alias: s }),
        (b"XCUP", Cdup { alias: x }),
        (b"SMNT /mnt", Smnt(b(b"/mnt"))),
        (b"REIN", Rein),
        (b"QUIT", Quit),
        (b"PORT 127,0,0,1,79,15", Port(v4([127, 0, 0, 1], 20_239))),
        (b"PASV", Pasv),
        (b"TYPE A", Type(TypeCode::Ascii(None))),
        (b"TYPE A N", Type(TypeCode::Ascii(Some(FormCode::NonPrint)))),
        (b"TYPE A T", Type(TypeCode::Ascii(Some(FormCode::Telnet)))),
        (b"TYPE A C", Type(TypeCode::Ascii(Some(FormCode::Asa)))),
        (b"TYPE E", Type(TypeCode::Ebcdic(None))),
        (
            b"TYPE E N",
            Type(TypeCode::Ebcdic(Some(FormCode::NonPrint))),
        ),
        (b"TYPE I", Type(TypeCode::Image)),
        (b"TYPE L 8", Type(TypeCode::Local(8))),
        (b"TYPE L 36", Type(TypeCode::Local(36))),
        (b"STRU F", Stru(Structure::File)),
        (b"STRU R", Stru(Structure::Record)),
        (b"STRU P", Stru(Structure::Page)),
        (b"MODE S", Mode(TransferMode::Stream)),
        (b"MODE B", Mode(TransferMode::Block)),
        (b"MODE C", Mode(TransferMode::Compressed)),
        (b"MODE Z", Mode(TransferMode::Deflate)),
        (b"RETR file.txt", Retr(b(b"file.txt"))),
        (b"RETR \xff\xffn\xe4me", Retr(b(b"\xffn\xe4me"))),
        (b"STOR a b ", Stor(b(b"a b "))),
        (b"STOR foo\r\0boo.bar", Stor(b(b"foo\rboo.bar"))),
        (b"STOU", Stou(None)),
        (b"STOU hint", Stou(Some(b(b"hint")))),
        (b"APPE log", Appe(b(b"log"))),
        (
            b"ALLO 1024",
            Allo {
                size: 1024,
                record: None,
            },
        ),
        (
            b"ALLO 1024 R 512",
            Allo {
                size: 1024,
                record: Some(512),
            },
        ),
        (b"REST 0", Rest(0)),
        (b"REST 18446744073709551615", Rest(u64::MAX)),
        (b"RNFR old", Rnfr(b(b"old"))),
        (b"RNTO new", Rnto(b(b"new"))),
        (b"ABOR", Abor),
        (b"DELE x", Dele(b(b"x"))),
        (
            b"RMD d",
            Rmd {
                path: b(b"d"),
                alias: s,
            },
        ),
        (
            b"XRMD d",
            Rmd {
                path: b(b"d"),
                alias: x,
            },
        ),
        (
            b"MKD   12 3 ",
            Mkd {
                path: b(b"  12 3 "),
                alias: s,
            },
        ),
        (
            b"XMKD d",
            Mkd {
                path: b(b"d"),
                alias: x,
            },
        ),
        (b"PWD", Pwd { alias: s }),
        (b"XPWD", Pwd { alias: x }),
        (b"LIST", List(None)),
        (b"LIST -la /pub", List(Some(b(b"-la /pub")))),
        (b"NLST", Nlst(None)),
        (b"NLST *.txt", Nlst(Some(b(b"*.txt")))),
        (b"SITE CHMOD 755 f", Site(b(b"CHMOD 755 f"))),
        (b"SYST", Syst),
        (b"STAT", Stat(None)),
        (b"STAT /", Stat(Some(b(b"/")))),
        (b"HELP", Help(None)),
        (b"HELP SITE", Help(Some(b(b"SITE")))),
        (b"NOOP", Noop),
        (b"AUTH TLS", Auth(b(b"TLS"))),
        (b"ADAT Zm9v", Adat(b(b"Zm9v"))),
        (b"PBSZ 0", Pbsz(0)),
        (b"PROT C", Prot(ProtLevel::Clear)),
        (b"PROT S", Prot(ProtLevel::Safe)),
        (b"PROT E", Prot(ProtLevel::Confidential)),
        (b"PROT P", Prot(ProtLevel::Private)),
        (b"CCC", Ccc),
        (b"MIC Zm9v", Mic(b(b"Zm9v"))),
        (b"CONF Zm9v", Conf(b(b"Zm9v"))),
        (b"ENC Zm9v", Enc(b(b"Zm9v"))),
        (b"FEAT", Feat),
        (
            b"OPTS UTF8 ON",
            Opts {
                name: b(b"UTF8"),
                options: Some(b(b"ON")),
            },
        ),
        (
            b"OPTS MLST type;size;",
            Opts {
                name: b(b"MLST"),
                options: Some(b(b"type;size;")),
            },
        ),
        (
            b"OPTS MODE",
            Opts {
                name: b(b"MODE"),
                options: None,
            },
        ),
        (
            b"EPRT |1|132.235.1.2|6275|",
            Eprt(SocketAddr::V4(v4([132, 235, 1, 2], 6275))),
        ),
        (
            b"EPRT |2|1080::8:800:200c:417a|5282|",
            Eprt(v6("1080::8:800:200c:417a", 5282)),
        ),
        (b"EPSV", Epsv(EpsvArg::Default)),
        (b"EPSV 1", Epsv(EpsvArg::Ipv4)),
        (b"EPSV 2", Epsv(EpsvArg::Ipv6)),
        (b"EPSV ALL", Epsv(EpsvArg::All)),
        (b"LANG", Lang(None)),
        (b"LANG en-US", Lang(Some(b(b"en-US")))),
        (b"MDTM f", Mdtm(b(b"f"))),
        (b"SIZE f", Size(b(b"f"))),
        (b"MLST", Mlst(None)),
        (b"MLST f", Mlst(Some(b(b"f")))),
        (b"MLSD", Mlsd(None)),
        (b"MLSD /d", Mlsd(Some(b(b"/d")))),
        (b"HOST ftp.example.com", Host(b(b"ftp.example.com"))),
        (b"HOST 192.0.2.1", Host(b(b"192.0.2.1"))),
        (b"HOST [2001:db8::1]", Host(b(b"[2001:db8::1]"))),
        (
            b"LPRT 4,4,132,235,1,2,2,24,131",
            Lprt(SocketAddr::V4(v4([132, 235, 1, 2], 6275))),
        ),
        (b"LPSV", Lpsv),
        (
            b"MFMT 20020717210148 f",
            Mfmt {
                time: t("20020717210148"),
                path: b(b"f"),
            },
        ),
        (
            b"MFMT 19980308131822.123 a b",
            Mfmt {
                time: t("19980308131822.123"),
                path: b(b"a b"),
            },
        ),
        (
            b"MFCT 20020717210148 f",
            Mfct {
                time: t("20020717210148"),
                path: b(b"f"),
            },
        ),
        (
            b"MFF Modify=20020717210148;UNIX.mode=0644; f",
            Mff {
                facts: b(b"Modify=20020717210148;UNIX.mode=0644;"),
                path: b(b"f"),
            },
        ),
        (b"CLNT FileZilla", Clnt(b(b"FileZilla"))),
        (b"AVBL", Avbl(None)),
        (b"AVBL /d", Avbl(Some(b(b"/d")))),
        (b"PRET RETR f", Pret(b(b"RETR f"))),
        (b"HASH f", Hash(b(b"f"))),
        (b"RANG 1 0", Rang { start: 1, end: 0 }),
        (
            b"XSHA1 f",
            Unknown {
                verb: b(b"XSHA1"),
                arg: Some(b(b"f")),
            },
        ),
        (
            b"GET / HTTP/1.1",
            Unknown {
                verb: b(b"GET"),
                arg: Some(b(b"/ HTTP/1.1")),
            },
        ),
        (
            b"FOO",
            Unknown {
                verb: b(b"FOO"),
                arg: None,
            },
        ),
    ]
}

#[test]
fn vectors_both_ways() {
    for (line, cmd) in vectors() {
        let shown = String::from_utf8_lossy(line);
        assert_eq!(Command::decode(framed(line)), Ok(cmd.clone()), "{shown}");
        let mut want = line.to_vec();
        want.extend_from_slice(b"\r\n");
        assert_eq!(enc(&cmd), Ok(want), "{shown}");
        assert_eq!(
            cmd.verb().as_bytes(),
            line.split(|&c| c == b' ').next().unwrap()
        );
    }
}

#[test]
fn vectors_reject_or_change_with_trailing_bytes() {
    for (line, cmd) in vectors() {
        for junk in [&b"x"[..], b" x", b"\0", b"\r", b"\xff"] {
            let mut l = line.to_vec();
            l.extend_from_slice(junk);
            let got = Command::decode(Bytes::from(l.clone()));
            assert_ne!(got, Ok(cmd.clone()), "{}", String::from_utf8_lossy(&l));
        }
    }
}

/// Lines that decode but are not the canonical spelling of their command.
#[test]
fn decode_only_vectors() {
    use Command::*;
    for (line, cmd) in [
        (&b"uSeR x"[..], User(b(b"x"))),
        (b"user x", User(b(b"x"))),
        (b"P@SW", Pasv),
        (b"p@sw", Pasv),
        (b"PASV ", Pasv),
        (b"FEAT ", Feat),
        (b"LIST ", List(None)),
        (
            b"xmkd d",
            Mkd {
                path: b(b"d"),
                alias: Alias::X,
            },
        ),
        (b"type a", Type(TypeCode::Ascii(None))),
        (b"type a n", Type(TypeCode::Ascii(Some(FormCode::NonPrint)))),
        (b"TYPE i", Type(TypeCode::Image)),
        (b"TYPE l8", Type(TypeCode::Local(8))),
        (b"TYPE L7", Type(TypeCode::Local(7))),
        (b"stru f", Stru(Structure::File)),
        (b"mode s", Mode(TransferMode::Stream)),
        (b"prot p", Prot(ProtLevel::Private)),
        (
            b"allo 10 r 2",
            Allo {
                size: 10,
                record: Some(2),
            },
        ),
        (b"REST 007", Rest(7)),
        (b"epsv all", Epsv(EpsvArg::All)),
        (
            b"EPRT |2|fe80::1%eth0|21|",
            Eprt("[fe80::1]:21".parse().unwrap()),
        ),
        (
            b"foo bar",
            Unknown {
                verb: b(b"FOO"),
                arg: Some(b(b"bar")),
            },
        ),
        (
            b"MKD foo\r\0\r\0",
            Mkd {
                path: b(b"foo\r\r"),
                alias: Alias::Standard,
            },
        ),
    ] {
        let shown = String::from_utf8_lossy(line);
        assert_eq!(
            Command::decode(Bytes::copy_from_slice(line)),
            Ok(cmd),
            "{shown}"
        );
    }
}

#[test]
fn rejects_with_reply_codes() {
    use CommandError::*;
    let addr = |verb, source| Address { verb, source };
    for (line, err) in [
        (&b""[..], Empty),
        (b" USER x", BadVerb),
        (b"\xe3\xe3\xe3", BadVerb),
        (b"1USER", BadVerb),
        (b"US-ER x", BadVerb),
        (b"NOOP\r", BadVerb),
        (b"USER", MissingArgument("USER")),
        (b"USER ", MissingArgument("USER")),
        (b"RETR", MissingArgument("RETR")),
        (b"PORT", MissingArgument("PORT")),
        (b"CWD", MissingArgument("CWD")),
        (b"SITE", MissingArgument("SITE")),
        (b"PASV x", UnexpectedArgument("PASV")),
        (b"P@SW x", UnexpectedArgument("P@SW")),
        (b"FEAT x", UnexpectedArgument("FEAT")),
        (b"NOOP x", UnexpectedArgument("NOOP")),
        (b"PWD  ", UnexpectedArgument("PWD")),
        (b"CDUP ..", UnexpectedArgument("CDUP")),
        (b"RETR a\0b", ControlByte),
        (b"RETR a\rb", ControlByte),
        (b"RETR a\r", ControlByte),
        (b"RETR a\nb", ControlByte),
        (b"RETR \0", ControlByte),
        (b"MKD foo\r\0\0", ControlByte),
        (b"TYPE X", UnsupportedParameter("TYPE")),
        (b"TYPE A X", UnsupportedParameter("TYPE")),
        (b"TYPE A  N", Syntax("TYPE")),
        (b"TYPE AN", Syntax("TYPE")),
        (b"TYPE I N", Syntax("TYPE")),
        (b"TYPE L", Syntax("TYPE")),
        (b"TYPE L 0", Syntax("TYPE")),
        (b"TYPE L 256", Syntax("TYPE")),
        (b"TYPE 8", Syntax("TYPE")),
        (b"STRU X", UnsupportedParameter("STRU")),
        (b"STRU FF", Syntax("STRU")),
        (b"MODE X", UnsupportedParameter("MODE")),
        (b"MODE 1", Syntax("MODE")),
        (b"PROT X", UnsupportedParameter("PROT")),
        (b"REST -1", Syntax("REST")),
        (b"REST 10.1", Syntax("REST")),
        (b"REST str", Syntax("REST")),
        (b"REST 100f", Syntax("REST")),
        (b"REST +1", Syntax("REST")),
        (b"REST 18446744073709551616", Syntax("REST")),
        (b"REST 1 2", Syntax("REST")),
        (b"PBSZ x", Syntax("PBSZ")),
        (b"ALLO x", Syntax("ALLO")),
        (b"ALLO 1 R", Syntax("ALLO")),
        (b"ALLO 1 X 2", Syntax("ALLO")),
        (b"ALLO 1 R 2 3", Syntax("ALLO")),
        (b"RANG 1", Syntax("RANG")),
        (b"RANG 1 x", Syntax("RANG")),
        (b"MFMT B017092101341A f", Syntax("MFMT")),
        (b"MFMT 20170921 f", Syntax("MFMT")),
        (b"MFMT 20170921013412", Syntax("MFMT")),
        (b"MFMT f", Syntax("MFMT")),
        (b"MFF f", Syntax("MFF")),
        (b"OPTS  UTF8", Syntax("OPTS")),
        (b"HOST 127.0.0.1:2112", Syntax("HOST")),
        (b"HOST 2001:db8::1", Syntax("HOST")),
        (b"HOST [2001:db8::1]:21", Syntax("HOST")),
        (b"HOST [1.2.3.4]", Syntax("HOST")),
        (b"HOST 1.2.3.999", Syntax("HOST")),
        (b"HOST -bad.example", Syntax("HOST")),
        (b"HOST a..b", Syntax("HOST")),
        (b"LANG en_US", Syntax("LANG")),
        (b"LANG toolongsubtag", Syntax("LANG")),
        (b"PORT 127,0,0,1,256,1", addr("PORT", AddrError::Range)),
        (b"PORT 127,0,0,1,1", addr("PORT", AddrError::Syntax)),
        (
            b"EPRT |3|1.2.3.4|2000|",
            addr(
                "EPRT",
                AddrError::UnsupportedFamily(crate::addr::Grammar::Extended),
            ),
        ),
        (b"EPRT ||||", addr("EPRT", AddrError::Syntax)),
        (
            b"EPSV 3",
            addr(
                "EPSV",
                AddrError::UnsupportedFamily(crate::addr::Grammar::Extended),
            ),
        ),
        (b"EPSV x", addr("EPSV", AddrError::Syntax)),
        (
            b"LPRT 5,4,1,2,3,4,2,1,1",
            addr(
                "LPRT",
                AddrError::UnsupportedFamily(crate::addr::Grammar::Long),
            ),
        ),
    ] {
        let shown = String::from_utf8_lossy(line);
        let got = Command::decode(Bytes::copy_from_slice(line));
        assert_eq!(got, Err(err), "{shown}");
        let code = err.reply_code();
        let want = match err {
            Empty | BadVerb => 500,
            UnsupportedParameter(_) => 504,
            Address {
                source: AddrError::UnsupportedFamily(crate::addr::Grammar::Extended),
                ..
            } => 522,
            Address {
                source: AddrError::UnsupportedFamily(_),
                ..
            } => 521,
            _ => 501,
        };
        assert_eq!(code, want, "{shown}");
    }
}

#[test]
fn encode_escapes_and_refuses_line_breaks() {
    use Command::*;
    assert_eq!(
        enc(&Stor(b(b"a\xffb"))),
        Ok(b"STOR a\xff\xffb\r\n".to_vec())
    );
    assert_eq!(enc(&Stor(b(b"a\rb"))), Ok(b"STOR a\r\0b\r\n".to_vec()));
    assert_eq!(enc(&Stor(b(b"a\nb"))), Err(CommandError::ControlByte));
    assert_eq!(enc(&Stor(b(b"a\0b"))), Err(CommandError::ControlByte));
    assert_eq!(
        enc(&Stor(Bytes::new())),
        Err(CommandError::MissingArgument("STOR"))
    );
    assert_eq!(
        enc(&Mkd {
            path: Bytes::new(),
            alias: Alias::X
        }),
        Err(CommandError::MissingArgument("XMKD"))
    );
    assert_eq!(enc(&Host(b(b"h:21"))), Err(CommandError::Syntax("HOST")));
    assert_eq!(
        enc(&Opts {
            name: b(b"A B"),
            options: None
        }),
        Err(CommandError::Syntax("OPTS"))
    );
    assert_eq!(
        enc(&Unknown {
            verb: b(b"X Y"),
            arg: None
        }),
        Err(CommandError::BadVerb)
    );
    assert_eq!(enc(&List(Some(Bytes::new()))), Ok(b"LIST\r\n".to_vec()));
    // A failed encode leaves the buffer as it was.
    let mut out = BytesMut::from(&b"QUIT\r\n"[..]);
    assert!(User(b(b"a\nPASS x")).encode(&mut out).is_err());
    assert_eq!(&out[..], b"QUIT\r\n");
}

#[test]
fn list_arg_split() {
    for (arg, opts, path) in [
        (&b"-la"[..], Some(&b"-la"[..]), None),
        (b"-la /pub", Some(b"-la"), Some(&b"/pub"[..])),
        (b"-la -x tmp*", Some(b"-la -x"), Some(b"tmp*")),
        (b"-a   my file", Some(b"-a"), Some(b"my file")),
        (b"/pub", None, Some(b"/pub")),
        (b" -la", None, Some(b" -la")),
        (b"-", Some(b"-"), None),
    ] {
        let (o, p) = split_list_arg(&Bytes::copy_from_slice(arg));
        assert_eq!(o.as_deref(), opts, "{arg:?}");
        assert_eq!(p.as_deref(), path, "{arg:?}");
    }
}

#[test]
fn site_subcommands() {
    let site = |a: &'static [u8]| SiteCommand::parse(&b(a));
    assert_eq!(
        site(b"CHMOD 755 f x"),
        Ok(SiteCommand::Chmod {
            mode: 0o755,
            path: b(b"f x")
        })
    );
    assert_eq!(
        site(b"chmod 4777 f"),
        Ok(SiteCommand::Chmod {
            mode: 0o4777,
            path: b(b"f")
        })
    );
    for bad in [
        &b"CHMOD -177 f"[..],
        b"CHMOD 778 f",
        b"CHMOD foo f",
        b"CHMOD 755",
        b"CHMOD",
        b"CHMOD 77777 f",
    ] {
        assert_eq!(
            SiteCommand::parse(&Bytes::copy_from_slice(bad)),
            Err(CommandError::Syntax("SITE"))
        );
    }
    assert_eq!(
        site(b"UTIME 200207172101 my file"),
        Ok(SiteCommand::Utime {
            path: b(b"my file"),
            atime: None,
            mtime: t("20020717210100"),
            ctime: None
        })
    );
    assert_eq!(
        site(b"UTIME 20020717210148 f"),
        Ok(SiteCommand::Utime {
            path: b(b"f"),
            atime: None,
            mtime: t("20020717210148"),
            ctime: None
        })
    );
    assert_eq!(
        site(b"UTIME my file 20010101000000 20020717210148 20030101000000 UTC"),
        Ok(SiteCommand::Utime {
            path: b(b"my file"),
            atime: Some(t("20010101000000")),
            mtime: t("20020717210148"),
            ctime: Some(t("20030101000000")),
        })
    );
    for bad in [
        &b"UTIME"[..],
        b"UTIME f",
        b"UTIME 2002071721 f",
        b"UTIME 20021317210148 f",
    ] {
        assert_eq!(
            SiteCommand::parse(&Bytes::copy_from_slice(bad)),
            Err(CommandError::Syntax("SITE"))
        );
    }
    assert_eq!(
        site(b"HELP"),
        Ok(SiteCommand::Other {
            name: b(b"HELP"),
            arg: None
        })
    );
    assert_eq!(
        site(b"idle 60"),
        Ok(SiteCommand::Other {
            name: b(b"idle"),
            arg: Some(b(b"60"))
        })
    );
}

#[test]
fn decode_is_zero_copy_for_plain_arguments() {
    let line = Bytes::from_static(b"RETR some/file");
    let Ok(Command::Retr(path)) = Command::decode(line.clone()) else {
        panic!()
    };
    assert_eq!(path.as_ptr(), line[5..].as_ptr());
}
