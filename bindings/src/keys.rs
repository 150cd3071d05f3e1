//! Keys, the slot functions (checked against tests/vectors/slots.json in every language)
//! and wire inspection (tests/vectors/wire.json): each calls one
//! [`devcare::host::keys`] function.

use devcare::host::keys;
use devcare::{Duration, ReportKind, Timestamp};

use crate::DevcareError;

/// The ed25519 public key of the signing key with secret `seed` (32 bytes).
#[uniffi::export]
pub fn public_key(seed: Vec<u8>) -> Result<Vec<u8>, DevcareError> {
    Ok(keys::public_key(&seed)?.to_vec())
}

/// A device's report key derived from the server's `master` secret.
#[uniffi::export]
pub fn derive_device_key(master: Vec<u8>, device_id: String) -> Result<Vec<u8>, DevcareError> {
    Ok(keys::derive_device_key(&master, &device_id)?.to_vec())
}

/// SipHash-2-4 of the device id under the campaign salt (16 bytes).
#[uniffi::export]
pub fn slot(salt: Vec<u8>, device_id: String) -> Result<u64, DevcareError> {
    Ok(keys::slot(&salt, &device_id)?)
}

/// When the first report is due: `evaluated_at + offset + slot % window`.
#[uniffi::export]
pub fn first_report_at(
    salt: Vec<u8>,
    device_id: String,
    evaluated_at_ms: u64,
    offset_ms: u64,
    window_ms: u64,
) -> Result<u64, DevcareError> {
    let t = keys::first_report_at(
        &salt,
        &device_id,
        Timestamp(evaluated_at_ms),
        Duration(offset_ms),
        Duration(window_ms),
    )?;
    Ok(t.as_millis())
}

/// Delay before resend `retry` (from 1).
#[uniffi::export]
pub fn retry_delay(
    salt: Vec<u8>,
    device_id: String,
    retry: u32,
    backoff_ms: u64,
    max_backoff_ms: u64,
) -> Result<u64, DevcareError> {
    let d = keys::retry_delay(
        &salt,
        &device_id,
        retry,
        Duration(backoff_ms),
        Duration(max_backoff_ms),
    )?;
    Ok(d.as_millis())
}

/// Whether a healthy device sends a success probe at `ppm` parts per million.
#[uniffi::export]
pub fn sampled(salt: Vec<u8>, device_id: String, ppm: u32) -> Result<bool, DevcareError> {
    Ok(keys::sampled(&salt, &device_id, ppm)?)
}

/// What a verified payload carries.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PayloadInfo {
    /// Campaign id.
    pub campaign: String,
    /// Revision.
    pub revision: u32,
    /// Issue time.
    pub issued_at_ms: u64,
    /// Expiry of the payload.
    pub valid_until_ms: u64,
    /// The settings' URIs, in order.
    pub setting_uris: Vec<String>,
    /// Payload format version (1 or 2).
    pub format: u8,
    /// The care timeout of the schedule, ms (format 1: the default, 1 hour).
    pub care_timeout_ms: u64,
}

/// Verifies a payload against `server_public_key` at `now_ms` and says what it carries.
#[uniffi::export]
pub fn open_payload(
    bytes: Vec<u8>,
    server_public_key: Vec<u8>,
    now_ms: u64,
) -> Result<PayloadInfo, DevcareError> {
    let p = keys::inspect_payload(&bytes, &server_public_key, Timestamp(now_ms))?;
    Ok(PayloadInfo {
        campaign: p.campaign,
        revision: p.revision,
        issued_at_ms: p.issued_at.as_millis(),
        valid_until_ms: p.valid_until.as_millis(),
        setting_uris: p.setting_uris,
        format: p.format,
        care_timeout_ms: p.care_timeout.as_millis(),
    })
}

/// What an authenticated report says.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ReportInfo {
    /// Campaign id.
    pub campaign: String,
    /// Revision.
    pub revision: u32,
    /// Reporting device.
    pub device: String,
    /// Attempt.
    pub attempt: u32,
    /// When the device evaluated.
    pub evaluated_at_ms: u64,
    /// "failure", "summary" or "success".
    pub kind: String,
    /// Indices of the settings the findings name.
    pub failed_settings: Vec<u32>,
}

/// Authenticates report bytes with `device_key` (32 bytes) and decodes them.
#[uniffi::export]
pub fn decode_report(bytes: Vec<u8>, device_key: Vec<u8>) -> Result<ReportInfo, DevcareError> {
    let r = keys::inspect_report(&bytes, &device_key)?;
    let (kind, failed) = match &r.kind {
        ReportKind::Failure { findings } => (
            "failure",
            findings
                .iter()
                .filter_map(devcare::Finding::setting)
                .collect(),
        ),
        ReportKind::FailureSummary { .. } => ("summary", vec![]),
        ReportKind::Success => ("success", vec![]),
    };
    Ok(ReportInfo {
        campaign: r.campaign.to_string(),
        revision: r.revision,
        device: r.device.to_string(),
        attempt: r.attempt,
        evaluated_at_ms: r.evaluated_at.as_millis(),
        kind: kind.to_string(),
        failed_settings: failed,
    })
}

/// What a key file holds (`readKeyFile`, `writeKeyFile`).
#[cfg(feature = "server")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum KeyFileKind {
    /// The payload signing key: PKCS#8 PEM `PRIVATE KEY` (the Ed25519 seed).
    Signing,
    /// Its public half: SPKI PEM `PUBLIC KEY`.
    Public,
    /// The report master key: PEM `DEVCARE REPORT MASTER KEY`.
    ReportMaster,
    /// One device's report key: PEM `DEVCARE DEVICE KEY`.
    Device,
}

#[cfg(feature = "server")]
impl From<KeyFileKind> for devcare::keyfile::KeyKind {
    fn from(k: KeyFileKind) -> Self {
        use devcare::keyfile::KeyKind;
        match k {
            KeyFileKind::Signing => KeyKind::Signing,
            KeyFileKind::Public => KeyKind::Public,
            KeyFileKind::ReportMaster => KeyKind::ReportMaster,
            KeyFileKind::Device => KeyKind::Device,
        }
    }
}

/// A key read from a file.
#[cfg(feature = "server")]
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct KeyFileContents {
    /// The 32 key bytes.
    pub key: Vec<u8>,
    /// It was a bare 64-hex file (deprecated: it does not say what it holds).
    pub legacy_hex: bool,
}

/// Reads key file text that must hold a key of `kind`; a key of another kind raises
/// `Refused` with reason "key-wrong-kind" (the detail names both).
#[cfg(feature = "server")]
#[uniffi::export]
pub fn read_key_file(text: String, kind: KeyFileKind) -> Result<KeyFileContents, DevcareError> {
    let k = devcare::keyfile::parse_key_file(&text, kind.into())
        .map_err(devcare::host::HostError::from)?;
    Ok(KeyFileContents {
        key: k.bytes.to_vec(),
        legacy_hex: k.legacy_hex,
    })
}

/// `key` (32 bytes) as the PEM text of a key file of `kind`.
#[cfg(feature = "server")]
#[uniffi::export]
pub fn write_key_file(kind: KeyFileKind, key: Vec<u8>) -> Result<String, DevcareError> {
    let bytes: [u8; 32] = key
        .as_slice()
        .try_into()
        .map_err(|_| DevcareError::InvalidInput {
            detail: format!("a key is 32 bytes, got {}", key.len()),
        })?;
    let pem = devcare::keyfile::render_key_file(kind.into(), &bytes)
        .map_err(devcare::host::HostError::from)?;
    Ok(pem.to_string())
}
