//! Data transfers: the data channel (EPSV with PASV fallback, or PORT/EPRT), REST, the
//! transfer command, completion on both the final reply and the end of data, and ABOR.

use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::time::Instant;

use bytes::Bytes;

use crate::addr::{parse_epsv_reply, parse_pasv_reply, EpsvArg};
use crate::command::Command;
use crate::reply::{parse_size_hint, parse_stou_name, Reply};
use crate::server::canonical_ip;

use super::config::{ClientConfig, DataMode};
use super::listing::{ListKind, ListingParser};
use super::session::{ClientSession, Current, Op};
use super::types::*;

/// What a transfer operation moves.
#[derive(Debug, Clone)]
pub(crate) enum TransferKind {
    /// LIST, NLST or MLSD of an optional path.
    List(Option<Bytes>, ListKind),
    Retr(Bytes, u64),
    Stor(Bytes, u64),
    Appe(Bytes),
    Stou,
}

impl TransferKind {
    /// The transfer command itself.
    pub(crate) fn command(&self) -> Command {
        match self {
            TransferKind::List(p, ListKind::List(_)) => Command::List(p.clone()),
            TransferKind::List(p, ListKind::Names) => Command::Nlst(p.clone()),
            TransferKind::List(p, ListKind::Mlsd) => Command::Mlsd(p.clone()),
            TransferKind::Retr(p, _) => Command::Retr(p.clone()),
            TransferKind::Stor(p, _) => Command::Stor(p.clone()),
            TransferKind::Appe(p) => Command::Appe(p.clone()),
            TransferKind::Stou => Command::Stou(None),
        }
    }

    fn offset(&self) -> u64 {
        match self {
            TransferKind::Retr(_, o) | TransferKind::Stor(_, o) => *o,
            _ => 0,
        }
    }

    fn direction(&self) -> Direction {
        match self {
            TransferKind::List(..) | TransferKind::Retr(..) => Direction::Download,
            _ => Direction::Upload,
        }
    }
}

/// Where a transfer stands.
#[derive(Debug)]
pub(crate) enum Stage {
    /// Not started yet.
    Queued,
    /// EPSV sent.
    Epsv,
    /// PASV sent.
    Pasv,
    /// Waiting for the adapter's TCP connect; `epsv` says which reply gave the port.
    Connecting { deadline: Instant, epsv: bool },
    /// Waiting for the adapter's active-mode listener.
    Binding { deadline: Instant },
    /// PORT or EPRT sent.
    Port,
    /// REST sent.
    Rest,
    /// The transfer command sent; its final reply not in.
    Command,
    /// The final reply is in; waiting for the end of data.
    Finishing,
    /// ABOR sent. `transfer_reply`: the transfer command's final reply is still due.
    /// `settle`: a 2xx came that may have been either reply; wait this long for another.
    Aborting {
        transfer_reply: bool,
        settle: Option<(Instant, Reply)>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataEnd {
    Pending,
    Done(u64),
    Failed(DataError),
}

/// A transfer operation's state.
#[derive(Debug)]
pub(crate) struct Transfer {
    kind: TransferKind,
    pub(crate) data: Option<DataId>,
    pub(crate) stage: Stage,
    pub(crate) active: bool,
    /// The data connection is up (connected, or accepted in active mode).
    pub(crate) connected: bool,
    /// The Transfer intent went out.
    started: bool,
    final_reply: Option<Reply>,
    data_end: DataEnd,
    announced: Option<u64>,
    stou_name: Option<Bytes>,
    pub(crate) listing: Option<ListingParser>,
    /// The abort operation that stops this transfer, once one was asked for.
    pub(crate) abort_op: Option<OpId>,
}

/// What happened to a transfer.
#[derive(Debug)]
pub(crate) enum TInput {
    Start,
    Reply(Reply),
    Listening(SocketAddr),
    Connected,
    ConnectFailed,
    DataDone(u64),
    DataFailed(DataError),
    Timeout,
    Abort(OpId),
}

type OpResult = Result<Outcome, OpError>;

/// How a step ended the transfer: its result and, when an abort stopped it, the abort's.
type Finished = (OpResult, Option<OpResult>);

impl Transfer {
    pub(crate) fn new(kind: TransferKind, config: &ClientConfig) -> Self {
        let listing = match &kind {
            TransferKind::List(_, k) => Some(ListingParser::new(
                *k,
                config.max_listing_entries,
                config.max_listing_line,
            )),
            _ => None,
        };
        Transfer {
            kind,
            data: None,
            stage: Stage::Queued,
            active: false,
            connected: false,
            started: false,
            final_reply: None,
            data_end: DataEnd::Pending,
            announced: None,
            stou_name: None,
            listing,
            abort_op: None,
        }
    }

    /// The deadline of the current stage's own timer, if it has one.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match &self.stage {
            Stage::Connecting { deadline, .. } | Stage::Binding { deadline } => Some(*deadline),
            Stage::Aborting {
                settle: Some((d, _)),
                ..
            } => Some(*d),
            _ => None,
        }
    }

