//! The object storage back-end end to end, per adapter: each adapter's example server run with
//! `--storage s3://BUCKET/PREFIX` against a real S3-compatible server (moto, started by the
//! tests), driven by curl and raw control connections, with what the bucket holds checked
//! directly (objects and their sizes, unfinished multipart uploads).

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ftp_tests::ctl::Ctl;
use ftp_tests::s3::Moto;
use ftp_tests::{adapter_tests, content, run_client, PASS, USER};

/// One example server process serving a bucket, killed on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    /// Serves `s3://BUCKET/ftp` from `moto`.
    fn start(moto: &Moto, bucket: &str) -> Server {
        let mut command = Command::new(ftp_tests::examples::server_bin(&["ftp-cli/s3"]));
        command
            .args(["--listen", "127.0.0.1:0", "--user"])
            .arg(format!("{USER}:{PASS}"))
            .arg("--storage")
            .arg(format!("s3://{bucket}/ftp"))
            .envs(moto.env());
        let ftp_tests::examples::Spawned { child, addr, .. } =
            ftp_tests::examples::spawn_server(command);
        Server { child, addr }
    }

    fn url(&self, path: &str) -> String {
        format!("ftp://{USER}:{PASS}@{}/{path}", self.addr)
    }

    /// The process's peak resident set size (`VmHWM`), in bytes.
    fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kb * 1024
    }

    fn ctl(&self) -> Ctl {
        let mut c = Ctl::connect(self.addr);
        c.login();
        c
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A bucket of its own on the shared moto server, and a server over it.
fn setup() -> (Arc<Moto>, String, Server) {
    let moto = Moto::shared();
    let bucket = moto.new_bucket();
    let server = Server::start(&moto, &bucket);
    (moto, bucket, server)
}

fn curl(args: &[&str], dir: &Path) -> Output {
    let mut all = vec!["-sS", "--max-time", "60"];
    all.extend_from_slice(args);
    run_client("curl", &all, dir)
}

fn curl_ok(args: &[&str], dir: &Path) -> String {
    let out = curl(args, dir);
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether the file at `path` holds exactly `data` (compared directly: hashing 50 MB in an
/// unoptimised test build takes seconds).
fn same_file(path: &Path, data: &[u8]) -> bool {
    std::fs::read(path).unwrap() == data
}

/// Waits up to 10 s for `check` to hold.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

adapter_tests! {
    /// 50 MB up and down with curl, byte for byte: the upload goes up as a multipart upload
    /// (several 8 MiB parts), the object has the size sent and no upload is left open, and a
    /// download resumed with REST (`curl -C`) gets the rest exactly.
    fn fifty_megabytes_up_and_down_byte_for_byte() {
        let (moto, bucket, s) = setup();
        let dir = tempfile::tempdir().unwrap();
        let data = content(50_000_000, 13);
        let src = dir.path().join("src.bin");
        std::fs::write(&src, &data).unwrap();
        curl_ok(&["-T", src.to_str().unwrap(), &s.url("big.bin")], dir.path());
        // 226 came, so the object is complete and visible.
        assert_eq!(
            moto.objects(&bucket, "ftp/"),
            [("ftp/big.bin".to_string(), 50_000_000)]
        );
        assert_eq!(moto.open_uploads(&bucket), 0);
        // Streamed in bounded memory: the server's peak RSS (about 16 MiB at start, plus two
        // 8 MiB parts) stays well under the 50 MB it uploaded.
        let peak = s.peak_rss();
        assert!(peak < 48 << 20, "peak RSS {peak} bytes");
        let got = dir.path().join("got.bin");
        curl_ok(&["-o", got.to_str().unwrap(), &s.url("big.bin")], dir.path());
        assert!(same_file(&got, &data), "the download differs");
        // Resume: keep the first 30 MB, fetch the rest from there (a ranged GET).
        let part = dir.path().join("part.bin");
        std::fs::write(&part, &data[..30_000_000]).unwrap();
        curl_ok(&["-C", "-", "-o", part.to_str().unwrap(), &s.url("big.bin")], dir.path());
        assert!(same_file(&part, &data), "the resumed download differs");
        let mut c = s.ctl();
        assert_eq!(c.cmd("SIZE big.bin"), "213 50000000");
        assert!(c.cmd("MDTM big.bin").starts_with("213 20"));
    }

    /// LIST, NLST and MLSD show what was uploaded, with the sizes sent, directories made with
    /// MKD and those only implied by keys.
    fn listings_show_uploads_with_their_sizes() {
        let (_moto, _bucket, s) = setup();
        let dir = tempfile::tempdir().unwrap();
        for (name, len) in [("a.txt", 10), ("b.bin", 12_345)] {
            let p = dir.path().join(name);
            std::fs::write(&p, content(len, 1)).unwrap();
            curl_ok(&["-T", p.to_str().unwrap(), &s.url(name)], dir.path());
        }
        let p = dir.path().join("a.txt");
        curl_ok(
            &["--ftp-create-dirs", "-T", p.to_str().unwrap(), &s.url("implied/deep/x.txt")],
            dir.path(),
        );
        let mut c = s.ctl();
        assert!(c.cmd("MKD made").starts_with("257"), "MKD");
        let list = curl_ok(&[&s.url("")], dir.path());
        let line = |name: &str| {
            list.lines()
                .find(|l| l.ends_with(&format!(" {name}")))
                .unwrap_or_else(|| panic!("{name} not in:\n{list}"))
                .to_string()
        };
        assert!(line("a.txt").starts_with('-') && line("a.txt").contains(" 10 "), "{list}");
        assert!(line("b.bin").contains(" 12345 "), "{list}");
        assert!(line("implied").starts_with('d'), "{list}");
        assert!(line("made").starts_with('d'), "{list}");
        assert_eq!(list.lines().count(), 4, "{list}");
        let names = curl_ok(&["--list-only", &s.url("")], dir.path());
        let mut names: Vec<_> = names.lines().collect();
        names.sort();
        assert_eq!(names, ["a.txt", "b.bin", "implied", "made"]);
        let mlsd = curl_ok(&["-X", "MLSD", &s.url("")], dir.path());
        assert!(mlsd.lines().any(|l| l.contains("type=file;size=12345;") && l.ends_with(" b.bin")), "{mlsd}");
        assert!(mlsd.lines().any(|l| l.starts_with("type=dir;") && l.ends_with(" made")), "{mlsd}");
        let deep = curl_ok(&["-X", "MLSD", &s.url("implied/deep/")], dir.path());
        assert!(deep.lines().any(|l| l.contains("type=file;size=10;") && l.ends_with(" x.txt")), "{deep}");
        assert_eq!(deep.lines().count(), 1, "{deep}");
    }

    /// RNFR/RNTO of a file moves the object (copy, then delete); a directory rename, RMD of a
    /// directory that holds something, APPE, REST before STOR, MFMT and SITE CHMOD are refused
    /// with a 5xx; DELE removes the object; RMD of an empty directory removes its marker.
    fn rename_delete_and_what_is_refused() {
        let (moto, bucket, s) = setup();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"hello object\n").unwrap();
        curl_ok(&["--ftp-create-dirs", "-T", p.to_str().unwrap(), &s.url("d/f.txt")], dir.path());
        let mut c = s.ctl();
        assert!(c.cmd("RNFR d/f.txt").starts_with("350"));
        assert!(c.cmd("RNTO moved.txt").starts_with("250"));
        let keys: Vec<_> = moto.objects(&bucket, "ftp/").into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["ftp/d/", "ftp/moved.txt"], "the marker of d and the moved file");
        assert_eq!(curl_ok(&[&s.url("moved.txt")], dir.path()), "hello object\n");
        // A directory holding something cannot be removed; a directory cannot be renamed.
        assert!(c.cmd("MKD e").starts_with("257"));
        assert!(c.cmd("RNFR moved.txt").starts_with("350"));
        assert!(c.cmd("RNTO e/in.txt").starts_with("250"));
        assert!(c.cmd("RMD e").starts_with("550"), "RMD of a non-empty directory");
        assert!(c.cmd("RNFR e").starts_with("350"));
        let r = c.cmd("RNTO f");
        assert!(r.starts_with("550") && r.contains("rename a directory"), "{r}");
        // Objects cannot be appended to, written at an offset, re-dated or chmod'ed.
        let d = c.data(s.addr);
        assert!(c.cmd("APPE e/in.txt").starts_with("502"), "APPE");
        drop(d);
        assert!(c.cmd("REST 5").starts_with("350"));
        let _d = c.data(s.addr);
        assert!(c.cmd("STOR e/in.txt").starts_with("502"), "REST + STOR");
        assert!(c.cmd("MFMT 20200101000000 e/in.txt").starts_with("502"));
        assert!(c.cmd("SITE CHMOD 600 e/in.txt").starts_with("502"));
        // STOU stores under a fresh name.
        let mut d = c.data(s.addr);
        let r = c.cmd("STOU");
        assert!(r.starts_with("150") || r.starts_with("125"), "{r}");
        d.write_all(b"unique").unwrap();
        drop(d);
        assert!(c.reply().starts_with("226"));
        let unique: Vec<_> = moto
            .objects(&bucket, "ftp/")
            .into_iter()
            .filter(|(k, size)| !k.starts_with("ftp/e/") && *size == 6)
            .collect();
        assert_eq!(unique.len(), 1, "{unique:?}");
        let name = unique[0].0.trim_start_matches("ftp/");
        assert!(c.cmd(&format!("DELE {name}")).starts_with("250"));
        // DELE removes the object; RMD of the emptied directory removes its marker.
        assert!(c.cmd("DELE e/in.txt").starts_with("250"));
        assert!(c.cmd("DELE e/in.txt").starts_with("550"));
        assert!(c.cmd("RMD e").starts_with("250"));
        assert!(c.cmd("RMD d").starts_with("250"));
        assert!(c.cmd("CWD e").starts_with("550"));
        assert_eq!(moto.objects(&bucket, "ftp/"), []);
    }

    /// An upload cut midway (the data connection reset after 20 MB, two parts and more) is not
    /// a file: the reply is 426 or 451, the multipart upload is aborted and no object is left.
    fn an_upload_cut_midway_leaves_no_object() {
        let (moto, bucket, s) = setup();
        let mut c = s.ctl();
        let mut d = c.data(s.addr);
        let r = c.cmd("STOR cut.bin");
        assert!(r.starts_with("150") || r.starts_with("125"), "{r}");
        d.write_all(&content(20 << 20, 5)).unwrap();
        // Let the parts go up before the reset, so that the multipart upload has begun.
        eventually("the multipart upload to begin", || moto.open_uploads(&bucket) == 1);
        socket2::SockRef::from(&d).set_linger(Some(Duration::ZERO)).unwrap();
        drop(d);
        let r = c.reply();
        assert!(r.starts_with("426") || r.starts_with("451"), "{r}");
        assert!(c.cmd("NOOP").starts_with("200"));
        eventually("the upload to be aborted", || moto.open_uploads(&bucket) == 0);
        assert_eq!(moto.objects(&bucket, ""), []);
        assert!(c.cmd("SIZE cut.bin").starts_with("550"));
    }

    /// Two instances on one bucket: what is uploaded through one is listed and downloaded
    /// through the other, and what one deletes is gone for the other.
    fn two_instances_share_one_bucket() {
        let (moto, bucket, one) = setup();
        let two = Server::start(&moto, &bucket);
        let dir = tempfile::tempdir().unwrap();
        let data = content(3_000_000, 7);
        let p = dir.path().join("shared.bin");
        std::fs::write(&p, &data).unwrap();
        curl_ok(&["-T", p.to_str().unwrap(), &one.url("shared.bin")], dir.path());
        let listed = curl_ok(&["--list-only", &two.url("")], dir.path());
        assert_eq!(listed.trim_end(), "shared.bin");
        let got = dir.path().join("got.bin");
        curl_ok(&["-o", got.to_str().unwrap(), &two.url("shared.bin")], dir.path());
        assert!(same_file(&got, &data), "the download differs");
        let mut c = two.ctl();
        assert!(c.cmd("DELE shared.bin").starts_with("250"));
        let mut c = one.ctl();
        assert!(c.cmd("SIZE shared.bin").starts_with("550"));
    }
}

/// A directory of more than one listing page (S3 answers 1,000 keys a request) is listed
/// whole, page after page, by LIST and NLST (one adapter: the paging is the storage's).
#[test]
fn a_directory_of_more_than_one_page_is_listed_whole() {
    let (moto, bucket, s) = setup();
    // Four writers at once: moto takes about 10 ms a request.
    std::thread::scope(|scope| {
        for t in 0..4 {
            let (moto, bucket) = (&moto, &bucket);
            scope.spawn(move || {
                for i in (t..1_005).step_by(4) {
                    moto.put(bucket, &format!("ftp/many/f{i:04}"), b"x");
                }
            });
        }
    });
    moto.put(&bucket, "ftp/many/sub/inner", b"yz");
    let dir = tempfile::tempdir().unwrap();
    let names = curl_ok(&["--list-only", &s.url("many/")], dir.path());
    let names: Vec<_> = names.lines().collect();
    assert_eq!(
        names.len(),
        1_006,
        "{:?}",
        &names[names.len().saturating_sub(3)..]
    );
    assert!(names.contains(&"f1004") && names.contains(&"sub") && names.contains(&"f0000"));
    let list = curl_ok(&[&s.url("many/")], dir.path());
    assert_eq!(list.lines().filter(|l| l.starts_with('-')).count(), 1_005);
    assert_eq!(list.lines().filter(|l| l.starts_with('d')).count(), 1);
}

/// With `--storage`, a users file's homes are key prefixes, not local directories: the server
/// starts although no such directory exists, each user's `/` is its prefix (relative homes
/// under the storage's prefix), and one user cannot see another's files.
#[test]
fn users_homes_are_prefixes_of_the_bucket() {
    let moto = Moto::shared();
    let bucket = moto.new_bucket();
    let conf = tempfile::tempdir().unwrap();
    let bin = ftp_tests::examples::server_bin(&["ftp-cli/s3"]);
    let mut hasher = Command::new(&bin)
        .arg("hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(hasher.stdin.take().unwrap(), "pw").unwrap();
    let out = hasher.wait_with_output().unwrap();
    assert!(out.status.success());
    let phc = String::from_utf8(out.stdout)
        .unwrap()
        .trim_end()
        .to_string();
    let users = conf.path().join("users.toml");
    std::fs::write(
        &users,
        format!(
            "[[user]]\nname = \"alice\"\npassword = \"{phc}\"\nhome = \"alice\"\n\
             permissions = \"read-write\"\n\n\
             [[user]]\nname = \"bob\"\npassword = \"{phc}\"\nhome = \"bob\"\n\
             permissions = \"read-write\"\n"
        ),
    )
    .unwrap();
    let mut command = Command::new(&bin);
    command
        .args(["--listen", "127.0.0.1:0", "--users"])
        .arg(&users)
        .arg("--storage")
        .arg(format!("s3://{bucket}/ftp"))
        .envs(moto.env())
        // Not a directory that holds `alice/` or `bob/`: nothing local is looked at.
        .current_dir(conf.path());
    let ftp_tests::examples::Spawned { child, addr, .. } =
        ftp_tests::examples::spawn_server(command);
    let _server = Server { child, addr };
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("mine.txt");
    std::fs::write(&p, b"alice's").unwrap();
    let alice = |path: &str| format!("ftp://alice:pw@{addr}/{path}");
    let bob = |path: &str| format!("ftp://bob:pw@{addr}/{path}");
    curl_ok(&["-T", p.to_str().unwrap(), &alice("mine.txt")], dir.path());
    assert_eq!(
        moto.objects(&bucket, ""),
        [("ftp/alice/mine.txt".to_string(), 7)]
    );
    assert_eq!(curl_ok(&[&alice("mine.txt")], dir.path()), "alice's");
    assert_eq!(curl_ok(&["--list-only", &bob("")], dir.path()).trim(), "");
    let refused = curl(&[&bob("mine.txt")], dir.path());
    assert!(!refused.status.success(), "bob read alice's file");
}
