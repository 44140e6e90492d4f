//! FTP commands: one control line decoded into a [`Command`] and encoded back to bytes.
//!
//! Covers RFC 959 and its extensions (RFC 2228, 2389, 2428, 2640, 3659, 4217, 7151, 1639) plus
//! the de-facto commands real clients send (X-aliases, MFMT/MFCT/MFF, CLNT, AVBL, PRET, HASH,
//! RANG, `P@SW`). Unknown verbs are not an error here: they decode to [`Command::Unknown`] so
//! the session decides how to answer.
//!
//! The input of [`Command::decode`] is one line as the [`line`](crate::line) framer hands it
//! over: terminator removed and Telnet `IAC IAC` already collapsed to one `0xFF` byte.
//!
//! Wire rules applied to every argument (RFC 2640 §3.1, RFC 3659 §2.2):
//! - exactly one SP separates verb and argument; further spaces belong to the argument;
//! - `CR NUL` stands for a CR in the argument; any other NUL, a bare CR or an LF is a 501;
//! - arguments are bytes, never decoded as text (non-UTF-8 pathnames are allowed).
//!
//! Leniencies, each because real peers need it:
//! - a verb followed by a single SP and nothing else counts as having no argument (some
//!   clients always send the SP; D. J. Bernstein's notes ask servers to accept it);
//! - verbs may contain digits after the first letter (`XMD5`, `XSHA1`, `XSHA256` exist);
//! - `TYPE L8` without the space is read as `TYPE L 8` (pyftpdlib accepts it too);
//! - `STOU` takes an optional argument (a name hint some clients send), RFC 959 has none.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};

use bytes::{Bytes, BytesMut};

use crate::addr::{self, AddrError, EpsvArg};
use crate::time::Timestamp;

/// Why a command line did not decode, or a [`Command`] could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The line is empty.
    #[error("empty command line")]
    Empty,
    /// The verb is not a word of ASCII letters (and digits, or `@` as in `P@SW`).
    #[error("command not understood")]
    BadVerb,
    /// The command needs an argument and has none.
    #[error("{0} needs an argument")]
    MissingArgument(&'static str),
    /// The command takes no argument and was given one.
    #[error("{0} takes no argument")]
    UnexpectedArgument(&'static str),
    /// The argument does not follow the command's grammar.
    #[error("syntax error in the argument of {0}")]
    Syntax(&'static str),
    /// The argument is well-formed but names a parameter FTP does not define (`MODE X`).
    #[error("{0} does not implement that parameter")]
    UnsupportedParameter(&'static str),
    /// The argument contains NUL, a bare CR or LF (CR is only valid as `CR NUL`).
    #[error("argument contains NUL, a bare CR or LF")]
    ControlByte,
    /// A host-port argument (PORT, EPRT, LPRT, EPSV) did not parse.
    #[error("{verb}: {source}")]
    Address {
        /// The command whose argument failed.
        verb: &'static str,
        /// What was wrong with it.
        source: AddrError,
    },
}

impl CommandError {
    /// The FTP reply code a server answers this error with.
    ///
    /// 500 for an empty line or a bad verb, 501 for argument errors, 504 for an unsupported
    /// parameter, and 521/522 for an unsupported LPRT/EPRT/EPSV network family.
    pub fn reply_code(&self) -> u16 {
        match self {
            CommandError::Empty | CommandError::BadVerb => 500,
            CommandError::MissingArgument(_)
            | CommandError::UnexpectedArgument(_)
            | CommandError::Syntax(_)
            | CommandError::ControlByte => 501,
            CommandError::UnsupportedParameter(_) => 504,
            CommandError::Address { source, .. } => source.reply_code(),
        }
    }
}

/// Which spelling of a command that has an RFC 1123 X-alias (XCWD, XCUP, XMKD, XRMD, XPWD)
/// was used, so [`Command::encode`] can send the same verb back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Alias {
    /// The RFC 959 verb (`CWD`, `CDUP`, `MKD`, `RMD`, `PWD`).
    #[default]
    Standard,
    /// The experimental verb of RFC 775 (`XCWD`, `XCUP`, `XMKD`, `XRMD`, `XPWD`).
    X,
}

/// The format control of an ASCII or EBCDIC `TYPE` (RFC 959 §3.1.1.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FormCode {
    /// `N`: non-print, the default.
    NonPrint,
    /// `T`: Telnet format effectors.
    Telnet,
    /// `C`: ASA carriage control.
    Asa,
}

/// The argument of `TYPE`: the representation type of transferred data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TypeCode {
    /// `A [N|T|C]`; `None` when no format was given (it then means `N`).
    Ascii(Option<FormCode>),
    /// `E [N|T|C]`; `None` when no format was given.
    Ebcdic(Option<FormCode>),
    /// `I`: image (binary).
    Image,
    /// `L <byte-size>`, 1 to 255; `L 8` is binary like `I`.
    Local(u8),
}

