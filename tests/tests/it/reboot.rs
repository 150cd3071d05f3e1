//! A device that dies at a step boundary — after taking a campaign on, mid-apply, mid-care —
//! reopens from its log, finds the unfinished work pending, finishes it and converges.
//! Death is a panic inside the host's apply callback followed by dropping the host: what was
//! flushed before the callback ran is all that survives.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use devcare::host::DeviceHost;
use devcare::payload::{PayloadLimits, ServerKey, build_payload};
use devcare::wire::derive_device_key;
use devcare::*;

const SEED: [u8; 32] = [42; 32];
const MASTER: [u8; 32] = [7; 32];

fn campaign(id: &str, uris: &[&str]) -> Campaign {
    Campaign {
        id: CampaignId::new(id).unwrap(),
        settings: uris
            .iter()
            .map(|u| Setting::replace(*u, Value::Int(1)))
            .collect(),
        ..devcare::spec::fixtures::campaign()
    }
}

fn payload(c: &Campaign) -> Vec<u8> {
    let key = ServerKey::from_seed(&SEED);
    build_payload(c, &key, c.report_deadline(), &PayloadLimits::default()).unwrap()
}

fn open(dir: &Path) -> DeviceHost {
    let id = DeviceId::new("IMEI:1").unwrap();
    let pk = ServerKey::from_seed(&SEED).public().to_bytes();
    DeviceHost::open(
        Some(dir),
        "IMEI:1",
        vec![],
        &pk,
        &derive_device_key(&MASTER, &id),
    )
    .unwrap()
}

/// A DM tree that records what it applied and fails the URIs in `fail`.
fn tree<'a>(
    applied: &'a mut Vec<String>,
    fail: &'a [&'a str],
) -> impl FnMut(&Setting) -> Result<ApplyResult, std::convert::Infallible> + 'a {
    move |s| {
        applied.push(s.uri.to_string());
        Ok(if fail.contains(&s.uri.as_str()) {
            ApplyResult::status(500)
        } else {
            ApplyResult::OK
        })
    }
}

/// Runs `f` with a host on `dir` that "dies" when `f` panics: the host is dropped.
fn die_during(dir: &Path, f: impl FnOnce(&mut DeviceHost)) {
    let mut host = open(dir);
    let died = catch_unwind(AssertUnwindSafe(|| f(&mut host)));
    assert!(died.is_err(), "the device was meant to die");
}

#[test]
fn a_device_killed_mid_apply_resumes_its_own_campaign_and_applies_the_next_one_to_its_own_stream() {
    let dir = tempfile::tempdir().unwrap();
    let a = campaign("camp-a", &["./A/1", "./A/2", "./A/3"]);
    let b = campaign("camp-b", &["./B/1", "./B/2"]);
    let t0 = a.issued_at;
    die_during(dir.path(), |host| {
        let mut n = 0;
        let _ = host.receive(&payload(&a), t0, |_s: &Setting| {
            n += 1;
            if n == 2 {
                panic!("power cut mid-apply");
            }
            Ok::<_, std::convert::Infallible>(ApplyResult::OK)
        });
    });
    let mut host = open(dir.path());
    let pending = host.pending();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0].campaign, a.id);
    assert_eq!(pending[0].care_attempt, None);
    assert_eq!(pending[0].settings, a.settings);
    // Re-feeding the same payload is a stale revision; the campaign stays pending.
    let mut applied = Vec::new();
    assert!(
        host.receive(&payload(&a), t0, tree(&mut applied, &[]))
            .is_err()
    );
    assert_eq!(host.pending().len(), 1);
    // The next campaign is applied to its own stream, with its own settings.
    host.receive(&payload(&b), t0, tree(&mut applied, &[]))
        .unwrap();
    assert_eq!(applied, ["./B/1", "./B/2"]);
    assert_eq!(host.pending().len(), 1, "camp-a is still pending");
    // Resume applies camp-a.
    applied.clear();
    let (n, err) = host.resume(t0, tree(&mut applied, &[])).unwrap();
    assert_eq!((n, err.is_none()), (1, true));
    assert_eq!(applied, ["./A/1", "./A/2", "./A/3"]);
    assert!(host.pending().is_empty());
    // Both evaluate healthy and are what the device checks in with.
    host.tick(t0.plus(a.schedule.evaluate_after)).unwrap();
    let mut revisions: Vec<(String, u32)> = host
        .check_in()
        .into_iter()
        .map(|c| (c.campaign.to_string(), c.applied_revision))
        .collect();
    revisions.sort();
    assert_eq!(
        revisions,
        [("camp-a".to_string(), 1), ("camp-b".to_string(), 1)]
    );
    // And that survives another reboot.
    drop(host);
    assert!(open(dir.path()).pending().is_empty());
}

