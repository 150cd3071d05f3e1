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

use std::sync::Mutex;

use devcare::store::{
    EventStore, RecordVisitor, StoreError, StreamBatch, StreamId, Version, check_batch,
};
use postgres::error::SqlState;
use postgres::{Client, Config, IsolationLevel, NoTls};

/// The schema this build creates and reads.
pub const SCHEMA_VERSION: i32 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS devcare_schema (version integer NOT NULL);
CREATE TABLE IF NOT EXISTS devcare_heads (
    stream text PRIMARY KEY,
    version bigint NOT NULL CHECK (version >= 0)
);
CREATE TABLE IF NOT EXISTS devcare_events (
    stream text NOT NULL,
    seq bigint NOT NULL CHECK (seq >= 1),
    body bytea NOT NULL,
    PRIMARY KEY (stream, seq)
);
CREATE TABLE IF NOT EXISTS devcare_leases (
    fleet text NOT NULL,
    shard integer NOT NULL CHECK (shard >= 0),
    owner text NOT NULL,
    expires timestamptz NOT NULL,
    PRIMARY KEY (fleet, shard)
);
CREATE TABLE IF NOT EXISTS devcare_workers (
    fleet text NOT NULL,
    owner text NOT NULL,
    expires timestamptz NOT NULL,
    PRIMARY KEY (fleet, owner)
);
";

/// A pooled connection and the append statements prepared on it (one per head case).
struct Conn {
    client: Client,
    append: [Option<postgres::Statement>; 2],
}

/// The one-stream append (see [`PgStore::append_one`]): `[new stream, existing stream]`.
const APPEND_ONE: [&str; 2] = [
    // A head at 0 exists after an append of no events.
    "WITH moved AS (INSERT INTO devcare_heads AS h (stream, version) VALUES ($1, $2)
                    ON CONFLICT (stream) DO UPDATE SET version = EXCLUDED.version
                    WHERE h.version = $3 RETURNING 1),
          ins AS (INSERT INTO devcare_events (stream, seq, body)
                  SELECT $1, s, b FROM unnest($4::bigint[], $5::bytea[]) AS t(s, b)
                  WHERE EXISTS (SELECT 1 FROM moved))
     SELECT count(*) FROM moved",
    "WITH moved AS (UPDATE devcare_heads SET version = $2
                    WHERE stream = $1 AND version = $3 RETURNING 1),
          ins AS (INSERT INTO devcare_events (stream, seq, body)
                  SELECT $1, s, b FROM unnest($4::bigint[], $5::bytea[]) AS t(s, b)
                  WHERE EXISTS (SELECT 1 FROM moved))
     SELECT count(*) FROM moved",
];

/// The event store on PostgreSQL (see the crate docs).
pub struct PgStore {
    config: Config,
    idle: Mutex<Vec<Conn>>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The configuration holds the password: only where it points.
        f.debug_struct("PgStore")
            .field("hosts", &self.config.get_hosts().len())
            .field("dbname", &self.config.get_dbname())
            .finish_non_exhaustive()
    }
}

/// A database error as a store error: what was being done and what the server said (its
/// message and SQLSTATE, which `postgres::Error`'s own text leaves out).
fn backend(what: &str, e: postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => StoreError::Backend(format!(
            "postgresql: {what}: {} (SQLSTATE {})",
            db.message(),
            db.code().code()
        )),
        None => StoreError::Backend(format!("postgresql: {what}: {e}")),
    }
}

fn as_seq(v: Version) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Backend(format!("version {v} beyond bigint")))
}

fn as_version(stream: &StreamId, v: i64) -> Result<Version, StoreError> {
    u64::try_from(v).map_err(|_| {
        StoreError::Backend(format!(
            "stream {stream}: negative version {v} in the table"
        ))
    })
}

