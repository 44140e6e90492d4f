//! Property tests for the client session: random operation sequences against a random server
//! (replies drawn from realistic lines and raw bytes, chunked anyhow) and random adapter
//! events, in virtual time.
//!
//! Invariants: no panic; every queued operation completes exactly once (at the latest when the
//! control connection ends); nothing follows `Close`; `Err` from a `handle_*` call only for
//! the documented reasons; outputs stay bounded.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ftp_proto::client::{
    ClientConfig, ClientError, ClientEvent, ClientOutput, ClientSession, ClientTls, DataError,
    DataId, DataIntent, DataMode, OpId,
};
use proptest::prelude::*;

const REPLIES: &[&[u8]] = &[
    b"220 hi\r\n",
    b"120 soon\r\n",
    b"331 pw\r\n",
    b"332 acct\r\n",
    b"230 ok\r\n",
    b"234 go\r\n",
    b"211-Features:\r\n UTF8\r\n MLST type*;\r\n211 End\r\n",
    b"211 none\r\n",
    b"200 ok\r\n",
    b"229 Entering Extended Passive Mode (|||5000|)\r\n",
    b"227 Entering Passive Mode (10,0,0,1,4,1)\r\n",
    b"150 Opening (12 bytes)\r\n",
    b"125 FILE: x\r\n",
    b"226 done\r\n",
    b"225 nothing\r\n",
    b"250-x\r\n type=file; f\r\n250 End\r\n",
    b"257 \"/a\"\"b\"\r\n",
    b"213 42\r\n",
    b"213 20200101000000\r\n",
    b"350 more\r\n",
    b"425 no data\r\n",
    b"426 aborted\r\n",
    b"451 local\r\n",
    b"500 what\r\n",
    b"550 no\r\n",
    b"421 bye\r\n",
    b"221 bye\r\n",
    b"200-a\r\n200 b\r\n",
];

