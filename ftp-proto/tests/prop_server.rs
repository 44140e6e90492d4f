//! Property test of the server state machine: random command sequences, random adapter answers
//! and events, random chunking and time. Invariants: no panic; every command line gets exactly
//! one final reply, in every case (a session closed by QUIT answered every line up to the
//! QUIT; AUTH TLS is followed, as a real client does, only after its reply and handshake);
//! output stays bounded; no data intent that a policy forbids (bounce, port stealing, login
//! or transfer without TLS when TLS is required); REST applies to the next command only and
//! RNTO only right after RNFR; every opened handle the session accepted ends in exactly one
//! `Transfer` or one `Release`, and none is left when the session closes or settles.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ftp_proto::listing::{Entry, EntryKind};
use ftp_proto::server::{
    Accept, Answer, DataId, DataIntent, Failure, Request, RequestId, ServerConfig, ServerEvent,
    ServerOutput, ServerSession, StorageRequest, TlsMode, TransferError, WriteMode,
};
use ftp_proto::time::Timestamp;
use proptest::prelude::*;

const PEER: &str = "127.0.0.1:40000";

const COMMANDS: &[&[u8]] = &[
    b"USER alice",
    b"PASS secret",
    b"USER anonymous",
    b"PASV",
    b"EPSV",
    b"EPSV ALL",
    b"LPSV",
    b"PORT 127,0,0,1,200,1",
    b"PORT 10,0,0,1,200,1",
    b"PORT 127,0,0,1,0,21",
    b"EPRT |1|127.0.0.1|5000|",
    b"EPRT |2|::1|5000|",
    b"RETR f",
    b"STOR f",
    b"APPE f",
    b"STOU",
    b"LIST -la",
    b"NLST",
    b"MLSD d",
    b"MLST f",
    b"CWD d",
    b"CDUP",
    b"PWD",
    b"MKD x",
    b"RMD x",
    b"DELE f",
    b"RNFR a",
    b"RNTO b",
    b"REST 5",
    b"REST -1",
    b"SIZE f",
    b"MDTM f",
    b"MFMT 20200101000000 f",
    b"SITE CHMOD 644 f",
    b"STAT",
    b"STAT /",
    b"ABOR",
    b"\xff\xf4\xff\xf2ABOR",
    b"NOOP",
    b"TYPE A",
    b"TYPE I",
    b"FEAT",
    b"HELP",
    b"SYST",
    b"REIN",
    b"QUIT",
    b"PBSZ 0",
    b"PROT P",
    b"PROT C",
    b"CCC",
    b"HOST example.com",
    b"OPTS UTF8 ON",
    b"OPTS MLST type;size;",
    b"",
    b"XYZZY",
    b"RETR ../../../etc/passwd",
];

/// The commands of [`COMMANDS`] that use a data connection (and so a pending REST).
const TRANSFERS: &[&[u8]] = &[
    b"RETR f",
    b"STOR f",
    b"APPE f",
    b"STOU",
    b"LIST -la",
    b"NLST",
    b"MLSD d",
    b"RETR ../../../etc/passwd",
];

/// Command sequences that reach logins and transfers far more often than random picks would
/// (a transfer needs a login, a data channel and a transfer command, in that order).
const SCRIPTS: &[&[&[u8]]] = &[
    &[b"USER alice", b"PASS secret"],
    &[b"PASV", b"RETR f"],
    &[b"EPSV", b"STOR f"],
    &[b"PORT 127,0,0,1,200,1", b"LIST -la"],
    &[b"EPRT |1|127.0.0.1|5000|", b"APPE f"],
    &[b"PASV", b"STOU"],
    &[b"REST 5", b"PASV", b"RETR f"],
    &[b"EPSV", b"REST 5", b"STOR f"],
    &[b"RNFR a", b"RNTO b"],
    &[b"RNFR a", b"NOOP", b"RNTO b"],
];

fn script(commands: &[&[u8]]) -> Vec<usize> {
    commands
        .iter()
        .map(|c| {
            COMMANDS
                .iter()
                .position(|k| k == c)
                .expect("script command in COMMANDS")
        })
        .collect()
}

