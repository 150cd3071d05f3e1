//! Where a command's event log lives: a sled directory (the embedded default), a device's
//! log directory (the file store) or a PostgreSQL database named by a connection string.

use std::path::Path;

use devcare::store::{EventStore, FileStore, LOG_FILE, SledStore, holds_sled};
use devcare_pg::PgStore;

use crate::error::{Result, input};

/// Whether `s` names a PostgreSQL database: a `postgres://` / `postgresql://` URL or a
/// libpq key/value string (`host=… dbname=…`).
pub(crate) fn is_postgres(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://") || s.contains("dbname=")
}

/// Opens an existing store to read: a PostgreSQL database, a device's log directory (read
/// only: a torn tail is neither cut nor set aside, its size is returned) or a sled
/// directory (refused when the directory is neither, rather than created).
pub(crate) fn open_existing(at: &Path) -> Result<(Box<dyn EventStore>, u64)> {
    let name = at.to_string_lossy();
    if is_postgres(&name) {
        return Ok((
            Box::new(PgStore::connect(&name).map_err(|e| input(e.to_string()))?),
            0,
        ));
    }
    let located = |e: devcare::store::StoreError| input(format!("{}: {e}", at.display()));
    if holds_sled(at) {
        return Ok((Box::new(SledStore::open(at).map_err(located)?), 0));
    }
    if !at.join(LOG_FILE).is_file() {
        return Err(input(format!(
            "{}: not a devcare store (no {LOG_FILE}, no sled conf file) nor a PostgreSQL \
             connection string",
            at.display()
        )));
    }
    let store = FileStore::open_read_only(at).map_err(located)?;
    let torn = store.torn_tail();
    Ok((Box::new(store), torn))
}
