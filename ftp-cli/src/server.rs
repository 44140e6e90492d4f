//! The example server's command line: [`HELP`], [`Args`], the [`Setup`] an adapter's server
//! builder takes, the start-up and shutdown messages, and [`main`].

use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU64;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use ftp_host::auth::UserList;
use ftp_host::bans::{BanPolicy, Banning, Bans};
use ftp_host::events::{Observers, UploadCommand};
use ftp_host::metrics::Metrics;
use ftp_host::storage::FsStorage;
use ftp_host::xferlog::XferLog;
use ftp_proto::server::{PassiveAddress, ServerConfig, TlsMode};

use crate::Error;

/// The text of `--help`.
pub const HELP: &str = "\
Usage: server [OPTIONS]
       server hash-password < PASSWORD

Serves a directory over FTP (and FTPS with a certificate). With no options: the current
directory on 127.0.0.1:2121, anonymous read-only access, and a default user 'user' with
password 'password' (printed at start-up) who may write.

The default user exists only when every --listen address is a loopback one: to listen on an
address others can reach (0.0.0.0:2121, a LAN address), give --user NAME:PASS, or --anonymous
alone for anonymous read-only access; without either the server refuses to start.

Options:
  --listen ADDR            address to listen on, e.g. 127.0.0.1:2121 or [::1]:2121 (repeatable)
  --root DIR               directory to serve (default: the current directory)
  --storage s3://BUCKET[/PREFIX]
                           serve an S3 bucket (or S3-compatible store) instead of a directory;
                           settings from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION,
                           AWS_ENDPOINT_URL (or AWS_ENDPOINT), AWS_ALLOW_HTTP=true for a plain
                           HTTP endpoint. APPE, REST before STOR, MFMT and SITE CHMOD are
                           refused (502); needs a build with the ftp-cli/s3 feature
  --users FILE             users from a TOML file: name, password (argon2id PHC string from
                           `server hash-password`), home (relative to --root, or absolute;
                           with --storage, a key prefix, relative ones under its prefix),
                           permissions (\"read-only\", \"read-write\" or a list of list, download,
                           upload, append, delete, rename, mkdir, rmdir), max_rate (bytes/s,
                           overrides --max-rate); a user named anonymous without a
                           password allows anonymous login with its home and permissions
  --user NAME:PASS         a user with write access (repeatable; replaces the default user,
                           needed on non-loopback addresses). The password is visible to
                           other local users (ps): prefer --users
  --anonymous              allow anonymous login (read-only; on by default when no --user is given)
  --read-only              every user is read-only
  --passive-ports LOW-HIGH passive data ports (default 49152-65534)
  --masquerade IP          address to advertise in PASV replies (for NAT)
  --tls-cert FILE          PEM certificate chain for FTPS (with --tls-key)
  --tls-key FILE           PEM private key for FTPS
  --require-tls            refuse login until AUTH TLS (needs a certificate)
  --implicit-tls           TLS from the first byte (implicit FTPS; needs a certificate)
  --idle-timeout SECS      close idle sessions after SECS seconds (default 300)
  --login-timeout SECS     close a session that has not logged in SECS seconds after it
                           connected, busy or not (default 60)
  --data-timeout SECS      wait SECS seconds for a data connection, and abort a transfer that
                           moves no byte for SECS seconds (default 300)
  --max-connections N      most simultaneous sessions (default 4096)
  --max-per-ip N           most simultaneous sessions from one client address (default 1024:
                           many users can share an address behind a NAT)
  --proxy-protocol         every connection starts with a PROXY header (v1 or v2, from HAProxy
                           or a load balancer): its client address is the session's peer;
                           no default user (clients are not local); needs --proxy-from
  --proxy-from CIDR        trust PROXY headers from this address block only, e.g. 10.0.0.0/8
                           (repeatable); connections from elsewhere are closed
  --ban-after N            ban an address after N failed logins within --ban-window: its new
                           connections get 421 for --ban-time (default: no bans)
  --ban-window SECS        the window failed logins are counted in (default 600)
  --ban-time SECS          how long a ban lasts (default 900)
  --max-rate BYTES         limit each session's transfers to BYTES per second, both
                           directions (a user's max_rate in --users wins)
  --xferlog FILE           append a line per file transfer, complete or not, to FILE in the
                           wu-ftpd/vsftpd xferlog format
  --on-upload CMD          after each complete upload run CMD (no shell) with the file's path
                           as its only argument; at most 4 at once, 64 more queued, the rest
                           skipped with a log line; failures are logged
  --metrics ADDR           serve Prometheus metrics at http://ADDR/metrics
  -h, --help               this text

`server hash-password` reads a password from standard input (its first line) and prints
its argon2id PHC string for a users file.

Log level: RUST_LOG (default info), e.g. RUST_LOG=ftp_tokio=debug.
";

/// The example servers' data timeout when `--data-timeout` is not given: longer than the
/// core's default, so a client on a slow or congested link, or one that pauses between
/// reads, is not cut off in the middle of a large transfer.
pub const DEFAULT_DATA_TIMEOUT: Duration = Duration::from_secs(300);

/// How long a shutdown lets running transfers finish ([`Setup::shutdown_grace`]).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// The message printed when a shutdown signal arrives (it names [`SHUTDOWN_GRACE`]).
pub const SHUTDOWN_MESSAGE: &str = "shutting down (transfers get 30 s to finish)";

/// The parsed command line, before any file is read. [`setup`](Self::setup) turns it into
/// what a server builder takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Args {
    /// `--listen` addresses, in order (none: 127.0.0.1:2121).
    pub listen: Vec<SocketAddr>,
    /// `--root` (none: the current directory).
    pub root: Option<PathBuf>,
    /// `--storage URL` (none: `--root`).
    pub storage: Option<String>,
    /// `--user NAME:PASS`, in order (none: see [`default_access`]).
    pub users: Vec<(String, String)>,
    /// `--anonymous`.
    pub anonymous: bool,
    /// `--read-only`.
    pub read_only: bool,
    /// `--passive-ports LOW-HIGH`.
    pub passive: Option<(u16, u16)>,
    /// `--masquerade IP`.
    pub masquerade: Option<IpAddr>,
    /// `--tls-cert FILE`.
    pub cert: Option<PathBuf>,
    /// `--tls-key FILE`.
    pub key: Option<PathBuf>,
    /// `--require-tls`.
    pub require_tls: bool,
    /// `--implicit-tls`.
    pub implicit_tls: bool,
    /// `--idle-timeout SECS`.
    pub idle: Option<u64>,
    /// `--login-timeout SECS`.
    pub login_timeout: Option<u64>,
    /// `--data-timeout SECS`.
    pub data_timeout: Option<u64>,
    /// `--max-connections N`.
    pub max_connections: Option<usize>,
    /// `--max-per-ip N`.
    pub max_per_ip: Option<usize>,
    /// `--proxy-protocol`.
    pub proxy_protocol: bool,
    /// `--proxy-from CIDR`, in order.
    pub proxy_from: Vec<ftp_proto::proxy::Cidr>,
    /// `--users FILE`.
    pub users_file: Option<PathBuf>,
    /// `--ban-after N`.
    pub ban_after: Option<u32>,
    /// `--ban-window SECS`.
    pub ban_window: Option<u64>,
    /// `--ban-time SECS`.
    pub ban_time: Option<u64>,
    /// `--max-rate BYTES`.
    pub max_rate: Option<NonZeroU64>,
    /// `--xferlog FILE`.
    pub xferlog: Option<PathBuf>,
    /// `--on-upload CMD`.
    pub on_upload: Option<PathBuf>,
    /// `--metrics ADDR`.
    pub metrics: Option<SocketAddr>,
}

