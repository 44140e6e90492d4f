//! Serving each command: the big match from a decoded [`Command`] to a reply or a request.

use super::*;

impl ServerSession {
    pub(super) fn serve(&mut self, now: Instant, cmd: Command) {
        match cmd {
            Command::User(user) => {
                if self.tls_required_but_missing() {
                    return self.refuse_login(user, LoginRefusal::TlsRequired, b"TLS required: use AUTH TLS first.");
                }
                if self.logged_in {
                    // USER restarts the login, as RFC 959 allows.
                    self.reset_login();
                }
                self.user = Some(user);
                self.reply(331, b"Password required.");
            }
            Command::Pass(pass) => {
                if self.logged_in {
                    return self.reply(503, b"Already logged in.");
                }
                let Some(user) = self.user.clone() else {
                    return self.reply(503, b"Login with USER first.");
                };
                if self.tls_required_but_missing() {
                    return self.refuse_login(user, LoginRefusal::TlsRequired, b"TLS required: use AUTH TLS first.");
                }
                let anonymous = is_anonymous_user(&user);
                if anonymous && !self.config.anonymous {
                    self.notice(Notice::LoginRefused { user, reason: LoginRefusal::AnonymousDisabled });
                    return self.login_failed(now);
                }
                let request = Request::Login { user, anonymous, pass, account: self.account.clone(), host: self.host.clone() };
                self.request(Pending::Login, request);
            }
            Command::Acct(acct) => {
                if self.logged_in {
                    return self.reply(202, b"ACCT not needed.");
                }
                self.account = Some(acct);
                self.reply(202, b"Account noted.");
            }
            Command::Host(host) => {
                if self.logged_in || self.user.is_some() {
                    return self.reply(503, b"HOST must come before USER.");
                }
                self.host = Some(host);
                self.reply(220, b"Host accepted.");
            }
            Command::Rein => {
                // RFC 959: every parameter back to its default, except an established TLS
                // control connection (RFC 4217 has no way to undo it but CCC).
                self.reset_login();
                self.host = None;
                self.epsv_all = false;
                self.tls.pbsz = false;
                self.tls.private = false;
                if let Some(d) = self.data.take() {
                    self.push_out(ServerOutput::Data(DataIntent::Close { id: d.id }));
                }
                self.reply(220, b"Service ready for new user.");
            }
            Command::Quit => {
                self.reply(221, b"Goodbye.");
                self.close();
            }
            Command::Noop => self.reply(200, b"NOOP ok."),
            Command::Syst => {
                let text = self.config.system.clone();
                self.reply(215, text.as_bytes());
            }
            Command::Feat => {
                let feat = self.feat_text();
                self.reply(211, &feat);
            }
            Command::Help(_) => self.reply(
                214,
                b"The following commands are recognized:\n ABOR ACCT ALLO APPE AUTH CCC CDUP CWD DELE EPRT EPSV FEAT HELP HOST LANG LIST LPRT LPSV MDTM MFMT MKD MLSD MLST MODE NLST NOOP OPTS PASS PASV PBSZ PORT PROT PWD QUIT REIN REST RETR RMD RNFR RNTO SITE SIZE STAT STOR STOU STRU SYST TYPE USER XCUP XCWD XMKD XPWD XRMD\nHelp OK.",
            ),
            Command::Clnt(_) => self.reply(200, b"Noted."),
            Command::Lang(tag) => match tag {
                None => self.reply(200, b"Using EN."),
                Some(t) if t.eq_ignore_ascii_case(b"EN") || t.len() > 3 && t[..3].eq_ignore_ascii_case(b"EN-") => {
                    self.reply(200, b"Using EN.")
                }
                Some(_) => self.reply(504, b"Language not supported."),
            },
            Command::Opts { name, options } => self.opts(&name, options.as_deref()),
            Command::Auth(mech) => self.auth(&mech),
            Command::Pbsz(_) => {
                if !self.tls.control || self.tls.cleared {
                    return self.reply(503, b"PBSZ needs a secure control connection.");
                }
                self.tls.pbsz = true;
                self.reply(200, b"PBSZ=0");
            }
            Command::Prot(level) => {
                if !self.tls.control || self.tls.cleared {
                    return self.reply(503, b"PROT needs a secure control connection.");
                }
                if !self.tls.pbsz {
                    return self.reply(503, b"PBSZ first.");
                }
                match level {
                    ProtLevel::Private => {
                        self.tls.private = true;
                        self.reply(200, b"Protection level set to Private.");
                    }
                    ProtLevel::Clear => {
                        self.tls.private = false;
                        self.reply(200, b"Protection level set to Clear.");
                    }
                    _ => self.reply(536, b"Protection level not supported."),
                }
            }
            Command::Ccc => {
                if !self.tls.control {
                    return self.reply(533, b"Control connection is not protected.");
                }
                self.reply(200, b"Control connection cleared.");
                self.tls.control = false;
                self.tls.cleared = true;
                self.push_out(ServerOutput::StopTls);
            }
            Command::Adat(_) | Command::Mic(_) | Command::Conf(_) | Command::Enc(_) => {
                self.reply(502, b"Command not implemented.")
            }
            Command::Pwd { .. } => {
                let text = quote_path(self.cwd.as_bytes(), b" is the current directory.");
                self.reply(257, &text);
            }
            Command::Cwd { path, .. } => {
                if let Some(p) = self.resolve(&path) {
                    self.storage(Pending::Cwd(p.clone()), StorageRequest::Stat { path: p });
                }
            }
            Command::Cdup { .. } => {
                let p = self.cwd.parent().unwrap_or_else(VirtualPath::root);
                self.storage(Pending::Cwd(p.clone()), StorageRequest::Stat { path: p });
            }
            Command::Smnt(_) => self.reply(502, b"SMNT not implemented."),
            Command::Type(t) => match t {
                TypeCode::Ascii(_) => {
                    self.ascii = true;
                    self.reply(200, b"Type set to A.");
                }
                TypeCode::Image | TypeCode::Local(8) => {
                    self.ascii = false;
                    self.reply(200, b"Type set to I.");
                }
                _ => self.reply(504, b"Type not supported."),
            },
            Command::Stru(s) => match s {
                Structure::File => self.reply(200, b"Structure set to F."),
                _ => self.reply(504, b"Structure not supported."),
            },
            Command::Mode(m) => match m {
                TransferMode::Stream => self.reply(200, b"Mode set to S."),
                _ => self.reply(504, b"Mode not supported."),
            },
            Command::Allo { .. } => self.reply(202, b"ALLO not needed."),
            Command::Rest(offset) => {
                self.rest = Some(offset);
                let text = format!("Restarting at {offset}. Send STOR or RETR.");
                self.reply(350, text.as_bytes());
            }
            Command::Port(addr) => self.active(SocketAddr::V4(addr), false),
            Command::Eprt(addr) => self.active(addr, true),
            Command::Lprt(addr) => self.active(addr, false),
            Command::Pasv => self.passive(PassiveForm::Pasv),
            Command::Lpsv => self.passive(PassiveForm::Lpsv),
            Command::Epsv(arg) => match arg {
                EpsvArg::All => {
                    self.epsv_all = true;
                    self.reply(200, b"EPSV ALL ok.");
                }
                EpsvArg::Ipv4 if !self.local.is_ipv4() && canonical_ip(self.local.ip()).is_ipv6() => {
                    self.reply(522, b"Network protocol not supported, use (2)")
                }
                EpsvArg::Ipv6 if canonical_ip(self.local.ip()).is_ipv4() => {
                    self.reply(522, b"Network protocol not supported, use (1)")
                }
                _ => self.passive(PassiveForm::Epsv),
            },
            Command::Retr(path) => {
                // REST applies to the next transfer command whatever its fate: a refused one
                // uses it up too, or it would land on some later, unrelated transfer.
                let offset = self.rest.take().unwrap_or(0);
                if !self.permitted(Permissions::DOWNLOAD) {
                    return;
                }
                if let Some(p) = self.data_command_path(&path, false) {
                    let next = StorageRequest::OpenRead { path: p.clone(), offset };
                    if offset == 0 {
                        self.open(Direction::Send, false, false, next);
                    } else {
                        // The opened handle's size cannot tell an offset at the end from one
                        // past it (both leave 0 bytes), so the file's size is looked up first.
                        self.storage(Pending::Vet { check: Vet::RestWithin(offset), next }, StorageRequest::Stat { path: p });
                    }
                }
            }
            Command::Stor(path) => {
                let rest = self.rest.take();
                if !self.permitted(Permissions::UPLOAD) {
                    return;
                }
                if let Some(p) = self.data_command_path(&path, true) {
                    let mode = match rest {
                        Some(n) if n > 0 => WriteMode::AtOffset(n),
                        _ => WriteMode::Truncate,
                    };
                    self.open(Direction::Receive, false, false, StorageRequest::OpenWrite { path: p, mode });
                }
            }
            Command::Appe(path) => {
                let rest = self.rest.take();
                if !self.permitted(Permissions::APPEND) {
                    return;
                }
                if rest.is_some_and(|n| n > 0) {
                    return self.reply(550, b"REST is not allowed with APPE.");
                }
                if let Some(p) = self.data_command_path(&path, true) {
                    self.open(Direction::Receive, false, false, StorageRequest::OpenWrite { path: p, mode: WriteMode::Append });
                }
            }
            Command::Stou(_) => {
                let rest = self.rest.take();
                if !self.permitted(Permissions::UPLOAD) {
                    return;
                }
                if rest.is_some_and(|n| n > 0) {
                    return self.reply(550, b"REST is not allowed with STOU.");
                }
                if self.data_ready_check() {
                    let dir = self.cwd.clone();
                    self.open(Direction::Receive, true, false, StorageRequest::OpenWrite { path: dir, mode: WriteMode::CreateUnique });
                }
            }
            Command::List(arg) => self.listing(arg, ListFormat::List),
            Command::Nlst(arg) => self.listing(arg, ListFormat::Names),
            Command::Mlsd(arg) => {
                let facts = self.mlst_facts;
                self.listing(arg, ListFormat::Mlsd(facts))
            }
            Command::Mlst(arg) => {
                if !self.permitted(Permissions::LIST) {
                    return;
                }
                let path = match &arg {
                    Some(a) => self.resolve(a),
                    None => Some(self.cwd.clone()),
                };
                if let Some(p) = path {
                    self.storage(Pending::Mlst(p.clone()), StorageRequest::Stat { path: p });
                }
            }
            Command::Stat(None) => {
                let text = format!(
                    "FTP server status:\n Connected to {}\n Logged in: {}\n TYPE: {}, STRU: F, MODE: S\n Data connection: {}\nEnd of status.",
                    self.peer.ip(),
                    if self.logged_in { "yes" } else { "no" },
                    if self.ascii { "ASCII" } else { "BINARY" },
                    if self.data.is_some() { "set up" } else { "none" },
                );
                self.reply(211, text.as_bytes());
            }
            Command::Stat(Some(arg)) => {
                if !self.permitted(Permissions::LIST) {
                    return;
                }
                let (_, path) = split_list_arg(&arg);
                let target = match path {
                    Some(p) => self.resolve(&p),
                    None => Some(self.cwd.clone()),
                };
                if let Some(p) = target {
                    self.storage(Pending::StatPath, StorageRequest::ReadDir { path: p });
                }
            }
            Command::Size(path) => {
                if self.ascii {
                    return self.reply(550, b"SIZE not allowed in ASCII mode.");
                }
                if let Some(p) = self.resolve(&path) {
                    self.storage(Pending::Size, StorageRequest::Stat { path: p });
                }
            }
            Command::Mdtm(path) => {
                if let Some(p) = self.resolve(&path) {
                    self.storage(Pending::Mdtm, StorageRequest::Stat { path: p });
                }
            }
            Command::Mfmt { time, path } => {
                if !self.permitted(Permissions::UPLOAD) {
                    return;
                }
                if let Some(p) = self.resolve(&path) {
                    self.storage(Pending::Mfmt { path: p.clone(), time }, StorageRequest::SetModified { path: p, time });
                }
            }
            Command::Mkd { path, .. } => {
                if !self.permitted(Permissions::MKDIR) {
                    return;
                }
                if let Some(p) = self.resolve_new(&path) {
                    self.storage(Pending::Mkd(p.clone()), StorageRequest::MakeDir { path: p });
                }
            }
            Command::Rmd { path, .. } => {
                if !self.permitted(Permissions::RMDIR) {
                    return;
                }
                if let Some(p) = self.resolve(&path) {
                    if p.is_root() {
                        return self.reply(550, b"Can't remove the root directory.");
                    }
                    self.storage(Pending::Simple { code: 250, text: "Directory removed." }, StorageRequest::RemoveDir { path: p });
                }
            }
            Command::Dele(path) => {
                if !self.permitted(Permissions::DELETE) {
                    return;
                }
                if let Some(p) = self.resolve(&path) {
                    self.storage(Pending::Simple { code: 250, text: "File deleted." }, StorageRequest::Delete { path: p });
                }
            }
            Command::Rnfr(path) => {
                if !self.permitted(Permissions::RENAME) {
                    return;
                }
                if let Some(p) = self.resolve(&path) {
                    if p.is_root() {
                        return self.reply(550, b"Can't rename the root directory.");
                    }
                    self.storage(Pending::Rnfr(p.clone()), StorageRequest::Stat { path: p });
                }
            }
            Command::Rnto(path) => {
                let Some(from) = self.rename_from.take() else {
                    return self.reply(503, b"RNFR required first.");
                };
                if let Some(to) = self.resolve_new(&path) {
                    self.storage(Pending::Simple { code: 250, text: "Rename successful." }, StorageRequest::Rename { from, to });
                }
            }
            Command::Site(arg) => match SiteCommand::parse(&arg) {
                Ok(SiteCommand::Chmod { mode, path }) => {
                    if !self.permitted(Permissions::UPLOAD) {
                        return;
                    }
                    if let Some(p) = self.resolve(&path) {
                        self.storage(Pending::Simple { code: 200, text: "SITE CHMOD successful." }, StorageRequest::Chmod { path: p, mode });
                    }
                }
                Ok(SiteCommand::Other { name, .. }) if name.eq_ignore_ascii_case(b"HELP") => {
                    self.reply(214, b"SITE commands: CHMOD HELP.")
                }
                Ok(_) => self.reply(502, b"SITE subcommand not implemented."),
                Err(e) => self.reply_command_error(&e),
            },
            Command::Abor => {
                if let Some(d) = self.data.take() {
                    self.push_out(ServerOutput::Data(DataIntent::Close { id: d.id }));
                }
                self.reply(225, b"No transfer to abort.");
            }
            Command::Unknown { .. } => self.reply(500, b"Command not understood."),
            _ => self.reply(502, b"Command not implemented."),
        }
    }

