//! Any text: a located error or a campaign that round-trips through `to_toml`.
#![no_main]

use devcare::Campaign;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Campaign::from_toml("fuzz.toml", text) {
        Ok(c) => {
            let again =
                Campaign::from_toml("again.toml", &c.to_toml()).expect("to_toml output parses");
            assert_eq!(again, c, "round trip");
        }
        Err(e) => {
            assert!(e.line >= 1 && e.col >= 1);
            assert_eq!(e.file, "fuzz.toml");
        }
    }
});
