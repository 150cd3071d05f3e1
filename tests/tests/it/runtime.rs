//! Deciders paired with stores: handle → append → evolve; open = replay.

use devcare::host::{DeviceHost, GroupDirectory, RuntimeError, ServerHost};
use devcare::payload::TrustedKeys;
use devcare::store::{EventStore, MemoryStore, SledStore, StoreError};
use devcare::*;

fn campaign() -> Campaign {
    Campaign {
        id: CampaignId::new("apn").unwrap(),
        salt: *b"runtime-salt-001",
        targets: TargetSet::devices(vec![dev("IMEI:1"), dev("IMEI:2"), dev("IMEI:3")]),
        settings: vec![
            Setting::replace("./AP/APN", Value::Str("a".into())),
            Setting::replace("./AP/Port", Value::Int(1)),
        ],
        ..devcare::spec::fixtures::campaign()
    }
}

fn dev(s: &str) -> DeviceId {
    DeviceId::new(s).unwrap()
}

#[test]
fn a_device_that_reboots_before_its_slot_still_sends_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let c = campaign();
    let t0 = c.issued_at;
    let due;
    {
        let mut agent = DeviceHost::on_store(
            SledStore::open(dir.path()).unwrap(),
            dev("IMEI:1"),
            vec![],
            TrustedKeys::new(),
            [0; 32],
        )
        .unwrap();
        agent.receive_campaign(valid(&c), t0).unwrap();
        agent
            .handle(
                &c.id,
                &DeviceCommand::RecordApplied {
                    results: vec![ApplyResult::OK, ApplyResult::status(500)],
                    at: t0,
                },
            )
            .unwrap();
        agent.tick(t0.plus(c.schedule.evaluate_after)).unwrap();
        due = agent.next_wake().unwrap();
        agent.flush().unwrap();
    } // reboot
    let agent = DeviceHost::on_store(
        SledStore::open(dir.path()).unwrap(),
        dev("IMEI:1"),
        vec![],
        TrustedKeys::new(),
        [0; 32],
    )
    .unwrap();
    assert_eq!(agent.next_wake(), Some(due));
    let report = agent
        .state(&c.id)
        .unwrap()
        .due_report(due)
        .expect("report survives the reboot");
    assert_eq!(
        report.kind,
        ReportKind::Failure {
            findings: vec![Finding::Status {
                index: 1,
                status: 500
            }]
        }
    );
}

#[test]
fn refused_payloads_are_counted_not_logged() {
    let store = MemoryStore::new();
    let mut agent =
        DeviceHost::on_store(&store, dev("IMEI:9"), vec![], TrustedKeys::new(), [0; 32]).unwrap();
    let c = campaign();
    for _ in 0..1000 {
        let err = agent.receive_campaign(valid(&c), c.issued_at).unwrap_err();
        assert!(matches!(
            err,
            RuntimeError::Refused(DeviceError::NotTargeted { .. })
        ));
    }
    assert_eq!(agent.rejections().get("not-targeted"), Some(&1000));
    assert!(
        store.streams().unwrap().is_empty(),
        "a flood of refused input grows no log"
    );
    let mut agent =
        DeviceHost::on_store(&store, dev("IMEI:1"), vec![], TrustedKeys::new(), [0; 32]).unwrap();
    agent.receive_campaign(valid(&c), c.issued_at).unwrap();
    let v = store
        .version(&devcare::decider::Side::Device.stream(&c.id))
        .unwrap();
    assert!(agent.receive_campaign(valid(&c), c.issued_at).is_err());
    assert_eq!(agent.rejections().get("stale-revision"), Some(&1));
    assert_eq!(
        store
            .version(&devcare::decider::Side::Device.stream(&c.id))
            .unwrap(),
        v
    );
}

