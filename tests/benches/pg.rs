//! PostgreSQL benchmarks, each beside its baseline in the same run (`cargo bench -p
//! devcare-integration --bench pg`; a throwaway cluster is started as for the tests, or
//! `DEVCARE_PG_URL` / `DEVCARE_PG_URL2` name servers):
//!
//! * `pg_ingest/{devcare,raw_insert}/B`: B failure reports through the care server (decide,
//!   encode, one durable append: 2B events) against a raw `INSERT … SELECT unnest(…)` of the
//!   same 2B record bodies in one transaction, at B = 1, 16, 256;
//!   `pg_ingest/devcare_in_memory/256` is the same work on a store in memory: the share
//!   that is devcare's own (decide, evolve, encode, CRC);
//! * `pg_replay/{devcare,raw_select}`: a stream of 1,000,000 events read back, checked and
//!   decoded, against a raw `SELECT seq, body` of the same rows through the same paging;
//! * `pg_workers/{1,2}`: 512 reports ingested by 1 worker owning all 64 shards, and by 2
//!   workers (threads) owning 32 each, the shards on two clusters.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use devcare::host::{GroupDirectory, ServerHost, ShardMap, ShardWorker};
use devcare::server::{ServerCommand, ShardRouter};
use devcare::store::{EventStore, Persist, StreamId};
use devcare::*;
use devcare_integration::pg;
use devcare_pg::PgStore;

const BUILT_IN: &str = include_str!("../../examples/campaigns/apn-full.toml");

fn campaign(id: &str) -> Campaign {
    let mut c = Campaign::from_toml("apn-full.toml", BUILT_IN).unwrap();
    c.schedule.abort = None;
    c.id = CampaignId::new(id).unwrap();
    c
}

fn report(c: &Campaign, n: u64) -> Report {
    Report {
        campaign: c.id.clone(),
        revision: c.revision,
        device: devcare::sim::device_id(n),
        attempt: 1,
        evaluated_at: c.issued_at.plus(devcare::Duration::from_mins(5)),
        kind: ReportKind::Failure {
            findings: vec![Finding::Status {
                index: (n % 6) as u32,
                status: 500,
            }],
        },
    }
}

fn accept(c: &Campaign, n: u64) -> ServerCommand {
    ServerCommand::AcceptReport {
        report: report(c, n),
        groups: vec![],
        at: c.issued_at.plus(devcare::Duration::from_mins(10)),
    }
}

fn ingest(cr: &mut Criterion) {
    let Some(url) = pg::fresh_database("bench pg_ingest") else {
        return;
    };
    let c = campaign("bench-ingest");
    let mut server = ServerHost::on_store(
        PgStore::connect(&url).unwrap(),
        GroupDirectory::new([0; 32]),
    )
    .unwrap();
    server
        .handle(
            &c.id,
            &ServerCommand::Create {
                campaign: Box::new(c.clone()),
                targeted: Some(1 << 40),
                at: c.issued_at,
            },
        )
        .unwrap();
    let mut raw = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    raw.batch_execute(
        "SET synchronous_commit = on;
         CREATE TABLE raw_events (stream text, seq bigint, body bytea, PRIMARY KEY (stream, seq))",
    )
    .unwrap();
    let raw_stream = StreamId::new("server/raw").unwrap();
    let mut g = cr.benchmark_group("pg_ingest");
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(8));
    let mut next = 0u64;
    let mut raw_seq = 0i64;
    for b in [1u64, 16, 256] {
        g.throughput(Throughput::Elements(b));
        g.bench_with_input(BenchmarkId::new("devcare", b), &b, |bench, &b| {
            bench.iter(|| {
                let cmds: Vec<_> = (next..next + b)
                    .map(|n| (c.id.clone(), accept(&c, n)))
                    .collect();
                next += b;
                let out = server.handle_batch(&cmds).unwrap();
                assert!(out.iter().all(Result::is_ok));
            });
        });
        if b == 256 {
            // Where the time goes: the same work on a store in memory (decide, evolve,
            // encode, CRC; no database).
            let mut mem = ServerHost::on_store(
                devcare::store::MemoryStore::new(),
                GroupDirectory::new([0; 32]),
            )
            .unwrap();
            mem.handle(
                &c.id,
                &ServerCommand::Create {
                    campaign: Box::new(c.clone()),
                    targeted: Some(1 << 40),
                    at: c.issued_at,
                },
            )
            .unwrap();
            let mut m = 0u64;
            g.bench_with_input(BenchmarkId::new("devcare_in_memory", b), &b, |bench, &b| {
                bench.iter(|| {
                    let cmds: Vec<_> = (m..m + b).map(|n| (c.id.clone(), accept(&c, n))).collect();
                    m += b;
                    mem.handle_batch(&cmds).unwrap()
                });
            });
        }
        // The same record bodies devcare writes for b reports: a ReportAccepted and a
        // CareScheduled each.
        let mut probe = devcare::server::ServerState::default();
        let mut bodies = Vec::new();
        for e in [
            ServerEvent::CampaignCreated {
                campaign: Box::new(c.clone()),
                targeted: 1 << 40,
                at: c.issued_at,
            },
            ServerEvent::BroadcastSent { at: c.issued_at },
        ] {
            devcare::server::Server::evolve(&mut probe, &e);
        }
        for n in 0..b {
            let events = devcare::server::Server::decide(&probe, &accept(&c, n)).unwrap();
            for e in events {
                bodies.push(e.to_record(&raw_stream, 1).unwrap());
            }
        }
        g.bench_with_input(BenchmarkId::new("raw_insert", b), &b, |bench, _| {
            bench.iter(|| {
                let seqs: Vec<i64> = (raw_seq + 1..=raw_seq + bodies.len() as i64).collect();
                raw_seq += bodies.len() as i64;
                let refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
                let mut tx = raw.transaction().unwrap();
                tx.execute(
                    "INSERT INTO raw_events (stream, seq, body)
                     SELECT 'server/raw', s, b FROM unnest($1::bigint[], $2::bytea[]) AS t(s, b)",
                    &[&seqs, &refs],
                )
                .unwrap();
                tx.commit().unwrap();
            });
        });
    }
    g.finish();
}

