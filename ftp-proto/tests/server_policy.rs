//! Server policy edges that `cargo mutants` found unpinned (issue 15, TESTING.md): the
//! privileged-port boundary of active mode, data events for a channel or transfer the session
//! is not waiting on, and which uploads count as TLS uploads when the data connection is cut.
//! Each test names the mutant it kills.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use ftp_proto::server::{
    Accept, Answer, DataId, DataIntent, RequestId, ServerConfig, ServerEvent, ServerOutput,
    ServerSession, SessionError, TlsMode,
};

const PEER: &str = "127.0.0.1:50000";
const LOCAL: &str = "127.0.0.1:2121";

struct H {
    s: ServerSession,
    now: Instant,
    wire: Vec<u8>,
    outs: Vec<ServerOutput>,
}

impl H {
    fn new(config: ServerConfig) -> H {
        H::on(config, LOCAL, PEER)
    }

    /// A session whose control connection runs from `peer` to `local`.
    fn on(config: ServerConfig, local: &str, peer: &str) -> H {
        let now = Instant::now();
        let s = ServerSession::new(
            Arc::new(config),
            peer.parse().unwrap(),
            local.parse().unwrap(),
            now,
        );
        let mut h = H {
            s,
            now,
            wire: Vec::new(),
            outs: Vec::new(),
        };
        h.drain();
        assert_eq!(h.codes(), [220]);
        h
    }

    fn drain(&mut self) {
        while let Some(out) = self.s.poll_output() {
            match out {
                ServerOutput::Send(b) => self.wire.extend_from_slice(&b),
                ServerOutput::Notice(_) => {}
                other => self.outs.push(other),
            }
        }
    }

    fn input(&mut self, bytes: &[u8]) {
        self.s.handle_input(self.now, bytes).unwrap();
        self.drain();
    }

    fn event(&mut self, e: ServerEvent) -> Result<(), SessionError> {
        let r = self.s.handle_event(self.now, e);
        self.drain();
        r
    }

    /// The reply lines sent since the last call.
    fn replies(&mut self) -> Vec<String> {
        let text = String::from_utf8_lossy(&std::mem::take(&mut self.wire)).into_owned();
        text.split_terminator("\r\n").map(str::to_owned).collect()
    }

    /// The final reply codes sent since the last call.
    fn codes(&mut self) -> Vec<u16> {
        self.replies()
            .iter()
            .filter(|l| l.len() >= 4 && l.as_bytes()[3] == b' ')
            .map(|l| l[..3].parse().unwrap())
            .collect()
    }

    fn take_outs(&mut self) -> Vec<ServerOutput> {
        std::mem::take(&mut self.outs)
    }

    /// USER and PASS, the login answered.
    fn login(&mut self) {
        self.input(b"USER alice\r\nPASS secret\r\n");
        let id = self.request();
        self.event(ServerEvent::Answer(
            id,
            Answer::LoggedIn { read_only: false },
        ))
        .unwrap();
        assert_eq!(self.codes(), [331, 230]);
    }

    /// The one request made since the last call.
    fn request(&mut self) -> RequestId {
        match self.take_outs().as_slice() {
            [ServerOutput::Request(id, _)] => *id,
            other => panic!("expected one request, got {other:?}"),
        }
    }

    /// PASV up to the listener intent (no 227 yet); returns the channel.
    fn pasv_listen(&mut self) -> DataId {
        self.input(b"PASV\r\n");
        let outs = self.take_outs();
        match outs.as_slice() {
            [.., ServerOutput::Data(DataIntent::Listen { id, .. })] => *id,
            other => panic!("expected Listen, got {other:?}"),
        }
    }

    /// PASV through to 227 on `port`.
    fn pasv(&mut self, port: u16) -> DataId {
        let id = self.pasv_listen();
        self.event(ServerEvent::Listening {
            id,
            addr: SocketAddr::new("127.0.0.1".parse().unwrap(), port),
        })
        .unwrap();
        assert_eq!(self.codes(), [227]);
        id
    }

