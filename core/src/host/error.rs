//! [`HostError`]: the one error of the host flows, what the C API and the bindings convert.

use crate::alert::AlertError;
use crate::device::DeviceError;
#[cfg(feature = "server")]
use crate::file::FileError;
use crate::host::streams::RuntimeError;
use crate::payload::PayloadError;
#[cfg(feature = "server")]
use crate::server::ServerError;
use crate::store::StoreError;
use crate::wire::ReportError;

/// Which layer refused: it prefixes the C result name of a reason (`DEVCARE_PAYLOAD_…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// An argument of the call itself (an id, a key length, an unknown campaign).
    Call,
    /// The broadcast payload's checks ([`PayloadError`]).
    Payload,
    /// The report wire format's checks ([`ReportError`]).
    Report,
    /// The OMA DM Generic Alert parser ([`AlertError`]).
    Alert,
    /// A decider's rules ([`DeviceError`], [`ServerError`]).
    Decider,
    /// A campaign file ([`FileError`]).
    CampaignFile,
    /// The event store ([`StoreError`]).
    Store,
}

/// Why a host flow failed. Every variant but [`HostError::Store`] changed no state.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HostError {
    /// An argument is malformed: an id that breaks the id rules, a key of the wrong length.
    #[error("{what}: {detail}")]
    InvalidArgument {
        /// Which argument.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// No campaign of that id on this handle.
    #[error("no campaign {0} here")]
    UnknownCampaign(String),
    /// The device decider refused.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// The server decider refused.
    #[cfg(feature = "server")]
    #[error(transparent)]
    Server(#[from] ServerError),
    /// A payload was refused before it reached the decider, or could not be built.
    #[error("payload refused: {0}")]
    Payload(#[from] PayloadError),
    /// Report bytes could not be made or read.
    #[error("report: {0}")]
    Report(#[from] ReportError),
    /// An OMA DM message is not well-formed devcare Generic Alerts.
    #[error("alert: {0} (DM status {status})", status = .0.dm_status())]
    Alert(#[from] AlertError),
    /// A campaign file does not parse or validate (located at file:line:col).
    #[cfg(feature = "server")]
    #[error(transparent)]
    CampaignFile(#[from] FileError),
    /// The event store failed; the handle's state was reloaded from the store.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A key file of another kind than needed, or not a key file.
    #[cfg(feature = "server")]
    #[error("key file: {0}")]
    KeyFile(#[from] crate::keyfile::KeyFileError),
}

impl HostError {
    /// The stable kebab-case name of the refusal: the inner error's `reason()`.
    pub fn reason(&self) -> &'static str {
        match self {
            HostError::InvalidArgument { .. } => "invalid-argument",
            HostError::UnknownCampaign(_) => "unknown-campaign",
            HostError::Device(e) => e.reason(),
            #[cfg(feature = "server")]
            HostError::Server(e) => e.reason(),
            HostError::Payload(e) => e.reason(),
            HostError::Report(e) => e.reason(),
            HostError::Alert(e) => e.reason(),
            #[cfg(feature = "server")]
            HostError::CampaignFile(_) => "campaign-file",
            HostError::Store(e) => e.reason(),
            #[cfg(feature = "server")]
            HostError::KeyFile(e) => e.reason(),
        }
    }

    /// The layer that refused.
    pub fn layer(&self) -> Layer {
        match self {
            HostError::InvalidArgument { .. } | HostError::UnknownCampaign(_) => Layer::Call,
            HostError::Device(_) => Layer::Decider,
            #[cfg(feature = "server")]
            HostError::Server(_) => Layer::Decider,
            HostError::Payload(_) => Layer::Payload,
            HostError::Report(_) => Layer::Report,
            HostError::Alert(_) => Layer::Alert,
            #[cfg(feature = "server")]
            HostError::CampaignFile(_) => Layer::CampaignFile,
            HostError::Store(_) => Layer::Store,
            #[cfg(feature = "server")]
            HostError::KeyFile(_) => Layer::Call,
        }
    }

    pub(crate) fn invalid(what: &'static str, detail: impl ToString) -> Self {
        HostError::InvalidArgument {
            what,
            detail: detail.to_string(),
        }
    }
}

impl<E: Into<HostError>> From<RuntimeError<E>> for HostError {
    fn from(e: RuntimeError<E>) -> Self {
        match e {
            RuntimeError::Refused(e) => e.into(),
            RuntimeError::Store(e) => HostError::Store(e),
            RuntimeError::Payload(e) => HostError::Payload(e),
        }
    }
}

#[cfg(feature = "server")]
impl From<crate::host::IngestRejection> for HostError {
    fn from(e: crate::host::IngestRejection) -> Self {
        match e {
            crate::host::IngestRejection::Wire(e) => HostError::Report(e),
            crate::host::IngestRejection::Refused(e) => HostError::Server(e),
            crate::host::IngestRejection::Alert(e) => HostError::Alert(e),
        }
    }
}
