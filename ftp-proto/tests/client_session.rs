//! Session tests for the client role: a scripted server's bytes and scripted adapter events in
//! virtual time, asserting the exact commands, intents and results.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ftp_proto::client::{
    Accept, ClientConfig, ClientError, ClientEvent, ClientOutput, ClientSession, ClientTls,
    DataError, DataId, DataIntent, DataMode, DataProtection, Direction, LoginInfo, OpError, OpId,
    Outcome,
};
use ftp_proto::command::Command;
use ftp_proto::listing::EntryKind;
use ftp_proto::reply::ReplyError;

const PEER: &str = "192.0.2.10:21";

struct C {
    s: ClientSession,
    now: Instant,
    sent: Vec<u8>,
    outs: Vec<ClientOutput>,
}

type Done = (OpId, Result<Outcome, OpError>);

impl C {
    fn new(config: ClientConfig) -> C {
        let now = Instant::now();
        let s = ClientSession::new(config, PEER.parse().unwrap(), now).unwrap();
        let mut c = C {
            s,
            now,
            sent: Vec::new(),
            outs: Vec::new(),
        };
        c.drain();
        assert!(c.sent().is_empty(), "nothing is sent before the greeting");
        c
    }

    fn config() -> ClientConfig {
        ClientConfig::new("alice", "secret")
    }

    /// A session logged in with the default configuration and no features.
    fn logged_in(mut config: ClientConfig) -> C {
        config.utf8 = false;
        let mut c = C::new(config);
        c.feed(b"220 ready\r\n331 pass\r\n230 ok\r\n211 no features\r\n200 binary\r\n");
        assert_eq!(c.sent(), ["USER alice", "PASS secret", "FEAT", "TYPE I"]);
        assert!(c.login_info().is_some());
        c
    }

    fn drain(&mut self) {
        let mut guard = 0;
        while let Some(out) = self.s.poll_output() {
            guard += 1;
            assert!(guard < 10_000, "output never ends");
            match out {
                ClientOutput::Send(b) => self.sent.extend_from_slice(&b),
                other => self.outs.push(other),
            }
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        self.s.handle_input(self.now, bytes).unwrap();
        self.drain();
    }

    fn feed_bytewise(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.feed(std::slice::from_ref(b));
        }
    }

    fn event(&mut self, e: ClientEvent) {
        self.s.handle_event(self.now, e).unwrap();
        self.drain();
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.s.handle_timeout(self.now);
        self.drain();
    }

    /// The command lines sent since the last call.
    fn sent(&mut self) -> Vec<String> {
        let text = String::from_utf8_lossy(&std::mem::take(&mut self.sent)).into_owned();
        assert!(
            text.is_empty() || text.ends_with("\r\n"),
            "partial: {text:?}"
        );
        text.split_terminator("\r\n").map(str::to_owned).collect()
    }

    fn take(&mut self) -> Vec<ClientOutput> {
        std::mem::take(&mut self.outs)
    }

    fn completed(&mut self) -> Vec<Done> {
        let mut done = Vec::new();
        self.outs.retain(|o| match o {
            ClientOutput::Completed(id, r) => {
                done.push((*id, r.clone()));
                false
            }
            _ => true,
        });
        done
    }

    fn one(&mut self, id: OpId) -> Result<Outcome, OpError> {
        let done = self.completed();
        assert_eq!(done.len(), 1, "expected one completion, got {done:?}");
        assert_eq!(done[0].0, id);
        done[0].1.clone()
    }

    fn intents(&mut self) -> Vec<DataIntent> {
        let mut v = Vec::new();
        self.outs.retain(|o| match o {
            ClientOutput::Data(d) => {
                v.push(d.clone());
                false
            }
            _ => true,
        });
        v
    }

    fn connect_intent(&mut self) -> (DataId, SocketAddr, DataProtection) {
        let v = self.intents();
        match v.as_slice() {
            [DataIntent::Connect {
                id,
                addr,
                protection,
            }] => (*id, *addr, *protection),
            other => panic!("expected one Connect, got {other:?}"),
        }
    }

    fn login_info(&mut self) -> Option<LoginInfo> {
        let mut info = None;
        self.outs.retain(|o| match o {
            ClientOutput::LoggedIn(i) => {
                info = Some((**i).clone());
                false
            }
            _ => true,
        });
        info
    }

    fn error(&mut self) -> Option<ClientError> {
        let outs = self.take();
        let pos = outs
            .iter()
            .position(|o| matches!(o, ClientOutput::Error(_)))?;
        assert_eq!(outs.last(), Some(&ClientOutput::Close), "{outs:?}");
        assert!(self.s.is_closed());
        match &outs[pos] {
            ClientOutput::Error(e) => Some(e.clone()),
            _ => None,
        }
    }

    /// Runs a passive RETR through EPSV up to the connected data channel and the RETR line.
    fn retr_connected(&mut self) -> (OpId, DataId) {
        let op = self.s.retr(self.now, "f", 0).unwrap();
        self.drain();
        assert_eq!(self.sent(), ["EPSV"]);
        self.feed(b"229 Entering Extended Passive Mode (|||50001|)\r\n");
        let (id, addr, _) = self.connect_intent();
        assert_eq!(addr, "192.0.2.10:50001".parse().unwrap());
        self.event(ClientEvent::DataConnected { id });
        assert_eq!(self.sent(), ["RETR f"]);
        (op, id)
    }

    fn expect_transfer(&mut self, id: DataId, op: OpId, direction: Direction, listing: bool) {
        assert_eq!(
            self.intents(),
            [DataIntent::Transfer {
                id,
                op,
                direction,
                listing
            }]
        );
    }
}

fn code(r: &Result<Outcome, OpError>) -> u16 {
    match r {
        Ok(Outcome::Done(r)) | Ok(Outcome::Aborted(Some(r))) => r.code().as_u16(),
        Err(OpError::Rejected(r)) | Err(OpError::UnexpectedReply(r)) => r.code().as_u16(),
        other => panic!("no reply in {other:?}"),
    }
}

// ----- login -----

#[test]
fn login_with_feat_utf8_and_unknown_features() {
    let mut c = C::new(C::config());
    c.feed(b"120 wait a bit\r\n");
    assert!(c.sent().is_empty());
    c.feed(b"220-Welcome\r\n220-  to the\r\n220 server\r\n");
    assert_eq!(c.sent(), ["USER alice"]);
    c.feed(b"331 Password required\r\n");
    assert_eq!(c.sent(), ["PASS secret"]);
    c.feed(b"230 Logged in\r\n");
    assert_eq!(c.sent(), ["FEAT"]);
    c.feed(b"211-Features:\r\n UTF8\r\n SIZE\r\n XCRC \"filename\" SP EP\r\n MLST type*;size*;\r\n211 End\r\n");
    assert_eq!(c.sent(), ["OPTS UTF8 ON"]);
    c.feed(b"200 UTF8 on\r\n");
    assert_eq!(c.sent(), ["TYPE I"]);
    assert!(!c.s.is_logged_in());
    c.feed(b"200 Type set to I\r\n");
    let info = c.login_info().expect("logged in");
    // Middle lines are kept as sent.
    assert_eq!(info.greeting.text(), &b"Welcome\n220-  to the\nserver"[..]);
    assert!(info.features.has("XCRC"));
    assert_eq!(info.features.get("MLST"), Some(&b"type*;size*;"[..]));
    assert_eq!(info.features.len(), 4);
    assert!(!info.tls && !info.data_tls);
    assert!(c.s.is_logged_in());
}

