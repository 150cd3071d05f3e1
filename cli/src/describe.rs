//! A campaign in words, and as JSON.

use devcare::text::format_rfc3339;
use devcare::{AfterCare, Campaign, CareAction, Condition, Detail, TargetSet, Value};
use serde_json::json;

fn percent(ppm_or_ratio: f64) -> String {
    let p = ppm_or_ratio * 100.0;
    if (p - p.round()).abs() < 1e-9 {
        format!("{p:.0}%")
    } else {
        format!("{p}%")
    }
}

fn targets(t: &TargetSet) -> String {
    match t {
        TargetSet::All => "all devices that receive the broadcast".into(),
        TargetSet::Groups(g) => format!("devices in group {}", g.join(", ")),
        TargetSet::Devices(d) => format!("{} listed devices", d.len()),
    }
}

fn value(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Str(s) => format!(" = {s:?}"),
        Value::Int(n) => format!(" = {n}"),
        Value::Bool(b) => format!(" = {b}"),
        Value::Float(f) => format!(" = {f}"),
        Value::Bytes(b) => format!(" = {} bytes", b.len()),
    }
}

/// The campaign in words, a few lines.
pub(crate) fn campaign_text(c: &Campaign) -> String {
    let s = &c.schedule;
    let r = &s.report;
    let mut out = String::new();
    out.push_str(&format!(
        "campaign {} revision {}, issued {}\n",
        c.id,
        c.revision,
        format_rfc3339(c.issued_at)
    ));
    out.push_str(&format!("targets: {}\n", targets(&c.targets)));
    out.push_str(&format!("settings: {}\n", c.settings.len()));
    for st in &c.settings {
        out.push_str(&format!("  {} {}{}\n", st.op, st.uri, value(&st.value)));
    }
    let conds: Vec<String> = s.conditions.iter().map(devcare::rules::describe).collect();
    out.push_str(&format!(
        "evaluation: {} after receipt; a device reports if {}\n",
        s.evaluate_after,
        conds.join(", or ")
    ));
    let retry = if r.retry.attempts > 1 {
        format!(
            "up to {} attempts (retry after {} doubling to {})",
            r.retry.attempts, r.retry.backoff, r.retry.max_backoff
        )
    } else {
        "one attempt".into()
    };
    out.push_str(&format!(
        "reports: spread over {} starting {} after evaluation, {}, {}; deadline {} after issue\n",
        r.window,
        r.offset,
        retry,
        match r.detail {
            Detail::PerSetting => "every failed setting listed",
            Detail::Summary => "counts only",
        },
        r.deadline
    ));
    out.push_str(&format!(
        "coverage probe: {} of healthy devices send a success report\n",
        percent(f64::from(s.sample_success_ppm) / 1e6)
    ));
    let then = match s.care.then {
        AfterCare::Escalate => "escalate to an operator",
        AfterCare::GiveUp => "give up",
    };
    let care = match s.care.action {
        CareAction::NotifyOnly => "notify the operator (no automatic re-provisioning)".to_string(),
        CareAction::ReprovisionFailed => format!(
            "re-provision the failed settings up to {} times, {} apart (an attempt unanswered after {} failed), then {then}",
            s.care.attempts, s.care.spacing, s.care.timeout
        ),
        CareAction::ReprovisionAll => format!(
            "re-provision every setting up to {} times, {} apart (an attempt unanswered after {} failed), then {then}",
            s.care.attempts, s.care.spacing, s.care.timeout
        ),
    };
    out.push_str(&format!("care: {care}\n"));
    match &s.abort {
        Some(a) => out.push_str(&format!(
            "abort: pause care when failures exceed {} of targets (after {} reports)\n",
            percent(a.failure_ratio),
            a.min_reports
        )),
        None => out.push_str("abort: none\n"),
    }
    out
}

/// The campaign as one JSON object.
pub(crate) fn campaign_json(c: &Campaign) -> serde_json::Value {
    let targets = match &c.targets {
        TargetSet::All => json!({ "all": true }),
        TargetSet::Groups(g) => json!({ "groups": g }),
        TargetSet::Devices(d) => json!({ "devices": d.len() }),
    };
    json!({
        "id": c.id.as_str(),
        "revision": c.revision,
        "issued_at": format_rfc3339(c.issued_at),
        "targets": targets,
        "settings": c.settings.len(),
        "conditions": c.schedule.conditions.iter().map(Condition::kind).collect::<Vec<_>>(),
        "evaluate_after_s": c.schedule.evaluate_after.as_millis() as f64 / 1e3,
        "window_s": c.schedule.report.window.as_millis() as f64 / 1e3,
        "deadline_s": c.schedule.report.deadline.as_millis() as f64 / 1e3,
        "sample_success_ppm": c.schedule.sample_success_ppm,
        "care_attempts": c.schedule.care.attempts,
        "abort": c.schedule.abort.is_some(),
        "summary": campaign_text(c),
    })
}
