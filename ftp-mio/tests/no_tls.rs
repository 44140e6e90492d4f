//! Without the `tls` feature, asking for TLS fails with a clear error.

#![cfg(not(feature = "tls"))]

use std::sync::Arc;

use ftp_mio::client::{Client, Config};
use ftp_mio::server::{FsStorage, Server, UserList};
use ftp_proto::client::ClientTls;
use ftp_proto::server::{ServerConfig, TlsMode};

#[test]
fn tls_is_refused_clearly() {
    let root = tempfile::tempdir().expect("dir");
    let mut config = ServerConfig::default();
    config.tls = TlsMode::Explicit;
    let e = Server::new(
        FsStorage::new(root.path()).expect("storage"),
        UserList::new(),
    )
    .listen("127.0.0.1:0".parse().expect("addr"))
    .config(Arc::new(config))
    .bind()
    .expect_err("TLS without the feature");
    assert!(e.to_string().contains("`tls` feature"), "{e}");
    let mut c = Config::new("u", "p");
    c.session.tls = ClientTls::Required;
    let e = Client::connect("127.0.0.1:9".parse().expect("addr"), c).expect_err("refused");
    assert!(e.to_string().contains("`tls` feature"), "{e}");
}