    /// Whether a command of this transfer is out and its reply not yet in.
    pub(crate) fn awaiting_reply(&self) -> bool {
        matches!(
            self.stage,
            Stage::Epsv
                | Stage::Pasv
                | Stage::Port
                | Stage::Rest
                | Stage::Command
                | Stage::Aborting { .. }
        )
    }

    /// Whether bytes are moving, so that a slow final reply is no reason to time out.
    pub(crate) fn data_moving(&self) -> bool {
        matches!(self.stage, Stage::Command | Stage::Finishing)
            && self.started
            && self.connected
            && self.data_end == DataEnd::Pending
    }

    /// Whether an abort asked while a setup command was out is waiting for that reply.
    fn cancelled(&self) -> bool {
        self.abort_op.is_some()
            && matches!(
                self.stage,
                Stage::Epsv | Stage::Pasv | Stage::Port | Stage::Rest
            )
    }
}

impl ClientSession {
    /// Feeds one input to the running transfer and completes it when the input ends it.
    pub(crate) fn transfer_input(&mut self, now: Instant, input: TInput) {
        let Some(Current {
            id,
            op: Op::Transfer(mut t),
        }) = self.current.take()
        else {
            return;
        };
        match self.transfer_step(now, id, &mut t, input) {
            None => {
                self.current = Some(Current {
                    id,
                    op: Op::Transfer(t),
                })
            }
            Some((result, abort)) => {
                self.out.push_back(ClientOutput::Completed(id, result));
                if let (Some(a), Some(r)) = (t.abort_op, abort) {
                    self.out.push_back(ClientOutput::Completed(a, r));
                }
                self.start_next(now);
            }
        }
    }

    /// Routes a data-channel event to the transfer that owns the channel; events for
    /// channels already closed are dropped.
    pub(crate) fn data_event(
        &mut self,
        now: Instant,
        id: DataId,
        input: TInput,
    ) -> Result<(), super::ClientError> {
        self.check_data_id(id)?;
        if let Some(Current {
            op: Op::Transfer(t),
            ..
        }) = &self.current
        {
            if t.data == Some(id) {
                self.transfer_input(now, input);
            }
        }
        Ok(())
    }

    fn transfer_step(
        &mut self,
        now: Instant,
        op: OpId,
        t: &mut Transfer,
        input: TInput,
    ) -> Option<Finished> {
        match input {
            TInput::Start => {
                self.open_channel(now, t);
                None
            }
            TInput::Abort(a) => self.abort_transfer(now, t, a),
            TInput::Reply(r) => self.transfer_reply(now, op, t, r),
            TInput::Listening(addr) => {
                if !matches!(t.stage, Stage::Binding { .. }) {
                    return None;
                }
                let cmd = match canonical_ip(addr.ip()) {
                    IpAddr::V4(ip) => Command::Port(SocketAddrV4::new(ip, addr.port())),
                    IpAddr::V6(_) => Command::Eprt(addr),
                };
                self.send(now, &cmd);
                t.stage = Stage::Port;
                None
            }
            TInput::Connected => {
                if let Stage::Connecting { .. } = t.stage {
                    t.connected = true;
                    self.after_channel(now, t);
                }
                None
            }
            TInput::ConnectFailed => match t.stage {
                Stage::Connecting { .. } | Stage::Binding { .. } => self.channel_failed(now, t),
                _ => None,
            },
            TInput::Timeout => match &mut t.stage {
                Stage::Connecting { deadline, .. } | Stage::Binding { deadline }
                    if *deadline <= now =>
                {
                    self.channel_failed(now, t)
                }
                Stage::Aborting { settle, .. }
                    if settle.as_ref().is_some_and(|(d, _)| *d <= now) =>
                {
                    let (_, first) = settle.take()?;
                    Some((Err(OpError::Aborted), Some(abort_result(first))))
                }
                _ => None,
            },
            TInput::DataDone(bytes) => {
                if t.data_end == DataEnd::Pending && !matches!(t.stage, Stage::Aborting { .. }) {
                    t.data_end = DataEnd::Done(bytes);
                    self.rearm_reply_timer(now);
                }
                self.finish_if_done(t)
            }
            TInput::DataFailed(e) => {
                if t.data_end == DataEnd::Pending && !matches!(t.stage, Stage::Aborting { .. }) {
                    t.data_end = DataEnd::Failed(e);
                    self.rearm_reply_timer(now);
                }
                self.finish_if_done(t)
            }
        }
    }

