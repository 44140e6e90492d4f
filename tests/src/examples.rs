//! The adapters' example server binaries, built by cargo on first use, for tests that run the
//! server as its users do (command-line flags, environment, stdout).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use crate::{current_adapter, Adapter};

/// The package and example name of `adapter`'s example server.
pub fn package(adapter: Adapter) -> (&'static str, &'static str) {
    match adapter {
        Adapter::Tokio => ("ftp-tokio", "server"),
        Adapter::Futures => ("ftp-futures", "futures-server"),
        Adapter::Mio => ("ftp-mio", "mio-server"),
    }
}

/// The [`current_adapter`]'s example server built with `features` (e.g. `ftp-cli/s3`; cargo
/// does nothing when it is up to date, once per test binary and feature set). Tests of one
/// binary must all ask for the same features: the binary's path does not depend on them.
pub fn server_bin(features: &[&str]) -> PathBuf {
    static BUILT: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let (package, name) = package(current_adapter());
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.contains(&name) {
        let profile = match dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev",
            Some(p) => p,
        };
        let mut cargo = Command::new(env!("CARGO"));
        cargo
            .args(["build", "-q", "-p", package, "--example", name])
            .args(["--profile", profile])
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
        if !features.is_empty() {
            cargo.args(["--features", &features.join(",")]);
        }
        let status = cargo.status().unwrap();
        assert!(status.success(), "building {package}'s {name} example");
        built.push(name);
    }
    dir.join("examples").join(name)
}

/// An example server spawned by [`spawn_server`].
pub struct Spawned {
    /// The process.
    pub child: Child,
    /// The address of its first `serving ... on ftp://ADDR/` line.
    pub addr: SocketAddr,
    /// The lines it printed before that one (the default user, `metrics on http://...`).
    pub before: Vec<String>,
}

/// Spawns an example server from `command` (its flags given, `--listen 127.0.0.1:0` among
/// them), with `RUST_LOG=warn`, and returns it once it has printed the address it serves on;
/// its standard output keeps being drained (so it never blocks on a full pipe), its standard
/// error is dropped.
pub fn spawn_server(mut command: Command) -> Spawned {
    let mut child = command
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut before = Vec::new();
    let addr = loop {
        let line = lines
            .next()
            .expect("the server printed its address")
            .unwrap();
        if let Some(rest) = line.split(" on ftp://").nth(1) {
            break rest.trim_end_matches('/').parse().unwrap();
        }
        before.push(line);
    };
    std::thread::spawn(move || lines.for_each(drop));
    Spawned {
        child,
        addr,
        before,
    }
}
