//! Reliability duties of every adapter's server: ABOR sent as TCP urgent data, many sessions
//! from one address (users behind one NAT), and the log lines an operator needs at the
//! default level (INFO), with the client's address.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use ftp_host::setup::DEFAULT_MAX_PER_IP;
use ftp_tests::logs::{log, log_line};
use ftp_tests::{run_ok, Options, TestServer, PASS, USER};

/// A raw control connection.
struct Ctl {
    read: BufReader<TcpStream>,
    write: TcpStream,
}

impl Ctl {
    fn connect(addr: SocketAddr) -> Ctl {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Ctl {
            read: BufReader::new(s.try_clone().unwrap()),
            write: s,
        }
    }

    /// One whole reply (the last line of a multi-line one), or "" at end of stream.
    fn reply(&mut self) -> String {
        loop {
            let mut line = String::new();
            if self.read.read_line(&mut line).expect("reply") == 0 {
                return line;
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                return line;
            }
        }
    }

    fn cmd(&mut self, c: &str) -> String {
        self.write.write_all(format!("{c}\r\n").as_bytes()).unwrap();
        self.reply()
    }

    fn login(&mut self) {
        assert!(self.cmd(&format!("USER {USER}")).starts_with("331"));
        assert!(self.cmd(&format!("PASS {PASS}")).starts_with("230"));
    }
}

