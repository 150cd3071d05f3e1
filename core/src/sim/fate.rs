//! Per-device deterministic randomness, and how a failing device's apply goes wrong.

use crate::status;
use siphasher::sip::SipHasher24;

use crate::model::{Campaign, Duration};
use crate::schedule::{Condition, uri_in_subtree};

/// Per-device deterministic randomness.
#[derive(Debug, Clone)]
pub(super) struct Fate(SipHasher24);

impl Fate {
    pub(super) fn new(seed: u64) -> Self {
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        key[8..].copy_from_slice(b"devcare!");
        Fate(SipHasher24::new_with_key(&key))
    }
    /// A 32-byte secret derived from the seed (simulation keys only).
    pub(super) fn secret(&self, tag: u8) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (k, chunk) in out.chunks_mut(8).enumerate() {
            chunk.copy_from_slice(&self.u64(tag, u64::MAX, k as u64).to_le_bytes());
        }
        out
    }

    pub(super) fn u64(&self, tag: u8, device: u64, extra: u64) -> u64 {
        let mut msg = [0u8; 17];
        msg[0] = tag;
        msg[1..9].copy_from_slice(&device.to_le_bytes());
        msg[9..].copy_from_slice(&extra.to_le_bytes());
        self.0.hash(&msg)
    }
    pub(super) fn unit(&self, tag: u8, device: u64, extra: u64) -> f64 {
        (self.u64(tag, device, extra) >> 11) as f64 / (1u64 << 53) as f64
    }
}

pub(super) const TAG_LOSS: u8 = 1;
pub(super) const TAG_FAIL: u8 = 2;
pub(super) const TAG_MODE: u8 = 3;
pub(super) const TAG_CARE: u8 = 4;
pub(super) const TAG_CHECKIN: u8 = 5;
pub(super) const TAG_RECEIVE: u8 = 6;
pub(super) const TAG_SERVER_KEY: u8 = 7;
pub(super) const TAG_REPORT_MASTER: u8 = 8;
pub(super) const TAG_SALT: u8 = 9;
pub(super) const TAG_SKEW: u8 = 10;
pub(super) const TAG_SERVER_CRASH: u8 = 11;
pub(super) const TAG_STORE_ERROR: u8 = 12;
pub(super) const TAG_POWER_CUT: u8 = 13;
pub(super) const TAG_REBOOT: u8 = 14;
pub(super) const TAG_POWER_OFF: u8 = 15;
pub(super) const TAG_FORGED: u8 = 16;
pub(super) const TAG_MSG_LOSS: u8 = 17;
pub(super) const TAG_MSG_DUP: u8 = 18;
pub(super) const TAG_MSG_DELAY: u8 = 19;
pub(super) const TAG_DISPATCH_CRASH: u8 = 20;

/// How a device's apply goes wrong.
#[derive(Debug, Clone, Copy)]
pub(super) enum Injury {
    Status { index: usize, code: u16 },
    Mismatch { index: usize },
    Truncate { keep: usize },
    Late { after: Duration },
}

/// What a simulated device's DM tree answers a setting it fails to apply (the injected
/// truth of the device side, not a server's answer).
pub(super) const FAILURE_CODES: [u16; 5] = [
    status::NOT_FOUND,
    status::COMMAND_NOT_ALLOWED,
    status::UNSUPPORTED_FORMAT,
    status::DEVICE_FULL,
    status::COMMAND_FAILED,
];

/// What a device's DM tree answers a care setting that does not take (injected truth).
pub(super) const CARE_FAILURE: u16 = status::COMMAND_FAILED;

pub(super) fn injuries(c: &Campaign, r: u64) -> Vec<Injury> {
    let n = c.settings.len();
    let pick = |k: u64| (r.rotate_left(k as u32 * 7) % n as u64) as usize;
    let code = FAILURE_CODES[(r >> 40) as usize % FAILURE_CODES.len()];
    let mut out = Vec::new();
    for cond in &c.schedule.conditions {
        match cond {
            Condition::AnyFailed => out.push(Injury::Status {
                index: pick(1),
                code,
            }),
            Condition::SettingFailed { uri_prefix } => {
                if let Some(index) = c
                    .settings
                    .iter()
                    .position(|s| uri_in_subtree(&s.uri, uri_prefix))
                {
                    out.push(Injury::Status { index, code });
                }
            }
            Condition::StatusIn { codes } => {
                if !codes.is_empty() {
                    out.push(Injury::Status {
                        index: pick(2),
                        code: codes[(r >> 20) as usize % codes.len()],
                    });
                }
            }
            Condition::VerifyMismatch { uri } => {
                if let Some(index) = c.settings.iter().position(|s| &s.uri == uri) {
                    out.push(Injury::Mismatch { index });
                }
            }
            Condition::PayloadIncomplete => out.push(Injury::Truncate { keep: pick(3) }),
            Condition::NotAppliedWithin { within } => out.push(Injury::Late {
                after: within.plus(Duration::from_secs(1)),
            }),
        }
    }
    out
}
/// Which transport a simulated device reports over (`FleetConfig::transport`).
pub(super) const TAG_TRANSPORT: u8 = 21;
/// The salt of a swept world's campaign (each world its own, as each campaign has).
pub(super) const TAG_WORLD_SALT: u8 = 22;
/// Whether a check-in is lost on the channel.
pub(super) const TAG_CHECKIN_LOSS: u8 = 23;
/// How an alert-sending device's DM stack packs its reports (WBXML or XML, b64 or chr
/// Data, another alert beside devcare's).
pub(super) const TAG_DM_STACK: u8 = 24;
