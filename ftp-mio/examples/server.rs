//! A ready-to-run FTP server over the mio adapter: one event-loop thread and a small worker
//! pool, no async runtime.
//!
//! `cargo run -p ftp-mio --example mio-server` serves the current directory on 127.0.0.1:2121 to
//! anonymous users (read-only) and to a default user whose credentials are printed at
//! start-up. `--help` lists the flags. The command line is `ftp_cli::server`'s, shared with
//! the other adapters' examples; this file only builds and runs the server.

use std::process::ExitCode;

use ftp_cli::server::{on_shutdown_signal, Setup};
use ftp_mio::server::Server;

fn main() -> ExitCode {
    ftp_cli::server::main(serve)
}

fn serve(s: Setup) -> Result<(), ftp_cli::Error> {
    let server = Server::from_settings(s.settings(s.storage()?)).bind()?;
    s.print_serving(server.local_addrs());
    let shutdown = server.shutdown_handle();
    on_shutdown_signal(move || shutdown.shutdown())?;
    server.run()?;
    Ok(())
}
