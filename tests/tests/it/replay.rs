//! The replay floor: a device that holds a campaign issued at T refuses a payload issued
//! more than the replay skew (30 days) before T — an old, still unexpired payload of
//! another campaign replayed — and refuses everything while its clock is before T (a reset
//! clock would make every payload ever signed look unexpired). Both change nothing.
//!
//! Issue 29 (N2, F13): a payload issued more than a day after the device's clock is refused
//! and never becomes the floor (one typo or one stolen-key payload would freeze the device);
//! a floor is set only by campaigns whose time was plausible when they arrived; and for a
//! URI that several campaigns set, the one issued later wins: an older campaign sharing a
//! URI with a newer one held is refused as superseded.

use devcare::host::{DeviceHost, HostError};
use devcare::payload::{PayloadError, PayloadLimits, ServerKey, build_payload};
use devcare::wire::derive_device_key;
use devcare::*;

const SEED: [u8; 32] = [42; 32];

fn campaign(id: &str, issued_at: Timestamp) -> Campaign {
    Campaign {
        id: CampaignId::new(id).unwrap(),
        issued_at,
        ..devcare::spec::fixtures::campaign()
    }
}

/// A campaign of its own URIs (`./Vendor/<id>/…`): it shares no setting with another.
fn own(id: &str, issued_at: Timestamp) -> Campaign {
    let mut c = campaign(id, issued_at);
    for (i, s) in c.settings.iter_mut().enumerate() {
        s.uri = format!("./Vendor/{id}/{i}").as_str().into();
    }
    c
}

fn signed(id: &str, issued_at: Timestamp) -> Vec<u8> {
    sign(&campaign(id, issued_at))
}

fn sign(c: &Campaign) -> Vec<u8> {
    let issued_at = c.issued_at;
    let far = Timestamp(issued_at.0 + 400 * 24 * 3_600_000);
    build_payload(
        c,
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
    // One day before it, with settings of its own: a late delivery, taken.
    host.receive(&sign(&own("late", Timestamp(t.0 - day.0))), t.plus(day), ok)
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

fn host() -> DeviceHost {
    let pk = ServerKey::from_seed(&SEED).public().to_bytes();
    let key = derive_device_key(&[7; 32], &DeviceId::new("IMEI:1").unwrap());
    DeviceHost::open(None, "IMEI:1", vec![], &pk, &key).unwrap()
}

#[test]
fn a_payload_from_the_future_is_refused_and_never_freezes_the_device() {
    let day = Duration::from_hours(24);
    let t = devcare::spec::fixtures::T0;
    let mut host = host();
    // A typo (a year ahead), or a stolen key's payload: refused, nothing taken.
    let future = sign(&own("typo", Timestamp(t.0 + 365 * day.0)));
    let err = host.receive(&future, t, ok).unwrap_err();
    assert!(
        matches!(err, HostError::Payload(PayloadError::IssuedInFuture { .. })),
        "{err}"
    );
    assert_eq!(host.states().count(), 0);
    assert_eq!(host.rejections().get("issued-in-future"), Some(&1));
    // Within the skew (clocks disagree by hours): taken.
    host.receive(&sign(&own("soon", t.plus(Duration::from_hours(20)))), t, ok)
        .unwrap();
    // Provisioning goes on: the next real campaign is taken.
    host.receive(&signed("next", t.plus(day)), t.plus(day), ok)
        .unwrap();
    assert_eq!(host.states().count(), 2);
}

#[test]
fn a_future_campaign_an_older_build_took_on_sets_no_floor() {
    let day = Duration::from_hours(24);
    let t = devcare::spec::fixtures::T0;
    let mut host = host();
    // An older build took a campaign issued a year ahead without checking its time.
    let future =
        ValidCampaign::new(own("typo", Timestamp(t.0 + 365 * day.0)), &Limits::DEFAULT).unwrap();
    host.receive_campaign(future, t).unwrap();
    // It is not the floor: the clock is not "behind" it and a current payload is taken.
    host.receive(&signed("current", t.plus(day)), t.plus(day), ok)
        .unwrap();
    assert_eq!(host.rejections().get("clock-behind"), None);
}

#[test]
fn for_a_shared_uri_the_newer_campaign_wins() {
    let day = Duration::from_hours(24);
    let t = devcare::spec::fixtures::T0;
    let mut host = host();
    host.receive(&signed("newer", t), t, ok).unwrap();
    // An older campaign, unexpired and within the replay skew, that sets the same URIs:
    // refused, naming the newer campaign and a shared URI; nothing changes.
    let err = host
        .receive(&signed("older", Timestamp(t.0 - 24 * day.0)), t, ok)
        .unwrap_err();
    let HostError::Payload(PayloadError::Superseded { by, uri, .. }) = &err else {
        panic!("{err}");
    };
    assert_eq!(by, "newer");
    assert!(uri.starts_with("./"), "{uri}");
    assert_eq!(host.states().count(), 1);
    // An older campaign of other URIs is independent: taken.
    host.receive(&sign(&own("other", Timestamp(t.0 - 24 * day.0))), t, ok)
        .unwrap();
    // A newer revision of the held campaign is the decider's (taken), not a supersession.
    let mut rev = campaign("newer", t.plus(day));
    rev.revision += 1;
    host.receive(&sign(&rev), t.plus(day), ok).unwrap();
    assert_eq!(host.states().count(), 2);
}

#[test]
fn the_server_refuses_to_create_a_campaign_issued_in_the_future() {
    use devcare::host::ServerHost;
    let t = devcare::spec::fixtures::T0;
    let mut server = ServerHost::open(None, &[7; 32]).unwrap();
    let c = own("typo", t.plus(Duration::from_hours(48)));
    let err = server.create(c.clone(), 10, t).unwrap_err();
    assert_eq!(err.reason(), "issued-in-future", "{err}");
    assert!(server.stats("typo").is_err(), "nothing created");
    // At its time it is fine.
    server
        .create(c, 10, t.plus(Duration::from_hours(47)))
        .unwrap();
}

/// N8 (issue 29): a device that died before applying two campaigns that set one URI resumes
/// them oldest first, so the newer campaign's value is the one that stays (campaign ids
/// sort the other way round here).
#[test]
fn resume_applies_the_older_campaign_first_so_the_newer_value_stays() {
    use std::collections::BTreeMap;
    let t = devcare::spec::fixtures::T0;
    let mut host = host();
    let mut old = campaign("zz-older", t);
    let mut new = campaign("aa-newer", t.plus(Duration::from_hours(1)));
    old.settings.truncate(1);
    new.settings.truncate(1);
    old.settings[0].value = Value::Str("old".into());
    new.settings[0].value = Value::Str("new".into());
    assert_eq!(old.settings[0].uri, new.settings[0].uri);
    for c in [old, new] {
        host.receive_campaign(ValidCampaign::new(c, &Limits::DEFAULT).unwrap(), t)
            .unwrap();
    }
    assert_eq!(host.pending().len(), 2, "both taken on, neither applied");
    let mut tree: BTreeMap<String, Value> = BTreeMap::new();
    let (done, err) = host
        .resume(t.plus(Duration::from_hours(2)), |s: &Setting| {
            tree.insert(s.uri.to_string(), s.value.clone());
            Ok::<_, std::convert::Infallible>(ApplyResult::OK)
        })
        .unwrap();
    assert_eq!((done, err.is_none()), (2, true));
    assert_eq!(tree.values().next(), Some(&Value::Str("new".into())));
}