fn report(c: &Campaign, d: &str, attempt: u32) -> ServerCommand {
    ServerCommand::AcceptReport {
        report: Report {
            campaign: c.id.clone(),
            revision: 1,
            device: dev(d),
            attempt,
            evaluated_at: c.issued_at,
            kind: ReportKind::Failure {
                findings: vec![Finding::Status {
                    index: 0,
                    status: 404,
                }],
            },
        },
        groups: vec![],
        at: c.issued_at.plus(Duration::from_mins(10)),
    }
}

#[test]
fn ingest_batches_commit_accepted_reports_once_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let c = campaign();
    let live;
    {
        let mut server = ServerHost::on_store(
            SledStore::open(dir.path()).unwrap(),
            GroupDirectory::new([0; 32]),
        )
        .unwrap();
        server
            .handle(
                &c.id,
                &ServerCommand::Create {
                    campaign: Box::new(c.clone()),
                    targeted: None,
                    at: c.issued_at,
                },
            )
            .unwrap();
        let batch = vec![
            (c.id.clone(), report(&c, "IMEI:1", 1)),
            (c.id.clone(), report(&c, "IMEI:1", 2)), // duplicate (retry of the same device)
            (c.id.clone(), report(&c, "IMEI:7", 1)), // not a target
            (c.id.clone(), report(&c, "IMEI:2", 1)),
            (CampaignId::new("nope").unwrap(), report(&c, "IMEI:3", 1)), // unknown campaign
        ];
        let results = server.handle_batch(&batch).unwrap();
        let ok: Vec<bool> = results.iter().map(Result::is_ok).collect();
        assert_eq!(ok, vec![true, false, false, true, false]);
        assert!(matches!(
            results[1],
            Err(ServerError::Duplicate { attempt: 2, .. })
        ));
        assert_eq!(server.rejections().get("duplicate"), Some(&1));
        assert_eq!(server.rejections().get("not-targeted"), Some(&1));
        assert_eq!(server.rejections().get("unknown-campaign"), Some(&1));
        // Create (+ the listed targets' sample size) + 2 × (accepted + care scheduled).
        assert_eq!(server.version(&c.id), 6);
        assert_eq!(
            server.store().streams().unwrap().len(),
            1,
            "refusals create no stream"
        );
        live = server.state(&c.id).unwrap().clone();
    }
    let server = ServerHost::on_store(
        SledStore::open(dir.path()).unwrap(),
        GroupDirectory::new([0; 32]),
    )
    .unwrap();
    assert_eq!(server.state(&c.id), Some(&live));
    assert_eq!(server.state(&c.id).unwrap().stats().failure_reports, 2);
}

#[test]
fn a_second_writer_gets_a_conflict_and_the_first_sees_the_truth() {
    let store = MemoryStore::new();
    let c = campaign();
    let mut a = ServerHost::on_store(&store, GroupDirectory::new([0; 32])).unwrap();
    a.handle(
        &c.id,
        &ServerCommand::Create {
            campaign: Box::new(c.clone()),
            targeted: None,
            at: c.issued_at,
        },
    )
    .unwrap();
    let mut b = ServerHost::on_store(&store, GroupDirectory::new([0; 32])).unwrap();
    b.handle(&c.id, &report(&c, "IMEI:1", 1)).unwrap();
    // `a` still believes the stream is at version 2 (created, sample sized).
    let err = a.handle(&c.id, &report(&c, "IMEI:2", 1)).unwrap_err();
    assert!(
        matches!(
            err,
            RuntimeError::Store(StoreError::Conflict {
                expected: 2,
                actual: 4,
                ..
            })
        ),
        "{err}"
    );
    // … and has reloaded: the retry is decided against the real state.
    assert_eq!(a.state(&c.id), b.state(&c.id));
    a.handle(&c.id, &report(&c, "IMEI:2", 1)).unwrap();
    assert!(matches!(
        a.handle(&c.id, &report(&c, "IMEI:1", 1)),
        Err(RuntimeError::Refused(ServerError::Duplicate { .. }))
    ));
}

