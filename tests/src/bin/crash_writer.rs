//! Crash-test child: appends forever, printing `flushed N` after each durable append, until
//! it is killed (or its store fails: then it exits 1). `crash_writer STORE SEED`, where
//! STORE is a sled directory, `file:DIR` (the device's file store) or a PostgreSQL
//! connection string.
//!
//! On sled and the file store it appends to `server/crash` and flushes every 1 to 4 batches. On PostgreSQL
//! every append is durable when it returns (synchronous commit), and each one is a batch
//! over two streams, `server/crash` and `server/crash-twin`, with the same events: after any
//! crash both must hold the same number (all of a batch or none of it). Every other round
//! it also appends alone to `server/crash-solo` (PostgreSQL's one-statement path) and
//! prints `solo N` once that append returned.

use std::io::Write;

use devcare::ServerEvent;
use devcare::store::{AppendRequest, EventStore, FileStore, SledStore, StreamId};
use devcare_integration::crash_event;
use devcare_pg::PgStore;

fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("crash_writer: {what}: {e}");
    std::process::exit(1);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(at), Some(seed)) = (args.next(), args.next().and_then(|s| s.parse::<u64>().ok()))
    else {
        eprintln!("usage: crash_writer STORE SEED");
        std::process::exit(2);
    };
    if at.starts_with("postgres") || at.contains("dbname=") {
        let store = PgStore::connect(&at).unwrap_or_else(|e| fail("connect", e));
        run(&store, seed, true);
    } else if let Some(dir) = at.strip_prefix("file:") {
        let store = FileStore::open(dir).unwrap_or_else(|e| fail("open", e));
        run(&store, seed, false);
    } else {
        let store = SledStore::open(&at).unwrap_or_else(|e| fail("open", e));
        run(&store, seed, false);
    }
}

fn run<S: EventStore>(store: &S, seed: u64, twin: bool) {
    let stream = StreamId::new("server/crash").expect("valid stream id");
    let twin_stream = StreamId::new("server/crash-twin").expect("valid stream id");
    let solo_stream = StreamId::new("server/crash-solo").expect("valid stream id");
    let mut solo = store
        .version(&solo_stream)
        .unwrap_or_else(|e| fail("version", e));
    let mut version = store
        .version(&stream)
        .unwrap_or_else(|e| fail("version", e));
    let mut out = std::io::stdout().lock();
    let mut x = seed | 1;
    for round in 0u64.. {
        // xorshift: batch sizes 1..=16, a flush every 1..=4 batches.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let n = 1 + x % 16;
        let events: Vec<ServerEvent> = (version..version + n).map(crash_event).collect();
        let durable = if twin {
            let req = |stream| AppendRequest {
                stream,
                expected: version,
                events: &events,
            };
            let v = store
                .append_batch(&[req(&stream), req(&twin_stream)])
                .unwrap_or_else(|e| fail("append", e));
            version = v[0];
            true
        } else {
            version = store
                .append(&stream, version, &events)
                .unwrap_or_else(|e| fail("append", e));
            let flush = round % (1 + (x >> 8) % 4) == 0;
            if flush {
                store.flush().unwrap_or_else(|e| fail("flush", e));
            }
            flush
        };
        if durable {
            writeln!(out, "flushed {version}").expect("stdout");
            out.flush().expect("stdout");
        }
        if twin && round % 2 == 1 {
            let events: Vec<ServerEvent> = (solo..solo + n).map(crash_event).collect();
            solo = store
                .append(&solo_stream, solo, &events)
                .unwrap_or_else(|e| fail("append", e));
            writeln!(out, "solo {solo}").expect("stdout");
            out.flush().expect("stdout");
        }
    }
}
