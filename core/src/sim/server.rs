//! The server side of a simulation: the production server hosts over the simulation's
//! store, with faults injected only at the store's edge.
//!
//! * [`OneStream`] is the [`ServerHost`] every single-stream host runs (the C API and the
//!   bindings wrap it): reports cross [`ServerHost::ingest_batch`] as bytes, DM packages
//!   cross [`ServerHost::ingest_package_bytes`] as messages (XML or WBXML) of the sending
//!   device's session, every other command [`ServerHost::handle`].
//! * [`Sharded`] is a [`ShardWorker`] owning every shard of the campaign, over one store or
//!   several: the same decode ([`report_from_bytes`], [`package_text`], [`PackagePlan`])
//!   and answers ([`Ingest::from_decided`]).
//!
//! A server crash drops the host and opens a new one on the same store, which replays the
//! log; the world checks that the new host holds exactly the state the old one did. A store
//! error is the next append of the store failing ([`SimStore::fail_next_append`]); what the
//! host answers then is its own: the same answer a real device would get.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::alert::{AlertError, AlertLimits, Encoding, Sender};
use crate::host::{
    Directory, GroupDirectory, Ingest, PackageOutcome, PackagePlan, RuntimeError, ServerHost,
    ShardMap, ShardWorker, WorkerError, package_text, report_from_bytes,
};
use crate::model::{CampaignId, DeviceId, Timestamp};
use crate::server::{
    CareOrder, Case, ServerCommand, ServerError, ServerEvent, ServerState, ShardRouter,
    ShardedState,
};
use crate::store::{EventStore, RecordVisitor, StoreError, StreamBatch, StreamId, Version};

/// A store whose next append can be made to fail (a simulated disk or database error).
/// Stores of one sharded server share their switch.
#[derive(Debug)]
pub struct SimStore<S> {
    inner: S,
    fail: Arc<AtomicBool>,
}