impl Args {
    /// Parses the process's arguments. `-h`/`--help` prints [`HELP`] and exits with status 0.
    pub fn parse() -> Result<Args, Error> {
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
    pub fn parse_from<I>(args: I) -> Result<Option<Args>, Error>
    where
        I: IntoIterator,
        I::Item: Into<OsString>,
    {
        use lexopt::prelude::*;
        let mut a = Args::default();
        let mut p = lexopt::Parser::from_args(args);
        while let Some(arg) = p.next()? {
            match arg {
                Long("listen") => a.listen.push(p.value()?.parse()?),
                Long("root") => a.root = Some(p.value()?.into()),
                Long("storage") => a.storage = Some(p.value()?.parse()?),
                Long("user") => {
                    let v: String = p.value()?.parse()?;
                    let (n, pw) = v.split_once(':').ok_or("--user wants NAME:PASS")?;
                    a.users.push((n.into(), pw.into()));
                }
                Long("anonymous") => a.anonymous = true,
                Long("read-only") => a.read_only = true,
                Long("passive-ports") => {
                    let v: String = p.value()?.parse()?;
                    let (l, h) = v.split_once('-').ok_or("--passive-ports wants LOW-HIGH")?;
                    let (l, h): (u16, u16) = (l.parse()?, h.parse()?);
                    if l > h || l == 0 {
                        return Err("--passive-ports: LOW must be 1..=HIGH".into());
                    }
                    a.passive = Some((l, h));
                }
                Long("masquerade") => a.masquerade = Some(p.value()?.parse()?),
                Long("tls-cert") => a.cert = Some(p.value()?.into()),
                Long("tls-key") => a.key = Some(p.value()?.into()),
                Long("require-tls") => a.require_tls = true,
                Long("implicit-tls") => a.implicit_tls = true,
                Long("idle-timeout") => a.idle = Some(p.value()?.parse()?),
                Long("login-timeout") => a.login_timeout = Some(p.value()?.parse()?),
                Long("data-timeout") => a.data_timeout = Some(p.value()?.parse()?),
                Long("max-connections") => a.max_connections = Some(p.value()?.parse()?),
                Long("max-per-ip") => a.max_per_ip = Some(p.value()?.parse()?),
                Long("proxy-protocol") => a.proxy_protocol = true,
                Long("proxy-from") => a.proxy_from.push(p.value()?.parse()?),
                Long("users") => a.users_file = Some(p.value()?.into()),
                Long("ban-after") => a.ban_after = Some(p.value()?.parse()?),
                Long("ban-window") => a.ban_window = Some(p.value()?.parse()?),
                Long("ban-time") => a.ban_time = Some(p.value()?.parse()?),
                Long("max-rate") => a.max_rate = Some(p.value()?.parse()?),
                Long("xferlog") => a.xferlog = Some(p.value()?.into()),
                Long("on-upload") => a.on_upload = Some(p.value()?.into()),
                Long("metrics") => a.metrics = Some(p.value()?.parse()?),
                Short('h') | Long("help") => return Ok(None),
                _ => return Err(arg.unexpected().into()),
            }
        }
        Ok(Some(a))
    }

    /// Everything a server builder takes: the defaults filled in (127.0.0.1:2121, the current
    /// directory, the default user on loopback addresses), the certificate read, the TLS flags
    /// checked. Prints the default user's credentials when it is created; errs with
    /// [`NO_USER_MESSAGE`] when [`default_access`] refuses.
    pub fn setup(self) -> Result<Setup, Error> {
        let mut a = self;
        if a.listen.is_empty() {
            a.listen.push(SocketAddr::from(([127, 0, 0, 1], 2121)));
        }
        if a.storage.is_some() && a.root.is_some() {
            return Err("--storage and --root are two places to serve: give one".into());
        }
        let root = match a.root.take() {
            Some(r) => r,
            None => std::env::current_dir()?,
        };
        let proxy_protocol = match (a.proxy_protocol, a.proxy_from.is_empty()) {
            (true, false) => Some(ftp_host::proxy::ProxyProtocol::new(a.proxy_from.clone())),
            (false, true) => None,
            (true, true) => return Err("--proxy-protocol needs --proxy-from CIDR".into()),
            (false, false) => return Err("--proxy-from needs --proxy-protocol".into()),
        };
        let mut users = match &a.users_file {
            // Homes are directories under the root, or prefixes of an object store.
            Some(path) => {
                let local = a.storage.is_none().then_some(root.as_path());
                ftp_host::users_file::load_users(path, local)?
            }
            None => UserList::new(),
        };
        if users.allows_anonymous() {
            a.anonymous = true;
        }
        if !a.users.is_empty() {
            eprintln!("{USER_FLAG_WARNING}");
        }
        if a.users.is_empty() && a.users_file.is_none() {
            // Behind a proxy the clients are not local, whatever the listen address.
            let access = match default_access(&a.listen, a.anonymous) {
                DefaultAccess::UserAndAnonymous if proxy_protocol.is_some() => match a.anonymous {
                    true => DefaultAccess::AnonymousOnly,
                    false => DefaultAccess::Refuse,
                },
                access => access,
            };
            match access {
                DefaultAccess::UserAndAnonymous => {
                    users = users.user("user", "password");
                    a.anonymous = true;
                    println!("default user: user / password (write access); anonymous: read-only");
                }
                DefaultAccess::AnonymousOnly => println!("anonymous: read-only; no other user"),
                DefaultAccess::Refuse => return Err(NO_USER_MESSAGE.into()),
            }
        }
        for (n, p) in a.users {
            users = users.user(n, p);
        }
        if a.anonymous && !users.allows_anonymous() {
            users = users.anonymous();
        }
        if a.read_only {
            users = users.all_read_only();
        }

        let bans = match (a.ban_after, a.ban_window, a.ban_time) {
            (None, None, None) => None,
            (None, _, _) => return Err("--ban-window and --ban-time need --ban-after".into()),
            (Some(0), _, _) => return Err("--ban-after wants a count of 1 or more".into()),
            (Some(n), window, time) => {
                let mut policy = BanPolicy::new(n);
                if let Some(w) = window {
                    policy = policy.window(Duration::from_secs(w));
                }
                if let Some(t) = time {
                    policy = policy.ban_time(Duration::from_secs(t));
                }
                Some(Bans::new(policy))
            }
        };

        let mut observers = Observers::new();
        if let Some(path) = &a.xferlog {
            let log =
                XferLog::open(path).map_err(|e| format!("--xferlog {}: {e}", path.display()))?;
            observers.push(Arc::new(log));
        }
        if let Some(cmd) = &a.on_upload {
            observers.push(Arc::new(UploadCommand::new(
                cmd,
                ON_UPLOAD_RUNNING,
                ON_UPLOAD_QUEUED,
            )));
        }
        let metrics = match a.metrics {
            Some(addr) => {
                let metrics = Arc::new(Metrics::new().with_bans(bans.clone()));
                observers.push(metrics.clone());
                let bound = metrics
                    .serve(addr)
                    .map_err(|e| format!("--metrics {addr}: {e}"))?;
                println!("metrics on http://{bound}/metrics");
                Some(bound)
            }
            None => None,
        };

        let mut config = ServerConfig::default();
        config.anonymous = a.anonymous;
        if let Some((l, h)) = a.passive {
            config.passive_ports = l..=h;
        }
        if let Some(ip) = a.masquerade {
            config.passive_address = PassiveAddress::MasqueradeExceptLocal(ip);
        }
        if let Some(s) = a.idle {
            config.idle_timeout = Duration::from_secs(s);
        }
        if let Some(s) = a.login_timeout {
            config.login_timeout = Duration::from_secs(s);
        }
        config.data_timeout = a
            .data_timeout
            .map_or(DEFAULT_DATA_TIMEOUT, Duration::from_secs);
        let tls = match (&a.cert, &a.key) {
            (Some(c), Some(k)) => Some(ftp_host::tls::server_config_from_pem_files(c, k)?),
            (None, None) => None,
            _ => return Err("--tls-cert and --tls-key go together".into()),
        };
        config.tls = match (tls.is_some(), a.implicit_tls, a.require_tls) {
            (false, false, false) => TlsMode::Disabled,
            (false, _, _) => {
                return Err("--implicit-tls/--require-tls need --tls-cert and --tls-key".into())
            }
            (true, true, _) => TlsMode::Implicit,
            (true, false, true) => TlsMode::ExplicitRequired,
            (true, false, false) => TlsMode::Explicit,
        };
        Ok(Setup {
            listen: a.listen,
            root,
            storage: a.storage,
            users,
            config: Arc::new(config),
            tls,
            max_connections: a.max_connections,
            max_per_ip: a.max_per_ip,
            shutdown_grace: SHUTDOWN_GRACE,
            implicit_tls: a.implicit_tls,
            proxy_protocol,
            bans,
            observers,
            max_rate: a.max_rate,
            metrics,
        })
    }
}

/// `--on-upload`: commands running at once.
pub const ON_UPLOAD_RUNNING: usize = 4;

/// `--on-upload`: commands waiting for a turn; more are skipped with a log line.
pub const ON_UPLOAD_QUEUED: usize = 64;
/// Why `--storage` fails in a build without the `s3` feature.
#[cfg(not(feature = "s3"))]
pub const NO_S3_MESSAGE: &str = "--storage needs a build with S3 support: \
    cargo build --example ... --features ftp-cli/s3";

/// The warning printed (to stderr) when `--user` is given.
pub const USER_FLAG_WARNING: &str = "warning: --user puts a password on the command line, \
    where other local users can read it (ps, /proc): prefer --users FILE with hashes from \
    `server hash-password`";

/// `server hash-password`: reads a password from the first line of `input` (without its line
/// ending) and writes its argon2id PHC string and a newline to `out`. Errs on an empty
/// password.
pub fn hash_password_command(
    mut input: impl std::io::BufRead,
    mut out: impl std::io::Write,
) -> Result<(), Error> {
    let mut line = String::new();
    input.read_line(&mut line)?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        return Err("hash-password: no password on standard input".into());
    }
    writeln!(
        out,
        "{}",
        ftp_host::auth::hash_password(password.as_bytes())?
    )?;
    Ok(())
}