#[test]
fn login_in_one_read_and_one_byte_at_a_time() {
    let script = b"220 hi\r\n331 pw\r\n230 in\r\n211 none\r\n200 I\r\n257 \"/home\" ok\r\n";
    let mut config = C::config();
    config.utf8 = false;
    for bytewise in [false, true] {
        let mut c = C::new(config.clone());
        let pwd = c.s.pwd(c.now).unwrap();
        if bytewise {
            c.feed_bytewise(script);
        } else {
            c.feed(script);
        }
        assert_eq!(
            c.sent(),
            ["USER alice", "PASS secret", "FEAT", "TYPE I", "PWD"]
        );
        assert!(c.login_info().is_some());
        assert_eq!(c.one(pwd), Ok(Outcome::Path("/home".into())));
    }
}

#[test]
fn account_when_asked_and_failure_without_one() {
    let mut config = C::config();
    config.account = Some("acct1".into());
    config.utf8 = false;
    config.binary = false;
    let mut c = C::new(config);
    c.feed(b"220 hi\r\n331 pw\r\n332 need account\r\n230 ok\r\n211 x\r\n");
    assert_eq!(
        c.sent(),
        ["USER alice", "PASS secret", "ACCT acct1", "FEAT"]
    );
    assert!(c.login_info().is_some());

    let mut c = C::new(C::config());
    let op = c.s.noop(c.now).unwrap();
    c.feed(b"220 hi\r\n331 pw\r\n332 need account\r\n");
    let done = c.completed();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].0, op);
    assert!(
        matches!(&done[0].1, Err(OpError::Session(ClientError::LoginFailed(r))) if r.code().as_u16() == 332)
    );
    assert!(matches!(c.error(), Some(ClientError::LoginFailed(_))));
}

#[test]
fn bad_password_ends_the_session() {
    let mut c = C::new(C::config());
    c.feed(b"220 hi\r\n331 pw\r\n530 Login incorrect.\r\n");
    assert!(matches!(c.error(), Some(ClientError::LoginFailed(r)) if r.code().as_u16() == 530));
    assert_eq!(c.s.handle_input(c.now, b"x"), Err(ClientError::Closed));
}

#[test]
fn greeting_421_and_refusal() {
    let mut c = C::new(C::config());
    c.feed(b"421 Too many users\r\n");
    assert!(matches!(c.error(), Some(ClientError::ServiceClosing(r)) if r.code().as_u16() == 421));
    let mut c = C::new(C::config());
    c.feed(b"530 go away\r\n");
    assert!(matches!(c.error(), Some(ClientError::Refused(_))));
}

#[test]
fn greeting_230_skips_user_without_tls_policy() {
    let mut c = C::new(C::config());
    c.feed(b"230 already in\r\n");
    assert_eq!(c.sent(), ["FEAT"]);
}

#[test]
fn single_line_feat_and_refused_feat_mean_no_features() {
    for reply in [&b"211 no features\r\n"[..], b"502 FEAT not implemented\r\n"] {
        let mut c = C::new(C::config());
        c.feed(b"220 hi\r\n331 pw\r\n230 ok\r\n");
        c.feed(reply);
        assert_eq!(c.sent(), ["USER alice", "PASS secret", "FEAT", "TYPE I"]);
        c.feed(b"200 ok\r\n");
        assert!(c.login_info().unwrap().features.is_empty());
    }
}

#[test]
fn host_is_sent_first_and_its_refusal_ignored() {
    let mut config = C::config();
    config.host = Some("ftp.example.com".into());
    let mut c = C::new(config);
    c.feed(b"220 hi\r\n502 HOST not implemented\r\n");
    assert_eq!(c.sent(), ["HOST ftp.example.com", "USER alice"]);
}

#[test]
fn credentials_with_line_breaks_are_refused() {
    let now = Instant::now();
    let peer = PEER.parse().unwrap();
    let r = ClientSession::new(ClientConfig::new("a\r\nDELE x", "p"), peer, now);
    assert!(matches!(r, Err(ClientError::InvalidArgument(_))));
    let mut c = C::logged_in(C::config());
    assert!(matches!(
        c.s.cwd(c.now, "a\nb"),
        Err(ClientError::InvalidArgument(_))
    ));
    assert!(matches!(
        c.s.raw(c.now, Command::Retr("x".into())),
        Err(ClientError::NotRaw(v)) if v == "RETR"
    ));
}

// ----- TLS policy -----

#[test]
fn required_tls_full_path() {
    let mut config = C::config();
    config.tls = ClientTls::Required;
    config.utf8 = false;
    let mut c = C::new(config);
    c.feed(b"220 hi\r\n");
    assert_eq!(c.sent(), ["AUTH TLS"]);
    c.feed(b"234 go ahead\r\n");
    assert_eq!(c.take(), [ClientOutput::StartTls]);
    assert!(!c.s.wants_read());
    c.event(ClientEvent::TlsEstablished);
    assert!(c.s.is_tls());
    assert_eq!(c.sent(), ["USER alice"]);
    c.feed(b"331 pw\r\n230 ok\r\n");
    assert_eq!(c.sent(), ["PASS secret", "PBSZ 0"]);
    c.feed(b"200 PBSZ=0\r\n200 PROT P\r\n211 x\r\n200 I\r\n");
    assert_eq!(c.sent(), ["PROT P", "FEAT", "TYPE I"]);
    let info = c.login_info().unwrap();
    assert!(info.tls && info.data_tls);
    c.s.nlst(c.now, None).unwrap();
    c.drain();
    c.feed(b"229 (|||4000|)\r\n");
    let (_, _, protection) = c.connect_intent();
    assert_eq!(protection, DataProtection::Tls);
}

#[test]
fn required_tls_fails_hard_when_auth_refused() {
    let mut config = C::config();
    config.tls = ClientTls::Required;
    let mut c = C::new(config);
    c.feed(b"220 hi\r\n");
    assert_eq!(c.sent(), ["AUTH TLS"]);
    c.feed(b"502 no TLS here\r\n");
    assert!(matches!(c.error(), Some(ClientError::TlsRefused(r)) if r.code().as_u16() == 502));
    assert!(c.sent().is_empty(), "no USER in the clear");
}

#[test]
fn required_tls_fails_hard_on_230_greeting_and_on_230_to_auth() {
    let mut config = C::config();
    config.tls = ClientTls::Required;
    let mut c = C::new(config.clone());
    c.feed(b"230 logged in already\r\n");
    assert!(matches!(c.error(), Some(ClientError::TlsBypassed(_))));
    assert!(c.sent().is_empty());
    let mut c = C::new(config);
    c.feed(b"220 hi\r\n230 whatever\r\n");
    assert!(matches!(c.error(), Some(ClientError::TlsRefused(_))));
}

#[test]
fn required_tls_fails_when_prot_refused() {
    let mut config = C::config();
    config.tls = ClientTls::Required;
    let mut c = C::new(config);
    c.feed(b"220 hi\r\n234 ok\r\n");
    c.event(ClientEvent::TlsEstablished);
    c.feed(b"331 pw\r\n230 ok\r\n200 PBSZ=0\r\n536 PROT P not supported\r\n");
    assert!(matches!(c.error(), Some(ClientError::TlsRefused(r)) if r.code().as_u16() == 536));
}

#[test]
fn bytes_after_234_are_an_error() {
    let mut config = C::config();
    config.tls = ClientTls::Required;
    let mut c = C::new(config.clone());
    c.feed(b"220 hi\r\n");
    c.feed(b"234 ok\r\n331 pw\r\n230 in\r\n");
    assert_eq!(c.error(), Some(ClientError::PipelinedAfterAuth));
    // Even a partial line counts, and so do bytes read before the handshake ran.
    let mut c = C::new(config.clone());
    c.feed(b"220 hi\r\n234 ok\r\n2");
    assert_eq!(c.error(), Some(ClientError::PipelinedAfterAuth));
    let mut c = C::new(config);
    c.feed(b"220 hi\r\n234 ok\r\n");
    assert_eq!(c.take(), [ClientOutput::StartTls]);
    c.feed(b"230 in\r\n");
    assert_eq!(c.error(), Some(ClientError::PipelinedAfterAuth));
}

