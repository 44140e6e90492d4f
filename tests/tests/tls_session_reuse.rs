//! Long FTPS sessions with data-connection TLS session reuse required: each client adapter
//! against each adapter's server and against vsftpd (`require_ssl_reuse=YES`) makes 27 data
//! connections (uploads, downloads and LISTs mixed) under TLS 1.3, where every ticket is used
//! once; a server that requires reuse refuses a data connection that made a full handshake, so
//! each transfer that succeeds resumed. proftpd (reuse required by default) gives no ticket on
//! upload connections: 27 downloads and listings under TLS 1.3, the mix under TLS 1.2.
//! And the other way round: Python's ftplib, which never resumes on data connections, gets
//! 522 from our servers when they require reuse.

mod client_suite;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use client_suite::Mode;
use ftp_host::client::Operations;
use ftp_host::tls::insecure_client_config_with;
use ftp_proto::server::TlsMode;
use ftp_tests::peers::{PeerKind, PeerServer, PeerTls, PEER_PASS, PEER_USER};
use ftp_tests::{content, run_client, with_adapter, Adapter, Options, TestServer, PASS, USER};

/// The peers' user and password.
const PEER: (&str, &str) = (PEER_USER, PEER_PASS);

/// Rounds of upload, download and LIST: 27 data connections in one session.
const ROUNDS: usize = 9;

fn reuse_server(adapter: Adapter) -> TestServer {
    with_adapter(adapter, || {
        TestServer::with(Options {
            tls: TlsMode::Explicit,
            require_tls_reuse: true,
            ..Options::default()
        })
    })
}

/// Prints a peer's logs when the test fails.
struct Logs<'a>(&'a PeerServer);

impl Drop for Logs<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- {:?} logs ---\n{}", self.0.kind, self.0.logs());
        }
    }
}

/// The TLS 1.3 client configuration (tests only: any certificate).
fn tls13() -> Arc<rustls::ClientConfig> {
    insecure_client_config_with(&[&rustls::version::TLS13])
}

/// One client adapter's long sessions (a module made by `client_suite!`).
macro_rules! reuse_tests {
    ($client:ident) => {
        mod $client {
            use super::*;
            use client_suite::$client::{block_on, connect_with};

            /// Logs in over explicit TLS with `tls` and runs [`ROUNDS`] rounds of three data
            /// connections, checking every byte: STOR, RETR and LIST, or with `uploads` off
            /// (for a server that sends no ticket on upload connections) RETR, LIST and RETR
            /// of files put in `root` beforehand. A refused data connection fails the test
            /// with its reply.
            fn long_session(
                addr: SocketAddr,
                (user, pass): (&str, &str),
                root: &Path,
                tls: Arc<rustls::ClientConfig>,
                uploads: bool,
            ) {
                let _ = tracing_subscriber::fmt()
                    .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                    .with_test_writer()
                    .try_init();
                block_on(async {
                    let config = client_suite::config(user, pass, Mode::Tls);
                    let client = connect_with(addr, config, Mode::Tls, tls).await;
                    for i in 0..ROUNDS {
                        let name = format!("r{i}.bin");
                        let data = content(1000 + 70_001 * i, i as u64 + 1);
                        if uploads {
                            let n = client
                                .stor(&name, &data[..])
                                .await
                                .unwrap_or_else(|e| panic!("round {i} upload: {e}"));
                            assert_eq!(n, data.len() as u64);
                            let stored = std::fs::read(root.join(&name)).unwrap();
                            assert!(stored == data, "round {i}: stored bytes differ");
                        } else {
                            std::fs::write(root.join(&name), &data).unwrap();
                        }
                        for again in [false, true] {
                            if again && uploads {
                                break;
                            }
                            let mut back = Vec::new();
                            client
                                .retr_to(&name, &mut back)
                                .await
                                .unwrap_or_else(|e| panic!("round {i} download: {e}"));
                            assert!(back == data, "round {i}: downloaded bytes differ");
                            if !again {
                                let entries = client
                                    .list(None::<&str>)
                                    .await
                                    .unwrap_or_else(|e| panic!("round {i} LIST: {e}"));
                                assert_eq!(entries.len(), i + 1, "round {i} LIST");
                            }
                        }
                    }
                    client.quit().await.expect("quit");
                });
            }

            #[test]
            fn tokio_server_27_resumed_data_connections() {
                let server = reuse_server(Adapter::Tokio);
                long_session(server.addr, (USER, PASS), server.root.path(), tls13(), true);
            }

            #[test]
            fn futures_server_27_resumed_data_connections() {
                let server = reuse_server(Adapter::Futures);
                long_session(server.addr, (USER, PASS), server.root.path(), tls13(), true);
            }

            #[test]
            fn mio_server_27_resumed_data_connections() {
                let server = reuse_server(Adapter::Mio);
                long_session(server.addr, (USER, PASS), server.root.path(), tls13(), true);
            }

            #[test]
            fn vsftpd_27_resumed_data_connections() {
                let server = PeerServer::start(PeerKind::Vsftpd, PeerTls::ExplicitRequireReuse)
                    .expect("vsftpd");
                let logs = Logs(&server);
                long_session(server.addr, PEER, &server.root, tls13(), true);
                drop(logs);
            }

            /// proftpd sends a TLS 1.3 ticket on download and listing connections but none on
            /// upload ones, and rustls uses a ticket once (RFC 8446 §C.4, and its session
            /// values cannot be copied): under TLS 1.3 each upload costs a ticket that nothing
            /// replaces, so a long session resumes only without uploads.
            #[test]
            fn proftpd_tls13_27_resumed_downloads_and_listings() {
                let server = PeerServer::start(PeerKind::Proftpd, PeerTls::ExplicitRequireReuse)
                    .expect("proftpd");
                let logs = Logs(&server);
                long_session(server.addr, PEER, &server.root, tls13(), false);
                drop(logs);
            }

            /// TLS 1.2 sessions resume any number of times: uploads too.
            #[test]
            fn proftpd_tls12_27_resumed_data_connections() {
                let server = PeerServer::start(PeerKind::Proftpd, PeerTls::ExplicitRequireReuse)
                    .expect("proftpd");
                let logs = Logs(&server);
                let tls12 = insecure_client_config_with(&[&rustls::version::TLS12]);
                long_session(server.addr, PEER, &server.root, tls12, true);
                drop(logs);
            }
        }
    };
}

