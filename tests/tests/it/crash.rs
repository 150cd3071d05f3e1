//! Crash safety: a child process appending to the sled store, or to the device's file
//! store, is killed with SIGKILL at random points; after each kill, every append it reported flushed is present, and the log
//! replays without error. Runs 20 kills by default; `DEVCARE_CRASH_RUNS=1000` for a long run.

use std::time::Duration;

use devcare::ServerEvent;
use devcare::store::{EventStore, FileStore, SledStore, StreamId};
use devcare_integration::{Xorshift, crash_event, run_crash_writer};

#[test]
fn every_flushed_append_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    kill_and_reopen(dir.path().to_str().unwrap(), || {
        SledStore::open(dir.path()).unwrap()
    });
}

/// The device's file store: the same kills. A kill can land inside a write that spans
/// pages (Linux stops a write to a file between pages for a fatal signal), so a reopen may
/// find a torn tail: it is moved aside, and every flushed append is still there.
#[test]
fn every_flushed_append_survives_sigkill_on_the_file_store() {
    let dir = tempfile::tempdir().unwrap();
    let torn = std::cell::Cell::new((0u64, 0u64));
    kill_and_reopen(&format!("file:{}", dir.path().display()), || {
        let store = FileStore::open(dir.path()).unwrap();
        if store.torn_tail() > 0 {
            let (n, bytes) = torn.get();
            torn.set((n + 1, bytes + store.torn_tail()));
        }
        store
    });
    let (n, bytes) = torn.get();
    let kept = std::fs::metadata(dir.path().join(devcare::store::TORN_FILE)).map_or(0, |m| m.len());
    assert_eq!(kept, bytes, "every torn tail is kept aside");
    eprintln!("torn tails found on reopen: {n} ({bytes} bytes)");
}

/// Kills the crash writer on `at` at random points; after each kill, `open` must find every
/// append the writer reported flushed, in order, and replay without error.
fn kill_and_reopen<S: EventStore>(at: &str, open: impl Fn() -> S) {
    let runs: u64 = std::env::var("DEVCARE_CRASH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let stream = StreamId::new("server/crash").unwrap();
    let mut flushed_max = 0u64;
    let mut total_lost = 0u64;
    let mut rng = Xorshift(0x9E37_79B9_7F4A_7C15);
    for run in 0..runs {
        // Once the child is writing, kill it after a random 0–60 ms.
        let delay = Duration::from_micros(rng.next() % 60_000);
        let reported = run_crash_writer(
            env!("CARGO_BIN_EXE_crash_writer"),
            at,
            run + 1,
            delay,
            true,
            |child| child.kill().unwrap(), // SIGKILL
        );
        flushed_max = flushed_max.max(reported);

        let store = open();
        let version = store.version(&stream).unwrap();
        assert!(
            version >= flushed_max,
            "run {run}: flushed {flushed_max}, found {version}"
        );
        let mut n = 0;
        store
            .fold(&stream, 0, |seq, e: ServerEvent| {
                assert_eq!(e, crash_event(seq - 1), "run {run}: seq {seq}");
                n += 1;
            })
            .unwrap_or_else(|e| panic!("run {run}: replay failed: {e}"));
        assert_eq!(n, version);
        total_lost += version - reported.min(version);
        flushed_max = version; // what is there now is the floor for the next run
    }
    eprintln!(
        "{at}: {runs} kills; final version {flushed_max}; events beyond the last reported \
         flush that survived: {total_lost}"
    );
}
