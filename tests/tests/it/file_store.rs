//! The device's file store after a power cut and against damage: a torn last append is
//! dropped (its bytes kept aside) and the log opens at its last whole append; damage
//! anywhere else is a typed error that leaves the file as it is; a second open is refused.

use std::path::Path;

use devcare::store::{EventStore, FileStore, LOG_FILE, StoreError, StreamId, TORN_FILE};
use devcare::{ServerEvent, Timestamp};

fn events(from: u64, n: u64) -> Vec<ServerEvent> {
    (from..from + n)
        .map(|i| ServerEvent::BroadcastSent { at: Timestamp(i) })
        .collect()
}

fn stream(name: &str) -> StreamId {
    StreamId::new(name).unwrap()
}

/// Three appends (2, 3 and 1 events, the second over two streams), each flushed as a
/// device host does after every call; returns the log's length before the first and after
/// each.
fn three_appends(dir: &Path) -> Vec<u64> {
    let (a, b) = (stream("server/a"), stream("device/b"));
    let store = FileStore::open(dir).unwrap();
    let mut ends = vec![store.size_on_disk()];
    store.append(&a, 0, &events(0, 2)).unwrap();
    store.flush().unwrap();
    ends.push(store.size_on_disk());
    store
        .append_batch(&[
            devcare::store::AppendRequest {
                stream: &a,
                expected: 2,
                events: &events(2, 2),
            },
            devcare::store::AppendRequest {
                stream: &b,
                expected: 0,
                events: &events(100, 1),
            },
        ])
        .unwrap();
    store.flush().unwrap();
    ends.push(store.size_on_disk());
    store.append(&a, 4, &events(4, 1)).unwrap();
    ends.push(store.size_on_disk());
    store.flush().unwrap();
    ends
}

fn log(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join(LOG_FILE)).unwrap()
}

fn versions(store: &FileStore) -> (u64, u64) {
    (
        store.version(&stream("server/a")).unwrap(),
        store.version(&stream("device/b")).unwrap(),
    )
}

fn read_all(store: &FileStore, s: &str) -> Vec<ServerEvent> {
    store
        .read(&stream(s), 0)
        .unwrap()
        .into_iter()
        .map(|(_, e)| e)
        .collect()
}

#[test]
fn a_tail_cut_at_any_byte_drops_only_the_unfinished_append() {
    let dir = tempfile::tempdir().unwrap();
    let ends = three_appends(dir.path());
    let whole = log(dir.path());
    assert_eq!(whole.len() as u64, ends[3]);
    let last = ends[2] as usize;
    for cut in last + 1..whole.len() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(LOG_FILE), &whole[..cut]).unwrap();
        let store = FileStore::open(d.path())
            .unwrap_or_else(|e| panic!("cut at {cut}: a torn tail must open: {e}"));
        assert_eq!(store.torn_tail(), (cut - last) as u64, "cut at {cut}");
        assert_eq!(
            versions(&store),
            (4, 1),
            "cut at {cut}: the first two appends"
        );
        assert_eq!(read_all(&store, "server/a"), events(0, 4), "cut at {cut}");
        assert_eq!(
            std::fs::read(d.path().join(TORN_FILE)).unwrap(),
            &whole[last..cut],
            "cut at {cut}: the torn bytes are kept aside"
        );
        // The log goes on from its last whole append, and reopens whole.
        store.append(&stream("server/a"), 4, &events(7, 1)).unwrap();
        store.flush().unwrap();
        drop(store);
        let again = FileStore::open(d.path()).unwrap();
        assert_eq!(again.torn_tail(), 0, "cut at {cut}: reopened");
        assert_eq!(versions(&again), (5, 1));
    }
}

#[test]
fn zeros_where_the_last_append_should_be_are_a_torn_tail() {
    // The file grew but the append's blocks never reached the disk.
    let dir = tempfile::tempdir().unwrap();
    three_appends(dir.path());
    let whole = log(dir.path());
    for zeros in [1, 11, 12, 13, 100, 4096] {
        let d = tempfile::tempdir().unwrap();
        let mut bytes = whole.clone();
        bytes.resize(whole.len() + zeros, 0);
        std::fs::write(d.path().join(LOG_FILE), &bytes).unwrap();
        let store = FileStore::open(d.path()).unwrap();
        assert_eq!(store.torn_tail(), zeros as u64);
        assert_eq!(versions(&store), (5, 1), "{zeros} zeros");
        assert_eq!(log(d.path()), whole);
    }
}

#[test]
fn a_cut_inside_the_header_starts_a_new_log() {
    let dir = tempfile::tempdir().unwrap();
    three_appends(dir.path());
    let whole = log(dir.path());
    for cut in 0..16 {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(LOG_FILE), &whole[..cut]).unwrap();
        let store = FileStore::open(d.path()).unwrap();
        assert_eq!(versions(&store), (0, 0), "cut at {cut}");
        assert!(store.streams().unwrap().is_empty());
    }
}

