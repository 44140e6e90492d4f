//! The example client's command line: [`HELP`], [`Args`], [`Url`] parsing, the
//! [`Config`] a connection takes ([`connection`]), the listing format ([`listing_line`]), the
//! command dispatch ([`run`]) written once over the [`CliClient`] trait, which an adapter
//! implements with what differs per runtime (connecting, file transfers, QUIT), and the exit
//! statuses ([`Failure`]).
//!
//! The commands beyond single operations live in submodules: [`transfer`] (`get`/`put` with
//! `--continue`, the checks on names a server sends), [`mirror`] (trees each way), [`glob`]
//! (`get` with a pattern), [`netrc`] (credentials) and [`progress`] (bars and notes).

pub mod glob;
pub mod mirror;
pub mod netrc;
pub mod progress;
pub mod transfer;

use std::ffi::OsString;
use std::fs::File;
use std::future::Future;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::ExitCode;
use std::time::Duration;

use transfer::failed;

use ftp_host::client::{Config, Error, Operations};
use ftp_proto::client::{ClientTls, DataMode};
use ftp_proto::listing::{Entry, EntryKind};
use rustls::pki_types::ServerName;

/// The text of `--help`.
pub const HELP: &str = "\
Usage: client [OPTIONS] COMMAND URL [FILE]

Commands:
  ls URL               list a directory (LIST) to stdout
  mlsd URL             list a directory with facts (MLSD) to stdout
  get URL LOCALFILE    download a file
  get URL/PATTERN DIR  download the files of a directory whose names match PATTERN (`*`, `?`,
                       `[...]`; quote it for the shell) into DIR
  put LOCALFILE URL    upload a file
  mirror URL DIR       download the tree at URL into DIR (MLSD, or LIST when the server has
                       no MLSD); files whose size and time already match are skipped, and
                       downloaded files get the server's time
  mirror -R DIR URL    upload the tree DIR to URL (MKD as needed); files the server has with
                       the same size and a time not older are skipped
  rm URL               delete a file
  mkdir URL            create a directory
  mv URL NEWNAME       rename a file or directory
  size URL             print a file's size in bytes

URL: ftp://[user[:pass]@]host[:port]/path (ftps:// for implicit TLS, port 990). The path is
relative to the login directory (use %2F for a leading /).

Credentials: the URL's; when it names no user, the entry for the host (or `default`) in
~/.netrc or --netrc-file; otherwise anonymous. A password missing from the URL comes from the
FTP_PASSWORD environment variable, else from the netrc entry.

Mirror and get with a pattern skip, with a warning, symbolic links, special files and every
name from the server that is not a plain file name (`..`, `/`, control characters): nothing is
written outside DIR.

