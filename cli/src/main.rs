//! `devcare`: the operator's tool for selective device care campaigns.
//!
//! Layout (after uv's `commands/` and `printer.rs`): one module per command under
//! [`commands`], one [`printer::Printer`] for text and JSON, one error type with exit
//! codes in [`error`]. Exit codes: 0 success, 2 bad input (the message names the file and
//! line:col or field), 1 internal failure.
#![recursion_limit = "256"]
#![forbid(unsafe_code)]

mod commands;
mod describe;
mod error;
mod plot;
mod printer;
mod store;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use commands::{campaign, keygen, log, payload, report, simulate};
use error::{CliError, Result};
use printer::{Format, Printer};

/// Selective device care after broadcast provisioning.
///
/// A campaign is a set of DM settings broadcast to many devices at once, with a care
/// schedule: only devices whose provisioning fails report (each at its own slot in a report
/// window), and the server re-provisions just those. Use `campaign check` to read a campaign
/// file back in words, `campaign build` to sign it into the broadcast payload, `payload
/// inspect` to verify one, `log inspect` to read a server's event log, and `simulate` to run
/// a whole campaign over a simulated fleet.
#[derive(Debug, Parser)]
#[command(name = "devcare", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    /// How to print results: text for people, json for one JSON object per result.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Same as --format json.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Create a signing key pair: NAME.key (secret, mode 0600) and NAME.pub.
    Keygen {
        /// Path prefix of the two files.
        #[arg(long, value_name = "NAME")]
        out: PathBuf,
    },
    /// Check or sign campaign files.
    #[command(subcommand)]
    Campaign(campaign::CampaignCmd),
    /// Inspect broadcast payloads.
    #[command(subcommand)]
    Payload(payload::PayloadCmd),
    /// Inspect event logs.
    #[command(subcommand)]
    Log(log::LogCmd),
    /// Run a whole campaign over a simulated fleet (the real deciders, formats and store).
    Simulate(Box<simulate::SimArgs>),
    /// Render or parse reports as OMA DM 1.2 Generic Alerts.
    #[command(subcommand)]
    Report(report::ReportCmd),
}

fn run(cli: Cli) -> Result<()> {
    let printer = Printer::new(if cli.json { Format::Json } else { cli.format });
    match &cli.cmd {
        Cmd::Keygen { out } => keygen::run(out, printer),
        Cmd::Campaign(c) => campaign::run(c, printer),
        Cmd::Payload(c) => payload::run(c, printer),
        Cmd::Log(c) => log::run(c, printer),
        Cmd::Simulate(a) => simulate::run(a, printer),
        Cmd::Report(c) => report::run(c, printer),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let json = cli.json || cli.format == Format::Json;
    let (kind, message, code) = match run(cli) {
        Ok(()) => return ExitCode::SUCCESS,
        Err(CliError::Input(m)) => ("input", m, 2),
        Err(CliError::Internal(m)) => ("internal", m, 1),
    };
    if json {
        // One JSON object on standard error: what kind of failure, the message, and where
        // (file, line, column) when the message locates it.
        eprintln!(
            "{}",
            serde_json::json!({
                "error": { "kind": kind, "message": message, "location": error::location(&message) }
            })
        );
    } else if kind == "internal" {
        eprintln!("devcare: internal error: {message}");
    } else {
        eprintln!("devcare: {message}");
    }
    ExitCode::from(code)
}
