//! A throwaway PostgreSQL cluster for tests: `initdb` and `pg_ctl` from the installed
//! PostgreSQL into a temporary directory (as the `postgres` user through `runuser` when the
//! tests run as root, since PostgreSQL refuses root), listening on a Unix socket in that
//! directory and on a free loopback port. A watcher process stops the cluster and removes
//! the directory when the test process exits, however it exits.
//!
//! `DEVCARE_PG_URL` points the tests at an existing server instead (each test creates and
//! drops its own database there). Without either, a test prints one skip line — unless
//! `DEVCARE_REQUIRE_PG=1` (set by `.ci/run`), which turns the skip into a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Where the tests find a server: the admin connection string (database `postgres`).
#[derive(Debug, Clone)]
pub struct PgServer {
    admin: String,
    /// Key/value connection prefix without `dbname`.
    base: String,
}

static SERVER: OnceLock<Result<PgServer, String>> = OnceLock::new();
static SECOND: OnceLock<Result<PgServer, String>> = OnceLock::new();
static NEXT_DB: AtomicU64 = AtomicU64::new(0);

/// The PostgreSQL binaries' directory: `pg_ctl` on the PATH, else Debian's layout.
fn bin_dir() -> Option<PathBuf> {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return Some(dir);
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Runs a PostgreSQL program, as `postgres` when this process is root.
fn pg_command(bin: &Path, program: &str, root: bool) -> Command {
    let exe = bin.join(program);
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(exe);
        c
    } else {
        Command::new(exe)
    }
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// A throwaway cluster this process started: stopped and removed on drop (and by its
/// watcher when the process dies first).
#[derive(Debug)]
pub struct Cluster {
    bin: PathBuf,
    root: bool,
    dir: PathBuf,
    port: u16,
}

impl Cluster {
    /// Starts a new cluster (see the module docs).
    pub fn start() -> Result<Cluster, String> {
        let bin = bin_dir().ok_or("no PostgreSQL binaries (initdb) found")?;
        let root = is_root();
        let dir = std::env::temp_dir().join(format!(
            "devcare-pg-{}-{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        if root {
            let ok = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&dir)
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                return Err(format!(
                    "cannot hand {} to the postgres user",
                    dir.display()
                ));
            }
        }
        let out = pg_command(&bin, "initdb", root)
            .args(["-D"])
            .arg(dir.join("data"))
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"])
            .output()
            .map_err(|e| format!("initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let cluster = Cluster {
            port: free_port()?,
            bin,
            root,
            dir,
        };
        cluster.start_server()?;
        // The watcher: when this test process is gone, stop the cluster and remove its files.
        let stop = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {runas}{pg_ctl} -D {data} -m immediate stop >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            runas = if root { "runuser -u postgres -- " } else { "" },
            pg_ctl = cluster.bin.join("pg_ctl").display(),
            data = cluster.dir.join("data").display(),
            dir = cluster.dir.display(),
        );
        Command::new("sh")
            .args(["-c", &stop])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("watcher: {e}"))?;
        Ok(cluster)
    }

    /// `pg_ctl start` on the cluster's data (again after [`Cluster::stop_immediate`]).
    pub fn start_server(&self) -> Result<(), String> {
        let opts = format!(
            "-k {} -p {} -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200",
            self.dir.display(),
            self.port
        );
        let out = pg_command(&self.bin, "pg_ctl", self.root)
            .args(["-D"])
            .arg(self.dir.join("data"))
            .args(["-w", "-l"])
            .arg(self.dir.join("log"))
            .args(["-o", &opts, "start"])
            .stdout(Stdio::null())
            .output()
            .map_err(|e| format!("pg_ctl start: {e}"))?;
        if !out.status.success() {
            let log = std::fs::read_to_string(self.dir.join("log")).unwrap_or_default();
            return Err(format!(
                "pg_ctl start failed: {}{log}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(())
    }

    /// `pg_ctl stop -m immediate`: the server quits without a checkpoint, as in a power cut;
    /// the next start recovers from the write-ahead log.
    pub fn stop_immediate(&self) -> Result<(), String> {
        let out = pg_command(&self.bin, "pg_ctl", self.root)
            .args(["-D"])
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .output()
            .map_err(|e| format!("pg_ctl stop: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "pg_ctl stop failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(())
    }

    fn base(&self) -> String {
        format!(
            "host={} port={} user=postgres",
            self.dir.display(),
            self.port
        )
    }

    /// A new empty database on this cluster: its connection string.
    pub fn fresh_database(&self, test: &str) -> String {
        create_database(
            &format!("{} dbname=postgres", self.base()),
            &self.base(),
            test,
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.stop_immediate();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A cluster of this test process's own, for tests that stop and restart it; `None` (after
/// the skip line) without PostgreSQL binaries, as [`fresh_database`]. With `DEVCARE_PG_URL`
/// set, the binaries must still be installed: stopping a server needs its data directory.
pub fn own_cluster(test: &str) -> Option<Cluster> {
    match Cluster::start() {
        Ok(c) => Some(c),
        Err(why) => {
            skip_or_fail(test, &why);
            None
        }
    }
}

fn start_cluster() -> Result<PgServer, String> {
    let cluster = Cluster::start()?;
    let base = cluster.base();
    // The shared cluster lives as long as the process; its watcher removes it.
    std::mem::forget(cluster);
    Ok(PgServer {
        admin: format!("{base} dbname=postgres"),
        base,
    })
}

fn server() -> Result<PgServer, String> {
    SERVER
        .get_or_init(|| match std::env::var("DEVCARE_PG_URL") {
            Ok(url) => {
                url.parse::<postgres::Config>()
                    .map_err(|e| format!("DEVCARE_PG_URL does not parse: {e}"))?;
                Ok(PgServer {
                    admin: url.clone(),
                    base: url,
                })
            }
            Err(_) => start_cluster(),
        })
        .clone()
}

fn skip_or_fail(test: &str, why: &str) {
    if std::env::var_os("DEVCARE_REQUIRE_PG").is_some_and(|v| v == "1") {
        panic!("{test}: PostgreSQL is required (DEVCARE_REQUIRE_PG=1): {why}");
    }
    println!(
        "skipped {test}: no PostgreSQL ({why}); `apt-get install postgresql` or set DEVCARE_PG_URL"
    );
}

fn create_database(admin: &str, base: &str, test: &str) -> String {
    let name = format!(
        "devcare_t{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::Relaxed)
    );
    let mut admin = postgres::Client::connect(admin, postgres::NoTls)
        .unwrap_or_else(|e| panic!("{test}: connecting to PostgreSQL: {e}"));
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap_or_else(|e| panic!("{test}: creating database {name}: {e}"));
    with_database(base, &name)
}

/// A fresh, empty database for one test: its connection string. `None` (after printing the
/// skip line `test` names) when no PostgreSQL is available and `DEVCARE_REQUIRE_PG` is not
/// set; a panic when it is.
pub fn fresh_database(test: &str) -> Option<String> {
    match server() {
        Ok(s) => Some(create_database(&s.admin, &s.base, test)),
        Err(why) => {
            skip_or_fail(test, &why);
            None
        }
    }
}

/// Fresh databases on two different clusters (the multi-primary tests): the shared one and a
/// second one started for this process. With `DEVCARE_PG_URL` set, both are on that server
/// (`DEVCARE_PG_URL2`, when set, names the second).
pub fn fresh_databases_on_two_clusters(test: &str) -> Option<[String; 2]> {
    let first = fresh_database(test)?;
    let second = SECOND
        .get_or_init(|| match std::env::var("DEVCARE_PG_URL2") {
            Ok(url) => Ok(PgServer {
                admin: url.clone(),
                base: url,
            }),
            Err(_) => match std::env::var("DEVCARE_PG_URL") {
                Ok(_) => server(),
                Err(_) => start_cluster(),
            },
        })
        .clone();
    match second {
        Ok(s) => Some([first, create_database(&s.admin, &s.base, test)]),
        Err(why) => {
            skip_or_fail(test, &why);
            None
        }
    }
}

/// `conn` (a URL or a key/value string) naming database `name` instead of its own.
fn with_database(conn: &str, name: &str) -> String {
    let Some((scheme, rest)) = conn.split_once("://") else {
        return format!("{conn} dbname={name}");
    };
    let (before_query, query) = rest
        .split_once('?')
        .map_or((rest, None), |(a, q)| (a, Some(q)));
    let authority = before_query
        .split_once('/')
        .map_or(before_query, |(a, _)| a);
    match query {
        Some(q) => format!("{scheme}://{authority}/{name}?{q}"),
        None => format!("{scheme}://{authority}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_test_database_replaces_the_url_s_own_and_keeps_its_options() {
        use super::with_database as w;
        assert_eq!(w("postgres://u@h:5/postgres", "t1"), "postgres://u@h:5/t1");
        assert_eq!(w("postgres://u@h", "t1"), "postgres://u@h/t1");
        assert_eq!(
            w("postgresql://u@h/db?sslmode=disable", "t1"),
            "postgresql://u@h/t1?sslmode=disable"
        );
        assert_eq!(
            w("host=/tmp port=5 user=p", "t1"),
            "host=/tmp port=5 user=p dbname=t1"
        );
    }
}