#[test]
fn opportunistic_tls_continues_in_clear_when_refused() {
    let mut config = C::config();
    config.tls = ClientTls::Opportunistic;
    let mut c = C::new(config);
    c.feed(b"220 hi\r\n500 AUTH not understood\r\n");
    assert_eq!(c.sent(), ["AUTH TLS", "USER alice"]);
    c.feed(b"331 pw\r\n230 ok\r\n");
    assert_eq!(c.sent(), ["PASS secret", "FEAT"]);
}

#[test]
fn implicit_tls_skips_auth_and_protects_data() {
    let mut config = C::config();
    config.tls = ClientTls::Implicit;
    let mut c = C::new(config);
    assert!(c.s.is_tls());
    c.feed(b"220 hi\r\n331 pw\r\n230 ok\r\n200 PBSZ=0\r\n200 P\r\n211 x\r\n200 I\r\n");
    assert_eq!(
        c.sent(),
        [
            "USER alice",
            "PASS secret",
            "PBSZ 0",
            "PROT P",
            "FEAT",
            "TYPE I"
        ]
    );
    assert!(c.login_info().unwrap().data_tls);
}

#[test]
fn tls_handshake_failure_ends_the_session() {
    let mut config = C::config();
    config.tls = ClientTls::Required;
    let mut c = C::new(config);
    c.feed(b"220 hi\r\n234 ok\r\n");
    c.take();
    c.event(ClientEvent::TlsFailed);
    assert_eq!(c.error(), Some(ClientError::TlsFailed));
}

// ----- replies -----

#[test]
fn operations_judged_by_first_digit() {
    let mut c = C::logged_in(C::config());
    let a = c.s.cwd(c.now, "dir").unwrap();
    let b = c.s.cdup(c.now).unwrap();
    let d = c.s.cwd(c.now, "nope").unwrap();
    let e = c.s.cwd(c.now, "odd").unwrap();
    c.drain();
    assert_eq!(c.sent(), ["CWD dir"]);
    c.feed(b"200 ok\r\n250 ok\r\n550 no such dir\r\n350 what\r\n");
    assert_eq!(c.sent(), ["CDUP", "CWD nope", "CWD odd"]);
    let done = c.completed();
    let ids: Vec<_> = done.iter().map(|d| d.0).collect();
    assert_eq!(ids, [a, b, d, e]);
    assert_eq!(code(&done[0].1), 200);
    assert_eq!(code(&done[1].1), 250);
    assert!(matches!(&done[2].1, Err(OpError::Rejected(r)) if r.code().as_u16() == 550));
    assert!(matches!(&done[3].1, Err(OpError::UnexpectedReply(r)) if r.code().as_u16() == 350));
}

#[test]
fn multiline_replies_strict_by_default() {
    let mut c = C::logged_in(C::config());
    let op = c.s.noop(c.now).unwrap();
    c.drain();
    // A padded code and another code followed by `-` inside the block are text (RFC 959 §4.2).
    c.feed(b"200-first\r\n  234 padded\r\n553-other code\r\n200-still going\r\n200 done\r\n");
    let r = c.one(op).unwrap();
    let Outcome::Done(r) = r else { panic!() };
    assert_eq!(r.line_count(), 5);
    assert_eq!(r.last_line(), b"done");
}

#[test]
fn strict_policy_refuses_a_reply_closed_by_another_code_at_once() {
    let mut c = C::logged_in(C::config());
    let op = c.s.noop(c.now).unwrap();
    c.drain();
    // glftpd's bytes and nothing more: the operation fails now, not at a timeout.
    c.feed(b"553-\r\n553- Directory excluded (precheck).\r\n150 Opening BINARY mode\r\n");
    let want = ReplyError::MismatchedEnd {
        open: ftp_proto::reply::ReplyCode::new(553).unwrap(),
        close: ftp_proto::reply::ReplyCode::new(150).unwrap(),
    };
    assert_eq!(
        c.completed(),
        [(
            op,
            Err(OpError::Session(ClientError::Protocol(want.clone())))
        )]
    );
    assert_eq!(c.error(), Some(ClientError::Protocol(want)));
}

#[test]
fn lenient_policy_ends_at_any_code() {
    let mut config = C::config();
    config.replies = ftp_proto::reply::ReplyDecoderConfig::lenient();
    let mut c = C::logged_in(config);
    let op = c.s.noop(c.now).unwrap();
    c.drain();
    c.feed(b"553-excluded\r\n553- precheck\r\n200 ok after all\r\n");
    assert_eq!(code(&c.one(op)), 200);
}

#[test]
fn nul_in_a_reply_is_a_protocol_error() {
    let mut c = C::logged_in(C::config());
    let op = c.s.noop(c.now).unwrap();
    c.drain();
    c.feed(b"200 o\0k\r\n");
    assert_eq!(
        c.completed()[0].1,
        Err(OpError::Session(ClientError::Protocol(ReplyError::Nul)))
    );
    let _ = op;
    assert_eq!(c.error(), Some(ClientError::Protocol(ReplyError::Nul)));
}

#[test]
fn over_long_reply_line_is_a_clean_error() {
    let mut config = C::config();
    config.replies.max_line_len = 1024;
    let mut c = C::logged_in(config);
    c.s.noop(c.now).unwrap();
    c.drain();
    c.feed(&vec![b'2'; 5000]);
    assert!(matches!(
        c.error(),
        Some(ClientError::Protocol(ReplyError::LineTooLong { max: 1024 }))
    ));
}

#[test]
fn reply_421_mid_session_fails_everything_queued() {
    let mut c = C::logged_in(C::config());
    let a = c.s.cwd(c.now, "x").unwrap();
    let b = c.s.pwd(c.now).unwrap();
    c.drain();
    c.feed(b"421 Timeout!\r\n");
    let done = c.completed();
    assert_eq!(done.iter().map(|d| d.0).collect::<Vec<_>>(), [a, b]);
    for (_, r) in &done {
        assert!(matches!(
            r,
            Err(OpError::Session(ClientError::ServiceClosing(_)))
        ));
    }
    assert!(matches!(c.error(), Some(ClientError::ServiceClosing(_))));
    assert_eq!(c.s.noop(c.now), Err(ClientError::Closed));
}

#[test]
fn unsolicited_reply_while_idle_is_an_event_and_421_is_fatal() {
    let mut c = C::logged_in(C::config());
    c.feed(b"425 Rejected data connection from foreign address\r\n");
    let outs = c.take();
    assert!(matches!(&outs[..], [ClientOutput::Unsolicited(r)] if r.code().as_u16() == 425));
    c.feed(b"421 Passive data channel timed out.\r\n");
    assert!(matches!(c.error(), Some(ClientError::ServiceClosing(_))));
}

#[test]
fn reply_timeout_and_eof() {
    let mut c = C::logged_in(C::config());
    c.s.noop(c.now).unwrap();
    c.drain();
    let t = c.s.poll_timeout().unwrap();
    assert_eq!(t, c.now + Duration::from_secs(60));
    c.advance(Duration::from_secs(59));
    assert!(!c.s.is_closed());
    c.advance(Duration::from_secs(1));
    assert_eq!(c.error(), Some(ClientError::Timeout));

    let mut c = C::logged_in(C::config());
    assert_eq!(c.s.poll_timeout(), None, "no timer while idle");
    c.s.noop(c.now).unwrap();
    c.drain();
    c.feed(b"200-partial\r\n");
    c.event(ClientEvent::ControlEof);
    assert_eq!(
        c.error(),
        Some(ClientError::Protocol(ReplyError::UnexpectedEof))
    );
}

