//! Every error variant has a stable `reason()`, unique within its enum; the C result code
//! and the binding's `Refused { reason }` agree with it. The `variant` functions match
//! exhaustively, so a new variant does not compile until it is listed here.

use std::collections::BTreeSet;

use devcare::alert::AlertError;
use devcare::codec::CodecError;
use devcare::file::FileError;
use devcare::host::{HostError, Layer};
use devcare::keyfile::{KeyFileError, KeyKind};
use devcare::payload::PayloadError;
use devcare::store::{StoreError, StreamId};
use devcare::wire::ReportError;
use devcare::{DeviceError, ServerError, Timestamp, ValidationError};
use devcare_ffi::{code_name, code_of, devcare_result};
use devcare_uniffi::DevcareError;

fn invalid() -> ValidationError {
    ValidationError::new("settings[0].uri", "must start with ./")
}

fn codec() -> CodecError {
    CodecError::Decode("bad".into())
}

fn stream() -> StreamId {
    StreamId::new("server/c").unwrap()
}

fn device_errors() -> Vec<DeviceError> {
    let s = || "x".to_string();
    vec![
        DeviceError::NotTargeted {
            campaign: s(),
            device: s(),
        },
        DeviceError::StaleRevision {
            campaign: s(),
            have: 2,
            got: 1,
        },
        DeviceError::WrongCampaign {
            stream: s(),
            got: s(),
        },
        DeviceError::WrongPhase {
            command: "x",
            phase: "y",
        },
        DeviceError::TooManyResults {
            expected: 1,
            got: 2,
        },
        DeviceError::CareResultsMismatch {
            attempt: 1,
            expected: 1,
            got: 2,
        },
        DeviceError::WrongAttempt { current: 1, got: 2 },
        DeviceError::NotDue {
            attempt: 1,
            due: Timestamp(5),
        },
        DeviceError::NoSuchSetting {
            index: 3,
            settings: 1,
        },
        DeviceError::WrongRevision { have: 2, got: 1 },
        DeviceError::NotARefusal(500),
    ]
}

fn device_variant(e: &DeviceError) -> usize {
    match e {
        DeviceError::NotTargeted { .. } => 0,
        DeviceError::StaleRevision { .. } => 1,
        DeviceError::WrongCampaign { .. } => 2,
        DeviceError::WrongPhase { .. } => 3,
        DeviceError::TooManyResults { .. } => 4,
        DeviceError::CareResultsMismatch { .. } => 5,
        DeviceError::WrongAttempt { .. } => 6,
        DeviceError::NotDue { .. } => 7,
        DeviceError::NoSuchSetting { .. } => 8,
        DeviceError::WrongRevision { .. } => 9,
        DeviceError::NotARefusal(_) => 10,
    }
}

fn server_errors() -> Vec<ServerError> {
    let s = || "x".to_string();
    vec![
        ServerError::AlreadyCreated(s()),
        ServerError::UnknownCampaign,
        ServerError::InvalidCampaign(invalid()),
        ServerError::TargetCount("x"),
        ServerError::WrongCampaign {
            stream: s(),
            got: s(),
        },
        ServerError::WrongRevision { current: 1, got: 2 },
        ServerError::NotTargeted(s()),
        ServerError::Duplicate {
            device: s(),
            attempt: 1,
        },
        ServerError::MalformedReport("x"),
        ServerError::NoSuchSetting {
            index: 1,
            settings: 1,
        },
        ServerError::NoCase(s()),
        ServerError::CareMismatch {
            device: s(),
            what: s(),
        },
        ServerError::Paused,
        ServerError::NotPaused,
        ServerError::AlreadyBroadcast,
        ServerError::AlreadyPaused,
        ServerError::BroadcastTooLate {
            at: Timestamp(3),
            needed: Timestamp(2),
            deadline: Timestamp(1),
        },
        ServerError::RevisionNotNewer { current: 2, got: 1 },
        ServerError::NotSampled(s()),
        ServerError::SampleSize {
            sampled: 2,
            targeted: 1,
        },
        ServerError::Fallback(s()),
        ServerError::PausedByBreaker,
        ServerError::BreakerNotTripped,
        ServerError::OverrideUnexplained,
        ServerError::GroupBreaker(s()),
        ServerError::GroupPaused(s()),
        ServerError::IssuedInFuture {
            issued_at: Timestamp(2),
            now: Timestamp(1),
        },
    ]
}

