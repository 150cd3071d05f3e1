//! Any text as an OMA DM message: a located error or reports that render and parse back to
//! themselves.
#![no_main]

use devcare::alert::{AlertLimits, parse_alerts, render_alert};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let limits = AlertLimits::default();
    match parse_alerts(text, &limits) {
        Ok(reports) => {
            for r in reports {
                let again = parse_alerts(
                    &render_alert(&r, None, 1),
                    &AlertLimits {
                        max_bytes: usize::MAX,
                        max_items: usize::MAX,
                    },
                )
                .expect("rendered alert parses");
                assert_eq!(again, vec![r]);
            }
        }
        Err(e) => {
            let s = e.dm_status();
            assert!(s == 400 || s == 413 || s == 415);
        }
    }
});
