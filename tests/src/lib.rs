//! Cross-crate and interop tests live in `tests/`; this library holds their shared harness:
//! an in-process server on a loopback port with a temporary root ([`TestServer`]), run by any
//! of the adapters ([`Adapter`], [`adapter_tests!`]), and a way to run a real client binary
//! with a time limit ([`run_client`]); [`peers`] starts real peer servers.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use ftp_host::auth::UserList;
use ftp_host::setup::Settings;
use ftp_host::storage::FsStorage;
use ftp_host::tls::server_config_from_pem;
use ftp_proto::server::{ServerConfig, TlsMode};
use sha2::{Digest, Sha256};

pub mod ctl;
pub mod examples;
pub mod logs;
pub mod peers;
pub mod s3;

/// The adapters whose servers the tests run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adapter {
    /// `ftp-tokio`.
    Tokio,
    /// `ftp-futures` (smol, or async-std when its feature is on).
    Futures,
    /// `ftp-mio`: the single-thread event-loop server, the blocking client.
    Mio,
}

thread_local! {
    static ADAPTER: std::cell::Cell<Adapter> = const { std::cell::Cell::new(Adapter::Tokio) };
}

/// The adapter of the running test: set by [`adapter_tests!`] for the test's thread (every
/// test runs on a thread of its own), read by [`Options::default`].
pub fn current_adapter() -> Adapter {
    ADAPTER.with(|a| a.get())
}

/// Runs `f` with `adapter` as the [`current_adapter`] of this thread.
pub fn with_adapter<R>(adapter: Adapter, f: impl FnOnce() -> R) -> R {
    let before = ADAPTER.with(|a| a.replace(adapter));
    let r = f();
    ADAPTER.with(|a| a.set(before));
    r
}