#[derive(Debug, Clone)]
enum Step {
    /// Send these commands (indices into COMMANDS), cut into chunks of this size.
    Send(Vec<usize>, usize),
    /// Send AUTH TLS (tracked separately: it discards pipelined input by design).
    Auth,
    /// Answer the oldest outstanding request; the number picks success or a failure.
    Answer(u8),
    /// Act on the oldest data intent; the number picks the outcome.
    Data(u8),
    /// Let time pass.
    Advance(u16),
    /// Report the oldest running transfer's byte count, grown by this much (maybe not at all).
    Progress(u16),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (prop::collection::vec(0..COMMANDS.len(), 1..4), 1usize..40).prop_map(|(c, n)| Step::Send(c, n)),
        3 => (prop::sample::select(SCRIPTS), 1usize..40).prop_map(|(s, n)| Step::Send(script(s), n)),
        1 => Just(Step::Auth),
        4 => any::<u8>().prop_map(Step::Answer),
        3 => any::<u8>().prop_map(Step::Data),
        1 => (0u16..3000).prop_map(Step::Advance),
        1 => (0u16..3).prop_map(Step::Progress),
    ]
}

struct Sim {
    s: ServerSession,
    now: Instant,
    config: Arc<ServerConfig>,
    requests: Vec<(RequestId, Request)>,
    /// Data channels and what the adapter was asked to do with them.
    listens: Vec<DataId>,
    listening: Vec<DataId>,
    connects: Vec<DataId>,
    transfers: Vec<DataId>,
    /// Opened handles the session accepted and has neither transferred nor released yet.
    handles: HashSet<RequestId>,
    /// The byte count last reported with `handle_data_progress`.
    moved: u64,
    start_tls: bool,
    /// Reply bytes not yet split into lines.
    wire: Vec<u8>,
    finals: usize,
    lines_sent: usize,
    /// Every line sent, in order: line `i` is answered by final reply `i + 1` (the greeting
    /// is the first), so `lines[finals - 1]` is the command being served.
    lines: Vec<&'static [u8]>,
    /// The final reply codes, greeting first.
    codes: Vec<u16>,
    /// Check that REST applies to the next transfer command only.
    rest_lifetime: bool,
    /// The final reply each line got, by line.
    answers: Vec<Option<u16>>,
    /// The control connection is under TLS (handshake done, no CCC since).
    tls_on: bool,
    /// AUTH TLS was sent and its reply (and handshake) is still due: a client sends nothing
    /// else meanwhile.
    auth_waiting: bool,
}

impl Sim {
    fn new(config: ServerConfig) -> Sim {
        let config = Arc::new(config);
        let now = Instant::now();
        let s = ServerSession::new(
            config.clone(),
            PEER.parse().unwrap(),
            "127.0.0.1:21".parse().unwrap(),
            now,
        );
        let mut sim = Sim {
            s,
            now,
            config,
            requests: vec![],
            listens: vec![],
            listening: vec![],
            connects: vec![],
            transfers: vec![],
            handles: HashSet::new(),
            moved: 0,
            start_tls: false,
            wire: vec![],
            finals: 0,
            lines_sent: 0,
            lines: vec![],
            codes: vec![],
            answers: vec![],
            rest_lifetime: false,
            tls_on: false,
            auth_waiting: false,
        };
        sim.drain();
        sim
    }

    fn drain(&mut self) {
        let mut sent = 0usize;
        for _ in 0..100_000 {
            let Some(out) = self.s.poll_output() else {
                return self.count_finals();
            };
            match out {
                ServerOutput::Send(b) => {
                    sent += b.len();
                    // Replies stay bounded: the queue limit plus one reply that crossed it.
                    assert!(
                        sent <= self.config.max_queued_output + 64 * 1024,
                        "unbounded output"
                    );
                    if b.first() != Some(&0xff) {
                        self.wire.extend_from_slice(&b);
                    }
                    self.count_finals();
                }
                ServerOutput::Request(id, r) => {
                    self.check_request(&r);
                    self.requests.push((id, r))
                }
                ServerOutput::Data(DataIntent::Listen { id, ports, .. }) => {
                    assert_eq!(ports, self.config.passive_ports);
                    self.listens.push(id)
                }
                ServerOutput::Data(DataIntent::Connect { id, addr, .. }) => {
                    // Bounce protection: only the client, only unprivileged ports.
                    assert_eq!(addr.ip().to_string(), "127.0.0.1");
                    assert!(addr.port() >= 1024);
                    self.connects.push(id)
                }
                ServerOutput::Data(DataIntent::Transfer { id, source, .. }) => {
                    if self.config.require_data_tls {
                        assert!(
                            self.processed().iter().any(|l| *l == b"PROT P"),
                            "a transfer without PROT P, which is required: {:?}",
                            self.served()
                        );
                    }
                    assert!(
                        self.handles.remove(&source),
                        "transfer of {source}, which is not an open handle"
                    );
                    self.transfers.push(id)
                }
                ServerOutput::Release(source) => {
                    assert!(
                        self.handles.remove(&source),
                        "release of {source}, which is not an open handle"
                    );
                }
                ServerOutput::Data(DataIntent::Abort { id } | DataIntent::Close { id }) => {
                    self.forget(id)
                }
                ServerOutput::StartTls => self.start_tls = true,
                ServerOutput::StopTls => self.tls_on = false,
                ServerOutput::Close => {
                    assert!(self.s.is_closed());
                    assert!(self.handles.is_empty(), "closed holding {:?}", self.handles);
                }
                // For the operator's log only.
                ServerOutput::Notice(_) => {}
                other => panic!("unexpected output {other:?}"),
            }
        }
        panic!("poll_output never returned None");
    }

