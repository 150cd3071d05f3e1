//! Failures and their exit codes (2 bad input, 1 internal), and reading the operator's
//! files with errors that name the file.

use std::path::Path;

use devcare::Campaign;
use devcare::keyfile::{KeyKind, parse_key_file};
use zeroize::Zeroizing;

/// A failure, with the exit code it maps to.
#[derive(Debug)]
pub(crate) enum CliError {
    /// Bad input: exit 2.
    Input(String),
    /// Internal failure: exit 1.
    Internal(String),
}

pub(crate) type Result<T> = std::result::Result<T, CliError>;

/// Where a message says it went wrong: its leading `FILE:LINE:COL:` or `FILE:` (a file that
/// exists), as `{"file", "line", "col"}`; null when it names no place.
pub(crate) fn location(message: &str) -> serde_json::Value {
    let head = message.split(": ").next().unwrap_or_default();
    let mut parts = head.rsplitn(3, ':');
    let (col, line, file) = (parts.next(), parts.next(), parts.next());
    if let (Some(c), Some(l), Some(f)) = (col, line, file)
        && let (Ok(c), Ok(l)) = (c.parse::<u64>(), l.parse::<u64>())
    {
        return serde_json::json!({ "file": f, "line": l, "col": c });
    }
    if head != message && Path::new(head).exists() {
        return serde_json::json!({ "file": head });
    }
    serde_json::Value::Null
}

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

/// Reads a key file that must hold `kind` (`devcare::keyfile`): PEM naming what it is, or
/// (deprecated, with a note on standard error) bare hex. A key of another kind is an input
/// error naming both — a bare hex file named `.pub` where a secret is needed too.
pub(crate) fn read_key(path: &Path, kind: KeyKind) -> Result<Zeroizing<[u8; 32]>> {
    let text = Zeroizing::new(read_text(path)?);
    let key = parse_key_file(&text, kind).map_err(|e| input(format!("{}: {e}", path.display())))?;
    if key.legacy_hex {
        let named_pub = path.extension().is_some_and(|e| e == "pub");
        if named_pub && kind != KeyKind::Public {
            return Err(input(format!(
                "{}: a bare hex file named .pub is a public key, but {kind} is needed",
                path.display()
            )));
        }
        eprintln!(
            "note: {}: a bare hex key file is deprecated (it does not say what it holds); \
             `devcare keygen` writes PEM",
            path.display()
        );
    }
    Ok(key.bytes)
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
