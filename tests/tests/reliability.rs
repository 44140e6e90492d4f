//! Reliability duties of every adapter's server: ABOR sent as TCP urgent data, many sessions
//! from one address (users behind one NAT), and the log lines an operator needs.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use ftp_host::setup::DEFAULT_MAX_PER_IP;
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
}
