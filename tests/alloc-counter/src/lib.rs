//! A counting global allocator for allocation tests. Dev-only, never published.
//!
//! The workspace sets `unsafe_code = "forbid"` for every target, and a forbid cannot be relaxed
//! by an `#![allow]` in a test file (E0453), while `#[global_allocator]` needs an
//! `unsafe impl GlobalAlloc`. Keeping that impl in this tiny crate, with `unsafe_code = "deny"`
//! and one scoped `allow`, leaves the forbid in place everywhere else.
//!
//! Use it from a test binary:
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOC: ftp_alloc_counter::CountingAlloc = ftp_alloc_counter::CountingAlloc::new();
//!
//! let before = ftp_alloc_counter::snapshot();
//! // ... code under test ...
//! let cost = ftp_alloc_counter::snapshot() - before;
//! ```
//!
//! The call counters ([`snapshot`]) count the calling thread's allocations only, so that the
//! test harness's own threads cannot add to a measurement; the byte gauges ([`live_bytes`],
//! [`peak_bytes`]) are process-wide, for servers whose threads allocate on their behalf.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ops::{Add, Sub};
use std::sync::atomic::{AtomicUsize, Ordering};

thread_local! {
    // Const-initialised and without a destructor: reading them never allocates, so the
    // allocator may use them, even while a thread is being torn down.
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
    static REALLOCS: Cell<usize> = const { Cell::new(0) };
    static BYTES: Cell<usize> = const { Cell::new(0) };
}

fn bump(counter: &'static std::thread::LocalKey<Cell<usize>>, n: usize) {
    let _ = counter.try_with(|c| c.set(c.get().wrapping_add(n)));
}

fn read(counter: &'static std::thread::LocalKey<Cell<usize>>) -> usize {
    counter.try_with(Cell::get).unwrap_or(0)
}
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grow(n: usize) {
    let live = LIVE.fetch_add(n, Ordering::Relaxed).wrapping_add(n);
    PEAK.fetch_max(live, Ordering::Relaxed);
}

fn shrink(n: usize) {
    LIVE.fetch_sub(n, Ordering::Relaxed);
}

/// Bytes allocated and not yet freed, process-wide.
pub fn live_bytes() -> usize {
    LIVE.load(Ordering::SeqCst)
}

/// Starts a new high-water mark at the current live bytes, and returns it.
pub fn reset_peak() -> usize {
    let live = LIVE.load(Ordering::SeqCst);
    PEAK.store(live, Ordering::SeqCst);
    live
}

/// The most bytes live at once since the last [`reset_peak`].
pub fn peak_bytes() -> usize {
    PEAK.load(Ordering::SeqCst)
}

/// A wrapper over [`System`] that counts allocations, reallocations and bytes requested.
#[derive(Debug, Default)]
pub struct CountingAlloc {
    _private: (),
}

impl CountingAlloc {
    /// The allocator value to put in a `#[global_allocator]` static.
    pub const fn new() -> Self {
        CountingAlloc { _private: () }
    }
}

/// The counters at one moment; subtract two snapshots to get the cost of the code between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// Calls to `alloc` and `alloc_zeroed`.
    pub allocs: usize,
    /// Calls to `realloc` (a growing buffer).
    pub reallocs: usize,
    /// Bytes requested by those calls (for `realloc`, the new size).
    pub bytes: usize,
}

impl Snapshot {
    /// Allocations plus reallocations: every call that may have asked the system for memory.
    pub fn total(&self) -> usize {
        self.allocs + self.reallocs
    }
}

impl Sub for Snapshot {
    type Output = Snapshot;

    fn sub(self, earlier: Snapshot) -> Snapshot {
        Snapshot {
            allocs: self.allocs.wrapping_sub(earlier.allocs),
            reallocs: self.reallocs.wrapping_sub(earlier.reallocs),
            bytes: self.bytes.wrapping_sub(earlier.bytes),
        }
    }
}

impl Add for Snapshot {
    type Output = Snapshot;

    fn add(self, other: Snapshot) -> Snapshot {
        Snapshot {
            allocs: self.allocs.wrapping_add(other.allocs),
            reallocs: self.reallocs.wrapping_add(other.reallocs),
            bytes: self.bytes.wrapping_add(other.bytes),
        }
    }
}

/// Reads the calling thread's counters.
pub fn snapshot() -> Snapshot {
    Snapshot {
        allocs: read(&ALLOCS),
        reallocs: read(&REALLOCS),
        bytes: read(&BYTES),
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `System`'s guarantees carry over; the counters are atomics and never allocate.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump(&ALLOCS, 1);
        bump(&BYTES, layout.size());
        grow(layout.size());
        // SAFETY: forwarded contract (non-zero-size layout, per `GlobalAlloc::alloc`).
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump(&ALLOCS, 1);
        bump(&BYTES, layout.size());
        grow(layout.size());
        // SAFETY: forwarded contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrink(layout.size());
        // SAFETY: `ptr` came from this allocator, i.e. from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump(&REALLOCS, 1);
        bump(&BYTES, new_size);
        // Counted as the new block arriving before the old one goes: the peak a copying
        // realloc really reaches.
        grow(new_size);
        shrink(layout.size());
        // SAFETY: `ptr` came from `System` with `layout`; the size contract is forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