/// Why the server refuses to start on a non-loopback address with neither `--user` nor
/// `--anonymous`.
pub const NO_USER_MESSAGE: &str = "the default user (user / password, with write access) \
    is only created on loopback addresses: give --user NAME:PASS (or --anonymous alone for \
    anonymous read-only access) to listen on an address others can reach";

/// Who may log in when no `--user` is given, from [`default_access`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultAccess {
    /// Every address is loopback: the default user (whose password is in `--help`) and
    /// anonymous read-only access.
    UserAndAnonymous,
    /// Others can reach the server and `--anonymous` was given: anonymous read-only access,
    /// no default user.
    AnonymousOnly,
    /// Others can reach the server and nobody was named: refuse to start rather than publish
    /// a user with a known password and write access.
    Refuse,
}

/// Who may log in without `--user`, listening on `listen` (an IPv4-mapped IPv6 address counts
/// as its IPv4 one), with `--anonymous` or not.
pub fn default_access(listen: &[SocketAddr], anonymous: bool) -> DefaultAccess {
    let loopback = listen
        .iter()
        .all(|a| ftp_proto::server::canonical_ip(a.ip()).is_loopback());
    match (loopback, anonymous) {
        (true, _) => DefaultAccess::UserAndAnonymous,
        (false, true) => DefaultAccess::AnonymousOnly,
        (false, false) => DefaultAccess::Refuse,
    }
}

