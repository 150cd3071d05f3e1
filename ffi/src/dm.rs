//! What the device and server sides share for OMA DM packages: encodings, Data formats and
//! one Item as C sees it.

use std::ffi::{CString, c_char};
use std::ptr;

use devcare::alert::{DataFormat, Encoding};

use crate::boundary::fail;
use crate::result::devcare_result::{self, *};

/// A DM message in XML (`application/vnd.syncml.dm+xml`).
pub const DEVCARE_ENCODING_XML: u32 = 0;
/// A DM message in WBXML (`application/vnd.syncml.dm+wbxml`).
pub const DEVCARE_ENCODING_WBXML: u32 = 1;

/// Item Data as characters (`Meta/Format` `chr`, the default).
pub const DEVCARE_DATA_CHR: u32 = 0;
/// Item Data as base64 (`Meta/Format` `b64`).
pub const DEVCARE_DATA_B64: u32 = 1;

/// One Item of a Generic Alert, as a DM toolkit takes it (e.g. libdmclient's
/// `omadmclient_add_generic_alert`). Every string is NUL-terminated UTF-8 owned by the
/// object it came from (valid until that object is freed), or NULL when the Item has no
/// such element.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct devcare_alert_item {
    /// `Source/LocURI`.
    pub source: *const c_char,
    /// `Target/LocURI`.
    pub target: *const c_char,
    /// `Meta/Type` (a devcare Item's without the `Reversed-Domain-Name:` prefix; another
    /// alert's as written).
    pub meta_type: *const c_char,
    /// `Meta/Format`: `chr`, `b64`, or what another alert wrote.
    pub format: *const c_char,
    /// `Meta/Mark`.
    pub mark: *const c_char,
    /// `Data`, encoded as `format` says.
    pub data: *const c_char,
}

/// An Item's strings, owned for as long as the object handing them out lives.
#[derive(Debug, Default)]
pub(crate) struct OwnedItem {
    fields: [Option<CString>; 6],
}

impl OwnedItem {
    /// The Item of `source`, `target`, `type`, `format`, `mark` and `data`, in that order.
    pub(crate) fn new(fields: [Option<&str>; 6]) -> Self {
        OwnedItem {
            fields: fields.map(|f| f.map(c_string)),
        }
    }

    /// The C view, borrowing `self`.
    pub(crate) fn view(&self) -> devcare_alert_item {
        let p = |i: usize| {
            self.fields[i]
                .as_deref()
                .map_or(ptr::null(), |c| c.as_ptr())
        };
        devcare_alert_item {
            source: p(0),
            target: p(1),
            meta_type: p(2),
            format: p(3),
            mark: p(4),
            data: p(5),
        }
    }
}

/// `s` as a C string; a NUL inside (which no DM text holds) becomes U+FFFD.
pub(crate) fn c_string(s: &str) -> CString {
    CString::new(s.replace('\0', "\u{FFFD}")).unwrap_or_default()
}

/// The encoding a C caller named.
pub(crate) fn encoding_arg(v: u32) -> Result<Encoding, devcare_result> {
    match v {
        DEVCARE_ENCODING_XML => Ok(Encoding::Xml),
        DEVCARE_ENCODING_WBXML => Ok(Encoding::Wbxml),
        other => Err(fail(
            DEVCARE_INVALID_ARGUMENT,
            format!("encoding {other} is not DEVCARE_ENCODING_XML or _WBXML"),
        )),
    }
}

/// The Data format a C caller named.
pub(crate) fn format_arg(v: u32) -> Result<DataFormat, devcare_result> {
    match v {
        DEVCARE_DATA_CHR => Ok(DataFormat::Chr),
        DEVCARE_DATA_B64 => Ok(DataFormat::B64),
        other => Err(fail(
            DEVCARE_INVALID_ARGUMENT,
            format!("data format {other} is not DEVCARE_DATA_CHR or _B64"),
        )),
    }
}

/// The C constant of `e`.
#[cfg(feature = "server")]
pub(crate) fn encoding_code(e: Encoding) -> u32 {
    match e {
        Encoding::Xml => DEVCARE_ENCODING_XML,
        Encoding::Wbxml => DEVCARE_ENCODING_WBXML,
    }
}
