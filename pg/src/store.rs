//! [`PgStore`]: the connection pool, the appends and the reads.

use std::sync::Mutex;

use devcare::store::{
    EventStore, RecordVisitor, StoreError, StreamBatch, StreamId, Version, check_batch,
};
use postgres::error::SqlState;
use postgres::{Client, Config, IsolationLevel, NoTls};

use crate::schema::{SCHEMA, SCHEMA_VERSION};

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
pub(crate) fn backend(what: &str, e: postgres::Error) -> StoreError {
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
    pub(crate) fn with<T>(
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
}

impl PgStore {
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
        // A stream the batch only fences (no records: the version the writer decided on) is
        // locked shared, so fencing writers do not queue behind each other; one it appends
        // to is locked for update.
        let fence_only = |s: &StreamId| {
            batch
                .iter()
                .filter(|(t, ..)| *t == s)
                .all(|(_, _, recs)| recs.is_empty())
        };
        let checked = check_batch(batch, |s| {
            let sql = if fence_only(s) {
                "SELECT version FROM devcare_heads WHERE stream = $1 FOR SHARE"
            } else {
                "SELECT version FROM devcare_heads WHERE stream = $1 FOR UPDATE"
            };
            let row = tx
                .query_opt(sql, &[&s.as_str()])
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
            if recs.is_empty() {
                continue; // a fence: checked, nothing to move
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
pub(crate) enum Fail {
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
