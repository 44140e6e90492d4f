//! The load generator of `bench/run.py`: raw FTP sessions over std sockets, and a plain TCP
//! sender/receiver pair for the loopback limit. Standard library only, so that run.py builds
//! it with `rustc -O` alone (no crate, no second target directory).
//!
//! ```text
//! loadgen sessions ADDR USER PASS DIR CONCURRENCY SESSIONS SECONDS
//!     SESSIONS short sessions, CONCURRENCY at a time, each: connect, 220, USER, PASS, PWD,
//!     EPSV, LIST DIR (read to the end), 226, QUIT, 221; stops early after SECONDS. Every
//!     connection comes from 127.0.0.1: run.py configures every server's per-address cap
//!     above CONCURRENCY.
//! loadgen tcp MIB
//!     MIB MiB from a sender thread to a receiver thread over 127.0.0.1, 1 MiB writes/reads.
//! ```
//!
//! Prints one line of `key=value` pairs: what was done, the wall time, and the generator's
//! own CPU time (from /proc/self/stat), so run.py can show that it is not the bottleneck.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const IO_TIMEOUT: Duration = Duration::from_secs(10);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("sessions") if args.len() == 8 => sessions(&args[1..]),
        Some("tcp") if args.len() == 2 => tcp(&args[1]),
        _ => Err(
            "usage: loadgen sessions ADDR USER PASS DIR CONCURRENCY SESSIONS SECONDS | \
                  loadgen tcp MIB"
                .into(),
        ),
    };
    if let Err(e) = result {
        eprintln!("loadgen: {e}");
        std::process::exit(2);
    }
}

type Res<T> = Result<T, String>;

/// utime + stime of this process, in seconds.
fn own_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 of stat(5) are the 12th and 13th after the command name.
    (ticks(11) + ticks(12)) / 100.0
}

fn num<T: std::str::FromStr>(s: &str, what: &str) -> Res<T> {
    s.parse().map_err(|_| format!("bad {what}: {s}"))
}

fn sessions(a: &[String]) -> Res<()> {
    let addr: SocketAddr = num(&a[0], "address")?;
    let (user, pass, dir) = (a[1].clone(), a[2].clone(), a[3].clone());
    let conc: usize = num(&a[4], "concurrency")?;
    let total: u64 = num(&a[5], "session count")?;
    let secs: f64 = num(&a[6], "seconds")?;
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let next = Arc::new(AtomicU64::new(0));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let cpu0 = own_cpu();
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..conc {
        let (next, ok, failed) = (next.clone(), ok.clone(), failed.clone());
        let (user, pass, dir) = (user.clone(), pass.clone(), dir.clone());
        workers.push(std::thread::spawn(move || {
            let mut lat = Vec::new();
            let mut last_err = None;
            while Instant::now() < deadline && next.fetch_add(1, Ordering::Relaxed) < total {
                let t = Instant::now();
                match session(addr, &user, &pass, &dir) {
                    Ok(()) => {
                        ok.fetch_add(1, Ordering::Relaxed);
                        lat.push(t.elapsed());
                    }
                    Err(e) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        last_err = Some(e);
                    }
                }
            }
            (lat, last_err)
        }));
    }
    let mut lat = Vec::new();
    let mut err = None;
    for w in workers {
        let (l, e) = w.join().map_err(|_| "a worker panicked".to_string())?;
        lat.extend(l);
        err = err.or(e);
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = own_cpu() - cpu0;
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 - 1.0) * p).round() as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let ok = ok.load(Ordering::Relaxed);
    println!(
        "ok={ok} failed={} wall={wall:.4} per_s={:.1} p50_ms={:.3} p99_ms={:.3} gen_cpu={cpu:.3}",
        failed.load(Ordering::Relaxed),
        ok as f64 / wall,
        pct(0.5),
        pct(0.99),
    );
    if let Some(e) = err {
        eprintln!("loadgen: last error: {e}");
    }
    Ok(())
}

