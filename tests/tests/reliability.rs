//! Reliability duties of every adapter's server: ABOR sent as TCP urgent data, many sessions
//! from one address (users behind one NAT), and the log lines an operator needs.

use ftp_tests::{run_ok, Options, TestServer, PASS, USER};

/// Starts a download it does not read, aborts it the way ftplib does (the whole `ABOR\r\n`
/// sent with `MSG_OOB`), and checks that the session stays in step: the 426/226 pair, then
/// PWD and NOOP answered as such.
const ABORT_SCRIPT: &str = r#"
import ftplib, sys
host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
f = ftplib.FTP(timeout=10)
f.connect(host, port)
f.login(user, password)
f.voidcmd("TYPE I")
conn = f.transfercmd("RETR big.bin")
assert conn.recv(65536)
resp = f.abort()
conn.close()
if resp.startswith("426"):
    resp = f.getresp()
assert resp.startswith("226"), resp
assert f.pwd() == "/"
assert f.voidcmd("NOOP").startswith("200")
assert f.size("big.bin") == 256 << 20
f.quit()
print("ok")
"#;

ftp_tests::adapter_tests! {
    /// Without out-of-band-inline control sockets the kernel takes the urgent `\n` out of the
    /// stream: ABOR never completes and ftplib times out.
    fn ftplib_abort_with_urgent_data_keeps_the_session_in_step() {
        let srv = TestServer::with(Options::default());
        // Sparse: big enough that the download is still running when ABOR comes, at no
        // disk cost.
        let big = std::fs::File::create(srv.path("big.bin")).unwrap();
        big.set_len(256 << 20).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (host, port) = (srv.addr.ip().to_string(), srv.addr.port().to_string());
        let out = run_ok(
            "python3",
            &["-c", ABORT_SCRIPT, &host, &port, USER, PASS],
            dir.path(),
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
    }
}
