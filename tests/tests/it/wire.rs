//! Wire formats under attack: the signed broadcast payload and the authenticated report.
//! Every refusal is typed, counted, and changes no state.

use devcare::host::{DeviceHost, Directory, Ingest, IngestRejection, RuntimeError, ServerHost};
use devcare::payload::{
    PayloadError, PayloadLimits, ServerKey, TrustedKeys, build_payload, open_payload,
};
use devcare::store::{EventStore, MemoryStore};
use devcare::wire::{
    DEFAULT_MAX_REPORT_BYTES, ReportError, decode_report, derive_device_key, encode_report,
};
use devcare::*;

const MASTER: [u8; 32] = [7; 32];

fn campaign(revision: u32) -> Campaign {
    Campaign {
        id: CampaignId::new("apn").unwrap(),
        revision,
        salt: *b"wire-test-salt-1",
        targets: TargetSet::devices(vec![dev("IMEI:1"), dev("IMEI:2")]),
        settings: (0..32)
            .map(|i| Setting::replace(format!("./N/{i}"), Value::Int(i)))
            .collect(),
        ..devcare::spec::fixtures::campaign()
    }
}

fn dev(s: &str) -> DeviceId {
    DeviceId::new(s).unwrap()
}

fn key() -> ServerKey {
    ServerKey::from_seed(&[42; 32])
}

fn trusted() -> TrustedKeys {
    let mut t = TrustedKeys::new();
    t.add(key().public());
    t
}

fn valid_until() -> Timestamp {
    Timestamp(1_780_086_400_000)
}

fn payload(revision: u32) -> Vec<u8> {
    build_payload(
        &campaign(revision),
        &key(),
        valid_until(),
        &PayloadLimits::default(),
    )
    .unwrap()
}

fn now() -> Timestamp {
    Timestamp(1_780_000_001_000)
}

#[test]
fn a_signed_payload_opens_to_the_same_campaign() {
    let p = open_payload(&payload(1), &trusted(), now(), &PayloadLimits::default()).unwrap();
    assert_eq!(p.campaign, campaign(1));
    assert_eq!(p.key_id, key().id());
    assert_eq!(p.valid_until, valid_until());
}

/// Feeds `bytes` to a fresh in-memory device agent and checks that nothing was applied
/// and the refusal was counted under `reason`.
fn refused_by_agent(bytes: &[u8], limits: &PayloadLimits) -> PayloadError {
    let store = MemoryStore::new();
    let mut agent = DeviceHost::on_store(&store, dev("IMEI:1"), vec![], trusted(), [0; 32])
        .unwrap()
        .with_payload_limits(*limits);
    let err = match agent.receive_payload(bytes, now()) {
        Err(RuntimeError::Payload(e)) => e,
        other => panic!("expected a payload refusal, got {other:?}"),
    };
    assert!(
        store.streams().unwrap().is_empty(),
        "{err}: a refused payload appended events"
    );
    assert_eq!(agent.rejections().get(err.reason()), Some(&1));
    assert!(agent.states().next().is_none());
    err
}

#[test]
fn flipping_any_byte_is_refused_and_applies_nothing() {
    let good = payload(1);
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x01;
        let err = refused_by_agent(&bad, &PayloadLimits::default());
        let expected = match i {
            0..=3 => "bad-magic",
            4 => "unsupported-version",
            5..=12 => "unknown-key",
            21..=24 => "length-mismatch",
            _ => "bad-signature",
        };
        assert_eq!(err.reason(), expected, "flip at byte {i}: {err}");
    }
}

#[test]
fn truncation_at_every_length_is_refused() {
    let good = payload(1);
    for len in 0..good.len() {
        let err = refused_by_agent(&good[..len], &PayloadLimits::default());
        assert!(
            matches!(
                err,
                PayloadError::Truncated { .. }
                    | PayloadError::LengthMismatch { .. }
                    | PayloadError::BadMagic
            ),
            "truncated to {len}: {err}"
        );
    }
}

#[test]
fn a_payload_signed_by_another_key_is_refused() {
    let other = ServerKey::from_seed(&[9; 32]);
    let forged = build_payload(
        &campaign(1),
        &other,
        valid_until(),
        &PayloadLimits::default(),
    )
    .unwrap();
    assert!(matches!(
        refused_by_agent(&forged, &PayloadLimits::default()),
        PayloadError::UnknownKey(_)
    ));
    // A forged signature under the trusted key's id.
    let mut forged = forged;
    forged[5..13].copy_from_slice(&key().id());
    assert_eq!(
        refused_by_agent(&forged, &PayloadLimits::default()),
        PayloadError::BadSignature
    );
}

