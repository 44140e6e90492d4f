//! Session tests for the server role: a scripted client's bytes and scripted adapter answers in
//! virtual time, asserting the exact replies and intents.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ftp_proto::listing::{Entry, EntryKind};
use ftp_proto::path::VirtualPath;
use ftp_proto::server::{
    AbortCause, Accept, ActiveRefusal, Answer, DataId, DataIntent, Direction, Failure, ListFormat,
    LoginRefusal, Notice, PassiveAddress, PassiveRefusal, Request, RequestId, ServerConfig,
    ServerEvent, ServerOutput, ServerSession, StorageRequest, TlsMode, TransferError, WriteMode,
};
use ftp_proto::time::Timestamp;

const PEER: &str = "127.0.0.1:50000";
const LOCAL: &str = "127.0.0.1:2121";

struct H {
    s: ServerSession,
    now: Instant,
    /// Control bytes sent and not yet read by the test.
    wire: Vec<u8>,
    /// Non-Send outputs not yet read by the test, notices aside.
    outs: Vec<ServerOutput>,
    /// Notices not yet read by the test: kept apart so that the tests of intents and requests
    /// see the same outputs whether or not a notice came with them.
    notices: Vec<Notice>,
}

impl H {
    fn new(config: ServerConfig) -> H {
        let now = Instant::now();
        let s = ServerSession::new(
            Arc::new(config),
            PEER.parse().unwrap(),
            LOCAL.parse().unwrap(),
            now,
        );
        let mut h = H {
            s,
            now,
            wire: Vec::new(),
            outs: Vec::new(),
            notices: Vec::new(),
        };
        h.drain();
        assert_eq!(h.replies(), ["220 FTP server ready."]);
        h
    }

    fn drain(&mut self) {
        let mut guard = 0;
        while let Some(out) = self.s.poll_output() {
            guard += 1;
            assert!(guard < 10_000, "output never ends");
            match out {
                ServerOutput::Send(b) => self.wire.extend_from_slice(&b),
                ServerOutput::Notice(n) => self.notices.push(n),
                other => self.outs.push(other),
            }
        }
    }

    fn input(&mut self, bytes: &[u8]) {
        self.s.handle_input(self.now, bytes).unwrap();
        self.drain();
    }

    fn input_bytewise(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.input(std::slice::from_ref(b));
        }
    }

    fn event(&mut self, e: ServerEvent) {
        self.s.handle_event(self.now, e).unwrap();
        self.drain();
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.s.handle_timeout(self.now);
        self.drain();
    }

    /// The reply lines sent since the last call.
    fn replies(&mut self) -> Vec<String> {
        let text = String::from_utf8_lossy(&std::mem::take(&mut self.wire)).into_owned();
        assert!(
            text.is_empty() || text.ends_with("\r\n"),
            "partial reply: {text:?}"
        );
        text.split_terminator("\r\n").map(str::to_owned).collect()
    }

    /// The final reply codes sent since the last call (continuation lines skipped).
    fn codes(&mut self) -> Vec<u16> {
        self.replies()
            .iter()
            .filter(|l| {
                l.len() >= 4
                    && l.as_bytes()[3] == b' '
                    && l[..3].bytes().all(|b| b.is_ascii_digit())
            })
            .map(|l| l[..3].parse().unwrap())
            .collect()
    }

    fn take_outs(&mut self) -> Vec<ServerOutput> {
        std::mem::take(&mut self.outs)
    }

    fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.notices)
    }

    fn request(&mut self) -> (RequestId, Request) {
        let outs = self.take_outs();
        assert_eq!(outs.len(), 1, "expected one request, got {outs:?}");
        match outs.into_iter().next().unwrap() {
            ServerOutput::Request(id, r) => (id, r),
            other => panic!("expected a request, got {other:?}"),
        }
    }

    fn storage(&mut self) -> (RequestId, StorageRequest) {
        match self.request() {
            (id, Request::Storage(r)) => (id, r),
            other => panic!("expected storage, got {other:?}"),
        }
    }

    fn login(&mut self) {
        self.input(b"USER alice\r\nPASS secret\r\n");
        let (id, req) = self.request();
        assert!(
            matches!(req, Request::Login { ref user, ref pass, anonymous: false, .. } if &user[..] == b"alice" && &pass[..] == b"secret")
        );
        self.event(ServerEvent::Answer(
            id,
            Answer::LoggedIn { read_only: false },
        ));
        assert_eq!(self.codes(), [331, 230]);
    }

    /// PASV through to 227; returns the channel id.
    fn pasv(&mut self, port: u16) -> DataId {
        self.input(b"PASV\r\n");
        let mut outs = self.take_outs();
        // A channel left over from an earlier command is released first.
        if let [ServerOutput::Data(DataIntent::Close { .. }), ..] = outs.as_slice() {
            outs.remove(0);
        }
        let id = match outs.as_slice() {
            [ServerOutput::Data(DataIntent::Listen { id, ip, ports })] => {
                assert_eq!(ip.to_string(), "127.0.0.1");
                assert_eq!(ports, &(49152..=65534));
                *id
            }
            other => panic!("expected Listen, got {other:?}"),
        };
        assert!(
            self.replies().is_empty(),
            "227 must wait for the bound port"
        );
        self.event(ServerEvent::Listening {
            id,
            addr: SocketAddr::new("127.0.0.1".parse().unwrap(), port),
        });
        id
    }
}

fn vp(s: &str) -> VirtualPath {
    VirtualPath::root().resolve(s.as_bytes()).unwrap()
}

fn file(size: u64) -> Entry {
    Entry::new("f", EntryKind::File)
        .with_size(size)
        .with_modified(Timestamp::from_unix(1_000_000_000, 0).unwrap())
}

fn dir() -> Entry {
    Entry::new("d", EntryKind::Dir)
}

#[test]
fn login_and_pipelined_commands_whole_and_bytewise() {
    for bytewise in [false, true] {
        let mut h = H::new(ServerConfig::default());
        let script = b"USER alice\r\nPASS secret\r\nPWD\r\nNOOP\r\n";
        if bytewise {
            h.input_bytewise(script);
        } else {
            h.input(script);
        }
        let (id, _) = h.request();
        // PWD and NOOP wait behind the login: one reply per command, in order.
        assert_eq!(h.codes(), [331]);
        h.event(ServerEvent::Answer(
            id,
            Answer::LoggedIn { read_only: false },
        ));
        assert_eq!(
            h.replies(),
            [
                "230 Login successful.",
                "257 \"/\" is the current directory.",
                "200 NOOP ok."
            ]
        );
        assert_eq!(h.s.user(), Some(&b"alice"[..]));
    }
}

#[test]
fn commands_before_login_get_530_except_the_allow_list() {
    let mut h = H::new(ServerConfig::default());
    h.input(b"LIST\r\nRETR x\r\nCWD /\r\nMKD a\r\nPWD\r\n");
    assert_eq!(h.codes(), [530, 530, 530, 530, 530]);
    h.input(b"SYST\r\nNOOP\r\nFEAT\r\nHELP\r\nSTAT\r\nCLNT curl\r\nOPTS UTF8 ON\r\nLANG EN\r\n");
    assert_eq!(h.codes(), [215, 200, 211, 214, 211, 200, 200, 200]);
    assert!(h.take_outs().is_empty());
}

#[test]
fn pass_sequencing() {
    let mut h = H::new(ServerConfig::default());
    h.input(b"PASS x\r\n");
    assert_eq!(h.codes(), [503]);
    h.login();
    h.input(b"PASS again\r\n");
    assert_eq!(h.codes(), [503]);
}

#[test]
fn failed_logins_are_delayed_then_the_session_closes() {
    let mut h = H::new(ServerConfig::default());
    for attempt in 1..=3 {
        h.input(b"USER bob\r\nPASS wrong\r\n");
        let (id, _) = h.request();
        h.event(ServerEvent::Answer(
            id,
            Answer::Failed(Failure::LoginRefused),
        ));
        assert_eq!(h.codes(), [331], "no 530 before the delay");
        let due = h.s.poll_timeout().unwrap();
        assert_eq!(due - h.now, Duration::from_secs(1));
        h.advance(Duration::from_millis(999));
        assert!(h.replies().is_empty());
        h.advance(Duration::from_millis(1));
        if attempt < 3 {
            assert_eq!(h.codes(), [530]);
        } else {
            assert_eq!(h.codes(), [421]);
            assert_eq!(h.take_outs(), [ServerOutput::Close]);
            assert!(h.s.is_closed());
        }
    }
}

#[test]
fn anonymous_is_refused_unless_enabled_and_unknown_users_get_331() {
    let mut h = H::new(ServerConfig::default());
    h.input(b"USER anonymous\r\nPASS me@example.com\r\n");
    assert_eq!(h.codes(), [331]);
    assert!(
        h.take_outs().is_empty(),
        "no login request for disabled anonymous"
    );
    h.advance(Duration::from_secs(1));
    assert_eq!(h.codes(), [530]);

    let mut config = ServerConfig::default();
    config.anonymous = true;
    let mut h = H::new(config);
    h.input(b"USER anonymous\r\nPASS me@example.com\r\n");
    let (id, req) = h.request();
    assert!(
        matches!(req, Request::Login { ref user, anonymous: true, .. } if &user[..] == b"anonymous")
    );
    h.event(ServerEvent::Answer(
        id,
        Answer::LoggedIn { read_only: true },
    ));
    assert_eq!(h.codes(), [331, 230]);
    h.input(b"MKD x\r\nDELE y\r\n");
    assert_eq!(h.codes(), [550, 550]);
}

#[test]
fn passive_retr_with_port_stealing_refused() {
    let mut h = H::new(ServerConfig::default());
    h.login();
    let id = h.pasv(50_001);
    assert_eq!(
        h.replies(),
        ["227 Entering Passive Mode (127,0,0,1,195,81)."]
    );
    h.input(b"RETR /pub/file.bin\r\n");
    let (rid, req) = h.storage();
    assert_eq!(
        req,
        StorageRequest::OpenRead {
            path: vp("/pub/file.bin"),
            offset: 0
        }
    );
    h.event(ServerEvent::Answer(
        rid,
        Answer::Opened { size: Some(1234) },
    ));
    assert_eq!(
        h.replies(),
        ["150 Opening BINARY mode data connection (1234 bytes)."]
    );
    // A foreign host connects first: dropped, listener kept.
    let thief: SocketAddr = "10.9.9.9:4000".parse().unwrap();
    assert_eq!(
        h.s.handle_data_accept(h.now, id, thief).unwrap(),
        Accept::Reject
    );
    let client: SocketAddr = "127.0.0.1:50123".parse().unwrap();
    assert_eq!(
        h.s.handle_data_accept(h.now, id, client).unwrap(),
        Accept::Use { tls: false }
    );
    h.event(ServerEvent::DataReady {
        id,
        tls_resumed: None,
    });
    assert_eq!(
        h.take_outs(),
        [ServerOutput::Data(DataIntent::Transfer {
            id,
            source: rid,
            direction: Direction::Send,
            ascii: false
        })]
    );
    h.event(ServerEvent::TransferDone { id, bytes: 1234 });
    assert_eq!(h.codes(), [226]);
    // The channel was single-use.
    h.input(b"RETR again\r\n");
    assert_eq!(h.codes(), [425]);
}

#[test]
fn client_connected_before_the_command_gets_125() {
    let mut h = H::new(ServerConfig::default());
    h.login();
    let id = h.pasv(50_002);
    h.replies();
    let client: SocketAddr = "127.0.0.1:50124".parse().unwrap();
    assert_eq!(
        h.s.handle_data_accept(h.now, id, client).unwrap(),
        Accept::Use { tls: false }
    );
    h.event(ServerEvent::DataReady {
        id,
        tls_resumed: None,
    });
    h.input(b"TYPE A\r\nLIST -la sub\r\n");
    assert_eq!(h.codes(), [200]);
    let (rid, req) = h.storage();
    assert_eq!(
        req,
        StorageRequest::OpenList {
            path: vp("/sub"),
            format: ListFormat::List
        }
    );
    h.event(ServerEvent::Answer(rid, Answer::Opened { size: None }));
    assert_eq!(h.codes(), [125]);
    // Listings are not ASCII-converted even in TYPE A: their lines already end in CRLF.
    assert_eq!(
        h.take_outs(),
        [ServerOutput::Data(DataIntent::Transfer {
            id,
            source: rid,
            direction: Direction::Send,
            ascii: false
        })]
    );
}

