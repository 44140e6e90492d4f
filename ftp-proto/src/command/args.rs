//! Argument parsing and escaping shared by [`Command::decode`] and [`Command::encode`].

use super::*;

/// The verb of a known command as a `'static` string, for error values.
pub(super) fn static_verb(c: &Command) -> &'static str {
    let v = c.verb();
    VERBS.iter().copied().find(|k| *k == v).unwrap_or("")
}

pub(super) fn decode_known(
    name: &'static str,
    arg: Option<Bytes>,
) -> Result<Command, CommandError> {
    use Command::*;
    let need = |arg: Option<Bytes>| arg.ok_or(CommandError::MissingArgument(name));
    let none = |arg: Option<Bytes>, c: Command| match arg {
        Some(_) => Err(CommandError::UnexpectedArgument(name)),
        None => Ok(c),
    };
    let address = |source: AddrError| CommandError::Address { verb: name, source };
    let number = |arg: Option<Bytes>| {
        let a = arg.ok_or(CommandError::MissingArgument(name))?;
        addr::parse_u64(&a).ok_or(CommandError::Syntax(name))
    };
    let std = Alias::Standard;
    Ok(match name {
        "USER" => User(need(arg)?),
        "PASS" => Pass(need(arg)?),
        "ACCT" => Acct(need(arg)?),
        "CWD" => Cwd {
            path: need(arg)?,
            alias: std,
        },
        "XCWD" => Cwd {
            path: need(arg)?,
            alias: Alias::X,
        },
        "CDUP" => none(arg, Cdup { alias: std })?,
        "XCUP" => none(arg, Cdup { alias: Alias::X })?,
        "SMNT" => Smnt(need(arg)?),
        "REIN" => none(arg, Rein)?,
        "QUIT" => none(arg, Quit)?,
        "PORT" => Port(addr::parse_port(&need(arg)?).map_err(address)?),
        "PASV" | "P@SW" => none(arg, Pasv)?,
        "TYPE" => Type(parse_type(&need(arg)?)?),
        "STRU" => Stru(letter_arg(
            name,
            &need(arg)?,
            &[
                (b'F', Structure::File),
                (b'R', Structure::Record),
                (b'P', Structure::Page),
            ],
        )?),
        "MODE" => Mode(letter_arg(
            name,
            &need(arg)?,
            &[
                (b'S', TransferMode::Stream),
                (b'B', TransferMode::Block),
                (b'C', TransferMode::Compressed),
                (b'Z', TransferMode::Deflate),
            ],
        )?),
        "RETR" => Retr(need(arg)?),
        "STOR" => Stor(need(arg)?),
        "STOU" => Stou(arg),
        "APPE" => Appe(need(arg)?),
        "ALLO" => {
            let a = need(arg)?;
            let mut parts = a.split(|&b| b == b' ');
            let size = parts.next().and_then(addr::parse_u64);
            match (size, parts.next(), parts.next(), parts.next()) {
                (Some(size), None, _, _) => Allo { size, record: None },
                (Some(size), Some(r), Some(n), None) if r.eq_ignore_ascii_case(b"R") => Allo {
                    size,
                    record: Some(addr::parse_u64(n).ok_or(CommandError::Syntax(name))?),
                },
                _ => return Err(CommandError::Syntax(name)),
            }
        }
        "REST" => Rest(number(arg)?),
        "RNFR" => Rnfr(need(arg)?),
        "RNTO" => Rnto(need(arg)?),
        "ABOR" => none(arg, Abor)?,
        "DELE" => Dele(need(arg)?),
        "RMD" => Rmd {
            path: need(arg)?,
            alias: std,
        },
        "XRMD" => Rmd {
            path: need(arg)?,
            alias: Alias::X,
        },
        "MKD" => Mkd {
            path: need(arg)?,
            alias: std,
        },
        "XMKD" => Mkd {
            path: need(arg)?,
            alias: Alias::X,
        },
        "PWD" => none(arg, Pwd { alias: std })?,
        "XPWD" => none(arg, Pwd { alias: Alias::X })?,
        "LIST" => List(arg),
        "NLST" => Nlst(arg),
        "SITE" => Site(need(arg)?),
        "SYST" => none(arg, Syst)?,
        "STAT" => Stat(arg),
        "HELP" => Help(arg),
        "NOOP" => none(arg, Noop)?,
        "AUTH" => Auth(need(arg)?),
        "ADAT" => Adat(need(arg)?),
        "PBSZ" => Pbsz(number(arg)?),
        "PROT" => Prot(letter_arg(
            name,
            &need(arg)?,
            &[
                (b'C', ProtLevel::Clear),
                (b'S', ProtLevel::Safe),
                (b'E', ProtLevel::Confidential),
                (b'P', ProtLevel::Private),
            ],
        )?),
        "CCC" => none(arg, Ccc)?,
        "MIC" => Mic(need(arg)?),
        "CONF" => Conf(need(arg)?),
        "ENC" => Enc(need(arg)?),
        "FEAT" => none(arg, Feat)?,
        "OPTS" => {
            let (name_part, options) = split_first_word(need(arg)?);
            if name_part.is_empty() {
                return Err(CommandError::Syntax(name));
            }
            Opts {
                name: name_part,
                options,
            }
        }
        "EPRT" => Eprt(addr::parse_eprt(&need(arg)?).map_err(address)?),
        "EPSV" => Epsv(EpsvArg::parse(arg.as_deref()).map_err(address)?),
        "LANG" => match arg {
            Some(t) if !valid_lang_tag(&t) => return Err(CommandError::Syntax(name)),
            a => Lang(a),
        },
        "MDTM" => Mdtm(need(arg)?),
        "SIZE" => Size(need(arg)?),
        "MLST" => Mlst(arg),
        "MLSD" => Mlsd(arg),
        "HOST" => {
            let h = need(arg)?;
            if !valid_host(&h) {
                return Err(CommandError::Syntax(name));
            }
            Host(h)
        }
        "LPRT" => Lprt(addr::parse_lprt(&need(arg)?).map_err(address)?),
        "LPSV" => none(arg, Lpsv)?,
        "MFMT" | "MFCT" => {
            let (time, path) = split_first_word(need(arg)?);
            let path = path.ok_or(CommandError::Syntax(name))?;
            let time = Timestamp::parse_time_val(&time).map_err(|_| CommandError::Syntax(name))?;
            if name == "MFMT" {
                Mfmt { time, path }
            } else {
                Mfct { time, path }
            }
        }
        "MFF" => {
            let (facts, path) = split_first_word(need(arg)?);
            match (facts.is_empty(), path) {
                (false, Some(path)) => Mff { facts, path },
                _ => return Err(CommandError::Syntax(name)),
            }
        }
        "CLNT" => Clnt(need(arg)?),
        "AVBL" => Avbl(arg),
        "PRET" => Pret(need(arg)?),
        "HASH" => Hash(need(arg)?),
        "RANG" => {
            let (start, end) = split_first_word(need(arg)?);
            match (
                addr::parse_u64(&start),
                end.as_deref().and_then(addr::parse_u64),
            ) {
                (Some(start), Some(end)) => Rang { start, end },
                _ => return Err(CommandError::Syntax(name)),
            }
        }
        _ => Unknown {
            verb: Bytes::from_static(name.as_bytes()),
            arg,
        },
    })
}

