//! Our blocking client against our mio server.

mod common;

use std::time::Duration;

use common::{content, TestServer, PASS, USER};
use ftp_mio::client::{insecure_tls_config, Client, Config};
use ftp_proto::client::DataMode;
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
    let big = entries.iter().find(|e| &e.name[..] == b"big.bin").expect("listed");
    assert_eq!(big.size, Some(3 * 1024 * 1024));
    assert_eq!(client.size("/big.bin").expect("size"), 3 * 1024 * 1024);
    let names = client.nlst(None::<&str>).expect("nlst");
    assert!(names.iter().any(|n| n.ends_with(b"big.bin")));
    let mlsd = client.mlsd(Some("/")).expect("mlsd");
    assert!(mlsd.iter().any(|e| &e.name[..] == b"big.bin"));
    client.quit().expect("quit");
}
