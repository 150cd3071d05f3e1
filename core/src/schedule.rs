//! The care schedule broadcast with a campaign: when a device is exceptional, when and how
//! it reports, and what care the server runs for it.

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::setting::{Limits, Setting};
use crate::time::Duration;

/// An exceptional situation a device checks for after applying a campaign; each variant is
/// one rule function in [`crate::rules`], all applied by [`rules::findings`](crate::rules::findings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Condition {
    /// Any setting returned a status outside 200..=299 ([`rules::any_failed`](crate::rules::any_failed)).
    AnyFailed,
    /// A setting under `uri_prefix` (whole path segments: `./AP` matches `./AP/x`, not
    /// `./APN`) returned a status outside 200..=299
    /// ([`rules::setting_failed`](crate::rules::setting_failed)).
    SettingFailed {
        /// The subtree to watch.
        uri_prefix: String,
    },
    /// Any setting returned one of these status codes
    /// ([`rules::status_in`](crate::rules::status_in)).
    StatusIn {
        /// OMA DM status codes (e.g. 404, 415, 500).
        codes: Vec<u16>,
    },
    /// The host read `uri` back after applying and it did not hold the provisioned value
    /// ([`rules::verify_mismatch`](crate::rules::verify_mismatch)).
    VerifyMismatch {
        /// The node to verify.
        uri: String,
    },
    /// The host returned results for fewer settings than the campaign has (the apply was
    /// interrupted), or none at all before evaluation
    /// ([`rules::payload_incomplete`](crate::rules::payload_incomplete)).
    PayloadIncomplete,
    /// The settings were not applied within `within` of receiving the payload
    /// ([`rules::not_applied_within`](crate::rules::not_applied_within)).
    NotAppliedWithin {
        /// How long applying may take.
        within: Duration,
    },
}

impl Condition {
    /// Short stable name used in errors, files and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Condition::AnyFailed => "any-failed",
            Condition::SettingFailed { .. } => "setting-failed",
            Condition::StatusIn { .. } => "status-in",
            Condition::VerifyMismatch { .. } => "verify-mismatch",
            Condition::PayloadIncomplete => "payload-incomplete",
            Condition::NotAppliedWithin { .. } => "not-applied-within",
        }
    }
}

/// How much a failure report says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, bincode::BorrowDecode)]
pub enum Detail {
    /// Only counts: how many settings failed and the first failing status.
    Summary,
    /// Every finding: setting index, status code and reason.
    PerSetting,
}

/// Retries of an unacknowledged report: when each resend falls due is
/// [`rules::retry_instant`](crate::rules::retry_instant), when the device stops is
/// [`rules::give_up`](crate::rules::give_up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, bincode::BorrowDecode)]
pub struct RetryPolicy {
    /// Total sends allowed, the first included (1 = never retry).
    pub attempts: u32,
    /// Delay before the first retry; doubles with each further retry.
    pub backoff: Duration,
    /// Upper bound of the doubling delay.
    pub max_backoff: Duration,
}

/// When and how an exceptional device reports: the first slot is
/// [`rules::first_report_at`](crate::rules::first_report_at), settlement after the deadline
/// is [`rules::settles`](crate::rules::settles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, bincode::BorrowDecode)]
pub struct ReportPolicy {
    /// Quiet time after evaluation before the window opens.
    pub offset: Duration,
    /// The window the reports are spread over (by the slot function). Must be non-zero.
    pub window: Duration,
    /// Retries until acknowledged.
    pub retry: RetryPolicy,
    /// Counted from the campaign's `issued_at`: after it the server settles (silent targets
    /// are presumed OK) and devices stop retrying. Must not end before the report window
    /// of a device that received the broadcast at `issued_at`.
    pub deadline: Duration,
    /// How much each report says.
    pub detail: Detail,
}