#[test]
fn pwd_and_mkd_257_forms() {
    type Case = (&'static [u8], Result<&'static [u8], ReplyError>);
    let cases: &[Case] = &[
        (b"257 \"/\"\"hello\"\"\" is cwd\r\n", Ok(b"/\"hello\"")),
        (
            b"257 there is rubbish all over \"/this/is/the/path\"\r\n",
            Ok(b"/this/is/the/path"),
        ),
        (b"257-multi\r\n257 \"/m\" here\r\n", Ok(b"/m")),
        (b"257 \"Only one\r\n", Err(ReplyError::PathUnterminated)),
        (b"257 \"/\x03\"\r\n", Err(ReplyError::ControlByte)),
        (b"257 no quotes\r\n", Err(ReplyError::PathMissing)),
    ];
    for (reply, want) in cases {
        let mut c = C::logged_in(C::config());
        let op = c.s.pwd(c.now).unwrap();
        c.drain();
        c.feed(reply);
        match (c.one(op), want) {
            (Ok(Outcome::Path(p)), Ok(w)) => assert_eq!(&p[..], *w),
            (Err(OpError::BadReply { error, .. }), Err(w)) => assert_eq!(&error, w),
            (got, _) => panic!("{reply:?}: {got:?}"),
        }
    }
    let mut c = C::logged_in(C::config());
    let a = c.s.mkdir(c.now, "d").unwrap();
    let b = c.s.mkdir(c.now, "e").unwrap();
    c.drain();
    c.feed(b"257 \"/d\" created\r\n250 done\r\n");
    let done = c.completed();
    assert_eq!(done[0], (a, Ok(Outcome::Created(Some("/d".into())))));
    assert_eq!(done[1], (b, Ok(Outcome::Created(None))));
}

#[test]
fn size_mdtm_mlst_rename_site_stat() {
    let mut c = C::logged_in(C::config());
    let size = c.s.size(c.now, "a").unwrap();
    let odd = c.s.size(c.now, "b").unwrap();
    let mdtm = c.s.mdtm(c.now, "a").unwrap();
    let bad = c.s.mdtm(c.now, "b").unwrap();
    let mlst = c.s.mlst(c.now, Some("a".into())).unwrap();
    let ren = c.s.rename(c.now, "a", "b").unwrap();
    let ren_bad = c.s.rename(c.now, "zz", "b").unwrap();
    let site = c.s.site(c.now, "CHMOD 644 a").unwrap();
    let stat = c.s.stat(c.now, None).unwrap();
    c.drain();
    c.feed(b"213 1234\r\n213 file: 213, Size =51\r\n213 20240102030405\r\n213 2003040a102659\r\n");
    c.feed(b"250-Listing a\r\n type=file;size=3; /a\r\n250 End\r\n");
    c.feed(b"350 ready\r\n250 renamed\r\n550 no zz\r\n200 chmod\r\n211-status\r\n211 end\r\n");
    assert_eq!(
        c.sent(),
        [
            "SIZE a",
            "SIZE b",
            "MDTM a",
            "MDTM b",
            "MLST a",
            "RNFR a",
            "RNTO b",
            "RNFR zz",
            "SITE CHMOD 644 a",
            "STAT"
        ]
    );
    let done = c.completed();
    assert_eq!(done[0], (size, Ok(Outcome::Size(1234))));
    assert_eq!(done[1], (odd, Ok(Outcome::Size(51))));
    let Ok(Outcome::Modified(t)) = &done[2].1 else {
        panic!("{:?}", done[2])
    };
    assert_eq!(done[2].0, mdtm);
    assert_eq!(t.to_civil().year, 2024);
    assert!(matches!(&done[3], (id, Err(OpError::BadReply { .. })) if *id == bad));
    let Ok(Outcome::Entry(e)) = &done[4].1 else {
        panic!("{:?}", done[4])
    };
    assert_eq!(done[4].0, mlst);
    assert_eq!(
        (&e.name[..], e.size, &e.kind),
        (&b"/a"[..], Some(3), &EntryKind::File)
    );
    assert_eq!(done[5].0, ren);
    assert_eq!(code(&done[5].1), 250);
    assert_eq!(done[6].0, ren_bad);
    assert_eq!(code(&done[6].1), 550);
    assert_eq!((done[7].0, code(&done[7].1)), (site, 200));
    assert_eq!((done[8].0, code(&done[8].1)), (stat, 211));
}

// ----- passive data channel -----

#[test]
fn pasv_227_forms() {
    let forms: &[&[u8]] = &[
        b"227 Entering Passive Mode (10,0,0,1,79,15)\r\n",
        b"227 Entering Passive Mode (10,0,0,1,79,15).\r\n",
        b"227 Entering Passive Mode. 10,0,0,1,79,15\r\n",
        b"227 Entering passive mode. 10,0,0,1,79,15\r\n",
        b"227 Data transfer will passively listen to 10,0,0,1,79,15\r\n",
        b"227 =10,0,0,1,79,15\r\n",
        b"227 10,0,0,1,79,15\r\n",
        b"227-listen socket created\r\n227 (10,0,0,1,79,15)\r\n",
        b"227-1,2,3\r\n227 Entering Passive Mode (10,0,0,1,79,15)\r\n",
        b"227 Entering Passive Mode (0,0,0,0,79,15).\r\n",
    ];
    for form in forms {
        let mut config = C::config();
        config.data_mode = DataMode::PassiveNoEpsv;
        let mut c = C::logged_in(config);
        c.s.retr(c.now, "f", 0).unwrap();
        c.drain();
        assert_eq!(c.sent(), ["PASV"]);
        c.feed(form);
        let (_, addr, protection) = c.connect_intent();
        // The 227 address is ignored: the control peer with the 227 port (CVE-2020-8284).
        assert_eq!(addr, "192.0.2.10:20239".parse().unwrap(), "{form:?}");
        assert_eq!(protection, DataProtection::Clear);
    }
}

#[test]
fn pasv_out_of_range_is_an_error() {
    let mut config = C::config();
    config.data_mode = DataMode::PassiveNoEpsv;
    let mut c = C::logged_in(config);
    let op = c.s.retr(c.now, "f", 0).unwrap();
    c.drain();
    c.feed(b"227 Entering Passive Mode (1216,256,2,127,127,127)\r\n");
    assert!(matches!(c.one(op), Err(OpError::BadAddress { .. })));
    assert!(c.intents().is_empty());
    // The session goes on.
    let n = c.s.noop(c.now).unwrap();
    c.drain();
    c.feed(b"200 ok\r\n");
    assert_eq!(code(&c.one(n)), 200);
}

#[test]
fn pasv_address_trusted_only_with_opt_in() {
    let cases: &[(&[u8], &str)] = &[
        (
            b"227 Entering Passive Mode (10,0,0,1,79,15)\r\n",
            "10.0.0.1:20239",
        ),
        // 0.0.0.0 is never trusted.
        (
            b"227 Entering Passive Mode (0,0,0,0,79,15)\r\n",
            "192.0.2.10:20239",
        ),
    ];
    for (reply, want) in cases {
        let mut config = C::config();
        config.data_mode = DataMode::PassiveNoEpsv;
        config.trust_pasv_address = true;
        let mut c = C::logged_in(config);
        c.s.retr(c.now, "f", 0).unwrap();
        c.drain();
        c.feed(reply);
        assert_eq!(c.connect_intent().1, want.parse().unwrap());
    }
}

#[test]
fn epsv_229_forms() {
    let good: &[(&[u8], u16)] = &[
        (b"229 Entering Extended Passive Mode (|||6446|)\r\n", 6446),
        (b"229 Entering Extended Passive Mode (|||6446|).\r\n", 6446),
        (b"229 Extended Passive mode OK (!!!6446!)\r\n", 6446),
        (b"229-x\r\n229 ok (|||7000|)\r\n", 7000),
    ];
    for (form, port) in good {
        let mut c = C::logged_in(C::config());
        c.s.retr(c.now, "f", 0).unwrap();
        c.drain();
        assert_eq!(c.sent(), ["EPSV"]);
        c.feed(form);
        assert_eq!(
            c.connect_intent().1,
            SocketAddr::new(PEER.parse::<SocketAddr>().unwrap().ip(), *port)
        );
    }
    for form in [
        &b"229 Entering Extended Passive Mode (|||0|)\r\n"[..],
        b"229 Entering Extended Passive Mode (|||1000000|)\r\n",
        b"229 (\r\n",
        b"229 nothing\r\n",
    ] {
        let mut c = C::logged_in(C::config());
        let op = c.s.retr(c.now, "f", 0).unwrap();
        c.drain();
        c.sent();
        c.feed(form);
        assert!(
            matches!(c.one(op), Err(OpError::BadAddress { .. })),
            "{form:?}"
        );
        assert!(c.intents().is_empty());
    }
}

