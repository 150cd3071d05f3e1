//! Rendering a report as an OMA DM 1.2 Generic Alert.

use quick_xml::escape::escape;

use crate::model::Campaign;
use crate::report::{Finding, Report, ReportKind};

use super::*;

fn pct_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_graphic() && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(feature = "server")]
pub(super) fn pct_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn item(source: &str, ty: &str, mark: &str, data: &str) -> String {
    format!(
        "    <Item>\n      <Source><LocURI>{}</LocURI></Source>\n      <Meta>\n        \
         <Type xmlns=\"syncml:metinf\">Reversed-Domain-Name: {ty}</Type>\n        \
         <Format xmlns=\"syncml:metinf\">chr</Format>\n        \
         <Mark xmlns=\"syncml:metinf\">{mark}</Mark>\n      </Meta>\n      \
         <Data>{}</Data>\n    </Item>\n",
        escape(source),
        escape(data)
    )
}

/// Renders `report` as a Generic Alert command with `cmd_id`. With `campaign`, failure
/// Items also name the failed setting's URI.
pub fn render_alert(report: &Report, campaign: Option<&Campaign>, cmd_id: u32) -> String {
    let source = format!("./Vendor/devcare/Campaign/{}", report.campaign);
    let identity = format!(
        "{DATA_VERSION} campaign={} revision={} device={} attempt={} evaluated_at={}",
        report.campaign,
        report.revision,
        report.device,
        report.attempt,
        report.evaluated_at.as_millis()
    );
    let uri = |index: u32| {
        campaign
            .and_then(|c| c.settings.get(index as usize))
            .map(|s| format!(" uri={}", pct_encode(&s.uri)))
            .unwrap_or_default()
    };
    let mut items = String::new();
    match &report.kind {
        ReportKind::Success => {
            items.push_str(&item(
                &source,
                TYPE_SUCCESS,
                "informational",
                &format!("{identity} result=ok"),
            ));
        }
        ReportKind::FailureSummary {
            count,
            first_status,
        } => {
            let first = first_status
                .map(|s| format!(" first_status={s}"))
                .unwrap_or_default();
            items.push_str(&item(
                &source,
                TYPE_FAILURE,
                "critical",
                &format!("{identity} summary count={count}{first}"),
            ));
        }
        ReportKind::Failure { findings } => {
            for f in findings {
                let finding = match *f {
                    Finding::Status { index, status } => {
                        format!("finding=status index={index} code={status}{}", uri(index))
                    }
                    Finding::VerifyMismatch { index } => {
                        format!("finding=verify-mismatch index={index}{}", uri(index))
                    }
                    Finding::Missing { index } => {
                        format!("finding=missing index={index}{}", uri(index))
                    }
                    Finding::Late { after } => {
                        format!("finding=late after_ms={}", after.as_millis())
                    }
                };
                items.push_str(&item(
                    &source,
                    TYPE_FAILURE,
                    "critical",
                    &format!("{identity} {finding}"),
                ));
            }
        }
    }
    format!(
        "  <Alert>\n    <CmdID>{cmd_id}</CmdID>\n    <Data>{GENERIC_ALERT}</Data>\n{items}  </Alert>\n"
    )
}

/// The SyncML header fields of a device-originated message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncHeader {
    /// DM session id.
    pub session_id: String,
    /// Message id within the session.
    pub msg_id: u32,
    /// The server's URI (Target/LocURI).
    pub server_uri: String,
}

/// Renders `report` as a whole SyncML DM 1.2 message: SyncHdr (VerDTD 1.2, VerProto DM/1.2,
/// SessionID, MsgID, Target = server, Source = device) and a SyncBody with the alert.
pub fn render_syncml(report: &Report, campaign: Option<&Campaign>, hdr: &SyncHeader) -> String {
    format!(
        "<SyncML xmlns=\"SYNCML:SYNCML1.2\">\n<SyncHdr>\n  <VerDTD>1.2</VerDTD>\n  \
         <VerProto>DM/1.2</VerProto>\n  <SessionID>{}</SessionID>\n  <MsgID>{}</MsgID>\n  \
         <Target><LocURI>{}</LocURI></Target>\n  <Source><LocURI>{}</LocURI></Source>\n\
         </SyncHdr>\n<SyncBody>\n{}  <Final/>\n</SyncBody>\n</SyncML>\n",
        escape(&hdr.session_id),
        hdr.msg_id,
        escape(&hdr.server_uri),
        escape(report.device.as_str()),
        render_alert(report, campaign, 1)
    )
}