/// What an adapter's server builder takes, from the command line.
#[derive(Debug)]
#[non_exhaustive]
pub struct Setup {
    /// The addresses to listen on (at least one).
    pub listen: Vec<SocketAddr>,
    /// The directory to serve (for the adapter's `FsStorage::new`) when there is no
    /// [`storage`](Self::storage) URL.
    pub root: PathBuf,
    /// `--storage`: the object store URL to serve instead of [`root`](Self::root).
    pub storage: Option<String>,
    /// Who may log in.
    pub users: UserList,
    /// The sessions' configuration (anonymous access, passive ports and address, timeouts,
    /// TLS mode).
    pub config: Arc<ServerConfig>,
    /// The rustls configuration, when a certificate was given.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// `--max-connections`, when given (otherwise
    /// [`DEFAULT_MAX_CONNECTIONS`](ftp_host::setup::DEFAULT_MAX_CONNECTIONS)).
    pub max_connections: Option<usize>,
    /// `--max-per-ip`, when given (otherwise
    /// [`DEFAULT_MAX_PER_IP`](ftp_host::setup::DEFAULT_MAX_PER_IP)).
    pub max_per_ip: Option<usize>,
    /// How long a shutdown lets running transfers finish: [`SHUTDOWN_GRACE`], which
    /// [`SHUTDOWN_MESSAGE`] names.
    pub shutdown_grace: Duration,
    /// TLS from the first byte: the addresses are `ftps://` ones.
    pub implicit_tls: bool,
    /// `--proxy-protocol` with its `--proxy-from` blocks.
    pub proxy_protocol: Option<ftp_host::proxy::ProxyProtocol>,
    /// Bans after failed logins (`--ban-after`, `--ban-window`, `--ban-time`), if any.
    pub bans: Option<Bans>,
    /// `--xferlog`, `--on-upload` and `--metrics`, as observers of the sessions.
    pub observers: Observers,
    /// `--max-rate`.
    pub max_rate: Option<NonZeroU64>,
    /// Where `--metrics` serves, once bound.
    pub metrics: Option<SocketAddr>,
}

