//! Plain TYPE I uploads into the file storage take `splice(2)` on Linux, and the others do
//! not: the kernel counts the bytes a process moves with `write(2)` (`wchar` in
//! `/proc/self/io`) but not those it splices from a pipe into a file, so a buffered upload
//! of 16 MiB adds 16 MiB to the count and a spliced one next to nothing. One test in its own
//! binary, the three adapters in turn, so that no other test's writes are counted.

#![cfg(target_os = "linux")]

use std::io::Write;
use std::time::Duration;

use ftp_tests::ctl::Ctl;
use ftp_tests::{content, Adapter, Options, TestServer};

const SIZE: usize = 16 << 20;

/// Bytes this process has written with write(2) and its relatives so far.
fn written() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").unwrap();
    io.lines()
        .find_map(|l| l.strip_prefix("wchar: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("wchar in /proc/self/io")
}

/// Uploads `body` with `TYPE type_`; returns what the process wrote with write(2) meanwhile.
fn upload(c: &mut Ctl, srv: &TestServer, type_: &str, name: &str, body: &[u8]) -> u64 {
    assert!(c.cmd(&format!("TYPE {type_}")).starts_with("200"));
    let mut data = c.data(srv.addr);
    let before = written();
    assert!(c.cmd(&format!("STOR {name}")).starts_with('1'));
    data.set_write_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    // send(2) on a socket is not counted in wchar, only write(2) to files and pipes.
    data.write_all(body).unwrap();
    drop(data);
    let mut r = c.reply();
    while r.starts_with('1') {
        r = c.reply();
    }
    assert!(r.starts_with("226"), "{r}");
    written() - before
}

#[test]
fn plain_binary_uploads_are_spliced_and_ascii_ones_written() {
    for adapter in [Adapter::Tokio, Adapter::Futures, Adapter::Mio] {
        let srv = TestServer::with(Options {
            anonymous: false,
            adapter,
            ..Options::default()
        });
        let mut c = Ctl::connect(srv.addr);
        c.login();
        // Bytes without line ends, so that TYPE A stores them unchanged too.
        let body: Vec<u8> = content(SIZE, 31)
            .into_iter()
            .map(|b| if b == b'\r' || b == b'\n' { b'x' } else { b })
            .collect();
        let spliced = upload(&mut c, &srv, "I", "i.bin", &body);
        assert_eq!(std::fs::read(srv.path("i.bin")).unwrap(), body);
        assert!(
            spliced < (SIZE / 8) as u64,
            "{adapter:?}: TYPE I wrote {spliced} bytes"
        );
        let buffered = upload(&mut c, &srv, "A", "a.bin", &body);
        assert_eq!(std::fs::read(srv.path("a.bin")).unwrap(), body);
        assert!(
            buffered >= SIZE as u64,
            "{adapter:?}: TYPE A wrote {buffered} bytes"
        );
    }
}
