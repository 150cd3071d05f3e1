//! The signed broadcast payload: what a device receives, untrusted, over the broadcast
//! channel.
//!
//! ```text
//! offset  size  field
//!      0     4  magic "DVCP"
//!      4     1  format version (1 or 2, see below)
//!      5     8  key id = SHA-256(ed25519 public key)[..8]
//!     13     8  valid_until, ms since the epoch, u64 big-endian
//!     21     4  body length, u32 big-endian
//!     25     n  body: the campaign, bincode 2 (see `codec`), in the version's schema
//!   25+n    64  ed25519 signature over bytes [0, 25+n)
//! ```
//!
//! Format 1 carries a schema-1 campaign (no care timeout; it reads as the default,
//! [`DEFAULT_CARE_TIMEOUT`](crate::schedule::DEFAULT_CARE_TIMEOUT)); format 2 the current
//! campaign. [`build_payload`] writes the oldest format that holds the campaign — format 1
//! unless its care timeout differs from the default — so devices of older builds keep
//! reading campaigns that use nothing new; every format is read.
//!
//! [`open_payload`] checks, in this order, and stops at the first failure: total size
//! against the limit (before anything is read), the frame (magic, version, length), the key
//! id against the trusted keys, the signature, then — only for authenticated bytes — the
//! body's decoding (bounded by the codec's limit), the campaign's validation against the
//! device's [`Limits`] (settings count, URI and value lengths…), and expiry. Revision and
//! targeting are the device decider's checks. Nothing is applied on any failure.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::codec::{self, CodecError};
use crate::error::ValidationError;
use crate::model::{Campaign, Limits, Timestamp, ValidCampaign};
use crate::persist::v1::CampaignV1;

/// Payload magic.
pub const MAGIC: &[u8; 4] = b"DVCP";
/// The newest payload format version this build writes and reads.
pub const VERSION: u8 = 2;
/// The oldest payload format version this build reads (and writes when it can).
pub const OLDEST_VERSION: u8 = 1;
const HEADER: usize = 25;
const SIG: usize = 64;

/// An 8-byte key id: the first 8 bytes of SHA-256 of the public key.
pub type KeyId = [u8; 8];

/// The key id of the ed25519 public key `bytes`, checked to be a valid key.
pub fn key_id_of(bytes: &[u8; 32]) -> Result<KeyId, PayloadError> {
    let k = VerifyingKey::from_bytes(bytes).map_err(|_| PayloadError::BadPublicKey)?;
    Ok(key_id(&k))
}

/// The key id of `key`.
pub fn key_id(key: &VerifyingKey) -> KeyId {
    let h = Sha256::digest(key.as_bytes());
    let mut id = [0u8; 8];
    id.copy_from_slice(&h[..8]);
    id
}

/// A server's signing key. Made from 32 secret bytes the caller draws from its own
/// randomness source (`core` reads none).
#[derive(Debug, Clone)]
pub struct ServerKey(SigningKey);

impl ServerKey {
    /// The key for a 32-byte secret seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        ServerKey(SigningKey::from_bytes(seed))
    }
    /// The secret seed (store it like a password).
    pub fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }
    /// The public key devices trust.
    pub fn public(&self) -> VerifyingKey {
        self.0.verifying_key()
    }
    /// The public key's id.
    pub fn id(&self) -> KeyId {
        key_id(&self.public())
    }
}

/// The public keys a device accepts payloads from.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys(Vec<(KeyId, VerifyingKey)>);

impl TrustedKeys {
    /// No keys (every payload is refused).
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a key (a key already trusted is not added twice).
    pub fn add(&mut self, key: VerifyingKey) {
        let id = key_id(&key);
        if self.get(&id).is_none() {
            self.0.push((id, key));
        }
    }
    /// Stops trusting the key with id `id`; returns whether it was trusted.
    pub fn remove(&mut self, id: &KeyId) -> bool {
        let before = self.0.len();
        self.0.retain(|(k, _)| k != id);
        self.0.len() != before
    }
    /// The ids of the trusted keys, in the order they were added.
    pub fn ids(&self) -> Vec<KeyId> {
        self.0.iter().map(|(k, _)| *k).collect()
    }
    /// Adds a key from its 32 bytes.
    pub fn add_bytes(&mut self, key: &[u8; 32]) -> Result<(), PayloadError> {
        let k = VerifyingKey::from_bytes(key).map_err(|_| PayloadError::BadPublicKey)?;
        self.add(k);
        Ok(())
    }
    fn get(&self, id: &KeyId) -> Option<&VerifyingKey> {
        self.0.iter().find(|(k, _)| k == id).map(|(_, v)| v)
    }
}

