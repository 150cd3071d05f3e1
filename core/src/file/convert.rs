//! Between the file's structures and the model: every problem names its field path.

use super::schema::*;
use crate::model::{
    Campaign, CampaignId, DeviceId, Duration, Setting, SettingOp, TargetSet, Value,
};
use crate::schedule::{
    AbortPolicy, AfterCare, CareAction, CarePolicy, CareSchedule, Condition, Detail, ReportPolicy,
    RetryPolicy,
};
use crate::server::{CoverageFloor, Fallback};
use crate::text::{hex_decode, hex_encode};

/// A conversion error before we know its span: the field path and the message.
pub(super) struct Problem {
    pub(super) path: String,
    pub(super) message: String,
}

fn problem(path: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        path: path.into(),
        message: message.into(),
    }
}

fn ppm_of(path: &str, r: Ratio) -> Result<u32, Problem> {
    if !(0.0..=1.0).contains(&r.0) {
        return Err(problem(
            path,
            format!("must be between 0% and 100%, is {}", r.0),
        ));
    }
    Ok((r.0 * 1e6).round() as u32)
}

impl FileCoverage {
    /// The policy, checked: a known fallback, a pace only (and always) for unicast, a floor
    /// in (0, 1].
    pub(super) fn into_policy(self) -> Result<CoverageFloor, Problem> {
        let fallback = match (self.fallback.as_deref().unwrap_or("none"), self.pace) {
            ("none", None) => Fallback::None,
            ("rebroadcast", None) => Fallback::Rebroadcast,
            ("unicast", Some(per_minute)) => Fallback::Unicast { per_minute },
            ("repair", Some(per_minute)) => Fallback::Repair { per_minute },
            ("unicast" | "repair", None) => {
                return Err(problem(
                    "coverage.pace",
                    "a unicast or repair fallback needs a pace (devices per minute)",
                ));
            }
            ("none" | "rebroadcast", Some(_)) => {
                return Err(problem(
                    "coverage.pace",
                    "only a unicast or repair fallback has a pace",
                ));
            }
            (other, _) => {
                return Err(problem(
                    "coverage.fallback",
                    format!("{other:?} is not one of none, rebroadcast, unicast, repair"),
                ));
            }
        };
        let policy = CoverageFloor {
            floor: self.floor.0,
            fallback,
        };
        policy.validate().map_err(|m| {
            let field = if m.contains("pace") {
                "coverage.pace"
            } else {
                "coverage.floor"
            };
            problem(field, m)
        })?;
        Ok(policy)
    }
}

impl FileCampaign {
    /// The `[coverage]` policy, checked, if the file has one.
    pub(super) fn coverage_policy(&mut self) -> Result<Option<CoverageFloor>, Problem> {
        self.coverage
            .take()
            .map(FileCoverage::into_policy)
            .transpose()
    }

    /// The `[[group_breaker]]` thresholds, checked (a group's size, when the file omits it,
    /// is checked where the server's directory counts it).
    pub(super) fn group_thresholds(&mut self) -> Result<Vec<super::GroupThreshold>, Problem> {
        let list = self.group_breaker.take().unwrap_or_default();
        let mut out: Vec<super::GroupThreshold> = Vec::with_capacity(list.len());
        for (i, g) in list.into_iter().enumerate() {
            let t = super::GroupThreshold {
                group: g.group,
                failure_ratio: g.failure_ratio.0,
                min_reports: g.min_reports,
                devices: g.devices,
            };
            let checked: Vec<_> = out
                .iter()
                .chain([&t])
                .map(|t| t.with_size(t.devices.unwrap_or(1)))
                .collect();
            crate::server::GroupBreaker::validate(&checked).map_err(|m| {
                let field = if m.contains("ratio") {
                    "failure_ratio"
                } else if m.contains("min_reports") {
                    "min_reports"
                } else if m.contains("targets no device") {
                    "devices"
                } else {
                    "group"
                };
                problem(format!("group_breaker[{i}].{field}"), m)
            })?;
            out.push(t);
        }
        Ok(out)
    }

