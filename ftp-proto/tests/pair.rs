//! A `Pair` harness: the client session talking to the server session in virtual time, with
//! the server's storage answered from an in-memory tree and data connections simulated by
//! moving bytes between the two sides' intents.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ftp_proto::client::{
    self, ClientConfig, ClientError, ClientEvent, ClientOutput, ClientSession, ClientTls, DataMode,
    DataProtection, OpError, OpId, Outcome,
};
use ftp_proto::listing::{self, Entry, EntryKind};
use ftp_proto::path::VirtualPath;
use ftp_proto::server::{
    self, Answer, Failure, ListFormat, PassiveAddress, Request, RequestId, ServerConfig,
    ServerEvent, ServerOutput, ServerSession, StorageRequest, TlsMode, WriteMode,
};
use ftp_proto::time::Timestamp;

const CLIENT_ADDR: &str = "10.0.0.2:50000";
const SERVER_ADDR: &str = "10.0.0.1:21";

fn wall() -> Timestamp {
    Timestamp::from_unix(1_700_000_000, 0).unwrap()
}

#[derive(Debug, Clone)]
enum Node {
    File(Vec<u8>),
    Dir,
}

/// What the server adapter opened for a transfer.
#[derive(Debug)]
enum Handle {
    Read(Vec<u8>),
    Write(String, WriteMode),
}

/// One simulated data connection, linking a client channel and a server channel.
#[derive(Debug, Default)]
struct Link {
    server: Option<server::DataId>,
    client: Option<client::DataId>,
    server_tls: Option<bool>,
    client_tls: Option<bool>,
    server_transfer: Option<(RequestId, server::Direction)>,
    client_transfer: Option<(OpId, bool)>,
}

struct Pair {
    now: Instant,
    client: ClientSession,
    server: ServerSession,
    fs: BTreeMap<String, Node>,
    handles: HashMap<RequestId, Handle>,
    c2s: Vec<u8>,
    s2c: Vec<u8>,
    /// Client outputs other than Send and Data.
    events: Vec<ClientOutput>,
    /// Commands the server received, as the client sent them.
    wire: Vec<u8>,
    server_listeners: HashMap<SocketAddr, server::DataId>,
    client_listeners: HashMap<u16, client::DataId>,
    links: Vec<Link>,
    next_port: u16,
    client_tls_pending: bool,
    server_tls_pending: bool,
    server_closed: bool,
    /// Bytes the client adapter uploads, per operation.
    uploads: HashMap<OpId, Vec<u8>>,
    /// Bytes the client adapter downloaded, per operation.
    downloads: HashMap<OpId, Vec<u8>>,
    /// Keep data from moving (to test ABOR mid-transfer).
    stall: bool,
}

impl Pair {
    fn new(server_config: ServerConfig, client_config: ClientConfig) -> Pair {
        let now = Instant::now();
        let server = ServerSession::new(
            Arc::new(server_config),
            CLIENT_ADDR.parse().unwrap(),
            SERVER_ADDR.parse().unwrap(),
            now,
        );
        let client = ClientSession::new(client_config, SERVER_ADDR.parse().unwrap(), now).unwrap();
        let mut fs = BTreeMap::new();
        fs.insert("/".to_owned(), Node::Dir);
        fs.insert("/pub".to_owned(), Node::Dir);
        fs.insert(
            "/pub/hello.txt".to_owned(),
            Node::File(b"hello, world\n".to_vec()),
        );
        fs.insert(
            "/pub/data.bin".to_owned(),
            Node::File((0..=255u8).collect()),
        );
        let mut p = Pair {
            now,
            client,
            server,
            fs,
            handles: HashMap::new(),
            c2s: Vec::new(),
            s2c: Vec::new(),
            events: Vec::new(),
            wire: Vec::new(),
            server_listeners: HashMap::new(),
            client_listeners: HashMap::new(),
            links: Vec::new(),
            next_port: 40000,
            client_tls_pending: false,
            server_tls_pending: false,
            server_closed: false,
            uploads: HashMap::new(),
            downloads: HashMap::new(),
            stall: false,
        };
        p.pump();
        p
    }

    fn plain() -> Pair {
        Pair::new(
            ServerConfig::default(),
            ClientConfig::new("alice", "secret"),
        )
    }

