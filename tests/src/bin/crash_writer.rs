//! Crash-test child: appends to a sled store forever, printing `flushed N` after each
//! durable flush, until it is killed. `crash_writer DIR SEED`

use std::io::Write;

use devcare::store::{EventStore, SledStore, StreamId};
use devcare_integration::crash_event;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(seed)) = (args.next(), args.next().and_then(|s| s.parse::<u64>().ok()))
    else {
        eprintln!("usage: crash_writer DIR SEED");
        std::process::exit(2);
    };
    let store = match SledStore::open(&dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("open: {e}");
            std::process::exit(1);
        }
    };
    let stream = StreamId::new("server/crash").expect("valid stream id");
    let mut version = store.version(&stream).expect("version");
    let mut out = std::io::stdout().lock();
    let mut x = seed | 1;
    for round in 0u64.. {
        // xorshift: batch sizes 1..=16, a flush every 1..=4 batches.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let n = 1 + x % 16;
        let events: Vec<_> = (version..version + n).map(crash_event).collect();
        version = store.append(&stream, version, &events).expect("append");
        if round % (1 + (x >> 8) % 4) == 0 {
            store.flush().expect("flush");
            writeln!(out, "flushed {version}").expect("stdout");
            out.flush().expect("stdout");
        }
    }
}
