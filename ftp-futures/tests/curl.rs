//! curl as the client of the futures server: upload and download in passive and active mode,
//! byte-equal.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use ftp_futures::server::{FsStorage, Server, ShutdownHandle, UserList};
use ftp_proto::server::ServerConfig;

const USER: &str = "alice";
const PASS: &str = "secret";

/// Pseudo-random bytes (with CR and LF among them, so a TYPE A mix-up shows).
fn content(len: usize, seed: u64) -> Vec<u8> {
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

struct Running {
    addr: std::net::SocketAddr,
    shutdown: ShutdownHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn start(root: &Path) -> Running {
    let server = Server::new(
        FsStorage::new(root).unwrap(),
        UserList::new().user(USER, PASS),
    )
    .listen("127.0.0.1:0".parse().unwrap())
    .config(Arc::new(ServerConfig::default()))
    .shutdown_timeout(Duration::from_secs(2));
    let bound = ftp_futures::block_on(server.bind()).unwrap();
    let addr = bound.local_addrs()[0];
    let shutdown = bound.shutdown_handle();
    let thread = std::thread::spawn(move || ftp_futures::block_on(bound.run()).unwrap());
    Running {
        addr,
        shutdown,
        thread: Some(thread),
    }
}

fn curl(args: &[&str]) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "30"])
        .args(args)
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "curl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn curl_uploads_and_downloads() {
    let root = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    let server = start(root.path());
    let data = content(2 * 1024 * 1024 + 17, 7);
    let src = local.path().join("src.bin");
    std::fs::write(&src, &data).unwrap();
    let url = |name: &str| format!("ftp://{USER}:{PASS}@{}/{name}", server.addr);

    // Passive (EPSV) upload, then the server's copy is the same bytes.
    curl(&["-T", src.to_str().unwrap(), &url("up.bin")]);
    assert_eq!(std::fs::read(root.path().join("up.bin")).unwrap(), data);

    // Passive download.
    let out = local.path().join("down.bin");
    curl(&["-o", out.to_str().unwrap(), &url("up.bin")]);
    assert_eq!(std::fs::read(&out).unwrap(), data);

    // Active mode (EPRT) both ways.
    curl(&[
        "-P",
        "127.0.0.1",
        "-T",
        src.to_str().unwrap(),
        &url("active.bin"),
    ]);
    assert_eq!(std::fs::read(root.path().join("active.bin")).unwrap(), data);
    let out = local.path().join("active-down.bin");
    curl(&[
        "-P",
        "127.0.0.1",
        "-o",
        out.to_str().unwrap(),
        &url("active.bin"),
    ]);
    assert_eq!(std::fs::read(&out).unwrap(), data);

    // A listing names the file.
    let list = local.path().join("list.txt");
    curl(&["-o", list.to_str().unwrap(), &url("")]);
    let list = std::fs::read_to_string(list).unwrap();
    assert!(
        list.contains("up.bin") && list.contains(&data.len().to_string()),
        "{list}"
    );
}