    /// `command` (RETR or STOR) on a passive channel, opened and connected from the client;
    /// returns the channel once the transfer runs.
    fn transfer(&mut self, command: &[u8], tls_resumed: Option<bool>) -> DataId {
        let id = self.pasv(50_100);
        self.input(command);
        let rid = self.request();
        self.event(ServerEvent::Answer(rid, Answer::Opened { size: None }))
            .unwrap();
        assert_eq!(self.codes(), [150]);
        let accepted = self
            .s
            .handle_data_accept(self.now, id, "127.0.0.1:50200".parse().unwrap())
            .unwrap();
        assert!(matches!(accepted, Accept::Use { .. }), "{accepted:?}");
        self.event(ServerEvent::DataReady { id, tls_resumed })
            .unwrap();
        assert!(matches!(
            self.take_outs().as_slice(),
            [ServerOutput::Data(DataIntent::Transfer { .. })]
        ));
        id
    }

    /// AUTH TLS, the handshake, PBSZ 0 and `prot`.
    fn secure(&mut self, prot: &[u8]) {
        self.input(b"AUTH TLS\r\n");
        assert_eq!(self.codes(), [234]);
        assert_eq!(self.take_outs(), [ServerOutput::StartTls]);
        self.event(ServerEvent::TlsEstablished).unwrap();
        self.input(b"PBSZ 0\r\n");
        self.input(prot);
        assert_eq!(self.codes(), [200, 200]);
    }
}

/// Kills `replace < with <= in ServerSession::active` (transfer.rs): 1024 is the first
/// unprivileged port, so PORT and EPRT to it are accepted and connected to, while 1023 is
/// refused with a bounce notice and nothing to connect.
#[test]
fn active_port_1024_is_unprivileged_and_1023_is_not() {
    let mut h = H::new(ServerConfig::default());
    h.login();
    h.input(b"PORT 127,0,0,1,3,255\r\nEPRT |1|127.0.0.1|1023|\r\n");
    assert_eq!(h.codes(), [501, 501]);
    assert!(h.take_outs().is_empty());
    h.input(b"EPRT |1|127.0.0.1|1024|\r\n");
    assert_eq!(h.codes(), [200]);
    h.input(b"PORT 127,0,0,1,4,0\r\nRETR f\r\n");
    assert_eq!(h.codes(), [200]);
    let rid = match h.take_outs().as_slice() {
        [ServerOutput::Data(DataIntent::Close { .. }), ServerOutput::Request(rid, _)] => *rid,
        other => panic!("expected the EPRT channel closed and a request, got {other:?}"),
    };
    h.event(ServerEvent::Answer(rid, Answer::Opened { size: None }))
        .unwrap();
    assert_eq!(h.codes(), [150]);
    match h.take_outs().as_slice() {
        [ServerOutput::Data(DataIntent::Connect { addr, .. })] => {
            assert_eq!(addr.to_string(), "127.0.0.1:1024")
        }
        other => panic!("expected Connect, got {other:?}"),
    }
}

/// Kills the two mutants of `on_listening`'s guard (transfer.rs: the guard replaced with
/// `true`, `&&` with `||`): a late `Listening` for the listener an earlier PASV made is not
/// the bound port of the new one, so the session refuses it and advertises nothing; the new
/// listener's report then gets the 227 with its own port.
#[test]
fn a_late_listening_for_a_replaced_channel_is_not_advertised() {
    let mut h = H::new(ServerConfig::default());
    h.login();
    let old = h.pasv(50_001);
    let new = h.pasv_listen();
    assert_ne!(old, new);
    let r = h.event(ServerEvent::Listening {
        id: old,
        addr: "127.0.0.1:50001".parse().unwrap(),
    });
    assert_eq!(r, Err(SessionError::UnknownData(old)));
    assert!(h.replies().is_empty(), "a stale port advertised");
    h.event(ServerEvent::Listening {
        id: new,
        addr: "127.0.0.1:50002".parse().unwrap(),
    })
    .unwrap();
    assert_eq!(
        h.replies(),
        ["227 Entering Passive Mode (127,0,0,1,195,82)."]
    );
    // The listener reported twice: the second report is refused too.
    let r = h.event(ServerEvent::Listening {
        id: new,
        addr: "127.0.0.1:50003".parse().unwrap(),
    });
    assert!(r.is_err(), "{r:?}");
    assert!(h.replies().is_empty());
}

