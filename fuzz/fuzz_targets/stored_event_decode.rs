//! Any bytes read back as a stored record: a typed error or an event that re-encodes to
//! the same bytes.
#![no_main]

use devcare::persist::StoredEvent;
use devcare::store::{Persist, StreamId};
use devcare::{DeviceEvent, ServerEvent};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let stream = StreamId::new("server/fuzz").expect("valid");
    let _ = StoredEvent::decode_record(data);
    if let Ok(e) = ServerEvent::from_record(&stream, 1, data) {
        assert_eq!(e.to_record().expect("encodes"), data, "canonical encoding");
    }
    if let Ok(e) = DeviceEvent::from_record(&stream, 1, data) {
        assert_eq!(e.to_record().expect("encodes"), data, "canonical encoding");
    }
});
