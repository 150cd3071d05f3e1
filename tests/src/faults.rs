//! [`FaultyStore`]: a store wrapper whose appends, reads or flushes fail on demand, for the
//! unhappy paths of the host layer.

use std::sync::atomic::{AtomicBool, Ordering};

use devcare::store::{EventStore, RecordVisitor, StoreError, StreamBatch, StreamId, Version};

/// Wraps a store; each switch makes that kind of call fail with `StoreError::Backend`.
#[derive(Debug, Default)]
pub struct FaultyStore<S> {
    inner: S,
    /// Appends fail.
    pub fail_appends: AtomicBool,
    /// Scans (reads, folds, reloads) fail.
    pub fail_reads: AtomicBool,
    /// Flushes fail.
    pub fail_flushes: AtomicBool,
}

impl<S> FaultyStore<S> {
    /// A wrapper with every switch off.
    pub fn new(inner: S) -> Self {
        FaultyStore {
            inner,
            fail_appends: AtomicBool::new(false),
            fail_reads: AtomicBool::new(false),
            fail_flushes: AtomicBool::new(false),
        }
    }

    /// Sets a switch.
    pub fn set(switch: &AtomicBool, on: bool) {
        switch.store(on, Ordering::SeqCst);
    }
}

fn injected(what: &str) -> StoreError {
    StoreError::Backend(format!("injected {what} failure"))
}

impl<S: EventStore> EventStore for FaultyStore<S> {
    fn holds_format_1(&self) -> bool {
        self.inner.holds_format_1()
    }

    fn append_records(&self, batch: &[StreamBatch<'_>]) -> Result<Vec<Version>, StoreError> {
        if self.fail_appends.load(Ordering::SeqCst) {
            return Err(injected("append"));
        }
        self.inner.append_records(batch)
    }

    fn scan_records(
        &self,
        stream: &StreamId,
        from: Version,
        f: &mut RecordVisitor<'_>,
    ) -> Result<(), StoreError> {
        if self.fail_reads.load(Ordering::SeqCst) {
            return Err(injected("read"));
        }
        self.inner.scan_records(stream, from, f)
    }

    fn version(&self, stream: &StreamId) -> Result<Version, StoreError> {
        if self.fail_reads.load(Ordering::SeqCst) {
            return Err(injected("read"));
        }
        self.inner.version(stream)
    }

    fn streams(&self) -> Result<Vec<StreamId>, StoreError> {
        self.inner.streams()
    }

    fn flush(&self) -> Result<(), StoreError> {
        if self.fail_flushes.load(Ordering::SeqCst) {
            return Err(injected("flush"));
        }
        self.inner.flush()
    }
}
