//! `devcare`: the operator's tool for selective device care campaigns.
//!
//! Exit codes: 0 success, 2 bad input (the message names the file and line:col or field),
//! 1 internal failure.
#![forbid(unsafe_code)]

mod describe;
mod plot;
mod report;
mod simulate;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use devcare::payload::{self, PayloadLimits, ServerKey, TrustedKeys};
use devcare::store::{EventStore, SledStore, StreamId};
use devcare::text::{format_rfc3339, hex_decode, hex_encode, parse_human_duration, parse_rfc3339};
use devcare::{Campaign, DeviceEvent, ServerEvent, Timestamp};
use serde_json::json;

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
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Create a signing key pair: NAME.key (secret, mode 0600) and NAME.pub.
    Keygen {
        /// Path prefix of the two files.
        #[arg(long, value_name = "NAME")]
        out: PathBuf,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Check or sign campaign files.
    #[command(subcommand)]
    Campaign(CampaignCmd),
    /// Inspect broadcast payloads.
    #[command(subcommand)]
    Payload(PayloadCmd),
    /// Inspect event logs.
    #[command(subcommand)]
    Log(LogCmd),
    /// Run a whole campaign over a simulated fleet (the real deciders, formats and store).
    Simulate(simulate::SimArgs),
    /// Render or parse reports as OMA DM 1.2 Generic Alerts.
    #[command(subcommand)]
    Report(report::ReportCmd),
}

#[derive(Debug, Subcommand)]
enum CampaignCmd {
    /// Read a campaign file and say what it does, or where it is wrong.
    Check {
        /// The campaign file (TOML).
        file: PathBuf,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Sign a campaign file into the broadcast payload devices receive.
    Build(BuildArgs),
}

#[derive(Debug, Args)]
struct BuildArgs {
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
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum PayloadCmd {
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
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum LogCmd {
    /// Print the events of a sled event store, one per line.
    Inspect {
        /// The store directory.
        dir: PathBuf,
        /// Only this stream (e.g. server/apn-2026-11).
        #[arg(long, value_name = "ID")]
        stream: Option<String>,
        /// JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// A failure, with the exit code it maps to.
#[derive(Debug)]
enum CliError {
    /// Bad input: exit 2.
    Input(String),
    /// Internal failure: exit 1.
    Internal(String),
}

type Result<T> = std::result::Result<T, CliError>;

fn input(msg: impl Into<String>) -> CliError {
    CliError::Input(msg.into())
}

fn internal(msg: impl Into<String>) -> CliError {
    CliError::Internal(msg.into())
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| input(format!("{}: cannot read: {e}", path.display())))
}

fn read_hex32(path: &Path, what: &str) -> Result<[u8; 32]> {
    let text = read_text(path)?;
    let bytes = hex_decode(text.trim())
        .filter(|b| b.len() == 32)
        .ok_or_else(|| {
            input(format!(
                "{}:1:1: expected a {what} of 64 hex digits",
                path.display()
            ))
        })?;
    let mut out = [0u8; 32];
    out.copy_from_slice(&bytes);
    Ok(out)
}

fn load_campaign(path: &Path) -> Result<Campaign> {
    let text = read_text(path)?;
    Campaign::from_toml(&path.display().to_string(), &text).map_err(|e| input(e.to_string()))
}

fn print_json(v: &serde_json::Value) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, v).map_err(|e| internal(e.to_string()))?;
    writeln!(out).map_err(|e| internal(e.to_string()))
}

fn keygen(out: &Path, json: bool) -> Result<()> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| internal(format!("no randomness from the OS: {e}")))?;
    let key = ServerKey::from_seed(&seed);
    let key_path = PathBuf::from(format!("{}.key", out.display()));
    let pub_path = PathBuf::from(format!("{}.pub", out.display()));
    for p in [&key_path, &pub_path] {
        if p.exists() {
            return Err(input(format!(
                "{}: already exists; refusing to overwrite a key",
                p.display()
            )));
        }
    }
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&key_path)
            .map_err(|e| input(format!("{}: cannot create: {e}", key_path.display())))?;
        writeln!(f, "{}", hex_encode(&key.seed())).map_err(|e| internal(e.to_string()))?;
    }
    std::fs::write(
        &pub_path,
        format!("{}\n", hex_encode(key.public().as_bytes())),
    )
    .map_err(|e| input(format!("{}: cannot write: {e}", pub_path.display())))?;
    if json {
        print_json(&json!({
            "key": key_path.display().to_string(),
            "pub": pub_path.display().to_string(),
            "key_id": hex_encode(&key.id()),
        }))
    } else {
        println!(
            "wrote {} (secret, mode 0600) and {}",
            key_path.display(),
            pub_path.display()
        );
        println!("key id {}", hex_encode(&key.id()));
        Ok(())
    }
}

