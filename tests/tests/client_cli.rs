//! The example client's everyday features (issue 14), through each adapter's example binary:
//! `--continue` both ways, `mirror` both ways, `get` with a pattern, credentials from a netrc
//! file and `FTP_PASSWORD`, the progress bar on a terminal, against our server, vsftpd and
//! pyftpdlib; and a scripted server for what no real server sends (a hostile listing, REST
//! refused before STOR).

mod example_client;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use example_client::example;

use ftp_tests::peers::{PeerKind, PeerServer, PeerTls, PEER_PASS, PEER_USER};
use ftp_tests::{content, sha256, sha256_file, Options, TestServer};

/// Runs the example client with `args` (and `envs`), under a time limit.
fn client_env(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new("timeout");
    cmd.args(["-k", "5", "120"])
        .arg(example())
        .args(["--timeout", "20"])
        .args(args)
        .env_remove("FTP_PASSWORD")
        .stdin(std::process::Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn client(args: &[&str]) -> Output {
    client_env(args, &[])
}

fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(args: &[&str]) -> Output {
    let out = client(args);
    assert!(out.status.success(), "client {args:?}: {}", text(&out));
    out
}

/// A server to run the client against: its base URL (`ftp://user:pass@host:port`), the
/// directory its user lands in, and what keeps it running.
struct Target {
    base: String,
    root: PathBuf,
    _keep: Box<dyn std::any::Any>,
}

impl Target {
    fn ours() -> Target {
        let server = TestServer::start();
        Target {
            base: format!(
                "ftp://{}:{}@{}",
                ftp_tests::USER,
                ftp_tests::PASS,
                server.addr
            ),
            root: server.root.path().to_path_buf(),
            _keep: Box::new(server),
        }
    }

    fn peer(kind: PeerKind) -> Target {
        let server = PeerServer::start(kind, PeerTls::Off).unwrap();
        Target {
            base: format!("ftp://{PEER_USER}:{PEER_PASS}@{}", server.addr),
            root: server.root.clone(),
            _keep: Box::new(server),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }

    /// Writes a file the server's user may read and overwrite.
    fn put(&self, rel: &str, bytes: &[u8]) {
        let path = self.root.join(rel);
        if let Some(dir) = path.parent() {
            make_dirs(dir);
        }
        std::fs::write(&path, bytes).unwrap();
        open_up(&path, 0o666);
    }
}

fn open_up(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `create_dir_all` with every directory open to the peer servers' user.
fn make_dirs(dir: &Path) {
    if dir.is_dir() {
        return;
    }
    if let Some(parent) = dir.parent() {
        make_dirs(parent);
    }
    std::fs::create_dir(dir).unwrap();
    open_up(dir, 0o777);
}

// ---------------------------------------------------------------------------------------
// --continue

/// `get -C` and `put -C` after a cut: the partial file is kept and completed.
fn resume_both_ways(t: &Target) {
    let work = tempfile::tempdir().unwrap();
    let data = content(1_000_003, 14);
    t.put("big.bin", &data);

    // A download cut at 300,000 bytes: the rest is fetched, byte for byte the server's file.
    let local = work.path().join("big.bin");
    std::fs::write(&local, &data[..300_000]).unwrap();
    let out = ok(&["-C", "get", &t.url("big.bin"), local.to_str().unwrap()]);
    assert_eq!(sha256_file(&local), sha256(&data), "{}", text(&out));
    // Resumed, not fetched again: a marked prefix stays as it was.
    let mut marked = data[..300_000].to_vec();
    marked[..6].copy_from_slice(b"MARKED");
    std::fs::write(&local, &marked).unwrap();
    ok(&[
        "--continue",
        "get",
        &t.url("big.bin"),
        local.to_str().unwrap(),
    ]);
    let got = std::fs::read(&local).unwrap();
    assert_eq!(&got[..6], b"MARKED");
    assert_eq!(sha256(&got[6..]), sha256(&data[6..]));
    // Complete already: nothing to do, success.
    std::fs::write(&local, &data).unwrap();
    let out = ok(&["-C", "get", &t.url("big.bin"), local.to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already complete"),
        "{}",
        text(&out)
    );
    // A local file longer than the server's is refused, naming both sizes.
    let mut longer = data.clone();
    longer.push(0);
    std::fs::write(&local, &longer).unwrap();
    let out = client(&["-C", "get", &t.url("big.bin"), local.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("larger"),
        "{}",
        text(&out)
    );

    // An upload cut at 400,000 bytes: the server's file is completed.
    let up = work.path().join("up.bin");
    std::fs::write(&up, &data).unwrap();
    t.put("up.bin", &data[..400_000]);
    ok(&["-C", "put", up.to_str().unwrap(), &t.url("up.bin")]);
    assert_eq!(sha256_file(&t.root.join("up.bin")), sha256(&data));
    // Resumed, not sent again: the server's marked prefix stays.
    let mut marked = data[..400_000].to_vec();
    marked[..6].copy_from_slice(b"MARKED");
    t.put("up.bin", &marked);
    ok(&["-C", "put", up.to_str().unwrap(), &t.url("up.bin")]);
    let got = std::fs::read(t.root.join("up.bin")).unwrap();
    assert_eq!(&got[..6], b"MARKED");
    assert_eq!(sha256(&got[6..]), sha256(&data[6..]));
    // No file on the server yet: -C uploads it whole.
    ok(&["-C", "put", up.to_str().unwrap(), &t.url("new.bin")]);
    assert_eq!(sha256_file(&t.root.join("new.bin")), sha256(&data));

    // A failure names the operation, the path and the server's reply, on one line.
    let out = client(&["-C", "get", &t.url("missing.bin"), local.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("missing.bin") && err.contains("server replied \"550"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------
// mirror

/// Writes a tree of `files` files in nested directories under `dir`; returns their paths
/// relative to `dir`.
fn make_tree(dir: &Path, files: usize, seed: u64) -> Vec<String> {
    let dirs = [
        "", "a", "a/b", "a/b/c", "a/b/c/d", "e", "e/f g", "h", "h/i", "h/i/j",
    ];
    let mut made = Vec::new();
    for n in 0..files {
        let d = dirs[n % dirs.len()];
        let rel = if d.is_empty() {
            format!("file{n:03}.dat")
        } else {
            format!("{d}/file{n:03}.dat")
        };
        let path = dir.join(&rel);
        make_dirs(path.parent().unwrap());
        std::fs::write(&path, content((n * 997) % 20_000, seed + n as u64)).unwrap();
        open_up(&path, 0o666);
        made.push(rel);
    }
    // An empty directory is mirrored too.
    make_dirs(&dir.join("empty"));
    made
}

/// Every file under `dir` (relative path to SHA-256) and every directory.
fn snapshot(dir: &Path) -> (BTreeMap<String, String>, Vec<String>) {
    fn walk(root: &Path, dir: &Path, files: &mut BTreeMap<String, String>, dirs: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let rel = e
                .path()
                .strip_prefix(root)
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            if e.file_type().unwrap().is_dir() {
                dirs.push(rel);
                walk(root, &e.path(), files, dirs);
            } else {
                files.insert(rel, sha256_file(&e.path()));
            }
        }
    }
    let (mut files, mut dirs) = (BTreeMap::new(), Vec::new());
    walk(dir, dir, &mut files, &mut dirs);
    dirs.sort();
    (files, dirs)
}

fn summary(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.starts_with("mirror: "))
        .unwrap_or_else(|| panic!("no summary: {}", text(out)))
        .to_owned()
}

/// `mirror` down and `mirror -R` up of a 200-file tree, byte for byte, then again with
/// nothing to transfer.
fn mirror_both_ways(t: &Target) {
    let work = tempfile::tempdir().unwrap();
    // Down: the server's tree into a new directory.
    let files = make_tree(&t.root.join("tree"), 200, 1);
    let down = work.path().join("down");
    let out = ok(&["mirror", &t.url("tree"), down.to_str().unwrap()]);
    assert!(
        summary(&out).starts_with("mirror: 200 files transferred"),
        "{}",
        text(&out)
    );
    let (got, dirs) = snapshot(&down);
    assert_eq!(got.len(), files.len());
    assert_eq!(got, snapshot(&t.root.join("tree")).0);
    assert!(dirs.contains(&"empty".to_owned()) && dirs.contains(&"e/f g".to_owned()));
    let out = ok(&["mirror", &t.url("tree"), down.to_str().unwrap()]);
    assert!(
        summary(&out).starts_with("mirror: 0 files transferred (0 bytes), 200 up to date"),
        "{}",
        text(&out)
    );
    // A file changed on the server is fetched again, and only that one.
    t.put("tree/a/b/file002.dat", b"changed on the server");
    let out = ok(&["mirror", &t.url("tree"), down.to_str().unwrap()]);
    assert!(
        summary(&out).starts_with("mirror: 1 files transferred"),
        "{}",
        text(&out)
    );
    assert_eq!(
        std::fs::read(down.join("a/b/file002.dat")).unwrap(),
        b"changed on the server"
    );

    // Up: a local tree to a directory the server does not have yet.
    let local = work.path().join("local");
    make_tree(&local, 200, 2);
    let out = ok(&["mirror", "-R", local.to_str().unwrap(), &t.url("up")]);
    assert!(
        summary(&out).starts_with("mirror: 200 files transferred"),
        "{}",
        text(&out)
    );
    let (want, want_dirs) = snapshot(&local);
    let (got, got_dirs) = snapshot(&t.root.join("up"));
    assert_eq!(got, want);
    assert_eq!(got_dirs, want_dirs);
    let out = ok(&["mirror", "-R", local.to_str().unwrap(), &t.url("up")]);
    assert!(
        summary(&out).starts_with("mirror: 0 files transferred (0 bytes), 200 up to date"),
        "{}",
        text(&out)
    );
    // A local change of size is sent again.
    std::fs::write(local.join("h/i/file007.dat"), b"changed here").unwrap();
    let out = ok(&["mirror", "-R", local.to_str().unwrap(), &t.url("up")]);
    assert!(
        summary(&out).starts_with("mirror: 1 files transferred"),
        "{}",
        text(&out)
    );
    assert_eq!(
        std::fs::read(t.root.join("up/h/i/file007.dat")).unwrap(),
        b"changed here"
    );
}

/// How a server shows a symbolic link in its listings.
#[derive(PartialEq)]
enum Links {
    /// Not at all (our server).
    Hidden,
    /// As a link (vsftpd's LIST).
    Listed,
    /// As the file it points to (pyftpdlib's MLSD): the client cannot tell.
    Followed,
}

/// Symbolic links are never followed by the client and are skipped with a note, both ways.
fn mirror_skips_links(t: &Target, links: Links) {
    let work = tempfile::tempdir().unwrap();
    t.put("links/real.txt", b"real");
    std::os::unix::fs::symlink("/etc/passwd", t.root.join("links/to-passwd")).unwrap();
    let down = work.path().join("down");
    if links != Links::Followed {
        let out = ok(&["mirror", &t.url("links"), down.to_str().unwrap()]);
        assert_eq!(std::fs::read(down.join("real.txt")).unwrap(), b"real");
        assert!(!down.join("to-passwd").exists());
        assert!(
            links == Links::Hidden
                || String::from_utf8_lossy(&out.stderr)
                    .contains("skipping symbolic link links/to-passwd"),
            "{}",
            text(&out)
        );
    }
    let local = work.path().join("local");
    std::fs::create_dir(&local).unwrap();
    std::fs::write(local.join("f.txt"), b"f").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", local.join("link")).unwrap();
    let out_up = ok(&["mirror", "-R", local.to_str().unwrap(), &t.url("linksup")]);
    assert!(
        String::from_utf8_lossy(&out_up.stderr).contains("skipping symbolic link"),
        "{}",
        text(&out_up)
    );
    assert!(!t.root.join("linksup/link").exists());
    assert_eq!(std::fs::read(t.root.join("linksup/f.txt")).unwrap(), b"f");
}

/// A local directory or file in the way that is a symbolic link (to outside the target) is
/// never written through: the entry is skipped with a warning.
fn mirror_never_writes_through_local_links(t: &Target) {
    t.put("through/sub/f.txt", b"inside");
    t.put("through/g.txt", b"gee");
    let work = tempfile::tempdir().unwrap();
    let outside = work.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("g-target"), b"keep me").unwrap();
    let down = work.path().join("down");
    std::fs::create_dir(&down).unwrap();
    std::os::unix::fs::symlink(&outside, down.join("sub")).unwrap();
    std::os::unix::fs::symlink(outside.join("g-target"), down.join("g.txt")).unwrap();
    let out = ok(&["mirror", &t.url("through"), down.to_str().unwrap()]);
    assert_eq!(
        snapshot(&outside).0.keys().collect::<Vec<_>>(),
        ["g-target"],
        "{}",
        text(&out)
    );
    assert_eq!(std::fs::read(outside.join("g-target")).unwrap(), b"keep me");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("skipping directory through/sub") && err.contains("skipping through/g.txt"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------
// get with a pattern

fn get_with_patterns(t: &Target) {
    for name in ["a.gz", "b.gz", "c.txt", "d.gz.1", "x1.gz", "x2.gz", "x3.gz"] {
        t.put(&format!("logs/{name}"), name.as_bytes());
    }
    let listed = |dir: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    };
    let work = tempfile::tempdir().unwrap();
    let d = work.path().join("all-gz");
    ok(&["get", &t.url("logs/*.gz"), d.to_str().unwrap()]);
    assert_eq!(listed(&d), ["a.gz", "b.gz", "x1.gz", "x2.gz", "x3.gz"]);
    assert_eq!(std::fs::read(d.join("x2.gz")).unwrap(), b"x2.gz");
    let d = work.path().join("class");
    ok(&["get", &t.url("logs/x[12].gz"), d.to_str().unwrap()]);
    assert_eq!(listed(&d), ["x1.gz", "x2.gz"]);
    let d = work.path().join("one");
    ok(&["get", &t.url("logs/?.*"), d.to_str().unwrap()]);
    assert_eq!(listed(&d), ["a.gz", "b.gz", "c.txt", "d.gz.1"]);
    let out = client(&["get", &t.url("logs/*.zip"), work.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("matches *.zip"),
        "{}",
        text(&out)
    );
}

ftp_tests::adapter_tests! {
    fn resume_against_our_server() {
        resume_both_ways(&Target::ours());
    }

    fn resume_against_vsftpd() {
        resume_both_ways(&Target::peer(PeerKind::Vsftpd));
    }

    fn resume_against_pyftpdlib() {
        resume_both_ways(&Target::peer(PeerKind::Pyftpdlib));
    }

    fn mirror_against_our_server() {
        let t = Target::ours();
        mirror_both_ways(&t);
        mirror_skips_links(&t, Links::Hidden);
        mirror_never_writes_through_local_links(&t);
    }

    fn mirror_against_vsftpd() {
        let t = Target::peer(PeerKind::Vsftpd);
        mirror_both_ways(&t);
        mirror_skips_links(&t, Links::Listed);
    }

    fn mirror_against_pyftpdlib() {
        let t = Target::peer(PeerKind::Pyftpdlib);
        mirror_both_ways(&t);
        mirror_skips_links(&t, Links::Followed);
    }

    fn patterns_against_our_server() {
        get_with_patterns(&Target::ours());
    }

    fn patterns_against_vsftpd() {
        get_with_patterns(&Target::peer(PeerKind::Vsftpd));
    }

    fn patterns_against_pyftpdlib() {
        get_with_patterns(&Target::peer(PeerKind::Pyftpdlib));
    }

    fn hostile_mlsd_listing_writes_nothing_outside_the_target() {
        hostile_listing(true);
    }

    fn hostile_list_listing_writes_nothing_outside_the_target() {
        hostile_listing(false);
    }

    fn put_continue_falls_back_to_appe_when_rest_is_refused() {
        appe_fallback();
    }

    fn credentials_from_netrc_and_ftp_password() {
        netrc_and_env();
    }

    fn a_progress_bar_on_a_terminal_only() {
        progress_bar();
    }
}

// ---------------------------------------------------------------------------------------
// A scripted server, for replies no real server sends.

/// What the scripted server serves: a listing of its root (MLSD lines, or LIST lines when
/// `mlsd` is off), files by name, and whether REST is refused.
#[derive(Clone, Default)]
struct Script {
    mlsd: bool,
    listing: Vec<u8>,
    files: BTreeMap<String, Vec<u8>>,
    refuse_rest: bool,
}

/// What the scripted server saw: every command line, what was uploaded by path, and its
/// files as they are now.
#[derive(Default)]
struct Seen {
    commands: Vec<String>,
    uploads: BTreeMap<String, Vec<u8>>,
    files: BTreeMap<String, Vec<u8>>,
}

/// Starts the scripted server on a loopback port for every connection made to it (one at a
/// time); returns its address and what it saw.
fn scripted(script: Script) -> (std::net::SocketAddr, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Seen {
        files: script.files.clone(),
        ..Seen::default()
    }));
    let s = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let _ = serve(conn, &script, &s);
        }
    });
    (addr, seen)
}

fn serve(conn: TcpStream, script: &Script, seen: &Mutex<Seen>) -> std::io::Result<()> {
    let mut out = conn.try_clone()?;
    let mut lines = BufReader::new(conn);
    out.write_all(b"220 scripted\r\n")?;
    let mut data: Option<TcpListener> = None;
    let mut rest = 0usize;
    loop {
        let mut line = String::new();
        if lines.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let line = line.trim_end().to_owned();
        seen.lock().unwrap().commands.push(line.clone());
        let (verb, arg) = line.split_once(' ').unwrap_or((&line, ""));
        let verb = verb.to_ascii_uppercase();
        let reply: String = match verb.as_str() {
            "USER" => "331 password please".into(),
            "PASS" => "230 in".into(),
            "FEAT" => {
                let mlst = if script.mlsd {
                    " MLST type*;size*;modify*;\r\n"
                } else {
                    ""
                };
                format!("211-Features:\r\n{mlst} EPSV\r\n REST STREAM\r\n SIZE\r\n211 End")
            }
            "TYPE" | "OPTS" | "MODE" | "STRU" => "200 ok".into(),
            "PWD" => "257 \"/\"".into(),
            "EPSV" => {
                let l = TcpListener::bind("127.0.0.1:0")?;
                let port = l.local_addr()?.port();
                data = Some(l);
                format!("229 Entering Extended Passive Mode (|||{port}|)")
            }
            "REST" if script.refuse_rest => "502 REST not implemented".into(),
            "REST" => {
                rest = arg.parse().unwrap_or(0);
                "350 restarting".into()
            }
            "SIZE" => match seen.lock().unwrap().files.get(arg) {
                Some(f) => format!("213 {}", f.len()),
                None => "550 no such file".into(),
            },
            "MLSD" if !script.mlsd => "502 no MLSD here".into(),
            "MLSD" | "LIST" | "NLST" | "RETR" | "STOR" | "APPE" => {
                let Some(l) = data.take() else {
                    out.write_all(b"425 no data connection\r\n")?;
                    continue;
                };
                let body = match verb.as_str() {
                    "MLSD" | "LIST" if arg.is_empty() || arg == "/" => Some(script.listing.clone()),
                    "RETR" => script
                        .files
                        .get(arg)
                        .map(|f| f[rest.min(f.len())..].to_vec()),
                    "STOR" | "APPE" => Some(Vec::new()),
                    _ => None,
                };
                let Some(body) = body else {
                    out.write_all(b"550 no such file\r\n")?;
                    continue;
                };
                out.write_all(b"150 here it comes\r\n")?;
                let (mut d, _) = l.accept()?;
                if verb == "STOR" || verb == "APPE" {
                    let mut got = Vec::new();
                    d.read_to_end(&mut got)?;
                    let mut seen = seen.lock().unwrap();
                    seen.uploads
                        .entry(arg.to_owned())
                        .or_default()
                        .extend_from_slice(&got);
                    let file = seen.files.entry(arg.to_owned()).or_default();
                    if verb == "STOR" {
                        file.truncate(rest);
                    }
                    file.extend_from_slice(&got);
                } else {
                    d.write_all(&body)?;
                }
                drop(d);
                rest = 0;
                "226 done".into()
            }
            "QUIT" => {
                out.write_all(b"221 bye\r\n")?;
                return Ok(());
            }
            _ => "502 not here".into(),
        };
        out.write_all(reply.as_bytes())?;
        out.write_all(b"\r\n")?;
    }
}

/// A listing that names `../escape`, `/etc/x`, `..`, `.`, a name with a control byte and one
/// with a NUL, a symbolic link, beside one good file: only the good file is written, inside
/// the target, and every other entry is reported.
fn hostile_listing(mlsd: bool) {
    let names = [
        "../escape",
        "/etc/x",
        "..",
        ".",
        "bell\x07name",
        "nul\0name",
        "ok.txt",
    ];
    let mut listing = Vec::new();
    for name in names {
        let line = if mlsd {
            format!("type=file;size=4;modify=20240101000000; {name}\r\n")
        } else {
            format!("-rw-r--r--   1 u g 4 Jan 01  2024 {name}\r\n")
        };
        listing.extend_from_slice(line.as_bytes());
    }
    listing.extend_from_slice(if mlsd {
        b"type=OS.unix=slink:/etc;modify=20240101000000; etc-link\r\n"
    } else {
        b"lrwxrwxrwx   1 u g 4 Jan 01  2024 etc-link -> /etc\r\n"
    });
    let mut files = BTreeMap::new();
    for name in names {
        files.insert(name.to_owned(), b"evil".to_vec());
    }
    files.insert("ok.txt".to_owned(), b"good".to_vec());
    let (addr, seen) = scripted(Script {
        mlsd,
        listing,
        files,
        refuse_rest: false,
    });
    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("a/b/target");
    let out = client(&[
        "mirror",
        &format!("ftp://u:p@{addr}/"),
        target.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    // Only the good file, and only inside the target.
    let (files, dirs) = snapshot(work.path());
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        ["a/b/target/ok.txt"],
        "{}",
        text(&out)
    );
    assert_eq!(dirs, ["a", "a/b", "a/b/target"]);
    assert_eq!(std::fs::read(target.join("ok.txt")).unwrap(), b"good");
    assert!(!Path::new("/etc/x").exists());
    let err = String::from_utf8_lossy(&out.stderr);
    for reported in [
        "../escape",
        "/etc/x",
        "bell\\u{7}name",
        "nul\\0name",
        "etc-link",
    ] {
        assert!(err.contains(reported), "{reported} not reported: {err}");
    }
    assert!(
        summary(&out).contains("1 files transferred"),
        "{}",
        text(&out)
    );
    // The client never asked for the bad names.
    let commands = seen.lock().unwrap().commands.clone();
    let retrs: Vec<_> = commands.iter().filter(|c| c.starts_with("RETR")).collect();
    assert_eq!(retrs, ["RETR ok.txt"], "{commands:?}");
}

/// `put -C` against a server that has the first part of the file and refuses REST: the rest
/// is sent with APPE.
fn appe_fallback() {
    let data = content(100_000, 3);
    let mut files = BTreeMap::new();
    files.insert("part.bin".to_owned(), data[..30_000].to_vec());
    let (addr, seen) = scripted(Script {
        mlsd: true,
        refuse_rest: true,
        files,
        ..Script::default()
    });
    let work = tempfile::tempdir().unwrap();
    let local = work.path().join("part.bin");
    std::fs::write(&local, &data).unwrap();
    let out = client(&[
        "-C",
        "put",
        local.to_str().unwrap(),
        &format!("ftp://u:p@{addr}/part.bin"),
    ]);
    let seen = seen.lock().unwrap();
    assert!(out.status.success(), "{:?}\n{}", seen.commands, text(&out));
    assert_eq!(
        seen.files.get("part.bin").map(|f| sha256(f)),
        Some(sha256(&data))
    );
    assert_eq!(
        seen.uploads.get("part.bin").map(|u| sha256(u)),
        Some(sha256(&data[30_000..])),
        "{:?}\n{}",
        seen.commands,
        text(&out)
    );
    assert!(seen.commands.iter().any(|c| c == "APPE part.bin"));
    assert!(!seen.commands.iter().any(|c| c.starts_with("STOR")));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("appending with APPE"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Credentials and the progress bar

/// Credentials from `--netrc-file`, `~/.netrc` and `FTP_PASSWORD`.
fn netrc_and_env() {
    let server = TestServer::with(Options {
        anonymous: false,
        ..Options::default()
    });
    server.put_file("f.txt", b"12345");
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let home_s = home.to_str().unwrap();
    let bare = format!("ftp://{}/f.txt", server.addr);
    let size = |args: &[&str], envs: &[(&str, &str)]| {
        let mut a = args.to_vec();
        a.extend(["size", bare.as_str()]);
        client_env(&a, envs)
    };
    // Nothing in the URL, no netrc: anonymous, refused, and the error says so.
    let out = size(&[], &[("HOME", home_s)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("server replied \"530"),
        "{}",
        text(&out)
    );
    // --netrc-file: the machine entry for the host.
    let netrc = work.path().join("netrc");
    std::fs::write(
        &netrc,
        format!(
            "machine elsewhere login bob password nope\n\
             machine 127.0.0.1\n  login {}\n  password \"{}\"\n",
            ftp_tests::USER,
            ftp_tests::PASS
        ),
    )
    .unwrap();
    let out = size(
        &["--netrc-file", netrc.to_str().unwrap()],
        &[("HOME", home_s)],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "5");
    // ~/.netrc, through its default entry.
    std::fs::write(
        home.join(".netrc"),
        format!(
            "default login {} password {}\n",
            ftp_tests::USER,
            ftp_tests::PASS
        ),
    )
    .unwrap();
    let out = size(&[], &[("HOME", home_s)]);
    assert!(out.status.success(), "{}", text(&out));
    // A wrong password in the netrc file: refused with the server's reply.
    std::fs::write(
        &netrc,
        format!("default login {} password wrong\n", ftp_tests::USER),
    )
    .unwrap();
    let out = size(
        &["--netrc-file", netrc.to_str().unwrap()],
        &[("HOME", home_s)],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("login failed"),
        "{}",
        text(&out)
    );
    // FTP_PASSWORD instead of a password in the URL (and over the netrc's).
    let with_user = format!("ftp://{}@{}/f.txt", ftp_tests::USER, server.addr);
    let out = client_env(
        &["--netrc-file", netrc.to_str().unwrap(), "size", &with_user],
        &[("FTP_PASSWORD", ftp_tests::PASS), ("HOME", home_s)],
    );
    assert!(out.status.success(), "{}", text(&out));
    // The URL's user without a password: the password of ~/.netrc's entry for that login.
    let out = client_env(&["size", &with_user], &[("HOME", home_s)]);
    assert!(out.status.success(), "{}", text(&out));
    // Neither: an empty password, refused.
    let empty = work.path().join("empty-home");
    std::fs::create_dir(&empty).unwrap();
    let out = client_env(&["size", &with_user], &[("HOME", empty.to_str().unwrap())]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    // A netrc file that cannot be read is an error naming it.
    let out = size(&["--netrc-file", "/nonexistent/netrc"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/nonexistent/netrc"),
        "{}",
        text(&out)
    );
}

/// The bar on a terminal (script(1)), none with `--quiet` or without a terminal.
fn progress_bar() {
    let server = TestServer::start();
    server.put_file("big.bin", &content(3_000_000, 9));
    let work = tempfile::tempdir().unwrap();
    let local = work.path().join("big.bin");
    let get = |extra: &str| {
        format!(
            "'{}' --timeout 20 {extra} get '{}' '{}'",
            example().display(),
            server.url("ftp", "big.bin"),
            local.display()
        )
    };
    // On a terminal (script(1) gives the client one): bytes, rate and ETA.
    let on_tty = |cmd: String| {
        let out = Command::new("timeout")
            .args(["-k", "5", "60", "script", "-qec", &cmd, "/dev/null"])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let shown = on_tty(get(""));
    assert!(
        shown.contains("ETA") && shown.contains("/s") && shown.contains("2.86 MiB"),
        "{shown:?}"
    );
    assert_eq!(std::fs::read(&local).unwrap().len(), 3_000_000);
    // --quiet: nothing.
    let shown = on_tty(get("--quiet"));
    assert!(shown.trim().is_empty(), "{shown:?}");
    // Not a terminal: nothing either.
    let out = ok(&[
        "get",
        &server.url("ftp", "big.bin"),
        local.to_str().unwrap(),
    ]);
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "{}",
        text(&out)
    );
}
