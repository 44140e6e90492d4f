//! The operations every interop test of our clients runs against a server: login, listings,
//! get and put with byte equality, resume both ways, append, rename, delete, directories,
//! size and mdtm, and a refused operation that carries the server's reply.
//!
//! The suite is written once and instantiated per client adapter by [`client_suite!`]: each
//! instance is a module (`tokio_client`, ...) with the same functions over that adapter's
//! `Client`, and `block_on` for its runtime.

#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use ftp_host::client::{Config, Error, Operations};
use ftp_proto::client::DataMode;
use ftp_proto::listing::EntryKind;
use ftp_proto::time::Timestamp;
use ftp_tests::{content, sha256};

/// How to connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// EPSV (PASV if the server refuses it).
    Epsv,
    /// PASV only.
    Pasv,
    /// Active: PORT on IPv4, EPRT on IPv6.
    Active,
    /// Explicit FTPS (AUTH TLS, PROT P), passive.
    Tls,
    /// Explicit FTPS, active.
    TlsActive,
    /// Implicit FTPS, passive.
    Implicit,
}

/// What the server under test can do.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    /// MLSD and MLST.
    pub mlsd: bool,
    /// REST before STOR.
    pub rest_stor: bool,
    /// NLST includes `.` and `..`.
    pub nlst_dots: bool,
    /// LIST shows a symlink as the file it points to.
    pub follows_symlinks: bool,
}

pub fn config(user: &str, pass: &str, mode: Mode) -> Config {
    let mut c = Config::new(user.to_owned(), pass.to_owned());
    c.session.reply_timeout = Duration::from_secs(20);
    c.connect_timeout = Duration::from_secs(10);
    c.data_idle_timeout = Duration::from_secs(20);
    c.session.data_mode = match mode {
        Mode::Pasv => DataMode::PassiveNoEpsv,
        Mode::Active | Mode::TlsActive => DataMode::Active,
        _ => DataMode::Passive,
    };
    c
}