    fn forget(&mut self, id: DataId) {
        for v in [
            &mut self.listens,
            &mut self.listening,
            &mut self.connects,
            &mut self.transfers,
        ] {
            v.retain(|d| *d != id);
        }
    }

    fn count_finals(&mut self) {
        while let Some(pos) = self.wire.windows(2).position(|w| w == b"\r\n") {
            let line: Vec<u8> = self.wire.drain(..pos + 2).collect();
            let is_final = line.len() >= 4
                && line[..3].iter().all(u8::is_ascii_digit)
                && line[3] == b' '
                && line[0] != b'1';
            if is_final {
                self.finals += 1;
                let code: u16 = String::from_utf8_lossy(&line[..3]).parse().unwrap();
                self.codes.push(code);
                if self.finals > 1 {
                    self.assign(code, &line[4..]);
                }
            }
        }
    }

    fn send(&mut self, cmds: &[usize], chunk: usize) {
        if self.auth_waiting {
            return;
        }
        let mut bytes = Vec::new();
        for &c in cmds {
            bytes.extend_from_slice(COMMANDS[c]);
            bytes.extend_from_slice(b"\r\n");
            self.lines_sent += 1;
            self.lines.push(COMMANDS[c]);
            self.answers.push(None);
        }
        for piece in bytes.chunks(chunk) {
            if self.s.is_closed() {
                return;
            }
            self.s.handle_input(self.now, piece).unwrap();
            self.drain();
        }
    }

    /// Sends AUTH TLS on its own, as a client does.
    fn auth(&mut self) {
        if self.auth_waiting || self.s.is_closed() {
            return;
        }
        self.auth_waiting = true;
        self.lines_sent += 1;
        self.lines.push(b"AUTH TLS");
        self.answers.push(None);
        self.s.handle_input(self.now, b"AUTH TLS\r\n").unwrap();
        self.drain();
        self.auth_settled();
    }

    /// AUTH TLS is settled once its reply is in and no handshake is due.
    fn auth_settled(&mut self) {
        if self.auth_waiting && self.answers.last().is_some_and(Option::is_some) && !self.start_tls
        {
            self.auth_waiting = false;
        }
    }

    /// Pairs a final reply with the line it answers. Lines are served in order, except that
    /// during a transfer the first queued ABOR, STAT or QUIT is served ahead of the rest
    /// (RFC 959 §4.1.3); those replies are told apart by their text.
    fn assign(&mut self, code: u16, text: &[u8]) {
        let first = |sim: &Sim, f: &dyn Fn(&[u8]) -> bool| {
            (0..sim.lines.len()).find(|&i| sim.answers[i].is_none() && f(sim.lines[i]))
        };
        let is_abor = |l: &[u8]| l.ends_with(b"ABOR");
        let line = match (code, text) {
            (211, b"Transfer in progress.\r\n") => first(self, &|l| l.starts_with(b"STAT")),
            (226, b"Abort successful.\r\n") => first(self, &is_abor),
            (221, _) => first(self, &|l| l == b"QUIT"),
            _ => first(self, &|_| true),
        };
        match line {
            Some(i) => self.answers[i] = Some(code),
            // More finals than lines: only a closing 421 may be unsolicited.
            None => assert_eq!(code, 421, "a reply with no command: {:?}", self.codes),
        }
    }

    /// The lines before the first unanswered one, which is the line being served; all of
    /// them were answered.
    fn processed(&self) -> &[&'static [u8]] {
        let done = self
            .answers
            .iter()
            .position(Option::is_none)
            .unwrap_or(self.lines.len());
        &self.lines[..done]
    }

