//! The server session: arbitrary client bytes and commands, application answers, data-channel
//! events, TLS outcomes and the passing of time, driven the way an adapter drives it.
//!
//! The input is a config choice and a list of operations. The harness plays a well-behaved
//! adapter: it reads only while `wants_read`, answers only requests it was given, reports data
//! events only for channels the session opened, moves time forward only, and drains
//! `poll_output` to `None` (under a cap) after every call. At the end it settles: answers what
//! is outstanding, finishes transfers and fires due timers (never the idle timer).
//!
//! Invariants:
//! - no call returns an error except the deliberate ones (answers to retired ids, calls after
//!   close), which leave no output behind;
//! - the bytes sent decode as FTP replies (strict RFC 959 decoder) starting with 220; 227, 228
//!   and 229 advertise the port the harness bound (227/228 with the local address) and 257 a
//!   normalized path, as the client-side parsers read them back; each `Send`
//!   stays within the output limit plus one reply; a `1xx` is always followed by a final reply
//!   before the next `1xx`;
//! - every command line (or overlong line) gets exactly one final reply once the session has
//!   settled, counting from the last `AUTH TLS` (which drops what was pipelined after it); a
//!   closed session sent at most one unsolicited final reply (the 421);
//! - a login request is flagged anonymous exactly when `is_anonymous_user` says so, and only
//!   with anonymous access on;
//! - request and data ids are unique; request paths are rooted and normalized; active-mode
//!   connections go to the client's own address on an unprivileged port; passive listeners bind
//!   the control connection's local address in the configured range;
//! - every opened handle the session accepted (`handle_event` returned `Ok` for `Opened` or
//!   `OpenedUnique`) ends in exactly one `Transfer { source }` or one `Release(source)`, never
//!   both; none is left at `Close` or once the session has settled;
//! - progress reports never produce a reply; a data event for a transfer that already ended
//!   (aborted, stalled, failed, done) is refused with `UnknownData` and produces none;
//! - nothing follows `Close`; after `handle_timeout(now)` no timer is still due at `now`.
#![no_main]

