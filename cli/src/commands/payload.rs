//! `devcare payload inspect`: verify a broadcast payload and show what it carries.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use devcare::Timestamp;
use devcare::keyfile::KeyKind;
use devcare::payload::{self, PayloadLimits, TrustedKeys};
use devcare::text::{format_rfc3339, hex_encode, parse_rfc3339};
use serde_json::json;

use crate::describe;
use crate::error::{Result, input, read_key};
use crate::printer::Printer;

#[derive(Debug, Subcommand)]
pub(crate) enum PayloadCmd {
    /// Verify a payload against a public key and show what it carries.
    Inspect {
        /// The payload file.
        file: PathBuf,
        /// The public key made by `devcare keygen`.
        #[arg(long = "pub", value_name = "NAME.pub")]
        public: PathBuf,
        /// Check expiry at this time (RFC 3339) instead of now.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
    },
}

pub(crate) fn run(cmd: &PayloadCmd, printer: Printer) -> Result<()> {
    match cmd {
        PayloadCmd::Inspect { file, public, at } => inspect(file, public, at.as_deref(), printer),
    }
}

/// The wall clock: the CLI is a host, and hosts pass time into devcare.
pub(crate) fn now() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Timestamp(ms)
}

fn inspect(file: &Path, public: &Path, at: Option<&str>, printer: Printer) -> Result<()> {
    let bytes =
        std::fs::read(file).map_err(|e| input(format!("{}: cannot read: {e}", file.display())))?;
    let mut trusted = TrustedKeys::new();
    trusted
        .add_bytes(&*read_key(public, KeyKind::Public)?)
        .map_err(|e| input(format!("{}: {e}", public.display())))?;
    let at = match at {
        None => now(),
        Some(s) => parse_rfc3339(s).map_err(|e| input(format!("--at: {e}")))?,
    };
    let p =
        payload::open_payload(&bytes, &trusted, at, &PayloadLimits::default()).map_err(|e| {
            input(format!(
                "{}: rejected ({}): {e}",
                file.display(),
                e.reason()
            ))
        })?;
    printer.result(
        || {
            format!(
                "{}: verified, {} bytes, signed by key {}, valid until {}\n{}",
                file.display(),
                bytes.len(),
                hex_encode(&p.key_id),
                format_rfc3339(p.valid_until),
                describe::campaign_text(&p.campaign)
            )
        },
        || {
            json!({
                "verified": true,
                "bytes": bytes.len(),
                "key_id": hex_encode(&p.key_id),
                "valid_until": format_rfc3339(p.valid_until),
                "campaign": describe::campaign_json(&p.campaign),
            })
        },
    )
}
