//! Gives the heap memory of closed sessions back to the system when a burst of sessions ends
//! (issue 11), for the example servers.
//!
//! Measured (BENCHMARKS.md, "Memory given back after a burst of sessions"): after 1,000 idle
//! logged-in sessions closed, each example server still held all the memory they had grown
//! by. The sessions' own structures were freed; glibc's malloc kept the pages. Its
//! `malloc_info` showed each closed session's block free but cut off from the next one by a
//! small freed chunk parked in a fastbin, which glibc does not merge until something forces it,
//! so the top of the heap never became free enough for glibc to trim it by itself. Its
//! tunables (`arena_max`, `trim_threshold`) changed nothing, and the example servers built with
//! mimalloc or jemalloc as the global allocator did not give the memory back either (and held
//! more per session). `malloc_trim(0)` merges those chunks and returns the free pages of every
//! arena; called once after the burst, it gave back about 85% of the growth.
//!
//! [`BurstTrim`] is an [`Observer`] that counts open sessions. When at least
//! [`MIN_CLOSED`] sessions have closed since the peak and no more than half the peak are
//! still open, it starts a short-lived thread that waits until sessions have stopped closing
//! for [`QUIET`] and then calls `malloc_trim`. That is one call per burst, off the threads that
//! serve sessions, and none while sessions only come and go in small numbers. On other
//! platforms than Linux with glibc it only counts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use ftp_host::events::{Event, Observer};

/// Sessions that must have closed since the peak before a trim is worth its cost.
pub const MIN_CLOSED: usize = 64;

/// How long no session may close before the trim: the rest of the burst, and the adapter's
/// buffers that are dropped after the session reports its end, are freed first.
pub const QUIET: Duration = Duration::from_millis(500);

/// Upper bound on the waits for [`QUIET`], so a steady trickle of closes cannot put the trim
/// off for ever (20 x 500 ms).
const MAX_WAITS: u32 = 20;

/// The example servers' observer that calls `malloc_trim` when a burst of sessions has ended.
/// See the [module documentation](self).
#[derive(Debug)]
pub struct BurstTrim {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    counts: Mutex<Counts>,
    min_closed: usize,
    quiet: Duration,
    trims: AtomicU64,
}

#[derive(Debug)]
struct Counts {
    open: usize,
    peak: usize,
    last_end: Instant,
    trimming: bool,
}

impl BurstTrim {
    /// An observer with the thresholds [`MIN_CLOSED`] and [`QUIET`].
    pub fn new() -> BurstTrim {
        BurstTrim::with(MIN_CLOSED, QUIET)
    }

    fn with(min_closed: usize, quiet: Duration) -> BurstTrim {
        BurstTrim {
            shared: Arc::new(Shared {
                counts: Mutex::new(Counts {
                    open: 0,
                    peak: 0,
                    last_end: Instant::now(),
                    trimming: false,
                }),
                min_closed,
                quiet,
                trims: AtomicU64::new(0),
            }),
        }
    }

    /// Trims done so far (each one after a burst ended).
    pub fn trims(&self) -> u64 {
        self.shared.trims.load(Ordering::Relaxed)
    }
}

impl Default for BurstTrim {
    fn default() -> BurstTrim {
        BurstTrim::new()
    }
}

impl Observer for BurstTrim {
    fn event(&self, event: &Event) {
        let s = &self.shared;
        let mut c = s.counts.lock().unwrap_or_else(PoisonError::into_inner);
        match event {
            Event::SessionStarted { .. } => {
                c.open += 1;
                c.peak = c.peak.max(c.open);
            }
            Event::SessionEnded { .. } => {
                c.open = c.open.saturating_sub(1);
                c.last_end = Instant::now();
                let closed = c.peak - c.open;
                if !c.trimming && closed >= s.min_closed && c.open <= c.peak / 2 {
                    c.trimming = true;
                    let shared = s.clone();
                    let started = thread::Builder::new()
                        .name("burst-trim".into())
                        .spawn(move || shared.settle_and_trim());
                    if let Err(e) = started {
                        c.trimming = false;
                        tracing::debug!("no thread to give memory back after a burst: {e}");
                    }
                }
            }
            _ => {}
        }
    }
}

