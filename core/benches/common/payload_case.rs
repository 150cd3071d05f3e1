//! The payload bench's case: a signed payload of 32 text settings and three conditions, and
//! the two halves of its ratio — a bare ed25519 `verify_strict` of the bytes, and a device
//! opening them (frame, verify, decode, validate), applying them (setting 5 fails) and
//! evaluating. Shared by `benches/wire.rs` and `examples/payload_probe.rs` (`#[path]`).

use devcare::codec;
use devcare::payload::{
    PayloadLimits, ServerKey, TrustedKeys, build_payload, open_payload, read_header, verify_only,
};
use devcare::persist::v1::CampaignV1;
use devcare::*;
use std::hint::black_box;

pub(crate) struct PayloadCase {
    pub(crate) bytes: Vec<u8>,
    key: ServerKey,
    trusted: TrustedKeys,
    limits: PayloadLimits,
    now: Timestamp,
    evaluate_at: Timestamp,
    device: DeviceId,
    results: Vec<ApplyResult>,
}

impl PayloadCase {
    pub(crate) fn new() -> Self {
        let camp = Campaign {
            id: CampaignId::new("bench").unwrap(),
            revision: 1,
            issued_at: Timestamp(1_780_000_000_000),
            salt: *b"bench-salt-01234",
            targets: TargetSet::All,
            settings: devcare::spec::fixtures::node_settings(32),
            schedule: CareSchedule {
                conditions: vec![
                    Condition::AnyFailed,
                    Condition::PayloadIncomplete,
                    Condition::VerifyMismatch {
                        uri: "./Vendor/Node7/Value".into(),
                    },
                ],
                ..CareSchedule::default()
            },
        };
        let key = ServerKey::from_seed(&[42; 32]);
        let mut trusted = TrustedKeys::new();
        trusted.add(key.public());
        let limits = PayloadLimits::default();
        let bytes = build_payload(&camp, &key, Timestamp(u64::MAX), &limits).unwrap();
        let mut results = vec![ApplyResult::OK; 32];
        results[5].status = 500;
        PayloadCase {
            bytes,
            key,
            trusted,
            limits,
            now: camp.issued_at,
            evaluate_at: camp.issued_at.plus(camp.schedule.evaluate_after),
            device: DeviceId::new("IMEI:490154203237518").unwrap(),
            results,
        }
    }

    /// The baseline: a bare ed25519 `verify_strict` of the payload's bytes.
    pub(crate) fn verify(&self) {
        assert!(verify_only(black_box(&self.bytes), &self.key.public()));
    }

    /// What a device does: open, apply, evaluate.
    pub(crate) fn devcare(&self) {
        let p = open_payload(
            black_box(&self.bytes),
            &self.trusted,
            self.now,
            &self.limits,
        )
        .unwrap();
        self.apply_and_evaluate(p.campaign);
    }

    /// devcare's own share, for the probe: what [`devcare`](Self::devcare) does but the
    /// signature check — the body decoded and validated, applied, evaluated.
    pub(crate) fn unsigned(&self) {
        let header = read_header(&self.bytes, &self.limits).unwrap();
        let body = &self.bytes[self.bytes.len() - 64 - header.body_len..self.bytes.len() - 64];
        let campaign: Campaign = if header.version == 1 {
            codec::decode_borrowed::<CampaignV1>(black_box(body))
                .unwrap()
                .into()
        } else {
            codec::decode_borrowed(black_box(body)).unwrap()
        };
        self.apply_and_evaluate(ValidCampaign::new(campaign, &self.limits.campaign).unwrap());
    }

    fn apply_and_evaluate(&self, campaign: ValidCampaign) {
        let mut s = DeviceState::default();
        let receive = DeviceCommand::Receive {
            campaign,
            device: self.device.clone(),
            groups: vec![],
            at: self.now,
        };
        Device::handle(&mut s, &receive).unwrap();
        let applied = DeviceCommand::RecordApplied {
            results: self.results.clone(),
            at: self.now,
        };
        Device::handle(&mut s, &applied).unwrap();
        let tick = DeviceCommand::Tick {
            now: self.evaluate_at,
        };
        Device::handle(&mut s, &tick).unwrap();
        black_box(s.report);
    }
}
