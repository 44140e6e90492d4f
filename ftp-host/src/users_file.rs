//! A [`UserList`] from a TOML users file (feature `users-file`).
//!
//! ```toml
//! [[user]]
//! name = "alice"
//! password = "$argon2id$v=19$m=19456,t=2,p=1$..."  # from `server hash-password`
//! home = "alice"              # relative to the served root, or absolute; default: the root
//!                             # (over object storage: a key prefix, see `load_users`)
//! permissions = "read-write"  # "read-only" (the default), "read-write", or a list of
//!                             # list, download, upload, append, delete, rename, mkdir, rmdir
//! max_rate = 1048576          # bytes per second, both directions (wins over the server's)
//!
//! [[user]]
//! name = "anonymous"          # no password: anonymous logins (anonymous, ftp) get this
//! home = "pub"
//! permissions = ["list", "download"]
//! ```
//!
//! Every error names the line it is about; an unknown key is an error, not ignored.

use std::collections::HashSet;
use std::num::NonZeroU64;
use std::ops::Range;
use std::path::{Path, PathBuf};

use ftp_proto::server::Permissions;
use serde::Deserialize;
use toml::Spanned;

use crate::auth::{User, UserList};

/// Why a users file cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UsersFileError {
    /// The file cannot be read.
    #[error("cannot read the users file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is malformed or describes a user that cannot be served.
    #[error("{file}, line {line}: {message}")]
    Invalid {
        /// The file (or `users file` for text without one).
        file: String,
        /// The line the error is on, from 1.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    #[serde(default)]
    user: Vec<Spanned<UserSpec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserSpec {
    name: Spanned<String>,
    password: Option<Spanned<String>>,
    home: Option<Spanned<PathBuf>>,
    permissions: Option<Spanned<PermissionSpec>>,
    max_rate: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum PermissionSpec {
    Preset(String),
    List(Vec<String>),
}

/// Reads the users file at `path`. With a `root` (the served directory), relative homes are
/// relative to it and each home must be a directory. Without one (a storage that is not a
/// local directory, such as an object store), homes are paths of that storage and are left
/// to it: its [`for_user`](crate::storage::Storage::for_user) decides at login.
pub fn load_users(path: &Path, root: Option<&Path>) -> Result<UserList, UsersFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| UsersFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, root, &path.display().to_string())
}

/// Parses the text of a users file (see the [module docs](self)); homes are checked against
/// `root` as [`load_users`] does.
pub fn parse_users(text: &str, root: Option<&Path>) -> Result<UserList, UsersFileError> {
    parse(text, root, "users file")
}

fn parse(text: &str, root: Option<&Path>, file: &str) -> Result<UserList, UsersFileError> {
    let invalid = |span: Option<Range<usize>>, message: String| UsersFileError::Invalid {
        file: file.to_string(),
        line: span.map_or(1, |s| line_of(text, s.start)),
        message,
    };
    let spec: FileSpec =
        toml::from_str(text).map_err(|e| invalid(e.span(), e.message().to_string()))?;
    let mut list = UserList::new();
    let mut names = HashSet::new();
    for entry in spec.user {
        let entry_span = entry.span();
        let u = entry.into_inner();
        let name = u.name.get_ref().clone();
        let at_name = |message: String| invalid(Some(u.name.span()), message);
        if name.is_empty() || name.chars().any(|c| c.is_control()) {
            return Err(at_name(format!(
                "user name {name:?} is empty or has control characters"
            )));
        }
        if name.eq_ignore_ascii_case("ftp") {
            return Err(at_name(
                "`ftp` is a name for anonymous logins: describe them as `anonymous`".into(),
            ));
        }
        let anonymous = name.eq_ignore_ascii_case("anonymous");
        let key = if anonymous {
            "anonymous".into()
        } else {
            name.clone()
        };
        if !names.insert(key) {
            return Err(at_name(format!("user {name:?} is listed twice")));
        }
        let mut user = User::new(name.clone());
        if let Some(home) = &u.home {
            if let Some(dir) = root.map(|r| r.join(home.get_ref())) {
                if !dir.is_dir() {
                    return Err(invalid(
                        Some(home.span()),
                        format!("home {} of user {name:?} is not a directory", dir.display()),
                    ));
                }
            }
            user = user.with_home(home.get_ref());
        }
        user.permissions = match &u.permissions {
            None => Permissions::READ_ONLY,
            Some(p) => permissions(p.get_ref()).map_err(|m| invalid(Some(p.span()), m))?,
        };
        if let Some(rate) = &u.max_rate {
            let rate = NonZeroU64::new(*rate.get_ref())
                .ok_or_else(|| invalid(Some(rate.span()), "max_rate must be above 0".into()))?;
            user.max_rate = Some(rate);
        }
        list = match (anonymous, &u.password) {
            (true, None) => list.anonymous_user(user),
            (true, Some(p)) => {
                return Err(invalid(
                    Some(p.span()),
                    "the anonymous user takes no password".into(),
                ))
            }
            (false, None) => {
                return Err(invalid(
                    Some(entry_span),
                    format!(
                        "user {name:?} has no password (a PHC string from `server hash-password`)"
                    ),
                ))
            }
            (false, Some(p)) => list
                .hashed_user(user, p.get_ref())
                .map_err(|e| invalid(Some(p.span()), format!("password of user {name:?}: {e}")))?,
        };
    }
    Ok(list)
}

