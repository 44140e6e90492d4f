//! The tokio and futures clients against the same adapter's server, in process: the same suite as against the peer
//! servers in EPSV, PASV, active PORT (IPv4) and EPRT (IPv6), explicit FTPS with session
//! reuse required (TLS 1.3 and 1.2) and implicit FTPS; plus abort, a dropped download and
//! typed errors.

mod client_suite;

use client_suite::{Caps, Mode};
use ftp_host::client::{Config, Error, Operations};
use ftp_host::tls::{insecure_client_config, insecure_client_config_with};
use ftp_proto::server::TlsMode;
use ftp_tests::{content, with_adapter, Adapter, Options, TestServer, PASS, USER};

const CAPS: Caps = Caps {
    mlsd: true,
    rest_stor: true,
    nlst_dots: false,
    follows_symlinks: true,
};

/// An upload source that fails after a few reads.
struct Failing(usize);
impl tokio::io::AsyncRead for Failing {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.0 == 0 {
            return std::task::Poll::Ready(Err(std::io::Error::other("disk on fire")));
        }
        self.0 -= 1;
        buf.put_slice(&[b'x'; 1000]);
        std::task::Poll::Ready(Ok(()))
    }
}

impl futures_io::AsyncRead for Failing {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        if self.0 == 0 {
            return std::task::Poll::Ready(Err(std::io::Error::other("disk on fire")));
        }
        self.0 -= 1;
        let n = buf.len().min(1000);
        buf[..n].fill(b'x');
        std::task::Poll::Ready(Ok(n))
    }
}

/// What [`ScriptedServer`] saw of the one upload it served.
#[derive(Debug, Default)]
struct Seen {
    /// Bytes read on the data connection.
    data_bytes: usize,
    /// The data connection ended with a clean end of stream (FIN), not a reset.
    clean_eof: bool,
    /// Control commands in arrival order, ABOR included, with `<data end>` where the data
    /// connection ended.
    log: Vec<String>,
}

impl Seen {
    /// Whether a server would have taken the upload as finished: the data ended cleanly and
    /// no ABOR came before that end.
    fn upload_complete(&self) -> bool {
        let end = self.log.iter().position(|l| l == "<data end>");
        let abor = self.log.iter().position(|l| l == "ABOR");
        self.clean_eof && !matches!((abor, end), (Some(a), Some(e)) if a < e)
    }
}

/// A minimal FTP server on loopback that logs in anyone, serves one passive upload and
/// records what it saw of it, so a test can judge the client from the server's side. Control
/// and data are watched from one thread by polling both, which keeps the order of ABOR and
/// the end of data.
struct ScriptedServer {
    addr: std::net::SocketAddr,
    thread: std::thread::JoinHandle<Seen>,
}

impl ScriptedServer {
    fn start() -> ScriptedServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let thread = std::thread::spawn(move || {
            let (ctl, _) = listener.accept().unwrap();
            serve_one_upload(ctl)
        });
        ScriptedServer { addr, thread }
    }

    fn finish(self) -> Seen {
        self.thread.join().expect("scripted server")
    }
}

