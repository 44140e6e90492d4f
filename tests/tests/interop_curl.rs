//! Our server with curl as the client: listings, get/put with SHA-256 equality, resume both
//! ways, file operations, passive (EPSV, PASV), active (EPRT, PORT), IPv6 and FTPS.

use ftp_proto::server::TlsMode;
use ftp_tests::{content, run_client, run_ok, sha256, sha256_file, Options, TestServer};

fn s(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Which data-connection command a session must use, and the one it must not fall back to.
#[derive(Clone, Copy)]
struct Uses {
    cmd: &'static str,
    reply: &'static str,
    not: &'static str,
}

const EPSV: Uses = Uses {
    cmd: "EPSV",
    reply: "229",
    not: "PASV",
};
const PASV: Uses = Uses {
    cmd: "PASV",
    reply: "227",
    not: "EPSV",
};
const EPRT: Uses = Uses {
    cmd: "EPRT",
    reply: "200",
    not: "PORT",
};
const PORT: Uses = Uses {
    cmd: "PORT",
    reply: "200",
    not: "EPRT",
};

/// Checks curl's `-v` log: `uses.cmd` was sent and answered with `uses.reply` right away, and
/// the fallback `uses.not` was never sent (curl silently retries with it, so a broken EPSV or
/// EPRT would otherwise pass).
fn assert_uses(out: &std::process::Output, uses: Uses) {
    let log = String::from_utf8_lossy(&out.stderr);
    let sent: Vec<&str> = log.lines().filter_map(|l| l.strip_prefix("> ")).collect();
    let pos = sent
        .iter()
        .position(|c| c.starts_with(uses.cmd))
        .unwrap_or_else(|| panic!("{} never sent:\n{log}", uses.cmd));
    assert!(
        !sent.iter().any(|c| c.starts_with(uses.not)),
        "fell back to {}:\n{log}",
        uses.not
    );
    let after = log
        .split(&format!("> {}", sent[pos]))
        .nth(1)
        .and_then(|rest| rest.lines().find(|l| l.starts_with("< ")))
        .unwrap_or_default();
    assert!(
        after.starts_with(&format!("< {} ", uses.reply)),
        "{} answered {after:?}:\n{log}",
        uses.cmd
    );
}

/// Downloads and uploads a 3 MB file with the extra curl flags, checking both copies, and
/// with `uses`, which data-connection command both transfers used.
fn get_put_using(srv: &TestServer, scheme: &str, flags: &[&str], uses: Uses) {
    get_put_checked(srv, scheme, flags, Some(uses));
}

/// Downloads and uploads a 3 MB file with the extra curl flags, checking both copies.
fn get_put(srv: &TestServer, scheme: &str, flags: &[&str]) {
    get_put_checked(srv, scheme, flags, None);
}

fn get_put_checked(srv: &TestServer, scheme: &str, flags: &[&str], uses: Option<Uses>) {
    let data = content(3_000_000, 7);
    srv.put_file("big.bin", &data);
    let local = tempfile::tempdir().unwrap();
    let url = srv.url(scheme, "big.bin");
    let mut args = vec!["-sS", "-v", "-g", "-o", "got.bin"];
    args.extend_from_slice(flags);
    args.push(&url);
    let out = run_ok("curl", &args, local.path());
    assert_eq!(sha256_file(&local.path().join("got.bin")), sha256(&data));
    if let Some(uses) = uses {
        assert_uses(&out, uses);
    }

    let up = content(2_500_000, 8);
    std::fs::write(local.path().join("up.bin"), &up).unwrap();
    let url = srv.url(scheme, "uploaded.bin");
    let mut args = vec!["-sS", "-v", "-g", "-T", "up.bin"];
    args.extend_from_slice(flags);
    args.push(&url);
    let out = run_ok("curl", &args, local.path());
    assert_eq!(sha256_file(&srv.path("uploaded.bin")), sha256(&up));
    if let Some(uses) = uses {
        assert_uses(&out, uses);
    }
}

ftp_tests::adapter_tests! {
    fn passive_epsv_get_put() {
        get_put_using(&TestServer::start(), "ftp", &[], EPSV);
    }

    fn passive_pasv_get_put() {
        get_put_using(&TestServer::start(), "ftp", &["--disable-epsv"], PASV);
    }

    fn active_eprt_get_put() {
        get_put_using(&TestServer::start(), "ftp", &["-P", "-"], EPRT);
    }

    fn active_port_get_put() {
        get_put_using(&TestServer::start(), "ftp", &["-P", "-", "--disable-eprt"], PORT);
    }

    fn ipv6_epsv_and_eprt() {
        let srv = TestServer::with(Options {
            ipv6: true,
            ..Options::default()
        });
        get_put_using(&srv, "ftp", &[], EPSV);
        get_put_using(&srv, "ftp", &["-P", "-"], EPRT);
    }

    fn listings_list_nlst_mlsd() {
        let srv = TestServer::start();
        srv.put_file("hello.txt", b"hello\n");
        std::fs::create_dir(srv.path("subdir")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let list = s(&run_ok("curl", &["-sS", &srv.url("ftp", "")], dir.path()));
        let lines: Vec<&str> = list.lines().collect();
        assert_eq!(lines.len(), 2, "{list}");
        assert!(
            lines[0].starts_with("-rw") && lines[0].ends_with(" hello.txt"),
            "{list}"
        );
        assert!(
            lines[1].starts_with('d') && lines[1].ends_with(" subdir"),
            "{list}"
        );
        let nlst = s(&run_ok(
            "curl",
            &["-sS", "-l", &srv.url("ftp", "")],
            dir.path(),
        ));
        // curl turns the CRLF of an ASCII listing into LF.
        assert_eq!(nlst.lines().collect::<Vec<_>>(), ["hello.txt", "subdir"]);
        let mlsd = s(&run_ok(
            "curl",
            &["-sS", "-X", "MLSD", &srv.url("ftp", "")],
            dir.path(),
        ));
        assert!(
            mlsd.contains("type=file;") && mlsd.contains("size=6;"),
            "{mlsd}"
        );
        assert!(
            mlsd.contains(" hello.txt") && mlsd.contains("type=dir;"),
            "{mlsd}"
        );
        // Anonymous login sees the same tree.
        let anon = format!("ftp://{}/", srv.addr);
        let nlst = s(&run_ok("curl", &["-sS", "-l", &anon], dir.path()));
        assert_eq!(nlst.lines().collect::<Vec<_>>(), ["hello.txt", "subdir"]);
    }

    fn resume_download_and_upload() {
        let srv = TestServer::start();
        let data = content(1_000_000, 3);
        srv.put_file("file.bin", &data);
        let dir = tempfile::tempdir().unwrap();
        // Download resume: the local file holds the first 300,000 bytes.
        std::fs::write(dir.path().join("file.bin"), &data[..300_000]).unwrap();
        run_ok(
            "curl",
            &[
                "-sS",
                "-C",
                "-",
                "-o",
                "file.bin",
                &srv.url("ftp", "file.bin"),
            ],
            dir.path(),
        );
        assert_eq!(sha256_file(&dir.path().join("file.bin")), sha256(&data));
        // Upload resume: the server holds the first 400,000 bytes.
        let up = content(900_000, 4);
        srv.put_file("up.bin", &up[..400_000]);
        std::fs::write(dir.path().join("up.bin"), &up).unwrap();
        run_ok(
            "curl",
            &["-sS", "-C", "-", "-T", "up.bin", &srv.url("ftp", "up.bin")],
            dir.path(),
        );
        assert_eq!(sha256_file(&srv.path("up.bin")), sha256(&up));
    }

    fn rename_delete_mkdir_rmdir() {
        let srv = TestServer::start();
        srv.put_file("a.txt", b"a");
        srv.put_file("gone.txt", b"x");
        std::fs::create_dir(srv.path("old")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        run_ok(
            "curl",
            &[
                "-sS",
                "-o",
                "/dev/null",
                "-Q",
                "MKD newdir",
                "-Q",
                "RNFR a.txt",
                "-Q",
                "RNTO newdir/b.txt",
                "-Q",
                "DELE gone.txt",
                "-Q",
                "RMD old",
                &srv.url("ftp", ""),
            ],
            dir.path(),
        );
        assert!(srv.path("newdir").is_dir());
        assert_eq!(std::fs::read(srv.path("newdir/b.txt")).unwrap(), b"a");
        assert!(!srv.path("a.txt").exists());
        assert!(!srv.path("gone.txt").exists());
        assert!(!srv.path("old").exists());
        // A failing command fails curl: RMD of a non-empty directory.
        let out = run_client(
            "curl",
            &[
                "-sS",
                "-o",
                "/dev/null",
                "-Q",
                "RMD newdir",
                &srv.url("ftp", ""),
            ],
            dir.path(),
        );
        assert_eq!(out.status.code(), Some(21), "QUOTE error expected");
        assert!(srv.path("newdir/b.txt").exists());
    }

    fn anonymous_is_read_only_and_bad_password_fails() {
        let srv = TestServer::start();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x"), b"x").unwrap();
        let anon = format!("ftp://{}/x", srv.addr);
        let out = run_client("curl", &["-sS", "-T", "x", &anon], dir.path());
        assert_eq!(out.status.code(), Some(25), "upload refused expected");
        assert!(!srv.path("x").exists());
        let bad = format!("ftp://alice:wrong@{}/", srv.addr);
        let out = run_client("curl", &["-sS", &bad], dir.path());
        assert_eq!(out.status.code(), Some(67), "login denied expected");
    }

    fn ascii_mode_converts_line_endings() {
        let srv = TestServer::start();
        srv.put_file("text.txt", b"one\ntwo\n");
        let dir = tempfile::tempdir().unwrap();
        let got = run_ok(
            "curl",
            &["-sS", "--use-ascii", &srv.url("ftp", "text.txt")],
            dir.path(),
        );
        // curl turns the CRLF of TYPE A back into LF, so this shows the round trip only; the
        // bytes on the wire are checked in interop_ascii.
        assert_eq!(got.stdout, b"one\ntwo\n");
        // curl sends LF as CRLF; the server stores LF.
        std::fs::write(dir.path().join("up.txt"), b"a\nb\n").unwrap();
        run_ok(
            "curl",
            &[
                "-sS",
                "-B",
                "-T",
                "up.txt",
                &srv.url("ftp", "up.txt;type=a"),
            ],
            dir.path(),
        );
        assert_eq!(std::fs::read(srv.path("up.txt")).unwrap(), b"a\nb\n");
    }

    fn ftps_explicit() {
        let srv = TestServer::with(Options {
            tls: TlsMode::Explicit,
            ..Options::default()
        });
        get_put(&srv, "ftp", &["--ssl-reqd", "-k"]);
        // Active mode over FTPS is left to lftp and ftplib: curl 7.88 fails it on its own side
        // ("sa_addr inet_ntop() failed") before any byte reaches the server.
        let dir = tempfile::tempdir().unwrap();
        let nlst = s(&run_ok(
            "curl",
            &["-sS", "--ssl-reqd", "-k", "-l", &srv.url("ftp", "")],
            dir.path(),
        ));
        assert_eq!(
            nlst.lines().collect::<Vec<_>>(),
            ["big.bin", "uploaded.bin"]
        );
    }

    fn ftps_required_refuses_plain_login() {
        let srv = TestServer::with(Options {
            tls: TlsMode::ExplicitRequired,
            ..Options::default()
        });
        let dir = tempfile::tempdir().unwrap();
        let out = run_client("curl", &["-sS", "-l", &srv.url("ftp", "")], dir.path());
        assert!(!out.status.success());
        run_ok(
            "curl",
            &["-sS", "--ssl-reqd", "-k", "-l", &srv.url("ftp", "")],
            dir.path(),
        );
    }

    fn ftps_implicit() {
        let srv = TestServer::with(Options {
            tls: TlsMode::Implicit,
            ..Options::default()
        });
        get_put(&srv, "ftps", &["-k"]);
        // Implicit, not explicit: the handshake comes before the greeting and no AUTH is sent.
        let dir = tempfile::tempdir().unwrap();
        let out = run_ok("curl", &["-sS", "-v", "-k", "-l", &srv.url("ftps", "")], dir.path());
        let log = String::from_utf8_lossy(&out.stderr);
        let tls = log.find("SSL connection using").expect("no TLS handshake");
        let greeting = log.find("< 220").expect("no greeting");
        assert!(tls < greeting, "greeting before TLS:\n{log}");
        assert!(!log.contains("> AUTH"), "{log}");
        assert_eq!(s(&out).lines().collect::<Vec<_>>(), ["big.bin", "uploaded.bin"]);
    }

    fn ftps_with_required_session_reuse() {
        // curl (OpenSSL) resumes the control connection's TLS session on data connections; the
        // adapter reports the resumption, so a server that requires it still serves curl.
        let srv = TestServer::with(Options {
            tls: TlsMode::ExplicitRequired,
            require_tls_reuse: true,
            ..Options::default()
        });
        get_put(&srv, "ftp", &["--ssl-reqd", "-k"]);
    }
}