Options:
  -C, --continue       get: keep the local file's bytes and fetch the rest (REST + RETR);
                       put: send what the server's file lacks (SIZE, then REST + STOR, or
                       APPE when that is refused); the final size is checked with SIZE
  -R, --reverse        mirror: upload (mirror -R DIR URL)
  -q, --quiet          no progress bar and no notes (warnings and errors are still shown)
  --netrc-file FILE    read credentials from FILE instead of ~/.netrc
  --active             active mode (PORT/EPRT) instead of passive
  --no-epsv            passive mode with PASV only
  --use-pasv-address   connect to the address in 227 replies (default: the server's address)
  --tls                explicit FTPS (AUTH TLS), required
  --ca-file FILE       also trust the PEM certificates in FILE (a private CA)
  --insecure           accept any TLS certificate (for tests only)
  --timeout SECS       connect, reply and data idle timeout (default 30)
  -h, --help           this text

TLS (ftps:// or --tls): the server's certificate must be signed by a CA of the system's trust
store (the SSL_CERT_FILE and SSL_CERT_DIR environment variables replace it) or of --ca-file,
and be valid for the URL's host; otherwise the client stops before sending any credentials.

A progress bar (bytes, rate, ETA) is drawn on stderr when it is a terminal, unless --quiet.

Exit status: 0 done; 1 failed (the message names the operation, the path and the server's
reply); 2 bad command line; 3 the server's TLS certificate is not trusted.
";

/// Exit status: the command failed (the server refused it, the connection broke...).
pub const EXIT_FAILED: u8 = 1;
/// Exit status: the command line is wrong.
pub const EXIT_USAGE: u8 = 2;
/// Exit status: the server's TLS certificate is not trusted (so the client sent nothing, no
/// credentials in particular).
pub const EXIT_UNTRUSTED_CERTIFICATE: u8 = 3;

/// Why [`run`] failed: the one-line message [`main`] prints after `client: `, and the exit
/// status ([`EXIT_FAILED`], or [`EXIT_UNTRUSTED_CERTIFICATE`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Failure {
    /// The message.
    pub message: String,
    /// The exit status.
    pub status: u8,
    /// The server refused the operation and the session goes on (a `mirror` reports it and
    /// carries on with the next file).
    pub refused: bool,
}

impl From<String> for Failure {
    /// A failure with [`EXIT_FAILED`].
    fn from(message: String) -> Failure {
        Failure {
            message,
            status: EXIT_FAILED,
            refused: false,
        }
    }
}

impl From<&str> for Failure {
    /// A failure with [`EXIT_FAILED`].
    fn from(message: &str) -> Failure {
        Failure::from(message.to_owned())
    }
}

impl From<Error> for Failure {
    /// The error's text; an untrusted certificate gets [`EXIT_UNTRUSTED_CERTIFICATE`] and says
    /// how to trust it.
    fn from(e: Error) -> Failure {
        match e {
            Error::Certificate(_) => Failure {
                message: format!(
                    "{e}; no credentials were sent (trust its CA with --ca-file FILE, or \
                     --insecure for tests)"
                ),
                status: EXIT_UNTRUSTED_CERTIFICATE,
                refused: false,
            },
            e => Failure::from(e.to_string()),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Args {
    /// The command (`ls`, `get`...), not checked yet.
    pub command: String,
    /// The command's operands (URL, local file, new name), not checked yet.
    pub operands: Vec<String>,
    /// `--active`.
    pub active: bool,
    /// `--no-epsv`.
    pub no_epsv: bool,
    /// `--use-pasv-address`.
    pub use_pasv_address: bool,
    /// `--tls`.
    pub tls: bool,
    /// `--insecure`.
    pub insecure: bool,
    /// `--ca-file FILE`.
    pub ca_file: Option<String>,
    /// `--timeout SECS` (30 s by default).
    pub timeout: Duration,
    /// `-C`/`--continue`.
    pub resume: bool,
    /// `-R`/`--reverse` (mirror upwards).
    pub reverse: bool,
    /// `-q`/`--quiet`.
    pub quiet: bool,
    /// `--netrc-file FILE`.
    pub netrc_file: Option<String>,
}

impl Args {
    /// Parses the process's arguments. `-h`/`--help` prints [`HELP`] and exits with status 0.
    pub fn parse() -> Result<Args, String> {
        match Args::parse_from(std::env::args_os().skip(1))? {
            Some(args) => Ok(args),
            None => {
                print!("{HELP}");
                std::process::exit(0);
            }
        }
    }

    /// Parses these arguments (without the program name); `None` when `-h`/`--help` is among
    /// them.
    pub fn parse_from<I>(args: I) -> Result<Option<Args>, String>
    where
        I: IntoIterator,
        I::Item: Into<OsString>,
    {
        use lexopt::prelude::*;
        let mut parser = lexopt::Parser::from_args(args);
        let mut args = Args {
            command: String::new(),
            operands: Vec::new(),
            active: false,
            no_epsv: false,
            use_pasv_address: false,
            tls: false,
            insecure: false,
            ca_file: None,
            timeout: Duration::from_secs(30),
            resume: false,
            reverse: false,
            quiet: false,
            netrc_file: None,
        };
        let mut positional = Vec::new();
        while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
            match arg {
                Long("active") => args.active = true,
                Long("no-epsv") => args.no_epsv = true,
                Long("use-pasv-address") => args.use_pasv_address = true,
                Long("tls") => args.tls = true,
                Long("insecure") => args.insecure = true,
                Long("ca-file") => args.ca_file = Some(value_str(&mut parser)?),
                Short('C') | Long("continue") => args.resume = true,
                Short('R') | Long("reverse") => args.reverse = true,
                Short('q') | Long("quiet") => args.quiet = true,
                Long("netrc-file") => args.netrc_file = Some(value_str(&mut parser)?),
                Long("timeout") => {
                    let secs: u64 = value_str(&mut parser)?
                        .parse()
                        .map_err(|_| "--timeout takes a number of seconds".to_string())?;
                    args.timeout = Duration::from_secs(secs);
                }
                Short('h') | Long("help") => return Ok(None),
                Value(v) => positional.push(v.into_string().map_err(|_| "non-UTF-8 argument")?),
                other => return Err(other.unexpected().to_string()),
            }
        }
        let mut it = positional.into_iter();
        args.command = it.next().ok_or("missing COMMAND (see --help)")?;
        args.operands = it.collect();
        Ok(Some(args))
    }

    /// The command and its URL, checked: `bad usage of 'CMD' (see --help)` for an unknown
    /// command or the wrong operands.
    pub fn command(&self) -> Result<(Command, Url), String> {
        let (command, url) = match (self.command.as_str(), self.operands.as_slice()) {
            ("ls", [url]) => (Command::Ls, url),
            ("mlsd", [url]) => (Command::Mlsd, url),
            ("rm", [url]) => (Command::Rm, url),
            ("mkdir", [url]) => (Command::Mkdir, url),
            ("size", [url]) => (Command::Size, url),
            ("get", [url, local]) => (Command::Get(local.clone()), url),
            ("mv", [url, to]) => (Command::Mv(to.clone()), url),
            ("put", [local, url]) => (Command::Put(local.clone()), url),
            ("mirror", [url, dir]) if !self.reverse => (Command::Mirror(dir.clone()), url),
            ("mirror", [dir, url]) if self.reverse => (Command::MirrorUp(dir.clone()), url),
            (cmd, _) => return Err(format!("bad usage of '{cmd}' (see --help)")),
        };
        Ok((command, Url::parse(url)?))
    }
}

fn value_str(parser: &mut lexopt::Parser) -> Result<String, String> {
    parser
        .value()
        .map_err(|e| e.to_string())?
        .into_string()
        .map_err(|_| "non-UTF-8 value".to_string())
}

/// A command with its operands other than the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// `ls URL`: LIST, one [`listing_line`] per entry.
    Ls,
    /// `mlsd URL`: MLSD, one [`listing_line`] per entry.
    Mlsd,
    /// `get URL LOCALFILE`.
    Get(String),
    /// `put LOCALFILE URL`.
    Put(String),
    /// `rm URL`: DELE.
    Rm,
    /// `mkdir URL`: MKD.
    Mkdir,
    /// `mv URL NEWNAME`: RNFR and RNTO.
    Mv(String),
    /// `size URL`: SIZE, printed.
    Size,
    /// `mirror URL DIR`: the tree at the URL into DIR.
    Mirror(String),
    /// `mirror -R DIR URL`: the tree DIR to the URL.
    MirrorUp(String),
}

/// A parsed `ftp://` or `ftps://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Url {
    /// `ftps://`: implicit TLS.
    pub implicit: bool,
    /// The user (percent-decoded), `anonymous` when the URL names none.
    pub user: String,
    /// The password (percent-decoded), `anonymous@` for the default anonymous user, empty
    /// when the URL names a user without one.
    pub pass: String,
    /// The host name or IP address (without the brackets of an IPv6 address).
    pub host: String,
    /// Whether the URL names a user (else [`credentials`] looks in the netrc file).
    pub has_user: bool,
    /// Whether the URL holds a password (else [`credentials`] looks at `FTP_PASSWORD` and the
    /// netrc file).
    pub has_pass: bool,
    /// The port: 21 by default, 990 for `ftps://`.
    pub port: u16,
    /// The path after the host's `/`, percent-decoded (relative to the login directory; `%2F`
    /// makes it absolute). Empty for the login directory.
    pub path: String,
}

impl Url {
    /// Parses `ftp://[user[:pass]@]host[:port]/path` or the same with `ftps://`.
    pub fn parse(url: &str) -> Result<Url, String> {
        let (implicit, rest) = if let Some(r) = url.strip_prefix("ftp://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("ftps://") {
            (true, r)
        } else {
            return Err(format!("not an ftp:// or ftps:// URL: {url}"));
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (user, pass, has_pass) = match userinfo {
            None => ("anonymous".to_string(), "anonymous@".to_string(), false),
            Some(u) => match u.split_once(':') {
                Some((u, p)) => (percent_decode(u)?, percent_decode(p)?, true),
                None => (percent_decode(u)?, String::new(), false),
            },
        };
        let default_port = if implicit { 990 } else { 21 };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or("unclosed [ in URL")?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| "bad port in URL")?,
                None => default_port,
            };
            (h.to_string(), port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p.parse().map_err(|_| "bad port in URL")?),
                None => (hostport.to_string(), default_port),
            }
        };
        if host.is_empty() {
            return Err("no host in URL".into());
        }
        Ok(Url {
            implicit,
            user,
            pass,
            has_user: userinfo.is_some(),
            has_pass,
            host,
            port,
            path: percent_decode(path)?,
        })
    }
}

