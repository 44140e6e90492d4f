//! Users, homes, permissions and bans, end to end: each adapter's example server binary run
//! with `--users FILE` (and `--ban-after`), driven by curl, lftp and raw control connections.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ftp_tests::ctl::Ctl;
use ftp_tests::{adapter_tests, current_adapter, run_client, Adapter};

/// The package and example name of the current adapter's example server.
fn package() -> (&'static str, &'static str) {
    match current_adapter() {
        Adapter::Tokio => ("ftp-tokio", "server"),
        Adapter::Futures => ("ftp-futures", "futures-server"),
        Adapter::Mio => ("ftp-mio", "mio-server"),
    }
}

/// The current adapter's example server, built (once per test run) by cargo, which does
/// nothing when it is up to date.
fn server_bin() -> PathBuf {
    static BUILT: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let (package, name) = package();
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.contains(&name) {
        let profile = match dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev",
            Some(p) => p,
        };
        let status = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", package, "--example", name])
            .args(["--profile", profile])
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .status()
            .unwrap();
        assert!(status.success(), "building {package}'s {name} example");
        built.push(name);
    }
    dir.join("examples").join(name)
}

/// `server hash-password` of the current adapter's example, fed `password`.
fn hash(password: &str) -> String {
    let mut child = Command::new(server_bin())
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .trim_end()
        .to_string()
}

/// One example server process, killed on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
    root: tempfile::TempDir,
    /// Holds the users file, outside the served root.
    _conf: tempfile::TempDir,
}

