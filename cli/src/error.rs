//! Failures and their exit codes (2 bad input, 1 internal), and reading the operator's
//! files with errors that name the file.

use std::path::Path;

use devcare::Campaign;
use devcare::text::hex_decode;

/// A failure, with the exit code it maps to.
#[derive(Debug)]
pub(crate) enum CliError {
    /// Bad input: exit 2.
    Input(String),
    /// Internal failure: exit 1.
    Internal(String),
}

pub(crate) type Result<T> = std::result::Result<T, CliError>;

pub(crate) fn input(msg: impl Into<String>) -> CliError {
    CliError::Input(msg.into())
}

pub(crate) fn internal(msg: impl Into<String>) -> CliError {
    CliError::Internal(msg.into())
}

pub(crate) fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| input(format!("{}: cannot read: {e}", path.display())))
}

pub(crate) fn read_hex32(path: &Path, what: &str) -> Result<[u8; 32]> {
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

pub(crate) fn load_campaign(path: &Path) -> Result<Campaign> {
    Ok(load_campaign_file(path)?.0)
}

/// [`load_campaign`] with the file's server-side `[coverage]` policy.
pub(crate) fn load_campaign_file(
    path: &Path,
) -> Result<(Campaign, Option<devcare::server::CoverageFloor>)> {
    let text = read_text(path)?;
    devcare::file::parse_campaign_file(
        &path.display().to_string(),
        &text,
        &devcare::Limits::DEFAULT,
    )
    .map_err(|e| input(e.to_string()))
}
