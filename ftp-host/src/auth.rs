//! The [`Authenticator`] trait, the [`User`] a login yields, [`UserList`] (a fixed set of
//! users with plaintext or argon2id passwords), and [`hash_password`].

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU64;
use std::path::PathBuf;
use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::Argon2;
use bytes::Bytes;
use ftp_proto::server::Failure;
pub use ftp_proto::server::Permissions;
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
    /// The client's address, when the host knows it (a [`ServerConn`](crate::server::ServerConn)
    /// always sets it).
    pub peer: Option<SocketAddr>,
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
            peer: None,
        }
    }
}

/// Who logged in and what they may do: the [`Authenticator`]'s answer. The session's
/// storage is made from it ([`Storage::for_user`](crate::storage::Storage::for_user)) and the
/// core enforces its [`permissions`](Self::permissions) on every command.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct User {
    /// The login name.
    pub name: String,
    /// An anonymous login.
    pub anonymous: bool,
    /// The user's `/`, for the storage to interpret; [`FsStorage`](crate::storage::FsStorage)
    /// takes a relative path as relative to its root, and `None` as the root itself.
    pub home: Option<PathBuf>,
    /// What the user may do.
    pub permissions: Permissions,
    /// The user's transfer rate limit in bytes per second, both directions; wins over the
    /// server's [`Settings::max_rate`](crate::setup::Settings::max_rate).
    pub max_rate: Option<NonZeroU64>,
}

impl User {
    /// A user called `name` with every permission, the storage's root as home and no rate
    /// limit.
    pub fn new(name: impl Into<String>) -> User {
        User {
            name: name.into(),
            anonymous: false,
            home: None,
            permissions: Permissions::ALL,
            max_rate: None,
        }
    }

    /// The same user with these permissions.
    pub fn with_permissions(mut self, permissions: Permissions) -> User {
        self.permissions = permissions;
        self
    }

    /// The same user with this home (see [`home`](Self::home)).
    pub fn with_home(mut self, home: impl Into<PathBuf>) -> User {
        self.home = Some(home.into());
        self
    }

    /// The same user with this rate limit (see [`max_rate`](Self::max_rate)).
    pub fn with_max_rate(mut self, max_rate: Option<NonZeroU64>) -> User {
        self.max_rate = max_rate;
        self
    }
}

/// The former name of [`User`].
pub type Grant = User;

/// Checks logins. The core asks only after USER and PASS (and delays and counts failures
/// itself); anonymous logins reach the authenticator only when
/// [`ServerConfig::anonymous`](ftp_proto::server::ServerConfig) is on, flagged by
/// [`Credentials::anonymous`].
///
/// `login` may block (a password hash, a directory lookup): adapters call it on a blocking
/// pool.
pub trait Authenticator: Send + Sync + 'static {
    /// Accepts the login with the [`User`] it logs in as, or refuses it (normally
    /// [`Failure::LoginRefused`]).
    fn login(&self, credentials: &Credentials) -> Result<User, Failure>;

    /// A login from `peer` failed: refused by [`login`](Self::login) or by the core's policy
    /// (anonymous access off, TLS required). Called by the host for every failed attempt, for
    /// bans across connections ([`Banning`](crate::bans::Banning)); the default does nothing.
    fn login_failed(&self, peer: IpAddr) {
        let _ = peer;
    }
}

