//! DM packages in the bindings: the device's report as Items or a whole message (XML or
//! WBXML), and on the server a whole message taken as a package, each Alert on its own.

use devcare::Timestamp;
use devcare::alert;

use crate::device::{DeviceHost, DueReport};
use crate::{DevcareError, lock};

/// How a DM message is encoded on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum MessageEncoding {
    /// `application/vnd.syncml.dm+xml`.
    Xml,
    /// `application/vnd.syncml.dm+wbxml`.
    Wbxml,
}

impl From<MessageEncoding> for alert::Encoding {
    fn from(e: MessageEncoding) -> Self {
        match e {
            MessageEncoding::Xml => alert::Encoding::Xml,
            MessageEncoding::Wbxml => alert::Encoding::Wbxml,
        }
    }
}

impl From<alert::Encoding> for MessageEncoding {
    fn from(e: alert::Encoding) -> Self {
        match e {
            alert::Encoding::Xml => MessageEncoding::Xml,
            alert::Encoding::Wbxml => MessageEncoding::Wbxml,
        }
    }
}

/// How an Item's Data is encoded (`Meta/Format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ItemFormat {
    /// Characters (`chr`).
    Chr,
    /// Base64 (`b64`).
    B64,
}

impl From<ItemFormat> for alert::DataFormat {
    fn from(f: ItemFormat) -> Self {
        match f {
            ItemFormat::Chr => alert::DataFormat::Chr,
            ItemFormat::B64 => alert::DataFormat::B64,
        }
    }
}

/// One Item of a Generic Alert, as a DM toolkit takes it; absent elements are null.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AlertItem {
    /// `Source/LocURI`.
    pub source: Option<String>,
    /// `Target/LocURI`.
    pub target: Option<String>,
    /// `Meta/Type` (devcare's without the `Reversed-Domain-Name:` prefix).
    pub meta_type: Option<String>,
    /// `Meta/Format`.
    pub format: Option<String>,
    /// `Meta/Mark`.
    pub mark: Option<String>,
    /// `Data`, encoded as `format` says.
    pub data: Option<String>,
}

/// A report to send now as the Items of one Generic Alert (code 1226).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DueItems {
    /// The campaign it belongs to.
    pub campaign: String,
    /// Its attempt number.
    pub attempt: u32,
    /// The Items, in order.
    pub items: Vec<AlertItem>,
}

#[uniffi::export]
impl DeviceHost {
    /// The report due at `now_ms` as the Items of one Generic Alert, Data in `format`, for
    /// a DM toolkit that builds its own package; null when none is due. Mark it sent with
    /// its attempt, then feed the Status its Alert got to `reportStatus`.
    pub fn next_report_items(
        &self,
        now_ms: u64,
        format: ItemFormat,
    ) -> Result<Option<DueItems>, DevcareError> {
        let due = lock(&self.0)?.next_report_items(Timestamp(now_ms), format.into());
        Ok(due.map(|d| DueItems {
            campaign: d.campaign.to_string(),
            attempt: d.attempt,
            items: d
                .items
                .into_iter()
                .map(|i| AlertItem {
                    source: Some(i.source),
                    target: None,
                    meta_type: Some(i.ty),
                    format: Some(i.format.as_str().to_string()),
                    mark: Some(i.mark),
                    data: Some(i.data),
                })
                .collect(),
        }))
    }

    /// The report due at `now_ms` as a whole SyncML DM 1.2 message (session `session_id`,
    /// message `msg_id`, to `server_uri`; the Alert is CmdID 1, Data in `format`) in
    /// `encoding`; null when none is due. The Status with CmdRef 1 in the answer is its.
    pub fn next_report_package(
        &self,
        now_ms: u64,
        session_id: String,
        msg_id: u32,
        server_uri: String,
        format: ItemFormat,
        encoding: MessageEncoding,
    ) -> Result<Option<DueReport>, DevcareError> {
        let hdr = alert::SyncHeader {
            session_id,
            msg_id,
            server_uri,
        };
        let due = lock(&self.0)?.next_report_package(
            Timestamp(now_ms),
            &hdr,
            format.into(),
            encoding.into(),
        )?;
        Ok(due.map(DueReport::from))
    }
}

#[cfg(feature = "server")]
mod server {
    use devcare::Timestamp;
    use devcare::host::{AlertOutcome, HostError};

    use super::{AlertItem, MessageEncoding};
    use crate::server::{IngestResult, ingest_result};
    use crate::{DevcareError, ServerHost, lock};

    /// One Alert of a package.
    #[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
    pub struct PackageAlert {
        /// Its `CmdID` (the CmdRef of the Status that answers it).
        pub cmd_id: String,
        /// Its alert code, e.g. "1226".
        pub code: String,
        /// A devcare Alert's result (answer it with its `dmStatus`); null for another
        /// alert, which the app's own handlers answer.
        pub result: Option<IngestResult>,
        /// Another alert's Items, untouched (empty for devcare's).
        pub items: Vec<AlertItem>,
    }

    /// A DM message as the server took it.
    #[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
    pub struct PackageResult {
        /// The message's MsgID (the MsgRef of the answers).
        pub msg_id: String,
        /// How it was encoded: answer the same way.
        pub encoding: MessageEncoding,
        /// Every Alert, in message order.
        pub alerts: Vec<PackageAlert>,
        /// The `<Status>` elements answering devcare's Alerts, numbered from the
        /// `firstStatusCmdId` asked for, in the message's encoding (XML text, or a WBXML body
        /// fragment to splice into the response's SyncBody).
        pub statuses: Vec<u8>,
    }

    #[uniffi::export]
    impl ServerHost {
        /// Takes a whole OMA DM message (XML or WBXML, told by its first bytes) from the DM
        /// session of `session_device` as a package: each devcare Alert decided on its own,
        /// every other alert handed back untouched, the Statuses for devcare's numbered from
        /// `first_status_cmd_id`. Refused whole, nothing changed, only when malformed
        /// ("malformed-xml", "malformed-wbxml"), over the limits, from an unknown device
        /// ("unknown-sender") or holding another device's report ("not-sender").
        pub fn ingest_package(
            &self,
            message: Vec<u8>,
            session_device: String,
            now_ms: u64,
            first_status_cmd_id: u32,
        ) -> Result<PackageResult, DevcareError> {
            let p = lock(&self.0)?.ingest_message(&message, &session_device, Timestamp(now_ms))?;
            let statuses = p
                .statuses_encoded(first_status_cmd_id)
                .map_err(HostError::from)?;
            let alerts = p
                .alerts
                .iter()
                .map(|a| match a {
                    AlertOutcome::Devcare { cmd_id, ingest } => PackageAlert {
                        cmd_id: cmd_id.clone(),
                        code: devcare::alert::GENERIC_ALERT.to_string(),
                        result: Some(ingest_result(ingest)),
                        items: Vec::new(),
                    },
                    AlertOutcome::Foreign(f) => PackageAlert {
                        cmd_id: f.cmd_id.clone(),
                        code: f.code.clone(),
                        result: None,
                        items: f
                            .items
                            .iter()
                            .map(|i| AlertItem {
                                source: i.source.clone(),
                                target: i.target.clone(),
                                meta_type: i.ty.clone(),
                                format: i.format.clone(),
                                mark: i.mark.clone(),
                                data: i.data.clone(),
                            })
                            .collect(),
                    },
                })
                .collect();
            Ok(PackageResult {
                msg_id: p.msg_id.clone(),
                encoding: p.encoding.into(),
                alerts,
                statuses,
            })
        }
    }
}

#[cfg(feature = "server")]
pub use server::{PackageAlert, PackageResult};
