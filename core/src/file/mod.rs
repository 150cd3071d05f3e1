//! Campaign files: the TOML an operator writes.
//!
//! Strict: unknown keys are errors; durations are strings like `"30s"`, `"2h"`, `"7d"`;
//! ratios are `"5%"` or `0.05`; `issued_at` is an RFC 3339 date-time with an offset; setting
//! values are typed by their TOML type (`{ bytes = "hex" }` for binary, absent for none).
//! Every error says `file:line:col: field.path: what is wrong`. Parts of the schedule that
//! the file leaves out take the values of
//! [`CareSchedule::default`](crate::schedule::CareSchedule::default).
//!
//! ```toml
//! id = "apn-2026-11"
//! revision = 1
//! issued_at = 2026-11-25T10:00:00Z
//! salt = "000102030405060708090a0b0c0d0e0f"
//! targets = { all = true }
//!
//! [[settings]]
//! op = "replace"
//! uri = "./AP/Default/APN"
//! value = "internet.example"
//!
//! [schedule.report]
//! window = "2h"
//! ```

mod convert;
mod locate;
mod schema;

use crate::model::{Campaign, Limits};
use crate::server::CoverageFloor;
use locate::{file_path_of, located, span_of};
use schema::FileCampaign;

/// A campaign file that could not be read, with its location.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{col}: {path}{sep}{message}", sep = if path.is_empty() { "" } else { ": " })]
pub struct FileError {
    /// The file name as given.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub col: usize,
    /// Dotted field path (`schedule.report.window`, `settings[2].uri`), empty for syntax errors.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl Campaign {
    /// Parses and validates a campaign file. `file` names it in errors.
    pub fn from_toml(file: &str, text: &str) -> Result<Campaign, FileError> {
        Self::from_toml_with_limits(file, text, &Limits::DEFAULT)
    }

    /// [`Campaign::from_toml`] with explicit limits.
    pub fn from_toml_with_limits(
        file: &str,
        text: &str,
        limits: &Limits,
    ) -> Result<Campaign, FileError> {
        Ok(parse_campaign_file(file, text, limits)?.0)
    }

    /// Writes the campaign as a campaign file that [`Campaign::from_toml`] reads back to an
    /// equal campaign. Every schedule field is written out.
    pub fn to_toml(&self) -> String {
        toml::to_string(&FileCampaign::from_campaign(self))
            .unwrap_or_else(|e| format!("# cannot write campaign: {e}\n"))
    }
}

/// A directory group's own abort threshold, as a campaign file's `[[group_breaker]]` gives
/// it (`docs/design.md`, "Per-group breakers").
#[derive(Debug, Clone, PartialEq)]
pub struct GroupThreshold {
    /// The directory group.
    pub group: String,
    /// Pause the group's care above this share of its members expected to have reported.
    pub failure_ratio: f64,
    /// … once at least this many of them reported a failure.
    pub min_reports: u64,
    /// The group's targeted members; `None`: counted over the server's directory.
    pub devices: Option<u64>,
}

impl GroupThreshold {
    /// The server's threshold for a group of `targeted` members.
    pub fn with_size(&self, targeted: u64) -> crate::server::GroupBreaker {
        crate::server::GroupBreaker {
            group: self.group.clone(),
            targeted,
            failure_ratio: self.failure_ratio,
            min_reports: self.min_reports,
        }
    }
}

/// A campaign file's server-side policy: what the server keeps and the payload does not
/// carry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServerPolicy {
    /// `[coverage]`: the coverage floor and its fallback.
    pub coverage: Option<CoverageFloor>,
    /// `[[group_breaker]]`: groups with abort thresholds of their own.
    pub group_breakers: Vec<GroupThreshold>,
}

/// [`parse_campaign_file`] with the whole server-side policy: `[coverage]` and
/// `[[group_breaker]]`.
pub fn parse_campaign_policy(
    file: &str,
    text: &str,
    limits: &Limits,
) -> Result<(Campaign, ServerPolicy), FileError> {
    parse_with_policy(file, text, limits)
}

/// Parses and validates a campaign file: the campaign, and its server-side `[coverage]`
/// policy if it has one (the coverage floor and its fallback, which the server keeps and the
/// payload does not carry; `docs/design.md`, "Coverage fallback"). `file` names it in
/// errors.
pub fn parse_campaign_file(
    file: &str,
    text: &str,
    limits: &Limits,
) -> Result<(Campaign, Option<CoverageFloor>), FileError> {
    parse_with_policy(file, text, limits).map(|(c, p)| (c, p.coverage))
}

fn parse_with_policy(
    file: &str,
    text: &str,
    limits: &Limits,
) -> Result<(Campaign, ServerPolicy), FileError> {
    let de = toml::Deserializer::parse(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        located(
            file,
            text,
            span,
            String::new(),
            e.message().trim().to_string(),
        )
    })?;
    let mut parsed: FileCampaign = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let span = inner.span().unwrap_or_else(|| span_of(text, &path));
        let path = if path == "." { String::new() } else { path };
        located(file, text, span, path, inner.message().trim().to_string())
    })?;
    let problem_at = |p: convert::Problem| {
        let span = span_of(text, &p.path);
        located(file, text, span, p.path, p.message)
    };
    let coverage = parsed.coverage_policy().map_err(problem_at)?;
    let group_breakers = parsed.group_thresholds().map_err(problem_at)?;
    let campaign = parsed.into_campaign().map_err(problem_at)?;
    campaign.validate(limits).map_err(|e| {
        let path = file_path_of(&e.field);
        let span = span_of(text, &path);
        located(file, text, span, path, e.reason.into_owned())
    })?;
    if coverage.is_some() && campaign.schedule.sample_success_ppm == 0 {
        let span = span_of(text, "coverage.floor");
        return Err(located(
            file,
            text,
            span,
            "coverage.floor".into(),
            "a coverage floor needs success probes: schedule.sample_success is 0%".into(),
        ));
    }
    Ok((
        campaign,
        ServerPolicy {
            coverage,
            group_breakers,
        },
    ))
}
