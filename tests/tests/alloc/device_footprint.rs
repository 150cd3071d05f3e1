//! What a handset pays for devcare, measured (its own test binary: the counting allocator
//! and the thread count see only this test): the heap peak of receiving a signed
//! 32-setting payload, applying and evaluating it, on the device's file store (and on sled,
//! which a full build still opens for a device log of devcare 0.7), and the threads each
//! store starts.
//! `docs/performance.md` quotes the figures this prints
//! (`cargo test --release -p devcare-integration --test alloc -- --nocapture`).

use devcare::host::DeviceHost;
use devcare::payload::{PayloadLimits, ServerKey, TrustedKeys, build_payload};
use devcare::store::{EventStore, FileStore, MemoryStore, SledOptions, SledStore};
use devcare::*;

fn campaign() -> Campaign {
    Campaign {
        id: CampaignId::new("apn-2026-11").unwrap(),
        settings: devcare::spec::fixtures::node_settings(32),
        ..devcare::spec::fixtures::campaign()
    }
}

/// Receives, applies (setting 5 fails) and evaluates the payload on `store`; returns the
/// heap peak in bytes above what was live before, and the report due.
fn receive_apply_evaluate<S: EventStore>(store: S, bytes: &[u8], trusted: &TrustedKeys) -> u64 {
    let c = campaign();
    let before = dhat::HeapStats::get();
    let peak = {
        let device = DeviceId::new("IMEI:490154203237518").unwrap();
        let mut agent =
            DeviceHost::on_store(store, device, vec![], trusted.clone(), [0; 32]).unwrap();
        let mut k = 0;
        let failed = agent
            .receive(bytes, c.issued_at, |_| {
                k += 1;
                Ok::<_, std::convert::Infallible>(ApplyResult::status(if k == 6 {
                    500
                } else {
                    200
                }))
            })
            .unwrap();
        assert!(failed.is_none());
        agent
            .tick(c.issued_at.plus(c.schedule.evaluate_after))
            .unwrap();
        let (_, s) = agent.states().next().unwrap();
        assert!(s.report.is_some(), "the failure is reported");
        dhat::HeapStats::get().max_bytes
    };
    peak as u64 - before.curr_bytes as u64
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

/// Twenty appends, each flushed; returns the most threads above `base` seen after one.
fn twenty_flushed_appends(store: &impl EventStore, base: usize) -> usize {
    let stream = devcare::store::StreamId::new("server/c").unwrap();
    let mut most = 0;
    for v in 0..20 {
        store
            .append(
                &stream,
                v,
                &[ServerEvent::BroadcastSent { at: Timestamp(v) }],
            )
            .unwrap();
        store.flush().unwrap();
        most = most.max(threads() - base);
    }
    most
}

pub(crate) fn a_device_takes_a_payload_in_a_small_heap_and_its_file_store_starts_no_thread() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let c = campaign();
    let key = ServerKey::from_seed(&[42; 32]);
    let mut trusted = TrustedKeys::new();
    trusted.add(key.public());
    let bytes = build_payload(&c, &key, Timestamp(u64::MAX), &PayloadLimits::default()).unwrap();

    // The heap: devcare's own part (on a memory store), on the file store a device host
    // opens, and with sled in a directory.
    let memory = receive_apply_evaluate(MemoryStore::new(), &bytes, &trusted);
    let dir = tempfile::tempdir().unwrap();
    let file = receive_apply_evaluate(
        FileStore::open(dir.path().join("f")).unwrap(),
        &bytes,
        &trusted,
    );
    let sled_device = receive_apply_evaluate(
        SledStore::open_with(dir.path().join("a"), &SledOptions::DEVICE).unwrap(),
        &bytes,
        &trusted,
    );
    println!(
        "payload {} bytes, 32 settings: heap peak {memory} B on a memory store, {file} B on the file store, {sled_device} B on sled (SledOptions::DEVICE)",
        bytes.len()
    );
    // devcare's part stays within 64 KiB (the payload is 1.2 KB; the campaign, its events
    // and records are a few copies of it).
    assert!(memory < 64 * 1024, "heap peak {memory} B");
    assert!(file < 64 * 1024, "heap peak on the file store {file} B");

    // Threads: the file store starts none, opening or writing.
    let base = threads();
    {
        let f = FileStore::open(dir.path().join("g")).unwrap();
        let most = twenty_flushed_appends(&f, base);
        assert_eq!(most, 0, "the file store started a thread");
    }
    println!("threads started by the file store: 0");

    // Threads: sled's flusher is one; SledOptions::DEVICE starts none that stay.
    let base = threads();
    let with_flusher = {
        let _s = SledStore::open(dir.path().join("b")).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        threads() - base
    };
    let (without, writing, idle) = {
        let s = SledStore::open_with(dir.path().join("c"), &SledOptions::DEVICE).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        let open = threads() - base;
        // Writing: sled's I/O pool may lend threads for a flush; they do not stay.
        let most = twenty_flushed_appends(&s, base);
        std::thread::sleep(std::time::Duration::from_millis(1_000));
        (open, most, threads() - base)
    };
    println!(
        "threads started by an open sled store: {with_flusher} with sled's defaults, {without} with SledOptions::DEVICE ({writing} at most while writing, {idle} once idle)"
    );
    assert_eq!(with_flusher, without + 1, "the flusher is one thread");
    assert_eq!(without, 0);
}
