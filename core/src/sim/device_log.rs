//! A simulated device's state with its log: the record log a handset's store keeps,
//! written through the one loop ([`crate::host::engine`]) as a device host writes its store.

use crate::decider::Decider;
use crate::device::{Device, DeviceCommand, DeviceError, DeviceEvent, DeviceState};
use crate::host::engine::{Engine, execute};
use crate::store::{Persist, StoreError, StreamId};

/// One device: its state, and its log as stored records (framing and CRC of the store's
/// codec), when the world keeps logs.
pub(super) struct DeviceLog<'a> {
    pub(super) state: &'a mut DeviceState,
    pub(super) records: Option<&'a mut Vec<Vec<u8>>>,
    pub(super) stream: &'a StreamId,
}

impl DeviceLog<'_> {
    /// Runs `cmd` through the one loop: decided, its events appended to the log, folded.
    pub(super) fn step(
        &mut self,
        cmd: &DeviceCommand,
    ) -> Result<Result<Vec<DeviceEvent>, DeviceError>, StoreError> {
        let mut answers = execute(self, &[((), cmd)])?;
        Ok(answers.pop().unwrap_or(Ok(Vec::new())))
    }
}

impl Engine for DeviceLog<'_> {
    type Key = ();
    type Command = DeviceCommand;
    type Event = DeviceEvent;
    type Error = DeviceError;

    fn decide(&mut self, _: &(), cmd: &DeviceCommand) -> Result<Vec<DeviceEvent>, DeviceError> {
        Device::decide(self.state, cmd)
    }

    fn evolve(&mut self, _: &(), event: &DeviceEvent) {
        Device::evolve(self.state, event);
    }

    fn commit(&mut self, batch: &[(&(), Vec<&DeviceEvent>)]) -> Result<(), StoreError> {
        let Some(log) = self.records.as_deref_mut() else {
            return Ok(()); // no log kept: nothing to write
        };
        let start = log.len();
        for e in batch.iter().flat_map(|(_, es)| es.iter()) {
            let seq = log.len() as u64 + 1;
            match e.to_record(self.stream, seq) {
                Ok(r) => log.push(r),
                Err(reason) => {
                    log.truncate(start);
                    return Err(StoreError::Encode {
                        stream: self.stream.clone(),
                        reason,
                    });
                }
            }
        }
        Ok(())
    }

    fn rollback(&mut self, _: &(), folded: bool, _: &StoreError) {
        if !folded {
            return;
        }
        // Rebuild from the log (what a reopen would read).
        let mut state = DeviceState::default();
        let records = self.records.as_deref().map_or(&[][..], Vec::as_slice);
        for (k, rec) in records.iter().enumerate() {
            if let Ok(e) = DeviceEvent::from_record(self.stream, k as u64 + 1, rec) {
                Device::evolve(&mut state, &e);
            }
        }
        *self.state = state;
    }
}
