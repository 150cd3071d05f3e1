//! The schedule's rules, one named function each. The device and server deciders, the
//! CLI's campaign description and the simulator all call these; the schedule types' docs
//! link here. A newcomer finds any behaviour of a [`CareSchedule`](crate::CareSchedule) in
//! this one file.
//!
//! | rule | function | decided by |
//! |---|---|---|
//! | when a device evaluates | [`evaluation_due`] | device `Tick` |
//! | each [`Condition`] | [`any_failed`], [`setting_failed`], [`status_in`], [`verify_mismatch`] (one [`Outcome`] each), [`payload_incomplete`], [`not_applied_within`] via [`findings`] | device `Tick` |
//! | exceptional or healthy | [`is_exceptional`] | device `Tick` |
//! | healthy devices that probe | [`sends_probe`] | device `Tick` |
//! | first report slot | [`first_report_at`] | device `Tick` |
//! | when a resend is due | [`retry_instant`] | device `Tick`, `next_wake` |
//! | when a device stops resending | [`give_up`] | device `Tick` |
//! | whether care fixed the device | [`care_findings`] | device `RecordCareApplied` |
//! | which settings care re-provisions | [`care_settings`] | server `AcceptReport`, `CheckIn` |
//! | the abort threshold | [`abort_trips`] | server `AcceptReport`, `CheckIn` |
//! | after a failed care attempt | [`after_failed_care`] | server `RecordCareOutcome` |
//! | presumed success of the silent | [`settles`] | server `Tick` |

use serde::{Deserialize, Serialize};

use crate::model::{Campaign, DeviceId, Duration, Setting, Timestamp};
use crate::report::{ApplyResult, Finding, Verify};
use crate::schedule::{
    AbortPolicy, AfterCare, CareAction, CarePolicy, Condition, is_success, uri_in_subtree,
};
use crate::slot;

/// Why a device stopped reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GiveUpReason {
    /// Every allowed attempt was sent and none was acknowledged.
    AttemptsExhausted,
    /// The next retry would fall after the report deadline.
    DeadlinePassed,
    /// The server refused the report for good (a DM status resending cannot change, e.g.
    /// 410 for a replaced revision, 403 for a device it does not target).
    Refused {
        /// The DM status.
        status: u16,
    },
}

/// How far after now a campaign's `issued_at` may be: devices refuse a payload issued later
/// (`PayloadError::IssuedInFuture`, it would freeze their replay floor) and the server
/// refuses to create or revise such a campaign (`ServerError::IssuedInFuture`).
pub const FUTURE_SKEW: Duration = Duration::from_days(1);

/// A device evaluates its outcome `evaluate_after` the campaign was received.
pub fn evaluation_due(campaign: &Campaign, received_at: Timestamp) -> Timestamp {
    received_at.plus(campaign.schedule.evaluate_after)
}

/// One setting's outcome: its index in the campaign, the setting and the host's result.
/// The result conditions judge one outcome at a time, after the first apply and after care.
#[derive(Debug, Clone, Copy)]
pub struct Outcome<'a> {
    /// The setting's index in the campaign.
    pub index: u32,
    /// The setting.
    pub setting: &'a Setting,
    /// What the host's DM tree answered.
    pub result: &'a ApplyResult,
}

fn failed(o: &Outcome<'_>) -> Option<Finding> {
    (!is_success(o.result.status)).then_some(Finding::Status {
        index: o.index,
        status: o.result.status,
    })
}

/// `any-failed`: the setting's status is not 2xx.
pub fn any_failed(o: &Outcome<'_>) -> Option<Finding> {
    failed(o)
}

/// `setting-failed(uri-prefix)`: a failed setting in the DM subtree at `uri_prefix`.
pub fn setting_failed(o: &Outcome<'_>, uri_prefix: &str) -> Option<Finding> {
    failed(o).filter(|_| uri_in_subtree(&o.setting.uri, uri_prefix))
}

/// `status-in(codes)`: the setting returned one of `codes` (any code, even a 2xx).
pub fn status_in(o: &Outcome<'_>, codes: &[u16]) -> Option<Finding> {
    codes.contains(&o.result.status).then_some(Finding::Status {
        index: o.index,
        status: o.result.status,
    })
}

