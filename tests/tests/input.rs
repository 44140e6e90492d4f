//! Input real clients send, end to end against every adapter's server: pipelined commands,
//! EPRT with an unknown network protocol, MLSD of a file and REST past the end of a file.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use ftp_tests::ctl::Ctl;
use ftp_tests::{content, run_client, Options, TestServer, PASS, USER};

fn server() -> TestServer {
    TestServer::with(Options {
        anonymous: false,
        ..Options::default()
    })
}

/// Writes `n` NOOPs after the login in one write (from another thread, since the replies
/// come back while the commands are still going out) and returns every reply line.
fn pipelined_noops(srv: &TestServer, n: usize) -> Vec<String> {
    let s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut all = format!("USER {USER}\r\nPASS {PASS}\r\n").into_bytes();
    for _ in 0..n {
        all.extend_from_slice(b"NOOP\r\n");
    }
    all.extend_from_slice(b"QUIT\r\n");
    let writer = std::thread::spawn(move || w.write_all(&all));
    let mut lines = Vec::new();
    for line in BufReader::new(s).lines() {
        lines.push(line.unwrap());
    }
    writer.join().unwrap().unwrap();
    lines
}

ftp_tests::adapter_tests! {
    fn a_hundred_and_ten_thousand_pipelined_noops_each_get_200_in_order() {
        let srv = server();
        for n in [100, 10_000] {
            let lines = pipelined_noops(&srv, n);
            assert!(lines[0].starts_with("220"), "{}", lines[0]);
            assert!(lines[1].starts_with("331"), "{}", lines[1]);
            assert!(lines[2].starts_with("230"), "{}", lines[2]);
            let noops = &lines[3..lines.len() - 1];
            assert_eq!(noops.len(), n, "one reply per NOOP");
            assert!(noops.iter().all(|l| l.starts_with("200")), "all 200");
            assert!(lines[lines.len() - 1].starts_with("221"));
        }
    }

    fn eprt_with_an_unknown_protocol_is_522_naming_the_supported_ones() {
        let srv = server();
        let mut c = Ctl::connect(srv.addr);
        c.login();
        let r = c.cmd("EPRT |3|127.0.0.1|2000|");
        assert!(r.starts_with("522") && r.ends_with("(1,2)"), "{r}");
        let r = c.cmd("EPSV 3");
        assert!(r.starts_with("522") && r.ends_with("(1,2)"), "{r}");
        assert!(c.cmd("NOOP").starts_with("200"));
    }

    fn mlsd_of_a_file_is_501_without_a_data_connection() {
        let srv = server();
        srv.put_file("f.txt", b"data");
        let mut c = Ctl::connect(srv.addr);
        c.login();
        let mut d = c.data(srv.addr);
        let r = c.cmd("MLSD f.txt");
        assert!(r.starts_with("501"), "{r}");
        // The data connection carries nothing and is closed by the server.
        d.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = Vec::new();
        let _ = d.read_to_end(&mut got);
        assert!(got.is_empty(), "{got:?}");
        assert!(c.cmd("NOOP").starts_with("200"));
    }

    fn rest_past_the_end_is_554_and_curl_resume_of_a_whole_file_sends_nothing() {
        let srv = server();
        let body = content(10_000, 9);
        srv.put_file("f.bin", &body);
        let mut c = Ctl::connect(srv.addr);
        c.login();
        assert!(c.cmd("TYPE I").starts_with("200"));
        let first = c.data(srv.addr);
        assert!(c.cmd("REST 10001").starts_with("350"));
        let r = c.cmd("RETR f.bin");
        assert!(r.starts_with("554"), "{r}");
        drop(first);
        // At the end exactly is a valid (empty) resume.
        let mut d = c.data(srv.addr);
        assert!(c.cmd("REST 10000").starts_with("350"));
        let r = c.cmd("RETR f.bin");
        assert!(r.starts_with("125") || r.starts_with("150"), "{r}");
        let mut got = Vec::new();
        d.read_to_end(&mut got).unwrap();
        assert!(got.is_empty());
        assert!(c.reply().starts_with("226"));
        // curl asked to resume past the end reports the server's refusal, not success.
        let dir = tempfile::tempdir().unwrap();
        let out = run_client(
            "curl",
            &[
                "-sS",
                "-C",
                "20000",
                "-o",
                "out.bin",
                &format!("ftp://{USER}:{PASS}@{}/f.bin", srv.addr),
            ],
            dir.path(),
        );
        assert!(!out.status.success(), "curl resumed past the end without error");
    }
}
