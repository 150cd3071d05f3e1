//! # devcare — selective device care after broadcast provisioning
//!
//! A Device Management server broadcasts a [`Campaign`] (settings + targets + a
//! [`CareSchedule`]) to many devices at once. Healthy devices stay silent; only devices in
//! an exceptional state report, at a slot the schedule assigns ([`slot`]), and the server
//! runs the scheduled care for those devices alone, presuming the silent ones succeeded
//! after the deadline.
//!
//! Both sides are pure [`Decider`]s — [`device::Device`] and [`server::Server`] — folding
//! an append-only event log. Nothing in this crate reads a clock, a random source, the
//! network or the environment: time is always an argument. The only I/O is the sled
//! backend of the event [`store`], which the caller opens explicitly.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod alert;
pub mod campaign;
pub mod codec;
pub mod decider;
pub mod device;
pub mod error;
#[cfg(feature = "server")]
pub mod file;
pub mod host;
pub mod ids;
#[cfg(feature = "server")]
pub mod keyfile;
pub mod model;
pub mod payload;
pub mod persist;
pub mod report;
pub mod rules;
pub mod schedule;
#[cfg(feature = "server")]
pub mod server;
pub mod setting;
#[cfg(feature = "server")]
pub mod sim;
pub mod slot;
pub mod spec;
#[cfg(feature = "server")]
pub mod stats;
pub mod status;
pub mod store;
pub mod text;
pub mod time;
pub mod wire;

pub use decider::Decider;
pub use device::{Device, DeviceCommand, DeviceError, DeviceEvent, DeviceState};
pub use error::ValidationError;
pub use model::{
    Campaign, CampaignId, DeviceId, Duration, Limits, Setting, SettingOp, TargetSet, Text,
    Timestamp, ValidCampaign, Value,
};
pub use report::{ApplyResult, Finding, Report, ReportKind, Verify};
pub use schedule::{
    AbortPolicy, AfterCare, CareAction, CarePolicy, CareSchedule, Condition, DEFAULT_CARE_TIMEOUT,
    Detail, ReportPolicy, RetryPolicy,
};
#[cfg(feature = "server")]
pub use server::{
    CampaignStats, CareOrder, InFlightCare, Server, ServerCommand, ServerError, ServerEvent,
    ServerState,
};