/// Decodes `%XX` escapes; the result must be UTF-8.
pub fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or("bad %-escape in URL")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| "bad %-escape in URL")?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "URL is not UTF-8".to_string())
}

/// Where to connect and how: resolves the URL's host (std's resolver) and builds the
/// [`Config`] from the URL and the options: credentials, timeouts, data mode, the name the
/// certificate is checked against, and for `ftps://` or `--tls` the TLS mode and the rustls
/// configuration: the system's trust store plus `--ca-file`'s certificates, or with
/// `--insecure` none at all.
pub fn connection(args: &Args, url: &Url) -> Result<(SocketAddr, Config), String> {
    let ip: Option<IpAddr> = url.host.parse().ok();
    let addr: SocketAddr = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", url.host))?
        .next()
        .ok_or_else(|| format!("no address for {}", url.host))?;

    let (user, pass) = if url.has_user && url.has_pass {
        (url.user.clone(), url.pass.clone())
    } else {
        let netrc = match &args.netrc_file {
            Some(f) => Some(std::fs::read_to_string(f).map_err(|e| format!("{f}: {e}"))?),
            None => std::env::var_os("HOME")
                .and_then(|h| std::fs::read_to_string(Path::new(&h).join(".netrc")).ok()),
        };
        let env = std::env::var("FTP_PASSWORD").ok();
        credentials(url, netrc.as_deref(), env)
    };
    let mut config = Config::new(user, pass);
    config.connect_timeout = args.timeout;
    config.data_idle_timeout = args.timeout;
    config.session.reply_timeout = args.timeout;
    config.session.data_timeout = args.timeout;
    config.session.trust_pasv_address = args.use_pasv_address;
    config.session.data_mode = if args.active {
        DataMode::Active
    } else if args.no_epsv {
        DataMode::PassiveNoEpsv
    } else {
        DataMode::Passive
    };
    config.server_name = Some(match ip {
        Some(ip) => ServerName::IpAddress(ip.into()),
        None => ServerName::try_from(url.host.clone()).map_err(|e| e.to_string())?,
    });
    if url.implicit || args.tls {
        config.tls = Some(if args.insecure {
            ftp_host::tls::insecure_client_config()
        } else {
            let pem = match &args.ca_file {
                Some(ca) => Some(std::fs::read(ca).map_err(|e| format!("{ca}: {e}"))?),
                None => None,
            };
            ftp_host::tls::client_config_with_system_roots(pem.as_deref()).map_err(
                |e| match &args.ca_file {
                    Some(ca) => format!("{ca}: {e}"),
                    None => e.to_string(),
                },
            )?
        });
        config.session.tls = if url.implicit {
            ClientTls::Implicit
        } else {
            ClientTls::Required
        };
    }
    Ok((addr, config))
}