/// Errors of [`hash_password`] and of adding a hashed password to a [`UserList`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// The text is not a PHC string.
    #[error("not a PHC password hash string: {0}")]
    Malformed(String),
    /// A PHC string of another algorithm than argon2id.
    #[error("not an argon2id hash (algorithm {0:?}); make one with `server hash-password`")]
    NotArgon2id(String),
    /// Hashing failed.
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Hashes `password` with argon2id (the argon2 crate's default parameters) and a random salt,
/// and returns the PHC string (`$argon2id$v=19$...`) for a users file.
pub fn hash_password(password: &[u8]) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches the argon2id PHC string `phc`.
pub fn verify_password(phc: &str, password: &[u8]) -> Result<bool, PasswordError> {
    let hash = parse_phc(phc)?;
    Ok(Argon2::default().verify_password(password, &hash).is_ok())
}

fn parse_phc(phc: &str) -> Result<PasswordHash<'_>, PasswordError> {
    let hash = PasswordHash::new(phc).map_err(|e| PasswordError::Malformed(e.to_string()))?;
    if hash.algorithm.as_str() != "argon2id" {
        return Err(PasswordError::NotArgon2id(hash.algorithm.to_string()));
    }
    Ok(hash)
}

/// A user's secret as kept by [`UserList`].
#[derive(Clone)]
enum Secret {
    /// The SHA-256 digest of a plaintext password.
    Plain(Digest),
    /// An argon2id PHC string.
    Phc(String),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Plain(_) => f.write_str("Plain(..)"),
            Secret::Phc(_) => f.write_str("Phc(..)"),
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    name: Digest,
    pass: Secret,
    user: User,
}

/// A fixed list of users with passwords, plus optional anonymous access.
///
/// Anonymous users are read-only unless [`anonymous_read_write`](Self::anonymous_read_write)
/// or [`anonymous_user`](Self::anonymous_user) says otherwise.
///
/// Plaintext passwords ([`user`](Self::user)) are kept as SHA-256 digests only, and a login
/// compares the digests of what the client sent with every entry's, without an early exit:
/// the time a login takes depends on the number of users and on the lengths the client sent,
/// not on the length of any password, on how much of it was right, or on whether the user
/// exists. Hashed passwords ([`hashed_user`](Self::hashed_user)) are argon2id PHC strings; a
/// login for a name that matches none runs one argon2 verification all the same, so that
/// its time does not tell whether the user exists.
#[derive(Debug, Clone, Default)]
pub struct UserList {
    users: Vec<Entry>,
    anonymous: Option<User>,
}

impl UserList {
    /// An empty list: nobody can log in.
    pub fn new() -> Self {
        UserList::default()
    }

    /// Adds a user with full access and a plaintext password.
    pub fn user(self, name: impl Into<Bytes>, pass: impl Into<Bytes>) -> Self {
        self.plain(name.into(), pass.into(), Permissions::ALL)
    }

    /// Adds a user with read access only and a plaintext password.
    pub fn read_only_user(self, name: impl Into<Bytes>, pass: impl Into<Bytes>) -> Self {
        self.plain(name.into(), pass.into(), Permissions::READ_ONLY)
    }

    fn plain(mut self, name: Bytes, pass: Bytes, permissions: Permissions) -> Self {
        let user = User::new(String::from_utf8_lossy(&name)).with_permissions(permissions);
        self.users.push(Entry {
            name: digest(&name),
            pass: Secret::Plain(digest(&pass)),
            user,
        });
        self
    }

    /// Adds `user` (name, home, permissions) with a plaintext password.
    pub fn user_with_password(mut self, user: User, pass: impl Into<Bytes>) -> Self {
        self.users.push(Entry {
            name: digest(user.name.as_bytes()),
            pass: Secret::Plain(digest(&pass.into())),
            user,
        });
        self
    }

    /// Adds `user` (name, home, permissions) whose password is checked against `phc`, an
    /// argon2id PHC string ([`hash_password`]). Errs if `phc` is not one.
    pub fn hashed_user(mut self, user: User, phc: &str) -> Result<Self, PasswordError> {
        parse_phc(phc)?;
        self.users.push(Entry {
            name: digest(user.name.as_bytes()),
            pass: Secret::Phc(phc.to_string()),
            user,
        });
        Ok(self)
    }

    /// Lets anonymous users in, read-only.
    pub fn anonymous(mut self) -> Self {
        self.anonymous = Some(anonymous_user(Permissions::READ_ONLY));
        self
    }

