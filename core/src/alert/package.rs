//! A whole DM package, not a fragment: every Alert of a message decided on its own
//! (`docs/oma-dm.md`, "Packages").
//!
//! A handset's package 1 carries other alerts beside devcare's — a firmware update's
//! Generic Alert, Hotspot 2.0's, session alerts (1200–1226 of other kinds). devcare reads
//! its own Generic Alerts (every Item of a devcare type) and hands every other Alert back
//! untouched — its CmdID, code and Items — for the host's own handlers. A devcare Alert that
//! does not read is refused on its own (its [`AlertError`] and DM status); only a message
//! that is not well-formed, or is over the limits, is refused whole.

use std::collections::BTreeMap;

use quick_xml::escape::escape;

use super::parse::{RawAlert, RawItem, read_message};
use super::*;

/// One Item of an alert devcare does not handle, as the message held it (text trimmed).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ForeignItem {
    /// `Source/LocURI`.
    pub source: Option<String>,
    /// `Target/LocURI`.
    pub target: Option<String>,
    /// `Meta/Type` (as written, prefix included).
    pub ty: Option<String>,
    /// `Meta/Format`.
    pub format: Option<String>,
    /// `Meta/Mark`.
    pub mark: Option<String>,
    /// `Data`.
    pub data: Option<String>,
}

/// An Alert devcare does not handle, handed back to the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignAlert {
    /// Its `CmdID` (the `CmdRef` of the host's Status for it).
    pub cmd_id: String,
    /// Its alert code (`Data` of the Alert), e.g. `1226`, `1201`.
    pub code: String,
    /// Its Items.
    pub items: Vec<ForeignItem>,
}

/// One Alert of a package, as devcare read it.
#[derive(Debug, Clone, PartialEq)]
pub enum PackageAlert {
    /// A devcare Generic Alert: the report it carries, or why it does not read (answer that
    /// Alert with the error's DM status).
    Devcare {
        /// Its `CmdID`.
        cmd_id: String,
        /// The report, or why not.
        report: Result<Report, AlertError>,
    },
    /// Any other Alert, untouched.
    Foreign(ForeignAlert),
}

/// A DM message's Alerts in message order, and its `MsgID` (the `MsgRef` of the answers).
#[derive(Debug, Clone, PartialEq)]
pub struct Package {
    /// `SyncHdr/MsgID`, when the message has a header.
    pub msg_id: Option<String>,
    /// Every Alert of the message.
    pub alerts: Vec<PackageAlert>,
}

/// Reads a DM message (a whole `<SyncML>` or bare Alerts) as a package: devcare's Generic
/// Alerts as reports, each on its own, every other Alert handed back. Whole-message errors
/// only: over the size or Item limits, or not well-formed.
pub fn parse_package(xml: &str, limits: &AlertLimits) -> Result<Package, AlertError> {
    let msg = read_message(xml, limits)?;
    let mut alerts = Vec::with_capacity(msg.alerts.len());
    let mut starts = Vec::with_capacity(msg.alerts.len());
    for a in msg.alerts {
        starts.push(a.items.first().map_or(0, |i| i.at));
        let cmd_id = a.cmd_id.clone().unwrap_or_default();
        alerts.push(
            if a.code.as_deref() != Some(GENERIC_ALERT) || !a.items.iter().any(is_devcare_item) {
                PackageAlert::Foreign(foreign(a))
            } else {
                PackageAlert::Devcare {
                    cmd_id,
                    report: super::parse::assemble(xml, a),
                }
            },
        );
    }
    merge_parts(xml, &mut alerts, &starts);
    Ok(Package {
        msg_id: msg.msg_id,
        alerts,
    })
}

/// Some DM clients send one Generic Alert per Item: the Alerts holding parts of one report
/// (same campaign, revision, device and attempt) each get the whole report, its findings
/// joined (the server takes it once and answers the others as duplicates); a part that
/// disagrees with the first (another kind or evaluation time) is refused on its own as
/// [`AlertError::Inconsistent`] at its first Item (`starts`).
fn merge_parts(xml: &str, alerts: &mut [PackageAlert], starts: &[usize]) {
    use super::parse::{ReportKey, report_key as key};
    let mut whole: BTreeMap<ReportKey, Report> = BTreeMap::new();
    for (a, &at) in alerts.iter_mut().zip(starts) {
        let PackageAlert::Devcare { report, .. } = a else {
            continue;
        };
        let Ok(r) = report else {
            continue;
        };
        match whole.get_mut(&key(r)) {
            None => {
                whole.insert(key(r), r.clone());
            }
            Some(into) => {
                if super::parse::merge(into, r.clone()).is_err() {
                    let (line, col) = crate::text::line_col(xml, at);
                    *report = Err(AlertError::Inconsistent { line, col });
                }
            }
        }
    }
    for a in alerts.iter_mut() {
        if let PackageAlert::Devcare { report: Ok(r), .. } = a
            && let Some(w) = whole.get(&key(r))
        {
            *r = w.clone();
        }
    }
}

fn is_devcare_item(it: &RawItem) -> bool {
    matches!(it.ty.as_deref(), Some(TYPE_FAILURE | TYPE_SUCCESS))
}

fn foreign(a: RawAlert) -> ForeignAlert {
    ForeignAlert {
        cmd_id: a.cmd_id.unwrap_or_default(),
        code: a.code.unwrap_or_default(),
        items: a
            .items
            .into_iter()
            .map(|it| ForeignItem {
                source: it.source,
                target: it.target,
                ty: it.raw_ty,
                format: it.format,
                mark: it.mark,
                data: it.data,
            })
            .collect(),
    }
}

/// The SyncML `<Status>` answering Alert `cmd_ref` of message `msg_ref` with DM status
/// `status`, as command `cmd_id` of the response package.
pub fn render_status(cmd_id: u32, msg_ref: &str, cmd_ref: &str, status: u16) -> String {
    format!(
        "  <Status>\n    <CmdID>{cmd_id}</CmdID>\n    <MsgRef>{}</MsgRef>\n    <CmdRef>{}</CmdRef>\n    <Cmd>Alert</Cmd>\n    <Data>{status}</Data>\n  </Status>\n",
        escape(msg_ref),
        escape(cmd_ref)
    )
}
