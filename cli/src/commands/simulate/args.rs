//! The flags of `devcare simulate` and what they ask for.

use std::path::PathBuf;

use clap::Args;
use devcare::server::{CoverageFloor, Fallback};
use devcare::sim::Faults;

use crate::error::{Result, input};

/// The built-in campaign: `examples/campaigns/apn-full.toml`.
pub(super) const BUILT_IN: &str = include_str!("../../../../examples/campaigns/apn-full.toml");

#[derive(Debug, Args)]
pub(crate) struct SimArgs {
    /// Fleet size [default: 100000, or 2000 per world with --sweep].
    #[arg(long)]
    pub(super) devices: Option<u64>,
    /// Share of devices whose provisioning fails (spread over the campaign's conditions).
    #[arg(long, default_value_t = 0.02, value_name = "P")]
    pub(super) fail_rate: f64,
    /// Share of devices that miss the broadcast (found later when they check in).
    #[arg(long, default_value_t = 0.0, value_name = "Q")]
    pub(super) loss: f64,
    /// Chance that one care attempt fixes a device.
    #[arg(long, default_value_t = 0.9, value_name = "P")]
    pub(super) care_success: f64,
    /// Seed of every random choice: the same seed gives the same result.
    #[arg(long, default_value_t = 1)]
    pub(super) seed: u64,
    /// Run world SEED of a sweep exactly: its seed and the campaign salt the sweep gave it
    /// (what a sweep's replay line uses).
    #[arg(long, value_name = "SEED", conflicts_with_all = ["seed", "sweep", "calibrate"])]
    pub(super) world: Option<u64>,
    /// Campaign file [default: a built-in APN campaign using every condition kind].
    #[arg(long, value_name = "FILE.toml")]
    pub(super) campaign: Option<PathBuf>,
    /// Devices check in at a time spread over this interval after issue.
    #[arg(long, default_value = "24h", value_name = "DURATION")]
    pub(super) checkin_interval: String,
    /// Where the server's event log goes: a directory (the run uses DIR/simulate-<campaign>,
    /// emptied first), `memory`, or a PostgreSQL connection string (`postgres://…`; the
    /// campaign's stream must be new in that database).
    #[arg(
        long,
        default_value = "./devcare-data",
        value_name = "DIR|memory|postgres://…"
    )]
    pub(super) store: String,
    /// Write an SVG of reports per minute over simulated time.
    #[arg(long, value_name = "FILE.svg")]
    pub(super) plot: Option<PathBuf>,
    /// Revise the campaign this long after issue (e.g. `30m`): revision N+1 replaces N on
    /// the server and is broadcast to the fleet again; the figures are revision N+1's.
    #[arg(long, value_name = "DURATION")]
    pub(super) revise_at: Option<String>,
    /// Coverage floor: when the server's reach interval (share of targets holding the
    /// payload) lies wholly below it, the broadcast is degraded and the fallback runs
    /// (`none`: no floor) [default: the campaign file's `[coverage]`, else 0.99].
    #[arg(long, value_name = "SHARE|none")]
    pub(super) coverage_floor: Option<String>,
    /// What runs below the floor (with --coverage-floor, or the default floor): `repair`
    /// polls a random sample of the silent targets and then rebroadcasts, keeps polling
    /// only while it pays, or waits for check-ins; `unicast` polls every silent target.
    #[arg(
        long,
        default_value = "repair",
        value_name = "none|rebroadcast|unicast|repair"
    )]
    pub(super) fallback: String,
    /// Most targets presumed OK that may not be (the server's 95% bound) for the campaign
    /// to settle at its deadline; above it the campaign stays open until check-ins bring
    /// the bound within it [default: no limit].
    #[arg(long, value_name = "N")]
    pub(super) max_presumed_unknown: Option<u64>,
    /// Split the fleet into N directory groups (g0, g1, …), each with the campaign's abort
    /// threshold as its own: one bad cohort pauses alone (at most 16).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub(super) groups: u32,
    /// Share of group g0's devices whose provisioning fails, in place of --fail-rate (one
    /// bad cohort; with --groups).
    #[arg(long, value_name = "P", requires = "groups")]
    pub(super) bad_group_fail_rate: Option<f64>,
    /// Devices per minute the unicast or repair fallback polls.
    #[arg(long, default_value_t = 2_000, value_name = "N")]
    pub(super) fallback_pace: u32,
    /// What goes wrong between devices, channel and server (`docs/design.md`, "Fault
    /// simulation"); the rates below override the preset's.
    #[arg(long, default_value = "none", value_name = "none|realistic|harsh")]
    pub(super) faults: String,
    /// Share of report messages lost.
    #[arg(long, value_name = "P")]
    pub(super) report_loss: Option<f64>,
    /// Share of device steps followed by a reboot (state rebuilt from the device's log).
    #[arg(long, value_name = "P")]
    pub(super) reboot_rate: Option<f64>,
    /// Share of device steps cut by a power loss before their events were flushed.
    #[arg(long, value_name = "P")]
    pub(super) power_cut: Option<f64>,
    /// Share of server commands followed by a crash (state rebuilt from the log).
    #[arg(long, value_name = "P")]
    pub(super) server_crash: Option<f64>,
    /// Split the campaign's server over this many shards by device (`docs/scale-out.md`): a
    /// control stream and one stream per shard. With several comma-separated PostgreSQL
    /// connection strings in --store, the shards are placed round-robin over those
    /// databases (the first holds the control stream).
    #[arg(long, default_value_t = 1, value_name = "V")]
    pub(super) shards: u32,
    /// Threads appending the shards' batches at once, each owning the shards k with
    /// k mod W its index (with --shards above 1).
    #[arg(long, default_value_t = 1, value_name = "W")]
    pub(super) workers: usize,
    /// Threads for the devices' side of a broadcast (apply, evaluate, slot) [default: one
    /// per core]. The result is the same, byte for byte, for any number.
    #[arg(long, value_name = "N")]
    pub(super) threads: Option<usize>,
    /// How devices send their reports: binary reports into the server's report ingest,
    /// OMA DM Generic Alerts in each device's DM session into its alert ingest, or half
    /// and half (drawn per device).
    #[arg(long, default_value = "binary", value_name = "binary|alert|mixed")]
    pub(super) transport: String,
    /// Run this many worlds (seeds `--seed` to `--seed + N - 1`) on every core and report
    /// faults injected and invariants broken, with the command that replays any failure.
    #[arg(long, value_name = "SEEDS")]
    pub(super) sweep: Option<u64>,
    /// Sweep this many worlds (each its own salt) in every cell of faults none / realistic
    /// / harsh × broadcast loss 0 / 1 / 5%, and print one table: false pauses, how often
    /// the reach interval held the truth at the first check and the coverage interval at
    /// the end, their width, failures never heard of, targets unresolved (`--faults` and
    /// `--loss` are the cells'; the other flags apply to every cell).
    #[arg(long, value_name = "SEEDS", conflicts_with = "sweep")]
    pub(super) calibrate: Option<u64>,
}

