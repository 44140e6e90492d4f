//! Property test of the server state machine: random command sequences, random adapter answers
//! and events, random chunking and time. Invariants: no panic; every command line gets exactly
//! one final reply; output stays bounded; no data intent that a policy forbids; every opened
//! handle the session accepted ends in exactly one `Transfer` or one `Release`, and none is
//! left when the session closes or settles.

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

/// Command sequences that reach logins and transfers far more often than random picks would
/// (a transfer needs a login, a data channel and a transfer command, in that order).
const SCRIPTS: &[&[&[u8]]] = &[
    &[b"USER alice", b"PASS secret"],
    &[b"PASV", b"RETR f"],
    &[b"EPSV", b"STOR f"],
    &[b"PORT 127,0,0,1,200,1", b"LIST -la"],
    &[b"EPRT |1|127.0.0.1|5000|", b"APPE f"],
    &[b"PASV", b"STOU"],
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
    saw_auth: bool,
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
            saw_auth: false,
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
                }
                ServerOutput::Request(id, r) => self.requests.push((id, r)),
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
                ServerOutput::StopTls => {}
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
            }
        }
    }

    fn send(&mut self, cmds: &[usize], chunk: usize) {
        let mut bytes = Vec::new();
        for &c in cmds {
            bytes.extend_from_slice(COMMANDS[c]);
            bytes.extend_from_slice(b"\r\n");
            self.lines_sent += 1;
        }
        for piece in bytes.chunks(chunk) {
            if self.s.is_closed() {
                return;
            }
            self.s.handle_input(self.now, piece).unwrap();
            self.drain();
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

fn config(tls: bool, reuse: bool) -> ServerConfig {
    let mut c = ServerConfig::default();
    if tls {
        c.tls = TlsMode::Explicit;
    }
    c.require_tls_session_reuse = reuse;
    // Either verdict on a truncated TLS upload is one final reply.
    c.accept_truncated_tls_uploads = reuse;
    c.max_pending_commands = 64;
    c
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn every_command_gets_exactly_one_final_reply(
        tls in any::<bool>(),
        reuse in any::<bool>(),
        steps in prop::collection::vec(step(), 1..40),
    ) {
        let mut sim = Sim::new(config(tls, reuse));
        prop_assert_eq!(sim.finals, 1, "the greeting");
        for st in &steps {
            if sim.s.is_closed() {
                break;
            }
            match st {
                Step::Send(cmds, chunk) => sim.send(cmds, *chunk),
                Step::Auth => {
                    sim.saw_auth = true;
                    sim.send(&[], 1);
                    sim.lines_sent += 1;
                    sim.s.handle_input(sim.now, b"AUTH TLS\r\n").unwrap();
                    sim.drain();
                }
                Step::Answer(p) => sim.answer(*p),
                Step::Data(p) => sim.data(*p),
                Step::Advance(ms) => sim.advance(*ms),
                Step::Progress(n) => sim.progress(*n),
            }
            // Never more final replies than commands (plus the greeting and a closing 421).
            prop_assert!(sim.finals <= sim.lines_sent + 2, "{} finals for {} lines", sim.finals, sim.lines_sent);
        }
        sim.settle();
        prop_assert!(sim.handles.len() <= 1, "handles {:?}", sim.handles);
        if sim.s.is_closed() || sim.quiet() {
            prop_assert!(sim.handles.is_empty(), "handles left: {:?}", sim.handles);
        }
        if !sim.s.is_closed() && !sim.saw_auth {
            prop_assert!(sim.requests.is_empty());
            prop_assert_eq!(sim.finals, sim.lines_sent + 1, "one final reply per command");
        }
    }
}
