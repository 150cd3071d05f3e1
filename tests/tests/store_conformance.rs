//! One conformance suite, run against every backend.

use devcare::store::{AppendRequest, EventStore, MemoryStore, SledStore, StoreError, StreamId};
use devcare::{DeviceEvent, ServerEvent, Timestamp};

fn ev(i: u64) -> ServerEvent {
    ServerEvent::BroadcastSent { at: Timestamp(i) }
}

fn evs(range: std::ops::Range<u64>) -> Vec<ServerEvent> {
    range.map(ev).collect()
}

fn s(name: &str) -> StreamId {
    StreamId::new(name).unwrap()
}

fn read_all<S: EventStore>(store: &S, stream: &StreamId, from: u64) -> Vec<(u64, ServerEvent)> {
    store.read(stream, from).unwrap()
}

fn append_and_read<S: EventStore>(store: &S) {
    let a = s("server/a");
    assert_eq!(store.version(&a).unwrap(), 0);
    assert!(read_all(store, &a, 0).is_empty());
    assert_eq!(store.append(&a, 0, &evs(0..3)).unwrap(), 3);
    assert_eq!(store.append(&a, 3, &evs(3..5)).unwrap(), 5);
    assert_eq!(store.version(&a).unwrap(), 5);
    let all = read_all(store, &a, 0);
    assert_eq!(all, (0..5).map(|i| (i + 1, ev(i))).collect::<Vec<_>>());
    assert_eq!(read_all(store, &a, 3), vec![(4, ev(3)), (5, ev(4))]);
    assert!(read_all(store, &a, 5).is_empty());
    assert!(read_all(store, &a, 99).is_empty());
    // An empty append is a no-op that still checks the version.
    assert_eq!(store.append::<ServerEvent>(&a, 5, &[]).unwrap(), 5);
}

fn conflict_changes_nothing<S: EventStore>(store: &S) {
    let a = s("server/c");
    store.append(&a, 0, &evs(0..2)).unwrap();
    for wrong in [0, 1, 3] {
        assert_eq!(
            store.append(&a, wrong, &evs(10..11)),
            Err(StoreError::Conflict {
                stream: a.clone(),
                expected: wrong,
                actual: 2
            })
        );
    }
    assert_eq!(read_all(store, &a, 0).len(), 2);
}

fn batches_are_all_or_nothing<S: EventStore>(store: &S) {
    let (x, y) = (s("server/x"), s("server/y"));
    store.append(&y, 0, &evs(0..1)).unwrap();
    let one = evs(0..2);
    let two = evs(5..6);
    // y is at 1, the batch expects 0: nothing of the batch lands, x included.
    let err = store
        .append_batch(&[
            AppendRequest {
                stream: &x,
                expected: 0,
                events: &one,
            },
            AppendRequest {
                stream: &y,
                expected: 0,
                events: &two,
            },
        ])
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { actual: 1, .. }));
    assert_eq!(store.version(&x).unwrap(), 0);
    // The same stream twice in one batch chains its versions.
    let v = store
        .append_batch(&[
            AppendRequest {
                stream: &x,
                expected: 0,
                events: &one,
            },
            AppendRequest {
                stream: &y,
                expected: 1,
                events: &two,
            },
            AppendRequest {
                stream: &x,
                expected: 2,
                events: &two,
            },
        ])
        .unwrap();
    assert_eq!(v, vec![2, 2, 3]);
    assert_eq!(read_all(store, &x, 0).len(), 3);
}

fn streams_are_listed_and_isolated<S: EventStore>(store: &S) {
    for name in ["server/ab", "server/a", "server/a-b", "device/a"] {
        store.append(&s(name), 0, &evs(0..1)).unwrap();
    }
    let list: Vec<String> = store
        .streams()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        list,
        vec!["device/a", "server/a", "server/a-b", "server/ab"]
    );
    store.append(&s("server/a"), 1, &evs(1..3)).unwrap();
    assert_eq!(
        read_all(store, &s("server/ab"), 0).len(),
        1,
        "a prefix stream does not leak"
    );
    assert_eq!(read_all(store, &s("server/a"), 0).len(), 3);
}

fn large_streams<S: EventStore>(store: &S) {
    let big = s("server/big");
    let mut v = 0;
    for chunk in 0..20 {
        v = store
            .append(&big, v, &evs(chunk * 1000..(chunk + 1) * 1000))
            .unwrap();
    }
    assert_eq!(v, 20_000);
    let mut n = 0;
    let reached = store
        .fold(&big, 12_345, |seq, e: ServerEvent| {
            assert_eq!(e, ev(seq - 1));
            n += 1;
        })
        .unwrap();
    assert_eq!((n, reached), (20_000 - 12_345, 20_000));
}

fn wrong_kind_is_a_typed_error<S: EventStore>(store: &S) {
    let a = s("device/mixed");
    store.append(&a, 0, &evs(0..1)).unwrap();
    let err = store.read::<DeviceEvent>(&a, 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "stream device/mixed seq 1: holds a server event, expected a device event"
    );
}

fn conformance<S: EventStore>(make: impl Fn() -> S) {
    append_and_read(&make());
    conflict_changes_nothing(&make());
    batches_are_all_or_nothing(&make());
    streams_are_listed_and_isolated(&make());
    large_streams(&make());
    wrong_kind_is_a_typed_error(&make());
}

#[test]
fn memory_store_conforms() {
    conformance(MemoryStore::new);
}

#[test]
fn sled_store_conforms() {
    conformance(|| SledStore::temporary().unwrap());
}

#[test]
fn sled_store_keeps_everything_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let a = s("server/a");
    {
        let store = SledStore::open(dir.path()).unwrap();
        store.append(&a, 0, &evs(0..3)).unwrap();
        store.append(&s("device/z"), 0, &evs(0..1)).unwrap();
        store.flush().unwrap();
    }
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.version(&a).unwrap(), 3);
    assert_eq!(read_all(&store, &a, 0).len(), 3);
    assert_eq!(store.streams().unwrap().len(), 2);
    assert_eq!(store.append(&a, 3, &evs(3..4)).unwrap(), 4);
}

#[test]
fn stream_ids_are_checked() {
    assert!(StreamId::new("").is_err());
    assert!(StreamId::new("has space").is_err());
    assert!(StreamId::new("x".repeat(201)).is_err());
    assert_eq!(
        StreamId::server(&devcare::CampaignId::new("c1").unwrap()).campaign("server"),
        Some(devcare::CampaignId::new("c1").unwrap())
    );
}

#[test]
fn two_writers_cannot_both_win_a_version() {
    let store = std::sync::Arc::new(SledStore::temporary().unwrap());
    let a = s("server/race");
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            let a = a.clone();
            std::thread::spawn(move || {
                let mut wins = 0;
                for _ in 0..200 {
                    let v = store.version(&a).unwrap();
                    if store.append(&a, v, &evs(t * 1000..t * 1000 + 1)).is_ok() {
                        wins += 1;
                    }
                }
                wins
            })
        })
        .collect();
    let wins: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(store.version(&a).unwrap(), wins);
    assert_eq!(read_all(&*store, &a, 0).len() as u64, wins);
}