/// Kills the two mutants of `on_data_ready`'s guard (transfer.rs: replaced with `true`, `&&`
/// with `||`): a second `DataReady` for a transfer that already streams is refused and does
/// not start the transfer again (a second `Transfer` intent would hand the same storage handle
/// to a second copy loop).
#[test]
fn a_second_data_ready_for_a_running_transfer_is_refused() {
    let mut h = H::new(ServerConfig::default());
    h.login();
    let id = h.transfer(b"RETR f\r\n", None);
    let r = h.event(ServerEvent::DataReady {
        id,
        tls_resumed: None,
    });
    assert_eq!(r, Err(SessionError::UnexpectedEvent("DataReady")));
    assert!(h.take_outs().is_empty(), "the transfer started twice");
    assert!(h.replies().is_empty());
    h.event(ServerEvent::TransferDone { id, bytes: 3 }).unwrap();
    assert_eq!(h.codes(), [226]);
}

/// Kills `replace || with && in ServerSession::begin_streaming` (transfer.rs): under PROT P a
/// data connection is TLS even when the adapter reports no resumption either way, so an
/// upload cut without close_notify is 451, not a complete file.
#[test]
fn a_cut_upload_under_prot_p_is_451_even_without_a_resumption_report() {
    let mut config = ServerConfig::default();
    config.tls = TlsMode::Explicit;
    let mut h = H::new(config);
    h.secure(b"PROT P\r\n");
    h.login();
    let id = h.transfer(b"STOR f\r\n", None);
    h.event(ServerEvent::TransferTruncated { id, bytes: 10 })
        .unwrap();
    assert_eq!(h.codes(), [451]);
}

/// The other half of the same `||`: a data connection the adapter reports as TLS counts as
/// TLS even under PROT C, and a cut upload on it is 451 as well.
#[test]
fn a_cut_upload_reported_as_tls_is_451_under_prot_c() {
    let mut config = ServerConfig::default();
    config.tls = TlsMode::Explicit;
    let mut h = H::new(config);
    h.secure(b"PROT C\r\n");
    h.login();
    let id = h.transfer(b"STOR f\r\n", Some(false));
    h.event(ServerEvent::TransferTruncated { id, bytes: 10 })
        .unwrap();
    assert_eq!(h.codes(), [451]);
    // A plain one cut short is complete: a FIN is all a plain connection has.
    let id = h.transfer(b"STOR g\r\n", None);
    h.event(ServerEvent::TransferTruncated { id, bytes: 10 })
        .unwrap();
    assert_eq!(h.codes(), [226]);
}

/// Kills the four `is_local_network` mutants of config.rs (`||` to `&&` before
/// `is_unspecified` in both families, `&` to `|` or `^` in the link-local mask): every kind of
/// address a NAT would not translate is local, each on its own, so `MasqueradeExceptLocal`
/// sends such clients to the control connection's local address, and public ones (including
/// the neighbours of those ranges) are not.
#[test]
fn every_kind_of_local_address_is_local_and_its_neighbours_are_not() {
    use ftp_proto::server::{is_local_network, PassiveAddress};
    use std::net::IpAddr;
    let local = [
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.1.1",
        "0.0.0.0",
        "::1",
        "::",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "febf::1",
        "::ffff:169.254.1.1",
        "::ffff:0.0.0.0",
    ];
    let public = [
        "8.8.8.8",
        "172.32.0.1",
        "169.255.0.1",
        "0.0.0.1",
        "2001:db8::1",
        "fe00::1",
        "fec0::1",
        "::2",
        "::ffff:8.8.8.8",
    ];
    let masq: IpAddr = "203.0.113.9".parse().unwrap();
    let ours: IpAddr = "192.168.0.2".parse().unwrap();
    let policy = PassiveAddress::MasqueradeExceptLocal(masq);
    for ip in local {
        let ip: IpAddr = ip.parse().unwrap();
        assert!(is_local_network(ip), "{ip} is local");
        assert_eq!(policy.advertise(ip, ours), ours, "{ip}");
    }
    for ip in public {
        let ip: IpAddr = ip.parse().unwrap();
        assert!(!is_local_network(ip), "{ip} is public");
        assert_eq!(policy.advertise(ip, ours), masq, "{ip}");
    }
}

