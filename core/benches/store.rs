//! Event-log throughput, each beside its raw-sled baseline in the same run.
//!
//! `cargo bench -p devcare --bench store`
//!
//! * ingest: durable group commit of 256 failure reports (decide, encode, one atomic
//!   append of 512 events, flush) vs a raw sled batch insert of 512 values of the same
//!   sizes + flush; and the same group commit on a store in a directory, whose flush
//!   also fsyncs (the price of surviving a power cut);
//! * replay of 1,000,000 events from sled: read + CRC + decode, and the full fold into the
//!   server state, vs a raw sled prefix scan;
//! * the same 1,000,000 events in the device's file store: open (frames checked, index
//!   built) + read + CRC + decode, vs reading the file whole;
//! * replay of the same 1,000,000 events from memory.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use devcare::host::{GroupDirectory, ServerHost};
use devcare::server::ServerEvent;
use devcare::store::{
    EventStore, FileStore, LOG_FILE, MemoryStore, Persist, SledStore, StreamId, event_key,
};
use devcare::*;
use std::hint::black_box;

#[path = "common/interleaved.rs"]
mod interleaved;

const BATCH: u64 = 256;
const REPLAY_EVENTS: u64 = 1_000_000;

fn campaign() -> Campaign {
    Campaign {
        id: CampaignId::new("bench").unwrap(),
        revision: 1,
        issued_at: Timestamp(1_780_000_000_000),
        salt: *b"bench-salt-01234",
        targets: TargetSet::All,
        settings: (0..32)
            .map(|i| Setting::replace(format!("./Vendor/Node{i}/Value"), Value::Int(i)))
            .collect(),
        schedule: CareSchedule::default(),
    }
}

fn report(c: &Campaign, i: u64) -> ServerCommand {
    ServerCommand::AcceptReport {
        report: Report {
            campaign: c.id.clone(),
            revision: 1,
            device: DeviceId::new(format!("dev-{i:010}")).unwrap(),
            attempt: 1,
            evaluated_at: c.issued_at,
            kind: ReportKind::Failure {
                findings: vec![Finding::Status {
                    index: (i % 32) as u32,
                    status: 500,
                }],
            },
        },
        groups: vec![],
        at: c.issued_at.plus(Duration::from_mins(10)),
    }
}

/// Benchmarks group commits of 256 fresh failure reports each on a server over `store`.
fn group_commits(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    store: SledStore,
    c: &Campaign,
) {
    let mut server = ServerHost::on_store(store, GroupDirectory::new([0; 32])).unwrap();
    server
        .handle(
            &c.id,
            &ServerCommand::Create {
                campaign: Box::new(c.clone()),
                targeted: Some(100_000_000),
                at: c.issued_at,
            },
        )
        .unwrap();
    let mut next = 0u64;
    g.bench_function(name, |b| {
        b.iter_batched(
            || {
                let cmds: Vec<_> = (next..next + BATCH)
                    .map(|i| (c.id.clone(), report(c, i)))
                    .collect();
                next += BATCH;
                cmds
            },
            |cmds| server.handle_batch(&cmds).unwrap().len(),
            BatchSize::LargeInput,
        )
    });
}

fn ingest(cr: &mut Criterion) {
    let c = campaign();
    let mut g = cr.benchmark_group("ingest");
    g.throughput(Throughput::Elements(BATCH));
    g.sample_size(30);

    group_commits(
        &mut g,
        "devcare: 256 reports, decide + append + flush",
        SledStore::temporary().unwrap(),
        &c,
    );
    // The same on a store in a directory: the flush then also fsyncs the data file and the
    // directory (a temporary store has no file to fsync).
    let dir = tempfile::tempdir().unwrap();
    group_commits(
        &mut g,
        "devcare on disk: 256 reports, decide + append + flush + fsync",
        SledStore::open(dir.path()).unwrap(),
        &c,
    );

    // Same number and sizes of values, straight into sled.
    let sample: Vec<usize> = {
        let raw = StreamId::new("server/raw").unwrap();
        let ServerCommand::AcceptReport { report, .. } = report(&c, 1) else {
            unreachable!()
        };
        let accepted = ServerEvent::ReportAccepted {
            device: report.device.clone(),
            attempt: 1,
            evaluated_at: report.evaluated_at,
            kind: report.kind.clone(),
            late: false,
            at: c.issued_at,
        };
        let care = ServerEvent::CareScheduled {
            device: report.device,
            attempt: 1,
            settings: vec![3],
            due: c.issued_at,
        };
        vec![
            accepted.to_record(&raw, 1).unwrap().len(),
            care.to_record(&raw, 2).unwrap().len(),
        ]
    };
    let db = sled::Config::new().temporary(true).open().unwrap();
    let tree = db.open_tree("raw").unwrap();
    let stream = StreamId::new("server/raw").unwrap();
    let mut seq = 0u64;
    g.bench_function("raw sled: 512 values, batch insert + flush", |b| {
        b.iter(|| {
            let mut batch = sled::Batch::default();
            for _ in 0..BATCH {
                for &len in &sample {
                    seq += 1;
                    batch.insert(event_key(&stream, seq), vec![0xa5u8; len]);
                }
            }
            batch.insert(b"\xffhead".to_vec(), &seq.to_be_bytes());
            tree.apply_batch(batch).unwrap();
            db.flush().unwrap();
        })
    });
    g.finish();
}