#[test]
fn a_whole_last_append_that_fails_its_checksum_is_torn() {
    let dir = tempfile::tempdir().unwrap();
    let ends = three_appends(dir.path());
    let whole = log(dir.path());
    for pos in ends[2] as usize..whole.len() {
        let d = tempfile::tempdir().unwrap();
        let mut bytes = whole.clone();
        bytes[pos] ^= 0x40;
        std::fs::write(d.path().join(LOG_FILE), &bytes).unwrap();
        match FileStore::open(d.path()) {
            Ok(store) => {
                assert_eq!(versions(&store), (4, 1), "flip at {pos}");
                assert_eq!(store.torn_tail(), whole.len() as u64 - ends[2]);
            }
            Err(e) => panic!("flip at {pos} in the last append: {e}"),
        }
    }
}

#[test]
fn damage_before_the_last_append_is_an_error_that_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ends = three_appends(dir.path());
    let whole = log(dir.path());
    // Every byte of the header and of the first two appends.
    for pos in 0..ends[2] as usize {
        let d = tempfile::tempdir().unwrap();
        let mut bytes = whole.clone();
        bytes[pos] ^= 0x01;
        std::fs::write(d.path().join(LOG_FILE), &bytes).unwrap();
        match FileStore::open(d.path()) {
            Err(StoreError::Backend(msg)) => {
                assert!(msg.contains("damaged at byte"), "flip at {pos}: {msg}");
                assert!(
                    msg.contains(LOG_FILE),
                    "flip at {pos}: names the file: {msg}"
                );
            }
            Err(other) => panic!("flip at {pos}: {other:?}"),
            Ok(store) => panic!(
                "flip at {pos} went unnoticed or was taken for a torn tail (torn {})",
                store.torn_tail()
            ),
        }
        assert_eq!(
            log(d.path()),
            bytes,
            "flip at {pos}: the file is left as it is"
        );
        assert!(!d.path().join(TORN_FILE).exists());
    }
}

#[test]
fn unflushed_appends_torn_in_any_order_are_dropped_together() {
    // After a flush, three appends without one: a power cut may have written the later
    // ones and not the first. None was acknowledged: all three go, the flushed one stays.
    let d = tempfile::tempdir().unwrap();
    let a = stream("server/a");
    let ends = {
        let store = FileStore::open(d.path()).unwrap();
        store.append(&a, 0, &events(0, 1)).unwrap();
        store.flush().unwrap();
        let flushed = store.size_on_disk();
        for v in 1..4 {
            store.append(&a, v, &events(v, 1)).unwrap();
        }
        [flushed, store.size_on_disk()]
    };
    let whole = log(d.path());
    for pos in ends[0] as usize..ends[1] as usize {
        let mut bytes = whole.clone();
        bytes[pos] = 0;
        if bytes == whole {
            continue;
        }
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(LOG_FILE), &bytes).unwrap();
        let store = FileStore::open(d.path())
            .unwrap_or_else(|e| panic!("zero at {pos}: unflushed appends are a torn tail: {e}"));
        let v = store.version(&a).unwrap();
        assert!(v >= 1, "zero at {pos}: the flushed append stays");
        assert_eq!(log(d.path()).len() as u64, store.size_on_disk());
        assert_eq!(
            store.torn_tail() + store.size_on_disk(),
            whole.len() as u64,
            "zero at {pos}"
        );
    }
}

#[test]
fn a_file_that_is_not_a_log_is_refused_and_kept() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join(LOG_FILE);
    for bytes in [
        b"not a devcare log at all".to_vec(),
        b"SQLite".to_vec(),
        // The header of a format this build does not read.
        {
            let dir = tempfile::tempdir().unwrap();
            three_appends(dir.path());
            let mut h = log(dir.path());
            h[8] = 2;
            h
        },
    ] {
        std::fs::write(&path, &bytes).unwrap();
        let err = FileStore::open(d.path()).unwrap_err();
        assert!(
            matches!(&err, StoreError::Backend(m) if m.contains("damaged at byte")),
            "{err}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }
}

#[test]
fn a_second_open_is_refused_while_the_first_is_open() {
    let d = tempfile::tempdir().unwrap();
    let first = FileStore::open(d.path()).unwrap();
    first.append(&stream("server/a"), 0, &events(0, 1)).unwrap();
    let err = FileStore::open(d.path()).unwrap_err();
    assert!(
        matches!(&err, StoreError::Backend(m) if m.contains("in use")),
        "{err}"
    );
    drop(first);
    let again = FileStore::open(d.path()).unwrap();
    assert_eq!(again.version(&stream("server/a")).unwrap(), 1);
}

/// A lock that is let go while a second open waits for it (as when a forked child still
/// holds the file for a moment): the open succeeds instead of reporting the log in use.
#[test]
fn an_open_waits_for_a_lock_being_let_go() {
    let d = tempfile::tempdir().unwrap();
    let first = FileStore::open(d.path()).unwrap();
    first.append(&stream("server/a"), 0, &events(0, 1)).unwrap();
    let closer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(100));
        drop(first);
    });
    let second = FileStore::open(d.path()).expect("the lock was let go within the wait");
    closer.join().unwrap();
    assert_eq!(second.version(&stream("server/a")).unwrap(), 1);
}

