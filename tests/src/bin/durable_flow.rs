//! Durability-test child: the device and server flows on sled in `DIR`, writing
//! `DONE <call>` to stderr after each call that changed state and returned `Ok`. Run under
//! `strace -y -e trace=fsync,fdatasync,write` by `tests/tests/it/durability.rs`, which checks
//! that an fsync of the data file comes before every `DONE`. `durable_flow DIR`

use devcare::host::{DeviceHost, ServerHost};
use devcare::payload::ServerKey;
use devcare::wire::derive_device_key;
use devcare::*;

/// One `write` system call per line, so the trace shows it whole.
fn done(call: &str) {
    use std::io::Write;
    let line = format!("DONE {call}\n");
    std::io::stderr()
        .write_all(line.as_bytes())
        .expect("stderr");
}

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: durable_flow DIR");
        std::process::exit(2);
    };
    let dir = std::path::Path::new(&dir);
    let seed = [42u8; 32];
    let master = [7u8; 32];
    let c = devcare::spec::fixtures::campaign();
    let t0 = c.issued_at;

    let mut server = ServerHost::open(Some(&dir.join("server")), &master).expect("server");
    let id = server.create(c.clone(), 10, t0).expect("create");
    done("server create");
    let payload = server
        .sign_payload(id.as_str(), &seed, c.report_deadline())
        .expect("payload");
    server.mark_broadcast(id.as_str(), t0).expect("broadcast");
    done("server mark_broadcast");

    let device = DeviceId::new("IMEI:1").expect("id");
    let pk = ServerKey::from_seed(&seed).public().to_bytes();
    let key = derive_device_key(&master, &device);
    let mut host =
        DeviceHost::open(Some(&dir.join("device")), "IMEI:1", vec![], &pk, &key).expect("device");
    host.receive(&payload, t0, |s: &Setting| {
        Ok::<_, std::convert::Infallible>(if s.uri == "./Proxy/Port" {
            ApplyResult::status(500)
        } else {
            ApplyResult::OK
        })
    })
    .expect("receive");
    done("device receive");
    let slot = host
        .tick(t0.plus(c.schedule.evaluate_after))
        .expect("tick")
        .expect("a report is due");
    done("device tick");
    let due = host.next_report(slot).expect("report").expect("due");
    host.report_sent(id.as_str(), due.attempt, slot)
        .expect("sent");
    done("device report_sent");
    server.ingest_report(&due.bytes, slot).expect("ingest");
    done("server ingest_report");
    host.report_acknowledged(id.as_str(), due.attempt, slot)
        .expect("ack");
    done("device report_acknowledged");
    let (cid, order) = server.next_care(slot).expect("care").expect("due");
    done("server next_care");
    let care = host
        .receive_care(
            cid.as_str(),
            order.revision,
            order.attempt,
            order.settings,
            slot,
            |_s: &Setting| Ok::<_, std::convert::Infallible>(ApplyResult::OK),
        )
        .expect("care");
    done("device receive_care");
    server
        .care_outcome(
            cid.as_str(),
            order.device.as_str(),
            order.attempt,
            care.recovered,
            slot,
        )
        .expect("outcome");
    done("server care_outcome");
}