/// The argument of `STRU`: the file structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Structure {
    /// `F`: no record structure.
    File,
    /// `R`: record structure.
    Record,
    /// `P`: page structure.
    Page,
}

/// The argument of `MODE`: the transfer mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransferMode {
    /// `S`: stream; end of file is the close of the data connection.
    Stream,
    /// `B`: block.
    Block,
    /// `C`: compressed (RFC 959 run-length).
    Compressed,
    /// `Z`: deflate (de-facto, draft-preston-ftpext-deflate).
    Deflate,
}

/// The argument of `PROT` (RFC 2228 §3): the data channel protection level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProtLevel {
    /// `C`: clear.
    Clear,
    /// `S`: safe (integrity only).
    Safe,
    /// `E`: confidential.
    Confidential,
    /// `P`: private (TLS on the data channel).
    Private,
}

/// One FTP command with its argument, as sent on the control connection.
///
/// Pathnames and free-text arguments are [`Bytes`] slices of the decoded line (with `CR NUL`
/// already turned into CR). Optional arguments are `None` when absent or empty.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// `USER <username>`.
    User(Bytes),
    /// `PASS <password>` (never log the argument).
    Pass(Bytes),
    /// `ACCT <account-information>`.
    Acct(Bytes),
    /// `CWD <pathname>` or `XCWD <pathname>`.
    Cwd {
        /// The directory to change to.
        path: Bytes,
        /// Which verb was used.
        alias: Alias,
    },
    /// `CDUP` or `XCUP`.
    Cdup {
        /// Which verb was used.
        alias: Alias,
    },
    /// `SMNT <pathname>`.
    Smnt(Bytes),
    /// `REIN`.
    Rein,
    /// `QUIT`.
    Quit,
    /// `PORT h1,h2,h3,h4,p1,p2`.
    Port(SocketAddrV4),
    /// `PASV` (also decoded from `P@SW`, which some routers produce).
    Pasv,
    /// `TYPE <type-code>`.
    Type(TypeCode),
    /// `STRU <structure-code>`.
    Stru(Structure),
    /// `MODE <mode-code>`.
    Mode(TransferMode),
    /// `RETR <pathname>`.
    Retr(Bytes),
    /// `STOR <pathname>`.
    Stor(Bytes),
    /// `STOU [<name hint>]`.
    Stou(Option<Bytes>),
    /// `APPE <pathname>`.
    Appe(Bytes),
    /// `ALLO <size> [R <record-size>]`.
    Allo {
        /// Bytes to reserve.
        size: u64,
        /// Maximum record or page size, if given.
        record: Option<u64>,
    },
    /// `REST <marker>`: a byte offset in stream mode.
    Rest(u64),
    /// `RNFR <pathname>`.
    Rnfr(Bytes),
    /// `RNTO <pathname>`.
    Rnto(Bytes),
    /// `ABOR`.
    Abor,
    /// `DELE <pathname>`.
    Dele(Bytes),
    /// `RMD <pathname>` or `XRMD <pathname>`.
    Rmd {
        /// The directory to remove.
        path: Bytes,
        /// Which verb was used.
        alias: Alias,
    },
    /// `MKD <pathname>` or `XMKD <pathname>`.
    Mkd {
        /// The directory to create.
        path: Bytes,
        /// Which verb was used.
        alias: Alias,
    },
    /// `PWD` or `XPWD`.
    Pwd {
        /// Which verb was used.
        alias: Alias,
    },
    /// `LIST [<pathname>]`; see [`split_list_arg`] for `-la`-style options.
    List(Option<Bytes>),
    /// `NLST [<pathname>]`; see [`split_list_arg`] for `-la`-style options.
    Nlst(Option<Bytes>),
    /// `SITE <string>`; see [`SiteCommand::parse`] for CHMOD and UTIME.
    Site(Bytes),
    /// `SYST`.
    Syst,
    /// `STAT [<pathname>]`.
    Stat(Option<Bytes>),
    /// `HELP [<string>]`.
    Help(Option<Bytes>),
    /// `NOOP`.
    Noop,
    /// `AUTH <mechanism-name>` (RFC 2228, RFC 4217: `TLS`).
    Auth(Bytes),
    /// `ADAT <base64data>`.
    Adat(Bytes),
    /// `PBSZ <decimal-integer>`.
    Pbsz(u64),
    /// `PROT <level>`.
    Prot(ProtLevel),
    /// `CCC`: clear the control channel.
    Ccc,
    /// `MIC <base64data>`: integrity-protected command.
    Mic(Bytes),
    /// `CONF <base64data>`: confidentiality-protected command.
    Conf(Bytes),
    /// `ENC <base64data>`: privacy-protected command.
    Enc(Bytes),
    /// `FEAT`.
    Feat,
    /// `OPTS <command-name> [<command-options>]`.
    Opts {
        /// The command whose options are set (as sent; compare case-insensitively).
        name: Bytes,
        /// The options text after the name, if any.
        options: Option<Bytes>,
    },
    /// `EPRT <d><proto><d><addr><d><port><d>`.
    Eprt(SocketAddr),
    /// `EPSV [1|2|ALL]`.
    Epsv(EpsvArg),
    /// `LANG [<lang-tag>]`.
    Lang(Option<Bytes>),
    /// `MDTM <pathname>`.
    Mdtm(Bytes),
    /// `SIZE <pathname>`.
    Size(Bytes),
    /// `MLST [<pathname>]`.
    Mlst(Option<Bytes>),
    /// `MLSD [<pathname>]`.
    Mlsd(Option<Bytes>),
    /// `HOST <hostname>`: a domain name, IPv4 literal or `[IPv6]` literal, no port.
    Host(Bytes),
    /// `LPRT af,hal,h1,...,pal,p1,p2`.
    Lprt(SocketAddr),
    /// `LPSV`.
    Lpsv,
    /// `MFMT <time-val> <pathname>`: set the modification time.
    Mfmt {
        /// The new modification time (UTC).
        time: Timestamp,
        /// The file to change.
        path: Bytes,
    },
    /// `MFCT <time-val> <pathname>`: set the creation time.
    Mfct {
        /// The new creation time (UTC).
        time: Timestamp,
        /// The file to change.
        path: Bytes,
    },
    /// `MFF <fact>=<value>;... <pathname>`: set MLSx facts.
    Mff {
        /// The `fact=value;` list, unparsed.
        facts: Bytes,
        /// The file to change.
        path: Bytes,
    },
    /// `CLNT <client name>`.
    Clnt(Bytes),
    /// `AVBL [<pathname>]`: available space.
    Avbl(Option<Bytes>),
    /// `PRET <transfer command line>`: announce the next transfer.
    Pret(Bytes),
    /// `HASH <pathname>`.
    Hash(Bytes),
    /// `RANG <start> <end>`: byte range for the next transfer.
    Rang {
        /// First byte offset.
        start: u64,
        /// Last byte offset (`RANG 1 0` resets the range).
        end: u64,
    },
    /// A verb this module does not know, in upper case, with its raw argument.
    Unknown {
        /// The verb, upper-cased.
        verb: Bytes,
        /// The argument, if any.
        arg: Option<Bytes>,
    },
}

