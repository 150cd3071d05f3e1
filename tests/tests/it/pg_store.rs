//! The PostgreSQL store's own promises, beyond the conformance suite
//! (`store_conformance.rs`, lines `pg_*`): damaged records give the same typed errors as on
//! sled, naming stream and seq, and the stream stays readable up to the damage; a newer
//! schema is refused; bad connection strings and unreachable servers are typed errors; and a
//! campaign simulated on PostgreSQL replays to the same state as on sled.
//!
//! Each test runs on a fresh database of a throwaway cluster (`devcare_integration::pg`):
//! without PostgreSQL it prints one skip line, and `DEVCARE_REQUIRE_PG=1` makes that a
//! failure.

use devcare::store::{EventStore, StoreError, StreamId};
use devcare::{ServerEvent, Timestamp};
use devcare_integration::read_until_error;
use devcare_pg::PgStore;

fn events(n: u64) -> Vec<ServerEvent> {
    (0..n)
        .map(|i| ServerEvent::BroadcastSent { at: Timestamp(i) })
        .collect()
}

/// A store with 10 events on `server/c`, and a raw client on the same database.
fn ten_events(test: &str) -> Option<(PgStore, postgres::Client, StreamId)> {
    let url = devcare_integration::pg::fresh_database(test)?;
    let store = PgStore::connect(&url).unwrap();
    let stream = StreamId::new("server/c").unwrap();
    store.append(&stream, 0, &events(10)).unwrap();
    let raw = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    Some((store, raw, stream))
}

fn body(raw: &mut postgres::Client, seq: i64) -> Vec<u8> {
    raw.query_one(
        "SELECT body FROM devcare_events WHERE stream = 'server/c' AND seq = $1",
        &[&seq],
    )
    .unwrap()
    .get(0)
}

fn set_body(raw: &mut postgres::Client, seq: i64, body: &[u8]) {
    raw.execute(
        "UPDATE devcare_events SET body = $2 WHERE stream = 'server/c' AND seq = $1",
        &[&seq, &body],
    )
    .unwrap();
}

#[test]
fn a_flipped_byte_anywhere_in_a_record_is_caught_with_stream_and_seq() {
    let Some((store, mut raw, stream)) = ten_events("pg flipped byte") else {
        return;
    };
    let good = body(&mut raw, 7);
    for pos in 0..good.len() {
        let mut bad = good.clone();
        bad[pos] ^= 0x20;
        set_body(&mut raw, 7, &bad);
        let (seen, err) = read_until_error(&store, &stream);
        devcare_integration::assert_flip_caught(&seen, err, &stream, 7, pos);
    }
    set_body(&mut raw, 7, &good);
    assert_eq!(store.read::<ServerEvent>(&stream, 0).unwrap().len(), 10);
}

#[test]
fn a_truncated_record_is_caught_at_every_length() {
    let Some((store, mut raw, stream)) = ten_events("pg truncated record") else {
        return;
    };
    let good = body(&mut raw, 4);
    for keep in 0..good.len() {
        set_body(&mut raw, 4, &good[..keep]);
        let (seen, err) = read_until_error(&store, &stream);
        assert_eq!(seen, vec![1, 2, 3]);
        assert!(
            err.to_string()
                .starts_with("stream server/c seq 4: corrupt record:"),
            "keep {keep}: {err}"
        );
    }
}

#[test]
fn a_record_moved_to_another_seq_or_an_unknown_format_is_named() {
    let Some((store, mut raw, stream)) = ten_events("pg moved record") else {
        return;
    };
    // Seq 3's record, intact, under seq 7: its checksum covers its key.
    let third = body(&mut raw, 3);
    set_body(&mut raw, 7, &third);
    let (seen, err) = read_until_error(&store, &stream);
    assert_eq!(seen.len(), 6);
    assert!(matches!(err, StoreError::Corrupt { seq: 7, .. }), "{err}");
    // A format this build does not know, with a checksum that matches its bytes.
    let mut v = body(&mut raw, 2);
    v[0] = 7;
    let n = v.len() - 4;
    let crc = crc32c::crc32c(&v[..n]);
    v[n..].copy_from_slice(&crc.to_be_bytes());
    set_body(&mut raw, 2, &v);
    let (seen, err) = read_until_error(&store, &stream);
    assert_eq!(seen, vec![1]);
    assert_eq!(
        err.to_string(),
        "stream server/c seq 2: corrupt record: unknown record format version 7"
    );
}

