//! The event store conformance suite: one public function per rule, each panicking with
//! the rule's name on a failure. A backend conforms when every rule passes on a fresh
//! store; `tests/tests/it/store_conformance.rs` has one `#[test]` per backend and rule, so a
//! new backend is one line per rule.
//!
//! | rule | what it checks |
//! |---|---|
//! | [`optimistic_append`] | versions count events; an append at a stale version is a `Conflict` that changes nothing |
//! | [`read_from_version`] | reads start after any version, past the head is empty, an empty append checks the version |
//! | [`atomic_batch`] | a multi-stream batch lands whole or not at all; a stream twice in a batch chains |
//! | [`streams_listing`] | streams are listed sorted; a prefix stream does not leak into another |
//! | [`large_streams`] | 20,000 events fold from the middle in order |
//! | [`wrong_kind_is_typed`] | a server event read as a device event is a `WrongKind` naming stream and seq |
//! | [`concurrent_writers`] | eight writers racing on one stream: every version has exactly one winner |
//! | [`flush_durability`] | what was flushed is there after the store is reopened, and appends go on |

use std::sync::Arc;

use devcare::store::{AppendRequest, EventStore, StoreError, StreamId};
use devcare::{DeviceEvent, ServerEvent, Timestamp};

fn ev(i: u64) -> ServerEvent {
    ServerEvent::BroadcastSent { at: Timestamp(i) }
}

fn evs(range: std::ops::Range<u64>) -> Vec<ServerEvent> {
    range.map(ev).collect()
}

fn s(name: &str) -> StreamId {
    StreamId::new(name).expect("valid stream id")
}

fn read_all<S: EventStore>(store: &S, stream: &StreamId, from: u64) -> Vec<(u64, ServerEvent)> {
    store.read(stream, from).expect("read")
}

/// Versions count events; an append at a stale version is a `Conflict` that changes nothing.
pub fn optimistic_append<S: EventStore>(store: &S) {
    let a = s("server/a");
    assert_eq!(
        store.version(&a).unwrap(),
        0,
        "optimistic_append: new stream"
    );
    assert_eq!(store.append(&a, 0, &evs(0..3)).unwrap(), 3);
    assert_eq!(store.append(&a, 3, &evs(3..5)).unwrap(), 5);
    assert_eq!(store.version(&a).unwrap(), 5);
    for wrong in [0, 1, 4, 6] {
        assert_eq!(
            store.append(&a, wrong, &evs(10..11)),
            Err(StoreError::Conflict {
                stream: a.clone(),
                expected: wrong,
                actual: 5
            }),
            "optimistic_append: expected version {wrong}"
        );
    }
    assert_eq!(
        read_all(store, &a, 0).len(),
        5,
        "optimistic_append: a conflict appended"
    );
}

/// Reads start after any version, past the head is empty, an empty append checks the
/// version.
pub fn read_from_version<S: EventStore>(store: &S) {
    let a = s("server/r");
    assert!(
        read_all(store, &a, 0).is_empty(),
        "read_from_version: empty stream"
    );
    store.append(&a, 0, &evs(0..5)).unwrap();
    let all = read_all(store, &a, 0);
    assert_eq!(all, (0..5).map(|i| (i + 1, ev(i))).collect::<Vec<_>>());
    assert_eq!(read_all(store, &a, 3), vec![(4, ev(3)), (5, ev(4))]);
    assert!(
        read_all(store, &a, 5).is_empty(),
        "read_from_version: at the head"
    );
    assert!(
        read_all(store, &a, 99).is_empty(),
        "read_from_version: past the head"
    );
    assert_eq!(store.append::<ServerEvent>(&a, 5, &[]).unwrap(), 5);
    assert!(
        store.append::<ServerEvent>(&a, 4, &[]).is_err(),
        "read_from_version: an empty append still checks the version"
    );
}