    /// Opens the data channel the configured way.
    fn open_channel(&mut self, now: Instant, t: &mut Transfer) {
        match self.config.data_mode {
            DataMode::Active => {
                let id = self.next_data();
                t.data = Some(id);
                t.active = true;
                let deadline = now.checked_add(self.config.data_timeout).unwrap_or(now);
                t.stage = Stage::Binding { deadline };
                self.out
                    .push_back(ClientOutput::Data(DataIntent::Listen { id }));
            }
            DataMode::Passive if !self.epsv_broken => {
                self.send(now, &Command::Epsv(EpsvArg::Default));
                t.stage = Stage::Epsv;
            }
            _ => self.send_pasv(now, t),
        }
    }

    fn send_pasv(&mut self, now: Instant, t: &mut Transfer) {
        self.send(now, &Command::Pasv);
        t.stage = Stage::Pasv;
    }

    fn connect(&mut self, now: Instant, t: &mut Transfer, addr: SocketAddr, epsv: bool) {
        let id = self.next_data();
        t.data = Some(id);
        let deadline = now.checked_add(self.config.data_timeout).unwrap_or(now);
        t.stage = Stage::Connecting { deadline, epsv };
        let protection = self.protection();
        self.out.push_back(ClientOutput::Data(DataIntent::Connect {
            id,
            addr,
            protection,
        }));
    }

    /// The data connection is ready: REST if needed, then the transfer command.
    fn after_channel(&mut self, now: Instant, t: &mut Transfer) {
        let offset = t.kind.offset();
        if offset > 0 {
            self.send(now, &Command::Rest(offset));
            t.stage = Stage::Rest;
        } else {
            self.send(now, &t.kind.command());
            t.stage = Stage::Command;
        }
    }

    /// The connect or bind failed or timed out. After EPSV on IPv4, PASV is tried and EPSV is
    /// not used again on this session (curl test 1233).
    fn channel_failed(&mut self, now: Instant, t: &mut Transfer) -> Option<Finished> {
        self.close_data(t);
        let after_epsv = matches!(t.stage, Stage::Connecting { epsv: true, .. });
        if after_epsv && canonical_ip(self.peer.ip()).is_ipv4() {
            self.epsv_broken = true;
            self.send_pasv(now, t);
            return None;
        }
        Some((Err(OpError::DataConnection), None))
    }

    fn close_data(&mut self, t: &mut Transfer) {
        if let Some(id) = t.data.take() {
            let intent = if t.started {
                DataIntent::Abort { id }
            } else {
                DataIntent::Close { id }
            };
            self.out.push_back(ClientOutput::Data(intent));
        }
    }

    fn start_data(&mut self, op: OpId, t: &mut Transfer) {
        if t.started {
            return;
        }
        let Some(id) = t.data else { return };
        t.started = true;
        self.out.push_back(ClientOutput::Data(DataIntent::Transfer {
            id,
            op,
            direction: t.kind.direction(),
            listing: t.listing.is_some(),
        }));
    }

    fn finish_if_done(&mut self, t: &mut Transfer) -> Option<Finished> {
        let reply = t.final_reply.clone()?;
        let result = match t.data_end {
            DataEnd::Pending => return None,
            DataEnd::Failed(error) => Err(OpError::Transfer {
                error,
                reply: Some(reply),
            }),
            DataEnd::Done(bytes) => match (&t.kind, t.listing.take()) {
                (_, Some(listing)) => listing.finish(),
                (TransferKind::Stou, None) => Ok(Outcome::StoredUnique {
                    bytes,
                    name: t.stou_name.take(),
                }),
                _ => Ok(Outcome::Transferred {
                    bytes,
                    announced: t.announced,
                }),
            },
        };
        t.data = None;
        Some((result, None))
    }

