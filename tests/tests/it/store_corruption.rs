//! Damaged records: flipped or truncated bytes give a typed error naming stream and seq;
//! the stream stays readable up to the damage.

use devcare::store::{EventStore, SledStore, StoreError, StreamId, event_key};
use devcare::{ServerEvent, Timestamp};

fn events(n: u64) -> Vec<ServerEvent> {
    (0..n)
        .map(|i| ServerEvent::BroadcastSent { at: Timestamp(i) })
        .collect()
}

/// Writes 10 events to `server/c`, then lets `damage` edit the raw sled tree.
fn damaged(damage: impl FnOnce(&sled::Tree, &StreamId)) -> (tempfile::TempDir, StreamId) {
    damaged_n(10, damage)
}

/// [`damaged`] with `n` events.
fn damaged_n(n: u64, damage: impl FnOnce(&sled::Tree, &StreamId)) -> (tempfile::TempDir, StreamId) {
    let dir = tempfile::tempdir().unwrap();
    let stream = StreamId::new("server/c").unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        store.append(&stream, 0, &events(n)).unwrap();
        store.flush().unwrap();
    }
    {
        let db = open_raw(dir.path());
        let tree = db.open_tree("events").unwrap();
        damage(&tree, &stream);
        db.flush().unwrap();
    }
    (dir, stream)
}

/// sled frees its directory lock from a background thread just after a close: wait for it.
fn open_raw(path: &std::path::Path) -> sled::Db {
    for _ in 0..200 {
        if let Ok(db) = sled::open(path) {
            return db;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    sled::open(path).unwrap()
}

fn read_until_error(dir: &tempfile::TempDir, stream: &StreamId) -> (Vec<u64>, StoreError) {
    devcare_integration::read_until_error(&SledStore::open(dir.path()).unwrap(), stream)
}

#[test]
fn a_flipped_byte_anywhere_in_a_record_is_caught_with_stream_and_seq() {
    let len = {
        let (dir, stream) = damaged(|_, _| {});
        let db = open_raw(dir.path());
        db.open_tree("events")
            .unwrap()
            .get(event_key(&stream, 7))
            .unwrap()
            .unwrap()
            .len()
    };
    for pos in 0..len {
        let (dir, stream) = damaged(|tree, stream| {
            let key = event_key(stream, 7);
            let mut v = tree.get(&key).unwrap().unwrap().to_vec();
            v[pos] ^= 0x20;
            tree.insert(key, v).unwrap();
        });
        let (seen, err) = read_until_error(&dir, &stream);
        devcare_integration::assert_flip_caught(&seen, err, &stream, 7, pos);
    }
}

#[test]
fn a_truncated_record_is_caught_at_every_length() {
    for keep in 0..8 {
        let (dir, stream) = damaged(|tree, stream| {
            let key = event_key(stream, 4);
            let v = tree.get(&key).unwrap().unwrap().to_vec();
            tree.insert(key, &v[..keep.min(v.len() - 1)]).unwrap();
        });
        let (seen, err) = read_until_error(&dir, &stream);
        assert_eq!(seen, vec![1, 2, 3]);
        assert!(
            matches!(err, StoreError::Corrupt { seq: 4, .. }),
            "keep {keep}: {err}"
        );
        assert!(
            err.to_string()
                .starts_with("stream server/c seq 4: corrupt record:"),
            "{err}"
        );
    }
}

#[test]
fn an_unknown_format_version_is_named() {
    let (dir, stream) = damaged(|tree, stream| {
        let key = event_key(stream, 2);
        let mut v = tree.get(&key).unwrap().unwrap().to_vec();
        v[0] = 7;
        let n = v.len() - 4;
        let crc = crc32c::crc32c(&v[..n]);
        v[n..].copy_from_slice(&crc.to_be_bytes());
        tree.insert(key, v).unwrap();
    });
    let (seen, err) = read_until_error(&dir, &stream);
    assert_eq!(seen, vec![1]);
    assert_eq!(
        err.to_string(),
        "stream server/c seq 2: corrupt record: unknown record format version 7"
    );
}

#[test]
fn a_missing_record_is_caught() {
    let (dir, stream) = damaged(|tree, stream| {
        tree.remove(event_key(stream, 5)).unwrap();
    });
    let (seen, err) = read_until_error(&dir, &stream);
    assert_eq!(seen, vec![1, 2, 3, 4]);
    assert_eq!(
        err.to_string(),
        "stream server/c seq 5: record missing (stream head says version 10)"
    );
    // The tail lost: the head still says 10.
    let (dir, stream) = damaged(|tree, stream| {
        tree.remove(event_key(stream, 10)).unwrap();
    });
    let (seen, err) = read_until_error(&dir, &stream);
    assert_eq!(seen.len(), 9);
    assert!(matches!(
        err,
        StoreError::Missing {
            seq: 10,
            head: 10,
            ..
        }
    ));
}

/// A read takes records from sled in batches of 256: a gap anywhere — inside a batch, at
/// its first or last record — still delivers every record before it, then the error.
#[test]
fn a_missing_record_in_a_long_stream_is_caught_after_every_record_before_it() {
    for gone in [2, 255, 256, 257, 258, 512, 513, 600] {
        let (dir, stream) = damaged_n(600, |tree, stream| {
            tree.remove(event_key(stream, gone)).unwrap();
        });
        let (seen, err) = read_until_error(&dir, &stream);
        assert_eq!(seen, (1..gone).collect::<Vec<_>>(), "seq {gone} removed");
        assert!(
            matches!(err, StoreError::Missing { seq, head: 600, .. } if seq == gone),
            "seq {gone} removed: {err}"
        );
    }
}

#[test]
fn a_damaged_log_fails_open_with_the_error_instead_of_a_partial_state() {
    let (dir, _) = damaged(|tree, stream| {
        let key = event_key(stream, 3);
        let mut v = tree.get(&key).unwrap().unwrap().to_vec();
        v[1] ^= 0xff;
        tree.insert(key, v).unwrap();
    });
    let err = devcare::host::ServerHost::on_store(
        SledStore::open(dir.path()).unwrap(),
        devcare::host::GroupDirectory::new([0; 32]),
    )
    .unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { seq: 3, .. }), "{err}");
}

