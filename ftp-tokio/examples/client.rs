//! A small command-line FTP client over the tokio adapter.
//!
//! `cargo run -p ftp-tokio --example client -- [OPTIONS] COMMAND URL [FILE]`; `--help` lists
//! the commands and options. Exit status 0 on success; otherwise non-zero with a one-line
//! error naming the server's reply.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use ftp_proto::client::DataMode;
use ftp_proto::listing::{Entry, EntryKind};
use ftp_tokio::client::{insecure_tls_config, tls_config_from_pem, Client, Config, Operations};
use rustls::pki_types::ServerName;

const HELP: &str = "\
Usage: client [OPTIONS] COMMAND URL [FILE]

Commands:
  ls URL               list a directory (LIST) to stdout
  mlsd URL             list a directory with facts (MLSD) to stdout
  get URL LOCALFILE    download a file
  put LOCALFILE URL    upload a file
  rm URL               delete a file
  mkdir URL            create a directory
  mv URL NEWNAME       rename a file or directory
  size URL             print a file's size in bytes

URL: ftp://[user[:pass]@]host[:port]/path (ftps:// for implicit TLS, port 990); the default
user is anonymous. The path is relative to the login directory (use %2F for a leading /).

Options:
  --active             active mode (PORT/EPRT) instead of passive
  --no-epsv            passive mode with PASV only
  --use-pasv-address   connect to the address in 227 replies (default: the server's address)
  --tls                explicit FTPS (AUTH TLS), required
  --insecure           accept any TLS certificate (for tests only)
  --ca-file FILE       trust the PEM certificates in FILE (for TLS without --insecure)
  --timeout SECS       connect, reply and data idle timeout (default 30)
  -h, --help           this text
";

struct Args {
    command: String,
    operands: Vec<String>,
    active: bool,
    no_epsv: bool,
    use_pasv_address: bool,
    tls: bool,
    insecure: bool,
    ca_file: Option<String>,
    timeout: Duration,
}

fn parse_args() -> Result<Args, String> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_env();
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
            Long("timeout") => {
                let secs: u64 = value_str(&mut parser)?
                    .parse()
                    .map_err(|_| "--timeout takes a number of seconds".to_string())?;
                args.timeout = Duration::from_secs(secs);
            }
            Short('h') | Long("help") => {
                print!("{HELP}");
                std::process::exit(0);
            }
            Value(v) => positional.push(v.into_string().map_err(|_| "non-UTF-8 argument")?),
            other => return Err(other.unexpected().to_string()),
        }
    }
    let mut it = positional.into_iter();
    args.command = it.next().ok_or("missing COMMAND (see --help)")?;
    args.operands = it.collect();
    Ok(args)
}

fn value_str(parser: &mut lexopt::Parser) -> Result<String, String> {
    parser
        .value()
        .map_err(|e| e.to_string())?
        .into_string()
        .map_err(|_| "non-UTF-8 value".to_string())
}

/// A parsed `ftp://` or `ftps://` URL.
struct Url {
    implicit: bool,
    user: String,
    pass: String,
    host: String,
    port: u16,
    path: String,
}

fn percent_decode(s: &str) -> Result<String, String> {
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

fn parse_url(url: &str) -> Result<Url, String> {
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
    let (user, pass) = match userinfo {
        None => ("anonymous".to_string(), "anonymous@".to_string()),
        Some(u) => match u.split_once(':') {
            Some((u, p)) => (percent_decode(u)?, percent_decode(p)?),
            None => (percent_decode(u)?, String::new()),
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
        host,
        port,
        path: percent_decode(path)?,
    })
}

fn kind(e: &Entry) -> char {
    match e.kind {
        EntryKind::Dir => 'd',
        EntryKind::Symlink { .. } => 'l',
        _ => '-',
    }
}

async fn run(args: Args) -> Result<(), String> {
    let (url_arg, file_arg) = match (args.command.as_str(), args.operands.as_slice()) {
        ("ls" | "mlsd" | "rm" | "mkdir" | "size", [url]) => (url.clone(), None),
        ("get" | "mv", [url, file]) => (url.clone(), Some(file.clone())),
        ("put", [file, url]) => (url.clone(), Some(file.clone())),
        (cmd, _) => return Err(format!("bad usage of '{cmd}' (see --help)")),
    };
    let url = parse_url(&url_arg)?;
    let ip: Option<IpAddr> = url.host.parse().ok();
    let addr: SocketAddr = tokio::net::lookup_host((url.host.as_str(), url.port))
        .await
        .map_err(|e| format!("cannot resolve {}: {e}", url.host))?
        .next()
        .ok_or_else(|| format!("no address for {}", url.host))?;

    let mut config = Config::new(url.user.clone(), url.pass.clone());
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
    let tls = if url.implicit || args.tls {
        Some(if args.insecure {
            insecure_tls_config()
        } else if let Some(ca) = &args.ca_file {
            let pem = std::fs::read(ca).map_err(|e| format!("{ca}: {e}"))?;
            tls_config_from_pem(&pem).map_err(|e| e.to_string())?
        } else {
            return Err("TLS needs --ca-file FILE (or --insecure for tests)".into());
        })
    } else {
        None
    };
    let client = match tls {
        Some(tls) if url.implicit => Client::connect_implicit_tls(addr, config, tls).await,
        Some(tls) => Client::connect_tls(addr, config, tls).await,
        None => Client::connect(addr, config).await,
    }
    .map_err(|e| e.to_string())?;

    let path = url.path.as_str();
    let dir = (!path.is_empty()).then_some(path);
    let e = |e: ftp_tokio::client::Error| e.to_string();
    match args.command.as_str() {
        "ls" => {
            for entry in client.list(dir).await.map_err(e)? {
                let size = entry
                    .size
                    .map_or_else(|| "-".to_string(), |s| s.to_string());
                println!(
                    "{} {:>12} {}",
                    kind(&entry),
                    size,
                    String::from_utf8_lossy(&entry.name)
                );
            }
        }
        "mlsd" => {
            for entry in client.mlsd(dir).await.map_err(e)? {
                let size = entry
                    .size
                    .map_or_else(|| "-".to_string(), |s| s.to_string());
                println!(
                    "{} {:>12} {}",
                    kind(&entry),
                    size,
                    String::from_utf8_lossy(&entry.name)
                );
            }
        }
        "get" => {
            let local = file_arg.unwrap_or_default();
            let file = tokio::fs::File::create(&local)
                .await
                .map_err(|err| format!("{local}: {err}"))?;
            client.retr_to(path, file).await.map_err(e)?;
        }
        "put" => {
            let local = file_arg.unwrap_or_default();
            let file = tokio::fs::File::open(&local)
                .await
                .map_err(|err| format!("{local}: {err}"))?;
            client.stor(path, file).await.map_err(e)?;
        }
        "rm" => {
            client.delete(path).await.map_err(e)?;
        }
        "mkdir" => {
            client.mkdir(path).await.map_err(e)?;
        }
        "mv" => {
            client
                .rename(path, file_arg.unwrap_or_default())
                .await
                .map_err(e)?;
        }
        "size" => println!("{}", client.size(path).await.map_err(e)?),
        other => return Err(format!("unknown command '{other}' (see --help)")),
    }
    client.quit().await.map_err(e)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("client: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("client: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("client: {e}");
            ExitCode::FAILURE
        }
    }
}
