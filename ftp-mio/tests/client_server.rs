//! Our blocking client against our mio server.

mod common;

use std::time::Duration;

use common::{content, TestServer, PASS, USER};
#[cfg(feature = "tls")]
use ftp_mio::client::insecure_tls_config;
use ftp_mio::client::{Client, Config};
use ftp_proto::client::DataMode;
#[cfg(feature = "tls")]
use ftp_proto::server::TlsMode;

fn config() -> Config {
    let mut c = Config::new(USER, PASS);
    c.connect_timeout = Duration::from_secs(10);
    c.data_idle_timeout = Duration::from_secs(20);
    c.session.reply_timeout = Duration::from_secs(20);
    c
}

fn round_trip(client: &Client, name: &str, len: usize) {
    let data = content(len, len as u64);
    assert_eq!(client.stor(name, &data[..]).expect("stor"), len as u64);
    let mut got = Vec::new();
    assert_eq!(client.retr_to(name, &mut got).expect("retr"), len as u64);
    assert!(got == data, "downloaded bytes differ");
}

#[test]
fn login_put_get_list() {
    let server = TestServer::start();
    let client = Client::connect(server.addr, config()).expect("connect");
    assert_eq!(client.pwd().expect("pwd"), "/");
    round_trip(&client, "/big.bin", 3 * 1024 * 1024);
    assert_eq!(
        std::fs::read(server.path("big.bin")).expect("stored file"),
        content(3 * 1024 * 1024, 3 * 1024 * 1024)
    );
    let entries = client.list(Some("/")).expect("list");
    let big = entries
        .iter()
        .find(|e| &e.name[..] == b"big.bin")
        .expect("listed");
    assert_eq!(big.size, Some(3 * 1024 * 1024));
    assert_eq!(client.size("/big.bin").expect("size"), 3 * 1024 * 1024);
    let names = client.nlst(None::<&str>).expect("nlst");
    assert!(names.iter().any(|n| n.ends_with(b"big.bin")));
    let mlsd = client.mlsd(Some("/")).expect("mlsd");
    assert!(mlsd.iter().any(|e| &e.name[..] == b"big.bin"));
    client.quit().expect("quit");
}

#[test]
fn resume_download_and_upload() {
    let server = TestServer::start();
    let data = content(1_000_000, 7);
    server.put_file("r.bin", &data);
    let client = Client::connect(server.addr, config()).expect("connect");
    let mut tail = Vec::new();
    let n = client
        .retr_from_to("/r.bin", 400_000, &mut tail)
        .expect("resumed retr");
    assert_eq!(n, 600_000);
    assert!(tail[..] == data[400_000..]);
    // An upload cut at 300 000 bytes, resumed from there.
    server.put_file("u.bin", &data[..300_000]);
    client
        .stor_at("/u.bin", 300_000, &data[300_000..])
        .expect("resumed stor");
    assert!(std::fs::read(server.path("u.bin")).expect("file") == data);
    client.appe("/u.bin", &b"tail"[..]).expect("appe");
    assert_eq!(client.size("/u.bin").expect("size"), 1_000_004);
    let name = client.stou(&b"unique"[..]).expect("stou");
    assert!(name.is_some());
    client.quit().expect("quit");
}

#[test]
fn rename_delete_mkdir() {
    let server = TestServer::start();
    server.put_file("a.txt", b"hello");
    let client = Client::connect(server.addr, config()).expect("connect");
    client.mkdir("/dir").expect("mkdir");
    assert!(server.path("dir").is_dir());
    client.cwd("/dir").expect("cwd");
    assert_eq!(client.pwd().expect("pwd"), "/dir");
    client.cdup().expect("cdup");
    client.rename("/a.txt", "/dir/b.txt").expect("rename");
    assert!(server.path("dir/b.txt").is_file());
    assert!(!server.path("a.txt").exists());
    let e = client
        .delete("/nope.txt")
        .expect_err("delete of a missing file");
    assert_eq!(e.reply().map(|r| r.code().as_u16()), Some(550));
    client.delete("/dir/b.txt").expect("delete");
    client.rmdir("/dir").expect("rmdir");
    assert!(!server.path("dir").exists());
    client.noop().expect("noop");
    client.mdtm("/").ok();
    client.stat(None::<&str>).expect("stat");
    client.quit().expect("quit");
}

