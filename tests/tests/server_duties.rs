//! Each adapter's server's own duties, over raw sockets: connection limits, passive port range
//! exhaustion, graceful shutdown, symlinks that lead out of the root, FIFOs, stalled transfers
//! and TLS uploads cut without close_notify.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use ftp_proto::server::TlsMode;
use ftp_tests::ctl::{epsv_port, ClosedPort, Ctl};
use ftp_tests::{content, run_client, sha256, sha256_file, Options, TestServer, PASS, USER};

fn start(passive_ports: Option<std::ops::RangeInclusive<u16>>, per_ip: usize) -> TestServer {
    TestServer::with(Options {
        anonymous: false,
        passive_ports,
        max_per_ip: per_ip,
        ..Options::default()
    })
}

/// A server whose data timeout (connect and idle) is one second.
fn quick_data_timeout() -> TestServer {
    TestServer::with(Options {
        anonymous: false,
        data_timeout: Duration::from_secs(1),
        ..Options::default()
    })
}

/// An FTPS control connection over rustls' blocking stream, for uploads whose end the test
/// controls byte by byte (no real client closes TLS without close_notify on purpose).
struct TlsCtl {
    s: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    config: std::sync::Arc<rustls::ClientConfig>,
    addr: SocketAddr,
}

impl TlsCtl {
    fn connect(addr: SocketAddr) -> TlsCtl {
        let mut c = Ctl::connect(addr);
        assert!(c.reply().starts_with("220"));
        assert!(c.cmd("AUTH TLS").starts_with("234"));
        let config = ftp_host::tls::insecure_client_config();
        let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
        let conn = rustls::ClientConnection::new(config.clone(), name).unwrap();
        let mut t = TlsCtl {
            s: rustls::StreamOwned::new(conn, c.w),
            config,
            addr,
        };
        assert!(t.cmd(&format!("USER {USER}")).starts_with("331"));
        assert!(t.cmd(&format!("PASS {PASS}")).starts_with("230"));
        assert!(t.cmd("PBSZ 0").starts_with("200"));
        assert!(t.cmd("PROT P").starts_with("200"));
        assert!(t.cmd("TYPE I").starts_with("200"));
        t
    }

    fn reply(&mut self) -> String {
        loop {
            let mut line = Vec::new();
            let mut b = [0u8; 1];
            while !line.ends_with(b"\r\n") {
                assert_eq!(
                    std::io::Read::read(&mut self.s, &mut b).unwrap(),
                    1,
                    "closed"
                );
                line.push(b[0]);
            }
            let l = String::from_utf8_lossy(&line).trim_end().to_string();
            let d = l.as_bytes();
            if d.len() >= 4 && d[..3].iter().all(u8::is_ascii_digit) && d[3] == b' ' {
                return l;
            }
        }
    }

    fn cmd(&mut self, c: &str) -> String {
        self.s.write_all(format!("{c}\r\n").as_bytes()).unwrap();
        self.s.flush().unwrap();
        self.reply()
    }

    /// Uploads `data` to `name` over a TLS data connection, ending it with close_notify or
    /// with a bare TCP close; returns the final reply.
    fn upload(&mut self, name: &str, data: &[u8], close_notify: bool) -> String {
        let port = epsv_port(&self.cmd("EPSV"));
        let tcp = TcpStream::connect(SocketAddr::new(self.addr.ip(), port)).unwrap();
        self.s
            .write_all(format!("STOR {name}\r\n").as_bytes())
            .unwrap();
        self.s.flush().unwrap();
        let name = rustls::pki_types::ServerName::IpAddress(self.addr.ip().into());
        let conn = rustls::ClientConnection::new(self.config.clone(), name).unwrap();
        let mut d = rustls::StreamOwned::new(conn, tcp);
        d.write_all(data).unwrap();
        d.flush().unwrap();
        let r = self.reply();
        assert!(r.starts_with("150") || r.starts_with("125"), "{r}");
        if close_notify {
            d.conn.send_close_notify();
            d.flush().unwrap();
        }
        d.sock.shutdown(std::net::Shutdown::Write).unwrap();
        self.reply()
    }
}

