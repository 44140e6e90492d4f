//! A small command-line FTP client over the futures adapter.
//!
//! `cargo run -p ftp-futures --example futures-client -- [OPTIONS] COMMAND URL [FILE]`;
//! `--help` lists the commands and options. Exit status 0 on success; otherwise non-zero with a
//! one-line error naming the server's reply. The command line and the commands are
//! `ftp_cli::client`'s, shared with the other adapters' examples; this file only plugs in the
//! futures client.

use std::fs::File;
use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;

use ftp_cli::client::CliClient;
use ftp_futures::client::{Client, Config, Error, Op, Operations};

/// The futures client, for `ftp_cli::client::run`.
struct Cli(Client);

impl Operations for Cli {
    fn run<T: Send + 'static>(&self, op: Op<T>) -> impl Future<Output = Result<T, Error>> + Send {
        self.0.run(op)
    }
}

impl CliClient for Cli {
    async fn connect(addr: SocketAddr, config: Config) -> Result<Self, Error> {
        Client::connect(addr, config).await.map(Cli)
    }
    async fn download(&self, remote: &str, offset: u64, local: File) -> Result<u64, Error> {
        let local = blocking::Unblock::new(local);
        self.0.retr_from_to(remote, offset, local).await
    }
    async fn upload(&self, local: File, remote: &str, offset: u64) -> Result<u64, Error> {
        let local = blocking::Unblock::new(local);
        self.0.stor_at(remote, offset, local).await
    }
    async fn append(&self, local: File, remote: &str) -> Result<u64, Error> {
        self.0.appe(remote, blocking::Unblock::new(local)).await
    }
    async fn quit(self) -> Result<(), Error> {
        self.0.quit().await
    }
}

fn main() -> ExitCode {
    ftp_cli::client::main::<Cli>(|run| Ok(ftp_futures::block_on(run)))
}