/// A multi-stream batch lands whole or not at all; a stream twice in a batch chains.
pub fn atomic_batch<S: EventStore>(store: &S) {
    let (x, y) = (s("server/x"), s("server/y"));
    store.append(&y, 0, &evs(0..1)).unwrap();
    let one = evs(0..2);
    let two = evs(5..6);
    let req = |stream, expected, events| AppendRequest {
        stream,
        expected,
        events,
    };
    // y is at 1, the batch expects 0: nothing of the batch lands, x included.
    let err = store
        .append_batch(&[req(&x, 0, &one[..]), req(&y, 0, &two[..])])
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { actual: 1, .. }),
        "atomic_batch: {err}"
    );
    assert_eq!(
        store.version(&x).unwrap(),
        0,
        "atomic_batch: part of a refused batch landed"
    );
    let v = store
        .append_batch(&[
            req(&x, 0, &one[..]),
            req(&y, 1, &two[..]),
            req(&x, 2, &two[..]),
        ])
        .unwrap();
    assert_eq!(v, vec![2, 2, 3], "atomic_batch: chained versions");
    assert_eq!(read_all(store, &x, 0).len(), 3);
}

/// Streams are listed sorted; a prefix stream does not leak into another.
pub fn streams_listing<S: EventStore>(store: &S) {
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
        "streams_listing: a prefix stream leaked"
    );
    assert_eq!(read_all(store, &s("server/a"), 0).len(), 3);
}

/// 20,000 events fold from the middle in order.
pub fn large_streams<S: EventStore>(store: &S) {
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
            assert_eq!(e, ev(seq - 1), "large_streams: event {seq}");
            n += 1;
        })
        .unwrap();
    assert_eq!((n, reached), (20_000 - 12_345, 20_000));
}

/// A server event read as a device event is a `WrongKind` naming stream and seq.
pub fn wrong_kind_is_typed<S: EventStore>(store: &S) {
    let a = s("device/mixed");
    store.append(&a, 0, &evs(0..1)).unwrap();
    let err = store.read::<DeviceEvent>(&a, 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "stream device/mixed seq 1: holds a server event, expected a device event"
    );
}

/// Eight writers racing on one stream: every version has exactly one winner.
pub fn concurrent_writers<S: EventStore + Send + Sync + 'static>(store: S) {
    let store = Arc::new(store);
    let a = s("server/race");
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let (store, a) = (store.clone(), a.clone());
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
    assert_eq!(
        store.version(&a).unwrap(),
        wins,
        "concurrent_writers: version"
    );
    assert_eq!(
        read_all(&*store, &a, 0).len() as u64,
        wins,
        "concurrent_writers: records"
    );
}

/// A read while another thread appends sees a consistent prefix of the stream — whole
/// events, in order, up to the version it read — never a "missing record" that is not
/// missing.
pub fn read_during_appends<S: EventStore + Send + Sync + 'static>(store: S) {
    let store = Arc::new(store);
    let a = s("server/tail");
    let total = 1_500;
    let writer = {
        let (store, a) = (store.clone(), a.clone());
        std::thread::spawn(move || {
            for i in 0..total {
                store.append(&a, i, &evs(i..i + 1)).unwrap();
            }
        })
    };
    let mut seen = 0;
    let mut reads = 0;
    while seen < total {
        let got: Vec<(u64, ServerEvent)> = store
            .read(&a, 0)
            .unwrap_or_else(|e| panic!("read_during_appends: a read after {seen} events: {e}"));
        assert!(got.len() as u64 >= seen, "read_during_appends: went back");
        for (k, (seq, e)) in got.iter().enumerate() {
            assert_eq!(*seq, k as u64 + 1, "read_during_appends: seq");
            assert_eq!(e, &ev(k as u64), "read_during_appends: event");
        }
        seen = got.len() as u64;
        reads += 1;
    }
    writer.join().unwrap();
    assert!(
        reads > 1,
        "read_during_appends: the reads overlapped the appends"
    );
}

/// What was flushed is there after the store is reopened (`open` opens the same store
/// again), and appends go on from it.
pub fn flush_durability<S: EventStore>(open: impl Fn() -> S) {
    let a = s("server/a");
    {
        let store = open();
        store.append(&a, 0, &evs(0..3)).unwrap();
        store.append(&s("device/z"), 0, &evs(0..1)).unwrap();
        store.flush().unwrap();
    }
    let store = open();
    assert_eq!(
        store.version(&a).unwrap(),
        3,
        "flush_durability: version after reopen"
    );
    assert_eq!(read_all(&store, &a, 0).len(), 3);
    assert_eq!(store.streams().unwrap().len(), 2);
    assert_eq!(store.append(&a, 3, &evs(3..4)).unwrap(), 4);
}