/// Limits a device applies to payloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadLimits {
    /// Largest payload accepted, in bytes (checked before anything is read).
    pub max_payload_bytes: usize,
    /// Limits on the campaign inside.
    pub campaign: Limits,
    /// The replay floor's slack: a device refuses a payload issued more than this before
    /// the newest campaign it holds (see [`check_replay_floor`]).
    pub replay_skew: crate::model::Duration,
    /// How far after the device's clock a payload's `issued_at` may be (the device's and
    /// the server's clocks disagree a little): a payload issued later is refused
    /// ([`PayloadError::IssuedInFuture`]) and never sets the replay floor.
    pub future_skew: crate::model::Duration,
}

impl Default for PayloadLimits {
    /// 1 MiB, [`Limits::DEFAULT`], a replay skew of 30 days, a future skew of 1 day.
    fn default() -> Self {
        PayloadLimits {
            max_payload_bytes: 1024 * 1024,
            campaign: Limits::DEFAULT,
            replay_skew: crate::model::Duration::from_hours(30 * 24),
            future_skew: crate::rules::FUTURE_SKEW,
        }
    }
}

/// Why a payload was refused. Each is counted per [`PayloadError::reason`] by the device
/// agent; none is logged.
#[derive(Debug, Clone, PartialEq, thiserror::Error, strum::IntoStaticStr)]
#[strum(serialize_all = "kebab-case")]
pub enum PayloadError {
    /// Larger than the limit.
    #[error("payload is {len} bytes, the limit is {max}")]
    Oversize {
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Shorter than header + signature.
    #[error("payload of {len} bytes is shorter than the {min}-byte frame")]
    Truncated {
        /// Its size.
        len: usize,
        /// The frame's size.
        min: usize,
    },
    /// Not a devcare payload.
    #[error("not a devcare payload (bad magic)")]
    BadMagic,
    /// A format this build does not read.
    #[error("payload format version {0} is not supported (this build reads versions 1 and 2)")]
    UnsupportedVersion(u8),
    /// The body length field disagrees with the payload's size.
    #[error("body length field says {declared} bytes, the payload carries {actual}")]
    LengthMismatch {
        /// Declared.
        declared: usize,
        /// Present.
        actual: usize,
    },
    /// Signed by a key the device does not trust.
    #[error("signed by unknown key {0}")]
    UnknownKey(String),
    /// The signature does not verify: forged or damaged.
    #[error("signature does not verify")]
    BadSignature,
    /// Authenticated, but the body does not decode (a server bug).
    #[error("body: {0}")]
    Malformed(CodecError),
    /// Authenticated and decoded, but the campaign breaks the device's limits or rules.
    #[error("campaign: {0}")]
    InvalidCampaign(ValidationError),
    /// Past its `valid_until`.
    #[error("payload expired at {valid_until}, now is {now}")]
    Expired {
        /// Expiry.
        valid_until: Timestamp,
        /// Now.
        now: Timestamp,
    },
    /// A public key that is not a valid ed25519 point.
    #[error("not a valid ed25519 public key")]
    BadPublicKey,
    /// The campaign could not be encoded (building side).
    #[error("cannot encode campaign: {0}")]
    Encode(CodecError),
    /// A payload issued long before the newest campaign the device holds: an old, still
    /// unexpired payload replayed (of this campaign or another).
    #[error(
        "payload issued at {issued_at}, more than the replay skew before the newest campaign held ({floor})"
    )]
    Replayed {
        /// When the payload's campaign was issued.
        issued_at: Timestamp,
        /// The newest `issued_at` the device holds.
        floor: Timestamp,
    },
    /// Issued later than the device's clock plus the future skew: a typo in the campaign's
    /// time, or a payload from a stolen key meant to freeze the device (it would become the
    /// replay floor and refuse every later payload).
    #[error(
        "payload issued at {issued_at}, more than the future skew after the device's clock ({now}): check the clock"
    )]
    IssuedInFuture {
        /// When the payload's campaign says it was issued.
        issued_at: Timestamp,
        /// The device's time.
        now: Timestamp,
    },
    /// An older campaign that sets a setting a newer campaign the device holds also sets:
    /// for a shared URI the campaign issued later wins, so the older one is not taken on.
    #[error("campaign issued at {issued_at} sets {uri}, which newer campaign {by} also sets")]
    Superseded {
        /// When the refused payload's campaign was issued.
        issued_at: Timestamp,
        /// The newer campaign held.
        by: String,
        /// A URI both set.
        uri: String,
    },
    /// The device's clock is before the newest campaign it holds: its clock was reset (a
    /// dead RTC battery), and every payload ever signed would look unexpired.
    #[error("the clock says {now}, before the newest campaign held ({floor}): set the clock")]
    ClockBehind {
        /// The device's time.
        now: Timestamp,
        /// The newest `issued_at` the device holds.
        floor: Timestamp,
    },
}

