//! The [`Authenticator`] trait and [`UserList`], a fixed set of users.

use bytes::Bytes;
use ftp_proto::server::Failure;

/// What a client presented to log in.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Credentials {
    /// The USER argument.
    pub user: Bytes,
    /// The PASS argument.
    pub pass: Bytes,
    /// The ACCT argument, if any.
    pub account: Option<Bytes>,
    /// The HOST argument (RFC 7151), if any.
    pub host: Option<Bytes>,
    /// The core treats this login as anonymous (`anonymous` or `ftp`, with anonymous access
    /// on): the password is an e-mail address by convention, not a secret.
    pub anonymous: bool,
}

impl Credentials {
    /// Credentials for `user` and `pass`, not anonymous, without ACCT or HOST.
    pub fn new(user: impl Into<Bytes>, pass: impl Into<Bytes>) -> Credentials {
        Credentials {
            user: user.into(),
            pass: pass.into(),
            account: None,
            host: None,
            anonymous: false,
        }
    }
}

/// What a successful login grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Grant {
    /// The session refuses every write (uploads, deletes, renames, mkdir, rmdir, chmod).
    pub read_only: bool,
}

impl Grant {
    /// Full access.
    pub const READ_WRITE: Grant = Grant { read_only: false };
    /// Read access only.
    pub const READ_ONLY: Grant = Grant { read_only: true };
}

/// Checks logins. The core asks only after USER and PASS (and delays and counts failures
/// itself); anonymous logins reach the authenticator only when
/// [`ServerConfig::anonymous`](ftp_proto::server::ServerConfig) is on, flagged by
/// [`Credentials::anonymous`].
///
/// `login` may block (a password hash, a directory lookup): adapters call it on a blocking
/// pool.
pub trait Authenticator: Send + Sync + 'static {
    /// Accepts the login with a [`Grant`] or refuses it (normally [`Failure::LoginRefused`]).
    fn login(&self, credentials: &Credentials) -> Result<Grant, Failure>;
}

/// A fixed list of users with passwords, plus optional anonymous access.
///
/// Anonymous users are read-only unless [`anonymous_read_write`](Self::anonymous_read_write)
/// says otherwise.
#[derive(Debug, Clone, Default)]
pub struct UserList {
    users: Vec<(Bytes, Bytes, Grant)>,
    anonymous: Option<Grant>,
}

impl UserList {
    /// An empty list: nobody can log in.
    pub fn new() -> Self {
        UserList::default()
    }

    /// Adds a user with full access.
    pub fn user(mut self, name: impl Into<Bytes>, pass: impl Into<Bytes>) -> Self {
        self.users
            .push((name.into(), pass.into(), Grant::READ_WRITE));
        self
    }

    /// Adds a user with read access only.
    pub fn read_only_user(mut self, name: impl Into<Bytes>, pass: impl Into<Bytes>) -> Self {
        self.users
            .push((name.into(), pass.into(), Grant::READ_ONLY));
        self
    }

    /// Lets anonymous users in, read-only.
    pub fn anonymous(mut self) -> Self {
        self.anonymous = Some(Grant::READ_ONLY);
        self
    }

    /// Lets anonymous users in with write access.
    pub fn anonymous_read_write(mut self) -> Self {
        self.anonymous = Some(Grant::READ_WRITE);
        self
    }

    /// Makes every user read-only (for a `--read-only` server).
    pub fn all_read_only(mut self) -> Self {
        for u in &mut self.users {
            u.2 = Grant::READ_ONLY;
        }
        if self.anonymous.is_some() {
            self.anonymous = Some(Grant::READ_ONLY);
        }
        self
    }

    /// Whether anonymous access is on (set the core's `ServerConfig::anonymous` to match).
    pub fn allows_anonymous(&self) -> bool {
        self.anonymous.is_some()
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Authenticator for UserList {
    fn login(&self, c: &Credentials) -> Result<Grant, Failure> {
        if c.anonymous {
            return self.anonymous.ok_or(Failure::LoginRefused);
        }
        let mut granted = None;
        // Compare against every entry, without an early exit on the password, so the time
        // taken says little about which part was wrong.
        for (name, pass, grant) in &self.users {
            if name == &c.user && constant_time_eq(pass, &c.pass) {
                granted = Some(*grant);
            }
        }
        granted.ok_or(Failure::LoginRefused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_anonymous() {
        let l = UserList::new()
            .user("alice", "pw")
            .read_only_user("bob", "x");
        assert_eq!(
            l.login(&Credentials::new("alice", "pw")),
            Ok(Grant::READ_WRITE)
        );
        assert_eq!(
            l.login(&Credentials::new("alice", "pW")),
            Err(Failure::LoginRefused)
        );
        assert_eq!(l.login(&Credentials::new("bob", "x")), Ok(Grant::READ_ONLY));
        let mut anon = Credentials::new("anonymous", "a@b");
        anon.anonymous = true;
        assert_eq!(l.login(&anon), Err(Failure::LoginRefused));
        let l = l.anonymous();
        assert_eq!(l.login(&anon), Ok(Grant::READ_ONLY));
        // Only the core's verdict makes a login anonymous, not the name.
        assert_eq!(
            l.login(&Credentials::new("anonymous", "")),
            Err(Failure::LoginRefused)
        );
        assert!(l.allows_anonymous());
        assert!(!UserList::new().allows_anonymous());
        assert_eq!(
            UserList::new().anonymous_read_write().login(&anon),
            Ok(Grant::READ_WRITE)
        );
        assert_eq!(
            l.all_read_only().login(&Credentials::new("alice", "pw")),
            Ok(Grant::READ_ONLY)
        );
        // Two wrong bytes whose differences would cancel out under XOR are still wrong.
        let l = UserList::new().user("carol", "ab");
        assert_eq!(
            l.login(&Credentials::new("carol", "ba")),
            Err(Failure::LoginRefused)
        );
    }
}
