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

/// Our tests for one client adapter (a module made by `client_suite!`), against the server
/// of `Adapter::$server`.
macro_rules! ours_tests {
    ($client:ident, $krate:ident, $server:ident, $read_ext:path) => {
        mod $client {
            use super::*;
            use client_suite::$client::{block_on, connect, connect_with, run};
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

            #[test]
            fn failing_upload_source_is_never_a_complete_file() {
                let server = with_adapter(Adapter::$server, TestServer::start);
                block_on(async {
                    let client = connect(server.addr, USER, PASS, Mode::Epsv).await;
                    let err = client.stor("broken.bin", Failing(3)).await.unwrap_err();
                    assert!(matches!(err, Error::Local(_)), "{err}");
                    client.noop().await.expect("session goes on");
                });
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
