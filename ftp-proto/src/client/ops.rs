//! The operations an application queues, and the single-command ones' replies.

use std::time::Instant;

use bytes::{Bytes, BytesMut};

use crate::command::{Alias, Command};
use crate::listing::parse_mlst_line;
use crate::reply::{parse_257, parse_mdtm, parse_size, parse_size_lenient, Reply, ReplyError};
use crate::time::Timestamp;

use super::listing::ListKind;
use super::session::{ClientSession, Current, Op};
use super::transfer::{TInput, TransferKind};
use super::types::*;
use super::ClientError;

/// A command whose one final reply completes the operation.
#[derive(Debug)]
pub(crate) enum Simple {
    Cwd,
    Cdup,
    Pwd,
    Mkd,
    Rmd,
    Dele,
    /// RNFR then RNTO; `Some(to)` while RNFR is out.
    Rename(Option<Bytes>),
    Size,
    Mdtm,
    Mfmt,
    Site,
    Stat,
    Noop,
    Raw,
    Mlst,
    /// ABOR with no transfer of ours in progress.
    Abor,
    Quit,
}

impl ClientSession {
    /// CWD: change the directory. Success is any 2xx (servers answer 200 or 250).
    pub fn cwd(&mut self, now: Instant, path: impl Into<Bytes>) -> Result<OpId, ClientError> {
        let path = path.into();
        self.simple(
            now,
            Simple::Cwd,
            Command::Cwd {
                path,
                alias: Alias::Standard,
            },
        )
    }

    /// CDUP: change to the parent directory.
    pub fn cdup(&mut self, now: Instant) -> Result<OpId, ClientError> {
        self.simple(
            now,
            Simple::Cdup,
            Command::Cdup {
                alias: Alias::Standard,
            },
        )
    }

    /// PWD: completes with [`Outcome::Path`], read from the 257 reply (`""` unescaped; an
    /// unterminated or control-byte path is [`OpError::BadReply`]).
    pub fn pwd(&mut self, now: Instant) -> Result<OpId, ClientError> {
        self.simple(
            now,
            Simple::Pwd,
            Command::Pwd {
                alias: Alias::Standard,
            },
        )
    }

    /// MKD: completes with [`Outcome::Created`].
    pub fn mkdir(&mut self, now: Instant, path: impl Into<Bytes>) -> Result<OpId, ClientError> {
        let path = path.into();
        self.simple(
            now,
            Simple::Mkd,
            Command::Mkd {
                path,
                alias: Alias::Standard,
            },
        )
    }

    /// RMD: remove a directory.
    pub fn rmdir(&mut self, now: Instant, path: impl Into<Bytes>) -> Result<OpId, ClientError> {
        let path = path.into();
        self.simple(
            now,
            Simple::Rmd,
            Command::Rmd {
                path,
                alias: Alias::Standard,
            },
        )
    }

    /// DELE: delete a file.
    pub fn delete(&mut self, now: Instant, path: impl Into<Bytes>) -> Result<OpId, ClientError> {
        self.simple(now, Simple::Dele, Command::Dele(path.into()))
    }

    /// RNFR then RNTO: rename `from` to `to`.
    pub fn rename(
        &mut self,
        now: Instant,
        from: impl Into<Bytes>,
        to: impl Into<Bytes>,
    ) -> Result<OpId, ClientError> {
        let to = to.into();
        validate(&Command::Rnto(to.clone()))?;
        self.simple(now, Simple::Rename(Some(to)), Command::Rnfr(from.into()))
    }

    /// SIZE: completes with [`Outcome::Size`] (in bytes under TYPE I).
    pub fn size(&mut self, now: Instant, path: impl Into<Bytes>) -> Result<OpId, ClientError> {
        self.simple(now, Simple::Size, Command::Size(path.into()))
    }

    /// MDTM: completes with [`Outcome::Modified`].
    pub fn mdtm(&mut self, now: Instant, path: impl Into<Bytes>) -> Result<OpId, ClientError> {
        self.simple(now, Simple::Mdtm, Command::Mdtm(path.into()))
    }

    /// MFMT: set the modification time of `path`.
    pub fn mfmt(
        &mut self,
        now: Instant,
        path: impl Into<Bytes>,
        time: Timestamp,
    ) -> Result<OpId, ClientError> {
        let path = path.into();
        self.simple(now, Simple::Mfmt, Command::Mfmt { time, path })
    }

