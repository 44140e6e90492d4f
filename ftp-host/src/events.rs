//! What happened in a server's sessions, for whoever watches: the [`Observer`] trait, the
//! [`Event`]s [`ServerConn`](crate::server::ServerConn) reports to it (logins, logouts,
//! transfers, deletes, renames, new directories, failed data connections), a fan-out
//! ([`Observers`]) and the per-session [`Hooks`] an adapter hands each connection.
//!
//! Every adapter feeds the same `ServerConn`, so an observer sees the same events whichever
//! runtime serves. The transfer log ([`crate::xferlog`]), the metrics (`crate::metrics`) and
//! the example servers' `--on-upload` command ([`UploadCommand`]) are observers.

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroU64;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime};

use ftp_proto::path::VirtualPath;

/// What a transfer moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransferKind {
    /// A file to the client (RETR).
    Download,
    /// A file from the client (STOR, APPE, STOU).
    Upload,
    /// A directory listing to the client (LIST, NLST, MLSD).
    Listing,
}

impl TransferKind {
    /// `download`, `upload` or `listing`, for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            TransferKind::Download => "download",
            TransferKind::Upload => "upload",
            TransferKind::Listing => "listing",
        }
    }
}

/// One transfer that ended, complete or not.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransferRecord {
    /// The client's address.
    pub peer: SocketAddr,
    /// Who was logged in (as the authenticator named the user).
    pub user: String,
    /// Whether the login was anonymous.
    pub anonymous: bool,
    /// What moved.
    pub kind: TransferKind,
    /// The file or directory, as the client sees it (under the user's home).
    pub path: VirtualPath,
    /// The file in the storage's own terms, when the storage can tell
    /// ([`Storage::real_path`](crate::storage::Storage::real_path)); given for complete
    /// uploads only.
    pub real_path: Option<PathBuf>,
    /// Bytes over the data connection.
    pub bytes: u64,
    /// From the start of the transfer to its end.
    pub duration: Duration,
    /// When it ended (wall clock).
    pub ended: SystemTime,
    /// Whether every byte moved (and an upload is stored); `false` for an aborted, cut or
    /// failed transfer.
    pub complete: bool,
    /// TYPE A (ASCII) rather than TYPE I.
    pub ascii: bool,
}

/// Something that happened in a session, given to an [`Observer`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A control connection's session started.
    SessionStarted {
        /// The client's address.
        peer: SocketAddr,
    },
    /// A session ended (its `ServerConn` was dropped).
    SessionEnded {
        /// The client's address.
        peer: SocketAddr,
    },
    /// A login succeeded.
    LoggedIn {
        /// The client's address.
        peer: SocketAddr,
        /// The user, as the authenticator named it.
        user: String,
        /// Whether the login was anonymous.
        anonymous: bool,
    },
    /// A login failed (wrong password, unknown user, or refused by policy). Never carries
    /// the password.
    LoginFailed {
        /// The client's address.
        peer: SocketAddr,
        /// The name the client gave (lossily decoded; the client's bytes).
        user: String,
    },
    /// A logged-in user's session ended or logged in again.
    LoggedOut {
        /// The client's address.
        peer: SocketAddr,
        /// The user.
        user: String,
    },
    /// A transfer ended; told after its final reply (226, 426, 451...) was flushed to the
    /// client.
    Transfer(TransferRecord),
    /// A file was deleted.
    Deleted {
        /// The client's address.
        peer: SocketAddr,
        /// The user.
        user: String,
        /// The file.
        path: VirtualPath,
    },
    /// A file or directory was renamed.
    Renamed {
        /// The client's address.
        peer: SocketAddr,
        /// The user.
        user: String,
        /// The old name.
        from: VirtualPath,
        /// The new name.
        to: VirtualPath,
    },
    /// A directory was created.
    MadeDir {
        /// The client's address.
        peer: SocketAddr,
        /// The user.
        user: String,
        /// The directory.
        path: VirtualPath,
    },
    /// A data connection could not be set up (connect or TLS failed).
    DataConnectionFailed {
        /// The client's address.
        peer: SocketAddr,
    },
}

/// Watches a server's sessions. Called on the thread that drives the session (an async task
/// or the mio event loop): return quickly and hand slow work to a thread of your own.
pub trait Observer: Send + Sync + 'static {
    /// Something happened.
    fn event(&self, event: &Event);
}

/// Several observers, each told every event in the order they were added.
#[derive(Clone, Default)]
pub struct Observers(Vec<Arc<dyn Observer>>);

impl Observers {
    /// None.
    pub fn new() -> Observers {
        Observers::default()
    }

    /// Adds one.
    pub fn push(&mut self, observer: Arc<dyn Observer>) {
        self.0.push(observer);
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Observers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Observers({})", self.0.len())
    }
}

impl Observer for Observers {
    fn event(&self, event: &Event) {
        for o in &self.0 {
            o.event(event);
        }
    }
}

/// What every session of a server gets besides its storage and authenticator: the observers
/// and the default rate limit. Made by
/// [`Settings::prepare`](crate::setup::Settings::prepare) and given to each
/// [`ServerConn`](crate::server::ServerConn) with
/// [`with_hooks`](crate::server::ServerConn::with_hooks).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Hooks {
    /// Told every [`Event`].
    pub observers: Observers,
    /// Bytes per second for every transfer of a session whose user has no
    /// [`max_rate`](crate::auth::User::max_rate) of its own.
    pub max_rate: Option<NonZeroU64>,
}

impl Hooks {
    /// Hooks with these observers and default rate.
    pub fn new(observers: Observers, max_rate: Option<NonZeroU64>) -> Hooks {
        Hooks {
            observers,
            max_rate,
        }
    }
}

