//! Campaign validation: each broken rule gives an error naming the field and the reason.

use crate::common;
use common::*;
use devcare::*;

#[test]
fn the_fixture_and_the_default_schedule_are_valid() {
    campaign().validate(&Limits::DEFAULT).unwrap();
}

#[test]
fn each_broken_rule_names_its_field() {
    type Edit = fn(&mut Campaign);
    let cases: Vec<(Edit, &str)> = vec![
        (|c| c.revision = 0, "revision: must be at least 1"),
        (
            |c| c.settings.clear(),
            "settings: a campaign needs at least one setting",
        ),
        (
            |c| c.settings[2].uri = "Proxy/Port".into(),
            "settings[2].uri: \"Proxy/Port\" is not a DM tree URI (must start with \"./\")",
        ),
        (
            |c| c.settings[1].value = Value::Str("x".repeat(20_000).into()),
            "settings[1].value: is 20000 bytes long, the limit is 16384",
        ),
        (
            |c| c.settings[0].value = Value::Float(f64::NAN),
            "settings[0].value: a float value must be finite",
        ),
        (
            |c| c.settings = vec![c.settings[0].clone(); 257],
            "settings: has 257 settings, the limit is 256",
        ),
        (
            |c| c.targets = TargetSet::Devices(vec![]),
            "targets.devices: an empty device list targets nobody",
        ),
        (
            |c| c.targets = TargetSet::Devices(vec![dev("B"), dev("A")]),
            "targets.devices: must be sorted and unique (use TargetSet::devices)",
        ),
        (
            |c| c.targets = TargetSet::Groups(vec![]),
            "targets.groups: an empty group list targets nobody",
        ),
        (
            |c| c.schedule.conditions.clear(),
            "schedule.conditions: at least one condition is needed, or no device would ever report",
        ),
        (
            |c| c.schedule.conditions = vec![Condition::StatusIn { codes: vec![] }],
            "schedule.conditions[0]: status-in needs at least one code",
        ),
        (
            |c| {
                c.schedule.conditions = vec![Condition::StatusIn {
                    codes: vec![200, 9999],
                }]
            },
            "schedule.conditions[0]: status-in code 9999 is not a DM status code (100..=599)",
        ),
        (
            |c| {
                c.schedule.conditions = vec![
                    Condition::AnyFailed,
                    Condition::SettingFailed {
                        uri_prefix: "AP".into(),
                    },
                ]
            },
            "schedule.conditions[1]: setting-failed prefix \"AP\" must start with \"./\"",
        ),
        (
            |c| {
                c.schedule.conditions = vec![Condition::VerifyMismatch {
                    uri: "./Nope".into(),
                }]
            },
            "schedule.conditions[0]: verify-mismatch uri \"./Nope\" is not one of the campaign's settings",
        ),
        (
            |c| {
                c.schedule.conditions = vec![Condition::NotAppliedWithin {
                    within: Duration::from_hours(1),
                }]
            },
            "schedule.conditions[0]: not-applied-within 1h is longer than evaluate_after 5m: the device evaluates before it could tell",
        ),
        (
            |c| c.schedule.report.window = Duration::ZERO,
            "schedule.report.window: must be longer than zero (reports are spread over it)",
        ),
        (
            |c| c.schedule.report.deadline = Duration::from_mins(30),
            "schedule.report.deadline: 30m ends before the report window does (evaluate_after + offset + window = 66m)",
        ),
        (
            // Default policy: 5 sends, backoff 2m doubling, cap 30m: 2+4+8+16 = 30m of retries.
            |c| c.schedule.report.deadline = Duration::from_mins(66),
            "schedule.report.deadline: 66m leaves the window's last slot without its retries (evaluate_after + offset + window + the retry delays = 96m)",
        ),
        (
            |c| c.schedule.report.retry.attempts = 0,
            "schedule.report.retry.attempts: is 0, must be 1..=32",
        ),
        (
            |c| c.schedule.report.retry.max_backoff = Duration::from_secs(1),
            "schedule.report.retry.max_backoff: 1s is shorter than backoff 2m",
        ),
        (
            |c| c.schedule.sample_success_ppm = 1_000_001,
            "schedule.sample_success_ppm: is 1000001, must be at most 1000000 (= every device)",
        ),
        (
            |c| c.schedule.report.detail = Detail::Summary,
            "schedule.care.action: reprovision-failed needs report.detail = per-setting: a summary does not say which settings failed",
        ),
        (
            |c| {
                c.schedule.abort = Some(AbortPolicy {
                    failure_ratio: 1.5,
                    min_reports: 1,
                })
            },
            "schedule.abort.failure_ratio: is 1.5, must be in (0, 1): care pauses once failures exceed it, which they never can at 100%",
        ),
        (
            |c| {
                c.schedule.abort = Some(AbortPolicy {
                    failure_ratio: 1.0,
                    min_reports: 1,
                })
            },
            "schedule.abort.failure_ratio: is 1, must be in (0, 1): care pauses once failures exceed it, which they never can at 100%",
        ),
        (
            |c| {
                c.schedule.abort = Some(AbortPolicy {
                    failure_ratio: 0.1,
                    min_reports: 0,
                })
            },
            "schedule.abort.min_reports: must be at least 1",
        ),
    ];
    for (edit, want) in cases {
        let mut c = campaign();
        edit(&mut c);
        let err = c.validate(&Limits::DEFAULT).expect_err(want);
        assert_eq!(err.to_string(), want);
    }
}

#[test]
fn ids_must_be_visible_ascii_of_bounded_length() {
    assert_eq!(
        DeviceId::new("").unwrap_err().to_string(),
        "device id: must not be empty"
    );
    assert_eq!(
        DeviceId::new("IMEI 1").unwrap_err().to_string(),
        "device id: has ' ' at byte 4; only visible ASCII (no spaces) is allowed"
    );
    assert_eq!(DeviceId::new("a\0b").unwrap_err().field, "device id");
    assert!(DeviceId::new("x".repeat(129)).is_err());
    assert!(CampaignId::new("c".repeat(65)).is_err());
    // Deserialising goes through the same check.
    assert!(serde_json::from_str::<DeviceId>("\"bad id\"").is_err());
}

#[test]
fn durations_print_in_the_largest_whole_unit() {
    assert_eq!(Duration::from_days(7).to_string(), "7d");
    assert_eq!(Duration::from_mins(90).to_string(), "90m");
    assert_eq!(Duration::from_millis(1500).to_string(), "1500ms");
}
