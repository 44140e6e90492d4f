//! The [`Authenticator`] trait and [`UserList`], a fixed set of users.

use bytes::Bytes;
use ftp_proto::server::Failure;
use sha2::{Digest as _, Sha256};

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
///
/// Names and passwords are kept as SHA-256 digests only, and a login compares the digests of
/// what the client sent with every entry's, without an early exit: the time a login takes
/// depends on the number of users and on the lengths the client sent, not on the length of
/// any password, on how much of it was right, or on whether the user exists.
#[derive(Debug, Clone, Default)]
pub struct UserList {
    users: Vec<(Digest, Digest, Grant)>,
    anonymous: Option<Grant>,
}

impl UserList {
    /// An empty list: nobody can log in.
    pub fn new() -> Self {
        UserList::default()
    }

    /// Adds a user with full access.
    pub fn user(mut self, name: impl Into<Bytes>, pass: impl Into<Bytes>) -> Self {
        self.users.push((
            digest(&name.into()),
            digest(&pass.into()),
            Grant::READ_WRITE,
        ));
        self
    }

    /// Adds a user with read access only.
    pub fn read_only_user(mut self, name: impl Into<Bytes>, pass: impl Into<Bytes>) -> Self {
        self.users
            .push((digest(&name.into()), digest(&pass.into()), Grant::READ_ONLY));
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

type Digest = [u8; 32];

fn digest(bytes: &[u8]) -> Digest {
    Sha256::digest(bytes).into()
}

/// Whether two digests are equal, in a time that does not depend on where they differ.
/// Comparing fixed-size digests rather than the secrets keeps their lengths out of it too.
fn constant_time_eq(a: &Digest, b: &Digest) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

impl Authenticator for UserList {
    fn login(&self, c: &Credentials) -> Result<Grant, Failure> {
        if c.anonymous {
            return self.anonymous.ok_or(Failure::LoginRefused);
        }
        let (user, pass) = (digest(&c.user), digest(&c.pass));
        let mut granted = None;
        // Every entry, both digests, combined with a non-short-circuiting `&`: no early exit
        // says whether the name or the password was wrong.
        for (n, p, grant) in &self.users {
            if constant_time_eq(n, &user) & constant_time_eq(p, &pass) {
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

    #[test]
    fn passwords_match_only_exactly() {
        let l = UserList::new().user("dave", "secret").user("", "");
        let login = |u: &str, p: &str| l.login(&Credentials::new(u.to_string(), p.to_string()));
        assert_eq!(login("dave", "secret"), Ok(Grant::READ_WRITE));
        for wrong in ["", "s", "secre", "secret\0", "secrets", "Secret", "tercse"] {
            assert_eq!(
                login("dave", wrong),
                Err(Failure::LoginRefused),
                "{wrong:?}"
            );
        }
        // A name is matched exactly too: no prefix, no longer name, no other user's password.
        for name in ["dav", "davey", "Dave", ""] {
            assert_eq!(
                login(name, "secret"),
                Err(Failure::LoginRefused),
                "{name:?}"
            );
        }
        // An empty name and password are a user like any other.
        assert_eq!(login("", ""), Ok(Grant::READ_WRITE));
        assert_eq!(login("dave", ""), Err(Failure::LoginRefused));
        // Only digests are kept: the passwords are not in memory to be compared byte by
        // byte (or printed).
        assert!(!format!("{l:?}").contains("secret"));
    }

    #[test]
    fn digest_compare() {
        let (a, b) = (digest(b"abc"), digest(b"abd"));
        assert!(constant_time_eq(&a, &a));
        assert!(!constant_time_eq(&a, &b));
        let mut last = a;
        last[31] ^= 1;
        assert!(!constant_time_eq(&a, &last));
        // Prefixes and extensions of a secret have unrelated digests of the same size.
        assert!(!constant_time_eq(&digest(b"ab"), &digest(b"abc")));
        assert!(!constant_time_eq(&digest(b""), &digest(b"\0")));
    }
}
