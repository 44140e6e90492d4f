//! Plain TYPE I downloads take the zero-copy path on Linux (`sendfile(2)`,
//! `ftp_host::transfer::SendFile`); these tests hold it to what the buffered path did, on every
//! adapter: REST offsets, passive and active connections, ABOR mid-way, a client that stops
//! reading (data-idle 426), a client that goes away, and TYPE A still converted.
//!
//! Plain TYPE I uploads into the file storage take `splice(2)` (`ftp_host::transfer::
//! ReceiveFile`); the second half holds them to the upload rules: bytes on disk equal bytes
//! sent (passive, active, REST, APPE through the buffered fallback, zero bytes), ABOR and a
//! reset mid-way (a prefix stays, never a complete-looking file; a file never written is
//! removed), a sender that stalls (426). `zero_copy_path.rs` checks that the splice path is
//! the one taken.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
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

/// The transfer stalls from now on: 426 comes after the 1 s data timeout (and not much
/// later), and the session goes on.
fn expect_426_after_a_second(c: &mut Ctl) {
    let stalled = Instant::now();
    let r = c.reply();
    assert!(r.starts_with("426"), "{r}");
    let waited = stalled.elapsed();
    assert!(waited >= Duration::from_millis(900), "426 after {waited:?}");
    assert!(waited < Duration::from_secs(8), "426 after {waited:?}");
    assert!(c.cmd("NOOP").starts_with("200"));
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
        expect_426_after_a_second(&mut c);
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

/// Sends `body` on a data connection and closes it.
fn send_all(mut data: TcpStream, body: &[u8]) {
    data.set_write_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    data.write_all(body).unwrap();
}

/// The first reply that is not a preliminary one.
fn final_reply(c: &mut Ctl) -> String {
    let mut r = c.reply();
    while r.starts_with('1') {
        r = c.reply();
    }
    r
}

/// Uploads, in their own module (the macro names one module per adapter).
mod upload {
    use super::*;

    /// Large enough for many splice calls, small enough to keep the tests quick.
    const UP: usize = 16 << 20;

    ftp_tests::adapter_tests! {
        fn large_uploads_land_exactly_passive_active_rest_append_and_empty() {
            let srv = server(Duration::from_secs(10));
            let body = content(UP, 21);
            let mut c = Ctl::connect(srv.addr);
            c.login();
            assert!(c.cmd("TYPE I").starts_with("200"));
            // Passive, 16 MiB.
            let data = c.data(srv.addr);
            let r = c.cmd("STOR up.bin");
            assert!(r.starts_with("150") || r.starts_with("125"), "{r}");
            send_all(data, &body);
            let r = final_reply(&mut c);
            assert!(r.starts_with("226"), "{r}");
            assert_eq!(ftp_tests::sha256_file(&srv.path("up.bin")), sha256(&body));
            // Active, over the same name: replaced, not appended.
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            c.port_to(l.local_addr().unwrap().port());
            let r = c.cmd("STOR up.bin");
            assert!(r.starts_with("150") || r.starts_with("125"), "{r}");
            let (data, _) = l.accept().unwrap();
            let small = &body[..3_000_001];
            send_all(data, small);
            let r = final_reply(&mut c);
            assert!(r.starts_with("226"), "{r}");
            assert_eq!(std::fs::read(srv.path("up.bin")).unwrap(), small);
            // REST keeps the first bytes and replaces the rest.
            let data = c.data(srv.addr);
            assert!(c.cmd("REST 1000").starts_with("350"));
            assert!(c.cmd("STOR up.bin").starts_with('1'));
            send_all(data, b"tail");
            assert!(final_reply(&mut c).starts_with("226"));
            let mut want = body[..1000].to_vec();
            want.extend_from_slice(b"tail");
            assert_eq!(std::fs::read(srv.path("up.bin")).unwrap(), want);
            // APPE (a file opened for appending cannot be spliced into: the buffered fallback).
            let data = c.data(srv.addr);
            assert!(c.cmd("APPE up.bin").starts_with('1'));
            send_all(data, &body[..2_000_000]);
            assert!(final_reply(&mut c).starts_with("226"));
            want.extend_from_slice(&body[..2_000_000]);
            assert_eq!(std::fs::read(srv.path("up.bin")).unwrap(), want);
            // Zero bytes still replace the file.
            let data = c.data(srv.addr);
            assert!(c.cmd("STOR up.bin").starts_with('1'));
            drop(data);
            assert!(final_reply(&mut c).starts_with("226"));
            assert_eq!(std::fs::metadata(srv.path("up.bin")).unwrap().len(), 0);
        }

        fn abor_mid_way_through_a_large_upload_keeps_a_prefix_and_the_session_goes_on() {
            let srv = server(Duration::from_secs(10));
            let body = content(UP, 22);
            let mut c = Ctl::connect(srv.addr);
            c.login();
            assert!(c.cmd("TYPE I").starts_with("200"));
            let mut data = c.data(srv.addr);
            assert!(c.cmd("STOR cut.bin").starts_with('1'));
            data.write_all(&body[..4 << 20]).unwrap();
            // Wait until the server has taken some bytes in, then abort with the stream open.
            let end = Instant::now() + Duration::from_secs(10);
            while std::fs::metadata(srv.path("cut.bin")).map(|m| m.len()).unwrap_or(0) == 0 {
                assert!(Instant::now() < end, "no byte reached the file");
                std::thread::sleep(Duration::from_millis(10));
            }
            c.w.write_all(b"ABOR\r\n").unwrap();
            let r = c.reply();
            assert!(r.starts_with("426"), "the STOR's reply first: {r}");
            let r = c.reply();
            assert!(r.starts_with("226") || r.starts_with("225"), "{r}");
            // The server closed the data connection: a read ends within the deadline.
            data.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let closed = Instant::now();
            let mut buf = [0u8; 16];
            let _ = data.read(&mut buf);
            assert!(closed.elapsed() < Duration::from_secs(5), "the data connection stayed open");
            // What arrived stays as a prefix of what was sent, never more.
            let kept = std::fs::read(srv.path("cut.bin")).unwrap();
            assert!(!kept.is_empty() && kept.len() <= 4 << 20, "{}", kept.len());
            assert!(kept == body[..kept.len()], "the kept bytes are not what was sent");
            // The session uploads again.
            let data = c.data(srv.addr);
            assert!(c.cmd("STOR again.bin").starts_with('1'));
            send_all(data, &body[..1 << 20]);
            assert!(final_reply(&mut c).starts_with("226"));
            assert_eq!(std::fs::read(srv.path("again.bin")).unwrap(), &body[..1 << 20]);
        }

        fn an_upload_reset_mid_way_is_426_and_one_reset_before_any_byte_leaves_no_file() {
            let srv = server(Duration::from_secs(10));
            let body = content(4 << 20, 23);
            let mut c = Ctl::connect(srv.addr);
            c.login();
            assert!(c.cmd("TYPE I").starts_with("200"));
            let mut data = c.data(srv.addr);
            assert!(c.cmd("STOR cut.bin").starts_with('1'));
            data.write_all(&body).unwrap();
            let end = Instant::now() + Duration::from_secs(10);
            while std::fs::metadata(srv.path("cut.bin")).map(|m| m.len()).unwrap_or(0) == 0 {
                assert!(Instant::now() < end, "no byte reached the file");
                std::thread::sleep(Duration::from_millis(10));
            }
            socket2::SockRef::from(&data).set_linger(Some(Duration::ZERO)).unwrap();
            drop(data);
            let r = c.reply();
            assert!(r.starts_with("426") || r.starts_with("451"), "{r}");
            assert!(c.cmd("NOOP").starts_with("200"));
            let kept = std::fs::read(srv.path("cut.bin")).unwrap();
            assert!(kept.len() <= body.len() && kept == body[..kept.len()]);
            // A new name, reset before any byte: the file the upload created goes away.
            let data = c.data(srv.addr);
            assert!(c.cmd("STOR never.bin").starts_with('1'));
            socket2::SockRef::from(&data).set_linger(Some(Duration::ZERO)).unwrap();
            drop(data);
            let r = c.reply();
            assert!(r.starts_with("426") || r.starts_with("451"), "{r}");
            assert!(!srv.path("never.bin").exists(), "an upload that never started left a file");
        }

        fn a_sender_that_stalls_mid_upload_gets_426_and_the_session_goes_on() {
            let srv = server(Duration::from_secs(1));
            let mut c = Ctl::connect(srv.addr);
            c.login();
            assert!(c.cmd("TYPE I").starts_with("200"));
            let mut data = c.data(srv.addr);
            assert!(c.cmd("STOR slow.bin").starts_with('1'));
            data.write_all(&content(1 << 20, 24)).unwrap();
            expect_426_after_a_second(&mut c);
            drop(data);
        }
    }
}
