//! The current adapter's example client binary, built on demand: shared by the test files
//! that run it.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::SystemTime;

use ftp_tests::{current_adapter, Adapter};

/// The package and example name of the current adapter's example client.
pub fn package() -> (&'static str, &'static str) {
    match current_adapter() {
        Adapter::Tokio => ("ftp-tokio", "client"),
        Adapter::Futures => ("ftp-futures", "futures-client"),
        Adapter::Mio => ("ftp-mio", "mio-client"),
    }
}

/// The current adapter's example binary in this test's target directory, built when missing
/// or older than the sources it is made of: `cargo test -p ftp-tests` does not build the
/// adapters' examples, and the example's code lives in ftp-cli too. (`cargo test --workspace`
/// builds them first, so they are not built again with this crate's features.)
pub fn example() -> PathBuf {
    static BINS: Mutex<Option<HashMap<&'static str, PathBuf>>> = Mutex::new(None);
    let (package, name) = package();
    let mut bins = BINS.lock().unwrap_or_else(|e| e.into_inner());
    bins.get_or_insert_with(HashMap::new)
        .entry(name)
        .or_insert_with(|| {
            let exe = std::env::current_exe().unwrap();
            let dir = exe.parent().unwrap().parent().unwrap();
            let bin = dir.join("examples").join(name);
            let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
            let built = std::fs::metadata(&bin).and_then(|m| m.modified()).ok();
            let sources = [
                "ftp-proto/src",
                "ftp-host/src",
                "ftp-cli/src",
                &format!("{package}/src"),
                &format!("{package}/examples"),
            ]
            .iter()
            .map(|d| newest(&root.join(d)))
            .max()
            .flatten();
            if built.is_none() || sources > built {
                let profile = match dir.file_name().and_then(|n| n.to_str()) {
                    Some("debug") | None => "dev",
                    Some(p) => p,
                };
                let status = Command::new(env!("CARGO"))
                    .args(["build", "-p", package, "--example", name])
                    .args(["--profile", profile])
                    .current_dir(root)
                    .status()
                    .unwrap();
                assert!(status.success(), "building the example client {name}");
            }
            bin
        })
        .clone()
}

/// The latest modification time of the files under `dir`.
fn newest(dir: &Path) -> Option<SystemTime> {
    let mut latest = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let t = match entry.file_type() {
            Ok(t) if t.is_dir() => newest(&entry.path()),
            _ => entry.metadata().and_then(|m| m.modified()).ok(),
        };
        latest = latest.max(t);
    }
    latest
}