impl<S> SimStore<S> {
    /// Wraps `inner`; nothing fails until [`Self::fail_next_append`].
    pub fn new(inner: S) -> Self {
        SimStore {
            inner,
            fail: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Wraps each store, all sharing one switch.
    pub fn shared(stores: Vec<S>) -> Vec<Self> {
        let fail = Arc::new(AtomicBool::new(false));
        stores
            .into_iter()
            .map(|inner| SimStore {
                inner,
                fail: fail.clone(),
            })
            .collect()
    }

    /// The next append (of any store sharing the switch) fails with a backend error.
    pub fn fail_next_append(&self) {
        self.fail.store(true, Ordering::SeqCst);
    }

    /// Clears the switch; whether it was still set (no append came to use it).
    pub fn clear(&self) -> bool {
        self.fail.swap(false, Ordering::SeqCst)
    }
}

impl<S: EventStore> EventStore for SimStore<S> {
    fn append_records(&self, batch: &[StreamBatch<'_>]) -> Result<Vec<Version>, StoreError> {
        if self.fail.swap(false, Ordering::SeqCst) {
            return Err(StoreError::Backend("simulated store error".into()));
        }
        self.inner.append_records(batch)
    }
    fn scan_records(
        &self,
        stream: &StreamId,
        from: Version,
        f: &mut RecordVisitor<'_>,
    ) -> Result<(), StoreError> {
        self.inner.scan_records(stream, from, f)
    }
    fn version(&self, stream: &StreamId) -> Result<Version, StoreError> {
        self.inner.version(stream)
    }
    fn streams(&self) -> Result<Vec<StreamId>, StoreError> {
        self.inner.streams()
    }
    fn flush(&self) -> Result<(), StoreError> {
        self.inner.flush()
    }
    fn holds_format_1(&self) -> bool {
        self.inner.holds_format_1()
    }
}

/// What the world asks of the server host it runs.
pub trait SimServer {
    /// Runs `cmd` through the host (decided, appended, flushed).
    fn handle(
        &mut self,
        cmd: &ServerCommand,
    ) -> Result<Vec<ServerEvent>, RuntimeError<ServerError>>;
    /// A report's wire bytes arrive at `at`.
    fn ingest_report(&mut self, bytes: &[u8], at: Timestamp) -> Result<Ingest, StoreError>;
    /// A DM message (XML or WBXML) arrives at `at` in `device`'s DM session: taken as a
    /// package, each Alert on its own.
    fn ingest_package(
        &mut self,
        message: &[u8],
        device: &DeviceId,
        at: Timestamp,
    ) -> Result<Result<PackageOutcome, AlertError>, StoreError>;
    /// The campaign-level state: statistics, coverage, pauses, settlement, fallback.
    fn campaign(&self) -> &ServerState;
    /// `device`'s case.
    fn case(&self, device: &DeviceId) -> Option<&Case>;
    /// Every case.
    fn cases(&self) -> Box<dyn Iterator<Item = (&DeviceId, &Case)> + '_>;
    /// Care orders due at `now`, earliest first.
    fn due_care(&self, now: Timestamp, max: usize) -> Vec<CareOrder>;
    /// When anything next falls due.
    fn next_wake(&self) -> Option<Timestamp>;
    /// The next append fails (a store error).
    fn fail_next_append(&self);
    /// Clears a store error no append used; whether one was left.
    fn clear_fault(&self) -> bool;
    /// The process crashes and restarts: a new host opens the store and replays it.
    /// Returns whether it holds exactly the state the old host did.
    fn restart(&mut self) -> Result<bool, StoreError>;
    /// Events the host's store holds for the campaign (to check that refused input
    /// appends nothing).
    fn appended(&self) -> u64;
    /// Puts `device` in `groups` in the host's directory (it outlives restarts).
    fn set_groups(&mut self, device: &DeviceId, groups: Vec<String>);
}

/// The single-stream host: one campaign stream, [`ServerHost`].
#[derive(Debug)]
pub struct OneStream<'a, S: EventStore> {
    store: &'a SimStore<S>,
    server: ServerHost<&'a SimStore<S>>,
    campaign: CampaignId,
    empty: ServerState,
}

impl<'a, S: EventStore> OneStream<'a, S> {
    /// Opens the host on `store` for `campaign`, taking reports under keys derived from
    /// `master` (the directory `ServerHost` keeps).
    pub fn open(
        store: &'a SimStore<S>,
        campaign: &CampaignId,
        master: [u8; 32],
    ) -> Result<Self, StoreError> {
        Ok(OneStream {
            store,
            server: ServerHost::on_store(store, GroupDirectory::new(master))?,
            campaign: campaign.clone(),
            empty: ServerState::default(),
        })
    }

    /// The campaign's state as the host holds it.
    pub fn state(&self) -> &ServerState {
        self.server.state(&self.campaign).unwrap_or(&self.empty)
    }
}

impl<S: EventStore> SimServer for OneStream<'_, S> {
    fn handle(
        &mut self,
        cmd: &ServerCommand,
    ) -> Result<Vec<ServerEvent>, RuntimeError<ServerError>> {
        self.server.handle(&self.campaign, cmd)
    }
    fn ingest_report(&mut self, bytes: &[u8], at: Timestamp) -> Result<Ingest, StoreError> {
        let mut out = self.server.ingest_batch(&[bytes], at)?;
        Ok(out.pop().unwrap_or(Ingest::Duplicate))
    }
    fn ingest_package(
        &mut self,
        message: &[u8],
        device: &DeviceId,
        at: Timestamp,
    ) -> Result<Result<PackageOutcome, AlertError>, StoreError> {
        self.server.ingest_package_bytes(
            message,
            Sender::Device(device),
            &AlertLimits::default(),
            at,
        )
    }
    fn campaign(&self) -> &ServerState {
        self.state()
    }
    fn case(&self, device: &DeviceId) -> Option<&Case> {
        self.state().cases.get(device)
    }
    fn cases(&self) -> Box<dyn Iterator<Item = (&DeviceId, &Case)> + '_> {
        Box::new(self.state().cases.iter())
    }
    fn due_care(&self, now: Timestamp, max: usize) -> Vec<CareOrder> {
        self.state().due_care(now, max)
    }
    fn next_wake(&self) -> Option<Timestamp> {
        self.state().next_wake()
    }
    fn fail_next_append(&self) {
        self.store.fail_next_append();
    }
    fn clear_fault(&self) -> bool {
        self.store.clear()
    }
    fn appended(&self) -> u64 {
        self.server.version(&self.campaign)
    }
    fn set_groups(&mut self, device: &DeviceId, groups: Vec<String>) {
        self.server
            .directory_mut()
            .set_groups(device.clone(), groups);
    }
    fn restart(&mut self) -> Result<bool, StoreError> {
        let reopened = ServerHost::on_store(self.store, self.server.directory().clone())?;
        let same = reopened.state(&self.campaign) == self.server.state(&self.campaign);
        self.server = reopened;
        Ok(same)
    }
}

/// The sharded host: a [`ShardWorker`] owning every shard, over `stores`.
#[derive(Debug)]
pub struct Sharded<'a, S: EventStore + Sync> {
    stores: &'a [SimStore<S>],
    map: ShardMap,
    router: ShardRouter,
    campaign: CampaignId,
    writers: usize,
    worker: ShardWorker<'a, SimStore<S>>,
    keys: GroupDirectory,
}

impl<'a, S: EventStore + Sync> Sharded<'a, S> {
    /// Opens the worker on `stores` placed by `map`, owning every shard, appending with
    /// `writers` threads; keys as [`OneStream::open`].
    pub fn open(
        stores: &'a [SimStore<S>],
        map: ShardMap,
        router: ShardRouter,
        campaign: &CampaignId,
        writers: usize,
        master: [u8; 32],
    ) -> Result<Self, StoreError> {
        let worker = Self::worker(stores, &map, router, campaign, writers)?;
        Ok(Sharded {
            stores,
            map,
            router,
            campaign: campaign.clone(),
            writers,
            worker,
            keys: GroupDirectory::new(master),
        })
    }

