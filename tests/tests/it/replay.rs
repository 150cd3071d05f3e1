//! The replay floor: a device that holds a campaign issued at T refuses a payload issued
//! more than the replay skew (30 days) before T — an old, still unexpired payload of
//! another campaign replayed — and refuses everything while its clock is before T (a reset
//! clock would make every payload ever signed look unexpired). Both change nothing.

use devcare::host::{DeviceHost, HostError};
use devcare::payload::{PayloadError, PayloadLimits, ServerKey, build_payload};
use devcare::wire::derive_device_key;
use devcare::*;

const SEED: [u8; 32] = [42; 32];

fn signed(id: &str, issued_at: Timestamp) -> Vec<u8> {
    let c = Campaign {
        id: CampaignId::new(id).unwrap(),
        issued_at,
        ..devcare::spec::fixtures::campaign()
    };
    let far = Timestamp(issued_at.0 + 400 * 24 * 3_600_000);
    build_payload(
        &c,
        &ServerKey::from_seed(&SEED),
        far,
        &PayloadLimits::default(),
    )
    .unwrap()
}

fn ok(_: &Setting) -> Result<ApplyResult, std::convert::Infallible> {
    Ok(ApplyResult::OK)
}

#[test]
fn old_payloads_and_a_reset_clock_are_refused_below_the_replay_floor() {
    let day = Duration::from_hours(24);
    let t = devcare::spec::fixtures::T0;
    let pk = ServerKey::from_seed(&SEED).public().to_bytes();
    let key = derive_device_key(&[7; 32], &DeviceId::new("IMEI:1").unwrap());
    let mut host = DeviceHost::open(None, "IMEI:1", vec![], &pk, &key).unwrap();
    // Nothing held yet: no floor, an old campaign is fine.
    host.receive(&signed("old-one", Timestamp(t.0 - 90 * day.0)), t, ok)
        .unwrap();
    host.receive(&signed("current", t), t, ok).unwrap();
    let before = host.states().count();
    // 40 days before the newest held: a replay.
    let replay = signed("replayed", Timestamp(t.0 - 40 * day.0));
    assert!(matches!(
        host.receive(&replay, t.plus(day), ok),
        Err(HostError::Payload(PayloadError::Replayed { .. }))
    ));
    // One day before it: a late delivery, taken.
    host.receive(&signed("late", Timestamp(t.0 - day.0)), t.plus(day), ok)
        .unwrap();
    // A clock reset to 1970: everything is refused until the clock is set.
    assert!(matches!(
        host.receive(&signed("fresh", t.plus(day)), Timestamp(86_400_000), ok),
        Err(HostError::Payload(PayloadError::ClockBehind { .. }))
    ));
    assert_eq!(host.states().count(), before + 1, "only `late` was taken");
    assert_eq!(host.rejections().get("replayed"), Some(&1));
    assert_eq!(host.rejections().get("clock-behind"), Some(&1));
}
