//! [`devcare_result`]: every result code, generated with its name and documentation from
//! the one list below, and the one function that maps a [`HostError`] to its code.
//!
//! The code of a refusal is derived from the error's stable `reason()`:
//! `DEVCARE_` + a layer prefix (`PAYLOAD_`, `REPORT_`, `ALERT_`, none for the deciders and
//! the call itself) + the reason in SCREAMING_SNAKE_CASE. So `PayloadError::BadSignature`
//! (reason `bad-signature`) is `DEVCARE_PAYLOAD_BAD_SIGNATURE`, and a binding that sees
//! reason `bad-signature` agrees with a C host that sees that code.

use std::ffi::c_char;

use devcare::host::{HostError, Layer};

/// Defines `devcare_result` from one list of `NAME = number` with docs: the enum,
/// [`devcare_result::ALL`] (name, number, doc — the header's enum is written from it),
/// [`devcare_result::from_u32`] and [`devcare_result::name`].
macro_rules! result_codes {
    ($( $(#[doc = $doc:literal])+ $name:ident = $value:literal, )+) => {
        /// Result codes. Blocks: 0 ok; 1–99 general; 100–199 payload refusals; 200–299
        /// device and decider refusals; 300–399 report and Generic Alert refusals; 400–499
        /// server refusals; 500–599 campaign files. Retired numbers are never reused.
        #[repr(u32)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum devcare_result {
            $( $(#[doc = $doc])+ $name = $value, )+
        }

        impl devcare_result {
            /// Every code: its name, number and documentation.
            pub const ALL: &'static [(devcare_result, &'static str, u32, &'static str)] = &[
                $( (devcare_result::$name, stringify!($name), $value, concat!($($doc),+)), )+
            ];

            /// The code with number `value`, if there is one.
            pub fn from_u32(value: u32) -> Option<Self> {
                match value {
                    $( $value => Some(devcare_result::$name), )+
                    _ => None,
                }
            }

            /// The code's exact name, NUL-terminated.
            pub fn name(self) -> &'static str {
                match self {
                    $( devcare_result::$name => concat!(stringify!($name), "\0"), )+
                }
            }
        }
    };
}

result_codes! {
    /// Success.
    DEVCARE_OK = 0,
    /// A required pointer was NULL.
    DEVCARE_NULL_ARGUMENT = 1,
    /// A panic was caught at the boundary (a bug in devcare; the handle is still usable).
    DEVCARE_PANIC = 2,
    /// A string was not valid UTF-8.
    DEVCARE_INVALID_UTF8 = 3,
    /// The output buffer is too small; the needed size was written to the length out-param.
    DEVCARE_BUFFER_TOO_SMALL = 4,
    /// Nothing is due now (no report, no care order).
    DEVCARE_NOTHING_DUE = 5,
    /// An argument is out of range or malformed (see `devcare_last_error`).
    DEVCARE_INVALID_ARGUMENT = 6,
    /// The event store failed (I/O, corruption; see `devcare_last_error`).
    DEVCARE_STORE_ERROR = 7,
    /// No such campaign on this handle.
    DEVCARE_UNKNOWN_CAMPAIGN = 8,
    /// A call on a handle from inside one of its own callbacks (the apply callback):
    /// refused, nothing touched; return from the callback first.
    DEVCARE_REENTRANT = 9,
    /// A key file of another kind than the call needs (a public key where the signing key is
    /// needed, …): the message names both.
    DEVCARE_KEY_WRONG_KIND = 10,
    /// PEM whose label is no devcare key.
    DEVCARE_KEY_UNKNOWN_LABEL = 11,
    /// Neither PEM nor 64 hex digits, or PEM that does not decode to a key.
    DEVCARE_KEY_MALFORMED = 12,
    /// The payload is larger than the limit.
    DEVCARE_PAYLOAD_OVERSIZE = 100,
    /// The payload is shorter than its frame.
    DEVCARE_PAYLOAD_TRUNCATED = 101,
    /// Not a devcare payload.
    DEVCARE_PAYLOAD_BAD_MAGIC = 102,
    /// A payload format this build does not read.
    DEVCARE_PAYLOAD_UNSUPPORTED_VERSION = 103,
    /// The payload's length field disagrees with its size.
    DEVCARE_PAYLOAD_LENGTH_MISMATCH = 104,
    /// Signed by a key the device does not trust.
    DEVCARE_PAYLOAD_UNKNOWN_KEY = 105,
    /// The signature does not verify.
    DEVCARE_PAYLOAD_BAD_SIGNATURE = 106,
    /// Authenticated but undecodable.
    DEVCARE_PAYLOAD_MALFORMED = 107,
    /// The campaign breaks the device's limits.
    DEVCARE_PAYLOAD_INVALID_CAMPAIGN = 108,
    /// The payload has expired.
    DEVCARE_PAYLOAD_EXPIRED = 109,
    /// Not a valid ed25519 public key.
    DEVCARE_PAYLOAD_BAD_PUBLIC_KEY = 110,
    /// The campaign could not be encoded into a payload (building side).
    DEVCARE_PAYLOAD_ENCODE = 111,
    /// A payload issued long before the newest campaign the device holds: a replay.
    DEVCARE_PAYLOAD_REPLAYED = 112,
    /// The device's clock is before the newest campaign it holds: set the clock.
    DEVCARE_PAYLOAD_CLOCK_BEHIND = 113,
    /// Issued later than the device's clock plus the future skew (1 day): refused, and it
    /// never sets the replay floor.
    DEVCARE_PAYLOAD_ISSUED_IN_FUTURE = 114,
    /// An older campaign setting a URI that a newer campaign held also sets (the newer wins).
    DEVCARE_PAYLOAD_SUPERSEDED = 115,
    /// The campaign does not target this device (ignored).
    DEVCARE_NOT_TARGETED = 200,
    /// This revision (or a newer one) was already taken on (ignored).
    DEVCARE_STALE_REVISION = 201,
    /// The call does not fit the campaign's current phase.
    DEVCARE_WRONG_PHASE = 202,
    /// An attempt number that is not the current one.
    DEVCARE_WRONG_ATTEMPT = 203,
    /// The report is not due yet.
    DEVCARE_NOT_DUE = 204,
    /// A payload or report for another campaign than the stream it was fed into.
    DEVCARE_WRONG_CAMPAIGN = 205,
    /// The campaign breaks a rule of the model (the message names the field).
    DEVCARE_INVALID_CAMPAIGN = 206,
    /// More apply results than the campaign has settings.
    DEVCARE_TOO_MANY_RESULTS = 207,
    /// Care results that do not match the care order's settings one to one.
    DEVCARE_CARE_RESULTS_MISMATCH = 208,
    /// A setting index the campaign does not have.
    DEVCARE_NO_SUCH_SETTING = 209,
    /// A DM status given as a report's refusal that is not one (a 200, a 5xx, 408, 429).
    DEVCARE_NOT_A_REFUSAL = 210,
    /// The report is larger than the limit.
    DEVCARE_REPORT_OVERSIZE = 300,
    /// Authenticated report bytes whose body does not decode.
    DEVCARE_REPORT_MALFORMED = 301,
    /// No key for the reporting device.
    DEVCARE_REPORT_UNKNOWN_DEVICE = 302,
    /// The report's MAC does not verify.
    DEVCARE_REPORT_BAD_MAC = 303,
    /// An OMA DM message that is not well-formed XML (answer 400).
    DEVCARE_ALERT_MALFORMED_XML = 304,
    /// A Generic Alert of a type devcare does not handle (answer 415).
    DEVCARE_ALERT_UNKNOWN_TYPE = 305,
    /// The report is shorter than its frame.
    DEVCARE_REPORT_TRUNCATED = 306,
    /// Not a devcare report.
    DEVCARE_REPORT_BAD_MAGIC = 307,
    /// A report format this build does not read.
    DEVCARE_REPORT_UNSUPPORTED_VERSION = 308,
    /// The report header's device id breaks the id rules.
    DEVCARE_REPORT_BAD_DEVICE_ID = 309,
    /// The report's length field disagrees with its size.
    DEVCARE_REPORT_LENGTH_MISMATCH = 310,
    /// The report body names another device than its header.
    DEVCARE_REPORT_DEVICE_MISMATCH = 311,
    /// The report could not be encoded (sending side).
    DEVCARE_REPORT_ENCODE = 312,
    /// An OMA DM message over the size limit (answer 413).
    DEVCARE_ALERT_TOO_LARGE = 313,
    /// An OMA DM message with more Items than the limit (answer 413).
    DEVCARE_ALERT_TOO_MANY_ITEMS = 314,
    /// An OMA DM message without a Generic Alert (answer 400).
    DEVCARE_ALERT_NO_GENERIC_ALERT = 315,
    /// A Generic Alert Item whose Data is not a devcare report (answer 400).
    DEVCARE_ALERT_BAD_DATA = 316,
    /// Items of one Alert that disagree about their report (answer 400).
    DEVCARE_ALERT_INCONSISTENT = 317,
    /// A message with a report for a device its sender may not speak for (answer 403).
    DEVCARE_ALERT_NOT_SENDER = 318,
    /// The session's device is not in the key directory (answer 401).
    DEVCARE_ALERT_UNKNOWN_SENDER = 319,
    /// A WBXML message that does not decode (answer 400).
    DEVCARE_ALERT_MALFORMED_WBXML = 320,
    /// The device already reported (acknowledge it).
    DEVCARE_DUPLICATE = 400,
    /// The campaign exists already.
    DEVCARE_ALREADY_CREATED = 401,
    /// A report for a revision the campaign is not at.
    DEVCARE_WRONG_REVISION = 402,
    /// Care is paused (by an operator or by the abort threshold).
    DEVCARE_PAUSED = 403,
    /// A care call that does not fit the device's case.
    DEVCARE_CARE_MISMATCH = 404,
    // 405 (DEVCARE_REFUSED, a catch-all) is retired: every refusal has its own code.
    /// The target count is missing or disagrees with the explicit device list.
    DEVCARE_TARGET_COUNT = 406,
    /// A report that breaks the report rules (attempt 0, a failure without findings).
    DEVCARE_MALFORMED_REPORT = 407,
    /// A care call for a device that has no open case.
    DEVCARE_NO_CASE = 408,
    /// Resume of a campaign no operator paused.
    DEVCARE_NOT_PAUSED = 409,
    /// The broadcast was already recorded.
    DEVCARE_ALREADY_BROADCAST = 410,
    /// Pause of a campaign whose care is already paused.
    DEVCARE_ALREADY_PAUSED = 411,
    /// A broadcast so late that reports and retries would end after the report deadline.
    DEVCARE_BROADCAST_TOO_LATE = 412,
    /// A campaign revision that is not newer than the live one.
    DEVCARE_REVISION_NOT_NEWER = 413,
    /// A success probe from a device outside the campaign's sample (answer 403).
    DEVCARE_NOT_SAMPLED = 414,
    /// A sample size larger than the campaign's targets.
    DEVCARE_SAMPLE_SIZE = 415,
    /// A coverage floor or fallback call that does not fit the campaign or its fallback
    /// (a floor outside (0, 1], no sampling, a batch the pace or order does not allow).
    DEVCARE_FALLBACK = 416,
    /// Resume of a campaign only the abort threshold paused: lift that with
    /// `devcare_server_override_abort` (who and why).
    DEVCARE_PAUSED_BY_BREAKER = 417,
    /// An override of the abort threshold's pause while it has not paused the campaign.
    DEVCARE_BREAKER_NOT_TRIPPED = 418,
    /// An override without who or why, or with either over 200 bytes.
    DEVCARE_OVERRIDE_UNEXPLAINED = 419,
    /// A per-group threshold call that does not fit the campaign or its groups (more than
    /// 16 groups, a bad ratio, after the first failure report, a group not paused).
    DEVCARE_GROUP_BREAKER = 420,
    /// Care dispatch for a device whose group's own threshold paused its care: lift it with
    /// `devcare_server_override_group_abort` (who and why).
    DEVCARE_GROUP_PAUSED = 421,
    /// A campaign issued more than a day after now: devices would refuse its payload.
    DEVCARE_ISSUED_IN_FUTURE = 422,
    /// The campaign file does not parse or validate (message has file:line:col).
    DEVCARE_CAMPAIGN_INVALID = 500,
}

/// The C name of the code for `e`: the layer prefix and its reason, see the module docs.
pub fn code_name(e: &HostError) -> String {
    let screaming = e.reason().to_ascii_uppercase().replace('-', "_");
    match e.layer() {
        Layer::Store => "DEVCARE_STORE_ERROR".into(),
        Layer::CampaignFile => "DEVCARE_CAMPAIGN_INVALID".into(),
        Layer::Payload => format!("DEVCARE_PAYLOAD_{screaming}"),
        Layer::Report => format!("DEVCARE_REPORT_{screaming}"),
        Layer::Alert => format!("DEVCARE_ALERT_{screaming}"),
        Layer::Call | Layer::Decider => format!("DEVCARE_{screaming}"),
    }
}

/// The result code of `e` (`DEVCARE_INVALID_ARGUMENT` if a reason had no code, which the
/// test walking every error variant rules out).
pub fn code_of(e: &HostError) -> devcare_result {
    let name = code_name(e);
    devcare_result::ALL
        .iter()
        .find(|(_, n, _, _)| *n == name)
        .map_or(devcare_result::DEVCARE_INVALID_ARGUMENT, |(c, ..)| *c)
}

/// A static, NUL-terminated name for a result code (e.g. "DEVCARE_NOT_TARGETED");
/// "DEVCARE_UNKNOWN_RESULT" for a number that is no code.
#[unsafe(no_mangle)]
pub extern "C" fn devcare_result_name(result: u32) -> *const c_char {
    devcare_result::from_u32(result)
        .map_or("DEVCARE_UNKNOWN_RESULT\0", devcare_result::name)
        .as_ptr()
        .cast()
}
