//! Any bytes read back as the stored record at seq 1 of a stream: a typed error, or an
//! event that re-encodes to the same bytes (a record of the current format and schema) or,
//! read from an older format or schema, to a current record that reads back as the same
//! event.
#![no_main]

use devcare::persist::StoredEvent;
use devcare::store::{Persist, StreamId};
use devcare::{DeviceEvent, ServerEvent};
use libfuzzer_sys::fuzz_target;

/// Variant indices of the current schema (`StoredEvent::DeviceV2`, `ServerV2`).
const CURRENT: [u8; 2] = [2, 3];

fn check<E: Persist + PartialEq + std::fmt::Debug>(stream: &StreamId, data: &[u8]) {
    if let Ok(e) = E::from_record(stream, 1, data) {
        let again = e.to_record(stream, 1).expect("encodes");
        // A current record (format 2, schema 2) re-encodes to the same bytes.
        if data[0] == 2 && CURRENT.contains(&data[1]) {
            assert_eq!(again, data, "canonical encoding");
        }
        let back = E::from_record(stream, 1, &again).expect("its own encoding reads");
        assert_eq!(back, e, "upcast events round-trip");
    }
}

fuzz_target!(|data: &[u8]| {
    let stream = StreamId::new("server/fuzz").expect("valid");
    let _ = StoredEvent::decode_record(stream.as_str(), 1, data);
    check::<ServerEvent>(&stream, data);
    check::<DeviceEvent>(&stream, data);
});