/// Every verb decoded to a known command, in upper case.
const VERBS: &[&str] = &[
    "USER", "PASS", "ACCT", "CWD", "XCWD", "CDUP", "XCUP", "SMNT", "REIN", "QUIT", "PORT", "PASV",
    "P@SW", "TYPE", "STRU", "MODE", "RETR", "STOR", "STOU", "APPE", "ALLO", "REST", "RNFR", "RNTO",
    "ABOR", "DELE", "RMD", "XRMD", "MKD", "XMKD", "PWD", "XPWD", "LIST", "NLST", "SITE", "SYST",
    "STAT", "HELP", "NOOP", "AUTH", "ADAT", "PBSZ", "PROT", "CCC", "MIC", "CONF", "ENC", "FEAT",
    "OPTS", "EPRT", "EPSV", "LANG", "MDTM", "SIZE", "MLST", "MLSD", "HOST", "LPRT", "LPSV", "MFMT",
    "MFCT", "MFF", "CLNT", "AVBL", "PRET", "HASH", "RANG",
];

impl Command {
    /// Decodes one control line (without its terminator) into a command.
    ///
    /// Verbs are case-insensitive; unknown verbs give [`Command::Unknown`]. Errs with a
    /// [`CommandError`] whose [`reply_code`](CommandError::reply_code) is the reply to send:
    /// 500 for an empty line or a verb that is not a word, 501 for a missing, unexpected or
    /// malformed argument, 504 for an unsupported parameter, 521/522 for an unsupported
    /// network family. Does not allocate unless an argument contains `CR NUL` or the verb of
    /// an unknown command is not in upper case.
    pub fn decode(line: Bytes) -> Result<Command, CommandError> {
        if line.is_empty() {
            return Err(CommandError::Empty);
        }
        let (verb, arg) = match line.iter().position(|&b| b == b' ') {
            Some(sp) => (line.slice(..sp), Some(line.slice(sp + 1..))),
            None => (line.clone(), None),
        };
        if !valid_verb(&verb) {
            return Err(CommandError::BadVerb);
        }
        let arg = match arg {
            Some(a) if !a.is_empty() => Some(unescape_arg(a)?),
            _ => None,
        };
        let Some(name) = VERBS
            .iter()
            .copied()
            .find(|v| v.as_bytes().eq_ignore_ascii_case(&verb))
        else {
            let verb = if verb.iter().any(u8::is_ascii_lowercase) {
                Bytes::from(verb.to_ascii_uppercase())
            } else {
                verb
            };
            return Ok(Command::Unknown { verb, arg });
        };
        decode_known(name, arg)
    }