/// 1M server events for 250,000 failed devices: accepted, scheduled, dispatched, succeeded.
fn replay_log(c: &Campaign) -> Vec<ServerEvent> {
    let mut out = Vec::with_capacity(REPLAY_EVENTS as usize);
    out.push(ServerEvent::CampaignCreated {
        campaign: Box::new(c.clone()),
        targeted: 10_000_000,
        at: c.issued_at,
    });
    let t = c.issued_at.plus(Duration::from_mins(10));
    let mut i = 0u64;
    while (out.len() as u64) < REPLAY_EVENTS {
        let device = DeviceId::new(format!("dev-{i:010}")).unwrap();
        out.push(ServerEvent::ReportAccepted {
            device: device.clone(),
            attempt: 1,
            evaluated_at: c.issued_at,
            kind: ReportKind::Failure {
                findings: vec![Finding::Status {
                    index: (i % 32) as u32,
                    status: 500,
                }],
            },
            late: false,
            at: t,
        });
        out.push(ServerEvent::CareScheduled {
            device: device.clone(),
            attempt: 1,
            settings: vec![(i % 32) as u32],
            due: t,
        });
        out.push(ServerEvent::CareDispatched {
            device: device.clone(),
            attempt: 1,
            at: t,
        });
        out.push(ServerEvent::CareSucceeded {
            device,
            attempt: 1,
            at: t,
        });
        i += 1;
    }
    out.truncate(REPLAY_EVENTS as usize);
    out
}

fn fill<S: EventStore>(store: &S, stream: &StreamId, log: &[ServerEvent]) {
    let mut v = 0;
    for chunk in log.chunks(10_000) {
        v = store.append(stream, v, chunk).unwrap();
    }
    store.flush().unwrap();
}

/// Reads and decodes every event of `stream`, checking there are [`REPLAY_EVENTS`].
fn read_every_event(store: &impl EventStore, stream: &StreamId) {
    let mut n = 0u64;
    store
        .fold(stream, 0, |_, e: ServerEvent| {
            black_box(&e);
            n += 1;
        })
        .unwrap();
    assert_eq!(n, REPLAY_EVENTS);
}

fn replay(cr: &mut Criterion) {
    let c = campaign();
    let log = replay_log(&c);
    let stream = devcare::decider::Side::Server.stream(&c.id);
    let mut g = cr.benchmark_group("replay 1M events");
    g.throughput(Throughput::Elements(REPLAY_EVENTS));
    g.sample_size(10);

    let sled_store = SledStore::temporary().unwrap();
    fill(&sled_store, &stream, &log);
    let tree = sled_store.raw_tree();
    let mut prefix = stream.as_str().as_bytes().to_vec();
    prefix.push(0);
    let raw_scan = || {
        let mut bytes = 0usize;
        for kv in tree.scan_prefix(&prefix) {
            bytes += kv.unwrap().1.len();
        }
        black_box(bytes)
    };
    let devcare_read = || read_every_event(&sled_store, &stream);
    g.bench_function("raw sled: prefix scan of the same tree", |b| {
        b.iter(raw_scan)
    });
    g.bench_function("devcare sled: read + CRC + decode", |b| {
        b.iter(devcare_read)
    });
    // The ratio itself, from the two run back to back (7 pairs, the median of the pairs'
    // ratios): a neighbour's burst on a shared machine hits both halves of a pair alike,
    // where it may hit only one of the two criterion runs above.
    let pairs = interleaved::pairs(
        7,
        || {
            raw_scan();
        },
        devcare_read,
    );
    let ratios = interleaved::sorted_ratios(&pairs, |raw, devcare| raw / devcare);
    println!(
        "replay: raw scan / devcare read + CRC + decode, interleaved: median {:.3} (range {:.3}–{:.3}, 7 pairs; goal ≥ 0.6)",
        ratios[3], ratios[0], ratios[6]
    );
    g.bench_function("devcare sled: full replay into server state", |b| {
        b.iter(|| {
            let mut state = ServerState::default();
            sled_store
                .fold(&stream, 0, |_, e: ServerEvent| {
                    Server::evolve(&mut state, &e)
                })
                .unwrap();
            black_box(state.stats())
        })
    });
    drop(sled_store);

    // The device's store: reopening a log (frames checked, index built) and reading it,
    // beside reading the same file whole.
    let dir = tempfile::tempdir().unwrap();
    fill(&FileStore::open(dir.path()).unwrap(), &stream, &log);
    let path = dir.path().join(LOG_FILE);
    g.bench_function("raw file: read the whole log file", |b| {
        b.iter(|| black_box(std::fs::read(&path).unwrap().len()))
    });
    g.bench_function("devcare file: open + read + CRC + decode", |b| {
        b.iter(|| read_every_event(&FileStore::open(dir.path()).unwrap(), &stream))
    });

    let mem = MemoryStore::new();
    fill(&mem, &stream, &log);
    g.bench_function("devcare memory: full replay into server state", |b| {
        b.iter(|| {
            let mut state = ServerState::default();
            mem.fold(&stream, 0, |_, e: ServerEvent| {
                Server::evolve(&mut state, &e)
            })
            .unwrap();
            black_box(state.stats())
        })
    });
    g.finish();
}

criterion_group!(benches, ingest, replay);
criterion_main!(benches);
