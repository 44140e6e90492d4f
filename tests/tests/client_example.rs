//! Each adapter's example client binary (`ftp-tokio/examples/client.rs`,
//! `ftp-futures/examples/client.rs`, `ftp-mio/examples/client.rs`: one command line, ftp-cli's)
//! against the same adapter's server and against vsftpd: every command once, exit statuses,
//! and a one-line error naming the server's reply.

mod example_client;

use std::process::{Command, Output};

use example_client::example;

use ftp_tests::peers::{PeerKind, PeerServer, PeerTls, PEER_PASS, PEER_USER};
use ftp_tests::{content, Options, TestServer};

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