fn campaign_check(file: &Path, json: bool) -> Result<()> {
    let c = load_campaign(file)?;
    if json {
        print_json(&describe::campaign_json(&c))
    } else {
        println!("{}: ok", file.display());
        print!("{}", describe::campaign_text(&c));
        Ok(())
    }
}

fn campaign_build(a: &BuildArgs) -> Result<()> {
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
    if a.json {
        print_json(&json!({
            "out": a.out.display().to_string(),
            "bytes": bytes.len(),
            "key_id": hex_encode(&key.id()),
            "valid_until": format_rfc3339(valid_until),
        }))
    } else {
        println!(
            "wrote {}: {} bytes, signed by key {}, valid until {}",
            a.out.display(),
            bytes.len(),
            hex_encode(&key.id()),
            format_rfc3339(valid_until)
        );
        Ok(())
    }
}

fn now() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Timestamp(ms)
}

fn payload_inspect(file: &Path, public: &Path, at: Option<&str>, json: bool) -> Result<()> {
    let bytes =
        std::fs::read(file).map_err(|e| input(format!("{}: cannot read: {e}", file.display())))?;
    let mut trusted = TrustedKeys::new();
    trusted
        .add_bytes(&read_hex32(public, "public key")?)
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
    if json {
        print_json(&json!({
            "verified": true,
            "bytes": bytes.len(),
            "key_id": hex_encode(&p.key_id),
            "valid_until": format_rfc3339(p.valid_until),
            "campaign": describe::campaign_json(&p.campaign),
        }))
    } else {
        println!(
            "{}: verified, {} bytes, signed by key {}, valid until {}",
            file.display(),
            bytes.len(),
            hex_encode(&p.key_id),
            format_rfc3339(p.valid_until)
        );
        print!("{}", describe::campaign_text(&p.campaign));
        Ok(())
    }
}

fn log_inspect(dir: &Path, stream: Option<&str>, json: bool) -> Result<()> {
    if !dir.join("conf").is_file() {
        return Err(input(format!(
            "{}: not a devcare sled store (no conf file)",
            dir.display()
        )));
    }
    let store = SledStore::open(dir).map_err(|e| input(format!("{}: {e}", dir.display())))?;
    let streams = match stream {
        Some(s) => vec![StreamId::new(s).map_err(|e| input(format!("--stream: {e}")))?],
        None => store.streams().map_err(|e| internal(e.to_string()))?,
    };
    let mut out = std::io::stdout().lock();
    for s in &streams {
        let mut emit = |seq: u64, value: serde_json::Value, text: String| -> std::io::Result<()> {
            if json {
                serde_json::to_writer(
                    &mut out,
                    &json!({ "stream": s.as_str(), "seq": seq, "event": value }),
                )?;
                writeln!(out)
            } else {
                writeln!(out, "{s} {seq} {text}")
            }
        };
        let mut io_err = None;
        let side = devcare::decider::Side::of(s).map(|(side, _)| side);
        let result = if side == Some(devcare::decider::Side::Device) {
            store.fold(s, 0, |seq, e: DeviceEvent| {
                if io_err.is_none()
                    && let Err(e) = emit(
                        seq,
                        serde_json::to_value(&e).unwrap_or_default(),
                        format!("{e:?}"),
                    )
                {
                    io_err = Some(e);
                }
            })
        } else {
            store.fold(s, 0, |seq, e: ServerEvent| {
                if io_err.is_none()
                    && let Err(e) = emit(
                        seq,
                        serde_json::to_value(&e).unwrap_or_default(),
                        format!("{e:?}"),
                    )
                {
                    io_err = Some(e);
                }
            })
        };
        if let Some(e) = io_err {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(());
            }
            return Err(internal(e.to_string()));
        }
        result.map_err(|e| input(format!("{}: {e}", dir.display())))?;
    }
    Ok(())
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Keygen { out, json } => keygen(&out, json),
        Cmd::Campaign(CampaignCmd::Check { file, json }) => campaign_check(&file, json),
        Cmd::Campaign(CampaignCmd::Build(a)) => campaign_build(&a),
        Cmd::Payload(PayloadCmd::Inspect {
            file,
            public,
            at,
            json,
        }) => payload_inspect(&file, &public, at.as_deref(), json),
        Cmd::Log(LogCmd::Inspect { dir, stream, json }) => {
            log_inspect(&dir, stream.as_deref(), json)
        }
        Cmd::Simulate(a) => simulate::run(&a),
        Cmd::Report(c) => report::run(&c),
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
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Input(m)) => {
            eprintln!("devcare: {m}");
            ExitCode::from(2)
        }
        Err(CliError::Internal(m)) => {
            eprintln!("devcare: internal error: {m}");
            ExitCode::from(1)
        }
    }
}
