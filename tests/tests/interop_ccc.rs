//! CCC (RFC 4217 §6): after `200` to CCC both sides end TLS on the control connection with
//! close_notify and go on in cleartext, data connections still protected. Checked on every
//! server adapter with curl (`--ftp-ssl-ccc`, which sends no close_notify of its own), lftp
//! (`ftp:ssl-use-ccc`, which does) and Python ftplib (`ccc()`, which does, then waits for
//! the server's).

use ftp_proto::server::TlsMode;
use ftp_tests::{
    content, run_client, run_ok, sha256, sha256_file, Options, TestServer, PASS, USER,
};

fn server() -> TestServer {
    let srv = TestServer::with(Options {
        tls: TlsMode::Explicit,
        ..Options::default()
    });
    srv.put_file("a.bin", &content(300_000, 41));
    srv
}

fn lines(out: &std::process::Output) -> String {
    format!(
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

ftp_tests::adapter_tests! {
    fn curl_ccc() {
        let srv = server();
        let dir = tempfile::tempdir().unwrap();
        let out = run_ok(
            "curl",
            &["-sS", "-v", "--ssl-reqd", "-k", "--ftp-ssl-ccc", "-o", "a.bin", &srv.url("ftp", "a.bin")],
            dir.path(),
        );
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(log.contains("> CCC"), "{log}");
        assert!(log.contains("< 200"), "{log}");
        assert_eq!(sha256_file(&dir.path().join("a.bin")), sha256(&std::fs::read(srv.path("a.bin")).unwrap()));
    }

    fn lftp_ccc() {
        let srv = server();
        let dir = tempfile::tempdir().unwrap();
        let script = format!(
            "debug -o lftp.log 5; set net:max-retries 1; set net:timeout 10; set cmd:fail-exit yes; \
             set ftp:ssl-force yes; set ftp:ssl-protect-data yes; set ssl:verify-certificate no; \
             set ftp:ssl-use-ccc yes; open -u {USER},{PASS} -p {} ftp://127.0.0.1; \
             get a.bin -o a.bin; put a.bin -o b.bin; nlist",
            srv.addr.port()
        );
        let out = run_client("lftp", &["-c", &script], dir.path());
        let log = std::fs::read_to_string(dir.path().join("lftp.log")).unwrap_or_default();
        assert!(out.status.success(), "{}\n{log}", lines(&out));
        assert!(log.contains("---> CCC"), "{log}");
        assert_eq!(sha256_file(&dir.path().join("a.bin")), sha256_file(&srv.path("a.bin")));
        assert_eq!(sha256_file(&srv.path("b.bin")), sha256_file(&srv.path("a.bin")));
        let names = String::from_utf8_lossy(&out.stdout);
        assert_eq!(names.lines().collect::<Vec<_>>(), ["a.bin", "b.bin"], "{log}");
    }

    fn ftplib_ccc_then_cleartext_commands() {
        let srv = server();
        let dir = tempfile::tempdir().unwrap();
        let script = r#"
import ftplib, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
f = ftplib.FTP_TLS(context=ctx, timeout=10)
f.connect(sys.argv[1], int(sys.argv[2]))
f.login(sys.argv[3], sys.argv[4])
f.prot_p()
r = f.ccc()
assert r.startswith("200"), r
r = f.voidcmd("NOOP")
assert r.startswith("200"), r
with open("a.bin", "wb") as out:
    f.retrbinary("RETR a.bin", out.write)
f.quit()
print("ok")
"#;
        let out = run_client(
            "python3",
            &["-c", script, &srv.addr.ip().to_string(), &srv.addr.port().to_string(), USER, PASS],
            dir.path(),
        );
        assert!(out.status.success(), "{}", lines(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
        assert_eq!(sha256_file(&dir.path().join("a.bin")), sha256_file(&srv.path("a.bin")));
    }
}