/// The storage the example servers serve: a directory or, with the `s3` feature, a bucket.
#[cfg(feature = "s3")]
pub type ServedStorage = ftp_host::storage::EitherStorage<FsStorage, ftp_host::storage::S3Storage>;
/// The storage the example servers serve: a directory (an S3 bucket needs the `s3` feature).
#[cfg(not(feature = "s3"))]
pub type ServedStorage = FsStorage;

impl Setup {
    /// The storage the command line names: `--storage`'s bucket, or else `FsStorage` over
    /// [`root`](Self::root). Give it to [`settings`](Self::settings).
    pub fn storage(&self) -> Result<ServedStorage, Error> {
        #[cfg(feature = "s3")]
        {
            use ftp_host::storage::EitherStorage;
            Ok(match &self.storage {
                Some(url) => {
                    EitherStorage::Right(Arc::new(ftp_host::storage::S3Storage::from_env(url)?))
                }
                None => EitherStorage::Left(Arc::new(FsStorage::new(&self.root)?)),
            })
        }
        #[cfg(not(feature = "s3"))]
        match &self.storage {
            Some(_) => Err(NO_S3_MESSAGE.into()),
            None => Ok(FsStorage::new(&self.root)?),
        }
    }

    /// The adapter-neutral server settings for `storage` (usually `FsStorage` over
    /// [`root`](Self::root)): listen addresses, users, session and TLS configuration, the
    /// connection limit and the grace period. Give them to the adapter's
    /// `Server::from_settings`.
    ///
    /// Each user's session is served from the user's home: give a storage whose
    /// [`for_user`](ftp_host::storage::Storage::for_user) honours [`ftp_host::auth::User::home`]
    /// (`FsStorage` does).
    pub fn settings<S>(&self, storage: S) -> ftp_host::setup::Settings<S, Banning<UserList>> {
        let mut settings = ftp_host::setup::Settings::new(storage, self.users.clone())
            .with_bans(self.bans.clone());
        settings.listen = self.listen.clone();
        settings.config = self.config.clone();
        settings.tls = self.tls.clone();
        settings.grace = self.shutdown_grace;
        if let Some(n) = self.max_connections {
            settings.max_connections = n;
        }
        if let Some(n) = self.max_per_ip {
            settings.max_per_ip = n;
        }
        settings.proxy_protocol = self.proxy_protocol.clone();
        settings.observers = self.observers.clone();
        settings.max_rate = self.max_rate;
        settings
    }

    /// Prints one `serving ROOT on ftp://ADDR/` line (the `--storage` URL for ROOT when given) (`ftps://` for implicit TLS) for each
    /// address the server is bound to.
    pub fn print_serving(&self, bound: &[SocketAddr]) {
        let scheme = if self.implicit_tls { "ftps" } else { "ftp" };
        for addr in bound {
            match &self.storage {
                Some(url) => println!("serving {url} on {scheme}://{addr}/"),
                None => println!("serving {} on {scheme}://{addr}/", self.root.display()),
            }
        }
    }
}

