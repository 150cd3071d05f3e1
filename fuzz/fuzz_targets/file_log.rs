//! Any bytes as a device's log file (`devcare.log`): opening is a typed error that leaves the
//! file as it is, or a store whose every stream reads (events or typed errors), whose torn
//! tail and kept length add up to the file, and which takes an append and reopens whole.
//!
//! The first byte picks how the rest becomes the file: as it is; after a valid header; or as
//! frame bodies with valid checksums (so the frame parser sees hostile bodies, not just
//! checksum failures), then cut to a length the input picks.
#![no_main]

use devcare::decider::Side;
use devcare::store::{EventStore, FileStore, LOG_FILE, StoreError, StreamId, TORN_FILE};
use devcare::{DeviceEvent, ServerEvent, Timestamp};
use libfuzzer_sys::fuzz_target;

/// The header a new store writes (made once).
fn header() -> Vec<u8> {
    static HEADER: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    HEADER
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            drop(FileStore::open(dir.path()).expect("a new store"));
            std::fs::read(dir.path().join(LOG_FILE)).expect("its header")
        })
        .clone()
}

/// Frames whose bodies are the input's chunks (a length byte, then that many bytes), each
/// with valid checksums and the synced length the chunk's first byte picks.
fn framed(data: &[u8]) -> Vec<u8> {
    let mut out = header();
    let mut rest = data;
    while let Some((&n, tail)) = rest.split_first() {
        let (body, tail) = tail.split_at((n as usize).min(tail.len()));
        rest = tail;
        let synced = if body.first().is_some_and(|b| b & 1 == 1) {
            out.len() as u64
        } else {
            16
        };
        let mut head = Vec::with_capacity(20);
        head.extend_from_slice(&(body.len() as u32).to_le_bytes());
        head.extend_from_slice(&crc32c::crc32c(body).to_le_bytes());
        head.extend_from_slice(&synced.to_le_bytes());
        let crc = crc32c::crc32c(&head);
        head.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&head);
        out.extend_from_slice(body);
    }
    out
}

fn read_all(store: &FileStore, stream: &StreamId) {
    let r = match Side::of(stream) {
        Some((Side::Device, _)) => store.fold(stream, 0, |_, _: DeviceEvent| ()),
        _ => store.fold(stream, 0, |_, _: ServerEvent| ()),
    };
    if let Err(e) = r {
        assert!(
            !matches!(e, StoreError::Missing { .. }),
            "an indexed stream has every record: {e}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, data)) = data.split_first() else {
        return;
    };
    let bytes = match mode % 3 {
        0 => data.to_vec(),
        1 => [header(), data.to_vec()].concat(),
        _ => {
            let Some((&cut, data)) = data.split_first() else {
                return;
            };
            let mut b = framed(data);
            b.truncate(b.len() - (cut as usize).min(b.len() - 16));
            b
        }
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(LOG_FILE);
    std::fs::write(&path, &bytes).expect("write");
    let store = match FileStore::open(dir.path()) {
        Err(StoreError::Backend(_)) => {
            assert_eq!(std::fs::read(&path).expect("read"), bytes, "left as it is");
            assert!(!dir.path().join(TORN_FILE).exists());
            return;
        }
        Err(e) => panic!("open fails only as a backend error: {e:?}"),
        Ok(store) => store,
    };
    let kept = std::fs::read(&path).expect("read");
    assert_eq!(kept.len() as u64, store.size_on_disk());
    if bytes.len() >= 16 {
        assert_eq!(store.torn_tail() + store.size_on_disk(), bytes.len() as u64);
        assert_eq!(kept, bytes[..kept.len()], "a prefix is kept");
    }
    let streams = store.streams().expect("streams");
    for s in &streams {
        read_all(&store, s);
    }
    let versions: Vec<u64> = streams
        .iter()
        .map(|s| store.version(s).expect("v"))
        .collect();
    let after = StreamId::new("server/fuzz-after").expect("valid");
    let v = store.version(&after).expect("version");
    let v = store
        .append(
            &after,
            v,
            &[ServerEvent::BroadcastSent { at: Timestamp(1) }],
        )
        .expect("an opened store takes an append");
    store.flush().expect("flush");
    drop(store);
    let again = FileStore::open(dir.path()).expect("reopens");
    assert_eq!(again.torn_tail(), 0);
    assert_eq!(again.version(&after).expect("version"), v);
    for (s, want) in streams.iter().zip(versions) {
        if *s != after {
            assert_eq!(again.version(s).expect("version"), want, "{s}");
        }
    }
});
