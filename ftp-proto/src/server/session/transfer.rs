//! The data channel and the answers: PASV/EPSV/PORT/EPRT set-up, opening transfers, and turning
//! the application's answers and the adapter's data events into replies.

use super::*;

impl ServerSession {
    pub(super) fn active(&mut self, addr: SocketAddr, extended: bool) {
        if self.epsv_all {
            return self.reply(503, b"EPSV ALL in effect: use EPSV.");
        }
        if !self.config.active_enabled {
            return self.reply(502, b"Active mode is disabled; use PASV or EPSV.");
        }
        let target = canonical_ip(addr.ip());
        let client = canonical_ip(self.peer.ip());
        if extended && target.is_ipv4() != client.is_ipv4() {
            let text: &[u8] = if client.is_ipv4() {
                b"Network protocol not supported, use (1)"
            } else {
                b"Network protocol not supported, use (2)"
            };
            return self.reply(522, text);
        }
        // lftp sends `EPRT |2|::|port|` in active IPv6 mode: the unspecified address means
        // "the address I am talking to you from".
        let target = if target.is_unspecified() {
            client
        } else {
            target
        };
        if !self.config.allow_foreign_active && target != client {
            self.notice(Notice::ActiveRefused {
                target: addr,
                reason: ActiveRefusal::ForeignAddress,
            });
            return self.reply(501, b"Rejected data connection to a foreign address.");
        }
        if !self.config.allow_privileged_active_ports && addr.port() < 1024 {
            self.notice(Notice::ActiveRefused {
                target: addr,
                reason: ActiveRefusal::PrivilegedPort,
            });
            return self.reply(501, b"Rejected data connection to a privileged port.");
        }
        self.replace_data(Channel::Active(SocketAddr::new(target, addr.port())));
        self.reply(200, b"Data connection address set.");
    }

    pub(super) fn replace_data(&mut self, channel: Channel) -> DataId {
        if let Some(old) = self.data.take() {
            self.push_out(ServerOutput::Data(DataIntent::Close { id: old.id }));
        }
        let id = self.next_data();
        self.data = Some(Data { id, channel });
        id
    }

    pub(super) fn passive(&mut self, form: PassiveForm) {
        if self.epsv_all && form != PassiveForm::Epsv {
            return self.reply(503, b"EPSV ALL in effect: use EPSV.");
        }
        if form == PassiveForm::Pasv {
            let ip = self.advertised_ip();
            if !ip.is_ipv4() {
                return self.reply(425, b"Can't use PASV on an IPv6 connection; use EPSV.");
            }
        }
        let id = self.replace_data(Channel::Binding);
        let ip = self.local.ip();
        let ports = self.config.passive_ports.clone();
        let rid = self.next_request();
        self.pending = Some((rid, Pending::Listen(form)));
        self.push_out(ServerOutput::Data(DataIntent::Listen { id, ip, ports }));
    }

    pub(super) fn advertised_ip(&self) -> IpAddr {
        let local = canonical_ip(self.local.ip());
        canonical_ip(
            self.config
                .passive_address
                .advertise(canonical_ip(self.peer.ip()), local),
        )
    }

    pub(super) fn on_listening(
        &mut self,
        now: Instant,
        id: DataId,
        addr: SocketAddr,
    ) -> Result<(), SessionError> {
        match &mut self.data {
            Some(d) if d.id == id && matches!(d.channel, Channel::Binding) => {
                d.channel = Channel::Listening
            }
            _ => return Err(SessionError::UnknownData(id)),
        }
        let _ = now;
        let form = match self.pending {
            Some((_, Pending::Listen(form))) => form,
            _ => return Err(SessionError::UnexpectedEvent("Listening")),
        };
        self.pending = None;
        let port = addr.port();
        let mut text = BytesMut::new();
        match form {
            PassiveForm::Pasv => {
                let IpAddr::V4(ip) = self.advertised_ip() else {
                    self.reply(425, b"Can't use PASV on an IPv6 connection; use EPSV.");
                    return Ok(());
                };
                addr::encode_pasv_reply(&SocketAddrV4::new(ip, port), &mut text);
                self.reply(227, &text);
            }
            PassiveForm::Epsv => {
                addr::encode_epsv_reply(port, &mut text);
                self.reply(229, &text);
            }
            PassiveForm::Lpsv => {
                addr::encode_lpsv_reply(&SocketAddr::new(self.advertised_ip(), port), &mut text);
                self.reply(228, &text);
            }
        }
        Ok(())
    }