fn server_variant(e: &ServerError) -> usize {
    match e {
        ServerError::AlreadyCreated(_) => 0,
        ServerError::UnknownCampaign => 1,
        ServerError::InvalidCampaign(_) => 2,
        ServerError::TargetCount(_) => 3,
        ServerError::WrongCampaign { .. } => 4,
        ServerError::WrongRevision { .. } => 5,
        ServerError::NotTargeted(_) => 6,
        ServerError::Duplicate { .. } => 7,
        ServerError::MalformedReport(_) => 8,
        ServerError::NoSuchSetting { .. } => 9,
        ServerError::NoCase(_) => 10,
        ServerError::CareMismatch { .. } => 11,
        ServerError::Paused => 12,
        ServerError::NotPaused => 13,
        ServerError::AlreadyBroadcast => 14,
        ServerError::AlreadyPaused => 15,
        ServerError::BroadcastTooLate { .. } => 16,
        ServerError::RevisionNotNewer { .. } => 17,
        ServerError::NotSampled(_) => 18,
        ServerError::SampleSize { .. } => 19,
        ServerError::Fallback(_) => 20,
        ServerError::PausedByBreaker => 21,
        ServerError::BreakerNotTripped => 22,
        ServerError::OverrideUnexplained => 23,
        ServerError::GroupBreaker(_) => 24,
        ServerError::GroupPaused(_) => 25,
        ServerError::IssuedInFuture { .. } => 26,
    }
}

fn payload_errors() -> Vec<PayloadError> {
    vec![
        PayloadError::Oversize { len: 2, max: 1 },
        PayloadError::Truncated { len: 1, min: 2 },
        PayloadError::BadMagic,
        PayloadError::UnsupportedVersion(9),
        PayloadError::LengthMismatch {
            declared: 1,
            actual: 2,
        },
        PayloadError::UnknownKey("k".into()),
        PayloadError::BadSignature,
        PayloadError::Malformed(codec()),
        PayloadError::InvalidCampaign(invalid()),
        PayloadError::Expired {
            valid_until: Timestamp(1),
            now: Timestamp(2),
        },
        PayloadError::BadPublicKey,
        PayloadError::Encode(codec()),
        PayloadError::Replayed {
            issued_at: Timestamp(1),
            floor: Timestamp(2),
        },
        PayloadError::ClockBehind {
            now: Timestamp(1),
            floor: Timestamp(2),
        },
        PayloadError::IssuedInFuture {
            issued_at: Timestamp(2),
            now: Timestamp(1),
        },
        PayloadError::Superseded {
            issued_at: Timestamp(1),
            by: "x".into(),
            uri: "./A".into(),
        },
    ]
}

fn payload_variant(e: &PayloadError) -> usize {
    match e {
        PayloadError::Oversize { .. } => 0,
        PayloadError::Truncated { .. } => 1,
        PayloadError::BadMagic => 2,
        PayloadError::UnsupportedVersion(_) => 3,
        PayloadError::LengthMismatch { .. } => 4,
        PayloadError::UnknownKey(_) => 5,
        PayloadError::BadSignature => 6,
        PayloadError::Malformed(_) => 7,
        PayloadError::InvalidCampaign(_) => 8,
        PayloadError::Expired { .. } => 9,
        PayloadError::BadPublicKey => 10,
        PayloadError::Encode(_) => 11,
        PayloadError::Replayed { .. } => 12,
        PayloadError::ClockBehind { .. } => 13,
        PayloadError::IssuedInFuture { .. } => 14,
        PayloadError::Superseded { .. } => 15,
    }
}

fn report_errors() -> Vec<ReportError> {
    let s = || "x".to_string();
    vec![
        ReportError::Oversize { len: 2, max: 1 },
        ReportError::Truncated { len: 1 },
        ReportError::BadMagic,
        ReportError::UnsupportedVersion(9),
        ReportError::BadDeviceId(s()),
        ReportError::LengthMismatch {
            declared: 1,
            actual: 2,
        },
        ReportError::UnknownDevice(s()),
        ReportError::BadMac(s()),
        ReportError::Malformed(codec()),
        ReportError::DeviceMismatch {
            header: s(),
            body: s(),
        },
        ReportError::Encode(codec()),
    ]
}

fn report_variant(e: &ReportError) -> usize {
    match e {
        ReportError::Oversize { .. } => 0,
        ReportError::Truncated { .. } => 1,
        ReportError::BadMagic => 2,
        ReportError::UnsupportedVersion(_) => 3,
        ReportError::BadDeviceId(_) => 4,
        ReportError::LengthMismatch { .. } => 5,
        ReportError::UnknownDevice(_) => 6,
        ReportError::BadMac(_) => 7,
        ReportError::Malformed(_) => 8,
        ReportError::DeviceMismatch { .. } => 9,
        ReportError::Encode(_) => 10,
    }
}