#[test]
fn an_expired_payload_is_refused() {
    let p = payload(1);
    let late = Timestamp(valid_until().0 + 1);
    let err = open_payload(&p, &trusted(), late, &PayloadLimits::default()).unwrap_err();
    assert_eq!(
        err,
        PayloadError::Expired {
            valid_until: valid_until(),
            now: late
        }
    );
}

#[test]
fn oversize_payloads_and_campaigns_beyond_device_limits_are_refused() {
    let small = PayloadLimits {
        max_payload_bytes: 100,
        ..PayloadLimits::default()
    };
    assert!(matches!(
        refused_by_agent(&payload(1), &small),
        PayloadError::Oversize { max: 100, .. }
    ));
    let mut tight = PayloadLimits::default();
    tight.campaign.max_settings = 8;
    let err = refused_by_agent(&payload(1), &tight);
    assert_eq!(
        err.to_string(),
        "campaign: settings: has 32 settings, the limit is 8"
    );
    // The server cannot build what devices would refuse.
    assert!(matches!(
        build_payload(&campaign(1), &key(), valid_until(), &tight),
        Err(PayloadError::InvalidCampaign(_))
    ));
}

#[test]
fn a_replayed_old_revision_is_refused_without_change() {
    let store = MemoryStore::new();
    let mut agent =
        DeviceHost::on_store(&store, dev("IMEI:1"), vec![], trusted(), [0; 32]).unwrap();
    agent.receive_payload(&payload(2), now()).unwrap();
    let v = store
        .version(&devcare::decider::Side::Device.stream(&campaign(2).id))
        .unwrap();
    for old in [payload(1), payload(2)] {
        let err = agent.receive_payload(&old, now()).unwrap_err();
        assert!(
            matches!(
                err,
                RuntimeError::Refused(DeviceError::StaleRevision { have: 2, .. })
            ),
            "{err}"
        );
    }
    assert_eq!(
        store
            .version(&devcare::decider::Side::Device.stream(&campaign(2).id))
            .unwrap(),
        v
    );
    assert_eq!(agent.rejections().get("stale-revision"), Some(&2));
    // A device that is not a target ignores it.
    let mut other = DeviceHost::on_store(
        MemoryStore::new(),
        dev("IMEI:9"),
        vec![],
        trusted(),
        [0; 32],
    )
    .unwrap();
    assert!(matches!(
        other.receive_payload(&payload(2), now()),
        Err(RuntimeError::Refused(DeviceError::NotTargeted { .. }))
    ));
}

struct Keys;
impl Directory for Keys {
    fn device_key(&self, d: &DeviceId) -> Option<[u8; 32]> {
        (d.as_str() != "IMEI:unknown").then(|| derive_device_key(&MASTER, d))
    }
}

fn report(device: &str) -> Report {
    Report {
        campaign: campaign(1).id,
        revision: 1,
        device: dev(device),
        attempt: 1,
        evaluated_at: now(),
        kind: ReportKind::Failure {
            findings: vec![Finding::Status {
                index: 3,
                status: 500,
            }],
        },
    }
}

fn report_bytes(device: &str) -> Vec<u8> {
    encode_report(&report(device), &derive_device_key(&MASTER, &dev(device))).unwrap()
}

fn server() -> ServerHost<MemoryStore, Keys> {
    let mut s = ServerHost::on_store(MemoryStore::new(), Keys).unwrap();
    let c = campaign(1);
    s.handle(
        &c.id.clone(),
        &ServerCommand::Create {
            campaign: Box::new(c),
            targeted: None,
            at: now(),
        },
    )
    .unwrap();
    s
}

#[test]
fn reports_round_trip_and_success_probes_are_tiny() {
    let r = report("IMEI:1");
    let bytes = report_bytes("IMEI:1");
    assert_eq!(
        decode_report(&bytes, DEFAULT_MAX_REPORT_BYTES, |d| Keys.device_key(d)).unwrap(),
        r
    );
    let mut probe = r.clone();
    probe.kind = ReportKind::Success;
    let probe_bytes = encode_report(&probe, &derive_device_key(&MASTER, &probe.device)).unwrap();
    assert!(
        probe_bytes.len() <= 80,
        "success probe is {} bytes",
        probe_bytes.len()
    );
}

