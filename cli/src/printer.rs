//! The one printer: every command's result goes through it, as text or as JSON
//! (`--format text|json`, `--json` for short). Writing to a closed pipe ends quietly.

use std::io::Write;

use clap::ValueEnum;

use crate::error::{Result, internal};

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Lines for people.
    Text,
    /// One JSON object per result (JSON lines for streams).
    Json,
}

/// Prints results in the chosen [`Format`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Printer {
    format: Format,
}

impl Printer {
    pub(crate) fn new(format: Format) -> Self {
        Printer { format }
    }

    /// Prints one result: `text()` as it is, or `json()` as one JSON object on a line.
    pub(crate) fn result(
        &self,
        text: impl FnOnce() -> String,
        json: impl FnOnce() -> serde_json::Value,
    ) -> Result<()> {
        let mut out = std::io::stdout().lock();
        let written = match self.format {
            Format::Text => out.write_all(text().as_bytes()),
            Format::Json => serde_json::to_writer(&mut out, &json())
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(out)),
        };
        quiet_on_closed_pipe(written)
    }

    /// Writes one line of a stream: `text` or `json` (JSON lines).
    pub(crate) fn line(
        &self,
        out: &mut impl Write,
        text: impl FnOnce() -> String,
        json: impl FnOnce() -> serde_json::Value,
    ) -> std::io::Result<()> {
        match self.format {
            Format::Text => writeln!(out, "{}", text()),
            Format::Json => {
                serde_json::to_writer(&mut *out, &json())?;
                writeln!(out)
            }
        }
    }
}

/// A write error, except that a closed pipe (`devcare … | head`) ends quietly.
pub(crate) fn quiet_on_closed_pipe(r: std::io::Result<()>) -> Result<()> {
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(internal(e.to_string())),
        Ok(()) => Ok(()),
    }
}
