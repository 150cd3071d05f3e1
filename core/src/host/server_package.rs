//! The server host's DM packages: every Alert of a message decided on its own, the other
//! alerts handed back, one SyncML Status per devcare Alert (`docs/oma-dm.md`, "Packages").

use crate::alert::wbxml::{is_wbxml, wbxml_to_xml};
use crate::alert::{
    AlertError, AlertLimits, Encoding, ForeignAlert, PackageAlert, Sender, parse_package,
    render_status,
};
use crate::host::HostError;
use crate::host::server::ServerHost;
use crate::host::server_core::{Directory, Ingest, IngestRejection};
use crate::model::Timestamp;
use crate::report::Report;
use crate::store::{EventStore, StoreError};

/// What became of one Alert of a package.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertOutcome {
    /// A devcare Generic Alert: what the server did with its report (answer it with
    /// [`Ingest::dm_status`] in a Status whose CmdRef is `cmd_id`).
    Devcare {
        /// The Alert's CmdID.
        cmd_id: String,
        /// Accepted, duplicate, or refused with why.
        ingest: Ingest,
    },
    /// Another alert, untouched: the host's own handlers answer it.
    Foreign(ForeignAlert),
}

/// A DM package as the server took it: every Alert's outcome in message order.
#[derive(Debug, Clone, PartialEq)]
pub struct PackageOutcome {
    /// The message's MsgID (the MsgRef of the answers; `1` when it had no header).
    pub msg_id: String,
    /// How the message was encoded: the answers go back the same way
    /// ([`Self::statuses_encoded`]).
    pub encoding: Encoding,
    /// Every Alert of the message, in order.
    pub alerts: Vec<AlertOutcome>,
}

impl PackageOutcome {
    /// The SyncML `<Status>` elements answering devcare's Alerts, one per Alert in message
    /// order, numbered from `first_cmd_id` (the host's next CmdID in its response package):
    /// CmdRef the Alert's CmdID, Cmd `Alert`, Data its DM status. The other alerts' Statuses
    /// are the host's.
    pub fn statuses(&self, first_cmd_id: u32) -> String {
        self.alerts
            .iter()
            .filter_map(|a| match a {
                AlertOutcome::Devcare { cmd_id, ingest } => Some((cmd_id, ingest.dm_status())),
                AlertOutcome::Foreign(_) => None,
            })
            .zip(first_cmd_id..)
            .map(|((cmd_ref, status), id)| render_status(id, &self.msg_id, cmd_ref, status))
            .collect()
    }

    /// [`Self::statuses`] in the message's own encoding: XML text, or for a WBXML message a
    /// WBXML body fragment to splice into the response's `SyncBody` where the code page is
    /// SyncML's (every string inline, so it fits any string table; see
    /// [`crate::alert::wbxml::xml_to_wbxml_fragment`]).
    pub fn statuses_encoded(&self, first_cmd_id: u32) -> Result<Vec<u8>, AlertError> {
        let xml = self.statuses(first_cmd_id);
        match self.encoding {
            Encoding::Xml => Ok(xml.into_bytes()),
            Encoding::Wbxml => {
                crate::alert::wbxml::xml_to_wbxml_fragment(&xml).map_err(AlertError::MalformedWbxml)
            }
        }
    }

    /// The alerts devcare does not handle, for the host's own handlers.
    pub fn foreign(&self) -> impl Iterator<Item = &ForeignAlert> {
        self.alerts.iter().filter_map(|a| match a {
            AlertOutcome::Foreign(f) => Some(f),
            AlertOutcome::Devcare { .. } => None,
        })
    }
}

impl<S: EventStore, D: Directory> ServerHost<S, D> {
    /// Takes a whole DM message from `sender` (whom the host's DM session authenticated) as
    /// a package: each devcare Generic Alert decided on its own — accepted, duplicate, or
    /// refused with its DM status — and every other Alert handed back untouched
    /// ([`PackageOutcome::foreign`]). One report split over several Alerts is taken once,
    /// each of its Alerts answered alike. The whole message is refused, nothing logged, only
    /// when it is over the limits or not well-formed, when the session's device is not in
    /// the key directory, or when a devcare report names a device the sender may not speak
    /// for (an honest DM client never sends another device's reports).
    pub fn ingest_package(
        &mut self,
        xml: &str,
        sender: Sender<'_>,
        limits: &AlertLimits,
        at: Timestamp,
    ) -> Result<Result<PackageOutcome, AlertError>, StoreError> {
        let mut plan = match PackagePlan::check(xml, sender, limits, self.directory()) {
            Ok(p) => p,
            Err(e) => {
                self.count_rejection(e.reason());
                return Ok(Err(e));
            }
        };
        for reason in plan.refusals() {
            self.count_rejection(reason);
        }
        let ingests = self.accept_reports(std::mem::take(&mut plan.reports), at)?;
        Ok(Ok(plan.outcome(ingests)))
    }
}