/// Declares each test function once per adapter: `adapter_tests! { fn name() { ... } ... }`
/// makes `tokio::name`, `futures::name` and `mio::name`, each running the body with that
/// adapter as [`current_adapter`], so every [`TestServer`] the body starts is that adapter's
/// server. Attributes (`#[ignore]`, doc comments) are kept.
#[macro_export]
macro_rules! adapter_tests {
    ($($(#[$meta:meta])* fn $name:ident() $body:block)*) => {
        $crate::adapter_tests!(@module tokio, Tokio, $($(#[$meta])* fn $name() $body)*);
        $crate::adapter_tests!(@module futures, Futures, $($(#[$meta])* fn $name() $body)*);
        $crate::adapter_tests!(@module mio, Mio, $($(#[$meta])* fn $name() $body)*);
    };
    (@module $module:ident, $adapter:ident, $($(#[$meta:meta])* fn $name:ident() $body:block)*) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $(
                $(#[$meta])*
                #[test]
                fn $name() {
                    $crate::with_adapter($crate::Adapter::$adapter, || $body)
                }
            )*
        }
    };
}

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
    /// Which adapter runs the server.
    pub adapter: Adapter,
    /// The core's data timeout (connect and data idle); 10 s by default.
    pub data_timeout: Duration,
    /// Most connections from one address (32 by default).
    pub max_per_ip: usize,
    /// Time a connection may stay without logging in (the core's default, 60 s).
    pub login_timeout: Duration,
    /// Passive ports (the core's default range when `None`).
    pub passive_ports: Option<std::ops::RangeInclusive<u16>>,
    /// The TLS certificate chain and private key (PEM) when `tls` is on; a self-signed
    /// certificate for localhost, 127.0.0.1 and ::1 when `None`.
    pub tls_cert: Option<(String, String)>,
    /// The PROXY protocol on the control listener (off when `None`).
    pub proxy: Option<ftp_host::proxy::ProxyProtocol>,
    /// Observers of the sessions' events.
    pub observers: ftp_host::events::Observers,
}

impl Default for Options {
    /// Plain FTP on IPv4, anonymous access, the [`current_adapter`].
    fn default() -> Self {
        Options {
            adapter: current_adapter(),
            data_timeout: Duration::from_secs(10),
            max_per_ip: 32,
            login_timeout: ServerConfig::default().login_timeout,
            passive_ports: None,
            tls_cert: None,
            proxy: None,
            observers: ftp_host::events::Observers::new(),
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
    /// The adapter running it.
    pub adapter: Adapter,
    shutdown: Box<dyn Fn() + Send>,
    done: std::sync::mpsc::Receiver<()>,
    /// The runtime (or thread) serving it, dropped last.
    keep: Option<Box<dyn FnOnce() + Send>>,
}

/// What every adapter's server is built from.
/// The adapter-neutral server settings every adapter's `Server::from_settings` takes.
type ServerSettings = Settings<FsStorage, UserList>;

struct Parts {
    root: tempfile::TempDir,
    settings: ServerSettings,
}

fn parts(opts: &Options) -> Parts {
    let root = tempfile::tempdir().expect("temp dir");
    let mut config = ServerConfig::default();
    config.anonymous = opts.anonymous;
    config.tls = opts.tls;
    config.require_tls_session_reuse = opts.require_tls_reuse;
    config.data_timeout = opts.data_timeout;
    config.login_timeout = opts.login_timeout;
    config.failed_login_delay = Duration::from_millis(100);
    if let Some(ports) = &opts.passive_ports {
        config.passive_ports = ports.clone();
    }
    let mut users = UserList::new().user(USER, PASS);
    if opts.anonymous {
        users = users.anonymous();
    }
    let ip = if opts.ipv6 { "[::1]:0" } else { "127.0.0.1:0" };
    let mut settings = Settings::new(FsStorage::new(root.path()).expect("storage"), users);
    settings.listen.push(ip.parse().expect("addr"));
    settings.config = Arc::new(config);
    settings.max_per_ip = opts.max_per_ip;
    settings.grace = Duration::from_secs(2);
    settings.proxy_protocol = opts.proxy.clone();
    settings.observers = opts.observers.clone();
    settings.tls = (opts.tls != TlsMode::Disabled).then(|| {
        let (cert, key) = opts.tls_cert.clone().unwrap_or_else(|| {
            let cert = rcgen::generate_simple_self_signed(vec![
                "localhost".to_string(),
                "127.0.0.1".to_string(),
                "::1".to_string(),
            ])
            .expect("certificate");
            (cert.cert.pem(), cert.key_pair.serialize_pem())
        });
        server_config_from_pem(cert.as_bytes(), key.as_bytes()).expect("tls config")
    });
    Parts { root, settings }
}

impl TestServer {
    /// Starts a plain FTP server with anonymous read-only access and the user [`USER`], on the
    /// [`current_adapter`].
    pub fn start() -> TestServer {
        TestServer::with(Options::default())
    }

    /// Starts a server set up by `opts`.
    pub fn with(opts: Options) -> TestServer {
        let p = parts(&opts);
        match opts.adapter {
            Adapter::Tokio => start_tokio(p.root, p.settings),
            Adapter::Futures => start_futures(p.root, p.settings),
            Adapter::Mio => start_mio(p.root, p.settings),
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

impl TestServer {
    /// Starts a graceful shutdown (as the server's `ShutdownHandle` does).
    pub fn shutdown(&self) {
        (self.shutdown)();
    }

    /// Whether the server's `run` returned within `limit`.
    pub fn wait_stopped(&self, limit: Duration) -> bool {
        self.done.recv_timeout(limit).is_ok()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        (self.shutdown)();
        let _ = self.done.recv_timeout(Duration::from_secs(3));
        if let Some(keep) = self.keep.take() {
            keep();
        }
    }
}

/// A bound server's handle: its address, how to shut it down, and `done`, told when its
/// `run` has returned.
fn serving(
    root: tempfile::TempDir,
    adapter: Adapter,
    addr: SocketAddr,
    shutdown: Box<dyn Fn() + Send>,
    done: std::sync::mpsc::Receiver<()>,
    keep: Option<Box<dyn FnOnce() + Send>>,
) -> TestServer {
    TestServer {
        addr,
        root,
        adapter,
        shutdown,
        done,
        keep,
    }
}

/// Runs `run` on a thread of its own; the receiver hears when it has returned.
fn on_thread(run: impl FnOnce() + Send + 'static) -> std::sync::mpsc::Receiver<()> {
    let (tx, done) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        run();
        let _ = tx.send(());
    });
    done
}

fn start_tokio(root: tempfile::TempDir, settings: ServerSettings) -> TestServer {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let server = ftp_tokio::server::Server::from_settings(settings);
    let bound = runtime.block_on(server.bind()).expect("bind");
    let (addr, shutdown) = (bound.local_addrs()[0], bound.shutdown_handle());
    let (tx, done) = std::sync::mpsc::channel();
    runtime.spawn(async move {
        bound.run().await.expect("server run");
        let _ = tx.send(());
    });
    let keep = Box::new(move || runtime.shutdown_timeout(Duration::from_secs(3)));
    let shutdown = Box::new(move || shutdown.shutdown());
    serving(root, Adapter::Tokio, addr, shutdown, done, Some(keep))
}

fn start_futures(root: tempfile::TempDir, settings: ServerSettings) -> TestServer {
    let server = ftp_futures::server::Server::from_settings(settings);
    let bound = ftp_futures::block_on(server.bind()).expect("bind");
    let (addr, shutdown) = (bound.local_addrs()[0], bound.shutdown_handle());
    let done = on_thread(move || ftp_futures::block_on(bound.run()).expect("server run"));
    let shutdown = Box::new(move || shutdown.shutdown());
    serving(root, Adapter::Futures, addr, shutdown, done, None)
}

fn start_mio(root: tempfile::TempDir, settings: ServerSettings) -> TestServer {
    let bound = ftp_mio::server::Server::from_settings(settings)
        .bind()
        .expect("bind");
    let (addr, shutdown) = (bound.local_addrs()[0], bound.shutdown_handle());
    let done = on_thread(move || bound.run().expect("server run"));
    let shutdown = Box::new(move || shutdown.shutdown());
    serving(root, Adapter::Mio, addr, shutdown, done, None)
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