/// The user and password to log in with, from the URL, the text of a netrc file and the
/// `FTP_PASSWORD` environment variable's value: the URL's user, else the netrc entry's login
/// for the URL's host (its `machine` entry, else `default`), else `anonymous`; the URL's
/// password, else `env_password`, else the netrc entry's password when its login is the user,
/// else empty (`anonymous@` for the anonymous user).
pub fn credentials(
    url: &Url,
    netrc: Option<&str>,
    env_password: Option<String>,
) -> (String, String) {
    let entries = netrc.map(netrc::parse).unwrap_or_default();
    let entry = netrc::lookup(&entries, &url.host);
    let user = if url.has_user {
        url.user.clone()
    } else {
        match entry.and_then(|e| e.login.clone()) {
            Some(login) => login,
            None if env_password.is_none() => return (url.user.clone(), url.pass.clone()),
            None => url.user.clone(),
        }
    };
    if url.has_pass {
        return (user, url.pass.clone());
    }
    let pass = env_password
        .or_else(|| {
            entry
                .filter(|e| e.login.as_deref().is_none_or(|l| l == user))
                .and_then(|e| e.password.clone())
        })
        .unwrap_or_else(|| {
            if user == "anonymous" {
                "anonymous@".to_owned()
            } else {
                String::new()
            }
        });
    (user, pass)
}