#[derive(Debug, Clone)]
enum Step {
    Op(u8, u16),
    Reply(usize),
    Raw(Vec<u8>),
    Data(u8, u8),
    Accept(u8, bool),
    Listing(u8, Vec<u8>),
    Advance(u16),
    Tls(bool),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (any::<u8>(), any::<u16>()).prop_map(|(k, n)| Step::Op(k, n)),
        6 => (0..REPLIES.len()).prop_map(Step::Reply),
        1 => proptest::collection::vec(any::<u8>(), 0..40).prop_map(Step::Raw),
        3 => (any::<u8>(), any::<u8>()).prop_map(|(w, k)| Step::Data(w, k)),
        1 => (any::<u8>(), any::<bool>()).prop_map(|(w, ok)| Step::Accept(w, ok)),
        1 => (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(w, b)| Step::Listing(w, b)),
        1 => (0u16..200).prop_map(Step::Advance),
        1 => any::<bool>().prop_map(Step::Tls),
    ]
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
            assert!(n < 10_000, "unbounded output");
            assert!(!self.closed, "output after Close: {out:?}");
            match out {
                ClientOutput::Completed(id, _) => {
                    let c = self.ops.get_mut(&id).expect("completion of an unknown op");
                    *c += 1;
                    assert_eq!(*c, 1, "{id} completed twice");
                }
                ClientOutput::Data(DataIntent::Connect { id, .. } | DataIntent::Listen { id }) => {
                    self.data.push(id)
                }
                ClientOutput::Close => self.closed = true,
                _ => {}
            }
        }
    }

    fn pick(&self, w: u8) -> Option<DataId> {
        if self.data.is_empty() {
            return None;
        }
        Some(self.data[usize::from(w) % self.data.len()])
    }

    fn op(&mut self, k: u8, n: u16) {
        let now = self.now;
        let s = &mut self.s;
        let r = match k % 18 {
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
            12 => s.stou(now),
            13 | 14 => s.abort(now),
            15 => s.noop(now),
            16 => s.cdup(now),
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
            Step::Reply(i) => self.input(REPLIES[*i]),
            Step::Raw(b) => self.input(b),
            Step::Data(w, k) => {
                let Some(id) = self.pick(*w) else { return };
                let e = match k % 6 {
                    0 => ClientEvent::DataConnected { id },
                    1 => ClientEvent::DataFailed { id },
                    2 | 3 => ClientEvent::TransferDone {
                        id,
                        bytes: u64::from(*k),
                    },
                    4 => ClientEvent::TransferFailed {
                        id,
                        error: DataError::ConnectionLost,
                    },
                    _ => ClientEvent::Listening {
                        id,
                        addr: "10.0.0.2:40000".parse().unwrap(),
                    },
                };
                match self.s.handle_event(self.now, e) {
                    Ok(()) | Err(ClientError::Closed) => {}
                    Err(e) => panic!("unexpected {e:?}"),
                }
            }
            Step::Accept(w, ok) => {
                let Some(id) = self.pick(*w) else { return };
                let peer: SocketAddr = if *ok {
                    "10.0.0.1:20".parse().unwrap()
                } else {
                    "10.9.9.9:20".parse().unwrap()
                };
                let r = self.s.handle_data_accept(self.now, id, peer);
                assert!(matches!(r, Ok(_) | Err(ClientError::Closed)), "{r:?}");
                if !*ok {
                    assert!(!matches!(r, Ok(ftp_proto::client::Accept::Use { .. })));
                }
            }
            Step::Listing(w, b) => {
                let Some(id) = self.pick(*w) else { return };
                let r = self.s.handle_listing_data(self.now, id, b);
                assert!(matches!(r, Ok(()) | Err(ClientError::Closed)), "{r:?}");
            }
            Step::Advance(secs) => {
                self.now += Duration::from_secs(u64::from(*secs));
                self.s.handle_timeout(self.now);
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

    fn input(&mut self, b: &[u8]) {
        match self.s.handle_input(self.now, b) {
            Ok(()) => {}
            Err(ClientError::Closed) => assert!(self.s.is_closed()),
            Err(e) => panic!("unexpected {e:?}"),
        }
    }

    fn finish(mut self) {
        let _ = self.s.handle_event(self.now, ClientEvent::ControlEof);
        self.drain();
        assert!(self.s.is_closed());
        for (id, n) in &self.ops {
            assert_eq!(*n, 1, "{id} completed {n} times");
        }
    }
}

fn config(mode: u8) -> ClientConfig {
    let mut c = ClientConfig::new("u", "p");
    c.data_mode = match mode % 3 {
        0 => DataMode::Passive,
        1 => DataMode::PassiveNoEpsv,
        _ => DataMode::Active,
    };
    c.tls = match (mode / 3) % 4 {
        0 => ClientTls::Disabled,
        1 => ClientTls::Opportunistic,
        2 => ClientTls::Required,
        _ => ClientTls::Implicit,
    };
    c.account = (mode & 0x40 != 0).then(|| "acct".into());
    c.max_queued_ops = 8;
    c.max_listing_entries = 4;
    c.max_listing_line = 64;
    c.replies.max_line_len = 128;
    c.replies.max_lines = 8;
    c
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn every_operation_completes_exactly_once(
        mode in any::<u8>(),
        steps in proptest::collection::vec(step(), 0..60),
    ) {
        let now = Instant::now();
        let s = ClientSession::new(config(mode), "10.0.0.1:21".parse().unwrap(), now).unwrap();
        let mut run = Run { s, now, ops: HashMap::new(), data: Vec::new(), closed: false };
        run.drain();
        for step in &steps {
            run.apply(step);
        }
        run.finish();
    }

    #[test]
    fn chunking_does_not_change_the_outcome(
        picks in proptest::collection::vec(0..REPLIES.len(), 1..20),
        ops in proptest::collection::vec(any::<u8>(), 0..6),
        split in 1usize..7,
    ) {
        let bytes: Vec<u8> = picks.iter().flat_map(|&i| REPLIES[i].iter().copied()).collect();
        let run = |chunk: usize| {
            let now = Instant::now();
            let s = ClientSession::new(config(0), "10.0.0.1:21".parse().unwrap(), now).unwrap();
            let mut run = Run { s, now, ops: HashMap::new(), data: Vec::new(), closed: false };
            for k in &ops {
                run.op(*k, 1);
            }
            run.drain();
            let mut outs = Vec::new();
            for c in bytes.chunks(chunk) {
                let _ = run.s.handle_input(now, c);
                while let Some(o) = run.s.poll_output() {
                    outs.push(o);
                }
            }
            outs
        };
        let whole = run(bytes.len());
        // Chunked delivery may split a Send differently, never the sequence of results.
        let summary = |v: Vec<ClientOutput>| -> Vec<String> {
            v.into_iter().map(|o| format!("{o:?}")).collect()
        };
        prop_assert_eq!(summary(whole), summary(run(split)));
    }
}