impl PgStore {
    /// Connects to `url` (a libpq URL or key/value string), creates the tables if they are
    /// missing, and checks the schema version: a database written by a newer build is
    /// refused rather than misread.
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        let config: Config = url
            .parse()
            .map_err(|e| StoreError::Backend(format!("postgresql: connection string: {e}")))?;
        let store = PgStore {
            config,
            idle: Mutex::new(Vec::new()),
        };
        store.with(|c| {
            let mut tx = c.transaction().map_err(|e| backend("begin", e))?;
            // Two processes creating the tables at once would race in the catalog: one at
            // a time (a transaction-scoped advisory lock, key "devcare" in ASCII).
            tx.batch_execute("SELECT pg_advisory_xact_lock(7310593858020254053)")
                .map_err(|e| backend("locking the schema", e))?;
            tx.batch_execute(SCHEMA)
                .map_err(|e| backend("creating the tables", e))?;
            let found: Option<i32> = tx
                .query_opt("SELECT max(version) FROM devcare_schema", &[])
                .map_err(|e| backend("reading the schema version", e))?
                .and_then(|r| r.get(0));
            match found {
                None => {
                    tx.execute(
                        "INSERT INTO devcare_schema (version) VALUES ($1)",
                        &[&SCHEMA_VERSION],
                    )
                    .map_err(|e| backend("recording the schema version", e))?;
                }
                Some(v) if v == SCHEMA_VERSION => {}
                Some(v) => {
                    return Err(StoreError::Backend(format!(
                        "postgresql: the database has devcare schema {v}; this build reads schema {SCHEMA_VERSION}"
                    )));
                }
            }
            tx.commit().map_err(|e| backend("commit", e))
        })?;
        Ok(store)
    }

    /// Runs `f` on a pooled connection (a new one if none is idle); the connection goes back
    /// to the pool unless it broke or the call failed with a database error.
    fn with<T>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.with_conn(|c| f(&mut c.client))
    }

    fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        let mut conn = match idle {
            Some(c) if !c.client.is_closed() => c,
            _ => {
                let mut client = self
                    .config
                    .connect(NoTls)
                    .map_err(|e| backend("connecting", e))?;
                client
                    .batch_execute("SET synchronous_commit = on")
                    .map_err(|e| backend("setting synchronous_commit", e))?;
                Conn {
                    client,
                    append: [None, None],
                }
            }
        };
        let out = f(&mut conn);
        // A database error may have left the session broken in ways `is_closed` does not
        // see yet (a terminated backend): such a connection is not pooled again.
        let suspect = matches!(out, Err(StoreError::Backend(_)));
        if !suspect && !conn.client.is_closed() {
            self.idle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(conn);
        }
        out
    }

    /// Takes and renews shard leases for worker `owner` of `fleet` (`shards` shards), in one
    /// transaction serialised per fleet, on the database's clock: announces `owner` as a
    /// live worker (`devcare_workers`) and renews the leases it holds, then takes free or
    /// expired ones in shard order until it holds its fair share (`shards` / live workers,
    /// rounded up), or gives back the ones beyond it (a worker that joined gets them). Returns the shards `owner` holds, sorted, each valid for
    /// `ttl`. A worker that stops renewing loses its shards when `ttl` passes; writes of a
    /// worker that lost a shard and did not notice are refused by the shard stream's
    /// expected version (`Conflict`), so two owners never both write one.
    pub fn acquire_shards(
        &self,
        fleet: &str,
        shards: u32,
        owner: &str,
        ttl: std::time::Duration,
    ) -> Result<Vec<u32>, StoreError> {
        let shards = i32::try_from(shards)
            .map_err(|_| StoreError::Backend(format!("{shards} shards beyond integer")))?;
        let ttl_ms = ttl.as_millis() as f64;
        self.with(|c| {
            let mut tx = c.transaction().map_err(|e| backend("begin", e))?;
            tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&fleet])
                .map_err(|e| backend("locking the fleet's leases", e))?;
            let mut held: Vec<i32> = tx
                .query(
                    "UPDATE devcare_leases SET expires = now() + $3 * interval '1 millisecond'
                     WHERE fleet = $1 AND owner = $2 AND expires > now() AND shard < $4
                     RETURNING shard",
                    &[&fleet, &owner, &ttl_ms, &shards],
                )
                .map_err(|e| backend("renewing leases", e))?
                .iter()
                .map(|r| r.get(0))
                .collect();
            // This worker is alive (a worker holding no shard yet counts too).
            tx.execute(
                "INSERT INTO devcare_workers (fleet, owner, expires)
                 VALUES ($1, $2, now() + $3 * interval '1 millisecond')
                 ON CONFLICT (fleet, owner) DO UPDATE SET expires = EXCLUDED.expires",
                &[&fleet, &owner, &ttl_ms],
            )
            .map_err(|e| backend("announcing the worker", e))?;
            let others: i64 = tx
                .query_one(
                    "SELECT count(*) FROM devcare_workers
                     WHERE fleet = $1 AND owner <> $2 AND expires > now()",
                    &[&fleet, &owner],
                )
                .map_err(|e| backend("counting workers", e))?
                .get(0);
            let share = (i64::from(shards) + others) / (others + 1);
            held.sort_unstable();
            let have = held.len() as i64;
            if have > share {
                let extra: Vec<i32> = held.split_off(share as usize);
                tx.execute(
                    "DELETE FROM devcare_leases WHERE fleet = $1 AND owner = $2 AND shard = ANY($3)",
                    &[&fleet, &owner, &extra],
                )
                .map_err(|e| backend("giving back leases", e))?;
            } else if have < share {
                let taken = tx
                    .query(
                        "INSERT INTO devcare_leases (fleet, shard, owner, expires)
                         SELECT $1, s, $2, now() + $3 * interval '1 millisecond'
                         FROM generate_series(0, $4 - 1) s
                         WHERE NOT EXISTS (SELECT 1 FROM devcare_leases l
                                           WHERE l.fleet = $1 AND l.shard = s AND l.expires > now())
                         ORDER BY s LIMIT $5
                         ON CONFLICT (fleet, shard) DO UPDATE
                         SET owner = EXCLUDED.owner, expires = EXCLUDED.expires
                         WHERE devcare_leases.expires <= now()
                         RETURNING shard",
                        &[&fleet, &owner, &ttl_ms, &shards, &(share - have)],
                    )
                    .map_err(|e| backend("taking leases", e))?;
                held.extend(taken.iter().map(|r| r.get::<_, i32>(0)));
                held.sort_unstable();
            }
            tx.commit().map_err(|e| backend("commit", e))?;
            Ok(held.into_iter().map(|s| s as u32).collect())
        })
    }

    /// Gives back every lease `owner` holds in `fleet` and leaves the fleet's workers (a
    /// worker shutting down cleanly). Returns the leases given back.
    pub fn release_shards(&self, fleet: &str, owner: &str) -> Result<u64, StoreError> {
        self.with(|c| {
            let mut tx = c.transaction().map_err(|e| backend("begin", e))?;
            tx.execute(
                "DELETE FROM devcare_workers WHERE fleet = $1 AND owner = $2",
                &[&fleet, &owner],
            )
            .map_err(|e| backend("leaving the workers", e))?;
            let n = tx
                .execute(
                    "DELETE FROM devcare_leases WHERE fleet = $1 AND owner = $2",
                    &[&fleet, &owner],
                )
                .map_err(|e| backend("releasing leases", e))?;
            tx.commit().map_err(|e| backend("commit", e))?;
            Ok(n)
        })
    }

    /// The leases of `fleet`: (shard, owner, still valid), by shard.
    pub fn leases(&self, fleet: &str) -> Result<Vec<(u32, String, bool)>, StoreError> {
        self.with(|c| {
            let rows = c
                .query(
                    "SELECT shard, owner, expires > now() FROM devcare_leases
                     WHERE fleet = $1 ORDER BY shard",
                    &[&fleet],
                )
                .map_err(|e| backend("reading leases", e))?;
            Ok(rows
                .iter()
                .map(|r| (r.get::<_, i32>(0) as u32, r.get(1), r.get(2)))
                .collect())
        })
    }

    fn head(
        c: &mut impl postgres::GenericClient,
        stream: &StreamId,
    ) -> Result<Version, StoreError> {
        let row = c
            .query_opt(
                "SELECT version FROM devcare_heads WHERE stream = $1",
                &[&stream.as_str()],
            )
            .map_err(|e| backend("reading a head", e))?;
        match row {
            None => Ok(0),
            Some(r) => as_version(stream, r.get(0)),
        }
    }

    /// One attempt at a batch, inside `tx`.
    fn append_in(
        tx: &mut postgres::Transaction<'_>,
        batch: &[StreamBatch<'_>],
    ) -> Result<Vec<Version>, Fail> {
        let checked = check_batch(batch, |s| {
            let row = tx
                .query_opt(
                    "SELECT version FROM devcare_heads WHERE stream = $1 FOR UPDATE",
                    &[&s.as_str()],
                )
                .map_err(|e| backend("locking a head", e))?;
            match row {
                None => Ok(0),
                Some(r) => as_version(s, r.get(0)),
            }
        });
        let out = checked.map_err(Fail::Store)?;
        for ((stream, expected, recs), new) in batch.iter().zip(&out) {
            if !recs.is_empty() {
                let seqs = (1..=recs.len() as u64)
                    .map(|k| as_seq(expected + k))
                    .collect::<Result<Vec<i64>, _>>()
                    .map_err(Fail::Store)?;
                let bodies: Vec<&[u8]> = recs.iter().map(Vec::as_slice).collect();
                tx.execute(
                    "INSERT INTO devcare_events (stream, seq, body)
                     SELECT $1, s, b FROM unnest($2::bigint[], $3::bytea[]) AS t(s, b)",
                    &[&stream.as_str(), &seqs, &bodies],
                )
                .map_err(|e| Fail::Db("inserting events", e))?;
            }
            let version = as_seq(*new).map_err(Fail::Store)?;
            tx.execute(
                "INSERT INTO devcare_heads (stream, version) VALUES ($1, $2)
                 ON CONFLICT (stream) DO UPDATE SET version = EXCLUDED.version",
                &[&stream.as_str(), &version],
            )
            .map_err(|e| Fail::Db("moving a head", e))?;
        }
        Ok(out)
    }
}

