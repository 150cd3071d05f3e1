//! Any bytes fed to the device's payload decoder: a typed refusal or a valid campaign.
#![no_main]

use devcare::Timestamp;
use devcare::payload::{PayloadLimits, ServerKey, TrustedKeys, open_payload};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut trusted = TrustedKeys::new();
    trusted.add(ServerKey::from_seed(&[42; 32]).public());
    let limits = PayloadLimits::default();
    if let Ok(p) = open_payload(data, &trusted, Timestamp(1_780_000_001_000), &limits) {
        p.campaign
            .validate(&limits.campaign)
            .expect("an accepted campaign is valid");
    }
});