    /// The line being served, if any.
    fn serving(&self) -> Option<&'static [u8]> {
        self.lines.get(self.processed().len()).copied()
    }

    fn served(&self) -> Vec<String> {
        self.processed()
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect()
    }

    /// Policy checks on a request, against the commands served so far.
    fn check_request(&self, r: &Request) {
        let previous = self.processed().last().copied();
        match r {
            Request::Login { .. } if self.config.tls == TlsMode::ExplicitRequired => {
                assert!(
                    self.tls_on,
                    "a login without TLS, which is required: {:?}",
                    self.served()
                );
            }
            Request::Storage(StorageRequest::OpenRead { offset, .. }) => {
                if *offset != 0 {
                    assert_eq!(*offset, 5);
                    self.check_rest_is_fresh();
                }
                self.check_rest_applied(previous, *offset == 5);
            }
            Request::Storage(StorageRequest::OpenWrite { mode, .. }) => {
                if let WriteMode::AtOffset(n) = mode {
                    assert_eq!(*n, 5);
                    self.check_rest_is_fresh();
                }
                if self.serving() == Some(&b"STOR f"[..]) {
                    self.check_rest_applied(previous, matches!(mode, WriteMode::AtOffset(5)));
                }
            }
            Request::Storage(StorageRequest::Rename { .. }) => {
                assert_eq!(self.serving(), Some(&b"RNTO b"[..]), "{:?}", self.served());
                assert_eq!(
                    previous,
                    Some(&b"RNFR a"[..]),
                    "RNTO served but not right after RNFR: {:?}",
                    self.served()
                );
                let rnfr = self.processed().len() - 1;
                assert_eq!(
                    self.answers[rnfr],
                    Some(350),
                    "RNTO served after a refused RNFR"
                );
            }
            _ => {}
        }
    }

    /// A restart offset comes from a REST the server accepted (350) with no transfer command
    /// served since: REST applies to the next transfer only, never to a later one.
    fn check_rest_is_fresh(&self) {
        if !self.rest_lifetime {
            return;
        }
        let done = self.processed();
        let rest = (0..done.len())
            .rev()
            .find(|&i| done[i] == b"REST 5" && self.answers[i] == Some(350))
            .unwrap_or_else(|| panic!("an offset with no accepted REST: {:?}", self.served()));
        let transfer = done[rest + 1..].iter().find(|l| TRANSFERS.contains(l));
        assert!(
            transfer.is_none(),
            "the offset of a REST already used by {:?}: {:?}",
            transfer.map(|l| String::from_utf8_lossy(l)),
            self.served()
        );
    }

    /// A REST that was accepted (350) right before the transfer command applies to it.
    fn check_rest_applied(&self, previous: Option<&[u8]>, applied: bool) {
        let before = self.processed().len().checked_sub(1);
        if previous == Some(&b"REST 5"[..]) && before.and_then(|i| self.answers[i]) == Some(350) {
            assert!(
                applied,
                "REST 5 accepted, then not applied: {:?}",
                self.served()
            );
        }
    }

    fn answer(&mut self, pick: u8) {
        if self.requests.is_empty() || self.s.is_closed() {
            return;
        }
        let (id, req) = self.requests.remove(0);
        let fail = pick % 4 == 0;
        let answer = if fail {
            Answer::Failed(match pick % 5 {
                0 => Failure::NotFound,
                1 => Failure::PermissionDenied,
                2 => Failure::Unsupported,
                _ => Failure::NoSpace,
            })
        } else {
            good_answer(&req, pick)
        };
        let opened = matches!(answer, Answer::Opened { .. } | Answer::OpenedUnique { .. });
        let r = self
            .s
            .handle_event(self.now, ServerEvent::Answer(id, answer));
        assert!(r.is_ok(), "{r:?} for {req:?}");
        if opened {
            // Accepted: from now on the session owes exactly one Transfer or Release for it.
            self.handles.insert(id);
        }
        self.drain();
    }

    fn data(&mut self, pick: u8) {
        if self.s.is_closed() {
            return;
        }
        let now = self.now;
        if self.start_tls {
            self.start_tls = false;
            let e = if pick % 8 == 0 {
                ServerEvent::TlsFailed
            } else {
                self.tls_on = true;
                ServerEvent::TlsEstablished
            };
            self.s.handle_event(now, e).unwrap();
        } else if let Some(id) = self.listens.first().copied() {
            self.listens.remove(0);
            if pick % 5 == 0 {
                self.s
                    .handle_event(now, ServerEvent::ListenFailed { id })
                    .unwrap();
            } else {
                let addr = SocketAddr::new("127.0.0.1".parse().unwrap(), 50_000);
                self.s
                    .handle_event(now, ServerEvent::Listening { id, addr })
                    .unwrap();
                self.listening.push(id);
            }
        } else if let Some(id) = self.transfers.first().copied() {
            self.transfers.remove(0);
            let e = match pick % 5 {
                0 => ServerEvent::TransferFailed {
                    id,
                    error: TransferError::ConnectionLost,
                },
                1 => ServerEvent::TransferFailed {
                    id,
                    error: TransferError::NoSpace,
                },
                2 => ServerEvent::TransferTruncated {
                    id,
                    bytes: u64::from(pick),
                },
                _ => ServerEvent::TransferDone {
                    id,
                    bytes: u64::from(pick),
                },
            };
            self.s.handle_event(now, e).unwrap();
        } else if let Some(id) = self.connects.first().copied() {
            self.connects.remove(0);
            let e = if pick % 4 == 0 {
                ServerEvent::DataFailed { id }
            } else {
                ServerEvent::DataReady {
                    id,
                    tls_resumed: tls_resumed(pick),
                }
            };
            self.s.handle_event(now, e).unwrap();
        } else if let Some(id) = self.listening.first().copied() {
            let foreign = pick % 3 == 0;
            let peer: SocketAddr = if foreign {
                "10.1.1.1:999"
            } else {
                "127.0.0.1:40001"
            }
            .parse()
            .unwrap();
            match self.s.handle_data_accept(now, id, peer).unwrap() {
                Accept::Use { .. } => {
                    assert!(!foreign, "a foreign data connection was accepted");
                    self.listening.remove(0);
                    self.s
                        .handle_event(
                            now,
                            ServerEvent::DataReady {
                                id,
                                tls_resumed: tls_resumed(pick),
                            },
                        )
                        .unwrap();
                }
                Accept::Reject => {}
            }
        }
        self.drain();
    }

    /// After a session closed: a close by QUIT answered it with 221 and nothing after it;
    /// lines before it went unanswered only if the QUIT came during a transfer (served ahead
    /// of them, RFC 959 §4.1.3), so the reply just before 221 ends that transfer.
    fn check_closed(&self) {
        let first_quit = self.lines.iter().position(|l| *l == b"QUIT");
        if self.codes.last() != Some(&221) {
            return;
        }
        let q = first_quit.expect("221 without a QUIT");
        assert_eq!(self.answers[q], Some(221));
        // Only a STAT or ABOR sent during the same transfer as the QUIT can have been served
        // after it: the session waited for that transfer before its 221.
        for (l, a) in self.lines[q + 1..].iter().zip(&self.answers[q + 1..]) {
            assert!(
                a.is_none() || (l.starts_with(b"STAT") && *a == Some(211)) || l.ends_with(b"ABOR"),
                "served after QUIT: {:?} {:?}",
                self.lines,
                self.answers
            );
        }
        if self.answers[..q].iter().any(Option::is_none) {
            let before = self.codes.iter().rev().nth(1).copied();
            assert!(
                matches!(
                    before,
                    Some(226 | 250 | 425 | 426 | 450 | 451 | 452 | 550 | 551 | 552 | 553)
                ),
                "lines before QUIT never answered: {:?} {:?}",
                self.lines,
                self.answers
            );
        }
    }

    fn progress(&mut self, add: u16) {
        if let Some(id) = self.transfers.first().copied() {
            self.moved += u64::from(add);
            self.s.handle_data_progress(self.now, id, self.moved);
            self.drain();
        }
    }

    fn advance(&mut self, ms: u16) {
        self.now += Duration::from_millis(u64::from(ms));
        self.s.handle_timeout(self.now);
        self.drain();
    }

    /// Nothing outstanding: no request, no TLS handshake, no data channel at work.
    fn quiet(&self) -> bool {
        self.requests.is_empty()
            && !self.start_tls
            && self.listens.is_empty()
            && self.transfers.is_empty()
            && self.connects.is_empty()
            && self.listening.is_empty()
    }

    /// Answers everything outstanding successfully until the session is quiet.
    fn settle(&mut self) {
        for round in 0..200u8 {
            if self.s.is_closed() {
                return;
            }
            if !self.requests.is_empty() {
                self.answer(1);
            } else if self.start_tls
                || !self.listens.is_empty()
                || !self.transfers.is_empty()
                || !self.connects.is_empty()
                || !self.listening.is_empty()
            {
                self.data(2);
            } else if self
                .s
                .poll_timeout()
                .is_some_and(|t| t <= self.now + Duration::from_secs(2))
            {
                self.advance(2000);
            } else if round > 0 {
                return;
            }
        }
    }
}