/// The replay floor: with `floor` the newest `issued_at` among the campaigns a device holds
/// (those whose time was plausible when they arrived, see [`plausible`]), a clock before it
/// is a reset clock ([`PayloadError::ClockBehind`]) and a campaign issued more than
/// `limits.replay_skew` before it is a replay ([`PayloadError::Replayed`]). A campaign issued
/// more than `limits.future_skew` after `now` is refused first
/// ([`PayloadError::IssuedInFuture`]), so it never becomes the floor. Nothing held: no
/// floor (a wiped device is protected by the payload's expiry alone).
pub fn check_replay_floor(
    issued_at: Timestamp,
    floor: Option<Timestamp>,
    now: Timestamp,
    limits: &PayloadLimits,
) -> Result<(), PayloadError> {
    if let Some(floor) = floor
        && now < floor
    {
        return Err(PayloadError::ClockBehind { now, floor });
    }
    if !plausible(issued_at, now, limits) {
        return Err(PayloadError::IssuedInFuture { issued_at, now });
    }
    let Some(floor) = floor else {
        return Ok(());
    };
    if issued_at.plus(limits.replay_skew) < floor {
        return Err(PayloadError::Replayed { issued_at, floor });
    }
    Ok(())
}

/// Whether a campaign issued at `issued_at` is plausible at `now`: not later than `now` plus
/// the future skew. Only plausible campaigns set a device's replay floor (one taken on by an
/// older build, whose time was not checked, does not).
pub fn plausible(issued_at: Timestamp, now: Timestamp, limits: &PayloadLimits) -> bool {
    issued_at <= now.plus(limits.future_skew)
}

impl PayloadError {
    /// The stable name: the variant's name in kebab-case, derived (strum), so it cannot
    /// drift from the variant (counters, C codes, bindings).
    pub fn reason(&self) -> &'static str {
        self.into()
    }
}

/// The size of `campaign`'s broadcast payload: frame, body and signature. A server checks it
/// against [`PayloadLimits::max_payload_bytes`] before it takes a campaign on, so it never
/// holds a campaign it cannot broadcast (an explicit target list can validate and still not
/// fit).
pub fn payload_len(campaign: &Campaign, limits: &PayloadLimits) -> Result<usize, PayloadError> {
    let (_, body) = encode_body(campaign)?;
    framed_len(body.len(), limits)
}

/// The oldest format that holds `campaign`, and the body in it.
fn encode_body(campaign: &Campaign) -> Result<(u8, Vec<u8>), PayloadError> {
    match CampaignV1::downcast(campaign) {
        Some(v1) => Ok((1, codec::encode(&v1).map_err(PayloadError::Encode)?)),
        None => Ok((2, codec::encode(campaign).map_err(PayloadError::Encode)?)),
    }
}

/// Decodes an authenticated body of format `version` (already checked to be known).
fn decode_body(version: u8, body: &[u8]) -> Result<Campaign, PayloadError> {
    if version == 1 {
        let v1: CampaignV1 = codec::decode_borrowed(body).map_err(PayloadError::Malformed)?;
        return Ok(v1.into());
    }
    codec::decode_borrowed(body).map_err(PayloadError::Malformed)
}

/// Frame + body + signature, within the limit.
fn framed_len(body: usize, limits: &PayloadLimits) -> Result<usize, PayloadError> {
    let total = HEADER + body + SIG;
    if total > limits.max_payload_bytes {
        return Err(PayloadError::Oversize {
            len: total,
            max: limits.max_payload_bytes,
        });
    }
    Ok(total)
}