/// Kills `replace <impl fmt::Debug for PassiveAddress>::fmt with Ok(Default::default())`
/// (config.rs): a `ServerConfig` printed for a log shows its passive address policy.
#[test]
fn passive_address_policy_shows_in_the_config_debug() {
    use ftp_proto::server::PassiveAddress;
    let mut config = ServerConfig::default();
    config.passive_address = PassiveAddress::MasqueradeExceptLocal("203.0.113.9".parse().unwrap());
    let text = format!("{config:?}");
    assert!(
        text.contains("passive_address: MasqueradeExceptLocal(203.0.113.9)"),
        "{text}"
    );
    let custom = PassiveAddress::Custom(Arc::new(|_, local| local));
    assert_eq!(format!("{custom:?}"), "Custom(..)");
    assert_eq!(
        format!("{:?}", PassiveAddress::ControlLocal),
        "ControlLocal"
    );
}

/// Kills `replace match guard pid == id && ... with true in ServerSession::on_answer`
/// (transfer.rs): an answer naming a request that was already answered (here the login) is
/// refused and does not stand in for the request that is out (the RETR's open), which the
/// right answer then completes.
#[test]
fn an_answer_to_an_old_request_does_not_answer_the_one_out() {
    let mut h = H::new(ServerConfig::default());
    h.input(b"USER alice\r\nPASS secret\r\n");
    let login = h.request();
    h.event(ServerEvent::Answer(
        login,
        Answer::LoggedIn { read_only: false },
    ))
    .unwrap();
    assert_eq!(h.codes(), [331, 230]);
    h.pasv(50_010);
    h.input(b"RETR f\r\n");
    let open = h.request();
    let r = h.event(ServerEvent::Answer(login, Answer::Opened { size: None }));
    assert_eq!(r, Err(SessionError::UnknownRequest(login)));
    assert!(
        h.replies().is_empty(),
        "the stale answer opened the transfer"
    );
    assert!(h.take_outs().is_empty());
    h.event(ServerEvent::Answer(open, Answer::Opened { size: None }))
        .unwrap();
    assert_eq!(h.codes(), [150]);
}

/// Kills `replace / with %` and `replace / with *` in the STAT-of-a-path arm of `on_answer`
/// (transfer.rs): a STAT reply of a large directory stops at half of `max_queued_output` (one
/// entry past it at most), so one reply cannot fill the output queue; and a small directory
/// is listed whole.
#[test]
fn stat_of_a_large_directory_is_cut_at_half_the_output_limit() {
    use ftp_proto::listing::{Entry, EntryKind};
    use ftp_proto::time::Timestamp;
    let mut config = ServerConfig::default();
    config.max_queued_output = 8192;
    let mut h = H::new(config);
    h.login();
    let now = Timestamp::from_unix(1_000_100_000, 0).unwrap();
    let entries = |n: usize| -> Vec<Entry> {
        (0..n)
            .map(|i| Entry::new(format!("file-{i:04}"), EntryKind::File).with_size(7))
            .collect()
    };
    h.input(b"STAT /\r\n");
    let rid = h.request();
    h.event(ServerEvent::Answer(
        rid,
        Answer::Entries {
            entries: entries(5),
            now,
        },
    ))
    .unwrap();
    let lines = h.replies();
    assert_eq!(lines.len(), 7, "{lines:?}");
    h.input(b"STAT /\r\n");
    let rid = h.request();
    h.event(ServerEvent::Answer(
        rid,
        Answer::Entries {
            entries: entries(1000),
            now,
        },
    ))
    .unwrap();
    let lines = h.replies();
    assert_eq!(lines.last().map(|l| &l[..4]), Some("213 "));
    let listed = lines.len() - 2;
    let longest = lines.iter().map(|l| l.len() + 2).max().unwrap();
    let bytes: usize = lines.iter().map(|l| l.len() + 2).sum();
    assert!(listed < 1000, "not cut: {listed} entries");
    assert!(bytes <= 4096 + 2 * longest + 64, "{bytes} bytes");
    assert!(bytes > 4096 - 2 * longest, "cut too early: {bytes} bytes");
}