/// One line of `ls` and `mlsd` output: the kind (`d`, `l` or `-`), the size right-aligned in
/// 12 columns (`-` when unknown), the name.
pub fn listing_line(entry: &Entry) -> String {
    let kind = match entry.kind {
        EntryKind::Dir => 'd',
        EntryKind::Symlink { .. } => 'l',
        _ => '-',
    };
    let size = entry
        .size
        .map_or_else(|| "-".to_string(), |s| s.to_string());
    format!("{kind} {size:>12} {}", String::from_utf8_lossy(&entry.name))
}

/// What the example client needs from an adapter's client beyond [`Operations`]: the calls
/// whose types belong to the runtime. Implement it on a newtype around the adapter's client
/// (the orphan rule forbids implementing it on the adapter's type in an example), forwarding
/// [`Operations::run`].
///
/// Implementations may be written as `async fn`; the futures must be `Send`.
pub trait CliClient: Operations + Sized {
    /// Connects to `addr` and logs in as `config` says (its `session.tls` is `Implicit`,
    /// `Required` or `Disabled`, with `tls` set for the first two): the adapter's
    /// `Client::connect`.
    fn connect(
        addr: SocketAddr,
        config: Config,
    ) -> impl Future<Output = Result<Self, Error>> + Send;

    /// RETR of `remote` from byte `offset` (REST first when it is not 0: the adapter's
    /// `retr_from_to`) into `local`, a file opened for writing and positioned where the
    /// bytes go; flushed at the end. Returns the bytes written.
    fn download(
        &self,
        remote: &str,
        offset: u64,
        local: File,
    ) -> impl Future<Output = Result<u64, Error>> + Send;

    /// STOR of `local` (a file opened for reading, positioned at byte `offset`) to `remote`,
    /// with REST `offset` first when it is not 0 (the adapter's `stor_at`); returns the bytes
    /// sent.
    fn upload(
        &self,
        local: File,
        remote: &str,
        offset: u64,
    ) -> impl Future<Output = Result<u64, Error>> + Send;

    /// APPE of `local` (a file opened for reading, positioned where the bytes to send start)
    /// to `remote`; returns the bytes sent.
    fn append(&self, local: File, remote: &str) -> impl Future<Output = Result<u64, Error>> + Send;

    /// QUIT; the connection then closes.
    fn quit(self) -> impl Future<Output = Result<(), Error>> + Send;
}

/// Runs the command line's command with client type `C`: checks the usage, parses the URL,
/// connects ([`connection`], [`CliClient::connect`]), runs the command, prints what it
/// prints, and quits. The error holds the one-line message `main` prints after `client: ` and
/// the exit status.
pub async fn run<C: CliClient>(args: Args) -> Result<(), Failure> {
    let (command, url) = args.command()?;
    // Local problems are told before connecting.
    match &command {
        Command::Put(local) => {
            File::open(local).map_err(|err| format!("{local}: {err}"))?;
        }
        Command::MirrorUp(dir) if !Path::new(dir).is_dir() => {
            return Err(format!("{dir}: not a directory").into());
        }
        _ => {}
    }
    let (addr, config) = connection(&args, &url)?;
    let client = C::connect(addr, config).await?;
    let ui = progress::Ui::new(args.quiet);

    let path = url.path.as_str();
    let dir = (!path.is_empty()).then_some(path);
    let shown = transfer::shown(path);
    match command {
        Command::Ls => {
            for entry in client
                .list(dir)
                .await
                .map_err(failed(format_args!("LIST {shown}")))?
            {
                println!("{}", listing_line(&entry));
            }
        }
        Command::Mlsd => {
            for entry in client
                .mlsd(dir)
                .await
                .map_err(failed(format_args!("MLSD {shown}")))?
            {
                println!("{}", listing_line(&entry));
            }
        }
        Command::Get(local) => {
            let (rdir, last) = path.rsplit_once('/').unwrap_or(("", path));
            if glob::is_pattern(last) {
                get_matching(&client, rdir, last, Path::new(&local), args.resume, &ui).await?;
            } else {
                transfer::get_file(&client, path, Path::new(&local), args.resume, &ui, true)
                    .await?;
            }
        }
        Command::Put(local) => {
            transfer::put_file(&client, Path::new(&local), path, args.resume, &ui, true).await?;
        }
        Command::Rm => {
            client
                .delete(path)
                .await
                .map_err(failed(format_args!("DELE {path}")))?;
        }
        Command::Mkdir => {
            client
                .mkdir(path)
                .await
                .map_err(failed(format_args!("MKD {path}")))?;
        }
        Command::Mv(to) => {
            client
                .rename(path, &to)
                .await
                .map_err(failed(format_args!("rename {path} to {to}")))?;
        }
        Command::Size => println!(
            "{}",
            client
                .size(path)
                .await
                .map_err(failed(format_args!("SIZE {path}")))?
        ),
        Command::Mirror(local) => {
            let stats = mirror::download(&client, path, Path::new(&local), &ui).await?;
            mirror_done(&stats, &ui)?;
        }
        Command::MirrorUp(local) => {
            let stats = mirror::upload(&client, Path::new(&local), path, &ui).await?;
            mirror_done(&stats, &ui)?;
        }
    }
    client.quit().await.map_err(failed("QUIT"))
}

