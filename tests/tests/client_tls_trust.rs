//! Each adapter's example client checks the server's TLS certificate: against the system's
//! trust store (here a bundle named by `SSL_CERT_FILE`, which rustls-native-certs reads
//! instead of the distribution's), plus a private CA given with `--ca-file`; `--insecure`
//! skips the checks. An untrusted certificate stops the client before any credentials go out,
//! with a message naming the problem and exit status 3.

mod example_client;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use example_client::example;
use ftp_proto::server::TlsMode;
use ftp_tests::{Options, TestServer, PASS, USER};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

/// The example client's exit status for an untrusted certificate (`ftp_cli::client`).
const EXIT_UNTRUSTED_CERTIFICATE: i32 = 3;

/// A private CA.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    /// A server certificate for `names`, signed by this CA: (chain PEM, key PEM).
    fn issue(&self, names: &[&str]) -> (String, String) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &self.cert, &self.key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// Files for one test: CA bundles and the client's working directory.
struct Files(tempfile::TempDir);

impl Files {
    fn new() -> Files {
        Files(tempfile::tempdir().unwrap())
    }

    /// Writes `pems` into one file named `name`; its path.
    fn bundle(&self, name: &str, pems: &[String]) -> PathBuf {
        let path = self.0.path().join(name);
        std::fs::write(&path, pems.concat()).unwrap();
        path
    }
}

/// Runs the example client with `SSL_CERT_FILE` set to `system` (the "system" store: the
/// machine's own is never read, so the results do not depend on it).
fn client(system: &Path, args: &[&str]) -> Output {
    Command::new("timeout")
        .args(["-k", "5", "60"])
        .arg(example())
        .args(["--timeout", "20"])
        .args(args)
        .env("SSL_CERT_FILE", system)
        .env_remove("SSL_CERT_DIR")
        .output()
        .unwrap()
}

fn assert_ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An explicit-FTPS server of the current adapter presenting `cert`.
fn server(cert: (String, String)) -> TestServer {
    TestServer::with(Options {
        tls: TlsMode::Explicit,
        tls_cert: Some(cert),
        ..Options::default()
    })
}

/// What a scripted FTP server saw from one client: the command lines before and after
/// AUTH TLS (none is expected after it), and its handshake's error.
struct Seen {
    lines: Vec<String>,
    handshake: Result<(), rustls::Error>,
    after: Vec<u8>,
}

/// A one-connection FTP server that answers 220, then 234 to AUTH TLS and runs the TLS
/// handshake with `cert`, recording everything the client sends (anything sent in clear
/// text, and whether a byte arrives after a failed handshake).
fn scripted(cert: (String, String)) -> (SocketAddr, std::thread::JoinHandle<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let config = ftp_host::tls::server_config_from_pem(cert.0.as_bytes(), cert.1.as_bytes())
        .expect("tls config");
    // A client that never connects must fail the test, not hang it.
    listener.set_nonblocking(true).unwrap();
    let handle = std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut tcp = loop {
            match listener.accept() {
                Ok((tcp, _)) => break tcp,
                Err(_) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) => panic!("no client came: {e}"),
            }
        };
        tcp.set_nonblocking(false).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        tcp.write_all(b"220 scripted\r\n").unwrap();
        let mut lines = Vec::new();
        let mut reader = BufReader::new(tcp.try_clone().unwrap());
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return Seen {
                    lines,
                    handshake: Ok(()),
                    after: Vec::new(),
                };
            }
            let line = line.trim_end().to_string();
            let auth = line.eq_ignore_ascii_case("AUTH TLS");
            lines.push(line);
            if auth {
                break;
            }
            tcp.write_all(b"502 not here\r\n").unwrap();
        }
        assert!(reader.buffer().is_empty(), "bytes pipelined after AUTH TLS");
        tcp.write_all(b"234 go ahead\r\n").unwrap();
        let mut tls = rustls::ServerConnection::new(Arc::clone(&config)).unwrap();
        let handshake = loop {
            if !tls.is_handshaking() {
                break Ok(());
            }
            match tls.complete_io(&mut tcp) {
                Ok(_) => {}
                Err(e) => match e.into_inner().map(|i| i.downcast::<rustls::Error>()) {
                    Some(Ok(e)) => break Err(*e),
                    _ => break Err(rustls::Error::HandshakeNotComplete),
                },
            }
        };
        let mut after = Vec::new();
        let _ = tcp.read_to_end(&mut after);
        Seen {
            lines,
            handshake,
            after,
        }
    });
    (addr, handle)
}