#[test]
fn masquerade_address_and_local_network_policy() {
    let mut config = ServerConfig::default();
    config.passive_address = PassiveAddress::Masquerade("203.0.113.9".parse().unwrap());
    let mut h = H::new(config);
    h.login();
    h.pasv(1024 + 7);
    assert_eq!(
        h.replies(),
        ["227 Entering Passive Mode (203,0,113,9,4,7)."]
    );

    let mut config = ServerConfig::default();
    config.passive_address = PassiveAddress::MasqueradeExceptLocal("203.0.113.9".parse().unwrap());
    let mut h = H::new(config);
    h.login();
    h.pasv(1024 + 7);
    assert_eq!(
        h.replies(),
        ["227 Entering Passive Mode (127,0,0,1,4,7)."],
        "loopback client gets the local address"
    );
}

#[test]
fn epsv_and_epsv_all() {
    let mut h = H::new(ServerConfig::default());
    h.login();
    h.input(b"EPSV\r\n");
    let id = match h.take_outs().as_slice() {
        [ServerOutput::Data(DataIntent::Listen { id, .. })] => *id,
        other => panic!("{other:?}"),
    };
    h.event(ServerEvent::Listening {
        id,
        addr: "127.0.0.1:6446".parse().unwrap(),
    });
    assert_eq!(
        h.replies(),
        ["229 Entering Extended Passive Mode (|||6446|)"]
    );
    h.input(b"EPSV 2\r\n");
    assert_eq!(h.codes(), [522]);
    h.input(b"EPSV ALL\r\nPASV\r\nPORT 127,0,0,1,200,1\r\nEPRT |1|127.0.0.1|50000|\r\n");
    assert_eq!(h.codes(), [200, 503, 503, 503]);
}

#[test]
fn active_mode_bounce_checks_happen_before_any_connect() {
    let mut h = H::new(ServerConfig::default());
    h.login();
    h.input(b"PORT 10,0,0,1,200,1\r\n");
    h.input(b"PORT 127,0,0,1,0,21\r\n");
    h.input(b"EPRT |2|::1|5000|\r\n");
    h.input(b"EPRT |3|x|5000|\r\n");
    assert_eq!(h.codes(), [501, 501, 522, 522]);
    assert!(h.take_outs().is_empty(), "nothing connected");
    h.input(b"PORT 127,0,0,1,200,1\r\nREST 100\r\nRETR f\r\n");
    assert_eq!(h.codes(), [200, 350]);
    let (sid, req) = h.storage();
    assert_eq!(req, StorageRequest::Stat { path: vp("/f") });
    h.event(ServerEvent::Answer(
        sid,
        Answer::Metadata(Box::new(file(500))),
    ));
    let (rid, req) = h.storage();
    assert_eq!(
        req,
        StorageRequest::OpenRead {
            path: vp("/f"),
            offset: 100
        }
    );
    h.event(ServerEvent::Answer(rid, Answer::Opened { size: None }));
    assert_eq!(h.codes(), [150]);
    let id = match h.take_outs().as_slice() {
        [ServerOutput::Data(DataIntent::Connect {
            id,
            addr,
            tls: false,
        })] => {
            assert_eq!(addr.to_string(), "127.0.0.1:51201");
            *id
        }
        other => panic!("{other:?}"),
    };
    h.event(ServerEvent::DataReady {
        id,
        tls_resumed: None,
    });
    assert!(matches!(
        h.take_outs().as_slice(),
        [ServerOutput::Data(DataIntent::Transfer { .. })]
    ));
    h.event(ServerEvent::TransferFailed {
        id,
        error: TransferError::ConnectionLost,
    });
    assert_eq!(h.codes(), [426]);
    // REST applied to that transfer only.
    h.input(b"PORT 127,0,0,1,200,2\r\nRETR f\r\n");
    assert_eq!(h.codes(), [200]);
    let (_, req) = h.storage();
    assert_eq!(
        req,
        StorageRequest::OpenRead {
            path: vp("/f"),
            offset: 0
        }
    );
}

#[test]
fn foreign_active_allowed_when_configured() {
    let mut config = ServerConfig::default();
    config.allow_foreign_active = true;
    config.allow_privileged_active_ports = true;
    let mut h = H::new(config);
    h.login();
    h.input(b"PORT 10,0,0,1,0,21\r\n");
    assert_eq!(h.codes(), [200]);
}

#[test]
fn data_connection_timeout_gives_425() {
    let mut h = H::new(ServerConfig::default());
    h.login();
    let id = h.pasv(50_003);
    h.replies();
    h.input(b"RETR f\r\n");
    let (rid, _) = h.storage();
    h.event(ServerEvent::Answer(rid, Answer::Opened { size: None }));
    assert_eq!(h.codes(), [150]);
    assert_eq!(h.s.poll_timeout(), Some(h.now + Duration::from_secs(30)));
    h.advance(Duration::from_secs(30));
    assert_eq!(h.codes(), [425]);
    // The file opened for the transfer is released: no transfer will use it.
    assert_eq!(
        h.take_outs(),
        [
            ServerOutput::Data(DataIntent::Close { id }),
            ServerOutput::Release(rid)
        ]
    );
}

#[test]
fn abor_during_transfer_idle_and_with_telnet_prefix() {
    let mut h = H::new(ServerConfig::default());
    h.login();
    h.input(b"ABOR\r\n");
    assert_eq!(h.codes(), [225]);
    let id = h.pasv(50_004);
    h.replies();
    h.input(b"STOR up.bin\r\n");
    let (rid, req) = h.storage();
    assert_eq!(
        req,
        StorageRequest::OpenWrite {
            path: vp("/up.bin"),
            mode: WriteMode::Truncate
        }
    );
    h.event(ServerEvent::Answer(rid, Answer::Opened { size: None }));
    h.s.handle_data_accept(h.now, id, "127.0.0.1:1".parse().unwrap())
        .unwrap();
    h.event(ServerEvent::DataReady {
        id,
        tls_resumed: None,
    });
    h.take_outs();
    h.codes();
    // NOOP is deferred; ABOR (after Telnet IP + Synch) is served at once.
    h.input(b"NOOP\r\n\xff\xf4\xff\xf2ABOR\r\n");
    assert_eq!(h.codes(), [426, 226, 200]);
    assert_eq!(
        h.take_outs(),
        [ServerOutput::Data(DataIntent::Abort { id })]
    );
}

#[test]
fn quit_during_transfer_answers_after_it() {
    let mut h = H::new(ServerConfig::default());
    h.login();
    let id = h.pasv(50_005);
    h.replies();
    h.input(b"RETR f\r\n");
    let (rid, _) = h.storage();
    h.event(ServerEvent::Answer(rid, Answer::Opened { size: None }));
    h.s.handle_data_accept(h.now, id, "127.0.0.1:1".parse().unwrap())
        .unwrap();
    h.event(ServerEvent::DataReady {
        id,
        tls_resumed: None,
    });
    h.take_outs();
    h.codes();
    h.input(b"QUIT\r\n");
    assert!(h.replies().is_empty());
    h.event(ServerEvent::TransferDone { id, bytes: 5 });
    assert_eq!(h.codes(), [226, 221]);
    assert_eq!(h.take_outs(), [ServerOutput::Close]);
}

#[test]
fn rename_sequencing() {
    let mut h = H::new(ServerConfig::default());
    h.login();
    h.input(b"RNTO b\r\n");
    assert_eq!(h.codes(), [503]);
    h.input(b"RNFR a\r\n");
    let (rid, _) = h.storage();
    h.event(ServerEvent::Answer(
        rid,
        Answer::Metadata(Box::new(file(1))),
    ));
    assert_eq!(h.codes(), [350]);
    h.input(b"RNTO b\r\n");
    let (rid, req) = h.storage();
    assert_eq!(
        req,
        StorageRequest::Rename {
            from: vp("/a"),
            to: vp("/b")
        }
    );
    h.event(ServerEvent::Answer(rid, Answer::Done));
    assert_eq!(h.codes(), [250]);
    // RNFR then another command: RNTO is out of order again.
    h.input(b"RNFR a\r\n");
    let (rid, _) = h.storage();
    h.event(ServerEvent::Answer(
        rid,
        Answer::Metadata(Box::new(file(1))),
    ));
    h.input(b"NOOP\r\nRNTO b\r\n");
    assert_eq!(h.codes(), [350, 200, 503]);
}

#[test]
fn directory_and_file_commands() {
    let mut h = H::new(ServerConfig::default());
    h.login();
    h.input(b"CWD sub\r\n");
    let (rid, req) = h.storage();
    assert_eq!(req, StorageRequest::Stat { path: vp("/sub") });
    h.event(ServerEvent::Answer(rid, Answer::Metadata(Box::new(dir()))));
    assert_eq!(h.codes(), [250]);
    assert_eq!(h.s.cwd().as_bytes(), b"/sub");
    h.input(b"CWD file\r\n");
    let (rid, _) = h.storage();
    h.event(ServerEvent::Answer(
        rid,
        Answer::Metadata(Box::new(file(3))),
    ));
    assert_eq!(h.codes(), [550]);
    h.input(b"CWD missing\r\n");
    let (rid, _) = h.storage();
    h.event(ServerEvent::Answer(rid, Answer::Failed(Failure::NotFound)));
    assert_eq!(h.codes(), [550]);
    h.input(b"CDUP\r\n");
    let (rid, req) = h.storage();
    assert_eq!(req, StorageRequest::Stat { path: vp("/") });
    h.event(ServerEvent::Answer(rid, Answer::Metadata(Box::new(dir()))));
    assert_eq!(h.codes(), [250]);
    h.input(b"MKD a\"b\r\n");
    let (rid, req) = h.storage();
    assert_eq!(req, StorageRequest::MakeDir { path: vp("/a\"b") });
    h.event(ServerEvent::Answer(rid, Answer::Done));
    assert_eq!(h.replies(), ["257 \"/a\"\"b\" created."]);
    h.input(b"RMD /\r\nRMD ../..\r\n");
    assert_eq!(h.codes(), [550, 550]);
    h.input(b"DELE x\r\n");
    let (rid, _) = h.storage();
    h.event(ServerEvent::Answer(rid, Answer::Done));
    assert_eq!(h.codes(), [250]);
    h.input(b"SIZE f\r\n");
    let (rid, _) = h.storage();
    h.event(ServerEvent::Answer(
        rid,
        Answer::Metadata(Box::new(file(51))),
    ));
    assert_eq!(h.replies(), ["213 51"]);
    h.input(b"MDTM f\r\n");
    let (rid, _) = h.storage();
    h.event(ServerEvent::Answer(
        rid,
        Answer::Metadata(Box::new(file(51))),
    ));
    assert_eq!(h.replies(), ["213 20010909014640"]);
    h.input(b"TYPE A\r\nSIZE f\r\nTYPE I\r\n");
    assert_eq!(h.codes(), [200, 550, 200]);
    h.input(b"MFMT 20200102030405 f\r\n");
    let (rid, req) = h.storage();
    assert!(matches!(req, StorageRequest::SetModified { .. }));
    h.event(ServerEvent::Answer(rid, Answer::Done));
    assert_eq!(h.replies(), ["213 Modify=20200102030405; /f"]);
    h.input(b"SITE CHMOD 755 f\r\nSITE CHMOD 778 f\r\n");
    let (rid, req) = h.storage();
    assert_eq!(
        req,
        StorageRequest::Chmod {
            path: vp("/f"),
            mode: 0o755
        }
    );
    h.event(ServerEvent::Answer(rid, Answer::Done));
    assert_eq!(h.codes(), [200, 501]);
    h.input(b"MLST f\r\n");
    let (rid, _) = h.storage();
    h.event(ServerEvent::Answer(
        rid,
        Answer::Metadata(Box::new(file(51))),
    ));
    let lines = h.replies();
    assert_eq!(lines.first().map(String::as_str), Some("250-Listing:"));
    assert!(
        lines[1].starts_with(" ") && lines[1].contains("size=51;") && lines[1].ends_with(" /f"),
        "{lines:?}"
    );
    assert!(lines[2].starts_with("250 "));
}

#[test]
fn uploads_modes_and_stou() {
    let mut h = H::new(ServerConfig::default());
    h.login();
    for (cmd, mode) in [
        (&b"REST 10\r\nSTOR a\r\n"[..], WriteMode::AtOffset(10)),
        (b"APPE a\r\n", WriteMode::Append),
    ] {
        let id = h.pasv(50_010);
        h.replies();
        h.input(cmd);
        h.codes();
        let (rid, req) = h.storage();
        assert_eq!(
            req,
            StorageRequest::OpenWrite {
                path: vp("/a"),
                mode
            }
        );
        h.event(ServerEvent::Answer(rid, Answer::Failed(Failure::NoSpace)));
        assert_eq!(h.codes(), [452]);
        let _ = id;
    }
    h.pasv(50_011);
    h.replies();
    h.input(b"STOU\r\n");
    let (rid, req) = h.storage();
    assert_eq!(
        req,
        StorageRequest::OpenWrite {
            path: vp("/"),
            mode: WriteMode::CreateUnique
        }
    );
    h.event(ServerEvent::Answer(
        rid,
        Answer::OpenedUnique { path: vp("/u123") },
    ));
    assert_eq!(h.replies(), ["150 FILE: u123"]);
}