    /// SITE with this argument (e.g. `CHMOD 644 file`).
    pub fn site(&mut self, now: Instant, arg: impl Into<Bytes>) -> Result<OpId, ClientError> {
        self.simple(now, Simple::Site, Command::Site(arg.into()))
    }

    /// STAT, of the server or of a path; completes with [`Outcome::Done`] holding the reply.
    pub fn stat(&mut self, now: Instant, path: Option<Bytes>) -> Result<OpId, ClientError> {
        self.simple(now, Simple::Stat, Command::Stat(path))
    }

    /// NOOP.
    pub fn noop(&mut self, now: Instant) -> Result<OpId, ClientError> {
        self.simple(now, Simple::Noop, Command::Noop)
    }

    /// Any command that neither moves data nor changes login, TLS or transfer state (those
    /// are refused with [`ClientError::NotRaw`]). Completes with the final reply: any 2xx or
    /// 3xx as [`Outcome::Done`], 4xx/5xx as [`OpError::Rejected`].
    pub fn raw(&mut self, now: Instant, command: Command) -> Result<OpId, ClientError> {
        use Command::*;
        if matches!(
            command,
            User(_)
                | Pass(_)
                | Acct(_)
                | Rein
                | Quit
                | Port(_)
                | Pasv
                | Retr(_)
                | Stor(_)
                | Stou(_)
                | Appe(_)
                | Rest(_)
                | Rnfr(_)
                | Abor
                | List(_)
                | Nlst(_)
                | Auth(_)
                | Pbsz(_)
                | Prot(_)
                | Ccc
                | Eprt(_)
                | Epsv(_)
                | Mlsd(_)
                | Lprt(_)
                | Lpsv
                | Type(_)
                | Mode(_)
                | Stru(_)
                | Adat(_)
                | Mic(_)
                | Conf(_)
                | Enc(_)
                | Rang { .. }
        ) {
            return Err(ClientError::NotRaw(command.verb().to_owned()));
        }
        self.simple(now, Simple::Raw, command)
    }

    /// MLST: completes with [`Outcome::Entry`].
    pub fn mlst(&mut self, now: Instant, path: Option<Bytes>) -> Result<OpId, ClientError> {
        self.simple(now, Simple::Mlst, Command::Mlst(path))
    }

    /// LIST: completes with [`Outcome::Listing`]. `wall_clock` dates the Unix lines that show
    /// a time of day instead of a year (the core reads no clock); `None` leaves them undated.
    pub fn list(
        &mut self,
        now: Instant,
        path: Option<Bytes>,
        wall_clock: Option<Timestamp>,
    ) -> Result<OpId, ClientError> {
        self.transfer(now, TransferKind::List(path, ListKind::List(wall_clock)))
    }

    /// NLST: completes with [`Outcome::Names`].
    pub fn nlst(&mut self, now: Instant, path: Option<Bytes>) -> Result<OpId, ClientError> {
        self.transfer(now, TransferKind::List(path, ListKind::Names))
    }

    /// MLSD: completes with [`Outcome::Listing`].
    pub fn mlsd(&mut self, now: Instant, path: Option<Bytes>) -> Result<OpId, ClientError> {
        self.transfer(now, TransferKind::List(path, ListKind::Mlsd))
    }

    /// RETR from byte `offset` (REST is sent first when it is not 0): the adapter writes the
    /// bytes to its file for this [`OpId`]. Completes with [`Outcome::Transferred`].
    pub fn retr(
        &mut self,
        now: Instant,
        path: impl Into<Bytes>,
        offset: u64,
    ) -> Result<OpId, ClientError> {
        self.transfer(now, TransferKind::Retr(path.into(), offset))
    }

    /// STOR from byte `offset` of the adapter's file (REST is sent first when it is not 0, and
    /// the server keeps the first `offset` bytes). Completes with [`Outcome::Transferred`].
    pub fn stor(
        &mut self,
        now: Instant,
        path: impl Into<Bytes>,
        offset: u64,
    ) -> Result<OpId, ClientError> {
        self.transfer(now, TransferKind::Stor(path.into(), offset))
    }

    /// APPE: append the adapter's file to `path`.
    pub fn appe(&mut self, now: Instant, path: impl Into<Bytes>) -> Result<OpId, ClientError> {
        self.transfer(now, TransferKind::Appe(path.into()))
    }

    /// STOU: store under a name the server chooses; completes with
    /// [`Outcome::StoredUnique`].
    pub fn stou(&mut self, now: Instant) -> Result<OpId, ClientError> {
        self.transfer(now, TransferKind::Stou)
    }

