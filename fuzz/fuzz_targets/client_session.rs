//! Client session: arbitrary server bytes, chunked anyhow, interleaved with arbitrary
//! operations, adapter events and the passing of time.
//!
//! Invariants: no panic; every queued operation completes exactly once (at the latest when the
//! control connection ends); nothing follows `Close`; `handle_*` errs only with the documented
//! errors; each drain is bounded; time only moves forward.
//!
//! Needs in fuzz/Cargo.toml:
//! ```toml
//! [[bin]]
//! name = "client_session"
//! path = "fuzz_targets/client_session.rs"
//! test = false
//! doc = false
//! bench = false
//! ```
#![no_main]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use ftp_proto::client::{
    Accept, ClientConfig, ClientError, ClientEvent, ClientOutput, ClientSession, ClientTls,
    DataError, DataId, DataIntent, DataMode, OpId,
};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Step {
    Op(u8, u8),
    Bytes(Vec<u8>),
    Data(u8, u8, u16),
    Accept(u8, bool),
    Listing(u8, Vec<u8>),
    Advance(u16),
    Tls(bool),
}

#[derive(Debug, Arbitrary)]
struct Input {
    mode: u8,
    lenient: bool,
    steps: Vec<Step>,
}

struct Run {
    s: ClientSession,
    now: Instant,
    ops: HashMap<OpId, u32>,
    data: Vec<DataId>,
    closed: bool,
}

impl Run {
    fn drain(&mut self) {
        let mut n = 0;
        while let Some(out) = self.s.poll_output() {
            n += 1;
            assert!(n < 100_000, "unbounded output");
            assert!(!self.closed, "output after Close");
            match out {
                ClientOutput::Completed(id, _) => {
                    let c = self.ops.get_mut(&id).expect("completion of an unknown op");
                    *c += 1;
                    assert_eq!(*c, 1, "completed twice");
                }
                ClientOutput::Data(DataIntent::Connect { id, .. } | DataIntent::Listen { id }) => {
                    if self.data.len() < 64 {
                        self.data.push(id)
                    }
                }
                ClientOutput::Close => self.closed = true,
                _ => {}
            }
        }
    }

    fn pick(&self, w: u8) -> Option<DataId> {
        (!self.data.is_empty()).then(|| self.data[usize::from(w) % self.data.len()])
    }

    fn op(&mut self, k: u8, n: u8) {
        let now = self.now;
        let s = &mut self.s;
        let r = match k % 20 {
            0 => s.cwd(now, "d"),
            1 => s.pwd(now),
            2 => s.mkdir(now, "m"),
            3 => s.size(now, "f"),
            4 => s.mdtm(now, "f"),
            5 => s.mlst(now, Some("f".into())),
            6 => s.rename(now, "a", "b"),
            7 => s.list(now, None, None),
            8 => s.nlst(now, None),
            9 => s.mlsd(now, None),
            10 => s.retr(now, "f", u64::from(n % 3)),
            11 => s.stor(now, "f", u64::from(n % 2)),
            12 => s.appe(now, "f"),
            13 => s.stou(now),
            14 | 15 => s.abort(now),
            16 => s.noop(now),
            17 => s.cdup(now),
            18 => s.stat(now, None),
            _ => s.quit(now),
        };
        match r {
            Ok(id) => assert!(self.ops.insert(id, 0).is_none(), "id reused"),
            Err(ClientError::Closed | ClientError::QueueFull) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }

    fn apply(&mut self, step: &Step) {
        match step {
            Step::Op(k, n) => self.op(*k, *n),
            Step::Bytes(b) => match self.s.handle_input(self.now, b) {
                Ok(()) => {}
                Err(ClientError::Closed) => assert!(self.s.is_closed()),
                Err(e) => panic!("unexpected {e:?}"),
            },
            Step::Data(w, k, bytes) => {
                let Some(id) = self.pick(*w) else { return };
                let e = match k % 6 {
                    0 => ClientEvent::DataConnected { id },
                    1 => ClientEvent::DataFailed { id },
                    2 | 3 => ClientEvent::TransferDone {
                        id,
                        bytes: u64::from(*bytes),
                    },
                    4 => ClientEvent::TransferFailed {
                        id,
                        error: DataError::ConnectionLost,
                    },
                    _ => ClientEvent::Listening {
                        id,
                        addr: SocketAddr::from(([10, 0, 0, 2], *bytes)),
                    },
                };
                match self.s.handle_event(self.now, e) {
                    Ok(()) | Err(ClientError::Closed) => {}
                    Err(e) => panic!("unexpected {e:?}"),
                }
            }
            Step::Accept(w, from_server) => {
                let Some(id) = self.pick(*w) else { return };
                let ip = if *from_server {
                    [10, 0, 0, 1]
                } else {
                    [10, 9, 9, 9]
                };
                let r = self
                    .s
                    .handle_data_accept(self.now, id, SocketAddr::from((ip, 20)));
                assert!(matches!(r, Ok(_) | Err(ClientError::Closed)));
                if !*from_server {
                    assert!(
                        !matches!(r, Ok(Accept::Use { .. })),
                        "foreign host accepted"
                    );
                }
            }
            Step::Listing(w, b) => {
                let Some(id) = self.pick(*w) else { return };
                let r = self.s.handle_listing_data(self.now, id, b);
                assert!(matches!(r, Ok(()) | Err(ClientError::Closed)));
            }
            Step::Advance(secs) => {
                self.now += Duration::from_secs(u64::from(*secs));
                self.s.handle_timeout(self.now);
                if let Some(t) = self.s.poll_timeout() {
                    let _ = t;
                }
            }
            Step::Tls(ok) => {
                let e = if *ok {
                    ClientEvent::TlsEstablished
                } else {
                    ClientEvent::TlsFailed
                };
                match self.s.handle_event(self.now, e) {
                    Ok(()) | Err(ClientError::Closed) | Err(ClientError::UnexpectedEvent(_)) => {}
                    Err(e) => panic!("unexpected {e:?}"),
                }
            }
        }
        self.drain();
    }
}

fuzz_target!(|input: Input| {
    let mut c = ClientConfig::new("u", "p");
    c.data_mode = match input.mode % 3 {
        0 => DataMode::Passive,
        1 => DataMode::PassiveNoEpsv,
        _ => DataMode::Active,
    };
    c.tls = match (input.mode / 3) % 4 {
        0 => ClientTls::Disabled,
        1 => ClientTls::Opportunistic,
        2 => ClientTls::Required,
        _ => ClientTls::Implicit,
    };
    c.account = (input.mode & 0x40 != 0).then(|| "acct".into());
    c.trust_pasv_address = input.mode & 0x80 != 0;
    if input.lenient {
        c.replies = ftp_proto::reply::ReplyDecoderConfig::lenient();
    }
    c.max_queued_ops = 8;
    c.max_listing_entries = 16;
    c.max_listing_line = 256;
    c.replies.max_line_len = 512;
    c.replies.max_lines = 16;
    c.replies.max_reply_len = 2048;
    let now = Instant::now();
    let s = ClientSession::new(c, SocketAddr::from(([10, 0, 0, 1], 21)), now).unwrap();
    let mut run = Run {
        s,
        now,
        ops: HashMap::new(),
        data: Vec::new(),
        closed: false,
    };
    run.drain();
    for step in input.steps.iter().take(512) {
        run.apply(step);
    }
    let _ = run.s.handle_event(run.now, ClientEvent::ControlEof);
    run.drain();
    assert!(run.s.is_closed());
    for n in run.ops.values() {
        assert_eq!(*n, 1, "an operation never completed");
    }
});