    fn logged_in(p: &mut Pair) -> Box<client::LoginInfo> {
        let pos = p
            .events
            .iter()
            .position(|e| matches!(e, ClientOutput::LoggedIn(_)))
            .unwrap_or_else(|| panic!("not logged in: {:?}", p.events));
        match p.events.remove(pos) {
            ClientOutput::LoggedIn(i) => i,
            _ => unreachable!(),
        }
    }

    /// Moves everything that can move until nothing does.
    fn pump(&mut self) {
        for _ in 0..10_000 {
            if !self.step() {
                return;
            }
        }
        panic!("the pair never settles");
    }

    fn step(&mut self) -> bool {
        let mut progress = false;
        while let Some(out) = self.server.poll_output() {
            progress = true;
            self.server_output(out);
        }
        while let Some(out) = self.client.poll_output() {
            progress = true;
            self.client_output(out);
        }
        if !self.c2s.is_empty() && self.server.wants_read() && !self.server_closed {
            let bytes = std::mem::take(&mut self.c2s);
            self.wire.extend_from_slice(&bytes);
            self.server.handle_input(self.now, &bytes).unwrap();
            progress = true;
        }
        if !self.s2c.is_empty() && self.client.wants_read() {
            let bytes = std::mem::take(&mut self.s2c);
            self.client.handle_input(self.now, &bytes).unwrap();
            progress = true;
        }
        if self.client_tls_pending && self.server_tls_pending {
            self.client_tls_pending = false;
            self.server_tls_pending = false;
            self.server
                .handle_event(self.now, ServerEvent::TlsEstablished)
                .unwrap();
            self.client
                .handle_event(self.now, ClientEvent::TlsEstablished)
                .unwrap();
            progress = true;
        }
        if self.server_closed && !self.client.is_closed() && self.s2c.is_empty() {
            self.client
                .handle_event(self.now, ClientEvent::ControlEof)
                .unwrap();
            progress = true;
        }
        progress |= self.move_data();
        progress
    }

    fn server_output(&mut self, out: ServerOutput) {
        match out {
            ServerOutput::Send(b) => self.s2c.extend_from_slice(&b),
            ServerOutput::Request(id, req) => {
                let answer = self.answer(id, req);
                self.server
                    .handle_event(self.now, ServerEvent::Answer(id, answer))
                    .unwrap();
            }
            ServerOutput::Data(d) => self.server_data(d),
            // The simulated storage keeps no handles: its transfers read the tree directly.
            ServerOutput::Release(_) => {}
            ServerOutput::StartTls => self.server_tls_pending = true,
            ServerOutput::Close => self.server_closed = true,
            // For the operator's log only.
            ServerOutput::Notice(_) => {}
            other => panic!("unexpected server output {other:?}"),
        }
    }

    fn client_output(&mut self, out: ClientOutput) {
        match out {
            ClientOutput::Send(b) => self.c2s.extend_from_slice(&b),
            ClientOutput::Data(d) => self.client_data(d),
            ClientOutput::StartTls => self.client_tls_pending = true,
            other => self.events.push(other),
        }
    }

    fn server_data(&mut self, d: server::DataIntent) {
        match d {
            server::DataIntent::Listen { id, ip, ports } => {
                assert!(ports.contains(&49152));
                let addr = SocketAddr::new(ip, self.port());
                self.server_listeners.insert(addr, id);
                self.server
                    .handle_event(self.now, ServerEvent::Listening { id, addr })
                    .unwrap();
            }
            server::DataIntent::Connect { id, addr, tls } => {
                let Some(cid) = self.client_listeners.get(&addr.port()).copied() else {
                    self.server
                        .handle_event(self.now, ServerEvent::DataFailed { id })
                        .unwrap();
                    return;
                };
                let from = SocketAddr::new(SERVER_ADDR.parse::<SocketAddr>().unwrap().ip(), 20);
                match self.client.handle_data_accept(self.now, cid, from).unwrap() {
                    client::Accept::Use { protection } => {
                        self.links.push(Link {
                            server: Some(id),
                            client: Some(cid),
                            server_tls: Some(tls),
                            client_tls: Some(protection == DataProtection::Tls),
                            ..Link::default()
                        });
                        let tls_resumed = tls.then_some(true);
                        self.server
                            .handle_event(self.now, ServerEvent::DataReady { id, tls_resumed })
                            .unwrap();
                    }
                    client::Accept::Reject => self
                        .server
                        .handle_event(self.now, ServerEvent::DataFailed { id })
                        .unwrap(),
                }
            }
            server::DataIntent::Transfer {
                id,
                source,
                direction,
                ..
            } => {
                let link = self
                    .links
                    .iter_mut()
                    .find(|l| l.server == Some(id))
                    .expect("transfer on a linked channel");
                link.server_transfer = Some((source, direction));
            }
            server::DataIntent::Abort { id } | server::DataIntent::Close { id } => {
                self.server_listeners.retain(|_, v| *v != id);
                self.links.retain(|l| l.server != Some(id));
            }
            other => panic!("unexpected server intent {other:?}"),
        }
    }

