//! Our server with lftp (GnuTLS) as the client: listings, get/put with SHA-256 equality,
//! resume both ways, file operations, passive (EPSV, PASV, IPv6), active (PORT) and FTPS
//! explicit (passive and active) and implicit.

use ftp_proto::server::TlsMode;
use ftp_tests::{content, run_ok, sha256, sha256_file, Options, TestServer, PASS, USER};

const BASE: &str = "set net:max-retries 1; set net:reconnect-interval-base 1; \
                    set net:timeout 15; set cmd:fail-exit yes; set xfer:clobber yes; ";

/// Runs one lftp script against `srv`: `settings`, then `open`, then `commands`.
fn lftp(
    srv: &TestServer,
    scheme: &str,
    settings: &str,
    commands: &str,
    dir: &std::path::Path,
) -> String {
    let host = match srv.addr {
        std::net::SocketAddr::V6(a) => format!("[{}]", a.ip()),
        std::net::SocketAddr::V4(a) => a.ip().to_string(),
    };
    // The debug log (commands as sent, `---> EPSV`) goes to a file so stdout keeps only
    // the listings.
    let script = format!(
        "debug -o {LOG} 5; {BASE}{settings}; open -u {USER},{PASS} -p {} {scheme}://{host}; {commands}",
        srv.addr.port()
    );
    let out = run_ok("lftp", &["-c", &script], dir);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// lftp's debug log, in the working directory.
const LOG: &str = "lftp-debug.log";

/// The commands lftp sent, from its debug log in `dir`.
fn sent(dir: &std::path::Path) -> Vec<String> {
    let log = std::fs::read_to_string(dir.join(LOG)).expect("lftp debug log");
    log.lines()
        .filter_map(|l| l.strip_prefix("---> "))
        .map(str::to_string)
        .collect()
}

/// Asserts lftp opened its data connections with `cmd` only, never with `not` (lftp falls
/// back on its own, so a broken EPSV or EPRT would pass a test that checks the files only).
fn assert_data_cmd(dir: &std::path::Path, cmd: &str, not: &str) {
    let sent = sent(dir);
    assert!(
        sent.iter().any(|c| c.starts_with(cmd)),
        "{cmd} never sent: {sent:?}"
    );
    assert!(
        !sent.iter().any(|c| c.starts_with(not)),
        "fell back to {not}: {sent:?}"
    );
}

const PLAIN: &str = "set ftp:ssl-allow no";

/// Everything one session can do: listings, get, put, resume, rename, delete, mkdir, rmdir;
/// every data connection opened with `uses.0`, never with `uses.1`.
fn full_session(srv: &TestServer, scheme: &str, settings: &str, uses: (&str, &str)) {
    let data = content(2_000_000, 11);
    srv.put_file("big.bin", &data);
    srv.put_file("del.txt", b"x");
    std::fs::create_dir(srv.path("olddir")).unwrap();
    let up = content(1_500_000, 12);
    srv.put_file("part.bin", &up[..500_000]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("up.bin"), &up).unwrap();
    std::fs::write(dir.path().join("resume.bin"), &data[..700_000]).unwrap();

    let out = lftp(
        srv,
        scheme,
        settings,
        "echo ==LIST; ls; echo ==NLST; nlist; echo ==MLSD; set ftp:use-mlsd yes; cls -1 --sort=name; \
         get big.bin -o got.bin; put up.bin -o uploaded.bin; \
         get -c big.bin -o resume.bin; put -c up.bin -o part.bin; \
         mkdir newdir; mv uploaded.bin newdir/moved.bin; rm del.txt; rmdir olddir",
        dir.path(),
    );
    let section = |name: &str| -> Vec<String> {
        let start = out.find(&format!("=={name}\n")).expect("section") + name.len() + 3;
        out[start..]
            .lines()
            .take_while(|l| !l.starts_with("=="))
            .map(str::to_string)
            .collect()
    };
    let list = section("LIST");
    assert!(
        list.iter()
            .any(|l| l.starts_with("-rw") && l.ends_with(" big.bin")),
        "{out}"
    );
    assert!(
        list.iter()
            .any(|l| l.starts_with('d') && l.ends_with(" olddir")),
        "{out}"
    );
    let nlst = section("NLST");
    assert_eq!(nlst, ["big.bin", "del.txt", "olddir", "part.bin"], "{out}");
    let mlsd = section("MLSD");
    assert_eq!(mlsd, ["big.bin", "del.txt", "olddir/", "part.bin"], "{out}");
    // `cls` falls back to LIST silently; the names alone do not show which one ran.
    assert!(
        sent(dir.path()).iter().any(|c| c == "MLSD"),
        "MLSD never sent: {:?}",
        sent(dir.path())
    );
    assert_data_cmd(dir.path(), uses.0, uses.1);

    assert_eq!(sha256_file(&dir.path().join("got.bin")), sha256(&data));
    assert_eq!(sha256_file(&dir.path().join("resume.bin")), sha256(&data));
    assert_eq!(sha256_file(&srv.path("part.bin")), sha256(&up));
    assert_eq!(sha256_file(&srv.path("newdir/moved.bin")), sha256(&up));
    assert!(!srv.path("uploaded.bin").exists());
    assert!(!srv.path("del.txt").exists());
    assert!(!srv.path("olddir").exists());
}

const TLS: &str = "set ftp:ssl-force yes; set ftp:ssl-protect-data yes; \
                   set ftp:ssl-protect-list yes; set ssl:verify-certificate no";

ftp_tests::adapter_tests! {
    fn passive_epsv() {
        full_session(
            &TestServer::start(),
            "ftp",
            &format!("{PLAIN}; set ftp:prefer-epsv yes"),
            ("EPSV", "PASV"),
        );
    }

    fn passive_pasv() {
        full_session(
            &TestServer::start(),
            "ftp",
            &format!("{PLAIN}; set ftp:prefer-epsv no"),
            ("PASV", "EPSV"),
        );
    }

    fn active_port() {
        full_session(
            &TestServer::start(),
            "ftp",
            &format!("{PLAIN}; set ftp:passive-mode no"),
            ("PORT", "EPRT"),
        );
    }

    fn ipv6_epsv() {
        let opts = Options {
            ipv6: true,
            ..Options::default()
        };
        full_session(&TestServer::with(opts), "ftp", PLAIN, ("EPSV", "PASV"));
    }

    /// In active mode on IPv6, lftp 4.9.2 sends `EPRT |2|::|port|` (the unspecified address),
    /// which the core reads as the client's own address.
    fn ipv6_active_eprt_unspecified() {
        let opts = Options {
            ipv6: true,
            ..Options::default()
        };
        full_session(
            &TestServer::with(opts),
            "ftp",
            &format!("{PLAIN}; set ftp:passive-mode no"),
            ("EPRT", "PORT"),
        );
    }

    fn ftps_explicit_passive_and_active() {
        let opts = Options {
            tls: TlsMode::Explicit,
            ..Options::default()
        };
        full_session(&TestServer::with(opts.clone()), "ftp", TLS, ("PASV", "EPSV"));
        full_session(
            &TestServer::with(opts),
            "ftp",
            &format!("{TLS}; set ftp:passive-mode no"),
            ("PORT", "EPRT"),
        );
    }

    fn ftps_implicit() {
        let opts = Options {
            tls: TlsMode::Implicit,
            ..Options::default()
        };
        full_session(
            &TestServer::with(opts),
            "ftps",
            "set ssl:verify-certificate no",
            ("PASV", "EPSV"),
        );
    }

    /// lftp's `ftps://` is implicit FTPS: TLS from the first byte, no AUTH. A server that
    /// spoke plain FTP on the port would fail the handshake.
    fn ftps_implicit_sends_no_auth() {
        let opts = Options {
            tls: TlsMode::Implicit,
            ..Options::default()
        };
        let srv = TestServer::with(opts);
        srv.put_file("a.txt", b"implicit");
        let dir = tempfile::tempdir().unwrap();
        lftp(&srv, "ftps", "set ssl:verify-certificate no", "get a.txt -o a.txt", dir.path());
        assert_eq!(std::fs::read(dir.path().join("a.txt")).unwrap(), b"implicit");
        let sent = sent(dir.path());
        assert!(!sent.iter().any(|c| c.starts_with("AUTH")), "{sent:?}");
        assert!(sent.iter().any(|c| c == "PROT P"), "{sent:?}");
    }

    fn ftps_with_required_session_reuse() {
        // lftp (GnuTLS) resumes the control connection's TLS session on data connections.
        let opts = Options {
            tls: TlsMode::ExplicitRequired,
            require_tls_reuse: true,
            ..Options::default()
        };
        full_session(&TestServer::with(opts), "ftp", TLS, ("PASV", "EPSV"));
    }
}