fn on_disk(root: &Path, name: &str) -> Vec<u8> {
    std::fs::read(root.join(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
}

fn names(entries: &[ftp_proto::listing::Entry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| String::from_utf8_lossy(&e.name).into_owned())
        .collect()
}

/// Instantiates the suite for one client adapter: `client_suite!(module, crate, block_on,
/// read-extension trait)`.
#[macro_export]
macro_rules! client_suite {
    ($module:ident, $krate:ident, $block_on:expr, $read_ext:path) => {
        #[allow(dead_code)]
        pub mod $module {
            use std::net::SocketAddr;
            use std::path::Path;
            use std::sync::Arc;

            use super::*;
            use $read_ext as _;

            /// Runs `f` to completion on this adapter's runtime.
            pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
                ($block_on)(f)
            }

            pub async fn connect(
                addr: SocketAddr,
                user: &str,
                pass: &str,
                mode: Mode,
            ) -> $krate::client::Client {
                connect_with(
                    addr,
                    config(user, pass, mode),
                    mode,
                    $krate::client::insecure_tls_config(),
                )
                .await
            }

            pub async fn connect_with(
                addr: SocketAddr,
                config: Config,
                mode: Mode,
                tls: Arc<rustls::ClientConfig>,
            ) -> $krate::client::Client {
                let r = match mode {
                    Mode::Tls | Mode::TlsActive => {
                        $krate::client::Client::connect_tls(addr, config, tls).await
                    }
                    Mode::Implicit => {
                        $krate::client::Client::connect_implicit_tls(addr, config, tls).await
                    }
                    _ => $krate::client::Client::connect(addr, config).await,
                };
                let client = r.unwrap_or_else(|e| panic!("connect {mode:?}: {e}"));
                let tls_on = matches!(mode, Mode::Tls | Mode::TlsActive | Mode::Implicit);
                assert_eq!(client.login_info().tls, tls_on, "control TLS");
                assert_eq!(client.login_info().data_tls, tls_on, "data TLS");
                client
            }

            async fn get(client: &$krate::client::Client, name: &str) -> Vec<u8> {
                let mut out = Vec::new();
                let n = client
                    .retr_to(name, &mut out)
                    .await
                    .unwrap_or_else(|e| panic!("get {name}: {e}"));
                assert_eq!(n, out.len() as u64);
                out
            }

            async fn put(client: &$krate::client::Client, name: &str, bytes: &[u8]) {
                let n = client
                    .stor(name, bytes)
                    .await
                    .unwrap_or_else(|e| panic!("put {name} ({} bytes): {e}", bytes.len()));
                assert_eq!(n, bytes.len() as u64);
            }

            /// A file dated long ago (LIST shows a year: day precision), a recent one (LIST
            /// shows the time: minute precision), a directory and a symlink, put on disk
            /// beside the client's files; LIST (and MLSD where offered) must give each the
            /// type, size and date the disk has.
            async fn check_listing_facts(
                client: &$krate::client::Client,
                root: &Path,
                caps: Caps,
                tag: &str,
            ) {
                let old = format!("{tag}-old.bin");
                let recent = format!("{tag}-recent.bin");
                let dir = format!("{tag}-listed-dir");
                let link = format!("{tag}-link");
                let now = std::time::SystemTime::now();
                // 2021-03-04T05:06:07Z, and three days ago at 30 s past a minute.
                let old_time = std::time::UNIX_EPOCH + Duration::from_secs(1_614_834_367);
                let ago = now.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 3 * 86_400;
                let recent_time = std::time::UNIX_EPOCH + Duration::from_secs(ago - ago % 60 + 30);
                for (name, len, time) in [(&old, 12_345, old_time), (&recent, 777, recent_time)] {
                    std::fs::write(root.join(name), content(len, 5)).unwrap();
                    std::fs::File::options()
                        .write(true)
                        .open(root.join(name))
                        .and_then(|f| f.set_modified(time))
                        .unwrap();
                }
                std::fs::create_dir(root.join(&dir)).unwrap();
                std::os::unix::fs::symlink(&old, root.join(&link)).unwrap();
                let unix = |t: std::time::SystemTime| {
                    t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
                };

                let entries = client.list(None::<&str>).await.expect("list");
                let find = |name: &str| {
                    entries
                        .iter()
                        .find(|e| e.name.as_ref() == name.as_bytes())
                        .unwrap_or_else(|| panic!("LIST has no {name}: {entries:?}"))
                };
                let e = find(&old);
                assert_eq!(e.kind, EntryKind::File, "{e:?}");
                assert_eq!(e.size, Some(12_345), "{e:?}");
                let t = e.modified.expect("LIST date").unix_seconds();
                // A year-dated LIST line has the day only (2021-03-04); a server listing
                // in UTC puts it on that day.
                assert_eq!(t - t % 86_400, 1_614_816_000, "{e:?}");
                let e = find(&recent);
                assert_eq!(e.kind, EntryKind::File, "{e:?}");
                assert_eq!(e.size, Some(777), "{e:?}");
                let t = e.modified.expect("LIST date").unix_seconds();
                assert_eq!(t, unix(recent_time) - 30, "minute of {e:?}");
                let e = find(&dir);
                assert_eq!(e.kind, EntryKind::Dir, "{e:?}");
                let e = find(&link);
                assert!(
                    matches!(&e.kind, EntryKind::Symlink { target } if target.as_deref() == Some(old.as_bytes()))
                        || (caps.follows_symlinks && e.kind == EntryKind::File && e.size == Some(12_345)),
                    "{e:?}"
                );

                if caps.mlsd {
                    let entries = client.mlsd(None::<&str>).await.expect("mlsd");
                    let find = |name: &str| {
                        entries
                            .iter()
                            .find(|e| e.name.as_ref() == name.as_bytes())
                            .unwrap_or_else(|| panic!("MLSD has no {name}: {entries:?}"))
                    };
                    for (name, len, time) in [(&old, 12_345, old_time), (&recent, 777, recent_time)] {
                        let e = find(name);
                        assert_eq!(e.kind, EntryKind::File, "{e:?}");
                        assert_eq!(e.size, Some(len), "{e:?}");
                        // MLSD's modify fact is UTC to the second.
                        assert_eq!(e.modified.map(|t| t.unix_seconds()), Some(unix(time)), "{e:?}");
                    }
                    assert_eq!(find(&dir).kind, EntryKind::Dir);
                }
                for name in [&old, &recent, &link] {
                    std::fs::remove_file(root.join(name)).unwrap();
                }
                std::fs::remove_dir(root.join(&dir)).unwrap();
            }

            /// STOU, MFMT, SITE CHMOD and STAT, checked on disk where they change it.
            pub async fn run_extras(client: &$krate::client::Client, root: &Path, tag: &str) {
                use std::os::unix::fs::PermissionsExt;
                // STOU: the server picks the name; the reply names it and the file holds the
                // bytes sent.
                let body = format!("{tag} unique\n").into_bytes();
                let name = client
                    .stou(&body[..])
                    .await
                    .expect("stou")
                    .expect("the STOU reply names the file");
                let name = String::from_utf8_lossy(&name).into_owned();
                let name = name.rsplit('/').next().unwrap_or(&name).to_owned();
                assert_eq!(on_disk(root, &name), body, "STOU file {name}");
                std::fs::remove_file(root.join(&name)).unwrap();

                // MFMT sets the date on disk, and MDTM reads it back.
                let file = format!("{tag}-extras.txt");
                std::fs::write(root.join(&file), b"x").unwrap();
                std::fs::set_permissions(
                    root.join(&file),
                    std::fs::Permissions::from_mode(0o644),
                )
                .unwrap();
                // 2020-01-02T03:04:05Z
                let when = Timestamp::from_unix(1_577_934_245, 0).unwrap();
                let r = client.mfmt(&file, when).await.expect("mfmt");
                assert_eq!(r.code().to_string(), "213", "{r:?}");
                let modified = std::fs::metadata(root.join(&file)).unwrap().modified().unwrap();
                assert_eq!(Timestamp::from_system_time(modified), Some(when));
                assert_eq!(client.mdtm(&file).await.expect("mdtm"), when);

                // SITE CHMOD changes the mode on disk.
                let r = client
                    .site(format!("CHMOD 600 {file}"))
                    .await
                    .expect("site chmod");
                assert_eq!(r.code().to_string(), "200", "{r:?}");
                let mode = std::fs::metadata(root.join(&file)).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600);
                // An unknown SITE command is refused with the server's reply.
                let err = client.site("NO-SUCH-THING").await.unwrap_err();
                assert!(err.reply().is_some_and(|r| r.code().to_string().starts_with('5')), "{err}");

                // STAT of the server, and of a file (its listing line, over the control
                // connection).
                let r = client.stat(None::<&str>).await.expect("stat");
                assert!(r.code().to_string().starts_with("21"), "{r:?}");
                let r = client.stat(Some(&file)).await.expect("stat file");
                assert!(r.code().to_string().starts_with("21"), "{r:?}");
                let text = r.lines().map(|l| String::from_utf8_lossy(l).into_owned()).collect::<Vec<_>>().join("\n");
                assert!(text.contains(&file), "{text}");
                assert!(text.contains("-rw-------"), "{text}");
                client.delete(&file).await.expect("delete");
            }

            /// Whether the client has given up EPSV on this session and uses PASV instead:
            /// read from the session itself, because a client that falls back passes every
            /// transfer test and hides a broken EPSV on either side.
            pub async fn epsv_given_up(client: &$krate::client::Client) -> bool {
                use std::sync::atomic::{AtomicBool, Ordering};
                let seen = Arc::new(AtomicBool::new(true));
                let out = seen.clone();
                let op = ftp_host::client::Op::new(
                    move |s, now| {
                        out.store(s.is_epsv_disabled(), Ordering::SeqCst);
                        s.noop(now)
                    },
                    |_| Ok(()),
                );
                client.run(op).await.expect("noop reading the EPSV state");
                seen.load(Ordering::SeqCst)
            }

            /// Every operation, against a server whose user lands in `root`.
            pub async fn run(client: &$krate::client::Client, root: &Path, caps: Caps, tag: &str) {
                client.noop().await.expect("noop");
                let home = client.pwd().await.expect("pwd");
                assert!(home.starts_with(b"/"), "pwd {home:?}");

                // Get and put, sizes 0, 1 and 1 MiB + odd.
                let big = content(1024 * 1024 + 4099, 7);
                for (i, data) in [Vec::new(), vec![b'\n'], big.clone()].iter().enumerate() {
                    let name = format!("{tag}-up{i}.bin");
                    put(client, &name, data).await;
                    assert_eq!(
                        sha256(&on_disk(root, &name)),
                        sha256(data),
                        "{name} on disk"
                    );
                    assert_eq!(client.size(&name).await.expect("size"), data.len() as u64);
                    assert_eq!(&get(client, &name).await, data, "{name} downloaded");
                }
                // A file the server already had, read as an AsyncRead stream.
                let name = format!("{tag}-there.bin");
                let there = content(300_001, 3);
                std::fs::write(root.join(&name), &there).unwrap();
                let mut stream = client.retr(&name).await.expect("retr");
                let mut got = Vec::new();
                stream.read_to_end(&mut got).await.expect("retr stream");
                assert_eq!(sha256(&got), sha256(&there));
                assert!(stream.outcome().is_some());
                client.mdtm(&name).await.expect("mdtm");

                // Resume a download.
                let mut tail = Vec::new();
                client
                    .retr_from_to(&name, 100_000, &mut tail)
                    .await
                    .expect("resumed get");
                assert_eq!(tail, there[100_000..], "resumed get");

                // Resume an upload.
                let name = format!("{tag}-resume.bin");
                put(client, &name, &big[..500_000]).await;
                match client.stor_at(&name, 500_000, &big[500_000..]).await {
                    Ok(n) => {
                        assert!(caps.rest_stor, "REST STOR accepted unexpectedly");
                        assert_eq!(n, (big.len() - 500_000) as u64);
                        assert_eq!(sha256(&on_disk(root, &name)), sha256(&big), "resumed put");
                    }
                    Err(e) => {
                        assert!(!caps.rest_stor, "resumed put: {e}");
                        assert!(e.reply().is_some(), "refusal carries the reply: {e}");
                    }
                }

                // Append.
                let name = format!("{tag}-appe.txt");
                put(client, &name, b"one\n").await;
                client.appe(&name, &b"two\n"[..]).await.expect("appe");
                assert_eq!(on_disk(root, &name), b"one\ntwo\n");

                // LIST and MLSD entries as the client parses them, against the disk.
                check_listing_facts(client, root, caps, tag).await;

                // Listings.
                let listed = names(&client.list(None::<&str>).await.expect("list"));
                assert!(listed.contains(&name), "LIST {listed:?}");
                let nlst: Vec<String> = client
                    .nlst(None::<&str>)
                    .await
                    .expect("nlst")
                    .iter()
                    .map(|n| String::from_utf8_lossy(n).into_owned())
                    .collect();
                assert!(nlst.iter().any(|n| n.ends_with(&name)), "NLST {nlst:?}");
                if caps.mlsd {
                    let entries = client.mlsd(None::<&str>).await.expect("mlsd");
                    let e = entries
                        .iter()
                        .find(|e| e.name.as_ref() == name.as_bytes())
                        .unwrap_or_else(|| panic!("MLSD {:?}", names(&entries)));
                    assert_eq!(e.size, Some(8));
                    let e = client.mlst(Some(&name)).await.expect("mlst");
                    assert_eq!(e.size, Some(8));
                }

                // Rename and delete.
                let renamed = format!("{tag}-renamed.txt");
                client.rename(&name, &renamed).await.expect("rename");
                assert!(root.join(&renamed).exists() && !root.join(&name).exists());
                client.delete(&renamed).await.expect("delete");
                assert!(!root.join(&renamed).exists());

                // Directories.
                let dir = format!("{tag}-dir");
                client.mkdir(&dir).await.expect("mkdir");
                assert!(root.join(&dir).is_dir());
                client.cwd(&dir).await.expect("cwd");
                let inside = client.pwd().await.expect("pwd");
                assert!(inside.ends_with(dir.as_bytes()), "pwd {inside:?}");
                put(client, "inner.bin", b"inner").await;
                assert_eq!(on_disk(&root.join(&dir), "inner.bin"), b"inner");
                client.delete("inner.bin").await.expect("delete inner");
                client.cdup().await.expect("cdup");
                client.rmdir(&dir).await.expect("rmdir");
                assert!(!root.join(&dir).exists());

                // A refusal names the server's reply, and the session goes on.
                let err = client
                    .retr_to("no-such-file", Vec::new())
                    .await
                    .unwrap_err();
                match &err {
                    Error::Op(_) => {
                        let code = err.reply().expect("reply").code();
                        assert!(
                            code.to_string().starts_with('5') || code.to_string().starts_with('4')
                        );
                    }
                    e => panic!("missing file: {e}"),
                }
                assert!(err.to_string().contains("server replied"), "{err}");
                client.size("no-such-file").await.unwrap_err();
                client.noop().await.expect("noop after errors");
            }
        }
    };
}

