//! The command-line front ends of the adapters' example server and client, written once:
//! help texts, argument parsing, defaults, start-up and error messages, exit statuses, URL
//! parsing, the client's listing format and command dispatch. Runtime-neutral: no executor,
//! no socket; an adapter's example supplies those.
//!
//! - [`server`]: [`server::main`] parses the arguments into a [`server::Setup`] (listen
//!   addresses, root, users, session configuration, rustls configuration, connection limit)
//!   and hands it to the adapter's code; [`server::on_shutdown_signal`] runs a graceful
//!   shutdown on SIGINT and SIGTERM.
//! - [`trim`]: [`trim::BurstTrim`], the observer [`server::main`] adds so that the example
//!   servers give the memory of a burst of sessions back to the system when it ends.
//! - [`client`]: [`client::main`] parses the arguments and runs [`client::run`], the command
//!   dispatch, over the adapter's client through the small [`client::CliClient`] trait.
//!
//! # Adapter checklist
//!
//! An adapter's `examples/server.rs` and `examples/client.rs` hold only what needs the
//! adapter's types; `ftp-tokio/examples/` are the model. Add `ftp-cli` to the adapter's
//! `[dev-dependencies]`.
//!
//! **Server** (`examples/server.rs`): `fn main() -> ExitCode { ftp_cli::server::main(|s| ...) }`
//! where the closure, given the [`server::Setup`] `s`, starts the runtime and
//! 1. builds the server from the adapter-neutral settings:
//!    `Server::from_settings(s.settings(s.storage()?))`
//!    ([`server::Setup::settings`]);
//! 2. binds it, then calls `s.print_serving(bound_addresses)` ([`server::Setup::print_serving`]);
//! 3. calls [`server::on_shutdown_signal`]`(move || shutdown_handle.shutdown())?` (the closure
//!    runs on a plain thread, so the handle must work from outside the runtime);
//! 4. runs the server to its end and returns `Ok(())`; errors convert with `?` into
//!    [`Error`].
//!
//! Tracing, the default user line and every error message come from [`server::main`].
//!
//! **Client** (`examples/client.rs`):
//! 1. a newtype around the adapter's client, `struct Cli(Client);` (the orphan rule forbids
//!    implementing a foreign trait on a foreign type in an example);
//! 2. `impl Operations for Cli`, forwarding `run` to the inner client
//!    ([`ftp_host::client::Operations::run`]);
//! 3. `impl CliClient for Cli` ([`client::CliClient`]): `connect` (the adapter's
//!    `Client::connect(addr, config)`; the [`Config`](ftp_host::client::Config) already holds
//!    the TLS mode and rustls configuration), `download`, `upload` and `append` (RETR from an
//!    offset into, STOR at an offset from, and APPE from a `std::fs::File`, converted to the
//!    runtime's file type: the client's `retr_from_to`, `stor_at` and `appe`) and `quit`;
//!    `async fn` bodies are fine;
//! 4. `fn main() -> ExitCode { ftp_cli::client::main::<Cli>(|run| Ok(block_on(run))) }`, with
//!    the runtime's `block_on` (tokio builds a current-thread runtime first; a blocking
//!    adapter can use [`block_on`]).
//!
//! With that, each example is about 40 lines, and the CLIs, defaults and output are the same
//! for every adapter.

pub mod client;
pub mod server;
pub mod trim;

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// The error of the server front end: a message for `server: ERROR`. Anything that is
/// [`std::error::Error`] (an adapter's set-up error, an I/O error) converts with `?`.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Installs the examples' tracing subscriber: `tracing_subscriber::fmt` (to stdout), with the
/// log level from `RUST_LOG`, `info` by default, colours only when stdout is a terminal (so
/// a log file or a pipe gets plain text). Does nothing if a global subscriber is already set.
pub fn init_tracing() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal())
        .try_init();
}

/// Runs a future to its end on the calling thread, parking it while the future is pending.
/// For adapters without an executor of their own (a blocking adapter's example client);
/// the future must be woken from another thread (or be ready at once).
pub fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(output) => return output,
            Poll::Pending => std::thread::park(),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn block_on_runs_a_future_woken_from_another_thread() {
        use std::sync::mpsc;
        use std::task::Poll;
        let (tx, rx) = mpsc::channel::<std::task::Waker>();
        let mut ready = false;
        let fut = std::future::poll_fn(move |cx| {
            if ready {
                return Poll::Ready(7);
            }
            ready = true;
            tx.send(cx.waker().clone()).unwrap();
            Poll::Pending
        });
        let t = std::thread::spawn(move || rx.recv().unwrap().wake());
        assert_eq!(super::block_on(fut), 7);
        t.join().unwrap();
    }
}
