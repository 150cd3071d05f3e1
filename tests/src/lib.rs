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
