//! Each adapter's example client binary (`ftp-tokio/examples/client.rs`,
//! `ftp-futures/examples/client.rs`, `ftp-mio/examples/client.rs`: one command line, ftp-cli's)
//! against the same adapter's server and against vsftpd: every command once, exit statuses,
//! and a one-line error naming the server's reply.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::SystemTime;

use ftp_tests::peers::{PeerKind, PeerServer, PeerTls, PEER_PASS, PEER_USER};
use ftp_tests::{content, current_adapter, Adapter, Options, TestServer};

/// The package and example name of the current adapter's example client.
fn package() -> (&'static str, &'static str) {
    match current_adapter() {
        Adapter::Tokio => ("ftp-tokio", "client"),
        Adapter::Futures => ("ftp-futures", "futures-client"),
        Adapter::Mio => ("ftp-mio", "mio-client"),
    }
}

/// The current adapter's example binary in this test's target directory, built when missing
/// or older than the sources it is made of: `cargo test -p ftp-tests` does not build the
/// adapters' examples, and the example's code lives in ftp-cli too. (`cargo test --workspace`
/// builds them first, so they are not built again with this crate's features.)
fn example() -> PathBuf {
    static BINS: Mutex<Option<HashMap<&'static str, PathBuf>>> = Mutex::new(None);
    let (package, name) = package();
    let mut bins = BINS.lock().unwrap_or_else(|e| e.into_inner());
    bins.get_or_insert_with(HashMap::new)
        .entry(name)
        .or_insert_with(|| {
            let exe = std::env::current_exe().unwrap();
            let dir = exe.parent().unwrap().parent().unwrap();
            let bin = dir.join("examples").join(name);
            let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
            let built = std::fs::metadata(&bin).and_then(|m| m.modified()).ok();
            let sources = [
                "ftp-proto/src",
                "ftp-host/src",
                "ftp-cli/src",
                &format!("{package}/src"),
                &format!("{package}/examples"),
            ]
            .iter()
            .map(|d| newest(&root.join(d)))
            .max()
            .flatten();
            if built.is_none() || sources > built {
                let profile = match dir.file_name().and_then(|n| n.to_str()) {
                    Some("debug") | None => "dev",
                    Some(p) => p,
                };
                let status = Command::new(env!("CARGO"))
                    .args(["build", "-p", package, "--example", name])
                    .args(["--profile", profile])
                    .current_dir(root)
                    .status()
                    .unwrap();
                assert!(status.success(), "building the example client {name}");
            }
            bin
        })
        .clone()
}

/// The latest modification time of the files under `dir`.
fn newest(dir: &Path) -> Option<SystemTime> {
    let mut latest = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let t = match entry.file_type() {
            Ok(t) if t.is_dir() => newest(&entry.path()),
            _ => entry.metadata().and_then(|m| m.modified()).ok(),
        };
        latest = latest.max(t);
    }
    latest
}

fn client(args: &[&str]) -> Output {
    Command::new("timeout")
        .args(["-k", "5", "60"])
        .arg(example())
        .args(["--timeout", "20"])
        .args(args)
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = client(args);
    assert!(
        out.status.success(),
        "client {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every command against a server whose user lands in `root`, at `base` (`ftp://u:p@h:p`).
fn every_command(base: &str, root: &std::path::Path, extra: &[&str], mlsd: bool) {
    let work = tempfile::tempdir().unwrap();
    let local = work.path().join("up.bin");
    let data = content(700_001, 5);
    std::fs::write(&local, &data).unwrap();
    let with = |args: &[&str]| -> Vec<String> {
        extra
            .iter()
            .chain(args.iter())
            .map(|s| s.to_string())
            .collect()
    };
    let run = |args: &[&str]| {
        let a = with(args);
        ok(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let url = |p: &str| format!("{base}/{p}");
    run(&["put", local.to_str().unwrap(), &url("up.bin")]);
    assert_eq!(std::fs::read(root.join("up.bin")).unwrap(), data);
    assert_eq!(
        run(&["size", &url("up.bin")]).trim(),
        data.len().to_string()
    );
    let back = work.path().join("back.bin");
    run(&["get", &url("up.bin"), back.to_str().unwrap()]);
    assert_eq!(std::fs::read(&back).unwrap(), data);
    run(&["mkdir", &url("sub")]);
    assert!(root.join("sub").is_dir());
    assert!(run(&["ls", &url("")]).contains("up.bin"));
    if mlsd {
        assert!(run(&["mlsd", &url("")]).contains("sub"));
    }
    run(&["mv", &url("up.bin"), "moved.bin"]);
    assert!(root.join("moved.bin").exists());
    run(&["rm", &url("moved.bin")]);
    assert!(!root.join("moved.bin").exists());
    // A failure: non-zero, one line naming the server's reply.
    let a = with(&["size", &url("no-such-file")]);
    let out = client(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("server replied \"550"), "{err}");
    std::fs::remove_dir(root.join("sub")).unwrap();
}

ftp_tests::adapter_tests! {
    fn example_against_our_server() {
        let server = TestServer::start();
        let base = format!(
            "ftp://{}:{}@{}",
            ftp_tests::USER,
            ftp_tests::PASS,
            server.addr
        );
        every_command(&base, server.root.path(), &[], true);
        every_command(&base, server.root.path(), &["--active"], true);
        every_command(&base, server.root.path(), &["--no-epsv"], true);
        let tls = TestServer::with(Options {
            tls: ftp_proto::server::TlsMode::Implicit,
            ..Options::default()
        });
        let base = format!(
            "ftps://{}:{}@{}",
            ftp_tests::USER,
            ftp_tests::PASS,
            tls.addr
        );
        every_command(&base, tls.root.path(), &["--insecure"], true);
        // Anonymous, read-only: the refusal names the reply.
        let out = client(&["mkdir", &format!("ftp://{}/x", server.addr)]);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("server replied"));
    }

    fn example_against_vsftpd() {
        let server = PeerServer::start(PeerKind::Vsftpd, PeerTls::ExplicitRequireReuse).unwrap();
        let base = format!("ftp://{PEER_USER}:{PEER_PASS}@{}", server.addr);
        every_command(&base, &server.root, &["--tls", "--insecure"], false);
    }
}