fn connect(to: SocketAddr) -> Res<TcpStream> {
    let s = TcpStream::connect_timeout(&to, IO_TIMEOUT).map_err(|e| format!("connect: {e}"))?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(IO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(IO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    Ok(s)
}

struct Ctl {
    r: BufReader<TcpStream>,
    w: TcpStream,
    line: String,
}

impl Ctl {
    /// One reply (multi-line replies read to their end): its code.
    fn reply(&mut self) -> Res<u32> {
        self.next_line()?;
        let code: u32 = self
            .line
            .get(..3)
            .and_then(|c| c.parse().ok())
            .ok_or("bad reply")?;
        if self.line.as_bytes().get(3) == Some(&b'-') {
            let end = format!("{code} ");
            loop {
                self.next_line()?;
                if self.line.starts_with(&end) {
                    break;
                }
            }
        }
        Ok(code)
    }

    /// Reads the next line of a reply into `self.line`.
    fn next_line(&mut self) -> Res<()> {
        self.line.clear();
        match self.r.read_line(&mut self.line) {
            Ok(0) => Err("control connection closed".into()),
            Ok(_) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }

    fn cmd(&mut self, c: &str, want: u32) -> Res<()> {
        self.w
            .write_all(format!("{c}\r\n").as_bytes())
            .map_err(|e| e.to_string())?;
        self.expect(c, want)
    }

    fn expect(&mut self, what: &str, want: u32) -> Res<()> {
        let code = self.reply()?;
        if code / 100 == want / 100 && (want % 100 == 0 || code == want) {
            Ok(())
        } else {
            Err(format!("{what}: {}", self.line.trim_end()))
        }
    }
}

fn session(addr: SocketAddr, user: &str, pass: &str, dir: &str) -> Res<()> {
    let s = connect(addr)?;
    let w = s.try_clone().map_err(|e| e.to_string())?;
    let mut c = Ctl {
        r: BufReader::new(s),
        w,
        line: String::new(),
    };
    c.expect("greeting", 220)?;
    c.cmd(&format!("USER {user}"), 331)?;
    c.cmd(&format!("PASS {pass}"), 230)?;
    c.cmd("PWD", 257)?;
    c.cmd("EPSV", 229)?;
    let port: u16 = c
        .line
        .split("|||")
        .nth(1)
        .and_then(|p| p.split('|').next())
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| format!("EPSV: {}", c.line.trim_end()))?;
    let mut data = connect(SocketAddr::new(addr.ip(), port))?;
    c.cmd(&format!("LIST {dir}"), 100)?;
    let mut listing = Vec::new();
    data.read_to_end(&mut listing).map_err(|e| e.to_string())?;
    drop(data);
    c.expect("LIST end", 226)?;
    let lines = listing.iter().filter(|&&b| b == b'\n').count();
    if lines < 100 {
        return Err(format!("LIST: {lines} lines"));
    }
    c.cmd("QUIT", 221)?;
    Ok(())
}

fn tcp(mib: &str) -> Res<()> {
    let mib: u64 = num(mib, "MiB")?;
    let l =
        TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)).map_err(|e| e.to_string())?;
    let to = l.local_addr().map_err(|e| e.to_string())?;
    let cpu0 = own_cpu();
    let start = Instant::now();
    let sender = std::thread::spawn(move || -> Res<()> {
        let mut s = TcpStream::connect(to).map_err(|e| e.to_string())?;
        let buf = vec![0x5au8; 1 << 20];
        for _ in 0..mib {
            s.write_all(&buf).map_err(|e| e.to_string())?;
        }
        Ok(())
    });
    let (mut r, _) = l.accept().map_err(|e| e.to_string())?;
    r.set_read_timeout(Some(IO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 1 << 20];
    let mut got = 0u64;
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got += n as u64,
            Err(e) => return Err(e.to_string()),
        }
    }
    sender.join().map_err(|_| "sender panicked".to_string())??;
    let wall = start.elapsed().as_secs_f64();
    if got != mib << 20 {
        return Err(format!("received {got} of {} bytes", mib << 20));
    }
    println!(
        "bytes={got} wall={wall:.4} mb_s={:.1} gen_cpu={:.3}",
        got as f64 / wall / 1e6,
        own_cpu() - cpu0
    );
    Ok(())
}