/// A package checked and read, its devcare reports waiting for the decider: what every
/// server host (one stream or sharded) does with a DM message before and after deciding.
#[derive(Debug, Clone)]
pub struct PackagePlan {
    msg_id: Option<String>,
    /// Each Alert in message order: a devcare Alert's CmdID, or a foreign Alert.
    slots: Vec<Result<String, ForeignAlert>>,
    /// The devcare Alerts' reports, in message order, or why each does not read. Parts of
    /// one report carry the whole of it: the first is taken, the rest are duplicates.
    pub reports: Vec<Result<Report, IngestRejection>>,
}

impl PackagePlan {
    /// Reads the DM message `xml` from `sender` as a package and checks it whole: the
    /// sending device known to `directory`, the message within `limits` and well-formed,
    /// and every devcare report for a device the sender may speak for.
    pub fn check(
        xml: &str,
        sender: Sender<'_>,
        limits: &AlertLimits,
        directory: &dyn Directory,
    ) -> Result<Self, AlertError> {
        crate::host::server_core::check_sender(sender, directory)?;
        let package = parse_package(xml, limits)?;
        let mut slots = Vec::with_capacity(package.alerts.len());
        let mut reports = Vec::new();
        for a in package.alerts {
            match a {
                PackageAlert::Foreign(f) => slots.push(Err(f)),
                PackageAlert::Devcare { cmd_id, report } => {
                    if let Ok(r) = &report
                        && !sender.speaks_for(&r.device)
                    {
                        return Err(AlertError::NotSender {
                            device: r.device.to_string(),
                            sender: sender.describe(),
                        });
                    }
                    reports.push(report.map_err(IngestRejection::Alert));
                    slots.push(Ok(cmd_id));
                }
            }
        }
        Ok(PackagePlan {
            msg_id: package.msg_id,
            slots,
            reports,
        })
    }

    /// The reasons of the devcare Alerts refused before the decider (to count them).
    pub fn refusals(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.reports
            .iter()
            .filter_map(|r| r.as_ref().err().map(|e| e.reason()))
    }

    /// The package's outcome, given what the decider made of [`Self::reports`] (one
    /// [`Ingest`] each, in order; the reports may have been taken out for it).
    pub fn outcome(self, ingests: Vec<Ingest>) -> PackageOutcome {
        let mut ingests = ingests.into_iter();
        let alerts = self
            .slots
            .into_iter()
            .map(|o| match o {
                Err(f) => AlertOutcome::Foreign(f),
                Ok(cmd_id) => AlertOutcome::Devcare {
                    cmd_id,
                    ingest: ingests.next().unwrap_or(Ingest::Duplicate),
                },
            })
            .collect();
        PackageOutcome {
            msg_id: self.msg_id.unwrap_or_else(|| "1".into()),
            encoding: Encoding::Xml,
            alerts,
        }
    }
}

impl<S: EventStore, D: Directory> ServerHost<S, D> {
    /// [`Self::ingest_package`] of a message in either encoding: WBXML
    /// (`application/vnd.syncml.dm+wbxml`, told by its first byte, [`is_wbxml`]) is decoded
    /// first — a message that does not decode is refused whole
    /// ([`AlertError::MalformedWbxml`], 400) — and XML must be UTF-8
    /// ([`AlertError::MalformedXml`] otherwise).
    pub fn ingest_package_bytes(
        &mut self,
        message: &[u8],
        sender: Sender<'_>,
        limits: &AlertLimits,
        at: Timestamp,
    ) -> Result<Result<PackageOutcome, AlertError>, StoreError> {
        match package_text(message, limits) {
            Ok(xml) => Ok(self
                .ingest_package(&xml, sender, limits, at)?
                .map(|p| PackageOutcome {
                    encoding: Encoding::sniff(message),
                    ..p
                })),
            Err(e) => {
                self.count_rejection(e.reason());
                Ok(Err(e))
            }
        }
    }
}

impl<S: EventStore, D: Directory> ServerHost<S, D> {
    /// [`Self::ingest_package_bytes`] for a host whose DM session authenticated
    /// `session_device` (never an id read from the message), with the default limits: a
    /// message refused whole is [`HostError::Alert`] (answer its `dm_status`) and changes
    /// nothing; a store failure is [`HostError::Store`].
    pub fn ingest_message(
        &mut self,
        message: &[u8],
        session_device: &str,
        now: Timestamp,
    ) -> Result<PackageOutcome, HostError> {
        let device = crate::host::keys::device_id(session_device)?;
        let limits = AlertLimits::default();
        Ok(self.ingest_package_bytes(message, Sender::Device(&device), &limits, now)??)
    }
}

/// A DM message as XML text: WBXML decoded, XML checked to be UTF-8.
pub fn package_text(message: &[u8], limits: &AlertLimits) -> Result<String, AlertError> {
    if message.len() > limits.max_bytes {
        return Err(AlertError::TooLarge {
            len: message.len(),
            max: limits.max_bytes,
        });
    }
    if is_wbxml(message) {
        // The decoded text may be larger than the bytes: it is held to the XML limit next.
        return wbxml_to_xml(message, limits.max_bytes).map_err(AlertError::MalformedWbxml);
    }
    String::from_utf8(message.to_vec()).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(&message[..at]);
        let (line, col) = crate::text::line_col(&text, at);
        AlertError::MalformedXml {
            line,
            col,
            message: "the message is not UTF-8 (nor WBXML)".into(),
        }
    })
}