fn alert_errors() -> Vec<AlertError> {
    vec![
        AlertError::TooLarge { len: 2, max: 1 },
        AlertError::TooManyItems {
            line: 1,
            col: 1,
            max: 1,
        },
        AlertError::MalformedXml {
            line: 1,
            col: 1,
            message: "x".into(),
        },
        AlertError::NoGenericAlert,
        AlertError::UnknownType {
            line: 1,
            col: 1,
            found: "x".into(),
        },
        AlertError::BadData {
            line: 1,
            col: 1,
            message: "x".into(),
        },
        AlertError::Inconsistent { line: 1, col: 1 },
        AlertError::NotSender {
            device: "x".into(),
            sender: "y".into(),
        },
        AlertError::UnknownSender("x".into()),
        AlertError::MalformedWbxml(devcare::alert::wbxml::WbxmlError {
            at: 1,
            message: "x".into(),
        }),
    ]
}

fn alert_variant(e: &AlertError) -> usize {
    match e {
        AlertError::TooLarge { .. } => 0,
        AlertError::TooManyItems { .. } => 1,
        AlertError::MalformedXml { .. } => 2,
        AlertError::NoGenericAlert => 3,
        AlertError::UnknownType { .. } => 4,
        AlertError::BadData { .. } => 5,
        AlertError::Inconsistent { .. } => 6,
        AlertError::NotSender { .. } => 7,
        AlertError::UnknownSender(_) => 8,
        AlertError::MalformedWbxml(_) => 9,
    }
}

fn store_errors() -> Vec<StoreError> {
    vec![
        StoreError::Conflict {
            stream: stream(),
            expected: 1,
            actual: 2,
        },
        StoreError::Corrupt {
            stream: stream(),
            seq: 1,
            reason: codec(),
        },
        StoreError::Missing {
            stream: stream(),
            seq: 1,
            head: 2,
        },
        StoreError::WrongKind {
            stream: stream(),
            seq: 1,
            expected: "server",
            found: "device",
        },
        StoreError::Encode {
            stream: stream(),
            reason: codec(),
        },
        StoreError::Backend("io".into()),
    ]
}

fn store_variant(e: &StoreError) -> usize {
    match e {
        StoreError::Conflict { .. } => 0,
        StoreError::Corrupt { .. } => 1,
        StoreError::Missing { .. } => 2,
        StoreError::WrongKind { .. } => 3,
        StoreError::Encode { .. } => 4,
        StoreError::Backend(_) => 5,
    }
}

fn key_file_errors() -> Vec<KeyFileError> {
    vec![
        KeyFileError::WrongKind {
            expected: KeyKind::Signing,
            found: KeyKind::Public,
        },
        KeyFileError::UnknownLabel("x".into()),
        KeyFileError::Malformed("x".into()),
    ]
}

fn key_file_variant(e: &KeyFileError) -> usize {
    match e {
        KeyFileError::WrongKind { .. } => 0,
        KeyFileError::UnknownLabel(_) => 1,
        KeyFileError::Malformed(_) => 2,
    }
}

/// Every variant is listed once and every reason is unique within its enum.
fn check_enum<E>(name: &str, all: &[E], variant: fn(&E) -> usize, reason: fn(&E) -> &'static str) {
    let indices: BTreeSet<usize> = all.iter().map(variant).collect();
    assert_eq!(
        indices.len(),
        all.len(),
        "{name}: a variant is listed twice"
    );
    assert_eq!(
        indices.into_iter().collect::<Vec<_>>(),
        (0..all.len()).collect::<Vec<_>>(),
        "{name}: a variant is missing"
    );
    let reasons: BTreeSet<&str> = all.iter().map(reason).collect();
    assert_eq!(
        reasons.len(),
        all.len(),
        "{name}: two variants share a reason: {reasons:?}"
    );
    for r in reasons {
        assert!(
            !r.is_empty() && r.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
            "{name}: reason {r:?} is not kebab-case"
        );
    }
}

#[test]
fn every_error_variant_has_a_unique_kebab_case_reason() {
    check_enum(
        "DeviceError",
        &device_errors(),
        device_variant,
        DeviceError::reason,
    );
    check_enum(
        "ServerError",
        &server_errors(),
        server_variant,
        ServerError::reason,
    );
    check_enum(
        "PayloadError",
        &payload_errors(),
        payload_variant,
        PayloadError::reason,
    );
    check_enum(
        "ReportError",
        &report_errors(),
        report_variant,
        ReportError::reason,
    );
    check_enum(
        "AlertError",
        &alert_errors(),
        alert_variant,
        AlertError::reason,
    );
    check_enum(
        "StoreError",
        &store_errors(),
        store_variant,
        StoreError::reason,
    );
    check_enum(
        "KeyFileError",
        &key_file_errors(),
        key_file_variant,
        KeyFileError::reason,
    );
}

