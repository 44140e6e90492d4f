//! Users, homes, permissions and bans, end to end: each adapter's example server binary run
//! with `--users FILE` (and `--ban-after`), driven by curl, lftp and raw control connections.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ftp_tests::ctl::Ctl;
use ftp_tests::{adapter_tests, run_client};

/// The current adapter's example server, built by cargo on first use.
fn server_bin() -> PathBuf {
    ftp_tests::examples::server_bin(&[])
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
    /// Where `--metrics` serves, when given.
    metrics: Option<SocketAddr>,
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
        let mut command = Command::new(server_bin());
        command
            .args(["--listen", "127.0.0.1:0", "--root"])
            .arg(root.path())
            .arg("--users")
            .arg(&file)
            .args(extra);
        let ftp_tests::examples::Spawned {
            child,
            addr,
            before,
        } = ftp_tests::examples::spawn_server(command);
        let metrics = before.iter().find_map(|line| {
            let rest = line.strip_prefix("metrics on http://")?;
            Some(rest.trim_end_matches("/metrics").parse().unwrap())
        });
        Server {
            child,
            addr,
            metrics,
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

/// What `f` returns once it is `Some`, polled for up to 10 s.
fn wait_for<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(Instant::now() < end, "timed out");
        std::thread::sleep(Duration::from_millis(20));
    }
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

    /// `--max-rate` paces curl's download and upload, and a user's `max_rate` wins over it:
    /// each takes size / rate (not less; a little more for the logins and the data set-up).
    fn rate_limits_hold_for_downloads_and_uploads() {
        const RATE: usize = 256 * 1024;
        const SIZE: usize = 640 * 1024; // 2.5 s at RATE
        let users = format!(
            "[[user]]\nname = \"fast\"\npassword = \"{}\"\npermissions = \"read-write\"\n\
             max_rate = {}\n\n\
             [[user]]\nname = \"plain\"\npassword = \"{}\"\npermissions = \"read-write\"\n",
            hash("fpw"),
            RATE * 2,
            hash("ppw")
        );
        let body = ftp_tests::content(SIZE, 12);
        let b = body.clone();
        let s = Server::start(&users, move |root| std::fs::write(root.join("big"), &b).unwrap(), &["--max-rate", &RATE.to_string()]);
        let dir = tempfile::tempdir().unwrap();
        let timed = |args: &[&str]| {
            let start = Instant::now();
            let out = curl(args, dir.path());
            assert!(out.status.success(), "{out:?}");
            start.elapsed().as_secs_f64()
        };
        let expected = SIZE as f64 / RATE as f64;
        let check = |what: &str, secs: f64, expected: f64| {
            eprintln!("{what}: {secs:.2} s for {expected:.2} s at the set rate");
            // At most RateLimit's CATCH_UP (0.1 s) faster; slower by whatever a busy machine
            // adds to the logins, the data connection and the pacing threads' wake-ups.
            assert!(secs >= expected - 0.1, "{what}: {secs:.2} s, under {expected:.2} s");
            assert!(secs <= expected * 1.5 + 1.0, "{what}: {secs:.2} s, far over {expected:.2} s");
        };
        let got = dir.path().join("got");
        let down = timed(&["-o", "got", &s.url("plain", "ppw", "big")]);
        assert_eq!(std::fs::read(&got).unwrap(), body);
        check("download", down, expected);
        std::fs::write(dir.path().join("up"), &body).unwrap();
        let up = timed(&["-T", "up", &s.url("plain", "ppw", "up")]);
        assert_eq!(std::fs::read(s.path("up")).unwrap(), body);
        check("upload", up, expected);
        // The user's own rate, twice --max-rate: half the time.
        let fast = timed(&["-o", "got", &s.url("fast", "fpw", "big")]);
        assert_eq!(std::fs::read(&got).unwrap(), body);
        check("download at the user's rate", fast, expected / 2.0);
    }

    /// `--xferlog`, `--on-upload` and `--metrics` record the same transfers: one xferlog line
    /// each (byte counts exact, an aborted download `i`), the hook run once per complete
    /// upload with the file's real path, and the counters on the metrics page.
    fn xferlog_on_upload_and_metrics_match_the_transfers() {
        let conf = tempfile::tempdir().unwrap();
        let xferlog = conf.path().join("xferlog");
        let hooked = conf.path().join("hooked");
        let script = conf.path().join("hook.sh");
        std::fs::write(&script, format!("#!/bin/sh\necho \"$1\" >> '{}'\n", hooked.display())).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let big = ftp_tests::content(4 << 20, 3);
        let b = big.clone();
        let s = Server::start(&two_users(), move |root| {
            homes(root);
            std::fs::write(root.join("alice/big"), &b).unwrap();
        }, &[
            "--xferlog", xferlog.to_str().unwrap(),
            "--on-upload", script.to_str().unwrap(),
            "--metrics", "127.0.0.1:0",
            "--ban-after", "1",
        ]);
        let dir = tempfile::tempdir().unwrap();
        let one = ftp_tests::content(1000, 1);
        let two = ftp_tests::content(70_000, 2);
        std::fs::write(dir.path().join("one"), &one).unwrap();
        std::fs::write(dir.path().join("two"), &two).unwrap();
        for f in ["one", "two"] {
            let put = curl(&["-T", f, &s.url("alice", "apw", &format!("up-{f}"))], dir.path());
            assert!(put.status.success(), "{put:?}");
        }
        let get = curl(&["-o", "got", &s.url("bob", "bpw", "b-secret")], dir.path());
        assert!(get.status.success(), "{get:?}");
        // A download aborted part-way.
        let mut c = Ctl::connect(s.addr);
        assert!(c.reply().starts_with("220"));
        assert!(c.cmd("USER alice").starts_with("331"));
        assert!(c.cmd("PASS apw").starts_with("230"));
        assert!(c.cmd("TYPE I").starts_with("200"));
        let mut data = c.data(s.addr);
        let r = c.cmd("RETR big");
        assert!(r.starts_with("150") || r.starts_with("125"), "{r}");
        let mut buf = [0u8; 1000];
        std::io::Read::read_exact(&mut data, &mut buf).unwrap();
        assert!(c.cmd("ABOR").starts_with("426"));
        assert!(c.reply().starts_with("226"));
        // An active data connection nobody accepts.
        let closed = ftp_tests::ctl::ClosedPort::new();
        c.port_to(closed.port());
        assert!(c.transfer_cmd("LIST").starts_with("425"));
        assert!(c.cmd("QUIT").starts_with("221"));
        // A wrong password, last: with --ban-after 1 it bans this address.
        let bad = curl(&["--list-only", &s.url("bob", "wrong", "")], dir.path());
        assert!(!bad.status.success());

        // The xferlog: four lines, in order, with exact counts for the complete ones.
        let lines = wait_for(|| {
            let text = std::fs::read_to_string(&xferlog).unwrap_or_default();
            (text.lines().count() >= 4).then_some(text)
        });
        let rows: Vec<Vec<&str>> = lines.lines().map(|l| l.split_whitespace().collect()).collect();
        assert_eq!(rows.len(), 4, "{lines}");
        for (row, (bytes, name, dir, user, done)) in rows.iter().zip([
            ("1000", "/up-one", "i", "alice", "c"),
            ("70000", "/up-two", "i", "alice", "c"),
            ("9", "/b-secret", "o", "bob", "c"),
            ("", "/big", "o", "alice", "i"),
        ]) {
            assert_eq!(row.len(), 18, "{row:?}");
            assert_eq!(row[6], "127.0.0.1", "{row:?}");
            if !bytes.is_empty() {
                assert_eq!(row[7], bytes, "{row:?}");
            } else {
                let n: usize = row[7].parse().unwrap();
                // A zero-copy send counts its bytes as each sendfile call returns: maybe none yet.
                assert!(n < big.len(), "{row:?}");
            }
            assert_eq!(&row[8..], [name, "b", "_", dir, "r", user, "ftp", "0", "*", done], "{row:?}");
        }
        // The hook: once per complete upload, with the real path.
        let root = std::fs::canonicalize(s.root.path()).unwrap();
        let ran = wait_for(|| {
            let text = std::fs::read_to_string(&hooked).unwrap_or_default();
            (text.lines().count() >= 2).then_some(text)
        });
        let mut ran: Vec<&str> = ran.lines().collect();
        ran.sort();
        let want = [root.join("alice/up-one"), root.join("alice/up-two")];
        assert_eq!(ran, want.iter().map(|p| p.to_str().unwrap()).collect::<Vec<_>>());
        // The metrics page.
        let url = format!("http://{}/metrics", s.metrics.unwrap());
        let page = stdout(&curl(&[&url], dir.path()));
        for want in [
            "ftp_transfers_total{direction=\"upload\",complete=\"true\"} 2\n",
            "ftp_transfer_bytes_total{direction=\"upload\"} 71000\n",
            "ftp_transfers_total{direction=\"download\",complete=\"true\"} 1\n",
            "ftp_transfers_total{direction=\"download\",complete=\"false\"} 1\n",
            "ftp_logins_total{result=\"ok\"} 4\n",
            "ftp_logins_total{result=\"failed\"} 1\n",
            "ftp_sessions_total 5\n",
            "ftp_data_connection_failures_total 1\n",
            "ftp_bans_total 1\n",
        ] {
            assert!(page.contains(want), "{want:?} not in:\n{page}");
        }
        // Exactly once: no late second run.
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(std::fs::read_to_string(&hooked).unwrap().lines().count(), 2);
    }

    /// Logins, logouts and transfers are logged at INFO with the user, path, bytes and
    /// duration; a password never is.
    fn logins_logouts_and_transfers_are_logged() {
        use ftp_tests::logs::{log, log_line};
        log();
        let srv = ftp_tests::TestServer::start();
        let name = format!("logged-{}.bin", srv.addr.port());
        srv.put_file(&name, &ftp_tests::content(5000, 9));
        let mut c = Ctl::connect(srv.addr);
        let peer = format!("peer={}", c.w.local_addr().unwrap());
        c.login();
        assert!(c.cmd("TYPE I").starts_with("200"));
        let mut data = c.data(srv.addr);
        let r = c.cmd(&format!("RETR {name}"));
        assert!(r.starts_with("150") || r.starts_with("125"), "{r}");
        let mut got = Vec::new();
        std::io::Read::read_to_end(&mut data, &mut got).unwrap();
        assert_eq!(got.len(), 5000);
        assert!(c.reply().starts_with("226"));
        assert!(c.cmd("QUIT").starts_with("221"));
        let user = format!("user={}", ftp_tests::USER);
        let line = log_line(&[&peer, &user, "logged in"]);
        assert!(line.contains("INFO"), "{line}");
        let line = log_line(&[&peer, &name, "transfer"]);
        assert!(line.contains("INFO") && line.contains(&user), "{line}");
        assert!(line.contains("kind=download") && line.contains("bytes=5000"), "{line}");
        assert!(line.contains("complete=true") && line.contains("secs="), "{line}");
        let line = log_line(&[&peer, &user, "logged out"]);
        assert!(line.contains("INFO"), "{line}");
        let text = String::from_utf8_lossy(&log().lock().unwrap()).into_owned();
        assert!(!text.contains(ftp_tests::PASS), "a password in the log");
    }

    /// A library observer hears a session's login, mkdir, upload (path and size), download,
    /// rename, delete and logout, in order, from every adapter.
    fn an_observer_hears_every_session_event() {
        use ftp_host::events::{Event, Observer, Observers, TransferKind};
        use std::sync::Arc;
        #[derive(Default)]
        struct Record(Mutex<Vec<Event>>);
        impl Observer for Record {
            fn event(&self, e: &Event) {
                self.0.lock().unwrap().push(e.clone());
            }
        }
        let record = Arc::new(Record::default());
        let mut observers = Observers::new();
        observers.push(record.clone());
        let srv = ftp_tests::TestServer::with(ftp_tests::Options {
            observers,
            ..Default::default()
        });
        let mut c = Ctl::connect(srv.addr);
        let me = c.w.local_addr().unwrap();
        c.login();
        assert!(c.cmd("MKD d").starts_with("257"));
        assert!(c.cmd("TYPE I").starts_with("200"));
        let mut data = c.data(srv.addr);
        let r = c.cmd("STOR d/f");
        assert!(r.starts_with("150") || r.starts_with("125"), "{r}");
        data.write_all(&[7u8; 3000]).unwrap();
        drop(data);
        assert!(c.reply().starts_with("226"));
        let mut data = c.data(srv.addr);
        assert!(c.transfer_cmd("RETR d/f").starts_with("226"));
        let mut got = Vec::new();
        std::io::Read::read_to_end(&mut data, &mut got).unwrap();
        assert_eq!(got.len(), 3000);
        assert!(c.cmd("RNFR d/f").starts_with("350"));
        assert!(c.cmd("RNTO d/g").starts_with("250"));
        assert!(c.cmd("DELE d/g").starts_with("250"));
        assert!(c.cmd("QUIT").starts_with("221"));
        let events = wait_for(|| {
            let events = record.0.lock().unwrap().clone();
            let ended = events.iter().any(|e| matches!(e, Event::SessionEnded { peer } if *peer == me));
            ended.then_some(events)
        });
        let mine: Vec<String> = events
            .iter()
            .filter_map(|e| {
                let line = match e {
                    Event::SessionStarted { peer } if *peer == me => "start".to_string(),
                    Event::LoggedIn { peer, user, anonymous } if *peer == me => format!("login {user} {anonymous}"),
                    Event::MadeDir { peer, path, .. } if *peer == me => format!("mkdir {path}"),
                    Event::Transfer(t) if t.peer == me => {
                        let real = t.real_path.as_ref().map(|p| p.ends_with("d/f"));
                        format!("{} {} {} {} {:?}", t.kind.as_str(), t.path, t.bytes, t.complete, real)
                    }
                    Event::Renamed { peer, from, to, .. } if *peer == me => format!("rename {from} {to}"),
                    Event::Deleted { peer, user, path } if *peer == me => format!("delete {path} {user}"),
                    Event::LoggedOut { peer, user } if *peer == me => format!("logout {user}"),
                    Event::SessionEnded { peer } if *peer == me => "end".to_string(),
                    _ => return None,
                };
                Some(line)
            })
            .collect();
        let user = ftp_tests::USER;
        assert_eq!(
            mine,
            [
                "start".to_string(),
                format!("login {user} false"),
                "mkdir /d".into(),
                "upload /d/f 3000 true Some(true)".into(),
                "download /d/f 3000 true None".into(),
                "rename /d/f /d/g".into(),
                format!("delete /d/g {user}"),
                format!("logout {user}"),
                "end".into(),
            ]
        );
        assert!(events.iter().all(|e| !matches!(e, Event::Transfer(t) if t.kind == TransferKind::Listing && t.peer == me)));
    }

    /// A rate-limited upload that takes longer than the data timeout is not taken for
    /// stalled while its paced bytes keep being stored (the network side, its queue full,
    /// reads nothing for that long).
    fn a_slow_rate_limited_upload_is_not_taken_for_stalled() {
        let users = format!(
            "[[user]]\nname = \"u\"\npassword = \"{}\"\npermissions = \"read-write\"\n",
            hash("pw")
        );
        let s = Server::start(&users, |_| {}, &["--max-rate", "8192", "--data-timeout", "2"]);
        let dir = tempfile::tempdir().unwrap();
        let body = ftp_tests::content(32 * 1024, 5);
        std::fs::write(dir.path().join("up"), &body).unwrap();
        let start = Instant::now();
        let put = curl(&["-T", "up", &s.url("u", "pw", "up")], dir.path());
        assert!(put.status.success(), "{put:?}");
        assert!(start.elapsed() >= Duration::from_millis(3800), "{:?}", start.elapsed());
        assert_eq!(std::fs::read(s.path("up")).unwrap(), body);
    }

    /// Observers hear of a transfer only after its final reply is flushed: an observer that
    /// waits for the client to have read the 226 is not waiting for ever.
    fn an_upload_is_observed_after_its_226() {
        use ftp_host::events::{Event, Observer, Observers};
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        #[derive(Default)]
        struct Waits {
            client_has_226: AtomicBool,
            seen_after: Mutex<Option<bool>>,
        }
        impl Observer for Waits {
            fn event(&self, e: &Event) {
                if let Event::Transfer(_) = e {
                    let end = Instant::now() + Duration::from_secs(5);
                    while !self.client_has_226.load(Ordering::SeqCst) && Instant::now() < end {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    *self.seen_after.lock().unwrap() = Some(self.client_has_226.load(Ordering::SeqCst));
                }
            }
        }
        let waits = Arc::new(Waits::default());
        let mut observers = Observers::new();
        observers.push(waits.clone());
        let srv = ftp_tests::TestServer::with(ftp_tests::Options {
            observers,
            ..Default::default()
        });
        let mut c = Ctl::connect(srv.addr);
        c.login();
        let mut data = c.data(srv.addr);
        let r = c.cmd("STOR f");
        assert!(r.starts_with("150") || r.starts_with("125"), "{r}");
        data.write_all(b"hello").unwrap();
        drop(data);
        assert!(c.reply().starts_with("226"));
        waits.client_has_226.store(true, Ordering::SeqCst);
        let seen = wait_for(|| *waits.seen_after.lock().unwrap());
        assert!(seen, "the observer ran before the 226 was sent");
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

/// Every adapter re-exports the host's user, permission, ban and event types, so a server
/// written against one adapter's `server` module names the same types on another.
#[test]
fn adapters_reexport_the_same_user_types() {
    fn same<T>(_: &T, _: &T) {}
    let user = ftp_tokio::server::User::new("u")
        .with_permissions(ftp_futures::server::Permissions::READ_ONLY);
    same(&user, &ftp_mio::server::User::new("u"));
    same(&user, &ftp_futures::server::Grant::new("u"));
    let policy = ftp_mio::server::BanPolicy::new(3);
    same(&policy, &ftp_tokio::server::BanPolicy::new(3));
    let observers = ftp_futures::server::Observers::new();
    same(&observers, &ftp_mio::ftp_host::events::Observers::new());
    same(&observers, &ftp_tokio::ftp_host::events::Observers::new());
}