fn tokio_block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

client_suite!(
    tokio_client,
    ftp_tokio,
    tokio_block_on,
    tokio::io::AsyncReadExt
);
client_suite!(
    futures_client,
    ftp_futures,
    ftp_futures::block_on,
    futures_lite::AsyncReadExt
);
client_suite!(
    mio_client,
    mio_shim,
    futures_lite::future::block_on,
    futures_lite::AsyncReadExt
);

/// The mio adapter's blocking client behind the async method names the suite calls (each
/// future is complete when it is returned), so that the same suite runs over it.
pub mod mio_shim {
    /// The shim's `client` module, shaped like the async adapters'.
    pub mod client {
        use std::future::Future;
        use std::io::Cursor;
        use std::net::SocketAddr;
        use std::pin::Pin;
        use std::sync::Arc;
        use std::task::{Context, Poll};

        use ftp_mio::client::Op;
        pub use ftp_mio::client::{insecure_tls_config, Config, Error, Operations};
        use ftp_proto::client::LoginInfo;

        /// The blocking client.
        pub struct Client(ftp_mio::client::Client);

        impl Operations for Client {
            fn run<T: Send + 'static>(
                &self,
                op: Op<T>,
            ) -> impl Future<Output = Result<T, Error>> + Send {
                self.0.run(op)
            }
        }

