//! Crash safety on PostgreSQL. A child process appends two-stream batches (one
//! transaction) and, every other round, to a third stream alone (one statement)
//! (`crash_writer`), printing each version PostgreSQL acknowledged; then either the child is
//! killed with SIGKILL mid-append (20 kills; `DEVCARE_CRASH_RUNS=1000` for a long run), or
//! PostgreSQL itself is stopped with `pg_ctl stop -m immediate` under that load and started
//! again (5 times). After each: every acknowledged append is present, the twin streams hold
//! the same number of events (no batch half-written), and every stream replays event by
//! event.
//! Skipped (one line) without PostgreSQL unless `DEVCARE_REQUIRE_PG=1`.

use std::process::Child;
use std::time::Duration;

use devcare::ServerEvent;
use devcare::store::{EventStore, StreamId};
use devcare_integration::{Xorshift, crash_event, run_crash_writer_lines};
use devcare_pg::PgStore;

/// Runs the writer on `url` until `stop` ends it (after its first acknowledged append and
/// a random 0–60 ms); returns the highest versions it reported acknowledged: of the twin
/// streams, and of the stream it appends to alone.
fn write_until(
    url: &str,
    seed: u64,
    rng: &mut Xorshift,
    stop: impl FnOnce(&mut Child),
) -> (u64, u64) {
    let delay = Duration::from_micros(rng.next() % 60_000);
    run_crash_writer_lines(
        env!("CARGO_BIN_EXE_crash_writer"),
        url,
        seed,
        delay,
        false,
        stop,
    )
}

/// Waits until no other session is connected to the database: a killed writer's server
/// process may still be committing the append it was sending (it lands whole, unacknowledged
/// — the client cannot tell, as with a lost commit answer).
fn wait_for_other_sessions(url: &str) {
    let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
    for _ in 0..1000 {
        let others: i64 = c
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
                &[],
            )
            .unwrap()
            .get(0);
        if others == 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("the killed writer's session never ended");
}

/// Checks the log after a crash, given the acknowledged versions (twin streams, solo
/// stream); returns the versions found.
fn check(url: &str, acknowledged: (u64, u64), what: &str) -> (u64, u64) {
    wait_for_other_sessions(url);
    let store = PgStore::connect(url).unwrap();
    let solo = StreamId::new("server/crash-solo").unwrap();
    let solo_version = store.version(&solo).unwrap();
    assert!(
        solo_version >= acknowledged.1,
        "{what}: {} acknowledged alone, {solo_version} found",
        acknowledged.1
    );
    let mut n = 0;
    store
        .fold(&solo, 0, |seq, e: ServerEvent| {
            assert_eq!(e, crash_event(seq - 1), "{what}: {solo} seq {seq}");
            n += 1;
        })
        .unwrap_or_else(|e| panic!("{what}: replay failed: {e}"));
    assert_eq!(n, solo_version, "{what}: {solo}");
    let acknowledged = acknowledged.0;
    let a = StreamId::new("server/crash").unwrap();
    let b = StreamId::new("server/crash-twin").unwrap();
    let version = store.version(&a).unwrap();
    assert!(
        version >= acknowledged,
        "{what}: {acknowledged} acknowledged, {version} found"
    );
    assert_eq!(
        store.version(&b).unwrap(),
        version,
        "{what}: a two-stream batch was half written"
    );
    for stream in [&a, &b] {
        let mut n = 0;
        store
            .fold(stream, 0, |seq, e: ServerEvent| {
                assert_eq!(e, crash_event(seq - 1), "{what}: {stream} seq {seq}");
                n += 1;
            })
            .unwrap_or_else(|e| panic!("{what}: replay failed: {e}"));
        assert_eq!(n, version, "{what}: {stream}");
    }
    (version, solo_version)
}

#[test]
fn every_acknowledged_append_survives_sigkill_of_the_writer() {
    let Some(url) = devcare_integration::pg::fresh_database("pg_crash::sigkill") else {
        return;
    };
    let runs: u64 = std::env::var("DEVCARE_CRASH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let mut rng = Xorshift(0x9E37_79B9_7F4A_7C15);
    let mut floor = (0, 0);
    let mut beyond = 0;
    for run in 0..runs {
        let (twin, solo) = write_until(&url, run + 1, &mut rng, |child| {
            child.kill().unwrap(); // SIGKILL
        });
        let acknowledged = (twin.max(floor.0), solo.max(floor.1));
        let found = check(&url, acknowledged, &format!("kill {run}"));
        beyond += (found.0 - acknowledged.0) + (found.1 - acknowledged.1);
        floor = found;
    }
    eprintln!(
        "{runs} SIGKILLs of the writer; final versions {} (two-stream batches) and {} (one-stream appends); committed but not yet acknowledged when killed: {beyond}",
        floor.0, floor.1
    );
}

#[test]
fn every_acknowledged_append_survives_an_immediate_stop_of_postgres() {
    let Some(cluster) = devcare_integration::pg::own_cluster("pg_crash::immediate_stop") else {
        return;
    };
    let url = cluster.fresh_database("pg_crash::immediate_stop");
    let mut rng = Xorshift(0x2545_F491_4F6C_DD1D);
    let mut floor = (0, 0);
    for run in 0..5 {
        let (twin, solo) = write_until(&url, 100 + run, &mut rng, |_| {
            cluster.stop_immediate().unwrap(); // the writer's next append fails: it exits
        });
        cluster.start_server().unwrap();
        let acknowledged = (twin.max(floor.0), solo.max(floor.1));
        floor = check(&url, acknowledged, &format!("immediate stop {run}"));
    }
    eprintln!(
        "5 immediate stops of PostgreSQL under load; final versions {} and {}",
        floor.0, floor.1
    );
}