    fn transfer_reply(
        &mut self,
        now: Instant,
        op: OpId,
        t: &mut Transfer,
        r: Reply,
    ) -> Option<Finished> {
        let code = r.code();
        if code.is_positive_preliminary() && !matches!(t.stage, Stage::Command) {
            return None;
        }
        if t.cancelled() {
            self.close_data(t);
            return Some((Err(OpError::Aborted), Some(Ok(Outcome::Aborted(None)))));
        }
        let positive = code.is_positive_completion();
        match &mut t.stage {
            Stage::Epsv => {
                if positive {
                    return match parse_epsv_reply(r.text()) {
                        Ok(port) => {
                            let addr = SocketAddr::new(self.peer.ip(), port);
                            self.connect(now, t, addr, true);
                            None
                        }
                        Err(error) => Some((Err(OpError::BadAddress { reply: r, error }), None)),
                    };
                }
                if code.is_negative() {
                    // EPSV not understood or refused: PASV, and never EPSV again here.
                    self.epsv_broken = true;
                    self.send_pasv(now, t);
                    return None;
                }
                Some((Err(OpError::UnexpectedReply(r)), None))
            }
            Stage::Pasv => {
                if !positive {
                    return Some((Err(reject_or_unexpected(r)), None));
                }
                let parsed =
                    parse_pasv_reply(r.last_line()).or_else(|_| parse_pasv_reply(r.text()));
                match parsed {
                    Ok(a) => {
                        let ip = if self.config.trust_pasv_address && !a.ip().is_unspecified() {
                            IpAddr::V4(*a.ip())
                        } else {
                            self.peer.ip()
                        };
                        self.connect(now, t, SocketAddr::new(ip, a.port()), false);
                        None
                    }
                    Err(error) => Some((Err(OpError::BadAddress { reply: r, error }), None)),
                }
            }
            Stage::Port => {
                if positive {
                    self.after_channel(now, t);
                    return None;
                }
                self.close_data(t);
                Some((Err(reject_or_unexpected(r)), None))
            }
            Stage::Rest => {
                if code.is_positive_intermediate() {
                    self.send(now, &t.kind.command());
                    t.stage = Stage::Command;
                    return None;
                }
                self.close_data(t);
                Some((Err(reject_or_unexpected(r)), None))
            }
            Stage::Command => {
                if code.is_positive_preliminary() {
                    if t.announced.is_none() {
                        t.announced = parse_size_hint(r.text());
                    }
                    if matches!(t.kind, TransferKind::Stou) && t.stou_name.is_none() {
                        t.stou_name = parse_stou_name(r.first_line()).ok();
                    }
                    self.start_data(op, t);
                    return None;
                }
                if positive {
                    // A server may skip the 150 (or send 150 and 226 together before any
                    // data): the transfer still waits for the end of data.
                    if matches!(t.kind, TransferKind::Stou) && t.stou_name.is_none() {
                        t.stou_name = r.lines().find_map(|l| parse_stou_name(l).ok());
                    }
                    self.start_data(op, t);
                    t.final_reply = Some(r);
                    t.stage = Stage::Finishing;
                    return self.finish_if_done(t);
                }
                self.close_data(t);
                let err = match t.data_end {
                    DataEnd::Failed(error) if code.is_negative() => OpError::Transfer {
                        error,
                        reply: Some(r),
                    },
                    _ => reject_or_unexpected(r),
                };
                Some((Err(err), None))
            }
            Stage::Aborting {
                transfer_reply,
                settle,
            } => {
                if code.is_positive_preliminary() {
                    return None;
                }
                if settle.is_some() || !*transfer_reply {
                    return Some((Err(OpError::Aborted), Some(abort_result(r))));
                }
                *transfer_reply = false;
                if positive {
                    // 226 alone ends both, unless the transfer had finished and the ABOR
                    // reply (225/226) is on its way: give it a moment.
                    let until = now.checked_add(self.config.abort_settle).unwrap_or(now);
                    *settle = Some((until, r));
                }
                None
            }
            Stage::Queued | Stage::Connecting { .. } | Stage::Binding { .. } | Stage::Finishing => {
                None
            }
        }
    }

    fn abort_transfer(&mut self, now: Instant, t: &mut Transfer, a: OpId) -> Option<Finished> {
        if t.abort_op.is_some() {
            // Already aborting: this abort has nothing left to do.
            self.out
                .push_back(ClientOutput::Completed(a, Ok(Outcome::Aborted(None))));
            return None;
        }
        t.abort_op = Some(a);
        match t.stage {
            // A setup command is out: drop the transfer when its reply comes.
            Stage::Epsv | Stage::Pasv | Stage::Port | Stage::Rest => None,
            Stage::Command => {
                self.send(now, &Command::Abor);
                if let Some(id) = t.data.take() {
                    self.out
                        .push_back(ClientOutput::Data(DataIntent::Abort { id }));
                }
                t.stage = Stage::Aborting {
                    transfer_reply: true,
                    settle: None,
                };
                None
            }
            Stage::Queued
            | Stage::Connecting { .. }
            | Stage::Binding { .. }
            | Stage::Finishing
            | Stage::Aborting { .. } => {
                self.close_data(t);
                Some((Err(OpError::Aborted), Some(Ok(Outcome::Aborted(None)))))
            }
        }
    }
}

fn reject_or_unexpected(r: Reply) -> OpError {
    if r.code().is_negative() {
        OpError::Rejected(r)
    } else {
        OpError::UnexpectedReply(r)
    }
}

fn abort_result(r: Reply) -> OpResult {
    if r.code().is_negative() {
        Err(OpError::Rejected(r))
    } else {
        Ok(Outcome::Aborted(Some(r)))
    }
}
