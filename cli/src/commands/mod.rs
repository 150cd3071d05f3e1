//! One module per command (`devcare <command> …`), each with its arguments and its `run`.

pub(crate) mod campaign;
pub(crate) mod keygen;
pub(crate) mod log;
pub(crate) mod payload;
pub(crate) mod report;
pub(crate) mod simulate;