/// A record that is well framed (its CRC matches) but holds a campaign breaking the
/// campaign's own rules decodes to a typed `Corrupt`, never to a state the device decider
/// was promised it cannot hold (`ValidCampaign`).
#[test]
fn a_logged_campaign_that_breaks_the_rules_is_refused_on_replay() {
    use devcare::store::Persist;
    use devcare::*;
    use serde::Serialize;

    // The persisted shape of `DeviceEvent::PayloadAccepted`, schema 2 (variant 2), with a
    // plain campaign in it: what a writer that skipped validation would have stored.
    #[derive(Serialize)]
    enum Stored<'a> {
        _DeviceV1(()),
        _ServerV1(()),
        DeviceV2(Accepted<'a>),
    }
    #[derive(Serialize)]
    enum Accepted<'a> {
        PayloadAccepted {
            campaign: &'a Campaign,
            device: DeviceId,
            at: Timestamp,
        },
    }
    let good = Campaign {
        id: CampaignId::new("apn").unwrap(),
        revision: 1,
        issued_at: Timestamp(1_780_000_000_000),
        salt: [7; 16],
        targets: TargetSet::All,
        settings: vec![Setting::replace("./A", Value::Int(1))],
        schedule: CareSchedule::default(),
    };
    let stream = StreamId::new("device/apn").unwrap();
    let record = |c: &Campaign| {
        let e = Stored::DeviceV2(Accepted::PayloadAccepted {
            campaign: c,
            device: DeviceId::new("IMEI:1").unwrap(),
            at: c.issued_at,
        });
        devcare::codec::encode_record(stream.as_str(), 1, &e).unwrap()
    };
    // The mirror is faithful: the valid campaign's record is the one devcare writes.
    let accepted = DeviceEvent::PayloadAccepted {
        campaign: ValidCampaign::new(good.clone(), &Limits::DEFAULT).unwrap(),
        device: DeviceId::new("IMEI:1").unwrap(),
        at: good.issued_at,
    };
    assert_eq!(record(&good), accepted.to_record(&stream, 1).unwrap());
    assert_eq!(
        DeviceEvent::from_record(&stream, 1, &record(&good)).unwrap(),
        accepted
    );

    let mut bad = good.clone();
    bad.revision = 0;
    let err = DeviceEvent::from_record(&stream, 1, &record(&bad)).unwrap_err();
    let StoreError::Corrupt {
        stream: s,
        seq,
        reason,
    } = &err
    else {
        panic!("expected Corrupt, got {err:?}");
    };
    assert_eq!((s, *seq), (&stream, 1));
    assert!(reason.to_string().contains("revision"), "{reason}");
}

/// A record re-framed as format 1 (its CRC over its bytes only, not bound to its stream and
/// sequence number).
fn as_format_1(rec: &[u8]) -> Vec<u8> {
    let mut framed = rec[..rec.len() - 4].to_vec();
    framed[0] = 1;
    let crc = crc32c::crc32c(&framed);
    framed.extend_from_slice(&crc.to_be_bytes());
    framed
}

/// N10/F9 (issue 29): records re-framed as format 1 and swapped were accepted at any key,
/// so a stream replayed silently in the wrong order. A format-1 record after a format-2 one
/// of its stream is corrupt; only a sled store (what devcare 0.2 wrote) holds format 1, and
/// only before the stream's first format-2 record.
#[test]
fn records_reframed_as_format_1_and_swapped_are_caught() {
    // Records 5 and 6 swapped and re-framed: their CRCs pass at the other's key.
    let (dir, stream) = damaged(|tree, stream| {
        let r5 = tree.get(event_key(stream, 5)).unwrap().unwrap().to_vec();
        let r6 = tree.get(event_key(stream, 6)).unwrap().unwrap().to_vec();
        tree.insert(event_key(stream, 5), as_format_1(&r6)).unwrap();
        tree.insert(event_key(stream, 6), as_format_1(&r5)).unwrap();
    });
    let (seen, err) = read_until_error(&dir, &stream);
    assert_eq!(seen, vec![1, 2, 3, 4]);
    assert!(
        matches!(&err, StoreError::Corrupt { seq: 5, .. }) && err.to_string().contains("format 1"),
        "{err}"
    );
    // A stream written at format 1 from its start (devcare 0.2 on sled) still reads.
    let (dir, stream) = damaged_n(3, |tree, stream| {
        for seq in 1..=3 {
            let r = tree.get(event_key(stream, seq)).unwrap().unwrap().to_vec();
            tree.insert(event_key(stream, seq), as_format_1(&r))
                .unwrap();
        }
    });
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.read::<ServerEvent>(&stream, 0).unwrap().len(), 3);
    // The same records in any other store are refused.
    let mem = devcare::store::MemoryStore::new();
    let recs: Vec<Vec<u8>> = (1..=3)
        .map(|seq| {
            let mut out = Vec::new();
            store
                .scan_records(&stream, seq - 1, &mut |s, rec| {
                    if s == seq {
                        out = rec.to_vec();
                    }
                    Ok(())
                })
                .unwrap();
            out
        })
        .collect();
    mem.append_records(&[(&stream, 0, recs)]).unwrap();
    let err = mem.read::<ServerEvent>(&stream, 0).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { seq: 1, .. }), "{err}");
}