#[test]
fn transfer_failures_map_to_replies() {
    for (error, code) in [
        (TransferError::ConnectionLost, 426),
        (TransferError::Local, 451),
        (TransferError::NoSpace, 552),
    ] {
        let mut h = H::new(ServerConfig::default());
        h.login();
        let id = h.pasv(50_020);
        h.replies();
        h.input(b"STOR x\r\n");
        let (rid, _) = h.storage();
        h.event(ServerEvent::Answer(rid, Answer::Opened { size: None }));
        h.s.handle_data_accept(h.now, id, "127.0.0.1:1".parse().unwrap())
            .unwrap();
        h.event(ServerEvent::DataReady {
            id,
            tls_resumed: None,
        });
        h.codes();
        h.event(ServerEvent::TransferFailed { id, error });
        assert_eq!(h.codes(), [code]);
    }
}

#[test]
fn mlsd_on_a_file_is_501_without_a_150_or_a_data_connection() {
    for active in [false, true] {
        let mut h = H::new(ServerConfig::default());
        h.login();
        let data = if active {
            h.input(b"PORT 127,0,0,1,200,1\r\n");
            None
        } else {
            Some(h.pasv(50_030))
        };
        h.replies();
        h.input(b"MLSD f\r\n");
        // The path is checked before anything is opened: a storage that lists a file as its
        // own entry (as it must for LIST) would otherwise get a 150 and a transfer.
        let (sid, req) = h.storage();
        assert_eq!(req, StorageRequest::Stat { path: vp("/f") });
        h.event(ServerEvent::Answer(
            sid,
            Answer::Metadata(Box::new(file(3))),
        ));
        assert_eq!(h.replies(), ["501 Not a directory."]);
        let outs = h.take_outs();
        match data {
            // The listener made for this command is released; nothing was opened.
            Some(id) => assert_eq!(outs, [ServerOutput::Data(DataIntent::Close { id })]),
            None => assert!(
                outs.iter().all(|o| !matches!(
                    o,
                    ServerOutput::Data(DataIntent::Connect { .. }) | ServerOutput::Request(..)
                )),
                "{outs:?}"
            ),
        }
        h.input(b"MLSD\r\n");
        assert_eq!(h.codes(), [425], "the channel is gone");
    }
}

#[test]
fn mlsd_of_a_directory_or_the_cwd_opens_the_listing() {
    let mut h = H::new(ServerConfig::default());
    h.login();
    h.pasv(50_031);
    h.replies();
    h.input(b"MLSD d\r\n");
    let (sid, _) = h.storage();
    h.event(ServerEvent::Answer(sid, Answer::Metadata(Box::new(dir()))));
    let (rid, req) = h.storage();
    assert!(matches!(
        req,
        StorageRequest::OpenList {
            format: ListFormat::Mlsd(_),
            ref path,
        } if *path == vp("/d")
    ));
    h.event(ServerEvent::Answer(rid, Answer::Opened { size: None }));
    assert_eq!(h.codes(), [150]);
    // Without a path MLSD lists the current directory, which CWD checked: no extra Stat.
    let mut h = H::new(ServerConfig::default());
    h.login();
    h.pasv(50_032);
    h.replies();
    h.input(b"MLSD\r\n");
    let (_, req) = h.storage();
    assert!(matches!(req, StorageRequest::OpenList { .. }), "{req:?}");
}

#[test]
fn a_storage_refusing_an_mlsd_listing_as_not_a_directory_gets_501_and_the_channel_closed() {
    let mut h = H::new(ServerConfig::default());
    h.login();
    let id = h.pasv(50_033);
    h.replies();
    h.input(b"MLSD\r\n");
    let (rid, _) = h.storage();
    h.event(ServerEvent::Answer(
        rid,
        Answer::Failed(Failure::NotADirectory),
    ));
    assert_eq!(h.codes(), [501]);
    assert_eq!(
        h.take_outs(),
        [ServerOutput::Data(DataIntent::Close { id })]
    );
}

#[test]
fn rest_beyond_the_end_of_the_file_is_554_before_anything_is_opened() {
    let mut h = H::new(ServerConfig::default());
    h.login();
    h.pasv(50_034);
    h.replies();
    h.input(b"REST 11\r\nRETR f\r\n");
    assert_eq!(h.codes(), [350]);
    let (sid, req) = h.storage();
    assert_eq!(req, StorageRequest::Stat { path: vp("/f") });
    h.event(ServerEvent::Answer(
        sid,
        Answer::Metadata(Box::new(file(10))),
    ));
    assert_eq!(
        h.replies(),
        ["554 Restart offset beyond the end of the file."]
    );
    assert!(h.take_outs().is_empty(), "no open, no 150, no transfer");
    // The offset is used up: the next RETR starts at 0 without a Stat.
    h.input(b"RETR f\r\n");
    let (_, req) = h.storage();
    assert_eq!(
        req,
        StorageRequest::OpenRead {
            path: vp("/f"),
            offset: 0
        }
    );
}

#[test]
fn rest_at_the_end_of_the_file_or_of_unknown_size_is_opened() {
    for entry in [file(10), Entry::new("f", EntryKind::File)] {
        let mut h = H::new(ServerConfig::default());
        h.login();
        h.pasv(50_035);
        h.replies();
        h.input(b"REST 10\r\nRETR f\r\n");
        let (sid, _) = h.storage();
        h.event(ServerEvent::Answer(sid, Answer::Metadata(Box::new(entry))));
        let (rid, req) = h.storage();
        assert_eq!(
            req,
            StorageRequest::OpenRead {
                path: vp("/f"),
                offset: 10
            }
        );
        h.event(ServerEvent::Answer(rid, Answer::Opened { size: Some(0) }));
        assert_eq!(h.codes(), [350, 150]);
    }
    // A missing file fails at the Stat with the open's reply.
    let mut h = H::new(ServerConfig::default());
    h.login();
    h.pasv(50_036);
    h.replies();
    h.input(b"REST 10\r\nRETR nope\r\n");
    let (sid, _) = h.storage();
    h.event(ServerEvent::Answer(sid, Answer::Failed(Failure::NotFound)));
    assert_eq!(h.codes(), [350, 550]);
}

#[test]
fn auth_tls_discards_pipelined_plaintext() {
    let mut config = ServerConfig::default();
    config.tls = TlsMode::Explicit;
    let mut h = H::new(config);
    h.input(b"AUTH TLS\r\nUSER evil\r\nPASS x\r\n");
    assert_eq!(h.codes(), [234]);
    assert_eq!(h.take_outs(), [ServerOutput::StartTls]);
    assert!(!h.s.wants_read());
    h.event(ServerEvent::TlsEstablished);
    assert!(h.replies().is_empty(), "USER evil was discarded");
    h.input(b"PROT P\r\nPBSZ 0\r\nPROT S\r\nPROT P\r\nAUTH TLS\r\n");
    assert_eq!(h.codes(), [503, 200, 536, 200, 503]);
    h.login();
    let id = h.pasv(50_040);
    h.replies();
    h.input(b"RETR f\r\n");
    let (rid, _) = h.storage();
    h.event(ServerEvent::Answer(rid, Answer::Opened { size: None }));
    h.codes();
    assert_eq!(
        h.s.handle_data_accept(h.now, id, "127.0.0.1:9".parse().unwrap())
            .unwrap(),
        Accept::Use { tls: true }
    );
}

#[test]
fn tls_policies() {
    let mut config = ServerConfig::default();
    config.tls = TlsMode::ExplicitRequired;
    config.require_data_tls = true;
    config.require_tls_session_reuse = true;
    let mut h = H::new(config);
    h.input(b"PBSZ 0\r\nUSER a\r\n");
    assert_eq!(h.codes(), [503, 530]);
    h.input(b"AUTH TLS\r\n");
    assert_eq!(h.codes(), [234]);
    h.take_outs();
    h.event(ServerEvent::TlsEstablished);
    h.login();
    h.pasv(50_050);
    h.replies();
    h.input(b"RETR f\r\n");
    assert_eq!(h.codes(), [521], "PROT C refused when data TLS is required");
    h.input(b"PBSZ 0\r\nPROT P\r\n");
    assert_eq!(h.codes(), [200, 200]);
    let id = h.pasv(50_051);
    h.replies();
    h.input(b"RETR f\r\n");
    let (rid, _) = h.storage();
    h.event(ServerEvent::Answer(rid, Answer::Opened { size: None }));
    h.codes();
    h.take_outs();
    h.s.handle_data_accept(h.now, id, "127.0.0.1:9".parse().unwrap())
        .unwrap();
    h.event(ServerEvent::DataReady {
        id,
        tls_resumed: Some(false),
    });
    assert_eq!(h.codes(), [522]);
    assert_eq!(
        h.take_outs(),
        [
            ServerOutput::Data(DataIntent::Close { id }),
            ServerOutput::Release(rid)
        ]
    );
}

#[test]
fn auth_refused_without_tls() {
    let mut h = H::new(ServerConfig::default());
    h.input(b"AUTH TLS\r\nFEAT\r\n");
    let lines = h.replies();
    assert!(lines[0].starts_with("502 "));
    assert!(
        !lines.iter().any(|l| l.contains("AUTH TLS")),
        "FEAT lists only what is implemented"
    );
}

#[test]
fn idle_timeout_closes_with_421() {
    let mut h = H::new(ServerConfig::default());
    h.login();
    assert_eq!(h.s.poll_timeout(), Some(h.now + Duration::from_secs(300)));
    h.advance(Duration::from_secs(299));
    assert!(h.replies().is_empty());
    h.input(b"NOOP\r\n");
    h.codes();
    h.advance(Duration::from_secs(299));
    assert!(h.replies().is_empty(), "a command resets the idle timer");
    h.advance(Duration::from_secs(1));
    assert_eq!(h.codes(), [421]);
    assert_eq!(h.take_outs(), [ServerOutput::Close]);
    assert!(h.s.handle_input(h.now, b"NOOP\r\n").is_err());
}

#[test]
fn overlong_line_is_one_500_and_the_session_goes_on() {
    let mut h = H::new(ServerConfig::default());
    let mut line = b"USER ".to_vec();
    line.extend(std::iter::repeat_n(b'A', 100_000));
    line.extend_from_slice(b"\r\nNOOP\r\n");
    h.input(&line);
    assert_eq!(h.codes(), [500, 200]);
}

/// `n` commands whose replies tell them apart, so the order of the replies shows.
fn pipelined_script(n: usize) -> (Vec<u8>, Vec<&'static str>) {
    let cmds = [
        ("NOOP\r\n", "200 NOOP ok."),
        ("TYPE A\r\n", "200 Type set to A."),
        ("TYPE I\r\n", "200 Type set to I."),
    ];
    let mut wire = Vec::new();
    let mut want = Vec::new();
    for i in 0..n {
        let (cmd, reply) = cmds[i % cmds.len()];
        wire.extend_from_slice(cmd.as_bytes());
        want.push(reply);
    }
    (wire, want)
}

/// A deterministic pseudo-random chunk length in `1..=max`.
fn chunk_len(seed: &mut u64, max: usize) -> usize {
    *seed = seed
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    (*seed >> 33) as usize % max + 1
}

#[test]
fn pipelined_noops_in_one_write_each_get_a_200_in_order() {
    for n in [100, 10_000] {
        let mut h = H::new(ServerConfig::default());
        let wire = b"NOOP\r\n".repeat(n);
        h.s.handle_input(h.now, &wire).unwrap();
        assert!(
            h.s.buffered_input() <= wire.len(),
            "nothing is held twice: {}",
            h.s.buffered_input()
        );
        h.drain();
        assert_eq!(h.replies(), vec!["200 NOOP ok."; n], "{n} NOOPs");
        assert!(!h.s.is_closed());
        assert_eq!(h.s.buffered_input(), 0);
        assert!(h.s.wants_read());
    }
}