#[test]
fn a_device_killed_mid_care_resumes_the_care_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let a = campaign("camp-a", &["./A/1", "./A/2"]);
    let t0 = a.issued_at;
    let attempt;
    {
        let mut host = open(dir.path());
        let mut applied = Vec::new();
        host.receive(&payload(&a), t0, tree(&mut applied, &["./A/2"]))
            .unwrap();
        let slot = host
            .tick(t0.plus(a.schedule.evaluate_after))
            .unwrap()
            .unwrap();
        let due = host.next_report(slot).unwrap().unwrap();
        host.report_sent(a.id.as_str(), due.attempt, slot).unwrap();
        host.report_acknowledged(a.id.as_str(), due.attempt, slot)
            .unwrap();
        attempt = due.attempt;
    }
    die_during(dir.path(), |host| {
        let _ = host.receive_care(a.id.as_str(), 1, 1, vec![1], t0, |_s: &Setting| {
            panic!("power cut mid-care");
            #[allow(unreachable_code)]
            Ok::<_, std::convert::Infallible>(ApplyResult::OK)
        });
    });
    assert_eq!(attempt, 1);
    let mut host = open(dir.path());
    let pending = host.pending();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].care_attempt, Some(1));
    assert_eq!(pending[0].settings, vec![a.settings[1].clone()]);
    let mut applied = Vec::new();
    host.resume(t0, tree(&mut applied, &[])).unwrap();
    assert_eq!(applied, ["./A/2"]);
    let state = host.state(&a.id).unwrap();
    assert_eq!(state.phase, devcare::device::Phase::Recovered);
    assert_eq!(host.check_in()[0].applied_revision, 1);
}

#[test]
fn a_flush_that_fails_after_taking_a_campaign_on_applies_nothing_and_leaves_it_pending() {
    use devcare::host::DeviceHost;
    use devcare::payload::TrustedKeys;
    use devcare::store::MemoryStore;
    use devcare_integration::faults::FaultyStore;
    let store = FaultyStore::new(MemoryStore::new());
    let a = campaign("camp-a", &["./A/1", "./A/2"]);
    let mut trusted = TrustedKeys::new();
    trusted.add(ServerKey::from_seed(&SEED).public());
    let device = DeviceId::new("IMEI:1").unwrap();
    let mut agent = DeviceHost::on_store(&store, device, vec![], trusted, [0; 32]).unwrap();
    FaultyStore::<MemoryStore>::set(&store.fail_flushes, true);
    let mut applied = Vec::new();
    let err = agent
        .receive(&payload(&a), a.issued_at, tree(&mut applied, &[]))
        .unwrap_err();
    assert!(err.to_string().contains("injected flush failure"), "{err}");
    assert!(applied.is_empty(), "no effect before the intent is durable");
    assert_eq!(agent.pending().len(), 1);
    FaultyStore::<MemoryStore>::set(&store.fail_flushes, false);
    let (n, _) = agent.resume(a.issued_at, tree(&mut applied, &[])).unwrap();
    assert_eq!((n, applied.len()), (1, 2));
    assert!(agent.pending().is_empty());
}

/// Where the sweep below interrupts the flow.
#[derive(Debug, Clone, Copy)]
enum Cut {
    /// Never: the reference run.
    None,
    /// A clean reboot (host dropped, reopened) after step `n`.
    RebootAfter(usize),
    /// Death inside the apply of step `step` (0 = the payload, 4 = the care) after `k`
    /// settings were applied.
    DieIn { step: usize, k: usize },
}

