//! Key rotation mid-campaign, through the host layer: the device trusts a new server key
//! before the server signs with it and drops the old one after; the server takes reports
//! under the old and the new report master while devices are re-provisioned, then only the
//! new.

use devcare::host::{DeviceHost, HostError, Ingest, ServerHost};
use devcare::payload::{PayloadError, ServerKey};
use devcare::wire::{DeviceKey, ReportError, derive_device_key};
use devcare::*;

const OLD_SEED: [u8; 32] = [1; 32];
const NEW_SEED: [u8; 32] = [2; 32];
const OLD_MASTER: [u8; 32] = [7; 32];
const NEW_MASTER: [u8; 32] = [8; 32];

fn key(master: &[u8; 32], id: &str) -> DeviceKey {
    derive_device_key(master, &DeviceId::new(id).unwrap())
}

fn failing(s: &Setting) -> Result<ApplyResult, std::convert::Infallible> {
    Ok(if s.uri == "./Proxy/Port" {
        ApplyResult::status(500)
    } else {
        ApplyResult::OK
    })
}

#[test]
fn a_server_key_and_a_report_master_rotate_mid_campaign() {
    let c = devcare::spec::fixtures::campaign();
    let t0 = c.issued_at;
    let mut server = ServerHost::open(None, &OLD_MASTER).unwrap();
    let id = server.create(c.clone(), 10, t0).unwrap();
    let old_pk = ServerKey::from_seed(&OLD_SEED).public().to_bytes();
    let new_pk = ServerKey::from_seed(&NEW_SEED).public().to_bytes();
    let mut a =
        DeviceHost::open(None, "IMEI:1", vec![], &old_pk, &key(&OLD_MASTER, "IMEI:1")).unwrap();
    let mut b =
        DeviceHost::open(None, "IMEI:2", vec![], &old_pk, &key(&NEW_MASTER, "IMEI:2")).unwrap();

    // A payload signed with the new key is refused until the device trusts it.
    let signed_new = server
        .sign_payload(id.as_str(), &NEW_SEED, c.report_deadline())
        .unwrap();
    assert!(matches!(
        a.receive(&signed_new, t0, failing),
        Err(HostError::Payload(PayloadError::UnknownKey(_)))
    ));
    let new_id = a.add_trusted_key(&new_pk).unwrap();
    b.add_trusted_key(&new_pk).unwrap();
    assert_eq!(a.trusted_key_ids().len(), 2);
    a.receive(&signed_new, t0, failing).unwrap();
    // Dropping the old key: its payloads are refused from now on; the last key stays.
    let old_id = devcare::payload::key_id_of(&old_pk).unwrap();
    assert!(b.remove_trusted_key(&old_id).unwrap());
    assert!(!b.remove_trusted_key(&old_id).unwrap(), "already gone");
    assert!(matches!(
        b.remove_trusted_key(&old_id[..7]),
        Err(HostError::InvalidArgument { .. })
    ));
    assert!(matches!(
        a.add_trusted_key(&[0u8; 31]),
        Err(HostError::InvalidArgument { .. })
    ));
    assert!(matches!(
        b.remove_trusted_key(&new_id),
        Err(HostError::InvalidArgument { .. })
    ));
    let signed_old = server
        .sign_payload(id.as_str(), &OLD_SEED, c.report_deadline())
        .unwrap();
    assert!(matches!(
        b.receive(&signed_old, t0, failing),
        Err(HostError::Payload(PayloadError::UnknownKey(_)))
    ));
    b.receive(&signed_new, t0, failing).unwrap();

    // Reports: IMEI:1 holds an old-master key, IMEI:2 a new-master one.
    let due = |h: &mut DeviceHost| {
        let slot = h.tick(t0.plus(c.schedule.evaluate_after)).unwrap().unwrap();
        h.next_report(slot).unwrap().unwrap().bytes
    };
    let (ra, rb) = (due(&mut a), due(&mut b));
    let at = t0.plus(Duration::from_hours(3));
    assert!(matches!(
        server.ingest_report(&rb, at).unwrap(),
        Ingest::Rejected(devcare::host::IngestRejection::Wire(ReportError::BadMac(_)))
    ));
    server.add_master_key(&NEW_MASTER).unwrap();
    assert!(matches!(
        server.ingest_report(&rb, at).unwrap(),
        Ingest::Accepted(_)
    ));
    assert!(matches!(
        server.ingest_report(&ra, at).unwrap(),
        Ingest::Accepted(_)
    ));
    // The rotation ends: old-master keys no longer authenticate.
    assert!(server.remove_master_key(&OLD_MASTER).unwrap());
    assert!(
        !server.remove_master_key(&NEW_MASTER).unwrap(),
        "the last master stays"
    );
    let mut late =
        devcare::wire::decode_report(&ra, 16 * 1024, |_| Some(key(&OLD_MASTER, "IMEI:1"))).unwrap();
    late.attempt += 1;
    let late = devcare::wire::encode_report(&late, &key(&OLD_MASTER, "IMEI:1")).unwrap();
    assert!(matches!(
        server.ingest_report(&late, at).unwrap(),
        Ingest::Rejected(devcare::host::IngestRejection::Wire(ReportError::BadMac(_)))
    ));
    assert_eq!(server.stats(id.as_str()).unwrap().failure_reports, 2);
}

