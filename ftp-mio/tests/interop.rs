//! Real clients (curl, lftp) against the mio server.

mod common;

use common::{content, run_ok, sha256, sha256_file, TestServer, PASS, USER};
#[cfg(feature = "tls")]
use ftp_proto::server::TlsMode;

#[test]
fn curl_get_and_put_passive() {
    let server = TestServer::start();
    let data = content(2_000_000, 1);
    server.put_file("down.bin", &data);
    let dir = tempfile::tempdir().expect("dir");
    run_ok(
        "curl",
        &["-sS", "-o", "got.bin", &server.url("ftp", "down.bin")],
        dir.path(),
    );
    assert_eq!(sha256_file(&dir.path().join("got.bin")), sha256(&data));
    std::fs::write(dir.path().join("up.bin"), &data).expect("write");
    run_ok(
        "curl",
        &["-sS", "-T", "up.bin", &server.url("ftp", "up.bin")],
        dir.path(),
    );
    assert_eq!(sha256_file(&server.path("up.bin")), sha256(&data));
}

#[test]
fn curl_get_and_put_active() {
    let server = TestServer::start();
    let data = content(1_500_000, 2);
    server.put_file("down.bin", &data);
    let dir = tempfile::tempdir().expect("dir");
    run_ok(
        "curl",
        &[
            "-sS",
            "-P",
            "-",
            "-o",
            "got.bin",
            &server.url("ftp", "down.bin"),
        ],
        dir.path(),
    );
    assert_eq!(sha256_file(&dir.path().join("got.bin")), sha256(&data));
    std::fs::write(dir.path().join("up.bin"), &data).expect("write");
    run_ok(
        "curl",
        &[
            "-sS",
            "-P",
            "-",
            "-T",
            "up.bin",
            &server.url("ftp", "up.bin"),
        ],
        dir.path(),
    );
    assert_eq!(sha256_file(&server.path("up.bin")), sha256(&data));
}

#[test]
fn curl_listing() {
    let server = TestServer::start();
    server.put_file("one.txt", b"12345");
    let dir = tempfile::tempdir().expect("dir");
    let out = run_ok("curl", &["-sS", &server.url("ftp", "")], dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("one.txt") && text.contains(" 5 "), "{text}");
}

#[cfg(feature = "tls")]
#[test]
fn curl_ftps_explicit() {
    let server = TestServer::with(common::Options {
        tls: TlsMode::Explicit,
        ..Default::default()
    });
    let data = content(3_000_000, 3);
    server.put_file("down.bin", &data);
    let dir = tempfile::tempdir().expect("dir");
    run_ok(
        "curl",
        &[
            "-sS",
            "--ssl-reqd",
            "-k",
            "-o",
            "got.bin",
            &server.url("ftp", "down.bin"),
        ],
        dir.path(),
    );
    assert_eq!(sha256_file(&dir.path().join("got.bin")), sha256(&data));
    std::fs::write(dir.path().join("up.bin"), &data).expect("write");
    run_ok(
        "curl",
        &[
            "-sS",
            "--ssl-reqd",
            "-k",
            "-T",
            "up.bin",
            &server.url("ftp", "up.bin"),
        ],
        dir.path(),
    );
    assert_eq!(sha256_file(&server.path("up.bin")), sha256(&data));
}

#[cfg(feature = "tls")]
#[test]
fn curl_ftps_implicit() {
    let server = TestServer::with(common::Options {
        tls: TlsMode::Implicit,
        ..Default::default()
    });
    let data = content(500_000, 4);
    server.put_file("down.bin", &data);
    let dir = tempfile::tempdir().expect("dir");
    run_ok(
        "curl",
        &[
            "-sS",
            "-k",
            "-o",
            "got.bin",
            &server.url("ftps", "down.bin"),
        ],
        dir.path(),
    );
    assert_eq!(sha256_file(&dir.path().join("got.bin")), sha256(&data));
}

fn lftp_put_get(server: &TestServer, tls: bool) {
    let data = content(2_500_000, 5);
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("up.bin"), &data).expect("write");
    let script = format!(
        "set ssl:verify-certificate no; set ftp:ssl-allow {tls}; set ftp:ssl-force {tls}; \
         set ftp:ssl-protect-data {tls}; set net:max-retries 1; set net:timeout 20; \
         open -u {USER},{PASS} ftp://{}; put up.bin -o up.bin; get up.bin -o got.bin; ls",
        server.addr
    );
    run_ok("lftp", &["-c", &script], dir.path());
    assert_eq!(sha256_file(&server.path("up.bin")), sha256(&data));
    assert_eq!(sha256_file(&dir.path().join("got.bin")), sha256(&data));
}

#[test]
fn lftp_put_get_plain() {
    let server = TestServer::start();
    lftp_put_get(&server, false);
}

#[cfg(feature = "tls")]
#[test]
fn lftp_put_get_tls() {
    let server = TestServer::with(common::Options {
        tls: TlsMode::Explicit,
        ..Default::default()
    });
    lftp_put_get(&server, true);
}