    /// Appends the command as one control line: verb in upper case, one SP, the argument,
    /// CRLF.
    ///
    /// In arguments a `0xFF` byte is doubled (Telnet `IAC IAC`) and a CR is sent as `CR NUL`
    /// (RFC 2640 §3.1). Errs, leaving `out` as it was, when the line could not be decoded back
    /// to this command: an argument with LF or NUL ([`CommandError::ControlByte`]), an empty
    /// required argument ([`CommandError::MissingArgument`]), an OPTS name or MFF facts
    /// with a space, or an invalid HOST/LANG/unknown verb ([`CommandError::Syntax`],
    /// [`CommandError::BadVerb`]).
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), CommandError> {
        let start = out.len();
        let r = self.encode_inner(out);
        if r.is_err() {
            out.truncate(start);
        }
        r
    }

    /// The verb as sent on the wire, in upper case (`XMKD` for an X-alias; for
    /// [`Command::Unknown`] its verb, or `""` if that is not ASCII).
    pub fn verb(&self) -> &str {
        use Command::*;
        let x = |alias: &Alias, std: &'static str, x: &'static str| match alias {
            Alias::Standard => std,
            Alias::X => x,
        };
        match self {
            User(_) => "USER",
            Pass(_) => "PASS",
            Acct(_) => "ACCT",
            Cwd { alias, .. } => x(alias, "CWD", "XCWD"),
            Cdup { alias } => x(alias, "CDUP", "XCUP"),
            Smnt(_) => "SMNT",
            Rein => "REIN",
            Quit => "QUIT",
            Port(_) => "PORT",
            Pasv => "PASV",
            Type(_) => "TYPE",
            Stru(_) => "STRU",
            Mode(_) => "MODE",
            Retr(_) => "RETR",
            Stor(_) => "STOR",
            Stou(_) => "STOU",
            Appe(_) => "APPE",
            Allo { .. } => "ALLO",
            Rest(_) => "REST",
            Rnfr(_) => "RNFR",
            Rnto(_) => "RNTO",
            Abor => "ABOR",
            Dele(_) => "DELE",
            Rmd { alias, .. } => x(alias, "RMD", "XRMD"),
            Mkd { alias, .. } => x(alias, "MKD", "XMKD"),
            Pwd { alias } => x(alias, "PWD", "XPWD"),
            List(_) => "LIST",
            Nlst(_) => "NLST",
            Site(_) => "SITE",
            Syst => "SYST",
            Stat(_) => "STAT",
            Help(_) => "HELP",
            Noop => "NOOP",
            Auth(_) => "AUTH",
            Adat(_) => "ADAT",
            Pbsz(_) => "PBSZ",
            Prot(_) => "PROT",
            Ccc => "CCC",
            Mic(_) => "MIC",
            Conf(_) => "CONF",
            Enc(_) => "ENC",
            Feat => "FEAT",
            Opts { .. } => "OPTS",
            Eprt(_) => "EPRT",
            Epsv(_) => "EPSV",
            Lang(_) => "LANG",
            Mdtm(_) => "MDTM",
            Size(_) => "SIZE",
            Mlst(_) => "MLST",
            Mlsd(_) => "MLSD",
            Host(_) => "HOST",
            Lprt(_) => "LPRT",
            Lpsv => "LPSV",
            Mfmt { .. } => "MFMT",
            Mfct { .. } => "MFCT",
            Mff { .. } => "MFF",
            Clnt(_) => "CLNT",
            Avbl(_) => "AVBL",
            Pret(_) => "PRET",
            Hash(_) => "HASH",
            Rang { .. } => "RANG",
            Unknown { verb, .. } => std::str::from_utf8(verb).unwrap_or(""),
        }
    }

    fn encode_inner(&self, out: &mut BytesMut) -> Result<(), CommandError> {
        use Command::*;
        let verb = self.verb();
        if let Unknown { verb: v, .. } = self {
            if !valid_verb(v) {
                return Err(CommandError::BadVerb);
            }
        }
        out.extend_from_slice(verb.as_bytes());
        // Typed arguments are written straight away; text ones fall through to `text`.
        let text: Option<&Bytes> = match self {
            User(a) | Pass(a) | Acct(a) | Smnt(a) | Retr(a) | Stor(a) | Appe(a) | Rnfr(a)
            | Rnto(a) | Dele(a) | Site(a) | Auth(a) | Adat(a) | Mic(a) | Conf(a) | Enc(a)
            | Mdtm(a) | Size(a) | Clnt(a) | Pret(a) | Hash(a) => {
                if a.is_empty() {
                    return Err(CommandError::MissingArgument(static_verb(self)));
                }
                Some(a)
            }
            Cwd { path, .. } | Rmd { path, .. } | Mkd { path, .. } => {
                if path.is_empty() {
                    return Err(CommandError::MissingArgument(static_verb(self)));
                }
                Some(path)
            }
            Host(h) => {
                if !valid_host(h) {
                    return Err(CommandError::Syntax("HOST"));
                }
                Some(h)
            }
            Lang(Some(t)) => {
                if !t.is_empty() && !valid_lang_tag(t) {
                    return Err(CommandError::Syntax("LANG"));
                }
                Some(t)
            }
            Stou(a) | List(a) | Nlst(a) | Stat(a) | Help(a) | Mlst(a) | Mlsd(a) | Avbl(a) => {
                a.as_ref()
            }
            Unknown { arg, .. } => arg.as_ref(),
            Cdup { .. }
            | Rein
            | Quit
            | Pasv
            | Abor
            | Pwd { .. }
            | Syst
            | Noop
            | Ccc
            | Feat
            | Lpsv
            | Lang(None) => None,
            Port(a) => {
                out.extend_from_slice(b" ");
                addr::encode_port(a, out);
                None
            }
            Eprt(a) => {
                out.extend_from_slice(b" ");
                addr::encode_eprt(a, out);
                None
            }
            Lprt(a) => {
                out.extend_from_slice(b" ");
                addr::encode_lprt(a, out);
                None
            }
            Epsv(e) => {
                if let Some(t) = e.token() {
                    out.extend_from_slice(b" ");
                    out.extend_from_slice(t.as_bytes());
                }
                None
            }
            Type(t) => {
                out.extend_from_slice(b" ");
                encode_type(t, out);
                None
            }
            Stru(s) => {
                let c: &[u8] = match s {
                    Structure::File => b" F",
                    Structure::Record => b" R",
                    Structure::Page => b" P",
                };
                out.extend_from_slice(c);
                None
            }
            Mode(m) => {
                let c: &[u8] = match m {
                    TransferMode::Stream => b" S",
                    TransferMode::Block => b" B",
                    TransferMode::Compressed => b" C",
                    TransferMode::Deflate => b" Z",
                };
                out.extend_from_slice(c);
                None
            }
            Prot(p) => {
                let c: &[u8] = match p {
                    ProtLevel::Clear => b" C",
                    ProtLevel::Safe => b" S",
                    ProtLevel::Confidential => b" E",
                    ProtLevel::Private => b" P",
                };
                out.extend_from_slice(c);
                None
            }
            Rest(n) | Pbsz(n) => {
                out.extend_from_slice(b" ");
                addr::put_u64(out, *n);
                None
            }
            Allo { size, record } => {
                out.extend_from_slice(b" ");
                addr::put_u64(out, *size);
                if let Some(r) = record {
                    out.extend_from_slice(b" R ");
                    addr::put_u64(out, *r);
                }
                None
            }
            Rang { start, end } => {
                out.extend_from_slice(b" ");
                addr::put_u64(out, *start);
                out.extend_from_slice(b" ");
                addr::put_u64(out, *end);
                None
            }
            Mfmt { time, path } | Mfct { time, path } => {
                if path.is_empty() {
                    return Err(CommandError::MissingArgument(static_verb(self)));
                }
                let _ = write!(out, " {}", time.time_val_precise());
                Some(path)
            }
            Mff { facts, path } => {
                if facts.is_empty() || facts.contains(&b' ') {
                    return Err(CommandError::Syntax("MFF"));
                }
                if path.is_empty() {
                    return Err(CommandError::MissingArgument("MFF"));
                }
                out.extend_from_slice(b" ");
                put_escaped(out, facts)?;
                Some(path)
            }
            Opts { name, options } => {
                if name.is_empty() || name.contains(&b' ') {
                    return Err(CommandError::Syntax("OPTS"));
                }
                out.extend_from_slice(b" ");
                put_escaped(out, name)?;
                options.as_ref()
            }
        };
        if let Some(t) = text.filter(|t| !t.is_empty()) {
            out.extend_from_slice(b" ");
            put_escaped(out, t)?;
        }
        out.extend_from_slice(b"\r\n");
        Ok(())
    }
}