fn serve_one_upload(ctl: std::net::TcpStream) -> Seen {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::time::{Duration, Instant};
    let mut seen = Seen::default();
    let mut w = ctl.try_clone().unwrap();
    ctl.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut r = BufReader::new(ctl);
    let say =
        |w: &mut std::net::TcpStream, s: &str| w.write_all(format!("{s}\r\n").as_bytes()).unwrap();
    say(&mut w, "220 scripted");
    let mut passive: Option<std::net::TcpListener> = None;
    let mut data: Option<std::net::TcpStream> = None;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut line = String::new();
    while Instant::now() < deadline {
        if let Some(d) = data.as_mut() {
            let mut buf = [0u8; 4096];
            match d.read(&mut buf) {
                Ok(0) => {
                    seen.clean_eof = true;
                    seen.log.push("<data end>".into());
                    data = None;
                    say(&mut w, "226 stored");
                }
                Ok(n) => seen.data_bytes += n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => {
                    seen.log.push("<data end>".into());
                    data = None;
                    say(&mut w, "426 connection lost");
                }
            }
        }
        match r.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => break,
        }
        let cmd = std::mem::take(&mut line);
        let verb = cmd
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        seen.log.push(verb.clone());
        match verb.as_str() {
            "USER" => say(&mut w, "331 password"),
            "PASS" => say(&mut w, "230 in"),
            "PWD" => say(&mut w, "257 \"/\""),
            "EPSV" => {
                let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let port = l.local_addr().unwrap().port();
                passive = Some(l);
                say(
                    &mut w,
                    &format!("229 Entering Extended Passive Mode (|||{port}|)"),
                );
            }
            "STOR" => {
                let (d, _) = passive.take().expect("EPSV before STOR").accept().unwrap();
                d.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
                data = Some(d);
                say(&mut w, "150 go");
            }
            "ABOR" => {
                if data.take().is_some() {
                    seen.log.push("<data end>".into());
                    say(&mut w, "426 aborted");
                }
                say(&mut w, "226 abort done");
            }
            "QUIT" => {
                say(&mut w, "221 bye");
                break;
            }
            "FEAT" | "OPTS" | "HOST" => say(&mut w, "502 not here"),
            _ => say(&mut w, "200 ok"),
        }
    }
    seen
}