/// The faults the flags ask for.
pub(super) fn faults(a: &SimArgs) -> Result<Faults> {
    let mut f = Faults::preset(&a.faults).ok_or_else(|| {
        input(format!(
            "--faults: {:?} is not one of none, realistic, harsh",
            a.faults
        ))
    })?;
    if let Some(p) = a.report_loss {
        f.report_loss = p;
    }
    if let Some(p) = a.reboot_rate {
        f.reboot = p;
    }
    if let Some(p) = a.power_cut {
        f.power_cut = p;
    }
    if let Some(p) = a.server_crash {
        f.server_crash = p;
    }
    f.validate().map_err(|e| input(format!("--faults: {e}")))?;
    Ok(f)
}

/// The coverage floor the flags ask for; without `--coverage-floor`, the campaign file's
/// `[coverage]`, else 0.99 with the `--fallback` and `--fallback-pace` given.
pub(super) fn coverage_floor(
    a: &SimArgs,
    file: Option<CoverageFloor>,
) -> Result<Option<CoverageFloor>> {
    let given = match (&a.coverage_floor, file) {
        (None, Some(f)) => return Ok(Some(f)),
        (None, None) => "0.99",
        (Some(g), _) => g.as_str(),
    };
    if given == "none" {
        return Ok(None);
    }
    let floor: f64 = given.parse().map_err(|_| {
        input(format!(
            "--coverage-floor: {given:?} is not a share or `none`"
        ))
    })?;
    let fallback = match a.fallback.as_str() {
        "none" => Fallback::None,
        "rebroadcast" => Fallback::Rebroadcast,
        "unicast" => Fallback::Unicast {
            per_minute: a.fallback_pace,
        },
        "repair" => Fallback::Repair {
            per_minute: a.fallback_pace,
        },
        other => {
            return Err(input(format!(
                "--fallback: {other:?} is not one of none, rebroadcast, unicast, repair"
            )));
        }
    };
    let policy = CoverageFloor { floor, fallback };
    policy
        .validate()
        .map_err(|e| input(format!("--coverage-floor/--fallback-pace: {e}")))?;
    Ok(Some(policy))
}