/// The verb of a known command as a `'static` string, for error values.
fn static_verb(c: &Command) -> &'static str {
    let v = c.verb();
    VERBS.iter().copied().find(|k| *k == v).unwrap_or("")
}

fn decode_known(name: &'static str, arg: Option<Bytes>) -> Result<Command, CommandError> {
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
fn valid_verb(verb: &[u8]) -> bool {
    match verb.split_first() {
        Some((first, rest)) => {
            first.is_ascii_alphabetic()
                && rest.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'@')
        }
        None => false,
    }
}

/// Applies the RFC 2640 rule: `CR NUL` is a CR; any other CR or NUL, or an LF, is an error.
fn unescape_arg(arg: Bytes) -> Result<Bytes, CommandError> {
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
fn put_escaped(out: &mut BytesMut, arg: &[u8]) -> Result<(), CommandError> {
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
fn split_first_word(a: Bytes) -> (Bytes, Option<Bytes>) {
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
fn letter_arg<T: Copy>(name: &'static str, a: &[u8], table: &[(u8, T)]) -> Result<T, CommandError> {
    match a {
        [c] if c.is_ascii_alphabetic() => table
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(c))
            .map(|&(_, v)| v)
            .ok_or(CommandError::UnsupportedParameter(name)),
        _ => Err(CommandError::Syntax(name)),
    }
}

fn parse_type(a: &[u8]) -> Result<TypeCode, CommandError> {
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

fn encode_type(t: &TypeCode, out: &mut BytesMut) {
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
fn valid_host(h: &[u8]) -> bool {
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
fn valid_lang_tag(t: &[u8]) -> bool {
    t.split(|&b| b == b'-')
        .all(|s| (1..=8).contains(&s.len()) && s.iter().all(u8::is_ascii_alphanumeric))
}

/// Splits a LIST/NLST/STAT argument into leading `-options` and the pathname.
///
/// Leading space-separated words that start with `-` are options (`LIST -la`,
/// `LIST -la -x tmp*`), as pyftpdlib and libunftp read them; the rest, after the spaces that
/// follow the options, is the path. Returns `(options, path)`, each `None` when empty.
pub fn split_list_arg(arg: &Bytes) -> (Option<Bytes>, Option<Bytes>) {
    let mut end = 0;
    let mut rest_at = 0;
    while arg.get(rest_at) == Some(&b'-') {
        let word = arg
            .get(rest_at..)
            .unwrap_or_default()
            .iter()
            .position(|&b| b == b' ')
            .map_or(arg.len(), |p| rest_at + p);
        end = word;
        rest_at = word;
        while arg.get(rest_at) == Some(&b' ') {
            rest_at += 1;
        }
    }
    let opts = (end > 0).then(|| arg.slice(..end));
    let path = (rest_at < arg.len()).then(|| arg.slice(rest_at..));
    (opts, path)
}

/// A `SITE` argument split into the subcommands this crate knows.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SiteCommand {
    /// `SITE CHMOD <octal mode> <path>`.
    Chmod {
        /// Permission bits, at most `0o7777`.
        mode: u32,
        /// The file to change.
        path: Bytes,
    },
    /// `SITE UTIME <YYYYMMDDhhmm[ss]> <path>` or `SITE UTIME <path> <atime> <mtime> <ctime> UTC`.
    Utime {
        /// The file to change.
        path: Bytes,
        /// Access time (only in the five-argument form).
        atime: Option<Timestamp>,
        /// Modification time.
        mtime: Timestamp,
        /// Change/creation time (only in the five-argument form).
        ctime: Option<Timestamp>,
    },
    /// Any other subcommand, with the rest of the argument.
    Other {
        /// The first word of the argument, as sent (compare case-insensitively).
        name: Bytes,
        /// The rest after one SP, if any.
        arg: Option<Bytes>,
    },
}

impl SiteCommand {
    /// Parses the argument of [`Command::Site`].
    ///
    /// CHMOD needs 1-4 octal digits and a path (`-177`, `778`, `foo` are rejected); UTIME
    /// times are UTC `time-val`s (12-digit times get seconds 00). Errs with
    /// [`CommandError::Syntax`] (501) for a malformed CHMOD or UTIME.
    pub fn parse(arg: &Bytes) -> Result<SiteCommand, CommandError> {
        let (name, rest) = split_first_word(arg.clone());
        if name.eq_ignore_ascii_case(b"CHMOD") {
            let (mode, path) = split_first_word(rest.ok_or(CommandError::Syntax("SITE"))?);
            let path = path.ok_or(CommandError::Syntax("SITE"))?;
            let octal =
                (1..=4).contains(&mode.len()) && mode.iter().all(|b| (b'0'..=b'7').contains(b));
            if !octal {
                return Err(CommandError::Syntax("SITE"));
            }
            let mode = mode.iter().fold(0u32, |m, &b| m * 8 + u32::from(b - b'0'));
            return Ok(SiteCommand::Chmod { mode, path });
        }
        if name.eq_ignore_ascii_case(b"UTIME") {
            let rest = rest.ok_or(CommandError::Syntax("SITE"))?;
            return parse_utime(rest).ok_or(CommandError::Syntax("SITE"));
        }
        Ok(SiteCommand::Other { name, arg: rest })
    }
}

fn parse_utime(rest: Bytes) -> Option<SiteCommand> {
    // Five-argument form first: the path may contain spaces, so read from the right.
    let mut words = rest.rsplitn(5, |&b| b == b' ');
    if let (Some(utc), Some(c), Some(m), Some(a), Some(path)) = (
        words.next(),
        words.next(),
        words.next(),
        words.next(),
        words.next(),
    ) {
        if utc.eq_ignore_ascii_case(b"UTC") && !path.is_empty() {
            if let (Some(atime), Some(mtime), Some(ctime)) =
                (utime_val(a), utime_val(m), utime_val(c))
            {
                let path = rest.slice(..path.len());
                return Some(SiteCommand::Utime {
                    path,
                    atime: Some(atime),
                    mtime,
                    ctime: Some(ctime),
                });
            }
        }
    }
    let (time, path) = split_first_word(rest);
    Some(SiteCommand::Utime {
        mtime: utime_val(&time)?,
        path: path?,
        atime: None,
        ctime: None,
    })
}

fn utime_val(t: &[u8]) -> Option<Timestamp> {
    match t.len() {
        14 => Timestamp::parse_time_val(t).ok(),
        12 => {
            let mut full = [b'0'; 14];
            full.get_mut(..12)?.copy_from_slice(t);
            Timestamp::parse_time_val(&full).ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
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
}
