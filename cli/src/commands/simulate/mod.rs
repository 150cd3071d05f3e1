//! `devcare simulate`: a whole campaign over a simulated fleet. `args` holds the flags,
//! `store` the choice of the server's store (memory, sled, PostgreSQL, sharded), `render`
//! the printed result, `sweep` the many-worlds run.

mod args;
mod render;
mod store;
mod sweep;

pub(crate) use args::SimArgs;

use std::time::Instant;

use devcare::sim::{FleetConfig, Transport};
use devcare::text::parse_human_duration;
use devcare::{Campaign, TargetSet};
use indicatif::{ProgressBar, ProgressStyle};

use crate::error::{CliError, Result, input, internal, load_campaign_file};
use crate::printer::Printer;

use args::{BUILT_IN, coverage_floor, faults};
use render::report;
use store::execute;
use sweep::run_sweep;

pub(crate) fn run(a: &SimArgs, printer: Printer) -> Result<()> {
    let (campaign, file_floor) = match &a.campaign {
        Some(p) => load_campaign_file(p)?,
        None => (
            Campaign::from_toml("built-in apn-full.toml", BUILT_IN)
                .map_err(|e| internal(e.to_string()))?,
            None,
        ),
    };
    if campaign.targets != TargetSet::All {
        return Err(input(
            "simulate needs a campaign that targets all devices (targets = { all = true })",
        ));
    }
    for (name, v) in [
        ("--fail-rate", a.fail_rate),
        ("--loss", a.loss),
        ("--care-success", a.care_success),
    ] {
        if !(0.0..=1.0).contains(&v) {
            return Err(input(format!("{name}: must be between 0 and 1, is {v}")));
        }
    }
    let devices = a
        .devices
        .unwrap_or(if a.sweep.is_some() { 2_000 } else { 100_000 });
    if devices == 0 {
        return Err(input("--devices: must be at least 1"));
    }
    let checkin = parse_human_duration(&a.checkin_interval)
        .map_err(|e| input(format!("--checkin-interval: {e}")))?;
    let mut cfg = FleetConfig::new(campaign, devices);
    cfg.fail_rate = a.fail_rate;
    cfg.loss = a.loss;
    cfg.care_success = a.care_success;
    cfg.seed = a.seed;
    if let Some(world) = a.world {
        cfg.seed = world;
        cfg.campaign.salt = devcare::sim::world_salt(world);
    }
    cfg.checkin_interval = checkin;
    cfg.revise_at = a
        .revise_at
        .as_deref()
        .map(|d| parse_human_duration(d).map_err(|e| input(format!("--revise-at: {e}"))))
        .transpose()?;
    cfg.coverage_floor = coverage_floor(a, file_floor)?;
    cfg.max_presumed_unknown = a.max_presumed_unknown;
    cfg.groups = a.groups;
    cfg.bad_group_fail_rate = a.bad_group_fail_rate;
    cfg.faults = faults(a)?;
    cfg.transport = match a.transport.as_str() {
        "binary" => Transport::Binary,
        "alert" => Transport::Alert,
        "mixed" => Transport::Mixed,
        other => {
            return Err(input(format!(
                "--transport: expected binary, alert or mixed, found {other:?}"
            )));
        }
    };
    cfg.threads = match a.threads {
        Some(0) => return Err(input("--threads: at least 1")),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
    };
    if let Some(n) = a.sweep {
        return run_sweep(a, &cfg, n, printer);
    }
    if let Some(n) = a.calibrate {
        return sweep::run_calibrate(&cfg, n, printer);
    }

    let bar = ProgressBar::new(devices);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} provisioning {pos}/{len} devices [{bar:30}] {elapsed}",
        )
        .map_err(|e| internal(e.to_string()))?,
    );
    let started = Instant::now();
    let run = execute(&cfg, a, &bar)?;
    bar.finish_and_clear();
    let wall_s = started.elapsed().as_secs_f64();
    if run.replay_identical == Some(false) {
        return Err(internal(format!(
            "the log at {} did not replay to the live state",
            run.log_location
        )));
    }
    if let Some(path) = &a.plot {
        crate::plot::reports_per_minute(path, &cfg.campaign, &run.out).map_err(|e| match e {
            CliError::Input(m) | CliError::Internal(m) => input(format!("{}: {m}", path.display())),
        })?;
    }
    report(printer, &cfg, &run, wall_s)
}