/// Signs `campaign` into a broadcast payload valid until `valid_until`. The campaign is
/// validated against `limits` first, so a server cannot build what devices would refuse.
pub fn build_payload(
    campaign: &Campaign,
    key: &ServerKey,
    valid_until: Timestamp,
    limits: &PayloadLimits,
) -> Result<Vec<u8>, PayloadError> {
    campaign
        .validate(&limits.campaign)
        .map_err(PayloadError::InvalidCampaign)?;
    let (version, body) = encode_body(campaign)?;
    let total = framed_len(body.len(), limits)?;
    let len = u32::try_from(body.len()).map_err(|_| PayloadError::Oversize {
        len: total,
        max: limits.max_payload_bytes,
    })?;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(MAGIC);
    out.push(version);
    out.extend_from_slice(&key.id());
    out.extend_from_slice(&valid_until.as_millis().to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&body);
    let sig = key.0.sign(&out);
    out.extend_from_slice(&sig.to_bytes());
    Ok(out)
}

/// A payload that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedPayload {
    /// The campaign, validated against the payload limits.
    pub campaign: ValidCampaign,
    /// Who signed it.
    pub key_id: KeyId,
    /// Its expiry.
    pub valid_until: Timestamp,
}

/// The header fields, read without verifying anything (for inspection tools).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadHeader {
    /// Format version (1 or 2).
    pub version: u8,
    /// Signing key id.
    pub key_id: KeyId,
    /// Expiry.
    pub valid_until: Timestamp,
    /// Body length.
    pub body_len: usize,
}

/// Checks size and frame; returns the header.
pub fn read_header(bytes: &[u8], limits: &PayloadLimits) -> Result<PayloadHeader, PayloadError> {
    if bytes.len() > limits.max_payload_bytes {
        return Err(PayloadError::Oversize {
            len: bytes.len(),
            max: limits.max_payload_bytes,
        });
    }
    if bytes.len() < HEADER + SIG {
        return Err(PayloadError::Truncated {
            len: bytes.len(),
            min: HEADER + SIG,
        });
    }
    if &bytes[..4] != MAGIC {
        return Err(PayloadError::BadMagic);
    }
    if !(OLDEST_VERSION..=VERSION).contains(&bytes[4]) {
        return Err(PayloadError::UnsupportedVersion(bytes[4]));
    }
    let mut key_id = [0u8; 8];
    key_id.copy_from_slice(&bytes[5..13]);
    let mut t = [0u8; 8];
    t.copy_from_slice(&bytes[13..21]);
    let mut l = [0u8; 4];
    l.copy_from_slice(&bytes[21..25]);
    let declared = u32::from_be_bytes(l) as usize;
    let actual = bytes.len() - HEADER - SIG;
    if declared != actual {
        return Err(PayloadError::LengthMismatch { declared, actual });
    }
    Ok(PayloadHeader {
        version: bytes[4],
        key_id,
        valid_until: Timestamp(u64::from_be_bytes(t)),
        body_len: declared,
    })
}

/// Verifies and decodes a received payload at time `now` (see the module docs for the
/// order of checks).
pub fn open_payload(
    bytes: &[u8],
    trusted: &TrustedKeys,
    now: Timestamp,
    limits: &PayloadLimits,
) -> Result<VerifiedPayload, PayloadError> {
    let header = read_header(bytes, limits)?;
    let key = trusted
        .get(&header.key_id)
        .ok_or_else(|| PayloadError::UnknownKey(crate::text::hex_encode(&header.key_id)))?;
    let (signed, sig) = bytes.split_at(bytes.len() - SIG);
    let sig = Signature::from_slice(sig).map_err(|_| PayloadError::BadSignature)?;
    key.verify_strict(signed, &sig)
        .map_err(|_| PayloadError::BadSignature)?;
    let campaign = decode_body(header.version, &signed[HEADER..])?;
    let campaign =
        ValidCampaign::new(campaign, &limits.campaign).map_err(PayloadError::InvalidCampaign)?;
    if now > header.valid_until {
        return Err(PayloadError::Expired {
            valid_until: header.valid_until,
            now,
        });
    }
    Ok(VerifiedPayload {
        campaign,
        key_id: header.key_id,
        valid_until: header.valid_until,
    })
}

/// A bare ed25519 verification of `bytes` (for benchmarks comparing against it).
pub fn verify_only(bytes: &[u8], key: &VerifyingKey) -> bool {
    if bytes.len() < SIG {
        return false;
    }
    let (signed, sig) = bytes.split_at(bytes.len() - SIG);
    Signature::from_slice(sig).is_ok_and(|s| key.verify_strict(signed, &s).is_ok())
}
