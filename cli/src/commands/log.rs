//! `devcare log inspect`: the events of an event store (a sled directory, a device's log
//! directory or a PostgreSQL database), one per line.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use devcare::decider::Side;
use devcare::store::{EventStore, StreamId};
use devcare::{DeviceEvent, ServerEvent};
use serde_json::json;

use crate::error::{Result, input, internal};
use crate::printer::{Printer, quiet_on_closed_pipe};

#[derive(Debug, Subcommand)]
pub(crate) enum LogCmd {
    /// Print the events of an event store, one per line (JSON lines with --json).
    Inspect {
        /// The store: a sled directory, a device's log directory (holding devcare.log), or a
        /// PostgreSQL connection string (`postgres://user@host/db`).
        dir: PathBuf,
        /// Only this stream (e.g. server/apn-2026-11).
        #[arg(long, value_name = "ID")]
        stream: Option<String>,
    },
}

pub(crate) fn run(cmd: &LogCmd, printer: Printer) -> Result<()> {
    match cmd {
        LogCmd::Inspect { dir, stream } => inspect(dir, stream.as_deref(), printer),
    }
}

/// Prints every event of `stream` as `E`; stops at the first write error.
fn print_stream<E: devcare::store::Persist + serde::Serialize + std::fmt::Debug>(
    store: &dyn EventStore,
    stream: &StreamId,
    printer: Printer,
    out: &mut impl std::io::Write,
) -> Result<std::io::Result<()>> {
    let mut written = Ok(());
    (&store)
        .fold(stream, 0, |seq, e: E| {
            if written.is_ok() {
                written = printer.line(
                    out,
                    || format!("{stream} {seq} {e:?}"),
                    || {
                        json!({
                            "stream": stream.as_str(),
                            "seq": seq,
                            "event": serde_json::to_value(&e).unwrap_or_default(),
                        })
                    },
                );
            }
        })
        .map_err(|e| input(e.to_string()))?;
    Ok(written)
}

fn inspect(dir: &Path, stream: Option<&str>, printer: Printer) -> Result<()> {
    let (store, torn) = crate::store::open_existing(dir)?;
    let store: &dyn EventStore = &*store;
    if torn > 0 {
        // Read only: the tail stays where it is; say what a device's own open would do.
        eprintln!(
            "note: {}: the log ends in {torn} bytes of a torn append (a write a power cut \
             interrupted, never acknowledged): not shown, and left in place (the device's own \
             open moves them to devcare.log.torn)",
            dir.display()
        );
    }
    let streams = match stream {
        Some(s) => vec![StreamId::new(s).map_err(|e| input(format!("--stream: {e}")))?],
        None => store.streams().map_err(|e| internal(e.to_string()))?,
    };
    let mut out = std::io::stdout().lock();
    for s in &streams {
        let written = match Side::of(s).map(|(side, _)| side) {
            Some(Side::Device) => print_stream::<DeviceEvent>(store, s, printer, &mut out),
            None if s.as_str() == devcare::host::GROUPS_STREAM => {
                print_stream::<devcare::host::DirectoryEvent>(store, s, printer, &mut out)
            }
            _ => print_stream::<ServerEvent>(store, s, printer, &mut out),
        }
        .map_err(|e| match e {
            crate::error::CliError::Input(m) => input(format!("{}: {m}", dir.display())),
            other => other,
        })?;
        if let Err(e) = written {
            return quiet_on_closed_pipe(Err(e));
        }
    }
    Ok(())
}