#[test]
fn a_group_commit_that_loses_a_race_keeps_nothing_and_reloads() {
    let store = MemoryStore::new();
    let c = campaign();
    let mut a = ServerHost::on_store(&store, GroupDirectory::new([0; 32])).unwrap();
    a.handle(
        &c.id,
        &ServerCommand::Create {
            campaign: Box::new(c.clone()),
            targeted: None,
            at: c.issued_at,
        },
    )
    .unwrap();
    let mut b = ServerHost::on_store(&store, GroupDirectory::new([0; 32])).unwrap();
    b.handle(&c.id, &report(&c, "IMEI:1", 1)).unwrap();
    // `a` decides its batch against a stale state: the append conflicts, nothing lands.
    let err = a
        .handle_batch(&[
            (c.id.clone(), report(&c, "IMEI:2", 1)),
            (c.id.clone(), report(&c, "IMEI:3", 1)),
        ])
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                expected: 2,
                actual: 4,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        store
            .version(&devcare::decider::Side::Server.stream(&c.id))
            .unwrap(),
        4
    );
    assert_eq!(
        a.state(&c.id),
        b.state(&c.id),
        "the loser reloaded the store's truth"
    );
    // The retry is decided against the real state and lands.
    let results = a
        .handle_batch(&[
            (c.id.clone(), report(&c, "IMEI:2", 1)),
            (c.id.clone(), report(&c, "IMEI:1", 1)),
        ])
        .unwrap();
    assert!(results[0].is_ok() && matches!(results[1], Err(ServerError::Duplicate { .. })));
    assert_eq!(a.state(&c.id).unwrap().stats().failure_reports, 2);
}

#[test]
fn a_dm_tree_that_fails_partway_leaves_the_rest_counted_as_not_applied() {
    use devcare::payload::{PayloadLimits, ServerKey, build_payload};
    let c = campaign();
    let key = ServerKey::from_seed(&[3; 32]);
    let mut trusted = TrustedKeys::new();
    trusted.add(key.public());
    let limits = PayloadLimits::default();
    let bytes = build_payload(&c, &key, Timestamp(u64::MAX), &limits).unwrap();
    let mut agent =
        DeviceHost::on_store(MemoryStore::new(), dev("IMEI:1"), vec![], trusted, [0; 32]).unwrap();
    let mut calls = 0;
    let host = agent
        .receive(&bytes, c.issued_at, |_| {
            calls += 1;
            if calls == 1 {
                Ok(ApplyResult::OK)
            } else {
                Err("tree locked")
            }
        })
        .unwrap();
    assert_eq!(host, Some("tree locked"));
    agent
        .tick(c.issued_at.plus(c.schedule.evaluate_after))
        .unwrap();
    assert_eq!(
        agent.state(&c.id).unwrap().findings,
        vec![Finding::Missing { index: 1 }]
    );
}

#[test]
fn a_failed_group_commit_whose_reload_fails_leaves_no_half_loaded_stream() {
    use devcare_integration::faults::FaultyStore;
    let store = FaultyStore::new(MemoryStore::new());
    let c = campaign();
    let mut other = campaign();
    other.id = devcare::CampaignId::new("other").unwrap();
    let mut server = ServerHost::on_store(&store, GroupDirectory::new([0; 32])).unwrap();
    server
        .handle(
            &other.id,
            &ServerCommand::Create {
                campaign: Box::new(other.clone()),
                targeted: None,
                at: other.issued_at,
            },
        )
        .unwrap();
    // A batch that creates a campaign fails to append, and the store cannot be read back.
    FaultyStore::<MemoryStore>::set(&store.fail_appends, true);
    FaultyStore::<MemoryStore>::set(&store.fail_reads, true);
    let err = server
        .handle_batch(&[(
            c.id.clone(),
            ServerCommand::Create {
                campaign: Box::new(c.clone()),
                targeted: None,
                at: c.issued_at,
            },
        )])
        .unwrap_err();
    assert!(err.to_string().contains("injected append failure"), "{err}");
    FaultyStore::<MemoryStore>::set(&store.fail_appends, false);
    FaultyStore::<MemoryStore>::set(&store.fail_reads, false);
    // Nothing of the failed batch stays in memory: the campaign is not there, and time
    // passing on every campaign still works.
    assert!(server.state(&c.id).is_none());
    assert_eq!(server.states().count(), 1);
    server.tick(other.issued_at).unwrap();
    // The campaign can be created for real afterwards.
    server
        .handle(
            &c.id,
            &ServerCommand::Create {
                campaign: Box::new(c.clone()),
                targeted: None,
                at: c.issued_at,
            },
        )
        .unwrap();
}