#[test]
fn passive_epsv_pasv_and_active() {
    let server = TestServer::start();
    for mode in [DataMode::Passive, DataMode::PassiveNoEpsv, DataMode::Active] {
        let mut c = config();
        c.session.data_mode = mode;
        let client = Client::connect(server.addr, c).expect("connect");
        round_trip(&client, &format!("/{mode:?}.bin"), 200_000);
        assert!(!client.list(None::<&str>).expect("list").is_empty());
        client.quit().expect("quit");
    }
}

#[cfg(feature = "tls")]
#[test]
fn explicit_ftps_upload_download() {
    let server = TestServer::with(common::Options {
        tls: TlsMode::Explicit,
        ..Default::default()
    });
    let client =
        Client::connect_tls(server.addr, config(), insecure_tls_config()).expect("connect");
    assert!(client.login_info().tls);
    assert!(client.login_info().data_tls);
    round_trip(&client, "/tls.bin", 3 * 1024 * 1024);
    assert!(!client.list(None::<&str>).expect("list").is_empty());
    client.quit().expect("quit");
}

#[cfg(feature = "tls")]
#[test]
fn explicit_ftps_requiring_session_reuse() {
    let server = TestServer::with(common::Options {
        tls: TlsMode::ExplicitRequired,
        config: Box::new(|c| c.require_tls_session_reuse = true),
        ..Default::default()
    });
    let client =
        Client::connect_tls(server.addr, config(), insecure_tls_config()).expect("connect");
    round_trip(&client, "/reuse.bin", 500_000);
    round_trip(&client, "/reuse2.bin", 1000);
    client.quit().expect("quit");
}

#[cfg(feature = "tls")]
#[test]
fn implicit_ftps() {
    let server = TestServer::with(common::Options {
        tls: TlsMode::Implicit,
        ..Default::default()
    });
    let client = Client::connect_implicit_tls(server.addr, config(), insecure_tls_config())
        .expect("connect");
    assert!(client.login_info().tls);
    round_trip(&client, "/implicit.bin", 1_000_000);
    client.quit().expect("quit");
}

#[cfg(feature = "tls")]
#[test]
fn active_mode_over_tls() {
    let server = TestServer::with(common::Options {
        tls: TlsMode::Explicit,
        ..Default::default()
    });
    let mut c = config();
    c.session.data_mode = DataMode::Active;
    let client = Client::connect_tls(server.addr, c, insecure_tls_config()).expect("connect");
    round_trip(&client, "/active-tls.bin", 700_000);
    client.quit().expect("quit");
}

#[test]
fn failed_source_fails_the_upload() {
    struct Failing(usize);
    impl std::io::Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("disk on fire"));
            }
            let n = buf.len().min(self.0);
            buf[..n].fill(b'x');
            self.0 -= n;
            Ok(n)
        }
    }
    let server = TestServer::start();
    let client = Client::connect(server.addr, config()).expect("connect");
    let e = client
        .stor("/broken.bin", Failing(100_000))
        .expect_err("the upload must fail");
    assert!(matches!(e, ftp_mio::client::Error::Local(_)), "{e:?}");
    // The session goes on.
    client.noop().expect("noop after a failed upload");
    client.quit().expect("quit");
}

#[test]
fn wrong_password_is_refused() {
    let server = TestServer::start();
    let e = Client::connect(server.addr, ftp_mio::client::Config::new(USER, "nope"))
        .expect_err("login must fail");
    assert_eq!(e.reply().map(|r| r.code().as_u16()), Some(530));
}