ftp_tests::adapter_tests! {
    fn per_ip_limit_answers_421() {
        let srv = start(None, 1);
        let mut first = Ctl::connect(srv.addr);
        first.login();
        let mut second = Ctl::connect(srv.addr);
        assert!(second.reply().starts_with("421"));
        // The place frees up when the first session ends.
        assert!(first.cmd("QUIT").starts_with("221"));
        Ctl::connect_when_free(srv.addr, "after QUIT").login_greeted();
    }

    fn passive_range_exhausted_gives_425_and_port_in_use_is_skipped() {
        // Hold one port of a two-port range; the server must use the other, then run out.
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let other = if port > 1024 { port - 1 } else { port + 1 };
        let (low, high) = (port.min(other), port.max(other));
        let srv = start(Some(low..=high), 8);
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

    fn graceful_shutdown_says_421_to_idle_sessions() {
        let srv = start(None, 8);
        let mut c = Ctl::connect(srv.addr);
        c.login();
        srv.shutdown();
        assert!(c.reply().starts_with("421"));
        assert!(
            srv.wait_stopped(Duration::from_secs(5)),
            "run() returns after shutdown"
        );
        // A connect may still succeed while the listener's socket lingers; it must not be
        // served. One attempt only: the listener can go between two.
        match TcpStream::connect(srv.addr) {
            Err(_) => {}
            Ok(mut s) => {
                s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                let mut buf = [0u8; 8];
                let got = std::io::Read::read(&mut s, &mut buf);
                assert!(matches!(got, Ok(0) | Err(_)), "served after shutdown: {got:?}");
            }
        }
    }

    fn symlink_out_of_root_is_invisible_to_clients() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.txt"), b"secret").unwrap();
        let srv = TestServer::start();
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

    fn a_fifo_in_the_root_is_refused_not_opened() {
        let srv = TestServer::start();
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

    fn a_stalled_download_is_aborted_with_426_and_the_session_goes_on() {
        let srv = quick_data_timeout();
        srv.put_file("big.bin", &content(32 << 20, 1));
        let mut c = Ctl::connect(srv.addr);
        c.login();
        assert!(c.cmd("TYPE I").starts_with("200"));
        let _data = c.data(srv.addr);
        let started = std::time::Instant::now();
        // Never read the data connection: the server's writes stop once the socket buffers
        // are full, and after the data timeout without progress the transfer is aborted.
        let r = c.cmd("RETR big.bin");
        assert!(r.starts_with("150") || r.starts_with("125"), "{r}");
        let r = c.reply();
        assert!(r.starts_with("426"), "{r}");
        assert!(started.elapsed() >= Duration::from_secs(1));
        assert!(c.cmd("NOOP").starts_with("200"));
    }

    fn a_stalled_upload_is_aborted_with_426_and_the_session_goes_on() {
        let srv = quick_data_timeout();
        let mut c = Ctl::connect(srv.addr);
        c.login();
        assert!(c.cmd("TYPE I").starts_with("200"));
        let mut data = c.data(srv.addr);
        let r = c.cmd("STOR up.bin");
        assert!(r.starts_with("150") || r.starts_with("125"), "{r}");
        data.write_all(&[7u8; 1000]).unwrap();
        // Then nothing, and the connection stays open.
        let r = c.reply();
        assert!(r.starts_with("426"), "{r}");
        assert!(c.cmd("NOOP").starts_with("200"));
    }

    fn a_slow_download_that_keeps_moving_is_not_aborted() {
        let srv = quick_data_timeout();
        let body = content(12 << 20, 2);
        srv.put_file("slow.bin", &body);
        let mut c = Ctl::connect(srv.addr);
        c.login();
        assert!(c.cmd("TYPE I").starts_with("200"));
        let mut data = c.data(srv.addr);
        let r = c.cmd("RETR slow.bin");
        assert!(r.starts_with("150") || r.starts_with("125"), "{r}");
        // About 3 s for the whole file, far longer than the 1 s data timeout, but never a
        // second without progress.
        let mut got = Vec::new();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = std::io::Read::read(&mut data, &mut buf).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
            std::thread::sleep(Duration::from_millis(15));
        }
        let r = c.reply();
        assert!(r.starts_with("226"), "{r}");
        assert_eq!(sha256(&got), sha256(&body));
    }

    fn a_tls_upload_cut_without_close_notify_is_451_not_226() {
        let srv = TestServer::with(Options {
            tls: TlsMode::Explicit,
            anonymous: false,
            ..Options::default()
        });
        let body = content(200_000, 3);
        let mut t = TlsCtl::connect(srv.addr);
        let r = t.upload("cut.bin", &body, false);
        assert!(r.starts_with("451"), "{r}");
        // The same upload ended properly is complete.
        let r = t.upload("whole.bin", &body, true);
        assert!(r.starts_with("226"), "{r}");
        assert_eq!(sha256_file(&srv.path("whole.bin")), sha256(&body));
        assert!(t.cmd("NOOP").starts_with("200"));
    }

    fn a_transfer_that_cannot_start_releases_its_file() {
        let srv = TestServer::with(Options {
            anonymous: false,
            ..Options::default()
        });
        srv.put_file("held.bin", &content(10_000, 4));
        let target = std::fs::canonicalize(srv.path("held.bin")).unwrap();
        let mut c = Ctl::connect(srv.addr);
        c.login();
        // Active mode to a port nobody listens on: the file is opened, then the data
        // connection fails (425), and the open file must be let go at once.
        let closed = ClosedPort::new();
        let port = closed.port();
        c.port_to(port);
        let mut r = c.cmd("RETR held.bin");
        while r.starts_with('1') {
            r = c.reply();
        }
        assert!(r.starts_with("425"), "{r}");
        let open = || {
            std::fs::read_dir("/proc/self/fd")
                .unwrap()
                .flatten()
                .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l == target))
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        while open() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!open(), "the server still holds held.bin open after 425");
        assert!(c.cmd("NOOP").starts_with("200"));
    }

    fn abor_stops_the_data_connection() {
        let srv = TestServer::with(Options {
            anonymous: false,
            ..Options::default()
        });
        let size = 64 << 20;
        srv.put_file("big.bin", &content(size, 5));
        let mut c = Ctl::connect(srv.addr);
        c.login();
        assert!(c.cmd("TYPE I").starts_with("200"));
        let mut data = c.data(srv.addr);
        let r = c.cmd("RETR big.bin");
        assert!(r.starts_with("150") || r.starts_with("125"), "{r}");
        let mut buf = vec![0u8; 1 << 20];
        let mut got = 0;
        while got < (1 << 20) {
            got += std::io::Read::read(&mut data, &mut buf).unwrap();
        }
        c.w.write_all(b"ABOR\r\n").unwrap();
        let mut r = c.reply();
        while !r.starts_with("226") && !r.starts_with("225") {
            assert!(r.starts_with("426") || r.starts_with('1'), "{r}");
            r = c.reply();
        }
        // What the kernel had buffered still arrives, then the connection ends: never the
        // rest of the file.
        data.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        loop {
            match std::io::Read::read(&mut data, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
        assert!(got < size, "the whole file arrived after ABOR");
        assert!(c.cmd("NOOP").starts_with("200"));
    }

    fn a_stor_that_cannot_start_leaves_the_existing_file_intact() {
        let srv = TestServer::with(Options {
            anonymous: false,
            ..Options::default()
        });
        let before = content(50_000, 6);
        srv.put_file("keep.bin", &before);
        let mut c = Ctl::connect(srv.addr);
        c.login();
        let closed = ClosedPort::new();
        let port = closed.port();
        for (rest, cmd) in [(None, "STOR keep.bin"), (Some("REST 10"), "STOR keep.bin")] {
            c.port_to(port);
            if let Some(rest) = rest {
                assert!(c.cmd(rest).starts_with("350"));
            }
            let mut r = c.cmd(cmd);
            while r.starts_with('1') {
                r = c.reply();
            }
            assert!(r.starts_with("425"), "{r}");
            assert_eq!(
                sha256_file(&srv.path("keep.bin")),
                sha256(&before),
                "{rest:?} {cmd}: the file changed although no data came"
            );
        }
        // Nor does an upload to a new name that cannot start leave an empty file behind.
        for cmd in ["STOR new.bin", "APPE new.bin", "STOU"] {
            c.port_to(port);
            let mut r = c.cmd(cmd);
            while r.starts_with('1') {
                r = c.reply();
            }
            assert!(r.starts_with("425"), "{cmd}: {r}");
            // The server has handled everything before this reply.
            assert!(c.cmd("NOOP").starts_with("200"));
            let names: Vec<_> = std::fs::read_dir(srv.path(""))
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            assert_eq!(names, ["keep.bin"], "{cmd} left a file behind");
        }
    }

    fn many_slow_downloads_at_once_all_complete() {
        // Six transfers that each take longer than the data timeout (far more data than the
        // socket buffers hold, read slowly), at the same time: none may wait, moving nothing,
        // for a server thread and be taken for stalled.
        use sha2::{Digest, Sha256};
        // A 3-second data timeout, not 1: on a loaded 2-core machine a transfer thread can go
        // unscheduled for a second, which is not the stall this test is about. The reads are
        // slowed to match, so each transfer still outlasts the timeout (96 reads x 60 ms).
        let srv = TestServer::with(Options {
            anonymous: false,
            data_timeout: Duration::from_secs(3),
            ..Options::default()
        });
        let body = content(48 << 20, 7);
        srv.put_file("shared.bin", &body);
        let addr = srv.addr;
        let expect = Sha256::digest(&body);
        drop(body);
        let clients: Vec<_> = (0..6)
            .map(|_| {
                std::thread::spawn(move || {
                    let mut c = Ctl::connect(addr);
                    c.login();
                    assert!(c.cmd("TYPE I").starts_with("200"));
                    let mut data = c.data(addr);
                    let r = c.cmd("RETR shared.bin");
                    assert!(r.starts_with("150") || r.starts_with("125"), "{r}");
                    let mut hash = Sha256::new();
                    let mut buf = vec![0u8; 512 << 10];
                    loop {
                        let n = std::io::Read::read(&mut data, &mut buf).unwrap();
                        if n == 0 {
                            break;
                        }
                        hash.update(&buf[..n]);
                        std::thread::sleep(Duration::from_millis(60));
                    }
                    let r = c.reply();
                    assert!(r.starts_with("226"), "{r}");
                    hash.finalize()
                })
            })
            .collect();
        for c in clients {
            assert_eq!(c.join().expect("client thread"), expect);
        }
    }
}

/// Settings for a server built outside [`TestServer`], which keeps `run()` to itself.
fn bare_settings(
    root: &std::path::Path,
) -> ftp_host::setup::Settings<ftp_host::storage::FsStorage, ftp_host::auth::UserList> {
    let storage = ftp_host::storage::FsStorage::new(root).unwrap();
    let users = ftp_host::auth::UserList::new().user(USER, PASS);
    let mut s = ftp_host::setup::Settings::new(storage, users);
    s.listen.push("127.0.0.1:0".parse().unwrap());
    s
}

/// A greeted control connection, and a check that the server has gone: this connection
/// ends and the listener no longer serves.
fn greeted(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 64];
    let n = std::io::Read::read(&mut &s, &mut buf).unwrap();
    assert!(buf[..n].starts_with(b"220"), "greeting");
    s
}