#[test]
fn secrets_are_never_printed() {
    let server = ServerHost::open(None, &[0xAB; 32]).unwrap();
    let pk = ServerKey::from_seed(&OLD_SEED).public().to_bytes();
    let device = DeviceHost::open(None, "IMEI:1", vec![], &pk, &[0xCD; 32]).unwrap();
    let keys = devcare::host::MasterKeys([0xEF; 32]);
    for (text, secret) in [
        (format!("{server:?}"), "171"),
        (format!("{device:?}"), "205"),
        (format!("{keys:?}"), "239"),
    ] {
        assert!(!text.contains(secret), "{text}");
    }
}

/// A device whose every failure report went unacknowledged gives up; when it checks in it
/// sends the report again (its last attempt; still after a reboot), the server takes it as a
/// report and opens care, and the device takes the acknowledgement: the failure is not
/// presumed OK. A server that already had it answers duplicate, which the device takes as
/// the acknowledgement. A report the server refused for good is not sent again.
#[test]
fn a_failure_every_report_of_which_was_lost_reaches_the_server_at_check_in() {
    let c = devcare::spec::fixtures::campaign();
    let t0 = c.issued_at;
    let mut server = ServerHost::open(None, &OLD_MASTER).unwrap();
    let id = server.create(c.clone(), 10, t0).unwrap();
    let payload = server
        .build_payload(id.as_str(), &OLD_SEED, c.report_deadline(), t0)
        .unwrap();
    let pk = ServerKey::from_seed(&OLD_SEED).public().to_bytes();
    let dir = tempfile::tempdir().unwrap();
    let open = |id: &str| {
        let path = dir.path().join(id);
        DeviceHost::open(Some(&path), id, vec![], &pk, &key(&OLD_MASTER, id)).unwrap()
    };
    let mut d = open("IMEI:1");
    d.receive(&payload, t0, failing).unwrap();
    assert!(
        d.check_in_reports().unwrap().is_empty(),
        "nothing given up yet"
    );
    // Every attempt is sent and lost: the device gives up at the end of its retries.
    let mut next = d.tick(t0.plus(c.schedule.evaluate_after)).unwrap();
    let mut last = 0;
    while let Some(now) = next {
        if let Some(r) = d.next_report(now).unwrap() {
            d.report_sent(id.as_str(), r.attempt, now).unwrap();
            last = r.attempt;
        }
        next = d.tick(now).unwrap();
    }
    assert_eq!(last, c.schedule.report.retry.attempts, "every attempt sent");
    drop(d);
    let mut d = open("IMEI:1"); // a reboot: the log replays to the same report
    let again = d.check_in_reports().unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(
        (again[0].campaign.as_str(), again[0].attempt),
        (id.as_str(), last)
    );
    // The server never heard it: it takes it now, with care for the failed setting.
    let at = c.report_deadline().plus(Duration::from_hours(2));
    assert!(matches!(
        server.ingest_report(&again[0].bytes, at).unwrap(),
        Ingest::Accepted(_)
    ));
    assert_eq!(server.stats(id.as_str()).unwrap().failure_reports, 1);
    d.report_acknowledged(id.as_str(), last, at).unwrap();
    assert!(d.check_in_reports().unwrap().is_empty(), "acknowledged");
    // Sent again anyway (the answer was lost): a duplicate, acknowledged.
    assert_eq!(
        server.ingest_report(&again[0].bytes, at).unwrap(),
        Ingest::Duplicate
    );
    // Refused for good (e.g. 410: a replaced revision): given up, and not sent again.
    let mut r = open("IMEI:2");
    r.receive(&payload, t0, failing).unwrap();
    let slot = r.tick(t0.plus(c.schedule.evaluate_after)).unwrap().unwrap();
    let due = r.next_report(slot).unwrap().unwrap();
    r.report_sent(id.as_str(), due.attempt, slot).unwrap();
    r.report_refused(id.as_str(), due.attempt, 410, slot)
        .unwrap();
    assert!(r.check_in_reports().unwrap().is_empty());
    // The same through the Status a report's Alert got: a 503 leaves it to be resent, a
    // 410 stops it; a campaign the device does not hold is an error that changes nothing.
    use devcare::rules::ReportAnswer;
    let mut s = open("IMEI:3");
    s.receive(&payload, t0, failing).unwrap();
    let slot = s.tick(t0.plus(c.schedule.evaluate_after)).unwrap().unwrap();
    let due = s.next_report(slot).unwrap().unwrap();
    s.report_sent(id.as_str(), due.attempt, slot).unwrap();
    assert_eq!(
        s.report_status(id.as_str(), due.attempt, 503, slot)
            .unwrap(),
        ReportAnswer::SendAgain
    );
    let mut at = slot;
    let (retry, again) = loop {
        at = s.tick(at).unwrap().expect("a retry is due");
        if let Some(r) = s.next_report(at).unwrap() {
            break (at, r);
        }
    };
    assert!(again.attempt > due.attempt);
    s.report_sent(id.as_str(), again.attempt, retry).unwrap();
    assert!(
        s.report_status("no-such-campaign", again.attempt, 200, retry)
            .is_err()
    );
    assert_eq!(
        s.report_status(id.as_str(), again.attempt, 410, retry)
            .unwrap(),
        ReportAnswer::RefusedForGood
    );
    assert!(s.check_in_reports().unwrap().is_empty(), "given up");
    assert!(
        s.next_report(retry.plus(Duration::from_hours(1)))
            .unwrap()
            .is_none()
    );
}