#[test]
fn a_campaign_too_large_to_broadcast_is_refused_at_creation() {
    use devcare::host::{HostError, ServerHost};
    use devcare::payload::PayloadError;
    // 9,000 explicit targets with 120-byte ids validate (the limit is 100,000 targets) but
    // cannot fit a 1 MiB payload.
    let ids: Vec<DeviceId> = (0..9_000).map(|i| dev(&format!("{i:0>120}"))).collect();
    let c = Campaign {
        targets: TargetSet::devices(ids),
        ..campaign()
    };
    c.validate(&devcare::Limits::DEFAULT).unwrap();
    let mut server = ServerHost::open(None, &[7; 32]).unwrap();
    let err = server.create(c.clone(), 0, c.issued_at).unwrap_err();
    assert!(
        matches!(
            err,
            HostError::Payload(PayloadError::Oversize { max: 1_048_576, .. })
        ),
        "{err:?}"
    );
    assert_eq!(err.reason(), "oversize");
    assert!(server.stats(c.id.as_str()).is_err(), "nothing was created");
}

#[test]
fn operator_calls_on_a_campaign_that_does_not_exist_are_refused_and_append_nothing() {
    use devcare::host::ServerHost;
    let mut server = ServerHost::open(None, &[7; 32]).unwrap();
    let t = campaign().issued_at;
    let toml = campaign().to_toml();
    let errors = [
        server.pause("nope", t).unwrap_err(),
        server.resume("nope", t).unwrap_err(),
        server.check_in("nope", "IMEI:1", 0, t).unwrap_err(),
        server
            .care_outcome("nope", "IMEI:1", 1, true, t)
            .unwrap_err(),
        server.revise_campaign(&toml, 0, t).unwrap_err(),
    ];
    for e in &errors {
        assert_eq!(e.reason(), "unknown-campaign", "{e}");
    }
    assert!(server.store().streams().unwrap().is_empty());
    assert_eq!(server.rejections()["unknown-campaign"], 5);
}

fn valid(c: &Campaign) -> ValidCampaign {
    ValidCampaign::new(c.clone(), &Limits::DEFAULT).unwrap()
}

