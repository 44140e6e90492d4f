//! Real FTP servers started on loopback for interop tests: vsftpd, pure-ftpd, proftpd and
//! pyftpdlib, each with a configuration written into a private temporary directory.
//!
//! `.ci/install-peers` installs them (the three Debian servers unpacked under
//! `$FTP_PEERS_DIR`, default `/opt/ftp-peers`) and creates the system user they log in.
//! A server that cannot be started is an error, never a skipped test.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

/// The user every peer server accepts (created by `.ci/install-peers`).
pub const PEER_USER: &str = "ftppeer";
/// That user's password.
pub const PEER_PASS: &str = "ftppeer-pass";

/// Which server to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerKind {
    /// vsftpd 3.0 (Debian 12).
    Vsftpd,
    /// pure-ftpd 1.0.50 with a PureDB virtual user.
    PureFtpd,
    /// proftpd 1.3.8 (with mod_tls from proftpd-mod-crypto for FTPS).
    Proftpd,
    /// pyftpdlib 2.x.
    Pyftpdlib,
}

/// TLS for a peer server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerTls {
    /// Plain FTP only.
    Off,
    /// Explicit FTPS offered (AUTH TLS), optional for the client.
    Explicit,
    /// Explicit FTPS with data-connection TLS session reuse required (vsftpd
    /// `require_ssl_reuse=YES`, proftpd's default); the login and data must be protected.
    ExplicitRequireReuse,
}

/// A running peer server; killed and its directory removed on drop.
pub struct PeerServer {
    child: Child,
    /// Control-connection address.
    pub addr: SocketAddr,
    /// The directory the user lands in; files put here are visible to the client.
    pub root: PathBuf,
    dir: PathBuf,
    /// The kind, for messages.
    pub kind: PeerKind,
}

impl Drop for PeerServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn peers_dir() -> PathBuf {
    std::env::var_os("FTP_PEERS_DIR").map_or_else(|| PathBuf::from("/opt/ftp-peers"), PathBuf::from)
}

/// Ports for this process's peer servers: a block of 1000 chosen by process id in
/// 10000..32000, below Linux's ephemeral range (32768-60999), so no outgoing connection of a
/// concurrent test takes one between our check and the server's bind (a port found by binding
/// port 0 and releasing it is an ephemeral port: any `connect` can grab it meanwhile).
/// The block is cut into 48 slots of 20 ports, one slot per peer started, in turn: the first
/// port is the control port, the other 19 the passive range, enough for a whole client suite
/// run (each passive connection can leave a port in TIME_WAIT).
fn port_slot() -> (u16, u16, u16) {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let block = 10_000 + (std::process::id() % 22) as u16 * 1000;
    let slot = NEXT.fetch_add(1, Ordering::Relaxed) % 48;
    let control = block + slot * 20;
    (control, control + 1, control + 19)
}

/// Whether `port` can be bound on loopback now (nothing else listens on it).
fn port_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

fn make_dir(kind: PeerKind) -> io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    static N: AtomicU16 = AtomicU16::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ftp-peer-{:?}-{}-{}",
        kind,
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("root"))?;
    std::fs::create_dir_all(dir.join("empty"))?;
    // The servers drop privileges to the peer user, who must be able to reach the root.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
    std::fs::set_permissions(dir.join("root"), std::fs::Permissions::from_mode(0o777))?;
    Ok(dir)
}

fn write(path: &Path, text: &str) -> io::Result<()> {
    std::fs::write(path, text)
}

/// Writes a self-signed certificate and key (PEM) for 127.0.0.1 into `dir`.
fn make_cert(dir: &Path) -> io::Result<(PathBuf, PathBuf)> {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    if !status.success() {
        return Err(io::Error::other("openssl req failed"));
    }
    let mut both = std::fs::read(&cert)?;
    both.extend_from_slice(&std::fs::read(&key)?);
    write(&dir.join("both.pem"), &String::from_utf8_lossy(&both))?;
    Ok((cert, key))
}

impl PeerServer {
    /// Starts a server of `kind` on a free loopback port and waits for its 220 greeting. A
    /// server that could not bind (another process took the port) is retried on the next
    /// slot.
    pub fn start(kind: PeerKind, tls: PeerTls) -> io::Result<PeerServer> {
        let mut last = None;
        for _ in 0..5 {
            let (port, low, high) = port_slot();
            if !port_free(port) {
                continue;
            }
            match PeerServer::start_on(kind, tls, port, low, high) {
                Ok(server) => return Ok(server),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("no free peer port slot")))
    }

