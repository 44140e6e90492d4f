//! A ready-to-run FTP server over the futures adapter (smol by default, async-std with the
//! `async-std` feature).
//!
//! `cargo run -p ftp-futures --example futures-server` serves the current directory on
//! 127.0.0.1:2121 to anonymous users (read-only) and to a default user whose credentials are
//! printed at start-up. `--help` lists the flags. The command line is `ftp_cli::server`'s,
//! shared with the other adapters' examples; this file only builds and runs the server.

use std::process::ExitCode;

use ftp_cli::server::{on_shutdown_signal, Setup};
use ftp_futures::server::Server;

fn main() -> ExitCode {
    ftp_cli::server::main(|s| ftp_futures::block_on(serve(s)))
}

async fn serve(s: Setup) -> Result<(), ftp_cli::Error> {
    let server = Server::from_settings(s.settings(s.storage()?))
        .bind()
        .await?;
    s.print_serving(server.local_addrs());
    let shutdown = server.shutdown_handle();
    on_shutdown_signal(move || shutdown.shutdown())?;
    server.run().await?;
    Ok(())
}