/// A verb is an ASCII letter followed by letters, digits or `@`.
pub(super) fn valid_verb(verb: &[u8]) -> bool {
    match verb.split_first() {
        Some((first, rest)) => {
            first.is_ascii_alphabetic()
                && rest.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'@')
        }
        None => false,
    }
}

/// Applies the RFC 2640 rule: `CR NUL` is a CR; any other CR or NUL, or an LF, is an error.
pub(super) fn unescape_arg(arg: Bytes) -> Result<Bytes, CommandError> {
    let mut escaped = false;
    for (i, &b) in arg.iter().enumerate() {
        match b {
            b'\n' => return Err(CommandError::ControlByte),
            b'\r' if arg.get(i + 1) == Some(&0) => escaped = true,
            b'\r' => return Err(CommandError::ControlByte),
            0 if i.checked_sub(1).and_then(|j| arg.get(j)) == Some(&b'\r') => {}
            0 => return Err(CommandError::ControlByte),
            _ => {}
        }
    }
    if !escaped {
        return Ok(arg);
    }
    let mut out = Vec::with_capacity(arg.len());
    let mut after_cr = false;
    for &b in arg.iter() {
        if !(after_cr && b == 0) {
            out.push(b);
        }
        after_cr = b == b'\r';
    }
    Ok(Bytes::from(out))
}

/// Writes an argument with `0xFF` doubled and CR as `CR NUL`; NUL and LF cannot be sent.
pub(super) fn put_escaped(out: &mut BytesMut, arg: &[u8]) -> Result<(), CommandError> {
    if arg.iter().any(|&b| b == 0 || b == b'\n') {
        return Err(CommandError::ControlByte);
    }
    let mut rest = arg;
    while let Some(i) = rest.iter().position(|&b| b == 0xFF || b == b'\r') {
        let (plain, tail) = rest.split_at(i);
        out.extend_from_slice(plain);
        match tail.first() {
            Some(0xFF) => out.extend_from_slice(&[0xFF, 0xFF]),
            _ => out.extend_from_slice(b"\r\0"),
        }
        rest = tail.get(1..).unwrap_or_default();
    }
    out.extend_from_slice(rest);
    Ok(())
}