#[test]
fn a_missing_record_is_caught_and_a_damaged_log_fails_open() {
    let Some((store, mut raw, stream)) = ten_events("pg missing record") else {
        return;
    };
    raw.execute(
        "DELETE FROM devcare_events WHERE stream = 'server/c' AND seq = 5",
        &[],
    )
    .unwrap();
    let (seen, err) = read_until_error(&store, &stream);
    assert_eq!(seen, vec![1, 2, 3, 4]);
    assert_eq!(
        err.to_string(),
        "stream server/c seq 5: record missing (stream head says version 10)"
    );
    // The care server refuses to open on it rather than fold a partial state.
    let err =
        devcare::host::ServerHost::on_store(store, devcare::host::GroupDirectory::new([0; 32]))
            .unwrap_err();
    assert!(matches!(err, StoreError::Missing { seq: 5, .. }), "{err}");
}

#[test]
fn a_database_of_a_newer_schema_is_refused_and_bad_addresses_are_typed_errors() {
    let Some(url) = devcare_integration::pg::fresh_database("pg newer schema") else {
        return;
    };
    PgStore::connect(&url).unwrap();
    let mut raw = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    raw.execute("UPDATE devcare_schema SET version = 99", &[])
        .unwrap();
    let err = PgStore::connect(&url).unwrap_err();
    assert_eq!(
        err.to_string(),
        "storage backend: postgresql: the database has devcare schema 99; this build reads schema 1"
    );
    let err = PgStore::connect("postgres://nobody@127.0.0.1:1/none").unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err}");
    assert!(err.to_string().contains("connecting"), "{err}");
    let err = PgStore::connect("host=/x port=notaport").unwrap_err();
    assert!(err.to_string().contains("connection string"), "{err}");
    // What the server says is in the message, not just "db error".
    let missing = url.replace(&url[url.rfind("devcare_t").unwrap()..], "no_such_database");
    let err = PgStore::connect(&missing).unwrap_err();
    assert!(
        err.to_string()
            .contains("\"no_such_database\" does not exist (SQLSTATE 3D000)"),
        "{err}"
    );
}

#[test]
fn a_campaign_simulated_on_postgresql_gives_the_sled_run_s_state() {
    let Some(url) = devcare_integration::pg::fresh_database("pg simulated campaign") else {
        return;
    };
    let campaign = devcare::Campaign::from_toml(
        "apn-full.toml",
        include_str!("../../../examples/campaigns/apn-full.toml"),
    )
    .unwrap();
    let mut cfg = devcare::sim::FleetConfig::new(campaign, 3_000);
    cfg.faults = devcare::sim::Faults::realistic();
    let pg = PgStore::connect(&url).unwrap();
    let sled = devcare::store::SledStore::temporary().unwrap();
    let (a, sa) = devcare_integration::simulate_into(&cfg, &pg);
    let (b, sb) = devcare_integration::simulate_into(&cfg, &sled);
    assert_eq!(a, b);
    assert_eq!(sa, sb);
    let from_pg =
        devcare::host::ServerHost::on_store(pg, devcare::host::GroupDirectory::new([0; 32]))
            .unwrap();
    assert_eq!(
        from_pg.state(&cfg.campaign.id),
        Some(&sa),
        "replayed from PostgreSQL"
    );
}

#[test]
fn connections_the_server_dropped_fail_one_call_with_a_typed_error_and_leave_no_harm() {
    let Some((store, mut raw, stream)) = ten_events("pg dropped connections") else {
        return;
    };
    // A failover or an administrator ends every session the store holds.
    raw.batch_execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .unwrap();
    // The pooled connection is dead: the call that finds it out gets a backend error
    // (an append's outcome is then unknown: re-read the version), never a panic.
    match store.append(&stream, 10, &events(1)) {
        Ok(v) => assert_eq!(v, 11, "a fresh connection took it"),
        Err(e) => assert!(matches!(e, StoreError::Backend(_)), "{e}"),
    }
    // The broken connection left the pool: the next calls work, and nothing was lost or
    // doubled — the log is whole, and an append at a stale version is a conflict.
    let v = store.version(&stream).unwrap();
    assert!(v == 10 || v == 11, "{v}");
    assert_eq!(
        store.read::<ServerEvent>(&stream, 0).unwrap().len() as u64,
        v
    );
    assert!(matches!(
        store.append(&stream, 9, &events(1)),
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(store.append(&stream, v, &events(1)).unwrap(), v + 1);
}