/// Runs a program after each complete upload, with the uploaded file's real path
/// ([`TransferRecord::real_path`]) as its only argument: no shell, at most `max_running` at
/// once; up to `max_queued` more wait their turn and any beyond are dropped with a log line.
/// A program that cannot start or fails is logged; the session never hears of it.
pub struct UploadCommand {
    shared: Arc<Runner>,
}

struct Runner {
    program: PathBuf,
    max_running: usize,
    max_queued: usize,
    state: Mutex<RunState>,
    idle: Condvar,
}

#[derive(Default)]
struct RunState {
    running: usize,
    queue: VecDeque<PathBuf>,
}

impl fmt::Debug for UploadCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UploadCommand")
            .field("program", &self.shared.program)
            .finish_non_exhaustive()
    }
}

impl UploadCommand {
    /// Runs `program` after each complete upload, at most `max_running` (at least 1) at once,
    /// with up to `max_queued` waiting.
    pub fn new(program: impl Into<PathBuf>, max_running: usize, max_queued: usize) -> Self {
        UploadCommand {
            shared: Arc::new(Runner {
                program: program.into(),
                max_running: max_running.max(1),
                max_queued,
                state: Mutex::new(RunState::default()),
                idle: Condvar::new(),
            }),
        }
    }

    /// Waits up to `limit` until no command runs or waits; returns whether that happened.
    /// For tests and orderly shutdowns.
    pub fn wait_idle(&self, limit: Duration) -> bool {
        let state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        let (state, _) = self
            .shared
            .idle
            .wait_timeout_while(state, limit, |s| s.running > 0 || !s.queue.is_empty())
            .unwrap_or_else(|e| e.into_inner());
        state.running == 0 && state.queue.is_empty()
    }

    fn submit(&self, path: PathBuf) {
        let mut state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.running < self.shared.max_running {
            state.running += 1;
            drop(state);
            let runner = self.shared.clone();
            let spawned = std::thread::Builder::new()
                .name("on-upload".into())
                .spawn(move || runner.work(path));
            if let Err(e) = spawned {
                tracing::warn!("on-upload: no thread for the command: {e}");
                self.shared.finished_one();
            }
        } else if state.queue.len() < self.shared.max_queued {
            state.queue.push_back(path);
        } else {
            tracing::warn!(
                path = %path.display(),
                "on-upload: too many commands waiting, not run for this upload"
            );
        }
    }
}

impl Runner {
    /// Runs the command for `path`, then for queued paths until none is left.
    fn work(&self, mut path: PathBuf) {
        loop {
            let status = Command::new(&self.program)
                .arg(&path)
                .stdin(Stdio::null())
                .status();
            match status {
                Ok(s) if s.success() => {
                    tracing::debug!(path = %path.display(), "on-upload command done")
                }
                Ok(s) => tracing::warn!(
                    program = %self.program.display(),
                    path = %path.display(),
                    "on-upload command failed: {s}"
                ),
                Err(e) => tracing::warn!(
                    program = %self.program.display(),
                    path = %path.display(),
                    "on-upload command did not start: {e}"
                ),
            }
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            match state.queue.pop_front() {
                Some(next) => path = next,
                None => {
                    drop(state);
                    self.finished_one();
                    return;
                }
            }
        }
    }

    fn finished_one(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.running = state.running.saturating_sub(1);
        self.idle.notify_all();
    }
}

impl Observer for UploadCommand {
    fn event(&self, event: &Event) {
        if let Event::Transfer(TransferRecord {
            kind: TransferKind::Upload,
            complete: true,
            real_path,
            path,
            ..
        }) = event
        {
            match real_path {
                Some(p) => self.submit(p.clone()),
                None => tracing::warn!(
                    path = %String::from_utf8_lossy(path.as_bytes()).escape_debug(),
                    "on-upload: the storage has no real path for this file"
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(real: &std::path::Path, complete: bool) -> Event {
        Event::Transfer(TransferRecord {
            peer: "127.0.0.1:1".parse().unwrap(),
            user: "u".into(),
            anonymous: false,
            kind: TransferKind::Upload,
            path: VirtualPath::root(),
            real_path: Some(real.to_path_buf()),
            bytes: 1,
            duration: Duration::ZERO,
            ended: SystemTime::now(),
            complete,
            ascii: false,
        })
    }

    #[cfg(unix)]
    #[test]
    fn the_command_runs_once_per_complete_upload_and_queues_beyond_its_limit() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let script = dir.path().join("hook.sh");
        std::fs::write(
            &script,
            format!("#!/bin/sh\necho \"$1\" >> {}\n", out.display()),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let cmd = UploadCommand::new(&script, 2, 100);
        for i in 0..10 {
            cmd.event(&upload(&dir.path().join(format!("f{i}")), true));
        }
        cmd.event(&upload(&dir.path().join("cut"), false));
        assert!(cmd.wait_idle(Duration::from_secs(20)));
        let text = std::fs::read_to_string(&out).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines.sort();
        let mut want: Vec<String> = (0..10)
            .map(|i| dir.path().join(format!("f{i}")).display().to_string())
            .collect();
        want.sort();
        assert_eq!(lines, want);
    }

    #[test]
    fn a_missing_program_is_logged_not_fatal() {
        let cmd = UploadCommand::new("/nonexistent/hook", 1, 0);
        cmd.event(&upload(std::path::Path::new("/tmp/x"), true));
        // Queue of 0: the second waits nowhere and is dropped.
        cmd.event(&upload(std::path::Path::new("/tmp/y"), true));
        assert!(cmd.wait_idle(Duration::from_secs(10)));
    }
}
