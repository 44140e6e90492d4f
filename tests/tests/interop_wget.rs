//! Our server with wget as the client: get with SHA-256 equality, resume (`-c`), a directory
//! listing, passive (PASV) and active (PORT), IPv6 (EPSV), and FTPS explicit and implicit.
//! wget cannot upload, rename or delete.

use ftp_proto::server::TlsMode;
use ftp_tests::{content, run_client, run_ok, sha256, sha256_file, Options, TestServer};

fn get(srv: &TestServer, scheme: &str, flags: &[&str]) {
    let data = content(2_000_000, 31);
    srv.put_file("big.bin", &data);
    let dir = tempfile::tempdir().unwrap();
    let url = srv.url(scheme, "big.bin");
    let mut args = vec!["-q", "--tries=1", "--timeout=15", "-O", "got.bin"];
    args.extend_from_slice(flags);
    args.push(&url);
    run_ok("wget", &args, dir.path());
    assert_eq!(sha256_file(&dir.path().join("got.bin")), sha256(&data));
    // Resume: the local copy holds the first 600,000 bytes.
    std::fs::write(dir.path().join("big.bin"), &data[..600_000]).unwrap();
    let mut args = vec!["-q", "--tries=1", "--timeout=15", "-c"];
    args.extend_from_slice(flags);
    args.push(&url);
    run_ok("wget", &args, dir.path());
    assert_eq!(sha256_file(&dir.path().join("big.bin")), sha256(&data));
}

ftp_tests::adapter_tests! {
    fn passive_get_and_resume() {
        get(&TestServer::start(), "ftp", &[]);
    }

    fn active_get_and_resume() {
        get(&TestServer::start(), "ftp", &["--no-passive-ftp"]);
    }

    fn ipv6_get_and_resume() {
        let srv = TestServer::with(Options {
            ipv6: true,
            ..Options::default()
        });
        get(&srv, "ftp", &[]);
    }

    fn directory_listing() {
        let srv = TestServer::start();
        srv.put_file("one.txt", b"1");
        std::fs::create_dir(srv.path("dir")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        run_ok(
            "wget",
            &[
                "-q",
                "--tries=1",
                "--no-remove-listing",
                "-O",
                "index.html",
                &srv.url("ftp", ""),
            ],
            dir.path(),
        );
        let listing = std::fs::read_to_string(dir.path().join(".listing")).unwrap();
        assert!(
            listing
                .lines()
                .any(|l| l.starts_with('-') && l.ends_with(" one.txt")),
            "{listing}"
        );
        assert!(
            listing
                .lines()
                .any(|l| l.starts_with('d') && l.ends_with(" dir")),
            "{listing}"
        );
        let index = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
        assert!(
            index.contains("one.txt") && index.contains("dir/"),
            "{index}"
        );
    }

    fn missing_file_fails() {
        let srv = TestServer::start();
        let dir = tempfile::tempdir().unwrap();
        let out = run_client(
            "wget",
            &["-q", "--tries=1", &srv.url("ftp", "nope.bin")],
            dir.path(),
        );
        assert_eq!(out.status.code(), Some(8), "server error response expected");
    }

    fn ftps_explicit() {
        // Required, so a wget that skipped AUTH TLS could not pass.
        let srv = TestServer::with(Options {
            tls: TlsMode::ExplicitRequired,
            ..Options::default()
        });
        get(&srv, "ftps", &["--no-check-certificate"]);
    }

    fn ftps_implicit() {
        let srv = TestServer::with(Options {
            tls: TlsMode::Implicit,
            ..Options::default()
        });
        get(&srv, "ftps", &["--no-check-certificate", "--ftps-implicit"]);
    }
}