/// The port of a 227 reply.
fn pasv_port(reply: &str) -> u16 {
    let nums: Vec<u16> = reply
        .rsplit_once('(')
        .and_then(|(_, r)| r.split_once(')'))
        .map(|(n, _)| n.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_default();
    assert_eq!(nums.len(), 6, "{reply}");
    nums[4] * 256 + nums[5]
}

/// Opens `n` sessions from 127.0.0.1 at once and returns each greeting.
fn greetings(srv: &TestServer, n: usize) -> (Vec<Ctl>, Vec<String>) {
    let mut ctls: Vec<Ctl> = (0..n).map(|_| Ctl::connect(srv.addr)).collect();
    let replies = ctls.iter_mut().map(Ctl::reply).collect();
    (ctls, replies)
}

/// Starts a download it does not read, aborts it the way ftplib does (the whole `ABOR\r\n`
/// sent with `MSG_OOB`), and checks that the session stays in step: the 426/226 pair, then
/// PWD and NOOP answered as such.
const ABORT_SCRIPT: &str = r#"
import ftplib, sys
host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
f = ftplib.FTP(timeout=10)
f.connect(host, port)
f.login(user, password)
f.voidcmd("TYPE I")
conn = f.transfercmd("RETR big.bin")
assert conn.recv(65536)
resp = f.abort()
conn.close()
if resp.startswith("426"):
    resp = f.getresp()
assert resp.startswith("226"), resp
assert f.pwd() == "/"
assert f.voidcmd("NOOP").startswith("200")
assert f.size("big.bin") == 256 << 20
f.quit()
print("ok")
"#;

ftp_tests::adapter_tests! {
    /// Without out-of-band-inline control sockets the kernel takes the urgent `\n` out of the
    /// stream: ABOR never completes and ftplib times out.
    fn ftplib_abort_with_urgent_data_keeps_the_session_in_step() {
        let srv = TestServer::with(Options::default());
        // Sparse: big enough that the download is still running when ABOR comes, at no
        // disk cost.
        let big = std::fs::File::create(srv.path("big.bin")).unwrap();
        big.set_len(256 << 20).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (host, port) = (srv.addr.ip().to_string(), srv.addr.port().to_string());
        let out = run_ok(
            "python3",
            &["-c", ABORT_SCRIPT, &host, &port, USER, PASS],
            dir.path(),
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
    }

    /// Users behind one NAT share an address: with the default limits, 40 of them are served
    /// at once (the former per-address default of 32 refused the 33rd).
    fn many_sessions_from_one_address_are_served_by_default() {
        let srv = TestServer::with(Options {
            max_per_ip: DEFAULT_MAX_PER_IP,
            ..Options::default()
        });
        let (mut ctls, replies) = greetings(&srv, 40);
        for (i, r) in replies.iter().enumerate() {
            assert!(r.starts_with("220"), "session {i}: {r}");
        }
        for c in &mut ctls {
            c.login();
        }
        for (i, c) in ctls.iter_mut().enumerate() {
            let r = c.cmd("NOOP");
            assert!(r.starts_with("200"), "session {i}: {r}");
        }
    }

    /// A cap set by the operator (`--max-per-ip 2`) still refuses the next session with 421.
    fn a_per_address_cap_refuses_the_next_session_with_421() {
        let srv = TestServer::with(Options {
            max_per_ip: 2,
            ..Options::default()
        });
        let (mut ctls, replies) = greetings(&srv, 3);
        assert!(replies[0].starts_with("220") && replies[1].starts_with("220"));
        assert!(replies[2].starts_with("421"), "{}", replies[2]);
        ctls[1].login();
        assert!(ctls[1].cmd("NOOP").starts_with("200"));
    }

    /// A refused login is logged with the client's address and user name, never the password.
    fn a_refused_login_is_logged_with_the_peer_address() {
        log();
        let srv = TestServer::start();
        let mut c = Ctl::connect(srv.addr);
        let me = c.write.local_addr().unwrap().to_string();
        assert!(c.reply().starts_with("220"));
        let user = format!("mallory-{}", srv.addr.port());
        assert!(c.cmd(&format!("USER {user}")).starts_with("331"));
        assert!(c.cmd("PASS hunter2-guess").starts_with("530"));
        let line = log_line(&[&format!("peer={me}"), &format!("user={user}")]);
        assert!(line.contains("WARN") && line.contains("login refused"), "{line}");
        let text = String::from_utf8_lossy(&log().lock().unwrap()).into_owned();
        assert!(!text.contains("hunter2-guess"));
    }

    /// A connection to the passive port from another host (port stealing) is refused and
    /// logged with both addresses; the client's own connection still works.
    fn a_foreign_passive_connection_is_logged() {
        log();
        let srv = TestServer::start();
        srv.put_file("f.txt", b"hello");
        let mut c = Ctl::connect(srv.addr);
        let me = c.write.local_addr().unwrap().to_string();
        assert!(c.reply().starts_with("220"));
        c.login();
        let port = pasv_port(&c.cmd("PASV"));
        // Another host, as far as the server can tell.
        let _thief = ftp_host::net::start_connect(
            Some([127, 0, 0, 2].into()),
            SocketAddr::from(([127, 0, 0, 1], port)),
        )
        .unwrap();
        let peer = format!("peer={me}");
        let line = log_line(&[&peer, "from=127.0.0.2:", "passive data connection refused"]);
        assert!(line.contains("WARN") && line.contains("reason=foreign_host"), "{line}");
        let mut data = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let r = c.cmd("RETR f.txt");
        assert!(r.starts_with("150") || r.starts_with("125"), "{r}");
        let mut got = Vec::new();
        data.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"hello");
        assert!(c.reply().starts_with("226"));
    }

    /// An aborted download is logged with the client's address.
    fn an_aborted_transfer_is_logged() {
        log();
        let srv = TestServer::start();
        let big = std::fs::File::create(srv.path("big.bin")).unwrap();
        big.set_len(256 << 20).unwrap();
        let mut c = Ctl::connect(srv.addr);
        let me = c.write.local_addr().unwrap().to_string();
        assert!(c.reply().starts_with("220"));
        c.login();
        assert!(c.cmd("TYPE I").starts_with("200"));
        let port = pasv_port(&c.cmd("PASV"));
        let mut data = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let r = c.cmd("RETR big.bin");
        assert!(r.starts_with("150") || r.starts_with("125"), "{r}");
        let mut buf = [0u8; 65536];
        assert!(data.read(&mut buf).unwrap() > 0);
        assert!(c.cmd("ABOR").starts_with("426"));
        assert!(c.reply().starts_with("226"));
        let line = log_line(&[&format!("peer={me}"), "transfer aborted"]);
        assert!(line.contains("INFO"), "{line}");
    }

    /// PORT to another host and to a privileged port of the client (FTP bounce, RFC 2577) are
    /// refused by the core; the operator sees who asked for which address, and why.
    fn a_bounce_port_is_logged_with_the_peer_and_the_target() {
        log();
        let srv = TestServer::start();
        let mut c = Ctl::connect(srv.addr);
        let me = c.write.local_addr().unwrap().to_string();
        assert!(c.reply().starts_with("220"));
        c.login();
        assert!(c.cmd("PORT 127,0,0,2,200,1").starts_with("501"));
        assert!(c.cmd("PORT 127,0,0,1,0,80").starts_with("501"));
        let peer = format!("peer={me}");
        for (target, reason) in [
            ("target=127.0.0.2:51201", "reason=foreign_address"),
            ("target=127.0.0.1:80", "reason=privileged_port"),
        ] {
            let line = log_line(&[&peer, target, "active data connection refused"]);
            assert!(line.contains("WARN") && line.contains(reason), "{line}");
        }
    }

    /// With anonymous access off, the core refuses an anonymous login without asking the
    /// authenticator; it is logged like any refused login, with the reason.
    fn an_anonymous_login_refused_by_the_core_is_logged() {
        log();
        let srv = TestServer::with(Options {
            anonymous: false,
            ..Options::default()
        });
        let mut c = Ctl::connect(srv.addr);
        let me = c.write.local_addr().unwrap().to_string();
        assert!(c.reply().starts_with("220"));
        assert!(c.cmd("USER anonymous").starts_with("331"));
        assert!(c.cmd("PASS guest-secret@example.com").starts_with("530"));
        let line = log_line(&[&format!("peer={me}"), "user=anonymous", "login refused"]);
        assert!(
            line.contains("WARN") && line.contains("reason=anonymous_disabled"),
            "{line}"
        );
        let text = String::from_utf8_lossy(&log().lock().unwrap()).into_owned();
        assert!(!text.contains("guest-secret"));
    }

    /// A transfer the client aborts and one that stalls past the data timeout are both
    /// logged as aborted, each with its own cause.
    fn abor_and_a_data_timeout_are_logged_with_distinct_causes() {
        log();
        let srv = TestServer::with(Options {
            data_timeout: Duration::from_secs(1),
            ..Options::default()
        });
        let big = std::fs::File::create(srv.path("big.bin")).unwrap();
        big.set_len(256 << 20).unwrap();
        // Starts a download and reads its first bytes; returns the control connection, the
        // data connection and the client's address as the server logs it.
        let start = || {
            let mut c = Ctl::connect(srv.addr);
            let me = c.write.local_addr().unwrap().to_string();
            assert!(c.reply().starts_with("220"));
            c.login();
            assert!(c.cmd("TYPE I").starts_with("200"));
            let port = pasv_port(&c.cmd("PASV"));
            let mut data = TcpStream::connect(("127.0.0.1", port)).unwrap();
            let r = c.cmd("RETR big.bin");
            assert!(r.starts_with("150") || r.starts_with("125"), "{r}");
            let mut buf = [0u8; 65536];
            assert!(data.read(&mut buf).unwrap() > 0);
            (c, data, me)
        };

        let (mut c, _data, abor_peer) = start();
        assert!(c.cmd("ABOR").starts_with("426"));
        assert!(c.reply().starts_with("226"));

        // Not read any further: once the socket buffers fill, nothing moves.
        let (mut c, _data, stalled_peer) = start();
        let r = c.reply();
        assert!(r.starts_with("426"), "{r}");

        let causes = [(abor_peer, "cause=abor"), (stalled_peer, "cause=data_timeout")];
        for (peer, cause) in causes {
            let line = log_line(&[&format!("peer={peer}"), "transfer aborted"]);
            assert!(line.contains("INFO") && line.contains(cause), "{line}");
            assert!(line.contains("direction=download"), "{line}");
        }
    }
}