        /// A download read whole before it is handed out: the blocking client has no stream.
        pub struct Downloaded(Cursor<Vec<u8>>);

        impl Downloaded {
            /// The blocking download succeeded, so there is always an outcome.
            pub fn outcome(&self) -> Option<()> {
                Some(())
            }
        }

        impl futures_io::AsyncRead for Downloaded {
            fn poll_read(
                mut self: Pin<&mut Self>,
                _: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<std::io::Result<usize>> {
                Poll::Ready(std::io::Read::read(&mut self.0, buf))
            }
        }

        impl Client {
            pub async fn connect(addr: SocketAddr, config: Config) -> Result<Client, Error> {
                ftp_mio::client::Client::connect(addr, config).map(Client)
            }
            pub async fn connect_tls(
                addr: SocketAddr,
                config: Config,
                tls: Arc<rustls::ClientConfig>,
            ) -> Result<Client, Error> {
                ftp_mio::client::Client::connect_tls(addr, config, tls).map(Client)
            }
            pub async fn connect_implicit_tls(
                addr: SocketAddr,
                config: Config,
                tls: Arc<rustls::ClientConfig>,
            ) -> Result<Client, Error> {
                ftp_mio::client::Client::connect_implicit_tls(addr, config, tls).map(Client)
            }
            pub fn login_info(&self) -> &LoginInfo {
                self.0.login_info()
            }
            pub async fn retr(&self, path: &str) -> Result<Downloaded, Error> {
                let mut out = Vec::new();
                self.0.retr_to(path, &mut out)?;
                Ok(Downloaded(Cursor::new(out)))
            }
            pub async fn retr_to(
                &self,
                path: &str,
                dst: impl std::io::Write,
            ) -> Result<u64, Error> {
                self.0.retr_to(path, dst)
            }
            pub async fn retr_from_to(
                &self,
                path: &str,
                offset: u64,
                dst: impl std::io::Write,
            ) -> Result<u64, Error> {
                self.0.retr_from_to(path, offset, dst)
            }
            pub async fn stor(&self, path: &str, src: impl std::io::Read) -> Result<u64, Error> {
                self.0.stor(path, src)
            }
            pub async fn stor_at(
                &self,
                path: &str,
                offset: u64,
                src: impl std::io::Read,
            ) -> Result<u64, Error> {
                self.0.stor_at(path, offset, src)
            }
            pub async fn appe(&self, path: &str, src: impl std::io::Read) -> Result<u64, Error> {
                self.0.appe(path, src)
            }
            pub async fn stou(
                &self,
                src: impl std::io::Read,
            ) -> Result<Option<bytes::Bytes>, Error> {
                self.0.stou(src)
            }
            pub async fn quit(self) -> Result<(), Error> {
                self.0.quit()
            }
        }
    }
}
