//! The report wire format: a failure report (or the tiny sampled-success report) as a
//! device sends it over the interaction channel, authenticated with HMAC-SHA256 under a
//! per-device key.
//!
//! ```text
//! offset  size  field
//!      0     4  magic "DVCR"
//!      4     1  format version (1)
//!      5     1  device id length d (1..=128)
//!      6     d  device id (visible ASCII), in the clear so the server can find the key
//!    6+d     4  body length n, u32 big-endian
//!   10+d     n  body: the `Report`, bincode 2 (see `codec`)
//! 10+d+n    32  HMAC-SHA256(device key, bytes [0, 10+d+n))
//! ```
//!
//! [`decode_report`] checks size first, then the frame, then looks the device's key up,
//! then the MAC (in constant time), and only then decodes the authenticated body; the body's
//! device must be the header's. Campaign, revision, targeting and duplicates are the server
//! decider's checks.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::codec::{self, CodecError};
use crate::model::{DeviceId, MAX_DEVICE_ID_LEN};
use crate::report::Report;

/// Report magic.
pub const MAGIC: &[u8; 4] = b"DVCR";
/// Report format version.
pub const VERSION: u8 = 1;
/// Largest report accepted by default: 16 KiB.
pub const DEFAULT_MAX_REPORT_BYTES: usize = 16 * 1024;
const TAG: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// A device's 32-byte report key.
pub type DeviceKey = [u8; 32];

/// Derives a device's report key from a server master secret:
/// `HMAC-SHA256(master, "devcare/device-key\0" ‖ device id)`. A server can then hold one
/// secret instead of a key per device; provisioning writes the derived key to the device.
pub fn derive_device_key(master: &[u8; 32], device: &DeviceId) -> DeviceKey {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(master).expect("HMAC takes any key length");
    mac.update(b"devcare/device-key\0");
    mac.update(device.as_bytes());
    mac.finalize().into_bytes().into()
}

/// Why report bytes were refused. None changes any state.
#[derive(Debug, Clone, PartialEq, thiserror::Error, strum::IntoStaticStr)]
#[strum(serialize_all = "kebab-case")]
pub enum ReportError {
    /// Larger than the limit.
    #[error("report is {len} bytes, the limit is {max}")]
    Oversize {
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Shorter than its frame.
    #[error("report of {len} bytes is truncated")]
    Truncated {
        /// Its size.
        len: usize,
    },
    /// Not a devcare report.
    #[error("not a devcare report (bad magic)")]
    BadMagic,
    /// A format this build does not read.
    #[error("report format version {0} is not supported (this build reads version 1)")]
    UnsupportedVersion(u8),
    /// The header's device id is not a valid id.
    #[error("header device id: {0}")]
    BadDeviceId(String),
    /// The body length field disagrees with the report's size.
    #[error("body length field says {declared} bytes, the report carries {actual}")]
    LengthMismatch {
        /// Declared.
        declared: usize,
        /// Present.
        actual: usize,
    },
    /// The server has no key for this device.
    #[error("no key for device {0}")]
    UnknownDevice(String),
    /// The MAC does not verify: forged, damaged, or the wrong key.
    #[error("MAC does not verify for device {0}")]
    BadMac(String),
    /// Authenticated, but the body does not decode.
    #[error("body: {0}")]
    Malformed(CodecError),
    /// The body names another device than the header.
    #[error("header says device {header}, body says {body}")]
    DeviceMismatch {
        /// Header's.
        header: String,
        /// Body's.
        body: String,
    },
    /// Encoding failed (sending side).
    #[error("cannot encode report: {0}")]
    Encode(CodecError),
}

impl ReportError {
    /// The stable name: the variant's name in kebab-case, derived (strum), so it cannot
    /// drift from the variant (counters, C codes, bindings).
    pub fn reason(&self) -> &'static str {
        self.into()
    }
}

impl ReportError {
    /// The OMA DM status a server answers with: 401 unknown device or bad MAC, 413 over the
    /// size limit, 400 for everything malformed.
    pub fn dm_status(&self) -> u16 {
        match self {
            ReportError::UnknownDevice(_) | ReportError::BadMac(_) => 401,
            ReportError::Oversize { .. } => 413,
            ReportError::Truncated { .. }
            | ReportError::BadMagic
            | ReportError::UnsupportedVersion(_)
            | ReportError::BadDeviceId(_)
            | ReportError::LengthMismatch { .. }
            | ReportError::Malformed(_)
            | ReportError::DeviceMismatch { .. }
            | ReportError::Encode(_) => 400,
        }
    }
}

