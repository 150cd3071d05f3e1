//! Helpers shared by the integration tests and their child processes, and the event
//! store conformance suite ([`conformance`]).

pub mod conformance;
pub mod faults;
pub mod pg;
pub mod workers;

use devcare::{DeviceId, Finding, ReportKind, ServerEvent, Timestamp};

/// The event the crash writer appends as event number `i + 1`: its content is a function
/// of `i`, so a reader can tell a damaged or misplaced record from a good one.
pub fn crash_event(i: u64) -> ServerEvent {
    ServerEvent::ReportAccepted {
        device: DeviceId::new(format!("dev-{i:010}")).expect("valid id"),
        attempt: 1 + (i % 3) as u32,
        evaluated_at: Timestamp(i),
        kind: ReportKind::Failure {
            findings: (0..(i % 5) as u32 + 1)
                .map(|index| Finding::Status { index, status: 500 })
                .collect(),
        },
        late: false,
        at: Timestamp(i),
    }
}

/// Reads `stream` of `store` as server events until it fails: the seqs read, and the error
/// (a damaged log's reads must fail; this panics if the read succeeds).
pub fn read_until_error<S: devcare::store::EventStore>(
    store: &S,
    stream: &devcare::store::StreamId,
) -> (Vec<u64>, devcare::store::StoreError) {
    let mut seen = Vec::new();
    let err = store
        .fold(stream, 0, |seq, _e: ServerEvent| seen.push(seq))
        .expect_err("a read of a damaged stream must fail");
    (seen, err)
}

/// Asserts a read stopped at a record whose byte `pos` was flipped: it saw seqs `1..seq`,
/// and the error is a checksum mismatch at `stream`, `seq` (the same on every backend).
pub fn assert_flip_caught(
    seen: &[u64],
    err: devcare::store::StoreError,
    stream: &devcare::store::StreamId,
    seq: u64,
    pos: usize,
) {
    assert_eq!(seen, (1..seq).collect::<Vec<_>>(), "flip at byte {pos}");
    match err {
        devcare::store::StoreError::Corrupt {
            stream: s,
            seq: at,
            reason,
        } => {
            assert_eq!((&s, at), (stream, seq), "flip at byte {pos}");
            assert!(
                matches!(reason, devcare::codec::CodecError::BadChecksum { .. }),
                "flip at byte {pos}: {reason}"
            );
        }
        other => panic!("flip at byte {pos}: {other}"),
    }
}

/// Runs the crash writer (`exe`, the `crash_writer` binary) on `store` with `seed` until
/// `stop` ends it — called after the writer's first durable append and `delay` — then kills
/// it if still running. Returns the highest version it reported durable (`flushed N`). Its
/// error output is kept only when `show_errors`.
pub fn run_crash_writer(
    exe: &str,
    store: &str,
    seed: u64,
    delay: std::time::Duration,
    show_errors: bool,
    stop: impl FnOnce(&mut std::process::Child),
) -> u64 {
    run_crash_writer_lines(exe, store, seed, delay, show_errors, stop).0
}

/// [`run_crash_writer`], also returning the highest `solo N` it printed (0 if none).
pub fn run_crash_writer_lines(
    exe: &str,
    store: &str,
    seed: u64,
    delay: std::time::Duration,
    show_errors: bool,
    stop: impl FnOnce(&mut std::process::Child),
) -> (u64, u64) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(exe)
        .arg(store)
        .arg(seed.to_string())
        .stdout(Stdio::piped())
        .stderr(if show_errors {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .spawn()
        .expect("the crash writer starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    let solo = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let solo_seen = solo.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(v) = line
                .strip_prefix("flushed ")
                .and_then(|v| v.parse::<u64>().ok())
            {
                let _ = tx.send(v);
            } else if let Some(v) = line
                .strip_prefix("solo ")
                .and_then(|v| v.parse::<u64>().ok())
            {
                solo_seen.fetch_max(v, std::sync::atomic::Ordering::SeqCst);
            }
        }
    });
    let first = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the writer never made an append durable");
    std::thread::sleep(delay);
    stop(&mut child);
    let _ = child.kill();
    child.wait().expect("the crash writer is reaped");
    reader.join().expect("the reader thread ends");
    (
        rx.try_iter().fold(first, u64::max),
        solo.load(std::sync::atomic::Ordering::SeqCst),
    )
}

/// A xorshift generator for the crash tests' random delays.
#[derive(Debug, Clone)]
pub struct Xorshift(pub u64);

impl Xorshift {
    /// The next number.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Simulates `cfg` with the single-stream server host writing its log into `store`: the
/// outcome and the live server state. The log holds exactly the events the run logged.
pub fn simulate_into<S: devcare::store::EventStore>(
    cfg: &devcare::sim::FleetConfig,
    store: &S,
) -> (devcare::sim::FleetOutcome, devcare::ServerState) {
    let (out, live) = devcare::sim::simulate_on_store(cfg, store, |_| Ok(()), |_| {})
        .expect("the simulation runs");
    let stream = devcare::decider::Side::Server.stream(&cfg.campaign.id);
    assert_eq!(
        store.version(&stream).expect("the log reads"),
        out.events_logged,
        "every event logged once"
    );
    (out, live)
}

/// The spec's fixture campaign, signed into a payload (valid until its report deadline) by
/// the server key made from `seed`: the campaign, the payload and the key.
pub fn signed_fixture(seed: u8) -> (devcare::Campaign, Vec<u8>, devcare::payload::ServerKey) {
    use devcare::payload::{PayloadLimits, ServerKey, build_payload};
    let c = devcare::spec::fixtures::campaign();
    let key = ServerKey::from_seed(&[seed; 32]);
    let payload = build_payload(&c, &key, c.report_deadline(), &PayloadLimits::default())
        .expect("the fixture builds");
    (c, payload, key)
}

/// The device host `IMEI:1` on directory `dir`, trusting `key` (with a fixed report key):
/// the handset of the store tests.
pub fn device_host(
    dir: &std::path::Path,
    key: &devcare::payload::ServerKey,
) -> devcare::host::DeviceHost {
    devcare::host::DeviceHost::open(
        Some(dir),
        "IMEI:1",
        vec![],
        &key.public().to_bytes(),
        &[5; 32],
    )
    .expect("the device host opens")
}

/// A failure report of `device` for `campaign` at `revision` (attempt 1, evaluated 5 minutes
/// after issue): setting `index` answered 500.
pub fn failure_report(
    campaign: &devcare::Campaign,
    revision: u32,
    device: devcare::DeviceId,
    index: u32,
) -> devcare::Report {
    devcare::Report {
        campaign: campaign.id.clone(),
        revision,
        device,
        attempt: 1,
        evaluated_at: campaign.issued_at.plus(devcare::Duration::from_mins(5)),
        kind: devcare::ReportKind::Failure {
            findings: vec![devcare::Finding::Status { index, status: 500 }],
        },
    }
}