fn permissions(spec: &PermissionSpec) -> Result<Permissions, String> {
    match spec {
        PermissionSpec::Preset(p) if p == "read-only" => Ok(Permissions::READ_ONLY),
        PermissionSpec::Preset(p) if p == "read-write" => Ok(Permissions::ALL),
        PermissionSpec::Preset(p) => Err(format!(
            "permissions {p:?}: say \"read-only\", \"read-write\" or give a list"
        )),
        PermissionSpec::List(names) => names.iter().try_fold(Permissions::NONE, |all, n| {
            Permissions::from_name(n).map(|p| all | p).ok_or_else(|| {
                let known: Vec<_> = Permissions::NAMED.iter().map(|(n, _)| *n).collect();
                format!("unknown permission {n:?} (known: {})", known.join(", "))
            })
        }),
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{hash_password, Authenticator as _, Credentials};

    fn err(text: &str, root: &Path) -> (usize, String) {
        match parse_users(text, Some(root)) {
            Err(UsersFileError::Invalid { line, message, .. }) => (line, message),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn users_homes_permissions_and_errors_with_lines() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("a")).unwrap();
        std::fs::create_dir(root.path().join("pub")).unwrap();
        let phc = hash_password(b"pw").unwrap();
        let text = format!(
            "# users\n[[user]]\nname = \"alice\"\npassword = \"{phc}\"\nhome = \"a\"\n\
             permissions = [\"list\", \"upload\"]\nmax_rate = 1000\n\n\
             [[user]]\nname = \"anonymous\"\nhome = \"pub\"\n"
        );
        let list = parse_users(&text, Some(root.path())).unwrap();
        let alice = list.login(&Credentials::new("alice", "pw")).unwrap();
        assert_eq!(alice.home.as_deref(), Some(Path::new("a")));
        assert_eq!(alice.permissions, Permissions::LIST | Permissions::UPLOAD);
        assert_eq!(alice.max_rate, NonZeroU64::new(1000));
        assert!(list.login(&Credentials::new("alice", "pW")).is_err());
        let anon = list.anonymous_account().unwrap();
        assert_eq!(anon.permissions, Permissions::READ_ONLY);
        assert_eq!(anon.home.as_deref(), Some(Path::new("pub")));

        let r = root.path();
        let user = |extra: &str| format!("[[user]]\nname = \"bob\"\npassword = \"{phc}\"\n{extra}");
        assert_eq!(err(&user("colour = 1\n"), r).0, 4);
        assert!(err(&user("colour = 1\n"), r).1.contains("colour"));
        assert_eq!(err("[[user]]\nname = \"x\"\npassword = 3\n", r).0, 3);
        assert_eq!(err("[[user]\n", r).0, 1);
        assert_eq!(err("\n\n[server]\n", r).0, 3);
        let (line, message) = err(&user("permissions = [\"list\", \"chmod\"]\n"), r);
        assert_eq!(line, 4);
        assert!(message.contains("chmod"), "{message}");
        assert_eq!(err(&user("permissions = \"all\"\n"), r).0, 4);
        let (line, message) = err(&user("home = \"missing\"\n"), r);
        assert_eq!(line, 4);
        assert!(message.contains("missing"), "{message}");
        assert_eq!(err(&user("max_rate = 0\n"), r).0, 4);
        let (line, message) = err("[[user]]\nname = \"x\"\npassword = \"hunter2\"\n", r);
        assert_eq!(line, 3);
        assert!(message.contains("PHC"), "{message}");
        assert_eq!(err("[[user]]\nname = \"x\"\n", r).0, 1);
        let anon_pw = "\n[[user]]\nname = \"anonymous\"\npassword = \"x\"\n";
        assert_eq!(err(anon_pw, r).0, 4);
        let twice = format!("{}\n{}", user(""), user(""));
        assert_eq!(err(&twice, r).0, 6);
        assert_eq!(err("[[user]]\nname = \"ftp\"\n", r).0, 2);
        assert!(parse_users("", Some(r)).unwrap().users().next().is_none());
        // Without a local root (object storage) a home is the storage's to resolve.
        let list = parse_users(&user("home = \"missing\"\n"), None).unwrap();
        let bob = list.login(&Credentials::new("bob", "pw")).unwrap();
        assert_eq!(bob.home.as_deref(), Some(Path::new("missing")));
    }
}
