//! [`PgStore`]: devcare's [`EventStore`] on PostgreSQL, for DM servers that outgrow one
//! machine and already run PostgreSQL.
//!
//! * **Tables** (created and migrated by [`PgStore::connect`], version in
//!   `devcare_schema`): `devcare_events (stream text, seq bigint, body bytea, primary key
//!   (stream, seq))` and `devcare_heads (stream text primary key, version bigint)`. A body
//!   is the same record as on sled — format byte, CRC over stream ‖ seq ‖ body — so a record
//!   moved to another key or flipped in place is caught the same way.
//! * **Append** is one transaction: each stream's head row is locked (`FOR UPDATE`) and
//!   checked against the expected version ([`check_batch`], shared with the other backends),
//!   the records inserted, the heads moved. A batch over several streams lands whole or not
//!   at all. Two writers racing to create a stream both find no head to lock; the loser's
//!   insert hits the `(stream, seq)` key, and that unique violation comes back as
//!   [`StoreError::Conflict`] with the version the winner left — never as a database error.
//! * **Durability**: every session sets `synchronous_commit = on`, so a committed append is
//!   on the server's disk (and its synchronous standbys, if configured) when `append`
//!   returns. [`EventStore::flush`] has nothing left to do and returns at once.
//! * **Reads** run in one repeatable-read transaction: the head is read first and the scan
//!   stops there, so a read during appends sees a whole prefix.
//! * **Connections**: a small pool; each call takes a connection (opening one when none is
//!   idle) and gives it back, so threads sharing a store do run concurrently.
//!
//! The connection string is a libpq URL (`postgres://user:pass@host:5432/db`) or key/value
//! form (`host=/run/postgresql port=5432 user=devcare dbname=devcare`).

//!
//! [`EventStore`]: devcare::store::EventStore
//! [`EventStore::flush`]: devcare::store::EventStore::flush
//! [`check_batch`]: devcare::store::check_batch
//! [`StoreError::Conflict`]: devcare::store::StoreError::Conflict

mod leases;
mod schema;
mod store;

pub use schema::SCHEMA_VERSION;
pub use store::PgStore;