/// The end of a mirror run: its summary on stdout (unless `--quiet`), and a failure when a
/// file could not be transferred.
fn mirror_done(stats: &mirror::Stats, ui: &progress::Ui) -> Result<(), Failure> {
    if !ui.quiet() {
        println!("mirror: {stats}");
    }
    if stats.failed > 0 {
        return Err(format!("mirror: {} files failed (see above)", stats.failed).into());
    }
    Ok(())
}

/// `get URL/PATTERN DIR`: the files of the server directory `rdir` whose names (NLST) match
/// `pattern`, each into `local/NAME` (`local` is created when missing). Names that are not
/// one safe path component are skipped with a warning.
async fn get_matching<C: CliClient>(
    client: &C,
    rdir: &str,
    pattern: &str,
    local: &Path,
    resume: bool,
    ui: &progress::Ui,
) -> Result<(), Failure> {
    let names = client
        .nlst((!rdir.is_empty()).then_some(rdir))
        .await
        .map_err(transfer::failed(format_args!(
            "NLST {}",
            transfer::shown(rdir)
        )))?;
    let mut matched: Vec<String> = Vec::new();
    for raw in names {
        // Some servers list `dir/name`: the name is the last component.
        let base = raw.rsplit(|&b| b == b'/').next().unwrap_or(&raw);
        let Ok(name) = std::str::from_utf8(base) else {
            continue;
        };
        if !glob::matches(pattern, name) {
            continue;
        }
        match transfer::safe_name(base) {
            Ok(n) => matched.push(n.to_owned()),
            Err(why) => ui.warn(&format!(
                "skipping {:?}: {why}",
                String::from_utf8_lossy(&raw)
            )),
        }
    }
    matched.sort();
    matched.dedup();
    if matched.is_empty() {
        return Err(format!("no file in {} matches {pattern}", transfer::shown(rdir)).into());
    }
    std::fs::create_dir_all(local).map_err(transfer::io_err(local))?;
    for name in matched {
        let remote = transfer::remote_join(rdir, &name);
        let target: PathBuf = local.join(&name);
        transfer::get_file(client, &remote, &target, resume, ui, true).await?;
    }
    Ok(())
}

/// The future of [`run`], boxed, for [`main`]'s `block_on`.
pub type Run = Pin<Box<dyn Future<Output = Result<(), Failure>>>>;

