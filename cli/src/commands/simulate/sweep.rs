//! `--sweep N`: many worlds on every core, what broke, and the command that replays it.

use std::time::Instant;

use devcare::sim::{Faults, FleetConfig, SweepOutcome, sweep};
use serde_json::json;

use std::fmt::Write as _;

use super::args::SimArgs;
use crate::error::{Result, internal};
use crate::printer::Printer;

/// `--sweep N`: N worlds on every core, then what broke.
pub(super) fn run_sweep(a: &SimArgs, cfg: &FleetConfig, n: u64, printer: Printer) -> Result<()> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let started = Instant::now();
    let out = sweep(cfg, cfg.seed..cfg.seed.saturating_add(n), threads);
    let wall_s = started.elapsed().as_secs_f64();
    let repro = |seed: u64| replay_command(a, cfg, seed);
    let text = || sweep_text(&out, cfg, threads, wall_s, &repro);
    printer.result(text, || {
        json!({
            "seeds": out.seeds,
            "devices_per_world": cfg.devices,
            "faults": a.faults,
            "threads": threads,
            "faults_injected": out.faults,
            "violations": out.failures.iter().map(|(seed, e)| json!({
                "seed": seed,
                "what": e,
                "replay": repro(*seed),
            })).collect::<Vec<_>>(),
            "coverage_held": out.coverage_held,
            "first_check_held": out.first_check_held,
            "first_check_count": out.first_check_count,
            "settlement_bound_held": out.bound_held,
            "settlement_bound_count": out.bound_count,
            "wrongly_presumed": out.wrongly_presumed,
            "breaker_pauses": out.breaker_pauses,
            "group_pauses": out.group_pauses,
            "degraded": out.degraded,
            "repair_sessions": out.repair_sessions,
            "repair_found": out.repair_found,
            "unresolved": out.unresolved,
            "coverage_checked": out.coverage_checked,
            "gave_up_reporting": out.gave_up_reporting,
            "reports_sent": out.reports_sent,
            "reports_accepted": out.reports_accepted,
            "wall_s": wall_s,
        })
    })?;
    if out.failures.is_empty() {
        Ok(())
    } else {
        Err(internal(format!(
            "{} of {} worlds broke an invariant",
            out.failures.len(),
            out.seeds
        )))
    }
}

/// `Some(minutes)` as `5h07m`, `None` as a dash.
fn hours(m: Option<u64>) -> String {
    m.map_or("—".into(), |m| format!("{}h{:02}m", m / 60, m % 60))
}

/// DM sessions the repair opened per device it found lacking the payload.
fn sessions_per_found(o: &SweepOutcome) -> String {
    match (o.repair_sessions, o.repair_found) {
        (0, 0) => "—".into(),
        (s, 0) => format!("{s} sessions, none found"),
        (s, f) => format!("{:.2} ({s}/{f})", s as f64 / f as f64),
    }
}

/// `--calibrate N`: N worlds in every cell of faults × broadcast loss, one table.
pub(super) fn run_calibrate(cfg: &FleetConfig, n: u64, printer: Printer) -> Result<()> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let started = Instant::now();
    let mut rows = Vec::new();
    for preset in ["none", "realistic", "harsh"] {
        for loss in [0.0, 0.01, 0.05] {
            let mut c = cfg.clone();
            c.faults = Faults::preset(preset).unwrap_or_else(Faults::none);
            c.loss = loss;
            let out = sweep(&c, c.seed..c.seed.saturating_add(n), threads);
            rows.push((preset, loss, out));
        }
    }
    let wall_s = started.elapsed().as_secs_f64();
    let share = |held: u64, of: u64| {
        if of == 0 {
            "—".to_string()
        } else {
            format!("{held}/{of} ({:.1}%)", 100.0 * held as f64 / of as f64)
        }
    };
    let text = || {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "calibration: {n} worlds of {} devices per cell, {threads} threads, {wall_s:.1}s\n",
            cfg.devices
        );
        let _ = writeln!(
            t,
            "| faults | loss | violations | false pauses | pauses | first check held | mean first width | final held | mean final width | settlement bound held | mean bound | wrongly presumed | never heard of | unresolved | degraded | repair sessions per found | median repair done | median converged |"
        );
        let _ = writeln!(
            t,
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
        );
        for (preset, loss, o) in &rows {
            let false_pauses = o
                .failures
                .iter()
                .filter(|(_, e)| e.contains("false-pause"))
                .count();
            let width = if o.coverage_checked == 0 {
                "—".to_string()
            } else {
                format!("{:.4}", o.coverage_width / o.coverage_checked as f64)
            };
            let first_width = if o.first_check_count == 0 {
                "—".to_string()
            } else {
                format!("{:.4}", o.first_check_width / o.first_check_count as f64)
            };
            let _ = writeln!(
                t,
                "| {preset} | {:.0}% | {} | {false_pauses} | {} | {} | {first_width} | {} | {width} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                loss * 100.0,
                o.failures.len(),
                o.breaker_pauses,
                share(o.first_check_held, o.first_check_count),
                share(o.coverage_held, o.coverage_checked),
                share(o.bound_held, o.bound_count),
                o.bound_sum
                    .checked_div(o.bound_count)
                    .map_or("—".into(), |b| b.to_string()),
                o.wrongly_presumed,
                o.gave_up_reporting,
                o.unresolved,
                o.degraded,
                sessions_per_found(o),
                hours(o.median_repair_done_minutes()),
                hours(o.median_converged_minutes()),
            );
        }
        t
    };
    printer.result(text, || {
        json!(rows
            .iter()
            .map(|(preset, loss, o)| json!({
                "faults": preset,
                "loss": loss,
                "worlds": o.seeds,
                "devices_per_world": cfg.devices,
                "violations": o.failures.iter().map(|(seed, e)| json!({"seed": seed, "what": e})).collect::<Vec<_>>(),
                "breaker_pauses": o.breaker_pauses,
                "first_check_held": o.first_check_held,
                "first_check_count": o.first_check_count,
                "first_check_width_sum": o.first_check_width,
                "coverage_held": o.coverage_held,
                "coverage_checked": o.coverage_checked,
                "coverage_width_sum": o.coverage_width,
                "settlement_bound_held": o.bound_held,
                "settlement_bound_count": o.bound_count,
                "settlement_bound_sum": o.bound_sum,
                "wrongly_presumed": o.wrongly_presumed,
                "gave_up_reporting": o.gave_up_reporting,
                "unresolved": o.unresolved,
                "degraded": o.degraded,
                "repair_sessions": o.repair_sessions,
                "repair_found": o.repair_found,
                "median_converged_minutes": o.median_converged_minutes(),
                "median_repair_done_minutes": o.median_repair_done_minutes(),
            }))
            .collect::<Vec<_>>())
    })?;
    let broken: usize = rows.iter().map(|(_, _, o)| o.failures.len()).sum();
    if broken == 0 {
        Ok(())
    } else {
        Err(internal(format!("{broken} worlds broke an invariant")))
    }
}

