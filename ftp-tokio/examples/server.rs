//! A ready-to-run FTP server over the tokio adapter.
//!
//! `cargo run -p ftp-tokio --example server` serves the current directory on
//! 127.0.0.1:2121 to anonymous users (read-only) and to a default user whose credentials are
//! printed at start-up. `--help` lists the flags.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use ftp_proto::server::{PassiveAddress, ServerConfig, TlsMode};
use ftp_tokio::server::{tls_config_from_pem_files, FsStorage, Server, UserList};

const HELP: &str = "\
Usage: server [OPTIONS]

Serves a directory over FTP (and FTPS with a certificate). With no options: the current
directory on 127.0.0.1:2121, anonymous read-only access, and a default user 'user' with
password 'password' (printed at start-up) who may write.

Options:
  --listen ADDR            address to listen on, e.g. 127.0.0.1:2121 or [::1]:2121 (repeatable)
  --root DIR               directory to serve (default: the current directory)
  --user NAME:PASS         a user with write access (repeatable; replaces the default user)
  --anonymous              allow anonymous login (read-only; on by default when no --user is given)
  --read-only              every user is read-only
  --passive-ports LOW-HIGH passive data ports (default 49152-65534)
  --masquerade IP          address to advertise in PASV replies (for NAT)
  --tls-cert FILE          PEM certificate chain for FTPS (with --tls-key)
  --tls-key FILE           PEM private key for FTPS
  --require-tls            refuse login until AUTH TLS (needs a certificate)
  --implicit-tls           TLS from the first byte (implicit FTPS; needs a certificate)
  --idle-timeout SECS      close idle sessions after SECS seconds (default 300)
  --max-connections N      most simultaneous sessions (default 512)
  -h, --help               this text

Log level: RUST_LOG (default info), e.g. RUST_LOG=ftp_tokio=debug.
";

#[derive(Default)]
struct Args {
    listen: Vec<SocketAddr>,
    root: Option<PathBuf>,
    users: Vec<(String, String)>,
    anonymous: bool,
    read_only: bool,
    passive: Option<(u16, u16)>,
    masquerade: Option<IpAddr>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    require_tls: bool,
    implicit_tls: bool,
    idle: Option<u64>,
    max_connections: Option<usize>,
}

fn parse() -> Result<Args, Box<dyn std::error::Error>> {
    use lexopt::prelude::*;
    let mut a = Args::default();
    let mut p = lexopt::Parser::from_env();
    while let Some(arg) = p.next()? {
        match arg {
            Long("listen") => a.listen.push(p.value()?.parse()?),
            Long("root") => a.root = Some(p.value()?.into()),
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
            Long("max-connections") => a.max_connections = Some(p.value()?.parse()?),
            Short('h') | Long("help") => {
                print!("{HELP}");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected().into()),
        }
    }
    Ok(a)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut a = parse()?;
    if a.listen.is_empty() {
        a.listen.push(SocketAddr::from(([127, 0, 0, 1], 2121)));
    }
    let root = match a.root.take() {
        Some(r) => r,
        None => std::env::current_dir()?,
    };
    let mut users = UserList::new();
    if a.users.is_empty() {
        users = users.user("user", "password");
        a.anonymous = true;
        println!("default user: user / password (write access); anonymous: read-only");
    }
    for (n, p) in &a.users {
        users = users.user(n.clone(), p.clone());
    }
    if a.anonymous {
        users = users.anonymous();
    }
    if a.read_only {
        users = users.all_read_only();
    }

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
    let tls = match (&a.cert, &a.key) {
        (Some(c), Some(k)) => Some(tls_config_from_pem_files(c, k)?),
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

    let mut server = Server::new(FsStorage::new(&root)?, users).config(Arc::new(config));
    for addr in &a.listen {
        server = server.listen(*addr);
    }
    if let Some(tls) = tls {
        server = server.tls(tls);
    }
    if let Some(n) = a.max_connections {
        server = server.max_connections(n);
    }
    let server = server.bind().await?;
    for addr in server.local_addrs() {
        let scheme = if a.implicit_tls { "ftps" } else { "ftp" };
        println!("serving {} on {scheme}://{addr}/", root.display());
    }
    let shutdown = server.shutdown_handle();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("shutting down (transfers get 30 s to finish)");
            shutdown.shutdown();
        }
    });
    server.run().await?;
    Ok(())
}
