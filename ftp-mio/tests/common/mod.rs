//! The harness of ftp-mio's tests: an in-process mio server on 127.0.0.1 with a temporary
//! root, test content, and real client binaries run under a time limit.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ftp_mio::server::{FsStorage, Server, ShutdownHandle, UserList};
use ftp_proto::server::{ServerConfig, TlsMode};
use sha2::{Digest, Sha256};

/// The user every test server accepts, with write access.
pub const USER: &str = "alice";
/// Its password.
pub const PASS: &str = "s3cret";

/// How to set up a [`TestServer`].
pub struct Options {
    pub tls: TlsMode,
    pub config: Box<dyn FnOnce(&mut ServerConfig)>,
    pub max_per_ip: usize,
    pub grace: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tls: TlsMode::Disabled,
            config: Box::new(|_| {}),
            max_per_ip: 32,
            grace: Duration::from_secs(5),
        }
    }
}

/// A running mio server in a thread of its own.
pub struct TestServer {
    pub addr: SocketAddr,
    pub root: tempfile::TempDir,
    pub handle: ShutdownHandle,
    thread: Option<JoinHandle<Result<(), ftp_mio::Error>>>,
}

impl TestServer {
    pub fn start() -> TestServer {
        TestServer::with(Options::default())
    }

    pub fn with(opts: Options) -> TestServer {
        let root = tempfile::tempdir().expect("temp dir");
        let mut config = ServerConfig::default();
        config.tls = opts.tls;
        config.failed_login_delay = Duration::from_millis(100);
        (opts.config)(&mut config);
        let users = UserList::new().user(USER, PASS);
        #[allow(unused_mut)]
        let mut server = Server::new(FsStorage::new(root.path()).expect("storage"), users)
            .listen("127.0.0.1:0".parse().expect("addr"))
            .config(Arc::new(config))
            .max_connections_per_ip(opts.max_per_ip)
            .shutdown_timeout(opts.grace);
        #[cfg(feature = "tls")]
        if opts.tls != TlsMode::Disabled {
            let cert = rcgen::generate_simple_self_signed(vec![
                "localhost".to_string(),
                "127.0.0.1".to_string(),
            ])
            .expect("certificate");
            let tls = ftp_mio::server::tls_config_from_pem(
                cert.cert.pem().as_bytes(),
                cert.key_pair.serialize_pem().as_bytes(),
            )
            .expect("tls config");
            server = server.tls(tls);
        }
        let bound = server.bind().expect("bind");
        let addr = bound.local_addrs()[0];
        let handle = bound.shutdown_handle();
        let thread = std::thread::spawn(move || bound.run());
        TestServer {
            addr,
            root,
            handle,
            thread: Some(thread),
        }
    }

    /// `scheme://USER:PASS@host:port/` + `path`.
    pub fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://{USER}:{PASS}@{}/{path}", self.addr)
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    pub fn put_file(&self, rel: &str, bytes: &[u8]) {
        std::fs::write(self.path(rel), bytes).expect("write test file");
    }

    /// Shuts the server down and waits (at most `limit`) for `run` to return.
    pub fn stop(&mut self, limit: Duration) -> bool {
        self.handle.shutdown();
        let Some(t) = self.thread.take() else {
            return true;
        };
        let end = Instant::now() + limit;
        while !t.is_finished() {
            if Instant::now() > end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        t.join().expect("server thread").expect("server run");
        true
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let stopped = self.stop(Duration::from_secs(10));
            if !std::thread::panicking() {
                assert!(stopped, "the server did not stop");
            }
        }
    }
}

/// Pseudo-random test content of `len` bytes.
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

pub fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn sha256_file(path: &Path) -> String {
    sha256(&std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())))
}

/// Runs `program` with `args` under a 60 s limit in `dir`; panics if it is missing or ran
/// out of time.
pub fn run_client(program: &str, args: &[&str], dir: &Path) -> Output {
    let out = Command::new("timeout")
        .args(["-k", "5", "60", program])
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    assert_ne!(out.status.code(), Some(127), "{program} is not installed");
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
