//! ABOR during an upload, on every server adapter, from a raw control connection: the
//! replies come in RFC 959's order (426 for the STOR, then 226 for the ABOR), the data
//! connection is closed, what is on disk is a prefix of what was sent, and the session goes
//! on.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use ftp_tests::ctl::Ctl;
use ftp_tests::{content, TestServer};

/// Waits until `path` holds at least `len` bytes: the server has started writing the upload,
/// so the transfer is under way when ABOR arrives.
fn wait_for_size(path: &std::path::Path, len: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::metadata(path).map_or(0, |m| m.len()) < len {
        assert!(
            Instant::now() < deadline,
            "the upload never reached {len} bytes"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

ftp_tests::adapter_tests! {
    fn abor_during_an_upload() {
        let srv = TestServer::start();
        let sent = content(256 * 1024, 31);
        let mut c = Ctl::connect(srv.addr);
        c.login();
        let mut data = c.data(srv.addr);
        let r = c.cmd("STOR up.bin");
        assert!(r.starts_with("150") || r.starts_with("125"), "{r}");
        data.write_all(&sent).unwrap();
        data.flush().unwrap();
        wait_for_size(&srv.path("up.bin"), 64 * 1024);

        // The data connection stays open: the transfer is still running for the server.
        let a = c.cmd("ABOR");
        assert!(a.starts_with("426"), "the STOR's reply first: {a}");
        let b = c.reply();
        assert!(b.starts_with("226"), "then the ABOR's: {b}");

        // The server closed the data connection: a read ends (EOF or reset), never blocks.
        data.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 16];
        match data.read(&mut buf) {
            Ok(0) | Err(_) => {}
            Ok(n) => panic!("{n} bytes on an aborted upload's data connection"),
        }
        let mut more_failed = false;
        for _ in 0..200 {
            if data.write_all(&[b'z'; 4096]).is_err() {
                more_failed = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(more_failed, "the aborted data connection still takes bytes");

        let on_disk = std::fs::read(srv.path("up.bin")).unwrap();
        assert!(on_disk.len() <= sent.len());
        assert!(on_disk == sent[..on_disk.len()], "the file is not a prefix of what was sent");

        // The session goes on: another upload completes.
        assert!(c.cmd("NOOP").starts_with("200"));
        let mut data = c.data(srv.addr);
        assert!(c.cmd("STOR after.bin").starts_with('1'));
        data.write_all(b"after").unwrap();
        drop(data);
        assert!(c.reply().starts_with("226"));
        assert_eq!(std::fs::read(srv.path("after.bin")).unwrap(), b"after");
    }
}
