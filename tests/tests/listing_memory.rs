//! A listing of a huge directory is formatted as it is sent: the server's memory does not grow
//! with the directory. The test binary counts every allocation (a counting global allocator),
//! so the peak of live heap bytes while curl lists the directory is the server's cost (curl
//! runs in its own process).

use std::sync::Mutex;

use ftp_tests::*;

#[global_allocator]
static ALLOC: ftp_alloc_counter::CountingAlloc = ftp_alloc_counter::CountingAlloc::new();

/// The allocation counters are process-wide: one measurement at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Entries in the directory. Each costs well over 100 bytes as an in-memory entry and about
/// 60 as a LIST line, so a server that built the listing first would peak far above the
/// limit below.
const ENTRIES: usize = 100_000;

/// The most heap the server may hold at once for the listing (the first batch that is sorted
/// when small, plus the chunks in flight).
const LIMIT: usize = 16 << 20;

/// One directory for every adapter (creating it is the slow part): each adapter's server gets
/// it moved into its root, a rename within one file system.
#[test]
fn list_nlst_mlsd_of_100k_entries_in_bounded_memory() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = tempfile::tempdir().unwrap();
    let mut dir = scratch.path().join("big");
    std::fs::create_dir(&dir).unwrap();
    for i in 0..ENTRIES {
        std::fs::File::create(dir.join(format!("f{i:07}"))).unwrap();
    }
    for adapter in [Adapter::Tokio, Adapter::Futures, Adapter::Mio] {
        with_adapter(adapter, || {
            let srv = TestServer::start();
            std::fs::rename(&dir, srv.path("big")).unwrap();
            dir = srv.path("big");
            list_in_bounded_memory(&srv, adapter);
            // Out again before the server's root goes.
            let back = scratch.path().join("big");
            std::fs::rename(&dir, &back).unwrap();
            dir = back;
        });
    }
}

fn list_in_bounded_memory(srv: &TestServer, adapter: Adapter) {
    let out_dir = tempfile::tempdir().unwrap();
    for (what, args) in [
        ("LIST", vec![]),
        ("NLST", vec!["-l"]),
        ("MLSD", vec!["-X", "MLSD"]),
    ] {
        let base = ftp_alloc_counter::reset_peak();
        let url = srv.url("ftp", "big/");
        // To a file: capturing curl's output would count against this process.
        let mut all = vec!["-sS", "-o", "listing.txt"];
        all.extend(args);
        all.push(&url);
        run_ok("curl", &all, out_dir.path());
        let peak = ftp_alloc_counter::peak_bytes() - base;
        let text = std::fs::read_to_string(out_dir.path().join("listing.txt")).unwrap();
        let mut names: Vec<&str> = text
            .lines()
            .map(|l| l.rsplit([' ', ';']).next().unwrap())
            .collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(
            names.len(),
            ENTRIES,
            "{adapter:?} {what}: every entry listed once"
        );
        assert_eq!(names[0], "f0000000");
        assert_eq!(names[ENTRIES - 1], format!("f{:07}", ENTRIES - 1));
        eprintln!("{adapter:?} {what}: peak {} KiB", peak >> 10);
        assert!(
            peak < LIMIT,
            "{adapter:?} {what}: the server held {peak} bytes at once"
        );
    }
}