    /// Checks the preconditions every data command shares; replies and returns false if one
    /// fails.
    pub(super) fn data_ready_check(&mut self) -> bool {
        if self
            .data
            .as_ref()
            .is_none_or(|d| matches!(d.channel, Channel::Binding))
        {
            self.reply(425, b"Use PORT, EPRT, PASV or EPSV first.");
            return false;
        }
        if self.config.require_data_tls && !self.tls.private {
            self.reply(521, b"Data connections must be protected: use PROT P.");
            return false;
        }
        true
    }

    pub(super) fn data_command_path(&mut self, path: &[u8], new: bool) -> Option<VirtualPath> {
        let p = if new {
            self.resolve_new(path)?
        } else {
            self.resolve(path)?
        };
        self.data_ready_check().then_some(p)
    }

    pub(super) fn listing(&mut self, arg: Option<Bytes>, format: ListFormat) {
        if !self.permitted(Permissions::LIST) {
            return;
        }
        let path = match &arg {
            Some(a) => {
                let (_, path) = if matches!(format, ListFormat::Mlsd(_)) {
                    (None, Some(a.clone()))
                } else {
                    split_list_arg(a)
                };
                match path {
                    Some(p) => self.resolve(&p),
                    None => Some(self.cwd.clone()),
                }
            }
            None => Some(self.cwd.clone()),
        };
        let Some(path) = path else { return };
        if !self.data_ready_check() {
            return;
        }
        let named = arg.is_some();
        let mlsd = matches!(format, ListFormat::Mlsd(_));
        let next = StorageRequest::OpenList {
            path: path.clone(),
            format,
        };
        if mlsd && named {
            // A storage may list a file as its own entry (LIST does); MLSD must not, so the
            // session checks the path itself rather than rely on the storage to refuse it.
            self.storage(
                Pending::Vet {
                    check: Vet::Directory,
                    next,
                },
                StorageRequest::Stat { path },
            );
        } else {
            self.open(Direction::Send, false, true, next);
        }
    }

    pub(super) fn open(
        &mut self,
        direction: Direction,
        unique: bool,
        listing: bool,
        request: StorageRequest,
    ) {
        self.storage(
            Pending::Open {
                direction,
                unique,
                listing,
            },
            request,
        );
    }