    pub(super) fn reset_login(&mut self) {
        if self.logged_in {
            // Logged out: the next login gets a full login timeout, counted from now. A session
            // that was not logged in keeps its deadline, so REIN or AUTH cannot extend it.
            self.login_deadline = self.now.checked_add(self.config.login_timeout);
        }
        self.logged_in = false;
        self.permissions = Permissions::ALL;
        self.user = None;
        self.account = None;
        self.cwd = VirtualPath::root();
        self.ascii = false;
        self.rest = None;
        self.rename_from = None;
        self.mlst_facts = FactSet::DEFAULT;
    }

    /// A login refused with 530 at once, before anything is asked or counted.
    fn refuse_login(&mut self, user: Bytes, reason: LoginRefusal, text: &[u8]) {
        self.notice(Notice::LoginRefused { user, reason });
        self.reply(530, text);
    }

    pub(super) fn login_failed(&mut self, now: Instant) {
        self.failed_logins += 1;
        let user = self.user.take().unwrap_or_default();
        let close = self.failed_logins >= self.config.max_login_failures;
        let until = now
            .checked_add(self.config.failed_login_delay)
            .unwrap_or(now);
        let id = self.next_request();
        self.pending = Some((id, Pending::LoginDelay { until, close, user }));
    }

    pub(super) fn feat_text(&self) -> Vec<u8> {
        let mut feats: Vec<&str> = vec![
            "EPRT",
            "EPSV",
            "HOST",
            "LANG EN",
            "MDTM",
            "MFMT",
            "PASV",
            "REST STREAM",
            "SIZE",
            "TVFS",
            "UTF8",
        ];
        if self.config.tls != TlsMode::Disabled {
            feats.extend(["AUTH TLS", "PBSZ", "PROT"]);
        }
        feats.sort_unstable();
        let mut out = b"Features:\n".to_vec();
        for f in feats {
            out.push(b' ');
            out.extend_from_slice(f.as_bytes());
            out.push(b'\n');
        }
        let mut mlst = BytesMut::new();
        self.mlst_facts.format_feat(ALL_FACTS, &mut mlst);
        out.extend_from_slice(b" MLST ");
        out.extend_from_slice(&mlst);
        out.extend_from_slice(b"\nEnd");
        out
    }

