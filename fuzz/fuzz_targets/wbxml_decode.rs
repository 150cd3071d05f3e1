//! Any bytes as a WBXML DM message: a typed error, or XML that the package parser reads
//! and that, encoded back to WBXML, decodes to a package that reads the same.
#![no_main]

use devcare::alert::wbxml::{wbxml_to_xml, xml_to_wbxml};
use devcare::alert::{AlertError, AlertLimits, Package, PackageAlert, parse_package};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = AlertLimits::default();
    let Ok(xml) = wbxml_to_xml(data, limits.max_bytes) else {
        return;
    };
    // Well-formed by construction: the parser refuses it only over its own limits.
    match parse_package(&xml, &limits) {
        Ok(_) => {}
        Err(e) => assert!(
            matches!(
                e,
                devcare::alert::AlertError::TooLarge { .. }
                    | devcare::alert::AlertError::TooManyItems { .. }
            ),
            "decoded WBXML that does not parse: {e}\n{xml}"
        ),
    }
    // What devcare writes back (when it has tokens for every element: a literal tag name
    // from the string table has none) decodes to a package that reads the same.
    if let Ok(again) = xml_to_wbxml(&xml, true) {
        let xml2 = wbxml_to_xml(&again, usize::MAX).expect("re-encoded WBXML decodes");
        let unlimited = AlertLimits {
            max_bytes: usize::MAX,
            max_items: usize::MAX,
        };
        assert_eq!(
            shape(parse_package(&xml, &unlimited)),
            shape(parse_package(&xml2, &unlimited)),
            "{xml}\n{xml2}"
        );
    }
});

/// A package with each error by its reason (whitespace-only text between elements is not
/// kept by the encoder, so error positions may move).
fn shape(p: Result<Package, AlertError>) -> Result<Vec<String>, &'static str> {
    let p = p.map_err(|e| e.reason())?;
    Ok(p.alerts
        .into_iter()
        .map(|a| match a {
            PackageAlert::Devcare { cmd_id, report } => {
                format!("{cmd_id} {:?}", report.map_err(|e| e.reason()))
            }
            PackageAlert::Foreign(f) => format!("{f:?}"),
        })
        .collect())
}
