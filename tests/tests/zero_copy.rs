//! Plain TYPE I downloads take the zero-copy path on Linux (`sendfile(2)`,
//! `ftp_host::transfer::SendFile`); these tests hold it to what the buffered path did, on every
//! adapter: REST offsets, passive and active connections, ABOR mid-way, a client that stops
//! reading (data-idle 426), a client that goes away, and TYPE A still converted.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use ftp_tests::ctl::Ctl;
use ftp_tests::{content, sha256, Options, TestServer};

const BIG: usize = 64 << 20;

fn server(data_timeout: Duration) -> TestServer {
    TestServer::with(Options {
        anonymous: false,
        data_timeout,
        ..Options::default()
    })
}

fn read_all(data: &mut std::net::TcpStream) -> Vec<u8> {
    data.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    got
}

ftp_tests::adapter_tests! {
    fn a_large_retr_from_a_rest_offset_is_exact() {
        let srv = server(Duration::from_secs(10));
        let body = content(BIG, 11);
        srv.put_file("big.bin", &body);
        let mut c = Ctl::connect(srv.addr);
        c.login();
        assert!(c.cmd("TYPE I").starts_with("200"));
        // Passive, from an offset that is no multiple of any chunk size.
        let offset = 12_345_679;
        let mut data = c.data(srv.addr);
        assert!(c.cmd(&format!("REST {offset}")).starts_with("350"));
        let r = c.cmd("RETR big.bin");
        assert!(r.starts_with("150") || r.starts_with("125"), "{r}");
        let got = read_all(&mut data);
        let r = c.reply();
        assert!(r.starts_with("226"), "{r}");
        assert_eq!(got.len(), BIG - offset);
        assert_eq!(sha256(&got), sha256(&body[offset..]));
        // Active, the whole file.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        c.port_to(l.local_addr().unwrap().port());
        let r = c.cmd("RETR big.bin");
        assert!(r.starts_with("150") || r.starts_with("125"), "{r}");
        let (mut data, _) = l.accept().unwrap();
        let got = read_all(&mut data);
        let r = c.reply();
        assert!(r.starts_with("226"), "{r}");
        assert_eq!(sha256(&got), sha256(&body));
        // REST at the end: nothing to send, still 226.
        let mut data = c.data(srv.addr);
        assert!(c.cmd(&format!("REST {BIG}")).starts_with("350"));
        let r = c.cmd("RETR big.bin");
        assert!(r.starts_with("150") || r.starts_with("125"), "{r}");
        assert!(read_all(&mut data).is_empty());
        let r = c.reply();
        assert!(r.starts_with("226"), "{r}");
    }

    fn abor_mid_way_stops_a_large_retr_and_what_arrived_is_a_prefix() {
        let srv = server(Duration::from_secs(10));
        let body = content(BIG, 12);
        srv.put_file("big.bin", &body);
        let mut c = Ctl::connect(srv.addr);
        c.login();
        assert!(c.cmd("TYPE I").starts_with("200"));
        let mut data = c.data(srv.addr);
        let r = c.cmd("RETR big.bin");
        assert!(r.starts_with("150") || r.starts_with("125"), "{r}");
        let mut got = vec![0u8; 0];
        let mut buf = vec![0u8; 1 << 20];
        while got.len() < (4 << 20) {
            let n = data.read(&mut buf).unwrap();
            assert!(n > 0, "the download ended early");
            got.extend_from_slice(&buf[..n]);
        }
        c.w.write_all(b"ABOR\r\n").unwrap();
        let mut r = c.reply();
        while !r.starts_with("226") && !r.starts_with("225") {
            assert!(r.starts_with("426") || r.starts_with('1'), "{r}");
            r = c.reply();
        }
        // What the kernel had buffered still arrives, then the connection ends: never the
        // rest of the file, and never bytes out of place.
        data.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let ended = Instant::now();
        loop {
            match data.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        assert!(ended.elapsed() < Duration::from_secs(5), "the data connection stayed open");
        assert!(got.len() < BIG, "the whole file arrived after ABOR");
        assert!(got == body[..got.len()], "the bytes before ABOR are not the file's");
        assert!(c.cmd("NOOP").starts_with("200"));
        // The session transfers again.
        let mut data = c.data(srv.addr);
        assert!(c.cmd(&format!("REST {}", BIG - 1000)).starts_with("350"));
        assert!(c.transfer_cmd("RETR big.bin").starts_with("226"));
        assert_eq!(read_all(&mut data), &body[BIG - 1000..]);
    }

    fn a_reader_that_stalls_mid_way_gets_426_and_the_session_goes_on() {
        let srv = server(Duration::from_secs(1));
        let body = content(BIG, 13);
        srv.put_file("big.bin", &body);
        let mut c = Ctl::connect(srv.addr);
        c.login();
        assert!(c.cmd("TYPE I").starts_with("200"));
        let mut data = c.data(srv.addr);
        assert!(c.cmd("REST 1000").starts_with("350"));
        let r = c.cmd("RETR big.bin");
        assert!(r.starts_with("150") || r.starts_with("125"), "{r}");
        // Read a little, then stop reading and keep the connection open.
        let mut buf = vec![0u8; 1 << 20];
        let mut got = 0;
        while got < (2 << 20) {
            got += data.read(&mut buf).unwrap();
        }
        let stalled = Instant::now();
        let r = c.reply();
        assert!(r.starts_with("426"), "{r}");
        let waited = stalled.elapsed();
        assert!(waited >= Duration::from_millis(900), "426 after {waited:?}");
        assert!(waited < Duration::from_secs(8), "426 after {waited:?}");
        assert!(c.cmd("NOOP").starts_with("200"));
        // The data connection was closed: the client reads what was buffered, then its end.
        data.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        loop {
            match data.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
        assert!(got < BIG);
    }

    fn a_client_that_closes_the_data_connection_fails_the_retr() {
        let srv = server(Duration::from_secs(10));
        srv.put_file("big.bin", &content(BIG, 14));
        let mut c = Ctl::connect(srv.addr);
        c.login();
        assert!(c.cmd("TYPE I").starts_with("200"));
        let mut data = c.data(srv.addr);
        let r = c.cmd("RETR big.bin");
        assert!(r.starts_with("150") || r.starts_with("125"), "{r}");
        let mut buf = vec![0u8; 1 << 20];
        let _ = data.read(&mut buf).unwrap();
        drop(data);
        let r = c.reply();
        assert!(r.starts_with("426") || r.starts_with("451"), "{r}");
        assert!(c.cmd("NOOP").starts_with("200"));
    }

    fn type_a_downloads_are_still_converted() {
        let srv = server(Duration::from_secs(10));
        srv.put_file("t.txt", b"one\ntwo\n");
        let mut c = Ctl::connect(srv.addr);
        c.login();
        assert!(c.cmd("TYPE A").starts_with("200"));
        let mut data = c.data(srv.addr);
        assert!(c.transfer_cmd("RETR t.txt").starts_with("226"));
        assert_eq!(read_all(&mut data), b"one\r\ntwo\r\n");
        assert!(c.cmd("TYPE I").starts_with("200"));
        let mut data = c.data(srv.addr);
        assert!(c.transfer_cmd("RETR t.txt").starts_with("226"));
        assert_eq!(read_all(&mut data), b"one\ntwo\n");
    }
}
