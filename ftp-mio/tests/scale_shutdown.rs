//! Graceful shutdown and connection limits.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{content, TestServer, PASS, USER};
use ftp_mio::client::{Client, Config};

fn config() -> Config {
    let mut c = Config::new(USER, PASS);
    c.connect_timeout = Duration::from_secs(10);
    c.session.reply_timeout = Duration::from_secs(20);
    c
}

fn read_reply(r: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    r.read_line(&mut line).expect("reply");
    line
}

#[test]
fn shutdown_answers_idle_sessions_421() {
    let mut server = TestServer::start();
    let tcp = TcpStream::connect(server.addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut w = tcp.try_clone().expect("clone");
    let mut r = BufReader::new(tcp);
    assert!(read_reply(&mut r).starts_with("220"));
    write!(w, "USER {USER}\r\n").expect("write");
    assert!(read_reply(&mut r).starts_with("331"));
    write!(w, "PASS {PASS}\r\n").expect("write");
    assert!(read_reply(&mut r).starts_with("230"));
    let t = Instant::now();
    server.handle.shutdown();
    let reply = read_reply(&mut r);
    assert!(reply.starts_with("421"), "{reply:?}");
    let mut rest = String::new();
    assert_eq!(r.read_line(&mut rest).expect("end"), 0, "closed after 421");
    assert!(server.stop(Duration::from_secs(5)), "run() returned");
    assert!(t.elapsed() < Duration::from_secs(5));
}

/// A sink that writes slowly, so the transfer is still running when the shutdown comes.
struct Slow(Vec<u8>);

impl Write for Slow {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        std::thread::sleep(Duration::from_millis(30));
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn shutdown_lets_a_running_transfer_finish() {
    let mut server = TestServer::start();
    let data = content(8 * 1024 * 1024, 9);
    server.put_file("big.bin", &data);
    let addr = server.addr;
    let download = std::thread::spawn(move || {
        let client = Client::connect(addr, config()).expect("connect");
        let mut sink = Slow(Vec::new());
        let r = client.retr_to("/big.bin", &mut sink);
        (r, sink.0)
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(!download.is_finished(), "the transfer is still running");
    server.handle.shutdown();
    let (r, got) = download.join().expect("download thread");
    assert_eq!(
        r.expect("the running transfer completes"),
        data.len() as u64
    );
    assert!(got == data);
    assert!(server.stop(Duration::from_secs(5)), "run() returned");
}

#[test]
fn connection_limit_refuses_with_421() {
    let server = TestServer::with(common::Options {
        max_per_ip: 1,
        ..Default::default()
    });
    let _first = Client::connect(server.addr, config()).expect("first");
    let tcp = TcpStream::connect(server.addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut r = BufReader::new(tcp);
    let reply = read_reply(&mut r);
    assert!(reply.starts_with("421"), "{reply:?}");
}

/// Sends a command and reads replies until one with a final code (not 1xx).
fn command(w: &mut TcpStream, r: &mut BufReader<TcpStream>, cmd: &str) -> String {
    write!(w, "{cmd}\r\n").expect("write");
    read_reply(r)
}

#[test]
fn stalled_download_is_aborted_and_frees_its_worker() {
    let server = TestServer::with(common::Options {
        config: Box::new(|c| c.data_timeout = Duration::from_secs(1)),
        ..Default::default()
    });
    server.put_file("big.bin", &content(64 * 1024 * 1024, 11));
    let tcp = TcpStream::connect(server.addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut w = tcp.try_clone().expect("clone");
    let mut r = BufReader::new(tcp);
    assert!(read_reply(&mut r).starts_with("220"));
    assert!(command(&mut w, &mut r, &format!("USER {USER}")).starts_with("331"));
    assert!(command(&mut w, &mut r, &format!("PASS {PASS}")).starts_with("230"));
    assert!(command(&mut w, &mut r, "TYPE I").starts_with("200"));
    let epsv = command(&mut w, &mut r, "EPSV");
    assert!(epsv.starts_with("229"), "{epsv}");
    let port: u16 = epsv
        .split("|||")
        .nth(1)
        .and_then(|s| s.split('|').next())
        .and_then(|p| p.parse().ok())
        .expect("EPSV port");
    let data = TcpStream::connect((server.addr.ip(), port)).expect("data connection");
    let started = Instant::now();
    let start = command(&mut w, &mut r, "RETR big.bin");
    assert!(
        start.starts_with("150") || start.starts_with("125"),
        "{start:?}"
    );
    // Never read the data: the transfer stalls once the socket buffers are full.
    let reply = read_reply(&mut r);
    assert!(reply.starts_with("426"), "{reply:?}");
    assert!(started.elapsed() < Duration::from_secs(15));
    drop(data);
    // The session and the workers go on: several transfers in a row still work.
    for i in 0..4 {
        let client = Client::connect(server.addr, config()).expect("connect");
        client
            .stor(format!("/after{i}.bin"), &b"fine"[..])
            .expect("stor");
        client.quit().expect("quit");
    }
    assert!(command(&mut w, &mut r, "NOOP").starts_with("200"));
}