/// N1 (issue 29): a failed commit whose store cannot be read back (a lost connection, EIO)
/// must not turn a known campaign into "unknown campaign" (DM 404, which a device takes as
/// final). While the store is out, its reports are store errors (DM 500: resend); once it
/// is back, the resent reports are taken, no failure is lost, and the campaign settles.
#[test]
fn a_store_outage_during_a_commit_never_answers_404_and_loses_no_report() {
    use devcare::host::Ingest;
    use devcare::wire::{derive_device_key, encode_report};
    use devcare_integration::faults::FaultyStore;
    let store = FaultyStore::new(MemoryStore::new());
    let c = campaign();
    let mut server = ServerHost::on_store(&store, GroupDirectory::new([0; 32])).unwrap();
    server
        .handle(
            &c.id,
            &ServerCommand::Create {
                campaign: Box::new(c.clone()),
                targeted: None,
                at: c.issued_at,
            },
        )
        .unwrap();
    let report = |device: &str| {
        let r = devcare_integration::failure_report(&c, c.revision, dev(device), 1);
        encode_report(&r, &derive_device_key(&[0; 32], &dev(device))).unwrap()
    };
    let at = c.issued_at.plus(Duration::from_mins(10));
    // The store goes away mid-commit: the append of a group commit (two reports, the first
    // folded before the second was decided) fails and so does the read-back.
    FaultyStore::<MemoryStore>::set(&store.fail_appends, true);
    FaultyStore::<MemoryStore>::set(&store.fail_reads, true);
    let one = report("IMEI:1");
    let three = report("IMEI:3");
    assert!(server.ingest_batch(&[&one, &three], at).is_err());
    // Still out: another device's report is a store error (500), never 404.
    let two = report("IMEI:2");
    let err = server.ingest_batch(&[&two], at).unwrap_err();
    assert_eq!(err.dm_status(), 500);
    let err = server.stats(c.id.as_str()).unwrap_err();
    assert_eq!(err.reason(), "backend", "{err}");
    assert!(
        server.tick(at).is_err(),
        "no time passes on a campaign the host cannot see"
    );
    // The store is back: both devices resend and are taken; nothing was lost.
    FaultyStore::<MemoryStore>::set(&store.fail_appends, false);
    FaultyStore::<MemoryStore>::set(&store.fail_reads, false);
    for bytes in [&one, &two, &three] {
        let answer = server.ingest_batch(&[bytes], at).unwrap().pop().unwrap();
        assert!(matches!(answer, Ingest::Accepted(_)), "{answer:?}");
    }
    assert_eq!(server.stats(c.id.as_str()).unwrap().failure_reports, 3);
    // And the campaign settles: no failed device is presumed OK.
    let end = c.report_deadline().plus(Duration::from_days(2));
    server.tick(end).unwrap();
    let st = server.stats(c.id.as_str()).unwrap();
    assert!(st.settled && st.presumed_ok == 0, "{st:?}");
}

/// N7 (issue 29): the server's group table is kept in its store. After a restart, a
/// member's report that arrives before the host refills the table is still a member's (it
/// used to be refused 403, after which the device stops and is presumed OK). Refilling the
/// same table appends nothing; a device taken out of a group stays out.
#[test]
fn the_group_table_survives_a_restart() {
    use devcare::host::{GROUPS_STREAM, Ingest};
    use devcare::store::StreamId;
    use devcare::wire::{derive_device_key, encode_report};
    let dir = tempfile::tempdir().unwrap();
    let master = [3u8; 32];
    let mut c = devcare::spec::fixtures::campaign();
    c.targets = TargetSet::groups(vec!["beta".into()]);
    let report = |device: &str| {
        let r = devcare_integration::failure_report(&c, c.revision, dev(device), 0);
        encode_report(&r, &derive_device_key(&master, &dev(device))).unwrap()
    };
    let at = c.issued_at.plus(Duration::from_mins(10));
    let groups_version = |s: &ServerHost| {
        s.store()
            .version(&StreamId::new(GROUPS_STREAM).unwrap())
            .unwrap()
    };
    {
        let mut s = ServerHost::open(Some(dir.path()), &master).unwrap();
        s.create(c.clone(), 100, c.issued_at).unwrap();
        s.set_device_groups("IMEI:1", vec!["beta".into()]).unwrap();
        s.set_device_groups("IMEI:2", vec!["beta".into()]).unwrap();
        s.set_device_groups("IMEI:2", vec![]).unwrap(); // taken out again
        s.flush().unwrap();
    }
    let mut s = ServerHost::open(Some(dir.path()), &master).unwrap();
    let v = groups_version(&s);
    assert_eq!(v, 3);
    // No refill yet: the member's report is a member's, the ex-member's is refused.
    assert!(matches!(
        s.ingest_report(&report("IMEI:1"), at).unwrap(),
        Ingest::Accepted(_)
    ));
    let refused = s.ingest_report(&report("IMEI:2"), at).unwrap();
    assert_eq!(refused.dm_status(), 403, "{refused:?}");
    // The host refills the same table after the open: nothing is appended.
    s.set_device_groups("IMEI:1", vec!["beta".into()]).unwrap();
    s.set_device_groups("IMEI:2", vec![]).unwrap();
    assert_eq!(groups_version(&s), v);
}
