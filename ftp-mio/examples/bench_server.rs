//! Temporary: a mio server for measurements (not committed).
use std::sync::Arc;
fn main() {
    let root = std::env::args().nth(1).unwrap();
    let port = std::env::args().nth(2).unwrap();
    let workers: usize = std::env::args().nth(3).map(|w| w.parse().unwrap()).unwrap_or(4);
    let config = ftp_proto::server::ServerConfig::default();
    let users = ftp_mio::server::UserList::new().user("u", "p");
    let server = ftp_mio::server::Server::new(ftp_mio::server::FsStorage::new(root).unwrap(), users)
        .listen(format!("127.0.0.1:{port}").parse().unwrap())
        .config(Arc::new(config))
        .workers(workers)
        .bind()
        .unwrap();
    server.run().unwrap();
}