    fn client_data(&mut self, d: client::DataIntent) {
        match d {
            client::DataIntent::Connect {
                id,
                addr,
                protection,
            } => {
                let Some(sid) = self.server_listeners.get(&addr).copied() else {
                    self.client
                        .handle_event(self.now, ClientEvent::DataFailed { id })
                        .unwrap();
                    return;
                };
                self.client
                    .handle_event(self.now, ClientEvent::DataConnected { id })
                    .unwrap();
                match self
                    .server
                    .handle_data_accept(self.now, sid, CLIENT_ADDR.parse().unwrap())
                    .unwrap()
                {
                    server::Accept::Use { tls } => {
                        self.links.push(Link {
                            server: Some(sid),
                            client: Some(id),
                            server_tls: Some(tls),
                            client_tls: Some(protection == DataProtection::Tls),
                            ..Link::default()
                        });
                        self.server
                            .handle_event(
                                self.now,
                                ServerEvent::DataReady {
                                    id: sid,
                                    tls_resumed: tls.then_some(true),
                                },
                            )
                            .unwrap();
                    }
                    server::Accept::Reject => panic!("server rejected the client"),
                }
            }
            client::DataIntent::Listen { id } => {
                let port = self.port();
                self.client_listeners.insert(port, id);
                let addr = SocketAddr::new(CLIENT_ADDR.parse::<SocketAddr>().unwrap().ip(), port);
                self.client
                    .handle_event(self.now, ClientEvent::Listening { id, addr })
                    .unwrap();
            }
            client::DataIntent::Transfer {
                id, op, listing, ..
            } => {
                let link = self
                    .links
                    .iter_mut()
                    .find(|l| l.client == Some(id))
                    .expect("client transfer on a linked channel");
                link.client_transfer = Some((op, listing));
            }
            client::DataIntent::Abort { id } | client::DataIntent::Close { id } => {
                self.client_listeners.retain(|_, v| *v != id);
                self.links.retain(|l| l.client != Some(id));
            }
            other => panic!("unexpected client intent {other:?}"),
        }
    }

    fn port(&mut self) -> u16 {
        self.next_port += 1;
        if self.next_port < 49152 {
            self.next_port = 49152;
        }
        self.next_port
    }

    /// Moves a whole transfer once both sides have asked for it.
    fn move_data(&mut self) -> bool {
        if self.stall {
            return false;
        }
        let Some(pos) = self
            .links
            .iter()
            .position(|l| l.server_transfer.is_some() && l.client_transfer.is_some())
        else {
            return false;
        };
        let link = self.links.remove(pos);
        let (sid, cid) = (link.server.unwrap(), link.client.unwrap());
        let (source, direction) = link.server_transfer.unwrap();
        let (op, listing) = link.client_transfer.unwrap();
        if link.server_tls != link.client_tls {
            // One side wants TLS and the other does not: the handshake fails.
            self.client
                .handle_event(
                    self.now,
                    ClientEvent::TransferFailed {
                        id: cid,
                        error: client::DataError::Tls,
                    },
                )
                .unwrap();
            self.server
                .handle_event(
                    self.now,
                    ServerEvent::TransferFailed {
                        id: sid,
                        error: server::TransferError::ConnectionLost,
                    },
                )
                .unwrap();
            return true;
        }
        let bytes = match (direction, self.handles.remove(&source)) {
            (server::Direction::Send, Some(Handle::Read(data))) => {
                if listing {
                    self.client
                        .handle_listing_data(self.now, cid, &data)
                        .unwrap();
                } else {
                    self.downloads.insert(op, data.clone());
                }
                data.len()
            }
            (server::Direction::Receive, Some(Handle::Write(path, mode))) => {
                let data = self.uploads.remove(&op).unwrap_or_default();
                let old = match self.fs.get(&path) {
                    Some(Node::File(f)) => f.clone(),
                    _ => Vec::new(),
                };
                let new = match mode {
                    WriteMode::Append => [old, data.clone()].concat(),
                    WriteMode::AtOffset(n) => {
                        let mut keep = old;
                        keep.truncate(n as usize);
                        keep.extend_from_slice(&data);
                        keep
                    }
                    _ => data.clone(),
                };
                self.fs.insert(path, Node::File(new));
                data.len()
            }
            other => panic!("no handle for the transfer: {other:?}"),
        };
        let bytes = bytes as u64;
        self.server
            .handle_event(self.now, ServerEvent::TransferDone { id: sid, bytes })
            .unwrap();
        self.client
            .handle_event(self.now, ClientEvent::TransferDone { id: cid, bytes })
            .unwrap();
        true
    }

