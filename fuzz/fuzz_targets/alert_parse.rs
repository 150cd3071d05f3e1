//! Any text as an OMA DM message from a session device: a located error, or reports — all
//! for the session's device — that render and parse back to themselves.
#![no_main]

use devcare::DeviceId;
use devcare::alert::{AlertLimits, Sender, parse_alerts, parse_alerts_from, render_alert};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let limits = AlertLimits::default();
    // The session device is the one the seeds' reports name, so both outcomes are reached.
    let session = DeviceId::new("IMEI:490154203237518").expect("valid");
    let all = parse_alerts(text, &limits);
    match parse_alerts_from(text, &limits, Sender::Device(&session)) {
        Ok(reports) => {
            assert_eq!(Ok(&reports), all.as_ref(), "the session check only refuses");
            for r in reports {
                assert_eq!(r.device, session);
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
            assert!(s == 400 || s == 403 || s == 413 || s == 415);
            if e.reason() == "not-sender" {
                let reports = all.expect("only a parsed message names another device");
                assert!(reports.iter().any(|r| r.device != session));
            }
        }
    }
});
