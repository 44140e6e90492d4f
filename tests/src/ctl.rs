//! A raw FTP control connection for tests that need exact bytes and reply codes (no client
//! library in the way), with the few data-connection helpers they share.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::{PASS, USER};

/// A control connection over a plain TCP stream, with a 10-second read timeout.
pub struct Ctl {
    r: BufReader<TcpStream>,
    /// The write half (a clone of the socket): for raw bytes, or to shut the connection down.
    pub w: TcpStream,
}

impl Ctl {
    /// Connects; the 220 greeting is left for [`reply`](Self::reply) or [`login`](Self::login).
    pub fn connect(addr: SocketAddr) -> Ctl {
        Ctl::from_stream(TcpStream::connect(addr).unwrap())
    }

    /// Connects and reads a 220 greeting, retrying for up to 10 s while the server still
    /// counts an earlier session against a per-address or total cap (421): a closed session's
    /// place frees up only once the server has noticed the close. `why` names the wait in
    /// the panic message.
    pub fn connect_when_free(addr: SocketAddr, why: &str) -> Ctl {
        let started = Instant::now();
        loop {
            let mut c = Ctl::connect(addr);
            let greeting = c.reply();
            if greeting.starts_with("220") {
                return c;
            }
            assert!(
                greeting.starts_with("421") && started.elapsed() < Duration::from_secs(10),
                "{why}: the place was not freed: {greeting}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wraps a connected stream (one bound to a chosen source address, say).
    pub fn from_stream(s: TcpStream) -> Ctl {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Ctl {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
        }
    }

    /// Reads one reply (multi-line aware) and returns its last line; panics if the
    /// connection closes first.
    pub fn reply(&mut self) -> String {
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

    /// Sends one command and returns its reply's last line.
    pub fn cmd(&mut self, c: &str) -> String {
        self.w.write_all(format!("{c}\r\n").as_bytes()).unwrap();
        self.reply()
    }

    /// Reads the greeting and logs in as [`USER`].
    pub fn login(&mut self) {
        assert!(self.reply().starts_with("220"));
        self.login_greeted();
    }

    /// Logs in as [`USER`] once the greeting has been read.
    pub fn login_greeted(&mut self) {
        assert!(self.cmd(&format!("USER {USER}")).starts_with("331"));
        assert!(self.cmd(&format!("PASS {PASS}")).starts_with("230"));
    }

    /// Opens a passive data connection with EPSV.
    pub fn data(&mut self, addr: SocketAddr) -> TcpStream {
        let port = epsv_port(&self.cmd("EPSV"));
        TcpStream::connect(SocketAddr::new(addr.ip(), port)).unwrap()
    }

    /// Active mode to `port` on 127.0.0.1 (PORT, expecting 200).
    pub fn port_to(&mut self, port: u16) {
        let r = self.cmd(&format!("PORT 127,0,0,1,{},{}", port >> 8, port & 0xff));
        assert!(r.starts_with("200"), "{r}");
    }

    /// Sends a command that opens a transfer and returns the final reply, skipping the 1xx.
    pub fn transfer_cmd(&mut self, c: &str) -> String {
        let mut r = self.cmd(c);
        while r.starts_with('1') {
            r = self.reply();
        }
        r
    }
}

/// The data port of a 229 reply: `229 Entering Extended Passive Mode (|||port|)`.
pub fn epsv_port(reply: &str) -> u16 {
    assert!(reply.starts_with("229"), "{reply}");
    let inner = reply.split("|||").nth(1).expect("229 format");
    inner.trim_end_matches([')', '|']).parse().expect("port")
}

/// A loopback port nobody listens on, for data connections that must fail: held bound (without
/// `SO_REUSEADDR`, never listening) for as long as the value lives, so a connection to it is
/// refused and no other test's listener can take the port meanwhile (a port merely released
/// could be handed to the next `bind(0)`).
pub struct ClosedPort(socket2::Socket);

impl ClosedPort {
    /// Binds the port.
    pub fn new() -> ClosedPort {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        ClosedPort(s)
    }

    /// The port number.
    pub fn port(&self) -> u16 {
        self.0.local_addr().unwrap().as_socket().unwrap().port()
    }
}

impl Default for ClosedPort {
    fn default() -> ClosedPort {
        ClosedPort::new()
    }
}
