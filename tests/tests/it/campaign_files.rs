//! Campaign files: every shipped example parses and round-trips; malformed files fail with
//! the exact location and field.

use devcare::*;

fn examples() -> Vec<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/campaigns");
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_example_parses_and_round_trips() {
    let ex = examples();
    assert!(ex.len() >= 4);
    let mut kinds = std::collections::BTreeSet::new();
    let mut actions = std::collections::BTreeSet::new();
    let mut abort = false;
    for (name, text) in &ex {
        let c = Campaign::from_toml(name, text).unwrap_or_else(|e| panic!("{e}"));
        let again = Campaign::from_toml(name, &c.to_toml())
            .unwrap_or_else(|e| panic!("{name} re-read: {e}\n{}", c.to_toml()));
        assert_eq!(again, c, "{name}");
        kinds.extend(c.schedule.conditions.iter().map(|k| k.kind()));
        actions.insert(format!("{:?}", c.schedule.care.action));
        abort |= c.schedule.abort.is_some();
    }
    assert_eq!(
        kinds.len(),
        6,
        "examples cover every condition kind: {kinds:?}"
    );
    assert_eq!(
        actions.len(),
        3,
        "examples cover every care action: {actions:?}"
    );
    assert!(abort, "an example uses the abort policy");
}

#[test]
fn the_full_example_reads_as_written() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/campaigns/apn-full.toml"
    ))
    .unwrap();
    let c = Campaign::from_toml("apn-full.toml", &text).unwrap();
    assert_eq!(
        c.issued_at,
        Timestamp(1_795_597_200_000),
        "10:00+01:00 is 09:00Z"
    );
    assert_eq!(c.salt, core::array::from_fn(|i| i as u8));
    assert_eq!(c.settings[2].value, Value::Int(8080));
    assert_eq!(c.settings[3].value, Value::Bool(true));
    assert_eq!(
        c.settings[4].value,
        Value::Bytes(vec![0x30, 0x82, 0x01, 0x0a, 0x02, 0x82, 0x01, 0x01, 0x00])
    );
    assert_eq!(c.settings[5].value, Value::Null);
    assert_eq!(c.schedule.sample_success_ppm, 5_000);
    assert_eq!(c.schedule.report.window, Duration::from_hours(2));
    assert_eq!(c.schedule.report.deadline, Duration::from_days(1));
    assert_eq!(
        c.schedule.abort,
        Some(AbortPolicy {
            failure_ratio: 0.05,
            min_reports: 200
        })
    );
}

#[test]
fn a_campaign_without_schedule_gets_the_documented_defaults() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/campaigns/apn-minimal.toml"
    ))
    .unwrap();
    let c = Campaign::from_toml("apn-minimal.toml", &text).unwrap();
    assert_eq!(c.schedule, CareSchedule::default());
}

const BASE: &str = r#"id = "c1"
revision = 1
issued_at = 2026-11-25T10:00:00Z
salt = "000102030405060708090a0b0c0d0e0f"
targets = { all = true }

[[settings]]
op = "replace"
uri = "./A"
value = "x"

[schedule.report]
window = "1h"
"#;

