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

/// A listing is formatted ahead by the storage job up to 64 KiB
/// (`ftp_host::transfer::READY_LISTING`): one that fits is sent from memory, a longer one
/// sends that prefix and streams the rest. Both must arrive whole, sorted, and once each:
/// 1,500 names make an NLST well inside the budget and a LIST and MLSD beyond it.
#[test]
fn listings_inside_and_beyond_the_ready_budget_arrive_whole_and_sorted() {
    const N: usize = 1_500;
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    for adapter in [Adapter::Tokio, Adapter::Futures, Adapter::Mio] {
        with_adapter(adapter, || {
            let srv = TestServer::start();
            let dir = srv.path("mid");
            std::fs::create_dir(&dir).unwrap();
            let expected: Vec<String> = (0..N).map(|i| format!("n{i:05}")).collect();
            // Created in reverse, so that directory order is unlikely to be sorted already.
            for name in expected.iter().rev() {
                std::fs::write(dir.join(name), name.as_bytes()).unwrap();
            }
            let out_dir = tempfile::tempdir().unwrap();
            for (what, args, min_len) in [
                ("NLST", vec!["-l"], 0),
                ("LIST", vec![], 64 << 10),
                ("MLSD", vec!["-X", "MLSD"], 64 << 10),
            ] {
                let url = srv.url("ftp", "mid/");
                let mut all = vec!["-sS", "-o", "listing.txt"];
                all.extend(args);
                all.push(&url);
                run_ok("curl", &all, out_dir.path());
                let text = std::fs::read_to_string(out_dir.path().join("listing.txt")).unwrap();
                assert!(
                    text.len() > min_len,
                    "{adapter:?} {what}: {} bytes, expected more than {min_len}",
                    text.len()
                );
                let names: Vec<&str> = text
                    .lines()
                    .map(|l| l.rsplit([' ', ';']).next().unwrap())
                    .collect();
                assert_eq!(names, expected, "{adapter:?} {what}: every name, in order");
                if what == "LIST" {
                    // Each line carries the file's own size (its name's length).
                    assert!(text
                        .lines()
                        .all(|l| l.split_whitespace().nth(4) == Some("6")));
                }
            }
        });
    }
}
