//! An arbitrary valid campaign → signed payload → decoded campaign equals the original.
#![no_main]

use arbitrary::{Arbitrary, Result, Unstructured};
use devcare::payload::{PayloadLimits, ServerKey, TrustedKeys, build_payload, open_payload};
use devcare::*;
use libfuzzer_sys::fuzz_target;

fn token(u: &mut Unstructured<'_>, max: usize) -> Result<String> {
    let n = u.int_in_range(1..=max)?;
    (0..n)
        .map(|_| Ok(char::from(u.int_in_range(b'!'..=b'~')?)))
        .collect()
}

fn uri(u: &mut Unstructured<'_>) -> Result<String> {
    Ok(format!("./{}", token(u, 40)?))
}

fn value(u: &mut Unstructured<'_>) -> Result<Value> {
    Ok(match u.int_in_range(0..=5)? {
        0 => Value::Null,
        1 => Value::Str(String::arbitrary(u)?.into()),
        2 => Value::Int(i64::arbitrary(u)?),
        3 => Value::Bool(bool::arbitrary(u)?),
        4 => {
            let f = f64::arbitrary(u)?;
            Value::Float(if f.is_finite() { f } else { 0.5 })
        }
        _ => Value::Bytes(Vec::<u8>::arbitrary(u)?),
    })
}

fn dur(u: &mut Unstructured<'_>, max_ms: u64) -> Result<Duration> {
    Ok(Duration(u.int_in_range(1..=max_ms)?))
}

fn campaign(u: &mut Unstructured<'_>) -> Result<Campaign> {
    let settings: Vec<Setting> = (0..u.int_in_range(1..=8)?)
        .map(|_| {
            Ok(Setting {
                op: *u.choose(&[
                    SettingOp::Add,
                    SettingOp::Replace,
                    SettingOp::Delete,
                    SettingOp::Exec,
                ])?,
                uri: uri(u)?.into(),
                value: value(u)?,
            })
        })
        .collect::<Result<_>>()?;
    let mut s = CareSchedule::default();
    s.evaluate_after = dur(u, 86_400_000)?;
    s.conditions = vec![Condition::AnyFailed];
    if bool::arbitrary(u)? {
        s.conditions.push(Condition::SettingFailed {
            uri_prefix: uri(u)?,
        });
    }
    if bool::arbitrary(u)? {
        s.conditions.push(Condition::StatusIn {
            codes: vec![u.int_in_range(100..=599)?],
        });
    }
    if bool::arbitrary(u)? {
        s.conditions.push(Condition::VerifyMismatch {
            uri: settings[0].uri.to_string(),
        });
    }
    if bool::arbitrary(u)? {
        s.conditions.push(Condition::PayloadIncomplete);
    }
    if bool::arbitrary(u)? {
        s.conditions.push(Condition::NotAppliedWithin {
            within: Duration(u.int_in_range(1..=s.evaluate_after.0)?),
        });
    }
    s.report.offset = Duration(u.int_in_range(0..=3_600_000)?);
    s.report.window = dur(u, 7 * 86_400_000)?;
    s.report.deadline = s
        .first_window_end()
        .plus(Duration(u.int_in_range(0..=86_400_000)?));
    s.sample_success_ppm = u.int_in_range(0..=1_000_000)?;
    s.care.attempts = u.int_in_range(1..=32)?;
    s.care.action = *u.choose(&[
        CareAction::ReprovisionFailed,
        CareAction::ReprovisionAll,
        CareAction::NotifyOnly,
    ])?;
    if bool::arbitrary(u)? {
        s.abort = Some(AbortPolicy {
            failure_ratio: f64::from(u.int_in_range(1..=100u32)?) / 100.0,
            min_reports: u.int_in_range(1..=1000)?,
        });
    }
    let targets = match u.int_in_range(0..=2)? {
        0 => TargetSet::All,
        1 => TargetSet::groups(
            (0..u.int_in_range(1..=4)?)
                .map(|_| token(u, 16))
                .collect::<Result<_>>()?,
        ),
        _ => TargetSet::devices(
            (0..u.int_in_range(1..=6)?)
                .map(|_| Ok(DeviceId::new(token(u, 32)?).expect("visible ascii")))
                .collect::<Result<_>>()?,
        ),
    };
    Ok(Campaign {
        id: CampaignId::new(token(u, 64)?).expect("visible ascii"),
        revision: u.int_in_range(1..=u32::MAX)?,
        issued_at: Timestamp(u.int_in_range(0..=4_000_000_000_000)?),
        salt: <[u8; 16]>::arbitrary(u)?,
        targets,
        settings,
        schedule: s,
    })
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(c) = campaign(&mut u) else { return };
    if c.validate(&Limits::DEFAULT).is_err() {
        return; // e.g. a value over the length limit
    }
    let key = ServerKey::from_seed(&[1; 32]);
    let mut trusted = TrustedKeys::new();
    trusted.add(key.public());
    let limits = PayloadLimits::default();
    let until = Timestamp(u64::MAX);
    let bytes = match build_payload(&c, &key, until, &limits) {
        Ok(b) => b,
        Err(_) => return, // over the payload size limit
    };
    let opened = open_payload(&bytes, &trusted, c.issued_at, &limits).expect("own payload opens");
    assert_eq!(opened.campaign, c);
    // And the campaign file round-trips too.
    assert_eq!(
        Campaign::from_toml("rt.toml", &c.to_toml()).expect("to_toml parses"),
        c
    );
});