/// Kills `replace == with !=` in `check == Vet::Directory` (transfer.rs, `on_answer`): after the
/// session's own metadata check, a RETR with a REST offset is opened as a file (converted in
/// TYPE A) and a named MLSD as a listing (never converted: its lines already end in CRLF).
#[test]
fn vetted_opens_keep_file_and_listing_apart() {
    use ftp_proto::listing::{Entry, EntryKind};
    let mut h = H::new(ServerConfig::default());
    h.login();
    let cases: [(&[u8], Entry, bool); 2] = [
        (
            b"REST 10\r\nRETR f\r\n",
            Entry::new("f", EntryKind::File).with_size(100),
            true,
        ),
        (b"MLSD d\r\n", Entry::new("d", EntryKind::Dir), false),
    ];
    h.input(b"TYPE A\r\n");
    assert_eq!(h.codes(), [200]);
    for (command, entry, ascii) in cases {
        let id = h.pasv(50_020);
        h.input(command);
        h.replies();
        let stat = h.request();
        h.event(ServerEvent::Answer(stat, Answer::Metadata(Box::new(entry))))
            .unwrap();
        let open = h.request();
        h.event(ServerEvent::Answer(open, Answer::Opened { size: None }))
            .unwrap();
        assert_eq!(h.codes(), [150]);
        h.s.handle_data_accept(h.now, id, "127.0.0.1:50201".parse().unwrap())
            .unwrap();
        h.event(ServerEvent::DataReady {
            id,
            tls_resumed: None,
        })
        .unwrap();
        match h.take_outs().as_slice() {
            [ServerOutput::Data(DataIntent::Transfer { ascii: a, .. })] => {
                assert_eq!(*a, ascii, "{}", String::from_utf8_lossy(command))
            }
            other => panic!("expected Transfer, got {other:?}"),
        }
        h.event(ServerEvent::TransferDone { id, bytes: 0 }).unwrap();
        assert_eq!(h.codes(), [226]);
    }
}

/// Kills `replace ServerSession::expect_data with Ok(())` (mod.rs): a late failure report for
/// a channel an earlier PASV made is refused and leaves the new channel alone, so the next
/// transfer still uses it instead of getting 425.
#[test]
fn a_late_failure_of_a_replaced_channel_keeps_the_new_one() {
    let mut h = H::new(ServerConfig::default());
    h.login();
    let old = h.pasv(50_030);
    let new = h.pasv(50_031);
    for e in [
        ServerEvent::DataFailed { id: old },
        ServerEvent::ListenFailed { id: old },
    ] {
        assert_eq!(h.event(e), Err(SessionError::UnknownData(old)));
    }
    assert!(h.replies().is_empty());
    h.input(b"RETR f\r\n");
    let open = h.request();
    h.event(ServerEvent::Answer(open, Answer::Opened { size: None }))
        .unwrap();
    assert_eq!(h.codes(), [150]);
    assert_eq!(
        h.s.handle_data_accept(h.now, new, "127.0.0.1:50202".parse().unwrap()),
        Ok(Accept::Use { tls: false })
    );
}

/// Kills `replace || with && in ServerSession::serve` at HOST (commands.rs): HOST after USER
/// (before the login ends) is 503, as it is after a login; before USER it is accepted.
#[test]
fn host_is_refused_once_user_was_sent() {
    let mut h = H::new(ServerConfig::default());
    h.input(b"HOST ftp.example.org\r\n");
    assert_eq!(h.codes(), [220]);
    h.input(b"USER alice\r\n");
    assert_eq!(h.codes(), [331]);
    h.input(b"HOST ftp.example.org\r\n");
    assert_eq!(h.codes(), [503]);
}

/// Kills `replace > with ==` in the LANG guard (commands.rs): `EN` and any `EN-` tag with a
/// subtag are English, other languages are not. (`>` as `>=` is equivalent: the parser
/// already refuses a bare `EN-` with 501.)
#[test]
fn lang_accepts_english_tags_only() {
    let mut h = H::new(ServerConfig::default());
    h.login();
    for (tag, code) in [
        ("EN", 200),
        ("en", 200),
        ("EN-US", 200),
        ("en-gb", 200),
        ("EN-", 501),
        ("ENG", 504),
        ("FR", 504),
    ] {
        h.input(format!("LANG {tag}\r\n").as_bytes());
        assert_eq!(h.codes(), [code], "LANG {tag}");
    }
}

