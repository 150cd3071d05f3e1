//! [`DevcareError`], the one error of the bindings, mapped from [`HostError`].

use devcare::host::{HostError, Layer};

/// The one error type of the bindings.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum DevcareError {
    /// devcare refused the input (a forged payload, a stale revision, a duplicate…):
    /// nothing changed. `reason` is the error's stable name (`reason()` in Rust; the C code
    /// is `DEVCARE_` + layer + the same name).
    #[error("refused ({reason}): {detail}")]
    Refused {
        /// Stable kebab-case name, e.g. "bad-signature", "not-targeted", "stale-revision".
        reason: String,
        /// What happened.
        detail: String,
    },
    /// An argument is malformed (a key of the wrong length, an invalid id, a bad campaign
    /// file — with file:line:col).
    #[error("invalid input: {detail}")]
    InvalidInput {
        /// What is wrong.
        detail: String,
    },
    /// The event store failed.
    #[error("store: {detail}")]
    Store {
        /// What failed.
        detail: String,
    },
    /// The host's DM tree callback failed.
    #[error("host callback failed: {detail}")]
    Callback {
        /// The host's message.
        detail: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for DevcareError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        DevcareError::Callback { detail: e.reason }
    }
}

impl From<HostError> for DevcareError {
    fn from(e: HostError) -> Self {
        let detail = e.to_string();
        match e.layer() {
            Layer::Store => DevcareError::Store { detail },
            Layer::CampaignFile => DevcareError::InvalidInput { detail },
            _ if matches!(e, HostError::InvalidArgument { .. }) => {
                DevcareError::InvalidInput { detail }
            }
            _ => DevcareError::Refused {
                reason: e.reason().to_string(),
                detail,
            },
        }
    }
}
