//! Any bytes read back as a stored record: a typed error, or an event that re-encodes to
//! the same bytes (a record of the current schema) or, upcast from an older schema, to a
//! current record that reads back as the same event.
#![no_main]

use devcare::persist::StoredEvent;
use devcare::store::{Persist, StreamId};
use devcare::{DeviceEvent, ServerEvent};
use libfuzzer_sys::fuzz_target;

/// Variant indices of the current schema (`StoredEvent::DeviceV2`, `ServerV2`).
const CURRENT: [u8; 2] = [2, 3];

fn check<E: Persist + PartialEq + std::fmt::Debug>(stream: &StreamId, data: &[u8]) {
    if let Ok(e) = E::from_record(stream, 1, data) {
        let again = e.to_record().expect("encodes");
        if CURRENT.contains(&data[1]) {
            assert_eq!(again, data, "canonical encoding");
        }
        let back = E::from_record(stream, 1, &again).expect("its own encoding reads");
        assert_eq!(back, e, "upcast events round-trip");
    }
}

fuzz_target!(|data: &[u8]| {
    let stream = StreamId::new("server/fuzz").expect("valid");
    let _ = StoredEvent::decode_record(data);
    check::<ServerEvent>(&stream, data);
    check::<DeviceEvent>(&stream, data);
});
