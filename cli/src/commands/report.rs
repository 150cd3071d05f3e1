//! `devcare report render|parse|status`: failure reports as OMA DM 1.2 Generic Alerts, and
//! the Status elements that answer them.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use devcare::alert::{
    AlertError, AlertLimits, DataFormat, Encoding, PackageAlert, SyncHeader, parse_package,
    render_alert_as, render_status, render_syncml_as,
};
use devcare::text::{format_rfc3339, parse_human_duration, parse_rfc3339};
use devcare::wire::{DEFAULT_MAX_REPORT_BYTES, decode_report};
use devcare::{CampaignId, DeviceId, Finding, Report, ReportKind, Timestamp};
use serde_json::json;

use crate::error::{CliError, Result, input, load_campaign, read_key};
use crate::printer::Printer;

#[derive(Debug, Subcommand)]
pub(crate) enum ReportCmd {
    /// Render a report as a DM Generic Alert (or a whole SyncML message).
    Render(Box<RenderArgs>),
    /// Parse a DM message (XML or WBXML, told by its first byte; an <Alert> or a whole
    /// SyncML package) back into reports; other alerts in it are listed, not refused.
    Parse {
        /// The message file.
        file: PathBuf,
    },
    /// Render the SyncML <Status> elements answering a DM message's devcare Alerts, in the
    /// message's encoding, to test a DM client's Status handling: an Alert that does not
    /// read gets its own refusal (400, 415, …), one that reads gets --status (a live server
    /// decides for real: 404 for an unknown campaign, 403 for a device it does not target).
    Status(StatusArgs),
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// The message file (XML or WBXML).
    file: PathBuf,
    /// The DM status for each devcare Alert that reads.
    #[arg(long, default_value_t = 200)]
    status: u16,
    /// The CmdID of the first Status (the next one of the response package).
    #[arg(long, default_value_t = 2)]
    first_cmd_id: u32,
    /// Write the Statuses here (needed for a WBXML message: the answer is a WBXML fragment).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct RenderArgs {
    /// A binary report (as devices send it), verified with --key.
    #[arg(long, value_name = "FILE", requires = "key", conflicts_with_all = ["campaign", "device"])]
    from_bin: Option<PathBuf>,
    /// The device's report key (64 hex digits) for --from-bin.
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// Campaign id.
    #[arg(long, required_unless_present = "from_bin")]
    campaign: Option<String>,
    /// Campaign revision.
    #[arg(long, default_value_t = 1)]
    revision: u32,
    /// Reporting device id.
    #[arg(long, required_unless_present = "from_bin")]
    device: Option<String>,
    /// Report attempt (from 1).
    #[arg(long, default_value_t = 1)]
    attempt: u32,
    /// When the device evaluated (RFC 3339).
    #[arg(long, value_name = "TIME", default_value = "1970-01-01T00:00:00Z")]
    evaluated_at: String,
    /// A finding: status:INDEX:CODE, verify-mismatch:INDEX, missing:INDEX or late:DURATION.
    #[arg(long = "finding", value_name = "FINDING")]
    findings: Vec<String>,
    /// A summary report instead: COUNT or COUNT:FIRST_STATUS.
    #[arg(long, value_name = "COUNT[:STATUS]", conflicts_with = "findings")]
    summary: Option<String>,
    /// A sampled success report instead.
    #[arg(long, conflicts_with_all = ["findings", "summary"])]
    success: bool,
    /// The campaign file, to name each failed setting's URI.
    #[arg(long, value_name = "FILE.toml")]
    campaign_file: Option<PathBuf>,
    /// Wrap in a whole SyncML message with this session id.
    #[arg(long, value_name = "ID")]
    session_id: Option<String>,
    /// SyncML MsgID (with --session-id).
    #[arg(long, default_value_t = 1)]
    msg_id: u32,
    /// The DM server's URI (with --session-id).
    #[arg(long, default_value = "https://dm.example/manage")]
    server: String,
    /// How the Items' Data is written: chr (text) or b64.
    #[arg(long, default_value = "chr", value_name = "chr|b64")]
    data_format: String,
    /// The message's encoding: xml, or wbxml (SyncML DM 1.2 with a string table; binary,
    /// so it needs --out).
    #[arg(long, default_value = "xml", value_name = "xml|wbxml")]
    encoding: String,
    /// Write the message here instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

fn encoding(s: &str) -> Result<Encoding> {
    match s {
        "xml" => Ok(Encoding::Xml),
        "wbxml" => Ok(Encoding::Wbxml),
        other => Err(input(format!(
            "--encoding: {other:?} is not one of xml, wbxml"
        ))),
    }
}

/// Writes `bytes` to `out`; a binary message with nowhere to go is refused.
fn write_out(out: Option<&PathBuf>, bytes: &[u8], enc: Encoding) -> Result<()> {
    match out {
        Some(path) => std::fs::write(path, bytes)
            .map_err(|e| input(format!("{}: cannot write: {e}", path.display()))),
        None if enc == Encoding::Wbxml => {
            Err(input("WBXML is binary: give --out FILE to write it"))
        }
        None => Ok(()),
    }
}

fn finding(s: &str) -> Result<Finding> {
    let bad = || {
        input(format!(
            "--finding {s:?}: expected status:INDEX:CODE, verify-mismatch:INDEX, missing:INDEX or late:DURATION"
        ))
    };
    let parts: Vec<&str> = s.split(':').collect();
    let n = |v: &str| v.parse::<u32>().map_err(|_| bad());
    Ok(match parts.as_slice() {
        ["status", i, c] => Finding::Status {
            index: n(i)?,
            status: c.parse().map_err(|_| bad())?,
        },
        ["verify-mismatch", i] => Finding::VerifyMismatch { index: n(i)? },
        ["missing", i] => Finding::Missing { index: n(i)? },
        ["late", d] => Finding::Late {
            after: parse_human_duration(d).map_err(|_| bad())?,
        },
        _ => return Err(bad()),
    })
}

fn build_report(a: &RenderArgs) -> Result<Report> {
    if let Some(path) = &a.from_bin {
        let bytes = std::fs::read(path)
            .map_err(|e| input(format!("{}: cannot read: {e}", path.display())))?;
        let key_path = a
            .key
            .as_ref()
            .ok_or_else(|| input("--from-bin needs --key"))?;
        let key = *read_key(key_path, devcare::keyfile::KeyKind::Device)?;
        return decode_report(&bytes, DEFAULT_MAX_REPORT_BYTES, |_| Some(key)).map_err(|e| {
            input(format!(
                "{}: rejected ({}): {e}",
                path.display(),
                e.reason()
            ))
        });
    }
    let campaign = CampaignId::new(a.campaign.clone().unwrap_or_default())
        .map_err(|e| input(format!("--campaign: {}", e.reason)))?;
    let device = DeviceId::new(a.device.clone().unwrap_or_default())
        .map_err(|e| input(format!("--device: {}", e.reason)))?;
    let evaluated_at: Timestamp =
        parse_rfc3339(&a.evaluated_at).map_err(|e| input(format!("--evaluated-at: {e}")))?;
    let kind = if a.success {
        ReportKind::Success
    } else if let Some(s) = &a.summary {
        let bad = || {
            input(format!(
                "--summary {s:?}: expected COUNT or COUNT:FIRST_STATUS"
            ))
        };
        let (count, first) = match s.split_once(':') {
            Some((c, f)) => (c, Some(f.parse::<u16>().map_err(|_| bad())?)),
            None => (s.as_str(), None),
        };
        ReportKind::FailureSummary {
            count: count.parse().map_err(|_| bad())?,
            first_status: first,
        }
    } else {
        if a.findings.is_empty() {
            return Err(input(
                "give at least one --finding, or --summary, or --success",
            ));
        }
        let mut findings = a
            .findings
            .iter()
            .map(|f| finding(f))
            .collect::<Result<Vec<_>>>()?;
        findings.sort_unstable();
        findings.dedup();
        ReportKind::Failure { findings }
    };
    Ok(Report {
        campaign,
        revision: a.revision,
        device,
        attempt: a.attempt,
        evaluated_at,
        kind,
    })
}

pub(crate) fn run(cmd: &ReportCmd, printer: Printer) -> Result<()> {
    match cmd {
        ReportCmd::Render(a) => {
            let report = build_report(a)?;
            let campaign = a
                .campaign_file
                .as_ref()
                .map(|p| load_campaign(p))
                .transpose()?;
            let format = match a.data_format.as_str() {
                "chr" => DataFormat::Chr,
                "b64" => DataFormat::B64,
                other => {
                    return Err(input(format!(
                        "--data-format: {other:?} is not one of chr, b64"
                    )));
                }
            };
            let xml = match &a.session_id {
                Some(id) => render_syncml_as(
                    &report,
                    campaign.as_ref(),
                    &SyncHeader {
                        session_id: id.clone(),
                        msg_id: a.msg_id,
                        server_uri: a.server.clone(),
                    },
                    format,
                ),
                None => render_alert_as(&report, campaign.as_ref(), 1, format),
            };
            let enc = encoding(&a.encoding)?;
            let bytes = enc
                .encode(&xml)
                .map_err(|e| crate::error::internal(format!("{}: {e}", enc.content_type())))?;
            write_out(a.out.as_ref(), &bytes, enc)?;
            let out = a.out.as_ref().map(|p| p.display().to_string());
            printer.result(
                || match &out {
                    Some(p) => format!(
                        "wrote {} bytes ({}) to {p}\n",
                        bytes.len(),
                        enc.content_type()
                    ),
                    None => xml.clone(),
                },
                || {
                    json!({
                        "xml": xml,
                        "content_type": enc.content_type(),
                        "bytes": bytes.len(),
                        "out": out,
                    })
                },
            )
        }
        ReportCmd::Status(a) => status(a, printer),
        ReportCmd::Parse { file } => {
            let bytes = std::fs::read(file)
                .map_err(|e| input(format!("{}: cannot read: {e}", file.display())))?;
            let limits = AlertLimits::default();
            let text =
                devcare::host::package_text(&bytes, &limits).map_err(|e| located(file, &e))?;
            let package = parse_package(&text, &limits).map_err(|e| located(file, &e))?;
            let mut reports = Vec::new();
            let mut foreign = Vec::new();
            for a in &package.alerts {
                match a {
                    // A devcare Alert that does not read fails the command, located.
                    PackageAlert::Devcare { report, .. } => match report {
                        Ok(r) if !reports.contains(r) => reports.push(r.clone()),
                        Ok(_) => {}
                        Err(e) => return Err(located(file, e)),
                    },
                    PackageAlert::Foreign(f) => foreign.push(f),
                }
            }
            if reports.is_empty() {
                return Err(located(file, &AlertError::NoGenericAlert));
            }
            printer.result(
                || {
                    let mut t: String = reports
                        .iter()
                        .map(|r| {
                            format!(
                                "campaign {} revision {} device {} attempt {} evaluated {}: {}\n",
                                r.campaign,
                                r.revision,
                                r.device,
                                r.attempt,
                                format_rfc3339(r.evaluated_at),
                                describe_kind(&r.kind)
                            )
                        })
                        .collect();
                    for f in &foreign {
                        let types: Vec<&str> =
                            f.items.iter().filter_map(|i| i.ty.as_deref()).collect();
                        t.push_str(&format!(
                            "other alert: CmdID {} code {}{} (for the host's own handlers)\n",
                            f.cmd_id,
                            f.code,
                            if types.is_empty() {
                                String::new()
                            } else {
                                format!(" type {}", types.join(", "))
                            }
                        ));
                    }
                    t
                },
                || {
                    json!({
                        "reports": reports.iter().map(report_json).collect::<Vec<_>>(),
                        "other_alerts": foreign.iter().map(|f| json!({
                            "cmd_id": f.cmd_id,
                            "code": f.code,
                            "types": f.items.iter().filter_map(|i| i.ty.clone()).collect::<Vec<_>>(),
                        })).collect::<Vec<_>>(),
                    })
                },
            )
        }
    }
}

fn status(a: &StatusArgs, printer: Printer) -> Result<()> {
    let file = &a.file;
    let bytes =
        std::fs::read(file).map_err(|e| input(format!("{}: cannot read: {e}", file.display())))?;
    let limits = AlertLimits::default();
    let text = devcare::host::package_text(&bytes, &limits).map_err(|e| located(file, &e))?;
    let package = parse_package(&text, &limits).map_err(|e| located(file, &e))?;
    let msg_ref = package.msg_id.clone().unwrap_or_else(|| "1".into());
    let answers: Vec<(String, u16, String)> = package
        .alerts
        .iter()
        .filter_map(|p| match p {
            PackageAlert::Devcare { cmd_id, report } => Some(match report {
                Ok(_) => (cmd_id.clone(), a.status, "reads".to_string()),
                Err(e) => (cmd_id.clone(), e.dm_status(), e.to_string()),
            }),
            PackageAlert::Foreign(_) => None,
        })
        .collect();
    let xml: String = answers
        .iter()
        .zip(a.first_cmd_id..)
        .map(|((cmd_ref, code, _), id)| render_status(id, &msg_ref, cmd_ref, *code))
        .collect();
    let enc = Encoding::sniff(&bytes);
    let out_bytes = match enc {
        Encoding::Xml => xml.clone().into_bytes(),
        Encoding::Wbxml => devcare::alert::wbxml::xml_to_wbxml_fragment(&xml)
            .map_err(|e| crate::error::internal(format!("WBXML: {e}")))?,
    };
    write_out(a.out.as_ref(), &out_bytes, enc)?;
    let others = package.alerts.len() - answers.len();
    printer.result(
        || {
            let mut t = String::new();
            for (cmd_ref, code, why) in &answers {
                t.push_str(&format!("Alert CmdID {cmd_ref}: {code} ({why})\n"));
            }
            t.push_str(&format!(
                "{others} other alert(s) answered by the host's own handlers\n"
            ));
            match &a.out {
                Some(p) => t.push_str(&format!(
                    "wrote {} bytes of Status ({}) to {}\n",
                    out_bytes.len(),
                    enc.content_type(),
                    p.display()
                )),
                None => t.push_str(&xml),
            }
            t
        },
        || {
            json!({
                "msg_ref": msg_ref,
                "content_type": enc.content_type(),
                "statuses": answers.iter().map(|(c, s, why)| json!({
                    "cmd_ref": c, "status": s, "why": why,
                })).collect::<Vec<_>>(),
                "other_alerts": others,
                "xml": xml,
            })
        },
    )
}

fn located(file: &std::path::Path, e: &AlertError) -> CliError {
    let msg = match e {
        AlertError::TooLarge { .. } | AlertError::NoGenericAlert => {
            format!("{}: {e} (DM status {})", file.display(), e.dm_status())
        }
        _ => format!("{}:{e} (DM status {})", file.display(), e.dm_status()),
    };
    input(msg)
}

fn describe_kind(k: &ReportKind) -> String {
    match k {
        ReportKind::Success => "success probe".into(),
        ReportKind::FailureSummary {
            count,
            first_status,
        } => match first_status {
            Some(s) => format!("{count} findings, first status {s}"),
            None => format!("{count} findings"),
        },
        ReportKind::Failure { findings } => findings
            .iter()
            .map(|f| match f {
                Finding::Status { index, status } => format!("setting {index} status {status}"),
                Finding::VerifyMismatch { index } => {
                    format!("setting {index} reads back differently")
                }
                Finding::Missing { index } => format!("setting {index} not applied"),
                Finding::Late { after } => format!("applied late ({after})"),
            })
            .collect::<Vec<_>>()
            .join("; "),
    }
}

fn report_json(r: &Report) -> serde_json::Value {
    json!({
        "campaign": r.campaign.as_str(),
        "revision": r.revision,
        "device": r.device.as_str(),
        "attempt": r.attempt,
        "evaluated_at": format_rfc3339(r.evaluated_at),
        "kind": serde_json::to_value(&r.kind).unwrap_or_default(),
    })
}