/// `verify-mismatch(uri)`: the node at `uri` read back differently after it was applied.
pub fn verify_mismatch(o: &Outcome<'_>, uri: &str) -> Option<Finding> {
    // The cheap test first: most settings read back as applied.
    (o.result.verify == Verify::Mismatch && o.setting.uri == uri)
        .then_some(Finding::VerifyMismatch { index: o.index })
}

/// The schedule's result conditions over `outcomes` (the timing and completeness
/// conditions are judged by the caller).
fn result_findings<'a>(
    conditions: &[Condition],
    outcomes: impl Iterator<Item = Outcome<'a>>,
    out: &mut Vec<Finding>,
) {
    // The codes `status-in` conditions list (no allocation when there are none).
    let listed: Vec<u16> = conditions
        .iter()
        .flat_map(|c| match c {
            Condition::StatusIn { codes } => codes.as_slice(),
            _ => &[],
        })
        .copied()
        .collect();
    for o in outcomes {
        let status = o.result.status;
        if is_success(status) && o.result.verify != Verify::Mismatch && !listed.contains(&status) {
            // Applied, read back as applied, and a code no condition lists: nothing to find.
            continue;
        }
        for cond in conditions {
            out.extend(match cond {
                Condition::AnyFailed => any_failed(&o),
                Condition::SettingFailed { uri_prefix } => setting_failed(&o, uri_prefix),
                Condition::StatusIn { codes } => status_in(&o, codes),
                Condition::VerifyMismatch { uri } => verify_mismatch(&o, uri),
                Condition::PayloadIncomplete | Condition::NotAppliedWithin { .. } => None,
            });
        }
    }
}

/// `payload-incomplete`: settings the host never returned a result for. Always checked,
/// listed in the schedule or not.
pub fn payload_incomplete(campaign: &Campaign, results: &[ApplyResult]) -> Vec<Finding> {
    (results.len()..campaign.settings.len())
        .map(|i| Finding::Missing { index: i as u32 })
        .collect()
}

/// `not-applied-within(within)`: applying took longer than `within` after reception, or
/// had not finished by evaluation time `now` (`applied_at` `None`).
pub fn not_applied_within(
    within: Duration,
    received_at: Timestamp,
    applied_at: Option<Timestamp>,
    now: Timestamp,
) -> Option<Finding> {
    let took = applied_at.unwrap_or(now).since(received_at);
    (applied_at.is_none() || took > within).then_some(Finding::Late { after: took })
}