    /// Stops the transfer in progress: ABOR goes out at once (in-band, never as TCP urgent
    /// data, which TLS cannot carry), the data connection is aborted, the transfer completes
    /// with [`OpError::Aborted`] and this operation with [`Outcome::Aborted`] once the server
    /// has answered (426 then 226, 226 alone, or 225). A transfer still setting up its data
    /// connection is dropped without ABOR. With no transfer in progress, ABOR is queued like
    /// any command.
    pub fn abort(&mut self, now: Instant) -> Result<OpId, ClientError> {
        if self.closed {
            return Err(ClientError::Closed);
        }
        if matches!(
            self.current,
            Some(Current {
                op: Op::Transfer(_),
                ..
            })
        ) {
            let id = self.next_op();
            self.transfer_input(now, TInput::Abort(id));
            return Ok(id);
        }
        self.simple(now, Simple::Abor, Command::Abor)
    }

    /// QUIT, after every operation queued before it; no operation may be queued after (only
    /// [`abort`](Self::abort) of the transfer in progress). The session closes on the reply.
    pub fn quit(&mut self, now: Instant) -> Result<OpId, ClientError> {
        let id = self.simple(now, Simple::Quit, Command::Quit)?;
        self.quitting = true;
        Ok(id)
    }

    pub(crate) fn simple_reply(&mut self, now: Instant, reply: Reply) {
        let code = reply.code();
        if code.is_positive_preliminary() {
            return;
        }
        let Some(Current {
            op: Op::Simple(kind, _),
            ..
        }) = self.current.as_mut()
        else {
            return;
        };
        if let Simple::Rename(to) = kind {
            if let Some(to) = to.take() {
                if code.is_positive_intermediate() {
                    let cmd = Command::Rnto(to);
                    self.send(now, &cmd);
                    return;
                }
                let err = if code.is_negative() {
                    OpError::Rejected(reply)
                } else {
                    OpError::UnexpectedReply(reply)
                };
                return self.complete(now, Err(err));
            }
        }
        let is_quit = matches!(kind, Simple::Quit);
        let result = if code.is_negative() {
            Err(OpError::Rejected(reply))
        } else if code.is_positive_intermediate() {
            match kind {
                Simple::Raw => Ok(Outcome::Done(reply)),
                _ => Err(OpError::UnexpectedReply(reply)),
            }
        } else {
            simple_success(kind, reply)
        };
        self.complete(now, result);
        if is_quit {
            self.close_quietly();
        }
    }
}

/// Reads the result of a single-command operation out of its 2xx reply.
fn simple_success(kind: &Simple, reply: Reply) -> Result<Outcome, OpError> {
    let bad = |reply: Reply, error: ReplyError| Err(OpError::BadReply { reply, error });
    match kind {
        Simple::Pwd => match parse_257(reply.text()) {
            Ok(p) => Ok(Outcome::Path(p)),
            Err(e) => bad(reply, e),
        },
        Simple::Mkd => Ok(Outcome::Created(parse_257(reply.text()).ok())),
        Simple::Size => {
            match parse_size(reply.last_line()).or_else(|_| parse_size_lenient(reply.last_line())) {
                Ok(n) => Ok(Outcome::Size(n)),
                Err(e) => bad(reply, e),
            }
        }
        Simple::Mdtm => match parse_mdtm(reply.last_line()) {
            Ok(t) => Ok(Outcome::Modified(t)),
            Err(e) => bad(reply, e),
        },
        Simple::Mlst => {
            // The entry is the middle line that starts with a space (RFC 3659 §7.2).
            let count = reply.line_count();
            let entry = reply
                .lines()
                .skip(1)
                .take(count.saturating_sub(2))
                .find(|l| l.starts_with(b" "))
                .map(parse_mlst_line);
            match entry {
                Some(Ok(e)) => Ok(Outcome::Entry(Box::new(e))),
                _ => bad(reply, ReplyError::Syntax),
            }
        }
        Simple::Abor => Ok(Outcome::Aborted(Some(reply))),
        _ => Ok(Outcome::Done(reply)),
    }
}

/// Checks that a command can be sent (no CR/LF/NUL injection, required arguments present).
pub(crate) fn validate(cmd: &Command) -> Result<(), ClientError> {
    cmd.encode(&mut BytesMut::new())
        .map_err(ClientError::InvalidArgument)
}
