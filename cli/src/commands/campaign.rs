//! `devcare campaign check|build`: read a campaign file back in words, or sign it into the
//! broadcast payload.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use devcare::payload::{self, PayloadLimits, ServerKey};
use devcare::text::{format_rfc3339, hex_encode, parse_human_duration};
use serde_json::json;

use crate::describe;
use crate::error::{Result, input, load_campaign, read_hex32};
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
}

pub(crate) fn run(cmd: &CampaignCmd, printer: Printer) -> Result<()> {
    match cmd {
        CampaignCmd::Check { file } => check(file, printer),
        CampaignCmd::Build(a) => build(a, printer),
    }
}

fn check(file: &Path, printer: Printer) -> Result<()> {
    let c = load_campaign(file)?;
    printer.result(
        || format!("{}: ok\n{}", file.display(), describe::campaign_text(&c)),
        || describe::campaign_json(&c),
    )
}

fn build(a: &BuildArgs, printer: Printer) -> Result<()> {
    let c = load_campaign(&a.file)?;
    let key = ServerKey::from_seed(&read_hex32(&a.key, "secret key")?);
    let valid_for = match &a.valid_for {
        None => c.schedule.report.deadline,
        Some(s) => parse_human_duration(s).map_err(|e| input(format!("--valid-for: {e}")))?,
    };
    let valid_until = c.issued_at.plus(valid_for);
    let bytes = payload::build_payload(&c, &key, valid_until, &PayloadLimits::default())
        .map_err(|e| input(format!("{}: {e}", a.file.display())))?;
    std::fs::write(&a.out, &bytes)
        .map_err(|e| input(format!("{}: cannot write: {e}", a.out.display())))?;
    printer.result(
        || {
            format!(
                "wrote {}: {} bytes, signed by key {}, valid until {}\n",
                a.out.display(),
                bytes.len(),
                hex_encode(&key.id()),
                format_rfc3339(valid_until)
            )
        },
        || {
            json!({
                "out": a.out.display().to_string(),
                "bytes": bytes.len(),
                "key_id": hex_encode(&key.id()),
                "valid_until": format_rfc3339(valid_until),
            })
        },
    )
}
