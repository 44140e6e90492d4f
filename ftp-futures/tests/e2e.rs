//! The futures client against the futures server, in process: a file-and-directory suite in
//! EPSV, PASV and active mode and over explicit FTPS (AUTH TLS, PROT P), plus a download read
//! as a stream and an upload whose source fails.

mod common;

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use common::{content, start, start_with, Running, PASS, USER};
use ftp_futures::client::{insecure_tls_config, Client, Config, Error, Operations};
use ftp_proto::client::DataMode;
use ftp_proto::server::TlsMode;
use futures_lite::AsyncReadExt;

/// 3 MB: more than a transfer chunk and the in-flight buffers, so back-pressure happens.
const BIG: usize = 3 * 1024 * 1024;

fn config(mode: DataMode) -> Config {
    let mut config = Config::new(USER, PASS);
    config.session.data_mode = mode;
    config
}

/// Connects, explicitly secured when the server speaks TLS.
async fn connect(server: &Running, mode: DataMode, tls: bool) -> Client {
    let client = if tls {
        Client::connect_tls(server.addr, config(mode), insecure_tls_config()).await
    } else {
        Client::connect(server.addr, config(mode)).await
    }
    .expect("connect and log in");
    assert_eq!(client.login_info().tls, tls);
    assert_eq!(client.login_info().data_tls, tls);
    assert_eq!(client.peer_addr(), server.addr);
    client
}

/// mkdir, a 3 MB upload and download (byte-equal, also read as a stream), list, size,
/// rename, delete, rmdir; checked on the server's disk too.
async fn suite(server: &Running, client: &Client, seed: u64) {
    let data = content(BIG, seed);
    client.mkdir("/dir").await.expect("mkdir");
    assert!(server.path("dir").is_dir());

    let sent = client.stor("/dir/big.bin", &data[..]).await.expect("stor");
    assert_eq!(sent, data.len() as u64);
    assert_eq!(std::fs::read(server.path("dir/big.bin")).unwrap(), data);

    let mut got = Vec::new();
    let n = client
        .retr_to("/dir/big.bin", &mut got)
        .await
        .expect("retr");
    assert_eq!(n, data.len() as u64);
    assert!(got == data, "download differs");

    let mut stream = client.retr("/dir/big.bin").await.expect("retr stream");
    let mut streamed = Vec::new();
    stream
        .read_to_end(&mut streamed)
        .await
        .expect("read stream");
    assert!(streamed == data, "streamed download differs");
    assert!(stream.outcome().is_some());

    let entries = client.list(Some("/dir")).await.expect("list");
    let entry = entries
        .iter()
        .find(|e| &e.name[..] == b"big.bin")
        .expect("the file is listed");
    assert_eq!(entry.size, Some(data.len() as u64));
    assert_eq!(
        client.size("/dir/big.bin").await.expect("size"),
        data.len() as u64
    );

    client
        .rename("/dir/big.bin", "/dir/renamed.bin")
        .await
        .expect("rename");
    assert!(!server.path("dir/big.bin").exists());
    let names = client.nlst(Some("/dir")).await.expect("nlst");
    assert!(
        names.iter().any(|n| n.ends_with(b"renamed.bin")),
        "{names:?}"
    );

    client.delete("/dir/renamed.bin").await.expect("delete");
    assert!(!server.path("dir/renamed.bin").exists());
    assert!(client.list(Some("/dir")).await.expect("list").is_empty());
    client.rmdir("/dir").await.expect("rmdir");
    assert!(!server.path("dir").exists());
}

fn run_suite(tls: bool, mode: DataMode, seed: u64) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let server = start(if tls {
        TlsMode::Explicit
    } else {
        TlsMode::Disabled
    });
    ftp_futures::block_on(async {
        let client = connect(&server, mode, tls).await;
        suite(&server, &client, seed).await;
        client.quit().await.expect("quit");
    });
}

#[test]
fn epsv() {
    run_suite(false, DataMode::Passive, 1);
}

#[test]
fn pasv() {
    run_suite(false, DataMode::PassiveNoEpsv, 2);
}

#[test]
fn active() {
    run_suite(false, DataMode::Active, 3);
}

#[test]
fn explicit_ftps() {
    run_suite(true, DataMode::Passive, 4);
}

#[test]
fn explicit_ftps_active() {
    run_suite(true, DataMode::Active, 5);
}

/// A source that yields some bytes, then fails.
struct Failing(usize);

impl futures_io::AsyncRead for Failing {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if self.0 == 0 {
            return Poll::Ready(Err(io::Error::other("source broke")));
        }
        let n = buf.len().min(self.0);
        buf[..n].fill(b'x');
        self.0 -= n;
        Poll::Ready(Ok(n))
    }
}

