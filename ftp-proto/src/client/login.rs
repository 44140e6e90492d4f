//! The login sequence: greeting, HOST, AUTH TLS, USER/PASS/ACCT, PBSZ/PROT, FEAT, OPTS UTF8,
//! TYPE I.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use crate::command::{Command, ProtLevel, TypeCode};
use crate::reply::{Features, Reply, ReplyCode};

use super::config::ClientTls;
use super::session::ClientSession;
use super::types::*;
use super::ClientError;

/// Where the login stands: the command whose reply is awaited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoginStep {
    Greeting,
    Host,
    Auth,
    /// Waiting for the adapter's TLS handshake result.
    Handshake,
    User,
    Pass,
    Acct,
    Pbsz,
    Prot,
    Feat,
    Utf8,
    Type,
}

impl ClientSession {
    pub(crate) fn login_send(&mut self, now: Instant, step: LoginStep) {
        let c = Arc::clone(&self.config);
        let cmd = match step {
            LoginStep::Greeting | LoginStep::Handshake => return,
            LoginStep::Host => Command::Host(c.host.clone().unwrap_or_default()),
            LoginStep::Auth => Command::Auth(Bytes::from_static(b"TLS")),
            LoginStep::User => Command::User(c.user.clone()),
            LoginStep::Pass => Command::Pass(c.pass.clone()),
            LoginStep::Acct => Command::Acct(c.account.clone().unwrap_or_default()),
            LoginStep::Pbsz => Command::Pbsz(0),
            LoginStep::Prot => Command::Prot(ProtLevel::Private),
            LoginStep::Feat => Command::Feat,
            LoginStep::Utf8 => Command::Opts {
                name: Bytes::from_static(b"UTF8"),
                options: Some(Bytes::from_static(b"ON")),
            },
            LoginStep::Type => Command::Type(TypeCode::Image),
        };
        self.login = Some(step);
        self.send(now, &cmd);
    }

    /// The step after the greeting (or HOST): AUTH when TLS is wanted, else USER.
    fn after_host(&mut self, now: Instant) {
        let wants_auth = matches!(
            self.config.tls,
            ClientTls::Opportunistic | ClientTls::Required
        );
        if wants_auth && !self.tls_control {
            self.login_send(now, LoginStep::Auth);
        } else {
            self.login_send(now, LoginStep::User);
        }
    }

    /// The steps after a successful login.
    fn after_login(&mut self, now: Instant) {
        if self.tls_control && self.config.protect_data {
            self.login_send(now, LoginStep::Pbsz);
        } else {
            self.login_send(now, LoginStep::Feat);
        }
    }

    fn after_feat(&mut self, now: Instant) {
        if self.config.utf8 && self.features.has("UTF8") {
            self.login_send(now, LoginStep::Utf8);
        } else {
            self.after_utf8(now);
        }
    }

    fn after_utf8(&mut self, now: Instant) {
        if self.config.binary {
            self.login_send(now, LoginStep::Type);
        } else {
            self.login_done(now);
        }
    }

    fn login_done(&mut self, now: Instant) {
        self.login = None;
        let info = LoginInfo {
            greeting: self
                .greeting
                .clone()
                .unwrap_or_else(|| Reply::new(ReplyCode::SERVICE_READY, Bytes::new())),
            features: self.features.clone(),
            tls: self.tls_control,
            data_tls: self.data_tls,
        };
        self.out.push_back(ClientOutput::LoggedIn(Box::new(info)));
        self.start_next(now);
    }

    pub(crate) fn login_reply(&mut self, now: Instant, step: LoginStep, reply: Reply) {
        let code = reply.code();
        if code.is_positive_preliminary() {
            // 120 "ready in nnn minutes" before 220, or a stray mark: wait for the final one.
            return;
        }
        let required = self.config.tls == ClientTls::Required;
        let ok = code.is_positive_completion();
        match step {
            LoginStep::Greeting => {
                if code.as_u16() == 230 {
                    if required && !self.tls_control {
                        return self.fail(ClientError::TlsBypassed(reply));
                    }
                    self.greeting = Some(reply);
                    return self.after_login(now);
                }
                if !ok {
                    return self.fail(if code.is_negative() {
                        ClientError::Refused(reply)
                    } else {
                        ClientError::UnexpectedReply(reply)
                    });
                }
                self.greeting = Some(reply);
                if self.config.host.is_some() {
                    self.login_send(now, LoginStep::Host);
                } else {
                    self.after_host(now);
                }
            }
            // A server without HOST support answers 500/502: carry on (RFC 7151 §3).
            LoginStep::Host => self.after_host(now),
            LoginStep::Auth => {
                if code.as_u16() == 234 {
                    if !self.inbuf.is_empty() || self.decoder.is_mid_reply() {
                        return self.fail(ClientError::PipelinedAfterAuth);
                    }
                    self.login = Some(LoginStep::Handshake);
                    self.out.push_back(ClientOutput::StartTls);
                } else if required {
                    self.fail(ClientError::TlsRefused(reply));
                } else {
                    self.login_send(now, LoginStep::User);
                }
            }
            LoginStep::Handshake => {}
            LoginStep::User | LoginStep::Pass | LoginStep::Acct => {
                if ok {
                    if required && !self.tls_control {
                        return self.fail(ClientError::TlsBypassed(reply));
                    }
                    return self.after_login(now);
                }
                match (step, code.as_u16()) {
                    (LoginStep::User, 331) => self.login_send(now, LoginStep::Pass),
                    (LoginStep::User | LoginStep::Pass, 332) if self.config.account.is_some() => {
                        self.login_send(now, LoginStep::Acct)
                    }
                    _ => self.fail(ClientError::LoginFailed(reply)),
                }
            }
            LoginStep::Pbsz | LoginStep::Prot => {
                if !ok {
                    if required {
                        return self.fail(ClientError::TlsRefused(reply));
                    }
                    return self.login_send(now, LoginStep::Feat);
                }
                if step == LoginStep::Pbsz {
                    self.login_send(now, LoginStep::Prot);
                } else {
                    self.data_tls = true;
                    self.login_send(now, LoginStep::Feat);
                }
            }
            LoginStep::Feat => {
                // A single-line 211, 500 or 502 all mean no features (RFC 2389).
                self.features = Features::parse(&reply);
                self.after_feat(now);
            }
            LoginStep::Utf8 => self.after_utf8(now),
            LoginStep::Type => self.login_done(now),
        }
    }
}
