//! `devcare campaign check|build|sample`: read a campaign file back in words, sign it into
//! the broadcast payload, or count its success sample over a device list.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use devcare::Timestamp;
use devcare::keyfile::KeyKind;
use devcare::payload::{self, PayloadLimits, ServerKey};
use devcare::text::{format_rfc3339, hex_encode, parse_human_duration, parse_rfc3339};
use serde_json::json;

use crate::describe;
use crate::error::{Result, input, load_campaign, read_key};
use crate::printer::Printer;

#[derive(Debug, Subcommand)]
pub(crate) enum CampaignCmd {
    /// Read a campaign file and say what it does, or where it is wrong.
    Check {
        /// The campaign file (TOML).
        file: PathBuf,
    },
    /// Sign a campaign file into the broadcast payload devices receive.
    Build(BuildArgs),
    /// Count which devices of a list (one id per line, the targets from your directory) are
    /// in the campaign's success sample: the number a server is told
    /// (`set_sampled_targets`) for a coverage interval valid for this campaign.
    Sample {
        /// The campaign file (TOML).
        file: PathBuf,
        /// The device ids, one per line (`-` for standard input).
        #[arg(long, value_name = "FILE|-")]
        devices: PathBuf,
    },
}

#[derive(Debug, Args)]
pub(crate) struct BuildArgs {
    /// The campaign file (TOML).
    file: PathBuf,
    /// The signing key made by `devcare keygen`.
    #[arg(long, value_name = "NAME.key")]
    key: PathBuf,
    /// Where to write the payload.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// How long after the campaign's issue time devices accept the payload
    /// [default: the campaign's report deadline].
    #[arg(long, value_name = "DURATION")]
    valid_for: Option<String>,
    /// Issue the campaign at this time instead of the file's `issued_at`: RFC 3339, or
    /// `now` (an example campaign stays usable after its date).
    #[arg(long, value_name = "TIME|now")]
    issued_at: Option<String>,
    /// Write the payload even if it has already expired (devices refuse it).
    #[arg(long)]
    allow_expired: bool,
}

pub(crate) fn run(cmd: &CampaignCmd, printer: Printer) -> Result<()> {
    match cmd {
        CampaignCmd::Check { file } => check(file, printer),
        CampaignCmd::Build(a) => build(a, printer),
        CampaignCmd::Sample { file, devices } => sample(file, devices, printer),
    }
}

fn sample(file: &Path, devices: &Path, printer: Printer) -> Result<()> {
    let c = load_campaign(file)?;
    let text = if devices == Path::new("-") {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| input(format!("standard input: {e}")))?
    } else {
        std::fs::read_to_string(devices)
            .map_err(|e| input(format!("{}: {e}", devices.display())))?
    };
    let ppm = c.schedule.sample_success_ppm;
    let mut listed = 0u64;
    let mut sampled = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let id = line.trim();
        if id.is_empty() {
            continue;
        }
        let d = devcare::DeviceId::new(id).map_err(|e| {
            input(format!(
                "{}:{}: device id: {}",
                devices.display(),
                n + 1,
                e.reason
            ))
        })?;
        listed += 1;
        if devcare::slot::sampled(&c.salt, &d, ppm) {
            sampled.push(d.to_string());
        }
    }
    printer.result(
        || {
            format!(
                "{}: {} of {listed} devices sampled at {ppm} ppm (expected {:.1})\n",
                c.id,
                sampled.len(),
                listed as f64 * f64::from(ppm) / 1e6
            )
        },
        || {
            json!({
                "campaign": c.id.as_str(),
                "devices": listed,
                "sampled_targets": sampled.len(),
                "sample_ppm": ppm,
                "sampled": sampled,
            })
        },
    )
}

fn check(file: &Path, printer: Printer) -> Result<()> {
    let c = load_campaign(file)?;
    printer.result(
        || format!("{}: ok\n{}", file.display(), describe::campaign_text(&c)),
        || describe::campaign_json(&c),
    )
}

fn build(a: &BuildArgs, printer: Printer) -> Result<()> {
    let mut c = load_campaign(&a.file)?;
    let key = ServerKey::from_seed(&*read_key(&a.key, KeyKind::Signing)?);
    let now = super::payload::now();
    match a.issued_at.as_deref() {
        None => {}
        Some("now") => c.issued_at = Timestamp(now.as_millis() / 1_000 * 1_000),
        Some(t) => {
            c.issued_at = parse_rfc3339(t).map_err(|e| input(format!("--issued-at: {e}")))?
        }
    }
    let valid_for = match &a.valid_for {
        None => c.schedule.report.deadline,
        Some(s) => parse_human_duration(s).map_err(|e| input(format!("--valid-for: {e}")))?,
    };
    let valid_until = c.issued_at.plus(valid_for);
    if c.issued_at > now.plus(devcare::rules::FUTURE_SKEW) {
        return Err(input(format!(
            "{}: issued at {}, more than a day after now ({}): devices refuse it \
             (issued-in-future); fix issued_at or give --issued-at now",
            a.file.display(),
            c.issued_at,
            now
        )));
    }
    if valid_until <= now && !a.allow_expired {
        return Err(input(format!(
            "{}: the payload would expire at {valid_until} (issued {} + {valid_for}), before \
             now ({now}): give --issued-at now, a longer --valid-for, or --allow-expired",
            a.file.display(),
            c.issued_at
        )));
    }
    let bytes = payload::build_payload(&c, &key, valid_until, &PayloadLimits::default())
        .map_err(|e| input(format!("{}: {e}", a.file.display())))?;
    std::fs::write(&a.out, &bytes)
        .map_err(|e| input(format!("{}: cannot write: {e}", a.out.display())))?;
    printer.result(
        || {
            format!(
                "wrote {}: {} bytes, signed by key {}, issued {}, valid until {}{}\n",
                a.out.display(),
                bytes.len(),
                hex_encode(&key.id()),
                format_rfc3339(c.issued_at),
                format_rfc3339(valid_until),
                if valid_until <= now {
                    " (already expired: devices refuse it)"
                } else {
                    ""
                }
            )
        },
        || {
            json!({
                "out": a.out.display().to_string(),
                "bytes": bytes.len(),
                "key_id": hex_encode(&key.id()),
                "issued_at": format_rfc3339(c.issued_at),
                "valid_until": format_rfc3339(valid_until),
                "expired": valid_until <= now,
            })
        },
    )
}