/// Encodes and authenticates `report` under `key`.
pub fn encode_report(report: &Report, key: &DeviceKey) -> Result<Vec<u8>, ReportError> {
    let body = codec::encode(report).map_err(ReportError::Encode)?;
    let id = report.device.as_bytes();
    let len = u32::try_from(body.len()).map_err(|_| ReportError::Oversize {
        len: body.len(),
        max: u32::MAX as usize,
    })?;
    let mut out = Vec::with_capacity(10 + id.len() + body.len() + TAG);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(id.len() as u8); // ids are at most 128 bytes
    out.extend_from_slice(id);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&body);
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(&out);
    out.extend_from_slice(&mac.finalize().into_bytes());
    Ok(out)
}

/// Reads the frame and the device id without authenticating anything.
pub fn peek_device(bytes: &[u8], max_bytes: usize) -> Result<DeviceId, ReportError> {
    frame(bytes, max_bytes).map(|(d, _)| d)
}

/// Checks size and frame; returns the header's device and where the tag starts.
fn frame(bytes: &[u8], max_bytes: usize) -> Result<(DeviceId, usize), ReportError> {
    if bytes.len() > max_bytes {
        return Err(ReportError::Oversize {
            len: bytes.len(),
            max: max_bytes,
        });
    }
    let truncated = || ReportError::Truncated { len: bytes.len() };
    if bytes.len() < 6 {
        return Err(truncated());
    }
    if &bytes[..4] != MAGIC {
        return Err(ReportError::BadMagic);
    }
    if bytes[4] != VERSION {
        return Err(ReportError::UnsupportedVersion(bytes[4]));
    }
    let d = bytes[5] as usize;
    if d == 0 || d > MAX_DEVICE_ID_LEN {
        return Err(ReportError::BadDeviceId(format!(
            "length {d} is outside 1..={MAX_DEVICE_ID_LEN}"
        )));
    }
    if bytes.len() < 10 + d + TAG {
        return Err(truncated());
    }
    let id = std::str::from_utf8(&bytes[6..6 + d])
        .map_err(|_| ReportError::BadDeviceId("not UTF-8".into()))?;
    let device = DeviceId::new(id).map_err(|e| ReportError::BadDeviceId(e.reason.into_owned()))?;
    let mut l = [0u8; 4];
    l.copy_from_slice(&bytes[6 + d..10 + d]);
    let declared = u32::from_be_bytes(l) as usize;
    let actual = bytes.len() - 10 - d - TAG;
    if declared != actual {
        return Err(ReportError::LengthMismatch { declared, actual });
    }
    Ok((device, bytes.len() - TAG))
}

/// Decodes report bytes, authenticating them with the key `key_of` returns for the
/// header's device.
pub fn decode_report(
    bytes: &[u8],
    max_bytes: usize,
    key_of: impl FnOnce(&DeviceId) -> Option<DeviceKey>,
) -> Result<Report, ReportError> {
    decode_report_keys(bytes, max_bytes, |d| key_of(d).into_iter().collect())
}

/// [`decode_report`] for a device that may hold any of several keys (a key rotation in
/// progress): the MAC must verify under one of `keys_of(device)` (each check in constant
/// time); none at all is `UnknownDevice`.
pub fn decode_report_keys(
    bytes: &[u8],
    max_bytes: usize,
    keys_of: impl FnOnce(&DeviceId) -> Vec<DeviceKey>,
) -> Result<Report, ReportError> {
    let (device, tag_at) = frame(bytes, max_bytes)?;
    let keys = keys_of(&device);
    if keys.is_empty() {
        return Err(ReportError::UnknownDevice(device.to_string()));
    }
    let verifies = |key: &DeviceKey| {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(&bytes[..tag_at]);
        mac.verify_slice(&bytes[tag_at..]).is_ok()
    };
    if !keys.iter().any(verifies) {
        return Err(ReportError::BadMac(device.to_string()));
    }
    let body_at = 10 + device.as_bytes().len();
    let report: Report =
        codec::decode_small(&bytes[body_at..tag_at]).map_err(ReportError::Malformed)?;
    if report.device != device {
        return Err(ReportError::DeviceMismatch {
            header: device.to_string(),
            body: report.device.to_string(),
        });
    }
    Ok(report)
}