ftp_tests::adapter_tests! {
    /// A self-signed certificate the system does not trust: exit status 3, a message naming
    /// the problem, and nothing after AUTH TLS reached the server (no USER, no PASS).
    fn untrusted_certificate_stops_before_the_login() {
        let files = Files::new();
        let other = Ca::new("some other CA");
        let system = files.bundle("system.pem", &[other.cert.pem()]);
        let self_signed =
            rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
        let (addr, seen) = scripted((self_signed.cert.pem(), self_signed.key_pair.serialize_pem()));
        let out = client(&system, &["--tls", "ls", &format!("ftp://{USER}:{PASS}@{addr}/")]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(EXIT_UNTRUSTED_CERTIFICATE), "{err}");
        let seen = seen.join().unwrap();
        assert!(
            err.contains("the server's TLS certificate is not trusted: it is not signed by a \
                          trusted certificate authority"),
            "{err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert_eq!(seen.lines, ["AUTH TLS"]);
        assert!(seen.handshake.is_err(), "the handshake completed");
        assert!(seen.after.is_empty(), "sent after the failed handshake: {:?}", seen.after);
    }

    /// A certificate from a trusted CA but for another name is refused the same way.
    fn certificate_for_another_name_is_refused() {
        let files = Files::new();
        let ca = Ca::new("private CA");
        let ca_file = files.bundle("ca.pem", &[ca.cert.pem()]);
        let system = files.bundle("system.pem", &[Ca::new("other").cert.pem()]);
        let (addr, seen) = scripted(ca.issue(&["ftp.example.com"]));
        let out = client(
            &system,
            &["--tls", "--ca-file", ca_file.to_str().unwrap(), "ls", &format!("ftp://{addr}/")],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(EXIT_UNTRUSTED_CERTIFICATE), "{err}");
        assert!(err.contains("certificate not valid for name"), "{err}");
        let seen = seen.join().unwrap();
        assert_eq!(seen.lines, ["AUTH TLS"]);
    }

    /// `--ca-file` adds a private CA: upload and listing over verified TLS, control and data.
    fn ca_file_adds_a_private_ca() {
        let files = Files::new();
        let ca = Ca::new("private CA");
        let ca_file = files.bundle("ca.pem", &[ca.cert.pem()]);
        let system = files.bundle("system.pem", &[Ca::new("other").cert.pem()]);
        let srv = server(ca.issue(&["127.0.0.1"]));
        let ca_arg = ca_file.to_str().unwrap();
        let local = files.bundle("up.txt", &["hello".to_string()]);
        let out = client(
            &system,
            &["--tls", "--ca-file", ca_arg, "put", local.to_str().unwrap(), &srv.url("ftp", "up.txt")],
        );
        assert_ok(&out, "put with --ca-file");
        assert_eq!(std::fs::read(srv.path("up.txt")).unwrap(), b"hello");
        let out = client(&system, &["--tls", "--ca-file", ca_arg, "ls", &srv.url("ftp", "")]);
        assert!(assert_ok(&out, "ls with --ca-file").contains("up.txt"));
        // Without it, the same server is not trusted.
        let out = client(&system, &["--tls", "ls", &srv.url("ftp", "")]);
        assert_eq!(out.status.code(), Some(EXIT_UNTRUSTED_CERTIFICATE));
    }

    /// The system's store is used by default, and `--ca-file` adds to it rather than
    /// replacing it.
    fn system_store_is_trusted_by_default() {
        let files = Files::new();
        let ca = Ca::new("system CA");
        let system = files.bundle("system.pem", &[Ca::new("other").cert.pem(), ca.cert.pem()]);
        let srv = server(ca.issue(&["127.0.0.1"]));
        srv.put_file("there.txt", b"x");
        let out = client(&system, &["--tls", "ls", &srv.url("ftp", "")]);
        assert!(assert_ok(&out, "system store").contains("there.txt"));
        let unrelated = files.bundle("unrelated.pem", &[Ca::new("unrelated").cert.pem()]);
        let out = client(
            &system,
            &["--tls", "--ca-file", unrelated.to_str().unwrap(), "ls", &srv.url("ftp", "")],
        );
        assert!(assert_ok(&out, "system store and --ca-file").contains("there.txt"));
    }

    /// `--insecure` (tests only) accepts a self-signed certificate nobody trusts.
    fn insecure_accepts_any_certificate() {
        let files = Files::new();
        let system = files.bundle("system.pem", &[Ca::new("other").cert.pem()]);
        let srv = TestServer::with(Options {
            tls: TlsMode::Explicit,
            ..Options::default()
        });
        srv.put_file("there.txt", b"x");
        let out = client(&system, &["--tls", "--insecure", "ls", &srv.url("ftp", "")]);
        assert!(assert_ok(&out, "--insecure").contains("there.txt"));
    }
}