    pub(super) fn on_answer(
        &mut self,
        now: Instant,
        id: RequestId,
        answer: Answer,
    ) -> Result<(), SessionError> {
        let pending = match self.pending.take() {
            Some((pid, p))
                if pid == id && !matches!(p, Pending::LoginDelay { .. } | Pending::Listen(_)) =>
            {
                p
            }
            other => {
                self.pending = other;
                return Err(SessionError::UnknownRequest(id));
            }
        };
        if let Answer::Failed(f) = &answer {
            self.answer_failed(now, pending, f);
            return Ok(());
        }
        match (pending, answer) {
            (Pending::Login, answer @ (Answer::LoggedIn { .. } | Answer::LoggedInWith(_))) => {
                self.logged_in = true;
                self.login_deadline = None;
                self.permissions = match answer {
                    Answer::LoggedInWith(p) => p,
                    Answer::LoggedIn { read_only: true } => Permissions::READ_ONLY,
                    _ => Permissions::ALL,
                };
                self.failed_logins = 0;
                self.reply(230, b"Login successful.");
            }
            (Pending::Cwd(p), Answer::Metadata(e)) => {
                if e.kind.is_dir() {
                    self.cwd = p;
                    self.reply(250, b"Directory successfully changed.");
                } else {
                    self.reply(550, b"Not a directory.");
                }
            }
            (Pending::Mkd(p), Answer::Done) => {
                let text = quote_path(p.as_bytes(), b" created.");
                self.reply(257, &text);
            }
            (Pending::Simple { code, text }, Answer::Done) => self.reply(code, text.as_bytes()),
            (Pending::Mfmt { path, time }, Answer::Done) => {
                let mut text = format!("Modify={}; ", time.time_val()).into_bytes();
                text.extend_from_slice(path.as_bytes());
                self.reply(213, &text);
            }
            (Pending::Size, Answer::Metadata(e)) => match (e.kind.is_dir(), e.size) {
                (false, Some(size)) => self.reply(213, size.to_string().as_bytes()),
                _ => self.reply(550, b"Could not get file size."),
            },
            (Pending::Mdtm, Answer::Metadata(e)) => match (e.kind.is_dir(), e.modified) {
                (false, Some(t)) => self.reply(213, t.time_val().to_string().as_bytes()),
                _ => self.reply(550, b"Could not get file modification time."),
            },
            (Pending::Mlst(p), Answer::Metadata(mut e)) => {
                e.name = Bytes::copy_from_slice(p.as_bytes());
                let mut text = BytesMut::from(&b"Listing:\n"[..]);
                if listing::format_mlst_line(&e, self.mlst_facts, &mut text).is_err() {
                    self.reply(550, b"Can't list that name.");
                    return Ok(());
                }
                // format_mlst_line ends its line with CRLF; the reply encoder adds its own.
                while text.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
                    text.truncate(text.len() - 1);
                }
                text.put_slice(b"\nEnd.");
                self.reply(250, &text);
            }
            (Pending::Rnfr(p), Answer::Metadata(_)) => {
                self.rename_from = Some(p);
                self.reply(350, b"Ready for RNTO.");
            }
            (
                Pending::StatPath,
                Answer::Entries {
                    entries,
                    now: now_wall,
                },
            ) => {
                let mut text = BytesMut::from(&b"Status follows:\n"[..]);
                for e in &entries {
                    if listing::format_list_line(e, now_wall, &mut text).is_ok() {
                        while text.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
                            text.truncate(text.len() - 1);
                        }
                        text.put_u8(b'\n');
                    }
                    if text.len() > self.config.max_queued_output / 2 {
                        break;
                    }
                }
                text.put_slice(b"End of status.");
                self.reply(213, &text);
            }
            (Pending::Vet { check, next }, Answer::Metadata(e)) => match check {
                Vet::Directory if !e.kind.is_dir() => self.listing_not_a_directory(),
                Vet::RestWithin(offset)
                    if !e.kind.is_dir() && e.size.is_some_and(|size| offset > size) =>
                {
                    self.reply(554, b"Restart offset beyond the end of the file.");
                }
                // A directory for RETR, or a file of unknown size: the open gives the answer.
                _ => self.open(Direction::Send, false, check == Vet::Directory, next),
            },
            (
                Pending::Open {
                    direction,
                    unique,
                    listing,
                },
                Answer::Opened { size },
            ) => {
                self.start_transfer(now, id, direction, listing, size, None);
                let _ = unique;
            }
            (
                Pending::Open {
                    direction,
                    unique: true,
                    listing,
                },
                Answer::OpenedUnique { path },
            ) => {
                self.start_transfer(now, id, direction, listing, None, Some(path));
            }
            (p, a) => {
                // An answer of the wrong shape is the application's bug; the client still gets
                // exactly one reply, and the caller learns through the error.
                self.reply(451, b"Local error in processing.");
                let _ = (p, a);
                return Err(SessionError::WrongAnswer(id));
            }
        }
        Ok(())
    }

    pub(super) fn answer_failed(&mut self, now: Instant, pending: Pending, failure: &Failure) {
        if let Pending::Login = pending {
            return self.login_failed(now);
        }
        let listing = matches!(
            pending,
            Pending::Open { listing: true, .. }
                | Pending::Vet {
                    check: Vet::Directory,
                    ..
                }
        );
        if listing && *failure == Failure::NotADirectory {
            return self.listing_not_a_directory();
        }
        let (code, text): (u16, &[u8]) = match failure {
            Failure::NotFound => (550, b"No such file or directory."),
            Failure::PermissionDenied | Failure::LoginRefused => (550, b"Permission denied."),
            Failure::AlreadyExists => (550, b"File exists."),
            Failure::NotADirectory => (550, b"Not a directory."),
            Failure::IsADirectory => (550, b"Is a directory."),
            Failure::NotEmpty => (550, b"Directory not empty."),
            Failure::InvalidName => (553, b"File name not allowed."),
            Failure::NoSpace => (452, b"Insufficient storage space."),
            Failure::Transient => (450, b"Requested action not taken; try again."),
            Failure::Unsupported => (502, b"Command not implemented for this storage."),
            Failure::Other(text) => {
                let text = text.clone();
                return self.reply(550, text.as_bytes());
            }
        };
        self.reply(code, text);
    }

    /// A listing of something that is not a directory: 501 (RFC 3659 §7.2.1), and the
    /// channel set up for it is closed. No transfer will use it, and a passive connection the
    /// client may have made already must not be left for a later command.
    pub(super) fn listing_not_a_directory(&mut self) {
        if let Some(d) = self.data.take() {
            self.push_out(ServerOutput::Data(DataIntent::Close { id: d.id }));
        }
        self.reply(501, b"Not a directory.");
    }

    pub(super) fn start_transfer(
        &mut self,
        now: Instant,
        source: RequestId,
        direction: Direction,
        listing: bool,
        size: Option<u64>,
        unique: Option<VirtualPath>,
    ) {
        let Some(data) = self.data.as_mut() else {
            // The channel vanished while the storage request was out (its listener or
            // connection failed): the handle just opened has no transfer to go to.
            self.push_out(ServerOutput::Release(source));
            return self.reply(425, b"No data connection.");
        };
        let id = data.id;
        // Listings go out as formatted: MLSD is TYPE L 8 by RFC 3659, and LIST lines already
        // end in CRLF.
        let ascii = self.ascii && !listing;
        let ready = match &data.channel {
            Channel::Ready { tls_resumed } => Some(*tls_resumed),
            _ => None,
        };
        let connect_to = match &data.channel {
            Channel::Active(addr) => Some(*addr),
            _ => None,
        };
        let mode = if ascii { "ASCII" } else { "BINARY" };
        let mut text = match &unique {
            Some(p) => {
                let mut t = b"FILE: ".to_vec();
                t.extend_from_slice(p.file_name().unwrap_or_default());
                t
            }
            None => format!("Opening {mode} mode data connection").into_bytes(),
        };
        // RFC 1123 §4.1.2.9: after `FILE: ` the name runs to the end of the line, so nothing
        // may follow it.
        if unique.is_none() {
            if let Some(size) = size {
                text.extend_from_slice(format!(" ({size} bytes)").as_bytes());
            }
            text.push(b'.');
        }
        let deadline = now.checked_add(self.config.data_timeout);
        self.transfer = Some(Transfer {
            data: id,
            source,
            direction,
            ascii,
            stage: Stage::Connecting { deadline },
            tls: false,
        });
        if let Some(tls_resumed) = ready {
            self.reply(125, &text);
            self.begin_streaming(now, id, tls_resumed);
        } else {
            self.reply(150, &text);
            if let Some(addr) = connect_to {
                let tls = self.tls.private;
                self.push_out(ServerOutput::Data(DataIntent::Connect { id, addr, tls }));
            }
        }
    }

    pub(super) fn on_data_ready(
        &mut self,
        now: Instant,
        id: DataId,
        tls_resumed: Option<bool>,
    ) -> Result<(), SessionError> {
        self.expect_data(id)?;
        let _ = now;
        match &self.transfer {
            Some(t) if t.data == id && matches!(t.stage, Stage::Connecting { .. }) => {
                self.begin_streaming(now, id, tls_resumed);
            }
            Some(_) => return Err(SessionError::UnexpectedEvent("DataReady")),
            None => {
                if let Some(d) = self.data.as_mut() {
                    d.channel = Channel::Ready { tls_resumed };
                }
            }
        }
        Ok(())
    }

    pub(super) fn begin_streaming(&mut self, now: Instant, id: DataId, tls_resumed: Option<bool>) {
        if self.tls.private && self.config.require_tls_session_reuse && tls_resumed != Some(true) {
            self.data = None;
            self.push_out(ServerOutput::Data(DataIntent::Close { id }));
            self.end_transfer_early();
            self.reply(
                522,
                b"TLS session of data connection not resumed; session reuse required.",
            );
            // The transfer is over: a QUIT or shutdown waiting for it goes ahead now.
            return self.after_transfer(now);
        }
        let Some(t) = self.transfer.as_mut() else {
            return;
        };
        t.stage = Stage::Running {
            deadline: now.checked_add(self.config.data_timeout),
            moved: 0,
        };
        // Either sign of TLS counts: taking a TLS upload for a plain one would accept a cut
        // stream, the other way round only refuses an event the adapter should not send.
        t.tls = self.tls.private || tls_resumed.is_some();
        let (source, direction, ascii) = (t.source, t.direction, t.ascii);
        self.push_out(ServerOutput::Data(DataIntent::Transfer {
            id,
            source,
            direction,
            ascii,
        }));
    }
}