/// Checks a device's apply results against every condition of the schedule, plus
/// [`payload_incomplete`], which always applies. `applied` is `None` when the host had not
/// returned results by evaluation time `now`. Returns the sorted, unique findings; empty
/// means healthy.
pub fn findings(
    campaign: &Campaign,
    received_at: Timestamp,
    applied: Option<(Timestamp, &[ApplyResult])>,
    now: Timestamp,
) -> Vec<Finding> {
    let results: &[ApplyResult] = applied.map(|(_, r)| r).unwrap_or(&[]);
    // A setting without a result was not applied: always a finding, whether or not the
    // schedule lists `payload-incomplete` (a device must never call an unapplied campaign
    // healthy).
    let mut out = payload_incomplete(campaign, results);
    let outcomes =
        campaign
            .settings
            .iter()
            .zip(results)
            .enumerate()
            .map(|(i, (setting, result))| Outcome {
                index: i as u32,
                setting,
                result,
            });
    result_findings(&campaign.schedule.conditions, outcomes, &mut out);
    for cond in &campaign.schedule.conditions {
        if let Condition::NotAppliedWithin { within } = cond {
            out.extend(not_applied_within(
                *within,
                received_at,
                applied.map(|(at, _)| at),
                now,
            ));
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Whether care fixed the device (or a recheck still passes): the results for the settings
/// at `indices`, in order, checked by the same result conditions as the first evaluation — `any-failed`,
/// `setting-failed`, `status-in`, `verify-mismatch` — and a missing result is a finding.
/// Timing (`not-applied-within`) is not judged again. Empty means recovered.
pub fn care_findings(
    campaign: &Campaign,
    indices: &[u32],
    results: &[ApplyResult],
) -> Vec<Finding> {
    // A care setting without a result was not re-applied.
    let mut out: Vec<Finding> = indices
        .iter()
        .skip(results.len())
        .map(|&index| Finding::Missing { index })
        .collect();
    let outcomes = indices.iter().zip(results).filter_map(|(&index, result)| {
        Some(Outcome {
            index,
            setting: campaign.settings.get(index as usize)?,
            result,
        })
    });
    result_findings(&campaign.schedule.conditions, outcomes, &mut out);
    out.sort_unstable();
    out.dedup();
    out
}

/// The condition in words (the CLI's campaign description).
pub fn describe(condition: &Condition) -> String {
    match condition {
        Condition::AnyFailed => "any setting fails".into(),
        Condition::SettingFailed { uri_prefix } => format!("a setting under {uri_prefix} fails"),
        Condition::StatusIn { codes } => {
            let codes: Vec<String> = codes.iter().map(u16::to_string).collect();
            format!("a setting returns status {}", codes.join("/"))
        }
        Condition::VerifyMismatch { uri } => format!("{uri} reads back differently"),
        Condition::PayloadIncomplete => "not every setting was applied".into(),
        Condition::NotAppliedWithin { within } => format!("applying takes longer than {within}"),
    }
}

/// A device with findings is exceptional and reports; one without is healthy and silent.
pub fn is_exceptional(findings: &[Finding]) -> bool {
    !findings.is_empty()
}

/// A healthy device sends a success probe when the campaign's sample picks it
/// ([`slot::sampled`] at `sample_success_ppm`).
pub fn sends_probe(campaign: &Campaign, device: &DeviceId, findings: &[Finding]) -> bool {
    !is_exceptional(findings)
        && slot::sampled(&campaign.salt, device, campaign.schedule.sample_success_ppm)
}

/// The first report is due at `evaluated_at + offset + slot % window`.
pub fn first_report_at(
    campaign: &Campaign,
    device: &DeviceId,
    evaluated_at: Timestamp,
) -> Timestamp {
    let report = &campaign.schedule.report;
    slot::first_report_at(
        &campaign.salt,
        device,
        evaluated_at,
        report.offset,
        report.window,
    )
}

/// Report `attempt`, sent at `sent_at` and not acknowledged, is resent (or given up) at
/// `sent_at + retry_delay(attempt)`.
pub fn retry_instant(
    campaign: &Campaign,
    device: &DeviceId,
    attempt: u32,
    sent_at: Timestamp,
) -> Timestamp {
    sent_at.plus(slot::retry_delay(
        &campaign.salt,
        device,
        attempt,
        &campaign.schedule.report.retry,
    ))
}

/// At the retry instant `next` of report `attempt`: give up when the attempts are spent
/// or `next` is past the report deadline; `None` means resend.
pub fn give_up(campaign: &Campaign, attempt: u32, next: Timestamp) -> Option<GiveUpReason> {
    if attempt >= campaign.schedule.report.retry.attempts {
        Some(GiveUpReason::AttemptsExhausted)
    } else if next >= campaign.report_deadline() {
        Some(GiveUpReason::DeadlinePassed)
    } else {
        None
    }
}

/// Whether the DM status `status` answering a report refuses it for good, so the device
/// stops resending: any 4xx (the report is malformed, unauthenticated, not targeted, of a
/// replaced revision, too large) but 408 (timeout) and 429 (too many requests), which say
/// "later". A 200 is an acknowledgement; a 5xx is the server's trouble: resend.
pub fn is_definitive_refusal(status: u16) -> bool {
    (400..500).contains(&status) && status != 408 && status != 429
}

/// What a device does with the DM status the server answered its report with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportAnswer {
    /// A 2xx: the server has the report (taken, or a duplicate of one it has); stop
    /// sending it ([`crate::DeviceCommand::Acknowledge`]).
    Acknowledged,
    /// A definitive refusal ([`is_definitive_refusal`]): stop sending it, and give up
    /// this report ([`crate::DeviceCommand::Refused`]).
    RefusedForGood,
    /// Anything else (a server failure, a timeout, a throttle): send it again when the
    /// retry policy says.
    SendAgain,
}

/// The rule a device applies to the answer `status` to its report.
pub fn report_answer(status: u16) -> ReportAnswer {
    if (200..300).contains(&status) {
        ReportAnswer::Acknowledged
    } else if is_definitive_refusal(status) {
        ReportAnswer::RefusedForGood
    } else {
        ReportAnswer::SendAgain
    }
}

/// The settings care re-provisions: under `reprovision-failed`, the settings the findings
/// name (all of them when the findings name none, e.g. only timing); otherwise all.
pub fn care_settings(campaign: &Campaign, findings: Option<&[Finding]>) -> Vec<u32> {
    let all = || (0..campaign.settings.len() as u32).collect::<Vec<_>>();
    match (campaign.schedule.care.action, findings) {
        (CareAction::ReprovisionFailed, Some(f)) => {
            let mut s: Vec<u32> = f.iter().filter_map(Finding::setting).collect();
            s.sort_unstable();
            s.dedup();
            if s.is_empty() { all() } else { s }
        }
        _ => all(),
    }
}

/// The abort threshold: with `failures` failure reporters (this one included) out of the
/// `expected` devices that could have reported by now ([`expected_reporters`]), care
/// pauses once `failures >= min_reports` and the ratio passes `failure_ratio`.
pub fn abort_trips(abort: &AbortPolicy, failures: u64, expected: u64) -> bool {
    failures >= abort.min_reports
        && expected > 0
        && failures as f64 / expected as f64 > abort.failure_ratio
}

/// How many of `targeted` devices are expected to have evaluated and reported by `now`
/// if all were exceptional, for a broadcast at `broadcast`: reports are spread evenly over
/// the window that opens `evaluate_after + offset` after it, so by `now` a share
/// `φ = (now − window start) / window`, clamped to [0, 1], of the targets has reached its
/// slot. At least 1. See [`abort_trips`]: early in the window a broken rollout is measured against the devices
/// that could have reported yet, not the whole fleet, so it pauses after `min_reports`
/// instead of after `failure_ratio` of the fleet.
pub fn expected_reporters(
    campaign: &Campaign,
    broadcast: Timestamp,
    targeted: u64,
    now: Timestamp,
) -> u64 {
    let s = &campaign.schedule;
    let start = broadcast.plus(s.evaluate_after).plus(s.report.offset);
    let window = s.report.window.as_millis().max(1);
    let elapsed = now.since(start).as_millis().min(window);
    let share = elapsed as f64 / window as f64;
    ((targeted as f64 * share).ceil() as u64).clamp(1, targeted.max(1))
}

/// What follows failed care attempt `attempt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailedCare {
    /// Try again: attempt number and when.
    Retry {
        /// The next attempt.
        attempt: u32,
        /// When it is due.
        due: Timestamp,
    },
    /// The attempts are spent: the policy's `then`.
    Exhausted(AfterCare),
}

/// When care dispatched at `dispatched_at` counts as failed if no outcome came:
/// `dispatched_at + timeout`.
pub fn care_expires(care: &CarePolicy, dispatched_at: Timestamp) -> Timestamp {
    dispatched_at.plus(care.timeout)
}

/// After failed care `attempt` at `at`: the next attempt `spacing` later while attempts
/// remain, else the policy's `then` (escalate or give up).
pub fn after_failed_care(care: &CarePolicy, attempt: u32, at: Timestamp) -> AfterFailedCare {
    if attempt < care.attempts {
        AfterFailedCare::Retry {
            attempt: attempt + 1,
            due: at.plus(care.spacing),
        }
    } else {
        AfterFailedCare::Exhausted(care.then)
    }
}

/// When the reports of devices that receive the broadcast at `at` are over: the last slot
/// of the window and every retry after it. A broadcast whose reports end after the report
/// deadline is refused (`broadcast-too-late`).
pub fn reports_end(campaign: &Campaign, at: Timestamp) -> Timestamp {
    at.plus(campaign.schedule.first_window_end())
        .plus(campaign.schedule.retry_span())
}

/// After the report deadline the campaign settles: silent targets are presumed OK.
pub fn settles(campaign: &Campaign, now: Timestamp) -> bool {
    now >= campaign.report_deadline()
}