    fn start_on(
        kind: PeerKind,
        tls: PeerTls,
        port: u16,
        low: u16,
        high: u16,
    ) -> io::Result<PeerServer> {
        let dir = make_dir(kind)?;
        let root = dir.join("root");
        let bin = peers_dir();
        let d = dir.display();
        let r = root.display();
        let certs = if tls == PeerTls::Off {
            None
        } else {
            Some(make_cert(&dir)?)
        };
        let mut cmd = match kind {
            PeerKind::Vsftpd => {
                let mut conf = format!(
                    "listen=YES\nlisten_ipv6=NO\nbackground=NO\nlisten_address=127.0.0.1\nlisten_port={port}\n\
                     anonymous_enable=NO\nlocal_enable=YES\nwrite_enable=YES\nlocal_umask=022\n\
                     local_root={r}\npam_service_name=ftp-peer-test\nsecure_chroot_dir={d}/empty\n\
                     seccomp_sandbox=NO\npasv_min_port={low}\npasv_max_port={high}\nxferlog_enable=NO\n\
                     vsftpd_log_file={d}/vsftpd.log\nutf8_filesystem=YES\n"
                );
                if let Some((cert, key)) = &certs {
                    let reuse = if tls == PeerTls::ExplicitRequireReuse {
                        "YES"
                    } else {
                        "NO"
                    };
                    let force = if tls == PeerTls::ExplicitRequireReuse {
                        "YES"
                    } else {
                        "NO"
                    };
                    conf.push_str(&format!(
                        "ssl_enable=YES\nrsa_cert_file={}\nrsa_private_key_file={}\nrequire_ssl_reuse={reuse}\n\
                         force_local_logins_ssl={force}\nforce_local_data_ssl={force}\nssl_ciphers=HIGH\n",
                        cert.display(),
                        key.display()
                    ));
                }
                write(&dir.join("vsftpd.conf"), &conf)?;
                let mut c = Command::new(bin.join("vsftpd/usr/sbin/vsftpd"));
                c.arg(dir.join("vsftpd.conf"));
                c
            }
            PeerKind::Proftpd => {
                let mut conf = format!(
                    "ServerType standalone\nServerName \"peer\"\nDefaultAddress 127.0.0.1\nPort {port}\n\
                     User {PEER_USER}\nGroup {PEER_USER}\nUseIPv6 off\nUseReverseDNS off\n\
                     PassivePorts {low} {high}\nPidFile {d}/proftpd.pid\nScoreboardFile {d}/proftpd.score\n\
                     DelayTable {d}/proftpd.delay\nWtmpLog off\nRequireValidShell off\n\
                     AuthOrder mod_auth_unix.c\nDefaultChdir {r}\nAllowOverwrite on\nAllowRetrieveRestart on\n\
                     AllowStoreRestart on\nUmask 022\n<Limit ALL>\n  AllowAll\n</Limit>\n"
                );
                if let Some((cert, key)) = &certs {
                    let opts = if tls == PeerTls::ExplicitRequireReuse {
                        ""
                    } else {
                        "TLSOptions NoSessionReuseRequired\n"
                    };
                    let required = if tls == PeerTls::ExplicitRequireReuse {
                        "on"
                    } else {
                        "off"
                    };
                    conf = format!(
                        "ModulePath {}\nLoadModule mod_tls.c\n{conf}TLSEngine on\nTLSLog {d}/tls.log\n\
                         TLSRSACertificateFile {}\nTLSRSACertificateKeyFile {}\nTLSRequired {required}\n\
                         TLSVerifyClient off\n{opts}",
                        bin.join("proftpd/usr/lib/proftpd").display(),
                        cert.display(),
                        key.display()
                    );
                }
                write(&dir.join("proftpd.conf"), &conf)?;
                let mut c = Command::new(bin.join("proftpd/usr/sbin/proftpd"));
                c.arg("-n")
                    .arg("-q")
                    .arg("-c")
                    .arg(dir.join("proftpd.conf"));
                c
            }
            PeerKind::PureFtpd => {
                let hash = Command::new("openssl")
                    .args(["passwd", "-6", PEER_PASS])
                    .output()?;
                if !hash.status.success() {
                    return Err(io::Error::other("openssl passwd failed"));
                }
                let hash = String::from_utf8_lossy(&hash.stdout).trim().to_owned();
                let uid = id_of(PEER_USER, "-u")?;
                let gid = id_of(PEER_USER, "-g")?;
                write(
                    &dir.join("passwd"),
                    &format!("{PEER_USER}:{hash}:{uid}:{gid}::{r}/./::::::::::::\n"),
                )?;
                let status = Command::new(bin.join("pure-ftpd/usr/bin/pure-pw"))
                    .args(["mkdb"])
                    .arg(dir.join("pure.pdb"))
                    .arg("-f")
                    .arg(dir.join("passwd"))
                    .stdout(Stdio::null())
                    .status()?;
                if !status.success() {
                    return Err(io::Error::other("pure-pw mkdb failed"));
                }
                let mut c = Command::new(bin.join("pure-ftpd/usr/sbin/pure-ftpd"));
                c.arg("-S")
                    .arg(format!("127.0.0.1,{port}"))
                    .arg("-p")
                    .arg(format!("{low}:{high}"))
                    .args(["-E", "-H", "-A"])
                    .arg("-l")
                    .arg(format!("puredb:{d}/pure.pdb"));
                if certs.is_some() {
                    let level = if tls == PeerTls::ExplicitRequireReuse {
                        "2"
                    } else {
                        "1"
                    };
                    c.arg("-Y")
                        .arg(level)
                        .arg("-2")
                        .arg(format!("{d}/both.pem"));
                }
                c
            }
            PeerKind::Pyftpdlib => {
                let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/pyftpd.py");
                let mut c = Command::new("python3");
                c.arg(script)
                    .arg("--port")
                    .arg(port.to_string())
                    .arg("--root")
                    .arg(&root)
                    .arg("--user")
                    .arg(PEER_USER)
                    .arg("--password")
                    .arg(PEER_PASS)
                    .arg("--passive")
                    .arg(format!("{low}-{high}"));
                if let Some((cert, key)) = &certs {
                    c.arg("--cert").arg(cert).arg("--key").arg(key);
                }
                c
            }
        };
        if kind != PeerKind::Pyftpdlib {
            use std::os::unix::fs::chown;
            let uid = id_of(PEER_USER, "-u")?;
            chown(&root, Some(uid), None)?;
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(std::fs::File::create(dir.join("stdout.log"))?))
            .stderr(Stdio::from(std::fs::File::create(dir.join("stderr.log"))?))
            .spawn()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut server = PeerServer {
            child,
            addr,
            root,
            dir,
            kind,
        };
        server.wait_ready()?;
        Ok(server)
    }

