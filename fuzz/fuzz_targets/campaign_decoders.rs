//! Any bytes read as a campaign body by both of devcare's decoders: serde's (records) and
//! bincode's own (payloads, `codec::decode_borrowed`) decode the same campaign, or both
//! refuse. Compared by their encodings, so a NaN float compares equal to itself.
#![no_main]

use devcare::Campaign;
use devcare::codec::{decode, decode_borrowed, encode};
use devcare::persist::v1::CampaignV1;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match (decode::<Campaign>(data), decode_borrowed::<Campaign>(data)) {
        (Ok(a), Ok(b)) => assert_eq!(encode(&a).unwrap(), encode(&b).unwrap()),
        (Err(_), Err(_)) => {}
        (a, b) => panic!("campaign: serde {a:?}, bincode {b:?}"),
    }
    match (
        decode::<CampaignV1>(data),
        decode_borrowed::<CampaignV1>(data),
    ) {
        (Ok(a), Ok(b)) => assert_eq!(encode(&a).unwrap(), encode(&b).unwrap()),
        (Err(_), Err(_)) => {}
        (a, b) => panic!("schema-1 campaign: serde {a:?}, bincode {b:?}"),
    }
});
