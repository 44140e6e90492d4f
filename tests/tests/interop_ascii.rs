//! TYPE A on every server adapter, checked on the wire: a download of LF text arrives with
//! CRLF on the data connection and an upload of CRLF text is stored with LF, through a raw
//! control connection, curl (whose `--trace` shows the bytes before it converts them back)
//! and Python ftplib (`storlines`, and a raw `transfercmd` in TYPE A).

use std::io::{Read, Write};

use ftp_tests::ctl::Ctl;
use ftp_tests::{run_ok, TestServer};

/// Local text with LF endings, a CRLF already there (not doubled on the wire), a lone CR
/// (kept) and no final newline.
const LOCAL: &[u8] = b"one\ntwo\r\nlone\rcr\n\nlast";
/// Its TYPE A network form.
const WIRE: &[u8] = b"one\r\ntwo\r\nlone\rcr\r\n\r\nlast";

/// Network text with CRLF endings, a lone CR and a lone LF (both kept), for uploads.
const UP_WIRE: &[u8] = b"one\r\ntwo\r\nlone\rcr\nlf\r\n\r\nlast";
/// What it is stored as.
const UP_LOCAL: &[u8] = b"one\ntwo\nlone\rcr\nlf\n\nlast";

/// The bytes of the data lines of a curl `--trace -` dump whose header starts with `dir`
/// (`<= Recv data` or `=> Send data`).
fn traced(trace: &str, dir: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in trace.lines() {
        if line.starts_with("<=") || line.starts_with("=>") || line.starts_with("==") {
            inside = line.starts_with(dir);
            continue;
        }
        if !inside {
            continue;
        }
        // "0000: 6f 6e 65 0d 0a ...   one.." : hex pairs between the colon and the gap.
        let Some((_, rest)) = line.split_once(": ") else {
            continue;
        };
        let hex = rest.get(..48).unwrap_or(rest);
        out.extend(
            hex.split_whitespace()
                .map(|h| u8::from_str_radix(h, 16).expect("hex byte")),
        );
    }
    out
}

ftp_tests::adapter_tests! {
    fn raw_type_a_download_has_crlf_on_the_wire() {
        let srv = TestServer::start();
        srv.put_file("text.txt", LOCAL);
        let mut c = Ctl::connect(srv.addr);
        c.login();
        assert!(c.cmd("TYPE A").starts_with("200"));
        let mut data = c.data(srv.addr);
        let r = c.cmd("RETR text.txt");
        assert!(r.starts_with("150") || r.starts_with("125"), "{r}");
        let mut got = Vec::new();
        data.read_to_end(&mut got).unwrap();
        assert!(c.reply().starts_with("226"));
        assert_eq!(got, WIRE, "{:?}", String::from_utf8_lossy(&got));
        // The same file in TYPE I is sent as it is.
        assert!(c.cmd("TYPE I").starts_with("200"));
        let mut data = c.data(srv.addr);
        assert!(c.cmd("RETR text.txt").starts_with('1'));
        let mut got = Vec::new();
        data.read_to_end(&mut got).unwrap();
        assert!(c.reply().starts_with("226"));
        assert_eq!(got, LOCAL);
    }

    fn raw_type_a_upload_is_stored_with_lf() {
        let srv = TestServer::start();
        let mut c = Ctl::connect(srv.addr);
        c.login();
        assert!(c.cmd("TYPE A").starts_with("200"));
        let mut data = c.data(srv.addr);
        let r = c.cmd("STOR up.txt");
        assert!(r.starts_with("150") || r.starts_with("125"), "{r}");
        // Written in pieces that cut a CRLF in two, as any network may deliver it.
        for piece in UP_WIRE.chunks(4) {
            data.write_all(piece).unwrap();
            data.flush().unwrap();
        }
        drop(data);
        assert!(c.reply().starts_with("226"));
        assert_eq!(std::fs::read(srv.path("up.txt")).unwrap(), UP_LOCAL);
    }

    fn curl_ascii_download_and_upload_on_the_wire() {
        let srv = TestServer::start();
        srv.put_file("text.txt", LOCAL);
        let dir = tempfile::tempdir().unwrap();
        let out = run_ok(
            "curl",
            &["-sS", "--use-ascii", "--trace", "-", "-o", "got.txt", &srv.url("ftp", "text.txt")],
            dir.path(),
        );
        let trace = String::from_utf8_lossy(&out.stdout);
        assert_eq!(traced(&trace, "<= Recv data"), WIRE, "{trace}");
        // curl's `--crlf` sends every LF as CRLF; the server stores LF again.
        std::fs::write(dir.path().join("up.txt"), b"a\nb\n").unwrap();
        let out = run_ok(
            "curl",
            &["-sS", "--use-ascii", "--crlf", "--trace", "-", "-T", "up.txt", &srv.url("ftp", "up.txt")],
            dir.path(),
        );
        let trace = String::from_utf8_lossy(&out.stdout);
        assert_eq!(traced(&trace, "=> Send data"), b"a\r\nb\r\n", "{trace}");
        assert_eq!(std::fs::read(srv.path("up.txt")).unwrap(), b"a\nb\n");
    }

    fn ftplib_storlines_and_raw_type_a() {
        let srv = TestServer::start();
        srv.put_file("text.txt", LOCAL);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("lines.txt"), b"x\ny\n").unwrap();
        let script = r#"
import ftplib, sys
f = ftplib.FTP(timeout=20)
f.connect(sys.argv[1], int(sys.argv[2]))
f.login(sys.argv[3], sys.argv[4])
with open("lines.txt", "rb") as src:
    f.storlines("STOR lines.txt", src)
f.voidcmd("TYPE A")
conn = f.transfercmd("RETR text.txt")
raw = b""
while True:
    b = conn.recv(65536)
    if not b:
        break
    raw += b
conn.close()
f.voidresp()
sys.stdout.write(raw.hex())
f.quit()
"#;
        let out = run_ok(
            "python3",
            &["-c", script, &srv.addr.ip().to_string(), &srv.addr.port().to_string(),
              ftp_tests::USER, ftp_tests::PASS],
            dir.path(),
        );
        // storlines sends each line with CRLF in TYPE A; the file is stored with LF.
        assert_eq!(std::fs::read(srv.path("lines.txt")).unwrap(), b"x\ny\n");
        let hex = String::from_utf8_lossy(&out.stdout);
        let raw: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        assert_eq!(raw, WIRE);
    }
}
