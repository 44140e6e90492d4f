//! Cross-crate and interop tests live in `tests/`; this library holds their shared harness:
//! an in-process server on a loopback port with a temporary root ([`TestServer`]) and a way
//! to run a real client binary with a time limit ([`run_client`]); [`peers`] starts real
//! peer servers.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use ftp_proto::server::{ServerConfig, TlsMode};
use ftp_tokio::server::{tls_config_from_pem, FsStorage, Server, ShutdownHandle, UserList};
use sha2::{Digest, Sha256};

pub mod peers;

/// The user every test server accepts, with write access.
pub const USER: &str = "alice";
/// Its password.
pub const PASS: &str = "s3cret";

/// How to set up a [`TestServer`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Listen on `[::1]` instead of `127.0.0.1`.
    pub ipv6: bool,
    /// The TLS mode; anything but `Disabled` gets a generated self-signed certificate.
    pub tls: TlsMode,
    /// Let anonymous users in (read-only).
    pub anonymous: bool,
    /// Refuse TLS data connections that do not resume the control connection's session.
    pub require_tls_reuse: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            ipv6: false,
            tls: TlsMode::Disabled,
            anonymous: true,
            require_tls_reuse: false,
        }
    }
}

/// Our server running in-process on a loopback port with a temporary root directory.
/// Dropping it shuts the server down.
pub struct TestServer {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The served directory.
    pub root: tempfile::TempDir,
    shutdown: ShutdownHandle,
    runtime: Option<tokio::runtime::Runtime>,
}

impl TestServer {
    /// Starts a plain FTP server with anonymous read-only access and the user [`USER`].
    pub fn start() -> TestServer {
        TestServer::with(Options::default())
    }

    /// Starts a server set up by `opts`.
    pub fn with(opts: Options) -> TestServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let root = tempfile::tempdir().expect("temp dir");
        let mut config = ServerConfig::default();
        config.anonymous = opts.anonymous;
        config.tls = opts.tls;
        config.require_tls_session_reuse = opts.require_tls_reuse;
        config.data_timeout = Duration::from_secs(10);
        config.failed_login_delay = Duration::from_millis(100);
        let mut users = UserList::new().user(USER, PASS);
        if opts.anonymous {
            users = users.anonymous();
        }
        let ip = if opts.ipv6 { "[::1]:0" } else { "127.0.0.1:0" };
        let mut server = Server::new(FsStorage::new(root.path()).expect("storage"), users)
            .listen(ip.parse().expect("addr"))
            .config(Arc::new(config))
            .shutdown_timeout(Duration::from_secs(2));
        if opts.tls != TlsMode::Disabled {
            let cert = rcgen::generate_simple_self_signed(vec![
                "localhost".to_string(),
                "127.0.0.1".to_string(),
                "::1".to_string(),
            ])
            .expect("certificate");
            let tls = tls_config_from_pem(
                cert.cert.pem().as_bytes(),
                cert.key_pair.serialize_pem().as_bytes(),
            )
            .expect("tls config");
            server = server.tls(tls);
        }
        let bound = runtime.block_on(server.bind()).expect("bind");
        let addr = bound.local_addrs()[0];
        let shutdown = bound.shutdown_handle();
        runtime.spawn(bound.run());
        TestServer {
            addr,
            root,
            shutdown,
            runtime: Some(runtime),
        }
    }

    /// `ftp://USER:PASS@host:port/` + `path` (`ftps://` with `scheme`).
    pub fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://{USER}:{PASS}@{}/{path}", self.addr)
    }

    /// A path under the served root.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    /// Writes a file under the root.
    pub fn put_file(&self, rel: &str, bytes: &[u8]) {
        std::fs::write(self.path(rel), bytes).expect("write test file");
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.shutdown();
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(3));
        }
    }
}

/// Pseudo-random test content of `len` bytes (with CR and LF in it, so a TYPE A mix-up
/// shows).
pub fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The SHA-256 of `bytes`, as hex.
pub fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The SHA-256 of a file's contents; panics if it cannot be read.
pub fn sha256_file(path: &Path) -> String {
    sha256(&std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())))
}

/// Runs `program` with `args` under a 60 s limit (coreutils `timeout`), with `dir` as the
/// working directory, and returns its output. Panics (failing the test, never skipping it) if
/// the program is not installed or if it ran out of time.
pub fn run_client(program: &str, args: &[&str], dir: &Path) -> Output {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{program} is not installed: .ci/run installs it (apt-get install -y curl lftp wget)"
    );
    let out = Command::new("timeout")
        .args(["-k", "5", "60", program])
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    assert_ne!(
        out.status.code(),
        Some(124),
        "{program} timed out: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Like [`run_client`], and panics with its output unless it exited 0.
pub fn run_ok(program: &str, args: &[&str], dir: &Path) -> Output {
    let out = run_client(program, args, dir);
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The README's code samples, compiled and run as doctests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