/// Splits at the first SP: the word before and the rest after it (`None` if absent or empty).
pub(super) fn split_first_word(a: Bytes) -> (Bytes, Option<Bytes>) {
    match a.iter().position(|&b| b == b' ') {
        Some(sp) => {
            let rest = a.slice(sp + 1..);
            (a.slice(..sp), (!rest.is_empty()).then_some(rest))
        }
        None => (a, None),
    }
}

/// A one-letter argument (case-insensitive): a known letter gives its value, another letter
/// is an unsupported parameter (504), anything else a syntax error (501).
pub(super) fn letter_arg<T: Copy>(
    name: &'static str,
    a: &[u8],
    table: &[(u8, T)],
) -> Result<T, CommandError> {
    match a {
        [c] if c.is_ascii_alphabetic() => table
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(c))
            .map(|&(_, v)| v)
            .ok_or(CommandError::UnsupportedParameter(name)),
        _ => Err(CommandError::Syntax(name)),
    }
}

pub(super) fn parse_type(a: &[u8]) -> Result<TypeCode, CommandError> {
    const FORMS: &[(u8, FormCode)] = &[
        (b'N', FormCode::NonPrint),
        (b'T', FormCode::Telnet),
        (b'C', FormCode::Asa),
    ];
    let byte_size = |n: &[u8]| {
        addr::parse_u64(n)
            .and_then(|v| u8::try_from(v).ok())
            .filter(|&v| v > 0)
            .map(TypeCode::Local)
            .ok_or(CommandError::Syntax("TYPE"))
    };
    let Some((&code, rest)) = a.split_first() else {
        return Err(CommandError::Syntax("TYPE"));
    };
    match (code.to_ascii_uppercase(), rest) {
        (b'A', []) => Ok(TypeCode::Ascii(None)),
        (b'E', []) => Ok(TypeCode::Ebcdic(None)),
        (b'A', [b' ', f]) => Ok(TypeCode::Ascii(Some(letter_arg("TYPE", &[*f], FORMS)?))),
        (b'E', [b' ', f]) => Ok(TypeCode::Ebcdic(Some(letter_arg("TYPE", &[*f], FORMS)?))),
        (b'I', []) => Ok(TypeCode::Image),
        (b'L', [b' ', n @ ..]) => byte_size(n),
        (b'L', n) if !n.is_empty() => byte_size(n),
        (b'L', []) => Err(CommandError::Syntax("TYPE")),
        (c, []) if c.is_ascii_alphabetic() => Err(CommandError::UnsupportedParameter("TYPE")),
        _ => Err(CommandError::Syntax("TYPE")),
    }
}

pub(super) fn encode_type(t: &TypeCode, out: &mut BytesMut) {
    let form = |f: &Option<FormCode>| -> &'static [u8] {
        match f {
            None => b"",
            Some(FormCode::NonPrint) => b" N",
            Some(FormCode::Telnet) => b" T",
            Some(FormCode::Asa) => b" C",
        }
    };
    match t {
        TypeCode::Ascii(f) => {
            out.extend_from_slice(b"A");
            out.extend_from_slice(form(f));
        }
        TypeCode::Ebcdic(f) => {
            out.extend_from_slice(b"E");
            out.extend_from_slice(form(f));
        }
        TypeCode::Image => out.extend_from_slice(b"I"),
        TypeCode::Local(n) => {
            out.extend_from_slice(b"L ");
            addr::put_u64(out, u64::from(*n));
        }
    }
}

/// RFC 7151 `hostname`: a domain name, an IPv4 literal or an IPv6 literal in brackets; no port.
pub(super) fn valid_host(h: &[u8]) -> bool {
    if let Some(inner) = h.strip_prefix(b"[").and_then(|r| r.strip_suffix(b"]")) {
        return std::str::from_utf8(inner).is_ok_and(|s| s.parse::<Ipv6Addr>().is_ok());
    }
    if h.is_empty() || h.len() > 253 {
        return false;
    }
    if h.iter().all(|&b| b.is_ascii_digit() || b == b'.') {
        return std::str::from_utf8(h).is_ok_and(|s| s.parse::<Ipv4Addr>().is_ok());
    }
    let name = h.strip_suffix(b".").unwrap_or(h);
    name.split(|&b| b == b'.').all(|label| {
        (1..=63).contains(&label.len())
            && label
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !label.starts_with(b"-")
            && !label.ends_with(b"-")
    })
}

/// RFC 1766 language tag as RFC 2640 uses it: subtags of 1-8 letters or digits joined by `-`.
pub(super) fn valid_lang_tag(t: &[u8]) -> bool {
    t.split(|&b| b == b'-')
        .all(|s| (1..=8).contains(&s.len()) && s.iter().all(u8::is_ascii_alphanumeric))
}
