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

/// `item` as XML.
fn item_xml(item: &AlertItem) -> String {
    format!(
        "    <Item>\n      <Source><LocURI>{}</LocURI></Source>\n      <Meta>\n        \
         <Type xmlns=\"syncml:metinf\">Reversed-Domain-Name: {}</Type>\n        \
         <Format xmlns=\"syncml:metinf\">{}</Format>\n        \
         <Mark xmlns=\"syncml:metinf\">{}</Mark>\n      </Meta>\n      \
         <Data>{}</Data>\n    </Item>\n",
        escape(&item.source),
        escape(&item.ty),
        item.format.as_str(),
        escape(&item.mark),
        escape(&item.data)
    )
}

/// Renders `items` as a Generic Alert command with `cmd_id`.
pub fn render_items(items: &[AlertItem], cmd_id: u32) -> String {
    let items: String = items.iter().map(item_xml).collect();
    format!(
        "  <Alert>\n    <CmdID>{cmd_id}</CmdID>\n    <Data>{GENERIC_ALERT}</Data>\n{items}  </Alert>\n"
    )
}

/// Renders `report` as a Generic Alert command with `cmd_id`, its Data as characters. With
/// `campaign`, failure Items also name the failed setting's URI.
pub fn render_alert(report: &Report, campaign: Option<&Campaign>, cmd_id: u32) -> String {
    render_alert_as(report, campaign, cmd_id, DataFormat::Chr)
}

/// [`render_alert`] with the Items' Data in `format`.
pub fn render_alert_as(
    report: &Report,
    campaign: Option<&Campaign>,
    cmd_id: u32,
    format: DataFormat,
) -> String {
    render_items(&report_items(report, campaign, format), cmd_id)
}

/// `report` as the Items of its Generic Alert, for a DM toolkit that builds its own
/// messages: one per finding (or one summary / success Item), each standing alone. With
/// `campaign`, failure Items also name the failed setting's URI.
pub fn report_items(
    report: &Report,
    campaign: Option<&Campaign>,
    format: DataFormat,
) -> Vec<AlertItem> {
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
    let item = |ty: &str, mark: &str, text: String| AlertItem {
        source: source.clone(),
        ty: ty.to_string(),
        format,
        mark: mark.to_string(),
        data: match format {
            DataFormat::Chr => text,
            DataFormat::B64 => {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
            }
        },
    };
    match &report.kind {
        ReportKind::Success => vec![item(
            TYPE_SUCCESS,
            "informational",
            format!("{identity} result=ok"),
        )],
        ReportKind::FailureSummary {
            count,
            first_status,
        } => {
            let first = first_status
                .map(|s| format!(" first_status={s}"))
                .unwrap_or_default();
            vec![item(
                TYPE_FAILURE,
                "critical",
                format!("{identity} summary count={count}{first}"),
            )]
        }
        ReportKind::Failure { findings } => findings
            .iter()
            .map(|f| {
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
                item(TYPE_FAILURE, "critical", format!("{identity} {finding}"))
            })
            .collect(),
    }
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
    render_syncml_as(report, campaign, hdr, DataFormat::Chr)
}

/// [`render_syncml`] with the Items' Data in `format`.
pub fn render_syncml_as(
    report: &Report,
    campaign: Option<&Campaign>,
    hdr: &SyncHeader,
    format: DataFormat,
) -> String {
    format!(
        "<SyncML xmlns=\"SYNCML:SYNCML1.2\">\n<SyncHdr>\n  <VerDTD>1.2</VerDTD>\n  \
         <VerProto>DM/1.2</VerProto>\n  <SessionID>{}</SessionID>\n  <MsgID>{}</MsgID>\n  \
         <Target><LocURI>{}</LocURI></Target>\n  <Source><LocURI>{}</LocURI></Source>\n\
         </SyncHdr>\n<SyncBody>\n{}  <Final/>\n</SyncBody>\n</SyncML>\n",
        escape(&hdr.session_id),
        hdr.msg_id,
        escape(&hdr.server_uri),
        escape(report.device.as_str()),
        render_alert_as(report, campaign, 1, format)
    )
}
