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

mod args;
mod site;
#[cfg(test)]
mod tests;

use args::*;
pub use site::{split_list_arg, SiteCommand};

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