#[test]
fn failed_source_is_never_a_complete_upload() {
    for tls in [false, true] {
        let server = start(if tls {
            TlsMode::Explicit
        } else {
            TlsMode::Disabled
        });
        ftp_futures::block_on(async {
            let client = connect(&server, DataMode::Passive, tls).await;
            let err = client
                .stor("/broken.bin", Failing(1024 * 1024))
                .await
                .expect_err("a failed source fails the upload");
            assert!(matches!(err, Error::Local(_)), "{err:?}");
            // The session goes on.
            client.noop().await.expect("noop after a failed upload");
            let ok = client.stor("/ok.bin", &b"fine"[..]).await.expect("stor");
            assert_eq!(ok, 4);
            client.quit().await.expect("quit");
        });
    }
}

#[test]
fn missing_file_fails_the_stream_with_the_reply() {
    let server = start(TlsMode::Disabled);
    ftp_futures::block_on(async {
        let client = connect(&server, DataMode::Passive, false).await;
        let err = client
            .retr_to("/nope.bin", Vec::new())
            .await
            .expect_err("no such file");
        assert_eq!(
            err.reply().map(|r| r.code().to_string()),
            Some("550".into())
        );
        let mut stream = client.retr("/nope.bin").await.expect("queued");
        let mut buf = Vec::new();
        let e = stream
            .read_to_end(&mut buf)
            .await
            .expect_err("the stream fails");
        let inner = e.into_inner().expect("inner error");
        assert!(inner.downcast::<Error>().is_ok());
        client.quit().await.expect("quit");
    });
}

#[test]
fn implicit_ftps_with_data_sessions_resumed() {
    // The server refuses data connections that do not resume the control connection's TLS
    // session, so these transfers prove the resumption on both sides.
    let server = start_with(TlsMode::Implicit, |c| c.require_tls_session_reuse = true);
    ftp_futures::block_on(async {
        let client = Client::connect_implicit_tls(
            server.addr,
            config(DataMode::Passive),
            insecure_tls_config(),
        )
        .await
        .expect("implicit TLS login");
        assert!(client.login_info().tls && client.login_info().data_tls);
        let data = content(300 * 1024, 6);
        client.stor("/f.bin", &data[..]).await.expect("stor");
        let mut got = Vec::new();
        client.retr_to("/f.bin", &mut got).await.expect("retr");
        assert!(got == data);
        assert_eq!(client.list(None::<&str>).await.expect("list").len(), 1);
        client.quit().await.expect("quit");
    });
}

#[test]
fn abort_a_download_and_go_on() {
    let server = start(TlsMode::Disabled);
    let big = content(32 * 1024 * 1024, 9);
    std::fs::write(server.path("big.bin"), &big).unwrap();
    ftp_futures::block_on(async {
        let client = connect(&server, DataMode::Passive, false).await;
        let mut stream = client.retr("big.bin").await.expect("retr");
        let mut first = vec![0u8; 1024];
        stream.read_exact(&mut first).await.expect("first bytes");
        assert_eq!(first, big[..1024]);
        client.abort().await.expect("abort");
        let mut rest = Vec::new();
        assert!(
            stream.read_to_end(&mut rest).await.is_err(),
            "an aborted stream ends in error"
        );
        // A stream dropped early fails its transfer; the session goes on.
        let mut dropped = client.retr("big.bin").await.expect("retr");
        dropped.read_exact(&mut first).await.expect("first bytes");
        drop(dropped);
        assert_eq!(
            client.size("big.bin").await.expect("size"),
            big.len() as u64
        );
        let small = client.retr("big.bin").await.expect("retr");
        assert!(small.finish().await.is_ok());
        client.quit().await.expect("quit");
    });
}

#[test]
fn shutdown_closes_idle_sessions_and_run_returns() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let server = start(TlsMode::Disabled);
    let client = ftp_futures::block_on(connect(&server, DataMode::Passive, false));
    // Dropping the server shuts it down and joins the thread that runs it.
    drop(server);
    let err = ftp_futures::block_on(client.noop()).expect_err("the server is gone");
    assert!(matches!(err, Error::Session(_) | Error::Closed), "{err:?}");
}

#[test]
fn shutdown_drops_a_stalled_transfer_after_the_grace_period() {
    let server = start(TlsMode::Disabled);
    std::fs::write(server.path("big.bin"), content(32 * 1024 * 1024, 10)).unwrap();
    let client = ftp_futures::block_on(connect(&server, DataMode::Passive, false));
    // A download nobody reads: the transfer stalls on back-pressure.
    let stream = ftp_futures::block_on(client.retr("big.bin")).expect("retr");
    std::thread::sleep(std::time::Duration::from_millis(200));
    let started = std::time::Instant::now();
    drop(server); // grace period: 2 s
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_millis(1500) && waited.as_secs() < 10,
        "{waited:?}"
    );
    drop(stream);
}