/// What the server does for a device that reported a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, bincode::BorrowDecode)]
pub enum CareAction {
    /// Unicast re-provisioning of the settings that failed (needs `Detail::PerSetting`).
    ReprovisionFailed,
    /// Unicast re-provisioning of every setting of the campaign.
    ReprovisionAll,
    /// No re-provisioning: the device is escalated to the operator at once.
    NotifyOnly,
}

/// What happens when every care attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, bincode::BorrowDecode)]
pub enum AfterCare {
    /// Raise an escalation for a human.
    Escalate,
    /// Record that care was given up; nobody is paged.
    GiveUp,
}

/// The server's care for one failed device: which settings is
/// [`rules::care_settings`](crate::rules::care_settings), what follows a failed attempt is
/// [`rules::after_failed_care`](crate::rules::after_failed_care).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, bincode::BorrowDecode)]
pub struct CarePolicy {
    /// What to send.
    pub action: CareAction,
    /// Most care attempts per device (≥ 1).
    pub attempts: u32,
    /// Time between a failed attempt and the next.
    pub spacing: Duration,
    /// After the last failed attempt.
    pub then: AfterCare,
    /// How long a dispatched care order may go without an outcome before it counts as a
    /// failed attempt ([`rules::care_expires`](crate::rules::care_expires)). Non-zero.
    pub timeout: Duration,
}

/// The care timeout a schedule that states none gets, and the one every campaign of
/// payload format 1 and schema 1 had: 1 hour.
pub const DEFAULT_CARE_TIMEOUT: Duration = Duration::from_hours(1);

/// Pause care when the rollout itself looks broken ([`rules::abort_trips`](crate::rules::abort_trips)).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, bincode::BorrowDecode)]
pub struct AbortPolicy {
    /// Pause when failure reports / targets exceeds this (0 < ratio < 1).
    pub failure_ratio: f64,
    /// … but only once at least this many failure reports arrived.
    pub min_reports: u64,
}

/// The schedule for exceptional situations, shipped with the settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CareSchedule {
    /// How long after receiving the payload the device evaluates the outcome
    /// ([`rules::evaluation_due`](crate::rules::evaluation_due)).
    pub evaluate_after: Duration,
    /// Any matching condition makes the device exceptional and it reports
    /// ([`rules::is_exceptional`](crate::rules::is_exceptional)).
    pub conditions: Vec<Condition>,
    /// When and how it reports.
    pub report: ReportPolicy,
    /// Parts per million of healthy devices that send a tiny success report, the coverage
    /// probe ([`rules::sends_probe`](crate::rules::sends_probe)).
    pub sample_success_ppm: u32,
    /// The server's care.
    pub care: CarePolicy,
    /// Optional pause threshold.
    pub abort: Option<AbortPolicy>,
}

impl Default for CareSchedule {
    /// The documented defaults for a campaign that states no schedule: evaluate 5 minutes
    /// after receipt; report on `any-failed` or `payload-incomplete`, after a 1-minute
    /// offset, spread over a 1-hour window, 5 attempts with backoff 2 minutes doubling to
    /// 30 minutes; deadline 24 hours after issue; per-setting detail; sample 0.1% of
    /// healthy devices; re-provision the failed settings up to 3 times, 15 minutes apart,
    /// each given 1 hour to answer, then escalate; no abort threshold.
    fn default() -> Self {
        CareSchedule {
            evaluate_after: Duration::from_mins(5),
            conditions: vec![Condition::AnyFailed, Condition::PayloadIncomplete],
            report: ReportPolicy {
                offset: Duration::from_mins(1),
                window: Duration::from_hours(1),
                retry: RetryPolicy {
                    attempts: 5,
                    backoff: Duration::from_mins(2),
                    max_backoff: Duration::from_mins(30),
                },
                deadline: Duration::from_hours(24),
                detail: Detail::PerSetting,
            },
            sample_success_ppm: 1_000,
            care: CarePolicy {
                action: CareAction::ReprovisionFailed,
                attempts: 3,
                spacing: Duration::from_mins(15),
                then: AfterCare::Escalate,
                timeout: DEFAULT_CARE_TIMEOUT,
            },
            abort: None,
        }
    }
}