impl PgStore {
    /// One stream's append as a single statement (its own transaction, one round trip): the
    /// head moves from `expected` only if it is there — for a new stream, only if no other
    /// writer created it — and the events go in only if the head moved. Nothing moved means
    /// the expected version was wrong: the `Conflict` names the version found.
    fn append_one(
        &self,
        stream: &StreamId,
        expected: Version,
        recs: &[Vec<u8>],
        batch: &[StreamBatch<'_>],
    ) -> Result<Vec<Version>, StoreError> {
        let new = expected + recs.len() as u64;
        let seqs = (expected + 1..=new)
            .map(as_seq)
            .collect::<Result<Vec<i64>, _>>()?;
        let bodies: Vec<&[u8]> = recs.iter().map(Vec::as_slice).collect();
        let which = usize::from(expected > 0);
        self.with_conn(|conn| {
            let statement = match &conn.append[which] {
                Some(st) => st.clone(),
                None => {
                    let st = conn
                        .client
                        .prepare(APPEND_ONE[which])
                        .map_err(|e| backend("preparing the append", e))?;
                    conn.append[which] = Some(st.clone());
                    st
                }
            };
            let c = &mut conn.client;
            let moved: i64 = match c.query_one(
                &statement,
                &[
                    &stream.as_str(),
                    &as_seq(new)?,
                    &as_seq(expected)?,
                    &seqs,
                    &bodies,
                ],
            ) {
                Ok(row) => row.get(0),
                Err(e) => {
                    if e.code() == Some(&SqlState::UNIQUE_VIOLATION)
                        && let Err(conflict) = check_batch(batch, |s| Self::head(c, s))
                    {
                        return Err(conflict);
                    }
                    return Err(backend("appending", e));
                }
            };
            if moved == 1 {
                // The events went in with the head, in the same statement.
                return Ok(vec![new]);
            }
            // The head was elsewhere: say where.
            check_batch(batch, |s| Self::head(c, s))?;
            Err(StoreError::Backend(format!(
                "postgresql: stream {stream}: the head did not move from {expected} and no other version was found"
            )))
        })
    }
}

/// Why an append attempt failed: a store-level refusal, or the database's own error (kept
/// whole so a unique violation can be told apart).
enum Fail {
    Store(StoreError),
    Db(&'static str, postgres::Error),
}

impl EventStore for PgStore {
    fn append_records(&self, batch: &[StreamBatch<'_>]) -> Result<Vec<Version>, StoreError> {
        if let [(stream, expected, recs)] = batch
            && !recs.is_empty()
        {
            return self.append_one(stream, *expected, recs, batch);
        }
        self.with(|c| {
            let attempt = match c.transaction() {
                Err(e) => Err(Fail::Db("begin", e)),
                Ok(mut tx) => match Self::append_in(&mut tx, batch) {
                    Ok(out) => tx.commit().map(|()| out).map_err(|e| Fail::Db("commit", e)),
                    Err(f) => Err(f),
                },
            };
            match attempt {
                Ok(out) => Ok(out),
                Err(Fail::Store(e)) => Err(e),
                Err(Fail::Db(what, e)) => {
                    // Only a writer that created the same stream first takes a
                    // (stream, seq) or head key: report the version it left.
                    if e.code() == Some(&SqlState::UNIQUE_VIOLATION)
                        && let Err(conflict) = check_batch(batch, |s| Self::head(c, s))
                    {
                        return Err(conflict);
                    }
                    Err(backend(what, e))
                }
            }
        })
    }

    fn scan_records(
        &self,
        stream: &StreamId,
        from: Version,
        f: &mut RecordVisitor<'_>,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            let mut tx = c
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .map_err(|e| backend("begin", e))?;
            let head = Self::head(&mut tx, stream)?;
            if from >= head {
                return Ok(());
            }
            let missing = |seq| StoreError::Missing {
                stream: stream.clone(),
                seq,
                head,
            };
            let mut expect = from.saturating_add(1);
            // A portal fetches the rows in pages: a long stream never sits in memory whole.
            let portal = tx
                .bind(
                    "SELECT seq, body FROM devcare_events
                     WHERE stream = $1 AND seq > $2 AND seq <= $3 ORDER BY seq",
                    &[&stream.as_str(), &as_seq(from)?, &as_seq(head)?],
                )
                .map_err(|e| backend("reading events", e))?;
            loop {
                let rows = tx
                    .query_portal(&portal, 4096)
                    .map_err(|e| backend("reading events", e))?;
                if rows.is_empty() {
                    break;
                }
                for row in rows {
                    let seq = as_version(stream, row.get(0))?;
                    if seq != expect {
                        return Err(missing(expect));
                    }
                    let body: &[u8] = row.get(1);
                    f(seq, body)?;
                    expect += 1;
                }
            }
            if expect <= head {
                return Err(missing(expect));
            }
            tx.commit().map_err(|e| backend("commit", e))
        })
    }

    fn version(&self, stream: &StreamId) -> Result<Version, StoreError> {
        self.with(|c| Self::head(c, stream))
    }

    fn streams(&self) -> Result<Vec<StreamId>, StoreError> {
        self.with(|c| {
            let rows = c
                .query(
                    "SELECT stream FROM devcare_heads ORDER BY stream COLLATE \"C\"",
                    &[],
                )
                .map_err(|e| backend("listing streams", e))?;
            rows.iter()
                .map(|r| {
                    let name: &str = r.get(0);
                    StreamId::new(name)
                        .map_err(|e| StoreError::Backend(format!("postgresql: head {name:?}: {e}")))
                })
                .collect()
        })
    }

    /// Nothing to do: an append returned only after its commit, and every session commits
    /// with `synchronous_commit = on`.
    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