/// Our tests for one client adapter (a module made by `client_suite!`), against the server
/// of `Adapter::$server`.
macro_rules! ours_tests {
    ($client:ident, $krate:ident, $server:ident, $read_ext:path) => {
        mod $client {
            use super::*;
            use client_suite::$client::{
                block_on, connect, connect_with, epsv_given_up, run, run_extras,
            };
            use $read_ext as _;

            fn suite(opts: Options, mode: Mode) {
                let _ = tracing_subscriber::fmt()
                    .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                    .with_test_writer()
                    .try_init();
                let server = TestServer::with(Options {
                    adapter: Adapter::$server,
                    ..opts
                });
                block_on(async {
                    let client = connect(server.addr, USER, PASS, mode).await;
                    run(&client, server.root.path(), CAPS, "ours").await;
                    if matches!(mode, Mode::Epsv | Mode::Tls | Mode::Implicit) {
                        assert!(
                            !epsv_given_up(&client).await,
                            "the client fell back to PASV"
                        );
                    }
                    client.quit().await.expect("quit");
                });
            }

            fn tls(mode: TlsMode) -> Options {
                // Every data connection must resume the control connection's TLS session
                // (tls_session_reuse.rs runs long sessions of them).
                Options {
                    tls: mode,
                    require_tls_reuse: true,
                    ..Options::default()
                }
            }

            #[test]
            fn epsv() {
                suite(Options::default(), Mode::Epsv);
            }

            #[test]
            fn pasv() {
                suite(Options::default(), Mode::Pasv);
            }

            #[test]
            fn active_port() {
                suite(Options::default(), Mode::Active);
            }

            #[test]
            fn ipv6_active_eprt_and_epsv() {
                let v6 = || Options {
                    ipv6: true,
                    ..Options::default()
                };
                suite(v6(), Mode::Active);
                suite(v6(), Mode::Epsv);
            }

            #[test]
            fn extras_stou_mfmt_site_stat() {
                let server = with_adapter(Adapter::$server, TestServer::start);
                block_on(async {
                    let client = connect(server.addr, USER, PASS, Mode::Epsv).await;
                    run_extras(&client, server.root.path(), "ours").await;
                    client.quit().await.expect("quit");
                });
            }

            #[test]
            fn ftps_explicit() {
                suite(tls(TlsMode::Explicit), Mode::Tls);
                suite(tls(TlsMode::Explicit), Mode::TlsActive);
            }

            #[test]
            fn ftps_explicit_tls12() {
                let server = with_adapter(Adapter::$server, || {
                    TestServer::with(tls(TlsMode::Explicit))
                });
                block_on(async {
                    let config = client_suite::config(USER, PASS, Mode::Tls);
                    let tls12 = insecure_client_config_with(&[&rustls::version::TLS12]);
                    let client = connect_with(server.addr, config, Mode::Tls, tls12).await;
                    run(&client, server.root.path(), CAPS, "tls12").await;
                });
            }

            #[test]
            fn ftps_implicit() {
                suite(tls(TlsMode::Implicit), Mode::Implicit);
            }

            #[test]
            fn login_refused_names_the_reply() {
                let server = with_adapter(Adapter::$server, TestServer::start);
                block_on(async {
                    let err =
                        $krate::client::Client::connect(server.addr, Config::new(USER, "wrong"))
                            .await
                            .unwrap_err();
                    assert!(matches!(err, Error::Session(_)), "{err}");
                    assert_eq!(
                        err.reply().map(|r| r.code().to_string()),
                        Some("530".into())
                    );
                    assert!(err.to_string().contains("530"), "{err}");
                });
            }

            #[test]
            fn tls_without_config_and_plain_server_refusing_tls() {
                let server = with_adapter(Adapter::$server, TestServer::start);
                block_on(async {
                    let mut c = Config::new(USER, PASS);
                    c.session.tls = ftp_proto::client::ClientTls::Required;
                    assert!(matches!(
                        $krate::client::Client::connect(server.addr, c).await,
                        Err(Error::TlsNotConfigured)
                    ));
                    let err = $krate::client::Client::connect_tls(
                        server.addr,
                        Config::new(USER, PASS),
                        insecure_client_config(),
                    )
                    .await
                    .unwrap_err();
                    assert!(err.reply().is_some(), "{err}");
                });
            }

            #[test]
            fn abort_a_download_and_go_on() {
                let server = with_adapter(Adapter::$server, TestServer::start);
                let big = content(64 * 1024 * 1024, 9);
                server.put_file("big.bin", &big);
                block_on(async {
                    let client = connect(server.addr, USER, PASS, Mode::Epsv).await;
                    let mut stream = client.retr("big.bin").await.expect("retr");
                    let mut first = vec![0u8; 1024];
                    stream.read_exact(&mut first).await.expect("first bytes");
                    assert_eq!(first, big[..1024]);
                    client.abort().await.expect("abort");
                    let mut rest = Vec::new();
                    assert!(
                        stream.read_to_end(&mut rest).await.is_err(),
                        "aborted stream ends in error"
                    );
                    // The session goes on.
                    assert_eq!(
                        client.size("big.bin").await.expect("size"),
                        big.len() as u64
                    );
                    let mut small = Vec::new();
                    server.put_file("small.bin", b"small");
                    client.retr_to("small.bin", &mut small).await.expect("get");
                    assert_eq!(small, b"small");
                });
            }

            /// What a server sees of an upload whose local source fails: the data connection
            /// must not end the way a finished upload ends (a clean end of data with no ABOR
            /// before it), or the server stores the first bytes as the whole file and says 226.
            #[test]
            fn failing_upload_source_is_never_a_complete_file() {
                // Our server keeps the bytes of a broken upload on disk (FsStorage writes in
                // place), so its disk cannot tell a cut upload from a finished one; a scripted
                // server sees the difference on the wire.
                let server = ScriptedServer::start();
                block_on(async {
                    let client = connect(server.addr, USER, PASS, Mode::Epsv).await;
                    let err = client.stor("broken.bin", Failing(3)).await.unwrap_err();
                    assert!(matches!(err, Error::Local(_)), "{err}");
                    client.noop().await.expect("session goes on");
                    client.quit().await.expect("quit");
                });
                let seen = server.finish();
                assert!(seen.data_bytes <= 3000, "{seen:?}");
                assert!(
                    !seen.upload_complete(),
                    "the server was shown a complete {}-byte file: {seen:?}",
                    seen.data_bytes
                );
            }
        }
    };
}

ours_tests!(tokio_client, ftp_tokio, Tokio, tokio::io::AsyncReadExt);
ours_tests!(
    futures_client,
    ftp_futures,
    Futures,
    futures_lite::AsyncReadExt
);
// The mio client is blocking (no ABOR during a transfer, std::io sources): its own tests
// (ftp-mio/tests/client_server.rs) cover it against the mio server; the shared suite runs it
// against the peers (client_peers.rs).