/// Most report attempts a schedule may ask for.
pub const MAX_REPORT_ATTEMPTS: u32 = 32;
/// Most care attempts a schedule may ask for.
pub const MAX_CARE_ATTEMPTS: u32 = 32;
/// Longest care timeout a schedule may ask for: 7 days.
pub const MAX_CARE_TIMEOUT: Duration = Duration::from_hours(7 * 24);

impl CareSchedule {
    /// The earliest time after evaluation that a device that received the payload at
    /// `issued_at` can be done with its first report: `evaluate_after + offset + window`.
    pub fn first_window_end(&self) -> Duration {
        self.evaluate_after
            .plus(self.report.offset)
            .plus(self.report.window)
    }

    /// The longest time a device's resends can take after its first send: for each retry
    /// `n` (1 to `attempts - 1`), the longest delay [`backoff_cap`] allows.
    pub fn retry_span(&self) -> Duration {
        let r = &self.report.retry;
        let total = (1..r.attempts)
            .map(|n| backoff_cap(n, r.backoff, r.max_backoff).as_millis())
            .fold(0u64, u64::saturating_add);
        Duration(total)
    }

    /// Checks the schedule against the campaign's `settings`.
    pub fn validate(&self, settings: &[Setting], limits: &Limits) -> Result<(), ValidationError> {
        if self.conditions.is_empty() {
            return Err(ValidationError::new(
                "schedule.conditions",
                "at least one condition is needed, or no device would ever report",
            ));
        }
        if self.conditions.len() > limits.max_conditions {
            return Err(ValidationError::new(
                "schedule.conditions",
                format!(
                    "has {} conditions, the limit is {}",
                    self.conditions.len(),
                    limits.max_conditions
                ),
            ));
        }
        for (i, c) in self.conditions.iter().enumerate() {
            let field = || format!("schedule.conditions[{i}]");
            match c {
                Condition::SettingFailed { uri_prefix } if !uri_prefix.starts_with("./") => {
                    return Err(ValidationError::new(
                        field(),
                        format!("setting-failed prefix {uri_prefix:?} must start with \"./\""),
                    ));
                }
                Condition::VerifyMismatch { uri } if !settings.iter().any(|s| &s.uri == uri) => {
                    return Err(ValidationError::new(
                        field(),
                        format!(
                            "verify-mismatch uri {uri:?} is not one of the campaign's settings"
                        ),
                    ));
                }
                Condition::StatusIn { codes } if codes.is_empty() => {
                    return Err(ValidationError::new(
                        field(),
                        "status-in needs at least one code",
                    ));
                }
                Condition::StatusIn { codes } => {
                    if let Some(c) = codes.iter().find(|c| !(100..=599).contains(*c)) {
                        return Err(ValidationError::new(
                            field(),
                            format!("status-in code {c} is not a DM status code (100..=599)"),
                        ));
                    }
                }
                Condition::NotAppliedWithin { within } => {
                    if *within == Duration::ZERO {
                        return Err(ValidationError::new(
                            field(),
                            "not-applied-within needs a non-zero duration",
                        ));
                    }
                    if *within > self.evaluate_after {
                        return Err(ValidationError::new(
                            field(),
                            format!(
                                "not-applied-within {within} is longer than evaluate_after {}: \
                                 the device evaluates before it could tell",
                                self.evaluate_after
                            ),
                        ));
                    }
                }
                _ => {}
            }
        }
        let r = &self.report;
        if r.window == Duration::ZERO {
            return Err(ValidationError::new(
                "schedule.report.window",
                "must be longer than zero (reports are spread over it)",
            ));
        }
        if r.retry.attempts == 0 || r.retry.attempts > MAX_REPORT_ATTEMPTS {
            return Err(ValidationError::new(
                "schedule.report.retry.attempts",
                format!("is {}, must be 1..={MAX_REPORT_ATTEMPTS}", r.retry.attempts),
            ));
        }
        if r.retry.attempts > 1 && r.retry.backoff == Duration::ZERO {
            return Err(ValidationError::new(
                "schedule.report.retry.backoff",
                "must be longer than zero when retries are allowed",
            ));
        }
        if r.retry.max_backoff < r.retry.backoff {
            return Err(ValidationError::new(
                "schedule.report.retry.max_backoff",
                format!(
                    "{} is shorter than backoff {}",
                    r.retry.max_backoff, r.retry.backoff
                ),
            ));
        }
        let end = self.first_window_end();
        if r.deadline < end {
            return Err(ValidationError::new(
                "schedule.report.deadline",
                format!(
                    "{} ends before the report window does (evaluate_after + offset + window = {end})",
                    r.deadline
                ),
            ));
        }
        // A device whose slot is the window's last must still have every retry the policy
        // allows: otherwise one lost report is a silent failure presumed OK.
        let needed = end.plus(self.retry_span());
        if r.deadline < needed {
            return Err(ValidationError::new(
                "schedule.report.deadline",
                format!(
                    "{} leaves the window's last slot without its retries (evaluate_after + offset + window + the retry delays = {needed})",
                    r.deadline
                ),
            ));
        }
        if self.sample_success_ppm > 1_000_000 {
            return Err(ValidationError::new(
                "schedule.sample_success_ppm",
                format!(
                    "is {}, must be at most 1000000 (= every device)",
                    self.sample_success_ppm
                ),
            ));
        }
        if self.care.attempts == 0 || self.care.attempts > MAX_CARE_ATTEMPTS {
            return Err(ValidationError::new(
                "schedule.care.attempts",
                format!("is {}, must be 1..={MAX_CARE_ATTEMPTS}", self.care.attempts),
            ));
        }
        if self.care.timeout == Duration::ZERO || self.care.timeout > MAX_CARE_TIMEOUT {
            return Err(ValidationError::new(
                "schedule.care.timeout",
                format!(
                    "is {}, must be longer than zero and at most {MAX_CARE_TIMEOUT} \
                     (a care order without an outcome by then counts as failed)",
                    self.care.timeout
                ),
            ));
        }
        if self.care.action == CareAction::ReprovisionFailed && r.detail == Detail::Summary {
            return Err(ValidationError::new(
                "schedule.care.action",
                "reprovision-failed needs report.detail = per-setting: \
                 a summary does not say which settings failed",
            ));
        }
        if let Some(a) = &self.abort {
            if !(a.failure_ratio > 0.0 && a.failure_ratio < 1.0) {
                return Err(ValidationError::new(
                    "schedule.abort.failure_ratio",
                    format!(
                        "is {}, must be in (0, 1): care pauses once failures exceed it, \
                         which they never can at 100%",
                        a.failure_ratio
                    ),
                ));
            }
            if a.min_reports == 0 {
                return Err(ValidationError::new(
                    "schedule.abort.min_reports",
                    "must be at least 1",
                ));
            }
        }
        Ok(())
    }
}

/// Whether `uri` lies in the subtree `prefix`, by whole path segments.
pub fn uri_in_subtree(uri: &str, prefix: &str) -> bool {
    let prefix = prefix.strip_suffix('/').unwrap_or(prefix);
    match uri.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// Whether a DM status code means the command succeeded (2xx).
pub fn is_success(status: u16) -> bool {
    (200..=299).contains(&status)
}

/// The longest delay before resend `retry` (from 1): `min(backoff · 2^(retry-1),
/// max_backoff)`, saturating. [`crate::slot::backoff_delay`] draws between half of it and all of it.
pub fn backoff_cap(retry: u32, backoff: Duration, max_backoff: Duration) -> Duration {
    let shift = retry.saturating_sub(1).min(63);
    let base = backoff.as_millis();
    let doubled = base.checked_shl(shift).filter(|v| v >> shift == base);
    Duration(doubled.unwrap_or(u64::MAX).min(max_backoff.as_millis()))
}