    fn entry(&self, path: &str) -> Option<Entry> {
        let name = path.rsplit('/').next().unwrap_or("").to_owned();
        let e = match self.fs.get(path)? {
            Node::Dir => Entry::new(name, EntryKind::Dir),
            Node::File(d) => Entry::new(name, EntryKind::File).with_size(d.len() as u64),
        };
        Some(e.with_modified(wall()).with_permissions(0o644))
    }

    fn children(&self, dir: &str) -> Vec<Entry> {
        let prefix = if dir == "/" {
            "/".to_owned()
        } else {
            format!("{dir}/")
        };
        self.fs
            .keys()
            .filter(|k| {
                k.starts_with(&prefix) && k.len() > prefix.len() && !k[prefix.len()..].contains('/')
            })
            .filter_map(|k| self.entry(k))
            .collect()
    }

    fn answer(&mut self, id: RequestId, req: Request) -> Answer {
        let s = |p: &VirtualPath| String::from_utf8(p.as_bytes().to_vec()).unwrap();
        match req {
            Request::Login { user, pass, .. } => {
                if &user[..] == b"alice" && &pass[..] == b"secret" {
                    Answer::LoggedIn { read_only: false }
                } else {
                    Answer::Failed(Failure::LoginRefused)
                }
            }
            Request::Storage(st) => match st {
                StorageRequest::Stat { path } => match self.entry(&s(&path)) {
                    Some(e) => Answer::Metadata(Box::new(e)),
                    None => Answer::Failed(Failure::NotFound),
                },
                StorageRequest::ReadDir { path } => Answer::Entries {
                    entries: self.children(&s(&path)),
                    now: wall(),
                },
                StorageRequest::OpenList { path, format } => {
                    let mut out = BytesMut::new();
                    for e in self.children(&s(&path)) {
                        match &format {
                            ListFormat::List => listing::format_list_line(&e, wall(), &mut out),
                            ListFormat::Names => listing::format_nlst_line(&e, &mut out),
                            ListFormat::Mlsd(f) => listing::format_mlsx_line(&e, *f, &mut out),
                            other => panic!("{other:?}"),
                        }
                        .unwrap();
                    }
                    self.handles.insert(id, Handle::Read(out.to_vec()));
                    Answer::Opened { size: None }
                }
                StorageRequest::OpenRead { path, offset } => match self.fs.get(&s(&path)) {
                    Some(Node::File(d)) => {
                        let data = d.get(offset as usize..).unwrap_or_default().to_vec();
                        let size = Some(data.len() as u64);
                        self.handles.insert(id, Handle::Read(data));
                        Answer::Opened { size }
                    }
                    Some(Node::Dir) => Answer::Failed(Failure::IsADirectory),
                    None => Answer::Failed(Failure::NotFound),
                },
                StorageRequest::OpenWrite { path, mode } => {
                    if mode == WriteMode::CreateUnique {
                        let p = path.join(b"unique.1").unwrap();
                        self.handles
                            .insert(id, Handle::Write(s(&p), WriteMode::Truncate));
                        return Answer::OpenedUnique { path: p };
                    }
                    self.handles.insert(id, Handle::Write(s(&path), mode));
                    Answer::Opened { size: None }
                }
                StorageRequest::MakeDir { path } => {
                    if self.fs.contains_key(&s(&path)) {
                        return Answer::Failed(Failure::AlreadyExists);
                    }
                    self.fs.insert(s(&path), Node::Dir);
                    Answer::Done
                }
                StorageRequest::RemoveDir { path } | StorageRequest::Delete { path } => {
                    match self.fs.remove(&s(&path)) {
                        Some(_) => Answer::Done,
                        None => Answer::Failed(Failure::NotFound),
                    }
                }
                StorageRequest::Rename { from, to } => match self.fs.remove(&s(&from)) {
                    Some(n) => {
                        self.fs.insert(s(&to), n);
                        Answer::Done
                    }
                    None => Answer::Failed(Failure::NotFound),
                },
                StorageRequest::SetModified { .. } | StorageRequest::Chmod { .. } => Answer::Done,
                other => panic!("unexpected storage request {other:?}"),
            },
            other => panic!("unexpected request {other:?}"),
        }
    }