fn replay(cr: &mut Criterion) {
    let Some(url) = pg::fresh_database("bench pg_replay") else {
        return;
    };
    let store = PgStore::connect(&url).unwrap();
    let stream = StreamId::new("server/replay").unwrap();
    let c = campaign("bench-replay");
    const EVENTS: u64 = 1_000_000;
    let mut version = 0;
    while version < EVENTS {
        let recs: Vec<Vec<u8>> = (version..version + 20_000)
            .map(|i| {
                let e = ServerEvent::ReportAccepted {
                    device: devcare::sim::device_id(i),
                    attempt: 1,
                    evaluated_at: c.issued_at,
                    kind: report(&c, i).kind,
                    late: false,
                    at: c.issued_at,
                };
                e.to_record(&stream, i + 1).unwrap()
            })
            .collect();
        version = store.append_records(&[(&stream, version, recs)]).unwrap()[0];
    }
    let mut raw = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let mut g = cr.benchmark_group("pg_replay");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(EVENTS));
    g.bench_function("devcare", |b| {
        b.iter(|| {
            let mut n = 0u64;
            let v = store.fold(&stream, 0, |_, _e: ServerEvent| n += 1).unwrap();
            assert_eq!((v, n), (EVENTS, EVENTS));
        });
    });
    g.bench_function("raw_select", |b| {
        b.iter(|| {
            let mut tx = raw.transaction().unwrap();
            let portal = tx
                .bind(
                    "SELECT seq, body FROM devcare_events WHERE stream = $1 ORDER BY seq",
                    &[&stream.as_str()],
                )
                .unwrap();
            let (mut n, mut bytes) = (0u64, 0usize);
            loop {
                let rows = tx.query_portal(&portal, 4096).unwrap();
                if rows.is_empty() {
                    break;
                }
                for row in rows {
                    let body: &[u8] = row.get(1);
                    bytes += body.len();
                    n += 1;
                }
            }
            tx.commit().unwrap();
            assert_eq!(n, EVENTS);
            bytes
        });
    });
    g.finish();
}

fn workers(cr: &mut Criterion) {
    let Some([a, b]) = pg::fresh_databases_on_two_clusters("bench pg_workers") else {
        return;
    };
    const REPORTS: u64 = 512;
    const SHARDS: u32 = 64;
    let router = ShardRouter::new(*b"fleet-key-bench!", SHARDS).unwrap();
    let map = ShardMap::round_robin(SHARDS, 2);
    let mut round = 0u64;
    let mut g = cr.benchmark_group("pg_workers");
    g.sample_size(10);
    g.throughput(Throughput::Elements(REPORTS));
    for w in [1usize, 2] {
        g.bench_function(BenchmarkId::from_parameter(w), |bench| {
            bench.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    round += 1;
                    let c = campaign(&format!("bench-workers-{round}"));
                    let stores = [PgStore::connect(&a).unwrap(), PgStore::connect(&b).unwrap()];
                    let mut coordinator =
                        ShardWorker::open(&stores, map.clone(), router, &c.id).unwrap();
                    coordinator
                        .handle(&ServerCommand::Create {
                            campaign: Box::new(c.clone()),
                            targeted: Some(1 << 40),
                            at: c.issued_at,
                        })
                        .unwrap();
                    // Each worker opened and owning its shards before the clock starts.
                    let mut ws: Vec<_> = (0..w)
                        .map(|i| {
                            let mut worker =
                                ShardWorker::open(&stores, map.clone(), router, &c.id).unwrap();
                            let mine: Vec<u32> =
                                (0..SHARDS).filter(|k| *k as usize % w == i).collect();
                            worker.set_owned(&mine).unwrap();
                            worker
                        })
                        .collect();
                    let started = Instant::now();
                    std::thread::scope(|s| {
                        for worker in &mut ws {
                            let c = &c;
                            s.spawn(move || {
                                for n in 0..REPORTS {
                                    let cmd = accept(c, n);
                                    if let Some(d) = devcare::server::command_device(&cmd)
                                        && worker.owns(d)
                                    {
                                        worker.handle(&cmd).unwrap();
                                    }
                                }
                            });
                        }
                    });
                    total += started.elapsed();
                }
                total
            });
        });
    }
    g.finish();
}

criterion_group!(benches, ingest, replay, workers);
criterion_main!(benches);
