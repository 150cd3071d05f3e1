//! Parsing Generic Alerts back into reports, tolerant of element order.

use std::collections::BTreeMap;

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use quick_xml::reader::Reader;

use super::render::pct_decode;
use super::*;
use crate::model::{CampaignId, DeviceId, Duration, Timestamp};
use crate::report::{Finding, Report, ReportKind};
use crate::text::line_col;

#[derive(Debug, Default)]
pub(super) struct RawItem {
    pub(super) at: usize,
    /// `Meta/Type` without the `Reversed-Domain-Name:` prefix.
    pub(super) ty: Option<String>,
    /// `Meta/Type` as written.
    pub(super) raw_ty: Option<String>,
    pub(super) format: Option<String>,
    pub(super) mark: Option<String>,
    pub(super) source: Option<String>,
    pub(super) target: Option<String>,
    pub(super) data: Option<String>,
}

#[derive(Debug, Default)]
pub(super) struct RawAlert {
    pub(super) cmd_id: Option<String>,
    pub(super) code: Option<String>,
    pub(super) items: Vec<RawItem>,
}

/// A message's header id and its Alerts, as read.
#[derive(Debug, Default)]
pub(super) struct RawMessage {
    pub(super) msg_id: Option<String>,
    pub(super) alerts: Vec<RawAlert>,
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

/// The keys an Item's Data may carry; any other is skipped.
const KEYS: [&str; 13] = [
    "campaign",
    "device",
    "revision",
    "attempt",
    "evaluated_at",
    "uri",
    "result",
    "count",
    "first_status",
    "finding",
    "index",
    "code",
    "after_ms",
];

fn parse_item_data(ty: &str, data: &str) -> Result<ParsedItem, String> {
    let mut tokens = data.split_ascii_whitespace();
    match tokens.next() {
        Some(DATA_VERSION) => {}
        Some(other) => return Err(format!("starts with {other:?}, expected {DATA_VERSION:?}")),
        None => return Err("is empty".into()),
    }
    // One slot per known key, so each token costs one lookup in a fixed table: the work is
    // linear in the Item's size whatever it holds (unknown keys and flags are skipped).
    let mut slots: [Option<&str>; KEYS.len()] = [None; KEYS.len()];
    let mut summary = false;
    for t in tokens {
        match t.split_once('=') {
            Some((k, v)) => {
                if let Some(i) = KEYS.iter().position(|known| *known == k) {
                    if slots[i].is_some() {
                        return Err(format!("{k} appears twice"));
                    }
                    slots[i] = Some(v);
                }
            }
            None => summary |= t == "summary",
        }
    }
    let get = |k: &str| {
        KEYS.iter()
            .position(|known| *known == k)
            .and_then(|i| slots[i])
    };
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
    } else if summary {
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

/// An Item's Data as text, by its `Meta/Format`: `chr` (or none) as it is, `b64` decoded
/// (RFC 4648 standard alphabet, whitespace ignored) to UTF-8.
fn decode_data(format: Option<&str>, data: String) -> Result<String, String> {
    match format.map(str::trim) {
        None | Some("") => Ok(data),
        Some(f) if f.eq_ignore_ascii_case("chr") => Ok(data),
        Some(f) if f.eq_ignore_ascii_case("b64") => {
            use base64::Engine as _;
            let packed: String = data.split_ascii_whitespace().collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(packed.as_bytes())
                .map_err(|e| format!("Format b64: {e}"))?;
            String::from_utf8(bytes).map_err(|_| "Format b64: the decoded Data is not UTF-8".into())
        }
        Some(f) => Err(crate::text::printable(&format!(
            "Format {f:?}: a devcare Item's Data is chr or b64"
        ))),
    }
}

fn normalise_type(t: &str) -> String {
    let t = t.trim();
    let t = t.strip_prefix("Reversed-Domain-Name:").map_or(t, str::trim);
    t.to_string()
}

/// Reads every devcare Generic Alert in `xml` (a bare `<Alert>`, several, or a whole
/// `<SyncML>` message) as reports. Alerts with other codes are skipped; a Generic Alert of
/// another type refuses the message ([`AlertError::UnknownType`]) — a host serving
/// packages with other alerts in them reads them with
/// [`parse_package`](super::parse_package) instead.
pub fn parse_alerts(xml: &str, limits: &AlertLimits) -> Result<Vec<Report>, AlertError> {
    let alerts = read_message(xml, limits)?.alerts;
    // Some DM clients send one Generic Alert per Item: the Items of one report merge across
    // the Alerts of a message (in the order they first appear); the same report twice is
    // one; two that disagree (another kind or evaluation time) refuse the message.
    let mut reports: Vec<Report> = Vec::new();
    let mut index: BTreeMap<ReportKey, usize> = BTreeMap::new();
    for a in alerts
        .into_iter()
        .filter(|a| a.code.as_deref() == Some(GENERIC_ALERT))
    {
        let at = a.items.first().map_or(0, |i| i.at);
        let r = assemble(xml, a)?;
        let key = report_key(&r);
        match index.get(&key) {
            None => {
                index.insert(key, reports.len());
                reports.push(r);
            }
            Some(&i) => merge(&mut reports[i], r).map_err(|()| {
                let (line, col) = line_col(xml, at);
                AlertError::Inconsistent { line, col }
            })?,
        }
    }
    if reports.is_empty() {
        return Err(AlertError::NoGenericAlert);
    }
    Ok(reports)
}

/// Reads `xml`'s header id and every Alert with its CmdID, code and Items, within
/// `limits`: the errors of a message as a whole (size, Items, well-formedness).
pub(super) fn read_message(xml: &str, limits: &AlertLimits) -> Result<RawMessage, AlertError> {
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
    let mut msg_id: Option<String> = None;
    let xml_err = |reader: &Reader<&[u8]>, message: String| {
        let (line, col) = line_col(xml, reader.error_position() as usize);
        AlertError::MalformedXml {
            line,
            col,
            message: crate::text::printable(&message),
        }
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
                let grandparent = stack.iter().rev().nth(1).map(String::as_str);
                if name == "Alert" {
                    if let Some(done) = current.take() {
                        alerts.push(done);
                    }
                } else if name == "MsgID" && parent == Some("SyncHdr") {
                    msg_id = Some(text.trim().to_string());
                } else if let Some(a) = current.as_mut() {
                    let in_item = grandparent == Some("Item");
                    match (name.as_str(), parent) {
                        ("Data", Some("Alert")) => a.code = Some(text.trim().to_string()),
                        ("CmdID", Some("Alert")) => a.cmd_id = Some(text.trim().to_string()),
                        ("LocURI", Some("Source")) if in_item => {
                            if let Some(it) = a.items.last_mut() {
                                it.source = Some(text.trim().to_string());
                            }
                        }
                        ("LocURI", Some("Target")) if in_item => {
                            if let Some(it) = a.items.last_mut() {
                                it.target = Some(text.trim().to_string());
                            }
                        }
                        ("Mark", Some("Meta")) if in_item => {
                            if let Some(it) = a.items.last_mut() {
                                it.mark = Some(text.trim().to_string());
                            }
                        }
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
                                it.raw_ty = Some(text.trim().to_string());
                            }
                        }
                        ("Format", Some("Meta"))
                            if stack.iter().rev().nth(1).map(String::as_str) == Some("Item") =>
                        {
                            if let Some(it) = a.items.last_mut() {
                                it.format = Some(text.trim().to_string());
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
        return Err(AlertError::MalformedXml {
            line,
            col,
            message: crate::text::printable(&format!("unclosed element <{}>", stack.join("><"))),
        });
    }
    Ok(RawMessage { msg_id, alerts })
}

/// What makes Items parts of one report: campaign, revision, device and attempt.
pub(super) type ReportKey = (String, u32, String, u32);

/// `r`'s [`ReportKey`].
pub(super) fn report_key(r: &Report) -> ReportKey {
    (
        r.campaign.to_string(),
        r.revision,
        r.device.to_string(),
        r.attempt,
    )
}

/// Folds `more` — another part of the same report — into `into`: failure findings are
/// joined; anything else must be the same report again.
pub(super) fn merge(into: &mut Report, more: Report) -> Result<(), ()> {
    if into.evaluated_at != more.evaluated_at {
        return Err(());
    }
    match (&mut into.kind, more.kind) {
        (ReportKind::Failure { findings }, ReportKind::Failure { findings: extra }) => {
            findings.extend(extra);
            findings.sort_unstable();
            findings.dedup();
            Ok(())
        }
        (kind, other) if *kind == other => Ok(()),
        _ => Err(()),
    }
}

pub(super) fn assemble(xml: &str, a: RawAlert) -> Result<Report, AlertError> {
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
        let data = decode_data(it.format.as_deref(), data)
            .map_err(|message| AlertError::BadData { line, col, message })?;
        let p = parse_item_data(&ty, &data).map_err(|message| AlertError::BadData {
            line,
            col,
            message: crate::text::printable(&message),
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
