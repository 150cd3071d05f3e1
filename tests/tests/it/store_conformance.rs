//! The conformance suite (`devcare_integration::conformance`), one `#[test]` per backend
//! and rule: a failure names its backend and rule, and a new backend is one line per rule.

use devcare::store::{FileStore, MemoryStore, SledStore, StreamId};
use devcare_integration::conformance;

macro_rules! rule {
    ($test:ident, $rule:ident($store:expr)) => {
        #[test]
        fn $test() {
            conformance::$rule($store);
        }
    };
}

rule!(
    memory_optimistic_append,
    optimistic_append(&MemoryStore::new())
);
rule!(
    memory_read_from_version,
    read_from_version(&MemoryStore::new())
);
rule!(memory_atomic_batch, atomic_batch(&MemoryStore::new()));
rule!(memory_streams_listing, streams_listing(&MemoryStore::new()));
rule!(memory_large_streams, large_streams(&MemoryStore::new()));
rule!(
    memory_wrong_kind_is_typed,
    wrong_kind_is_typed(&MemoryStore::new())
);
rule!(
    memory_concurrent_writers,
    concurrent_writers(MemoryStore::new())
);
rule!(
    memory_read_during_appends,
    read_during_appends(MemoryStore::new())
);
// The in-memory backend promises no durability: it has no flush_durability line.

fn sled() -> SledStore {
    SledStore::temporary().expect("temporary sled store")
}

rule!(sled_optimistic_append, optimistic_append(&sled()));
rule!(sled_read_from_version, read_from_version(&sled()));
rule!(sled_atomic_batch, atomic_batch(&sled()));
rule!(sled_streams_listing, streams_listing(&sled()));
rule!(sled_large_streams, large_streams(&sled()));
rule!(sled_wrong_kind_is_typed, wrong_kind_is_typed(&sled()));
rule!(sled_concurrent_writers, concurrent_writers(sled()));
rule!(sled_read_during_appends, read_during_appends(sled()));

#[test]
fn sled_flush_durability() {
    let dir = tempfile::tempdir().unwrap();
    conformance::flush_durability(|| SledStore::open(dir.path()).unwrap());
}

/// A file store in a fresh directory, removed with the store.
struct TempFile {
    store: FileStore,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for TempFile {
    type Target = FileStore;
    fn deref(&self) -> &FileStore {
        &self.store
    }
}

fn file() -> TempFile {
    let dir = tempfile::tempdir().unwrap();
    TempFile {
        store: FileStore::open(dir.path()).expect("file store"),
        _dir: dir,
    }
}

rule!(file_optimistic_append, optimistic_append(&*file()));
rule!(file_read_from_version, read_from_version(&*file()));
rule!(file_atomic_batch, atomic_batch(&*file()));
rule!(file_streams_listing, streams_listing(&*file()));
rule!(file_large_streams, large_streams(&*file()));
rule!(file_wrong_kind_is_typed, wrong_kind_is_typed(&*file()));

#[test]
fn file_concurrent_writers() {
    let f = file();
    conformance::concurrent_writers(f.store);
}

#[test]
fn file_read_during_appends() {
    let f = file();
    conformance::read_during_appends(f.store);
}

#[test]
fn file_flush_durability() {
    let dir = tempfile::tempdir().unwrap();
    conformance::flush_durability(|| FileStore::open(dir.path()).unwrap());
}

#[test]
fn stream_ids_are_checked() {
    assert!(StreamId::new("").is_err());
    assert!(StreamId::new("has space").is_err());
    assert!(StreamId::new("x".repeat(201)).is_err());
}

#[test]
fn the_domain_names_its_streams() {
    use devcare::decider::Side;
    let c1 = devcare::CampaignId::new("c1").unwrap();
    let stream = Side::Server.stream(&c1);
    assert_eq!(stream.as_str(), "server/c1");
    assert_eq!(Side::of(&stream), Some((Side::Server, c1.clone())));
    assert_eq!(
        Side::of(&Side::Device.stream(&c1)),
        Some((Side::Device, c1))
    );
    assert_eq!(Side::of(&StreamId::new("other/c1").unwrap()), None);
    assert_eq!(Side::of(&StreamId::new("server").unwrap()), None);
}

/// A PostgreSQL store on a fresh database of the throwaway cluster (or `DEVCARE_PG_URL`);
/// `None` when no PostgreSQL is available (the harness printed the skip line).
fn pg(test: &str) -> Option<devcare_pg::PgStore> {
    let url = devcare_integration::pg::fresh_database(test)?;
    Some(devcare_pg::PgStore::connect(&url).expect("connect to the test database"))
}

macro_rules! pg_rule {
    ($test:ident, $rule:ident, $by:tt) => {
        #[test]
        fn $test() {
            if let Some(store) = pg(stringify!($test)) {
                pg_rule!(@call $rule, store, $by);
            }
        }
    };
    (@call $rule:ident, $store:ident, ref) => {
        conformance::$rule(&$store)
    };
    (@call $rule:ident, $store:ident, own) => {
        conformance::$rule($store)
    };
}

pg_rule!(pg_optimistic_append, optimistic_append, ref);
pg_rule!(pg_read_from_version, read_from_version, ref);
pg_rule!(pg_atomic_batch, atomic_batch, ref);
pg_rule!(pg_streams_listing, streams_listing, ref);
pg_rule!(pg_large_streams, large_streams, ref);
pg_rule!(pg_wrong_kind_is_typed, wrong_kind_is_typed, ref);
pg_rule!(pg_concurrent_writers, concurrent_writers, own);
pg_rule!(pg_read_during_appends, read_during_appends, own);

#[test]
fn pg_flush_durability() {
    if let Some(url) = devcare_integration::pg::fresh_database("pg_flush_durability") {
        conformance::flush_durability(|| devcare_pg::PgStore::connect(&url).unwrap());
    }
}
