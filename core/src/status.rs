//! The OMA DM status codes devcare names (OMA-TS-DM_RepPro 1.2, "Response Status Codes"):
//! what a device's DM tree answers a command, and what a server answers a device.

/// 200 OK: the command succeeded.
pub const OK: u16 = 200;
/// 400 Bad request: malformed.
pub const BAD_REQUEST: u16 = 400;
/// 401 Invalid credentials.
pub const INVALID_CREDENTIALS: u16 = 401;
/// 403 Forbidden.
pub const FORBIDDEN: u16 = 403;
/// 404 Not found.
pub const NOT_FOUND: u16 = 404;
/// 405 Command not allowed.
pub const COMMAND_NOT_ALLOWED: u16 = 405;
/// 410 Gone.
pub const GONE: u16 = 410;
/// 413 Request entity too large.
pub const TOO_LARGE: u16 = 413;
/// 415 Unsupported media type or format.
pub const UNSUPPORTED_FORMAT: u16 = 415;
/// 420 Device full.
pub const DEVICE_FULL: u16 = 420;
/// 500 Command failed.
pub const COMMAND_FAILED: u16 = 500;
