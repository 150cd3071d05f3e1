//! Crash safety: a child process appending to the sled store is killed with SIGKILL at
//! random points; after each kill, every append it reported flushed is present, and the log
//! replays without error. Runs 20 kills by default; `DEVCARE_CRASH_RUNS=1000` for a long run.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use devcare::ServerEvent;
use devcare::store::{EventStore, SledStore, StreamId};
use devcare_integration::crash_event;

#[test]
fn every_flushed_append_survives_sigkill() {
    let runs: u64 = std::env::var("DEVCARE_CRASH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let stream = StreamId::new("server/crash").unwrap();
    let mut flushed_max = 0u64;
    let mut total_lost = 0u64;
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for run in 0..runs {
        let mut child = Command::new(env!("CARGO_BIN_EXE_crash_writer"))
            .arg(dir.path())
            .arg((run + 1).to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(v) = line
                    .strip_prefix("flushed ")
                    .and_then(|v| v.parse::<u64>().ok())
                {
                    let _ = tx.send(v);
                }
            }
        });
        // Wait for the child to be writing, then kill it after a random 0–60 ms.
        let first = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("child never flushed");
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        std::thread::sleep(Duration::from_micros(x % 60_000));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        let reported = rx.try_iter().fold(first, u64::max);
        flushed_max = flushed_max.max(reported);

        let store = SledStore::open(dir.path()).unwrap();
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
        "{runs} kills; final version {flushed_max}; events beyond the last reported flush that survived: {total_lost}"
    );
}