fn sweep_text(
    out: &SweepOutcome,
    cfg: &FleetConfig,
    threads: usize,
    wall_s: f64,
    repro: &dyn Fn(u64) -> String,
) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "sweep: {} worlds of {} devices on {threads} threads in {wall_s:.1}s",
        out.seeds, cfg.devices
    );
    let _ = writeln!(t, "  faults injected (truth)");
    for (kind, n) in &out.faults {
        let _ = writeln!(t, "    {kind:<22} {n:>10}");
    }
    let _ = writeln!(
        t,
        "  reports sent {} / accepted {} (resends of lost reports and answers)",
        out.reports_sent, out.reports_accepted
    );
    let _ = writeln!(
        t,
        "  reach interval held the truth at the first check in {} of {} worlds",
        out.first_check_held, out.first_check_count
    );
    let _ = writeln!(
        t,
        "  coverage interval held the truth in {} of {} worlds",
        out.coverage_held, out.coverage_checked
    );
    let _ = writeln!(
        t,
        "  settlement bound held the targets wrongly presumed OK in {} of {} worlds ({} wrongly presumed in all)",
        out.bound_held, out.bound_count, out.wrongly_presumed
    );
    let _ = writeln!(
        t,
        "  failed devices that gave up reporting unheard: {}",
        out.gave_up_reporting
    );
    let false_pauses = out
        .failures
        .iter()
        .filter(|(_, e)| e.contains("false-pause"))
        .count();
    let _ = writeln!(
        t,
        "  abort threshold pauses: {} ({} false: the truth below the threshold)",
        out.breaker_pauses, false_pauses
    );
    if !out.group_pauses.is_empty() {
        let by_group: Vec<String> = out
            .group_pauses
            .iter()
            .map(|(g, n)| format!("{g} {n}"))
            .collect();
        let _ = writeln!(t, "  group threshold pauses: {}", by_group.join(", "));
    }
    let _ = writeln!(
        t,
        "  degraded broadcasts: {}; repair DM sessions per device found: {}; median repair done {}, median converged {}",
        out.degraded,
        sessions_per_found(out),
        hours(out.median_repair_done_minutes()),
        hours(out.median_converged_minutes())
    );
    let _ = writeln!(t, "  unresolved targets at the end: {}", out.unresolved);
    let _ = writeln!(t, "  invariant violations   {:>10}", out.failures.len());
    for (seed, e) in &out.failures {
        let _ = writeln!(t, "    seed {seed}: {e}\n      replay: {}", repro(*seed));
    }
    t
}

/// The one-line command that replays world `seed` of a sweep.
fn replay_command(a: &SimArgs, cfg: &FleetConfig, seed: u64) -> String {
    let mut cmd = format!(
        "devcare simulate --store memory --devices {} --world {seed} --faults {} --fail-rate {} --loss {} --care-success {} --checkin-interval {}",
        cfg.devices, a.faults, cfg.fail_rate, cfg.loss, cfg.care_success, a.checkin_interval
    );
    for (flag, v) in [
        ("--report-loss", a.report_loss),
        ("--reboot-rate", a.reboot_rate),
        ("--power-cut", a.power_cut),
        ("--server-crash", a.server_crash),
    ] {
        if let Some(v) = v {
            let _ = write!(cmd, " {flag} {v}");
        }
    }
    if let Some(r) = &a.revise_at {
        let _ = write!(cmd, " --revise-at {r}");
    }
    if a.groups > 0 {
        let _ = write!(cmd, " --groups {}", a.groups);
    }
    if let Some(r) = a.bad_group_fail_rate {
        let _ = write!(cmd, " --bad-group-fail-rate {r}");
    }
    if let Some(c) = &a.campaign {
        let _ = write!(cmd, " --campaign {}", c.display());
    }
    if a.coverage_floor.is_some() || a.fallback != "repair" || a.fallback_pace != 2_000 {
        let _ = write!(
            cmd,
            " --coverage-floor {} --fallback {} --fallback-pace {}",
            a.coverage_floor.as_deref().unwrap_or("0.99"),
            a.fallback,
            a.fallback_pace
        );
    }
    cmd
}