#[test]
fn forged_or_damaged_reports_are_refused_without_change() {
    let good = report_bytes("IMEI:1");
    let mut s = server();
    let before = s.state(&campaign(1).id).unwrap().clone();
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x04;
        match s.ingest_report(&bad, now()).unwrap() {
            Ingest::Rejected(IngestRejection::Wire(_)) => {}
            other => panic!("flip at {i}: {other:?}"),
        }
    }
    for len in 0..good.len() {
        assert!(
            matches!(
                s.ingest_report(&good[..len], now()).unwrap(),
                Ingest::Rejected(_)
            ),
            "len {len}"
        );
    }
    // Signed with another device's key.
    let wrong_key = encode_report(
        &report("IMEI:1"),
        &derive_device_key(&MASTER, &dev("IMEI:2")),
    )
    .unwrap();
    assert!(matches!(
        s.ingest_report(&wrong_key, now()).unwrap(),
        Ingest::Rejected(IngestRejection::Wire(ReportError::BadMac(_)))
    ));
    let unknown = encode_report(&report("IMEI:unknown"), &[0; 32]).unwrap();
    assert!(matches!(
        s.ingest_report(&unknown, now()).unwrap(),
        Ingest::Rejected(IngestRejection::Wire(ReportError::UnknownDevice(_)))
    ));
    let mut huge = report("IMEI:1");
    huge.kind = ReportKind::Failure {
        findings: (0..5000).map(|i| Finding::Missing { index: i }).collect(),
    };
    let huge = encode_report(&huge, &derive_device_key(&MASTER, &dev("IMEI:1"))).unwrap();
    assert!(matches!(
        s.ingest_report(&huge, now()).unwrap(),
        Ingest::Rejected(IngestRejection::Wire(ReportError::Oversize { .. }))
    ));
    assert_eq!(s.state(&campaign(1).id).unwrap(), &before);
    assert_eq!(
        s.store()
            .version(&devcare::decider::Side::Server.stream(&campaign(1).id))
            .unwrap(),
        2,
        "only the creation and its listed sample size"
    );
}

#[test]
fn a_replayed_report_is_a_duplicate_and_a_non_target_is_refused() {
    let mut s = server();
    assert!(matches!(
        s.ingest_report(&report_bytes("IMEI:1"), now()).unwrap(),
        Ingest::Accepted(_)
    ));
    let v = s.version(&campaign(1).id);
    assert_eq!(
        s.ingest_report(&report_bytes("IMEI:1"), now()).unwrap(),
        Ingest::Duplicate
    );
    assert_eq!(s.version(&campaign(1).id), v, "a replay appends nothing");
    match s.ingest_report(&report_bytes("IMEI:3"), now()).unwrap() {
        Ingest::Rejected(r) => assert_eq!(r.reason(), "not-targeted"),
        other => panic!("{other:?}"),
    }
    let mut wrong_rev = report("IMEI:2");
    wrong_rev.revision = 9;
    let bytes = encode_report(&wrong_rev, &derive_device_key(&MASTER, &dev("IMEI:2"))).unwrap();
    assert!(matches!(
        s.ingest_report(&bytes, now()).unwrap(),
        Ingest::Rejected(IngestRejection::Refused(ServerError::WrongRevision { .. }))
    ));
    assert_eq!(s.version(&campaign(1).id), v);
}

#[test]
fn a_body_naming_another_device_than_its_header_is_refused() {
    use hmac::{Hmac, Mac};
    let key = derive_device_key(&MASTER, &dev("IMEI:2"));
    let inner = encode_report(&report("IMEI:1"), &[0; 32]).unwrap();
    // Re-frame IMEI:1's body under IMEI:2's header, with a valid MAC for IMEI:2.
    let body = &inner[10 + 6..inner.len() - 32];
    let mut framed = b"DVCR\x01\x06IMEI:2".to_vec();
    framed.extend_from_slice(&(body.len() as u32).to_be_bytes());
    framed.extend_from_slice(body);
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&key).unwrap();
    mac.update(&framed);
    framed.extend_from_slice(&mac.finalize().into_bytes());
    let err = decode_report(&framed, DEFAULT_MAX_REPORT_BYTES, |d| Keys.device_key(d)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "header says device IMEI:2, body says IMEI:1"
    );
}

#[test]
fn the_device_agent_emits_the_report_bytes_at_its_slot() {
    let key = derive_device_key(&MASTER, &dev("IMEI:1"));
    let mut agent =
        DeviceHost::on_store(MemoryStore::new(), dev("IMEI:1"), vec![], trusted(), key).unwrap();
    let c = campaign(1);
    agent.receive_payload(&payload(1), now()).unwrap();
    let mut results = vec![ApplyResult::OK; 32];
    results[3].status = 500;
    agent
        .handle(&c.id, &DeviceCommand::RecordApplied { results, at: now() })
        .unwrap();
    agent.tick(now().plus(c.schedule.evaluate_after)).unwrap();
    let due = agent.next_wake().unwrap();
    assert!(
        agent
            .due_report_bytes(&c.id, Timestamp(due.0 - 1))
            .is_none()
    );
    let (r, bytes) = agent.due_report_bytes(&c.id, due).unwrap();
    let mut s = server();
    assert!(matches!(
        s.ingest_report(&bytes.unwrap(), due).unwrap(),
        Ingest::Accepted(_)
    ));
    assert_eq!(r.attempt, 1);
}