fn assert_gone(addr: SocketAddr, session: TcpStream) {
    let mut buf = [0u8; 64];
    match std::io::Read::read(&mut &session, &mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("the session outlived its server: {other:?}"),
    }
    let started = std::time::Instant::now();
    loop {
        match TcpStream::connect(addr) {
            Err(_) => return,
            Ok(s) => {
                s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                let got = std::io::Read::read(&mut &s, &mut buf);
                assert!(matches!(got, Ok(0) | Err(_)), "greeted after drop: {got:?}");
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "listener still open"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// tokio's and futures' `run()` spawn their admission loop as a task of its own (so that
/// it runs beside the sessions, not on the thread in `block_on`); dropping `run()`'s future
/// must still stop the server, sessions included, as it did when the loop ran inside it.
#[test]
fn dropping_the_run_future_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    // tokio
    let rt = ::tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = ftp_tokio::server::Server::from_settings(bare_settings(dir.path()));
    let bound = rt.block_on(server.bind()).unwrap();
    let addr = bound.local_addrs()[0];
    let (stop, stopped) = ::tokio::sync::oneshot::channel::<()>();
    let run = rt.spawn(async move {
        ::tokio::select! {
            r = bound.run() => Some(r.is_ok()),
            _ = stopped => None,
        }
    });
    let session = greeted(addr);
    stop.send(()).unwrap();
    assert_eq!(rt.block_on(run).unwrap(), None, "run() ended on its own");
    assert_gone(addr, session);
    // futures (smol)
    let server = ftp_futures::server::Server::from_settings(bare_settings(dir.path()));
    let bound = ftp_futures::block_on(server.bind()).unwrap();
    let addr = bound.local_addrs()[0];
    let (stop, stopped) = ::tokio::sync::oneshot::channel::<()>();
    let run = std::thread::spawn(move || {
        ftp_futures::block_on(futures_lite::future::or(
            async { Some(bound.run().await.is_ok()) },
            async {
                let _ = stopped.await;
                None
            },
        ))
    });
    let session = greeted(addr);
    stop.send(()).unwrap();
    assert_eq!(run.join().unwrap(), None, "run() ended on its own");
    assert_gone(addr, session);
}