    fn worker(
        stores: &'a [SimStore<S>],
        map: &ShardMap,
        router: ShardRouter,
        campaign: &CampaignId,
        writers: usize,
    ) -> Result<ShardWorker<'a, SimStore<S>>, StoreError> {
        let mut w = ShardWorker::open(stores, map.clone(), router, campaign)?;
        w.set_writers(writers);
        let all: Vec<u32> = (0..router.shards()).collect();
        w.set_owned(&all)?;
        Ok(w)
    }

    /// The campaign as the worker holds it.
    pub fn state(&self) -> &ShardedState {
        self.worker.state()
    }

    fn decided(&mut self, cmd: &ServerCommand) -> Result<Ingest, StoreError> {
        match self.worker.handle(cmd) {
            Ok(events) => Ok(Ingest::Accepted(events)),
            Err(WorkerError::Refused(e)) => Ok(Ingest::from_decided(Err(e))),
            Err(WorkerError::Store(e)) => Err(e),
            // It owns every shard.
            Err(e @ WorkerError::NotOwned { .. }) => Err(StoreError::Backend(e.to_string())),
        }
    }

    fn accept(
        &mut self,
        report: crate::report::Report,
        at: Timestamp,
    ) -> Result<Ingest, StoreError> {
        let groups = self.keys.groups(&report.device);
        self.decided(&ServerCommand::AcceptReport { report, groups, at })
    }
}

impl<S: EventStore + Sync> SimServer for Sharded<'_, S> {
    fn handle(
        &mut self,
        cmd: &ServerCommand,
    ) -> Result<Vec<ServerEvent>, RuntimeError<ServerError>> {
        self.worker.handle(cmd).map_err(|e| match e {
            WorkerError::Refused(e) => RuntimeError::Refused(e),
            WorkerError::Store(e) => RuntimeError::Store(e),
            e @ WorkerError::NotOwned { .. } => {
                RuntimeError::Store(StoreError::Backend(e.to_string()))
            }
        })
    }
    fn ingest_report(&mut self, bytes: &[u8], at: Timestamp) -> Result<Ingest, StoreError> {
        match report_from_bytes(bytes, &self.keys) {
            Ok(report) => self.accept(report, at),
            Err(e) => Ok(Ingest::Rejected(e.into())),
        }
    }
    fn ingest_package(
        &mut self,
        message: &[u8],
        device: &DeviceId,
        at: Timestamp,
    ) -> Result<Result<PackageOutcome, AlertError>, StoreError> {
        let limits = AlertLimits::default();
        let mut plan = match package_text(message, &limits)
            .and_then(|xml| PackagePlan::check(&xml, Sender::Device(device), &limits, &self.keys))
        {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        let mut ingests = Vec::with_capacity(plan.reports.len());
        for r in std::mem::take(&mut plan.reports) {
            ingests.push(match r {
                Ok(r) => self.accept(r, at)?,
                Err(e) => Ingest::Rejected(e),
            });
        }
        Ok(Ok(PackageOutcome {
            encoding: Encoding::sniff(message),
            ..plan.outcome(ingests)
        }))
    }
    fn campaign(&self) -> &ServerState {
        self.worker.state().control()
    }
    fn case(&self, device: &DeviceId) -> Option<&Case> {
        self.worker.state().case(device)
    }
    fn cases(&self) -> Box<dyn Iterator<Item = (&DeviceId, &Case)> + '_> {
        Box::new(self.worker.state().cases())
    }
    fn due_care(&self, now: Timestamp, max: usize) -> Vec<CareOrder> {
        self.worker.state().due_care(now, max)
    }
    fn next_wake(&self) -> Option<Timestamp> {
        self.worker.state().next_wake()
    }
    fn fail_next_append(&self) {
        if let Some(s) = self.stores.first() {
            s.fail_next_append();
        }
    }
    fn clear_fault(&self) -> bool {
        self.stores.first().is_some_and(SimStore::clear)
    }
    fn appended(&self) -> u64 {
        // Every stream of every store: the control stream and the shards.
        self.stores
            .iter()
            .map(|s| {
                s.streams()
                    .unwrap_or_default()
                    .iter()
                    .map(|id| s.version(id).unwrap_or(0))
                    .sum::<u64>()
            })
            .sum()
    }
    fn set_groups(&mut self, device: &DeviceId, groups: Vec<String>) {
        self.keys.set_groups(device.clone(), groups);
    }
    fn restart(&mut self) -> Result<bool, StoreError> {
        let reopened = Self::worker(
            self.stores,
            &self.map,
            self.router,
            &self.campaign,
            self.writers,
        )?;
        let same = reopened.state() == self.worker.state();
        self.worker = reopened;
        Ok(same)
    }
}
