//! A bounded soak of every adapter's server: mixed sessions with random drops, ending with no
//! leaked file descriptors and the heap back near where it started. Alone in its test binary
//! (one test), so the process-wide counts it compares see nothing else.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use ftp_tests::ctl::Ctl;
use ftp_tests::{content, sha256, Options, TestServer};

#[global_allocator]
static ALLOC: ftp_alloc_counter::CountingAlloc = ftp_alloc_counter::CountingAlloc::new();

fn server(per_ip: usize) -> TestServer {
    TestServer::with(Options {
        anonymous: false,
        max_per_ip: per_ip,
        data_timeout: Duration::from_secs(3),
        ..Options::default()
    })
}

/// Makes the connection end with RST instead of FIN once every handle to it is dropped.
fn reset_on_close(s: &std::net::TcpStream) {
    socket2::SockRef::from(s)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
}

/// Sends a command that starts a transfer and checks its preliminary reply.
fn prelim(c: &mut Ctl, cmd: &str) {
    let r = c.cmd(cmd);
    assert!(r.starts_with("125") || r.starts_with("150"), "{cmd}: {r}");
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// A bounded soak: sessions at concurrency 50 against every adapter's server at once for 30
/// seconds (`FTP_SOAK_SECS` to run longer by hand), each logging in, listing, downloading,
/// uploading and sometimes dropping its connections mid-transfer. Afterwards the servers
/// must hold no more file descriptors than before, and the heap must be back near its start.
#[test]
fn soak_of_mixed_sessions_with_random_drops_leaks_nothing() {
    let secs: u64 = std::env::var("FTP_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let servers: Vec<TestServer> = [
        ftp_tests::Adapter::Tokio,
        ftp_tests::Adapter::Futures,
        ftp_tests::Adapter::Mio,
    ]
    .into_iter()
    .map(|a| ftp_tests::with_adapter(a, || server(64)))
    .collect();
    let body = content(2 << 20, 5);
    for s in &servers {
        std::fs::create_dir(s.path("dir")).unwrap();
        s.put_file("file.bin", &body);
        for i in 0..20 {
            s.put_file(&format!("dir/f{i}"), b"x");
        }
    }
    let want = sha256(&body);
    // Warm up once per server so that lazily built state (thread pools, TLS-free caches)
    // is in the baseline, not counted as a leak.
    for s in &servers {
        session(s.addr, 0, &want);
    }
    let fds_before = open_fds();
    let heap_before = ftp_alloc_counter::live_bytes();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let addrs: Vec<_> = servers.iter().map(|s| s.addr).collect();
    let mut finished = 0u64;
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..50u64)
            .map(|w| {
                let addrs = &addrs;
                let want = &want;
                scope.spawn(move || {
                    let mut n = 0u64;
                    let mut seed = w.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
                    while Instant::now() < deadline {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        let addr = addrs[(seed % addrs.len() as u64) as usize];
                        session(addr, seed, want);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        for w in workers {
            finished += w.join().unwrap();
        }
    });
    assert!(finished >= 50, "only {finished} sessions ran");
    // Every server notices every drop within its timeouts; give them that long.
    let settle = Instant::now() + Duration::from_secs(15);
    let mut fds = open_fds();
    while fds > fds_before && Instant::now() < settle {
        std::thread::sleep(Duration::from_millis(200));
        fds = open_fds();
    }
    let heap = ftp_alloc_counter::live_bytes();
    eprintln!(
        "soak: {finished} sessions in {secs} s; fds {fds_before} -> {fds}; heap {} KiB -> {} KiB",
        heap_before >> 10,
        heap >> 10
    );
    assert!(fds <= fds_before, "leaked {} descriptors", fds - fds_before);
    assert!(
        heap < heap_before + (1 << 20),
        "the heap grew from {heap_before} to {heap} bytes"
    );
    for s in &servers {
        // Still serving.
        session(s.addr, 0, &want);
    }
}

/// One client session; `seed` picks what it does and whether it drops out mid-way.
fn session(addr: std::net::SocketAddr, seed: u64, want: &str) {
    let mut c = Ctl::connect(addr);
    c.login();
    match seed % 6 {
        0 | 1 => {
            let mut d = c.data(addr);
            prelim(&mut c, "RETR file.bin");
            let mut got = Vec::new();
            d.read_to_end(&mut got).unwrap();
            assert_eq!(&sha256(&got), want);
            assert!(c.reply().starts_with("226"));
        }
        2 => {
            let mut d = c.data(addr);
            prelim(&mut c, "LIST dir");
            let mut got = String::new();
            d.read_to_string(&mut got).unwrap();
            assert_eq!(got.lines().count(), 20);
            assert!(c.reply().starts_with("226"));
        }
        3 => {
            let name = format!("up{}.bin", seed % 1000);
            let mut d = c.data(addr);
            prelim(&mut c, &format!("STOR {name}"));
            d.write_all(&content(300_000, seed)).unwrap();
            drop(d);
            assert!(c.reply().starts_with("226"));
        }
        4 => {
            // Drop everything mid-download, sometimes with a reset.
            let mut d = c.data(addr);
            prelim(&mut c, "RETR file.bin");
            let mut buf = [0u8; 4096];
            let _ = d.read(&mut buf);
            if seed % 12 == 4 {
                reset_on_close(&d);
                reset_on_close(&c.w);
            }
            return;
        }
        _ => {
            // Drop mid-upload: the control connection goes, the data connection is reset.
            let mut d = c.data(addr);
            prelim(&mut c, "STOR dropped.bin");
            let _ = d.write_all(&content(100_000, seed));
            reset_on_close(&d);
            return;
        }
    }
    assert!(c.cmd("QUIT").starts_with("221"));
}