use std::collections::{HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use bytes::{Bytes, BytesMut};
use ftp_proto::addr;
use ftp_proto::line::{LineConfig, LineDecoder};
use ftp_proto::listing::{Entry, EntryKind};
use ftp_proto::path::VirtualPath;
use ftp_proto::reply::{parse_257, ReplyDecoder, ReplyDecoderConfig, ReplyError};
use ftp_proto::server::{
    is_anonymous_user, Accept, Answer, DataId, DataIntent, Failure, Notice, Request, RequestId,
    ServerConfig, ServerEvent, ServerOutput, ServerSession, SessionError, StorageRequest, TlsMode,
    TransferError, WriteMode,
};
use ftp_proto::time::Timestamp;
use libfuzzer_sys::fuzz_target;

const IDLE: Duration = Duration::from_secs(3600);
const DATA_TIMEOUT: Duration = Duration::from_secs(30);
const LOGIN_DELAY: Duration = Duration::from_secs(1);
/// Outputs one drain may yield before the harness calls it a runaway.
const DRAIN_CAP: usize = 10_000;

#[derive(Arbitrary, Debug)]
struct Input {
    tls: u8,
    small_limits: bool,
    anonymous: bool,
    ipv6: bool,
    require_data_tls: bool,
    /// Start with USER/PASS sent and the login accepted.
    logged_in: bool,
    accept_truncated: bool,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// Raw bytes from the client.
    Bytes(Vec<u8>),
    /// One command line from a table of verbs and arguments.
    Command(u8, Arg),
    /// Several table commands in one read (pipelining).
    Burst(Vec<(u8, Arg)>),
    Answer(AnswerKind),
    /// An answer to a request that was already answered: must be refused.
    StaleAnswer,
    Listening(u16),
    ListenFailed,
    Accept {
        foreign: bool,
    },
    DataReady(Option<bool>),
    DataFailed,
    TransferDone(u32),
    TransferFailed(u8),
    /// The transfer's TLS stream ended without close_notify.
    TransferTruncated(u32),
    Tls(bool),
    /// Advance the clock by this many tenths of a second, then `handle_timeout`.
    Advance(u16),
    /// Advance to `poll_timeout` and fire it.
    Fire,
    /// Whatever a working adapter would do next (answer with success, bind, accept, connect,
    /// finish the transfer, complete TLS), as in the final settling.
    Auto,
    /// Report the running transfer's byte count, grown by this much (0: no progress).
    Progress(u16),
    /// A data event for the transfer that ended last (aborted, stalled, failed or done), as
    /// when the data task's report crosses the session's decision: refused, and no reply.
    Late(u8),
}

#[derive(Arbitrary, Debug)]
enum Arg {
    None,
    Name(u8),
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum AnswerKind {
    LoggedIn(bool),
    Done,
    Meta {
        dir: bool,
        size: Option<u32>,
        mtime: Option<u32>,
    },
    Entries(u8),
    Opened(Option<u32>),
    OpenedUnique(u8),
    Failed(u8),
}

/// Verbs with a canned argument; `None` means the op's `Arg` is used.
const VERBS: &[(&str, Option<&str>)] = &[
    ("USER", Some("alice")),
    ("USER", Some("anonymous")),
    ("PASS", Some("secret")),
    ("ACCT", Some("acct")),
    ("HOST", Some("ftp.example.org")),
    ("CWD", None),
    ("CDUP", Some("")),
    ("PWD", Some("")),
    ("MKD", None),
    ("RMD", None),
    ("DELE", None),
    ("RNFR", None),
    ("RNTO", None),
    ("PASV", Some("")),
    ("EPSV", Some("")),
    ("EPSV", Some("ALL")),
    ("EPSV", Some("1")),
    ("LPSV", Some("")),
    ("PORT", Some("192,0,2,10,4,1")),
    ("PORT", Some("198,51,100,7,4,1")),
    ("PORT", Some("192,0,2,10,0,21")),
    ("EPRT", Some("|1|192.0.2.10|1025|")),
    ("EPRT", Some("|2|2001:db8::10|1025|")),
    ("LPRT", Some("4,4,192,0,2,10,2,4,1")),
    ("TYPE", Some("A")),
    ("TYPE", Some("I")),
    ("MODE", Some("S")),
    ("STRU", Some("F")),
    ("REST", Some("100")),
    ("RETR", None),
    ("STOR", None),
    ("APPE", None),
    ("STOU", Some("")),
    ("LIST", None),
    ("NLST", None),
    ("MLSD", None),
    ("MLST", None),
    ("STAT", Some("")),
    ("STAT", None),
    ("SIZE", None),
    ("MDTM", None),
    ("MFMT", Some("20240102030405 f")),
    ("SITE", Some("CHMOD 644 f")),
    ("SITE", Some("HELP")),
    ("FEAT", Some("")),
    ("OPTS", Some("MLST type;size;unix.mode;")),
    ("OPTS", Some("UTF8 ON")),
    ("AUTH", Some("TLS")),
    ("PBSZ", Some("0")),
    ("PROT", Some("P")),
    ("PROT", Some("C")),
    ("CCC", Some("")),
    ("ABOR", Some("")),
    ("QUIT", Some("")),
    ("REIN", Some("")),
    ("NOOP", Some("")),
    ("SYST", Some("")),
    ("HELP", Some("")),
    ("LANG", Some("EN")),
    ("ALLO", Some("1024")),
    ("XYZZY", None),
];

fn command_line(verb: u8, arg: &Arg) -> Vec<u8> {
    let (name, canned) = VERBS[usize::from(verb) % VERBS.len()];
    let mut line = name.as_bytes().to_vec();
    let arg: Vec<u8> = match (canned, arg) {
        (Some(c), _) => c.as_bytes().to_vec(),
        (None, Arg::None) => Vec::new(),
        (None, Arg::Name(n)) => match n % 6 {
            0 => b"f".to_vec(),
            1 => b"dir/sub".to_vec(),
            2 => b"../../etc/passwd".to_vec(),
            3 => b"/".to_vec(),
            4 => b"-la".to_vec(),
            _ => format!("file{n}.txt").into_bytes(),
        },
        (None, Arg::Raw(r)) => r.iter().copied().filter(|&b| b != b'\n').collect(),
    };
    if !arg.is_empty() {
        line.push(b' ');
        line.extend_from_slice(&arg);
    }
    line.extend_from_slice(b"\r\n");
    line
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chan {
    /// `Listen` asked; `Listening` not reported yet.
    Binding,
    Listening,
    /// Passive connection accepted; `DataReady` not reported yet.
    Accepted,
    /// `Connect` asked; not reported yet.
    Connecting,
    Ready,
}

struct Harness {
    s: ServerSession,
    config: Arc<ServerConfig>,
    peer: SocketAddr,
    local: SocketAddr,
    now: Instant,
    closed: bool,
    requests: VecDeque<(RequestId, Request)>,
    request_ids: HashSet<RequestId>,
    answered: Vec<RequestId>,
    opened: HashSet<RequestId>,
    /// Opened handles the session accepted and has neither transferred nor released.
    handles: HashSet<RequestId>,
    data_ids: HashSet<DataId>,
    chan: Option<(DataId, Chan)>,
    transfer: Option<DataId>,
    /// The running transfer's byte count as last reported.
    moved: u64,
    /// The transfer that ended last.
    ended: Option<DataId>,
    handshaking: bool,
    // The client's view of the control connection.
    mirror: LineDecoder,
    lines_since_base: usize,
    base: usize,
    auth_seen: bool,
    replies: ReplyDecoder,
    rbuf: BytesMut,
    finals: usize,
    prelim_open: bool,
    first_reply: bool,
    /// The port of the last `Listening` report, which 227/228/229 must advertise.
    listen_port: Option<u16>,
}

impl Harness {
    fn new(input: &Input) -> Self {
        let mut c = ServerConfig::default();
        c.tls = match input.tls % 4 {
            0 => TlsMode::Disabled,
            1 => TlsMode::Explicit,
            2 => TlsMode::ExplicitRequired,
            _ => TlsMode::Implicit,
        };
        c.anonymous = input.anonymous;
        c.require_data_tls = input.require_data_tls;
        c.accept_truncated_tls_uploads = input.accept_truncated;
        c.idle_timeout = IDLE;
        c.data_timeout = DATA_TIMEOUT;
        c.failed_login_delay = LOGIN_DELAY;
        c.passive_ports = 40000..=40100;
        if input.small_limits {
            c.max_line_len = 64;
            c.max_pending_commands = 4;
            c.max_queued_output = 512;
        }
        let (peer, local): (SocketAddr, SocketAddr) = if input.ipv6 {
            (
                "[2001:db8::10]:50000".parse().unwrap(),
                "[2001:db8::1]:21".parse().unwrap(),
            )
        } else {
            (
                "192.0.2.10:50000".parse().unwrap(),
                "192.0.2.1:21".parse().unwrap(),
            )
        };
        let config = Arc::new(c);
        let now = Instant::now();
        let s = ServerSession::new(config.clone(), peer, local, now);
        let mirror = LineDecoder::new(
            LineConfig::default()
                .max_line_len(config.max_line_len)
                .answer_telnet(false),
        );
        let mut h = Harness {
            s,
            config,
            peer,
            local,
            now,
            closed: false,
            requests: VecDeque::new(),
            request_ids: HashSet::new(),
            answered: Vec::new(),
            opened: HashSet::new(),
            handles: HashSet::new(),
            data_ids: HashSet::new(),
            chan: None,
            transfer: None,
            moved: 0,
            ended: None,
            handshaking: false,
            mirror,
            lines_since_base: 0,
            base: 1,
            auth_seen: false,
            replies: ReplyDecoder::new(ReplyDecoderConfig::default()),
            rbuf: BytesMut::new(),
            finals: 0,
            prelim_open: false,
            first_reply: true,
            listen_port: None,
        };
        h.drain();
        h
    }

    fn expected_finals(&self) -> usize {
        self.base + self.lines_since_base
    }

    fn on_send(&mut self, bytes: &Bytes) {
        assert!(!bytes.is_empty());
        let cap = self.config.max_queued_output + 3 * 4096 + 2048;
        assert!(bytes.len() <= cap, "one Send of {} bytes", bytes.len());
        self.rbuf.extend_from_slice(bytes);
        loop {
            match self.replies.decode(&mut self.rbuf) {
                Ok(Some(r)) => {
                    let code = r.code().as_u16();
                    if self.first_reply {
                        assert_eq!(code, 220, "greeting");
                        self.first_reply = false;
                    }
                    self.check_reply_text(code, r.text());
                    if code < 200 {
                        assert!(!self.prelim_open, "two preliminary replies in a row");
                        self.prelim_open = true;
                    } else {
                        self.prelim_open = false;
                        self.finals += 1;
                    }
                }
                Ok(None) => break,
                Err(e) => panic!("server sent bytes that are no reply: {e:?} {bytes:?}"),
            }
        }
    }

    /// Replies whose text carries a value the client will parse back.
    fn check_reply_text(&self, code: u16, text: &[u8]) {
        let ip = canonical(self.local.ip());
        match code {
            227 => {
                let port = self.listen_port.expect("227 without a listener");
                let IpAddr::V4(v4) = ip else {
                    panic!("227 on an IPv6 connection")
                };
                let want = std::net::SocketAddrV4::new(v4, port);
                assert_eq!(addr::parse_pasv_reply(text), Ok(want), "227 text");
            }
            228 => {
                let port = self.listen_port.expect("228 without a listener");
                let want = SocketAddr::new(ip, port);
                assert_eq!(addr::parse_lpsv_reply(text), Ok(want), "228 text");
            }
            229 => {
                let port = self.listen_port.expect("229 without a listener");
                assert_eq!(addr::parse_epsv_reply(text), Ok(port), "229 text");
            }
            257 => match parse_257(text) {
                Ok(path) => {
                    let resolved = VirtualPath::root()
                        .resolve(&path)
                        .expect("257 path resolves");
                    assert_eq!(resolved.as_bytes(), &path[..], "257 path is not normalized");
                }
                // A name with a control byte (MKD accepts one) is quoted as is; clients such
                // as curl refuse it, and so does `parse_257`. See fuzz/README.md.
                Err(ReplyError::ControlByte) => {}
                Err(e) => panic!("257 text {text:?}: {e:?}"),
            },
            _ => {}
        }
    }

    fn forget_data(&mut self, id: DataId) {
        if self.chan.is_some_and(|(c, _)| c == id) {
            self.chan = None;
        }
        if self.transfer == Some(id) {
            self.transfer = None;
            self.ended = Some(id);
        }
    }

    fn new_data_id(&mut self, id: DataId) {
        assert!(self.data_ids.insert(id), "data id reused");
    }

    fn drain(&mut self) {
        let mut n = 0;
        while let Some(out) = self.s.poll_output() {
            n += 1;
            assert!(n <= DRAIN_CAP, "poll_output never ends");
            assert!(!self.closed, "output after Close: {out:?}");
            match out {
                ServerOutput::Send(b) => self.on_send(&b),
                ServerOutput::Request(id, req) => {
                    assert!(self.request_ids.insert(id), "request id reused");
                    assert!(self.requests.is_empty(), "two requests outstanding");
                    check_request(&req);
                    if let Request::Login {
                        user, anonymous, ..
                    } = &req
                    {
                        // The anonymous rule is the core's alone: the flag follows it, and a
                        // refused anonymous login never reaches the authenticator.
                        assert_eq!(*anonymous, is_anonymous_user(user), "anonymous flag");
                        assert!(!anonymous || self.config.anonymous, "anonymous while off");
                    }
                    self.requests.push_back((id, req));
                }
                ServerOutput::Data(DataIntent::Listen { id, ip, ports }) => {
                    self.new_data_id(id);
                    assert_eq!(ip, self.local.ip());
                    assert_eq!(ports, self.config.passive_ports);
                    assert!(self.chan.is_none(), "old channel not closed first");
                    self.chan = Some((id, Chan::Binding));
                }
                ServerOutput::Data(DataIntent::Connect { id, addr, .. }) => {
                    assert_eq!(addr.ip(), canonical(self.peer.ip()), "bounce");
                    assert!(addr.port() >= 1024, "privileged port");
                    // Active channels get their id at PORT time, without an intent.
                    self.data_ids.insert(id);
                    self.chan = Some((id, Chan::Connecting));
                }
                ServerOutput::Data(DataIntent::Transfer { id, source, .. }) => {
                    assert!(
                        self.opened.contains(&source),
                        "transfer of an unopened source"
                    );
                    assert!(
                        self.handles.remove(&source),
                        "transfer of a handle already transferred or released"
                    );
                    assert!(self.transfer.is_none());
                    self.data_ids.insert(id);
                    self.transfer = Some(id);
                    self.moved = 0;
                    if let Some((c, state)) = &mut self.chan {
                        if *c == id {
                            *state = Chan::Ready;
                        }
                    }
                }
                ServerOutput::Data(DataIntent::Abort { id } | DataIntent::Close { id }) => {
                    self.forget_data(id)
                }
                ServerOutput::Data(other) => panic!("unknown intent {other:?}"),
                ServerOutput::StartTls => {
                    assert!(!self.handshaking);
                    self.handshaking = true;
                    self.auth_seen = true;
                    // AUTH drops the commands pipelined behind it; count afresh from here.
                    self.mirror.discard_buffered();
                    self.base = self.finals;
                    self.lines_since_base = 0;
                }
                ServerOutput::StopTls => {}
                ServerOutput::Release(source) => {
                    assert!(
                        self.handles.remove(&source),
                        "release of a handle not held (never accepted, transferred or released)"
                    );
                }
                ServerOutput::Close => {
                    assert!(self.handles.is_empty(), "closed holding {:?}", self.handles);
                    self.closed = true;
                }
                // For the operator's log; it may only name channels the session made.
                ServerOutput::Notice(Notice::TransferAborted { id, .. }) => {
                    assert!(self.data_ids.contains(&id), "notice for unknown {id}")
                }
                ServerOutput::Notice(_) => {}
                other => panic!("unknown output {other:?}"),
            }
        }
        if self.closed {
            assert!(self.s.is_closed());
            assert!(!self.s.wants_read());
            assert_eq!(self.s.poll_timeout(), None);
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        if self.closed {
            assert_eq!(
                self.s.handle_input(self.now, bytes),
                Err(SessionError::Closed)
            );
            return;
        }
        if !self.s.wants_read() {
            return;
        }
        self.s.handle_input(self.now, bytes).expect("handle_input");
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = self.mirror.feed(rest);
            rest = &rest[n..];
            // Each line and each overlong line is one command to answer.
            while !matches!(self.mirror.decode(), Ok(None)) {
                self.lines_since_base += 1;
            }
        }
        self.drain();
    }

    fn event(&mut self, e: ServerEvent) {
        if self.closed {
            assert_eq!(self.s.handle_event(self.now, e), Err(SessionError::Closed));
            return;
        }
        self.s
            .handle_event(self.now, e)
            .expect("legal event refused");
        self.drain();
    }

    fn answer(&mut self, kind: &AnswerKind) {
        let Some((id, req)) = self.requests.pop_front() else {
            return;
        };
        self.answered.push(id);
        let t = |s: u32| Timestamp::from_unix(i64::from(s), 0).unwrap();
        let answer = match kind {
            AnswerKind::LoggedIn(ro) => Answer::LoggedIn { read_only: *ro },
            AnswerKind::Done => Answer::Done,
            AnswerKind::Meta { dir, size, mtime } => {
                let kind = if *dir {
                    EntryKind::Dir
                } else {
                    EntryKind::File
                };
                let mut e = Entry::new(Bytes::from_static(b"x"), kind);
                e.size = size.map(u64::from);
                e.modified = mtime.map(t);
                Answer::Metadata(Box::new(e))
            }
            AnswerKind::Entries(n) => Answer::Entries {
                entries: (0..n % 6)
                    .map(|i| {
                        let name = if i == 3 {
                            "bad\r\nname".into()
                        } else {
                            format!("e{i}")
                        };
                        Entry::new(name, EntryKind::File).with_size(u64::from(i))
                    })
                    .collect(),
                now: t(1_700_000_000),
            },
            AnswerKind::Opened(size) => Answer::Opened {
                size: size.map(u64::from),
            },
            AnswerKind::OpenedUnique(n) => Answer::OpenedUnique {
                path: VirtualPath::root()
                    .join(format!("u{n}").as_bytes())
                    .unwrap(),
            },
            AnswerKind::Failed(f) => Answer::Failed(failure(*f)),
        };
        let opens = matches!(
            req,
            Request::Storage(
                StorageRequest::OpenRead { .. }
                    | StorageRequest::OpenWrite { .. }
                    | StorageRequest::OpenList { .. }
            )
        );
        let opened = opens && matches!(answer, Answer::Opened { .. } | Answer::OpenedUnique { .. });
        if opened {
            self.opened.insert(id);
        }
        if self.closed {
            assert_eq!(
                self.s
                    .handle_event(self.now, ServerEvent::Answer(id, answer)),
                Err(SessionError::Closed)
            );
            return;
        }
        match self
            .s
            .handle_event(self.now, ServerEvent::Answer(id, answer))
        {
            // Accepted: the session now owes one Transfer or one Release for the handle.
            Ok(()) if opened => {
                self.handles.insert(id);
            }
            // An answer of the wrong shape is refused (the adapter drops such a handle), and
            // the client still gets a reply.
            Ok(()) | Err(SessionError::WrongAnswer(_)) => {}
            Err(e) => panic!("answer to {req:?} refused: {e:?}"),
        }
        self.drain();
    }

    fn stale_answer(&mut self) {
        let Some(&id) = self.answered.first() else {
            return;
        };
        let before = self.finals;
        let r = self
            .s
            .handle_event(self.now, ServerEvent::Answer(id, Answer::Done));
        if self.closed {
            assert_eq!(r, Err(SessionError::Closed));
        } else {
            assert_eq!(r, Err(SessionError::UnknownRequest(id)));
        }
        self.drain();
        assert_eq!(self.finals, before, "a refused answer produced a reply");
    }

    fn chan_in(&self, states: &[Chan]) -> Option<DataId> {
        self.chan
            .filter(|(_, s)| states.contains(s))
            .map(|(id, _)| id)
    }

    fn step(&mut self, op: &Op) {
        match op {
            Op::Bytes(b) => self.send(b),
            Op::Command(v, a) => self.send(&command_line(*v, a)),
            Op::Burst(cmds) => {
                let bytes: Vec<u8> = cmds.iter().flat_map(|(v, a)| command_line(*v, a)).collect();
                self.send(&bytes);
            }
            Op::Answer(k) => self.answer(k),
            Op::StaleAnswer => self.stale_answer(),
            Op::Listening(p) => {
                if let Some(id) = self.chan_in(&[Chan::Binding]) {
                    let port = 40000 + p % 101;
                    self.chan = Some((id, Chan::Listening));
                    self.listen_port = Some(port);
                    let addr = SocketAddr::new(self.local.ip(), port);
                    self.event(ServerEvent::Listening { id, addr });
                }
            }
            Op::ListenFailed => {
                if let Some(id) = self.chan_in(&[Chan::Binding]) {
                    self.chan = None;
                    self.event(ServerEvent::ListenFailed { id });
                }
            }
            Op::Accept { foreign } => self.accept(*foreign),
            Op::DataReady(resumed) => self.data_ready(*resumed),
            Op::DataFailed => {
                if let Some(id) = self.chan_in(&[Chan::Listening, Chan::Accepted, Chan::Connecting])
                {
                    self.chan = None;
                    if self.transfer == Some(id) {
                        self.transfer = None;
                        self.ended = Some(id);
                    }
                    self.event(ServerEvent::DataFailed { id });
                }
            }
            Op::TransferDone(bytes) => {
                if let Some(id) = self.transfer.take() {
                    self.ended = Some(id);
                    self.forget_data(id);
                    self.event(ServerEvent::TransferDone {
                        id,
                        bytes: u64::from(*bytes),
                    });
                }
            }
            Op::TransferTruncated(bytes) => {
                if let Some(id) = self.transfer.take() {
                    self.ended = Some(id);
                    self.forget_data(id);
                    self.event(ServerEvent::TransferTruncated {
                        id,
                        bytes: u64::from(*bytes),
                    });
                }
            }
            Op::TransferFailed(k) => {
                if let Some(id) = self.transfer.take() {
                    self.ended = Some(id);
                    self.forget_data(id);
                    let error = match k % 3 {
                        0 => TransferError::ConnectionLost,
                        1 => TransferError::Local,
                        _ => TransferError::NoSpace,
                    };
                    self.event(ServerEvent::TransferFailed { id, error });
                }
            }
            Op::Tls(ok) => {
                if self.handshaking {
                    self.handshaking = false;
                    self.event(if *ok {
                        ServerEvent::TlsEstablished
                    } else {
                        ServerEvent::TlsFailed
                    });
                }
            }
            Op::Advance(tenths) => {
                self.now += Duration::from_millis(u64::from(*tenths) * 100);
                self.timeout();
            }
            Op::Fire => {
                if let Some(t) = self.s.poll_timeout() {
                    self.now = self.now.max(t);
                    self.timeout();
                }
            }
            Op::Auto => {
                self.auto();
            }
            Op::Progress(add) => {
                if let Some(id) = self.transfer {
                    self.moved += u64::from(*add);
                    let before = self.finals;
                    self.s.handle_data_progress(self.now, id, self.moved);
                    self.drain();
                    assert_eq!(self.finals, before, "a progress report produced a reply");
                }
            }
            Op::Late(k) => self.late(*k),
        }
    }

    fn late(&mut self, kind: u8) {
        let Some(id) = self.ended else { return };
        let before = self.finals;
        let event = match kind % 4 {
            0 => ServerEvent::TransferDone { id, bytes: 1 },
            1 => ServerEvent::TransferFailed {
                id,
                error: TransferError::ConnectionLost,
            },
            2 => ServerEvent::TransferTruncated { id, bytes: 1 },
            _ => {
                // A progress report for it changes nothing either.
                self.s.handle_data_progress(self.now, id, u64::MAX);
                self.drain();
                assert_eq!(
                    self.finals, before,
                    "a late progress report produced a reply"
                );
                return;
            }
        };
        let r = self.s.handle_event(self.now, event);
        if self.closed {
            assert_eq!(r, Err(SessionError::Closed));
        } else {
            assert_eq!(r, Err(SessionError::UnknownData(id)), "late event accepted");
        }
        self.drain();
        assert_eq!(self.finals, before, "a late data event produced a reply");
    }

    /// The success answer a real application would give to `req`.
    fn natural_answer(req: &Request) -> AnswerKind {
        match req {
            Request::Login { .. } => AnswerKind::LoggedIn(false),
            Request::Storage(StorageRequest::Stat { path }) => AnswerKind::Meta {
                dir: path.is_root() || path.as_bytes().ends_with(b"sub"),
                size: Some(1234),
                mtime: Some(1_700_000_000),
            },
            Request::Storage(StorageRequest::ReadDir { .. }) => AnswerKind::Entries(3),
            Request::Storage(StorageRequest::OpenWrite {
                mode: WriteMode::CreateUnique,
                ..
            }) => AnswerKind::OpenedUnique(1),
            Request::Storage(
                StorageRequest::OpenRead { .. }
                | StorageRequest::OpenWrite { .. }
                | StorageRequest::OpenList { .. },
            ) => AnswerKind::Opened(Some(42)),
            _ => AnswerKind::Done,
        }
    }

    /// One step of a working adapter; returns false when there was nothing to do.
    fn auto(&mut self) -> bool {
        if self.closed {
            return false;
        }
        if let Some((_, req)) = self.requests.front() {
            let kind = Self::natural_answer(req);
            self.answer(&kind);
        } else if self.handshaking {
            self.step(&Op::Tls(true));
        } else if self.transfer.is_some() {
            self.step(&Op::TransferDone(1));
        } else if self.chan_in(&[Chan::Accepted, Chan::Connecting]).is_some() {
            self.data_ready(Some(true));
        } else if self.chan_in(&[Chan::Binding]).is_some() {
            self.step(&Op::Listening(0));
        } else if self.prelim_open && self.chan_in(&[Chan::Listening]).is_some() {
            self.accept(false);
        } else {
            return false;
        }
        true
    }

    fn accept(&mut self, foreign: bool) {
        let Some(id) = self.chan_in(&[Chan::Listening]) else {
            return;
        };
        let from = if foreign {
            "203.0.113.9:20".parse().unwrap()
        } else {
            SocketAddr::new(self.peer.ip(), 50001)
        };
        if self.closed {
            return;
        }
        match self
            .s
            .handle_data_accept(self.now, id, from)
            .expect("accept")
        {
            Accept::Use { .. } => {
                assert!(!foreign, "foreign passive connection accepted");
                self.chan = Some((id, Chan::Accepted));
            }
            Accept::Reject => assert!(foreign, "the client's own connection rejected"),
        }
        self.drain();
    }

    fn data_ready(&mut self, resumed: Option<bool>) {
        if let Some(id) = self.chan_in(&[Chan::Accepted, Chan::Connecting]) {
            self.chan = Some((id, Chan::Ready));
            self.event(ServerEvent::DataReady {
                id,
                tls_resumed: resumed,
            });
        }
    }

    fn timeout(&mut self) {
        if self.closed {
            self.s.handle_timeout(self.now);
            self.drain();
            return;
        }
        self.s.handle_timeout(self.now);
        self.drain();
        if let Some(t) = self.s.poll_timeout() {
            assert!(t > self.now, "a timer is still due after handle_timeout");
        }
    }

    /// Finishes what is outstanding without new commands, then checks the reply count.
    fn settle(&mut self) {
        for _ in 0..64 {
            self.drain();
            if self.closed {
                break;
            }
            if self.auto() {
                continue;
            }
            if self.finals >= self.expected_finals() {
                break;
            }
            // A login delay or a data timeout; never the idle timer.
            match self.s.poll_timeout() {
                Some(t) if t <= self.now + DATA_TIMEOUT => {
                    self.now = self.now.max(t);
                    self.timeout();
                }
                _ => break,
            }
        }
        let expected = self.expected_finals();
        if self.closed {
            assert!(
                self.finals <= expected + 1,
                "{} final replies for {} commands",
                self.finals,
                expected
            );
        } else {
            assert_eq!(
                self.finals, expected,
                "final replies vs commands (auth seen: {})",
                self.auth_seen
            );
            assert!(!self.prelim_open);
            assert!(
                self.handles.is_empty(),
                "settled holding {:?}",
                self.handles
            );
        }
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn failure(f: u8) -> Failure {
    match f % 12 {
        0 => Failure::NotFound,
        1 => Failure::PermissionDenied,
        2 => Failure::AlreadyExists,
        3 => Failure::NotADirectory,
        4 => Failure::IsADirectory,
        5 => Failure::NotEmpty,
        6 => Failure::InvalidName,
        7 => Failure::NoSpace,
        8 => Failure::Transient,
        9 => Failure::LoginRefused,
        10 => Failure::Unsupported,
        _ => Failure::Other("no\r\n500 injected".into()),
    }
}

fn check_path(p: &VirtualPath) {
    let b = p.as_bytes();
    assert!(b.starts_with(b"/"));
    assert!(b.len() <= ftp_proto::path::MAX_PATH_LEN);
    if b != b"/" {
        assert!(!b.ends_with(b"/"));
        for c in b[1..].split(|&x| x == b'/') {
            assert!(!matches!(c, b"" | b"." | b".."), "unnormalized path {b:?}");
            assert!(!c.contains(&0));
        }
    }
}

fn check_request(r: &Request) {
    let Request::Storage(s) = r else { return };
    match s {
        StorageRequest::Stat { path }
        | StorageRequest::ReadDir { path }
        | StorageRequest::OpenList { path, .. }
        | StorageRequest::OpenRead { path, .. }
        | StorageRequest::OpenWrite { path, .. }
        | StorageRequest::MakeDir { path }
        | StorageRequest::RemoveDir { path }
        | StorageRequest::Delete { path }
        | StorageRequest::SetModified { path, .. } => check_path(path),
        StorageRequest::Chmod { path, mode } => {
            check_path(path);
            assert!(*mode <= 0o7777);
        }
        StorageRequest::Rename { from, to } => {
            check_path(from);
            check_path(to);
            assert!(!from.is_root());
        }
        _ => {}
    }
}

fuzz_target!(|input: Input| {
    let mut h = Harness::new(&input);
    if input.logged_in {
        h.send(b"USER alice\r\nPASS secret\r\n");
        h.auto();
    }
    for op in input.ops.iter().take(256) {
        h.step(op);
    }
    h.settle();
});
