//! Our server with Python's ftplib as the client: listings, get/put with SHA-256 equality,
//! resume both ways, file operations; PASV and PORT on IPv4, EPSV and EPRT on IPv6 (ftplib's
//! own choice per family), and explicit FTPS (`FTP_TLS`, PROT P) passive and active.

use ftp_proto::server::TlsMode;
use ftp_tests::{content, run_ok, sha256, sha256_file, Options, TestServer, PASS, USER};

/// Asserts inside Python; the Rust side checks the files on both ends.
const SCRIPT: &str = r#"
import ftplib, ssl, sys
host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
user, password = sys.argv[4], sys.argv[5]
if "tls" in mode:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    f = ftplib.FTP_TLS(context=ctx, timeout=20)
else:
    f = ftplib.FTP(timeout=20)
f.connect(host, port)
f.login(user, password)
if "tls" in mode:
    f.prot_p()
f.set_pasv("active" not in mode)

names = sorted(f.nlst())
assert names == ["big.bin", "del.txt", "olddir", "part.bin"], names
lines = []
f.retrlines("LIST", lines.append)
assert len(lines) == 4 and any(l.startswith("d") and l.endswith(" olddir") for l in lines), lines
facts = dict(f.mlsd())
assert facts["big.bin"]["type"] == "file" and facts["big.bin"]["size"] == "2000000", facts
assert facts["olddir"]["type"] == "dir", facts

with open("got.bin", "wb") as out:
    f.retrbinary("RETR big.bin", out.write)
with open("tail.bin", "wb") as out:
    f.retrbinary("RETR big.bin", out.write, rest=1234567)
with open("up.bin", "rb") as src:
    f.storbinary("STOR uploaded.bin", src)
with open("up.bin", "rb") as src:
    src.seek(500000)
    f.storbinary("STOR part.bin", src, rest=500000)
assert f.size("uploaded.bin") == 1500000

f.mkd("newdir")
f.rename("uploaded.bin", "newdir/moved.bin")
f.delete("del.txt")
f.rmd("olddir")
try:
    f.rmd("newdir")
    raise SystemExit("RMD of a non-empty directory succeeded")
except ftplib.error_perm as e:
    assert str(e).startswith("550"), e
f.quit()
print("ok")
"#;

fn session(srv: &TestServer, mode: &str) {
    let data = content(2_000_000, 21);
    srv.put_file("big.bin", &data);
    srv.put_file("del.txt", b"x");
    std::fs::create_dir(srv.path("olddir")).unwrap();
    let up = content(1_500_000, 22);
    srv.put_file("part.bin", &up[..500_000]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("up.bin"), &up).unwrap();
    let host = srv.addr.ip().to_string();
    let port = srv.addr.port().to_string();
    let out = run_ok(
        "python3",
        &["-c", SCRIPT, &host, &port, mode, USER, PASS],
        dir.path(),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
    assert_eq!(sha256_file(&dir.path().join("got.bin")), sha256(&data));
    assert_eq!(
        sha256_file(&dir.path().join("tail.bin")),
        sha256(&data[1_234_567..])
    );
    assert_eq!(sha256_file(&srv.path("part.bin")), sha256(&up));
    assert_eq!(sha256_file(&srv.path("newdir/moved.bin")), sha256(&up));
    assert!(!srv.path("del.txt").exists() && !srv.path("olddir").exists());
}

ftp_tests::adapter_tests! {
    fn pasv() {
        session(&TestServer::start(), "passive");
    }

    fn port() {
        session(&TestServer::start(), "active");
    }

    fn ipv6_epsv_and_eprt() {
        let opts = Options {
            ipv6: true,
            ..Options::default()
        };
        session(&TestServer::with(opts.clone()), "passive");
        session(&TestServer::with(opts), "active");
    }

    fn ftps_explicit_passive_and_active() {
        // Session reuse is not required here: ftplib (3.11) does not resume the control
        // connection's TLS session on data connections (vsftpd's default would refuse it too).
        let opts = Options {
            tls: TlsMode::Explicit,
            ..Options::default()
        };
        session(&TestServer::with(opts.clone()), "tls passive");
        session(&TestServer::with(opts), "tls active");
    }
}