/// The whole example client with client type `C`: parses the process's arguments (an error
/// there: `client: ERROR`, exit status [`EXIT_USAGE`]), then runs [`run`] on `block_on`, the
/// adapter's way to run a future to its end (an error: `client: ERROR` and the [`Failure`]'s
/// status; an error returned by `block_on` itself, e.g. a runtime that cannot start:
/// [`EXIT_FAILED`]).
pub fn main<C: CliClient + 'static>(
    block_on: impl FnOnce(Run) -> std::io::Result<Result<(), Failure>>,
) -> ExitCode {
    let args = match Args::parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("client: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match block_on(Box::pin(run::<C>(args))) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("client: {e}");
            ExitCode::from(e.status)
        }
        Err(e) => {
            eprintln!("client: {e}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Args>, String> {
        Args::parse_from(args.iter().copied())
    }

    #[test]
    fn urls() {
        let u = Url::parse("ftp://h/").unwrap();
        assert_eq!(
            (u.user.as_str(), u.pass.as_str(), u.host.as_str(), u.port),
            ("anonymous", "anonymous@", "h", 21)
        );
        assert!(!u.implicit && u.path.is_empty());
        let u = Url::parse("ftps://a%40b:p%3Aw@[::1]:2121/%2Fdir/f%20g").unwrap();
        assert!(u.implicit);
        assert_eq!(
            (u.user.as_str(), u.pass.as_str(), u.host.as_str(), u.port),
            ("a@b", "p:w", "::1", 2121)
        );
        assert_eq!(u.path, "/dir/f g");
        assert_eq!(Url::parse("ftps://h").unwrap().port, 990);
        let u = Url::parse("ftp://u@127.0.0.1:21/x").unwrap();
        assert_eq!((u.user.as_str(), u.pass.as_str()), ("u", ""));
        for (bad, msg) in [
            ("http://h/", "not an ftp:// or ftps:// URL: http://h/"),
            ("ftp://:21/", "no host in URL"),
            ("ftp://h:x/", "bad port in URL"),
            ("ftp://[::1/", "unclosed [ in URL"),
            ("ftp://h/%4", "bad %-escape in URL"),
            ("ftp://h/%zz", "bad %-escape in URL"),
            ("ftp://h/%ff", "URL is not UTF-8"),
        ] {
            assert_eq!(Url::parse(bad).unwrap_err(), msg, "{bad}");
        }
    }

    #[test]
    fn commands() {
        let a = |v: &[&str]| parse(v).unwrap().unwrap();
        let (c, u) = a(&["get", "ftp://h/f", "local"]).command().unwrap();
        assert_eq!((c, u.path.as_str()), (Command::Get("local".into()), "f"));
        let (c, u) = a(&["put", "local", "ftp://h/f"]).command().unwrap();
        assert_eq!((c, u.path.as_str()), (Command::Put("local".into()), "f"));
        let (c, _) = a(&["mv", "ftp://h/f", "g"]).command().unwrap();
        assert_eq!(c, Command::Mv("g".into()));
        for cmd in ["ls", "mlsd", "rm", "mkdir", "size"] {
            assert!(a(&[cmd, "ftp://h/"]).command().is_ok(), "{cmd}");
        }
        assert_eq!(
            a(&["get", "ftp://h/f"]).command().unwrap_err(),
            "bad usage of 'get' (see --help)"
        );
        assert_eq!(
            a(&["cat", "ftp://h/f"]).command().unwrap_err(),
            "bad usage of 'cat' (see --help)"
        );
    }

    #[test]
    fn options() {
        let a = parse(&["--active", "--timeout", "5", "ls", "ftp://h/", "--tls"])
            .unwrap()
            .unwrap();
        assert!(a.active && a.tls && !a.insecure);
        assert_eq!(a.timeout, Duration::from_secs(5));
        assert_eq!((a.command.as_str(), a.operands.len()), ("ls", 1));
        assert_eq!(parse(&["ls", "--help"]).unwrap(), None);
        assert_eq!(
            parse(&[]).unwrap_err(),
            "missing COMMAND (see --help)".to_string()
        );
        assert_eq!(
            parse(&["--timeout", "x"]).unwrap_err(),
            "--timeout takes a number of seconds"
        );
        assert!(parse(&["--bogus"]).is_err());
    }

    #[test]
    fn configs() {
        let a = parse(&[
            "--no-epsv",
            "--timeout",
            "7",
            "ls",
            "ftp://u:p@127.0.0.1:2121/",
        ])
        .unwrap()
        .unwrap();
        let (_, url) = a.command().unwrap();
        let (addr, c) = connection(&a, &url).unwrap();
        assert_eq!(addr, SocketAddr::from(([127, 0, 0, 1], 2121)));
        assert_eq!(c.session.data_mode, DataMode::PassiveNoEpsv);
        assert_eq!(c.session.tls, ClientTls::Disabled);
        assert_eq!(c.connect_timeout, Duration::from_secs(7));
        assert_eq!(c.data_idle_timeout, Duration::from_secs(7));
        assert!(c.tls.is_none());

        // TLS without options verifies against the system's store.
        let a = parse(&["--tls", "ls", "ftp://127.0.0.1/"])
            .unwrap()
            .unwrap();
        let (_, url) = a.command().unwrap();
        let (_, c) = connection(&a, &url).unwrap();
        assert!(c.tls.is_some());
        // A --ca-file that holds no certificate is refused, naming the file.
        let empty = std::env::temp_dir().join(format!("ftp-cli-empty-{}.pem", std::process::id()));
        std::fs::write(&empty, "").unwrap();
        let path = empty.to_str().unwrap();
        let a = parse(&["--tls", "--ca-file", path, "ls", "ftp://127.0.0.1/"])
            .unwrap()
            .unwrap();
        let (_, url) = a.command().unwrap();
        assert_eq!(
            connection(&a, &url).unwrap_err(),
            format!("{path}: PEM: no certificate found")
        );
        std::fs::remove_file(&empty).unwrap();
        let a = parse(&["--insecure", "ls", "ftps://127.0.0.1/"])
            .unwrap()
            .unwrap();
        let (_, url) = a.command().unwrap();
        let (addr, c) = connection(&a, &url).unwrap();
        assert_eq!(addr.port(), 990);
        assert_eq!(c.session.tls, ClientTls::Implicit);
        assert!(c.tls.is_some());
        let a = parse(&["--insecure", "--tls", "ls", "ftp://localhost/"])
            .unwrap()
            .unwrap();
        let (_, url) = a.command().unwrap();
        let (_, c) = connection(&a, &url).unwrap();
        assert_eq!(c.session.tls, ClientTls::Required);
        assert_eq!(
            c.server_name,
            Some(ServerName::try_from("localhost".to_string()).unwrap())
        );
    }

    #[test]
    fn credentials_from_url_netrc_and_environment() {
        let url = |u: &str| Url::parse(u).unwrap();
        let netrc = "machine h login bob password pw\ndefault login dflt password dp\n";
        let creds = |u: &str, n: Option<&str>, env: Option<&str>| {
            credentials(&url(u), n, env.map(str::to_owned))
        };
        let pair = |u: &str, p: &str| (u.to_owned(), p.to_owned());
        // The URL's own credentials win.
        assert_eq!(
            creds("ftp://u:p@h/", Some(netrc), Some("e")),
            pair("u", "p")
        );
        // No user in the URL: the machine entry, else the default one, else anonymous.
        assert_eq!(creds("ftp://h/", Some(netrc), None), pair("bob", "pw"));
        assert_eq!(creds("ftp://other/", Some(netrc), None), pair("dflt", "dp"));
        assert_eq!(
            creds("ftp://h/", None, None),
            pair("anonymous", "anonymous@")
        );
        // FTP_PASSWORD goes before the netrc password.
        assert_eq!(creds("ftp://h/", Some(netrc), Some("e")), pair("bob", "e"));
        assert_eq!(creds("ftp://u@h/", None, Some("e")), pair("u", "e"));
        // A user in the URL takes the netrc password only from an entry for that login.
        assert_eq!(creds("ftp://bob@h/", Some(netrc), None), pair("bob", "pw"));
        assert_eq!(
            creds("ftp://carol@h/", Some(netrc), None),
            pair("carol", "")
        );
        assert_eq!(
            creds("ftp://h/", Some("machine h password only"), None),
            pair("anonymous", "anonymous@")
        );
        assert_eq!(
            creds("ftp://h/", Some("machine h login x"), Some("e")),
            pair("x", "e")
        );
    }

    #[test]
    fn mirror_and_continue_options() {
        let a = |v: &[&str]| parse(v).unwrap().unwrap();
        let (c, u) = a(&["mirror", "ftp://h/d", "local"]).command().unwrap();
        assert_eq!((c, u.path.as_str()), (Command::Mirror("local".into()), "d"));
        let (c, u) = a(&["mirror", "-R", "local", "ftp://h/d"])
            .command()
            .unwrap();
        assert_eq!(
            (c, u.path.as_str()),
            (Command::MirrorUp("local".into()), "d")
        );
        assert!(a(&["mirror", "-R", "ftp://h/d"]).command().is_err());
        let args = a(&["-C", "-q", "--netrc-file", "n", "get", "ftp://h/f", "l"]);
        assert!(args.resume && args.quiet && !args.reverse);
        assert_eq!(args.netrc_file.as_deref(), Some("n"));
        assert!(a(&["--continue", "--quiet", "ls", "ftp://h/"]).resume);
    }

    #[test]
    fn an_untrusted_certificate_has_its_own_exit_status() {
        let f = Failure::from(Error::Certificate(rustls::CertificateError::UnknownIssuer));
        assert_eq!(f.status, EXIT_UNTRUSTED_CERTIFICATE);
        assert!(
            f.message.contains("not trusted") && f.message.contains("--ca-file"),
            "{f}"
        );
        assert_eq!(Failure::from(Error::Closed).status, EXIT_FAILED);
    }

    #[test]
    fn listing_lines() {
        let f = Entry::new("a file", EntryKind::File).with_size(1234);
        assert_eq!(listing_line(&f), format!("- {:>12} a file", 1234));
        let d = Entry::new("sub", EntryKind::Dir);
        assert_eq!(listing_line(&d), "d            - sub");
    }
}
