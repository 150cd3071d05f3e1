//! Keys, the slot functions and wire inspection for hosts that hold ids and keys as
//! strings and byte buffers (the C API and the bindings): each checks its arguments and
//! calls the one Rust function that does the work.

use crate::host::HostError;
use crate::model::{DeviceId, Duration, Timestamp};
use crate::payload::{PayloadLimits, ServerKey, TrustedKeys};
use crate::report::Report;
use crate::wire;

/// A 32-byte key from a buffer of any length, or which argument was wrong.
pub fn key32(bytes: &[u8], what: &'static str) -> Result<[u8; 32], HostError> {
    bytes
        .try_into()
        .map_err(|_| HostError::invalid(what, format!("must be 32 bytes, got {}", bytes.len())))
}

/// A 16-byte campaign salt.
pub fn salt16(bytes: &[u8]) -> Result<[u8; 16], HostError> {
    bytes
        .try_into()
        .map_err(|_| HostError::invalid("salt", format!("must be 16 bytes, got {}", bytes.len())))
}

/// A device id from text.
pub fn device_id(text: &str) -> Result<DeviceId, HostError> {
    DeviceId::new(text).map_err(|e| HostError::invalid("device_id", e))
}

/// A campaign id from text.
pub fn campaign_id(text: &str) -> Result<crate::model::CampaignId, HostError> {
    crate::model::CampaignId::new(text).map_err(|e| HostError::invalid("campaign", e))
}

/// A device's group names: non-empty, at most 256, sorted and deduplicated.
pub fn group_names(groups: Vec<String>) -> Result<Vec<String>, HostError> {
    if groups.len() > crate::model::Limits::DEFAULT.max_target_groups {
        return Err(HostError::invalid(
            "groups",
            format!(
                "{} groups, the limit is {}",
                groups.len(),
                crate::model::Limits::DEFAULT.max_target_groups
            ),
        ));
    }
    if let Some(i) = groups.iter().position(String::is_empty) {
        return Err(HostError::invalid("groups", format!("group {i} is empty")));
    }
    let mut groups = groups;
    groups.sort_unstable();
    groups.dedup();
    Ok(groups)
}

/// Trusted keys holding the one server public key `public_key` (32 bytes).
pub fn trust(public_key: &[u8]) -> Result<TrustedKeys, HostError> {
    let mut trusted = TrustedKeys::new();
    trusted.add_bytes(&key32(public_key, "server_public_key")?)?;
    Ok(trusted)
}

/// The ed25519 public key of the signing key with secret `seed` (32 bytes).
pub fn public_key(seed: &[u8]) -> Result<[u8; 32], HostError> {
    Ok(ServerKey::from_seed(&key32(seed, "seed")?)
        .public()
        .to_bytes())
}

/// The report key of `device` under the server's `master` secret (32 bytes): what
/// provisioning writes to the device.
pub fn derive_device_key(master: &[u8], device: &str) -> Result<[u8; 32], HostError> {
    Ok(wire::derive_device_key(
        &key32(master, "master_key")?,
        &device_id(device)?,
    ))
}

/// [`crate::slot::slot`]: SipHash-2-4 of `device` under the 16-byte campaign `salt`.
pub fn slot(salt: &[u8], device: &str) -> Result<u64, HostError> {
    Ok(crate::slot::slot(&salt16(salt)?, &device_id(device)?))
}

/// [`crate::slot::first_report_at`]: `evaluated_at + offset + slot % window`.
pub fn first_report_at(
    salt: &[u8],
    device: &str,
    evaluated_at: Timestamp,
    offset: Duration,
    window: Duration,
) -> Result<Timestamp, HostError> {
    Ok(crate::slot::first_report_at(
        &salt16(salt)?,
        &device_id(device)?,
        evaluated_at,
        offset,
        window,
    ))
}

/// [`crate::slot::backoff_delay`]: the delay before resend `retry` (from 1).
pub fn retry_delay(
    salt: &[u8],
    device: &str,
    retry: u32,
    backoff: Duration,
    max_backoff: Duration,
) -> Result<Duration, HostError> {
    Ok(crate::slot::backoff_delay(
        &salt16(salt)?,
        &device_id(device)?,
        retry,
        backoff,
        max_backoff,
    ))
}

/// [`crate::slot::sampled`]: whether a healthy device sends a success probe at `ppm`.
pub fn sampled(salt: &[u8], device: &str, ppm: u32) -> Result<bool, HostError> {
    Ok(crate::slot::sampled(
        &salt16(salt)?,
        &device_id(device)?,
        ppm,
    ))
}

/// What a verified payload carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadInfo {
    /// Campaign id.
    pub campaign: String,
    /// Campaign revision.
    pub revision: u32,
    /// When the server issued the campaign.
    pub issued_at: Timestamp,
    /// After this instant devices refuse the payload as expired.
    pub valid_until: Timestamp,
    /// The settings' URIs, in order.
    pub setting_uris: Vec<String>,
    /// Payload format version (1 or 2).
    pub format: u8,
    /// The care timeout of the schedule (format 1: the default, 1 hour).
    pub care_timeout: Duration,
}

/// Verifies `payload` against `server_public_key` at `now` without taking it on.
pub fn inspect_payload(
    payload: &[u8],
    server_public_key: &[u8],
    now: Timestamp,
) -> Result<PayloadInfo, HostError> {
    let trusted = trust(server_public_key)?;
    let p = crate::payload::open_payload(payload, &trusted, now, &PayloadLimits::default())?;
    Ok(PayloadInfo {
        campaign: p.campaign.id.to_string(),
        revision: p.campaign.revision,
        issued_at: p.campaign.issued_at,
        valid_until: p.valid_until,
        setting_uris: p
            .campaign
            .settings
            .iter()
            .map(|s| s.uri.to_string())
            .collect(),
        format: payload[4],
        care_timeout: p.campaign.schedule.care.timeout,
    })
}

/// Authenticates report bytes with `device_key` (32 bytes) and decodes them.
pub fn inspect_report(bytes: &[u8], device_key: &[u8]) -> Result<Report, HostError> {
    let key = key32(device_key, "device_key")?;
    Ok(wire::decode_report(
        bytes,
        wire::DEFAULT_MAX_REPORT_BYTES,
        |_| Some(key),
    )?)
}
