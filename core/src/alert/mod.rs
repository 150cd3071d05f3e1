//! OMA DM 1.2 interop: a report as a Generic Alert (alert code 1226), rendered on the device
//! side and parsed on the server side.
//!
//! One `<Item>` per finding (or one summary / success Item). Each Item stands alone: its
//! `<Data>` repeats the report identity, so a server can route any Item.
//!
//! ```xml
//! <Alert>
//!   <CmdID>2</CmdID>
//!   <Data>1226</Data>
//!   <Item>
//!     <Source><LocURI>./Vendor/devcare/Campaign/apn-2026-11</LocURI></Source>
//!     <Meta>
//!       <Type xmlns="syncml:metinf">Reversed-Domain-Name: org.devcare.report.failure</Type>
//!       <Format xmlns="syncml:metinf">chr</Format>
//!       <Mark xmlns="syncml:metinf">critical</Mark>
//!     </Meta>
//!     <Data>devcare/1 campaign=apn-2026-11 revision=3 device=IMEI:1 attempt=1
//!       evaluated_at=1780000300000 finding=status index=1 code=404 uri=./AP/Default/Auth</Data>
//!   </Item>
//! </Alert>
//! ```
//!
//! Alert types (reversed domain names of this project): `org.devcare.report.failure`
//! (Mark `critical`) and `org.devcare.report.success` (Mark `informational`). The parser is
//! tolerant of what real stacks emit: Correlator before or after Data, Meta before or after
//! Source, Type with or without the `Reversed-Domain-Name:` prefix, a missing Mark,
//! several Items, whitespace, namespace declarations or prefixes on Meta children, and a
//! bare `<Alert>` or a whole `<SyncML>` message. Limits on message size and Item count are
//! checked before anything is allocated for them.

#[cfg(feature = "server")]
mod package;
#[cfg(feature = "server")]
mod parse;
mod render;
pub mod wbxml;

#[cfg(feature = "server")]
pub use package::{ForeignAlert, ForeignItem, Package, PackageAlert, parse_package, render_status};
#[cfg(feature = "server")]
pub use parse::parse_alerts;

use crate::model::DeviceId;
#[cfg(feature = "server")]
use crate::report::Report;
pub use render::{
    SyncHeader, render_alert, render_alert_as, render_items, render_syncml, render_syncml_as,
    report_items,
};

/// Generic Alert code.
pub const GENERIC_ALERT: &str = "1226";
/// Alert type of a failure report.
pub const TYPE_FAILURE: &str = "org.devcare.report.failure";
/// Alert type of a sampled success report.
pub const TYPE_SUCCESS: &str = "org.devcare.report.success";
/// Version token that starts every Item's Data.
pub const DATA_VERSION: &str = "devcare/1";

/// How an Item's Data is encoded (OMA DM `Meta/Format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DataFormat {
    /// Characters: the Data is the text itself (the default).
    #[default]
    Chr,
    /// Base64 (RFC 4648, standard alphabet) of the text's UTF-8 bytes; line breaks allowed.
    B64,
}

impl DataFormat {
    /// The Format element's text: `chr` or `b64`.
    pub fn as_str(self) -> &'static str {
        match self {
            DataFormat::Chr => "chr",
            DataFormat::B64 => "b64",
        }
    }
}

/// How a DM message is encoded on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// XML, `application/vnd.syncml.dm+xml` (the default).
    #[default]
    Xml,
    /// WBXML, `application/vnd.syncml.dm+wbxml` ([`wbxml`]).
    Wbxml,
}

impl Encoding {
    /// The message's content type.
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Xml => "application/vnd.syncml.dm+xml",
            Encoding::Wbxml => "application/vnd.syncml.dm+wbxml",
        }
    }

    /// The encoding of `message`, told by its first bytes ([`wbxml::is_wbxml`]).
    pub fn sniff(message: &[u8]) -> Self {
        if wbxml::is_wbxml(message) {
            Encoding::Wbxml
        } else {
            Encoding::Xml
        }
    }

    /// A whole DM message in this encoding (WBXML with a string table).
    pub fn encode(self, xml: &str) -> Result<Vec<u8>, AlertError> {
        match self {
            Encoding::Xml => Ok(xml.as_bytes().to_vec()),
            Encoding::Wbxml => wbxml::xml_to_wbxml(xml, true).map_err(AlertError::MalformedWbxml),
        }
    }
}

/// One Item of a report's Generic Alert, as a DM toolkit builds it (e.g. libdmclient's
/// `omadmclient_add_generic_alert` takes source, type, format, mark and data): the host
/// puts these in its own package instead of devcare's XML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertItem {
    /// `Source/LocURI`: `./Vendor/devcare/Campaign/<campaign>`.
    pub source: String,
    /// `Meta/Type`, without the `Reversed-Domain-Name:` prefix: [`TYPE_FAILURE`] or
    /// [`TYPE_SUCCESS`].
    pub ty: String,
    /// `Meta/Format`.
    pub format: DataFormat,
    /// `Meta/Mark`: `critical` for a failure, `informational` for a success probe.
    pub mark: String,
    /// `Data`, encoded as `format` says.
    pub data: String,
}

/// Limits applied before parsing allocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertLimits {
    /// Largest message, in bytes.
    pub max_bytes: usize,
    /// Most Items in one message.
    pub max_items: usize,
}

