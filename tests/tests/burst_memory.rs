//! Memory given back after a burst of sessions (issue 11), end to end: each adapter's example
//! server binary holds a burst of idle logged-in sessions, and once they have all closed its
//! private memory must fall back by at least half of what the burst added. Without the trim
//! after a burst (`ftp_cli::trim`) and the maps that shrink (`ftp_host::tables`), it kept all
//! of it (BENCHMARKS.md, "Memory given back after a burst of sessions").

#![cfg(all(target_os = "linux", target_env = "gnu"))]

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use ftp_tests::adapter_tests;
use ftp_tests::ctl::Ctl;
use ftp_tests::{PASS, USER};

/// Sessions in the burst: enough that the burst's growth (a few MiB) stands well above what a
/// process keeps whatever it serves (malloc's per-thread caches, thread stacks).
const BURST: usize = 600;

/// The server's private (anonymous) memory in KiB: `Pss_Anon` of its smaps_rollup, which,
/// unlike the file-backed part, does not move with other processes mapping the same libraries.
fn anon_kib(pid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("Pss_Anon:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("Pss_Anon in smaps_rollup")
}

adapter_tests! {
    fn a_burst_of_sessions_gives_its_memory_back_when_it_ends() {
        let root = tempfile::tempdir().unwrap();
        let cap = (BURST + 16).to_string();
        let mut command = Command::new(ftp_tests::examples::server_bin(&[]));
        command
            .args(["--listen", "127.0.0.1:0", "--root"])
            .arg(root.path())
            .args(["--user", &format!("{USER}:{PASS}")])
            .args(["--max-connections", &cap, "--max-per-ip", &cap]);
        let ftp_tests::examples::Spawned { mut child, addr, .. } =
            ftp_tests::examples::spawn_server(command);
        let pid = child.id();

        // One session first, so what is set up once is not counted as the burst's.
        let mut first = Ctl::connect(addr);
        first.login();
        assert!(first.cmd("QUIT").starts_with("221"));
        drop(first);
        let before = anon_kib(pid);

        let mut burst: Vec<Ctl> = (0..BURST)
            .map(|_| {
                let mut c = Ctl::connect(addr);
                c.login();
                c
            })
            .collect();
        for c in &mut burst {
            assert!(c.cmd("NOOP").starts_with("200"), "every session is alive");
        }
        let during = anon_kib(pid);
        let grown = during.saturating_sub(before);
        assert!(
            grown >= BURST as u64,
            "the burst grew the server by {grown} KiB only: nothing to give back"
        );
        drop(burst);

        // Given back once the server has seen the closes and the trim has run (it waits for
        // 0.5 s without a close): polled, at most 20 s.
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut after = anon_kib(pid);
        while after > before + grown / 2 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(50));
            after = anon_kib(pid);
        }
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            after <= before + grown / 2,
            "private memory {before} KiB before {BURST} sessions, {during} KiB with them, \
             {after} KiB 20 s after they closed: less than half of the burst given back"
        );
    }
}
