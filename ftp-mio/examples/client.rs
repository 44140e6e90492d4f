//! A small command-line FTP client over the mio adapter's blocking client.
//!
//! `cargo run -p ftp-mio --example mio-client -- [OPTIONS] COMMAND URL [FILE]`; `--help` lists
//! the commands and options. Exit status 0 on success; otherwise non-zero with a one-line
//! error naming the server's reply. The command line and the commands are `ftp_cli::client`'s,
//! shared with the other adapters' examples; this file only plugs in the blocking client
//! (whose futures are complete when returned, so `ftp_cli::block_on` never parks).

use std::fs::File;
use std::future::{ready, Future};
use std::net::SocketAddr;
use std::process::ExitCode;

use ftp_cli::client::CliClient;
use ftp_mio::client::{Client, Config, Error, Op, Operations};

/// The blocking client, for `ftp_cli::client::run`.
struct Cli(Client);

impl Operations for Cli {
    fn run<T: Send + 'static>(&self, op: Op<T>) -> impl Future<Output = Result<T, Error>> + Send {
        self.0.run(op)
    }
}

impl CliClient for Cli {
    fn connect(
        addr: SocketAddr,
        config: Config,
    ) -> impl Future<Output = Result<Self, Error>> + Send {
        ready(Client::connect(addr, config).map(Cli))
    }
    fn download(
        &self,
        remote: &str,
        offset: u64,
        local: File,
    ) -> impl Future<Output = Result<u64, Error>> + Send {
        ready(self.0.retr_from_to(remote, offset, local))
    }
    fn upload(
        &self,
        local: File,
        remote: &str,
        offset: u64,
    ) -> impl Future<Output = Result<u64, Error>> + Send {
        ready(self.0.stor_at(remote, offset, local))
    }
    fn append(&self, local: File, remote: &str) -> impl Future<Output = Result<u64, Error>> + Send {
        ready(self.0.appe(remote, local))
    }
    fn quit(self) -> impl Future<Output = Result<(), Error>> + Send {
        ready(self.0.quit())
    }
}

fn main() -> ExitCode {
    ftp_cli::client::main::<Cli>(|run| Ok(ftp_cli::block_on(run)))
}