    pub(super) fn into_campaign(self) -> Result<Campaign, Problem> {
        let id = CampaignId::new(self.id).map_err(|e| problem("id", e.reason))?;
        let targets = match (self.targets.all, self.targets.groups, self.targets.devices) {
            (Some(true), None, None) => TargetSet::All,
            (None, Some(g), None) => TargetSet::groups(g),
            (None, None, Some(d)) => {
                let mut ids = Vec::with_capacity(d.len());
                for (i, s) in d.into_iter().enumerate() {
                    ids.push(
                        DeviceId::new(s)
                            .map_err(|e| problem(format!("targets.devices[{i}]"), e.reason))?,
                    );
                }
                TargetSet::devices(ids)
            }
            (Some(false), None, None) => {
                return Err(problem(
                    "targets.all",
                    "false targets nobody; name groups or devices instead",
                ));
            }
            _ => {
                return Err(problem(
                    "targets",
                    "give exactly one of all = true, groups = [...] or devices = [...]",
                ));
            }
        };
        let settings = self
            .settings
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let value = match s.value {
                    None => Value::Null,
                    Some(FileValue::Bool(b)) => Value::Bool(b),
                    Some(FileValue::Int(n)) => Value::Int(n),
                    Some(FileValue::Float(f)) => Value::Float(f),
                    Some(FileValue::Str(s)) => Value::Str(s.into()),
                    Some(FileValue::Bytes(b)) => {
                        Value::Bytes(hex_decode(&b.bytes).ok_or_else(|| {
                            problem(
                                format!("settings[{i}].value.bytes"),
                                format!("expected hex digits, found {:?}", b.bytes),
                            )
                        })?)
                    }
                };
                let op = match s.op {
                    FileOp::Add => SettingOp::Add,
                    FileOp::Replace => SettingOp::Replace,
                    FileOp::Delete => SettingOp::Delete,
                    FileOp::Exec => SettingOp::Exec,
                };
                Ok(Setting {
                    op,
                    uri: s.uri.into(),
                    value,
                })
            })
            .collect::<Result<Vec<_>, Problem>>()?;
        let schedule = self.schedule.unwrap_or_default().into_schedule()?;
        Ok(Campaign {
            id,
            revision: self.revision,
            issued_at: self.issued_at.0,
            salt: self.salt.0,
            targets,
            settings,
            schedule,
        })
    }

    pub(super) fn from_campaign(c: &Campaign) -> Self {
        let targets = match &c.targets {
            TargetSet::All => FileTargets {
                all: Some(true),
                groups: None,
                devices: None,
            },
            TargetSet::Groups(g) => FileTargets {
                all: None,
                groups: Some(g.clone()),
                devices: None,
            },
            TargetSet::Devices(d) => FileTargets {
                all: None,
                groups: None,
                devices: Some(d.iter().map(|d| d.to_string()).collect()),
            },
        };
        let settings = c
            .settings
            .iter()
            .map(|s| FileSetting {
                op: match s.op {
                    SettingOp::Add => FileOp::Add,
                    SettingOp::Replace => FileOp::Replace,
                    SettingOp::Delete => FileOp::Delete,
                    SettingOp::Exec => FileOp::Exec,
                },
                uri: s.uri.to_string(),
                value: match &s.value {
                    Value::Null => None,
                    Value::Bool(b) => Some(FileValue::Bool(*b)),
                    Value::Int(n) => Some(FileValue::Int(*n)),
                    Value::Float(f) => Some(FileValue::Float(*f)),
                    Value::Str(s) => Some(FileValue::Str(s.to_string())),
                    Value::Bytes(b) => Some(FileValue::Bytes(FileBytes {
                        bytes: hex_encode(b),
                    })),
                },
            })
            .collect();
        let s = &c.schedule;
        let schedule = FileSchedule {
            evaluate_after: Some(DurationStr(s.evaluate_after)),
            sample_success: Some(Ratio(f64::from(s.sample_success_ppm) / 1e6)),
            conditions: Some(
                s.conditions
                    .iter()
                    .map(|c| match c {
                        Condition::AnyFailed => FileCondition::AnyFailed,
                        Condition::SettingFailed { uri_prefix } => FileCondition::SettingFailed {
                            uri_prefix: uri_prefix.clone(),
                        },
                        Condition::StatusIn { codes } => FileCondition::StatusIn {
                            codes: codes.clone(),
                        },
                        Condition::VerifyMismatch { uri } => {
                            FileCondition::VerifyMismatch { uri: uri.clone() }
                        }
                        Condition::PayloadIncomplete => FileCondition::PayloadIncomplete,
                        Condition::NotAppliedWithin { within } => FileCondition::NotAppliedWithin {
                            within: DurationStr(*within),
                        },
                    })
                    .collect(),
            ),
            report: Some(FileReport {
                offset: Some(DurationStr(s.report.offset)),
                window: Some(DurationStr(s.report.window)),
                deadline: Some(DurationStr(s.report.deadline)),
                detail: Some(match s.report.detail {
                    Detail::Summary => FileDetail::Summary,
                    Detail::PerSetting => FileDetail::PerSetting,
                }),
                retry: Some(FileRetry {
                    attempts: Some(s.report.retry.attempts),
                    backoff: Some(DurationStr(s.report.retry.backoff)),
                    max_backoff: Some(DurationStr(s.report.retry.max_backoff)),
                }),
            }),
            care: Some(FileCare {
                action: Some(match s.care.action {
                    CareAction::ReprovisionFailed => FileAction::ReprovisionFailed,
                    CareAction::ReprovisionAll => FileAction::ReprovisionAll,
                    CareAction::NotifyOnly => FileAction::NotifyOnly,
                }),
                attempts: Some(s.care.attempts),
                spacing: Some(DurationStr(s.care.spacing)),
                then: Some(match s.care.then {
                    AfterCare::Escalate => FileThen::Escalate,
                    AfterCare::GiveUp => FileThen::GiveUp,
                }),
                timeout: Some(DurationStr(s.care.timeout)),
            }),
            abort: s.abort.map(|a| FileAbort {
                failure_ratio: Ratio(a.failure_ratio),
                min_reports: a.min_reports,
            }),
        };
        FileCampaign {
            id: c.id.to_string(),
            revision: c.revision,
            issued_at: Rfc3339(c.issued_at),
            salt: Salt(c.salt),
            targets,
            settings,
            schedule: Some(schedule),
            coverage: None,
            group_breaker: None,
        }
    }
}