    /// Lets anonymous users in with write access.
    pub fn anonymous_read_write(mut self) -> Self {
        self.anonymous = Some(anonymous_user(Permissions::ALL));
        self
    }

    /// Lets anonymous users in as `user`: its home and permissions (its name is replaced by
    /// the one the client gave).
    pub fn anonymous_user(mut self, mut user: User) -> Self {
        user.anonymous = true;
        self.anonymous = Some(user);
        self
    }

    /// Makes every user read-only (for a `--read-only` server): each keeps at most the list
    /// and download permissions.
    pub fn all_read_only(mut self) -> Self {
        for u in self
            .users
            .iter_mut()
            .map(|e| &mut e.user)
            .chain(self.anonymous.as_mut())
        {
            u.permissions = u.permissions.intersection(Permissions::READ_ONLY);
        }
        self
    }

    /// Whether anonymous access is on (set the core's `ServerConfig::anonymous` to match).
    pub fn allows_anonymous(&self) -> bool {
        self.anonymous.is_some()
    }

    /// The users of the list (without the anonymous one), in order.
    pub fn users(&self) -> impl Iterator<Item = &User> {
        self.users.iter().map(|e| &e.user)
    }

    /// The user anonymous logins log in as, if anonymous access is on.
    pub fn anonymous_account(&self) -> Option<&User> {
        self.anonymous.as_ref()
    }
}

fn anonymous_user(permissions: Permissions) -> User {
    let mut user = User::new("anonymous").with_permissions(permissions);
    user.anonymous = true;
    user
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

/// A PHC string verified when a login names no user with a hashed password, so that such
/// a login costs what a real one does.
fn dummy_phc() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password(b"no such user").unwrap_or_default())
}