/// The whole device flow on sled — take on, apply (./A/2 fails), evaluate, send, ack,
/// care — interrupted at `cut`, resumed after the reopen. Returns the final state.
fn flow(dir: &Path, cut: Cut) -> devcare::DeviceState {
    let a = campaign("camp-a", &["./A/1", "./A/2", "./A/3"]);
    let t0 = a.issued_at;
    let eval = t0.plus(a.schedule.evaluate_after);
    let mut host = open(dir);
    let mut slot = Timestamp(0);
    let mut attempt = 0;
    for step in 0..5 {
        let fail: &[&str] = if step == 0 { &["./A/2"] } else { &[] };
        let mut applied = 0;
        let apply = |s: &Setting| {
            if matches!(cut, Cut::DieIn { step: d, k } if d == step && applied == k) {
                panic!("power cut in step {step}");
            }
            applied += 1;
            Ok::<_, std::convert::Infallible>(if fail.contains(&s.uri.as_str()) {
                ApplyResult::status(500)
            } else {
                ApplyResult::OK
            })
        };
        let died = catch_unwind(AssertUnwindSafe(|| match step {
            0 => {
                host.receive(&payload(&a), t0, apply).unwrap();
            }
            1 => slot = host.tick(eval).unwrap().unwrap(),
            2 => {
                let due = host.next_report(slot).unwrap().unwrap();
                host.report_sent(a.id.as_str(), due.attempt, slot).unwrap();
                attempt = due.attempt;
            }
            3 => host
                .report_acknowledged(a.id.as_str(), attempt, slot)
                .unwrap(),
            _ => {
                let done = host
                    .receive_care(a.id.as_str(), 1, 1, vec![1], slot, apply)
                    .unwrap();
                assert!(done.recovered && done.host_error.is_none());
            }
        }));
        let reboot = matches!(cut, Cut::RebootAfter(n) if n == step);
        if died.is_err() || reboot {
            drop(host);
            host = open(dir);
            // What was taken on and not finished is pending; the host finishes it.
            let pending = host.pending();
            assert_eq!(
                pending.len(),
                usize::from(died.is_err()),
                "{cut:?}: {pending:?}"
            );
            let at = if step == 0 { t0 } else { slot };
            let mut again = Vec::new();
            host.resume(at, tree(&mut again, fail)).unwrap();
            assert!(host.pending().is_empty());
        }
    }
    let a_id = a.id.clone();
    drop(host);
    // What the log holds after a last reboot is the final state.
    open(dir).state(&a_id).unwrap().clone()
}

#[test]
fn a_device_rebooted_or_killed_at_every_step_boundary_converges_to_the_same_state() {
    let reference = flow(tempfile::tempdir().unwrap().path(), Cut::None);
    assert_eq!(reference.phase, devcare::device::Phase::Recovered);
    assert_eq!(reference.applied_revision, 1);
    let mut cuts: Vec<Cut> = (0..5).map(Cut::RebootAfter).collect();
    cuts.extend((0..3).map(|k| Cut::DieIn { step: 0, k }));
    cuts.push(Cut::DieIn { step: 4, k: 0 });
    for cut in cuts {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(flow(dir.path(), cut), reference, "{cut:?}");
    }
}

/// A power cut at any byte of a receive's writes: the log on the device's disk ends
/// anywhere in what the receive appended. Every such device reopens, finds either nothing
/// (the campaign was not taken on: the broadcast is taken again) or the campaign pending
/// (taken on, not applied: resumed), and ends applied, evaluated and with nothing pending.
#[test]
fn a_power_cut_at_any_byte_of_a_receive_reopens_and_converges() {
    let a = campaign("camp-a", &["./A/1", "./A/2", "./A/3"]);
    let t0 = a.issued_at;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join(devcare::store::LOG_FILE);
    let before = {
        drop(open(dir.path()));
        std::fs::read(&log).unwrap().len()
    };
    {
        let mut host = open(dir.path());
        host.receive(&payload(&a), t0, tree(&mut Vec::new(), &[]))
            .unwrap();
    }
    let whole = std::fs::read(&log).unwrap();
    let (mut retaken, mut resumed) = (0, 0);
    for cut in before..whole.len() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(devcare::store::LOG_FILE), &whole[..cut]).unwrap();
        let mut host = open(d.path());
        let mut applied = Vec::new();
        if host.pending().is_empty() {
            host.receive(&payload(&a), t0, tree(&mut applied, &[]))
                .unwrap_or_else(|e| panic!("cut at {cut}: the broadcast is taken again: {e}"));
            retaken += 1;
        } else {
            host.resume(t0, tree(&mut applied, &[])).unwrap();
            resumed += 1;
        }
        assert_eq!(applied, ["./A/1", "./A/2", "./A/3"], "cut at {cut}");
        host.tick(t0.plus(a.schedule.evaluate_after)).unwrap();
        drop(host);
        let host = open(d.path());
        assert!(host.pending().is_empty(), "cut at {cut}");
        let revisions: Vec<_> = host
            .check_in()
            .into_iter()
            .map(|c| (c.campaign.to_string(), c.applied_revision))
            .collect();
        assert_eq!(revisions, [("camp-a".to_string(), 1)], "cut at {cut}");
    }
    assert!(
        retaken > 0 && resumed > 0,
        "both kinds of cut: {retaken} / {resumed}"
    );
    eprintln!(
        "{} cuts: {retaken} took the broadcast again, {resumed} resumed",
        whole.len() - before
    );
}