    /// The server's log output so far, for assertion messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for name in ["stdout.log", "stderr.log", "vsftpd.log", "tls.log"] {
            if let Ok(mut f) = std::fs::File::open(self.dir.join(name)) {
                let _ = f.read_to_string(&mut out);
            }
        }
        out
    }

    fn wait_ready(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(io::Error::other(format!(
                    "{:?} exited early ({status}): {}",
                    self.kind,
                    self.logs()
                )));
            }
            if let Ok(stream) = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)) {
                stream.set_read_timeout(Some(Duration::from_secs(5)))?;
                let mut line = String::new();
                let mut reader = BufReader::new(&stream);
                // Skip a multi-line greeting's continuation lines.
                loop {
                    line.clear();
                    if reader.read_line(&mut line)? == 0 {
                        break;
                    }
                    if line.len() >= 4 && line.as_bytes()[3] == b' ' {
                        break;
                    }
                }
                if line.starts_with("220") {
                    let _ = (&stream).write_all(b"QUIT\r\n");
                    // A greeting from a server that is not ours: ours failed to bind.
                    if let Some(status) = self.child.try_wait()? {
                        return Err(io::Error::other(format!(
                            "{:?} exited ({status}) while another server answered on its port",
                            self.kind
                        )));
                    }
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "{:?} did not greet in time: {}",
                    self.kind,
                    self.logs()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn id_of(user: &str, flag: &str) -> io::Result<u32> {
    let out = Command::new("id").arg(flag).arg(user).output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "user {user} missing: run .ci/install-peers"
        )));
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(io::Error::other)
}