    pub(super) fn opts(&mut self, name: &[u8], options: Option<&[u8]>) {
        if name.eq_ignore_ascii_case(b"UTF8") || name.eq_ignore_ascii_case(b"UTF-8") {
            match options {
                Some(o) if o.eq_ignore_ascii_case(b"ON") || o.eq_ignore_ascii_case(b"OFF") => {
                    self.reply(200, b"Always in UTF8 mode.")
                }
                None => self.reply(200, b"Always in UTF8 mode."),
                Some(_) => self.reply(501, b"Option not understood."),
            }
        } else if name.eq_ignore_ascii_case(b"MLST") {
            match listing::FactSet::parse_opts(options.unwrap_or_default(), ALL_FACTS) {
                Ok(facts) => {
                    self.mlst_facts = facts;
                    let mut text = BytesMut::from(&b"MLST OPTS "[..]);
                    facts.format_opts(&mut text);
                    self.reply(200, &text);
                }
                Err(_) => self.reply(501, b"Invalid MLST options."),
            }
        } else {
            self.reply(501, b"Option not understood.");
        }
    }

    pub(super) fn auth(&mut self, mech: &[u8]) {
        match self.config.tls {
            TlsMode::Disabled => return self.reply(502, b"TLS not available."),
            TlsMode::Implicit => return self.reply(503, b"Already using TLS."),
            _ => {}
        }
        if self.tls.control {
            return self.reply(503, b"Already using TLS.");
        }
        let ok = [&b"TLS"[..], b"TLS-C", b"SSL", b"TLS-P"]
            .iter()
            .any(|m| mech.eq_ignore_ascii_case(m));
        if !ok {
            return self.reply(504, b"AUTH mechanism not supported; use AUTH TLS.");
        }
        self.reply(234, b"AUTH TLS successful.");
        // Plaintext that arrived after AUTH must never be read as if it came over TLS
        // (CVE-2011-1575): drop both the queued commands and the unframed bytes.
        self.queue.clear();
        self.lines.discard_buffered();
        self.held.clear();
        // RFC 4217 §4.2: the session resets almost as after REIN; a data channel set up in
        // cleartext does not carry over either.
        self.reset_login();
        self.epsv_all = false;
        self.tls = Default::default();
        self.tls.handshaking = true;
        if let Some(d) = self.data.take() {
            self.push_out(ServerOutput::Data(DataIntent::Close { id: d.id }));
        }
        self.push_out(ServerOutput::StartTls);
    }
}
