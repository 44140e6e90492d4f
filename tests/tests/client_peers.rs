//! Our clients (each adapter's) against real servers (vsftpd, pure-ftpd, proftpd, pyftpdlib), each
//! started on a loopback port by the peer harness: every operation of the suite in EPSV,
//! PASV, active (PORT: the peers listen on IPv4 only, so EPRT is covered against our own
//! server on IPv6) and explicit FTPS with data-connection TLS session reuse.

mod client_suite;

use std::sync::Arc;

use client_suite::{Caps, Mode};
use ftp_host::tls::{insecure_client_config, insecure_client_config_with};
use ftp_tests::peers::{PeerKind, PeerServer, PeerTls, PEER_PASS, PEER_USER};

fn caps(kind: PeerKind) -> Caps {
    match kind {
        PeerKind::Vsftpd => Caps {
            mlsd: false,
            rest_stor: true,
            nlst_dots: false,
            follows_symlinks: false,
        },
        PeerKind::PureFtpd => Caps {
            mlsd: true,
            rest_stor: true,
            nlst_dots: true,
            follows_symlinks: false,
        },
        PeerKind::Proftpd => Caps {
            mlsd: true,
            rest_stor: true,
            nlst_dots: false,
            follows_symlinks: false,
        },
        PeerKind::Pyftpdlib => Caps {
            mlsd: true,
            rest_stor: true,
            nlst_dots: false,
            follows_symlinks: false,
        },
    }
}

struct Logs<'a>(&'a PeerServer);

impl Drop for Logs<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("PEER_LOGS").is_some() {
            eprintln!("--- {:?} logs ---\n{}", self.0.kind, self.0.logs());
        }
    }
}

fn scopeguard(server: &PeerServer) -> Logs<'_> {
    Logs(server)
}

macro_rules! peer_tests {
    ($name:ident, $kind:expr, $tls:expr) => {
        mod $name {
            use super::*;

            #[test]
            fn epsv() {
                suite($kind, PeerTls::Off, Mode::Epsv);
            }

            #[test]
            fn pasv() {
                suite($kind, PeerTls::Off, Mode::Pasv);
            }

            #[test]
            fn active_port() {
                suite($kind, PeerTls::Off, Mode::Active);
            }

            #[test]
            fn ftps_explicit() {
                suite($kind, $tls, Mode::Tls);
            }

            #[test]
            fn ftps_explicit_tls12() {
                suite_with(
                    $kind,
                    $tls,
                    Mode::Tls,
                    insecure_client_config_with(&[&rustls::version::TLS12]),
                );
            }

            #[test]
            fn ftps_explicit_active() {
                suite($kind, $tls, Mode::TlsActive);
            }
        }
    };
}

/// The peer tests for one client adapter (a module made by `client_suite!`).
macro_rules! client_peer_tests {
    ($client:ident) => {
        mod $client {
            use super::*;
            use client_suite::$client::{block_on, connect_with, epsv_given_up, run, run_extras};

            fn suite_with(
                kind: PeerKind,
                tls: PeerTls,
                mode: Mode,
                tls_config: Arc<rustls::ClientConfig>,
            ) {
                let _ = tracing_subscriber::fmt()
                    .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                    .with_test_writer()
                    .try_init();
                let server = PeerServer::start(kind, tls)
                    .unwrap_or_else(|e| panic!("{kind:?} {tls:?}: {e}"));
                let tag = format!("{mode:?}").to_lowercase();
                // The client's reply and data timeouts (client_suite::config) bound every step.
                block_on(async {
                    let config = client_suite::config(PEER_USER, PEER_PASS, mode);
                    let client = connect_with(server.addr, config, mode, tls_config).await;
                    let logs = scopeguard(&server);
                    run(&client, &server.root, caps(kind), &tag).await;
                    if matches!(mode, Mode::Epsv | Mode::Tls | Mode::Implicit) {
                        assert!(
                            !epsv_given_up(&client).await,
                            "the client fell back to PASV"
                        );
                    }
                    client.quit().await.expect("quit");
                    drop(logs);
                });
            }

            fn suite(kind: PeerKind, tls: PeerTls, mode: Mode) {
                let config = if kind == PeerKind::Proftpd && tls == PeerTls::ExplicitRequireReuse {
                    // proftpd sends no TLS 1.3 session ticket on upload data connections,
                    // and rustls uses each ticket once (RFC 8446 §C.4): after a few uploads
                    // no ticket is left and proftpd refuses the next data connection (it
                    // requires session reuse). TLS 1.2 sessions resume any number of times.
                    insecure_client_config_with(&[&rustls::version::TLS12])
                } else {
                    insecure_client_config()
                };
                suite_with(kind, tls, mode, config);
            }

            /// STOU, MFMT, SITE and STAT against a real server that has all four.
            #[test]
            fn extras_against_pyftpdlib() {
                let server = PeerServer::start(PeerKind::Pyftpdlib, PeerTls::Off)
                    .unwrap_or_else(|e| panic!("pyftpdlib: {e}"));
                let logs = scopeguard(&server);
                block_on(async {
                    let config = client_suite::config(PEER_USER, PEER_PASS, Mode::Epsv);
                    let client =
                        connect_with(server.addr, config, Mode::Epsv, insecure_client_config())
                            .await;
                    run_extras(&client, &server.root, "extras").await;
                    client.quit().await.expect("quit");
                });
                drop(logs);
            }

            peer_tests!(vsftpd, PeerKind::Vsftpd, PeerTls::ExplicitRequireReuse);
            peer_tests!(pure_ftpd, PeerKind::PureFtpd, PeerTls::Explicit);
            peer_tests!(proftpd, PeerKind::Proftpd, PeerTls::ExplicitRequireReuse);
            peer_tests!(pyftpdlib, PeerKind::Pyftpdlib, PeerTls::Explicit);
        }
    };
}

client_peer_tests!(tokio_client);
client_peer_tests!(futures_client);
client_peer_tests!(mio_client);