impl FileSchedule {
    fn into_schedule(self) -> Result<CareSchedule, Problem> {
        let d = CareSchedule::default();
        let report = self.report.unwrap_or_default();
        let retry = report.retry.unwrap_or_default();
        let care = self.care.unwrap_or_default();
        let dur = |v: Option<DurationStr>, default: Duration| v.map_or(default, |v| v.0);
        Ok(CareSchedule {
            evaluate_after: dur(self.evaluate_after, d.evaluate_after),
            conditions: match self.conditions {
                None => d.conditions,
                Some(cs) => cs
                    .into_iter()
                    .map(|c| match c {
                        FileCondition::AnyFailed => Condition::AnyFailed,
                        FileCondition::SettingFailed { uri_prefix } => {
                            Condition::SettingFailed { uri_prefix }
                        }
                        FileCondition::StatusIn { codes } => Condition::StatusIn { codes },
                        FileCondition::VerifyMismatch { uri } => Condition::VerifyMismatch { uri },
                        FileCondition::PayloadIncomplete => Condition::PayloadIncomplete,
                        FileCondition::NotAppliedWithin { within } => {
                            Condition::NotAppliedWithin { within: within.0 }
                        }
                    })
                    .collect(),
            },
            report: ReportPolicy {
                offset: dur(report.offset, d.report.offset),
                window: dur(report.window, d.report.window),
                deadline: dur(report.deadline, d.report.deadline),
                detail: match report.detail {
                    None => d.report.detail,
                    Some(FileDetail::Summary) => Detail::Summary,
                    Some(FileDetail::PerSetting) => Detail::PerSetting,
                },
                retry: RetryPolicy {
                    attempts: retry.attempts.unwrap_or(d.report.retry.attempts),
                    backoff: dur(retry.backoff, d.report.retry.backoff),
                    max_backoff: dur(retry.max_backoff, d.report.retry.max_backoff),
                },
            },
            sample_success_ppm: match self.sample_success {
                None => d.sample_success_ppm,
                Some(r) => ppm_of("schedule.sample_success", r)?,
            },
            care: CarePolicy {
                action: match care.action {
                    None => d.care.action,
                    Some(FileAction::ReprovisionFailed) => CareAction::ReprovisionFailed,
                    Some(FileAction::ReprovisionAll) => CareAction::ReprovisionAll,
                    Some(FileAction::NotifyOnly) => CareAction::NotifyOnly,
                },
                attempts: care.attempts.unwrap_or(d.care.attempts),
                spacing: dur(care.spacing, d.care.spacing),
                then: match care.then {
                    None => d.care.then,
                    Some(FileThen::Escalate) => AfterCare::Escalate,
                    Some(FileThen::GiveUp) => AfterCare::GiveUp,
                },
                timeout: dur(care.timeout, d.care.timeout),
            },
            abort: self.abort.map(|a| AbortPolicy {
                failure_ratio: a.failure_ratio.0,
                min_reports: a.min_reports,
            }),
        })
    }
}