impl Shared {
    fn settle_and_trim(&self) {
        for _ in 0..MAX_WAITS {
            thread::sleep(self.quiet);
            let c = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
            if c.last_end.elapsed() >= self.quiet {
                break;
            }
        }
        let closed = {
            let mut c = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
            let closed = c.peak - c.open;
            c.peak = c.open;
            c.trimming = false;
            closed
        };
        let started = Instant::now();
        let released = release_free_memory();
        self.trims.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            "{closed} sessions closed: malloc_trim took {:?} (memory released: {released})",
            started.elapsed()
        );
    }
}

/// Returns the free pages of every malloc arena to the system; whether any were released.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)] // The front end's one FFI call: no safe interface to malloc_trim exists.
fn release_free_memory() -> bool {
    extern "C" {
        fn malloc_trim(pad: usize) -> std::ffi::c_int;
    }
    // SAFETY: malloc_trim takes no pointer and only works on glibc's own heap under the
    // arenas' locks (MT-Safe in the glibc manual); any thread may call it at any time.
    unsafe { malloc_trim(0) == 1 }
}

/// Elsewhere there is no malloc_trim to call.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn started(t: &BurstTrim, n: usize) {
        let peer = SocketAddr::from(([127, 0, 0, 1], 1));
        for _ in 0..n {
            t.event(&Event::SessionStarted { peer });
        }
    }

    fn ended(t: &BurstTrim, n: usize) {
        let peer = SocketAddr::from(([127, 0, 0, 1], 1));
        for _ in 0..n {
            t.event(&Event::SessionEnded { peer });
        }
    }

    /// Polls `trims()` until it reaches `want` or `limit` passes.
    fn trims_reach(t: &BurstTrim, want: u64, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if t.trims() >= want {
                return true;
            }
            thread::sleep(Duration::from_millis(5));
        }
        t.trims() >= want
    }

    fn trim_running(t: &BurstTrim) -> bool {
        t.shared.counts.lock().unwrap().trimming
    }

    #[test]
    fn a_burst_that_ends_is_trimmed_once() {
        let t = BurstTrim::with(8, Duration::from_millis(20));
        started(&t, 16);
        ended(&t, 7);
        assert!(!trim_running(&t), "7 closed of 16: not yet a burst's end");
        ended(&t, 9);
        assert!(trims_reach(&t, 1, Duration::from_secs(10)));
        assert!(!trim_running(&t));
        let c = t.shared.counts.lock().unwrap();
        assert_eq!(
            (c.open, c.peak),
            (0, 0),
            "the next burst is counted from here"
        );
    }

    #[test]
    fn sessions_that_come_and_go_in_small_numbers_never_trim() {
        let t = BurstTrim::with(8, Duration::from_millis(1));
        for _ in 0..100 {
            started(&t, 7);
            ended(&t, 7);
        }
        assert!(!trim_running(&t));
        assert_eq!(t.trims(), 0);
    }

    #[test]
    fn half_the_peak_still_open_is_not_the_end_of_a_burst() {
        let t = BurstTrim::with(8, Duration::from_millis(1));
        started(&t, 100);
        ended(&t, 49);
        assert!(!trim_running(&t), "51 of 100 still open");
        ended(&t, 1);
        assert!(trims_reach(&t, 1, Duration::from_secs(10)));
        // A second burst on top of the 50 still open.
        started(&t, 50);
        ended(&t, 50);
        assert!(trims_reach(&t, 2, Duration::from_secs(10)));
    }

    /// The trim really gives memory back: a burst of small allocations, freed with fastbin-sized
    /// chunks left between them as the sessions leave them, stays resident until the trim.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn malloc_trim_returns_what_a_burst_left() {
        // In a thread of its own, so its arena holds nothing but this burst.
        let (before, kept, trimmed) = thread::spawn(|| {
            let rss = || -> i64 {
                let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
                statm
                    .split_whitespace()
                    .nth(1)
                    .unwrap()
                    .parse::<i64>()
                    .unwrap()
                    * 4
            };
            let before = rss();
            let mut blocks: Vec<(Vec<u8>, Vec<u8>)> = (0..4000)
                .map(|i| (vec![i as u8; 4096], vec![1u8; 48]))
                .collect();
            let grown = rss() - before;
            assert!(grown > 8000, "the burst grew RSS by {grown} KiB only");
            blocks.clear();
            blocks.shrink_to_fit();
            let kept = rss() - before;
            release_free_memory();
            (grown, kept, rss() - before)
        })
        .join()
        .unwrap();
        assert!(
            trimmed < before / 2,
            "grown {before} KiB, kept {kept} KiB after free, {trimmed} KiB after the trim"
        );
    }
}