impl Authenticator for UserList {
    fn login(&self, c: &Credentials) -> Result<User, Failure> {
        if c.anonymous {
            let mut user = self.anonymous.clone().ok_or(Failure::LoginRefused)?;
            user.name = String::from_utf8_lossy(&c.user).into_owned();
            return Ok(user);
        }
        let (name, pass) = (digest(&c.user), digest(&c.pass));
        let mut granted = None;
        let mut hashed = None;
        // Every entry, both digests, combined with a non-short-circuiting `&`: no early exit
        // says whether the name or the password was wrong.
        for entry in &self.users {
            let name_matches = constant_time_eq(&entry.name, &name);
            match &entry.pass {
                Secret::Plain(p) => {
                    if name_matches & constant_time_eq(p, &pass) {
                        granted = Some(&entry.user);
                    }
                }
                Secret::Phc(phc) => {
                    if name_matches && hashed.is_none() {
                        hashed = Some((phc.as_str(), &entry.user));
                    }
                }
            }
        }
        let has_hashes = self.users.iter().any(|e| matches!(e.pass, Secret::Phc(_)));
        if granted.is_none() {
            // One argon2 verification whether the name matched a hashed entry or not.
            let (phc, user) = match hashed {
                Some((phc, user)) => (phc, Some(user)),
                None if has_hashes => (dummy_phc(), None),
                None => ("", None),
            };
            if !phc.is_empty() && verify_password(phc, &c.pass).unwrap_or(false) {
                granted = user;
            }
        }
        granted.cloned().ok_or(Failure::LoginRefused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The permissions a login gets.
    fn perms(l: &UserList, c: &Credentials) -> Result<Permissions, Failure> {
        l.login(c).map(|u| u.permissions)
    }

    #[test]
    fn users_and_anonymous() {
        let l = UserList::new()
            .user("alice", "pw")
            .read_only_user("bob", "x");
        assert_eq!(
            perms(&l, &Credentials::new("alice", "pw")),
            Ok(Permissions::ALL)
        );
        assert_eq!(
            perms(&l, &Credentials::new("alice", "pW")),
            Err(Failure::LoginRefused)
        );
        assert_eq!(
            perms(&l, &Credentials::new("bob", "x")),
            Ok(Permissions::READ_ONLY)
        );
        let mut anon = Credentials::new("anonymous", "a@b");
        anon.anonymous = true;
        assert_eq!(perms(&l, &anon), Err(Failure::LoginRefused));
        let l = l.anonymous();
        assert_eq!(perms(&l, &anon), Ok(Permissions::READ_ONLY));
        // Only the core's verdict makes a login anonymous, not the name.
        assert_eq!(
            perms(&l, &Credentials::new("anonymous", "")),
            Err(Failure::LoginRefused)
        );
        assert!(l.allows_anonymous());
        assert!(!UserList::new().allows_anonymous());
        assert_eq!(
            perms(&UserList::new().anonymous_read_write(), &anon),
            Ok(Permissions::ALL)
        );
        assert_eq!(
            perms(&l.all_read_only(), &Credentials::new("alice", "pw")),
            Ok(Permissions::READ_ONLY)
        );
        // Two wrong bytes whose differences would cancel out under XOR are still wrong.
        let l = UserList::new().user("carol", "ab");
        assert_eq!(
            perms(&l, &Credentials::new("carol", "ba")),
            Err(Failure::LoginRefused)
        );
    }

    #[test]
    fn passwords_match_only_exactly() {
        let l = UserList::new().user("dave", "secret").user("", "");
        let login = |u: &str, p: &str| perms(&l, &Credentials::new(u.to_string(), p.to_string()));
        assert_eq!(login("dave", "secret"), Ok(Permissions::ALL));
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
        assert_eq!(login("", ""), Ok(Permissions::ALL));
        assert_eq!(login("dave", ""), Err(Failure::LoginRefused));
        // Only digests are kept: the passwords are not in memory to be compared byte by
        // byte (or printed).
        assert!(!format!("{l:?}").contains("secret"));
    }

    #[test]
    fn hashed_passwords_homes_and_anonymous_accounts() {
        let phc = hash_password(b"correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(verify_password(&phc, b"correct horse").unwrap());
        assert!(!verify_password(&phc, b"correct horsE").unwrap());
        let erin = User::new("erin")
            .with_home("erin")
            .with_permissions(Permissions::LIST | Permissions::UPLOAD);
        let l = UserList::new()
            .hashed_user(erin.clone(), &phc)
            .unwrap()
            .user("frank", "pw")
            .anonymous_user(User::new("x").with_home("pub"));
        assert_eq!(
            l.login(&Credentials::new("erin", "correct horse")),
            Ok(erin)
        );
        assert_eq!(
            l.login(&Credentials::new("erin", "wrong")),
            Err(Failure::LoginRefused)
        );
        assert_eq!(
            l.login(&Credentials::new("nobody", "correct horse")),
            Err(Failure::LoginRefused)
        );
        assert_eq!(
            perms(&l, &Credentials::new("frank", "pw")),
            Ok(Permissions::ALL)
        );
        let mut anon = Credentials::new("ftp", "me@x");
        anon.anonymous = true;
        let a = l.login(&anon).unwrap();
        assert!(a.anonymous);
        assert_eq!(a.name, "ftp");
        assert_eq!(a.home.as_deref(), Some(std::path::Path::new("pub")));
        assert_eq!(a.permissions, Permissions::ALL);
        let ro = l.all_read_only();
        assert_eq!(
            perms(&ro, &Credentials::new("erin", "correct horse")),
            Ok(Permissions::LIST)
        );
        assert_eq!(perms(&ro, &anon), Ok(Permissions::READ_ONLY));
        // Only argon2id PHC strings are taken.
        assert!(matches!(
            UserList::new().hashed_user(User::new("g"), "secret"),
            Err(PasswordError::Malformed(_))
        ));
        let sha = "$argon2i$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$ZmFrZWhhc2hmYWtlaGFzaA";
        assert!(matches!(
            UserList::new().hashed_user(User::new("g"), sha),
            Err(PasswordError::NotArgon2id(_))
        ));
        assert!(!format!("{ro:?}").contains("argon2id"));
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
