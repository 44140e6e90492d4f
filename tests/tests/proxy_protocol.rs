//! The PROXY protocol on every adapter's control listener, with a real HAProxy in front
//! (`send-proxy` and `send-proxy-v2`) and with raw headers: the header's client address is the
//! session's peer for the passive-connection check, the PORT bounce check, per-address limits
//! and the logs; a connection without a header, or with one from an untrusted address, is
//! closed without a greeting; FTP bytes right after the header are not lost.
//!
//! Loopback only: the clients use 127.0.0.2 and 127.0.0.3 as source addresses, HAProxy and the
//! server 127.0.0.1, so the server can tell the proxy from the client.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ftp_host::proxy::ProxyProtocol;
use ftp_proto::proxy::Header;
use ftp_proto::server::TlsMode;
use ftp_tests::ctl::Ctl;
use ftp_tests::logs::{log, log_line};
use ftp_tests::{adapter_tests, content, run_client, run_ok, Options, TestServer, PASS, USER};

const CLIENT: [u8; 4] = [127, 0, 0, 2];
const OTHER_CLIENT: [u8; 4] = [127, 0, 0, 3];

/// A server behind the PROXY protocol, trusting `from`, with a 1 s header deadline.
fn server(from: &str, max_per_ip: usize) -> TestServer {
    server_with(from, max_per_ip, TlsMode::Disabled)
}

fn server_with(from: &str, max_per_ip: usize, tls: TlsMode) -> TestServer {
    let mut proxy = ProxyProtocol::new([from.parse().unwrap()]);
    proxy.timeout = Duration::from_secs(1);
    TestServer::with(Options {
        proxy: Some(proxy),
        max_per_ip,
        tls,
        ..Options::default()
    })
}

/// A TCP connection to `to` from `source` (port chosen by the kernel).
fn connect_from(source: [u8; 4], to: SocketAddr) -> TcpStream {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(&SocketAddr::from((source, 0)).into()).unwrap();
    s.connect(&to.into()).unwrap();
    s.into()
}

/// A raw connection to `srv` from 127.0.0.1 (a trusted proxy) that sends `header` first.
fn proxied(srv: &TestServer, header: &[u8]) -> Ctl {
    let mut c = Ctl::connect(srv.addr);
    c.w.write_all(header).unwrap();
    c
}

fn v1(client: SocketAddr, srv: &TestServer) -> Vec<u8> {
    Header::Tcp {
        source: client,
        destination: srv.addr,
    }
    .encode_v1()
}

/// Reads until the server closes the connection, within 5 s; what it sent meanwhile.
fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return got,
            Err(e) => panic!("the server did not close the connection: {e}; got {got:?}"),
        }
    }
}