#[test]
fn pipelined_commands_in_arbitrary_splits_are_all_answered_in_order() {
    let (wire, want) = pipelined_script(10_000);
    for (seed, max) in [(1u64, 7), (2, 300), (3, 5000), (4, 70_000)] {
        let mut h = H::new(ServerConfig::default());
        h.login();
        let mut seed = seed;
        let mut rest = &wire[..];
        while !rest.is_empty() {
            let n = chunk_len(&mut seed, max).min(rest.len());
            // Fed whether or not the session asked for more: framing must not lose or reorder
            // a line wherever the split and the queue's full point fall.
            h.s.handle_input(h.now, &rest[..n]).unwrap();
            rest = &rest[n..];
            if seed % 3 == 0 {
                h.drain();
            }
        }
        h.drain();
        assert_eq!(h.replies(), want, "chunks up to {max}");
        assert!(!h.s.is_closed());
    }
}

#[test]
fn an_adapter_reading_only_when_asked_keeps_the_held_input_bounded() {
    const READ: usize = 8 * 1024;
    let (wire, want) = pipelined_script(10_000);
    let mut h = H::new(ServerConfig::default());
    h.login();
    let mut socket = &wire[..];
    let mut most = 0;
    let mut reads = 0;
    while !socket.is_empty() {
        if h.s.wants_read() {
            let n = READ.min(socket.len());
            h.s.handle_input(h.now, &socket[..n]).unwrap();
            socket = &socket[n..];
            reads += 1;
        }
        most = most.max(h.s.buffered_input());
        // Drain one output at a time, as a slow writer would.
        if let Some(out) = h.s.poll_output() {
            match out {
                ServerOutput::Send(b) => h.wire.extend_from_slice(&b),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    h.drain();
    assert_eq!(h.replies(), want);
    assert!(reads > 1);
    assert!(
        most <= 16 * 1024 + READ,
        "held {most} bytes, more than the decoder's buffer and one read"
    );
}

#[test]
fn a_full_queue_stops_reading_and_a_line_split_at_the_full_point_is_kept() {
    let mut config = ServerConfig::default();
    config.max_pending_commands = 4;
    let mut h = H::new(config);
    // The login request holds every later command in the queue.
    let mut wire = b"USER a\r\nPASS b\r\n".to_vec();
    wire.extend_from_slice(&b"NOOP\r\n".repeat(6));
    wire.extend_from_slice(b"TY");
    h.input(&wire);
    let (id, _) = h.request();
    assert!(!h.s.wants_read(), "queue full: stop reading");
    // Four NOOPs framed (without their CRLF), two more and the partial line as bytes.
    assert_eq!(h.s.buffered_input(), 4 * 4 + 2 * 6 + 2);
    // A caller that feeds anyway (within the bound) loses nothing either.
    h.input(b"PE A\r\n");
    assert!(!h.s.wants_read());
    h.event(ServerEvent::Answer(
        id,
        Answer::LoggedIn { read_only: false },
    ));
    let mut want = vec!["331 Password required.", "230 Login successful."];
    want.extend(["200 NOOP ok."; 6]);
    want.push("200 Type set to A.");
    assert_eq!(h.replies(), want);
    assert!(h.s.wants_read());
    assert_eq!(h.s.buffered_input(), 0);
}

#[test]
fn input_fed_past_the_bound_while_the_queue_is_full_closes_with_421() {
    let mut h = H::new(ServerConfig::default());
    h.input(b"USER a\r\nPASS b\r\n");
    h.request();
    h.codes();
    let chunk = b"NOOP\r\n".repeat(10_000);
    let mut fed = 0;
    while !h.s.is_closed() {
        h.input(&chunk);
        fed += chunk.len();
        assert!(fed < 2 * 1024 * 1024, "never closed");
    }
    assert!(fed > 1024 * 1024, "closed after {fed} bytes");
    assert_eq!(
        h.replies(),
        ["421 Too many commands waiting; closing control connection."]
    );
    assert_eq!(h.take_outs(), [ServerOutput::Close]);
    assert_eq!(h.s.buffered_input(), 0, "the held input is freed");
}

#[test]
fn auth_tls_discards_plaintext_pipelined_past_the_full_queue() {
    let mut config = ServerConfig::default();
    config.tls = TlsMode::Explicit;
    let mut h = H::new(config);
    let mut wire = b"AUTH TLS\r\n".to_vec();
    wire.extend_from_slice(&b"USER evil\r\n".repeat(5000));
    h.input(&wire);
    assert_eq!(h.codes(), [234]);
    assert_eq!(h.take_outs(), [ServerOutput::StartTls]);
    assert_eq!(h.s.buffered_input(), 0, "nothing of the plaintext is kept");
    h.event(ServerEvent::TlsEstablished);
    assert!(h.replies().is_empty());
    h.input(b"NOOP\r\n");
    assert_eq!(h.codes(), [200]);
}

#[test]
fn shutdown_during_a_transfer_drops_unframed_commands_too() {
    let mut config = ServerConfig::default();
    config.max_pending_commands = 2;
    let mut h = H::new(config);
    let (data, _, _) = running_transfer(&mut h, b"RETR f\r\n");
    h.input(b"NOOP\r\nNOOP\r\nNOOP\r\nQUIT\r\nNO");
    assert!(h.replies().is_empty());
    h.s.handle_shutdown(h.now);
    h.drain();
    assert_eq!(h.s.buffered_input(), 2, "only the partial line stays");
    h.event(ServerEvent::TransferDone { id: data, bytes: 1 });
    assert_eq!(h.codes(), [226, 421]);
}

#[test]
fn garbage_and_unimplemented() {
    let mut h = H::new(ServerConfig::default());
    h.login();
    h.input(b"\xe3\xe3\xe3\r\nFOO bar\r\nSMNT x\r\nPASV junk\r\nREST -1\r\nTYPE E\r\nMODE B\r\nSTRU R\r\n\r\nNOOP\r\n");
    assert_eq!(
        h.codes(),
        [500, 500, 502, 501, 501, 504, 504, 504, 500, 200]
    );
}

#[test]
fn rein_resets_the_login() {
    let mut h = H::new(ServerConfig::default());
    h.login();
    h.input(b"REIN\r\nPWD\r\n");
    assert_eq!(h.codes(), [220, 530]);
}

#[test]
fn stat_with_path_lists_over_the_control_connection() {
    let mut h = H::new(ServerConfig::default());
    h.login();
    h.input(b"STAT /\r\n");
    let (rid, req) = h.storage();
    assert_eq!(req, StorageRequest::ReadDir { path: vp("/") });
    let now = Timestamp::from_unix(1_000_100_000, 0).unwrap();
    h.event(ServerEvent::Answer(
        rid,
        Answer::Entries {
            entries: vec![file(7)],
            now,
        },
    ));
    let lines = h.replies();
    assert_eq!(lines[0], "213-Status follows:");
    assert!(
        lines[1].starts_with("-") && lines[1].ends_with(" f"),
        "{lines:?}"
    );
    assert!(lines.last().unwrap().starts_with("213 "));
}

#[test]
fn misuse_is_a_typed_error() {
    let mut h = H::new(ServerConfig::default());
    let id = h.pasv_less_id();
    let err =
        h.s.handle_event(h.now, ServerEvent::TransferDone { id, bytes: 0 });
    assert!(err.is_err());
}

impl H {
    /// A data id this session never issued: make one by opening and replacing a channel in a
    /// separate session.
    fn pasv_less_id(&mut self) -> DataId {
        let mut other = H::new(ServerConfig::default());
        other.login();
        other.pasv(1025)
    }
}

#[test]
fn queued_output_limit_pauses_processing_until_drained() {
    let mut config = ServerConfig::default();
    config.max_queued_output = 300;
    let now = Instant::now();
    let mut s = ServerSession::new(
        Arc::new(config),
        PEER.parse().unwrap(),
        LOCAL.parse().unwrap(),
        now,
    );
    // Do not drain: the greeting plus HELP replies pile up until the limit stops the session.
    s.handle_input(now, b"HELP\r\nHELP\r\nHELP\r\nHELP\r\nNOOP\r\n")
        .unwrap();
    assert!(!s.wants_read(), "over the output limit: stop reading");
    let Some(ServerOutput::Send(first)) = s.poll_output() else {
        panic!("no reply")
    };
    let text = String::from_utf8(first.to_vec()).unwrap();
    assert_eq!(
        text.matches("214 ").count(),
        1,
        "processing paused at the limit: {text}"
    );
    assert!(s.wants_read());
    // Draining resumes the waiting commands without any further input.
    let mut rest = Vec::new();
    while let Some(ServerOutput::Send(b)) = s.poll_output() {
        rest.extend_from_slice(&b);
    }
    let text = String::from_utf8(rest).unwrap();
    assert_eq!(text.matches("214 ").count(), 3, "{text}");
    assert!(text.ends_with("200 NOOP ok.\r\n"));
}

#[test]
fn ccc_host_acct_lpsv_lprt_and_stat_during_transfer() {
    let mut config = ServerConfig::default();
    config.tls = TlsMode::Explicit;
    let mut h = H::new(config);
    h.input(b"CCC\r\nHOST ftp.example.com\r\nACCT x\r\n");
    assert_eq!(h.codes(), [533, 220, 202]);
    h.input(b"AUTH TLS\r\n");
    assert_eq!(h.codes(), [234]);
    assert_eq!(h.take_outs(), [ServerOutput::StartTls]);
    h.event(ServerEvent::TlsEstablished);
    h.input(b"USER alice\r\nPASS secret\r\n");
    let (id, req) = h.request();
    assert!(
        matches!(req, Request::Login { host: Some(ref host), .. } if &host[..] == b"ftp.example.com")
    );
    h.event(ServerEvent::Answer(
        id,
        Answer::LoggedIn { read_only: false },
    ));
    h.input(b"HOST other\r\nCCC\r\nPBSZ 0\r\n");
    assert_eq!(h.codes(), [331, 230, 503, 200, 503]);
    assert_eq!(h.take_outs(), [ServerOutput::StopTls]);

    h.input(b"LPRT 4,4,127,0,0,1,2,200,1\r\n");
    assert_eq!(h.codes(), [200]);
    h.input(b"LPSV\r\n");
    let id = match h.take_outs().as_slice() {
        [ServerOutput::Data(DataIntent::Close { .. }), ServerOutput::Data(DataIntent::Listen { id, .. })] => {
            *id
        }
        other => panic!("{other:?}"),
    };
    h.event(ServerEvent::Listening {
        id,
        addr: "127.0.0.1:1025".parse().unwrap(),
    });
    assert_eq!(
        h.replies(),
        ["228 Entering Long Passive Mode (4,4,127,0,0,1,2,4,1)"]
    );
    h.input(b"NLST\r\n");
    let (rid, req) = h.storage();
    assert!(matches!(
        req,
        StorageRequest::OpenList {
            format: ListFormat::Names,
            ..
        }
    ));
    h.event(ServerEvent::Answer(rid, Answer::Opened { size: None }));
    h.s.handle_data_accept(h.now, id, "127.0.0.1:1".parse().unwrap())
        .unwrap();
    h.event(ServerEvent::DataReady {
        id,
        tls_resumed: None,
    });
    h.codes();
    h.take_outs();
    h.input(b"STAT\r\n");
    assert_eq!(h.codes(), [211]);
    h.event(ServerEvent::TransferDone { id, bytes: 0 });
    assert_eq!(h.codes(), [226]);
}

#[test]
fn abor_after_pasv_releases_the_listener() {
    let mut h = H::new(ServerConfig::default());
    h.login();
    let id = h.pasv(50_060);
    h.replies();
    h.input(b"ABOR\r\n");
    assert_eq!(h.codes(), [225]);
    assert_eq!(
        h.take_outs(),
        [ServerOutput::Data(DataIntent::Close { id })]
    );
    h.input(b"LIST\r\n");
    assert_eq!(h.codes(), [425]);
}

#[test]
fn feat_lists_exactly_what_is_implemented() {
    let mut h = H::new(ServerConfig::default());
    h.input(b"FEAT\r\n");
    let lines = h.replies();
    assert_eq!(
        lines,
        [
            "211-Features:",
            " EPRT",
            " EPSV",
            " HOST",
            " LANG EN",
            " MDTM",
            " MFMT",
            " PASV",
            " REST STREAM",
            " SIZE",
            " TVFS",
            " UTF8",
            " MLST type*;size*;modify*;create;perm*;unique*;unix.mode;unix.ownername;unix.groupname;unix.nlink;",
            "211 End",
        ]
    );
    let mut config = ServerConfig::default();
    config.tls = TlsMode::Explicit;
    let mut h = H::new(config);
    h.input(b"FEAT\r\n");
    let lines = h.replies();
    for f in [" AUTH TLS", " PBSZ", " PROT"] {
        assert!(lines.iter().any(|l| l == f), "{f} missing from {lines:?}");
    }
    // Every advertised feature is answered by something other than 500/502.
    h.input(b"OPTS MLST type;\r\nLANG EN\r\nHOST a.example\r\n");
    assert_eq!(h.codes(), [200, 200, 220]);
}

#[test]
fn storage_failures_map_to_reply_codes() {
    // (command, failure answered, expected final reply)
    let cases: &[(&[u8], Failure, u16)] = &[
        (b"CWD nope", Failure::NotFound, 550),
        (b"MKD exists", Failure::AlreadyExists, 550),
        (b"MKD bad", Failure::InvalidName, 553),
        (b"RMD full", Failure::NotEmpty, 550),
        (b"DELE locked", Failure::PermissionDenied, 550),
        (b"DELE busy", Failure::Transient, 450),
        (b"RNFR nope", Failure::NotFound, 550),
        (b"SIZE nope", Failure::NotFound, 550),
        (b"MDTM nope", Failure::NotFound, 550),
        (b"MLST nope", Failure::NotFound, 550),
        (b"MFMT 20200101000000 nope", Failure::NotFound, 550),
        (
            b"SITE CHMOD 600 nope",
            Failure::Other("no chmod here".into()),
            550,
        ),
        (b"STAT nope", Failure::NotFound, 550),
    ];
    for (cmd, failure, code) in cases {
        let mut h = H::new(ServerConfig::default());
        h.login();
        let mut line = cmd.to_vec();
        line.extend_from_slice(b"\r\n");
        h.input(&line);
        let (rid, _) = h.storage();
        h.event(ServerEvent::Answer(rid, Answer::Failed(failure.clone())));
        assert_eq!(h.codes(), [*code], "{}", String::from_utf8_lossy(cmd));
    }
    // Transfer commands: the open fails before any 150.
    for (cmd, failure, code) in [
        (&b"RETR nope"[..], Failure::NotFound, 550u16),
        (b"STOR dir", Failure::IsADirectory, 550),
        (b"LIST nope", Failure::NotFound, 550),
        (b"NLST nope", Failure::PermissionDenied, 550),
        (b"STOU", Failure::NoSpace, 452),
    ] {
        let mut h = H::new(ServerConfig::default());
        h.login();
        h.pasv(50_070);
        h.replies();
        let mut line = cmd.to_vec();
        line.extend_from_slice(b"\r\n");
        h.input(&line);
        let (rid, _) = h.storage();
        h.event(ServerEvent::Answer(rid, Answer::Failed(failure)));
        assert_eq!(h.codes(), [code], "{}", String::from_utf8_lossy(cmd));
    }
}

#[test]
fn simple_commands_success_and_failure() {
    let mut h = H::new(ServerConfig::default());
    h.login();
    h.input(b"STRU F\r\nMODE S\r\nTYPE L 8\r\nTYPE A N\r\nALLO 100\r\nALLO x\r\nOPTS FOO\r\nOPTS UTF8 MAYBE\r\n");
    assert_eq!(h.codes(), [200, 200, 200, 200, 202, 501, 501, 501]);
    h.input(b"LANG FR\r\nADAT abc\r\nMIC abc\r\nAVBL\r\nPRET RETR x\r\nSITE FOO\r\nSITE HELP\r\n");
    assert_eq!(h.codes(), [504, 502, 502, 502, 502, 502, 214]);
    h.input(b"MFMT 2020 f\r\nHOST a:21\r\nEPRT |1|1.2.3.256|5|\r\nPORT 1,2,3\r\nCWD\r\n");
    assert_eq!(h.codes(), [501, 501, 501, 501, 501]);
}

#[test]
fn passive_listen_failure_is_425() {
    let mut h = H::new(ServerConfig::default());
    h.login();
    h.input(b"EPSV\r\n");
    let id = match h.take_outs().as_slice() {
        [ServerOutput::Data(DataIntent::Listen { id, .. })] => *id,
        other => panic!("{other:?}"),
    };
    h.event(ServerEvent::ListenFailed { id });
    assert_eq!(h.codes(), [425]);
    h.input(b"RETR f\r\n");
    assert_eq!(h.codes(), [425], "no channel after a failed listen");
}

#[test]
fn active_disabled_and_pasv_on_ipv6() {
    let mut config = ServerConfig::default();
    config.active_enabled = false;
    let mut h = H::new(config);
    h.login();
    h.input(b"PORT 127,0,0,1,200,1\r\n");
    assert_eq!(h.codes(), [502]);

    let now = Instant::now();
    let mut s = ServerSession::new(
        Arc::new(ServerConfig::default()),
        "[::1]:50000".parse().unwrap(),
        "[::1]:21".parse().unwrap(),
        now,
    );
    s.handle_input(now, b"USER a\r\nPASS b\r\n").unwrap();
    let mut wire = Vec::new();
    let mut login = None;
    while let Some(o) = s.poll_output() {
        match o {
            ServerOutput::Send(b) => wire.extend_from_slice(&b),
            ServerOutput::Request(id, _) => login = Some(id),
            _ => {}
        }
    }
    s.handle_event(
        now,
        ServerEvent::Answer(login.unwrap(), Answer::LoggedIn { read_only: false }),
    )
    .unwrap();
    s.handle_input(
        now,
        b"PASV\r\nEPSV 1\r\nEPRT |1|127.0.0.1|5000|\r\nEPRT |2|::1|5000|\r\n",
    )
    .unwrap();
    while let Some(o) = s.poll_output() {
        if let ServerOutput::Send(b) = o {
            wire.extend_from_slice(&b);
        }
    }
    let text = String::from_utf8(wire).unwrap();
    let codes: Vec<&str> = text.lines().map(|l| &l[..3]).collect();
    assert_eq!(
        codes,
        ["220", "331", "230", "425", "522", "522", "200"],
        "{text}"
    );
}

#[test]
fn eprt_unspecified_address_means_the_client() {
    let now = Instant::now();
    let mut s = ServerSession::new(
        Arc::new(ServerConfig::default()),
        "[::1]:50000".parse().unwrap(),
        "[::1]:21".parse().unwrap(),
        now,
    );
    s.handle_input(now, b"USER a\r\nPASS b\r\n").unwrap();
    let mut login = None;
    while let Some(o) = s.poll_output() {
        if let ServerOutput::Request(id, _) = o {
            login = Some(id);
        }
    }
    s.handle_event(
        now,
        ServerEvent::Answer(login.unwrap(), Answer::LoggedIn { read_only: false }),
    )
    .unwrap();
    s.handle_input(now, b"EPRT |2|::|50001|\r\nRETR f\r\n")
        .unwrap();
    let mut open = None;
    while let Some(o) = s.poll_output() {
        if let ServerOutput::Request(id, _) = o {
            open = Some(id);
        }
    }
    s.handle_event(
        now,
        ServerEvent::Answer(open.unwrap(), Answer::Opened { size: None }),
    )
    .unwrap();
    let mut connect = None;
    while let Some(o) = s.poll_output() {
        if let ServerOutput::Data(DataIntent::Connect { addr, .. }) = o {
            connect = Some(addr);
        }
    }
    assert_eq!(connect, Some("[::1]:50001".parse().unwrap()));
}

#[test]
fn shutdown_when_idle_and_after_a_transfer() {
    let mut h = H::new(ServerConfig::default());
    h.login();
    h.s.handle_shutdown(h.now);
    h.drain();
    assert_eq!(h.codes(), [421]);
    assert_eq!(h.take_outs(), [ServerOutput::Close]);

    let mut h = H::new(ServerConfig::default());
    h.login();
    let id = h.pasv(50_080);
    h.replies();
    h.input(b"RETR f\r\n");
    let (rid, _) = h.storage();
    h.event(ServerEvent::Answer(rid, Answer::Opened { size: None }));
    h.s.handle_data_accept(h.now, id, "127.0.0.1:1".parse().unwrap())
        .unwrap();
    h.event(ServerEvent::DataReady {
        id,
        tls_resumed: None,
    });
    h.codes();
    h.take_outs();
    h.s.handle_shutdown(h.now);
    h.drain();
    assert!(h.replies().is_empty(), "the transfer may finish");
    h.input(b"NOOP\r\n");
    assert!(h.replies().is_empty());
    h.event(ServerEvent::TransferDone { id, bytes: 9 });
    assert_eq!(h.codes(), [226, 421]);
    assert_eq!(h.take_outs(), [ServerOutput::Close]);
}

#[test]
fn control_connection_closed_aborts_the_transfer() {
    let mut h = H::new(ServerConfig::default());
    h.login();
    let id = h.pasv(50_090);
    h.replies();
    h.input(b"STOR f\r\n");
    let (rid, _) = h.storage();
    h.event(ServerEvent::Answer(rid, Answer::Opened { size: None }));
    h.s.handle_data_accept(h.now, id, "127.0.0.1:1".parse().unwrap())
        .unwrap();
    h.event(ServerEvent::DataReady {
        id,
        tls_resumed: None,
    });
    h.codes();
    h.take_outs();
    h.s.handle_control_closed(h.now);
    h.drain();
    assert!(h.replies().is_empty());
    assert_eq!(
        h.take_outs(),
        [
            ServerOutput::Data(DataIntent::Abort { id }),
            ServerOutput::Close
        ]
    );
    assert!(h.s.is_closed());
}

#[test]
fn refusal_replies_are_421() {
    use ftp_proto::server::{refusal_reply, Refusal};
    assert_eq!(
        &refusal_reply(Refusal::TooManyConnections)[..],
        b"421 Too many connections; try again later.\r\n"
    );
    assert!(refusal_reply(Refusal::TooManyFromAddress).starts_with(b"421 "));
    assert!(refusal_reply(Refusal::ShuttingDown).starts_with(b"421 "));
}

#[test]
fn names_with_control_bytes_are_not_created() {
    let mut h = H::new(ServerConfig::default());
    h.login();
    h.pasv(50_100);
    h.replies();
    h.input(b"MKD a\x01b\r\nMKD a\r\0b\r\nSTOR x\x1b[31m\r\nAPPE \x7f\r\n");
    assert_eq!(h.codes(), [553, 553, 553, 553]);
    assert!(h.take_outs().is_empty(), "nothing was asked of storage");
    h.input(b"RNFR a\r\n");
    let (rid, _) = h.storage();
    h.event(ServerEvent::Answer(
        rid,
        Answer::Metadata(Box::new(file(1))),
    ));
    h.input(b"RNTO b\tc\r\n");
    assert_eq!(h.codes(), [350, 553]);
    // Reading such names stays possible: they may exist on disk already.
    h.input(b"RETR a\x01b\r\n");
    let (_, req) = h.storage();
    assert!(matches!(req, StorageRequest::OpenRead { .. }));
}

#[test]
fn rest_does_not_survive_unrelated_commands() {
    let mut h = H::new(ServerConfig::default());
    h.login();
    h.input(b"REST 100\r\nPWD\r\n");
    h.codes();
    h.pasv(50_110);
    h.replies();
    h.input(b"STOR f\r\n");
    let (_, req) = h.storage();
    assert_eq!(
        req,
        StorageRequest::OpenWrite {
            path: vp("/f"),
            mode: WriteMode::Truncate
        }
    );
}

#[test]
fn rein_and_auth_reset_the_session_parameters() {
    let mut config = ServerConfig::default();
    config.tls = TlsMode::Explicit;
    let mut h = H::new(config);
    h.login();
    h.input(b"EPSV ALL\r\nREIN\r\n");
    assert_eq!(h.codes(), [200, 220]);
    h.login();
    h.pasv(50_120);
    assert_eq!(h.codes(), [227], "EPSV ALL was reset by REIN");
    h.input(b"AUTH TLS\r\n");
    assert_eq!(h.codes(), [234]);
    assert!(matches!(
        h.take_outs().as_slice(),
        [
            ServerOutput::Data(DataIntent::Close { .. }),
            ServerOutput::StartTls
        ]
    ));
}

#[test]
fn quit_waiting_on_a_refused_tls_data_connection_is_answered() {
    let mut config = ServerConfig::default();
    config.tls = TlsMode::Explicit;
    config.require_tls_session_reuse = true;
    let mut h = H::new(config);
    h.input(b"AUTH TLS\r\n");
    h.codes();
    h.take_outs();
    h.event(ServerEvent::TlsEstablished);
    h.login();
    h.input(b"PBSZ 0\r\nPROT P\r\n");
    h.codes();
    let id = h.pasv(50_130);
    h.replies();
    h.input(b"RETR f\r\n");
    let (rid, _) = h.storage();
    h.event(ServerEvent::Answer(rid, Answer::Opened { size: None }));
    h.codes();
    h.input(b"QUIT\r\n");
    h.s.handle_data_accept(h.now, id, "127.0.0.1:9".parse().unwrap())
        .unwrap();
    h.event(ServerEvent::DataReady {
        id,
        tls_resumed: Some(false),
    });
    assert_eq!(h.codes(), [522, 221]);
    assert_eq!(
        h.take_outs(),
        [
            ServerOutput::Data(DataIntent::Close { id }),
            ServerOutput::Release(rid),
            ServerOutput::Close
        ]
    );
}

#[test]
fn unsupported_storage_operation_is_502() {
    // A plain storage request: the reply says the command cannot work here at all.
    for cmd in [&b"SITE CHMOD 600 f"[..], b"MFMT 20200101000000 f", b"MKD x"] {
        let mut h = H::new(ServerConfig::default());
        h.login();
        let mut line = cmd.to_vec();
        line.extend_from_slice(b"\r\n");
        h.input(&line);
        let (rid, _) = h.storage();
        h.event(ServerEvent::Answer(
            rid,
            Answer::Failed(Failure::Unsupported),
        ));
        assert_eq!(
            h.replies(),
            ["502 Command not implemented for this storage."],
            "{}",
            String::from_utf8_lossy(cmd)
        );
    }
    // Opening a transfer (an object store asked to append): 502 before any 150, and the
    // session goes on.
    let mut h = H::new(ServerConfig::default());
    h.login();
    h.pasv(50_140);
    h.replies();
    h.input(b"APPE log.txt\r\n");
    let (rid, req) = h.storage();
    assert_eq!(
        req,
        StorageRequest::OpenWrite {
            path: vp("/log.txt"),
            mode: WriteMode::Append
        }
    );
    h.event(ServerEvent::Answer(
        rid,
        Answer::Failed(Failure::Unsupported),
    ));
    assert_eq!(h.codes(), [502]);
    assert!(h.take_outs().is_empty());
    h.input(b"NOOP\r\n");
    assert_eq!(h.codes(), [200]);
}

#[test]
fn login_request_says_whether_the_core_treats_it_as_anonymous() {
    use ftp_proto::server::is_anonymous_user;
    for (user, anonymous) in [
        (&b"anonymous"[..], true),
        (b"ANONYMOUS", true),
        (b"ftp", true),
        (b"Ftp", true),
        (b"anon", false),
        (b"ftpuser", false),
        (b"alice", false),
    ] {
        assert_eq!(is_anonymous_user(user), anonymous);
        let mut config = ServerConfig::default();
        config.anonymous = true;
        let mut h = H::new(config);
        let mut line = b"USER ".to_vec();
        line.extend_from_slice(user);
        line.extend_from_slice(b"\r\nPASS me@example.com\r\n");
        h.input(&line);
        match h.request() {
            (
                _,
                Request::Login {
                    user: u,
                    anonymous: a,
                    ..
                },
            ) => {
                assert_eq!(&u[..], user);
                assert_eq!(a, anonymous, "{}", String::from_utf8_lossy(user));
            }
            other => panic!("{other:?}"),
        }
    }
    // With anonymous access off, such names never reach the authenticator; others do, and
    // are not anonymous.
    let mut h = H::new(ServerConfig::default());
    h.input(b"USER FTP\r\nPASS x\r\n");
    assert!(h.take_outs().is_empty());
    h.advance(Duration::from_secs(1));
    assert_eq!(h.codes(), [331, 530]);
    h.input(b"USER bob\r\nPASS x\r\n");
    assert!(matches!(
        h.request(),
        (
            _,
            Request::Login {
                anonymous: false,
                ..
            }
        )
    ));
}

/// Logs in, sets up a passive channel and opens `RETR f`, answered `Opened`: the transfer waits
/// for the data connection. Returns the channel and the handle's request id.
fn opened_waiting_for_connection(h: &mut H, port: u16) -> (DataId, RequestId) {
    h.login();
    let id = h.pasv(port);
    h.replies();
    h.input(b"RETR f\r\n");
    let (rid, _) = h.storage();
    h.event(ServerEvent::Answer(rid, Answer::Opened { size: None }));
    assert_eq!(h.codes(), [150]);
    assert!(h.take_outs().is_empty());
    (id, rid)
}

#[test]
fn opened_handle_is_released_when_the_data_connection_fails() {
    // Active mode: the connect fails.
    let mut h = H::new(ServerConfig::default());
    h.login();
    h.input(b"PORT 127,0,0,1,200,1\r\nSTOR f\r\n");
    let (rid, _) = h.storage();
    h.event(ServerEvent::Answer(rid, Answer::Opened { size: None }));
    let id = match h.take_outs().as_slice() {
        [ServerOutput::Data(DataIntent::Connect { id, .. })] => *id,
        other => panic!("{other:?}"),
    };
    h.event(ServerEvent::DataFailed { id });
    assert_eq!(h.codes(), [200, 150, 425]);
    assert_eq!(h.take_outs(), [ServerOutput::Release(rid)]);
    h.input(b"NOOP\r\n");
    assert_eq!(h.codes(), [200]);
    assert!(h.take_outs().is_empty(), "released once");

    // Passive mode: the accepted connection fails (e.g. its TLS handshake).
    let mut h = H::new(ServerConfig::default());
    let (id, rid) = opened_waiting_for_connection(&mut h, 50_150);
    h.s.handle_data_accept(h.now, id, "127.0.0.1:1".parse().unwrap())
        .unwrap();
    h.event(ServerEvent::DataFailed { id });
    assert_eq!(h.codes(), [425]);
    assert_eq!(h.take_outs(), [ServerOutput::Release(rid)]);
}

#[test]
fn opened_handle_is_released_when_the_listener_fails() {
    // The listener is lost while the transfer waits on it: 425 at once, handle released.
    let mut h = H::new(ServerConfig::default());
    let (id, rid) = opened_waiting_for_connection(&mut h, 50_160);
    h.event(ServerEvent::ListenFailed { id });
    assert_eq!(h.codes(), [425]);
    assert_eq!(h.take_outs(), [ServerOutput::Release(rid)]);
    assert_ne!(
        h.s.poll_timeout(),
        Some(h.now + Duration::from_secs(30)),
        "no data timer left"
    );

    // The listener is lost while the open request is out: the handle arrives to no channel.
    let mut h = H::new(ServerConfig::default());
    h.login();
    let id = h.pasv(50_161);
    h.replies();
    h.input(b"RETR f\r\n");
    let (rid, _) = h.storage();
    h.event(ServerEvent::ListenFailed { id });
    assert!(h.replies().is_empty());
    h.event(ServerEvent::Answer(rid, Answer::Opened { size: None }));
    assert_eq!(h.codes(), [425]);
    assert_eq!(h.take_outs(), [ServerOutput::Release(rid)]);
}

#[test]
fn opened_handle_is_released_on_abor_and_close_before_the_transfer_starts() {
    let mut h = H::new(ServerConfig::default());
    let (id, rid) = opened_waiting_for_connection(&mut h, 50_170);
    h.input(b"ABOR\r\n");
    assert_eq!(h.codes(), [426, 226]);
    assert_eq!(
        h.take_outs(),
        [
            ServerOutput::Data(DataIntent::Abort { id }),
            ServerOutput::Release(rid)
        ]
    );
    // A late accept on the closed listener is refused; nothing more is released.
    assert!(h
        .s
        .handle_data_accept(h.now, id, "127.0.0.1:1".parse().unwrap())
        .is_err());
    h.input(b"NOOP\r\n");
    assert_eq!(h.codes(), [200]);
    assert!(h.take_outs().is_empty());

    // The control connection closes: Release comes before Close.
    let mut h = H::new(ServerConfig::default());
    let (id, rid) = opened_waiting_for_connection(&mut h, 50_171);
    h.s.handle_control_closed(h.now);
    h.drain();
    assert_eq!(
        h.take_outs(),
        [
            ServerOutput::Data(DataIntent::Abort { id }),
            ServerOutput::Release(rid),
            ServerOutput::Close
        ]
    );

    // QUIT waits for the transfer, then the data timeout ends it: released, then 221.
    let mut h = H::new(ServerConfig::default());
    let (id, rid) = opened_waiting_for_connection(&mut h, 50_172);
    h.input(b"QUIT\r\n");
    assert!(h.replies().is_empty());
    h.advance(Duration::from_secs(30));
    assert_eq!(h.codes(), [425, 221]);
    assert_eq!(
        h.take_outs(),
        [
            ServerOutput::Data(DataIntent::Close { id }),
            ServerOutput::Release(rid),
            ServerOutput::Close
        ]
    );
}

#[test]
fn a_handle_taken_by_a_transfer_is_never_released() {
    for end in 0..4 {
        let mut h = H::new(ServerConfig::default());
        let (id, rid) = opened_waiting_for_connection(&mut h, 50_180);
        h.s.handle_data_accept(h.now, id, "127.0.0.1:1".parse().unwrap())
            .unwrap();
        h.event(ServerEvent::DataReady {
            id,
            tls_resumed: None,
        });
        assert_eq!(
            h.take_outs(),
            [ServerOutput::Data(DataIntent::Transfer {
                id,
                source: rid,
                direction: Direction::Send,
                ascii: false
            })]
        );
        match end {
            0 => h.event(ServerEvent::TransferDone { id, bytes: 3 }),
            1 => h.event(ServerEvent::TransferFailed {
                id,
                error: TransferError::ConnectionLost,
            }),
            2 => h.input(b"ABOR\r\n"),
            _ => {
                h.s.handle_control_closed(h.now);
                h.drain();
            }
        }
        let outs = h.take_outs();
        assert!(
            !outs.iter().any(|o| matches!(o, ServerOutput::Release(_))),
            "{end}: {outs:?}"
        );
    }
}

/// Logs in and runs `cmd` (a RETR or STOR) over a passive channel up to its `Transfer` intent;
/// `stale` is an earlier channel of the same session, replaced before the transfer. Returns
/// (channel, stale channel, handle).
fn running_transfer(h: &mut H, cmd: &[u8]) -> (DataId, DataId, RequestId) {
    h.login();
    let stale = h.pasv(50_190);
    h.replies();
    let id = h.pasv(50_191);
    h.replies();
    h.input(cmd);
    let (rid, _) = h.storage();
    h.event(ServerEvent::Answer(rid, Answer::Opened { size: None }));
    h.s.handle_data_accept(h.now, id, "127.0.0.1:1".parse().unwrap())
        .unwrap();
    h.event(ServerEvent::DataReady {
        id,
        tls_resumed: None,
    });
    assert_eq!(h.codes(), [150]);
    assert!(matches!(
        h.take_outs().as_slice(),
        [ServerOutput::Data(DataIntent::Transfer { .. })]
    ));
    (id, stale, rid)
}

#[test]
fn progress_reports_move_the_transfer_deadline() {
    let mut h = H::new(ServerConfig::default());
    let (id, stale, _) = running_transfer(&mut h, b"RETR f\r\n");
    let start = h.now;
    assert_eq!(h.s.poll_timeout(), Some(start + Duration::from_secs(30)));
    // The timer fires; the adapter reports the count first, as the contract asks.
    h.now += Duration::from_secs(30);
    h.s.handle_data_progress(h.now, id, 4096);
    h.advance(Duration::ZERO);
    assert!(h.replies().is_empty(), "bytes moved: not stalled");
    assert!(h.take_outs().is_empty());
    let moved = h.now;
    assert_eq!(h.s.poll_timeout(), Some(moved + Duration::from_secs(30)));
    // No greater count, another channel's count, an unknown channel: nothing changes.
    h.now += Duration::from_secs(10);
    h.s.handle_data_progress(h.now, id, 4096);
    h.s.handle_data_progress(h.now, id, 100);
    h.s.handle_data_progress(h.now, stale, 1 << 40);
    assert_eq!(h.s.poll_timeout(), Some(moved + Duration::from_secs(30)));
    h.drain();
    assert!(h.replies().is_empty() && h.take_outs().is_empty());
    h.s.handle_data_progress(h.now, id, 4097);
    assert_eq!(h.s.poll_timeout(), Some(h.now + Duration::from_secs(30)));
    h.event(ServerEvent::TransferDone { id, bytes: 5000 });
    assert_eq!(h.codes(), [226]);
    // Back to the idle timer only.
    assert_eq!(h.s.poll_timeout(), Some(h.now + Duration::from_secs(300)));
}

#[test]
fn a_stalled_transfer_is_aborted_with_426_and_the_session_goes_on() {
    let mut h = H::new(ServerConfig::default());
    let (id, _, _) = running_transfer(&mut h, b"STOR up\r\n");
    h.now += Duration::from_secs(10);
    h.s.handle_data_progress(h.now, id, 10);
    h.advance(Duration::from_secs(29));
    assert!(h.replies().is_empty());
    // Progress reported with the same count: still stalled.
    h.now += Duration::from_secs(1);
    h.s.handle_data_progress(h.now, id, 10);
    h.advance(Duration::ZERO);
    assert_eq!(
        h.replies(),
        ["426 Data connection timed out; transfer aborted."]
    );
    assert_eq!(
        h.take_outs(),
        [ServerOutput::Data(DataIntent::Abort { id })],
        "aborted; the transfer owned the handle, so no Release"
    );
    // The transfer's late end is refused and answers nothing.
    for late in [
        ServerEvent::TransferDone { id, bytes: 10 },
        ServerEvent::TransferFailed {
            id,
            error: TransferError::ConnectionLost,
        },
    ] {
        assert!(h.s.handle_event(h.now, late).is_err());
        h.drain();
        assert!(h.replies().is_empty());
        assert!(h.take_outs().is_empty());
    }
    h.s.handle_data_progress(h.now, id, 11);
    h.input(b"NOOP\r\n");
    assert_eq!(h.codes(), [200]);
    assert_eq!(h.s.poll_timeout(), Some(h.now + Duration::from_secs(300)));
}

#[test]
fn a_stalled_transfer_lets_a_waiting_quit_or_shutdown_go_ahead() {
    let mut h = H::new(ServerConfig::default());
    let (id, _, _) = running_transfer(&mut h, b"RETR f\r\n");
    h.input(b"QUIT\r\n");
    assert!(h.replies().is_empty());
    h.advance(Duration::from_secs(30));
    assert_eq!(h.codes(), [426, 221]);
    assert_eq!(
        h.take_outs(),
        [
            ServerOutput::Data(DataIntent::Abort { id }),
            ServerOutput::Close
        ]
    );

    let mut h = H::new(ServerConfig::default());
    let (id, _, _) = running_transfer(&mut h, b"RETR f\r\n");
    h.s.handle_shutdown(h.now);
    h.advance(Duration::from_secs(30));
    assert_eq!(h.codes(), [426, 421]);
    assert_eq!(
        h.take_outs(),
        [
            ServerOutput::Data(DataIntent::Abort { id }),
            ServerOutput::Close
        ]
    );
}

#[test]
fn a_data_timeout_too_large_for_the_clock_means_no_deadline() {
    let mut config = ServerConfig::default();
    config.data_timeout = Duration::MAX;
    let mut h = H::new(config);
    let (id, _, _) = running_transfer(&mut h, b"RETR f\r\n");
    // Only the idle timer would be left, and it does not run during a transfer.
    assert_eq!(h.s.poll_timeout(), None);
    h.advance(Duration::from_secs(3600));
    h.s.handle_data_progress(h.now, id, 1);
    assert!(h.replies().is_empty());
    h.event(ServerEvent::TransferDone { id, bytes: 1 });
    assert_eq!(h.codes(), [226]);
}

/// An FTPS session with PROT P running `cmd` over a passive TLS data connection, up to its
/// `Transfer` intent; returns the channel.
fn tls_transfer(h: &mut H, cmd: &[u8]) -> DataId {
    h.input(b"AUTH TLS\r\n");
    assert_eq!(h.take_outs(), [ServerOutput::StartTls]);
    h.event(ServerEvent::TlsEstablished);
    h.codes();
    h.login();
    h.input(b"PBSZ 0\r\nPROT P\r\n");
    assert_eq!(h.codes(), [200, 200]);
    let id = h.pasv(50_200);
    h.replies();
    h.input(cmd);
    let (rid, _) = h.storage();
    h.event(ServerEvent::Answer(rid, Answer::Opened { size: None }));
    assert_eq!(
        h.s.handle_data_accept(h.now, id, "127.0.0.1:1".parse().unwrap())
            .unwrap(),
        Accept::Use { tls: true }
    );
    h.event(ServerEvent::DataReady {
        id,
        tls_resumed: Some(true),
    });
    assert_eq!(h.codes(), [150]);
    assert!(matches!(
        h.take_outs().as_slice(),
        [ServerOutput::Data(DataIntent::Transfer { .. })]
    ));
    id
}

fn tls_config(accept_truncated: bool) -> ServerConfig {
    let mut config = ServerConfig::default();
    config.tls = TlsMode::Explicit;
    config.accept_truncated_tls_uploads = accept_truncated;
    config
}

#[test]
fn a_truncated_tls_upload_is_451_by_default() {
    assert!(!ServerConfig::default().accept_truncated_tls_uploads);
    let mut h = H::new(tls_config(false));
    let id = tls_transfer(&mut h, b"STOR up.bin\r\n");
    h.input(b"QUIT\r\n");
    h.event(ServerEvent::TransferTruncated { id, bytes: 512 });
    assert_eq!(
        h.replies(),
        [
            "451 Upload incomplete: TLS data connection closed without close_notify.",
            "221 Goodbye."
        ]
    );
    assert_eq!(h.take_outs(), [ServerOutput::Close]);

    // The session goes on after it like after any failed transfer; the channel is gone.
    let mut h = H::new(tls_config(false));
    let id = tls_transfer(&mut h, b"APPE up.bin\r\n");
    h.event(ServerEvent::TransferTruncated { id, bytes: 512 });
    assert_eq!(h.codes(), [451]);
    assert!(h
        .s
        .handle_event(h.now, ServerEvent::TransferDone { id, bytes: 512 })
        .is_err());
    h.input(b"NOOP\r\nSTOR again\r\n");
    assert_eq!(h.codes(), [200, 425]);
}

#[test]
fn a_truncated_tls_upload_is_226_when_configured() {
    let mut h = H::new(tls_config(true));
    let id = tls_transfer(&mut h, b"STOR up.bin\r\n");
    h.event(ServerEvent::TransferTruncated { id, bytes: 512 });
    assert_eq!(h.replies(), ["226 Transfer complete (512 bytes)."]);
}

#[test]
fn truncation_reported_for_a_download_or_a_plain_upload_counts_as_done() {
    // A download: the client's missing close_notify says nothing about the file.
    let mut h = H::new(tls_config(false));
    let id = tls_transfer(&mut h, b"RETR f\r\n");
    h.event(ServerEvent::TransferTruncated { id, bytes: 7 });
    assert_eq!(h.replies(), ["226 Transfer complete (7 bytes)."]);
    // An upload without TLS: there is no close_notify to miss.
    let mut h = H::new(ServerConfig::default());
    let (id, _, _) = running_transfer(&mut h, b"STOR up\r\n");
    h.event(ServerEvent::TransferTruncated { id, bytes: 7 });
    assert_eq!(h.replies(), ["226 Transfer complete (7 bytes)."]);
    // Too late: the transfer was aborted already.
    let mut h = H::new(tls_config(false));
    let id = tls_transfer(&mut h, b"STOR up.bin\r\n");
    h.input(b"ABOR\r\n");
    assert_eq!(h.codes(), [426, 226]);
    assert!(h
        .s
        .handle_event(h.now, ServerEvent::TransferTruncated { id, bytes: 1 })
        .is_err());
    h.drain();
    assert!(h.replies().is_empty());
}

#[test]
fn handle_calls_between_polls_queue_their_outputs_after_the_unpolled_ones() {
    let mut h = H::new(ServerConfig::default());
    h.login();
    h.input(b"PORT 127,0,0,1,200,1\r\n");
    assert_eq!(h.codes(), [200]);
    let s = &mut h.s;
    let now = h.now;
    let send = |o: Option<ServerOutput>| match o {
        Some(ServerOutput::Send(b)) => String::from_utf8(b.to_vec()).unwrap(),
        other => panic!("expected Send, got {other:?}"),
    };

    s.handle_input(now, b"RETR f\r\n").unwrap();
    let Some(ServerOutput::Request(rid, _)) = s.poll_output() else {
        panic!("no request")
    };
    // More client bytes arrive before the drain ends: a Telnet DO (answered at once) and a
    // STAT that waits behind the request.
    s.handle_input(now, b"\xff\xfd\x18STAT\r\n").unwrap();
    // A synchronous storage answers right away, with the Telnet answer still unpolled.
    s.handle_event(
        now,
        ServerEvent::Answer(rid, Answer::Opened { size: Some(5) }),
    )
    .unwrap();
    assert_eq!(
        s.poll_output(),
        Some(ServerOutput::Send(bytes::Bytes::from_static(
            b"\xff\xfc\x18"
        )))
    );
    assert_eq!(
        send(s.poll_output()),
        "150 Opening BINARY mode data connection (5 bytes).\r\n"
    );
    let Some(ServerOutput::Data(DataIntent::Connect { id, .. })) = s.poll_output() else {
        panic!("no connect")
    };
    // The connect succeeds at once, while the STAT reply (produced earlier) is still
    // unpolled: it comes first, then the intent the event produced.
    s.handle_event(
        now,
        ServerEvent::DataReady {
            id,
            tls_resumed: None,
        },
    )
    .unwrap();
    assert_eq!(send(s.poll_output()), "211 Transfer in progress.\r\n");
    assert_eq!(
        s.poll_output(),
        Some(ServerOutput::Data(DataIntent::Transfer {
            id,
            source: rid,
            direction: Direction::Send,
            ascii: false
        }))
    );
    assert_eq!(s.poll_output(), None);

    // ABOR; the transfer's own end arrives after the Abort was polled but before the replies
    // were: refused, and it changes nothing that is queued.
    s.handle_input(now, b"ABOR\r\n").unwrap();
    assert_eq!(
        s.poll_output(),
        Some(ServerOutput::Notice(Notice::TransferAborted {
            id,
            direction: Direction::Send,
            cause: AbortCause::ClientAbort
        }))
    );
    assert_eq!(
        s.poll_output(),
        Some(ServerOutput::Data(DataIntent::Abort { id }))
    );
    assert!(s
        .handle_event(now, ServerEvent::TransferDone { id, bytes: 5 })
        .is_err());
    assert_eq!(
        send(s.poll_output()),
        "426 Connection closed; transfer aborted.\r\n226 Abort successful.\r\n"
    );
    assert_eq!(s.poll_output(), None);
}

#[test]
fn unknown_extended_network_protocol_is_522_listing_the_supported_ones() {
    let mut h = H::new(ServerConfig::default());
    h.login();
    for cmd in [
        &b"EPRT |3|1.2.3.4|5282|\r\n"[..],
        b"EPSV 3\r\n",
        b"EPRT |9|x|1|\r\n",
    ] {
        h.input(cmd);
        let lines = h.replies();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].starts_with("522 ") && lines[0].ends_with(" (1,2)"),
            "RFC 2428 §2: {lines:?}"
        );
        assert!(h.take_outs().is_empty(), "no data channel for {cmd:?}");
    }
    // The family the client is not on names only the one this connection can use.
    h.input(b"EPRT |2|::1|5282|\r\n");
    assert_eq!(h.replies(), ["522 Network protocol not supported, use (1)"]);
    // LPRT's unknown family is 521 with RFC 1639 §4's list.
    h.input(b"LPRT 5,4,127,0,0,1,2,200,1\r\n");
    assert_eq!(h.replies(), ["521 Supported address families are (4, 6)"]);
}

#[test]
fn a_session_that_never_logs_in_is_closed_at_the_login_timeout() {
    let mut h = H::new(ServerConfig::default());
    let start = h.now;
    assert_eq!(h.s.poll_timeout(), Some(start + Duration::from_secs(60)));
    // A NOOP every 5 s keeps the idle timer fresh but not the login deadline.
    for _ in 0..11 {
        h.advance(Duration::from_secs(5));
        h.input(b"NOOP\r\n");
        assert_eq!(h.codes(), [200]);
        assert_eq!(h.s.poll_timeout(), Some(start + Duration::from_secs(60)));
    }
    h.advance(Duration::from_secs(4));
    assert!(h.replies().is_empty());
    h.advance(Duration::from_secs(1));
    assert_eq!(
        h.replies(),
        ["421 Login timeout; closing control connection."]
    );
    assert_eq!(h.take_outs(), [ServerOutput::Close]);
    assert!(h.s.is_closed());
}

#[test]
fn input_after_the_login_deadline_is_not_served() {
    let mut h = H::new(ServerConfig::default());
    // The adapter's timer has not fired yet, but the login arrives too late.
    h.now += Duration::from_secs(60);
    h.input(b"USER alice\r\nPASS secret\r\n");
    assert_eq!(h.codes(), [421]);
    assert_eq!(h.take_outs(), [ServerOutput::Close]);
}

#[test]
fn a_login_clears_the_login_timeout_and_a_logout_restarts_it() {
    let mut h = H::new(ServerConfig::default());
    h.now += Duration::from_secs(50);
    h.login();
    assert_eq!(h.s.poll_timeout(), Some(h.now + Duration::from_secs(300)));
    h.advance(Duration::from_secs(30));
    assert!(h.replies().is_empty(), "logged in past the first minute");
    h.input(b"REIN\r\n");
    assert_eq!(h.codes(), [220]);
    let rein = h.now;
    assert_eq!(h.s.poll_timeout(), Some(rein + Duration::from_secs(60)));
    // REIN again while logged out does not push the deadline back.
    h.advance(Duration::from_secs(30));
    h.input(b"REIN\r\n");
    assert_eq!(h.codes(), [220]);
    assert_eq!(h.s.poll_timeout(), Some(rein + Duration::from_secs(60)));
    h.advance(Duration::from_secs(30));
    assert_eq!(h.codes(), [421]);
}

#[test]
fn a_login_timeout_too_large_for_the_clock_means_no_limit() {
    let mut config = ServerConfig::default();
    config.login_timeout = Duration::MAX;
    let mut h = H::new(config);
    assert_eq!(h.s.poll_timeout(), Some(h.now + Duration::from_secs(300)));
    h.advance(Duration::from_secs(299));
    assert!(h.replies().is_empty());
}

#[test]
fn the_login_timeout_fires_while_the_authenticator_is_asked() {
    let mut h = H::new(ServerConfig::default());
    h.input(b"USER alice\r\nPASS secret\r\n");
    let (id, _) = h.request();
    h.advance(Duration::from_secs(60));
    assert_eq!(h.codes(), [331, 421]);
    assert_eq!(h.take_outs(), [ServerOutput::Close]);
    assert!(h
        .s
        .handle_event(
            h.now,
            ServerEvent::Answer(id, Answer::LoggedIn { read_only: false })
        )
        .is_err());
}

// ----- notices: what the core refuses or aborts on its own, for the operator's log -----

#[test]
fn bounce_refusals_emit_a_notice_with_the_target_and_the_rule() {
    let mut h = H::new(ServerConfig::default());
    h.login();
    h.input(b"PORT 127,0,0,2,200,1\r\nPORT 127,0,0,1,0,80\r\n");
    h.input(b"EPRT |1|10.0.0.1|5000|\r\nLPRT 4,4,127,0,0,1,2,0,25\r\n");
    assert_eq!(h.codes(), [501, 501, 501, 501]);
    let refused = |target: &str, reason| Notice::ActiveRefused {
        target: target.parse().unwrap(),
        reason,
    };
    assert_eq!(
        h.take_notices(),
        [
            refused("127.0.0.2:51201", ActiveRefusal::ForeignAddress),
            refused("127.0.0.1:80", ActiveRefusal::PrivilegedPort),
            refused("10.0.0.1:5000", ActiveRefusal::ForeignAddress),
            refused("127.0.0.1:25", ActiveRefusal::PrivilegedPort),
        ]
    );
    // What the rules allow, and refusals that are no bounce (a family mismatch), say nothing.
    h.input(b"PORT 127,0,0,1,200,1\r\nEPRT |2|::1|5000|\r\n");
    assert_eq!(h.codes(), [200, 522]);
    assert!(h.take_notices().is_empty());
}

#[test]
fn refused_passive_connections_emit_a_notice_with_the_reason() {
    let mut h = H::new(ServerConfig::default());
    h.login();
    let id = h.pasv(50_300);
    h.replies();
    let thief: SocketAddr = "10.0.0.9:4444".parse().unwrap();
    assert_eq!(
        h.s.handle_data_accept(h.now, id, thief).unwrap(),
        Accept::Reject
    );
    h.drain();
    assert_eq!(
        h.take_notices(),
        [Notice::PassiveRefused {
            from: thief,
            reason: PassiveRefusal::ForeignHost
        }]
    );
    let client: SocketAddr = "127.0.0.1:4445".parse().unwrap();
    assert!(matches!(
        h.s.handle_data_accept(h.now, id, client).unwrap(),
        Accept::Use { .. }
    ));
    h.event(ServerEvent::DataReady {
        id,
        tls_resumed: None,
    });
    assert!(h.take_notices().is_empty(), "the client's own connection");
    // A second connection from the client's host, once the channel has its connection.
    let second: SocketAddr = "127.0.0.1:4446".parse().unwrap();
    assert_eq!(
        h.s.handle_data_accept(h.now, id, second).unwrap(),
        Accept::Reject
    );
    h.drain();
    assert_eq!(
        h.take_notices(),
        [Notice::PassiveRefused {
            from: second,
            reason: PassiveRefusal::NotWaiting
        }]
    );
    assert!(h.replies().is_empty());
}

#[test]
fn logins_the_core_refuses_itself_emit_a_notice_without_the_password() {
    let mut h = H::new(ServerConfig::default());
    h.input(b"USER anonymous\r\nPASS secret-mail@example.com\r\n");
    let notices = h.take_notices();
    assert_eq!(
        notices,
        [Notice::LoginRefused {
            user: bytes::Bytes::from_static(b"anonymous"),
            reason: LoginRefusal::AnonymousDisabled
        }]
    );
    assert!(!format!("{notices:?}").contains("secret"));
    h.advance(Duration::from_secs(1));
    assert_eq!(h.codes(), [331, 530]);

    let mut config = ServerConfig::default();
    config.tls = TlsMode::ExplicitRequired;
    let mut h = H::new(config);
    h.input(b"USER carol\r\n");
    assert_eq!(h.codes(), [530]);
    assert_eq!(
        h.take_notices(),
        [Notice::LoginRefused {
            user: bytes::Bytes::from_static(b"carol"),
            reason: LoginRefusal::TlsRequired
        }]
    );
}

#[test]
fn the_close_after_too_many_failed_logins_emits_a_notice_with_the_last_user() {
    let mut h = H::new(ServerConfig::default());
    for (attempt, user) in [&b"bob"[..], b"root", b"admin"].into_iter().enumerate() {
        h.input(&[&b"USER "[..], user, b"\r\nPASS wrong\r\n"].concat());
        let (id, _) = h.request();
        h.event(ServerEvent::Answer(
            id,
            Answer::Failed(Failure::LoginRefused),
        ));
        h.advance(Duration::from_secs(1));
        if attempt < 2 {
            // The authenticator refused these: the host sees and logs that itself.
            assert_eq!(h.codes(), [331, 530]);
            assert!(h.take_notices().is_empty());
        }
    }
    assert_eq!(h.codes(), [331, 421]);
    assert_eq!(
        h.take_notices(),
        [Notice::LoginRefused {
            user: bytes::Bytes::from_static(b"admin"),
            reason: LoginRefusal::TooManyFailures
        }]
    );
    assert!(h.s.is_closed());
}

#[test]
fn each_aborted_transfer_emits_a_notice_with_its_cause() {
    let aborted = |id, direction, cause| {
        vec![Notice::TransferAborted {
            id,
            direction,
            cause,
        }]
    };

    let mut h = H::new(ServerConfig::default());
    let (id, _, _) = running_transfer(&mut h, b"RETR f\r\n");
    h.input(b"ABOR\r\n");
    assert_eq!(h.codes(), [426, 226]);
    assert_eq!(
        h.take_notices(),
        aborted(id, Direction::Send, AbortCause::ClientAbort)
    );

    let mut h = H::new(ServerConfig::default());
    let (id, _, _) = running_transfer(&mut h, b"STOR up\r\n");
    h.advance(Duration::from_secs(30));
    assert_eq!(h.codes(), [426]);
    assert_eq!(
        h.take_notices(),
        aborted(id, Direction::Receive, AbortCause::DataTimeout)
    );

    let mut h = H::new(ServerConfig::default());
    let (id, _, _) = running_transfer(&mut h, b"RETR f\r\n");
    h.s.handle_control_closed(h.now);
    h.drain();
    assert_eq!(
        h.take_notices(),
        aborted(id, Direction::Send, AbortCause::SessionClosed)
    );

    let mut h = H::new(tls_config(false));
    let id = tls_transfer(&mut h, b"STOR up.bin\r\n");
    h.event(ServerEvent::TransferTruncated { id, bytes: 512 });
    assert_eq!(h.codes(), [451]);
    assert_eq!(
        h.take_notices(),
        aborted(
            id,
            Direction::Receive,
            AbortCause::TruncatedTlsUpload { bytes: 512 }
        )
    );

    // Transfers that end well, or a cut the operator chose to accept, say nothing.
    let mut h = H::new(tls_config(true));
    let id = tls_transfer(&mut h, b"STOR up.bin\r\n");
    h.event(ServerEvent::TransferTruncated { id, bytes: 512 });
    assert_eq!(h.codes(), [226]);
    assert!(h.take_notices().is_empty());
    let mut h = H::new(ServerConfig::default());
    let (id, _, _) = running_transfer(&mut h, b"RETR f\r\n");
    h.event(ServerEvent::TransferDone { id, bytes: 5 });
    assert_eq!(h.codes(), [226]);
    assert!(h.take_notices().is_empty());
}

/// Runs one transfer command on a fresh passive channel up to its `Transfer` intent and
/// returns the intent's `ascii` flag (the adapter converts line endings when it is set).
fn transfer_is_ascii(h: &mut H, cmd: &[u8], port: u16) -> bool {
    let id = h.pasv(port);
    h.replies();
    let client: SocketAddr = "127.0.0.1:50200".parse().unwrap();
    assert_eq!(
        h.s.handle_data_accept(h.now, id, client).unwrap(),
        Accept::Use { tls: false }
    );
    h.event(ServerEvent::DataReady {
        id,
        tls_resumed: None,
    });
    h.input(cmd);
    let (rid, _) = h.storage();
    h.event(ServerEvent::Answer(rid, Answer::Opened { size: Some(8) }));
    let outs = h.take_outs();
    let ascii = match outs.as_slice() {
        [ServerOutput::Data(DataIntent::Transfer { ascii, source, .. })] if *source == rid => {
            *ascii
        }
        other => panic!("expected one Transfer for {rid:?}, got {other:?}"),
    };
    h.event(ServerEvent::TransferDone { id, bytes: 8 });
    let codes = h.codes();
    assert_eq!(codes.last(), Some(&226), "{codes:?}");
    ascii
}

#[test]
fn type_a_marks_file_transfers_ascii_both_ways_until_type_i() {
    let mut h = H::new(ServerConfig::default());
    h.login();
    assert!(
        !transfer_is_ascii(&mut h, b"RETR f\r\n", 50_300),
        "TYPE I by default"
    );
    h.input(b"TYPE A\r\n");
    assert_eq!(h.codes(), [200]);
    assert!(
        transfer_is_ascii(&mut h, b"RETR f\r\n", 50_301),
        "RETR in TYPE A"
    );
    assert!(
        transfer_is_ascii(&mut h, b"STOR f\r\n", 50_302),
        "STOR in TYPE A"
    );
    assert!(
        transfer_is_ascii(&mut h, b"APPE f\r\n", 50_303),
        "APPE in TYPE A"
    );
    // TYPE A N (non-print, the default format) is the same ASCII type.
    h.input(b"TYPE I\r\nTYPE A N\r\n");
    assert_eq!(h.codes(), [200, 200]);
    assert!(transfer_is_ascii(&mut h, b"RETR f\r\n", 50_304), "TYPE A N");
    h.input(b"TYPE I\r\n");
    assert_eq!(h.codes(), [200]);
    assert!(
        !transfer_is_ascii(&mut h, b"RETR f\r\n", 50_305),
        "back to TYPE I"
    );
    assert!(
        !transfer_is_ascii(&mut h, b"STOR f\r\n", 50_306),
        "back to TYPE I"
    );
}

/// A REST belongs to the next transfer command even when that command is refused: a later,
/// unrelated STOR must not write at the old offset into the middle of a file.
#[test]
fn a_refused_retr_uses_up_the_rest_offset() {
    let mut h = H::new(ServerConfig::default());
    h.login();
    h.input(b"REST 5\r\nRETR f\r\n");
    assert_eq!(h.codes(), [350, 425]);
    h.pasv(50_400);
    h.replies();
    h.input(b"STOR f\r\n");
    let (_, req) = h.storage();
    assert_eq!(
        req,
        StorageRequest::OpenWrite {
            path: vp("/f"),
            mode: WriteMode::Truncate
        }
    );
}
