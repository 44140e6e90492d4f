//! What the tests share: a futures server on 127.0.0.1:0 over a temp dir, run on its own
//! thread with the crate's `block_on`, and test content.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ftp_futures::server::{tls_config_from_pem, FsStorage, Server, ShutdownHandle, UserList};
use ftp_proto::server::{ServerConfig, TlsMode};

pub const USER: &str = "alice";
pub const PASS: &str = "secret";

/// Pseudo-random bytes (with CR and LF among them, so a TYPE A mix-up shows).
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

/// A running server; dropping it shuts the server down and waits for `run` to return.
pub struct Running {
    pub addr: SocketAddr,
    pub root: tempfile::TempDir,
    shutdown: ShutdownHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// A path under the served root.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.shutdown();
        if let Some(t) = self.thread.take() {
            t.join().expect("server thread");
        }
    }
}

/// Starts a server with user `USER`/`PASS`; with TLS (explicit or implicit) on a
/// self-signed certificate.
pub fn start(tls: TlsMode) -> Running {
    start_with(tls, |_| {})
}

/// [`start`], with changes to the core's policy.
pub fn start_with(tls: TlsMode, adjust: impl FnOnce(&mut ServerConfig)) -> Running {
    let root = tempfile::tempdir().expect("temp dir");
    let mut config = ServerConfig::default();
    config.tls = tls;
    config.data_timeout = Duration::from_secs(10);
    adjust(&mut config);
    let mut server = Server::new(
        FsStorage::new(root.path()).expect("storage"),
        UserList::new().user(USER, PASS),
    )
    .listen("127.0.0.1:0".parse().unwrap())
    .config(Arc::new(config))
    .shutdown_timeout(Duration::from_secs(2));
    if tls != TlsMode::Disabled {
        let cert =
            rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).expect("certificate");
        let tls = tls_config_from_pem(
            cert.cert.pem().as_bytes(),
            cert.key_pair.serialize_pem().as_bytes(),
        )
        .expect("tls config");
        server = server.tls(tls);
    }
    let bound = ftp_futures::block_on(server.bind()).expect("bind");
    let addr = bound.local_addrs()[0];
    let shutdown = bound.shutdown_handle();
    let thread = std::thread::spawn(move || ftp_futures::block_on(bound.run()).expect("run"));
    Running {
        addr,
        root,
        shutdown,
        thread: Some(thread),
    }
}
