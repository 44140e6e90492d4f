//! One loop thread serving many connections: 200 idle logged-in sessions, each answering
//! NOOP, with no thread more than with one session. Alone in its test binary, so that the
//! thread count is this test's.

mod common;

use std::time::{Duration, Instant};

use common::{TestServer, PASS, USER};
use ftp_mio::client::{Client, Config};

fn threads() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:").map(|n| n.trim().parse().ok()))
                .flatten()
        })
        .unwrap_or(0)
}

fn config() -> Config {
    let mut c = Config::new(USER, PASS);
    c.connect_timeout = Duration::from_secs(10);
    c.session.reply_timeout = Duration::from_secs(20);
    c
}

#[test]
fn two_hundred_idle_sessions_on_one_loop() {
    let server = TestServer::with(common::Options {
        max_per_ip: 300,
        ..Default::default()
    });
    // A login has run, so the worker pool is up.
    Client::connect(server.addr, config())
        .expect("connect")
        .quit()
        .expect("quit");
    let before = threads();
    let started = Instant::now();
    let clients: Vec<Client> = (0..200)
        .map(|i| {
            Client::connect(server.addr, config()).unwrap_or_else(|e| panic!("client {i}: {e}"))
        })
        .collect();
    for (i, c) in clients.iter().enumerate() {
        let r = c.noop().unwrap_or_else(|e| panic!("NOOP {i}: {e}"));
        assert_eq!(r.code().as_u16(), 200);
    }
    // The server is one loop thread plus its fixed pool, whatever the number of
    // connections; the clients run in this thread (this test is alone in its process).
    let during = threads();
    assert_eq!(during, before, "threads for 200 connections");
    assert!(started.elapsed() < Duration::from_secs(60));
    for c in clients {
        c.quit().expect("quit");
    }
}
