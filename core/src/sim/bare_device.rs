//! A simulated device that keeps no log (no device faults in the world): its state stepped
//! through the one loop ([`crate::host::engine`]) with nothing to write, the same decider a
//! device host runs. Devices that keep logs are device hosts over their own stores
//! ([`crate::host::DeviceHost`], in the world's device side).

use crate::decider::Decider;
use crate::device::{Device, DeviceCommand, DeviceError, DeviceEvent, DeviceState};
use crate::host::engine::{Engine, execute};
use crate::store::StoreError;

/// One device's state, with no log.
pub(super) struct BareDevice<'a> {
    pub(super) state: &'a mut DeviceState,
}

impl BareDevice<'_> {
    /// Runs `cmd` through the one loop: decided and folded.
    pub(super) fn step(
        &mut self,
        cmd: &DeviceCommand,
    ) -> Result<Result<Vec<DeviceEvent>, DeviceError>, StoreError> {
        let mut answers = execute(self, &[((), cmd)])?;
        Ok(answers.pop().unwrap_or(Ok(Vec::new())))
    }
}

impl Engine for BareDevice<'_> {
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

    fn commit(&mut self, _: &[(&(), Vec<&DeviceEvent>)]) -> Result<(), StoreError> {
        Ok(()) // no log kept
    }

    fn rollback(&mut self, _: &(), _: bool, _: &StoreError) {
        // Nothing is ever written, so a commit cannot fail.
    }
}
