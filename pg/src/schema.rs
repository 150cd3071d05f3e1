//! The tables devcare keeps in PostgreSQL and their version.

/// The schema this build creates and reads.
pub const SCHEMA_VERSION: i32 = 1;

pub(crate) const SCHEMA: &str = "
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
