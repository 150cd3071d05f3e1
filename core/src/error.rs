//! Errors of the core layer. Each says what was wrong and where.

use std::borrow::Cow;

/// A campaign, schedule or identifier broke a rule. `field` is the path of the offending
/// field (`schedule.report.window`, `settings[3].uri`), `reason` says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ValidationError {
    /// Path of the offending field.
    pub field: Cow<'static, str>,
    /// What is wrong with it.
    pub reason: Cow<'static, str>,
}

impl ValidationError {
    /// A new error for `field`.
    pub fn new(field: impl Into<Cow<'static, str>>, reason: impl Into<Cow<'static, str>>) -> Self {
        ValidationError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