    /// Runs until operation `op` completes, advancing virtual time to the next timer when
    /// nothing else moves.
    fn wait(&mut self, op: OpId) -> Result<Outcome, OpError> {
        for _ in 0..100 {
            self.pump();
            if let Some(pos) = self
                .events
                .iter()
                .position(|e| matches!(e, ClientOutput::Completed(id, _) if *id == op))
            {
                let ClientOutput::Completed(_, r) = self.events.remove(pos) else {
                    unreachable!()
                };
                return r;
            }
            let next = [self.client.poll_timeout(), self.server.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or_else(|| panic!("stuck waiting for {op}: {:?}", self.events));
            self.now = self.now.max(next);
            self.client.handle_timeout(self.now);
            self.server.handle_timeout(self.now);
        }
        panic!("{op} never completed");
    }

    fn wire_lines(&mut self) -> Vec<String> {
        let text = String::from_utf8_lossy(&std::mem::take(&mut self.wire)).into_owned();
        text.split_terminator("\r\n").map(str::to_owned).collect()
    }

    fn file(&self, path: &str) -> Option<&[u8]> {
        match self.fs.get(path) {
            Some(Node::File(d)) => Some(d),
            _ => None,
        }
    }
}

fn names(r: Result<Outcome, OpError>) -> Vec<String> {
    match r {
        Ok(Outcome::Listing(l)) => l
            .entries
            .iter()
            .map(|e| String::from_utf8_lossy(&e.name).into_owned())
            .collect(),
        Ok(Outcome::Names(n)) => n
            .iter()
            .map(|e| String::from_utf8_lossy(e).into_owned())
            .collect(),
        other => panic!("no listing: {other:?}"),
    }
}

#[test]
fn login_and_feat() {
    let mut p = Pair::plain();
    let info = Pair::logged_in(&mut p);
    assert!(info.features.has("MLST") && info.features.has("EPSV") && info.features.has("UTF8"));
    assert!(!info.tls);
    assert_eq!(
        p.wire_lines(),
        [
            "USER alice",
            "PASS secret",
            "FEAT",
            "OPTS UTF8 ON",
            "TYPE I"
        ]
    );
}

#[test]
fn wrong_password_fails_the_session_after_the_servers_delay() {
    let mut p = Pair::new(ServerConfig::default(), ClientConfig::new("alice", "nope"));
    let op = p.client.pwd(p.now).unwrap();
    let start = p.now;
    let r = p.wait(op);
    assert!(
        matches!(r, Err(OpError::Session(ClientError::LoginFailed(ref reply))) if reply.code().as_u16() == 530)
    );
    assert_eq!(p.now - start, Duration::from_secs(1));
    assert!(p.client.is_closed());
}

#[test]
fn every_control_operation() {
    let mut p = Pair::plain();
    let now = p.now;
    let c = &mut p.client;
    let ops = [
        c.pwd(now).unwrap(),
        c.cwd(now, "pub").unwrap(),
        c.pwd(now).unwrap(),
        c.mkdir(now, "new").unwrap(),
        c.rmdir(now, "new").unwrap(),
        c.size(now, "hello.txt").unwrap(),
        c.mdtm(now, "hello.txt").unwrap(),
        c.mfmt(now, "hello.txt", wall()).unwrap(),
        c.mlst(now, Some("hello.txt".into())).unwrap(),
        c.rename(now, "hello.txt", "hi.txt").unwrap(),
        c.delete(now, "hi.txt").unwrap(),
        c.site(now, "CHMOD 600 data.bin").unwrap(),
        c.stat(now, Some("/pub".into())).unwrap(),
        c.noop(now).unwrap(),
        c.raw(now, ftp_proto::command::Command::Syst).unwrap(),
        c.cdup(now).unwrap(),
        c.pwd(now).unwrap(),
        c.delete(now, "missing").unwrap(),
    ];
    let results: Vec<_> = ops.iter().map(|op| p.wait(*op)).collect();
    assert_eq!(results[0], Ok(Outcome::Path("/".into())));
    assert!(matches!(&results[1], Ok(Outcome::Done(r)) if r.code().as_u16() == 250));
    assert_eq!(results[2], Ok(Outcome::Path("/pub".into())));
    assert_eq!(results[3], Ok(Outcome::Created(Some("/pub/new".into()))));
    assert!(matches!(&results[4], Ok(Outcome::Done(_))));
    assert_eq!(results[5], Ok(Outcome::Size(13)));
    assert_eq!(results[6], Ok(Outcome::Modified(wall())));
    assert!(matches!(&results[7], Ok(Outcome::Done(r)) if r.code().as_u16() == 213));
    match &results[8] {
        Ok(Outcome::Entry(e)) => {
            assert_eq!(&e.name[..], b"/pub/hello.txt");
            assert_eq!(e.size, Some(13));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(&results[9], Ok(Outcome::Done(r)) if r.code().as_u16() == 250));
    assert!(matches!(&results[10], Ok(Outcome::Done(_))));
    assert!(p.file("/pub/hi.txt").is_none() && p.file("/pub/hello.txt").is_none());
    assert!(matches!(&results[11], Ok(Outcome::Done(r)) if r.code().as_u16() == 200));
    match &results[12] {
        Ok(Outcome::Done(r)) => {
            assert_eq!(r.code().as_u16(), 213);
            assert!(String::from_utf8_lossy(r.text()).contains("data.bin"));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(&results[13], Ok(Outcome::Done(_))));
    assert!(matches!(&results[14], Ok(Outcome::Done(r)) if r.code().as_u16() == 215));
    assert!(matches!(&results[15], Ok(Outcome::Done(r)) if r.code().as_u16() == 250));
    assert_eq!(results[16], Ok(Outcome::Path("/".into())));
    assert!(matches!(&results[17], Err(OpError::Rejected(r)) if r.code().as_u16() == 550));
}

#[test]
fn passive_listings_and_transfers() {
    let mut p = Pair::plain();
    let now = p.now;
    let list = p
        .client
        .list(now, Some("/pub".into()), Some(wall()))
        .unwrap();
    let nlst = p.client.nlst(now, Some("/pub".into())).unwrap();
    let mlsd = p.client.mlsd(now, Some("/pub".into())).unwrap();
    let retr = p.client.retr(now, "/pub/data.bin", 0).unwrap();
    let stor = p.client.stor(now, "/pub/up.txt", 0).unwrap();
    p.uploads.insert(stor, b"uploaded".to_vec());
    let appe = p.client.appe(now, "/pub/up.txt").unwrap();
    p.uploads.insert(appe, b"+more".to_vec());
    let stou = p.client.stou(now).unwrap();
    p.uploads.insert(stou, b"unique".to_vec());

    let want = ["data.bin", "hello.txt"];
    let l = p.wait(list);
    match &l {
        Ok(Outcome::Listing(l)) => {
            assert_eq!(l.skipped, 0);
            assert_eq!(l.entries[0].size, Some(256));
            // LIST dates have minute precision.
            assert_eq!(
                l.entries[1].modified,
                Timestamp::from_unix(1_700_000_000 / 60 * 60, 0)
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(names(l), want);
    assert_eq!(names(p.wait(nlst)), want);
    let m = p.wait(mlsd);
    match &m {
        Ok(Outcome::Listing(l)) => assert_eq!(l.entries[1].size, Some(13)),
        other => panic!("{other:?}"),
    }
    assert_eq!(names(m), want);
    assert_eq!(
        p.wait(retr),
        Ok(Outcome::Transferred {
            bytes: 256,
            announced: Some(256)
        })
    );
    assert_eq!(p.downloads[&retr], (0..=255u8).collect::<Vec<_>>());
    assert!(matches!(
        p.wait(stor),
        Ok(Outcome::Transferred { bytes: 8, .. })
    ));
    assert!(matches!(
        p.wait(appe),
        Ok(Outcome::Transferred { bytes: 5, .. })
    ));
    assert_eq!(p.file("/pub/up.txt"), Some(&b"uploaded+more"[..]));
    // RFC 1123 §4.1.2.9: `150 FILE: unique.1`, the name running to the end of the line.
    assert_eq!(
        p.wait(stou),
        Ok(Outcome::StoredUnique {
            bytes: 6,
            name: Some("unique.1".into())
        })
    );
    assert_eq!(p.file("/unique.1"), Some(&b"unique"[..]));
    let lines = p.wire_lines();
    assert_eq!(lines.iter().filter(|l| *l == "EPSV").count(), 7);
    assert!(!lines.iter().any(|l| l == "PASV"));
}

#[test]
fn rest_resumes_downloads_and_uploads() {
    let mut p = Pair::plain();
    let now = p.now;
    let retr = p.client.retr(now, "/pub/hello.txt", 7).unwrap();
    assert_eq!(
        p.wait(retr),
        Ok(Outcome::Transferred {
            bytes: 6,
            announced: Some(6)
        })
    );
    assert_eq!(p.downloads[&retr], b"world\n");
    let stor = p.client.stor(p.now, "/pub/hello.txt", 5).unwrap();
    p.uploads.insert(stor, b"!!".to_vec());
    assert!(matches!(
        p.wait(stor),
        Ok(Outcome::Transferred { bytes: 2, .. })
    ));
    assert_eq!(p.file("/pub/hello.txt"), Some(&b"hello!!"[..]));
    let lines = p.wire_lines();
    assert!(lines.contains(&"REST 7".to_owned()) && lines.contains(&"REST 5".to_owned()));
}

#[test]
fn pasv_only_and_masquerade_address_ignored_by_default() {
    let mut server = ServerConfig::default();
    server.passive_address = PassiveAddress::Masquerade("192.168.7.7".parse().unwrap());
    let mut config = ClientConfig::new("alice", "secret");
    config.data_mode = DataMode::PassiveNoEpsv;
    let mut p = Pair::new(server.clone(), config.clone());
    let op = p.client.retr(p.now, "/pub/hello.txt", 0).unwrap();
    assert!(matches!(
        p.wait(op),
        Ok(Outcome::Transferred { bytes: 13, .. })
    ));
    assert!(p.wire_lines().contains(&"PASV".to_owned()));

    // Trusting the 227 address sends the client to 192.168.7.7, where nothing listens.
    config.trust_pasv_address = true;
    let mut p = Pair::new(server, config);
    let op = p.client.retr(p.now, "/pub/hello.txt", 0).unwrap();
    assert_eq!(p.wait(op), Err(OpError::DataConnection));
}

#[test]
fn active_mode_transfers() {
    let mut config = ClientConfig::new("alice", "secret");
    config.data_mode = DataMode::Active;
    let mut p = Pair::new(ServerConfig::default(), config);
    let retr = p.client.retr(p.now, "/pub/hello.txt", 0).unwrap();
    let stor = p.client.stor(p.now, "/up", 0).unwrap();
    p.uploads.insert(stor, b"xyz".to_vec());
    let list = p.client.nlst(p.now, Some("/pub".into())).unwrap();
    assert!(matches!(
        p.wait(retr),
        Ok(Outcome::Transferred { bytes: 13, .. })
    ));
    assert_eq!(p.downloads[&retr], b"hello, world\n");
    assert!(matches!(
        p.wait(stor),
        Ok(Outcome::Transferred { bytes: 3, .. })
    ));
    assert_eq!(p.file("/up"), Some(&b"xyz"[..]));
    assert_eq!(names(p.wait(list)), ["data.bin", "hello.txt"]);
    let ports: Vec<_> = p
        .wire_lines()
        .into_iter()
        .filter(|l| l.starts_with("PORT "))
        .collect();
    assert_eq!(ports.len(), 3);
    assert!(ports[0].starts_with("PORT 10,0,0,2,"));
}

#[test]
fn abort_mid_transfer_426_then_226() {
    let mut p = Pair::plain();
    p.stall = true;
    let retr = p.client.retr(p.now, "/pub/data.bin", 0).unwrap();
    p.pump();
    assert!(
        p.links
            .iter()
            .any(|l| l.server_transfer.is_some() && l.client_transfer.is_some()),
        "the transfer is running"
    );
    let abort = p.client.abort(p.now).unwrap();
    assert_eq!(p.wait(retr), Err(OpError::Aborted));
    match p.wait(abort) {
        Ok(Outcome::Aborted(Some(r))) => assert_eq!(r.code().as_u16(), 226),
        other => panic!("{other:?}"),
    }
    assert!(p.links.is_empty(), "both sides dropped the data connection");
    // The session goes on.
    p.stall = false;
    let pwd = p.client.pwd(p.now).unwrap();
    assert_eq!(p.wait(pwd), Ok(Outcome::Path("/".into())));
    let idle_abort = p.client.abort(p.now).unwrap();
    match p.wait(idle_abort) {
        Ok(Outcome::Aborted(Some(r))) => assert_eq!(r.code().as_u16(), 225),
        other => panic!("{other:?}"),
    }
}

#[test]
fn explicit_tls_required_protects_data() {
    let mut server = ServerConfig::default();
    server.tls = TlsMode::ExplicitRequired;
    server.require_data_tls = true;
    server.require_tls_session_reuse = true;
    let mut config = ClientConfig::new("alice", "secret");
    config.tls = ClientTls::Required;
    let mut p = Pair::new(server, config);
    let info = Pair::logged_in(&mut p);
    assert!(info.tls && info.data_tls);
    assert!(p.client.is_tls());
    assert_eq!(
        p.wire_lines(),
        [
            "AUTH TLS",
            "USER alice",
            "PASS secret",
            "PBSZ 0",
            "PROT P",
            "FEAT",
            "OPTS UTF8 ON",
            "TYPE I"
        ]
    );
    let op = p.client.retr(p.now, "/pub/hello.txt", 0).unwrap();
    assert!(matches!(
        p.wait(op),
        Ok(Outcome::Transferred { bytes: 13, .. })
    ));
}

#[test]
fn required_tls_against_a_server_without_tls_fails_hard() {
    let mut config = ClientConfig::new("alice", "secret");
    config.tls = ClientTls::Required;
    let mut p = Pair::new(ServerConfig::default(), config);
    match p.client.error() {
        Some(ClientError::TlsRefused(r)) => assert_eq!(r.code().as_u16(), 502),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        p.events[..],
        [ClientOutput::Error(_), ClientOutput::Close]
    ));
    assert_eq!(p.wire_lines(), ["AUTH TLS"], "no credentials in the clear");
}

#[test]
fn opportunistic_tls_falls_back_and_server_requiring_tls_refuses_clear_login() {
    let mut config = ClientConfig::new("alice", "secret");
    config.tls = ClientTls::Opportunistic;
    let mut p = Pair::new(ServerConfig::default(), config);
    assert!(!Pair::logged_in(&mut p).tls);

    let mut server = ServerConfig::default();
    server.tls = TlsMode::ExplicitRequired;
    let p = Pair::new(server, ClientConfig::new("alice", "secret"));
    assert!(
        matches!(p.client.error(), Some(ClientError::LoginFailed(r)) if r.code().as_u16() == 530)
    );
}

#[test]
fn implicit_tls_pair() {
    let mut server = ServerConfig::default();
    server.tls = TlsMode::Implicit;
    let mut config = ClientConfig::new("alice", "secret");
    config.tls = ClientTls::Implicit;
    let mut p = Pair::new(server, config);
    let info = Pair::logged_in(&mut p);
    assert!(info.tls && info.data_tls);
    let op = p.client.mlsd(p.now, None).unwrap();
    assert_eq!(names(p.wait(op)), ["pub"]);
}

#[test]
fn data_tls_mismatch_fails_the_transfer_not_the_session() {
    // The server protects data (PROT P accepted) but this client kept PROT C.
    let mut server = ServerConfig::default();
    server.tls = TlsMode::Explicit;
    server.require_data_tls = true;
    let mut config = ClientConfig::new("alice", "secret");
    config.tls = ClientTls::Opportunistic;
    config.protect_data = false;
    let mut p = Pair::new(server, config);
    let op = p.client.retr(p.now, "/pub/hello.txt", 0).unwrap();
    match p.wait(op) {
        Err(OpError::Rejected(r)) => assert_eq!(r.code().as_u16(), 521),
        other => panic!("{other:?}"),
    }
    let pwd = p.client.pwd(p.now).unwrap();
    assert_eq!(p.wait(pwd), Ok(Outcome::Path("/".into())));
}

#[test]
fn quit_closes_both_sides() {
    let mut p = Pair::plain();
    let q = p.client.quit(p.now).unwrap();
    assert!(matches!(p.wait(q), Ok(Outcome::Done(r)) if r.code().as_u16() == 221));
    p.pump();
    assert!(p.client.is_closed() && p.server_closed);
    assert_eq!(p.events.last(), Some(&ClientOutput::Close));
}