/// HAProxy in TCP mode on a free loopback port, forwarding to `backend` with `send` (
/// `send-proxy` or `send-proxy-v2`); stopped on drop.
struct Haproxy {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Haproxy {
    fn start(backend: SocketAddr, send: &str) -> Haproxy {
        let program = haproxy_program();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("haproxy.cfg");
        std::fs::write(
            &cfg,
            format!(
                "global\n  maxconn 64\n\
                 defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n\
                 frontend ftp\n  bind {addr}\n  default_backend ftp\n\
                 backend ftp\n  server s1 {backend} {send}\n"
            ),
        )
        .unwrap();
        let child = Command::new(program)
            .args(["-db", "-f"])
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start haproxy");
        let mut h = Haproxy {
            child,
            addr,
            _dir: dir,
        };
        let end = Instant::now() + Duration::from_secs(10);
        // Its frontend is up once it accepts; that probe reaches the server as a session
        // that ends at once.
        while TcpStream::connect(addr).is_err() {
            if let Ok(Some(status)) = h.child.try_wait() {
                panic!("haproxy exited: {status}");
            }
            assert!(Instant::now() < end, "haproxy did not start listening");
            std::thread::sleep(Duration::from_millis(20));
        }
        h
    }
}

/// The haproxy binary: on the PATH, or in /usr/sbin (not on every user's PATH). Panics,
/// failing the test rather than skipping it, when it is not installed.
fn haproxy_program() -> String {
    let found = Command::new("sh")
        .args([
            "-c",
            "command -v haproxy || { test -x /usr/sbin/haproxy && echo /usr/sbin/haproxy; }",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|p| !p.is_empty());
    found.expect(
        "haproxy is not installed: .ci/install-peers installs it (apt-get install -y haproxy)",
    )
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// curl from 127.0.0.2 through HAProxy (`send`) to the server: a listing and a download whose
/// data connections (EPSV) go straight to the server's passive port, which accepts them only
/// because the header made 127.0.0.2 the session's peer; a refused login is logged with the
/// client's address.
fn curl_through_haproxy(send: &str) {
    log();
    let srv = server("127.0.0.1/32", 32);
    let body = content(300_000, 7);
    srv.put_file("f.bin", &body);
    let haproxy = Haproxy::start(srv.addr, send);
    let dir = tempfile::tempdir().unwrap();
    let url = |path: &str| format!("ftp://{USER}:{PASS}@{}/{path}", haproxy.addr);
    let curl = |args: &[&str], dir: &Path| {
        let mut all = vec![
            "-sS",
            "--interface",
            "127.0.0.2",
            "--epsv",
            "--max-time",
            "20",
        ];
        all.extend_from_slice(args);
        run_ok("curl", &all, dir)
    };
    let listing = curl(&[&url("")], dir.path());
    assert!(
        String::from_utf8_lossy(&listing.stdout).contains("f.bin"),
        "{listing:?}"
    );
    curl(&["-o", "got.bin", &url("f.bin")], dir.path());
    assert_eq!(std::fs::read(dir.path().join("got.bin")).unwrap(), body);
    // The log names the client, not HAProxy.
    let user = format!("mallory-{}", srv.addr.port());
    let bad = format!("ftp://{user}:wrong@{}/", haproxy.addr);
    let out = run_client(
        "curl",
        &["-sS", "--interface", "127.0.0.2", "--max-time", "20", &bad],
        dir.path(),
    );
    assert!(!out.status.success());
    let line = log_line(&[&format!("user={user}"), "login refused"]);
    assert!(line.contains("peer=127.0.0.2:"), "{line}");
}

adapter_tests! {
    /// PROXY v1 from HAProxy's `send-proxy`.
    fn curl_through_haproxy_send_proxy() {
        curl_through_haproxy("send-proxy");
    }

    /// PROXY v2 from HAProxy's `send-proxy-v2`.
    fn curl_through_haproxy_send_proxy_v2() {
        curl_through_haproxy("send-proxy-v2");
    }

    /// Implicit FTPS behind HAProxy: the header comes before the TLS handshake; the TLS data
    /// connection (EPSV) goes straight to the server and passes the peer check.
    fn implicit_ftps_through_haproxy() {
        let srv = server_with("127.0.0.1/32", 32, TlsMode::Implicit);
        let body = content(100_000, 9);
        srv.put_file("f.bin", &body);
        let haproxy = Haproxy::start(srv.addr, "send-proxy-v2");
        let dir = tempfile::tempdir().unwrap();
        let url = format!("ftps://{USER}:{PASS}@{}/f.bin", haproxy.addr);
        run_ok(
            "curl",
            &["-sS", "-k", "--interface", "127.0.0.2", "--epsv", "--max-time", "20", "-o", "got.bin", &url],
            dir.path(),
        );
        assert_eq!(std::fs::read(dir.path().join("got.bin")).unwrap(), body);
    }

    /// A connection without a header is closed without a greeting: one that sends FTP at
    /// once, and a silent one when the header deadline (1 s) is over.
    fn a_connection_without_a_header_is_closed() {
        let srv = server("127.0.0.1/32", 32);
        let mut eager = TcpStream::connect(srv.addr).unwrap();
        eager.write_all(b"USER anonymous\r\n").unwrap();
        assert_eq!(read_to_close(&mut eager), b"");
        let started = Instant::now();
        let mut silent = TcpStream::connect(srv.addr).unwrap();
        assert_eq!(read_to_close(&mut silent), b"");
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(800), "{waited:?}");
        // A malformed header is no better.
        let mut bad = TcpStream::connect(srv.addr).unwrap();
        bad.write_all(b"PROXY TCP4 127.0.0.2 127.0.0.1 1 99999\r\n").unwrap();
        assert_eq!(read_to_close(&mut bad), b"");
    }

    /// A valid header from an address outside the trusted block is refused; the same header
    /// from inside it is served.
    fn a_header_from_an_untrusted_address_is_refused() {
        let srv = server("127.0.0.2/32", 32);
        let header = v1(SocketAddr::from((OTHER_CLIENT, 40000)), &srv);
        let mut outside = TcpStream::connect(srv.addr).unwrap();
        outside.write_all(&header).unwrap();
        assert_eq!(read_to_close(&mut outside), b"");
        let inside = connect_from(CLIENT, srv.addr);
        let mut c = Ctl::from_stream(inside);
        c.w.write_all(&header).unwrap();
        assert!(c.reply().starts_with("220"));
    }

    /// FTP bytes sent in the same packet as the header are the session's (the header read
    /// takes nothing past it), for v1 and v2; a v2 LOCAL header (a health check) is served as
    /// the proxy itself.
    fn bytes_after_the_header_are_kept() {
        let srv = server("127.0.0.1/32", 32);
        let client = SocketAddr::from((CLIENT, 40000));
        let tcp = Header::Tcp { source: client, destination: srv.addr };
        for header in [tcp.encode_v1(), tcp.encode_v2(), Header::Local.encode_v2()] {
            let mut both = header.clone();
            both.extend(format!("USER {USER}\r\nPASS {PASS}\r\n").as_bytes());
            let mut c = proxied(&srv, &both);
            assert!(c.reply().starts_with("220"));
            assert!(c.reply().starts_with("331"));
            assert!(c.reply().starts_with("230"));
            assert!(c.cmd("NOOP").starts_with("200"));
        }
    }

    /// Per-address limits count the header's client: with one session per address, two
    /// clients behind the same proxy are both served, a second session of one is refused.
    fn limits_count_the_real_client() {
        let srv = server("127.0.0.1/32", 1);
        let mut a = proxied(&srv, &v1(SocketAddr::from((CLIENT, 40000)), &srv));
        assert!(a.reply().starts_with("220"));
        let mut b = proxied(&srv, &v1(SocketAddr::from((OTHER_CLIENT, 40000)), &srv));
        assert!(b.reply().starts_with("220"), "another client behind the same proxy");
        let mut again = proxied(&srv, &v1(SocketAddr::from((CLIENT, 40001)), &srv));
        assert!(again.reply().starts_with("421"));
    }

    /// The PORT bounce check compares with the header's client: a PORT to 127.0.0.2 is
    /// accepted, one to the proxy's 127.0.0.1 is refused.
    fn the_bounce_check_uses_the_real_client() {
        let srv = server("127.0.0.1/32", 32);
        let mut c = proxied(&srv, &v1(SocketAddr::from((CLIENT, 40000)), &srv));
        c.login();
        assert!(c.cmd("PORT 127,0,0,2,200,1").starts_with("200"));
        assert!(c.cmd("PORT 127,0,0,1,200,1").starts_with("501"));
    }

    /// The passive-connection check compares with the header's client: a data connection
    /// from the proxy's address is refused, the client's own is served.
    fn the_passive_check_uses_the_real_client() {
        let srv = server("127.0.0.1/32", 32);
        srv.put_file("f.txt", b"hello");
        let mut c = proxied(&srv, &v1(SocketAddr::from((CLIENT, 40000)), &srv));
        c.login();
        let port = ftp_tests::ctl::epsv_port(&c.cmd("EPSV"));
        let data_addr = SocketAddr::new(IpAddr::from([127, 0, 0, 1]), port);
        let mut thief = TcpStream::connect(data_addr).unwrap();
        assert_eq!(read_to_close(&mut thief), b"");
        let mut data = connect_from(CLIENT, data_addr);
        let r = c.cmd("RETR f.txt");
        assert!(r.starts_with("150") || r.starts_with("125"), "{r}");
        let mut got = Vec::new();
        data.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"hello");
        assert!(c.reply().starts_with("226"));
    }
}