reuse_tests!(tokio_client);
reuse_tests!(futures_client);
reuse_tests!(mio_client);

/// ftplib's data connections are new TLS sessions (it never passes the control connection's
/// session to them): with reuse required, the server must refuse them with 522 and carry on.
const FTPLIB: &str = r#"
import ftplib, io, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
f = ftplib.FTP_TLS(context=ctx, timeout=20)
f.connect(sys.argv[1], int(sys.argv[2]))
f.login(sys.argv[3], sys.argv[4])
f.prot_p()

def refused(what, transfer):
    try:
        transfer()
    except ftplib.error_perm as e:
        assert str(e).startswith("522 "), (what, e)
        return
    except (ssl.SSLError, OSError):
        # The server dropped the data connection; its final reply says why.
        try:
            f.voidresp()
        except ftplib.error_perm as e:
            assert str(e).startswith("522 "), (what, e)
            return
    raise SystemExit(what + " succeeded without session reuse")

refused("LIST", lambda: f.retrlines("LIST", lambda l: None))
refused("RETR", lambda: f.retrbinary("RETR there.txt", lambda b: None))
refused("STOR", lambda: f.storbinary("STOR new.txt", io.BytesIO(b"data")))
f.voidcmd("NOOP")
f.quit()
print("refused")
"#;

ftp_tests::adapter_tests! {
    fn ftplib_without_session_reuse_gets_522() {
        let server = TestServer::with(Options {
            tls: TlsMode::Explicit,
            require_tls_reuse: true,
            ..Options::default()
        });
        server.put_file("there.txt", b"hello");
        let dir = tempfile::tempdir().unwrap();
        let host = server.addr.ip().to_string();
        let port = server.addr.port().to_string();
        let out = run_client("python3", &["-c", FTPLIB, &host, &port, USER, PASS], dir.path());
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "refused");
        // The server opens the file before the data connection is refused, so an empty file
        // may be left; none of the refused upload's bytes may be in it.
        let left = std::fs::read(server.path("new.txt")).unwrap_or_default();
        assert!(left.is_empty(), "a refused upload stored {left:?}");
    }
}
