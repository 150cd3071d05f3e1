//! One seed, five servers: a fleet campaign (realistic faults) simulated on memory, on
//! sled, on PostgreSQL as one stream (V = 1, today's layout) and on PostgreSQL split over
//! 64 shards placed on two clusters gives the same statistics and the same case for every
//! device; each durable log reopens to the live state. Skipped (one line) without
//! PostgreSQL unless `DEVCARE_REQUIRE_PG=1`.

use std::collections::BTreeMap;

use devcare::host::{GroupDirectory, ServerHost, ShardMap, ShardedLog};
use devcare::server::{Case, ServerState, ShardRouter, ShardedState};
use devcare::sim::{Faults, FleetConfig, FleetOutcome, simulate, simulate_sharded};
use devcare::store::{EventStore, SledStore, StoreError};
use devcare::*;
use devcare_pg::PgStore;

const BUILT_IN: &str = include_str!("../../../examples/campaigns/apn-full.toml");

fn config() -> FleetConfig {
    let campaign = Campaign::from_toml("apn-full.toml", BUILT_IN).unwrap();
    let mut cfg = FleetConfig::new(campaign, 3_000);
    cfg.faults = Faults::realistic();
    cfg.fail_rate = 0.03;
    cfg.loss = 0.02;
    cfg.seed = 11;
    cfg
}

fn cases_one(s: &ServerState) -> BTreeMap<DeviceId, Case> {
    s.cases
        .iter()
        .map(|(d, c)| (d.clone(), c.clone()))
        .collect()
}

fn cases_sharded(s: &ShardedState) -> BTreeMap<DeviceId, Case> {
    s.cases().map(|(d, c)| (d.clone(), c.clone())).collect()
}

/// The run on one stream of `store`, reopened: (outcome, live state, replayed state).
fn one_stream<S: EventStore>(
    cfg: &FleetConfig,
    store: S,
) -> (FleetOutcome, ServerState, ServerState) {
    let (out, live) = devcare_integration::simulate_into(cfg, &store);
    let replayed = ServerHost::on_store(store, GroupDirectory::new([0; 32]))
        .unwrap()
        .state(&cfg.campaign.id)
        .cloned()
        .unwrap();
    (out, live, replayed)
}

#[test]
fn memory_sled_postgres_and_64_shards_on_two_clusters_agree() {
    let Some([a, b]) =
        devcare_integration::pg::fresh_databases_on_two_clusters("pg_sharded::agree")
    else {
        return;
    };
    let cfg = config();
    let (out_mem, mem) = simulate(&cfg, |_| Ok(())).unwrap();
    assert!(out_mem.stats.recovered > 20, "{:?}", out_mem.stats);

    let dir = tempfile::tempdir().unwrap();
    let (out_sled, sled, sled_replayed) = one_stream(&cfg, SledStore::open(dir.path()).unwrap());
    let (out_pg1, pg1, pg1_replayed) = one_stream(&cfg, PgStore::connect(&a).unwrap());

    let stores = [PgStore::connect(&a).unwrap(), PgStore::connect(&b).unwrap()];
    let router = ShardRouter::new(*b"fleet-key-tests!", 64).unwrap();
    let map = ShardMap::round_robin(64, 2);
    let (out_pg64, pg64) = simulate_sharded(
        &cfg,
        stores.iter().collect(),
        map.clone(),
        router,
        1,
        |_| Ok(()),
        |_| {},
    )
    .unwrap();
    // Both clusters hold shards.
    for store in &stores {
        let shards = store
            .streams()
            .unwrap()
            .iter()
            .filter(|s| s.as_str().starts_with("shard/"))
            .count();
        assert!(shards >= 20, "{shards} shard streams on one cluster");
    }
    let fresh = [PgStore::connect(&a).unwrap(), PgStore::connect(&b).unwrap()];
    let (_, pg64_replayed) =
        ShardedLog::open(&fresh, map.clone(), router, &cfg.campaign.id).unwrap();

    for (name, out) in [
        ("sled", &out_sled),
        ("pg V=1", &out_pg1),
        ("pg V=64", &out_pg64),
    ] {
        assert_eq!(out, &out_mem, "{name}: outcome differs from memory");
    }
    for (name, s) in [
        ("sled", &sled),
        ("sled replayed", &sled_replayed),
        ("pg V=1", &pg1),
        ("pg V=1 replayed", &pg1_replayed),
    ] {
        assert!(s == &mem, "{name}: state differs from memory");
    }
    assert_eq!(pg64.control().stats(), mem.stats());
    assert!(
        cases_sharded(&pg64) == cases_one(&mem),
        "pg V=64: per-device cases differ"
    );
    // Move shard 1 from the second cluster to the first: copy its stream, next map version.
    let moved = devcare::host::copy_stream(
        &fresh[1],
        &fresh[0],
        &devcare::host::shard_stream(&cfg.campaign.id, 1),
    )
    .unwrap();
    assert!(moved > 0);
    let next = map.moved(1, 0);
    assert_eq!(next.version, map.version + 1);
    let (_, after_move) = ShardedLog::open(&fresh, next, router, &cfg.campaign.id).unwrap();
    assert!(after_move == pg64, "the moved shard reads back differently");
    // A stream that exists at the target is not overwritten.
    let again = devcare::host::copy_stream(
        &fresh[1],
        &fresh[0],
        &devcare::host::shard_stream(&cfg.campaign.id, 1),
    );
    assert!(
        matches!(again, Err(StoreError::Conflict { .. })),
        "{again:?}"
    );
    assert!(
        pg64_replayed == pg64,
        "pg V=64: the logs on two clusters replay to another state"
    );
}

#[test]
fn a_sharded_log_opened_with_another_shard_count_is_refused() {
    let Some(url) = devcare_integration::pg::fresh_database("pg_sharded::wrong_count") else {
        return;
    };
    let mut cfg = config();
    cfg.devices = 400;
    cfg.faults = Faults::none();
    let stores = [PgStore::connect(&url).unwrap()];
    let router = ShardRouter::new(*b"fleet-key-tests!", 8).unwrap();
    simulate_sharded(
        &cfg,
        stores.iter().collect(),
        ShardMap::round_robin(8, 1),
        router,
        1,
        |_| Ok(()),
        |_| {},
    )
    .unwrap();
    let other = ShardRouter::new(*b"fleet-key-tests!", 4).unwrap();
    let err = ShardedLog::open(
        &stores,
        ShardMap::round_robin(8, 1),
        other,
        &cfg.campaign.id,
    )
    .unwrap_err();
    assert!(err.to_string().contains("does not fit"), "{err}");
    let err = ShardedLog::open(
        &stores,
        ShardMap::round_robin(4, 1),
        other,
        &cfg.campaign.id,
    )
    .unwrap_err();
    assert!(err.to_string().contains("more than 4 shards"), "{err}");
    // Fewer shards whose count does not divide 8: devices land in shards not their own.
    let five = ShardRouter::new(*b"fleet-key-tests!", 5).unwrap();
    let err =
        ShardedLog::open(&stores, ShardMap::round_robin(5, 1), five, &cfg.campaign.id).unwrap_err();
    assert!(err.to_string().contains("more than 5 shards"), "{err}");
    // Another fleet key: devices land in shards not their own.
    let key = ShardRouter::new(*b"another-fleet-k!", 8).unwrap();
    let err =
        ShardedLog::open(&stores, ShardMap::round_robin(8, 1), key, &cfg.campaign.id).unwrap_err();
    assert!(err.to_string().contains("holds device"), "{err}");
}
