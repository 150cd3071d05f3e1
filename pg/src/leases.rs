//! Shard leases: which worker owns which shard of a fleet, for how long
//! (`docs/scale-out.md`).

use devcare::store::StoreError;

use crate::PgStore;
use crate::store::backend;

impl PgStore {
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
}