impl Server {
    /// Serves a new temporary root with `users` (TOML) as the users file, after `prepare`
    /// has filled the root, with `extra` flags.
    fn start(users: &str, prepare: impl FnOnce(&Path), extra: &[&str]) -> Server {
        let root = tempfile::tempdir().unwrap();
        prepare(root.path());
        let conf = tempfile::tempdir().unwrap();
        let file = conf.path().join("users.toml");
        std::fs::write(&file, users).unwrap();
        let mut child = Command::new(server_bin())
            .args(["--listen", "127.0.0.1:0", "--root"])
            .arg(root.path())
            .arg("--users")
            .arg(&file)
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("the server printed its address")
                .unwrap();
            if let Some(rest) = line.split(" on ftp://").nth(1) {
                break rest.trim_end_matches('/').parse().unwrap();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Server {
            child,
            addr,
            root,
            _conf: conf,
        }
    }

    fn url(&self, user: &str, pass: &str, path: &str) -> String {
        format!("ftp://{user}:{pass}@{}/{path}", self.addr)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn curl(args: &[&str], dir: &Path) -> Output {
    let mut all = vec!["-sS", "--max-time", "20"];
    all.extend_from_slice(args);
    run_client("curl", &all, dir)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Two users with homes `alice` and `bob`, read-write, and an anonymous user homed in `pub`,
/// read-only.
fn two_users() -> String {
    let (a, b) = (hash("apw"), hash("bpw"));
    format!(
        "[[user]]\nname = \"alice\"\npassword = \"{a}\"\nhome = \"alice\"\n\
         permissions = \"read-write\"\n\n\
         [[user]]\nname = \"bob\"\npassword = \"{b}\"\nhome = \"bob\"\n\
         permissions = \"read-write\"\n\n\
         [[user]]\nname = \"anonymous\"\nhome = \"pub\"\n"
    )
}

fn homes(root: &Path) {
    for (dir, file) in [
        ("alice", "a-secret"),
        ("bob", "b-secret"),
        ("pub", "readme"),
    ] {
        std::fs::create_dir(root.join(dir)).unwrap();
        std::fs::write(root.join(dir).join(file), format!("{file}\n")).unwrap();
    }
    #[cfg(unix)]
    {
        // A link in alice's home to bob's, and one to the served root: neither may lead out.
        std::os::unix::fs::symlink(root.join("bob"), root.join("alice/to-bob")).unwrap();
        std::os::unix::fs::symlink("../bob/b-secret", root.join("alice/b-link")).unwrap();
    }
}

adapter_tests! {
    /// Each user's `/` is its own home: listings, downloads, uploads and links stay inside.
    fn two_users_cannot_see_each_others_files() {
        let s = Server::start(&two_users(), homes, &[]);
        let dir = tempfile::tempdir().unwrap();
        let list = curl(&["--list-only", &s.url("alice", "apw", "")], dir.path());
        assert!(list.status.success(), "{list:?}");
        let names = stdout(&list);
        assert!(names.contains("a-secret"), "{names}");
        assert!(!names.contains("b-secret") && !names.contains("readme"), "{names}");
        for path in ["b-secret", "../bob/b-secret", "to-bob/b-secret", "b-link", "%2Fbob/b-secret"] {
            let got = curl(&[&s.url("alice", "apw", path)], dir.path());
            assert!(!got.status.success(), "alice read {path}: {}", stdout(&got));
            assert!(!stdout(&got).contains("b-secret"), "{path}");
        }
        let listed = curl(&["--list-only", &s.url("alice", "apw", "to-bob/")], dir.path());
        assert!(!stdout(&listed).contains("b-secret"), "{listed:?}");
        // bob uploads with lftp: the file lands in bob's home, and alice cannot reach it.
        std::fs::write(dir.path().join("upload.txt"), b"from bob\n").unwrap();
        let script = format!(
            "set net:max-retries 1; open -u bob,bpw ftp://{}; put upload.txt; cls -1",
            s.addr
        );
        let lftp = run_client("lftp", &["-c", &script], dir.path());
        assert!(lftp.status.success(), "{lftp:?}");
        assert!(stdout(&lftp).contains("b-secret"), "{}", stdout(&lftp));
        assert_eq!(std::fs::read(s.path("bob/upload.txt")).unwrap(), b"from bob\n");
        assert!(!s.path("upload.txt").exists());
        let got = curl(&[&s.url("alice", "apw", "upload.txt")], dir.path());
        assert!(!got.status.success());
        // Anonymous logins get the anonymous user's home.
        let anon = curl(&["--list-only", &format!("ftp://{}/", s.addr)], dir.path());
        assert!(anon.status.success(), "{anon:?}");
        assert_eq!(stdout(&anon).trim(), "readme");
    }

    /// A read-only user gets 550, naming what is refused, for every write; reading works.
    fn read_only_user_gets_550_for_writes() {
        let users = format!(
            "[[user]]\nname = \"reader\"\npassword = \"{}\"\npermissions = \"read-only\"\n",
            hash("rpw")
        );
        let s = Server::start(&users, |root| {
            std::fs::write(root.join("file"), b"data\n").unwrap();
            std::fs::create_dir(root.join("dir")).unwrap();
        }, &[]);
        let mut c = Ctl::connect(s.addr);
        assert!(c.reply().starts_with("220"));
        assert!(c.cmd("USER reader").starts_with("331"));
        assert!(c.cmd("PASS rpw").starts_with("230"));
        for (cmd, what) in [
            ("STOR new", "upload"),
            ("DELE file", "delete"),
            ("RNFR file", "rename"),
            ("MKD sub", "mkdir"),
            ("RMD dir", "rmdir"),
            ("APPE file", "append"),
        ] {
            let r = c.cmd(cmd);
            assert!(r.starts_with("550 ") && r.contains(what), "{cmd}: {r}");
        }
        assert!(c.cmd("SIZE file").starts_with("213"));
        assert!(s.path("file").exists() && !s.path("new").exists() && !s.path("sub").exists());
        // curl: downloads work, an upload is refused and writes nothing.
        let dir = tempfile::tempdir().unwrap();
        let got = curl(&[&s.url("reader", "rpw", "file")], dir.path());
        assert_eq!(stdout(&got), "data\n");
        std::fs::write(dir.path().join("up"), b"x").unwrap();
        let put = curl(&["-T", "up", &s.url("reader", "rpw", "up")], dir.path());
        assert!(!put.status.success(), "{put:?}");
        assert!(String::from_utf8_lossy(&put.stderr).contains("550"), "{put:?}");
        assert!(!s.path("up").exists());
        // lftp's rm is refused as well.
        let script = format!("set net:max-retries 1; open -u reader,rpw ftp://{}; rm file", s.addr);
        let rm = run_client("lftp", &["-c", &script], dir.path());
        assert!(!rm.status.success(), "{rm:?}");
        assert!(s.path("file").exists());
    }

    /// A wrong password is 530; the right one logs in.
    fn wrong_password_is_530() {
        let s = Server::start(&two_users(), homes, &[]);
        let mut c = Ctl::connect(s.addr);
        assert!(c.reply().starts_with("220"));
        assert!(c.cmd("USER alice").starts_with("331"));
        assert!(c.cmd("PASS bpw").starts_with("530"));
        assert!(c.cmd("USER alice").starts_with("331"));
        assert!(c.cmd("PASS apw").starts_with("230"));
        let dir = tempfile::tempdir().unwrap();
        let bad = curl(&["--list-only", &s.url("alice", "nope", "")], dir.path());
        // curl's exit code 67: the server denied the login.
        assert_eq!(bad.status.code(), Some(67), "{bad:?}");
    }

    /// After two failed logins the address's new connections get 421, until the ban ends.
    fn a_ban_triggers_and_expires() {
        let s = Server::start(
            &two_users(),
            homes,
            &["--ban-after", "2", "--ban-window", "60", "--ban-time", "3"],
        );
        let mut c = Ctl::connect(s.addr);
        assert!(c.reply().starts_with("220"));
        assert!(c.cmd("USER alice").starts_with("331"));
        assert!(c.cmd("PASS wrong1").starts_with("530"));
        // One failure does not ban: a new connection is served.
        let mut other = Ctl::connect(s.addr);
        assert!(other.reply().starts_with("220"));
        assert!(c.cmd("USER alice").starts_with("331"));
        assert!(c.cmd("PASS wrong2").starts_with("530"));
        let banned_at = Instant::now();
        // Banned: a new connection is refused, and so is a login on a connection that was
        // open before the ban, even with the right password.
        let r = Ctl::connect(s.addr).reply();
        assert!(r.starts_with("421 "), "{r}");
        assert!(other.cmd("USER alice").starts_with("331"));
        assert!(other.cmd("PASS apw").starts_with("530"));
        let dir = tempfile::tempdir().unwrap();
        let refused = curl(&["--list-only", &s.url("alice", "apw", "")], dir.path());
        assert!(!refused.status.success(), "{refused:?}");
        // The ban ends after --ban-time.
        std::thread::sleep(Duration::from_secs(3).saturating_sub(banned_at.elapsed()) + Duration::from_millis(500));
        let ok = curl(&["--list-only", &s.url("alice", "apw", "")], dir.path());
        assert!(ok.status.success(), "{ok:?}");
        assert!(stdout(&ok).contains("a-secret"));
    }

    /// `server hash-password` prints an argon2id PHC string that logs the user in.
    fn hash_password_output_verifies() {
        let phc = hash("pa ss wörd");
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert_ne!(phc, hash("pa ss wörd"), "a fresh salt each time");
        let users = format!("[[user]]\nname = \"h\"\npassword = \"{phc}\"\npermissions = [\"list\"]\n");
        let s = Server::start(&users, |root| std::fs::write(root.join("f"), b"").unwrap(), &[]);
        let dir = tempfile::tempdir().unwrap();
        let ok = curl(&["--list-only", &s.url("h", "pa%20ss%20w%C3%B6rd", "")], dir.path());
        assert!(ok.status.success(), "{ok:?}");
        assert_eq!(stdout(&ok).trim(), "f");
        // `list` only: no download.
        let get = curl(&[&s.url("h", "pa%20ss%20w%C3%B6rd", "f")], dir.path());
        assert!(!get.status.success(), "{get:?}");
    }

    /// A malformed users file stops the server at start-up with the file and line named.
    fn malformed_users_file_names_the_line() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("users.toml");
        for (text, line, word) in [
            ("[[user]]\nname = \"a\"\n\npasword = \"x\"\n", 4, "pasword"),
            ("[[user]]\nname = \"a\"\npassword = \"plain\"\n", 3, "PHC"),
            ("# users\n[[user]\n", 2, ""),
            ("[[user]]\nname = \"anonymous\"\npermissions = [\"list\", \"write\"]\n", 3, "write"),
        ] {
            std::fs::write(&file, text).unwrap();
            let out = Command::new(server_bin())
                .args(["--listen", "127.0.0.1:0", "--root"])
                .arg(root.path())
                .arg("--users")
                .arg(&file)
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{text}");
            let named = format!("{}, line {line}: ", file.display());
            assert!(err.contains(&named) && err.contains(word), "{text:?}: {err}");
        }
    }
}

/// `--user` still works, with a warning on stderr that the password is visible.
#[test]
fn user_flag_warns() {
    let root = tempfile::tempdir().unwrap();
    let mut child = Command::new(server_bin())
        .args(["--listen", "127.0.0.1:0", "--user", "u:p", "--root"])
        .arg(root.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--user") && err.contains("other local users"),
        "{err}"
    );
}