/// Calls `f` once, on a thread of its own, when the process gets SIGINT (Ctrl-C) or SIGTERM
/// (what systemd, docker and Kubernetes send), after printing [`SHUTDOWN_MESSAGE`] to stderr.
/// `f` should start the server's graceful shutdown; a second signal ends the process at once
/// (status 128 + the signal's number).
///
/// On platforms other than Unix nothing is installed, and Ctrl-C ends the process at once.
pub fn on_shutdown_signal(f: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
        let mut f = Some(f);
        std::thread::Builder::new()
            .name("shutdown-signal".into())
            .spawn(move || {
                for signal in signals.forever() {
                    match f.take() {
                        Some(f) => {
                            eprintln!("{SHUTDOWN_MESSAGE}");
                            f();
                        }
                        None => std::process::exit(128 + signal),
                    }
                }
            })?;
    }
    #[cfg(not(unix))]
    drop(f);
    Ok(())
}

/// The whole example server around `serve`: starts tracing ([`init_tracing`](crate::init_tracing)),
/// parses the process's arguments, builds the [`Setup`], adds the
/// [`BurstTrim`](crate::trim::BurstTrim) observer (memory given back after a burst of sessions)
/// and calls `serve` with it. `serve`
/// binds the adapter's server, calls [`Setup::print_serving`] and [`on_shutdown_signal`], and
/// runs the server to its end. Any error is printed as `server: ERROR`, with exit status 1.
pub fn main(serve: impl FnOnce(Setup) -> Result<(), Error>) -> ExitCode {
    crate::init_tracing();
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == "hash-password")
    {
        return match hash_password_command(std::io::stdin().lock(), std::io::stdout().lock()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("server: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let setup = Args::parse().and_then(Args::setup).map(|mut s| {
        // Not in `setup`: only the example server's own process gives memory back this way.
        s.observers.push(Arc::new(crate::trim::BurstTrim::new()));
        s
    });
    match setup.and_then(serve) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Args>, Error> {
        Args::parse_from(args.iter().copied())
    }

    #[test]
    fn defaults() {
        let s = parse(&[]).unwrap().unwrap().setup().unwrap();
        assert_eq!(s.listen, [SocketAddr::from(([127, 0, 0, 1], 2121))]);
        assert_eq!(s.root, std::env::current_dir().unwrap());
        assert!(s.config.anonymous);
        assert_eq!(s.config.tls, TlsMode::Disabled);
        assert!(s.tls.is_none() && s.max_connections.is_none() && !s.implicit_tls);
        let settings = s.settings(());
        assert_eq!(settings.max_per_ip, ftp_host::setup::DEFAULT_MAX_PER_IP);
        assert_eq!(
            settings.max_connections,
            ftp_host::setup::DEFAULT_MAX_CONNECTIONS
        );
        let d = ServerConfig::default();
        assert_eq!(s.config.data_timeout, Duration::from_secs(300));
        assert_eq!(s.config.idle_timeout, d.idle_timeout);
        assert_eq!(s.config.login_timeout, d.login_timeout);
    }

    #[test]
    fn rate_xferlog_hook_and_metrics_flags() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("xferlog");
        let s = parse(&[
            "--max-rate",
            "1000",
            "--xferlog",
            log.to_str().unwrap(),
            "--on-upload",
            "/bin/true",
            "--metrics",
            "127.0.0.1:0",
        ])
        .unwrap()
        .unwrap()
        .setup()
        .unwrap();
        assert_eq!(s.max_rate, NonZeroU64::new(1000));
        assert!(log.exists(), "the transfer log is opened at start-up");
        assert_ne!(s.metrics.unwrap().port(), 0);
        let settings = s.settings(());
        assert_eq!(settings.max_rate, NonZeroU64::new(1000));
        assert_eq!(format!("{:?}", settings.observers), "Observers(3)");
        assert!(parse(&["--max-rate", "0"]).is_err());
        let bad = parse(&["--xferlog", "/nonexistent/dir/xferlog"])
            .unwrap()
            .unwrap()
            .setup()
            .unwrap_err();
        assert!(bad.to_string().contains("--xferlog"), "{bad}");
    }

    /// `--storage` replaces `--root`; without the `s3` feature it names the feature; with it,
    /// the URL must be an `s3://` one.
    #[test]
    fn storage_flag() {
        let a = parse(&["--storage", "s3://bucket/pre"]).unwrap().unwrap();
        assert_eq!(a.storage.as_deref(), Some("s3://bucket/pre"));
        let s = a.setup().unwrap();
        assert_eq!(s.storage.as_deref(), Some("s3://bucket/pre"));
        #[cfg(not(feature = "s3"))]
        assert_eq!(s.storage().unwrap_err().to_string(), NO_S3_MESSAGE);
        #[cfg(feature = "s3")]
        assert!(matches!(
            s.storage().unwrap(),
            ftp_host::storage::EitherStorage::Right(_)
        ));
        let both = parse(&["--storage", "s3://b", "--root", "."])
            .unwrap()
            .unwrap();
        assert!(both
            .setup()
            .unwrap_err()
            .to_string()
            .contains("--storage and --root"));
        let fs = parse(&[]).unwrap().unwrap().setup().unwrap();
        assert!(fs.storage().is_ok());
        #[cfg(feature = "s3")]
        {
            let bad = parse(&["--storage", "gs://b"])
                .unwrap()
                .unwrap()
                .setup()
                .unwrap();
            assert!(bad.storage().is_err());
        }
    }

    /// The defaults the help text names are the ones in force: the core's, the host's and the
    /// CLI's own.
    #[test]
    fn help_names_the_core_defaults() {
        let d = ServerConfig::default();
        let idle = format!("(default {})", d.idle_timeout.as_secs());
        let login = format!("(default {})", d.login_timeout.as_secs());
        assert_eq!(d.login_timeout, Duration::from_secs(60));
        let data = format!("(default {})", DEFAULT_DATA_TIMEOUT.as_secs());
        let ports = format!(
            "(default {}-{})",
            d.passive_ports.start(),
            d.passive_ports.end()
        );
        for s in [idle, login, data, ports] {
            assert!(HELP.contains(&s), "{s}");
        }
        let limits = ftp_host::setup::Settings::new((), ());
        assert!(limits.max_per_ip >= 1000, "users behind one NAT");
        for (flag, n) in [
            ("--max-connections", limits.max_connections),
            ("--max-per-ip", limits.max_per_ip),
        ] {
            let line = HELP.lines().position(|l| l.contains(flag)).unwrap();
            let text = HELP.lines().skip(line).take(2).collect::<String>();
            assert!(text.contains(&format!("(default {n}")), "{flag}: {text}");
        }
        let grace = format!("get {} s", SHUTDOWN_GRACE.as_secs());
        assert!(SHUTDOWN_MESSAGE.contains(&grace));
    }

    #[test]
    fn proxy_protocol_flags() {
        let s = parse(&[
            "--proxy-protocol",
            "--proxy-from",
            "127.0.0.1",
            "--proxy-from",
            "10.0.0.0/8",
            "--anonymous",
        ])
        .unwrap()
        .unwrap()
        .setup()
        .unwrap();
        let p = s.settings(()).proxy_protocol.unwrap();
        assert_eq!(p.from.len(), 2);
        assert!(p.trusts("10.1.2.3".parse().unwrap()) && !p.trusts("11.0.0.1".parse().unwrap()));
        // Anonymous only: the default user is for local clients, and these are not.
        use ftp_host::auth::{Authenticator, Credentials};
        let default_user = s.users.login(&Credentials::new("user", "password"));
        assert!(s.config.anonymous && default_user.is_err());
        let bare = parse(&["--proxy-protocol"]).unwrap().unwrap().setup();
        assert!(bare.unwrap_err().to_string().contains("--proxy-from"));
        let alone = parse(&["--proxy-from", "127.0.0.1/32"]).unwrap().unwrap();
        assert!(alone.setup().is_err());
        assert!(parse(&["--proxy-from", "10.0.0.0/33"]).is_err());
        let nobody = parse(&["--proxy-protocol", "--proxy-from", "127.0.0.1"]);
        assert!(nobody.unwrap().unwrap().setup().is_err());
        assert!(parse(&[])
            .unwrap()
            .unwrap()
            .setup()
            .unwrap()
            .proxy_protocol
            .is_none());
    }

    #[test]
    fn flags() {
        let a = parse(&[
            "--listen",
            "[::1]:21",
            "--listen",
            "127.0.0.1:0",
            "--user",
            "a:b:c",
            "--passive-ports",
            "5000-5010",
            "--idle-timeout",
            "7",
            "--data-timeout",
            "9",
            "--login-timeout",
            "11",
            "--max-connections",
            "3",
            "--max-per-ip",
            "2",
            "--masquerade",
            "10.0.0.1",
            "--read-only",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(a.users, [("a".to_string(), "b:c".to_string())]);
        let s = a.setup().unwrap();
        assert_eq!(s.listen.len(), 2);
        assert!(!s.config.anonymous);
        assert_eq!(s.config.passive_ports, 5000..=5010);
        assert_eq!(s.config.idle_timeout, Duration::from_secs(7));
        assert_eq!(s.config.data_timeout, Duration::from_secs(9));
        assert_eq!(s.config.login_timeout, Duration::from_secs(11));
        assert_eq!(s.max_connections, Some(3));
        let settings = s.settings(());
        assert_eq!((settings.max_connections, settings.max_per_ip), (3, 2));
        assert!(matches!(
            s.config.passive_address,
            PassiveAddress::MasqueradeExceptLocal(ip) if ip == IpAddr::from([10, 0, 0, 1])
        ));
    }

    #[test]
    fn users_file_and_ban_flags() {
        use ftp_host::auth::{Authenticator as _, Credentials, Permissions};
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("home")).unwrap();
        let mut phc = Vec::new();
        hash_password_command(&b"pa ss\r\nignored\n"[..], &mut phc).unwrap();
        let phc = String::from_utf8(phc).unwrap();
        assert!(
            phc.starts_with("$argon2id$") && phc.ends_with('\n'),
            "{phc}"
        );
        assert!(ftp_host::auth::verify_password(phc.trim_end(), b"pa ss").unwrap());
        assert!(hash_password_command(&b"\n"[..], &mut Vec::new()).is_err());
        let file = root.path().join("users.toml");
        std::fs::write(
            &file,
            format!(
                "[[user]]\nname = \"u\"\npassword = \"{}\"\nhome = \"home\"\n\n\
                 [[user]]\nname = \"anonymous\"\npermissions = [\"list\"]\n",
                phc.trim_end()
            ),
        )
        .unwrap();
        let (file_arg, root_arg) = (file.to_str().unwrap(), root.path().to_str().unwrap());
        let flags = [
            "--listen",
            "0.0.0.0:0",
            "--users",
            file_arg,
            "--root",
            root_arg,
        ];
        let s = parse(&[&flags[..], &["--ban-after", "3", "--ban-time", "5"]].concat())
            .unwrap()
            .unwrap()
            .setup()
            .unwrap();
        // The file's anonymous entry turns anonymous access on, with its permissions; no
        // default user on a non-loopback address is needed.
        assert!(s.config.anonymous);
        let u = s.users.login(&Credentials::new("u", "pa ss")).unwrap();
        assert_eq!(u.permissions, Permissions::READ_ONLY);
        assert_eq!(
            s.users.anonymous_account().unwrap().permissions,
            Permissions::LIST
        );
        let policy = *s.bans.as_ref().unwrap().policy();
        assert_eq!(policy.after, 3);
        assert_eq!(policy.window, Duration::from_secs(600));
        assert_eq!(policy.ban_time, Duration::from_secs(5));
        assert!(s.settings(()).bans.is_some());
        // A malformed file names its line; ban flags are checked.
        std::fs::write(&file, "[[user]]\nname = \"u\"\nshell = \"/bin/sh\"\n").unwrap();
        let e = parse(&flags)
            .unwrap()
            .unwrap()
            .setup()
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 3") && e.contains("shell"), "{e}");
        for bad in [&["--ban-window", "5"][..], &["--ban-after", "0"]] {
            let args = [&["--anonymous", "--listen", "0.0.0.0:0"][..], bad].concat();
            assert!(parse(&args).unwrap().unwrap().setup().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn default_user_only_on_loopback() {
        let addrs = |list: &[&str]| -> Vec<SocketAddr> {
            list.iter().map(|a| a.parse().unwrap()).collect()
        };
        for local in [
            &["127.0.0.1:2121"][..],
            &["[::1]:21", "127.0.0.2:0"],
            &["[::ffff:127.0.0.1]:21"],
        ] {
            assert_eq!(
                default_access(&addrs(local), false),
                DefaultAccess::UserAndAnonymous,
                "{local:?}"
            );
        }
        for open in [
            &["0.0.0.0:2121"][..],
            &["[::]:2121"],
            &["192.168.1.5:21"],
            &["127.0.0.1:2121", "10.0.0.1:2121"],
        ] {
            assert_eq!(default_access(&addrs(open), false), DefaultAccess::Refuse);
            assert_eq!(
                default_access(&addrs(open), true),
                DefaultAccess::AnonymousOnly
            );
        }
        // Through setup: a refusal that says what to do, anonymous only, or named users.
        let e = parse(&["--listen", "0.0.0.0:2121"])
            .unwrap()
            .unwrap()
            .setup();
        assert_eq!(e.unwrap_err().to_string(), NO_USER_MESSAGE);
        assert!(NO_USER_MESSAGE.contains("--user NAME:PASS"));
        let anon = parse(&["--listen", "0.0.0.0:0", "--anonymous"])
            .unwrap()
            .unwrap()
            .setup()
            .unwrap();
        assert!(anon.config.anonymous);
        let user = ftp_host::auth::Credentials::new("user", "password");
        use ftp_host::auth::Authenticator as _;
        assert!(anon.users.login(&user).is_err());
        let named = parse(&["--listen", "0.0.0.0:0", "--user", "a:b"])
            .unwrap()
            .unwrap()
            .setup()
            .unwrap();
        assert!(!named.config.anonymous && named.users.login(&user).is_err());
        // The loopback default stays.
        let local = parse(&[]).unwrap().unwrap().setup().unwrap();
        assert!(local.users.login(&user).is_ok());
    }

    #[test]
    fn help_and_errors() {
        assert!(parse(&["--listen", "x", "--help"]).is_err());
        assert_eq!(parse(&["-h"]).unwrap(), None);
        for bad in [
            &["--user", "nocolon"][..],
            &["--passive-ports", "9-8"],
            &["--passive-ports", "0-8"],
            &["--bogus"],
            &["--data-timeout", "soon"],
            &["--login-timeout", "-1"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let e = parse(&["--implicit-tls"]).unwrap().unwrap().setup();
        assert_eq!(
            e.unwrap_err().to_string(),
            "--implicit-tls/--require-tls need --tls-cert and --tls-key"
        );
        let e = parse(&["--tls-cert", "c.pem"]).unwrap().unwrap().setup();
        assert_eq!(
            e.unwrap_err().to_string(),
            "--tls-cert and --tls-key go together"
        );
    }
}
