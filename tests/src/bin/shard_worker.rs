//! Worker-test child: one server worker of the sharded test campaign
//! (`devcare_integration::workers`), printing `shards N` and `accepted N` as it goes, until
//! the campaign is cared for or it is killed. `shard_worker URL[,URL] OWNER DEVICES`

use std::io::Write;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(urls), Some(owner), Some(devices)) = (
        args.next(),
        args.next(),
        args.next().and_then(|s| s.parse::<u64>().ok()),
    ) else {
        eprintln!("usage: shard_worker URL[,URL] OWNER DEVICES");
        std::process::exit(2);
    };
    let stores = devcare_integration::workers::stores(&urls).unwrap_or_else(|e| {
        eprintln!("shard_worker: {e}");
        std::process::exit(1);
    });
    let mut out = std::io::stdout().lock();
    let r = devcare_integration::workers::work(&stores, &owner, devices, None, |line| {
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    });
    if let Err(e) = r {
        eprintln!("shard_worker: {e}");
        std::process::exit(1);
    }
}