#[test]
fn a_frame_whose_parts_do_not_continue_their_streams_is_damage() {
    // Two stores' logs spliced: the second's first append claims seq 1 of a stream the
    // first already has. Every frame passes its checksum; the order does not.
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ends = three_appends(d1.path());
    three_appends(d2.path());
    let mut bytes = log(d1.path());
    let other = log(d2.path());
    bytes.extend_from_slice(&other[16..]);
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join(LOG_FILE), &bytes).unwrap();
    let err = FileStore::open(d.path()).unwrap_err();
    assert!(
        matches!(&err, StoreError::Backend(m)
            if m.contains(&format!("damaged at byte {}", ends[3])) && m.contains("version 5")),
        "{err}"
    );
    assert_eq!(log(d.path()), bytes);
}

/// A handset upgraded from 0.7 kept its log in a sled directory: the 0.8 host (with the
/// `sled` feature, as in the full library) opens it as sled and finds the campaign it had,
/// and does not start a file log beside it.
#[test]
fn a_device_log_of_devcare_0_7_on_sled_still_opens() {
    use devcare::host::DeviceHost;
    use devcare::payload::TrustedKeys;
    use devcare::store::{SledOptions, SledStore};
    let dir = tempfile::tempdir().unwrap();
    let (c, payload, key) = devcare_integration::signed_fixture(3);
    {
        // What a 0.7 DeviceHost wrote.
        let store = SledStore::open_with(dir.path(), &SledOptions::DEVICE).unwrap();
        let mut trusted = TrustedKeys::new();
        trusted.add(key.public());
        let device = devcare::DeviceId::new("IMEI:1").unwrap();
        let mut agent = DeviceHost::on_store(store, device, vec![], trusted, [0; 32]).unwrap();
        agent
            .receive(&payload, c.issued_at, |_| {
                Ok::<_, std::convert::Infallible>(devcare::ApplyResult::OK)
            })
            .unwrap();
        agent.store().flush().unwrap();
    }
    let host = devcare_integration::device_host(dir.path(), &key);
    let states: Vec<_> = host.states().map(|(id, _)| id.clone()).collect();
    assert_eq!(states, vec![c.id.clone()]);
    assert!(
        !dir.path().join(LOG_FILE).exists(),
        "no file log beside sled"
    );
}

/// A write that fails partway (here the file-size limit, `ulimit -f`, as a full disk would)
/// leaves no partial frame behind: the store cuts it off before reporting the error, so
/// the next open finds no torn tail and every append the writer reported flushed.
#[test]
fn a_failed_write_leaves_no_partial_frame() {
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "trap '' XFSZ; ulimit -f 64; exec '{}' 'file:{}' 7",
        env!("CARGO_BIN_EXE_crash_writer"),
        dir.path().display()
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &script])
        .output()
        .expect("sh runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the writer stops on its store's error: {stderr}"
    );
    assert!(stderr.contains("appending"), "{stderr}");
    let flushed = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("flushed ")?.parse::<u64>().ok())
        .max()
        .expect("some appends were flushed before the limit");
    let store = FileStore::open(dir.path()).unwrap();
    assert_eq!(store.torn_tail(), 0, "the partial frame was cut off");
    let stream = stream("server/crash");
    let version = store.version(&stream).unwrap();
    assert!(version >= flushed, "flushed {flushed}, found {version}");
    let events: Vec<(u64, ServerEvent)> = store.read(&stream, 0).unwrap();
    assert_eq!(events.len() as u64, version);
    assert!(!dir.path().join(TORN_FILE).exists());
}

/// N15 (issue 29): a read-only open (what `devcare log inspect` uses on a log pulled from a
/// handset) reads the whole frames, says how long the torn tail is, and changes no byte: no
/// tail cut or set aside, no append; a directory without a log is not created.
#[test]
fn a_read_only_open_reads_a_torn_log_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ends = three_appends(dir.path());
    let mut bytes = log(dir.path());
    bytes.truncate(ends[3] as usize - 5); // the last append torn
    std::fs::write(dir.path().join(LOG_FILE), &bytes).unwrap();
    {
        let store = FileStore::open_read_only(dir.path()).unwrap();
        assert_eq!(versions(&store), (4, 1));
        assert_eq!(store.torn_tail(), ends[3] - 5 - ends[2]);
        let err = store
            .append(&stream("server/a"), 4, &events(4, 1))
            .unwrap_err();
        assert!(err.to_string().contains("read-only"), "{err}");
        store.flush().unwrap();
    }
    assert_eq!(log(dir.path()), bytes, "no byte changed");
    assert!(!dir.path().join(TORN_FILE).exists());
    let nowhere = dir.path().join("nothing-here");
    assert!(FileStore::open_read_only(&nowhere).is_err());
    assert!(!nowhere.exists(), "not created");
    // A writing open then recovers it as before.
    let store = FileStore::open(dir.path()).unwrap();
    assert_eq!(store.torn_tail(), ends[3] - 5 - ends[2]);
}