#[test]
fn epsv_refused_falls_back_to_pasv_and_is_remembered() {
    let mut c = C::logged_in(C::config());
    let a = c.s.nlst(c.now, None).unwrap();
    let b = c.s.nlst(c.now, None).unwrap();
    c.drain();
    c.feed(b"500 EPSV not understood\r\n");
    assert_eq!(c.sent(), ["EPSV", "PASV"]);
    assert!(c.s.is_epsv_disabled());
    c.feed(b"227 Entering Passive Mode (192,0,2,10,4,1)\r\n");
    let (id, addr, _) = c.connect_intent();
    assert_eq!(addr.port(), 1025);
    c.event(ClientEvent::DataConnected { id });
    assert_eq!(c.sent(), ["NLST"]);
    c.feed(b"150 here\r\n");
    c.expect_transfer(id, a, Direction::Download, true);
    c.s.handle_listing_data(c.now, id, b"one\r\ntwo\r\n")
        .unwrap();
    c.event(ClientEvent::TransferDone { id, bytes: 10 });
    c.feed(b"226 done\r\n");
    assert_eq!(
        c.one(a),
        Ok(Outcome::Names(vec!["one".into(), "two".into()]))
    );
    // The next transfer goes straight to PASV.
    assert_eq!(c.sent(), ["PASV"]);
    let _ = b;
}

#[test]
fn epsv_connect_failure_retries_with_pasv() {
    let mut c = C::logged_in(C::config());
    let op = c.s.retr(c.now, "f", 0).unwrap();
    c.drain();
    c.feed(b"229 (|||5000|)\r\n");
    let (id, _, _) = c.connect_intent();
    c.event(ClientEvent::DataFailed { id });
    assert_eq!(c.intents(), [DataIntent::Close { id }]);
    assert_eq!(c.sent(), ["EPSV", "PASV"]);
    c.feed(b"227 (192,0,2,10,4,2)\r\n");
    let (id2, addr, _) = c.connect_intent();
    assert_ne!(id, id2);
    assert_eq!(addr.port(), 1026);
    // A failure after PASV fails the operation.
    c.event(ClientEvent::DataFailed { id: id2 });
    assert_eq!(c.one(op), Err(OpError::DataConnection));
}

#[test]
fn connect_timeout_is_a_data_failure() {
    let mut config = C::config();
    config.data_mode = DataMode::PassiveNoEpsv;
    let mut c = C::logged_in(config);
    let op = c.s.retr(c.now, "f", 0).unwrap();
    c.drain();
    c.feed(b"227 (192,0,2,10,4,2)\r\n");
    let (id, _, _) = c.connect_intent();
    assert_eq!(c.s.poll_timeout(), Some(c.now + Duration::from_secs(30)));
    c.advance(Duration::from_secs(30));
    assert_eq!(c.intents(), [DataIntent::Close { id }]);
    assert_eq!(c.one(op), Err(OpError::DataConnection));
    // A late report about the closed channel is ignored.
    c.event(ClientEvent::DataConnected { id });
    assert!(c.take().is_empty());
}

// ----- transfers -----

#[test]
fn final_reply_before_data_end() {
    let mut c = C::logged_in(C::config());
    let (op, id) = c.retr_connected();
    // 150 and 226 in one read, before any data (curl test 126).
    c.feed(b"150 Opening BINARY mode data connection for f (3 bytes)\r\n226 Transfer complete\r\n");
    c.expect_transfer(id, op, Direction::Download, false);
    assert!(c.completed().is_empty(), "not done before the end of data");
    c.event(ClientEvent::TransferDone { id, bytes: 3 });
    assert_eq!(
        c.one(op),
        Ok(Outcome::Transferred {
            bytes: 3,
            announced: Some(3)
        })
    );
}

#[test]
fn data_end_before_final_reply() {
    let mut c = C::logged_in(C::config());
    let (op, id) = c.retr_connected();
    c.feed(b"150 ok\r\n");
    c.expect_transfer(id, op, Direction::Download, false);
    assert_eq!(c.s.poll_timeout(), None, "no reply timer while data moves");
    c.event(ClientEvent::TransferDone { id, bytes: 0 });
    assert!(c.completed().is_empty());
    assert_eq!(c.s.poll_timeout(), Some(c.now + Duration::from_secs(60)));
    c.feed(b"226 ok\r\n");
    assert_eq!(
        c.one(op),
        Ok(Outcome::Transferred {
            bytes: 0,
            announced: None
        })
    );
}

#[test]
fn no_150_at_all() {
    let mut c = C::logged_in(C::config());
    let (op, id) = c.retr_connected();
    c.feed(b"226 here you go\r\n");
    c.expect_transfer(id, op, Direction::Download, false);
    c.event(ClientEvent::TransferDone { id, bytes: 9 });
    assert!(matches!(
        c.one(op),
        Ok(Outcome::Transferred { bytes: 9, .. })
    ));
}

#[test]
fn preliminary_then_failure_keeps_the_session() {
    for fail in [
        &b"425 Can't open data connection.\r\n"[..],
        b"426 Connection closed; transfer aborted.\r\n",
        b"451 Local error\r\n",
    ] {
        let mut c = C::logged_in(C::config());
        let (op, id) = c.retr_connected();
        c.feed(b"150 ok\r\n");
        c.expect_transfer(id, op, Direction::Download, false);
        c.feed(fail);
        assert_eq!(c.intents(), [DataIntent::Abort { id }]);
        let r = c.one(op);
        assert_eq!(
            code(&r),
            std::str::from_utf8(&fail[..3])
                .unwrap()
                .parse::<u16>()
                .unwrap()
        );
        // The adapter's late report is ignored and the session goes on.
        c.event(ClientEvent::TransferFailed {
            id,
            error: DataError::ConnectionLost,
        });
        let n = c.s.noop(c.now).unwrap();
        c.drain();
        assert_eq!(c.sent(), ["NOOP"]);
        c.feed(b"200 ok\r\n");
        assert_eq!(code(&c.one(n)), 200);
    }
}

#[test]
fn refused_transfer_closes_the_unused_channel() {
    let mut c = C::logged_in(C::config());
    let (op, id) = c.retr_connected();
    c.feed(b"550 No such file\r\n");
    assert_eq!(c.intents(), [DataIntent::Close { id }]);
    assert_eq!(code(&c.one(op)), 550);
}

#[test]
fn data_failure_waits_for_the_servers_reply() {
    let mut c = C::logged_in(C::config());
    let (op, id) = c.retr_connected();
    c.feed(b"150 ok\r\n");
    c.intents();
    c.event(ClientEvent::TransferFailed {
        id,
        error: DataError::ConnectionLost,
    });
    assert!(c.completed().is_empty());
    c.feed(b"426 broken\r\n");
    assert!(matches!(
        c.one(op),
        Err(OpError::Transfer { error: DataError::ConnectionLost, reply: Some(r) }) if r.code().as_u16() == 426
    ));
}