/// After CCC the control connection is clear again: PBSZ and PROT are 503, not 200, as
/// before AUTH. (No mutant needs this one; it pins CCC's effect on the TLS commands.)
#[test]
fn pbsz_after_ccc_is_503() {
    let mut config = ServerConfig::default();
    config.tls = TlsMode::Explicit;
    let mut h = H::new(config);
    h.secure(b"PROT P\r\n");
    h.login();
    h.input(b"CCC\r\n");
    assert_eq!(h.codes(), [200]);
    assert_eq!(h.take_outs(), [ServerOutput::StopTls]);
    h.input(b"PBSZ 0\r\nPROT P\r\n");
    assert_eq!(h.codes(), [503, 503]);
}

/// Kills the three mutants of the EPSV protocol guards (commands.rs: each guard as `true`,
/// `&&` as `||`): on an IPv4 control connection `EPSV 1` opens a listener and `EPSV 2` is 522;
/// on IPv6 the reverse; an IPv4-mapped local address counts as IPv4.
#[test]
fn epsv_with_a_protocol_follows_the_control_connections_family() {
    for (local, peer, ok, refused) in [
        ("127.0.0.1:21", "127.0.0.1:50000", "1", "2"),
        ("[::1]:21", "[::1]:50000", "2", "1"),
        (
            "[::ffff:127.0.0.1]:21",
            "[::ffff:127.0.0.1]:50000",
            "1",
            "2",
        ),
    ] {
        let mut h = H::on(ServerConfig::default(), local, peer);
        h.login();
        h.input(format!("EPSV {refused}\r\n").as_bytes());
        assert_eq!(h.codes(), [522], "EPSV {refused} on {local}");
        assert!(h.take_outs().is_empty());
        h.input(format!("EPSV {ok}\r\n").as_bytes());
        assert!(
            matches!(
                h.take_outs().as_slice(),
                [ServerOutput::Data(DataIntent::Listen { .. })]
            ),
            "EPSV {ok} on {local}"
        );
    }
}

/// Kills `match guard n > 0 with true` and `> with >=` at STOR, and the `>` mutants of the
/// REST checks of APPE and STOU (commands.rs): `REST 0` is no offset (STOR truncates, APPE
/// and STOU go ahead), while `REST 5` makes STOR write at 5 and APPE/STOU refuse with 550.
#[test]
fn rest_zero_is_no_offset_for_uploads() {
    use ftp_proto::server::{Request, StorageRequest, WriteMode};
    let opened = |command: String| {
        let mut h = H::new(ServerConfig::default());
        h.login();
        h.pasv(50_030);
        h.input(command.as_bytes());
        let codes = h.codes();
        let mode = match h.take_outs().as_slice() {
            [ServerOutput::Request(_, Request::Storage(StorageRequest::OpenWrite { mode, .. }))] => {
                Some(*mode)
            }
            [] => None,
            other => panic!("{command}: expected OpenWrite or nothing, got {other:?}"),
        };
        (codes, mode)
    };
    for (rest, mode) in [("0", WriteMode::Truncate), ("5", WriteMode::AtOffset(5))] {
        let (codes, got) = opened(format!("REST {rest}\r\nSTOR f\r\n"));
        assert_eq!(codes, [350], "REST {rest}");
        assert_eq!(got, Some(mode), "REST {rest} then STOR");
    }
    for command in ["APPE f", "STOU"] {
        let (codes, got) = opened(format!("REST 0\r\n{command}\r\n"));
        assert_eq!(codes, [350], "REST 0 then {command}");
        assert!(got.is_some(), "REST 0 then {command} opens the file");
        let (codes, got) = opened(format!("REST 5\r\n{command}\r\n"));
        assert_eq!(codes, [350, 550], "REST 5 then {command}");
        assert_eq!(got, None, "{command} after REST 5 opens nothing");
    }
}
