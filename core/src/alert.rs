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

use quick_xml::escape::{escape, resolve_predefined_entity};
use quick_xml::events::Event;
use quick_xml::reader::Reader;

use crate::model::{Campaign, CampaignId, DeviceId, Duration, Timestamp};
use crate::report::{Finding, Report, ReportKind};
use crate::text::line_col;

/// Generic Alert code.
pub const GENERIC_ALERT: &str = "1226";
/// Alert type of a failure report.
pub const TYPE_FAILURE: &str = "org.devcare.report.failure";
/// Alert type of a sampled success report.
pub const TYPE_SUCCESS: &str = "org.devcare.report.success";
/// Version token that starts every Item's Data.
pub const DATA_VERSION: &str = "devcare/1";

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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
    Xml {
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
}

impl AlertError {
    /// Short stable kebab-case name, unique per variant (counters, C codes, bindings).
    pub fn reason(&self) -> &'static str {
        match self {
            AlertError::TooLarge { .. } => "too-large",
            AlertError::TooManyItems { .. } => "too-many-items",
            AlertError::Xml { .. } => "malformed-xml",
            AlertError::NoGenericAlert => "no-generic-alert",
            AlertError::UnknownType { .. } => "unknown-type",
            AlertError::BadData { .. } => "bad-data",
            AlertError::Inconsistent { .. } => "inconsistent",
        }
    }

    /// The OMA DM status code a host answers with: 415 for an unknown alert type, 413 for a
    /// message over the limits, 400 for everything malformed.
    pub fn dm_status(&self) -> u16 {
        match self {
            AlertError::UnknownType { .. } => 415,
            AlertError::TooLarge { .. } | AlertError::TooManyItems { .. } => 413,
            AlertError::Xml { .. }
            | AlertError::NoGenericAlert
            | AlertError::BadData { .. }
            | AlertError::Inconsistent { .. } => 400,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Rendering

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

fn pct_decode(s: &str) -> Option<String> {
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

// ---------------------------------------------------------------------------------------
// Parsing

#[derive(Debug, Default)]
struct RawItem {
    at: usize,
    ty: Option<String>,
    data: Option<String>,
}

#[derive(Debug, Default)]
struct RawAlert {
    code: Option<String>,
    items: Vec<RawItem>,
}

/// One parsed Item.
#[derive(Debug)]
struct ParsedItem {
    campaign: CampaignId,
    revision: u32,
    device: DeviceId,
    attempt: u32,
    evaluated_at: Timestamp,
    body: ItemBody,
}

#[derive(Debug)]
enum ItemBody {
    Finding(Finding),
    Summary {
        count: u32,
        first_status: Option<u16>,
    },
    Success,
}

fn parse_item_data(ty: &str, data: &str) -> Result<ParsedItem, String> {
    let mut tokens = data.split_ascii_whitespace();
    match tokens.next() {
        Some(DATA_VERSION) => {}
        Some(other) => return Err(format!("starts with {other:?}, expected {DATA_VERSION:?}")),
        None => return Err("is empty".into()),
    }
    let mut kv: Vec<(&str, &str)> = Vec::new();
    let mut flags: Vec<&str> = Vec::new();
    for t in tokens {
        match t.split_once('=') {
            Some((k, v)) => {
                if kv.iter().any(|(k2, _)| *k2 == k) {
                    return Err(format!("{k} appears twice"));
                }
                kv.push((k, v));
            }
            None => flags.push(t),
        }
    }
    let get = |k: &str| kv.iter().find(|(k2, _)| *k2 == k).map(|(_, v)| *v);
    let need = |k: &str| get(k).ok_or_else(|| format!("{k}= is missing"));
    fn num<T: std::str::FromStr>(k: &str, v: &str) -> Result<T, String> {
        v.parse().map_err(|_| format!("{k}={v} is not a number"))
    }
    let campaign =
        CampaignId::new(need("campaign")?).map_err(|e| format!("campaign: {}", e.reason))?;
    let device = DeviceId::new(need("device")?).map_err(|e| format!("device: {}", e.reason))?;
    let revision = num("revision", need("revision")?)?;
    let attempt = num("attempt", need("attempt")?)?;
    let evaluated_at = Timestamp(num("evaluated_at", need("evaluated_at")?)?);
    if let Some(u) = get("uri") {
        pct_decode(u).ok_or_else(|| format!("uri={u} is not percent-encoded UTF-8"))?;
    }
    let body = if ty == TYPE_SUCCESS {
        match get("result") {
            Some("ok") => ItemBody::Success,
            _ => return Err("a success Item needs result=ok".into()),
        }
    } else if flags.contains(&"summary") {
        ItemBody::Summary {
            count: num("count", need("count")?)?,
            first_status: get("first_status")
                .map(|v| num("first_status", v))
                .transpose()?,
        }
    } else {
        let index = || -> Result<u32, String> { num("index", need("index")?) };
        ItemBody::Finding(match need("finding")? {
            "status" => Finding::Status {
                index: index()?,
                status: num("code", need("code")?)?,
            },
            "verify-mismatch" => Finding::VerifyMismatch { index: index()? },
            "missing" => Finding::Missing { index: index()? },
            "late" => Finding::Late {
                after: Duration(num("after_ms", need("after_ms")?)?),
            },
            other => return Err(format!("unknown finding {other:?}")),
        })
    };
    Ok(ParsedItem {
        campaign,
        revision,
        device,
        attempt,
        evaluated_at,
        body,
    })
}

fn normalise_type(t: &str) -> String {
    let t = t.trim();
    let t = t.strip_prefix("Reversed-Domain-Name:").map_or(t, str::trim);
    t.to_string()
}

/// Reads every devcare Generic Alert in `xml` (a bare `<Alert>`, several, or a whole
/// `<SyncML>` message) as reports. Alerts with other codes are skipped.
pub fn parse_alerts(xml: &str, limits: &AlertLimits) -> Result<Vec<Report>, AlertError> {
    if xml.len() > limits.max_bytes {
        return Err(AlertError::TooLarge {
            len: xml.len(),
            max: limits.max_bytes,
        });
    }
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<String> = Vec::new();
    let mut alerts: Vec<RawAlert> = Vec::new();
    let mut current: Option<RawAlert> = None;
    let mut text = String::new();
    let mut items = 0usize;
    let xml_err = |reader: &Reader<&[u8]>, message: String| {
        let (line, col) = line_col(xml, reader.error_position() as usize);
        AlertError::Xml { line, col, message }
    };
    loop {
        let before = reader.buffer_position() as usize;
        let ev = reader
            .read_event()
            .map_err(|e| xml_err(&reader, e.to_string()))?;
        match ev {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_string();
                text.clear();
                match name.as_str() {
                    "Alert" => current = Some(RawAlert::default()),
                    "Item"
                        if current.is_some()
                            && stack.last().map(String::as_str) == Some("Alert") =>
                    {
                        items += 1;
                        if items > limits.max_items {
                            let (line, col) = line_col(xml, before);
                            return Err(AlertError::TooManyItems {
                                line,
                                col,
                                max: limits.max_items,
                            });
                        }
                        if let Some(a) = current.as_mut() {
                            a.items.push(RawItem {
                                at: before,
                                ..RawItem::default()
                            });
                        }
                    }
                    _ => {}
                }
                stack.push(name);
            }
            Event::Empty(_) => text.clear(),
            Event::Text(t) => text.push_str(&t.xml10_content()),
            Event::CData(t) => text.push_str(&t),
            Event::GeneralRef(r) => {
                if let Some(c) = r
                    .resolve_char_ref()
                    .map_err(|e| xml_err(&reader, e.to_string()))?
                {
                    text.push(c);
                } else if let Some(s) = resolve_predefined_entity(&r) {
                    text.push_str(s);
                } else {
                    return Err(xml_err(&reader, format!("unknown entity &{};", &*r)));
                }
            }
            Event::End(e) => {
                let name = e.local_name().as_ref().to_string();
                stack.pop();
                let parent = stack.last().map(String::as_str);
                if name == "Alert" {
                    if let Some(done) = current.take() {
                        alerts.push(done);
                    }
                } else if let Some(a) = current.as_mut() {
                    match (name.as_str(), parent) {
                        ("Data", Some("Alert")) => a.code = Some(text.trim().to_string()),
                        ("Data", Some("Item")) => {
                            if let Some(it) = a.items.last_mut() {
                                it.data = Some(text.trim().to_string());
                            }
                        }
                        ("Type", Some("Meta"))
                            if stack.iter().rev().nth(1).map(String::as_str) == Some("Item") =>
                        {
                            if let Some(it) = a.items.last_mut() {
                                it.ty = Some(normalise_type(&text));
                            }
                        }
                        _ => {}
                    }
                }
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        let (line, col) = line_col(xml, xml.len());
        return Err(AlertError::Xml {
            line,
            col,
            message: format!("unclosed element <{}>", stack.join("><")),
        });
    }
    let mut reports = Vec::new();
    for a in alerts
        .into_iter()
        .filter(|a| a.code.as_deref() == Some(GENERIC_ALERT))
    {
        reports.push(assemble(xml, a)?);
    }
    if reports.is_empty() {
        return Err(AlertError::NoGenericAlert);
    }
    Ok(reports)
}

fn assemble(xml: &str, a: RawAlert) -> Result<Report, AlertError> {
    let mut report: Option<Report> = None;
    let mut findings = Vec::new();
    let alert_at = a.items.first().map_or(0, |i| i.at);
    for it in a.items {
        let (line, col) = line_col(xml, it.at);
        let ty = it.ty.unwrap_or_default();
        if ty != TYPE_FAILURE && ty != TYPE_SUCCESS {
            return Err(AlertError::UnknownType {
                line,
                col,
                found: ty,
            });
        }
        let data = it.data.ok_or_else(|| AlertError::BadData {
            line,
            col,
            message: "the Item has no Data".into(),
        })?;
        let p = parse_item_data(&ty, &data).map_err(|message| AlertError::BadData {
            line,
            col,
            message,
        })?;
        let kind = match &p.body {
            ItemBody::Success => ReportKind::Success,
            ItemBody::Summary {
                count,
                first_status,
            } => ReportKind::FailureSummary {
                count: *count,
                first_status: *first_status,
            },
            ItemBody::Finding(f) => {
                findings.push(*f);
                ReportKind::Failure { findings: vec![] }
            }
        };
        let this = Report {
            campaign: p.campaign,
            revision: p.revision,
            device: p.device,
            attempt: p.attempt,
            evaluated_at: p.evaluated_at,
            kind,
        };
        match &report {
            None => report = Some(this),
            Some(r) if *r == this && matches!(r.kind, ReportKind::Failure { .. }) => {}
            Some(_) => return Err(AlertError::Inconsistent { line, col }),
        }
    }
    let mut report = report.ok_or_else(|| {
        let (line, col) = line_col(xml, alert_at);
        AlertError::BadData {
            line,
            col,
            message: "the Generic Alert has no Item".into(),
        }
    })?;
    if let ReportKind::Failure { findings: f } = &mut report.kind {
        findings.sort_unstable();
        findings.dedup();
        *f = findings;
    }
    Ok(report)
}