fn tls_resumed(pick: u8) -> Option<bool> {
    match pick % 3 {
        0 => None,
        1 => Some(true),
        _ => Some(false),
    }
}

fn good_answer(req: &Request, pick: u8) -> Answer {
    let file = Entry::new("f", EntryKind::File)
        .with_size(u64::from(pick))
        .with_modified(Timestamp::from_unix(1_600_000_000, 0).unwrap());
    let dir = Entry::new("d", EntryKind::Dir);
    match req {
        Request::Login { .. } => Answer::LoggedIn {
            read_only: pick % 2 == 0,
        },
        Request::Storage(StorageRequest::Stat { .. }) => {
            Answer::Metadata(Box::new(if pick % 2 == 0 { dir } else { file }))
        }
        Request::Storage(StorageRequest::ReadDir { .. }) => Answer::Entries {
            entries: vec![file, dir],
            now: Timestamp::from_unix(1_600_100_000, 0).unwrap(),
        },
        Request::Storage(StorageRequest::OpenWrite {
            mode: WriteMode::CreateUnique,
            path,
        }) => Answer::OpenedUnique {
            path: path.join(b"unique.1").unwrap(),
        },
        Request::Storage(
            StorageRequest::OpenRead { .. }
            | StorageRequest::OpenWrite { .. }
            | StorageRequest::OpenList { .. },
        ) => Answer::Opened {
            size: Some(u64::from(pick)),
        },
        _ => Answer::Done,
    }
}