#[test]
fn reply_421_mid_transfer() {
    let mut c = C::logged_in(C::config());
    let (op, id) = c.retr_connected();
    let queued = c.s.pwd(c.now).unwrap();
    c.feed(b"150 ok\r\n");
    c.intents();
    c.feed(b"421 Service not available, closing control connection.\r\n");
    let outs = c.take();
    assert!(outs.contains(&ClientOutput::Data(DataIntent::Abort { id })));
    let done: Vec<_> = outs
        .iter()
        .filter_map(|o| match o {
            ClientOutput::Completed(i, r) => Some((*i, r.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(done.len(), 2);
    assert_eq!((done[0].0, done[1].0), (op, queued));
    assert!(matches!(
        &done[0].1,
        Err(OpError::Session(ClientError::ServiceClosing(_)))
    ));
    assert_eq!(outs.last(), Some(&ClientOutput::Close));
}

#[test]
fn rest_before_retr_and_stor() {
    let mut c = C::logged_in(C::config());
    let op = c.s.retr(c.now, "big", 100).unwrap();
    c.drain();
    c.feed(b"229 (|||5000|)\r\n");
    let (id, _, _) = c.connect_intent();
    c.event(ClientEvent::DataConnected { id });
    assert_eq!(c.sent(), ["EPSV", "REST 100"]);
    c.feed(b"350 Restarting at 100\r\n");
    assert_eq!(c.sent(), ["RETR big"]);
    c.feed(b"150 ok\r\n226 ok\r\n");
    c.expect_transfer(id, op, Direction::Download, false);
    c.event(ClientEvent::TransferDone { id, bytes: 50 });
    assert!(matches!(
        c.one(op),
        Ok(Outcome::Transferred { bytes: 50, .. })
    ));

    let op = c.s.stor(c.now, "up", 7).unwrap();
    c.drain();
    c.feed(b"229 (|||5001|)\r\n");
    let (id, _, _) = c.connect_intent();
    c.event(ClientEvent::DataConnected { id });
    c.feed(b"502 REST not implemented\r\n");
    assert_eq!(c.sent(), ["EPSV", "REST 7"]);
    assert_eq!(c.intents(), [DataIntent::Close { id }]);
    assert_eq!(code(&c.one(op)), 502);
}

#[test]
fn stou_reads_the_file_name() {
    let mut c = C::logged_in(C::config());
    let op = c.s.stou(c.now).unwrap();
    c.drain();
    c.feed(b"229 (|||5000|)\r\n");
    let (id, _, _) = c.connect_intent();
    c.event(ClientEvent::DataConnected { id });
    assert_eq!(c.sent(), ["EPSV", "STOU"]);
    c.feed(b"150 FILE: up.1\r\n");
    c.expect_transfer(id, op, Direction::Upload, false);
    c.event(ClientEvent::TransferDone { id, bytes: 4 });
    c.feed(b"226 stored\r\n");
    assert_eq!(
        c.one(op),
        Ok(Outcome::StoredUnique {
            bytes: 4,
            name: Some("up.1".into())
        })
    );
}

#[test]
fn list_and_mlsd_are_parsed() {
    let mut c = C::logged_in(C::config());
    let op = c.s.list(c.now, Some("dir".into()), None).unwrap();
    c.drain();
    c.feed(b"229 (|||5000|)\r\n");
    let (id, _, _) = c.connect_intent();
    c.event(ClientEvent::DataConnected { id });
    assert_eq!(c.sent(), ["EPSV", "LIST dir"]);
    c.feed(b"150 ok\r\n");
    c.expect_transfer(id, op, Direction::Download, true);
    let data = b"total 2\r\n-rw-r--r-- 1 u g 42 Jan  1  2020 a b.txt\r\n12-25-20  09:15PM       <DIR>          sub\r\n";
    for chunk in data.chunks(7) {
        c.s.handle_listing_data(c.now, id, chunk).unwrap();
    }
    c.event(ClientEvent::TransferDone {
        id,
        bytes: data.len() as u64,
    });
    c.feed(b"226 ok\r\n");
    let Ok(Outcome::Listing(l)) = c.one(op) else {
        panic!()
    };
    assert_eq!(l.entries.len(), 2);
    assert_eq!(&l.entries[0].name[..], b"a b.txt");
    assert_eq!(l.entries[0].size, Some(42));
    assert_eq!(&l.entries[1].name[..], b"sub");
    assert!(l.entries[1].kind.is_dir());

    let op = c.s.mlsd(c.now, None).unwrap();
    c.drain();
    c.feed(b"229 (|||5001|)\r\n");
    let (id, _, _) = c.connect_intent();
    c.event(ClientEvent::DataConnected { id });
    c.feed(b"150 ok\r\n");
    c.intents();
    c.s.handle_listing_data(
        c.now,
        id,
        b"type=cdir; .\r\ntype=file;size=5;modify=20200101000000; f\r\n",
    )
    .unwrap();
    c.feed(b"226 ok\r\n");
    c.event(ClientEvent::TransferDone { id, bytes: 10 });
    let Ok(Outcome::Listing(l)) = c.one(op) else {
        panic!()
    };
    assert_eq!(l.entries.len(), 2);
    assert_eq!(l.entries[0].kind, EntryKind::CurrentDir);
    assert_eq!(
        (&l.entries[1].name[..], l.entries[1].size),
        (&b"f"[..], Some(5))
    );
    assert!(matches!(
        c.s.handle_listing_data(c.now, id, b"late"),
        Ok(())
    ));
}

// ----- active mode -----

#[test]
fn active_mode_port_and_peer_check() {
    let mut config = C::config();
    config.data_mode = DataMode::Active;
    let mut c = C::logged_in(config);
    let op = c.s.retr(c.now, "f", 0).unwrap();
    c.drain();
    let [DataIntent::Listen { id }] = c.intents()[..] else {
        panic!()
    };
    c.event(ClientEvent::Listening {
        id,
        addr: "198.51.100.7:40000".parse().unwrap(),
    });
    assert_eq!(c.sent(), ["PORT 198,51,100,7,156,64"]);
    c.feed(b"200 PORT ok\r\n");
    assert_eq!(c.sent(), ["RETR f"]);
    // Port stealing: a connection from another host is refused, the listener stays.
    let foreign =
        c.s.handle_data_accept(c.now, id, "203.0.113.9:20".parse().unwrap());
    assert_eq!(foreign, Ok(Accept::Reject));
    let real =
        c.s.handle_data_accept(c.now, id, "[::ffff:192.0.2.10]:20".parse().unwrap());
    assert_eq!(
        real,
        Ok(Accept::Use {
            protection: DataProtection::Clear
        })
    );
    let again =
        c.s.handle_data_accept(c.now, id, "192.0.2.10:20".parse().unwrap());
    assert_eq!(
        again,
        Ok(Accept::Reject),
        "only one connection per transfer"
    );
    c.feed(b"150 ok\r\n");
    c.expect_transfer(id, op, Direction::Download, false);
    c.event(ClientEvent::TransferDone { id, bytes: 1 });
    c.feed(b"226 ok\r\n");
    assert!(matches!(
        c.one(op),
        Ok(Outcome::Transferred { bytes: 1, .. })
    ));
}

#[test]
fn active_mode_ipv6_uses_eprt_and_refusal_fails_the_op() {
    let mut config = C::config();
    config.data_mode = DataMode::Active;
    let mut c = C::logged_in(config);
    let op = c.s.stor(c.now, "f", 0).unwrap();
    c.drain();
    let [DataIntent::Listen { id }] = c.intents()[..] else {
        panic!()
    };
    c.event(ClientEvent::Listening {
        id,
        addr: "[2001:db8::5]:40000".parse().unwrap(),
    });
    assert_eq!(c.sent(), ["EPRT |2|2001:db8::5|40000|"]);
    c.feed(b"522 Network protocol not supported, use (1)\r\n");
    assert_eq!(c.intents(), [DataIntent::Close { id }]);
    assert_eq!(code(&c.one(op)), 522);
}

#[test]
fn active_listener_failure() {
    let mut config = C::config();
    config.data_mode = DataMode::Active;
    let mut c = C::logged_in(config);
    let op = c.s.retr(c.now, "f", 0).unwrap();
    c.drain();
    let [DataIntent::Listen { id }] = c.intents()[..] else {
        panic!()
    };
    c.event(ClientEvent::DataFailed { id });
    assert_eq!(c.one(op), Err(OpError::DataConnection));
}

// ----- ABOR -----

fn aborting(c: &mut C) -> (OpId, DataId, OpId) {
    let (op, id) = c.retr_connected();
    c.feed(b"150 ok\r\n");
    c.expect_transfer(id, op, Direction::Download, false);
    let abort = c.s.abort(c.now).unwrap();
    c.drain();
    assert_eq!(c.sent(), ["ABOR"]);
    assert_eq!(c.intents(), [DataIntent::Abort { id }]);
    (op, id, abort)
}

#[test]
fn abort_with_426_then_226() {
    let mut c = C::logged_in(C::config());
    let (op, id, abort) = aborting(&mut c);
    c.feed(b"426 Connection closed; transfer aborted.\r\n");
    assert!(c.completed().is_empty());
    c.event(ClientEvent::TransferFailed {
        id,
        error: DataError::ConnectionLost,
    });
    c.feed(b"226 Abort successful\r\n");
    let done = c.completed();
    assert_eq!(done[0], (op, Err(OpError::Aborted)));
    assert_eq!(done[1].0, abort);
    assert_eq!(code(&done[1].1), 226);
}

#[test]
fn abort_with_226_alone_settles() {
    let mut c = C::logged_in(C::config());
    let (op, _, abort) = aborting(&mut c);
    let next = c.s.noop(c.now).unwrap();
    c.drain();
    c.feed(b"226 Abort successful\r\n");
    assert!(c.completed().is_empty());
    assert!(c.sent().is_empty(), "NOOP waits while the abort settles");
    assert_eq!(c.s.poll_timeout(), Some(c.now + Duration::from_secs(1)));
    c.advance(Duration::from_secs(1));
    let done = c.completed();
    assert_eq!(done[0], (op, Err(OpError::Aborted)));
    assert_eq!((done[1].0, code(&done[1].1)), (abort, 226));
    assert_eq!(c.sent(), ["NOOP"]);
    let _ = next;
}

#[test]
fn abort_after_the_transfer_finished_226_then_225() {
    let mut c = C::logged_in(C::config());
    let (op, _, abort) = aborting(&mut c);
    c.feed(b"226 Transfer complete\r\n225 No transfer to abort\r\n");
    let done = c.completed();
    assert_eq!(done[0], (op, Err(OpError::Aborted)));
    assert_eq!((done[1].0, code(&done[1].1)), (abort, 225));
}

#[test]
fn abort_with_nothing_in_progress_gets_225() {
    let mut c = C::logged_in(C::config());
    let abort = c.s.abort(c.now).unwrap();
    c.drain();
    assert_eq!(c.sent(), ["ABOR"]);
    c.feed(b"225 No transfer to abort\r\n");
    assert_eq!(code(&c.one(abort)), 225);
}

#[test]
fn abort_during_setup_sends_no_abor() {
    let mut c = C::logged_in(C::config());
    let op = c.s.retr(c.now, "f", 0).unwrap();
    c.drain();
    assert_eq!(c.sent(), ["EPSV"]);
    let abort = c.s.abort(c.now).unwrap();
    c.drain();
    assert!(c.completed().is_empty(), "the EPSV reply is still due");
    c.feed(b"229 (|||5000|)\r\n");
    assert!(c.intents().is_empty());
    let done = c.completed();
    assert_eq!(done[0], (op, Err(OpError::Aborted)));
    assert_eq!(done[1], (abort, Ok(Outcome::Aborted(None))));
    assert!(c.sent().is_empty());

    let op = c.s.retr(c.now, "f", 0).unwrap();
    c.drain();
    c.feed(b"229 (|||5000|)\r\n");
    let (id, _, _) = c.connect_intent();
    let abort = c.s.abort(c.now).unwrap();
    c.drain();
    assert_eq!(c.intents(), [DataIntent::Close { id }]);
    let done = c.completed();
    assert_eq!(done[0], (op, Err(OpError::Aborted)));
    assert_eq!(done[1], (abort, Ok(Outcome::Aborted(None))));
    assert_eq!(c.sent(), ["EPSV"]);
}

// ----- quit and misuse -----

#[test]
fn quit_closes_after_queued_operations() {
    let mut c = C::logged_in(C::config());
    let n = c.s.noop(c.now).unwrap();
    let q = c.s.quit(c.now).unwrap();
    assert_eq!(c.s.noop(c.now), Err(ClientError::Closed));
    c.drain();
    c.feed(b"200 ok\r\n221 bye\r\n");
    assert_eq!(c.sent(), ["NOOP", "QUIT"]);
    let outs = c.take();
    assert!(matches!(&outs[0], ClientOutput::Completed(i, _) if *i == n));
    assert!(
        matches!(&outs[1], ClientOutput::Completed(i, Ok(Outcome::Done(r))) if *i == q && r.code().as_u16() == 221)
    );
    assert_eq!(outs[2], ClientOutput::Close);
    assert!(c.s.is_closed());
    assert_eq!(c.s.handle_event(c.now, ClientEvent::ControlEof), Ok(()));
}

#[test]
fn queue_is_bounded_and_unknown_ids_are_errors() {
    let mut config = C::config();
    config.max_queued_ops = 2;
    let mut c = C::new(config);
    c.s.noop(c.now).unwrap();
    c.s.noop(c.now).unwrap();
    assert_eq!(c.s.noop(c.now), Err(ClientError::QueueFull));
    let mut c = C::logged_in(C::config());
    let (_, id) = c.retr_connected();
    let bogus = {
        // An id far beyond any handed out, built by a different session's sequence.
        let mut other = C::logged_in(C::config());
        for _ in 0..5 {
            other.retr_connected();
            other.feed(b"550 no\r\n");
            other.intents();
            other.completed();
        }
        let (_, far) = other.retr_connected();
        far
    };
    assert!(bogus > id);
    assert_eq!(
        c.s.handle_event(c.now, ClientEvent::DataConnected { id: bogus }),
        Err(ClientError::UnknownData(bogus))
    );
}

#[test]
fn active_server_that_never_connects_times_out() {
    let mut config = C::config();
    config.data_mode = DataMode::Active;
    let mut c = C::logged_in(config);
    let op = c.s.retr(c.now, "f", 0).unwrap();
    c.drain();
    let [DataIntent::Listen { id }] = c.intents()[..] else {
        panic!()
    };
    c.event(ClientEvent::Listening {
        id,
        addr: "198.51.100.7:40000".parse().unwrap(),
    });
    c.feed(b"200 PORT ok\r\n150 ok\r\n226 done\r\n");
    c.expect_transfer(id, op, Direction::Download, false);
    assert_eq!(c.s.poll_timeout(), Some(c.now + Duration::from_secs(60)));
    c.advance(Duration::from_secs(60));
    assert!(matches!(
        c.completed()[..],
        [(i, Err(OpError::Session(ClientError::Timeout)))] if i == op
    ));
    assert_eq!(c.error(), Some(ClientError::Timeout));
}

#[test]
fn handle_calls_between_polls_queue_their_outputs_after_the_unpolled_ones() {
    let mut c = C::logged_in(C::config());
    let retr = c.s.retr(c.now, "f", 0).unwrap();
    c.drain();
    assert_eq!(c.sent(), ["EPSV"]);
    c.feed(b"229 Entering Extended Passive Mode (|||50001|)\r\n");
    let (id, _, _) = c.connect_intent();
    c.event(ClientEvent::DataConnected { id });
    assert_eq!(c.sent(), ["RETR f"]);
    let s = &mut c.s;
    let now = c.now;

    s.handle_input(now, b"150 Opening (5 bytes)\r\n").unwrap();
    let pwd = s.pwd(now).unwrap();
    assert_eq!(
        s.poll_output(),
        Some(ClientOutput::Data(DataIntent::Transfer {
            id,
            op: retr,
            direction: Direction::Download,
            listing: false
        }))
    );
    // The data task finishes before the drain has ended: nothing to emit yet (the 226 is due).
    s.handle_event(now, ClientEvent::TransferDone { id, bytes: 5 })
        .unwrap();
    assert_eq!(s.poll_output(), None);
    s.handle_input(now, b"226 Done\r\n").unwrap();
    assert_eq!(
        s.poll_output(),
        Some(ClientOutput::Completed(
            retr,
            Ok(Outcome::Transferred {
                bytes: 5,
                announced: Some(5)
            })
        ))
    );
    // The server hangs up while PWD, queued behind the transfer, is still unpolled: the PWD
    // line comes first, then what the event produced, in order.
    s.handle_event(now, ClientEvent::ControlEof).unwrap();
    assert!(matches!(
        s.poll_output(),
        Some(ClientOutput::Send(b)) if &b[..] == b"PWD\r\n"
    ));
    assert_eq!(
        s.poll_output(),
        Some(ClientOutput::Completed(
            pwd,
            Err(OpError::Session(ClientError::ConnectionClosed))
        ))
    );
    assert_eq!(
        s.poll_output(),
        Some(ClientOutput::Error(ClientError::ConnectionClosed))
    );
    assert_eq!(s.poll_output(), Some(ClientOutput::Close));
    assert_eq!(s.poll_output(), None);
}

// ----- mutants of the session's accessors, timers and data checks (issue 15, TESTING.md) -----

/// In passive mode the client connects out, so a connection offered on its side for that
/// channel is refused, even from the server's own address. (`||` as `&&` between the id and
/// `active` checks of `handle_data_accept` survives this: a passive channel is either still
/// connecting, which the stage check refuses, or already connected.)
#[test]
fn a_passive_channel_accepts_no_incoming_connection() {
    let mut c = C::logged_in(C::config());
    c.s.retr(c.now, "f", 0).unwrap();
    c.drain();
    assert_eq!(c.sent(), ["EPSV"]);
    c.feed(b"229 Entering Extended Passive Mode (|||50001|)\r\n");
    // While the client's own connect is under way, and after it.
    let (id, _, _) = c.connect_intent();
    let offered =
        c.s.handle_data_accept(c.now, id, "192.0.2.10:20".parse().unwrap());
    assert_eq!(offered, Ok(Accept::Reject), "while connecting");
    c.event(ClientEvent::DataConnected { id });
    let offered =
        c.s.handle_data_accept(c.now, id, "192.0.2.10:20".parse().unwrap());
    assert_eq!(offered, Ok(Accept::Reject), "once connected");
}

/// Kills `replace ClientSession::rearm_reply_timer with ()`: the reply timeout counts from the
/// last sign of life (the 150, the end of the data), not from the command, so a download that
/// moves data for longer than the timeout still waits a full timeout for its 226.
#[test]
fn the_reply_timer_restarts_after_the_data_ends() {
    let mut c = C::logged_in(C::config());
    let (op, id) = c.retr_connected();
    c.advance(Duration::from_secs(30));
    c.feed(b"150 here it comes\r\n");
    c.expect_transfer(id, op, Direction::Download, false);
    // Data moves for two timeouts; no reply timer runs meanwhile.
    c.advance(Duration::from_secs(120));
    assert!(!c.s.is_closed());
    c.event(ClientEvent::TransferDone { id, bytes: 7 });
    assert_eq!(c.s.poll_timeout(), Some(c.now + Duration::from_secs(60)));
    c.advance(Duration::from_secs(59));
    assert!(
        !c.s.is_closed(),
        "timed out before a full timeout after the data"
    );
    c.feed(b"226 done\r\n");
    assert!(matches!(
        c.one(op),
        Ok(Outcome::Transferred { bytes: 7, .. })
    ));
}

/// Kills `replace ClientSession::is_epsv_disabled -> bool with true` and the `features` and
/// `is_tls` accessors' mutants: what the session reports before and after the login.
#[test]
fn the_session_reports_its_state() {
    let mut config = C::config();
    config.utf8 = false;
    let mut c = C::new(config);
    c.feed(b"220 ready\r\n331 pass\r\n230 ok\r\n211-Features:\r\n MLST size*;modify*;type*;\r\n EPSV\r\n211 End\r\n");
    assert_eq!(c.sent(), ["USER alice", "PASS secret", "FEAT", "TYPE I"]);
    c.feed(b"200 binary\r\n");
    assert!(c.s.is_logged_in());
    assert!(!c.s.is_tls(), "a plain control connection");
    assert!(!c.s.is_epsv_disabled(), "EPSV not tried yet");
    assert!(
        c.s.features().has("MLST") && c.s.features().has("EPSV"),
        "{:?}",
        c.s.features()
    );
}

/// An adapter may call `handle_timeout` early (a spurious wake-up): before its deadline the
/// data connect goes on, with no fallback to PASV and no failure. (The guard mutant
/// `*deadline <= now` as `true` in `transfer_step` survives it: the session checks its own
/// deadlines before it hands the transfer a timeout, and no other timer runs meanwhile.)
#[test]
fn an_early_timeout_call_does_not_fail_a_data_connect() {
    let mut c = C::logged_in(C::config());
    let op = c.s.retr(c.now, "f", 0).unwrap();
    c.drain();
    assert_eq!(c.sent(), ["EPSV"]);
    c.feed(b"229 Entering Extended Passive Mode (|||50001|)\r\n");
    let (id, _, _) = c.connect_intent();
    c.advance(Duration::from_millis(100));
    assert!(c.sent().is_empty(), "nothing sent on an early timeout call");
    assert!(c.take().is_empty(), "no intent, no completion");
    c.event(ClientEvent::DataConnected { id });
    assert_eq!(c.sent(), ["RETR f"]);
    c.feed(b"150 ok\r\n");
    c.expect_transfer(id, op, Direction::Download, false);
    c.event(ClientEvent::TransferDone { id, bytes: 3 });
    c.feed(b"226 ok\r\n");
    assert!(matches!(
        c.one(op),
        Ok(Outcome::Transferred { bytes: 3, .. })
    ));
}

/// Kills `replace && with ||` in the `DataDone` arm of `ClientSession::transfer_step`: the
/// first report of the data's end counts; a second one (an adapter reporting twice) does not
/// change the byte count.
#[test]
fn the_first_end_of_data_counts() {
    let mut c = C::logged_in(C::config());
    let (op, id) = c.retr_connected();
    c.feed(b"150 ok\r\n");
    c.expect_transfer(id, op, Direction::Download, false);
    c.event(ClientEvent::TransferDone { id, bytes: 7 });
    let _ =
        c.s.handle_event(c.now, ClientEvent::TransferDone { id, bytes: 9 });
    c.drain();
    c.feed(b"226 ok\r\n");
    assert!(matches!(
        c.one(op),
        Ok(Outcome::Transferred { bytes: 7, .. })
    ));
}

/// Kills `replace && with ||` in the `DataFailed` arm of `ClientSession::transfer_step`: a
/// failure reported after the data already ended cleanly (an adapter's late report) does not
/// turn a completed download into a failed one.
#[test]
fn a_failure_after_the_end_of_data_does_not_undo_it() {
    let mut c = C::logged_in(C::config());
    let (op, id) = c.retr_connected();
    c.feed(b"150 ok\r\n");
    c.expect_transfer(id, op, Direction::Download, false);
    c.event(ClientEvent::TransferDone { id, bytes: 7 });
    let _ = c.s.handle_event(
        c.now,
        ClientEvent::TransferFailed {
            id,
            error: DataError::ConnectionLost,
        },
    );
    c.drain();
    c.feed(b"226 ok\r\n");
    assert!(matches!(
        c.one(op),
        Ok(Outcome::Transferred { bytes: 7, .. })
    ));
}
