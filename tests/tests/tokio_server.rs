//! The tokio server's own duties, over raw sockets: connection limits, passive port range
//! exhaustion, graceful shutdown, symlinks that lead out of the root.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use ftp_proto::server::ServerConfig;
use ftp_tests::{run_client, PASS, USER};
use ftp_tokio::server::{FsStorage, Server, UserList};

struct Ctl {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Ctl {
    fn connect(addr: SocketAddr) -> Ctl {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Ctl {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
        }
    }

    /// Reads one reply (multi-line aware) and returns its last line.
    fn reply(&mut self) -> String {
        loop {
            let mut line = String::new();
            assert!(
                self.r.read_line(&mut line).unwrap() > 0,
                "connection closed"
            );
            let b = line.as_bytes();
            if b.len() >= 4 && b[..3].iter().all(u8::is_ascii_digit) && b[3] == b' ' {
                return line.trim_end().to_string();
            }
        }
    }

    fn cmd(&mut self, c: &str) -> String {
        self.w.write_all(format!("{c}\r\n").as_bytes()).unwrap();
        self.reply()
    }

    fn login(&mut self) {
        assert!(self.reply().starts_with("220"));
        assert!(self.cmd(&format!("USER {USER}")).starts_with("331"));
        assert!(self.cmd(&format!("PASS {PASS}")).starts_with("230"));
    }
}

struct Running {
    addr: SocketAddr,
    shutdown: ftp_tokio::server::ShutdownHandle,
    done: std::sync::mpsc::Receiver<()>,
    _root: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
}

fn start(config: ServerConfig, per_ip: usize) -> Running {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let root = tempfile::tempdir().unwrap();
    let server = Server::new(
        FsStorage::new(root.path()).unwrap(),
        UserList::new().user(USER, PASS),
    )
    .listen("127.0.0.1:0".parse().unwrap())
    .config(Arc::new(config))
    .max_connections_per_ip(per_ip)
    .shutdown_timeout(Duration::from_secs(2));
    let bound = rt.block_on(server.bind()).unwrap();
    let addr = bound.local_addrs()[0];
    let shutdown = bound.shutdown_handle();
    let (tx, done) = std::sync::mpsc::channel();
    rt.spawn(async move {
        bound.run().await.unwrap();
        let _ = tx.send(());
    });
    Running {
        addr,
        shutdown,
        done,
        _root: root,
        _rt: rt,
    }
}

#[test]
fn per_ip_limit_answers_421() {
    let srv = start(ServerConfig::default(), 1);
    let mut first = Ctl::connect(srv.addr);
    first.login();
    let mut second = Ctl::connect(srv.addr);
    assert!(second.reply().starts_with("421"));
    // The place frees up when the first session ends.
    assert!(first.cmd("QUIT").starts_with("221"));
    std::thread::sleep(Duration::from_millis(200));
    let mut third = Ctl::connect(srv.addr);
    third.login();
}

#[test]
fn passive_range_exhausted_gives_425_and_port_in_use_is_skipped() {
    // Hold one port of a two-port range; the server must use the other, then run out.
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let other = if port > 1024 { port - 1 } else { port + 1 };
    let (low, high) = (port.min(other), port.max(other));
    let mut config = ServerConfig::default();
    config.passive_ports = low..=high;
    let srv = start(config, 8);
    let mut c = Ctl::connect(srv.addr);
    c.login();
    let r = c.cmd("EPSV");
    if r.starts_with("229") {
        assert!(r.contains(&format!("|||{other}|")), "{r}");
        // A second client's listener finds both ports taken.
        let mut d = Ctl::connect(srv.addr);
        d.login();
        assert!(d.cmd("EPSV").starts_with("425"));
    } else {
        // `other` was taken by someone else on this machine: both ports are busy.
        assert!(r.starts_with("425"), "{r}");
    }
}

#[test]
fn graceful_shutdown_says_421_to_idle_sessions() {
    let srv = start(ServerConfig::default(), 8);
    let mut c = Ctl::connect(srv.addr);
    c.login();
    srv.shutdown.shutdown();
    assert!(c.reply().starts_with("421"));
    srv.done
        .recv_timeout(Duration::from_secs(5))
        .expect("run() returns after shutdown");
    assert!(
        TcpStream::connect(srv.addr).is_err() || {
            // A connect may still succeed on a lingering backlog; it must not be served.
            let mut s = TcpStream::connect(srv.addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut buf = [0u8; 8];
            matches!(std::io::Read::read(&mut s, &mut buf), Ok(0) | Err(_))
        }
    );
}

#[test]
fn symlink_out_of_root_is_invisible_to_clients() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), b"secret").unwrap();
    let srv = ftp_tests::TestServer::start();
    std::os::unix::fs::symlink(outside.path(), srv.path("escape")).unwrap();
    std::fs::write(srv.path("ok.txt"), b"ok").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = run_client(
        "curl",
        &["-sS", &srv.url("ftp", "escape/secret.txt")],
        dir.path(),
    );
    // curl changes into the directory first: CWD is refused (550), curl exit 9.
    assert_eq!(
        out.status.code(),
        Some(9),
        "access to the directory denied expected"
    );
    let out = run_client("curl", &["-sS", "-l", &srv.url("ftp", "")], dir.path());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok.txt");
}

#[test]
fn a_fifo_in_the_root_is_refused_not_opened() {
    let srv = ftp_tests::TestServer::start();
    let fifo = srv.path("pipe");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let dir = tempfile::tempdir().unwrap();
    // Opening the FIFO would block the server's thread until a writer came; it is refused
    // at once with 550 (curl exit 78: remote file not found / access denied).
    let started = std::time::Instant::now();
    let out = run_client(
        "curl",
        &["-sS", "--max-time", "10", &srv.url("ftp", "pipe")],
        dir.path(),
    );
    assert_eq!(
        out.status.code(),
        Some(78),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(started.elapsed() < Duration::from_secs(8));
}