#[test]
fn malformed_files_fail_with_their_exact_location() {
    let cases: Vec<(String, &str)> = vec![
        (
            BASE.replace("window = \"1h\"", "window = \"soon\""),
            "c.toml:13:10: schedule.report.window: expected a duration like \"2h\", found \"soon\"",
        ),
        (
            BASE.replace("window = \"1h\"", "window = \"0s\""),
            "c.toml:13:10: schedule.report.window: must be longer than zero (reports are spread over it)",
        ),
        (
            BASE.replace("window = \"1h\"", "windw = \"1h\""),
            "c.toml:13:1: schedule.report.windw: unknown field `windw`, expected one of `offset`, `window`, `deadline`, `detail`, `retry`",
        ),
        (
            BASE.replace("revision = 1", "revision = \"one\""),
            "c.toml:2:12: revision: invalid type: string \"one\", expected u32",
        ),
        (
            BASE.replace("revision = 1", "revision = 0"),
            "c.toml:2:12: revision: must be at least 1",
        ),
        (
            BASE.replace(
                "salt = \"000102030405060708090a0b0c0d0e0f\"",
                "salt = \"abc\"",
            ),
            "c.toml:4:8: salt: expected 32 hex digits (16 bytes), found \"abc\"",
        ),
        (
            BASE.replace(
                "issued_at = 2026-11-25T10:00:00Z",
                "issued_at = 2026-11-25T10:00:00",
            ),
            "c.toml:3:13: issued_at: expected an RFC 3339 date-time with an offset, like 2026-11-25T10:00:00Z, found 2026-11-25T10:00:00",
        ),
        (
            BASE.replace(
                "targets = { all = true }",
                "targets = { all = true, groups = [\"a\"] }",
            ),
            "c.toml:5:11: targets: give exactly one of all = true, groups = [...] or devices = [...]",
        ),
        (
            BASE.replace(
                "targets = { all = true }",
                "targets = { devices = [\"ok\", \"not ok\"] }",
            ),
            "c.toml:5:30: targets.devices[1]: has ' ' at byte 3; only visible ASCII (no spaces) is allowed",
        ),
        (
            BASE.replace("uri = \"./A\"", "uri = \"A\""),
            "c.toml:9:7: settings[0].uri: \"A\" is not a DM tree URI (must start with \"./\")",
        ),
        (
            BASE.replace("op = \"replace\"", "op = \"upsert\""),
            "c.toml:8:6: settings[0].op: unknown variant `upsert`, expected one of `add`, `replace`, `delete`, `exec`",
        ),
        (
            format!("{BASE}deadline = \"30m\"\n"),
            "c.toml:14:12: schedule.report.deadline: 30m ends before the report window does (evaluate_after + offset + window = 66m)",
        ),
        (
            format!("{BASE}\n[schedule.abort]\nfailure_ratio = \"lots\"\nmin_reports = 3\n"),
            "c.toml:16:17: schedule.abort.failure_ratio: expected a ratio like \"5%\" or 0.05, found \"lots\"",
        ),
        (
            format!("{BASE}\n[schedule]\nsample_success = \"150%\"\n"),
            "c.toml:16:18: schedule.sample_success: must be between 0% and 100%, is 1.5",
        ),
        (
            format!(
                "{BASE}\n[schedule.care]\naction = \"reprovision-failed\"\n[schedule.report.x]\n"
            ),
            "c.toml:17:18: schedule.report.x: unknown field `x`, expected one of `offset`, `window`, `deadline`, `detail`, `retry`",
        ),
        (
            "id = \"c1\"\nrevision = 1\nissued_at = = 3\n".to_string(),
            "c.toml:3:13: extra `=`, expected nothing",
        ),
    ];
    let mut wrong = Vec::new();
    for (text, want) in cases {
        let err = Campaign::from_toml("c.toml", &text).expect_err(want);
        if err.to_string() != want {
            wrong.push(format!("want {want}\n got {err}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn missing_required_fields_are_named() {
    let text = BASE.replace("revision = 1\n", "");
    let err = Campaign::from_toml("c.toml", &text).unwrap_err();
    assert_eq!(err.message, "missing field `revision`");
    assert_eq!((err.line, err.col), (1, 1));
}

/// `BASE` with a `[coverage]` section of `body`.
fn with_coverage(body: &str) -> String {
    format!("{BASE}\n[coverage]\n{body}\n")
}

#[test]
fn group_breakers_in_the_file_are_taken_with_the_campaign_sized_by_the_directory() {
    use devcare::host::ServerHost;
    let text = format!(
        "{BASE}\n[[group_breaker]]\ngroup = \"model-x\"\nfailure_ratio = \"5%\"\nmin_reports = 20\n\n[[group_breaker]]\ngroup = \"model-y\"\nfailure_ratio = \"10%\"\nmin_reports = 5\ndevices = 300\n"
    );
    let (campaign, policy) =
        devcare::file::parse_campaign_policy("c.toml", &text, &Limits::DEFAULT).unwrap();
    assert_eq!(campaign, Campaign::from_toml("c.toml", BASE).unwrap());
    assert_eq!(policy.group_breakers.len(), 2);
    let mut host = ServerHost::open(None, &[7; 32]).unwrap();
    // model-x's size comes from the directory; model-y's from the file.
    for i in 0..3 {
        host.set_device_groups(&format!("X{i}"), vec!["model-x".into()])
            .unwrap();
    }
    let id = host
        .create_campaign(&text, 1_000, Timestamp(1_795_600_800_000))
        .unwrap();
    let st = host.group_breakers(id.as_str()).unwrap();
    let sizes: Vec<(String, u64, f64)> = st
        .iter()
        .map(|g| {
            (
                g.breaker.group.clone(),
                g.breaker.targeted,
                g.breaker.failure_ratio,
            )
        })
        .collect();
    assert_eq!(
        sizes,
        [("model-x".into(), 3, 0.05), ("model-y".into(), 300, 0.1)]
    );
    assert_eq!(host.version(&id), 2, "CampaignCreated + GroupBreakersSet");
    // A group the directory has no member of, and no `devices`: refused, nothing created.
    let lonely = text.replace("model-x", "model-z");
    let mut host = ServerHost::open(None, &[7; 32]).unwrap();
    let err = host
        .create_campaign(&lonely, 1_000, Timestamp(1_795_600_800_000))
        .unwrap_err();
    assert_eq!(err.reason(), "group-breaker", "{err}");
    assert!(err.to_string().contains("targets no device"), "{err}");
    assert!(host.states().next().is_none(), "nothing created");
    // Bad thresholds fail located.
    for (bad, want) in [
        ("failure_ratio = \"5%\"", "failure_ratio = \"100%\""),
        ("min_reports = 20", "min_reports = 0"),
    ] {
        let text = text.replacen(bad, want, 1);
        let err = devcare::file::parse_campaign_policy("c.toml", &text, &Limits::DEFAULT)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("c.toml:") && err.contains("group_breaker[0]."),
            "{err}"
        );
    }
}

#[test]
fn a_coverage_section_is_server_side_policy_taken_with_the_campaign() {
    use devcare::host::ServerHost;
    use devcare::server::{CoverageFloor, Fallback};
    let text = with_coverage("floor = \"98%\"\nfallback = \"unicast\"\npace = 500");
    let (campaign, floor) =
        devcare::file::parse_campaign_file("c.toml", &text, &Limits::DEFAULT).unwrap();
    let policy = CoverageFloor {
        floor: 0.98,
        fallback: Fallback::Unicast { per_minute: 500 },
    };
    assert_eq!(floor, Some(policy));
    // It is not part of the campaign (nor of the payload devices receive).
    assert_eq!(campaign, Campaign::from_toml("c.toml", BASE).unwrap());
    // The host takes campaign and floor in one append.
    let mut host = ServerHost::open(None, &[7; 32]).unwrap();
    let id = host
        .create_campaign(&text, 1_000, Timestamp(1_795_600_800_000))
        .unwrap();
    let state = host.state(&id).unwrap();
    assert_eq!(state.fallback.policy, Some(policy));
    assert_eq!(host.version(&id), 2, "CampaignCreated + CoverageFloorSet");
    // A revision without the section keeps the floor (the server's policy outlives it).
    let next = BASE.replace("revision = 1", "revision = 2");
    host.revise_campaign(&next, 1_000, Timestamp(2)).unwrap();
    assert_eq!(host.state(&id).unwrap().fallback.policy, Some(policy));
}

#[test]
fn a_bad_coverage_section_fails_with_its_location_and_creates_nothing() {
    for (body, want) in [
        (
            "floor = \"150%\"",
            "c.toml:16:9: coverage.floor: coverage floor 1.5 is outside (0, 1]: a share of the targets",
        ),
        (
            "floor = \"99%\"\nfallback = \"carrier-pigeon\"",
            "c.toml:17:12: coverage.fallback: \"carrier-pigeon\" is not one of none, rebroadcast, unicast, repair",
        ),
        (
            "floor = \"99%\"\nfallback = \"unicast\"",
            "c.toml:15:1: coverage.pace: a unicast or repair fallback needs a pace (devices per minute)",
        ),
        (
            "floor = \"99%\"\npace = 10",
            "c.toml:17:8: coverage.pace: only a unicast or repair fallback has a pace",
        ),
        (
            "floor = \"99%\"\nfallback = \"unicast\"\npace = 0",
            "c.toml:18:8: coverage.pace: unicast pace 0 devices per minute is outside 1 to 1000000",
        ),
        (
            "flor = \"99%\"",
            "c.toml:16:1: coverage.flor: unknown field `flor`, expected one of `floor`, `fallback`, `pace`",
        ),
    ] {
        let text = with_coverage(body);
        let err =
            devcare::file::parse_campaign_file("c.toml", &text, &Limits::DEFAULT).unwrap_err();
        assert_eq!(err.to_string(), want, "{body}");
        let mut host = devcare::host::ServerHost::open(None, &[7; 32]).unwrap();
        assert!(
            host.create_campaign(&text, 1_000, Timestamp(1_795_600_800_000))
                .is_err()
        );
        assert!(host.states().next().is_none(), "{body}: nothing created");
    }
    // A floor on a campaign that samples nobody measures nothing.
    let text = with_coverage("floor = \"99%\"").replace(
        "[schedule.report]",
        "[schedule]\nsample_success = \"0%\"\n\n[schedule.report]",
    );
    let err = devcare::file::parse_campaign_file("c.toml", &text, &Limits::DEFAULT).unwrap_err();
    assert!(
        err.to_string().ends_with(
            "coverage.floor: a coverage floor needs success probes: schedule.sample_success is 0%"
        ),
        "{err}"
    );
}