fn config(tls: u8, reuse: bool) -> ServerConfig {
    let mut c = ServerConfig::default();
    c.tls = match tls % 3 {
        0 => TlsMode::Disabled,
        1 => TlsMode::Explicit,
        _ => TlsMode::ExplicitRequired,
    };
    c.require_data_tls = tls & 4 != 0;
    c.require_tls_session_reuse = reuse;
    // Either verdict on a truncated TLS upload is one final reply.
    c.accept_truncated_tls_uploads = reuse;
    c.max_pending_commands = 64;
    c
}

/// Runs one case; `rest_lifetime` adds the REST lifetime invariant.
fn run(tls: u8, reuse: bool, steps: &[Step], rest_lifetime: bool) {
    let mut sim = Sim::new(config(tls, reuse));
    sim.rest_lifetime = rest_lifetime;
    assert_eq!(sim.finals, 1, "the greeting");
    for st in steps {
        if sim.s.is_closed() {
            break;
        }
        match st {
            Step::Send(cmds, chunk) => sim.send(cmds, *chunk),
            Step::Auth => sim.auth(),
            Step::Answer(p) => sim.answer(*p),
            Step::Data(p) => sim.data(*p),
            Step::Advance(ms) => sim.advance(*ms),
            Step::Progress(n) => sim.progress(*n),
        }
        sim.auth_settled();
        // Never more final replies than commands (plus the greeting and a closing 421).
        assert!(
            sim.finals <= sim.lines_sent + 2,
            "{} finals for {} lines",
            sim.finals,
            sim.lines_sent
        );
    }
    sim.settle();
    assert!(sim.handles.len() <= 1, "handles {:?}", sim.handles);
    if sim.s.is_closed() || sim.quiet() {
        assert!(sim.handles.is_empty(), "handles left: {:?}", sim.handles);
    }
    if sim.s.is_closed() {
        sim.check_closed();
    } else {
        assert!(sim.requests.is_empty());
        assert_eq!(
            sim.finals,
            sim.lines_sent + 1,
            "one final reply per command"
        );
        assert!(sim.answers.iter().all(Option::is_some), "{:?}", sim.answers);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn every_command_gets_exactly_one_final_reply(
        tls in any::<u8>(),
        reuse in any::<bool>(),
        steps in prop::collection::vec(step(), 1..40),
    ) {
        run(tls, reuse, &steps, false);
    }

    /// REST applies to the next transfer command only.
    #[test]
    fn rest_applies_to_the_next_transfer_only(
        tls in any::<u8>(),
        reuse in any::<bool>(),
        steps in prop::collection::vec(step(), 1..40),
    ) {
        run(tls, reuse, &steps, true);
    }
}
