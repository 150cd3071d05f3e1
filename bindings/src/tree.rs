//! The host's DM tree: a foreign trait the app implements in Kotlin, Swift or Python, and
//! the setting types it sees.

use devcare::{ApplyResult, Setting, SettingOp, Value, Verify};

use crate::DevcareError;

/// The DM command of a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum DmOp {
    /// Add.
    Add,
    /// Replace.
    Replace,
    /// Delete.
    Delete,
    /// Exec.
    Exec,
}

/// A typed DM node value.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum DmValue {
    /// No value.
    Null,
    /// Text.
    Str {
        /// The text.
        value: String,
    },
    /// Integer.
    Int {
        /// The integer.
        value: i64,
    },
    /// Boolean.
    Bool {
        /// The boolean.
        value: bool,
    },
    /// Float.
    Float {
        /// The float.
        value: f64,
    },
    /// Binary.
    Bytes {
        /// The bytes.
        value: Vec<u8>,
    },
}

/// One setting the host applies to its DM tree.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct DmSetting {
    /// The DM command.
    pub op: DmOp,
    /// The node, e.g. "./AP/Default/APN".
    pub uri: String,
    /// The value.
    pub value: DmValue,
}

/// A read-back check of a node after applying it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum VerifyOutcome {
    /// Not read back.
    NotChecked,
    /// Reads back as provisioned.
    Match,
    /// Reads back differently.
    Mismatch,
}

/// The host's result for one setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct ApplyOutcome {
    /// OMA DM status code (200 ok; 404, 405, 415, 420, 500 … failures).
    pub status: u16,
    /// Read-back check.
    pub verify: VerifyOutcome,
}

/// The app's DM tree, implemented in Kotlin, Swift or Python.
#[uniffi::export(with_foreign)]
pub trait DmTree: Send + Sync {
    /// Applies one setting; returns its OMA DM status code. Throwing stops the apply: the
    /// remaining settings count as not applied (which `payload-incomplete` detects).
    fn apply(&self, setting: DmSetting) -> Result<ApplyOutcome, DevcareError>;
}

fn to_dm(s: &Setting) -> DmSetting {
    DmSetting {
        op: match s.op {
            SettingOp::Add => DmOp::Add,
            SettingOp::Replace => DmOp::Replace,
            SettingOp::Delete => DmOp::Delete,
            SettingOp::Exec => DmOp::Exec,
        },
        uri: s.uri.to_string(),
        value: match &s.value {
            Value::Null => DmValue::Null,
            Value::Str(v) => DmValue::Str {
                value: v.to_string(),
            },
            Value::Int(v) => DmValue::Int { value: *v },
            Value::Bool(v) => DmValue::Bool { value: *v },
            Value::Float(v) => DmValue::Float { value: *v },
            Value::Bytes(v) => DmValue::Bytes { value: v.clone() },
        },
    }
}

/// The foreign tree as the closure the host flows call for each setting.
pub(crate) fn apply_with(
    tree: &dyn DmTree,
) -> impl FnMut(&Setting) -> Result<ApplyResult, DevcareError> + '_ {
    |s| Ok(to_result(tree.apply(to_dm(s))?))
}

/// The core's result for one outcome.
pub(crate) fn to_result(o: ApplyOutcome) -> ApplyResult {
    ApplyResult {
        status: o.status,
        verify: match o.verify {
            VerifyOutcome::NotChecked => Verify::NotChecked,
            VerifyOutcome::Match => Verify::Match,
            VerifyOutcome::Mismatch => Verify::Mismatch,
        },
    }
}