fn every_host_error() -> Vec<HostError> {
    let mut all = vec![
        HostError::InvalidArgument {
            what: "device_id",
            detail: "empty".into(),
        },
        HostError::UnknownCampaign("c".into()),
        HostError::CampaignFile(FileError {
            file: "c.toml".into(),
            line: 1,
            col: 1,
            path: String::new(),
            message: "x".into(),
        }),
    ];
    all.extend(device_errors().into_iter().map(HostError::from));
    all.extend(server_errors().into_iter().map(HostError::from));
    all.extend(payload_errors().into_iter().map(HostError::from));
    all.extend(report_errors().into_iter().map(HostError::from));
    all.extend(alert_errors().into_iter().map(HostError::from));
    all.extend(store_errors().into_iter().map(HostError::from));
    all.extend(key_file_errors().into_iter().map(HostError::from));
    all
}

#[test]
fn every_reason_has_its_own_c_code_named_after_it() {
    for e in every_host_error() {
        let name = code_name(&e);
        let code = code_of(&e);
        assert!(
            devcare_result::ALL
                .iter()
                .any(|(c, n, ..)| *c == code && *n == name),
            "{e:?} (reason {:?}) wants C code {name}, which does not exist",
            e.reason()
        );
        match e.layer() {
            Layer::Store => assert_eq!(code, devcare_result::DEVCARE_STORE_ERROR),
            Layer::CampaignFile => assert_eq!(code, devcare_result::DEVCARE_CAMPAIGN_INVALID),
            _ => {
                let tail = e.reason().to_ascii_uppercase().replace('-', "_");
                assert!(name.ends_with(&tail), "{name} does not end with {tail}");
            }
        }
    }
}

#[test]
fn the_binding_refusal_carries_the_same_reason() {
    for e in every_host_error() {
        let reason = e.reason();
        match (e.layer(), DevcareError::from(e.clone())) {
            (Layer::Store, DevcareError::Store { .. }) => {}
            (Layer::CampaignFile, DevcareError::InvalidInput { .. }) => {}
            (Layer::Call, DevcareError::InvalidInput { .. })
                if matches!(e, HostError::InvalidArgument { .. }) => {}
            (_, DevcareError::Refused { reason: r, detail }) => {
                assert_eq!(r, reason);
                assert_eq!(detail, e.to_string());
            }
            (_, other) => panic!("{e:?} became {other:?}"),
        }
    }
}

/// The enums whose refusals one host counts in one [`devcare::host::Rejections`] map and
/// answers with: a reason there names one condition, or two counters would merge.
fn boundaries() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    fn named<E>(
        name: &'static str,
        all: Vec<E>,
        reason: fn(&E) -> &'static str,
    ) -> Vec<(&'static str, &'static str)> {
        all.iter().map(|e| (name, reason(e))).collect()
    }
    vec![
        (
            "the device host (a payload, then the device decider)",
            [
                named("PayloadError", payload_errors(), PayloadError::reason),
                named("DeviceError", device_errors(), DeviceError::reason),
            ]
            .concat(),
        ),
        (
            "the server host's ingest (report bytes or a DM message, then the server decider)",
            [
                named("ReportError", report_errors(), ReportError::reason),
                named("AlertError", alert_errors(), AlertError::reason),
                named("ServerError", server_errors(), ServerError::reason),
            ]
            .concat(),
        ),
    ]
}

#[test]
fn a_reason_is_unique_across_the_enums_one_host_counts_together() {
    for (boundary, reasons) in boundaries() {
        let mut seen: std::collections::BTreeMap<&str, &str> = Default::default();
        for (enum_name, reason) in reasons {
            if let Some(first) = seen.insert(reason, enum_name) {
                panic!("at {boundary}: reason {reason:?} is both {first}'s and {enum_name}'s");
            }
        }
    }
}

#[test]
fn a_reason_is_the_variant_name_in_kebab_case() {
    // The derive, checked against the names a C host sees.
    assert_eq!(ServerError::UnknownCampaign.reason(), "unknown-campaign");
    assert_eq!(
        ServerError::WrongCampaign {
            stream: "a".into(),
            got: "b".into()
        }
        .reason(),
        "wrong-campaign"
    );
    assert_eq!(DeviceError::NotARefusal(500).reason(), "not-a-refusal");
    assert_eq!(
        AlertError::MalformedXml {
            line: 1,
            col: 1,
            message: "x".into()
        }
        .reason(),
        "malformed-xml"
    );
}