impl Default for AlertLimits {
    /// 64 KiB, 512 Items.
    fn default() -> Self {
        AlertLimits {
            max_bytes: 64 * 1024,
            max_items: 512,
        }
    }
}

/// Why a message could not be read as devcare Generic Alerts. `line`/`col` are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, strum::IntoStaticStr)]
#[strum(serialize_all = "kebab-case")]
pub enum AlertError {
    /// Larger than the limit.
    #[error("message is {len} bytes, the limit is {max}")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// More Items than the limit.
    #[error("{line}:{col}: more than {max} Items")]
    TooManyItems {
        /// Where the Item over the limit starts.
        line: usize,
        /// Column.
        col: usize,
        /// The limit.
        max: usize,
    },
    /// Not well-formed XML.
    #[error("{line}:{col}: malformed XML: {message}")]
    MalformedXml {
        /// Line.
        line: usize,
        /// Column.
        col: usize,
        /// The parser's message.
        message: String,
    },
    /// No Generic Alert (1226) in the message.
    #[error("no Generic Alert (Alert with Data 1226) in the message")]
    NoGenericAlert,
    /// An Item of an alert type this server does not handle (answer 415).
    #[error("{line}:{col}: unknown alert type {found:?}")]
    UnknownType {
        /// Where the Item starts.
        line: usize,
        /// Column.
        col: usize,
        /// The type found.
        found: String,
    },
    /// An Item's Data is not a devcare report.
    #[error("{line}:{col}: Item Data: {message}")]
    BadData {
        /// Where the Item starts.
        line: usize,
        /// Column.
        col: usize,
        /// What is wrong.
        message: String,
    },
    /// Items of one Alert disagree about the report they belong to.
    #[error("{line}:{col}: Item belongs to another report than the first Item of its Alert")]
    Inconsistent {
        /// Where the Item starts.
        line: usize,
        /// Column.
        col: usize,
    },
    /// A report for a device the sender may not speak for: another device than the one the
    /// DM session authenticated, or one outside a gateway's list. The whole message is
    /// refused (answer 403): an honest DM client never sends another device's reports.
    #[error("a report for device {device:?}, but the session may only speak for {sender}")]
    NotSender {
        /// The device the report names.
        device: String,
        /// Whom the sender may speak for.
        sender: String,
    },
    /// The session's device is not in the key directory (answer 401).
    #[error("the session's device {0:?} is not in the key directory")]
    UnknownSender(String),
    /// A WBXML message that does not decode (answer 400).
    #[error("{0}")]
    MalformedWbxml(wbxml::WbxmlError),
}

/// Who sent a message of Generic Alerts, as the host's DM session authenticated it: the
/// reports it carries may only be for the devices it may speak for.
#[derive(Debug, Clone, Copy)]
pub enum Sender<'a> {
    /// A device's own DM session (SyncHdr Source and credentials checked by the host): only
    /// its own reports.
    Device(&'a DeviceId),
    /// A trusted gateway relaying for many devices — an explicit opt-in of the host, which
    /// names the devices it may speak for (a set: one lookup per report, not a scan).
    Gateway(&'a std::collections::BTreeSet<DeviceId>),
}

impl Sender<'_> {
    /// Whether the sender may speak for `device`.
    pub fn speaks_for(&self, device: &DeviceId) -> bool {
        match self {
            Sender::Device(d) => *d == device,
            Sender::Gateway(ds) => ds.contains(device),
        }
    }

    /// Whom the sender may speak for, in words (for [`AlertError::NotSender`]).
    #[cfg(feature = "server")]
    pub fn describe(&self) -> String {
        match self {
            Sender::Device(d) => format!("device {:?}", d.as_str()),
            Sender::Gateway(ds) => format!("the {} devices of its gateway list", ds.len()),
        }
    }
}

/// [`parse_alerts`] for a message from `sender`: every report must be for a device the
/// sender may speak for, or the whole message is refused ([`AlertError::NotSender`]).
#[cfg(feature = "server")]
pub fn parse_alerts_from(
    xml: &str,
    limits: &AlertLimits,
    sender: Sender<'_>,
) -> Result<Vec<Report>, AlertError> {
    let reports = parse_alerts(xml, limits)?;
    if let Some(r) = reports.iter().find(|r| !sender.speaks_for(&r.device)) {
        return Err(AlertError::NotSender {
            device: r.device.to_string(),
            sender: sender.describe(),
        });
    }
    Ok(reports)
}

impl AlertError {
    /// The stable name: the variant's name in kebab-case, derived (strum), so it cannot
    /// drift from the variant (counters, C codes, bindings).
    pub fn reason(&self) -> &'static str {
        self.into()
    }

    /// The OMA DM status code a host answers with: 415 for an unknown alert type, 413 for a
    /// message over the limits, 400 for everything malformed.
    pub fn dm_status(&self) -> u16 {
        match self {
            AlertError::UnknownType { .. } => 415,
            AlertError::NotSender { .. } => 403,
            AlertError::UnknownSender(_) => 401,
            AlertError::TooLarge { .. } | AlertError::TooManyItems { .. } => 413,
            AlertError::MalformedXml { .. }
            | AlertError::NoGenericAlert
            | AlertError::BadData { .. }
            | AlertError::Inconsistent { .. }
            | AlertError::MalformedWbxml(_) => 400,
        }
    }
}
